//! Pod Security Standards evaluation speed: `cargo bench -p portcullis --bench policy`.
//!
//! Three realistic pod templates are parsed once; `evaluate` is measured at
//! restricted:latest and baseline:latest. Before measuring, a counting allocator
//! checks that evaluating an allowed pod does not allocate.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::PodTemplateSpec;
use portcullis::policy::pss::{self, Level, LevelVersion, Version};

/// Counts allocations, to show the passing path allocates nothing.
struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// A restricted-compliant Deployment: an init container and two containers.
const RESTRICTED: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: cart, namespace: shop}
spec:
  selector: {matchLabels: {app: cart}}
  template:
    metadata:
      labels: {app: cart, tier: backend}
      annotations: {prometheus.io/scrape: "true", prometheus.io/port: "9090"}
    spec:
      serviceAccountName: cart
      automountServiceAccountToken: false
      securityContext:
        runAsNonRoot: true
        runAsUser: 10001
        runAsGroup: 10001
        fsGroup: 10001
        seccompProfile: {type: RuntimeDefault}
      initContainers:
      - name: migrate
        image: registry.example.com/shop/cart-migrate:1.4.2
        args: ["--database=$(DB_URL)"]
        env: [{name: DB_URL, valueFrom: {secretKeyRef: {name: cart-db, key: url}}}]
        securityContext:
          allowPrivilegeEscalation: false
          readOnlyRootFilesystem: true
          capabilities: {drop: [ALL]}
      containers:
      - name: cart
        image: registry.example.com/shop/cart:1.4.2
        ports: [{name: http, containerPort: 7070}, {name: metrics, containerPort: 9090}]
        env:
        - {name: REDIS_ADDR, value: "redis-cart:6379"}
        - {name: LOG_LEVEL, value: info}
        resources:
          requests: {cpu: 200m, memory: 128Mi}
          limits: {cpu: "1", memory: 256Mi}
        readinessProbe: {httpGet: {path: /healthz, port: 7070}, periodSeconds: 5}
        livenessProbe: {httpGet: {path: /healthz, port: 7070}, initialDelaySeconds: 10}
        volumeMounts: [{name: tmp, mountPath: /tmp}, {name: config, mountPath: /etc/cart}]
        securityContext:
          allowPrivilegeEscalation: false
          readOnlyRootFilesystem: true
          capabilities: {drop: [ALL], add: [NET_BIND_SERVICE]}
      - name: envoy
        image: envoyproxy/envoy:v1.31.0
        ports: [{name: proxy, containerPort: 8443}]
        readinessProbe: {tcpSocket: {port: 8443}}
        volumeMounts: [{name: envoy-config, mountPath: /etc/envoy}, {name: certs, mountPath: /certs}]
        securityContext:
          allowPrivilegeEscalation: false
          capabilities: {drop: [ALL]}
      volumes:
      - {name: tmp, emptyDir: {medium: Memory}}
      - {name: config, configMap: {name: cart}}
      - {name: envoy-config, configMap: {name: cart-envoy}}
      - name: certs
        projected:
          sources: [{secret: {name: cart-tls}}, {serviceAccountToken: {path: token, expirationSeconds: 3600}}]
"#;

/// A typical Deployment with no security settings: allowed at baseline only.
const BASELINE: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: frontend, namespace: shop}
spec:
  selector: {matchLabels: {app: frontend}}
  template:
    metadata:
      labels: {app: frontend}
    spec:
      containers:
      - name: server
        image: registry.example.com/shop/frontend:2.0.1
        ports: [{containerPort: 8080}]
        env: [{name: PORT, value: "8080"}, {name: CART_ADDR, value: "cart:7070"}]
        resources: {requests: {cpu: 100m, memory: 64Mi}}
        readinessProbe: {httpGet: {path: /_healthz, port: 8080}}
        livenessProbe: {httpGet: {path: /_healthz, port: 8080}}
        volumeMounts: [{name: static, mountPath: /static}]
      - name: nginx
        image: nginx:1.27
        ports: [{containerPort: 80}]
      volumes:
      - {name: static, configMap: {name: frontend-static}}
