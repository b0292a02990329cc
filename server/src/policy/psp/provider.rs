//! One policy applied to one pod: its strategies, `MutatePod` (the generated
//! defaults) and `ValidatePod` (the checks, with PSP's exact error paths and
//! details). Order of checks and errors follows upstream `provider.go`.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::{
    Capabilities, PodSecurityContext, PodSpec, SELinuxOptions, SeccompProfile, SecurityContext,
    Volume,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::field::{Errors, FieldError, capability_slice, int64_slice, opt_bool, quote};
use super::pod::{ContainerRef, Effective, containers, security_contexts_mut};
use super::spec::{
    ALL, APPARMOR_ALLOWED_ANNOTATION, APPARMOR_CONTAINER_ANNOTATION_PREFIX,
    APPARMOR_DEFAULT_ANNOTATION, IdRange, PodSecurityPolicySpec, Profile, SAFE_SYSCTLS,
    SECCOMP_ALLOWED_ANNOTATION, SECCOMP_CONTAINER_ANNOTATION_PREFIX, SECCOMP_DEFAULT_ANNOTATION,
    SECCOMP_POD_ANNOTATION,
};
use crate::model::Control;

// ---------------------------------------------------------------------------------------------
// Strategies

enum UserStrategy {
    MustRunAs(Vec<IdRange>),
    NonRoot,
    Any,
}

enum GroupStrategy {
    MustRunAs(Vec<IdRange>),
    MayRunAs(Vec<IdRange>),
    Any,
}

enum SeLinuxStrategy {
    MustRunAs(SELinuxOptions),
    Any,
}

struct SeccompStrategy {
    default: String,
    allowed: BTreeSet<String>,
    allow_any: bool,
    /// The annotation text, for messages.
    allowed_text: String,
}

struct AppArmorStrategy {
    default: String,
    /// `None` without the annotation: anything is allowed.
    allowed: Option<BTreeSet<String>>,
    allowed_text: String,
}

/// Go `%v` of `[]policy.IDRange`: `[{1 2} {5 9}]`.
fn go_ranges(ranges: &[IdRange]) -> String {
    let items: Vec<String> = ranges
        .iter()
        .map(|r| format!("{{{} {}}}", r.min, r.max))
        .collect();
    format!("[{}]", items.join(" "))
}

fn in_ranges(ranges: &[IdRange], v: i64) -> bool {
    ranges.iter().any(|r| r.min <= v && v <= r.max)
}

impl UserStrategy {
    fn new(rule: &str, ranges: &[IdRange]) -> Result<Self, String> {
        match rule {
            "MustRunAs" if ranges.is_empty() => {
                Err("runAsUser: MustRunAs requires at least one range".into())
            }
            "MustRunAs" => Ok(Self::MustRunAs(ranges.to_vec())),
            "MustRunAsNonRoot" => Ok(Self::NonRoot),
            "RunAsAny" => Ok(Self::Any),
            other => Err(format!("unrecognized RunAsUser strategy type {other:?}")),
        }
    }

    fn generate(&self) -> Option<i64> {
        match self {
            Self::MustRunAs(r) => Some(r[0].min),
            Self::NonRoot | Self::Any => None,
        }
    }

    fn validate(&self, e: &mut Errors, sc_path: &str, non_root: Option<bool>, uid: Option<i64>) {
        match self {
            Self::Any => {}
            Self::MustRunAs(ranges) => match uid {
                None => e.required(Control::Users, format!("{sc_path}.runAsUser"), ""),
                Some(uid) if !in_ranges(ranges, uid) => e.invalid(
                    Control::Users,
                    format!("{sc_path}.runAsUser"),
                    uid.to_string(),
                    format!("must be in the ranges: {}", go_ranges(ranges)),
                ),
                Some(_) => {}
            },
            Self::NonRoot => {
                if non_root.is_none() && uid.is_none() {
                    e.required(
                        Control::Users,
                        format!("{sc_path}.runAsNonRoot"),
                        "must be true",
                    );
                } else if non_root == Some(false) {
                    e.invalid(
                        Control::Users,
                        format!("{sc_path}.runAsNonRoot"),
                        "false".into(),
                        "must be true".into(),
                    );
                } else if uid == Some(0) {
                    e.invalid(
                        Control::Users,
                        format!("{sc_path}.runAsUser"),
                        "0".into(),
                        "running with the root UID is forbidden".into(),
                    );
                }
            }
        }
    }
}

