//! The checks of the Pod Security Standards, one function per upstream check
//! version (`policy/check_*.go` in kubernetes/pod-security-admission).
//!
//! Every function inspects borrowed data only. Collections start empty (`Vec::new`
//! does not allocate; upstream's sets become a `Vec` sorted and deduplicated on
//! failure), so a pod that passes costs no allocation; strings are built only for
//! a failing check.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use k8s_openapi::api::core::v1::{
    Container, ContainerPort, EphemeralContainer, Lifecycle, LifecycleHandler, PodSpec, Probe,
    SELinuxOptions, SecurityContext, Volume,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::model::Control;

/// What a failing check reports; the registry adds the check ID.
#[derive(Debug)]
pub(super) struct Found {
    pub control: Control,
    pub reason: &'static str,
    pub detail: String,
    pub containers: Vec<String>,
}

impl Found {
    fn new(
        control: Control,
        reason: &'static str,
        detail: String,
        containers: Vec<String>,
    ) -> Option<Self> {
        Some(Self {
            control,
            reason,
            detail,
            containers,
        })
    }
}

/// One version of one check.
pub(super) type CheckFn = fn(&ObjectMeta, &PodSpec) -> Option<Found>;

// ---------------------------------------------------------------------------------------------
// Visiting containers

/// A container of any of the three lists, borrowed.
#[derive(Clone, Copy)]
enum Ctr<'a> {
    Regular(&'a Container),
    Ephemeral(&'a EphemeralContainer),
}

macro_rules! ctr_field {
    ($self:ident, $c:ident => $e:expr) => {
        match $self {
            Ctr::Regular($c) => $e,
            Ctr::Ephemeral($c) => $e,
        }
    };
}

impl<'a> Ctr<'a> {
    #[inline]
    fn name(self) -> &'a str {
        ctr_field!(self, c => c.name.as_str())
    }
    #[inline]
    fn sc(self) -> Option<&'a SecurityContext> {
        ctr_field!(self, c => c.security_context.as_ref())
    }
    #[inline]
    fn ports(self) -> &'a [ContainerPort] {
        ctr_field!(self, c => c.ports.as_deref().unwrap_or_default())
    }
    #[inline]
    fn probes(self) -> [Option<&'a Probe>; 3] {
        ctr_field!(self, c => [
            c.liveness_probe.as_ref(),
            c.readiness_probe.as_ref(),
            c.startup_probe.as_ref(),
        ])
    }
    #[inline]
    fn lifecycle(self) -> Option<&'a Lifecycle> {
        ctr_field!(self, c => c.lifecycle.as_ref())
    }
}

/// Init containers, then containers, then ephemeral containers (upstream `visitContainers`).
#[inline]
fn visit<'a>(spec: &'a PodSpec, mut f: impl FnMut(Ctr<'a>)) {
    // One call site for `f`, so the compiler inlines each check's closure.
    let init = spec.init_containers.as_deref().unwrap_or_default();
    let ephemeral = spec.ephemeral_containers.as_deref().unwrap_or_default();
    let all = init
        .iter()
        .chain(&spec.containers)
        .map(Ctr::Regular)
        .chain(ephemeral.iter().map(Ctr::Ephemeral));
    for c in all {
        f(c);
    }
}

/// Visits each container's name and security context.
#[inline]
fn visit_sc<'a>(spec: &'a PodSpec, mut f: impl FnMut(&'a str, Option<&'a SecurityContext>)) {
    visit(spec, |c| f(c.name(), c.sc()));
}

// ---------------------------------------------------------------------------------------------
// Message helpers (upstream `helpers.go`)

fn pluralize(singular: &'static str, plural: &'static str, count: usize) -> &'static str {
    if count == 1 { singular } else { plural }
}

/// Each item in double quotes, joined with `, ` (upstream `joinQuote`; no escaping).
fn join_quote<S: AsRef<str>>(items: impl IntoIterator<Item = S>) -> String {
    let mut out = String::new();
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push('"');
        out.push_str(item.as_ref());
        out.push('"');
    }
    out
}

fn join<S: AsRef<str>>(items: impl IntoIterator<Item = S>, sep: &str) -> String {
    let mut out = String::new();
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            out.push_str(sep);
        }
        out.push_str(item.as_ref());
    }
    out
}

/// `container "a"` or `containers "a", "b"`, written where it is formatted.
fn containers_phrase<'a>(names: &'a [&'a str]) -> ContainersPhrase<'a> {
    ContainersPhrase(names)
}

struct ContainersPhrase<'a>(&'a [&'a str]);

impl std::fmt::Display for ContainersPhrase<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(pluralize("container", "containers", self.0.len()))?;
        f.write_str(" ")?;
        for (i, name) in self.0.iter().enumerate() {
            f.write_str(if i == 0 { "\"" } else { ", \"" })?;
            f.write_str(name)?;
            f.write_str("\"")?;
        }
        Ok(())
    }
}

/// Sorted, without duplicates: what upstream gets from a `sets.String`.
fn set(mut items: Vec<&str>) -> Vec<&str> {
    items.sort_unstable();
    items.dedup();
    items
}

fn owned(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| (*s).to_owned()).collect()
}

