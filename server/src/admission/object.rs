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

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::LazyLock;

use k8s_openapi::api::core::v1::{PodSpec, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use serde::de::value::CowStrDeserializer;
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};

use crate::model::{PodTemplate, WORKLOAD_KINDS, template_path};

/// The annotation holding a copy of the whole object: never read by a check.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

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
    pod_spec: Option<PodSpec>,
    /// The pod templates found at the [`SPEC_PATHS`], in reading order.
    templates: Vec<(&'static [&'static str], PodTemplateSpec)>,
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
                spec,
            });
        }
        // The last one read wins, as with a repeated key anywhere else.
        let i = self.templates.iter().rposition(|(p, _)| *p == path)?;
        let t = self.templates.swap_remove(i).1;
        Some(PodTemplate {
            metadata: t.metadata.unwrap_or_default(),
            spec: t.spec?,
        })
    }
}

/// Reads `raw` as an object (of any kind).
pub fn read(raw: &str) -> Result<Object, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_str(raw);
    let object = serde::Deserialize::deserialize(&mut de)?;
    de.end()?;
    Ok(object)
}

impl<'de> serde::Deserialize<'de> for Object {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Object, D::Error> {
        d.deserialize_map(Top)
    }
}

struct Top;

impl<'de> Visitor<'de> for Top {
    type Value = Object;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a Kubernetes object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Object, A::Error> {
        let mut out = Object::default();
        while let Some(k) = m.next_key::<Cow<'de, str>>()? {
            match k.as_ref() {
                "kind" => out.kind = m.next_value()?,
                "apiVersion" => out.api_version = m.next_value()?,
                "metadata" => {
                    out.metadata = m.next_value::<Option<SlimMeta>>()?.unwrap_or_default().0;
                }
                "spec" => {
                    if let Some(spec) = m.next_value_seed(SpecSeed)? {
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
    pod: Option<PodSpec>,
    templates: Vec<(&'static [&'static str], PodTemplateSpec)>,
}

struct SpecSeed;

impl<'de> DeserializeSeed<'de> for SpecSeed {
    type Value = Option<Spec>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de> Visitor<'de> for SpecSeed {
    type Value = Option<Spec>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a spec")
    }

    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }

    fn visit_map<A: MapAccess<'de>>(self, m: A) -> Result<Self::Value, A::Error> {
        let mut templates = Vec::new();
        let mut ended = false;
        let pod = serde::Deserialize::deserialize(PodFields {
            map: m,
            templates: &mut templates,
            ended: &mut ended,
        });
        let pod = match pod {
            Ok(p) => Some(p),
            // The whole map was read, and then a field a Pod must have was
            // missing: not a Pod's spec (k8s-openapi defaults `containers`,
            // so not seen today). An error inside the map stands.
            Err(_) if ended => None,
            Err(e) => return Err(e),
        };
        Ok(Some(Spec { pod, templates }))
    }
}

/// The keys of a `spec` map for [`PodSpec`]'s own reader, less those that
/// start a template path, whose templates are read aside. Only
/// `activeDeadlineSeconds` is both a Pod's and a workload's (a Job's), with
/// the same type, so a workload's spec reads as a Pod's without error (an
/// empty one).
struct PodFields<'t, A> {
    map: A,
    templates: &'t mut Vec<(&'static [&'static str], PodTemplateSpec)>,
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
            let Some(k) = self.map.next_key::<Cow<'de, str>>()? else {
                *self.ended = true;
                return Ok(None);
            };
            if let Some(path) = SPEC_PATHS.iter().find(|p| p[1] == k.as_ref()) {
                if let Some(t) = self.map.next_value_seed(AtPath { rest: &path[2..] })? {
                    self.templates.push((path, t));
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

/// The pod template at `rest` below the current map; `None` for null.
struct AtPath {
    rest: &'static [&'static str],
}

impl<'de> DeserializeSeed<'de> for AtPath {
    type Value = Option<PodTemplateSpec>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de> Visitor<'de> for AtPath {
    type Value = Option<PodTemplateSpec>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a map")
    }

    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        if self.rest.is_empty() {
            serde::Deserialize::deserialize(d).map(Some)
        } else {
            d.deserialize_map(self)
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Self::Value, A::Error> {
        let mut out = None;
        while let Some(k) = m.next_key::<Cow<'de, str>>()? {
            if self.rest.first() == Some(&k.as_ref()) {
                out = m.next_value_seed(AtPath {
                    rest: &self.rest[1..],
                })?;
            } else {
                m.next_value::<IgnoredAny>()?;
            }
        }
        Ok(out)
    }
}

/// `metadata` without `managedFields` and the last-applied annotation.
#[derive(Default)]
struct SlimMeta(ObjectMeta);

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
                while let Some(k) = m.next_key::<Cow<'de, str>>()? {
                    match k.as_ref() {
                        "name" => meta.name = m.next_value()?,
                        "generateName" => meta.generate_name = m.next_value()?,
                        "namespace" => meta.namespace = m.next_value()?,
                        "uid" => meta.uid = m.next_value()?,
                        "labels" => meta.labels = m.next_value()?,
                        "annotations" => {
                            meta.annotations = m.next_value::<Option<Annotations>>()?.map(|a| a.0);
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
                Ok(SlimMeta(meta))
            }
        }
        d.deserialize_map(Visit)
    }
}

/// Annotations without the last-applied configuration.
struct Annotations(BTreeMap<String, String>);

impl<'de> serde::Deserialize<'de> for Annotations {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> Visitor<'de> for Visit {
            type Value = Annotations;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of annotations")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Annotations, A::Error> {
                let mut out = BTreeMap::new();
                while let Some(k) = m.next_key::<Cow<'de, str>>()? {
                    if k == LAST_APPLIED {
                        m.next_value::<IgnoredAny>()?;
                    } else {
                        out.insert(k.into_owned(), m.next_value()?);
                    }
                }
                Ok(Annotations(out))
            }
        }
        d.deserialize_map(Visit)
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
    fn a_field_of_the_wrong_type_is_not_read() {
        // An error inside the map stands (the slow path words it).
        assert!(read(r#"{"kind":"Pod","spec":{"hostPID":"yes","containers":[]}}"#).is_err());
        assert!(read(r#"{"kind":"Job","spec":{"activeDeadlineSeconds":"x"}}"#).is_err());
        assert!(read(r#"{"kind":"Pod","spec":null}"#).is_ok());
        assert!(read(r#"{"kind":"Pod","spec":[]}"#).is_err());
    }
}
