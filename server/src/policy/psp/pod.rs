//! Pod helpers shared by mutation and validation: the containers PSP visits
//! (init, regular, ephemeral, in that order, with their error paths), effective
//! security-context values, and the apiserver defaulting PSP runs after.

use k8s_openapi::api::core::v1::{
    ContainerPort, PodSecurityContext, PodSpec, SELinuxOptions, SecurityContext, VolumeMount,
};

/// A read-only view of one container of any kind.
pub(crate) struct ContainerRef<'a> {
    /// `spec.initContainers[i]`, `spec.containers[i]` or `spec.ephemeralContainers[i]`.
    pub path: String,
    pub name: &'a str,
    pub sc: Option<&'a SecurityContext>,
    pub ports: &'a [ContainerPort],
    pub mounts: &'a [VolumeMount],
}

/// Every container of the pod, in the order PSP visits them.
pub(crate) fn containers(spec: &PodSpec) -> Vec<ContainerRef<'_>> {
    let mut out = Vec::new();
    for (i, c) in spec.init_containers.iter().flatten().enumerate() {
        out.push(ContainerRef {
            path: format!("spec.initContainers[{i}]"),
            name: &c.name,
            sc: c.security_context.as_ref(),
            ports: c.ports.as_deref().unwrap_or_default(),
            mounts: c.volume_mounts.as_deref().unwrap_or_default(),
        });
    }
    for (i, c) in spec.containers.iter().enumerate() {
        out.push(ContainerRef {
            path: format!("spec.containers[{i}]"),
            name: &c.name,
            sc: c.security_context.as_ref(),
            ports: c.ports.as_deref().unwrap_or_default(),
            mounts: c.volume_mounts.as_deref().unwrap_or_default(),
        });
    }
    for (i, c) in spec.ephemeral_containers.iter().flatten().enumerate() {
        out.push(ContainerRef {
            path: format!("spec.ephemeralContainers[{i}]"),
            name: &c.name,
            sc: c.security_context.as_ref(),
            ports: c.ports.as_deref().unwrap_or_default(),
            mounts: c.volume_mounts.as_deref().unwrap_or_default(),
        });
    }
    out
}

/// The name and security context of every container, mutable, in visiting order.
pub(crate) fn security_contexts_mut(
    spec: &mut PodSpec,
) -> Vec<(&str, &mut Option<SecurityContext>)> {
    let PodSpec {
        init_containers,
        containers,
        ephemeral_containers,
        ..
    } = spec;
    let mut out: Vec<(&str, &mut Option<SecurityContext>)> = Vec::new();
    for c in init_containers.iter_mut().flatten() {
        out.push((&c.name, &mut c.security_context));
    }
    for c in containers.iter_mut() {
        out.push((&c.name, &mut c.security_context));
    }
    for c in ephemeral_containers.iter_mut().flatten() {
        out.push((&c.name, &mut c.security_context));
    }
    out
}

/// The values PSP reads for a container: the container's own, else the pod's
/// (for the fields that exist on both).
#[derive(Clone, Copy)]
pub(crate) struct Effective<'a> {
    pub pod: &'a PodSecurityContext,
    pub container: Option<&'a SecurityContext>,
}

impl<'a> Effective<'a> {
    pub fn run_as_user(&self) -> Option<i64> {
        self.container
            .and_then(|c| c.run_as_user)
            .or(self.pod.run_as_user)
    }

    pub fn run_as_group(&self) -> Option<i64> {
        self.container
            .and_then(|c| c.run_as_group)
            .or(self.pod.run_as_group)
    }

    pub fn run_as_non_root(&self) -> Option<bool> {
        self.container
            .and_then(|c| c.run_as_non_root)
            .or(self.pod.run_as_non_root)
    }

    /// Replaced as a whole struct, never merged field by field.
    pub fn se_linux(&self) -> Option<&'a SELinuxOptions> {
        self.container
            .and_then(|c| c.se_linux_options.as_ref())
            .or(self.pod.se_linux_options.as_ref())
    }

    pub fn privileged(&self) -> Option<bool> {
        self.container.and_then(|c| c.privileged)
    }

    pub fn read_only_root_filesystem(&self) -> Option<bool> {
        self.container.and_then(|c| c.read_only_root_filesystem)
    }

    pub fn allow_privilege_escalation(&self) -> Option<bool> {
        self.container.and_then(|c| c.allow_privilege_escalation)
    }

    /// An unset procMount reads as `Default`.
    pub fn proc_mount(&self) -> &'a str {
        self.container
            .and_then(|c| c.proc_mount.as_deref())
            .unwrap_or("Default")
    }
}

/// The apiserver's pod defaulting that PSP depends on (§1): an absent pod
/// `securityContext` becomes `{}`, and with `hostNetwork: true` every container
/// and init container port without a hostPort gets `hostPort = containerPort`.
/// (`fieldRef.apiVersion` and `procMount` defaults are read, not written.)
pub(crate) fn apply_defaults(spec: &mut PodSpec) {
    spec.security_context.get_or_insert_default();
    if spec.host_network == Some(true) {
        let ports = spec
            .init_containers
            .iter_mut()
            .flatten()
            .chain(spec.containers.iter_mut())
            .flat_map(|c| c.ports.iter_mut().flatten());
        for p in ports {
            if p.host_port.unwrap_or(0) == 0 {
                p.host_port = Some(p.container_port);
            }
        }
    }
}

/// Undoes [`apply_defaults`] on a mutated copy so that it differs from `original`
/// only by what a policy changed: PSP never writes ports, so they are restored,
/// and an empty pod `securityContext` that was absent is removed again.
pub(crate) fn undo_defaults(original: &PodSpec, mutated: &mut PodSpec) {
    if original.security_context.is_none()
        && mutated.security_context.as_ref() == Some(&PodSecurityContext::default())
    {
        mutated.security_context = None;
    }
    for (o, m) in original
        .init_containers
        .iter()
        .flatten()
        .zip(mutated.init_containers.iter_mut().flatten())
        .chain(
            original
                .containers
                .iter()
                .zip(mutated.containers.iter_mut()),
        )
    {
        m.ports.clone_from(&o.ports);
    }
}