/// Go's `%q` for a string (`strconv.Quote`): double quotes, with `"` and `\`
/// escaped and non-printable characters written as Go escapes.
pub(super) fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if go_printable(c) => out.push(c),
            c if (c as u32) < 0x10000 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => {
                let _ = write!(out, "\\U{:08x}", c as u32);
            }
        }
    }
    out.push('"');
    out
}

/// An approximation of Go's `unicode.IsPrint` without the Unicode tables: every
/// character is printable except controls, spaces other than U+0020, format
/// characters in common use, private-use characters and noncharacters.
fn go_printable(c: char) -> bool {
    let u = c as u32;
    if c == ' ' {
        return true;
    }
    !(c.is_control()
        || c.is_whitespace()
        || matches!(
            u,
            0xAD | 0x600..=0x605
                | 0x61C
                | 0x6DD
                | 0x70F
                | 0x180E
                | 0x200B..=0x200F
                | 0x202A..=0x202E
                | 0x2060..=0x206F
                | 0xE000..=0xF8FF
                | 0xFDD0..=0xFDEF
                | 0xFEFF
                | 0xFFF9..=0xFFFB
                | 0xF0000..
        )
        || (u & 0xFFFE) == 0xFFFE)
}

fn annotations(meta: &ObjectMeta) -> Option<&BTreeMap<String, String>> {
    meta.annotations.as_ref().filter(|a| !a.is_empty())
}

/// Annotations whose key starts with `prefix`, in key order. A linear scan: pods
/// carry few annotations, and it is cheaper than a B-tree range search.
fn with_prefix<'a>(
    map: &'a BTreeMap<String, String>,
    prefix: &'static str,
) -> impl Iterator<Item = (&'a String, &'a String)> {
    map.iter().filter(move |(k, _)| k.starts_with(prefix))
}

#[inline]
fn is_windows(spec: &PodSpec) -> bool {
    spec.os.as_ref().is_some_and(|os| os.name == "windows")
}

/// "The pod uses a user namespace": `spec.hostUsers` present and false.
#[inline]
fn user_namespace(spec: &PodSpec) -> bool {
    spec.host_users == Some(false)
}

// ---------------------------------------------------------------------------------------------
// allowPrivilegeEscalation (restricted, 1.8; 1.25 exempts Windows pods)

pub(super) fn allow_privilege_escalation_1_8(_: &ObjectMeta, spec: &PodSpec) -> Option<Found> {
    let mut bad: Vec<&str> = Vec::new();
    visit_sc(spec, |name, sc| {
        if sc.and_then(|s| s.allow_privilege_escalation) != Some(false) {
            bad.push(name);
        }
    });
    if bad.is_empty() {
        return None;
    }
    Found::new(
        Control::PrivilegeEscalation,
        "allowPrivilegeEscalation != false",
        format!(
            "{} must set securityContext.allowPrivilegeEscalation=false",
            containers_phrase(&bad)
        ),
        owned(&bad),
    )
}

pub(super) fn allow_privilege_escalation_1_25(meta: &ObjectMeta, spec: &PodSpec) -> Option<Found> {
    if is_windows(spec) {
        return None;
    }
    allow_privilege_escalation_1_8(meta, spec)
}

// ---------------------------------------------------------------------------------------------
// appArmorProfile (baseline, 1.0)

const APPARMOR_ANNOTATION_PREFIX: &str = "container.apparmor.security.beta.kubernetes.io/";

fn apparmor_annotation_allowed(v: &str) -> bool {
    v.is_empty() || v == "runtime/default" || v.starts_with("localhost/")
}

fn apparmor_type_allowed(t: &str) -> bool {
    matches!(t, "RuntimeDefault" | "Localhost")
}

pub(super) fn app_armor_profile_1_0(meta: &ObjectMeta, spec: &PodSpec) -> Option<Found> {
    let mut pod_bad = false;
    let mut bad_values: Vec<&str> = Vec::new();
    if let Some(p) = spec
        .security_context
        .as_ref()
        .and_then(|s| s.app_armor_profile.as_ref())
        && !apparmor_type_allowed(&p.type_)
    {
        pod_bad = true;
        bad_values.push(&p.type_);
    }
    let mut bad_containers: Vec<&str> = Vec::new();
    visit_sc(spec, |name, sc| {
        if let Some(p) = sc.and_then(|s| s.app_armor_profile.as_ref())
            && !apparmor_type_allowed(&p.type_)
        {
            bad_containers.push(name);
            bad_values.push(&p.type_);
        }
    });
    let mut bad_annotations: Vec<(&str, &str)> = Vec::new();
    if let Some(ann) = annotations(meta) {
        for (k, v) in with_prefix(ann, APPARMOR_ANNOTATION_PREFIX) {
            if !apparmor_annotation_allowed(v) {
                bad_annotations.push((k, v));
            }
        }
    }
    if !pod_bad && bad_containers.is_empty() && bad_annotations.is_empty() {
        return None;
    }

    let mut setters: Vec<String> = Vec::new();
    if pod_bad {
        setters.push("pod".to_owned());
    }
    if !bad_containers.is_empty() {
        setters.push(containers_phrase(&bad_containers).to_string());
    }
    let mut values: Vec<String> = set(bad_values).into_iter().map(str::to_owned).collect();
    let mut containers = owned(&bad_containers);
    if !bad_annotations.is_empty() {
        let mut entries: Vec<String> = bad_annotations
            .iter()
            .map(|(k, v)| format!("{k}={}", go_quote(v)))
            .collect();
        entries.sort();
        setters.push(pluralize("annotation", "annotations", entries.len()).to_owned());
        values.extend(entries);
        for (k, _) in &bad_annotations {
            let name = &k[APPARMOR_ANNOTATION_PREFIX.len()..];
            if !name.is_empty() && !containers.iter().any(|c| c == name) {
                containers.push(name.to_owned());
            }
        }
    }
    Found::new(
        Control::AppArmor,
        pluralize(
            "forbidden AppArmor profile",
            "forbidden AppArmor profiles",
            values.len(),
        ),
        format!(
            "{} must not set AppArmor profile type to {}",
            setters.join(" and "),
            join_quote(&values)
        ),
        containers,
    )
}

