//! A live cluster through the Kubernetes API: every kind Portcullis reads is
//! listed page by page (`limit` / `continue`) with kube, and the objects become
//! an [`Inventory`] through the same reader as manifests
//! ([`manifests::load_value`]) and the same owner folding ([`manifests::finish`]).
//!
//! A listing either completes or fails as a whole with a [`ClusterError`] that
//! says what happened in words a user can act on; nothing partial comes out.
//!
//! ```no_run
//! # async fn demo() -> Result<(), portcullis::ingest::cluster::ClusterError> {
//! use portcullis::ingest::cluster::{Cluster, Options, Target};
//! let target = Target { kubeconfig: None, context: Some("prod".into()), in_cluster: false };
//! let cluster = Cluster::connect(&target, Options::default()).await?;
//! let inv = cluster.snapshot(&|p| eprintln!("{} objects listed", p.objects)).await?;
//! # Ok(()) }
//! ```

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use std::collections::HashMap;

use kube::api::ListParams;
use kube::config::{KubeConfigOptions, Kubeconfig};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Value, json};

use super::manifests;
use crate::model::{Inventory, Origin, PodTemplate, Workload, WorkloadKey};

/// One kind of object listed from the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resource {
    /// API group; empty for the core group.
    pub group: &'static str,
    pub version: &'static str,
    /// Plural resource name, as in URLs and RBAC rules.
    pub plural: &'static str,
    pub kind: &'static str,
}

impl Resource {
    const fn new(
        group: &'static str,
        version: &'static str,
        plural: &'static str,
        kind: &'static str,
    ) -> Self {
        Resource {
            group,
            version,
            plural,
            kind,
        }
    }

    /// The cluster-wide list URL path: `/api/v1/pods`, `/apis/apps/v1/deployments`.
    pub fn path(&self) -> String {
        if self.group.is_empty() {
            format!("/api/{}/{}", self.version, self.plural)
        } else {
            format!("/apis/{}/{}/{}", self.group, self.version, self.plural)
        }
    }

    /// `v1`, `apps/v1`.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_owned()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// The name kubectl and the API server's messages use: `pods`, `deployments.apps`.
    pub fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.plural.to_owned()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// The ClusterRole rule that allows listing it, in YAML flow style.
    pub fn rbac_rule(&self) -> String {
        format!(
            "{{apiGroups: [\"{}\"], resources: [\"{}\"], verbs: [\"list\"]}}",
            self.group, self.plural
        )
    }
}

/// Everything a snapshot lists, in the order it is listed. `deploy/clusterrole.yaml`
/// grants exactly `list` on these (a test keeps the two in step).
pub const RESOURCES: [Resource; 11] = [
    Resource::new("", "v1", "namespaces", "Namespace"),
    Resource::new("apps", "v1", "deployments", "Deployment"),
    Resource::new("apps", "v1", "replicasets", "ReplicaSet"),
    Resource::new("apps", "v1", "statefulsets", "StatefulSet"),
    Resource::new("apps", "v1", "daemonsets", "DaemonSet"),
    Resource::new("batch", "v1", "cronjobs", "CronJob"),
    Resource::new("batch", "v1", "jobs", "Job"),
    Resource::new("", "v1", "replicationcontrollers", "ReplicationController"),
    Resource::new("", "v1", "pods", "Pod"),
    Resource::new("", "v1", "services", "Service"),
    Resource::new(
        "networking.k8s.io",
        "v1",
        "networkpolicies",
        "NetworkPolicy",
    ),
];

/// The only verb a snapshot uses.
pub const VERBS: [&str; 1] = ["list"];

/// Where the cluster's connection settings come from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Target {
    /// A kubeconfig file; `None` reads `KUBECONFIG` (or `~/.kube/config`).
    pub kubeconfig: Option<PathBuf>,
    /// The context to use; `None` uses the kubeconfig's current context.
    pub context: Option<String>,
    /// Use the pod's service account instead of a kubeconfig.
    pub in_cluster: bool,
}

