//! The Pod Security Standards (privileged, baseline, restricted; versions v1.0 to
//! latest), exact to the upstream `k8s.io/pod-security-admission` library at the
//! commit named in `shared/conformance/pod-security-admission/SOURCE.md`: the
//! same checks, version selection, overrides, order of results and messages.
//!
//! Pure: no IO. A pod that passes is evaluated without allocating.

mod checks;
#[cfg(test)]
mod tests;

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;
use std::sync::LazyLock;

use k8s_openapi::api::core::v1::PodSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::{Deserialize, Serialize};

use crate::model::Control;
use checks::CheckFn;

/// The newest policy version any check defines (set by `sysctls` at v1.37).
/// Newer versions, and `latest`, are evaluated as this one.
pub const MAX_VERSION: u32 = 37;

// ---------------------------------------------------------------------------------------------
// Level, Version, LevelVersion

/// A Pod Security Standards level, from the loosest to the strictest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Privileged,
    Baseline,
    Restricted,
}

impl Level {
    pub const ALL: [Level; 3] = [Level::Privileged, Level::Baseline, Level::Restricted];

    pub fn as_str(self) -> &'static str {
        match self {
            Level::Privileged => "privileged",
            Level::Baseline => "baseline",
            Level::Restricted => "restricted",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Level {
    type Err = ParseError;

    /// Exactly `privileged`, `baseline` or `restricted` (case-sensitive, like upstream).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "privileged" => Ok(Level::Privileged),
            "baseline" => Ok(Level::Baseline),
            "restricted" => Ok(Level::Restricted),
            _ => Err(ParseError::Level(s.to_owned())),
        }
    }
}

/// A policy version: `latest` or `v1.N`. `latest` is newer than every numbered version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    Latest,
    V1(u32),
}

impl Version {
    /// The minor version the checks are selected for: `latest` and anything newer
    /// than [`MAX_VERSION`] are lowered to it.
    pub fn effective_minor(self) -> u32 {
        match self {
            Version::Latest => MAX_VERSION,
            Version::V1(n) => n.min(MAX_VERSION),
        }
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Version::Latest, Version::Latest) => Ordering::Equal,
            (Version::Latest, Version::V1(_)) => Ordering::Greater,
            (Version::V1(_), Version::Latest) => Ordering::Less,
            (Version::V1(a), Version::V1(b)) => a.cmp(b),
        }
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Version::Latest => f.write_str("latest"),
            Version::V1(n) => write!(f, "v1.{n}"),
        }
    }
}

impl FromStr for Version {
    type Err = ParseError;

    /// `latest`, or `^v1\.(0|[1-9][0-9]*)$` (so `v1.05` and `v2.0` are invalid).
    /// Minor versions beyond `u32::MAX` are rejected (upstream accepts up to the
    /// Go `int` range; both clamp to [`MAX_VERSION`] anyway).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "latest" {
            return Ok(Version::Latest);
        }
        let err = || ParseError::Version(s.to_owned());
        let minor = s.strip_prefix("v1.").ok_or_else(err)?;
        let digits_ok = !minor.is_empty()
            && minor.bytes().all(|b| b.is_ascii_digit())
            && (minor == "0" || !minor.starts_with('0'));
        if !digits_ok {
            return Err(err());
        }
        minor.parse().map(Version::V1).map_err(|_| err())
    }
}

/// A level at a version, written `restricted:latest` or `baseline:v1.30`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LevelVersion {
    pub level: Level,
    pub version: Version,
}

impl LevelVersion {
    pub const fn new(level: Level, version: Version) -> Self {
        Self { level, version }
    }

    pub const fn latest(level: Level) -> Self {
        Self::new(level, Version::Latest)
    }
}

impl fmt::Display for LevelVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.level, self.version)
    }
}

impl FromStr for LevelVersion {
    type Err = ParseError;

    /// `LEVEL` (meaning `LEVEL:latest`) or `LEVEL:VERSION`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (level, version) = match s.split_once(':') {
            Some((l, v)) => (l.parse()?, v.parse()?),
            None => (s.parse()?, Version::Latest),
        };
        Ok(Self { level, version })
    }
}

macro_rules! serde_via_str {
    ($t:ty) => {
        impl Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}
serde_via_str!(Version);
serde_via_str!(LevelVersion);

/// A level or version that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("invalid Pod Security level {0:?}: must be one of privileged, baseline, restricted")]
    Level(String),
    #[error("invalid Pod Security version {0:?}: must be \"latest\" or \"v1.x\"")]
    Version(String),
}

