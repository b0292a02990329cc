//! Policy advisor speed: `cargo bench -p portcullis --bench advisor`.
//!
//! A generated cluster of 10,000 workloads in 100 namespaces and 50,000
//! connections (each workload names five Services in its env: three in its
//! namespace, two elsewhere), three NetworkPolicies per namespace (default
//! deny, same namespace, from `ns-000`); a third of the workloads are
//! restricted, a third baseline, a third privileged (hostPath). Measured: one
//! what-if for a namespace assignment (the target: under 50 ms), policy
//! what-ifs, building the advisor and the graph's JSON.

use std::fmt::Write as _;
use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use portcullis::advisor::{Advisor, Change, Mode, Target};
use portcullis::model::Inventory;
use portcullis::policy::profiles::Profile;
use portcullis::policy::pss::{Level, LevelVersion};

const NAMESPACES: usize = 100;
const PER_NAMESPACE: usize = 100;
const REFS: usize = 5;

/// A small deterministic generator (no dependency needed).
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) as usize) % n
    }
}

fn security(kind: usize) -> (&'static str, &'static str, &'static str) {
    match kind % 3 {
        // restricted
        0 => (
            "{runAsNonRoot: true, runAsUser: 1000, seccompProfile: {type: RuntimeDefault}}",
            "{allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}, readOnlyRootFilesystem: true}",
            "[{name: tmp, emptyDir: {}}]",
        ),
        // baseline
        1 => ("{}", "{}", "[{name: tmp, emptyDir: {}}]"),
        // privileged: a hostPath volume
        _ => ("{}", "{}", "[{name: tmp, hostPath: {path: /var/log}}]"),
    }
}

fn cluster_yaml() -> String {
    let mut rng = Lcg(42);
    let mut y = String::with_capacity(30 << 20);
    for n in 0..NAMESPACES {
        let ns = format!("ns-{n:03}");
        let enforce = if n % 2 == 0 { "baseline" } else { "privileged" };
        let _ = write!(
            y,
            "---\napiVersion: v1\nkind: Namespace\nmetadata: {{name: {ns}, labels: {{pod-security.kubernetes.io/enforce: {enforce}, team: t{}}}}}\n",
            n % 7
        );
        for (name, spec) in [
            ("default-deny", "{podSelector: {}, policyTypes: [Ingress]}".to_owned()),
            (
                "same-namespace",
                "{podSelector: {}, ingress: [{from: [{podSelector: {}}], ports: [{port: http}]}]}".to_owned(),
            ),
            (
                "from-ns-000",
                "{podSelector: {matchLabels: {tier: api}}, ingress: [{from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: ns-000}}}]}]}".to_owned(),
            ),
        ] {
            let _ = write!(
                y,
                "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: {name}, namespace: {ns}}}\nspec: {spec}\n"
            );
        }
        for w in 0..PER_NAMESPACE {
            let app = format!("app-{w:03}");
            let tier = if w % 4 == 0 { "api" } else { "worker" };
            let (pod_sc, c_sc, volumes) = security(w + n);
            let mut env = String::new();
            let mut picked = Vec::new();
            while picked.len() < REFS {
                let cross = picked.len() >= 3;
                let tn = if cross { rng.below(NAMESPACES) } else { n };
                let tw = rng.below(PER_NAMESPACE);
                if (tn, tw) == (n, w) || picked.contains(&(tn, tw)) {
                    continue;
                }
                picked.push((tn, tw));
                let value = if cross {
                    format!("app-{tw:03}.ns-{tn:03}.svc.cluster.local:80")
                } else {
                    format!("http://app-{tw:03}:80/api")
                };
                let _ = write!(
                    env,
                    "{{name: UPSTREAM_{}_URL, value: '{value}'}}, ",
                    picked.len()
                );
            }
            let _ = write!(
                y,
                "---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {app}, namespace: {ns}}}
spec:
  selector: {{matchLabels: {{app: {app}}}}}
  template:
    metadata: {{labels: {{app: {app}, tier: {tier}}}}}
    spec:
      securityContext: {pod_sc}
      containers:
      - name: main
        image: registry.example/{app}:1
        ports: [{{name: http, containerPort: 8080}}, {{name: metrics, containerPort: 9090}}]
        env: [{env}]
        securityContext: {c_sc}
        volumeMounts: [{{name: tmp, mountPath: /tmp}}]
      volumes: {volumes}
---
apiVersion: v1
kind: Service
metadata: {{name: {app}, namespace: {ns}}}
spec: {{selector: {{app: {app}}}, ports: [{{name: http, port: 80, targetPort: http}}]}}
"
            );
        }
    }
    y
}

fn advisor() -> (Advisor, Inventory) {
    let mut inv = Inventory::default();
    portcullis::ingest::manifests::load_str("cluster.yaml", &cluster_yaml(), &mut inv);
    portcullis::ingest::manifests::finish(&mut inv);
    assert!(
        inv.errors.is_empty(),
        "{:?}",
        &inv.errors[..inv.errors.len().min(3)]
    );
    let a = Advisor::new(inv.clone());
    assert_eq!(
        a.cluster.inventory.workloads.len(),
        NAMESPACES * PER_NAMESPACE
    );
    assert_eq!(
        a.graph.graph.edge_count(),
        NAMESPACES * PER_NAMESPACE * REFS
    );
    (a, inv)
}

fn policy(yaml: &str) -> portcullis::model::NetworkPolicyObject {
    let mut inv = Inventory::default();
    portcullis::ingest::manifests::load_str("p.yaml", yaml, &mut inv);
    inv.network_policies.remove(0)
}

fn bench(c: &mut Criterion) {
    let (a, inv) = advisor();
    let restricted = Profile::level(LevelVersion::latest(Level::Restricted));
    let assign = [Change::Assign {
        target: Target::Namespace("ns-042".into()),
        profile: restricted.clone(),
        mode: Mode::Enforce,
    }];
    let impact = a.what_if(&assign);
    eprintln!(
        "namespace what-if: {} blocked, {} broken connections, {} downstream; before {:?}",
        impact.blocked.len(),
        impact.broken_connections.len(),
        impact.downstream.len(),
        impact.before
    );
    let deny = [Change::ApplyPolicy(Box::new(policy(
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: same-namespace, namespace: ns-042}\nspec: {podSelector: {}, ingress: [{from: [{podSelector: {matchLabels: {tier: api}}}]}]}\n",
    )))];
    let remove = [Change::RemovePolicy("ns-042/from-ns-000".into())];

    let mut g = c.benchmark_group("advisor 10k workloads, 50k connections");
    g.sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    g.bench_function("what-if: restricted enforce on one namespace", |b| {
        b.iter(|| black_box(a.what_if(black_box(&assign))))
    });
    g.bench_function("what-if: warn on one namespace", |b| {
        let warn = [Change::Assign {
            target: Target::Namespace("ns-042".into()),
            profile: restricted.clone(),
            mode: Mode::Warn,
        }];
        b.iter(|| black_box(a.what_if(black_box(&warn))))
    });
    g.bench_function("what-if: tighten a NetworkPolicy", |b| {
        b.iter(|| black_box(a.what_if(black_box(&deny))))
    });
    g.bench_function("what-if: remove a NetworkPolicy", |b| {
        b.iter(|| black_box(a.what_if(black_box(&remove))))
    });
    g.bench_function("graph JSON", |b| b.iter(|| black_box(a.graph_json())));
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    g.bench_function("build: graph, verdicts and current state", |b| {
        b.iter(|| black_box(Advisor::new(inv.clone())))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
