//! The admission webhook: AdmissionReview bodies as the API server sends them,
//! built from the corpus manifests, through `admission::router` (and, for
//! TLS, a real HTTPS listener with certificates made here).

use std::path::Path;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use base64::Engine as _;
use futures_util::StreamExt;
use http_body_util::BodyExt;
use portcullis::admission::{self, AlertSink, Config, Decision, FailureMode, Webhook};
use portcullis::model::PodTemplate;
use portcullis::policy::assignments::Mode;
use portcullis::policy::profiles::{self, Profile};
use portcullis::policy::pss::{Level, LevelVersion};
use portcullis::store;
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::common::shared_dir;
use crate::support::{SHOP, TestDb, db_with};

/// The cluster name `db_with` stores its snapshot under.
const CLUSTER: &str = "test";

#[derive(Default)]
struct Recorder(Mutex<Vec<Decision>>);

impl AlertSink for Recorder {
    fn raise(&self, d: &Decision) {
        self.0.lock().expect("lock").push(d.clone());
    }
}

impl Recorder {
    fn taken(&self) -> Vec<Decision> {
        self.0.lock().expect("lock").clone()
    }
}

struct Hook {
    db: TestDb,
    webhook: Arc<Webhook>,
    alerts: Arc<Recorder>,
}

async fn hook_with(config: impl FnOnce(&mut Config)) -> Hook {
    let db = db_with(&[("shop.yaml", SHOP)]).await;
    db.state.rules.reload(&db.state.pool).await.expect("rules");
    let mut cfg = Config::new(CLUSTER);
    config(&mut cfg);
    let alerts = Arc::new(Recorder::default());
    let webhook = Webhook::start(&db.state, cfg, alerts.clone())
        .await
        .expect("webhook");
    Hook {
        db,
        webhook,
        alerts,
    }
}

async fn hook() -> Hook {
    hook_with(|_| {}).await
}

impl Hook {
    async fn assign(&self, target: &str, mode: Mode, profile: &str) {
        store::assignments::assign(
            &self.db.state.pool,
            CLUSTER,
            target,
            mode,
            profile,
            "test",
            1,
        )
        .await
        .expect("assign");
        self.db
            .state
            .rules
            .reload(&self.db.state.pool)
            .await
            .expect("reload");
    }

    async fn post_raw(&self, path: &str, body: impl Into<Body>) -> (StatusCode, Value) {
        let req = Request::post(path)
            .header("content-type", "application/json")
            .body(body.into())
            .expect("request");
        let resp = admission::router(self.webhook.clone())
            .oneshot(req)
            .await
            .expect("response");
        let status = resp.status();
        let bytes = resp.into_body().collect().await.expect("body").to_bytes();
        let v = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (status, v)
    }

    /// Posts a review to `/admission/validate` (or mutate) and returns its `response`.
    async fn review(&self, path: &str, review: &Value) -> Value {
        let (status, v) = self.post_raw(path, review.to_string()).await;
        assert_eq!(status, StatusCode::OK, "{v}");
        assert_eq!(v["apiVersion"], "admission.k8s.io/v1");
        assert_eq!(v["kind"], "AdmissionReview");
        assert_eq!(
            v["response"]["uid"], review["request"]["uid"],
            "the uid is echoed"
        );
        v["response"].clone()
    }

    async fn validate(&self, review: &Value) -> Value {
        self.review("/admission/validate", review).await
    }

    async fn logged(&self) -> Vec<store::admission::Entry> {
        self.webhook.flush().await;
        store::admission::list(&self.db.state.pool, &Default::default(), 1000, 0)
            .await
            .expect("list")
            .0
    }
}

/// A corpus manifest as JSON (one document).
fn corpus(rel: &str) -> Option<Value> {
    let dir = shared_dir("corpus")?;
    let text = std::fs::read_to_string(dir.join(rel)).expect("read corpus file");
    Some(serde_yaml_ng::from_str(&text).expect("corpus YAML"))
}

/// Group and version of a kind, as in `request.kind`.
fn gvk(kind: &str) -> (&'static str, &'static str) {
    match kind {
        "Pod" | "ReplicationController" => ("", "v1"),
        "Job" | "CronJob" => ("batch", "v1"),
        _ => ("apps", "v1"),
    }
}

/// Puts `object` in `namespace`, as the API server does before admission.
fn in_namespace(mut object: Value, namespace: &str) -> Value {
    object["metadata"]["namespace"] = json!(namespace);
    object
}

/// An AdmissionReview as the API server sends it for `object`.
fn review_of(operation: &str, object: &Value, old: Option<&Value>) -> Value {
    let kind = object["kind"].as_str().unwrap_or("Pod");
    let (group, version) = gvk(kind);
    let resource = format!("{}s", kind.to_lowercase());
    json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": format!("uid-{}-{}", kind, object["metadata"]["name"].as_str().unwrap_or("")),
            "kind": {"group": group, "version": version, "kind": kind},
            "resource": {"group": group, "version": version, "resource": resource},
            "requestKind": {"group": group, "version": version, "kind": kind},
            "requestResource": {"group": group, "version": version, "resource": resource},
            "name": object["metadata"]["name"],
            "namespace": object["metadata"]["namespace"],
            "operation": operation,
            "userInfo": {"username": "alice@example.com", "uid": "1", "groups": ["system:authenticated"]},
            "object": object,
            "oldObject": old,
            "dryRun": false,
            "options": {"apiVersion": "meta.k8s.io/v1", "kind": if operation == "CREATE" { "CreateOptions" } else { "UpdateOptions" }}
        }
    })
}

/// What the policy core says about `object` under `profile`: the words the
/// webhook must answer with.
fn core_verdict(profile: &Profile, object: &Value) -> profiles::Verdict {
    let mut inv = portcullis::model::Inventory::default();
    portcullis::ingest::manifests::load_value(object.clone(), &Default::default(), &mut inv);
    let w = inv.workloads.pop().expect("a workload");
    profiles::evaluate(profile, &w.template)
}

fn restricted() -> Profile {
    Profile::level(LevelVersion::latest(Level::Restricted))
}

fn priv_deployment(ns: &str) -> Option<Value> {
    Some(in_namespace(
        corpus("insecure/badpods/priv/deployment/priv-exec-deployment.yaml")?,
        ns,
    ))
}

fn priv_pod(ns: &str) -> Option<Value> {
    Some(in_namespace(
        corpus("insecure/badpods/priv/pod/priv-exec-pod.yaml")?,
        ns,
    ))
}

/// A CronJob whose job runs the corpus pod's spec.
fn cronjob_of(pod: &Value, name: &str) -> Value {
    json!({
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": name, "namespace": pod["metadata"]["namespace"]},
        "spec": {
            "schedule": "*/5 * * * *",
            "jobTemplate": {"spec": {"template": {
                "metadata": {"labels": {"app": name}},
                "spec": pod["spec"]
            }}}
        }
    })
}

// ---------------------------------------------------------------------------------------------
// Modes

