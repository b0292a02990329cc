//! Assignments, exemptions and their audit log (`0030_assignments.sql`).
//! Every change is one transaction that writes the row and its audit entry.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sqlx::{Sqlite, SqlitePool, Transaction};

use crate::model::Control;
use crate::policy::assignments::{Assignment, Exemption, Mode, Rules};
use crate::policy::profiles::ProfileRef;

#[derive(sqlx::FromRow)]
struct AssignmentRow {
    id: i64,
    cluster: String,
    target: String,
    mode: String,
    profile: String,
    created_by: String,
    created_at: i64,
}

impl From<AssignmentRow> for Assignment {
    fn from(r: AssignmentRow) -> Self {
        Assignment {
            id: r.id,
            cluster: r.cluster,
            target: r.target,
            // The CHECK constraint keeps the column to the three modes.
            mode: Mode::parse(&r.mode).unwrap_or(Mode::Enforce),
            profile: r.profile,
            created_by: r.created_by,
            created_at: r.created_at,
        }
    }
}

#[derive(sqlx::FromRow)]
struct ExemptionRow {
    id: i64,
    cluster: String,
    workload: String,
    container: Option<String>,
    control: Option<String>,
    reason: String,
    owner: String,
    expires_at: i64,
    created_by: String,
    created_at: i64,
}

impl From<ExemptionRow> for Exemption {
    fn from(r: ExemptionRow) -> Self {
        Exemption {
            id: r.id,
            cluster: r.cluster,
            workload: r.workload,
            container: r.container,
            control: r.control.as_deref().and_then(Control::from_slug),
            reason: r.reason,
            owner: r.owner,
            expires_at: r.expires_at,
            created_by: r.created_by,
            created_at: r.created_at,
        }
    }
}

/// One entry of the audit log.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntry {
    pub id: i64,
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub cluster: String,
    pub subject: String,
    #[sqlx(json(nullable))]
    pub before: Option<Value>,
    #[sqlx(json(nullable))]
    pub after: Option<Value>,
    pub undo_of: Option<i64>,
    pub undone_by: Option<i64>,
}

/// Why a change cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum ChangeError {
    #[error("there is no audit entry {0}")]
    NoEntry(i64),
    #[error("audit entry {0} was already undone")]
    AlreadyUndone(i64),
    #[error("{0} changed after audit entry {1}; undo the later change first so nothing is lost")]
    Changed(String, i64),
    #[error("there is no exemption {0}")]
    NoExemption(i64),
    #[error("audit entry {0} ({1}) cannot be undone from the log")]
    NotUndoable(i64, String),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

// ---------------------------------------------------------------------------------------------
// Reading

macro_rules! select_exemptions {
    ($rest:literal) => {
        concat!(
            "SELECT id, cluster, workload, container, control, reason, owner, expires_at,
                    created_by, created_at FROM exemptions ",
            $rest
        )
    };
}

/// Every assignment, by cluster, target and mode.
pub async fn list(pool: &SqlitePool) -> Result<Vec<Assignment>, sqlx::Error> {
    let rows: Vec<AssignmentRow> = sqlx::query_as(
        "SELECT id, cluster, target, mode, profile, created_by, created_at FROM assignments
         ORDER BY cluster, target, CASE mode WHEN 'enforce' THEN 0 WHEN 'warn' THEN 1 ELSE 2 END",
    )
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(Assignment::from).collect())
}

/// Every exemption, expired ones included (they are listed as such).
pub async fn exemptions(pool: &SqlitePool) -> Result<Vec<Exemption>, sqlx::Error> {
    let rows: Vec<ExemptionRow> =
        sqlx::query_as(select_exemptions!("ORDER BY cluster, workload, id"))
            .fetch_all(pool)
            .await?;
    Ok(rows.into_iter().map(Exemption::from).collect())
}

/// The audit log, newest first.
pub async fn audit_log(
    pool: &SqlitePool,
    limit: i64,
    offset: i64,
) -> Result<Vec<AuditEntry>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, at, actor, action, cluster, subject, before, after, undo_of, undone_by
         FROM audit_log ORDER BY id DESC LIMIT ? OFFSET ?",
    )
    .bind(limit)
    .bind(offset)
    .fetch_all(pool)
    .await
}

/// One entry of the audit log.
pub async fn audit_entry(pool: &SqlitePool, id: i64) -> Result<Option<AuditEntry>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, at, actor, action, cluster, subject, before, after, undo_of, undone_by
         FROM audit_log WHERE id = ?",
    )
    .bind(id)
    .fetch_optional(pool)
    .await
}

