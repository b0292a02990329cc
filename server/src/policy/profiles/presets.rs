//! The presets shipped with Portcullis: the three Pod Security Standards levels,
//! `strict` and `node-agent`. Presets cannot be edited, only copied.

use std::sync::LazyLock;

use crate::policy::psp;
use crate::policy::pss::Level;

/// A preset profile.
#[derive(Debug)]
pub struct Preset {
    /// The name used in `--profile`, URLs and the API.
    pub id: &'static str,
    pub title: &'static str,
    /// One line: what it allows.
    pub summary: &'static str,
    /// Who should use it, and why.
    pub who: &'static str,
    /// The Pod Security Standards level it checks (at `latest`), if any.
    pub level: Option<Level>,
    /// The PodSecurityPolicy it applies (together with `level`), if any.
    pub psp_yaml: Option<&'static str>,
}

/// The presets from the tightest to the loosest. `node-agent` comes after
/// `baseline`: it forbids more than baseline in some controls, but it grants
/// host access (PID namespace, network, /proc and /sys) that baseline forbids.
pub static PRESETS: [Preset; 5] = [
    Preset {
        id: "strict",
        title: "Strict",
        summary: "restricted, plus a read-only root filesystem and a user ID from 1000 to 65535",
        who: "For services you build yourselves and run in production: web backends, \
              APIs, workers. Everything restricted asks, and two things it does not: the \
              container's root filesystem must be read-only (write to an emptyDir or a \
              volume instead), and the process must run as an explicit user ID from 1000 \
              to 65535, outside the system accounts images ship with. Where a container \
              leaves these unset, the profile fills them in (readOnlyRootFilesystem: true, \
              runAsUser: 1000), as PodSecurityPolicy did; the preview shows the change \
              before you apply it.",
        level: Some(Level::Restricted),
        psp_yaml: Some(STRICT_PSP),
    },
    Preset {
        id: "restricted",
        title: "Restricted",
        summary: "the Pod Security Standards restricted level: hardened pods only",
        who: "For any application that does not need to touch the node: the target for \
              most namespaces. Containers run as non-root, drop all capabilities (adding \
              back at most NET_BIND_SERVICE), cannot escalate privileges, use the \
              runtime's seccomp profile and only ordinary volume types. Well-maintained \
              images usually pass with a few lines of securityContext.",
        level: Some(Level::Restricted),
        psp_yaml: None,
    },
    Preset {
        id: "baseline",
        title: "Baseline",
        summary: "the Pod Security Standards baseline level: blocks the known privilege escalations",
        who: "For applications you run but do not control: third-party images and \
              legacy services that run as root or write to their filesystem. It forbids \
              what gives a pod the node (privileged containers, host namespaces, host \
              paths and ports, extra capabilities, unconfined AppArmor or seccomp, unsafe \
              sysctls) while leaving the rest to the image. A step towards restricted.",
        level: Some(Level::Baseline),
        psp_yaml: None,
    },
    Preset {
        id: "node-agent",
        title: "Node agent",
        summary: "host PID and network, read-only /proc and /sys, and nothing else",
        who: "For monitoring DaemonSets that read the node's state: node-exporter, \
              process and network metrics agents. They may share the host's PID namespace \
              and network (so their ports are the node's ports) and mount /proc and /sys \
              read-only; everything else is locked down: not privileged, no added \
              capabilities (all are dropped), no privilege escalation, non-root, the \
              runtime's seccomp profile. An agent that also needs the root filesystem, \
              the container runtime socket or capabilities needs its own profile: copy \
              this one and add exactly that.",
        level: None,
        psp_yaml: Some(NODE_AGENT_PSP),
    },
    Preset {
        id: "privileged",
        title: "Privileged",
        summary: "the Pod Security Standards privileged level: no restrictions",
        who: "For cluster infrastructure that must manage the node itself: CNI plugins, \
              CSI node drivers, kube-proxy, device plugins. It checks nothing, so keep it \
              to namespaces that only cluster administrators can deploy to.",
        level: Some(Level::Privileged),
        psp_yaml: None,
    },
];

