//! The admission log, in blocks (`admission_blocks`, one per batch of the
//! webhook's log writer; the table is in migrations 0080 and 0090): written
//! by the log writer, read by the Admission log page and `/api/v1/admission`.
//!
//! A block is one insert and, once all its decisions are older than the
//! newest `keep`, one delete (by the insert's trigger): under load that is a
//! few rows a second where a row per decision was tens of thousands inserted
//! and deleted again. The reads decode the blocks (at most `keep` decisions
//! and one block's worth): they serve a person paging through the log, not
//! the webhook.
//!
//! A block's `decisions` is a JSON object: `m`, the block's distinct texts,
//! and `d`, one array per decision in writing order: `[at, uid, operation,
//! kind, namespace, name, user, verdict, mode, profile, message, dry_run]`.
//! Every text column but the uid (unique to a request) is an index into `m`:
//! under load a block is hundreds of decisions of a few objects, and each
//! text is stored once. Blocks written before were the same with only the
//! message an index; they are read as they are.

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap};

use serde::{Deserialize, Serialize};
use sqlx::SqlitePool;

use crate::admission::Decision;

/// A decision as a block stores it (the module's documentation).
type Stored<'a> = (
    i64,
    &'a str,
    usize,
    usize,
    usize,
    usize,
    usize,
    usize,
    usize,
    usize,
    usize,
    u8,
);

#[derive(Serialize)]
struct BlockOut<'a> {
    m: Vec<&'a str>,
    d: Vec<Stored<'a>>,
}

/// A block as read back: a derived struct reads the arrays field by field,
/// borrowing the text where it has no escapes.
#[derive(Deserialize)]
struct BlockIn<'a> {
    #[serde(borrow)]
    m: Vec<Cow<'a, str>>,
    #[serde(borrow)]
    d: Vec<RowIn<'a>>,
}

/// A text column of a stored decision: an index into its block's texts, or
/// (blocks written before every text was indexed) the text itself.
enum Text<'a> {
    At(usize),
    Is(Cow<'a, str>),
}

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a text or an index into the block's texts")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Self::Value, E> {
                usize::try_from(v)
                    .map(Text::At)
                    .map_err(|_| E::custom("index out of range"))
            }
            fn visit_borrowed_str<E: serde::de::Error>(
                self,
                v: &'de str,
            ) -> Result<Self::Value, E> {
                Ok(Text::Is(Cow::Borrowed(v)))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Text::Is(Cow::Owned(v.to_owned())))
            }
        }
        d.deserialize_any(Visitor)
    }
}

#[derive(Deserialize)]
struct RowIn<'a> {
    at: i64,
    #[serde(borrow)]
    uid: Cow<'a, str>,
    #[serde(borrow)]
    operation: Text<'a>,
    #[serde(borrow)]
    kind: Text<'a>,
    #[serde(borrow)]
    namespace: Text<'a>,
    #[serde(borrow)]
    name: Text<'a>,
    #[serde(borrow)]
    user: Text<'a>,
    #[serde(borrow)]
    verdict: Text<'a>,
    #[serde(borrow)]
    mode: Text<'a>,
    #[serde(borrow)]
    profile: Text<'a>,
    #[serde(borrow)]
    message: Text<'a>,
    dry_run: u8,
}

/// A stored decision with its texts looked up.
struct Row<'a> {
    at: i64,
    uid: &'a str,
    operation: &'a str,
    kind: &'a str,
    namespace: &'a str,
    name: &'a str,
    user: &'a str,
    verdict: &'a str,
    mode: &'a str,
    profile: &'a str,
    message: &'a str,
    dry_run: bool,
}

impl<'a> RowIn<'a> {
    /// The row with its texts looked up in `texts`; `Err` names the column
    /// whose index is not in the block.
    fn resolve<'b>(&'b self, texts: &'b [Cow<'a, str>]) -> Result<Row<'b>, &'static str> {
        let text = |t: &'b Text<'a>, column: &'static str| match t {
            Text::At(i) => texts.get(*i).map(|t| t.as_ref()).ok_or(column),
            Text::Is(t) => Ok(t.as_ref()),
        };
        Ok(Row {
            at: self.at,
            uid: &self.uid,
            operation: text(&self.operation, "operation")?,
            kind: text(&self.kind, "kind")?,
            namespace: text(&self.namespace, "namespace")?,
            name: text(&self.name, "name")?,
            user: text(&self.user, "user")?,
            verdict: text(&self.verdict, "verdict")?,
            mode: text(&self.mode, "mode")?,
            profile: text(&self.profile, "profile")?,
            message: text(&self.message, "message")?,
            dry_run: self.dry_run != 0,
        })
    }
}

/// The JSON text of a block of `decisions`, each distinct text once.
fn encode(decisions: &[Decision]) -> Result<String, serde_json::Error> {
    let mut index: HashMap<&str, usize> = HashMap::new();
    let mut m: Vec<&str> = Vec::new();
    let d = decisions
        .iter()
        .map(|d| {
            let at = [
                d.operation.as_str(),
                d.kind.as_str(),
                d.namespace.as_str(),
                d.name.as_str(),
                d.user.as_str(),
                d.verdict.as_str(),
                d.mode.map(|m| m.as_str()).unwrap_or(""),
                d.profile.as_str(),
                d.message.as_str(),
            ]
            .map(|t| {
                *index.entry(t).or_insert_with(|| {
                    m.push(t);
                    m.len() - 1
                })
            });
            (
                d.at,
                d.uid.as_str(),
                at[0],
                at[1],
                at[2],
                at[3],
                at[4],
                at[5],
                at[6],
                at[7],
                at[8],
                u8::from(d.dry_run),
            )
        })
        .collect();
    serde_json::to_string(&BlockOut { m, d })
}

