//! `portcullis user …` and `portcullis token …`, and how `serve` sets up
//! sign-in (`AuthArgs`).

use std::io::{BufRead, IsTerminal, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};

use crate::auth::oidc::{Oidc, OidcSettings};
use crate::auth::{Auth, Role, password};
use crate::store;
use crate::store::users::{NewUser, UserChange};
use crate::web::routes::auth::{check_name, check_namespaces, check_role};

/// The actor the audit log records for changes made on the command line.
const CLI_ACTOR: &str = "cli";

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a user. The password is read from standard input (a terminal
    /// asks for it twice, without echo); `--oidc` makes a user who signs in
    /// with OpenID Connect only (NAME is their e-mail address).
    Add {
        name: String,
        /// viewer, operator or admin.
        #[arg(long, default_value = "viewer")]
        role: String,
        /// Limit the user to these namespaces (comma-separated; default: all).
        #[arg(long, value_name = "NS,NS")]
        namespaces: Option<String>,
        #[arg(long)]
        oidc: bool,
        #[arg(long)]
        db: PathBuf,
    },
    /// List users with their roles and namespaces.
    List {
        #[arg(long)]
        db: PathBuf,
    },
    /// Change a user's role, namespaces or (with --password) password.
    Set {
        name: String,
        #[arg(long)]
        role: Option<String>,
        /// Comma-separated namespaces, or `*` for all.
        #[arg(long, value_name = "NS,NS")]
        namespaces: Option<String>,
        /// Read a new password from standard input.
        #[arg(long)]
        password: bool,
        #[arg(long)]
        db: PathBuf,
    },
    /// Remove a user, their sessions and tokens.
    Remove {
        name: String,
        #[arg(long)]
        db: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create an API token that acts as USER; prints it once.
    Add {
        #[arg(long)]
        user: String,
        /// What the token is for.
        #[arg(long)]
        name: String,
        /// Lifetime (`90d`, `12h`); default: never expires.
        #[arg(long)]
        expires: Option<String>,
        #[arg(long)]
        db: PathBuf,
    },
    /// List tokens (never their secrets).
    List {
        #[arg(long)]
        db: PathBuf,
    },
    /// Revoke token ID.
    Revoke {
        id: i64,
        #[arg(long)]
        db: PathBuf,
    },
}

/// Sign-in settings of `serve`.
#[derive(Debug, Clone, Args)]
pub struct AuthArgs {
    /// How long a browser session lasts at most (`12h`, `30m`).
    #[arg(long, value_name = "DURATION", default_value = "12h", value_parser = super::parse_duration)]
    pub session_ttl: Duration,
    /// Sign a browser out after this long without a request.
    #[arg(long, value_name = "DURATION", default_value = "2h", value_parser = super::parse_duration)]
    pub session_idle: Duration,
    /// Session cookies without `Secure` (only for plain HTTP on a trusted
    /// network; behind TLS or on loopback, leave them secure).
    #[arg(long)]
    pub insecure_cookies: bool,
    /// When the database has no users: create this admin, with the password
    /// in PORTCULLIS_BOOTSTRAP_PASSWORD (for a first start in a cluster).
    #[arg(long, value_name = "NAME")]
    pub bootstrap_admin: Option<String>,
    /// OpenID Connect issuer URL (enables "Sign in with OpenID Connect").
    #[arg(long, value_name = "URL", requires_all = ["oidc_client_id", "oidc_redirect_url"])]
    pub oidc_issuer: Option<String>,
    #[arg(long, value_name = "ID")]
    pub oidc_client_id: Option<String>,
    /// The client secret (better in the environment than on the command line).
    #[arg(
        long,
        value_name = "SECRET",
        env = "PORTCULLIS_OIDC_CLIENT_SECRET",
        hide_env_values = true
    )]
    pub oidc_client_secret: Option<String>,
    /// This server's callback, as registered with the provider:
    /// `https://HOST/login/oidc/callback`.
    #[arg(long, value_name = "URL")]
    pub oidc_redirect_url: Option<String>,
    /// The role of someone who signs in with OpenID Connect and is not a user
    /// yet (viewer, operator, admin); `none` refuses them until an admin adds them.
    #[arg(long, value_name = "ROLE", default_value = "none")]
    pub oidc_default_role: String,
}

