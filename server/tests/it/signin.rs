//! Sign-in, sessions, API tokens, roles, CSRF and namespace scopes, as a
//! browser, a script and an admin meet them: a real server on loopback, a
//! real SQLite file, and the real binary for the command line.

use std::collections::HashMap;
use std::sync::Arc;

use portcullis::auth::{Auth, Role, password, secret};
use portcullis::store;
use portcullis::store::users::NewUser;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::{SHOP, TestDb, db_with};

const PAYMENTS: &str = r#"
apiVersion: v1
kind: Namespace
metadata:
  name: payments
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: ledger
  namespace: payments
spec:
  selector: {matchLabels: {app: ledger}}
  template:
    metadata: {labels: {app: ledger}}
    spec:
      containers:
      - name: ledger
        image: ledger:1
"#;

const PASSWORD: &str = "correct horse battery staple";

struct Answer {
    status: u16,
    headers: HashMap<String, Vec<String>>,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(name)
            .and_then(|v| v.first())
            .map(String::as_str)
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|_| panic!("not JSON: {}", self.body))
    }

    /// The session cookie the server set, as `name=value`.
    fn session_cookie(&self) -> String {
        let set = self
            .headers
            .get("set-cookie")
            .and_then(|all| all.iter().find(|c| c.starts_with("__Host-portcullis=")))
            .unwrap_or_else(|| panic!("no session cookie: {:?}", self.headers));
        set.split(';').next().unwrap_or_default().to_owned()
    }

    fn csrf(&self) -> String {
        crate::assign::csrf_of(&self.body)
    }
}

/// A server on 127.0.0.1 for `db`, until the test ends.
struct Server {
    addr: std::net::SocketAddr,
    _stop: tokio::sync::oneshot::Sender<()>,
}

async fn serve(db: &TestDb) -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(portcullis::serve(listener, db.state.clone(), async {
        let _ = stopped.await;
    }));
    Server { addr, _stop: stop }
}

impl Server {
    /// One HTTP/1.1 request on its own connection.
    async fn send(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Answer {
        let mut conn = tokio::net::TcpStream::connect(self.addr)
            .await
            .expect("connect");
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n",
            self.addr
        );
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
        conn.write_all(req.as_bytes()).await.expect("write");
        let mut raw = Vec::new();
        conn.read_to_end(&mut raw).await.expect("read");
        let text = String::from_utf8_lossy(&raw).into_owned();
        let (head, rest) = text.split_once("\r\n\r\n").expect("a head");
        let mut lines = head.split("\r\n");
        let status = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|s| s.parse().ok())
            .expect("status");
        let mut headers: HashMap<String, Vec<String>> = HashMap::new();
        for l in lines {
            if let Some((k, v)) = l.split_once(':') {
                headers
                    .entry(k.trim().to_ascii_lowercase())
                    .or_default()
                    .push(v.trim().to_owned());
            }
        }
        let chunked = headers
            .get("transfer-encoding")
            .is_some_and(|v| v.iter().any(|v| v.contains("chunked")));
        let body = if chunked {
            dechunk(rest)
        } else {
            rest.to_owned()
        };
        Answer {
            status,
            headers,
            body,
        }
    }

    async fn get(&self, path: &str, headers: &[(&str, &str)]) -> Answer {
        self.send("GET", path, headers, "").await
    }

    async fn sign_in(&self, name: &str, password: &str) -> Answer {
        let form = serde_urlencoded::to_string([
            ("name", name),
            ("password", password),
            ("next", "/alerts"),
        ])
        .expect("form");
        self.send(
            "POST",
            "/login",
            &[("Content-Type", "application/x-www-form-urlencoded")],
            &form,
        )
        .await
    }
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

async fn add_user(db: &TestDb, name: &str, role: Role, namespaces: Option<Vec<&str>>) {
    let new = NewUser {
        name: name.to_owned(),
        password_hash: Some(password::hash(PASSWORD.to_owned()).await.expect("hash")),
        role,
        namespaces: namespaces.map(|n| n.into_iter().map(str::to_owned).collect()),
    };
    store::users::add(&db.state.pool, &new, "test", portcullis::now_ms())
        .await
        .expect("add user");
}

async fn token_for(db: &TestDb, user: &str, expires_at: Option<i64>) -> String {
    let t = secret::api_token();
    store::users::add_token(
        &db.state.pool,
        user,
        "test",
        &secret::hash(&t),
        expires_at,
        "test",
        portcullis::now_ms(),
    )
    .await
    .expect("token");
    t
}

