//! Namespace-scoped users (issue #9): a viewer limited to `shop` reads every
//! page and JSON answer without a trace of other namespaces; an unscoped
//! token still sees everything. Real SQLite file, the real router and its
//! sign-in middleware, API tokens in `Authorization: Bearer`.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use portcullis::admission::log::Decision;
use portcullis::auth::{Auth, Role, secret};
use portcullis::metrics::ReviewVerdict;
use portcullis::policy::assignments::Mode;
use portcullis::store;
use portcullis::store::snapshots::SnapshotSource;
use portcullis::store::users::NewUser;
use tower::ServiceExt;

use crate::support::{SHOP, TestDb, db_with, inventory};

/// Another team's namespace: a privileged workload that calls `cart` in
/// `shop` (a connection across namespaces).
const PAYMENTS: &str = r#"
apiVersion: v1
kind: Namespace
metadata:
  name: payments-zq
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: ledger-zq
  namespace: payments-zq
spec:
  selector:
    matchLabels: {app: ledger-zq}
  template:
    metadata:
      labels: {app: ledger-zq}
    spec:
      containers:
      - name: ledger-box-zq
        image: ghcr.io/example/ledger-zq:1.0
        env:
        - {name: CART_ADDR, value: "cart.shop:7070"}
        securityContext:
          privileged: true
"#;

/// Added in the second snapshot: one workload in each namespace.
const LATER: &str = r#"
apiVersion: v1
kind: Pod
metadata:
  name: basket
  namespace: shop
spec:
  containers:
  - name: basket
    image: ghcr.io/example/basket:1.0
---
apiVersion: v1
kind: Pod
metadata:
  name: vault-zq
  namespace: payments-zq
spec:
  containers:
  - name: vault
    image: ghcr.io/example/vault-zq:1.0
    securityContext:
      privileged: true
"#;

/// Names of the other namespaces and their workloads: none may appear in a
/// scoped user's answers (SHOP's `node-agent` is also a preset's name, so
/// its namespace stands for it).
const HIDDEN: [&str; 4] = ["payments-zq", "ledger-zq", "vault-zq", "monitoring"];

const T0: i64 = 1_700_000_000_000;

struct Fixture {
    db: TestDb,
    /// Viewer of `shop` only.
    scoped: String,
    /// Operator of `shop` only (what-if needs an operator).
    scoped_operator: String,
    /// Viewer of every namespace.
    everyone: String,
    first: i64,
    second: i64,
}

async fn token_for(db: &TestDb, user: &str, role: Role, namespaces: Option<Vec<String>>) -> String {
    let pool = &db.state.pool;
    store::users::add(
        pool,
        &NewUser {
            name: user.to_owned(),
            password_hash: None,
            role,
            namespaces,
        },
        "test",
        T0,
    )
    .await
    .expect("add user");
    let token = format!("tok-{user}-0123456789abcdef");
    store::users::add_token(pool, user, "test", &secret::hash(&token), None, "test", T0)
        .await
        .expect("add token");
    token
}

async fn fixture() -> Fixture {
    let mut db = db_with(&[("shop.yaml", SHOP), ("payments.yaml", PAYMENTS)]).await;
    let pool = db.state.pool.clone();
    let first = store::snapshots::latest(&pool)
        .await
        .expect("latest")
        .expect("a snapshot")
        .id;
    let inv = inventory(&[
        ("shop.yaml", SHOP),
        ("payments.yaml", PAYMENTS),
        ("later.yaml", LATER),
    ]);
    let src = SnapshotSource {
        cluster: "test".into(),
        source: "test manifests".into(),
    };
    let second = store::snapshots::insert(&pool, &src, &inv, T0 + 1000, portcullis::cli::level_of)
        .await
        .expect("second snapshot");
    // restricted everywhere: alerts in both namespaces; a warn assignment on
    // each namespace for the digest.
    store::assignments::assign(
        &pool,
        "test",
        "cluster",
        Mode::Enforce,
        "restricted",
        "t",
        T0,
    )
    .await
    .expect("assign");
    for ns in ["namespace/shop", "namespace/payments-zq"] {
        store::assignments::assign(&pool, "test", ns, Mode::Warn, "restricted", "t", T0)
            .await
            .expect("assign");
    }
    db.state.rules.reload(&pool).await.expect("reload");
    portcullis::alerts::sync(&pool, db.state.rules.get(), "test", second, T0 + 2000)
        .await
        .expect("alerts");
    let decision = |ns: &str, name: &str| Decision {
        at: T0,
        uid: format!("uid-{name}"),
        operation: "CREATE".into(),
        kind: "Pod".into(),
        namespace: ns.into(),
        name: name.into(),
        user: "kubectl".into(),
        verdict: ReviewVerdict::Denied,
        mode: Some(Mode::Enforce),
        profile: "restricted".into(),
        message: format!("{name} denied"),
        dry_run: false,
        cluster: "test".into(),
        subject: None,
    };
    store::admission::insert(
        &pool,
        &[
            decision("shop", "cart-admitted"),
            decision("payments-zq", "ledger-zq"),
        ],
        1000,
    )
    .await
    .expect("admission log");
    db.state.auth = Arc::new(Auth::required());
    let scoped = token_for(&db, "team-a", Role::Viewer, Some(vec!["shop".into()])).await;
    let scoped_operator =
        token_for(&db, "team-a-ops", Role::Operator, Some(vec!["shop".into()])).await;
    let everyone = token_for(&db, "auditor", Role::Viewer, None).await;
    Fixture {
        db,
        scoped,
        scoped_operator,
        everyone,
        first,
        second,
    }
}

