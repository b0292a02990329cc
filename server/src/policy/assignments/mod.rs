//! Assignments and exemptions: which profile applies to a workload in each
//! admission mode, and what it is excused from. One [`Rules`] value answers
//! for the dashboard, the alerts, the advisor and the admission webhook.
//!
//! ```text
//!   workload/<ns>/<Kind>/<name>   wins over
//!   namespace/<ns>                wins over
//!   cluster (the default chosen in settings)   wins over
//!   the namespace's pod-security.kubernetes.io/<mode> labels (what the API server enforces)
//! ```
//!
//! Each mode (enforce, warn, audit) is resolved on its own, as
//! pod-security-admission does with its three labels.
//!
//! Exemptions name a workload and optionally a container and a control:
//! - neither: the whole workload is exempt;
//! - a container: that container is left out of the evaluation (the profile
//!   judges the pod as if it did not have it, so messages stay exact);
//! - a control: violations of that control are dropped for the workload;
//! - both: that container is excused from that control only.
//!
//! An exemption applies until its expiry time and stops by itself afterwards.
//!
//! Pure: no IO.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::model::{Control, PodTemplate, WorkloadKey};
use crate::policy::profiles::{self, Profile, Verdict, Violation};
use crate::policy::pss::{Level, LevelVersion, Version};

// ---------------------------------------------------------------------------------------------
// Modes and targets

/// An admission mode, as in the `pod-security.kubernetes.io/<mode>` labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Enforce,
    Warn,
    Audit,
}

impl Mode {
    pub const ALL: [Mode; 3] = [Mode::Enforce, Mode::Warn, Mode::Audit];

    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Enforce => "enforce",
            Mode::Warn => "warn",
            Mode::Audit => "audit",
        }
    }

    /// Position in `[_; 3]` arrays indexed by mode.
    pub fn index(self) -> usize {
        self as usize
    }

    pub fn parse(s: &str) -> Option<Mode> {
        Mode::ALL.into_iter().find(|m| m.as_str() == s)
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What an assignment applies to: `cluster`, `namespace/<ns>` or
/// `workload/<ns>/<Kind>/<name>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AssignTarget {
    /// The cluster's default, for namespaces without an assignment.
    Cluster,
    Namespace(String),
    Workload(WorkloadKey),
}

impl AssignTarget {
    pub fn parse(s: &str) -> Result<AssignTarget, String> {
        if s == "cluster" {
            return Ok(AssignTarget::Cluster);
        }
        if let Some(ns) = s.strip_prefix("namespace/") {
            if ns.is_empty() || ns.contains('/') {
                return Err(format!("{s:?}: write namespace/<name>"));
            }
            return Ok(AssignTarget::Namespace(ns.to_owned()));
        }
        if let Some(id) = s.strip_prefix("workload/") {
            return WorkloadKey::parse(id)
                .map(AssignTarget::Workload)
                .ok_or_else(|| format!("{s:?}: write workload/<namespace>/<Kind>/<name>"));
        }
        Err(format!(
            "{s:?} is neither cluster, namespace/<name> nor workload/<namespace>/<Kind>/<name>"
        ))
    }

    /// The namespace it lies in (none for the cluster).
    pub fn namespace(&self) -> Option<&str> {
        match self {
            AssignTarget::Cluster => None,
            AssignTarget::Namespace(ns) => Some(ns),
            AssignTarget::Workload(k) => Some(&k.namespace),
        }
    }
}

impl fmt::Display for AssignTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AssignTarget::Cluster => f.write_str("cluster"),
            AssignTarget::Namespace(ns) => write!(f, "namespace/{ns}"),
            AssignTarget::Workload(k) => write!(f, "workload/{k}"),
        }
    }
}

/// Where the profile of a mode came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    Workload,
    Namespace,
    ClusterDefault,
    /// The namespace's `pod-security.kubernetes.io/<mode>` labels.
    Labels,
}

