//! The pure policy core: Pod Security Standards, profiles, evaluate and mutate.

pub mod psp;
pub mod pss;
