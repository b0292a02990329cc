//! Tighten or loosen one control of a profile, for the what-if: the profile
//! becomes a custom one ([`Profile::to_custom`]) whose PodSecurityPolicy half
//! is edited. Only what can be made exact is offered:
//!
//! - tightening adds a requirement to the policy half, which is checked on
//!   top of the level, so it is exact for every profile;
//! - loosening edits the policy half only, so it is refused when the
//!   profile's Pod Security level checks that control itself (the level
//!   would still reject it).
//!
//! Pure: no IO.

use super::{Profile, psp};
use crate::model::Control;
use crate::policy::pss::Level;

/// `*`: every volume type or capability.
const ALL: &str = "*";

/// One control to tighten (`allow: false`) or loosen (`allow: true`), with an
/// optional value (a capability, a volume type, a host path prefix).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Adjustment {
    pub control: Control,
    pub allow: bool,
    pub value: Option<String>,
}

/// Why an adjustment cannot be made exactly: which part of it (`control` or
/// `value`) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsupported {
    pub field: &'static str,
    pub message: String,
}

fn unsupported(field: &'static str, message: impl Into<String>) -> Unsupported {
    Unsupported {
        field,
        message: message.into(),
    }
}

/// The controls [`adjust`] supports.
pub const ADJUSTABLE: [Control; 9] = [
    Control::Privileged,
    Control::HostNamespaces,
    Control::HostNetwork,
    Control::HostPath,
    Control::Volumes,
    Control::Capabilities,
    Control::PrivilegeEscalation,
    Control::ReadOnlyRootFs,
    Control::Users,
];

/// Whether Pod Security level `level` checks `control` itself.
pub fn level_checks(level: Level, control: Control) -> bool {
    use Control::*;
    let baseline = matches!(
        control,
        Privileged
            | HostNamespaces
            | HostNetwork
            | HostPath
            | Capabilities
            | SeLinux
            | ProcMount
            | AppArmor
            | Seccomp
            | Sysctls
    );
    match level {
        Level::Privileged => false,
        Level::Baseline => baseline,
        Level::Restricted => {
            baseline || matches!(control, Volumes | FlexVolume | PrivilegeEscalation | Users)
        }
    }
}

/// Every volume type a `*` stands for.
fn expand_volumes(volumes: &[String]) -> Vec<String> {
    if volumes.iter().any(|v| v == ALL) {
        psp::FS_TYPES
            .iter()
            .filter(|t| **t != ALL)
            .map(|t| (*t).to_owned())
            .collect()
    } else {
        volumes.to_vec()
    }
}

