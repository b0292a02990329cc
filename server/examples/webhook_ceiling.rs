//! The admission webhook benchmark's two helpers (see BENCHMARKS.md,
//! "Admission webhook"):
//!
//! - `webhook_ceiling serve ADDR CERT KEY [ANSWER]`: the ceiling, the same stack
//!   as the webhook (tokio, hyper HTTP/1.1 with keep-alive, rustls, axum, the
//!   body read whole) answering every POST with one fixed review, without
//!   judging it: a minimal one, or the bytes of the file ANSWER (the answer
//!   portcullis gives, so that both send as many bytes back);
//! - `webhook_ceiling body FILE`: writes a typical ~10 KB AdmissionReview of a
//!   Deployment as the API server sends it: the seed cluster's
//!   `shop/Deployment/storefront` with the `managedFields` and
//!   `kubectl.kubernetes.io/last-applied-configuration` that real objects carry.
//!
//! ```text
//! cargo run --release --example webhook_ceiling -- body /tmp/review.json
//! cargo run --release --example webhook_ceiling -- serve 127.0.0.1:9443 tls.crt tls.key
//! ```

use std::path::Path;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::post;
use serde_json::{Value, json};

// The same allocator as the portcullis binary, counting allocations (for
// `stages`: allocations per review).
#[global_allocator]
static GLOBAL: Counting = Counting(mimalloc::MiMalloc);

static ALLOCATIONS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

struct Counting(mimalloc::MiMalloc);

// SAFETY: every call is forwarded unchanged to mimalloc; the counter has no
// effect on the memory handed out.
unsafe impl std::alloc::GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // SAFETY: the caller's contract, forwarded.
        unsafe { self.0.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        // SAFETY: the caller's contract, forwarded.
        unsafe { self.0.dealloc(ptr, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: std::alloc::Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // SAFETY: the caller's contract, forwarded.
        unsafe { self.0.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, new: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // SAFETY: the caller's contract, forwarded.
        unsafe { self.0.realloc(ptr, layout, new) }
    }
}

const FIXED: &str = r#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":"00000000-0000-0000-0000-000000000000","allowed":true}}"#;

async fn fixed(State(answer): State<Bytes>, body: Body) -> impl IntoResponse {
    let read = axum::body::to_bytes(body, portcullis::admission::BODY_LIMIT).await;
    let answer = if read.is_ok() {
        answer
    } else {
        Bytes::from_static(b"{}")
    };
    ([(header::CONTENT_TYPE, "application/json")], answer)
}

async fn serve(addr: &str, cert: &Path, key: &Path, answer: Option<&Path>) -> anyhow::Result<()> {
    let answer = match answer {
        Some(file) => Bytes::from(std::fs::read(file)?),
        None => Bytes::from_static(FIXED.as_bytes()),
    };
    let certs =
        portcullis::admission::tls::CertReloader::new(cert, key).map_err(anyhow::Error::msg)?;
    let tls = portcullis::admission::tls::server_config(certs, None).map_err(anyhow::Error::msg)?;
    let app = Router::new()
        .route("/admission/validate", post(fixed))
        .route("/admission/mutate", post(fixed))
        .with_state(answer);
    let listener = tokio::net::TcpListener::bind(addr).await?;
    eprintln!("ceiling on https://{}", listener.local_addr()?);
    portcullis::admission::tls::serve(listener, tls, app, portcullis::cli::shutdown_signal())
        .await?;
    Ok(())
}

/// What the API server adds to an object: server-side apply bookkeeping.
fn managed_fields(spec: &Value) -> Value {
    json!([
        {"manager": "kubectl-client-side-apply", "operation": "Update", "apiVersion": "apps/v1",
         "time": "2026-11-02T09:14:27Z", "fieldsType": "FieldsV1",
         "fieldsV1": {"f:metadata": {"f:annotations": {".": {}, "f:kubectl.kubernetes.io/last-applied-configuration": {}},
                                    "f:labels": {".": {}, "f:app.kubernetes.io/name": {}, "f:app.kubernetes.io/part-of": {}}},
                      "f:spec": fields_of(spec)}},
        {"manager": "kube-controller-manager", "operation": "Update", "apiVersion": "apps/v1",
         "time": "2026-11-02T09:14:31Z", "fieldsType": "FieldsV1", "subresource": "status",
         "fieldsV1": {"f:metadata": {"f:annotations": {"f:deployment.kubernetes.io/revision": {}}},
                      "f:status": {"f:availableReplicas": {}, "f:conditions": {".": {}}, "f:observedGeneration": {},
                                   "f:readyReplicas": {}, "f:replicas": {}, "f:updatedReplicas": {}}}}
    ])
}

/// The `fieldsV1` shape of a value: `f:<key>` for every key of every map.
fn fields_of(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| (format!("f:{k}"), fields_of(v)))
                .collect(),
        ),
        _ => json!({}),
    }
}

