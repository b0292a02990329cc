//! The admission webhook: AdmissionReview v1 validate and mutate for Pods and
//! the pod templates of workloads, judged with the rules in force
//! ([`crate::rules`]) and the namespace labels of the newest snapshot, both
//! held in memory. A review never waits on SQLite: decisions go to the
//! admission log through a queue ([`log`]).
//!
//! ```text
//!   body ─► ReviewIn ─► object (typed, one pass) ─► Reviewed ─► exemptions (flags)
//!        ─► Rules::effective per mode ─► assignments::judge ─► response + Decision
//! ```
//!
//! Updates: as pod-security-admission does, an UPDATE of a Pod is judged only
//! when it is significant (containers added or removed, an image changed, a
//! seccomp annotation changed, an ephemeral container added or changed);
//! other updates (labels, annotations, owner references, finalizers: what
//! controllers and the garbage collector write) are allowed unjudged. An
//! UPDATE of a workload is judged only when its pod template changed.

pub mod last_applied;
pub mod log;
pub mod object;
pub mod review;
pub mod tls;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, RwLock};
use std::task::Poll;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response as HttpResponse};
use axum::routing::{get, post};
use base64::Engine as _;
use k8s_openapi::api::core::v1::Container;
use serde_json::Value;
use sqlx::SqlitePool;
use tower_http::timeout::TimeoutLayer;

use crate::AppState;
use crate::metrics::{self, ReviewVerdict};
use crate::model::{
    Origin, PodTemplate, WORKLOAD_KINDS, Workload, WorkloadKey, template_path, template_pointer,
};
use crate::policy::assignments::{self, Mode};
use crate::policy::profiles::Violation;
use crate::rules::RulesHandle;

pub use log::{AlertSink, Decision, NoAlerts};
use review::{RequestOf, Response, ReviewIn, ReviewOut, Status};

/// Request bodies above this size get a review answer naming the limit.
pub const BODY_LIMIT: usize = 3 * 1024 * 1024;

/// How to answer a review Portcullis cannot read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum FailureMode {
    /// Admit the object (fail open).
    Allow,
    /// Reject the object (fail closed).
    #[default]
    Deny,
}

/// What the operator configures (`serve --webhook-…`, `--exempt-…`).
#[derive(Debug, Clone)]
pub struct Config {
    /// The cluster whose assignments apply (`--webhook-cluster`).
    pub cluster: String,
    pub exempt_namespaces: HashSet<String>,
    pub exempt_users: HashSet<String>,
    pub exempt_runtime_classes: HashSet<String>,
    pub failure_mode: FailureMode,
    /// Bound on answering one request.
    pub timeout: Duration,
}

impl Config {
    pub fn new(cluster: impl Into<String>) -> Config {
        Config {
            cluster: cluster.into(),
            exempt_namespaces: HashSet::new(),
            exempt_users: HashSet::new(),
            exempt_runtime_classes: HashSet::new(),
            failure_mode: FailureMode::Deny,
            timeout: Duration::from_secs(10),
        }
    }
}

type Labels = BTreeMap<String, String>;

/// Namespace labels of the newest snapshot of one cluster, in memory.
#[derive(Debug, Default)]
pub struct NamespaceLabels {
    current: RwLock<Arc<HashMap<String, Labels>>>,
}

impl NamespaceLabels {
    pub fn get(&self) -> Arc<HashMap<String, Labels>> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Re-reads the labels from the newest snapshot of `cluster`.
    pub async fn reload(&self, pool: &SqlitePool, cluster: &str) -> Result<(), sqlx::Error> {
        let mut map = HashMap::new();
        if let Some(s) = crate::store::snapshots::latest_of(pool, cluster).await? {
            for ns in crate::store::namespaces::list(pool, s.id).await? {
                map.insert(ns.name, ns.labels);
            }
        }
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(map);
        Ok(())
    }
}

/// The webhook: configuration, the rules and labels in memory, the log queue.
pub struct Webhook {
    config: Config,
    rules: Arc<RulesHandle>,
    namespaces: Arc<NamespaceLabels>,
    log: log::LogHandle,
    /// Failed reviews' subjects, shared between repeats.
    subjects: log::Subjects,
    pool: SqlitePool,
}

