//! Profiles: the preset catalogue, custom PodSecurityPolicy-equivalent profiles
//! (optionally on top of a Pod Security Standards level), one way to name a
//! profile ([`ProfileRef`]) and ONE evaluation entry point ([`evaluate`]) that
//! the dashboard, `portcullis check`, the advisor and the webhook all call.
//!
//! ```text
//! "restricted" | "baseline:v1.30" | "strict" | "node-agent" | "<custom>"
//!        │ ProfileRef::parse
//!        ▼ ProfileRef::resolve (custom names looked up by the caller)
//!     Profile { level?, policies[] }
//!        │ evaluate(&profile, &template)
//!        ▼
//!     Verdict { allowed, message, violations[{check, control, reason, detail,
//!               containers, field?, policy?}], policy?, patch[], mutated? }
//! ```
//!
//! A profile has a Pod Security Standards half (`level`), a PodSecurityPolicy
//! half (`policies`, with PSP's own policy selection when there are several),
//! or both (`strict`, and custom profiles built on a level). The PSP half runs
//! first, as a mutating admission plugin would; the level is then checked on
//! the pod as admitted (mutated). A pod is allowed when both halves allow it.
//!
//! Pure: no IO.

pub mod adjust;
mod describe;
mod presets;

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::model::effective;
use crate::model::{Control, PodTemplate};
use crate::policy::psp::{self, FieldError, Operation, PatchOp};
use crate::policy::pss::{self, Level, LevelVersion};

pub use describe::{ControlRule, describe};
pub use presets::{PRESETS, Preset, preset};

// ---------------------------------------------------------------------------------------------
// Names

/// How a profile is named wherever a user types one: `restricted`,
/// `baseline:v1.30`, `strict`, `node-agent`, or the name of a custom profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProfileRef {
    /// A Pod Security Standards level at a version (`restricted` means `restricted:latest`).
    Level(LevelVersion),
    /// `strict` or `node-agent`.
    Preset(&'static str),
    /// A custom profile, by name.
    Custom(String),
}

/// A profile name that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RefError {
    #[error("invalid profile {name:?}: {reason}")]
    Invalid { name: String, reason: String },
    #[error(
        "unknown profile {0:?}: expected privileged, baseline or restricted (optionally with :latest or :v1.N), strict, node-agent, or the name of a custom profile"
    )]
    Unknown(String),
}

impl ProfileRef {
    /// Parses a profile name. Level names win over everything; `:VERSION` is
    /// only for levels; anything else must be a valid custom profile name.
    pub fn parse(s: &str) -> Result<Self, RefError> {
        let s = s.trim();
        if let Some((level, _)) = s.split_once(':') {
            if level.parse::<Level>().is_err() {
                return Err(RefError::Invalid {
                    name: s.to_owned(),
                    reason: "only the levels privileged, baseline and restricted take a :version"
                        .into(),
                });
            }
            return s
                .parse::<LevelVersion>()
                .map(ProfileRef::Level)
                .map_err(|e| RefError::Invalid {
                    name: s.to_owned(),
                    reason: e.to_string(),
                });
        }
        if let Ok(level) = s.parse::<Level>() {
            return Ok(ProfileRef::Level(LevelVersion::latest(level)));
        }
        if let Some(p) = preset(s) {
            return Ok(ProfileRef::Preset(p.id));
        }
        check_custom_name(s).map_err(|reason| RefError::Invalid {
            name: s.to_owned(),
            reason,
        })?;
        Ok(ProfileRef::Custom(s.to_owned()))
    }

    /// The profile, looking custom names up with `custom`.
    pub fn resolve(
        &self,
        custom: impl FnOnce(&str) -> Option<CustomProfile>,
    ) -> Result<Profile, RefError> {
        match self {
            ProfileRef::Level(lv) => Ok(Profile::level(*lv)),
            ProfileRef::Preset(id) => {
                Profile::preset(id).ok_or_else(|| RefError::Unknown((*id).to_owned()))
            }
            ProfileRef::Custom(name) => custom(name)
                .map(|c| Profile::custom(&c))
                .ok_or_else(|| RefError::Unknown(name.clone())),
        }
    }
}

impl fmt::Display for ProfileRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProfileRef::Level(lv) => write!(f, "{lv}"),
            ProfileRef::Preset(id) => f.write_str(id),
            ProfileRef::Custom(name) => f.write_str(name),
        }
    }
}

