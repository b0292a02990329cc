//! SQLite access: the schema lives in `migrations/`; every function takes `&SqlitePool`.

pub mod admission;
pub mod alerts;
pub mod assignments;
pub mod diff;
pub mod inventory;
pub mod namespaces;
pub mod notifications;
pub mod profiles;
pub mod snapshots;
pub mod users;
pub mod workloads;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

/// Opens (creating if needed) the database file in WAL mode and applies migrations.
pub async fn open(path: &Path) -> Result<SqlitePool, sqlx::Error> {
    let opts = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(Duration::from_secs(10))
        .foreign_keys(true);
    connect(opts).await
}

/// Opens a database from a `sqlite:` URL (used by tests).
pub async fn open_url(url: &str) -> Result<SqlitePool, sqlx::Error> {
    let opts = SqliteConnectOptions::from_str(url)?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .busy_timeout(Duration::from_secs(10))
        .foreign_keys(true);
    connect(opts).await
}

async fn connect(opts: SqliteConnectOptions) -> Result<SqlitePool, sqlx::Error> {
    let pool = SqlitePoolOptions::new()
        .max_connections(8)
        .connect_with(opts)
        .await?;
    MIGRATOR.run(&pool).await?;
    Ok(pool)
}

/// Begins a write transaction. `BEGIN IMMEDIATE` takes the write lock at
/// once, so a transaction that reads before it writes waits for other
/// writers (up to the busy timeout) instead of failing with "database is
/// locked" when it tries to upgrade. Every write transaction goes through here.
pub async fn write_tx(
    pool: &SqlitePool,
) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, sqlx::Error> {
    pool.begin_with("BEGIN IMMEDIATE").await
}

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

/// Encodes a set of flag slugs as `,a,b,` so `LIKE '%,a,%'` finds one.
pub(crate) fn encode_flags<'a>(flags: impl IntoIterator<Item = &'a str>) -> String {
    let mut s = String::from(",");
    for f in flags {
        s.push_str(f);
        s.push(',');
    }
    s
}

pub(crate) fn decode_flags(s: &str) -> Vec<String> {
    s.split(',')
        .filter(|f| !f.is_empty())
        .map(str::to_owned)
        .collect()
}

/// ` AND <column> IN (...)` limiting a query to the namespaces a user sees
/// (`None`: all of them, nothing added; an empty list matches nothing).
pub(crate) fn push_scope(
    qb: &mut sqlx::QueryBuilder<sqlx::Sqlite>,
    column: &str,
    scope: Option<&[String]>,
) {
    let Some(list) = scope else { return };
    if list.is_empty() {
        qb.push(" AND 0");
        return;
    }
    qb.push(format_args!(" AND {column} IN ("));
    let mut sep = qb.separated(", ");
    for ns in list {
        sep.push_bind(ns.clone());
    }
    sep.push_unseparated(")");
}