#[tokio::test]
async fn enforce_rejects_a_deployment_with_the_policy_cores_message() {
    let Some(object) = priv_deployment("payments") else {
        return;
    };
    let h = hook().await;
    h.assign("namespace/payments", Mode::Enforce, "restricted")
        .await;
    let r = h.validate(&review_of("CREATE", &object, None)).await;
    assert_eq!(r["allowed"], false, "{r}");
    assert_eq!(r["status"]["code"], 403);
    let expected = core_verdict(&restricted(), &object);
    assert!(!expected.allowed);
    assert_eq!(r["status"]["message"], expected.message.as_str());
    let message = r["status"]["message"].as_str().unwrap_or_default();
    assert!(
        message.starts_with("violates PodSecurity \"restricted:latest\": privileged"),
        "{message}"
    );
    let log = h.logged().await;
    assert_eq!(log.len(), 1);
    let e = &log[0];
    assert_eq!(
        (e.verdict.as_str(), e.mode.as_str(), e.profile.as_str()),
        ("denied", "enforce", "restricted:latest")
    );
    assert_eq!(e.workload(), "payments/Deployment/priv-exec-deployment");
    assert_eq!(e.user, "alice@example.com");
    assert_eq!(e.message, expected.message);
    // A rejection becomes an alert: findings for its failing controls.
    let alerts = h.alerts.taken();
    assert_eq!(alerts.len(), 1);
    assert!(
        alerts[0]
            .findings()
            .iter()
            .any(|f| f.control.slug() == "privileged" && f.mode == Mode::Enforce),
        "{:?}",
        alerts[0].findings()
    );
}

#[tokio::test]
async fn namespace_labels_of_the_snapshot_apply_to_a_pod_without_assignment() {
    // shop is labelled pod-security.kubernetes.io/enforce=baseline in the snapshot.
    let Some(pod) = priv_pod("shop") else { return };
    let h = hook().await;
    let r = h.validate(&review_of("CREATE", &pod, None)).await;
    assert_eq!(r["allowed"], false, "{r}");
    let baseline = Profile::level(LevelVersion::latest(Level::Baseline));
    assert_eq!(
        r["status"]["message"],
        core_verdict(&baseline, &pod).message.as_str()
    );
    // Elsewhere nothing applies: allowed, and said so.
    let elsewhere = in_namespace(pod, "scratch");
    let r = h.validate(&review_of("CREATE", &elsewhere, None)).await;
    assert_eq!(r["allowed"], true);
    let log = h.logged().await;
    assert_eq!(
        log[0].message,
        "no profile applies to scratch/Pod/priv-exec-pod"
    );
}

#[tokio::test]
async fn warn_allows_with_warnings_and_audit_allows_with_annotations_and_an_alert() {
    let Some(pod) = priv_pod("payments") else {
        return;
    };
    let h = hook().await;
    h.assign("namespace/payments", Mode::Warn, "baseline").await;
    let r = h.validate(&review_of("CREATE", &pod, None)).await;
    assert_eq!(r["allowed"], true, "{r}");
    let warning = r["warnings"][0].as_str().unwrap_or_default();
    assert!(
        warning.starts_with("would violate PodSecurity \"baseline:latest\": privileged"),
        "{r}"
    );
    assert!(r.get("auditAnnotations").is_none());
    h.webhook.flush().await;
    assert!(h.alerts.taken().is_empty(), "a warning raises no alert");

    h.assign("namespace/payments", Mode::Audit, "restricted")
        .await;
    let cj = cronjob_of(&pod, "nightly");
    let r = h.validate(&review_of("CREATE", &cj, None)).await;
    assert_eq!(r["allowed"], true, "{r}");
    let audit = r["auditAnnotations"]["pod-security.kubernetes.io/audit-violations"]
        .as_str()
        .unwrap_or_default();
    let expected = core_verdict(&restricted(), &cj);
    assert_eq!(audit, expected.warning());
    let log = h.logged().await;
    let e = log.iter().find(|e| e.kind == "CronJob").expect("logged");
    // warn failed first, so the verdict is a warning; the audit still alerts.
    assert_eq!(e.verdict, "warned");
    let alerts = h.alerts.taken();
    assert_eq!(alerts.len(), 1, "only the audit failure raises an alert");
    assert_eq!(alerts[0].workload(), "payments/CronJob/nightly");
    assert!(alerts[0].findings().iter().all(|f| f.mode == Mode::Audit));
}

#[tokio::test]
async fn a_workload_assignment_wins_over_the_namespace_one() {
    let Some(object) = priv_deployment("payments") else {
        return;
    };
    let h = hook().await;
    h.assign("namespace/payments", Mode::Enforce, "restricted")
        .await;
    h.assign(
        "workload/payments/Deployment/priv-exec-deployment",
        Mode::Enforce,
        "privileged",
    )
    .await;
    let r = h.validate(&review_of("CREATE", &object, None)).await;
    assert_eq!(r["allowed"], true, "{r}");
}

#[tokio::test]
async fn an_assignment_change_applies_to_the_next_review_without_restart() {
    let Some(object) = priv_deployment("payments") else {
        return;
    };
    let h = hook().await;
    let review = review_of("CREATE", &object, None);
    assert_eq!(h.validate(&review).await["allowed"], true);
    h.assign("namespace/payments", Mode::Enforce, "baseline")
        .await;
    assert_eq!(h.validate(&review).await["allowed"], false);
    store::assignments::unassign(
        &h.db.state.pool,
        CLUSTER,
        "namespace/payments",
        Mode::Enforce,
        "test",
        2,
    )
    .await
    .expect("unassign");
    h.db.state
        .rules
        .reload(&h.db.state.pool)
        .await
        .expect("reload");
    assert_eq!(h.validate(&review).await["allowed"], true);
}

#[tokio::test]
async fn a_new_snapshot_refreshes_the_namespace_labels() {
    let Some(pod) = priv_pod("fresh") else { return };
    let h = hook().await;
    let review = review_of("CREATE", &pod, None);
    assert_eq!(h.validate(&review).await["allowed"], true);
    let mut changed = h.webhook.namespaces().get();
    let inv = crate::support::inventory(&[(
        "ns.yaml",
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: fresh\n  labels:\n    pod-security.kubernetes.io/enforce: baseline\n",
    )]);
    let src = store::snapshots::SnapshotSource {
        cluster: CLUSTER.into(),
        source: "test".into(),
    };
    store::snapshots::insert(
        &h.db.state.pool,
        &src,
        &inv,
        1_800_000_000_000,
        portcullis::cli::level_of,
    )
    .await
    .expect("snapshot");
    // The reload runs in the background after the snapshot: poll with a deadline.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !changed.contains_key("fresh") {
        assert!(std::time::Instant::now() < deadline, "labels not reloaded");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        changed = h.webhook.namespaces().get();
    }
    assert_eq!(h.validate(&review).await["allowed"], false);
}

// ---------------------------------------------------------------------------------------------
// Exemptions

