//! What-if: the impact of proposed changes, before anything is applied.
//!
//! Changes: assign a profile to a namespace or a workload in a mode
//! (`enforce`, `warn`, `audit`), apply a NetworkPolicy, remove one. They are
//! applied together on top of the current state, which is what the snapshot
//! says: each namespace's `pod-security.kubernetes.io/*` labels, and the
//! NetworkPolicies it holds. A namespace assignment replaces that mode's
//! profile for every workload of the namespace; a workload assignment replaces
//! it for that workload and wins over a namespace assignment.
//!
//! The answer:
//! - `blocked`: workloads whose enforce profile the change sets and that
//!   profile rejects, with the violations per container (the policy core's
//!   messages);
//! - `warnings`: the same for warn and audit, which admit the pod but warn or
//!   record an audit annotation;
//! - `brokenConnections`: connections that work now and would not afterwards,
//!   because an end would be rejected or a NetworkPolicy would deny them;
//! - `downstream`: workloads that lose a dependency, directly or through
//!   others, with the path (`via`: the workloads after it, ending at the lost
//!   dependency), shortest first;
//! - `before` / `after`: the same counts for the current and proposed states.
//!
//! A connection works when the NetworkPolicies allow it and neither end is
//! rejected at admission.

use std::collections::{HashMap, HashSet, VecDeque};

use petgraph::Direction;
use petgraph::graph::NodeIndex;
use petgraph::visit::EdgeRef;
use serde::Serialize;

use super::Advisor;
use super::graph::{self, Cluster, Graph};
use super::netpol::{Policy, PolicySet, Side};
use super::profile::{self, Profile, Violation};
use crate::model::NetworkPolicyObject;
use crate::policy::assignments::{self, Rules, Source};

pub use crate::policy::assignments::Mode;

/// What an assignment applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// The cluster default: every workload without a workload or namespace
    /// assignment in that mode.
    Cluster,
    Namespace(String),
    /// A workload, by index into the cluster's workloads.
    Workload(usize),
}

/// One proposed change.
#[derive(Debug, Clone)]
pub enum Change {
    Assign {
        target: Target,
        profile: Profile,
        mode: Mode,
    },
    /// Add a NetworkPolicy, or replace the one of the same namespace and name.
    ApplyPolicy(Box<NetworkPolicyObject>),
    /// Remove `namespace/name`.
    RemovePolicy(String),
    /// Judge every workload whose profile in force (any mode) is named
    /// `from` by `profile` instead: one control of it tightened or loosened.
    Adjust { from: String, profile: Profile },
    /// Remove the assignment of a target in a mode: what applies without it
    /// (the next assignment in precedence, else the namespace's labels).
    Unassign { target: Target, mode: Mode },
}

/// The profile in force in each mode (indexed by [`Mode`]).
pub type Modes = [Option<Profile>; 3];

/// Counts of one state, for the before/after comparison.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Counts {
    pub workloads: usize,
    /// Admitted by their enforce profile (or with none).
    pub admitted: usize,
    pub rejected: usize,
    /// Failing their warn profile: admitted with a warning.
    pub warned: usize,
    /// Failing their audit profile: admitted, recorded in the audit log.
    pub audited: usize,
    pub connections: usize,
    /// Connections that work.
    pub open: usize,
    /// Connections that do not: denied by a NetworkPolicy, or an end rejected.
    pub broken: usize,
    /// Connections a NetworkPolicy denies.
    pub denied: usize,
}

/// The current state: the profiles in force (assignments, the cluster
/// default, the namespaces' labels) and their verdicts, exemptions applied.
#[derive(Debug, Clone)]
pub struct Current {
    /// Per workload.
    pub modes: Vec<Modes>,
    /// Where each mode's profile comes from, per workload.
    pub sources: Vec<[Option<Source>; 3]>,
    pub rejected: Vec<bool>,
    pub warned: Vec<bool>,
    pub audited: Vec<bool>,
    pub counts: Counts,
}

