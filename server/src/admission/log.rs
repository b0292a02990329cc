//! The admission log: every decision goes through a bounded queue to one
//! writer task, which stores them in batches, a block per batch (keeping the
//! newest [`KEEP`] decisions; `store::admission`) and hands those that must become alerts to the
//! [`AlertSink`]. A review never waits for it: when the queue is full the
//! decision is dropped and counted (`portcullis_admission_log_dropped_total`).

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;
use sqlx::SqlitePool;
use tokio::sync::{Notify, mpsc, oneshot};

use crate::metrics::{self, ReviewVerdict};
use crate::model::WorkloadKey;
use crate::policy::assignments::{self, Applied, Finding, Mode};
use crate::policy::profiles::Violation;

/// Decisions kept in the admission log.
pub const KEEP: i64 = 10_000;
/// Decisions waiting for the writer before new ones are dropped.
const QUEUE: usize = 16_384;
/// Decisions written in one transaction (one block) at most.
const BATCH: usize = 1024;
/// How long the writer gathers decisions before writing them: short, so
/// that a batch under load is a few hundred decisions, written in a
/// millisecond or two. (At 100 ms a batch of thousands kept SQLite's thread
/// busy for several milliseconds at a time, and the reviews waiting for a
/// core meanwhile made p99 at 10,000 reviews/s 3.9–4.7 ms instead of
/// 2.0–2.2 ms; BENCHMARKS.md.)
const GATHER: std::time::Duration = std::time::Duration::from_millis(10);

/// One webhook decision, as logged.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Decision {
    /// Unix milliseconds.
    pub at: i64,
    pub uid: String,
    pub operation: String,
    pub kind: String,
    pub namespace: String,
    pub name: String,
    pub user: String,
    #[serde(serialize_with = "verdict_str")]
    pub verdict: ReviewVerdict,
    /// The mode whose profile decided (none when no profile applied).
    pub mode: Option<Mode>,
    pub profile: String,
    pub message: String,
    pub dry_run: bool,
    /// The cluster whose rules applied.
    #[serde(skip)]
    pub cluster: String,
    /// For a rejection or a failed audit (not in dry runs): what was judged,
    /// with the findings its alerts are made of.
    #[serde(skip)]
    pub subject: Option<Arc<Subject>>,
}

/// What a decision raises alerts for, from the review's verdicts (the pod
/// template itself is not kept: it is freed with the review).
#[derive(Debug)]
pub struct Subject {
    pub key: WorkloadKey,
    /// The pod template's labels (alert routes match them).
    pub labels: Option<BTreeMap<String, String>>,
    /// The modes whose profile the object failed (enforce, audit), with the
    /// violations of their verdicts (after exemptions).
    pub failed: Vec<(Applied, Vec<Violation>)>,
}

impl Subject {
    /// Whether the two make the same findings: the same object, with the
    /// same labels, failing the very same profiles (by pointer) in the same
    /// modes for the same violations.
    fn same(&self, other: &Subject) -> bool {
        self.key == other.key
            && self.labels == other.labels
            && self.failed.len() == other.failed.len()
            && self
                .failed
                .iter()
                .zip(&other.failed)
                .all(|((x, xv), (y, yv))| {
                    Arc::ptr_eq(&x.profile, &y.profile) && x.mode == y.mode && xv == yv
                })
    }
}

/// How many recent subjects [`Subjects`] keeps.
const SUBJECTS: usize = 16;

/// The subjects of recent failed reviews, so that repeats of one failure (a
/// client retrying, a controller creating replicas from one template, a
/// namespace audited against a stricter profile) share one [`Subject`]: the
/// log writer, on another thread, then drops a reference instead of freeing
/// a copy of every violation, and the alert sink tells repeats by pointer.
#[derive(Default)]
pub struct Subjects(std::sync::Mutex<std::collections::VecDeque<Arc<Subject>>>);

impl Subjects {
    /// `subject`, or an equal one shared by an earlier decision.
    pub fn share(&self, subject: Subject) -> Arc<Subject> {
        // A poisoned lock only means another review panicked while holding
        // it; the list of shared subjects is still whole.
        let mut recent = self.0.lock().unwrap_or_else(|e| e.into_inner());
        // The most recently used first: a burst of one failure finds it at once.
        let subject = match recent.iter().position(|s| s.same(&subject)) {
            Some(i) => recent.remove(i).unwrap_or_else(|| Arc::new(subject)),
            None => {
                recent.truncate(SUBJECTS - 1);
                Arc::new(subject)
            }
        };
        recent.push_front(subject.clone());
        subject
    }
}

