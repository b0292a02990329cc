//! Live cluster snapshots: the real kube client, over real HTTP, against a fake
//! Kubernetes API server (axum on 127.0.0.1:0) driven by a scenario per test.
//! The list answers are built from real recorded API responses
//! (`../shared/corpus/api`), shaped as the API server sends them: `PodList`
//! envelopes with `metadata.continue` and `resourceVersion`, items without
//! `kind`, owner references. Also: the snapshot diff, its page and JSON, the
//! "Take snapshot now" panel, the CLI, and `deploy/`.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use portcullis::AppState;
use portcullis::cli::live::{LiveCluster, Outcome, snapshot_cluster};
use portcullis::ingest::cluster::{Cluster, ClusterError, Options, Progress, RESOURCES, Target};
use portcullis::model::Inventory;
use portcullis::store::snapshots::{self, SnapshotSource};
use serde_json::{Value, json};
use sqlx::SqlitePool;
use tokio::sync::Notify;
use tower::ServiceExt;

use crate::common::shared_dir;
use crate::support::{SHOP, TestDb, db_with};

// ---------------------------------------------------------------------------------------------
// The fake API server

/// What the fake server does instead of answering one page normally.
#[derive(Clone)]
enum Fault {
    /// Answer with this status code and `Status` body.
    Status(u16, Value),
    /// Never answer.
    Hang,
    /// Answer 200 with half of the JSON.
    Malformed,
    /// Send half of the body, then drop the connection.
    Drop,
    /// 410 Gone the first time this page is asked for with a `continue` token.
    ExpireOnce,
    /// 410 Gone every time this page is asked for with a `continue` token.
    ExpireAlways,
    /// Signal `arrived`, then wait for `release` before answering.
    Gate(Arc<Gate>),
}

#[derive(Default)]
struct Gate {
    arrived: Notify,
    release: Notify,
}

/// One list the server serves: its kind and API version, and its items.
#[derive(Clone)]
struct List {
    kind: &'static str,
    api_version: String,
    items: Vec<Value>,
}

#[derive(Clone, Default)]
struct Scenario {
    token: String,
    lists: BTreeMap<String, List>,
    /// (path, 1-based page) → fault.
    faults: Vec<(String, usize, Fault)>,
}

impl Scenario {
    fn fault(mut self, path: &str, page: usize, fault: Fault) -> Self {
        self.faults.push((path.to_owned(), page, fault));
        self
    }
}

struct Fake {
    scenario: Scenario,
    /// Every request, as `path?query`.
    requests: Mutex<Vec<String>>,
    /// (path, page) whose `ExpireOnce` has fired.
    expired: Mutex<HashSet<(String, usize)>>,
}

impl Fake {
    fn requests(&self) -> Vec<String> {
        self.requests.lock().expect("lock").clone()
    }

    fn requests_for(&self, path: &str) -> Vec<String> {
        self.requests()
            .into_iter()
            .filter(|r| r.split('?').next() == Some(path))
            .collect()
    }
}

/// A `Status` object as the API server sends it.
fn status(code: u16, reason: &str, message: &str) -> Value {
    json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    })
}

fn respond(code: u16, body: &Value) -> Response {
    (
        StatusCode::from_u16(code).expect("status code"),
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

const RESOURCE_VERSION: &str = "1171150";

/// The fake API: answers `GET <list path>?limit=N&continue=TOKEN`.
async fn api(State(fake): State<Arc<Fake>>, req: Request) -> Response {
    let path = req.uri().path().to_owned();
    let query = req.uri().query().unwrap_or("").to_owned();
    fake.requests
        .lock()
        .expect("lock")
        .push(format!("{path}?{query}"));
    let scenario = &fake.scenario;

    let bearer = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if bearer != format!("Bearer {}", scenario.token) {
        return respond(401, &status(401, "Unauthorized", "Unauthorized"));
    }
    let Some(list) = scenario.lists.get(&path) else {
        return respond(
            404,
            &status(
                404,
                "NotFound",
                "the server could not find the requested resource",
            ),
        );
    };
    let params: BTreeMap<String, String> = serde_urlencoded::from_str(&query).unwrap_or_default();
    let limit = params
        .get("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .filter(|&l| l > 0)
        .unwrap_or(usize::MAX);
    let token = params.get("continue").cloned();
    let offset = match &token {
        None => 0,
        Some(t) => match t
            .strip_prefix("eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJvZmZzZXQiOi")
            .and_then(|n| n.parse().ok())
        {
            Some(n) => n,
            None => {
                return respond(
                    400,
                    &status(
                        400,
                        "BadRequest",
                        "continue key is not valid: illegal base64 data",
                    ),
                );
            }
        },
    };
    let page = if limit == usize::MAX {
        1
    } else {
        offset / limit + 1
    };

    let mut fault = None;
    for (p, n, f) in &scenario.faults {
        if *p == path && *n == page {
            fault = Some(f.clone());
        }
    }
    match &fault {
        Some(Fault::Status(code, body)) => return respond(*code, body),
        Some(Fault::Hang) => std::future::pending::<()>().await,
        Some(Fault::ExpireOnce)
            if token.is_some()
                && fake
                    .expired
                    .lock()
                    .expect("lock")
                    .insert((path.clone(), page)) =>
        {
            return respond(410, &expired());
        }
        Some(Fault::ExpireAlways) if token.is_some() => return respond(410, &expired()),
        Some(Fault::Gate(gate)) => {
            gate.arrived.notify_one();
            gate.release.notified().await;
        }
        _ => {}
    }

    let end = offset.saturating_add(limit).min(list.items.len());
    let items: Vec<Value> = list.items[offset.min(end)..end].to_vec();
    let mut metadata = json!({ "resourceVersion": RESOURCE_VERSION });
    if end < list.items.len() {
        metadata["continue"] = json!(format!("eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJvZmZzZXQiOi{end}"));
        metadata["remainingItemCount"] = json!(list.items.len() - end);
    }
    let body = json!({
        "kind": format!("{}List", list.kind),
        "apiVersion": list.api_version,
        "metadata": metadata,
        "items": items,
    })
    .to_string();
    match fault {
        Some(Fault::Malformed) => (
            [(header::CONTENT_TYPE, "application/json")],
            body[..body.len() / 2].to_owned(),
        )
            .into_response(),
        Some(Fault::Drop) => {
            let half = Bytes::from(body[..body.len() / 2].to_owned());
            let chunks: Vec<Result<Bytes, std::io::Error>> = vec![
                Ok(half),
                Err(std::io::Error::new(
                    std::io::ErrorKind::ConnectionReset,
                    "the API server died",
                )),
            ];
            Response::builder()
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from_stream(futures_util::stream::iter(chunks)))
                .expect("response")
        }
        _ => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
    }
}

/// The API server's answer to an expired `continue` token.
fn expired() -> Value {
    status(
        410,
        "Expired",
        "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.",
    )
}

static CRYPTO: Once = Once::new();

/// kube's rustls client needs one process-wide crypto provider.
fn init_crypto() {
    CRYPTO.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

const TOKEN: &str = "fake-token-0123456789";
const CONTEXT: &str = "fake-prod";

struct FakeCluster {
    fake: Arc<Fake>,
    kubeconfig: PathBuf,
    _dir: tempfile::TempDir,
}

fn kubeconfig_text(server: &str, token: &str) -> String {
    format!(
        "apiVersion: v1
kind: Config
clusters:
- name: fake
  cluster:
    server: {server}
contexts:
- name: {CONTEXT}
  context:
    cluster: fake
    user: tester
- name: other
  context:
    cluster: fake
    user: tester
current-context: other
users:
- name: tester
  user:
    token: {token}
"
    )
}

/// Starts the fake API server on 127.0.0.1:0 and writes a kubeconfig for it
/// (context `fake-prod`, with `token`).
async fn start(scenario: Scenario, token: &str) -> FakeCluster {
    init_crypto();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let fake = Arc::new(Fake {
        scenario,
        requests: Mutex::new(Vec::new()),
        expired: Mutex::new(HashSet::new()),
    });
    let app = Router::new().fallback(api).with_state(fake.clone());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let dir = tempfile::tempdir().expect("temp dir");
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        kubeconfig_text(&format!("http://{addr}"), token),
    )
    .expect("write kubeconfig");
    FakeCluster {
        fake,
        kubeconfig,
        _dir: dir,
    }
}

fn options(timeout: Duration) -> Options {
    Options {
        page_size: 2,
        request_timeout: timeout,
        retry: false,
        max_restarts: 3,
    }
}

impl FakeCluster {
    fn target(&self) -> Target {
        Target {
            kubeconfig: Some(self.kubeconfig.clone()),
            context: Some(CONTEXT.to_owned()),
            in_cluster: false,
        }
    }

    async fn cluster(&self, timeout: Duration) -> Cluster {
        Cluster::connect(&self.target(), options(timeout))
            .await
            .expect("connect")
    }
}

// ---------------------------------------------------------------------------------------------
// The cluster the fake server serves, from recorded API responses

fn read_json(dir: &Path, file: &str) -> Value {
    let text = std::fs::read_to_string(dir.join(file)).expect("read corpus file");
    serde_json::from_str(&text).expect("corpus JSON")
}

fn read_jsonl(dir: &Path, file: &str) -> Vec<Value> {
    std::fs::read_to_string(dir.join(file))
        .expect("read corpus file")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("corpus JSON line"))
        .collect()
}

/// A list item as the API sends it: without `kind` and `apiVersion`.
fn item(mut v: Value) -> Value {
    if let Some(o) = v.as_object_mut() {
        o.remove("kind");
        o.remove("apiVersion");
    }
    v
}

fn owner(kind: &str, name: &str, uid: &str, api_version: &str) -> Value {
    json!([{ "apiVersion": api_version, "kind": kind, "name": name, "uid": uid,
             "controller": true, "blockOwnerDeletion": true }])
}

/// The pod template of a recorded pod (its labels and spec).
fn template_of(pod: &Value) -> Value {
    json!({ "metadata": { "labels": pod["metadata"]["labels"] }, "spec": pod["spec"] })
}

fn pod_named<'a>(pods: &'a [Value], name: &str) -> &'a Value {
    pods.iter()
        .find(|p| p["metadata"]["name"] == name)
        .expect("recorded pod")
}

