//! HTTP: pages (askama + htmx partials), the JSON API, health and static files.

pub mod error;
pub mod routes;

use std::time::Duration;

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::AppState;

pub use error::{ApiError, AppError};

/// Who makes a change: the signed-in user (see [`crate::auth`]). Never read
/// from a client header.
pub fn actor(parts: &axum::http::request::Parts) -> String {
    crate::auth::principal_of(parts).user
}

/// The actor of a request, as an extractor (see [`actor`]).
pub struct Actor(pub String);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Actor {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(Actor(actor(parts)))
    }
}

/// Front-end files compiled into the binary (vendored, pinned).
async fn static_file(axum::extract::Path(name): axum::extract::Path<String>) -> Response {
    let Some((_, bytes)) = crate::embedded::STATIC.iter().find(|(n, _)| *n == name) else {
        return AppError::NotFound(format!("There is no static file {name}.")).into_response();
    };
    let mime = match name.rsplit('.').next() {
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        _ => "application/octet-stream",
    };
    (
        [
            (header::CONTENT_TYPE, mime),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        *bytes,
    )
        .into_response()
}

async fn not_found(uri: axum::http::Uri) -> AppError {
    AppError::NotFound(format!("There is no page at {}.", uri.path()))
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(routes::overview::router())
        .merge(routes::workloads::router())
        .merge(routes::advisor::router())
        .merge(routes::namespaces::router())
        .merge(routes::profiles::router())
        .merge(routes::snapshots::router())
        .merge(routes::export::router())
        .merge(routes::alerts::router())
        .merge(routes::notifications::router())
        .merge(routes::assignments::router())
        .merge(routes::admission::router())
        .merge(routes::auth::router())
        .nest(
            "/api/v1",
            routes::api::router()
                .merge(routes::advisor::api())
                .merge(routes::export::api())
                .merge(routes::alerts::api())
                .merge(routes::notifications::api())
                .merge(routes::assignments::api())
                .merge(routes::admission::api())
                .merge(routes::auth::api()),
        )
        .merge(routes::health::router())
        .route("/static/{name}", get(static_file))
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::auth::middleware,
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'",
            ),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(RequestBodyLimitLayer::new(1024 * 1024))
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(30),
        ))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}
