//! The graph of workloads and their connections, built from one snapshot.
//!
//! Nodes are workloads (`namespace/Kind/name`) and, when something is exposed,
//! the node [`EXTERNAL`] for traffic from outside the cluster. An edge is a
//! connection `from → to` on the port the destination pod receives on, with
//! its protocol, the evidence for it and the NetworkPolicy verdict.
//!
//! Where edges come from:
//!
//! 1. **Service references** in a container's env values (including values
//!    brought in by `envFrom` ConfigMaps and `configMapKeyRef`), command and
//!    args, after `$(VAR)` expansion: `cart`, `cart:7070`, `cart.shop`,
//!    `cart.shop.svc`, `cart.shop.svc.cluster.local` and pod names under a
//!    headless Service, bare or in URLs (see [`super::refs`]). A name is
//!    resolved to a Service (the workload's own namespace for one-word names),
//!    then through the Service's selector to the workloads behind it. The port
//!    is the Service port named (explicitly, by the URL scheme's default, or by
//!    a sibling `*_PORT` env var; else the Service's first port) mapped through
//!    its `targetPort`, named ports being looked up on the destination pod's
//!    containers. One-word names with no port count only under names that say
//!    "host" (`*_HOST`, `*_ADDR`, `--upstream=`…), and a workload naming its
//!    own Service without a port (`K8S_SERVICE_NAME=orders-queue-headless`) is
//!    not a connection. Evidence: `env CART_ADDR=cart:7070`,
//!    `arg --upstream=search:9200`, `command <the item>`.
//! 2. **Exposure**: every port of a LoadBalancer or NodePort Service (or one
//!    with `externalIPs`), and every `hostPort`, is an edge from [`EXTERNAL`].
//! 3. **Declared peers**: a NetworkPolicy rule that names particular pods
//!    (a non-empty `podSelector`, with or without a `namespaceSelector`) on
//!    ports the destination declares is taken as a connection its authors
//!    expect (Sock Shop's policies are the only record of who calls whom).
//!    Evidence: `declared in networkPolicy shop/catalog-ingress (ingress)`.
//! 4. **Observed flows**, merged in by [`super::flows`].
//!
//! Pure: no IO.

use std::collections::HashMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Container, ServicePort};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use petgraph::graph::{DiGraph, EdgeIndex, NodeIndex};
use petgraph::visit::EdgeRef;
use serde::Serialize;

use super::netpol::{
    Endpoint, Labels, NAMESPACE_NAME_LABEL, NamedPort, Namespaces, Peer, Pod, PolicySet, PortMatch,
    PortRule, Selector, Side, Verdict,
};
use super::refs::{self, HostRef, PortFrom};
use crate::model::{ConfigMapObject, Inventory, ServiceObject};

/// The id of the node that stands for traffic from outside the cluster.
pub const EXTERNAL: &str = "external";

/// Longest evidence text kept (longer command items are cut with `…`).
const MAX_EVIDENCE: usize = 200;

// ---------------------------------------------------------------------------------------------
// The cluster as the advisor sees it

/// What the policies and the graph need of each workload's pods.
#[derive(Debug, Clone)]
pub struct PodInfo {
    /// The pod template's labels.
    pub labels: Labels,
    /// Container ports (init containers too, for sidecars), with names.
    pub ports: Vec<NamedPort>,
}

/// An inventory with what the advisor derives from it once.
#[derive(Debug, Clone)]
pub struct Cluster {
    pub inventory: Inventory,
    /// Parallel to `inventory.workloads`.
    pub pods: Vec<PodInfo>,
    /// Labels of every namespace (declared or used), with `kubernetes.io/metadata.name`.
    pub namespace_labels: HashMap<String, Labels>,
    /// Workload indices by namespace.
    pub by_namespace: HashMap<String, Vec<usize>>,
    /// `namespace/Kind/name` → workload index.
    pub by_id: HashMap<String, usize>,
}

impl Cluster {
    pub fn new(inventory: Inventory) -> Cluster {
        let pods = inventory
            .workloads
            .iter()
            .map(|w| PodInfo {
                labels: w.template.metadata.labels.clone().unwrap_or_default(),
                ports: container_ports(&w.template.spec),
            })
            .collect();
        let mut namespace_labels: HashMap<String, Labels> = HashMap::new();
        for ns in &inventory.namespaces {
            namespace_labels.insert(ns.name.clone(), ns.labels.clone());
        }
        let mut by_namespace: HashMap<String, Vec<usize>> = HashMap::new();
        let mut by_id = HashMap::with_capacity(inventory.workloads.len());
        for (i, w) in inventory.workloads.iter().enumerate() {
            by_namespace
                .entry(w.key.namespace.clone())
                .or_default()
                .push(i);
            by_id.insert(w.key.to_string(), i);
        }
        let used = inventory
            .workloads
            .iter()
            .map(|w| &w.key.namespace)
            .chain(inventory.services.iter().map(|s| &s.namespace))
            .chain(inventory.network_policies.iter().map(|p| &p.namespace));
        for ns in used {
            namespace_labels.entry(ns.clone()).or_default();
        }
        for (name, labels) in &mut namespace_labels {
            labels
                .entry(NAMESPACE_NAME_LABEL.to_owned())
                .or_insert_with(|| name.clone());
        }
        Cluster {
            inventory,
            pods,
            namespace_labels,
            by_namespace,
            by_id,
        }
    }