/// Whether `name` is a name a custom profile may have: a Kubernetes object name
/// (lowercase letters, digits, `-` and `.`, starting and ending with a letter or
/// digit, at most 253 characters) that is not a preset's or a level's.
pub fn check_custom_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("a name is required".into());
    }
    if name.len() > 253 {
        return Err("must be at most 253 characters".into());
    }
    let ok_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.';
    let ok_end = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if !name.chars().all(ok_char) || !ok_end(name.chars().next()) || !ok_end(name.chars().last()) {
        return Err(
            "use lowercase letters, digits, '-' and '.', starting and ending with a letter or digit"
                .into(),
        );
    }
    if name.parse::<Level>().is_ok() || preset(name).is_some() {
        return Err("that is the name of a preset; presets cannot be replaced".into());
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Profiles

/// A custom profile as stored: a PodSecurityPolicy-equivalent policy, optionally
/// evaluated together with a Pod Security Standards level.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomProfile {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// A level checked as well (on the pod as the policy admitted it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<LevelVersion>,
    /// The policy; its `name` is the profile's name.
    pub policy: psp::Profile,
}

/// Where a profile comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Origin {
    /// A Pod Security Standards level (a preset at `latest`, or any version).
    Level,
    /// `strict` or `node-agent`.
    Preset,
    /// Stored in the database.
    Custom,
    /// PodSecurityPolicies read from a file (`check --psp`).
    PspFile,
}

/// A profile ready to evaluate.
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    /// The name it is shown under: `restricted:latest`, `strict`, a custom name,
    /// or `psp:<file>`.
    pub name: String,
    pub origin: Origin,
    /// The Pod Security Standards half.
    pub level: Option<LevelVersion>,
    /// The PodSecurityPolicy half (empty: none).
    pub policies: Vec<psp::Profile>,
}

impl Profile {
    pub fn level(lv: LevelVersion) -> Self {
        Self {
            name: lv.to_string(),
            origin: Origin::Level,
            level: Some(lv),
            policies: Vec::new(),
        }
    }

    /// A preset by id (levels mean `latest`).
    pub fn preset(id: &str) -> Option<Self> {
        let p = preset(id)?;
        if p.is_level() {
            return p.level.map(|l| Self::level(LevelVersion::latest(l)));
        }
        Some(Self {
            name: p.id.to_owned(),
            origin: Origin::Preset,
            level: p.level.map(LevelVersion::latest),
            policies: vec![p.policy()?.clone()],
        })
    }

    pub fn custom(c: &CustomProfile) -> Self {
        let mut policy = c.policy.clone();
        policy.name.clone_from(&c.name);
        Self {
            name: c.name.clone(),
            origin: Origin::Custom,
            level: c.base,
            policies: vec![policy],
        }
    }

    /// PodSecurityPolicies from a file, with PSP's policy selection among them.
    pub fn psp_file(file: &str, policies: Vec<psp::Profile>) -> Self {
        Self {
            name: format!("psp:{file}"),
            origin: Origin::PspFile,
            level: None,
            policies,
        }
    }

    /// Every preset, tightest first (see [`PRESETS`]).
    pub fn presets() -> Vec<Profile> {
        PRESETS
            .iter()
            .filter_map(|p| Profile::preset(p.id))
            .collect()
    }

    /// The preset id when this is a preset (a level counts only at `latest`).
    pub fn preset_id(&self) -> Option<&'static str> {
        match self.origin {
            Origin::Preset => preset(&self.name).map(|p| p.id),
            Origin::Level => self
                .level
                .filter(|lv| lv.version == pss::Version::Latest)
                .and_then(|lv| preset(lv.level.as_str()))
                .map(|p| p.id),
            _ => None,
        }
    }

    /// The profile as a custom one, to copy: presets and levels become custom
    /// profiles with the same meaning (a level alone becomes that level plus a
    /// policy that allows everything).
    pub fn to_custom(&self, name: &str) -> CustomProfile {
        let mut policy = self
            .policies
            .first()
            .cloned()
            .unwrap_or_else(allow_all_policy);
        policy.name = name.to_owned();
        CustomProfile {
            name: name.to_owned(),
            description: String::new(),
            base: self.level,
            policy,
        }
    }
}

/// A PodSecurityPolicy that admits every pod unchanged: the starting point when
/// a level is copied.
pub fn allow_all_policy() -> psp::Profile {
    const YAML: &str = "\
apiVersion: policy/v1beta1
kind: PodSecurityPolicy
metadata:
  name: allow-all
  annotations:
    seccomp.security.alpha.kubernetes.io/allowedProfileNames: '*'
spec:
  privileged: true
  allowPrivilegeEscalation: true
  allowedCapabilities: ['*']
  volumes: ['*']
  hostNetwork: true
  hostPID: true
  hostIPC: true
  hostPorts:
  - {min: 0, max: 65535}
  allowedUnsafeSysctls: ['*']
  allowedProcMountTypes: [Default, Unmasked]
  runAsUser: {rule: RunAsAny}
  seLinux: {rule: RunAsAny}
  supplementalGroups: {rule: RunAsAny}
  fsGroup: {rule: RunAsAny}
";
    psp::import("allow-all", YAML)
        .ok()
        .and_then(|mut v| v.pop())
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// Verdicts

/// One reason a profile rejects a pod, in the same shape for every kind of profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    /// The Pod Security Standards check ID (`hostNamespaces`), or for a
    /// PodSecurityPolicy the control's slug (`privileged`, `host-path`).
    pub check: &'static str,
    pub control: Control,
    /// Short plain words: `host namespaces`, `privileged`.
    pub reason: &'static str,
    /// The specifics, as pod-security-admission or PodSecurityPolicy printed them.
    pub detail: String,
    /// The containers involved; empty for pod-level findings.
    pub containers: Vec<String>,
    /// The PSP error path, e.g. `spec.containers[0].securityContext.privileged`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The PSP policy that reported it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
}

