//! Custom profiles (`profiles` table). The spec column holds a
//! `policy::psp::Profile` as JSON; presets are never stored.

use std::path::Path;

use serde::Serialize;
use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};

use crate::policy::profiles::CustomProfile;
use crate::policy::psp;

#[derive(Debug, Clone, sqlx::FromRow)]
struct Row {
    name: String,
    description: String,
    base: Option<String>,
    spec: String,
    origin: String,
    created_at: i64,
    updated_at: i64,
}

/// A stored custom profile.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredProfile {
    pub profile: CustomProfile,
    /// Where it came from, in words.
    pub origin: String,
    pub created_at: i64,
    pub updated_at: i64,
}

impl TryFrom<Row> for StoredProfile {
    type Error = sqlx::Error;

    fn try_from(r: Row) -> Result<Self, Self::Error> {
        let decode = |what: &str, e: &dyn std::fmt::Display| {
            sqlx::Error::Decode(format!("profile {:?}: bad {what}: {e}", r.name).into())
        };
        let mut policy: psp::Profile =
            serde_json::from_str(&r.spec).map_err(|e| decode("spec", &e))?;
        policy.name.clone_from(&r.name);
        let base = match r.base.as_deref() {
            None | Some("") => None,
            Some(b) => Some(b.parse().map_err(|e| decode("base", &e))?),
        };
        Ok(StoredProfile {
            profile: CustomProfile {
                name: r.name,
                description: r.description,
                base,
                policy,
            },
            origin: r.origin,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

/// Every custom profile, by name.
pub async fn list(pool: &SqlitePool) -> Result<Vec<StoredProfile>, sqlx::Error> {
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT name, description, base, spec, origin, created_at, updated_at
         FROM profiles ORDER BY name",
    )
    .fetch_all(pool)
    .await?;
    rows.into_iter().map(StoredProfile::try_from).collect()
}

pub async fn get(pool: &SqlitePool, name: &str) -> Result<Option<StoredProfile>, sqlx::Error> {
    let row: Option<Row> = sqlx::query_as(
        "SELECT name, description, base, spec, origin, created_at, updated_at
         FROM profiles WHERE name = ?",
    )
    .bind(name)
    .fetch_optional(pool)
    .await?;
    row.map(StoredProfile::try_from).transpose()
}

fn spec_json(p: &CustomProfile) -> Result<String, sqlx::Error> {
    let mut policy = p.policy.clone();
    policy.name.clone_from(&p.name);
    serde_json::to_string(&policy).map_err(|e| sqlx::Error::Encode(Box::new(e)))
}

/// Inserts a new profile. A name already taken is a unique-constraint
/// violation (`Error::Database` with `is_unique_violation()`).
pub async fn insert(
    pool: &SqlitePool,
    p: &CustomProfile,
    origin: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO profiles (name, description, base, spec, origin, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&p.name)
    .bind(&p.description)
    .bind(p.base.map(|b| b.to_string()))
    .bind(spec_json(p)?)
    .bind(origin)
    .bind(now)
    .bind(now)
    .execute(pool)
    .await?;
    Ok(())
}

/// Inserts several profiles in one transaction: all or none.
pub async fn insert_all(
    pool: &SqlitePool,
    list: &[CustomProfile],
    origin: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    let mut tx = crate::store::write_tx(pool).await?;
    for p in list {
        sqlx::query(
            "INSERT INTO profiles (name, description, base, spec, origin, created_at, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&p.name)
        .bind(&p.description)
        .bind(p.base.map(|b| b.to_string()))
        .bind(spec_json(p)?)
        .bind(origin)
        .bind(now)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await
}

/// Replaces profile `name` (which may be renamed to `p.name`). Returns false
/// when there is no profile `name`.
pub async fn update(
    pool: &SqlitePool,
    name: &str,
    p: &CustomProfile,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE profiles SET name = ?, description = ?, base = ?, spec = ?, updated_at = ?
         WHERE name = ?",
    )
    .bind(&p.name)
    .bind(&p.description)
    .bind(p.base.map(|b| b.to_string()))
    .bind(spec_json(p)?)
    .bind(now)
    .bind(name)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// Deletes profile `name`; false when there was none.
pub async fn delete(pool: &SqlitePool, name: &str) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("DELETE FROM profiles WHERE name = ?")
        .bind(name)
        .execute(pool)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// Whether `e` is a unique-constraint violation (a name already taken).
pub fn is_name_taken(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

/// Opens an existing database read-only, without migrating it (for `check
/// --profiles-db`): a missing file is an error, not a new database.
pub async fn open_read_only(path: &Path) -> Result<SqlitePool, sqlx::Error> {
    let opts = SqliteConnectOptions::new()
        .filename(path)
        .read_only(true)
        .create_if_missing(false);
    SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(opts)
        .await
}
