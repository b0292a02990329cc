//! `portcullis export` and `portcullis webhook-config`: an assignment, or the
//! Portcullis webhook, written as what a cluster applies. Exit 0 with the text
//! on stdout; exit 2 with the reason on stderr (bad input, or a format that
//! does not apply to the assignment).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::policy::assignments::{AssignTarget, Mode};
use crate::policy::export::webhook::{FailurePolicy, WebhookOptions};
use crate::policy::export::{self, Format, webhook};
use crate::policy::profiles::{Profile, ProfileRef};

/// `--service NS/NAME`.
pub fn parse_service(s: &str) -> Result<(String, String), String> {
    match s.split_once('/') {
        Some((ns, name)) if !ns.is_empty() && !name.is_empty() && !name.contains('/') => {
            Ok((ns.to_owned(), name.to_owned()))
        }
        _ => Err(format!(
            "--service {s:?}: write the webhook's Service as NAMESPACE/NAME (e.g. portcullis/portcullis)"
        )),
    }
}

/// Reads a PEM CA bundle; the error names the file.
pub fn read_ca_bundle(path: &Path) -> Result<Vec<u8>, String> {
    let bytes = std::fs::read(path)
        .map_err(|e| format!("--ca-bundle {}: cannot read the file: {e}", path.display()))?;
    if !webhook::is_pem(&bytes) {
        return Err(format!(
            "--ca-bundle {}: not a PEM file (expected -----BEGIN CERTIFICATE----- … -----END CERTIFICATE-----)",
            path.display()
        ));
    }
    Ok(bytes)
}

pub struct WebhookConfigOptions {
    pub service: String,
    pub ca_bundle: PathBuf,
    pub port: u16,
    pub failure_policy: String,
    pub timeout: i32,
}

fn webhook_options(o: &WebhookConfigOptions) -> Result<WebhookOptions, String> {
    let (service_namespace, service_name) = parse_service(&o.service)?;
    let failure_policy = FailurePolicy::parse(&o.failure_policy).ok_or_else(|| {
        format!(
            "--failure-policy {:?}: must be Fail or Ignore",
            o.failure_policy
        )
    })?;
    if !(1..=30).contains(&o.timeout) {
        return Err(format!(
            "--timeout {}: Kubernetes allows 1 to 30 seconds",
            o.timeout
        ));
    }
    if o.port == 0 {
        return Err("--port 0: give the port the webhook's Service listens on".to_owned());
    }
    Ok(WebhookOptions {
        service_namespace,
        service_name,
        port: o.port,
        ca_bundle: Some(read_ca_bundle(&o.ca_bundle)?),
        failure_policy,
        timeout_seconds: o.timeout,
    })
}

/// `portcullis webhook-config`.
pub fn webhook_config(o: &WebhookConfigOptions) -> ExitCode {
    match webhook_options(o) {
        Ok(opts) => {
            print!("{}", webhook::cluster_yaml(&opts));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

pub struct ExportOptions {
    pub target: String,
    pub profile: String,
    pub mode: String,
    pub format: Option<String>,
    pub db: Option<PathBuf>,
}

/// The profile a name stands for, custom ones read from `db`.
async fn profile(name: &str, db: Option<&Path>) -> Result<Profile, String> {
    let r = ProfileRef::parse(name).map_err(|e| format!("--profile: {e}"))?;
    let ProfileRef::Custom(custom) = &r else {
        return r.resolve(|_| None).map_err(|e| format!("--profile: {e}"));
    };
    let Some(db) = db else {
        return Err(format!(
            "--profile {custom:?}: not a preset or level; custom profiles are read from a database: add --db FILE"
        ));
    };
    let pool = crate::store::profiles::open_read_only(db)
        .await
        .map_err(|e| format!("--db {}: cannot open: {e}", db.display()))?;
    let found = crate::store::profiles::get(&pool, custom).await;
    pool.close().await;
    match found {
        Ok(Some(stored)) => Ok(Profile::custom(&stored.profile)),
        Ok(None) => Err(format!(
            "--profile {custom:?}: no such profile in {}",
            db.display()
        )),
        Err(e) => Err(format!("--db {}: cannot read profiles: {e}", db.display())),
    }
}

async fn export_text(o: &ExportOptions) -> Result<String, String> {
    let target = AssignTarget::parse(&o.target).map_err(|e| format!("--target {e}"))?;
    let mode = Mode::parse(&o.mode)
        .ok_or_else(|| format!("--mode {:?}: must be enforce, warn or audit", o.mode))?;
    let format = match o.format.as_deref() {
        None => None,
        Some(f) => Some(Format::parse(f).ok_or_else(|| {
            format!("--format {f:?}: must be labels, kubectl, yaml, vap or webhook")
        })?),
    };
    let profile = profile(&o.profile, o.db.as_deref()).await?;
    let e = export::export(&target, &profile, mode, &WebhookOptions::default());
    match format {
        Some(f) => e.format(f),
        // Everything that applies, with the notes as YAML comments.
        None => {
            let mut out = String::new();
            for n in &e.notes {
                out.push_str(&format!("# {n}\n"));
            }
            for f in [Format::Kubectl, Format::Yaml, Format::Vap, Format::Webhook] {
                if let Ok(text) = e.format(f) {
                    if f == Format::Kubectl {
                        out.push_str(&format!("# {text}"));
                    } else {
                        out.push_str("---\n");
                        out.push_str(&text);
                    }
                }
            }
            Ok(out)
        }
    }
}

/// `portcullis export`.
pub async fn export(o: &ExportOptions) -> ExitCode {
    match export_text(o).await {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