/// The PodSecurityPolicy half of `strict`. Restricted is evaluated as well, so
/// this policy limits only what restricted does not: the root filesystem and
/// the user ID range. Every other control is left open here (restricted
/// decides it), and seccomp profiles are allowed (`*`) because a PSP without
/// the annotation forbids every seccomp profile.
const STRICT_PSP: &str = "\
apiVersion: policy/v1beta1
kind: PodSecurityPolicy
metadata:
  name: strict
  annotations:
    seccomp.security.alpha.kubernetes.io/allowedProfileNames: '*'
spec:
  readOnlyRootFilesystem: true
  runAsUser:
    rule: MustRunAs
    ranges:
    - {min: 1000, max: 65535}
  privileged: true
  allowPrivilegeEscalation: true
  allowedCapabilities: ['*']
  volumes: ['*']
  hostNetwork: true
  hostPID: true
  hostIPC: true
  hostPorts:
  - {min: 0, max: 65535}
  allowedUnsafeSysctls: ['*']
  allowedProcMountTypes: [Default, Unmasked]
  seLinux: {rule: RunAsAny}
  supplementalGroups: {rule: RunAsAny}
  fsGroup: {rule: RunAsAny}
";

/// `node-agent`. Host ports: with hostNetwork every container port is a port of
/// the node (the API server copies containerPort into hostPort), so host ports
/// add nothing that hostNetwork has not already granted.
const NODE_AGENT_PSP: &str = "\
apiVersion: policy/v1beta1
kind: PodSecurityPolicy
metadata:
  name: node-agent
  annotations:
    seccomp.security.alpha.kubernetes.io/allowedProfileNames: runtime/default,docker/default
    seccomp.security.alpha.kubernetes.io/defaultProfileName: runtime/default
spec:
  privileged: false
  allowPrivilegeEscalation: false
  requiredDropCapabilities: [ALL]
  hostPID: true
  hostNetwork: true
  hostIPC: false
  hostPorts:
  - {min: 0, max: 65535}
  volumes: [configMap, secret, emptyDir, projected, downwardAPI, persistentVolumeClaim, csi, ephemeral, hostPath]
  allowedHostPaths:
  - {pathPrefix: /proc, readOnly: true}
  - {pathPrefix: /sys, readOnly: true}
  runAsUser: {rule: MustRunAsNonRoot}
  seLinux: {rule: RunAsAny}
  supplementalGroups: {rule: RunAsAny}
  fsGroup: {rule: RunAsAny}
";

/// The PSP halves of the presets, imported once.
static POLICIES: LazyLock<Vec<(&'static str, psp::Profile)>> = LazyLock::new(|| {
    PRESETS
        .iter()
        .filter_map(|p| {
            let yaml = p.psp_yaml?;
            match psp::import(p.id, yaml) {
                Ok(mut list) if list.len() == 1 => Some((p.id, list.remove(0))),
                // A preset that does not import is a bug caught by the unit tests.
                _ => None,
            }
        })
        .collect()
});

/// The preset named `id`.
pub fn preset(id: &str) -> Option<&'static Preset> {
    PRESETS.iter().find(|p| p.id == id)
}

impl Preset {
    /// The preset's PodSecurityPolicy half, if it has one.
    pub fn policy(&self) -> Option<&'static psp::Profile> {
        POLICIES
            .iter()
            .find(|(id, _)| *id == self.id)
            .map(|(_, p)| p)
    }

    /// Whether this preset is one of the Pod Security Standards levels alone.
    pub fn is_level(&self) -> bool {
        self.psp_yaml.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_psp_half_imports_and_validates() {
        for p in PRESETS.iter().filter(|p| p.psp_yaml.is_some()) {
            let yaml = p.psp_yaml.unwrap_or_default();
            let list = psp::import(p.id, yaml).unwrap_or_else(|e| panic!("{}: {e:?}", p.id));
            assert_eq!(list.len(), 1);
            assert_eq!(list[0].name, p.id);
            assert!(psp::validate(&list[0]).is_empty());
            assert!(p.policy().is_some(), "{}", p.id);
        }
    }

    #[test]
    fn ids_are_unique_and_paragraphs_present() {
        for (i, p) in PRESETS.iter().enumerate() {
            assert!(PRESETS[i + 1..].iter().all(|q| q.id != p.id));
            assert!(p.who.len() > 120, "{} needs a paragraph", p.id);
            assert!(p.level.is_some() || p.psp_yaml.is_some());
        }
    }
}
