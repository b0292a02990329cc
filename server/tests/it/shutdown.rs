//! Graceful shutdown of `portcullis serve` as users meet it: the real binary
//! with its webhook on TLS gets SIGTERM while an admission review and a
//! dashboard request are half sent. Both are answered, new connections are
//! refused meanwhile, the decision reaches the admission log before the
//! process exits, and the exit status is 0.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// Bound on the whole test; nothing waits on time otherwise.
const DEADLINE: Duration = Duration::from_secs(60);

/// A CA and a `localhost` leaf it signed, written as PEM files.
fn certificates(dir: &Path) -> CertificateDer<'static> {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(DnType::CommonName, "shutdown test CA");
    let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().expect("key")).expect("CA");
    let mut params = CertificateParams::new(vec!["localhost".to_owned()]).expect("params");
    params
        .distinguished_name
        .push(DnType::CommonName, "webhook");
    let key = KeyPair::generate().expect("key");
    let leaf = params.signed_by(&key, &ca).expect("leaf");
    std::fs::write(dir.join("tls.crt"), leaf.pem()).expect("write cert");
    std::fs::write(dir.join("tls.key"), key.serialize_pem()).expect("write key");
    ca.der().clone()
}

fn connector(ca: CertificateDer<'static>) -> tokio_rustls::TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca).expect("root");
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

/// The seed's `shop/Deployment/storefront` as the API server sends it for a CREATE.
fn review(uid: &str) -> Value {
    let inv = portcullis::ingest::seed::load();
    let w = inv
        .workloads
        .iter()
        .find(|w| w.key.to_string() == "shop/Deployment/storefront")
        .expect("the seed has shop/Deployment/storefront");
    let kind = json!({"group": "apps", "version": "v1", "kind": "Deployment"});
    let resource = json!({"group": "apps", "version": "v1", "resource": "deployments"});
    json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": uid,
            "kind": kind, "resource": resource, "requestKind": kind, "requestResource": resource,
            "name": "storefront", "namespace": "shop", "operation": "CREATE",
            "userInfo": {"username": "alice@example.com", "groups": ["system:authenticated"]},
            "object": w.raw,
            "dryRun": false,
            "options": {"apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions"}
        }
    })
}

/// Lines of the child's stderr, read on a thread.
struct Stderr {
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Stderr {
    fn of(child: &mut Child) -> Stderr {
        let err = child.stderr.take().expect("stderr piped");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(err).lines() {
                let Ok(line) = line else { return };
                eprintln!("serve: {line}");
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Stderr {
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits for a line containing `needle`; returns it.
    fn wait_for(&mut self, needle: &str, deadline: Instant) -> String {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(e) => panic!(
                    "no line with {needle:?} on stderr ({e}); seen: {:#?}",
                    self.seen
                ),
            }
        }
    }

    /// Everything the process wrote (call after it exited).
    fn rest(mut self) -> Vec<String> {
        self.seen.extend(self.lines.iter());
        self.seen
    }
}

/// The address after `prefix` in a line such as `... https://127.0.0.1:4321 (...)`.
fn addr_in(line: &str, prefix: &str) -> SocketAddr {
    let at = line.find(prefix).expect("prefix") + prefix.len();
    let text: String = line[at..]
        .chars()
        .take_while(|c| !c.is_whitespace())
        .collect();
    text.parse().expect("an address")
}

/// Sends the request line, the headers and the first half of `body`;
/// returns the second half.
async fn send_half<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
    path: &str,
    body: &[u8],
) -> Vec<u8> {
    // `Expect: 100-continue`: the server says "100 Continue" once its handler
    // reads the body, so the request is known to be in flight before SIGTERM
    // (otherwise bytes not yet read would leave the connection idle, and an
    // idle connection is rightly closed at shutdown).
    let head = format!(
        "POST {path} HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\nexpect: 100-continue\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).await.expect("send headers");
    s.flush().await.expect("flush");
    let mut interim = Vec::new();
    let mut byte = [0u8; 1];
    while !interim.ends_with(b"\r\n\r\n") {
        let n = s.read(&mut byte).await.expect("read 100 Continue");
        assert!(n > 0, "connection closed before 100 Continue: {interim:?}");
        interim.push(byte[0]);
    }
    assert!(
        interim.starts_with(b"HTTP/1.1 100"),
        "{}",
        String::from_utf8_lossy(&interim)
    );
    let half = body.len() / 2;
    s.write_all(&body[..half])
        .await
        .expect("send half the body");
    s.flush().await.expect("flush");
    body[half..].to_vec()
}

/// Reads one HTTP/1.1 response with a content-length: (status, body).
async fn read_response<S: AsyncRead + Unpin>(s: &mut S) -> (u16, Value) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = s.read(&mut chunk).await.expect("read the response");
        assert!(n > 0, "connection closed before a response: {buf:?}");
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..end]).to_string();
    let status: u16 = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
        .unwrap_or_else(|| panic!("no content-length in {head}"));
    let mut body = buf[end..].to_vec();
    while body.len() < length {
        let n = s.read(&mut chunk).await.expect("read the body");
        assert!(n > 0, "connection closed in the body");
        body.extend_from_slice(&chunk[..n]);
    }
    let v = serde_json::from_slice(&body[..length])
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&body)));
    (status, v)
}

