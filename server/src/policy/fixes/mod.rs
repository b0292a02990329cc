//! Minimal fixes: for each violation, the smallest change to the pod template
//! (a securityContext field where one exists) that clears it, as a strategic
//! merge patch shown in YAML.
//!
//! Every fix is verified before it is offered: the patch is applied to the
//! template, the same profile evaluates the result, and the fix is kept only if
//! that violation is gone and no new one appeared. Candidates are tried from
//! the smallest (one field in one container) to the largest (removing a volume).
//!
//! Pure: no IO.

mod smp;

use k8s_openapi::api::core::v1::{
    ContainerPort, Lifecycle, PodSpec, Probe, SecurityContext, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::model::effective::{RESTRICTED_VOLUME_TYPES, SAFE_SYSCTLS};
use crate::model::{Control, PodTemplate};
use crate::policy::profiles::{Profile, Verdict, Violation, evaluate};
use crate::policy::psp::{
    self, APPARMOR_ALLOWED_ANNOTATION, APPARMOR_CONTAINER_ANNOTATION_PREFIX,
    APPARMOR_DEFAULT_ANNOTATION, SECCOMP_ALLOWED_ANNOTATION, SECCOMP_CONTAINER_ANNOTATION_PREFIX,
    SECCOMP_DEFAULT_ANNOTATION, SECCOMP_POD_ANNOTATION,
};

pub use smp::combine;

/// A verified fix for one violation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Fix {
    /// What to change, in words.
    pub summary: String,
    /// The change as a strategic merge patch of the pod (`spec`, `metadata`).
    pub patch: Value,
}

impl Fix {
    /// The patch for an object of `kind`: nested under its pod template
    /// (`spec.template` for a Deployment, `spec.jobTemplate.spec.template` for
    /// a CronJob, nothing for a Pod).
    pub fn patch_for(&self, kind: &str) -> Value {
        crate::model::template_path(kind)
            .iter()
            .rev()
            .fold(self.patch.clone(), |inner, key| json!({ *key: inner }))
    }

    /// [`Self::patch_for`] as YAML, ready for `kubectl patch --type strategic`
    /// or to merge into the manifest by hand.
    pub fn yaml(&self, kind: &str) -> String {
        serde_yaml_ng::to_string(&self.patch_for(kind)).unwrap_or_default()
    }
}

/// Applies a fix's patch to a template; `None` if the result is not a pod
/// template any more.
pub fn apply(template: &PodTemplate, patch: &Value) -> Option<PodTemplate> {
    let mut doc = json!({ "metadata": template.metadata, "spec": template.spec });
    smp::apply(&mut doc, patch);
    let metadata: ObjectMeta =
        serde_json::from_value(doc.get("metadata").cloned().unwrap_or(json!({}))).ok()?;
    let spec: PodSpec = serde_json::from_value(doc.get("spec").cloned()?).ok()?;
    Some(PodTemplate { metadata, spec })
}

/// A violation's identity across a change: check, policy, and the field with
/// list indices replaced by names (so removing one volume does not make the
/// errors of the next one look new).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Key {
    check: String,
    policy: Option<String>,
    field: Option<String>,
}

fn key(v: &Violation, t: &PodTemplate) -> Key {
    Key {
        check: v.check.to_owned(),
        policy: v.policy.clone(),
        field: v.field.as_deref().map(|f| stable_field(f, t)),
    }
}

/// `spec.containers[1].volumeMounts[0].readOnly` →
/// `spec.containers[web].volumeMounts[/data].readOnly`.
fn stable_field(field: &str, t: &PodTemplate) -> String {
    let doc = json!({ "metadata": t.metadata, "spec": t.spec });
    let body = field.strip_prefix("pod.").unwrap_or(field);
    let mut out = String::new();
    let mut cur: Option<&Value> = Some(&doc);
    let mut rest = body;
    while !rest.is_empty() {
        let end = rest.find(['.', '[']).unwrap_or(rest.len());
        let name = &rest[..end];
        if !name.is_empty() {
            out.push_str(name);
            cur = cur.and_then(|v| v.get(name));
        }
        rest = &rest[end..];
        if let Some(r) = rest.strip_prefix('.') {
            out.push('.');
            rest = r;
        } else if let Some(r) = rest.strip_prefix('[') {
            let close = r.find(']').unwrap_or(r.len());
            let inner = &r[..close];
            rest = r.get(close + 1..).unwrap_or("");
            let item = match inner.parse::<usize>() {
                Ok(i) => cur.and_then(|v| v.get(i)),
                Err(_) => cur.and_then(|v| v.get(inner)),
            };
            let label = item
                .and_then(|it| {
                    ["mountPath", "name"]
                        .iter()
                        .find_map(|k| it.get(k).and_then(Value::as_str))
                })
                .map(str::to_owned)
                .unwrap_or_else(|| inner.to_owned());
            out.push('[');
            out.push_str(&label);
            out.push(']');
            cur = item;
        }
    }
    out
}

/// One fix per violation of `verdict` (`None` where no candidate clears it).
pub fn suggest(profile: &Profile, template: &PodTemplate, verdict: &Verdict) -> Vec<Option<Fix>> {
    let before: Vec<Key> = verdict
        .violations
        .iter()
        .map(|v| key(v, template))
        .collect();
    verdict
        .violations
        .iter()
        .enumerate()
        .map(|(i, v)| {
            candidates(profile, template, v)
                .into_iter()
                .find(|c| clears(profile, template, &before, &before[i], &c.patch))
                .map(Fix::from)
        })
        .collect()
}

