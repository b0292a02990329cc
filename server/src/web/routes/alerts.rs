//! Alerts: the Alerts page (filters, sort, pages, live table, acknowledge,
//! the enforce digest), `GET /api/v1/alerts`,
//! `POST /api/v1/alerts/{id}/acknowledge` and `GET /api/v1/digest`.

use std::collections::HashMap;

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Form, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum_htmx::HxRequest;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::advisor::{FieldError, advisor_for};
use super::{Nav, chosen_snapshot, filled};
use crate::AppState;
use crate::advisor::{Change, Mode, Target};
use crate::auth::{Principal, Via};
use crate::model::Control;
use crate::policy::assignments::{AssignTarget, Assignment, Severity};
use crate::store;
use crate::store::alerts::{AckError, Alert, AlertQuery, AlertState, SortKey};
use crate::web::{ApiError, AppError};

/// The Alerts page and its form actions.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/alerts", get(page))
        .route("/alerts/{id}/acknowledge", post(acknowledge_form))
}

/// Routes under `/api/v1`.
pub fn api() -> Router<AppState> {
    Router::new()
        .route("/alerts", get(api_list))
        .route("/alerts/{id}/acknowledge", post(api_acknowledge))
        .route("/digest", get(api_digest))
}

/// Rows per page on the Alerts page.
pub const PER_PAGE: i64 = 50;

/// Who acknowledges from the dashboard (it has no sign-in yet).
pub const DASHBOARD_USER: &str = "dashboard";

// ---------------------------------------------------------------------------------------------
// Parameters

/// The alert list's state, as it appears in the URL. Empty values mean any.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AlertParams {
    pub cluster: Option<String>,
    pub namespace: Option<String>,
    /// `high` or `medium`.
    pub severity: Option<String>,
    /// A control slug (`privileged`, `seccomp`, …).
    pub control: Option<String>,
    /// `open`, `acknowledged`, `resolved`, several separated by commas, or
    /// `all`. The page shows open and acknowledged when it is empty; the API
    /// every state.
    pub state: Option<String>,
    pub mode: Option<String>,
    pub workload: Option<String>,
    pub sort: Option<String>,
    /// `asc` or `desc`.
    pub dir: Option<String>,
    /// The page (the Alerts page).
    pub page: Option<String>,
    /// The API's paging.
    pub limit: Option<String>,
    pub offset: Option<String>,
}

fn bad(field: &str, message: String) -> FieldError {
    FieldError {
        status: StatusCode::UNPROCESSABLE_ENTITY,
        field: field.to_owned(),
        message,
    }
}

fn number(v: &Option<String>, field: &str, min: i64, max: i64) -> Result<Option<i64>, FieldError> {
    let Some(s) = filled(v) else { return Ok(None) };
    match s.parse::<i64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(Some(n)),
        _ => Err(bad(
            field,
            format!("{field} must be a whole number from {min} to {max}, not {s:?}"),
        )),
    }
}

impl AlertParams {
    /// The filters, checked; `default_states` when `state` is empty.
    pub fn query(&self, default_states: &[AlertState]) -> Result<AlertQuery, FieldError> {
        let severity = filled(&self.severity)
            .map(|s| {
                Severity::parse(s).ok_or_else(|| {
                    bad("severity", format!("severity is high or medium, not {s:?}"))
                })
            })
            .transpose()?;
        let control = filled(&self.control)
            .map(|s| {
                Control::from_slug(s)
                    .map(|c| c.slug().to_owned())
                    .ok_or_else(|| {
                        let slugs: Vec<&str> = Control::ALL.iter().map(|c| c.slug()).collect();
                        bad(
                            "control",
                            format!("control {s:?} is not one of {}", slugs.join(", ")),
                        )
                    })
            })
            .transpose()?;
        let mode = filled(&self.mode)
            .map(|s| {
                Mode::parse(s).ok_or_else(|| {
                    bad("mode", format!("mode is enforce, warn or audit, not {s:?}"))
                })
            })
            .transpose()?;
        let states = match filled(&self.state) {
            None => default_states.to_vec(),
            Some("all") => Vec::new(),
            Some(s) => s
                .split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(|p| {
                    AlertState::parse(p).ok_or_else(|| {
                        bad(
                            "state",
                            format!(
                                "state is open, acknowledged, resolved (several separated by commas) or all, not {p:?}"
                            ),
                        )
                    })
                })
                .collect::<Result<Vec<_>, _>>()?,
        };
        let sort = filled(&self.sort)
            .map(|s| {
                SortKey::parse(s).ok_or_else(|| {
                    let keys: Vec<&str> = SortKey::ALL.iter().map(|k| k.as_str()).collect();
                    bad(
                        "sort",
                        format!("sort is one of {}, not {s:?}", keys.join(", ")),
                    )
                })
            })
            .transpose()?
            .unwrap_or_default();
        let desc = match filled(&self.dir) {
            None | Some("asc") => false,
            Some("desc") => true,
            Some(s) => return Err(bad("dir", format!("dir is asc or desc, not {s:?}"))),
        };
        Ok(AlertQuery {
            cluster: filled(&self.cluster).map(str::to_owned),
            namespace: filled(&self.namespace).map(str::to_owned),
            severity,
            control,
            states,
            mode,
            workload: filled(&self.workload).map(str::to_owned),
            scope: None,
            sort,
            desc,
            limit: number(&self.limit, "limit", 1, 1000)?.unwrap_or(100),
            offset: number(&self.offset, "offset", 0, i64::MAX)?.unwrap_or(0),
        })
    }