async fn call(
    f: &Fixture,
    token: &str,
    method: &str,
    uri: &str,
    body: Option<&str>,
    hx: bool,
) -> (StatusCode, String) {
    let mut req = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::AUTHORIZATION, format!("Bearer {token}"));
    if hx {
        req = req.header("HX-Request", "true");
    }
    let req = match body {
        Some(b) => req
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(b.to_owned())),
        None => req.body(Body::empty()),
    }
    .expect("request");
    let res = portcullis::app(f.db.state.clone())
        .oneshot(req)
        .await
        .expect("response");
    let status = res.status();
    let bytes = res.into_body().collect().await.expect("body").to_bytes();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

/// The read paths, each with a name only shop's data puts there.
fn read_paths(f: &Fixture) -> Vec<(String, bool, &'static str)> {
    let (a, b) = (f.first, f.second);
    vec![
        ("/".into(), false, "shop"),
        ("/namespaces".into(), false, "shop"),
        ("/api/v1/namespaces".into(), false, "\"shop\""),
        ("/workloads".into(), false, "cart"),
        ("/workloads".into(), true, "cart"),
        ("/workloads?sort=risk&dir=desc".into(), false, "basket"),
        ("/api/v1/workloads".into(), false, "shop/Deployment/cart"),
        (
            "/namespaces/shop/workloads/Deployment/cart".into(),
            false,
            "cart",
        ),
        (
            "/api/v1/workloads/shop/Deployment/cart".into(),
            false,
            "shop/Deployment/cart",
        ),
        ("/alerts?state=all".into(), false, "shop/Deployment/cart"),
        ("/alerts?state=all".into(), true, "shop/Deployment/cart"),
        ("/api/v1/alerts".into(), false, "shop/Deployment/cart"),
        ("/api/v1/digest".into(), false, "shop/Deployment/cart"),
        ("/admission".into(), false, "cart-admitted"),
        ("/api/v1/admission".into(), false, "cart-admitted"),
        ("/advisor".into(), false, "shop/Deployment/cart"),
        ("/api/v1/graph".into(), false, "shop/Deployment/cart"),
        (format!("/snapshots/{a}/diff/{b}"), false, "basket"),
        (
            format!("/api/v1/snapshots/{a}/diff/{b}"),
            false,
            "shop/Pod/basket",
        ),
    ]
}

#[tokio::test]
async fn a_scoped_user_sees_only_their_namespaces_on_every_read_path() {
    let f = fixture().await;
    for (path, hx, mine) in read_paths(&f) {
        let (status, body) = call(&f, &f.scoped, "GET", &path, None, hx).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        assert!(
            body.contains(mine),
            "{path} (hx {hx}) lacks {mine:?}: {body}"
        );
        for hidden in HIDDEN {
            assert!(
                !body.contains(hidden),
                "{path} (hx {hx}) shows {hidden:?}: {body}"
            );
        }
    }
}

#[tokio::test]
async fn an_unscoped_token_still_sees_every_namespace() {
    let f = fixture().await;
    for (path, hx, mine) in read_paths(&f) {
        let (status, body) = call(&f, &f.everyone, "GET", &path, None, hx).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        assert!(body.contains(mine), "{path} lacks {mine:?}");
        // Pages that list workloads or namespaces name the other team's too.
        if !path.starts_with("/namespaces/shop") && !path.starts_with("/api/v1/workloads/") {
            assert!(
                body.contains("payments-zq"),
                "{path} (hx {hx}) hides payments-zq: {body}"
            );
        }
    }
}

#[tokio::test]
async fn out_of_scope_workloads_answer_exactly_as_missing_ones() {
    let f = fixture().await;
    for (real, missing) in [
        (
            "/namespaces/payments-zq/workloads/Deployment/ledger-zq",
            "/namespaces/payments-zq/workloads/Deployment/nothing",
        ),
        (
            "/api/v1/workloads/payments-zq/Deployment/ledger-zq",
            "/api/v1/workloads/payments-zq/Deployment/nothing",
        ),
    ] {
        let (s1, b1) = call(&f, &f.scoped, "GET", real, None, false).await;
        let (s2, b2) = call(&f, &f.scoped, "GET", missing, None, false).await;
        assert_eq!(s1, StatusCode::NOT_FOUND, "{real}");
        assert_eq!(s2, StatusCode::NOT_FOUND, "{missing}");
        assert_eq!(
            b1.replace("ledger-zq", "nothing"),
            b2,
            "{real} differs from a missing one"
        );
        // The unscoped token finds it.
        let (s3, _) = call(&f, &f.everyone, "GET", real, None, false).await;
        assert_eq!(s3, StatusCode::OK, "{real}");
    }
}

