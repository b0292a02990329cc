//! Notification routes: the page `/settings/notifications` (list, add,
//! delete, recent deliveries) and `GET/POST /api/v1/notifications/routes`,
//! `DELETE /api/v1/notifications/routes/{id}`.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Form, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::advisor::{ApiJson, FieldError};
use super::{Nav, chosen_snapshot};
use crate::AppState;
use crate::alerts::notify;
use crate::auth::Principal;
use crate::policy::assignments::Severity;
use crate::store;
use crate::store::notifications::{Delivery, NewRoute, Route};
use crate::web::{ApiError, AppError};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/settings/notifications", get(page).post(add_form))
        .route("/settings/notifications/{id}/delete", post(delete_form))
}

/// Routes under `/api/v1`.
pub fn api() -> Router<AppState> {
    Router::new()
        .route("/notifications/routes", get(api_list).post(api_add))
        .route("/notifications/routes/{id}", delete(api_delete))
}

/// A route as sent to the API or the form.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RouteRequest {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub url: String,
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default)]
    pub selector: Option<String>,
    #[serde(default)]
    pub min_severity: Option<String>,
}

fn invalid(field: &str, message: String) -> FieldError {
    FieldError {
        status: StatusCode::UNPROCESSABLE_ENTITY,
        field: field.to_owned(),
        message,
    }
}

impl RouteRequest {
    /// The route to store, or the first field that is wrong.
    pub fn check(&self) -> Result<NewRoute, FieldError> {
        let name = self.name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(invalid(
                "name",
                "name: give the route a name (up to 100 characters)".into(),
            ));
        }
        let url = self.url.trim();
        let parsed = url.parse::<hyper::Uri>().ok().filter(|u| {
            matches!(u.scheme_str(), Some("http" | "https"))
                && u.host().is_some_and(|h| !h.is_empty())
        });
        if parsed.is_none() || url.len() > 2000 {
            return Err(invalid(
                "url",
                format!("url: {url:?} is not an http:// or https:// address"),
            ));
        }
        let namespace = self.namespace.as_deref().unwrap_or("").trim().to_owned();
        if namespace.len() > 253
            || !namespace
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '*')
        {
            return Err(invalid(
                "namespace",
                format!(
                    "namespace: {namespace:?} is not a namespace name or a pattern with * (e.g. team-*)"
                ),
            ));
        }
        let selector = self.selector.as_deref().unwrap_or("").trim().to_owned();
        notify::parse_selector(&selector)
            .map_err(|e| invalid("selector", format!("selector: {e}")))?;
        let min_severity = match self.min_severity.as_deref().map(str::trim) {
            None | Some("") => Severity::Medium,
            Some(s) => Severity::parse(s).ok_or_else(|| {
                invalid(
                    "minSeverity",
                    format!("minSeverity is high or medium, not {s:?}"),
                )
            })?,
        };
        Ok(NewRoute {
            name: name.to_owned(),
            url: url.to_owned(),
            namespace,
            selector,
            min_severity,
        })
    }
}

fn route_json(r: &Route) -> Value {
    json!({
        "id": r.id,
        "name": r.name,
        "url": r.url,
        "namespace": r.namespace,
        "selector": r.selector,
        "minSeverity": r.min_severity,
        "createdAt": store::alerts::rfc3339(r.created_at),
    })
}

async fn api_list(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let routes = store::notifications::routes(&state.pool).await?;
    Ok(Json(json!({
        "routes": routes.iter().map(route_json).collect::<Vec<_>>(),
        "total": routes.len(),
    })))
}

