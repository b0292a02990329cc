//! PodSecurityPolicy admission against every case in `shared/psp/cases`: each
//! file holds a PodSecurityPolicy (or a list), the Pod as submitted and an
//! Expectation. Checked: the verdict, the selected policy, the complete set of
//! denied field paths, the expected message substrings, each mutated field's
//! value (and that nothing else changed), and that the patch turns the submitted
//! pod into the mutated one. All mismatches are reported together.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

use k8s_openapi::api::core::v1::Pod;
use portcullis::policy::psp::{self, Operation, PatchOp};
use serde::Deserialize;
use serde_json::Value;

use crate::common::shared_dir;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Expectation {
    operation: Operation,
    allowed: bool,
    selected_policy: Option<String>,
    #[serde(default)]
    denied_fields: Vec<String>,
    #[serde(default)]
    mutated: BTreeMap<String, Value>,
    #[serde(default)]
    message_contains: Vec<String>,
    #[serde(default)]
    authorized_policies: Option<Vec<String>>,
    #[serde(default)]
    api_validation_after_admission: Option<String>,
}

/// `spec.containers[0].securityContext` or `metadata.annotations[a/b]` → tokens.
fn tokens(path: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = path.chars();
    while let Some(c) = chars.next() {
        match c {
            '.' => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            '[' => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
                out.push(chars.by_ref().take_while(|&c| c != ']').collect());
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn lookup<'a>(v: &'a Value, tokens: &[String]) -> Option<&'a Value> {
    tokens.iter().try_fold(v, |v, t| match v {
        Value::Object(m) => m.get(t),
        Value::Array(a) => t.parse::<usize>().ok().and_then(|i| a.get(i)),
        _ => None,
    })
}

/// Paths of the leaves that differ between `a` and `b` (arrays are leaves unless
/// both have the same length).
fn changed_leaves(
    a: Option<&Value>,
    b: Option<&Value>,
    path: &mut Vec<String>,
    out: &mut Vec<Vec<String>>,
) {
    if a == b {
        return;
    }
    match (a, b) {
        (Some(Value::Object(x)), Some(Value::Object(y))) => {
            let keys: BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for k in keys {
                path.push(k.clone());
                changed_leaves(x.get(k), y.get(k), path, out);
                path.pop();
            }
        }
        (None, Some(Value::Object(y))) | (Some(Value::Object(y)), None) if !y.is_empty() => {
            for (k, v) in y {
                path.push(k.clone());
                let (a, b) = if a.is_none() {
                    (None, Some(v))
                } else {
                    (Some(v), None)
                };
                changed_leaves(a, b, path, out);
                path.pop();
            }
        }
        (Some(Value::Array(x)), Some(Value::Array(y))) if x.len() == y.len() => {
            for (i, (xv, yv)) in x.iter().zip(y).enumerate() {
                path.push(i.to_string());
                changed_leaves(Some(xv), Some(yv), path, out);
                path.pop();
            }
        }
        _ => out.push(path.clone()),
    }
}

/// A minimal RFC 6902 applier for add, replace and remove.
fn apply(doc: &mut Value, ops: &[PatchOp]) -> Result<(), String> {
    for op in ops {
        let toks: Vec<String> = op
            .path
            .split('/')
            .skip(1)
            .map(|t| t.replace("~1", "/").replace("~0", "~"))
            .collect();
        let (last, parents) = toks.split_last().ok_or("empty path")?;
        let mut target = &mut *doc;
        for t in parents {
            target = match target {
                Value::Object(m) => m.get_mut(t),
                Value::Array(a) => t.parse::<usize>().ok().and_then(|i| a.get_mut(i)),
                _ => None,
            }
            .ok_or_else(|| format!("{}: missing parent {t}", op.path))?;
        }
        match (op.op.as_str(), target) {
            ("add", Value::Object(m)) => {
                m.insert(last.clone(), op.value.clone().ok_or("no value")?);
            }
            ("replace", Value::Object(m)) if m.contains_key(last) => {
                m.insert(last.clone(), op.value.clone().ok_or("no value")?);
            }
            ("remove", Value::Object(m)) if m.contains_key(last) => {
                m.remove(last);
            }
            ("replace", Value::Array(a)) => {
                let i: usize = last.parse().map_err(|_| "bad index")?;
                *a.get_mut(i).ok_or("index out of range")? = op.value.clone().ok_or("no value")?;
            }
            (o, _) => return Err(format!("cannot {o} {}", op.path)),
        }
    }
    Ok(())
}

fn run_case(path: &Path) -> Result<(), Vec<String>> {
    let one = |e: String| vec![e];
    let text = fs::read_to_string(path).map_err(|e| one(format!("read: {e}")))?;
    let docs: Vec<Value> = serde_yaml_ng::Deserializer::from_str(&text)
        .map(Value::deserialize)
        .collect::<Result<_, _>>()
        .map_err(|e| one(format!("yaml: {e}")))?;
    let docs: Vec<Value> = docs.into_iter().filter(|d| !d.is_null()).collect();
    let [policies, pod, expect] = docs.as_slice() else {
        return Err(one(format!("expected 3 documents, found {}", docs.len())));
    };
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("case");
    let mut policies = psp::import(name, &policies.to_string()).map_err(|errs| {
        errs.iter()
            .map(|e| format!("import: {e}"))
            .collect::<Vec<_>>()
    })?;
    let pod: Pod = serde_json::from_value(pod.clone()).map_err(|e| one(format!("pod: {e}")))?;
    let want: Expectation =
        serde_json::from_value(expect.clone()).map_err(|e| one(format!("expectation: {e}")))?;
    if let Some(auth) = &want.authorized_policies {
        policies.retain(|p| auth.contains(&p.name));
    }
    let spec = pod.spec.clone().unwrap_or_default();
    let got = psp::admit(&policies, &pod.metadata, &spec, want.operation);

    let mut bad = Vec::new();
    if got.allowed != want.allowed {
        bad.push(format!(
            "allowed: want {}, got {} ({})",
            want.allowed, got.allowed, got.message
        ));
    }
    if got.policy != want.selected_policy {
        bad.push(format!(
            "selectedPolicy: want {:?}, got {:?}",
            want.selected_policy, got.policy
        ));
    }
    let want_fields: BTreeSet<&str> = want.denied_fields.iter().map(String::as_str).collect();
    let got_fields: BTreeSet<&str> = got.errors.iter().map(|e| e.field.as_str()).collect();
    if want_fields != got_fields {
        bad.push(format!(
            "deniedFields: want {want_fields:?}, got {got_fields:?}"
        ));
    }
    for s in &want.message_contains {
        if !got.message.contains(s.as_str()) {
            bad.push(format!("message lacks {s:?}: {}", got.message));
        }
    }

    let original = serde_json::json!({"metadata": pod.metadata, "spec": spec});
    let mutated = serde_json::json!({"metadata": got.mutated.metadata, "spec": got.mutated.spec});
    let expected: Vec<(Vec<String>, &Value)> =
        want.mutated.iter().map(|(p, v)| (tokens(p), v)).collect();
    for (toks, value) in &expected {
        match lookup(&mutated, toks) {
            Some(v) if v == *value => {}
            other => bad.push(format!(
                "mutated {}: want {value}, got {other:?}",
                toks.join(".")
            )),
        }
    }
    let mut leaves = Vec::new();
    changed_leaves(
        Some(&original),
        Some(&mutated),
        &mut Vec::new(),
        &mut leaves,
    );
    for leaf in leaves {
        if !expected.iter().any(|(toks, _)| leaf.starts_with(toks)) {
            bad.push(format!("unexpected mutation of {}", leaf.join(".")));
        }
    }
    let mut patched = original.clone();
    match apply(&mut patched, &got.patch) {
        Ok(()) if patched == mutated => {}
        Ok(()) => bad.push(format!(
            "patch {:?} does not give the mutated pod",
            got.patch
        )),
        Err(e) => bad.push(format!("patch does not apply: {e}")),
    }
    let rejected_later = want.api_validation_after_admission.as_deref() == Some("rejected");
    if rejected_later == got.warnings.is_empty() {
        bad.push(format!(
            "apiValidationAfterAdmission {:?}, warnings {:?}",
            want.api_validation_after_admission, got.warnings
        ));
    }

    if bad.is_empty() { Ok(()) } else { Err(bad) }
}

#[test]
fn psp_cases() {
    let Some(dir) = shared_dir("psp/cases") else {
        return;
    };
    let mut files: Vec<_> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();

    let mut failures = Vec::new();
    let mut run = 0;
    for f in &files {
        run += 1;
        if let Err(errs) = run_case(f) {
            let name = f.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            failures.push(format!("{name}:\n    {}", errs.join("\n    ")));
        }
    }
    println!("psp cases: {run} run, {} failed", failures.len());
    assert!(
        failures.is_empty(),
        "{} of {run} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(run, files.len());
    assert!(run > 0, "no case files in {}", dir.display());
}
