//! PodSecurityPolicy object validation (what the apiserver checked on create),
//! plus what building the policy's strategies would reject, so that an imported
//! profile is never silently skipped at admission.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::spec::{
    ALL, APPARMOR_ALLOWED_ANNOTATION, APPARMOR_DEFAULT_ANNOTATION, FS_TYPES, GROUP_RULES, IdRange,
    Profile, RUN_AS_GROUP_RULES, SE_LINUX_RULES, SECCOMP_ALLOWED_ANNOTATION,
    SECCOMP_DEFAULT_ANNOTATION, USER_RULES,
};

/// One problem with a policy: the field (`spec.runAsUser.rule`) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpecError {
    pub field: String,
    pub message: String,
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

struct Out(Vec<SpecError>);

impl Out {
    fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(SpecError {
            field: field.into(),
            message: message.into(),
        });
    }
}

/// "A, B or C".
pub(crate) fn one_of(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// Checks a profile the way the apiserver validated a PodSecurityPolicy
/// (Kubernetes 1.21–1.24), and that its strategies can be built. Empty when valid.
pub fn validate(profile: &Profile) -> Vec<SpecError> {
    let mut out = Out(Vec::new());
    let spec = &profile.spec;

    if profile.name.is_empty() {
        out.add("metadata.name", "required");
    }
    annotations(profile, &mut out);

    // Strategies: rules, ranges, options.
    rule(
        &mut out,
        "spec.runAsUser",
        &spec.run_as_user.rule,
        &USER_RULES,
        true,
    );
    ranges(&mut out, "spec.runAsUser", &spec.run_as_user.ranges);
    if spec.run_as_user.rule == "MustRunAs" && spec.run_as_user.ranges.is_empty() {
        out.add(
            "spec.runAsUser.ranges",
            "at least one range is required when the rule is MustRunAs",
        );
    }
    if let Some(g) = &spec.run_as_group {
        group(
            &mut out,
            "spec.runAsGroup",
            &g.rule,
            &g.ranges,
            &RUN_AS_GROUP_RULES,
        );
    }
    group(
        &mut out,
        "spec.supplementalGroups",
        &spec.supplemental_groups.rule,
        &spec.supplemental_groups.ranges,
        &GROUP_RULES,
    );
    group(
        &mut out,
        "spec.fsGroup",
        &spec.fs_group.rule,
        &spec.fs_group.ranges,
        &GROUP_RULES,
    );
    rule(
        &mut out,
        "spec.seLinux",
        &spec.se_linux.rule,
        &SE_LINUX_RULES,
        true,
    );
    if spec.se_linux.rule == "MustRunAs" && spec.se_linux.se_linux_options.is_none() {
        out.add(
            "spec.seLinux.seLinuxOptions",
            "required when the rule is MustRunAs",
        );
    }

    // Volumes.
    for (i, v) in spec.volumes.iter().enumerate() {
        if v == ALL || FS_TYPES.contains(&v.as_str()) {
            continue;
        }
        let field = format!("spec.volumes[{i}]");
        if v.eq_ignore_ascii_case("none") {
            out.add(
                field,
                format!(
                    "unsupported value {v:?}: PodSecurityPolicy has no \"none\" volume type (it is an \
                     OpenShift SCC value); an empty or omitted list already allows no volumes"
                ),
            );
        } else {
            out.add(
                field,
                format!(
                    "unsupported value {v:?}; expected one of {}, or *",
                    FS_TYPES.join(", ")
                ),
            );
        }
    }

    // Host ports.
    for (i, r) in spec.host_ports.iter().enumerate() {
        let field = format!("spec.hostPorts[{i}]");
        for (name, v) in [("min", r.min), ("max", r.max)] {
            if !(0..=65535).contains(&v) {
                out.add(format!("{field}.{name}"), format!("{v} is outside 0-65535"));
            }
        }
        if r.min > r.max {
            out.add(
                field,
                format!("min {} is greater than max {}", r.min, r.max),
            );
        }
    }

    // Capabilities.
    if !spec.required_drop_capabilities.is_empty()
        && spec.allowed_capabilities.iter().any(|c| c == ALL)
    {
        out.add(
            "spec.requiredDropCapabilities",
            "must be empty when allowedCapabilities contains \"*\"",
        );
    }
    for (list, name) in [
        (&spec.default_add_capabilities, "defaultAddCapabilities"),
        (&spec.allowed_capabilities, "allowedCapabilities"),
    ] {
        for (i, cap) in list.iter().enumerate() {
            if spec.required_drop_capabilities.contains(cap) {
                out.add(
                    format!("spec.{name}[{i}]"),
                    format!("{cap:?} is also in requiredDropCapabilities"),
                );
            }
        }
    }

    // Privilege escalation.
    if spec.default_allow_privilege_escalation == Some(true)
        && spec.allow_privilege_escalation == Some(false)
    {
        out.add(
            "spec.defaultAllowPrivilegeEscalation",
            "cannot be true when allowPrivilegeEscalation is false",
        );
    }

    // Host paths, flex volumes, CSI drivers.
    for (i, p) in spec.allowed_host_paths.iter().enumerate() {
        let field = format!("spec.allowedHostPaths[{i}].pathPrefix");
        if p.path_prefix.is_empty() {
            out.add(field, "required");
        } else if p.path_prefix.split('/').any(|s| s == "..") {
            out.add(
                field,
                format!("{:?} must not contain \"..\"", p.path_prefix),
            );
        }
    }
    for (i, f) in spec.allowed_flex_volumes.iter().enumerate() {
        if f.driver.is_empty() {
            out.add(format!("spec.allowedFlexVolumes[{i}].driver"), "required");
        }
    }
    for (i, d) in spec.allowed_csi_drivers.iter().enumerate() {
        if d.name.is_empty() {
            out.add(format!("spec.allowedCSIDrivers[{i}].name"), "required");
        }
    }

    // Sysctls.
    sysctls(
        &mut out,
        "spec.allowedUnsafeSysctls",
        &spec.allowed_unsafe_sysctls,
    );
    sysctls(&mut out, "spec.forbiddenSysctls", &spec.forbidden_sysctls);
    sysctl_overlap(
        &mut out,
        &spec.allowed_unsafe_sysctls,
        &spec.forbidden_sysctls,
    );

    // Proc mount types.
    for (i, t) in spec.allowed_proc_mount_types.iter().enumerate() {
        if t != "Default" && t != "Unmasked" {
            out.add(
                format!("spec.allowedProcMountTypes[{i}]"),
                format!("unsupported value {t:?}; expected Default or Unmasked"),
            );
        }
    }

    // Runtime class.
    if let Some(rc) = &spec.runtime_class {
        let names = &rc.allowed_runtime_class_names;
        let all = names.iter().any(|n| n == ALL);
        for (i, n) in names.iter().enumerate() {
            if n != ALL && !is_dns_subdomain(n) {
                out.add(
                    format!("spec.runtimeClass.allowedRuntimeClassNames[{i}]"),
                    format!("{n:?} is not a valid RuntimeClass name (a lowercase DNS subdomain)"),
                );
            }
        }
        if all && names.len() > 1 {
            out.add(
                "spec.runtimeClass.allowedRuntimeClassNames",
                "\"*\" must be the only entry",
            );
        }
        if let Some(d) = &rc.default_runtime_class_name {
            let field = "spec.runtimeClass.defaultRuntimeClassName";
            if !is_dns_subdomain(d) {
                out.add(
                    field,
                    format!("{d:?} is not a valid RuntimeClass name (a lowercase DNS subdomain)"),
                );
            } else if !all && !names.contains(d) {
                out.add(field, format!("{d:?} is not in allowedRuntimeClassNames"));
            }
        }
    }

    out.0
}

fn rule(out: &mut Out, path: &str, rule: &str, allowed: &[&str], required: bool) {
    if rule.is_empty() {
        if required {
            out.add(
                format!("{path}.rule"),
                format!("required; expected {}", one_of(allowed)),
            );
        }
        return;
    }
    if !allowed.contains(&rule) {
        out.add(
            format!("{path}.rule"),
            format!("unsupported value {rule:?}; expected {}", one_of(allowed)),
        );
    }
}

fn group(out: &mut Out, path: &str, r: &str, rs: &[IdRange], allowed: &[&str]) {
    rule(out, path, r, allowed, true);
    ranges(out, path, rs);
    if (r == "MustRunAs" || r == "MayRunAs") && rs.is_empty() {
        out.add(
            format!("{path}.ranges"),
            format!("at least one range is required when the rule is {r}"),
        );
    }
}

fn ranges(out: &mut Out, path: &str, ranges: &[IdRange]) {
    for (i, r) in ranges.iter().enumerate() {
        let field = format!("{path}.ranges[{i}]");
        if r.min < 0 {
            out.add(format!("{field}.min"), format!("{} is negative", r.min));
        }
        if r.max < 0 {
            out.add(format!("{field}.max"), format!("{} is negative", r.max));
        }
        if r.min > r.max {
            out.add(
                field,
                format!("min {} is greater than max {}", r.min, r.max),
            );
        }
    }
}

fn annotations(profile: &Profile, out: &mut Out) {
    let get = |k: &str| profile.annotations.get(k).map(String::as_str);
    let field = |k: &str| format!("metadata.annotations[{k}]");
    const SECCOMP: &str = "runtime/default, docker/default, unconfined or localhost/<path>";
    const APPARMOR: &str = "runtime/default, unconfined or localhost/<profile>";

    if let Some(p) = get(SECCOMP_DEFAULT_ANNOTATION).filter(|p| !p.is_empty())
        && !valid_seccomp(p)
    {
        out.add(
            field(SECCOMP_DEFAULT_ANNOTATION),
            format!("{p:?} is not a valid seccomp profile; expected {SECCOMP}"),
        );
    }
    if let Some(list) = get(SECCOMP_ALLOWED_ANNOTATION).filter(|p| !p.is_empty()) {
        for p in list.split(',') {
            if p != ALL && !valid_seccomp(p) {
                out.add(
                    field(SECCOMP_ALLOWED_ANNOTATION),
                    format!(
                        "{p:?} is not a valid seccomp profile; expected {SECCOMP}, or * for any"
                    ),
                );
            }
        }
    }
    if let Some(p) = get(APPARMOR_DEFAULT_ANNOTATION).filter(|p| !p.is_empty())
        && !valid_apparmor(p)
    {
        out.add(
            field(APPARMOR_DEFAULT_ANNOTATION),
            format!("{p:?} is not a valid AppArmor profile; expected {APPARMOR}"),
        );
    }
    if let Some(list) = get(APPARMOR_ALLOWED_ANNOTATION).filter(|p| !p.is_empty()) {
        for p in list.split(',') {
            if p == ALL {
                out.add(
                    field(APPARMOR_ALLOWED_ANNOTATION),
                    "AppArmor has no \"*\" wildcard; list the allowed profiles, or remove the \
                     annotation to allow any",
                );
            } else if !valid_apparmor(p) {
                out.add(
                    field(APPARMOR_ALLOWED_ANNOTATION),
                    format!("{p:?} is not a valid AppArmor profile; expected {APPARMOR}"),
                );
            }
        }
    }
}

fn valid_seccomp(p: &str) -> bool {
    match p {
        "runtime/default" | "docker/default" | "unconfined" => true,
        _ => p.strip_prefix("localhost/").is_some_and(|path| {
            !path.is_empty() && !path.starts_with('/') && !path.split('/').any(|s| s == "..")
        }),
    }
}

fn valid_apparmor(p: &str) -> bool {
    matches!(p, "" | "runtime/default" | "unconfined") || p.starts_with("localhost/")
}

fn sysctls(out: &mut Out, path: &str, list: &[String]) {
    let mut all = false;
    for (i, s) in list.iter().enumerate() {
        if !is_sysctl_pattern(s) {
            out.add(
                format!("{path}[{i}]"),
                format!(
                    "{s:?} is not a valid sysctl pattern: a sysctl name (lowercase segments \
                     separated by . or /), optionally ending in *, or * alone"
                ),
            );
        } else if s.starts_with('*') {
            all = true;
        }
    }
    if all && list.len() > 1 {
        out.add(path, "if \"*\" is present, no other sysctl may be listed");
    }
}

/// Upstream's `validatePodSecurityPolicySysctlListsDoNotOverlap`.
fn sysctl_overlap(out: &mut Out, allowed: &[String], forbidden: &[String]) {
    for (i, a) in allowed.iter().enumerate() {
        let a_prefix = a.strip_suffix('*');
        for (j, f) in forbidden.iter().enumerate() {
            let f_prefix = f.strip_suffix('*');
            let on_allowed = |out: &mut Out| {
                out.add(
                    format!("spec.allowedUnsafeSysctls[{i}]"),
                    format!("{a:?} overlaps with forbiddenSysctls {f:?}"),
                );
            };
            let on_forbidden = |out: &mut Out| {
                out.add(
                    format!("spec.forbiddenSysctls[{j}]"),
                    format!("{f:?} overlaps with allowedUnsafeSysctls {a:?}"),
                );
            };
            match (a_prefix, f_prefix) {
                (Some(ap), Some(fp)) => {
                    if ap.starts_with(fp) {
                        on_allowed(out);
                    } else if fp.starts_with(ap) {
                        on_forbidden(out);
                    }
                }
                (Some(ap), None) => {
                    if f.starts_with(ap) {
                        on_forbidden(out);
                    }
                }
                (None, Some(fp)) => {
                    if a.starts_with(fp) {
                        on_allowed(out);
                    }
                }
                (None, None) => {
                    if a == f {
                        on_allowed(out);
                    }
                }
            }
        }
    }
}

/// `(seg[./])*([a-z0-9][-_a-z0-9]*)?[a-z0-9*]` where
/// `seg = [a-z0-9]([-_a-z0-9]*[a-z0-9])?`, at most 253 characters.
pub(crate) fn is_sysctl_pattern(s: &str) -> bool {
    if s.is_empty() || s.len() > 253 {
        return false;
    }
    let alnum = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    let inner = |c: u8| alnum(c) || c == b'-' || c == b'_';
    let mut parts: Vec<&[u8]> = s.as_bytes().split(|&c| c == b'.' || c == b'/').collect();
    let Some(last) = parts.pop() else {
        return false;
    };
    let segment_ok = |seg: &[u8]| match seg {
        [] => false,
        [one] => alnum(*one),
        [first, mid @ .., end] => alnum(*first) && alnum(*end) && mid.iter().all(|&c| inner(c)),
    };
    let last_ok = match last {
        [] => false,
        [one] => alnum(*one) || *one == b'*',
        [first, mid @ .., end] => {
            alnum(*first) && (alnum(*end) || *end == b'*') && mid.iter().all(|&c| inner(c))
        }
    };
    last_ok && parts.into_iter().all(segment_ok)
}

/// A lowercase RFC 1123 subdomain, at most 253 characters.
pub(crate) fn is_dns_subdomain(s: &str) -> bool {
    let alnum = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|label| {
            let b = label.as_bytes();
            match b {
                [] => false,
                [one] => alnum(*one),
                [first, mid @ .., end] => {
                    alnum(*first) && alnum(*end) && mid.iter().all(|&c| alnum(c) || c == b'-')
                }
            }
        })
}
