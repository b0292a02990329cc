//! NetworkPolicy semantics (`networking.k8s.io/v1`), decided per connection.
//!
//! - Policies are additive: a pod that no policy selects for a direction is not
//!   isolated in it and accepts (or sends) anything; once selected, a
//!   connection must be allowed by at least one rule of at least one policy
//!   selecting it.
//! - `policyTypes` says which directions a policy isolates; when absent it is
//!   `Ingress`, plus `Egress` if the policy has egress rules (the API server's
//!   default).
//! - A connection needs both ends: ingress at the destination pod and egress at
//!   the source pod.
//! - Peers: `podSelector` alone means pods of the policy's namespace;
//!   `namespaceSelector` alone, every pod of the matching namespaces (whose
//!   labels include `kubernetes.io/metadata.name`); both, the matching pods of
//!   the matching namespaces; `ipBlock` stands for addresses outside the
//!   cluster, so it matches the `external` node (unless the block lies inside
//!   private ranges, i.e. it can only name cluster or internal addresses) and
//!   never a pod.
//! - Ports: numbered (with `endPort` ranges) or named; a name is looked up on
//!   the destination pod's container ports, in both directions. The protocol
//!   defaults to TCP. A rule without ports allows every port; a rule without
//!   peers allows every peer.
//!
//! Pure: no IO.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::Arc;

use k8s_openapi::api::networking::v1::{NetworkPolicyPeer, NetworkPolicyPort};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::model::NetworkPolicyObject;

pub type Labels = BTreeMap<String, String>;

/// The label every namespace carries with its own name (set by the API server).
pub const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

// ---------------------------------------------------------------------------------------------
// Selectors

#[derive(Debug, Clone, PartialEq)]
enum Expr {
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    DoesNotExist(String),
    /// An unknown operator: the API server would reject it; it matches nothing.
    Never,
}

/// A compiled label selector; the empty selector matches everything.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Selector {
    labels: Vec<(String, String)>,
    exprs: Vec<Expr>,
}

impl Selector {
    pub fn compile(s: &LabelSelector) -> Selector {
        let labels = s
            .match_labels
            .iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let exprs = s
            .match_expressions
            .iter()
            .flatten()
            .map(|r| {
                let values = r.values.clone().unwrap_or_default();
                match r.operator.as_str() {
                    "In" => Expr::In(r.key.clone(), values),
                    "NotIn" => Expr::NotIn(r.key.clone(), values),
                    "Exists" => Expr::Exists(r.key.clone()),
                    "DoesNotExist" => Expr::DoesNotExist(r.key.clone()),
                    _ => Expr::Never,
                }
            })
            .collect();
        Selector { labels, exprs }
    }

