//! The object of a review read in one pass, straight from its JSON text into
//! k8s-openapi types, without knowing its kind first: `kind`, `apiVersion`,
//! the parts of `metadata` a review uses, and under `spec` both what a Pod
//! has there (its [`PodSpec`]) and the pod template at every
//! [`crate::model::template_path`] of the workload kinds; [`Object::template`]
//! then picks the one of the object's kind. Everything else
//! (`managedFields`, `status`, the rest of `spec`, the last-applied
//! annotation) is skipped without being built. Because the kind need not come
//! first, the object is read while the review's envelope is parsed
//! (`review::ReviewOf<Object>`): the body is scanned once.
//!
//! This is the fast path: it does not word errors. When it fails, the webhook
//! reads the object again with the manifest loader to say precisely what is
//! wrong (see `parse_workload` in the parent module).
//!
//! The webhook reads lean ([`Lean`]): a container's fields that no policy
//! reads ([`UNREAD_CONTAINER_FIELDS`]: its environment, command, resources,
//! …; most of a real container's bytes) are skipped, not built; of a probe
//! or lifecycle handler only the hosts are read ([`probe_without_unread`]);
//! of a volume, its name, its source's kind, and the contents of the sources
//! a policy looks into ([`READ_VOLUME_SOURCES`]). What the lean read keeps is
//! exactly the full read less those fields ([`spec_without_unread`]), which
//! the tests prove on every conformance fixture and corpus manifest, with the
//! verdicts of every profile on both.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::LazyLock;

use k8s_openapi::api::core::v1::{
    Container, EphemeralContainer, HTTPGetAction, Lifecycle, LifecycleHandler, PodSpec,
    PodTemplateSpec, Probe, TCPSocketAction, Volume,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use serde::de::value::CowStrDeserializer;
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::model::{PodTemplate, WORKLOAD_KINDS, template_path};

/// A map key, borrowed from the text when it has no escapes (`Cow<str>`'s
/// own `Deserialize` always copies: a string for every key read).
struct Key<'de>(Cow<'de, str>);

impl<'de> serde::Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Key<'de>, D::Error> {
        struct Visit;
        impl<'de> Visitor<'de> for Visit {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(s)))
            }
            fn visit_str<E>(self, s: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(s.to_owned())))
            }
            fn visit_string<E>(self, s: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(s)))
            }
        }
        d.deserialize_str(Visit)
    }
}

/// The next key of `m`, borrowed when it can be ([`Key`]).
pub(crate) fn next_key<'de, A: MapAccess<'de>>(
    m: &mut A,
) -> Result<Option<Cow<'de, str>>, A::Error> {
    Ok(m.next_key::<Key<'de>>()?.map(|k| k.0))
}

/// The annotation holding a copy of the whole object: never read by a check.
const LAST_APPLIED: &str = super::last_applied::ANNOTATION;

/// The template paths below `spec` of the workload kinds (`spec.template`,
/// `spec.jobTemplate.spec.template`), from [`template_path`]: each starts
/// with `spec` (checked by a test).
static SPEC_PATHS: LazyLock<Vec<&'static [&'static str]>> = LazyLock::new(|| {
    let mut paths: Vec<&'static [&'static str]> = Vec::new();
    for kind in WORKLOAD_KINDS {
        let p = template_path(kind);
        if p.len() >= 2 && p[0] == "spec" && !paths.contains(&p) {
            paths.push(p);
        }
    }
    paths
});

/// The fields of a container (and of an ephemeral container) that no check,
/// profile, mutation or update comparison reads: skipped by the lean read.
pub const UNREAD_CONTAINER_FIELDS: [&str; 13] = [
    "args",
    "command",
    "env",
    "envFrom",
    "imagePullPolicy",
    "resizePolicy",
    "resources",
    "stdin",
    "stdinOnce",
    "terminationMessagePath",
    "terminationMessagePolicy",
    "tty",
    "workingDir",
];

/// What the webhook reads of an object.
#[derive(Debug, Default)]
pub struct Object {
    pub kind: Option<String>,
    pub api_version: Option<String>,
    /// `name`, `generateName`, `namespace`, `uid`, `labels`, `annotations`
    /// (without the last-applied configuration) and `ownerReferences`.
    pub metadata: ObjectMeta,
    /// `spec` read as a Pod's (for a workload, an empty one: the workloads'
    /// fields are not a Pod's).
    pod_spec: Option<Box<PodSpec>>,
    /// The pod templates found at the [`SPEC_PATHS`], in reading order.
    /// Boxed, as the pod spec: read in place, not moved on every way out.
    templates: Vec<(&'static [&'static str], Box<PodTemplateSpec>)>,
    /// How many last-applied configurations in `metadata.annotations` held
    /// the marker of [`super::last_applied`] (0 or 1).
    pub marks: usize,
}

impl Object {
    /// The pod template of an object of `kind`, taken out; `None` when it or
    /// its `spec` is missing or null. For a Pod (empty path) only the `spec`
    /// is set: its metadata is the object's, copied by the caller once it has
    /// filled in the name and namespace from the request.
    pub fn template(&mut self, kind: &str) -> Option<PodTemplate> {
        let path = template_path(kind);
        if path.is_empty() {
            return self.pod_spec.take().map(|spec| PodTemplate {
                metadata: ObjectMeta::default(),
                spec: *spec,
            });
        }
        // The last one read wins, as with a repeated key anywhere else.
        let i = self.templates.iter().rposition(|(p, _)| *p == path)?;
        let PodTemplateSpec { metadata, spec } = *self.templates.swap_remove(i).1;
        Some(PodTemplate {
            metadata: metadata.unwrap_or_default(),
            spec: spec?,
        })
    }
}

/// Reads `raw` as an object (of any kind), every field of its pod template.
pub fn read(raw: &str) -> Result<Object, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_str(raw);
    let object = serde::Deserialize::deserialize(&mut de)?;
    de.end()?;
    Ok(object)
}

