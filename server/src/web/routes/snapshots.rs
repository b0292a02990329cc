//! Snapshots: the history per cluster (with a cluster switcher), "Take snapshot
//! now" with its progress, and the diff of any two snapshots (page and JSON).

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Json, Router};
use axum_htmx::HxRequest;
use serde::Deserialize;

use super::Nav;
use crate::AppState;
use crate::cli::live::{LiveStatus, Outcome};
use crate::model::WorkloadKey;
use crate::store;
use crate::store::diff::{Finding, SnapshotDiff};
use crate::store::snapshots::{ClusterHistory, Snapshot};
use crate::web::{ApiError, AppError};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/snapshots", get(history).post(take))
        .route("/snapshots/live", get(live))
        .route("/snapshots/diff", get(pick))
        .route("/snapshots/{from}/diff/{to}", get(diff_page))
        .route("/api/v1/snapshots/{from}/diff/{to}", get(diff_json))
}

/// Snapshots shown per page of the history.
pub const PER_PAGE: i64 = 50;

/// Findings shown per section of the diff page (the JSON has them all).
pub const SHOWN_FINDINGS: usize = 500;

#[derive(Debug, Default, Deserialize)]
pub struct HistoryParams {
    pub cluster: Option<String>,
    pub page: Option<String>,
}

/// The "Take snapshot now" panel: a partial of its own, polled while a
/// snapshot runs.
#[derive(Template, WebTemplate)]
#[template(path = "partials/snapshot_live.html")]
pub struct LivePanel {
    /// The configured cluster: name and API server.
    pub cluster: Option<(String, String)>,
    pub status: LiveStatus,
    /// Said once, above the panel (e.g. a snapshot was already running).
    pub notice: Option<String>,
    /// A running snapshot just finished: reload the history table.
    pub refresh_history: bool,
}

impl LivePanel {
    fn of(state: &AppState) -> LivePanel {
        LivePanel {
            cluster: state
                .live
                .as_ref()
                .map(|l| (l.name().to_owned(), l.server().to_owned())),
            status: state.live.as_ref().map(|l| l.status()).unwrap_or_default(),
            notice: None,
            refresh_history: false,
        }
    }

    pub fn running(&self) -> bool {
        self.status.running.is_some()
    }

    /// The history page of the configured cluster.
    pub fn history_url(&self) -> String {
        match &self.cluster {
            Some((name, _)) => cluster_url(name),
            None => "/snapshots".to_owned(),
        }
    }

    pub fn seconds(&self, ms: &i64) -> String {
        format!("{:.1}", *ms as f64 / 1000.0)
    }

    /// The last snapshot's outcome in words.
    pub fn last_view(&self) -> Option<LastView> {
        Some(match self.status.last.as_ref()? {
            Outcome::Stored {
                snapshot,
                finished_at,
                took_ms,
                namespaces,
                workloads,
                containers,
                services,
                network_policies,
                unreadable,
            } => LastView {
                ok: true,
                snapshot: Some(*snapshot),
                text: format!(
                    "Snapshot #{snapshot} stored at {} (took {} s): {namespaces} namespaces, {workloads} workloads, {containers} containers, {services} services, {network_policies} network policies{}.",
                    crate::format_time(*finished_at),
                    self.seconds(took_ms),
                    if *unreadable > 0 {
                        format!(
                            "; {unreadable} objects could not be read (listed with the snapshot)"
                        )
                    } else {
                        String::new()
                    }
                ),
            },
            Outcome::Failed {
                finished_at,
                message,
                ..
            } => LastView {
                ok: false,
                snapshot: None,
                text: format!(
                    "The last snapshot failed at {}: {message}. Nothing was stored; earlier snapshots are unchanged.",
                    crate::format_time(*finished_at)
                ),
            },
        })
    }
}

/// How the last snapshot ended, in words.
pub struct LastView {
    pub ok: bool,
    pub snapshot: Option<i64>,
    pub text: String,
}

/// `/snapshots?cluster=NAME`.
pub fn cluster_url(name: &str) -> String {
    format!(
        "/snapshots?{}",
        serde_urlencoded::to_string([("cluster", name)]).unwrap_or_default()
    )
}

#[derive(Template, WebTemplate)]
#[template(path = "pages/snapshots.html")]
pub struct SnapshotsPage {
    pub nav: Nav,
    pub clusters: Vec<ClusterHistory>,
    /// The cluster whose history is shown.
    pub cluster: Option<String>,
    pub snapshots: Vec<Snapshot>,
    pub total: i64,
    pub page: i64,
    pub pages: i64,
    pub live: LivePanel,
}

