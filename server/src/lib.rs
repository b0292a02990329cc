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
        })
    }
}

/// The whole HTTP application: pages, partials, JSON API, health and static files.
pub fn app(state: AppState) -> Router {
    web::router(state)
}

/// Serves `app(state)` on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app(state))
        .with_graceful_shutdown(shutdown)
        .await
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
