//! What changed between two snapshots: workloads added and removed, and
//! violations that appeared or were fixed, per workload, container and control.
//!
//! Two sources of violations are compared for each workload present in both
//! snapshots whose stored pod template changed (an identical template has
//! identical findings, so it is not looked at again):
//!
//! - **settings**: the stored containers' cells (the 16 controls in plain words);
//!   a cell whose risk rose appeared, one whose risk fell was fixed;
//! - **Pod Security**: the verdicts of the stored templates (given by the
//!   caller, from `policy::pss`); a failing check (per container, or for the
//!   pod) that is new appeared, one that is gone was fixed.
//!
//! Workloads that were added or removed are listed as such, without findings.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use sqlx::SqlitePool;

use super::snapshots::Snapshot;
use super::workloads::{decode_template, risk_from};
use crate::model::controls::Risk;
use crate::model::effective::Cell;
use crate::model::{Control, PodTemplate};
use crate::policy::pss::Evaluation;

/// A workload in one snapshot only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DiffWorkload {
    /// `namespace/Kind/name`.
    pub workload: String,
    pub namespace: String,
    pub kind: String,
    pub name: String,
    /// Tightest Pod Security level (latest).
    pub level: String,
    pub risk: Risk,
}

/// Where a finding comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum FindingSource {
    /// A container's effective setting for one control.
    Setting,
    /// A failing Pod Security Standards check.
    PodSecurity,
}

/// A violation that appeared or was fixed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    /// `namespace/Kind/name`.
    pub workload: String,
    /// The container; `None` for a pod-level Pod Security finding.
    pub container: Option<String>,
    pub control: Control,
    pub source: FindingSource,
    /// Pod Security: the lowest level whose check fails (`baseline`, `restricted`).
    pub level: Option<&'static str>,
    /// Pod Security: the check ID (`runAsNonRoot`).
    pub check: Option<&'static str>,
    /// Settings: the risk before and after (`None` where the container is absent).
    pub risk_before: Option<Risk>,
    pub risk_after: Option<Risk>,
    /// Settings: the value in plain words before and after.
    pub before: Option<String>,
    pub after: Option<String>,
    /// What is (appeared) or was (fixed) wrong, in plain words.
    pub message: String,
    /// The field it is about (settings).
    pub field: Option<String>,
}

/// A workload whose tightest Pod Security level changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LevelChange {
    pub workload: String,
    pub before: String,
    pub after: String,
}

/// The difference from one snapshot to another.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SnapshotDiff {
    pub from: Snapshot,
    pub to: Snapshot,
    pub added: Vec<DiffWorkload>,
    pub removed: Vec<DiffWorkload>,
    /// Workloads in both snapshots whose pod template changed.
    pub changed: usize,
    /// Workloads in both snapshots with the same pod template.
    pub unchanged: usize,
    pub levels: Vec<LevelChange>,
    pub appeared: Vec<Finding>,
    pub fixed: Vec<Finding>,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    namespace: String,
    kind: String,
    name: String,
    template: String,
    level: String,
    worst_risk: i64,
}

impl Row {
    fn key(&self) -> String {
        format!("{}/{}/{}", self.namespace, self.kind, self.name)
    }

    fn summary(&self) -> DiffWorkload {
        DiffWorkload {
            workload: self.key(),
            namespace: self.namespace.clone(),
            kind: self.kind.clone(),
            name: self.name.clone(),
            level: self.level.clone(),
            risk: risk_from(self.worst_risk),
        }
    }
}

async fn rows(
    pool: &SqlitePool,
    snapshot: i64,
    scope: Option<&[String]>,
) -> Result<BTreeMap<String, Row>, sqlx::Error> {
    let mut q = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
        "SELECT id, namespace, kind, name, template, level, worst_risk FROM workloads
         WHERE snapshot_id = ",
    );
    q.push_bind(snapshot);
    super::push_scope(&mut q, "namespace", scope);
    let rows: Vec<Row> = q.build_query_as().fetch_all(pool).await?;
    Ok(rows.into_iter().map(|r| (r.key(), r)).collect())
}

/// A workload's containers: name and cells, in order.
async fn containers(
    pool: &SqlitePool,
    workload: i64,
) -> Result<Vec<(String, Vec<Cell>)>, sqlx::Error> {
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT name, cells FROM containers WHERE workload_id = ? ORDER BY position",
    )
    .bind(workload)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(name, cells)| (name, serde_json::from_str(&cells).unwrap_or_default()))
        .collect())
}

/// Compares snapshot `from` with snapshot `to`. `verdicts` gives the Pod
/// Security evaluations of a pod template, lowest level first (the policy core
/// decides; this only compares).
pub async fn between(
    pool: &SqlitePool,
    from: Snapshot,
    to: Snapshot,
    verdicts: impl Fn(&PodTemplate) -> Vec<Evaluation>,
) -> Result<SnapshotDiff, sqlx::Error> {
    between_in(pool, from, to, verdicts, None).await
}