/// How to list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Objects per page (`limit`).
    pub page_size: u32,
    /// Bound on each request, from sending it to the last byte of the answer.
    pub request_timeout: Duration,
    /// Let kube retry 429, 503 and 504 answers with backoff.
    pub retry: bool,
    /// How often a list whose `continue` token expired (410 Gone) is started again.
    pub max_restarts: u32,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            page_size: 500,
            request_timeout: Duration::from_secs(30),
            retry: true,
            max_restarts: 3,
        }
    }
}

/// How far a listing has got: reported after every page.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Progress {
    /// The resource being listed (`deployments.apps`).
    pub resource: String,
    /// Resources listed completely.
    pub resources_done: usize,
    pub resources_total: usize,
    /// Objects listed so far, over all resources.
    pub objects: usize,
    /// Pages fetched so far.
    pub pages: usize,
}

/// Why a listing failed. Every message names what went wrong and what to do.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("cannot load the Kubernetes connection settings: {0}")]
    Config(String),
    #[error("cannot reach the Kubernetes API server at {server}: {detail}")]
    Unreachable { server: String, detail: String },
    #[error(
        "the API server at {server} rejected the credentials of context {context} (401 Unauthorized): the token has expired or is invalid; log in again or renew the credentials in the kubeconfig"
    )]
    Unauthorized { server: String, context: String },
    #[error("cannot get credentials for context {context}: {detail}")]
    Credentials { context: String, detail: String },
    #[error(
        "cannot list {resource} at cluster scope: the ClusterRole needs {rule} (the API server said: {message})"
    )]
    Forbidden {
        resource: String,
        rule: String,
        message: String,
    },
    #[error(
        "the API server at {server} did not answer within {} while listing {resource} (page {page})",
        seconds(*after)
    )]
    Timeout {
        server: String,
        resource: String,
        page: usize,
        after: Duration,
    },
    #[error(
        "the API server's answer to listing {resource} (page {page}) is not valid JSON: {detail}"
    )]
    Malformed {
        resource: String,
        page: usize,
        detail: String,
    },
    #[error(
        "the connection to the API server at {server} dropped while listing {resource} (page {page}): {detail}"
    )]
    Dropped {
        server: String,
        resource: String,
        page: usize,
        detail: String,
    },
    #[error(
        "the list of {resource} kept expiring (410 Gone) while it was being read, even after starting again {restarts} times: the cluster changes faster than it can be listed; try again, or list with a larger page size (--page-size)"
    )]
    Expired { resource: String, restarts: u32 },
    #[error(
        "the API server at {server} does not serve {resource} (404 Not Found at {path}); Portcullis needs Kubernetes 1.21 or newer"
    )]
    NotServed {
        server: String,
        resource: String,
        path: String,
    },
    #[error("the API server answered {code} {reason} while listing {resource}: {message}")]
    Api {
        resource: String,
        code: u16,
        reason: String,
        message: String,
    },
}

impl ClusterError {
    /// A short stable name for the kind of failure (for logs and JSON).
    pub fn kind(&self) -> &'static str {
        match self {
            ClusterError::Config(_) => "config",
            ClusterError::Unreachable { .. } => "unreachable",
            ClusterError::Unauthorized { .. } => "unauthorized",
            ClusterError::Credentials { .. } => "credentials",
            ClusterError::Forbidden { .. } => "forbidden",
            ClusterError::Timeout { .. } => "timeout",
            ClusterError::Malformed { .. } => "malformed",
            ClusterError::Dropped { .. } => "dropped",
            ClusterError::Expired { .. } => "expired",
            ClusterError::NotServed { .. } => "not-served",
            ClusterError::Api { .. } => "api",
        }
    }
}

fn seconds(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s >= 1.0 && s.fract() == 0.0 {
        format!("{s:.0} s")
    } else {
        format!("{s:.1} s")
    }
}

/// A connection to one cluster (one kubeconfig context, or the pod's service
/// account). Cheap to clone.
#[derive(Clone)]
pub struct Cluster {
    name: String,
    server: String,
    client: kube::Client,
    options: Options,
}

impl fmt::Debug for Cluster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cluster")
            .field("name", &self.name)
            .field("server", &self.server)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

/// Where we are in a listing, for error messages.
struct At<'a> {
    resource: &'a Resource,
    page: usize,
    /// Whether any answer has come from the server yet.
    answered: bool,
}