impl Source {
    pub fn words(self) -> &'static str {
        match self {
            Source::Workload => "assigned to the workload",
            Source::Namespace => "assigned to the namespace",
            Source::ClusterDefault => "the cluster default",
            Source::Labels => "the namespace's pod-security labels",
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Stored shapes

/// An assignment as stored: one profile in one mode for one target of a cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Assignment {
    pub id: i64,
    pub cluster: String,
    /// `cluster`, `namespace/<ns>` or `workload/<ns>/<Kind>/<name>`.
    pub target: String,
    /// As typed: `restricted`, `baseline:v1.30`, `strict`, a custom name.
    pub profile: String,
    pub mode: Mode,
    #[serde(rename = "createdBy")]
    pub created_by: String,
    #[serde(rename = "createdAt")]
    pub created_at: i64,
}

/// An exemption as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Exemption {
    pub id: i64,
    pub cluster: String,
    /// `namespace/Kind/name`.
    pub workload: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub control: Option<Control>,
    pub reason: String,
    pub owner: String,
    /// Unix milliseconds; the exemption stops applying at this time.
    pub expires_at: i64,
    pub created_by: String,
    pub created_at: i64,
}

impl Exemption {
    pub fn active(&self, now_ms: i64) -> bool {
        now_ms < self.expires_at
    }

