//! Sign-in and who may do what: `/login` (password, or OpenID Connect),
//! `/logout`, `/account` (your API tokens and password), `/settings/users`
//! (admins: users, roles, namespaces, tokens), and the JSON API
//! `/api/v1/whoami`, `/api/v1/users`, `/api/v1/tokens`.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::Nav;
use super::advisor::{ApiJson, FieldError};
use super::assignments::same_site;
use crate::AppState;
use crate::auth::oidc::OidcError;
use crate::auth::{self, Principal, Role, password, secret};
use crate::store;
use crate::store::users::{NewUser, Token, User, UserChange, UserError};
use crate::web::{ApiError, AppError};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
        .route("/login/oidc", get(oidc_begin))
        .route("/login/oidc/callback", get(oidc_callback))
        .route("/account", get(account_page))
        .route("/account/tokens", post(account_token_add))
        .route("/account/tokens/{id}/revoke", post(account_token_revoke))
        .route("/account/password", post(account_password))
        .route("/settings/users", get(users_page).post(users_add_form))
        .route("/settings/users/{name}", post(users_change_form))
        .route("/settings/users/{name}/delete", post(users_delete_form))
        .route("/settings/users/{name}/tokens", post(users_token_form))
        .route(
            "/settings/users/tokens/{id}/revoke",
            post(users_token_revoke_form),
        )
}

/// Routes under `/api/v1`.
pub fn api() -> Router<AppState> {
    Router::new()
        .route("/whoami", get(whoami))
        .route("/users", get(api_users).post(api_user_add))
        .route(
            "/users/{name}",
            delete(api_user_delete).patch(api_user_change),
        )
        .route("/tokens", get(api_tokens).post(api_token_add))
        .route("/tokens/{id}", delete(api_token_revoke))
}

// ---------------------------------------------------------------------------------------------
// Checking what people type

fn invalid(field: &str, message: impl Into<String>) -> FieldError {
    FieldError {
        status: StatusCode::UNPROCESSABLE_ENTITY,
        field: field.to_owned(),
        message: message.into(),
    }
}

/// A user name: 1 to 100 characters, no spaces at either end, no control
/// characters (an e-mail address is fine, as OpenID Connect users have).
pub fn check_name(name: &str) -> Result<String, FieldError> {
    let trimmed = name.trim();
    if trimmed.is_empty() || trimmed.chars().count() > 100 || trimmed.chars().any(char::is_control)
    {
        return Err(invalid(
            "name",
            "name: give a user name of 1 to 100 characters, without control characters",
        ));
    }
    Ok(trimmed.to_owned())
}

pub fn check_role(role: &str) -> Result<Role, FieldError> {
    Role::parse(role).ok_or_else(|| {
        invalid(
            "role",
            format!("role is viewer, operator or admin, not {role:?}"),
        )
    })
}