#[tokio::test]
async fn exempt_namespaces_users_and_runtime_classes_are_admitted_unjudged() {
    let Some(pod) = priv_pod("payments") else {
        return;
    };
    let h = hook_with(|c| {
        c.exempt_namespaces.insert("kube-system".into());
        c.exempt_users
            .insert("system:serviceaccount:kube-system:replicaset-controller".into());
        c.exempt_runtime_classes.insert("kata".into());
    })
    .await;
    h.assign("cluster", Mode::Enforce, "restricted").await;
    let review = review_of("CREATE", &pod, None);
    assert_eq!(h.validate(&review).await["allowed"], false, "not exempt");

    let system = review_of("CREATE", &in_namespace(pod.clone(), "kube-system"), None);
    assert_eq!(h.validate(&system).await["allowed"], true);

    let mut by_controller = review.clone();
    by_controller["request"]["userInfo"]["username"] =
        json!("system:serviceaccount:kube-system:replicaset-controller");
    assert_eq!(h.validate(&by_controller).await["allowed"], true);

    let mut kata = pod.clone();
    kata["spec"]["runtimeClassName"] = json!("kata");
    assert_eq!(
        h.validate(&review_of("CREATE", &kata, None)).await["allowed"],
        true
    );
    let log = h.logged().await;
    let messages: Vec<&str> = log.iter().map(|e| e.message.as_str()).collect();
    assert!(messages.contains(&"namespace kube-system is exempt"));
    assert!(messages.contains(&"runtime class kata is exempt"));
    assert!(
        messages
            .contains(&"user system:serviceaccount:kube-system:replicaset-controller is exempt")
    );
}

#[tokio::test]
async fn exemptions_of_the_assignment_feature_are_honoured() {
    let Some(object) = priv_deployment("payments") else {
        return;
    };
    let h = hook().await;
    h.assign("namespace/payments", Mode::Enforce, "baseline")
        .await;
    let review = review_of("CREATE", &object, None);
    assert_eq!(h.validate(&review).await["allowed"], false);
    let e = store::assignments::NewExemption {
        cluster: CLUSTER.into(),
        workload: "payments/Deployment/priv-exec-deployment".into(),
        container: None,
        control: portcullis::model::Control::from_slug("privileged"),
        reason: "pentest rig".into(),
        owner: "sec".into(),
        expires_at: i64::MAX,
    };
    store::assignments::exempt(&h.db.state.pool, &e, "test", 1)
        .await
        .expect("exempt");
    h.db.state
        .rules
        .reload(&h.db.state.pool)
        .await
        .expect("reload");
    assert_eq!(h.validate(&review).await["allowed"], true);
}

// ---------------------------------------------------------------------------------------------
// Mutate

const DEFAULTS_PSP: &str = r#"apiVersion: policy/v1beta1
kind: PodSecurityPolicy
metadata:
  name: hook-defaults
spec:
  privileged: false
  allowPrivilegeEscalation: false
  defaultAllowPrivilegeEscalation: false
  requiredDropCapabilities: [ALL]
  volumes: [configMap, secret, emptyDir, projected, downwardAPI]
  runAsUser:
    rule: MustRunAs
    ranges: [{min: 5000, max: 5999}]
  seLinux: {rule: RunAsAny}
  supplementalGroups: {rule: RunAsAny}
  fsGroup: {rule: RunAsAny}
"#;

/// RFC 6902 add/replace/remove, enough to apply the webhook's patches.
fn apply_patch(doc: &mut Value, ops: &[Value]) {
    for op in ops {
        let path = op["path"].as_str().expect("path");
        let (parent, last) = path.rsplit_once('/').expect("pointer");
        let last = last.replace("~1", "/").replace("~0", "~");
        let target = doc.pointer_mut(parent).expect("parent exists");
        match (op["op"].as_str(), target) {
            (Some("add" | "replace"), Value::Object(m)) => {
                m.insert(last, op["value"].clone());
            }
            (Some("add"), Value::Array(a)) if last == "-" => a.push(op["value"].clone()),
            (Some("add"), Value::Array(a)) => {
                a.insert(last.parse().expect("index"), op["value"].clone())
            }
            (Some("replace"), Value::Array(a)) => {
                a[last.parse::<usize>().expect("index")] = op["value"].clone()
            }
            (Some("remove"), Value::Object(m)) => {
                m.remove(&last);
            }
            (Some("remove"), Value::Array(a)) => {
                a.remove(last.parse().expect("index"));
            }
            (op, _) => panic!("unexpected patch op {op:?} at {path}"),
        }
    }
}

async fn with_defaults_profile(h: &Hook) -> Profile {
    let policies = portcullis::policy::psp::import("defaults.yaml", DEFAULTS_PSP).expect("import");
    let custom = Profile::psp_file("defaults.yaml", policies).to_custom("hook-defaults");
    store::profiles::insert(&h.db.state.pool, &custom, "test", 1)
        .await
        .expect("insert profile");
    h.assign("namespace/payments", Mode::Enforce, "hook-defaults")
        .await;
    Profile::custom(&custom)
}

#[tokio::test]
async fn mutate_answers_the_profile_defaults_as_a_json_patch_under_the_template() {
    let Some(mut object) = corpus("insecure/badpods/priv/deployment/priv-exec-deployment.yaml")
    else {
        return;
    };
    // A plain workload without the pentest privileges: keep only its image.
    let image = object["spec"]["template"]["spec"]["containers"][0]["image"].clone();
    object["spec"]["template"]["spec"] = json!({"containers": [{"name": "app", "image": image}]});
    let object = in_namespace(object, "payments");
    let h = hook().await;
    let profile = with_defaults_profile(&h).await;

    let r = h
        .review("/admission/mutate", &review_of("CREATE", &object, None))
        .await;
    assert_eq!(r["allowed"], true, "{r}");
    assert_eq!(r["patchType"], "JSONPatch");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(r["patch"].as_str().expect("patch"))
        .expect("base64");
    let ops: Vec<Value> = serde_json::from_slice(&bytes).expect("JSON patch");
    // The policy core's patch, relative to the pod, moved under the template.
    let expected = core_verdict(&profile, &object);
    assert!(!expected.patch.is_empty());
    let expected: Vec<Value> = expected
        .patch
        .iter()
        .map(|op| serde_json::to_value(op.under("/spec/template")).expect("op"))
        .collect();
    assert_eq!(ops, expected);
    assert!(
        ops.iter().all(|op| op["path"]
            .as_str()
            .is_some_and(|p| p.starts_with("/spec/template/"))),
        "{ops:?}"
    );
    assert!(
        ops.iter().any(|op| op.to_string().contains("runAsUser")),
        "{ops:?}"
    );
    // The patched object is allowed as it is, by the core and by validate.
    let mut patched = object.clone();
    apply_patch(&mut patched, &ops);
    let after = core_verdict(&profile, &patched);
    assert!(after.allowed && after.patch.is_empty(), "{after:?}");
    let v = h.validate(&review_of("CREATE", &patched, None)).await;
    assert_eq!(v["allowed"], true, "{v}");
    // Unpatched, validate says the defaults are missing.
    let v = h.validate(&review_of("CREATE", &object, None)).await;
    assert_eq!(v["allowed"], false, "{v}");
    assert!(
        v["status"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("/admission/mutate")),
        "{v}"
    );
}