impl Cluster {
    /// Reads the connection settings (nothing is sent to the cluster yet).
    /// The cluster is named after the context, or `in-cluster`.
    pub async fn connect(target: &Target, options: Options) -> Result<Cluster, ClusterError> {
        if target.in_cluster {
            let config = kube::Config::incluster().map_err(|e| {
                ClusterError::Config(format!(
                    "not running inside a cluster with a service account token ({e})"
                ))
            })?;
            return Cluster::from_config("in-cluster", config, options);
        }
        let (kubeconfig, from) = match &target.kubeconfig {
            Some(path) => (
                Kubeconfig::read_from(path).map_err(|e| {
                    ClusterError::Config(format!("cannot read kubeconfig {}: {e}", path.display()))
                })?,
                path.display().to_string(),
            ),
            None => (
                Kubeconfig::read().map_err(|e| {
                    ClusterError::Config(format!(
                        "cannot read a kubeconfig from KUBECONFIG or ~/.kube/config: {e}"
                    ))
                })?,
                "the kubeconfig".to_owned(),
            ),
        };
        let context = match target
            .context
            .clone()
            .or_else(|| kubeconfig.current_context.clone())
        {
            Some(c) => c,
            None => {
                return Err(ClusterError::Config(format!(
                    "{from} sets no current-context; name one with --context"
                )));
            }
        };
        if !kubeconfig.contexts.iter().any(|c| c.name == context) {
            let known: Vec<&str> = kubeconfig
                .contexts
                .iter()
                .map(|c| c.name.as_str())
                .collect();
            return Err(ClusterError::Config(format!(
                "{from} has no context named {context:?} (it has: {})",
                if known.is_empty() {
                    "none".to_owned()
                } else {
                    known.join(", ")
                }
            )));
        }
        let opts = KubeConfigOptions {
            context: Some(context.clone()),
            ..Default::default()
        };
        let config = kube::Config::from_custom_kubeconfig(kubeconfig, &opts)
            .await
            .map_err(|e| ClusterError::Config(format!("context {context} in {from}: {e}")))?;
        Cluster::from_config(&context, config, options)
    }

    /// A cluster from a ready kube configuration; timeouts and retries are set
    /// from `options`.
    pub fn from_config(
        name: &str,
        mut config: kube::Config,
        options: Options,
    ) -> Result<Cluster, ClusterError> {
        let timeout = options.request_timeout;
        config.connect_timeout = Some(timeout);
        config.read_timeout = Some(timeout);
        config.write_timeout = Some(timeout);
        config.reset_reader_on_write = true;
        config.default_retry = options.retry;
        let server = config.cluster_url.to_string();
        let server = server.trim_end_matches('/').to_owned();
        let client = kube::Client::try_from(config).map_err(|e| {
            ClusterError::Config(format!("cannot set up a client for {server}: {e}"))
        })?;
        Ok(Cluster {
            name: name.to_owned(),
            server,
            client,
            options,
        })
    }

    /// The same cluster, with snapshots stored under another name.
    pub fn renamed(mut self, name: &str) -> Cluster {
        self.name = name.to_owned();
        self
    }

    /// The name snapshots of this cluster are stored under (the context).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The client, for the few writes Portcullis makes (`serve --allow-apply`).
    pub fn client(&self) -> &kube::Client {
        &self.client
    }

    /// The API server's URL.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// Lists every resource of [`RESOURCES`] and returns the finished inventory
    /// (pods folded under their top-level owner). `progress` is called after
    /// every page. On any failure nothing is returned but the error.
    pub async fn snapshot(
        &self,
        progress: &(dyn Fn(&Progress) + Send + Sync),
    ) -> Result<Inventory, ClusterError> {
        let mut inv = Inventory::default();
        let mut p = Progress {
            resources_total: RESOURCES.len(),
            ..Progress::default()
        };
        let mut owners = Owners::new();
        for resource in &RESOURCES {
            p.resource = resource.qualified();
            progress(&p);
            let part = self.list_all(resource, &owners, &mut p, progress).await?;
            for w in part.workloads.iter().filter(|w| w.key.kind != "Pod") {
                let uid = w.raw["metadata"]["uid"].as_str().map(str::to_owned);
                owners.entry(w.key.clone()).or_insert(uid);
            }
            append(&mut inv, part);
            p.resources_done += 1;
            progress(&p);
        }
        manifests::finish(&mut inv);
        Ok(inv)
    }

