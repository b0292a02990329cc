//! Workloads and their containers, read back for the list, the workload page and the API.

use std::collections::BTreeMap;

use serde::Serialize;
use sqlx::{QueryBuilder, Sqlite, SqlitePool};

use crate::model::PodTemplate;
use crate::model::controls::Risk;
use crate::model::effective::Cell;

/// A row of the workload list.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadRow {
    #[serde(skip)]
    pub id: i64,
    pub namespace: String,
    pub kind: String,
    pub name: String,
    pub replicas: Option<i64>,
    pub containers: i64,
    #[serde(skip)]
    pub flags: String,
    #[serde(skip)]
    pub worst_risk: i64,
    pub level: String,
}

impl WorkloadRow {
    pub fn key(&self) -> String {
        format!("{}/{}/{}", self.namespace, self.kind, self.name)
    }
    pub fn flag_list(&self) -> Vec<String> {
        super::decode_flags(&self.flags)
    }
    pub fn risk(&self) -> Risk {
        risk_from(self.worst_risk)
    }
}

pub(crate) fn risk_from(n: i64) -> Risk {
    match n {
        0 => Risk::Safe,
        1 => Risk::Risky,
        _ => Risk::Dangerous,
    }
}

/// Sort orders of the workload list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortKey {
    #[default]
    Name,
    Namespace,
    Kind,
    Risk,
    Containers,
    Level,
}

impl SortKey {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "name" => SortKey::Name,
            "namespace" => SortKey::Namespace,
            "kind" => SortKey::Kind,
            "risk" => SortKey::Risk,
            "containers" => SortKey::Containers,
            "level" => SortKey::Level,
            _ => return None,
        })
    }
    pub fn as_str(self) -> &'static str {
        match self {
            SortKey::Name => "name",
            SortKey::Namespace => "namespace",
            SortKey::Kind => "kind",
            SortKey::Risk => "risk",
            SortKey::Containers => "containers",
            SortKey::Level => "level",
        }
    }
    fn column(self) -> &'static str {
        match self {
            SortKey::Name => "name",
            SortKey::Namespace => "namespace",
            SortKey::Kind => "kind",
            SortKey::Risk => "worst_risk",
            SortKey::Containers => "containers",
            SortKey::Level => {
                "CASE level WHEN 'restricted' THEN 0 WHEN 'baseline' THEN 1 ELSE 2 END"
            }
        }
    }
}

/// Filters, sort and page of the workload list (all optional).
#[derive(Debug, Clone, Default)]
pub struct WorkloadQuery {
    pub namespace: Option<String>,
    pub kind: Option<String>,
    /// A risk flag slug: only workloads with a container that has it.
    pub flag: Option<String>,
    /// Tightest Pod Security level.
    pub level: Option<String>,
    /// Substring of the name.
    pub search: Option<String>,
    /// The namespaces the asker may see (`None`: all of them).
    pub scope: Option<Vec<String>>,
    pub sort: SortKey,
    pub descending: bool,
    /// 1-based.
    pub page: u32,
    pub per_page: u32,
}

fn push_filters(qb: &mut QueryBuilder<Sqlite>, snapshot: i64, q: &WorkloadQuery) {
    qb.push(" WHERE snapshot_id = ").push_bind(snapshot);
    if let Some(ns) = &q.namespace {
        qb.push(" AND namespace = ").push_bind(ns.clone());
    }
    super::push_scope(qb, "namespace", q.scope.as_deref());
    if let Some(kind) = &q.kind {
        qb.push(" AND kind = ").push_bind(kind.clone());
    }
    if let Some(flag) = &q.flag {
        qb.push(" AND instr(flags, ")
            .push_bind(format!(",{flag},"))
            .push(") > 0");
    }
    if let Some(level) = &q.level {
        qb.push(" AND level = ").push_bind(level.clone());
    }
    if let Some(s) = &q.search {
        qb.push(" AND instr(lower(name), ")
            .push_bind(s.to_lowercase())
            .push(") > 0");
    }
}

/// One page of workloads and the total matching the filters.
pub async fn list(
    pool: &SqlitePool,
    snapshot: i64,
    q: &WorkloadQuery,
) -> Result<(Vec<WorkloadRow>, i64), sqlx::Error> {
    let mut count = QueryBuilder::<Sqlite>::new("SELECT COUNT(*) FROM workloads");
    push_filters(&mut count, snapshot, q);
    let (total,): (i64,) = count.build_query_as().fetch_one(pool).await?;

    let mut qb = QueryBuilder::<Sqlite>::new(
        "SELECT id, namespace, kind, name, replicas, containers, flags, worst_risk, level FROM workloads",
    );
    push_filters(&mut qb, snapshot, q);
    let dir = if q.descending { "DESC" } else { "ASC" };
    qb.push(format_args!(
        " ORDER BY {} {dir}, namespace, kind, name",
        q.sort.column()
    ));
    let per_page = q.per_page.clamp(1, 500);
    let page = q.page.max(1);
    qb.push(" LIMIT ")
        .push_bind(i64::from(per_page))
        .push(" OFFSET ")
        .push_bind(i64::from(page - 1) * i64::from(per_page));
    let rows = qb.build_query_as().fetch_all(pool).await?;
    Ok((rows, total))
}

