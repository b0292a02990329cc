//! The overview: counts, risky settings across containers, Pod Security level per
//! namespace, and when the snapshot was taken.

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{Query, State};
use axum::routing::get;

use super::{Nav, SnapshotParam, chosen_snapshot};
use crate::AppState;
use crate::model::controls::RiskFlag;
use crate::store::namespaces::NamespaceSummary;
use crate::store::snapshots::Snapshot;
use crate::web::AppError;

pub fn router() -> Router<AppState> {
    Router::new().route("/", get(overview))
}

/// How many containers have one risky setting.
pub struct FlagCount {
    pub flag: RiskFlag,
    pub count: i64,
}

#[derive(Template, WebTemplate)]
#[template(path = "pages/overview.html")]
pub struct OverviewPage {
    pub nav: Nav,
    pub snapshot: Option<Snapshot>,
    pub flags: Vec<FlagCount>,
    pub namespaces: Vec<NamespaceSummary>,
    /// `?snapshot=N` when a snapshot was chosen explicitly.
    pub snapshot_query: String,
    /// `&snapshot=N` likewise.
    pub snapshot_param: String,
    /// Every cluster with snapshots, to switch between them.
    pub clusters: Vec<String>,
    /// Open alerts of the cluster shown.
    pub open_alerts: i64,
}

impl OverviewPage {
    pub fn flag_url(&self, flag: &RiskFlag) -> String {
        format!("/workloads?flag={}{}", flag.slug(), self.snapshot_param)
    }
    pub fn cluster_url(&self, cluster: &str) -> String {
        format!(
            "/?{}",
            serde_urlencoded::to_string([("cluster", cluster)]).unwrap_or_default()
        )
    }
    /// The Alerts page, narrowed to the cluster shown.
    pub fn alerts_url(&self) -> String {
        match &self.snapshot {
            Some(s) => format!(
                "/alerts?{}",
                serde_urlencoded::to_string([("cluster", s.cluster.as_str()), ("state", "open")])
                    .unwrap_or_default()
            ),
            None => "/alerts".to_owned(),
        }
    }
    pub fn is_shown(&self, cluster: &str) -> bool {
        self.snapshot.as_ref().is_some_and(|s| s.cluster == cluster)
    }
    pub fn namespace_url(&self, ns: &str) -> String {
        format!(
            "/workloads?{}{}",
            serde_urlencoded::to_string([("namespace", ns)]).unwrap_or_default(),
            self.snapshot_param
        )
    }
}

async fn overview(
    State(state): State<AppState>,
    principal: crate::auth::Principal,
    Query(sp): Query<SnapshotParam>,
) -> Result<OverviewPage, AppError> {
    let scope = principal.namespaces.as_deref();
    let pin = sp.id(&state.pool).await?;
    let snapshot = chosen_snapshot(&state.pool, pin).await?;
    let (flags, namespaces) = match &snapshot {
        Some(s) => {
            let counts = crate::store::workloads::flag_counts_in(&state.pool, s.id, scope).await?;
            let flags = RiskFlag::ALL
                .into_iter()
                .map(|flag| FlagCount {
                    flag,
                    count: counts.get(flag.slug()).copied().unwrap_or(0),
                })
                .collect();
            (
                flags,
                crate::store::namespaces::list_in(&state.pool, s.id, scope).await?,
            )
        }
        None => (Vec::new(), Vec::new()),
    };
    let open_alerts = match &snapshot {
        Some(s) => super::alerts::open_count(&state, Some(&s.cluster), &principal).await?,
        None => 0,
    };
    Ok(OverviewPage {
        open_alerts,
        nav: Nav::new("overview", &snapshot).pin(pin),
        snapshot,
        flags,
        namespaces,
        snapshot_query: super::workloads::snapshot_query(pin),
        clusters: crate::store::snapshots::clusters(&state.pool)
            .await?
            .into_iter()
            .map(|c| c.cluster)
            .collect(),
        snapshot_param: sp
            .snapshot
            .map(|id| format!("&snapshot={id}"))
            .unwrap_or_default(),
    })
}
