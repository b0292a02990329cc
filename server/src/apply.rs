//! Applying an assignment to the live cluster (`serve --allow-apply`): a
//! standard level assigned to a namespace becomes that namespace's Pod Security
//! Admission labels, set with one JSON merge patch; removing the assignment
//! removes them (both set to `null`).
//!
//! Nothing is written unless `serve` runs with `--allow-apply` and the
//! assignment is for the live cluster it snapshots; [`apply_assignment`] says
//! why when it does nothing. The patch needs `patch` on namespaces, which the
//! read-only ClusterRole in deploy/rbac.yaml does not grant: see
//! deploy/optional/rbac-apply-labels.yaml.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, Patch, PatchParams};
use serde::Serialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::policy::assignments::{AssignTarget, Mode};
use crate::policy::export::{self, LABEL_PREFIX};
use crate::policy::profiles::Profile;
use crate::policy::pss::LevelVersion;

/// What applying did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "result")]
pub enum Applied {
    /// The namespace's labels were patched: each label and its new value
    /// (`None`: removed).
    Patched {
        namespace: String,
        labels: BTreeMap<String, Option<String>>,
    },
    /// Nothing was sent to the cluster, and why (in words).
    Skipped { reason: String },
}

/// Why the labels could not be written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApplyError {
    #[error(
        "{namespace:?} is not a namespace name (at most 63 lowercase letters, digits and '-'); nothing was sent"
    )]
    InvalidNamespace { namespace: String },
    #[error(
        "cannot set the Pod Security labels of namespace {namespace}: Portcullis's ClusterRole needs the verb `patch namespaces` (apply deploy/optional/rbac-apply-labels.yaml); the API server said: {message}"
    )]
    Forbidden { namespace: String, message: String },
    #[error(
        "cannot set the Pod Security labels of namespace {namespace}: it does not exist in the cluster"
    )]
    NotFound { namespace: String },
    #[error("the API server refused Portcullis's credentials (401): {message}")]
    Unauthorized { message: String },
    #[error(
        "the API server answered {code} {reason} to the label patch of namespace {namespace}: {message}"
    )]
    Api {
        namespace: String,
        code: u16,
        reason: String,
        message: String,
    },
    #[error("cannot reach the API server to set the labels of namespace {namespace}: {detail}")]
    Unreachable { namespace: String, detail: String },
    #[error("the label patch of namespace {namespace} failed: {detail}")]
    Unexpected { namespace: String, detail: String },
}

impl ApplyError {
    /// A short stable name (logs, JSON).
    pub fn kind(&self) -> &'static str {
        match self {
            ApplyError::InvalidNamespace { .. } => "invalid-namespace",
            ApplyError::Forbidden { .. } => "forbidden",
            ApplyError::NotFound { .. } => "not-found",
            ApplyError::Unauthorized { .. } => "unauthorized",
            ApplyError::Api { .. } => "api",
            ApplyError::Unreachable { .. } => "unreachable",
            ApplyError::Unexpected { .. } => "unexpected",
        }
    }
}

/// The merge patch for `mode`: `<mode>` and `<mode>-version` set to `level`,
/// or both `null` (removed) for `None`.
pub fn label_patch(
    mode: Mode,
    level: Option<LevelVersion>,
) -> (Value, BTreeMap<String, Option<String>>) {
    let labels: BTreeMap<String, Option<String>> = match level {
        Some(lv) => export::labels(mode, lv)
            .into_iter()
            .map(|(k, v)| (k, Some(v)))
            .collect(),
        None => [
            format!("{LABEL_PREFIX}{mode}"),
            format!("{LABEL_PREFIX}{mode}-version"),
        ]
        .into_iter()
        .map(|k| (k, None))
        .collect(),
    };
    (json!({ "metadata": { "labels": labels } }), labels)
}

/// Sets (or, with `None`, removes) the Pod Security labels of `mode` on
/// `namespace` with one JSON merge patch.
pub async fn apply_labels(
    client: &kube::Client,
    namespace: &str,
    mode: Mode,
    level: Option<LevelVersion>,
) -> Result<Applied, ApplyError> {
    if !export::is_namespace_name(namespace) {
        return Err(ApplyError::InvalidNamespace {
            namespace: namespace.to_owned(),
        });
    }
    let (patch, labels) = label_patch(mode, level);
    let api: Api<Namespace> = Api::all(client.clone());
    let params = PatchParams {
        field_manager: Some("portcullis".to_owned()),
        ..PatchParams::default()
    };
    match api.patch(namespace, &params, &Patch::Merge(&patch)).await {
        Ok(_) => Ok(Applied::Patched {
            namespace: namespace.to_owned(),
            labels,
        }),
        Err(kube::Error::Api(status)) => {
            let ns = namespace.to_owned();
            Err(match status.code {
                403 => ApplyError::Forbidden {
                    namespace: ns,
                    message: status.message.clone(),
                },
                404 => ApplyError::NotFound { namespace: ns },
                401 => ApplyError::Unauthorized {
                    message: status.message.clone(),
                },
                code => ApplyError::Api {
                    namespace: ns,
                    code,
                    reason: status.reason.clone(),
                    message: status.message.clone(),
                },
            })
        }
        Err(e @ (kube::Error::HyperError(_) | kube::Error::Service(_))) => {
            Err(ApplyError::Unreachable {
                namespace: namespace.to_owned(),
                detail: e.to_string(),
            })
        }
        Err(e) => Err(ApplyError::Unexpected {
            namespace: namespace.to_owned(),
            detail: e.to_string(),
        }),
    }
}

/// Applies an assignment (`profile: None`: its removal) to the live cluster
/// named `cluster`, when that is allowed and means something: `serve
/// --allow-apply`, a live cluster of that name, a namespace target and a
/// standard level. Otherwise nothing is sent and the reason returned.
///
/// To be called by the assignment API after an assignment is stored or removed.
pub async fn apply_assignment(
    state: &AppState,
    cluster: &str,
    target: &AssignTarget,
    mode: Mode,
    profile: Option<&Profile>,
) -> Result<Applied, ApplyError> {
    let skip = |reason: String| Ok(Applied::Skipped { reason });
    if !state.allow_apply {
        return skip(
            "Portcullis runs without --allow-apply: the cluster was not changed.".to_owned(),
        );
    }
    let Some(live) = state.live.as_ref().filter(|l| l.name() == cluster) else {
        return skip(format!(
            "{cluster} is not the live cluster Portcullis is connected to: the cluster was not changed."
        ));
    };
    let AssignTarget::Namespace(ns) = target else {
        return skip(
            "Pod Security labels are set per namespace; this assignment is enforced by the Portcullis webhook."
                .to_owned(),
        );
    };
    let level = match profile {
        None => None,
        Some(p) => match export::standard_level(p) {
            Some(lv) => Some(lv),
            None => {
                return skip(format!(
                    "{} is not a standard level, so it has no Pod Security labels; the Portcullis webhook enforces it.",
                    p.name
                ));
            }
        },
    };
    apply_labels(live.client(), ns, mode, level).await
}