    /// Workload `i` as the policies see it.
    pub fn pod(&self, i: usize) -> Pod<'_> {
        static EMPTY: std::sync::LazyLock<Labels> = std::sync::LazyLock::new(Labels::new);
        let ns = &self.inventory.workloads[i].key.namespace;
        Pod {
            namespace: ns,
            labels: &self.pods[i].labels,
            namespace_labels: self.namespace_labels.get(ns).unwrap_or(&EMPTY),
            ports: &self.pods[i].ports,
        }
    }

    pub fn endpoint(&self, node: &Node) -> Endpoint<'_> {
        match node.workload {
            Some(i) => Endpoint::Pod(self.pod(i)),
            None => Endpoint::External,
        }
    }

    /// Workloads of namespace `ns`.
    pub fn in_namespace(&self, ns: &str) -> &[usize] {
        self.by_namespace.get(ns).map_or(&[], Vec::as_slice)
    }

    /// Workloads a peer of a policy in `policy_ns` names.
    fn peer_workloads(&self, peer: &Peer, policy_ns: &str) -> Vec<usize> {
        let Peer::Pods { namespaces, pods } = peer else {
            return Vec::new();
        };
        let namespaces: Vec<&str> = match namespaces {
            Namespaces::Own => vec![policy_ns],
            Namespaces::Matching(sel) => {
                let mut v: Vec<&str> = self
                    .namespace_labels
                    .iter()
                    .filter(|(_, l)| sel.matches(l))
                    .map(|(n, _)| n.as_str())
                    .collect();
                v.sort_unstable();
                v
            }
        };
        namespaces
            .into_iter()
            .flat_map(|ns| self.in_namespace(ns).iter().copied())
            .filter(|&i| {
                pods.as_ref()
                    .is_none_or(|s| s.matches(&self.pods[i].labels))
            })
            .collect()
    }
}