/// Connects until the listener is gone (it closes while draining); each
/// accepted attempt is dropped at once, an idle connection the drain closes.
async fn refused(addr: SocketAddr, deadline: Instant) {
    loop {
        match TcpStream::connect(addr).await {
            Err(e) => {
                assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused, "{e}");
                return;
            }
            Ok(s) => drop(s),
        }
        assert!(
            Instant::now() < deadline,
            "{addr} still accepts connections after SIGTERM"
        );
        tokio::task::yield_now().await;
    }
}

struct Killed(Option<Child>);

impl Drop for Killed {
    fn drop(&mut self) {
        if let Some(c) = &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// `portcullis serve` on a temp database with its webhook on TLS: the
/// process, its stderr, the dashboard and webhook addresses.
fn serve(dir: &Path, deadline: Instant) -> (Killed, Stderr, SocketAddr, SocketAddr) {
    let child = Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(["serve", "--listen", "127.0.0.1:0", "--db"])
        .arg(dir.join("serve.db"))
        .args(["--webhook-listen", "127.0.0.1:0", "--tls-cert"])
        .arg(dir.join("tls.crt"))
        .arg("--tls-key")
        .arg(dir.join("tls.key"))
        .env("RUST_LOG", "portcullis=info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start portcullis serve");
    let mut child = Killed(Some(child));
    let mut stderr = Stderr::of(child.0.as_mut().expect("child"));
    let dashboard = addr_in(
        &stderr.wait_for("Portcullis is serving", deadline),
        "http://",
    );
    let webhook = addr_in(
        &stderr.wait_for("Admission webhook on", deadline),
        "https://",
    );
    (child, stderr, dashboard, webhook)
}

fn sigterm(child: &Killed) {
    let pid = child.0.as_ref().expect("child").id().to_string();
    let status = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(status.success());
}

/// Waits for the process to exit: its status and all its stderr.
async fn exited(
    mut child: Killed,
    stderr: Stderr,
    deadline: Instant,
) -> (std::process::ExitStatus, Vec<String>) {
    let mut process = child.0.take().expect("child");
    let exit = tokio::time::timeout(
        deadline.saturating_duration_since(Instant::now()),
        tokio::task::spawn_blocking(move || process.wait()),
    )
    .await
    .expect("the process did not exit")
    .expect("join")
    .expect("wait");
    (exit, stderr.rest())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_half_sent_requests_finish_refuses_new_ones_and_flushes_the_log() {
    let deadline = Instant::now() + DEADLINE;
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = certificates(dir.path());
    let db = dir.path().join("serve.db");
    let (child, mut stderr, dashboard, webhook) = serve(dir.path(), deadline);

    // A review, half sent over HTTPS.
    let uid = "shutdown-7f3c";
    let body = serde_json::to_vec(&review(uid)).expect("json");
    let tcp = TcpStream::connect(webhook).await.expect("connect webhook");
    let mut tls = connector(ca)
        .connect(ServerName::try_from("localhost").expect("name"), tcp)
        .await
        .expect("TLS handshake");
    let review_rest = send_half(&mut tls, "/admission/validate", &body).await;

    // A what-if, half sent to the dashboard.
    let what_if = serde_json::to_vec(&json!({"changes": [
        {"assign": {"target": "namespace/shop", "profile": "restricted", "mode": "enforce"}}
    ]}))
    .expect("json");
    let mut http = TcpStream::connect(dashboard)
        .await
        .expect("connect dashboard");
    let what_if_rest = send_half(&mut http, "/api/v1/what-if", &what_if).await;

    sigterm(&child);
    stderr.wait_for("shutting down", deadline);
    stderr.wait_for("webhook stopped accepting", deadline);

    // Both requests are still open, so the process is alive and draining:
    // new connections are refused.
    refused(webhook, deadline).await;
    refused(dashboard, deadline).await;

    tls.write_all(&review_rest).await.expect("send the rest");
    tls.flush().await.expect("flush");
    let (code, answer) = read_response(&mut tls).await;
    assert_eq!(code, 200, "{answer}");
    assert_eq!(answer["kind"], "AdmissionReview", "{answer}");
    assert_eq!(answer["response"]["uid"], uid, "{answer}");
    let allowed = answer["response"]["allowed"]
        .as_bool()
        .expect("response.allowed");

    http.write_all(&what_if_rest).await.expect("send the rest");
    let (code, impact) = read_response(&mut http).await;
    assert_eq!(code, 200, "{impact}");
    assert!(impact.is_object(), "{impact}");

    let (exit, lines) = exited(child, stderr, deadline).await;
    assert!(exit.success(), "exit status {exit}; stderr: {lines:#?}");
    assert!(
        !lines.iter().any(|l| l.contains("still open")),
        "the drain timed out: {lines:#?}"
    );

    let pool = portcullis::store::open(&db).await.expect("open database");
    let (entries, _) = portcullis::store::admission::list(&pool, &Default::default(), 10, 0)
        .await
        .expect("read the admission log");
    pool.close().await;
    let rows: Vec<_> = entries
        .iter()
        .map(|e| {
            (
                e.uid.as_str(),
                e.workload(),
                e.operation.as_str(),
                e.verdict.as_str(),
            )
        })
        .collect();
    assert_eq!(rows.len(), 1, "{rows:?}");
    let (logged_uid, workload, operation, verdict) = rows[0].clone();
    assert_eq!(logged_uid, uid);
    assert_eq!(workload, "shop/Deployment/storefront");
    assert_eq!(operation, "CREATE");
    assert_eq!(
        verdict == "denied",
        !allowed,
        "verdict {verdict}, allowed {allowed}"
    );
}

/// A client that never finishes its request holds the exit for the drain
/// bound (10 s), no longer; the process says so and still exits 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_never_finished_holds_the_exit_only_for_the_drain_bound() {
    let deadline = Instant::now() + DEADLINE;
    let dir = tempfile::tempdir().expect("temp dir");
    certificates(dir.path());
    let (child, mut stderr, dashboard, _) = serve(dir.path(), deadline);
    let mut http = TcpStream::connect(dashboard)
        .await
        .expect("connect dashboard");
    let _never_sent = send_half(&mut http, "/api/v1/what-if", br#"{"changes": []}"#).await;
    sigterm(&child);
    stderr.wait_for("shutting down", deadline);
    let (exit, lines) = exited(child, stderr, deadline).await;
    assert!(exit.success(), "exit status {exit}; stderr: {lines:#?}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("dashboard requests still open after 10s")),
        "{lines:#?}"
    );
    drop(http);
}
