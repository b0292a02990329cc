//! PodSecurityPolicy (`policy/v1beta1`, Kubernetes 1.21–1.24) re-implemented as
//! a pure module: our own serde types for the removed API, and import and
//! validation of PSP YAML. The specification is `shared/psp/SEMANTICS.md`.
//!
//! Pure: no IO.

mod import;
mod spec;
mod validate;

pub use import::{ImportError, import};
pub use spec::{
    API_VERSION, APPARMOR_ALLOWED_ANNOTATION, APPARMOR_CONTAINER_ANNOTATION_PREFIX,
    APPARMOR_DEFAULT_ANNOTATION, AllowedCsiDriver, AllowedFlexVolume, AllowedHostPath, FS_TYPES,
    FsGroupStrategyOptions, GROUP_RULES, HostPortRange, IdRange, LEGACY_API_VERSION,
    PSP_ANNOTATION, PodSecurityPolicy, PodSecurityPolicySpec, Profile, RUN_AS_GROUP_RULES,
    RunAsGroupStrategyOptions, RunAsUserStrategyOptions, RuntimeClassStrategyOptions, SAFE_SYSCTLS,
    SE_LINUX_RULES, SECCOMP_ALLOWED_ANNOTATION, SECCOMP_CONTAINER_ANNOTATION_PREFIX,
    SECCOMP_DEFAULT_ANNOTATION, SECCOMP_POD_ANNOTATION, SeLinuxStrategyOptions,
    SupplementalGroupsStrategyOptions, USER_RULES,
};
pub use validate::{SpecError, validate};
