//! The admission log, in blocks (`admission_blocks`, one per batch of the
//! webhook's log writer; the layout is in migration 0080): written by the
//! log writer, read by the Admission log page and `/api/v1/admission`.
//!
//! A block is one insert and, once all its decisions are older than the
//! newest `keep`, one delete: under load that is a few rows a second where a
//! row per decision was tens of thousands inserted and deleted again. The
//! reads decode the blocks (at most `keep` decisions and one block's worth):
//! they serve a person paging through the log, not the webhook.

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap};

use serde::{Deserialize, Serialize};
use sqlx::SqlitePool;

use crate::admission::Decision;

/// A decision as a block stores it: an array, its message an index into the
/// block's texts.
type Stored<'a> = (
    i64,
    &'a str,
    &'a str,
    &'a str,
    &'a str,
    &'a str,
    &'a str,
    &'a str,
    &'a str,
    &'a str,
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
    d: Vec<Row<'a>>,
}

#[derive(Deserialize)]
struct Row<'a> {
    at: i64,
    #[serde(borrow)]
    uid: Cow<'a, str>,
    #[serde(borrow)]
    operation: Cow<'a, str>,
    #[serde(borrow)]
    kind: Cow<'a, str>,
    #[serde(borrow)]
    namespace: Cow<'a, str>,
    #[serde(borrow)]
    name: Cow<'a, str>,
    #[serde(borrow)]
    user: Cow<'a, str>,
    #[serde(borrow)]
    verdict: Cow<'a, str>,
    #[serde(borrow)]
    mode: Cow<'a, str>,
    #[serde(borrow)]
    profile: Cow<'a, str>,
    message: usize,
    dry_run: u8,
}

/// The JSON text of a block of `decisions`, each distinct message once.
fn encode(decisions: &[Decision]) -> Result<String, serde_json::Error> {
    let mut index: HashMap<&str, usize> = HashMap::new();
    let mut m: Vec<&str> = Vec::new();
    let d = decisions
        .iter()
        .map(|d| {
            let message = *index.entry(d.message.as_str()).or_insert_with(|| {
                m.push(d.message.as_str());
                m.len() - 1
            });
            (
                d.at,
                d.uid.as_str(),
                d.operation.as_str(),
                d.kind.as_str(),
                d.namespace.as_str(),
                d.name.as_str(),
                d.user.as_str(),
                d.verdict.as_str(),
                d.mode.map(|m| m.as_str()).unwrap_or(""),
                d.profile.as_str(),
                message,
                u8::from(d.dry_run),
            )
        })
        .collect();
    serde_json::to_string(&BlockOut { m, d })
}

/// Writes `decisions` as one block and keeps only the newest `keep` (at
/// least one) decisions.
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
    let mut tx = crate::store::write_tx(pool).await?;
    let first: i64 = sqlx::query_scalar(
        "INSERT INTO admission_blocks (id, n, decisions)
         VALUES (COALESCE((SELECT id + n FROM admission_blocks ORDER BY id DESC LIMIT 1), 1), ?, ?)
         RETURNING id",
    )
    .bind(n)
    .bind(&json)
    .fetch_one(&mut *tx)
    .await?;
    let from = first + n - keep.max(1);
    sqlx::query("UPDATE admission_kept SET from_seq = MAX(from_seq, ?) WHERE id = 1")
        .bind(from)
        .execute(&mut *tx)
        .await?;
    // Blocks wholly older than the kept decisions; `id < ?1` lets SQLite
    // walk only the oldest ones.
    sqlx::query("DELETE FROM admission_blocks WHERE id < ?1 AND id + n <= ?1")
        .bind(from)
        .execute(&mut *tx)
        .await?;
    tx.commit().await
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
/// number and its block's texts; stops when it returns false.
async fn each_kept(
    pool: &SqlitePool,
    mut each: impl FnMut(i64, &Row<'_>, &[Cow<'_, str>]) -> bool,
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
            if !each(seq, row, &block.m) {
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
    let mut bad = None;
    each_kept(pool, |seq, r, texts| {
        if !filter.matches(r) {
            return true;
        }
        if total >= offset && total - offset < limit {
            let Some(message) = texts.get(r.message) else {
                bad = Some(seq);
                return false;
            };
            page.push(Entry {
                id: seq,
                at: r.at,
                uid: r.uid.to_string(),
                operation: r.operation.to_string(),
                kind: r.kind.to_string(),
                namespace: r.namespace.to_string(),
                name: r.name.to_string(),
                user: r.user.to_string(),
                verdict: r.verdict.to_string(),
                mode: r.mode.to_string(),
                profile: r.profile.to_string(),
                message: message.to_string(),
                dry_run: r.dry_run != 0,
            });
        }
        total += 1;
        true
    })
    .await?;
    if let Some(seq) = bad {
        return Err(sqlx::Error::Decode(
            format!("admission log decision {seq}: its message is not in its block").into(),
        ));
    }
    Ok((page, total))
}

/// Namespaces that appear in the log, for the filter.
pub async fn namespaces(pool: &SqlitePool) -> Result<Vec<String>, sqlx::Error> {
    let mut seen = BTreeSet::new();
    each_kept(pool, |_, r, _| {
        if !r.namespace.is_empty() && !seen.contains(r.namespace.as_ref()) {
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
