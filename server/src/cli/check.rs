//! `portcullis check`: evaluate manifests against a profile, for CI.
//!
//! Exit codes: 0 when every object is allowed, 1 when any is denied, 2 on bad
//! input or usage (a broken file is still reported and the rest still checked).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde::Serialize;
use serde_json::{Value, json};

use crate::model::{Inventory, LoadError, Workload};
use crate::policy::fixes;
use crate::policy::profiles::{self, Origin, Profile, ProfileRef, Verdict};
use crate::policy::psp::{self, PatchOp};

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
    /// For profiles with PodSecurityPolicies: the policy that admitted the
    /// object (`null` when none did). Absent for Pod Security levels.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<Option<String>>,
    pub violations: Vec<ViolationOut>,
    /// RFC 6902 operations the profile's defaults apply to the object (paths
    /// relative to the object, e.g. `/spec/template/spec/...`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub patch: Vec<PatchOp>,
    /// Whether the patch changes an effective security setting (not only
    /// annotations that mirror fields).
    #[serde(skip)]
    pub changes_settings: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct ViolationOut {
    pub check: String,
    pub reason: String,
    pub detail: String,
    pub containers: Vec<String>,
    /// The PodSecurityPolicy error path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The PodSecurityPolicy that reported it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    /// With `--fix`: the smallest verified change that clears it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<FixOut>,
}

/// A fix in the output: words, the strategic merge patch of the object as
/// YAML, and the same patch as JSON.
#[derive(Debug, Clone, Serialize)]
pub struct FixOut {
    pub summary: String,
    pub yaml: String,
    pub patch: Value,
}

/// Everything `check` found.
#[derive(Debug, Clone)]
pub struct Report {
    pub profile: String,
    /// The Pod Security level the profile checks, for SARIF's words.
    pub level: Option<String>,
    /// The policies of a `--psp` file, in the order given.
    pub policies: Option<Vec<String>>,
    pub results: Vec<CheckResult>,
    pub errors: Vec<LoadError>,
}

impl Report {
    pub fn denied(&self) -> usize {
        self.results.iter().filter(|r| !r.allowed).count()
    }

