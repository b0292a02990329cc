//! Profiles end to end: fixes against the upstream conformance fixtures, the
//! profiles pages and JSON through `app(state).oneshot`, and custom profiles
//! in the store.

use std::collections::BTreeMap;
use std::fs;

use k8s_openapi::api::core::v1::Pod;
use portcullis::model::PodTemplate;
use portcullis::policy::fixes;
use portcullis::policy::profiles::{self, Profile};
use portcullis::policy::pss::LevelVersion;

use crate::common::shared_dir;

/// Every `fail` fixture of every level and version: each violation gets a fix
/// that, applied and evaluated again, clears it without adding another.
#[test]
fn fixes_clear_the_conformance_failures() {
    let Some(root) = shared_dir("conformance/pod-security-admission/testdata") else {
        return;
    };
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut unfixed: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut failures = Vec::new();
    for level in ["baseline", "restricted"] {
        for minor in 0..=37 {
            let dir = root.join(format!("{level}/v1.{minor}/fail"));
            let Ok(entries) = fs::read_dir(&dir) else {
                continue;
            };
            let lv: LevelVersion = format!("{level}:v1.{minor}").parse().expect("level");
            let profile = Profile::level(lv);
            let mut files: Vec<_> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
            files.sort();
            for path in files {
                let text = fs::read_to_string(&path).expect("read fixture");
                let pod: Pod = serde_yaml_ng::from_str(&text).expect("fixture parses");
                let t = PodTemplate {
                    metadata: pod.metadata,
                    spec: pod.spec.unwrap_or_default(),
                };
                let verdict = profiles::evaluate(&profile, &t);
                let name = format!(
                    "{lv} {}",
                    path.file_name().and_then(|n| n.to_str()).unwrap_or("")
                );
                for (v, fix) in fixes::with_fixes(&profile, &t, &verdict) {
                    *seen.entry(v.check.clone()).or_default() += 1;
                    match fix {
                        None => unfixed
                            .entry(v.check.clone())
                            .or_default()
                            .push(name.clone()),
                        Some(f) => {
                            if !fixes::verify(&profile, &t, v, &f) {
                                failures.push(format!(
                                    "{name}: {} not cleared by {}",
                                    v.check, f.summary
                                ));
                            }
                        }
                    }
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(seen.len() >= 19, "every check is exercised: {seen:?}");
    assert!(unfixed.is_empty(), "violations without a fix: {unfixed:#?}");
}

/// The denied CREATE cases of `shared/psp/cases`: every fix offered for a
/// policy's error clears it when applied and admitted again.
#[test]
fn fixes_clear_the_psp_case_denials() {
    use serde::Deserialize;
    use serde_json::Value;

    let Some(dir) = shared_dir("psp/cases") else {
        return;
    };
    let mut files: Vec<_> = fs::read_dir(&dir)
        .expect("cases")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    let (mut denied, mut fixed, mut offered) = (0, 0, 0);
    let mut failures = Vec::new();
    for path in files {
        let text = fs::read_to_string(&path).expect("read case");
        let docs: Vec<Value> = serde_yaml_ng::Deserializer::from_str(&text)
            .map(Value::deserialize)
            .collect::<Result<_, _>>()
            .expect("yaml");
        let docs: Vec<&Value> = docs.iter().filter(|d| !d.is_null()).collect();
        let [policies, pod, expect] = docs.as_slice() else {
            continue;
        };
        if expect["operation"] != "CREATE" || expect["allowed"] != false {
            continue;
        }
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("case");
        let mut list =
            portcullis::policy::psp::import(name, &policies.to_string()).expect("import");
        if let Some(auth) = expect["authorizedPolicies"].as_array() {
            list.retain(|p| auth.iter().any(|a| a == p.name.as_str()));
        }
        let pod: Pod = serde_json::from_value((*pod).clone()).expect("pod");
        let t = PodTemplate {
            metadata: pod.metadata,
            spec: pod.spec.unwrap_or_default(),
        };
        let profile = Profile::psp_file(name, list);
        let verdict = profiles::evaluate(&profile, &t);
        if verdict.violations.is_empty() {
            continue;
        }
        denied += 1;
        let mut all_fixed = true;
        for (v, fix) in fixes::with_fixes(&profile, &t, &verdict) {
            match fix {
                None => {
                    eprintln!("no fix: {name}: {}", v.text());
                    all_fixed = false
                }
                Some(f) => {
                    offered += 1;
                    if !fixes::verify(&profile, &t, v, &f) {
                        failures.push(format!("{name}: {} not cleared by {}", v.text(), f.summary));
                    }
                }
            }
        }
        if all_fixed {
            fixed += 1;
        }
    }
    eprintln!("{fixed} of {denied} denied cases fully fixed ({offered} fixes offered)");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(denied >= 20, "denied cases: {denied}");
    // Every denial has a fix for each of its errors.
    assert_eq!(
        fixed, denied,
        "{fixed} of {denied} cases fully fixed ({offered} fixes)"
    );
}