    /// In words: `the whole workload`, `container "app"`, `control seccomp`, …
    pub fn scope_words(&self) -> String {
        match (&self.container, self.control) {
            (None, None) => "the whole workload".to_owned(),
            (Some(c), None) => format!("container {c:?}, every control"),
            (None, Some(k)) => format!("{}, every container", k.title()),
            (Some(c), Some(k)) => format!("{}, container {c:?}", k.title()),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The rules in force

/// A profile applied to a workload in one mode.
#[derive(Debug, Clone)]
pub struct Applied {
    pub profile: Arc<Profile>,
    pub mode: Mode,
    pub source: Source,
    /// The assignment's id (none for labels).
    pub assignment: Option<i64>,
}

#[derive(Debug, Clone)]
struct Slot {
    profile: Arc<Profile>,
    id: i64,
}

type Slots = [Option<Slot>; 3];

/// The assignments of one cluster, by target, looked up without building keys.
#[derive(Debug, Clone, Default)]
struct ClusterSlots {
    cluster: Slots,
    namespaces: HashMap<String, Slots>,
    workloads: HashMap<WorkloadKey, Slots>,
}

impl ClusterSlots {
    fn get(&self, target: &AssignTarget) -> Option<&Slots> {
        match target {
            AssignTarget::Cluster => Some(&self.cluster),
            AssignTarget::Namespace(ns) => self.namespaces.get(ns),
            AssignTarget::Workload(key) => self.workloads.get(key),
        }
    }

    fn get_mut(&mut self, target: &AssignTarget) -> Option<&mut Slots> {
        match target {
            AssignTarget::Cluster => Some(&mut self.cluster),
            AssignTarget::Namespace(ns) => self.namespaces.get_mut(ns),
            AssignTarget::Workload(key) => self.workloads.get_mut(key),
        }
    }

    fn entry(&mut self, target: AssignTarget) -> &mut Slots {
        match target {
            AssignTarget::Cluster => &mut self.cluster,
            AssignTarget::Namespace(ns) => self.namespaces.entry(ns).or_default(),
            AssignTarget::Workload(key) => self.workloads.entry(key).or_default(),
        }
    }
}

/// Every assignment and exemption of every cluster, with profiles resolved,
/// ready to answer without touching the database.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    /// Bumped by the owner on every reload, so caches know when to refresh.
    pub generation: u64,
    pub assignments: Vec<Assignment>,
    pub exemptions: Vec<Exemption>,
    /// Assignments whose profile no longer resolves (a deleted custom
    /// profile): they are ignored, and listed so the UI can say so.
    pub unresolved: Vec<(Assignment, String)>,
    /// By cluster.
    slots: HashMap<String, ClusterSlots>,
    /// Indexes into `exemptions`, by cluster and workload.
    exempt: HashMap<String, HashMap<String, Vec<usize>>>,
}

impl Rules {
    /// Resolves `assignments` with `resolve` (profile name → profile).
    pub fn new(
        generation: u64,
        assignments: Vec<Assignment>,
        exemptions: Vec<Exemption>,
        mut resolve: impl FnMut(&str) -> Result<Profile, String>,
    ) -> Rules {
        let mut rules = Rules {
            generation,
            ..Rules::default()
        };
        let mut cache: HashMap<String, Arc<Profile>> = HashMap::new();
        for a in &assignments {
            let target = match AssignTarget::parse(&a.target) {
                Ok(t) => t,
                Err(e) => {
                    rules.unresolved.push((a.clone(), e));
                    continue;
                }
            };
            let profile = match cache.get(&a.profile) {
                Some(p) => p.clone(),
                None => match resolve(&a.profile) {
                    Ok(p) => {
                        let p = Arc::new(p);
                        cache.insert(a.profile.clone(), p.clone());
                        p
                    }
                    Err(e) => {
                        rules.unresolved.push((a.clone(), e));
                        continue;
                    }
                },
            };
            rules
                .slots
                .entry(a.cluster.clone())
                .or_default()
                .entry(target)[a.mode.index()] = Some(Slot { profile, id: a.id });
        }
        for (i, e) in exemptions.iter().enumerate() {
            rules
                .exempt
                .entry(e.cluster.clone())
                .or_default()
                .entry(e.workload.clone())
                .or_default()
                .push(i);
        }
        rules.assignments = assignments;
        rules.exemptions = exemptions;
        rules
    }

    /// The assignment of `target` in `mode`, if any.
    pub fn assigned(&self, cluster: &str, target: &AssignTarget, mode: Mode) -> Option<&Profile> {
        self.slot(cluster, target, mode).map(|s| &*s.profile)
    }

    fn slot(&self, cluster: &str, target: &AssignTarget, mode: Mode) -> Option<&Slot> {
        self.slots
            .get(cluster)?
            .get(target)
            .and_then(|s| s[mode.index()].as_ref())
    }

    /// The profile in force for a workload in each mode, indexed by [`Mode`].
    /// `labels` are its namespace's labels in the snapshot (or the live
    /// namespace), the last fallback.
    pub fn effective(
        &self,
        cluster: &str,
        key: &WorkloadKey,
        labels: Option<&BTreeMap<String, String>>,
    ) -> [Option<Applied>; 3] {
        // Looked up by reference: this runs for every admission review.
        let slots = self.slots.get(cluster);
        let targets = [
            (slots.and_then(|c| c.workloads.get(key)), Source::Workload),
            (
                slots.and_then(|c| c.namespaces.get(&key.namespace)),
                Source::Namespace,
            ),
            (slots.map(|c| &c.cluster), Source::ClusterDefault),
        ];
        Mode::ALL.map(|mode| {
            for (slots, source) in &targets {
                if let Some(s) = slots.and_then(|s| s[mode.index()].as_ref()) {
                    return Some(Applied {
                        profile: s.profile.clone(),
                        mode,
                        source: *source,
                        assignment: Some(s.id),
                    });
                }
            }
            let lv = labels.and_then(|l| level_from_labels(l, mode))?;
            Some(Applied {
                profile: level_profile(lv),
                mode,
                source: Source::Labels,
                assignment: None,
            })
        })
    }

    /// What applies to a namespace as a whole in each mode (a workload's
    /// own assignment aside): its assignment, the cluster default, its labels.
    pub fn for_namespace(
        &self,
        cluster: &str,
        namespace: &str,
        labels: Option<&BTreeMap<String, String>>,
    ) -> [Option<Applied>; 3] {
        let targets = [
            (
                AssignTarget::Namespace(namespace.to_owned()),
                Source::Namespace,
            ),
            (AssignTarget::Cluster, Source::ClusterDefault),
        ];
        Mode::ALL.map(|mode| {
            for (t, source) in &targets {
                if let Some(s) = self.slot(cluster, t, mode) {
                    return Some(Applied {
                        profile: s.profile.clone(),
                        mode,
                        source: *source,
                        assignment: Some(s.id),
                    });
                }
            }
            let lv = labels.and_then(|l| level_from_labels(l, mode))?;
            Some(Applied {
                profile: level_profile(lv),
                mode,
                source: Source::Labels,
                assignment: None,
            })
        })
    }

    /// The same rules without the assignment of `target` in `mode` (for a
    /// preview of its removal).
    pub fn without(mut self, cluster: &str, target: &AssignTarget, mode: Mode) -> Rules {
        if let Some(s) = self.slots.get_mut(cluster).and_then(|c| c.get_mut(target)) {
            s[mode.index()] = None;
        }
        let t = target.to_string();
        self.assignments
            .retain(|a| !(a.cluster == cluster && a.target == t && a.mode == mode));
        self
    }

    /// The stored assignment of `target` in `mode`, if any.
    pub fn assignment(&self, cluster: &str, target: &str, mode: Mode) -> Option<&Assignment> {
        self.assignments
            .iter()
            .find(|a| a.cluster == cluster && a.target == target && a.mode == mode)
    }

    /// The exemptions of a workload that apply at `now_ms`.
    pub fn exemptions_for(&self, cluster: &str, workload: &str, now_ms: i64) -> Exempt<'_> {
        let mut out = Exempt::default();
        let Some(ids) = self.exempt.get(cluster).and_then(|c| c.get(workload)) else {
            return out;
        };
        for &i in ids {
            let e = &self.exemptions[i];
            if e.active(now_ms) {
                out.list.push(e);
            }
        }
        out
    }
}

/// The profile of a level, shared: built once per level and version (there
/// are few), not once per lookup.
pub fn level_profile(lv: LevelVersion) -> Arc<Profile> {
    static CACHE: std::sync::LazyLock<std::sync::RwLock<HashMap<LevelVersion, Arc<Profile>>>> =
        std::sync::LazyLock::new(Default::default);
    if let Some(p) = CACHE.read().unwrap_or_else(|p| p.into_inner()).get(&lv) {
        return p.clone();
    }
    CACHE
        .write()
        .unwrap_or_else(|p| p.into_inner())
        .entry(lv)
        .or_insert_with(|| Arc::new(Profile::level(lv)))
        .clone()
}

/// The level a namespace's `pod-security.kubernetes.io/<mode>` labels set, as
/// pod-security-admission reads them: a missing or invalid version means
/// `latest`; an invalid level means `restricted` (it fails closed); no level
/// label means none for that mode.
pub fn level_from_labels(labels: &BTreeMap<String, String>, mode: Mode) -> Option<LevelVersion> {
    let (level_key, version_key) = match mode {
        Mode::Enforce => (
            "pod-security.kubernetes.io/enforce",
            "pod-security.kubernetes.io/enforce-version",
        ),
        Mode::Warn => (
            "pod-security.kubernetes.io/warn",
            "pod-security.kubernetes.io/warn-version",
        ),
        Mode::Audit => (
            "pod-security.kubernetes.io/audit",
            "pod-security.kubernetes.io/audit-version",
        ),
    };
    let level = labels.get(level_key)?;
    let level = level.parse::<Level>().unwrap_or(Level::Restricted);
    let version = labels
        .get(version_key)
        .and_then(|v| v.parse::<Version>().ok())
        .unwrap_or(Version::Latest);
    Some(LevelVersion::new(level, version))
}

// ---------------------------------------------------------------------------------------------
// Exemptions applied to a verdict

/// The exemptions that apply to one workload now.
#[derive(Debug, Clone, Default)]
pub struct Exempt<'a> {
    pub list: Vec<&'a Exemption>,
}

