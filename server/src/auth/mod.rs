//! Who is asking, and may they.
//!
//! Every request to the dashboard and the JSON API passes [`middleware`]: it
//! finds the [`Principal`] (an API token in `Authorization: Bearer`, else the
//! session cookie, else nobody), checks the role the route needs ([`need`]),
//! checks the CSRF token of every state-changing request made with a cookie,
//! and runs the handler with the principal in the request's extensions and in
//! [`current`] (which pages read to put the CSRF token in their forms).
//!
//! With no users and no OpenID Connect, on a loopback address only, the
//! dashboard runs open: everyone is the admin `anonymous`, and every page says
//! so (see `cli::serve`, which refuses any other address without sign-in).

pub mod oidc;
pub mod password;
pub mod secret;

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};
use sqlx::SqlitePool;

use crate::AppState;
use crate::store;
use crate::web::{ApiError, AppError};

/// What a user may do; each role may do what the ones before it may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads every page and the JSON API.
    Viewer,
    /// And: runs what-ifs, acknowledges alerts, takes snapshots.
    Operator,
    /// And: assignments, exemptions, profiles, notifications, users, settings.
    Admin,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Viewer, Role::Operator, Role::Admin];

    pub fn parse(s: &str) -> Option<Role> {
        match s.trim() {
            "viewer" => Some(Role::Viewer),
            "operator" => Some(Role::Operator),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How the principal proved who they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// The open dashboard on loopback: no sign-in configured.
    Open,
    /// A browser session (cookie).
    Session,
    /// An API token (`Authorization: Bearer`).
    Token,
}

/// Who makes a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub user: String,
    pub role: Role,
    /// The namespaces this user sees and changes; `None`: all of them.
    pub namespaces: Option<Vec<String>>,
    pub via: Via,
}

impl Principal {
    /// Everyone on the open dashboard.
    pub fn open() -> Self {
        Principal {
            user: "anonymous".to_owned(),
            role: Role::Admin,
            namespaces: None,
            via: Via::Open,
        }
    }

    /// Whether this user sees (and, with the role, changes) namespace `ns`.
    pub fn sees(&self, ns: &str) -> bool {
        self.namespaces
            .as_ref()
            .is_none_or(|list| list.iter().any(|n| n == ns))
    }

    /// Limited to some namespaces: cluster-wide things are out of reach.
    pub fn scoped(&self) -> bool {
        self.namespaces.is_some()
    }

    /// Refuses unless the user's role is at least `role`.
    pub fn require(&self, role: Role) -> Result<(), AppError> {
        if self.role >= role {
            Ok(())
        } else {
            Err(AppError::Forbidden(format!(
                "{} is {} {}; this needs {} {}.",
                self.user,
                article(self.role),
                self.role,
                article(role),
                role
            )))
        }
    }

    /// Refuses a change to namespace `ns` (or, for `None`, to something
    /// cluster-wide) the user's namespaces do not cover.
    pub fn may_change(&self, ns: Option<&str>) -> Result<(), AppError> {
        let ok = match ns {
            Some(ns) => self.sees(ns),
            None => !self.scoped(),
        };
        if ok {
            return Ok(());
        }
        let scope = self.namespaces.as_deref().unwrap_or_default().join(", ");
        Err(AppError::Forbidden(match ns {
            Some(ns) => format!(
                "{} may change only namespaces {scope}, not {ns}.",
                self.user
            ),
            None => format!(
                "{} may change only namespaces {scope}; this is cluster-wide and needs an admin of every namespace.",
                self.user
            ),
        }))
    }
}

fn article(r: Role) -> &'static str {
    match r {
        Role::Admin | Role::Operator => "an",
        Role::Viewer => "a",
    }
}

/// What a route needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Anyone: sign-in, static files, health.
    Public,
    Role(Role),
}

