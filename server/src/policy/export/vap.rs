//! A ValidatingAdmissionPolicy (admissionregistration.k8s.io/v1) and its
//! binding, in CEL, for `baseline` and `restricted` at `latest` and for `strict`.
//!
//! One validation per Pod Security check, each the CEL form of the check in
//! `policy::pss::checks` at the newest version (see [`pss_checks`]); its
//! message is the pod-security-admission reason with what the check requires.
//! The policy covers Pods and the pod templates of the seven workload kinds:
//! the variable `podSpec` (and `podMeta`) selects the pod by the object's kind.
//!
//! Every expression is written with `has()` guards and without optional types,
//! so it runs on any Kubernetes with ValidatingAdmissionPolicy v1 (1.30+).

use std::collections::BTreeMap;

use k8s_openapi::api::admissionregistration::v1::{
    MatchCondition, MatchResources, NamedRuleWithOperations, ValidatingAdmissionPolicy,
    ValidatingAdmissionPolicyBinding, ValidatingAdmissionPolicyBindingSpec,
    ValidatingAdmissionPolicySpec, Validation, Variable,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};

use super::{join_docs, to_yaml};
use crate::policy::assignments::{AssignTarget, Mode};
use crate::policy::profiles::{Origin, Profile};
use crate::policy::pss::{self, Level, LevelVersion, Version};

/// What a ValidatingAdmissionPolicy can be written for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyKind {
    Baseline,
    Restricted,
    /// `restricted` plus a read-only root filesystem and a user ID of 1000–65535.
    Strict,
}

impl PolicyKind {
    /// The policy for `profile`, or why there is none (in words).
    pub fn of(profile: &Profile) -> Result<PolicyKind, String> {
        if profile.origin == Origin::Preset && profile.name == "strict" {
            return Ok(PolicyKind::Strict);
        }
        let level = match (profile.origin, profile.level) {
            (Origin::Level, Some(lv)) if profile.policies.is_empty() => lv,
            _ => {
                return Err(format!(
                    "No ValidatingAdmissionPolicy: {} is not baseline, restricted or strict, \
                     and CEL cannot express a PodSecurityPolicy-style profile; the Portcullis \
                     webhook enforces it.",
                    profile.name
                ));
            }
        };
        if level.version != Version::Latest {
            return Err(format!(
                "No ValidatingAdmissionPolicy for {level}: the policy is written for latest only."
            ));
        }
        match level.level {
            Level::Privileged => {
                Err("No ValidatingAdmissionPolicy: privileged has nothing to check.".to_owned())
            }
            Level::Baseline => Ok(PolicyKind::Baseline),
            Level::Restricted => Ok(PolicyKind::Restricted),
        }
    }

    /// The name the profile goes by: `baseline`, `restricted`, `strict`.
    pub fn name(self) -> &'static str {
        match self {
            PolicyKind::Baseline => "baseline",
            PolicyKind::Restricted => "restricted",
            PolicyKind::Strict => "strict",
        }
    }

    fn level(self) -> Level {
        match self {
            PolicyKind::Baseline => Level::Baseline,
            PolicyKind::Restricted | PolicyKind::Strict => Level::Restricted,
        }
    }
}

/// One check in CEL: `expression` is true when the pod passes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CelCheck {
    /// The pod-security-admission check ID (`hostNamespaces`), or the strict
    /// control (`readOnlyRootFilesystem`, `runAsUserRange`).
    pub id: &'static str,
    pub expression: String,
    /// The reason and what passes, in pod-security-admission's words.
    pub requirement: &'static str,
}

// ---------------------------------------------------------------------------------------------
// Variables

/// The kinds the policy admits, with the resource and group each is served as.
pub const KINDS: [(&str, &str, &str); 8] = [
    ("Pod", "", "pods"),
    ("Deployment", "apps", "deployments"),
    ("ReplicaSet", "apps", "replicasets"),
    ("StatefulSet", "apps", "statefulsets"),
    ("DaemonSet", "apps", "daemonsets"),
    ("Job", "batch", "jobs"),
    ("CronJob", "batch", "cronjobs"),
    ("ReplicationController", "", "replicationcontrollers"),
];

