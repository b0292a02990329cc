//! Portcullis: pod security for Kubernetes.

pub mod ingest;
pub mod model;
pub mod policy;
