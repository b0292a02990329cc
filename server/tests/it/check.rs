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
