//! The snapshot history.

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::State;
use axum::routing::get;

use super::Nav;
use crate::AppState;
use crate::store::snapshots::Snapshot;
use crate::web::AppError;

pub fn router() -> Router<AppState> {
    Router::new().route("/snapshots", get(list))
}

#[derive(Template, WebTemplate)]
#[template(path = "pages/snapshots.html")]
pub struct SnapshotsPage {
    pub nav: Nav,
    pub snapshots: Vec<Snapshot>,
}

async fn list(State(state): State<AppState>) -> Result<SnapshotsPage, AppError> {
    let snapshots = crate::store::snapshots::list(&state.pool).await?;
    Ok(SnapshotsPage {
        nav: Nav::new("snapshots", &snapshots.first().cloned()),
        snapshots,
    })
}
