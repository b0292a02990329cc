//! The admission log: recent webhook decisions, filtered by verdict and
//! namespace, newest first, paginated; the filters live in the URL.
//! `GET /admission` (page, or the table alone for htmx) and
//! `GET /api/v1/admission` (`{"decisions": [...], "total": N}`).

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use axum_htmx::HxRequest;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Nav, filled};
use crate::AppState;
use crate::metrics::ReviewVerdict;
use crate::store;
use crate::store::admission::{Entry, Filter};
use crate::web::{ApiError, AppError};

const PER_PAGE: i64 = 50;

pub fn router() -> Router<AppState> {
    Router::new().route("/admission", get(page))
}

pub fn api() -> Router<AppState> {
    Router::new().route("/admission", get(api_list))
}

/// `?verdict=denied&namespace=shop&page=2`.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct Params {
    pub verdict: Option<String>,
    pub namespace: Option<String>,
    pub page: Option<String>,
    #[serde(rename = "perPage")]
    pub per_page: Option<String>,
}

impl Params {
    fn filter(&self) -> Result<Filter, AppError> {
        let verdict = match filled(&self.verdict) {
            None => None,
            Some(v) => match ReviewVerdict::parse(v) {
                Some(v) => Some(v.as_str().to_owned()),
                None => {
                    return Err(AppError::BadRequest(format!(
                        "verdict must be allowed, denied, warned, audited or error, not {v:?}"
                    )));
                }
            },
        };
        Ok(Filter {
            verdict,
            namespace: filled(&self.namespace).map(str::to_owned),
            scope: None,
        })
    }

    fn number(v: &Option<String>, name: &str, default: i64, max: i64) -> Result<i64, AppError> {
        match filled(v) {
            None => Ok(default),
            Some(s) => match s.parse::<i64>() {
                Ok(n) if (1..=max).contains(&n) => Ok(n),
                _ => Err(AppError::BadRequest(format!(
                    "{name} must be a number from 1 to {max}, not {s:?}"
                ))),
            },
        }
    }

    fn page(&self) -> Result<i64, AppError> {
        Self::number(&self.page, "page", 1, i64::MAX / PER_PAGE / 1000)
    }

    fn per_page(&self) -> Result<i64, AppError> {
        Self::number(&self.per_page, "perPage", PER_PAGE, 500)
    }

    /// The URL of this view with another page.
    pub fn page_url(&self, page: i64) -> String {
        let mut pairs: Vec<(&str, String)> = Vec::new();
        if let Some(v) = filled(&self.verdict) {
            pairs.push(("verdict", v.to_owned()));
        }
        if let Some(n) = filled(&self.namespace) {
            pairs.push(("namespace", n.to_owned()));
        }
        if page > 1 {
            pairs.push(("page", page.to_string()));
        }
        if pairs.is_empty() {
            return "/admission".to_owned();
        }
        format!(
            "/admission?{}",
            serde_urlencoded::to_string(pairs).unwrap_or_default()
        )
    }

    pub fn is_verdict(&self, v: &str) -> bool {
        filled(&self.verdict) == Some(v)
    }

    pub fn is_namespace(&self, ns: &str) -> bool {
        filled(&self.namespace) == Some(ns)
    }
}

/// The table of decisions (the htmx partial).
#[derive(Template, WebTemplate)]
#[template(path = "partials/admission_table.html")]
pub struct AdmissionTable {
    pub params: Params,
    pub rows: Vec<Entry>,
    pub total: i64,
    pub page: i64,
    pub pages: i64,
    /// Rows in the whole log, to tell "no decision yet" from "none match".
    pub logged: i64,
}

impl AdmissionTable {
    /// The word shown with each verdict (never colour alone).
    pub fn badge(&self, verdict: &str) -> &'static str {
        match verdict {
            "allowed" => "✓ allowed",
            "denied" => "✗ rejected",
            "warned" => "⚠ warning",
            "audited" => "◆ audited",
            _ => "? error",
        }
    }

    pub fn first_row(&self) -> i64 {
        (self.page - 1) * PER_PAGE + 1
    }

    pub fn last_row(&self) -> i64 {
        ((self.page - 1) * PER_PAGE + self.rows.len() as i64).min(self.total)
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "pages/admission.html")]
pub struct AdmissionPage {
    pub nav: Nav,
    pub table: AdmissionTable,
    pub namespaces: Vec<String>,
    pub verdicts: [&'static str; 5],
}

async fn table(
    state: &AppState,
    params: Params,
    principal: &crate::auth::Principal,
) -> Result<AdmissionTable, AppError> {
    let mut filter = params.filter()?;
    filter.scope = principal.namespaces.clone();
    let page = params.page()?;
    let (rows, total) =
        store::admission::list(&state.pool, &filter, PER_PAGE, (page - 1) * PER_PAGE).await?;
    let logged = if total > 0 {
        total
    } else if principal.scoped() {
        let all = store::admission::Filter {
            scope: principal.namespaces.clone(),
            ..Default::default()
        };
        store::admission::list(&state.pool, &all, 0, 0).await?.1
    } else {
        store::admission::count(&state.pool).await?
    };
    Ok(AdmissionTable {
        params,
        rows,
        total,
        page,
        pages: ((total + PER_PAGE - 1) / PER_PAGE).max(1),
        logged,
    })
}

async fn page(
    State(state): State<AppState>,
    principal: crate::auth::Principal,
    HxRequest(hx): HxRequest,
    Query(params): Query<Params>,
) -> Result<Response, AppError> {
    let table = table(&state, params, &principal).await?;
    if hx {
        return Ok(table.into_response());
    }
    let snapshot = store::snapshots::latest(&state.pool).await?;
    Ok(AdmissionPage {
        nav: Nav::new("admission", &snapshot),
        table,
        namespaces: store::admission::namespaces(&state.pool)
            .await?
            .into_iter()
            .filter(|ns| principal.sees(ns))
            .collect(),
        verdicts: ReviewVerdict::ALL.map(ReviewVerdict::as_str),
    }
    .into_response())
}

async fn api_list(
    State(state): State<AppState>,
    principal: crate::auth::Principal,
    Query(params): Query<Params>,
) -> Result<Json<Value>, ApiError> {
    let mut filter = params.filter()?;
    filter.scope = principal.namespaces.clone();
    let page = params.page()?;
    let per_page = params.per_page()?;
    let (rows, total) =
        store::admission::list(&state.pool, &filter, per_page, (page - 1) * per_page).await?;
    Ok(Json(json!({ "decisions": rows, "total": total })))
}