/// Reads `raw` as an object, lean: its containers without
/// [`UNREAD_CONTAINER_FIELDS`].
pub fn read_lean(raw: &str) -> Result<Object, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_str(raw);
    let object: Lean = serde::Deserialize::deserialize(&mut de)?;
    de.end()?;
    Ok(*object.0)
}

impl<'de> serde::Deserialize<'de> for Object {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Object, D::Error> {
        d.deserialize_map(Top { lean: false }).map(|o| *o)
    }
}

/// An object read lean (the webhook's envelope holds these): its containers
/// without [`UNREAD_CONTAINER_FIELDS`]. Boxed: an [`Object`] is ~2 KiB, and
/// the envelope's layers (request, review, their `Option`s and `Result`s)
/// would otherwise copy it (twice over, with `oldObject`) on each way out.
#[derive(Debug, Default)]
pub struct Lean(pub Box<Object>);

impl<'de> serde::Deserialize<'de> for Lean {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Lean, D::Error> {
        d.deserialize_map(Top { lean: true }).map(Lean)
    }
}

/// A container without [`UNREAD_CONTAINER_FIELDS`]: what the lean read makes
/// of it. Every field is named, so a field a new Kubernetes version adds
/// must be sorted into read or unread before this compiles.
pub fn without_unread(c: Container) -> Container {
    let Container {
        args: _,
        command: _,
        env: _,
        env_from: _,
        image,
        image_pull_policy: _,
        lifecycle,
        liveness_probe,
        name,
        ports,
        readiness_probe,
        resize_policy: _,
        resources: _,
        restart_policy,
        restart_policy_rules,
        security_context,
        startup_probe,
        stdin: _,
        stdin_once: _,
        termination_message_path: _,
        termination_message_policy: _,
        tty: _,
        volume_devices,
        volume_mounts,
        working_dir: _,
    } = c;
    Container {
        name,
        image,
        lifecycle: lifecycle.map(lifecycle_without_unread),
        liveness_probe: liveness_probe.map(probe_without_unread),
        ports,
        readiness_probe: readiness_probe.map(probe_without_unread),
        restart_policy,
        restart_policy_rules,
        security_context,
        startup_probe: startup_probe.map(probe_without_unread),
        volume_devices,
        volume_mounts,
        ..Container::default()
    }
}

/// A pod spec with [`without_unread`] containers of every list and
/// [`volume_without_unread`] volumes: what the lean read makes of it.
pub fn spec_without_unread(mut spec: PodSpec) -> PodSpec {
    spec.volumes = spec
        .volumes
        .map(|l| l.into_iter().map(volume_without_unread).collect());
    spec.containers = spec.containers.into_iter().map(without_unread).collect();
    spec.init_containers = spec
        .init_containers
        .map(|l| l.into_iter().map(without_unread).collect());
    spec.ephemeral_containers = spec
        .ephemeral_containers
        .map(|l| l.into_iter().map(ephemeral_without_unread).collect());
    spec
}

/// [`without_unread`] for an ephemeral container.
pub fn ephemeral_without_unread(c: EphemeralContainer) -> EphemeralContainer {
    let EphemeralContainer {
        args: _,
        command: _,
        env: _,
        env_from: _,
        image,
        image_pull_policy: _,
        lifecycle,
        liveness_probe,
        name,
        ports,
        readiness_probe,
        resize_policy: _,
        resources: _,
        restart_policy,
        restart_policy_rules,
        security_context,
        startup_probe,
        stdin: _,
        stdin_once: _,
        target_container_name,
        termination_message_path: _,
        termination_message_policy: _,
        tty: _,
        volume_devices,
        volume_mounts,
        working_dir: _,
    } = c;
    EphemeralContainer {
        name,
        image,
        lifecycle: lifecycle.map(lifecycle_without_unread),
        liveness_probe: liveness_probe.map(probe_without_unread),
        ports,
        readiness_probe: readiness_probe.map(probe_without_unread),
        restart_policy,
        restart_policy_rules,
        security_context,
        startup_probe: startup_probe.map(probe_without_unread),
        target_container_name,
        volume_devices,
        volume_mounts,
        ..EphemeralContainer::default()
    }
}

/// A probe as the lean read makes it: only the hosts of its `httpGet` and
/// `tcpSocket` actions, which a check reads (baseline's
/// `hostProbesAndHostLifecycle`); the probe itself stays set.
pub fn probe_without_unread(p: Probe) -> Probe {
    let Probe {
        exec: _,
        failure_threshold: _,
        grpc: _,
        http_get,
        initial_delay_seconds: _,
        period_seconds: _,
        success_threshold: _,
        tcp_socket,
        termination_grace_period_seconds: _,
        timeout_seconds: _,
    } = p;
    Hosts::of(http_get, tcp_socket).probe()
}

/// Lifecycle hooks as the lean read makes them: each handler's hosts, as
/// [`probe_without_unread`].
pub fn lifecycle_without_unread(l: Lifecycle) -> Lifecycle {
    let Lifecycle {
        post_start,
        pre_stop,
        stop_signal: _,
    } = l;
    Lifecycle {
        post_start: post_start.map(handler_without_unread),
        pre_stop: pre_stop.map(handler_without_unread),
        stop_signal: None,
    }
}

fn handler_without_unread(h: LifecycleHandler) -> LifecycleHandler {
    let LifecycleHandler {
        exec: _,
        http_get,
        sleep: _,
        tcp_socket,
    } = h;
    Hosts::of(http_get, tcp_socket).handler()
}

fn http_host(a: HTTPGetAction) -> HTTPGetAction {
    let HTTPGetAction {
        host,
        http_headers: _,
        path: _,
        port: _,
        protocol: _,
        scheme: _,
    } = a;
    HTTPGetAction {
        host,
        ..HTTPGetAction::default()
    }
}

fn tcp_host(a: TCPSocketAction) -> TCPSocketAction {
    let TCPSocketAction { host, port: _ } = a;
    TCPSocketAction {
        host,
        ..TCPSocketAction::default()
    }
}

