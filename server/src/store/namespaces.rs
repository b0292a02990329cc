//! Namespaces of a snapshot with their counts.

use std::collections::BTreeMap;

use serde::Serialize;
use sqlx::SqlitePool;

#[derive(Debug, Clone, sqlx::FromRow)]
struct Row {
    name: String,
    labels: String,
    declared: bool,
    workloads: i64,
    containers: i64,
    restricted: i64,
    baseline: i64,
    risky: i64,
}

/// A namespace and what lives in it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NamespaceSummary {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub declared: bool,
    pub workloads: i64,
    pub containers: i64,
    /// The tightest Pod Security level every workload in it satisfies.
    pub level: String,
    /// Workloads that satisfy each level.
    pub restricted_workloads: i64,
    pub baseline_workloads: i64,
    /// Workloads with a dangerous setting.
    pub dangerous_workloads: i64,
}

impl NamespaceSummary {
    /// The `pod-security.kubernetes.io/<mode>` label, if set.
    pub fn pss_label(&self, mode: &str) -> Option<&str> {
        self.labels
            .get(&format!("pod-security.kubernetes.io/{mode}"))
            .map(String::as_str)
    }
}

pub async fn list(pool: &SqlitePool, snapshot: i64) -> Result<Vec<NamespaceSummary>, sqlx::Error> {
    list_in(pool, snapshot, None).await
}

/// [`list`] limited to the namespaces in `scope` (`None`: all).
pub async fn list_in(
    pool: &SqlitePool,
    snapshot: i64,
    scope: Option<&[String]>,
) -> Result<Vec<NamespaceSummary>, sqlx::Error> {
    let mut qb = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
        "SELECT n.name, n.labels, n.declared,
                COUNT(w.id) AS workloads,
                COALESCE(SUM(w.containers), 0) AS containers,
                COALESCE(SUM(w.level = 'restricted'), 0) AS restricted,
                COALESCE(SUM(w.level IN ('restricted', 'baseline')), 0) AS baseline,
                COALESCE(SUM(w.worst_risk = 2), 0) AS risky
         FROM namespaces n
         LEFT JOIN workloads w ON w.snapshot_id = n.snapshot_id AND w.namespace = n.name
         WHERE n.snapshot_id = ",
    );
    qb.push_bind(snapshot);
    super::push_scope(&mut qb, "n.name", scope);
    qb.push(" GROUP BY n.name ORDER BY n.name");
    let rows: Vec<Row> = qb.build_query_as().fetch_all(pool).await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let level = if r.restricted == r.workloads {
                "restricted"
            } else if r.baseline == r.workloads {
                "baseline"
            } else {
                "privileged"
            };
            NamespaceSummary {
                labels: serde_json::from_str(&r.labels).unwrap_or_default(),
                name: r.name,
                declared: r.declared,
                workloads: r.workloads,
                containers: r.containers,
                level: level.to_owned(),
                restricted_workloads: r.restricted,
                baseline_workloads: r.baseline,
                dangerous_workloads: r.risky,
            }
        })
        .collect())
}
