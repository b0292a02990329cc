//! Assignments, exemptions and the audit log: the JSON API under `/api/v1`,
//! the confirm step every "Assign…" form goes through (`GET /assign` shows
//! the what-if impact of exactly that change, `POST /assign` applies it), the
//! Settings page, exemption forms and Undo.
//!
//! Every committed change reloads the rules in memory at once, so pages, the
//! advisor and the admission webhook see it without a new snapshot.

use std::sync::Arc;

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::advisor::{
    ApiJson, AssignRequest, ChangeRequest, FieldError, ImpactPanel, WhatIfRequest, advisor_for,
    custom_profiles, to_changes,
};
use super::{Nav, chosen_snapshot, filled};
use crate::AppState;
use crate::advisor::{Advisor, Impact};
use crate::auth::Principal;
use crate::model::Control;
use crate::policy::assignments::{AssignTarget, Assignment, Exemption, Mode, Rules};
use crate::store;
use crate::store::assignments::{AuditEntry, ChangeError, NewExemption};
use crate::store::snapshots::Snapshot;
use crate::web::{ApiError, AppError};

/// Routes under `/api/v1`.
pub fn api() -> Router<AppState> {
    Router::new()
        .route(
            "/assignments",
            get(list_assignments)
                .post(create_assignment)
                .delete(delete_assignment_by_target),
        )
        .route("/assignments/{id}", delete(delete_assignment))
        .route("/exemptions", get(list_exemptions).post(create_exemption))
        .route("/exemptions/{id}", delete(delete_exemption))
        .route("/audit", get(audit))
        .route("/audit/{id}/undo", post(undo_api))
}

/// Pages and forms.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/assign", get(confirm).post(apply))
        .route("/settings", get(settings))
        .route("/exemptions", post(exempt_form))
        .route("/exemptions/{id}/delete", post(unexempt_form))
        .route("/audit/{id}/undo", post(undo_form))
}

// ---------------------------------------------------------------------------------------------
// Shared: the snapshot a change is checked against, and the check itself

/// A change rejected: a field that is wrong, or anything else.
enum Rejected {
    Field(FieldError),
    App(AppError),
}

impl From<FieldError> for Rejected {
    fn from(e: FieldError) -> Self {
        Rejected::Field(e)
    }
}

impl From<AppError> for Rejected {
    fn from(e: AppError) -> Self {
        Rejected::App(e)
    }
}

impl From<sqlx::Error> for Rejected {
    fn from(e: sqlx::Error) -> Self {
        Rejected::App(e.into())
    }
}

impl IntoResponse for Rejected {
    fn into_response(self) -> Response {
        match self {
            Rejected::Field(e) => e.into_response(),
            Rejected::App(e) => ApiError(e).into_response(),
        }
    }
}

impl Rejected {
    /// In words, for pages.
    fn message(&self) -> String {
        match self {
            Rejected::Field(e) => e.message.clone(),
            Rejected::App(
                AppError::NotFound(m) | AppError::BadRequest(m) | AppError::Forbidden(m),
            ) => m.clone(),
            Rejected::App(_) => {
                "Something went wrong on the server; the log has the details.".to_owned()
            }
        }
    }
}

fn unprocessable(field: &str, message: impl Into<String>) -> Rejected {
    Rejected::Field(FieldError::unprocessable(field, message))
}

/// Reads a JSON body's shape, naming the field that is wrong.
fn parse_body<T: DeserializeOwned>(body: Value) -> Result<T, FieldError> {
    serde_path_to_error::deserialize(body).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        let field = if path == "." { String::new() } else { path };
        let message = if field.is_empty() {
            inner
        } else {
            format!("{field}: {inner}")
        };
        FieldError::unprocessable(field, message)
    })
}

/// The snapshot a change is checked against: `?snapshot=`, else the newest
/// of `?cluster=` or of the body's `cluster`, else the newest of all. A
/// `cluster` that is not the chosen snapshot's is an error.
async fn snapshot_for(
    state: &AppState,
    snapshot: Option<i64>,
    query_cluster: Option<&str>,
    cluster: Option<&str>,
) -> Result<Snapshot, Rejected> {
    let mut id = super::resolve(&state.pool, snapshot, query_cluster).await?;
    if id.is_none()
        && let Some(c) = cluster
    {
        match store::snapshots::latest_of(&state.pool, c).await? {
            Some(s) => id = Some(s.id),
            None => {
                return Err(unprocessable(
                    "cluster",
                    format!("cluster: there is no snapshot of cluster {c:?}"),
                ));
            }
        }
    }
    let Some(s) = chosen_snapshot(&state.pool, id).await? else {
        return Err(Rejected::App(AppError::NotFound(
            "No snapshot has been taken yet: there is nothing to check the change against.".into(),
        )));
    };
    if let Some(c) = cluster
        && c != s.cluster
    {
        return Err(unprocessable(
            "cluster",
            format!(
                "cluster: snapshot {} is of cluster {:?}, not {c:?}",
                s.id, s.cluster
            ),
        ));
    }
    Ok(s)
}

/// A checked assignment: its target in canonical form, and the impact of
/// exactly that change (none when it removes an assignment).
struct Checked {
    snapshot: Snapshot,
    advisor: Arc<Advisor>,
    target: String,
    impact: Option<Impact>,
}

/// `profile: None` removes the assignment.
async fn check_assignment(
    state: &AppState,
    snapshot: Snapshot,
    target: &str,
    profile: Option<&str>,
    mode: Mode,
    with_impact: bool,
) -> Result<Checked, Rejected> {
    let advisor = advisor_for(state, &snapshot).await?;
    let parsed =
        AssignTarget::parse(target).map_err(|e| unprocessable("target", format!("target: {e}")))?;
    let canonical = parsed.to_string();
    // The same checks as the what-if: the target exists in the snapshot and
    // the profile resolves.
    let req = WhatIfRequest {
        changes: vec![ChangeRequest {
            assign: Some(AssignRequest {
                target: canonical.clone(),
                profile: profile.unwrap_or("privileged").to_owned(),
                mode,
            }),
            network_policy: None,
            adjust: None,
        }],
    };
    let custom = custom_profiles(&state.pool, &req).await?;
    let changes = to_changes(&advisor, &req, &custom).map_err(|e| {
        let prefix = "changes[0].assign.";
        let field = e.field.strip_prefix(prefix).unwrap_or(&e.field).to_owned();
        let message = e
            .message
            .strip_prefix(prefix)
            .unwrap_or(&e.message)
            .to_owned();
        Rejected::Field(FieldError {
            status: e.status,
            field,
            message,
        })
    })?;
    let impact = match (profile, changes.first()) {
        (_, _) if !with_impact => None,
        (Some(_), _) => Some(advisor.what_if(&changes)),
        (None, Some(crate::advisor::Change::Assign { target, .. })) => {
            Some(advisor.what_if(&[crate::advisor::Change::Unassign {
                target: target.clone(),
                mode,
            }]))
        }
        (None, _) => None,
    };
    Ok(Checked {
        snapshot,
        advisor,
        target: canonical,
        impact,
    })
}

fn assignment_json(a: &Assignment, rules: &Rules) -> Value {
    let mut v = serde_json::to_value(a).unwrap_or(Value::Null);
    let error = rules
        .unresolved
        .iter()
        .find(|(u, _)| u.id == a.id)
        .map(|(_, e)| e.clone());
    v["resolved"] = json!(error.is_none());
    if let Some(e) = error {
        v["error"] = json!(e);
    }
    v
}