impl Current {
    pub fn new(
        cluster: &Cluster,
        graph: &Graph,
        rules: &Rules,
        cluster_name: &str,
        now_ms: i64,
    ) -> Current {
        let n = cluster.inventory.workloads.len();
        let mut cur = Current {
            modes: Vec::with_capacity(n),
            sources: Vec::with_capacity(n),
            rejected: vec![false; n],
            warned: vec![false; n],
            audited: vec![false; n],
            counts: Counts::default(),
        };
        for (i, w) in cluster.inventory.workloads.iter().enumerate() {
            let labels = cluster.namespace_labels.get(w.key.namespace.as_str());
            let applied = rules.effective(cluster_name, &w.key, labels);
            let id = w.key.to_string();
            let exempt = rules.exemptions_for(cluster_name, &id, now_ms);
            for a in applied.iter().flatten() {
                let fails = if exempt.is_empty() {
                    !profile::allows(&a.profile, &w.template)
                } else {
                    !assignments::judge(&a.profile, &w.template, &exempt).allowed
                };
                match a.mode {
                    Mode::Enforce => cur.rejected[i] = fails,
                    Mode::Warn => cur.warned[i] = fails,
                    Mode::Audit => cur.audited[i] = fails,
                }
            }
            cur.sources
                .push(applied.clone().map(|a| a.map(|a| a.source)));
            cur.modes
                .push(applied.map(|a| a.map(|a| Profile::clone(&a.profile))));
        }
        cur.counts = counts(graph, &cur.rejected, &cur.warned, &cur.audited, |e| {
            graph.graph[e].verdict.allowed
        });
        cur
    }
}

fn counts(
    graph: &Graph,
    rejected: &[bool],
    warned: &[bool],
    audited: &[bool],
    allowed: impl Fn(petgraph::graph::EdgeIndex) -> bool,
) -> Counts {
    let g = &graph.graph;
    let rej = |n: NodeIndex| g[n].workload.is_some_and(|i| rejected[i]);
    let mut c = Counts {
        workloads: rejected.len(),
        rejected: rejected.iter().filter(|&&r| r).count(),
        warned: warned.iter().filter(|&&r| r).count(),
        audited: audited.iter().filter(|&&r| r).count(),
        connections: g.edge_count(),
        ..Counts::default()
    };
    c.admitted = c.workloads - c.rejected;
    for e in g.edge_references() {
        let ok = allowed(e.id());
        if !ok {
            c.denied += 1;
        }
        if ok && !rej(e.source()) && !rej(e.target()) {
            c.open += 1;
        }
    }
    c.broken = c.connections - c.open;
    c
}

// ---------------------------------------------------------------------------------------------
// The answer

/// The violations of one container (or of the pod, `name` empty).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContainerViolations {
    pub name: String,
    /// `reason (detail)` of each failing check naming the container.
    pub violations: Vec<String>,
}

/// A workload a profile would reject (enforce) or warn about (warn, audit).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub workload: String,
    pub profile: String,
    pub mode: Mode,
    /// pod-security-admission's text: `violates PodSecurity "…": …` for
    /// enforce, `would violate PodSecurity "…": …` for warn and audit.
    pub message: String,
    pub violations: Vec<Violation>,
    /// The same, per container (`name` empty: the pod itself).
    pub containers: Vec<ContainerViolations>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Broken {
    pub from: String,
    pub to: String,
    pub port: i32,
    pub protocol: String,
    pub cause: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Downstream {
    pub workload: String,
    /// From the workload's first hop to the lost dependency.
    pub via: Vec<String>,
}

/// `POST /api/v1/what-if`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Impact {
    pub blocked: Vec<Finding>,
    pub warnings: Vec<Finding>,
    pub broken_connections: Vec<Broken>,
    pub downstream: Vec<Downstream>,
    pub before: Counts,
    pub after: Counts,
}

impl Impact {
    /// Whether the change would reject, warn, break or cost anything.
    pub fn is_harmless(&self) -> bool {
        self.blocked.is_empty()
            && self.warnings.is_empty()
            && self.broken_connections.is_empty()
            && self.downstream.is_empty()
    }
}

