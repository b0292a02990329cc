//! The alert engine: turns the findings of the newest snapshot of a cluster
//! (decided by [`crate::policy::assignments::findings`]) into alerts that
//! live across snapshots, and queues their notifications.
//!
//! ```text
//!  snapshot stored ─┐
//!  rules changed ───┴─► sync(cluster) ─► one transaction:
//!                                         new finding        → open alert (+ deliveries)
//!                                         finding still there → last_seen, message
//!                                         finding gone       → resolved
//! ```
//!
//! A finding that comes back after its alert was resolved opens a new alert.
//! The deliverer ([`notify`]) sends queued deliveries in the background.

pub mod notify;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use serde::Serialize;
use sqlx::SqlitePool;

use crate::AppState;
use crate::model::WorkloadKey;
use crate::policy::assignments::{Finding, Rules, findings};
use crate::store;

/// What one sync changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SyncReport {
    pub opened: usize,
    /// Alerts still failing (last seen moved on).
    pub updated: usize,
    pub resolved: usize,
    /// Deliveries queued for the opened alerts.
    pub queued: usize,
    /// The snapshot was not the newest of its cluster: nothing was done.
    pub stale: bool,
}

/// One workload's findings, with what routing needs.
struct Found {
    namespace: String,
    labels: BTreeMap<String, String>,
    findings: Vec<Finding>,
}

/// Reads the snapshot's workloads and namespaces and evaluates them on a
/// blocking thread.
async fn evaluate(
    pool: &SqlitePool,
    rules: Arc<Rules>,
    cluster: &str,
    snapshot: i64,
    now: i64,
) -> Result<Vec<Found>, sqlx::Error> {
    let rows: Vec<(String, String, String, String, String)> = sqlx::query_as(
        "SELECT namespace, kind, name, labels, template FROM workloads WHERE snapshot_id = ?",
    )
    .bind(snapshot)
    .fetch_all(pool)
    .await?;
    let ns_rows: Vec<(String, String)> =
        sqlx::query_as("SELECT name, labels FROM namespaces WHERE snapshot_id = ?")
            .bind(snapshot)
            .fetch_all(pool)
            .await?;
    let cluster = cluster.to_owned();
    let found = tokio::task::spawn_blocking(move || {
        let ns_labels: HashMap<String, BTreeMap<String, String>> = ns_rows
            .into_iter()
            .map(|(n, l)| (n, serde_json::from_str(&l).unwrap_or_default()))
            .collect();
        rows.into_iter()
            .filter_map(|(namespace, kind, name, labels, template)| {
                let template = store::workloads::decode_template(&template);
                let key = WorkloadKey::new(&namespace, &kind, &name);
                let f = findings(
                    &rules,
                    &cluster,
                    &key,
                    &template,
                    ns_labels.get(&namespace),
                    now,
                );
                if f.is_empty() {
                    return None;
                }
                // The template's labels, overridden by the object's own.
                let mut all: BTreeMap<String, String> = template
                    .metadata
                    .labels
                    .clone()
                    .unwrap_or_default()
                    .into_iter()
                    .collect();
                let own: BTreeMap<String, String> =
                    serde_json::from_str(&labels).unwrap_or_default();
                all.extend(own);
                Some(Found {
                    namespace,
                    labels: all,
                    findings: f,
                })
            })
            .collect::<Vec<Found>>()
    })
    .await
    .map_err(|e| sqlx::Error::Protocol(format!("evaluating alerts failed: {e}")))?;
    Ok(found)
}

/// Brings the alerts of `cluster` in line with its snapshot `snapshot` (which
/// must be the cluster's newest; an older one is skipped and reported
/// `stale`) under `rules` at `now`, in one transaction.
pub async fn sync(
    pool: &SqlitePool,
    rules: Arc<Rules>,
    cluster: &str,
    snapshot: i64,
    now: i64,
) -> Result<SyncReport, sqlx::Error> {
    let found = evaluate(pool, rules, cluster, snapshot, now).await?;
    let mut report = SyncReport::default();

    // IMMEDIATE: the read of live alerts and the writes see one state.
    let mut tx = crate::store::write_tx(pool).await?;
    let newest = store::snapshots::newest_id_of(&mut tx, cluster).await?;
    if newest != Some(snapshot) {
        report.stale = true;
        return Ok(report);
    }
    let live = store::alerts::live_of(&mut tx, cluster).await?;
    let routes = store::notifications::routes_in(&mut tx).await?;
    let mut seen: HashSet<i64> = HashSet::with_capacity(live.len());
    for w in &found {
        for f in &w.findings {
            let fp = f.fingerprint(cluster);
            if let Some(l) = live.get(&fp) {
                if seen.insert(l.id) {
                    report.updated += 1;
                    if l.message != f.message {
                        store::alerts::set_message(&mut tx, l.id, &f.message).await?;
                    }
                }
                continue;
            }
            report.queued += open_alert(
                &mut tx,
                &routes,
                Opening {
                    cluster,
                    namespace: &w.namespace,
                    labels: &w.labels,
                    snapshot,
                    now,
                },
                f,
            )
            .await?;
            report.opened += 1;
        }
    }
    let gone: Vec<i64> = live
        .values()
        .map(|l| l.id)
        .filter(|id| !seen.contains(id))
        .collect();
    report.resolved = gone.len();
    store::alerts::resolve(&mut tx, &gone, now).await?;
    store::alerts::touch_live(&mut tx, cluster, snapshot, now).await?;
    tx.commit().await?;
    if report.queued > 0 {
        notify::wake();
    }
    Ok(report)
}