#[tokio::test]
async fn mutate_of_a_pod_patches_from_the_pod_root_and_rejects_what_defaults_cannot_fix() {
    let Some(pod) = priv_pod("payments") else {
        return;
    };
    let h = hook().await;
    let profile = with_defaults_profile(&h).await;
    // Privileged: no default makes it acceptable.
    let r = h
        .review("/admission/mutate", &review_of("CREATE", &pod, None))
        .await;
    assert_eq!(r["allowed"], false, "{r}");
    assert_eq!(
        r["status"]["message"],
        core_verdict(&profile, &pod).message.as_str()
    );
    assert!(
        r["status"]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("PodSecurityPolicy: unable to admit pod: [")),
        "{r}"
    );
    let mut plain = pod.clone();
    plain["spec"]["containers"][0]
        .as_object_mut()
        .expect("container")
        .remove("securityContext");
    let r = h
        .review("/admission/mutate", &review_of("CREATE", &plain, None))
        .await;
    assert_eq!(r["allowed"], true, "{r}");
    let ops: Vec<Value> = serde_json::from_slice(
        &base64::engine::general_purpose::STANDARD
            .decode(r["patch"].as_str().expect("patch"))
            .expect("base64"),
    )
    .expect("ops");
    assert!(ops.iter().all(|op| {
        op["path"]
            .as_str()
            .is_some_and(|p| p.starts_with("/spec/") || p.starts_with("/metadata/"))
    }));
    apply_patch(&mut plain, &ops);
    assert!(core_verdict(&profile, &plain).allowed);
}

// ---------------------------------------------------------------------------------------------
// Updates and ephemeral containers

#[tokio::test]
async fn ephemeral_containers_are_judged_with_the_pod() {
    let Some(pod) = priv_pod("payments") else {
        return;
    };
    let h = hook().await;
    h.assign("namespace/payments", Mode::Enforce, "baseline")
        .await;
    let mut old = pod.clone();
    old["spec"]["containers"][0]
        .as_object_mut()
        .expect("container")
        .remove("securityContext");
    let mut new = old.clone();
    new["spec"]["ephemeralContainers"] = json!([{
        "name": "debugger", "image": "busybox", "securityContext": {"privileged": true}
    }]);
    let mut review = review_of("UPDATE", &new, Some(&old));
    review["request"]["subResource"] = json!("ephemeralcontainers");
    let r = h.validate(&review).await;
    assert_eq!(r["allowed"], false, "{r}");
    assert!(
        r["status"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("debugger")),
        "{r}"
    );
    // A harmless debugger is admitted.
    new["spec"]["ephemeralContainers"][0]
        .as_object_mut()
        .expect("container")
        .remove("securityContext");
    let mut review = review_of("UPDATE", &new, Some(&old));
    review["request"]["subResource"] = json!("ephemeralcontainers");
    assert_eq!(h.validate(&review).await["allowed"], true);
}

#[tokio::test]
async fn updates_that_change_nothing_security_relevant_are_not_judged() {
    let Some(pod) = priv_pod("payments") else {
        return;
    };
    let h = hook().await;
    h.assign("namespace/payments", Mode::Enforce, "baseline")
        .await;
    // The pod exists (from before the assignment); a controller adds a label.
    let mut relabelled = pod.clone();
    relabelled["metadata"]["labels"]["release"] = json!("canary");
    relabelled["metadata"]["finalizers"] = json!(["example.com/keep"]);
    let r = h
        .validate(&review_of("UPDATE", &relabelled, Some(&pod)))
        .await;
    assert_eq!(r["allowed"], true, "{r}");
    // A new image is significant.
    let mut new_image = pod.clone();
    new_image["spec"]["containers"][0]["image"] = json!("ubuntu:24.04");
    let r = h
        .validate(&review_of("UPDATE", &new_image, Some(&pod)))
        .await;
    assert_eq!(r["allowed"], false, "{r}");
    // Other subresources and operations are not reviewed.
    let mut status = review_of("UPDATE", &new_image, Some(&pod));
    status["request"]["subResource"] = json!("status");
    assert_eq!(h.validate(&status).await["allowed"], true);
    let mut delete = review_of("DELETE", &pod, None);
    delete["request"]["object"] = Value::Null;
    assert_eq!(h.validate(&delete).await["allowed"], true);
    let log = h.logged().await;
    assert!(
        log.iter()
            .any(|e| e.message == "the update changes nothing pod security checks")
    );
}

/// A client that sends part of a review and stalls gets 408 once the
/// per-request timeout has passed (the API server then follows the
/// failurePolicy); the stall is logged as an error. A body that arrives in
/// pieces within the timeout is reviewed as usual.
#[tokio::test]
async fn a_body_that_stalls_times_out_and_one_that_trickles_in_is_reviewed() {
    let Some(pod) = priv_pod("payments") else {
        return;
    };
    let h = hook_with(|c| c.timeout = std::time::Duration::from_millis(300)).await;
    let text = review_of("CREATE", &pod, None).to_string();
    let (head, tail) = text.split_at(text.len() / 2);

    let first: Result<axum::body::Bytes, std::io::Error> = Ok(head.to_owned().into());
    let stalled = futures_util::stream::iter([first]).chain(futures_util::stream::pending());
    let started = std::time::Instant::now();
    let (status, _) = h
        .post_raw("/admission/validate", Body::from_stream(stalled))
        .await;
    assert_eq!(status, StatusCode::REQUEST_TIMEOUT);
    let took = started.elapsed();
    assert!(
        took >= std::time::Duration::from_millis(300) && took < std::time::Duration::from_secs(5),
        "{took:?}"
    );
    let log = h.logged().await;
    assert_eq!(log[0].verdict, "error", "{:?}", log[0]);
    assert!(
        log[0].message.contains("did not arrive within 0.3 s"),
        "{:?}",
        log[0]
    );

    // Two pieces, 100 ms apart: within the timeout.
    let (head, tail) = (head.to_owned(), tail.to_owned());
    let trickle = futures_util::stream::iter([head, tail]).then(|piece| async move {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        Ok::<_, std::io::Error>(axum::body::Bytes::from(piece))
    });
    let (status, v) = h
        .post_raw("/admission/validate", Body::from_stream(trickle))
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["response"]["uid"], "uid-Pod-priv-exec-pod", "{v}");
}

#[tokio::test]
async fn a_workload_update_that_changes_only_fields_no_check_reads_is_still_judged() {
    let Some(deployment) = priv_deployment("payments") else {
        return;
    };
    let h = hook().await;
    h.assign("namespace/payments", Mode::Enforce, "baseline")
        .await;
    // The same template (a scale through the main resource): not judged.
    let mut scaled = deployment.clone();
    scaled["spec"]["replicas"] = json!(5);
    let r = h
        .validate(&review_of("UPDATE", &scaled, Some(&deployment)))
        .await;
    assert_eq!(r["allowed"], true, "{r}");
    // A new environment variable changes the template: judged, as
    // pod-security-admission judges any change of a controller's template,
    // though the webhook's lean read skips `env`.
    let mut new_env = deployment.clone();
    new_env["spec"]["template"]["spec"]["containers"][0]["env"] =
        json!([{"name": "MODE", "value": "canary"}]);
    let r = h
        .validate(&review_of("UPDATE", &new_env, Some(&deployment)))
        .await;
    assert_eq!(r["allowed"], false, "{r}");
    let log = h.logged().await;
    assert_eq!(log.len(), 2);
    assert_eq!(log[0].verdict, "denied", "{:?}", log[0]);
    assert_eq!(
        log[1].message, "the update changes nothing pod security checks",
        "{:?}",
        log[1]
    );
}