impl Exempt<'_> {
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// The whole workload is exempt.
    pub fn whole(&self) -> bool {
        self.list
            .iter()
            .any(|e| e.container.is_none() && e.control.is_none())
    }

    /// Containers exempt from every control.
    fn containers(&self) -> Vec<&str> {
        self.list
            .iter()
            .filter(|e| e.control.is_none())
            .filter_map(|e| e.container.as_deref())
            .collect()
    }

    /// Whether `control` is excused for `container` (`None`: the pod level).
    fn excuses(&self, control: Control, container: Option<&str>) -> bool {
        self.list.iter().any(|e| {
            e.control == Some(control)
                && match (&e.container, container) {
                    (None, _) => true,
                    (Some(c), Some(name)) => c == name,
                    (Some(_), None) => false,
                }
        })
    }
}

/// `template` without the named containers (init, regular and ephemeral).
fn without_containers(template: &PodTemplate, names: &[&str]) -> PodTemplate {
    let mut t = template.clone();
    let keep = |n: &str| !names.contains(&n);
    t.spec.containers.retain(|c| keep(&c.name));
    if let Some(v) = t.spec.init_containers.as_mut() {
        v.retain(|c| keep(&c.name));
    }
    if let Some(v) = t.spec.ephemeral_containers.as_mut() {
        v.retain(|c| keep(&c.name));
    }
    t
}