impl Webhook {
    /// Loads the namespace labels, then keeps them fresh (after each snapshot)
    /// and starts the admission log writer, which hands decisions that must
    /// become alerts to `alerts`.
    pub async fn start(
        state: &AppState,
        config: Config,
        alerts: Arc<dyn AlertSink>,
    ) -> Result<Arc<Webhook>, sqlx::Error> {
        let namespaces = Arc::new(NamespaceLabels::default());
        namespaces.reload(&state.pool, &config.cluster).await?;
        {
            let namespaces = namespaces.clone();
            let pool = state.pool.clone();
            let cluster = config.cluster.clone();
            let mut taken = crate::store::snapshots::subscribe();
            tokio::spawn(async move {
                while taken.changed().await.is_ok() {
                    if let Err(e) = namespaces.reload(&pool, &cluster).await {
                        tracing::warn!(error = %e, "cannot reload namespace labels for the webhook");
                    }
                }
            });
        }
        Ok(Arc::new(Webhook {
            log: log::spawn(state.pool.clone(), alerts),
            subjects: log::Subjects::default(),
            config,
            rules: state.rules.clone(),
            namespaces,
            pool: state.pool.clone(),
        }))
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn namespaces(&self) -> &NamespaceLabels {
        &self.namespaces
    }

    /// Waits until every decision made so far is in the admission log (and
    /// handed to the alert sink).
    pub async fn flush(&self) {
        self.log.flush().await;
    }

    /// Answers one review body: the response to send, and the decision to log.
    pub fn review(&self, body: &[u8], mutate: bool) -> (ReviewOut, Decision) {
        let mut d = Decision::new(crate::now_ms(), &self.config.cluster);
        let response = match self.decide(body, mutate, &mut d) {
            Ok(r) => r,
            Err(message) => self.bad_input(&mut d, message),
        };
        (ReviewOut::new(response), d)
    }

    /// The answer to input that cannot be judged, following the failure mode.
    fn bad_input(&self, d: &mut Decision, message: String) -> Response {
        d.verdict = ReviewVerdict::Error;
        d.message.clone_from(&message);
        let allowed = self.config.failure_mode == FailureMode::Allow;
        Response {
            uid: d.uid.clone(),
            allowed,
            status: Some(Status {
                code: 400,
                reason: "BadRequest",
                message: format!("Portcullis cannot review this request: {message}"),
            }),
            ..Response::default()
        }
    }

    fn allow(d: &mut Decision, message: impl Into<String>) -> Result<Response, Option<String>> {
        d.verdict = ReviewVerdict::Allowed;
        d.message = message.into();
        Ok(Response {
            uid: d.uid.clone(),
            allowed: true,
            ..Response::default()
        })
    }

    /// The body is parsed once: the objects are read with the envelope
    /// ([`object::Object`]). Only when that cannot judge the review (invalid
    /// input, old forms) is it parsed again with the objects left raw, for
    /// the manifest loader to read them or say precisely what is wrong.
    ///
    /// The fast read is of the body with its last-applied configurations
    /// marked ([`last_applied`]), when every marker is one the object reader
    /// skipped; otherwise of the body as it came.
    fn decide(&self, body: &[u8], mutate: bool, d: &mut Decision) -> Result<Response, String> {
        self.decide_marked(body, mutate, d, true)
    }

    /// [`Webhook::decide`], the marking optional (tests compare both).
    fn decide_marked(
        &self,
        body: &[u8],
        mutate: bool,
        d: &mut Decision,
        marking: bool,
    ) -> Result<Response, String> {
        // The fast read checks UTF-8 once for the whole body, not string by
        // string (any error is the slow path's to word).
        let read = |b: &[u8]| {
            std::str::from_utf8(b)
                .ok()
                .and_then(|s| serde_json::from_str::<review::ReviewOf<object::Lean>>(s).ok())
        };
        let marked = if marking {
            last_applied::mark(body).and_then(|(b, n)| read(&b).filter(|r| marks(r) == n))
        } else {
            None
        };
        let fast = marked.or_else(|| read(body));
        if let Some(review) = fast {
            match self.decide_review(review, mutate, d) {
                Ok(r) => return Ok(r),
                Err(Some(message)) => return Err(message),
                Err(None) => *d = Decision::new(d.at, &self.config.cluster),
            }
        }
        let review: ReviewIn<'_> = serde_json::from_slice(body)
            .map_err(|e| format!("the body is not an AdmissionReview in JSON: {e}"))?;
        self.decide_review(review, mutate, d)
            .map_err(|e| e.unwrap_or_else(|| "request.object cannot be read".into()))
    }

    /// [`Webhook::decide`] on a parsed review; `Err(None)` when its objects
    /// must be read again by the slow path.
    fn decide_review<O: ReadObject>(
        &self,
        review: review::ReviewOf<O>,
        mutate: bool,
        d: &mut Decision,
    ) -> Result<Response, Option<String>> {
        match review.api_version.as_deref() {
            Some(review::API_VERSION) => {}
            Some(v) => {
                return Err(Some(format!(
                    "apiVersion {v:?} is not supported: send {}",
                    review::API_VERSION
                )));
            }
            None => {
                return Err(Some(format!(
                    "apiVersion is missing: send {}",
                    review::API_VERSION
                )));
            }
        }
        match review.kind.as_deref() {
            Some(review::KIND) => {}
            Some(k) => return Err(Some(format!("kind {k:?} is not AdmissionReview"))),
            None => return Err(Some("kind is missing: send AdmissionReview".into())),
        }
        let Some(mut req) = review.request else {
            return Err(Some("request is missing".into()));
        };
        // Moved where the request is not read again; the object readers
        // still read its kind, name and namespace.
        d.uid = std::mem::take(&mut req.uid);
        d.operation = std::mem::take(&mut req.operation);
        d.kind.clone_from(&req.kind.kind);
        d.namespace = req.namespace.clone().unwrap_or_default();
        d.name = req.name.clone().unwrap_or_default();
        d.user = std::mem::take(&mut req.user_info.username);
        d.dry_run = req.dry_run.unwrap_or(false);

        if !matches!(d.operation.as_str(), "CREATE" | "UPDATE") {
            return Self::allow(d, format!("operation {} is not reviewed", d.operation));
        }
        match req.sub_resource.as_deref() {
            None | Some("") | Some("ephemeralcontainers") => {}
            Some(other) => {
                return Self::allow(d, format!("subresource {other} is not reviewed"));
            }
        }
        let Some(object) = req.object.take() else {
            return Err(Some("request.object is missing".into()));
        };
        let old_object = req.old_object.take();
        let w = object.workload(&req, "request.object")?;
        d.kind.clone_from(&w.key.kind);
        d.namespace.clone_from(&w.key.namespace);
        d.name.clone_from(&w.key.name);

        if d.operation == "UPDATE"
            && let Some(old) = old_object
        {
            match old.workload(&req, "request.oldObject") {
                Ok(old) if !significant_change(&w.key.kind, &old.template, &w.template) => {
                    // A workload's update is judged when anything in its pod
                    // template changed, and the lean read cannot see the
                    // fields it skipped: the full read tells.
                    if O::LEAN && w.key.kind != "Pod" {
                        return Err(None);
                    }
                    return Self::allow(d, "the update changes nothing pod security checks");
                }
                // The fast read could not tell: the slow path decides.
                Err(None) => return Err(None),
                // A significant change, or an old object the loader cannot
                // read either: judged.
                Ok(_) | Err(Some(_)) => {}
            }
        }

        let cfg = &self.config;
        if cfg.exempt_namespaces.contains(&w.key.namespace) {
            return Self::allow(d, format!("namespace {} is exempt", w.key.namespace));
        }
        if !d.user.is_empty() && cfg.exempt_users.contains(&d.user) {
            return Self::allow(d, format!("user {} is exempt", d.user));
        }
        if let Some(rc) = w.template.spec.runtime_class_name.as_deref()
            && cfg.exempt_runtime_classes.contains(rc)
        {
            return Self::allow(d, format!("runtime class {rc} is exempt"));
        }

        Ok(self.judge(w, mutate, d))
    }

    /// The profiles in force on `w`, per mode, with exemptions.
    fn judge(&self, w: Reviewed, mutate: bool, d: &mut Decision) -> Response {
        let rules = self.rules.get();
        let labels = self.namespaces.get();
        let ns_labels = labels.get(&w.key.namespace);
        let cluster = self.config.cluster.as_str();
        let id = w.key.to_string();
        let now = d.at;
        let exempt = rules.exemptions_for(cluster, &id, now);
        let [enforce, warn, audit] = rules.effective(cluster, &w.key, ns_labels);

        let mut response = Response {
            uid: d.uid.clone(),
            allowed: true,
            ..Response::default()
        };
        d.verdict = ReviewVerdict::Allowed;
        let mut mutated: Option<PodTemplate> = None;
        // Rejections and failed audits: the violations of their verdicts,
        // for the log writer to make the findings of (the template is freed
        // with the review).
        let mut failed = false;
        let mut violations: Vec<(assignments::Applied, Vec<Violation>)> = Vec::new();

        if enforce.is_none() && warn.is_none() && audit.is_none() {
            d.message = format!("no profile applies to {id}");
            return response;
        }
        if let Some(a) = &enforce {
            let mut v = assignments::judge(&a.profile, &w.template, &exempt);
            d.mode = Some(Mode::Enforce);
            d.profile.clone_from(&a.profile.name);
            if !v.allowed {
                if !d.dry_run {
                    violations.push((a.clone(), std::mem::take(&mut v.violations)));
                }
                response.allowed = false;
                response.status = Some(Status {
                    code: 403,
                    reason: "Forbidden",
                    message: v.message.clone(),
                });
                d.verdict = ReviewVerdict::Denied;
                d.message = v.message;
                failed = true;
            } else if v.mutates() {
                if mutate {
                    let prefix = template_pointer(&w.key.kind);
                    let ops: Vec<_> = v.patch.iter().map(|op| op.under(&prefix)).collect();
                    match serde_json::to_vec(&ops) {
                        Ok(json) => {
                            response.patch =
                                Some(base64::engine::general_purpose::STANDARD.encode(json));
                            response.patch_type = Some("JSONPatch");
                            d.message = format!(
                                "{} default{} of {} applied",
                                ops.len(),
                                if ops.len() == 1 { "" } else { "s" },
                                a.profile.name
                            );
                        }
                        Err(e) => {
                            tracing::error!(error = %e, "cannot encode a patch");
                        }
                    }
                    mutated = v.mutated;
                } else if v.changes_settings {
                    // Validation sees the object as admitted: without the
                    // mutating webhook the defaults were not applied.
                    let paths: Vec<&str> = v.patch.iter().map(|p| p.path.as_str()).collect();
                    let message = format!(
                        "profile {:?} sets defaults this object lacks ({}): send it through /admission/mutate first, or set them",
                        a.profile.name,
                        paths.join(", ")
                    );
                    response.allowed = false;
                    response.status = Some(Status {
                        code: 403,
                        reason: "Forbidden",
                        message: message.clone(),
                    });
                    d.verdict = ReviewVerdict::Denied;
                    d.message = message;
                    failed = true;
                }
            }
        }
        let judged = mutated.as_ref().unwrap_or(&w.template);
        let mut warned = None;
        if let Some(a) = &warn {
            let v = assignments::judge(&a.profile, judged, &exempt);
            if !v.allowed {
                let text = v.warning();
                if d.verdict == ReviewVerdict::Allowed {
                    d.verdict = ReviewVerdict::Warned;
                    d.mode = Some(Mode::Warn);
                    d.profile.clone_from(&a.profile.name);
                    d.message.clone_from(&text);
                }
                response.warnings.push(text);
            }
            warned = Some(v);
        }
        if let Some(a) = &audit {
            // Warn and audit often name one profile (the namespace labels'
            // usual `warn=restricted`, `audit=restricted`): judged once.
            let same = warn
                .as_ref()
                .is_some_and(|w| Arc::ptr_eq(&w.profile, &a.profile));
            let mut v = match warned.take() {
                Some(v) if same => v,
                _ => assignments::judge(&a.profile, judged, &exempt),
            };
            if !v.allowed {
                if !d.dry_run {
                    violations.push((a.clone(), std::mem::take(&mut v.violations)));
                }
                let text = v.warning();
                if d.verdict == ReviewVerdict::Allowed {
                    d.verdict = ReviewVerdict::Audited;
                    d.mode = Some(Mode::Audit);
                    d.profile.clone_from(&a.profile.name);
                    d.message.clone_from(&text);
                }
                response
                    .audit_annotations
                    .insert("pod-security.kubernetes.io/audit-violations".into(), text);
                failed = true;
            }
        }
        if d.verdict == ReviewVerdict::Allowed && d.profile.is_empty() {
            // Only warn/audit apply and both pass: name the first.
            if let Some(a) = warn.as_ref().or(audit.as_ref()) {
                d.mode = Some(a.mode);
                d.profile.clone_from(&a.profile.name);
            }
        }
        if !d.dry_run && failed {
            let mut template = mutated.unwrap_or(w.template);
            d.subject = Some(self.subjects.share(log::Subject {
                key: w.key,
                labels: template.metadata.labels.take(),
                failed: violations,
            }));
        }
        response
    }
}

/// The markers of [`last_applied`] the object reader skipped in a review's
/// objects.
fn marks(r: &review::ReviewOf<object::Lean>) -> usize {
    r.request.as_ref().map_or(0, |req| {
        req.object.as_ref().map_or(0, |o| o.0.marks)
            + req.old_object.as_ref().map_or(0, |o| o.0.marks)
    })
}

/// What a review judges of an object: its key and its pod template.
#[derive(Debug, Clone, PartialEq)]
pub struct Reviewed {
    pub key: WorkloadKey,
    pub template: PodTemplate,
}

/// The Pod or workload in `raw`. Its kind is its own (`kind`, else the
/// request's); a missing name (pods of controllers only have `generateName`
/// at creation) or namespace comes from the request. Read in one pass with
/// [`object::read`]; when that fails, read again with the manifest loader,
/// which accepts a few old forms and otherwise says precisely what is wrong.
fn parse_workload<O>(raw: &str, req: &RequestOf<O>, what: &str) -> Result<Reviewed, String> {
    match object::read(raw).ok().and_then(|o| reviewed(o, req)) {
        Some(r) => Ok(r),
        None => parse_with_loader(raw, req, what).map(|w| Reviewed {
            key: w.key,
            template: w.template,
        }),
    }
}

/// How a review's object is read: typed with the envelope (the fast path),
/// or from its raw text (the slow path, which words errors).
trait ReadObject {
    /// Whether the containers were read without the fields no check reads
    /// ([`object::Lean`]).
    const LEAN: bool;
    /// The Pod or workload; `Err(None)` when this read cannot tell and the
    /// slow path must.
    fn workload<O>(self, req: &RequestOf<O>, what: &str) -> Result<Reviewed, Option<String>>;
}

impl ReadObject for &serde_json::value::RawValue {
    const LEAN: bool = false;
    fn workload<O>(self, req: &RequestOf<O>, what: &str) -> Result<Reviewed, Option<String>> {
        parse_workload(self.get(), req, what).map_err(Some)
    }
}

impl ReadObject for object::Lean {
    const LEAN: bool = true;
    fn workload<O>(self, req: &RequestOf<O>, _what: &str) -> Result<Reviewed, Option<String>> {
        reviewed(*self.0, req).ok_or(None)
    }
}

/// [`parse_workload`] without error messages: `None` for anything the loader
/// would have to word (or read in an old form).
#[cfg(test)]
fn read_fast<O>(raw: &str, req: &RequestOf<O>) -> Option<Reviewed> {
    reviewed(object::read(raw).ok()?, req)
}

/// The Pod or workload of an object read by [`object::read`]; `None` for
/// anything the loader would have to word (or read in an old form).
fn reviewed<O>(mut obj: object::Object, req: &RequestOf<O>) -> Option<Reviewed> {
    let assumed = req.kind.kind.as_str();
    let kind = match obj.kind.take() {
        Some(k) if !k.is_empty() => k,
        _ => assumed.to_owned(),
    };
    let kind = *WORKLOAD_KINDS.iter().find(|k| **k == kind)?;
    let accepted = match obj.api_version.as_deref() {
        Some(v) if !v.is_empty() => crate::ingest::manifests::reads(kind, v),
        _ if req.kind.group.is_empty() => crate::ingest::manifests::reads(kind, &req.kind.version),
        _ => crate::ingest::manifests::reads(
            kind,
            &format!("{}/{}", req.kind.group, req.kind.version),
        ),
    };
    if !accepted {
        return None;
    }
    let nonempty = |s: &Option<String>| s.as_ref().filter(|s| !s.is_empty()).cloned();
    let mut template = obj.template(kind)?;
    let meta = &mut obj.metadata;
    let name = nonempty(&meta.name)
        .or_else(|| nonempty(&req.name))
        .or_else(|| nonempty(&meta.generate_name))?;
    let namespace = nonempty(&meta.namespace).or_else(|| nonempty(&req.namespace));
    if template_path(kind).is_empty() {
        meta.name = Some(name.clone());
        if namespace.is_some() {
            meta.namespace.clone_from(&namespace);
        }
        template.metadata = obj.metadata;
    }
    Some(Reviewed {
        key: WorkloadKey::new(namespace.unwrap_or_else(|| "default".into()), kind, name),
        template,
    })
}

/// The Pod or workload in `raw`, read with the manifest loader (the slow path
/// of [`parse_workload`]).
fn parse_with_loader<O>(raw: &str, req: &RequestOf<O>, what: &str) -> Result<Workload, String> {
    let mut value = slim(raw).map_err(|e| format!("{what} is not valid JSON: {e}"))?;
    let Value::Object(obj) = &mut value else {
        return Err(format!("{what} is not an object"));
    };
    let kind = match obj.get("kind") {
        Some(Value::String(k)) if !k.is_empty() => k.clone(),
        _ => req.kind.kind.clone(),
    };
    if !WORKLOAD_KINDS.contains(&kind.as_str()) {
        let kind = if kind.is_empty() {
            "object without a kind".to_owned()
        } else {
            kind
        };
        return Err(format!(
            "{what} is a {kind}, not a Pod or a workload with a pod template ({})",
            WORKLOAD_KINDS.join(", ")
        ));
    }
    obj.entry("kind")
        .or_insert_with(|| Value::String(kind.clone()));
    if !obj.get("apiVersion").is_some_and(Value::is_string) {
        let gv = if req.kind.group.is_empty() {
            req.kind.version.clone()
        } else {
            format!("{}/{}", req.kind.group, req.kind.version)
        };
        obj.insert("apiVersion".into(), Value::String(gv));
    }
    let meta = obj
        .entry("metadata")
        .or_insert_with(|| Value::Object(Default::default()));
    let Value::Object(meta) = meta else {
        return Err(format!("{what}.metadata is not an object"));
    };
    let has = |m: &serde_json::Map<String, Value>, k: &str| matches!(m.get(k), Some(Value::String(s)) if !s.is_empty());
    if !has(meta, "name") {
        let name =
            req.name
                .clone()
                .filter(|n| !n.is_empty())
                .or_else(|| match meta.get("generateName") {
                    Some(Value::String(g)) if !g.is_empty() => Some(g.clone()),
                    _ => None,
                });
        if let Some(name) = name {
            meta.insert("name".into(), Value::String(name));
        }
    }
    if !has(meta, "namespace")
        && let Some(ns) = req.namespace.as_ref().filter(|n| !n.is_empty())
    {
        meta.insert("namespace".into(), Value::String(ns.clone()));
    }
    let mut inv = crate::model::Inventory::default();
    let origin = Origin {
        file: what.to_owned(),
        document: 0,
        line: 0,
    };
    crate::ingest::manifests::load_value(value, &origin, &mut inv);
    if let Some(w) = inv.workloads.pop() {
        return Ok(w);
    }
    if let Some(e) = inv.errors.first() {
        return Err(format!("{what}: {}", e.message));
    }
    let skipped: Vec<&String> = inv.skipped.keys().collect();
    Err(format!(
        "{what} is not a Pod or workload Portcullis reads ({})",
        skipped
            .first()
            .map(|s| s.as_str())
            .unwrap_or("unknown kind")
    ))
}

/// The parts of an object the loader reads, without what the API server adds
/// (`metadata.managedFields`, `status`, …), which can be most of a review's
/// bytes and would only be parsed to be dropped. Not an object: as it is.
fn slim(raw: &str) -> Result<Value, serde_json::Error> {
    #[derive(serde::Deserialize)]
    struct Top {
        #[serde(rename = "apiVersion")]
        api_version: Option<Value>,
        kind: Option<Value>,
        metadata: Option<Meta>,
        spec: Option<Value>,
    }
    #[derive(serde::Deserialize)]
    struct Meta {
        name: Option<Value>,
        #[serde(rename = "generateName")]
        generate_name: Option<Value>,
        namespace: Option<Value>,
        uid: Option<Value>,
        labels: Option<Value>,
        annotations: Option<Annotations>,
        #[serde(rename = "ownerReferences")]
        owner_references: Option<Value>,
    }
    let top: Top = match serde_json::from_str(raw) {
        Ok(t) => t,
        // Not a map (or a field of the wrong shape): the loader says what.
        Err(_) => return serde_json::from_str(raw),
    };
    let mut obj = serde_json::Map::new();
    let put = |m: &mut serde_json::Map<String, Value>, k: &str, v: Option<Value>| {
        if let Some(v) = v {
            m.insert(k.to_owned(), v);
        }
    };
    put(&mut obj, "apiVersion", top.api_version);
    put(&mut obj, "kind", top.kind);
    if let Some(m) = top.metadata {
        let mut meta = serde_json::Map::new();
        put(&mut meta, "name", m.name);
        put(&mut meta, "generateName", m.generate_name);
        put(&mut meta, "namespace", m.namespace);
        put(&mut meta, "uid", m.uid);
        put(&mut meta, "labels", m.labels);
        put(
            &mut meta,
            "annotations",
            m.annotations.map(|a| Value::Object(a.0)),
        );
        put(&mut meta, "ownerReferences", m.owner_references);
        obj.insert("metadata".into(), Value::Object(meta));
    }
    put(&mut obj, "spec", top.spec);
    Ok(Value::Object(obj))
}

/// Annotations without `kubectl.kubernetes.io/last-applied-configuration`: a
/// copy of the whole object as escaped JSON, often the largest field, which no
/// check reads.
struct Annotations(serde_json::Map<String, Value>);

impl<'de> serde::Deserialize<'de> for Annotations {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Annotations;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a map of annotations")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut m: A,
            ) -> Result<Annotations, A::Error> {
                let mut out = serde_json::Map::new();
                while let Some(k) = object::next_key(&mut m)? {
                    if k == last_applied::ANNOTATION {
                        m.next_value::<serde::de::IgnoredAny>()?;
                    } else {
                        out.insert(k.into_owned(), m.next_value()?);
                    }
                }
                Ok(Annotations(out))
            }
        }
        d.deserialize_map(Visit)
    }
}