/// The kinds present in a snapshot, for the filter.
pub async fn kinds(pool: &SqlitePool, snapshot: i64) -> Result<Vec<String>, sqlx::Error> {
    let rows: Vec<(String,)> =
        sqlx::query_as("SELECT DISTINCT kind FROM workloads WHERE snapshot_id = ? ORDER BY kind")
            .bind(snapshot)
            .fetch_all(pool)
            .await?;
    Ok(rows.into_iter().map(|r| r.0).collect())
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct WorkloadFull {
    pub id: i64,
    pub snapshot_id: i64,
    pub namespace: String,
    pub kind: String,
    pub name: String,
    pub api_version: String,
    pub labels: String,
    pub annotations: String,
    pub replicas: Option<i64>,
    pub schedule: Option<String>,
    pub folded: String,
    pub origin_file: String,
    pub origin_document: i64,
    pub origin_line: i64,
    pub template: String,
    pub raw: String,
    pub containers: i64,
    pub flags: String,
    pub worst_risk: i64,
    pub level: String,
}

#[derive(Debug, Clone, sqlx::FromRow)]
struct ContainerRow {
    name: String,
    kind: String,
    image: String,
    cells: String,
    flags: String,
    worst_risk: i64,
}

/// A container as stored, with its decoded cells.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredContainer {
    pub name: String,
    pub kind: String,
    pub image: String,
    pub risk: Risk,
    pub flags: Vec<String>,
    pub settings: Vec<Cell>,
}

/// A workload with everything the workload page shows.
#[derive(Debug, Clone)]
pub struct WorkloadDetail {
    pub row: WorkloadFull,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub folded: Vec<String>,
    pub template: PodTemplate,
    pub containers: Vec<StoredContainer>,
}

pub async fn get(
    pool: &SqlitePool,
    snapshot: i64,
    namespace: &str,
    kind: &str,
    name: &str,
) -> Result<Option<WorkloadDetail>, sqlx::Error> {
    let row: Option<WorkloadFull> = sqlx::query_as(
        "SELECT * FROM workloads WHERE snapshot_id = ? AND namespace = ? AND kind = ? AND name = ?",
    )
    .bind(snapshot)
    .bind(namespace)
    .bind(kind)
    .bind(name)
    .fetch_optional(pool)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let crows: Vec<ContainerRow> = sqlx::query_as(
        "SELECT name, kind, image, cells, flags, worst_risk FROM containers
         WHERE workload_id = ? ORDER BY position",
    )
    .bind(row.id)
    .fetch_all(pool)
    .await?;
    let containers = crows
        .into_iter()
        .map(|c| StoredContainer {
            settings: serde_json::from_str(&c.cells).unwrap_or_default(),
            flags: super::decode_flags(&c.flags),
            risk: risk_from(c.worst_risk),
            name: c.name,
            kind: c.kind,
            image: c.image,
        })
        .collect();
    let template = decode_template(&row.template);
    Ok(Some(WorkloadDetail {
        labels: serde_json::from_str(&row.labels).unwrap_or_default(),
        annotations: serde_json::from_str(&row.annotations).unwrap_or_default(),
        folded: serde_json::from_str(&row.folded).unwrap_or_default(),
        template,
        containers,
        row,
    }))
}

/// Decodes a stored `{metadata, spec}` pod template.
pub fn decode_template(s: &str) -> PodTemplate {
    #[derive(serde::Deserialize, Default)]
    struct T {
        #[serde(default)]
        metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
        #[serde(default)]
        spec: k8s_openapi::api::core::v1::PodSpec,
    }
    let t: T = serde_json::from_str(s).unwrap_or_default();
    PodTemplate {
        metadata: t.metadata,
        spec: t.spec,
    }
}

/// Containers' risk flags across a snapshot: how many containers have each flag.
pub async fn flag_counts(
    pool: &SqlitePool,
    snapshot: i64,
) -> Result<BTreeMap<String, i64>, sqlx::Error> {
    flag_counts_in(pool, snapshot, None).await
}

/// [`flag_counts`] over the namespaces in `scope` only (`None`: all).
pub async fn flag_counts_in(
    pool: &SqlitePool,
    snapshot: i64,
    scope: Option<&[String]>,
) -> Result<BTreeMap<String, i64>, sqlx::Error> {
    let mut qb = QueryBuilder::<Sqlite>::new(
        "SELECT c.flags FROM containers c JOIN workloads w ON w.id = c.workload_id
         WHERE w.snapshot_id = ",
    );
    qb.push_bind(snapshot);
    super::push_scope(&mut qb, "w.namespace", scope);
    let rows: Vec<(String,)> = qb.build_query_as().fetch_all(pool).await?;
    let mut counts = BTreeMap::new();
    for (flags,) in rows {
        for f in super::decode_flags(&flags) {
            *counts.entry(f).or_insert(0) += 1;
        }
    }
    Ok(counts)
}

/// A workload's name and pod template, for evaluating many profiles at once.
#[derive(Debug, Clone)]
pub struct TemplateRow {
    pub namespace: String,
    pub kind: String,
    pub name: String,
    pub template: PodTemplate,
}

impl TemplateRow {
    pub fn key(&self) -> String {
        format!("{}/{}/{}", self.namespace, self.kind, self.name)
    }
}

/// Every workload's pod template in a snapshot, by namespace, kind and name.
pub async fn templates(pool: &SqlitePool, snapshot: i64) -> Result<Vec<TemplateRow>, sqlx::Error> {
    let rows: Vec<(String, String, String, String)> = sqlx::query_as(
        "SELECT namespace, kind, name, template FROM workloads
         WHERE snapshot_id = ? ORDER BY namespace, kind, name",
    )
    .bind(snapshot)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(namespace, kind, name, t)| TemplateRow {
            namespace,
            kind,
            name,
            template: decode_template(&t),
        })
        .collect())
}
