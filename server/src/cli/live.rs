//! Snapshots of a live cluster while the server runs: one at start, then one
//! every interval, and one on demand (the "Take snapshot now" button). At most
//! one runs at a time; its progress and the last outcome are kept for the
//! dashboard. A failure is logged and shown, and never stops the server.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use sqlx::SqlitePool;
use tokio::sync::{Mutex, watch};

use crate::ingest::cluster::{Cluster, ClusterError, Progress};
use crate::model::Inventory;
use crate::store;
use crate::store::snapshots::SnapshotSource;

/// A snapshot being taken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Running {
    /// Unix milliseconds.
    pub started_at: i64,
    pub progress: Progress,
}

/// How the last snapshot ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "result")]
pub enum Outcome {
    Stored {
        snapshot: i64,
        finished_at: i64,
        took_ms: i64,
        namespaces: usize,
        workloads: usize,
        containers: usize,
        services: usize,
        network_policies: usize,
        /// Objects that could not be read (they are listed in the snapshot).
        unreadable: usize,
    },
    Failed {
        finished_at: i64,
        /// Stable name of the failure (`forbidden`, `timeout`, …).
        kind: String,
        message: String,
    },
}

/// What the dashboard shows about live snapshots.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LiveStatus {
    pub running: Option<Running>,
    pub last: Option<Outcome>,
}

/// One configured cluster and its snapshots.
pub struct LiveCluster {
    cluster: Cluster,
    pool: SqlitePool,
    status: watch::Sender<LiveStatus>,
    /// Held while a snapshot is taken.
    busy: Arc<Mutex<()>>,
    /// The rules alerts are raised with after each stored snapshot (set by
    /// `serve`; without them no alerts are synced).
    rules: std::sync::OnceLock<Arc<crate::rules::RulesHandle>>,
}

/// Containers of an inventory's workloads (init, regular and ephemeral).
pub fn container_count(inv: &Inventory) -> usize {
    inv.workloads
        .iter()
        .map(|w| {
            let s = &w.template.spec;
            s.containers.len()
                + s.init_containers.as_ref().map_or(0, Vec::len)
                + s.ephemeral_containers.as_ref().map_or(0, Vec::len)
        })
        .sum()
}

/// Lists `cluster` and stores one snapshot of it; the database is written only
/// when the whole listing succeeded. Returns the snapshot id and the inventory.
pub async fn snapshot_cluster(
    pool: &SqlitePool,
    cluster: &Cluster,
    progress: &(dyn Fn(&Progress) + Send + Sync),
) -> Result<(i64, Inventory), SnapshotError> {
    let taken_at = crate::now_ms();
    let inv = cluster.snapshot(progress).await?;
    let id = store_listing(pool, cluster, &inv, taken_at).await?;
    Ok((id, inv))
}

/// Stores a complete listing of `cluster`, started at `taken_at`, as one
/// snapshot named after the cluster.
pub async fn store_listing(
    pool: &SqlitePool,
    cluster: &Cluster,
    inv: &Inventory,
    taken_at: i64,
) -> Result<i64, sqlx::Error> {
    let source = SnapshotSource {
        cluster: cluster.name().to_owned(),
        source: format!("Kubernetes API at {}", cluster.server()),
    };
    store::snapshots::insert(pool, &source, inv, taken_at, super::level_of).await
}

/// Why a snapshot was not stored.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    #[error("cannot write the snapshot to the database: {0}")]
    Store(#[from] sqlx::Error),
}

impl SnapshotError {
    pub fn kind(&self) -> &'static str {
        match self {
            SnapshotError::Cluster(e) => e.kind(),
            SnapshotError::Store(_) => "database",
        }
    }
}

impl LiveCluster {
    pub fn new(cluster: Cluster, pool: SqlitePool) -> Arc<LiveCluster> {
        Arc::new(LiveCluster {
            cluster,
            pool,
            status: watch::Sender::new(LiveStatus::default()),
            busy: Arc::new(Mutex::new(())),
            rules: std::sync::OnceLock::new(),
        })
    }

    /// Raises alerts with `rules` after every snapshot stored from now on.
    pub fn raise_alerts(&self, rules: Arc<crate::rules::RulesHandle>) {
        let _ = self.rules.set(rules);
    }

