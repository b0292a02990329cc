//! The normalised picture of a cluster: workloads with their pod templates,
//! namespaces, services and network policies, and the per-container effective
//! security settings over the 16 controls. Pure: no IO.

pub mod controls;
pub mod effective;

use std::collections::BTreeMap;
use std::fmt;

use k8s_openapi::api::core::v1::{PodSpec, Service};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::{Deserialize, Serialize};

pub use controls::Control;

/// The workload kinds whose pod template Portcullis evaluates.
pub const WORKLOAD_KINDS: [&str; 8] = [
    "Pod",
    "Deployment",
    "ReplicaSet",
    "StatefulSet",
    "DaemonSet",
    "Job",
    "CronJob",
    "ReplicationController",
];

/// Where a kind keeps its pod template, as object keys from the top: nothing
/// for a Pod, `spec.jobTemplate.spec.template` for a CronJob, else `spec.template`.
pub fn template_path(kind: &str) -> &'static [&'static str] {
    match kind {
        "Pod" => &[],
        "CronJob" => &["spec", "jobTemplate", "spec", "template"],
        _ => &["spec", "template"],
    }
}

/// [`template_path`] as an RFC 6901 pointer prefix (`""`, `/spec/template`, …).
pub fn template_pointer(kind: &str) -> String {
    template_path(kind)
        .iter()
        .map(|k| format!("/{k}"))
        .collect()
}

/// `namespace/Kind/name`: the one string that names a workload in URLs, JSON and messages.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct WorkloadKey {
    pub namespace: String,
    pub kind: String,
    pub name: String,
}

impl WorkloadKey {
    pub fn new(
        namespace: impl Into<String>,
        kind: impl Into<String>,
        name: impl Into<String>,
    ) -> Self {
        Self {
            namespace: namespace.into(),
            kind: kind.into(),
            name: name.into(),
        }
    }

    /// Parses `namespace/Kind/name`.
    pub fn parse(s: &str) -> Option<Self> {
        let mut it = s.splitn(3, '/');
        let (ns, kind, name) = (it.next()?, it.next()?, it.next()?);
        if ns.is_empty() || kind.is_empty() || name.is_empty() {
            return None;
        }
        Some(Self::new(ns, kind, name))
    }
}

impl fmt::Display for WorkloadKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.namespace, self.kind, self.name)
    }
}

/// Where an object was read from: a file (or an API listing) and the document in it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Origin {
    /// File path as given, or `api:<resource>` for a live listing.
    pub file: String,
    /// 0-based index of the YAML document in the file (0 for JSON).
    pub document: usize,
    /// 1-based line where the object starts (the document, or the List item).
    pub line: usize,
}

/// A pod template: what every pod of a workload is created from.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PodTemplate {
    pub metadata: ObjectMeta,
    pub spec: PodSpec,
}

/// A workload: a Pod or a controller with a pod template, normalised.
#[derive(Debug, Clone, PartialEq)]
pub struct Workload {
    pub key: WorkloadKey,
    pub api_version: String,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    /// Desired replicas where the kind has them (Deployment, ReplicaSet, StatefulSet, RC).
    pub replicas: Option<i32>,
    /// CronJob schedule, if any.
    pub schedule: Option<String>,
    pub template: PodTemplate,
    /// Names of pods (and intermediate controllers such as ReplicaSets or Jobs)
    /// from the same input that were folded under this workload.
    pub folded: Vec<String>,
    pub origin: Origin,
    /// The object as read (JSON), kept for export and raw view.
    pub raw: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Namespace {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub origin: Origin,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ServiceObject {
    pub namespace: String,
    pub name: String,
    pub service: Service,
    pub origin: Origin,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NetworkPolicyObject {
    pub namespace: String,
    pub name: String,
    pub policy: NetworkPolicy,
    pub origin: Origin,
}

/// A ConfigMap's string data: read only because the advisor follows
/// `envFrom`/`configMapKeyRef` values to the Services they name.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigMapObject {
    pub namespace: String,
    pub name: String,
    pub data: BTreeMap<String, String>,
    pub origin: Origin,
}

/// A problem with one document of the input; the other documents still load.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadError {
    pub file: String,
    /// 0-based document index, when the error is inside one document.
    pub document: Option<usize>,
    /// 1-based line, when known.
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(doc) = self.document {
            write!(f, " (document {})", doc + 1)?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Everything read from one source: the input of a snapshot.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Inventory {
    pub namespaces: Vec<Namespace>,
    pub workloads: Vec<Workload>,
    pub services: Vec<ServiceObject>,
    pub network_policies: Vec<NetworkPolicyObject>,
    /// ConfigMaps (their `data`), for the advisor's service references.
    pub config_maps: Vec<ConfigMapObject>,
    /// Objects of kinds Portcullis does not read, counted by kind.
    pub skipped: BTreeMap<String, usize>,
    pub errors: Vec<LoadError>,
}
