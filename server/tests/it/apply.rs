//! `serve --allow-apply`: namespace labels patched through a real kube client
//! over HTTP to a fake API server on 127.0.0.1:0, which records each request
//! and answers as the scenario says.

use std::sync::{Arc, Mutex, Once};
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use portcullis::apply::{Applied, ApplyError, apply_assignment, apply_labels};
use portcullis::cli::live::LiveCluster;
use portcullis::ingest::cluster::{Cluster, Options};
use portcullis::policy::assignments::{AssignTarget, Mode};
use portcullis::policy::profiles::{Profile, ProfileRef};
use portcullis::policy::pss::LevelVersion;
use serde_json::{Value, json};

use crate::support::{SHOP, db_with};

/// What the fake received.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    content_type: String,
    body: Value,
}

struct Fake {
    /// Status code to answer with.
    answer: u16,
    seen: Mutex<Vec<Seen>>,
}

async fn api(State(fake): State<Arc<Fake>>, req: Request) -> Response {
    let method = req.method().to_string();
    let path = req.uri().path().to_owned();
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let bytes = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    fake.seen.lock().expect("lock").push(Seen {
        method,
        path: path.clone(),
        content_type,
        body: body.clone(),
    });
    let name = path.rsplit('/').next().unwrap_or_default().to_owned();
    let code = StatusCode::from_u16(fake.answer).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if code.is_success() {
        // A merge patch removes the labels set to null.
        let mut labels = body["metadata"]["labels"].clone();
        if let Some(m) = labels.as_object_mut() {
            m.retain(|_, v| !v.is_null());
        }
        return (
            code,
            axum::Json(json!({
                "apiVersion": "v1", "kind": "Namespace",
                "metadata": { "name": name, "labels": labels }
            })),
        )
            .into_response();
    }
    let reason = match fake.answer {
        403 => "Forbidden",
        404 => "NotFound",
        _ => "InternalError",
    };
    (
        code,
        axum::Json(json!({
            "apiVersion": "v1", "kind": "Status", "status": "Failure",
            "message": format!("namespaces \"{name}\" is forbidden: User \"system:serviceaccount:portcullis:portcullis\" cannot patch resource \"namespaces\""),
            "reason": reason, "code": fake.answer
        })),
    )
        .into_response()
}

static CRYPTO: Once = Once::new();

async fn start(answer: u16) -> (Arc<Fake>, Cluster) {
    CRYPTO.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let fake = Arc::new(Fake {
        answer,
        seen: Mutex::new(Vec::new()),
    });
    let app = Router::new().fallback(api).with_state(fake.clone());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let url = format!("http://{addr}").parse().expect("url");
    let options = Options {
        request_timeout: Duration::from_secs(5),
        retry: false,
        ..Options::default()
    };
    let cluster = Cluster::from_config("prod", kube::Config::new(url), options).expect("cluster");
    (fake, cluster)
}

fn seen(fake: &Fake) -> Vec<Seen> {
    fake.seen.lock().expect("lock").clone()
}

#[tokio::test]
async fn setting_a_level_sends_one_merge_patch_of_the_two_labels() {
    let (fake, cluster) = start(200).await;
    let lv: LevelVersion = "restricted".parse().expect("level");
    let applied = apply_labels(cluster.client(), "shop", Mode::Enforce, Some(lv))
        .await
        .expect("patched");
    let Applied::Patched { namespace, labels } = applied else {
        panic!("expected a patch, got {applied:?}");
    };
    assert_eq!(namespace, "shop");
    assert_eq!(labels.len(), 2);
    let s = seen(&fake);
    assert_eq!(s.len(), 1, "{s:?}");
    assert_eq!(s[0].method, "PATCH");
    assert_eq!(s[0].path, "/api/v1/namespaces/shop");
    assert_eq!(s[0].content_type, "application/merge-patch+json");
    assert_eq!(
        s[0].body,
        json!({"metadata": {"labels": {
            "pod-security.kubernetes.io/enforce": "restricted",
            "pod-security.kubernetes.io/enforce-version": "latest"
        }}})
    );
}

#[tokio::test]
async fn removing_sets_both_labels_of_the_mode_to_null() {
    let (fake, cluster) = start(200).await;
    apply_labels(cluster.client(), "shop", Mode::Warn, None)
        .await
        .expect("patched");
    let s = seen(&fake);
    assert_eq!(
        s[0].body,
        json!({"metadata": {"labels": {
            "pod-security.kubernetes.io/warn": null,
            "pod-security.kubernetes.io/warn-version": null
        }}})
    );
}

