//! Unit tests: which profile applies, exemptions on verdicts, findings.

use super::*;
use crate::policy::profiles::ProfileRef;
use crate::policy::profiles::tests::template;

const ROOTY: &str = "
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  hostPID: true
  containers:
  - name: app
    image: app
    securityContext: {privileged: true}
  - name: sidecar
    image: proxy
    securityContext: {privileged: true, capabilities: {add: [NET_ADMIN]}}
";

const HARDENED: &str = "
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

fn resolve(name: &str) -> Result<Profile, String> {
    if name == "no-privileged" {
        let yaml = "
apiVersion: policy/v1beta1
kind: PodSecurityPolicy
metadata: {name: no-privileged}
spec:
  privileged: false
  hostPID: true
  allowedCapabilities: ['*']
  volumes: ['*']
  runAsUser: {rule: RunAsAny}
  seLinux: {rule: RunAsAny}
  supplementalGroups: {rule: RunAsAny}
  fsGroup: {rule: RunAsAny}
";
        let policies = crate::policy::psp::import("p.yaml", yaml).map_err(|e| format!("{e:?}"))?;
        return Ok(Profile::psp_file("p.yaml", policies));
    }
    ProfileRef::parse(name)
        .and_then(|r| r.resolve(|_| None))
        .map_err(|e| e.to_string())
}

fn assignment(id: i64, target: &str, profile: &str, mode: Mode) -> Assignment {
    Assignment {
        id,
        cluster: "c".into(),
        target: target.into(),
        profile: profile.into(),
        mode,
        created_by: "test".into(),
        created_at: 0,
    }
}

fn exemption(container: Option<&str>, control: Option<Control>, expires_at: i64) -> Exemption {
    Exemption {
        id: 1,
        cluster: "c".into(),
        workload: "shop/Deployment/cart".into(),
        container: container.map(str::to_owned),
        control,
        reason: "vendor image".into(),
        owner: "team-shop".into(),
        expires_at,
        created_by: "test".into(),
        created_at: 0,
    }
}

fn key() -> WorkloadKey {
    WorkloadKey::new("shop", "Deployment", "cart")
}

fn names(applied: &[Option<Applied>; 3]) -> [Option<(String, Source)>; 3] {
    applied
        .clone()
        .map(|a| a.map(|a| (a.profile.name.clone(), a.source)))
}

#[test]
fn workload_wins_over_namespace_over_cluster_over_labels() {
    let labels: BTreeMap<String, String> = [
        (
            "pod-security.kubernetes.io/enforce".to_owned(),
            "baseline".to_owned(),
        ),
        (
            "pod-security.kubernetes.io/audit".to_owned(),
            "restricted".to_owned(),
        ),
        (
            "pod-security.kubernetes.io/audit-version".to_owned(),
            "v1.30".to_owned(),
        ),
    ]
    .into();
    let rules = Rules::new(1, vec![], vec![], resolve);
    let got = names(&rules.effective("c", &key(), Some(&labels)));
    assert_eq!(
        got,
        [
            Some(("baseline:latest".into(), Source::Labels)),
            None,
            Some(("restricted:v1.30".into(), Source::Labels)),
        ]
    );

    let rules = Rules::new(
        2,
        vec![
            assignment(1, "cluster", "baseline", Mode::Enforce),
            assignment(2, "cluster", "restricted", Mode::Warn),
            assignment(3, "namespace/shop", "strict", Mode::Warn),
            assignment(4, "workload/shop/Deployment/cart", "privileged", Mode::Warn),
            assignment(5, "namespace/other", "restricted", Mode::Enforce),
            assignment(6, "namespace/shop", "restricted", Mode::Audit),
        ],
        vec![],
        resolve,
    );
    let got = names(&rules.effective("c", &key(), Some(&labels)));
    assert_eq!(
        got,
        [
            Some(("baseline:latest".into(), Source::ClusterDefault)),
            Some(("privileged:latest".into(), Source::Workload)),
            Some(("restricted:latest".into(), Source::Namespace)),
        ]
    );
    // Another workload of the namespace gets the namespace's warn profile.
    let other = WorkloadKey::new("shop", "Deployment", "web");
    assert_eq!(
        names(&rules.effective("c", &other, None))[1],
        Some(("strict".into(), Source::Namespace))
    );
    // Another cluster sees none of it.
    assert_eq!(
        names(&rules.effective("d", &key(), None)),
        [None, None, None]
    );
}

