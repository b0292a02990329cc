//! Namespaces: what each holds, its Pod Security labels and the tightest level it satisfies.

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{Query, State};
use axum::routing::get;

use std::collections::BTreeMap;

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
}

impl NamespacesPage {
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
    Query(sp): Query<SnapshotParam>,
) -> Result<NamespacesPage, AppError> {
    let pin = sp.id(&state.pool).await?;
    let snapshot = chosen_snapshot(&state.pool, pin).await?;
    let (namespaces, recommended) = match &snapshot {
        Some(s) => (
            crate::store::namespaces::list(&state.pool, s.id).await?,
            super::profiles::namespace_recommendations(&state.pool, s.id).await?,
        ),
        None => (Vec::new(), BTreeMap::new()),
    };
    Ok(NamespacesPage {
        nav: Nav::new("namespaces", &snapshot).pin(pin),
        namespaces,
        recommended,
        snapshot_param: sp
            .snapshot
            .map(|id| format!("&snapshot={id}"))
            .unwrap_or_default(),
    })
}
