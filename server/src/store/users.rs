//! Users, their browser sessions and their API tokens. Every change to users
//! and tokens is written to the audit log in its own transaction; secrets
//! (session cookies, tokens) are stored only as SHA-256 hashes, passwords as
//! argon2id hashes made by [`crate::auth::password`].

use serde::Serialize;
use serde_json::json;
use sqlx::SqlitePool;

use crate::auth::{Principal, Role, Via};
use crate::store::assignments::{Log, log};

/// A user as the Users page and the API show it (never the hash).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub id: i64,
    pub name: String,
    pub role: Role,
    /// `None`: every namespace.
    pub namespaces: Option<Vec<String>>,
    /// Signs in with a password (else only with OpenID Connect).
    pub has_password: bool,
    pub created_at: i64,
    pub created_by: String,
}

impl User {
    pub fn created_text(&self) -> String {
        crate::format_time(self.created_at)
    }

    pub fn namespaces_text(&self) -> String {
        match &self.namespaces {
            None => "all".to_owned(),
            Some(ns) => ns.join(", "),
        }
    }
}

#[derive(sqlx::FromRow)]
struct UserRow {
    id: i64,
    name: String,
    password_hash: Option<String>,
    role: String,
    namespaces: Option<String>,
    created_at: i64,
    created_by: String,
}

impl UserRow {
    fn user(self) -> User {
        User {
            id: self.id,
            role: Role::parse(&self.role).unwrap_or(Role::Viewer),
            namespaces: decode_namespaces(self.namespaces.as_deref()),
            has_password: self.password_hash.is_some(),
            name: self.name,
            created_at: self.created_at,
            created_by: self.created_by,
        }
    }
}

fn decode_namespaces(s: Option<&str>) -> Option<Vec<String>> {
    // A stored value that does not decode scopes the user to nothing, never to everything.
    s.map(|s| serde_json::from_str(s).unwrap_or_default())
}

fn encode_namespaces(ns: &Option<Vec<String>>) -> Option<String> {
    ns.as_ref().map(|ns| json!(ns).to_string())
}

/// An API token as listed (never the secret).
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct Token {
    pub id: i64,
    pub user: String,
    pub name: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub last_used: Option<i64>,
}

impl Token {
    pub fn created_text(&self) -> String {
        crate::format_time(self.created_at)
    }

    pub fn expires_text(&self) -> String {
        self.expires_at
            .map_or_else(|| "never".to_owned(), crate::format_time)
    }

    pub fn last_used_text(&self) -> String {
        self.last_used
            .map_or_else(|| "never".to_owned(), crate::format_time)
    }
}

/// Why a change to users or tokens is refused.
#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error("there is already a user named {0:?}")]
    Exists(String),
    #[error("there is no user named {0:?}")]
    NoUser(String),
    #[error("there is no API token {0}")]
    NoToken(i64),
    #[error(
        "{0:?} is the last admin; make another user admin first, so someone can still manage Portcullis"
    )]
    LastAdmin(String),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

macro_rules! select_user {
    ($rest:literal) => {
        concat!(
            "SELECT id, name, password_hash, role, namespaces, created_at, created_by FROM users ",
            $rest
        )
    };
}

/// Every user, by name.
pub async fn list(pool: &SqlitePool) -> Result<Vec<User>, sqlx::Error> {
    let rows: Vec<UserRow> = sqlx::query_as(select_user!("ORDER BY name"))
        .fetch_all(pool)
        .await?;
    Ok(rows.into_iter().map(UserRow::user).collect())
}

pub async fn count(pool: &SqlitePool) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT COUNT(*) FROM users")
        .fetch_one(pool)
        .await
}

pub async fn get(pool: &SqlitePool, name: &str) -> Result<Option<User>, sqlx::Error> {
    let row: Option<UserRow> = sqlx::query_as(select_user!("WHERE name = ?"))
        .bind(name)
        .fetch_optional(pool)
        .await?;
    Ok(row.map(UserRow::user))
}

/// The stored password hash of `name`, when the user exists and has one.
pub async fn password_hash(pool: &SqlitePool, name: &str) -> Result<Option<String>, sqlx::Error> {
    let hash: Option<Option<String>> =
        sqlx::query_scalar("SELECT password_hash FROM users WHERE name = ?")
            .bind(name)
            .fetch_optional(pool)
            .await?;
    Ok(hash.flatten())
}

/// What a user is made of.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub name: String,
    /// An argon2id PHC string, or `None` for OpenID Connect only.
    pub password_hash: Option<String>,
    pub role: Role,
    pub namespaces: Option<Vec<String>>,
}