/// The volume sources whose contents a policy reads: a hostPath's path, a
/// flexVolume's and a CSI volume's driver, a projected volume's sources
/// (PodSecurityPolicy's `allowedHostPaths`, `allowedFlexVolumes`,
/// `allowedCSIDrivers`, and its projected service-account token volumes).
/// Of the other sources only which one is set is read.
pub const READ_VOLUME_SOURCES: [&str; 4] = ["hostPath", "flexVolume", "csi", "projected"];

/// A volume as the lean read makes it: its name, the contents of the
/// [`READ_VOLUME_SOURCES`], and any other source set but empty. Every field
/// is named, so a source a new Kubernetes version adds must be sorted here
/// before this compiles.
pub fn volume_without_unread(v: Volume) -> Volume {
    fn set<T: Default>(source: Option<T>) -> Option<T> {
        source.map(|_| T::default())
    }
    let Volume {
        aws_elastic_block_store,
        azure_disk,
        azure_file,
        cephfs,
        cinder,
        config_map,
        csi,
        downward_api,
        empty_dir,
        ephemeral,
        fc,
        flex_volume,
        flocker,
        gce_persistent_disk,
        git_repo,
        glusterfs,
        host_path,
        image,
        iscsi,
        name,
        nfs,
        persistent_volume_claim,
        photon_persistent_disk,
        portworx_volume,
        projected,
        quobyte,
        rbd,
        scale_io,
        secret,
        storageos,
        vsphere_volume,
    } = v;
    Volume {
        aws_elastic_block_store: set(aws_elastic_block_store),
        azure_disk: set(azure_disk),
        azure_file: set(azure_file),
        cephfs: set(cephfs),
        cinder: set(cinder),
        config_map: set(config_map),
        csi,
        downward_api: set(downward_api),
        empty_dir: set(empty_dir),
        ephemeral: set(ephemeral),
        fc: set(fc),
        flex_volume,
        flocker: set(flocker),
        gce_persistent_disk: set(gce_persistent_disk),
        git_repo: set(git_repo),
        glusterfs: set(glusterfs),
        host_path,
        image: set(image),
        iscsi: set(iscsi),
        name,
        nfs: set(nfs),
        persistent_volume_claim: set(persistent_volume_claim),
        photon_persistent_disk: set(photon_persistent_disk),
        portworx_volume: set(portworx_volume),
        projected,
        quobyte: set(quobyte),
        rbd: set(rbd),
        scale_io: set(scale_io),
        secret: set(secret),
        storageos: set(storageos),
        vsphere_volume: set(vsphere_volume),
    }
}

/// What the lean read fills in place, a field at a time: a container, an
/// ephemeral container, a volume. A container is over 2 KiB and a volume
/// over 3: built where they lie in their list, not moved there.
trait Filled: Default {
    const WHAT: &'static str;

    /// Reads the value of `key` into its field when a policy reads it; skips
    /// it otherwise. As k8s-openapi's reader: a repeated key's last value
    /// wins, a null is unset, unknown keys are skipped, a missing name is
    /// empty.
    fn field<'de, A: MapAccess<'de>>(&mut self, key: &str, m: &mut A) -> Result<(), A::Error>;
}

/// [`Filled`] for the container types: the fields [`without_unread`] keeps,
/// probes and lifecycle hooks lean.
macro_rules! filled_container {
    ($t:ty, $what:literal $(, $key:literal => $field:ident)?) => {
        impl Filled for $t {
            const WHAT: &'static str = $what;

            fn field<'de, A: MapAccess<'de>>(
                &mut self,
                key: &str,
                m: &mut A,
            ) -> Result<(), A::Error> {
                match key {
                    "name" => self.name = m.next_value::<Option<String>>()?.unwrap_or_default(),
                    "image" => self.image = m.next_value()?,
                    "lifecycle" => self.lifecycle = m.next_value_seed(OrNull(LeanLifecycle))?,
                    "livenessProbe" => self.liveness_probe = probe(m)?,
                    "ports" => self.ports = m.next_value()?,
                    "readinessProbe" => self.readiness_probe = probe(m)?,
                    "restartPolicy" => self.restart_policy = m.next_value()?,
                    "restartPolicyRules" => self.restart_policy_rules = m.next_value()?,
                    "securityContext" => self.security_context = m.next_value()?,
                    "startupProbe" => self.startup_probe = probe(m)?,
                    "volumeDevices" => self.volume_devices = m.next_value()?,
                    "volumeMounts" => self.volume_mounts = m.next_value()?,
                    $($key => self.$field = m.next_value()?,)?
                    _ => {
                        m.next_value::<IgnoredAny>()?;
                    }
                }
                Ok(())
            }
        }
    };
}

filled_container!(Container, "a container");
filled_container!(
    EphemeralContainer,
    "an ephemeral container",
    "targetContainerName" => target_container_name
);

impl Filled for Volume {
    const WHAT: &'static str = "a volume";

