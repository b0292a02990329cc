//! What a profile allows, control by control, in plain words: the rows of the
//! profiles page.

use serde::Serialize;

use super::Profile;
use crate::model::Control;
use crate::policy::psp::{
    self, APPARMOR_ALLOWED_ANNOTATION, APPARMOR_DEFAULT_ANNOTATION, IdRange,
    SECCOMP_ALLOWED_ANNOTATION, SECCOMP_DEFAULT_ANNOTATION,
};
use crate::policy::pss::Level;

/// What a profile says about one control.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ControlRule {
    pub control: Control,
    /// Plain words: "not allowed", "must drop ALL; may add only NET_BIND_SERVICE".
    pub words: String,
    /// Whether the profile limits this control at all.
    pub limits: bool,
}

fn rule(control: Control, words: impl Into<String>, limits: bool) -> ControlRule {
    ControlRule {
        control,
        words: words.into(),
        limits,
    }
}

/// The 16 controls, in `Control::ALL` order, as `profile` rules them.
pub fn describe(profile: &Profile) -> Vec<ControlRule> {
    let level = profile.level.map(|lv| level_rules(lv.level));
    let policies: Vec<Vec<ControlRule>> = profile.policies.iter().map(policy_rules).collect();
    Control::ALL
        .iter()
        .enumerate()
        .map(|(i, &control)| {
            let from_level = level.as_ref().map(|l| l[i].clone());
            let from_policies: Vec<&ControlRule> = policies.iter().map(|p| &p[i]).collect();
            let policy = match from_policies.as_slice() {
                [] => None,
                [one] => Some((*one).clone()),
                many => Some(rule(
                    control,
                    many.iter()
                        .zip(&profile.policies)
                        .map(|(r, p)| format!("{}: {}", p.name, r.words))
                        .collect::<Vec<_>>()
                        .join(" | "),
                    many.iter().all(|r| r.limits),
                )),
            };
            match (from_level, policy) {
                (Some(l), Some(p)) if p.limits && l.limits => {
                    rule(control, format!("{}; and {}", l.words, p.words), true)
                }
                (Some(_), Some(p)) if p.limits => p,
                (Some(l), _) => l,
                (None, Some(p)) => p,
                (None, None) => rule(control, "no limit", false),
            }
        })
        .collect()
}

/// A Pod Security Standards level (latest), control by control.
fn level_rules(level: Level) -> Vec<ControlRule> {
    let restricted = level == Level::Restricted;
    Control::ALL
        .iter()
        .map(|&c| {
            if level == Level::Privileged {
                return rule(c, "no limit", false);
            }
            match c {
                Control::Privileged => rule(c, "not allowed (nor Windows HostProcess)", true),
                Control::HostNamespaces => rule(c, "hostPID and hostIPC not allowed", true),
                Control::HostNetwork => rule(
                    c,
                    "hostNetwork and host ports not allowed; probes and lifecycle hooks may not name a host",
                    true,
                ),
                Control::Volumes if restricted => rule(
                    c,
                    "only configMap, csi, downwardAPI, emptyDir, ephemeral, image, persistentVolumeClaim, projected and secret",
                    true,
                ),
                Control::Volumes => rule(c, "any type except hostPath", false),
                Control::HostPath => rule(c, "not allowed", true),
                Control::FlexVolume if restricted => {
                    rule(c, "not allowed (not a restricted volume type)", true)
                }
                Control::FlexVolume => rule(c, "any driver", false),
                Control::FsGroup => rule(c, "any", false),
                Control::ReadOnlyRootFs => rule(c, "not required", false),
                Control::Users if restricted => rule(
                    c,
                    "must run as non-root (runAsNonRoot: true); runAsUser 0 not allowed",
                    true,
                ),
                Control::Users => rule(c, "any, root included", false),
                Control::PrivilegeEscalation if restricted => {
                    rule(c, "not allowed (allowPrivilegeEscalation: false required)", true)
                }
                Control::PrivilegeEscalation => rule(c, "not checked", false),
                Control::Capabilities if restricted => {
                    rule(c, "must drop ALL; may add only NET_BIND_SERVICE", true)
                }
                Control::Capabilities => rule(
                    c,
                    "may add only the runtime's defaults (AUDIT_WRITE, CHOWN, DAC_OVERRIDE, FOWNER, FSETID, KILL, MKNOD, NET_BIND_SERVICE, SETFCAP, SETGID, SETPCAP, SETUID, SYS_CHROOT)",
                    true,
                ),
                Control::SeLinux => rule(
                    c,
                    "type only container_t, container_init_t, container_kvm_t or container_engine_t; user and role may not be set",
                    true,
                ),
                Control::ProcMount => rule(c, "Default only (not Unmasked)", true),
                Control::AppArmor => rule(c, "RuntimeDefault or Localhost; not Unconfined", true),
                Control::Seccomp if restricted => {
                    rule(c, "RuntimeDefault or Localhost required", true)
                }
                Control::Seccomp => rule(c, "any but Unconfined", true),
                Control::Sysctls => rule(
                    c,
                    "only the namespaced safe set (kernel.shm_rmid_forced, net.ipv4.ip_local_port_range, net.ipv4.tcp_syncookies, …)",
                    true,
                ),
            }
        })
        .collect()
}

