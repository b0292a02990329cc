//! Exports: an assignment (target, profile, mode) written as what a cluster
//! understands, so it can be enforced without Portcullis in the request path.
//!
//! - Pod Security Admission labels (`pod-security.kubernetes.io/<mode>` and
//!   `<mode>-version`) for a standard level on a namespace, as a map, a
//!   `kubectl label` command and Namespace YAML;
//! - a ValidatingAdmissionPolicy and its binding, in CEL, for `baseline`,
//!   `restricted` (at `latest`) and `strict` ([`vap`]);
//! - the Portcullis webhook configurations ([`webhook`]), the only way to
//!   enforce a profile that labels and CEL cannot express (custom profiles,
//!   `node-agent`, and the defaults `strict` fills in).
//!
//! [`export`] picks what applies and says in `notes` why the rest does not.
//!
//! Pure: no IO.

pub mod vap;
pub mod webhook;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Serialize;

use crate::policy::assignments::{AssignTarget, Mode};
use crate::policy::profiles::{Origin, Profile};
use crate::policy::pss::{Level, LevelVersion, Version};

pub use webhook::WebhookOptions;

/// The label prefix of Pod Security Admission.
pub const LABEL_PREFIX: &str = "pod-security.kubernetes.io/";

/// The formats an export can be asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Labels,
    Kubectl,
    Yaml,
    Vap,
    Webhook,
}

impl Format {
    pub const ALL: [Format; 5] = [
        Format::Labels,
        Format::Kubectl,
        Format::Yaml,
        Format::Vap,
        Format::Webhook,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Format::Labels => "labels",
            Format::Kubectl => "kubectl",
            Format::Yaml => "yaml",
            Format::Vap => "vap",
            Format::Webhook => "webhook",
        }
    }

    pub fn parse(s: &str) -> Option<Format> {
        Format::ALL.into_iter().find(|f| f.as_str() == s)
    }
}

/// Everything an assignment can be exported as; a field is `None` when that
/// format does not apply, and `notes` says why, in words.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Export {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kubectl: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace_yaml: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub validating_admission_policy: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook_configuration: Option<String>,
    pub notes: Vec<String>,
}

impl Export {
    /// The text of one format, or why there is none.
    pub fn format(&self, f: Format) -> Result<String, String> {
        let text = match f {
            Format::Labels => self.labels.as_ref().map(|l| {
                l.iter()
                    .map(|(k, v)| format!("{k}={v}\n"))
                    .collect::<String>()
            }),
            Format::Kubectl => self.kubectl.as_ref().map(|k| format!("{k}\n")),
            Format::Yaml => self.namespace_yaml.clone(),
            Format::Vap => self.validating_admission_policy.clone(),
            Format::Webhook => self.webhook_configuration.clone(),
        };
        text.ok_or_else(|| {
            let mut why = format!("there is no {} export for this assignment", f.as_str());
            if !self.notes.is_empty() {
                why.push_str(": ");
                why.push_str(&self.notes.join(" "));
            }
            why
        })
    }
}

/// The standard level a profile is, if it is exactly one (no PSP half).
pub fn standard_level(profile: &Profile) -> Option<LevelVersion> {
    match profile.origin {
        Origin::Level if profile.policies.is_empty() => profile.level,
        _ => None,
    }
}

/// Pod Security Admission labels for `mode` at `lv`: `<mode>: <level>` and
/// `<mode>-version: <version>`.
pub fn labels(mode: Mode, lv: LevelVersion) -> BTreeMap<String, String> {
    BTreeMap::from([
        (format!("{LABEL_PREFIX}{mode}"), lv.level.to_string()),
        (
            format!("{LABEL_PREFIX}{mode}-version"),
            lv.version.to_string(),
        ),
    ])
}

/// A word safe to paste into a POSIX shell: left as it is when it holds only
/// characters no shell treats specially, otherwise in single quotes (a `'`
/// inside written `'\''`).
pub fn shell_quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"@%+=:,./_-".contains(&b));
    if plain {
        return s.to_owned();
    }
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Whether `name` can be a namespace's name (an RFC 1123 label: at most 63
/// lowercase letters, digits and `-`, starting and ending with a letter or digit).
pub fn is_namespace_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

/// `kubectl label namespace <ns> --overwrite k=v …`, every word quoted as needed.
pub fn kubectl_command(namespace: &str, labels: &BTreeMap<String, String>) -> String {
    let mut cmd = format!(
        "kubectl label namespace {} --overwrite",
        shell_quote(namespace)
    );
    for (k, v) in labels {
        cmd.push(' ');
        cmd.push_str(&shell_quote(&format!("{k}={v}")));
    }
    cmd
}

/// A Namespace manifest carrying `labels` (for `kubectl apply`; it adds or
/// replaces those labels and leaves the others to a server-side apply).
pub fn namespace_yaml(namespace: &str, labels: &BTreeMap<String, String>) -> String {
    let ns = Namespace {
        metadata: ObjectMeta {
            name: Some(namespace.to_owned()),
            labels: Some(labels.clone()),
            ..Default::default()
        },
        ..Default::default()
    };
    to_yaml(&ns)
}

