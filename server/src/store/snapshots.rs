//! Snapshots: written in one transaction with everything they contain.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use sqlx::SqlitePool;

use crate::model::controls::Risk;
use crate::model::effective::{self, ContainerView};
use crate::model::{Inventory, Workload};

/// The row of `snapshots`.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot {
    pub id: i64,
    pub cluster: String,
    pub source: String,
    /// Unix milliseconds.
    pub taken_at: i64,
    pub namespaces: i64,
    pub workloads: i64,
    pub containers: i64,
    pub services: i64,
    pub network_policies: i64,
    #[serde(skip)]
    pub skipped: String,
    #[serde(skip)]
    pub errors: String,
}

impl Snapshot {
    pub fn taken_at_text(&self) -> String {
        crate::format_time(self.taken_at)
    }

    /// Objects not read, by kind.
    pub fn skipped_kinds(&self) -> BTreeMap<String, i64> {
        serde_json::from_str(&self.skipped).unwrap_or_default()
    }

    /// Documents that could not be read when the snapshot was taken.
    pub fn load_errors(&self) -> Vec<crate::model::LoadError> {
        serde_json::from_str(&self.errors).unwrap_or_default()
    }
}

/// Which cluster and source a snapshot describes.
#[derive(Debug, Clone)]
pub struct SnapshotSource {
    pub cluster: String,
    pub source: String,
}

fn risk_num(r: Risk) -> i64 {
    match r {
        Risk::Safe => 0,
        Risk::Risky => 1,
        Risk::Dangerous => 2,
    }
}

fn template_json(w: &Workload) -> serde_json::Value {
    serde_json::json!({ "metadata": w.template.metadata, "spec": w.template.spec })
}

/// Writes one snapshot of `inv` in a single transaction and returns its id.
/// `level_of` names the tightest Pod Security level a workload satisfies
/// (decided by the policy core, not here). On any error nothing is written.
pub async fn insert(
    pool: &SqlitePool,
    src: &SnapshotSource,
    inv: &Inventory,
    taken_at: i64,
    level_of: impl Fn(&Workload) -> &'static str,
) -> Result<i64, sqlx::Error> {
    // Analyse outside the transaction: pure CPU work.
    let views: Vec<Vec<ContainerView>> = inv
        .workloads
        .iter()
        .map(|w| effective::analyse(&w.template))
        .collect();
    let container_count: usize = views.iter().map(Vec::len).sum();

    // Namespaces: declared ones plus every namespace an object lives in.
    let mut namespaces: BTreeMap<&str, Option<&crate::model::Namespace>> = BTreeMap::new();
    for ns in &inv.namespaces {
        namespaces.insert(&ns.name, Some(ns));
    }
    let used = inv
        .workloads
        .iter()
        .map(|w| w.key.namespace.as_str())
        .chain(inv.services.iter().map(|s| s.namespace.as_str()))
        .chain(inv.network_policies.iter().map(|p| p.namespace.as_str()));
    for ns in used {
        namespaces.entry(ns).or_insert(None);
    }

    let skipped = serde_json::to_string(&inv.skipped).unwrap_or_else(|_| "{}".into());
    let errors = serde_json::to_string(&inv.errors).unwrap_or_else(|_| "[]".into());

    let mut tx = crate::store::write_tx(pool).await?;
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO snapshots (cluster, source, taken_at, namespaces, workloads, containers,
                                services, network_policies, skipped, errors)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
    )
    .bind(&src.cluster)
    .bind(&src.source)
    .bind(taken_at)
    .bind(namespaces.len() as i64)
    .bind(inv.workloads.len() as i64)
    .bind(container_count as i64)
    .bind(inv.services.len() as i64)
    .bind(inv.network_policies.len() as i64)
    .bind(skipped)
    .bind(errors)
    .fetch_one(&mut *tx)
    .await?;

    for (name, ns) in &namespaces {
        let (labels, annotations) = match ns {
            Some(ns) => (json(&ns.labels), json(&ns.annotations)),
            None => ("{}".to_owned(), "{}".to_owned()),
        };
        sqlx::query(
            "INSERT INTO namespaces (snapshot_id, name, labels, annotations, declared)
             VALUES (?, ?, ?, ?, ?)",
        )
        .bind(id)
        .bind(*name)
        .bind(labels)
        .bind(annotations)
        .bind(ns.is_some())
        .execute(&mut *tx)
        .await?;
    }

    for (w, containers) in inv.workloads.iter().zip(&views) {
        let flags: BTreeSet<&str> = containers
            .iter()
            .flat_map(|c| c.flags.iter().map(|f| f.slug()))
            .collect();
        let worst = containers
            .iter()
            .map(|c| c.worst())
            .max()
            .unwrap_or(Risk::Safe);
        let level = level_of(w);
        let (wid,): (i64,) = sqlx::query_as(
            "INSERT INTO workloads (snapshot_id, namespace, kind, name, api_version, labels,
                 annotations, replicas, schedule, folded, origin_file, origin_document,
                 origin_line, template, raw, containers, flags, worst_risk, level)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(id)
        .bind(&w.key.namespace)
        .bind(&w.key.kind)
        .bind(&w.key.name)
        .bind(&w.api_version)
        .bind(json(&w.labels))
        .bind(json(&w.annotations))
        .bind(w.replicas)
        .bind(&w.schedule)
        .bind(json(&w.folded))
        .bind(&w.origin.file)
        .bind(w.origin.document as i64)
        .bind(w.origin.line as i64)
        .bind(template_json(w).to_string())
        .bind(w.raw.to_string())
        .bind(containers.len() as i64)
        .bind(super::encode_flags(flags.iter().copied()))
        .bind(risk_num(worst))
        .bind(level)
        .fetch_one(&mut *tx)
        .await?;
        for (pos, c) in containers.iter().enumerate() {
            sqlx::query(
                "INSERT INTO containers (workload_id, position, name, kind, image, cells, flags,
                     worst_risk) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(wid)
            .bind(pos as i64)
            .bind(&c.name)
            .bind(c.kind.word())
            .bind(&c.image)
            .bind(json(&c.cells))
            .bind(super::encode_flags(c.flags.iter().map(|f| f.slug())))
            .bind(risk_num(c.worst()))
            .execute(&mut *tx)
            .await?;
        }
    }

    for s in &inv.services {
        let ty = s
            .service
            .spec
            .as_ref()
            .and_then(|s| s.type_.clone())
            .unwrap_or_else(|| "ClusterIP".to_owned());
        sqlx::query(
            "INSERT INTO services (snapshot_id, namespace, name, type, raw) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(id)
        .bind(&s.namespace)
        .bind(&s.name)
        .bind(ty)
        .bind(json(&s.service))
        .execute(&mut *tx)
        .await?;
    }
    for p in &inv.network_policies {
        sqlx::query(
            "INSERT INTO network_policies (snapshot_id, namespace, name, raw) VALUES (?, ?, ?, ?)",
        )
        .bind(id)
        .bind(&p.namespace)
        .bind(&p.name)
        .bind(json(&p.policy))
        .execute(&mut *tx)
        .await?;
    }
    super::inventory::insert_config_maps(&mut tx, id, &inv.config_maps).await?;
    tx.commit().await?;
    TAKEN.send_replace(id);
    Ok(id)
}

