//! Command-line interface: `serve`, `snapshot`, `check`, `export`,
//! `webhook-config`.

pub mod admission;
pub mod check;
pub mod export;
pub mod live;
pub mod users;

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::ingest::cluster::{Cluster, Options, Progress, Target};
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
        #[arg(long, conflicts_with_all = ["kubeconfig", "context", "in_cluster"])]
        manifests: Vec<PathBuf>,
        #[command(flatten)]
        kube: KubeArgs,
        /// With a cluster: how often to take a snapshot after the one at start
        /// (`90s`, `10m`, `1h`; `0` for only the one at start).
        #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = parse_interval)]
        snapshot_interval: Duration,
        /// Name to store snapshots under (default: the kube context, or `manifests`).
        #[arg(long, value_name = "NAME")]
        cluster: Option<String>,
        /// With a cluster: applying a standard-level namespace assignment also
        /// sets the namespace's pod-security.kubernetes.io labels (needs
        /// `patch` on namespaces: deploy/optional/rbac-apply-labels.yaml).
        #[arg(long)]
        allow_apply: bool,
        #[command(flatten)]
        webhook: Box<admission::WebhookArgs>,
        #[command(flatten)]
        auth: Box<users::AuthArgs>,
    },
    /// Manage the users who sign in to the dashboard and the JSON API.
    User {
        #[command(subcommand)]
        command: users::UserCommand,
    },
    /// Manage API tokens (for scripts and CI; `Authorization: Bearer`).
    Token {
        #[command(subcommand)]
        command: users::TokenCommand,
    },
    /// Take one snapshot into the database and exit. Exits non-zero with the
    /// reason when it fails, leaving the database as it was.
    Snapshot {
        /// Manifest files or folders (YAML, JSON, kubectl -o yaml|json dumps).
        #[arg(
            long,
            required_unless_present_any = ["kubeconfig", "context", "in_cluster"],
            conflicts_with_all = ["kubeconfig", "context", "in_cluster"]
        )]
        manifests: Vec<PathBuf>,
        #[command(flatten)]
        kube: KubeArgs,
        /// SQLite database file (created if missing).
        #[arg(long)]
        db: PathBuf,
        /// Name to store the snapshot under (default: the kube context, or `manifests`).
        #[arg(long, value_name = "NAME")]
        cluster: Option<String>,
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
    /// Print an assignment as what a cluster applies: Pod Security labels
    /// (`labels`, a `kubectl` command, Namespace `yaml`), a
    /// ValidatingAdmissionPolicy (`vap`) or the webhook configuration
    /// (`webhook`, for custom profiles). Without --format, all that apply.
    /// Exit 2 when the format does not apply, with the reason.
    Export {
        /// `cluster`, `namespace/<ns>` or `workload/<ns>/<Kind>/<name>`.
        #[arg(long)]
        target: String,
        /// A level (`restricted`, `baseline:v1.30`), a preset or a custom profile (with --db).
        #[arg(long)]
        profile: String,
        /// enforce, warn or audit.
        #[arg(long, default_value = "enforce")]
        mode: String,
        /// labels, kubectl, yaml, vap or webhook.
        #[arg(long)]
        format: Option<String>,
        /// Portcullis database to read custom profiles from (opened read-only).
        #[arg(long, value_name = "FILE")]
        db: Option<PathBuf>,
    },
    /// Print the ValidatingWebhookConfiguration and MutatingWebhookConfiguration
    /// of the Portcullis admission webhook, for every namespace but kube-system
    /// and the webhook's own.
    WebhookConfig {
        /// The webhook's Service, NAMESPACE/NAME.
        #[arg(long, value_name = "NS/NAME")]
        service: String,
        /// PEM file of the CA that signed the webhook's serving certificate.
        #[arg(long, value_name = "FILE")]
        ca_bundle: PathBuf,
        /// The Service's port.
        #[arg(long, default_value_t = 8443)]
        port: u16,
        /// Fail (reject pods while the webhook is down) or Ignore.
        #[arg(long, default_value = "Fail")]
        failure_policy: String,
        /// Seconds Kubernetes waits for the webhook (1 to 30).
        #[arg(long, default_value_t = 5)]
        timeout: i32,
    },
}