// ---------------------------------------------------------------------------------------------
// capabilities_baseline (baseline, 1.0)

fn capability_default(c: &str) -> bool {
    matches!(
        c,
        "AUDIT_WRITE"
            | "CHOWN"
            | "DAC_OVERRIDE"
            | "FOWNER"
            | "FSETID"
            | "KILL"
            | "MKNOD"
            | "NET_BIND_SERVICE"
            | "SETFCAP"
            | "SETGID"
            | "SETPCAP"
            | "SETUID"
            | "SYS_CHROOT"
    )
}

pub(super) fn capabilities_baseline_1_0(_: &ObjectMeta, spec: &PodSpec) -> Option<Found> {
    let mut bad: Vec<&str> = Vec::new();
    let mut caps: Vec<&str> = Vec::new();
    visit_sc(spec, |name, sc| {
        let Some(add) = sc
            .and_then(|s| s.capabilities.as_ref())
            .and_then(|c| c.add.as_ref())
        else {
            return;
        };
        let mut valid = true;
        for c in add {
            if !capability_default(c) {
                valid = false;
                caps.push(c);
            }
        }
        if !valid {
            bad.push(name);
        }
    });
    if bad.is_empty() {
        return None;
    }
    let caps = set(caps);
    Found::new(
        Control::Capabilities,
        "non-default capabilities",
        format!(
            "{} must not include {} in securityContext.capabilities.add",
            containers_phrase(&bad),
            join_quote(&caps)
        ),
        owned(&bad),
    )
}

// ---------------------------------------------------------------------------------------------
// capabilities_restricted (restricted, 1.22; 1.25 exempts Windows pods)

pub(super) fn capabilities_restricted_1_22(_: &ObjectMeta, spec: &PodSpec) -> Option<Found> {
    let mut missing_drop: Vec<&str> = Vec::new();
    let mut adding: Vec<&str> = Vec::new();
    let mut involved: Vec<&str> = Vec::new();
    let mut forbidden: Vec<&str> = Vec::new();
    visit_sc(spec, |name, sc| {
        let Some(caps) = sc.and_then(|s| s.capabilities.as_ref()) else {
            missing_drop.push(name);
            involved.push(name);
            return;
        };
        let dropped_all = caps
            .drop
            .as_deref()
            .unwrap_or_default()
            .iter()
            .any(|c| c == "ALL");
        if !dropped_all {
            missing_drop.push(name);
        }
        let mut added_forbidden = false;
        for c in caps.add.as_deref().unwrap_or_default() {
            if c != "NET_BIND_SERVICE" {
                added_forbidden = true;
                forbidden.push(c);
            }
        }
        if added_forbidden {
            adding.push(name);
        }
        if !dropped_all || added_forbidden {
            involved.push(name);
        }
    });
    if missing_drop.is_empty() && adding.is_empty() {
        return None;
    }
    let mut details: Vec<String> = Vec::with_capacity(2);
    if !missing_drop.is_empty() {
        details.push(format!(
            r#"{} must set securityContext.capabilities.drop=["ALL"]"#,
            containers_phrase(&missing_drop)
        ));
    }
    if !adding.is_empty() {
        let forbidden = set(forbidden);
        details.push(format!(
            "{} must not include {} in securityContext.capabilities.add",
            containers_phrase(&adding),
            join_quote(&forbidden)
        ));
    }
    Found::new(
        Control::Capabilities,
        "unrestricted capabilities",
        details.join("; "),
        owned(&involved),
    )
}

pub(super) fn capabilities_restricted_1_25(meta: &ObjectMeta, spec: &PodSpec) -> Option<Found> {
    if is_windows(spec) {
        return None;
    }
    capabilities_restricted_1_22(meta, spec)
}

// ---------------------------------------------------------------------------------------------
// hostNamespaces (baseline, 1.0)