/// Whether an UPDATE can change the verdict (pod-security-admission's
/// `isSignificantPodUpdate` for Pods; any change of the pod template for
/// workloads).
pub fn significant_update(old: &Workload, new: &Workload) -> bool {
    significant_change(&new.key.kind, &old.template, &new.template)
}

/// [`significant_update`] of the pod templates of an object of `kind`.
fn significant_change(kind: &str, old: &PodTemplate, new: &PodTemplate) -> bool {
    if kind != "Pod" {
        return old != new;
    }
    const SECCOMP_POD: &str = "seccomp.security.alpha.kubernetes.io/pod";
    const SECCOMP_CONTAINER: &str = "container.seccomp.security.alpha.kubernetes.io/";
    let ann = |t: &PodTemplate, k: &str| -> Option<String> {
        t.metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(k).cloned())
    };
    if ann(new, SECCOMP_POD) != ann(old, SECCOMP_POD) {
        return true;
    }
    let container_changed = |c: &Container, o: &Container| {
        let key = format!("{SECCOMP_CONTAINER}{}", c.name);
        c.image != o.image || ann(new, &key) != ann(old, &key)
    };
    let (n, o) = (&new.spec, &old.spec);
    if n.containers.len() != o.containers.len() {
        return true;
    }
    let empty = Vec::new();
    let (ni, oi) = (
        n.init_containers.as_ref().unwrap_or(&empty),
        o.init_containers.as_ref().unwrap_or(&empty),
    );
    if ni.len() != oi.len() {
        return true;
    }
    if n.containers
        .iter()
        .zip(&o.containers)
        .chain(ni.iter().zip(oi))
        .any(|(c, o)| container_changed(c, o))
    {
        return true;
    }
    let old_ephemeral = o.ephemeral_containers.as_deref().unwrap_or_default();
    for e in n.ephemeral_containers.as_deref().unwrap_or_default() {
        let Some(prev) = old_ephemeral.iter().find(|p| p.name == e.name) else {
            return true;
        };
        let key = format!("{SECCOMP_CONTAINER}{}", e.name);
        if e.image != prev.image || ann(new, &key) != ann(old, &key) {
            return true;
        }
    }
    false
}

