//! The one integration-test binary; each area is a module.

mod advisor;
mod check;
mod common;
mod conformance;
mod corpus;
mod psp;
mod seed;
mod store;
mod support;
mod web;
