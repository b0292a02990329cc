//! `portcullis check`: evaluate manifests against a profile, for CI.
//!
//! Exit codes: 0 when every object is allowed, 1 when any is denied, 2 on bad
//! input or usage (a broken file is still reported and the rest still checked).

use std::path::PathBuf;
use std::process::ExitCode;

use serde::Serialize;
use serde_json::{Value, json};

use crate::model::{Inventory, LoadError, Workload};
use crate::policy::pss::{self, LevelVersion};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
    Sarif,
}

/// One evaluated object.
#[derive(Debug, Clone, Serialize)]
pub struct CheckResult {
    /// `file:line` of the object.
    pub source: String,
    #[serde(skip)]
    pub file: String,
    #[serde(skip)]
    pub line: usize,
    pub kind: String,
    pub namespace: String,
    pub name: String,
    pub allowed: bool,
    pub message: String,
    pub violations: Vec<ViolationOut>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ViolationOut {
    pub check: String,
    pub reason: String,
    pub detail: String,
    pub containers: Vec<String>,
}

/// Everything `check` found.
#[derive(Debug, Clone)]
pub struct Report {
    pub profile: String,
    pub results: Vec<CheckResult>,
    pub errors: Vec<LoadError>,
}

impl Report {
    pub fn denied(&self) -> usize {
        self.results.iter().filter(|r| !r.allowed).count()
    }

    pub fn exit_code(&self) -> u8 {
        if !self.errors.is_empty() {
            2
        } else if self.denied() > 0 {
            1
        } else {
            0
        }
    }
}

/// Evaluates every workload of `inv` under `profile`.
pub fn evaluate(profile: LevelVersion, inv: &Inventory) -> Report {
    let results = inv
        .workloads
        .iter()
        .map(|w| evaluate_one(profile, w))
        .collect();
    Report {
        profile: profile.to_string(),
        results,
        errors: inv.errors.clone(),
    }
}

fn evaluate_one(profile: LevelVersion, w: &Workload) -> CheckResult {
    let eval = pss::evaluate(profile, &w.template.metadata, &w.template.spec);
    CheckResult {
        source: format!("{}:{}", w.origin.file, w.origin.line),
        file: w.origin.file.clone(),
        line: w.origin.line,
        kind: w.key.kind.clone(),
        namespace: w.key.namespace.clone(),
        name: w.key.name.clone(),
        allowed: eval.allowed(),
        message: eval.message(),
        violations: eval
            .violations
            .iter()
            .map(|v| ViolationOut {
                check: v.check.to_owned(),
                reason: v.reason.clone(),
                detail: v.detail.clone(),
                containers: v.containers.clone(),
            })
            .collect(),
    }
}

/// kubectl-like text: one line per denied object, errors first, then a summary.
pub fn render_text(r: &Report) -> String {
    let mut out = String::new();
    for e in &r.errors {
        out.push_str(&format!("error: {e}\n"));
    }
    for res in r.results.iter().filter(|x| !x.allowed) {
        out.push_str(&format!(
            "{}: {} {}/{}: {}\n",
            res.source, res.kind, res.namespace, res.name, res.message
        ));
    }
    out.push_str(&format!(
        "{} objects checked against {}: {} allowed, {} denied{}\n",
        r.results.len(),
        r.profile,
        r.results.len() - r.denied(),
        r.denied(),
        if r.errors.is_empty() {
            String::new()
        } else {
            format!("; {} documents could not be read", r.errors.len())
        }
    ));
    out
}

/// The JSON shape of DESIGN.md.
pub fn render_json(r: &Report) -> Value {
    json!({
        "profile": r.profile,
        "results": r.results,
        "errors": r.errors,
        "summary": {
            "objects": r.results.len(),
            "allowed": r.results.len() - r.denied(),
            "denied": r.denied(),
            "errors": r.errors.len(),
        },
    })
}

/// SARIF 2.1.0: one result per violation, located at the object's file and line.
pub fn render_sarif(r: &Report) -> Value {
    let mut rules: Vec<&str> = r
        .results
        .iter()
        .flat_map(|res| res.violations.iter().map(|v| v.check.as_str()))
        .collect();
    rules.sort_unstable();
    rules.dedup();
    let rules: Vec<Value> = rules
        .iter()
        .map(|id| {
            json!({
                "id": id,
                "name": id,
                "shortDescription": { "text": format!("Pod Security Standards check {id}") },
                "helpUri": "https://kubernetes.io/docs/concepts/security/pod-security-standards/",
                "defaultConfiguration": { "level": "error" },
            })
        })
        .collect();
    let mut results = Vec::new();
    for res in &r.results {
        for v in &res.violations {
            let text = if v.detail.is_empty() {
                v.reason.clone()
            } else {
                format!("{} ({})", v.reason, v.detail)
            };
            results.push(json!({
                "ruleId": v.check,
                "level": "error",
                "message": { "text": format!("{} {}/{} violates PodSecurity \"{}\": {text}", res.kind, res.namespace, res.name, r.profile) },
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": { "uri": sarif_uri(&res.file) },
                        "region": { "startLine": res.line.max(1) },
                    },
                    "logicalLocations": [{
                        "fullyQualifiedName": format!("{}/{}/{}", res.namespace, res.kind, res.name),
                        "kind": "object",
                    }],
                }],
            }));
        }
    }
    let notifications: Vec<Value> = r
        .errors
        .iter()
        .map(|e| {
            let mut loc = json!({ "physicalLocation": { "artifactLocation": { "uri": sarif_uri(&e.file) } } });
            if let Some(line) = e.line {
                loc["physicalLocation"]["region"] = json!({ "startLine": line });
            }
            json!({ "level": "error", "message": { "text": e.to_string() }, "locations": [loc] })
        })
        .collect();
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "portcullis",
                "version": env!("CARGO_PKG_VERSION"),
                "informationUri": "https://kubernetes.io/docs/concepts/security/pod-security-standards/",
                "rules": rules,
            }},
            "results": results,
            "invocations": [{
                "executionSuccessful": r.errors.is_empty(),
                "toolExecutionNotifications": notifications,
            }],
        }],
    })
}

/// Relative paths stay relative (code-scanning tools resolve them against the
/// repository); backslashes become slashes.
fn sarif_uri(file: &str) -> String {
    file.trim_start_matches("./").replace('\\', "/")
}

pub fn run(profile: &str, format: Format, paths: &[PathBuf]) -> ExitCode {
    let profile: LevelVersion = match profile.parse() {
        Ok(p) => p,
        Err(e) => {
            eprintln!(
                "error: --profile {profile:?}: {e} (expected privileged, baseline or restricted, optionally with :latest or :v1.N)"
            );
            return ExitCode::from(2);
        }
    };
    let inv = crate::ingest::manifests::load_paths(paths);
    let report = evaluate(profile, &inv);
    let out = match format {
        Format::Text => render_text(&report),
        Format::Json => pretty(&render_json(&report)),
        Format::Sarif => pretty(&render_sarif(&report)),
    };
    print!("{out}");
    ExitCode::from(report.exit_code())
}

fn pretty(v: &Value) -> String {
    let mut s = serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string());
    s.push('\n');
    s
}
