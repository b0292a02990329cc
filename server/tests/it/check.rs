//! `portcullis check` as CI runs it: the real binary on real files.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

const COMPLIANT: &str = r#"apiVersion: v1
kind: Pod
metadata:
  name: good
  namespace: ci
spec:
  securityContext:
    runAsNonRoot: true
    seccompProfile: {type: RuntimeDefault}
  containers:
  - name: app
    image: app:1
    securityContext:
      allowPrivilegeEscalation: false
      capabilities: {drop: [ALL]}
"#;

const VIOLATING: &str = r#"# a comment first, so the object starts on line 3
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: ci
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      hostNetwork: true
      containers:
      - name: app
        image: web:1
        securityContext:
          privileged: true
"#;

fn check(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .arg("check")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run portcullis");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).expect("write manifest");
}

#[test]
fn exit_codes_follow_the_verdicts() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "good.yaml", COMPLIANT);
    let (code, out, _) = check(dir.path(), &["good.yaml"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("1 objects checked against restricted:latest: 1 allowed, 0 denied"),
        "{out}"
    );

    write(dir.path(), "bad.yaml", VIOLATING);
    let (code, out, _) = check(dir.path(), &["."]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(r#"./bad.yaml:3: Deployment ci/web: violates PodSecurity "restricted:latest": host namespaces (hostNetwork=true), privileged (container "app" must not set securityContext.privileged=true)"#),
        "{out}"
    );

    // The privileged level allows everything.
    let (code, _, _) = check(dir.path(), &["--profile", "privileged", "."]);
    assert_eq!(code, 0);
}

#[test]
fn json_output_has_the_documented_shape() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "bad.yaml", VIOLATING);
    write(dir.path(), "good.yaml", COMPLIANT);
    let (code, out, _) = check(
        dir.path(),
        &[
            "--profile",
            "baseline:v1.30",
            "--format",
            "json",
            "bad.yaml",
            "good.yaml",
        ],
    );
    assert_eq!(code, 1);
    let v: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["profile"], "baseline:v1.30");
    assert_eq!(v["summary"]["objects"], 2);
    assert_eq!(v["summary"]["allowed"], 1);
    assert_eq!(v["summary"]["denied"], 1);
    let bad = &v["results"][0];
    assert_eq!(bad["source"], "bad.yaml:3");
    assert_eq!(bad["kind"], "Deployment");
    assert_eq!(bad["namespace"], "ci");
    assert_eq!(bad["name"], "web");
    assert_eq!(bad["allowed"], false);
    assert!(
        bad["message"]
            .as_str()
            .is_some_and(|m| m.starts_with(r#"violates PodSecurity "baseline:v1.30": "#))
    );
    assert_eq!(bad["violations"][0]["check"], "hostNamespaces");
    assert_eq!(bad["violations"][0]["reason"], "host namespaces");
    assert_eq!(bad["violations"][0]["detail"], "hostNetwork=true");
    assert_eq!(bad["violations"][1]["check"], "privileged");
    assert_eq!(bad["violations"][1]["containers"][0], "app");
    assert_eq!(v["results"][1]["allowed"], true);
    assert_eq!(v["results"][1]["message"], "");
}

#[test]
fn sarif_locates_each_violation() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "bad.yaml", VIOLATING);
    let (code, out, _) = check(dir.path(), &["--format", "sarif", "bad.yaml"]);
    assert_eq!(code, 1);
    let v: Value = serde_json::from_str(&out).expect("sarif json");
    assert_eq!(v["version"], "2.1.0");
    let results = v["runs"][0]["results"].as_array().expect("results");
    // restricted: hostNamespaces, privileged, allowPrivilegeEscalation,
    // capabilities_restricted, runAsNonRoot, seccompProfile_restricted
    let rules: Vec<&str> = results
        .iter()
        .filter_map(|r| r["ruleId"].as_str())
        .collect();
    assert!(
        rules.contains(&"hostNamespaces") && rules.contains(&"privileged"),
        "{rules:?}"
    );
    for r in results {
        let loc = &r["locations"][0]["physicalLocation"];
        assert_eq!(loc["artifactLocation"]["uri"], "bad.yaml");
        assert_eq!(loc["region"]["startLine"], 3);
    }
    let declared: Vec<&str> = v["runs"][0]["tool"]["driver"]["rules"]
        .as_array()
        .expect("rules")
        .iter()
        .filter_map(|r| r["id"].as_str())
        .collect();
    for id in &rules {
        assert!(declared.contains(id), "rule {id} is not declared");
    }
}

