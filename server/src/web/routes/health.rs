//! Liveness, readiness and metrics.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;

use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .route("/metrics", get(metrics))
}

/// Prometheus text format: webhook reviews, snapshots, open alerts.
/// Metrics name every namespace (open alerts by namespace): not for users
/// limited to some.
async fn metrics(
    State(state): State<AppState>,
    p: crate::auth::Principal,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    if p.scoped() {
        let e = crate::web::AppError::Forbidden(format!(
            "The metrics cover every namespace; {} sees only some of them.",
            p.user
        ));
        return crate::web::ApiError(e).into_response();
    }
    crate::admission::metrics_response(&state.pool).await
}

/// Ready when the database answers.
async fn ready(State(state): State<AppState>) -> (StatusCode, &'static str) {
    match sqlx::query("SELECT 1").execute(&state.pool).await {
        Ok(_) => (StatusCode::OK, "ready"),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable")
        }
    }
}
