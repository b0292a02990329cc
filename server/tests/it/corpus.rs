//! The manifest loader and the effective settings over the shared corpus of
//! real-world manifests and recorded API responses, and over malformed input.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use portcullis::ingest::manifests::{self, load_paths};
use portcullis::model::Inventory;
use portcullis::model::controls::{Control, Risk, RiskFlag, SettingOrigin};
use portcullis::model::effective::{ContainerView, analyse};

use crate::common::shared_dir;

/// Every manifest file under `dir`, sorted.
pub(crate) fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read corpus folder") {
            let path = entry.expect("corpus entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| manifests::EXTENSIONS.contains(&e))
            {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

fn names(inv: &Inventory, kind: &str) -> BTreeSet<String> {
    inv.workloads
        .iter()
        .filter(|w| w.key.kind == kind)
        .map(|w| w.key.name.clone())
        .collect()
}

fn service_names(inv: &Inventory) -> BTreeSet<String> {
    inv.services.iter().map(|s| s.name.clone()).collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

fn assert_clean(what: &str, inv: &Inventory) {
    assert!(
        inv.errors.is_empty(),
        "{what}: {}",
        inv.errors
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn corpus_every_file_loads_without_errors() {
    let mut files = 0;
    let mut workloads = 0;
    for sub in ["corpus/apps", "corpus/insecure", "corpus/api"] {
        let Some(dir) = shared_dir(sub) else { return };
        for file in files_under(&dir) {
            let inv = load_paths(&[&file]);
            assert_clean(&file.display().to_string(), &inv);
            let read = inv.workloads.len()
                + inv.namespaces.len()
                + inv.services.len()
                + inv.network_policies.len()
                + inv.config_maps.len()
                + inv.skipped.values().sum::<usize>();
            let empty_list = file.ends_with("empty_pod_list.json");
            assert!(read > 0 || empty_list, "{}: nothing read", file.display());
            files += 1;
            workloads += inv.workloads.len();
            for w in &inv.workloads {
                let views = analyse(&w.template);
                assert!(!views.is_empty(), "{}: no containers", w.key);
                for v in &views {
                    assert_eq!(v.cells.len(), Control::ALL.len());
                }
            }
        }
    }
    // SOURCES.md lists 124 data files: 61 apps, 47 insecure, 16 API responses.
    assert_eq!(files, 124);
    // apps 44 (bookinfo counted per file), insecure 45, API 22.
    assert_eq!(workloads, 111);
}

#[test]
fn corpus_folders_load_as_one_input() {
    let Some(apps) = shared_dir("corpus/apps") else {
        return;
    };
    let Some(insecure) = shared_dir("corpus/insecure") else {
        return;
    };
    let Some(api) = shared_dir("corpus/api") else {
        return;
    };
    for dir in [
        apps.join("online-boutique"),
        apps.join("sock-shop"),
        insecure.clone(),
        api.join("cloudability-metrics-agent"),
        api.join("kubeclient"),
    ] {
        assert_clean(&dir.display().to_string(), &load_paths(&[&dir]));
    }
    // Bookinfo's files are alternatives of one app (plain and PSA-hardened), and
    // two recipes reuse a policy name: read together, the later ones are duplicates.
    let bookinfo = load_paths(&[apps.join("bookinfo")]);
    assert_eq!(bookinfo.errors.len(), 6, "{:?}", bookinfo.errors);
    assert!(
        bookinfo
            .errors
            .iter()
            .all(|e| e.message.starts_with("duplicate default/Deployment/"))
    );
    assert!(
        bookinfo
            .errors
            .iter()
            .all(|e| e.file.ends_with("bookinfo.yaml"))
    );
    let recipes = load_paths(&[apps.join("network-policy-recipes")]);
    assert_eq!(recipes.network_policies.len(), 14);
    assert_eq!(recipes.errors.len(), 1);
}

#[test]
fn corpus_online_boutique() {
    let Some(dir) = shared_dir("corpus/apps/online-boutique") else {
        return;
    };
    let inv = load_paths(&[&dir]);
    assert_clean("online-boutique", &inv);
    let services = [
        "adservice",
        "cartservice",
        "checkoutservice",
        "currencyservice",
        "emailservice",
        "frontend",
        "paymentservice",
        "productcatalogservice",
        "recommendationservice",
        "redis-cart",
        "shippingservice",
    ];
    let mut deployments = set(&services);
    deployments.insert("loadgenerator".into());
    assert_eq!(names(&inv, "Deployment"), deployments);
    assert_eq!(inv.workloads.len(), 12);
    let mut svc = set(&services);
    svc.insert("frontend-external".into());
    assert_eq!(service_names(&inv), svc);
    assert_eq!(inv.network_policies.len(), 13);
    assert_eq!(inv.skipped.get("ServiceAccount"), Some(&11));
    assert!(inv.workloads.iter().all(|w| w.key.namespace == "default"));

    // Hardened: non-root, read-only, no escalation, ALL capabilities dropped.
    let frontend = inv
        .workloads
        .iter()
        .find(|w| w.key.name == "frontend")
        .expect("frontend");
    assert_eq!(frontend.origin.line, 21);
    let views = analyse(&frontend.template);
    let server = &views[0];
    assert_eq!(server.name, "server");
    let users = server.cell(Control::Users).expect("users");
    assert_eq!(users.value, "runs as UID 1000 (set on the pod), group 1000");
    assert_eq!(users.origin, SettingOrigin::Pod);
    assert_eq!(
        server.cell(Control::Capabilities).map(|c| c.value.as_str()),
        Some("drops ALL")
    );
    assert_eq!(server.flags, [RiskFlag::NoSeccomp]);
}

#[test]
fn corpus_sock_shop_and_bookinfo() {
    let Some(dir) = shared_dir("corpus/apps") else {
        return;
    };
    let inv = load_paths(&[dir.join("sock-shop")]);
    assert_clean("sock-shop", &inv);
    assert_eq!(inv.workloads.len(), 15);
    assert!(names(&inv, "Deployment").is_superset(&set(&[
        "carts",
        "front-end",
        "orders",
        "user-db",
        "load-test"
    ])));
    let namespaces: Vec<_> = inv.namespaces.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(namespaces, ["sock-shop", "loadtest"]);
    // Declared twice (the app and the default-deny policy): merged.
    let sock_shop = &inv.namespaces[0];
    assert!(
        sock_shop
            .annotations
            .contains_key("net.beta.kubernetes.io/network-policy")
    );
    assert_eq!(inv.network_policies.len(), 13);

    let inv = load_paths(&[dir.join("bookinfo/bookinfo.yaml")]);
    assert_eq!(
        names(&inv, "Deployment"),
        set(&[
            "details-v1",
            "productpage-v1",
            "ratings-v1",
            "reviews-v1",
            "reviews-v2",
            "reviews-v3"
        ])
    );
    assert_eq!(
        service_names(&inv),
        set(&["details", "productpage", "ratings", "reviews"])
    );
    assert_eq!(inv.skipped.get("ServiceAccount"), Some(&4));
}

#[test]
fn corpus_recorded_api_responses() {
    let Some(api) = shared_dir("corpus/api") else {
        return;
    };
    let load = |f: &str| {
        let inv = load_paths(&[api.join(f)]);
        assert_clean(f, &inv);
        inv
    };
    // JSON lines without kind: the kind comes from the file name.
    let pods = load("cloudability-metrics-agent/pods.jsonl");
    assert_eq!(pods.workloads.len(), 3);
    assert!(
        pods.workloads
            .iter()
            .all(|w| w.key.kind == "Pod" && w.api_version == "v1")
    );
    assert_eq!(pods.workloads[2].origin.line, 3);
    let deployments = load("cloudability-metrics-agent/deployments.jsonl");
    assert_eq!(
        names(&deployments, "Deployment"),
        set(&["cloudability-metrics-agent"])
    );
    assert_eq!(deployments.workloads[0].api_version, "apps/v1");
    assert_eq!(
        load("cloudability-metrics-agent/namespaces.jsonl")
            .namespaces
            .len(),
        1
    );
    assert_eq!(
        service_names(&load("cloudability-metrics-agent/services.jsonl")).len(),
        2
    );
    // A real EKS PodList.
    let eks = load("cloudability-metrics-agent/pods.json");
    assert_eq!(eks.workloads.len(), 6);
    assert!(names(&eks, "Pod").contains("kube-proxy-g6lc7"));

    // Old list responses.
    let redis = load("kubeclient/pod_list.json");
    assert_eq!(
        redis.workloads[0].key.to_string(),
        "default/Pod/redis-master3"
    );
    assert_eq!(redis.workloads[0].origin.line, 9);
    let views = analyse(&redis.workloads[0].template);
    assert_eq!(views.len(), 2);
    assert_eq!(
        views[0]
            .cell(Control::HostNetwork)
            .map(|c| c.value.as_str()),
        Some("binds host port 6379")
    );
    assert!(views[1].has(RiskFlag::HostPorts));
    let paged = load("kubeclient/pods_1.json");
    assert_eq!(paged.workloads.len(), 2);
    assert_eq!(paged.workloads[1].origin.line, 135);
    assert_eq!(load("kubeclient/namespace_list.json").namespaces.len(), 2);
    assert_eq!(load("kubeclient/service_list.json").services.len(), 3);
    assert_eq!(
        load("kubeclient/service_account_list.json")
            .skipped
            .get("ServiceAccount"),
        Some(&3)
    );
    assert_eq!(
        load("kubeclient/endpoint_list.json")
            .skipped
            .get("Endpoints"),
        Some(&3)
    );
    assert_eq!(
        load("kubeclient/node_list.json").skipped.get("Node"),
        Some(&1)
    );
    assert_eq!(load("kubeclient/empty_pod_list.json").workloads.len(), 0);

    // Single objects dumped from clusters.
    assert_eq!(
        load("k9s/dp.json").workloads[0].key.to_string(),
        "icx/Deployment/icx-db"
    );
    assert_eq!(load("k9s/sts.json").workloads[0].replicas, Some(4));
    assert_eq!(load("k9s/ds.json").workloads[0].key.kind, "DaemonSet");
    assert_eq!(load("k9s/np.json").network_policies.len(), 1);
    assert_eq!(load("k9s/ns.json").namespaces[0].name, "kube-system");
    let init = load("k9s/po_init.json");
    let kinds: Vec<_> = analyse(&init.workloads[0].template)
        .iter()
        .map(|v| v.kind.word())
        .collect();
    assert!(kinds.first() == Some(&"init"), "{kinds:?}");
}

/// The badPods categories, from reading each manifest (pod and deployment, exec
/// and revshell): which risky settings each one has.
#[test]
fn corpus_badpods_effective_settings() {
    let Some(dir) = shared_dir("corpus/insecure/badpods") else {
        return;
    };
    use RiskFlag as F;
    // (category, flags that must be there, flags that must not)
    let host_flags = [
        F::Privileged,
        F::HostNamespaces,
        F::HostNetwork,
        F::HostPorts,
        F::HostPath,
    ];
    let cases: [(&str, &[RiskFlag]); 8] = [
        ("priv", &[F::Privileged]),
        ("hostpid", &[F::HostNamespaces]),
        ("hostipc", &[F::HostNamespaces]),
        ("hostnetwork", &[F::HostNetwork]),
        ("hostpath", &[F::HostPath]),
        ("priv-and-hostpid", &[F::Privileged, F::HostNamespaces]),
        (
            "everything-allowed",
            &[
                F::Privileged,
                F::HostNamespaces,
                F::HostNetwork,
                F::HostPath,
            ],
        ),
        ("nothing-allowed", &[]),
    ];
    for (category, want) in cases {
        let inv = load_paths(&[dir.join(category)]);
        assert_clean(category, &inv);
        assert_eq!(
            inv.workloads.len(),
            4,
            "{category}: pod and deployment, exec and revshell"
        );
        assert_eq!(names(&inv, "Pod").len(), 2);
        assert_eq!(names(&inv, "Deployment").len(), 2);
        for w in &inv.workloads {
            let views = analyse(&w.template);
            let [c] = views.as_slice() else {
                panic!("{}: one container", w.key)
            };
            for flag in host_flags {
                assert_eq!(
                    c.has(flag),
                    want.contains(&flag),
                    "{} {}: {flag:?} in {:?}",
                    w.key,
                    c.name,
                    c.flags
                );
            }
            // Nobody sets a user, a seccomp profile or a read-only root.
            for flag in [
                F::RunsAsRoot,
                F::NoSeccomp,
                F::WritableRootFs,
                F::PrivilegeEscalation,
            ] {
                assert!(c.has(flag), "{}: {flag:?}", w.key);
            }
            check_category(category, &w.key.to_string(), c);
        }
    }
}

fn value(c: &ContainerView, control: Control) -> (&str, Risk) {
    let cell = c.cell(control).expect("every control has a cell");
    (cell.value.as_str(), cell.risk)
}

fn check_category(category: &str, key: &str, c: &ContainerView) {
    let privileged = (
        "privileged: full access to the host's devices and kernel",
        Risk::Dangerous,
    );
    let not_privileged = ("not privileged", Risk::Safe);
    let own_ns = ("own process and IPC namespaces", Risk::Safe);
    let own_net = ("own network namespace, no host ports", Risk::Safe);
    let root = ("mounts / from the host, writable", Risk::Dangerous);
    let no_host_path = ("no host paths", Risk::Safe);
    let (p, ns, net, hp) = match category {
        "priv" => (privileged, own_ns, own_net, no_host_path),
        "hostpid" => (
            not_privileged,
            (
                "shares the host's process namespace (hostPID)",
                Risk::Dangerous,
            ),
            own_net,
            no_host_path,
        ),
        "hostipc" => (
            not_privileged,
            ("shares the host's IPC namespace (hostIPC)", Risk::Risky),
            own_net,
            no_host_path,
        ),
        "hostnetwork" => (
            not_privileged,
            own_ns,
            ("uses the host network", Risk::Dangerous),
            no_host_path,
        ),
        "hostpath" => (not_privileged, own_ns, own_net, root),
        "priv-and-hostpid" => (
            privileged,
            (
                "shares the host's process namespace (hostPID)",
                Risk::Dangerous,
            ),
            own_net,
            no_host_path,
        ),
        "everything-allowed" => (
            privileged,
            (
                "shares the host's process and IPC namespaces (hostPID, hostIPC)",
                Risk::Dangerous,
            ),
            ("uses the host network", Risk::Dangerous),
            root,
        ),
        "nothing-allowed" => (not_privileged, own_ns, own_net, no_host_path),
        other => panic!("unknown category {other}"),
    };
    assert_eq!(value(c, Control::Privileged), p, "{key}");
    assert_eq!(value(c, Control::HostNamespaces), ns, "{key}");
    assert_eq!(value(c, Control::HostNetwork), net, "{key}");
    assert_eq!(value(c, Control::HostPath), hp, "{key}");
    if p == privileged {
        assert_eq!(
            value(c, Control::Capabilities),
            ("all capabilities (privileged container)", Risk::Dangerous)
        );
        assert_eq!(
            c.cell(Control::Privileged).map(|c| c.origin),
            Some(SettingOrigin::Container)
        );
        assert_eq!(c.worst(), Risk::Dangerous);
    }
    if hp == root {
        let cell = c.cell(Control::HostPath).expect("host path");
        assert!(cell.field.contains("hostPath.path: /;"), "{}", cell.field);
        assert!(
            value(c, Control::Volumes)
                .0
                .contains("noderoot (hostPath) at /host"),
            "{key}"
        );
    }
    if category == "nothing-allowed" {
        assert_eq!(
            c.worst(),
            Risk::Risky,
            "{key}: risky defaults, nothing dangerous"
        );
        assert_eq!(
            c.flags,
            [
                RiskFlag::RunsAsRoot,
                RiskFlag::WritableRootFs,
                RiskFlag::PrivilegeEscalation,
                RiskFlag::NoSeccomp
            ]
        );
    }
}

#[test]
fn corpus_kubernetes_goat_privileged_workloads() {
    let Some(dir) = shared_dir("corpus/insecure/kubernetes-goat") else {
        return;
    };
    let inv = load_paths(&[&dir]);
    assert_clean("kubernetes-goat", &inv);
    let bench = inv
        .workloads
        .iter()
        .find(|w| w.key.to_string() == "default/DaemonSet/docker-bench-security")
        .expect("docker-bench-security");
    let views = analyse(&bench.template);
    let c = &views[0];
    assert!(
        c.has(RiskFlag::Privileged) && c.has(RiskFlag::HostNetwork) && c.has(RiskFlag::HostPath)
    );
    let host_path = c.cell(Control::HostPath).expect("host path");
    assert!(
        host_path.value.contains("/var/run/docker.sock (read-only)"),
        "{}",
        host_path.value
    );
    assert_eq!(
        host_path.risk,
        Risk::Dangerous,
        "a runtime socket is dangerous even read-only"
    );
    assert_eq!(
        c.cell(Control::Users).map(|c| c.value.as_str()),
        Some("runs as root (UID 0, set on the pod)")
    );
}

// --- Malformed input -------------------------------------------------------

fn temp_file(dir: &tempfile::TempDir, name: &str, text: &[u8]) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, text).expect("write temp file");
    path
}

#[test]
fn corpus_malformed_broken_yaml_names_file_document_and_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let text = "\
apiVersion: v1
kind: Pod
metadata: {name: first}
spec: {containers: [{name: c}]}
---
apiVersion: v1
kind: Pod
metadata:
  name: second
  labels:
    app: x
   tier: broken
spec: {containers: [{name: c}]}
---
apiVersion: v1
kind: Pod
metadata: {name: third}
spec: {containers: [{name: c}]}
";
    let path = temp_file(&dir, "multi.yaml", text.as_bytes());
    let inv = load_paths(&[&path]);
    let names: Vec<_> = inv.workloads.iter().map(|w| w.key.name.as_str()).collect();
    assert_eq!(names, ["first", "third"], "documents 1 and 3 still load");
    assert_eq!(inv.workloads[1].origin.document, 2);
    assert_eq!(inv.workloads[1].origin.line, 15);
    let [e] = inv.errors.as_slice() else {
        panic!("{:?}", inv.errors)
    };
    assert_eq!(e.file, path.display().to_string());
    assert_eq!(e.document, Some(1));
    assert_eq!(e.line, Some(12), "{e}");
    assert!(e.to_string().contains("multi.yaml:12 (document 2)"), "{e}");
}

#[test]
fn corpus_malformed_wrong_types_name_the_field_path() {
    let dir = tempfile::tempdir().expect("temp dir");
    let text = "\
# a deployment with a wrong type
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  template:
    spec:
      containers:
      - name: app
        image: nginx
        securityContext:
          runAsUser: root
";
    let path = temp_file(&dir, "deploy.yaml", text.as_bytes());
    let inv = load_paths(&[&path]);
    assert!(inv.workloads.is_empty());
    let [e] = inv.errors.as_slice() else {
        panic!("{:?}", inv.errors)
    };
    assert_eq!((e.document, e.line), (Some(0), Some(2)));
    assert_eq!(
        e.message,
        "spec.template.spec.containers[0].securityContext.runAsUser: invalid type: string \"root\", expected i64"
    );

    let json = temp_file(&dir, "svc.json", br#"{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}, "spec": {"ports": [{"port": "http"}]}}"#);
    let inv = load_paths(&[&json]);
    assert_eq!(
        inv.errors[0].message,
        "spec.ports[0].port: invalid type: string \"http\", expected i32"
    );
}

#[test]
fn corpus_malformed_big_file_is_refused_unread() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("huge.yaml");
    // Sparse: 50 MB on paper, nothing written.
    let file = std::fs::File::create(&path).expect("create");
    file.set_len(50_000_000).expect("set_len");
    let inv = load_paths(&[&path]);
    let [e] = inv.errors.as_slice() else {
        panic!("{:?}", inv.errors)
    };
    assert_eq!(e.file, path.display().to_string());
    assert_eq!(
        e.message,
        "file is 50000000 bytes (47.7 MiB), over the 32 MiB limit; not read"
    );
    assert_eq!(manifests::MAX_FILE_BYTES, 32 * 1024 * 1024);
}

#[test]
fn corpus_malformed_script_names_load_verbatim() {
    let dir = tempfile::tempdir().expect("temp dir");
    let text = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: \"<script>alert(1)</script>\"\n  namespace: \"<b>ns</b>\"\nspec:\n  containers:\n  - name: \"<img src=x onerror=alert(1)>\"\n";
    let path = temp_file(&dir, "xss.yaml", text.as_bytes());
    let inv = load_paths(&[&path]);
    assert_clean("xss", &inv);
    assert_eq!(
        inv.workloads[0].key.to_string(),
        "<b>ns</b>/Pod/<script>alert(1)</script>"
    );
    assert_eq!(
        analyse(&inv.workloads[0].template)[0].name,
        "<img src=x onerror=alert(1)>"
    );
}

#[test]
fn corpus_malformed_unreadable_inputs() {
    let dir = tempfile::tempdir().expect("temp dir");
    let latin1 = temp_file(
        &dir,
        "latin1.yaml",
        b"apiVersion: v1\nkind: Pod\nmetadata: {name: caf\xe9}\n",
    );
    let missing = dir.path().join("missing.yaml");
    let inv = load_paths(&[&latin1, &missing]);
    let messages: Vec<_> = inv
        .errors
        .iter()
        .map(|e| (e.file.clone(), e.line, e.message.clone()))
        .collect();
    assert_eq!(
        messages,
        [
            (
                latin1.display().to_string(),
                Some(3),
                "not UTF-8 text (invalid byte at offset 45)".to_owned()
            ),
            (
                missing.display().to_string(),
                None,
                "cannot read: no such file or directory".to_owned()
            ),
        ]
    );
}

#[test]
fn corpus_folders_are_walked_in_order() {
    let dir = tempfile::tempdir().expect("temp dir");
    let pod = |name: &str| {
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec: {{containers: [{{name: c}}]}}\n"
        )
    };
    std::fs::create_dir_all(dir.path().join("b/nested")).expect("mkdir");
    std::fs::create_dir_all(dir.path().join(".git")).expect("mkdir");
    temp_file(&dir, "b/nested/c.yml", pod("c").as_bytes());
    temp_file(&dir, "b/a.json", br#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"b"},"spec":{"containers":[{"name":"c"}]}}"#);
    temp_file(&dir, "a.yaml", pod("a").as_bytes());
    temp_file(&dir, "README.md", b"# not a manifest\n");
    temp_file(&dir, ".git/x.yaml", b"::: not read :::\n");
    let inv = load_paths(&[dir.path()]);
    assert_clean("walk", &inv);
    let names: Vec<_> = inv.workloads.iter().map(|w| w.key.name.as_str()).collect();
    assert_eq!(names, ["a", "b", "c"]);
}