/// Whether applying `patch` removes the violation `target` without adding any.
fn clears(
    profile: &Profile,
    template: &PodTemplate,
    before: &[Key],
    target: &Key,
    patch: &Value,
) -> bool {
    let Some(fixed) = apply(template, patch) else {
        return false;
    };
    let after = evaluate(profile, &fixed);
    let keys: Vec<Key> = after.violations.iter().map(|v| key(v, &fixed)).collect();
    !keys.contains(target) && keys.iter().all(|k| before.contains(k))
}

/// Re-checks a fix from the outside: applying it to `template` leaves no
/// violation with `violation`'s check (and field), and adds none. For tests
/// and for callers that received a fix from elsewhere.
pub fn verify(profile: &Profile, template: &PodTemplate, violation: &Violation, fix: &Fix) -> bool {
    let verdict = evaluate(profile, template);
    let before: Vec<Key> = verdict
        .violations
        .iter()
        .map(|v| key(v, template))
        .collect();
    clears(
        profile,
        template,
        &before,
        &key(violation, template),
        &fix.patch,
    )
}

// ---------------------------------------------------------------------------------------------
// Containers

/// One container of any kind, with what fixes read.
struct Ctr<'a> {
    /// `initContainers`, `containers` or `ephemeralContainers`.
    list: &'static str,
    name: &'a str,
    sc: Option<&'a SecurityContext>,
    ports: &'a [ContainerPort],
    mounts: &'a [VolumeMount],
    probes: [(&'static str, Option<&'a Probe>); 3],
    lifecycle: Option<&'a Lifecycle>,
}

fn containers(spec: &PodSpec) -> Vec<Ctr<'_>> {
    // `Container` and `EphemeralContainer` are two types with the same
    // fields: one row made the same way from either.
    macro_rules! ctr {
        ($list:literal, $c:expr) => {{
            let c = $c;
            Ctr {
                list: $list,
                name: &c.name,
                sc: c.security_context.as_ref(),
                ports: c.ports.as_deref().unwrap_or_default(),
                mounts: c.volume_mounts.as_deref().unwrap_or_default(),
                probes: [
                    ("livenessProbe", c.liveness_probe.as_ref()),
                    ("readinessProbe", c.readiness_probe.as_ref()),
                    ("startupProbe", c.startup_probe.as_ref()),
                ],
                lifecycle: c.lifecycle.as_ref(),
            }
        }};
    }
    let init = spec.init_containers.iter().flatten();
    let ephemeral = spec.ephemeral_containers.iter().flatten();
    init.map(|c| ctr!("initContainers", c))
        .chain(spec.containers.iter().map(|c| ctr!("containers", c)))
        .chain(ephemeral.map(|c| ctr!("ephemeralContainers", c)))
        .collect()
}

/// `{spec: {<list>: [{name, ...body}]}}`.
fn ctr_patch(c: &Ctr, body: Value) -> Value {
    let mut item = Map::new();
    item.insert("name".into(), json!(c.name));
    if let Value::Object(m) = body {
        item.extend(m);
    }
    json!({ "spec": { c.list: [Value::Object(item)] } })
}

fn sc_patch(c: &Ctr, sc: Value) -> Value {
    ctr_patch(c, json!({ "securityContext": sc }))
}

fn pod_sc_patch(sc: Value) -> Value {
    json!({ "spec": { "securityContext": sc } })
}

fn quoted(names: &[&str]) -> String {
    let q: Vec<String> = names.iter().map(|n| format!("{n:?}")).collect();
    q.join(", ")
}

fn in_containers(names: &[&str]) -> String {
    if names.len() == 1 {
        format!("container {}", quoted(names))
    } else {
        format!("containers {}", quoted(names))
    }
}

/// One candidate fix.
struct Candidate {
    summary: String,
    patch: Value,
}

fn cand(summary: impl Into<String>, patch: Value) -> Candidate {
    Candidate {
        summary: summary.into(),
        patch,
    }
}

impl From<Candidate> for Fix {
    fn from(c: Candidate) -> Self {
        Fix {
            summary: c.summary,
            patch: c.patch,
        }
    }
}

/// One patch setting `sc` on each of `targets`, and the summary.
fn per_container(targets: &[&Ctr], words: &str, sc: impl Fn(&Ctr) -> Value) -> Option<Candidate> {
    if targets.is_empty() {
        return None;
    }
    let patch = targets
        .iter()
        .map(|c| sc_patch(c, sc(c)))
        .reduce(|a, b| combine(&a, &b))?;
    let names: Vec<&str> = targets.iter().map(|c| c.name).collect();
    Some(cand(format!("{words} in {}", in_containers(&names)), patch))
}

// ---------------------------------------------------------------------------------------------
// Candidates

fn candidates(profile: &Profile, t: &PodTemplate, v: &Violation) -> Vec<Candidate> {
    match (&v.field, &v.policy) {
        (Some(field), Some(policy)) => {
            let Some(p) = profile.policies.iter().find(|p| &p.name == policy) else {
                return Vec::new();
            };
            psp_candidates(p, t, field, v.control)
        }
        _ => pss_candidates(v.check, t),
    }
}