/// Sets up sign-in for `serve` on `listen`: bootstraps the first admin if
/// asked, discovers the OpenID Connect provider, and refuses to serve anything
/// but loopback without sign-in.
pub async fn build_auth(
    args: &AuthArgs,
    listen: SocketAddr,
    pool: &sqlx::SqlitePool,
) -> anyhow::Result<Auth> {
    if let Some(name) = &args.bootstrap_admin
        && store::users::count(pool).await? == 0
    {
        let name =
            check_name(name).map_err(|e| anyhow::anyhow!("--bootstrap-admin: {}", e.message))?;
        let pw = std::env::var("PORTCULLIS_BOOTSTRAP_PASSWORD").map_err(|_| {
            anyhow::anyhow!("--bootstrap-admin needs the password in PORTCULLIS_BOOTSTRAP_PASSWORD")
        })?;
        password::check_strength(&pw)
            .map_err(|m| anyhow::anyhow!("PORTCULLIS_BOOTSTRAP_PASSWORD: {m}"))?;
        let hash = password::hash(pw).await.map_err(|m| anyhow::anyhow!(m))?;
        let new = NewUser {
            name: name.clone(),
            password_hash: Some(hash),
            role: Role::Admin,
            namespaces: None,
        };
        store::users::add(pool, &new, CLI_ACTOR, crate::now_ms()).await?;
        eprintln!("Added the first admin, {name}.");
    }
    let oidc = match &args.oidc_issuer {
        None => None,
        Some(issuer) => {
            let settings = OidcSettings {
                issuer: issuer.clone(),
                client_id: args.oidc_client_id.clone().unwrap_or_default(),
                client_secret: args.oidc_client_secret.clone().unwrap_or_default(),
                redirect_url: args.oidc_redirect_url.clone().unwrap_or_default(),
            };
            let oidc = Oidc::discover(settings)
                .await
                .map_err(|e| anyhow::anyhow!("OpenID Connect issuer {issuer}: {e}"))?;
            Some(oidc)
        }
    };
    let oidc_default_role = match args.oidc_default_role.trim() {
        "none" | "" => None,
        r => Some(Role::parse(r).ok_or_else(|| {
            anyhow::anyhow!("--oidc-default-role is viewer, operator, admin or none, not {r:?}")
        })?),
    };
    let mut auth = Auth::new(listen.ip().is_loopback(), oidc);
    auth.session_ttl = args.session_ttl;
    auth.session_idle = args.session_idle;
    auth.secure_cookies = !args.insecure_cookies;
    auth.oidc_default_role = oidc_default_role;
    auth.refresh(pool).await?;
    let users = store::users::count(pool).await?;
    if users == 0 && auth.oidc.is_none() && !listen.ip().is_loopback() {
        anyhow::bail!(
            "refusing to serve {listen} without sign-in: anyone who reaches it could change what may run in your clusters. \
             Add an admin first (`portcullis user add NAME --role admin --db FILE`), or start with \
             --bootstrap-admin NAME and PORTCULLIS_BOOTSTRAP_PASSWORD, or configure OpenID Connect (--oidc-issuer), \
             or listen on 127.0.0.1"
        );
    }
    Ok(auth)
}

/// Reads a password: from a terminal twice without echo, else the first line
/// of standard input.
fn read_password() -> anyhow::Result<String> {
    let pw = if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password (12+ characters): ")?;
        let again = rpassword::prompt_password("Again: ")?;
        if first != again {
            anyhow::bail!("the two passwords differ");
        }
        first
    } else {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        line.trim_end_matches(['\r', '\n']).to_owned()
    };
    password::check_strength(&pw).map_err(|m| anyhow::anyhow!(m))?;
    Ok(pw)
}

async fn open(db: &std::path::Path) -> anyhow::Result<sqlx::SqlitePool> {
    store::open(db)
        .await
        .map_err(|e| anyhow::anyhow!("cannot open database {}: {e}", db.display()))
}

fn namespaces_arg(ns: Option<&str>) -> anyhow::Result<Option<Option<Vec<String>>>> {
    ns.map(|n| check_namespaces(n).map_err(|e| anyhow::anyhow!("--{}", e.message)))
        .transpose()
}