    /// Objects admitted only after the profile's defaults changed their
    /// security settings.
    pub fn mutated(&self) -> usize {
        self.results
            .iter()
            .filter(|r| r.allowed && r.changes_settings)
            .count()
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

/// Evaluates every workload of `inv` under `profile`, with a verified fix for
/// each violation when `fixes` is set.
pub fn evaluate(profile: &Profile, inv: &Inventory, fixes: bool) -> Report {
    let results = inv
        .workloads
        .iter()
        .map(|w| evaluate_one(profile, w, fixes))
        .collect();
    Report {
        profile: profile.name.clone(),
        level: profile.level.map(|l| l.to_string()),
        policies: (profile.origin == Origin::PspFile)
            .then(|| profile.policies.iter().map(|p| p.name.clone()).collect()),
        results,
        errors: inv.errors.clone(),
    }
}

fn evaluate_one(profile: &Profile, w: &Workload, with_fixes: bool) -> CheckResult {
    let verdict: Verdict = profiles::evaluate(profile, &w.template);
    let prefix = crate::model::template_pointer(&w.key.kind);
    let found = if with_fixes {
        fixes::suggest(profile, &w.template, &verdict)
    } else {
        vec![None; verdict.violations.len()]
    };
    CheckResult {
        source: format!("{}:{}", w.origin.file, w.origin.line),
        file: w.origin.file.clone(),
        line: w.origin.line,
        kind: w.key.kind.clone(),
        namespace: w.key.namespace.clone(),
        name: w.key.name.clone(),
        allowed: verdict.allowed,
        message: verdict.message.clone(),
        policy: (!profile.policies.is_empty()).then(|| verdict.policy.clone()),
        violations: verdict
            .violations
            .iter()
            .zip(found)
            .map(|(v, fix)| ViolationOut {
                check: v.check.to_owned(),
                reason: v.reason.to_owned(),
                detail: v.detail.clone(),
                containers: v.containers.clone(),
                field: v.field.clone(),
                policy: v.policy.clone(),
                fix: fix.map(|f| FixOut {
                    yaml: f.yaml(&w.key.kind),
                    patch: f.patch_for(&w.key.kind),
                    summary: f.summary,
                }),
            })
            .collect(),
        patch: verdict.patch.iter().map(|op| op.under(&prefix)).collect(),
        changes_settings: verdict.changes_settings,
    }
}

/// kubectl-like text: one line per denied object (and per object the
/// profile's defaults would change), errors first, then a summary.
pub fn render_text(r: &Report) -> String {
    let mut out = String::new();
    for e in &r.errors {
        out.push_str(&format!("error: {e}\n"));
    }
    for res in &r.results {
        if !res.allowed {
            out.push_str(&format!(
                "{}: {} {}/{}: {}\n",
                res.source, res.kind, res.namespace, res.name, res.message
            ));
            for v in &res.violations {
                let Some(fix) = &v.fix else { continue };
                out.push_str(&format!("  fix for {}: {}\n", v.check, fix.summary));
                for line in fix.yaml.lines() {
                    out.push_str(&format!("    {line}\n"));
                }
            }
        } else if res.changes_settings {
            let by = res
                .policy
                .clone()
                .flatten()
                .map(|p| format!(" by policy {p:?}"))
                .unwrap_or_default();
            let ops: Vec<String> = res.patch.iter().map(op_text).collect();
            out.push_str(&format!(
                "{}: {} {}/{}: admitted{by} after changing it: {}\n",
                res.source,
                res.kind,
                res.namespace,
                res.name,
                ops.join("; ")
            ));
        }
    }
    let mutated = r.mutated();
    out.push_str(&format!(
        "{} objects checked against {}: {} allowed{}, {} denied{}\n",
        r.results.len(),
        r.profile,
        r.results.len() - r.denied(),
        if mutated > 0 {
            format!(" ({mutated} after changes)")
        } else {
            String::new()
        },
        r.denied(),
        if r.errors.is_empty() {
            String::new()
        } else {
            format!("; {} documents could not be read", r.errors.len())
        }
    ));
    out
}

/// `replace /spec/x 1`, `remove /spec/y`.
fn op_text(op: &PatchOp) -> String {
    match &op.value {
        Some(v) => format!("{} {} {v}", op.op, op.path),
        None => format!("{} {}", op.op, op.path),
    }
}

/// The JSON shape of DESIGN.md.
pub fn render_json(r: &Report) -> Value {
    let mut v = json!({
        "profile": r.profile,
        "results": r.results,
        "errors": r.errors,
        "summary": {
            "objects": r.results.len(),
            "allowed": r.results.len() - r.denied(),
            "denied": r.denied(),
            "errors": r.errors.len(),
        },
    });
    if let Some(p) = &r.policies {
        v["policies"] = json!(p);
    }
    if r.mutated() > 0 {
        v["summary"]["mutated"] = json!(r.mutated());
    }
    v
}

const PSS_HELP: &str = "https://kubernetes.io/docs/concepts/security/pod-security-standards/";
const PSP_HELP: &str =
    "https://v1-24.docs.kubernetes.io/docs/concepts/security/pod-security-policy/";

/// SARIF 2.1.0: one result per violation, located at the object's file and line.
pub fn render_sarif(r: &Report) -> Value {
    // (rule id, from a PodSecurityPolicy)
    let mut rules: Vec<(&str, bool)> = r
        .results
        .iter()
        .flat_map(|res| {
            res.violations
                .iter()
                .map(|v| (v.check.as_str(), v.field.is_some()))
        })
        .collect();
    rules.sort_unstable();
    rules.dedup();
    let rules: Vec<Value> = rules
        .iter()
        .map(|(id, psp)| {
            if *psp {
                json!({
                    "id": id,
                    "name": id,
                    "shortDescription": { "text": format!("PodSecurityPolicy control {id}") },
                    "helpUri": PSP_HELP,
                    "defaultConfiguration": { "level": "error" },
                })
            } else {
                json!({
                    "id": id,
                    "name": id,
                    "shortDescription": { "text": format!("Pod Security Standards check {id}") },
                    "helpUri": PSS_HELP,
                    "defaultConfiguration": { "level": "error" },
                })
            }
        })
        .collect();
    let level = r.level.as_deref().unwrap_or(&r.profile);
    let mut results = Vec::new();
    for res in &r.results {
        for v in &res.violations {
            let text = if v.detail.is_empty() {
                v.reason.clone()
            } else {
                format!("{} ({})", v.reason, v.detail)
            };
            let message = match &v.policy {
                Some(policy) => format!(
                    "{} {}/{} is rejected by PodSecurityPolicy {policy:?} ({}): {}",
                    res.kind, res.namespace, res.name, r.profile, v.detail
                ),
                None => format!(
                    "{} {}/{} violates PodSecurity \"{level}\": {text}",
                    res.kind, res.namespace, res.name
                ),
            };
            let mut result = json!({
                "ruleId": v.check,
                "level": "error",
                "message": { "text": message },
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
            });
            if let Some(fix) = &v.fix {
                result["properties"] =
                    json!({ "fix": { "summary": fix.summary, "yaml": fix.yaml } });
            }
            results.push(result);
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
                "informationUri": PSS_HELP,
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

/// What `portcullis check` was asked to do.
#[derive(Debug, Clone)]
pub struct CheckOptions {
    /// `--profile`: a level, a preset or a custom profile's name.
    pub profile: String,
    /// `--psp FILE`: PodSecurityPolicies to check with instead of a profile.
    pub psp: Option<PathBuf>,
    /// `--profiles-db FILE`: where custom profiles are looked up.
    pub profiles_db: Option<PathBuf>,
    /// `--fix`: a verified fix for each violation.
    pub fix: bool,
    pub format: Format,
    pub paths: Vec<PathBuf>,
}

/// The profile `opts` names, or the words of a usage error.
pub async fn resolve(opts: &CheckOptions) -> Result<Profile, String> {
    if let Some(file) = &opts.psp {
        return psp_file(file);
    }
    let name = &opts.profile;
    let r = ProfileRef::parse(name).map_err(|e| format!("--profile {name:?}: {e}"))?;
    let ProfileRef::Custom(custom) = &r else {
        return r
            .resolve(|_| None)
            .map_err(|e| format!("--profile {name:?}: {e}"));
    };
    let Some(db) = &opts.profiles_db else {
        return Err(format!(
            "--profile {name:?}: {}; custom profiles are read from a database: add --profiles-db FILE",
            profiles::RefError::Unknown(custom.clone())
        ));
    };
    let pool = crate::store::profiles::open_read_only(db)
        .await
        .map_err(|e| format!("--profiles-db {}: cannot open: {e}", db.display()))?;
    let found = crate::store::profiles::get(&pool, custom).await;
    pool.close().await;
    let found = found.map_err(|e| {
        format!(
            "--profiles-db {}: cannot read profiles ({e}); is it a Portcullis database?",
            db.display()
        )
    })?;
    r.resolve(|_| found.map(|s| s.profile))
        .map_err(|e| format!("--profile {name:?}: {e} (not in {})", db.display()))
}

fn psp_file(file: &Path) -> Result<Profile, String> {
    let shown = file.display().to_string();
    let text = std::fs::read_to_string(file).map_err(|e| format!("--psp {shown}: {e}"))?;
    match psp::import(&shown, &text) {
        Ok(list) if list.is_empty() => Err(format!(
            "--psp {shown}: no PodSecurityPolicy found (expected kind PodSecurityPolicy, PodSecurityPolicyList or List)"
        )),
        Ok(list) => Ok(Profile::psp_file(&shown, list)),
        Err(errors) => {
            let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
            Err(format!(
                "--psp {shown}: {} problem{} with the policies:\n  {}",
                errors.len(),
                if errors.len() == 1 { "" } else { "s" },
                lines.join("\n  ")
            ))
        }
    }
}

pub async fn run(opts: CheckOptions) -> ExitCode {
    let profile = match resolve(&opts).await {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let inv = crate::ingest::manifests::load_paths(&opts.paths);
    let report = evaluate(&profile, &inv, opts.fix);
    let out = match opts.format {
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
