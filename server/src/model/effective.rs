//! Per-container effective security settings over the 16 controls, in plain words.
//!
//! For each container the container's own security context wins over the pod's
//! (runAsUser, runAsGroup, runAsNonRoot, seLinuxOptions, seccompProfile,
//! appArmorProfile); the legacy annotations for AppArmor and seccomp count only
//! when neither field is set. Each [`Cell`] says the effective value in words, the
//! field it comes from, where it was set, how risky it is and why that matters.
//!
//! [`RiskFlag`]s, the overview counts and list filters, are raised as follows:
//!
//! | flag | raised when |
//! |---|---|
//! | privileged | `privileged: true` (or a Windows HostProcess container) |
//! | host-namespaces | `hostPID` or `hostIPC` |
//! | host-network | `hostNetwork` |
//! | host-ports | the container sets a `hostPort` |
//! | host-path | the container mounts a hostPath volume |
//! | added-capabilities | `capabilities.add` holds anything but `NET_BIND_SERVICE` |
//! | runs-as-root | effective runAsUser 0, or neither runAsUser nor runAsNonRoot: true (not raised in a user namespace, `hostUsers: false`) |
//! | writable-root-fs | `readOnlyRootFilesystem` is not `true` |
//! | privilege-escalation | `allowPrivilegeEscalation` is not `false`, or the container is privileged or adds SYS_ADMIN |
//! | no-seccomp | no seccomp profile, `Unconfined`, or a privileged container (which runs without one) |
//! | unconfined-apparmor | AppArmor `Unconfined` set by field or annotation |
//! | custom-selinux | an SELinux type outside the container_* types, or a user or role |
//! | unmasked-proc | `procMount: Unmasked` |
//! | unsafe-sysctls | a sysctl outside the Pod Security Standards baseline allow-list |
//! | flex-volume | the pod has a FlexVolume (its driver runs on the node for the whole pod) |
//!
//! Windows pods (`spec.os.name: windows`) get "does not apply" for the Linux-only
//! controls; their privileged cell looks at `windowsOptions.hostProcess` and their
//! user cell at `windowsOptions.runAsUserName`.

use std::collections::BTreeMap;
use std::fmt::Display;

use k8s_openapi::api::core::v1::{
    AppArmorProfile, Capabilities, ContainerPort, PodSecurityContext, PodSpec, SeccompProfile,
    SecurityContext, Volume, VolumeMount,
};
use serde::{Deserialize, Serialize};

use super::PodTemplate;
use super::controls::{Control, Risk, RiskFlag, SettingOrigin};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ContainerKind {
    Init,
    Regular,
    Ephemeral,
}

impl ContainerKind {
    pub fn word(self) -> &'static str {
        match self {
            ContainerKind::Init => "init",
            ContainerKind::Regular => "container",
            ContainerKind::Ephemeral => "ephemeral",
        }
    }
}

/// One cell of the grid: one control for one container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cell {
    pub control: Control,
    /// Plain words first: "runs as root (UID 0, set on the pod)".
    pub value: String,
    /// Field names second: "spec.securityContext.runAsUser: 0".
    pub field: String,
    pub origin: SettingOrigin,
    pub risk: Risk,
    /// One sentence on why the setting matters.
    pub why: String,
}

/// A container's security posture: one cell per control, in `Control::ALL` order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerView {
    pub name: String,
    pub kind: ContainerKind,
    pub image: String,
    pub cells: Vec<Cell>,
    /// The risky settings this container has, sorted.
    pub flags: Vec<RiskFlag>,
}

impl ContainerView {
    pub fn cell(&self, control: Control) -> Option<&Cell> {
        self.cells.iter().find(|c| c.control == control)
    }

    /// The worst risk among the cells.
    pub fn worst(&self) -> Risk {
        self.cells
            .iter()
            .map(|c| c.risk)
            .max()
            .unwrap_or(Risk::Safe)
    }

    pub fn has(&self, flag: RiskFlag) -> bool {
        self.flags.contains(&flag)
    }
}

/// The sysctls the Pod Security Standards baseline allows (latest version): they
/// are namespaced per pod and cannot affect the node.
pub const SAFE_SYSCTLS: [&str; 14] = [
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
    "net.ipv4.tcp_rmem",
    "net.ipv4.tcp_wmem",
    "net.ipv4.tcp_slow_start_after_idle",
    "net.ipv4.tcp_notsent_lowat",
];

/// Volume types the restricted profile allows.
pub const RESTRICTED_VOLUME_TYPES: [&str; 9] = [
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "image",
    "persistentVolumeClaim",
    "projected",
    "secret",
];

/// Capabilities that come close to root on the node.
const DANGEROUS_CAPABILITIES: [&str; 13] = [
    "ALL",
    "SYS_ADMIN",
    "SYS_MODULE",
    "SYS_PTRACE",
    "SYS_RAWIO",
    "SYS_BOOT",
    "SYS_TIME",
    "DAC_READ_SEARCH",
    "NET_ADMIN",
    "BPF",
    "PERFMON",
    "MAC_ADMIN",
    "MAC_OVERRIDE",
];

/// SELinux types the baseline profile allows.
const SELINUX_TYPES: [&str; 4] = [
    "container_t",
    "container_init_t",
    "container_kvm_t",
    "container_engine_t",
];

const APPARMOR_ANNOTATION: &str = "container.apparmor.security.beta.kubernetes.io/";
const SECCOMP_POD_ANNOTATION: &str = "seccomp.security.alpha.kubernetes.io/pod";
const SECCOMP_CONTAINER_ANNOTATION: &str = "container.seccomp.security.alpha.kubernetes.io/";

/// The effective settings of every container of a pod template, in the order
/// init containers, containers, ephemeral containers.
pub fn analyse(template: &PodTemplate) -> Vec<ContainerView> {
    let spec = &template.spec;
    let empty = BTreeMap::new();
    let pod = Pod {
        spec,
        sc: spec.security_context.as_ref(),
        annotations: template.metadata.annotations.as_ref().unwrap_or(&empty),
        volumes: spec.volumes.as_deref().unwrap_or_default(),
        windows: spec
            .os
            .as_ref()
            .is_some_and(|os| os.name.eq_ignore_ascii_case("windows")),
        user_namespace: spec.host_users == Some(false),
    };
    let init = spec
        .init_containers
        .iter()
        .flatten()
        .enumerate()
        .map(|(i, c)| Ctr {
            name: &c.name,
            image: c.image.as_deref().unwrap_or_default(),
            kind: ContainerKind::Init,
            path: format!("spec.initContainers[{i}]"),
            sc: c.security_context.as_ref(),
            ports: c.ports.as_deref().unwrap_or_default(),
            mounts: c.volume_mounts.as_deref().unwrap_or_default(),
        });
    let regular = spec.containers.iter().enumerate().map(|(i, c)| Ctr {
        name: &c.name,
        image: c.image.as_deref().unwrap_or_default(),
        kind: ContainerKind::Regular,
        path: format!("spec.containers[{i}]"),
        sc: c.security_context.as_ref(),
        ports: c.ports.as_deref().unwrap_or_default(),
        mounts: c.volume_mounts.as_deref().unwrap_or_default(),
    });
    let ephemeral = spec
        .ephemeral_containers
        .iter()
        .flatten()
        .enumerate()
        .map(|(i, c)| Ctr {
            name: &c.name,
            image: c.image.as_deref().unwrap_or_default(),
            kind: ContainerKind::Ephemeral,
            path: format!("spec.ephemeralContainers[{i}]"),
            sc: c.security_context.as_ref(),
            ports: c.ports.as_deref().unwrap_or_default(),
            mounts: c.volume_mounts.as_deref().unwrap_or_default(),
        });
    init.chain(regular)
        .chain(ephemeral)
        .map(|c| view(&pod, &c))
        .collect()
}

struct Pod<'a> {
    spec: &'a PodSpec,
    sc: Option<&'a PodSecurityContext>,
    annotations: &'a BTreeMap<String, String>,
    volumes: &'a [Volume],
    windows: bool,
    /// `hostUsers: false`: root in the container is not root on the node.
    user_namespace: bool,
}

struct Ctr<'a> {
    name: &'a str,
    image: &'a str,
    kind: ContainerKind,
    /// `spec.containers[0]`
    path: String,
    sc: Option<&'a SecurityContext>,
    ports: &'a [ContainerPort],
    mounts: &'a [VolumeMount],
}

impl Ctr<'_> {
    fn privileged(&self) -> bool {
        self.sc.and_then(|s| s.privileged) == Some(true)
    }

    fn capabilities(&self) -> Option<&Capabilities> {
        self.sc.and_then(|s| s.capabilities.as_ref())
    }

    /// Added capabilities, normalised (upper case, no `CAP_` prefix).
    fn added(&self) -> Vec<String> {
        self.capabilities()
            .and_then(|c| c.add.as_ref())
            .map(|add| add.iter().map(|c| normalise_cap(c)).collect())
            .unwrap_or_default()
    }

    /// `spec.containers[0].securityContext.<field>`
    fn field(&self, field: &str) -> String {
        format!("{}.securityContext.{field}", self.path)
    }
}