impl Violation {
    /// `reason (detail)`, or `reason` when the detail is empty.
    pub fn text(&self) -> String {
        if self.detail.is_empty() {
            self.reason.to_owned()
        } else {
            format!("{} ({})", self.reason, self.detail)
        }
    }

    fn from_pss(v: pss::Violation) -> Self {
        Self {
            check: v.check,
            control: v.control,
            reason: v.reason,
            detail: v.detail,
            containers: v.containers,
            field: None,
            policy: None,
        }
    }

    fn from_psp(e: &FieldError, template: &PodTemplate) -> Self {
        let detail = e.to_string();
        Self {
            check: e.control.slug(),
            control: e.control,
            reason: reason_words(e.control),
            detail,
            containers: container_of_field(&e.field, template).into_iter().collect(),
            field: Some(e.field.clone()),
            policy: Some(e.policy.clone()),
        }
    }
}

/// Short words for a control, as the `reason` of a PodSecurityPolicy violation.
pub fn reason_words(c: Control) -> &'static str {
    match c {
        Control::Privileged => "privileged",
        Control::HostNamespaces => "host namespaces",
        Control::HostNetwork => "host network or ports",
        Control::Volumes => "volume types",
        Control::HostPath => "host paths",
        Control::FlexVolume => "flexVolume drivers",
        Control::FsGroup => "fsGroup",
        Control::ReadOnlyRootFs => "read-only root filesystem",
        Control::Users => "user and group IDs",
        Control::PrivilegeEscalation => "privilege escalation",
        Control::Capabilities => "capabilities",
        Control::SeLinux => "SELinux",
        Control::ProcMount => "procMount",
        Control::AppArmor => "AppArmor profile",
        Control::Seccomp => "seccomp profile",
        Control::Sysctls => "sysctls",
    }
}

/// The container a PSP error path points into: `spec.containers[1]…`, a
/// container annotation, or nothing (pod level).
fn container_of_field(field: &str, t: &PodTemplate) -> Option<String> {
    for (list, key) in [
        ("spec.initContainers[", ListKind::Init),
        ("spec.containers[", ListKind::Regular),
        ("spec.ephemeralContainers[", ListKind::Ephemeral),
    ] {
        if let Some(rest) = field.strip_prefix(list) {
            let i: usize = rest.split(']').next()?.parse().ok()?;
            return container_name(t, key, i);
        }
    }
    for prefix in [
        psp::APPARMOR_CONTAINER_ANNOTATION_PREFIX,
        psp::SECCOMP_CONTAINER_ANNOTATION_PREFIX,
    ] {
        if let Some(rest) = field
            .strip_prefix("pod.metadata.annotations[")
            .and_then(|r| r.strip_prefix(prefix))
        {
            return rest.strip_suffix(']').map(str::to_owned);
        }
    }
    None
}

#[derive(Clone, Copy)]
enum ListKind {
    Init,
    Regular,
    Ephemeral,
}

fn container_name(t: &PodTemplate, kind: ListKind, i: usize) -> Option<String> {
    let s = &t.spec;
    match kind {
        ListKind::Init => s.init_containers.as_ref()?.get(i).map(|c| c.name.clone()),
        ListKind::Regular => s.containers.get(i).map(|c| c.name.clone()),
        ListKind::Ephemeral => s
            .ephemeral_containers
            .as_ref()?
            .get(i)
            .map(|c| c.name.clone()),
    }
}

/// The verdict of one profile on one pod template.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// The profile's name.
    pub profile: String,
    pub allowed: bool,
    /// Empty when allowed. For a level: pod-security-admission's text
    /// (`violates PodSecurity "restricted:latest": …`); for policies: PSP's
    /// (`PodSecurityPolicy: unable to admit pod: […]`); both, separated by
    /// `; `, for a profile that has both halves.
    pub message: String,
    /// Level violations first (upstream order), then the policies' errors.
    pub violations: Vec<Violation>,
    /// The policy that admitted the pod (profiles with a PSP half).
    pub policy: Option<String>,
    /// RFC 6902 operations the policy's defaults apply to the pod (relative to
    /// the pod object: `/spec/…`, `/metadata/…`); empty when nothing changes.
    pub patch: Vec<PatchOp>,
    /// The pod as admitted, when the patch is not empty.
    pub mutated: Option<PodTemplate>,
    /// Whether the patch changes any effective security setting (a patch that
    /// only mirrors a seccomp field into its annotation does not).
    pub changes_settings: bool,
    /// What the API server's own validation will reject after admission.
    pub warnings: Vec<String>,
}