    fn field<'de, A: MapAccess<'de>>(&mut self, key: &str, m: &mut A) -> Result<(), A::Error> {
        /// A source whose contents are not read: set (empty) unless null.
        fn set<'de, A: MapAccess<'de>, T: Default>(m: &mut A) -> Result<Option<T>, A::Error> {
            Ok(m.next_value_seed(OrNull(AnyMap))?.map(|()| T::default()))
        }
        let v = self;
        match key {
            "name" => v.name = m.next_value::<Option<String>>()?.unwrap_or_default(),
            "hostPath" => v.host_path = m.next_value()?,
            "flexVolume" => v.flex_volume = m.next_value()?,
            "csi" => v.csi = m.next_value()?,
            "projected" => v.projected = m.next_value()?,
            "awsElasticBlockStore" => v.aws_elastic_block_store = set(m)?,
            "azureDisk" => v.azure_disk = set(m)?,
            "azureFile" => v.azure_file = set(m)?,
            "cephfs" => v.cephfs = set(m)?,
            "cinder" => v.cinder = set(m)?,
            "configMap" => v.config_map = set(m)?,
            "downwardAPI" => v.downward_api = set(m)?,
            "emptyDir" => v.empty_dir = set(m)?,
            "ephemeral" => v.ephemeral = set(m)?,
            "fc" => v.fc = set(m)?,
            "flocker" => v.flocker = set(m)?,
            "gcePersistentDisk" => v.gce_persistent_disk = set(m)?,
            "gitRepo" => v.git_repo = set(m)?,
            "glusterfs" => v.glusterfs = set(m)?,
            "image" => v.image = set(m)?,
            "iscsi" => v.iscsi = set(m)?,
            "nfs" => v.nfs = set(m)?,
            "persistentVolumeClaim" => v.persistent_volume_claim = set(m)?,
            "photonPersistentDisk" => v.photon_persistent_disk = set(m)?,
            "portworxVolume" => v.portworx_volume = set(m)?,
            "quobyte" => v.quobyte = set(m)?,
            "rbd" => v.rbd = set(m)?,
            "scaleIO" => v.scale_io = set(m)?,
            "secret" => v.secret = set(m)?,
            "storageos" => v.storageos = set(m)?,
            "vsphereVolume" => v.vsphere_volume = set(m)?,
            _ => {
                m.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

/// A list of [`Filled`] items, lean; `None` for `null`.
struct LeanList<T>(std::marker::PhantomData<T>);

impl<T> LeanList<T> {
    fn new() -> Self {
        LeanList(std::marker::PhantomData)
    }
}

impl<'de, T: Filled> DeserializeSeed<'de> for LeanList<T> {
    type Value = Option<Vec<T>>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de, T: Filled> Visitor<'de> for LeanList<T> {
    type Value = Option<Vec<T>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a list of {}", T::WHAT)
    }

    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }

    fn visit_seq<S: SeqAccess<'de>>(self, mut s: S) -> Result<Self::Value, S::Error> {
        let mut out = Vec::with_capacity(s.size_hint().unwrap_or(0));
        while s.next_element_seed(Push(&mut out))?.is_some() {}
        Ok(Some(out))
    }
}

/// Reads the next item of a list into a new last element.
struct Push<'a, T>(&'a mut Vec<T>);

impl<'de, T: Filled> DeserializeSeed<'de> for Push<'_, T> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        self.0.push(T::default());
        let last = self.0.len() - 1;
        d.deserialize_map(Fill(&mut self.0[last]))
    }
}

/// An item's map, read into the item.
struct Fill<'a, T>(&'a mut T);

impl<'de, T: Filled> Visitor<'de> for Fill<'_, T> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(T::WHAT)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<(), A::Error> {
        while let Some(k) = next_key(&mut m)? {
            self.0.field(k.as_ref(), &mut m)?;
        }
        Ok(())
    }
}

/// A pod spec's container lists and volumes, read lean beside its other
/// fields.
#[derive(Default)]
struct Lists {
    containers: Option<Vec<Container>>,
    init: Option<Vec<Container>>,
    ephemeral: Option<Vec<EphemeralContainer>>,
    volumes: Option<Vec<Volume>>,
}

impl Lists {
    /// Puts the lists into `spec`, which was read without them.
    fn fill(self, spec: &mut PodSpec) {
        spec.volumes = self.volumes;
        spec.containers = self.containers.unwrap_or_default();
        spec.init_containers = self.init;
        spec.ephemeral_containers = self.ephemeral;
    }
}

struct Top {
    lean: bool,
}

impl<'de> Visitor<'de> for Top {
    type Value = Box<Object>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a Kubernetes object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Box<Object>, A::Error> {
        let mut out = Box::<Object>::default();
        while let Some(k) = next_key(&mut m)? {
            match k.as_ref() {
                "kind" => out.kind = m.next_value()?,
                "apiVersion" => out.api_version = m.next_value()?,
                "metadata" => {
                    let slim = m.next_value::<Option<SlimMeta>>()?.unwrap_or_default();
                    out.metadata = slim.meta;
                    out.marks = slim.marks;
                }
                "spec" => {
                    if let Some(spec) = m.next_value_seed(OrNull(SpecSeed { lean: self.lean }))? {
                        out.pod_spec = spec.pod;
                        out.templates = spec.templates;
                    }
                }
                _ => {
                    m.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(out)
    }
}

/// `spec` of any kind: a Pod's and the workloads' templates in one pass.
struct Spec {
    pod: Option<Box<PodSpec>>,
    templates: Vec<(&'static [&'static str], Box<PodTemplateSpec>)>,
}

struct SpecSeed {
    lean: bool,
}

impl<'de> Visitor<'de> for SpecSeed {
    type Value = Spec;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a spec")
    }

    fn visit_map<A: MapAccess<'de>>(self, m: A) -> Result<Self::Value, A::Error> {
        let mut templates = Vec::new();
        let mut ended = false;
        let mut lists = self.lean.then(Lists::default);
        let pod = serde::Deserialize::deserialize(PodFields {
            map: m,
            templates: Some(&mut templates),
            lists: lists.as_mut(),
            ended: &mut ended,
        });
        let pod = match pod {
            Ok(mut p) => {
                if let Some(lists) = lists {
                    lists.fill(&mut p);
                }
                Some(Box::new(p))
            }
            // The whole map was read, and then a field a Pod must have was
            // missing: not a Pod's spec (k8s-openapi defaults `containers`,
            // so not seen today). An error inside the map stands.
            Err(_) if ended => None,
            Err(e) => return Err(e),
        };
        Ok(Spec { pod, templates })
    }
}

/// The keys of a `spec` map for [`PodSpec`]'s own reader, less those read
/// aside: at the top of an object, those that start a template path (the
/// templates go to `templates`; only `activeDeadlineSeconds` is both a Pod's
/// and a workload's (a Job's), with the same type, so a workload's spec reads
/// as a Pod's without error: an empty one); when lean, the container lists
/// (to `lists`).
struct PodFields<'t, A> {
    map: A,
    templates: Option<&'t mut Vec<(&'static [&'static str], Box<PodTemplateSpec>)>>,
    /// The lean read's lists (`None`: the full read, templates below too).
    lists: Option<&'t mut Lists>,
    ended: &'t mut bool,
}

