//! The one integration-test binary; each area is a module.

mod admission;
mod advisor;
mod check;
mod cluster;
mod common;
mod conformance;
mod corpus;
mod profiles;
mod psp;
mod seed;
mod store;
mod support;
mod web;
