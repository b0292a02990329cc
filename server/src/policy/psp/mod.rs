//! PodSecurityPolicy (`policy/v1beta1`, Kubernetes 1.21–1.24) re-implemented as
//! a pure module: our own serde types for the removed API, import and validation
//! of PSP YAML, and admission with PSP's own semantics (apiserver pod defaulting,
//! then per policy `MutatePod` and `ValidatePod`, policy selection across several
//! PSPs, exact error paths and messages). The specification is
//! `shared/psp/SEMANTICS.md`.
//!
//! ```text
//! import(file, text)               -> Result<Vec<Profile>, Vec<ImportError>>
//! validate(&profile)               -> Vec<SpecError>
//! admit(&profiles, &meta, &spec, op) -> Admission
//! ```
//!
//! [`admit`] takes the metadata and spec of a Pod or of a workload's pod template
//! alike. Its patch is relative to the pod object (`/metadata/…`, `/spec/…`); use
//! [`PatchOp::under`] to move it below `/spec/template` for a workload.
//!
//! Pure: no IO.

mod field;
mod import;
mod patch;
mod pod;
pub(crate) mod provider;
mod spec;
mod validate;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::PodSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::model::PodTemplate;

pub use field::{ErrorType, FieldError};
pub use import::{ImportError, import};
pub use patch::{PatchOp, diff};
pub use spec::{
    API_VERSION, APPARMOR_ALLOWED_ANNOTATION, APPARMOR_CONTAINER_ANNOTATION_PREFIX,
    APPARMOR_DEFAULT_ANNOTATION, AllowedCsiDriver, AllowedFlexVolume, AllowedHostPath, FS_TYPES,
    FsGroupStrategyOptions, GROUP_RULES, HostPortRange, IdRange, LEGACY_API_VERSION,
    PSP_ANNOTATION, PodSecurityPolicy, PodSecurityPolicySpec, Profile, RUN_AS_GROUP_RULES,
    RunAsGroupStrategyOptions, RunAsUserStrategyOptions, RuntimeClassStrategyOptions, SAFE_SYSCTLS,
    SE_LINUX_RULES, SECCOMP_ALLOWED_ANNOTATION, SECCOMP_CONTAINER_ANNOTATION_PREFIX,
    SECCOMP_DEFAULT_ANNOTATION, SECCOMP_POD_ANNOTATION, SeLinuxStrategyOptions,
    SupplementalGroupsStrategyOptions, USER_RULES,
};
pub use validate::{SpecError, validate};

use pod::{apply_defaults, containers, undo_defaults};
use provider::Provider;

/// The admission operation. An UPDATE may not be mutated: only a policy that
/// accepts the pod as it is can admit it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Operation {
    Create,
    Update,
}