// ---------------------------------------------------------------------------------------------
// Results

/// One failing check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    /// The upstream check ID, e.g. `hostNamespaces` or `seccompProfile_restricted`.
    pub check: &'static str,
    /// The control the check belongs to (see [`check_control`] for the mapping).
    pub control: Control,
    pub reason: &'static str,
    pub detail: String,
    /// The containers involved, in the order the message names them; empty for
    /// pod-level findings. For `appArmorProfile` this includes the containers
    /// named by forbidden annotations (the key suffix), even if no such
    /// container exists.
    pub containers: Vec<String>,
}

impl Violation {
    /// `reason (detail)`, or `reason` when the detail is empty.
    pub fn text(&self) -> String {
        let mut s = String::new();
        self.write_text(&mut s);
        s
    }

    fn write_text(&self, out: &mut String) {
        out.push_str(self.reason);
        if !self.detail.is_empty() {
            out.push_str(" (");
            out.push_str(&self.detail);
            out.push(')');
        }
    }
}

/// The verdict of one profile on one pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evaluation {
    /// The profile as requested (so messages say `latest` when asked for `latest`).
    pub profile: LevelVersion,
    /// Failing checks in upstream order: baseline check IDs sorted, then restricted.
    pub violations: Vec<Violation>,
}

impl Evaluation {
    pub fn allowed(&self) -> bool {
        self.violations.is_empty()
    }

    /// `r1 (d1), r2`: every failing check, joined like upstream's `ForbiddenDetail()`.
    pub fn reasons(&self) -> String {
        let mut s = String::new();
        for (i, v) in self.violations.iter().enumerate() {
            if i > 0 {
                s.push_str(", ");
            }
            v.write_text(&mut s);
        }
        s
    }

    /// The reasons alone, without details, joined with `, ` (upstream `ForbiddenReason()`).
    pub fn reasons_only(&self) -> String {
        let reasons: Vec<&str> = self.violations.iter().map(|v| v.reason).collect();
        reasons.join(", ")
    }

    /// The enforce denial, `violates PodSecurity "restricted:latest": …`; empty when allowed.
    pub fn message(&self) -> String {
        self.with_prefix("violates")
    }

    /// The warn/audit text, `would violate PodSecurity "restricted:latest": …`; empty when allowed.
    pub fn warning(&self) -> String {
        self.with_prefix("would violate")
    }

    fn with_prefix(&self, verb: &str) -> String {
        if self.allowed() {
            return String::new();
        }
        format!(
            "{verb} PodSecurity \"{}\": {}",
            self.profile,
            self.reasons()
        )
    }
}

// ---------------------------------------------------------------------------------------------
// Registry

/// One version of a check, from `since` (a v1 minor) until the next entry.
struct Versioned {
    since: u32,
    run: CheckFn,
    /// Baseline checks this restricted entry replaces.
    overrides: &'static [&'static str],
}

struct CheckDef {
    id: &'static str,
    level: Level,
    versions: &'static [Versioned],
}

const fn v(since: u32, run: CheckFn) -> Versioned {
    Versioned {
        since,
        run,
        overrides: &[],
    }
}

const fn vo(since: u32, run: CheckFn, overrides: &'static [&'static str]) -> Versioned {
    Versioned {
        since,
        run,
        overrides,
    }
}

use checks as c;