fn body(out: &Path) -> anyhow::Result<()> {
    let inv = portcullis::ingest::seed::load();
    let w = inv
        .workloads
        .iter()
        .find(|w| w.key.to_string() == "shop/Deployment/storefront")
        .ok_or_else(|| anyhow::anyhow!("the seed has no shop/Deployment/storefront"))?;
    let mut object = w.raw.clone();
    // Configuration by environment, as typical services have it.
    if let Some(Value::Array(containers)) = object.pointer_mut("/spec/template/spec/containers")
        && let Some(Value::Object(c)) = containers.first_mut()
    {
        let env = c.entry("env").or_insert_with(|| json!([]));
        if let Value::Array(env) = env {
            for (i, name) in [
                "LOG_LEVEL",
                "LOG_FORMAT",
                "HTTP_PORT",
                "METRICS_PORT",
                "CATALOG_URL",
                "CART_URL",
                "CHECKOUT_URL",
                "SEARCH_URL",
                "RECOMMENDATIONS_URL",
                "CDN_BASE_URL",
                "SESSION_TTL",
                "CACHE_TTL",
                "FEATURE_FLAGS",
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                "OTEL_SERVICE_NAME",
                "OTEL_RESOURCE_ATTRIBUTES",
                "REDIS_ADDR",
                "REDIS_DB",
                "RATE_LIMIT_RPS",
                "I18N_DEFAULT_LOCALE",
                "CURRENCY_DEFAULT",
                "GOMAXPROCS",
            ]
            .iter()
            .enumerate()
            {
                env.push(json!({"name": name, "value": format!("value-{i:02}-for-{}", name.to_lowercase())}));
            }
            env.push(json!({"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}));
            env.push(json!({"name": "SESSION_KEY", "valueFrom": {"secretKeyRef": {"name": "storefront-session", "key": "key"}}}));
        }
    }
    let applied = serde_json::to_string(&object)?;
    let meta = &mut object["metadata"];
    meta["uid"] = json!("6f1d2c3b-8e4a-4f0b-9a7e-2b1c0d9e8f7a");
    meta["resourceVersion"] = json!("48213377");
    meta["generation"] = json!(7);
    meta["creationTimestamp"] = json!("2026-11-02T09:14:27Z");
    meta["annotations"]["kubectl.kubernetes.io/last-applied-configuration"] = json!(applied);
    meta["annotations"]["deployment.kubernetes.io/revision"] = json!("7");
    meta["managedFields"] = managed_fields(&w.raw["spec"]);
    let review = json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "0b8f3c1e-5d2a-4e6b-9c7d-1a2b3c4d5e6f",
            "kind": {"group": "apps", "version": "v1", "kind": "Deployment"},
            "resource": {"group": "apps", "version": "v1", "resource": "deployments"},
            "requestKind": {"group": "apps", "version": "v1", "kind": "Deployment"},
            "requestResource": {"group": "apps", "version": "v1", "resource": "deployments"},
            "name": w.key.name, "namespace": w.key.namespace,
            "operation": "CREATE",
            "userInfo": {"username": "system:serviceaccount:argocd:argocd-application-controller",
                         "uid": "e1f2a3b4-c5d6-4e7f-8a9b-0c1d2e3f4a5b",
                         "groups": ["system:serviceaccounts", "system:serviceaccounts:argocd", "system:authenticated"]},
            "object": object,
            "oldObject": null,
            "dryRun": false,
            "options": {"apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions", "fieldManager": "argocd-controller"}
        }
    });
    let text = serde_json::to_string(&review)?;
    std::fs::write(out, &text)?;
    eprintln!("{} bytes written to {}", text.len(), out.display());
    Ok(())
}