fn per_container(
    template: &crate::model::PodTemplate,
    violations: &[Violation],
) -> Vec<ContainerViolations> {
    let spec = &template.spec;
    let names = spec
        .init_containers
        .iter()
        .flatten()
        .chain(&spec.containers)
        .map(|c| c.name.as_str())
        .chain(
            spec.ephemeral_containers
                .iter()
                .flatten()
                .map(|c| c.name.as_str()),
        );
    let mut out = Vec::new();
    let pod: Vec<String> = violations
        .iter()
        .filter(|v| v.containers.is_empty())
        .map(text)
        .collect();
    if !pod.is_empty() {
        out.push(ContainerViolations {
            name: String::new(),
            violations: pod,
        });
    }
    for name in names {
        let mine: Vec<String> = violations
            .iter()
            .filter(|v| v.containers.iter().any(|c| c == name))
            .map(text)
            .collect();
        if !mine.is_empty() {
            out.push(ContainerViolations {
                name: name.to_owned(),
                violations: mine,
            });
        }
    }
    out
}

fn text(v: &Violation) -> String {
    if v.detail.is_empty() {
        v.reason.to_owned()
    } else {
        format!("{} ({})", v.reason, v.detail)
    }
}

// ---------------------------------------------------------------------------------------------
// The computation

/// The impact of `changes` (applied together) on the advisor's snapshot.
pub fn what_if(a: &Advisor, changes: &[Change]) -> Impact {
    what_if_in(a, changes, None)
}