fn normalise_cap(cap: &str) -> String {
    let upper = cap.trim().to_ascii_uppercase();
    upper
        .strip_prefix("CAP_")
        .map(str::to_owned)
        .unwrap_or(upper)
}

/// A cell under construction, with the flags it raises.
struct Out {
    value: String,
    field: String,
    origin: SettingOrigin,
    risk: Risk,
    why: &'static str,
    flags: Vec<RiskFlag>,
}

impl Out {
    fn new(
        value: impl Into<String>,
        field: impl Into<String>,
        origin: SettingOrigin,
        risk: Risk,
        why: &'static str,
    ) -> Out {
        Out {
            value: value.into(),
            field: field.into(),
            origin,
            risk,
            why,
            flags: Vec::new(),
        }
    }

    fn flag(mut self, flag: RiskFlag) -> Out {
        self.flags.push(flag);
        self
    }

    fn flag_if(self, cond: bool, flag: RiskFlag) -> Out {
        if cond { self.flag(flag) } else { self }
    }
}

/// `path: value`, or `path: not set`.
fn shown<T: Display>(path: &str, value: Option<T>) -> String {
    match value {
        Some(v) => format!("{path}: {v}"),
        None => format!("{path}: not set"),
    }
}

fn set_on(origin: SettingOrigin) -> &'static str {
    match origin {
        SettingOrigin::Container => "set on the container",
        SettingOrigin::Pod => "set on the pod",
        SettingOrigin::Annotation => "annotation",
        SettingOrigin::Default => "default",
    }
}

/// The container value if set, else the pod value, with where it came from.
fn pick<T>(container: Option<T>, pod: Option<T>) -> (Option<T>, SettingOrigin) {
    match (container, pod) {
        (Some(c), _) => (Some(c), SettingOrigin::Container),
        (None, Some(p)) => (Some(p), SettingOrigin::Pod),
        (None, None) => (None, SettingOrigin::Default),
    }
}

fn join<I: IntoIterator<Item = S>, S: AsRef<str>>(items: I) -> String {
    items
        .into_iter()
        .map(|s| s.as_ref().to_owned())
        .collect::<Vec<_>>()
        .join(", ")
}

fn plural(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        one.to_owned()
    } else {
        many.to_owned()
    }
}

fn view(pod: &Pod<'_>, c: &Ctr<'_>) -> ContainerView {
    let mut flags = Vec::new();
    let cells = Control::ALL
        .into_iter()
        .map(|control| {
            let out = if pod.windows && linux_only(control) {
                not_on_windows()
            } else {
                match control {
                    Control::Privileged => privileged(pod, c),
                    Control::HostNamespaces => host_namespaces(pod),
                    Control::HostNetwork => host_network(pod, c),
                    Control::Volumes => volumes(pod, c),
                    Control::HostPath => host_path(pod, c),
                    Control::FlexVolume => flex_volume(pod, c),
                    Control::FsGroup => fs_group(pod),
                    Control::ReadOnlyRootFs => read_only_root_fs(c),
                    Control::Users => users(pod, c),
                    Control::PrivilegeEscalation => privilege_escalation(c),
                    Control::Capabilities => capabilities(c),
                    Control::SeLinux => selinux(pod, c),
                    Control::ProcMount => proc_mount(pod, c),
                    Control::AppArmor => apparmor(pod, c),
                    Control::Seccomp => seccomp(pod, c),
                    Control::Sysctls => sysctls(pod),
                }
            };
            flags.extend(out.flags);
            Cell {
                control,
                value: out.value,
                field: out.field,
                origin: out.origin,
                risk: out.risk,
                why: out.why.to_owned(),
            }
        })
        .collect();
    flags.sort();
    flags.dedup();
    ContainerView {
        name: c.name.to_owned(),
        kind: c.kind,
        image: c.image.to_owned(),
        cells,
        flags,
    }
}

/// Controls that Windows nodes ignore.
fn linux_only(control: Control) -> bool {
    matches!(
        control,
        Control::FsGroup
            | Control::ReadOnlyRootFs
            | Control::PrivilegeEscalation
            | Control::Capabilities
            | Control::SeLinux
            | Control::ProcMount
            | Control::AppArmor
            | Control::Seccomp
            | Control::Sysctls
    )
}

fn not_on_windows() -> Out {
    Out::new(
        "does not apply: Windows pod",
        "spec.os.name: windows",
        SettingOrigin::Pod,
        Risk::Safe,
        "Windows nodes ignore Linux security settings; Windows pods are confined by HostProcess and the user they run as.",
    )
}

const WHY_PRIVILEGED: &str = "A privileged container has every capability and the host's devices, so taking it over means taking over the node.";

fn privileged(pod: &Pod<'_>, c: &Ctr<'_>) -> Out {
    if pod.windows {
        let (host_process, origin) = pick(
            c.sc.and_then(|s| s.windows_options.as_ref())
                .and_then(|w| w.host_process),
            pod.sc
                .and_then(|s| s.windows_options.as_ref())
                .and_then(|w| w.host_process),
        );
        let path = match origin {
            SettingOrigin::Pod => "spec.securityContext.windowsOptions.hostProcess".to_owned(),
            _ => c.field("windowsOptions.hostProcess"),
        };
        return if host_process == Some(true) {
            Out::new(
                format!(
                    "Windows HostProcess container: runs on the host with the host's rights ({})",
                    set_on(origin)
                ),
                shown(&path, host_process),
                origin,
                Risk::Dangerous,
                WHY_PRIVILEGED,
            )
            .flag(RiskFlag::Privileged)
        } else {
            Out::new(
                "not privileged (no HostProcess)",
                shown(&path, host_process),
                origin,
                Risk::Safe,
                WHY_PRIVILEGED,
            )
        };
    }
    let set = c.sc.and_then(|s| s.privileged);
    let field = shown(&c.field("privileged"), set);
    match set {
        Some(true) => Out::new(
            "privileged: full access to the host's devices and kernel",
            field,
            SettingOrigin::Container,
            Risk::Dangerous,
            WHY_PRIVILEGED,
        )
        .flag(RiskFlag::Privileged),
        Some(false) => Out::new(
            "not privileged",
            field,
            SettingOrigin::Container,
            Risk::Safe,
            WHY_PRIVILEGED,
        ),
        None => Out::new(
            "not privileged",
            field,
            SettingOrigin::Default,
            Risk::Safe,
            WHY_PRIVILEGED,
        ),
    }
}

fn host_namespaces(pod: &Pod<'_>) -> Out {
    const WHY: &str = "Sharing the host's process namespace lets the container see and signal every process on the node and read their environment; sharing IPC exposes the node's shared memory.";
    let pid = pod.spec.host_pid;
    let ipc = pod.spec.host_ipc;
    let field = format!(
        "{}; {}",
        shown("spec.hostPID", pid),
        shown("spec.hostIPC", ipc)
    );
    let origin = if pid.is_some() || ipc.is_some() {
        SettingOrigin::Pod
    } else {
        SettingOrigin::Default
    };
    let (value, risk) = match (pid == Some(true), ipc == Some(true)) {
        (true, true) => (
            "shares the host's process and IPC namespaces (hostPID, hostIPC)",
            Risk::Dangerous,
        ),
        (true, false) => (
            "shares the host's process namespace (hostPID)",
            Risk::Dangerous,
        ),
        (false, true) => ("shares the host's IPC namespace (hostIPC)", Risk::Risky),
        (false, false) => ("own process and IPC namespaces", Risk::Safe),
    };
    Out::new(value, field, origin, risk, WHY).flag_if(risk != Risk::Safe, RiskFlag::HostNamespaces)
}

fn host_network(pod: &Pod<'_>, c: &Ctr<'_>) -> Out {
    const WHY: &str = "On the host network a container can reach services bound to the node's localhost and see or spoof the node's traffic; a host port exposes it on the node's address.";
    let host_net = pod.spec.host_network;
    let explicit: Vec<(usize, i32)> = c
        .ports
        .iter()
        .enumerate()
        .filter_map(|(i, p)| p.host_port.filter(|&h| h > 0).map(|h| (i, h)))
        .collect();
    let mut fields = vec![shown("spec.hostNetwork", host_net)];
    fields.extend(
        explicit
            .iter()
            .map(|(i, h)| format!("{}.ports[{i}].hostPort: {h}", c.path)),
    );
    let field = fields.join("; ");
    if host_net == Some(true) {
        // On the host network every container port is a port of the node.
        let mut ports: Vec<i32> = c
            .ports
            .iter()
            .map(|p| p.host_port.filter(|&h| h > 0).unwrap_or(p.container_port))
            .collect();
        ports.dedup();
        let value = if ports.is_empty() {
            "uses the host network".to_owned()
        } else {
            format!(
                "uses the host network, binds host {} {}",
                plural(ports.len(), "port", "ports"),
                join(ports.iter().map(i32::to_string))
            )
        };
        return Out::new(value, field, SettingOrigin::Pod, Risk::Dangerous, WHY)
            .flag(RiskFlag::HostNetwork)
            .flag_if(!explicit.is_empty(), RiskFlag::HostPorts);
    }
    if !explicit.is_empty() {
        return Out::new(
            format!(
                "binds host {} {}",
                plural(explicit.len(), "port", "ports"),
                join(explicit.iter().map(|(_, h)| h.to_string()))
            ),
            field,
            SettingOrigin::Container,
            Risk::Risky,
            WHY,
        )
        .flag(RiskFlag::HostPorts);
    }
    let origin = if host_net.is_some() {
        SettingOrigin::Pod
    } else {
        SettingOrigin::Default
    };
    Out::new(
        "own network namespace, no host ports",
        field,
        origin,
        Risk::Safe,
        WHY,
    )
}