/// Fixes for the Pod Security Standards checks.
fn pss_candidates(check: &str, t: &PodTemplate) -> Vec<Candidate> {
    let spec = &t.spec;
    let cs = containers(spec);
    let psc = spec.security_context.as_ref();
    let mut out = Vec::new();
    let sc_of = |c: &Ctr| c.sc.cloned().unwrap_or_default();
    match check {
        "allowPrivilegeEscalation" => {
            let bad: Vec<&Ctr> = cs
                .iter()
                .filter(|c| c.sc.and_then(|s| s.allow_privilege_escalation) != Some(false))
                .collect();
            out.extend(per_container(
                &bad,
                "Set allowPrivilegeEscalation: false",
                |_| json!({"allowPrivilegeEscalation": false}),
            ));
        }
        "privileged" => {
            let bad: Vec<&Ctr> = cs
                .iter()
                .filter(|c| c.sc.and_then(|s| s.privileged) == Some(true))
                .collect();
            out.extend(per_container(
                &bad,
                "Set privileged: false",
                |_| json!({"privileged": false}),
            ));
        }
        "windowsHostProcess" => {
            let mut patch = json!({});
            if psc
                .and_then(|p| p.windows_options.as_ref())
                .and_then(|w| w.host_process)
                == Some(true)
            {
                patch = pod_sc_patch(json!({"windowsOptions": {"hostProcess": false}}));
            }
            for c in &cs {
                if c.sc
                    .and_then(|s| s.windows_options.as_ref())
                    .and_then(|w| w.host_process)
                    == Some(true)
                {
                    patch = combine(
                        &patch,
                        &sc_patch(c, json!({"windowsOptions": {"hostProcess": false}})),
                    );
                }
            }
            out.push(cand("Set windowsOptions.hostProcess: false", patch));
        }
        "capabilities_baseline" | "capabilities_restricted" => {
            let restricted = check == "capabilities_restricted";
            let allowed = |cap: &str| {
                if restricted {
                    cap == "NET_BIND_SERVICE"
                } else {
                    BASELINE_CAPABILITIES.contains(&cap)
                }
            };
            let mut patch = json!({});
            let mut words = Vec::new();
            for c in &cs {
                let caps = sc_of(c).capabilities.unwrap_or_default();
                let add = caps.add.unwrap_or_default();
                let drop = caps.drop.unwrap_or_default();
                let mut body = Map::new();
                let removed: Vec<&String> = add.iter().filter(|a| !allowed(a)).collect();
                if !removed.is_empty() {
                    let kept: Vec<&String> = add.iter().filter(|a| allowed(a)).collect();
                    body.insert(
                        "add".into(),
                        if kept.is_empty() {
                            Value::Null
                        } else {
                            json!(kept)
                        },
                    );
                    let r: Vec<&str> = removed.iter().map(|s| s.as_str()).collect();
                    words.push(format!(
                        "stop adding {} in container {:?}",
                        r.join(", "),
                        c.name
                    ));
                }
                if restricted && !drop.iter().any(|d| d == "ALL") {
                    let mut d = drop.clone();
                    d.push("ALL".into());
                    body.insert("drop".into(), json!(d));
                    words.push(format!("drop ALL in container {:?}", c.name));
                }
                if !body.is_empty() {
                    patch = combine(
                        &patch,
                        &sc_patch(c, json!({"capabilities": Value::Object(body)})),
                    );
                }
            }
            if !words.is_empty() {
                out.push(cand(capitalise(&words.join("; ")), patch));
            }
        }
        "hostNamespaces" => {
            let mut patch = Map::new();
            let mut set = Vec::new();
            for (field, on) in [
                ("hostNetwork", spec.host_network),
                ("hostPID", spec.host_pid),
                ("hostIPC", spec.host_ipc),
            ] {
                if on == Some(true) {
                    patch.insert(field.into(), json!(false));
                    set.push(format!("{field}: false"));
                }
            }
            if !set.is_empty() {
                out.push(cand(
                    format!("Set {} on the pod", set.join(", ")),
                    json!({ "spec": Value::Object(patch) }),
                ));
            }
        }
        "hostPorts" => {
            let mut patch = json!({});
            let mut names = Vec::new();
            for c in &cs {
                let ports: Vec<Value> = c
                    .ports
                    .iter()
                    .filter(|p| p.host_port.unwrap_or(0) != 0)
                    .map(|p| json!({"containerPort": p.container_port, "hostPort": null}))
                    .collect();
                if !ports.is_empty() {
                    names.push(c.name);
                    patch = combine(&patch, &ctr_patch(c, json!({ "ports": ports })));
                }
            }
            if !names.is_empty() {
                out.push(cand(
                    format!(
                        "Remove hostPort from the ports of {} (reach it through a Service instead)",
                        in_containers(&names)
                    ),
                    patch,
                ));
            }
        }
        "hostProbesAndHostLifecycle" => {
            let mut patch = json!({});
            let mut names = Vec::new();
            for c in &cs {
                let mut body = Map::new();
                for (name, probe) in c.probes {
                    let Some(p) = probe else { continue };
                    let pm = clear_hosts(p.http_get.as_ref(), p.tcp_socket.as_ref());
                    if !pm.is_empty() {
                        body.insert(name.into(), Value::Object(pm));
                    }
                }
                if let Some(l) = c.lifecycle {
                    let mut lm = Map::new();
                    for (name, h) in [("postStart", &l.post_start), ("preStop", &l.pre_stop)] {
                        let Some(h) = h else { continue };
                        let hm = clear_hosts(h.http_get.as_ref(), h.tcp_socket.as_ref());
                        if !hm.is_empty() {
                            lm.insert(name.into(), Value::Object(hm));
                        }
                    }
                    if !lm.is_empty() {
                        body.insert("lifecycle".into(), Value::Object(lm));
                    }
                }
                if !body.is_empty() {
                    names.push(c.name);
                    patch = combine(&patch, &ctr_patch(c, Value::Object(body)));
                }
            }
            if !names.is_empty() {
                out.push(cand(
                    format!(
                        "Remove host from the probes and lifecycle hooks of {} (they then target the pod's own IP)",
                        in_containers(&names)
                    ),
                    patch,
                ));
            }
        }
        "procMount" | "procMount_restricted" => {
            let bad: Vec<&Ctr> = cs
                .iter()
                .filter(|c| {
                    c.sc.and_then(|s| s.proc_mount.as_deref())
                        .is_some_and(|p| p != "Default")
                })
                .collect();
            out.extend(per_container(
                &bad,
                "Set procMount: Default",
                |_| json!({"procMount": "Default"}),
            ));
        }
        "hostPathVolumes" | "restrictedVolumes" => {
            let restricted = check == "restrictedVolumes";
            let bad: Vec<&str> = spec
                .volumes
                .iter()
                .flatten()
                .filter(|v| {
                    if restricted {
                        !restricted_volume_ok(v)
                    } else {
                        v.host_path.is_some()
                    }
                })
                .map(|v| v.name.as_str())
                .collect();
            if !bad.is_empty() {
                out.push(remove_volumes(spec, &bad));
            }
        }
        "runAsNonRoot" => {
            let mut patch = pod_sc_patch(json!({"runAsNonRoot": true}));
            let mut explicit = Vec::new();
            for c in &cs {
                if c.sc.and_then(|s| s.run_as_non_root) == Some(false) {
                    explicit.push(c.name);
                    patch = combine(&patch, &sc_patch(c, json!({"runAsNonRoot": true})));
                }
            }
            let mut words = "Set runAsNonRoot: true on the pod".to_owned();
            if !explicit.is_empty() {
                words.push_str(&format!(" and in {}", in_containers(&explicit)));
            }
            words.push_str(" (the image must then run as a non-zero UID, or set runAsUser)");
            out.push(cand(words, patch));
        }
        "runAsUser" => {
            let mut patch = json!({});
            let mut where_ = Vec::new();
            if psc.and_then(|p| p.run_as_user) == Some(0) {
                patch = pod_sc_patch(json!({"runAsUser": null}));
                where_.push("the pod".to_owned());
            }
            for c in &cs {
                if c.sc.and_then(|s| s.run_as_user) == Some(0) {
                    patch = combine(&patch, &sc_patch(c, json!({"runAsUser": null})));
                    where_.push(format!("container {:?}", c.name));
                }
            }
            if !where_.is_empty() {
                out.push(cand(
                    format!(
                        "Remove runAsUser: 0 from {} (run as the image's user, or set a non-zero UID)",
                        where_.join(" and ")
                    ),
                    patch,
                ));
            }
        }
        "seLinuxOptions" => {
            let fix = |o: &k8s_openapi::api::core::v1::SELinuxOptions| {
                let mut m = Map::new();
                if o.type_
                    .as_deref()
                    .is_some_and(|t| !t.is_empty() && !SELINUX_TYPES.contains(&t))
                {
                    m.insert("type".into(), Value::Null);
                }
                if o.user.as_deref().is_some_and(|u| !u.is_empty()) {
                    m.insert("user".into(), Value::Null);
                }
                if o.role.as_deref().is_some_and(|r| !r.is_empty()) {
                    m.insert("role".into(), Value::Null);
                }
                m
            };
            let mut patch = json!({});
            if let Some(o) = psc.and_then(|p| p.se_linux_options.as_ref()) {
                let m = fix(o);
                if !m.is_empty() {
                    patch = pod_sc_patch(json!({"seLinuxOptions": Value::Object(m)}));
                }
            }
            for c in &cs {
                if let Some(o) = c.sc.and_then(|s| s.se_linux_options.as_ref()) {
                    let m = fix(o);
                    if !m.is_empty() {
                        patch = combine(
                            &patch,
                            &sc_patch(c, json!({"seLinuxOptions": Value::Object(m)})),
                        );
                    }
                }
            }
            out.push(cand(
                "Remove the SELinux user and role, and any type outside container_t, container_init_t, container_kvm_t and container_engine_t",
                patch,
            ));
        }
        "seccompProfile_baseline" | "seccompProfile_restricted" => {
            let restricted = check == "seccompProfile_restricted";
            let bad_type = |t: &str| {
                if restricted {
                    !matches!(t, "RuntimeDefault" | "Localhost")
                } else {
                    t == "Unconfined"
                }
            };
            let runtime_default =
                json!({"seccompProfile": {"type": "RuntimeDefault", "localhostProfile": null}});
            let pod_bad = psc
                .and_then(|p| p.seccomp_profile.as_ref())
                .map_or(restricted, |p| bad_type(&p.type_));
            let mut patch = if pod_bad {
                pod_sc_patch(runtime_default.clone())
            } else {
                json!({})
            };
            let mut names = Vec::new();
            for c in &cs {
                if c.sc
                    .and_then(|s| s.seccomp_profile.as_ref())
                    .is_some_and(|p| bad_type(&p.type_))
                {
                    names.push(c.name);
                    patch = combine(&patch, &sc_patch(c, runtime_default.clone()));
                }
            }
            // Before v1.19 the annotations were checked.
            let ann = t.metadata.annotations.clone().unwrap_or_default();
            let mut fixed_ann = Map::new();
            for (k, v) in &ann {
                let is_seccomp = k == SECCOMP_POD_ANNOTATION
                    || k.starts_with(SECCOMP_CONTAINER_ANNOTATION_PREFIX);
                if is_seccomp && v == "unconfined" {
                    fixed_ann.insert(k.clone(), json!("runtime/default"));
                }
            }
            if !fixed_ann.is_empty() {
                patch = combine(
                    &patch,
                    &json!({"metadata": {"annotations": Value::Object(fixed_ann)}}),
                );
            }
            let mut words = String::from(
                "Use the runtime's seccomp profile (seccompProfile.type: RuntimeDefault)",
            );
            match (pod_bad, names.is_empty()) {
                (true, true) => words.push_str(" on the pod"),
                (true, false) => {
                    words.push_str(&format!(" on the pod and in {}", in_containers(&names)))
                }
                (false, false) => words.push_str(&format!(" in {}", in_containers(&names))),
                (false, true) => {}
            }
            out.push(cand(words, patch));
        }
        "appArmorProfile" => {
            let runtime_default =
                json!({"appArmorProfile": {"type": "RuntimeDefault", "localhostProfile": null}});
            let bad = |t: &str| !matches!(t, "RuntimeDefault" | "Localhost");
            let mut patch = json!({});
            if psc
                .and_then(|p| p.app_armor_profile.as_ref())
                .is_some_and(|p| bad(&p.type_))
            {
                patch = pod_sc_patch(runtime_default.clone());
            }
            for c in &cs {
                if c.sc
                    .and_then(|s| s.app_armor_profile.as_ref())
                    .is_some_and(|p| bad(&p.type_))
                {
                    patch = combine(&patch, &sc_patch(c, runtime_default.clone()));
                }
            }
            let mut fixed_ann = Map::new();
            for (k, v) in t.metadata.annotations.iter().flatten() {
                if k.starts_with(APPARMOR_CONTAINER_ANNOTATION_PREFIX)
                    && !(v.is_empty() || v == "runtime/default" || v.starts_with("localhost/"))
                {
                    fixed_ann.insert(k.clone(), json!("runtime/default"));
                }
            }
            if !fixed_ann.is_empty() {
                patch = combine(
                    &patch,
                    &json!({"metadata": {"annotations": Value::Object(fixed_ann)}}),
                );
            }
            out.push(cand(
                "Use the runtime's AppArmor profile (RuntimeDefault) instead of Unconfined",
                patch,
            ));
        }
        "sysctls" => {
            let sysctls = psc.and_then(|p| p.sysctls.clone()).unwrap_or_default();
            let (kept, removed): (Vec<_>, Vec<_>) = sysctls
                .iter()
                .partition(|s| SAFE_SYSCTLS.contains(&s.name.as_str()));
            if !removed.is_empty() {
                let names: Vec<&str> = removed.iter().map(|s| s.name.as_str()).collect();
                out.push(cand(
                    format!(
                        "Remove the unsafe sysctl{} {} from the pod (a node-level setting: the kubelet must allow it, and it then belongs to the node, not the pod)",
                        if names.len() == 1 { "" } else { "s" },
                        names.join(", ")
                    ),
                    pod_sc_patch(json!({
                        "sysctls": if kept.is_empty() { Value::Null } else { json!(kept) }
                    })),
                ));
            }
        }
        _ => {}
    }
    out
}