impl GroupStrategy {
    fn new(what: &str, rule: &str, ranges: &[IdRange]) -> Result<Self, String> {
        match rule {
            "MustRunAs" | "MayRunAs" if ranges.is_empty() => {
                Err(format!("{what}: {rule} requires at least one range"))
            }
            "MustRunAs" => Ok(Self::MustRunAs(ranges.to_vec())),
            "MayRunAs" => Ok(Self::MayRunAs(ranges.to_vec())),
            "RunAsAny" => Ok(Self::Any),
            other => Err(format!("unrecognized {what} strategy type {other:?}")),
        }
    }

    fn generate_single(&self) -> Option<i64> {
        match self {
            Self::MustRunAs(r) => Some(r[0].min),
            Self::MayRunAs(_) | Self::Any => None,
        }
    }

    fn generate(&self) -> Option<Vec<i64>> {
        self.generate_single().map(|g| vec![g])
    }

    fn validate(&self, e: &mut Errors, control: Control, path: &str, groups: Option<&[i64]>) {
        let ranges = match self {
            Self::Any => return,
            Self::MustRunAs(r) => {
                if groups.is_none_or(<[i64]>::is_empty) {
                    e.invalid(
                        control,
                        path.to_owned(),
                        int64_slice(groups),
                        "unable to validate empty groups against required ranges".into(),
                    );
                }
                r
            }
            Self::MayRunAs(r) => r,
        };
        for &g in groups.unwrap_or_default() {
            if !in_ranges(ranges, g) {
                e.invalid(
                    control,
                    path.to_owned(),
                    int64_slice(groups),
                    format!("group {g} must be in the ranges: {}", go_ranges(ranges)),
                );
            }
        }
    }
}

impl SeLinuxStrategy {
    fn new(rule: &str, opts: Option<&SELinuxOptions>) -> Result<Self, String> {
        match (rule, opts) {
            ("MustRunAs", Some(o)) => Ok(Self::MustRunAs(o.clone())),
            ("MustRunAs", None) => Err("seLinux: MustRunAs requires seLinuxOptions".into()),
            ("RunAsAny", _) => Ok(Self::Any),
            (other, _) => Err(format!(
                "unrecognized SELinuxContext strategy type {other:?}"
            )),
        }
    }

    fn generate(&self) -> Option<SELinuxOptions> {
        match self {
            Self::MustRunAs(o) => Some(o.clone()),
            Self::Any => None,
        }
    }

    fn validate(&self, e: &mut Errors, path: &str, got: Option<&SELinuxOptions>) {
        let Self::MustRunAs(want) = self else {
            return;
        };
        let Some(got) = got else {
            e.required(Control::SeLinux, path.to_owned(), "");
            return;
        };
        let s = |v: &Option<String>| v.as_deref().unwrap_or_default().to_owned();
        let fields = [
            ("level", &want.level, &got.level),
            ("role", &want.role, &got.role),
            ("type", &want.type_, &got.type_),
            ("user", &want.user, &got.user),
        ];
        for (name, w, g) in fields {
            let (w, g) = (s(w), s(g));
            let equal = if name == "level" {
                equal_levels(&w, &g)
            } else {
                w == g
            };
            if !equal {
                e.invalid(
                    Control::SeLinux,
                    format!("{path}.{name}"),
                    quote(&g),
                    format!("must be {w}"),
                );
            }
        }
    }
}

/// Equal strings, or `sens:cats` with equal sensitivities and the same
/// categories in any order.
pub(crate) fn equal_levels(expected: &str, actual: &str) -> bool {
    if expected == actual {
        return true;
    }
    let (Some((es, ec)), Some((as_, ac))) = (expected.split_once(':'), actual.split_once(':'))
    else {
        return false;
    };
    if es != as_ {
        return false;
    }
    let mut ec: Vec<&str> = ec.split(',').collect();
    let mut ac: Vec<&str> = ac.split(',').collect();
    ec.sort_unstable();
    ac.sort_unstable();
    ec == ac
}

/// The annotation form of a `seccompProfile` field ("" when it has none).
pub(crate) fn seccomp_annotation_for_field(p: &SeccompProfile) -> String {
    match p.type_.as_str() {
        "Unconfined" => "unconfined".into(),
        "RuntimeDefault" => "runtime/default".into(),
        "Localhost" => p
            .localhost_profile
            .as_deref()
            .map(|l| format!("localhost/{l}"))
            .unwrap_or_default(),
        _ => String::new(),
    }
}

impl SeccompStrategy {
    fn new(annotations: &BTreeMap<String, String>) -> Self {
        let mut allowed = BTreeSet::new();
        let mut allow_any = false;
        let allowed_text = annotations
            .get(SECCOMP_ALLOWED_ANNOTATION)
            .cloned()
            .unwrap_or_default();
        if annotations.contains_key(SECCOMP_ALLOWED_ANNOTATION) {
            for p in allowed_text.split(',') {
                if p == ALL {
                    allow_any = true;
                } else {
                    allowed.insert(p.to_owned());
                }
            }
        }
        Self {
            default: annotations
                .get(SECCOMP_DEFAULT_ANNOTATION)
                .cloned()
                .unwrap_or_default(),
            allowed,
            allow_any,
            allowed_text,
        }
    }

