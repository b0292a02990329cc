//! Assignments, exemptions, the audit log and undo: the JSON API, the confirm
//! step, the pages, and the store's undo sequences, on a real SQLite file.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::support::{SHOP, TestDb, db_with};

struct Answer {
    status: StatusCode,
    location: Option<String>,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

async fn send(db: &TestDb, req: Request<Body>) -> Answer {
    let resp = portcullis::app(db.state.clone())
        .oneshot(req)
        .await
        .expect("response");
    let status = resp.status();
    let location = resp
        .headers()
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = resp.into_body().collect().await.expect("body").to_bytes();
    Answer {
        status,
        location,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

async fn get(db: &TestDb, uri: &str) -> Answer {
    send(db, Request::get(uri).body(Body::empty()).expect("request")).await
}

async fn json_req(db: &TestDb, method: &str, uri: &str, body: Value) -> Answer {
    send(
        db,
        Request::builder()
            .method(method)
            .uri(uri)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string()))
            .expect("request"),
    )
    .await
}

async fn delete(db: &TestDb, uri: &str) -> Answer {
    send(
        db,
        Request::delete(uri).body(Body::empty()).expect("request"),
    )
    .await
}

async fn form(db: &TestDb, uri: &str, pairs: &[(&str, &str)]) -> Answer {
    send(
        db,
        Request::post(uri)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(
                serde_urlencoded::to_string(pairs).expect("form"),
            ))
            .expect("request"),
    )
    .await
}

async fn assign(db: &TestDb, target: &str, profile: &str, mode: &str) -> Value {
    let a = json_req(
        db,
        "POST",
        "/api/v1/assignments",
        json!({ "target": target, "profile": profile, "mode": mode }),
    )
    .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
    a.json()
}

/// The current state's counts, as the what-if reports them.
async fn before(db: &TestDb) -> Value {
    let a = json_req(db, "POST", "/api/v1/what-if", json!({ "changes": [] })).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    a.json()["before"].clone()
}

fn error_field(a: &Answer) -> String {
    a.json()["field"].as_str().unwrap_or("").to_owned()
}

// ---------------------------------------------------------------------------------------------
// JSON: assignments

#[tokio::test]
async fn posting_an_assignment_previews_stores_and_takes_effect_at_once() {
    let db = db_with(&[("shop.yaml", SHOP)]).await;
    // shop enforces baseline by label; cart (runs as root) passes it.
    assert_eq!(before(&db).await["rejected"], 0);

    let answer = assign(&db, "namespace/shop", "restricted", "enforce").await;
    let a = &answer["assignment"];
    assert_eq!(a["cluster"], "test");
    assert_eq!(a["target"], "namespace/shop");
    assert_eq!(a["profile"], "restricted");
    assert_eq!(a["mode"], "enforce");
    assert_eq!(a["createdBy"], "anonymous");
    assert_eq!(a["resolved"], true);
    assert_eq!(answer["audit"]["action"], "assign");
    assert_eq!(answer["audit"]["before"], Value::Null);
    // The impact was computed before applying: cart is the one rejected.
    let impact = &answer["impact"];
    assert_eq!(impact["before"]["rejected"], 0);
    assert_eq!(impact["after"]["rejected"], 1);
    assert_eq!(impact["blocked"][0]["workload"], "shop/Deployment/cart");

    // No new snapshot: the what-if's current state and the pages follow.
    assert_eq!(before(&db).await["rejected"], 1);
    let list = get(&db, "/api/v1/assignments").await.json();
    assert_eq!(list["total"], 1);
    assert_eq!(list["assignments"][0]["id"], a["id"]);
    let page = get(&db, "/namespaces").await;
    assert!(
        page.body
            .contains("enforce: <strong>restricted:latest</strong> <span class=\"muted\" title=\"assigned to the namespace\">(assigned)"),
        "{}",
        page.body
    );

    // Filters.
    let none = get(&db, "/api/v1/assignments?mode=warn").await.json();
    assert_eq!(none["total"], 0);
    let one = get(
        &db,
        "/api/v1/assignments?cluster=test&target=namespace/shop",
    )
    .await
    .json();
    assert_eq!(one["total"], 1);
    let bad = get(&db, "/api/v1/assignments?mode=sometimes").await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_field(&bad), "mode");
}

