//! The policy advisor: the graph of the seed (checked against the connection
//! table of seed/README.md), of the real apps in ../shared/corpus/apps, the
//! what-if engine, and the JSON API.

use std::collections::BTreeSet;

use portcullis::advisor::graph::EdgeJson;
use portcullis::advisor::{Advisor, EXTERNAL, GraphJson};

use crate::common::shared_dir;

const SEED_README: &str = include_str!("../../../seed/README.md");

/// One row of the seed README's connection table.
#[derive(Debug)]
struct Row {
    from: String,
    to: String,
    port: i32,
    evidence: String,
    allowed: bool,
    policy: Option<String>,
}

fn unquote(s: &str) -> String {
    s.trim().trim_matches('`').to_owned()
}

fn seed_rows() -> Vec<Row> {
    let table = SEED_README
        .split("## Connections (for the graph)")
        .nth(1)
        .expect("README has the connection table");
    let mut rows = Vec::new();
    for line in table.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        // | from | to | pod port | via | evidence | NetworkPolicy |
        if cells.len() != 8 || !cells[1].starts_with('`') {
            continue;
        }
        let verdict = cells[6];
        let policy = verdict.split('`').nth(1).map(str::to_owned);
        rows.push(Row {
            from: unquote(cells[1]),
            to: unquote(cells[2]),
            port: cells[3].parse().expect("port"),
            evidence: unquote(cells[5]),
            allowed: !verdict.contains("DENIED"),
            policy,
        });
    }
    rows
}

fn seed_graph() -> (Advisor, GraphJson) {
    let inv = portcullis::ingest::seed::load();
    assert!(inv.errors.is_empty(), "{:?}", inv.errors);
    let advisor = Advisor::new(inv);
    let json = advisor.graph_json();
    (advisor, json)
}

fn find<'a>(g: &'a GraphJson, from: &str, to: &str, port: i32) -> Option<&'a EdgeJson> {
    g.edges
        .iter()
        .find(|e| e.from == from && e.to == to && e.port == port)
}

