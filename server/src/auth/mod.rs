//! Sign-in.

pub mod oidc;