    /// The page number (from 1).
    fn page_number(&self) -> Result<i64, FieldError> {
        Ok(number(&self.page, "page", 1, 1_000_000)?.unwrap_or(1))
    }

    /// This state of the list as a URL of the Alerts page.
    pub fn url(&self) -> String {
        super::url_with(
            "/alerts",
            &[
                ("cluster", &self.cluster),
                ("namespace", &self.namespace),
                ("severity", &self.severity),
                ("control", &self.control),
                ("state", &self.state),
                ("mode", &self.mode),
                ("workload", &self.workload),
                ("sort", &self.sort),
                ("dir", &self.dir),
                ("page", &self.page),
            ],
        )
    }

    /// Sorting by `key`: ascending first, descending when already ascending.
    pub fn sort_url(&self, key: &str) -> String {
        let again = self.sort_key() == key && filled(&self.dir) != Some("desc");
        AlertParams {
            sort: Some(key.to_owned()),
            dir: again.then(|| "desc".to_owned()),
            page: None,
            ..self.clone()
        }
        .url()
    }

    pub fn page_url(&self, page: i64) -> String {
        AlertParams {
            page: Some(page.to_string()),
            ..self.clone()
        }
        .url()
    }

    pub fn sort_key(&self) -> &str {
        filled(&self.sort).unwrap_or("severity")
    }

    pub fn aria_sort(&self, key: &str) -> &'static str {
        match (self.sort_key() == key, filled(&self.dir) == Some("desc")) {
            (false, _) => "none",
            (true, false) => "ascending",
            (true, true) => "descending",
        }
    }

    pub fn arrow(&self, key: &str) -> &'static str {
        match self.aria_sort(key) {
            "ascending" => " ↑",
            "descending" => " ↓",
            _ => "",
        }
    }

    pub fn is(&self, field: &Option<String>, v: &str) -> bool {
        filled(field) == Some(v)
    }

    pub fn value<'a>(&'a self, field: &'a Option<String>) -> &'a str {
        filled(field).unwrap_or("")
    }

    /// Whether any filter narrows the list (the empty state differs).
    pub fn filtered(&self) -> bool {
        [
            &self.namespace,
            &self.severity,
            &self.control,
            &self.state,
            &self.mode,
            &self.workload,
        ]
        .iter()
        .any(|v| filled(v).is_some())
    }
}

/// The open and acknowledged alerts: what the page shows by default.
pub const ACTIVE: [AlertState; 2] = [AlertState::Open, AlertState::Acknowledged];

// ---------------------------------------------------------------------------------------------
// GET /api/v1/alerts, POST /api/v1/alerts/{id}/acknowledge

async fn api_list(
    State(state): State<AppState>,
    principal: crate::auth::Principal,
    Query(params): Query<AlertParams>,
) -> Result<axum::Json<Value>, Response> {
    let mut q = params.query(&[]).map_err(IntoResponse::into_response)?;
    q.scope = principal.namespaces.clone();
    let (rows, total) = store::alerts::list(&state.pool, &q)
        .await
        .map_err(|e| ApiError::from(e).into_response())?;
    Ok(axum::Json(json!({
        "alerts": rows.iter().map(Alert::to_json).collect::<Vec<_>>(),
        "total": total,
    })))
}