/// The volume type as spelt in YAML; a volume without a source is an emptyDir
/// (the API server's default).
pub fn volume_type(v: &Volume) -> &'static str {
    let types: [(bool, &'static str); 30] = [
        (v.aws_elastic_block_store.is_some(), "awsElasticBlockStore"),
        (v.azure_disk.is_some(), "azureDisk"),
        (v.azure_file.is_some(), "azureFile"),
        (v.cephfs.is_some(), "cephfs"),
        (v.cinder.is_some(), "cinder"),
        (v.config_map.is_some(), "configMap"),
        (v.csi.is_some(), "csi"),
        (v.downward_api.is_some(), "downwardAPI"),
        (v.empty_dir.is_some(), "emptyDir"),
        (v.ephemeral.is_some(), "ephemeral"),
        (v.fc.is_some(), "fc"),
        (v.flex_volume.is_some(), "flexVolume"),
        (v.flocker.is_some(), "flocker"),
        (v.gce_persistent_disk.is_some(), "gcePersistentDisk"),
        (v.git_repo.is_some(), "gitRepo"),
        (v.glusterfs.is_some(), "glusterfs"),
        (v.host_path.is_some(), "hostPath"),
        (v.image.is_some(), "image"),
        (v.iscsi.is_some(), "iscsi"),
        (v.nfs.is_some(), "nfs"),
        (v.persistent_volume_claim.is_some(), "persistentVolumeClaim"),
        (v.photon_persistent_disk.is_some(), "photonPersistentDisk"),
        (v.portworx_volume.is_some(), "portworxVolume"),
        (v.projected.is_some(), "projected"),
        (v.quobyte.is_some(), "quobyte"),
        (v.rbd.is_some(), "rbd"),
        (v.scale_io.is_some(), "scaleIO"),
        (v.secret.is_some(), "secret"),
        (v.storageos.is_some(), "storageos"),
        (v.vsphere_volume.is_some(), "vsphereVolume"),
    ];
    types
        .into_iter()
        .find(|(set, _)| *set)
        .map_or("emptyDir", |(_, t)| t)
}

fn volumes(pod: &Pod<'_>, c: &Ctr<'_>) -> Out {
    const WHY: &str = "Volume types other than configMap, secret, emptyDir, projected, downwardAPI, persistentVolumeClaim, csi, ephemeral and image reach node or network storage outside the pod's control.";
    if pod.volumes.is_empty() {
        return Out::new(
            "no volumes",
            "spec.volumes: not set",
            SettingOrigin::Default,
            Risk::Safe,
            WHY,
        );
    }
    let mut types: Vec<&str> = pod.volumes.iter().map(volume_type).collect();
    types.sort_unstable();
    types.dedup();
    let mounts: Vec<String> = c
        .mounts
        .iter()
        .map(|m| {
            let t = pod
                .volumes
                .iter()
                .find(|v| v.name == m.name)
                .map_or("missing volume", volume_type);
            format!("{} ({t}) at {}", m.name, m.mount_path)
        })
        .collect();
    let mounted = if mounts.is_empty() {
        "mounts none of them".to_owned()
    } else {
        format!("mounts {}", join(&mounts))
    };
    let value = format!("pod volumes: {}; {mounted}", join(&types));
    let field = format!(
        "spec.volumes: {}",
        join(
            pod.volumes
                .iter()
                .map(|v| format!("{} ({})", v.name, volume_type(v)))
        )
    );
    let unrestricted = types.iter().any(|t| !RESTRICTED_VOLUME_TYPES.contains(t));
    let risk = if unrestricted {
        Risk::Risky
    } else {
        Risk::Safe
    };
    Out::new(value, field, SettingOrigin::Pod, risk, WHY)
}

/// Host paths that expose the node even when mounted read-only: the root, its
/// configuration, credentials, kernel interfaces and container runtime sockets.
fn sensitive_host_path(path: &str) -> bool {
    const SENSITIVE: [&str; 14] = [
        "/etc",
        "/root",
        "/home",
        "/proc",
        "/sys",
        "/dev",
        "/boot",
        "/run",
        "/var/run",
        "/var/lib/kubelet",
        "/var/lib/docker",
        "/var/lib/containerd",
        "/etc/kubernetes",
        "/var/log/pods",
    ];
    const INSIDE: [&str; 9] = [
        "/proc/",
        "/sys/",
        "/dev/",
        "/run/",
        "/var/run/",
        "/var/lib/kubelet/",
        "/etc/kubernetes/",
        "/root/",
        "/var/lib/docker/",
    ];
    let p = path.trim_end_matches('/');
    if p.is_empty() || p.ends_with(".sock") || p.ends_with(".socket") {
        return true;
    }
    // The path itself or one of its parents is sensitive (`/var` holds `/var/run`).
    SENSITIVE
        .iter()
        .any(|s| *s == p || s.starts_with(&format!("{p}/")))
        || INSIDE.iter().any(|s| path.starts_with(s))
}

fn host_path(pod: &Pod<'_>, c: &Ctr<'_>) -> Out {
    const WHY: &str = "A writable host path lets the container change the node's files and escape through them; even read-only, the root, /etc or a container runtime socket expose the node.";
    let host: Vec<(usize, &Volume, &str)> = pod
        .volumes
        .iter()
        .enumerate()
        .filter_map(|(i, v)| v.host_path.as_ref().map(|h| (i, v, h.path.as_str())))
        .collect();
    if host.is_empty() {
        return Out::new(
            "no host paths",
            "spec.volumes: no hostPath",
            SettingOrigin::Default,
            Risk::Safe,
            WHY,
        );
    }
    struct Mount {
        path: String,
        read_only: bool,
        field: String,
    }
    let mounts: Vec<Mount> = c
        .mounts
        .iter()
        .enumerate()
        .filter_map(|(mi, m)| {
            let (vi, _, path) = host.iter().find(|(_, v, _)| v.name == m.name)?;
            let sub = m.sub_path.as_deref().filter(|s| !s.is_empty());
            let full = match sub {
                Some(sub) => format!(
                    "{}/{}",
                    path.trim_end_matches('/'),
                    sub.trim_start_matches('/')
                ),
                None => (*path).to_owned(),
            };
            let read_only = m.read_only == Some(true);
            Some(Mount {
                field: format!(
                    "spec.volumes[{vi}].hostPath.path: {path}; {}",
                    shown(
                        &format!("{}.volumeMounts[{mi}].readOnly", c.path),
                        m.read_only
                    )
                ),
                path: full,
                read_only,
            })
        })
        .collect();
    if mounts.is_empty() {
        let paths = join(host.iter().map(|(_, _, p)| *p));
        let field = join(
            host.iter()
                .map(|(i, _, p)| format!("spec.volumes[{i}].hostPath.path: {p}")),
        );
        return Out::new(
            format!(
                "does not mount the pod's hostPath {} ({paths})",
                plural(host.len(), "volume", "volumes")
            ),
            field,
            SettingOrigin::Pod,
            Risk::Safe,
            WHY,
        );
    }
    let rw = |m: &Mount| if m.read_only { "read-only" } else { "writable" };
    let value = match mounts.as_slice() {
        [m] => format!("mounts {} from the host, {}", m.path, rw(m)),
        _ => format!(
            "mounts from the host: {}",
            join(mounts.iter().map(|m| format!("{} ({})", m.path, rw(m))))
        ),
    };
    let dangerous = mounts
        .iter()
        .any(|m| !m.read_only || sensitive_host_path(&m.path));
    let risk = if dangerous {
        Risk::Dangerous
    } else {
        Risk::Risky
    };
    let field = mounts
        .iter()
        .map(|m| m.field.as_str())
        .collect::<Vec<_>>()
        .join("; ");
    Out::new(value, field, SettingOrigin::Container, risk, WHY).flag(RiskFlag::HostPath)
}