/// The policy's variables, in order (each may use the ones before it).
pub fn variables() -> Vec<(&'static str, String)> {
    let t = "object.spec.template";
    let cj = "object.spec.jobTemplate.spec.template";
    vec![
        (
            "podMeta",
            format!(
                "object.kind == 'Pod' ? object.metadata : \
                 (object.kind == 'CronJob' ? (has({cj}.metadata) ? {cj}.metadata : {{}}) : \
                 (has({t}.metadata) ? {t}.metadata : {{}}))"
            ),
        ),
        (
            "podSpec",
            format!(
                "object.kind == 'Pod' ? object.spec : \
                 (object.kind == 'CronJob' ? {cj}.spec : {t}.spec)"
            ),
        ),
        (
            "annotations",
            "has(variables.podMeta.annotations) ? variables.podMeta.annotations : {}".to_owned(),
        ),
        (
            "podSC",
            "has(variables.podSpec.securityContext) ? variables.podSpec.securityContext : {}"
                .to_owned(),
        ),
        (
            "containers",
            "(has(variables.podSpec.initContainers) ? variables.podSpec.initContainers : []) + \
             (has(variables.podSpec.containers) ? variables.podSpec.containers : []) + \
             (has(variables.podSpec.ephemeralContainers) ? variables.podSpec.ephemeralContainers : [])"
                .to_owned(),
        ),
        (
            "securityContexts",
            "variables.containers.map(c, has(c.securityContext) ? c.securityContext : {})"
                .to_owned(),
        ),
        (
            "volumes",
            "has(variables.podSpec.volumes) ? variables.podSpec.volumes : []".to_owned(),
        ),
        (
            "windows",
            "has(variables.podSpec.os) && has(variables.podSpec.os.name) && \
             variables.podSpec.os.name == 'windows'"
                .to_owned(),
        ),
        (
            "userNamespace",
            "has(variables.podSpec.hostUsers) && variables.podSpec.hostUsers == false".to_owned(),
        ),
    ]
}

// ---------------------------------------------------------------------------------------------
// Expression helpers

/// `field` absent or false.
fn not_true(obj: &str, field: &str) -> String {
    format!("(!has({obj}.{field}) || {obj}.{field} == false)")
}

/// A CEL list of string literals.
fn list(items: &[&str]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| cel_string(s)).collect();
    format!("[{}]", quoted.join(", "))
}

/// A CEL string literal (single quotes; `\` and `'` escaped, control
/// characters as `\xHH`).
pub fn cel_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

const PSC: &str = "variables.podSC";
const SCS: &str = "variables.securityContexts";
const TYPES_RUNTIME_OR_LOCAL: [&str; 2] = ["RuntimeDefault", "Localhost"];

/// A seccomp or AppArmor profile object `p` whose `type` is allowed.
fn profile_type_ok(p: &str) -> String {
    format!(
        "(has({p}.type) && {p}.type in {})",
        list(&TYPES_RUNTIME_OR_LOCAL)
    )
}

/// A probe or lifecycle handler `h` that names no host.
fn handler_no_host(h: &str) -> String {
    format!(
        "((!has({h}.httpGet) || !has({h}.httpGet.host) || {h}.httpGet.host == '') && \
         (!has({h}.tcpSocket) || !has({h}.tcpSocket.host) || {h}.tcpSocket.host == ''))"
    )
}

fn se_linux_ok(o: &str) -> String {
    format!(
        "((!has({o}.type) || {o}.type in {}) && (!has({o}.user) || {o}.user == '') && \
         (!has({o}.role) || {o}.role == ''))",
        list(&[
            "",
            "container_t",
            "container_init_t",
            "container_kvm_t",
            "container_engine_t"
        ])
    )
}

const DEFAULT_CAPABILITIES: [&str; 13] = [
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
];

/// Every sysctl the latest baseline allows (a unit test keeps it in step with
/// `pss::checks::sysctl_allowed_since`).
use crate::model::effective::SAFE_SYSCTLS;