fn container_ports(spec: &k8s_openapi::api::core::v1::PodSpec) -> Vec<NamedPort> {
    spec.init_containers
        .iter()
        .flatten()
        .chain(&spec.containers)
        .flat_map(|c| c.ports.iter().flatten())
        .map(|p| NamedPort {
            name: p.name.clone().unwrap_or_default(),
            port: p.container_port,
            protocol: p.protocol.clone().unwrap_or_else(|| "TCP".to_owned()),
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The graph

/// A node: a workload (by index into the inventory) or the outside world.
#[derive(Debug, Clone)]
pub struct Node {
    pub id: String,
    /// `None` for [`EXTERNAL`].
    pub workload: Option<usize>,
}

/// A connection.
#[derive(Debug, Clone)]
pub struct Edge {
    /// The port the destination pod receives on.
    pub port: i32,
    pub protocol: Arc<str>,
    /// Why we believe the connection exists, in the order found, without repeats.
    pub evidence: Vec<String>,
    /// The NetworkPolicy verdict in the snapshot.
    pub verdict: Verdict,
}

#[derive(Debug, Clone, Default)]
pub struct Graph {
    pub graph: DiGraph<Node, Edge>,
    /// Node of each workload, parallel to the inventory's workloads.
    pub workload_nodes: Vec<NodeIndex>,
    pub external: Option<NodeIndex>,
    keys: HashMap<(NodeIndex, NodeIndex, i32, Arc<str>), EdgeIndex>,
}

impl Graph {
    /// Builds the graph of `cluster` and decides every edge under `policies`.
    pub fn build(cluster: &Cluster, policies: &PolicySet) -> Graph {
        let mut g = Graph::default();
        for w in &cluster.inventory.workloads {
            let i = g.graph.node_count();
            g.workload_nodes.push(g.graph.add_node(Node {
                id: w.key.to_string(),
                workload: Some(i),
            }));
        }
        let services = Services::new(cluster);
        let config_maps: HashMap<(&str, &str), &ConfigMapObject> = cluster
            .inventory
            .config_maps
            .iter()
            .map(|c| ((c.namespace.as_str(), c.name.as_str()), c))
            .collect();
        for w in 0..cluster.inventory.workloads.len() {
            references(cluster, &services, &config_maps, w, &mut g);
        }
        exposure(cluster, &services, &mut g);
        declared(cluster, policies, &mut g);
        g.decide(cluster, policies);
        g
    }

    /// The node of a workload or of [`EXTERNAL`], by id.
    pub fn node(&self, cluster: &Cluster, id: &str) -> Option<NodeIndex> {
        if id == EXTERNAL {
            return self.external;
        }
        cluster.by_id.get(id).map(|&i| self.workload_nodes[i])
    }

    pub(super) fn external_node(&mut self) -> NodeIndex {
        if let Some(n) = self.external {
            return n;
        }
        let n = self.graph.add_node(Node {
            id: EXTERNAL.to_owned(),
            workload: None,
        });
        self.external = Some(n);
        n
    }

    /// Adds a connection, or the evidence to the existing one.
    pub fn connect(
        &mut self,
        from: NodeIndex,
        to: NodeIndex,
        port: i32,
        protocol: &str,
        evidence: String,
    ) -> EdgeIndex {
        let protocol: Arc<str> = Arc::from(protocol);
        let key = (from, to, port, protocol.clone());
        if let Some(&e) = self.keys.get(&key) {
            let ev = &mut self.graph[e].evidence;
            if !ev.contains(&evidence) {
                ev.push(evidence);
            }
            return e;
        }
        let e = self.graph.add_edge(
            from,
            to,
            Edge {
                port,
                protocol,
                evidence: vec![evidence],
                verdict: Verdict::OPEN,
            },
        );
        self.keys.insert(key, e);
        e
    }

    /// Adds an edge from [`EXTERNAL`].
    pub fn connect_external(&mut self, to: NodeIndex, port: i32, protocol: &str, evidence: String) {
        let ext = self.external_node();
        self.connect(ext, to, port, protocol, evidence);
    }

    /// Decides every edge under `policies`.
    pub fn decide(&mut self, cluster: &Cluster, policies: &PolicySet) {
        let edges: Vec<EdgeIndex> = self.graph.edge_indices().collect();
        for e in edges {
            let (a, b) = self.graph.edge_endpoints(e).expect("edge exists");
            let edge = &self.graph[e];
            let v = policies.verdict(
                cluster.endpoint(&self.graph[a]),
                cluster.endpoint(&self.graph[b]),
                edge.port,
                &edge.protocol,
            );
            self.graph[e].verdict = v;
        }
    }

    /// The graph in the shape of `GET /api/v1/graph`, nodes and edges sorted by id.
    /// The connections into and out of one node, as in [`Graph::to_json`].
    pub fn connections_of(&self, cluster: &Cluster, id: &str) -> Vec<EdgeJson> {
        let Some(node) = self.node(cluster, id) else {
            return Vec::new();
        };
        let mut edges: Vec<EdgeJson> = self
            .graph
            .edges_directed(node, petgraph::Direction::Outgoing)
            .chain(
                self.graph
                    .edges_directed(node, petgraph::Direction::Incoming),
            )
            .map(|e| edge_json(&self.graph, e))
            .collect();
        edges.sort_by(|a, b| {
            (&a.from, &a.to, a.port, &a.protocol).cmp(&(&b.from, &b.to, b.port, &b.protocol))
        });
        edges.dedup();
        edges
    }

    pub fn to_json(&self, cluster: &Cluster) -> GraphJson {
        let mut nodes: Vec<NodeJson> = self
            .graph
            .node_weights()
            .map(|n| match n.workload {
                Some(i) => {
                    let k = &cluster.inventory.workloads[i].key;
                    NodeJson {
                        id: n.id.clone(),
                        namespace: Some(k.namespace.clone()),
                        kind: k.kind.clone(),
                        name: k.name.clone(),
                    }
                }
                None => NodeJson {
                    id: EXTERNAL.to_owned(),
                    namespace: None,
                    kind: "External".to_owned(),
                    name: EXTERNAL.to_owned(),
                },
            })
            .collect();
        nodes.sort_by(|a, b| a.id.cmp(&b.id));
        let mut edges: Vec<EdgeJson> = self
            .graph
            .edge_references()
            .map(|e| edge_json(&self.graph, e))
            .collect();
        edges.sort_by(|a, b| {
            (&a.from, &a.to, a.port, &a.protocol).cmp(&(&b.from, &b.to, b.port, &b.protocol))
        });
        GraphJson { nodes, edges }
    }
}

fn edge_json(graph: &DiGraph<Node, Edge>, e: petgraph::graph::EdgeReference<'_, Edge>) -> EdgeJson {
    let w = e.weight();
    EdgeJson {
        from: graph[e.source()].id.clone(),
        to: graph[e.target()].id.clone(),
        port: w.port,
        protocol: w.protocol.to_string(),
        evidence: w.evidence.clone(),
        allowed: w.verdict.allowed,
        policy: w.verdict.policy.as_deref().map(str::to_owned),
    }
}

/// `GET /api/v1/graph`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct GraphJson {
    pub nodes: Vec<NodeJson>,
    pub edges: Vec<EdgeJson>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct NodeJson {
    pub id: String,
    pub namespace: Option<String>,
    pub kind: String,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct EdgeJson {
    pub from: String,
    pub to: String,
    pub port: i32,
    pub protocol: String,
    pub evidence: Vec<String>,
    pub allowed: bool,
    pub policy: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// Services

struct Services<'c> {
    list: &'c [ServiceObject],
    by_key: HashMap<(&'c str, &'c str), usize>,
    /// Workloads behind each service (by selector).
    backends: Vec<Vec<usize>>,
}

impl<'c> Services<'c> {
    fn new(cluster: &'c Cluster) -> Services<'c> {
        let list = cluster.inventory.services.as_slice();
        let by_key = list
            .iter()
            .enumerate()
            .map(|(i, s)| ((s.namespace.as_str(), s.name.as_str()), i))
            .collect();
        let backends = list
            .iter()
            .map(|s| {
                let selector = s
                    .service
                    .spec
                    .as_ref()
                    .and_then(|sp| sp.selector.as_ref())
                    .filter(|m| !m.is_empty());
                match selector {
                    None => Vec::new(),
                    Some(m) => {
                        let sel = Selector::equality(m);
                        cluster
                            .in_namespace(&s.namespace)
                            .iter()
                            .copied()
                            .filter(|&i| sel.matches(&cluster.pods[i].labels))
                            .collect()
                    }
                }
            })
            .collect();
        Services {
            list,
            by_key,
            backends,
        }
    }

    fn ports(&self, i: usize) -> &'c [ServicePort] {
        self.list[i]
            .service
            .spec
            .as_ref()
            .and_then(|s| s.ports.as_deref())
            .unwrap_or(&[])
    }

    fn headless(&self, i: usize) -> bool {
        self.list[i]
            .service
            .spec
            .as_ref()
            .and_then(|s| s.cluster_ip.as_deref())
            == Some("None")
    }

    /// The Service a DNS name means, seen from namespace `own`: `svc`,
    /// `svc.ns`, `svc.ns.svc[.<cluster domain>]`, or a pod's name under a
    /// headless Service, `pod.svc.ns.svc[…]`.
    fn resolve(&self, host: &str, own: &str) -> Option<usize> {
        let labels: Vec<&str> = host.split('.').collect();
        let (name, ns) = match labels.as_slice() {
            [name] => (*name, own),
            [name, ns] => (*name, *ns),
            [name, ns, "svc", ..] => (*name, *ns),
            [_pod, name, ns, "svc", ..] => (*name, *ns),
            _ => return None,
        };
        self.by_key.get(&(ns, name)).copied()
    }
}

/// The port a pod receives on for a Service port's `targetPort`.
fn target_port(sp: &ServicePort, pod: &PodInfo) -> Option<i32> {
    let protocol = sp.protocol.as_deref().unwrap_or("TCP");
    match &sp.target_port {
        None => Some(sp.port),
        Some(IntOrString::Int(n)) => Some(*n),
        Some(IntOrString::String(s)) => match s.parse::<i32>() {
            Ok(n) => Some(n),
            Err(_) => pod
                .ports
                .iter()
                .find(|p| p.name == *s && p.protocol == protocol)
                .map(|p| p.port),
        },
    }
}

// ---------------------------------------------------------------------------------------------
// 1. Service references

/// Env vars of a container in the order the kubelet builds them: `envFrom`
/// sources, then `env` (later definitions of a name win). Values are as
/// written; `$(VAR)` expansion happens when they are scanned.
fn container_env(
    c: &Container,
    ns: &str,
    config_maps: &HashMap<(&str, &str), &ConfigMapObject>,
) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = Vec::new();
    let set = |env: &mut Vec<(String, String)>, name: String, value: String| match env
        .iter_mut()
        .find(|(n, _)| *n == name)
    {
        Some(slot) => slot.1 = value,
        None => env.push((name, value)),
    };
    for from in c.env_from.iter().flatten() {
        let Some(cm) = from
            .config_map_ref
            .as_ref()
            .and_then(|r| config_maps.get(&(ns, r.name.as_str())))
        else {
            continue;
        };
        let prefix = from.prefix.as_deref().unwrap_or("");
        for (k, v) in &cm.data {
            set(&mut env, format!("{prefix}{k}"), v.clone());
        }
    }
    for e in c.env.iter().flatten() {
        let value = match (&e.value, &e.value_from) {
            (Some(v), _) => Some(v.clone()),
            (None, Some(from)) => from.config_map_key_ref.as_ref().and_then(|r| {
                config_maps
                    .get(&(ns, r.name.as_str()))
                    .and_then(|cm| cm.data.get(&r.key))
                    .cloned()
            }),
            _ => None,
        };
        if let Some(v) = value {
            set(&mut env, e.name.clone(), v);
        }
    }
    env
}

fn cut(s: &str) -> String {
    if s.chars().count() <= MAX_EVIDENCE {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(MAX_EVIDENCE - 1).collect();
    out.push('…');
    out
}

/// Connections named in workload `w`'s containers.
fn references(
    cluster: &Cluster,
    services: &Services<'_>,
    config_maps: &HashMap<(&str, &str), &ConfigMapObject>,
    w: usize,
    g: &mut Graph,
) {
    let workload = &cluster.inventory.workloads[w];
    let ns = workload.key.namespace.as_str();
    let spec = &workload.template.spec;
    for c in spec
        .init_containers
        .iter()
        .flatten()
        .chain(&spec.containers)
    {
        let env = container_env(c, ns, config_maps);
        let lookup = |name: &str| env.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone());
        for (name, value) in &env {
            if !value.contains(['.', ':']) && !refs::names_a_host(name) {
                continue;
            }
            let expanded = refs::expand(value, lookup);
            let sibling = refs::sibling_port_names(name)
                .iter()
                .find_map(|n| lookup(n))
                .and_then(|v| refs::port_value(&v));
            let evidence = format!("env {name}={value}");
            for r in refs::scan(&expanded) {
                connect_ref(
                    cluster,
                    services,
                    w,
                    &r,
                    refs::names_a_host(name),
                    sibling,
                    &evidence,
                    g,
                );
            }
        }
        for (word, items) in [("command", &c.command), ("arg", &c.args)] {
            for item in items.iter().flatten() {
                if !item.contains(['.', ':']) {
                    continue;
                }
                let expanded = refs::expand(item, lookup);
                let hint = item
                    .strip_prefix('-')
                    .and_then(|f| f.split_once('='))
                    .is_some_and(|(flag, _)| refs::names_a_host(flag));
                let evidence = format!("{word} {}", cut(item));
                for r in refs::scan(&expanded) {
                    connect_ref(cluster, services, w, &r, hint, None, &evidence, g);
                }
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn connect_ref(
    cluster: &Cluster,
    services: &Services<'_>,
    w: usize,
    r: &HostRef,
    hint: bool,
    sibling_port: Option<i32>,
    evidence: &str,
    g: &mut Graph,
) {
    let ns = &cluster.inventory.workloads[w].key.namespace;
    let one_word = !r.host.contains('.');
    if one_word && !r.url && r.port_from == PortFrom::None && !hint {
        return;
    }
    if refs::storage_scheme(&r.scheme) {
        return;
    }
    let Some(si) = services.resolve(&r.host, ns) else {
        return;
    };
    let ports = services.ports(si);
    let wanted = match r.port_from {
        PortFrom::Explicit | PortFrom::Scheme => r.port,
        PortFrom::None | PortFrom::UnknownScheme => sibling_port,
    };
    let chosen: Vec<ServicePort> = match wanted {
        Some(p) => {
            let m: Vec<ServicePort> = ports.iter().filter(|sp| sp.port == p).cloned().collect();
            if m.is_empty() && services.headless(si) {
                // A headless Service's name resolves to the pods: any port reaches them.
                vec![ServicePort {
                    port: p,
                    ..Default::default()
                }]
            } else {
                m
            }
        }
        None => ports.first().cloned().into_iter().collect(),
    };
    let explicit = r.port_from == PortFrom::Explicit || sibling_port.is_some();
    for sp in &chosen {
        let protocol = sp.protocol.as_deref().unwrap_or("TCP");
        for &d in &services.backends[si] {
            if d == w && !explicit {
                continue;
            }
            let Some(port) = target_port(sp, &cluster.pods[d]) else {
                continue;
            };
            g.connect(
                g.workload_nodes[w],
                g.workload_nodes[d],
                port,
                protocol,
                evidence.to_owned(),
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 2. Exposure

fn exposure(cluster: &Cluster, services: &Services<'_>, g: &mut Graph) {
    for (si, s) in services.list.iter().enumerate() {
        let Some(spec) = &s.service.spec else {
            continue;
        };
        let ty = spec.type_.as_deref().unwrap_or("ClusterIP");
        let external_ips = spec.external_ips.as_ref().is_some_and(|v| !v.is_empty());
        if !matches!(ty, "LoadBalancer" | "NodePort") && !external_ips {
            continue;
        }
        let how = if external_ips && !matches!(ty, "LoadBalancer" | "NodePort") {
            "externalIPs".to_owned()
        } else {
            ty.to_owned()
        };
        for sp in services.ports(si) {
            let protocol = sp.protocol.as_deref().unwrap_or("TCP");
            for &d in &services.backends[si] {
                let Some(port) = target_port(sp, &cluster.pods[d]) else {
                    continue;
                };
                let evidence = format!(
                    "service {}/{} ({how}) port {}",
                    s.namespace, s.name, sp.port
                );
                let to = g.workload_nodes[d];
                g.connect_external(to, port, protocol, evidence);
            }
        }
    }
    for (w, workload) in cluster.inventory.workloads.iter().enumerate() {
        let spec = &workload.template.spec;
        for c in spec
            .init_containers
            .iter()
            .flatten()
            .chain(&spec.containers)
        {
            for p in c.ports.iter().flatten() {
                let Some(host_port) = p.host_port.filter(|&h| h > 0) else {
                    continue;
                };
                let protocol = p.protocol.as_deref().unwrap_or("TCP");
                let evidence = format!("hostPort {host_port} on container {}", c.name);
                let to = g.workload_nodes[w];
                g.connect_external(to, p.container_port, protocol, evidence);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 3. Peers declared by NetworkPolicies

/// The ports of `dst` a policy port rule names, among those the pod declares
/// (a pod that declares none is not taken to listen where a policy allows).
fn declared_ports(rules: Option<&Vec<PortRule>>, dst: &PodInfo) -> Vec<(i32, String)> {
    let mut out: Vec<(i32, String)> = Vec::new();
    let mut push = |p: i32, proto: &str| {
        if !out.iter().any(|(q, pr)| *q == p && pr == proto) {
            out.push((p, proto.to_owned()));
        }
    };
    match rules {
        None => {
            for p in &dst.ports {
                push(p.port, &p.protocol);
            }
        }
        Some(rules) => {
            for r in rules {
                let on_pod = dst.ports.iter().filter(|p| p.protocol == r.protocol);
                match &r.port {
                    PortMatch::Any => on_pod.for_each(|p| push(p.port, &p.protocol)),
                    PortMatch::Range(lo, hi) => on_pod
                        .filter(|p| (*lo..=*hi).contains(&p.port))
                        .for_each(|p| push(p.port, &p.protocol)),
                    PortMatch::Named(n) => on_pod
                        .filter(|p| p.name == *n)
                        .for_each(|p| push(p.port, &p.protocol)),
                }
            }
        }
    }
    out
}

fn declared(cluster: &Cluster, policies: &PolicySet, g: &mut Graph) {
    for p in policies.all() {
        let selected: Vec<usize> = cluster
            .in_namespace(&p.namespace)
            .iter()
            .copied()
            .filter(|&i| p.selector.matches(&cluster.pods[i].labels))
            .collect();
        if selected.is_empty() {
            continue;
        }
        for (side, rules) in [(Side::Ingress, &p.ingress), (Side::Egress, &p.egress)] {
            let evidence = format!(
                "declared in networkPolicy {} ({})",
                p.id,
                match side {
                    Side::Ingress => "ingress",
                    Side::Egress => "egress",
                }
            );
            for rule in rules.iter().flatten() {
                for peer in rule.peers.iter().flatten().filter(|x| x.names_pods()) {
                    let peers = cluster.peer_workloads(peer, &p.namespace);
                    let pairs = selected
                        .iter()
                        .flat_map(|&s| peers.iter().map(move |&q| (s, q)));
                    for (s, q) in pairs {
                        let (src, dst) = match side {
                            Side::Ingress => (q, s),
                            Side::Egress => (s, q),
                        };
                        for (port, proto) in declared_ports(rule.ports.as_ref(), &cluster.pods[dst])
                        {
                            g.connect(
                                g.workload_nodes[src],
                                g.workload_nodes[dst],
                                port,
                                &proto,
                                evidence.clone(),
                            );
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::advisor::netpol::PolicySet;

    fn cluster(yaml: &str) -> Cluster {
        let mut inv = Inventory::default();
        crate::ingest::manifests::load_str("t.yaml", yaml, &mut inv);
        crate::ingest::manifests::finish(&mut inv);
        assert!(inv.errors.is_empty(), "{:?}", inv.errors);
        Cluster::new(inv)
    }

    const TWO: &str = "
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: web
        env:
        - {name: CART_ADDR, value: 'cart:7070'}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: cart, namespace: shop}
spec:
  selector: {matchLabels: {app: cart}}
  template:
    metadata: {labels: {app: cart}}
    spec:
      containers:
      - name: cart
        image: cart
        ports: [{name: grpc, containerPort: 7070}]
---
apiVersion: v1
kind: Service
metadata: {name: cart, namespace: shop}
spec:
  selector: {app: cart}
  ports: [{port: 7070, targetPort: grpc}]
";

    #[test]
    fn env_reference_through_a_service() {
        let c = cluster(TWO);
        let g = Graph::build(&c, &PolicySet::default());
        let j = g.to_json(&c);
        assert_eq!(j.edges.len(), 1, "{j:?}");
        assert_eq!(j.edges[0].evidence, ["env CART_ADDR=cart:7070"]);
    }
}

#[cfg(test)]
mod more_tests {
    use super::*;
    use crate::advisor::netpol::PolicySet;

    fn edges(yaml: &str) -> Vec<(String, String, i32, Vec<String>)> {
        let mut inv = Inventory::default();
        crate::ingest::manifests::load_str("t.yaml", yaml, &mut inv);
        crate::ingest::manifests::finish(&mut inv);
        assert!(inv.errors.is_empty(), "{:?}", inv.errors);
        let c = Cluster::new(inv);
        let g = Graph::build(&c, &PolicySet::default());
        g.to_json(&c)
            .edges
            .into_iter()
            .map(|e| (e.from, e.to, e.port, e.evidence))
            .collect()
    }

    /// A Deployment `name` in `shop` with app label `name`, container ports and env/args.
    fn deploy(name: &str, ports: &str, env: &str, args: &str) -> String {
        format!(
            "---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}, namespace: shop}}
spec:
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      containers:
      - name: c
        image: i
        ports: {ports}
        env: {env}
        args: {args}
"
        )
    }

    fn service(name: &str, extra: &str, ports: &str) -> String {
        format!(
            "---
apiVersion: v1
kind: Service
metadata: {{name: {name}, namespace: shop}}
spec: {{selector: {{app: {name}}}, ports: {ports}{extra}}}
"
        )
    }

    #[test]
    fn forms_ports_and_hints() {
        let yaml = [
            deploy("db", "[{name: pg, containerPort: 5432}]", "[]", "[]"),
            service("db", "", "[{port: 5432, targetPort: pg}, {name: metrics, port: 9187}]"),
            deploy("peer", "[{containerPort: 7000}]", "[]", "[]"),
            service("peer", ", clusterIP: None", "[{port: 7000}]"),
            deploy(
                "app",
                "[]",
                "[{name: DB_HOST, value: db}, {name: DB_PORT, value: '5432'}, \
                  {name: DB_NAME, value: db}, {name: HOST_AND_VAR, value: '$(DB_HOST).shop.svc:5432'}]",
                "['--peers=peer-0.peer.shop.svc.cluster.local:7100', '--other=db']",
            ),
        ]
        .concat();
        let e = edges(&yaml);
        let has = |to: &str, port: i32, ev: &str| {
            e.iter().any(|(f, t, p, evs)| {
                f == "shop/Deployment/app"
                    && t == &format!("shop/Deployment/{to}")
                    && *p == port
                    && evs.iter().any(|x| x == ev)
            })
        };
        // A one-word host under a name that says so, port from DB_PORT.
        assert!(has("db", 5432, "env DB_HOST=db"), "{e:?}");
        // $(VAR) expansion.
        assert!(
            has("db", 5432, "env HOST_AND_VAR=$(DB_HOST).shop.svc:5432"),
            "{e:?}"
        );
        // A pod name under a headless Service; any port reaches the pods.
        assert!(
            has(
                "peer",
                7100,
                "arg --peers=peer-0.peer.shop.svc.cluster.local:7100"
            ),
            "{e:?}"
        );
        // DB_NAME=db and --other=db are not hosts.
        assert!(
            !e.iter().any(|(_, _, _, evs)| evs
                .iter()
                .any(|x| x.contains("DB_NAME") || x.contains("--other"))),
            "{e:?}"
        );
    }

    #[test]
    fn own_service_without_port_is_not_a_connection() {
        let yaml = [
            deploy(
                "q",
                "[{containerPort: 5672}]",
                "[{name: K8S_SERVICE_NAME, value: q}, {name: PEERS, value: 'q:5672'}]",
                "[]",
            ),
            service("q", "", "[{port: 5672}]"),
        ]
        .concat();
        let e = edges(&yaml);
        assert_eq!(e.len(), 1, "{e:?}");
        assert_eq!(e[0].3, ["env PEERS=q:5672"]);
    }

    #[test]
    fn config_map_values_and_missing_named_ports() {
        let yaml = [
            "---
apiVersion: v1
kind: ConfigMap
metadata: {name: upstreams, namespace: shop}
data: {CART_URL: 'http://cart', OTHER: 'x'}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: one, namespace: shop}
data: {addr: 'cart.shop:8080'}
"
            .to_owned(),
            "---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: c
        image: i
        envFrom: [{configMapRef: {name: upstreams}, prefix: UP_}]
        env: [{name: CART_ADDR, valueFrom: {configMapKeyRef: {name: one, key: addr}}}]
"
            .to_owned(),
            deploy("cart", "[{name: http, containerPort: 8080}]", "[]", "[]"),
            service(
                "cart",
                "",
                "[{port: 80, targetPort: http}, {name: admin, port: 8080, targetPort: admin}]",
            ),
        ]
        .concat();
        let e = edges(&yaml);
        // http://cart → port 80 → named port http = 8080.
        assert!(
            e.iter().any(|(_, t, p, ev)| t == "shop/Deployment/cart"
                && *p == 8080
                && ev == &["env UP_CART_URL=http://cart"]),
            "{e:?}"
        );
        // cart.shop:8080 names the Service port 8080, whose named target `admin` the pod lacks.
        assert!(
            !e.iter()
                .any(|(_, _, _, ev)| ev.iter().any(|x| x.contains("CART_ADDR"))),
            "{e:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Scoping: what a user limited to some namespaces sees

/// The id that stands for every workload of a namespace the user does not
/// see: its name is never shown.
pub const ANOTHER_NAMESPACE: &str = "another namespace";

/// Whether node `id` (`ns/Kind/name`, or [`EXTERNAL`]) is shown to someone
/// who sees the namespaces `sees` accepts. Traffic from outside the cluster
/// belongs to no namespace and is shown.
pub fn id_shown(id: &str, sees: &dyn Fn(&str) -> bool) -> bool {
    match id.split_once('/') {
        Some((ns, _)) => sees(ns),
        None => id == EXTERNAL || id == ANOTHER_NAMESPACE,
    }
}

/// The id as shown: [`ANOTHER_NAMESPACE`] for a workload out of sight.
pub fn shown_id(id: &str, sees: &dyn Fn(&str) -> bool) -> String {
    if id_shown(id, sees) {
        id.to_owned()
    } else {
        ANOTHER_NAMESPACE.to_owned()
    }
}

/// Whether a NetworkPolicy id (`ns/name`) is in sight.
fn policy_shown(id: &str, sees: &dyn Fn(&str) -> bool) -> bool {
    id.split_once('/').is_some_and(|(ns, _)| sees(ns))
}

/// Connections with at least one end in sight; the other end, when out of
/// sight, becomes [`ANOTHER_NAMESPACE`] with no evidence (which would name
/// it) and no policy of its namespace. Connections between two namespaces
/// out of sight are dropped.
pub fn scope_edges(edges: Vec<EdgeJson>, sees: &dyn Fn(&str) -> bool) -> Vec<EdgeJson> {
    let mut out: Vec<EdgeJson> = edges
        .into_iter()
        .filter(|e| {
            (id_shown(&e.from, sees) && e.from != EXTERNAL)
                || (id_shown(&e.to, sees) && e.to != EXTERNAL)
        })
        .map(|mut e| {
            let hidden = !id_shown(&e.from, sees) || !id_shown(&e.to, sees);
            e.from = shown_id(&e.from, sees);
            e.to = shown_id(&e.to, sees);
            if hidden {
                e.evidence.clear();
            }
            if e.policy.as_deref().is_some_and(|p| !policy_shown(p, sees)) {
                e.policy = Some("a NetworkPolicy of another namespace".to_owned());
            }
            e
        })
        .collect();
    out.sort_by(|a, b| {
        (&a.from, &a.to, a.port, &a.protocol).cmp(&(&b.from, &b.to, b.port, &b.protocol))
    });
    out.dedup();
    out
}

impl GraphJson {
    /// The graph as a user limited to some namespaces sees it: their nodes,
    /// `external`, and one node [`ANOTHER_NAMESPACE`] for the far ends of
    /// connections that leave their namespaces (see [`scope_edges`]).
    pub fn scoped(self, sees: &dyn Fn(&str) -> bool) -> GraphJson {
        let edges = scope_edges(self.edges, sees);
        let mut nodes: Vec<NodeJson> = self
            .nodes
            .into_iter()
            .filter(|n| n.namespace.as_deref().is_some_and(sees))
            .collect();
        let used = |id: &str| edges.iter().any(|e| e.from == id || e.to == id);
        if used(EXTERNAL) {
            nodes.push(NodeJson {
                id: EXTERNAL.to_owned(),
                namespace: None,
                kind: "External".to_owned(),
                name: EXTERNAL.to_owned(),
            });
        }
        if used(ANOTHER_NAMESPACE) {
            nodes.push(NodeJson {
                id: ANOTHER_NAMESPACE.to_owned(),
                namespace: None,
                kind: "Other".to_owned(),
                name: ANOTHER_NAMESPACE.to_owned(),
            });
        }
        nodes.sort_by(|a, b| a.id.cmp(&b.id));
        GraphJson { nodes, edges }
    }
}