fn flex_volume(pod: &Pod<'_>, c: &Ctr<'_>) -> Out {
    const WHY: &str = "A FlexVolume driver is a program run as root on the node for every mount; only trusted drivers should be allowed.";
    let flex: Vec<(usize, &Volume, &str)> = pod
        .volumes
        .iter()
        .enumerate()
        .filter_map(|(i, v)| v.flex_volume.as_ref().map(|f| (i, v, f.driver.as_str())))
        .collect();
    if flex.is_empty() {
        return Out::new(
            "no FlexVolume drivers",
            "spec.volumes: no flexVolume",
            SettingOrigin::Default,
            Risk::Safe,
            WHY,
        );
    }
    let mut drivers: Vec<&str> = flex.iter().map(|(_, _, d)| *d).collect();
    drivers.sort_unstable();
    drivers.dedup();
    let mounted = flex
        .iter()
        .any(|(_, v, _)| c.mounts.iter().any(|m| m.name == v.name));
    let value = format!(
        "uses FlexVolume {} {}{}",
        plural(drivers.len(), "driver", "drivers"),
        join(&drivers),
        if mounted {
            ""
        } else {
            " (not mounted by this container)"
        }
    );
    let field = join(
        flex.iter()
            .map(|(i, _, d)| format!("spec.volumes[{i}].flexVolume.driver: {d}")),
    );
    Out::new(value, field, SettingOrigin::Pod, Risk::Risky, WHY).flag(RiskFlag::FlexVolume)
}

fn fs_group(pod: &Pod<'_>) -> Out {
    const WHY: &str = "fsGroup makes the pod's volumes owned by that group so that non-root processes can write them; group 0 hands them to root's group.";
    let fs_group = pod.sc.and_then(|s| s.fs_group);
    let field = shown("spec.securityContext.fsGroup", fs_group);
    match fs_group {
        Some(0) => Out::new(
            "volumes owned by group 0, root's group (fsGroup, pod)",
            field,
            SettingOrigin::Pod,
            Risk::Risky,
            WHY,
        ),
        Some(g) => Out::new(
            format!("volumes owned by group {g} (fsGroup, pod)"),
            field,
            SettingOrigin::Pod,
            Risk::Safe,
            WHY,
        ),
        None => Out::new("not set", field, SettingOrigin::Default, Risk::Safe, WHY),
    }
}

fn read_only_root_fs(c: &Ctr<'_>) -> Out {
    const WHY: &str = "A writable root filesystem lets an intruder drop tools and change the container's binaries and configuration.";
    let set = c.sc.and_then(|s| s.read_only_root_filesystem);
    let field = shown(&c.field("readOnlyRootFilesystem"), set);
    match set {
        Some(true) => Out::new(
            "root filesystem is read-only",
            field,
            SettingOrigin::Container,
            Risk::Safe,
            WHY,
        ),
        Some(false) => Out::new(
            "root filesystem is writable (readOnlyRootFilesystem: false)",
            field,
            SettingOrigin::Container,
            Risk::Risky,
            WHY,
        )
        .flag(RiskFlag::WritableRootFs),
        None => Out::new(
            "root filesystem is writable (readOnlyRootFilesystem not set)",
            field,
            SettingOrigin::Default,
            Risk::Risky,
            WHY,
        )
        .flag(RiskFlag::WritableRootFs),
    }
}

fn users(pod: &Pod<'_>, c: &Ctr<'_>) -> Out {
    const WHY: &str = "Root in a container is root on the node's kernel: any escape, host mount or added capability then acts with full rights.";
    if pod.windows {
        return windows_user(pod, c);
    }
    let csc = c.sc;
    let psc = pod.sc;
    let (uid, uid_origin) = pick(
        csc.and_then(|s| s.run_as_user),
        psc.and_then(|s| s.run_as_user),
    );
    let (non_root, nr_origin) = pick(
        csc.and_then(|s| s.run_as_non_root),
        psc.and_then(|s| s.run_as_non_root),
    );
    let (gid, gid_origin) = pick(
        csc.and_then(|s| s.run_as_group),
        psc.and_then(|s| s.run_as_group),
    );
    let supplemental = psc
        .and_then(|s| s.supplemental_groups.as_deref())
        .unwrap_or_default();

    let path_of = |origin: SettingOrigin, field: &str| match origin {
        SettingOrigin::Pod => format!("spec.securityContext.{field}"),
        _ => c.field(field),
    };
    let mut fields = Vec::new();
    if let Some(u) = uid {
        fields.push(format!("{}: {u}", path_of(uid_origin, "runAsUser")));
    }
    if let Some(n) = non_root {
        fields.push(format!("{}: {n}", path_of(nr_origin, "runAsNonRoot")));
    }
    if let Some(g) = gid {
        fields.push(format!("{}: {g}", path_of(gid_origin, "runAsGroup")));
    }
    if !supplemental.is_empty() {
        fields.push(format!(
            "spec.securityContext.supplementalGroups: [{}]",
            join(supplemental.iter().map(i64::to_string))
        ));
    }
    if fields.is_empty() {
        fields.push(format!(
            "{}; runAsNonRoot: not set",
            shown(&c.field("runAsUser"), None::<i64>)
        ));
    }
    let field = fields.join("; ");

    let mut groups = String::new();
    if let Some(g) = gid {
        groups.push_str(&format!(
            ", group {g}{}",
            if g == 0 { " (root)" } else { "" }
        ));
    }
    if !supplemental.is_empty() {
        groups.push_str(&format!(
            ", supplemental {} {}",
            plural(supplemental.len(), "group", "groups"),
            join(supplemental.iter().map(i64::to_string))
        ));
    }
    let userns = if pod.user_namespace {
        " inside a user namespace (hostUsers: false), so not root on the node"
    } else {
        ""
    };
    let root_risk = if pod.user_namespace {
        Risk::Safe
    } else {
        Risk::Risky
    };
    let group_root = gid == Some(0) || supplemental.contains(&0);

    let (value, origin, risk, as_root) = match (uid, non_root) {
        (Some(0), Some(true)) => (
            format!("will not start: runAsUser 0 contradicts runAsNonRoot{groups}"),
            uid_origin,
            Risk::Safe,
            false,
        ),
        (Some(0), _) => (
            format!(
                "runs as root (UID 0, {}){groups}{userns}",
                set_on(uid_origin)
            ),
            uid_origin,
            root_risk,
            true,
        ),
        (Some(u), _) => (
            format!("runs as UID {u} ({}){groups}", set_on(uid_origin)),
            uid_origin,
            if group_root { Risk::Risky } else { Risk::Safe },
            false,
        ),
        (None, Some(true)) => (
            format!(
                "runs as a non-root user (runAsNonRoot, {}; the image picks the UID){groups}",
                set_on(nr_origin)
            ),
            nr_origin,
            if group_root { Risk::Risky } else { Risk::Safe },
            false,
        ),
        (None, Some(false)) => (
            format!(
                "may run as root (runAsNonRoot: false and no runAsUser: the image decides){groups}{userns}"
            ),
            nr_origin,
            root_risk,
            true,
        ),
        (None, None) => (
            format!(
                "may run as root (no runAsUser or runAsNonRoot: the image decides){groups}{userns}"
            ),
            SettingOrigin::Default,
            root_risk,
            true,
        ),
    };
    Out::new(value, field, origin, risk, WHY)
        .flag_if(as_root && !pod.user_namespace, RiskFlag::RunsAsRoot)
}

fn windows_user(pod: &Pod<'_>, c: &Ctr<'_>) -> Out {
    const WHY: &str =
        "ContainerAdministrator is the Windows equivalent of root inside the container.";
    let (name, origin) = pick(
        c.sc.and_then(|s| s.windows_options.as_ref())
            .and_then(|w| w.run_as_user_name.as_deref()),
        pod.sc
            .and_then(|s| s.windows_options.as_ref())
            .and_then(|w| w.run_as_user_name.as_deref()),
    );
    let path = match origin {
        SettingOrigin::Pod => "spec.securityContext.windowsOptions.runAsUserName".to_owned(),
        _ => c.field("windowsOptions.runAsUserName"),
    };
    match name {
        Some(n) if n.to_ascii_lowercase().contains("administrator") => Out::new(
            format!(
                "runs as {n}, an administrator (Windows, {})",
                set_on(origin)
            ),
            shown(&path, name),
            origin,
            Risk::Risky,
            WHY,
        )
        .flag(RiskFlag::RunsAsRoot),
        Some(n) => Out::new(
            format!("runs as {n} (Windows, {})", set_on(origin)),
            shown(&path, name),
            origin,
            Risk::Safe,
            WHY,
        ),
        None => Out::new(
            "Windows user chosen by the image (no runAsUserName)",
            shown(&path, name),
            origin,
            Risk::Risky,
            WHY,
        ),
    }
}

fn privilege_escalation(c: &Ctr<'_>) -> Out {
    const WHY: &str = "When privilege escalation is allowed, setuid binaries and file capabilities can give a process more rights than its parent (no_new_privs is off).";
    let set = c.sc.and_then(|s| s.allow_privilege_escalation);
    if c.privileged() {
        return Out::new(
            "may gain privileges (always, for a privileged container)",
            shown(&c.field("privileged"), Some(true)),
            SettingOrigin::Container,
            Risk::Risky,
            WHY,
        )
        .flag(RiskFlag::PrivilegeEscalation);
    }
    if c.added().iter().any(|cap| cap == "SYS_ADMIN") {
        return Out::new(
            "may gain privileges (always, with CAP_SYS_ADMIN)",
            format!("{}: SYS_ADMIN", c.field("capabilities.add")),
            SettingOrigin::Container,
            Risk::Risky,
            WHY,
        )
        .flag(RiskFlag::PrivilegeEscalation);
    }
    let field = shown(&c.field("allowPrivilegeEscalation"), set);
    match set {
        Some(false) => Out::new(
            "cannot gain more privileges (allowPrivilegeEscalation: false)",
            field,
            SettingOrigin::Container,
            Risk::Safe,
            WHY,
        ),
        Some(true) => Out::new(
            "may gain privileges (allowPrivilegeEscalation: true)",
            field,
            SettingOrigin::Container,
            Risk::Risky,
            WHY,
        )
        .flag(RiskFlag::PrivilegeEscalation),
        None => Out::new(
            "may gain privileges (allowPrivilegeEscalation not set, defaults to true)",
            field,
            SettingOrigin::Default,
            Risk::Risky,
            WHY,
        )
        .flag(RiskFlag::PrivilegeEscalation),
    }
}

