//! The policy advisor: `GET /api/v1/graph`, `POST /api/v1/what-if`, and the
//! Advisor page (graph, change form, impact).
//!
//! A snapshot never changes once written, so its [`Advisor`] (graph and
//! verdicts) is built once and kept in a small cache keyed by database file
//! and snapshot.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, LazyLock, Mutex};

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Form, FromRequest, Query, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use axum_htmx::HxRequest;
use serde::Deserialize;
use serde_json::{Value, json};

use super::workloads::workload_url;
use super::{Nav, SnapshotParam, chosen_snapshot};
use crate::AppState;
use crate::advisor::EXTERNAL;
use crate::advisor::graph::EdgeJson;
use crate::advisor::{Advisor, Change, Impact, Mode, Target};
use crate::auth::Principal;
use crate::policy::profiles::{CustomProfile, Profile, ProfileRef};
use crate::store;
use crate::store::snapshots::Snapshot;
use crate::web::{ApiError, AppError};

/// The Advisor page.
pub fn router() -> Router<AppState> {
    Router::new().route("/advisor", get(page).post(preview))
}

/// Routes under `/api/v1`.
pub fn api() -> Router<AppState> {
    Router::new()
        .route("/graph", get(graph))
        .route("/what-if", post(what_if))
        .route("/flows", post(import_flows))
}

// ---------------------------------------------------------------------------------------------
// The advisor of a snapshot, cached

/// Database file, snapshot id and time, rules generation, and the minute
/// when exemptions exist (they expire by themselves).
type CacheKey = (PathBuf, i64, i64, u64, i64);
type Cache = Vec<(CacheKey, Arc<Advisor>)>;

/// Advisors of the snapshots asked about most recently (newest last).
static CACHE: LazyLock<Mutex<Cache>> = LazyLock::new(|| Mutex::new(Vec::new()));

const CACHED: usize = 4;

