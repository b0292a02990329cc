//! Serde types for `policy/v1beta1` PodSecurityPolicy (k8s-openapi dropped them
//! when the API was removed in Kubernetes 1.25), and the names PSP gives to
//! volume types, rules and annotations.
//!
//! Field names and shapes follow the wire format exactly, so a PSP exported with
//! `kubectl get psp -o yaml` reads back unchanged. Rules are kept as strings, as
//! in the API; they are checked by [`super::validate`] and turned into typed
//! strategies when a policy is evaluated. Unknown fields are rejected: the API is
//! frozen, so an unknown field is a typo.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::SELinuxOptions;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::{Deserialize, Serialize};

pub const API_VERSION: &str = "policy/v1beta1";
/// The group PSP lived in before `policy` (Kubernetes ≤ 1.15); accepted on import.
pub const LEGACY_API_VERSION: &str = "extensions/v1beta1";

pub const SECCOMP_ALLOWED_ANNOTATION: &str =
    "seccomp.security.alpha.kubernetes.io/allowedProfileNames";
pub const SECCOMP_DEFAULT_ANNOTATION: &str =
    "seccomp.security.alpha.kubernetes.io/defaultProfileName";
pub const APPARMOR_ALLOWED_ANNOTATION: &str =
    "apparmor.security.beta.kubernetes.io/allowedProfileNames";
pub const APPARMOR_DEFAULT_ANNOTATION: &str =
    "apparmor.security.beta.kubernetes.io/defaultProfileName";

/// Pod annotation holding the pod-level seccomp profile.
pub const SECCOMP_POD_ANNOTATION: &str = "seccomp.security.alpha.kubernetes.io/pod";
/// Prefix of the per-container seccomp annotation (`…/<container name>`).
pub const SECCOMP_CONTAINER_ANNOTATION_PREFIX: &str =
    "container.seccomp.security.alpha.kubernetes.io/";
/// Prefix of the per-container AppArmor annotation (`…/<container name>`).
pub const APPARMOR_CONTAINER_ANNOTATION_PREFIX: &str =
    "container.apparmor.security.beta.kubernetes.io/";
/// The annotation PSP admission writes with the name of the policy that admitted a pod.
pub const PSP_ANNOTATION: &str = "kubernetes.io/psp";

/// Every `FSType` of policy/v1beta1 (Kubernetes 1.24), in the API's order.
pub const FS_TYPES: [&str; 29] = [
    "azureFile",
    "azureDisk",
    "flocker",
    "flexVolume",
    "hostPath",
    "emptyDir",
    "gcePersistentDisk",
    "awsElasticBlockStore",
    "gitRepo",
    "secret",
    "nfs",
    "iscsi",
    "glusterfs",
    "persistentVolumeClaim",
    "rbd",
    "cinder",
    "cephFS",
    "downwardAPI",
    "fc",
    "configMap",
    "vsphereVolume",
    "quobyte",
    "photonPersistentDisk",
    "projected",
    "portworxVolume",
    "scaleIO",
    "storageos",
    "csi",
    "ephemeral",
];

/// The `volumes` entry that allows every type.
pub const ALL: &str = "*";

/// The sysctls Kubernetes 1.24 considers safe (allowed unless forbidden), by exact name.
pub const SAFE_SYSCTLS: [&str; 5] = [
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_unprivileged_port_start",
];

/// The rules of the `runAsUser` strategy.
pub const USER_RULES: [&str; 3] = ["MustRunAs", "MustRunAsNonRoot", "RunAsAny"];
/// The rules of the optional `runAsGroup` strategy.
pub const RUN_AS_GROUP_RULES: [&str; 3] = ["MustRunAs", "MayRunAs", "RunAsAny"];
/// The rules of the `supplementalGroups` and `fsGroup` strategies.
pub const GROUP_RULES: [&str; 3] = ["MustRunAs", "MayRunAs", "RunAsAny"];
/// The rules of the `seLinux` strategy.
pub const SE_LINUX_RULES: [&str; 2] = ["MustRunAs", "RunAsAny"];