fn capabilities(c: &Ctr<'_>) -> Out {
    const WHY: &str = "Capabilities split root's powers: the runtime's defaults include NET_RAW and others few applications need, and SYS_ADMIN or NET_ADMIN come close to full root.";
    if c.privileged() {
        return Out::new(
            "all capabilities (privileged container)",
            shown(&c.field("privileged"), Some(true)),
            SettingOrigin::Container,
            Risk::Dangerous,
            WHY,
        );
    }
    let caps = c.capabilities();
    let add: Vec<&str> = caps
        .and_then(|c| c.add.as_deref())
        .unwrap_or_default()
        .iter()
        .map(String::as_str)
        .collect();
    let drop: Vec<&str> = caps
        .and_then(|c| c.drop.as_deref())
        .unwrap_or_default()
        .iter()
        .map(String::as_str)
        .collect();
    let drops_all = drop.iter().any(|d| normalise_cap(d) == "ALL");
    let value = match (drops_all, add.is_empty(), drop.is_empty()) {
        (true, true, _) => "drops ALL".to_owned(),
        (true, false, _) => format!("drops ALL, adds {}", join(&add)),
        (false, false, true) => {
            format!("adds {}; drops nothing (runtime defaults kept)", join(&add))
        }
        (false, false, false) => format!(
            "adds {}; drops {} (other runtime defaults kept)",
            join(&add),
            join(&drop)
        ),
        (false, true, false) => format!("drops {} (other runtime defaults kept)", join(&drop)),
        (false, true, true) => "runtime defaults (adds nothing, drops nothing)".to_owned(),
    };
    let extra: Vec<String> = c
        .added()
        .into_iter()
        .filter(|cap| cap != "NET_BIND_SERVICE")
        .collect();
    let risk = if extra
        .iter()
        .any(|cap| DANGEROUS_CAPABILITIES.contains(&cap.as_str()))
    {
        Risk::Dangerous
    } else if !drops_all || !extra.is_empty() {
        Risk::Risky
    } else {
        Risk::Safe
    };
    let listed = |list: Option<&Vec<String>>| list.map(|l| format!("[{}]", join(l)));
    let field = match caps {
        None => shown(&c.field("capabilities"), None::<&str>),
        Some(caps) => format!(
            "{}; {}",
            shown(&c.field("capabilities.add"), listed(caps.add.as_ref())),
            shown(&c.field("capabilities.drop"), listed(caps.drop.as_ref()))
        ),
    };
    let origin = if add.is_empty() && drop.is_empty() {
        SettingOrigin::Default
    } else {
        SettingOrigin::Container
    };
    Out::new(value, field, origin, risk, WHY)
        .flag_if(!extra.is_empty(), RiskFlag::AddedCapabilities)
}

fn selinux(pod: &Pod<'_>, c: &Ctr<'_>) -> Out {
    const WHY: &str = "SELinux labels confine what the container's processes may touch on the node; a custom type such as spc_t turns that confinement off.";
    let (opts, origin) = pick(
        c.sc.and_then(|s| s.se_linux_options.as_ref()),
        pod.sc.and_then(|s| s.se_linux_options.as_ref()),
    );
    let prefix = match origin {
        SettingOrigin::Pod => "spec.securityContext.seLinuxOptions".to_owned(),
        _ => c.field("seLinuxOptions"),
    };
    let Some(o) = opts else {
        return Out::new(
            "runtime default label (container_t where SELinux is on)",
            format!("{prefix}: not set"),
            SettingOrigin::Default,
            Risk::Safe,
            WHY,
        );
    };
    let nonempty = |s: &Option<String>| s.as_deref().filter(|s| !s.is_empty()).map(str::to_owned);
    let (ty, user, role, level) = (
        nonempty(&o.type_),
        nonempty(&o.user),
        nonempty(&o.role),
        nonempty(&o.level),
    );
    let parts: Vec<String> = [
        ("type", &ty),
        ("user", &user),
        ("role", &role),
        ("level", &level),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k} {v}")))
    .collect();
    let field = format!(
        "{prefix}: {}",
        if parts.is_empty() {
            "{}".to_owned()
        } else {
            join(&parts)
        }
    );
    let custom_type = ty.as_deref().filter(|t| !SELINUX_TYPES.contains(t));
    if custom_type.is_some() || user.is_some() || role.is_some() {
        let risk = if matches!(custom_type, Some("spc_t" | "unconfined_t")) {
            Risk::Dangerous
        } else {
            Risk::Risky
        };
        return Out::new(
            format!("custom SELinux {} ({})", join(&parts), set_on(origin)),
            field,
            origin,
            risk,
            WHY,
        )
        .flag(RiskFlag::CustomSeLinux);
    }
    let value = if parts.is_empty() {
        format!("runtime default label ({})", set_on(origin))
    } else {
        format!("SELinux {} ({})", join(&parts), set_on(origin))
    };
    Out::new(value, field, origin, Risk::Safe, WHY)
}

fn proc_mount(pod: &Pod<'_>, c: &Ctr<'_>) -> Out {
    const WHY: &str = "The default /proc hides kernel interfaces such as /proc/sys and /proc/sysrq-trigger; unmasked, the container can reach them.";
    let set = c.sc.and_then(|s| s.proc_mount.as_deref());
    let field = shown(&c.field("procMount"), set);
    match set {
        Some("Unmasked") => Out::new(
            if pod.user_namespace {
                "/proc unmasked (inside a user namespace)"
            } else {
                "/proc unmasked"
            },
            field,
            SettingOrigin::Container,
            if pod.user_namespace {
                Risk::Risky
            } else {
                Risk::Dangerous
            },
            WHY,
        )
        .flag(RiskFlag::UnmaskedProc),
        Some("Default") => Out::new(
            "/proc masked (Default)",
            field,
            SettingOrigin::Container,
            Risk::Safe,
            WHY,
        ),
        Some(other) => Out::new(
            format!("/proc mount type {other}"),
            field,
            SettingOrigin::Container,
            Risk::Risky,
            WHY,
        ),
        None => Out::new(
            "/proc masked (Default)",
            field,
            SettingOrigin::Default,
            Risk::Safe,
            WHY,
        ),
    }
}

/// A profile as the fields or the legacy annotations name it.
enum Profile<'a> {
    RuntimeDefault,
    Localhost(&'a str),
    Unconfined,
    Other(&'a str),
}

fn profile_from_field<'a>(kind: &'a str, localhost: Option<&'a str>) -> Profile<'a> {
    match kind {
        "RuntimeDefault" => Profile::RuntimeDefault,
        "Localhost" => Profile::Localhost(
            localhost
                .filter(|l| !l.is_empty())
                .unwrap_or("(no localhostProfile given)"),
        ),
        "Unconfined" => Profile::Unconfined,
        other => Profile::Other(other),
    }
}

fn profile_from_annotation(value: &str) -> Profile<'_> {
    match value {
        "runtime/default" | "docker/default" | "" => Profile::RuntimeDefault,
        "unconfined" => Profile::Unconfined,
        v => v
            .strip_prefix("localhost/")
            .map_or(Profile::Other(v), Profile::Localhost),
    }
}

