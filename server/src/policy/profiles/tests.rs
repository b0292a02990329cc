//! Unit tests: names, the uniform verdict for every kind of profile, presets on
//! hand-written pods, and recommendations across the seed cluster.

use k8s_openapi::api::core::v1::Pod;

use super::*;
use crate::policy::pss::Version;

pub(crate) fn template(yaml: &str) -> PodTemplate {
    let pod: Pod = serde_yaml_ng::from_str(yaml).unwrap_or_else(|e| panic!("{e}\n{yaml}"));
    PodTemplate {
        metadata: pod.metadata,
        spec: pod.spec.unwrap_or_default(),
    }
}

const HARDENED: &str = "
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  securityContext:
    runAsNonRoot: true
    runAsUser: 1000
    seccompProfile: {type: RuntimeDefault}
  containers:
  - name: app
    image: app
    securityContext:
      allowPrivilegeEscalation: false
      readOnlyRootFilesystem: true
      capabilities: {drop: [ALL]}
";

const RESTRICTED_ONLY: &str = "
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
      allowPrivilegeEscalation: false
      capabilities: {drop: [ALL]}
";

const PRIVILEGED: &str = "
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  hostNetwork: true
  containers:
  - name: app
    image: app
    securityContext: {privileged: true}
";

#[test]
fn parses_every_kind_of_name() {
    let cases = [
        (
            "restricted",
            ProfileRef::Level(LevelVersion::latest(Level::Restricted)),
        ),
        (
            "baseline:v1.30",
            ProfileRef::Level(LevelVersion::new(Level::Baseline, Version::V1(30))),
        ),
        (
            "privileged:latest",
            ProfileRef::Level(LevelVersion::latest(Level::Privileged)),
        ),
        ("strict", ProfileRef::Preset("strict")),
        ("node-agent", ProfileRef::Preset("node-agent")),
        ("team-a.web", ProfileRef::Custom("team-a.web".into())),
    ];
    for (s, want) in cases {
        assert_eq!(ProfileRef::parse(s), Ok(want), "{s}");
    }
    for bad in ["strict:v1.30", "restricted:v2", "Team_A", "", "-x", "x-"] {
        assert!(ProfileRef::parse(bad).is_err(), "{bad:?} should not parse");
    }
    assert_eq!(
        ProfileRef::parse("restricted").map(|r| r.to_string()),
        Ok("restricted:latest".into())
    );
}

#[test]
fn custom_names_may_not_shadow_presets() {
    for name in ["baseline", "strict", "node-agent", "privileged"] {
        assert!(check_custom_name(name).is_err(), "{name}");
    }
    assert!(check_custom_name("web-strict").is_ok());
}

#[test]
fn unknown_custom_name_is_an_error() {
    let r = ProfileRef::parse("mine").expect("parses");
    assert_eq!(r.resolve(|_| None), Err(RefError::Unknown("mine".into())));
    let c = CustomProfile {
        name: "mine".into(),
        description: String::new(),
        base: None,
        policy: allow_all_policy(),
    };
    let p = r
        .resolve(|n| (n == "mine").then(|| c.clone()))
        .expect("found");
    assert_eq!(p.origin, Origin::Custom);
    assert_eq!(p.policies[0].name, "mine");
}

#[test]
fn a_level_gives_the_exact_pod_security_verdict() {
    let t = template(PRIVILEGED);
    let lv: LevelVersion = "baseline:v1.30".parse().expect("level");
    let v = evaluate(&Profile::level(lv), &t);
    let e = pss::evaluate(lv, &t.metadata, &t.spec);
    assert!(!v.allowed);
    assert_eq!(v.message, e.message());
    assert_eq!(v.profile, "baseline:v1.30");
    let checks: Vec<&str> = v.violations.iter().map(|x| x.check).collect();
    assert_eq!(checks, ["hostNamespaces", "privileged"]);
    assert!(v.violations.iter().all(|x| x.field.is_none()));
    assert!(v.patch.is_empty() && v.policy.is_none());
}