/// A `policy/v1beta1` PodSecurityPolicy object.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodSecurityPolicy {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: PodSecurityPolicySpec,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// `spec` of a PodSecurityPolicy: every field of policy/v1beta1.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PodSecurityPolicySpec {
    #[serde(default, skip_serializing_if = "is_false")]
    pub privileged: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub default_add_capabilities: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub required_drop_capabilities: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_capabilities: Vec<String>,
    /// Allowed volume types (`FS_TYPES` or `*`). Empty allows none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<String>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub host_network: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub host_ports: Vec<HostPortRange>,
    #[serde(default, rename = "hostPID", skip_serializing_if = "is_false")]
    pub host_pid: bool,
    #[serde(default, rename = "hostIPC", skip_serializing_if = "is_false")]
    pub host_ipc: bool,
    #[serde(default)]
    pub se_linux: SeLinuxStrategyOptions,
    #[serde(default)]
    pub run_as_user: RunAsUserStrategyOptions,
    /// Optional; omitted means RunAsAny.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_as_group: Option<RunAsGroupStrategyOptions>,
    #[serde(default)]
    pub supplemental_groups: SupplementalGroupsStrategyOptions,
    #[serde(default)]
    pub fs_group: FsGroupStrategyOptions,
    #[serde(default, skip_serializing_if = "is_false")]
    pub read_only_root_filesystem: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_allow_privilege_escalation: Option<bool>,
    /// Defaulted to `true` by the API (and by [`super::import`]); `None` reads as `true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_privilege_escalation: Option<bool>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_host_paths: Vec<AllowedHostPath>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_flex_volumes: Vec<AllowedFlexVolume>,
    #[serde(
        default,
        rename = "allowedCSIDrivers",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub allowed_csi_drivers: Vec<AllowedCsiDriver>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_unsafe_sysctls: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub forbidden_sysctls: Vec<String>,
    /// `Default` and/or `Unmasked`; empty means `[Default]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_proc_mount_types: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime_class: Option<RuntimeClassStrategyOptions>,
}

/// An inclusive range of host ports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostPortRange {
    #[serde(default)]
    pub min: i32,
    #[serde(default)]
    pub max: i32,
}

/// An inclusive range of user or group IDs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdRange {
    #[serde(default)]
    pub min: i64,
    #[serde(default)]
    pub max: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SeLinuxStrategyOptions {
    /// `MustRunAs` or `RunAsAny` (required).
    #[serde(default)]
    pub rule: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub se_linux_options: Option<SELinuxOptions>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunAsUserStrategyOptions {
    /// `MustRunAs`, `MustRunAsNonRoot` or `RunAsAny` (required).
    #[serde(default)]
    pub rule: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ranges: Vec<IdRange>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunAsGroupStrategyOptions {
    /// `MustRunAs`, `MayRunAs` or `RunAsAny`.
    #[serde(default)]
    pub rule: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ranges: Vec<IdRange>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SupplementalGroupsStrategyOptions {
    /// `MustRunAs`, `MayRunAs` or `RunAsAny` (required).
    #[serde(default)]
    pub rule: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ranges: Vec<IdRange>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FsGroupStrategyOptions {
    /// `MustRunAs`, `MayRunAs` or `RunAsAny` (required).
    #[serde(default)]
    pub rule: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ranges: Vec<IdRange>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AllowedHostPath {
    #[serde(default)]
    pub path_prefix: String,
    #[serde(default, skip_serializing_if = "is_false")]
    pub read_only: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllowedFlexVolume {
    #[serde(default)]
    pub driver: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllowedCsiDriver {
    #[serde(default)]
    pub name: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RuntimeClassStrategyOptions {
    /// Allowed names, or `["*"]`. Empty forbids every explicit name.
    #[serde(default)]
    pub allowed_runtime_class_names: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_runtime_class_name: Option<String>,
}

/// A PSP-equivalent custom profile: the policy's name, its metadata annotations
/// (where seccomp and AppArmor rules live) and its spec. Serialises as JSON for
/// the store; [`Profile::to_psp`] gives the PodSecurityPolicy back.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    pub name: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    pub spec: PodSecurityPolicySpec,
}

impl Profile {
    /// The profile as a `policy/v1beta1` PodSecurityPolicy object.
    pub fn to_psp(&self) -> PodSecurityPolicy {
        PodSecurityPolicy {
            api_version: API_VERSION.to_owned(),
            kind: "PodSecurityPolicy".to_owned(),
            metadata: ObjectMeta {
                name: Some(self.name.clone()),
                annotations: (!self.annotations.is_empty()).then(|| self.annotations.clone()),
                ..ObjectMeta::default()
            },
            spec: self.spec.clone(),
        }
    }

    /// `allowPrivilegeEscalation` with the API default (`true`) applied.
    pub fn allows_privilege_escalation(&self) -> bool {
        self.spec.allow_privilege_escalation.unwrap_or(true)
    }
}