async fn api_add(
    State(state): State<AppState>,
    p: Principal,
    ApiJson(body): ApiJson<Value>,
) -> Result<(StatusCode, Json<Value>), Response> {
    p.may_change(None)
        .map_err(|e| ApiError(e).into_response())?;
    let req: RouteRequest = serde_path_to_error::deserialize(body).map_err(|e| {
        let field = e.path().to_string();
        let field = if field == "." { String::new() } else { field };
        invalid(&field, format!("{}", e.into_inner())).into_response()
    })?;
    let new = req.check().map_err(IntoResponse::into_response)?;
    let route = store::notifications::add_route(&state.pool, &new, crate::now_ms())
        .await
        .map_err(|e| ApiError::from(e).into_response())?;
    store::assignments::record(
        &state.pool,
        &p.user,
        "route-add",
        &route.name,
        Some(route_json(&route)),
    )
    .await
    .map_err(|e| ApiError::from(e).into_response())?;
    Ok((StatusCode::CREATED, Json(route_json(&route))))
}

async fn api_delete(
    State(state): State<AppState>,
    p: Principal,
    Path(raw): Path<String>,
) -> Result<StatusCode, ApiError> {
    p.may_change(None)?;
    let missing = || AppError::NotFound(format!("There is no notification route {raw:?}."));
    let id: i64 = raw.parse().map_err(|_| missing())?;
    if store::notifications::delete_route(&state.pool, id).await? {
        store::assignments::record(
            &state.pool,
            &p.user,
            "route-delete",
            &format!("route {id}"),
            None,
        )
        .await?;
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(missing().into())
    }
}

// ---------------------------------------------------------------------------------------------
// The page

#[derive(Template, WebTemplate)]
#[template(path = "pages/notifications.html")]
pub struct NotificationsPage {
    pub nav: Nav,
    pub routes: Vec<Route>,
    pub deliveries: Vec<Delivery>,
    /// The form as sent, when it was refused.
    pub form: RouteForm,
    pub error: Option<FieldError>,
}

impl NotificationsPage {
    pub fn error_for(&self, field: &str) -> Option<&str> {
        self.error
            .as_ref()
            .filter(|e| e.field == field)
            .map(|e| e.message.as_str())
    }
}

/// The add form (strings as typed).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RouteForm {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub url: String,
    #[serde(default)]
    pub namespace: String,
    #[serde(default)]
    pub selector: String,
    #[serde(default)]
    pub min_severity: String,
}

async fn render(
    state: &AppState,
    form: RouteForm,
    error: Option<FieldError>,
) -> Result<NotificationsPage, AppError> {
    let snapshot = chosen_snapshot(&state.pool, None).await?;
    Ok(NotificationsPage {
        nav: Nav::new("settings", &snapshot),
        routes: store::notifications::routes(&state.pool).await?,
        deliveries: store::notifications::recent(&state.pool, 50).await?,
        form,
        error,
    })
}

async fn page(State(state): State<AppState>) -> Result<NotificationsPage, AppError> {
    render(&state, RouteForm::default(), None).await
}

async fn add_form(
    State(state): State<AppState>,
    p: Principal,
    Form(form): Form<RouteForm>,
) -> Result<Response, AppError> {
    p.may_change(None)?;
    let req = RouteRequest {
        name: form.name.clone(),
        url: form.url.clone(),
        namespace: Some(form.namespace.clone()),
        selector: Some(form.selector.clone()),
        min_severity: Some(form.min_severity.clone()),
    };
    match req.check() {
        Ok(new) => {
            let route = store::notifications::add_route(&state.pool, &new, crate::now_ms()).await?;
            store::assignments::record(
                &state.pool,
                &p.user,
                "route-add",
                &route.name,
                Some(route_json(&route)),
            )
            .await?;
            Ok(Redirect::to("/settings/notifications").into_response())
        }
        Err(e) => {
            let page = render(&state, form, Some(e)).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
    }
}

async fn delete_form(
    State(state): State<AppState>,
    p: Principal,
    Path(raw): Path<String>,
) -> Result<Redirect, AppError> {
    p.may_change(None)?;
    let missing = || AppError::NotFound(format!("There is no notification route {raw:?}."));
    let id: i64 = raw.parse().map_err(|_| missing())?;
    if !store::notifications::delete_route(&state.pool, id).await? {
        return Err(missing());
    }
    store::assignments::record(
        &state.pool,
        &p.user,
        "route-delete",
        &format!("route {id}"),
        None,
    )
    .await?;
    Ok(Redirect::to("/settings/notifications"))
}
