//! Observed flows: connections seen on the wire, merged with the ones the
//! manifests imply.
//!
//! # Format
//!
//! JSON lines: one object per line; blank lines and lines starting with `#`
//! are skipped. Either Portcullis' own shape:
//!
//! ```json
//! {"source": "shop/Deployment/storefront", "destination": "shop/cart-7d9f8b-x2x4q", "port": 7070}
//! {"source": "external", "destination": {"namespace": "shop", "workload": "storefront"}, "port": 8080, "protocol": "TCP", "count": 120}
//! {"source": {"namespace": "shop", "labels": {"app": "shipping"}}, "destination": "shop/StatefulSet/orders-queue", "port": 5672, "verdict": "dropped"}
//! ```
//!
//! - `source`, `destination`: a workload id (`namespace/Kind/name`), a pod
//!   (`namespace/pod-name`), `external` (outside the cluster), or an object
//!   with `namespace` and one of `pod`, `workload` (with an optional `kind`)
//!   or `labels` (the pod's labels);
//! - `port`: the port the destination pod receives on (not the Service port);
//! - `protocol`: `TCP` (default), `UDP` or `SCTP`;
//! - `count`: how many flows the line stands for (default 1);
//! - `verdict`: `forwarded` (default) or `dropped` (an attempt the network refused).
//!
//! Or Cilium Hubble's flows, as `hubble observe -o json` (a flow per line) or
//! `-o jsonpb` (`{"flow": {…}}`) print them: the ends come from
//! `source`/`destination` (`workloads`, then `labels` such as `k8s:app=cart`,
//! then `pod_name`; the `reserved:world` label is [`EXTERNAL`]), the port from
//! `l4.TCP|UDP|SCTP.destination_port`, `verdict: DROPPED` counts as dropped,
//! and replies (`is_reply: true`) are skipped. Flows to outside the cluster,
//! and from or to nodes, are not connections between workloads: they are
//! reported as unresolved.
//!
//! A pod is matched to its workload by the pods folded under it when the
//! snapshot held pods, else by its labels (the workload whose pod template's
//! labels it carries, the most specific first), else by its name (the
//! longest workload name it starts with, followed by `-`).
//!
//! Pure: no IO.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;
use serde_json::Value;

use super::graph::{Cluster, EXTERNAL, Graph};
use super::netpol::Labels;

/// One end of a flow as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End {
    External,
    /// `namespace/Kind/name`.
    Workload(String),
    Pod {
        namespace: String,
        pod: String,
        labels: Labels,
    },
    Named {
        namespace: String,
        kind: Option<String>,
        name: String,
    },
    /// What could not be read as an end, in words.
    Unknown(String),
}

/// One line of the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// 1-based line in the input.
    pub line: usize,
    pub source: End,
    pub destination: End,
    pub port: i32,
    pub protocol: String,
    pub count: u64,
    pub dropped: bool,
}

/// A line that is not a flow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LineError {
    pub line: usize,
    pub message: String,
}

/// Reads the JSON lines of `text`. Hubble replies are skipped silently.
pub fn parse(text: &str) -> (Vec<Record>, Vec<LineError>) {
    let mut records = Vec::new();
    let mut errors = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let raw = raw.trim();
        if raw.is_empty() || raw.starts_with('#') {
            continue;
        }
        let value: Value = match serde_json::from_str(raw) {
            Ok(v) => v,
            Err(e) => {
                errors.push(LineError {
                    line,
                    message: format!("not JSON: {e}"),
                });
                continue;
            }
        };
        match record(line, &value) {
            Ok(Some(r)) => records.push(r),
            Ok(None) => {}
            Err(message) => errors.push(LineError { line, message }),
        }
    }
    (records, errors)
}