impl<'de, A: MapAccess<'de>> Deserializer<'de> for PodFields<'_, A> {
    type Error = A::Error;

    fn deserialize_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, A::Error> {
        v.visit_map(self)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map struct enum identifier ignored_any
    }
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for PodFields<'_, A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        loop {
            let Some(k) = next_key(&mut self.map)? else {
                *self.ended = true;
                return Ok(None);
            };
            if let Some(templates) = self.templates.as_deref_mut()
                && let Some(path) = SPEC_PATHS.iter().find(|p| p[1] == k.as_ref())
            {
                let lean = self.lists.is_some();
                if let Some(t) = template_at(&mut self.map, &path[2..], lean)? {
                    templates.push((path, t));
                }
                continue;
            }
            if let Some(lists) = self.lists.as_deref_mut() {
                let m = &mut self.map;
                match k.as_ref() {
                    "containers" => lists.containers = m.next_value_seed(LeanList::new())?,
                    "initContainers" => lists.init = m.next_value_seed(LeanList::new())?,
                    "ephemeralContainers" => lists.ephemeral = m.next_value_seed(LeanList::new())?,
                    "volumes" => lists.volumes = m.next_value_seed(LeanList::new())?,
                    _ => return seed.deserialize(CowStrDeserializer::new(k)).map(Some),
                }
                continue;
            }
            return seed.deserialize(CowStrDeserializer::new(k)).map(Some);
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, A::Error> {
        self.map.next_value_seed(seed)
    }
}

/// The pod template in the value `m` is at, or at `rest` below it (`None`
/// when a map on the way is null or lacks the key).
fn template_at<'de, A: MapAccess<'de>>(
    m: &mut A,
    rest: &'static [&'static str],
    lean: bool,
) -> Result<Option<Box<PodTemplateSpec>>, A::Error> {
    match (rest.is_empty(), lean) {
        (true, false) => Ok(m.next_value::<Option<PodTemplateSpec>>()?.map(Box::new)),
        (true, true) => m.next_value_seed(OrNull(LeanTemplate)),
        (false, _) => Ok(m.next_value_seed(OrNull(AtPath { rest, lean }))?.flatten()),
    }
}

/// A map on the way to a pod template: the template at `rest` below it.
struct AtPath {
    rest: &'static [&'static str],
    lean: bool,
}

impl<'de> Visitor<'de> for AtPath {
    type Value = Option<Box<PodTemplateSpec>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a map")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Self::Value, A::Error> {
        let mut out = None;
        while let Some(k) = next_key(&mut m)? {
            if self.rest.first() == Some(&k.as_ref()) {
                out = template_at(&mut m, &self.rest[1..], self.lean)?;
            } else {
                m.next_value::<IgnoredAny>()?;
            }
        }
        Ok(out)
    }
}

/// `null` as `None`, a map as what the visitor reads of it: the shape of
/// every optional map this reader goes into.
struct OrNull<V>(V);

impl<'de, V: Visitor<'de>> DeserializeSeed<'de> for OrNull<V> {
    type Value = Option<V::Value>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de, V: Visitor<'de>> Visitor<'de> for OrNull<V> {
    type Value = Option<V::Value>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.expecting(f)
    }

    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self.0).map(Some)
    }
}

/// A pod template (`metadata`, `spec`) with a lean spec: as k8s-openapi's
/// [`PodTemplateSpec`] reader, the container lists and volumes read by
/// [`Filled`].
struct LeanTemplate;

impl<'de> Visitor<'de> for LeanTemplate {
    type Value = Box<PodTemplateSpec>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a pod template")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Self::Value, A::Error> {
        let mut out = Box::<PodTemplateSpec>::default();
        while let Some(k) = next_key(&mut m)? {
            match k.as_ref() {
                "metadata" => out.metadata = m.next_value()?,
                "spec" => out.spec = m.next_value_seed(OrNull(LeanPodSpec))?,
                _ => {
                    m.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(out)
    }
}

/// A template's `spec`, lean.
struct LeanPodSpec;

impl<'de> Visitor<'de> for LeanPodSpec {
    type Value = PodSpec;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a pod spec")
    }

    fn visit_map<A: MapAccess<'de>>(self, m: A) -> Result<Self::Value, A::Error> {
        let mut lists = Lists::default();
        let mut ended = false;
        let mut spec: PodSpec = serde::Deserialize::deserialize(PodFields {
            map: m,
            templates: None,
            lists: Some(&mut lists),
            ended: &mut ended,
        })?;
        lists.fill(&mut spec);
        Ok(spec)
    }
}

/// A probe, lean ([`probe_without_unread`]); `None` for `null`.
fn probe<'de, A: MapAccess<'de>>(m: &mut A) -> Result<Option<Probe>, A::Error> {
    Ok(m.next_value_seed(OrNull(LeanHosts("a probe")))?
        .map(Hosts::probe))
}

/// A probe's or a lifecycle handler's `httpGet` and `tcpSocket`, each with
/// only its host; the rest of the map skipped.
#[derive(Default)]
struct Hosts {
    http_get: Option<HTTPGetAction>,
    tcp_socket: Option<TCPSocketAction>,
}

impl Hosts {
    /// The hosts of a fully read `httpGet` and `tcpSocket`.
    fn of(http_get: Option<HTTPGetAction>, tcp_socket: Option<TCPSocketAction>) -> Hosts {
        Hosts {
            http_get: http_get.map(http_host),
            tcp_socket: tcp_socket.map(tcp_host),
        }
    }

    fn probe(self) -> Probe {
        Probe {
            http_get: self.http_get,
            tcp_socket: self.tcp_socket,
            ..Probe::default()
        }
    }