pub async fn user(cmd: UserCommand) -> anyhow::Result<ExitCode> {
    let now = crate::now_ms();
    match cmd {
        UserCommand::Add {
            name,
            role,
            namespaces,
            oidc,
            db,
        } => {
            let name = check_name(&name).map_err(|e| anyhow::anyhow!(e.message))?;
            let role = check_role(&role).map_err(|e| anyhow::anyhow!("--{}", e.message))?;
            let namespaces = namespaces_arg(namespaces.as_deref())?.flatten();
            let password_hash = if oidc {
                None
            } else {
                let pw = read_password()?;
                Some(password::hash(pw).await.map_err(|m| anyhow::anyhow!(m))?)
            };
            let pool = open(&db).await?;
            let u = store::users::add(
                &pool,
                &NewUser {
                    name,
                    password_hash,
                    role,
                    namespaces,
                },
                CLI_ACTOR,
                now,
            )
            .await?;
            println!(
                "Added {} as {} ({} namespaces).",
                u.name,
                u.role,
                u.namespaces_text()
            );
        }
        UserCommand::List { db } => {
            let pool = open(&db).await?;
            let mut out = std::io::stdout().lock();
            for u in store::users::list(&pool).await? {
                writeln!(
                    out,
                    "{}\t{}\t{}\t{}",
                    u.name,
                    u.role,
                    u.namespaces_text(),
                    if u.has_password { "password" } else { "oidc" }
                )?;
            }
        }
        UserCommand::Set {
            name,
            role,
            namespaces,
            password: pw,
            db,
        } => {
            let role = role
                .as_deref()
                .map(check_role)
                .transpose()
                .map_err(|e| anyhow::anyhow!("--{}", e.message))?;
            let namespaces = namespaces_arg(namespaces.as_deref())?;
            let password_hash = if pw {
                Some(
                    password::hash(read_password()?)
                        .await
                        .map_err(|m| anyhow::anyhow!(m))?,
                )
            } else {
                None
            };
            let pool = open(&db).await?;
            let change = UserChange {
                password_hash,
                role,
                namespaces,
            };
            let u = store::users::update(&pool, &name, &change, CLI_ACTOR, now).await?;
            println!(
                "{} is {} ({} namespaces).",
                u.name,
                u.role,
                u.namespaces_text()
            );
        }
        UserCommand::Remove { name, db } => {
            let pool = open(&db).await?;
            store::users::remove(&pool, &name, CLI_ACTOR, now).await?;
            println!("Removed {name}.");
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn token(cmd: TokenCommand) -> anyhow::Result<ExitCode> {
    let now = crate::now_ms();
    match cmd {
        TokenCommand::Add {
            user,
            name,
            expires,
            db,
        } => {
            let expires_at = match expires.as_deref() {
                None => None,
                Some(e) => {
                    let d = e
                        .strip_suffix('d')
                        .and_then(|d| d.parse::<u64>().ok())
                        .map(|d| Duration::from_secs(d * 86_400))
                        .map_or_else(|| super::parse_duration(e), Ok)
                        .map_err(|m| anyhow::anyhow!("--expires: {m}"))?;
                    Some(now + d.as_millis().min(i64::MAX as u128 / 2) as i64)
                }
            };
            let pool = open(&db).await?;
            let (t, secret) =
                store::users::create_token(&pool, &user, &name, expires_at, CLI_ACTOR, now).await?;
            eprintln!(
                "Token {} ({}) for {}, expires {}. It is shown only now:",
                t.id,
                t.name,
                t.user,
                t.expires_text()
            );
            println!("{secret}");
        }
        TokenCommand::List { db } => {
            let pool = open(&db).await?;
            let mut out = std::io::stdout().lock();
            for t in store::users::tokens(&pool, None).await? {
                writeln!(
                    out,
                    "{}\t{}\t{}\texpires {}\tlast used {}",
                    t.id,
                    t.user,
                    t.name,
                    t.expires_text(),
                    t.last_used_text()
                )?;
            }
        }
        TokenCommand::Revoke { id, db } => {
            let pool = open(&db).await?;
            let t = store::users::revoke_token(&pool, id, CLI_ACTOR, now).await?;
            println!("Revoked token {} ({}) of {}.", t.id, t.name, t.user);
        }
    }
    Ok(ExitCode::SUCCESS)
}