    /// Every object of one resource, page by page; started again from the
    /// first page when the `continue` token expires.
    async fn list_all(
        &self,
        resource: &Resource,
        owners: &Owners,
        p: &mut Progress,
        progress: &(dyn Fn(&Progress) + Send + Sync),
    ) -> Result<Inventory, ClusterError> {
        let file = format!("api:{}", resource.qualified());
        let objects_before = p.objects;
        let mut restarts = 0;
        'fresh: loop {
            let mut part = Inventory::default();
            let mut token: Option<String> = None;
            let mut page = 0;
            let mut item = 0;
            loop {
                page += 1;
                let at = At {
                    resource,
                    page,
                    answered: p.pages > 0,
                };
                let text = match self.page(&at, token.take()).await {
                    Ok(text) => text,
                    Err(Fetch::Expired) if page > 1 && restarts < self.options.max_restarts => {
                        restarts += 1;
                        tracing::info!(
                            resource = %resource.qualified(),
                            restarts,
                            "the list's continue token expired (410 Gone); listing again from the start"
                        );
                        p.objects = objects_before;
                        continue 'fresh;
                    }
                    Err(Fetch::Expired) => {
                        return Err(ClusterError::Expired {
                            resource: resource.qualified(),
                            restarts,
                        });
                    }
                    Err(Fetch::Failed(e)) => return Err(e),
                };
                let (items, next) = parse_page(&text, &at)?;
                p.pages += 1;
                p.objects += items.len();
                for raw in items {
                    item += 1;
                    let origin = Origin {
                        file: file.clone(),
                        document: page - 1,
                        line: item,
                    };
                    read_item(resource, raw, owners, origin, &mut part);
                }
                progress(p);
                match next {
                    Some(t) if !t.is_empty() => token = Some(t),
                    _ => return Ok(part),
                }
            }
        }
    }

    /// One page of a list.
    async fn page(&self, at: &At<'_>, token: Option<String>) -> Result<String, Fetch> {
        let params = ListParams {
            limit: Some(self.options.page_size),
            continue_token: token,
            ..ListParams::default()
        };
        let request = kube::core::Request::new(at.resource.path())
            .list(&params)
            .map_err(|e| {
                Fetch::Failed(ClusterError::Config(format!(
                    "cannot build the request for {}: {e}",
                    at.resource.qualified()
                )))
            })?;
        let timeout = self.options.request_timeout;
        match tokio::time::timeout(timeout, self.client.request_text(request)).await {
            Err(_) => Err(Fetch::Failed(ClusterError::Timeout {
                server: self.server.clone(),
                resource: at.resource.qualified(),
                page: at.page,
                after: timeout,
            })),
            Ok(Err(e)) => Err(self.classify(at, e)),
            Ok(Ok(text)) => Ok(text),
        }
    }

    /// Turns kube's error into words.
    fn classify(&self, at: &At<'_>, e: kube::Error) -> Fetch {
        let resource = at.resource.qualified();
        let failed = |e| Fetch::Failed(e);
        match e {
            kube::Error::Api(status) => match status.code {
                401 => failed(ClusterError::Unauthorized {
                    server: self.server.clone(),
                    context: self.name.clone(),
                }),
                403 => failed(ClusterError::Forbidden {
                    rule: at.resource.rbac_rule(),
                    resource,
                    message: status.message.clone(),
                }),
                404 => failed(ClusterError::NotServed {
                    server: self.server.clone(),
                    resource,
                    path: at.resource.path(),
                }),
                410 => Fetch::Expired,
                code => failed(ClusterError::Api {
                    resource,
                    code,
                    reason: status.reason.clone(),
                    message: shorten(&status.message, 300),
                }),
            },
            kube::Error::Auth(e) => failed(ClusterError::Credentials {
                context: self.name.clone(),
                detail: chain_text(&e),
            }),
            other => {
                let detail = chain_text(&other);
                let server = self.server.clone();
                let page = at.page;
                match transport_failure(&other) {
                    Transport::Timeout => failed(ClusterError::Timeout {
                        server,
                        resource,
                        page,
                        after: self.options.request_timeout,
                    }),
                    Transport::Connect if !at.answered => {
                        failed(ClusterError::Unreachable { server, detail })
                    }
                    Transport::Connect | Transport::Dropped => failed(ClusterError::Dropped {
                        server,
                        resource,
                        page,
                        detail,
                    }),
                    Transport::Other if !at.answered => {
                        failed(ClusterError::Unreachable { server, detail })
                    }
                    Transport::Other => failed(ClusterError::Dropped {
                        server,
                        resource,
                        page,
                        detail,
                    }),
                }
            }
        }
    }
}