fn ranges(r: &[IdRange]) -> String {
    let parts: Vec<String> = r
        .iter()
        .map(|r| {
            if r.min == r.max {
                r.min.to_string()
            } else {
                format!("{}–{}", r.min, r.max)
            }
        })
        .collect();
    parts.join(", ")
}

fn group_words(rule_name: &str, r: &[IdRange], what: &str) -> (String, bool) {
    match rule_name {
        "MustRunAs" => (
            format!(
                "{what} must be in {} (set to {} when unset)",
                ranges(r),
                r.first().map_or(0, |r| r.min)
            ),
            true,
        ),
        "MayRunAs" => (format!("{what}, when set, in {}", ranges(r)), true),
        _ => ("any".to_owned(), false),
    }
}

fn list(v: &[String]) -> String {
    v.join(", ")
}

/// One PodSecurityPolicy, control by control.
fn policy_rules(p: &psp::Profile) -> Vec<ControlRule> {
    let s = &p.spec;
    let any_volume = s.volumes.iter().any(|v| v == "*");
    let volume_allowed = |t: &str| any_volume || s.volumes.iter().any(|v| v == t);
    let ann = |k: &str| p.annotations.get(k).map(String::as_str);
    Control::ALL
        .iter()
        .map(|&c| match c {
            Control::Privileged => {
                let rc = match &s.runtime_class {
                    Some(rc) if rc.allowed_runtime_class_names.iter().any(|n| n == "*") => {
                        String::new()
                    }
                    Some(rc) if rc.allowed_runtime_class_names.is_empty() => {
                        "; no runtime class may be named".into()
                    }
                    Some(rc) => format!(
                        "; runtime classes {}",
                        list(&rc.allowed_runtime_class_names)
                    ),
                    None => String::new(),
                };
                if s.privileged {
                    rule(c, format!("allowed{rc}"), !rc.is_empty())
                } else {
                    rule(c, format!("not allowed{rc}"), true)
                }
            }
            Control::HostNamespaces => match (s.host_pid, s.host_ipc) {
                (true, true) => rule(c, "hostPID and hostIPC allowed", false),
                (true, false) => rule(c, "hostPID allowed; hostIPC not allowed", true),
                (false, true) => rule(c, "hostIPC allowed; hostPID not allowed", true),
                (false, false) => rule(c, "hostPID and hostIPC not allowed", true),
            },
            Control::HostNetwork => {
                let ports = if s.host_ports.is_empty() {
                    "no host ports".to_owned()
                } else if s.host_ports.iter().any(|r| r.min <= 1 && r.max >= 65535) {
                    "any host port".to_owned()
                } else {
                    let r: Vec<String> = s
                        .host_ports
                        .iter()
                        .map(|r| {
                            if r.min == r.max {
                                r.min.to_string()
                            } else {
                                format!("{}–{}", r.min, r.max)
                            }
                        })
                        .collect();
                    format!("host ports {}", r.join(", "))
                };
                let net = if s.host_network {
                    "hostNetwork allowed"
                } else {
                    "hostNetwork not allowed"
                };
                let open = s.host_network && ports == "any host port";
                rule(c, format!("{net}; {ports}"), !open)
            }
            Control::Volumes => {
                if any_volume {
                    rule(c, "any type", !s.allowed_csi_drivers.is_empty())
                } else if s.volumes.is_empty() {
                    rule(c, "none", true)
                } else {
                    let mut w = format!("only {}", list(&s.volumes));
                    if !s.allowed_csi_drivers.is_empty() {
                        let d: Vec<String> = s
                            .allowed_csi_drivers
                            .iter()
                            .map(|d| d.name.clone())
                            .collect();
                        w.push_str(&format!("; inline CSI drivers {}", list(&d)));
                    }
                    rule(c, w, true)
                }
            }
            Control::HostPath => {
                if !volume_allowed("hostPath") {
                    rule(c, "not allowed", true)
                } else if s.allowed_host_paths.is_empty() {
                    rule(c, "any path, writable", false)
                } else {
                    let paths: Vec<String> = s
                        .allowed_host_paths
                        .iter()
                        .map(|h| {
                            format!(
                                "{}{}",
                                h.path_prefix,
                                if h.read_only { " (read-only)" } else { "" }
                            )
                        })
                        .collect();
                    rule(c, format!("only under {}", list(&paths)), true)
                }
            }
            Control::FlexVolume => {
                if !volume_allowed("flexVolume") {
                    rule(c, "not allowed", true)
                } else if s.allowed_flex_volumes.is_empty() {
                    rule(c, "any driver", false)
                } else {
                    let d: Vec<String> = s
                        .allowed_flex_volumes
                        .iter()
                        .map(|d| d.driver.clone())
                        .collect();
                    rule(c, format!("only drivers {}", list(&d)), true)
                }
            }
            Control::FsGroup => {
                let (w, l) = group_words(&s.fs_group.rule, &s.fs_group.ranges, "fsGroup");
                rule(c, w, l)
            }
            Control::ReadOnlyRootFs => {
                if s.read_only_root_filesystem {
                    rule(c, "required (set to true when unset)", true)
                } else {
                    rule(c, "not required", false)
                }
            }
            Control::Users => {
                let mut parts = Vec::new();
                let mut limits = false;
                match s.run_as_user.rule.as_str() {
                    "MustRunAs" => {
                        limits = true;
                        parts.push(format!(
                            "user ID must be in {} (set to {} when unset)",
                            ranges(&s.run_as_user.ranges),
                            s.run_as_user.ranges.first().map_or(0, |r| r.min)
                        ));
                    }
                    "MustRunAsNonRoot" => {
                        limits = true;
                        parts.push(
                            "must run as non-root (runAsNonRoot: true set when unset)".into(),
                        );
                    }
                    _ => parts.push("any user".into()),
                }
                if let Some(g) = &s.run_as_group {
                    let (w, l) = group_words(&g.rule, &g.ranges, "group");
                    limits |= l;
                    if l {
                        parts.push(w);
                    }
                }
                let (w, l) = group_words(
                    &s.supplemental_groups.rule,
                    &s.supplemental_groups.ranges,
                    "supplemental groups",
                );
                limits |= l;
                if l {
                    parts.push(w);
                }
                rule(c, parts.join("; "), limits)
            }
            Control::PrivilegeEscalation => {
                let default = match s.default_allow_privilege_escalation {
                    Some(false) => " (set to false when unset)",
                    Some(true) => " (set to true when unset)",
                    None => "",
                };
                if s.allow_privilege_escalation == Some(false) {
                    rule(c, "not allowed (set to false when unset)", true)
                } else {
                    rule(c, format!("allowed{default}"), false)
                }
            }
            Control::Capabilities => {
                if s.allowed_capabilities.iter().any(|c| c == "*") {
                    let mut w = "any may be added".to_owned();
                    if !s.default_add_capabilities.is_empty() {
                        w.push_str(&format!(
                            "; {} added by default",
                            list(&s.default_add_capabilities)
                        ));
                    }
                    return rule(c, w, false);
                }
                let mut parts = Vec::new();
                if !s.required_drop_capabilities.is_empty() {
                    parts.push(format!("must drop {}", list(&s.required_drop_capabilities)));
                }
                let mut may: Vec<String> = s.allowed_capabilities.clone();
                may.extend(s.default_add_capabilities.iter().cloned());
                if may.is_empty() {
                    parts.push("none may be added".into());
                } else {
                    parts.push(format!("may add only {}", list(&may)));
                }
                if !s.default_add_capabilities.is_empty() {
                    parts.push(format!(
                        "{} added by default",
                        list(&s.default_add_capabilities)
                    ));
                }
                rule(c, parts.join("; "), true)
            }
            Control::SeLinux => match (&*s.se_linux.rule, &s.se_linux.se_linux_options) {
                ("MustRunAs", Some(o)) => {
                    let mut f = Vec::new();
                    for (k, v) in [
                        ("user", &o.user),
                        ("role", &o.role),
                        ("type", &o.type_),
                        ("level", &o.level),
                    ] {
                        if let Some(v) = v {
                            f.push(format!("{k} {v}"));
                        }
                    }
                    rule(
                        c,
                        format!("must be exactly {} (set when unset)", f.join(", ")),
                        true,
                    )
                }
                _ => rule(c, "any", false),
            },
            Control::ProcMount => {
                if s.allowed_proc_mount_types.iter().any(|t| t == "Unmasked") {
                    rule(c, "Default or Unmasked", false)
                } else {
                    rule(c, "Default only (not Unmasked)", true)
                }
            }
            Control::AppArmor => match ann(APPARMOR_ALLOWED_ANNOTATION) {
                None => rule(c, "any", false),
                Some(a) => {
                    let d = ann(APPARMOR_DEFAULT_ANNOTATION)
                        .map(|d| format!(" ({d} when unset)"))
                        .unwrap_or_default();
                    rule(c, format!("only {}{d}", a.replace(',', ", ")), true)
                }
            },
            Control::Seccomp => match ann(SECCOMP_ALLOWED_ANNOTATION) {
                None => rule(c, "no profile may be set", true),
                Some(a) if a.split(',').any(|p| p == "*") => {
                    let d = ann(SECCOMP_DEFAULT_ANNOTATION)
                        .map(|d| format!(" ({d} when unset)"))
                        .unwrap_or_default();
                    rule(c, format!("any{d}"), false)
                }
                Some(a) => {
                    let d = ann(SECCOMP_DEFAULT_ANNOTATION)
                        .map(|d| format!(" ({d} when unset)"))
                        .unwrap_or_default();
                    rule(c, format!("only {}{d}", a.replace(',', ", ")), true)
                }
            },
            Control::Sysctls => {
                let any = s.allowed_unsafe_sysctls.iter().any(|x| x == "*");
                let mut w = if any {
                    "any".to_owned()
                } else if s.allowed_unsafe_sysctls.is_empty() {
                    "only the safe set".to_owned()
                } else {
                    format!("the safe set and {}", list(&s.allowed_unsafe_sysctls))
                };
                if !s.forbidden_sysctls.is_empty() {
                    w.push_str(&format!("; never {}", list(&s.forbidden_sysctls)));
                }
                rule(c, w, !any || !s.forbidden_sysctls.is_empty())
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(p: &Profile, c: Control) -> ControlRule {
        describe(p)
            .into_iter()
            .find(|r| r.control == c)
            .expect("every control")
    }

    #[test]
    fn every_profile_has_sixteen_rows() {
        for p in Profile::presets() {
            let rows = describe(&p);
            assert_eq!(rows.len(), 16, "{}", p.name);
            assert!(rows.iter().all(|r| !r.words.is_empty()), "{}", p.name);
        }
    }

    #[test]
    fn privileged_limits_nothing_restricted_limits_users() {
        let p = Profile::preset("privileged").expect("preset");
        assert!(describe(&p).iter().all(|r| !r.limits));
        let r = Profile::preset("restricted").expect("preset");
        assert!(words(&r, Control::Users).limits);
        assert!(!words(&r, Control::ReadOnlyRootFs).limits);
    }

    #[test]
    fn strict_adds_its_policy_to_restricted() {
        let s = Profile::preset("strict").expect("preset");
        let ro = words(&s, Control::ReadOnlyRootFs);
        assert!(ro.limits && ro.words.starts_with("required"), "{ro:?}");
        let users = words(&s, Control::Users);
        assert!(users.words.contains("1000–65535"), "{users:?}");
        assert!(users.words.contains("non-root"), "{users:?}");
        // The policy half leaves privileged open; restricted's words show.
        assert_eq!(
            words(&s, Control::Privileged).words,
            "not allowed (nor Windows HostProcess)"
        );
    }

    #[test]
    fn node_agent_in_words() {
        let n = Profile::preset("node-agent").expect("preset");
        assert_eq!(
            words(&n, Control::HostPath).words,
            "only under /proc (read-only), /sys (read-only)"
        );
        assert_eq!(
            words(&n, Control::HostNamespaces).words,
            "hostPID allowed; hostIPC not allowed"
        );
        assert!(
            words(&n, Control::Capabilities)
                .words
                .contains("must drop ALL")
        );
    }
}