/// Namespaces as typed: empty or `*` for all, else names separated by commas
/// or spaces.
pub fn check_namespaces(text: &str) -> Result<Option<Vec<String>>, FieldError> {
    let text = text.trim();
    if text.is_empty() || text == "*" {
        return Ok(None);
    }
    let mut list: Vec<String> = Vec::new();
    for ns in text
        .split([',', ' ', '\n'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        let valid = ns.len() <= 63
            && ns
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !ns.starts_with('-')
            && !ns.ends_with('-');
        if !valid {
            return Err(invalid(
                "namespaces",
                format!("namespaces: {ns:?} is not a namespace name"),
            ));
        }
        if !list.iter().any(|n| n == ns) {
            list.push(ns.to_owned());
        }
    }
    Ok(Some(list))
}

fn check_password(p: &str) -> Result<(), FieldError> {
    password::check_strength(p).map_err(|m| invalid("password", format!("password: {m}")))
}

/// `30d`, `12h`, ISO 8601 or empty (never), as an end time from `now`.
fn check_expiry(text: &str, now: i64) -> Result<Option<i64>, FieldError> {
    let text = text.trim();
    if text.is_empty() || text == "never" {
        return Ok(None);
    }
    let days = text
        .strip_suffix('d')
        .and_then(|d| d.parse::<u32>().ok())
        .map(|d| std::time::Duration::from_secs(u64::from(d) * 86_400));
    let d = match days {
        Some(d) => d,
        None => crate::cli::parse_duration(text)
            .map_err(|m| invalid("expires", format!("expires: {m}")))?,
    };
    if d.is_zero() {
        return Err(invalid(
            "expires",
            "expires: give a duration such as 90d, or nothing for never",
        ));
    }
    Ok(Some(
        now.saturating_add(d.as_millis().min(i64::MAX as u128) as i64),
    ))
}

fn user_error(e: UserError) -> Result<FieldError, AppError> {
    Ok(match e {
        UserError::Db(e) => return Err(e.into()),
        UserError::Exists(_) => FieldError {
            status: StatusCode::CONFLICT,
            field: "name".into(),
            message: e.to_string(),
        },
        UserError::NoUser(_) | UserError::NoToken(_) => FieldError {
            status: StatusCode::NOT_FOUND,
            field: "name".into(),
            message: e.to_string(),
        },
        UserError::LastAdmin(_) => FieldError {
            status: StatusCode::CONFLICT,
            field: "role".into(),
            message: e.to_string(),
        },
    })
}

fn api_fail(e: UserError) -> Response {
    match user_error(e) {
        Ok(f) => f.into_response(),
        Err(e) => ApiError(e).into_response(),
    }
}

// ---------------------------------------------------------------------------------------------
// Sign-in and sign-out

/// Where to go after signing in: a path on this site only.
fn local_path(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.starts_with("/\\") => {
            n.to_owned()
        }
        _ => "/".to_owned(),
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "pages/login.html")]
struct LoginPage {
    nav: Nav,
    next: String,
    name: String,
    error: Option<String>,
    oidc: bool,
}

#[derive(Debug, Default, Deserialize)]
struct LoginQuery {
    next: Option<String>,
    error: Option<String>,
}

async fn login_page(
    State(state): State<AppState>,
    principal: Option<axum::Extension<Principal>>,
    Query(q): Query<LoginQuery>,
) -> Response {
    let next = local_path(q.next.as_deref());
    if state.auth.is_open() || principal.is_some() {
        return Redirect::to(&next).into_response();
    }
    LoginPage {
        nav: Nav::new("", &None),
        next,
        name: String::new(),
        error: q.error.map(|_| {
            "Signing in with OpenID Connect failed; the server's log says why.".to_owned()
        }),
        oidc: state.auth.oidc.is_some(),
    }
    .into_response()
}

#[derive(Debug, Default, Deserialize)]
struct LoginForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: String,
    next: Option<String>,
}

async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> Result<Response, AppError> {
    same_site(&headers)?;
    let next = local_path(f.next.as_deref());
    let name = f.name.trim().to_owned();
    let now = crate::now_ms();
    let refuse = |status: StatusCode, message: String| {
        (
            status,
            LoginPage {
                nav: Nav::new("", &None),
                next: next.clone(),
                name: name.clone(),
                error: Some(message),
                oidc: state.auth.oidc.is_some(),
            },
        )
            .into_response()
    };
    if state.auth.is_open() {
        return Ok(Redirect::to(&next).into_response());
    }
    if let Err(m) = state.auth.check_failures(&name, now) {
        return Ok(refuse(StatusCode::TOO_MANY_REQUESTS, m));
    }
    let hash = store::users::password_hash(&state.pool, &name).await?;
    if !password::verify(f.password, hash).await {
        state.auth.record_failure(&name, now);
        tracing::info!(user = %name, "sign-in refused");
        return Ok(refuse(
            StatusCode::UNAUTHORIZED,
            "Wrong user name or password.".to_owned(),
        ));
    }
    state.auth.clear_failures(&name);
    let Some(user) = store::users::get(&state.pool, &name).await? else {
        return Ok(refuse(
            StatusCode::UNAUTHORIZED,
            "Wrong user name or password.".to_owned(),
        ));
    };
    tracing::info!(user = %name, "signed in");
    start_session(&state, user.id, &next).await
}