#[tokio::test]
async fn forbidden_names_the_missing_rbac_verb() {
    let (_fake, cluster) = start(403).await;
    let err = apply_labels(
        cluster.client(),
        "shop",
        Mode::Enforce,
        Some("baseline".parse().expect("level")),
    )
    .await
    .expect_err("forbidden");
    assert!(matches!(err, ApplyError::Forbidden { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("patch namespaces"), "{text}");
    assert!(text.contains("shop"), "{text}");
    assert_eq!(err.kind(), "forbidden");

    // A name that is no namespace's never reaches the API server (it would
    // otherwise end up in the request's path).
    let (fake, cluster) = start(200).await;
    for bad in ["a?dryRun=All", "..", "Shop", "a b", ""] {
        let err = apply_labels(cluster.client(), bad, Mode::Enforce, None)
            .await
            .expect_err(bad);
        assert_eq!(err.kind(), "invalid-namespace", "{bad}: {err}");
    }
    assert!(seen(&fake).is_empty());

    let (_fake, cluster) = start(404).await;
    let err = apply_labels(cluster.client(), "gone", Mode::Audit, None)
        .await
        .expect_err("not found");
    assert_eq!(
        err,
        ApplyError::NotFound {
            namespace: "gone".into()
        }
    );
}

fn profile(name: &str) -> Profile {
    ProfileRef::parse(name)
        .and_then(|r| r.resolve(|_| None))
        .expect("profile")
}

#[tokio::test]
async fn apply_assignment_does_nothing_unless_allowed_live_namespace_and_level() {
    let (fake, cluster) = start(200).await;
    let db = db_with(&[("shop.yaml", SHOP)]).await;
    let shop = AssignTarget::Namespace("shop".into());
    let restricted = profile("restricted");

    // Without --allow-apply.
    let mut state = db.state.clone();
    state.live = Some(LiveCluster::new(cluster.clone(), state.pool.clone()));
    let r = apply_assignment(&state, "prod", &shop, Mode::Enforce, Some(&restricted)).await;
    assert!(
        matches!(&r, Ok(Applied::Skipped { reason }) if reason.contains("--allow-apply")),
        "{r:?}"
    );

    state.allow_apply = true;
    // Another cluster's assignment.
    let r = apply_assignment(&state, "seed", &shop, Mode::Enforce, Some(&restricted)).await;
    assert!(
        matches!(&r, Ok(Applied::Skipped { reason }) if reason.contains("seed")),
        "{r:?}"
    );
    // A workload.
    let cart = AssignTarget::parse("workload/shop/Deployment/cart").expect("target");
    let r = apply_assignment(&state, "prod", &cart, Mode::Enforce, Some(&restricted)).await;
    assert!(
        matches!(&r, Ok(Applied::Skipped { reason }) if reason.contains("per namespace")),
        "{r:?}"
    );
    // A profile that is not a level.
    let r = apply_assignment(
        &state,
        "prod",
        &shop,
        Mode::Enforce,
        Some(&profile("strict")),
    )
    .await;
    assert!(
        matches!(&r, Ok(Applied::Skipped { reason }) if reason.contains("strict")),
        "{r:?}"
    );
    assert!(seen(&fake).is_empty(), "nothing sent so far");

    // All set: one patch; then the removal.
    let r = apply_assignment(&state, "prod", &shop, Mode::Audit, Some(&restricted)).await;
    assert!(matches!(r, Ok(Applied::Patched { .. })), "{r:?}");
    let r = apply_assignment(&state, "prod", &shop, Mode::Audit, None).await;
    assert!(matches!(r, Ok(Applied::Patched { .. })), "{r:?}");
    let s = seen(&fake);
    assert_eq!(s.len(), 2);
    assert_eq!(
        s[0].body["metadata"]["labels"]["pod-security.kubernetes.io/audit"],
        "restricted"
    );
    assert_eq!(
        s[1].body["metadata"]["labels"]["pod-security.kubernetes.io/audit"],
        Value::Null
    );
}

#[test]
fn the_optional_cluster_role_grants_patch_on_namespaces_only() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../deploy/optional/rbac-apply-labels.yaml"
    ))
    .expect("deploy/optional/rbac-apply-labels.yaml");
    let docs: Vec<serde_json::Value> = text
        .split("\n---\n")
        .map(|d| serde_yaml_ng::from_str(d).expect("yaml"))
        .collect();
    let role = docs
        .iter()
        .find(|d| d["kind"] == "ClusterRole")
        .expect("a ClusterRole");
    assert_eq!(
        role["rules"],
        json!([{"apiGroups": [""], "resources": ["namespaces"], "verbs": ["patch"]}])
    );
    let binding = docs
        .iter()
        .find(|d| d["kind"] == "ClusterRoleBinding")
        .expect("a ClusterRoleBinding");
    assert_eq!(binding["roleRef"]["name"], role["metadata"]["name"]);
    // Not in deploy/ itself, so `kubectl apply -f deploy/` does not grant it.
    assert!(
        !std::path::Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../deploy/rbac-apply-labels.yaml"
        ))
        .exists()
    );
}