/// Syncs the newest snapshot of `cluster`, if it has one.
pub async fn sync_cluster(
    pool: &SqlitePool,
    rules: Arc<Rules>,
    cluster: &str,
    now: i64,
) -> Result<Option<SyncReport>, sqlx::Error> {
    let Some(s) = store::snapshots::latest_of(pool, cluster).await? else {
        return Ok(None);
    };
    sync(pool, rules, cluster, s.id, now).await.map(Some)
}

/// Syncs the newest snapshot of every cluster.
pub async fn sync_all(
    pool: &SqlitePool,
    rules: Arc<Rules>,
    now: i64,
) -> Result<Vec<(String, SyncReport)>, sqlx::Error> {
    let mut out = Vec::new();
    for c in store::snapshots::clusters(pool).await? {
        if let Some(r) = sync_cluster(pool, rules.clone(), &c.cluster, now).await? {
            out.push((c.cluster, r));
        }
    }
    Ok(out)
}

/// Syncs after a snapshot was stored, logging rather than failing: the
/// snapshot is kept whatever happens to its alerts.
pub async fn after_snapshot(pool: &SqlitePool, rules: Arc<Rules>, cluster: &str, snapshot: i64) {
    match sync(pool, rules, cluster, snapshot, crate::now_ms()).await {
        Ok(r) => tracing::info!(
            cluster,
            snapshot,
            opened = r.opened,
            updated = r.updated,
            resolved = r.resolved,
            queued = r.queued,
            stale = r.stale,
            "alerts synced"
        ),
        Err(e) => tracing::error!(cluster, snapshot, error = %e, "alerts could not be synced"),
    }
}

/// The rules watcher: its task, and the rules generation it last synced
/// (tests and callers wait on it instead of sleeping).
pub struct Watcher {
    pub task: tokio::task::JoinHandle<()>,
    pub synced: tokio::sync::watch::Receiver<u64>,
}

/// Re-syncs every cluster's newest snapshot whenever the rules change
/// (assignments, exemptions, custom profiles).
pub fn spawn_watcher(state: AppState) -> Watcher {
    let mut changes = state.rules.subscribe();
    changes.borrow_and_update();
    let (done, synced) = tokio::sync::watch::channel(state.rules.get().generation);
    let task = tokio::spawn(async move {
        loop {
            if changes.changed().await.is_err() {
                return;
            }
            changes.borrow_and_update();
            let rules = state.rules.get();
            let generation = rules.generation;
            match sync_all(&state.pool, rules, crate::now_ms()).await {
                Ok(list) => {
                    for (cluster, r) in list {
                        tracing::debug!(
                            cluster,
                            opened = r.opened,
                            resolved = r.resolved,
                            "alerts synced after a rules change"
                        );
                    }
                }
                Err(e) => tracing::error!(error = %e, "alerts could not be synced"),
            }
            done.send_replace(generation);
        }
    });
    Watcher { task, synced }
}

/// Where and when an alert is opened.
struct Opening<'a> {
    cluster: &'a str,
    namespace: &'a str,
    /// The workload's labels, for routes with a label selector.
    labels: &'a BTreeMap<String, String>,
    snapshot: i64,
    now: i64,
}

/// Opens an alert for `f` and queues a delivery to every route it matches,
/// in the caller's transaction; returns how many deliveries were queued.
async fn open_alert(
    tx: &mut sqlx::SqliteConnection,
    routes: &[store::notifications::Route],
    at: Opening<'_>,
    f: &Finding,
) -> Result<usize, sqlx::Error> {
    let id = store::alerts::insert(tx, at.cluster, at.namespace, f, at.snapshot, at.now).await?;
    let matching: Vec<&store::notifications::Route> = routes
        .iter()
        .filter(|r| notify::matches(r, at.namespace, at.labels, f.severity))
        .collect();
    if matching.is_empty() {
        return Ok(0);
    }
    let alert: store::alerts::Alert = sqlx::query_as("SELECT * FROM alerts WHERE id = ?")
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
    let payload = notify::payload(&alert).to_string();
    for r in &matching {
        store::notifications::enqueue(tx, r.id, id, &payload, at.now).await?;
    }
    Ok(matching.len())
}