/// YAML of a serialisable value. Our own values always serialise; should one
/// not, the error text stands in (never a panic).
pub(crate) fn to_yaml<T: Serialize>(v: &T) -> String {
    serde_yaml_ng::to_string(v).unwrap_or_else(|e| format!("# cannot write YAML: {e}\n"))
}

/// Several YAML documents, `---` between them.
pub(crate) fn join_docs(docs: &[String]) -> String {
    docs.join("---\n")
}

/// Everything `profile` in `mode` on `target` can be exported as.
/// `webhook` places the Portcullis webhook for the webhook configuration.
pub fn export(
    target: &AssignTarget,
    profile: &Profile,
    mode: Mode,
    webhook: &WebhookOptions,
) -> Export {
    let mut out = Export::default();
    let level = standard_level(profile);
    if let Some(ns) = target.namespace()
        && !is_namespace_name(ns)
    {
        out.notes.push(format!(
            "{ns:?} cannot be the name of a namespace (at most 63 lowercase letters, digits \
             and '-'): check the target; nothing below will match it."
        ));
    }

    // Labels: a standard level on a namespace.
    match (target, level) {
        (AssignTarget::Namespace(ns), Some(lv)) => {
            let l = labels(mode, lv);
            out.kubectl = Some(kubectl_command(ns, &l));
            out.namespace_yaml = Some(namespace_yaml(ns, &l));
            out.labels = Some(l);
        }
        (AssignTarget::Workload(_), Some(_)) => out.notes.push(
            "Pod Security labels do not apply: Pod Security Admission works per namespace, \
             not per workload. Use the ValidatingAdmissionPolicy below, or the Portcullis webhook."
                .to_owned(),
        ),
        (AssignTarget::Cluster, Some(_)) => out.notes.push(
            "Pod Security labels are set per namespace: for a cluster-wide default, set \
             `defaults` in the API server's PodSecurity AdmissionConfiguration, or use the \
             ValidatingAdmissionPolicy below."
                .to_owned(),
        ),
        (_, None) => {
            let mut note = format!(
                "Pod Security labels do not apply: {} is not one of the standard levels \
                 (privileged, baseline, restricted), and labels can express nothing else.",
                profile.name
            );
            if let Some(lv) = profile.level {
                note.push_str(&format!(
                    " Labels for {lv} would enforce its Pod Security half only."
                ));
            }
            out.notes.push(note);
        }
    }

    // ValidatingAdmissionPolicy: baseline, restricted (latest) and strict.
    match vap::PolicyKind::of(profile) {
        Ok(kind) => out.validating_admission_policy = Some(vap::policy_yaml(kind, target, mode)),
        Err(why) => out.notes.push(why),
    }

    // The webhook: whatever has a PodSecurityPolicy half (defaults to fill in,
    // or rules neither labels nor CEL express).
    if !profile.policies.is_empty() {
        out.webhook_configuration = Some(webhook::scoped_yaml(webhook, target, profile));
        let scope = match target.namespace() {
            Some(_) => "it sends only this assignment's namespace to the webhook",
            None => "it sends every namespace but kube-system and Portcullis's own to the webhook",
        };
        if out.validating_admission_policy.is_some() {
            out.notes.push(format!(
                "{} also fills in defaults, as PodSecurityPolicy did: only the webhook can \
                 (the ValidatingAdmissionPolicy checks but cannot change a pod, so with it \
                 alone pods must set those fields themselves). The webhook configuration \
                 below does both ({scope}).",
                profile.name
            ));
        } else {
            let what = if matches!(profile.origin, Origin::Custom | Origin::PspFile) {
                "a custom profile"
            } else {
                "a PodSecurityPolicy-style preset"
            };
            out.notes.push(format!(
                "{} is {what}: neither labels nor CEL can express it, so the Portcullis \
                 webhook enforces it. Apply the webhook configuration below ({scope}).",
                profile.name
            ));
        }
        if webhook.ca_bundle.is_none() {
            out.notes.push(
                "The webhook configuration has no caBundle yet: `portcullis webhook-config \
                 --service NS/NAME --ca-bundle FILE` writes it with the CA that signed the \
                 webhook's certificate."
                    .to_owned(),
            );
        }
    }

    if *target == AssignTarget::Cluster && out.validating_admission_policy.is_some() {
        out.notes.push(
            "The cluster binding matches every namespace, kube-system included: add a \
             namespaceSelector to it to leave system namespaces out."
                .to_owned(),
        );
    }
    if let AssignTarget::Workload(_) = target
        && out.validating_admission_policy.is_some()
    {
        out.notes.push(
            "For a workload, the policy matches the object by kind and name and its pods by \
             their owner (a Deployment's ReplicaSets and pods, a CronJob's Jobs and pods)."
                .to_owned(),
        );
    }
    if level.is_some_and(|lv| lv.level == Level::Privileged) {
        out.notes.push(
            "privileged checks nothing: there is nothing to validate, only the labels to set."
                .to_owned(),
        );
    }
    if let Some(lv) = level
        && lv.version != Version::Latest
        && lv.level != Level::Privileged
    {
        out.notes.push(format!(
            "The ValidatingAdmissionPolicy is written for latest only; {lv} is enforced \
             exactly by the labels (Pod Security Admission keeps every version)."
        ));
    }
    out
}