fn user_json(u: &User) -> serde_json::Value {
    json!({ "name": u.name, "role": u.role, "namespaces": u.namespaces, "password": u.has_password })
}

/// Adds a user; `actor` is who did it (`cli` from the command line).
pub async fn add(
    pool: &SqlitePool,
    new: &NewUser,
    actor: &str,
    now: i64,
) -> Result<User, UserError> {
    let mut tx = crate::store::write_tx(pool).await?;
    let exists: Option<i64> = sqlx::query_scalar("SELECT id FROM users WHERE name = ?")
        .bind(&new.name)
        .fetch_optional(&mut *tx)
        .await?;
    if exists.is_some() {
        return Err(UserError::Exists(new.name.clone()));
    }
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO users (name, password_hash, role, namespaces, created_at, created_by)
         VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
    )
    .bind(&new.name)
    .bind(&new.password_hash)
    .bind(new.role.as_str())
    .bind(encode_namespaces(&new.namespaces))
    .bind(now)
    .bind(actor)
    .fetch_one(&mut *tx)
    .await?;
    let user = User {
        id,
        name: new.name.clone(),
        role: new.role,
        namespaces: new.namespaces.clone(),
        has_password: new.password_hash.is_some(),
        created_at: now,
        created_by: actor.to_owned(),
    };
    audit(
        &mut tx,
        now,
        actor,
        "user-add",
        &user.name,
        None,
        Some(user_json(&user)),
    )
    .await?;
    tx.commit().await?;
    Ok(user)
}

/// What to change of a user; `None` leaves it as it is.
#[derive(Debug, Clone, Default)]
pub struct UserChange {
    pub password_hash: Option<String>,
    pub role: Option<Role>,
    /// `Some(None)`: every namespace.
    pub namespaces: Option<Option<Vec<String>>>,
}

/// Changes a user. Refuses to take the admin role from the last admin. A new
/// password or role ends the user's sessions.
pub async fn update(
    pool: &SqlitePool,
    name: &str,
    change: &UserChange,
    actor: &str,
    now: i64,
) -> Result<User, UserError> {
    let mut tx = crate::store::write_tx(pool).await?;
    let before = user_in(&mut tx, name).await?;
    let mut after = before.clone();
    if let Some(role) = change.role {
        if before.role == Role::Admin && role != Role::Admin && admins(&mut tx).await? <= 1 {
            return Err(UserError::LastAdmin(name.to_owned()));
        }
        after.role = role;
    }
    if let Some(ns) = &change.namespaces {
        after.namespaces = ns.clone();
    }
    if change.password_hash.is_some() {
        after.has_password = true;
    }
    sqlx::query(
        "UPDATE users SET role = ?, namespaces = ?, password_hash = COALESCE(?, password_hash)
         WHERE id = ?",
    )
    .bind(after.role.as_str())
    .bind(encode_namespaces(&after.namespaces))
    .bind(&change.password_hash)
    .bind(before.id)
    .execute(&mut *tx)
    .await?;
    if change.password_hash.is_some()
        || after.role != before.role
        || after.namespaces != before.namespaces
    {
        sqlx::query("DELETE FROM sessions WHERE user_id = ?")
            .bind(before.id)
            .execute(&mut *tx)
            .await?;
    }
    let mut after_json = user_json(&after);
    if change.password_hash.is_some() {
        after_json["passwordChanged"] = json!(true);
    }
    audit(
        &mut tx,
        now,
        actor,
        "user-change",
        name,
        Some(user_json(&before)),
        Some(after_json),
    )
    .await?;
    tx.commit().await?;
    Ok(after)
}

/// Removes a user with their sessions and tokens. Refuses the last admin.
pub async fn remove(
    pool: &SqlitePool,
    name: &str,
    actor: &str,
    now: i64,
) -> Result<User, UserError> {
    let mut tx = crate::store::write_tx(pool).await?;
    let user = user_in(&mut tx, name).await?;
    if user.role == Role::Admin
        && admins(&mut tx).await? <= 1
        && others(&mut tx, user.id).await? > 0
    {
        return Err(UserError::LastAdmin(name.to_owned()));
    }
    for delete in [
        "DELETE FROM sessions WHERE user_id = ?",
        "DELETE FROM api_tokens WHERE user_id = ?",
    ] {
        sqlx::query(delete).bind(user.id).execute(&mut *tx).await?;
    }
    sqlx::query("DELETE FROM users WHERE id = ?")
        .bind(user.id)
        .execute(&mut *tx)
        .await?;
    audit(
        &mut tx,
        now,
        actor,
        "user-remove",
        name,
        Some(user_json(&user)),
        None,
    )
    .await?;
    tx.commit().await?;
    Ok(user)
}