/// The id of the last snapshot written by this process.
static TAKEN: std::sync::LazyLock<tokio::sync::watch::Sender<i64>> =
    std::sync::LazyLock::new(|| tokio::sync::watch::channel(0).0);

/// Tells when a snapshot has been written (its id), for what keeps derived
/// state in memory (the admission webhook's namespace labels).
pub fn subscribe() -> tokio::sync::watch::Receiver<i64> {
    TAKEN.subscribe()
}

fn json<T: Serialize + ?Sized>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

pub async fn list(pool: &SqlitePool) -> Result<Vec<Snapshot>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM snapshots ORDER BY taken_at DESC, id DESC")
        .fetch_all(pool)
        .await
}

pub async fn get(pool: &SqlitePool, id: i64) -> Result<Option<Snapshot>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM snapshots WHERE id = ?")
        .bind(id)
        .fetch_optional(pool)
        .await
}

/// The newest snapshot (of any cluster).
pub async fn latest(pool: &SqlitePool) -> Result<Option<Snapshot>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM snapshots ORDER BY taken_at DESC, id DESC LIMIT 1")
        .fetch_optional(pool)
        .await
}

/// The newest snapshot of one cluster.
pub async fn latest_of(pool: &SqlitePool, cluster: &str) -> Result<Option<Snapshot>, sqlx::Error> {
    sqlx::query_as(
        "SELECT * FROM snapshots WHERE cluster = ? ORDER BY taken_at DESC, id DESC LIMIT 1",
    )
    .bind(cluster)
    .fetch_optional(pool)
    .await
}

/// The id of the newest snapshot of one cluster, inside a transaction (the
/// alert sync compares it with the snapshot it evaluated).
pub async fn newest_id_of(
    conn: &mut sqlx::SqliteConnection,
    cluster: &str,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT id FROM snapshots WHERE cluster = ? ORDER BY taken_at DESC, id DESC LIMIT 1",
    )
    .bind(cluster)
    .fetch_optional(conn)
    .await
}

pub async fn count(pool: &SqlitePool) -> Result<i64, sqlx::Error> {
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM snapshots")
        .fetch_one(pool)
        .await?;
    Ok(n)
}

/// A cluster that has snapshots in the database.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct ClusterHistory {
    pub cluster: String,
    pub snapshots: i64,
    /// Unix milliseconds of the newest snapshot.
    pub latest: i64,
}

/// The clusters with snapshots, the most recently snapshotted first.
pub async fn clusters(pool: &SqlitePool) -> Result<Vec<ClusterHistory>, sqlx::Error> {
    sqlx::query_as(
        "SELECT cluster, COUNT(*) AS snapshots, MAX(taken_at) AS latest FROM snapshots
         GROUP BY cluster ORDER BY latest DESC, cluster",
    )
    .fetch_all(pool)
    .await
}

/// One page of a cluster's snapshots, newest first, and how many it has.
pub async fn list_cluster(
    pool: &SqlitePool,
    cluster: &str,
    limit: i64,
    offset: i64,
) -> Result<(Vec<Snapshot>, i64), sqlx::Error> {
    let (total,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM snapshots WHERE cluster = ?")
        .bind(cluster)
        .fetch_one(pool)
        .await?;
    let rows = sqlx::query_as(
        "SELECT * FROM snapshots WHERE cluster = ? ORDER BY taken_at DESC, id DESC LIMIT ? OFFSET ?",
    )
    .bind(cluster)
    .bind(limit)
    .bind(offset)
    .fetch_all(pool)
    .await?;
    Ok((rows, total))
}