#[tokio::test]
async fn a_controller_pod_with_only_generate_name_is_judged_as_the_pod_it_is() {
    let Some(mut pod) = priv_pod("payments") else {
        return;
    };
    let h = hook().await;
    h.assign("namespace/payments", Mode::Enforce, "baseline")
        .await;
    let meta = pod["metadata"].as_object_mut().expect("metadata");
    meta.remove("name");
    meta.insert("generateName".into(), json!("web-7d9c6-"));
    meta.insert(
        "ownerReferences".into(),
        json!([{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-7d9c6", "uid": "u1", "controller": true}]),
    );
    let mut review = review_of("CREATE", &pod, None);
    review["request"]["name"] = json!("");
    let r = h.validate(&review).await;
    assert_eq!(r["allowed"], false, "{r}");
    let log = h.logged().await;
    assert_eq!(log[0].workload(), "payments/Pod/web-7d9c6-");
}

// ---------------------------------------------------------------------------------------------
// Dry runs

#[tokio::test]
async fn dry_runs_are_logged_but_raise_no_alert() {
    let Some(object) = priv_deployment("payments") else {
        return;
    };
    let h = hook().await;
    h.assign("namespace/payments", Mode::Enforce, "restricted")
        .await;
    let mut dry = review_of("CREATE", &object, None);
    dry["request"]["dryRun"] = json!(true);
    assert_eq!(h.validate(&dry).await["allowed"], false);
    let log = h.logged().await;
    assert_eq!(log.len(), 1);
    assert!(log[0].dry_run);
    assert_eq!(log[0].verdict, "denied");
    assert!(h.alerts.taken().is_empty(), "a dry run raised an alert");
    // The same review for real does.
    assert_eq!(
        h.validate(&review_of("CREATE", &object, None)).await["allowed"],
        false
    );
    h.webhook.flush().await;
    assert_eq!(h.alerts.taken().len(), 1);
}

// ---------------------------------------------------------------------------------------------
// Bad input

async fn bad_input(h: &Hook, body: impl Into<Body>) -> Value {
    let (status, v) = h.post_raw("/admission/validate", body).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["kind"], "AdmissionReview");
    let r = v["response"].clone();
    assert_eq!(r["status"]["code"], 400, "{r}");
    r
}

fn message(r: &Value) -> &str {
    r["status"]["message"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn bad_input_gets_a_review_decided_by_the_failure_mode() {
    let Some(pod) = priv_pod("payments") else {
        return;
    };
    let h = hook().await;
    let good = review_of("CREATE", &pod, None);

    let r = bad_input(&h, "{\"apiVersion\": ").await;
    assert_eq!(r["allowed"], false);
    assert!(
        message(&r).contains("not an AdmissionReview in JSON"),
        "{r}"
    );

    let mut v1beta1 = good.clone();
    v1beta1["apiVersion"] = json!("admission.k8s.io/v1beta1");
    let r = bad_input(&h, v1beta1.to_string()).await;
    assert!(
        message(&r).contains("apiVersion \"admission.k8s.io/v1beta1\""),
        "{r}"
    );

    let mut kind = good.clone();
    kind["kind"] = json!("TokenReview");
    let r = bad_input(&h, kind.to_string()).await;
    assert!(message(&r).contains("kind \"TokenReview\""), "{r}");

    let mut no_object = good.clone();
    no_object["request"]
        .as_object_mut()
        .expect("req")
        .remove("object");
    let r = bad_input(&h, no_object.to_string()).await;
    assert!(message(&r).contains("request.object is missing"), "{r}");
    assert_eq!(r["uid"], good["request"]["uid"], "the uid is still echoed");

    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "payments"}, "data": {"a": "b"}});
    let r = bad_input(&h, review_of("CREATE", &cm, None).to_string()).await;
    assert!(
        message(&r).contains("request.object is a ConfigMap, not a Pod"),
        "{r}"
    );

    let mut broken = pod.clone();
    broken["spec"]["containers"][0]["securityContext"]["runAsUser"] = json!("root");
    let r = bad_input(&h, review_of("CREATE", &broken, None).to_string()).await;
    assert!(
        message(&r).contains("spec.containers[0].securityContext.runAsUser"),
        "{r}"
    );

    let r = bad_input(&h, "{}").await;
    assert!(message(&r).contains("apiVersion is missing"), "{r}");

    let r = bad_input(
        &h,
        "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\"}",
    )
    .await;
    assert!(message(&r).contains("request is missing"), "{r}");

    // 10 MB: answered without reading it all, naming the limit.
    let mut huge = good.clone();
    huge["request"]["object"]["metadata"]["annotations"] =
        json!({"padding": "x".repeat(10 * 1024 * 1024)});
    let r = bad_input(&h, huge.to_string()).await;
    assert!(message(&r).contains("larger than 3 MiB"), "{r}");

    let log = h.logged().await;
    assert_eq!(log.len(), 9);
    assert!(log.iter().all(|e| e.verdict == "error"));
}

#[tokio::test]
async fn failure_mode_allow_admits_what_cannot_be_read() {
    let h = hook_with(|c| c.failure_mode = FailureMode::Allow).await;
    let r = bad_input(&h, "not json").await;
    assert_eq!(r["allowed"], true, "{r}");
}

// ---------------------------------------------------------------------------------------------
// Admission log page, API and metrics

#[tokio::test]
async fn the_admission_log_page_and_api_filter_and_escape() {
    let Some(object) = priv_deployment("payments") else {
        return;
    };
    let h = hook().await;
    h.assign("namespace/payments", Mode::Enforce, "restricted")
        .await;
    let mut review = review_of("CREATE", &object, None);
    review["request"]["userInfo"]["username"] = json!("<b>eve</b>");
    h.validate(&review).await;
    h.validate(&review_of(
        "CREATE",
        &in_namespace(object.clone(), "other"),
        None,
    ))
    .await;
    h.webhook.flush().await;

    let get = |uri: &str, hx: bool| {
        let mut req = Request::get(uri);
        if hx {
            req = req.header("HX-Request", "true");
        }
        let app = portcullis::app(h.db.state.clone());
        async move {
            let resp = app
                .oneshot(req.body(Body::empty()).expect("request"))
                .await
                .expect("response");
            let status = resp.status();
            let body = resp.into_body().collect().await.expect("body").to_bytes();
            (status, String::from_utf8_lossy(&body).into_owned())
        }
    };
    let (status, body) = get("/api/v1/admission?verdict=denied", false).await;
    assert_eq!(status, StatusCode::OK);
    let v: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["total"], 1);
    assert_eq!(v["decisions"][0]["namespace"], "payments");
    assert_eq!(v["decisions"][0]["verdict"], "denied");
    assert_eq!(v["decisions"][0]["dryRun"], false);

    let (status, body) = get("/api/v1/admission?namespace=other", false).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        serde_json::from_str::<Value>(&body).expect("json")["total"],
        1
    );

    let (status, body) = get("/api/v1/admission?verdict=maybe", false).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("verdict must be"), "{body}");

    let (status, page) = get("/admission?verdict=denied", false).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("<h1>Admission log</h1>"));
    assert!(page.contains("✗ rejected"), "the verdict has a word");
    assert!(!page.contains("<b>eve</b>"), "user text is escaped");
    assert!(
        page.contains("&lt;b&gt;eve&lt;/b&gt;") || page.contains("&#60;b&#62;eve&#60;/b&#62;"),
        "{page}"
    );
    assert!(page.contains(r#"<option value="denied" selected>"#));

    let (status, partial) = get("/admission?verdict=warned", true).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        partial
            .trim_start()
            .starts_with(r#"<div id="admission-table""#)
    );
    assert!(!partial.contains("<html"));
    assert!(partial.contains("No decision matches"), "{partial}");
}

#[tokio::test]
async fn metrics_count_reviews_by_verdict_mode_and_kind() {
    let Some(pod) = priv_pod("payments") else {
        return;
    };
    let h = hook().await;
    h.assign("namespace/payments", Mode::Enforce, "restricted")
        .await;
    let cj = cronjob_of(&pod, "metrics-job");
    h.validate(&review_of("CREATE", &cj, None)).await;
    for app in [
        portcullis::app(h.db.state.clone()),
        admission::router(h.webhook.clone()),
    ] {
        let resp = app
            .oneshot(Request::get("/metrics").body(Body::empty()).expect("req"))
            .await
            .expect("response");
        assert_eq!(resp.status(), StatusCode::OK);
        assert!(
            resp.headers()["content-type"]
                .to_str()
                .is_ok_and(|c| c.starts_with("text/plain; version=0.0.4"))
        );
        let body = resp.into_body().collect().await.expect("body").to_bytes();
        let text = String::from_utf8_lossy(&body);
        assert!(
            text.contains(
                "portcullis_admission_reviews_total{verdict=\"denied\",mode=\"enforce\",kind=\"CronJob\"} "
            ),
            "{text}"
        );
        assert!(text.contains("# TYPE portcullis_admission_review_duration_seconds histogram"));
        assert!(
            text.contains("portcullis_admission_review_duration_seconds_bucket{le=\"0.00005\"}")
        );
        assert!(text.contains("# TYPE portcullis_alerts_open gauge"));
    }
}

// ---------------------------------------------------------------------------------------------
// TLS

mod tls {
    use super::*;
    use hyper_util::rt::TokioIo;
    use portcullis::admission::tls::{CertReloader, server_config};
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
    use rustls::pki_types::{CertificateDer, ServerName};
    use std::time::{Duration, Instant};

    struct Ca {
        issuer: CertifiedIssuer<'static, KeyPair>,
    }

    impl Ca {
        fn new(name: &str) -> Ca {
            let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            params.distinguished_name.push(DnType::CommonName, name);
            let key = KeyPair::generate().expect("key");
            Ca {
                issuer: CertifiedIssuer::self_signed(params, key).expect("CA"),
            }
        }

        fn der(&self) -> CertificateDer<'static> {
            self.issuer.der().clone()
        }

        /// A leaf for `localhost`: (cert PEM, key PEM, cert DER).
        fn leaf(&self, cn: &str) -> (String, String, CertificateDer<'static>) {
            let mut params = CertificateParams::new(vec!["localhost".to_owned()]).expect("params");
            params.distinguished_name.push(DnType::CommonName, cn);
            let key = KeyPair::generate().expect("key");
            let cert = params.signed_by(&key, &self.issuer).expect("leaf");
            (cert.pem(), key.serialize_pem(), cert.der().clone())
        }
    }

    fn write_pair(dir: &Path, cert: &str, key: &str) {
        // Written aside and renamed, as Kubernetes updates a mounted Secret.
        for (name, text) in [("tls.crt", cert), ("tls.key", key)] {
            let tmp = dir.join(format!(".{name}.new"));
            std::fs::write(&tmp, text).expect("write");
            std::fs::rename(&tmp, dir.join(name)).expect("rename");
        }
    }

    fn client(
        roots: &[CertificateDer<'static>],
        identity: Option<(String, String)>,
    ) -> tokio_rustls::TlsConnector {
        let mut store = rustls::RootCertStore::empty();
        for r in roots {
            store.add(r.clone()).expect("root");
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(store);
        let mut config = match identity {
            None => builder.with_no_client_auth(),
            Some((cert, key)) => {
                use rustls::pki_types::pem::PemObject;
                let chain = vec![CertificateDer::from_pem_slice(cert.as_bytes()).expect("cert")];
                let key =
                    rustls::pki_types::PrivateKeyDer::from_pem_slice(key.as_bytes()).expect("key");
                builder
                    .with_client_auth_cert(chain, key)
                    .expect("client auth")
            }
        };
        // Each connection shows the certificate served now, not a resumed session's.
        config.resumption = rustls::client::Resumption::disabled();
        tokio_rustls::TlsConnector::from(Arc::new(config))
    }

    /// One HTTPS POST on a new connection: the server's certificate and the
    /// review answer.
    async fn post(
        connector: &tokio_rustls::TlsConnector,
        addr: std::net::SocketAddr,
        body: String,
    ) -> Result<(CertificateDer<'static>, Value), String> {
        let tcp = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| e.to_string())?;
        let name = ServerName::try_from("localhost").map_err(|e| e.to_string())?;
        let tls = connector
            .connect(name, tcp)
            .await
            .map_err(|e| e.to_string())?;
        let presented = tls
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|c| c.first())
            .cloned()
            .ok_or("no server certificate")?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(conn);
        let req = Request::post("/admission/validate")
            .header("host", "localhost")
            .header("content-type", "application/json")
            .body(http_body_util::Full::new(axum::body::Bytes::from(body)))
            .map_err(|e| e.to_string())?;
        let resp = sender.send_request(req).await.map_err(|e| e.to_string())?;
        let bytes = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        let v = serde_json::from_slice(&bytes).map_err(|e| e.to_string())?;
        Ok((presented, v))
    }

    struct Server {
        addr: std::net::SocketAddr,
        stop: Option<tokio::sync::oneshot::Sender<()>>,
        done: tokio::task::JoinHandle<std::io::Result<()>>,
    }

    async fn start(h: &Hook, certs: Arc<CertReloader>, client_ca: Option<&Path>) -> Server {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let tls = server_config(certs, client_ca).expect("tls config");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let done = tokio::spawn(admission::tls::serve(
            listener,
            tls,
            admission::router(h.webhook.clone()),
            async move {
                let _ = stopped.await;
            },
        ));
        Server {
            addr,
            stop: Some(stop),
            done,
        }
    }

    impl Server {
        async fn shutdown(mut self) {
            if let Some(s) = self.stop.take() {
                let _ = s.send(());
            }
            self.done.await.expect("join").expect("served");
        }
    }

    #[tokio::test]
    async fn reviews_over_https_and_certificates_reload_when_their_files_change() {
        let Some(pod) = priv_pod("payments") else {
            return;
        };
        let h = hook().await;
        h.assign("namespace/payments", Mode::Enforce, "baseline")
            .await;
        let dir = tempfile::tempdir().expect("dir");
        let (ca1, ca2) = (Ca::new("first CA"), Ca::new("second CA"));
        let (cert1, key1, der1) = ca1.leaf("webhook one");
        write_pair(dir.path(), &cert1, &key1);
        let certs = CertReloader::new(&dir.path().join("tls.crt"), &dir.path().join("tls.key"))
            .expect("certs");
        tokio::spawn(certs.clone().watch(Duration::from_millis(50)));
        let server = start(&h, certs, None).await;
        let connector = client(&[ca1.der(), ca2.der()], None);
        let body = review_of("CREATE", &pod, None).to_string();

        let (presented, v) = post(&connector, server.addr, body.clone())
            .await
            .expect("https");
        assert_eq!(presented, der1);
        assert_eq!(v["response"]["allowed"], false, "{v}");
        assert_eq!(v["response"]["uid"], "uid-Pod-priv-exec-pod");

        // A client that trusts only the second CA is refused for now.
        let only2 = client(&[ca2.der()], None);
        assert!(post(&only2, server.addr, body.clone()).await.is_err());

        // A broken replacement keeps the current certificate.
        write_pair(dir.path(), "not a certificate", "not a key");
        let (cert2, key2, der2) = ca2.leaf("webhook two");
        // Then the good one: the next connection sees it (poll with a deadline).
        write_pair(dir.path(), &cert2, &key2);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let (presented, v) = post(&connector, server.addr, body.clone())
                .await
                .expect("https");
            assert_eq!(v["response"]["allowed"], false);
            if presented == der2 {
                break;
            }
            assert_eq!(presented, der1, "only the old or the new certificate");
            assert!(Instant::now() < deadline, "certificate not reloaded");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(post(&only2, server.addr, body).await.is_ok());
        server.shutdown().await;
    }

    #[test]
    fn a_bad_file_is_refused_and_the_current_pair_kept() {
        let dir = tempfile::tempdir().expect("dir");
        let ca = Ca::new("ca");
        let (cert, key, _) = ca.leaf("one");
        write_pair(dir.path(), &cert, &key);
        let (c, k) = (dir.path().join("tls.crt"), dir.path().join("tls.key"));
        let certs = CertReloader::new(&c, &k).expect("certs");
        let (_, other_key, _) = ca.leaf("two");
        // A key that does not match the certificate.
        write_pair(dir.path(), &cert, &other_key);
        assert!(!certs.check(), "a mismatched pair is not loaded");
        assert!(CertReloader::new(&c, &k).is_err());
        let missing = CertReloader::new(&dir.path().join("nope.crt"), &k);
        assert!(missing.is_err_and(|e| e.contains("nope.crt")));
    }

    #[tokio::test]
    async fn client_certificates_are_required_with_a_client_ca() {
        let Some(pod) = priv_pod("payments") else {
            return;
        };
        let h = hook().await;
        let dir = tempfile::tempdir().expect("dir");
        let server_ca = Ca::new("server CA");
        let (cert, key, _) = server_ca.leaf("webhook");
        write_pair(dir.path(), &cert, &key);
        let clients = Ca::new("API server clients");
        let ca_file = dir.path().join("client-ca.crt");
        std::fs::write(&ca_file, clients.issuer.pem()).expect("write");
        let certs = CertReloader::new(&dir.path().join("tls.crt"), &dir.path().join("tls.key"))
            .expect("certs");
        let server = start(&h, certs, Some(&ca_file)).await;
        let body = review_of("CREATE", &pod, None).to_string();

        let anonymous = client(&[server_ca.der()], None);
        assert!(post(&anonymous, server.addr, body.clone()).await.is_err());
        let (ccert, ckey, _) = clients.leaf("kube-apiserver");
        let apiserver = client(&[server_ca.der()], Some((ccert, ckey)));
        let (_, v) = post(&apiserver, server.addr, body).await.expect("https");
        assert_eq!(v["response"]["allowed"], true, "{v}");
        server.shutdown().await;
    }
}

