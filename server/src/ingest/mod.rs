//! Reading workloads from manifests, a live cluster, and the seed.

pub mod cluster;
pub mod manifests;
pub mod seed;