impl SnapshotsPage {
    pub fn is_cluster(&self, name: &str) -> bool {
        self.cluster.as_deref() == Some(name)
    }

    pub fn cluster_url(&self, name: &str) -> String {
        cluster_url(name)
    }

    pub fn page_url(&self, page: i64) -> String {
        let mut pairs = Vec::new();
        if let Some(c) = &self.cluster {
            pairs.push(("cluster", c.clone()));
        }
        pairs.push(("page", page.to_string()));
        format!(
            "/snapshots?{}",
            serde_urlencoded::to_string(pairs).unwrap_or_default()
        )
    }

    /// The snapshots preselected for a diff: the second newest and the newest.
    pub fn default_from(&self) -> Option<i64> {
        self.snapshots
            .get(1)
            .or(self.snapshots.first())
            .map(|s| s.id)
    }

    pub fn default_to(&self) -> Option<i64> {
        self.snapshots.first().map(|s| s.id)
    }

    pub fn is_from(&self, id: &i64) -> bool {
        self.default_from() == Some(*id)
    }

    pub fn is_to(&self, id: &i64) -> bool {
        self.default_to() == Some(*id)
    }
}

fn parse_page(v: &Option<String>) -> Result<i64, AppError> {
    match v.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(1),
        Some(s) => match s.parse::<i64>() {
            Ok(n) if n >= 1 => Ok(n),
            _ => Err(AppError::BadRequest(format!(
                "page must be a positive number, not {s:?}"
            ))),
        },
    }
}

async fn history(
    State(state): State<AppState>,
    Query(params): Query<HistoryParams>,
) -> Result<SnapshotsPage, AppError> {
    let page = parse_page(&params.page)?;
    let clusters = store::snapshots::clusters(&state.pool).await?;
    let cluster = params
        .cluster
        .filter(|c| !c.is_empty())
        .or_else(|| state.live.as_ref().map(|l| l.name().to_owned()))
        .or_else(|| clusters.first().map(|c| c.cluster.clone()));
    let (snapshots, total) = match &cluster {
        Some(c) => {
            store::snapshots::list_cluster(&state.pool, c, PER_PAGE, (page - 1) * PER_PAGE).await?
        }
        None => (Vec::new(), 0),
    };
    let nav_snapshot = match snapshots.first() {
        Some(s) if page == 1 => Some(s.clone()),
        _ => store::snapshots::latest(&state.pool).await?,
    };
    Ok(SnapshotsPage {
        nav: Nav::new("snapshots", &nav_snapshot),
        clusters,
        cluster,
        snapshots,
        total,
        page,
        pages: ((total + PER_PAGE - 1) / PER_PAGE).max(1),
        live: LivePanel::of(&state),
    })
}

/// "Take snapshot now": starts one in the background (unless one runs) and
/// answers with the panel showing its progress; without htmx, back to the page.
async fn take(
    State(state): State<AppState>,
    p: crate::auth::Principal,
    HxRequest(hx): HxRequest,
) -> Response {
    let mut panel = LivePanel::of(&state);
    if let Some(live) = &state.live {
        if !live.start() {
            panel.notice =
                Some("A snapshot was already being taken; this is its progress.".to_owned());
        } else if let Err(e) =
            crate::store::assignments::record(&state.pool, &p.user, "snapshot", live.name(), None)
                .await
        {
            tracing::warn!(error = %e, "the snapshot request could not be written to the audit log");
        }
        panel.status = live.status();
    }
    if hx {
        let status = if state.live.is_some() {
            StatusCode::ACCEPTED
        } else {
            StatusCode::CONFLICT
        };
        return (status, panel).into_response();
    }
    Redirect::to(&panel.history_url()).into_response()
}

/// The panel alone, polled by htmx while a snapshot runs.
async fn live(State(state): State<AppState>, HxRequest(hx): HxRequest) -> LivePanel {
    let mut panel = LivePanel::of(&state);
    // Only a running panel polls, so an htmx request that finds nothing
    // running has just seen its snapshot finish.
    panel.refresh_history = hx && !panel.running() && panel.status.last.is_some();
    panel
}

#[derive(Debug, Default, Deserialize)]
pub struct PickParams {
    pub from: Option<String>,
    pub to: Option<String>,
}

