//! Exports: the ValidatingAdmissionPolicy's CEL run by a CEL interpreter against
//! every Pod Security conformance fixture (it must agree with the policy core,
//! check by check), the export API and page, and the `export` and
//! `webhook-config` commands of the real binary.

use std::collections::{BTreeSet, HashMap};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use cel::{Context, Program, Value as Cel};
use http_body_util::BodyExt;
use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhookConfiguration, ValidatingAdmissionPolicy, ValidatingWebhookConfiguration,
};
use k8s_openapi::api::core::v1::{EmptyDirVolumeSource, Pod};
use portcullis::policy::assignments::{AssignTarget, Mode};
use portcullis::policy::export::vap::{self, PolicyKind};
use portcullis::policy::pss::{self, Level, LevelVersion};
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::common::shared_dir;
use crate::support::{SHOP, db_with};

// ---------------------------------------------------------------------------------------------
// The policy, compiled by a CEL interpreter

/// JSON as CEL sees a Kubernetes object: integers are `int`.
fn to_cel(v: &Value) -> Cel {
    match v {
        Value::Null => Cel::Null,
        Value::Bool(b) => Cel::Bool(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Cel::Int(i),
            None => Cel::Float(n.as_f64().unwrap_or_default()),
        },
        Value::String(s) => Cel::String(Arc::new(s.clone())),
        Value::Array(a) => Cel::List(Arc::new(a.iter().map(to_cel).collect())),
        Value::Object(o) => {
            let m: HashMap<String, Cel> = o.iter().map(|(k, v)| (k.clone(), to_cel(v))).collect();
            Cel::from(m)
        }
    }
}

/// The generated policy: variables and validations, compiled.
struct Compiled {
    variables: Vec<(String, Program)>,
    /// (check ID, expression source, program)
    validations: Vec<(&'static str, String, Program)>,
    match_conditions: Vec<Program>,
}

fn compile(kind: PolicyKind, target: &AssignTarget) -> Compiled {
    let yaml = vap::policy_yaml(kind, target, Mode::Enforce);
    let first = yaml.split("---\n").next().expect("policy document");
    let policy: ValidatingAdmissionPolicy = serde_yaml_ng::from_str(first).expect("policy parses");
    let spec = policy.spec.expect("spec");
    let ids: Vec<&'static str> = vap::checks(kind).iter().map(|c| c.id).collect();
    let validations = spec.validations.expect("validations");
    assert_eq!(validations.len(), ids.len());
    let prog = |src: &str| {
        Program::compile(src).unwrap_or_else(|e| panic!("CEL does not compile: {e}\n{src}"))
    };
    Compiled {
        variables: spec
            .variables
            .expect("variables")
            .iter()
            .map(|v| (v.name.clone(), prog(&v.expression)))
            .collect(),
        validations: ids
            .into_iter()
            .zip(validations)
            .map(|(id, v)| (id, v.expression.clone(), prog(&v.expression)))
            .collect(),
        match_conditions: spec
            .match_conditions
            .unwrap_or_default()
            .iter()
            .map(|m| prog(&m.expression))
            .collect(),
    }
}

impl Compiled {
    fn context(&self, object: &Value) -> Result<Context<'static, 'static>, String> {
        let object = to_cel(object);
        let mut vars: HashMap<String, Cel> = HashMap::new();
        for (name, p) in &self.variables {
            let mut ctx = Context::default();
            ctx.add_variable_from_value("object", object.clone());
            ctx.add_variable_from_value("variables", Cel::from(vars.clone()));
            let v = p
                .execute(&ctx)
                .map_err(|e| format!("variable {name}: {e}"))?;
            vars.insert(name.clone(), v);
        }
        let mut ctx = Context::default();
        ctx.add_variable_from_value("object", object);
        ctx.add_variable_from_value("variables", Cel::from(vars));
        Ok(ctx)
    }