    /// The pod-level profile: the annotation, else the field's annotation form.
    fn pod_profile(annotations: &BTreeMap<String, String>, psc: &PodSecurityContext) -> String {
        match annotations.get(SECCOMP_POD_ANNOTATION) {
            Some(p) if !p.is_empty() => p.clone(),
            _ => psc
                .seccomp_profile
                .as_ref()
                .map(seccomp_annotation_for_field)
                .unwrap_or_default(),
        }
    }

    fn generate(&self, annotations: &BTreeMap<String, String>, psc: &PodSecurityContext) -> String {
        match Self::pod_profile(annotations, psc) {
            p if p.is_empty() => self.default.clone(),
            p => p,
        }
    }

    fn allowed(&self, profile: &str) -> bool {
        self.allow_any
            || (self.allowed.is_empty() && profile.is_empty())
            || self.allowed.contains(profile)
    }

    fn check(&self, e: &mut Errors, path: String, profile: &str) {
        if !self.allow_any && self.allowed.is_empty() && !profile.is_empty() {
            e.forbidden(Control::Seccomp, path, "seccomp may not be set".into());
        } else if !self.allowed(profile) {
            e.forbidden(
                Control::Seccomp,
                path,
                format!(
                    "{profile} is not an allowed seccomp profile. Valid values are {}",
                    self.allowed_text
                ),
            );
        }
    }

    fn validate_pod(
        &self,
        e: &mut Errors,
        ann: &BTreeMap<String, String>,
        psc: &PodSecurityContext,
    ) {
        let path = format!("pod.metadata.annotations[{SECCOMP_POD_ANNOTATION}]");
        self.check(e, path, &Self::pod_profile(ann, psc));
    }

    fn validate_container(
        &self,
        e: &mut Errors,
        ann: &BTreeMap<String, String>,
        psc: &PodSecurityContext,
        c: &ContainerRef,
    ) {
        let key = format!("{SECCOMP_CONTAINER_ANNOTATION_PREFIX}{}", c.name);
        let profile = match (
            c.sc.and_then(|sc| sc.seccomp_profile.as_ref()),
            ann.get(&key),
        ) {
            (Some(field), _) => seccomp_annotation_for_field(field),
            (None, Some(a)) => a.clone(),
            (None, None) => Self::pod_profile(ann, psc),
        };
        self.check(e, format!("pod.metadata.annotations[{key}]"), &profile);
    }
}

impl AppArmorStrategy {
    fn new(annotations: &BTreeMap<String, String>) -> Self {
        let allowed_text = annotations
            .get(APPARMOR_ALLOWED_ANNOTATION)
            .cloned()
            .unwrap_or_default();
        let allowed = annotations
            .contains_key(APPARMOR_ALLOWED_ANNOTATION)
            .then(|| allowed_text.split(',').map(str::to_owned).collect());
        Self {
            default: annotations
                .get(APPARMOR_DEFAULT_ANNOTATION)
                .cloned()
                .unwrap_or_default(),
            allowed,
            allowed_text,
        }
    }

    fn generate(&self, ann: &mut BTreeMap<String, String>, container: &str) {
        let key = format!("{APPARMOR_CONTAINER_ANNOTATION_PREFIX}{container}");
        if ann.get(&key).is_some_and(|p| !p.is_empty()) || self.default.is_empty() {
            return;
        }
        ann.insert(key, self.default.clone());
    }

