//! Portcullis: pod security for Kubernetes.
//!
//! `app(state)` is the one seam that tests and `main` drive; `serve` runs it on a
//! listener until the shutdown future resolves.

pub mod admission;
pub mod advisor;
pub mod alerts;
pub mod apply;
pub mod auth;
pub mod cli;
pub mod ingest;
pub mod metrics;
pub mod model;
pub mod outbound;
pub mod policy;
pub mod rules;
pub mod store;
pub mod web;

use std::future::Future;

use axum::Router;
use sqlx::SqlitePool;
use tokio::net::TcpListener;

/// Shared state of the server.
#[derive(Clone)]
pub struct AppState {
    pub pool: SqlitePool,
    /// The cluster the server snapshots (`serve --kubeconfig/--context/--in-cluster`),
    /// with its progress and last outcome; `None` when no cluster is configured.
    pub live: Option<std::sync::Arc<cli::live::LiveCluster>>,
    /// Assignments and exemptions in force, in memory (see [`rules`]).
    pub rules: std::sync::Arc<rules::RulesHandle>,
    /// `serve --allow-apply`: assignments of standard levels to namespaces are
    /// also written to the live cluster as Pod Security labels (see [`apply`]).
    pub allow_apply: bool,
    /// Sign-in: users, sessions, tokens, or the open dashboard (see [`auth`]).
    pub auth: std::sync::Arc<auth::Auth>,
}

impl AppState {
    /// State with a database and no live cluster; rules are empty until
    /// [`AppState::load`] or a reload.
    pub fn new(pool: SqlitePool) -> Self {
        AppState {
            pool,
            live: None,
            rules: Default::default(),
            allow_apply: false,
            auth: Default::default(),
        }
    }

    /// State with a database, its rules loaded.
    pub async fn load(pool: SqlitePool) -> Result<Self, sqlx::Error> {
        let rules = std::sync::Arc::new(rules::RulesHandle::load(&pool).await?);
        Ok(AppState {
            pool,
            live: None,
            rules,
            allow_apply: false,
            auth: Default::default(),
        })
    }
}

/// The whole HTTP application: pages, partials, JSON API, health and static files.
pub fn app(state: AppState) -> Router {
    web::router(state)
}

/// A client has this long to send a request's headers (a slow client cannot
/// hold a connection open forever; the body is bounded by the router's timeout).
pub const HEADER_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Serves `app(state)` over HTTP/1.1 on `listener` until `shutdown` resolves,
/// then stops accepting and waits for the requests in flight (callers bound
/// the wait).
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioIo, TokioTimer};
    use hyper_util::service::TowerToHyperService;
    let app = app(state);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.keep_alive(true)
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    let http = std::sync::Arc::new(http);
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(c) => c,
                Err(e) => {
                    // Out of file descriptors and the like: pause, keep serving.
                    tracing::warn!(error = %e, "dashboard accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = tcp.set_nodelay(true);
        let http = http.clone();
        let service = TowerToHyperService::new(app.clone());
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let conn = http.serve_connection(TokioIo::new(tcp), service);
            if let Err(e) = watcher.watch(conn).await {
                tracing::debug!(%peer, error = %e, "dashboard connection ended with an error");
            }
        });
    }
    // New connections are refused from here on.
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// Unix milliseconds as `2026-11-27 13:43 UTC`.
pub fn format_time(ms: i64) -> String {
    match jiff::Timestamp::from_millisecond(ms) {
        Ok(ts) => ts.strftime("%Y-%m-%d %H:%M:%S UTC").to_string(),
        Err(_) => ms.to_string(),
    }
}

/// Now, in unix milliseconds.
pub fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

/// Files compiled into the binary: the seed cluster and the static front-end.
pub mod embedded {
    include!(concat!(env!("OUT_DIR"), "/embedded.rs"));
}