fn apparmor(pod: &Pod<'_>, c: &Ctr<'_>) -> Out {
    const WHY: &str = "AppArmor limits which files, mounts and capabilities the container's processes may use; unconfined removes that layer.";
    fn field_profile(p: Option<&AppArmorProfile>) -> Option<Profile<'_>> {
        p.map(|p| profile_from_field(&p.type_, p.localhost_profile.as_deref()))
    }
    let annotation_key = format!("{APPARMOR_ANNOTATION}{}", c.name);
    let found = if let Some(p) = field_profile(c.sc.and_then(|s| s.app_armor_profile.as_ref())) {
        Some((p, SettingOrigin::Container, c.field("appArmorProfile.type")))
    } else if let Some(p) = field_profile(pod.sc.and_then(|s| s.app_armor_profile.as_ref())) {
        Some((
            p,
            SettingOrigin::Pod,
            "spec.securityContext.appArmorProfile.type".to_owned(),
        ))
    } else {
        pod.annotations.get(&annotation_key).map(|v| {
            (
                profile_from_annotation(v),
                SettingOrigin::Annotation,
                format!("metadata.annotations[{annotation_key}]"),
            )
        })
    };
    let Some((profile, origin, path)) = found else {
        if c.privileged() {
            return Out::new(
                "no AppArmor confinement (privileged containers run unconfined)",
                shown(&c.field("appArmorProfile"), None::<&str>),
                SettingOrigin::Default,
                Risk::Risky,
                WHY,
            );
        }
        return Out::new(
            "AppArmor runtime default (not set; applies where the node runs AppArmor)",
            shown(&c.field("appArmorProfile"), None::<&str>),
            SettingOrigin::Default,
            Risk::Safe,
            WHY,
        );
    };
    let raw = match origin {
        SettingOrigin::Annotation => pod
            .annotations
            .get(&annotation_key)
            .cloned()
            .unwrap_or_default(),
        SettingOrigin::Pod => pod
            .sc
            .and_then(|s| s.app_armor_profile.as_ref())
            .map(|p| p.type_.clone())
            .unwrap_or_default(),
        _ => {
            c.sc.and_then(|s| s.app_armor_profile.as_ref())
                .map(|p| p.type_.clone())
                .unwrap_or_default()
        }
    };
    let field = format!("{path}: {raw}");
    let on = set_on(origin);
    match profile {
        Profile::RuntimeDefault if c.privileged() => Out::new(
            format!(
                "no AppArmor confinement: runtime default ({on}), but privileged containers run unconfined"
            ),
            field,
            origin,
            Risk::Risky,
            WHY,
        ),
        Profile::RuntimeDefault => Out::new(
            format!("AppArmor runtime default ({on})"),
            field,
            origin,
            Risk::Safe,
            WHY,
        ),
        Profile::Localhost(name) => Out::new(
            format!("AppArmor profile {name} from the node ({on})"),
            field,
            origin,
            Risk::Safe,
            WHY,
        ),
        Profile::Unconfined => Out::new(
            format!("AppArmor unconfined ({on})"),
            field,
            origin,
            Risk::Risky,
            WHY,
        )
        .flag(RiskFlag::UnconfinedAppArmor),
        Profile::Other(v) => Out::new(
            format!("unknown AppArmor profile {v:?} ({on})"),
            field,
            origin,
            Risk::Risky,
            WHY,
        ),
    }
}

fn seccomp(pod: &Pod<'_>, c: &Ctr<'_>) -> Out {
    const WHY: &str = "seccomp filters the system calls a container may make; without it every kernel bug reachable by a system call is reachable from the container.";
    let container_key = format!("{SECCOMP_CONTAINER_ANNOTATION}{}", c.name);
    let field_of = |p: &SeccompProfile| match &p.localhost_profile {
        Some(l) => format!("{} (localhostProfile: {l})", p.type_),
        None => p.type_.clone(),
    };
    let found = if let Some(p) = c.sc.and_then(|s| s.seccomp_profile.as_ref()) {
        Some((
            profile_from_field(&p.type_, p.localhost_profile.as_deref()),
            SettingOrigin::Container,
            format!("{}: {}", c.field("seccompProfile.type"), field_of(p)),
        ))
    } else if let Some(p) = pod.sc.and_then(|s| s.seccomp_profile.as_ref()) {
        Some((
            profile_from_field(&p.type_, p.localhost_profile.as_deref()),
            SettingOrigin::Pod,
            format!("spec.securityContext.seccompProfile.type: {}", field_of(p)),
        ))
    } else if let Some(v) = pod.annotations.get(&container_key) {
        Some((
            profile_from_annotation(v),
            SettingOrigin::Annotation,
            format!("metadata.annotations[{container_key}]: {v}"),
        ))
    } else {
        pod.annotations.get(SECCOMP_POD_ANNOTATION).map(|v| {
            (
                profile_from_annotation(v),
                SettingOrigin::Annotation,
                format!("metadata.annotations[{SECCOMP_POD_ANNOTATION}]: {v}"),
            )
        })
    };
    if c.privileged() {
        let field = found.as_ref().map_or_else(
            || shown(&c.field("privileged"), Some(true)),
            |(_, _, f)| f.clone(),
        );
        return Out::new(
            "no seccomp filtering (privileged containers run without a profile)",
            field,
            SettingOrigin::Container,
            Risk::Risky,
            WHY,
        )
        .flag(RiskFlag::NoSeccomp);
    }
    let Some((profile, origin, field)) = found else {
        return Out::new(
            "no seccomp profile (Unconfined by default in Kubernetes)",
            shown(&c.field("seccompProfile"), None::<&str>),
            SettingOrigin::Default,
            Risk::Risky,
            WHY,
        )
        .flag(RiskFlag::NoSeccomp);
    };
    let on = set_on(origin);
    match profile {
        Profile::RuntimeDefault => Out::new(
            format!("seccomp RuntimeDefault ({on})"),
            field,
            origin,
            Risk::Safe,
            WHY,
        ),
        Profile::Localhost(name) => Out::new(
            format!("seccomp profile {name} from the node ({on})"),
            field,
            origin,
            Risk::Safe,
            WHY,
        ),
        Profile::Unconfined => Out::new(
            format!("seccomp Unconfined: every system call allowed ({on})"),
            field,
            origin,
            Risk::Risky,
            WHY,
        )
        .flag(RiskFlag::NoSeccomp),
        Profile::Other(v) => Out::new(
            format!("unknown seccomp profile {v:?} ({on})"),
            field,
            origin,
            Risk::Risky,
            WHY,
        ),
    }
}