/// [`between`] over the workloads of the namespaces in `scope` only (`None`:
/// all): every list and count of the answer is of those.
pub async fn between_in(
    pool: &SqlitePool,
    from: Snapshot,
    to: Snapshot,
    verdicts: impl Fn(&PodTemplate) -> Vec<Evaluation>,
    scope: Option<&[String]>,
) -> Result<SnapshotDiff, sqlx::Error> {
    let before = rows(pool, from.id, scope).await?;
    let after = rows(pool, to.id, scope).await?;
    let mut diff = SnapshotDiff {
        from,
        to,
        added: after
            .iter()
            .filter(|(k, _)| !before.contains_key(*k))
            .map(|(_, r)| r.summary())
            .collect(),
        removed: before
            .iter()
            .filter(|(k, _)| !after.contains_key(*k))
            .map(|(_, r)| r.summary())
            .collect(),
        changed: 0,
        unchanged: 0,
        levels: Vec::new(),
        appeared: Vec::new(),
        fixed: Vec::new(),
    };
    for (key, a) in &before {
        let Some(b) = after.get(key) else { continue };
        if a.template == b.template {
            diff.unchanged += 1;
            continue;
        }
        diff.changed += 1;
        if a.level != b.level {
            diff.levels.push(LevelChange {
                workload: key.clone(),
                before: a.level.clone(),
                after: b.level.clone(),
            });
        }
        let (ca, cb) = (containers(pool, a.id).await?, containers(pool, b.id).await?);
        compare_settings(key, &ca, &cb, &mut diff);
        compare_pod_security(
            key,
            &verdicts(&decode_template(&a.template)),
            &verdicts(&decode_template(&b.template)),
            &mut diff,
        );
    }
    Ok(diff)
}

fn compare_settings(
    workload: &str,
    before: &[(String, Vec<Cell>)],
    after: &[(String, Vec<Cell>)],
    diff: &mut SnapshotDiff,
) {
    let find = |side: &[(String, Vec<Cell>)], name: &str, control: Control| -> Option<Cell> {
        side.iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, cells)| cells.iter().find(|c| c.control == control).cloned())
    };
    // Containers in the order of the newer snapshot, then those that are gone.
    let mut names: Vec<&str> = after.iter().map(|(n, _)| n.as_str()).collect();
    for (n, _) in before {
        if !names.contains(&n.as_str()) {
            names.push(n);
        }
    }
    for name in names {
        for control in Control::ALL {
            let (was, now) = (find(before, name, control), find(after, name, control));
            let rb = was.as_ref().map_or(Risk::Safe, |c| c.risk);
            let ra = now.as_ref().map_or(Risk::Safe, |c| c.risk);
            if ra == rb {
                continue;
            }
            let worse = ra > rb;
            let wrong = if worse { &now } else { &was };
            let finding = Finding {
                workload: workload.to_owned(),
                container: Some(name.to_owned()),
                control,
                source: FindingSource::Setting,
                level: None,
                check: None,
                risk_before: was.as_ref().map(|c| c.risk),
                risk_after: now.as_ref().map(|c| c.risk),
                before: was.as_ref().map(|c| c.value.clone()),
                after: now.as_ref().map(|c| c.value.clone()),
                message: wrong.as_ref().map(|c| c.value.clone()).unwrap_or_default(),
                field: wrong.as_ref().map(|c| c.field.clone()),
            };
            if worse {
                diff.appeared.push(finding);
            } else {
                diff.fixed.push(finding);
            }
        }
    }
}

/// (check, container) → (level, control, text), lowest level first.
type Failing = BTreeMap<(&'static str, Option<String>), (&'static str, Control, String)>;

fn failing(evaluations: &[Evaluation]) -> Failing {
    let mut out = Failing::new();
    for e in evaluations {
        for v in &e.violations {
            let containers: Vec<Option<String>> = if v.containers.is_empty() {
                vec![None]
            } else {
                v.containers.iter().cloned().map(Some).collect()
            };
            for c in containers {
                out.entry((v.check, c))
                    .or_insert_with(|| (e.profile.level.as_str(), v.control, v.text()));
            }
        }
    }
    out
}

fn compare_pod_security(
    workload: &str,
    before: &[Evaluation],
    after: &[Evaluation],
    diff: &mut SnapshotDiff,
) {
    let (was, now) = (failing(before), failing(after));
    let keys: BTreeSet<&(&'static str, Option<String>)> = was.keys().chain(now.keys()).collect();
    for key in keys {
        let (into, (level, control, text)) = match (was.get(key), now.get(key)) {
            (None, Some(v)) => (&mut diff.appeared, v),
            (Some(v), None) => (&mut diff.fixed, v),
            _ => continue,
        };
        into.push(Finding {
            workload: workload.to_owned(),
            container: key.1.clone(),
            control: *control,
            source: FindingSource::PodSecurity,
            level: Some(level),
            check: Some(key.0),
            risk_before: None,
            risk_after: None,
            before: None,
            after: None,
            message: text.clone(),
            field: None,
        });
    }
}