#[test]
fn broken_input_is_reported_and_the_rest_still_checked() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "bad.yaml", VIOLATING);
    write(
        dir.path(),
        "broken.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: [unclosed\n",
    );
    let (code, out, _) = check(dir.path(), &["--format", "json", "."]);
    assert_eq!(code, 2, "{out}");
    let v: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["summary"]["objects"], 1, "the good file is still checked");
    let err = &v["errors"][0];
    assert!(
        err["file"]
            .as_str()
            .is_some_and(|f| f.ends_with("broken.yaml")),
        "{err}"
    );
    assert!(err["line"].as_u64().is_some(), "{err}");

    let (code, _, err) = check(dir.path(), &["--profile", "strictest", "."]);
    assert_eq!(code, 2);
    assert!(err.contains("strictest"), "{err}");

    let (code, out, _) = check(dir.path(), &["missing-folder"]);
    assert_eq!(code, 2);
    assert!(out.contains("missing-folder"), "{out}");
}

// ---------------------------------------------------------------------------------------------
// Presets, custom profiles and PodSecurityPolicy files

const RESTRICTED_DEPLOYMENT: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
  namespace: ci
spec:
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec:
      securityContext:
        runAsNonRoot: true
        seccompProfile: {type: RuntimeDefault}
      containers:
      - name: api
        image: api:1
        securityContext:
          allowPrivilegeEscalation: false
          capabilities: {drop: [ALL]}
"#;

const TWO_PSPS: &str = r#"apiVersion: policy/v1beta1
kind: PodSecurityPolicy
metadata:
  name: b-defaults
  annotations:
    seccomp.security.alpha.kubernetes.io/allowedProfileNames: '*'
spec:
  runAsUser: {rule: MustRunAs, ranges: [{min: 2000, max: 2999}]}
  seLinux: {rule: RunAsAny}
  supplementalGroups: {rule: RunAsAny}
  fsGroup: {rule: RunAsAny}
  volumes: ['*']
  defaultAllowPrivilegeEscalation: false
---
apiVersion: policy/v1beta1
kind: PodSecurityPolicy
metadata:
  name: a-host
  annotations:
    seccomp.security.alpha.kubernetes.io/allowedProfileNames: '*'
spec:
  hostNetwork: true
  runAsUser: {rule: MustRunAs, ranges: [{min: 3000, max: 3000}]}
  seLinux: {rule: RunAsAny}
  supplementalGroups: {rule: RunAsAny}
  fsGroup: {rule: RunAsAny}
  volumes: ['*']
"#;

