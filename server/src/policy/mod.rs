//! The pure policy core: Pod Security Standards, PodSecurityPolicy, profiles
//! (presets and custom), evaluate and mutate, minimal fixes and recommendations.

pub mod assignments;
pub mod export;
pub mod fixes;
pub mod profiles;
pub mod psp;
pub mod pss;