/// `POST /admission/validate`, `POST /admission/mutate`, `GET /metrics`,
/// with a body limit and a per-request timeout (on the reviews, in
/// [`handle`]: reading the body is what can take long, the review itself is
/// bounded work).
pub fn router(webhook: Arc<Webhook>) -> Router {
    let timeout = webhook.config.timeout;
    let reviews = Router::new()
        .route("/admission/validate", post(validate))
        .route("/admission/mutate", post(mutate));
    let rest = Router::new()
        .route("/metrics", get(metrics_text))
        .route("/healthz", get(|| async { "ok" }))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            timeout,
        ));
    reviews
        .merge(rest)
        .layer(axum::extract::DefaultBodyLimit::disable())
        .with_state(webhook)
}

async fn validate(State(w): State<Arc<Webhook>>, body: Body) -> HttpResponse {
    handle(w, body, false).await
}

async fn mutate(State(w): State<Arc<Webhook>>, body: Body) -> HttpResponse {
    handle(w, body, true).await
}

async fn handle(w: Arc<Webhook>, body: Body, mutate: bool) -> HttpResponse {
    let started = Instant::now();
    // The body nearly always came with the headers: it is read without a
    // timer, and one is set only when it has not (a timer for every review
    // costs its share of the timer wheel's lock on every review).
    let mut read = std::pin::pin!(axum::body::to_bytes(body, BODY_LIMIT));
    let read = match std::future::poll_fn(|cx| Poll::Ready(read.as_mut().poll(cx))).await {
        Poll::Ready(r) => r,
        Poll::Pending => {
            let left = w.config.timeout.saturating_sub(started.elapsed());
            match tokio::time::timeout(left, read).await {
                Ok(r) => r,
                Err(_) => return timed_out(&w, started),
            }
        }
    };
    let (review, decision) = match read {
        Ok(bytes) => w.review(&bytes, mutate),
        Err(e) => {
            let mut d = Decision::new(crate::now_ms(), &w.config.cluster);
            let over = std::error::Error::source(&e)
                .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
            let message = if over {
                format!("the body is larger than {} MiB", BODY_LIMIT / (1024 * 1024))
            } else {
                "the body could not be read".to_owned()
            };
            (ReviewOut::new(w.bad_input(&mut d, message)), d)
        }
    };
    // An answer with a warning and an audit annotation is ~1 KiB: written
    // without growing the buffer on the way.
    let mut json = Vec::with_capacity(2048);
    if let Err(e) = serde_json::to_writer(&mut json, &review) {
        tracing::error!(error = %e, "cannot encode a review");
        json.clear();
    }
    metrics::record_review(
        decision.verdict,
        decision.mode.map(Mode::as_str),
        &decision.kind,
        started.elapsed(),
    );
    w.log.record(decision);
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        Bytes::from(json),
    )
        .into_response()
}