/// Where a live cluster is and how to list it (`serve` and `snapshot`).
#[derive(Debug, Clone, Args)]
pub struct KubeArgs {
    /// Kubeconfig file of the cluster (without it, `--context` reads
    /// KUBECONFIG or ~/.kube/config).
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// Kubeconfig context to use (default: the current context). Snapshots
    /// are stored under this name, so several contexts can share a database.
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,
    /// Use the service account of the pod Portcullis runs in.
    #[arg(long, conflicts_with_all = ["kubeconfig", "context"])]
    pub in_cluster: bool,
    /// Bound on each request to the API server (`30s`, `2m`).
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    pub request_timeout: Duration,
    /// Objects per page when listing.
    #[arg(long, value_name = "N", default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..))]
    pub page_size: u32,
}

impl KubeArgs {
    /// The cluster to snapshot, when one was named.
    pub fn target(&self) -> Option<Target> {
        (self.kubeconfig.is_some() || self.context.is_some() || self.in_cluster).then(|| Target {
            kubeconfig: self.kubeconfig.clone(),
            context: self.context.clone(),
            in_cluster: self.in_cluster,
        })
    }

    pub fn options(&self) -> Options {
        Options {
            page_size: self.page_size,
            request_timeout: self.request_timeout,
            ..Options::default()
        }
    }
}

/// `30s`, `10m`, `1h30m`, `500ms` (and ISO 8601 `PT10M`).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let d: jiff::SignedDuration = s
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a duration such as 30s, 10m or 1h"))?;
    Duration::try_from(d).map_err(|_| format!("{s:?} is negative"))
}

/// `10m`, `90s`, `1h`: how a duration was most likely written.
pub fn duration_words(d: Duration) -> String {
    let s = d.as_secs();
    if d.subsec_millis() != 0 || s == 0 {
        format!("{}ms", d.as_millis())
    } else if s.is_multiple_of(3600) {
        format!("{}h", s / 3600)
    } else if s.is_multiple_of(60) {
        format!("{}m", s / 60)
    } else {
        format!("{s}s")
    }
}

/// A duration, or `0` / `off` for none.
fn parse_interval(s: &str) -> Result<Duration, String> {
    match s.trim() {
        "0" | "off" | "never" => Ok(Duration::ZERO),
        other => parse_duration(other),
    }
}

/// Connects to the cluster of `kube`, storing snapshots under `name` when given.
pub async fn connect(
    target: &Target,
    kube: &KubeArgs,
    name: Option<&str>,
) -> anyhow::Result<Cluster> {
    let cluster = Cluster::connect(target, kube.options()).await?;
    Ok(match name {
        Some(name) => cluster.renamed(name),
        None => cluster,
    })
}

/// Reports listing progress on stderr, when it is a terminal.
fn progress_on_stderr() -> impl Fn(&Progress) + Send + Sync {
    let tty = std::io::stderr().is_terminal();
    move |p: &Progress| {
        if tty {
            eprint!(
                "\r\x1b[2Klisting {}: {} objects listed ({}/{} resources)",
                p.resource, p.objects, p.resources_done, p.resources_total
            );
        }
    }
}

fn clear_progress() {
    if std::io::stderr().is_terminal() {
        eprint!("\r\x1b[2K");
    }
}

/// Prints what the stored snapshot holds (namespaces include those only
/// referenced by objects, as the dashboard counts them).
async fn print_summary(pool: &sqlx::SqlitePool, id: i64, inv: &Inventory) -> anyhow::Result<()> {
    let Some(s) = store::snapshots::get(pool, id).await? else {
        anyhow::bail!("snapshot {id} was written but cannot be read back");
    };
    let unreadable = match inv.errors.len() {
        0 => String::new(),
        1 => "; 1 object could not be read".to_owned(),
        n => format!("; {n} objects could not be read"),
    };
    println!(
        "snapshot {id}: {} namespaces, {} workloads, {} containers, {} services, {} network policies{unreadable}",
        s.namespaces, s.workloads, s.containers, s.services, s.network_policies,
    );
    Ok(())
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
    let started = std::time::Instant::now();
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
            "no Kubernetes objects could be read from {} ({} unreadable); the database was not changed",
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
    crate::metrics::record_snapshot(started.elapsed(), inv.workloads.len());
    Ok((id, inv))
}

