//! The soak test's load generator (see `bench/soak.sh` and BENCHMARKS.md,
//! "Soak"): a fixed-rate mixed load on a running `portcullis serve` from a
//! second process, with the server's memory sampled along the way.
//!
//! - `soak certs DIR`: writes a CA (`ca.crt`) and a `localhost` serving pair
//!   it signed (`tls.crt`, `tls.key`) for the webhook;
//! - `soak run --dashboard ADDR --webhook ADDR --ca FILE --review FILE --pid PID
//!   [--duration 10m] [--rate 300] [--warmup 1m] [--rss-growth 20]`: dashboard
//!   pages, the JSON API, what-ifs and admission reviews (validate and mutate,
//!   each with its own uid) at `rate` requests per second in total; the
//!   server's RSS (`/proc/PID/status` VmRSS) every 10 s. Prints per kind the
//!   requests, failures (non-2xx, transport errors, timeouts, reviews whose
//!   answer differs from the one given before the load) and p50/p99 latency,
//!   and the RSS after the warm-up, at the end and at most. Exits 1 when any
//!   request failed or RSS grew by more than `rss-growth` % from the warm-up
//!   mark to the end.
//!
//! ```text
//! cargo run --release --example soak -- certs /tmp/soak
//! cargo run --release --example soak -- run --dashboard 127.0.0.1:18180 \
//!     --webhook 127.0.0.1:18443 --ca /tmp/soak/ca.crt --review /tmp/review.json --pid 1234
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::{Parser, Subcommand};
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Bound on one request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the server's RSS is read.
const SAMPLE_EVERY: Duration = Duration::from_secs(10);
/// The scheduler's tick.
const TICK: Duration = Duration::from_millis(10);

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Write ca.crt, tls.crt and tls.key (for `localhost`) into DIR.
    Certs { dir: PathBuf },
    /// Run the load.
    Run(RunArgs),
}

#[derive(clap::Args)]
struct RunArgs {
    /// The dashboard's address (HTTP).
    #[arg(long)]
    dashboard: String,
    /// The webhook's address (HTTPS, certificate for `localhost`).
    #[arg(long)]
    webhook: String,
    /// PEM of the CA that signed the webhook's certificate.
    #[arg(long)]
    ca: PathBuf,
    /// An AdmissionReview to send (`webhook_ceiling body FILE`).
    #[arg(long)]
    review: PathBuf,
    /// The server's process id, for its RSS.
    #[arg(long)]
    pid: u32,
    #[arg(long, default_value = "10m", value_parser = portcullis::cli::parse_duration)]
    duration: Duration,
    /// Requests per second, all kinds together.
    #[arg(long, default_value_t = 300)]
    rate: u32,
    /// RSS is compared from this mark to the end.
    #[arg(long, default_value = "1m", value_parser = portcullis::cli::parse_duration)]
    warmup: Duration,
    /// Largest RSS growth (percent) from the warm-up mark to the end.
    #[arg(long, default_value_t = 20.0)]
    rss_growth: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Page,
    Api,
    WhatIf,
    Validate,
    Mutate,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Page => "page",
            Kind::Api => "api",
            Kind::WhatIf => "what-if",
            Kind::Validate => "validate",
            Kind::Mutate => "mutate",
        }
    }
}