fn meta(name: &str, namespace: &str, uid: &str) -> Value {
    json!({ "name": name, "namespace": namespace, "uid": uid,
            "resourceVersion": "1097001", "creationTimestamp": "2022-06-01T16:03:40Z" })
}

/// The objects of the fake cluster, by list path: the recorded EKS PodList
/// (cloudability), Deployment, Namespace and Service items, k9s objects, and the
/// controllers the recorded pods name as owners (built from the pods), plus a
/// CronJob → Job → Pod chain and a Deployment scaled to zero.
fn corpus_cluster() -> Option<BTreeMap<String, List>> {
    let dir = shared_dir("corpus/api")?;
    let cl = dir.join("cloudability-metrics-agent");
    let k9s = dir.join("k9s");
    let pod_list = read_json(&cl, "pods.json");
    assert_eq!(pod_list["kind"], "PodList");
    let mut pods: Vec<Value> = pod_list["items"].as_array().expect("items").clone();
    let deployment = read_jsonl(&cl, "deployments.jsonl").remove(0);

    let owner_uid = |pod: &str| {
        pod_named(&pods, pod)["metadata"]["ownerReferences"][0]["uid"]
            .as_str()
            .expect("owner uid")
            .to_owned()
    };
    let agent_rs = json!({
        "metadata": {
            "name": "cloudability-metrics-agent-f564d999d",
            "namespace": "cloudability",
            "uid": owner_uid("cloudability-metrics-agent-f564d999d-8qwp8"),
            "labels": { "app": "cloudability-metrics-agent", "pod-template-hash": "f564d999d" },
            "ownerReferences": owner("Deployment", "cloudability-metrics-agent",
                deployment["metadata"]["uid"].as_str().expect("uid"), "apps/v1"),
        },
        "spec": { "replicas": 1, "selector": deployment["spec"]["selector"],
                  "template": deployment["spec"]["template"] },
        "status": { "replicas": 1, "readyReplicas": 1 },
    });
    let coredns_pod = pod_named(&pods, "coredns-7f5998f4c-5fblt").clone();
    let coredns_rs = json!({
        "metadata": meta("coredns-7f5998f4c", "kube-system", &owner_uid("coredns-7f5998f4c-5fblt")),
        "spec": { "replicas": 2, "selector": { "matchLabels": { "k8s-app": "kube-dns" } },
                  "template": template_of(&coredns_pod) },
    });
    let daemonset = |pod: &str, name: &str| {
        let p = pod_named(&pods, pod).clone();
        json!({
            "metadata": meta(name, "kube-system", &owner_uid(pod)),
            "spec": { "selector": { "matchLabels": { "k8s-app": name } }, "template": template_of(&p) },
        })
    };
    let aws_node = daemonset("aws-node-48cfw", "aws-node");
    let kube_proxy = daemonset("kube-proxy-g6lc7", "kube-proxy");

    // A Deployment scaled to zero: its ReplicaSet has no pods.
    let idle_template = json!({
        "metadata": { "labels": { "app": "idle" } },
        "spec": { "containers": [{ "name": "idle", "image": "registry.example/idle:3" }] },
    });
    let idle = json!({
        "metadata": meta("idle", "shop", "5b0e9a4e-0000-4000-8000-00000000a001"),
        "spec": { "replicas": 0, "selector": { "matchLabels": { "app": "idle" } },
                  "template": idle_template },
        "status": { "observedGeneration": 3 },
    });
    let idle_rs = json!({
        "metadata": {
            "name": "idle-6d4cf56db6", "namespace": "shop",
            "uid": "5b0e9a4e-0000-4000-8000-00000000a002",
            "ownerReferences": owner("Deployment", "idle", "5b0e9a4e-0000-4000-8000-00000000a001", "apps/v1"),
        },
        "spec": { "replicas": 0, "selector": { "matchLabels": { "app": "idle" } },
                  "template": idle_template },
    });

    // CronJob → Job → Pod.
    let job_template = json!({
        "metadata": { "labels": { "job": "nightly" } },
        "spec": { "restartPolicy": "Never",
                  "containers": [{ "name": "report", "image": "registry.example/report:1",
                                   "securityContext": { "privileged": true } }] },
    });
    let cronjob = json!({
        "metadata": meta("nightly", "batch", "7c1d0000-0000-4000-8000-00000000c001"),
        "spec": { "schedule": "0 1 * * *", "jobTemplate": { "spec": { "template": job_template } } },
    });
    let job = json!({
        "metadata": {
            "name": "nightly-28903260", "namespace": "batch",
            "uid": "7c1d0000-0000-4000-8000-00000000c002",
            "ownerReferences": owner("CronJob", "nightly", "7c1d0000-0000-4000-8000-00000000c001", "batch/v1"),
        },
        "spec": { "template": job_template },
    });
    pods.push(json!({
        "metadata": {
            "name": "nightly-28903260-x7k2p", "namespace": "batch",
            "uid": "7c1d0000-0000-4000-8000-00000000c003",
            "ownerReferences": owner("Job", "nightly-28903260", "7c1d0000-0000-4000-8000-00000000c002", "batch/v1"),
        },
        "spec": job_template["spec"],
        "status": { "phase": "Succeeded" },
    }));

    let mut namespaces = read_jsonl(&cl, "namespaces.jsonl");
    namespaces.push(item(read_json(&k9s, "ns.json")));
    for (name, labels) in [
        ("cloudability", json!({})),
        ("stress-test", json!({})),
        ("batch", json!({})),
        ("icx", json!({})),
        (
            "shop",
            json!({ "pod-security.kubernetes.io/enforce": "restricted",
                    "pod-security.kubernetes.io/enforce-version": "latest" }),
        ),
    ] {
        namespaces.push(json!({ "metadata": { "name": name, "labels": labels },
                                "spec": { "finalizers": ["kubernetes"] },
                                "status": { "phase": "Active" } }));
    }
    let mut services = read_jsonl(&cl, "services.jsonl");
    services.push(item(read_json(&k9s, "svc.json")));

    let list = |kind: &'static str, api_version: &str, items: Vec<Value>| List {
        kind,
        api_version: api_version.to_owned(),
        items,
    };
    let mut lists = BTreeMap::new();
    for (path, l) in [
        ("/api/v1/namespaces", list("Namespace", "v1", namespaces)),
        (
            "/apis/apps/v1/deployments",
            list(
                "Deployment",
                "apps/v1",
                vec![deployment.clone(), item(read_json(&k9s, "dp.json")), idle],
            ),
        ),
        (
            "/apis/apps/v1/replicasets",
            list("ReplicaSet", "apps/v1", vec![agent_rs, coredns_rs, idle_rs]),
        ),
        (
            "/apis/apps/v1/statefulsets",
            list(
                "StatefulSet",
                "apps/v1",
                vec![item(read_json(&k9s, "sts.json"))],
            ),
        ),
        (
            "/apis/apps/v1/daemonsets",
            list(
                "DaemonSet",
                "apps/v1",
                vec![item(read_json(&k9s, "ds.json")), aws_node, kube_proxy],
            ),
        ),
        (
            "/apis/batch/v1/cronjobs",
            list("CronJob", "batch/v1", vec![cronjob]),
        ),
        ("/apis/batch/v1/jobs", list("Job", "batch/v1", vec![job])),
        (
            "/api/v1/replicationcontrollers",
            list("ReplicationController", "v1", Vec::new()),
        ),
        ("/api/v1/pods", list("Pod", "v1", pods)),
        ("/api/v1/services", list("Service", "v1", services)),
        (
            "/apis/networking.k8s.io/v1/networkpolicies",
            list(
                "NetworkPolicy",
                "networking.k8s.io/v1",
                vec![item(read_json(&k9s, "np.json"))],
            ),
        ),
    ] {
        lists.insert(path.to_owned(), l);
    }
    Some(lists)
}