#[tokio::test]
async fn what_if_lists_only_in_scope_workloads_with_counts_that_agree() {
    let f = fixture().await;
    let change = r#"{"changes": [{"assign": {"target": "cluster", "profile": "privileged", "mode": "enforce"}}]}"#;
    let tighten = r#"{"changes": [{"assign": {"target": "cluster", "profile": "restricted:latest", "mode": "audit"}}]}"#;
    for body in [change, tighten] {
        let (status, text) = call(
            &f,
            &f.scoped_operator,
            "POST",
            "/api/v1/what-if",
            Some(body),
            false,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{text}");
        for hidden in HIDDEN {
            assert!(!text.contains(hidden), "what-if shows {hidden:?}: {text}");
        }
        let v: serde_json::Value = serde_json::from_str(&text).expect("json");
        // shop holds cart and basket in the newest snapshot.
        assert_eq!(v["before"]["workloads"], 2, "{v}");
        assert_eq!(v["after"]["workloads"], 2, "{v}");
        let rejected = v["after"]["rejected"].as_u64().unwrap_or(u64::MAX);
        assert!(rejected <= 2, "{v}");
        assert!(
            v["blocked"].as_array().is_some_and(|b| b.len() as u64 <= 2),
            "{v}"
        );
    }
    // The audit change reports shop's root-running cart, and shop's only.
    let (_, text) = call(
        &f,
        &f.scoped_operator,
        "POST",
        "/api/v1/what-if",
        Some(tighten),
        false,
    )
    .await;
    let v: serde_json::Value = serde_json::from_str(&text).expect("json");
    let warned: Vec<&str> = v["warnings"]
        .as_array()
        .map(|w| w.iter().filter_map(|x| x["workload"].as_str()).collect())
        .unwrap_or_default();
    assert!(warned.contains(&"shop/Deployment/cart"), "{v}");
    assert!(warned.iter().all(|w| w.starts_with("shop/")), "{v}");
}

#[tokio::test]
async fn the_graph_shows_connections_into_other_namespaces_without_their_names() {
    let f = fixture().await;
    let (_, text) = call(&f, &f.scoped, "GET", "/api/v1/graph", None, false).await;
    let v: serde_json::Value = serde_json::from_str(&text).expect("json");
    let edges = v["edges"].as_array().cloned().unwrap_or_default();
    assert!(
        edges
            .iter()
            .any(|e| e["from"] == "another namespace" && e["to"] == "shop/Deployment/cart"),
        "{v}"
    );
    let nodes: Vec<&str> = v["nodes"]
        .as_array()
        .map(|n| n.iter().filter_map(|x| x["id"].as_str()).collect())
        .unwrap_or_default();
    assert!(nodes.contains(&"another namespace"), "{v}");
    assert!(
        nodes
            .iter()
            .all(|n| n.starts_with("shop/") || *n == "another namespace" || *n == "external"),
        "{v}"
    );
    // Unscoped: the real caller.
    let (_, text) = call(&f, &f.everyone, "GET", "/api/v1/graph", None, false).await;
    assert!(
        text.contains("\"from\":\"payments-zq/Deployment/ledger-zq\""),
        "{text}"
    );
}

/// Settings, the audit log, assignments, exemptions and profile pages: only
/// entries about the user's namespaces (cluster-wide ones hidden); the metrics,
/// which name every namespace, refused.
#[tokio::test]
async fn settings_audit_and_profiles_show_only_the_users_namespaces() {
    let f = fixture().await;
    let paths = [
        ("/settings", "namespace shop"),
        ("/api/v1/audit", "namespace/shop"),
        ("/api/v1/assignments", "namespace/shop"),
        ("/api/v1/exemptions", "\"total\""),
        ("/profiles", "restricted"),
        ("/profiles/restricted", "restricted"),
        ("/api/v1/profiles/restricted", "restricted"),
        ("/api/v1/snapshots", "errorCount"),
    ];
    for (path, mine) in paths {
        let (status, body) = call(&f, &f.scoped, "GET", path, None, false).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        assert!(body.contains(mine), "{path} lacks {mine:?}: {body}");
        for hidden in HIDDEN {
            assert!(!body.contains(hidden), "{path} shows {hidden:?}: {body}");
        }
    }
    // The cluster-wide assignment is not among a scoped user's entries.
    let (_, body) = call(&f, &f.scoped, "GET", "/api/v1/assignments", None, false).await;
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["total"], 1, "{body}");
    let (_, body) = call(&f, &f.everyone, "GET", "/api/v1/assignments", None, false).await;
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["total"], 3, "{body}");
    for path in ["/settings", "/api/v1/audit"] {
        let (_, body) = call(&f, &f.everyone, "GET", path, None, false).await;
        assert!(body.contains("payments-zq"), "{path}: {body}");
    }
    let (status, _) = call(&f, &f.scoped, "GET", "/metrics", None, false).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = call(&f, &f.everyone, "GET", "/metrics", None, false).await;
    assert_eq!(status, StatusCode::OK);
}