/// User `name`, read in the transaction that changes it.
async fn user_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    name: &str,
) -> Result<User, UserError> {
    let row: Option<UserRow> = sqlx::query_as(select_user!("WHERE name = ?"))
        .bind(name)
        .fetch_optional(&mut **tx)
        .await?;
    row.map(UserRow::user)
        .ok_or_else(|| UserError::NoUser(name.to_owned()))
}

async fn admins(tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE role = 'admin'")
        .fetch_one(&mut **tx)
        .await
}

async fn others(tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>, id: i64) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE id != ?")
        .bind(id)
        .fetch_one(&mut **tx)
        .await
}

async fn audit(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    at: i64,
    actor: &str,
    action: &str,
    subject: &str,
    before: Option<serde_json::Value>,
    after: Option<serde_json::Value>,
) -> Result<(), sqlx::Error> {
    log(
        tx,
        Log {
            at,
            actor,
            action,
            cluster: "",
            subject,
            before,
            after,
            undo_of: None,
        },
    )
    .await
    .map(|_| ())
}

// ---------------------------------------------------------------------------------------------
// Sessions

#[derive(sqlx::FromRow)]
struct SessionRow {
    user_id: i64,
    csrf: String,
    expires_at: i64,
    last_seen: i64,
    name: String,
    role: String,
    namespaces: Option<String>,
}

/// A signed-in browser: who, and the CSRF token its forms carry.
#[derive(Debug, Clone)]
pub struct Session {
    pub principal: Principal,
    pub csrf: String,
}

/// Starts a session for `user_id`; the caller hands `token` to the browser.
pub async fn start_session(
    pool: &SqlitePool,
    user_id: i64,
    token_hash: &[u8],
    csrf: &str,
    now: i64,
    ttl_ms: i64,
) -> Result<(), sqlx::Error> {
    let mut tx = crate::store::write_tx(pool).await?;
    // Ended sessions are dropped whenever one starts, so the table stays small.
    sqlx::query("DELETE FROM sessions WHERE expires_at <= ?")
        .bind(now)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO sessions (token_hash, user_id, csrf, created_at, expires_at, last_seen)
         VALUES (?, ?, ?, ?, ?, ?)",
    )
    .bind(token_hash)
    .bind(user_id)
    .bind(csrf)
    .bind(now)
    .bind(now + ttl_ms)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    tx.commit().await
}

/// The live session with this token hash: not past its end, not idle longer
/// than `idle_ms`. Records activity at most once a minute.
pub async fn session(
    pool: &SqlitePool,
    token_hash: &[u8],
    now: i64,
    idle_ms: i64,
) -> Result<Option<Session>, sqlx::Error> {
    let row: Option<SessionRow> = sqlx::query_as(
        "SELECT s.user_id, s.csrf, s.expires_at, s.last_seen, u.name, u.role, u.namespaces
         FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = ?",
    )
    .bind(token_hash)
    .fetch_optional(pool)
    .await?;
    let Some(row) = row else { return Ok(None) };
    if row.expires_at <= now || row.last_seen + idle_ms <= now {
        end_session(pool, token_hash).await?;
        return Ok(None);
    }
    if now - row.last_seen >= 60_000 {
        sqlx::query("UPDATE sessions SET last_seen = ? WHERE token_hash = ?")
            .bind(now)
            .bind(token_hash)
            .execute(pool)
            .await?;
    }
    let _ = row.user_id;
    Ok(Some(Session {
        principal: Principal {
            user: row.name,
            role: Role::parse(&row.role).unwrap_or(Role::Viewer),
            namespaces: decode_namespaces(row.namespaces.as_deref()),
            via: Via::Session,
        },
        csrf: row.csrf,
    }))
}

pub async fn end_session(pool: &SqlitePool, token_hash: &[u8]) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM sessions WHERE token_hash = ?")
        .bind(token_hash)
        .execute(pool)
        .await
        .map(|_| ())
}

// ---------------------------------------------------------------------------------------------
// API tokens