/// One check covers three fields. The violation is filed under
/// [`Control::HostNetwork`] when `hostNetwork` is the only one set, and under
/// [`Control::HostNamespaces`] whenever `hostPID` or `hostIPC` is set.
pub(super) fn host_namespaces_1_0(_: &ObjectMeta, spec: &PodSpec) -> Option<Found> {
    let net = spec.host_network == Some(true);
    let pid = spec.host_pid == Some(true);
    let ipc = spec.host_ipc == Some(true);
    if !(net || pid || ipc) {
        return None;
    }
    let mut parts: Vec<&str> = Vec::with_capacity(3);
    if net {
        parts.push("hostNetwork=true");
    }
    if pid {
        parts.push("hostPID=true");
    }
    if ipc {
        parts.push("hostIPC=true");
    }
    let control = if pid || ipc {
        Control::HostNamespaces
    } else {
        Control::HostNetwork
    };
    Found::new(control, "host namespaces", parts.join(", "), Vec::new())
}

// ---------------------------------------------------------------------------------------------
// hostPathVolumes (baseline, 1.0)

pub(super) fn host_path_volumes_1_0(_: &ObjectMeta, spec: &PodSpec) -> Option<Found> {
    let mut bad: Vec<&str> = Vec::new();
    for v in spec.volumes.as_deref().unwrap_or_default() {
        if v.host_path.is_some() {
            bad.push(&v.name);
        }
    }
    if bad.is_empty() {
        return None;
    }
    Found::new(
        Control::HostPath,
        "hostPath volumes",
        format!(
            "{} {}",
            pluralize("volume", "volumes", bad.len()),
            join_quote(&bad)
        ),
        Vec::new(),
    )
}

// ---------------------------------------------------------------------------------------------
// hostPorts (baseline, 1.0)

pub(super) fn host_ports_1_0(_: &ObjectMeta, spec: &PodSpec) -> Option<Found> {
    let mut bad: Vec<&str> = Vec::new();
    let mut ports: Vec<i32> = Vec::new();
    visit(spec, |c| {
        let mut valid = true;
        for p in c.ports() {
            if let Some(hp) = p.host_port
                && hp != 0
            {
                valid = false;
                ports.push(hp);
            }
        }
        if !valid {
            bad.push(c.name());
        }
    });
    if bad.is_empty() {
        return None;
    }
    // A set of strings upstream: sorted as text, duplicates removed.
    let ports: BTreeSet<String> = ports.iter().map(i32::to_string).collect();
    Found::new(
        Control::HostNetwork,
        "hostPort",
        format!(
            "{} {} {} {}",
            containers_phrase(&bad),
            pluralize("uses", "use", bad.len()),
            pluralize("hostPort", "hostPorts", ports.len()),
            join(&ports, ", ")
        ),
        owned(&bad),
    )
}

// ---------------------------------------------------------------------------------------------
// hostProbesAndHostLifecycle (baseline, 1.34)

fn probe_hosts<'a>(probe: Option<&'a Probe>, out: &mut Vec<&'a str>) -> bool {
    let Some(p) = probe else { return false };
    push_hosts(
        p.http_get.as_ref().and_then(|h| h.host.as_deref()),
        p.tcp_socket.as_ref().and_then(|t| t.host.as_deref()),
        out,
    )
}

fn handler_hosts<'a>(handler: Option<&'a LifecycleHandler>, out: &mut Vec<&'a str>) -> bool {
    let Some(h) = handler else { return false };
    push_hosts(
        h.http_get.as_ref().and_then(|h| h.host.as_deref()),
        h.tcp_socket.as_ref().and_then(|t| t.host.as_deref()),
        out,
    )
}

fn push_hosts<'a>(http: Option<&'a str>, tcp: Option<&'a str>, out: &mut Vec<&'a str>) -> bool {
    let mut found = false;
    for h in [http, tcp].into_iter().flatten() {
        if !h.is_empty() {
            out.push(h);
            found = true;
        }
    }
    found
}

pub(super) fn host_probes_and_host_lifecycle_1_34(_: &ObjectMeta, spec: &PodSpec) -> Option<Found> {
    let mut bad: Vec<&str> = Vec::new();
    let mut hosts: Vec<&str> = Vec::new();
    visit(spec, |c| {
        let mut found = false;
        for p in c.probes() {
            found |= probe_hosts(p, &mut hosts);
        }
        if let Some(l) = c.lifecycle() {
            found |= handler_hosts(l.post_start.as_ref(), &mut hosts);
            found |= handler_hosts(l.pre_stop.as_ref(), &mut hosts);
        }
        if found {
            bad.push(c.name());
        }
    });
    if bad.is_empty() {
        return None;
    }
    let names = set(bad);
    let hosts = set(hosts);
    Found::new(
        Control::HostNetwork,
        "probe or lifecycle host",
        format!(
            "{} {} {} {}",
            containers_phrase(&names),
            pluralize("uses", "use", names.len()),
            pluralize(
                "probe or lifecycle host",
                "probe or lifecycle hosts",
                hosts.len()
            ),
            join_quote(&hosts)
        ),
        owned(&names),
    )
}

// ---------------------------------------------------------------------------------------------
// privileged (baseline, 1.0)

