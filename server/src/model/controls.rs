//! The 16 controls: the vocabulary of every view, profile, alert and message.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Control {
    Privileged,
    HostNamespaces,
    HostNetwork,
    Volumes,
    HostPath,
    FlexVolume,
    FsGroup,
    ReadOnlyRootFs,
    Users,
    PrivilegeEscalation,
    Capabilities,
    SeLinux,
    ProcMount,
    AppArmor,
    Seccomp,
    Sysctls,
}

impl Control {
    pub const ALL: [Control; 16] = [
        Control::Privileged,
        Control::HostNamespaces,
        Control::HostNetwork,
        Control::Volumes,
        Control::HostPath,
        Control::FlexVolume,
        Control::FsGroup,
        Control::ReadOnlyRootFs,
        Control::Users,
        Control::PrivilegeEscalation,
        Control::Capabilities,
        Control::SeLinux,
        Control::ProcMount,
        Control::AppArmor,
        Control::Seccomp,
        Control::Sysctls,
    ];

    /// Stable identifier used in URLs, JSON and the database.
    pub fn slug(self) -> &'static str {
        match self {
            Control::Privileged => "privileged",
            Control::HostNamespaces => "host-namespaces",
            Control::HostNetwork => "host-network",
            Control::Volumes => "volumes",
            Control::HostPath => "host-path",
            Control::FlexVolume => "flex-volume",
            Control::FsGroup => "fs-group",
            Control::ReadOnlyRootFs => "read-only-root-fs",
            Control::Users => "users",
            Control::PrivilegeEscalation => "privilege-escalation",
            Control::Capabilities => "capabilities",
            Control::SeLinux => "se-linux",
            Control::ProcMount => "proc-mount",
            Control::AppArmor => "app-armor",
            Control::Seccomp => "seccomp",
            Control::Sysctls => "sysctls",
        }
    }

    pub fn from_slug(s: &str) -> Option<Control> {
        Control::ALL.into_iter().find(|c| c.slug() == s)
    }

    /// Plain-words title shown in the grid.
    pub fn title(self) -> &'static str {
        match self {
            Control::Privileged => "Privileged",
            Control::HostNamespaces => "Host PID / IPC",
            Control::HostNetwork => "Host network and ports",
            Control::Volumes => "Volume types",
            Control::HostPath => "Host filesystem",
            Control::FlexVolume => "FlexVolume drivers",
            Control::FsGroup => "fsGroup",
            Control::ReadOnlyRootFs => "Read-only root filesystem",
            Control::Users => "User and group IDs",
            Control::PrivilegeEscalation => "Privilege escalation",
            Control::Capabilities => "Linux capabilities",
            Control::SeLinux => "SELinux",
            Control::ProcMount => "/proc mount",
            Control::AppArmor => "AppArmor",
            Control::Seccomp => "seccomp",
            Control::Sysctls => "sysctls",
        }
    }
}

/// How risky an effective setting is. Never shown by colour alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Risk {
    Safe,
    Risky,
    Dangerous,
}

impl Risk {
    pub fn word(self) -> &'static str {
        match self {
            Risk::Safe => "safe",
            Risk::Risky => "risky",
            Risk::Dangerous => "dangerous",
        }
    }

    /// A glyph with the word, so status is never shown by colour alone.
    pub fn badge(self) -> &'static str {
        match self {
            Risk::Safe => "✓ safe",
            Risk::Risky => "⚠ risky",
            Risk::Dangerous => "✗ dangerous",
        }
    }
}

/// Where an effective value comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SettingOrigin {
    Container,
    Pod,
    Annotation,
    Default,
}

impl SettingOrigin {
    pub fn word(self) -> &'static str {
        match self {
            SettingOrigin::Container => "container",
            SettingOrigin::Pod => "pod",
            SettingOrigin::Annotation => "annotation",
            SettingOrigin::Default => "default",
        }
    }
}

/// Risky settings counted on the overview and used as workload-list filters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RiskFlag {
    Privileged,
    HostNamespaces,
    HostNetwork,
    HostPorts,
    HostPath,
    AddedCapabilities,
    RunsAsRoot,
    WritableRootFs,
    PrivilegeEscalation,
    NoSeccomp,
    UnconfinedAppArmor,
    CustomSeLinux,
    UnmaskedProc,
    UnsafeSysctls,
    FlexVolume,
}

impl RiskFlag {
    pub const ALL: [RiskFlag; 15] = [
        RiskFlag::Privileged,
        RiskFlag::HostNamespaces,
        RiskFlag::HostNetwork,
        RiskFlag::HostPorts,
        RiskFlag::HostPath,
        RiskFlag::AddedCapabilities,
        RiskFlag::RunsAsRoot,
        RiskFlag::WritableRootFs,
        RiskFlag::PrivilegeEscalation,
        RiskFlag::NoSeccomp,
        RiskFlag::UnconfinedAppArmor,
        RiskFlag::CustomSeLinux,
        RiskFlag::UnmaskedProc,
        RiskFlag::UnsafeSysctls,
        RiskFlag::FlexVolume,
    ];

    pub fn slug(self) -> &'static str {
        match self {
            RiskFlag::Privileged => "privileged",
            RiskFlag::HostNamespaces => "host-namespaces",
            RiskFlag::HostNetwork => "host-network",
            RiskFlag::HostPorts => "host-ports",
            RiskFlag::HostPath => "host-path",
            RiskFlag::AddedCapabilities => "added-capabilities",
            RiskFlag::RunsAsRoot => "runs-as-root",
            RiskFlag::WritableRootFs => "writable-root-fs",
            RiskFlag::PrivilegeEscalation => "privilege-escalation",
            RiskFlag::NoSeccomp => "no-seccomp",
            RiskFlag::UnconfinedAppArmor => "unconfined-apparmor",
            RiskFlag::CustomSeLinux => "custom-selinux",
            RiskFlag::UnmaskedProc => "unmasked-proc",
            RiskFlag::UnsafeSysctls => "unsafe-sysctls",
            RiskFlag::FlexVolume => "flex-volume",
        }
    }

    pub fn from_slug(s: &str) -> Option<RiskFlag> {
        RiskFlag::ALL.into_iter().find(|c| c.slug() == s)
    }

    /// Plain words for the overview: "N containers are privileged".
    pub fn label(self) -> &'static str {
        match self {
            RiskFlag::Privileged => "privileged",
            RiskFlag::HostNamespaces => "share the host PID or IPC namespace",
            RiskFlag::HostNetwork => "use the host network",
            RiskFlag::HostPorts => "bind host ports",
            RiskFlag::HostPath => "mount host paths",
            RiskFlag::AddedCapabilities => "add Linux capabilities",
            RiskFlag::RunsAsRoot => "may run as root",
            RiskFlag::WritableRootFs => "have a writable root filesystem",
            RiskFlag::PrivilegeEscalation => "allow privilege escalation",
            RiskFlag::NoSeccomp => "run without a seccomp profile",
            RiskFlag::UnconfinedAppArmor => "run AppArmor unconfined",
            RiskFlag::CustomSeLinux => "set a custom SELinux type, user or role",
            RiskFlag::UnmaskedProc => "mount /proc unmasked",
            RiskFlag::UnsafeSysctls => "set unsafe sysctls",
            RiskFlag::FlexVolume => "use FlexVolume drivers",
        }
    }
}
