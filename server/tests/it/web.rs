//! Router tests: `app(state).oneshot(request)` against a real SQLite file, and
//! one test over a real port.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use tower::ServiceExt;

use crate::support::{HOSTILE, SHOP, db_with};

async fn get(app: axum::Router, uri: &str, hx: bool) -> (StatusCode, String, Option<String>) {
    let mut req = Request::get(uri);
    if hx {
        req = req.header("HX-Request", "true");
    }
    let resp = app
        .oneshot(req.body(Body::empty()).expect("request"))
        .await
        .expect("response");
    let status = resp.status();
    let ctype = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = resp.into_body().collect().await.expect("body").to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned(), ctype)
}

async fn get_json(app: axum::Router, uri: &str) -> (StatusCode, serde_json::Value) {
    let (status, body, ctype) = get(app, uri, false).await;
    assert_eq!(ctype.as_deref(), Some("application/json"), "{uri}: {body}");
    (status, serde_json::from_str(&body).expect("json"))
}

#[tokio::test]
async fn overview_counts_and_flags() {
    let db = db_with(&[("shop.yaml", SHOP)]).await;
    let (status, body, _) = get(portcullis::app(db.state.clone()), "/", false).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        body.contains(r#"data-testid="count-workloads">3<"#),
        "{body}"
    );
    assert!(
        body.contains(r#"data-testid="count-namespaces">3<"#),
        "{body}"
    );
    // cart (2 containers) + agent + app
    assert!(
        body.contains(r#"data-testid="count-containers">4<"#),
        "{body}"
    );
    assert!(body.contains(r#"data-flag="privileged">1<"#), "{body}");
    assert!(body.contains(r#"data-flag="host-path">1<"#), "{body}");
}

#[tokio::test]
async fn workload_list_is_a_page_or_a_partial() {
    let db = db_with(&[("shop.yaml", SHOP)]).await;
    let (status, full, _) = get(portcullis::app(db.state.clone()), "/workloads", false).await;
    assert_eq!(status, StatusCode::OK);
    assert!(full.contains("<html"));
    assert!(full.contains("id=\"workload-table\""));
    let (status, partial, _) = get(portcullis::app(db.state.clone()), "/workloads", true).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!partial.contains("<html"), "htmx gets only the table");
    assert!(
        partial
            .trim_start()
            .starts_with("<div id=\"workload-table\"")
    );
}

#[tokio::test]
async fn workload_list_filters_sorts_and_pages() {
    let db = db_with(&[("shop.yaml", SHOP)]).await;
    let app = || portcullis::app(db.state.clone());
    let (_, body) = get_json(app(), "/api/v1/workloads?namespace=shop").await;
    assert_eq!(body["total"], 1);
    assert_eq!(body["workloads"][0]["id"], "shop/Deployment/cart");

    let (_, body) = get_json(app(), "/api/v1/workloads?flag=privileged").await;
    assert_eq!(body["total"], 1);
    assert_eq!(body["workloads"][0]["name"], "node-agent");

    let (_, body) = get_json(app(), "/api/v1/workloads?q=HARD").await;
    assert_eq!(body["workloads"][0]["name"], "hardened");

    let (_, body) = get_json(app(), "/api/v1/workloads?kind=Pod").await;
    assert_eq!(body["total"], 1);

    let (_, body) = get_json(app(), "/api/v1/workloads?sort=name&dir=desc").await;
    let names: Vec<&str> = body["workloads"]
        .as_array()
        .expect("array")
        .iter()
        .map(|w| w["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ["node-agent", "hardened", "cart"]);

    let (_, body) = get_json(app(), "/api/v1/workloads?sort=name&per_page=2&page=2").await;
    assert_eq!(body["total"], 3);
    assert_eq!(body["workloads"].as_array().map(Vec::len), Some(1));
    assert_eq!(body["workloads"][0]["name"], "node-agent");
}

#[tokio::test]
async fn bad_list_parameters_are_clear_errors() {
    let db = db_with(&[("shop.yaml", SHOP)]).await;
    for (uri, words) in [
        (
            "/api/v1/workloads?page=zero",
            "page must be a positive number",
        ),
        ("/api/v1/workloads?page=0", "page must be a positive number"),
        ("/api/v1/workloads?sort=colour", "sort must be one of"),
        ("/api/v1/workloads?flag=nope", "unknown risky setting"),
        (
            "/api/v1/workloads?snapshot=abc",
            "snapshot must be a number",
        ),
    ] {
        let (status, body) = get_json(portcullis::app(db.state.clone()), uri).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}");
        let msg = body["error"].as_str().expect("error text");
        assert!(msg.contains(words), "{uri}: {msg}");
    }
    let (status, body) = get_json(
        portcullis::app(db.state.clone()),
        "/api/v1/workloads?snapshot=99",
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"], "There is no snapshot 99.");
    // The page answers the same error as HTML.
    let (status, body, _) = get(
        portcullis::app(db.state.clone()),
        "/workloads?page=-1",
        false,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("page must be a positive number"));
}

#[tokio::test]
async fn workload_page_shows_the_grid_in_plain_words() {
    let db = db_with(&[("shop.yaml", SHOP)]).await;
    let (status, body, _) = get(
        portcullis::app(db.state.clone()),
        "/namespaces/shop/workloads/Deployment/cart",
        false,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    // Both containers, init first.
    let init = body
        .find("data-container=\"migrate\"")
        .expect("init column");
    let main = body
        .find("data-container=\"cart\"")
        .expect("container column");
    assert!(init < main);
    // All 16 controls.
    assert_eq!(body.matches("<tr data-control=").count(), 16);
    // runAsUser 0 on the pod: runs as root, from the pod.
    let users = &body[body.find("data-control=\"users\"").expect("users row")..];
    let users = &users[..users.find("</tr>").expect("row end")];
    assert!(users.contains("root"), "{users}");
    assert!(users.contains("from pod"), "{users}");
    assert!(users.contains("risk-risky"), "{users}");

    let (status, body, _) = get(
        portcullis::app(db.state.clone()),
        "/namespaces/shop/workloads/Deployment/missing",
        false,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body.contains("There is no workload shop/Deployment/missing"));
}

#[tokio::test]
async fn workload_json_has_effective_settings() {
    let db = db_with(&[("shop.yaml", SHOP)]).await;
    let (status, body) = get_json(
        portcullis::app(db.state.clone()),
        "/api/v1/workloads/monitoring/DaemonSet/node-agent",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["id"], "monitoring/DaemonSet/node-agent");
    let agent = &body["containers"][0];
    assert_eq!(agent["name"], "agent");
    let settings = agent["settings"].as_array().expect("settings");
    assert_eq!(settings.len(), 16);
    let privileged = settings
        .iter()
        .find(|s| s["control"] == "privileged")
        .expect("privileged cell");
    assert_eq!(privileged["risk"], "dangerous");
    assert_eq!(privileged["origin"], "container");
    let flags: Vec<&str> = agent["flags"]
        .as_array()
        .expect("flags")
        .iter()
        .filter_map(|f| f.as_str())
        .collect();
    for f in ["privileged", "host-namespaces", "host-network", "host-path"] {
        assert!(flags.contains(&f), "{f} missing from {flags:?}");
    }
}

#[tokio::test]
async fn namespaces_and_snapshots_api() {
    let db = db_with(&[("shop.yaml", SHOP)]).await;
    let (_, body) = get_json(portcullis::app(db.state.clone()), "/api/v1/namespaces").await;
    assert_eq!(body["total"], 3);
    let names: Vec<&str> = body["namespaces"]
        .as_array()
        .expect("array")
        .iter()
        .map(|n| n["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ["monitoring", "secure", "shop"]);
    assert_eq!(
        body["namespaces"][2]["labels"]["pod-security.kubernetes.io/enforce"],
        "baseline"
    );
    assert_eq!(body["namespaces"][2]["declared"], true);
    assert_eq!(body["namespaces"][0]["declared"], false);

    let (_, body) = get_json(portcullis::app(db.state.clone()), "/api/v1/snapshots").await;
    assert_eq!(body["total"], 1);
    assert_eq!(body["snapshots"][0]["workloads"], 3);
    assert_eq!(body["snapshots"][0]["cluster"], "test");
}

#[tokio::test]
async fn hostile_names_render_escaped() {
    let db = db_with(&[("evil.yaml", HOSTILE)]).await;
    let app = || portcullis::app(db.state.clone());
    let (_, list, _) = get(app(), "/workloads", false).await;
    assert!(!list.contains("<script>alert"), "list must escape names");
    assert!(
        list.contains("x&#60;script&#62;") || list.contains("x&lt;script&gt;"),
        "{list}"
    );
    let (status, page, _) = get(
        app(),
        "/namespaces/evil/workloads/Pod/x%3Cscript%3Ealert(1)%3C%2Fscript%3E",
        false,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(!page.contains("<script>alert"));
    assert!(!page.contains("<img src=x"));
    assert!(!page.contains("<b>"));
}

#[tokio::test]
async fn health_and_static_files() {
    let db = db_with(&[]).await;
    let (status, body, _) = get(portcullis::app(db.state.clone()), "/healthz", false).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "ok"));
    let (status, _, _) = get(portcullis::app(db.state.clone()), "/readyz", false).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body, ctype) = get(
        portcullis::app(db.state.clone()),
        "/static/htmx.min.js",
        false,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(ctype.is_some_and(|c| c.starts_with("text/javascript")));
    assert!(body.contains("htmx"));
    let (status, _, _) = get(
        portcullis::app(db.state.clone()),
        "/static/../Cargo.toml",
        false,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = get_json(portcullis::app(db.state.clone()), "/api/v1/nothing").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("/api/v1/nothing"))
    );
}

#[tokio::test]
async fn serves_on_a_real_port() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let db = db_with(&[("shop.yaml", SHOP)]).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(portcullis::serve(listener, db.state.clone(), async {
        let _ = stopped.await;
    }));
    let mut conn = tokio::net::TcpStream::connect(addr).await.expect("connect");
    conn.write_all(
        b"GET /api/v1/workloads?namespace=shop HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await
    .expect("write");
    let mut resp = String::new();
    conn.read_to_string(&mut resp).await.expect("read");
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert!(resp.contains("\"shop/Deployment/cart\""), "{resp}");
    let _ = stop.send(());
    server.await.expect("join").expect("serve");
}

#[tokio::test]
async fn pages_switch_between_clusters() {
    let db = db_with(&[("shop.yaml", SHOP)]).await;
    // A second, newer cluster in the same database.
    let other = crate::support::inventory(&[("evil.yaml", HOSTILE)]);
    let src = portcullis::store::snapshots::SnapshotSource {
        cluster: "prod".into(),
        source: "prod manifests".into(),
    };
    let prod = portcullis::store::snapshots::insert(
        &db.state.pool,
        &src,
        &other,
        1_800_000_000_000,
        portcullis::cli::level_of,
    )
    .await
    .expect("insert");
    let app = || portcullis::app(db.state.clone());

    // By default the newest snapshot of any cluster; ?cluster= picks one.
    let (_, body) = get_json(app(), "/api/v1/workloads").await;
    assert_eq!(body["snapshot"], prod);
    let (_, body) = get_json(app(), "/api/v1/workloads?cluster=test").await;
    assert_eq!(body["total"], 3);
    let (_, body) = get_json(app(), "/api/v1/namespaces?cluster=test").await;
    assert_eq!(body["total"], 3);

    // The overview offers both clusters and keeps the choice in its links.
    let (status, page, _) = get(app(), "/?cluster=test", false).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains(r#"<a href="/?cluster=prod">prod</a>"#),
        "{page}"
    );
    assert!(page.contains(r#"<strong aria-current="true">test</strong>"#));
    assert!(
        page.contains(r#"href="/workloads?snapshot=1""#),
        "nav keeps the snapshot"
    );
    assert!(page.contains(r#"data-testid="count-workloads">3<"#));

    let (status, body) = get_json(app(), "/api/v1/workloads?cluster=staging").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        body["error"],
        "There is no snapshot of cluster \"staging\"."
    );
}

#[tokio::test]
async fn workload_page_lists_its_connections() {
    let db = db_with(&[("shop.yaml", SHOP)]).await;
    let (status, cart, _) = get(
        portcullis::app(db.state.clone()),
        "/namespaces/shop/workloads/Deployment/cart",
        false,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let table = &cart[cart
        .find("data-testid=\"connections\"")
        .expect("connections table")..];
    assert!(table.contains("← called by"), "{table}");
    assert!(
        table.contains(r#"<a href="/namespaces/secure/workloads/Pod/hardened?snapshot=1">secure/Pod/hardened</a>"#),
        "{table}"
    );
    assert!(table.contains("7070/TCP"));
    assert!(table.contains("env CART_ADDR=cart.shop:7070"), "{table}");

    let (_, hardened, _) = get(
        portcullis::app(db.state.clone()),
        "/namespaces/secure/workloads/Pod/hardened",
        false,
    )
    .await;
    assert!(hardened.contains("calls →"));
    let (_, agent, _) = get(
        portcullis::app(db.state.clone()),
        "/namespaces/monitoring/workloads/DaemonSet/node-agent",
        false,
    )
    .await;
    assert!(agent.contains("No connections found"));
}

/// A client that never finishes its headers is disconnected (after
/// `HEADER_READ_TIMEOUT`), so slow clients cannot pile up connections.
#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_let_go() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let db = db_with(&[("shop.yaml", SHOP)]).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(portcullis::serve(listener, db.state.clone(), async {
        let _ = stopped.await;
    }));
    let mut conn = tokio::net::TcpStream::connect(addr).await.expect("connect");
    conn.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("write");
    let mut rest = Vec::new();
    let deadline = portcullis::HEADER_READ_TIMEOUT * 6;
    let read = tokio::time::timeout(deadline, conn.read_to_end(&mut rest)).await;
    assert!(read.is_ok(), "still connected after {deadline:?}");
    assert!(
        rest.is_empty() || String::from_utf8_lossy(&rest).starts_with("HTTP/1.1 408"),
        "{}",
        String::from_utf8_lossy(&rest)
    );
    // Meanwhile others are served as usual.
    let mut other = tokio::net::TcpStream::connect(addr).await.expect("connect");
    other
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .expect("write");
    let mut answer = String::new();
    other.read_to_string(&mut answer).await.expect("read");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let _ = stop.send(());
    server.await.expect("join").expect("serve");
}
