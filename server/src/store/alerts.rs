//! Alerts (`0040_alerts.sql`): reading, filtering, acknowledging, and the
//! primitives the alert engine ([`crate::alerts::sync`]) writes with inside
//! its one transaction. Which findings exist is decided by the policy core.

use std::collections::{HashMap, HashSet};

use serde_json::{Value, json};
use sqlx::{QueryBuilder, Sqlite, SqliteConnection, SqlitePool};

use crate::policy::assignments::{Finding, Mode, Severity};

/// The lifecycle of an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AlertState {
    Open,
    Acknowledged,
    Resolved,
}

impl AlertState {
    pub const ALL: [AlertState; 3] = [
        AlertState::Open,
        AlertState::Acknowledged,
        AlertState::Resolved,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Open => "open",
            AlertState::Acknowledged => "acknowledged",
            AlertState::Resolved => "resolved",
        }
    }

    pub fn parse(s: &str) -> Option<AlertState> {
        AlertState::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

/// A row of `alerts`.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Alert {
    pub id: i64,
    pub cluster: String,
    pub fingerprint: String,
    pub workload: String,
    pub namespace: String,
    pub container: String,
    pub control: String,
    pub severity: String,
    pub profile: String,
    pub mode: String,
    pub message: String,
    pub state: String,
    pub first_seen: i64,
    pub last_seen: i64,
    pub resolved_at: Option<i64>,
    pub acknowledged_by: Option<String>,
    pub acknowledged_at: Option<i64>,
    pub last_snapshot: i64,
}

/// Unix milliseconds as RFC 3339, as the rest of the API writes times.
pub fn rfc3339(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

impl Alert {
    /// The API's shape (DESIGN.md), with the extras.
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "workload": self.workload,
            "container": self.container,
            "control": self.control,
            "profile": self.profile,
            "mode": self.mode,
            "message": self.message,
            "state": self.state,
            "firstSeen": rfc3339(self.first_seen),
            "lastSeen": rfc3339(self.last_seen),
            "severity": self.severity,
            "namespace": self.namespace,
            "cluster": self.cluster,
            "acknowledgedBy": self.acknowledged_by,
            "acknowledgedAt": self.acknowledged_at.map(rfc3339),
            "resolvedAt": self.resolved_at.map(rfc3339),
        })
    }

    pub fn is_open(&self) -> bool {
        self.state == "open"
    }

    /// The control's title, or its slug when unknown.
    pub fn control_title(&self) -> &'static str {
        crate::model::Control::from_slug(&self.control)
            .map(|c| c.title())
            .unwrap_or("unknown control")
    }

    pub fn first_seen_text(&self) -> String {
        crate::format_time(self.first_seen)
    }

    pub fn last_seen_text(&self) -> String {
        crate::format_time(self.last_seen)
    }
}

/// Columns the list sorts by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortKey {
    /// Severity (high first), then newest.
    #[default]
    Severity,
    Workload,
    Control,
    State,
    FirstSeen,
    LastSeen,
}

impl SortKey {
    pub const ALL: [SortKey; 6] = [
        SortKey::Severity,
        SortKey::Workload,
        SortKey::Control,
        SortKey::State,
        SortKey::FirstSeen,
        SortKey::LastSeen,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SortKey::Severity => "severity",
            SortKey::Workload => "workload",
            SortKey::Control => "control",
            SortKey::State => "state",
            SortKey::FirstSeen => "first_seen",
            SortKey::LastSeen => "last_seen",
        }
    }

    pub fn parse(s: &str) -> Option<SortKey> {
        SortKey::ALL.into_iter().find(|k| k.as_str() == s)
    }

    fn order_by(self, desc: bool) -> &'static str {
        match (self, desc) {
            (SortKey::Severity, false) => {
                "CASE severity WHEN 'high' THEN 0 ELSE 1 END, last_seen DESC, id DESC"
            }
            (SortKey::Severity, true) => {
                "CASE severity WHEN 'high' THEN 1 ELSE 0 END, last_seen DESC, id DESC"
            }
            (SortKey::Workload, false) => "workload, container, control, id",
            (SortKey::Workload, true) => "workload DESC, container, control, id",
            (SortKey::Control, false) => "control, workload, id",
            (SortKey::Control, true) => "control DESC, workload, id",
            (SortKey::State, false) => {
                "CASE state WHEN 'open' THEN 0 WHEN 'acknowledged' THEN 1 ELSE 2 END, id DESC"
            }
            (SortKey::State, true) => {
                "CASE state WHEN 'open' THEN 2 WHEN 'acknowledged' THEN 1 ELSE 0 END, id DESC"
            }
            (SortKey::FirstSeen, false) => "first_seen, id",
            (SortKey::FirstSeen, true) => "first_seen DESC, id DESC",
            (SortKey::LastSeen, false) => "last_seen, id",
            (SortKey::LastSeen, true) => "last_seen DESC, id DESC",
        }
    }
}