    /// An equality selector, as a Service's `spec.selector`.
    pub fn equality(m: &BTreeMap<String, String>) -> Selector {
        Selector {
            labels: m.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            exprs: Vec::new(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty() && self.exprs.is_empty()
    }

    pub fn matches(&self, labels: &Labels) -> bool {
        self.labels
            .iter()
            .all(|(k, v)| labels.get(k).is_some_and(|x| x == v))
            && self.exprs.iter().all(|e| match e {
                Expr::In(k, vs) => labels.get(k).is_some_and(|x| vs.contains(x)),
                Expr::NotIn(k, vs) => labels.get(k).is_none_or(|x| !vs.contains(x)),
                Expr::Exists(k) => labels.contains_key(k),
                Expr::DoesNotExist(k) => !labels.contains_key(k),
                Expr::Never => false,
            })
    }
}

// ---------------------------------------------------------------------------------------------
// Policies

/// Which namespaces a pod peer may be in.
#[derive(Debug, Clone, PartialEq)]
pub enum Namespaces {
    /// The policy's own namespace.
    Own,
    Matching(Selector),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Peer {
    Pods {
        namespaces: Namespaces,
        /// `None`: every pod of those namespaces.
        pods: Option<Selector>,
    },
    /// An `ipBlock` that can hold addresses outside the cluster.
    External,
    /// An `ipBlock` inside private ranges, or a peer with no selector at all.
    Nothing,
}

impl Peer {
    fn compile(p: &NetworkPolicyPeer) -> Peer {
        if let Some(block) = &p.ip_block {
            return if is_private_block(&block.cidr) {
                Peer::Nothing
            } else {
                Peer::External
            };
        }
        let pods = p.pod_selector.as_ref().map(Selector::compile);
        match &p.namespace_selector {
            Some(ns) => Peer::Pods {
                namespaces: Namespaces::Matching(Selector::compile(ns)),
                pods,
            },
            None if pods.is_some() => Peer::Pods {
                namespaces: Namespaces::Own,
                pods,
            },
            None => Peer::Nothing,
        }
    }

    /// A peer that names particular pods (a non-empty pod selector), as
    /// opposed to "anyone" or "every pod of a namespace".
    pub fn names_pods(&self) -> bool {
        matches!(self, Peer::Pods { pods: Some(s), .. } if !s.is_empty())
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum PortMatch {
    /// Every port of the protocol.
    Any,
    /// `port` up to `endPort` (inclusive).
    Range(i32, i32),
    Named(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct PortRule {
    pub protocol: String,
    pub port: PortMatch,
}

impl PortRule {
    fn compile(p: &NetworkPolicyPort) -> PortRule {
        let protocol = p.protocol.clone().unwrap_or_else(|| "TCP".to_owned());
        let port = match &p.port {
            None => PortMatch::Any,
            Some(IntOrString::Int(n)) => PortMatch::Range(*n, p.end_port.unwrap_or(*n).max(*n)),
            Some(IntOrString::String(s)) => match s.parse::<i32>() {
                Ok(n) => PortMatch::Range(n, p.end_port.unwrap_or(n).max(n)),
                Err(_) => PortMatch::Named(s.clone()),
            },
        };
        PortRule { protocol, port }
    }

    fn matches(&self, port: i32, protocol: &str, dst_ports: &[NamedPort]) -> bool {
        if self.protocol != protocol {
            return false;
        }
        match &self.port {
            PortMatch::Any => true,
            PortMatch::Range(lo, hi) => (*lo..=*hi).contains(&port),
            PortMatch::Named(name) => dst_ports
                .iter()
                .any(|p| p.name == *name && p.port == port && p.protocol == protocol),
        }
    }
}

/// One ingress or egress rule: `None` peers means every peer, `None` ports every port.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub peers: Option<Vec<Peer>>,
    pub ports: Option<Vec<PortRule>>,
}

fn nonempty<T>(v: &Option<Vec<T>>) -> Option<&Vec<T>> {
    v.as_ref().filter(|v| !v.is_empty())
}

impl Rule {
    fn compile(
        peers: &Option<Vec<NetworkPolicyPeer>>,
        ports: &Option<Vec<NetworkPolicyPort>>,
    ) -> Rule {
        Rule {
            peers: nonempty(peers).map(|v| v.iter().map(Peer::compile).collect()),
            ports: nonempty(ports).map(|v| v.iter().map(PortRule::compile).collect()),
        }
    }
}

/// A NetworkPolicy, compiled.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// `namespace/name`.
    pub id: Arc<str>,
    pub namespace: String,
    pub selector: Selector,
    /// `Some` when the policy isolates ingress (its rules; empty denies all).
    pub ingress: Option<Vec<Rule>>,
    /// `Some` when the policy isolates egress.
    pub egress: Option<Vec<Rule>>,
}

impl Policy {
    pub fn compile(p: &NetworkPolicyObject) -> Policy {
        let spec = p.policy.spec.clone().unwrap_or_default();
        let egress_rules = spec.egress.unwrap_or_default();
        let (ingress_type, egress_type) = match nonempty(&spec.policy_types) {
            Some(types) => (
                types.iter().any(|t| t == "Ingress"),
                types.iter().any(|t| t == "Egress"),
            ),
            None => (true, !egress_rules.is_empty()),
        };
        Policy {
            id: Arc::from(format!("{}/{}", p.namespace, p.name)),
            namespace: p.namespace.clone(),
            selector: spec
                .pod_selector
                .as_ref()
                .map(Selector::compile)
                .unwrap_or_default(),
            ingress: ingress_type.then(|| {
                spec.ingress
                    .iter()
                    .flatten()
                    .map(|r| Rule::compile(&r.from, &r.ports))
                    .collect()
            }),
            egress: egress_type.then(|| {
                egress_rules
                    .iter()
                    .map(|r| Rule::compile(&r.to, &r.ports))
                    .collect()
            }),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Endpoints and verdicts

/// A named container port of a pod (`name` empty when unnamed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedPort {
    pub name: String,
    pub port: i32,
    pub protocol: String,
}

/// A pod (of a workload) as the policies see it.
#[derive(Debug, Clone, Copy)]
pub struct Pod<'a> {
    pub namespace: &'a str,
    pub labels: &'a Labels,
    pub namespace_labels: &'a Labels,
    pub ports: &'a [NamedPort],
}

/// One end of a connection.
#[derive(Debug, Clone, Copy)]
pub enum Endpoint<'a> {
    /// Traffic from outside the cluster.
    External,
    Pod(Pod<'a>),
}

/// Which side of a connection a policy decided on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    Ingress,
    Egress,
}

/// The NetworkPolicy verdict on one connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub allowed: bool,
    /// Allowed: the first policy (by namespace/name) that allowed it, ingress
    /// side first; denied: on the side that denied it, the first policy with
    /// no rules for that side (a default deny), else the first that selects
    /// the pod. `None` when no policy selects either end.
    pub policy: Option<Arc<str>>,
    pub side: Option<Side>,
}

impl Verdict {
    pub const OPEN: Verdict = Verdict {
        allowed: true,
        policy: None,
        side: None,
    };
}

/// All NetworkPolicies of a cluster, by namespace, sorted by name.
#[derive(Debug, Clone, Default)]
pub struct PolicySet {
    by_ns: HashMap<String, Vec<Arc<Policy>>>,
}

impl PolicySet {
    pub fn new(policies: &[NetworkPolicyObject]) -> PolicySet {
        let mut set = PolicySet::default();
        for p in policies {
            set.insert(Policy::compile(p));
        }
        set
    }

    /// Adds a policy, replacing one of the same namespace and name.
    pub fn insert(&mut self, p: Policy) {
        let list = self.by_ns.entry(p.namespace.clone()).or_default();
        list.retain(|q| q.id != p.id);
        let at = list.partition_point(|q| q.id < p.id);
        list.insert(at, Arc::new(p));
    }

    /// Removes `namespace/name`; whether it was there.
    pub fn remove(&mut self, id: &str) -> bool {
        let Some((ns, _)) = id.split_once('/') else {
            return false;
        };
        let Some(list) = self.by_ns.get_mut(ns) else {
            return false;
        };
        let before = list.len();
        list.retain(|q| &*q.id != id);
        before != list.len()
    }

    pub fn contains(&self, id: &str) -> bool {
        id.split_once('/')
            .and_then(|(ns, _)| self.by_ns.get(ns))
            .is_some_and(|l| l.iter().any(|q| &*q.id == id))
    }

    pub fn in_namespace(&self, ns: &str) -> &[Arc<Policy>] {
        self.by_ns.get(ns).map_or(&[], Vec::as_slice)
    }

    pub fn all(&self) -> impl Iterator<Item = &Arc<Policy>> {
        let mut namespaces: Vec<&String> = self.by_ns.keys().collect();
        namespaces.sort();
        namespaces.into_iter().flat_map(|ns| self.by_ns[ns].iter())
    }

    /// The verdict on a connection from `src` to `dst` on the port `dst`
    /// receives on.
    pub fn verdict(
        &self,
        src: Endpoint<'_>,
        dst: Endpoint<'_>,
        port: i32,
        protocol: &str,
    ) -> Verdict {
        let dst_ports: &[NamedPort] = match dst {
            Endpoint::Pod(p) => p.ports,
            Endpoint::External => &[],
        };
        let ingress = match dst {
            Endpoint::Pod(pod) => self.side(pod, src, Side::Ingress, port, protocol, dst_ports),
            Endpoint::External => None,
        };
        let egress = match src {
            Endpoint::Pod(pod) => self.side(pod, dst, Side::Egress, port, protocol, dst_ports),
            Endpoint::External => None,
        };
        match (ingress, egress) {
            (Some(d), _) if !d.allowed => d,
            (_, Some(d)) if !d.allowed => d,
            (Some(d), _) => d,
            (None, Some(d)) => d,
            (None, None) => Verdict::OPEN,
        }
    }

    /// The verdict of one side, or `None` when no policy isolates `pod` in that direction.
    fn side(
        &self,
        pod: Pod<'_>,
        peer: Endpoint<'_>,
        side: Side,
        port: i32,
        protocol: &str,
        dst_ports: &[NamedPort],
    ) -> Option<Verdict> {
        // Denied: named after a policy that allows nothing on this side (a
        // default deny) if there is one, else the first that selects the pod.
        let mut isolating: Option<&Arc<str>> = None;
        let mut deny_all: Option<&Arc<str>> = None;
        for p in self.in_namespace(pod.namespace) {
            let rules = match side {
                Side::Ingress => &p.ingress,
                Side::Egress => &p.egress,
            };
            let Some(rules) = rules else { continue };
            if !p.selector.matches(pod.labels) {
                continue;
            }
            isolating.get_or_insert(&p.id);
            if rules.is_empty() {
                deny_all.get_or_insert(&p.id);
            }
            if rules
                .iter()
                .any(|r| r.allows(&p.namespace, peer, port, protocol, dst_ports))
            {
                return Some(Verdict {
                    allowed: true,
                    policy: Some(p.id.clone()),
                    side: Some(side),
                });
            }
        }
        deny_all.or(isolating).map(|id| Verdict {
            allowed: false,
            policy: Some(id.clone()),
            side: Some(side),
        })
    }
}

impl Rule {
    /// Whether this rule (of a policy in `policy_ns`) lets `peer` through on `port`.
    pub fn allows(
        &self,
        policy_ns: &str,
        peer: Endpoint<'_>,
        port: i32,
        protocol: &str,
        dst_ports: &[NamedPort],
    ) -> bool {
        self.ports
            .as_ref()
            .is_none_or(|ports| ports.iter().any(|pr| pr.matches(port, protocol, dst_ports)))
            && self
                .peers
                .as_ref()
                .is_none_or(|peers| peers.iter().any(|x| x.matches(policy_ns, peer)))
    }
}

impl Peer {
    /// Whether `e` is this peer, for a policy in `policy_ns`.
    pub fn matches(&self, policy_ns: &str, e: Endpoint<'_>) -> bool {
        match (self, e) {
            (Peer::External, Endpoint::External) => true,
            (Peer::Pods { namespaces, pods }, Endpoint::Pod(pod)) => {
                let ns_ok = match namespaces {
                    Namespaces::Own => pod.namespace == policy_ns,
                    Namespaces::Matching(s) => s.matches(pod.namespace_labels),
                };
                ns_ok && pods.as_ref().is_none_or(|s| s.matches(pod.labels))
            }
            _ => false,
        }
    }
}

/// Whether a CIDR lies entirely inside private, loopback, link-local or
/// shared (CGNAT) ranges, where no internet client can be.
pub fn is_private_block(cidr: &str) -> bool {
    let Some((addr, prefix)) = parse_cidr(cidr) else {
        // Unparseable: the API server would have rejected it; treat it as not external.
        return true;
    };
    const V4: [(&str, u32); 6] = [
        ("10.0.0.0", 8),
        ("172.16.0.0", 12),
        ("192.168.0.0", 16),
        ("100.64.0.0", 10),
        ("127.0.0.0", 8),
        ("169.254.0.0", 16),
    ];
    const V6: [(&str, u32); 3] = [("fc00::", 7), ("fe80::", 10), ("::1", 128)];
    let inside = |net: &str, len: u32| -> bool {
        let Ok(net) = net.parse::<IpAddr>() else {
            return false;
        };
        match (addr, net) {
            (IpAddr::V4(a), IpAddr::V4(n)) => {
                prefix >= len && mask32(u32::from(a), len) == mask32(u32::from(n), len)
            }
            (IpAddr::V6(a), IpAddr::V6(n)) => {
                prefix >= len && mask128(u128::from(a), len) == mask128(u128::from(n), len)
            }
            _ => false,
        }
    };
    match addr {
        IpAddr::V4(_) => V4.iter().any(|(n, l)| inside(n, *l)),
        IpAddr::V6(_) => V6.iter().any(|(n, l)| inside(n, *l)),
    }
}

fn parse_cidr(cidr: &str) -> Option<(IpAddr, u32)> {
    let (addr, prefix) = cidr.trim().split_once('/')?;
    let addr: IpAddr = addr.parse().ok()?;
    let prefix: u32 = prefix.parse().ok()?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    (prefix <= max).then_some((addr, prefix))
}

fn mask32(a: u32, len: u32) -> u32 {
    if len == 0 {
        0
    } else {
        a & (u32::MAX << (32 - len))
    }
}

fn mask128(a: u128, len: u32) -> u128 {
    if len == 0 {
        0
    } else {
        a & (u128::MAX << (128 - len))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(ns: &str, name: &str, spec: &str) -> NetworkPolicyObject {
        let yaml = format!(
            "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: {name}, namespace: {ns}}}\nspec: {spec}\n"
        );
        let mut inv = crate::model::Inventory::default();
        crate::ingest::manifests::load_str("p.yaml", &yaml, &mut inv);
        assert!(inv.errors.is_empty(), "{:?}", inv.errors);
        inv.network_policies.remove(0)
    }

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    struct P {
        ns: &'static str,
        labels: Labels,
        ns_labels: Labels,
        ports: Vec<NamedPort>,
    }

    impl P {
        fn new(ns: &'static str, app: &str) -> P {
            P {
                ns,
                labels: labels(&[("app", app)]),
                ns_labels: labels(&[(NAMESPACE_NAME_LABEL, ns), ("team", "web")]),
                ports: vec![NamedPort {
                    name: "http".into(),
                    port: 8080,
                    protocol: "TCP".into(),
                }],
            }
        }
        fn ep(&self) -> Endpoint<'_> {
            Endpoint::Pod(Pod {
                namespace: self.ns,
                labels: &self.labels,
                namespace_labels: &self.ns_labels,
                ports: &self.ports,
            })
        }
    }

    /// (policies as (ns, name, spec), from, to, port, protocol, allowed, deciding policy)
    #[test]
    fn semantics() {
        let web = P::new("shop", "web");
        let db = P::new("shop", "db");
        let mon = P::new("monitoring", "prometheus");
        type Case<'a> = (
            &'a str,
            Vec<(&'a str, &'a str, &'a str)>,
            Endpoint<'a>,
            Endpoint<'a>,
            i32,
            bool,
            Option<&'a str>,
        );
        let cases: Vec<Case<'_>> = vec![
            (
                "no policy: open",
                vec![],
                web.ep(),
                db.ep(),
                8080,
                true,
                None,
            ),
            (
                "deny-all ingress isolates",
                vec![("shop", "deny", "{podSelector: {}}")],
                web.ep(),
                db.ep(),
                8080,
                false,
                Some("shop/deny"),
            ),
            (
                "additive: deny-all plus an allow",
                vec![
                    ("shop", "deny", "{podSelector: {}}"),
                    (
                        "shop",
                        "db-from-web",
                        "{podSelector: {matchLabels: {app: db}}, ingress: [{from: [{podSelector: {matchLabels: {app: web}}}]}]}",
                    ),
                ],
                web.ep(),
                db.ep(),
                8080,
                true,
                Some("shop/db-from-web"),
            ),
            (
                "podSelector alone is the policy's namespace only",
                vec![(
                    "shop",
                    "db-from-prom",
                    "{podSelector: {matchLabels: {app: db}}, ingress: [{from: [{podSelector: {matchLabels: {app: prometheus}}}]}]}",
                )],
                mon.ep(),
                db.ep(),
                8080,
                false,
                Some("shop/db-from-prom"),
            ),
            (
                "namespaceSelector by kubernetes.io/metadata.name with podSelector",
                vec![(
                    "shop",
                    "db-from-prom",
                    "{podSelector: {matchLabels: {app: db}}, ingress: [{from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: monitoring}}, podSelector: {matchLabels: {app: prometheus}}}]}]}",
                )],
                mon.ep(),
                db.ep(),
                8080,
                true,
                Some("shop/db-from-prom"),
            ),
            (
                "named port resolves on the destination",
                vec![(
                    "shop",
                    "http-only",
                    "{podSelector: {}, ingress: [{ports: [{port: http}]}]}",
                )],
                web.ep(),
                db.ep(),
                8080,
                true,
                Some("shop/http-only"),
            ),
            (
                "named port of another protocol does not match",
                vec![(
                    "shop",
                    "udp-http",
                    "{podSelector: {}, ingress: [{ports: [{port: http, protocol: UDP}]}]}",
                )],
                web.ep(),
                db.ep(),
                8080,
                false,
                Some("shop/udp-http"),
            ),
            (
                "endPort range",
                vec![(
                    "shop",
                    "range",
                    "{podSelector: {}, ingress: [{ports: [{port: 8000, endPort: 8999}]}]}",
                )],
                web.ep(),
                db.ep(),
                8080,
                true,
                Some("shop/range"),
            ),
            (
                "egress is checked on the source",
                vec![(
                    "shop",
                    "web-egress",
                    "{podSelector: {matchLabels: {app: web}}, policyTypes: [Egress], egress: [{to: [{podSelector: {matchLabels: {app: cache}}}]}]}",
                )],
                web.ep(),
                db.ep(),
                8080,
                false,
                Some("shop/web-egress"),
            ),
            (
                "egress rules alone imply the Egress type",
                vec![(
                    "shop",
                    "web-egress",
                    "{podSelector: {matchLabels: {app: web}}, egress: [{to: [{podSelector: {matchLabels: {app: db}}}], ports: [{port: 8080}]}]}",
                )],
                web.ep(),
                db.ep(),
                8080,
                true,
                Some("shop/web-egress"),
            ),
            (
                "policyTypes Egress only leaves ingress open",
                vec![(
                    "shop",
                    "egress-only",
                    "{podSelector: {matchLabels: {app: db}}, policyTypes: [Egress]}",
                )],
                web.ep(),
                db.ep(),
                8080,
                true,
                None,
            ),
            (
                "ipBlock 0.0.0.0/0 admits the outside",
                vec![(
                    "shop",
                    "world",
                    "{podSelector: {}, ingress: [{from: [{ipBlock: {cidr: 0.0.0.0/0, except: [10.0.0.0/8]}}]}]}",
                )],
                Endpoint::External,
                db.ep(),
                8080,
                true,
                Some("shop/world"),
            ),
            (
                "a private ipBlock is not the outside",
                vec![(
                    "shop",
                    "office",
                    "{podSelector: {}, ingress: [{from: [{ipBlock: {cidr: 10.20.0.0/16}}]}]}",
                )],
                Endpoint::External,
                db.ep(),
                8080,
                false,
                Some("shop/office"),
            ),
            (
                "ipBlock never matches a pod",
                vec![(
                    "shop",
                    "world",
                    "{podSelector: {}, ingress: [{from: [{ipBlock: {cidr: 0.0.0.0/0}}]}]}",
                )],
                web.ep(),
                db.ep(),
                8080,
                false,
                Some("shop/world"),
            ),
            (
                "denied: named after the default deny, not an unrelated allow",
                vec![
                    (
                        "shop",
                        "allow-metrics",
                        "{podSelector: {}, ingress: [{ports: [{port: 9090}]}]}",
                    ),
                    ("shop", "default-deny", "{podSelector: {}}"),
                ],
                web.ep(),
                db.ep(),
                8080,
                false,
                Some("shop/default-deny"),
            ),
            (
                "matchExpressions NotIn",
                vec![(
                    "shop",
                    "not-web",
                    "{podSelector: {}, ingress: [{from: [{podSelector: {matchExpressions: [{key: app, operator: NotIn, values: [web]}]}}]}]}",
                )],
                web.ep(),
                db.ep(),
                8080,
                false,
                Some("shop/not-web"),
            ),
        ];
        for (name, policies, from, to, port, allowed, by) in cases {
            let objs: Vec<_> = policies.iter().map(|(ns, n, s)| policy(ns, n, s)).collect();
            let set = PolicySet::new(&objs);
            let v = set.verdict(from, to, port, "TCP");
            assert_eq!(v.allowed, allowed, "{name}");
            assert_eq!(v.policy.as_deref(), by, "{name}");
        }
    }

    #[test]
    fn private_blocks() {
        assert!(is_private_block("10.0.0.0/8"));
        assert!(is_private_block("192.168.4.0/24"));
        assert!(is_private_block("fd00::/8"));
        assert!(!is_private_block("0.0.0.0/0"));
        assert!(!is_private_block("203.0.113.0/24"));
        assert!(!is_private_block("172.0.0.0/8"), "wider than 172.16/12");
        assert!(!is_private_block("::/0"));
    }

    #[test]
    fn insert_replaces_and_remove_removes() {
        let mut set = PolicySet::new(&[policy("shop", "a", "{podSelector: {}}")]);
        assert!(set.contains("shop/a"));
        set.insert(Policy::compile(&policy(
            "shop",
            "a",
            "{podSelector: {}, policyTypes: [Egress]}",
        )));
        assert_eq!(set.in_namespace("shop").len(), 1);
        assert!(set.in_namespace("shop")[0].ingress.is_none());
        assert!(set.remove("shop/a"));
        assert!(!set.remove("shop/a"));
    }
}