enum Fetch {
    /// 410 Gone: the `continue` token expired.
    Expired,
    Failed(ClusterError),
}

/// The part of a `*List` answer that matters; the items stay unparsed text.
#[derive(Deserialize)]
struct ListPage<'a> {
    #[serde(default)]
    metadata: ListMeta,
    /// `None` only when missing: `null` is an empty list.
    #[serde(default, borrow, deserialize_with = "present")]
    items: Option<&'a RawValue>,
}

fn present<'de: 'a, 'a, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<&'a RawValue>, D::Error> {
    <&'a RawValue>::deserialize(d).map(Some)
}

/// The items of a page and its `continue` token. An answer that is not JSON,
/// or has no `items`, is malformed.
fn parse_page<'t>(
    text: &'t str,
    at: &At<'_>,
) -> Result<(Vec<&'t RawValue>, Option<String>), ClusterError> {
    let malformed = |detail: String| ClusterError::Malformed {
        resource: at.resource.qualified(),
        page: at.page,
        detail,
    };
    let page: ListPage<'t> = serde_json::from_str(text).map_err(|e| malformed(e.to_string()))?;
    let Some(items) = page.items else {
        return Err(malformed(format!(
            "it has no items, so it is not a list (it starts {:?})",
            shorten(text, 80)
        )));
    };
    let items: Option<Vec<&'t RawValue>> =
        serde_json::from_str(items.get()).map_err(|e| malformed(format!("items: {e}")))?;
    Ok((items.unwrap_or_default(), page.metadata.continue_token))
}

/// Workloads already listed, by key, with their uid: the owners that later
/// objects may be folded under.
type Owners = HashMap<WorkloadKey, Option<String>>;

/// Kinds that `manifests::finish` may fold under an owner listed before them.
const FOLDABLE: [&str; 3] = ["Pod", "ReplicaSet", "Job"];

/// Reads one list item into `part`. An object that `finish` will fold under an
/// owner already listed (most pods, the ReplicaSets of Deployments, the Jobs
/// of CronJobs) only needs its name and owner references: it is kept as a
/// small stub instead of being parsed whole, which keeps a large cluster's
/// listing in bounded memory.
fn read_item(
    resource: &Resource,
    raw: &RawValue,
    owners: &Owners,
    origin: Origin,
    part: &mut Inventory,
) {
    if FOLDABLE.contains(&resource.kind)
        && let Some(stub) = stub_if_folded(resource, raw.get(), owners, &origin)
    {
        part.workloads.push(stub);
        return;
    }
    // The page was parsed as JSON already, so the item is valid JSON.
    let mut value: Value = serde_json::from_str(raw.get()).unwrap_or(Value::Null);
    if let Value::Object(obj) = &mut value {
        obj.entry("kind")
            .or_insert_with(|| Value::String(resource.kind.to_owned()));
        obj.entry("apiVersion")
            .or_insert_with(|| Value::String(resource.api_version()));
        // Server-side apply bookkeeping: large and says nothing about security.
        if let Some(Value::Object(meta)) = obj.get_mut("metadata") {
            meta.remove("managedFields");
        }
    }
    manifests::load_value(value, &origin, part);
}