// ---------------------------------------------------------------------------------------------
// Rejections at admission

/// The webhook's rejections and failed audits, as alerts: each failing
/// (container, control) opens an alert (or refreshes the live one with the
/// same fingerprint), routed to notifications like any other. Called from
/// the admission log's writer task, never from a review; dry runs never get
/// here. An alert for an object that never ran resolves at the next sync of
/// its cluster, as one for a workload that disappeared does.
pub struct AdmissionAlerts {
    pool: SqlitePool,
}

impl AdmissionAlerts {
    pub fn new(pool: SqlitePool) -> AdmissionAlerts {
        AdmissionAlerts { pool }
    }
}

impl crate::admission::AlertSink for AdmissionAlerts {
    fn raise(&self, d: &crate::admission::Decision) {
        self.raise_all(&[d]);
    }

    /// Repeats of one decision (same object, labels and findings) are stored
    /// as one, at the time of the last: under load the same
    /// rejection arrives many times within one batch of the log writer, and
    /// one write transaction each would cost more than the reviews. The
    /// batch is stored in order, by one task.
    fn raise_all(&self, decisions: &[&crate::admission::Decision]) {
        struct Raise<'d> {
            first: &'d crate::admission::Decision,
            at: i64,
            findings: Vec<Finding>,
        }
        let mut raises: Vec<Raise<'_>> = Vec::new();
        for d in decisions {
            if let Some(r) = raises.iter_mut().find(|r| r.first.same_findings(d)) {
                r.at = r.at.max(d.at);
                continue;
            }
            let findings = d.findings();
            if !findings.is_empty() {
                raises.push(Raise {
                    first: d,
                    at: d.at,
                    findings,
                });
            }
        }
        if raises.is_empty() {
            return;
        }
        let work: Vec<_> = raises
            .into_iter()
            .map(|r| {
                let labels = r
                    .first
                    .subject
                    .as_ref()
                    .and_then(|s| s.labels.clone())
                    .unwrap_or_default();
                (
                    r.first.cluster.clone(),
                    r.first.namespace.clone(),
                    labels,
                    r.findings,
                    r.at,
                )
            })
            .collect();
        let pool = self.pool.clone();
        tokio::spawn(async move {
            for (cluster, namespace, labels, findings, at) in work {
                if let Err(e) =
                    raise_admission(&pool, &cluster, &namespace, &labels, &findings, at).await
                {
                    tracing::error!(error = %e, %cluster, "alerts for an admission rejection not stored");
                }
            }
        });
    }
}

/// Opens (or refreshes) the alerts of an admission decision's findings;
/// returns how many were opened.
pub async fn raise_admission(
    pool: &SqlitePool,
    cluster: &str,
    namespace: &str,
    labels: &BTreeMap<String, String>,
    findings: &[Finding],
    now: i64,
) -> Result<usize, sqlx::Error> {
    // Under load the same rejection comes in every batch of the log writer
    // (a hundred a second): its live alerts are refreshed by fingerprint
    // (the live-fingerprint index) in one statement, and only when one is
    // not live does a transaction open it (reading then what opening needs:
    // the snapshot, the routes).
    let keyed: Vec<(String, &Finding)> = findings
        .iter()
        .map(|f| (f.fingerprint(cluster), f))
        .collect();
    let pairs: Vec<(&str, &str)> = keyed
        .iter()
        .map(|(fp, f)| (fp.as_str(), f.message.as_str()))
        .collect();
    let live = store::alerts::refresh_all_live(pool, &pairs, now).await?;
    if keyed.iter().all(|(fp, _)| live.contains(fp)) {
        return Ok(0);
    }
    let mut tx = crate::store::write_tx(pool).await?;
    let mut opening: Option<(i64, Vec<store::notifications::Route>)> = None;
    let mut opened = 0;
    let mut queued = false;
    for (fingerprint, f) in &keyed {
        // Refreshed again inside the transaction: it may have gone live (or
        // been resolved) since.
        if store::alerts::refresh_live(&mut tx, fingerprint, &f.message, now).await? {
            continue;
        }
        let (snapshot, routes) = match &opening {
            Some(o) => o,
            None => {
                let snapshot = store::snapshots::newest_id_of(&mut tx, cluster)
                    .await?
                    .unwrap_or(0);
                let routes = store::notifications::routes_in(&mut tx).await?;
                opening.insert((snapshot, routes))
            }
        };
        let at = Opening {
            cluster,
            namespace,
            labels,
            snapshot: *snapshot,
            now,
        };
        queued |= open_alert(&mut tx, routes, at, f).await? > 0;
        opened += 1;
    }
    tx.commit().await?;
    if queued {
        notify::wake();
    }
    Ok(opened)
}