    /// The IDs of the checks whose validation is false, or an evaluation error.
    fn failing(&self, object: &Value) -> Result<BTreeSet<&'static str>, String> {
        let ctx = self.context(object)?;
        let mut out = BTreeSet::new();
        for (id, src, p) in &self.validations {
            match p.execute(&ctx) {
                Ok(Cel::Bool(true)) => {}
                Ok(Cel::Bool(false)) => {
                    out.insert(*id);
                }
                Ok(other) => return Err(format!("{id} gave {other:?}")),
                Err(e) => return Err(format!("{id}: {e}\n{src}")),
            }
        }
        Ok(out)
    }

    fn matches(&self, object: &Value) -> Result<bool, String> {
        let ctx = self.context(object)?;
        for p in &self.match_conditions {
            match p.execute(&ctx) {
                Ok(Cel::Bool(true)) => {}
                Ok(Cel::Bool(false)) => return Ok(false),
                other => return Err(format!("match condition gave {other:?}")),
            }
        }
        Ok(true)
    }
}

/// A pod's template as one of the eight kinds the policy admits.
fn as_kind(kind: &str, pod: &Value) -> Value {
    let template = json!({ "metadata": pod["metadata"].clone(), "spec": pod["spec"].clone() });
    let meta = json!({ "name": "w", "namespace": "ns" });
    match kind {
        "Pod" => pod.clone(),
        "CronJob" => json!({
            "apiVersion": "batch/v1", "kind": "CronJob", "metadata": meta,
            "spec": { "schedule": "* * * * *", "jobTemplate": { "spec": { "template": template } } }
        }),
        "Job" => json!({
            "apiVersion": "batch/v1", "kind": "Job", "metadata": meta,
            "spec": { "template": template }
        }),
        "ReplicationController" => json!({
            "apiVersion": "v1", "kind": kind, "metadata": meta,
            "spec": { "template": template }
        }),
        _ => json!({
            "apiVersion": "apps/v1", "kind": kind, "metadata": meta,
            "spec": { "selector": {}, "template": template }
        }),
    }
}