/// An acknowledgement in the audit log, with who made it.
async fn audit_ack(
    state: &AppState,
    p: &Principal,
    a: &store::alerts::Alert,
) -> Result<(), sqlx::Error> {
    let subject = format!("alert {} of {}", a.id, a.workload);
    let after = serde_json::json!({"container": a.container, "control": a.control, "mode": a.mode});
    store::assignments::record(&state.pool, &p.user, "acknowledge", &subject, Some(after)).await
}

/// Refuses an alert outside the user's namespaces as if it did not exist.
async fn in_scope(state: &AppState, p: &Principal, id: i64) -> Result<(), AppError> {
    if !p.scoped() {
        return Ok(());
    }
    match store::alerts::get(&state.pool, id).await? {
        Some(a) if p.sees(&a.namespace) => Ok(()),
        _ => Err(AppError::NotFound(format!("There is no alert {id}."))),
    }
}

/// Optional body of the API's acknowledge: `{"by": "alice"}`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct AckBody {
    by: Option<String>,
}

fn alert_id(raw: &str) -> Result<i64, AppError> {
    raw.parse::<i64>()
        .map_err(|_| AppError::NotFound(format!("There is no alert {raw:?}.")))
}

async fn api_acknowledge(
    State(state): State<AppState>,
    p: Principal,
    Path(raw): Path<String>,
    body: Bytes,
) -> Result<axum::Json<Value>, Response> {
    let id = alert_id(&raw).map_err(|e| ApiError(e).into_response())?;
    in_scope(&state, &p, id)
        .await
        .map_err(|e| ApiError(e).into_response())?;
    let ack: AckBody = if body.iter().all(u8::is_ascii_whitespace) {
        AckBody::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            bad(
                "by",
                format!("the body is {{\"by\": \"<who>\"}} or empty: {e}"),
            )
            .into_response()
        })?
    };
    let by = ack
        .by
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .unwrap_or("api");
    // Signed in, it is the user who acknowledges, whatever the body says.
    let by = if p.via == Via::Open {
        by
    } else {
        p.user.as_str()
    };
    if by.chars().count() > 200 {
        return Err(bad("by", "by is at most 200 characters".into()).into_response());
    }
    match store::alerts::acknowledge(&state.pool, id, by, crate::now_ms()).await {
        Ok(a) => {
            audit_ack(&state, &p, &a)
                .await
                .map_err(|e| ApiError(e.into()).into_response())?;
            Ok(axum::Json(a.to_json()))
        }
        Err(e) => Err(ack_error(e).into_response()),
    }
}