    /// The name snapshots are stored under.
    pub fn name(&self) -> &str {
        self.cluster.name()
    }

    pub fn server(&self) -> &str {
        self.cluster.server()
    }

    /// The cluster's client (`serve --allow-apply` patches namespace labels with it).
    pub fn client(&self) -> &kube::Client {
        self.cluster.client()
    }

    /// The current progress and the last outcome.
    pub fn status(&self) -> LiveStatus {
        self.status.borrow().clone()
    }

    /// Follows status changes (tests wait on it instead of sleeping).
    pub fn subscribe(&self) -> watch::Receiver<LiveStatus> {
        self.status.subscribe()
    }

    /// Starts a snapshot in the background unless one is running. Returns
    /// whether one was started; either way the status shows the running one.
    pub fn start(self: &Arc<Self>) -> bool {
        let Ok(guard) = self.busy.clone().try_lock_owned() else {
            return false;
        };
        self.mark_running();
        let me = self.clone();
        tokio::spawn(async move {
            let _guard = guard;
            me.run().await;
        });
        true
    }

    /// Takes a snapshot now, after the running one if there is one, and
    /// returns how it ended.
    pub async fn snapshot_now(&self) -> Outcome {
        let _guard = self.busy.lock().await;
        self.mark_running();
        self.run().await
    }

    /// A snapshot now and then every `interval` (none after the first when
    /// `interval` is zero). A tick that finds a snapshot running is skipped.
    pub async fn run_every(self: Arc<Self>, interval: Duration) {
        if interval.is_zero() {
            self.snapshot_now().await;
            return;
        }
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let Ok(_guard) = self.busy.clone().try_lock_owned() else {
                continue;
            };
            self.mark_running();
            self.run().await;
        }
    }

    fn mark_running(&self) {
        let progress = Progress {
            resources_total: crate::ingest::cluster::RESOURCES.len(),
            ..Progress::default()
        };
        self.status.send_modify(|s| {
            s.running = Some(Running {
                started_at: crate::now_ms(),
                progress,
            })
        });
    }

    /// Runs one snapshot; the caller holds `busy` and has marked it running.
    async fn run(&self) -> Outcome {
        let started = std::time::Instant::now();
        let report = |p: &Progress| {
            self.status.send_modify(|s| {
                if let Some(r) = s.running.as_mut() {
                    r.progress = p.clone();
                }
            });
        };
        let result = snapshot_cluster(&self.pool, &self.cluster, &report).await;
        let finished_at = crate::now_ms();
        let outcome = match result {
            Ok((id, inv)) => {
                crate::metrics::record_snapshot(started.elapsed(), inv.workloads.len());
                if let Some(rules) = self.rules.get() {
                    crate::alerts::after_snapshot(&self.pool, rules.get(), self.name(), id).await;
                }
                let outcome = Outcome::Stored {
                    snapshot: id,
                    finished_at,
                    took_ms: started.elapsed().as_millis() as i64,
                    namespaces: inv.namespaces.len(),
                    workloads: inv.workloads.len(),
                    containers: container_count(&inv),
                    services: inv.services.len(),
                    network_policies: inv.network_policies.len(),
                    unreadable: inv.errors.len(),
                };
                tracing::info!(
                    cluster = self.name(),
                    snapshot = id,
                    workloads = inv.workloads.len(),
                    took_ms = started.elapsed().as_millis() as u64,
                    "snapshot of the cluster stored"
                );
                outcome
            }
            Err(e) => {
                tracing::warn!(
                    cluster = self.name(),
                    kind = e.kind(),
                    error = %e,
                    "snapshot of the cluster failed; nothing was stored"
                );
                let message = match &e {
                    // What the cluster said is for the user; database internals
                    // stay in the log.
                    SnapshotError::Cluster(c) => c.to_string(),
                    SnapshotError::Store(_) => {
                        "the snapshot could not be written to the database (the server log has the details)".to_owned()
                    }
                };
                Outcome::Failed {
                    finished_at,
                    kind: e.kind().to_owned(),
                    message,
                }
            }
        };
        self.status.send_modify(|s| {
            s.running = None;
            s.last = Some(outcome.clone());
        });
        outcome
    }
}