fn record(line: usize, v: &Value) -> Result<Option<Record>, String> {
    // Hubble: `{"flow": {...}}` or a bare flow (it has `l4` or `IP` or `Type`).
    let hubble = v.get("flow").filter(|f| f.is_object()).or_else(|| {
        (v.get("l4").is_some() || v.get("IP").is_some() || v.get("Type").is_some()).then_some(v)
    });
    if let Some(f) = hubble {
        return hubble_record(line, f);
    }
    let Value::Object(obj) = v else {
        return Err("a flow is a JSON object".into());
    };
    let end = |key: &str| -> Result<End, String> {
        match obj.get(key) {
            None | Some(Value::Null) => Err(format!("{key} is missing")),
            Some(Value::String(s)) => Ok(end_from_str(s)),
            Some(Value::Object(o)) => end_from_object(o).map_err(|e| format!("{key}: {e}")),
            Some(_) => Err(format!("{key} must be a string or an object")),
        }
    };
    let port = match obj.get("port").and_then(Value::as_i64) {
        Some(p) if (1..=65535).contains(&p) => p as i32,
        Some(p) => return Err(format!("port {p} is not between 1 and 65535")),
        None => return Err("port is missing (the port the destination pod receives on)".into()),
    };
    let protocol = match obj.get("protocol") {
        None | Some(Value::Null) => "TCP".to_owned(),
        Some(Value::String(p)) => protocol(p)?,
        Some(_) => return Err("protocol must be TCP, UDP or SCTP".into()),
    };
    let count = match obj.get("count") {
        None | Some(Value::Null) => 1,
        Some(c) => c
            .as_u64()
            .filter(|&c| c > 0)
            .ok_or("count must be a positive whole number")?,
    };
    let dropped = match obj.get("verdict").and_then(Value::as_str) {
        None => false,
        Some(v) if v.eq_ignore_ascii_case("forwarded") => false,
        Some(v) if v.eq_ignore_ascii_case("dropped") => true,
        Some(v) => return Err(format!("verdict must be forwarded or dropped, not {v:?}")),
    };
    Ok(Some(Record {
        line,
        source: end("source")?,
        destination: end("destination")?,
        port,
        protocol,
        count,
        dropped,
    }))
}

fn protocol(p: &str) -> Result<String, String> {
    let up = p.to_ascii_uppercase();
    match up.as_str() {
        "TCP" | "UDP" | "SCTP" => Ok(up),
        _ => Err(format!("protocol must be TCP, UDP or SCTP, not {p:?}")),
    }
}

fn end_from_str(s: &str) -> End {
    if s == EXTERNAL {
        return End::External;
    }
    let parts: Vec<&str> = s.split('/').collect();
    match parts.as_slice() {
        [ns, kind, name] if !ns.is_empty() && !kind.is_empty() && !name.is_empty() => {
            End::Workload(s.to_owned())
        }
        [ns, pod] if !ns.is_empty() && !pod.is_empty() => End::Pod {
            namespace: (*ns).to_owned(),
            pod: (*pod).to_owned(),
            labels: Labels::new(),
        },
        _ => End::Unknown(format!(
            "{s:?} is neither namespace/Kind/name, namespace/pod nor external"
        )),
    }
}

fn end_from_object(o: &serde_json::Map<String, Value>) -> Result<End, String> {
    let text = |k: &str| o.get(k).and_then(Value::as_str).map(str::to_owned);
    let namespace = text("namespace").ok_or("namespace is missing")?;
    let labels: Labels = match o.get("labels") {
        Some(Value::Object(m)) => m
            .iter()
            .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_owned())))
            .collect(),
        _ => Labels::new(),
    };
    if let Some(name) = text("workload") {
        return Ok(End::Named {
            namespace,
            kind: text("kind"),
            name,
        });
    }
    if let Some(pod) = text("pod") {
        return Ok(End::Pod {
            namespace,
            pod,
            labels,
        });
    }
    if !labels.is_empty() {
        return Ok(End::Pod {
            namespace,
            pod: String::new(),
            labels,
        });
    }
    Err("give pod, workload or labels".into())
}

fn hubble_record(line: usize, f: &Value) -> Result<Option<Record>, String> {
    if f.get("is_reply").and_then(Value::as_bool) == Some(true) {
        return Ok(None);
    }
    let l4 = f
        .get("l4")
        .and_then(Value::as_object)
        .ok_or("a Hubble flow without l4")?;
    let Some((proto, ports)) = l4.iter().next() else {
        return Err("a Hubble flow without a protocol in l4".into());
    };
    let protocol = match proto.as_str() {
        "TCP" | "UDP" | "SCTP" => proto.clone(),
        other => return Err(format!("Hubble {other} flows have no port; skipped")),
    };
    let port = ports
        .get("destination_port")
        .and_then(Value::as_i64)
        .filter(|p| (1..=65535).contains(p))
        .ok_or("l4 has no destination_port")? as i32;
    let dropped = f.get("verdict").and_then(Value::as_str) == Some("DROPPED");
    Ok(Some(Record {
        line,
        source: hubble_end(f.get("source")),
        destination: hubble_end(f.get("destination")),
        port,
        protocol,
        count: 1,
        dropped,
    }))
}

