//! The webhook's lean read ([`object::read_lean`]) against the full read, on
//! every Pod and workload of the upstream conformance fixtures, the corpus,
//! the PodSecurityPolicy cases and the seed: each as it is and with its
//! containers given every field the lean read skips (with values a check
//! would notice if it read them). The lean template must be the full one
//! less those fields, and every profile (each Pod Security Standards level at
//! every version, the presets, the policies of every PSP case) must give the
//! same verdict, patch and mutated pod on both. A field dropped by mistake
//! would admit what it should reject: this is what proves it is not.

use std::path::{Path, PathBuf};

use portcullis::admission::object::{self, UNREAD_CONTAINER_FIELDS};
use portcullis::model::{PodTemplate, WORKLOAD_KINDS, template_path};
use portcullis::policy::profiles::{self, Profile, Verdict};
use portcullis::policy::pss::{Level, LevelVersion, MAX_VERSION, Version};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::common::shared_dir;
use crate::corpus::files_under;

/// Every YAML document of `files`, with its file name.
fn documents(files: &[PathBuf]) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for path in files {
        let Ok(text) = std::fs::read_to_string(path) else {
            continue;
        };
        let name = path.display().to_string();
        for doc in serde_yaml_ng::Deserializer::from_str(&text) {
            // Malformed documents (the corpus has some on purpose) are the
            // loader's business, not this comparison's.
            if let Ok(v) = Value::deserialize(doc)
                && v.is_object()
            {
                out.push((name.clone(), v));
            }
        }
    }
    out
}

fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    files_under(dir)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect()
}

/// The objects to compare: workloads of a kind the webhook reviews, and the
/// items of `List`s; each once (the conformance fixtures repeat pods from
/// version to version).
fn workloads(docs: Vec<(String, Value)>) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut stack: Vec<(String, Value)> = docs;
    while let Some((name, v)) = stack.pop() {
        if let Some(items) = v.get("items").and_then(Value::as_array) {
            stack.extend(items.iter().map(|i| (name.clone(), i.clone())));
            continue;
        }
        if let Some(kind) = v.get("kind").and_then(Value::as_str)
            && WORKLOAD_KINDS.contains(&kind)
            && seen.insert(v.to_string())
        {
            out.push((name, kind.to_owned(), v));
        }
    }
    out
}

/// `object` with every unread field set on each container (and on its
/// probes and lifecycle hooks, and in its volumes' sources): values that
/// would change a verdict if any check read them.
fn poisoned(kind: &str, object: &Value) -> Value {
    let mut v = object.clone();
    let mut spec = &mut v;
    for key in template_path(kind) {
        spec = &mut spec[*key];
    }
    let spec = &mut spec["spec"];
    for list in ["containers", "initContainers", "ephemeralContainers"] {
        let Some(items) = spec.get_mut(list).and_then(Value::as_array_mut) else {
            continue;
        };
        for c in items {
            let Some(c) = c.as_object_mut() else { continue };
            let values = json!({
                "args": ["--privileged", "--host-network"],
                "command": ["nsenter", "-t", "1", "-m", "-u", "-i", "-n", "sh"],
                "env": [{"name": "SECCOMP", "value": "Unconfined"},
                        {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}],
                "envFrom": [{"secretRef": {"name": "root-credentials"}}],
                "imagePullPolicy": "Always",
                "resizePolicy": [{"resourceName": "cpu", "restartPolicy": "NotRequired"}],
                "resources": {"limits": {"cpu": "64", "memory": "1Ti"}, "requests": {"cpu": "1"}},
                "stdin": true,
                "stdinOnce": true,
                "terminationMessagePath": "/host/etc/shadow",
                "terminationMessagePolicy": "FallbackToLogsOnError",
                "tty": true,
                "workingDir": "/host",
            });
            let values = values.as_object().expect("map");
            assert_eq!(values.len(), UNREAD_CONTAINER_FIELDS.len());
            for (k, val) in values {
                assert!(UNREAD_CONTAINER_FIELDS.contains(&k.as_str()), "{k}");
                c.insert(k.clone(), val.clone());
            }
            // A probe's and a lifecycle handler's fields other than the
            // hosts.
            for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
                if let Some(p) = c.get_mut(probe).and_then(Value::as_object_mut) {
                    poison_handler(p);
                    p.insert("periodSeconds".into(), json!(1));
                    p.insert("grpc".into(), json!({"port": 10250, "service": "kubelet"}));
                }
            }
            if let Some(l) = c.get_mut("lifecycle").and_then(Value::as_object_mut) {
                l.insert("stopSignal".into(), json!("SIGKILL"));
                for hook in ["postStart", "preStop"] {
                    if let Some(h) = l.get_mut(hook).and_then(Value::as_object_mut) {
                        poison_handler(h);
                        h.insert("sleep".into(), json!({"seconds": 86400}));
                    }
                }
            }
        }
    }
    // The contents of the volume sources no policy looks into.
    if let Some(volumes) = spec.get_mut("volumes").and_then(Value::as_array_mut) {
        for v in volumes.iter_mut().filter_map(Value::as_object_mut) {
            for (key, source) in v.iter_mut() {
                if key == "name" || object::READ_VOLUME_SOURCES.contains(&key.as_str()) {
                    continue;
                }
                if let Some(source) = source.as_object_mut() {
                    source.insert("path".into(), json!("/"));
                    source.insert("readOnly".into(), json!(false));
                    source.insert("medium".into(), json!("Memory"));
                }
            }
        }
    }
    v
}