pub(super) fn privileged_1_0(_: &ObjectMeta, spec: &PodSpec) -> Option<Found> {
    let mut bad: Vec<&str> = Vec::new();
    visit_sc(spec, |name, sc| {
        if sc.and_then(|s| s.privileged) == Some(true) {
            bad.push(name);
        }
    });
    if bad.is_empty() {
        return None;
    }
    Found::new(
        Control::Privileged,
        "privileged",
        format!(
            "{} must not set securityContext.privileged=true",
            containers_phrase(&bad)
        ),
        owned(&bad),
    )
}

// ---------------------------------------------------------------------------------------------
// procMount (baseline, 1.0; 1.35 relaxed for user-namespace pods) and
// procMount_restricted (restricted, 1.35, the 1.0 rule)

pub(super) fn proc_mount_1_0(_: &ObjectMeta, spec: &PodSpec) -> Option<Found> {
    let mut bad: Vec<&str> = Vec::new();
    let mut types: Vec<&str> = Vec::new();
    visit_sc(spec, |name, sc| {
        if let Some(pm) = sc.and_then(|s| s.proc_mount.as_deref())
            && pm != "Default"
        {
            bad.push(name);
            types.push(pm);
        }
    });
    if bad.is_empty() {
        return None;
    }
    let types = set(types);
    Found::new(
        Control::ProcMount,
        "procMount",
        format!(
            "{} must not set securityContext.procMount to {}",
            containers_phrase(&bad),
            join_quote(&types)
        ),
        owned(&bad),
    )
}

pub(super) fn proc_mount_1_35_baseline(meta: &ObjectMeta, spec: &PodSpec) -> Option<Found> {
    if user_namespace(spec) {
        return None;
    }
    proc_mount_1_0(meta, spec)
}

// ---------------------------------------------------------------------------------------------
// restrictedVolumes (restricted, 1.0)

fn volume_allowed(v: &Volume) -> bool {
    v.config_map.is_some()
        || v.csi.is_some()
        || v.downward_api.is_some()
        || v.empty_dir.is_some()
        || v.ephemeral.is_some()
        || v.image.is_some()
        || v.persistent_volume_claim.is_some()
        || v.projected.is_some()
        || v.secret.is_some()
}

/// The restricted type of a volume with no allowed source, in upstream's order;
/// `None` for a volume with no source at all, which the API server defaults to
/// `emptyDir`.
fn restricted_volume_type(v: &Volume) -> Option<&'static str> {
    let t = if v.host_path.is_some() {
        "hostPath"
    } else if v.gce_persistent_disk.is_some() {
        "gcePersistentDisk"
    } else if v.aws_elastic_block_store.is_some() {
        "awsElasticBlockStore"
    } else if v.git_repo.is_some() {
        "gitRepo"
    } else if v.nfs.is_some() {
        "nfs"
    } else if v.iscsi.is_some() {
        "iscsi"
    } else if v.glusterfs.is_some() {
        "glusterfs"
    } else if v.rbd.is_some() {
        "rbd"
    } else if v.flex_volume.is_some() {
        "flexVolume"
    } else if v.cinder.is_some() {
        "cinder"
    } else if v.cephfs.is_some() {
        "cephfs"
    } else if v.flocker.is_some() {
        "flocker"
    } else if v.fc.is_some() {
        "fc"
    } else if v.azure_file.is_some() {
        "azureFile"
    } else if v.vsphere_volume.is_some() {
        "vsphereVolume"
    } else if v.quobyte.is_some() {
        "quobyte"
    } else if v.azure_disk.is_some() {
        "azureDisk"
    } else if v.photon_persistent_disk.is_some() {
        "photonPersistentDisk"
    } else if v.portworx_volume.is_some() {
        "portworxVolume"
    } else if v.scale_io.is_some() {
        "scaleIO"
    } else if v.storageos.is_some() {
        "storageos"
    } else {
        // Every source k8s-openapi knows is listed above or allowed: nothing set.
        return None;
    };
    Some(t)
}

/// The violation is filed under [`Control::HostPath`] when every restricted
/// volume is a hostPath, [`Control::FlexVolume`] when every one is a flexVolume,
/// and [`Control::Volumes`] otherwise.
pub(super) fn restricted_volumes_1_0(_: &ObjectMeta, spec: &PodSpec) -> Option<Found> {
    let mut bad: Vec<&str> = Vec::new();
    let mut types: Vec<&str> = Vec::new();
    for v in spec.volumes.as_deref().unwrap_or_default() {
        if volume_allowed(v) {
            continue;
        }
        if let Some(t) = restricted_volume_type(v) {
            bad.push(&v.name);
            types.push(t);
        }
    }
    if bad.is_empty() {
        return None;
    }
    let types = set(types);
    let control = match (types.len(), types.first()) {
        (1, Some(&"hostPath")) => Control::HostPath,
        (1, Some(&"flexVolume")) => Control::FlexVolume,
        _ => Control::Volumes,
    };
    Found::new(
        control,
        "restricted volume types",
        format!(
            "{} {} {} {} {}",
            pluralize("volume", "volumes", bad.len()),
            join_quote(&bad),
            pluralize("uses", "use", bad.len()),
            pluralize(
                "restricted volume type",
                "restricted volume types",
                types.len()
            ),
            join_quote(&types)
        ),
        Vec::new(),
    )
}