fn sysctls(pod: &Pod<'_>) -> Out {
    const WHY: &str = "Safe sysctls are isolated per pod; the others change kernel behaviour for the whole node and must be allowed on the kubelet.";
    let list = pod
        .sc
        .and_then(|s| s.sysctls.as_deref())
        .unwrap_or_default();
    if list.is_empty() {
        return Out::new(
            "no sysctls",
            "spec.securityContext.sysctls: not set",
            SettingOrigin::Default,
            Risk::Safe,
            WHY,
        );
    }
    let unsafe_any = list
        .iter()
        .any(|s| !SAFE_SYSCTLS.contains(&s.name.as_str()));
    let value = format!(
        "sets {}",
        join(list.iter().map(|s| format!(
            "{} ({})",
            s.name,
            if SAFE_SYSCTLS.contains(&s.name.as_str()) {
                "safe"
            } else {
                "unsafe"
            }
        )))
    );
    let field = format!(
        "spec.securityContext.sysctls: {}",
        join(list.iter().map(|s| format!("{}={}", s.name, s.value)))
    );
    let risk = if unsafe_any { Risk::Risky } else { Risk::Safe };
    Out::new(value, field, SettingOrigin::Pod, risk, WHY)
        .flag_if(unsafe_any, RiskFlag::UnsafeSysctls)
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    use super::*;

    /// A pod template from flow-style YAML: `{metadata: {...}, spec: {...}}`.
    fn template(yaml: &str) -> PodTemplate {
        #[derive(Deserialize)]
        struct T {
            #[serde(default)]
            metadata: ObjectMeta,
            spec: PodSpec,
        }
        let t: T =
            serde_yaml_ng::from_str(yaml).unwrap_or_else(|e| panic!("test YAML {yaml}: {e}"));
        PodTemplate {
            metadata: t.metadata,
            spec: t.spec,
        }
    }

    /// A pod with one container `app` whose securityContext is `sc`, and `pod` spliced into the spec.
    fn pod(pod: &str, sc: &str) -> String {
        format!(
            "{{spec: {{{pod} containers: [{{name: app, image: nginx, securityContext: {{{sc}}}}}]}}}}"
        )
    }

    use Risk::{Dangerous, Risky, Safe};
    use SettingOrigin::{Annotation, Container, Default, Pod as P};

    struct Case {
        yaml: String,
        control: Control,
        value: &'static str,
        risk: Risk,
        origin: SettingOrigin,
    }

    fn case(
        yaml: String,
        control: Control,
        value: &'static str,
        risk: Risk,
        origin: SettingOrigin,
    ) -> Case {
        Case {
            yaml,
            control,
            value,
            risk,
            origin,
        }
    }

    #[test]
    fn cells_say_the_effective_value() {
        use Control as C;
        let hostpath = |path: &str, ro: &str| {
            format!(
                "{{spec: {{volumes: [{{name: h, hostPath: {{path: {path}}}}}], containers: [{{name: app, volumeMounts: [{{name: h, mountPath: /h{ro}}}]}}]}}}}"
            )
        };
        let cases = [
            case(pod("", "privileged: true"), C::Privileged, "privileged: full access to the host's devices and kernel", Dangerous, Container),
            case(pod("", "privileged: false"), C::Privileged, "not privileged", Safe, Container),
            case(pod("", ""), C::Privileged, "not privileged", Safe, Default),
            case(pod("hostPID: true,", ""), C::HostNamespaces, "shares the host's process namespace (hostPID)", Dangerous, P),
            case(pod("hostIPC: true,", ""), C::HostNamespaces, "shares the host's IPC namespace (hostIPC)", Risky, P),
            case(pod("hostPID: true, hostIPC: true,", ""), C::HostNamespaces, "shares the host's process and IPC namespaces (hostPID, hostIPC)", Dangerous, P),
            case(pod("hostPID: false,", ""), C::HostNamespaces, "own process and IPC namespaces", Safe, P),
            case("{spec: {hostNetwork: true, containers: [{name: app, ports: [{containerPort: 9100}]}]}}".into(), C::HostNetwork, "uses the host network, binds host port 9100", Dangerous, P),
            case("{spec: {containers: [{name: app, ports: [{containerPort: 80, hostPort: 80}, {containerPort: 443, hostPort: 443}, {containerPort: 8080}]}]}}".into(), C::HostNetwork, "binds host ports 80, 443", Risky, Container),
            case(pod("", ""), C::HostNetwork, "own network namespace, no host ports", Safe, Default),
            case(pod("securityContext: {runAsUser: 0},", ""), C::Users, "runs as root (UID 0, set on the pod)", Risky, P),
            case(pod("securityContext: {runAsUser: 0},", "runAsUser: 1000"), C::Users, "runs as UID 1000 (set on the container)", Safe, Container),
            case(pod("securityContext: {runAsUser: 1000, runAsGroup: 0},", ""), C::Users, "runs as UID 1000 (set on the pod), group 0 (root)", Risky, P),
            case(pod("", ""), C::Users, "may run as root (no runAsUser or runAsNonRoot: the image decides)", Risky, Default),
            case(pod("securityContext: {runAsNonRoot: true},", ""), C::Users, "runs as a non-root user (runAsNonRoot, set on the pod; the image picks the UID)", Safe, P),
            case(pod("securityContext: {runAsNonRoot: true},", "runAsNonRoot: false"), C::Users, "may run as root (runAsNonRoot: false and no runAsUser: the image decides)", Risky, Container),
            case(pod("hostUsers: false,", ""), C::Users, "may run as root (no runAsUser or runAsNonRoot: the image decides) inside a user namespace (hostUsers: false), so not root on the node", Safe, Default),
            case(pod("", ""), C::PrivilegeEscalation, "may gain privileges (allowPrivilegeEscalation not set, defaults to true)", Risky, Default),
            case(pod("", "allowPrivilegeEscalation: false"), C::PrivilegeEscalation, "cannot gain more privileges (allowPrivilegeEscalation: false)", Safe, Container),
            case(pod("", "allowPrivilegeEscalation: true"), C::PrivilegeEscalation, "may gain privileges (allowPrivilegeEscalation: true)", Risky, Container),
            case(pod("", "privileged: true"), C::PrivilegeEscalation, "may gain privileges (always, for a privileged container)", Risky, Container),
            case(pod("", "allowPrivilegeEscalation: false, capabilities: {add: [CAP_SYS_ADMIN]}"), C::PrivilegeEscalation, "may gain privileges (always, with CAP_SYS_ADMIN)", Risky, Container),
            case(pod("", "capabilities: {add: [NET_ADMIN, SYS_ADMIN]}"), C::Capabilities, "adds NET_ADMIN, SYS_ADMIN; drops nothing (runtime defaults kept)", Dangerous, Container),
            case(pod("", "capabilities: {drop: [ALL], add: [NET_BIND_SERVICE]}"), C::Capabilities, "drops ALL, adds NET_BIND_SERVICE", Safe, Container),
            case(pod("", "capabilities: {drop: [ALL]}"), C::Capabilities, "drops ALL", Safe, Container),
            case(pod("", "capabilities: {drop: [NET_RAW]}"), C::Capabilities, "drops NET_RAW (other runtime defaults kept)", Risky, Container),
            case(pod("", "capabilities: {drop: [ALL], add: [CHOWN]}"), C::Capabilities, "drops ALL, adds CHOWN", Risky, Container),
            case(pod("", ""), C::Capabilities, "runtime defaults (adds nothing, drops nothing)", Risky, Default),
            case(pod("", "privileged: true"), C::Capabilities, "all capabilities (privileged container)", Dangerous, Container),
            case(hostpath("/var/log", ""), C::HostPath, "mounts /var/log from the host, writable", Dangerous, Container),
            case(hostpath("/data", ", readOnly: true"), C::HostPath, "mounts /data from the host, read-only", Risky, Container),
            case(hostpath("/var/run/docker.sock", ", readOnly: true"), C::HostPath, "mounts /var/run/docker.sock from the host, read-only", Dangerous, Container),
            case(hostpath("/", ", readOnly: true"), C::HostPath, "mounts / from the host, read-only", Dangerous, Container),
            case("{spec: {volumes: [{name: h, hostPath: {path: /var/log}}], containers: [{name: app}]}}".into(), C::HostPath, "does not mount the pod's hostPath volume (/var/log)", Safe, P),
            case("{spec: {volumes: [{name: h, hostPath: {path: /var/log}}], containers: [{name: app, volumeMounts: [{name: h, mountPath: /logs, subPath: pods}]}]}}".into(), C::HostPath, "mounts /var/log/pods from the host, writable", Dangerous, Container),
            case(pod("", ""), C::HostPath, "no host paths", Safe, Default),
            case("{spec: {volumes: [{name: config, configMap: {name: c}}, {name: h, hostPath: {path: /tmp}}, {name: scratch}], containers: [{name: app, volumeMounts: [{name: config, mountPath: /etc/app}]}]}}".into(), C::Volumes, "pod volumes: configMap, emptyDir, hostPath; mounts config (configMap) at /etc/app", Risky, P),
            case("{spec: {volumes: [{name: config, configMap: {name: c}}], containers: [{name: app}]}}".into(), C::Volumes, "pod volumes: configMap; mounts none of them", Safe, P),
            case(pod("", ""), C::Volumes, "no volumes", Safe, Default),
            case("{spec: {volumes: [{name: f, flexVolume: {driver: example/lvm}}], containers: [{name: app, volumeMounts: [{name: f, mountPath: /f}]}]}}".into(), C::FlexVolume, "uses FlexVolume driver example/lvm", Risky, P),
            case(pod("", ""), C::FlexVolume, "no FlexVolume drivers", Safe, Default),
            case(pod("securityContext: {fsGroup: 2000},", ""), C::FsGroup, "volumes owned by group 2000 (fsGroup, pod)", Safe, P),
            case(pod("", ""), C::FsGroup, "not set", Safe, Default),
            case(pod("", ""), C::ReadOnlyRootFs, "root filesystem is writable (readOnlyRootFilesystem not set)", Risky, Default),
            case(pod("", "readOnlyRootFilesystem: true"), C::ReadOnlyRootFs, "root filesystem is read-only", Safe, Container),
            case(pod("", "seLinuxOptions: {type: spc_t}"), C::SeLinux, "custom SELinux type spc_t (set on the container)", Dangerous, Container),
            case(pod("securityContext: {seLinuxOptions: {user: system_u}},", ""), C::SeLinux, "custom SELinux user system_u (set on the pod)", Risky, P),
            case(pod("securityContext: {seLinuxOptions: {level: 's0:c123,c456'}},", ""), C::SeLinux, "SELinux level s0:c123,c456 (set on the pod)", Safe, P),
            case(pod("", ""), C::SeLinux, "runtime default label (container_t where SELinux is on)", Safe, Default),
            case(pod("", "procMount: Unmasked"), C::ProcMount, "/proc unmasked", Dangerous, Container),
            case(pod("", ""), C::ProcMount, "/proc masked (Default)", Safe, Default),
            case(pod("", ""), C::AppArmor, "AppArmor runtime default (not set; applies where the node runs AppArmor)", Safe, Default),
            case(pod("securityContext: {appArmorProfile: {type: RuntimeDefault}},", ""), C::AppArmor, "AppArmor runtime default (set on the pod)", Safe, P),
            case(pod("securityContext: {appArmorProfile: {type: RuntimeDefault}},", "appArmorProfile: {type: Unconfined}"), C::AppArmor, "AppArmor unconfined (set on the container)", Risky, Container),
            case("{metadata: {annotations: {container.apparmor.security.beta.kubernetes.io/app: unconfined}}, spec: {containers: [{name: app}]}}".into(), C::AppArmor, "AppArmor unconfined (annotation)", Risky, Annotation),
            case("{metadata: {annotations: {container.apparmor.security.beta.kubernetes.io/app: localhost/k8s-nginx}}, spec: {containers: [{name: app}]}}".into(), C::AppArmor, "AppArmor profile k8s-nginx from the node (annotation)", Safe, Annotation),
            case("{metadata: {annotations: {container.apparmor.security.beta.kubernetes.io/app: unconfined}}, spec: {securityContext: {appArmorProfile: {type: RuntimeDefault}}, containers: [{name: app}]}}".into(), C::AppArmor, "AppArmor runtime default (set on the pod)", Safe, P),
            case("{metadata: {annotations: {container.apparmor.security.beta.kubernetes.io/other: unconfined}}, spec: {containers: [{name: app}]}}".into(), C::AppArmor, "AppArmor runtime default (not set; applies where the node runs AppArmor)", Safe, Default),
            case(pod("", "privileged: true"), C::AppArmor, "no AppArmor confinement (privileged containers run unconfined)", Risky, Default),
            case(pod("securityContext: {seccompProfile: {type: RuntimeDefault}},", ""), C::Seccomp, "seccomp RuntimeDefault (set on the pod)", Safe, P),
            case(pod("securityContext: {seccompProfile: {type: RuntimeDefault}},", "seccompProfile: {type: Unconfined}"), C::Seccomp, "seccomp Unconfined: every system call allowed (set on the container)", Risky, Container),
            case(pod("", "seccompProfile: {type: Localhost, localhostProfile: profiles/audit.json}"), C::Seccomp, "seccomp profile profiles/audit.json from the node (set on the container)", Safe, Container),
            case("{metadata: {annotations: {seccomp.security.alpha.kubernetes.io/pod: runtime/default}}, spec: {containers: [{name: app}]}}".into(), C::Seccomp, "seccomp RuntimeDefault (annotation)", Safe, Annotation),
            case("{metadata: {annotations: {seccomp.security.alpha.kubernetes.io/pod: runtime/default, container.seccomp.security.alpha.kubernetes.io/app: unconfined}}, spec: {containers: [{name: app}]}}".into(), C::Seccomp, "seccomp Unconfined: every system call allowed (annotation)", Risky, Annotation),
            case("{metadata: {annotations: {seccomp.security.alpha.kubernetes.io/pod: unconfined}}, spec: {securityContext: {seccompProfile: {type: RuntimeDefault}}, containers: [{name: app}]}}".into(), C::Seccomp, "seccomp RuntimeDefault (set on the pod)", Safe, P),
            case(pod("", ""), C::Seccomp, "no seccomp profile (Unconfined by default in Kubernetes)", Risky, Default),
            case(pod("securityContext: {seccompProfile: {type: RuntimeDefault}},", "privileged: true"), C::Seccomp, "no seccomp filtering (privileged containers run without a profile)", Risky, Container),
            case(pod("", ""), C::Sysctls, "no sysctls", Safe, Default),
            case(pod("securityContext: {sysctls: [{name: kernel.msgmax, value: '65536'}]},", ""), C::Sysctls, "sets kernel.msgmax (unsafe)", Risky, P),
            case(pod("securityContext: {sysctls: [{name: net.ipv4.ip_local_port_range, value: '1024 65535'}]},", ""), C::Sysctls, "sets net.ipv4.ip_local_port_range (safe)", Safe, P),
            case(pod("os: {name: windows},", ""), C::Seccomp, "does not apply: Windows pod", Safe, P),
            case(pod("os: {name: windows},", "windowsOptions: {hostProcess: true}"), C::Privileged, "Windows HostProcess container: runs on the host with the host's rights (set on the container)", Dangerous, Container),
            case(pod("os: {name: windows}, securityContext: {windowsOptions: {runAsUserName: ContainerUser}},", ""), C::Users, "runs as ContainerUser (Windows, set on the pod)", Safe, P),
        ];
        let mut failures = Vec::new();
        for (i, c) in cases.iter().enumerate() {
            let views = analyse(&template(&c.yaml));
            let cell = views[0].cell(c.control).expect("every control has a cell");
            let got = (cell.value.as_str(), cell.risk, cell.origin);
            if got != (c.value, c.risk, c.origin) {
                failures.push(format!(
                    "case {i} ({:?}) {}:\n  want {:?}\n  got  {got:?}",
                    c.control,
                    c.yaml,
                    (c.value, c.risk, c.origin)
                ));
            }
            assert!(!cell.why.is_empty() && !cell.field.is_empty());
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn fields_name_the_path_and_value() {
        let cases = [
            (pod("securityContext: {runAsUser: 0},", ""), Control::Users, "spec.securityContext.runAsUser: 0"),
            (pod("", "runAsUser: 1000"), Control::Users, "spec.containers[0].securityContext.runAsUser: 1000"),
            (pod("", ""), Control::Privileged, "spec.containers[0].securityContext.privileged: not set"),
            (pod("hostPID: true,", ""), Control::HostNamespaces, "spec.hostPID: true; spec.hostIPC: not set"),
            (pod("", "capabilities: {drop: [ALL]}"), Control::Capabilities, "spec.containers[0].securityContext.capabilities.add: not set; spec.containers[0].securityContext.capabilities.drop: [ALL]"),
            ("{metadata: {annotations: {container.apparmor.security.beta.kubernetes.io/app: unconfined}}, spec: {containers: [{name: app}]}}".into(), Control::AppArmor, "metadata.annotations[container.apparmor.security.beta.kubernetes.io/app]: unconfined"),
            ("{spec: {initContainers: [{name: init, securityContext: {privileged: true}}], containers: [{name: app}]}}".into(), Control::Privileged, "spec.initContainers[0].securityContext.privileged: true"),
        ];
        for (yaml, control, field) in cases {
            let views = analyse(&template(&yaml));
            assert_eq!(
                views[0].cell(control).map(|c| c.field.as_str()),
                Some(field),
                "{yaml}"
            );
        }
    }

    #[test]
    fn flags_follow_the_settings() {
        use RiskFlag as F;
        let baseline_defaults = vec![
            F::RunsAsRoot,
            F::WritableRootFs,
            F::PrivilegeEscalation,
            F::NoSeccomp,
        ];
        let restricted = pod(
            "securityContext: {runAsNonRoot: true, seccompProfile: {type: RuntimeDefault}},",
            "allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: [ALL], add: [NET_BIND_SERVICE]}",
        );
        let cases: Vec<(String, Vec<RiskFlag>)> = vec![
            (pod("", ""), baseline_defaults.clone()),
            (restricted, vec![]),
            (
                pod("hostPID: true, hostNetwork: true,", "privileged: true"),
                vec![F::Privileged, F::HostNamespaces, F::HostNetwork, F::RunsAsRoot, F::WritableRootFs, F::PrivilegeEscalation, F::NoSeccomp],
            ),
            (
                pod(
                    "securityContext: {runAsUser: 1000, seccompProfile: {type: RuntimeDefault}, sysctls: [{name: kernel.msgmax, value: '1'}]},",
                    "allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {add: [NET_ADMIN]}, procMount: Unmasked, seLinuxOptions: {type: spc_t}, appArmorProfile: {type: Unconfined}",
                ),
                vec![F::AddedCapabilities, F::CustomSeLinux, F::UnmaskedProc, F::UnsafeSysctls, F::UnconfinedAppArmor],
            ),
            (
                "{spec: {securityContext: {runAsUser: 1000}, volumes: [{name: f, flexVolume: {driver: x/y}}, {name: h, hostPath: {path: /tmp}}], containers: [{name: app, ports: [{containerPort: 1, hostPort: 1}], volumeMounts: [{name: h, mountPath: /h}], securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, seccompProfile: {type: Localhost, localhostProfile: p}}}]}}".into(),
                vec![F::HostPorts, F::HostPath, F::FlexVolume],
            ),
            (pod("hostUsers: false,", ""), vec![F::WritableRootFs, F::PrivilegeEscalation, F::NoSeccomp]),
        ];
        for (yaml, mut want) in cases {
            want.sort();
            let views = analyse(&template(&yaml));
            assert_eq!(views[0].flags, want, "{yaml}");
        }
    }

    #[test]
    fn containers_in_order_init_regular_ephemeral() {
        let t = template(
            "{spec: {initContainers: [{name: i1, image: busybox}], containers: [{name: a}, {name: b, image: nginx}], ephemeralContainers: [{name: debug, securityContext: {privileged: true}}]}}",
        );
        let views = analyse(&t);
        let names: Vec<_> = views.iter().map(|v| (v.name.as_str(), v.kind)).collect();
        assert_eq!(
            names,
            [
                ("i1", ContainerKind::Init),
                ("a", ContainerKind::Regular),
                ("b", ContainerKind::Regular),
                ("debug", ContainerKind::Ephemeral),
            ]
        );
        assert_eq!(views[2].image, "nginx");
        for v in &views {
            let order: Vec<Control> = v.cells.iter().map(|c| c.control).collect();
            assert_eq!(order, Control::ALL);
        }
        assert!(views[3].has(RiskFlag::Privileged));
        assert_eq!(
            views[3].cell(Control::Privileged).map(|c| c.field.as_str()),
            Some("spec.ephemeralContainers[0].securityContext.privileged: true")
        );
        assert_eq!(views[3].worst(), Risk::Dangerous);
    }

    #[test]
    fn windows_pods_skip_linux_controls() {
        let views = analyse(&template(&pod("os: {name: windows},", "")));
        for control in Control::ALL {
            let cell = views[0].cell(control).expect("cell");
            assert_eq!(
                linux_only(control),
                cell.value == "does not apply: Windows pod",
                "{control:?}: {}",
                cell.value
            );
        }
        assert!(views[0].flags.is_empty(), "{:?}", views[0].flags);
    }

    #[test]
    fn sensitive_host_paths() {
        for p in [
            "/",
            "/etc",
            "/etc/",
            "/var",
            "/var/run/docker.sock",
            "/run/containerd/containerd.sock",
            "/proc/sys",
            "/var/lib/kubelet/pods",
            "/home",
        ] {
            assert!(sensitive_host_path(p), "{p}");
        }
        for p in ["/data", "/tmp", "/var/log/app", "/etc-not", "/opt/app"] {
            assert!(!sensitive_host_path(p), "{p}");
        }
    }
}