/// Filters of the alert list; empty means any.
#[derive(Debug, Clone, Default)]
pub struct AlertQuery {
    pub cluster: Option<String>,
    pub namespace: Option<String>,
    pub severity: Option<Severity>,
    pub control: Option<String>,
    /// Any of these states (empty: every state).
    pub states: Vec<AlertState>,
    pub mode: Option<Mode>,
    pub workload: Option<String>,
    /// The namespaces the asker may see (`None`: all of them).
    pub scope: Option<Vec<String>>,
    pub sort: SortKey,
    pub desc: bool,
    pub limit: i64,
    pub offset: i64,
}

fn push_filters(q: &mut QueryBuilder<Sqlite>, f: &AlertQuery) {
    q.push(" WHERE 1 = 1");
    if let Some(c) = &f.cluster {
        q.push(" AND cluster = ").push_bind(c.clone());
    }
    if let Some(ns) = &f.namespace {
        q.push(" AND namespace = ").push_bind(ns.clone());
    }
    super::push_scope(q, "namespace", f.scope.as_deref());
    if let Some(s) = f.severity {
        q.push(" AND severity = ").push_bind(s.as_str());
    }
    if let Some(c) = &f.control {
        q.push(" AND control = ").push_bind(c.clone());
    }
    if let Some(m) = f.mode {
        q.push(" AND mode = ").push_bind(m.as_str());
    }
    if let Some(w) = &f.workload {
        q.push(" AND workload = ").push_bind(w.clone());
    }
    if !f.states.is_empty() {
        q.push(" AND state IN (");
        let mut sep = q.separated(", ");
        for s in &f.states {
            sep.push_bind(s.as_str());
        }
        q.push(")");
    }
}

/// One page of alerts matching `f`, and how many match.
pub async fn list(pool: &SqlitePool, f: &AlertQuery) -> Result<(Vec<Alert>, i64), sqlx::Error> {
    let mut count = QueryBuilder::<Sqlite>::new("SELECT COUNT(*) FROM alerts");
    push_filters(&mut count, f);
    let total: i64 = count.build_query_scalar().fetch_one(pool).await?;
    let mut q = QueryBuilder::<Sqlite>::new("SELECT * FROM alerts");
    push_filters(&mut q, f);
    q.push(" ORDER BY ").push(f.sort.order_by(f.desc));
    q.push(" LIMIT ").push_bind(f.limit);
    q.push(" OFFSET ").push_bind(f.offset);
    let rows = q.build_query_as::<Alert>().fetch_all(pool).await?;
    Ok((rows, total))
}

pub async fn get(pool: &SqlitePool, id: i64) -> Result<Option<Alert>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM alerts WHERE id = ?")
        .bind(id)
        .fetch_optional(pool)
        .await
}

/// Open alerts (not acknowledged, not resolved), of one cluster or all.
pub async fn open_count(pool: &SqlitePool, cluster: Option<&str>) -> Result<i64, sqlx::Error> {
    open_count_in(pool, cluster, None).await
}

/// [`open_count`] in the namespaces of `scope` only (`None`: all).
pub async fn open_count_in(
    pool: &SqlitePool,
    cluster: Option<&str>,
    scope: Option<&[String]>,
) -> Result<i64, sqlx::Error> {
    let mut q = QueryBuilder::<Sqlite>::new("SELECT COUNT(*) FROM alerts WHERE state = 'open'");
    if let Some(c) = cluster {
        q.push(" AND cluster = ").push_bind(c.to_owned());
    }
    super::push_scope(&mut q, "namespace", scope);
    q.build_query_scalar().fetch_one(pool).await
}

/// Namespaces and clusters that have alerts, for the filters.
pub async fn namespaces(pool: &SqlitePool) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT DISTINCT namespace FROM alerts ORDER BY namespace")
        .fetch_all(pool)
        .await
}

pub async fn clusters(pool: &SqlitePool) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT DISTINCT cluster FROM alerts ORDER BY cluster")
        .fetch_all(pool)
        .await
}

/// Why an alert cannot be acknowledged.
#[derive(Debug, thiserror::Error)]
pub enum AckError {
    #[error("there is no alert {0}")]
    NotFound(i64),
    #[error("alert {0} is resolved; only open alerts can be acknowledged")]
    Resolved(i64),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// Marks an open alert acknowledged by `by`. Acknowledging an acknowledged
/// alert changes nothing and answers it as it is.
pub async fn acknowledge(
    pool: &SqlitePool,
    id: i64,
    by: &str,
    now: i64,
) -> Result<Alert, AckError> {
    let mut tx = crate::store::write_tx(pool).await?;
    let alert: Option<Alert> = sqlx::query_as("SELECT * FROM alerts WHERE id = ?")
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
    let Some(alert) = alert else {
        return Err(AckError::NotFound(id));
    };
    match alert.state.as_str() {
        "resolved" => return Err(AckError::Resolved(id)),
        "acknowledged" => return Ok(alert),
        _ => {}
    }
    let alert = sqlx::query_as(
        "UPDATE alerts SET state = 'acknowledged', acknowledged_by = ?, acknowledged_at = ?
         WHERE id = ? RETURNING *",
    )
    .bind(by)
    .bind(now)
    .bind(id)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(alert)
}

// ---------------------------------------------------------------------------------------------
// Primitives of the sync (inside the engine's transaction)

/// A live (open or acknowledged) alert of a cluster, as the sync needs it.
#[derive(Debug, Clone)]
pub struct Live {
    pub id: i64,
    pub message: String,
}

/// The live alerts of `cluster`, by fingerprint.
pub async fn live_of(
    conn: &mut SqliteConnection,
    cluster: &str,
) -> Result<HashMap<String, Live>, sqlx::Error> {
    let rows: Vec<(i64, String, String)> = sqlx::query_as(
        "SELECT id, fingerprint, message FROM alerts
         WHERE cluster = ? AND state IN ('open', 'acknowledged')",
    )
    .bind(cluster)
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, fp, message)| (fp, Live { id, message }))
        .collect())
}