/// Every check of the upstream library, as registered there.
static CHECKS: [CheckDef; 19] = [
    CheckDef {
        id: "allowPrivilegeEscalation",
        level: Level::Restricted,
        versions: &[
            v(8, c::allow_privilege_escalation_1_8),
            v(25, c::allow_privilege_escalation_1_25),
        ],
    },
    CheckDef {
        id: "appArmorProfile",
        level: Level::Baseline,
        versions: &[v(0, c::app_armor_profile_1_0)],
    },
    CheckDef {
        id: "capabilities_baseline",
        level: Level::Baseline,
        versions: &[v(0, c::capabilities_baseline_1_0)],
    },
    CheckDef {
        id: "capabilities_restricted",
        level: Level::Restricted,
        versions: &[
            vo(
                22,
                c::capabilities_restricted_1_22,
                &["capabilities_baseline"],
            ),
            vo(
                25,
                c::capabilities_restricted_1_25,
                &["capabilities_baseline"],
            ),
        ],
    },
    CheckDef {
        id: "hostNamespaces",
        level: Level::Baseline,
        versions: &[v(0, c::host_namespaces_1_0)],
    },
    CheckDef {
        id: "hostPathVolumes",
        level: Level::Baseline,
        versions: &[v(0, c::host_path_volumes_1_0)],
    },
    CheckDef {
        id: "hostPorts",
        level: Level::Baseline,
        versions: &[v(0, c::host_ports_1_0)],
    },
    CheckDef {
        id: "hostProbesAndHostLifecycle",
        level: Level::Baseline,
        versions: &[v(34, c::host_probes_and_host_lifecycle_1_34)],
    },
    CheckDef {
        id: "privileged",
        level: Level::Baseline,
        versions: &[v(0, c::privileged_1_0)],
    },
    CheckDef {
        id: "procMount",
        level: Level::Baseline,
        versions: &[v(0, c::proc_mount_1_0), v(35, c::proc_mount_1_35_baseline)],
    },
    CheckDef {
        id: "procMount_restricted",
        level: Level::Restricted,
        versions: &[vo(35, c::proc_mount_1_0, &["procMount"])],
    },
    CheckDef {
        id: "restrictedVolumes",
        level: Level::Restricted,
        versions: &[vo(0, c::restricted_volumes_1_0, &["hostPathVolumes"])],
    },
    CheckDef {
        id: "runAsNonRoot",
        level: Level::Restricted,
        versions: &[v(0, c::run_as_non_root_1_0), v(35, c::run_as_non_root_1_35)],
    },
    CheckDef {
        id: "runAsUser",
        level: Level::Restricted,
        versions: &[v(23, c::run_as_user_1_23), v(35, c::run_as_user_1_35)],
    },
    CheckDef {
        id: "seLinuxOptions",
        level: Level::Baseline,
        versions: &[
            v(0, c::se_linux_options_1_0),
            v(31, c::se_linux_options_1_31),
        ],
    },
    CheckDef {
        id: "seccompProfile_baseline",
        level: Level::Baseline,
        versions: &[
            v(0, c::seccomp_profile_baseline_1_0),
            v(19, c::seccomp_profile_baseline_1_19),
        ],
    },
    CheckDef {
        id: "seccompProfile_restricted",
        level: Level::Restricted,
        versions: &[
            vo(
                19,
                c::seccomp_profile_restricted_1_19,
                &["seccompProfile_baseline"],
            ),
            vo(
                25,
                c::seccomp_profile_restricted_1_25,
                &["seccompProfile_baseline"],
            ),
        ],
    },
    CheckDef {
        id: "sysctls",
        level: Level::Baseline,
        versions: &[
            v(0, c::sysctls_1_0),
            v(27, c::sysctls_1_27),
            v(29, c::sysctls_1_29),
            v(32, c::sysctls_1_32),
            v(37, c::sysctls_1_37),
        ],
    },
    CheckDef {
        id: "windowsHostProcess",
        level: Level::Baseline,
        versions: &[v(0, c::windows_host_process_1_0)],
    },
];

/// A check selected for one level and version.
#[derive(Clone, Copy)]
struct Active {
    id: &'static str,
    run: CheckFn,
}

/// The checks to run per level and minor version (index 0..=MAX_VERSION), in
/// upstream order: baseline IDs byte-sorted, then restricted IDs byte-sorted.
struct Table {
    baseline: Vec<Vec<Active>>,
    restricted: Vec<Vec<Active>>,
}

static TABLE: LazyLock<Table> = LazyLock::new(build_table);

/// The entry of `def` for minor version `minor`: the one with the largest
/// `since <= minor`.
fn entry_for(def: &CheckDef, minor: u32) -> Option<&'static Versioned> {
    let versions: &'static [Versioned] = def.versions;
    versions.iter().rev().find(|e| e.since <= minor)
}

#[cfg(test)]
fn max_defined_version() -> u32 {
    CHECKS
        .iter()
        .filter_map(|d| d.versions.last().map(|e| e.since))
        .max()
        .unwrap_or(0)
}