#[tokio::test]
async fn bad_assignments_name_the_field() {
    let db = db_with(&[("shop.yaml", SHOP)]).await;
    let cases = [
        (
            json!({"target": "namespace/nope", "profile": "restricted", "mode": "enforce"}),
            "target",
        ),
        (
            json!({"target": "workload/shop/Deployment/nope", "profile": "restricted", "mode": "enforce"}),
            "target",
        ),
        (
            json!({"target": "everything", "profile": "restricted", "mode": "enforce"}),
            "target",
        ),
        (
            json!({"target": "namespace/shop", "profile": "nope", "mode": "enforce"}),
            "profile",
        ),
        (
            json!({"target": "namespace/shop", "profile": "restricted", "mode": "sometimes"}),
            "mode",
        ),
        (
            json!({"target": "namespace/shop", "profile": "restricted", "mode": "enforce", "cluster": "elsewhere"}),
            "cluster",
        ),
        (
            json!({"target": "namespace/shop", "profile": "restricted", "mode": "enforce", "extra": 1}),
            "",
        ),
    ];
    for (body, field) in cases {
        let a = json_req(&db, "POST", "/api/v1/assignments", body.clone()).await;
        assert_eq!(
            a.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {}",
            a.body
        );
        let j = a.json();
        assert!(j["error"].as_str().is_some_and(|e| !e.is_empty()), "{j}");
        if !field.is_empty() {
            assert_eq!(j["field"], field, "{body}: {j}");
        }
    }
    let not_json = send(
        &db,
        Request::post("/api/v1/assignments")
            .body(Body::from("target=x"))
            .expect("request"),
    )
    .await;
    assert_eq!(not_json.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(not_json.json()["error"].is_string());
    // Nothing was stored.
    assert_eq!(get(&db, "/api/v1/assignments").await.json()["total"], 0);
    assert_eq!(get(&db, "/api/v1/audit").await.json()["total"], 0);
}

#[tokio::test]
async fn workload_beats_namespace_beats_cluster_default() {
    let db = db_with(&[("shop.yaml", SHOP)]).await;
    // node-agent (privileged, host PID) has no profile at first.
    assert_eq!(before(&db).await["rejected"], 0);

    assign(&db, "cluster", "baseline", "enforce").await;
    let b = before(&db).await;
    assert_eq!(
        b["rejected"], 1,
        "the cluster default rejects node-agent: {b}"
    );
    let page = get(&db, "/namespaces/monitoring/workloads/DaemonSet/node-agent").await;
    assert!(page.body.contains("the cluster default"), "{}", page.body);

    assign(&db, "namespace/monitoring", "privileged", "enforce").await;
    assert_eq!(before(&db).await["rejected"], 0, "the namespace wins");

    assign(
        &db,
        "workload/monitoring/DaemonSet/node-agent",
        "restricted",
        "enforce",
    )
    .await;
    assert_eq!(before(&db).await["rejected"], 1, "the workload wins");
    let page = get(&db, "/namespaces/monitoring/workloads/DaemonSet/node-agent").await;
    assert!(
        page.body.contains("assigned to the workload"),
        "{}",
        page.body
    );

    // A namespace change previewed now does not override the workload's own assignment.
    let a = json_req(
        &db,
        "POST",
        "/api/v1/what-if",
        json!({"changes": [{"assign": {"target": "namespace/monitoring", "profile": "privileged", "mode": "enforce"}}]}),
    )
    .await
    .json();
    assert_eq!(a["after"]["rejected"], 1, "{a}");
    // And a cluster default previewed does not override either.
    let a = json_req(
        &db,
        "POST",
        "/api/v1/what-if",
        json!({"changes": [{"assign": {"target": "cluster", "profile": "restricted", "mode": "enforce"}}]}),
    )
    .await
    .json();
    // cart (shop: no assignment, falls to the default) is now rejected too; hardened passes.
    assert_eq!(a["after"]["rejected"], 2, "{a}");
    let blocked: Vec<&str> = a["blocked"]
        .as_array()
        .expect("blocked")
        .iter()
        .filter_map(|b| b["workload"].as_str())
        .collect();
    assert_eq!(blocked, ["shop/Deployment/cart"], "{a}");
}

#[tokio::test]
async fn deleting_assignments_by_id_and_by_target() {
    let db = db_with(&[("shop.yaml", SHOP)]).await;
    let a = assign(&db, "namespace/shop", "restricted", "enforce").await;
    let id = a["assignment"]["id"].as_i64().expect("id");
    let d = delete(&db, &format!("/api/v1/assignments/{id}")).await;
    assert_eq!(d.status, StatusCode::OK, "{}", d.body);
    assert_eq!(d.json()["audit"]["action"], "unassign");
    assert_eq!(before(&db).await["rejected"], 0);
    let again = delete(&db, &format!("/api/v1/assignments/{id}")).await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    assert!(again.json()["error"].is_string());
    assert_eq!(
        delete(&db, "/api/v1/assignments/abc").await.status,
        StatusCode::BAD_REQUEST
    );

    assign(&db, "namespace/shop", "restricted", "warn").await;
    let d = delete(&db, "/api/v1/assignments?target=namespace/shop&mode=warn").await;
    assert_eq!(d.status, StatusCode::OK, "{}", d.body);
    let d = delete(&db, "/api/v1/assignments?target=namespace/shop&mode=warn").await;
    assert_eq!(d.status, StatusCode::NOT_FOUND);
    let d = delete(&db, "/api/v1/assignments?target=namespace/shop").await;
    assert_eq!(d.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_field(&d), "mode");
}

// ---------------------------------------------------------------------------------------------
// JSON: exemptions

fn exemption(extra: Value) -> Value {
    let mut v = json!({
        "workload": "monitoring/DaemonSet/node-agent",
        "reason": "node agent needs the host",
        "owner": "team-x",
        "expiresAt": "2099-01-31",
    });
    if let (Some(v), Some(extra)) = (v.as_object_mut(), extra.as_object()) {
        for (k, x) in extra {
            if x.is_null() {
                v.remove(k);
            } else {
                v.insert(k.clone(), x.clone());
            }
        }
    }
    v
}

#[tokio::test]
async fn bad_exemptions_name_the_field() {
    let db = db_with(&[("shop.yaml", SHOP)]).await;
    let cases = [
        (json!({"reason": null}), "reason"),
        (json!({"reason": "  "}), "reason"),
        (json!({"owner": null}), "owner"),
        (json!({"expiresAt": null}), "expiresAt"),
        (json!({"expiresAt": "2020-01-31"}), "expiresAt"),
        (json!({"expiresAt": "next tuesday"}), "expiresAt"),
        (json!({"workload": "monitoring/DaemonSet/nope"}), "workload"),
        (json!({"container": "nope"}), "container"),
        (json!({"control": "everything"}), "control"),
    ];
    for (extra, field) in cases {
        let body = exemption(extra);
        let a = json_req(&db, "POST", "/api/v1/exemptions", body.clone()).await;
        assert_eq!(
            a.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {}",
            a.body
        );
        assert_eq!(error_field(&a), field, "{body}: {}", a.body);
    }
    assert_eq!(get(&db, "/api/v1/exemptions").await.json()["total"], 0);
}

#[tokio::test]
async fn exemptions_excuse_until_they_expire() {
    let db = db_with(&[("shop.yaml", SHOP)]).await;
    assign(&db, "namespace/monitoring", "baseline", "enforce").await;
    assert_eq!(before(&db).await["rejected"], 1);

    // Excusing privileged alone is not enough: host PID, host network and hostPath remain.
    let a = json_req(
        &db,
        "POST",
        "/api/v1/exemptions",
        exemption(json!({"control": "privileged", "container": "agent"})),
    )
    .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
    let j = a.json();
    assert_eq!(j["exemption"]["active"], true);
    assert_eq!(j["exemption"]["control"], "privileged");
    assert_eq!(j["audit"]["action"], "exempt");
    assert_eq!(before(&db).await["rejected"], 1);

    // The whole workload: admitted, and the workload page says why.
    let a = json_req(&db, "POST", "/api/v1/exemptions", exemption(json!({}))).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
    let whole = a.json()["exemption"]["id"].as_i64().expect("id");
    assert_eq!(before(&db).await["rejected"], 0);
    let page = get(&db, "/namespaces/monitoring/workloads/DaemonSet/node-agent").await;
    assert!(
        page.body
            .contains("the whole workload exempt until 2099-01-31 (owner team-x)"),
        "{}",
        page.body
    );
    // The verdict of every profile says so too.
    let baseline = page
        .body
        .split("data-profile=\"baseline\"")
        .nth(1)
        .and_then(|rest| rest.split("</li>").next())
        .expect("baseline verdict");
    assert!(baseline.contains("✓ allowed"), "{baseline}");
    assert!(
        baseline.contains("data-testid=\"verdict-exempt\""),
        "{baseline}"
    );

    // An expired exemption is listed as such and excuses nothing.
    let d = delete(&db, &format!("/api/v1/exemptions/{whole}")).await;
    assert_eq!(d.status, StatusCode::OK, "{}", d.body);
    assert_eq!(
        delete(&db, &format!("/api/v1/exemptions/{whole}"))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    portcullis::store::assignments::exempt(
        &db.state.pool,
        &portcullis::store::assignments::NewExemption {
            cluster: "test".into(),
            workload: "monitoring/DaemonSet/node-agent".into(),
            container: None,
            control: None,
            reason: "was needed".into(),
            owner: "team-y".into(),
            expires_at: 1_000,
        },
        "test",
        500,
    )
    .await
    .expect("exempt");
    db.state.rules.reload(&db.state.pool).await.expect("reload");
    assert_eq!(before(&db).await["rejected"], 1);
    let list = get(
        &db,
        "/api/v1/exemptions?workload=monitoring/DaemonSet/node-agent",
    )
    .await
    .json();
    assert_eq!(list["total"], 2, "{list}");
    let states: Vec<(String, bool)> = list["exemptions"]
        .as_array()
        .expect("list")
        .iter()
        .map(|e| {
            (
                e["owner"].as_str().unwrap_or("").to_owned(),
                e["active"] == true,
            )
        })
        .collect();
    assert!(states.contains(&("team-x".to_owned(), true)), "{list}");
    assert!(states.contains(&("team-y".to_owned(), false)), "{list}");
    let settings = get(&db, "/settings").await;
    assert!(settings.body.contains("expired"), "{}", settings.body);
}

// ---------------------------------------------------------------------------------------------
// JSON: the audit log and undo

#[tokio::test]
async fn audit_log_pages_and_undo_conflicts() {
    let db = db_with(&[("shop.yaml", SHOP)]).await;
    let first = assign(&db, "namespace/shop", "restricted", "enforce").await;
    assign(&db, "namespace/shop", "baseline", "enforce").await;
    assign(&db, "namespace/secure", "restricted", "audit").await;

    let log = get(&db, "/api/v1/audit?perPage=2").await.json();
    assert_eq!(log["total"], 3);
    let entries = log["audit"].as_array().expect("audit");
    assert_eq!(entries.len(), 2);
    assert!(
        entries[0]["id"].as_i64() > entries[1]["id"].as_i64(),
        "newest first: {log}"
    );
    assert_eq!(
        entries[1]["summary"],
        "Assigned baseline (enforce) to namespace shop, replacing restricted (enforce)"
    );
    let page2 = get(&db, "/api/v1/audit?perPage=2&page=2").await.json();
    assert_eq!(page2["audit"].as_array().map(Vec::len), Some(1));
    assert_eq!(
        get(&db, "/api/v1/audit?page=0").await.status,
        StatusCode::BAD_REQUEST
    );

    // The older change to shop was overwritten: 409 with the store's words.
    let older = first["audit"]["id"].as_i64().expect("id");
    let u = json_req(
        &db,
        "POST",
        &format!("/api/v1/audit/{older}/undo"),
        json!({}),
    )
    .await;
    assert_eq!(u.status, StatusCode::CONFLICT, "{}", u.body);
    assert!(
        u.json()["error"]
            .as_str()
            .is_some_and(|e| e.contains("changed after")),
        "{}",
        u.body
    );

    let newest = entries[1]["id"].as_i64().expect("id");
    let u = json_req(
        &db,
        "POST",
        &format!("/api/v1/audit/{newest}/undo"),
        json!({}),
    )
    .await;
    assert_eq!(u.status, StatusCode::OK, "{}", u.body);
    assert_eq!(u.json()["audit"]["action"], "undo");
    let now = get(&db, "/api/v1/assignments?target=namespace/shop")
        .await
        .json();
    assert_eq!(now["assignments"][0]["profile"], "restricted");

    let again = json_req(
        &db,
        "POST",
        &format!("/api/v1/audit/{newest}/undo"),
        json!({}),
    )
    .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert!(
        again.json()["error"]
            .as_str()
            .is_some_and(|e| e.contains("already undone"))
    );
    let missing = json_req(&db, "POST", "/api/v1/audit/999/undo", json!({})).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn store_undo_sequences() {
    use portcullis::policy::assignments::Mode;
    use portcullis::store::assignments::{self as s, ChangeError};
    let db = db_with(&[("shop.yaml", SHOP)]).await;
    let pool = &db.state.pool;
    let current = || async {
        s::list(pool)
            .await
            .expect("list")
            .into_iter()
            .find(|a| a.target == "namespace/shop")
            .map(|a| a.profile)
    };
    let a = s::assign(
        pool,
        "test",
        "namespace/shop",
        Mode::Enforce,
        "restricted",
        "u",
        1,
    )
    .await
    .expect("assign")
    .expect("entry");
    // Setting what is already set logs nothing.
    assert!(
        s::assign(
            pool,
            "test",
            "namespace/shop",
            Mode::Enforce,
            "restricted",
            "u",
            2
        )
        .await
        .expect("assign")
        .is_none()
    );
    let b = s::assign(
        pool,
        "test",
        "namespace/shop",
        Mode::Enforce,
        "baseline",
        "u",
        3,
    )
    .await
    .expect("reassign")
    .expect("entry");
    assert_eq!(
        b.before,
        Some(json!({"profile": "restricted", "mode": "enforce"}))
    );

    assert!(matches!(
        s::undo(pool, a.id, "u", 4).await,
        Err(ChangeError::Changed(_, id)) if id == a.id
    ));
    assert_eq!(current().await.as_deref(), Some("baseline"));

    let undo_b = s::undo(pool, b.id, "u", 5).await.expect("undo newest");
    assert_eq!(
        current().await.as_deref(),
        Some("restricted"),
        "previous restored"
    );
    assert!(matches!(
        s::undo(pool, b.id, "u", 6).await,
        Err(ChangeError::AlreadyUndone(_))
    ));

    s::undo(pool, undo_b.id, "u", 7)
        .await
        .expect("undo the undo");
    assert_eq!(current().await.as_deref(), Some("baseline"));

    // Undo of the first assignment, once the later ones are undone: nothing assigned.
    let log = s::audit_log(pool, 100, 0).await.expect("log");
    assert_eq!(log.len(), 4);
    assert_eq!(log[0].undo_of, Some(undo_b.id));
    let redo = log[0].id;
    s::undo(pool, redo, "u", 8).await.expect("undo the redo");
    assert_eq!(current().await.as_deref(), Some("restricted"));
    s::undo(pool, a.id, "u", 9).await.expect("undo the first");
    assert_eq!(current().await, None);
}

// ---------------------------------------------------------------------------------------------
// Pages

#[tokio::test]
async fn confirm_step_previews_applies_and_undoes() {
    let db = db_with(&[("shop.yaml", SHOP)]).await;
    let c = get(
        &db,
        "/assign?target=namespace/shop&profile=restricted&mode=enforce&back=/namespaces",
    )
    .await;
    assert_eq!(c.status, StatusCode::OK, "{}", c.body);
    assert!(
        c.body.contains("shop/Deployment/cart"),
        "the impact lists cart: {}",
        c.body
    );
    assert!(c.body.contains("nothing: no assignment yet"), "{}", c.body);
    assert!(
        c.body.contains("baseline:latest — the namespace"),
        "{}",
        c.body
    );
    assert!(c.body.contains(r#"action="/assign""#));
    // Nothing applied by the preview.
    assert_eq!(get(&db, "/api/v1/assignments").await.json()["total"], 0);

    let bad = get(
        &db,
        "/assign?target=namespace/shop&profile=nope&mode=enforce",
    )
    .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        bad.body.contains("data-testid=\"assign-error\""),
        "{}",
        bad.body
    );

    let applied = form(
        &db,
        "/assign",
        &[
            ("target", "namespace/shop"),
            ("profile", "restricted"),
            ("mode", "enforce"),
            ("back", "/namespaces?applied=77"),
        ],
    )
    .await;
    assert_eq!(applied.status, StatusCode::SEE_OTHER, "{}", applied.body);
    let to = applied.location.expect("location");
    assert!(to.starts_with("/namespaces?applied="), "{to}");
    let page = get(&db, &to).await;
    assert!(
        page.body
            .contains("Assigned restricted (enforce) to namespace shop"),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("data-testid=\"notice-undo\""),
        "{}",
        page.body
    );
    let id: i64 = to
        .rsplit('=')
        .next()
        .and_then(|s| s.parse().ok())
        .expect("id");

    // Undo from the notice, then again: the reason in place on Settings.
    let undone = form(
        &db,
        &format!("/audit/{id}/undo"),
        &[("back", "/namespaces")],
    )
    .await;
    assert_eq!(undone.status, StatusCode::SEE_OTHER);
    assert_eq!(get(&db, "/api/v1/assignments").await.json()["total"], 0);
    let again = form(
        &db,
        &format!("/audit/{id}/undo"),
        &[("back", "/namespaces")],
    )
    .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert!(
        again.body.contains("data-testid=\"undo-error\""),
        "{}",
        again.body
    );
    assert!(again.body.contains("already undone"), "{}", again.body);

    // Off-site `back` is ignored.
    let a = form(
        &db,
        "/assign",
        &[
            ("target", "namespace/shop"),
            ("profile", "baseline"),
            ("mode", "warn"),
            ("back", "//evil.example/x"),
        ],
    )
    .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    assert!(
        a.location
            .as_deref()
            .is_some_and(|l| l.starts_with("/namespaces?applied=")),
        "{:?}",
        a.location
    );

    // A bad form answers on the confirm page, nothing stored.
    let a = form(
        &db,
        "/assign",
        &[
            ("target", "namespace/nope"),
            ("profile", "restricted"),
            ("mode", "enforce"),
        ],
    )
    .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(a.body.contains("no namespace"), "{}", a.body);
}

#[tokio::test]
async fn settings_lists_defaults_exemptions_and_the_audit_log_escaped() {
    let db = db_with(&[("shop.yaml", SHOP)]).await;
    assign(&db, "cluster", "baseline", "warn").await;
    let a = json_req(
        &db,
        "POST",
        "/api/v1/exemptions",
        exemption(json!({"reason": "<script>alert(1)</script>"})),
    )
    .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
    let s = get(&db, "/settings").await;
    assert_eq!(s.status, StatusCode::OK);
    assert!(!s.body.contains("<script>alert(1)"), "{}", s.body);
    assert!(s.body.contains("&#60;script&#62;alert(1)"), "{}", s.body);
    assert!(s.body.contains("/settings/notifications"));
    assert!(
        s.body
            .contains("Assigned baseline (warn) to the cluster default"),
        "{}",
        s.body
    );
    assert!(s.body.contains("data-testid=\"undo\""), "{}", s.body);
    assert!(s.body.contains("⚠ active"), "{}", s.body);
}

#[tokio::test]
async fn exemption_form_errors_show_on_the_workload_page() {
    let db = db_with(&[("shop.yaml", SHOP)]).await;
    let a = form(
        &db,
        "/exemptions",
        &[
            ("workload", "monitoring/DaemonSet/node-agent"),
            ("control", "privileged"),
            ("reason", ""),
            ("owner", "team-x"),
            ("expires", "2099-01-31"),
        ],
    )
    .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(a.body.contains("reason: say why"), "{}", a.body);
    assert!(
        a.body.contains("value=\"team-x\""),
        "the form keeps its values: {}",
        a.body
    );

    let a = form(
        &db,
        "/exemptions",
        &[
            ("workload", "monitoring/DaemonSet/node-agent"),
            ("control", "privileged"),
            ("reason", "needs the host"),
            ("owner", "team-x"),
            ("expires", "2099-01-31"),
            (
                "back",
                "/namespaces/monitoring/workloads/DaemonSet/node-agent",
            ),
        ],
    )
    .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    let page = get(&db, a.location.as_deref().expect("location")).await;
    assert!(
        page.body
            .contains("Added an exemption of monitoring/DaemonSet/node-agent"),
        "{}",
        page.body
    );
}

#[tokio::test]
async fn advisor_preview_offers_to_apply_assignments_only() {
    let db = db_with(&[("shop.yaml", SHOP)]).await;
    let a = form(
        &db,
        "/advisor",
        &[
            ("target", "namespace/shop"),
            ("profile", "restricted"),
            ("mode", "enforce"),
        ],
    )
    .await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(
        a.body.contains("data-testid=\"apply-assignments\""),
        "{}",
        a.body
    );
    assert!(
        a.body
            .contains("/assign?target=namespace%2Fshop&#38;profile=restricted"),
        "{}",
        a.body
    );
    let policy = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: deny, namespace: shop}\nspec: {podSelector: {}, policyTypes: [Ingress]}\n";
    let p = form(
        &db,
        "/advisor",
        &[
            ("target", "namespace/shop"),
            ("profile", "restricted"),
            ("apply", policy),
        ],
    )
    .await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    assert!(
        !p.body.contains("data-testid=\"apply-assignments\""),
        "{}",
        p.body
    );
    assert!(
        p.body
            .contains("NetworkPolicy changes cannot be applied by Portcullis"),
        "{}",
        p.body
    );
}

// ---------------------------------------------------------------------------------------------
// What-if: tighten or loosen one control of a profile

async fn adjust(db: &TestDb, adjust: Value) -> Answer {
    json_req(
        db,
        "POST",
        "/api/v1/what-if",
        json!({ "changes": [{ "adjust": adjust }] }),
    )
    .await
}

#[tokio::test]
async fn adjusting_a_profile_judges_every_workload_it_applies_to() {
    let db = db_with(&[("shop.yaml", SHOP)]).await;
    // shop enforces baseline by label: cart runs as root and passes it.
    let a = adjust(
        &db,
        json!({"profile": "baseline", "control": "users", "allow": false}),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let j = a.json();
    assert_eq!(j["before"]["rejected"], 0);
    assert_eq!(j["after"]["rejected"], 1, "{j}");
    assert_eq!(j["blocked"][0]["workload"], "shop/Deployment/cart");
    assert_eq!(
        j["blocked"][0]["profile"],
        "baseline:latest, users forbidden"
    );

    // A profile nothing applies to changes nothing.
    let a = adjust(
        &db,
        json!({"profile": "restricted", "control": "users", "allow": false}),
    )
    .await;
    assert_eq!(a.json()["after"]["rejected"], 0);

    // Loosening a level-free profile: node-agent, assigned to monitoring,
    // rejects the agent only because it runs privileged.
    assign(&db, "namespace/monitoring", "node-agent", "enforce").await;
    assert_eq!(before(&db).await["rejected"], 1);
    let a = adjust(
        &db,
        json!({"profile": "node-agent", "control": "privileged", "allow": true}),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.json()["after"]["rejected"], 0, "{}", a.body);
    // Requiring a read-only root filesystem does not reject cart: as in
    // PodSecurityPolicy, the profile sets the unset field (a mutation).
    let a = adjust(
        &db,
        json!({"profile": "baseline", "control": "read-only-root-fs", "allow": false}),
    )
    .await;
    let j = a.json();
    assert_eq!(j["after"]["rejected"], 1, "{j}");
    // Forbidding hostPath of node-agent rejects the agent, which mounts /proc.
    let a = adjust(
        &db,
        json!({"profile": "node-agent", "control": "host-path", "allow": false}),
    )
    .await;
    let j = a.json();
    assert_eq!(
        j["blocked"][0]["workload"], "monitoring/DaemonSet/node-agent",
        "{j}"
    );
    let text = j["blocked"][0]["violations"].to_string();
    assert!(text.contains("hostPath"), "{j}");
}

#[tokio::test]
async fn adjustments_that_cannot_be_exact_are_refused() {
    let db = db_with(&[("shop.yaml", SHOP)]).await;
    let cases = [
        (
            json!({"profile": "baseline", "control": "privileged", "allow": true}),
            "changes[0].adjust.control",
        ),
        (
            json!({"profile": "restricted", "control": "capabilities", "allow": true, "value": "NET_ADMIN"}),
            "changes[0].adjust.control",
        ),
        (
            json!({"profile": "baseline", "control": "seccomp", "allow": false}),
            "changes[0].adjust.control",
        ),
        (
            json!({"profile": "baseline", "control": "nope", "allow": false}),
            "changes[0].adjust.control",
        ),
        (
            json!({"profile": "baseline", "control": "capabilities", "allow": false}),
            "changes[0].adjust.value",
        ),
        (
            json!({"profile": "baseline", "control": "volumes", "allow": false, "value": "floppy"}),
            "changes[0].adjust.value",
        ),
        (
            json!({"profile": "baseline", "control": "privileged", "allow": false, "value": "x"}),
            "changes[0].adjust.value",
        ),
        (
            json!({"profile": "nope", "control": "privileged", "allow": false}),
            "changes[0].adjust.profile",
        ),
        (
            json!({"profile": "baseline", "control": "privileged"}),
            "changes[0].adjust",
        ),
    ];
    for (body, field) in cases {
        let a = adjust(&db, body.clone()).await;
        assert_eq!(
            a.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {}",
            a.body
        );
        assert_eq!(error_field(&a), field, "{body}: {}", a.body);
    }
    // Loosening what the level does not check is exact: read-only root filesystem.
    let a = adjust(
        &db,
        json!({"profile": "restricted", "control": "read-only-root-fs", "allow": true}),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
}

#[tokio::test]
async fn advisor_form_adjusts_one_control() {
    let db = db_with(&[("shop.yaml", SHOP)]).await;
    let a = form(
        &db,
        "/advisor",
        &[
            ("adjust_profile", "baseline"),
            ("adjust_control", "users"),
            ("adjust_allow", "tighten"),
        ],
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert!(a.body.contains("tighten users in baseline"), "{}", a.body);
    assert!(
        a.body.contains("baseline:latest, users forbidden"),
        "{}",
        a.body
    );
    assert!(!a.body.contains("data-testid=\"apply-assignments\""));
    let bad = form(
        &db,
        "/advisor",
        &[
            ("adjust_profile", "baseline"),
            ("adjust_control", "privileged"),
            ("adjust_allow", "loosen"),
        ],
    )
    .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.body.contains("id=\"adjust-error\""), "{}", bad.body);
}

#[tokio::test]
async fn forms_posted_from_another_site_are_refused() {
    let db = db_with(&[("shop.yaml", SHOP)]).await;
    let body = "target=namespace%2Fshop&profile=restricted&mode=enforce";
    for (name, value) in [
        ("sec-fetch-site", "cross-site"),
        ("origin", "http://evil.example"),
    ] {
        let a = send(
            &db,
            Request::post("/assign")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .header(header::HOST, "127.0.0.1:8080")
                .header(name, value)
                .body(Body::from(body))
                .expect("request"),
        )
        .await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{name}: {}", a.body);
    }
    assert_eq!(get(&db, "/api/v1/assignments").await.json()["total"], 0);
    // From the dashboard's own origin but without the page's CSRF token: refused.
    let same_origin = |body: String| {
        Request::post("/assign")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::HOST, "127.0.0.1:8080")
            .header("origin", "http://127.0.0.1:8080")
            .header("sec-fetch-site", "same-origin")
            .body(Body::from(body))
            .expect("request")
    };
    let a = send(&db, same_origin(body.to_owned())).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.body);
    assert!(a.body.contains("CSRF token"), "{}", a.body);
    // A wrong token is refused as well.
    let a = send(&db, same_origin(format!("{body}&csrf=forged"))).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.body);
    assert_eq!(get(&db, "/api/v1/assignments").await.json()["total"], 0);
    // The form as the confirm page renders it, with its token, goes through.
    let page = get(
        &db,
        "/assign?target=namespace/shop&profile=restricted&mode=enforce",
    )
    .await;
    let token = csrf_of(&page.body);
    let a = send(&db, same_origin(format!("{body}&csrf={token}"))).await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    assert_eq!(get(&db, "/api/v1/assignments").await.json()["total"], 1);
}

/// The CSRF token a rendered page puts in its forms.
pub fn csrf_of(html: &str) -> String {
    let at = html
        .find(r#"name="csrf" value=""#)
        .expect("a form with a CSRF token");
    let rest = &html[at + r#"name="csrf" value=""#.len()..];
    rest[..rest.find('"').expect("end of the token")].to_owned()
}

#[tokio::test]
async fn removing_an_assignment_is_previewed_with_what_applies_instead() {
    let db = db_with(&[("shop.yaml", SHOP)]).await;
    assign(&db, "cluster", "baseline", "enforce").await;
    assign(&db, "namespace/shop", "restricted", "enforce").await;
    // cart: rejected by restricted (namespace); node-agent: by baseline (cluster default).
    assert_eq!(before(&db).await["rejected"], 2);

    // Without shop's assignment cart falls back to the cluster default, baseline: admitted.
    let c = get(
        &db,
        "/assign?target=namespace/shop&profile=none&mode=enforce",
    )
    .await;
    assert_eq!(c.status, StatusCode::OK, "{}", c.body);
    assert!(
        c.body.contains("Remove the assignment of namespace shop"),
        "{}",
        c.body
    );
    let counts = |body: &str| -> Vec<String> {
        let row = body
            .split("✗ rejected workloads</th>")
            .nth(1)
            .and_then(|r| r.split("</tr>").next())
            .unwrap_or("")
            .to_owned();
        row.split("<td class=\"num\">")
            .skip(1)
            .filter_map(|c| c.split('<').next())
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(counts(&c.body), ["2", "1"], "{}", c.body);

    // Without the cluster default, node-agent has no profile: admitted.
    let c = get(&db, "/assign?target=cluster&profile=none&mode=enforce").await;
    assert_eq!(counts(&c.body), ["2", "1"], "{}", c.body);

    // Applying the removal agrees with the preview.
    let a = form(
        &db,
        "/assign",
        &[
            ("target", "namespace/shop"),
            ("profile", "none"),
            ("mode", "enforce"),
        ],
    )
    .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    assert_eq!(before(&db).await["rejected"], 1);
}