pub async fn audit_count(pool: &SqlitePool) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT COUNT(*) FROM audit_log")
        .fetch_one(pool)
        .await
}

/// The rules in force: assignments with their profiles resolved (custom ones
/// from the `profiles` table) and the exemptions.
pub async fn load_rules(pool: &SqlitePool, generation: u64) -> Result<Rules, sqlx::Error> {
    let assignments = list(pool).await?;
    let exemptions = exemptions(pool).await?;
    let custom = crate::store::profiles::list(pool).await?;
    Ok(Rules::new(generation, assignments, exemptions, |name| {
        ProfileRef::parse(name)
            .and_then(|r| {
                r.resolve(|n| {
                    custom
                        .iter()
                        .find(|p| p.profile.name == n)
                        .map(|p| p.profile.clone())
                })
            })
            .map_err(|e| e.to_string())
    }))
}

// ---------------------------------------------------------------------------------------------
// Assignments

fn assignment_json(profile: &str, mode: Mode) -> Value {
    json!({ "profile": profile, "mode": mode.as_str() })
}

async fn current_assignment(
    tx: &mut Transaction<'_, Sqlite>,
    cluster: &str,
    target: &str,
    mode: Mode,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT profile FROM assignments WHERE cluster = ? AND target = ? AND mode = ?",
    )
    .bind(cluster)
    .bind(target)
    .bind(mode.as_str())
    .fetch_optional(&mut **tx)
    .await
}

