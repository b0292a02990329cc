//! Test state: a real SQLite file in a temporary folder, loaded from YAML text.

use portcullis::AppState;
use portcullis::model::Inventory;
use portcullis::store::snapshots::SnapshotSource;

pub struct TestDb {
    pub state: AppState,
    _dir: tempfile::TempDir,
}

pub fn inventory(files: &[(&str, &str)]) -> Inventory {
    let mut inv = Inventory::default();
    for (name, text) in files {
        portcullis::ingest::manifests::load_str(name, text, &mut inv);
    }
    portcullis::ingest::manifests::finish(&mut inv);
    inv
}

/// A fresh database file holding one snapshot of `files`.
pub async fn db_with(files: &[(&str, &str)]) -> TestDb {
    let dir = tempfile::tempdir().expect("temp dir");
    let pool = portcullis::store::open(&dir.path().join("test.db"))
        .await
        .expect("open database");
    let inv = inventory(files);
    assert!(
        inv.errors.is_empty(),
        "test input has errors: {:?}",
        inv.errors
    );
    let src = SnapshotSource {
        cluster: "test".into(),
        source: "test manifests".into(),
    };
    portcullis::store::snapshots::insert(
        &pool,
        &src,
        &inv,
        1_700_000_000_000,
        portcullis::cli::level_of,
    )
    .await
    .expect("insert snapshot");
    TestDb {
        state: AppState::new(pool),
        _dir: dir,
    }
}

pub const SHOP: &str = r#"
apiVersion: v1
kind: Namespace
metadata:
  name: shop
  labels:
    pod-security.kubernetes.io/enforce: baseline
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: cart
  namespace: shop
spec:
  replicas: 2
  selector:
    matchLabels: {app: cart}
  template:
    metadata:
      labels: {app: cart}
    spec:
      securityContext:
        runAsUser: 0
      initContainers:
      - name: migrate
        image: ghcr.io/example/cart-migrate:1.0
      containers:
      - name: cart
        image: ghcr.io/example/cart:1.0
        ports:
        - containerPort: 7070
---
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: node-agent
  namespace: monitoring
spec:
  selector:
    matchLabels: {app: node-agent}
  template:
    metadata:
      labels: {app: node-agent}
    spec:
      hostPID: true
      hostNetwork: true
      containers:
      - name: agent
        image: quay.io/example/agent:2
        securityContext:
          privileged: true
        volumeMounts:
        - {name: proc, mountPath: /host/proc, readOnly: true}
      volumes:
      - name: proc
        hostPath: {path: /proc}
---
apiVersion: v1
kind: Pod
metadata:
  name: hardened
  namespace: secure
spec:
  securityContext:
    runAsNonRoot: true
    runAsUser: 1000
    seccompProfile: {type: RuntimeDefault}
  containers:
  - name: app
    image: ghcr.io/example/app:1
    env:
    - name: CART_ADDR
      value: cart.shop:7070
    securityContext:
      allowPrivilegeEscalation: false
      readOnlyRootFilesystem: true
      capabilities: {drop: [ALL]}
---
apiVersion: v1
kind: Service
metadata:
  name: cart
  namespace: shop
spec:
  selector: {app: cart}
  ports:
  - port: 7070
"#;

pub const HOSTILE: &str = r#"
apiVersion: v1
kind: Pod
metadata:
  name: "x<script>alert(1)</script>"
  namespace: evil
  labels:
    team: "<img src=x onerror=alert(2)>"
spec:
  containers:
  - name: "c<b>"
    image: "\"><script>alert(3)</script>"
"#;