/// The profile with one control tightened or loosened, named after the
/// change (`restricted:latest, privileged allowed`).
pub fn adjust(profile: &Profile, a: &Adjustment) -> Result<Profile, Unsupported> {
    if profile.policies.len() > 1 {
        return Err(unsupported(
            "profile",
            format!(
                "{} holds several PodSecurityPolicies; adjust one custom profile instead",
                profile.name
            ),
        ));
    }
    if a.allow
        && let Some(lv) = profile.level
        && level_checks(lv.level, a.control)
    {
        return Err(unsupported(
            "control",
            format!(
                "{} checks {} through its Pod Security level {lv}, which would still reject it; loosen a profile without that level (a custom profile), or tighten instead",
                profile.name,
                a.control.slug()
            ),
        ));
    }
    let value = a.value.as_deref().map(str::trim).filter(|v| !v.is_empty());
    let words = format!(
        "{}{} {}",
        a.control.slug(),
        value.map(|v| format!(" {v}")).unwrap_or_default(),
        if a.allow { "allowed" } else { "forbidden" }
    );
    let name = format!("{}, {words}", profile.name);
    let mut custom = profile.to_custom(&name);
    let spec = &mut custom.policy.spec;
    let no_value = |what: &str| -> Result<(), Unsupported> {
        match value {
            Some(v) => Err(unsupported(
                "value",
                format!("{what} takes no value (got {v:?})"),
            )),
            None => Ok(()),
        }
    };
    match (a.control, a.allow) {
        (Control::Privileged, allow) => {
            no_value("privileged")?;
            spec.privileged = allow;
        }
        (Control::HostNamespaces, allow) => {
            no_value("host-namespaces")?;
            spec.host_pid = allow;
            spec.host_ipc = allow;
        }
        (Control::HostNetwork, allow) => {
            no_value("host-network")?;
            spec.host_network = allow;
            spec.host_ports = if allow {
                vec![psp::HostPortRange { min: 0, max: 65535 }]
            } else {
                Vec::new()
            };
        }
        (Control::HostPath, false) => {
            no_value("forbidding host-path")?;
            spec.volumes = expand_volumes(&spec.volumes)
                .into_iter()
                .filter(|v| v != "hostPath")
                .collect();
            spec.allowed_host_paths.clear();
        }
        (Control::HostPath, true) => {
            let had = spec.volumes.iter().any(|v| v == ALL || v == "hostPath");
            if !had {
                spec.volumes.push("hostPath".to_owned());
            }
            match value {
                // Only under this prefix (on top of those already allowed).
                Some(prefix) => {
                    if !prefix.starts_with('/') {
                        return Err(unsupported(
                            "value",
                            format!("a host path prefix starts with /, not {prefix:?}"),
                        ));
                    }
                    // With hostPath allowed and no prefixes, every path already is.
                    if !had || !spec.allowed_host_paths.is_empty() {
                        spec.allowed_host_paths.push(psp::AllowedHostPath {
                            path_prefix: prefix.to_owned(),
                            read_only: false,
                        });
                    }
                }
                None => spec.allowed_host_paths.clear(),
            }
        }
        (Control::Volumes, allow) => {
            let Some(t) = value else {
                return Err(unsupported(
                    "value",
                    "volumes needs a volume type as its value (e.g. hostPath, emptyDir)",
                ));
            };
            if !psp::FS_TYPES.contains(&t) || t == ALL {
                return Err(unsupported(
                    "value",
                    format!("{t:?} is not a volume type of PodSecurityPolicy"),
                ));
            }
            if allow {
                if !spec.volumes.iter().any(|v| v == ALL || v == t) {
                    spec.volumes.push(t.to_owned());
                }
            } else {
                spec.volumes = expand_volumes(&spec.volumes)
                    .into_iter()
                    .filter(|v| v != t)
                    .collect();
            }
        }
        (Control::Capabilities, allow) => {
            let Some(cap) = value.map(|c| c.to_uppercase().trim_start_matches("CAP_").to_owned())
            else {
                return Err(unsupported(
                    "value",
                    "capabilities needs a capability as its value (e.g. NET_ADMIN)",
                ));
            };
            if allow {
                if !spec
                    .allowed_capabilities
                    .iter()
                    .any(|c| c == ALL || *c == cap)
                {
                    spec.allowed_capabilities.push(cap.clone());
                }
                spec.required_drop_capabilities.retain(|c| *c != cap);
            } else {
                if spec.allowed_capabilities.iter().any(|c| c == ALL) {
                    return Err(unsupported(
                        "value",
                        format!(
                            "{} allows every capability (*); it cannot forbid one alone",
                            profile.name
                        ),
                    ));
                }
                spec.allowed_capabilities.retain(|c| *c != cap);
                spec.default_add_capabilities.retain(|c| *c != cap);
            }
        }
        (Control::PrivilegeEscalation, allow) => {
            no_value("privilege-escalation")?;
            spec.allow_privilege_escalation = Some(allow);
            if allow {
                spec.default_allow_privilege_escalation = None;
            }
        }
        (Control::ReadOnlyRootFs, allow) => {
            no_value("read-only-root-fs")?;
            // `allow` a writable root filesystem.
            spec.read_only_root_filesystem = !allow;
        }
        (Control::Users, allow) => {
            no_value("users")?;
            spec.run_as_user = psp::RunAsUserStrategyOptions {
                rule: if allow {
                    "RunAsAny"
                } else {
                    "MustRunAsNonRoot"
                }
                .to_owned(),
                ranges: Vec::new(),
            };
        }
        (other, _) => {
            return Err(unsupported(
                "control",
                format!(
                    "{} cannot be adjusted here yet; supported: privileged, host-namespaces, host-network, host-path, volumes, capabilities, privilege-escalation, read-only-root-fs, users",
                    other.slug()
                ),
            ));
        }
    }
    Ok(Profile::custom(&custom))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::pss::LevelVersion;

    fn adj(control: Control, allow: bool, value: Option<&str>) -> Adjustment {
        Adjustment {
            control,
            allow,
            value: value.map(str::to_owned),
        }
    }

    #[test]
    fn tightening_edits_the_policy_half_and_keeps_the_level() {
        let p = Profile::level(LevelVersion::latest(Level::Baseline));
        let t = adjust(&p, &adj(Control::Capabilities, false, Some("NET_RAW")));
        // allow-all allows every capability: forbidding one alone is refused.
        assert_eq!(t.map_err(|e| e.field), Err("value"));
        let t = adjust(&p, &adj(Control::Volumes, false, Some("hostPath"))).expect("volumes");
        assert_eq!(t.level, p.level);
        let spec = &t.policies[0].spec;
        assert!(!spec.volumes.iter().any(|v| v == "hostPath" || v == "*"));
        assert!(spec.volumes.iter().any(|v| v == "emptyDir"));
        assert_eq!(t.name, "baseline:latest, volumes hostPath forbidden");
    }

    #[test]
    fn loosening_is_refused_where_the_level_decides() {
        let table = [
            (Level::Baseline, Control::Privileged, true),
            (Level::Baseline, Control::Users, false),
            (Level::Restricted, Control::Users, true),
            (Level::Restricted, Control::ReadOnlyRootFs, false),
            (Level::Privileged, Control::Privileged, false),
        ];
        for (level, control, checked) in table {
            assert_eq!(
                level_checks(level, control),
                checked,
                "{level:?} {control:?}"
            );
            let p = Profile::level(LevelVersion::latest(level));
            let r = adjust(&p, &adj(control, true, None));
            assert_eq!(r.is_err(), checked, "{level:?} {control:?}: {r:?}");
        }
    }

    #[test]
    fn loosening_capabilities_adds_to_the_allowed_list() {
        let p = Profile::preset("node-agent").expect("preset");
        let l = adjust(&p, &adj(Control::Capabilities, true, Some("cap_net_admin"))).expect("ok");
        assert!(
            l.policies[0]
                .spec
                .allowed_capabilities
                .iter()
                .any(|c| c == "NET_ADMIN")
        );
        assert_eq!(l.level, None);
    }
}