/// Starts a session and sends the browser on to `next` with its cookie.
async fn start_session(state: &AppState, user_id: i64, next: &str) -> Result<Response, AppError> {
    let token = secret::random_token();
    let csrf = secret::random_token();
    let ttl = state.auth.session_ttl.as_millis().min(i64::MAX as u128) as i64;
    store::users::start_session(
        &state.pool,
        user_id,
        &secret::hash(&token),
        &csrf,
        crate::now_ms(),
        ttl,
    )
    .await?;
    let mut response = Redirect::to(next).into_response();
    set_cookie(&mut response, &state.auth.session_cookie(&token));
    Ok(response)
}

fn set_cookie(response: &mut Response, cookie: &str) {
    if let Ok(v) = HeaderValue::from_str(cookie) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
}

async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, AppError> {
    if let Some(token) = state.auth.session_token(&headers) {
        store::users::end_session(&state.pool, &secret::hash(token)).await?;
    }
    let mut response = Redirect::to("/login").into_response();
    set_cookie(&mut response, &state.auth.clear_cookie());
    Ok(response)
}

const OIDC_STATE_COOKIE: &str = "portcullis_oidc_state";

async fn oidc_begin(State(state): State<AppState>) -> Result<Response, AppError> {
    let Some(oidc) = state.auth.oidc.as_ref() else {
        return Err(AppError::NotFound(
            "OpenID Connect is not configured.".to_owned(),
        ));
    };
    let begin = oidc
        .begin()
        .map_err(|e| AppError::Internal(e.to_string()))?;
    let mut response = Redirect::to(&begin.url).into_response();
    // Binds the provider's answer to this browser (login CSRF).
    set_cookie(
        &mut response,
        &format!(
            "{OIDC_STATE_COOKIE}={}; Path=/login/oidc; HttpOnly; SameSite=Lax; Max-Age=600{}",
            begin.state,
            if state.auth.secure_cookies {
                "; Secure"
            } else {
                ""
            }
        ),
    );
    Ok(response)
}

#[derive(Debug, Default, Deserialize)]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

async fn oidc_callback(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<CallbackQuery>,
) -> Result<Response, AppError> {
    let Some(oidc) = state.auth.oidc.as_ref() else {
        return Err(AppError::NotFound(
            "OpenID Connect is not configured.".to_owned(),
        ));
    };
    if let Some(e) = &q.error {
        return Err(AppError::Unauthorized(format!(
            "The identity provider refused the sign-in: {e}{}",
            q.error_description
                .as_deref()
                .map(|d| format!(" ({d})"))
                .unwrap_or_default()
        )));
    }
    let (Some(code), Some(st)) = (q.code.as_deref(), q.state.as_deref()) else {
        return Err(AppError::BadRequest(
            "The provider's answer has no code or state.".to_owned(),
        ));
    };
    let bound = auth::cookie(&headers, OIDC_STATE_COOKIE);
    if !bound.is_some_and(|b| secret::same(b.as_bytes(), st.as_bytes())) {
        return Err(AppError::Unauthorized(
            "This sign-in was not started in this browser; start again from the sign-in page."
                .to_owned(),
        ));
    }
    let identity = oidc.finish(st, code).await.map_err(|e| {
        tracing::warn!(error = %e, "OpenID Connect sign-in failed");
        match e {
            OidcError::UnknownState | OidcError::LoginExpired => AppError::BadRequest(
                "This sign-in expired or was already used; start again from the sign-in page."
                    .to_owned(),
            ),
            OidcError::Discovery { .. }
            | OidcError::Jwks { .. }
            | OidcError::TokenRequest { .. } => {
                AppError::Internal(format!("The identity provider could not be reached: {e}"))
            }
            e => AppError::Unauthorized(format!("Signing in with OpenID Connect failed: {e}")),
        }
    })?;
    let name = match (&identity.email, identity.email_verified) {
        (Some(email), true) => email.clone(),
        _ => format!("oidc:{}", identity.subject),
    };
    let user = match store::users::get(&state.pool, &name).await? {
        Some(u) => u,
        None => {
            let Some(role) = state.auth.oidc_default_role else {
                return Err(AppError::Forbidden(format!(
                    "{name} is not a Portcullis user; ask an admin to add them (Settings › Users)."
                )));
            };
            let new = NewUser {
                name: name.clone(),
                password_hash: None,
                role,
                namespaces: None,
            };
            match store::users::add(&state.pool, &new, "oidc", crate::now_ms()).await {
                Ok(u) => u,
                Err(UserError::Db(e)) => return Err(e.into()),
                Err(e) => return Err(AppError::Forbidden(e.to_string())),
            }
        }
    };
    tracing::info!(user = %user.name, "signed in with OpenID Connect");
    let mut response = start_session(&state, user.id, "/").await?;
    set_cookie(
        &mut response,
        &format!("{OIDC_STATE_COOKIE}=; Path=/login/oidc; HttpOnly; SameSite=Lax; Max-Age=0"),
    );
    Ok(response)
}