impl Verdict {
    /// Allowed as the pod is: admitted, with no change to its security settings.
    pub fn satisfied(&self) -> bool {
        self.allowed && !self.changes_settings
    }

    pub fn mutates(&self) -> bool {
        !self.patch.is_empty()
    }

    /// The pod-security-admission warning form (`would violate …`) for warn and
    /// audit modes; empty when allowed.
    pub fn warning(&self) -> String {
        self.message
            .replacen("violates PodSecurity", "would violate PodSecurity", 1)
    }
}

/// THE evaluation: one profile, one pod (or pod template), one verdict.
pub fn evaluate(profile: &Profile, template: &PodTemplate) -> Verdict {
    let mut violations = Vec::new();
    let mut messages = Vec::new();
    let mut verdict = Verdict {
        profile: profile.name.clone(),
        allowed: true,
        message: String::new(),
        violations: Vec::new(),
        policy: None,
        patch: Vec::new(),
        mutated: None,
        changes_settings: false,
        warnings: Vec::new(),
    };

    let admission = (!profile.policies.is_empty()).then(|| {
        psp::admit(
            &profile.policies,
            &template.metadata,
            &template.spec,
            Operation::Create,
        )
    });
    // The level sees the pod as the policy admitted it.
    let admitted: &PodTemplate = match &admission {
        Some(a) if a.allowed => &a.mutated,
        _ => template,
    };
    if let Some(level) = profile.level {
        let e = pss::evaluate(level, &admitted.metadata, &admitted.spec);
        if !e.allowed() {
            verdict.allowed = false;
            messages.push(e.message());
            violations.extend(e.violations.into_iter().map(Violation::from_pss));
        }
    }
    if let Some(a) = admission {
        if a.allowed {
            verdict.policy = a.policy.clone();
            verdict.warnings = a.warnings.clone();
            if a.mutates() {
                verdict.changes_settings =
                    effective::analyse(template) != effective::analyse(&a.mutated);
                verdict.patch = a.patch;
                verdict.mutated = Some(a.mutated);
            }
        } else {
            verdict.allowed = false;
            messages.push(a.message.clone());
            violations.extend(a.errors.iter().map(|e| Violation::from_psp(e, template)));
        }
    }
    let mut messages = messages.into_iter();
    verdict.message = messages.next().unwrap_or_default();
    for m in messages {
        verdict.message.push_str("; ");
        verdict.message.push_str(&m);
    }
    verdict.violations = violations;
    verdict
}

// ---------------------------------------------------------------------------------------------
// Recommendations

/// The tightest preset `template` already satisfies (allowed, with no change
/// to its settings), trying [`PRESETS`] in order; `privileged` at worst.
pub fn recommend(template: &PodTemplate) -> &'static Preset {
    recommend_among(&Profile::presets(), template)
}

/// [`recommend`] with the presets already built (for loops over many workloads).
pub fn recommend_among(presets: &[Profile], template: &PodTemplate) -> &'static Preset {
    presets
        .iter()
        .find(|p| evaluate(p, template).satisfied())
        .and_then(Profile::preset_id)
        .and_then(preset)
        .unwrap_or(&PRESETS[PRESETS.len() - 1])
}

/// The presets every template satisfies, tightest first.
pub fn satisfied_by_all<'a>(
    presets: &[Profile],
    templates: impl IntoIterator<Item = &'a PodTemplate>,
) -> Vec<&'static str> {
    let mut ok: Vec<bool> = vec![true; presets.len()];
    for t in templates {
        for (i, p) in presets.iter().enumerate() {
            if ok[i] && !evaluate(p, t).satisfied() {
                ok[i] = false;
            }
        }
    }
    presets
        .iter()
        .zip(ok)
        .filter(|(_, ok)| *ok)
        .filter_map(|(p, _)| p.preset_id())
        .collect()
}

/// The tightest preset every template of a group (a namespace) satisfies.
pub fn recommend_for_all<'a>(
    presets: &[Profile],
    templates: impl IntoIterator<Item = &'a PodTemplate>,
) -> &'static Preset {
    satisfied_by_all(presets, templates)
        .first()
        .and_then(|id| preset(id))
        .unwrap_or(&PRESETS[PRESETS.len() - 1])
}

#[cfg(test)]
pub(crate) mod tests;