/// THE judgement with exemptions: [`profiles::evaluate`], then what the
/// exemptions excuse taken out. Without exemptions it is exactly
/// `profiles::evaluate`. The patch (defaults to apply) always comes from the
/// whole pod; exemptions only excuse violations.
pub fn judge(profile: &Profile, template: &PodTemplate, exempt: &Exempt<'_>) -> Verdict {
    let full = profiles::evaluate(profile, template);
    if full.allowed || exempt.is_empty() {
        return full;
    }
    if exempt.whole() {
        return Verdict {
            allowed: true,
            message: String::new(),
            violations: Vec::new(),
            ..full
        };
    }
    let containers = exempt.containers();
    let mut verdict = if containers.is_empty() {
        full.clone()
    } else {
        let mut v = profiles::evaluate(profile, &without_containers(template, &containers));
        v.patch = full.patch.clone();
        v.mutated = full.mutated.clone();
        v.changes_settings = full.changes_settings;
        v.policy = v.policy.or(full.policy.clone());
        v
    };
    let before = verdict.violations.len();
    verdict.violations.retain_mut(|v| {
        if v.containers.is_empty() {
            return !exempt.excuses(v.control, None);
        }
        v.containers
            .retain(|c| !exempt.excuses(v.control, Some(c.as_str())));
        !v.containers.is_empty()
    });
    if verdict.violations.is_empty() {
        verdict.allowed = true;
        verdict.message = String::new();
    } else if verdict.violations.len() != before || !containers.is_empty() {
        verdict.message = message_of(profile, &verdict.violations);
    }
    verdict
}

/// The enforce message for a set of violations, as [`profiles::evaluate`]
/// writes it: the level's `violates PodSecurity "…": r1 (d1), r2`, then the
/// policies' `PodSecurityPolicy: unable to admit pod: [e1 e2]`, joined by `; `.
pub fn message_of(profile: &Profile, violations: &[Violation]) -> String {
    let mut parts = Vec::new();
    let (psp, pss): (Vec<&Violation>, Vec<&Violation>) =
        violations.iter().partition(|v| v.field.is_some());
    if let Some(lv) = profile.level
        && !pss.is_empty()
    {
        let reasons: Vec<String> = pss.iter().map(|v| v.text()).collect();
        parts.push(format!(
            "violates PodSecurity \"{lv}\": {}",
            reasons.join(", ")
        ));
    }
    if !psp.is_empty() {
        let errors: Vec<&str> = psp.iter().map(|v| v.detail.as_str()).collect();
        parts.push(format!(
            "PodSecurityPolicy: unable to admit pod: [{}]",
            errors.join(" ")
        ));
    }
    parts.join("; ")
}

// ---------------------------------------------------------------------------------------------
// Findings: what alerts are made of

/// How much a failing control matters: `high` for the controls Pod Security's
/// baseline level guards (known privilege escalations: host access,
/// privileged, capabilities, …), `medium` for the hardening the restricted
/// level adds (non-root, seccomp, privilege escalation, volume types, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Medium,
    High,
}