/// A database with sign-in required.
async fn signed_db() -> TestDb {
    let mut db = db_with(&[("shop.yaml", SHOP), ("payments.yaml", PAYMENTS)]).await;
    db.state.auth = Arc::new(Auth::required());
    db
}

#[tokio::test]
async fn a_browser_signs_in_works_with_its_session_and_signs_out() {
    let db = signed_db().await;
    add_user(&db, "alice", Role::Admin, None).await;
    let s = serve(&db).await;

    // Nobody signed in: pages send to the sign-in page, the API answers 401.
    let a = s.get("/alerts?severity=high", &[]).await;
    assert_eq!(a.status, 303);
    assert_eq!(
        a.header("location"),
        Some("/login?next=%2Falerts%3Fseverity%3Dhigh")
    );
    let a = s.get("/api/v1/workloads", &[]).await;
    assert_eq!(a.status, 401, "{}", a.body);
    assert!(
        a.json()["error"]
            .as_str()
            .is_some_and(|e| e.contains("Sign in"))
    );
    assert!(
        a.header("www-authenticate")
            .is_some_and(|h| h.starts_with("Bearer"))
    );
    assert_eq!(s.get("/healthz", &[]).await.status, 200);
    assert_eq!(s.get("/static/app.css", &[]).await.status, 200);
    let login = s.get("/login", &[]).await;
    assert_eq!(login.status, 200);
    assert!(login.body.contains(r#"name="password""#));
    assert!(
        !login.body.contains("Open dashboard"),
        "no open banner when sign-in is on"
    );

    // A wrong password and an unknown user get the same answer.
    let wrong = s.sign_in("alice", "not the password at all").await;
    let unknown = s.sign_in("mallory", PASSWORD).await;
    for a in [&wrong, &unknown] {
        assert_eq!(a.status, 401, "{}", a.body);
        assert!(
            a.body.contains("Wrong user name or password."),
            "{}",
            a.body
        );
        assert!(!a.headers.contains_key("set-cookie"));
    }

    // The right one: a secure, HttpOnly, SameSite session cookie, and back to where it was.
    let ok = s.sign_in("alice", PASSWORD).await;
    assert_eq!(ok.status, 303, "{}", ok.body);
    assert_eq!(ok.header("location"), Some("/alerts"));
    let set = ok.header("set-cookie").expect("cookie");
    for part in [
        "__Host-portcullis=",
        "Path=/",
        "HttpOnly",
        "SameSite=Lax",
        "Secure",
        "Max-Age=43200",
    ] {
        assert!(set.contains(part), "{part} in {set}");
    }
    let cookie = ok.session_cookie();
    let page = s.get("/", &[("Cookie", &cookie)]).await;
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("alice") && page.body.contains("Sign out"),
        "{}",
        page.body
    );
    let csrf = page.csrf();
    assert_eq!(csrf.len(), 43);

    // A change made with the cookie needs the page's token.
    let what_if = json!({"changes": [{"assign": {"target": "namespace/shop", "profile": "restricted", "mode": "enforce"}}]}).to_string();
    let json_ct = ("Content-Type", "application/json");
    let a = s
        .send(
            "POST",
            "/api/v1/what-if",
            &[("Cookie", &cookie), json_ct],
            &what_if,
        )
        .await;
    assert_eq!(a.status, 403, "{}", a.body);
    assert!(a.body.contains("CSRF"), "{}", a.body);
    let a = s
        .send(
            "POST",
            "/api/v1/what-if",
            &[("Cookie", &cookie), json_ct, ("X-CSRF-Token", "forged")],
            &what_if,
        )
        .await;
    assert_eq!(a.status, 403, "{}", a.body);
    let a = s
        .send(
            "POST",
            "/api/v1/what-if",
            &[("Cookie", &cookie), json_ct, ("X-CSRF-Token", &csrf)],
            &what_if,
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);

    // A form with the token: the change is made, and the audit log names alice.
    let form = format!("target=namespace%2Fshop&profile=restricted&mode=enforce&csrf={csrf}");
    let form_ct = ("Content-Type", "application/x-www-form-urlencoded");
    let a = s
        .send("POST", "/assign", &[("Cookie", &cookie), form_ct], &form)
        .await;
    assert_eq!(a.status, 303, "{}", a.body);
    let audit = s.get("/api/v1/audit", &[("Cookie", &cookie)]).await.json();
    assert_eq!(audit["audit"][0]["actor"], "alice", "{audit}");
    assert_eq!(audit["audit"][0]["action"], "assign");

    // Sign out: the cookie is cleared and the session is gone on the server too.
    let a = s
        .send(
            "POST",
            "/logout",
            &[("Cookie", &cookie), form_ct],
            &format!("csrf={csrf}"),
        )
        .await;
    assert_eq!(a.status, 303);
    assert_eq!(a.header("location"), Some("/login"));
    assert!(
        a.header("set-cookie")
            .is_some_and(|c| c.contains("Max-Age=0"))
    );
    let a = s.get("/", &[("Cookie", &cookie)]).await;
    assert_eq!(a.status, 303, "the old cookie no longer signs in");
}

#[tokio::test]
async fn roles_decide_what_each_user_may_do() {
    let db = signed_db().await;
    add_user(&db, "vera", Role::Viewer, None).await;
    add_user(&db, "otto", Role::Operator, None).await;
    add_user(&db, "ada", Role::Admin, None).await;
    let s = serve(&db).await;
    let viewer = format!("Bearer {}", token_for(&db, "vera", None).await);
    let operator = format!("Bearer {}", token_for(&db, "otto", None).await);
    let admin = format!("Bearer {}", token_for(&db, "ada", None).await);
    let json_ct = ("Content-Type", "application/json");
    let what_if = json!({"changes": [{"assign": {"target": "namespace/shop", "profile": "restricted", "mode": "enforce"}}]}).to_string();
    let assign =
        json!({"target": "namespace/shop", "profile": "restricted", "mode": "enforce"}).to_string();

    // Everyone reads.
    for t in [&viewer, &operator, &admin] {
        let a = s.get("/api/v1/workloads", &[("Authorization", t)]).await;
        assert_eq!(a.status, 200, "{}", a.body);
        assert_eq!(
            s.get("/workloads", &[("Authorization", t)]).await.status,
            200
        );
    }
    // A viewer may not run a what-if; the answer says why.
    let a = s
        .send(
            "POST",
            "/api/v1/what-if",
            &[("Authorization", &viewer), json_ct],
            &what_if,
        )
        .await;
    assert_eq!(a.status, 403);
    assert_eq!(
        a.json()["error"],
        "vera is a viewer; this needs an operator."
    );
    // An operator may (a token needs no CSRF token), but not assign.
    let a = s
        .send(
            "POST",
            "/api/v1/what-if",
            &[("Authorization", &operator), json_ct],
            &what_if,
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let a = s
        .send(
            "POST",
            "/api/v1/assignments",
            &[("Authorization", &operator), json_ct],
            &assign,
        )
        .await;
    assert_eq!(a.status, 403);
    assert_eq!(
        a.json()["error"],
        "otto is an operator; this needs an admin."
    );
    assert_eq!(
        s.get("/settings/users", &[("Authorization", &operator)])
            .await
            .status,
        403
    );
    // An admin may, and the audit log names the token's user.
    let a = s
        .send(
            "POST",
            "/api/v1/assignments",
            &[("Authorization", &admin), json_ct],
            &assign,
        )
        .await;
    assert_eq!(a.status, 201, "{}", a.body);
    let audit = s
        .get("/api/v1/audit", &[("Authorization", &viewer)])
        .await
        .json();
    assert_eq!(audit["audit"][0]["actor"], "ada");
    // Acknowledging alerts is an operator's; it records the user, not what the body claims.
    portcullis::alerts::sync_all(&db.state.pool, db.state.rules.get(), portcullis::now_ms())
        .await
        .expect("sync alerts");
    let alerts = s
        .get("/api/v1/alerts", &[("Authorization", &viewer)])
        .await
        .json();
    let id = alerts["alerts"][0]["id"]
        .as_i64()
        .expect("an alert after the assignment");
    let path = format!("/api/v1/alerts/{id}/acknowledge");
    let a = s
        .send("POST", &path, &[("Authorization", &viewer), json_ct], "{}")
        .await;
    assert_eq!(a.status, 403);
    let a = s
        .send(
            "POST",
            &path,
            &[("Authorization", &operator), json_ct],
            r#"{"by": "somebody else"}"#,
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.json()["acknowledgedBy"], "otto");
    let audit = s
        .get("/api/v1/audit", &[("Authorization", &viewer)])
        .await
        .json();
    assert_eq!(
        (&audit["audit"][0]["action"], &audit["audit"][0]["actor"]),
        (&json!("acknowledge"), &json!("otto")),
        "{audit}"
    );
    assert_eq!(audit["audit"][0]["undoable"], false);

    // Tokens that do not work: unknown, revoked, expired, malformed.
    let a = s
        .get(
            "/api/v1/workloads",
            &[("Authorization", "Bearer pcs_made-up")],
        )
        .await;
    assert_eq!(a.status, 401);
    let listed = s
        .get("/api/v1/tokens", &[("Authorization", &admin)])
        .await
        .json();
    let vera_token = listed["tokens"]
        .as_array()
        .expect("tokens")
        .iter()
        .find(|t| t["user"] == "vera")
        .expect("vera's")["id"]
        .as_i64()
        .expect("id");
    let a = s
        .send(
            "DELETE",
            &format!("/api/v1/tokens/{vera_token}"),
            &[("Authorization", &admin)],
            "",
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(
        s.get("/api/v1/workloads", &[("Authorization", &viewer)])
            .await
            .status,
        401
    );
    let expired = format!(
        "Bearer {}",
        token_for(&db, "otto", Some(portcullis::now_ms() - 1)).await
    );
    assert_eq!(
        s.get("/api/v1/workloads", &[("Authorization", &expired)])
            .await
            .status,
        401
    );
    assert_eq!(
        s.get("/api/v1/workloads", &[("Authorization", "Basic b3R0bzp4")])
            .await
            .status,
        401
    );

    // Users through the API: refused fields are named; the last admin stays.
    let a = s
        .send(
            "POST",
            "/api/v1/users",
            &[("Authorization", &admin), json_ct],
            r#"{"name": "eve", "role": "root", "password": "long enough password"}"#,
        )
        .await;
    assert_eq!(a.status, 422);
    assert_eq!(a.json()["field"], "role");
    let a = s
        .send(
            "POST",
            "/api/v1/users",
            &[("Authorization", &admin), json_ct],
            r#"{"name": "eve", "role": "viewer", "password": "short"}"#,
        )
        .await;
    assert_eq!(a.json()["field"], "password");
    let a = s
        .send(
            "PATCH",
            "/api/v1/users/ada",
            &[("Authorization", &admin), json_ct],
            r#"{"role": "viewer"}"#,
        )
        .await;
    assert_eq!(a.status, 409, "{}", a.body);
    assert!(
        a.json()["error"]
            .as_str()
            .is_some_and(|e| e.contains("last admin"))
    );
    let a = s.send("POST", "/api/v1/users", &[("Authorization", &admin), json_ct], r#"{"name": "eve", "role": "operator", "namespaces": ["shop"], "password": "long enough password"}"#).await;
    assert_eq!(a.status, 201, "{}", a.body);
    let a = s.sign_in("eve", "long enough password").await;
    assert_eq!(a.status, 303, "eve signs in with the password the API set");
}

#[tokio::test]
async fn a_scoped_admin_changes_only_its_namespaces() {
    let db = signed_db().await;
    add_user(&db, "shopkeeper", Role::Admin, Some(vec!["shop"])).await;
    add_user(&db, "root", Role::Admin, None).await;
    let s = serve(&db).await;
    let t = format!("Bearer {}", token_for(&db, "shopkeeper", None).await);
    let auth = ("Authorization", t.as_str());
    let json_ct = ("Content-Type", "application/json");
    let body = |target: &str| {
        json!({"target": target, "profile": "restricted", "mode": "warn"}).to_string()
    };

    let a = s
        .send(
            "POST",
            "/api/v1/assignments",
            &[auth, json_ct],
            &body("namespace/shop"),
        )
        .await;
    assert_eq!(a.status, 201, "{}", a.body);
    let a = s
        .send(
            "POST",
            "/api/v1/assignments",
            &[auth, json_ct],
            &body("workload/shop/Deployment/cart"),
        )
        .await;
    assert_eq!(a.status, 201, "{}", a.body);
    // Other namespaces are answered as if they did not exist; the cluster is refused.
    for target in ["namespace/payments", "workload/payments/Deployment/ledger"] {
        let a = s
            .send(
                "POST",
                "/api/v1/assignments",
                &[auth, json_ct],
                &body(target),
            )
            .await;
        assert_eq!(a.status, 422, "{target}: {}", a.body);
        assert!(
            a.json()["error"]
                .as_str()
                .is_some_and(|e| e.contains("there is no")),
            "{}",
            a.body
        );
    }
    let a = s
        .send(
            "POST",
            "/api/v1/assignments",
            &[auth, json_ct],
            &body("cluster"),
        )
        .await;
    assert_eq!(a.status, 403, "{}", a.body);
    assert!(
        a.json()["error"]
            .as_str()
            .is_some_and(|e| e.contains("only namespaces shop")),
        "{}",
        a.body
    );
    // Exemptions follow the workload's namespace.
    let exempt = |w: &str| {
        json!({"workload": w, "reason": "migration", "owner": "team", "expiresAt": "2099-01-01"})
            .to_string()
    };
    let a = s
        .send(
            "POST",
            "/api/v1/exemptions",
            &[auth, json_ct],
            &exempt("payments/Deployment/ledger"),
        )
        .await;
    assert_eq!(a.status, 403, "{}", a.body);
    // Cluster-wide things need an admin of every namespace.
    let a = s
        .send(
            "POST",
            "/api/v1/users",
            &[auth, json_ct],
            r#"{"name": "x", "role": "admin", "password": "long enough password"}"#,
        )
        .await;
    assert_eq!(a.status, 403, "{}", a.body);
    let a = s
        .send(
            "POST",
            "/api/v1/notifications/routes",
            &[auth, json_ct],
            r#"{"name": "chat", "url": "https://chat.example/hook"}"#,
        )
        .await;
    assert_eq!(a.status, 403, "{}", a.body);
    let form = [("Content-Type", "application/x-www-form-urlencoded"), auth];
    let a = s
        .send("POST", "/profiles", &form, "name=mine&base=restricted")
        .await;
    assert_eq!(a.status, 403, "{}", a.body);
    // Undoing the root admin's cluster-wide change is out of reach too.
    let root = format!("Bearer {}", token_for(&db, "root", None).await);
    let a = s
        .send(
            "POST",
            "/api/v1/assignments",
            &[("Authorization", &root), json_ct],
            &body("cluster"),
        )
        .await;
    assert_eq!(a.status, 201, "{}", a.body);
    let id = a.json()["audit"]["id"].as_i64().expect("audit id");
    let a = s
        .send(
            "POST",
            &format!("/api/v1/audit/{id}/undo"),
            &[auth, json_ct],
            "",
        )
        .await;
    assert_eq!(a.status, 403, "{}", a.body);
}

#[tokio::test]
async fn the_first_user_closes_the_open_dashboard() {
    let db = db_with(&[("shop.yaml", SHOP)]).await;
    assert!(db.state.auth.is_open());
    let s = serve(&db).await;
    let page = s.get("/", &[]).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Open dashboard"), "the banner says so");
    // A form posted by another site is refused even on the open dashboard.
    let a = s
        .send(
            "POST",
            "/settings/users",
            &[
                ("Content-Type", "application/x-www-form-urlencoded"),
                ("Origin", "http://evil.example"),
                ("Sec-Fetch-Site", "cross-site"),
            ],
            "name=evil&role=admin&password=long+enough+password",
        )
        .await;
    assert_eq!(a.status, 403, "{}", a.body);
    // The page's own form, with its token: the first admin.
    let users = s.get("/settings/users", &[]).await;
    let form = format!(
        "name=ada&role=admin&namespaces=&password=long+enough+password&csrf={}",
        users.csrf()
    );
    let a = s
        .send(
            "POST",
            "/settings/users",
            &[
                ("Content-Type", "application/x-www-form-urlencoded"),
                ("Origin", &format!("http://{}", s.addr)),
                ("Sec-Fetch-Site", "same-origin"),
            ],
            &form,
        )
        .await;
    assert_eq!(a.status, 303, "{}", a.body);
    assert!(
        a.header("location")
            .is_some_and(|l| l.starts_with("/login"))
    );
    assert!(!db.state.auth.is_open());
    assert_eq!(s.get("/", &[]).await.status, 303, "sign-in is now required");
    let audit: Vec<_> = store::assignments::audit_log(&db.state.pool, 10, 0)
        .await
        .expect("audit");
    assert_eq!(
        (
            audit[0].action.as_str(),
            audit[0].subject.as_str(),
            audit[0].actor.as_str()
        ),
        ("user-add", "ada", "anonymous")
    );
    assert_eq!(s.sign_in("ada", "long enough password").await.status, 303);
}

#[tokio::test]
async fn repeated_failed_sign_ins_are_slowed_down() {
    let db = signed_db().await;
    add_user(&db, "alice", Role::Viewer, None).await;
    let s = serve(&db).await;
    for _ in 0..10 {
        assert_eq!(
            s.sign_in("alice", "wrong password, again").await.status,
            401
        );
    }
    let a = s.sign_in("alice", PASSWORD).await;
    assert_eq!(a.status, 429, "even the right password waits");
    assert!(a.body.contains("Too many failed sign-ins"), "{}", a.body);
}

#[tokio::test]
async fn sessions_end_at_their_time_or_when_idle() {
    let db = signed_db().await;
    add_user(&db, "alice", Role::Viewer, None).await;
    let pool = &db.state.pool;
    let id = store::users::get(pool, "alice")
        .await
        .expect("get")
        .expect("alice")
        .id;
    let (ttl, idle) = (10_000, 4_000);
    let hash = secret::hash("session-1");
    store::users::start_session(pool, id, &hash, "csrf", 0, ttl)
        .await
        .expect("start");
    for now in [1_000, 4_500, 8_000, 9_999] {
        // Each request within the idle time keeps it alive (activity is recorded once a minute,
        // so these are all within the first minute: only the end and idle count here).
        let s = store::users::session(pool, &hash, now.min(3_999), idle)
            .await
            .expect("session");
        assert!(s.is_some(), "alive at {now}");
    }
    assert!(
        store::users::session(pool, &hash, 4_000, idle)
            .await
            .expect("session")
            .is_none(),
        "idle too long"
    );
    let hash = secret::hash("session-2");
    store::users::start_session(pool, id, &hash, "csrf", 0, ttl)
        .await
        .expect("start");
    assert!(
        store::users::session(pool, &hash, 10_000, 1_000_000)
            .await
            .expect("session")
            .is_none(),
        "past its end"
    );
    // A changed password ends every session of the user.
    let hash = secret::hash("session-3");
    store::users::start_session(pool, id, &hash, "csrf", 0, ttl)
        .await
        .expect("start");
    let change = store::users::UserChange {
        password_hash: Some("x".into()),
        ..Default::default()
    };
    store::users::update(pool, "alice", &change, "test", 1)
        .await
        .expect("update");
    assert!(
        store::users::session(pool, &hash, 2, idle)
            .await
            .expect("session")
            .is_none()
    );
}

fn portcullis(args: &[&str], stdin: &str) -> std::process::Output {
    use std::io::Write;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run portcullis");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("wait")
}

#[test]
fn the_command_line_manages_users_and_refuses_open_non_loopback() {
    let dir = tempfile::tempdir().expect("dir");
    let db = dir.path().join("p.db");
    let db = db.to_str().expect("path");

    let out = portcullis(&["serve", "--listen", "0.0.0.0:0", "--db", db], "");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("refusing to serve 0.0.0.0:0 without sign-in"),
        "{err}"
    );

    let out = portcullis(
        &["user", "add", "alice", "--role", "admin", "--db", db],
        "short\n",
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("at least 12 characters"));
    let out = portcullis(
        &["user", "add", "alice", "--role", "root", "--db", db],
        "long enough password\n",
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("role is viewer, operator or admin"));
    let out = portcullis(
        &[
            "user",
            "add",
            "alice",
            "--role",
            "admin",
            "--namespaces",
            "shop,payments",
            "--db",
            db,
        ],
        "long enough password\n",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = portcullis(&["user", "list", "--db", db], "");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "alice\tadmin\tshop, payments\tpassword\n"
    );
    let out = portcullis(
        &[
            "token",
            "add",
            "--user",
            "alice",
            "--name",
            "ci",
            "--expires",
            "90d",
            "--db",
            db,
        ],
        "",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert!(token.starts_with("pcs_") && token.len() == 47, "{token}");
    let out = portcullis(&["user", "remove", "bob", "--db", db], "");
    assert!(String::from_utf8_lossy(&out.stderr).contains("there is no user named \"bob\""));
}
