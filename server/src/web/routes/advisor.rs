//! The policy advisor: `GET /api/v1/graph`, `POST /api/v1/what-if`, and the
//! Advisor page (graph, change form, impact).
//!
//! A snapshot never changes once written, so its [`Advisor`] (graph and
//! verdicts) is built once and kept in a small cache keyed by database file
//! and snapshot.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, LazyLock, Mutex};

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Query, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{SnapshotParam, chosen_snapshot};
use crate::AppState;
use crate::advisor::{Advisor, Change, Impact, Mode, Target};
use crate::policy::profiles::{CustomProfile, Profile, ProfileRef};
use crate::store;
use crate::store::snapshots::Snapshot;
use crate::web::{ApiError, AppError};

/// Routes under `/api/v1`.
pub fn api() -> Router<AppState> {
    Router::new()
        .route("/graph", get(graph))
        .route("/what-if", post(what_if))
}

// ---------------------------------------------------------------------------------------------
// The advisor of a snapshot, cached

type CacheKey = (PathBuf, i64, i64);
type Cache = Vec<(CacheKey, Arc<Advisor>)>;

/// Advisors of the snapshots asked about most recently (newest last).
static CACHE: LazyLock<Mutex<Cache>> = LazyLock::new(|| Mutex::new(Vec::new()));

const CACHED: usize = 4;

/// The advisor of `snapshot`, built on a blocking thread the first time.
pub async fn advisor_for(state: &AppState, snapshot: &Snapshot) -> Result<Arc<Advisor>, AppError> {
    let key: CacheKey = (
        state.pool.connect_options().get_filename().to_path_buf(),
        snapshot.id,
        snapshot.taken_at,
    );
    if let Some(a) = cache_get(&key) {
        return Ok(a);
    }
    let inventory = store::inventory::load(&state.pool, snapshot.id).await?;
    let advisor = tokio::task::spawn_blocking(move || Advisor::new(inventory))
        .await
        .map_err(|e| AppError::Internal(format!("building the graph failed: {e}")))?;
    let advisor = Arc::new(advisor);
    let mut cache = CACHE.lock().unwrap_or_else(|p| p.into_inner());
    cache.retain(|(k, _)| *k != key);
    cache.push((key, advisor.clone()));
    if cache.len() > CACHED {
        cache.remove(0);
    }
    Ok(advisor)
}

fn cache_get(key: &CacheKey) -> Option<Arc<Advisor>> {
    let mut cache = CACHE.lock().unwrap_or_else(|p| p.into_inner());
    let i = cache.iter().position(|(k, _)| k == key)?;
    let entry = cache.remove(i);
    let advisor = entry.1.clone();
    cache.push(entry);
    Some(advisor)
}

// ---------------------------------------------------------------------------------------------
// GET /api/v1/graph

async fn graph(
    State(state): State<AppState>,
    Query(sp): Query<SnapshotParam>,
) -> Result<Json<Value>, ApiError> {
    let Some(snapshot) = chosen_snapshot(&state.pool, sp.snapshot).await? else {
        return Ok(Json(json!({ "snapshot": null, "nodes": [], "edges": [] })));
    };
    let advisor = advisor_for(&state, &snapshot).await?;
    let g = advisor.graph_json();
    Ok(Json(json!({
        "snapshot": snapshot.id,
        "nodes": g.nodes,
        "edges": g.edges,
    })))
}

// ---------------------------------------------------------------------------------------------
// POST /api/v1/what-if

/// A what-if request, as JSON (see DESIGN.md).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WhatIfRequest {
    pub changes: Vec<ChangeRequest>,
}

/// One change: exactly one of its members.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChangeRequest {
    #[serde(default)]
    pub assign: Option<AssignRequest>,
    #[serde(default)]
    pub network_policy: Option<PolicyRequest>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssignRequest {
    /// `namespace/<name>` or `workload/<namespace>/<Kind>/<name>`.
    pub target: String,
    pub profile: String,
    pub mode: Mode,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyRequest {
    /// A NetworkPolicy as YAML (or JSON).
    #[serde(default)]
    pub apply: Option<String>,
    /// `namespace/name` of a NetworkPolicy of the snapshot.
    #[serde(default)]
    pub remove: Option<String>,
}

/// A request the what-if cannot answer: which field, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub status: StatusCode,
    /// `changes[0].assign.profile`; empty for the body as a whole.
    pub field: String,
    pub message: String,
}

