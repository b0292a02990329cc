//! The one integration-test binary; each area is a module.

mod common;
mod conformance;
mod psp;
mod store;
mod support;
mod web;
