//! Exports of an assignment: `GET /api/v1/export?target=…&profile=…&mode=…`
//! (JSON) and the page `/export?…` (copyable blocks, a heading per format,
//! notes in words; with `HX-Request` just the partial, which other pages can
//! include as `partials/export.html` with an `export: ExportView` field).

use std::collections::BTreeMap;

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use axum_htmx::HxRequest;
use serde::Deserialize;

use super::advisor::FieldError;
use super::{Nav, filled};
use crate::AppState;
use crate::policy::assignments::{AssignTarget, Mode};
use crate::policy::export::{self, Export, WebhookOptions};
use crate::policy::profiles::{Profile, ProfileRef};
use crate::store;
use crate::web::AppError;

pub fn router() -> Router<AppState> {
    Router::new().route("/export", get(page))
}

/// `/api/v1/export`.
pub fn api() -> Router<AppState> {
    Router::new().route("/export", get(api_export))
}

#[derive(Debug, Default, Deserialize)]
pub struct ExportQuery {
    pub target: Option<String>,
    pub profile: Option<String>,
    pub mode: Option<String>,
}

fn unprocessable(field: &str, message: String) -> FieldError {
    FieldError {
        status: StatusCode::UNPROCESSABLE_ENTITY,
        field: field.to_owned(),
        message,
    }
}

/// The request's target, profile and mode, or the parameter that is wrong.
async fn parse(
    pool: &sqlx::SqlitePool,
    q: &ExportQuery,
) -> Result<Result<(AssignTarget, Profile, Mode), FieldError>, AppError> {
    let Some(target) = filled(&q.target) else {
        return Ok(Err(unprocessable(
            "target",
            "target: give cluster, namespace/<name> or workload/<namespace>/<Kind>/<name>".into(),
        )));
    };
    let target = match AssignTarget::parse(target) {
        Ok(t) => t,
        Err(e) => return Ok(Err(unprocessable("target", format!("target: {e}")))),
    };
    let Some(mode) = filled(&q.mode) else {
        return Ok(Err(unprocessable(
            "mode",
            "mode: give enforce, warn or audit".into(),
        )));
    };
    let Some(mode) = Mode::parse(mode) else {
        return Ok(Err(unprocessable(
            "mode",
            format!("mode: {mode:?} is not enforce, warn or audit"),
        )));
    };
    let Some(name) = filled(&q.profile) else {
        return Ok(Err(unprocessable(
            "profile",
            "profile: give a level (restricted, baseline:v1.30), a preset or a custom profile's name"
                .into(),
        )));
    };
    let r = match ProfileRef::parse(name) {
        Ok(r) => r,
        Err(e) => return Ok(Err(unprocessable("profile", format!("profile: {e}")))),
    };
    let custom = match &r {
        ProfileRef::Custom(n) => store::profiles::get(pool, n).await?.map(|s| s.profile),
        _ => None,
    };
    Ok(match r.resolve(|_| custom) {
        Ok(p) => Ok((target, p, mode)),
        Err(e) => Err(unprocessable("profile", format!("profile: {e}"))),
    })
}

async fn api_export(
    State(state): State<AppState>,
    Query(q): Query<ExportQuery>,
) -> Result<Response, crate::web::ApiError> {
    Ok(match parse(&state.pool, &q).await? {
        Ok((target, profile, mode)) => Json(export::export(
            &target,
            &profile,
            mode,
            &WebhookOptions::default(),
        ))
        .into_response(),
        Err(e) => e.into_response(),
    })
}

/// One copyable block.
#[derive(Debug, Clone)]
pub struct Section {
    pub id: &'static str,
    pub title: &'static str,
    /// What to do with it, in a sentence.
    pub how: &'static str,
    pub text: String,
}

/// What `partials/export.html` shows.
#[derive(Debug, Clone, Default)]
pub struct ExportView {
    pub target: String,
    pub profile: String,
    pub mode: String,
    pub sections: Vec<Section>,
    pub notes: Vec<String>,
    pub labels: BTreeMap<String, String>,
    /// Why nothing could be exported (a bad parameter), for the page.
    pub error: Option<String>,
}

impl ExportView {
    pub fn new(target: &str, profile: &str, mode: &str, e: &Export) -> Self {
        let mut sections = Vec::new();
        if let Some(k) = &e.kubectl {
            sections.push(Section {
                id: "kubectl",
                title: "kubectl command",
                how: "Run it with access to the cluster: Pod Security Admission enforces the labels from then on.",
                text: k.clone(),
            });
        }
        if let Some(y) = &e.namespace_yaml {
            sections.push(Section {
                id: "yaml",
                title: "Namespace YAML",
                how: "Or keep the labels with your manifests and apply them with kubectl apply.",
                text: y.clone(),
            });
        }
        if let Some(v) = &e.validating_admission_policy {
            sections.push(Section {
                id: "vap",
                title: "ValidatingAdmissionPolicy",
                how: "A policy in CEL and its binding (Kubernetes 1.30 or newer), enforced by the API server itself.",
                text: v.clone(),
            });
        }
        if let Some(w) = &e.webhook_configuration {
            sections.push(Section {
                id: "webhook",
                title: "Webhook configuration",
                how: "Sends this assignment's pods to the Portcullis admission webhook.",
                text: w.clone(),
            });
        }
        ExportView {
            target: target.to_owned(),
            profile: profile.to_owned(),
            mode: mode.to_owned(),
            sections,
            notes: e.notes.clone(),
            labels: e.labels.clone().unwrap_or_default(),
            error: None,
        }
    }

    pub fn is_mode(&self, m: &str) -> bool {
        self.mode == m
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "pages/export.html")]
pub struct ExportPage {
    pub nav: Nav,
    pub export: ExportView,
}

#[derive(Template, WebTemplate)]
#[template(path = "partials/export.html")]
pub struct ExportPartial {
    pub export: ExportView,
}

async fn page(
    State(state): State<AppState>,
    HxRequest(hx): HxRequest,
    Query(q): Query<ExportQuery>,
) -> Result<Response, AppError> {
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    let nothing_asked = [&q.target, &q.profile, &q.mode]
        .iter()
        .all(|v| filled(v).is_none());
    let (status, view) = if nothing_asked {
        (
            StatusCode::OK,
            ExportView {
                mode: "enforce".to_owned(),
                ..Default::default()
            },
        )
    } else {
        match parse(&state.pool, &q).await? {
            Ok((target, profile, mode)) => {
                let e = export::export(&target, &profile, mode, &WebhookOptions::default());
                (
                    StatusCode::OK,
                    ExportView::new(&target.to_string(), &profile.name, mode.as_str(), &e),
                )
            }
            Err(err) => (
                err.status,
                ExportView {
                    target: text(&q.target),
                    profile: text(&q.profile),
                    mode: text(&q.mode),
                    error: Some(err.message),
                    ..Default::default()
                },
            ),
        }
    };
    Ok(if hx {
        (status, ExportPartial { export: view }).into_response()
    } else {
        (
            status,
            ExportPage {
                nav: Nav::new("", &None),
                export: view,
            },
        )
            .into_response()
    })
}