// ---------------------------------------------------------------------------------------------
// runAsNonRoot (restricted, 1.0; 1.35 relaxed for user-namespace pods)

pub(super) fn run_as_non_root_1_0(_: &ObjectMeta, spec: &PodSpec) -> Option<Found> {
    let mut pod_bad = false;
    let mut pod_non_root = false;
    match spec
        .security_context
        .as_ref()
        .and_then(|s| s.run_as_non_root)
    {
        Some(false) => pod_bad = true,
        Some(true) => pod_non_root = true,
        None => {}
    }
    let mut explicit: Vec<&str> = Vec::new();
    let mut implicit: Vec<&str> = Vec::new();
    visit_sc(spec, |name, sc| match sc.and_then(|s| s.run_as_non_root) {
        Some(false) => explicit.push(name),
        Some(true) => {}
        None => {
            if !pod_non_root {
                implicit.push(name);
            }
        }
    });
    if pod_bad || !explicit.is_empty() {
        let mut setters: Vec<String> = Vec::new();
        if pod_bad {
            setters.push("pod".to_owned());
        }
        if !explicit.is_empty() {
            setters.push(containers_phrase(&explicit).to_string());
        }
        return Found::new(
            Control::Users,
            "runAsNonRoot != true",
            format!(
                "{} must not set securityContext.runAsNonRoot=false",
                setters.join(" and ")
            ),
            owned(&explicit),
        );
    }
    if !implicit.is_empty() {
        return Found::new(
            Control::Users,
            "runAsNonRoot != true",
            format!(
                "pod or {} must set securityContext.runAsNonRoot=true",
                containers_phrase(&implicit)
            ),
            owned(&implicit),
        );
    }
    None
}

pub(super) fn run_as_non_root_1_35(meta: &ObjectMeta, spec: &PodSpec) -> Option<Found> {
    if user_namespace(spec) {
        return None;
    }
    run_as_non_root_1_0(meta, spec)
}

// ---------------------------------------------------------------------------------------------
// runAsUser (restricted, 1.23; 1.35 relaxed for user-namespace pods)

pub(super) fn run_as_user_1_23(_: &ObjectMeta, spec: &PodSpec) -> Option<Found> {
    let pod_bad = spec.security_context.as_ref().and_then(|s| s.run_as_user) == Some(0);
    let mut bad: Vec<&str> = Vec::new();
    visit_sc(spec, |name, sc| {
        if sc.and_then(|s| s.run_as_user) == Some(0) {
            bad.push(name);
        }
    });
    if !pod_bad && bad.is_empty() {
        return None;
    }
    let mut setters: Vec<String> = Vec::new();
    if pod_bad {
        setters.push("pod".to_owned());
    }
    if !bad.is_empty() {
        setters.push(containers_phrase(&bad).to_string());
    }
    Found::new(
        Control::Users,
        "runAsUser=0",
        format!("{} must not set runAsUser=0", setters.join(" and ")),
        owned(&bad),
    )
}

pub(super) fn run_as_user_1_35(meta: &ObjectMeta, spec: &PodSpec) -> Option<Found> {
    if user_namespace(spec) {
        return None;
    }
    run_as_user_1_23(meta, spec)
}

// ---------------------------------------------------------------------------------------------
// seLinuxOptions (baseline, 1.0; 1.31 allows container_engine_t)

/// What is wrong with one `seLinuxOptions`: the bad type, whether a user and
/// whether a role is set.
fn se_linux_faults(opts: &SELinuxOptions, engine_allowed: bool) -> (Option<&str>, bool, bool) {
    let t = opts.type_.as_deref().unwrap_or_default();
    let type_ok = matches!(
        t,
        "" | "container_t" | "container_init_t" | "container_kvm_t"
    ) || (engine_allowed && t == "container_engine_t");
    (
        (!type_ok).then_some(t),
        opts.user.as_deref().is_some_and(|u| !u.is_empty()),
        opts.role.as_deref().is_some_and(|r| !r.is_empty()),
    )
}

fn se_linux_options(spec: &PodSpec, engine_allowed: bool) -> Option<Found> {
    let mut bad_types: Vec<&str> = Vec::new();
    let mut set_user = false;
    let mut set_role = false;
    let mut pod_bad = false;
    if let Some(opts) = spec
        .security_context
        .as_ref()
        .and_then(|s| s.se_linux_options.as_ref())
    {
        let (t, user, role) = se_linux_faults(opts, engine_allowed);
        if let Some(t) = t {
            bad_types.push(t);
        }
        set_user |= user;
        set_role |= role;
        pod_bad = t.is_some() || user || role;
    }
    let mut bad: Vec<&str> = Vec::new();
    visit_sc(spec, |name, sc| {
        if let Some(opts) = sc.and_then(|s| s.se_linux_options.as_ref()) {
            let (t, user, role) = se_linux_faults(opts, engine_allowed);
            if let Some(t) = t {
                bad_types.push(t);
            }
            set_user |= user;
            set_role |= role;
            if t.is_some() || user || role {
                bad.push(name);
            }
        }
    });
    if !pod_bad && bad.is_empty() {
        return None;
    }
    let mut setters: Vec<String> = Vec::new();
    if pod_bad {
        setters.push("pod".to_owned());
    }
    if !bad.is_empty() {
        setters.push(containers_phrase(&bad).to_string());
    }
    let bad_types = set(bad_types);
    let mut data: Vec<String> = Vec::new();
    if !bad_types.is_empty() {
        data.push(format!(
            "{} {}",
            pluralize("type", "types", bad_types.len()),
            join_quote(&bad_types)
        ));
    }
    if set_user {
        data.push("user may not be set".to_owned());
    }
    if set_role {
        data.push("role may not be set".to_owned());
    }
    Found::new(
        Control::SeLinux,
        "seLinuxOptions",
        format!(
            "{} set forbidden securityContext.seLinuxOptions: {}",
            setters.join(" and "),
            data.join("; ")
        ),
        owned(&bad),
    )
}