fn exemption_json(e: &Exemption, now: i64) -> Value {
    let mut v = serde_json::to_value(e).unwrap_or(Value::Null);
    v["active"] = json!(e.active(now));
    v
}

fn audit_json(e: &AuditEntry) -> Value {
    let mut v = serde_json::to_value(e).unwrap_or(Value::Null);
    v["summary"] = json!(describe(e));
    v
}

fn db_error(e: ChangeError) -> Rejected {
    match e {
        ChangeError::NoEntry(_) | ChangeError::NoExemption(_) => {
            Rejected::App(AppError::NotFound(e.to_string()))
        }
        ChangeError::AlreadyUndone(_) | ChangeError::Changed(..) | ChangeError::NotUndoable(..) => {
            Rejected::Field(FieldError {
                status: StatusCode::CONFLICT,
                field: String::new(),
                message: e.to_string(),
            })
        }
        ChangeError::Db(e) => Rejected::App(e.into()),
    }
}

// ---------------------------------------------------------------------------------------------
// Words

/// `namespace shop`, `workload shop/Deployment/cart`, `the cluster default`.
pub fn subject_words(subject: &str) -> String {
    if subject == "cluster" {
        return "the cluster default".to_owned();
    }
    if let Some(ns) = subject.strip_prefix("namespace/") {
        return format!("namespace {ns}");
    }
    if let Some(w) = subject.strip_prefix("workload/") {
        return format!("workload {w}");
    }
    subject.to_owned()
}

fn side_words(v: &Option<Value>) -> String {
    let Some(v) = v else {
        return "nothing".to_owned();
    };
    if let (Some(p), Some(m)) = (
        v.get("profile").and_then(Value::as_str),
        v.get("mode").and_then(Value::as_str),
    ) {
        return format!("{p} ({m})");
    }
    if let Some(w) = v.get("workload").and_then(Value::as_str) {
        let until = v
            .get("expiresAt")
            .and_then(Value::as_i64)
            .map(until_words)
            .unwrap_or_default();
        let scope = match (
            v.get("container").and_then(Value::as_str),
            v.get("control")
                .and_then(Value::as_str)
                .and_then(Control::from_slug),
        ) {
            (None, None) => "every container and control".to_owned(),
            (Some(c), None) => format!("container {c}"),
            (None, Some(k)) => k.title().to_owned(),
            (Some(c), Some(k)) => format!("{} in container {c}", k.title()),
        };
        return format!("exemption of {w} ({scope}) until {until}");
    }
    "something".to_owned()
}

/// An audit entry in one sentence.
pub fn describe(e: &AuditEntry) -> String {
    let subject = subject_words(&e.subject);
    match e.action.as_str() {
        "assign" => {
            let mut s = format!("Assigned {} to {subject}", side_words(&e.after));
            if e.before.is_some() {
                s.push_str(&format!(", replacing {}", side_words(&e.before)));
            }
            s
        }
        "unassign" => format!("Removed {} from {subject}", side_words(&e.before)),
        "exempt" => format!("Added an {}", side_words(&e.after)),
        "unexempt" => format!("Deleted the {}", side_words(&e.before)),
        "undo" => format!(
            "Undid change #{}: {subject} back to {}",
            e.undo_of.unwrap_or_default(),
            side_words(&e.after)
        ),
        "user-add" => format!("Added user {}", e.subject),
        "user-change" => format!("Changed user {}", e.subject),
        "user-remove" => format!("Removed user {}", e.subject),
        "token-add" => format!("Created API {}", e.subject),
        "token-revoke" => format!("Revoked API {}", e.subject),
        "acknowledge" => format!("Acknowledged {}", e.subject),
        "snapshot" => format!("Asked for a snapshot of {}", e.subject),
        "profile-create" => format!("Created profile {}", e.subject),
        "profile-change" => format!("Changed profile {}", e.subject),
        "profile-delete" => format!("Deleted profile {}", e.subject),
        "profile-import" => format!("Imported PodSecurityPolicies as {}", e.subject),
        "route-add" => format!("Added notification route {}", e.subject),
        "route-delete" => format!("Deleted notification {}", e.subject),
        "flows-import" => format!("Imported observed {}", e.subject),
        other => format!("{other} {}", e.subject),
    }
}

/// The last day an exemption applies (`2027-01-31`) when it ends at
/// midnight UTC, the exact time otherwise.
pub fn until_words(expires_at: i64) -> String {
    match jiff::Timestamp::from_millisecond(expires_at) {
        Ok(ts) => {
            let z = ts.to_zoned(jiff::tz::TimeZone::UTC);
            if z.hour() == 0 && z.minute() == 0 && z.second() == 0 && z.subsec_nanosecond() == 0 {
                match z.date().yesterday() {
                    Ok(d) => d.to_string(),
                    Err(_) => crate::format_time(expires_at),
                }
            } else {
                crate::format_time(expires_at)
            }
        }
        Err(_) => expires_at.to_string(),
    }
}

/// `2027-01-31` (through the end of that day, UTC) or an RFC 3339 time.
pub fn parse_expiry(s: &str) -> Result<i64, String> {
    let s = s.trim();
    // A time first: jiff reads the date out of a whole timestamp too.
    if let Ok(t) = s.parse::<jiff::Timestamp>() {
        return Ok(t.as_millisecond());
    }
    match s.parse::<jiff::civil::Date>() {
        Ok(d) if s.len() == 10 => d
            .tomorrow()
            .and_then(|d| d.to_zoned(jiff::tz::TimeZone::UTC))
            .map(|z| z.timestamp().as_millisecond())
            .map_err(|e| e.to_string()),
        _ => Err(format!(
            "{s:?} is neither a date (2027-01-31) nor an RFC 3339 time"
        )),
    }
}