#[test]
fn strict_is_restricted_plus_root_filesystem_and_uid_range() {
    let strict = Profile::preset("strict").expect("preset");
    let v = evaluate(&strict, &template(HARDENED));
    assert!(v.allowed, "{}", v.message);
    assert!(v.satisfied(), "{:?}", v.patch);

    // Restricted alone admits it; strict admits it only by setting the root
    // filesystem read-only and the user ID: a mutation that changes settings.
    let t = template(RESTRICTED_ONLY);
    assert!(evaluate(&Profile::preset("restricted").expect("preset"), &t).satisfied());
    let v = evaluate(&strict, &t);
    assert!(v.allowed, "{}", v.message);
    assert!(!v.satisfied());
    assert_eq!(v.policy.as_deref(), Some("strict"));
    let paths: Vec<&str> = v.patch.iter().map(|p| p.path.as_str()).collect();
    assert!(
        paths.contains(&"/spec/containers/0/securityContext/readOnlyRootFilesystem"),
        "{paths:?}"
    );
    assert!(
        paths.contains(&"/spec/containers/0/securityContext/runAsUser"),
        "{paths:?}"
    );
    let m = v.mutated.as_ref().expect("mutated");
    let sc = m.spec.containers[0].security_context.as_ref().expect("sc");
    assert_eq!(sc.run_as_user, Some(1000));

    // A UID outside the range is rejected by the policy half, with its field.
    let low = HARDENED.replace("runAsUser: 1000", "runAsUser: 999");
    let v = evaluate(&strict, &template(&low));
    assert!(!v.allowed);
    let x = v
        .violations
        .iter()
        .find(|x| x.control == Control::Users)
        .expect("users violation");
    assert_eq!(x.check, "users");
    assert_eq!(
        x.field.as_deref(),
        Some("spec.containers[0].securityContext.runAsUser")
    );
    assert_eq!(x.containers, ["app"]);
    assert_eq!(x.policy.as_deref(), Some("strict"));
    assert!(
        v.message
            .starts_with("PodSecurityPolicy: unable to admit pod: [")
    );

    // Both halves report: restricted first, then the policy.
    let root = PRIVILEGED.replace("{privileged: true}", "{privileged: true, runAsUser: 0}");
    let v = evaluate(&strict, &template(&root));
    assert!(
        v.message
            .starts_with("violates PodSecurity \"restricted:latest\": ")
    );
    assert!(
        v.message
            .contains("; PodSecurityPolicy: unable to admit pod")
    );
}

#[test]
fn node_agent_allows_host_pid_and_network_and_read_only_proc() {
    let agent = "
apiVersion: v1
kind: Pod
metadata: {name: agent}
spec:
  hostPID: true
  hostNetwork: true
  securityContext:
    runAsNonRoot: true
    runAsUser: 65534
    seccompProfile: {type: RuntimeDefault}
  containers:
  - name: agent
    image: agent
    ports: [{containerPort: 9100}]
    securityContext:
      allowPrivilegeEscalation: false
      capabilities: {drop: [ALL]}
    volumeMounts:
    - {name: proc, mountPath: /host/proc, readOnly: true}
    - {name: sys, mountPath: /host/sys, readOnly: true}
  volumes:
  - {name: proc, hostPath: {path: /proc}}
  - {name: sys, hostPath: {path: /sys}}
";
    let p = Profile::preset("node-agent").expect("preset");
    let v = evaluate(&p, &template(agent));
    assert!(v.allowed, "{}", v.message);
    // The seccomp field is mirrored into its annotation: a patch, but no change.
    assert!(v.satisfied(), "{:?}", v.patch);

    let writable = agent.replace(
        "{name: proc, mountPath: /host/proc, readOnly: true}",
        "{name: proc, mountPath: /host/proc}",
    );
    let v = evaluate(&p, &template(&writable));
    assert!(!v.allowed);
    assert_eq!(
        v.violations[0].field.as_deref(),
        Some("spec.containers[0].volumeMounts[0].readOnly")
    );

    let root = agent.replace("path: /sys}", "path: /}");
    let v = evaluate(&p, &template(&root));
    assert!(!v.allowed);
    assert_eq!(v.violations[0].check, "host-path");
    assert_eq!(v.violations[0].reason, "host paths");

    let ipc = agent.replace("hostPID: true", "hostPID: true\n  hostIPC: true");
    assert!(!evaluate(&p, &template(&ipc)).allowed);
}