/// [`what_if`] as a user who sees only the namespaces `sees` accepts gets it
/// (`None`: everything): only their workloads are listed, the far end of a
/// connection into another namespace is [`graph::ANOTHER_NAMESPACE`], and
/// the counts, before and after, are of their workloads and of the
/// connections with an end among them, so they agree with the lists.
pub fn what_if_in(a: &Advisor, changes: &[Change], sees: Option<&dyn Fn(&str) -> bool>) -> Impact {
    let cluster = &a.cluster;
    let cur = &a.current;
    let g = &a.graph.graph;

    // 1. Profiles: who gets what, in which mode.
    let mut by_cluster: [Option<&Profile>; 3] = [None, None, None];
    let mut by_ns: HashMap<&str, [Option<&Profile>; 3]> = HashMap::new();
    let mut by_workload: HashMap<usize, [Option<&Profile>; 3]> = HashMap::new();
    for c in changes {
        if let Change::Assign {
            target,
            profile,
            mode,
        } = c
        {
            let slot = match target {
                Target::Cluster => &mut by_cluster,
                Target::Namespace(ns) => by_ns.entry(ns.as_str()).or_default(),
                Target::Workload(i) => by_workload.entry(*i).or_default(),
            };
            slot[mode.index()] = Some(profile);
        }
    }
    let adjusted: HashMap<&str, &Profile> = changes
        .iter()
        .filter_map(|c| match c {
            Change::Adjust { from, profile } => Some((from.as_str(), profile)),
            _ => None,
        })
        .collect();
    let adjust_of = |w: usize, i: usize| -> Option<&Profile> {
        let now = cur.modes.get(w)?[i].as_ref()?;
        adjusted.get(now.name.as_str()).copied()
    };
    let touched: Vec<usize> = if adjusted.is_empty() {
        Vec::new()
    } else {
        (0..cluster.inventory.workloads.len())
            .filter(|&w| (0..3).any(|i| adjust_of(w, i).is_some()))
            .collect()
    };
    // Removals: the rules without those assignments say what applies instead.
    let mut without: Option<Rules> = None;
    let mut removed_from: Vec<usize> = Vec::new();
    for c in changes {
        if let Change::Unassign { target, mode } = c {
            let (t, scope): (assignments::AssignTarget, Vec<usize>) = match target {
                Target::Cluster => (
                    assignments::AssignTarget::Cluster,
                    (0..cluster.inventory.workloads.len()).collect(),
                ),
                Target::Namespace(ns) => (
                    assignments::AssignTarget::Namespace(ns.clone()),
                    cluster.in_namespace(ns).to_vec(),
                ),
                Target::Workload(w) => (
                    assignments::AssignTarget::Workload(
                        cluster.inventory.workloads[*w].key.clone(),
                    ),
                    vec![*w],
                ),
            };
            let r = without.take().unwrap_or_else(|| Rules::clone(&a.rules));
            without = Some(r.without(&a.cluster_name, &t, *mode));
            removed_from.extend(scope);
        }
    }
    // Per workload: the profile in force in each mode once the removals are made.
    let fallback: HashMap<usize, [Option<Profile>; 3]> = match &without {
        None => HashMap::new(),
        Some(r) => removed_from
            .iter()
            .map(|&w| {
                let key = &cluster.inventory.workloads[w].key;
                let labels = cluster.namespace_labels.get(key.namespace.as_str());
                let applied = r.effective(&a.cluster_name, key, labels);
                (w, applied.map(|a| a.map(|a| Profile::clone(&a.profile))))
            })
            .collect(),
    };
    let every: Vec<usize> = if by_cluster.iter().any(Option::is_some) {
        (0..cluster.inventory.workloads.len()).collect()
    } else {
        Vec::new()
    };
    let mut affected: Vec<usize> = by_ns
        .keys()
        .flat_map(|ns| cluster.in_namespace(ns).iter().copied())
        .chain(by_workload.keys().copied())
        .chain(every)
        .chain(touched)
        .chain(fallback.keys().copied())
        .collect();
    affected.sort_unstable();
    affected.dedup();

    let mut rejected = cur.rejected.clone();
    let mut warned = cur.warned.clone();
    let mut audited = cur.audited.clone();
    let mut rejected_by: HashMap<usize, &Profile> = HashMap::new();
    let mut blocked = Vec::new();
    let mut warnings = Vec::new();
    for &w in &affected {
        let workload = &cluster.inventory.workloads[w];
        let ns_set = by_ns.get(workload.key.namespace.as_str());
        let own = by_workload.get(&w);
        for mode in Mode::ALL {
            let i = mode.index();
            // The same precedence as the rules in force: a workload's own
            // assignment beats its namespace's, which beats the cluster default.
            let source = cur.sources.get(w).and_then(|s| s[i]);
            let ns_p = ns_set
                .and_then(|s| s[i])
                .filter(|_| source != Some(Source::Workload));
            let cluster_p = by_cluster[i]
                .filter(|_| !matches!(source, Some(Source::Workload | Source::Namespace)));
            let explicit = own
                .and_then(|s| s[i])
                .or(ns_p)
                .or(cluster_p)
                .or_else(|| adjust_of(w, i));
            let p = match (explicit, fallback.get(&w)) {
                (Some(p), _) => p,
                (None, Some(f)) => match &f[i] {
                    Some(p) => p,
                    // Nothing applies in this mode any more.
                    None => {
                        match mode {
                            Mode::Enforce => rejected[w] = false,
                            Mode::Warn => warned[w] = false,
                            Mode::Audit => audited[w] = false,
                        }
                        continue;
                    }
                },
                (None, None) => continue,
            };
            let exempt =
                a.rules
                    .exemptions_for(&a.cluster_name, &workload.key.to_string(), a.now_ms);
            let j = profile::judge(p, &workload.template, &exempt);
            let fails = !j.allowed;
            match mode {
                Mode::Enforce => rejected[w] = fails,
                Mode::Warn => warned[w] = fails,
                Mode::Audit => audited[w] = fails,
            }
            if !fails {
                continue;
            }
            let finding = Finding {
                workload: workload.key.to_string(),
                profile: p.name.clone(),
                mode,
                message: if mode == Mode::Enforce {
                    j.message
                } else {
                    j.warning
                },
                containers: per_container(&workload.template, &j.violations),
                violations: j.violations,
            };
            if mode == Mode::Enforce {
                rejected_by.insert(w, p);
                blocked.push(finding);
            } else {
                warnings.push(finding);
            }
        }
    }
    blocked.sort_by(|a, b| a.workload.cmp(&b.workload));
    warnings.sort_by(|a, b| (&a.workload, a.mode as u8).cmp(&(&b.workload, b.mode as u8)));

    // 2. NetworkPolicies.
    let mut policy_namespaces: HashSet<&str> = HashSet::new();
    let mut after_policies: Option<PolicySet> = None;
    for c in changes {
        match c {
            Change::ApplyPolicy(p) => {
                after_policies
                    .get_or_insert_with(|| a.policies.clone())
                    .insert(Policy::compile(p));
                policy_namespaces.insert(&p.namespace);
            }
            Change::RemovePolicy(id) => {
                after_policies
                    .get_or_insert_with(|| a.policies.clone())
                    .remove(id);
                if let Some((ns, _)) = id.split_once('/') {
                    policy_namespaces.insert(ns);
                }
            }
            Change::Assign { .. } | Change::Adjust { .. } | Change::Unassign { .. } => {}
        }
    }

    // 3. Connections.
    let ns_of = |n: NodeIndex| {
        g[n].workload
            .map(|i| cluster.inventory.workloads[i].key.namespace.as_str())
    };
    let rejected_before = |n: NodeIndex| g[n].workload.is_some_and(|i| cur.rejected[i]);
    let rejected_after = |n: NodeIndex| g[n].workload.is_some_and(|i| rejected[i]);
    let mut allowed_after = vec![true; g.edge_count()];
    let mut works_after = vec![false; g.edge_count()];
    let mut broken = Vec::new();
    let mut broken_edges = Vec::new();
    for e in g.edge_references() {
        let (s, d) = (e.source(), e.target());
        let edge = e.weight();
        let redecided = after_policies.as_ref().filter(|_| {
            ns_of(s).is_some_and(|ns| policy_namespaces.contains(ns))
                || ns_of(d).is_some_and(|ns| policy_namespaces.contains(ns))
        });
        let verdict_after = redecided.map(|set| {
            set.verdict(
                cluster.endpoint(&g[s]),
                cluster.endpoint(&g[d]),
                edge.port,
                &edge.protocol,
            )
        });
        let allowed = verdict_after
            .as_ref()
            .map_or(edge.verdict.allowed, |v| v.allowed);
        allowed_after[e.id().index()] = allowed;
        let before = edge.verdict.allowed && !rejected_before(s) && !rejected_before(d);
        let after = allowed && !rejected_after(s) && !rejected_after(d);
        works_after[e.id().index()] = after;
        if !before || after {
            continue;
        }
        let rejection = |n: NodeIndex, end: &str| {
            let i = g[n].workload?;
            let p = rejected_by.get(&i)?;
            Some(format!(
                "the {end} would be rejected by {} (enforce)",
                p.name
            ))
        };
        let cause = rejection(d, "destination")
            .or_else(|| rejection(s, "source"))
            .or_else(|| {
                let v = verdict_after.as_ref()?;
                let side = match v.side {
                    Some(Side::Egress) => "egress",
                    _ => "ingress",
                };
                Some(match &v.policy {
                    Some(p)
                        if sees
                            .is_some_and(|f| !p.split_once('/').is_some_and(|(ns, _)| f(ns))) =>
                    {
                        format!("denied by a NetworkPolicy of another namespace ({side})")
                    }
                    Some(p) => format!("denied by NetworkPolicy {p} ({side})"),
                    None => "denied by NetworkPolicy".to_owned(),
                })
            })
            .unwrap_or_else(|| "an end would be rejected".to_owned());
        broken_edges.push(e.id());
        broken.push(Broken {
            from: g[s].id.clone(),
            to: g[d].id.clone(),
            port: edge.port,
            protocol: edge.protocol.to_string(),
            cause,
        });
    }
    broken.sort_by(|a, b| (&a.from, &a.to, a.port).cmp(&(&b.from, &b.to, b.port)));

    // 4. Downstream: who loses a dependency, shortest path first.
    let mut via: HashMap<NodeIndex, Vec<NodeIndex>> = HashMap::new();
    let mut queue: VecDeque<NodeIndex> = VecDeque::new();
    broken_edges.sort_by(|x, y| {
        let (xs, xd) = g.edge_endpoints(*x).expect("edge");
        let (ys, yd) = g.edge_endpoints(*y).expect("edge");
        (&g[xs].id, &g[xd].id).cmp(&(&g[ys].id, &g[yd].id))
    });
    for e in &broken_edges {
        let (s, d) = g.edge_endpoints(*e).expect("edge");
        if g[s].workload.is_none() || rejected_after(s) || s == d || via.contains_key(&s) {
            continue;
        }
        via.insert(s, vec![d]);
        queue.push_back(s);
    }
    while let Some(n) = queue.pop_front() {
        let path = via[&n].clone();
        let mut callers: Vec<NodeIndex> = g
            .edges_directed(n, Direction::Incoming)
            .filter(|e| works_after[e.id().index()])
            .map(|e| e.source())
            .filter(|&x| g[x].workload.is_some() && x != n && !via.contains_key(&x))
            .collect();
        callers.sort_by(|x, y| g[*x].id.cmp(&g[*y].id));
        callers.dedup();
        for x in callers {
            if via.contains_key(&x) {
                continue;
            }
            let mut p = Vec::with_capacity(path.len() + 1);
            p.push(n);
            p.extend_from_slice(&path);
            via.insert(x, p);
            queue.push_back(x);
        }
    }
    let mut downstream: Vec<Downstream> = via
        .into_iter()
        .map(|(n, path)| Downstream {
            workload: g[n].id.clone(),
            via: path.into_iter().map(|p| g[p].id.clone()).collect(),
        })
        .collect();
    downstream.sort_by(|a, b| (a.via.len(), &a.workload).cmp(&(b.via.len(), &b.workload)));

    let Some(sees) = sees else {
        let after = counts(&a.graph, &rejected, &warned, &audited, |e| {
            allowed_after[e.index()]
        });
        return Impact {
            blocked,
            warnings,
            broken_connections: broken,
            downstream,
            before: cur.counts,
            after,
        };
    };
    let mine = |i: usize| sees(&cluster.inventory.workloads[i].key.namespace);
    let node_mine = |n: NodeIndex| g[n].workload.is_some_and(mine);
    let scoped = |rej: &[bool], warn: &[bool], aud: &[bool], ok: &dyn Fn(usize) -> bool| {
        let own: Vec<usize> = (0..rej.len()).filter(|&i| mine(i)).collect();
        let mut c = Counts {
            workloads: own.len(),
            rejected: own.iter().filter(|&&i| rej[i]).count(),
            warned: own.iter().filter(|&&i| warn[i]).count(),
            audited: own.iter().filter(|&&i| aud[i]).count(),
            ..Counts::default()
        };
        c.admitted = c.workloads - c.rejected;
        let rejected_node = |n: NodeIndex| g[n].workload.is_some_and(|i| rej[i]);
        for e in g.edge_references() {
            if !node_mine(e.source()) && !node_mine(e.target()) {
                continue;
            }
            c.connections += 1;
            let allowed = ok(e.id().index());
            if !allowed {
                c.denied += 1;
            }
            if allowed && !rejected_node(e.source()) && !rejected_node(e.target()) {
                c.open += 1;
            }
        }
        c.broken = c.connections - c.open;
        c
    };
    let before = scoped(&cur.rejected, &cur.warned, &cur.audited, &|e| {
        g[petgraph::graph::EdgeIndex::new(e)].verdict.allowed
    });
    let after = scoped(&rejected, &warned, &audited, &|e| allowed_after[e]);
    let shown = |id: &str| graph::id_shown(id, sees) && id != graph::EXTERNAL;
    Impact {
        blocked: blocked.into_iter().filter(|f| shown(&f.workload)).collect(),
        warnings: warnings
            .into_iter()
            .filter(|f| shown(&f.workload))
            .collect(),
        broken_connections: broken
            .into_iter()
            .filter(|b| shown(&b.from) || shown(&b.to))
            .map(|mut b| {
                b.from = graph::shown_id(&b.from, sees);
                b.to = graph::shown_id(&b.to, sees);
                b
            })
            .collect(),
        downstream: downstream
            .into_iter()
            .filter(|d| shown(&d.workload))
            .map(|mut d| {
                d.via = d.via.iter().map(|id| graph::shown_id(id, sees)).collect();
                d
            })
            .collect(),
        before,
        after,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Inventory;
    use crate::policy::pss::{Level, LevelVersion};

    /// web (ns front) → api (ns back) → db (ns back, runs as root); ops → web.
    fn advisor() -> Advisor {
        let mut yaml = String::from(
            "apiVersion: v1\nkind: Namespace\nmetadata: {name: back, labels: {pod-security.kubernetes.io/enforce: baseline}}\n",
        );
        for (ns, name, env, root) in [
            ("front", "ops", "http://web.front:80", false),
            ("front", "web", "http://api.back:80", false),
            ("back", "api", "postgres://db:5432/x", false),
            ("back", "db", "", true),
        ] {
            let sc = if root {
                "{runAsUser: 0}"
            } else {
                "{runAsNonRoot: true, seccompProfile: {type: RuntimeDefault}}"
            };
            let csc = "{allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}";
            yaml.push_str(&format!(
                "---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}, namespace: {ns}}}
spec:
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      securityContext: {sc}
      containers:
      - name: main
        image: i
        securityContext: {csc}
        ports: [{{containerPort: 8080}}, {{containerPort: 5432}}]
        env: [{{name: UPSTREAM_URL, value: '{env}'}}]
---
apiVersion: v1
kind: Service
metadata: {{name: {name}, namespace: {ns}}}
spec: {{selector: {{app: {name}}}, ports: [{{port: 80, targetPort: 8080}}, {{name: pg, port: 5432}}]}}
"
            ));
        }
        let mut inv = Inventory::default();
        crate::ingest::manifests::load_str("t.yaml", &yaml, &mut inv);
        crate::ingest::manifests::finish(&mut inv);
        assert!(inv.errors.is_empty(), "{:?}", inv.errors);
        Advisor::new(inv)
    }

    fn restricted() -> Profile {
        Profile::level(LevelVersion::latest(Level::Restricted))
    }

    #[test]
    fn rejected_database_breaks_its_callers_transitively() {
        let a = advisor();
        assert_eq!(a.graph.graph.edge_count(), 3);
        let impact = a.what_if(&[Change::Assign {
            target: Target::Namespace("back".into()),
            profile: restricted(),
            mode: Mode::Enforce,
        }]);
        assert_eq!(impact.blocked.len(), 1);
        assert_eq!(impact.blocked[0].workload, "back/Deployment/db");
        // runAsUser=0 on the pod is a pod-level finding (name empty).
        let pod = &impact.blocked[0].containers[0];
        assert_eq!(pod.name, "");
        assert!(
            pod.violations.iter().any(|v| v.starts_with("runAsUser=0")),
            "{pod:?}"
        );
        assert_eq!(
            impact.broken_connections,
            [Broken {
                from: "back/Deployment/api".into(),
                to: "back/Deployment/db".into(),
                port: 5432,
                protocol: "TCP".into(),
                cause: "the destination would be rejected by restricted:latest (enforce)".into(),
            }]
        );
        let via: Vec<(&str, Vec<&str>)> = impact
            .downstream
            .iter()
            .map(|d| {
                (
                    d.workload.as_str(),
                    d.via.iter().map(String::as_str).collect(),
                )
            })
            .collect();
        assert_eq!(
            via,
            [
                ("back/Deployment/api", vec!["back/Deployment/db"]),
                (
                    "front/Deployment/web",
                    vec!["back/Deployment/api", "back/Deployment/db"]
                ),
                (
                    "front/Deployment/ops",
                    vec![
                        "front/Deployment/web",
                        "back/Deployment/api",
                        "back/Deployment/db"
                    ]
                ),
            ]
        );
        assert_eq!((impact.before.open, impact.after.open), (3, 2));
        assert_eq!((impact.before.rejected, impact.after.rejected), (0, 1));
    }

    #[test]
    fn a_workload_assignment_wins_over_its_namespace() {
        let a = advisor();
        let db = a.cluster.by_id["back/Deployment/db"];
        let impact = a.what_if(&[
            Change::Assign {
                target: Target::Namespace("back".into()),
                profile: restricted(),
                mode: Mode::Enforce,
            },
            Change::Assign {
                target: Target::Workload(db),
                profile: Profile::level(LevelVersion::latest(Level::Baseline)),
                mode: Mode::Enforce,
            },
        ]);
        assert!(impact.is_harmless(), "{impact:?}");
        assert_eq!(impact.before, impact.after);
    }

    #[test]
    fn an_egress_policy_breaks_the_source_side() {
        let a = advisor();
        let yaml = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: no-out, namespace: front}\nspec: {podSelector: {matchLabels: {app: web}}, policyTypes: [Egress]}\n";
        let mut inv = Inventory::default();
        crate::ingest::manifests::load_str("p.yaml", yaml, &mut inv);
        let impact = a.what_if(&[Change::ApplyPolicy(Box::new(
            inv.network_policies.remove(0),
        ))]);
        assert_eq!(impact.broken_connections.len(), 1);
        assert_eq!(
            impact.broken_connections[0].cause,
            "denied by NetworkPolicy front/no-out (egress)"
        );
        assert_eq!(impact.downstream.len(), 2, "web and ops lose api");
        assert_eq!(impact.after.denied, 1);
    }
}