#[derive(Deserialize)]
struct Probe {
    #[serde(default)]
    metadata: ProbeMeta,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct ProbeMeta {
    name: Option<String>,
    namespace: Option<String>,
    uid: Option<String>,
    #[serde(default)]
    owner_references: Vec<Value>,
}

fn stub(key: WorkloadKey, api_version: String, raw: Value, origin: Origin) -> Workload {
    Workload {
        key,
        api_version,
        labels: Default::default(),
        annotations: Default::default(),
        replicas: None,
        schedule: None,
        template: PodTemplate::default(),
        folded: Vec::new(),
        origin,
        raw,
    }
}

/// A stub of the object when `finish` would fold it under one of `owners`;
/// `finish` itself decides, on the object and the owners it names.
fn stub_if_folded(
    resource: &Resource,
    text: &str,
    owners: &Owners,
    origin: &Origin,
) -> Option<Workload> {
    let meta = serde_json::from_str::<Probe>(text).ok()?.metadata;
    if meta.owner_references.is_empty() {
        return None;
    }
    let name = meta.name.filter(|n| !n.is_empty())?;
    let namespace = meta
        .namespace
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "default".to_owned());
    let mut trial = Inventory::default();
    for r in &meta.owner_references {
        let (Some(kind), Some(owner)) = (r["kind"].as_str(), r["name"].as_str()) else {
            continue;
        };
        let key = WorkloadKey::new(namespace.as_str(), kind, owner);
        if let Some(uid) = owners.get(&key) {
            let raw = json!({ "metadata": { "uid": uid } });
            trial
                .workloads
                .push(stub(key, String::new(), raw, Origin::default()));
        }
    }
    if trial.workloads.is_empty() {
        return None;
    }
    let key = WorkloadKey::new(namespace.as_str(), resource.kind, name.as_str());
    let raw = json!({ "metadata": {
        "name": name,
        "namespace": namespace,
        "uid": meta.uid,
        "ownerReferences": meta.owner_references,
    } });
    let child = stub(key, resource.api_version(), raw, origin.clone());
    trial.workloads.push(child.clone());
    manifests::finish(&mut trial);
    let folded = !trial.workloads.iter().any(|w| w.key == child.key);
    folded.then_some(child)
}

#[derive(Deserialize, Default)]
struct ListMeta {
    #[serde(rename = "continue", default)]
    continue_token: Option<String>,
}

/// What kind of transport failure an error is, from its source chain.
enum Transport {
    Timeout,
    Connect,
    Dropped,
    Other,
}

fn transport_failure(e: &(dyn std::error::Error + 'static)) -> Transport {
    use std::io::ErrorKind;
    let mut connect = false;
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            match io.kind() {
                ErrorKind::TimedOut => return Transport::Timeout,
                ErrorKind::ConnectionReset
                | ErrorKind::ConnectionAborted
                | ErrorKind::BrokenPipe
                | ErrorKind::UnexpectedEof
                    if !connect =>
                {
                    return Transport::Dropped;
                }
                _ => {}
            }
        }
        if let Some(h) = err.downcast_ref::<hyper::Error>() {
            if h.is_timeout() {
                return Transport::Timeout;
            }
            if h.is_incomplete_message() || h.is_body_write_aborted() || h.is_canceled() {
                return Transport::Dropped;
            }
        }
        if let Some(c) = err.downcast_ref::<hyper_util::client::legacy::Error>()
            && c.is_connect()
        {
            connect = true;
        }
        cur = err.source();
    }
    if connect {
        Transport::Connect
    } else if format!("{e}").contains("unexpected EOF") {
        Transport::Dropped
    } else {
        Transport::Other
    }
}

/// The messages of an error and its sources, without repeats: `a: b: c`.
fn chain_text(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        let text = err.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        cur = err.source();
    }
    // The innermost causes say the most; kube's outer wrappers add little.
    let useful: Vec<String> = parts
        .into_iter()
        .filter(|p| {
            !p.starts_with("ServiceError")
                && !p.starts_with("HyperError")
                && p != "client error (Connect)"
        })
        .collect();
    if useful.is_empty() {
        e.to_string()
    } else {
        useful.join(": ")
    }
}

fn shorten(s: &str, max: usize) -> String {
    let s = s.trim();
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max).collect();
    out.push('…');
    out
}