#[tokio::test]
async fn an_unreachable_api_server_is_reported_as_such() {
    CRYPTO.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
    // A port that was just free: nothing listens there any more.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    let options = Options {
        request_timeout: Duration::from_secs(5),
        retry: false,
        ..Options::default()
    };
    let url = format!("http://{addr}").parse().expect("url");
    let cluster = Cluster::from_config("prod", kube::Config::new(url), options).expect("cluster");
    let err = apply_labels(cluster.client(), "shop", Mode::Enforce, None)
        .await
        .expect_err("unreachable");
    assert_eq!(err.kind(), "unreachable", "{err}");
}

/// The whole path: `POST /api/v1/assignments` on a server with
/// `--allow-apply` and a live cluster patches the namespace's labels, says
/// so in its answer, and `DELETE` removes them.
#[tokio::test]
async fn assigning_through_the_api_patches_the_live_namespace() {
    use tower::ServiceExt;

    let (fake, cluster) = start(200).await;
    let db = db_with(&[]).await;
    let inv = crate::support::inventory(&[("shop.yaml", SHOP)]);
    let src = portcullis::store::snapshots::SnapshotSource {
        cluster: "prod".into(),
        source: "test".into(),
    };
    portcullis::store::snapshots::insert(&db.state.pool, &src, &inv, 1, portcullis::cli::level_of)
        .await
        .expect("snapshot of prod");
    let mut state = db.state.clone();
    state.live = Some(LiveCluster::new(cluster, state.pool.clone()));
    state.allow_apply = true;
    let app = portcullis::app(state);

    let post = axum::http::Request::post("/api/v1/assignments?cluster=prod")
        .header(header::CONTENT_TYPE, "application/json")
        .body(axum::body::Body::from(
            json!({"target": "namespace/shop", "profile": "baseline:v1.30", "mode": "warn"})
                .to_string(),
        ))
        .expect("request");
    let res = app.clone().oneshot(post).await.expect("answer");
    assert_eq!(res.status(), StatusCode::CREATED);
    let body: Value =
        serde_json::from_slice(&res.into_body().collect().await.expect("body").to_bytes())
            .expect("json");
    assert_eq!(body["cluster"]["result"], "patched", "{body}");
    let id = body["assignment"]["id"].as_i64().expect("id");

    let delete = axum::http::Request::delete(format!("/api/v1/assignments/{id}"))
        .body(axum::body::Body::empty())
        .expect("request");
    let res = app.oneshot(delete).await.expect("answer");
    assert_eq!(res.status(), StatusCode::OK);

    let s = seen(&fake);
    assert_eq!(s.len(), 2, "{s:?}");
    for x in &s {
        assert_eq!(
            (x.method.as_str(), x.path.as_str()),
            ("PATCH", "/api/v1/namespaces/shop")
        );
        assert_eq!(x.content_type, "application/merge-patch+json");
    }
    assert_eq!(
        s[0].body,
        json!({"metadata": {"labels": {
            "pod-security.kubernetes.io/warn": "baseline",
            "pod-security.kubernetes.io/warn-version": "v1.30"
        }}})
    );
    assert_eq!(
        s[1].body,
        json!({"metadata": {"labels": {
            "pod-security.kubernetes.io/warn": null,
            "pod-security.kubernetes.io/warn-version": null
        }}})
    );
}
