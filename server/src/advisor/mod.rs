//! The policy advisor: a graph of workloads and their connections per
//! snapshot ([`graph`]), NetworkPolicy verdicts on every connection
//! ([`netpol`]), and what-if previews of proposed rules ([`what_if`]).
//!
//! Pure: no IO, no axum, sqlx or kube. The web layer reads a snapshot into an
//! [`Inventory`], builds an [`Advisor`] once and asks it questions.

pub mod graph;
pub mod netpol;
pub mod refs;

use crate::model::Inventory;

pub use graph::{Cluster, EXTERNAL, Graph, GraphJson};
pub use netpol::PolicySet;

/// A snapshot ready for questions: the cluster, its NetworkPolicies and its graph.
#[derive(Debug, Clone)]
pub struct Advisor {
    pub cluster: Cluster,
    pub policies: PolicySet,
    pub graph: Graph,
}

impl Advisor {
    pub fn new(inventory: Inventory) -> Advisor {
        let cluster = Cluster::new(inventory);
        let policies = PolicySet::new(&cluster.inventory.network_policies);
        let graph = Graph::build(&cluster, &policies);
        Advisor {
            cluster,
            policies,
            graph,
        }
    }

    /// `GET /api/v1/graph`.
    pub fn graph_json(&self) -> GraphJson {
        self.graph.to_json(&self.cluster)
    }
}
