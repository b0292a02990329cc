//! One error type for pages and one for the JSON API; each is logged once and
//! the client gets a generic text for internal failures.

use askama::Template;
use axum::Json;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    BadRequest(String),
    /// Nobody is signed in (or the token is not valid).
    #[error("{0}")]
    Unauthorized(String),
    /// Refused whoever asks (e.g. a form posted from another site).
    #[error("{0}")]
    Forbidden(String),
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error("template error: {0}")]
    Render(#[from] askama::Error),
    /// Any other failure on the server (e.g. a background task that panicked).
    #[error("{0}")]
    Internal(String),
}

impl AppError {
    fn status(&self) -> StatusCode {
        match self {
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
            AppError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AppError::Forbidden(_) => StatusCode::FORBIDDEN,
            AppError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            AppError::Db(_) | AppError::Render(_) | AppError::Internal(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }

    /// What the client may read: internal details stay in the log.
    fn public_message(&self) -> String {
        match self {
            AppError::NotFound(m)
            | AppError::BadRequest(m)
            | AppError::Forbidden(m)
            | AppError::Unauthorized(m) => m.clone(),
            AppError::Db(_) | AppError::Render(_) | AppError::Internal(_) => {
                "Something went wrong on the server; the log has the details.".to_owned()
            }
        }
    }

    fn log(&self) {
        match self {
            AppError::Db(_) | AppError::Render(_) | AppError::Internal(_) => {
                tracing::error!(error = %self, "request failed")
            }
            _ => tracing::debug!(error = %self, "request rejected"),
        }
    }
}

#[derive(Template)]
#[template(path = "pages/error.html")]
struct ErrorPage {
    nav: crate::web::routes::Nav,
    status: u16,
    message: String,
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        self.log();
        let status = self.status();
        let page = ErrorPage {
            nav: crate::web::routes::Nav::new("", &None),
            status: status.as_u16(),
            message: self.public_message(),
        };
        match page.render() {
            Ok(html) => (status, Html(html)).into_response(),
            Err(_) => (status, self.public_message()).into_response(),
        }
    }
}

/// The JSON API's error: `{"error": "..."}` with the same status mapping.
#[derive(Debug)]
pub struct ApiError(pub AppError);

impl<E: Into<AppError>> From<E> for ApiError {
    fn from(e: E) -> Self {
        ApiError(e.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        self.0.log();
        let body = serde_json::json!({ "error": self.0.public_message() });
        (self.0.status(), Json(body)).into_response()
    }
}