// ---------------------------------------------------------------------------------------------
// The JSON API

fn user_json(u: &User) -> Value {
    json!({
        "name": u.name,
        "role": u.role,
        "namespaces": u.namespaces,
        "password": u.has_password,
        "createdAt": store::alerts::rfc3339(u.created_at),
        "createdBy": u.created_by,
    })
}

fn token_json(t: &Token) -> Value {
    json!({
        "id": t.id,
        "user": t.user,
        "name": t.name,
        "createdAt": store::alerts::rfc3339(t.created_at),
        "expiresAt": t.expires_at.map(store::alerts::rfc3339),
        "lastUsed": t.last_used.map(store::alerts::rfc3339),
    })
}

async fn whoami(State(state): State<AppState>, p: Principal) -> Json<Value> {
    Json(json!({
        "user": p.user,
        "role": p.role,
        "namespaces": p.namespaces,
        "open": state.auth.is_open(),
    }))
}

/// Cluster-wide user management needs an admin of every namespace.
fn unscoped(p: &Principal) -> Result<(), AppError> {
    p.may_change(None)
}

async fn api_users(State(state): State<AppState>, p: Principal) -> Result<Json<Value>, ApiError> {
    unscoped(&p)?;
    let users = store::users::list(&state.pool).await?;
    Ok(Json(
        json!({ "users": users.iter().map(user_json).collect::<Vec<_>>(), "total": users.len() }),
    ))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct UserRequest {
    name: Option<String>,
    role: Option<String>,
    /// A list, or null for all namespaces.
    #[serde(default, deserialize_with = "some_value")]
    namespaces: Option<Option<Vec<String>>>,
    password: Option<String>,
}

/// Tells a `null` apart from a missing field.
fn some_value<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<Vec<String>>>, D::Error> {
    Option::<Vec<String>>::deserialize(d).map(Some)
}

impl UserRequest {
    fn namespaces(&self) -> Result<Option<Option<Vec<String>>>, FieldError> {
        match &self.namespaces {
            None => Ok(None),
            Some(None) => Ok(Some(None)),
            Some(Some(list)) => {
                check_namespaces(&list.join(",")).map(|ns| Some(Some(ns.unwrap_or_default())))
            }
        }
    }
}

/// The hash of a password sent to the API, once checked; `None` when none was sent.
async fn api_password_hash(password: Option<&str>) -> Result<Option<String>, Response> {
    let Some(pw) = password else { return Ok(None) };
    check_password(pw).map_err(IntoResponse::into_response)?;
    password::hash(pw.to_owned())
        .await
        .map(Some)
        .map_err(|e| ApiError(AppError::Internal(e)).into_response())
}

async fn api_user_add(
    State(state): State<AppState>,
    p: Principal,
    ApiJson(body): ApiJson<UserRequest>,
) -> Result<Response, ApiError> {
    unscoped(&p)?;
    let name = match check_name(body.name.as_deref().unwrap_or("")) {
        Ok(n) => n,
        Err(e) => return Ok(e.into_response()),
    };
    let role = match check_role(body.role.as_deref().unwrap_or("viewer")) {
        Ok(r) => r,
        Err(e) => return Ok(e.into_response()),
    };
    let namespaces = match body.namespaces() {
        Ok(ns) => ns.flatten(),
        Err(e) => return Ok(e.into_response()),
    };
    let password_hash = match api_password_hash(body.password.as_deref()).await {
        Ok(h) => h,
        Err(r) => return Ok(r),
    };
    let new = NewUser {
        name,
        password_hash,
        role,
        namespaces,
    };
    match store::users::add(&state.pool, &new, &p.user, crate::now_ms()).await {
        Ok(u) => {
            state.auth.refresh(&state.pool).await?;
            Ok((StatusCode::CREATED, Json(user_json(&u))).into_response())
        }
        Err(e) => Ok(api_fail(e)),
    }
}

async fn api_user_change(
    State(state): State<AppState>,
    p: Principal,
    Path(name): Path<String>,
    ApiJson(body): ApiJson<UserRequest>,
) -> Result<Response, ApiError> {
    unscoped(&p)?;
    if body.name.is_some() {
        return Ok(
            invalid("name", "name: a user cannot be renamed; add a new user").into_response(),
        );
    }
    let role = match body.role.as_deref().map(check_role).transpose() {
        Ok(r) => r,
        Err(e) => return Ok(e.into_response()),
    };
    let namespaces = match body.namespaces() {
        Ok(ns) => ns,
        Err(e) => return Ok(e.into_response()),
    };
    let password_hash = match api_password_hash(body.password.as_deref()).await {
        Ok(h) => h,
        Err(r) => return Ok(r),
    };
    let change = UserChange {
        password_hash,
        role,
        namespaces,
    };
    match store::users::update(&state.pool, &name, &change, &p.user, crate::now_ms()).await {
        Ok(u) => Ok(Json(user_json(&u)).into_response()),
        Err(e) => Ok(api_fail(e)),
    }
}

async fn api_user_delete(
    State(state): State<AppState>,
    p: Principal,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    unscoped(&p)?;
    match store::users::remove(&state.pool, &name, &p.user, crate::now_ms()).await {
        Ok(u) => {
            state.auth.refresh(&state.pool).await?;
            Ok(Json(user_json(&u)).into_response())
        }
        Err(e) => Ok(api_fail(e)),
    }
}

async fn api_tokens(State(state): State<AppState>, p: Principal) -> Result<Json<Value>, ApiError> {
    unscoped(&p)?;
    let tokens = store::users::tokens(&state.pool, None).await?;
    Ok(Json(
        json!({ "tokens": tokens.iter().map(token_json).collect::<Vec<_>>(), "total": tokens.len() }),
    ))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenRequest {
    user: Option<String>,
    name: Option<String>,
    /// `90d`, `12h`; absent: never.
    expires: Option<String>,
}

/// Checks a token request; `Ok((user, name, expires_at))`.
fn check_token(
    user: &str,
    name: &str,
    expires: &str,
    now: i64,
) -> Result<(String, String, Option<i64>), FieldError> {
    let user =
        check_name(user).map_err(|_| invalid("user", "user: name the user the token acts as"))?;
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(invalid(
            "name",
            "name: say what the token is for (1 to 100 characters), e.g. ci",
        ));
    }
    Ok((user, name.to_owned(), check_expiry(expires, now)?))
}

async fn api_token_add(
    State(state): State<AppState>,
    p: Principal,
    ApiJson(body): ApiJson<TokenRequest>,
) -> Result<Response, ApiError> {
    unscoped(&p)?;
    let now = crate::now_ms();
    let (user, name, expires_at) = match check_token(
        body.user.as_deref().unwrap_or(""),
        body.name.as_deref().unwrap_or(""),
        body.expires.as_deref().unwrap_or(""),
        now,
    ) {
        Ok(t) => t,
        Err(e) => return Ok(e.into_response()),
    };
    match store::users::create_token(&state.pool, &user, &name, expires_at, &p.user, now).await {
        Ok((t, secret)) => {
            let mut body = token_json(&t);
            body["token"] = json!(secret);
            Ok((StatusCode::CREATED, Json(body)).into_response())
        }
        Err(e) => Ok(api_fail(e)),
    }
}

async fn api_token_revoke(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    unscoped(&p)?;
    let Ok(id) = id.parse::<i64>() else {
        return Ok(invalid("id", format!("{id:?} is not a token id")).into_response());
    };
    match store::users::revoke_token(&state.pool, id, &p.user, crate::now_ms()).await {
        Ok(t) => Ok(Json(token_json(&t)).into_response()),
        Err(e) => Ok(api_fail(e)),
    }
}

// ---------------------------------------------------------------------------------------------
// Pages: your account

#[derive(Template, WebTemplate)]
#[template(path = "pages/account.html")]
struct AccountPage {
    nav: Nav,
    principal: Principal,
    has_password: bool,
    tokens: Vec<Token>,
    /// A token just made: shown once.
    new_token: Option<String>,
    message: Option<String>,
    error: Option<FieldError>,
}

async fn account(
    state: &AppState,
    p: Principal,
    new_token: Option<String>,
    message: Option<String>,
    error: Option<FieldError>,
) -> Result<Response, AppError> {
    let status = error.as_ref().map_or(StatusCode::OK, |e| e.status);
    let user = store::users::get(&state.pool, &p.user).await?;
    let tokens = store::users::tokens(&state.pool, Some(&p.user)).await?;
    Ok((
        status,
        AccountPage {
            nav: Nav::new("", &None),
            has_password: user.is_some_and(|u| u.has_password),
            principal: p,
            tokens,
            new_token,
            message,
            error,
        },
    )
        .into_response())
}

async fn account_page(State(state): State<AppState>, p: Principal) -> Result<Response, AppError> {
    account(&state, p, None, None, None).await
}

#[derive(Debug, Default, Deserialize)]
struct TokenForm {
    #[serde(default)]
    user: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    expires: String,
}

async fn account_token_add(
    State(state): State<AppState>,
    p: Principal,
    Form(f): Form<TokenForm>,
) -> Result<Response, AppError> {
    if state.auth.is_open() {
        return Err(AppError::BadRequest(
            "The open dashboard has no users, so no tokens: add a user first.".to_owned(),
        ));
    }
    let now = crate::now_ms();
    let (user, name, expires_at) = match check_token(&p.user, &f.name, &f.expires, now) {
        Ok(t) => t,
        Err(e) => return account(&state, p, None, None, Some(e)).await,
    };
    match store::users::create_token(&state.pool, &user, &name, expires_at, &p.user, now).await {
        Ok((_, secret)) => account(&state, p, Some(secret), None, None).await,
        Err(e) => {
            let e = user_error(e)?;
            account(&state, p, None, None, Some(e)).await
        }
    }
}

async fn account_token_revoke(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    // Your own tokens only; an admin revokes others' on the Users page.
    let owned = store::users::token(&state.pool, id)
        .await?
        .is_some_and(|t| t.user == p.user);
    if !owned {
        return Err(AppError::NotFound(format!("You have no API token {id}.")));
    }
    match store::users::revoke_token(&state.pool, id, &p.user, crate::now_ms()).await {
        Ok(t) => {
            account(
                &state,
                p,
                None,
                Some(format!("Token {:?} revoked.", t.name)),
                None,
            )
            .await
        }
        Err(e) => {
            let e = user_error(e)?;
            account(&state, p, None, None, Some(e)).await
        }
    }
}

#[derive(Debug, Default, Deserialize)]
struct PasswordForm {
    #[serde(default)]
    current: String,
    #[serde(default)]
    password: String,
}

async fn account_password(
    State(state): State<AppState>,
    p: Principal,
    Form(f): Form<PasswordForm>,
) -> Result<Response, AppError> {
    let hash = store::users::password_hash(&state.pool, &p.user).await?;
    if hash.is_none() || !password::verify(f.current, hash).await {
        let e = invalid("current", "current: that is not your current password");
        return account(&state, p, None, None, Some(e)).await;
    }
    if let Err(e) = check_password(&f.password) {
        return account(&state, p, None, None, Some(e)).await;
    }
    let hash = password::hash(f.password)
        .await
        .map_err(AppError::Internal)?;
    let change = UserChange {
        password_hash: Some(hash),
        ..Default::default()
    };
    match store::users::update(&state.pool, &p.user, &change, &p.user, crate::now_ms()).await {
        // Changing the password ends every session, this one too.
        Ok(_) => Ok(Redirect::to("/login").into_response()),
        Err(e) => {
            let e = user_error(e)?;
            account(&state, p, None, None, Some(e)).await
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Pages: users (admins)

#[derive(Template, WebTemplate)]
#[template(path = "pages/users.html")]
struct UsersPage {
    nav: Nav,
    users: Vec<User>,
    tokens: Vec<Token>,
    roles: [Role; 3],
    form: UserForm,
    new_token: Option<(String, String)>,
    message: Option<String>,
    error: Option<FieldError>,
    open: bool,
}

impl UsersPage {
    fn error_for(&self, field: &str) -> Option<&str> {
        self.error
            .as_ref()
            .filter(|e| e.field == field)
            .map(|e| e.message.as_str())
    }
}

#[derive(Debug, Default, Clone, Deserialize)]
struct UserForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    namespaces: String,
    #[serde(default)]
    password: String,
}

struct Shown {
    form: UserForm,
    new_token: Option<(String, String)>,
    message: Option<String>,
    error: Option<FieldError>,
}

async fn users(state: &AppState, p: &Principal, shown: Shown) -> Result<Response, AppError> {
    unscoped(p)?;
    let status = shown.error.as_ref().map_or(StatusCode::OK, |e| e.status);
    let mut form = shown.form;
    form.password.clear();
    Ok((
        status,
        UsersPage {
            nav: Nav::new("settings", &None),
            users: store::users::list(&state.pool).await?,
            tokens: store::users::tokens(&state.pool, None).await?,
            roles: Role::ALL,
            form,
            new_token: shown.new_token,
            message: shown.message,
            error: shown.error,
            open: state.auth.is_open(),
        },
    )
        .into_response())
}

/// The Users page after a change: what was done, or why it was refused.
async fn users_after(
    state: &AppState,
    p: &Principal,
    outcome: Result<String, UserError>,
) -> Result<Response, AppError> {
    match outcome {
        Ok(message) => users(state, p, shown(Some(message), None)).await,
        Err(e) => {
            let e = user_error(e)?;
            users(state, p, shown(None, Some(e))).await
        }
    }
}

fn shown(message: Option<String>, error: Option<FieldError>) -> Shown {
    Shown {
        form: UserForm::default(),
        new_token: None,
        message,
        error,
    }
}

async fn users_page(State(state): State<AppState>, p: Principal) -> Result<Response, AppError> {
    users(&state, &p, shown(None, None)).await
}

async fn users_add_form(
    State(state): State<AppState>,
    p: Principal,
    Form(f): Form<UserForm>,
) -> Result<Response, AppError> {
    unscoped(&p)?;
    let checked = (|| {
        let name = check_name(&f.name)?;
        let role = check_role(&f.role)?;
        let namespaces = check_namespaces(&f.namespaces)?;
        if !f.password.is_empty() || state.auth.oidc.is_none() {
            check_password(&f.password)?;
        }
        Ok::<_, FieldError>((name, role, namespaces))
    })();
    let (name, role, namespaces) = match checked {
        Ok(c) => c,
        Err(e) => {
            return users(
                &state,
                &p,
                Shown {
                    form: f,
                    new_token: None,
                    message: None,
                    error: Some(e),
                },
            )
            .await;
        }
    };
    let password_hash = if f.password.is_empty() {
        None
    } else {
        Some(
            password::hash(f.password.clone())
                .await
                .map_err(AppError::Internal)?,
        )
    };
    let new = NewUser {
        name,
        password_hash,
        role,
        namespaces,
    };
    match store::users::add(&state.pool, &new, &p.user, crate::now_ms()).await {
        Ok(u) => {
            let was_open = state.auth.is_open();
            state.auth.refresh(&state.pool).await?;
            if was_open && !state.auth.is_open() {
                // The first user closes the open dashboard: sign in now.
                return Ok(Redirect::to("/login?next=%2Fsettings%2Fusers").into_response());
            }
            users(
                &state,
                &p,
                shown(Some(format!("User {} added as {}.", u.name, u.role)), None),
            )
            .await
        }
        Err(e) => {
            let e = user_error(e)?;
            users(
                &state,
                &p,
                Shown {
                    form: f,
                    new_token: None,
                    message: None,
                    error: Some(e),
                },
            )
            .await
        }
    }
}

async fn users_change_form(
    State(state): State<AppState>,
    p: Principal,
    Path(name): Path<String>,
    Form(f): Form<UserForm>,
) -> Result<Response, AppError> {
    unscoped(&p)?;
    let checked = (|| {
        let role = check_role(&f.role)?;
        let namespaces = check_namespaces(&f.namespaces)?;
        if !f.password.is_empty() {
            check_password(&f.password)?;
        }
        Ok::<_, FieldError>((role, namespaces))
    })();
    let (role, namespaces) = match checked {
        Ok(c) => c,
        Err(e) => return users(&state, &p, shown(None, Some(e))).await,
    };
    let password_hash = if f.password.is_empty() {
        None
    } else {
        Some(
            password::hash(f.password.clone())
                .await
                .map_err(AppError::Internal)?,
        )
    };
    let change = UserChange {
        password_hash,
        role: Some(role),
        namespaces: Some(namespaces),
    };
    let outcome = store::users::update(&state.pool, &name, &change, &p.user, crate::now_ms())
        .await
        .map(|u| format!("User {} changed.", u.name));
    users_after(&state, &p, outcome).await
}

async fn users_delete_form(
    State(state): State<AppState>,
    p: Principal,
    Path(name): Path<String>,
) -> Result<Response, AppError> {
    unscoped(&p)?;
    let removed = store::users::remove(&state.pool, &name, &p.user, crate::now_ms()).await;
    if let Ok(u) = &removed {
        state.auth.refresh(&state.pool).await?;
        if u.name == p.user {
            return Ok(Redirect::to("/login").into_response());
        }
    }
    let outcome = removed.map(|u| format!("User {} removed.", u.name));
    users_after(&state, &p, outcome).await
}

async fn users_token_form(
    State(state): State<AppState>,
    p: Principal,
    Path(name): Path<String>,
    Form(f): Form<TokenForm>,
) -> Result<Response, AppError> {
    unscoped(&p)?;
    let _ = &f.user;
    let now = crate::now_ms();
    let (user, token_name, expires_at) = match check_token(&name, &f.name, &f.expires, now) {
        Ok(t) => t,
        Err(e) => return users(&state, &p, shown(None, Some(e))).await,
    };
    match store::users::create_token(&state.pool, &user, &token_name, expires_at, &p.user, now)
        .await
    {
        Ok((t, secret)) => {
            let s = Shown {
                form: UserForm::default(),
                new_token: Some((t.user, secret)),
                message: None,
                error: None,
            };
            users(&state, &p, s).await
        }
        Err(e) => {
            let e = user_error(e)?;
            users(&state, &p, shown(None, Some(e))).await
        }
    }
}

async fn users_token_revoke_form(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    unscoped(&p)?;
    let outcome = store::users::revoke_token(&state.pool, id, &p.user, crate::now_ms())
        .await
        .map(|t| format!("Token {:?} of {} revoked.", t.name, t.user));
    users_after(&state, &p, outcome).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_are_checked_with_the_field_named() {
        assert_eq!(
            check_name("  alice@example.com ").unwrap(),
            "alice@example.com"
        );
        assert_eq!(check_name("").unwrap_err().field, "name");
        assert_eq!(check_name("a\u{7}b").unwrap_err().field, "name");
        assert_eq!(check_role("admin").unwrap(), Role::Admin);
        assert_eq!(check_role("root").unwrap_err().field, "role");
        assert_eq!(check_namespaces(" ").unwrap(), None);
        assert_eq!(check_namespaces("*").unwrap(), None);
        assert_eq!(
            check_namespaces("shop, payments shop").unwrap(),
            Some(vec!["shop".to_owned(), "payments".to_owned()])
        );
        assert_eq!(check_namespaces("Shop").unwrap_err().field, "namespaces");
        assert_eq!(check_expiry("", 0).unwrap(), None);
        assert_eq!(check_expiry("2d", 0).unwrap(), Some(2 * 86_400_000));
        assert_eq!(check_expiry("12h", 0).unwrap(), Some(12 * 3_600_000));
        assert_eq!(check_expiry("soon", 0).unwrap_err().field, "expires");
        assert_eq!(local_path(Some("/alerts?x=1")), "/alerts?x=1");
        assert_eq!(local_path(Some("//evil.example")), "/");
        assert_eq!(local_path(Some("https://evil.example")), "/");
        assert_eq!(local_path(Some("/\\evil.example")), "/");
    }
}