/// The capabilities baseline allows to be added.
const BASELINE_CAPABILITIES: [&str; 13] = [
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
];

const SELINUX_TYPES: [&str; 4] = [
    "container_t",
    "container_init_t",
    "container_kvm_t",
    "container_engine_t",
];

fn restricted_volume_ok(v: &k8s_openapi::api::core::v1::Volume) -> bool {
    let Ok(Value::Object(m)) = serde_json::to_value(v) else {
        return true;
    };
    let sources: Vec<&String> = m.keys().filter(|k| k.as_str() != "name").collect();
    // No source at all is defaulted to emptyDir.
    sources.is_empty()
        || sources
            .iter()
            .any(|s| RESTRICTED_VOLUME_TYPES.contains(&s.as_str()))
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// Removes volumes and every mount of them, in all containers.
fn remove_volumes(spec: &PodSpec, names: &[&str]) -> Candidate {
    let volumes: Vec<Value> = names
        .iter()
        .map(|n| json!({"$patch": "delete", "name": n}))
        .collect();
    let mut patch = json!({"spec": {"volumes": volumes}});
    let mut mounted_in = Vec::new();
    for c in containers(spec) {
        let mounts: Vec<Value> = c
            .mounts
            .iter()
            .filter(|m| names.contains(&m.name.as_str()))
            .map(|m| json!({"$patch": "delete", "mountPath": m.mount_path}))
            .collect();
        if !mounts.is_empty() {
            mounted_in.push(c.name);
            patch = combine(&patch, &ctr_patch(&c, json!({"volumeMounts": mounts})));
        }
    }
    let what = if names.len() == 1 {
        format!("volume {}", quoted(names))
    } else {
        format!("volumes {}", quoted(names))
    };
    let mut summary = format!("Remove {what}");
    if !mounted_in.is_empty() {
        let its = if names.len() == 1 { "its" } else { "their" };
        summary.push_str(&format!(
            " and {its} mounts in {}",
            in_containers(&mounted_in)
        ));
    }
    summary.push_str(" (no securityContext setting allows it; the workload loses that access)");
    cand(summary, patch)
}

// ---------------------------------------------------------------------------------------------
// PodSecurityPolicy fixes, by error path

/// The container an error path starts with, and the rest of the path.
fn split_container<'a, 'b>(field: &'b str, cs: &'a [Ctr<'a>]) -> Option<(&'a Ctr<'a>, &'b str)> {
    for list in ["initContainers", "containers", "ephemeralContainers"] {
        let prefix = format!("spec.{list}[");
        if let Some(rest) = field.strip_prefix(prefix.as_str()) {
            let close = rest.find(']')?;
            let i: usize = rest[..close].parse().ok()?;
            let c = cs.iter().filter(|c| c.list == list).nth(i)?;
            return Some((c, &rest[close + 1..]));
        }
    }
    None
}

/// The index in `spec.volumes[i]…`.
fn volume_index(field: &str) -> Option<usize> {
    let rest = field.strip_prefix("spec.volumes[")?;
    rest[..rest.find(']')?].parse().ok()
}

/// The field form of a seccomp annotation value.
fn seccomp_field(v: &str) -> Value {
    if v == "runtime/default" {
        json!({"type": "RuntimeDefault", "localhostProfile": null})
    } else if let Some(p) = v.strip_prefix("localhost/") {
        json!({"type": "Localhost", "localhostProfile": p})
    } else {
        Value::Null
    }
}

fn psp_candidates(
    p: &psp::Profile,
    t: &PodTemplate,
    field: &str,
    control: Control,
) -> Vec<Candidate> {
    let spec = &t.spec;
    let s = &p.spec;
    let cs = containers(spec);
    let psc = spec.security_context.clone().unwrap_or_default();
    let mut out = Vec::new();

    if let Some((c, rest)) = split_container(field, &cs) {
        let sc = c.sc.cloned().unwrap_or_default();
        let one = |words: &str, body: Value| {
            cand(
                format!("{words} in container {:?}", c.name),
                sc_patch(c, body),
            )
        };
        match rest {
            ".securityContext.privileged" => {
                out.push(one("Set privileged: false", json!({"privileged": false})))
            }
            ".securityContext.readOnlyRootFilesystem" => out.push(one(
                "Set readOnlyRootFilesystem: true (mount an emptyDir where it writes)",
                json!({"readOnlyRootFilesystem": true}),
            )),
            ".securityContext.allowPrivilegeEscalation" => out.push(one(
                "Set allowPrivilegeEscalation: false",
                json!({"allowPrivilegeEscalation": false}),
            )),
            ".securityContext.procMount" => out.push(one(
                "Set procMount: Default",
                json!({"procMount": "Default"}),
            )),
            ".hostPort" => {
                let allowed =
                    |port: i32| s.host_ports.iter().any(|r| r.min <= port && port <= r.max);
                let ports: Vec<Value> = c
                    .ports
                    .iter()
                    .filter(|pt| pt.host_port.is_some_and(|h| h != 0 && !allowed(h)))
                    .map(|pt| json!({"containerPort": pt.container_port, "hostPort": null}))
                    .collect();
                let remove = (!ports.is_empty()).then(|| ctr_patch(c, json!({ "ports": ports })));
                if let Some(patch) = &remove {
                    out.push(cand(
                        format!(
                            "Remove the hostPorts outside the allowed ranges from container {:?}",
                            c.name
                        ),
                        patch.clone(),
                    ));
                }
                if spec.host_network == Some(true) {
                    let off = json!({"spec": {"hostNetwork": false}});
                    let patch = match &remove {
                        Some(r) => combine(&off, r),
                        None => off,
                    };
                    out.push(cand(
                        "Set hostNetwork: false on the pod (with the host network every container port is a host port)",
                        patch,
                    ));
                }
            }
            ".securityContext.capabilities.add" => {
                let caps = sc.capabilities.clone().unwrap_or_default();
                let ok = |x: &String| {
                    s.allowed_capabilities.contains(x) || s.default_add_capabilities.contains(x)
                };
                let add = caps.add.unwrap_or_default();
                let removed: Vec<&str> =
                    add.iter().filter(|x| !ok(x)).map(String::as_str).collect();
                let kept: Vec<&String> = add.iter().filter(|x| ok(x)).collect();
                if !removed.is_empty() {
                    out.push(one(
                        &format!("Stop adding {}", removed.join(", ")),
                        json!({"capabilities": {"add": if kept.is_empty() { Value::Null } else { json!(kept) }}}),
                    ));
                }
            }
            ".securityContext.capabilities.drop" | ".securityContext.capabilities" => {
                let caps = sc.capabilities.clone().unwrap_or_default();
                let mut drop = caps.drop.unwrap_or_default();
                for r in &s.required_drop_capabilities {
                    if !drop.contains(r) {
                        drop.push(r.clone());
                    }
                }
                out.push(one(
                    &format!("Drop {}", s.required_drop_capabilities.join(", ")),
                    json!({"capabilities": {"drop": drop}}),
                ));
            }
            ".securityContext.runAsUser" => {
                match s.run_as_user.rule.as_str() {
                    "MustRunAs" => {
                        if let Some(r) = s.run_as_user.ranges.first() {
                            out.push(one(
                                &format!("Set runAsUser: {} (allowed: {}–{})", r.min, r.min, r.max),
                                json!({"runAsUser": r.min}),
                            ));
                        }
                    }
                    _ => {
                        // MustRunAsNonRoot with UID 0: drop the explicit root UID.
                        let mut patch = json!({});
                        let mut where_ = Vec::new();
                        if sc.run_as_user == Some(0) {
                            patch = sc_patch(c, json!({"runAsUser": null}));
                            where_.push(format!("container {:?}", c.name));
                        }
                        if psc.run_as_user == Some(0) && sc.run_as_user.is_none() {
                            patch = combine(&patch, &pod_sc_patch(json!({"runAsUser": null})));
                            where_.push("the pod".into());
                        }
                        if !where_.is_empty() {
                            out.push(cand(
                            format!("Remove runAsUser: 0 from {} (the image's non-root user is used)", where_.join(" and ")),
                            patch,
                        ));
                        }
                    }
                }
            }
            ".securityContext.runAsNonRoot" => {
                let on_pod = sc.run_as_non_root.is_none() && psc.run_as_non_root == Some(false);
                let pod = cand(
                    "Set runAsNonRoot: true on the pod",
                    pod_sc_patch(json!({"runAsNonRoot": true})),
                );
                let own = one("Set runAsNonRoot: true", json!({"runAsNonRoot": true}));
                // A root UID fails next, so it goes too.
                let root = if sc.run_as_user == Some(0) {
                    Some(sc_patch(c, json!({"runAsUser": null})))
                } else if sc.run_as_user.is_none() && psc.run_as_user == Some(0) {
                    Some(pod_sc_patch(json!({"runAsUser": null})))
                } else {
                    None
                };
                let mut list = if on_pod { vec![pod, own] } else { vec![own] };
                if let Some(root) = root {
                    let with_root: Vec<Candidate> = list
                        .iter()
                        .map(|x| {
                            cand(
                                format!("{}, and remove runAsUser: 0", x.summary),
                                combine(&x.patch, &root),
                            )
                        })
                        .collect();
                    list.extend(with_root);
                }
                out.extend(list);
            }
            // runAsGroup errors carry the securityContext path itself.
            ".securityContext" if control == Control::Users => {
                if let Some(r) = s.run_as_group.as_ref().and_then(|g| g.ranges.first()) {
                    out.push(one(
                        &format!("Set runAsGroup: {} (allowed: {}–{})", r.min, r.min, r.max),
                        json!({"runAsGroup": r.min}),
                    ));
                }
            }
            r if r.starts_with(".securityContext.seLinuxOptions") => {
                if let Some(o) = &s.se_linux.se_linux_options {
                    let opts =
                        json!({"level": o.level, "role": o.role, "type": o.type_, "user": o.user});
                    if sc.se_linux_options.is_some() {
                        out.push(cand(
                            format!("Remove seLinuxOptions from container {:?} and set the policy's on the pod", c.name),
                            combine(
                                &sc_patch(c, json!({"seLinuxOptions": null})),
                                &pod_sc_patch(json!({"seLinuxOptions": opts.clone()})),
                            ),
                        ));
                    }
                    out.push(one(
                        "Set the policy's seLinuxOptions",
                        json!({"seLinuxOptions": opts}),
                    ));
                }
            }
            r if r.starts_with(".volumeMounts[") && r.ends_with("].readOnly") => {
                let j: Option<usize> = r[".volumeMounts[".len()..r.len() - "].readOnly".len()]
                    .parse()
                    .ok();
                if let Some(m) = j.and_then(|j| c.mounts.get(j)) {
                    out.push(cand(
                        format!("Mount {:?} read-only in container {:?}", m.mount_path, c.name),
                        ctr_patch(c, json!({"volumeMounts": [{"mountPath": m.mount_path, "readOnly": true}]})),
                    ));
                }
            }
            _ => {}
        }
        return out;
    }

    match field {
        "spec.securityContext.hostNetwork"
        | "spec.securityContext.hostPID"
        | "spec.securityContext.hostIPC" => {
            let f = &field["spec.securityContext.".len()..];
            out.push(cand(
                format!("Set {f}: false on the pod"),
                json!({"spec": { f: false }}),
            ));
        }
        "spec.securityContext.fsGroup" => {
            if let Some(r) = s.fs_group.ranges.first() {
                out.push(cand(
                    format!(
                        "Set fsGroup: {} on the pod (allowed: {}–{})",
                        r.min, r.min, r.max
                    ),
                    pod_sc_patch(json!({"fsGroup": r.min})),
                ));
            }
        }
        "spec.securityContext.supplementalGroups" => {
            let ranges = &s.supplemental_groups.ranges;
            let ok = |g: &i64| ranges.iter().any(|r| r.min <= *g && *g <= r.max);
            let kept: Vec<i64> = psc
                .supplemental_groups
                .iter()
                .flatten()
                .copied()
                .filter(ok)
                .collect();
            let value = match (kept.is_empty(), ranges.first()) {
                (false, _) => json!(kept),
                (true, Some(r)) => json!([r.min]),
                (true, None) => Value::Null,
            };
            out.push(cand(
                format!("Set supplementalGroups to {value} on the pod"),
                pod_sc_patch(json!({"supplementalGroups": value})),
            ));
        }
        f if f.starts_with("spec.securityContext.seLinuxOptions") => {
            if let Some(o) = &s.se_linux.se_linux_options {
                out.push(cand(
                    "Set the policy's seLinuxOptions on the pod",
                    pod_sc_patch(json!({"seLinuxOptions": {"level": o.level, "role": o.role, "type": o.type_, "user": o.user}})),
                ));
            }
        }
        "spec.runtimeClassName" => {
            let default = s
                .runtime_class
                .as_ref()
                .and_then(|rc| rc.default_runtime_class_name.clone());
            out.push(match default {
                Some(d) => cand(
                    format!("Set runtimeClassName: {d}"),
                    json!({"spec": {"runtimeClassName": d}}),
                ),
                None => cand(
                    "Remove runtimeClassName (use the cluster's default runtime)",
                    json!({"spec": {"runtimeClassName": null}}),
                ),
            });
        }
        f if f.starts_with("pod.spec.securityContext.sysctls[") => {
            let i: Option<usize> = f["pod.spec.securityContext.sysctls[".len()..]
                .split(']')
                .next()
                .and_then(|x| x.parse().ok());
            let all = psc.sysctls.clone().unwrap_or_default();
            if let Some(bad) = i.and_then(|i| all.get(i)) {
                let kept: Vec<_> = all.iter().filter(|x| x.name != bad.name).collect();
                out.push(cand(
                    format!("Remove the sysctl {} from the pod", bad.name),
                    pod_sc_patch(
                        json!({"sysctls": if kept.is_empty() { Value::Null } else { json!(kept) }}),
                    ),
                ));
            }
        }
        f if f.starts_with("pod.metadata.annotations[") => {
            let key = &f["pod.metadata.annotations[".len()..f.len().saturating_sub(1)];
            out.extend(annotation_candidates(p, t, &cs, key));
        }
        f if f.starts_with("spec.volumes[") => {
            if let Some(v) = volume_index(f).and_then(|i| spec.volumes.as_ref()?.get(i)) {
                out.push(remove_volumes(spec, &[v.name.as_str()]));
            }
        }
        _ => {}
    }
    out
}

/// Fixes for seccomp and AppArmor annotation errors.
fn annotation_candidates(
    p: &psp::Profile,
    t: &PodTemplate,
    cs: &[Ctr],
    key: &str,
) -> Vec<Candidate> {
    let mut out = Vec::new();
    let ann = |k: &str| p.annotations.get(k).map(String::as_str);
    if let Some(name) = key.strip_prefix(APPARMOR_CONTAINER_ANNOTATION_PREFIX) {
        let value = ann(APPARMOR_DEFAULT_ANNOTATION)
            .filter(|d| !d.is_empty())
            .or_else(|| {
                ann(APPARMOR_ALLOWED_ANNOTATION)?
                    .split(',')
                    .find(|x| !x.is_empty())
            });
        if let Some(v) = value {
            out.push(cand(
                format!("Set the AppArmor profile of container {name:?} to {v}"),
                json!({"metadata": {"annotations": { key: v }}}),
            ));
        }
        return out;
    }
    let allowed: Option<Vec<&str>> =
        ann(SECCOMP_ALLOWED_ANNOTATION).map(|a| a.split(',').collect());
    let value: Option<&str> = match &allowed {
        None => None,
        Some(list) => ann(SECCOMP_DEFAULT_ANNOTATION)
            .filter(|d| !d.is_empty())
            .or_else(|| list.iter().copied().find(|x| !x.is_empty() && *x != "*")),
    };
    if key == SECCOMP_POD_ANNOTATION {
        match (&allowed, value) {
            (None, _) => out.push(cand(
                "Remove the pod's seccomp profile (this policy allows none)",
                json!({"metadata": {"annotations": { key: null }}, "spec": {"securityContext": {"seccompProfile": null}}}),
            )),
            (Some(_), Some(v)) => out.push(cand(
                format!("Set the pod's seccomp profile to {v}"),
                json!({"metadata": {"annotations": { key: v }}, "spec": {"securityContext": {"seccompProfile": seccomp_field(v)}}}),
            )),
            _ => {}
        }
    } else if let Some(name) = key.strip_prefix(SECCOMP_CONTAINER_ANNOTATION_PREFIX) {
        let Some(c) = cs.iter().find(|c| c.name == name) else {
            return out;
        };
        let has_own = c.sc.and_then(|s| s.seccomp_profile.as_ref()).is_some()
            || t.metadata
                .annotations
                .as_ref()
                .is_some_and(|a| a.contains_key(key));
        if has_own {
            out.push(cand(
                format!(
                    "Remove the seccomp profile of container {name:?} (it then uses the pod's)"
                ),
                combine(
                    &json!({"metadata": {"annotations": { key: null }}}),
                    &sc_patch(c, json!({"seccompProfile": null})),
                ),
            ));
        }
        match (&allowed, value) {
            (None, _) => {}
            (Some(_), Some(v)) => out.push(cand(
                format!("Set the seccomp profile of container {name:?} to {v}"),
                combine(
                    &json!({"metadata": {"annotations": { key: v }}}),
                    &sc_patch(c, json!({"seccompProfile": seccomp_field(v)})),
                ),
            )),
            _ => {}
        }
        // The pod's profile may be the problem the container inherits.
        if allowed.is_none() {
            out.push(cand(
                "Remove the pod's seccomp profile (this policy allows none)",
                json!({"metadata": {"annotations": { SECCOMP_POD_ANNOTATION: null }}, "spec": {"securityContext": {"seccompProfile": null}}}),
            ));
        }
        if let Some(v) = value {
            out.push(cand(
                format!("Set the pod's seccomp profile to {v}"),
                json!({"metadata": {"annotations": { SECCOMP_POD_ANNOTATION: v }}, "spec": {"securityContext": {"seccompProfile": seccomp_field(v)}}}),
            ));
        }
    }
    out
}

/// [`suggest`] for a verdict, paired with its violations.
pub fn with_fixes<'a>(
    profile: &Profile,
    template: &PodTemplate,
    verdict: &'a Verdict,
) -> Vec<(&'a Violation, Option<Fix>)> {
    verdict
        .violations
        .iter()
        .zip(suggest(profile, template, verdict))
        .collect()
}

/// The strategic-merge body that unsets the `host` of a probe's or lifecycle
/// handler's `httpGet` and `tcpSocket`, where one is set.
fn clear_hosts(
    http: Option<&k8s_openapi::api::core::v1::HTTPGetAction>,
    tcp: Option<&k8s_openapi::api::core::v1::TCPSocketAction>,
) -> Map<String, Value> {
    let set = |h: Option<&String>| h.is_some_and(|h| !h.is_empty());
    let mut m = Map::new();
    if set(http.and_then(|h| h.host.as_ref())) {
        m.insert("httpGet".into(), json!({"host": null}));
    }
    if set(tcp.and_then(|t| t.host.as_ref())) {
        m.insert("tcpSocket".into(), json!({"host": null}));
    }
    m
}

#[cfg(test)]
mod tests;