#[test]
fn the_same_pod_gives_the_same_verdict_through_every_name() {
    let t = template(PRIVILEGED);
    let direct = evaluate(&Profile::level(LevelVersion::latest(Level::Restricted)), &t);
    let parsed = ProfileRef::parse("restricted")
        .expect("parses")
        .resolve(|_| None)
        .expect("resolves");
    assert_eq!(evaluate(&parsed, &t), direct);
    let preset = Profile::preset("restricted").expect("preset");
    assert_eq!(evaluate(&preset, &t), direct);
}

#[test]
fn copying_keeps_the_meaning() {
    for p in Profile::presets() {
        let copy = Profile::custom(&p.to_custom("copy"));
        for yaml in [HARDENED, RESTRICTED_ONLY, PRIVILEGED] {
            let t = template(yaml);
            let (a, b) = (evaluate(&p, &t), evaluate(&copy, &t));
            assert_eq!(a.allowed, b.allowed, "{} on {yaml}", p.name);
            assert_eq!(a.satisfied(), b.satisfied(), "{} on {yaml}", p.name);
        }
    }
}

#[test]
fn several_policies_choose_like_psp() {
    let list = psp::import(
        "two.yaml",
        "
apiVersion: policy/v1beta1
kind: PodSecurityPolicyList
items:
- metadata: {name: a-restrictive}
  spec:
    runAsUser: {rule: MustRunAsNonRoot}
    seLinux: {rule: RunAsAny}
    supplementalGroups: {rule: RunAsAny}
    fsGroup: {rule: RunAsAny}
    volumes: ['*']
- metadata: {name: b-open}
  spec:
    privileged: true
    hostNetwork: true
    runAsUser: {rule: RunAsAny}
    seLinux: {rule: RunAsAny}
    supplementalGroups: {rule: RunAsAny}
    fsGroup: {rule: RunAsAny}
    volumes: ['*']
",
    )
    .expect("imports");
    let p = Profile::psp_file("two.yaml", list);
    assert_eq!(p.name, "psp:two.yaml");
    let v = evaluate(&p, &template(PRIVILEGED));
    assert!(v.allowed, "{}", v.message);
    assert_eq!(v.policy.as_deref(), Some("b-open"));
}

#[test]
fn recommendations_over_the_seed_cluster() {
    let inv = crate::ingest::seed::load();
    let presets = Profile::presets();
    let find = |ns: &str, name: &str| {
        inv.workloads
            .iter()
            .find(|w| w.key.namespace == ns && w.key.name == name)
            .map(|w| &w.template)
            .unwrap_or_else(|| panic!("{ns}/{name} in the seed"))
    };
    let cases = [
        ("shop", "catalog", "baseline"),
        ("legacy", "debug-shell", "privileged"),
        ("kube-system", "calico-node", "privileged"),
    ];
    for (ns, name, want) in cases {
        assert_eq!(
            recommend_among(&presets, find(ns, name)).id,
            want,
            "{ns}/{name}"
        );
    }
    // Whatever is recommended admits the workload unchanged, and every preset
    // tighter than the recommendation does not.
    let mut counts = std::collections::BTreeMap::new();
    for w in &inv.workloads {
        let r = recommend_among(&presets, &w.template);
        *counts.entry(r.id).or_insert(0) += 1;
        for p in &presets {
            let v = evaluate(p, &w.template);
            if p.preset_id() == Some(r.id) {
                assert!(v.satisfied(), "{} under {}", w.key, r.id);
                break;
            }
            assert!(
                !v.satisfied(),
                "{} satisfies {} before {}",
                w.key,
                p.name,
                r.id
            );
        }
        // A level the workload satisfies agrees with pod-security-admission.
        let level = pss::tightest_level(&w.template.metadata, &w.template.spec, Version::Latest);
        if r.id == "restricted" || r.id == "strict" {
            assert_eq!(level, Level::Restricted, "{}", w.key);
        }
    }
    assert_eq!(counts.values().sum::<usize>(), inv.workloads.len());
    // payments-secure is hardened throughout: at least restricted.
    let ns: Vec<&PodTemplate> = inv
        .workloads
        .iter()
        .filter(|w| w.key.namespace == "payments-secure")
        .map(|w| &w.template)
        .collect();
    let r = recommend_for_all(&presets, ns.iter().copied());
    assert!(matches!(r.id, "restricted" | "strict"), "{}", r.id);
}
