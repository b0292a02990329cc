//! Command-line interface: `serve`, `snapshot` (and, as they land, `check`,
//! `export`, `webhook-config`).

pub mod check;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::model::{Inventory, Workload};
use crate::store;
use crate::store::snapshots::SnapshotSource;

#[derive(Debug, Parser)]
#[command(
    name = "portcullis",
    version,
    about = "Pod security for Kubernetes: see it, check it, enforce it"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the dashboard and JSON API. With no manifests it serves the demo
    /// cluster from seed/ (loaded only into an empty database).
    Serve {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// SQLite database file (created if missing).
        #[arg(long, default_value = "portcullis.db")]
        db: PathBuf,
        /// Manifest files or folders to snapshot at start.
        #[arg(long)]
        manifests: Vec<PathBuf>,
    },
    /// Take one snapshot into the database and exit.
    Snapshot {
        /// Manifest files or folders (YAML, JSON, kubectl -o yaml|json dumps).
        #[arg(long, required = true)]
        manifests: Vec<PathBuf>,
        /// SQLite database file (created if missing).
        #[arg(long)]
        db: PathBuf,
        /// Name of the cluster the manifests describe.
        #[arg(long, default_value = "manifests")]
        cluster: String,
    },
    /// Evaluate manifests against a profile, for CI. Exit 0 when all are
    /// allowed, 1 when any is denied, 2 on bad input or usage.
    Check {
        /// A Pod Security Standards level, optionally with a version
        /// (`restricted`, `baseline:v1.30`, `restricted:latest`), a preset
        /// (`strict`, `node-agent`) or a custom profile (with --profiles-db).
        #[arg(long, default_value = "restricted:latest", conflicts_with = "psp")]
        profile: String,
        /// Check with the PodSecurityPolicies in FILE instead (one, several or a
        /// List), with PSP's own rules, policy selection and defaults.
        #[arg(long, value_name = "FILE")]
        psp: Option<PathBuf>,
        /// Portcullis database to read custom profiles from (opened read-only).
        #[arg(long, value_name = "FILE")]
        profiles_db: Option<PathBuf>,
        /// Suggest, for each violation, the smallest change that fixes it
        /// (verified by evaluating again), as a strategic merge patch.
        #[arg(long)]
        fix: bool,
        /// Output format.
        #[arg(long, value_enum, default_value = "text")]
        format: check::Format,
        /// Manifest files or folders.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
}

/// The tightest Pod Security level (latest) a workload's pod template satisfies.
pub fn level_of(w: &Workload) -> &'static str {
    crate::policy::pss::tightest_level(
        &w.template.metadata,
        &w.template.spec,
        crate::policy::pss::Version::Latest,
    )
    .as_str()
}

fn print_load_errors(inv: &Inventory) {
    for e in &inv.errors {
        eprintln!("warning: {e}");
    }
}

/// Reads manifests and writes one snapshot. Nothing is written when no object
/// could be read.
pub async fn snapshot_manifests(
    pool: &sqlx::SqlitePool,
    paths: &[PathBuf],
    cluster: &str,
) -> anyhow::Result<(i64, Inventory)> {
    let inv = {
        let paths = paths.to_vec();
        tokio::task::spawn_blocking(move || crate::ingest::manifests::load_paths(&paths)).await?
    };
    print_load_errors(&inv);
    let objects = inv.workloads.len()
        + inv.namespaces.len()
        + inv.services.len()
        + inv.network_policies.len();
    if objects == 0 {
        let shown: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        anyhow::bail!(
            "no Kubernetes objects could be read from {} ({} documents had errors); the database was not changed",
            shown.join(", "),
            inv.errors.len()
        );
    }
    let source = SnapshotSource {
        cluster: cluster.to_owned(),
        source: format!(
            "manifests: {}",
            paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let id = store::snapshots::insert(pool, &source, &inv, crate::now_ms(), level_of).await?;
    Ok((id, inv))
}

/// Loads the demo cluster when the database holds no snapshot.
pub async fn seed_if_empty(pool: &sqlx::SqlitePool) -> anyhow::Result<Option<i64>> {
    if store::snapshots::count(pool).await? > 0 {
        return Ok(None);
    }
    let inv = crate::ingest::seed::load();
    print_load_errors(&inv);
    let source = SnapshotSource {
        cluster: "demo".to_owned(),
        source: "seed/ (the demo cluster built into Portcullis)".to_owned(),
    };
    let id = store::snapshots::insert(pool, &source, &inv, crate::now_ms(), level_of).await?;
    Ok(Some(id))
}

pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Check {
            profile,
            psp,
            profiles_db,
            fix,
            format,
            paths,
        } => Ok(check::run(check::CheckOptions {
            profile,
            psp,
            profiles_db,
            fix,
            format,
            paths,
        })
        .await),
        Command::Serve {
            listen,
            db,
            manifests,
        } => {
            let pool = store::open(&db)
                .await
                .map_err(|e| anyhow::anyhow!("cannot open database {}: {e}", db.display()))?;
            if manifests.is_empty() {
                if let Some(id) = seed_if_empty(&pool).await? {
                    tracing::info!(snapshot = id, "loaded the demo cluster from seed/");
                }
            } else {
                let (id, inv) = snapshot_manifests(&pool, &manifests, "manifests").await?;
                tracing::info!(
                    snapshot = id,
                    workloads = inv.workloads.len(),
                    "snapshot of manifests taken"
                );
            }
            let listener = tokio::net::TcpListener::bind(listen)
                .await
                .map_err(|e| anyhow::anyhow!("cannot listen on {listen}: {e}"))?;
            let addr = listener.local_addr()?;
            eprintln!(
                "Portcullis is serving http://{addr} (database {})",
                db.display()
            );
            crate::serve(listener, crate::AppState { pool }, shutdown_signal()).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Snapshot {
            manifests,
            db,
            cluster,
        } => {
            let pool = store::open(&db)
                .await
                .map_err(|e| anyhow::anyhow!("cannot open database {}: {e}", db.display()))?;
            let (id, inv) = snapshot_manifests(&pool, &manifests, &cluster).await?;
            let containers: usize = inv
                .workloads
                .iter()
                .map(|w| {
                    let s = &w.template.spec;
                    s.containers.len()
                        + s.init_containers.as_ref().map_or(0, Vec::len)
                        + s.ephemeral_containers.as_ref().map_or(0, Vec::len)
                })
                .sum();
            println!(
                "snapshot {id}: {} namespaces, {} workloads, {containers} containers, {} services, {} network policies{}",
                inv.namespaces.len(),
                inv.workloads.len(),
                inv.services.len(),
                inv.network_policies.len(),
                if inv.errors.is_empty() {
                    String::new()
                } else {
                    format!("; {} documents could not be read", inv.errors.len())
                }
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