/// [`refresh_live`] for many alerts in one statement (one hand-off to
/// SQLite's thread, atomic on its own): `alerts` are (fingerprint, message)
/// pairs. Returns the fingerprints that had a live alert.
pub async fn refresh_all_live(
    pool: &SqlitePool,
    alerts: &[(&str, &str)],
    now: i64,
) -> Result<HashSet<String>, sqlx::Error> {
    let mut refreshed = HashSet::new();
    // SQLite binds at most 32,766 parameters to a statement.
    for chunk in alerts.chunks(500) {
        let mut q = QueryBuilder::<Sqlite>::new("WITH v (fingerprint, message) AS (");
        q.push_values(chunk, |mut row, (fingerprint, message)| {
            row.push_bind(*fingerprint).push_bind(*message);
        });
        // `state <> 'resolved'` as in the partial unique index, which SQLite
        // then uses.
        q.push(") UPDATE alerts SET last_seen = ")
            .push_bind(now)
            .push(
                ", message = v.message FROM v
                 WHERE alerts.fingerprint = v.fingerprint AND alerts.state <> 'resolved'
                 RETURNING alerts.fingerprint",
            );
        refreshed.extend(q.build_query_scalar::<String>().fetch_all(pool).await?);
    }
    Ok(refreshed)
}

/// Refreshes the live (open or acknowledged) alert with `fingerprint`, if
/// there is one: its last sighting and message. Whether there was.
pub async fn refresh_live(
    conn: &mut SqliteConnection,
    fingerprint: &str,
    message: &str,
    now: i64,
) -> Result<bool, sqlx::Error> {
    // `state <> 'resolved'` as in the partial unique index, which SQLite
    // then uses.
    let done = sqlx::query(
        "UPDATE alerts SET last_seen = ?, message = ?
         WHERE fingerprint = ? AND state <> 'resolved'",
    )
    .bind(now)
    .bind(message)
    .bind(fingerprint)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// Opens a new alert for `f`; returns its id.
pub async fn insert(
    conn: &mut SqliteConnection,
    cluster: &str,
    namespace: &str,
    f: &Finding,
    snapshot: i64,
    now: i64,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO alerts (cluster, fingerprint, workload, namespace, container, control,
                             severity, profile, mode, message, state, first_seen, last_seen,
                             last_snapshot)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'open', ?, ?, ?) RETURNING id",
    )
    .bind(cluster)
    .bind(f.fingerprint(cluster))
    .bind(&f.workload)
    .bind(namespace)
    .bind(&f.container)
    .bind(f.control.slug())
    .bind(f.severity.as_str())
    .bind(&f.profile)
    .bind(f.mode.as_str())
    .bind(&f.message)
    .bind(now)
    .bind(now)
    .bind(snapshot)
    .fetch_one(&mut *conn)
    .await
}

/// A live alert whose words changed.
pub async fn set_message(
    conn: &mut SqliteConnection,
    id: i64,
    message: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE alerts SET message = ? WHERE id = ?")
        .bind(message)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Resolves the alerts `ids` at `now`.
pub async fn resolve(
    conn: &mut SqliteConnection,
    ids: &[i64],
    now: i64,
) -> Result<(), sqlx::Error> {
    for chunk in ids.chunks(500) {
        let mut q =
            QueryBuilder::<Sqlite>::new("UPDATE alerts SET state = 'resolved', resolved_at = ");
        q.push_bind(now);
        q.push(" WHERE id IN (");
        let mut sep = q.separated(", ");
        for id in chunk {
            sep.push_bind(*id);
        }
        q.push(")");
        q.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// Every live alert of `cluster` was seen in `snapshot` at `now` (call after
/// resolving the ones that were not).
pub async fn touch_live(
    conn: &mut SqliteConnection,
    cluster: &str,
    snapshot: i64,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE alerts SET last_seen = ?, last_snapshot = ?
         WHERE cluster = ? AND state IN ('open', 'acknowledged')",
    )
    .bind(now)
    .bind(snapshot)
    .bind(cluster)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