fn verdict_str<S: serde::Serializer>(v: &ReviewVerdict, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(v.as_str())
}

impl Decision {
    pub fn new(at: i64, cluster: &str) -> Decision {
        Decision {
            at,
            uid: String::new(),
            operation: String::new(),
            kind: String::new(),
            namespace: String::new(),
            name: String::new(),
            user: String::new(),
            verdict: ReviewVerdict::Error,
            mode: None,
            profile: String::new(),
            message: String::new(),
            dry_run: false,
            cluster: cluster.to_owned(),
            subject: None,
        }
    }

    /// Rejections and failed audits raise alerts; dry runs never do.
    pub fn raises_alert(&self) -> bool {
        !self.dry_run && self.subject.is_some()
    }

    /// One finding per failing (container, control) of the modes that failed,
    /// as [`crate::policy::assignments::findings`] makes them for alerts
    /// (computed on each call: call it from the alert sink, not a request).
    pub fn findings(&self) -> Vec<Finding> {
        let mut out = Vec::new();
        if let Some(s) = &self.subject {
            let id = s.key.to_string();
            for (applied, violations) in &s.failed {
                assignments::findings_of(&id, applied, violations, &mut out);
            }
        }
        out
    }

    /// Whether `self` and `other` have the same [`Decision::findings`]: the
    /// same object in the same cluster, with the same labels, failing the
    /// same profiles in the same modes for the same violations (a client
    /// retrying a rejected object, a controller recreating a pod).
    pub fn same_findings(&self, other: &Decision) -> bool {
        let (Some(a), Some(b)) = (&self.subject, &other.subject) else {
            return false;
        };
        self.cluster == other.cluster && (Arc::ptr_eq(a, b) || a.same(b))
    }

    /// `namespace/Kind/name`.
    pub fn workload(&self) -> String {
        format!("{}/{}/{}", self.namespace, self.kind, self.name)
    }
}

/// Where decisions that must become alerts go. The alerts feature implements
/// it (e.g. by upserting `decision.findings()` with
/// `Finding::fingerprint(&decision.cluster)`); it is called from the log
/// writer task, never from a request.
pub trait AlertSink: Send + Sync + 'static {
    fn raise(&self, decision: &Decision);

    /// The decisions of one batch of the log writer that raise alerts, in
    /// order. By default [`AlertSink::raise`] for each; a sink may handle
    /// them together (one transaction for many repeats of one rejection).
    fn raise_all(&self, decisions: &[&Decision]) {
        for d in decisions {
            self.raise(d);
        }
    }
}

/// The sink until alerts are connected: a debug log line per decision.
pub struct NoAlerts;

impl AlertSink for NoAlerts {
    fn raise(&self, d: &Decision) {
        tracing::debug!(
            workload = %d.workload(),
            verdict = d.verdict.as_str(),
            "admission decision for alerts"
        );
    }
}

/// THE single place where decisions become alerts.
pub fn on_decision(sink: &dyn AlertSink, decision: &Decision) {
    on_decisions(sink, std::slice::from_ref(decision));
}

/// [`on_decision`] for a batch of decisions, handed to the sink together.
pub fn on_decisions(sink: &dyn AlertSink, decisions: &[Decision]) {
    let raising: Vec<&Decision> = decisions.iter().filter(|d| d.raises_alert()).collect();
    if !raising.is_empty() {
        sink.raise_all(&raising);
    }
}

enum Msg {
    Decision(Box<Decision>),
    Flush(oneshot::Sender<()>),
}

/// The sending side of the log queue.
#[derive(Clone)]
pub struct LogHandle {
    tx: mpsc::Sender<Msg>,
    /// Cuts the writer's gathering short for a flush.
    flushing: Arc<Notify>,
}

impl LogHandle {
    /// Queues a decision; never waits.
    pub fn record(&self, d: Decision) {
        if self.tx.try_send(Msg::Decision(Box::new(d))).is_err() {
            metrics::record_log_dropped();
        }
    }

    /// Waits until everything queued before is written.
    pub async fn flush(&self) {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Msg::Flush(tx)).await.is_ok() {
            self.flushing.notify_one();
            let _ = rx.await;
        }
    }
}

/// Starts the writer task.
pub fn spawn(pool: SqlitePool, sink: Arc<dyn AlertSink>) -> LogHandle {
    let (tx, rx) = mpsc::channel(QUEUE);
    let flushing = Arc::new(Notify::new());
    tokio::spawn(writer(pool, rx, sink, flushing.clone()));
    LogHandle { tx, flushing }
}