/// Writes `decisions` as one block and keeps only the newest `keep` (at
/// least one) decisions: one statement, the bound kept by the trigger of
/// migration 0090.
pub async fn insert(
    pool: &SqlitePool,
    decisions: &[Decision],
    keep: i64,
) -> Result<(), sqlx::Error> {
    if decisions.is_empty() {
        return Ok(());
    }
    let json = encode(decisions).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    let n = i64::try_from(decisions.len()).unwrap_or(i64::MAX);
    sqlx::query(
        "INSERT INTO admission_blocks (id, n, keep, decisions)
         VALUES (COALESCE((SELECT id + n FROM admission_blocks ORDER BY id DESC LIMIT 1), 1), ?, ?, ?)",
    )
    .bind(n)
    .bind(keep.max(1))
    .bind(&json)
    .execute(pool)
    .await?;
    Ok(())
}

/// A stored decision.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    pub id: i64,
    pub at: i64,
    pub uid: String,
    pub operation: String,
    pub kind: String,
    pub namespace: String,
    pub name: String,
    pub user: String,
    pub verdict: String,
    pub mode: String,
    pub profile: String,
    pub message: String,
    pub dry_run: bool,
}

impl Entry {
    pub fn at_text(&self) -> String {
        crate::format_time(self.at)
    }

    /// `namespace/Kind/name`.
    pub fn workload(&self) -> String {
        format!("{}/{}/{}", self.namespace, self.kind, self.name)
    }
}

/// Which decisions to list.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub verdict: Option<String>,
    pub namespace: Option<String>,
    /// The namespaces the asker may see (`None`: all, cluster-scoped
    /// objects included; a list leaves those out).
    pub scope: Option<Vec<String>>,
}

impl Filter {
    fn matches(&self, r: &Row<'_>) -> bool {
        self.verdict.as_ref().is_none_or(|v| *v == r.verdict)
            && self.namespace.as_ref().is_none_or(|ns| *ns == r.namespace)
            && self
                .scope
                .as_ref()
                .is_none_or(|list| list.iter().any(|ns| *ns == r.namespace))
    }
}

/// Calls `each` on every kept decision, newest first, with its sequence
/// number; stops when it returns false.
async fn each_kept(
    pool: &SqlitePool,
    mut each: impl FnMut(i64, &Row<'_>) -> bool,
) -> Result<(), sqlx::Error> {
    let mut conn = pool.acquire().await?;
    let from: i64 = sqlx::query_scalar("SELECT from_seq FROM admission_kept WHERE id = 1")
        .fetch_optional(&mut *conn)
        .await?
        .unwrap_or(0);
    let blocks: Vec<(i64, String)> = sqlx::query_as(
        "SELECT id, decisions FROM admission_blocks WHERE id + n > ? ORDER BY id DESC",
    )
    .bind(from)
    .fetch_all(&mut *conn)
    .await?;
    drop(conn);
    for (id, json) in &blocks {
        let block: BlockIn<'_> = serde_json::from_str(json)
            .map_err(|e| sqlx::Error::Decode(format!("admission log block {id}: {e}").into()))?;
        for (i, row) in block.d.iter().enumerate().rev() {
            let seq = id + i64::try_from(i).unwrap_or(i64::MAX);
            if seq < from {
                break;
            }
            let row = row.resolve(&block.m).map_err(|column| {
                sqlx::Error::Decode(
                    format!("admission log decision {seq}: its {column} is not in its block")
                        .into(),
                )
            })?;
            if !each(seq, &row) {
                return Ok(());
            }
        }
    }
    Ok(())
}

/// Newest first: one page of decisions and how many match in all.
pub async fn list(
    pool: &SqlitePool,
    filter: &Filter,
    limit: i64,
    offset: i64,
) -> Result<(Vec<Entry>, i64), sqlx::Error> {
    let mut page = Vec::new();
    let mut total: i64 = 0;
    each_kept(pool, |seq, r| {
        if !filter.matches(r) {
            return true;
        }
        if total >= offset && total - offset < limit {
            page.push(Entry {
                id: seq,
                at: r.at,
                uid: r.uid.to_owned(),
                operation: r.operation.to_owned(),
                kind: r.kind.to_owned(),
                namespace: r.namespace.to_owned(),
                name: r.name.to_owned(),
                user: r.user.to_owned(),
                verdict: r.verdict.to_owned(),
                mode: r.mode.to_owned(),
                profile: r.profile.to_owned(),
                message: r.message.to_owned(),
                dry_run: r.dry_run,
            });
        }
        total += 1;
        true
    })
    .await?;
    Ok((page, total))
}

/// Namespaces that appear in the log, for the filter.
pub async fn namespaces(pool: &SqlitePool) -> Result<Vec<String>, sqlx::Error> {
    let mut seen = BTreeSet::new();
    each_kept(pool, |_, r| {
        if !r.namespace.is_empty() && !seen.contains(r.namespace) {
            seen.insert(r.namespace.to_string());
        }
        true
    })
    .await?;
    Ok(seen.into_iter().collect())
}

/// Decisions in the log.
pub async fn count(pool: &SqlitePool) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT COALESCE(SUM(MIN(b.n, b.id + b.n - k.from_seq)), 0)
         FROM admission_blocks b, admission_kept k
         WHERE k.id = 1 AND b.id + b.n > k.from_seq",
    )
    .fetch_one(pool)
    .await
}
