//! The policy advisor: a graph of workloads and their connections per
//! snapshot ([`graph`], with service references found by [`refs`] and
//! observed [`flows`] merged in), NetworkPolicy verdicts on every connection
//! ([`netpol`]), and what-if previews of proposed rules ([`what_if`]),
//! evaluated through the policy core ([`profile`]).
//!
//! Pure: no IO, no axum, sqlx or kube. The web layer reads a snapshot (and its
//! flows) into an [`Inventory`], builds an [`Advisor`] once and asks it
//! questions.

pub mod flows;
pub mod graph;
pub mod netpol;
pub mod profile;
pub mod refs;
pub mod what_if;

use crate::model::Inventory;
use crate::policy::assignments::Rules;

pub use graph::{Cluster, EXTERNAL, Graph, GraphJson};
pub use netpol::PolicySet;
pub use what_if::{Change, Current, Impact, Mode, Target};

/// A snapshot ready for questions: the cluster, its NetworkPolicies, its graph
/// and the current admission state under the rules in force.
#[derive(Debug, Clone)]
pub struct Advisor {
    pub cluster: Cluster,
    pub policies: PolicySet,
    pub graph: Graph,
    pub current: Current,
    /// The rules `current` was computed with, and the snapshot's cluster name
    /// and time (exemptions apply at that time... or now, see [`Advisor::with_rules`]).
    pub rules: std::sync::Arc<Rules>,
    pub cluster_name: String,
    pub now_ms: i64,
}

impl Advisor {
    /// The advisor with no assignments: namespaces' labels decide.
    pub fn new(inventory: Inventory) -> Advisor {
        Advisor::with_flows(inventory, &[])
    }

    /// The advisor with observed flows merged into the graph (see [`flows`]).
    pub fn with_flows(inventory: Inventory, observed: &[flows::Observed]) -> Advisor {
        Advisor::build(inventory, observed, Default::default(), String::new(), 0)
    }

    /// The same snapshot under other rules (assignments changed): the graph
    /// is kept, the current state recomputed.
    pub fn with_rules(&self, rules: std::sync::Arc<Rules>, now_ms: i64) -> Advisor {
        let current = Current::new(
            &self.cluster,
            &self.graph,
            &rules,
            &self.cluster_name,
            now_ms,
        );
        Advisor {
            cluster: self.cluster.clone(),
            policies: self.policies.clone(),
            graph: self.graph.clone(),
            current,
            rules,
            cluster_name: self.cluster_name.clone(),
            now_ms,
        }
    }

    /// Everything: graph, flows, and the current state under `rules` for
    /// cluster `cluster_name` (exemptions as of `now_ms`).
    pub fn build(
        inventory: Inventory,
        observed: &[flows::Observed],
        rules: std::sync::Arc<Rules>,
        cluster_name: String,
        now_ms: i64,
    ) -> Advisor {
        let cluster = Cluster::new(inventory);
        let policies = PolicySet::new(&cluster.inventory.network_policies);
        let mut graph = Graph::build(&cluster, &policies);
        if !observed.is_empty() {
            graph.add_observed(&cluster, observed);
            graph.decide(&cluster, &policies);
        }
        let current = Current::new(&cluster, &graph, &rules, &cluster_name, now_ms);
        Advisor {
            cluster,
            policies,
            graph,
            current,
            rules,
            cluster_name,
            now_ms,
        }
    }

    /// The impact of `changes`, applied together (see [`what_if`]).
    pub fn what_if(&self, changes: &[Change]) -> Impact {
        what_if::what_if(self, changes)
    }

    /// [`Advisor::what_if`] for a user who sees only some namespaces.
    pub fn what_if_in(&self, changes: &[Change], sees: &dyn Fn(&str) -> bool) -> Impact {
        what_if::what_if_in(self, changes, Some(sees))
    }

    /// `GET /api/v1/graph`.
    pub fn graph_json(&self) -> GraphJson {
        self.graph.to_json(&self.cluster)
    }
}
