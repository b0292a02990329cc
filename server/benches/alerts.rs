//! Alert sync speed: `cargo bench -p portcullis --bench alerts`.
//!
//! A snapshot of 10,000 Deployments in 100 namespaces on a real SQLite file
//! (WAL, as `serve` opens it); a third restricted-compliant, a third
//! baseline, a third privileged (hostPath). The cluster default is
//! `restricted` in enforce and in warn, so two thirds of the workloads fail
//! in both modes. Measured: the first sync (every alert opened), a steady
//! sync (every alert still failing: last seen moves on) and a sync after the
//! assignments are removed (every alert resolved).

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use portcullis::policy::assignments::Mode;
use portcullis::store;
use portcullis::store::snapshots::SnapshotSource;

const NAMESPACES: usize = 100;
const PER_NAMESPACE: usize = 100;
const CLUSTER: &str = "bench";

fn security(kind: usize) -> (&'static str, &'static str, &'static str) {
    match kind % 3 {
        0 => (
            "{runAsNonRoot: true, runAsUser: 1000, seccompProfile: {type: RuntimeDefault}}",
            "{allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}",
            "[{name: tmp, emptyDir: {}}]",
        ),
        1 => ("{}", "{}", "[{name: tmp, emptyDir: {}}]"),
        _ => ("{}", "{}", "[{name: tmp, hostPath: {path: /var/log}}]"),
    }
}

fn cluster_yaml() -> String {
    let mut y = String::with_capacity(16 << 20);
    for n in 0..NAMESPACES {
        let ns = format!("ns-{n:03}");
        let _ = write!(
            y,
            "---\napiVersion: v1\nkind: Namespace\nmetadata: {{name: {ns}, labels: {{team: t{}}}}}\n",
            n % 7
        );
        for w in 0..PER_NAMESPACE {
            let app = format!("app-{w:03}");
            let (pod_sc, c_sc, volumes) = security(w + n);
            let _ = write!(
                y,
                "---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {app}, namespace: {ns}, labels: {{team: t{}}}}}
spec:
  selector: {{matchLabels: {{app: {app}}}}}
  template:
    metadata: {{labels: {{app: {app}}}}}
    spec:
      securityContext: {pod_sc}
      containers:
      - name: main
        image: registry.example/{app}:1
        securityContext: {c_sc}
        volumeMounts: [{{name: tmp, mountPath: /tmp}}]
      volumes: {volumes}
",
                w % 5
            );
        }
    }
    y
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let pool = rt
        .block_on(store::open(&dir.path().join("bench.db")))
        .expect("open");
    let mut inv = portcullis::model::Inventory::default();
    portcullis::ingest::manifests::load_str("cluster.yaml", &cluster_yaml(), &mut inv);
    portcullis::ingest::manifests::finish(&mut inv);
    assert_eq!(inv.workloads.len(), NAMESPACES * PER_NAMESPACE);
    let src = SnapshotSource {
        cluster: CLUSTER.into(),
        source: "bench".into(),
    };
    let now = portcullis::now_ms();
    let snapshot = rt
        .block_on(store::snapshots::insert(
            &pool,
            &src,
            &inv,
            now,
            portcullis::cli::level_of,
        ))
        .expect("snapshot");
    let rules = rt.block_on(async {
        for mode in [Mode::Enforce, Mode::Warn] {
            store::assignments::assign(&pool, CLUSTER, "cluster", mode, "restricted", "b", now)
                .await
                .expect("assign");
        }
        std::sync::Arc::new(
            store::assignments::load_rules(&pool, 1)
                .await
                .expect("rules"),
        )
    });
    let sync = |rules: std::sync::Arc<_>| {
        rt.block_on(portcullis::alerts::sync(
            &pool,
            rules,
            CLUSTER,
            snapshot,
            portcullis::now_ms(),
        ))
        .expect("sync")
    };
    let started = Instant::now();
    let first = sync(rules.clone());
    eprintln!(
        "first sync: {} alerts opened in {:?} (one run)",
        first.opened,
        started.elapsed()
    );
    assert!(first.opened > 10_000);
    let none = std::sync::Arc::new(portcullis::policy::assignments::Rules::default());

    let mut g = c.benchmark_group("alerts sync, 10,000 workloads");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(20));
    g.bench_function("steady (every alert still failing)", |b| {
        b.iter(|| {
            let r = sync(rules.clone());
            assert_eq!(r.updated, first.opened);
        })
    });
    g.bench_function("open every alert", |b| {
        b.iter_batched(
            || {
                rt.block_on(sqlx::query("DELETE FROM alerts").execute(&pool))
                    .expect("clear");
            },
            |()| {
                let r = sync(rules.clone());
                assert_eq!(r.opened, first.opened);
            },
            BatchSize::PerIteration,
        )
    });
    g.bench_function("resolve every alert", |b| {
        b.iter_batched(
            || {
                rt.block_on(sqlx::query("DELETE FROM alerts").execute(&pool))
                    .expect("clear");
                sync(rules.clone());
            },
            |()| {
                let r = sync(none.clone());
                assert_eq!(r.resolved, first.opened);
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