#[test]
fn significant_updates_follow_pod_security_admission() {
    let pod = |image: &str, labels: Value, ephemeral: Value| {
        let v = json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "p", "namespace": "n", "labels": labels},
            "spec": {"containers": [{"name": "c", "image": image}], "ephemeralContainers": ephemeral}
        });
        let mut inv = portcullis::model::Inventory::default();
        portcullis::ingest::manifests::load_value(v, &Default::default(), &mut inv);
        inv.workloads.pop().expect("pod")
    };
    let base = pod("a", json!({}), json!([]));
    assert!(!admission::significant_update(
        &base,
        &pod("a", json!({"x": "y"}), json!([]))
    ));
    assert!(admission::significant_update(
        &base,
        &pod("b", json!({}), json!([]))
    ));
    assert!(admission::significant_update(
        &base,
        &pod("a", json!({}), json!([{"name": "d", "image": "busybox"}]))
    ));
    let t: &PodTemplate = &base.template;
    assert_eq!(t.spec.containers.len(), 1);
}

#[test]
fn deploy_runs_the_webhook_with_flags_serve_accepts() {
    let path = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../deploy/deployment.yaml"
    ));
    let text = std::fs::read_to_string(path).expect("deployment.yaml");
    let d: Value = serde_yaml_ng::from_str(&text).expect("yaml");
    let pod = &d["spec"]["template"]["spec"];
    let c = &pod["containers"][0];
    let args: Vec<&str> = c["args"]
        .as_array()
        .expect("args")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    use clap::Parser as _;
    let cli = portcullis::cli::Cli::try_parse_from(std::iter::once("portcullis").chain(args))
        .expect("serve accepts the deployment's arguments");
    let portcullis::cli::Command::Serve { webhook, .. } = cli.command else {
        panic!("not serve");
    };
    let listen = webhook.webhook_listen.expect("--webhook-listen");
    assert!(
        c["ports"]
            .as_array()
            .expect("ports")
            .iter()
            .any(|p| p["name"] == "webhook" && p["containerPort"] == listen.port())
    );
    let cert = webhook.tls_cert.expect("--tls-cert");
    let mount = c["volumeMounts"]
        .as_array()
        .expect("mounts")
        .iter()
        .find(|m| cert.starts_with(m["mountPath"].as_str().unwrap_or("-")))
        .expect("the certificate is mounted");
    let volume = pod["volumes"]
        .as_array()
        .expect("volumes")
        .iter()
        .find(|v| v["name"] == mount["name"])
        .expect("volume");
    assert_eq!(volume["secret"]["secretName"], "portcullis-webhook-tls");
}

