//! Reading workloads from manifests, a live cluster, and the seed.

pub mod manifests;