#[test]
fn unresolvable_assignments_are_listed_not_applied() {
    let rules = Rules::new(
        1,
        vec![
            assignment(1, "namespace/shop", "gone-profile", Mode::Enforce),
            assignment(2, "nowhere/x", "baseline", Mode::Enforce),
        ],
        vec![],
        resolve,
    );
    assert_eq!(rules.unresolved.len(), 2);
    assert!(
        rules
            .effective("c", &key(), None)
            .iter()
            .all(Option::is_none)
    );
}

#[test]
fn targets_parse_and_print_back() {
    for s in ["cluster", "namespace/shop", "workload/shop/Deployment/cart"] {
        assert_eq!(AssignTarget::parse(s).unwrap().to_string(), s);
    }
    for bad in [
        "",
        "namespace/",
        "namespace/a/b",
        "workload/shop/cart",
        "shop",
    ] {
        assert!(AssignTarget::parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn without_exemptions_judge_is_evaluate() {
    let p = resolve("baseline").unwrap();
    let t = template(ROOTY);
    assert_eq!(
        judge(&p, &t, &Exempt::default()),
        profiles::evaluate(&p, &t)
    );
}

#[test]
fn message_of_rebuilds_the_policy_core_message() {
    for profile in ["baseline", "restricted:v1.30", "strict", "node-agent"] {
        let p = resolve(profile).unwrap();
        for pod in [ROOTY, HARDENED] {
            let v = profiles::evaluate(&p, &template(pod));
            assert_eq!(message_of(&p, &v.violations), v.message, "{profile}");
        }
    }
}

#[test]
fn a_whole_workload_exemption_admits_until_it_expires() {
    let p = resolve("baseline").unwrap();
    let t = template(ROOTY);
    let rules = Rules::new(1, vec![], vec![exemption(None, None, 1_000)], resolve);
    let now = rules.exemptions_for("c", "shop/Deployment/cart", 999);
    let v = judge(&p, &t, &now);
    assert!(v.allowed && v.message.is_empty() && v.violations.is_empty());
    let later = rules.exemptions_for("c", "shop/Deployment/cart", 1_000);
    assert!(later.is_empty());
    assert!(!judge(&p, &t, &later).allowed);
}

#[test]
fn a_container_exemption_judges_the_pod_without_it() {
    let p = resolve("baseline").unwrap();
    let t = template(ROOTY);
    let rules = Rules::new(
        1,
        vec![],
        vec![exemption(Some("sidecar"), None, i64::MAX)],
        resolve,
    );
    let v = judge(
        &p,
        &t,
        &rules.exemptions_for("c", "shop/Deployment/cart", 0),
    );
    assert!(!v.allowed);
    assert_eq!(
        v.message,
        "violates PodSecurity \"baseline:latest\": host namespaces (hostPID=true), privileged (container \"app\" must not set securityContext.privileged=true)"
    );
}

#[test]
fn a_control_exemption_drops_that_control_everywhere() {
    let p = resolve("baseline").unwrap();
    let t = template(ROOTY);
    let rules = Rules::new(
        1,
        vec![],
        vec![
            exemption(None, Some(Control::Privileged), i64::MAX),
            exemption(None, Some(Control::HostNamespaces), i64::MAX),
        ],
        resolve,
    );
    let v = judge(
        &p,
        &t,
        &rules.exemptions_for("c", "shop/Deployment/cart", 0),
    );
    assert!(!v.allowed);
    assert_eq!(
        v.message,
        "violates PodSecurity \"baseline:latest\": non-default capabilities (container \"sidecar\" must not include \"NET_ADMIN\" in securityContext.capabilities.add)"
    );
    assert!(
        v.violations
            .iter()
            .all(|v| v.control == Control::Capabilities)
    );
}

#[test]
fn a_container_and_control_exemption_excuses_only_that_pair() {
    let p = resolve("baseline").unwrap();
    let t = template(ROOTY);
    let rules = Rules::new(
        1,
        vec![],
        vec![exemption(
            Some("sidecar"),
            Some(Control::Capabilities),
            i64::MAX,
        )],
        resolve,
    );
    let v = judge(
        &p,
        &t,
        &rules.exemptions_for("c", "shop/Deployment/cart", 0),
    );
    assert!(
        v.violations
            .iter()
            .all(|v| v.control != Control::Capabilities)
    );
    let privileged = v
        .violations
        .iter()
        .find(|v| v.control == Control::Privileged)
        .unwrap();
    assert_eq!(privileged.containers, ["app", "sidecar"]);
}

#[test]
fn findings_one_per_container_and_control_per_mode() {
    let rules = Rules::new(
        1,
        vec![
            assignment(1, "namespace/shop", "baseline", Mode::Enforce),
            assignment(2, "namespace/shop", "baseline", Mode::Warn),
        ],
        vec![],
        resolve,
    );
    let f = findings(&rules, "c", &key(), &template(ROOTY), None, 0);
    let got: Vec<(Mode, &str, Control, Severity)> = f
        .iter()
        .map(|f| (f.mode, f.container.as_str(), f.control, f.severity))
        .collect();
    let per_mode = [
        ("", Control::HostNamespaces),
        ("app", Control::Privileged),
        ("sidecar", Control::Privileged),
        ("sidecar", Control::Capabilities),
    ];
    let want: Vec<(Mode, &str, Control, Severity)> = [Mode::Enforce, Mode::Warn]
        .into_iter()
        .flat_map(|m| per_mode.map(|(c, k)| (m, c, k, Severity::High)))
        .collect();
    assert_eq!(got, want);
    let sidecar_priv = f
        .iter()
        .find(|f| {
            f.mode == Mode::Warn && f.container == "sidecar" && f.control == Control::Privileged
        })
        .unwrap();
    assert_eq!(
        sidecar_priv.message,
        "would violate PodSecurity \"baseline:latest\": privileged (containers \"app\", \"sidecar\" must not set securityContext.privileged=true)"
    );
    assert_ne!(f[0].fingerprint("c"), f[4].fingerprint("c"));
}

#[test]
fn compliant_workloads_have_no_findings_in_any_mode() {
    let rules = Rules::new(
        1,
        Mode::ALL
            .iter()
            .enumerate()
            .map(|(i, m)| assignment(i as i64, "namespace/shop", "restricted", *m))
            .collect(),
        vec![],
        resolve,
    );
    assert!(findings(&rules, "c", &key(), &template(HARDENED), None, 0).is_empty());
    assert_eq!(
        findings(&rules, "c", &key(), &template(ROOTY), None, 0).len() % 3,
        0
    );
}

#[test]
fn custom_profile_findings_carry_the_psp_message() {
    let rules = Rules::new(
        1,
        vec![assignment(
            1,
            "workload/shop/Deployment/cart",
            "no-privileged",
            Mode::Audit,
        )],
        vec![],
        resolve,
    );
    let f = findings(&rules, "c", &key(), &template(ROOTY), None, 0);
    let got: Vec<(&str, Control)> = f
        .iter()
        .map(|f| (f.container.as_str(), f.control))
        .collect();
    assert_eq!(
        got,
        [
            ("app", Control::Privileged),
            ("sidecar", Control::Privileged)
        ],
        "{f:#?}"
    );
    assert!(
        f.iter()
            .all(|f| f.mode == Mode::Audit && f.profile == "psp:p.yaml")
    );
    assert!(
        f[0].message.starts_with(
            "PodSecurityPolicy: unable to admit pod: [spec.containers[0].securityContext.privileged"
        ),
        "{f:#?}"
    );
}

#[test]
fn a_level_profile_is_built_once_and_shared() {
    for s in [
        "privileged",
        "baseline:v1.0",
        "baseline:v1.33",
        "restricted",
        "restricted:v1.37",
        "restricted:v1.38",
        "restricted:v1.4000000000",
    ] {
        let lv: LevelVersion = s.parse().expect("level");
        let a = level_profile(lv);
        assert!(Arc::ptr_eq(&a, &level_profile(lv)), "{s}");
        assert_eq!(a.level, Some(lv), "{s}");
        assert_eq!(*a, Profile::level(lv), "{s}");
    }
    let latest = level_profile("restricted".parse().expect("level"));
    let numbered = level_profile("restricted:v1.37".parse().expect("level"));
    assert!(
        !Arc::ptr_eq(&latest, &numbered),
        "latest is its own profile"
    );
    let baseline = level_profile("baseline".parse().expect("level"));
    assert!(!Arc::ptr_eq(&latest, &baseline));
}
