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

pub use graph::{Cluster, EXTERNAL, Graph, GraphJson};
pub use netpol::PolicySet;
pub use what_if::{Change, Current, Impact, Mode, Target};

/// A snapshot ready for questions: the cluster, its NetworkPolicies, its graph
/// and the current admission state.
#[derive(Debug, Clone)]
pub struct Advisor {
    pub cluster: Cluster,
    pub policies: PolicySet,
    pub graph: Graph,
    pub current: Current,
}

impl Advisor {
    pub fn new(inventory: Inventory) -> Advisor {
        Advisor::with_flows(inventory, &[])
    }

    /// The advisor with observed flows merged into the graph (see [`flows`]).
    pub fn with_flows(inventory: Inventory, observed: &[flows::Observed]) -> Advisor {
        let cluster = Cluster::new(inventory);
        let policies = PolicySet::new(&cluster.inventory.network_policies);
        let mut graph = Graph::build(&cluster, &policies);
        if !observed.is_empty() {
            graph.add_observed(&cluster, observed);
            graph.decide(&cluster, &policies);
        }
        let current = Current::new(&cluster, &graph);
        Advisor {
            cluster,
            policies,
            graph,
            current,
        }
    }

    /// The impact of `changes`, applied together (see [`what_if`]).
    pub fn what_if(&self, changes: &[Change]) -> Impact {
        what_if::what_if(self, changes)
    }

    /// `GET /api/v1/graph`.
    pub fn graph_json(&self) -> GraphJson {
        self.graph.to_json(&self.cluster)
    }
}