fn snapshot_id(v: Option<&str>, which: &str) -> Result<i64, AppError> {
    match v.map(str::trim).filter(|s| !s.is_empty()) {
        None => Err(AppError::BadRequest(format!(
            "Pick two snapshots to compare: the {which} one is missing."
        ))),
        Some(s) => s.trim_start_matches('#').parse::<i64>().map_err(|_| {
            AppError::BadRequest(format!("The {which} snapshot must be a number, not {s:?}."))
        }),
    }
}

/// The compare form (GET, so it works without JavaScript) → the diff's own URL.
async fn pick(Query(p): Query<PickParams>) -> Result<Redirect, AppError> {
    let from = snapshot_id(p.from.as_deref(), "first")?;
    let to = snapshot_id(p.to.as_deref(), "second")?;
    Ok(Redirect::to(&format!("/snapshots/{from}/diff/{to}")))
}

async fn load_diff(
    state: &AppState,
    from: &str,
    to: &str,
    principal: &crate::auth::Principal,
) -> Result<SnapshotDiff, AppError> {
    let from = snapshot_id(Some(from), "first")?;
    let to = snapshot_id(Some(to), "second")?;
    let get = |id| async move {
        store::snapshots::get(&state.pool, id)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("There is no snapshot {id}.")))
    };
    let (a, b) = (get(from).await?, get(to).await?);
    Ok(store::diff::between_in(
        &state.pool,
        a,
        b,
        super::workloads::verdicts,
        principal.namespaces.as_deref(),
    )
    .await?)
}

#[derive(Template, WebTemplate)]
#[template(path = "pages/snapshot_diff.html")]
pub struct DiffPage {
    pub nav: Nav,
    pub diff: SnapshotDiff,
}

impl DiffPage {
    /// The page of a workload (`namespace/Kind/name`) in a snapshot.
    pub fn workload_url(&self, key: &str, snapshot: &i64) -> String {
        match WorkloadKey::parse(key) {
            Some(k) => format!(
                "{}?snapshot={snapshot}",
                super::workloads::workload_url(&k.namespace, &k.kind, &k.name)
            ),
            None => format!("/workloads?snapshot={snapshot}"),
        }
    }

    pub fn time(&self, ms: &i64) -> String {
        crate::format_time(*ms)
    }

    pub fn shown<'a>(&self, findings: &'a [Finding]) -> &'a [Finding] {
        &findings[..findings.len().min(SHOWN_FINDINGS)]
    }

    pub fn hidden(&self, findings: &[Finding]) -> usize {
        findings.len().saturating_sub(SHOWN_FINDINGS)
    }

    pub fn same_cluster(&self) -> bool {
        self.diff.from.cluster == self.diff.to.cluster
    }

    pub fn json_url(&self) -> String {
        format!(
            "/api/v1/snapshots/{}/diff/{}",
            self.diff.from.id, self.diff.to.id
        )
    }
}

async fn diff_page(
    State(state): State<AppState>,
    principal: crate::auth::Principal,
    Path((from, to)): Path<(String, String)>,
) -> Result<DiffPage, AppError> {
    let diff = load_diff(&state, &from, &to, &principal).await?;
    Ok(DiffPage {
        nav: Nav::new("snapshots", &Some(diff.to.clone())),
        diff,
    })
}

/// A snapshot as `/api/v1/snapshots` lists it.
fn snapshot_json(s: &Snapshot) -> serde_json::Value {
    serde_json::json!({
        "id": s.id,
        "cluster": s.cluster,
        "source": s.source,
        "takenAt": jiff::Timestamp::from_millisecond(s.taken_at)
            .map(|t| t.to_string())
            .unwrap_or_default(),
        "namespaces": s.namespaces,
        "workloads": s.workloads,
        "containers": s.containers,
    })
}

async fn diff_json(
    State(state): State<AppState>,
    principal: crate::auth::Principal,
    Path((from, to)): Path<(String, String)>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let diff = load_diff(&state, &from, &to, &principal).await?;
    let summary = serde_json::json!({
        "added": diff.added.len(),
        "removed": diff.removed.len(),
        "changed": diff.changed,
        "unchanged": diff.unchanged,
        "appeared": diff.appeared.len(),
        "fixed": diff.fixed.len(),
    });
    let (from, to) = (snapshot_json(&diff.from), snapshot_json(&diff.to));
    // Plain structs with string keys: encoding cannot fail.
    let mut value = serde_json::to_value(&diff).unwrap_or_default();
    if let Some(obj) = value.as_object_mut() {
        obj.insert("from".to_owned(), from);
        obj.insert("to".to_owned(), to);
        obj.insert("summary".to_owned(), summary);
    }
    Ok(Json(value))
}
