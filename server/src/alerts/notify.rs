//! Notifications: which routes an alert goes to ([`matches`]), what is sent
//! ([`payload`]: `{"text": "<one line for Slack>", "alert": {…as the API…}}`),
//! and the deliverer that POSTs queued deliveries with retries and
//! exponential backoff ([`spawn_deliverer`]).

use std::collections::BTreeMap;
use std::sync::LazyLock;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};
use sqlx::SqlitePool;
use tokio::sync::watch;

use crate::outbound::{HttpClient, http_client};
use crate::policy::assignments::Severity;
use crate::store;
use crate::store::alerts::Alert;
use crate::store::notifications::{Attempt, Delivery, Route};

// ---------------------------------------------------------------------------------------------
// Routing (pure)

/// `*` matches any run of characters; everything else matches itself.
pub fn glob(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for p in &parts[1..parts.len() - 1] {
        match rest.find(p) {
            Some(i) => rest = &rest[i + p.len()..],
            None => return false,
        }
    }
    true
}

/// One requirement of a label selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requirement {
    Equals(String, String),
    NotEquals(String, String),
    Exists(String),
}

/// Parses `team=payments,tier!=web,owner` (spaces around parts allowed).
pub fn parse_selector(s: &str) -> Result<Vec<Requirement>, String> {
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let req = if let Some((k, v)) = part.split_once("!=") {
            Requirement::NotEquals(k.trim().to_owned(), v.trim().to_owned())
        } else if let Some((k, v)) = part.split_once('=') {
            let v = v.strip_prefix('=').unwrap_or(v);
            Requirement::Equals(k.trim().to_owned(), v.trim().to_owned())
        } else {
            Requirement::Exists(part.to_owned())
        };
        let key = match &req {
            Requirement::Equals(k, _) | Requirement::NotEquals(k, _) | Requirement::Exists(k) => k,
        };
        if key.is_empty() || key.contains(char::is_whitespace) || key.contains('=') {
            return Err(format!(
                "{part:?} is not a label requirement; write key=value, key!=value or key, separated by commas"
            ));
        }
        out.push(req);
    }
    Ok(out)
}

/// Whether `labels` satisfy every requirement of `selector` (an invalid
/// selector matches nothing: it was checked when the route was added).
pub fn selector_matches(selector: &str, labels: &BTreeMap<String, String>) -> bool {
    let Ok(reqs) = parse_selector(selector) else {
        return false;
    };
    reqs.iter().all(|r| match r {
        Requirement::Equals(k, v) => labels.get(k) == Some(v),
        Requirement::NotEquals(k, v) => labels.get(k) != Some(v),
        Requirement::Exists(k) => labels.contains_key(k),
    })
}

/// Whether an alert of `severity` on a workload in `namespace` with `labels`
/// goes to `route`. A route without namespace and selector takes every alert
/// of its severity or above.
pub fn matches(
    route: &Route,
    namespace: &str,
    labels: &BTreeMap<String, String>,
    severity: Severity,
) -> bool {
    severity >= route.min_severity()
        && (route.namespace.is_empty() || glob(&route.namespace, namespace))
        && (route.selector.is_empty() || selector_matches(&route.selector, labels))
}

/// The one line a chat channel shows.
pub fn text(a: &Alert) -> String {
    let container = if a.container.is_empty() {
        String::new()
    } else {
        format!(" container {:?}", a.container)
    };
    format!(
        "[{}] Portcullis alert #{} in cluster {}: {}{} fails \"{}\" under {} ({}): {}",
        a.severity,
        a.id,
        a.cluster,
        a.workload,
        container,
        a.control_title(),
        a.profile,
        a.mode,
        a.message
    )
}

/// The body POSTed for an alert.
pub fn payload(a: &Alert) -> Value {
    json!({ "text": text(a), "alert": a.to_json() })
}

// ---------------------------------------------------------------------------------------------
// The deliverer

/// Bumped whenever deliveries are queued, so deliverers look at once.
static QUEUED: LazyLock<watch::Sender<u64>> = LazyLock::new(|| watch::channel(0).0);

/// Tells the deliverers that deliveries were queued.
pub fn wake() {
    QUEUED.send_modify(|n| *n = n.wrapping_add(1));
}

/// How deliveries are attempted.
#[derive(Debug, Clone)]
pub struct DeliveryConfig {
    /// Wait after the first failure; doubled after each further one.
    pub base_delay: Duration,
    /// Attempts before a delivery is marked failed.
    pub max_attempts: u32,
    /// Bound on each attempt (connect, send, read the answer).
    pub timeout: Duration,
    /// Look for due deliveries at least this often.
    pub poll: Duration,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig {
            base_delay: Duration::from_secs(10),
            max_attempts: 5,
            timeout: Duration::from_secs(10),
            poll: Duration::from_secs(30),
        }
    }
}

impl DeliveryConfig {
    /// The wait before attempt `attempts + 1`, after `attempts` failures.
    pub fn backoff(&self, attempts: u32) -> Duration {
        let factor = 1u32 << attempts.saturating_sub(1).min(16);
        self.base_delay.saturating_mul(factor)
    }
}

