//! A fake Kubernetes API server holding a generated cluster, for the live
//! snapshot benchmark (BENCHMARKS.md, "Live cluster snapshot").
//!
//! ```text
//! cargo run --release -p portcullis --example fake_apiserver -- [PODS] [WORKLOADS] [DIR]
//! ```
//!
//! Defaults: 10,000 pods under 2,000 top-level workloads, written to
//! `/tmp/portcullis-bench`. It writes `DIR/kubeconfig` (context `bench`), prints
//! `ready` and serves on 127.0.0.1 until stopped. The workloads: half
//! Deployments (each with a ReplicaSet), a fifth StatefulSets, 15% DaemonSets,
//! a tenth CronJobs (each with a Job), 5% bare Pods; the pods are spread over
//! the ReplicaSets, StatefulSets, DaemonSets and Jobs. Pods look like those a
//! real API server returns (status, managed fields, projected token volume,
//! probes, resources): about 5 KB of JSON each.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// One list: its kind, API version, and items already encoded as JSON.
struct List {
    kind: &'static str,
    api_version: &'static str,
    items: Vec<String>,
}

fn uid(kind: u32, n: usize) -> String {
    format!("{kind:08x}-0000-4000-8000-{n:012x}")
}

fn owner(kind: &str, api_version: &str, name: &str, uid: &str) -> Value {
    json!([{ "apiVersion": api_version, "kind": kind, "name": name, "uid": uid,
             "controller": true, "blockOwnerDeletion": true }])
}