fn hubble_end(e: Option<&Value>) -> End {
    let Some(e) = e else {
        return End::Unknown("no endpoint".into());
    };
    let labels: Vec<&str> = e
        .get("labels")
        .and_then(Value::as_array)
        .map(|l| l.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if labels.contains(&"reserved:world") {
        return End::External;
    }
    let namespace = e.get("namespace").and_then(Value::as_str).unwrap_or("");
    if namespace.is_empty() {
        let what = labels
            .iter()
            .find(|l| l.starts_with("reserved:"))
            .map_or("an endpoint outside any namespace".to_owned(), |l| {
                (*l).to_owned()
            });
        return End::Unknown(what);
    }
    if let Some(w) = e
        .get("workloads")
        .and_then(Value::as_array)
        .and_then(|w| w.first())
        && let Some(name) = w.get("name").and_then(Value::as_str)
    {
        return End::Named {
            namespace: namespace.to_owned(),
            kind: w.get("kind").and_then(Value::as_str).map(str::to_owned),
            name: name.to_owned(),
        };
    }
    let pod_labels: Labels = labels
        .iter()
        .filter_map(|l| l.strip_prefix("k8s:"))
        .filter_map(|l| l.split_once('='))
        .filter(|(k, _)| !k.starts_with("io.kubernetes.") && !k.starts_with("io.cilium."))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    End::Pod {
        namespace: namespace.to_owned(),
        pod: e
            .get("pod_name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned(),
        labels: pod_labels,
    }
}

// ---------------------------------------------------------------------------------------------
// Resolution

/// Flows between two nodes of the graph on one port, added up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Observed {
    pub from: String,
    pub to: String,
    pub port: i32,
    pub protocol: String,
    pub count: u64,
    /// How many of them the network dropped.
    pub dropped: u64,
}

/// A line whose ends are not workloads of the snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unresolved {
    pub line: usize,
    pub reason: String,
}

/// Resolves the ends of `records` to nodes of `cluster`, adding up flows of
/// the same connection.
pub fn resolve(cluster: &Cluster, records: &[Record]) -> (Vec<Observed>, Vec<Unresolved>) {
    let folded: HashMap<(&str, &str), usize> = cluster
        .inventory
        .workloads
        .iter()
        .enumerate()
        .flat_map(|(i, w)| {
            w.folded
                .iter()
                .filter_map(|f| f.strip_prefix("Pod/"))
                .map(move |pod| ((w.key.namespace.as_str(), pod), i))
        })
        .collect();
    let mut sum: BTreeMap<(String, String, i32, String), (u64, u64)> = BTreeMap::new();
    let mut unresolved = Vec::new();
    for r in records {
        let from = end_id(cluster, &folded, &r.source);
        let to = end_id(cluster, &folded, &r.destination);
        let (from, to) = match (from, to) {
            (Ok(f), Ok(t)) => (f, t),
            (Err(e), _) => {
                unresolved.push(Unresolved {
                    line: r.line,
                    reason: format!("source: {e}"),
                });
                continue;
            }
            (_, Err(e)) => {
                unresolved.push(Unresolved {
                    line: r.line,
                    reason: format!("destination: {e}"),
                });
                continue;
            }
        };
        if to == EXTERNAL {
            unresolved.push(Unresolved {
                line: r.line,
                reason: "destination: outside the cluster (the graph has connections between workloads and from outside)".into(),
            });
            continue;
        }
        let slot = sum
            .entry((from, to, r.port, r.protocol.clone()))
            .or_default();
        slot.0 += r.count;
        if r.dropped {
            slot.1 += r.count;
        }
    }
    let observed = sum
        .into_iter()
        .map(|((from, to, port, protocol), (count, dropped))| Observed {
            from,
            to,
            port,
            protocol,
            count,
            dropped,
        })
        .collect();
    (observed, unresolved)
}

