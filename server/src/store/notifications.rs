//! Notification routes and the outbox of deliveries (`0045_notifications.sql`).
//! Deliveries are enqueued by the alert engine inside its transaction and
//! sent by [`crate::alerts::notify`].

use serde::Serialize;
use sqlx::{SqliteConnection, SqlitePool};

use crate::policy::assignments::Severity;

/// Where alerts go.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct Route {
    pub id: i64,
    pub name: String,
    pub url: String,
    /// Exact namespace or a glob with `*`; empty: every namespace.
    pub namespace: String,
    /// `team=payments,tier!=web,owner`; empty: any workload.
    pub selector: String,
    pub min_severity: String,
    #[serde(skip)]
    pub created_at: i64,
}

impl Route {
    pub fn min_severity(&self) -> Severity {
        Severity::parse(&self.min_severity).unwrap_or(Severity::Medium)
    }
}

/// A route to add.
#[derive(Debug, Clone)]
pub struct NewRoute {
    pub name: String,
    pub url: String,
    pub namespace: String,
    pub selector: String,
    pub min_severity: Severity,
}

pub async fn routes(pool: &SqlitePool) -> Result<Vec<Route>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM notification_routes ORDER BY id")
        .fetch_all(pool)
        .await
}

/// The routes, inside a transaction.
pub async fn routes_in(conn: &mut SqliteConnection) -> Result<Vec<Route>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM notification_routes ORDER BY id")
        .fetch_all(&mut *conn)
        .await
}

pub async fn add_route(pool: &SqlitePool, r: &NewRoute, now: i64) -> Result<Route, sqlx::Error> {
    sqlx::query_as(
        "INSERT INTO notification_routes (name, url, namespace, selector, min_severity, created_at)
         VALUES (?, ?, ?, ?, ?, ?) RETURNING *",
    )
    .bind(&r.name)
    .bind(&r.url)
    .bind(&r.namespace)
    .bind(&r.selector)
    .bind(r.min_severity.as_str())
    .bind(now)
    .fetch_one(pool)
    .await
}

/// Deletes a route and its deliveries; whether it existed.
pub async fn delete_route(pool: &SqlitePool, id: i64) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("DELETE FROM notification_routes WHERE id = ?")
        .bind(id)
        .execute(pool)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// Queues `payload` for `route` about `alert`, due now.
pub async fn enqueue(
    conn: &mut SqliteConnection,
    route: i64,
    alert: i64,
    payload: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO notification_deliveries (route_id, alert_id, payload, next_attempt_at, created_at)
         VALUES (?, ?, ?, ?, ?)",
    )
    .bind(route)
    .bind(alert)
    .bind(payload)
    .bind(now)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// A delivery, with its route's name and URL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct Delivery {
    pub id: i64,
    pub route_id: i64,
    pub route_name: String,
    pub url: String,
    pub alert_id: i64,
    pub payload: String,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub state: String,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub delivered_at: Option<i64>,
}

impl Delivery {
    pub fn created_text(&self) -> String {
        crate::format_time(self.created_at)
    }
}

macro_rules! select_deliveries {
    ($rest:literal) => {
        concat!(
            "SELECT d.id, d.route_id, r.name AS route_name, r.url, d.alert_id, d.payload,
                    d.attempts, d.next_attempt_at, d.state, d.last_error, d.created_at,
                    d.delivered_at
             FROM notification_deliveries d JOIN notification_routes r ON r.id = d.route_id ",
            $rest
        )
    };
}

/// Pending deliveries due at `now`, oldest first.
pub async fn due(pool: &SqlitePool, now: i64, limit: i64) -> Result<Vec<Delivery>, sqlx::Error> {
    sqlx::query_as(select_deliveries!(
        "WHERE d.state = 'pending' AND d.next_attempt_at <= ?
         ORDER BY d.next_attempt_at, d.id LIMIT ?"
    ))
    .bind(now)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// When the next pending delivery is due, if any.
pub async fn next_due(pool: &SqlitePool) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT MIN(next_attempt_at) FROM notification_deliveries WHERE state = 'pending'",
    )
    .fetch_one(pool)
    .await
}

/// The newest deliveries, for the settings page.
pub async fn recent(pool: &SqlitePool, limit: i64) -> Result<Vec<Delivery>, sqlx::Error> {
    sqlx::query_as(select_deliveries!("ORDER BY d.id DESC LIMIT ?"))
        .bind(limit)
        .fetch_all(pool)
        .await
}

pub async fn get_delivery(pool: &SqlitePool, id: i64) -> Result<Option<Delivery>, sqlx::Error> {
    sqlx::query_as(select_deliveries!("WHERE d.id = ?"))
        .bind(id)
        .fetch_optional(pool)
        .await
}

/// The outcome of one attempt.
pub enum Attempt<'a> {
    Delivered,
    /// Try again at this time.
    Retry {
        error: &'a str,
        at: i64,
    },
    /// No attempts left.
    Failed {
        error: &'a str,
    },
}

pub async fn record(
    pool: &SqlitePool,
    id: i64,
    outcome: Attempt<'_>,
    now: i64,
) -> Result<(), sqlx::Error> {
    let q = match outcome {
        Attempt::Delivered => sqlx::query(
            "UPDATE notification_deliveries SET attempts = attempts + 1, state = 'delivered',
                    delivered_at = ?, last_error = NULL WHERE id = ?",
        )
        .bind(now)
        .bind(id),
        Attempt::Retry { error, at } => sqlx::query(
            "UPDATE notification_deliveries SET attempts = attempts + 1, last_error = ?,
                    next_attempt_at = ? WHERE id = ?",
        )
        .bind(error.to_owned())
        .bind(at)
        .bind(id),
        Attempt::Failed { error } => sqlx::query(
            "UPDATE notification_deliveries SET attempts = attempts + 1, state = 'failed',
                    last_error = ? WHERE id = ?",
        )
        .bind(error.to_owned())
        .bind(id),
    };
    q.execute(pool).await?;
    Ok(())
}
