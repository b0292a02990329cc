//! `serve`'s admission webhook flags and the start of its HTTPS listener.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;

use crate::AppState;
use crate::admission::{self, AlertSink, Config, FailureMode};

/// The admission webhook (off unless `--webhook-listen` is given).
#[derive(Debug, Clone, Args)]
pub struct WebhookArgs {
    /// Serve `POST /admission/validate` and `/admission/mutate` over HTTPS on
    /// this address (needs --tls-cert and --tls-key).
    #[arg(long, value_name = "ADDR", requires_all = ["tls_cert", "tls_key"])]
    pub webhook_listen: Option<SocketAddr>,
    /// PEM certificate chain of the webhook; reloaded when the file changes.
    #[arg(long, value_name = "FILE", requires = "webhook_listen")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of the webhook; reloaded when the file changes.
    #[arg(long, value_name = "FILE", requires = "webhook_listen")]
    pub tls_key: Option<PathBuf>,
    /// Require client certificates signed by this CA (PEM).
    #[arg(long, value_name = "FILE", requires = "webhook_listen")]
    pub client_ca: Option<PathBuf>,
    /// Whose assignments apply (default: the served cluster, else the
    /// cluster of the newest snapshot).
    #[arg(long, value_name = "NAME")]
    pub webhook_cluster: Option<String>,
    /// Namespace whose objects are admitted unjudged (repeatable).
    #[arg(long, value_name = "NAMESPACE")]
    pub exempt_namespace: Vec<String>,
    /// User whose requests are admitted unjudged (repeatable).
    #[arg(long, value_name = "USERNAME")]
    pub exempt_user: Vec<String>,
    /// Runtime class whose pods are admitted unjudged (repeatable).
    #[arg(long, value_name = "NAME")]
    pub exempt_runtime_class: Vec<String>,
    /// How to answer a review that cannot be read.
    #[arg(long, value_enum, default_value = "deny")]
    pub failure_mode: FailureMode,
    /// Bound on answering one review (`2s`, `500ms`).
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = super::parse_duration)]
    pub webhook_timeout: Duration,
}

impl WebhookArgs {
    /// The webhook's configuration for `cluster`.
    pub fn config(&self, cluster: String) -> Config {
        Config {
            cluster,
            exempt_namespaces: self.exempt_namespace.iter().cloned().collect(),
            exempt_users: self.exempt_user.iter().cloned().collect(),
            exempt_runtime_classes: self.exempt_runtime_class.iter().cloned().collect(),
            failure_mode: self.failure_mode,
            timeout: self.webhook_timeout,
        }
    }
}

/// How long the admission log gets to write what it holds on shutdown.
const LOG_FLUSH_TIMEOUT: Duration = Duration::from_secs(10);

/// How often the certificate files are looked at.
const CERT_POLL: Duration = Duration::from_secs(5);

/// Binds the webhook listener and serves it until `shutdown` resolves, then
/// lets open reviews finish and flushes the admission log. Returns `None`
/// when the webhook is off.
pub async fn start(
    args: &WebhookArgs,
    state: &AppState,
    alerts: Arc<dyn AlertSink>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<Option<tokio::task::JoinHandle<std::io::Result<()>>>> {
    let (Some(addr), Some(cert), Some(key)) = (&args.webhook_listen, &args.tls_cert, &args.tls_key)
    else {
        return Ok(None);
    };
    let cluster = match &args.webhook_cluster {
        Some(c) => c.clone(),
        None => match &state.live {
            Some(live) => live.name().to_owned(),
            None => crate::store::snapshots::latest(&state.pool)
                .await?
                .map(|s| s.cluster)
                .unwrap_or_else(|| "manifests".to_owned()),
        },
    };
    let certs = admission::tls::CertReloader::new(cert, key).map_err(anyhow::Error::msg)?;
    let tls = admission::tls::server_config(certs.clone(), args.client_ca.as_deref())
        .map_err(anyhow::Error::msg)?;
    let webhook = admission::Webhook::start(state, args.config(cluster.clone()), alerts).await?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr} for the webhook: {e}"))?;
    eprintln!(
        "Admission webhook on https://{} (cluster {cluster}, failure mode {:?})",
        listener.local_addr()?,
        args.failure_mode
    );
    tokio::spawn(certs.watch(CERT_POLL));
    Ok(Some(tokio::spawn(async move {
        let served =
            admission::tls::serve(listener, tls, admission::router(webhook.clone()), shutdown)
                .await;
        // The decisions of the reviews just answered are still in the log
        // writer's batch: write them before the process exits.
        if tokio::time::timeout(LOG_FLUSH_TIMEOUT, webhook.flush())
            .await
            .is_err()
        {
            eprintln!(
                "the admission log could not be written within {}s: its last decisions are lost",
                LOG_FLUSH_TIMEOUT.as_secs()
            );
        }
        served
    })))
}