    fn handler(self) -> LifecycleHandler {
        LifecycleHandler {
            http_get: self.http_get,
            tcp_socket: self.tcp_socket,
            ..LifecycleHandler::default()
        }
    }
}

/// Reads [`Hosts`] from a map of what it names.
struct LeanHosts(&'static str);

impl<'de> Visitor<'de> for LeanHosts {
    type Value = Hosts;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Hosts, A::Error> {
        let mut h = Hosts::default();
        while let Some(k) = next_key(&mut m)? {
            match k.as_ref() {
                "httpGet" => {
                    h.http_get = m
                        .next_value_seed(OrNull(HostOf))?
                        .map(|host| HTTPGetAction {
                            host,
                            ..HTTPGetAction::default()
                        });
                }
                "tcpSocket" => {
                    h.tcp_socket = m
                        .next_value_seed(OrNull(HostOf))?
                        .map(|host| TCPSocketAction {
                            host,
                            ..TCPSocketAction::default()
                        });
                }
                _ => {
                    m.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(h)
    }
}

/// The `host` of an action's map.
struct HostOf;

impl<'de> Visitor<'de> for HostOf {
    type Value = Option<String>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an action")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Option<String>, A::Error> {
        let mut host = None;
        while let Some(k) = next_key(&mut m)? {
            if k.as_ref() == "host" {
                host = m.next_value()?;
            } else {
                m.next_value::<IgnoredAny>()?;
            }
        }
        Ok(host)
    }
}

/// Lifecycle hooks, lean ([`lifecycle_without_unread`]).
struct LeanLifecycle;

impl<'de> Visitor<'de> for LeanLifecycle {
    type Value = Lifecycle;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("lifecycle hooks")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Lifecycle, A::Error> {
        let handler = |m: &mut A| -> Result<Option<LifecycleHandler>, A::Error> {
            Ok(m.next_value_seed(OrNull(LeanHosts("a lifecycle handler")))?
                .map(Hosts::handler))
        };
        let mut l = Lifecycle::default();
        while let Some(k) = next_key(&mut m)? {
            match k.as_ref() {
                "postStart" => l.post_start = handler(&mut m)?,
                "preStop" => l.pre_stop = handler(&mut m)?,
                _ => {
                    m.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(l)
    }
}

/// Any map, skipped (a value that is not a map is an error, as it is for
/// the type the map stands for).
struct AnyMap;

impl<'de> Visitor<'de> for AnyMap {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a map")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<(), A::Error> {
        while m.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(())
    }
}

/// `metadata` without `managedFields` and the last-applied annotation.
#[derive(Default)]
struct SlimMeta {
    meta: ObjectMeta,
    /// Last-applied configurations that held the marker.
    marks: usize,
}

impl<'de> serde::Deserialize<'de> for SlimMeta {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> Visitor<'de> for Visit {
            type Value = SlimMeta;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("object metadata")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<SlimMeta, A::Error> {
                let mut meta = ObjectMeta::default();
                let mut marks = 0;
                while let Some(k) = next_key(&mut m)? {
                    match k.as_ref() {
                        "name" => meta.name = m.next_value()?,
                        "generateName" => meta.generate_name = m.next_value()?,
                        "namespace" => meta.namespace = m.next_value()?,
                        "uid" => meta.uid = m.next_value()?,
                        "labels" => meta.labels = m.next_value()?,
                        "annotations" => {
                            if let Some(a) = m.next_value::<Option<Annotations>>()? {
                                meta.annotations = Some(a.kept);
                                marks = a.marks;
                            } else {
                                meta.annotations = None;
                                marks = 0;
                            }
                        }
                        "ownerReferences" => {
                            meta.owner_references =
                                m.next_value::<Option<Vec<OwnerReference>>>()?;
                        }
                        _ => {
                            m.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(SlimMeta { meta, marks })
            }
        }
        d.deserialize_map(Visit)
    }
}

/// Annotations without the last-applied configuration.
struct Annotations {
    kept: BTreeMap<String, String>,
    /// Whether the last-applied configuration held the marker (a repeated
    /// key: its last value, as for any other).
    marks: usize,
}

impl<'de> serde::Deserialize<'de> for Annotations {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> Visitor<'de> for Visit {
            type Value = Annotations;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of annotations")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Annotations, A::Error> {
                let mut kept = BTreeMap::new();
                let mut marks = 0;
                while let Some(k) = next_key(&mut m)? {
                    if k == LAST_APPLIED {
                        marks = usize::from(m.next_value::<Marked>()?.0);
                    } else {
                        kept.insert(k.into_owned(), m.next_value()?);
                    }
                }
                Ok(Annotations { kept, marks })
            }
        }
        d.deserialize_map(Visit)
    }
}

/// Any value, skipped; whether it was the marker of
/// [`super::last_applied`].
struct Marked(bool);

impl<'de> serde::Deserialize<'de> for Marked {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> Visitor<'de> for Visit {
            type Value = Marked;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any value")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Marked, E> {
                Ok(Marked(v == super::last_applied::MARKED))
            }
            fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<Marked, E> {
                Ok(Marked(false))
            }
            fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<Marked, E> {
                Ok(Marked(false))
            }
            fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<Marked, E> {
                Ok(Marked(false))
            }
            fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<Marked, E> {
                Ok(Marked(false))
            }
            fn visit_unit<E: serde::de::Error>(self) -> Result<Marked, E> {
                Ok(Marked(false))
            }
            fn visit_none<E: serde::de::Error>(self) -> Result<Marked, E> {
                Ok(Marked(false))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut s: A) -> Result<Marked, A::Error> {
                while s.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Marked(false))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Marked, A::Error> {
                while m.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Marked(false))
            }
        }
        d.deserialize_any(Visit)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn every_template_path_is_a_pods_spec_or_below_spec() {
        for kind in WORKLOAD_KINDS {
            let p = template_path(kind);
            assert!(
                p.is_empty() || (p.len() >= 2 && p[0] == "spec" && SPEC_PATHS.contains(&p)),
                "{kind}: {p:?}"
            );
        }
        assert!(SPEC_PATHS.len() >= 2, "{:?}", *SPEC_PATHS);
    }

    fn containers(image: &str) -> serde_json::Value {
        json!([{"name": "app", "image": image}])
    }

    #[test]
    fn the_kind_may_come_after_the_spec() {
        let raw = r#"{"spec": {"replicas": 2, "selector": {"matchLabels": {"a": "b"}},
                     "template": {"metadata": {"labels": {"a": "b"}},
                                  "spec": {"containers": [{"name": "app", "image": "web:1"}]}}},
                      "kind": "Deployment"}"#;
        let mut o = read(raw).expect("object");
        assert_eq!(o.kind.as_deref(), Some("Deployment"));
        let pod = o.pod_spec.as_ref().expect("read as a Pod's too");
        assert!(pod.containers.is_empty(), "{pod:?}");
        let t = o.template("Deployment").expect("template");
        assert_eq!(t.spec.containers[0].image.as_deref(), Some("web:1"));
        assert_eq!(t.metadata.labels.expect("labels")["a"], "b");
    }

    #[test]
    fn each_kind_gets_the_template_at_its_own_path() {
        let raw = json!({
            "kind": "CronJob",
            "spec": {"schedule": "* * * * *", "suspend": false,
                     "jobTemplate": {"spec": {"activeDeadlineSeconds": 30,
                         "template": {"spec": {"containers": containers("cron:1")}}}}},
        })
        .to_string();
        let mut o = read(&raw).expect("object");
        assert!(o.template("Deployment").is_none());
        let t = o.template("CronJob").expect("template");
        assert_eq!(t.spec.containers[0].image.as_deref(), Some("cron:1"));

        // A Job's activeDeadlineSeconds is also a Pod's field: no clash.
        let raw = json!({
            "kind": "Job",
            "spec": {"activeDeadlineSeconds": 30, "backoffLimit": 2,
                     "template": {"spec": {"containers": containers("job:1")}}},
        })
        .to_string();
        let t = read(&raw)
            .expect("object")
            .template("Job")
            .expect("template");
        assert_eq!(t.spec.containers[0].image.as_deref(), Some("job:1"));

        let raw = json!({
            "kind": "Pod",
            "spec": {"containers": containers("pod:1"), "hostPID": true},
        })
        .to_string();
        let mut o = read(&raw).expect("object");
        assert!(o.template("Deployment").is_none());
        let t = o.template("Pod").expect("pod spec");
        assert_eq!(t.spec.host_pid, Some(true));
    }

    #[test]
    fn keys_written_with_escapes_are_the_same_keys() {
        // Keys are borrowed from the text when they can be, and unescaped
        // when they must be: both read alike, at every level.
        let plain = r#"{"kind":"Deployment","metadata":{"name":"web","annotations":{"a":"1"}},"spec":{"template":{"metadata":{"labels":{"x":"y"}},"spec":{"hostPID":true,"containers":[{"name":"c","image":"web:1","securityContext":{"privileged":true}}]}}}}"#;
        let escaped = r#"{"k\u0069nd":"Deployment","m\u0065tadata":{"n\u0061me":"web","annot\u0061tions":{"\u0061":"1"}},"sp\u0065c":{"t\u0065mplate":{"metadata":{"l\u0061bels":{"x":"y"}},"sp\u0065c":{"host\u0050ID":true,"cont\u0061iners":[{"n\u0061me":"c","im\u0061ge":"web:1","securityCont\u0065xt":{"privileged":true}}]}}}}"#;
        for lean in [false, true] {
            let read = |raw: &str| {
                let o = if lean { read_lean(raw) } else { read(raw) };
                let mut o = o.expect("object");
                let template = o.template("Deployment").expect("template");
                (o.kind, o.metadata.name, o.metadata.annotations, template)
            };
            let got = read(escaped);
            assert_eq!(got, read(plain));
            let (kind, name, _, template) = got;
            assert_eq!(
                (kind.as_deref(), name.as_deref()),
                (Some("Deployment"), Some("web"))
            );
            assert_eq!(template.spec.host_pid, Some(true));
            assert_eq!(template.spec.containers[0].name, "c");
        }
    }

    /// A volume with every source set, by k8s-openapi's own field names.
    fn every_source() -> Volume {
        Volume {
            name: "all".into(),
            aws_elastic_block_store: Some(Default::default()),
            azure_disk: Some(Default::default()),
            azure_file: Some(Default::default()),
            cephfs: Some(Default::default()),
            cinder: Some(Default::default()),
            config_map: Some(Default::default()),
            csi: Some(Default::default()),
            downward_api: Some(Default::default()),
            empty_dir: Some(Default::default()),
            ephemeral: Some(Default::default()),
            fc: Some(Default::default()),
            flex_volume: Some(Default::default()),
            flocker: Some(Default::default()),
            gce_persistent_disk: Some(Default::default()),
            git_repo: Some(Default::default()),
            glusterfs: Some(Default::default()),
            host_path: Some(Default::default()),
            image: Some(Default::default()),
            iscsi: Some(Default::default()),
            nfs: Some(Default::default()),
            persistent_volume_claim: Some(Default::default()),
            photon_persistent_disk: Some(Default::default()),
            portworx_volume: Some(Default::default()),
            projected: Some(Default::default()),
            quobyte: Some(Default::default()),
            rbd: Some(Default::default()),
            scale_io: Some(Default::default()),
            secret: Some(Default::default()),
            storageos: Some(Default::default()),
            vsphere_volume: Some(Default::default()),
        }
    }

    #[test]
    fn every_volume_source_is_read_lean_under_its_own_name() {
        // The JSON names are k8s-openapi's (its serializer's), each source
        // in a volume of its own with contents, the read ones with what a
        // policy looks at.
        let all = serde_json::to_value(every_source()).expect("json");
        let all = all.as_object().expect("map");
        let mut volumes = Vec::new();
        for (key, empty) in all {
            if key == "name" {
                continue;
            }
            let contents = match key.as_str() {
                "hostPath" => json!({"path": "/var/run/docker.sock", "type": "Socket"}),
                "flexVolume" => json!({"driver": "example/lvm", "options": {"a": "b"}}),
                "csi" => json!({"driver": "inline.csi.example", "readOnly": true}),
                "projected" => json!({"sources": [
                    {"serviceAccountToken": {"path": "token", "audience": "vault"}},
                    {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}}]}),
                _ => {
                    let mut m = empty.as_object().cloned().unwrap_or_default();
                    m.insert("unreadByAnyCheck".into(), json!({"x": [1, 2]}));
                    serde_json::Value::Object(m)
                }
            };
            volumes.push(json!({"name": key, key.as_str(): contents}));
        }
        assert_eq!(volumes.len(), 30, "{all:?}");
        volumes.push(json!({"name": "unset", "emptyDir": null, "secret": {}, "secret": null}));
        let raw =
            json!({"kind": "Pod", "spec": {"containers": [], "volumes": volumes}}).to_string();
        let full = read(&raw).expect("full").pod_spec.expect("spec");
        let lean = read_lean(&raw).expect("lean").pod_spec.expect("spec");
        let (full, lean) = (full.volumes.expect("full"), lean.volumes.expect("lean"));
        assert_eq!(lean.len(), 31);
        for (f, l) in full.into_iter().zip(&lean) {
            assert_eq!(&volume_without_unread(f), l);
        }
        for l in &lean[..30] {
            assert!(
                crate::policy::psp::provider::volume_fs_type(l).is_some() || l.image.is_some(),
                "{}",
                l.name
            );
        }
        assert_eq!(
            lean[30],
            Volume {
                name: "unset".into(),
                ..Volume::default()
            }
        );
        assert_eq!(lean[0].name, "awsElasticBlockStore");
        // The sources listed as read are read: their contents kept.
        for key in READ_VOLUME_SOURCES {
            let v = lean.iter().find(|v| v.name == key).expect(key);
            let empty = Volume {
                name: key.into(),
                ..every_source()
            };
            assert_ne!(
                serde_json::to_value(v).expect("json")[key],
                serde_json::to_value(&empty).expect("json")[key],
                "{key}"
            );
        }
        assert!(lean.iter().any(|v| {
            v.host_path
                .as_ref()
                .is_some_and(|h| h.path == "/var/run/docker.sock")
        }));
    }

    #[test]
    fn probes_and_lifecycle_hooks_are_read_for_their_hosts() {
        let handler = json!({"httpGet": {"host": "10.0.0.1", "port": 80, "path": "/x", "scheme": "HTTPS",
                                         "httpHeaders": [{"name": "a", "value": "b"}]},
                             "tcpSocket": {"host": "node", "port": "p"},
                             "exec": {"command": ["nsenter"]}, "sleep": {"seconds": 1}});
        let mut probe = handler.clone();
        probe["grpc"] = json!({"port": 1});
        probe["periodSeconds"] = json!(3);
        probe["sleep"] = serde_json::Value::Null;
        let raw = json!({"kind": "Pod", "spec": {"containers": [{
            "name": "app",
            "livenessProbe": probe, "readinessProbe": {"tcpSocket": {"port": 1}}, "startupProbe": null,
            "lifecycle": {"postStart": handler, "preStop": {"exec": {"command": ["x"]}}, "stopSignal": "SIGKILL"}}]}})
        .to_string();
        let full = read(&raw).expect("full").pod_spec.expect("spec");
        let lean = read_lean(&raw).expect("lean").pod_spec.expect("spec");
        let (full, lean) = (&full.containers[0], &lean.containers[0]);
        assert_eq!(without_unread(full.clone()), *lean);
        let live = lean.liveness_probe.as_ref().expect("set");
        assert_eq!(
            live.http_get.as_ref().and_then(|h| h.host.as_deref()),
            Some("10.0.0.1")
        );
        assert_eq!(
            live.tcp_socket.as_ref().and_then(|t| t.host.as_deref()),
            Some("node")
        );
        assert_eq!(
            lean.readiness_probe,
            Some(Probe {
                tcp_socket: Some(TCPSocketAction::default()),
                ..Probe::default()
            })
        );
        assert_eq!(lean.startup_probe, None);
        let hooks = lean.lifecycle.as_ref().expect("set");
        assert_eq!(
            hooks
                .post_start
                .as_ref()
                .and_then(|h| h.http_get.as_ref())
                .and_then(|h| h.host.as_deref()),
            Some("10.0.0.1")
        );
        assert_eq!(hooks.pre_stop, Some(LifecycleHandler::default()));
        // Not a map where one must be: the lean read fails as the full one.
        for bad in [
            r#"{"livenessProbe": 1}"#,
            r#"{"livenessProbe": {"httpGet": []}}"#,
        ] {
            let mut c: serde_json::Value = serde_json::from_str(bad).expect("json");
            c["name"] = json!("app");
            let raw = json!({"kind": "Pod", "spec": {"containers": [c]}}).to_string();
            assert!(read(&raw).is_err() && read_lean(&raw).is_err(), "{bad}");
        }
        let raw =
            r#"{"kind":"Pod","spec":{"containers":[],"volumes":[{"name":"v","emptyDir":5}]}}"#;
        assert!(read(raw).is_err() && read_lean(raw).is_err());
    }

    #[test]
    fn a_field_of_the_wrong_type_is_not_read() {
        // An error inside the map stands (the slow path words it).
        assert!(read(r#"{"kind":"Pod","spec":{"hostPID":"yes","containers":[]}}"#).is_err());
        assert!(read(r#"{"kind":"Job","spec":{"activeDeadlineSeconds":"x"}}"#).is_err());
        assert!(read(r#"{"kind":"Pod","spec":null}"#).is_ok());
        assert!(read(r#"{"kind":"Pod","spec":[]}"#).is_err());
    }
}