/// A probe's or handler's unread parts: its action's fields beside the host.
fn poison_handler(h: &mut serde_json::Map<String, Value>) {
    h.insert("exec".into(), json!({"command": ["nsenter", "-t", "1"]}));
    if let Some(get) = h.get_mut("httpGet").and_then(Value::as_object_mut) {
        get.insert("path".into(), json!("/debug/pprof"));
        get.insert("scheme".into(), json!("HTTPS"));
        get.insert(
            "httpHeaders".into(),
            json!([{"name": "Host", "value": "169.254.169.254"}]),
        );
    }
    if let Some(tcp) = h.get_mut("tcpSocket").and_then(Value::as_object_mut) {
        tcp.insert("port".into(), json!(22));
    }
}

fn spec_without_unread(mut t: PodTemplate) -> PodTemplate {
    t.spec = object::spec_without_unread(t.spec);
    t
}

/// The parts of a verdict the webhook answers with or logs.
fn answer(v: Verdict) -> impl PartialEq + std::fmt::Debug {
    (
        v.allowed,
        v.message,
        v.violations,
        v.policy,
        v.patch,
        v.mutated.map(spec_without_unread),
        v.changes_settings,
        v.warnings,
    )
}

/// Each level at every version, the presets, and the policies of each PSP
/// case.
fn profiles_to_compare(psp_cases: &Path) -> Vec<Profile> {
    let mut out = Vec::new();
    for level in Level::ALL {
        out.push(Profile::level(LevelVersion::new(level, Version::Latest)));
        for minor in 0..=MAX_VERSION {
            out.push(Profile::level(LevelVersion::new(level, Version::V1(minor))));
        }
    }
    out.extend(Profile::presets());
    for path in yaml_files(psp_cases) {
        let text = std::fs::read_to_string(&path).expect("read case");
        let Some(first) = serde_yaml_ng::Deserializer::from_str(&text)
            .filter_map(|d| Value::deserialize(d).ok())
            .find(|d| !d.is_null())
        else {
            continue;
        };
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("case");
        if let Ok(list) = portcullis::policy::psp::import(name, &first.to_string()) {
            out.push(Profile::psp_file(name, list));
        }
    }
    out
}

#[test]
fn the_lean_read_keeps_every_field_a_profile_reads() {
    let (Some(conformance), Some(corpus), Some(psp)) = (
        shared_dir("conformance"),
        shared_dir("corpus"),
        shared_dir("psp/cases"),
    ) else {
        return;
    };
    let seed = Path::new(env!("CARGO_MANIFEST_DIR")).join("../seed");
    let mut files = yaml_files(&conformance);
    files.extend(yaml_files(&corpus));
    files.extend(yaml_files(&psp));
    files.extend(yaml_files(&seed));
    let objects = workloads(documents(&files));
    assert!(objects.len() > 200, "only {} objects", objects.len());
    let profiles = profiles_to_compare(&psp);
    assert!(profiles.len() > 150, "only {} profiles", profiles.len());

    let mut failures = Vec::new();
    let (mut compared, mut skipped_something, mut verdicts) = (0, 0, 0);
    for (file, kind, original) in &objects {
        for object in [original.clone(), poisoned(kind, original)] {
            let text = object.to_string();
            let (mut full, mut lean) = match (object::read(&text), object::read_lean(&text)) {
                (Ok(full), Ok(lean)) => (full, lean),
                // The lean read fails only where the full one does (the
                // slow path then says what is wrong).
                (Ok(_), Err(e)) => {
                    failures.push(format!("{file}: {kind}: the lean read fails ({e})"));
                    continue;
                }
                (Err(_), _) => continue,
            };
            let (full, lean) = match (full.template(kind), lean.template(kind)) {
                (Some(full), Some(lean)) => (full, lean),
                (None, None) => continue,
                (f, l) => {
                    failures.push(format!(
                        "{file}: {kind}: a template in one read only (full {}, lean {})",
                        f.is_some(),
                        l.is_some()
                    ));
                    continue;
                }
            };
            compared += 1;
            if full != lean {
                skipped_something += 1;
            }
            if spec_without_unread(full.clone()) != lean {
                failures.push(format!(
                    "{file}: {kind}: the lean template is not the full one less the unread fields"
                ));
                continue;
            }
            for p in &profiles {
                verdicts += 1;
                if answer(profiles::evaluate(p, &full)) != answer(profiles::evaluate(p, &lean)) {
                    failures.push(format!(
                        "{file}: {kind}: {} judges the lean read otherwise",
                        p.name
                    ));
                }
            }
        }
    }
    eprintln!(
        "{compared} templates ({skipped_something} with unread fields), {} profiles, {verdicts} verdicts compared",
        profiles.len()
    );
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(compared > 400, "only {compared} templates compared");
    // Half of them are poisoned: the comparison is not between equals.
    assert!(
        skipped_something * 2 >= compared,
        "{skipped_something} of {compared}"
    );
}