    fn validate(&self, e: &mut Errors, ann: &BTreeMap<String, String>, container: &str) {
        let Some(allowed) = &self.allowed else {
            return;
        };
        let key = format!("{APPARMOR_CONTAINER_ANNOTATION_PREFIX}{container}");
        let path = format!("pod.metadata.annotations[{key}]");
        let profile = ann.get(&key).map(String::as_str).unwrap_or_default();
        if profile.is_empty() {
            if !allowed.is_empty() {
                e.forbidden(
                    Control::AppArmor,
                    path,
                    "AppArmor profile must be set".into(),
                );
            }
        } else if !allowed.contains(profile) {
            e.forbidden(
                Control::AppArmor,
                path,
                format!(
                    "{profile} is not an allowed profile. Allowed values: {}",
                    quote(&self.allowed_text)
                ),
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Provider

/// A policy whose strategies could be built: ready to mutate and validate pods.
pub(crate) struct Provider<'a> {
    pub name: &'a str,
    spec: &'a PodSecurityPolicySpec,
    user: UserStrategy,
    run_as_group: GroupStrategy,
    supplemental_groups: GroupStrategy,
    fs_group: GroupStrategy,
    se_linux: SeLinuxStrategy,
    seccomp: SeccompStrategy,
    apparmor: AppArmorStrategy,
}

impl<'a> Provider<'a> {
    /// Builds the strategies; fails the way upstream provider creation does
    /// (unknown rule, MustRunAs without ranges or options), so the policy is skipped.
    pub fn new(profile: &'a Profile) -> Result<Self, String> {
        let spec = &profile.spec;
        let run_as_group = match &spec.run_as_group {
            None => GroupStrategy::Any,
            Some(g) => GroupStrategy::new("RunAsGroup", &g.rule, &g.ranges)?,
        };
        Ok(Self {
            name: &profile.name,
            spec,
            user: UserStrategy::new(&spec.run_as_user.rule, &spec.run_as_user.ranges)?,
            run_as_group,
            supplemental_groups: GroupStrategy::new(
                "SupplementalGroups",
                &spec.supplemental_groups.rule,
                &spec.supplemental_groups.ranges,
            )?,
            fs_group: GroupStrategy::new("FSGroup", &spec.fs_group.rule, &spec.fs_group.ranges)?,
            se_linux: SeLinuxStrategy::new(
                &spec.se_linux.rule,
                spec.se_linux.se_linux_options.as_ref(),
            )?,
            seccomp: SeccompStrategy::new(&profile.annotations),
            apparmor: AppArmorStrategy::new(&profile.annotations),
        })
    }

    fn allow_privilege_escalation(&self) -> bool {
        self.spec.allow_privilege_escalation.unwrap_or(true)
    }

    /// `MutatePod`: writes the policy's generated defaults into unset fields.
    pub fn mutate(&self, meta: &mut ObjectMeta, spec: &mut PodSpec) {
        let had_annotations = meta.annotations.is_some();
        let mut ann = meta.annotations.take().unwrap_or_default();

        let psc = spec.security_context.get_or_insert_default();
        if psc.supplemental_groups.is_none() {
            psc.supplemental_groups = self.supplemental_groups.generate();
        }
        if psc.fs_group.is_none() {
            psc.fs_group = self.fs_group.generate_single();
        }
        if psc.se_linux_options.is_none() {
            psc.se_linux_options = self.se_linux.generate();
        }
        // Generated on the pod only; containers inherit it.
        let seccomp = self.seccomp.generate(&ann, psc);
        if !seccomp.is_empty() {
            ann.insert(SECCOMP_POD_ANNOTATION.to_owned(), seccomp);
        }
        let psc = psc.clone();

        if let Some(rc) = &self.spec.runtime_class
            && spec.runtime_class_name.is_none()
        {
            spec.runtime_class_name
                .clone_from(&rc.default_runtime_class_name);
        }

        for (name, sc) in security_contexts_mut(spec) {
            self.mutate_container(&psc, name, sc, &mut ann);
        }

        meta.annotations = (had_annotations || !ann.is_empty()).then_some(ann);
    }

    fn mutate_container(
        &self,
        pod: &PodSecurityContext,
        name: &str,
        sc: &mut Option<SecurityContext>,
        ann: &mut BTreeMap<String, String>,
    ) {
        let eff = |sc: &Option<SecurityContext>| {
            let e = Effective {
                pod,
                container: sc.as_ref(),
            };
            (
                e.run_as_user(),
                e.run_as_group(),
                e.run_as_non_root(),
                e.se_linux().cloned(),
            )
        };

        let (uid, _, _, _) = eff(sc);
        if uid.is_none() {
            set_effective(sc, self.user.generate(), uid, |c, v| c.run_as_user = v);
        }
        let (_, gid, _, _) = eff(sc);
        if gid.is_none() {
            set_effective(sc, self.run_as_group.generate_single(), gid, |c, v| {
                c.run_as_group = v;
            });
        }
        let (_, _, _, se) = eff(sc);
        if se.is_none() {
            set_effective(sc, self.se_linux.generate(), se, |c, v| {
                c.se_linux_options = v
            });
        }
        self.apparmor.generate(ann, name);

        let (uid, _, non_root, _) = eff(sc);
        if non_root.is_none() && uid.is_none() && matches!(self.user, UserStrategy::NonRoot) {
            set_effective(sc, Some(true), non_root, |c, v| c.run_as_non_root = v);
        }

        let caps = self.generate_capabilities(sc.as_ref().and_then(|c| c.capabilities.as_ref()));
        set_container(sc, caps, |c, v| c.capabilities = v);

        if self.spec.read_only_root_filesystem
            && sc
                .as_ref()
                .and_then(|c| c.read_only_root_filesystem)
                .is_none()
        {
            set_container(sc, Some(true), |c, v| c.read_only_root_filesystem = v);
        }
        if let Some(d) = self.spec.default_allow_privilege_escalation
            && sc
                .as_ref()
                .and_then(|c| c.allow_privilege_escalation)
                .is_none()
        {
            set_container(sc, Some(d), |c, v| c.allow_privilege_escalation = v);
        }
        if !self.allow_privilege_escalation()
            && sc
                .as_ref()
                .and_then(|c| c.allow_privilege_escalation)
                .is_none()
        {
            set_container(sc, Some(false), |c, v| c.allow_privilege_escalation = v);
        }
    }

    /// add = (defaultAdd − drop) ∪ add; drop = requiredDrop ∪ drop. Unchanged (the
    /// container's own value) when neither set grew; otherwise sorted lists.
    fn generate_capabilities(&self, own: Option<&Capabilities>) -> Option<Capabilities> {
        let set = |v: Option<&Vec<String>>| -> BTreeSet<String> {
            v.into_iter().flatten().cloned().collect()
        };
        let own_add = set(own.and_then(|c| c.add.as_ref()));
        let own_drop = set(own.and_then(|c| c.drop.as_ref()));
        let mut add: BTreeSet<String> = self
            .spec
            .default_add_capabilities
            .iter()
            .filter(|c| !own_drop.contains(*c))
            .cloned()
            .collect();
        add.extend(own_add.iter().cloned());
        let mut drop: BTreeSet<String> = self
            .spec
            .required_drop_capabilities
            .iter()
            .cloned()
            .collect();
        drop.extend(own_drop.iter().cloned());
        if add.len() == own_add.len() && drop.len() == own_drop.len() {
            return own.cloned();
        }
        let list = |s: BTreeSet<String>| (!s.is_empty()).then(|| s.into_iter().collect());
        Some(Capabilities {
            add: list(add),
            drop: list(drop),
        })
    }

    /// `ValidatePod`, on the (already mutated) pod.
    pub fn validate(&self, meta: &ObjectMeta, spec: &PodSpec) -> Vec<FieldError> {
        let mut e = Errors::new(self.name);
        let empty_psc = PodSecurityContext::default();
        let psc = spec.security_context.as_ref().unwrap_or(&empty_psc);
        let empty_ann = BTreeMap::new();
        let ann = meta.annotations.as_ref().unwrap_or(&empty_ann);
        let sc_path = "spec.securityContext";

        let fs_groups = psc.fs_group.map(|g| vec![g]);
        self.fs_group.validate(
            &mut e,
            Control::FsGroup,
            &format!("{sc_path}.fsGroup"),
            fs_groups.as_deref(),
        );
        self.supplemental_groups.validate(
            &mut e,
            Control::Users,
            &format!("{sc_path}.supplementalGroups"),
            psc.supplemental_groups.as_deref(),
        );
        self.seccomp.validate_pod(&mut e, ann, psc);
        self.se_linux.validate(
            &mut e,
            &format!("{sc_path}.seLinuxOptions"),
            psc.se_linux_options.as_ref(),
        );

        let host = [
            (
                self.spec.host_network,
                spec.host_network,
                "hostNetwork",
                "Host network",
                Control::HostNetwork,
            ),
            (
                self.spec.host_pid,
                spec.host_pid,
                "hostPID",
                "Host PID",
                Control::HostNamespaces,
            ),
            (
                self.spec.host_ipc,
                spec.host_ipc,
                "hostIPC",
                "Host IPC",
                Control::HostNamespaces,
            ),
        ];
        for (allowed, used, field, words, control) in host {
            if !allowed && used == Some(true) {
                e.invalid(
                    control,
                    format!("{sc_path}.{field}"),
                    "true".into(),
                    format!("{words} is not allowed to be used"),
                );
            }
        }

        self.validate_sysctls(&mut e, psc);
        let containers = containers(spec);
        self.validate_volumes(&mut e, spec, &containers);

        if let Some(rc) = &self.spec.runtime_class
            && let Some(name) = &spec.runtime_class_name
            && !rc
                .allowed_runtime_class_names
                .iter()
                .any(|n| n == ALL || n == name)
        {
            e.invalid(
                Control::Privileged,
                "spec.runtimeClassName".into(),
                quote(name),
                String::new(),
            );
        }

        for c in &containers {
            self.validate_container(&mut e, ann, psc, c);
        }
        e.list
    }

    fn validate_container(
        &self,
        e: &mut Errors,
        ann: &BTreeMap<String, String>,
        psc: &PodSecurityContext,
        c: &ContainerRef,
    ) {
        let eff = Effective {
            pod: psc,
            container: c.sc,
        };
        let sc_path = format!("{}.securityContext", c.path);

        self.user
            .validate(e, &sc_path, eff.run_as_non_root(), eff.run_as_user());
        let gids = eff.run_as_group().map(|g| vec![g]);
        // Upstream passes the securityContext path itself (no `.runAsGroup`).
        self.run_as_group
            .validate(e, Control::Users, &sc_path, gids.as_deref());
        self.se_linux
            .validate(e, &format!("{sc_path}.seLinuxOptions"), eff.se_linux());
        self.apparmor.validate(e, ann, c.name);
        self.seccomp.validate_container(e, ann, psc, c);

        if !self.spec.privileged && eff.privileged() == Some(true) {
            e.invalid(
                Control::Privileged,
                format!("{sc_path}.privileged"),
                "true".into(),
                "Privileged containers are not allowed".into(),
            );
        }

        let proc_mount = eff.proc_mount();
        let allowed_proc = if self.spec.allowed_proc_mount_types.is_empty() {
            proc_mount == "Default"
        } else {
            self.spec
                .allowed_proc_mount_types
                .iter()
                .any(|t| t == proc_mount)
        };
        if !allowed_proc {
            e.invalid(
                Control::ProcMount,
                format!("{sc_path}.procMount"),
                quote(proc_mount),
                "ProcMountType is not allowed".into(),
            );
        }

        self.validate_capabilities(
            e,
            &format!("{sc_path}.capabilities"),
            c.sc.and_then(|s| s.capabilities.as_ref()),
        );

        for p in c.ports {
            let port = p.host_port.unwrap_or(0);
            if port > 0
                && !self
                    .spec
                    .host_ports
                    .iter()
                    .any(|r| r.min <= port && port <= r.max)
            {
                e.invalid(
                    Control::HostNetwork,
                    format!("{}.hostPort", c.path),
                    port.to_string(),
                    format!(
                        "Host port {port} is not allowed to be used. Allowed ports: [{}]",
                        self.host_port_ranges()
                    ),
                );
            }
        }

        if self.spec.read_only_root_filesystem {
            match eff.read_only_root_filesystem() {
                None => e.invalid(
                    Control::ReadOnlyRootFs,
                    format!("{sc_path}.readOnlyRootFilesystem"),
                    "null".into(),
                    "ReadOnlyRootFilesystem may not be nil and must be set to true".into(),
                ),
                Some(false) => e.invalid(
                    Control::ReadOnlyRootFs,
                    format!("{sc_path}.readOnlyRootFilesystem"),
                    "false".into(),
                    "ReadOnlyRootFilesystem must be set to true".into(),
                ),
                Some(true) => {}
            }
        }

        let ape = eff.allow_privilege_escalation();
        if !self.allow_privilege_escalation() && ape != Some(false) {
            e.invalid(
                Control::PrivilegeEscalation,
                format!("{sc_path}.allowPrivilegeEscalation"),
                opt_bool(ape),
                "Allowing privilege escalation for containers is not allowed".into(),
            );
        }
    }

    fn validate_capabilities(&self, e: &mut Errors, path: &str, caps: Option<&Capabilities>) {
        let spec = self.spec;
        let Some(caps) = caps else {
            if !spec.default_add_capabilities.is_empty()
                || !spec.required_drop_capabilities.is_empty()
            {
                e.invalid(
                    Control::Capabilities,
                    path.to_owned(),
                    "null".into(),
                    "required capabilities are not set on the securityContext".into(),
                );
            }
            return;
        };
        if spec.allowed_capabilities.iter().any(|c| c == ALL) {
            return;
        }
        for cap in caps.add.iter().flatten() {
            if !spec.default_add_capabilities.contains(cap)
                && !spec.allowed_capabilities.contains(cap)
            {
                e.invalid(
                    Control::Capabilities,
                    format!("{path}.add"),
                    quote(cap),
                    "capability may not be added".into(),
                );
            }
        }
        let drop = caps.drop.as_deref().unwrap_or_default();
        for required in &spec.required_drop_capabilities {
            if !drop.contains(required) {
                e.invalid(
                    Control::Capabilities,
                    format!("{path}.drop"),
                    capability_slice(caps.drop.as_deref()),
                    format!("{required} is required to be dropped but was not found"),
                );
            }
        }
    }

    /// `1-10,443`: the allowed host port ranges as PSP prints them.
    fn host_port_ranges(&self) -> String {
        let items: Vec<String> = self
            .spec
            .host_ports
            .iter()
            .map(|r| {
                if r.min == r.max {
                    r.min.to_string()
                } else {
                    format!("{}-{}", r.min, r.max)
                }
            })
            .collect();
        items.join(",")
    }

    fn validate_sysctls(&self, e: &mut Errors, psc: &PodSecurityContext) {
        let matches = |patterns: &[String], name: &str| {
            patterns.iter().any(|p| match p.strip_suffix('*') {
                Some(prefix) => name.starts_with(prefix),
                None => p == name,
            })
        };
        for (i, s) in psc.sysctls.iter().flatten().enumerate() {
            // 1.20–1.24 sources print a leading `pod.` here.
            let path = format!("pod.spec.securityContext.sysctls[{i}]");
            if matches(&self.spec.forbidden_sysctls, &s.name) {
                e.forbidden(
                    Control::Sysctls,
                    path,
                    format!("sysctl {} is not allowed", quote(&s.name)),
                );
            } else if SAFE_SYSCTLS.contains(&s.name.as_str())
                || matches(&self.spec.allowed_unsafe_sysctls, &s.name)
            {
                continue;
            } else {
                e.forbidden(
                    Control::Sysctls,
                    path,
                    format!("unsafe sysctl {} is not allowed", quote(&s.name)),
                );
            }
        }
    }

    fn validate_volumes(&self, e: &mut Errors, spec: &PodSpec, containers: &[ContainerRef]) {
        let volumes = &self.spec.volumes;
        let allow_all = volumes.iter().any(|v| v == ALL);
        for (i, v) in spec.volumes.iter().flatten().enumerate() {
            let path = format!("spec.volumes[{i}]");
            let Some(fs_type) = volume_fs_type(v) else {
                e.invalid(
                    Control::Volumes,
                    path,
                    quote(""),
                    format!("unknown volume type for volume {}", quote(&v.name)),
                );
                continue;
            };
            if !allow_all && !allows_volume_type(volumes, fs_type, v) {
                e.invalid(
                    Control::Volumes,
                    path,
                    quote(fs_type),
                    format!("{fs_type} volumes are not allowed to be used"),
                );
                continue;
            }
            match fs_type {
                "hostPath" => {
                    let host_path = v
                        .host_path
                        .as_ref()
                        .map(|h| h.path.as_str())
                        .unwrap_or_default();
                    match self.allows_host_path(host_path) {
                        None => e.invalid(
                            Control::HostPath,
                            format!("{path}.hostPath.pathPrefix"),
                            quote(host_path),
                            "is not allowed to be used".into(),
                        ),
                        Some(true) => {
                            for c in containers {
                                for (j, m) in c.mounts.iter().enumerate() {
                                    if m.name == v.name && m.read_only != Some(true) {
                                        e.invalid(
                                            Control::HostPath,
                                            format!("{}.volumeMounts[{j}].readOnly", c.path),
                                            "false".into(),
                                            "must be read-only".into(),
                                        );
                                    }
                                }
                            }
                        }
                        Some(false) => {}
                    }
                }
                "flexVolume" => {
                    let driver = v
                        .flex_volume
                        .as_ref()
                        .map(|f| f.driver.as_str())
                        .unwrap_or_default();
                    let allowed = &self.spec.allowed_flex_volumes;
                    if !allowed.is_empty() && !allowed.iter().any(|a| a.driver == driver) {
                        e.invalid(
                            Control::FlexVolume,
                            format!("{path}.driver"),
                            quote(driver),
                            "Flexvolume driver is not allowed to be used".into(),
                        );
                    }
                }
                "csi" => {
                    let driver = v
                        .csi
                        .as_ref()
                        .map(|c| c.driver.as_str())
                        .unwrap_or_default();
                    let allowed = &self.spec.allowed_csi_drivers;
                    if !allowed.is_empty() && !allowed.iter().any(|a| a.name == driver) {
                        e.invalid(
                            Control::Volumes,
                            format!("{path}.csi.driver"),
                            quote(driver),
                            "Inline CSI driver is not allowed to be used".into(),
                        );
                    }
                }
                _ => {}
            }
        }
    }

    /// `None` when the path is not allowed; `Some(read_only_required)` otherwise.
    /// The first matching writable entry wins at once; otherwise any read-only match.
    fn allows_host_path(&self, path: &str) -> Option<bool> {
        let allowed = &self.spec.allowed_host_paths;
        if allowed.is_empty() {
            return Some(false);
        }
        let mut read_only = false;
        for a in allowed {
            if has_path_prefix(path, &a.path_prefix) {
                if !a.read_only {
                    return Some(false);
                }
                read_only = true;
            }
        }
        read_only.then_some(true)
    }
}

/// Writes `v` into a container field that may be inherited from the pod, only if it
/// differs from the effective value; creates the context only for a non-nil value.
fn set_effective<T: PartialEq>(
    sc: &mut Option<SecurityContext>,
    v: Option<T>,
    effective: Option<T>,
    set: impl FnOnce(&mut SecurityContext, Option<T>),
) {
    if v != effective {
        set_container(sc, v, set);
    }
}

/// Writes `v` into a container-only field; writing nil into a nil context is a no-op.
fn set_container<T>(
    sc: &mut Option<SecurityContext>,
    v: Option<T>,
    set: impl FnOnce(&mut SecurityContext, Option<T>),
) {
    if sc.is_none() && v.is_none() {
        return;
    }
    set(sc.get_or_insert_default(), v);
}

/// `hasPathPrefix`: one trailing `/` stripped from both; equal, or a prefix followed by `/`.
pub(crate) fn has_path_prefix(path: &str, prefix: &str) -> bool {
    let path = path.strip_suffix('/').unwrap_or(path);
    let prefix = prefix.strip_suffix('/').unwrap_or(prefix);
    match path.strip_prefix(prefix) {
        Some(rest) => rest.is_empty() || rest.starts_with('/'),
        None => false,
    }
}

/// The PSP volume type of a volume, in upstream's `GetVolumeFSType` order; `None`
/// for a volume with no source PSP knows (including the newer `image` volumes).
pub(crate) fn volume_fs_type(v: &Volume) -> Option<&'static str> {
    let types: [(bool, &'static str); 29] = [
        (v.host_path.is_some(), "hostPath"),
        (v.empty_dir.is_some(), "emptyDir"),
        (v.gce_persistent_disk.is_some(), "gcePersistentDisk"),
        (v.aws_elastic_block_store.is_some(), "awsElasticBlockStore"),
        (v.git_repo.is_some(), "gitRepo"),
        (v.secret.is_some(), "secret"),
        (v.nfs.is_some(), "nfs"),
        (v.iscsi.is_some(), "iscsi"),
        (v.glusterfs.is_some(), "glusterfs"),
        (v.persistent_volume_claim.is_some(), "persistentVolumeClaim"),
        (v.rbd.is_some(), "rbd"),
        (v.flex_volume.is_some(), "flexVolume"),
        (v.cinder.is_some(), "cinder"),
        (v.cephfs.is_some(), "cephFS"),
        (v.flocker.is_some(), "flocker"),
        (v.downward_api.is_some(), "downwardAPI"),
        (v.fc.is_some(), "fc"),
        (v.azure_file.is_some(), "azureFile"),
        (v.config_map.is_some(), "configMap"),
        (v.vsphere_volume.is_some(), "vsphereVolume"),
        (v.quobyte.is_some(), "quobyte"),
        (v.azure_disk.is_some(), "azureDisk"),
        (v.photon_persistent_disk.is_some(), "photonPersistentDisk"),
        (v.storageos.is_some(), "storageos"),
        (v.projected.is_some(), "projected"),
        (v.portworx_volume.is_some(), "portworxVolume"),
        (v.scale_io.is_some(), "scaleIO"),
        (v.csi.is_some(), "csi"),
        (v.ephemeral.is_some(), "ephemeral"),
    ];
    types.into_iter().find(|(set, _)| *set).map(|(_, t)| t)
}

/// The type is listed, or it is a projected volume of only the bound
/// service-account token sources and `secret` is listed.
fn allows_volume_type(allowed: &[String], fs_type: &str, v: &Volume) -> bool {
    if allowed.iter().any(|a| a == fs_type) {
        return true;
    }
    fs_type == "projected"
        && allowed.iter().any(|a| a == "secret")
        && v.projected.as_ref().is_some_and(|p| {
            p.sources.iter().flatten().all(|s| {
                if s.service_account_token.is_none()
                    && s.config_map.is_none()
                    && s.downward_api.is_none()
                {
                    return false;
                }
                if let Some(t) = &s.service_account_token
                    && (t.path != "token" || t.audience.as_deref().is_some_and(|a| !a.is_empty()))
                {
                    return false;
                }
                if let Some(cm) = &s.config_map
                    && cm.name != "kube-root-ca.crt"
                {
                    return false;
                }
                s.downward_api
                    .iter()
                    .flat_map(|d| d.items.iter().flatten())
                    .all(|item| {
                        item.path == "namespace"
                            && item.field_ref.as_ref().is_some_and(|f| {
                                f.api_version.as_deref().unwrap_or("v1") == "v1"
                                    && f.field_path == "metadata.namespace"
                            })
                    })
            })
        })
}
