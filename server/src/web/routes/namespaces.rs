//! Namespaces: what each holds, its Pod Security labels and the tightest level it satisfies.

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{Query, State};
use axum::routing::get;

use std::collections::BTreeMap;

use super::assignments::{InForce, NoticeParam, in_force};
use super::{Nav, SnapshotParam, chosen_snapshot};
use crate::AppState;
use crate::policy::profiles::Preset;
use crate::store::namespaces::NamespaceSummary;
use crate::web::AppError;

pub fn router() -> Router<AppState> {
    Router::new().route("/namespaces", get(list))
}

#[derive(Template, WebTemplate)]
#[template(path = "pages/namespaces.html")]
pub struct NamespacesPage {
    pub nav: Nav,
    pub namespaces: Vec<NamespaceSummary>,
    pub snapshot_param: String,
    /// The tightest preset every workload of a namespace already satisfies.
    pub recommended: BTreeMap<String, &'static Preset>,
    /// What applies to each namespace per mode, and where it comes from.
    pub in_force: BTreeMap<String, Vec<InForce>>,
    /// Profiles that can be assigned: (value, label).
    pub options: Vec<(String, String)>,
    /// This page's URL, where the confirm step returns.
    pub back: String,
    /// The snapshot chosen explicitly, or empty.
    pub snapshot_id: String,
}

impl NamespacesPage {
    pub fn in_force_of(&self, ns: &str) -> &[InForce] {
        self.in_force.get(ns).map_or(&[], Vec::as_slice)
    }

    pub fn recommendation(&self, ns: &str) -> Option<&'static Preset> {
        self.recommended.get(ns).copied()
    }

    pub fn workloads_url(&self, ns: &str) -> String {
        format!(
            "/workloads?{}{}",
            serde_urlencoded::to_string([("namespace", ns)]).unwrap_or_default(),
            self.snapshot_param
        )
    }
}

async fn list(
    State(state): State<AppState>,
    principal: crate::auth::Principal,
    Query(sp): Query<SnapshotParam>,
    Query(np): Query<NoticeParam>,
) -> Result<NamespacesPage, AppError> {
    let pin = sp.id(&state.pool).await?;
    let snapshot = chosen_snapshot(&state.pool, pin).await?;
    let (namespaces, recommended) = match &snapshot {
        Some(s) => (
            crate::store::namespaces::list_in(&state.pool, s.id, principal.namespaces.as_deref())
                .await?,
            super::profiles::namespace_recommendations(&state.pool, s.id).await?,
        ),
        None => (Vec::new(), BTreeMap::new()),
    };
    let rules = state.rules.get();
    let cluster = snapshot.as_ref().map(|s| s.cluster.as_str()).unwrap_or("");
    let in_force = namespaces
        .iter()
        .map(|n| {
            (
                n.name.clone(),
                in_force(rules.for_namespace(cluster, &n.name, Some(&n.labels))),
            )
        })
        .collect();
    let back = format!(
        "/namespaces{}",
        pin.map(|id| format!("?snapshot={id}")).unwrap_or_default()
    );
    let notice = super::assignments::notice(&state, &np, &back).await?;
    Ok(NamespacesPage {
        nav: Nav::new("namespaces", &snapshot).pin(pin).notice(notice),
        namespaces,
        recommended,
        in_force,
        options: super::assignments::profile_options(&state.pool).await?,
        back,
        snapshot_id: pin.map(|id| id.to_string()).unwrap_or_default(),
        snapshot_param: sp
            .snapshot
            .map(|id| format!("&snapshot={id}"))
            .unwrap_or_default(),
    })
}