fn ack_error(e: AckError) -> FieldError {
    match e {
        AckError::NotFound(id) => FieldError {
            status: StatusCode::NOT_FOUND,
            field: String::new(),
            message: format!("There is no alert {id}."),
        },
        AckError::Resolved(id) => FieldError {
            status: StatusCode::CONFLICT,
            field: String::new(),
            message: format!("Alert {id} is resolved: only open alerts can be acknowledged."),
        },
        AckError::Db(e) => {
            tracing::error!(error = %e, "acknowledging an alert failed");
            FieldError {
                status: StatusCode::INTERNAL_SERVER_ERROR,
                field: String::new(),
                message: "Something went wrong on the server; the log has the details.".into(),
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The digest: warn and audit assignments, as if switched to enforce

/// A workload the switch would reject.
#[derive(Debug, Clone, Serialize)]
pub struct DigestRejected {
    pub workload: String,
    pub message: String,
    /// `container: reason (detail)`, one per failing check.
    pub violations: Vec<String>,
}

/// One warn or audit assignment in force, switched to enforce today.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DigestEntry {
    pub assignment: Assignment,
    /// The snapshot it was computed on (the cluster's newest).
    pub snapshot: i64,
    pub rejected: Vec<DigestRejected>,
    pub broken_connections: usize,
}

/// For each warn or audit assignment in force: the workloads enforce would
/// reject, and the connections that would break, on the newest snapshot of
/// its cluster (through the advisor's what-if).
pub async fn digest(state: &AppState) -> Result<Vec<DigestEntry>, AppError> {
    digest_for(state, &crate::auth::Principal::open()).await
}

/// [`digest`] as `principal` sees it: assignments of namespaces and workloads
/// out of their sight are left out; the cluster default is judged on their
/// namespaces only; only their workloads are listed and their connections
/// counted.
pub async fn digest_for(
    state: &AppState,
    principal: &crate::auth::Principal,
) -> Result<Vec<DigestEntry>, AppError> {
    let rules = state.rules.get();
    let mut snapshots = HashMap::new();
    let mut out = Vec::new();
    for a in &rules.assignments {
        if a.mode == Mode::Enforce || rules.unresolved.iter().any(|(u, _)| u.id == a.id) {
            continue;
        }
        let Ok(target) = AssignTarget::parse(&a.target) else {
            continue;
        };
        let in_sight = match &target {
            AssignTarget::Cluster => true,
            AssignTarget::Namespace(ns) => principal.sees(ns),
            AssignTarget::Workload(k) => principal.sees(&k.namespace),
        };
        if !in_sight {
            continue;
        }
        let Some(profile) = rules.assigned(&a.cluster, &target, a.mode).cloned() else {
            continue;
        };
        if !snapshots.contains_key(&a.cluster) {
            let s = store::snapshots::latest_of(&state.pool, &a.cluster).await?;
            snapshots.insert(a.cluster.clone(), s);
        }
        let Some(Some(snapshot)) = snapshots.get(&a.cluster) else {
            continue;
        };
        let advisor = advisor_for(state, snapshot).await?;
        let targets: Vec<Target> = match &target {
            AssignTarget::Namespace(ns) => advisor
                .cluster
                .namespace_labels
                .contains_key(ns)
                .then(|| Target::Namespace(ns.clone()))
                .into_iter()
                .collect(),
            AssignTarget::Workload(k) => advisor
                .cluster
                .by_id
                .get(&k.to_string())
                .map(|&i| Target::Workload(i))
                .into_iter()
                .collect(),
            // The cluster default reaches namespaces without their own.
            AssignTarget::Cluster => {
                let mut ns: Vec<&String> = advisor.cluster.namespace_labels.keys().collect();
                ns.sort();
                ns.into_iter()
                    .filter(|n| principal.sees(n))
                    .filter(|n| {
                        rules
                            .assigned(
                                &a.cluster,
                                &AssignTarget::Namespace((*n).clone()),
                                Mode::Enforce,
                            )
                            .is_none()
                    })
                    .map(|n| Target::Namespace(n.clone()))
                    .collect()
            }
        };
        if targets.is_empty() {
            continue;
        }
        let changes: Vec<Change> = targets
            .into_iter()
            .map(|target| Change::Assign {
                target,
                profile: profile.clone(),
                mode: Mode::Enforce,
            })
            .collect();
        let adv = advisor.clone();
        let who = principal.clone();
        let impact = tokio::task::spawn_blocking(move || {
            if who.scoped() {
                adv.what_if_in(&changes, &|ns| who.sees(ns))
            } else {
                adv.what_if(&changes)
            }
        })
        .await
        .map_err(|e| AppError::Internal(format!("the digest's what-if failed: {e}")))?;
        out.push(DigestEntry {
            assignment: a.clone(),
            snapshot: snapshot.id,
            rejected: impact
                .blocked
                .iter()
                .map(|f| DigestRejected {
                    workload: f.workload.clone(),
                    message: f.message.clone(),
                    violations: f
                        .containers
                        .iter()
                        .flat_map(|c| {
                            c.violations.iter().map(move |v| {
                                if c.name.is_empty() {
                                    format!("pod: {v}")
                                } else {
                                    format!("{}: {v}", c.name)
                                }
                            })
                        })
                        .collect(),
                })
                .collect(),
            broken_connections: impact.broken_connections.len(),
        });
    }
    Ok(out)
}

async fn api_digest(
    State(state): State<AppState>,
    principal: crate::auth::Principal,
) -> Result<axum::Json<Value>, ApiError> {
    let entries = digest_for(&state, &principal).await?;
    Ok(axum::Json(
        json!({ "total": entries.len(), "digest": entries }),
    ))
}

// ---------------------------------------------------------------------------------------------
// The Alerts page

/// One row (`partials/alert_row.html`), also answered alone after an
/// acknowledge through htmx.
#[derive(Template, WebTemplate)]
#[template(path = "partials/alert_row.html")]
pub struct AlertRow {
    pub a: Alert,
    /// Where the acknowledge form returns without JavaScript.
    pub back: String,
}

/// The live table (`partials/alert_table.html`).
#[derive(Template, WebTemplate)]
#[template(path = "partials/alert_table.html")]
pub struct AlertTable {
    pub params: AlertParams,
    pub rows: Vec<Alert>,
    pub total: i64,
    pub page: i64,
    pub pages: i64,
    pub back: String,
}

impl AlertTable {
    pub fn first_row(&self) -> i64 {
        (self.page - 1) * PER_PAGE + 1
    }
    pub fn last_row(&self) -> i64 {
        ((self.page - 1) * PER_PAGE + self.rows.len() as i64).max(0)
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "pages/alerts.html")]
pub struct AlertsPage {
    pub nav: Nav,
    pub table: AlertTable,
    pub namespaces: Vec<String>,
    pub controls: Vec<Control>,
    pub digest: Vec<DigestEntry>,
}

impl AlertsPage {
    pub fn state_options(&self) -> [(&'static str, &'static str); 5] {
        [
            ("", "open and acknowledged"),
            ("open", "open"),
            ("acknowledged", "acknowledged"),
            ("resolved", "resolved"),
            ("all", "all"),
        ]
    }
}

async fn table(
    state: &AppState,
    params: AlertParams,
    principal: &crate::auth::Principal,
) -> Result<AlertTable, AppError> {
    let to_app = |e: FieldError| AppError::BadRequest(e.message);
    let page = params.page_number().map_err(to_app)?;
    let mut q = params.query(&ACTIVE).map_err(to_app)?;
    q.scope = principal.namespaces.clone();
    q.limit = PER_PAGE;
    q.offset = (page - 1) * PER_PAGE;
    let (rows, total) = store::alerts::list(&state.pool, &q).await?;
    let pages = ((total + PER_PAGE - 1) / PER_PAGE).max(1);
    let back = params.url();
    Ok(AlertTable {
        params,
        rows,
        total,
        page,
        pages,
        back,
    })
}

async fn page(
    State(state): State<AppState>,
    principal: crate::auth::Principal,
    HxRequest(hx): HxRequest,
    Query(params): Query<AlertParams>,
) -> Result<Response, AppError> {
    let table = table(&state, params, &principal).await?;
    if hx {
        return Ok(table.into_response());
    }
    let snapshot = chosen_snapshot(&state.pool, None).await?;
    let digest = match digest_for(&state, &principal).await {
        Ok(d) => d,
        Err(e) => {
            tracing::error!(error = %e, "the digest could not be computed");
            Vec::new()
        }
    };
    Ok(AlertsPage {
        nav: Nav::new("alerts", &snapshot),
        namespaces: store::alerts::namespaces(&state.pool)
            .await?
            .into_iter()
            .filter(|ns| principal.sees(ns))
            .collect(),
        controls: Control::ALL.to_vec(),
        digest,
        table,
    }
    .into_response())
}

/// The acknowledge form: where to go back to.
#[derive(Debug, Default, Deserialize)]
struct AckForm {
    back: Option<String>,
}

/// Only pages of the Alerts list are returned to.
fn safe_back(back: Option<&str>) -> String {
    match back {
        Some(b) if b == "/alerts" || b.starts_with("/alerts?") => b.to_owned(),
        _ => "/alerts".to_owned(),
    }
}

async fn acknowledge_form(
    State(state): State<AppState>,
    p: Principal,
    HxRequest(hx): HxRequest,
    Path(raw): Path<String>,
    Form(form): Form<AckForm>,
) -> Result<Response, AppError> {
    let id = alert_id(&raw)?;
    in_scope(&state, &p, id).await?;
    let back = safe_back(form.back.as_deref());
    let by = if p.via == Via::Open {
        DASHBOARD_USER
    } else {
        p.user.as_str()
    };
    let alert = match store::alerts::acknowledge(&state.pool, id, by, crate::now_ms()).await {
        Ok(a) => {
            audit_ack(&state, &p, &a).await?;
            a
        }
        Err(AckError::NotFound(id)) => {
            return Err(AppError::NotFound(format!("There is no alert {id}.")));
        }
        // Resolved meanwhile: show it as it is now.
        Err(AckError::Resolved(id)) => match store::alerts::get(&state.pool, id).await? {
            Some(a) => a,
            None => return Err(AppError::NotFound(format!("There is no alert {id}."))),
        },
        Err(AckError::Db(e)) => return Err(e.into()),
    };
    if hx {
        return Ok(AlertRow { a: alert, back }.into_response());
    }
    Ok(Redirect::to(&back).into_response())
}

/// The workload page of an alert's workload.
pub fn workload_link(a: &Alert) -> Option<String> {
    let k = crate::model::WorkloadKey::parse(&a.workload)?;
    Some(super::workloads::workload_url(
        &k.namespace,
        &k.kind,
        &k.name,
    ))
}

/// The number of open alerts, for the Overview.
pub async fn open_count(
    state: &AppState,
    cluster: Option<&str>,
    principal: &crate::auth::Principal,
) -> Result<i64, AppError> {
    Ok(store::alerts::open_count_in(&state.pool, cluster, principal.namespaces.as_deref()).await?)
}
