//! Alerts: the sync engine on a real SQLite file (dedup, resolve, acknowledge,
//! reopen, exemptions), the API and page through the router, and
//! notifications delivered over real HTTP to receivers on 127.0.0.1:0.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use portcullis::alerts::{self, SyncReport, notify};
use portcullis::policy::assignments::Mode;
use portcullis::store;
use portcullis::store::alerts::{AckError, Alert, AlertQuery, AlertState};
use portcullis::store::snapshots::SnapshotSource;
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::support::{SHOP, TestDb, db_with, inventory};

const T0: i64 = 1_700_000_000_000;
const CLUSTER: &str = "test";

/// `cart` fixed: it passes restricted.
const CART_FIXED: &str = r#"
apiVersion: v1
kind: Namespace
metadata:
  name: shop
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: cart
  namespace: shop
spec:
  selector:
    matchLabels: {app: cart}
  template:
    metadata:
      labels: {app: cart}
    spec:
      securityContext:
        runAsNonRoot: true
        runAsUser: 1000
        seccompProfile: {type: RuntimeDefault}
      containers:
      - name: cart
        image: ghcr.io/example/cart:1.1
        securityContext:
          allowPrivilegeEscalation: false
          capabilities: {drop: [ALL]}
"#;

/// SHOP without cart.
fn shop_without_cart() -> String {
    SHOP.split("\n---\n")
        .filter(|doc| !doc.contains("name: cart\n  namespace: shop\nspec:\n  replicas"))
        .collect::<Vec<_>>()
        .join("\n---\n")
}

async fn snapshot(db: &TestDb, files: &[(&str, &str)], taken_at: i64) -> i64 {
    let src = SnapshotSource {
        cluster: CLUSTER.into(),
        source: "test manifests".into(),
    };
    store::snapshots::insert(
        &db.state.pool,
        &src,
        &inventory(files),
        taken_at,
        portcullis::cli::level_of,
    )
    .await
    .expect("insert snapshot")
}

async fn assign(db: &TestDb, target: &str, mode: Mode, profile: &str) {
    store::assignments::assign(&db.state.pool, CLUSTER, target, mode, profile, "test", T0)
        .await
        .expect("assign");
    db.state.rules.reload(&db.state.pool).await.expect("reload");
}

async fn sync(db: &TestDb, snapshot: i64, now: i64) -> SyncReport {
    alerts::sync(&db.state.pool, db.state.rules.get(), CLUSTER, snapshot, now)
        .await
        .expect("sync")
}

async fn all_alerts(db: &TestDb) -> Vec<Alert> {
    let q = AlertQuery {
        limit: 10_000,
        sort: store::alerts::SortKey::FirstSeen,
        ..AlertQuery::default()
    };
    store::alerts::list(&db.state.pool, &q)
        .await
        .expect("list")
        .0
}

fn live(alerts: &[Alert]) -> Vec<&Alert> {
    alerts.iter().filter(|a| a.state != "resolved").collect()
}

/// What the policy core finds in `files` under the rules in force: the
/// expected alerts, as (workload, container, control, mode).
fn expected(db: &TestDb, files: &[(&str, &str)]) -> BTreeSet<(String, String, String, String)> {
    let inv = inventory(files);
    let rules = db.state.rules.get();
    let mut out = BTreeSet::new();
    for w in &inv.workloads {
        let labels = inv
            .namespaces
            .iter()
            .find(|n| n.name == w.key.namespace)
            .map(|n| &n.labels);
        for f in portcullis::policy::assignments::findings(
            &rules,
            CLUSTER,
            &w.key,
            &w.template,
            labels,
            T0,
        ) {
            out.insert((
                f.workload,
                f.container,
                f.control.slug().to_owned(),
                f.mode.as_str().to_owned(),
            ));
        }
    }
    out
}