impl FieldError {
    fn unprocessable(field: impl Into<String>, message: impl Into<String>) -> FieldError {
        FieldError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            field: field.into(),
            message: message.into(),
        }
    }
}

/// The API's error shape, `{"error": …}`, with the field when there is one.
impl IntoResponse for FieldError {
    fn into_response(self) -> Response {
        tracing::debug!(field = %self.field, error = %self.message, "what-if rejected");
        let mut body = json!({ "error": self.message });
        if !self.field.is_empty() {
            body["field"] = json!(self.field);
        }
        (self.status, Json(body)).into_response()
    }
}

/// A JSON body whose rejections (not JSON, wrong content type) answer in the
/// API's error shape rather than axum's plain text.
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    Json<T>: FromRequest<S, Rejection = JsonRejection>,
    S: Send + Sync,
{
    type Rejection = FieldError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(ApiJson(v)),
            Err(rejection) => Err(FieldError {
                status: match rejection {
                    JsonRejection::MissingJsonContentType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    JsonRejection::JsonDataError(_) => StatusCode::UNPROCESSABLE_ENTITY,
                    _ => StatusCode::BAD_REQUEST,
                },
                field: String::new(),
                message: match rejection {
                    JsonRejection::MissingJsonContentType(_) => {
                        "Send the request as JSON (Content-Type: application/json).".to_owned()
                    }
                    other => format!("The body is not valid JSON: {}", other.body_text()),
                },
            }),
        }
    }
}