/// Creates a token for `user`; the caller shows the secret once.
pub async fn add_token(
    pool: &SqlitePool,
    user: &str,
    name: &str,
    token_hash: &[u8],
    expires_at: Option<i64>,
    actor: &str,
    now: i64,
) -> Result<Token, UserError> {
    let mut tx = crate::store::write_tx(pool).await?;
    let user_id: Option<i64> = sqlx::query_scalar("SELECT id FROM users WHERE name = ?")
        .bind(user)
        .fetch_optional(&mut *tx)
        .await?;
    let Some(user_id) = user_id else {
        return Err(UserError::NoUser(user.to_owned()));
    };
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO api_tokens (user_id, name, token_hash, created_at, expires_at)
         VALUES (?, ?, ?, ?, ?) RETURNING id",
    )
    .bind(user_id)
    .bind(name)
    .bind(token_hash)
    .bind(now)
    .bind(expires_at)
    .fetch_one(&mut *tx)
    .await?;
    let token = Token {
        id,
        user: user.to_owned(),
        name: name.to_owned(),
        created_at: now,
        expires_at,
        last_used: None,
    };
    let subject = format!("token {id} of {user}");
    audit(
        &mut tx,
        now,
        actor,
        "token-add",
        &subject,
        None,
        Some(json!(token)),
    )
    .await?;
    tx.commit().await?;
    Ok(token)
}

macro_rules! select_token {
    ($rest:literal) => {
        concat!(
            "SELECT t.id, u.name AS user, t.name, t.created_at, t.expires_at, t.last_used
             FROM api_tokens t JOIN users u ON u.id = t.user_id ",
            $rest
        )
    };
}

/// Makes a new API token for `user`: the stored token and its secret, which
/// is shown once and kept nowhere (only its hash).
pub async fn create_token(
    pool: &SqlitePool,
    user: &str,
    name: &str,
    expires_at: Option<i64>,
    actor: &str,
    now: i64,
) -> Result<(Token, String), UserError> {
    let secret = crate::auth::secret::api_token();
    let hash = crate::auth::secret::hash(&secret);
    let token = add_token(pool, user, name, &hash, expires_at, actor, now).await?;
    Ok((token, secret))
}

/// Every token, or those of one user.
pub async fn tokens(pool: &SqlitePool, user: Option<&str>) -> Result<Vec<Token>, sqlx::Error> {
    match user {
        Some(u) => {
            sqlx::query_as(select_token!("WHERE u.name = ? ORDER BY t.id"))
                .bind(u)
                .fetch_all(pool)
                .await
        }
        None => {
            sqlx::query_as(select_token!("ORDER BY u.name, t.id"))
                .fetch_all(pool)
                .await
        }
    }
}

pub async fn token(pool: &SqlitePool, id: i64) -> Result<Option<Token>, sqlx::Error> {
    sqlx::query_as(select_token!("WHERE t.id = ?"))
        .bind(id)
        .fetch_optional(pool)
        .await
}

/// Revokes token `id`.
pub async fn revoke_token(
    pool: &SqlitePool,
    id: i64,
    actor: &str,
    now: i64,
) -> Result<Token, UserError> {
    let mut tx = crate::store::write_tx(pool).await?;
    let token: Option<Token> = sqlx::query_as(select_token!("WHERE t.id = ?"))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
    let Some(token) = token else {
        return Err(UserError::NoToken(id));
    };
    sqlx::query("DELETE FROM api_tokens WHERE id = ?")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    let subject = format!("token {id} of {}", token.user);
    audit(
        &mut tx,
        now,
        actor,
        "token-revoke",
        &subject,
        Some(json!(token)),
        None,
    )
    .await?;
    tx.commit().await?;
    Ok(token)
}

/// A token's id, end, last use, and its user's name, role and namespaces.
type TokenRow = (
    i64,
    Option<i64>,
    Option<i64>,
    String,
    String,
    Option<String>,
);

/// Who holds the token with this hash, unless it expired. Records its use at
/// most once a minute.
pub async fn token_principal(
    pool: &SqlitePool,
    token_hash: &[u8],
    now: i64,
) -> Result<Option<Principal>, sqlx::Error> {
    let row: Option<TokenRow> = sqlx::query_as(
        "SELECT t.id, t.expires_at, t.last_used, u.name, u.role, u.namespaces
             FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = ?",
    )
    .bind(token_hash)
    .fetch_optional(pool)
    .await?;
    let Some((id, expires_at, last_used, name, role, namespaces)) = row else {
        return Ok(None);
    };
    if expires_at.is_some_and(|e| e <= now) {
        return Ok(None);
    }
    if last_used.is_none_or(|l| now - l >= 60_000) {
        sqlx::query("UPDATE api_tokens SET last_used = ? WHERE id = ?")
            .bind(now)
            .bind(id)
            .execute(pool)
            .await?;
    }
    Ok(Some(Principal {
        user: name,
        role: Role::parse(&role).unwrap_or(Role::Viewer),
        namespaces: decode_namespaces(namespaces.as_deref()),
        via: Via::Token,
    }))
}
