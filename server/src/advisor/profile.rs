//! The one place the advisor evaluates a profile on a pod template, through
//! the policy core's single entry point ([`crate::policy::profiles::evaluate`]),
//! so the what-if speaks with the same words as the dashboard, `check` and the
//! webhook. Profiles are resolved by the caller (custom ones live in the
//! database); this module only evaluates them.

use std::collections::BTreeMap;

use crate::model::PodTemplate;
use crate::policy::assignments::Exempt;

pub use crate::policy::profiles::{Profile, Violation};

/// A profile's verdict on a pod template.
#[derive(Debug, Clone, PartialEq)]
pub struct Judgement {
    /// Admitted (possibly changed by the profile's defaults).
    pub allowed: bool,
    /// The enforce text (`violates PodSecurity "restricted:latest": …`, or
    /// PodSecurityPolicy's); empty when allowed.
    pub message: String,
    /// The warn/audit text (`would violate PodSecurity …`); empty when allowed.
    pub warning: String,
    pub violations: Vec<Violation>,
}

/// Evaluates `profile` on `template`.
pub fn evaluate(profile: &Profile, template: &PodTemplate) -> Judgement {
    judge(profile, template, &Exempt::default())
}

/// Evaluates `profile` on `template` with a workload's exemptions.
pub fn judge(profile: &Profile, template: &PodTemplate, exempt: &Exempt<'_>) -> Judgement {
    let v = crate::policy::assignments::judge(profile, template, exempt);
    Judgement {
        allowed: v.allowed,
        warning: v.warning(),
        message: v.message,
        violations: v.violations,
    }
}

/// Whether `profile` admits `template`; a Pod Security level alone takes the
/// fast path that builds no messages.
pub fn allows(profile: &Profile, template: &PodTemplate) -> bool {
    match (profile.level, profile.policies.is_empty()) {
        (Some(lv), true) => crate::policy::pss::is_allowed(lv, &template.metadata, &template.spec),
        (None, true) => true,
        _ => evaluate(profile, template).allowed,
    }
}

/// The profile a namespace's `pod-security.kubernetes.io/<mode>` labels set
/// (see [`crate::policy::assignments::level_from_labels`]).
pub fn from_namespace_labels(labels: &BTreeMap<String, String>, mode: &str) -> Option<Profile> {
    let mode = crate::policy::assignments::Mode::parse(mode)?;
    crate::policy::assignments::level_from_labels(labels, mode).map(Profile::level)
}