/// "Rejections become alerts": the alerts sink the server runs opens one
/// alert per failing (container, control), and a second rejection of the
/// same object refreshes them instead of opening more.
#[tokio::test]
async fn rejections_become_alerts_once() {
    let Some(object) = priv_deployment("payments") else {
        return;
    };
    let h = hook().await;
    h.assign("namespace/payments", Mode::Enforce, "restricted")
        .await;
    let r = h.validate(&review_of("CREATE", &object, None)).await;
    assert_eq!(r["allowed"], false, "{r}");
    h.logged().await;
    let decision = h
        .alerts
        .taken()
        .pop()
        .expect("a rejection reached the sink");
    let findings = decision.findings();
    assert!(!findings.is_empty());

    let pool = &h.db.state.pool;
    let sink = portcullis::alerts::AdmissionAlerts::new(pool.clone());
    sink.raise(&decision);
    let open = || async {
        let q = portcullis::store::alerts::AlertQuery {
            cluster: Some(CLUSTER.to_owned()),
            limit: 1000,
            ..Default::default()
        };
        portcullis::store::alerts::list(pool, &q)
            .await
            .expect("alerts")
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let (alerts, total) = loop {
        let (alerts, total) = open().await;
        if total as usize == findings.len() || std::time::Instant::now() > deadline {
            break (alerts, total);
        }
        tokio::task::yield_now().await;
    };
    assert_eq!(total as usize, findings.len(), "{alerts:?}");
    assert!(
        alerts
            .iter()
            .all(|a| a.workload == "payments/Deployment/priv-exec-deployment"
                && a.mode == "enforce"
                && a.state == "open")
    );
    assert!(alerts.iter().any(|a| a.control == "privileged"));

    let again = portcullis::alerts::raise_admission(
        pool,
        CLUSTER,
        "payments",
        &Default::default(),
        &findings,
        decision.at + 1,
    )
    .await
    .expect("raise again");
    assert_eq!(again, 0, "the same rejection opens nothing new");
    let (alerts, total) = open().await;
    assert_eq!(total as usize, findings.len());
    assert!(
        alerts.iter().all(|a| a.last_seen == decision.at + 1),
        "each live alert is refreshed: {alerts:?}"
    );

    // One alert resolved meanwhile: the next rejection opens it anew and
    // refreshes the others, their messages too.
    sqlx::query("UPDATE alerts SET state = 'resolved' WHERE id = ?")
        .bind(alerts[0].id)
        .execute(pool)
        .await
        .expect("resolve one");
    let mut reworded = findings.clone();
    for f in &mut reworded {
        f.message = format!("{} (again)", f.message);
    }
    let third = portcullis::alerts::raise_admission(
        pool,
        CLUSTER,
        "payments",
        &Default::default(),
        &reworded,
        decision.at + 2,
    )
    .await
    .expect("raise a third time");
    assert_eq!(third, 1, "the resolved one is opened anew");
    let (alerts, total) = open().await;
    let live: Vec<_> = alerts.iter().filter(|a| a.state != "resolved").collect();
    assert_eq!(live.len(), findings.len(), "{alerts:?}");
    assert_eq!(total as usize, findings.len() + 1);
    assert!(
        live.iter()
            .all(|a| a.last_seen == decision.at + 2 && a.message.ends_with(" (again)")),
        "{live:?}"
    );
}

/// Under load one rejection arrives many times within a batch of the log
/// writer: the alerts sink stores each distinct decision once, and the alerts
/// end up as if each repeat had been stored in turn (refreshed to the last).
#[tokio::test]
async fn repeated_rejections_in_one_batch_are_stored_once() {
    let Some(object) = priv_deployment("payments") else {
        return;
    };
    let h = hook().await;
    h.assign("namespace/payments", Mode::Enforce, "restricted")
        .await;
    for _ in 0..3 {
        let r = h.validate(&review_of("CREATE", &object, None)).await;
        assert_eq!(r["allowed"], false, "{r}");
    }
    // Another image fails the same checks: the same findings, a repeat.
    let mut changed = object.clone();
    changed["spec"]["template"]["spec"]["containers"][0]["image"] = json!("other:1");
    let r = h.validate(&review_of("CREATE", &changed, None)).await;
    assert_eq!(r["allowed"], false, "{r}");
    // The host's PID namespace too: another finding, not a repeat.
    changed["spec"]["template"]["spec"]["hostPID"] = json!(true);
    let r = h.validate(&review_of("CREATE", &changed, None)).await;
    assert_eq!(r["allowed"], false, "{r}");
    h.logged().await;
    let taken = h.alerts.taken();
    assert_eq!(taken.len(), 5);
    assert!(taken[0].same_findings(&taken[1]) && taken[1].same_findings(&taken[2]));
    assert!(
        taken[0].same_findings(&taken[3]),
        "another image, the same findings"
    );
    assert!(!taken[0].same_findings(&taken[4]), "another finding");
    let findings = taken[0].findings();
    assert!(!findings.is_empty());
    // The alerts the five decisions make: one per distinct fingerprint.
    let fingerprints: std::collections::HashSet<String> = taken
        .iter()
        .flat_map(|d| d.findings())
        .map(|f| f.fingerprint(CLUSTER))
        .collect();
    assert!(fingerprints.len() > findings.len(), "hostPID adds one");

    let pool = &h.db.state.pool;
    let sink = portcullis::alerts::AdmissionAlerts::new(pool.clone());
    let refs: Vec<&Decision> = taken.iter().collect();
    sink.raise_all(&refs);
    let last = taken.iter().map(|d| d.at).max().expect("decisions");
    let q = portcullis::store::alerts::AlertQuery {
        cluster: Some(CLUSTER.to_owned()),
        limit: 1000,
        ..Default::default()
    };
    // The sink stores from a task: wait for the last decision's refresh.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let (alerts, total) = loop {
        let (alerts, total) = portcullis::store::alerts::list(pool, &q)
            .await
            .expect("alerts");
        let done =
            total as usize == fingerprints.len() && alerts.iter().all(|a| a.last_seen == last);
        if done || std::time::Instant::now() > deadline {
            break (alerts, total);
        }
        tokio::task::yield_now().await;
    };
    assert_eq!(total as usize, fingerprints.len(), "{alerts:?}");
    assert!(alerts.iter().all(|a| a.last_seen == last), "{alerts:?}");
}