/// Moves everything of `part` into `inv`.
fn append(inv: &mut Inventory, mut part: Inventory) {
    inv.namespaces.append(&mut part.namespaces);
    inv.workloads.append(&mut part.workloads);
    inv.services.append(&mut part.services);
    inv.network_policies.append(&mut part.network_policies);
    inv.config_maps.append(&mut part.config_maps);
    inv.errors.append(&mut part.errors);
    for (kind, n) in part.skipped {
        *inv.skipped.entry(kind).or_default() += n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_names_and_rules() {
        let deploy = RESOURCES[1];
        assert_eq!(deploy.path(), "/apis/apps/v1/deployments");
        assert_eq!(deploy.qualified(), "deployments.apps");
        assert_eq!(deploy.api_version(), "apps/v1");
        assert_eq!(
            deploy.rbac_rule(),
            r#"{apiGroups: ["apps"], resources: ["deployments"], verbs: ["list"]}"#
        );
        let pods = RESOURCES.iter().find(|r| r.kind == "Pod").expect("pods");
        assert_eq!(pods.path(), "/api/v1/pods");
        assert_eq!(pods.qualified(), "pods");
        assert_eq!(
            pods.rbac_rule(),
            r#"{apiGroups: [""], resources: ["pods"], verbs: ["list"]}"#
        );
    }

    #[test]
    fn every_kind_the_reader_knows_is_listed() {
        let mut kinds: Vec<&str> = RESOURCES.iter().map(|r| r.kind).collect();
        kinds.sort_unstable();
        let mut expected: Vec<&str> = crate::model::WORKLOAD_KINDS.to_vec();
        expected.extend(["Namespace", "Service", "NetworkPolicy"]);
        expected.sort_unstable();
        assert_eq!(kinds, expected);
    }

    #[test]
    fn list_pages_need_items() {
        let at = At {
            resource: &RESOURCES[8],
            page: 1,
            answered: true,
        };
        let (items, next) = parse_page(
            r#"{"kind":"PodList","metadata":{"continue":"x"},"items":null}"#,
            &at,
        )
        .expect("null items");
        assert!(items.is_empty());
        assert_eq!(next.as_deref(), Some("x"));
        let (items, next) =
            parse_page(r#"{"kind":"PodList","items":[{"a":1},{"b":2}]}"#, &at).expect("items");
        assert_eq!(items.len(), 2);
        assert_eq!(next, None);
        let err = parse_page(r#"{"kind":"Status"}"#, &at).expect_err("not a list");
        assert!(err.to_string().contains("it has no items"), "{err}");
    }

    fn owned(kind: &str, name: &str, owner_kind: &str, owner: &str, uid: &str) -> String {
        json!({ "metadata": { "name": name, "namespace": "shop", "uid": format!("{name}-uid"),
            "ownerReferences": [{ "kind": owner_kind, "name": owner, "uid": uid, "controller": true }] },
            "spec": { "containers": [{ "name": kind }] } })
        .to_string()
    }

    #[test]
    fn only_objects_that_will_fold_become_stubs() {
        let mut owners = Owners::new();
        owners.insert(
            WorkloadKey::new("shop", "ReplicaSet", "web-1"),
            Some("rs-uid".into()),
        );
        owners.insert(WorkloadKey::new("shop", "Deployment", "web"), None);
        let pods = &RESOURCES[8];
        let origin = Origin::default();
        let fold = |text: &str| stub_if_folded(pods, text, &owners, &origin);
        let stub = fold(&owned("Pod", "web-1-a", "ReplicaSet", "web-1", "rs-uid")).expect("folds");
        assert_eq!(stub.key.to_string(), "shop/Pod/web-1-a");
        // Another uid: another ReplicaSet of the same name, not this one.
        assert!(fold(&owned("Pod", "web-1-b", "ReplicaSet", "web-1", "other")).is_none());
        // An owner not listed (or not one that folds pods) keeps the pod whole.
        assert!(fold(&owned("Pod", "x", "ReplicaSet", "web-2", "u")).is_none());
        assert!(fold(&owned("Pod", "y", "Deployment", "web", "u")).is_none());
        assert!(fold(r#"{"metadata":{"name":"bare","namespace":"shop"}}"#).is_none());
        let rs = stub_if_folded(
            &RESOURCES[2],
            &owned("ReplicaSet", "web-1", "Deployment", "web", "d-uid"),
            &owners,
            &origin,
        )
        .expect("a ReplicaSet folds under its Deployment");
        assert_eq!(rs.raw["metadata"]["uid"], "web-1-uid");
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(seconds(Duration::from_secs(30)), "30 s");
        assert_eq!(seconds(Duration::from_millis(300)), "0.3 s");
    }
}
