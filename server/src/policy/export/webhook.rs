//! The Portcullis admission webhook's configurations: a
//! ValidatingWebhookConfiguration (`/admission/validate`) and a
//! MutatingWebhookConfiguration (`/admission/mutate`), for the whole cluster
//! (`portcullis webhook-config`) or scoped to one assignment's namespace (the
//! export of a profile only the webhook can enforce).

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhook, MutatingWebhookConfiguration, RuleWithOperations, ServiceReference,
    ValidatingWebhook, ValidatingWebhookConfiguration, WebhookClientConfig,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    LabelSelector, LabelSelectorRequirement, ObjectMeta,
};

use super::vap::{KINDS, object_name};
use super::{join_docs, to_yaml};
use crate::policy::assignments::AssignTarget;
use crate::policy::profiles::Profile;

pub const VALIDATE_PATH: &str = "/admission/validate";
pub const MUTATE_PATH: &str = "/admission/mutate";

/// What Kubernetes does when the webhook cannot be reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FailurePolicy {
    #[default]
    Fail,
    Ignore,
}

impl FailurePolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            FailurePolicy::Fail => "Fail",
            FailurePolicy::Ignore => "Ignore",
        }
    }

    pub fn parse(s: &str) -> Option<FailurePolicy> {
        match s {
            "Fail" => Some(FailurePolicy::Fail),
            "Ignore" => Some(FailurePolicy::Ignore),
            _ => None,
        }
    }
}

/// Where the webhook is and how Kubernetes calls it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookOptions {
    pub service_namespace: String,
    pub service_name: String,
    pub port: u16,
    /// The PEM of the CA that signed the webhook's certificate (written
    /// base64-encoded, as `caBundle` is); `None` leaves `caBundle` out.
    pub ca_bundle: Option<Vec<u8>>,
    pub failure_policy: FailurePolicy,
    /// 1 to 30 seconds.
    pub timeout_seconds: i32,
}

impl Default for WebhookOptions {
    fn default() -> Self {
        WebhookOptions {
            service_namespace: "portcullis".to_owned(),
            service_name: "portcullis".to_owned(),
            port: 8443,
            ca_bundle: None,
            failure_policy: FailurePolicy::Fail,
            timeout_seconds: 5,
        }
    }
}

/// Whether `pem` looks like PEM: at least one `-----BEGIN …-----` line with its `-----END`.
pub fn is_pem(pem: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(pem) else {
        return false;
    };
    let Some(begin) = text.find("-----BEGIN ") else {
        return false;
    };
    text[begin..].contains("-----END ")
}

/// Pods (with their ephemeral containers) and the seven workload kinds, on
/// CREATE and UPDATE.
pub fn rules() -> Vec<RuleWithOperations> {
    let mut by_group: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (_, group, resource) in KINDS {
        by_group.entry(group).or_default().push(resource.to_owned());
    }
    if let Some(core) = by_group.get_mut("") {
        core.insert(1, "pods/ephemeralcontainers".to_owned());
    }
    by_group
        .into_iter()
        .map(|(group, resources)| RuleWithOperations {
            api_groups: Some(vec![group.to_owned()]),
            api_versions: Some(vec!["v1".to_owned()]),
            operations: Some(vec!["CREATE".to_owned(), "UPDATE".to_owned()]),
            resources: Some(resources),
            scope: Some("Namespaced".to_owned()),
        })
        .collect()
}

const NS_LABEL: &str = "kubernetes.io/metadata.name";

/// Every namespace but kube-system and Portcullis's own.
fn cluster_selector(opts: &WebhookOptions) -> LabelSelector {
    let mut values = vec!["kube-system".to_owned()];
    if opts.service_namespace != "kube-system" {
        values.push(opts.service_namespace.clone());
    }
    LabelSelector {
        match_expressions: Some(vec![LabelSelectorRequirement {
            key: NS_LABEL.to_owned(),
            operator: "NotIn".to_owned(),
            values: Some(values),
        }]),
        ..Default::default()
    }
}

/// Only namespace `ns`.
fn namespace_selector(ns: &str) -> LabelSelector {
    LabelSelector {
        match_expressions: Some(vec![LabelSelectorRequirement {
            key: NS_LABEL.to_owned(),
            operator: "In".to_owned(),
            values: Some(vec![ns.to_owned()]),
        }]),
        ..Default::default()
    }
}

fn client_config(opts: &WebhookOptions, path: &str) -> WebhookClientConfig {
    WebhookClientConfig {
        ca_bundle: opts.ca_bundle.clone().map(ByteString),
        service: Some(ServiceReference {
            namespace: opts.service_namespace.clone(),
            name: opts.service_name.clone(),
            path: Some(path.to_owned()),
            port: Some(i32::from(opts.port)),
        }),
        url: None,
    }
}

fn meta(name: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_owned()),
        labels: Some(BTreeMap::from([(
            "app.kubernetes.io/name".to_owned(),
            "portcullis".to_owned(),
        )])),
        ..Default::default()
    }
}

/// Both configurations, named `name`, sending the namespaces `selector`
/// matches to the webhook.
pub fn configurations(
    opts: &WebhookOptions,
    name: &str,
    selector: LabelSelector,
) -> (ValidatingWebhookConfiguration, MutatingWebhookConfiguration) {
    let validating = ValidatingWebhookConfiguration {
        metadata: meta(name),
        webhooks: Some(vec![ValidatingWebhook {
            name: "validate.portcullis.dev".to_owned(),
            admission_review_versions: vec!["v1".to_owned()],
            client_config: client_config(opts, VALIDATE_PATH),
            failure_policy: Some(opts.failure_policy.as_str().to_owned()),
            match_policy: Some("Equivalent".to_owned()),
            namespace_selector: Some(selector.clone()),
            rules: Some(rules()),
            side_effects: "None".to_owned(),
            timeout_seconds: Some(opts.timeout_seconds),
            ..Default::default()
        }]),
    };
    let mutating = MutatingWebhookConfiguration {
        metadata: meta(name),
        webhooks: Some(vec![MutatingWebhook {
            name: "mutate.portcullis.dev".to_owned(),
            admission_review_versions: vec!["v1".to_owned()],
            client_config: client_config(opts, MUTATE_PATH),
            failure_policy: Some(opts.failure_policy.as_str().to_owned()),
            match_policy: Some("Equivalent".to_owned()),
            namespace_selector: Some(selector),
            reinvocation_policy: Some("Never".to_owned()),
            rules: Some(rules()),
            side_effects: "None".to_owned(),
            timeout_seconds: Some(opts.timeout_seconds),
            ..Default::default()
        }]),
    };
    (validating, mutating)
}

/// The cluster-wide configurations (`portcullis webhook-config`): every
/// namespace but kube-system and the service's own.
pub fn cluster_yaml(opts: &WebhookOptions) -> String {
    let (v, m) = configurations(opts, "portcullis", cluster_selector(opts));
    join_docs(&[to_yaml(&v), to_yaml(&m)])
}

/// The configurations for one assignment: only its namespace, unless the
/// target is the whole cluster.
pub fn scoped_yaml(opts: &WebhookOptions, target: &AssignTarget, profile: &Profile) -> String {
    let (name, selector) = match target.namespace() {
        Some(ns) => (
            object_name(&["portcullis", &profile.name, ns]),
            namespace_selector(ns),
        ),
        None => (
            object_name(&["portcullis", &profile.name]),
            cluster_selector(opts),
        ),
    };
    let (v, m) = configurations(opts, &name, selector);
    join_docs(&[to_yaml(&v), to_yaml(&m)])
}
