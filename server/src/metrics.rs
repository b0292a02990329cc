//! A tiny Prometheus registry of atomics, rendered in text format 0.0.4 at
//! `/metrics` (dashboard and webhook listeners). No heavy crates: a handful of
//! fixed-label counters, one histogram and two gauges, plus the open alerts
//! counted in the database at scrape time.

use std::fmt::Write as _;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use sqlx::SqlitePool;

use crate::model::WORKLOAD_KINDS;

/// The verdict of one review, as counted and logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReviewVerdict {
    Allowed,
    Denied,
    Warned,
    Audited,
    Error,
}

impl ReviewVerdict {
    pub const ALL: [ReviewVerdict; 5] = [
        ReviewVerdict::Allowed,
        ReviewVerdict::Denied,
        ReviewVerdict::Warned,
        ReviewVerdict::Audited,
        ReviewVerdict::Error,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ReviewVerdict::Allowed => "allowed",
            ReviewVerdict::Denied => "denied",
            ReviewVerdict::Warned => "warned",
            ReviewVerdict::Audited => "audited",
            ReviewVerdict::Error => "error",
        }
    }

    pub fn parse(s: &str) -> Option<ReviewVerdict> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// Label values of `mode`: the three modes and `none` (no profile applied).
const MODES: [&str; 4] = ["enforce", "warn", "audit", "none"];
/// Label values of `kind`: the workload kinds and `other` (unreadable input).
const KINDS: usize = WORKLOAD_KINDS.len() + 1;

/// Upper bounds of the review latency histogram, in seconds.
pub const BUCKETS: [f64; 14] = [
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
];

pub struct Registry {
    reviews: [[[AtomicU64; KINDS]; 4]; 5],
    /// Counts per bucket, each review in the first one that holds it (one
    /// shared counter touched per review, not one per bucket); summed into
    /// Prometheus's cumulative buckets when rendered.
    latency: [AtomicU64; BUCKETS.len()],
    latency_count: AtomicU64,
    latency_sum_ns: AtomicU64,
    snapshot_seconds: AtomicU64,
    snapshot_workloads: AtomicU64,
    snapshot_taken: AtomicU64,
    log_dropped: AtomicU64,
}

static REGISTRY: LazyLock<Registry> = LazyLock::new(|| Registry {
    reviews: Default::default(),
    latency: Default::default(),
    latency_count: AtomicU64::new(0),
    latency_sum_ns: AtomicU64::new(0),
    snapshot_seconds: AtomicU64::new(0),
    snapshot_workloads: AtomicU64::new(0),
    snapshot_taken: AtomicU64::new(0),
    log_dropped: AtomicU64::new(0),
});

/// The process-wide registry.
pub fn global() -> &'static Registry {
    &REGISTRY
}

fn kind_index(kind: &str) -> usize {
    WORKLOAD_KINDS
        .iter()
        .position(|k| *k == kind)
        .unwrap_or(WORKLOAD_KINDS.len())
}

fn verdict_index(v: ReviewVerdict) -> usize {
    v as usize
}

/// Counts one review and its latency.
pub fn record_review(verdict: ReviewVerdict, mode: Option<&str>, kind: &str, took: Duration) {
    let r = global();
    let m = mode
        .and_then(|m| MODES.iter().position(|x| *x == m))
        .unwrap_or(3);
    r.reviews[verdict_index(verdict)][m][kind_index(kind)].fetch_add(1, Relaxed);
    let secs = took.as_secs_f64();
    if let Some(i) = BUCKETS.iter().position(|le| secs <= *le) {
        r.latency[i].fetch_add(1, Relaxed);
    }
    r.latency_count.fetch_add(1, Relaxed);
    r.latency_sum_ns
        .fetch_add(u64::try_from(took.as_nanos()).unwrap_or(u64::MAX), Relaxed);
}

/// Records the last snapshot: how long it took and how many workloads it holds.
/// Called wherever a snapshot is taken (cli serve, cli snapshot, live cluster).
pub fn record_snapshot(took: Duration, workloads: usize) {
    let r = global();
    r.snapshot_seconds
        .store(took.as_secs_f64().to_bits(), Relaxed);
    r.snapshot_workloads.store(workloads as u64, Relaxed);
    r.snapshot_taken.store(1, Relaxed);
}

/// A decision the admission log could not keep (its queue was full).
pub fn record_log_dropped() {
    global().log_dropped.fetch_add(1, Relaxed);
}