impl Severity {
    pub fn of(control: Control) -> Severity {
        match control {
            Control::Privileged
            | Control::HostNamespaces
            | Control::HostNetwork
            | Control::HostPath
            | Control::FlexVolume
            | Control::Capabilities
            | Control::SeLinux
            | Control::ProcMount
            | Control::AppArmor
            | Control::Sysctls => Severity::High,
            Control::Volumes
            | Control::FsGroup
            | Control::ReadOnlyRootFs
            | Control::Users
            | Control::PrivilegeEscalation
            | Control::Seccomp => Severity::Medium,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Medium => "medium",
            Severity::High => "high",
        }
    }

    pub fn parse(s: &str) -> Option<Severity> {
        match s {
            "medium" => Some(Severity::Medium),
            "high" => Some(Severity::High),
            _ => None,
        }
    }
}

/// One non-compliant (container, control) of a workload under the profile of
/// one mode: the unit an alert is raised for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// `namespace/Kind/name`.
    pub workload: String,
    /// Empty for pod-level settings (host namespaces, volumes, …).
    pub container: String,
    pub control: Control,
    pub severity: Severity,
    /// The profile's name (`restricted:latest`, `strict`, a custom name).
    pub profile: String,
    pub mode: Mode,
    /// The policy core's words for this container and control:
    /// `violates PodSecurity "restricted:latest": …` in enforce,
    /// `would violate …` in warn and audit.
    pub message: String,
}

impl Finding {
    /// What makes two findings the same alert across snapshots.
    pub fn fingerprint(&self, cluster: &str) -> String {
        format!(
            "{cluster}\u{1f}{}\u{1f}{}\u{1f}{}\u{1f}{}\u{1f}{}",
            self.workload,
            self.container,
            self.control.slug(),
            self.profile,
            self.mode.as_str()
        )
    }
}

/// The findings of one workload: for each mode with a profile, each failing
/// (container, control) after exemptions. Compliant workloads have none.
pub fn findings(
    rules: &Rules,
    cluster: &str,
    key: &WorkloadKey,
    template: &PodTemplate,
    labels: Option<&BTreeMap<String, String>>,
    now_ms: i64,
) -> Vec<Finding> {
    let id = key.to_string();
    let exempt = rules.exemptions_for(cluster, &id, now_ms);
    let mut out = Vec::new();
    for applied in rules.effective(cluster, key, labels).into_iter().flatten() {
        let verdict = judge(&applied.profile, template, &exempt);
        if !verdict.allowed {
            findings_of(&id, &applied, &verdict.violations, &mut out);
        }
    }
    out
}

/// The findings of the violations of one mode's failed verdict on
/// `workload` (`namespace/Kind/name`), added to `out`. [`findings`] is this
/// for each mode with a profile; the admission log calls it on the verdicts
/// the webhook made.
pub fn findings_of(
    workload: &str,
    applied: &Applied,
    violations: &[Violation],
    out: &mut Vec<Finding>,
) {
    explode(workload, applied, violations, out);
}

/// One finding per (container, control), its violations' texts joined.
fn explode(workload: &str, applied: &Applied, violations: &[Violation], out: &mut Vec<Finding>) {
    let mut groups: BTreeMap<(String, Control), Vec<&Violation>> = BTreeMap::new();
    for v in violations {
        if v.containers.is_empty() {
            groups
                .entry((String::new(), v.control))
                .or_default()
                .push(v);
        }
        for c in &v.containers {
            groups.entry((c.clone(), v.control)).or_default().push(v);
        }
    }
    let verb = if applied.mode == Mode::Enforce {
        "violates"
    } else {
        "would violate"
    };
    for ((container, control), vs) in groups {
        let message = message_of(
            &applied.profile,
            &vs.into_iter().cloned().collect::<Vec<_>>(),
        );
        let message = if verb == "violates" {
            message
        } else {
            message.replacen("violates PodSecurity", "would violate PodSecurity", 1)
        };
        out.push(Finding {
            workload: workload.to_owned(),
            container,
            control,
            severity: Severity::of(control),
            profile: applied.profile.name.clone(),
            mode: applied.mode,
            message,
        });
    }
}

#[cfg(test)]
mod tests;