async fn writer(
    pool: SqlitePool,
    mut rx: mpsc::Receiver<Msg>,
    sink: Arc<dyn AlertSink>,
    flushing: Arc<Notify>,
) {
    let mut batch: Vec<Decision> = Vec::with_capacity(BATCH);
    let mut waiting: Vec<oneshot::Sender<()>> = Vec::new();
    let mut next = rx.recv().await;
    while let Some(first) = next.take() {
        // Gather for a moment, asleep (not woken by each decision): under
        // load a transaction per [`GATHER`], not one per decision. A flush
        // cuts it short.
        let gather = !matches!(first, Msg::Flush(_));
        match first {
            Msg::Decision(d) => batch.push(*d),
            Msg::Flush(done) => waiting.push(done),
        }
        if gather {
            tokio::select! {
                () = tokio::time::sleep(GATHER) => {}
                () = flushing.notified() => {}
            }
        }
        // What is queued goes in (flushes wait for it), a batch at a time.
        loop {
            while batch.len() < BATCH {
                match rx.try_recv() {
                    Ok(Msg::Decision(d)) => batch.push(*d),
                    Ok(Msg::Flush(done)) => waiting.push(done),
                    Err(_) => break,
                }
            }
            let full = batch.len() >= BATCH;
            write(&pool, &*sink, &mut batch).await;
            if !full {
                break;
            }
        }
        for done in waiting.drain(..) {
            let _ = done.send(());
        }
        next = rx.recv().await;
    }
}

/// Hands a batch to the alert sink and stores it; leaves `batch` empty.
async fn write(pool: &SqlitePool, sink: &dyn AlertSink, batch: &mut Vec<Decision>) {
    on_decisions(sink, batch);
    if !batch.is_empty()
        && let Err(e) = crate::store::admission::insert(pool, batch, KEEP).await
    {
        tracing::warn!(error = %e, decisions = batch.len(), "cannot write the admission log");
    }
    batch.clear();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Control;
    use crate::policy::assignments::Source;
    use crate::policy::profiles::Profile;

    fn subject(name: &str, profile: &Arc<Profile>, detail: &str) -> Subject {
        Subject {
            key: WorkloadKey {
                namespace: "shop".into(),
                kind: "Deployment".into(),
                name: name.into(),
            },
            labels: Some(BTreeMap::from([("app".into(), name.into())])),
            failed: vec![(
                Applied {
                    profile: profile.clone(),
                    mode: Mode::Audit,
                    source: Source::Namespace,
                    assignment: Some(1),
                },
                vec![Violation {
                    check: "runAsNonRoot",
                    control: Control::Users,
                    reason: "runAsNonRoot != true",
                    detail: detail.into(),
                    containers: vec!["web".into()],
                    field: None,
                    policy: None,
                }],
            )],
        }
    }

    #[test]
    fn repeats_of_a_failure_share_one_subject_and_others_do_not() {
        let restricted = Arc::new(Profile::preset("restricted").expect("preset"));
        let baseline = Arc::new(Profile::preset("baseline").expect("preset"));
        let subjects = Subjects::default();
        let first = subjects.share(subject("web", &restricted, "d"));
        let again = subjects.share(subject("web", &restricted, "d"));
        assert!(Arc::ptr_eq(&first, &again));
        // Anything different is its own: another object, another detail,
        // another (even equal-looking) profile.
        for other in [
            subject("api", &restricted, "d"),
            subject("web", &restricted, "e"),
            subject("web", &baseline, "d"),
            subject(
                "web",
                &Arc::new(Profile::preset("restricted").expect("preset")),
                "d",
            ),
        ] {
            let shared = subjects.share(other);
            assert!(!Arc::ptr_eq(&first, &shared), "{:?}", shared.key);
        }
        // Bounded: after SUBJECTS others, the first is forgotten.
        for i in 0..SUBJECTS {
            subjects.share(subject(&format!("w{i}"), &restricted, "d"));
        }
        let later = subjects.share(subject("web", &restricted, "d"));
        assert!(!Arc::ptr_eq(&first, &later));
        assert!(later.same(&first));
    }

    #[test]
    fn decisions_sharing_a_subject_have_the_same_findings_only_in_one_cluster() {
        let restricted = Arc::new(Profile::preset("restricted").expect("preset"));
        let shared = Arc::new(subject("web", &restricted, "d"));
        let mut a = Decision::new(1, "prod");
        a.subject = Some(shared.clone());
        let mut b = Decision::new(2, "prod");
        b.subject = Some(shared.clone());
        let mut c = Decision::new(3, "staging");
        c.subject = Some(shared);
        assert!(a.same_findings(&b));
        assert!(!a.same_findings(&c));
    }
}