/// Reads the request's shape, naming the field that is wrong.
pub fn parse_request(body: Value) -> Result<WhatIfRequest, FieldError> {
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

/// Custom profiles by name, as the request needs them.
pub type CustomProfiles = HashMap<String, CustomProfile>;

/// Loads the custom profiles a request names (presets and levels need nothing).
pub async fn custom_profiles(
    pool: &sqlx::SqlitePool,
    req: &WhatIfRequest,
) -> Result<CustomProfiles, AppError> {
    let mut out = CustomProfiles::new();
    for c in &req.changes {
        let Some(a) = &c.assign else { continue };
        if let Ok(ProfileRef::Custom(name)) = ProfileRef::parse(&a.profile)
            && !out.contains_key(&name)
            && let Some(stored) = store::profiles::get(pool, &name).await?
        {
            out.insert(name, stored.profile);
        }
    }
    Ok(out)
}

/// Turns a request into changes of `advisor`'s snapshot, checking that
/// targets, profiles and policies exist and that YAML parses.
pub fn to_changes(
    advisor: &Advisor,
    req: &WhatIfRequest,
    custom: &CustomProfiles,
) -> Result<Vec<Change>, FieldError> {
    let mut out = Vec::with_capacity(req.changes.len());
    for (i, c) in req.changes.iter().enumerate() {
        let at = format!("changes[{i}]");
        match (&c.assign, &c.network_policy) {
            (Some(a), None) => out.push(assign(advisor, a, &format!("{at}.assign"), custom)?),
            (None, Some(p)) => out.push(policy_change(advisor, p, &format!("{at}.networkPolicy"))?),
            _ => {
                return Err(FieldError::unprocessable(
                    at.clone(),
                    format!(
                        "{at}: a change is exactly one of {{\"assign\": {{…}}}} or {{\"networkPolicy\": {{\"apply\" | \"remove\": …}}}}"
                    ),
                ));
            }
        }
    }
    Ok(out)
}

fn assign(
    advisor: &Advisor,
    a: &AssignRequest,
    at: &str,
    custom: &CustomProfiles,
) -> Result<Change, FieldError> {
    let target_field = format!("{at}.target");
    let target = if let Some(ns) = a.target.strip_prefix("namespace/") {
        if !advisor.cluster.namespace_labels.contains_key(ns) {
            return Err(FieldError::unprocessable(
                target_field.clone(),
                format!("{target_field}: there is no namespace {ns:?} in this snapshot"),
            ));
        }
        Target::Namespace(ns.to_owned())
    } else if let Some(id) = a.target.strip_prefix("workload/") {
        match advisor.cluster.by_id.get(id) {
            Some(&i) => Target::Workload(i),
            None => {
                return Err(FieldError::unprocessable(
                    target_field.clone(),
                    format!(
                        "{target_field}: there is no workload {id:?} in this snapshot (write namespace/Kind/name)"
                    ),
                ));
            }
        }
    } else {
        return Err(FieldError::unprocessable(
            target_field.clone(),
            format!(
                "{target_field}: {:?} is neither namespace/<name> nor workload/<namespace>/<Kind>/<name>",
                a.target
            ),
        ));
    };
    let profile_field = format!("{at}.profile");
    let profile = resolve_profile(&a.profile, custom).map_err(|e| {
        FieldError::unprocessable(profile_field.clone(), format!("{profile_field}: {e}"))
    })?;
    Ok(Change::Assign {
        target,
        profile,
        mode: a.mode,
    })
}

/// The one place a profile name becomes a profile for the advisor: a level
/// (`restricted`, `baseline:v1.30`), a preset (`strict`, `node-agent`) or a
/// custom profile of the database.
fn resolve_profile(name: &str, custom: &CustomProfiles) -> Result<Profile, String> {
    ProfileRef::parse(name)
        .and_then(|r| r.resolve(|n| custom.get(n).cloned()))
        .map_err(|e| e.to_string())
}

fn policy_change(advisor: &Advisor, p: &PolicyRequest, at: &str) -> Result<Change, FieldError> {
    match (&p.apply, &p.remove) {
        (Some(yaml), None) => {
            let field = format!("{at}.apply");
            parse_policy(yaml, &field).map(|p| Change::ApplyPolicy(Box::new(p)))
        }
        (None, Some(id)) => {
            let field = format!("{at}.remove");
            if !advisor.policies.contains(id) {
                return Err(FieldError::unprocessable(
                    field.clone(),
                    format!(
                        "{field}: there is no NetworkPolicy {id:?} in this snapshot (write namespace/name)"
                    ),
                ));
            }
            Ok(Change::RemovePolicy(id.clone()))
        }
        _ => Err(FieldError::unprocessable(
            at.to_owned(),
            format!("{at}: give exactly one of \"apply\" (YAML) or \"remove\" (namespace/name)"),
        )),
    }
}

/// Exactly one NetworkPolicy, read as the manifest loader reads files.
pub fn parse_policy(
    yaml: &str,
    field: &str,
) -> Result<crate::model::NetworkPolicyObject, FieldError> {
    let mut inv = crate::model::Inventory::default();
    crate::ingest::manifests::load_str("policy.yaml", yaml, &mut inv);
    if let Some(e) = inv.errors.first() {
        let mut at = String::new();
        if let Some(line) = e.line {
            at = format!(" (line {line})");
        }
        return Err(FieldError::unprocessable(
            field,
            format!(
                "{field}: the NetworkPolicy does not parse{at}: {}",
                e.message
            ),
        ));
    }
    let others = inv.workloads.len()
        + inv.services.len()
        + inv.namespaces.len()
        + inv.config_maps.len()
        + inv.skipped.values().sum::<usize>();
    if inv.network_policies.len() != 1 || others > 0 {
        let mut kinds: Vec<String> = inv.skipped.keys().cloned().collect();
        for (n, kind) in [
            (inv.workloads.len(), "workload"),
            (inv.services.len(), "Service"),
            (inv.namespaces.len(), "Namespace"),
            (inv.config_maps.len(), "ConfigMap"),
            (inv.network_policies.len(), "NetworkPolicy"),
        ] {
            if n > 0 {
                kinds.push(format!("{n} × {kind}"));
            }
        }
        let found = if kinds.is_empty() {
            "nothing".to_owned()
        } else {
            kinds.join(", ")
        };
        return Err(FieldError::unprocessable(
            field,
            format!(
                "{field}: expected exactly one NetworkPolicy (networking.k8s.io/v1), found {found}"
            ),
        ));
    }
    Ok(inv.network_policies.remove(0))
}

async fn what_if(
    State(state): State<AppState>,
    Query(sp): Query<SnapshotParam>,
    ApiJson(body): ApiJson<Value>,
) -> Result<Json<Impact>, Response> {
    let req = parse_request(body).map_err(IntoResponse::into_response)?;
    let Some(snapshot) = chosen_snapshot(&state.pool, sp.snapshot)
        .await
        .map_err(|e| ApiError(e).into_response())?
    else {
        return Err(ApiError(AppError::NotFound(
            "No snapshot has been taken yet: there is nothing to preview against.".into(),
        ))
        .into_response());
    };
    let advisor = advisor_for(&state, &snapshot)
        .await
        .map_err(|e| ApiError(e).into_response())?;
    let custom = custom_profiles(&state.pool, &req)
        .await
        .map_err(|e| ApiError(e).into_response())?;
    let changes = to_changes(&advisor, &req, &custom).map_err(IntoResponse::into_response)?;
    Ok(Json(advisor.what_if(&changes)))
}