/// Why an audit entry cannot be undone now, if it cannot.
fn undo_blocker(e: &AuditEntry, rules: &Rules) -> Option<String> {
    if !store::assignments::UNDOABLE.contains(&e.action.as_str()) {
        return Some(format!("{} is not undone from the log", e.action));
    }
    if e.undone_by.is_some() {
        return Some(format!(
            "already undone by change #{}",
            e.undone_by.unwrap_or_default()
        ));
    }
    let changed = || {
        Some(format!(
            "{} changed since; undo the later change first",
            subject_words(&e.subject)
        ))
    };
    if e.subject.starts_with("exemption ") {
        let id_of =
            |v: &Option<Value>| v.as_ref().and_then(|v| v.get("id")).and_then(Value::as_i64);
        let exists = |id: i64| rules.exemptions.iter().any(|x| x.id == id);
        return match (id_of(&e.before), id_of(&e.after)) {
            (None, Some(id)) if exists(id) => None,
            (Some(id), None) if !exists(id) => None,
            _ => changed(),
        };
    }
    let get = |v: &Option<Value>, k: &str| {
        v.as_ref()
            .and_then(|v| v.get(k))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let mode = get(&e.after, "mode")
        .or_else(|| get(&e.before, "mode"))
        .and_then(|m| Mode::parse(&m))?;
    let now = rules
        .assignment(&e.cluster, &e.subject, mode)
        .map(|a| a.profile.clone());
    if now != get(&e.after, "profile") {
        return changed();
    }
    None
}

// ---------------------------------------------------------------------------------------------
// JSON: assignments

#[derive(Debug, Default, Deserialize)]
struct AssignmentFilter {
    cluster: Option<String>,
    target: Option<String>,
    mode: Option<String>,
}

async fn list_assignments(
    State(state): State<AppState>,
    p: Principal,
    Query(f): Query<AssignmentFilter>,
) -> Result<Json<Value>, Rejected> {
    let mode = match filled(&f.mode) {
        None => None,
        Some(m) => Some(Mode::parse(m).ok_or_else(|| {
            unprocessable(
                "mode",
                format!("mode must be enforce, warn or audit, not {m:?}"),
            )
        })?),
    };
    let rules = state.rules.get();
    let list: Vec<Value> = rules
        .assignments
        .iter()
        .filter(|a| filled(&f.cluster).is_none_or(|c| a.cluster == c))
        .filter(|a| filled(&f.target).is_none_or(|t| a.target == t))
        .filter(|a| mode.is_none_or(|m| a.mode == m))
        .filter(|a| visible(&p, &a.target))
        .map(|a| assignment_json(a, &rules))
        .collect();
    Ok(Json(json!({ "total": list.len(), "assignments": list })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AssignBody {
    target: String,
    profile: String,
    mode: Mode,
    #[serde(default)]
    cluster: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct ChangeQuery {
    snapshot: Option<i64>,
    cluster: Option<String>,
}

async fn create_assignment(
    State(state): State<AppState>,
    p: Principal,
    Query(q): Query<ChangeQuery>,
    ApiJson(body): ApiJson<Value>,
) -> Result<Response, Rejected> {
    let actor = p.user.clone();
    let body: AssignBody = parse_body(body)?;
    let cluster = body
        .cluster
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty());
    let snapshot = snapshot_for(&state, q.snapshot, filled(&q.cluster), cluster).await?;
    let checked = check_assignment(
        &state,
        snapshot,
        &body.target,
        Some(&body.profile),
        body.mode,
        true,
    )
    .await?;
    may(&p, &checked.target)?;
    let cluster = checked.snapshot.cluster.clone();
    let entry = store::assignments::assign(
        &state.pool,
        &cluster,
        &checked.target,
        body.mode,
        body.profile.trim(),
        &actor,
        crate::now_ms(),
    )
    .await?;
    let rules = state.rules.reload(&state.pool).await?;
    let assignment = rules
        .assignment(&cluster, &checked.target, body.mode)
        .map(|a| assignment_json(a, &rules));
    let applied = if entry.is_some() {
        apply_to_cluster(&state, &cluster, &checked.target, body.mode).await
    } else {
        json!({ "result": "skipped", "reason": "nothing changed" })
    };
    let status = if entry.is_some() {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        Json(json!({
            "assignment": assignment,
            "audit": entry.as_ref().map(audit_json),
            "impact": checked.impact,
            "cluster": applied,
        })),
    )
        .into_response())
}

/// The id in a path, or 400 naming what it should have been.
fn parse_id(id: &str, what: &str) -> Result<i64, Rejected> {
    id.parse()
        .map_err(|_| Rejected::App(AppError::BadRequest(format!("{id:?} is not an {what} id"))))
}

/// With `--allow-apply` and a live cluster of that name, writes a standard
/// level's Pod Security labels to the namespace (or removes them), and says
/// what happened, as JSON: `{"result": "patched" | "skipped", …}` or
/// `{"result": "error", "error": "…"}`. The assignment is stored either way.
async fn apply_to_cluster(state: &AppState, cluster: &str, target: &str, mode: Mode) -> Value {
    let Ok(parsed) = crate::policy::assignments::AssignTarget::parse(target) else {
        return json!({ "result": "skipped", "reason": "not a target" });
    };
    let rules = state.rules.get();
    let profile = rules.assigned(cluster, &parsed, mode);
    match crate::apply::apply_assignment(state, cluster, &parsed, mode, profile).await {
        Ok(applied) => serde_json::to_value(&applied).unwrap_or(Value::Null),
        Err(e) => {
            tracing::warn!(%cluster, %target, error = %e, "namespace labels not applied");
            json!({ "result": "error", "error": e.to_string() })
        }
    }
}

async fn delete_assignment(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
) -> Result<Json<Value>, Rejected> {
    let actor = p.user.clone();
    let id = parse_id(&id, "assignment")?;
    let list = store::assignments::list(&state.pool).await?;
    let Some(a) = list.into_iter().find(|a| a.id == id) else {
        return Err(Rejected::App(AppError::NotFound(format!(
            "There is no assignment {id}."
        ))));
    };
    may(&p, &a.target)?;
    remove(&state, &actor, &a.cluster, &a.target, a.mode).await
}

#[derive(Debug, Default, Deserialize)]
struct TargetQuery {
    cluster: Option<String>,
    target: Option<String>,
    mode: Option<String>,
}

async fn delete_assignment_by_target(
    State(state): State<AppState>,
    p: Principal,
    Query(q): Query<TargetQuery>,
) -> Result<Json<Value>, Rejected> {
    let actor = p.user.clone();
    let Some(target) = filled(&q.target) else {
        return Err(unprocessable(
            "target",
            "target: give the target whose assignment to remove",
        ));
    };
    let Some(m) = filled(&q.mode) else {
        return Err(unprocessable("mode", "mode: give enforce, warn or audit"));
    };
    let mode = Mode::parse(m).ok_or_else(|| {
        unprocessable(
            "mode",
            format!("mode must be enforce, warn or audit, not {m:?}"),
        )
    })?;
    let cluster = match filled(&q.cluster) {
        Some(c) => c.to_owned(),
        None => match store::snapshots::latest(&state.pool).await? {
            Some(s) => s.cluster,
            None => {
                return Err(Rejected::App(AppError::NotFound(
                    "No snapshot has been taken yet.".into(),
                )));
            }
        },
    };
    may(
        &p,
        &AssignTarget::parse(target).map_or_else(|_| target.to_owned(), |t| t.to_string()),
    )?;
    remove(&state, &actor, &cluster, target, mode).await
}

async fn remove(
    state: &AppState,
    actor: &str,
    cluster: &str,
    target: &str,
    mode: Mode,
) -> Result<Json<Value>, Rejected> {
    let entry =
        store::assignments::unassign(&state.pool, cluster, target, mode, actor, crate::now_ms())
            .await?;
    let Some(entry) = entry else {
        return Err(Rejected::App(AppError::NotFound(format!(
            "Nothing is assigned to {target} in {mode} mode in cluster {cluster:?}."
        ))));
    };
    state.rules.reload(&state.pool).await?;
    let applied = apply_to_cluster(state, cluster, target, mode).await;
    Ok(Json(
        json!({ "audit": audit_json(&entry), "cluster": applied }),
    ))
}

// ---------------------------------------------------------------------------------------------
// Who may change what

/// The namespace a change is about, from an assignment target
/// (`namespace/<ns>`, `workload/<ns>/<Kind>/<name>`), a workload key
/// (`<ns>/<Kind>/<name>`) or an audit subject (`exemption <id> of <key>`);
/// `None` for anything cluster-wide.
pub fn subject_namespace(subject: &str) -> Option<&str> {
    // `exemption 3 of <key>`, `alert 9 of <key>`: the key.
    let s = subject.rsplit_once(" of ").map_or(subject, |(_, key)| key);
    if let Some(ns) = s.strip_prefix("namespace/") {
        return Some(ns).filter(|ns| !ns.is_empty() && !ns.contains('/'));
    }
    let key = s.strip_prefix("workload/").unwrap_or(s);
    let parts: Vec<&str> = key.split('/').collect();
    (parts.len() == 3 && parts.iter().all(|p| !p.is_empty())).then(|| parts[0])
}

/// Whether the user sees a change to `subject` (cluster-wide ones: only
/// users of every namespace).
pub fn visible(p: &Principal, subject: &str) -> bool {
    match subject_namespace(subject) {
        Some(ns) => p.sees(ns),
        None => !p.scoped(),
    }
}

/// One page of the audit log as `p` may see it, with the total it pages through.
async fn audit_page(
    state: &AppState,
    p: &Principal,
    per_page: i64,
    offset: i64,
) -> Result<(i64, Vec<AuditEntry>), sqlx::Error> {
    if !p.scoped() {
        let total = store::assignments::audit_count(&state.pool).await?;
        return Ok((
            total,
            store::assignments::audit_log(&state.pool, per_page, offset).await?,
        ));
    }
    let all = store::assignments::audit_log(&state.pool, i64::MAX, 0).await?;
    let seen: Vec<AuditEntry> = all.into_iter().filter(|e| visible(p, &e.subject)).collect();
    let total = seen.len() as i64;
    let page = seen
        .into_iter()
        .skip(usize::try_from(offset).unwrap_or(usize::MAX))
        .take(usize::try_from(per_page).unwrap_or(usize::MAX))
        .collect();
    Ok((total, page))
}

/// Refuses a change to `subject` outside the user's namespaces.
fn may(p: &Principal, subject: &str) -> Result<(), AppError> {
    p.may_change(subject_namespace(subject))
}

async fn may_unexempt(state: &AppState, p: &Principal, id: i64) -> Result<(), AppError> {
    if !p.scoped() {
        return Ok(());
    }
    let all = store::assignments::exemptions(&state.pool).await?;
    match all.iter().find(|e| e.id == id) {
        Some(e) => may(p, &e.workload),
        None => Err(AppError::NotFound(format!("There is no exemption {id}."))),
    }
}

async fn may_undo(state: &AppState, p: &Principal, id: i64) -> Result<(), AppError> {
    if !p.scoped() {
        return Ok(());
    }
    match store::assignments::audit_entry(&state.pool, id).await? {
        Some(e) => may(p, &e.subject),
        None => Err(AppError::NotFound(format!("There is no audit entry {id}."))),
    }
}

// ---------------------------------------------------------------------------------------------
// JSON: exemptions

#[derive(Debug, Default, Deserialize)]
struct ExemptionFilter {
    cluster: Option<String>,
    workload: Option<String>,
}

async fn list_exemptions(
    State(state): State<AppState>,
    p: Principal,
    Query(f): Query<ExemptionFilter>,
) -> Json<Value> {
    let rules = state.rules.get();
    let now = crate::now_ms();
    let list: Vec<Value> = rules
        .exemptions
        .iter()
        .filter(|e| filled(&f.cluster).is_none_or(|c| e.cluster == c))
        .filter(|e| filled(&f.workload).is_none_or(|w| e.workload == w))
        .filter(|e| visible(&p, &e.workload))
        .map(|e| exemption_json(e, now))
        .collect();
    Json(json!({ "total": list.len(), "exemptions": list }))
}

/// An exemption as the API and the form ask for it; every field is checked
/// by [`check_exemption`] so a missing one is named.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExemptBody {
    #[serde(default)]
    pub workload: Option<String>,
    #[serde(default)]
    pub container: Option<String>,
    #[serde(default)]
    pub control: Option<String>,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub owner: Option<String>,
    #[serde(default)]
    pub expires_at: Option<String>,
    #[serde(default)]
    pub cluster: Option<String>,
}

fn check_exemption(
    advisor: &Advisor,
    cluster: &str,
    b: &ExemptBody,
    now: i64,
) -> Result<NewExemption, Rejected> {
    let Some(workload) = filled(&b.workload) else {
        return Err(unprocessable(
            "workload",
            "workload: give the workload as namespace/Kind/name",
        ));
    };
    let Some(&i) = advisor.cluster.by_id.get(workload) else {
        return Err(unprocessable(
            "workload",
            format!(
                "workload: there is no workload {workload:?} in this snapshot (write namespace/Kind/name)"
            ),
        ));
    };
    let container = filled(&b.container).map(str::to_owned);
    if let Some(c) = &container {
        let spec = &advisor.cluster.inventory.workloads[i].template.spec;
        let found = spec
            .containers
            .iter()
            .chain(spec.init_containers.iter().flatten())
            .any(|x| &x.name == c)
            || spec
                .ephemeral_containers
                .iter()
                .flatten()
                .any(|x| &x.name == c);
        if !found {
            return Err(unprocessable(
                "container",
                format!("container: {workload} has no container {c:?}"),
            ));
        }
    }
    let control = match filled(&b.control) {
        None => None,
        Some(s) => Some(Control::from_slug(s).ok_or_else(|| {
            let slugs: Vec<&str> = Control::ALL.iter().map(|c| c.slug()).collect();
            unprocessable(
                "control",
                format!(
                    "control: {s:?} is not a control; use one of {}",
                    slugs.join(", ")
                ),
            )
        })?),
    };
    let Some(reason) = filled(&b.reason) else {
        return Err(unprocessable(
            "reason",
            "reason: say why the workload is exempt",
        ));
    };
    let Some(owner) = filled(&b.owner) else {
        return Err(unprocessable("owner", "owner: say who owns the exemption"));
    };
    let Some(expiry) = filled(&b.expires_at) else {
        return Err(unprocessable(
            "expiresAt",
            "expiresAt: give the date the exemption ends (2027-01-31)",
        ));
    };
    let expires_at =
        parse_expiry(expiry).map_err(|e| unprocessable("expiresAt", format!("expiresAt: {e}")))?;
    if expires_at <= now {
        return Err(unprocessable(
            "expiresAt",
            format!("expiresAt: {expiry} is in the past; an exemption must end in the future"),
        ));
    }
    Ok(NewExemption {
        cluster: cluster.to_owned(),
        workload: workload.to_owned(),
        container,
        control,
        reason: reason.to_owned(),
        owner: owner.to_owned(),
        expires_at,
    })
}

async fn exempt(
    state: &AppState,
    p: &Principal,
    snapshot: Option<i64>,
    query_cluster: Option<&str>,
    body: &ExemptBody,
) -> Result<(Exemption, AuditEntry), Rejected> {
    let cluster = filled(&body.cluster);
    let snapshot = snapshot_for(state, snapshot, query_cluster, cluster).await?;
    let advisor = advisor_for(state, &snapshot).await?;
    let now = crate::now_ms();
    // Refused the same whether or not the workload exists, so existence does not leak.
    if let Some(ns) = body
        .workload
        .as_deref()
        .and_then(|w| subject_namespace(w.trim()))
    {
        p.may_change(Some(ns))?;
    }
    let new = check_exemption(&advisor, &snapshot.cluster, body, now)?;
    may(p, &new.workload)?;
    let (e, entry) = store::assignments::exempt(&state.pool, &new, &p.user, now).await?;
    state.rules.reload(&state.pool).await?;
    Ok((e, entry))
}

async fn create_exemption(
    State(state): State<AppState>,
    p: Principal,
    Query(q): Query<ChangeQuery>,
    ApiJson(body): ApiJson<Value>,
) -> Result<Response, Rejected> {
    let body: ExemptBody = parse_body(body)?;
    let (e, entry) = exempt(&state, &p, q.snapshot, filled(&q.cluster), &body).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "exemption": exemption_json(&e, crate::now_ms()),
            "audit": audit_json(&entry),
        })),
    )
        .into_response())
}