/// Sets `profile` in `mode` on `target` (replacing what was there) and logs
/// it. Setting what is already set logs nothing and returns `None`.
#[allow(clippy::too_many_arguments)]
pub async fn assign(
    pool: &SqlitePool,
    cluster: &str,
    target: &str,
    mode: Mode,
    profile: &str,
    actor: &str,
    now: i64,
) -> Result<Option<AuditEntry>, sqlx::Error> {
    let mut tx = crate::store::write_tx(pool).await?;
    let before = current_assignment(&mut tx, cluster, target, mode).await?;
    if before.as_deref() == Some(profile) {
        return Ok(None);
    }
    write_assignment(&mut tx, cluster, target, mode, Some(profile), actor, now).await?;
    let entry = log(
        &mut tx,
        Log {
            at: now,
            actor,
            action: "assign",
            cluster,
            subject: target,
            before: before.map(|p| assignment_json(&p, mode)),
            after: Some(assignment_json(profile, mode)),
            undo_of: None,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(Some(entry))
}

/// Removes the assignment of `target` in `mode`; `None` when there was none.
pub async fn unassign(
    pool: &SqlitePool,
    cluster: &str,
    target: &str,
    mode: Mode,
    actor: &str,
    now: i64,
) -> Result<Option<AuditEntry>, sqlx::Error> {
    let mut tx = crate::store::write_tx(pool).await?;
    let Some(before) = current_assignment(&mut tx, cluster, target, mode).await? else {
        return Ok(None);
    };
    write_assignment(&mut tx, cluster, target, mode, None, actor, now).await?;
    let entry = log(
        &mut tx,
        Log {
            at: now,
            actor,
            action: "unassign",
            cluster,
            subject: target,
            before: Some(assignment_json(&before, mode)),
            after: None,
            undo_of: None,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(Some(entry))
}

async fn write_assignment(
    tx: &mut Transaction<'_, Sqlite>,
    cluster: &str,
    target: &str,
    mode: Mode,
    profile: Option<&str>,
    actor: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    match profile {
        Some(p) => {
            sqlx::query(
                "INSERT INTO assignments (cluster, target, mode, profile, created_by, created_at)
                 VALUES (?, ?, ?, ?, ?, ?)
                 ON CONFLICT (cluster, target, mode) DO UPDATE SET
                   profile = excluded.profile, created_by = excluded.created_by,
                   created_at = excluded.created_at",
            )
            .bind(cluster)
            .bind(target)
            .bind(mode.as_str())
            .bind(p)
            .bind(actor)
            .bind(now)
            .execute(&mut **tx)
            .await?;
        }
        None => {
            sqlx::query("DELETE FROM assignments WHERE cluster = ? AND target = ? AND mode = ?")
                .bind(cluster)
                .bind(target)
                .bind(mode.as_str())
                .execute(&mut **tx)
                .await?;
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Exemptions

/// A new exemption, as a user asks for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewExemption {
    pub cluster: String,
    pub workload: String,
    #[serde(default)]
    pub container: Option<String>,
    #[serde(default)]
    pub control: Option<Control>,
    pub reason: String,
    pub owner: String,
    pub expires_at: i64,
}

fn exemption_json(e: &Exemption) -> Value {
    serde_json::to_value(e).unwrap_or(Value::Null)
}

async fn insert_exemption(
    tx: &mut Transaction<'_, Sqlite>,
    id: Option<i64>,
    e: &NewExemption,
    actor: &str,
    now: i64,
) -> Result<Exemption, sqlx::Error> {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO exemptions
           (id, cluster, workload, container, control, reason, owner, expires_at, created_by, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
    )
    .bind(id)
    .bind(&e.cluster)
    .bind(&e.workload)
    .bind(&e.container)
    .bind(e.control.map(Control::slug))
    .bind(&e.reason)
    .bind(&e.owner)
    .bind(e.expires_at)
    .bind(actor)
    .bind(now)
    .fetch_one(&mut **tx)
    .await?;
    Ok(Exemption {
        id,
        cluster: e.cluster.clone(),
        workload: e.workload.clone(),
        container: e.container.clone(),
        control: e.control,
        reason: e.reason.clone(),
        owner: e.owner.clone(),
        expires_at: e.expires_at,
        created_by: actor.to_owned(),
        created_at: now,
    })
}

/// Stores an exemption and logs it.
pub async fn exempt(
    pool: &SqlitePool,
    e: &NewExemption,
    actor: &str,
    now: i64,
) -> Result<(Exemption, AuditEntry), sqlx::Error> {
    let mut tx = crate::store::write_tx(pool).await?;
    let stored = insert_exemption(&mut tx, None, e, actor, now).await?;
    let entry = log(
        &mut tx,
        Log {
            at: now,
            actor,
            action: "exempt",
            cluster: &e.cluster,
            subject: &exemption_subject(&stored),
            before: None,
            after: Some(exemption_json(&stored)),
            undo_of: None,
        },
    )
    .await?;
    tx.commit().await?;
    Ok((stored, entry))
}

fn exemption_subject(e: &Exemption) -> String {
    format!("exemption {} of workload/{}", e.id, e.workload)
}

async fn get_exemption(
    tx: &mut Transaction<'_, Sqlite>,
    id: i64,
) -> Result<Option<Exemption>, sqlx::Error> {
    let row: Option<ExemptionRow> = sqlx::query_as(select_exemptions!("WHERE id = ?"))
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?;
    Ok(row.map(Exemption::from))
}

/// Deletes exemption `id` and logs it.
pub async fn unexempt(
    pool: &SqlitePool,
    id: i64,
    actor: &str,
    now: i64,
) -> Result<AuditEntry, ChangeError> {
    let mut tx = crate::store::write_tx(pool).await?;
    let Some(e) = get_exemption(&mut tx, id).await? else {
        return Err(ChangeError::NoExemption(id));
    };
    sqlx::query("DELETE FROM exemptions WHERE id = ?")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    let entry = log(
        &mut tx,
        Log {
            at: now,
            actor,
            action: "unexempt",
            cluster: &e.cluster,
            subject: &exemption_subject(&e),
            before: Some(exemption_json(&e)),
            after: None,
            undo_of: None,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(entry)
}

// ---------------------------------------------------------------------------------------------
// The log and undo

/// One audit entry to write, in the transaction of the change it records.
pub(crate) struct Log<'a> {
    pub at: i64,
    pub actor: &'a str,
    pub action: &'a str,
    pub cluster: &'a str,
    pub subject: &'a str,
    pub before: Option<Value>,
    pub after: Option<Value>,
    pub undo_of: Option<i64>,
}

/// Actions that [`undo`] can put back.
pub const UNDOABLE: [&str; 5] = ["assign", "unassign", "exempt", "unexempt", "undo"];

pub(crate) async fn log(
    tx: &mut Transaction<'_, Sqlite>,
    l: Log<'_>,
) -> Result<AuditEntry, sqlx::Error> {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO audit_log (at, actor, action, cluster, subject, before, after, undo_of)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
    )
    .bind(l.at)
    .bind(l.actor)
    .bind(l.action)
    .bind(l.cluster)
    .bind(l.subject)
    .bind(l.before.as_ref().map(Value::to_string))
    .bind(l.after.as_ref().map(Value::to_string))
    .bind(l.undo_of)
    .fetch_one(&mut **tx)
    .await?;
    if let Some(of) = l.undo_of {
        sqlx::query("UPDATE audit_log SET undone_by = ? WHERE id = ?")
            .bind(id)
            .bind(of)
            .execute(&mut **tx)
            .await?;
    }
    Ok(AuditEntry {
        id,
        at: l.at,
        actor: l.actor.to_owned(),
        action: l.action.to_owned(),
        cluster: l.cluster.to_owned(),
        subject: l.subject.to_owned(),
        before: l.before,
        after: l.after,
        undo_of: l.undo_of,
        undone_by: None,
    })
}

/// Records a cluster-wide change made elsewhere (profiles, notification
/// routes, flows) in the audit log, right after it was made.
pub async fn record(
    pool: &SqlitePool,
    actor: &str,
    action: &str,
    subject: &str,
    after: Option<Value>,
) -> Result<(), sqlx::Error> {
    let mut tx = crate::store::write_tx(pool).await?;
    log(
        &mut tx,
        Log {
            at: crate::now_ms(),
            actor,
            action,
            cluster: "",
            subject,
            before: None,
            after,
            undo_of: None,
        },
    )
    .await?;
    tx.commit().await
}

/// Puts back what audit entry `id` changed, if nothing changed it since, and
/// logs the undo (which can itself be undone).
pub async fn undo(
    pool: &SqlitePool,
    id: i64,
    actor: &str,
    now: i64,
) -> Result<AuditEntry, ChangeError> {
    let mut tx = crate::store::write_tx(pool).await?;
    let entry: Option<AuditEntry> = sqlx::query_as(
        "SELECT id, at, actor, action, cluster, subject, before, after, undo_of, undone_by
         FROM audit_log WHERE id = ?",
    )
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(entry) = entry else {
        return Err(ChangeError::NoEntry(id));
    };
    if !UNDOABLE.contains(&entry.action.as_str()) {
        return Err(ChangeError::NotUndoable(id, entry.action.clone()));
    }
    if entry.undone_by.is_some() {
        return Err(ChangeError::AlreadyUndone(id));
    }
    let changed = || ChangeError::Changed(entry.subject.clone(), id);
    if entry.subject.starts_with("exemption ") {
        // Exemptions are created and deleted, never edited.
        let exemption = |v: &Option<Value>| -> Option<Exemption> {
            let v = v.as_ref()?;
            Some(Exemption {
                id: v.get("id")?.as_i64()?,
                cluster: v.get("cluster")?.as_str()?.to_owned(),
                workload: v.get("workload")?.as_str()?.to_owned(),
                container: v
                    .get("container")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                control: v
                    .get("control")
                    .and_then(|c| serde_json::from_value(c.clone()).ok()),
                reason: v.get("reason")?.as_str()?.to_owned(),
                owner: v.get("owner")?.as_str()?.to_owned(),
                expires_at: v.get("expiresAt")?.as_i64()?,
                created_by: v.get("createdBy")?.as_str()?.to_owned(),
                created_at: v.get("createdAt")?.as_i64()?,
            })
        };
        match (exemption(&entry.before), exemption(&entry.after)) {
            (None, Some(after)) => {
                let gone = sqlx::query("DELETE FROM exemptions WHERE id = ?")
                    .bind(after.id)
                    .execute(&mut *tx)
                    .await?;
                if gone.rows_affected() == 0 {
                    return Err(changed());
                }
            }
            (Some(before), None) => {
                if get_exemption(&mut tx, before.id).await?.is_some() {
                    return Err(changed());
                }
                let new = NewExemption {
                    cluster: before.cluster.clone(),
                    workload: before.workload.clone(),
                    container: before.container.clone(),
                    control: before.control,
                    reason: before.reason.clone(),
                    owner: before.owner.clone(),
                    expires_at: before.expires_at,
                };
                insert_exemption(
                    &mut tx,
                    Some(before.id),
                    &new,
                    &before.created_by,
                    before.created_at,
                )
                .await?;
            }
            _ => return Err(changed()),
        }
    } else {
        let mode_of = |v: &Option<Value>| {
            v.as_ref()
                .and_then(|v| v.get("mode"))
                .and_then(Value::as_str)
                .and_then(Mode::parse)
        };
        let profile_of = |v: &Option<Value>| {
            v.as_ref()
                .and_then(|v| v.get("profile"))
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        let Some(mode) = mode_of(&entry.after).or_else(|| mode_of(&entry.before)) else {
            return Err(changed());
        };
        let now_there = current_assignment(&mut tx, &entry.cluster, &entry.subject, mode).await?;
        if now_there != profile_of(&entry.after) {
            return Err(changed());
        }
        write_assignment(
            &mut tx,
            &entry.cluster,
            &entry.subject,
            mode,
            profile_of(&entry.before).as_deref(),
            actor,
            now,
        )
        .await?;
    }
    let undone = log(
        &mut tx,
        Log {
            at: now,
            actor,
            action: "undo",
            cluster: &entry.cluster,
            subject: &entry.subject,
            before: entry.after.clone(),
            after: entry.before.clone(),
            undo_of: Some(id),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(undone)
}