/// The role a request needs, from its method and path alone, so that every
/// route is covered, including ones added later: reading needs a viewer
/// (users and tokens: an admin), a few named changes an operator, and every
/// other change an admin.
pub fn need(method: &Method, path: &str) -> Need {
    if matches!(
        path,
        "/login" | "/login/oidc" | "/login/oidc/callback" | "/healthz" | "/readyz"
    ) || path.starts_with("/static/")
    {
        return Need::Public;
    }
    let admin_area = path == "/settings/users"
        || path.starts_with("/settings/users/")
        || path == "/api/v1/users"
        || path.starts_with("/api/v1/users/")
        || path == "/api/v1/tokens"
        || path.starts_with("/api/v1/tokens/");
    if matches!(*method, Method::GET | Method::HEAD) {
        return Need::Role(if admin_area {
            Role::Admin
        } else {
            Role::Viewer
        });
    }
    let acknowledge = path.ends_with("/acknowledge")
        && (path.starts_with("/alerts/") || path.starts_with("/api/v1/alerts/"));
    if path == "/logout" || path.starts_with("/account/") {
        Need::Role(Role::Viewer)
    } else if acknowledge || matches!(path, "/advisor" | "/api/v1/what-if" | "/snapshots") {
        Need::Role(Role::Operator)
    } else {
        Need::Role(Role::Admin)
    }
}

// ---------------------------------------------------------------------------------------------
// Configuration and state

/// How sign-in is set up for a server.
pub struct Auth {
    /// No users and no OpenID Connect, on loopback: everyone is admin.
    open: AtomicBool,
    /// Whether the server may run open at all (it listens on loopback).
    may_run_open: bool,
    /// The CSRF token of the open dashboard (one per process).
    open_csrf: String,
    pub session_ttl: Duration,
    pub session_idle: Duration,
    /// `Secure` cookies with the `__Host-` prefix (off only for plain HTTP
    /// beyond loopback, with `--insecure-cookies`).
    pub secure_cookies: bool,
    pub oidc: Option<oidc::Oidc>,
    /// The role of someone who signs in with OpenID Connect and is not a
    /// user yet; `None`: refused until an admin adds them.
    pub oidc_default_role: Option<Role>,
    failures: Mutex<HashMap<String, Failures>>,
}

struct Failures {
    count: u32,
    since: i64,
}

/// Failed sign-ins of one user name allowed per window before refusing.
const MAX_FAILURES: u32 = 10;
const FAILURE_WINDOW_MS: i64 = 15 * 60 * 1000;

impl Default for Auth {
    /// The open dashboard (what tests and `AppState::new` get).
    fn default() -> Self {
        Auth::new(true, None)
    }
}

impl Auth {
    /// `may_run_open`: the server listens on loopback only. Open until the
    /// first user exists (see [`Auth::refresh`]).
    pub fn new(may_run_open: bool, oidc: Option<oidc::Oidc>) -> Self {
        Auth {
            open: AtomicBool::new(may_run_open && oidc.is_none()),
            may_run_open,
            open_csrf: secret::random_token(),
            session_ttl: Duration::from_secs(12 * 3600),
            session_idle: Duration::from_secs(2 * 3600),
            secure_cookies: true,
            oidc,
            oidc_default_role: None,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// Signing in is required from the start (tests of sign-in).
    pub fn required() -> Self {
        let a = Auth::new(false, None);
        a.open.store(false, Ordering::Relaxed);
        a
    }

    /// Runs open (no sign-in) right now.
    pub fn is_open(&self) -> bool {
        self.open.load(Ordering::Relaxed)
    }

    /// The open dashboard's CSRF token (tests post forms with it).
    pub fn open_csrf(&self) -> &str {
        &self.open_csrf
    }

    /// Recomputes whether the dashboard runs open: only while there are no
    /// users (the first user added closes it, at once).
    pub async fn refresh(&self, pool: &SqlitePool) -> Result<(), sqlx::Error> {
        let users = store::users::count(pool).await?;
        self.open.store(
            self.may_run_open && self.oidc.is_none() && users == 0,
            Ordering::Relaxed,
        );
        Ok(())
    }

    fn cookie_name(&self) -> &'static str {
        if self.secure_cookies {
            "__Host-portcullis"
        } else {
            "portcullis"
        }
    }

    /// `Set-Cookie` for a new session.
    pub fn session_cookie(&self, token: &str) -> String {
        format!(
            "{}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{}",
            self.cookie_name(),
            self.session_ttl.as_secs(),
            if self.secure_cookies { "; Secure" } else { "" }
        )
    }

    /// `Set-Cookie` that removes the session cookie.
    pub fn clear_cookie(&self) -> String {
        format!(
            "{}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{}",
            self.cookie_name(),
            if self.secure_cookies { "; Secure" } else { "" }
        )
    }

    /// The session token the browser sent, if any.
    pub fn session_token<'a>(&self, headers: &'a HeaderMap) -> Option<&'a str> {
        cookie(headers, self.cookie_name())
    }

    /// Refuses a sign-in for `name` after too many failures; the error says
    /// how long to wait.
    pub fn check_failures(&self, name: &str, now: i64) -> Result<(), String> {
        let Ok(mut map) = self.failures.lock() else {
            return Ok(());
        };
        map.retain(|_, f| now - f.since < FAILURE_WINDOW_MS);
        match map.get(name) {
            Some(f) if f.count >= MAX_FAILURES => {
                let minutes = ((f.since + FAILURE_WINDOW_MS - now + 59_999) / 60_000).max(1);
                Err(format!(
                    "Too many failed sign-ins for this user; try again in {minutes} minute{}.",
                    if minutes == 1 { "" } else { "s" }
                ))
            }
            _ => Ok(()),
        }
    }

    pub fn record_failure(&self, name: &str, now: i64) {
        if let Ok(mut map) = self.failures.lock() {
            // Bounded: a flood of made-up names cannot grow it without end.
            if map.len() >= 10_000 && !map.contains_key(name) {
                map.retain(|_, f| f.count >= MAX_FAILURES);
                if map.len() >= 10_000 {
                    return;
                }
            }
            let f = map.entry(name.to_owned()).or_insert(Failures {
                count: 0,
                since: now,
            });
            f.count += 1;
        }
    }

    pub fn clear_failures(&self, name: &str) {
        if let Ok(mut map) = self.failures.lock() {
            map.remove(name);
        }
    }
}