fn keys(alerts: &[&Alert]) -> BTreeSet<(String, String, String, String)> {
    alerts
        .iter()
        .map(|a| {
            (
                a.workload.clone(),
                a.container.clone(),
                a.control.clone(),
                a.mode.clone(),
            )
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The engine

#[tokio::test]
async fn same_finding_in_two_snapshots_is_one_alert() {
    let db = db_with(&[("shop.yaml", SHOP)]).await;
    assign(&db, "namespace/shop", Mode::Enforce, "restricted").await;
    let want = expected(&db, &[("shop.yaml", SHOP)]);
    assert!(
        want.contains(&(
            "shop/Deployment/cart".into(),
            "cart".into(),
            "seccomp".into(),
            "enforce".into()
        )),
        "{want:?}"
    );

    let r1 = sync(&db, 1, T0).await;
    assert_eq!(r1.opened, want.len());
    assert_eq!((r1.updated, r1.resolved), (0, 0));
    let first = all_alerts(&db).await;
    assert_eq!(keys(&live(&first)), want);
    assert!(
        first
            .iter()
            .all(|a| a.state == "open" && a.namespace == "shop")
    );
    let seccomp = first
        .iter()
        .find(|a| a.container == "cart" && a.control == "seccomp")
        .expect("seccomp alert");
    assert_eq!(seccomp.severity, "medium");
    assert!(
        seccomp
            .message
            .starts_with("violates PodSecurity \"restricted:latest\": seccompProfile"),
        "{}",
        seccomp.message
    );

    let s2 = snapshot(&db, &[("shop.yaml", SHOP)], T0 + 60_000).await;
    let r2 = sync(&db, s2, T0 + 60_000).await;
    assert_eq!((r2.opened, r2.updated, r2.resolved), (0, want.len(), 0));
    let second = all_alerts(&db).await;
    assert_eq!(second.len(), first.len(), "no new rows");
    for (a, b) in first.iter().zip(&second) {
        assert_eq!(a.id, b.id);
        assert_eq!(b.first_seen, T0);
        assert_eq!(b.last_seen, T0 + 60_000);
        assert_eq!(b.last_snapshot, s2);
    }
}

#[tokio::test]
async fn alerts_resolve_when_the_workload_goes_or_complies() {
    let db = db_with(&[("shop.yaml", SHOP)]).await;
    assign(&db, "namespace/shop", Mode::Enforce, "restricted").await;
    sync(&db, 1, T0).await;
    let opened = all_alerts(&db).await.len();
    assert!(opened > 0);

    // cart gone: all its alerts resolve (only cart lives in shop).
    let without = shop_without_cart();
    let s2 = snapshot(&db, &[("shop.yaml", &without)], T0 + 1_000).await;
    let r = sync(&db, s2, T0 + 1_000).await;
    assert_eq!((r.opened, r.resolved), (0, opened));
    let after = all_alerts(&db).await;
    assert!(live(&after).is_empty());
    assert!(after.iter().all(|a| a.resolved_at == Some(T0 + 1_000)));

    // cart back and compliant: still nothing.
    let s3 = snapshot(
        &db,
        &[("shop.yaml", &without), ("cart.yaml", CART_FIXED)],
        T0 + 2_000,
    )
    .await;
    assert!(expected(&db, &[("cart.yaml", CART_FIXED)]).is_empty());
    let r = sync(&db, s3, T0 + 2_000).await;
    assert_eq!((r.opened, r.updated, r.resolved), (0, 0, 0));
}

#[tokio::test]
async fn a_compliant_workload_raises_nothing_in_any_mode() {
    let db = db_with(&[("shop.yaml", SHOP)]).await;
    for mode in Mode::ALL {
        assign(&db, "namespace/secure", mode, "restricted").await;
    }
    let r = sync(&db, 1, T0).await;
    assert_eq!(r, SyncReport::default());

    // cart in warn: alerts say "would violate".
    assign(&db, "namespace/shop", Mode::Warn, "restricted").await;
    let r = sync(&db, 1, T0).await;
    assert!(r.opened > 0);
    let list = all_alerts(&db).await;
    assert!(
        list.iter()
            .all(|a| a.mode == "warn" && a.message.starts_with("would violate PodSecurity"))
    );
}

#[tokio::test]
async fn acknowledged_stays_acknowledged_and_a_comeback_is_a_new_alert() {
    let db = db_with(&[("shop.yaml", SHOP)]).await;
    assign(&db, "namespace/shop", Mode::Enforce, "restricted").await;
    sync(&db, 1, T0).await;
    let first = all_alerts(&db).await;
    let id = first[0].id;
    let acked = store::alerts::acknowledge(&db.state.pool, id, "alice", T0 + 5)
        .await
        .expect("ack");
    assert_eq!(acked.state, "acknowledged");
    assert_eq!(acked.acknowledged_by.as_deref(), Some("alice"));

    let s2 = snapshot(&db, &[("shop.yaml", SHOP)], T0 + 10).await;
    sync(&db, s2, T0 + 10).await;
    let a = store::alerts::get(&db.state.pool, id)
        .await
        .expect("get")
        .expect("alert");
    assert_eq!((a.state.as_str(), a.last_seen), ("acknowledged", T0 + 10));

    // Gone, then back: the old one stays resolved, a new one opens.
    let s3 = snapshot(&db, &[("shop.yaml", &shop_without_cart())], T0 + 20).await;
    sync(&db, s3, T0 + 20).await;
    assert!(matches!(
        store::alerts::acknowledge(&db.state.pool, id, "alice", T0 + 21).await,
        Err(AckError::Resolved(_))
    ));
    assert!(matches!(
        store::alerts::acknowledge(&db.state.pool, 999_999, "alice", T0 + 21).await,
        Err(AckError::NotFound(999_999))
    ));
    let s4 = snapshot(&db, &[("shop.yaml", SHOP)], T0 + 30).await;
    let r = sync(&db, s4, T0 + 30).await;
    assert_eq!(r.opened, first.len());
    let all = all_alerts(&db).await;
    assert_eq!(all.len(), 2 * first.len());
    let old = all.iter().find(|a| a.id == id).expect("old");
    assert_eq!(old.state, "resolved");
    let again = all
        .iter()
        .find(|a| a.fingerprint == old.fingerprint && a.id != id)
        .expect("reopened");
    assert_eq!((again.state.as_str(), again.first_seen), ("open", T0 + 30));
}

#[tokio::test]
async fn an_exemption_or_a_removed_assignment_resolves() {
    let db = db_with(&[("shop.yaml", SHOP)]).await;
    assign(&db, "namespace/shop", Mode::Enforce, "restricted").await;
    sync(&db, 1, T0).await;
    let before = all_alerts(&db).await;
    let on_migrate = before.iter().filter(|a| a.container == "migrate").count();
    assert!(on_migrate > 0);

    let e = store::assignments::NewExemption {
        cluster: CLUSTER.into(),
        workload: "shop/Deployment/cart".into(),
        container: Some("migrate".into()),
        control: None,
        reason: "runs once".into(),
        owner: "team-shop".into(),
        expires_at: T0 + 86_400_000,
    };
    store::assignments::exempt(&db.state.pool, &e, "test", T0)
        .await
        .expect("exempt");
    db.state.rules.reload(&db.state.pool).await.expect("reload");
    let r = sync(&db, 1, T0 + 1).await;
    assert_eq!((r.opened, r.resolved), (0, on_migrate));
    assert!(
        live(&all_alerts(&db).await)
            .iter()
            .all(|a| a.container != "migrate")
    );

    store::assignments::unassign(
        &db.state.pool,
        CLUSTER,
        "namespace/shop",
        Mode::Enforce,
        "t",
        T0,
    )
    .await
    .expect("unassign");
    db.state.rules.reload(&db.state.pool).await.expect("reload");
    // shop is labelled enforce=baseline: cart runs as root, which baseline allows.
    let r = sync(&db, 1, T0 + 2).await;
    assert_eq!(r.resolved, before.len() - on_migrate);
    assert!(live(&all_alerts(&db).await).is_empty());
}

#[tokio::test]
async fn an_older_snapshot_is_not_synced() {
    let db = db_with(&[("shop.yaml", SHOP)]).await;
    assign(&db, "namespace/shop", Mode::Enforce, "restricted").await;
    snapshot(&db, &[("shop.yaml", SHOP)], T0).await;
    let r = sync(&db, 1, T0).await;
    assert!(r.stale);
    assert!(all_alerts(&db).await.is_empty());
}

#[tokio::test]
async fn the_watcher_syncs_when_the_rules_change() {
    let db = db_with(&[("shop.yaml", SHOP)]).await;
    let mut watcher = alerts::spawn_watcher(db.state.clone());
    store::assignments::assign(
        &db.state.pool,
        CLUSTER,
        "namespace/shop",
        Mode::Enforce,
        "restricted",
        "t",
        T0,
    )
    .await
    .expect("assign");
    let generation = db
        .state
        .rules
        .reload(&db.state.pool)
        .await
        .expect("reload")
        .generation;
    tokio::time::timeout(
        Duration::from_secs(10),
        watcher.synced.wait_for(|g| *g >= generation),
    )
    .await
    .expect("synced in time")
    .expect("watcher alive");
    assert!(!all_alerts(&db).await.is_empty());
    watcher.task.abort();
}

// ---------------------------------------------------------------------------------------------
// API and page

async fn call(
    app: axum::Router,
    method: &str,
    uri: &str,
    body: Option<Value>,
    hx: bool,
) -> (StatusCode, String, Option<String>) {
    let mut req = Request::builder().method(method).uri(uri);
    if hx {
        req = req.header("HX-Request", "true");
    }
    let body = match body {
        Some(v) => {
            req = req.header(header::CONTENT_TYPE, "application/json");
            Body::from(v.to_string())
        }
        None => Body::empty(),
    };
    let resp = app
        .oneshot(req.body(body).expect("request"))
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

async fn json_of(db: &TestDb, method: &str, uri: &str, body: Option<Value>) -> (StatusCode, Value) {
    let (status, text, _) = call(portcullis::app(db.state.clone()), method, uri, body, false).await;
    let v = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{uri}: {e}: {text}"));
    (status, v)
}

async fn shop_with_alerts() -> TestDb {
    let db = db_with(&[("shop.yaml", SHOP)]).await;
    assign(&db, "namespace/shop", Mode::Enforce, "restricted").await;
    assign(&db, "namespace/monitoring", Mode::Warn, "baseline").await;
    sync(&db, 1, T0).await;
    db
}

#[tokio::test]
async fn api_lists_and_filters_alerts() {
    let db = shop_with_alerts().await;
    let all = all_alerts(&db).await;
    let (status, v) = json_of(&db, "GET", "/api/v1/alerts", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["total"], all.len());
    let first = &v["alerts"][0];
    for k in [
        "id",
        "workload",
        "container",
        "control",
        "profile",
        "mode",
        "message",
        "state",
        "firstSeen",
        "lastSeen",
        "severity",
        "namespace",
        "cluster",
    ] {
        assert!(first.get(k).is_some(), "{k} missing: {first}");
    }
    assert_eq!(first["firstSeen"], "2023-11-14T22:13:20Z");

    let count = |f: &dyn Fn(&Alert) -> bool| all.iter().filter(|a| f(a)).count();
    for (q, n) in [
        (
            "namespace=monitoring",
            count(&|a| a.namespace == "monitoring"),
        ),
        ("severity=high", count(&|a| a.severity == "high")),
        ("control=seccomp", count(&|a| a.control == "seccomp")),
        ("mode=warn", count(&|a| a.mode == "warn")),
        (
            "workload=shop/Deployment/cart",
            count(&|a| a.workload == "shop/Deployment/cart"),
        ),
        ("cluster=test", all.len()),
        ("cluster=other", 0),
        ("state=open", all.len()),
        ("state=resolved", 0),
        ("state=open,acknowledged", all.len()),
        (
            "severity=high&namespace=shop",
            count(&|a| a.severity == "high" && a.namespace == "shop"),
        ),
    ] {
        let (status, v) = json_of(&db, "GET", &format!("/api/v1/alerts?{q}"), None).await;
        assert_eq!(status, StatusCode::OK, "{q}");
        assert_eq!(v["total"], n, "{q}");
        assert_eq!(
            v["alerts"].as_array().map(Vec::len),
            Some(n.min(100)),
            "{q}"
        );
    }
    assert!(count(&|a| a.severity == "high") > 0 && count(&|a| a.mode == "warn") > 0);

    let (_, v) = json_of(
        &db,
        "GET",
        "/api/v1/alerts?limit=2&offset=1&sort=workload",
        None,
    )
    .await;
    assert_eq!(v["alerts"].as_array().map(Vec::len), Some(2));
    assert_eq!(v["total"], all.len());

    for (q, field) in [
        ("severity=critical", "severity"),
        ("control=nope", "control"),
        ("state=closed", "state"),
        ("mode=dry-run", "mode"),
        ("limit=0", "limit"),
        ("limit=x", "limit"),
        ("offset=-1", "offset"),
        ("sort=colour", "sort"),
        ("dir=up", "dir"),
    ] {
        let (status, v) = json_of(&db, "GET", &format!("/api/v1/alerts?{q}"), None).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{q}");
        assert_eq!(v["field"], field, "{q}: {v}");
        assert!(
            v["error"].as_str().is_some_and(|e| e.contains(field)),
            "{v}"
        );
    }
}

#[tokio::test]
async fn api_acknowledges_and_says_why_not() {
    let db = shop_with_alerts().await;
    let id = all_alerts(&db).await[0].id;
    let (status, v) = json_of(
        &db,
        "POST",
        &format!("/api/v1/alerts/{id}/acknowledge"),
        Some(json!({"by": "alice"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(
        (v["state"].as_str(), v["acknowledgedBy"].as_str()),
        (Some("acknowledged"), Some("alice"))
    );

    let (status, v) = json_of(&db, "POST", "/api/v1/alerts/424242/acknowledge", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{v}");
    assert!(v["error"].is_string());
    let (status, _) = json_of(&db, "POST", "/api/v1/alerts/abc/acknowledge", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let s2 = snapshot(&db, &[("shop.yaml", &shop_without_cart())], T0 + 1).await;
    sync(&db, s2, T0 + 1).await;
    let resolved = all_alerts(&db)
        .await
        .into_iter()
        .find(|a| a.state == "resolved")
        .expect("a resolved alert");
    let (status, v) = json_of(
        &db,
        "POST",
        &format!("/api/v1/alerts/{}/acknowledge", resolved.id),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{v}");
    assert!(v["error"].as_str().is_some_and(|e| e.contains("resolved")));
}

#[tokio::test]
async fn alerts_page_full_partial_and_acknowledge() {
    let db = shop_with_alerts().await;
    let app = || portcullis::app(db.state.clone());
    let (status, page, _) = call(app(), "GET", "/alerts?severity=high", None, false).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("<h1>Alerts</h1>") && page.contains("<html"),
        "{page}"
    );
    assert!(page.contains(r#"id="alert-table""#));
    assert!(page.contains(r#"hx-trigger="every 5s""#));
    assert!(
        page.contains(r#"hx-get="/alerts?severity=high""#),
        "polling keeps the filters"
    );
    assert!(page.contains("▲ high") && !page.contains("● medium"));
    assert!(page.contains("● open"));
    assert!(page.contains("If switched to enforce today"));

    let (status, partial, _) = call(app(), "GET", "/alerts?severity=high", None, true).await;
    assert_eq!(status, StatusCode::OK);
    assert!(partial.starts_with(r#"<div id="alert-table""#), "{partial}");
    assert!(!partial.contains("<html") && !partial.contains("<h1>"));

    let (status, _, _) = call(app(), "GET", "/alerts?severity=urgent", None, false).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let id = all_alerts(&db).await[0].id;
    let req = Request::post(format!("/alerts/{id}/acknowledge"))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from("back=%2Falerts%3Fseverity%3Dhigh"))
        .expect("request");
    let resp = app().oneshot(req).await.expect("response");
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(resp.headers()[header::LOCATION], "/alerts?severity=high");

    let id2 = all_alerts(&db).await[1].id;
    let req = Request::post(format!("/alerts/{id2}/acknowledge"))
        .header("HX-Request", "true")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from("back=https%3A%2F%2Fevil.example"))
        .expect("request");
    let resp = app().oneshot(req).await.expect("response");
    assert_eq!(resp.status(), StatusCode::OK);
    let row = String::from_utf8_lossy(&resp.into_body().collect().await.expect("b").to_bytes())
        .into_owned();
    assert!(
        row.starts_with(&format!(r#"<tr id="alert-{id2}""#)),
        "{row}"
    );
    assert!(row.contains("◐ acknowledged") && row.contains("by dashboard"));
    assert!(!row.contains("evil.example"));
    let states: Vec<String> = all_alerts(&db).await.into_iter().map(|a| a.state).collect();
    assert_eq!(states.iter().filter(|s| *s == "acknowledged").count(), 2);

    // The default view keeps acknowledged alerts; state=open leaves them out.
    let (_, v) = json_of(&db, "GET", "/api/v1/alerts?state=open", None).await;
    assert_eq!(v["total"], states.len() - 2);

    let (_, overview, _) = call(app(), "GET", "/", None, false).await;
    assert!(
        overview.contains(&format!(
            r#"data-testid="count-open-alerts">{}<"#,
            states.len() - 2
        )),
        "{overview}"
    );
}

#[tokio::test]
async fn the_empty_alerts_page_says_what_to_do() {
    let db = db_with(&[("shop.yaml", SHOP)]).await;
    let (status, page, _) = call(
        portcullis::app(db.state.clone()),
        "GET",
        "/alerts",
        None,
        false,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("No alerts</strong>: assign a profile to a namespace on the"),
        "{page}"
    );
    assert!(page.contains("Namespaces page"));
}

#[tokio::test]
async fn digest_previews_enforce_for_warn_assignments() {
    let db = db_with(&[("shop.yaml", SHOP)]).await;
    assign(&db, "namespace/shop", Mode::Warn, "restricted").await;
    assign(&db, "namespace/secure", Mode::Audit, "restricted").await;
    assign(&db, "namespace/monitoring", Mode::Enforce, "baseline").await;
    let (status, v) = json_of(&db, "GET", "/api/v1/digest", None).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["total"], 2, "enforce assignments are not previewed: {v}");
    let entries = v["digest"].as_array().expect("entries");
    let shop = entries
        .iter()
        .find(|e| e["assignment"]["target"] == "namespace/shop")
        .expect("shop entry");
    assert_eq!(shop["assignment"]["mode"], "warn");
    let rejected = shop["rejected"].as_array().expect("rejected");
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0]["workload"], "shop/Deployment/cart");
    assert!(
        rejected[0]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("violates PodSecurity \"restricted:latest\"")),
        "{shop}"
    );
    assert!(shop["brokenConnections"].as_u64().is_some());
    let secure = entries
        .iter()
        .find(|e| e["assignment"]["target"] == "namespace/secure")
        .expect("secure entry");
    assert_eq!(secure["rejected"], json!([]));

    let (_, page, _) = call(
        portcullis::app(db.state.clone()),
        "GET",
        "/alerts",
        None,
        false,
    )
    .await;
    assert!(page.contains("1 workload would be rejected"), "{page}");
    assert!(page.contains("nothing would be rejected"));
}

#[tokio::test]
async fn notification_routes_api_and_page() {
    let db = db_with(&[("shop.yaml", SHOP)]).await;
    for (body, field) in [
        (json!({"name": "", "url": "http://x"}), "name"),
        (json!({"name": "a", "url": "ftp://x"}), "url"),
        (
            json!({"name": "a", "url": "http://x", "namespace": "Bad NS"}),
            "namespace",
        ),
        (
            json!({"name": "a", "url": "http://x", "selector": "a b=c"}),
            "selector",
        ),
        (
            json!({"name": "a", "url": "http://x", "minSeverity": "low"}),
            "minSeverity",
        ),
        (json!({"name": "a", "url": "http://x", "colour": "red"}), ""),
    ] {
        let (status, v) = json_of(
            &db,
            "POST",
            "/api/v1/notifications/routes",
            Some(body.clone()),
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {v}");
        if field.is_empty() {
            assert!(
                v["error"].as_str().is_some_and(|e| e.contains("colour")),
                "{v}"
            );
        } else {
            assert_eq!(v["field"], field, "{body}: {v}");
        }
    }
    let (status, v) = json_of(
        &db,
        "POST",
        "/api/v1/notifications/routes",
        Some(json!({"name": "payments", "url": "https://hooks.example/x", "namespace": "pay-*", "selector": "team=payments", "minSeverity": "high"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    let id = v["id"].as_i64().expect("id");
    let (_, list) = json_of(&db, "GET", "/api/v1/notifications/routes", None).await;
    assert_eq!(list["total"], 1);
    assert_eq!(list["routes"][0]["selector"], "team=payments");

    let (status, page, _) = call(
        portcullis::app(db.state.clone()),
        "GET",
        "/settings/notifications",
        None,
        false,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("payments") && page.contains("pay-*") && page.contains("high only"));

    let (status, _, _) = call(
        portcullis::app(db.state.clone()),
        "DELETE",
        &format!("/api/v1/notifications/routes/{id}"),
        None,
        false,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, v) = json_of(
        &db,
        "DELETE",
        &format!("/api/v1/notifications/routes/{id}"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{v}");
}

// ---------------------------------------------------------------------------------------------
// Deliveries over real HTTP

/// A receiver on 127.0.0.1:0 that answers `fail_first` requests with 500,
/// then 200, and passes every (content type, body) it gets to the channel.
async fn receiver(
    fail_first: usize,
) -> (
    String,
    tokio::sync::mpsc::UnboundedReceiver<(String, Value)>,
) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let seen = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(
            move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                let (tx, seen) = (tx.clone(), seen.clone());
                async move {
                    let n = seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let ctype = headers
                        .get(header::CONTENT_TYPE)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_owned();
                    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    let _ = tx.send((ctype, v));
                    if n < fail_first {
                        (StatusCode::INTERNAL_SERVER_ERROR, "try later")
                    } else {
                        (StatusCode::OK, "ok")
                    }
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}/hook"), rx)
}

const PAY: &str = r#"
apiVersion: v1
kind: Pod
metadata:
  name: payer
  namespace: pay
  labels: {team: payments}
spec:
  containers:
  - name: app
    image: example/pay:1
    securityContext: {privileged: true}
---
apiVersion: v1
kind: Pod
metadata:
  name: finder
  namespace: search
  labels: {team: search}
spec:
  containers:
  - name: app
    image: example/search:1
    securityContext: {privileged: true}
"#;

fn fast() -> notify::DeliveryConfig {
    notify::DeliveryConfig {
        base_delay: Duration::from_millis(20),
        max_attempts: 5,
        timeout: Duration::from_secs(10),
        poll: Duration::from_secs(1),
    }
}

async fn recv(rx: &mut tokio::sync::mpsc::UnboundedReceiver<(String, Value)>) -> (String, Value) {
    tokio::time::timeout(Duration::from_secs(20), rx.recv())
        .await
        .expect("a request in time")
        .expect("receiver alive")
}

async fn add_route(db: &TestDb, body: Value) {
    let (status, v) = json_of(db, "POST", "/api/v1/notifications/routes", Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
}

#[tokio::test]
async fn a_delivery_is_retried_until_it_gets_through() {
    let db = db_with(&[("pay.yaml", PAY)]).await;
    let (url, mut rx) = receiver(2).await;
    add_route(&db, json!({"name": "all", "url": url})).await;
    assign(&db, "namespace/pay", Mode::Enforce, "baseline").await;
    let r = sync(&db, 1, T0).await;
    assert_eq!((r.opened, r.queued), (1, 1));
    let alert = all_alerts(&db).await.remove(0);

    let mut deliverer = notify::spawn_deliverer(db.state.pool.clone(), fast());
    let expected = json!({
        "text": format!(
            "[high] Portcullis alert #{} in cluster test: pay/Pod/payer container \"app\" fails \"Privileged\" under baseline:latest (enforce): {}",
            alert.id, alert.message
        ),
        "alert": {
            "id": alert.id,
            "workload": "pay/Pod/payer",
            "container": "app",
            "control": "privileged",
            "profile": "baseline:latest",
            "mode": "enforce",
            "message": "violates PodSecurity \"baseline:latest\": privileged (container \"app\" must not set securityContext.privileged=true)",
            "state": "open",
            "firstSeen": "2023-11-14T22:13:20Z",
            "lastSeen": "2023-11-14T22:13:20Z",
            "severity": "high",
            "namespace": "pay",
            "cluster": "test",
            "acknowledgedBy": null,
            "acknowledgedAt": null,
            "resolvedAt": null,
        }
    });
    for _ in 0..3 {
        let (ctype, body) = recv(&mut rx).await;
        assert_eq!(ctype, "application/json");
        assert_eq!(body, expected);
    }
    tokio::time::timeout(
        Duration::from_secs(20),
        deliverer.attempts.wait_for(|n| *n >= 3),
    )
    .await
    .expect("recorded in time")
    .expect("deliverer alive");
    let d = store::notifications::recent(&db.state.pool, 10)
        .await
        .expect("deliveries");
    assert_eq!(d.len(), 1);
    assert_eq!((d[0].state.as_str(), d[0].attempts), ("delivered", 3));
    assert_eq!(d[0].last_error, None);
    assert!(rx.try_recv().is_err(), "no fourth request");
    deliverer.task.abort();
}

#[tokio::test]
async fn a_delivery_that_never_succeeds_is_marked_failed() {
    let db = db_with(&[("pay.yaml", PAY)]).await;
    let (url, mut rx) = receiver(usize::MAX).await;
    add_route(&db, json!({"name": "down", "url": url, "namespace": "pay"})).await;
    assign(&db, "namespace/pay", Mode::Enforce, "baseline").await;
    sync(&db, 1, T0).await;
    let config = notify::DeliveryConfig {
        max_attempts: 3,
        ..fast()
    };
    let mut deliverer = notify::spawn_deliverer(db.state.pool.clone(), config);
    tokio::time::timeout(
        Duration::from_secs(20),
        deliverer.attempts.wait_for(|n| *n >= 3),
    )
    .await
    .expect("attempted in time")
    .expect("deliverer alive");
    let d = store::notifications::recent(&db.state.pool, 10)
        .await
        .expect("deliveries");
    assert_eq!((d[0].state.as_str(), d[0].attempts), ("failed", 3));
    assert_eq!(
        d[0].last_error.as_deref(),
        Some("HTTP 500 Internal Server Error: try later")
    );
    for _ in 0..3 {
        recv(&mut rx).await;
    }
    let (_, page, _) = call(
        portcullis::app(db.state.clone()),
        "GET",
        "/settings/notifications",
        None,
        false,
    )
    .await;
    assert!(
        page.contains("✗ failed") && page.contains("HTTP 500 Internal Server Error: try later")
    );
    deliverer.task.abort();
}

#[tokio::test]
async fn each_route_gets_only_its_own_alerts() {
    let db = db_with(&[("pay.yaml", PAY)]).await;
    let (pay_url, mut pay_rx) = receiver(0).await;
    let (search_url, mut search_rx) = receiver(0).await;
    add_route(
        &db,
        json!({"name": "payments", "url": pay_url, "namespace": "pa*"}),
    )
    .await;
    add_route(
        &db,
        json!({"name": "search", "url": search_url, "selector": "team=search"}),
    )
    .await;
    add_route(
        &db,
        json!({"name": "none", "url": "http://127.0.0.1:9/never", "namespace": "nowhere"}),
    )
    .await;
    assign(&db, "cluster", Mode::Enforce, "baseline").await;
    let r = sync(&db, 1, T0).await;
    assert_eq!((r.opened, r.queued), (2, 2));

    let mut deliverer = notify::spawn_deliverer(db.state.pool.clone(), fast());
    let (_, pay) = recv(&mut pay_rx).await;
    let (_, search) = recv(&mut search_rx).await;
    assert_eq!(pay["alert"]["workload"], "pay/Pod/payer");
    assert_eq!(search["alert"]["workload"], "search/Pod/finder");
    tokio::time::timeout(
        Duration::from_secs(20),
        deliverer.attempts.wait_for(|n| *n >= 2),
    )
    .await
    .expect("recorded in time")
    .expect("deliverer alive");
    assert!(pay_rx.try_recv().is_err() && search_rx.try_recv().is_err());
    let d = store::notifications::recent(&db.state.pool, 10)
        .await
        .expect("deliveries");
    assert_eq!(d.len(), 2);
    assert!(d.iter().all(|d| d.state == "delivered"));
    deliverer.task.abort();
}

#[test]
fn states_parse() {
    for s in AlertState::ALL {
        assert_eq!(AlertState::parse(s.as_str()), Some(s));
    }
}

#[tokio::test]
async fn hostile_names_are_escaped_on_the_alerts_page() {
    let db = db_with(&[("hostile.yaml", crate::support::HOSTILE)]).await;
    assign(&db, "namespace/evil", Mode::Enforce, "restricted").await;
    assert!(sync(&db, 1, T0).await.opened > 0);
    let (status, page, _) = call(
        portcullis::app(db.state.clone()),
        "GET",
        "/alerts",
        None,
        false,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        !page.contains("<script>alert(1)") && !page.contains("c<b>"),
        "{page}"
    );
    assert!(
        page.contains("x&#60;script&#62;alert(1)") || page.contains("x&lt;script&gt;alert(1)"),
        "{page}"
    );
}