fn end_id(
    cluster: &Cluster,
    folded: &HashMap<(&str, &str), usize>,
    end: &End,
) -> Result<String, String> {
    let id = |i: usize| cluster.inventory.workloads[i].key.to_string();
    match end {
        End::External => Ok(EXTERNAL.to_owned()),
        End::Unknown(why) => Err(why.clone()),
        End::Workload(s) => cluster
            .by_id
            .contains_key(s)
            .then(|| s.clone())
            .ok_or_else(|| format!("no workload {s} in the snapshot")),
        End::Named {
            namespace,
            kind,
            name,
        } => {
            let found = cluster.in_namespace(namespace).iter().copied().find(|&i| {
                let k = &cluster.inventory.workloads[i].key;
                k.name == *name && kind.as_ref().is_none_or(|kind| k.kind == *kind)
            });
            found
                .map(id)
                .ok_or_else(|| format!("no workload {name} in namespace {namespace}"))
        }
        End::Pod {
            namespace,
            pod,
            labels,
        } => {
            if let Some(&i) = folded.get(&(namespace.as_str(), pod.as_str())) {
                return Ok(id(i));
            }
            let candidates = cluster.in_namespace(namespace);
            if !labels.is_empty() {
                let best = candidates
                    .iter()
                    .copied()
                    .filter(|&i| {
                        let l = &cluster.pods[i].labels;
                        !l.is_empty() && l.iter().all(|(k, v)| labels.get(k) == Some(v))
                    })
                    .max_by_key(|&i| (cluster.pods[i].labels.len(), std::cmp::Reverse(i)));
                if let Some(i) = best {
                    return Ok(id(i));
                }
            }
            if !pod.is_empty() {
                let best = candidates
                    .iter()
                    .copied()
                    .filter(|&i| {
                        let name = &cluster.inventory.workloads[i].key.name;
                        pod.len() > name.len() + 1
                            && pod.starts_with(name.as_str())
                            && pod.as_bytes()[name.len()] == b'-'
                    })
                    .max_by_key(|&i| cluster.inventory.workloads[i].key.name.len());
                if let Some(i) = best {
                    return Ok(id(i));
                }
                if let Some(&i) = cluster.by_id.get(&format!("{namespace}/Pod/{pod}")) {
                    return Ok(id(i));
                }
            }
            Err(format!(
                "no workload of namespace {namespace} matches pod {}",
                if pod.is_empty() {
                    "with those labels"
                } else {
                    pod
                }
            ))
        }
    }
}

/// How merging observed flows changed the graph.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Merged {
    /// Connections only the flows show.
    pub added: usize,
    /// Connections the manifests implied and the flows confirm.
    pub confirmed: usize,
}