/// Volume sources restricted allows.
pub const ALLOWED_VOLUMES: [&str; 9] = [
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

// ---------------------------------------------------------------------------------------------
// The checks

fn check(id: &'static str, requirement: &'static str, expression: String) -> CelCheck {
    CelCheck {
        id,
        expression,
        requirement,
    }
}

/// The Pod Security checks of `level` at `latest`, in upstream's order
/// (baseline IDs sorted, then restricted), restricted's overrides applied.
pub fn pss_checks(level: Level) -> Vec<CelCheck> {
    let mut sysctls: Vec<&str> = SAFE_SYSCTLS.to_vec();
    sysctls.sort_unstable();
    let baseline = vec![
        check(
            "appArmorProfile",
            "forbidden AppArmor profile (pod and containers must not set AppArmor profile type to anything but \"RuntimeDefault\" or \"Localhost\")",
            format!(
                "(!has({PSC}.appArmorProfile) || {}) && \
                 {SCS}.all(sc, !has(sc.appArmorProfile) || {}) && \
                 variables.annotations.all(k, !k.startsWith('container.apparmor.security.beta.kubernetes.io/') || \
                 variables.annotations[k] == '' || variables.annotations[k] == 'runtime/default' || \
                 variables.annotations[k].startsWith('localhost/'))",
                profile_type_ok(&format!("{PSC}.appArmorProfile")),
                profile_type_ok("sc.appArmorProfile"),
            ),
        ),
        check(
            "capabilities_baseline",
            "non-default capabilities (containers must not add capabilities beyond the default set in securityContext.capabilities.add)",
            format!(
                "{SCS}.all(sc, !has(sc.capabilities) || !has(sc.capabilities.add) || \
                 sc.capabilities.add.all(c, c in {}))",
                list(&DEFAULT_CAPABILITIES)
            ),
        ),
        check(
            "hostNamespaces",
            "host namespaces (hostNetwork, hostPID and hostIPC must not be set to true)",
            format!(
                "{} && {} && {}",
                not_true("variables.podSpec", "hostNetwork"),
                not_true("variables.podSpec", "hostPID"),
                not_true("variables.podSpec", "hostIPC")
            ),
        ),
        check(
            "hostPathVolumes",
            "hostPath volumes (volumes must not use hostPath)",
            "variables.volumes.all(v, !has(v.hostPath))".to_owned(),
        ),
        check(
            "hostPorts",
            "hostPort (containers must not use hostPorts)",
            "variables.containers.all(c, !has(c.ports) || \
             c.ports.all(p, !has(p.hostPort) || p.hostPort == 0))"
                .to_owned(),
        ),
        check(
            "hostProbesAndHostLifecycle",
            "probe or lifecycle host (probes and lifecycle handlers must not set a host)",
            format!(
                "variables.containers.all(c, (!has(c.livenessProbe) || {}) && \
                 (!has(c.readinessProbe) || {}) && (!has(c.startupProbe) || {}) && \
                 (!has(c.lifecycle) || ((!has(c.lifecycle.postStart) || {}) && \
                 (!has(c.lifecycle.preStop) || {}))))",
                handler_no_host("c.livenessProbe"),
                handler_no_host("c.readinessProbe"),
                handler_no_host("c.startupProbe"),
                handler_no_host("c.lifecycle.postStart"),
                handler_no_host("c.lifecycle.preStop"),
            ),
        ),
        check(
            "privileged",
            "privileged (containers must not set securityContext.privileged=true)",
            format!("{SCS}.all(sc, {})", not_true("sc", "privileged")),
        ),
        check(
            "procMount",
            "procMount (containers must not set securityContext.procMount to anything but \"Default\", unless the pod uses a user namespace)",
            format!(
                "variables.userNamespace || \
                 {SCS}.all(sc, !has(sc.procMount) || sc.procMount == 'Default')"
            ),
        ),
        check(
            "seLinuxOptions",
            "seLinuxOptions (pod and containers must not set a forbidden securityContext.seLinuxOptions type, a user or a role)",
            format!(
                "(!has({PSC}.seLinuxOptions) || {}) && \
                 {SCS}.all(sc, !has(sc.seLinuxOptions) || {})",
                se_linux_ok(&format!("{PSC}.seLinuxOptions")),
                se_linux_ok("sc.seLinuxOptions")
            ),
        ),
        check(
            "seccompProfile_baseline",
            "seccompProfile (pod and containers must not set securityContext.seccompProfile.type to anything but \"RuntimeDefault\" or \"Localhost\")",
            format!(
                "(!has({PSC}.seccompProfile) || {}) && \
                 {SCS}.all(sc, !has(sc.seccompProfile) || {})",
                profile_type_ok(&format!("{PSC}.seccompProfile")),
                profile_type_ok("sc.seccompProfile")
            ),
        ),
        check(
            "sysctls",
            "forbidden sysctls (only the safe sysctls may be set)",
            format!(
                "!has({PSC}.sysctls) || {PSC}.sysctls.all(s, s.name in {})",
                list(&sysctls)
            ),
        ),
        check(
            "windowsHostProcess",
            "hostProcess (pod and containers must not set securityContext.windowsOptions.hostProcess=true)",
            format!(
                "(!has({PSC}.windowsOptions) || {}) && \
                 {SCS}.all(sc, !has(sc.windowsOptions) || {})",
                not_true(&format!("{PSC}.windowsOptions"), "hostProcess"),
                not_true("sc.windowsOptions", "hostProcess")
            ),
        ),
    ];
    if level == Level::Baseline {
        return baseline;
    }
    if level == Level::Privileged {
        return Vec::new();
    }
    let overridden = [
        "capabilities_baseline",
        "hostPathVolumes",
        "procMount",
        "seccompProfile_baseline",
    ];
    let mut out: Vec<CelCheck> = baseline
        .into_iter()
        .filter(|c| !overridden.contains(&c.id))
        .collect();
    let pod_non_root = format!("(has({PSC}.runAsNonRoot) && {PSC}.runAsNonRoot == true)");
    let pod_seccomp_ok = format!(
        "(has({PSC}.seccompProfile) && {})",
        profile_type_ok(&format!("{PSC}.seccompProfile"))
    );
    out.extend([
        check(
            "allowPrivilegeEscalation",
            "allowPrivilegeEscalation != false (containers must set securityContext.allowPrivilegeEscalation=false)",
            format!(
                "variables.windows || \
                 {SCS}.all(sc, has(sc.allowPrivilegeEscalation) && sc.allowPrivilegeEscalation == false)"
            ),
        ),
        check(
            "capabilities_restricted",
            "unrestricted capabilities (containers must set securityContext.capabilities.drop=[\"ALL\"] and may add only \"NET_BIND_SERVICE\")",
            format!(
                "variables.windows || {SCS}.all(sc, has(sc.capabilities) && \
                 has(sc.capabilities.drop) && 'ALL' in sc.capabilities.drop && \
                 (!has(sc.capabilities.add) || sc.capabilities.add.all(c, c == 'NET_BIND_SERVICE')))"
            ),
        ),
        check(
            "procMount_restricted",
            "procMount (containers must not set securityContext.procMount to anything but \"Default\")",
            format!("{SCS}.all(sc, !has(sc.procMount) || sc.procMount == 'Default')"),
        ),
        check(
            "restrictedVolumes",
            "restricted volume types (volumes must be configMap, csi, downwardAPI, emptyDir, ephemeral, image, persistentVolumeClaim, projected or secret)",
            format!(
                "variables.volumes.all(v, {})",
                ALLOWED_VOLUMES
                    .iter()
                    .map(|t| format!("has(v.{t})"))
                    .collect::<Vec<_>>()
                    .join(" || ")
            ),
        ),
        check(
            "runAsNonRoot",
            "runAsNonRoot != true (pod or containers must set securityContext.runAsNonRoot=true, unless the pod uses a user namespace)",
            format!(
                "variables.userNamespace || ((!has({PSC}.runAsNonRoot) || {PSC}.runAsNonRoot == true) && \
                 {SCS}.all(sc, has(sc.runAsNonRoot) ? sc.runAsNonRoot == true : {pod_non_root}))"
            ),
        ),
        check(
            "runAsUser",
            "runAsUser=0 (pod and containers must not set runAsUser=0, unless the pod uses a user namespace)",
            format!(
                "variables.userNamespace || ((!has({PSC}.runAsUser) || {PSC}.runAsUser != 0) && \
                 {SCS}.all(sc, !has(sc.runAsUser) || sc.runAsUser != 0))"
            ),
        ),
        check(
            "seccompProfile_restricted",
            "seccompProfile (pod or containers must set securityContext.seccompProfile.type to \"RuntimeDefault\" or \"Localhost\")",
            format!(
                "variables.windows || ((!has({PSC}.seccompProfile) || {}) && \
                 {SCS}.all(sc, has(sc.seccompProfile) ? {} : {pod_seccomp_ok}))",
                profile_type_ok(&format!("{PSC}.seccompProfile")),
                profile_type_ok("sc.seccompProfile")
            ),
        ),
    ]);
    out.sort_by_key(|c| (is_restricted_id(c.id), c.id));
    out
}

/// Upstream reports baseline check IDs first, then restricted ones.
fn is_restricted_id(id: &str) -> bool {
    !pss::check_ids(LevelVersion::latest(Level::Baseline)).any(|b| b == id)
}

/// What `strict` adds to restricted, as PodSecurityPolicy words it.
pub fn strict_checks() -> Vec<CelCheck> {
    vec![
        check(
            "readOnlyRootFilesystem",
            "readOnlyRootFilesystem (containers must set securityContext.readOnlyRootFilesystem=true)",
            format!(
                "{SCS}.all(sc, has(sc.readOnlyRootFilesystem) && sc.readOnlyRootFilesystem == true)"
            ),
        ),
        check(
            "runAsUserRange",
            "runAsUser (containers must run as a user ID from 1000 to 65535, set in the container's or the pod's securityContext.runAsUser)",
            format!(
                "{SCS}.all(sc, has(sc.runAsUser) ? (sc.runAsUser >= 1000 && sc.runAsUser <= 65535) : \
                 (has({PSC}.runAsUser) && {PSC}.runAsUser >= 1000 && {PSC}.runAsUser <= 65535))"
            ),
        ),
    ]
}

/// Every check of a policy kind.
pub fn checks(kind: PolicyKind) -> Vec<CelCheck> {
    let mut out = pss_checks(kind.level());
    if kind == PolicyKind::Strict {
        out.extend(strict_checks());
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Objects

/// A Kubernetes object name from free text: lowercase letters, digits and `-`
/// (anything else becomes `-`), at most 253 characters, ending in a letter or digit.
pub fn object_name(parts: &[&str]) -> String {
    let mut out = String::new();
    for p in parts {
        if !out.is_empty() {
            out.push('-');
        }
        for c in p.chars() {
            let c = c.to_ascii_lowercase();
            out.push(if c.is_ascii_alphanumeric() { c } else { '-' });
        }
    }
    let mut name: String = out.chars().take(253).collect();
    while name.ends_with('-') {
        name.pop();
    }
    name
}

fn labels() -> Option<BTreeMap<String, String>> {
    Some(BTreeMap::from([(
        "app.kubernetes.io/managed-by".to_owned(),
        "portcullis".to_owned(),
    )]))
}

/// The resource rules of the policy: Pods (and their ephemeral containers) and
/// the seven workload kinds, on CREATE and UPDATE.
pub fn resource_rules() -> Vec<NamedRuleWithOperations> {
    let mut by_group: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (_, group, resource) in KINDS {
        by_group.entry(group).or_default().push(resource.to_owned());
    }
    if let Some(core) = by_group.get_mut("") {
        core.insert(1, "pods/ephemeralcontainers".to_owned());
    }
    by_group
        .into_iter()
        .map(|(group, resources)| NamedRuleWithOperations {
            api_groups: Some(vec![group.to_owned()]),
            api_versions: Some(vec!["v1".to_owned()]),
            operations: Some(vec!["CREATE".to_owned(), "UPDATE".to_owned()]),
            resources: Some(resources),
            ..Default::default()
        })
        .collect()
}

/// `s` as a regular expression matching exactly `s` (RE2 syntax).
fn regex_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if r"\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// For a workload target: the object is the workload, or is owned by it, or is
/// a pod of its ReplicaSets (Deployment: `<name>-<pod-template-hash>`) or
/// Jobs (CronJob: `<name>-<scheduled minute>`).
fn workload_condition(ns: &str, kind: &str, name: &str) -> String {
    let (k, n) = (cel_string(kind), cel_string(name));
    let owned =
        "has(object.metadata.ownerReferences) && object.metadata.ownerReferences.exists(o, ";
    let mut expr = format!(
        "object.metadata.namespace == {ns} && ((object.kind == {k} && object.metadata.name == {n}) || \
         ({owned}o.kind == {k} && o.name == {n}))",
        ns = cel_string(ns),
    );
    match kind {
        "Deployment" => expr.push_str(&format!(
            " || (object.kind == 'Pod' && has(object.metadata.labels) && \
             'pod-template-hash' in object.metadata.labels && \
             {owned}o.kind == 'ReplicaSet' && o.name == {n} + '-' + object.metadata.labels['pod-template-hash']))"
        )),
        "CronJob" => expr.push_str(&format!(
            " || (object.kind == 'Pod' && {owned}o.kind == 'Job' && o.name.matches({})))",
            cel_string(&format!("^{}-[0-9]+$", regex_escape(name)))
        )),
        _ => {}
    }
    expr.push(')');
    expr
}

/// The ValidatingAdmissionPolicy and its binding for `kind` in `mode` on `target`.
pub fn objects(
    kind: PolicyKind,
    target: &AssignTarget,
    mode: Mode,
) -> (ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding) {
    let profile = match kind {
        PolicyKind::Strict => "strict".to_owned(),
        k => format!("{}:latest", k.name()),
    };
    let prefix = match kind {
        PolicyKind::Strict => format!("violates Portcullis profile {profile:?}: "),
        _ => format!("violates PodSecurity {profile:?}: "),
    };
    let validations = checks(kind)
        .into_iter()
        .map(|c| Validation {
            expression: c.expression,
            message: Some(format!("{prefix}{}", c.requirement)),
            reason: Some("Forbidden".to_owned()),
            ..Default::default()
        })
        .collect();
    let variables = variables()
        .into_iter()
        .map(|(name, expression)| Variable {
            name: name.to_owned(),
            expression,
        })
        .collect();

    let (policy_name, match_conditions, target_slug) = match target {
        AssignTarget::Workload(k) => (
            object_name(&["portcullis", kind.name(), &k.namespace, &k.kind, &k.name]),
            Some(vec![MatchCondition {
                name: "is-the-workload-or-its-pods".to_owned(),
                expression: workload_condition(&k.namespace, &k.kind, &k.name),
            }]),
            object_name(&[&k.namespace, &k.kind, &k.name]),
        ),
        AssignTarget::Namespace(ns) => (
            object_name(&["portcullis", kind.name()]),
            None,
            object_name(&["ns", ns]),
        ),
        AssignTarget::Cluster => (
            object_name(&["portcullis", kind.name()]),
            None,
            "cluster".to_owned(),
        ),
    };
    let policy = ValidatingAdmissionPolicy {
        metadata: ObjectMeta {
            name: Some(policy_name.clone()),
            labels: labels(),
            ..Default::default()
        },
        spec: Some(ValidatingAdmissionPolicySpec {
            failure_policy: Some("Fail".to_owned()),
            match_constraints: Some(MatchResources {
                resource_rules: Some(resource_rules()),
                ..Default::default()
            }),
            match_conditions,
            variables: Some(variables),
            validations: Some(validations),
            ..Default::default()
        }),
        status: None,
    };

    let namespace_selector = target.namespace().map(|ns| LabelSelector {
        match_labels: Some(BTreeMap::from([(
            "kubernetes.io/metadata.name".to_owned(),
            ns.to_owned(),
        )])),
        ..Default::default()
    });
    let action = match mode {
        Mode::Enforce => "Deny",
        Mode::Warn => "Warn",
        Mode::Audit => "Audit",
    };
    let binding = ValidatingAdmissionPolicyBinding {
        metadata: ObjectMeta {
            name: Some(object_name(&[&policy_name, mode.as_str(), &target_slug])),
            labels: labels(),
            ..Default::default()
        },
        spec: ValidatingAdmissionPolicyBindingSpec {
            policy_name,
            validation_actions: vec![action.to_owned()],
            match_resources: namespace_selector.map(|sel| MatchResources {
                namespace_selector: Some(sel),
                ..Default::default()
            }),
            ..Default::default()
        },
    };
    (policy, binding)
}

/// The policy and its binding as two YAML documents.
pub fn policy_yaml(kind: PolicyKind, target: &AssignTarget, mode: Mode) -> String {
    let (policy, binding) = objects(kind, target, mode);
    join_docs(&[to_yaml(&policy), to_yaml(&binding)])
}