"#;

/// A badly violating DaemonSet-like template: most checks fail.
const VIOLATING: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: node-agent, namespace: kube-system}
spec:
  selector: {matchLabels: {app: node-agent}}
  template:
    metadata:
      labels: {app: node-agent}
      annotations: {container.apparmor.security.beta.kubernetes.io/agent: unconfined}
    spec:
      hostNetwork: true
      hostPID: true
      hostIPC: true
      securityContext:
        runAsUser: 0
        sysctls: [{name: kernel.msgmax, value: "65536"}]
        seLinuxOptions: {type: spc_t}
      initContainers:
      - name: setup
        image: busybox
        securityContext: {privileged: true}
      containers:
      - name: agent
        image: registry.example.com/node-agent:0.9
        ports: [{containerPort: 9100, hostPort: 9100}]
        livenessProbe: {httpGet: {host: 127.0.0.1, path: /health, port: 9100}}
        securityContext:
          privileged: true
          capabilities: {add: [SYS_ADMIN, NET_ADMIN]}
          procMount: Unmasked
          seccompProfile: {type: Unconfined}
        volumeMounts: [{name: root, mountPath: /host}, {name: docker, mountPath: /var/run/docker.sock}]
      volumes:
      - {name: root, hostPath: {path: /}}
      - {name: docker, hostPath: {path: /var/run/docker.sock}}
      - {name: nfs, nfs: {server: nas, path: /exports}}
"#;

fn template(yaml: &str) -> PodTemplateSpec {
    let d: Deployment = serde_yaml_ng::from_str(yaml).expect("benchmark Deployment parses");
    d.spec.template
}

fn assert_allocation_free(name: &str, profile: LevelVersion, t: &PodTemplateSpec) {
    let meta = t.metadata.clone().unwrap_or_default();
    let spec = t.spec.as_ref().expect("pod spec");
    // The first call builds the static check table; count from the second.
    let _ = pss::evaluate(profile, &meta, spec);
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    let e = pss::evaluate(profile, &meta, spec);
    let allocations = ALLOCATIONS.load(Ordering::Relaxed) - before;
    assert!(e.allowed(), "{name} at {profile}: {}", e.message());
    assert_eq!(allocations, 0, "{name} at {profile} allocated");
}

fn bench(c: &mut Criterion) {
    let restricted = LevelVersion::latest(Level::Restricted);
    let baseline = LevelVersion::latest(Level::Baseline);
    let pods = [
        ("restricted-compliant", template(RESTRICTED)),
        ("baseline-only", template(BASELINE)),
        ("violating", template(VIOLATING)),
    ];
    assert_allocation_free("restricted-compliant", restricted, &pods[0].1);
    assert_allocation_free("restricted-compliant", baseline, &pods[0].1);
    assert_allocation_free("baseline-only", baseline, &pods[1].1);

    let mut group = c.benchmark_group("pss_evaluate");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .throughput(Throughput::Elements(1));
    for (name, t) in &pods {
        let meta = t.metadata.clone().unwrap_or_default();
        let spec = t.spec.as_ref().expect("pod spec");
        for profile in [restricted, baseline] {
            group.bench_function(format!("{name}/{profile}"), |b| {
                b.iter(|| pss::evaluate(black_box(profile), black_box(&meta), black_box(spec)))
            });
        }
    }
    for (name, t) in &pods {
        let meta = t.metadata.clone().unwrap_or_default();
        let spec = t.spec.as_ref().expect("pod spec");
        group.bench_function(format!("{name}/tightest_level"), |b| {
            b.iter(|| pss::tightest_level(black_box(&meta), black_box(spec), Version::Latest))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