async fn delete_exemption(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
) -> Result<Json<Value>, Rejected> {
    let actor = p.user.clone();
    let id = parse_id(&id, "exemption")?;
    may_unexempt(&state, &p, id).await?;
    let entry = store::assignments::unexempt(&state.pool, id, &actor, crate::now_ms())
        .await
        .map_err(db_error)?;
    state.rules.reload(&state.pool).await?;
    Ok(Json(json!({ "audit": audit_json(&entry) })))
}

// ---------------------------------------------------------------------------------------------
// JSON: the audit log

pub const AUDIT_PER_PAGE: i64 = 50;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PageQuery {
    page: Option<String>,
    per_page: Option<String>,
}

fn positive(v: &Option<String>, name: &str, default: i64) -> Result<i64, AppError> {
    match filled(v) {
        None => Ok(default),
        Some(s) => match s.parse::<i64>() {
            Ok(n) if n >= 1 => Ok(n),
            _ => Err(AppError::BadRequest(format!(
                "{name} must be a positive number, not {s:?}"
            ))),
        },
    }
}

async fn audit(
    State(state): State<AppState>,
    p: Principal,
    Query(q): Query<PageQuery>,
) -> Result<Json<Value>, Rejected> {
    let page = positive(&q.page, "page", 1)?;
    let per_page = positive(&q.per_page, "perPage", AUDIT_PER_PAGE)?.min(500);
    let (total, entries) =
        audit_page(&state, &p, per_page, (page - 1).saturating_mul(per_page)).await?;
    let rules = state.rules.get();
    let list: Vec<Value> = entries
        .iter()
        .map(|e| {
            let mut v = audit_json(e);
            let blocker = undo_blocker(e, &rules);
            v["undoable"] = json!(blocker.is_none());
            v
        })
        .collect();
    Ok(Json(json!({
        "audit": list,
        "total": total,
        "page": page,
        "perPage": per_page,
    })))
}