#[test]
fn strict_preset_previews_its_defaults() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "api.yaml", RESTRICTED_DEPLOYMENT);
    // Restricted admits it as it is.
    let (code, _, _) = check(dir.path(), &["api.yaml"]);
    assert_eq!(code, 0);
    // Strict admits it after setting a read-only root filesystem and a user ID.
    let (code, out, _) = check(dir.path(), &["--profile", "strict", "api.yaml"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(
            r#"api.yaml:1: Deployment ci/api: admitted by policy "strict" after changing it: "#
        ),
        "{out}"
    );
    assert!(
        out.contains("1 objects checked against strict: 1 allowed (1 after changes), 0 denied"),
        "{out}"
    );
    let (code, out, _) = check(
        dir.path(),
        &["--profile", "strict", "--format", "json", "api.yaml"],
    );
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["profile"], "strict");
    let r = &v["results"][0];
    assert_eq!(r["policy"], "strict");
    let ops: Vec<(&str, &str)> = r["patch"]
        .as_array()
        .expect("patch")
        .iter()
        .map(|op| {
            (
                op["op"].as_str().unwrap_or(""),
                op["path"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert!(
        ops.contains(&(
            "add",
            "/spec/template/spec/containers/0/securityContext/readOnlyRootFilesystem"
        )),
        "{ops:?}"
    );
    assert!(
        ops.contains(&(
            "add",
            "/spec/template/spec/containers/0/securityContext/runAsUser"
        )),
        "{ops:?}"
    );
}

#[test]
fn psp_file_selects_a_policy_and_names_fields() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "psp.yaml", TWO_PSPS);
    write(dir.path(), "api.yaml", RESTRICTED_DEPLOYMENT);
    write(dir.path(), "bad.yaml", VIOLATING);
    let (code, out, err) = check(
        dir.path(),
        &[
            "--psp", "psp.yaml", "--format", "json", "api.yaml", "bad.yaml",
        ],
    );
    assert_eq!(code, 1, "{out}{err}");
    let v: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["profile"], "psp:psp.yaml");
    assert_eq!(v["policies"], serde_json::json!(["b-defaults", "a-host"]));

    // api: neither policy admits it unchanged; the first mutating one by name
    // (a-host, UID 3000) wins over b-defaults.
    let api = &v["results"][0];
    assert_eq!(api["allowed"], true);
    assert_eq!(api["policy"], "a-host");
    let uid = api["patch"]
        .as_array()
        .and_then(|ops| {
            ops.iter().find(|op| {
                op["path"] == "/spec/template/spec/containers/0/securityContext/runAsUser"
            })
        })
        .expect("runAsUser is set");
    assert_eq!(uid["value"], 3000);

    // bad: privileged container on the host network; every policy's errors.
    let bad = &v["results"][1];
    assert_eq!(bad["allowed"], false);
    assert_eq!(bad["policy"], Value::Null);
    assert!(
        bad["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("PodSecurityPolicy: unable to admit pod: [")),
        "{bad}"
    );
    let fields: Vec<(&str, &str, &str)> = bad["violations"]
        .as_array()
        .expect("violations")
        .iter()
        .map(|x| {
            (
                x["policy"].as_str().unwrap_or(""),
                x["check"].as_str().unwrap_or(""),
                x["field"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert!(
        fields.contains(&(
            "a-host",
            "privileged",
            "spec.containers[0].securityContext.privileged"
        )),
        "{fields:?}"
    );
    assert!(
        fields.contains(&(
            "b-defaults",
            "host-network",
            "spec.securityContext.hostNetwork"
        )),
        "{fields:?}"
    );
    let privileged = bad["violations"]
        .as_array()
        .and_then(|a| a.iter().find(|x| x["check"] == "privileged"))
        .expect("privileged violation");
    assert_eq!(privileged["containers"][0], "app");
    assert_eq!(privileged["reason"], "privileged");

    // Text names the policy fields too; SARIF declares the control rules.
    let (_, out, _) = check(dir.path(), &["--psp", "psp.yaml", "bad.yaml"]);
    assert!(
        out.contains("spec.containers[0].securityContext.privileged: Invalid value: true: Privileged containers are not allowed"),
        "{out}"
    );
    let (_, out, _) = check(
        dir.path(),
        &["--psp", "psp.yaml", "--format", "sarif", "bad.yaml"],
    );
    let v: Value = serde_json::from_str(&out).expect("sarif");
    let rules: Vec<&str> = v["runs"][0]["tool"]["driver"]["rules"]
        .as_array()
        .expect("rules")
        .iter()
        .filter_map(|r| r["id"].as_str())
        .collect();
    assert!(
        rules.contains(&"privileged") && rules.contains(&"host-network"),
        "{rules:?}"
    );
    let first = &v["runs"][0]["results"][0]["message"]["text"];
    assert!(
        first
            .as_str()
            .is_some_and(|t| t.contains("PodSecurityPolicy")),
        "{first}"
    );
}

#[test]
fn invalid_psp_files_are_usage_errors_naming_the_field() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "api.yaml", RESTRICTED_DEPLOYMENT);
    write(
        dir.path(),
        "psp.yaml",
        &TWO_PSPS.replace(
            "rule: MustRunAs, ranges: [{min: 3000, max: 3000}]",
            "rule: MustRunAsRoot",
        ),
    );
    let (code, out, err) = check(dir.path(), &["--psp", "psp.yaml", "api.yaml"]);
    assert_eq!(code, 2, "{out}");
    assert!(
        err.contains(r#"psp.yaml (document 2) policy "a-host": spec.runAsUser.rule"#),
        "{err}"
    );
    let (code, _, err) = check(dir.path(), &["--psp", "missing.yaml", "api.yaml"]);
    assert_eq!(code, 2);
    assert!(err.contains("missing.yaml"), "{err}");
    write(dir.path(), "empty.yaml", "# nothing\n");
    let (code, _, err) = check(dir.path(), &["--psp", "empty.yaml", "api.yaml"]);
    assert_eq!(code, 2);
    assert!(err.contains("no PodSecurityPolicy"), "{err}");
    // --profile and --psp exclude each other.
    let (code, _, _) = check(
        dir.path(),
        &["--profile", "strict", "--psp", "psp.yaml", "api.yaml"],
    );
    assert_eq!(code, 2);
}

#[tokio::test]
async fn custom_profiles_come_from_the_database() {
    use portcullis::policy::profiles::CustomProfile;
    use portcullis::policy::psp;

    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "api.yaml", RESTRICTED_DEPLOYMENT);
    write(dir.path(), "bad.yaml", VIOLATING);
    let db = dir.path().join("p.db");
    {
        let pool = portcullis::store::open(&db).await.expect("open");
        let mut policy = psp::import("psp.yaml", TWO_PSPS).expect("import").remove(0);
        policy.name = "team-web".into();
        let custom = CustomProfile {
            name: "team-web".into(),
            description: "web team".into(),
            base: Some("baseline:latest".parse().expect("level")),
            policy,
        };
        portcullis::store::profiles::insert(&pool, &custom, "test", 1)
            .await
            .expect("insert");
        pool.close().await;
    }
    let (code, out, err) = check(
        dir.path(),
        &[
            "--profile",
            "team-web",
            "--profiles-db",
            "p.db",
            "--format",
            "json",
            "api.yaml",
            "bad.yaml",
        ],
    );
    assert_eq!(code, 1, "{out}{err}");
    let v: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["profile"], "team-web");
    assert_eq!(v["results"][0]["allowed"], true);
    assert_eq!(v["results"][0]["policy"], "team-web");
    // bad: baseline's verdict first, then the policy's errors.
    let checks: Vec<&str> = v["results"][1]["violations"]
        .as_array()
        .expect("violations")
        .iter()
        .filter_map(|x| x["check"].as_str())
        .collect();
    assert_eq!(checks[..2], ["hostNamespaces", "privileged"], "{checks:?}");
    assert!(checks.contains(&"host-network"), "{checks:?}");

    let (code, _, err) = check(
        dir.path(),
        &["--profile", "nobody", "--profiles-db", "p.db", "api.yaml"],
    );
    assert_eq!(code, 2);
    assert!(
        err.contains(r#"unknown profile "nobody""#) && err.contains("p.db"),
        "{err}"
    );
    let (code, _, err) = check(dir.path(), &["--profile", "team-web", "api.yaml"]);
    assert_eq!(code, 2);
    assert!(err.contains("--profiles-db"), "{err}");
    let (code, _, err) = check(
        dir.path(),
        &[
            "--profile",
            "team-web",
            "--profiles-db",
            "nope.db",
            "api.yaml",
        ],
    );
    assert_eq!(code, 2);
    assert!(err.contains("nope.db"), "{err}");
    assert!(
        !dir.path().join("nope.db").exists(),
        "check must not create a database"
    );
}

#[test]
fn fix_suggests_verified_patches() {
    use portcullis::policy::{fixes, profiles};

    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "bad.yaml", VIOLATING);
    // Without --fix the output has no fixes (PSS output is unchanged).
    let (_, out, _) = check(dir.path(), &["--format", "json", "bad.yaml"]);
    assert!(!out.contains("\"fix\""), "{out}");

    let (code, out, _) = check(dir.path(), &["--fix", "--format", "json", "bad.yaml"]);
    assert_eq!(code, 1);
    let v: Value = serde_json::from_str(&out).expect("json");
    let violations = v["results"][0]["violations"]
        .as_array()
        .expect("violations");
    assert!(violations.len() >= 4, "{violations:?}");

    let inv = crate::support::inventory(&[("bad.yaml", VIOLATING)]);
    let template = &inv.workloads[0].template;
    let profile = profiles::Profile::preset("restricted").expect("preset");
    let before = profiles::evaluate(&profile, template);
    for x in violations {
        let fix = &x["fix"];
        assert!(
            fix["summary"].as_str().is_some_and(|s| !s.is_empty()),
            "{x}"
        );
        let yaml = fix["yaml"].as_str().expect("yaml");
        assert!(
            yaml.starts_with("spec:\n  template:\n    spec:\n"),
            "{yaml}"
        );
        // The object-level patch, moved back to the pod template, clears the check.
        let pod_patch = &fix["patch"]["spec"]["template"];
        let fixed = fixes::apply(template, pod_patch).expect("applies");
        let after = profiles::evaluate(&profile, &fixed);
        assert!(
            after.violations.iter().all(|a| a.check != x["check"]),
            "{} still fails after {yaml}",
            x["check"]
        );
        assert!(after.violations.len() < before.violations.len());
    }

    let (_, out, _) = check(dir.path(), &["--fix", "bad.yaml"]);
    assert!(
        out.contains("  fix for privileged: Set privileged: false in container \"app\"\n    spec:\n      template:\n"),
        "{out}"
    );
    let (_, out, _) = check(dir.path(), &["--fix", "--format", "sarif", "bad.yaml"]);
    let v: Value = serde_json::from_str(&out).expect("sarif");
    assert!(
        v["runs"][0]["results"][0]["properties"]["fix"]["yaml"]
            .as_str()
            .is_some(),
        "{v}"
    );
}
