//! The admission log (`admission_log`, its texts in `admission_messages`):
//! written in batches by the webhook's log writer, read by the Admission log
//! page and `/api/v1/admission`.

use std::collections::HashMap;

use serde::Serialize;
use sqlx::SqlitePool;

use crate::admission::Decision;

/// Writes `decisions` in one transaction and keeps only the newest `keep`
/// rows; with `sweep`, also removes the messages no row refers to any more.
pub async fn insert(
    pool: &SqlitePool,
    decisions: &[Decision],
    keep: i64,
    sweep: bool,
) -> Result<(), sqlx::Error> {
    let mut tx = crate::store::write_tx(pool).await?;
    // Each distinct text of the batch once (a batch under load has a few).
    let mut messages: HashMap<&str, i64> = HashMap::new();
    for d in decisions {
        if messages.contains_key(d.message.as_str()) {
            continue;
        }
        let found: Option<i64> =
            sqlx::query_scalar("SELECT id FROM admission_messages WHERE text = ?")
                .bind(d.message.as_str())
                .fetch_optional(&mut *tx)
                .await?;
        let id = match found {
            Some(id) => id,
            None => {
                sqlx::query_scalar("INSERT INTO admission_messages (text) VALUES (?) RETURNING id")
                    .bind(d.message.as_str())
                    .fetch_one(&mut *tx)
                    .await?
            }
        };
        messages.insert(d.message.as_str(), id);
    }
    // One statement per chunk: 12 parameters a row, well under SQLite's
    // limit. Chunks of 512 rows, then of the powers of two the rest is made
    // of: ten statement texts in all, each prepared once and cached (a chunk
    // of every size would prepare a statement of up to 6,000 parameters for
    // nearly every batch, and fill the statement cache with them).
    let mut rest = decisions;
    while !rest.is_empty() {
        let size = if rest.len() >= 512 {
            512
        } else {
            1 << rest.len().ilog2()
        };
        let (chunk, tail) = rest.split_at(size);
        rest = tail;
        let mut q = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
            "INSERT INTO admission_log (at, uid, operation, kind, namespace, name, user,
                                        verdict, mode, profile, message_id, dry_run) ",
        );
        q.push_values(chunk, |mut row, d| {
            row.push_bind(d.at)
                .push_bind(d.uid.as_str())
                .push_bind(d.operation.as_str())
                .push_bind(d.kind.as_str())
                .push_bind(d.namespace.as_str())
                .push_bind(d.name.as_str())
                .push_bind(d.user.as_str())
                .push_bind(d.verdict.as_str())
                .push_bind(d.mode.map(|m| m.as_str()).unwrap_or(""))
                .push_bind(d.profile.as_str())
                .push_bind(
                    messages
                        .get(d.message.as_str())
                        .copied()
                        .unwrap_or_default(),
                )
                .push_bind(d.dry_run);
        });
        q.build().execute(&mut *tx).await?;
    }
    sqlx::query("DELETE FROM admission_log WHERE id <= (SELECT MAX(id) FROM admission_log) - ?")
        .bind(keep)
        .execute(&mut *tx)
        .await?;
    if sweep {
        sqlx::query(
            "DELETE FROM admission_messages
             WHERE id NOT IN (SELECT DISTINCT message_id FROM admission_log)",
        )
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await
}

/// A stored decision.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
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

fn push_filter(q: &mut sqlx::QueryBuilder<sqlx::Sqlite>, filter: &Filter) {
    q.push(" WHERE 1 = 1");
    if let Some(v) = &filter.verdict {
        q.push(" AND verdict = ").push_bind(v.clone());
    }
    if let Some(ns) = &filter.namespace {
        q.push(" AND namespace = ").push_bind(ns.clone());
    }
    super::push_scope(q, "namespace", filter.scope.as_deref());
}

/// Newest first: one page of decisions and how many match in all.
pub async fn list(
    pool: &SqlitePool,
    filter: &Filter,
    limit: i64,
    offset: i64,
) -> Result<(Vec<Entry>, i64), sqlx::Error> {
    let mut q = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
        "SELECT l.id, at, uid, operation, kind, namespace, name, user, verdict, mode, profile,
                m.text AS message, dry_run
         FROM admission_log l JOIN admission_messages m ON m.id = l.message_id",
    );
    push_filter(&mut q, filter);
    q.push(" ORDER BY l.id DESC LIMIT ")
        .push_bind(limit)
        .push(" OFFSET ")
        .push_bind(offset);
    let rows: Vec<Entry> = q.build_query_as().fetch_all(pool).await?;
    let mut c = sqlx::QueryBuilder::<sqlx::Sqlite>::new("SELECT COUNT(*) FROM admission_log");
    push_filter(&mut c, filter);
    let total: i64 = c.build_query_scalar().fetch_one(pool).await?;
    Ok((rows, total))
}

/// Namespaces that appear in the log, for the filter.
pub async fn namespaces(pool: &SqlitePool) -> Result<Vec<String>, sqlx::Error> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT DISTINCT namespace FROM admission_log WHERE namespace <> '' ORDER BY namespace",
    )
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(|(n,)| n).collect())
}

/// Rows in the log.
pub async fn count(pool: &SqlitePool) -> Result<i64, sqlx::Error> {
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM admission_log")
        .fetch_one(pool)
        .await?;
    Ok(n)
}