async fn undo_api(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
) -> Result<Json<Value>, Rejected> {
    let actor = p.user.clone();
    let id = parse_id(&id, "audit entry")?;
    may_undo(&state, &p, id).await?;
    let entry = store::assignments::undo(&state.pool, id, &actor, crate::now_ms())
        .await
        .map_err(db_error)?;
    state.rules.reload(&state.pool).await?;
    Ok(Json(json!({ "audit": audit_json(&entry) })))
}

// ---------------------------------------------------------------------------------------------
// Pages: the notice after a change

/// What was just changed, shown at the top of the page it returns to.
pub struct Notice {
    pub text: String,
    /// The audit entry to undo, when it can still be undone.
    pub undo: Option<i64>,
    /// Where Undo returns to.
    pub back: String,
}

/// `?applied=<audit id>` on any page that can be returned to.
#[derive(Debug, Default, Deserialize)]
pub struct NoticeParam {
    pub applied: Option<String>,
}

/// The notice of `?applied=`, for a page at `back`.
pub async fn notice(
    state: &AppState,
    p: &NoticeParam,
    back: &str,
) -> Result<Option<Notice>, AppError> {
    let Some(id) = filled(&p.applied).and_then(|s| s.parse::<i64>().ok()) else {
        return Ok(None);
    };
    let Some(e) = store::assignments::audit_entry(&state.pool, id).await? else {
        return Ok(None);
    };
    let rules = state.rules.get();
    Ok(Some(Notice {
        text: describe(&e),
        undo: undo_blocker(&e, &rules).is_none().then_some(e.id),
        back: strip_applied(back),
    }))
}

/// `back` if it is a path of this site, else `fallback`.
pub fn same_origin(back: Option<&str>, fallback: &str) -> String {
    match back.map(str::trim) {
        Some(b)
            if b.starts_with('/')
                && !b.starts_with("//")
                && !b.starts_with("/\\")
                && !b.chars().any(|c| c.is_control()) =>
        {
            b.to_owned()
        }
        _ => fallback.to_owned(),
    }
}

/// `url` without its `applied=` parameter.
fn strip_applied(url: &str) -> String {
    let (url, fragment) = match url.split_once('#') {
        Some((u, f)) => (u, format!("#{f}")),
        None => (url, String::new()),
    };
    let Some((path, query)) = url.split_once('?') else {
        return format!("{url}{fragment}");
    };
    let kept: Vec<&str> = query
        .split('&')
        .filter(|p| !p.is_empty() && !p.starts_with("applied="))
        .collect();
    if kept.is_empty() {
        format!("{path}{fragment}")
    } else {
        format!("{path}?{}{fragment}", kept.join("&"))
    }
}

/// `back` with `applied=<id>`, so it shows the notice.
fn with_applied(back: &str, id: i64) -> String {
    let base = strip_applied(back);
    let (path, fragment) = match base.split_once('#') {
        Some((p, f)) => (p.to_owned(), format!("#{f}")),
        None => (base.clone(), String::new()),
    };
    let sep = if path.contains('?') { '&' } else { '?' };
    format!("{path}{sep}applied={id}{fragment}")
}

