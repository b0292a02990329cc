//! The object of a review read in one pass, straight from its JSON text into
//! k8s-openapi types: `kind`, `apiVersion`, the parts of `metadata` a review
//! uses, and the pod template at [`crate::model::template_path`] of its kind.
//! Everything else (`managedFields`, `status`, the rest of `spec`, the
//! last-applied annotation) is skipped without being built.
//!
//! This is the fast path: it does not word errors. When it fails, the webhook
//! reads the object again with the manifest loader to say precisely what is
//! wrong (see `parse_workload` in the parent module).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use k8s_openapi::api::core::v1::{PodSpec, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};

use crate::model::{PodTemplate, template_path};

/// The annotation holding a copy of the whole object: never read by a check.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// What the webhook reads of an object.
#[derive(Debug, Default)]
pub struct Object {
    pub kind: Option<String>,
    pub api_version: Option<String>,
    /// `name`, `generateName`, `namespace`, `uid`, `labels`, `annotations`
    /// (without the last-applied configuration) and `ownerReferences`.
    pub metadata: ObjectMeta,
    /// The pod template at the kind's template path; `None` when it or its
    /// `spec` is missing or null. For a Pod (empty path) only the `spec` is
    /// set: its metadata is the object's, copied by the caller once it has
    /// filled in the name and namespace from the request.
    pub template: Option<PodTemplate>,
}

/// Reads `raw` as an object of `kind` (whose template path is followed).
pub fn read(raw: &str, kind: &str) -> Result<Object, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_str(raw);
    let object = TopSeed {
        path: template_path(kind),
    }
    .deserialize(&mut de)?;
    de.end()?;
    Ok(object)
}

struct TopSeed {
    path: &'static [&'static str],
}

impl<'de> DeserializeSeed<'de> for TopSeed {
    type Value = Object;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Object, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for TopSeed {
    type Value = Object;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a Kubernetes object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Object, A::Error> {
        let mut out = Object::default();
        let mut spec: Option<PodSpec> = None;
        let mut template: Option<PodTemplateSpec> = None;
        while let Some(k) = m.next_key::<Cow<'de, str>>()? {
            match k.as_ref() {
                "kind" => out.kind = m.next_value()?,
                "apiVersion" => out.api_version = m.next_value()?,
                "metadata" => {
                    out.metadata = m.next_value::<Option<SlimMeta>>()?.unwrap_or_default().0;
                }
                "spec" if self.path.is_empty() => spec = m.next_value()?,
                k if self.path.first() == Some(&k) => {
                    template = m.next_value_seed(AtPath {
                        rest: &self.path[1..],
                    })?;
                }
                _ => {
                    m.next_value::<IgnoredAny>()?;
                }
            }
        }
        out.template = if self.path.is_empty() {
            // A Pod's template metadata is its own: see [`Object::template`].
            spec.map(|spec| PodTemplate {
                metadata: ObjectMeta::default(),
                spec,
            })
        } else {
            template.and_then(|t| {
                Some(PodTemplate {
                    metadata: t.metadata.unwrap_or_default(),
                    spec: t.spec?,
                })
            })
        };
        Ok(out)
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