fn build_table() -> Table {
    let mut ordered: Vec<&CheckDef> = CHECKS.iter().collect();
    ordered.sort_by(|a, b| {
        (a.level != Level::Baseline, a.id.as_bytes())
            .cmp(&(b.level != Level::Baseline, b.id.as_bytes()))
    });
    let mut table = Table {
        baseline: Vec::with_capacity(MAX_VERSION as usize + 1),
        restricted: Vec::with_capacity(MAX_VERSION as usize + 1),
    };
    for minor in 0..=MAX_VERSION {
        let overridden: Vec<&str> = CHECKS
            .iter()
            .filter(|d| d.level == Level::Restricted)
            .filter_map(|d| entry_for(d, minor))
            .flat_map(|e| e.overrides.iter().copied())
            .collect();
        let mut baseline = Vec::new();
        let mut restricted = Vec::new();
        for def in &ordered {
            let Some(entry) = entry_for(def, minor) else {
                continue;
            };
            let active = Active {
                id: def.id,
                run: entry.run,
            };
            match def.level {
                Level::Baseline => {
                    baseline.push(active);
                    if !overridden.contains(&def.id) {
                        restricted.push(active);
                    }
                }
                Level::Restricted => restricted.push(active),
                Level::Privileged => {}
            }
        }
        table.baseline.push(baseline);
        table.restricted.push(restricted);
    }
    table
}

fn active_checks(profile: LevelVersion) -> &'static [Active] {
    let minor = profile.version.effective_minor() as usize;
    match profile.level {
        Level::Privileged => &[],
        Level::Baseline => &TABLE.baseline[minor],
        Level::Restricted => &TABLE.restricted[minor],
    }
}

/// The IDs of the checks `profile` runs, in the order their results are reported.
pub fn check_ids(profile: LevelVersion) -> impl Iterator<Item = &'static str> {
    active_checks(profile).iter().map(|a| a.id)
}

/// The control a check ID is filed under. `hostNamespaces` and
/// `restrictedVolumes` may be refined per finding (see [`Violation::control`]):
/// `hostNamespaces` is [`Control::HostNetwork`] when only `hostNetwork` is set,
/// and `restrictedVolumes` is [`Control::HostPath`] / [`Control::FlexVolume`]
/// when every restricted volume is of that one type.
pub fn check_control(check: &str) -> Option<Control> {
    Some(match check {
        "allowPrivilegeEscalation" => Control::PrivilegeEscalation,
        "appArmorProfile" => Control::AppArmor,
        "capabilities_baseline" | "capabilities_restricted" => Control::Capabilities,
        "hostNamespaces" => Control::HostNamespaces,
        "hostPathVolumes" => Control::HostPath,
        "hostPorts" | "hostProbesAndHostLifecycle" => Control::HostNetwork,
        "privileged" | "windowsHostProcess" => Control::Privileged,
        "procMount" | "procMount_restricted" => Control::ProcMount,
        "restrictedVolumes" => Control::Volumes,
        "runAsNonRoot" | "runAsUser" => Control::Users,
        "seLinuxOptions" => Control::SeLinux,
        "seccompProfile_baseline" | "seccompProfile_restricted" => Control::Seccomp,
        "sysctls" => Control::Sysctls,
        _ => return None,
    })
}

// ---------------------------------------------------------------------------------------------
// Evaluation

/// Evaluates a pod (or a pod template: its metadata and spec) against a profile.
///
/// `meta` supplies the annotations read by `appArmorProfile` and, before v1.19,
/// `seccompProfile_baseline`. A volume with no source counts as `emptyDir`, as the
/// API server would default it.
pub fn evaluate(profile: LevelVersion, meta: &ObjectMeta, spec: &PodSpec) -> Evaluation {
    let mut violations = Vec::new();
    for check in active_checks(profile) {
        if let Some(found) = (check.run)(meta, spec) {
            violations.push(Violation {
                check: check.id,
                control: found.control,
                reason: found.reason,
                detail: found.detail,
                containers: found.containers,
            });
        }
    }
    Evaluation {
        profile,
        violations,
    }
}

/// Whether the pod is allowed at `profile`; stops at the first failing check.
pub fn is_allowed(profile: LevelVersion, meta: &ObjectMeta, spec: &PodSpec) -> bool {
    active_checks(profile)
        .iter()
        .all(|check| (check.run)(meta, spec).is_none())
}

/// The strictest level that allows the pod at `version`: restricted if allowed
/// there, else baseline if allowed there, else privileged.
pub fn tightest_level(meta: &ObjectMeta, spec: &PodSpec, version: Version) -> Level {
    if is_allowed(LevelVersion::new(Level::Restricted, version), meta, spec) {
        Level::Restricted
    } else if is_allowed(LevelVersion::new(Level::Baseline, version), meta, spec) {
        Level::Baseline
    } else {
        Level::Privileged
    }
}