/// One cookie's value from the `Cookie` headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

// ---------------------------------------------------------------------------------------------
// The request's principal, for pages

/// What a page needs to know of the request it answers.
#[derive(Debug, Clone)]
pub struct Current {
    pub principal: Option<Principal>,
    /// The CSRF token forms must carry (empty when there is none).
    pub csrf: String,
    pub open: bool,
}

tokio::task_local! {
    static CURRENT: Current;
}

/// The request being answered (outside a request: nobody, no token).
pub fn current() -> Current {
    CURRENT.try_with(Clone::clone).unwrap_or(Current {
        principal: None,
        csrf: String::new(),
        open: false,
    })
}

/// The principal of the request being answered; outside a request, someone
/// who sees no namespace at all.
pub fn viewer() -> Principal {
    current().principal.unwrap_or_else(|| Principal {
        user: "anonymous".to_owned(),
        role: Role::Viewer,
        namespaces: Some(Vec::new()),
        via: Via::Open,
    })
}

/// The CSRF token for the forms of the page being rendered.
pub fn csrf() -> String {
    CURRENT.try_with(|c| c.csrf.clone()).unwrap_or_default()
}

/// The principal, as an extractor (set by [`middleware`]; the open principal
/// when the router runs without it).
impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Principal {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(principal_of(parts))
    }
}

/// The principal of a request (nobody signed in reads as "anonymous" viewer,
/// which only public routes ever see).
pub fn principal_of(parts: &axum::http::request::Parts) -> Principal {
    parts
        .extensions
        .get::<Principal>()
        .cloned()
        .unwrap_or_else(|| Principal {
            user: "anonymous".to_owned(),
            role: Role::Viewer,
            namespaces: Some(Vec::new()),
            via: Via::Open,
        })
}

// ---------------------------------------------------------------------------------------------
// The middleware

/// The header htmx and scripts send the CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";

fn is_api(path: &str) -> bool {
    path.starts_with("/api/") || path == "/metrics"
}

/// Authenticates, authorises and checks CSRF; see the module's text.
pub async fn middleware(State(state): State<AppState>, req: Request, next: Next) -> Response {
    match authorise(&state, req).await {
        Ok((req, current)) => CURRENT.scope(current, next.run(req)).await,
        Err(response) => response,
    }
}

async fn authorise(state: &AppState, req: Request) -> Result<(Request, Current), Response> {
    let auth = &state.auth;
    let (parts, body) = req.into_parts();
    let req = &parts;
    let path = req.uri.path().to_owned();
    let api = is_api(&path);
    let refuse = |e: AppError| -> Response {
        if api {
            ApiError(e).into_response()
        } else {
            e.into_response()
        }
    };
    let needed = need(&req.method, &path);
    let now = crate::now_ms();

    let (principal, csrf) = match identify(state, req, api, now).await {
        Ok(found) => found,
        // Public routes answer whoever asks, whatever they sent.
        Err(_) if needed == Need::Public => (None, String::new()),
        Err(response) => return Err(response),
    };

    if let Need::Role(role) = needed {
        let Some(p) = &principal else {
            return Err(unauthorised(api, req, "Sign in first."));
        };
        if let Err(e) = p.require(role) {
            return Err(refuse(e));
        }
    }

    let changes = !matches!(req.method, Method::GET | Method::HEAD | Method::OPTIONS);
    let mut req = Request::from_parts(parts, body);
    if changes
        && needed != Need::Public
        && let Some(p) = &principal
        && p.via != Via::Token
    {
        req = check_csrf(req, p.via, &csrf).await.map_err(refuse)?;
    }

    let current = Current {
        principal: principal.clone(),
        csrf,
        open: auth.is_open(),
    };
    if let Some(p) = principal {
        req.extensions_mut().insert(p);
    }
    Ok((req, current))
}