#[test]
fn seed_has_every_connection_of_the_readme_with_its_verdict() {
    let rows = seed_rows();
    assert_eq!(rows.len(), 56, "the README lists 56 connections");
    let (_, g) = seed_graph();
    let mut problems = Vec::new();
    for r in &rows {
        let Some(e) = find(&g, &r.from, &r.to, r.port) else {
            problems.push(format!("missing {} -> {}:{}", r.from, r.to, r.port));
            continue;
        };
        if !e.evidence.contains(&r.evidence) {
            problems.push(format!(
                "{} -> {}:{}: evidence {:?} lacks {:?}",
                r.from, r.to, r.port, e.evidence, r.evidence
            ));
        }
        if e.allowed != r.allowed || e.policy != r.policy {
            problems.push(format!(
                "{} -> {}:{}: verdict {} by {:?}, README says {} by {:?}",
                r.from, r.to, r.port, e.allowed, e.policy, r.allowed, r.policy
            ));
        }
        assert_eq!(e.protocol, "TCP");
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn seed_has_no_connection_the_readme_does_not_explain() {
    let rows = seed_rows();
    let (_, g) = seed_graph();
    let listed: BTreeSet<(String, String, i32)> = rows
        .iter()
        .map(|r| (r.from.clone(), r.to.clone(), r.port))
        .collect();
    let mut unexplained = Vec::new();
    for e in &g.edges {
        if listed.contains(&(e.from.clone(), e.to.clone(), e.port)) {
            continue;
        }
        // "Also present but not in the table": the LoadBalancer, host ports,
        // Prometheus scrapes and peers the policies declare, card-vault's wait
        // for the ledger.
        let explained = e.from == EXTERNAL
            || e.evidence
                .iter()
                .all(|ev| ev.starts_with("declared in networkPolicy"))
            || e.evidence
                .iter()
                .any(|ev| ev.contains("nc -z ledger.payments-secure.svc 5432"));
        if !explained {
            unexplained.push(format!(
                "{} -> {}:{} {:?}",
                e.from, e.to, e.port, e.evidence
            ));
        }
    }
    assert!(unexplained.is_empty(), "{}", unexplained.join("\n"));
    let denied: Vec<_> = g.edges.iter().filter(|e| !e.allowed).collect();
    assert_eq!(denied.len(), 1, "{denied:?}");
    assert_eq!(
        (
            denied[0].from.as_str(),
            denied[0].to.as_str(),
            denied[0].port
        ),
        (
            "shop/Deployment/shipping",
            "shop/StatefulSet/orders-queue",
            5672
        )
    );
}

#[test]
fn seed_traffic_from_outside() {
    let (_, g) = seed_graph();
    let e = find(&g, EXTERNAL, "shop/Deployment/storefront", 8080).expect("LoadBalancer edge");
    assert_eq!(
        e.evidence,
        [
            "service shop/storefront (LoadBalancer) port 80",
            "service shop/storefront (LoadBalancer) port 443"
        ]
    );
    assert!(e.allowed);
    assert_eq!(e.policy.as_deref(), Some("shop/storefront-ingress"));
    let node = g
        .nodes
        .iter()
        .find(|n| n.id == EXTERNAL)
        .expect("external node");
    assert_eq!(node.namespace, None);
    // The store tills reach pos-gateway on the node's port.
    assert!(find(&g, EXTERNAL, "legacy/Deployment/pos-gateway", 8443).is_some());
}

#[test]
fn seed_values_that_are_not_services_make_no_edges() {
    let (_, g) = seed_graph();
    for e in &g.edges {
        for ev in &e.evidence {
            for not in [
                "s3://",
                "api.stripe.com",
                "smtp.sendgrid.net",
                "RABBITMQ_NODENAME",
                "K8S_SERVICE_NAME",
            ] {
                assert!(!ev.contains(not), "{} -> {}: {ev}", e.from, e.to);
            }
        }
    }
    let card_vault = find(
        &g,
        "payments-secure/Deployment/card-vault",
        "payments-secure/StatefulSet/ledger",
        5432,
    )
    .expect("card-vault -> ledger");
    assert!(
        card_vault
            .evidence
            .iter()
            .any(|e| e.starts_with("command until nc -z ledger.payments-secure.svc 5432")),
        "{:?}",
        card_vault.evidence
    );
}

fn corpus(files: &[&str]) -> Option<GraphJson> {
    let dir = shared_dir("corpus/apps")?;
    let paths: Vec<_> = files.iter().map(|f| dir.join(f)).collect();
    let inv = portcullis::ingest::manifests::load_paths(&paths);
    assert!(inv.errors.is_empty(), "{:?}", inv.errors);
    Some(Advisor::new(inv).graph_json())
}

fn assert_edges(g: &GraphJson, want: &[(&str, &str, i32)]) {
    let missing: Vec<_> = want
        .iter()
        .filter(|(f, t, p)| find(g, f, t, *p).is_none())
        .collect();
    assert!(
        missing.is_empty(),
        "missing {missing:?}\nhave {:#?}",
        g.edges
            .iter()
            .map(|e| format!("{} -> {}:{}", e.from, e.to, e.port))
            .collect::<Vec<_>>()
    );
}

#[test]
fn online_boutique_connections() {
    let Some(g) = corpus(&[
        "online-boutique/kubernetes-manifests.yaml",
        "online-boutique/network-policies",
    ]) else {
        return;
    };
    let d = |n: &str| format!("default/Deployment/{n}");
    let want: Vec<(String, String, i32)> = [
        ("frontend", "cartservice", 7070),
        ("frontend", "productcatalogservice", 3550),
        ("frontend", "currencyservice", 7000),
        ("frontend", "recommendationservice", 8080),
        ("frontend", "shippingservice", 50051),
        ("frontend", "checkoutservice", 5050),
        ("frontend", "adservice", 9555),
        ("checkoutservice", "paymentservice", 50051),
        ("checkoutservice", "emailservice", 8080),
        ("checkoutservice", "cartservice", 7070),
        ("cartservice", "redis-cart", 6379),
        ("recommendationservice", "productcatalogservice", 3550),
        ("loadgenerator", "frontend", 8080),
    ]
    .iter()
    .map(|(f, t, p)| (d(f), d(t), *p))
    .collect();
    let want: Vec<(&str, &str, i32)> = want
        .iter()
        .map(|(f, t, p)| (f.as_str(), t.as_str(), *p))
        .collect();
    assert_edges(&g, &want);
    assert!(find(&g, EXTERNAL, "default/Deployment/frontend", 8080).is_some());
    // Every real connection is allowed by the app's own policies.
    let denied: Vec<_> = g.edges.iter().filter(|e| !e.allowed).collect();
    assert!(denied.is_empty(), "{denied:#?}");
    let e = find(&g, &d("frontend"), &d("cartservice"), 7070).expect("edge");
    assert!(
        e.evidence
            .contains(&"env CART_SERVICE_ADDR=cartservice:7070".to_owned())
    );
    assert_eq!(e.policy.as_deref(), Some("default/cartservice"));
}

#[test]
fn sock_shop_connections_from_its_policies() {
    let Some(g) = corpus(&[
        "sock-shop/complete-demo.yaml",
        "sock-shop/network-policies",
        "sock-shop/loadtest-dep.yaml",
    ]) else {
        return;
    };
    let d = |n: &str| format!("sock-shop/Deployment/{n}");
    let want: Vec<(String, String, i32)> = [
        ("front-end", "catalogue", 80),
        ("front-end", "orders", 80),
        ("front-end", "user", 80),
        ("orders", "payment", 80),
        ("orders", "shipping", 80),
        ("orders", "orders-db", 27017),
        ("catalogue", "catalogue-db", 3306),
        ("user", "user-db", 27017),
        ("shipping", "rabbitmq", 5672),
        ("queue-master", "rabbitmq", 5672),
    ]
    .iter()
    .map(|(f, t, p)| (d(f), d(t), *p))
    .collect();
    let mut want: Vec<(&str, &str, i32)> = want
        .iter()
        .map(|(f, t, p)| (f.as_str(), t.as_str(), *p))
        .collect();
    want.push((
        "loadtest/Deployment/load-test",
        "sock-shop/Deployment/front-end",
        8079,
    ));
    assert_edges(&g, &want);
    let user_db = find(&g, &d("user"), &d("user-db"), 27017).expect("edge");
    assert!(
        user_db
            .evidence
            .contains(&"env mongo=user-db:27017".to_owned()),
        "{:?}",
        user_db.evidence
    );
    assert!(
        find(&g, EXTERNAL, &d("front-end"), 8079).is_some(),
        "NodePort"
    );
    // Sock Shop's cart policies select `name: cart`, but the pods are labelled
    // `name: carts`: they select nothing, so they declare nothing either.
    assert!(find(&g, &d("front-end"), &d("carts"), 80).is_none());
    assert!(find(&g, &d("carts"), &d("carts-db"), 27017).is_none());
}

#[test]
fn bookinfo_database_connections() {
    let Some(g) = corpus(&[
        "bookinfo/bookinfo.yaml",
        "bookinfo/bookinfo-db.yaml",
        "bookinfo/bookinfo-mysql.yaml",
        "bookinfo/bookinfo-ratings-v2.yaml",
        "bookinfo/bookinfo-ratings-v2-mysql.yaml",
    ]) else {
        return;
    };
    let nodes: Vec<&str> = g.nodes.iter().map(|n| n.id.as_str()).collect();
    let ratings_mongo = nodes
        .iter()
        .find(|n| n.ends_with("/ratings-v2"))
        .expect("ratings-v2");
    let ratings_mysql = nodes
        .iter()
        .find(|n| n.ends_with("/ratings-v2-mysql"))
        .expect("ratings-v2-mysql");
    let mongodb = nodes
        .iter()
        .find(|n| n.contains("/mongodb"))
        .expect("mongodb");
    let mysqldb = nodes
        .iter()
        .find(|n| n.contains("/mysqldb"))
        .expect("mysqldb");
    assert_edges(
        &g,
        &[
            (ratings_mongo, mongodb, 27017),
            (ratings_mysql, mysqldb, 3306),
        ],
    );
    let e = find(&g, ratings_mysql, mysqldb, 3306).expect("edge");
    assert_eq!(e.evidence, ["env MYSQL_DB_HOST=mysqldb"]);
}

// ---------------------------------------------------------------------------------------------
// The JSON API

mod api {
    use axum::body::Body;
    use axum::http::{Request, StatusCode, header};
    use http_body_util::BodyExt;
    use serde_json::{Value, json};
    use tower::ServiceExt;

    use crate::support::db_with;

    pub async fn call(app: axum::Router, req: Request<Body>) -> (StatusCode, Value) {
        let resp = app.oneshot(req).await.expect("response");
        let status = resp.status();
        let ctype = resp
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = resp.into_body().collect().await.expect("body").to_bytes();
        let text = String::from_utf8_lossy(&body).into_owned();
        assert_eq!(
            ctype.as_deref(),
            Some("application/json"),
            "{status}: {text}"
        );
        (status, serde_json::from_str(&text).expect("json"))
    }

    pub async fn get(app: axum::Router, uri: &str) -> (StatusCode, Value) {
        call(app, Request::get(uri).body(Body::empty()).expect("request")).await
    }

    pub async fn seed_db() -> crate::support::TestDb {
        db_with(portcullis::embedded::SEED).await
    }

    #[tokio::test]
    async fn graph_of_the_seed() {
        let db = seed_db().await;
        let (status, body) = get(portcullis::app(db.state.clone()), "/api/v1/graph").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let nodes = body["nodes"].as_array().expect("nodes");
        assert_eq!(nodes.len(), 46, "45 workloads and external");
        assert!(nodes.contains(&json!({
            "id": "shop/Deployment/cart", "namespace": "shop", "kind": "Deployment", "name": "cart"
        })));
        let edges = body["edges"].as_array().expect("edges");
        let cart = edges
            .iter()
            .find(|e| e["from"] == "shop/Deployment/checkout" && e["to"] == "shop/Deployment/cart")
            .expect("checkout -> cart");
        assert_eq!(
            cart,
            &json!({
                "from": "shop/Deployment/checkout", "to": "shop/Deployment/cart", "port": 7070,
                "protocol": "TCP", "evidence": ["env CART_ADDR=cart:7070"], "allowed": true,
                "policy": null
            })
        );
        // Values from envFrom ConfigMaps survive the round trip through SQLite.
        assert!(
            edges
                .iter()
                .any(|e| e["from"] == "shop/Deployment/storefront"
                    && e["to"] == "shop/Deployment/checkout"
                    && e["policy"] == "shop/checkout-ingress")
        );
        let id = body["snapshot"].as_i64().expect("snapshot id");
        let (status, again) = get(
            portcullis::app(db.state.clone()),
            &format!("/api/v1/graph?snapshot={id}"),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(again, body);
    }

    #[tokio::test]
    async fn graph_of_a_missing_snapshot_is_a_json_404() {
        let db = seed_db().await;
        let (status, body) = get(
            portcullis::app(db.state.clone()),
            "/api/v1/graph?snapshot=999",
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(body["error"], "There is no snapshot 999.");
        let (status, _) = get(
            portcullis::app(db.state.clone()),
            "/api/v1/graph?cluster=test",
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        let (status, body) = get(
            portcullis::app(db.state.clone()),
            "/api/v1/graph?cluster=nope",
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    }
}

mod what_if_api {
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use serde_json::{Value, json};

    use super::api::{call, seed_db};

    async fn post(
        db: &crate::support::TestDb,
        body: &str,
        ctype: Option<&str>,
    ) -> (StatusCode, Value) {
        let mut req = Request::post("/api/v1/what-if");
        if let Some(c) = ctype {
            req = req.header("content-type", c);
        }
        call(
            portcullis::app(db.state.clone()),
            req.body(Body::from(body.to_owned())).expect("request"),
        )
        .await
    }

    async fn what_if(db: &crate::support::TestDb, changes: Value) -> Value {
        let (status, body) = post(
            db,
            &json!({ "changes": changes }).to_string(),
            Some("application/json"),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    fn ids(list: &Value, key: &str) -> Vec<String> {
        list.as_array()
            .expect("list")
            .iter()
            .map(|v| v[key].as_str().expect("string").to_owned())
            .collect()
    }

    #[tokio::test]
    async fn restricted_enforce_on_shop() {
        let db = seed_db().await;
        let body = what_if(
            &db,
            json!([{"assign": {"target": "namespace/shop", "profile": "restricted", "mode": "enforce"}}]),
        )
        .await;
        let blocked = ids(&body["blocked"], "workload");
        assert_eq!(blocked.len(), 12, "{blocked:?}");
        for ok in [
            "shop/Deployment/cart",
            "shop/Deployment/payments",
            "shop/CronJob/ingest-products",
        ] {
            assert!(!blocked.contains(&ok.to_owned()), "{ok} is restricted");
        }
        let catalog = body["blocked"]
            .as_array()
            .expect("blocked")
            .iter()
            .find(|b| b["workload"] == "shop/Deployment/catalog")
            .expect("catalog blocked");
        assert_eq!(catalog["mode"], "enforce");
        assert_eq!(catalog["profile"], "restricted:latest");
        let message = catalog["message"].as_str().expect("message");
        assert!(
            message.starts_with(
                "violates PodSecurity \"restricted:latest\": allowPrivilegeEscalation != false"
            ),
            "{message}"
        );
        let checks: Vec<&str> = catalog["violations"]
            .as_array()
            .expect("violations")
            .iter()
            .map(|v| v["check"].as_str().expect("check"))
            .collect();
        assert_eq!(
            checks,
            [
                "allowPrivilegeEscalation",
                "capabilities_restricted",
                "runAsNonRoot",
                "seccompProfile_restricted"
            ]
        );
        let containers: Vec<&str> = catalog["containers"]
            .as_array()
            .expect("containers")
            .iter()
            .map(|c| c["name"].as_str().expect("name"))
            .collect();
        assert!(
            containers.contains(&"migrate") && containers.contains(&"catalog"),
            "{containers:?}"
        );

        let broken = body["brokenConnections"].as_array().expect("broken");
        let find =
            |from: &str, to: &str| broken.iter().find(|b| b["from"] == from && b["to"] == to);
        let lb =
            find("external", "shop/Deployment/storefront").expect("LoadBalancer traffic breaks");
        assert_eq!(
            lb["cause"],
            "the destination would be rejected by restricted:latest (enforce)"
        );
        let out = find("shop/Deployment/storefront", "shop/Deployment/cart")
            .expect("storefront's calls break");
        assert_eq!(
            out["cause"],
            "the source would be rejected by restricted:latest (enforce)"
        );
        assert_eq!(
            (out["port"].as_i64(), out["protocol"].as_str()),
            (Some(7070), Some("TCP"))
        );
        // The already denied shipping -> orders-queue is not a new break.
        assert!(find("shop/Deployment/shipping", "shop/StatefulSet/orders-queue").is_none());

        // Downstream, transitively: grafana reads prometheus, which scrapes storefront.
        let downstream = body["downstream"].as_array().expect("downstream");
        let grafana = downstream
            .iter()
            .find(|d| d["workload"] == "monitoring/Deployment/grafana")
            .expect("grafana loses a dependency");
        assert_eq!(
            grafana["via"].as_array().expect("via").len(),
            2,
            "{grafana}"
        );
        assert_eq!(grafana["via"][0], "monitoring/StatefulSet/prometheus");
        assert!(
            downstream
                .iter()
                .any(|d| d["workload"] == "batch/CronJob/nightly-sales-rollup"
                    && d["via"] == json!(["shop/Deployment/orders"]))
        );
        assert!(
            !downstream
                .iter()
                .any(|d| blocked.contains(&d["workload"].as_str().unwrap_or("").to_owned()))
        );

        assert_eq!(body["before"]["rejected"], 0);
        assert_eq!(body["after"]["rejected"], 12);
        assert_eq!(body["before"]["denied"], 1);
        assert_eq!(body["after"]["denied"], 1);
        let broken_after = body["after"]["broken"].as_u64().expect("count");
        assert_eq!(broken_after, 1 + broken.len() as u64, "{body}");
        assert!(body["warnings"].as_array().expect("warnings").is_empty());
    }

    #[tokio::test]
    async fn warn_and_audit_warn_without_blocking() {
        let db = seed_db().await;
        let body = what_if(
            &db,
            json!([
                {"assign": {"target": "namespace/legacy", "profile": "baseline:v1.30", "mode": "warn"}},
                {"assign": {"target": "workload/legacy/Pod/debug-shell", "profile": "restricted", "mode": "audit"}}
            ]),
        )
        .await;
        assert!(body["blocked"].as_array().expect("blocked").is_empty());
        assert!(
            body["brokenConnections"]
                .as_array()
                .expect("broken")
                .is_empty()
        );
        let warnings = body["warnings"].as_array().expect("warnings");
        assert_eq!(
            warnings.iter().filter(|w| w["mode"] == "warn").count(),
            5,
            "{warnings:#?}"
        );
        let audit = warnings
            .iter()
            .find(|w| w["mode"] == "audit")
            .expect("audit entry");
        assert_eq!(audit["workload"], "legacy/Pod/debug-shell");
        assert!(
            audit["message"]
                .as_str()
                .expect("message")
                .starts_with("would violate PodSecurity \"restricted:latest\"")
        );
        assert_eq!(
            body["before"]["warned"], 15,
            "shop 12, monitoring 2, batch 1"
        );
        assert_eq!(body["after"]["warned"], 15 + 5);
        assert_eq!(
            body["after"]["audited"],
            body["before"]["audited"].as_u64().expect("n") + 1
        );
    }

    #[tokio::test]
    async fn a_default_deny_policy_breaks_connections() {
        let db = seed_db().await;
        let yaml = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: default-deny\n  namespace: shop\nspec:\n  podSelector: {}\n  policyTypes: [Ingress]\n";
        let body = what_if(&db, json!([{"networkPolicy": {"apply": yaml}}])).await;
        let broken = body["brokenConnections"].as_array().expect("broken");
        let cart = broken
            .iter()
            .find(|b| {
                b["from"] == "shop/Deployment/storefront" && b["to"] == "shop/Deployment/cart"
            })
            .expect("storefront -> cart breaks");
        assert_eq!(
            cart["cause"],
            "denied by NetworkPolicy shop/default-deny (ingress)"
        );
        // Connections other policies allow keep working.
        assert!(!broken.iter().any(|b| b["to"] == "shop/Deployment/catalog"));
        assert!(body["blocked"].as_array().expect("blocked").is_empty());
        assert!(body["after"]["denied"].as_u64() > body["before"]["denied"].as_u64());
    }

    #[tokio::test]
    async fn removing_an_allow_breaks_the_chain_downstream() {
        let db = seed_db().await;
        let body = what_if(
            &db,
            json!([{"networkPolicy": {"remove": "payments-secure/card-vault-from-shop-payments"}}]),
        )
        .await;
        let broken = body["brokenConnections"].as_array().expect("broken");
        assert_eq!(broken.len(), 1, "{broken:#?}");
        assert_eq!(broken[0]["from"], "shop/Deployment/payments");
        assert_eq!(
            broken[0]["cause"],
            "denied by NetworkPolicy payments-secure/default-deny-ingress (ingress)"
        );
        let downstream = body["downstream"].as_array().expect("downstream");
        let storefront = downstream
            .iter()
            .find(|d| d["workload"] == "shop/Deployment/storefront")
            .expect("storefront loses card-vault through checkout");
        assert_eq!(
            storefront["via"],
            json!([
                "shop/Deployment/checkout",
                "shop/Deployment/payments",
                "payments-secure/Deployment/card-vault"
            ])
        );
        // Removing the policy with the gap fixes shipping -> orders-queue.
        let body = what_if(
            &db,
            json!([{"networkPolicy": {"remove": "shop/orders-queue-ingress"}}]),
        )
        .await;
        assert_eq!(body["before"]["denied"], 1);
        assert_eq!(body["after"]["denied"], 0);
        assert!(
            body["brokenConnections"]
                .as_array()
                .expect("broken")
                .is_empty()
        );
    }

    #[tokio::test]
    async fn presets_and_custom_profiles() {
        use portcullis::policy::profiles::Profile;
        use portcullis::policy::pss::{Level, LevelVersion};
        let db = seed_db().await;
        let custom =
            Profile::level(LevelVersion::latest(Level::Baseline)).to_custom("legacy-floor");
        portcullis::store::profiles::insert(&db.state.pool, &custom, "test", 1)
            .await
            .expect("insert");
        let body = what_if(
            &db,
            json!([{"assign": {"target": "namespace/legacy", "profile": "legacy-floor", "mode": "enforce"}}]),
        )
        .await;
        let blocked = ids(&body["blocked"], "workload");
        assert_eq!(
            blocked.len(),
            5,
            "the five privileged legacy workloads: {blocked:?}"
        );
        assert!(body["blocked"][0]["profile"] == "legacy-floor", "{body}");

        let body = what_if(
            &db,
            json!([{"assign": {"target": "workload/payments-secure/Deployment/card-vault", "profile": "strict", "mode": "enforce"}}]),
        )
        .await;
        assert_eq!(body["after"]["workloads"], 45);

        let (status, body) = post(
            &db,
            &json!({"changes": [{"assign": {"target": "namespace/shop", "profile": "nobody", "mode": "warn"}}]}).to_string(),
            Some("application/json"),
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(body["field"], "changes[0].assign.profile");
        assert!(
            body["error"]
                .as_str()
                .expect("error")
                .contains("unknown profile \"nobody\""),
            "{body}"
        );
    }

    #[tokio::test]
    async fn no_changes_no_impact() {
        let db = seed_db().await;
        let body = what_if(&db, json!([])).await;
        assert_eq!(body["before"], body["after"]);
        assert_eq!(body["before"]["workloads"], 45);
        for key in ["blocked", "warnings", "brokenConnections", "downstream"] {
            assert_eq!(body[key], json!([]), "{key}");
        }
    }

    #[tokio::test]
    async fn bad_requests_name_the_field() {
        let db = seed_db().await;
        let (status, body) = post(&db, "{not json", Some("application/json")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(
            body["error"]
                .as_str()
                .expect("error")
                .starts_with("The body is not valid JSON"),
            "{body}"
        );

        let (status, body) = post(&db, r#"{"changes": []}"#, None).await;
        assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{body}");

        let cases: Vec<(Value, &str, &str)> = vec![
            (
                json!({"changes": [{"assign": {"target": "namespace/shop", "profile": "restricted", "mode": "block"}}]}),
                "changes[0].assign.mode",
                "unknown variant `block`",
            ),
            (
                json!({"changes": [{"assign": {"target": "namespace/nope", "profile": "restricted", "mode": "enforce"}}]}),
                "changes[0].assign.target",
                "no namespace",
            ),
            (
                json!({"changes": [{"assign": {"target": "workload/shop/Deployment/nope", "profile": "restricted", "mode": "enforce"}}]}),
                "changes[0].assign.target",
                "no workload",
            ),
            (
                json!({"changes": [{"assign": {"target": "namespace/shop", "profile": "restricted:v2", "mode": "enforce"}}]}),
                "changes[0].assign.profile",
                "invalid Pod Security version",
            ),
            (
                json!({"changes": [{"networkPolicy": {"apply": "kind: NetworkPolicy\napiVersion: networking.k8s.io/v1\nmetadata: {name: x}\nspec:\n  podSelector: [oops\n"}}]}),
                "changes[0].networkPolicy.apply",
                "does not parse (line",
            ),
            (
                json!({"changes": [{"networkPolicy": {"apply": "apiVersion: v1\nkind: Service\nmetadata: {name: x}\n"}}]}),
                "changes[0].networkPolicy.apply",
                "expected exactly one NetworkPolicy",
            ),
            (
                json!({"changes": [{"networkPolicy": {"remove": "shop/nope"}}]}),
                "changes[0].networkPolicy.remove",
                "no NetworkPolicy",
            ),
            (json!({"changes": [{}]}), "changes[0]", "exactly one of"),
            (json!({"change": []}), "change", "unknown field `change`"),
        ];
        for (req, field, words) in cases {
            let (status, body) = post(&db, &req.to_string(), Some("application/json")).await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{req}: {body}");
            assert_eq!(body["field"].as_str().unwrap_or(""), field, "{req}: {body}");
            let error = body["error"].as_str().expect("error");
            assert!(error.contains(words), "{req}: {error}");
        }
    }
}

mod page {
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    use super::api::seed_db;

    async fn send(db: &crate::support::TestDb, req: Request<Body>) -> (StatusCode, String) {
        let resp = portcullis::app(db.state.clone())
            .oneshot(req)
            .await
            .expect("response");
        let status = resp.status();
        let body = resp.into_body().collect().await.expect("body").to_bytes();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    fn form(body: &str, hx: bool) -> Request<Body> {
        let mut req =
            Request::post("/advisor").header("content-type", "application/x-www-form-urlencoded");
        if hx {
            req = req
                .header("HX-Request", "true")
                .header("HX-Target", "impact");
        }
        req.body(Body::from(body.to_owned())).expect("request")
    }

    #[tokio::test]
    async fn the_page_has_the_graph_the_form_and_a_table_of_connections() {
        let db = seed_db().await;
        let (status, html) = send(
            &db,
            Request::get("/advisor").body(Body::empty()).expect("req"),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            html.contains(r#"<a href="/advisor" aria-current="page">Advisor</a>"#),
            "nav"
        );
        assert!(html.contains(r#"data-graph-url="/api/v1/graph""#));
        assert!(html.contains(r#"<script src="/static/advisor.js" defer></script>"#));
        assert!(!html.contains("<script>"), "no inline script (CSP)");
        assert!(html.contains(r#"<option value="namespace/shop">namespace shop (enforces baseline:v1.33)</option>"#), "{html}");
        assert!(html.contains(r#"<option value="shop/orders-queue-ingress">"#));
        assert!(html.contains(r#"data-testid="connection-total">"#));
        // The one denied connection, readable without JavaScript.
        let (_, html) = send(
            &db,
            Request::get("/advisor?verdict=denied")
                .body(Body::empty())
                .expect("req"),
        )
        .await;
        assert!(
            html.contains("⊘ denied</span> by <code>shop/orders-queue-ingress</code>"),
            "{html}"
        );
    }

    #[tokio::test]
    async fn the_table_filters_and_pages_as_a_partial() {
        let db = seed_db().await;
        let req = Request::get("/advisor?verdict=denied")
            .header("HX-Request", "true")
            .header("HX-Target", "connections")
            .body(Body::empty())
            .expect("req");
        let (status, html) = send(&db, req).await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            html.trim_start().starts_with(r#"<div id="connections""#),
            "{html}"
        );
        assert!(
            html.contains(r#"data-testid="connection-total">1<"#),
            "{html}"
        );
        let (status, _) = send(
            &db,
            Request::get("/advisor?sort=nope")
                .body(Body::empty())
                .expect("req"),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let (_, html) = send(
            &db,
            Request::get("/advisor?page=2")
                .body(Body::empty())
                .expect("req"),
        )
        .await;
        assert!(html.contains("Page 2 of 2"), "{html}");
    }

    #[tokio::test]
    async fn preview_returns_the_impact_panel_or_the_page() {
        let db = seed_db().await;
        let (status, html) = send(
            &db,
            form(
                "target=namespace%2Fshop&profile=restricted%3Alatest&mode=enforce",
                true,
            ),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            html.trim_start().starts_with(r#"<section id="impact""#),
            "{html}"
        );
        assert!(html.contains(r#"data-testid="blocked""#));
        assert!(html.contains("shop/Deployment/catalog"));
        let data = html.split("data-blocked=\"").nth(1).expect("data-blocked");
        assert!(
            data.starts_with("[&#34;shop/"),
            "data attribute for the graph: {data}"
        );
        assert!(html.contains("✗ Broken connections"));
        assert!(html.contains("↯ Downstream"));

        let (status, html) = send(
            &db,
            form(
                "target=namespace%2Fshop&profile=restricted&mode=warn",
                false,
            ),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert!(html.contains("<html"), "without htmx: the whole page");
        assert!(html.contains(r#"data-testid="warnings""#));
        assert!(
            html.contains(r#"<input type="radio" name="mode" value="warn" checked>"#),
            "the form keeps its values"
        );
    }

    #[tokio::test]
    async fn preview_errors_show_at_the_form() {
        let db = seed_db().await;
        let (status, html) = send(&db, form("target=&apply=kind%3A+Nope", true)).await;
        assert_eq!(status, StatusCode::OK, "htmx swaps 2xx only");
        assert!(html.contains(r#"data-testid="impact-error""#), "{html}");
        assert!(
            html.contains("expected exactly one NetworkPolicy") || html.contains("does not parse"),
            "{html}"
        );
        let (status, html) = send(&db, form("mode=enforce", false)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(html.contains(r#"id="target-error""#), "{html}");
    }
}

mod flows_api {
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use serde_json::Value;

    use super::api::{call, get, seed_db};
    use crate::common::shared_dir;
    use crate::support::db_with;

    async fn post_flows(db: &crate::support::TestDb, body: &str) -> (StatusCode, Value) {
        let req = Request::post("/api/v1/flows")
            .header("content-type", "application/x-ndjson")
            .body(Body::from(body.to_owned()))
            .expect("request");
        call(portcullis::app(db.state.clone()), req).await
    }

    fn edge<'a>(g: &'a Value, from: &str, to: &str, port: i64) -> Option<&'a Value> {
        g["edges"]
            .as_array()
            .expect("edges")
            .iter()
            .find(|e| e["from"] == from && e["to"] == to && e["port"] == port)
    }

    /// Bookinfo names its upstreams in code, not in the manifests: observed
    /// flows are what shows productpage's calls.
    #[tokio::test]
    async fn bookinfo_calls_come_from_observed_flows() {
        let Some(dir) = shared_dir("corpus/apps/bookinfo") else {
            return;
        };
        let text = std::fs::read_to_string(dir.join("bookinfo.yaml")).expect("bookinfo");
        let db = db_with(&[("bookinfo.yaml", &text)]).await;
        let (_, before) = get(portcullis::app(db.state.clone()), "/api/v1/graph").await;
        assert_eq!(before["edges"].as_array().expect("edges").len(), 0);

        let flows = r#"{"source": "default/productpage-v1-6c8d9f-x1", "destination": "default/details-v1-7f8c-abcde", "port": 9080, "count": 40}
{"source": "default/productpage-v1-6c8d9f-x1", "destination": {"namespace": "default", "labels": {"app": "reviews", "version": "v2"}}, "port": 9080, "count": 13}
{"flow":{"verdict":"FORWARDED","l4":{"TCP":{"destination_port":9080}},"source":{"namespace":"default","labels":["k8s:app=reviews","k8s:version=v3"],"pod_name":"reviews-v3-5d6b-q"},"destination":{"namespace":"default","labels":["k8s:app=ratings","k8s:version=v1"],"pod_name":"ratings-v1-8d7c-r"},"Type":"L3_L4"}}
{"flow":{"verdict":"FORWARDED","l4":{"TCP":{"destination_port":80}},"source":{"namespace":"default","pod_name":"productpage-v1-6c8d9f-x1"},"destination":{"labels":["reserved:world"]},"Type":"L3_L4"}}
"#;
        let (status, body) = post_flows(&db, flows).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["read"], 4);
        assert_eq!(body["added"], 3);
        assert_eq!(
            body["unresolvedTotal"], 1,
            "the call to the outside is not an edge: {body}"
        );

        let (_, g) = get(portcullis::app(db.state.clone()), "/api/v1/graph").await;
        let details = edge(
            &g,
            "default/Deployment/productpage-v1",
            "default/Deployment/details-v1",
            9080,
        )
        .expect("productpage -> details");
        assert_eq!(
            details["evidence"],
            serde_json::json!(["observed 40 flows"])
        );
        assert!(
            edge(
                &g,
                "default/Deployment/productpage-v1",
                "default/Deployment/reviews-v2",
                9080
            )
            .is_some()
        );
        assert!(
            edge(
                &g,
                "default/Deployment/reviews-v3",
                "default/Deployment/ratings-v1",
                9080
            )
            .is_some()
        );

        // Flows add up; the what-if sees the observed edges too.
        let (_, _) = post_flows(&db, flows).await;
        let (_, g) = get(portcullis::app(db.state.clone()), "/api/v1/graph").await;
        let details = edge(
            &g,
            "default/Deployment/productpage-v1",
            "default/Deployment/details-v1",
            9080,
        )
        .expect("edge");
        assert_eq!(
            details["evidence"],
            serde_json::json!(["observed 80 flows"])
        );
    }

    #[tokio::test]
    async fn flows_confirm_the_seed_and_bad_input_is_named() {
        let db = seed_db().await;
        let flows = r#"{"source": "shop/Deployment/shipping", "destination": "shop/orders-queue-0", "port": 5672, "verdict": "dropped", "count": 3}"#;
        let (status, body) = post_flows(&db, flows).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(
            (body["added"].as_u64(), body["confirmed"].as_u64()),
            (Some(0), Some(1))
        );
        let (_, g) = get(portcullis::app(db.state.clone()), "/api/v1/graph").await;
        let e = edge(
            &g,
            "shop/Deployment/shipping",
            "shop/StatefulSet/orders-queue",
            5672,
        )
        .expect("edge");
        assert_eq!(
            e["evidence"],
            serde_json::json!([
                "env ORDER_EVENTS_URL=amqp://orders-queue.shop.svc:5672",
                "observed 3 flows (3 dropped)"
            ])
        );
        assert_eq!(e["allowed"], false);

        let (status, body) = post_flows(&db, "nonsense\n").await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            body["error"]
                .as_str()
                .expect("error")
                .starts_with("No flow could be read; line 1: not JSON"),
            "{body}"
        );
    }
}
