//! The one integration-test binary; each area is a module.

mod admission;
mod advisor;
mod alerts;
mod apply;
mod assign;
mod check;
mod cluster;
mod common;
mod conformance;
mod corpus;
mod crash;
mod export;
mod lean;
mod oidc;
mod profiles;
mod psp;
mod scope;
mod seed;
mod shutdown;
mod signin;
mod store;
mod support;
mod web;