impl Graph {
    /// Adds observed flows as connections (or as evidence on the ones
    /// already there): `observed 12 flows`, `observed 12 flows (3 dropped)`.
    /// Call [`Graph::decide`] afterwards for the verdicts of new edges.
    pub fn add_observed(&mut self, cluster: &Cluster, observed: &[Observed]) -> Merged {
        let mut m = Merged::default();
        for o in observed {
            let from = if o.from == EXTERNAL {
                Some(self.external_node())
            } else {
                self.node(cluster, &o.from)
            };
            let (Some(from), Some(to)) = (from, self.node(cluster, &o.to)) else {
                continue;
            };
            let before = self.graph.edge_count();
            let words = if o.count == 1 { "flow" } else { "flows" };
            let evidence = if o.dropped > 0 {
                format!("observed {} {words} ({} dropped)", o.count, o.dropped)
            } else {
                format!("observed {} {words}", o.count)
            };
            self.connect(from, to, o.port, &o.protocol, evidence);
            if self.graph.edge_count() > before {
                m.added += 1;
            } else {
                m.confirmed += 1;
            }
        }
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Inventory;

    fn cluster() -> Cluster {
        let yaml = "
apiVersion: apps/v1
kind: Deployment
metadata: {name: cart, namespace: shop}
spec:
  selector: {matchLabels: {app: cart}}
  template:
    metadata: {labels: {app: cart}}
    spec: {containers: [{name: c, image: i, ports: [{containerPort: 7070}]}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: cart-redis, namespace: shop}
spec:
  selector: {matchLabels: {app: cart-redis}}
  template:
    metadata: {labels: {app: cart-redis, tier: db}}
    spec: {containers: [{name: c, image: i}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: c, image: i}]}
";
        let mut inv = Inventory::default();
        crate::ingest::manifests::load_str("t.yaml", yaml, &mut inv);
        crate::ingest::manifests::finish(&mut inv);
        assert!(inv.errors.is_empty(), "{:?}", inv.errors);
        Cluster::new(inv)
    }

    const INPUT: &str = r#"# our own format
{"source": "shop/Deployment/web", "destination": "shop/cart-7d9f8b-x2x4q", "port": 7070, "count": 10}
{"source": {"namespace": "shop", "workload": "web"}, "destination": {"namespace": "shop", "labels": {"app": "cart"}}, "port": 7070, "verdict": "dropped", "count": 2}
{"source": "external", "destination": "shop/Deployment/web", "port": 8080, "protocol": "tcp"}

{"flow":{"verdict":"FORWARDED","l4":{"TCP":{"source_port":40000,"destination_port":6379}},"source":{"namespace":"shop","labels":["k8s:app=cart","k8s:io.kubernetes.pod.namespace=shop"],"pod_name":"cart-7d9f8b-x2x4q"},"destination":{"namespace":"shop","labels":["k8s:app=cart-redis","k8s:tier=db"],"pod_name":"cart-redis-0"},"Type":"L3_L4","traffic_direction":"EGRESS","is_reply":false}}
{"verdict":"FORWARDED","l4":{"TCP":{"source_port":6379,"destination_port":40000}},"source":{"namespace":"shop","pod_name":"cart-redis-0"},"destination":{"namespace":"shop","pod_name":"cart-7d9f8b-x2x4q"},"Type":"L3_L4","is_reply":true}
{"time":"t","verdict":"DROPPED","IP":{"source":"1.2.3.4","destination":"10.0.0.9"},"l4":{"TCP":{"destination_port":8080}},"source":{"identity":2,"labels":["reserved:world"]},"destination":{"namespace":"shop","pod_name":"web-5d8f-abcde","workloads":[{"name":"web","kind":"Deployment"}]},"Type":"L3_L4"}
{"flow":{"verdict":"FORWARDED","l4":{"UDP":{"destination_port":53}},"source":{"namespace":"shop","pod_name":"web-5d8f-abcde"},"destination":{"identity":1,"labels":["reserved:host"]},"Type":"L3_L4"}}
{"source": "shop/Deployment/nope", "destination": "shop/Deployment/web", "port": 1}
not json
{"source": "shop/Deployment/web", "destination": "shop/Deployment/cart"}
"#;

    #[test]
    fn both_formats_resolve_and_add_up() {
        let (records, errors) = parse(INPUT);
        assert_eq!(
            errors.iter().map(|e| e.line).collect::<Vec<_>>(),
            [11, 12],
            "{errors:?}"
        );
        assert!(errors[1].message.contains("port is missing"));
        assert_eq!(records.len(), 7, "the reply is skipped");
        let (observed, unresolved) = resolve(&cluster(), &records);
        let short: Vec<(&str, &str, i32, u64, u64)> = observed
            .iter()
            .map(|o| (o.from.as_str(), o.to.as_str(), o.port, o.count, o.dropped))
            .collect();
        assert_eq!(
            short,
            [
                ("external", "shop/Deployment/web", 8080, 2, 1),
                (
                    "shop/Deployment/cart",
                    "shop/Deployment/cart-redis",
                    6379,
                    1,
                    0
                ),
                ("shop/Deployment/web", "shop/Deployment/cart", 7070, 12, 2),
            ]
        );
        let reasons: Vec<(usize, &str)> = unresolved
            .iter()
            .map(|u| (u.line, u.reason.as_str()))
            .collect();
        assert_eq!(reasons.len(), 2, "{reasons:?}");
        assert_eq!(reasons[0], (9, "destination: reserved:host"));
        assert!(reasons[1].1.contains("no workload shop/Deployment/nope"));
    }

    #[test]
    fn merged_into_the_graph_as_evidence() {
        let c = cluster();
        let mut g = Graph::build(&c, &crate::advisor::PolicySet::default());
        let (records, _) = parse(INPUT);
        let (observed, _) = resolve(&c, &records);
        let m = g.add_observed(&c, &observed);
        assert_eq!(
            m,
            Merged {
                added: 3,
                confirmed: 0
            }
        );
        let j = g.to_json(&c);
        let e = j
            .edges
            .iter()
            .find(|e| e.to == "shop/Deployment/cart")
            .expect("edge");
        assert_eq!(e.evidence, ["observed 12 flows (2 dropped)"]);
        assert!(j.nodes.iter().any(|n| n.id == EXTERNAL));
    }
}