/// In-process cost of one review, by stage (no HTTP, no TLS).
async fn stages(file: &Path) -> anyhow::Result<()> {
    use std::time::Instant;
    let body = std::fs::read(file)?;
    let dir = std::env::temp_dir().join(format!("webhook-stages-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let pool = portcullis::store::open(&dir.join("p.db")).await?;
    portcullis::cli::seed_if_empty(&pool).await?;
    let state = portcullis::AppState::load(pool).await?;
    let cluster = portcullis::store::snapshots::latest(&state.pool)
        .await?
        .map(|s| s.cluster)
        .unwrap_or_default();
    let webhook = portcullis::admission::Webhook::start(
        &state,
        portcullis::admission::Config::new(cluster),
        std::sync::Arc::new(portcullis::admission::NoAlerts),
    )
    .await?;
    let review: Value = serde_json::from_slice(&body)?;
    let object = serde_json::to_string(&review["request"]["object"])?;
    const N: u32 = 20_000;
    let time = |name: &str, f: &mut dyn FnMut()| {
        for _ in 0..200 {
            f();
        }
        let allocations = ALLOCATIONS.load(std::sync::atomic::Ordering::Relaxed);
        let t = Instant::now();
        for _ in 0..N {
            f();
        }
        let took = t.elapsed();
        let allocations = ALLOCATIONS.load(std::sync::atomic::Ordering::Relaxed) - allocations;
        eprintln!(
            "{name:<40} {:>8.1} µs {:>6} allocations",
            took.as_secs_f64() * 1e6 / f64::from(N),
            allocations / u64::from(N)
        );
    };
    time("parse the review envelope (raw object)", &mut || {
        let r: portcullis::admission::review::ReviewIn<'_> =
            serde_json::from_slice(&body).expect("review");
        std::hint::black_box(r);
    });
    time("parse the object to a JSON Value", &mut || {
        let v: Value = serde_json::from_str(&object).expect("value");
        std::hint::black_box(v);
    });
    time("read the workload (ingest::manifests)", &mut || {
        let v: Value = serde_json::from_str(&object).expect("value");
        let mut inv = portcullis::model::Inventory::default();
        portcullis::ingest::manifests::load_value(v, &Default::default(), &mut inv);
        std::hint::black_box(inv);
    });
    time("read the object (typed, one pass)", &mut || {
        let o = portcullis::admission::object::read(&object).expect("object");
        std::hint::black_box(o);
    });
    time("read the object lean (the webhook's read)", &mut || {
        let o = portcullis::admission::object::read_lean(&object).expect("object");
        std::hint::black_box(o);
    });
    let template = portcullis::admission::object::read_lean(&object)
        .expect("object")
        .template("Deployment")
        .expect("a Deployment");
    for level in ["baseline", "restricted"] {
        let profile = portcullis::policy::profiles::Profile::preset(level).expect("preset");
        time(&format!("judge the template: {level}"), &mut || {
            std::hint::black_box(portcullis::policy::profiles::evaluate(&profile, &template));
        });
    }
    time("mark the last-applied configurations", &mut || {
        std::hint::black_box(portcullis::admission::last_applied::mark(&body));
    });
    time("whole review (answer + decision)", &mut || {
        std::hint::black_box(webhook.review(&body, false));
    });
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        ["body", out] => body(Path::new(out)),
        ["stages", file] => tokio::runtime::Runtime::new()?.block_on(stages(Path::new(file))),
        ["serve", addr, cert, key, answer @ ..] if answer.len() <= 1 => {
            tokio::runtime::Runtime::new()?.block_on(serve(
                addr,
                Path::new(cert),
                Path::new(key),
                answer.first().map(Path::new),
            ))
        }
        _ => {
            eprintln!(
                "usage: webhook_ceiling body FILE | webhook_ceiling serve ADDR CERT KEY [ANSWER]"
            );
            std::process::exit(2);
        }
    }
}