/// POSTs `body` to `url`; `Err` says why it was not delivered.
async fn post(client: &HttpClient, url: &str, body: &str, timeout: Duration) -> Result<(), String> {
    let req = hyper::Request::post(url)
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .header(hyper::header::USER_AGENT, "portcullis")
        .body(Full::new(Bytes::from(body.to_owned())))
        .map_err(|e| format!("invalid request to {url}: {e}"))?;
    let attempt = async {
        let res = client
            .request(req)
            .await
            .map_err(|e| format!("cannot reach {url}: {}", error_chain(&e)))?;
        let status = res.status();
        let body = res
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        if status.is_success() {
            return Ok(());
        }
        let text = String::from_utf8_lossy(&body);
        let text: String = text.chars().take(200).collect();
        Err(format!("HTTP {status}: {}", text.trim()))
    };
    match tokio::time::timeout(timeout, attempt).await {
        Ok(r) => r,
        Err(_) => Err(format!("no answer within {} s", timeout.as_secs_f32())),
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// The deliverer's task and how many attempts it has made (tests wait on it).
pub struct Deliverer {
    pub task: tokio::task::JoinHandle<()>,
    pub attempts: watch::Receiver<u64>,
}

/// Sends due deliveries until the runtime stops.
pub fn spawn_deliverer(pool: SqlitePool, config: DeliveryConfig) -> Deliverer {
    let (count, attempts) = watch::channel(0u64);
    let task = tokio::spawn(async move {
        let client = http_client("notifications");
        let mut queued = QUEUED.subscribe();
        loop {
            queued.borrow_and_update();
            let now = crate::now_ms();
            let due = match store::notifications::due(&pool, now, 50).await {
                Ok(d) => d,
                Err(e) => {
                    tracing::error!(error = %e, "cannot read the notification outbox");
                    Vec::new()
                }
            };
            for d in &due {
                deliver(&pool, &client, &config, d).await;
                count.send_modify(|n| *n += 1);
            }
            if !due.is_empty() {
                continue;
            }
            let wait = match store::notifications::next_due(&pool).await {
                Ok(Some(at)) => Duration::from_millis((at - crate::now_ms()).max(0) as u64),
                _ => config.poll,
            }
            .min(config.poll);
            tokio::select! {
                r = queued.changed() => if r.is_err() { return },
                _ = tokio::time::sleep(wait) => {}
            }
        }
    });
    Deliverer { task, attempts }
}

async fn deliver(pool: &SqlitePool, client: &HttpClient, config: &DeliveryConfig, d: &Delivery) {
    let result = post(client, &d.url, &d.payload, config.timeout).await;
    let now = crate::now_ms();
    let attempts = u32::try_from(d.attempts)
        .unwrap_or(u32::MAX)
        .saturating_add(1);
    let outcome = match &result {
        Ok(()) => Attempt::Delivered,
        Err(error) if attempts >= config.max_attempts => Attempt::Failed { error },
        Err(error) => Attempt::Retry {
            error,
            at: now + config.backoff(attempts).as_millis() as i64,
        },
    };
    match &result {
        Ok(()) => tracing::info!(delivery = d.id, route = %d.route_name, "notification delivered"),
        Err(e) => {
            tracing::warn!(delivery = d.id, route = %d.route_name, attempt = attempts, error = %e, "notification not delivered")
        }
    }
    if let Err(e) = store::notifications::record(pool, d.id, outcome, now).await {
        tracing::error!(delivery = d.id, error = %e, "cannot record a delivery attempt");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        for (p, t, want) in [
            ("shop", "shop", true),
            ("shop", "shops", false),
            ("team-*", "team-a", true),
            ("team-*", "team-", true),
            ("team-*", "tea", false),
            ("*-prod", "pay-prod", true),
            ("*-prod", "pay-dev", false),
            ("a*b*c", "axxbyyc", true),
            ("a*b*c", "acb", false),
            ("*", "", true),
        ] {
            assert_eq!(glob(p, t), want, "{p} vs {t}");
        }
    }

    #[test]
    fn selectors() {
        let labels: BTreeMap<String, String> = [("team".to_owned(), "payments".to_owned())].into();
        assert!(selector_matches("team=payments", &labels));
        assert!(selector_matches("team==payments", &labels));
        assert!(!selector_matches("team=search", &labels));
        assert!(selector_matches("team!=search, team", &labels));
        assert!(!selector_matches("tier", &labels));
        assert!(parse_selector("=x").is_err());
        assert!(parse_selector("a b=c").is_err());
    }

    #[test]
    fn backoff_doubles() {
        let c = DeliveryConfig {
            base_delay: Duration::from_millis(100),
            ..DeliveryConfig::default()
        };
        assert_eq!(c.backoff(1), Duration::from_millis(100));
        assert_eq!(c.backoff(2), Duration::from_millis(200));
        assert_eq!(c.backoff(4), Duration::from_millis(800));
    }
}