/// A decision's findings (made by the log writer from the review's verdicts)
/// are those `assignments::findings` makes of the object, for the modes that
/// failed: enforce and audit, not warn.
#[tokio::test]
async fn a_decisions_findings_are_those_of_the_rules() {
    let Some(object) = priv_deployment("payments") else {
        return;
    };
    let h = hook().await;
    h.assign("namespace/payments", Mode::Enforce, "restricted")
        .await;
    h.assign("namespace/payments", Mode::Warn, "restricted")
        .await;
    h.assign("namespace/payments", Mode::Audit, "baseline")
        .await;
    let r = h.validate(&review_of("CREATE", &object, None)).await;
    assert_eq!(r["allowed"], false, "{r}");
    h.logged().await;
    let taken = h.alerts.taken();
    assert_eq!(taken.len(), 1);
    let d = &taken[0];

    let mut inv = portcullis::model::Inventory::default();
    portcullis::ingest::manifests::load_value(object, &Default::default(), &mut inv);
    let w = inv.workloads.pop().expect("a workload");
    let labels = h.webhook.namespaces().get();
    let expected: Vec<_> = portcullis::policy::assignments::findings(
        &h.db.state.rules.get(),
        CLUSTER,
        &w.key,
        &w.template,
        labels.get(&w.key.namespace),
        d.at,
    )
    .into_iter()
    .filter(|f| f.mode != Mode::Warn)
    .collect();
    assert!(
        expected.iter().any(|f| f.mode == Mode::Enforce),
        "{expected:?}"
    );
    assert_eq!(d.findings(), expected);
}