pub(super) fn se_linux_options_1_0(_: &ObjectMeta, spec: &PodSpec) -> Option<Found> {
    se_linux_options(spec, false)
}

pub(super) fn se_linux_options_1_31(_: &ObjectMeta, spec: &PodSpec) -> Option<Found> {
    se_linux_options(spec, true)
}

// ---------------------------------------------------------------------------------------------
// seccompProfile_baseline (baseline, 1.0 annotations; 1.19 fields) and
// seccompProfile_restricted (restricted, 1.19; 1.25 exempts Windows pods)

const SECCOMP_POD_ANNOTATION: &str = "seccomp.security.alpha.kubernetes.io/pod";
const SECCOMP_CONTAINER_ANNOTATION_PREFIX: &str = "container.seccomp.security.alpha.kubernetes.io/";

fn seccomp_annotation_allowed(v: &str) -> bool {
    v == "runtime/default" || v == "docker/default" || v.starts_with("localhost/")
}

fn seccomp_type_allowed(t: &str) -> bool {
    matches!(t, "Localhost" | "RuntimeDefault")
}

pub(super) fn seccomp_profile_baseline_1_0(meta: &ObjectMeta, spec: &PodSpec) -> Option<Found> {
    let ann = annotations(meta)?;
    let mut forbidden: Vec<(&str, &str)> = Vec::new();
    let mut containers: Vec<&str> = Vec::new();
    if let Some(v) = ann.get(SECCOMP_POD_ANNOTATION)
        && !seccomp_annotation_allowed(v)
    {
        forbidden.push((SECCOMP_POD_ANNOTATION, v));
    }
    // Upstream looks up the annotation of each visited container; walking the
    // annotations with the prefix and matching visited names is the same set.
    for (k, v) in with_prefix(ann, SECCOMP_CONTAINER_ANNOTATION_PREFIX) {
        if seccomp_annotation_allowed(v) {
            continue;
        }
        let name = &k[SECCOMP_CONTAINER_ANNOTATION_PREFIX.len()..];
        let mut visited = false;
        visit(spec, |c| visited |= c.name() == name);
        if visited {
            forbidden.push((k, v));
            containers.push(name);
        }
    }
    if forbidden.is_empty() {
        return None;
    }
    let entries: BTreeSet<String> = forbidden
        .iter()
        .map(|(k, v)| format!("{k}={}", go_quote(v)))
        .collect();
    Found::new(
        Control::Seccomp,
        "seccompProfile",
        format!(
            "forbidden {} {}",
            pluralize("annotation", "annotations", entries.len()),
            join(&entries, ", ")
        ),
        owned(&containers),
    )
}

pub(super) fn seccomp_profile_baseline_1_19(_: &ObjectMeta, spec: &PodSpec) -> Option<Found> {
    let mut pod_bad = false;
    let mut values: Vec<&str> = Vec::new();
    if let Some(p) = spec
        .security_context
        .as_ref()
        .and_then(|s| s.seccomp_profile.as_ref())
        && !seccomp_type_allowed(&p.type_)
    {
        pod_bad = true;
        values.push(&p.type_);
    }
    let mut bad: Vec<&str> = Vec::new();
    visit_sc(spec, |name, sc| {
        if let Some(p) = sc.and_then(|s| s.seccomp_profile.as_ref())
            && !seccomp_type_allowed(&p.type_)
        {
            bad.push(name);
            values.push(&p.type_);
        }
    });
    if !pod_bad && bad.is_empty() {
        return None;
    }
    seccomp_explicit(pod_bad, &bad, &values)
}

fn seccomp_explicit(pod_bad: bool, bad: &[&str], values: &[&str]) -> Option<Found> {
    let mut setters: Vec<String> = Vec::new();
    if pod_bad {
        setters.push("pod".to_owned());
    }
    if !bad.is_empty() {
        setters.push(containers_phrase(bad).to_string());
    }
    Found::new(
        Control::Seccomp,
        "seccompProfile",
        format!(
            "{} must not set securityContext.seccompProfile.type to {}",
            setters.join(" and "),
            join_quote(set(values.to_vec()))
        ),
        owned(bad),
    )
}