/// A container spec as an application team writes it; every third one runs
/// hardened, every seventh as root, every thirteenth with host paths.
fn pod_spec(app: &str, n: usize) -> Value {
    let hardened = n.is_multiple_of(3);
    let mut sc = json!({ "allowPrivilegeEscalation": !hardened });
    if hardened {
        sc["capabilities"] = json!({ "drop": ["ALL"] });
        sc["readOnlyRootFilesystem"] = json!(true);
        sc["runAsNonRoot"] = json!(true);
        sc["runAsUser"] = json!(10001);
    } else if n.is_multiple_of(7) {
        sc["runAsUser"] = json!(0);
        sc["capabilities"] = json!({ "add": ["NET_ADMIN"] });
    }
    let mut volumes = vec![json!({
        "name": format!("kube-api-access-{:05x}", n % 0xfffff),
        "projected": { "defaultMode": 420, "sources": [
            { "serviceAccountToken": { "expirationSeconds": 3607, "path": "token" } },
            { "configMap": { "name": "kube-root-ca.crt", "items": [{ "key": "ca.crt", "path": "ca.crt" }] } },
            { "downwardAPI": { "items": [{ "path": "namespace", "fieldRef": { "apiVersion": "v1", "fieldPath": "metadata.namespace" } }] } }
        ] }
    })];
    if n.is_multiple_of(13) {
        volumes.push(json!({ "name": "varlog", "hostPath": { "path": "/var/log", "type": "" } }));
    }
    json!({
        "volumes": volumes,
        "containers": [{
            "name": app,
            "image": format!("registry.example.com/team-{}/{app}:1.{}.{}", n % 40, n % 17, n % 9),
            "args": ["--listen=:8080", "--log-level=info"],
            "ports": [{ "name": "http", "containerPort": 8080, "protocol": "TCP" }],
            "env": [
                { "name": "APP_NAME", "value": app },
                { "name": "POD_IP", "valueFrom": { "fieldRef": { "apiVersion": "v1", "fieldPath": "status.podIP" } } }
            ],
            "resources": { "limits": { "cpu": "500m", "memory": "256Mi" }, "requests": { "cpu": "100m", "memory": "128Mi" } },
            "livenessProbe": { "httpGet": { "path": "/healthz", "port": 8080, "scheme": "HTTP" }, "initialDelaySeconds": 10, "timeoutSeconds": 1, "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3 },
            "readinessProbe": { "httpGet": { "path": "/readyz", "port": 8080, "scheme": "HTTP" }, "timeoutSeconds": 1, "periodSeconds": 5, "successThreshold": 1, "failureThreshold": 3 },
            "terminationMessagePath": "/dev/termination-log",
            "terminationMessagePolicy": "File",
            "imagePullPolicy": "IfNotPresent",
            "securityContext": sc
        }],
        "restartPolicy": "Always",
        "terminationGracePeriodSeconds": 30,
        "dnsPolicy": "ClusterFirst",
        "serviceAccountName": "default",
        "serviceAccount": "default",
        "securityContext": if hardened { json!({ "seccompProfile": { "type": "RuntimeDefault" } }) } else { json!({}) },
        "schedulerName": "default-scheduler",
        "tolerations": [
            { "key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300 },
            { "key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300 }
        ],
        "priority": 0,
        "enableServiceLinks": true,
        "preemptionPolicy": "PreemptLowerPriority"
    })
}

fn template(app: &str, n: usize) -> Value {
    json!({ "metadata": { "labels": { "app": app } }, "spec": pod_spec(app, n) })
}

fn pod(ns: &str, name: &str, app: &str, n: usize, owner_ref: Option<Value>) -> Value {
    let mut spec = pod_spec(app, n);
    spec["nodeName"] = json!(format!("ip-10-0-{}-{}.ec2.internal", n % 8, n % 250));
    let mut metadata = json!({
        "name": name,
        "generateName": format!("{app}-"),
        "namespace": ns,
        "uid": uid(0x90d, n),
        "resourceVersion": format!("{}", 1_000_000 + n),
        "creationTimestamp": "2026-11-20T08:14:03Z",
        "labels": { "app": app, "pod-template-hash": "7d9f8c6b5" },
        "annotations": { "kubernetes.io/psp": "eks.privileged" },
        "managedFields": [
            { "manager": "kube-controller-manager", "operation": "Update", "apiVersion": "v1", "time": "2026-11-20T08:14:03Z", "fieldsType": "FieldsV1",
              "fieldsV1": { "f:metadata": { "f:generateName": {}, "f:labels": { ".": {}, "f:app": {}, "f:pod-template-hash": {} }, "f:ownerReferences": { ".": {} } },
                            "f:spec": { "f:containers": { "k:{\"name\":\"app\"}": { ".": {}, "f:args": {}, "f:image": {}, "f:imagePullPolicy": {}, "f:livenessProbe": {}, "f:name": {}, "f:ports": {}, "f:readinessProbe": {}, "f:resources": {}, "f:securityContext": {} } },
                                        "f:dnsPolicy": {}, "f:enableServiceLinks": {}, "f:restartPolicy": {}, "f:schedulerName": {}, "f:securityContext": {}, "f:terminationGracePeriodSeconds": {} } } },
            { "manager": "kubelet", "operation": "Update", "apiVersion": "v1", "time": "2026-11-20T08:14:09Z", "fieldsType": "FieldsV1", "subresource": "status",
              "fieldsV1": { "f:status": { "f:conditions": {}, "f:containerStatuses": {}, "f:hostIP": {}, "f:phase": {}, "f:podIP": {}, "f:podIPs": {}, "f:startTime": {} } } }
        ]
    });
    if let Some(o) = owner_ref {
        metadata["ownerReferences"] = o;
    }
    json!({
        "metadata": metadata,
        "spec": spec,
        "status": {
            "phase": "Running",
            "conditions": [
                { "type": "Initialized", "status": "True", "lastProbeTime": null, "lastTransitionTime": "2026-11-20T08:14:03Z" },
                { "type": "Ready", "status": "True", "lastProbeTime": null, "lastTransitionTime": "2026-11-20T08:14:09Z" },
                { "type": "ContainersReady", "status": "True", "lastProbeTime": null, "lastTransitionTime": "2026-11-20T08:14:09Z" },
                { "type": "PodScheduled", "status": "True", "lastProbeTime": null, "lastTransitionTime": "2026-11-20T08:14:03Z" }
            ],
            "hostIP": format!("10.0.{}.{}", n % 8, n % 250),
            "podIP": format!("172.16.{}.{}", (n / 250) % 250, n % 250),
            "podIPs": [{ "ip": format!("172.16.{}.{}", (n / 250) % 250, n % 250) }],
            "startTime": "2026-11-20T08:14:03Z",
            "containerStatuses": [{
                "name": app, "ready": true, "restartCount": 0, "started": true,
                "state": { "running": { "startedAt": "2026-11-20T08:14:07Z" } }, "lastState": {},
                "image": format!("registry.example.com/team-{}/{app}:1.{}.{}", n % 40, n % 17, n % 9),
                "imageID": format!("registry.example.com/team-{}/{app}@sha256:{:064x}", n % 40, n),
                "containerID": format!("containerd://{:064x}", n * 7919)
            }],
            "qosClass": "Burstable"
        }
    })
}

/// The generated cluster, by list path.
fn cluster(pods: usize, workloads: usize) -> BTreeMap<&'static str, List> {
    let ns = |n: usize| format!("team-{}", n % 50);
    let mut namespaces = Vec::new();
    for n in 0..50 {
        namespaces.push(json!({ "metadata": { "name": ns(n), "uid": uid(0x45, n),
            "labels": { "kubernetes.io/metadata.name": ns(n),
                        "pod-security.kubernetes.io/enforce": if n.is_multiple_of(2) { "baseline" } else { "restricted" } } },
            "spec": { "finalizers": ["kubernetes"] }, "status": { "phase": "Active" } }));
    }
    let (mut deployments, mut replicasets, mut statefulsets, mut daemonsets) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut cronjobs, mut jobs, mut pod_items) = (Vec::new(), Vec::new(), Vec::new());
    let (mut services, mut policies) = (Vec::new(), Vec::new());

    let n_deploy = workloads / 2;
    let n_sts = workloads / 5;
    let n_ds = workloads * 15 / 100;
    let n_cron = workloads / 10;
    let n_bare = workloads - n_deploy - n_sts - n_ds - n_cron;
    // (namespace, kind, name, uid) of every pod owner.
    let mut owners: Vec<(String, &'static str, String, String)> = Vec::new();
    for i in 0..n_deploy {
        let (name, app) = (format!("web-{i}"), format!("web-{i}"));
        let (duid, ruid) = (uid(0xd, i), uid(0x5, i));
        deployments.push(json!({ "metadata": { "name": name, "namespace": ns(i), "uid": duid, "generation": 3 },
            "spec": { "replicas": 5, "selector": { "matchLabels": { "app": app } }, "template": template(&app, i) },
            "status": { "replicas": 5, "readyReplicas": 5 } }));
        let rs = format!("{name}-7d9f8c6b5");
        replicasets.push(json!({ "metadata": { "name": rs, "namespace": ns(i), "uid": ruid,
                "ownerReferences": owner("Deployment", "apps/v1", &name, &duid) },
            "spec": { "replicas": 5, "selector": { "matchLabels": { "app": app } }, "template": template(&app, i) } }));
        owners.push((ns(i), "ReplicaSet", rs, ruid));
        services.push(json!({ "metadata": { "name": name, "namespace": ns(i), "uid": uid(0x5e, i) },
            "spec": { "type": "ClusterIP", "selector": { "app": app }, "clusterIP": format!("10.100.{}.{}", i / 250, i % 250),
                      "ports": [{ "name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP" }] } }));
        if i.is_multiple_of(5) {
            policies.push(json!({ "metadata": { "name": format!("{name}-ingress"), "namespace": ns(i), "uid": uid(0x9, i) },
                "spec": { "podSelector": { "matchLabels": { "app": app } }, "policyTypes": ["Ingress"],
                          "ingress": [{ "from": [{ "podSelector": {} }], "ports": [{ "port": 8080, "protocol": "TCP" }] }] } }));
        }
    }
    for i in 0..n_sts {
        let name = format!("db-{i}");
        let u = uid(0x575, i);
        statefulsets.push(json!({ "metadata": { "name": name, "namespace": ns(i), "uid": u },
            "spec": { "replicas": 5, "serviceName": name, "selector": { "matchLabels": { "app": name } }, "template": template(&name, i + 1) } }));
        owners.push((ns(i), "StatefulSet", name, u));
    }
    for i in 0..n_ds {
        let name = format!("agent-{i}");
        let u = uid(0xd5, i);
        daemonsets.push(json!({ "metadata": { "name": name, "namespace": ns(i), "uid": u },
            "spec": { "selector": { "matchLabels": { "app": name } }, "template": template(&name, i + 2) } }));
        owners.push((ns(i), "DaemonSet", name, u));
    }
    for i in 0..n_cron {
        let name = format!("report-{i}");
        let (cu, ju) = (uid(0xc, i), uid(0x10b, i));
        let mut t = template(&name, i);
        t["spec"]["restartPolicy"] = json!("Never");
        cronjobs.push(
            json!({ "metadata": { "name": name, "namespace": ns(i), "uid": cu },
            "spec": { "schedule": "0 3 * * *", "jobTemplate": { "spec": { "template": t } } } }),
        );
        let job = format!("{name}-29381460");
        jobs.push(
            json!({ "metadata": { "name": job, "namespace": ns(i), "uid": ju,
                "ownerReferences": owner("CronJob", "batch/v1", &name, &cu) },
            "spec": { "template": t } }),
        );
        owners.push((ns(i), "Job", job, ju));
    }
    for i in 0..n_bare {
        let name = format!("debug-{i}");
        pod_items.push(pod(&ns(i), &name, &name, i, None));
    }
    let owned = pods.saturating_sub(n_bare);
    for p in 0..owned {
        let (o_ns, kind, o_name, o_uid) = &owners[p % owners.len()];
        let api = match *kind {
            "Job" => "batch/v1",
            _ => "apps/v1",
        };
        let name = format!("{o_name}-{p:05x}");
        pod_items.push(pod(
            o_ns,
            &name,
            o_name,
            p,
            Some(owner(kind, api, o_name, o_uid)),
        ));
    }

    let enc = |v: Vec<Value>| v.into_iter().map(|v| v.to_string()).collect::<Vec<_>>();
    let mut lists = BTreeMap::new();
    for (path, kind, api_version, items) in [
        ("/api/v1/namespaces", "Namespace", "v1", namespaces),
        (
            "/apis/apps/v1/deployments",
            "Deployment",
            "apps/v1",
            deployments,
        ),
        (
            "/apis/apps/v1/replicasets",
            "ReplicaSet",
            "apps/v1",
            replicasets,
        ),
        (
            "/apis/apps/v1/statefulsets",
            "StatefulSet",
            "apps/v1",
            statefulsets,
        ),
        (
            "/apis/apps/v1/daemonsets",
            "DaemonSet",
            "apps/v1",
            daemonsets,
        ),
        ("/apis/batch/v1/cronjobs", "CronJob", "batch/v1", cronjobs),
        ("/apis/batch/v1/jobs", "Job", "batch/v1", jobs),
        (
            "/api/v1/replicationcontrollers",
            "ReplicationController",
            "v1",
            Vec::new(),
        ),
        ("/api/v1/pods", "Pod", "v1", pod_items),
        ("/api/v1/services", "Service", "v1", services),
        (
            "/apis/networking.k8s.io/v1/networkpolicies",
            "NetworkPolicy",
            "networking.k8s.io/v1",
            policies,
        ),
    ] {
        lists.insert(
            path,
            List {
                kind,
                api_version,
                items: enc(items),
            },
        );
    }
    lists
}

async fn api(State(lists): State<Arc<BTreeMap<&'static str, List>>>, req: Request) -> Response {
    let Some(list) = lists.get(req.uri().path()) else {
        return (StatusCode::NOT_FOUND, [(header::CONTENT_TYPE, "application/json")],
            r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"the server could not find the requested resource","reason":"NotFound","code":404}"#)
            .into_response();
    };
    let params: BTreeMap<String, String> =
        serde_urlencoded::from_str(req.uri().query().unwrap_or("")).unwrap_or_default();
    let limit = params
        .get("limit")
        .and_then(|l| l.parse().ok())
        .filter(|&l: &usize| l > 0)
        .unwrap_or(usize::MAX);
    let offset: usize = params
        .get("continue")
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let end = offset.saturating_add(limit).min(list.items.len());
    let mut body = format!(
        r#"{{"kind":"{}List","apiVersion":"{}","metadata":{{"resourceVersion":"4718233""#,
        list.kind, list.api_version
    );
    if end < list.items.len() {
        body.push_str(&format!(
            r#","continue":"{end}","remainingItemCount":{}"#,
            list.items.len() - end
        ));
    }
    body.push_str(r#"},"items":["#);
    for (i, item) in list.items[offset.min(end)..end].iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        body.push_str(item);
    }
    body.push_str("]}");
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let pods: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let workloads: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(2_000);
    let dir = PathBuf::from(
        args.next()
            .unwrap_or_else(|| "/tmp/portcullis-bench".into()),
    );
    let lists = cluster(pods, workloads);
    let bytes: usize = lists
        .values()
        .flat_map(|l| l.items.iter())
        .map(String::len)
        .sum();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    std::fs::create_dir_all(&dir)?;
    let kubeconfig = dir.join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: bench\n  cluster: {{server: 'http://{addr}'}}\ncontexts:\n- name: bench\n  context: {{cluster: bench, user: bench}}\ncurrent-context: bench\nusers:\n- name: bench\n  user: {{token: bench}}\n"
        ),
    )?;
    eprintln!(
        "{pods} pods under {workloads} workloads ({:.1} MB of JSON items) at http://{addr}; kubeconfig {}",
        bytes as f64 / 1e6,
        kubeconfig.display()
    );
    println!("ready");
    axum::serve(
        listener,
        Router::new().fallback(api).with_state(Arc::new(lists)),
    )
    .await
}
