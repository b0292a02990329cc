//! Every fix is checked by applying it and evaluating again: across the seed
//! cluster under every preset, and on hand-written pods for each check.

use std::collections::BTreeMap;

use super::*;
use crate::policy::profiles::tests::template;

/// Fixes every violation of every seed workload under every preset; returns
/// (check → violations, check → violations without a fix).
fn seed_coverage() -> (BTreeMap<String, usize>, BTreeMap<String, usize>) {
    let inv = crate::ingest::seed::load();
    let mut seen = BTreeMap::new();
    let mut missing = BTreeMap::new();
    let mut failures = Vec::new();
    for profile in Profile::presets() {
        for w in &inv.workloads {
            let verdict = evaluate(&profile, &w.template);
            for (v, fix) in with_fixes(&profile, &w.template, &verdict) {
                *seen.entry(v.check.to_owned()).or_insert(0) += 1;
                match fix {
                    None => {
                        eprintln!("no fix: {} under {}: {}", w.key, profile.name, v.text());
                        *missing.entry(v.check.to_owned()).or_insert(0) += 1
                    }
                    Some(fix) => {
                        // Independently: apply the YAML the user sees, re-evaluate.
                        let fixed = apply(&w.template, &fix.patch).expect("patch applies");
                        let after = evaluate(&profile, &fixed);
                        let still = after.violations.iter().any(|a| {
                            a.check == v.check
                                && a.policy == v.policy
                                && match (&a.field, &v.field) {
                                    (Some(x), Some(y)) => {
                                        stable_field(x, &fixed) == stable_field(y, &w.template)
                                    }
                                    _ => true,
                                }
                        });
                        if still || !verify(&profile, &w.template, v, &fix) {
                            failures.push(format!(
                                "{} under {}: {} not cleared by {}",
                                w.key, profile.name, v.check, fix.summary
                            ));
                        }
                        assert!(
                            after.violations.len() < verdict.violations.len(),
                            "{} under {}: fix for {} did not reduce violations",
                            w.key,
                            profile.name,
                            v.check
                        );
                        let yaml = fix.yaml(&w.key.kind);
                        let back: Value = serde_yaml_ng::from_str(&yaml).expect("yaml");
                        assert_eq!(back, fix.patch_for(&w.key.kind));
                    }
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    (seen, missing)
}

#[test]
fn every_fix_across_the_seed_clears_its_violation() {
    let (seen, missing) = seed_coverage();
    // Every check the seed trips has a verified fix for every violation.
    assert!(
        missing.is_empty(),
        "violations without a fix: {missing:?} (of {seen:?})"
    );
    // The seed exercises most checks.
    for check in [
        "allowPrivilegeEscalation",
        "capabilities_restricted",
        "runAsNonRoot",
        "seccompProfile_restricted",
        "hostNamespaces",
        "privileged",
        "hostPathVolumes",
        "hostPorts",
        "restrictedVolumes",
        "appArmorProfile",
        "capabilities_baseline",
        "hostProbesAndHostLifecycle",
        "runAsUser",
        "sysctls",
        "users",
        "host-path",
        "capabilities",
        "seccomp",
        "volumes",
    ] {
        assert!(seen.contains_key(check), "{check} not seen: {seen:?}");
    }
}

fn fix_yaml(profile: &str, pod: &str) -> Vec<String> {
    let p = Profile::preset(profile)
        .or_else(|| {
            crate::policy::profiles::ProfileRef::parse(profile)
                .ok()?
                .resolve(|_| None)
                .ok()
        })
        .expect("profile");
    let t = template(pod);
    let verdict = evaluate(&p, &t);
    assert!(!verdict.allowed, "{pod}");
    with_fixes(&p, &t, &verdict)
        .into_iter()
        .map(|(v, f)| match f {
            Some(f) => format!("{}: {}\n{}", v.check, f.summary, f.yaml("Pod")),
            None => format!("{}: no fix", v.check),
        })
        .collect()
}

#[test]
fn smallest_securitycontext_change_per_check() {
    let got = fix_yaml(
        "restricted",
        "
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  securityContext: {seccompProfile: {type: RuntimeDefault}}
  containers:
  - name: app
    image: app
    securityContext:
      runAsNonRoot: true
      capabilities: {drop: [ALL]}
",
    );
    assert_eq!(
        got,
        [
            "allowPrivilegeEscalation: Set allowPrivilegeEscalation: false in container \"app\"
spec:
  containers:
  - name: app
    securityContext:
      allowPrivilegeEscalation: false
"
        ]
    );

    let got = fix_yaml(
        "baseline",
        "
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  hostPID: true
  containers:
  - name: app
    image: app
    ports: [{containerPort: 80, hostPort: 80}]
    securityContext:
      capabilities: {add: [NET_ADMIN, CHOWN]}
",
    );
    assert_eq!(got.len(), 3, "{got:#?}");
    assert!(
        got[0].starts_with("capabilities_baseline: Stop adding NET_ADMIN in container \"app\"\n"),
        "{}",
        got[0]
    );
    assert!(got[0].contains("add:\n        - CHOWN\n"), "{}", got[0]);
    assert!(
        got[1].starts_with(
            "hostNamespaces: Set hostPID: false on the pod\nspec:\n  hostPID: false\n"
        ),
        "{}",
        got[1]
    );
    assert!(got[2].contains("hostPort: null"), "{}", got[2]);
}

#[test]
fn removing_a_volume_removes_its_mounts() {
    let got = fix_yaml(
        "baseline",
        "
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  containers:
  - name: app
    image: app
    volumeMounts: [{name: host, mountPath: /host}, {name: data, mountPath: /data}]
  volumes:
  - {name: host, hostPath: {path: /}}
  - {name: data, emptyDir: {}}
",
    );
    assert_eq!(
        got,
        ["hostPathVolumes: Remove volume \"host\" and its mounts in container \"app\" (no securityContext setting allows it; the workload loses that access)
spec:
  containers:
  - name: app
    volumeMounts:
    - $patch: delete
      mountPath: /host
  volumes:
  - $patch: delete
    name: host
"]
    );
}

#[test]
fn policy_fixes_use_the_policy_values() {
    let got = fix_yaml(
        "strict",
        "
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  securityContext:
    runAsNonRoot: true
    seccompProfile: {type: RuntimeDefault}
  containers:
  - name: app
    image: app
    securityContext:
      runAsUser: 999
      readOnlyRootFilesystem: false
      allowPrivilegeEscalation: false
      capabilities: {drop: [ALL]}
",
    );
    assert_eq!(got.len(), 2, "{got:#?}");
    assert!(
        got[0].starts_with("users: Set runAsUser: 1000 (allowed: 1000–65535) in container \"app\""),
        "{}",
        got[0]
    );
    assert!(
        got[1].starts_with("read-only-root-fs: Set readOnlyRootFilesystem: true"),
        "{}",
        got[1]
    );

    let got = fix_yaml(
        "node-agent",
        "
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  hostPID: true
  containers:
  - name: agent
    image: agent
    securityContext: {runAsNonRoot: true, runAsUser: 0}
    volumeMounts: [{name: proc, mountPath: /host/proc}]
  volumes:
  - {name: proc, hostPath: {path: /proc}}
",
    );
    assert!(
        got.iter()
            .any(|g| g
                .starts_with("host-path: Mount \"/host/proc\" read-only in container \"agent\"")),
        "{got:#?}"
    );
    assert!(
        got.iter()
            .any(|g| g.starts_with("users: Remove runAsUser: 0 from container \"agent\"")),
        "{got:#?}"
    );
}

#[test]
fn patches_nest_under_the_kind_template() {
    let fix = Fix {
        summary: String::new(),
        patch: json!({"spec": {"hostPID": false}}),
    };
    assert_eq!(fix.patch_for("Pod"), json!({"spec": {"hostPID": false}}));
    assert_eq!(
        fix.patch_for("Deployment"),
        json!({"spec": {"template": {"spec": {"hostPID": false}}}})
    );
    assert_eq!(
        fix.patch_for("CronJob"),
        json!({"spec": {"jobTemplate": {"spec": {"template": {"spec": {"hostPID": false}}}}}})
    );
}

#[test]
fn stable_fields_name_list_items() {
    let t = template(
        "
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  containers:
  - {name: a, image: a, volumeMounts: [{name: v, mountPath: /v}]}
  volumes: [{name: v, emptyDir: {}}]
",
    );
    assert_eq!(
        stable_field("spec.containers[0].volumeMounts[0].readOnly", &t),
        "spec.containers[a].volumeMounts[/v].readOnly"
    );
    assert_eq!(
        stable_field("spec.volumes[0].hostPath.pathPrefix", &t),
        "spec.volumes[v].hostPath.pathPrefix"
    );
    assert_eq!(
        stable_field(
            "pod.metadata.annotations[container.seccomp.security.alpha.kubernetes.io/a]",
            &t
        ),
        "metadata.annotations[container.seccomp.security.alpha.kubernetes.io/a]"
    );
}
