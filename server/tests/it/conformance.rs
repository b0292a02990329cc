//! The Pod Security Standards against every upstream pod-security-admission
//! fixture (`shared/conformance/pod-security-admission/testdata`): each
//! `<level>/v1.N/pass/*.yaml` must be allowed at `<level>:v1.N`, each `fail/*.yaml`
//! denied with a message containing the substring upstream's harness expects.

use std::fs;
use std::path::Path;

use k8s_openapi::api::core::v1::Pod;
use portcullis::policy::pss::{self, Level, LevelVersion, Version};

use crate::common::shared_dir;

/// Check ID → the substring upstream's `test/run.go` expects in the denial.
const EXPECTED: [(&str, &str); 19] = [
    ("allowPrivilegeEscalation", "allowPrivilegeEscalation"),
    ("appArmorProfile", "forbidden AppArmor profile"),
    ("capabilities_baseline", "capabilities"),
    ("capabilities_restricted", "unrestricted capabilities"),
    ("hostNamespaces", "host namespaces"),
    ("hostPathVolumes", "hostPath"),
    ("hostPorts", "hostPort"),
    ("hostProbesAndHostLifecycle", "probe or lifecycle host"),
    ("privileged", "privileged"),
    ("procMount", "procMount"),
    ("procMount_restricted", "procMount"),
    ("restrictedVolumes", "restricted volume types"),
    ("runAsNonRoot", "runAsNonRoot"),
    ("runAsUser", "runAsUser"),
    ("seLinuxOptions", "seLinuxOptions"),
    ("seccompProfile_baseline", "seccompProfile"),
    ("seccompProfile_restricted", "seccompProfile"),
    ("sysctls", "forbidden sysctl"),
    ("windowsHostProcess", "hostProcess"),
];

/// The expected substring for a fixture file stem such as `seccompprofile_restricted2`.
fn expected_for(stem: &str) -> Option<&'static str> {
    let prefix = stem.trim_end_matches(|c: char| c.is_ascii_digit());
    EXPECTED
        .iter()
        .find(|(id, _)| id.eq_ignore_ascii_case(prefix))
        .map(|(_, sub)| *sub)
}

fn sorted_entries(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out: Vec<_> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .collect();
    out.sort();
    out
}

fn run_one(path: &Path, profile: LevelVersion, expect_pass: bool) -> Result<(), String> {
    let text = fs::read_to_string(path).map_err(|e| format!("read: {e}"))?;
    let pod: Pod = serde_yaml_ng::from_str(&text).map_err(|e| format!("parse: {e}"))?;
    let spec = pod.spec.ok_or("no spec")?;
    let eval = pss::evaluate(profile, &pod.metadata, &spec);
    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .ok_or("bad file name")?;
    if expect_pass {
        if !eval.allowed() {
            return Err(format!("expected allowed, got: {}", eval.message()));
        }
        return Ok(());
    }
    if stem.starts_with("base") {
        return Err("base fixtures are pass-only".into());
    }
    let want = expected_for(stem).ok_or_else(|| format!("no check ID for {stem}"))?;
    let msg = eval.message();
    if eval.allowed() {
        return Err(format!("expected denial containing {want:?}, got allowed"));
    }
    if !msg.contains(want) {
        return Err(format!("expected {want:?} in: {msg}"));
    }
    if msg.contains("unknown forbidden reason") {
        return Err(format!("unknown forbidden reason in: {msg}"));
    }
    let prefix = format!("violates PodSecurity \"{profile}\": ");
    if !msg.starts_with(&prefix) {
        return Err(format!("expected prefix {prefix:?} in: {msg}"));
    }
    Ok(())
}

#[test]
fn conformance_fixtures() {
    let Some(root) = shared_dir("conformance/pod-security-admission/testdata") else {
        return;
    };
    let mut ran = 0usize;
    let mut failures: Vec<String> = Vec::new();
    for level in [Level::Baseline, Level::Restricted] {
        let level_dir = root.join(level.as_str());
        for version_dir in sorted_entries(&level_dir) {
            let name = version_dir
                .file_name()
                .and_then(|s| s.to_str())
                .expect("version directory name");
            let version: Version = name
                .parse()
                .unwrap_or_else(|e| panic!("{}: {e}", version_dir.display()));
            let profile = LevelVersion::new(level, version);
            for (outcome, expect_pass) in [("pass", true), ("fail", false)] {
                let dir = version_dir.join(outcome);
                if !dir.is_dir() {
                    continue;
                }
                for file in sorted_entries(&dir) {
                    if file.extension().and_then(|e| e.to_str()) != Some("yaml") {
                        continue;
                    }
                    ran += 1;
                    if let Err(e) = run_one(&file, profile, expect_pass) {
                        let rel = file.strip_prefix(&root).unwrap_or(&file);
                        failures.push(format!("{}: {e}", rel.display()));
                    }
                }
            }
        }
    }
    println!("ran {ran} fixtures");
    assert!(
        failures.is_empty(),
        "{} of {ran} fixtures failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(ran, 4537, "fixture count");
}

#[test]
fn every_check_id_has_an_expected_substring() {
    for level in [Level::Baseline, Level::Restricted] {
        for id in pss::check_ids(LevelVersion::latest(level)) {
            assert!(
                EXPECTED.iter().any(|(known, _)| *known == id),
                "no expected substring for {id}"
            );
        }
    }
}

#[test]
#[ignore = "prints every fixture's message; for eyeballing"]
fn dump_messages() {
    let Some(root) = shared_dir("conformance/pod-security-admission/testdata") else {
        return;
    };
    let dir = std::env::var("PSS_DUMP").unwrap_or_else(|_| "restricted/v1.37".into());
    let (level, version) = dir.split_once('/').expect("level/version");
    let profile: LevelVersion = format!("{level}:{version}").parse().expect("profile");
    for outcome in ["pass", "fail"] {
        for file in sorted_entries(&root.join(&dir).join(outcome)) {
            let text = fs::read_to_string(&file).expect("read");
            let pod: Pod = serde_yaml_ng::from_str(&text).expect("parse");
            let eval = pss::evaluate(profile, &pod.metadata, pod.spec.as_ref().expect("spec"));
            println!(
                "{outcome} {}: {}",
                file.file_name().unwrap_or_default().to_string_lossy(),
                eval.message()
            );
        }
    }
}