/// The principal of a request and its CSRF token: the open dashboard's
/// anonymous admin, an API token's user, a session's user, or nobody.
async fn identify(
    state: &AppState,
    req: &Parts,
    api: bool,
    now: i64,
) -> Result<(Option<Principal>, String), Response> {
    let auth = &state.auth;
    let found = if auth.is_open() {
        (Some(Principal::open()), auth.open_csrf.clone())
    } else if let Some(value) = req.headers.get(header::AUTHORIZATION) {
        let token = value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty());
        let Some(token) = token else {
            return Err(unauthorised(
                api,
                req,
                "The Authorization header must be `Bearer <API token>`.",
            ));
        };
        match store::users::token_principal(&state.pool, &secret::hash(token), now).await {
            Ok(Some(p)) => (Some(p), String::new()),
            Ok(None) => {
                return Err(unauthorised(
                    api,
                    req,
                    "This API token is not valid: unknown, revoked or expired.",
                ));
            }
            Err(e) => return Err(ApiError(e.into()).into_response()),
        }
    } else if let Some(token) = auth.session_token(&req.headers) {
        let idle = auth.session_idle.as_millis() as i64;
        match store::users::session(&state.pool, &secret::hash(token), now, idle).await {
            Ok(Some(s)) => (Some(s.principal), s.csrf),
            Ok(None) => (None, String::new()),
            Err(e) => return Err(ApiError(e.into()).into_response()),
        }
    } else {
        (None, String::new())
    };

    Ok(found)
}

/// 401 for the API and for htmx; pages are sent to the sign-in page and come
/// back to where they were.
fn unauthorised(api: bool, req: &Parts, message: &str) -> Response {
    let htmx = req.headers.contains_key("hx-request");
    if api || htmx || !matches!(req.method, Method::GET | Method::HEAD) {
        let mut response = if api {
            ApiError(AppError::Unauthorized(message.to_owned())).into_response()
        } else {
            AppError::Unauthorized(message.to_owned()).into_response()
        };
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"portcullis\""),
        );
        if htmx {
            // htmx follows this with a full page load.
            response
                .headers_mut()
                .insert("hx-redirect", HeaderValue::from_static("/login"));
        }
        return response;
    }
    let next = req
        .uri
        .path_and_query()
        .map(|pq| pq.as_str())
        .unwrap_or("/");
    let q = serde_urlencoded::to_string([("next", next)]).unwrap_or_default();
    Redirect::to(&format!("/login?{q}")).into_response()
}

/// Checks the CSRF token of a state-changing request: the `X-CSRF-Token`
/// header, or the `csrf` field of a form. A session's requests always need
/// it. On the open dashboard there is no cookie for another site to ride on,
/// so only requests a browser made (they carry `Origin` or `Sec-Fetch-Site`)
/// need it; scripts on the machine (curl) do not.
async fn check_csrf(req: Request, via: Via, expected: &str) -> Result<Request, AppError> {
    let missing = || {
        AppError::Forbidden(
            "This change needs the CSRF token of a Portcullis page (the form field `csrf` or the header X-CSRF-Token); reload the page and try again."
                .to_owned(),
        )
    };
    let matches = |sent: &[u8]| secret::same(sent, expected.as_bytes());
    if let Some(sent) = req.headers().get(CSRF_HEADER) {
        return if matches(sent.as_bytes()) {
            Ok(req)
        } else {
            Err(missing())
        };
    }
    let browser =
        req.headers().contains_key(header::ORIGIN) || req.headers().contains_key("sec-fetch-site");
    let excused = via == Via::Open && !browser;
    let form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
        });
    if form {
        let (parts, body) = req.into_parts();
        let bytes = axum::body::to_bytes(body, 1024 * 1024)
            .await
            .map_err(|_| AppError::BadRequest("The form is larger than 1 MiB.".to_owned()))?;
        let ok = match form_field(&bytes, "csrf") {
            Some(sent) => matches(sent.as_bytes()),
            None => excused,
        };
        return if ok {
            Ok(Request::from_parts(parts, Body::from(bytes)))
        } else {
            Err(missing())
        };
    }
    if excused { Ok(req) } else { Err(missing()) }
}