/// The name the demo cluster's snapshots are stored under.
pub const SEED_CLUSTER: &str = "demo";

/// Raises the alerts of a snapshot just stored by `portcullis snapshot`
/// (a server on the same database sends their notifications).
async fn raise_alerts(pool: &sqlx::SqlitePool, cluster: &str, id: i64) -> anyhow::Result<()> {
    let rules = crate::rules::RulesHandle::load(pool).await?;
    let r = crate::alerts::sync(pool, rules.get(), cluster, id, crate::now_ms()).await?;
    println!(
        "alerts: {} opened, {} still open, {} resolved",
        r.opened, r.updated, r.resolved
    );
    Ok(())
}

/// Loads the demo cluster when the database holds no snapshot.
pub async fn seed_if_empty(pool: &sqlx::SqlitePool) -> anyhow::Result<Option<i64>> {
    if store::snapshots::count(pool).await? > 0 {
        return Ok(None);
    }
    let started = std::time::Instant::now();
    let inv = crate::ingest::seed::load();
    print_load_errors(&inv);
    let source = SnapshotSource {
        cluster: SEED_CLUSTER.to_owned(),
        source: "seed/ (the demo cluster built into Portcullis)".to_owned(),
    };
    let id = store::snapshots::insert(pool, &source, &inv, crate::now_ms(), level_of).await?;
    crate::metrics::record_snapshot(started.elapsed(), inv.workloads.len());
    Ok(Some(id))
}

pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::User { command } => users::user(command).await,
        Command::Token { command } => users::token(command).await,
        Command::Export {
            target,
            profile,
            mode,
            format,
            db,
        } => Ok(export::export(&export::ExportOptions {
            target,
            profile,
            mode,
            format,
            db,
        })
        .await),
        Command::WebhookConfig {
            service,
            ca_bundle,
            port,
            failure_policy,
            timeout,
        } => Ok(export::webhook_config(&export::WebhookConfigOptions {
            service,
            ca_bundle,
            port,
            failure_policy,
            timeout,
        })),
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
            kube,
            snapshot_interval,
            cluster,
            allow_apply,
            webhook,
            auth,
        } => {
            let pool = store::open(&db)
                .await
                .map_err(|e| anyhow::anyhow!("cannot open database {}: {e}", db.display()))?;
            let live = match kube.target() {
                Some(target) => {
                    let cluster = connect(&target, &kube, cluster.as_deref()).await?;
                    Some(live::LiveCluster::new(cluster, pool.clone()))
                }
                None => None,
            };
            let mut state = crate::AppState::load(pool.clone()).await?;
            state.auth = std::sync::Arc::new(users::build_auth(&auth, listen, &pool).await?);
            let stored = if live.is_some() {
                // The cluster's first snapshot is taken once the server listens.
                None
            } else if manifests.is_empty() {
                let id = seed_if_empty(&pool).await?;
                if let Some(id) = id {
                    tracing::info!(snapshot = id, "loaded the demo cluster from seed/");
                }
                id.map(|id| (SEED_CLUSTER.to_owned(), id))
            } else {
                let name = cluster.as_deref().unwrap_or("manifests");
                let (id, inv) = snapshot_manifests(&pool, &manifests, name).await?;
                tracing::info!(
                    snapshot = id,
                    workloads = inv.workloads.len(),
                    "snapshot of manifests taken"
                );
                Some((name.to_owned(), id))
            };
            match &stored {
                Some((name, id)) => {
                    crate::alerts::after_snapshot(&pool, state.rules.get(), name, *id).await
                }
                // A database served as it is: bring its alerts up to date with
                // the rules (in the background, the server starts at once).
                None => {
                    let (pool, rules) = (pool.clone(), state.rules.get());
                    tokio::spawn(async move {
                        if let Err(e) = crate::alerts::sync_all(&pool, rules, crate::now_ms()).await
                        {
                            tracing::error!(error = %e, "alerts could not be synced");
                        }
                    });
                }
            }
            let listener = tokio::net::TcpListener::bind(listen)
                .await
                .map_err(|e| anyhow::anyhow!("cannot listen on {listen}: {e}"))?;
            let addr = listener.local_addr()?;
            eprintln!(
                "Portcullis is serving http://{addr} (database {}), {}",
                db.display(),
                if state.auth.is_open() {
                    "open: no users yet, so no sign-in (loopback only)"
                } else {
                    "sign-in required"
                }
            );
            if let Some(live) = &live {
                live.raise_alerts(state.rules.clone());
                eprintln!(
                    "Snapshots of cluster {} ({}) at start{}",
                    live.name(),
                    live.server(),
                    if snapshot_interval.is_zero() {
                        String::new()
                    } else {
                        format!(" and every {}", duration_words(snapshot_interval))
                    }
                );
                tokio::spawn(live.clone().run_every(snapshot_interval));
            }
            if allow_apply && live.is_none() {
                eprintln!(
                    "--allow-apply has no effect without a cluster (--kubeconfig, --context or --in-cluster)"
                );
            }
            state.live = live;
            state.allow_apply = allow_apply;
            crate::alerts::spawn_watcher(state.clone());
            crate::alerts::notify::spawn_deliverer(
                state.pool.clone(),
                crate::alerts::notify::DeliveryConfig::default(),
            );
            // One signal stops both listeners: they refuse new connections
            // at once and give open requests [`DRAIN_TIMEOUT`] to finish.
            let (stop, stopped) = tokio::sync::watch::channel(false);
            tokio::spawn(async move {
                shutdown_signal().await;
                eprintln!(
                    "shutting down: no new connections; finishing the requests in flight (at most {})",
                    duration_words(DRAIN_TIMEOUT)
                );
                let _ = stop.send(true);
            });
            let when_stopped = move || {
                let mut rx = stopped.clone();
                async move {
                    let _ = rx.wait_for(|s| *s).await;
                }
            };
            let hook = admission::start(
                &webhook,
                &state,
                std::sync::Arc::new(crate::alerts::AdmissionAlerts::new(state.pool.clone())),
                when_stopped(),
            )
            .await?;
            let dashboard = crate::serve(listener, state, when_stopped());
            let overdue = {
                let stopped = when_stopped();
                async move {
                    stopped.await;
                    tokio::time::sleep(DRAIN_TIMEOUT).await;
                }
            };
            tokio::select! {
                served = dashboard => served?,
                () = overdue => eprintln!(
                    "dashboard requests still open after {}: exiting without them",
                    duration_words(DRAIN_TIMEOUT)
                ),
            }
            // The webhook drains (bounded by its own DRAIN_TIMEOUT) and
            // flushes its admission log.
            if let Some(hook) = hook {
                hook.await??;
            }
            eprintln!("Portcullis stopped");
            Ok(ExitCode::SUCCESS)
        }
        Command::Snapshot {
            manifests,
            kube,
            db,
            cluster,
        } => {
            if let Some(target) = kube.target() {
                let remote = connect(&target, &kube, cluster.as_deref()).await?;
                // List first: a failed listing must leave the database (even its
                // file) as it was.
                let started = crate::now_ms();
                let progress = progress_on_stderr();
                let listed = remote.snapshot(&progress).await;
                clear_progress();
                let inv = listed.map_err(|e| {
                    anyhow::anyhow!(
                        "snapshot of cluster {} failed: {e}; the database was not changed",
                        remote.name()
                    )
                })?;
                let pool = store::open(&db)
                    .await
                    .map_err(|e| anyhow::anyhow!("cannot open database {}: {e}", db.display()))?;
                let id = live::store_listing(&pool, &remote, &inv, started)
                    .await
                    .map_err(|e| {
                        anyhow::anyhow!(
                            "cannot write the snapshot to {}: {e}; the database was not changed",
                            db.display()
                        )
                    })?;
                print_load_errors(&inv);
                print_summary(&pool, id, &inv).await?;
                raise_alerts(&pool, remote.name(), id).await?;
                return Ok(ExitCode::SUCCESS);
            }
            let pool = store::open(&db)
                .await
                .map_err(|e| anyhow::anyhow!("cannot open database {}: {e}", db.display()))?;
            let name = cluster.as_deref().unwrap_or("manifests");
            let (id, inv) = snapshot_manifests(&pool, &manifests, name).await?;
            print_summary(&pool, id, &inv).await?;
            raise_alerts(&pool, name, id).await?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// How long `serve` gives open requests to finish after Ctrl-C or SIGTERM.
pub const DRAIN_TIMEOUT: Duration = crate::admission::tls::DRAIN_TIMEOUT;

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