/// Forms that change something must come from this site's own pages: a
/// page elsewhere could otherwise post to a dashboard on loopback. Browsers
/// say where a request comes from (`Sec-Fetch-Site`, `Origin`); scripts that
/// send neither are let through, as they can call the JSON API anyway.
pub fn same_site(headers: &axum::http::HeaderMap) -> Result<(), AppError> {
    let refuse = || {
        AppError::Forbidden(
            "This change must be made from Portcullis's own pages; the request came from another site."
                .to_owned(),
        )
    };
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok())
        && !matches!(site, "same-origin" | "none")
    {
        return Err(refuse());
    }
    if let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        let host = headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let origin_host = origin
            .split_once("://")
            .map_or(origin, |(_, rest)| rest)
            .trim_end_matches('/');
        if origin_host != host {
            return Err(refuse());
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Pages: the profile choices of every "Assign…" form

/// `(value, label)` of every profile that can be assigned: levels, presets, custom.
pub async fn profile_options(pool: &sqlx::SqlitePool) -> Result<Vec<(String, String)>, AppError> {
    let mut out: Vec<(String, String)> = [
        ("restricted", "restricted (level)"),
        ("baseline", "baseline (level)"),
        ("privileged", "privileged (level)"),
    ]
    .iter()
    .map(|(v, l)| ((*v).to_owned(), (*l).to_owned()))
    .collect();
    for p in crate::policy::profiles::PRESETS
        .iter()
        .filter(|p| p.level.is_none() || p.psp_yaml.is_some())
    {
        out.push((p.id.to_owned(), format!("{} (preset)", p.title)));
    }
    for p in store::profiles::list(pool).await? {
        let name = p.profile.name;
        out.push((name.clone(), format!("{name} (custom)")));
    }
    Ok(out)
}

/// The profile in force in one mode, in words: `restricted:latest — assigned to the namespace`.
pub struct InForce {
    pub mode: Mode,
    /// `None`: nothing applies in this mode.
    pub profile: Option<String>,
    pub source: &'static str,
    /// The source in one or two words, for tables.
    pub short: &'static str,
}

pub fn in_force(applied: [Option<crate::policy::assignments::Applied>; 3]) -> Vec<InForce> {
    Mode::ALL
        .iter()
        .zip(applied)
        .map(|(&mode, a)| InForce {
            mode,
            profile: a.as_ref().map(|a| a.profile.name.clone()),
            source: a.as_ref().map_or("", |a| a.source.words()),
            short: a.as_ref().map_or("", |a| match a.source {
                crate::policy::assignments::Source::Workload => "workload",
                crate::policy::assignments::Source::Namespace => "assigned",
                crate::policy::assignments::Source::ClusterDefault => "cluster default",
                crate::policy::assignments::Source::Labels => "labels",
            }),
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Pages: the confirm step

#[derive(Debug, Default, Deserialize)]
pub struct AssignForm {
    pub target: Option<String>,
    pub profile: Option<String>,
    pub mode: Option<String>,
    pub snapshot: Option<String>,
    pub cluster: Option<String>,
    pub back: Option<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "pages/assign.html")]
pub struct ConfirmPage {
    pub nav: Nav,
    pub target: String,
    pub target_words: String,
    /// Empty: remove the assignment.
    pub profile: String,
    pub mode: String,
    pub snapshot: String,
    pub cluster: String,
    pub back: String,
    /// What is assigned to the target in this mode now, in words.
    pub replaces: String,
    /// What applies there now (the fallback a removal returns to).
    pub now_in_force: String,
    pub impact: String,
    pub error: Option<String>,
    pub options: Vec<(String, String)>,
}

impl ConfirmPage {
    pub fn removing(&self) -> bool {
        self.profile.is_empty()
    }
    pub fn is_profile(&self, v: &str) -> bool {
        self.profile == v
    }
    pub fn is_mode(&self, v: &str) -> bool {
        self.mode == v
    }
}

fn default_back(target: &str, snapshot: &str) -> String {
    let q = if snapshot.is_empty() {
        String::new()
    } else {
        format!("?snapshot={snapshot}")
    };
    if target == "cluster" {
        return format!("/settings{q}");
    }
    if let Some(id) = target.strip_prefix("workload/")
        && let Some(k) = crate::model::WorkloadKey::parse(id)
    {
        return format!(
            "{}{q}",
            super::workloads::workload_url(&k.namespace, &k.kind, &k.name)
        );
    }
    format!("/namespaces{q}")
}

/// The form's parts, checked: `profile` is `None` for "none" (remove).
struct FormParts {
    target: String,
    profile: Option<String>,
    mode: Mode,
    snapshot: Option<i64>,
    cluster: Option<String>,
}

fn form_parts(f: &AssignForm) -> Result<FormParts, Rejected> {
    let Some(target) = filled(&f.target) else {
        return Err(unprocessable(
            "target",
            "target: choose what to assign the profile to",
        ));
    };
    let m = filled(&f.mode).unwrap_or("enforce");
    let mode = Mode::parse(m).ok_or_else(|| {
        unprocessable(
            "mode",
            format!("mode must be enforce, warn or audit, not {m:?}"),
        )
    })?;
    let profile = match filled(&f.profile) {
        None => {
            return Err(unprocessable(
                "profile",
                "profile: choose a profile, or none to remove the assignment",
            ));
        }
        Some("none") => None,
        Some(p) => Some(p.to_owned()),
    };
    let snapshot = match filled(&f.snapshot) {
        None => None,
        Some(s) => Some(s.parse::<i64>().map_err(|_| {
            Rejected::App(AppError::BadRequest(format!(
                "snapshot must be a number, not {s:?}"
            )))
        })?),
    };
    Ok(FormParts {
        target: target.to_owned(),
        profile,
        mode,
        snapshot,
        cluster: filled(&f.cluster).map(str::to_owned),
    })
}

async fn confirm_page(
    state: &AppState,
    f: &AssignForm,
    error: Option<String>,
) -> Result<(StatusCode, ConfirmPage), AppError> {
    let target = filled(&f.target).unwrap_or("").to_owned();
    let snapshot_s = filled(&f.snapshot).unwrap_or("").to_owned();
    let mut page = ConfirmPage {
        nav: Nav::new("", &None),
        target_words: subject_words(&target),
        back: same_origin(filled(&f.back), &default_back(&target, &snapshot_s)),
        target,
        profile: match filled(&f.profile) {
            Some("none") | None => String::new(),
            Some(p) => p.to_owned(),
        },
        mode: filled(&f.mode).unwrap_or("enforce").to_owned(),
        snapshot: snapshot_s,
        cluster: String::new(),
        replaces: String::new(),
        now_in_force: String::new(),
        impact: String::new(),
        error,
        options: profile_options(&state.pool).await?,
    };
    let outcome = async {
        let parts = form_parts(f)?;
        let snapshot = snapshot_for(state, parts.snapshot, None, parts.cluster.as_deref()).await?;
        check_assignment(
            state,
            snapshot,
            &parts.target,
            parts.profile.as_deref(),
            parts.mode,
            true,
        )
        .await
        .map(|c| (c, parts))
    }
    .await;
    let (checked, parts) = match outcome {
        Ok(x) => x,
        Err(e) => {
            if page.error.is_none() {
                page.error = Some(e.message());
            }
            if let Ok(Some(s)) = chosen_snapshot(&state.pool, None).await {
                page.nav = Nav::new("", &Some(s));
            }
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, page));
        }
    };
    let cluster = checked.snapshot.cluster.clone();
    let rules = state.rules.get();
    page.nav = Nav::new("", &Some(checked.snapshot.clone())).pin(parts.snapshot);
    page.cluster = cluster.clone();
    page.target = checked.target.clone();
    page.target_words = subject_words(&checked.target);
    page.replaces = match rules.assignment(&cluster, &checked.target, parts.mode) {
        Some(a) => format!(
            "{} ({}), assigned by {} on {}",
            a.profile,
            a.mode,
            a.created_by,
            crate::format_time(a.created_at)
        ),
        None => "nothing: no assignment yet".to_owned(),
    };
    let a = &checked.advisor;
    let applied = match AssignTarget::parse(&checked.target) {
        Ok(AssignTarget::Namespace(ns)) => {
            rules.for_namespace(&cluster, &ns, a.cluster.namespace_labels.get(ns.as_str()))
                [parts.mode.index()]
            .clone()
        }
        Ok(AssignTarget::Workload(k)) => rules.effective(
            &cluster,
            &k,
            a.cluster.namespace_labels.get(k.namespace.as_str()),
        )[parts.mode.index()]
        .clone(),
        _ => rules
            .assignment(&cluster, "cluster", parts.mode)
            .and_then(|_| rules.assigned(&cluster, &AssignTarget::Cluster, parts.mode))
            .map(|p| crate::policy::assignments::Applied {
                profile: Arc::new(p.clone()),
                mode: parts.mode,
                source: crate::policy::assignments::Source::ClusterDefault,
                assignment: None,
            }),
    };
    page.now_in_force = match applied {
        Some(a) => format!("{} — {}", a.profile.name, a.source.words()),
        None => "no profile".to_owned(),
    };
    if let Some(impact) = checked.impact {
        let q = parts
            .snapshot
            .map(|id| format!("?snapshot={id}"))
            .unwrap_or_default();
        let panel = ImpactPanel {
            impact: Some(impact),
            summary: if page.profile.is_empty() {
                format!(
                    "remove the assignment ({}) of {}",
                    parts.mode,
                    subject_words(&checked.target)
                )
            } else {
                format!(
                    "{} ({}) on {}",
                    page.profile,
                    parts.mode,
                    subject_words(&checked.target)
                )
            },
            error: None,
            snapshot_query: q,
            apply_url: None,
            policy_note: false,
        };
        page.impact = panel.render()?;
    }
    let status = if page.error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    Ok((status, page))
}

/// `GET /assign`: the impact of exactly this change, what it replaces, Apply and Cancel.
async fn confirm(
    State(state): State<AppState>,
    Query(f): Query<AssignForm>,
) -> Result<Response, AppError> {
    Ok(confirm_page(&state, &f, None).await?.into_response())
}

/// `POST /assign`: applies the change, then back to where it was asked for
/// with a notice and its Undo.
async fn apply(
    State(state): State<AppState>,
    p: Principal,
    headers: HeaderMap,
    Form(f): Form<AssignForm>,
) -> Result<Response, AppError> {
    let actor = p.user.clone();
    same_site(&headers)?;
    let outcome = async {
        let parts = form_parts(&f)?;
        let snapshot = snapshot_for(&state, parts.snapshot, None, parts.cluster.as_deref()).await?;
        let checked = check_assignment(
            &state,
            snapshot,
            &parts.target,
            parts.profile.as_deref(),
            parts.mode,
            false,
        )
        .await?;
        may(&p, &checked.target)?;
        let cluster = checked.snapshot.cluster.clone();
        let now = crate::now_ms();
        let entry = match &parts.profile {
            Some(p) => {
                store::assignments::assign(
                    &state.pool,
                    &cluster,
                    &checked.target,
                    parts.mode,
                    p,
                    &actor,
                    now,
                )
                .await?
            }
            None => {
                store::assignments::unassign(
                    &state.pool,
                    &cluster,
                    &checked.target,
                    parts.mode,
                    &actor,
                    now,
                )
                .await?
            }
        };
        state.rules.reload(&state.pool).await?;
        if entry.is_some() {
            apply_to_cluster(&state, &cluster, &checked.target, parts.mode).await;
        }
        Ok::<_, Rejected>((entry, checked.target))
    }
    .await;
    match outcome {
        Ok((entry, target)) => {
            let snapshot = filled(&f.snapshot).unwrap_or("");
            let back = same_origin(filled(&f.back), &default_back(&target, snapshot));
            let to = match entry {
                Some(e) => with_applied(&back, e.id),
                None => strip_applied(&back),
            };
            Ok(Redirect::to(&to).into_response())
        }
        Err(Rejected::App(e @ AppError::Db(_))) => Err(e),
        Err(e) => Ok(confirm_page(&state, &f, Some(e.message()))
            .await?
            .into_response()),
    }
}

// ---------------------------------------------------------------------------------------------
// Pages: exemption forms, undo

#[derive(Debug, Default, Deserialize)]
pub struct ExemptForm {
    pub workload: Option<String>,
    pub container: Option<String>,
    pub control: Option<String>,
    pub reason: Option<String>,
    pub owner: Option<String>,
    pub expires: Option<String>,
    pub snapshot: Option<String>,
    pub back: Option<String>,
}

/// `POST /exemptions` (the workload page's form).
async fn exempt_form(
    State(state): State<AppState>,
    p: Principal,
    headers: HeaderMap,
    Form(f): Form<ExemptForm>,
) -> Result<Response, AppError> {
    same_site(&headers)?;
    let snapshot = filled(&f.snapshot).and_then(|s| s.parse::<i64>().ok());
    let body = ExemptBody {
        workload: f.workload.clone(),
        container: f.container.clone(),
        control: f.control.clone(),
        reason: f.reason.clone(),
        owner: f.owner.clone(),
        expires_at: f.expires.clone(),
        cluster: None,
    };
    let back = same_origin(filled(&f.back), "/settings");
    match exempt(&state, &p, snapshot, None, &body).await {
        Ok((_, entry)) => Ok(Redirect::to(&with_applied(&back, entry.id)).into_response()),
        Err(Rejected::App(e)) => Err(e),
        Err(Rejected::Field(e)) => {
            // Shown on the workload page, next to the form.
            let Some(k) = filled(&f.workload).and_then(crate::model::WorkloadKey::parse) else {
                return Err(AppError::BadRequest(e.message));
            };
            let form = super::workloads::ExemptionFormState {
                error: Some((e.field.clone(), e.message.clone())),
                container: f.container.clone().unwrap_or_default(),
                control: f.control.clone().unwrap_or_default(),
                reason: f.reason.clone().unwrap_or_default(),
                owner: f.owner.clone().unwrap_or_default(),
                expires: f.expires.clone().unwrap_or_default(),
            };
            let page = super::workloads::render_workload(
                &state,
                &k.namespace,
                &k.kind,
                &k.name,
                snapshot,
                None,
                form,
            )
            .await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct BackForm {
    pub back: Option<String>,
}

/// `POST /exemptions/{id}/delete`.
async fn unexempt_form(
    State(state): State<AppState>,
    p: Principal,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Form(f): Form<BackForm>,
) -> Result<Response, AppError> {
    let actor = p.user.clone();
    same_site(&headers)?;
    let back = same_origin(filled(&f.back), "/settings");
    may_unexempt(&state, &p, id).await?;
    let entry = match store::assignments::unexempt(&state.pool, id, &actor, crate::now_ms()).await {
        Ok(e) => e,
        Err(ChangeError::Db(e)) => return Err(e.into()),
        Err(e) => return Err(AppError::NotFound(e.to_string())),
    };
    state.rules.reload(&state.pool).await?;
    Ok(Redirect::to(&with_applied(&back, entry.id)).into_response())
}

/// `POST /audit/{id}/undo` (Undo buttons): back with a notice, or the
/// Settings page with the reason next to the entry.
async fn undo_form(
    State(state): State<AppState>,
    p: Principal,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Form(f): Form<BackForm>,
) -> Result<Response, AppError> {
    let actor = p.user.clone();
    same_site(&headers)?;
    let back = same_origin(filled(&f.back), "/settings");
    may_undo(&state, &p, id).await?;
    match store::assignments::undo(&state.pool, id, &actor, crate::now_ms()).await {
        Ok(entry) => {
            state.rules.reload(&state.pool).await?;
            Ok(Redirect::to(&with_applied(&back, entry.id)).into_response())
        }
        Err(ChangeError::Db(e)) => Err(e.into()),
        Err(ChangeError::NoEntry(_)) => {
            Err(AppError::NotFound(format!("There is no audit entry {id}.")))
        }
        Err(e) => {
            let page =
                settings_page(&state, &SettingsQuery::default(), Some((id, e.to_string()))).await?;
            Ok((StatusCode::CONFLICT, page).into_response())
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Pages: Settings

#[derive(Debug, Default, Deserialize)]
pub struct SettingsQuery {
    pub snapshot: Option<i64>,
    pub cluster: Option<String>,
    pub page: Option<String>,
    pub applied: Option<String>,
}

pub struct DefaultRow {
    pub mode: Mode,
    /// The profile assigned as the cluster default, if any.
    pub profile: Option<String>,
    pub by: String,
}

pub struct ExemptionRow {
    pub e: Exemption,
    pub active: bool,
    pub until: String,
    pub workload_url: String,
}

pub struct AuditRow {
    pub e: AuditEntry,
    pub when: String,
    pub summary: String,
    pub before: String,
    pub after: String,
    /// Why it cannot be undone; `None`: it can.
    pub blocker: Option<String>,
    /// The reason an Undo just failed.
    pub error: Option<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "pages/settings.html")]
pub struct SettingsPage {
    pub nav: Nav,
    pub cluster: Option<String>,
    pub snapshot: String,
    pub defaults: Vec<DefaultRow>,
    pub options: Vec<(String, String)>,
    pub exemptions: Vec<ExemptionRow>,
    pub audit: Vec<AuditRow>,
    pub page: i64,
    pub pages: i64,
    pub total: i64,
    /// This page's URL, where forms return.
    pub back: String,
}

impl SettingsPage {
    pub fn page_url(&self, page: i64) -> String {
        let mut q = vec![("page", page.to_string())];
        if !self.snapshot.is_empty() {
            q.push(("snapshot", self.snapshot.clone()));
        }
        format!(
            "/settings?{}#audit",
            serde_urlencoded::to_string(q).unwrap_or_default()
        )
    }
}

async fn settings_page(
    state: &AppState,
    q: &SettingsQuery,
    undo_error: Option<(i64, String)>,
) -> Result<SettingsPage, AppError> {
    let pin = super::resolve(&state.pool, q.snapshot, q.cluster.as_deref()).await?;
    let snapshot = chosen_snapshot(&state.pool, pin).await?;
    let rules = state.rules.get();
    let cluster = snapshot.as_ref().map(|s| s.cluster.clone());
    let defaults = Mode::ALL
        .iter()
        .map(|&mode| {
            let a = cluster
                .as_deref()
                .and_then(|c| rules.assignment(c, "cluster", mode));
            DefaultRow {
                mode,
                profile: a.map(|a| a.profile.clone()),
                by: a
                    .map(|a| format!("{}, {}", a.created_by, crate::format_time(a.created_at)))
                    .unwrap_or_default(),
            }
        })
        .collect();
    let now = crate::now_ms();
    let sq = pin.map(|id| format!("?snapshot={id}")).unwrap_or_default();
    let viewer = crate::auth::viewer();
    let exemptions = rules
        .exemptions
        .iter()
        .filter(|e| visible(&viewer, &e.workload))
        .map(|e| ExemptionRow {
            active: e.active(now),
            until: until_words(e.expires_at),
            workload_url: crate::model::WorkloadKey::parse(&e.workload)
                .map(|k| {
                    format!(
                        "{}{sq}",
                        super::workloads::workload_url(&k.namespace, &k.kind, &k.name)
                    )
                })
                .unwrap_or_default(),
            e: e.clone(),
        })
        .collect();
    let page = positive(&q.page, "page", 1)?;
    let total = audit_page(state, &viewer, 0, 0).await?.0;
    let pages = ((total + AUDIT_PER_PAGE - 1) / AUDIT_PER_PAGE).max(1);
    let page = page.min(pages);
    let entries = audit_page(state, &viewer, AUDIT_PER_PAGE, (page - 1) * AUDIT_PER_PAGE)
        .await?
        .1;
    let audit = entries
        .into_iter()
        .map(|e| AuditRow {
            when: crate::format_time(e.at),
            summary: describe(&e),
            // Before and after of what undo can put back; the rest says it all in words.
            before: if store::assignments::UNDOABLE.contains(&e.action.as_str()) {
                side_words(&e.before)
            } else {
                String::new()
            },
            after: if store::assignments::UNDOABLE.contains(&e.action.as_str()) {
                side_words(&e.after)
            } else {
                String::new()
            },
            blocker: undo_blocker(&e, &rules),
            error: undo_error
                .as_ref()
                .filter(|(id, _)| *id == e.id)
                .map(|(_, m)| m.clone()),
            e,
        })
        .collect();
    let back = format!("/settings{sq}");
    let notice = notice(
        state,
        &NoticeParam {
            applied: q.applied.clone(),
        },
        &back,
    )
    .await?;
    Ok(SettingsPage {
        nav: Nav::new("settings", &snapshot).pin(pin).notice(notice),
        cluster,
        snapshot: pin.map(|id| id.to_string()).unwrap_or_default(),
        defaults,
        options: profile_options(&state.pool).await?,
        exemptions,
        audit,
        page,
        pages,
        total,
        back,
    })
}

/// `GET /settings`.
async fn settings(
    State(state): State<AppState>,
    Query(q): Query<SettingsQuery>,
) -> Result<SettingsPage, AppError> {
    settings_page(&state, &q, None).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn back_stays_on_this_site() {
        let cases = [
            (Some("/namespaces?snapshot=2"), "/namespaces?snapshot=2"),
            (Some("//evil.example/x"), "/fallback"),
            (Some("/\\evil.example"), "/fallback"),
            (Some("https://evil.example/"), "/fallback"),
            (Some("/a\nb"), "/fallback"),
            (None, "/fallback"),
        ];
        for (back, want) in cases {
            assert_eq!(same_origin(back, "/fallback"), want, "{back:?}");
        }
    }

    #[test]
    fn applied_replaces_the_previous_notice() {
        assert_eq!(with_applied("/namespaces", 3), "/namespaces?applied=3");
        assert_eq!(
            with_applied("/settings?snapshot=2&applied=1#audit", 4),
            "/settings?snapshot=2&applied=4#audit"
        );
        assert_eq!(strip_applied("/x?applied=1"), "/x");
    }

    #[test]
    fn expiry_dates_run_through_their_last_day() {
        let end = parse_expiry("2027-01-31").expect("date");
        assert_eq!(until_words(end), "2027-01-31");
        assert_eq!(
            parse_expiry("2027-02-01T00:00:00Z").expect("rfc 3339"),
            end,
            "a date means until the end of that day, UTC"
        );
        let t = parse_expiry("2027-01-31T12:30:00+01:00").expect("rfc 3339");
        assert_eq!(until_words(t), "2027-01-31 11:30:00 UTC");
        assert!(parse_expiry("31/01/2027").is_err());
    }

    #[test]
    fn audit_entries_in_words() {
        let entry =
            |action: &str, subject: &str, before: Option<Value>, after: Option<Value>| AuditEntry {
                id: 2,
                at: 0,
                actor: "anonymous".into(),
                action: action.into(),
                cluster: "demo".into(),
                subject: subject.into(),
                before,
                after,
                undo_of: Some(1),
                undone_by: None,
            };
        let r = Some(json!({"profile": "restricted", "mode": "enforce"}));
        let b = Some(json!({"profile": "baseline", "mode": "enforce"}));
        assert_eq!(
            describe(&entry("assign", "namespace/shop", None, r.clone())),
            "Assigned restricted (enforce) to namespace shop"
        );
        assert_eq!(
            describe(&entry("assign", "cluster", b.clone(), r.clone())),
            "Assigned restricted (enforce) to the cluster default, replacing baseline (enforce)"
        );
        assert_eq!(
            describe(&entry("unassign", "workload/a/Pod/p", r.clone(), None)),
            "Removed restricted (enforce) from workload a/Pod/p"
        );
        assert_eq!(
            describe(&entry("undo", "namespace/shop", r, None)),
            "Undid change #1: namespace shop back to nothing"
        );
    }
}
