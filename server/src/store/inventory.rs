//! A snapshot read back as an [`Inventory`] (what the advisor builds its graph
//! from), the ConfigMaps of a snapshot and its observed flows (`config_maps`
//! and `flows`, migration 0020).

use std::collections::BTreeMap;

use sqlx::{Sqlite, SqlitePool, Transaction};

use crate::advisor::flows::Observed;
use crate::model::{
    ConfigMapObject, Inventory, Namespace, NetworkPolicyObject, Origin, ServiceObject, Workload,
    WorkloadKey,
};

/// Writes the ConfigMaps of snapshot `id` inside the snapshot's transaction.
pub(crate) async fn insert_config_maps(
    tx: &mut Transaction<'_, Sqlite>,
    id: i64,
    config_maps: &[ConfigMapObject],
) -> Result<(), sqlx::Error> {
    for c in config_maps {
        sqlx::query(
            "INSERT INTO config_maps (snapshot_id, namespace, name, data) VALUES (?, ?, ?, ?)",
        )
        .bind(id)
        .bind(&c.namespace)
        .bind(&c.name)
        .bind(serde_json::to_string(&c.data).unwrap_or_else(|_| "{}".into()))
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

#[derive(sqlx::FromRow)]
struct WorkloadRow {
    namespace: String,
    kind: String,
    name: String,
    api_version: String,
    labels: String,
    annotations: String,
    replicas: Option<i64>,
    schedule: Option<String>,
    folded: String,
    origin_file: String,
    origin_document: i64,
    origin_line: i64,
    template: String,
}

/// Snapshot `snapshot` as an inventory: declared namespaces, workloads with
/// their pod templates (without `raw`), services, network policies and
/// ConfigMaps. Rows that no longer decode are skipped (they were written by
/// this program, so that means a damaged database; the log says so).
pub async fn load(pool: &SqlitePool, snapshot: i64) -> Result<Inventory, sqlx::Error> {
    let mut inv = Inventory::default();

    let namespaces: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT name, labels, annotations FROM namespaces WHERE snapshot_id = ? AND declared
         ORDER BY name",
    )
    .bind(snapshot)
    .fetch_all(pool)
    .await?;
    for (name, labels, annotations) in namespaces {
        inv.namespaces.push(Namespace {
            name,
            labels: serde_json::from_str(&labels).unwrap_or_default(),
            annotations: serde_json::from_str(&annotations).unwrap_or_default(),
            origin: Origin::default(),
        });
    }

    let rows: Vec<WorkloadRow> = sqlx::query_as(
        "SELECT namespace, kind, name, api_version, labels, annotations, replicas, schedule,
                folded, origin_file, origin_document, origin_line, template
         FROM workloads WHERE snapshot_id = ? ORDER BY namespace, kind, name",
    )
    .bind(snapshot)
    .fetch_all(pool)
    .await?;
    inv.workloads.reserve(rows.len());
    for r in rows {
        inv.workloads.push(Workload {
            key: WorkloadKey::new(r.namespace, r.kind, r.name),
            api_version: r.api_version,
            labels: serde_json::from_str(&r.labels).unwrap_or_default(),
            annotations: serde_json::from_str(&r.annotations).unwrap_or_default(),
            replicas: r.replicas.and_then(|n| i32::try_from(n).ok()),
            schedule: r.schedule,
            template: super::workloads::decode_template(&r.template),
            folded: serde_json::from_str(&r.folded).unwrap_or_default(),
            origin: Origin {
                file: r.origin_file,
                document: usize::try_from(r.origin_document).unwrap_or(0),
                line: usize::try_from(r.origin_line).unwrap_or(0),
            },
            raw: serde_json::Value::Null,
        });
    }

    let services: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT namespace, name, raw FROM services WHERE snapshot_id = ? ORDER BY namespace, name",
    )
    .bind(snapshot)
    .fetch_all(pool)
    .await?;
    for (namespace, name, raw) in services {
        match serde_json::from_str(&raw) {
            Ok(service) => inv.services.push(ServiceObject {
                namespace,
                name,
                service,
                origin: Origin::default(),
            }),
            Err(e) => {
                tracing::warn!(%namespace, %name, error = %e, "stored Service does not decode")
            }
        }
    }

    let policies: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT namespace, name, raw FROM network_policies WHERE snapshot_id = ?
         ORDER BY namespace, name",
    )
    .bind(snapshot)
    .fetch_all(pool)
    .await?;
    for (namespace, name, raw) in policies {
        match serde_json::from_str(&raw) {
            Ok(policy) => inv.network_policies.push(NetworkPolicyObject {
                namespace,
                name,
                policy,
                origin: Origin::default(),
            }),
            Err(e) => {
                tracing::warn!(%namespace, %name, error = %e, "stored NetworkPolicy does not decode")
            }
        }
    }

    let config_maps: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT namespace, name, data FROM config_maps WHERE snapshot_id = ?
         ORDER BY namespace, name",
    )
    .bind(snapshot)
    .fetch_all(pool)
    .await?;
    for (namespace, name, data) in config_maps {
        let data: BTreeMap<String, String> = serde_json::from_str(&data).unwrap_or_default();
        inv.config_maps.push(ConfigMapObject {
            namespace,
            name,
            data,
            origin: Origin::default(),
        });
    }
    Ok(inv)
}

/// Adds observed flows to snapshot `snapshot` (counts add up per connection),
/// in one transaction.
pub async fn add_flows(
    pool: &SqlitePool,
    snapshot: i64,
    flows: &[Observed],
) -> Result<(), sqlx::Error> {
    let mut tx = crate::store::write_tx(pool).await?;
    for f in flows {
        sqlx::query(
            "INSERT INTO flows (snapshot_id, source, destination, port, protocol, count, dropped)
             VALUES (?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (snapshot_id, source, destination, port, protocol)
             DO UPDATE SET count = count + excluded.count, dropped = dropped + excluded.dropped",
        )
        .bind(snapshot)
        .bind(&f.from)
        .bind(&f.to)
        .bind(f.port)
        .bind(&f.protocol)
        .bind(i64::try_from(f.count).unwrap_or(i64::MAX))
        .bind(i64::try_from(f.dropped).unwrap_or(i64::MAX))
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await
}

/// The observed flows of snapshot `snapshot`.
pub async fn flows(pool: &SqlitePool, snapshot: i64) -> Result<Vec<Observed>, sqlx::Error> {
    let rows: Vec<(String, String, i64, String, i64, i64)> = sqlx::query_as(
        "SELECT source, destination, port, protocol, count, dropped FROM flows
         WHERE snapshot_id = ? ORDER BY source, destination, port, protocol",
    )
    .bind(snapshot)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(from, to, port, protocol, count, dropped)| Observed {
            from,
            to,
            port: i32::try_from(port).unwrap_or(0),
            protocol,
            count: u64::try_from(count).unwrap_or(0),
            dropped: u64::try_from(dropped).unwrap_or(0),
        })
        .collect())
}