/// Prometheus label value escaping (backslash, quote, newline).
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The text exposition, with open alerts counted in `pool` (skipped, with a
/// comment, when the alerts table does not exist or cannot be read).
pub async fn render(pool: &SqlitePool) -> String {
    let open = open_alerts(pool).await;
    render_with(open)
}

async fn open_alerts(pool: &SqlitePool) -> Result<Vec<(String, i64)>, sqlx::Error> {
    let exists: Option<(String,)> =
        sqlx::query_as("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'alerts'")
            .fetch_optional(pool)
            .await?;
    if exists.is_none() {
        return Ok(Vec::new());
    }
    sqlx::query_as(
        "SELECT namespace, COUNT(*) FROM alerts WHERE state = 'open' GROUP BY namespace ORDER BY namespace",
    )
    .fetch_all(pool)
    .await
}

fn render_with(open: Result<Vec<(String, i64)>, sqlx::Error>) -> String {
    let r = global();
    let mut out = String::with_capacity(8 * 1024);
    out.push_str("# HELP portcullis_admission_reviews_total Admission reviews answered, by verdict, mode and kind.\n");
    out.push_str("# TYPE portcullis_admission_reviews_total counter\n");
    for v in ReviewVerdict::ALL {
        for (mi, mode) in MODES.iter().enumerate() {
            for ki in 0..KINDS {
                let n = r.reviews[verdict_index(v)][mi][ki].load(Relaxed);
                if n == 0 {
                    continue;
                }
                let kind = WORKLOAD_KINDS.get(ki).copied().unwrap_or("other");
                let _ = writeln!(
                    out,
                    "portcullis_admission_reviews_total{{verdict=\"{}\",mode=\"{mode}\",kind=\"{kind}\"}} {n}",
                    v.as_str()
                );
            }
        }
    }
    out.push_str(
        "# HELP portcullis_admission_review_duration_seconds Time to answer an admission review.\n",
    );
    out.push_str("# TYPE portcullis_admission_review_duration_seconds histogram\n");
    let mut cumulative = 0;
    for (i, le) in BUCKETS.iter().enumerate() {
        cumulative += r.latency[i].load(Relaxed);
        let _ = writeln!(
            out,
            "portcullis_admission_review_duration_seconds_bucket{{le=\"{le}\"}} {cumulative}"
        );
    }
    // Read last: a review counted in a bucket above is counted here too.
    let count = r.latency_count.load(Relaxed).max(cumulative);
    let _ = writeln!(
        out,
        "portcullis_admission_review_duration_seconds_bucket{{le=\"+Inf\"}} {count}"
    );
    let _ = writeln!(
        out,
        "portcullis_admission_review_duration_seconds_sum {}",
        r.latency_sum_ns.load(Relaxed) as f64 / 1e9
    );
    let _ = writeln!(
        out,
        "portcullis_admission_review_duration_seconds_count {count}"
    );
    out.push_str("# HELP portcullis_admission_log_dropped_total Decisions left out of the admission log because its queue was full.\n");
    out.push_str("# TYPE portcullis_admission_log_dropped_total counter\n");
    let _ = writeln!(
        out,
        "portcullis_admission_log_dropped_total {}",
        r.log_dropped.load(Relaxed)
    );
    if r.snapshot_taken.load(Relaxed) != 0 {
        out.push_str("# HELP portcullis_snapshot_duration_seconds Time the last snapshot took.\n");
        out.push_str("# TYPE portcullis_snapshot_duration_seconds gauge\n");
        let _ = writeln!(
            out,
            "portcullis_snapshot_duration_seconds {}",
            f64::from_bits(r.snapshot_seconds.load(Relaxed))
        );
        out.push_str("# HELP portcullis_snapshot_workloads Workloads in the last snapshot.\n");
        out.push_str("# TYPE portcullis_snapshot_workloads gauge\n");
        let _ = writeln!(
            out,
            "portcullis_snapshot_workloads {}",
            r.snapshot_workloads.load(Relaxed)
        );
    }
    out.push_str("# HELP portcullis_alerts_open Open alerts, by namespace.\n");
    out.push_str("# TYPE portcullis_alerts_open gauge\n");
    match open {
        Ok(rows) => {
            for (ns, n) in rows {
                let _ = writeln!(
                    out,
                    "portcullis_alerts_open{{namespace=\"{}\"}} {n}",
                    label(&ns)
                );
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot count open alerts for /metrics");
            out.push_str("# open alerts could not be counted\n");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_escaped() {
        assert_eq!(label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }

    #[test]
    fn a_review_lands_in_its_buckets_and_counter() {
        record_review(
            ReviewVerdict::Denied,
            Some("enforce"),
            "CronJob",
            Duration::from_micros(300),
        );
        let text = render_with(Ok(vec![("shop".into(), 2)]));
        assert!(text.contains(
            "portcullis_admission_reviews_total{verdict=\"denied\",mode=\"enforce\",kind=\"CronJob\"} "
        ));
        assert!(text.contains("portcullis_alerts_open{namespace=\"shop\"} 2"));
        // 300µs is above the 250µs bucket's bound: buckets are cumulative, so
        // +Inf counts at least as many as 0.0005.
        let bucket = |le: &str| -> u64 {
            text.lines()
                .find_map(|l| {
                    l.strip_prefix(&format!(
                        "portcullis_admission_review_duration_seconds_bucket{{le=\"{le}\"}} "
                    ))
                })
                .and_then(|n| n.parse().ok())
                .unwrap_or(0)
        };
        assert!(bucket("0.0005") >= 1);
        assert!(bucket("+Inf") >= bucket("0.0005"));
        assert!(bucket("0.0005") >= bucket("0.00025"));
        // Cumulative all the way up.
        let all: Vec<u64> = BUCKETS
            .iter()
            .map(|le| bucket(&le.to_string()))
            .chain([bucket("+Inf")])
            .collect();
        assert!(all.windows(2).all(|w| w[0] <= w[1]), "{all:?}");
        assert!(bucket("1") >= 1, "{all:?}");
    }
}