fn scenario() -> Option<Scenario> {
    Some(Scenario {
        token: TOKEN.to_owned(),
        lists: corpus_cluster()?,
        faults: Vec::new(),
    })
}

/// The top-level workloads the corpus cluster folds to.
const EXPECTED: [&str; 10] = [
    "batch/CronJob/nightly",
    "cloudability/Deployment/cloudability-metrics-agent",
    "default/StatefulSet/nginx-sts",
    "icx/Deployment/icx-db",
    "kube-system/DaemonSet/aws-node",
    "kube-system/DaemonSet/fluentd-gcp-v3.2.0",
    "kube-system/DaemonSet/kube-proxy",
    "kube-system/ReplicaSet/coredns-7f5998f4c",
    "shop/Deployment/idle",
    "stress-test/Pod/stress2",
];

fn keys(inv: &Inventory) -> Vec<String> {
    let mut k: Vec<String> = inv.workloads.iter().map(|w| w.key.to_string()).collect();
    k.sort();
    k
}

fn workload<'a>(inv: &'a Inventory, key: &str) -> &'a portcullis::model::Workload {
    inv.workloads
        .iter()
        .find(|w| w.key.to_string() == key)
        .unwrap_or_else(|| panic!("{key} is in the inventory"))
}

/// What a failed snapshot must leave: the one earlier snapshot, as it was.
async fn assert_untouched(pool: &SqlitePool) {
    assert_eq!(snapshots::count(pool).await.expect("count"), 1);
    let (workloads,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM workloads")
        .fetch_one(pool)
        .await
        .expect("count workloads");
    assert_eq!(workloads, 3, "the earlier snapshot's workloads are intact");
    let s = snapshots::latest(pool)
        .await
        .expect("latest")
        .expect("the earlier snapshot");
    assert_eq!((s.cluster.as_str(), s.workloads), ("test", 3));
}

/// Runs a snapshot of `fc` into a database that already holds one, expecting a
/// failure; checks nothing was written and returns the error.
async fn failing_snapshot(fc: &FakeCluster, timeout: Duration) -> ClusterError {
    let db = db_with(&[("shop.yaml", SHOP)]).await;
    let cluster = fc.cluster(timeout).await;
    let err = match snapshot_cluster(&db.state.pool, &cluster, &|_| {}).await {
        Ok((id, _)) => panic!("the snapshot should fail, but {id} was stored"),
        Err(portcullis::cli::live::SnapshotError::Cluster(e)) => e,
        Err(other) => panic!("expected a cluster error, got {other}"),
    };
    assert_untouched(&db.state.pool).await;
    err
}

const GENEROUS: Duration = Duration::from_secs(20);

// ---------------------------------------------------------------------------------------------
// Listing

/// The inventory of the same objects read whole, one by one, without the API.
fn read_directly(lists: &BTreeMap<String, List>) -> Inventory {
    let mut inv = Inventory::default();
    for list in lists.values() {
        for item in &list.items {
            let mut item = item.clone();
            item["kind"] = json!(list.kind);
            item["apiVersion"] = json!(list.api_version);
            if let Some(meta) = item["metadata"].as_object_mut() {
                meta.remove("managedFields");
            }
            portcullis::ingest::manifests::load_value(
                item,
                &portcullis::model::Origin::default(),
                &mut inv,
            );
        }
    }
    portcullis::ingest::manifests::finish(&mut inv);
    inv
}

#[tokio::test]
async fn lists_every_resource_page_by_page_and_folds_pods_under_owners() {
    let Some(scenario) = scenario() else { return };
    let direct = read_directly(&scenario.lists);
    let fc = start(scenario, TOKEN).await;
    let cluster = fc.cluster(GENEROUS).await;
    assert_eq!(cluster.name(), CONTEXT);

    let seen: Mutex<Vec<Progress>> = Mutex::new(Vec::new());
    let inv = cluster
        .snapshot(&|p| seen.lock().expect("lock").push(p.clone()))
        .await
        .expect("snapshot");
    assert!(inv.errors.is_empty(), "{:?}", inv.errors);
    assert_eq!(keys(&inv), EXPECTED);
    // Folded objects are kept small while listing; what comes out is what
    // reading every object whole gives.
    assert_eq!(keys(&direct), EXPECTED);
    for d in &direct.workloads {
        let w = workload(&inv, &d.key.to_string());
        assert_eq!(
            (&w.folded, &w.template, &w.raw, w.replicas, &w.labels),
            (&d.folded, &d.template, &d.raw, d.replicas, &d.labels),
            "{}",
            d.key
        );
    }

    // Pod → ReplicaSet → Deployment, parents first.
    assert_eq!(
        workload(&inv, "cloudability/Deployment/cloudability-metrics-agent").folded,
        [
            "ReplicaSet/cloudability-metrics-agent-f564d999d",
            "Pod/cloudability-metrics-agent-f564d999d-8qwp8"
        ]
    );
    // Pod → Job → CronJob.
    assert_eq!(
        workload(&inv, "batch/CronJob/nightly").folded,
        ["Job/nightly-28903260", "Pod/nightly-28903260-x7k2p"]
    );
    assert_eq!(
        workload(&inv, "kube-system/ReplicaSet/coredns-7f5998f4c")
            .folded
            .len(),
        2
    );
    assert_eq!(
        workload(&inv, "kube-system/DaemonSet/aws-node").folded,
        ["Pod/aws-node-48cfw"]
    );
    // Scaled to zero: still there, evaluated from its template.
    let idle = workload(&inv, "shop/Deployment/idle");
    assert_eq!(idle.replicas, Some(0));
    assert_eq!(idle.template.spec.containers[0].name, "idle");
    // Read as the API returns it, with kind and apiVersion filled in, and the
    // server-side apply bookkeeping dropped.
    let stress = workload(&inv, "stress-test/Pod/stress2");
    assert_eq!(stress.origin.file, "api:pods");
    assert_eq!(stress.raw["kind"], "Pod");
    assert!(stress.raw["metadata"].get("managedFields").is_none());

    let shop = inv
        .namespaces
        .iter()
        .find(|n| n.name == "shop")
        .expect("shop namespace");
    assert_eq!(
        shop.labels
            .get("pod-security.kubernetes.io/enforce")
            .map(String::as_str),
        Some("restricted")
    );
    assert_eq!(inv.services.len(), 3);
    assert_eq!(inv.network_policies.len(), 1);

    // Paginated with limit=2: 7 pods in 4 pages, each after the first with the
    // previous page's continue token.
    let pod_requests = fc.fake.requests_for("/api/v1/pods");
    assert_eq!(pod_requests.len(), 4, "{pod_requests:?}");
    assert!(pod_requests[0].contains("limit=2"));
    assert!(!pod_requests[0].contains("continue="));
    assert!(pod_requests[1..].iter().all(|r| r.contains("continue=")));
    // Every resource was listed at cluster scope.
    for r in RESOURCES {
        assert!(
            !fc.fake.requests_for(&r.path()).is_empty(),
            "{} listed",
            r.path()
        );
    }

    // Progress: objects only grow, and the last report has every resource done.
    let seen = seen.into_inner().expect("lock");
    assert!(seen.windows(2).all(|w| w[0].objects <= w[1].objects));
    let last = seen.last().expect("progress reported");
    assert_eq!(last.resources_done, RESOURCES.len());
    assert_eq!(last.resources_total, RESOURCES.len());
    assert_eq!(last.objects, 30);
    assert!(seen.iter().any(|p| p.resource == "deployments.apps"));
}

#[tokio::test]
async fn a_snapshot_is_stored_under_the_context_name() {
    let Some(scenario) = scenario() else { return };
    let fc = start(scenario, TOKEN).await;
    let db = db_with(&[("shop.yaml", SHOP)]).await;
    let cluster = fc.cluster(GENEROUS).await;
    let (id, inv) = snapshot_cluster(&db.state.pool, &cluster, &|_| {})
        .await
        .expect("snapshot");
    let s = snapshots::get(&db.state.pool, id)
        .await
        .expect("get")
        .expect("stored");
    assert_eq!(s.cluster, CONTEXT);
    assert!(s.source.contains("127.0.0.1"), "{}", s.source);
    assert_eq!(s.workloads, 10);
    assert_eq!(s.workloads as usize, inv.workloads.len());
    let clusters = snapshots::clusters(&db.state.pool).await.expect("clusters");
    let names: Vec<&str> = clusters.iter().map(|c| c.cluster.as_str()).collect();
    assert_eq!(names.len(), 2);
    assert!(names.contains(&CONTEXT) && names.contains(&"test"));
}

#[tokio::test]
async fn an_expired_continue_token_restarts_the_list_from_scratch() {
    let Some(scenario) = scenario() else { return };
    let fc = start(scenario.fault("/api/v1/pods", 3, Fault::ExpireOnce), TOKEN).await;
    let inv = fc
        .cluster(GENEROUS)
        .await
        .snapshot(&|_| {})
        .await
        .expect("snapshot after a restart");
    assert_eq!(keys(&inv), EXPECTED, "no duplicates from the first attempt");
    assert!(inv.errors.is_empty(), "{:?}", inv.errors);
    let pods = fc.fake.requests_for("/api/v1/pods");
    // pages 1, 2, 3 (410), then 1, 2, 3, 4 again.
    assert_eq!(pods.len(), 7, "{pods:?}");
    assert!(!pods[3].contains("continue="), "restarted: {pods:?}");
}

#[tokio::test]
async fn a_list_that_keeps_expiring_gives_up_and_says_why() {
    let Some(scenario) = scenario() else { return };
    let fc = start(
        scenario.fault("/api/v1/pods", 2, Fault::ExpireAlways),
        TOKEN,
    )
    .await;
    let err = failing_snapshot(&fc, GENEROUS).await;
    assert!(
        matches!(err, ClusterError::Expired { restarts: 3, .. }),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.starts_with("the list of pods kept expiring (410 Gone) while it was being read, even after starting again 3 times"),
        "{text}"
    );
}

#[tokio::test]
async fn forbidden_names_the_resource_and_the_missing_rule() {
    let Some(scenario) = scenario() else { return };
    let forbidden = status(
        403,
        "Forbidden",
        "deployments.apps is forbidden: User \"system:serviceaccount:portcullis:portcullis\" cannot list resource \"deployments\" in API group \"apps\" at the cluster scope",
    );
    let fc = start(
        scenario.fault(
            "/apis/apps/v1/deployments",
            1,
            Fault::Status(403, forbidden),
        ),
        TOKEN,
    )
    .await;
    let err = failing_snapshot(&fc, GENEROUS).await;
    assert_eq!(err.kind(), "forbidden");
    let text = err.to_string();
    assert!(
        text.starts_with(
            r#"cannot list deployments.apps at cluster scope: the ClusterRole needs {apiGroups: ["apps"], resources: ["deployments"], verbs: ["list"]}"#
        ),
        "{text}"
    );
    assert!(
        text.contains("system:serviceaccount:portcullis:portcullis"),
        "{text}"
    );
    // It stopped there.
    assert!(fc.fake.requests_for("/api/v1/pods").is_empty());
}

#[tokio::test]
async fn an_expired_token_is_a_401_that_says_so() {
    let Some(scenario) = scenario() else { return };
    let fc = start(scenario, "an-expired-token").await;
    let err = failing_snapshot(&fc, GENEROUS).await;
    assert_eq!(err.kind(), "unauthorized");
    let text = err.to_string();
    assert!(text.contains("401 Unauthorized"), "{text}");
    assert!(text.contains("context fake-prod"), "{text}");
    assert!(text.contains("expired or is invalid"), "{text}");
}

#[tokio::test]
async fn a_hanging_server_fails_in_bounded_time() {
    let Some(scenario) = scenario() else { return };
    let fc = start(scenario.fault("/api/v1/pods", 2, Fault::Hang), TOKEN).await;
    let started = Instant::now();
    let err = failing_snapshot(&fc, Duration::from_millis(300)).await;
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(err.kind(), "timeout", "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("did not answer within 0.3 s while listing pods (page 2)"),
        "{text}"
    );
}

#[tokio::test]
async fn malformed_json_is_reported_with_the_resource_and_page() {
    let Some(scenario) = scenario() else { return };
    let fc = start(
        scenario.fault("/api/v1/services", 2, Fault::Malformed),
        TOKEN,
    )
    .await;
    let err = failing_snapshot(&fc, GENEROUS).await;
    assert_eq!(err.kind(), "malformed", "{err:?}");
    let text = err.to_string();
    assert!(
        text.starts_with("the API server's answer to listing services (page 2) is not valid JSON: EOF while parsing"),
        "{text}"
    );
}

#[tokio::test]
async fn a_server_that_dies_mid_list_leaves_nothing_behind() {
    let Some(scenario) = scenario() else { return };
    let fc = start(scenario.fault("/api/v1/pods", 2, Fault::Drop), TOKEN).await;
    let err = failing_snapshot(&fc, GENEROUS).await;
    assert_eq!(err.kind(), "dropped", "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("dropped while listing pods (page 2)"),
        "{text}"
    );
}

#[tokio::test]
async fn an_unreachable_server_says_where_it_tried() {
    init_crypto();
    // A port with nobody listening.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("kubeconfig");
    std::fs::write(
        &path,
        kubeconfig_text(&format!("http://127.0.0.1:{port}"), TOKEN),
    )
    .expect("write");
    let db = db_with(&[("shop.yaml", SHOP)]).await;
    let target = Target {
        kubeconfig: Some(path),
        context: Some(CONTEXT.into()),
        in_cluster: false,
    };
    let cluster = Cluster::connect(&target, options(GENEROUS))
        .await
        .expect("connect");
    let err = snapshot_cluster(&db.state.pool, &cluster, &|_| {})
        .await
        .expect_err("nobody listens");
    assert_eq!(err.kind(), "unreachable", "{err:?}");
    let text = err.to_string();
    assert!(
        text.starts_with(&format!(
            "cannot reach the Kubernetes API server at http://127.0.0.1:{port}: "
        )),
        "{text}"
    );
    assert!(text.to_lowercase().contains("refused"), "{text}");
    assert_untouched(&db.state.pool).await;
}

#[tokio::test]
async fn kubeconfig_problems_are_explained() {
    init_crypto();
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("kubeconfig");
    std::fs::write(&path, kubeconfig_text("http://127.0.0.1:1", TOKEN)).expect("write");
    let target = |context: Option<&str>, file: PathBuf| Target {
        kubeconfig: Some(file),
        context: context.map(str::to_owned),
        in_cluster: false,
    };
    let err = Cluster::connect(&target(Some("staging"), path.clone()), Options::default())
        .await
        .expect_err("no such context");
    assert_eq!(
        err.to_string(),
        format!(
            "cannot load the Kubernetes connection settings: {} has no context named \"staging\" (it has: fake-prod, other)",
            path.display()
        )
    );
    // Without --context: the current context names the cluster.
    let c = Cluster::connect(&target(None, path.clone()), Options::default())
        .await
        .expect("current context");
    assert_eq!(c.name(), "other");
    let missing = dir.path().join("nope");
    let err = Cluster::connect(&target(None, missing.clone()), Options::default())
        .await
        .expect_err("missing file");
    assert!(
        err.to_string()
            .contains(&format!("cannot read kubeconfig {}", missing.display())),
        "{err}"
    );
}

// ---------------------------------------------------------------------------------------------
// The CLI

fn portcullis(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(args)
        .env_remove("KUBECONFIG")
        .env("RUST_LOG", "off")
        .output()
        .expect("run portcullis")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_command_stores_a_cluster_or_exits_with_the_reason() {
    let Some(scenario) = scenario() else { return };
    let forbidden = status(
        403,
        "Forbidden",
        "networkpolicies.networking.k8s.io is forbidden",
    );
    let good = start(scenario.clone(), TOKEN).await;
    let bad = start(
        scenario.fault(
            "/apis/networking.k8s.io/v1/networkpolicies",
            1,
            Fault::Status(403, forbidden),
        ),
        TOKEN,
    )
    .await;
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("p.db");
    let db_arg = db.to_str().expect("utf-8 path").to_owned();
    let args = |fc: &FakeCluster| {
        vec![
            "snapshot".to_owned(),
            "--kubeconfig".to_owned(),
            fc.kubeconfig.to_str().expect("utf-8 path").to_owned(),
            "--context".to_owned(),
            CONTEXT.to_owned(),
            "--page-size".to_owned(),
            "3".to_owned(),
            "--db".to_owned(),
            db_arg.clone(),
        ]
    };
    let run = |args: Vec<String>| {
        tokio::task::spawn_blocking(move || {
            portcullis(&args.iter().map(String::as_str).collect::<Vec<_>>())
        })
    };

    // A failure first: no database file is even created.
    let out = run(args(&bad)).await.expect("join");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(r#"snapshot of cluster fake-prod failed: cannot list networkpolicies.networking.k8s.io at cluster scope: the ClusterRole needs {apiGroups: ["networking.k8s.io"], resources: ["networkpolicies"], verbs: ["list"]}"#),
        "{stderr}"
    );
    assert!(stderr.contains("the database was not changed"), "{stderr}");
    assert!(!db.exists());

    let out = run(args(&good)).await.expect("join");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.starts_with("snapshot 1: "), "{stdout}");
    assert!(stdout.contains("10 workloads"), "{stdout}");

    // A failure after a success leaves the database as it was.
    let before = std::fs::read(&db).expect("read db");
    let out = run(args(&bad)).await.expect("join");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        std::fs::read(&db).expect("read db"),
        before,
        "not a byte changed"
    );
    let pool = portcullis::store::open(&db).await.expect("open");
    assert_eq!(snapshots::count(&pool).await.expect("count"), 1);
    pool.close().await;

    // Usage: a source is required, and manifests and a cluster exclude each other.
    let out = portcullis(&["snapshot", "--db", &db_arg]);
    assert_eq!(out.status.code(), Some(2));
    let out = portcullis(&[
        "snapshot",
        "--db",
        &db_arg,
        "--manifests",
        "x",
        "--context",
        "a",
    ]);
    assert_eq!(out.status.code(), Some(2));
}