/// One request of the mix.
#[derive(Clone)]
enum Job {
    Get(Kind, &'static str),
    WhatIf(Arc<Bytes>),
    Review(Kind),
}

impl Job {
    fn kind(&self) -> Kind {
        match self {
            Job::Get(k, _) | Job::Review(k) => *k,
            Job::WhatIf(_) => Kind::WhatIf,
        }
    }
}

const PAGES: [&str; 8] = [
    "/",
    "/namespaces",
    "/workloads",
    "/namespaces/shop/workloads/Deployment/storefront",
    "/alerts",
    "/advisor",
    "/snapshots",
    "/profiles",
];
const APIS: [&str; 2] = ["/api/v1/workloads", "/api/v1/alerts"];

/// 100 jobs: 32 pages, 16 API reads, 12 what-ifs, 20 validations and 20
/// mutations, interleaved (a stride coprime with 100).
fn deck() -> Vec<Job> {
    let what_ifs = [
        json!({"assign": {"target": "namespace/shop", "profile": "restricted", "mode": "enforce"}}),
        json!({"assign": {"target": "namespace/legacy", "profile": "baseline", "mode": "warn"}}),
        json!({"assign": {"target": "cluster", "profile": "restricted", "mode": "audit"}}),
        json!({"networkPolicy": {"remove": "shop/storefront-ingress"}}),
    ]
    .map(|c| Arc::new(Bytes::from(json!({"changes": [c]}).to_string())));
    let mut jobs = Vec::with_capacity(100);
    for _ in 0..4 {
        jobs.extend(PAGES.iter().map(|p| Job::Get(Kind::Page, p)));
    }
    for _ in 0..8 {
        jobs.extend(APIS.iter().map(|p| Job::Get(Kind::Api, p)));
    }
    for _ in 0..3 {
        jobs.extend(what_ifs.iter().map(|b| Job::WhatIf(b.clone())));
    }
    for _ in 0..20 {
        jobs.push(Job::Review(Kind::Validate));
        jobs.push(Job::Review(Kind::Mutate));
    }
    assert_eq!(jobs.len(), 100);
    (0..100).map(|i| jobs[(i * 37) % 100].clone()).collect()
}

/// What a review is answered, apart from its uid.
#[derive(Debug, Clone, PartialEq)]
struct Answer {
    allowed: bool,
    code: Option<i64>,
    patched: bool,
    warnings: usize,
}

fn answer_of(v: &Value, uid: &str) -> Result<Answer, String> {
    let r = &v["response"];
    if r["uid"] != uid {
        return Err(format!("uid {} for {uid}", r["uid"]));
    }
    Ok(Answer {
        allowed: r["allowed"].as_bool().ok_or("no response.allowed")?,
        code: r["status"]["code"].as_i64(),
        patched: r["patch"].is_string(),
        warnings: r["warnings"].as_array().map_or(0, Vec::len),
    })
}

type Https = hyper_rustls::HttpsConnector<HttpConnector>;

struct Load {
    dashboard: String,
    webhook: String,
    http: Client<HttpConnector, Full<Bytes>>,
    https: Client<Https, Full<Bytes>>,
    review: Value,
    expected: BTreeMap<Kind, Answer>,
    next_uid: AtomicU64,
}

#[derive(Default)]
struct Tally {
    latencies: Vec<u32>,
    failures: u64,
    examples: Vec<String>,
}

type Tallies = Arc<Mutex<BTreeMap<Kind, Tally>>>;

impl Load {
    async fn send(
        &self,
        method: Method,
        url: String,
        body: Option<Bytes>,
        tls: bool,
    ) -> Result<(u16, Bytes), String> {
        let mut req = Request::builder().method(method).uri(&url);
        if body.is_some() {
            req = req.header("content-type", "application/json");
        }
        let req = req
            .body(Full::new(body.unwrap_or_default()))
            .map_err(|e| e.to_string())?;
        let call = async {
            let resp = if tls {
                self.https.request(req).await
            } else {
                self.http.request(req).await
            }
            .map_err(|e| format!("{url}: {e}"))?;
            let status = resp.status().as_u16();
            let bytes = resp
                .into_body()
                .collect()
                .await
                .map_err(|e| format!("{url}: body: {e}"))?
                .to_bytes();
            Ok((status, bytes))
        };
        tokio::time::timeout(REQUEST_TIMEOUT, call)
            .await
            .map_err(|_| format!("{url}: no answer within {REQUEST_TIMEOUT:?}"))?
    }

    async fn review(&self, kind: Kind) -> Result<Answer, String> {
        let uid = format!("soak-{:08}", self.next_uid.fetch_add(1, Ordering::Relaxed));
        let mut review = self.review.clone();
        review["request"]["uid"] = json!(uid);
        let path = if kind == Kind::Mutate {
            "mutate"
        } else {
            "validate"
        };
        let url = format!("https://{}/admission/{path}", self.webhook);
        let (status, bytes) = self
            .send(
                Method::POST,
                url,
                Some(Bytes::from(review.to_string())),
                true,
            )
            .await?;
        if status != 200 {
            return Err(format!("{path}: status {status}"));
        }
        let v: Value =
            serde_json::from_slice(&bytes).map_err(|e| format!("{path}: not JSON: {e}"))?;
        answer_of(&v, &uid).map_err(|e| format!("{path}: {e}"))
    }