/// The advisor of `snapshot`, built on a blocking thread the first time.
pub async fn advisor_for(state: &AppState, snapshot: &Snapshot) -> Result<Arc<Advisor>, AppError> {
    let rules = state.rules.get();
    let now = crate::now_ms();
    let key = cache_key(state, snapshot, &rules, now);
    if let Some(a) = cache_get(&key) {
        return Ok(a);
    }
    let same_snapshot = {
        let cache = CACHE.lock().unwrap_or_else(|p| p.into_inner());
        cache
            .iter()
            .rev()
            .find(|(k, _)| k.0 == key.0 && k.1 == key.1 && k.2 == key.2)
            .map(|(_, a)| a.clone())
    };
    let advisor = if let Some(old) = same_snapshot {
        tokio::task::spawn_blocking(move || old.with_rules(rules, now)).await
    } else {
        let inventory = store::inventory::load(&state.pool, snapshot.id).await?;
        let observed = store::inventory::flows(&state.pool, snapshot.id).await?;
        let cluster = snapshot.cluster.clone();
        tokio::task::spawn_blocking(move || {
            Advisor::build(inventory, &observed, rules, cluster, now)
        })
        .await
    }
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

/// Forgets every advisor of a snapshot (its flows changed).
fn cache_forget(state: &AppState, snapshot: &Snapshot) {
    let file = state.pool.connect_options().get_filename().to_path_buf();
    let mut cache = CACHE.lock().unwrap_or_else(|p| p.into_inner());
    cache.retain(|(k, _)| !(k.0 == file && k.1 == snapshot.id));
}

fn cache_key(
    state: &AppState,
    snapshot: &Snapshot,
    rules: &crate::policy::assignments::Rules,
    now: i64,
) -> CacheKey {
    (
        state.pool.connect_options().get_filename().to_path_buf(),
        snapshot.id,
        snapshot.taken_at,
        rules.generation,
        if rules.exemptions.is_empty() {
            0
        } else {
            now / 60_000
        },
    )
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
    principal: crate::auth::Principal,
    Query(sp): Query<SnapshotParam>,
) -> Result<Json<Value>, ApiError> {
    let Some(snapshot) = chosen_snapshot(&state.pool, sp.id(&state.pool).await?).await? else {
        return Ok(Json(json!({ "snapshot": null, "nodes": [], "edges": [] })));
    };
    let advisor = advisor_for(&state, &snapshot).await?;
    let g = scoped_graph(&advisor, &principal);
    Ok(Json(json!({
        "snapshot": snapshot.id,
        "nodes": g.nodes,
        "edges": g.edges,
    })))
}

/// The user of the request being answered (outside a request: everyone).
fn asker() -> crate::auth::Principal {
    crate::auth::current()
        .principal
        .unwrap_or_else(crate::auth::Principal::open)
}

/// The graph as `principal` sees it: only their namespaces' workloads; the
/// far end of a connection into another namespace is "another namespace"
/// (see [`crate::advisor::graph::GraphJson::scoped`]).
pub fn scoped_graph(
    advisor: &Advisor,
    principal: &crate::auth::Principal,
) -> crate::advisor::GraphJson {
    let g = advisor.graph_json();
    if principal.scoped() {
        g.scoped(&|ns| principal.sees(ns))
    } else {
        g
    }
}

/// The what-if's impact as `principal` sees it (see
/// [`crate::advisor::what_if::what_if_in`]).
fn impact_for(
    advisor: &Advisor,
    changes: &[crate::advisor::Change],
    principal: &crate::auth::Principal,
) -> Impact {
    if principal.scoped() {
        advisor.what_if_in(changes, &|ns| principal.sees(ns))
    } else {
        advisor.what_if(changes)
    }
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
    #[serde(default)]
    pub adjust: Option<AdjustRequest>,
}

/// Tighten (`allow: false`) or loosen (`allow: true`) one control of a
/// profile, for every workload that profile applies to now.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdjustRequest {
    pub profile: String,
    /// A control slug (`privileged`, `capabilities`, …).
    pub control: String,
    pub allow: bool,
    /// A capability, volume type or host path prefix, for the controls that take one.
    #[serde(default)]
    pub value: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssignRequest {
    /// `cluster`, `namespace/<name>` or `workload/<namespace>/<Kind>/<name>`.
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
    pub fn unprocessable(field: impl Into<String>, message: impl Into<String>) -> FieldError {
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
    let names = req.changes.iter().filter_map(|c| {
        c.assign
            .as_ref()
            .map(|a| &a.profile)
            .or(c.adjust.as_ref().map(|a| &a.profile))
    });
    for profile in names {
        if let Ok(ProfileRef::Custom(name)) = ProfileRef::parse(profile)
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
        match (&c.assign, &c.network_policy, &c.adjust) {
            (Some(a), None, None) => out.push(assign(advisor, a, &format!("{at}.assign"), custom)?),
            (None, Some(p), None) => {
                out.push(policy_change(advisor, p, &format!("{at}.networkPolicy"))?)
            }
            (None, None, Some(a)) => out.push(adjust(a, &format!("{at}.adjust"), custom)?),
            _ => {
                return Err(FieldError::unprocessable(
                    at.clone(),
                    format!(
                        "{at}: a change is exactly one of {{\"assign\": {{…}}}}, {{\"networkPolicy\": {{\"apply\" | \"remove\": …}}}} or {{\"adjust\": {{…}}}}"
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
    // A namespace the user may not see is answered as one that does not exist.
    let viewer = crate::auth::viewer();
    let target = if a.target == "cluster" {
        Target::Cluster
    } else if let Some(ns) = a.target.strip_prefix("namespace/") {
        if !advisor.cluster.namespace_labels.contains_key(ns) || !viewer.sees(ns) {
            return Err(FieldError::unprocessable(
                target_field.clone(),
                format!("{target_field}: there is no namespace {ns:?} in this snapshot"),
            ));
        }
        Target::Namespace(ns.to_owned())
    } else if let Some(id) = a.target.strip_prefix("workload/") {
        let seen = id.split('/').next().is_some_and(|ns| viewer.sees(ns));
        match advisor.cluster.by_id.get(id).filter(|_| seen) {
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
                "{target_field}: {:?} is neither cluster, namespace/<name> nor workload/<namespace>/<Kind>/<name>",
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

fn adjust(a: &AdjustRequest, at: &str, custom: &CustomProfiles) -> Result<Change, FieldError> {
    use crate::policy::profiles::adjust::{Adjustment, adjust};
    let profile_field = format!("{at}.profile");
    let profile = resolve_profile(&a.profile, custom).map_err(|e| {
        FieldError::unprocessable(profile_field.clone(), format!("{profile_field}: {e}"))
    })?;
    let control_field = format!("{at}.control");
    let Some(control) = crate::model::Control::from_slug(a.control.trim()) else {
        return Err(FieldError::unprocessable(
            control_field.clone(),
            format!("{control_field}: {:?} is not a control slug", a.control),
        ));
    };
    let adjustment = Adjustment {
        control,
        allow: a.allow,
        value: a.value.clone(),
    };
    let adjusted = adjust(&profile, &adjustment).map_err(|e| {
        let field = format!("{at}.{}", e.field);
        FieldError::unprocessable(field.clone(), format!("{field}: {}", e.message))
    })?;
    Ok(Change::Adjust {
        from: profile.name,
        profile: adjusted,
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
    principal: crate::auth::Principal,
    Query(sp): Query<SnapshotParam>,
    ApiJson(body): ApiJson<Value>,
) -> Result<Json<Impact>, Response> {
    let req = parse_request(body).map_err(IntoResponse::into_response)?;
    let id = sp
        .id(&state.pool)
        .await
        .map_err(|e| ApiError(e).into_response())?;
    let Some(snapshot) = chosen_snapshot(&state.pool, id)
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
    Ok(Json(impact_for(&advisor, &changes, &principal)))
}

// ---------------------------------------------------------------------------------------------
// The Advisor page

/// Rows of the connection table per page.
pub const ROWS_PER_PAGE: usize = 50;

/// The connection table's state, as it appears in the URL.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct TableParams {
    pub snapshot: Option<String>,
    /// The newest snapshot of this cluster (when no snapshot is given).
    pub cluster: Option<String>,
    /// Connections with an end in this namespace.
    pub namespace: Option<String>,
    /// `allowed` or `denied`.
    pub verdict: Option<String>,
    /// `from`, `to`, `port` or `verdict`.
    pub sort: Option<String>,
    pub page: Option<String>,
}

use super::filled;

impl TableParams {
    fn snapshot_id(&self) -> Result<Option<i64>, AppError> {
        filled(&self.snapshot)
            .map(|s| {
                s.parse::<i64>().map_err(|_| {
                    AppError::BadRequest(format!("snapshot must be a number, not {s:?}"))
                })
            })
            .transpose()
    }

    pub fn url(&self) -> String {
        super::url_with(
            "/advisor",
            &[
                ("snapshot", &self.snapshot),
                ("cluster", &self.cluster),
                ("namespace", &self.namespace),
                ("verdict", &self.verdict),
                ("sort", &self.sort),
                ("page", &self.page),
            ],
        )
    }

    pub fn sort_url(&self, key: &str) -> String {
        TableParams {
            sort: Some(key.to_owned()),
            page: None,
            ..self.clone()
        }
        .url()
    }

    pub fn page_url(&self, page: usize) -> String {
        TableParams {
            page: Some(page.to_string()),
            ..self.clone()
        }
        .url()
    }

    pub fn sort_key(&self) -> &str {
        filled(&self.sort).unwrap_or("from")
    }

    pub fn aria_sort(&self, key: &str) -> &'static str {
        if self.sort_key() == key {
            "ascending"
        } else {
            "none"
        }
    }

    pub fn is(&self, field: &Option<String>, v: &str) -> bool {
        filled(field) == Some(v)
    }
}

/// One row of the connection table.
pub struct ConnectionRow {
    pub edge: EdgeJson,
    /// Link to the source's workload page (none for `external`).
    pub from_url: Option<String>,
    pub to_url: Option<String>,
}

/// The connection table (partial): every connection, readable without JavaScript.
#[derive(Template, WebTemplate)]
#[template(path = "partials/advisor_connections.html")]
pub struct ConnectionTable {
    pub params: TableParams,
    pub rows: Vec<ConnectionRow>,
    pub total: usize,
    pub page: usize,
    pub pages: usize,
    pub namespaces: Vec<String>,
}

impl ConnectionTable {
    pub fn first_row(&self) -> usize {
        if self.total == 0 {
            0
        } else {
            (self.page - 1) * ROWS_PER_PAGE + 1
        }
    }
    pub fn last_row(&self) -> usize {
        (self.first_row() + self.rows.len()).saturating_sub(1)
    }
}

fn node_url(id: &str, snapshot_query: &str) -> Option<String> {
    if id == EXTERNAL {
        return None;
    }
    let k = crate::model::WorkloadKey::parse(id)?;
    Some(format!(
        "{}{snapshot_query}",
        workload_url(&k.namespace, &k.kind, &k.name)
    ))
}

fn connection_table(
    advisor: &Advisor,
    params: TableParams,
    explicit: Option<i64>,
) -> Result<ConnectionTable, AppError> {
    let who = asker();
    let g = scoped_graph(advisor, &who);
    let ns = filled(&params.namespace).map(str::to_owned);
    let verdict = match filled(&params.verdict) {
        None => None,
        Some("allowed") => Some(true),
        Some("denied") => Some(false),
        Some(other) => {
            return Err(AppError::BadRequest(format!(
                "verdict must be allowed or denied, not {other:?}"
            )));
        }
    };
    let in_ns = |id: &str| {
        ns.as_deref()
            .is_none_or(|ns| id.split('/').next() == Some(ns))
    };
    let mut edges: Vec<EdgeJson> = g
        .edges
        .into_iter()
        .filter(|e| ns.is_none() || in_ns(&e.from) || in_ns(&e.to))
        .filter(|e| verdict.is_none_or(|v| e.allowed == v))
        .collect();
    match params.sort_key() {
        "from" => {}
        "to" => edges.sort_by(|a, b| (&a.to, &a.from, a.port).cmp(&(&b.to, &b.from, b.port))),
        "port" => edges.sort_by(|a, b| (a.port, &a.from, &a.to).cmp(&(b.port, &b.from, &b.to))),
        "verdict" => edges.sort_by_key(|e| e.allowed),
        other => {
            return Err(AppError::BadRequest(format!(
                "sort must be from, to, port or verdict, not {other:?}"
            )));
        }
    }
    let total = edges.len();
    let pages = total.div_ceil(ROWS_PER_PAGE).max(1);
    let page = match filled(&params.page) {
        None => 1,
        Some(p) => match p.parse::<usize>() {
            Ok(n) if n >= 1 => n.min(pages),
            _ => {
                return Err(AppError::BadRequest(format!(
                    "page must be a positive number, not {p:?}"
                )));
            }
        },
    };
    let q = explicit
        .map(|id| format!("?snapshot={id}"))
        .unwrap_or_default();
    let rows = edges
        .into_iter()
        .skip((page - 1) * ROWS_PER_PAGE)
        .take(ROWS_PER_PAGE)
        .map(|edge| ConnectionRow {
            from_url: node_url(&edge.from, &q),
            to_url: node_url(&edge.to, &q),
            edge,
        })
        .collect();
    Ok(ConnectionTable {
        params,
        rows,
        total,
        page,
        pages,
        namespaces: namespaces(advisor),
    })
}

/// The snapshot's namespaces the user of the request sees.
fn namespaces(advisor: &Advisor) -> Vec<String> {
    let who = asker();
    let mut v: Vec<String> = advisor
        .cluster
        .namespace_labels
        .keys()
        .filter(|ns| who.sees(ns))
        .cloned()
        .collect();
    v.sort();
    v
}

/// The change form's fields (all optional; empty means "not part of the change").
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ChangeForm {
    pub snapshot: Option<String>,
    /// `namespace/<name>` or `workload/<id>`.
    pub target: Option<String>,
    pub profile: Option<String>,
    pub mode: Option<String>,
    /// NetworkPolicy YAML to apply.
    pub apply: Option<String>,
    /// `namespace/name` of a NetworkPolicy to remove.
    pub remove: Option<String>,
    /// The profile one control of which to tighten or loosen.
    pub adjust_profile: Option<String>,
    /// A control slug; empty: no adjustment.
    pub adjust_control: Option<String>,
    /// `tighten` or `loosen`.
    pub adjust_allow: Option<String>,
    pub adjust_value: Option<String>,
}

impl ChangeForm {
    /// The same request the JSON API takes, or the field that is wrong.
    fn request(&self) -> Result<WhatIfRequest, FieldError> {
        let mut changes = Vec::new();
        if let Some(target) = filled(&self.target) {
            let mode = match filled(&self.mode).unwrap_or("enforce") {
                "enforce" => Mode::Enforce,
                "warn" => Mode::Warn,
                "audit" => Mode::Audit,
                other => {
                    return Err(FieldError::unprocessable(
                        "mode",
                        format!("mode must be enforce, warn or audit, not {other:?}"),
                    ));
                }
            };
            changes.push(ChangeRequest {
                assign: Some(AssignRequest {
                    target: target.to_owned(),
                    profile: filled(&self.profile).unwrap_or("restricted").to_owned(),
                    mode,
                }),
                network_policy: None,
                adjust: None,
            });
        }
        if let Some(yaml) = filled(&self.apply) {
            changes.push(ChangeRequest {
                assign: None,
                network_policy: Some(PolicyRequest {
                    apply: Some(yaml.to_owned()),
                    remove: None,
                }),
                adjust: None,
            });
        }
        if let Some(id) = filled(&self.remove) {
            changes.push(ChangeRequest {
                assign: None,
                network_policy: Some(PolicyRequest {
                    apply: None,
                    remove: Some(id.to_owned()),
                }),
                adjust: None,
            });
        }
        if let Some(control) = filled(&self.adjust_control) {
            let allow = match filled(&self.adjust_allow).unwrap_or("tighten") {
                "tighten" => false,
                "loosen" => true,
                other => {
                    return Err(FieldError::unprocessable(
                        "changes[0].adjust.allow",
                        format!("choose tighten or loosen, not {other:?}"),
                    ));
                }
            };
            changes.push(ChangeRequest {
                assign: None,
                network_policy: None,
                adjust: Some(AdjustRequest {
                    profile: filled(&self.adjust_profile)
                        .unwrap_or("restricted")
                        .to_owned(),
                    control: control.to_owned(),
                    allow,
                    value: filled(&self.adjust_value).map(str::to_owned),
                }),
            });
        }
        if changes.is_empty() {
            return Err(FieldError::unprocessable(
                "target",
                "Choose a namespace or workload and a profile, give a NetworkPolicy to apply or remove, or adjust one control of a profile.",
            ));
        }
        Ok(WhatIfRequest { changes })
    }

    pub fn value<'a>(&'a self, v: &'a Option<String>) -> &'a str {
        v.as_deref().unwrap_or("")
    }

    pub fn is(&self, field: &Option<String>, v: &str) -> bool {
        filled(field) == Some(v)
    }

    /// The mode chosen (enforce when none).
    pub fn mode_is(&self, m: &str) -> bool {
        filled(&self.mode).unwrap_or("enforce") == m
    }

    /// The profile chosen (restricted when none).
    pub fn profile_is(&self, p: &str) -> bool {
        filled(&self.profile).unwrap_or("restricted") == p
    }

    /// What the change is, in words.
    fn summary(&self) -> String {
        let mut parts = Vec::new();
        if let Some(t) = filled(&self.target) {
            parts.push(format!(
                "{} {} on {}",
                filled(&self.profile).unwrap_or("restricted"),
                filled(&self.mode).unwrap_or("enforce"),
                t
            ));
        }
        if filled(&self.apply).is_some() {
            parts.push("apply the NetworkPolicy".to_owned());
        }
        if let Some(r) = filled(&self.remove) {
            parts.push(format!("remove NetworkPolicy {r}"));
        }
        if let Some(c) = filled(&self.adjust_control) {
            parts.push(format!(
                "{} {c}{} in {}",
                filled(&self.adjust_allow).unwrap_or("tighten"),
                filled(&self.adjust_value)
                    .map(|v| format!(" {v}"))
                    .unwrap_or_default(),
                filled(&self.adjust_profile).unwrap_or("restricted")
            ));
        }
        parts.join("; ")
    }
}

/// A form field's error, as the page shows it.
pub struct FormError {
    /// The form control it belongs to (`target`, `profile`, `mode`, `apply`, `remove`, `adjust`).
    pub control: &'static str,
    pub message: String,
}

impl FormError {
    fn from(e: FieldError) -> FormError {
        let last = e.field.rsplit('.').next().unwrap_or("");
        let control = match last {
            _ if e.field.contains(".adjust") || e.field.starts_with("adjust") => "adjust",
            "profile" => "profile",
            "mode" => "mode",
            "apply" => "apply",
            "remove" => "remove",
            _ => "target",
        };
        // Drop the API's `changes[0].assign.target: ` prefix: the page points at the control.
        let message = match e.message.split_once(": ") {
            Some((field, rest)) if field == e.field => rest.to_owned(),
            _ => e.message,
        };
        FormError { control, message }
    }
}

/// The impact panel (partial), swapped in after a preview.
#[derive(Template, WebTemplate)]
#[template(path = "partials/advisor_impact.html")]
pub struct ImpactPanel {
    pub impact: Option<Impact>,
    pub summary: String,
    pub error: Option<FormError>,
    pub snapshot_query: String,
    /// The confirm step of the previewed assignment, when every change is one.
    pub apply_url: Option<String>,
    /// The preview holds NetworkPolicy changes, which Portcullis cannot apply.
    pub policy_note: bool,
}

/// At most this many items of each impact list are shown (the API has them all).
pub const SHOWN: usize = 200;

impl ImpactPanel {
    fn empty() -> ImpactPanel {
        ImpactPanel {
            impact: None,
            summary: String::new(),
            error: None,
            snapshot_query: String::new(),
            apply_url: None,
            policy_note: false,
        }
    }

    pub fn url(&self, id: &str) -> String {
        node_url(id, &self.snapshot_query).unwrap_or_default()
    }

    /// For the graph: JSON lists the script reads from the panel's data attributes.
    pub fn data(&self, what: &str) -> String {
        let Some(i) = &self.impact else {
            return "[]".to_owned();
        };
        let v = match what {
            "blocked" => json!(i.blocked.iter().map(|b| &b.workload).collect::<Vec<_>>()),
            "warned" => json!(i.warnings.iter().map(|b| &b.workload).collect::<Vec<_>>()),
            "downstream" => json!(i.downstream.iter().map(|d| &d.workload).collect::<Vec<_>>()),
            "broken" => json!(
                i.broken_connections
                    .iter()
                    .map(|b| json!([b.from, b.to, b.port, b.protocol]))
                    .collect::<Vec<_>>()
            ),
            _ => json!([]),
        };
        v.to_string()
    }

    pub fn more(&self, n: usize) -> usize {
        n.saturating_sub(SHOWN)
    }
}

/// An option of the target list.
pub struct TargetOption {
    pub value: String,
    pub label: String,
    /// The namespace or workload id alone.
    pub id: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "pages/advisor.html")]
pub struct AdvisorPage {
    pub nav: Nav,
    pub snapshot_id: Option<i64>,
    pub graph_url: String,
    pub form: ChangeForm,
    pub namespace_targets: Vec<TargetOption>,
    pub workload_targets: Vec<(String, Vec<TargetOption>)>,
    pub levels: Vec<String>,
    pub presets: Vec<(&'static str, &'static str)>,
    pub custom: Vec<String>,
    pub policies: Vec<String>,
    /// Controls the adjust change supports: (slug, title).
    pub adjustable: Vec<(&'static str, &'static str)>,
    pub impact: ImpactPanel,
    pub table: ConnectionTable,
    pub nodes: usize,
    pub edges: usize,
}

impl AdvisorPage {
    pub fn error_for(&self, control: &str) -> Option<&str> {
        self.impact
            .error
            .as_ref()
            .filter(|e| e.control == control)
            .map(|e| e.message.as_str())
    }
}

async fn build_page(
    state: &AppState,
    snapshot: Option<Snapshot>,
    explicit: Option<i64>,
    advisor: Option<Arc<Advisor>>,
    form: ChangeForm,
    impact: ImpactPanel,
    params: TableParams,
) -> Result<AdvisorPage, AppError> {
    let custom = store::profiles::list(&state.pool)
        .await?
        .into_iter()
        .map(|p| p.profile.name)
        .collect();
    let empty = Advisor::new(crate::model::Inventory::default());
    let a: &Advisor = advisor.as_deref().unwrap_or(&empty);
    let table = connection_table(a, params, explicit)?;
    let namespace_targets = namespaces(a)
        .into_iter()
        .map(|ns| {
            let labels = &a.cluster.namespace_labels[&ns];
            let enforce = crate::advisor::profile::from_namespace_labels(labels, "enforce")
                .map(|p| format!(" (enforces {})", p.name))
                .unwrap_or_default();
            TargetOption {
                value: format!("namespace/{ns}"),
                label: format!("namespace {ns}{enforce}"),
                id: ns,
            }
        })
        .collect();
    let mut workload_targets: Vec<(String, Vec<TargetOption>)> = Vec::new();
    let who = asker();
    let mut ids: Vec<&String> = a
        .cluster
        .by_id
        .keys()
        .filter(|id| id.split_once('/').is_some_and(|(ns, _)| who.sees(ns)))
        .collect();
    ids.sort();
    for id in ids {
        let ns = id.split('/').next().unwrap_or("").to_owned();
        let opt = TargetOption {
            value: format!("workload/{id}"),
            label: id
                .split_once('/')
                .map_or(id.as_str(), |(_, rest)| rest)
                .to_owned(),
            id: id.clone(),
        };
        match workload_targets.last_mut() {
            Some((n, list)) if *n == ns => list.push(opt),
            _ => workload_targets.push((ns, vec![opt])),
        }
    }
    let (nodes, edges) = if who.scoped() {
        let shown = scoped_graph(a, &who);
        (shown.nodes.len(), shown.edges.len())
    } else {
        (a.graph.graph.node_count(), a.graph.graph.edge_count())
    };
    let q = explicit
        .map(|id| format!("?snapshot={id}"))
        .unwrap_or_default();
    Ok(AdvisorPage {
        nav: Nav::new("advisor", &snapshot).pin(explicit),
        snapshot_id: explicit,
        graph_url: format!("/api/v1/graph{q}"),
        form,
        namespace_targets,
        workload_targets,
        levels: ["restricted", "baseline", "privileged"]
            .iter()
            .map(|l| format!("{l}:latest"))
            .collect(),
        presets: crate::policy::profiles::PRESETS
            .iter()
            .filter(|p| p.level.is_none() || p.psp_yaml.is_some())
            .map(|p| (p.id, p.title))
            .collect(),
        custom,
        policies: a
            .policies
            .all()
            .map(|p| p.id.to_string())
            .filter(|id| id.split_once('/').is_none_or(|(ns, _)| who.sees(ns)))
            .collect(),
        adjustable: crate::policy::profiles::adjust::ADJUSTABLE
            .iter()
            .map(|c| (c.slug(), c.title()))
            .collect(),
        nodes,
        edges,
        impact,
        table,
    })
}

fn is_table_request(headers: &HeaderMap) -> bool {
    headers
        .get("HX-Target")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t == "connections")
}

async fn page(
    State(state): State<AppState>,
    HxRequest(hx): HxRequest,
    headers: HeaderMap,
    Query(params): Query<TableParams>,
    Query(np): Query<super::assignments::NoticeParam>,
) -> Result<Response, AppError> {
    let explicit =
        super::resolve(&state.pool, params.snapshot_id()?, filled(&params.cluster)).await?;
    let snapshot = chosen_snapshot(&state.pool, explicit).await?;
    let advisor = match &snapshot {
        Some(s) => Some(advisor_for(&state, s).await?),
        None => None,
    };
    if hx && is_table_request(&headers) {
        let empty = Advisor::new(crate::model::Inventory::default());
        let a = advisor.as_deref().unwrap_or(&empty);
        return Ok(connection_table(a, params, explicit)?.into_response());
    }
    let form = ChangeForm {
        snapshot: params.snapshot.clone(),
        ..ChangeForm::default()
    };
    let mut impact = ImpactPanel::empty();
    impact.snapshot_query = explicit
        .map(|id| format!("?snapshot={id}"))
        .unwrap_or_default();
    let notice = super::assignments::notice(&state, &np, &params.url()).await?;
    let mut page = build_page(&state, snapshot, explicit, advisor, form, impact, params).await?;
    page.nav = page.nav.notice(notice);
    Ok(page.into_response())
}

/// `POST /advisor`: the preview of the form's change; the impact panel for
/// htmx, the whole page otherwise. Nothing is applied.
async fn preview(
    State(state): State<AppState>,
    HxRequest(hx): HxRequest,
    Form(form): Form<ChangeForm>,
) -> Result<Response, AppError> {
    let explicit = filled(&form.snapshot)
        .map(|s| {
            s.parse::<i64>()
                .map_err(|_| AppError::BadRequest(format!("snapshot must be a number, not {s:?}")))
        })
        .transpose()?;
    let Some(snapshot) = chosen_snapshot(&state.pool, explicit).await? else {
        return Err(AppError::NotFound(
            "No snapshot has been taken yet: there is nothing to preview against.".into(),
        ));
    };
    let advisor = advisor_for(&state, &snapshot).await?;
    let mut panel = ImpactPanel::empty();
    panel.snapshot_query = explicit
        .map(|id| format!("?snapshot={id}"))
        .unwrap_or_default();
    panel.summary = form.summary();
    let result = match form.request() {
        Ok(req) => {
            let custom = custom_profiles(&state.pool, &req).await?;
            let who = asker();
            to_changes(&advisor, &req, &custom).map(|changes| impact_for(&advisor, &changes, &who))
        }
        Err(e) => Err(e),
    };
    let failed = result.is_err();
    match result {
        Ok(impact) => {
            panel.impact = Some(impact);
            panel.policy_note = filled(&form.apply).is_some() || filled(&form.remove).is_some();
            if !panel.policy_note
                && filled(&form.adjust_control).is_none()
                && let Some(target) = filled(&form.target)
            {
                let mut q = vec![
                    ("target", target),
                    ("profile", filled(&form.profile).unwrap_or("restricted")),
                    ("mode", filled(&form.mode).unwrap_or("enforce")),
                ];
                if let Some(s) = filled(&form.snapshot) {
                    q.push(("snapshot", s));
                }
                q.push(("back", "/advisor"));
                panel.apply_url = Some(format!(
                    "/assign?{}",
                    serde_urlencoded::to_string(q).unwrap_or_default()
                ));
            }
        }
        Err(e) => panel.error = Some(FormError::from(e)),
    }
    if hx {
        // htmx swaps 2xx answers only: the error is shown in the panel.
        return Ok(panel.into_response());
    }
    let params = TableParams {
        snapshot: form.snapshot.clone(),
        ..TableParams::default()
    };
    let page = build_page(
        &state,
        Some(snapshot),
        explicit,
        Some(advisor),
        form,
        panel,
        params,
    )
    .await?;
    let status = if failed {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    Ok((status, page).into_response())
}

// ---------------------------------------------------------------------------------------------
// POST /api/v1/flows

/// At most this many unresolved lines and errors are listed in the answer.
const LISTED: usize = 50;

/// `POST /api/v1/flows?snapshot=N`: observed flows as JSON lines (the format
/// of [`crate::advisor::flows`], Hubble's included), resolved to the
/// snapshot's workloads and added to its graph. Sending the same flows twice
/// counts them twice.
async fn import_flows(
    State(state): State<AppState>,
    p: Principal,
    Query(sp): Query<SnapshotParam>,
    body: String,
) -> Result<Json<Value>, Response> {
    p.may_change(None)
        .map_err(|e| ApiError(e).into_response())?;
    let api = |e: AppError| ApiError(e).into_response();
    let id = sp.id(&state.pool).await.map_err(api)?;
    let Some(snapshot) = chosen_snapshot(&state.pool, id).await.map_err(api)? else {
        return Err(api(AppError::NotFound(
            "No snapshot has been taken yet: flows belong to a snapshot.".into(),
        )));
    };
    let advisor = advisor_for(&state, &snapshot).await.map_err(api)?;
    let (records, errors) = crate::advisor::flows::parse(&body);
    if records.is_empty() {
        let message = match errors.first() {
            Some(e) => format!("No flow could be read; line {}: {}", e.line, e.message),
            None => "The body holds no flows: send JSON lines, one flow per line.".to_owned(),
        };
        return Err(FieldError::unprocessable("", message).into_response());
    }
    let (observed, unresolved) = crate::advisor::flows::resolve(&advisor.cluster, &records);
    let mut merged = advisor.graph.clone();
    let counts = merged.add_observed(&advisor.cluster, &observed);
    store::inventory::add_flows(&state.pool, snapshot.id, &observed)
        .await
        .map_err(|e| api(e.into()))?;
    let subject = format!("flows of snapshot {}", snapshot.id);
    let after = json!({"connections": observed.len(), "added": counts.added});
    store::assignments::record(&state.pool, &p.user, "flows-import", &subject, Some(after))
        .await
        .map_err(|e| api(e.into()))?;
    cache_forget(&state, &snapshot);
    Ok(Json(json!({
        "snapshot": snapshot.id,
        "read": records.len(),
        "connections": observed.len(),
        "added": counts.added,
        "confirmed": counts.confirmed,
        "unresolved": unresolved.iter().take(LISTED).collect::<Vec<_>>(),
        "unresolvedTotal": unresolved.len(),
        "errors": errors.iter().take(LISTED).collect::<Vec<_>>(),
        "errorsTotal": errors.len(),
    })))
}