fn fixtures(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let p = e.expect("entry").path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().and_then(|x| x.to_str()) == Some("yaml") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// The pod as the API server hands it to admission: typed (unknown fields and
/// nulls gone) and defaulted where the core assumes it (a volume with no
/// source is an emptyDir).
fn admitted(pod: &mut Pod) -> Value {
    if let Some(spec) = pod.spec.as_mut() {
        for v in spec.volumes.iter_mut().flatten() {
            let untouched = serde_json::to_value(&*v)
                .ok()
                .and_then(|j| j.as_object().map(|o| o.keys().all(|k| k == "name")));
            if untouched == Some(true) {
                v.empty_dir = Some(EmptyDirVolumeSource::default());
            }
        }
    }
    let mut v = serde_json::to_value(&*pod).expect("pod to JSON");
    v["kind"] = json!("Pod");
    v
}

#[test]
fn cel_policy_agrees_with_the_core_on_every_conformance_fixture() {
    let Some(root) = shared_dir("conformance/pod-security-admission/testdata") else {
        return;
    };
    let kinds = vap::KINDS;
    let policies = [
        (
            Level::Baseline,
            compile(PolicyKind::Baseline, &AssignTarget::Cluster),
        ),
        (
            Level::Restricted,
            compile(PolicyKind::Restricted, &AssignTarget::Cluster),
        ),
    ];
    let mut ran = 0usize;
    let mut denied = [0usize; 2];
    let mut differ: Vec<String> = Vec::new();
    for (i, path) in fixtures(&root).iter().enumerate() {
        let text = fs::read_to_string(path).expect("read fixture");
        let mut pod: Pod = serde_yaml_ng::from_str(&text).expect("fixture parses");
        let object = admitted(&mut pod);
        let spec = pod.spec.clone().expect("spec");
        // Every fixture as a Pod, and as one of the seven workload kinds in turn.
        let (kind, _, _) = kinds[1 + i % (kinds.len() - 1)];
        for (n, (level, compiled)) in policies.iter().enumerate() {
            let core: BTreeSet<&str> =
                pss::evaluate(LevelVersion::latest(*level), &pod.metadata, &spec)
                    .violations
                    .iter()
                    .map(|v| v.check)
                    .collect();
            if !core.is_empty() {
                denied[n] += 1;
            }
            for k in ["Pod", kind] {
                ran += 1;
                let rel = path.strip_prefix(&root).unwrap_or(path).display();
                match compiled.failing(&as_kind(k, &object)) {
                    Ok(cel) if cel == core => {}
                    Ok(cel) => differ.push(format!(
                        "{rel} as {k} at {level}: core {core:?}, CEL {cel:?}"
                    )),
                    Err(e) => differ.push(format!("{rel} as {k} at {level}: CEL error {e}")),
                }
            }
        }
    }
    println!(
        "ran {ran} evaluations; denied by the core: baseline {}, restricted {}",
        denied[0], denied[1]
    );
    assert!(
        differ.is_empty(),
        "{} of {ran} evaluations differ:\n{}",
        differ.len(),
        differ
            .iter()
            .take(40)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    // Both outcomes occur, so agreement is not trivial.
    assert!(denied[0] > 100 && denied[1] > denied[0], "{denied:?}");
}

/// An object as the API server hands it to admission: decoded into its type
/// (unknown fields and nulls dropped) and encoded again.
fn typed<T: serde::de::DeserializeOwned + serde::Serialize>(raw: &Value) -> Option<Value> {
    let t: T = serde_json::from_value(raw.clone()).ok()?;
    serde_json::to_value(t).ok()
}

fn normalised(kind: &str, raw: &Value) -> Option<Value> {
    use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
    use k8s_openapi::api::batch::v1::{CronJob, Job};
    use k8s_openapi::api::core::v1::ReplicationController;
    match kind {
        "Pod" => typed::<Pod>(raw),
        "Deployment" => typed::<Deployment>(raw),
        "ReplicaSet" => typed::<ReplicaSet>(raw),
        "StatefulSet" => typed::<StatefulSet>(raw),
        "DaemonSet" => typed::<DaemonSet>(raw),
        "Job" => typed::<Job>(raw),
        "CronJob" => typed::<CronJob>(raw),
        "ReplicationController" => typed::<ReplicationController>(raw),
        _ => None,
    }
}

/// Real-world manifests of every kind (shared/corpus), each workload as
/// written: the policy's `podSpec`/`podMeta` must find the same pod the
/// snapshot does, and judge it as the core does.
#[test]
fn cel_policy_agrees_with_the_core_on_the_corpus_workloads() {
    let Some(root) = shared_dir("corpus") else {
        return;
    };
    let inv = portcullis::ingest::manifests::load_paths(&[root]);
    let policies = [
        (
            Level::Baseline,
            compile(PolicyKind::Baseline, &AssignTarget::Cluster),
        ),
        (
            Level::Restricted,
            compile(PolicyKind::Restricted, &AssignTarget::Cluster),
        ),
    ];
    let mut kinds = BTreeSet::new();
    let mut ran = 0usize;
    let mut denied = 0usize;
    let mut differ = Vec::new();
    for w in &inv.workloads {
        let Some(mut object) = normalised(&w.key.kind, &w.raw) else {
            continue;
        };
        object["kind"] = json!(w.key.kind);
        kinds.insert(w.key.kind.clone());
        for (level, compiled) in &policies {
            let core: BTreeSet<&str> = pss::evaluate(
                LevelVersion::latest(*level),
                &w.template.metadata,
                &w.template.spec,
            )
            .violations
            .iter()
            .map(|v| v.check)
            .collect();
            denied += usize::from(!core.is_empty());
            ran += 1;
            match compiled.failing(&object) {
                Ok(cel) if cel == core => {}
                Ok(cel) => differ.push(format!("{} at {level}: core {core:?}, CEL {cel:?}", w.key)),
                Err(e) => differ.push(format!("{} at {level}: CEL error {e}", w.key)),
            }
        }
    }
    println!("ran {ran} evaluations over kinds {kinds:?}; {denied} denied by the core");
    assert!(differ.is_empty(), "{}", differ.join("\n"));
    assert!(
        kinds.len() >= 5,
        "the corpus covers several kinds: {kinds:?}"
    );
    assert!(denied > 0 && denied < ran, "both verdicts occur");
}

/// `strict` in CEL allows exactly the pods the core's strict admits unchanged
/// (the core also fills in missing fields, which a ValidatingAdmissionPolicy
/// cannot: such pods are denied by the policy).
#[test]
fn cel_strict_agrees_with_pods_the_core_admits_unchanged() {
    let Some(root) = shared_dir("conformance/pod-security-admission/testdata") else {
        return;
    };
    let strict = compile(PolicyKind::Strict, &AssignTarget::Cluster);
    let profile = portcullis::policy::profiles::Profile::preset("strict").expect("strict");
    let mut ran = 0usize;
    let mut allowed = 0usize;
    let mut differ = Vec::new();
    // Hardened variants of every fixture, so that strict allows some of them.
    let mut hardened = Vec::new();
    for path in &fixtures(&root) {
        let text = fs::read_to_string(path).expect("read");
        let mut pod: Pod = serde_yaml_ng::from_str(&text).expect("parses");
        if let Some(spec) = pod.spec.as_mut() {
            for c in spec
                .containers
                .iter_mut()
                .chain(spec.init_containers.iter_mut().flatten())
            {
                let sc = c.security_context.get_or_insert_with(Default::default);
                sc.read_only_root_filesystem = Some(true);
                sc.run_as_user.get_or_insert(1000);
            }
        }
        hardened.push((path.clone(), pod));
    }
    for (path, mut pod) in hardened {
        let object = admitted(&mut pod);
        let template = portcullis::model::PodTemplate {
            metadata: pod.metadata.clone(),
            spec: pod.spec.clone().expect("spec"),
        };
        let core = portcullis::policy::profiles::evaluate(&profile, &template).satisfied();
        ran += 1;
        allowed += usize::from(core);
        let rel = path
            .strip_prefix(&root)
            .unwrap_or(&path)
            .display()
            .to_string();
        match strict.failing(&object) {
            Ok(cel) if cel.is_empty() == core => {}
            Ok(cel) => differ.push(format!("{rel}: core satisfied={core}, CEL failing {cel:?}")),
            Err(e) => differ.push(format!("{rel}: CEL error {e}")),
        }
    }
    println!("ran {ran} strict evaluations; {allowed} admitted unchanged by the core");
    assert!(
        differ.is_empty(),
        "{} differ:\n{}",
        differ.len(),
        differ
            .iter()
            .take(30)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(allowed > 50 && allowed < ran, "{allowed} of {ran}");
}

fn pod(spec: Value) -> Value {
    json!({ "apiVersion": "v1", "kind": "Pod", "metadata": { "name": "p", "namespace": "shop" }, "spec": spec })
}

fn restricted_spec(container_sc: Value, pod_sc: Value) -> Value {
    json!({
        "securityContext": pod_sc,
        "containers": [{ "name": "app", "image": "app:1", "securityContext": container_sc }]
    })
}

#[test]
fn strict_adds_read_only_root_and_a_user_id_range() {
    let strict = compile(PolicyKind::Strict, &AssignTarget::Cluster);
    let base = json!({
        "allowPrivilegeEscalation": false,
        "capabilities": { "drop": ["ALL"] },
        "readOnlyRootFilesystem": true
    });
    let pod_sc = json!({ "runAsNonRoot": true, "seccompProfile": { "type": "RuntimeDefault" }, "runAsUser": 1000 });
    let ok = pod(restricted_spec(base.clone(), pod_sc.clone()));
    assert_eq!(strict.failing(&ok), Ok(BTreeSet::new()));

    let mut writable = base.clone();
    writable["readOnlyRootFilesystem"] = json!(false);
    assert_eq!(
        strict.failing(&pod(restricted_spec(writable, pod_sc.clone()))),
        Ok(BTreeSet::from(["readOnlyRootFilesystem"]))
    );

    let mut low = pod_sc.clone();
    low["runAsUser"] = json!(999);
    assert_eq!(
        strict.failing(&pod(restricted_spec(base.clone(), low))),
        Ok(BTreeSet::from(["runAsUserRange"]))
    );
    // The container's own user ID wins over the pod's.
    let mut own = base.clone();
    own["runAsUser"] = json!(65535);
    let mut unset = pod_sc.clone();
    unset.as_object_mut().map(|o| o.remove("runAsUser"));
    assert_eq!(
        strict.failing(&pod(restricted_spec(own, unset.clone()))),
        Ok(BTreeSet::new())
    );
    assert_eq!(
        strict.failing(&pod(restricted_spec(base, unset))),
        Ok(BTreeSet::from(["runAsUserRange"]))
    );
}

#[test]
fn a_workload_policy_matches_the_workload_and_its_pods_only() {
    let target = AssignTarget::Workload(portcullis::model::WorkloadKey::new(
        "shop",
        "Deployment",
        "cart",
    ));
    let c = compile(PolicyKind::Restricted, &target);
    let deployment = json!({
        "kind": "Deployment", "metadata": { "name": "cart", "namespace": "shop" },
        "spec": { "template": { "spec": { "containers": [] } } }
    });
    let owned_pod = |rs: &str, hash: &str, ns: &str| {
        json!({
            "kind": "Pod",
            "metadata": {
                "generateName": format!("{rs}-"), "namespace": ns,
                "labels": { "pod-template-hash": hash },
                "ownerReferences": [{ "kind": "ReplicaSet", "name": rs, "apiVersion": "apps/v1", "uid": "u" }]
            },
            "spec": { "containers": [] }
        })
    };
    let replica_set = json!({
        "kind": "ReplicaSet",
        "metadata": { "name": "cart-5d8f", "namespace": "shop",
            "ownerReferences": [{ "kind": "Deployment", "name": "cart", "apiVersion": "apps/v1", "uid": "u" }] },
        "spec": { "template": { "spec": { "containers": [] } } }
    });
    assert_eq!(c.matches(&deployment), Ok(true));
    assert_eq!(c.matches(&replica_set), Ok(true));
    assert_eq!(c.matches(&owned_pod("cart-5d8f", "5d8f", "shop")), Ok(true));
    assert_eq!(
        c.matches(&owned_pod("cart-api-5d8f", "5d8f", "shop")),
        Ok(false),
        "another Deployment's pod"
    );
    assert_eq!(
        c.matches(&owned_pod("cart-5d8f", "5d8f", "other")),
        Ok(false),
        "another namespace"
    );
    let mut other = deployment.clone();
    other["metadata"]["name"] = json!("checkout");
    assert_eq!(c.matches(&other), Ok(false));
}

#[test]
fn a_cronjob_policy_matches_its_jobs_pods_only() {
    let target = AssignTarget::Workload(portcullis::model::WorkloadKey::new(
        "ops",
        "CronJob",
        "db.backup",
    ));
    let c = compile(PolicyKind::Baseline, &target);
    let pod_of = |job: &str| {
        json!({
            "kind": "Pod",
            "metadata": { "namespace": "ops",
                "ownerReferences": [{ "kind": "Job", "name": job, "apiVersion": "batch/v1", "uid": "u" }] },
            "spec": { "containers": [] }
        })
    };
    assert_eq!(c.matches(&pod_of("db.backup-29123456")), Ok(true));
    assert_eq!(
        c.matches(&pod_of("db.backup-manual")),
        Ok(false),
        "a Job not made by the schedule"
    );
    assert_eq!(
        c.matches(&pod_of("dbXbackup-29123456")),
        Ok(false),
        "the dot is literal"
    );
    assert_eq!(
        c.matches(&pod_of("db.backup-extra-29123456")),
        Ok(false),
        "another CronJob's"
    );
}

// ---------------------------------------------------------------------------------------------
// The API and the page

async fn get(state: portcullis::AppState, uri: &str) -> (StatusCode, String) {
    let res = portcullis::app(state)
        .oneshot(Request::get(uri).body(Body::empty()).expect("request"))
        .await
        .expect("response");
    let status = res.status();
    let body = res.into_body().collect().await.expect("body").to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn api_export_of_a_namespace_level_assignment() {
    let db = db_with(&[("shop.yaml", SHOP)]).await;
    let (status, body) = get(
        db.state.clone(),
        "/api/v1/export?target=namespace/shop&profile=restricted&mode=enforce",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let v: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(
        v["labels"]["pod-security.kubernetes.io/enforce"],
        "restricted"
    );
    assert_eq!(
        v["labels"]["pod-security.kubernetes.io/enforce-version"],
        "latest"
    );
    assert_eq!(
        v["kubectl"],
        "kubectl label namespace shop --overwrite pod-security.kubernetes.io/enforce=restricted pod-security.kubernetes.io/enforce-version=latest"
    );
    assert!(
        v["namespaceYaml"]
            .as_str()
            .is_some_and(|y| y.contains("kind: Namespace"))
    );
    let vap_yaml = v["validatingAdmissionPolicy"].as_str().expect("vap");
    assert!(
        vap_yaml.contains("validationActions:\n  - Deny"),
        "{vap_yaml}"
    );
    assert!(v.get("webhookConfiguration").is_none());
    assert!(v["notes"].is_array());
}

#[tokio::test]
async fn api_export_of_a_custom_profile_gives_the_scoped_webhook() {
    let db = db_with(&[("shop.yaml", SHOP)]).await;
    let custom = portcullis::policy::profiles::Profile::preset("node-agent")
        .expect("preset")
        .to_custom("team-a");
    portcullis::store::profiles::insert(&db.state.pool, &custom, "test", 1)
        .await
        .expect("insert custom profile");
    let (status, body) = get(
        db.state.clone(),
        "/api/v1/export?target=namespace/shop&profile=team-a&mode=warn",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let v: Value = serde_json::from_str(&body).expect("json");
    assert!(v.get("labels").is_none() && v.get("validatingAdmissionPolicy").is_none());
    let hook = v["webhookConfiguration"].as_str().expect("webhook");
    let docs: Vec<&str> = hook.split("---\n").collect();
    let vw: ValidatingWebhookConfiguration = serde_yaml_ng::from_str(docs[0]).expect("validating");
    let _: MutatingWebhookConfiguration = serde_yaml_ng::from_str(docs[1]).expect("mutating");
    let sel = vw.webhooks.expect("hooks")[0]
        .namespace_selector
        .clone()
        .expect("selector");
    let req = &sel.match_expressions.expect("expressions")[0];
    assert_eq!(
        (req.operator.as_str(), req.values.clone()),
        ("In", Some(vec!["shop".to_owned()]))
    );
    let notes = v["notes"].to_string();
    assert!(notes.contains("team-a is a custom profile"), "{notes}");
}

#[tokio::test]
async fn api_export_rejects_bad_parameters_naming_them() {
    let db = db_with(&[("shop.yaml", SHOP)]).await;
    for (query, field) in [
        ("profile=restricted&mode=enforce", "target"),
        ("target=pods/shop&profile=restricted&mode=enforce", "target"),
        ("target=namespace/shop&mode=enforce", "profile"),
        (
            "target=namespace/shop&profile=restricted:v9&mode=enforce",
            "profile",
        ),
        (
            "target=namespace/shop&profile=no-such-profile&mode=enforce",
            "profile",
        ),
        (
            "target=namespace/shop&profile=restricted&mode=block",
            "mode",
        ),
        ("target=namespace/shop&profile=restricted", "mode"),
    ] {
        let (status, body) = get(db.state.clone(), &format!("/api/v1/export?{query}")).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{query}: {body}");
        let v: Value = serde_json::from_str(&body).expect("json error");
        assert_eq!(v["field"], field, "{query}: {body}");
        assert!(v["error"].as_str().is_some_and(|e| !e.is_empty()));
    }
}

#[tokio::test]
async fn export_page_shows_each_format_escaped_with_notes() {
    let db = db_with(&[("shop.yaml", SHOP)]).await;
    let (status, html) = get(
        db.state.clone(),
        "/export?target=namespace/sh%3Cb%3Eop&profile=baseline&mode=audit",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("<h2"), "a heading per format");
    assert!(html.contains("kubectl label namespace"));
    assert!(html.contains("ValidatingAdmissionPolicy"));
    assert!(!html.contains("sh<b>op"), "the namespace is escaped");
    assert!(
        html.contains("sh&#60;b&#62;op") || html.contains("sh&lt;b&gt;op"),
        "{html}"
    );

    // htmx asks for the partial alone.
    let res = portcullis::app(db.state.clone())
        .oneshot(
            Request::get("/export?target=namespace/shop&profile=strict&mode=warn")
                .header("HX-Request", "true")
                .body(Body::empty())
                .expect("request"),
        )
        .await
        .expect("response");
    assert_eq!(res.status(), StatusCode::OK);
    let body = res.into_body().collect().await.expect("body").to_bytes();
    let partial = String::from_utf8_lossy(&body);
    assert!(
        partial.trim_start().starts_with("<section id=\"export\""),
        "{partial}"
    );
    assert!(!partial.contains("<nav"), "no page around the partial");
    assert!(
        partial.contains("Webhook configuration") && partial.contains("ValidatingAdmissionPolicy")
    );

    // No parameters: the empty form, not an error.
    let (status, html) = get(db.state.clone(), "/export").await;
    assert_eq!(status, StatusCode::OK);
    assert!(!html.contains("Cannot export"), "{html}");

    let (status, html) = get(
        db.state.clone(),
        "/export?target=workload/shop/Deployment/cart&profile=restricted&mode=warn",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("per namespace"),
        "the note says why there are no labels"
    );

    let (status, html) = get(
        db.state.clone(),
        "/export?target=namespace/shop&profile=restricted&mode=nope",
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("mode"), "{html}");
}

// ---------------------------------------------------------------------------------------------
// The binary

fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(args)
        .output()
        .expect("run portcullis");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const PEM: &str = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUQ\n-----END CERTIFICATE-----\n";

#[test]
fn webhook_config_prints_both_configurations() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = dir.path().join("ca.pem");
    fs::write(&ca, PEM).expect("write ca");
    let ca = ca.to_str().expect("utf-8 path");
    let (code, out, err) = run(&[
        "webhook-config",
        "--service",
        "security/pc",
        "--ca-bundle",
        ca,
        "--failure-policy",
        "Ignore",
        "--timeout",
        "9",
    ]);
    assert_eq!(code, 0, "{err}");
    let docs: Vec<&str> = out.split("---\n").collect();
    assert_eq!(docs.len(), 2, "{out}");
    let v: ValidatingWebhookConfiguration = serde_yaml_ng::from_str(docs[0]).expect("validating");
    let m: MutatingWebhookConfiguration = serde_yaml_ng::from_str(docs[1]).expect("mutating");
    let vh = &v.webhooks.expect("hooks")[0];
    let mh = &m.webhooks.expect("hooks")[0];
    let svc = vh.client_config.service.clone().expect("service");
    assert_eq!(
        (svc.namespace.as_str(), svc.name.as_str(), svc.port),
        ("security", "pc", Some(8443))
    );
    assert_eq!(svc.path.as_deref(), Some("/admission/validate"));
    assert_eq!(
        mh.client_config
            .service
            .as_ref()
            .and_then(|s| s.path.as_deref()),
        Some("/admission/mutate")
    );
    assert_eq!(
        vh.client_config.ca_bundle.as_ref().map(|b| b.0.as_slice()),
        Some(PEM.as_bytes())
    );
    assert_eq!(vh.failure_policy.as_deref(), Some("Ignore"));
    assert_eq!(vh.timeout_seconds, Some(9));
    let values = vh
        .namespace_selector
        .clone()
        .and_then(|s| s.match_expressions)
        .expect("selector")[0]
        .values
        .clone();
    assert_eq!(
        values,
        Some(vec!["kube-system".to_owned(), "security".to_owned()])
    );
}

#[test]
fn webhook_config_rejects_a_missing_or_non_pem_ca_naming_the_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let missing = dir.path().join("missing.pem");
    let (code, _, err) = run(&[
        "webhook-config",
        "--service",
        "a/b",
        "--ca-bundle",
        missing.to_str().expect("path"),
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("missing.pem"), "{err}");

    let junk = dir.path().join("junk.txt");
    fs::write(&junk, "not a certificate").expect("write");
    let (code, _, err) = run(&[
        "webhook-config",
        "--service",
        "a/b",
        "--ca-bundle",
        junk.to_str().expect("path"),
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("junk.txt") && err.contains("PEM"), "{err}");

    let ca = dir.path().join("ca.pem");
    fs::write(&ca, PEM).expect("write");
    let (code, _, err) = run(&[
        "webhook-config",
        "--service",
        "no-slash",
        "--ca-bundle",
        ca.to_str().expect("path"),
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--service"), "{err}");
}

#[test]
fn export_prints_the_chosen_format() {
    let (code, out, err) = run(&[
        "export",
        "--target",
        "namespace/shop",
        "--profile",
        "restricted",
        "--mode",
        "enforce",
        "--format",
        "kubectl",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        "kubectl label namespace shop --overwrite pod-security.kubernetes.io/enforce=restricted pod-security.kubernetes.io/enforce-version=latest\n"
    );

    let (code, out, err) = run(&[
        "export",
        "--target",
        "namespace/shop",
        "--profile",
        "baseline",
        "--mode",
        "warn",
        "--format",
        "vap",
    ]);
    assert_eq!(code, 0, "{err}");
    let first = out.split("---\n").next().expect("policy");
    let p: ValidatingAdmissionPolicy = serde_yaml_ng::from_str(first).expect("policy parses");
    assert_eq!(p.metadata.name.as_deref(), Some("portcullis-baseline"));
    assert!(out.contains("- Warn"));

    // Labels for a workload do not exist: say why, exit 2.
    let (code, out, err) = run(&[
        "export",
        "--target",
        "workload/shop/Deployment/cart",
        "--profile",
        "restricted",
        "--mode",
        "enforce",
        "--format",
        "labels",
    ]);
    assert_eq!(code, 2, "{out}");
    assert!(err.contains("per namespace"), "{err}");

    let (code, _, err) = run(&[
        "export",
        "--target",
        "namespace/shop",
        "--profile",
        "restricted",
        "--mode",
        "deny",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("mode"), "{err}");
}

#[tokio::test]
async fn export_looks_custom_profiles_up_in_the_database() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("p.db");
    let pool = portcullis::store::open(&path).await.expect("open db");
    let custom = portcullis::policy::profiles::Profile::preset("node-agent")
        .expect("preset")
        .to_custom("agents");
    portcullis::store::profiles::insert(&pool, &custom, "test", 1)
        .await
        .expect("insert");
    pool.close().await;
    let db = path.to_str().expect("path");
    let (code, out, err) = run(&[
        "export",
        "--target",
        "namespace/monitoring",
        "--profile",
        "agents",
        "--mode",
        "enforce",
        "--format",
        "webhook",
        "--db",
        db,
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("kind: ValidatingWebhookConfiguration") && out.contains("- monitoring"),
        "{out}"
    );

    let (code, _, err) = run(&[
        "export",
        "--target",
        "namespace/monitoring",
        "--profile",
        "agents",
        "--mode",
        "enforce",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("agents"), "{err}");
}