/// What one policy made of the pod, in evaluation order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "outcome", content = "reason")]
pub enum Outcome {
    /// Its strategies could not be built (unknown rule, MustRunAs without ranges
    /// or options); PSP skips such a policy silently.
    Invalid(String),
    /// It rejected the pod; its errors are in [`Admission::errors`].
    Rejected,
    /// It accepts the pod without changing it.
    Unchanged,
    /// It accepts the pod after mutating it.
    Mutated,
    /// It would accept the pod only by mutating it, which UPDATE does not allow;
    /// skipped without recording errors.
    MutationNotAllowed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    pub policy: String,
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// The verdict of PSP admission over a set of policies.
#[derive(Debug, Clone, PartialEq)]
pub struct Admission {
    pub allowed: bool,
    /// The policy that admitted the pod.
    pub policy: Option<String>,
    /// When denied: the errors of every policy tried, in evaluation order (upstream
    /// leaves the order across policies undefined). Each names its policy.
    pub errors: Vec<FieldError>,
    /// PSP's text when denied, empty when allowed: `PodSecurityPolicy: unable to
    /// admit pod: [e1 e2]` (`validate` on UPDATE), the errors separated by a space
    /// as upstream printed them.
    pub message: String,
    /// RFC 6902 operations turning the submitted pod object into [`Self::mutated`];
    /// empty when nothing changes.
    pub patch: Vec<PatchOp>,
    /// The pod after admission: the submitted one plus the chosen policy's
    /// defaults (apiserver defaulting is applied for evaluation only, not here).
    pub mutated: PodTemplate,
    /// Each policy tried, in order; policies after the one that admitted
    /// unchanged are not tried.
    pub attempts: Vec<Attempt>,
    /// Problems the apiserver's own validation will find in the admitted pod
    /// (e.g. a policy setting `allowPrivilegeEscalation: false` on a privileged
    /// container): PSP admits it, the create then fails.
    pub warnings: Vec<String>,
}

impl Admission {
    /// Whether the admitting policy changed the pod.
    pub fn mutates(&self) -> bool {
        !self.patch.is_empty()
    }
}

/// Runs PSP admission of one pod (or pod template) against `policies`.
///
/// `policies` are those the requester (or the pod's service account) may `use`;
/// authorization is the caller's business. Order: byte-wise by name; on UPDATE
/// the policy named in the `kubernetes.io/psp` annotation goes first. The first
/// policy that accepts the pod unchanged wins; otherwise, on CREATE, the first
/// that accepts it after mutation. When none does, the errors of all are
/// returned. A single profile is evaluated with `admit(std::slice::from_ref(p), …)`.
pub fn admit(policies: &[Profile], meta: &ObjectMeta, spec: &PodSpec, op: Operation) -> Admission {
    let original = PodTemplate {
        metadata: meta.clone(),
        spec: spec.clone(),
    };
    if policies.is_empty() {
        return deny(
            original,
            Vec::new(),
            Vec::new(),
            "PodSecurityPolicy: no providers available to validate pod request".into(),
        );
    }

    let mut defaulted = spec.clone();
    apply_defaults(&mut defaulted);

    let mut errors = Vec::new();
    let mut attempts = Vec::new();
    let mut first_mutating: Option<(&Profile, ObjectMeta, PodSpec)> = None;

    for i in order(policies, meta, op) {
        let profile = &policies[i];
        let attempt = |outcome| Attempt {
            policy: profile.name.clone(),
            outcome,
        };
        let provider = match Provider::new(profile) {
            Ok(p) => p,
            Err(reason) => {
                attempts.push(attempt(Outcome::Invalid(reason)));
                continue;
            }
        };
        let mut m = meta.clone();
        let mut s = defaulted.clone();
        provider.mutate(&mut m, &mut s);
        let errs = provider.validate(&m, &s);
        if !errs.is_empty() {
            errors.extend(errs);
            attempts.push(attempt(Outcome::Rejected));
            continue;
        }
        let changed = s != defaulted || annotations(&m) != annotations(meta);
        if !changed {
            attempts.push(attempt(Outcome::Unchanged));
            return allow(profile, original, None, attempts);
        }
        if op == Operation::Update {
            attempts.push(attempt(Outcome::MutationNotAllowed));
            continue;
        }
        attempts.push(attempt(Outcome::Mutated));
        if first_mutating.is_none() {
            first_mutating = Some((profile, m, s));
        }
    }

    if let Some((profile, m, mut s)) = first_mutating {
        undo_defaults(spec, &mut s);
        let mutated = PodTemplate {
            metadata: m,
            spec: s,
        };
        return allow(profile, original, Some(mutated), attempts);
    }

    let verb = match op {
        Operation::Create => "admit",
        Operation::Update => "validate",
    };
    // Upstream formats the field.ErrorList with `%v`: errors separated by a space.
    let list: Vec<String> = errors.iter().map(ToString::to_string).collect();
    let message = format!(
        "PodSecurityPolicy: unable to {verb} pod: [{}]",
        list.join(" ")
    );
    deny(original, errors, attempts, message)
}

/// Indices of `policies` in evaluation order.
fn order(policies: &[Profile], meta: &ObjectMeta, op: Operation) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..policies.len()).collect();
    // `String` orders byte-wise, like Go's strings.Compare; the sort is stable.
    idx.sort_by(|&a, &b| policies[a].name.cmp(&policies[b].name));
    if op == Operation::Update
        && let Some(hint) = meta
            .annotations
            .as_ref()
            .and_then(|a| a.get(PSP_ANNOTATION))
        && let Some(pos) = idx.iter().position(|&i| policies[i].name == *hint)
    {
        let i = idx.remove(pos);
        idx.insert(0, i);
    }
    idx
}

/// Annotations with absent and empty counted as equal.
fn annotations(meta: &ObjectMeta) -> Option<&BTreeMap<String, String>> {
    meta.annotations.as_ref().filter(|a| !a.is_empty())
}

/// The pod object the patch applies to. Empty metadata is left out, so that
/// annotations are added as `/metadata` whole: pod templates often have none.
fn pod_json(t: &PodTemplate) -> Value {
    let mut obj = serde_json::Map::new();
    match serde_json::to_value(&t.metadata) {
        Ok(Value::Object(m)) if m.is_empty() => {}
        Ok(m) => {
            obj.insert("metadata".into(), m);
        }
        Err(_) => {}
    }
    obj.insert(
        "spec".into(),
        serde_json::to_value(&t.spec).unwrap_or(Value::Null),
    );
    Value::Object(obj)
}

fn allow(
    profile: &Profile,
    original: PodTemplate,
    mutated: Option<PodTemplate>,
    attempts: Vec<Attempt>,
) -> Admission {
    let (patch, mutated) = match mutated {
        Some(m) => (diff(&pod_json(&original), &pod_json(&m)), m),
        None => (Vec::new(), original),
    };
    let warnings = api_validation(&mutated.spec);
    Admission {
        allowed: true,
        policy: Some(profile.name.clone()),
        errors: Vec::new(),
        message: String::new(),
        patch,
        mutated,
        attempts,
        warnings,
    }
}

fn deny(
    original: PodTemplate,
    errors: Vec<FieldError>,
    attempts: Vec<Attempt>,
    message: String,
) -> Admission {
    Admission {
        allowed: false,
        policy: None,
        errors,
        message,
        patch: Vec::new(),
        mutated: original,
        attempts,
        warnings: Vec::new(),
    }
}

/// The apiserver's security-context validation that can fail after PSP admitted
/// (and possibly mutated) a pod.
fn api_validation(spec: &PodSpec) -> Vec<String> {
    let mut out = Vec::new();
    for c in containers(spec) {
        let Some(sc) = c.sc else { continue };
        if sc.allow_privilege_escalation != Some(false) {
            continue;
        }
        let prefix = format!(
            "the apiserver will reject the pod: {}.securityContext: cannot set \
             `allowPrivilegeEscalation` to false and",
            c.path
        );
        if sc.privileged == Some(true) {
            out.push(format!("{prefix} `privileged` to true"));
        }
        let adds = sc.capabilities.iter().flat_map(|c| c.add.iter().flatten());
        for cap in adds.filter(|c| *c == "CAP_SYS_ADMIN") {
            out.push(format!("{prefix} `capabilities.Add` {cap}"));
        }
    }
    out
}