// ---------------------------------------------------------------------------------------------
// "Take snapshot now"

async fn send(
    app: Router,
    method: &str,
    uri: &str,
    hx: bool,
) -> (StatusCode, String, Option<String>) {
    let mut req = axum::http::Request::builder().method(method).uri(uri);
    if hx {
        req = req.header("HX-Request", "true");
    }
    let resp = app
        .oneshot(req.body(Body::empty()).expect("request"))
        .await
        .expect("response");
    let status = resp.status();
    let location = resp
        .headers()
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = resp.into_body().collect().await.expect("body").to_bytes();
    (
        status,
        String::from_utf8_lossy(&body).into_owned(),
        location,
    )
}

async fn live_state(fc: &FakeCluster, db: &TestDb) -> (AppState, Arc<LiveCluster>) {
    let live = LiveCluster::new(fc.cluster(GENEROUS).await, db.state.pool.clone());
    let mut state = db.state.clone();
    state.live = Some(live.clone());
    (state, live)
}

#[tokio::test]
async fn take_snapshot_now_shows_progress_then_the_new_numbers() {
    let Some(scenario) = scenario() else { return };
    let gate = Arc::new(Gate::default());
    let fc = start(
        scenario.fault("/api/v1/pods", 2, Fault::Gate(gate.clone())),
        TOKEN,
    )
    .await;
    let db = db_with(&[("shop.yaml", SHOP)]).await;
    let (state, live) = live_state(&fc, &db).await;
    let app = || portcullis::app(state.clone());

    let (status, page, _) = send(app(), "GET", "/snapshots", false).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Take snapshot now"), "{page}");
    assert!(
        page.contains(r#"data-testid="live-cluster">fake-prod<"#),
        "{page}"
    );

    let (status, panel, _) = send(app(), "POST", "/snapshots", true).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert!(!panel.contains("<html"), "htmx gets the panel only");
    assert!(panel.contains(r#"data-testid="live-running""#), "{panel}");
    assert!(
        panel.contains(r#"hx-trigger="every 1s""#),
        "it polls while running"
    );

    // Held at the second page of pods: the panel shows what was listed so far.
    gate.arrived.notified().await;
    let (_, panel, _) = send(app(), "GET", "/snapshots/live", true).await;
    assert!(panel.contains("listing <code>pods</code>"), "{panel}");
    let listed = live.status().running.expect("running").progress.objects;
    assert!(
        listed >= 20,
        "namespaces, controllers and a page of pods: {listed}"
    );
    assert!(
        panel.contains(&format!(r#"data-testid="live-objects">{listed}<"#)),
        "{panel}"
    );
    // A second click while it runs starts nothing new.
    let (status, panel, _) = send(app(), "POST", "/snapshots", true).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert!(panel.contains("already being taken"), "{panel}");

    gate.release.notify_one();
    let mut rx = live.subscribe();
    let status = rx
        .wait_for(|s| s.running.is_none() && s.last.is_some())
        .await
        .expect("status")
        .clone();
    let Some(Outcome::Stored {
        snapshot,
        workloads,
        ..
    }) = status.last
    else {
        panic!("stored: {status:?}");
    };
    assert_eq!(workloads, 10);
    let (_, panel, _) = send(app(), "GET", "/snapshots/live", true).await;
    assert!(
        panel.contains(&format!("Snapshot #{snapshot} stored at")),
        "{panel}"
    );
    assert!(panel.contains("10 workloads"), "{panel}");
    assert!(!panel.contains("every 1s"), "polling stops");
    assert!(
        panel.contains(r##"hx-select="#history""##),
        "the history reloads once"
    );

    // The history now lists the cluster, with a switcher to the other one.
    let (_, page, _) = send(app(), "GET", "/snapshots", false).await;
    assert!(
        page.contains(r#"data-testid="history-cluster">fake-prod<"#),
        "{page}"
    );
    assert!(page.contains(r#"href="/snapshots?cluster=test""#), "{page}");
    let (_, page, _) = send(app(), "GET", "/snapshots?cluster=test", false).await;
    assert!(
        page.contains(r#"data-testid="history-cluster">test<"#),
        "{page}"
    );
}

#[tokio::test]
async fn take_snapshot_now_without_javascript_and_when_it_fails() {
    let Some(scenario) = scenario() else { return };
    let fc = start(scenario, "an-expired-token").await;
    let db = db_with(&[("shop.yaml", SHOP)]).await;
    let (state, live) = live_state(&fc, &db).await;
    let mut rx = live.subscribe();

    let (status, _, location) =
        send(portcullis::app(state.clone()), "POST", "/snapshots", false).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location.as_deref(), Some("/snapshots?cluster=fake-prod"));
    rx.wait_for(|s| s.running.is_none() && s.last.is_some())
        .await
        .expect("status");
    let (_, page, _) = send(portcullis::app(state.clone()), "GET", "/snapshots", false).await;
    assert!(page.contains(r#"role="alert""#), "{page}");
    assert!(page.contains("401 Unauthorized"), "{page}");
    assert!(
        page.contains("Nothing was stored; earlier snapshots are unchanged."),
        "{page}"
    );
    assert_untouched(&db.state.pool).await;
}

#[tokio::test]
async fn without_a_cluster_the_panel_says_how_to_connect_one() {
    let db = db_with(&[("shop.yaml", SHOP)]).await;
    let (status, page, _) = send(
        portcullis::app(db.state.clone()),
        "GET",
        "/snapshots",
        false,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains(r#"data-testid="live-none""#), "{page}");
    assert!(
        page.contains("portcullis serve --kubeconfig FILE --context NAME"),
        "{page}"
    );
    assert!(!page.contains("Take snapshot now</button>"), "{page}");
    let (status, _, _) = send(
        portcullis::app(db.state.clone()),
        "POST",
        "/snapshots",
        true,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
}

// ---------------------------------------------------------------------------------------------
// Diff

const BEFORE: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: cart, namespace: shop}
spec:
  selector: {matchLabels: {app: cart}}
  template:
    metadata: {labels: {app: cart}}
    spec:
      securityContext:
        runAsNonRoot: true
        seccompProfile: {type: RuntimeDefault}
      containers:
      - name: cart
        image: cart:1
        securityContext:
          allowPrivilegeEscalation: false
          readOnlyRootFilesystem: true
          capabilities: {drop: [ALL]}
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent, namespace: monitoring}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec:
      hostPID: true
      containers:
      - name: agent
        image: agent:2
        securityContext: {privileged: true}
---
apiVersion: v1
kind: Pod
metadata: {name: old, namespace: legacy}
spec:
  containers: [{name: old, image: old:1}]
---
apiVersion: v1
kind: Pod
metadata: {name: same, namespace: shop}
spec:
  containers: [{name: same, image: same:1}]
"#;

const AFTER: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: cart, namespace: shop}
spec:
  selector: {matchLabels: {app: cart}}
  template:
    metadata: {labels: {app: cart}}
    spec:
      securityContext:
        seccompProfile: {type: RuntimeDefault}
      containers:
      - name: cart
        image: cart:2
        securityContext:
          runAsUser: 0
          allowPrivilegeEscalation: false
          readOnlyRootFilesystem: true
          capabilities: {drop: [ALL]}
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent, namespace: monitoring}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec:
      hostPID: true
      containers:
      - name: agent
        image: agent:2
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: web:1}]
---
apiVersion: v1
kind: Pod
metadata: {name: same, namespace: shop}
spec:
  containers: [{name: same, image: same:1}]
"#;

async fn two_snapshots(pool: &SqlitePool) -> (i64, i64) {
    let src = SnapshotSource {
        cluster: "prod".into(),
        source: "test".into(),
    };
    let mut ids = Vec::new();
    for (t, text) in [(1_000, BEFORE), (2_000, AFTER)] {
        let inv = crate::support::inventory(&[("c.yaml", text)]);
        assert!(inv.errors.is_empty(), "{:?}", inv.errors);
        ids.push(
            snapshots::insert(pool, &src, &inv, t, portcullis::cli::level_of)
                .await
                .expect("insert"),
        );
    }
    (ids[0], ids[1])
}

#[sqlx::test(migrations = "../migrations")]
async fn diff_finds_workloads_added_and_removed_and_violations_appeared_and_fixed(
    pool: SqlitePool,
) {
    use portcullis::model::Control;
    use portcullis::model::controls::Risk;
    use portcullis::store::diff::{self, FindingSource};

    let (a, b) = two_snapshots(&pool).await;
    let get = |id| {
        let pool = pool.clone();
        async move {
            snapshots::get(&pool, id)
                .await
                .expect("get")
                .expect("exists")
        }
    };
    let d = diff::between(
        &pool,
        get(a).await,
        get(b).await,
        portcullis::web::routes::workloads::verdicts,
    )
    .await
    .expect("diff");

    let names =
        |ws: &[diff::DiffWorkload]| ws.iter().map(|w| w.workload.clone()).collect::<Vec<_>>();
    assert_eq!(names(&d.added), ["shop/Deployment/web"]);
    assert_eq!(names(&d.removed), ["legacy/Pod/old"]);
    assert_eq!((d.changed, d.unchanged), (2, 1));

    // cart's container now runs as root: the setting got riskier, and the
    // restricted runAsUser check fails for that container.
    let cart: Vec<_> = d
        .appeared
        .iter()
        .filter(|f| f.workload == "shop/Deployment/cart")
        .collect();
    let setting = cart
        .iter()
        .find(|f| f.source == FindingSource::Setting && f.control == Control::Users)
        .unwrap_or_else(|| panic!("users setting appeared: {cart:#?}"));
    assert_eq!(setting.container.as_deref(), Some("cart"));
    assert_eq!(setting.risk_before, Some(Risk::Safe));
    assert!(setting.risk_after > Some(Risk::Safe));
    assert!(setting.message.contains("root"), "{}", setting.message);
    let pss = cart
        .iter()
        .find(|f| f.check == Some("runAsUser"))
        .expect("runAsUser appeared");
    assert_eq!(
        (pss.check, pss.level, pss.container.as_deref(), pss.control),
        (
            Some("runAsUser"),
            Some("restricted"),
            Some("cart"),
            Control::Users
        )
    );
    assert!(cart.iter().any(|f| f.check == Some("runAsNonRoot")));
    assert!(
        d.appeared
            .iter()
            .all(|f| f.workload == "shop/Deployment/cart"),
        "{:?}",
        d.appeared
    );

    // agent is no longer privileged: fixed as a setting and as the baseline
    // check; hostPID stays, so it is neither appeared nor fixed.
    let agent: Vec<_> = d
        .fixed
        .iter()
        .filter(|f| f.workload == "monitoring/DaemonSet/agent")
        .collect();
    assert!(agent.iter().any(|f| f.source == FindingSource::Setting
        && f.control == Control::Privileged
        && f.container.as_deref() == Some("agent")));
    assert!(
        agent
            .iter()
            .any(|f| f.check == Some("privileged") && f.level == Some("baseline"))
    );
    assert!(!d.fixed.iter().any(|f| f.check == Some("hostNamespaces")));
    assert!(
        d.fixed
            .iter()
            .all(|f| f.workload == "monitoring/DaemonSet/agent"),
        "{:?}",
        d.fixed
    );

    // cart went from restricted to baseline.
    assert!(d.levels.iter().any(|l| l.workload == "shop/Deployment/cart"
        && l.before == "restricted"
        && l.after == "baseline"));

    // The other way round, what appeared is fixed.
    let back = diff::between(
        &pool,
        get(b).await,
        get(a).await,
        portcullis::web::routes::workloads::verdicts,
    )
    .await
    .expect("diff");
    assert_eq!(back.appeared.len(), d.fixed.len());
    assert_eq!(back.fixed.len(), d.appeared.len());
    assert_eq!(names(&back.added), ["legacy/Pod/old"]);
}

#[sqlx::test(migrations = "../migrations")]
async fn diff_page_and_json(pool: SqlitePool) {
    let (a, b) = two_snapshots(&pool).await;
    let state = AppState::new(pool);
    let app = || portcullis::app(state.clone());

    let (status, page, _) = send(app(), "GET", &format!("/snapshots/{a}/diff/{b}"), false).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(
        page.contains(&format!("From snapshot #{a} to #{b}")),
        "{page}"
    );
    assert!(page.contains(r#"data-testid="diff-added">1<"#), "{page}");
    assert!(page.contains(r#"data-testid="diff-removed">1<"#), "{page}");
    assert!(page.contains("⚠ appeared"), "{page}");
    assert!(page.contains("✓ fixed"), "{page}");
    assert!(
        page.contains(&format!(
            r#"href="/namespaces/shop/workloads/Deployment/web?snapshot={b}""#
        )),
        "{page}"
    );
    assert!(
        page.contains(&format!(
            r#"href="/namespaces/legacy/workloads/Pod/old?snapshot={a}""#
        )),
        "{page}"
    );

    let (status, body, _) = send(
        app(),
        "GET",
        &format!("/api/v1/snapshots/{a}/diff/{b}"),
        false,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let v: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["from"]["id"], a);
    assert_eq!(v["to"]["cluster"], "prod");
    assert_eq!(v["summary"]["added"], 1);
    assert_eq!(v["summary"]["removed"], 1);
    assert_eq!(v["summary"]["unchanged"], 1);
    assert_eq!(v["added"][0]["workload"], "shop/Deployment/web");
    let appeared = v["appeared"].as_array().expect("appeared");
    assert!(appeared.iter().any(|f| f["source"] == "podSecurity"
        && f["check"] == "runAsUser"
        && f["container"] == "cart"
        && f["control"] == "users"));
    assert!(
        appeared
            .iter()
            .any(|f| f["source"] == "setting" && f["riskBefore"] == "safe")
    );

    // The compare form (GET) redirects to the diff's own URL.
    let (status, _, location) = send(
        app(),
        "GET",
        &format!("/snapshots/diff?from={a}&to={b}"),
        false,
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location, Some(format!("/snapshots/{a}/diff/{b}")));
    let (status, page, _) = send(app(), "GET", &format!("/snapshots/diff?from={a}"), false).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("Pick two snapshots to compare"), "{page}");

    // Errors: the JSON shape of every other error.
    let (status, body, _) = send(
        app(),
        "GET",
        &format!("/api/v1/snapshots/{a}/diff/99"),
        false,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        serde_json::from_str::<Value>(&body).expect("json")["error"],
        "There is no snapshot 99."
    );
    let (status, body, _) = send(app(), "GET", "/api/v1/snapshots/x/diff/1", false).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("must be a number"), "{body}");

    // The history preselects the two newest for comparison.
    let (_, page, _) = send(app(), "GET", "/snapshots", false).await;
    assert!(
        page.contains(&format!(
            r#"name="from" value="{a}" aria-label="Compare from snapshot #{a}" checked"#
        )),
        "{page}"
    );
    assert!(
        page.contains(&format!(
            r#"name="to" value="{b}" aria-label="Compare to snapshot #{b}" checked"#
        )),
        "{page}"
    );
}

// ---------------------------------------------------------------------------------------------
// deploy/

fn deploy_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy"))
}

#[test]
fn the_deployment_passes_the_restricted_level() {
    use portcullis::policy::pss::{self, Level, LevelVersion};
    let inv = portcullis::ingest::manifests::load_paths(&[deploy_dir()]);
    assert!(inv.errors.is_empty(), "{:?}", inv.errors);
    let keys = keys(&inv);
    assert_eq!(keys, ["portcullis/Deployment/portcullis"]);
    let w = &inv.workloads[0];
    let e = pss::evaluate(
        LevelVersion::latest(Level::Restricted),
        &w.template.metadata,
        &w.template.spec,
    );
    assert!(e.allowed(), "{}", e.message());
    assert_eq!(inv.services.len(), 1);
    assert!(inv.namespaces.iter().any(|n| n.name == "portcullis"));
}

#[test]
fn the_cluster_role_grants_exactly_what_a_snapshot_lists() {
    let text = std::fs::read_to_string(deploy_dir().join("rbac.yaml")).expect("rbac.yaml");
    let role = serde_yaml_ng::Deserializer::from_str(&text)
        .map(|d| <Value as serde::Deserialize>::deserialize(d).expect("yaml"))
        .find(|v| v["kind"] == "ClusterRole")
        .expect("a ClusterRole");
    let mut granted: Vec<(String, String, Vec<String>)> = Vec::new();
    for rule in role["rules"].as_array().expect("rules") {
        let verbs: Vec<String> = rule["verbs"]
            .as_array()
            .expect("verbs")
            .iter()
            .map(|v| v.as_str().expect("verb").to_owned())
            .collect();
        for g in rule["apiGroups"].as_array().expect("apiGroups") {
            for r in rule["resources"].as_array().expect("resources") {
                granted.push((
                    g.as_str().expect("group").to_owned(),
                    r.as_str().expect("resource").to_owned(),
                    verbs.clone(),
                ));
            }
        }
        assert!(rule.get("resourceNames").is_none() && rule.get("nonResourceURLs").is_none());
    }
    granted.sort();
    let mut needed: Vec<(String, String, Vec<String>)> = RESOURCES
        .iter()
        .map(|r| {
            (
                r.group.to_owned(),
                r.plural.to_owned(),
                portcullis::ingest::cluster::VERBS
                    .iter()
                    .map(|v| v.to_string())
                    .collect(),
            )
        })
        .collect();
    needed.sort();
    assert_eq!(granted, needed);
}