pub(super) fn seccomp_profile_restricted_1_19(_: &ObjectMeta, spec: &PodSpec) -> Option<Found> {
    let mut pod_bad = false;
    let mut pod_set = false;
    let mut values: Vec<&str> = Vec::new();
    if let Some(p) = spec
        .security_context
        .as_ref()
        .and_then(|s| s.seccomp_profile.as_ref())
    {
        if seccomp_type_allowed(&p.type_) {
            pod_set = true;
        } else {
            pod_bad = true;
            values.push(&p.type_);
        }
    }
    let mut explicit: Vec<&str> = Vec::new();
    let mut implicit: Vec<&str> = Vec::new();
    visit_sc(spec, |name, sc| {
        match sc.and_then(|s| s.seccomp_profile.as_ref()) {
            Some(p) => {
                if !seccomp_type_allowed(&p.type_) {
                    explicit.push(name);
                    values.push(&p.type_);
                }
            }
            None => {
                if !pod_set {
                    implicit.push(name);
                }
            }
        }
    });
    if pod_bad || !explicit.is_empty() {
        return seccomp_explicit(pod_bad, &explicit, &values);
    }
    if !implicit.is_empty() {
        return Found::new(
            Control::Seccomp,
            "seccompProfile",
            format!(
                r#"pod or {} must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost""#,
                containers_phrase(&implicit)
            ),
            owned(&implicit),
        );
    }
    None
}

pub(super) fn seccomp_profile_restricted_1_25(meta: &ObjectMeta, spec: &PodSpec) -> Option<Found> {
    if is_windows(spec) {
        return None;
    }
    seccomp_profile_restricted_1_19(meta, spec)
}

// ---------------------------------------------------------------------------------------------
// sysctls (baseline, 1.0; the allowed list grows at 1.27, 1.29, 1.32 and 1.37)

/// The first policy version whose allow-list holds `name`.
pub(super) fn sysctl_allowed_since(name: &str) -> Option<u32> {
    match name {
        "kernel.shm_rmid_forced"
        | "net.ipv4.ip_local_port_range"
        | "net.ipv4.tcp_syncookies"
        | "net.ipv4.ping_group_range"
        | "net.ipv4.ip_unprivileged_port_start" => Some(0),
        "net.ipv4.ip_local_reserved_ports" => Some(27),
        "net.ipv4.tcp_keepalive_time"
        | "net.ipv4.tcp_fin_timeout"
        | "net.ipv4.tcp_keepalive_intvl"
        | "net.ipv4.tcp_keepalive_probes" => Some(29),
        "net.ipv4.tcp_rmem" | "net.ipv4.tcp_wmem" => Some(32),
        "net.ipv4.tcp_slow_start_after_idle" | "net.ipv4.tcp_notsent_lowat" => Some(37),
        _ => None,
    }
}

fn sysctls(spec: &PodSpec, list_version: u32) -> Option<Found> {
    let all = spec
        .security_context
        .as_ref()
        .and_then(|s| s.sysctls.as_deref())
        .unwrap_or_default();
    let mut bad: Vec<&str> = Vec::new();
    for s in all {
        if sysctl_allowed_since(&s.name).is_none_or(|since| since > list_version) {
            bad.push(&s.name);
        }
    }
    if bad.is_empty() {
        return None;
    }
    Found::new(
        Control::Sysctls,
        "forbidden sysctls",
        bad.join(", "),
        Vec::new(),
    )
}

pub(super) fn sysctls_1_0(_: &ObjectMeta, spec: &PodSpec) -> Option<Found> {
    sysctls(spec, 0)
}
pub(super) fn sysctls_1_27(_: &ObjectMeta, spec: &PodSpec) -> Option<Found> {
    sysctls(spec, 27)
}
pub(super) fn sysctls_1_29(_: &ObjectMeta, spec: &PodSpec) -> Option<Found> {
    sysctls(spec, 29)
}
pub(super) fn sysctls_1_32(_: &ObjectMeta, spec: &PodSpec) -> Option<Found> {
    sysctls(spec, 32)
}
pub(super) fn sysctls_1_37(_: &ObjectMeta, spec: &PodSpec) -> Option<Found> {
    sysctls(spec, 37)
}

// ---------------------------------------------------------------------------------------------
// windowsHostProcess (baseline, 1.0)

pub(super) fn windows_host_process_1_0(_: &ObjectMeta, spec: &PodSpec) -> Option<Found> {
    let mut bad: Vec<&str> = Vec::new();
    visit_sc(spec, |name, sc| {
        if sc
            .and_then(|s| s.windows_options.as_ref())
            .and_then(|w| w.host_process)
            == Some(true)
        {
            bad.push(name);
        }
    });
    let pod_bad = spec
        .security_context
        .as_ref()
        .and_then(|s| s.windows_options.as_ref())
        .and_then(|w| w.host_process)
        == Some(true);
    if !pod_bad && bad.is_empty() {
        return None;
    }
    let mut setters: Vec<String> = Vec::new();
    if pod_bad {
        setters.push("pod".to_owned());
    }
    if !bad.is_empty() {
        setters.push(containers_phrase(&bad).to_string());
    }
    Found::new(
        Control::Privileged,
        "hostProcess",
        format!(
            "{} must not set securityContext.windowsOptions.hostProcess=true",
            setters.join(" and ")
        ),
        owned(&bad),
    )
}