/// The first value of `name` in a urlencoded form.
fn form_field(body: &[u8], name: &str) -> Option<String> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
        .ok()?
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reading_needs_a_viewer_and_changes_an_admin_unless_named() {
        let get = Method::GET;
        let post = Method::POST;
        assert_eq!(need(&get, "/"), Need::Role(Role::Viewer));
        assert_eq!(need(&get, "/api/v1/workloads"), Need::Role(Role::Viewer));
        assert_eq!(need(&get, "/metrics"), Need::Role(Role::Viewer));
        assert_eq!(need(&get, "/settings/users"), Need::Role(Role::Admin));
        assert_eq!(need(&get, "/api/v1/tokens"), Need::Role(Role::Admin));
        assert_eq!(need(&post, "/api/v1/what-if"), Need::Role(Role::Operator));
        assert_eq!(need(&post, "/advisor"), Need::Role(Role::Operator));
        assert_eq!(
            need(&post, "/alerts/3/acknowledge"),
            Need::Role(Role::Operator)
        );
        assert_eq!(
            need(&post, "/api/v1/alerts/3/acknowledge"),
            Need::Role(Role::Operator)
        );
        assert_eq!(need(&post, "/api/v1/assignments"), Need::Role(Role::Admin));
        assert_eq!(
            need(&Method::DELETE, "/api/v1/exemptions/1"),
            Need::Role(Role::Admin)
        );
        assert_eq!(need(&post, "/profiles/x/delete"), Need::Role(Role::Admin));
        // A route nobody listed is an admin's.
        assert_eq!(need(&Method::PUT, "/anything/new"), Need::Role(Role::Admin));
        // A path that only looks like an acknowledgement is not one.
        assert_eq!(
            need(&post, "/profiles/acknowledge"),
            Need::Role(Role::Admin)
        );
        assert_eq!(need(&post, "/logout"), Need::Role(Role::Viewer));
        assert_eq!(need(&post, "/login"), Need::Public);
        assert_eq!(need(&get, "/static/app.css"), Need::Public);
        assert_eq!(need(&get, "/healthz"), Need::Public);
    }

    #[test]
    fn roles_are_ordered_and_scopes_limit_changes() {
        let p = Principal {
            user: "team-a".into(),
            role: Role::Operator,
            namespaces: Some(vec!["shop".into()]),
            via: Via::Session,
        };
        assert!(p.require(Role::Viewer).is_ok());
        assert!(p.require(Role::Operator).is_ok());
        let e = p.require(Role::Admin).unwrap_err().to_string();
        assert_eq!(e, "team-a is an operator; this needs an admin.");
        assert!(p.sees("shop") && !p.sees("payments"));
        assert!(p.may_change(Some("shop")).is_ok());
        assert!(p.may_change(Some("payments")).is_err());
        assert!(p.may_change(None).is_err());
        assert!(Principal::open().may_change(None).is_ok());
    }

    #[test]
    fn cookies_and_form_fields_are_found_exactly() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; __Host-portcullis=tok; b=2"),
        );
        assert_eq!(cookie(&h, "__Host-portcullis"), Some("tok"));
        assert_eq!(cookie(&h, "portcullis"), None);
        assert_eq!(
            form_field(b"x=1&csrf=a%2Bb&csrf=z", "csrf").as_deref(),
            Some("a+b")
        );
        assert_eq!(form_field(b"x=1", "csrf"), None);
    }

    #[test]
    fn failed_sign_ins_are_limited_per_name_and_window() {
        let auth = Auth::required();
        for _ in 0..MAX_FAILURES {
            assert!(auth.check_failures("alice", 0).is_ok());
            auth.record_failure("alice", 0);
        }
        let e = auth.check_failures("alice", 60_000).unwrap_err();
        assert!(e.contains("14 minutes"), "{e}");
        assert!(auth.check_failures("bob", 60_000).is_ok());
        assert!(auth.check_failures("alice", FAILURE_WINDOW_MS).is_ok());
        auth.record_failure("carol", 0);
        auth.clear_failures("carol");
        assert!(auth.failures.lock().is_ok_and(|m| !m.contains_key("carol")));
    }
}