    async fn run(&self, job: &Job) -> Result<(), String> {
        match job {
            Job::Get(_, path) => {
                let url = format!("http://{}{path}", self.dashboard);
                let (status, _) = self.send(Method::GET, url, None, false).await?;
                ok_status(path, status)
            }
            Job::WhatIf(body) => {
                let url = format!("http://{}/api/v1/what-if", self.dashboard);
                let (status, bytes) = self
                    .send(Method::POST, url, Some((**body).clone()), false)
                    .await?;
                ok_status("/api/v1/what-if", status).map_err(|e| {
                    format!(
                        "{e}: {}",
                        String::from_utf8_lossy(&bytes[..bytes.len().min(200)])
                    )
                })
            }
            Job::Review(kind) => {
                let got = self.review(*kind).await?;
                match self.expected.get(kind) {
                    Some(want) if *want == got => Ok(()),
                    want => Err(format!(
                        "{}: answered {got:?}, before the load {want:?}",
                        kind.name()
                    )),
                }
            }
        }
    }
}

fn ok_status(path: &str, status: u16) -> Result<(), String> {
    if (200..300).contains(&status) {
        Ok(())
    } else {
        Err(format!("{path}: status {status}"))
    }
}

/// VmRSS of `pid` in KiB.
fn rss_kib(pid: u32) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    f64::from(sorted[i]) / 1000.0
}

fn certs(dir: &Path) -> anyhow::Result<()> {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
    std::fs::create_dir_all(dir)?;
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(DnType::CommonName, "portcullis soak CA");
    let ca = CertifiedIssuer::self_signed(params, KeyPair::generate()?)?;
    let mut params = CertificateParams::new(vec!["localhost".to_owned()])?;
    params
        .distinguished_name
        .push(DnType::CommonName, "portcullis webhook");
    let key = KeyPair::generate()?;
    let leaf = params.signed_by(&key, &ca)?;
    std::fs::write(dir.join("ca.crt"), ca.pem())?;
    std::fs::write(dir.join("tls.crt"), leaf.pem())?;
    std::fs::write(dir.join("tls.key"), key.serialize_pem())?;
    Ok(())
}

fn https_client(ca: &Path) -> anyhow::Result<Client<Https, Full<Bytes>>> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(ca)? {
        roots.add(c?)?;
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(config)
        .https_only()
        .with_server_name_resolver(hyper_rustls::FixedServerNameResolver::new(
            rustls::pki_types::ServerName::try_from("localhost")?,
        ))
        .enable_http1()
        .build();
    Ok(Client::builder(TokioExecutor::new()).build(connector))
}

async fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let review: Value = serde_json::from_slice(&std::fs::read(&args.review)?)?;
    let mut load = Load {
        dashboard: args.dashboard.clone(),
        webhook: args.webhook.clone(),
        http: Client::builder(TokioExecutor::new()).build_http(),
        https: https_client(&args.ca)?,
        review,
        expected: BTreeMap::new(),
        next_uid: AtomicU64::new(0),
    };
    // The answers before the load: every review must get the same.
    for kind in [Kind::Validate, Kind::Mutate] {
        let a = load.review(kind).await.map_err(anyhow::Error::msg)?;
        if a.code == Some(400) {
            anyhow::bail!("the review is not readable: {a:?}");
        }
        eprintln!("{} answers {a:?}", kind.name());
        load.expected.insert(kind, a);
    }
    let load = Arc::new(load);
    let deck = deck();
    let tallies: Tallies = Arc::default();

    // RSS every 10 s, from the start.
    let samples: Arc<Mutex<Vec<(Duration, u64)>>> = Arc::default();
    let started = Instant::now();
    {
        let samples = samples.clone();
        let pid = args.pid;
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(SAMPLE_EVERY);
            loop {
                tick.tick().await;
                let Some(kib) = rss_kib(pid) else { return };
                samples
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push((started.elapsed(), kib));
            }
        });
    }

    // Fixed rate: `rate / 100` jobs per 10 ms tick (the remainder carried).
    let per_tick = f64::from(args.rate) * TICK.as_secs_f64();
    let mut owed = 0.0;
    let mut n = 0usize;
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut in_flight = tokio::task::JoinSet::new();
    let mut next_report = Duration::from_secs(60);
    while started.elapsed() < args.duration {
        tick.tick().await;
        owed += per_tick;
        while owed >= 1.0 {
            owed -= 1.0;
            let job = deck[n % deck.len()].clone();
            n += 1;
            let (load, tallies) = (load.clone(), tallies.clone());
            in_flight.spawn(async move {
                let t = Instant::now();
                let result = load.run(&job).await;
                let micros = u32::try_from(t.elapsed().as_micros()).unwrap_or(u32::MAX);
                let mut all = tallies.lock().unwrap_or_else(|p| p.into_inner());
                let tally = all.entry(job.kind()).or_default();
                tally.latencies.push(micros);
                if let Err(e) = result {
                    tally.failures += 1;
                    if tally.examples.len() < 5 {
                        tally.examples.push(e);
                    }
                }
            });
        }
        while in_flight.try_join_next().is_some() {}
        if started.elapsed() >= next_report {
            next_report += Duration::from_secs(60);
            let failed: u64 = tallies
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .values()
                .map(|t| t.failures)
                .sum();
            eprintln!(
                "{:>4}s: {n} requests sent, {failed} failed, {} in flight, server RSS {}",
                started.elapsed().as_secs(),
                in_flight.len(),
                rss_kib(args.pid).map_or("gone".to_owned(), mib)
            );
        }
    }
    let elapsed = started.elapsed();
    while in_flight.join_next().await.is_some() {}
    let end_rss = rss_kib(args.pid);

    let all = tallies.lock().unwrap_or_else(|p| p.into_inner());
    println!(
        "{n} requests in {:.0} s ({:.0}/s)",
        elapsed.as_secs_f64(),
        n as f64 / elapsed.as_secs_f64()
    );
    println!("| kind | requests | failures | p50 | p99 |");
    println!("|---|---|---|---|---|");
    let mut failures = 0;
    for (kind, t) in all.iter() {
        let mut l = t.latencies.clone();
        l.sort_unstable();
        println!(
            "| {} | {} | {} | {:.2} ms | {:.2} ms |",
            kind.name(),
            l.len(),
            t.failures,
            percentile(&l, 0.50),
            percentile(&l, 0.99)
        );
        failures += t.failures;
        for e in &t.examples {
            println!("  failure ({}): {e}", kind.name());
        }
    }
    let samples = samples.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let at_warmup = samples.iter().find(|(t, _)| *t >= args.warmup).map(|s| s.1);
    let max = samples.iter().map(|s| s.1).chain(end_rss).max();
    let series: Vec<String> = samples
        .iter()
        .filter(|(t, _)| t.as_secs() % 60 < 10)
        .map(|(t, kib)| format!("{}s {}", t.as_secs(), mib(*kib)))
        .collect();
    println!("server RSS each minute: {}", series.join(", "));
    let (Some(start), Some(end), Some(max)) = (at_warmup, end_rss, max) else {
        println!("server RSS: not sampled after the warm-up, or the server is gone");
        return Ok(ExitCode::FAILURE);
    };
    let growth = (end as f64 / start as f64 - 1.0) * 100.0;
    println!(
        "server RSS: {} after {}s of warm-up, {} at the end, {} at most ({growth:+.1} %, bound {:.0} %)",
        mib(start),
        args.warmup.as_secs(),
        mib(end),
        mib(max),
        args.rss_growth
    );
    let mut ok = true;
    if failures > 0 {
        println!("FAIL: {failures} requests failed");
        ok = false;
    }
    if growth > args.rss_growth {
        println!("FAIL: RSS grew by {growth:.1} %");
        ok = false;
    }
    if ok {
        println!("PASS");
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn main() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    match cli.command {
        Cmd::Certs { dir } => {
            certs(&dir)?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Run(args) => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()?;
            rt.block_on(run(args))
        }
    }
}