/// A body that did not arrive within the timeout: 408 (the API server then
/// follows the webhook's failurePolicy), logged as an error.
fn timed_out(w: &Webhook, started: Instant) -> HttpResponse {
    let mut d = Decision::new(crate::now_ms(), &w.config.cluster);
    d.verdict = ReviewVerdict::Error;
    d.message = format!(
        "the request body did not arrive within {} s",
        w.config.timeout.as_secs_f64()
    );
    metrics::record_review(d.verdict, None, &d.kind, started.elapsed());
    w.log.record(d);
    StatusCode::REQUEST_TIMEOUT.into_response()
}

async fn metrics_text(State(w): State<Arc<Webhook>>) -> HttpResponse {
    metrics_response(&w.pool).await
}

/// `GET /metrics`: Prometheus text format 0.0.4.
pub async fn metrics_response(pool: &SqlitePool) -> HttpResponse {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        metrics::render(pool).await,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use review::Request;

    fn request(kind: &str, name: Option<&str>, namespace: Option<&str>) -> String {
        let (group, version) = match kind {
            "Pod" | "ReplicationController" => ("", "v1"),
            "Job" | "CronJob" => ("batch", "v1"),
            _ => ("apps", "v1"),
        };
        json!({
            "uid": "u-1",
            "kind": {"group": group, "version": version, "kind": kind},
            "name": name,
            "namespace": namespace,
            "operation": "CREATE",
        })
        .to_string()
    }

    fn api_version(kind: &str) -> &'static str {
        match kind {
            "Pod" | "ReplicationController" => "v1",
            "Job" | "CronJob" => "batch/v1",
            _ => "apps/v1",
        }
    }

    fn pod_spec(image: &str) -> Value {
        json!({
            "containers": [{
                "name": "app",
                "image": image,
                "command": ["/bin/web"],
                "env": [{"name": "MODE", "value": "prod"}],
                "resources": {"limits": {"cpu": "1"}},
                "securityContext": {"runAsUser": 1000, "capabilities": {"add": ["NET_ADMIN"]}},
            }],
            "initContainers": [{
                "name": "init",
                "image": image,
                "args": ["--wait"],
                "securityContext": {"privileged": true},
            }],
            "hostNetwork": true,
            "volumes": [{"name": "data", "hostPath": {"path": "/var/lib"}}],
        })
    }

    /// An object of `kind` as the API server sends it: the template at its
    /// path, with what the reader must skip around it.
    fn object(kind: &str, image: &str) -> Value {
        let meta = json!({
            "name": "web",
            "namespace": "shop",
            "uid": "0b6c",
            "labels": {"app": "web"},
            "annotations": {
                "kubectl.kubernetes.io/last-applied-configuration": "{\"kind\":\"x\"}",
                "seccomp.security.alpha.kubernetes.io/pod": "runtime/default",
            },
            "managedFields": [{"manager": "kubectl", "operation": "Update",
                               "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {}}}],
        });
        let path = template_path(kind);
        let mut inner = if path.is_empty() {
            pod_spec(image)
        } else {
            json!({"metadata": {"labels": {"app": "web"}}, "spec": pod_spec(image)})
        };
        // Build the path from the template outwards; every map on the way
        // also holds fields the reader skips (and the loader needs).
        for key in path.iter().rev() {
            let mut map = serde_json::Map::new();
            map.insert((*key).to_owned(), inner);
            if *key == "spec" {
                map.insert("selector".into(), json!({"matchLabels": {"app": "web"}}));
                map.insert("schedule".into(), json!("*/5 * * * *"));
                map.insert("replicas".into(), json!(3));
            }
            map.insert("unrelated".into(), json!([1, {"a": null}]));
            inner = Value::Object(map);
        }
        let Value::Object(mut top) = (if path.is_empty() {
            json!({"spec": inner})
        } else {
            inner
        }) else {
            unreachable!("built as a map")
        };
        top.insert("apiVersion".into(), json!(api_version(kind)));
        top.insert("kind".into(), json!(kind));
        top.insert("metadata".into(), meta);
        top.insert("status".into(), json!({"phase": "Running"}));
        Value::Object(top)
    }

    fn both(raw: &str, req: &str) -> (Option<Reviewed>, Result<Workload, String>) {
        let req: Request<'_> = serde_json::from_str(req).expect("test request");
        (
            read_fast(raw, &req),
            parse_with_loader(raw, &req, "request.object"),
        )
    }

    #[test]
    fn the_typed_reader_reads_every_kind_as_the_loader_does() {
        for kind in WORKLOAD_KINDS {
            let raw = object(kind, "nginx:1.27").to_string();
            let (fast, slow) = both(&raw, &request(kind, None, None));
            let fast = fast.unwrap_or_else(|| panic!("{kind}: the fast path failed"));
            let slow = slow.unwrap_or_else(|e| panic!("{kind}: the loader failed: {e}"));
            assert_eq!(fast.key, slow.key, "{kind}");
            assert_eq!(fast.template, slow.template, "{kind}");
            assert_eq!(fast.key.to_string(), format!("shop/{kind}/web"));
            assert_eq!(
                fast.template.spec.containers[0].image.as_deref(),
                Some("nginx:1.27"),
                "{kind}"
            );
            assert_eq!(fast.template.spec.host_network, Some(true), "{kind}");
        }
    }

    #[test]
    fn a_pod_keeps_its_metadata_without_managed_fields_or_last_applied() {
        let raw = object("Pod", "nginx").to_string();
        let (fast, _) = both(&raw, &request("Pod", None, None));
        let meta = fast.expect("fast path").template.metadata;
        let ann = meta.annotations.expect("annotations");
        assert!(ann.contains_key("seccomp.security.alpha.kubernetes.io/pod"));
        assert!(!ann.contains_key("kubectl.kubernetes.io/last-applied-configuration"));
        assert_eq!(meta.managed_fields, None);
        assert_eq!(meta.uid.as_deref(), Some("0b6c"));
    }

    #[test]
    fn name_and_namespace_come_from_the_request_or_generate_name() {
        for kind in ["Pod", "Deployment"] {
            let mut obj = object(kind, "nginx");
            let meta = obj["metadata"].as_object_mut().expect("map");
            meta.remove("name");
            meta.remove("namespace");
            meta.insert("generateName".into(), json!("web-"));
            let raw = obj.to_string();
            let (fast, slow) = both(&raw, &request(kind, None, Some("shop")));
            let (fast, slow) = (fast.expect("fast path"), slow.expect("loader"));
            assert_eq!(fast.key.to_string(), format!("shop/{kind}/web-"));
            assert_eq!((&fast.key, &fast.template), (&slow.key, &slow.template));
            let (fast, _) = both(&raw, &request(kind, Some("named"), None));
            assert_eq!(
                fast.expect("fast path").key.to_string(),
                format!("default/{kind}/named")
            );
        }
    }

    #[test]
    fn an_object_of_another_kind_than_the_request_follows_its_own_path() {
        let raw = object("CronJob", "busybox").to_string();
        let (fast, slow) = both(&raw, &request("Pod", None, None));
        let fast = fast.expect("fast path");
        assert_eq!(fast.key.kind, "CronJob");
        assert_eq!(fast.template, slow.expect("loader").template);
        // No kind in the object: the request's.
        let mut obj = object("Job", "busybox");
        obj.as_object_mut().expect("map").remove("kind");
        let (fast, _) = both(&obj.to_string(), &request("Job", None, None));
        assert_eq!(fast.expect("fast path").key.kind, "Job");
    }

    /// The review as the API server sends it, with `object` of `kind`.
    fn review_body(kind: &str, object: &Value) -> Vec<u8> {
        let req: Value = serde_json::from_str(&request(kind, None, None)).expect("request");
        let mut req = req.as_object().expect("map").clone();
        req.insert("object".into(), object.clone());
        req.insert("oldObject".into(), Value::Null);
        json!({"apiVersion": review::API_VERSION, "kind": review::KIND, "request": req})
            .to_string()
            .into_bytes()
    }

    #[test]
    fn the_envelope_and_its_object_are_read_in_one_pass_as_the_loader_reads_them() {
        for kind in WORKLOAD_KINDS {
            let body = review_body(kind, &object(kind, "nginx:1.27"));
            let fast: review::ReviewOf<object::Lean> =
                serde_json::from_slice(&body).expect("one pass");
            let mut req = fast.request.expect("request");
            let obj = req.object.take().expect("object");
            let fast = reviewed(*obj.0, &req).unwrap_or_else(|| panic!("{kind}: fast path"));
            let slow: ReviewIn<'_> = serde_json::from_slice(&body).expect("raw");
            let req = slow.request.expect("request");
            let raw = req.object.expect("object").get();
            let mut slow = parse_with_loader(raw, &req, "request.object").expect("loader");
            assert!(slow.template.spec.containers[0].env.is_some(), "{kind}");
            assert_ne!(
                fast.template, slow.template,
                "{kind}: the lean read skips env"
            );
            slow.template.spec = object::spec_without_unread(slow.template.spec);
            assert_eq!(
                (&fast.key, &fast.template),
                (&slow.key, &slow.template),
                "{kind}"
            );
        }
    }

    #[test]
    fn a_review_the_fast_path_cannot_read_is_worded_by_the_slow_path() {
        let mut obj = object("Deployment", "nginx");
        obj["spec"]["template"]["spec"]["containers"][0]["securityContext"]["runAsUser"] =
            json!("root");
        let body = review_body("Deployment", &obj);
        assert!(serde_json::from_slice::<review::ReviewOf<object::Lean>>(&body).is_err());
        let review: ReviewIn<'_> = serde_json::from_slice(&body).expect("raw");
        let req = review.request.expect("request");
        let e = parse_workload(req.object.expect("object").get(), &req, "request.object")
            .expect_err("not a workload");
        assert!(
            e.contains("spec.template.spec.containers[0].securityContext.runAsUser"),
            "{e}"
        );
    }

    fn error(raw: &str, req: &str) -> String {
        let parsed: Request<'_> = serde_json::from_str(req).expect("test request");
        assert!(read_fast(raw, &parsed).is_none(), "fast path took {raw}");
        match parse_workload(raw, &parsed, "request.object") {
            Ok(r) => panic!("read {raw} as {}", r.key),
            Err(e) => e,
        }
    }

    #[test]
    fn a_missing_or_empty_object_is_worded_by_the_loader() {
        let req = request("Deployment", Some("web"), Some("shop"));
        assert!(error("null", &req).contains("request.object is not an object"));
        let e = error("{}", &req);
        assert!(e.contains("spec") && e.contains("missing"), "{e}");
        let mut no_template = object("Deployment", "nginx");
        no_template["spec"]
            .as_object_mut()
            .expect("map")
            .remove("template");
        let e = error(&no_template.to_string(), &req);
        assert!(e.contains("spec.template"), "{e}");
    }

    #[test]
    fn a_wrong_kind_is_refused_with_its_name() {
        let mut obj = object("Deployment", "nginx");
        obj["kind"] = json!("ConfigMap");
        let e = error(&obj.to_string(), &request("Deployment", None, None));
        assert!(e.contains("is a ConfigMap, not a Pod or a workload"), "{e}");
        let mut crd = object("Deployment", "nginx");
        crd["apiVersion"] = json!("example.com/v1");
        let e = error(&crd.to_string(), &request("Deployment", None, None));
        assert!(e.contains("Deployment (example.com/v1)"), "{e}");
    }

    #[test]
    fn a_field_of_the_wrong_type_is_named_by_its_path() {
        let mut obj = object("Deployment", "nginx");
        obj["spec"]["template"]["spec"]["containers"][0]["securityContext"]["runAsUser"] =
            json!("root");
        let e = error(&obj.to_string(), &request("Deployment", None, None));
        assert!(
            e.contains("spec.template.spec.containers[0].securityContext.runAsUser"),
            "{e}"
        );
    }

    #[test]
    fn a_three_mib_object_is_read_in_one_pass() {
        let mut obj = object("Pod", "nginx");
        let big = "x".repeat(1024 * 1024);
        obj["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"] =
            json!(big);
        obj["metadata"]["managedFields"] = json!([{"fieldsV1": {"f:a": big}}]);
        obj["status"] = json!({"message": big});
        let raw = obj.to_string();
        assert!(raw.len() > 3 * 1024 * 1024, "{}", raw.len());
        let (fast, slow) = both(&raw, &request("Pod", None, None));
        let (fast, slow) = (fast.expect("fast path"), slow.expect("loader"));
        assert_eq!(fast.template, slow.template);
        let ann = fast.template.metadata.annotations.expect("annotations");
        assert!(!ann.contains_key("kubectl.kubernetes.io/last-applied-configuration"));
    }
}

#[cfg(test)]
mod marking_tests {
    use serde_json::{Value, json};

    use super::*;

    /// A demo cluster's webhook (shop: enforce baseline, warn and audit
    /// restricted).
    async fn webhook(pool: SqlitePool) -> Arc<Webhook> {
        crate::cli::seed_if_empty(&pool).await.expect("seed");
        let state = crate::AppState::load(pool).await.expect("state");
        let cluster = crate::store::snapshots::latest(&state.pool)
            .await
            .expect("snapshot")
            .expect("a snapshot")
            .cluster;
        Webhook::start(&state, Config::new(cluster), Arc::new(log::NoAlerts))
            .await
            .expect("webhook")
    }

    fn deployment(annotations: Value, template_annotations: Value, labels: Value) -> Value {
        json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "shop", "annotations": annotations},
            "spec": {"template": {
                "metadata": {"labels": labels, "annotations": template_annotations},
                "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}
            }}
        })
    }

    fn body(operation: &str, object: &Value, old: Option<&Value>) -> Vec<u8> {
        json!({
            "apiVersion": review::API_VERSION,
            "kind": review::KIND,
            "request": {
                "uid": "u-1",
                "kind": {"group": "apps", "version": "v1", "kind": "Deployment"},
                "namespace": "shop",
                "operation": operation,
                "userInfo": {"username": "kubectl"},
                "object": object,
                "oldObject": old,
            }
        })
        .to_string()
        .into_bytes()
    }

    fn answer(w: &Webhook, body: &[u8], marking: bool) -> (Value, Value, String) {
        let mut d = Decision::new(1, "c");
        let response = match w.decide_marked(body, false, &mut d, marking) {
            Ok(r) => r,
            Err(message) => w.bad_input(&mut d, message),
        };
        (
            serde_json::to_value(ReviewOut::new(response)).expect("answer"),
            serde_json::to_value(&d).expect("decision"),
            format!("{:?}", d.subject),
        )
    }

    /// Whether the marked body's reading is the one used.
    fn marked_reading_used(body: &[u8]) -> bool {
        last_applied::mark(body).is_some_and(|(b, n)| {
            serde_json::from_slice::<review::ReviewOf<object::Lean>>(&b)
                .is_ok_and(|r| marks(&r) == n)
        })
    }

    /// Marking the last-applied configurations changes no answer and no
    /// logged decision, wherever the key is; the marked reading is used only
    /// where the object reader skips the key.
    #[sqlx::test(migrations = "../migrations")]
    async fn marking_the_last_applied_configuration_changes_no_decision(pool: SqlitePool) {
        let w = webhook(pool).await;
        let applied = deployment(json!({"team": "shop"}), json!({}), json!({"app": "web"}));
        let last = serde_json::to_string(&applied).expect("JSON");
        let key = "kubectl.kubernetes.io/last-applied-configuration";
        let in_metadata = deployment(json!({ key: last, "team": "shop" }), json!({}), json!({}));
        let mut changed = in_metadata.clone();
        changed["spec"]["template"]["spec"]["containers"][0]["image"] = json!("nginx:1.28");
        let in_template = deployment(json!({ key: last }), json!({ key: "x" }), json!({}));
        let as_label = deployment(json!({ key: last }), json!({}), json!({ key: "x" }));
        let cases = [
            (
                "in metadata",
                body("CREATE", &in_metadata, None),
                true,
                "warned",
            ),
            (
                "an update, in both objects",
                body("UPDATE", &changed, Some(&in_metadata)),
                true,
                "warned",
            ),
            (
                "an update changing nothing checked",
                body("UPDATE", &in_metadata, Some(&in_metadata)),
                true,
                "allowed",
            ),
            (
                "also in the template's annotations",
                body("CREATE", &in_template, None),
                false,
                "warned",
            ),
            (
                "also as a label",
                body("CREATE", &as_label, None),
                false,
                "warned",
            ),
            (
                "pretty-printed",
                serde_json::to_vec_pretty(
                    &serde_json::from_slice::<Value>(&body("CREATE", &in_metadata, None))
                        .expect("JSON"),
                )
                .expect("JSON"),
                false,
                "warned",
            ),
        ];
        for (case, body, used, verdict) in cases {
            assert_eq!(marked_reading_used(&body), used, "{case}");
            let marked = answer(&w, &body, true);
            assert_eq!(marked, answer(&w, &body, false), "{case}");
            assert_eq!(marked.1["verdict"], verdict, "{case}: {marked:?}");
        }
    }

    /// JSON is UTF-8: a body that is not is refused whatever the bytes are
    /// in, even a field no check reads, with the position of the error.
    #[sqlx::test(migrations = "../migrations")]
    async fn a_body_that_is_not_utf_8_is_refused(pool: SqlitePool) {
        let w = webhook(pool).await;
        let key = "kubectl.kubernetes.io/last-applied-configuration";
        let mut object = deployment(json!({ key: "{}" }), json!({}), json!({"app": "web"}));
        object["spec"]["template"]["spec"]["containers"][0]["env"] =
            json!([{"name": "MODE", "value": "PLACEHOLDER"}]);
        let good = body("CREATE", &object, None);
        assert_eq!(answer(&w, &good, true).1["verdict"], "warned");
        for bad in [
            b"caf\xe9".as_slice(), // Latin-1, in an env value (skipped by the reader)
            b"\xff\xfe",
        ] {
            let text = String::from_utf8(good.clone()).expect("UTF-8");
            let at = text.find("PLACEHOLDER").expect("placeholder");
            let mut body = good[..at].to_vec();
            body.extend_from_slice(bad);
            body.extend_from_slice(&good[at + "PLACEHOLDER".len()..]);
            for marking in [true, false] {
                let (answer, decision, _) = answer(&w, &body, marking);
                assert_eq!(decision["verdict"], "error", "{answer}");
                assert_eq!(answer["response"]["status"]["code"], 400, "{answer}");
                let message = answer["response"]["status"]["message"]
                    .as_str()
                    .unwrap_or("");
                assert!(
                    message.contains("not an AdmissionReview in JSON")
                        && message.contains("column"),
                    "{message}"
                );
            }
        }
    }
}
