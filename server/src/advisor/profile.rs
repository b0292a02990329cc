//! The one place the advisor evaluates a profile on a pod template, so the
//! what-if speaks with the policy core's words.
//!
//! Profiles here are Pod Security Standards levels (`restricted`,
//! `baseline:v1.30`); presets and custom profiles come with
//! `policy::profiles`, behind the same two functions.

use serde::Serialize;

use crate::model::PodTemplate;
use crate::policy::pss::{self, Level, LevelVersion, Version};

/// A profile ready to evaluate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    /// As shown: `restricted:latest`.
    pub name: String,
    level: LevelVersion,
}

impl Profile {
    pub fn level(lv: LevelVersion) -> Profile {
        Profile {
            name: lv.to_string(),
            level: lv,
        }
    }
}

/// A profile by name: `LEVEL` or `LEVEL:VERSION`.
pub fn resolve(name: &str) -> Result<Profile, String> {
    name.trim()
        .parse::<LevelVersion>()
        .map(Profile::level)
        .map_err(|e| {
            format!(
                "{e} (profiles are privileged, baseline or restricted, optionally :latest or :v1.N)"
            )
        })
}

/// One failing check, in the shape of `portcullis check --format json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    pub check: String,
    pub reason: String,
    pub detail: String,
    /// Containers involved; empty for pod-level findings.
    pub containers: Vec<String>,
}

/// A profile's verdict on a pod template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Judgement {
    pub allowed: bool,
    /// The enforce text (`violates PodSecurity "restricted:latest": …`); empty when allowed.
    pub message: String,
    /// The warn/audit text (`would violate PodSecurity …`); empty when allowed.
    pub warning: String,
    pub violations: Vec<Violation>,
}

/// Evaluates `profile` on `template`.
pub fn evaluate(profile: &Profile, template: &PodTemplate) -> Judgement {
    let e = pss::evaluate(profile.level, &template.metadata, &template.spec);
    Judgement {
        allowed: e.allowed(),
        message: e.message(),
        warning: e.warning(),
        violations: e
            .violations
            .iter()
            .map(|v| Violation {
                check: v.check.to_owned(),
                reason: v.reason.clone(),
                detail: v.detail.clone(),
                containers: v.containers.clone(),
            })
            .collect(),
    }
}

/// Whether `profile` admits `template` (the fast path, without messages).
pub fn allows(profile: &Profile, template: &PodTemplate) -> bool {
    pss::is_allowed(profile.level, &template.metadata, &template.spec)
}

/// The profile a namespace's `pod-security.kubernetes.io/<mode>` labels set,
/// as pod-security-admission reads them: a missing or invalid version means
/// `latest`; an invalid level means `restricted` (it fails closed); no level
/// label means no profile for that mode.
pub fn from_namespace_labels(
    labels: &std::collections::BTreeMap<String, String>,
    mode: &str,
) -> Option<Profile> {
    let level = labels.get(&format!("pod-security.kubernetes.io/{mode}"))?;
    let level = level.parse::<Level>().unwrap_or(Level::Restricted);
    let version = labels
        .get(&format!("pod-security.kubernetes.io/{mode}-version"))
        .and_then(|v| v.parse::<Version>().ok())
        .unwrap_or(Version::Latest);
    Some(Profile::level(LevelVersion::new(level, version)))
}
