//! From one JSON object (as read from YAML or JSON) to the inventory: kinds,
//! API versions, typed parsing with k8s-openapi, and the normalised structs.

use k8s_openapi::api::apps::v1::{DaemonSetSpec, DeploymentSpec, ReplicaSetSpec, StatefulSetSpec};
use k8s_openapi::api::batch::v1::{CronJobSpec, JobSpec};
use k8s_openapi::api::core::v1::{
    NamespaceSpec, NamespaceStatus, PodSpec, PodTemplateSpec, ReplicationControllerSpec, Service,
    ServiceSpec, ServiceStatus,
};
use k8s_openapi::api::networking::v1::{NetworkPolicy, NetworkPolicySpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use serde_path_to_error::{Path, Segment};

use crate::model::{
    ConfigMapObject, Inventory, Namespace, NetworkPolicyObject, Origin, PodTemplate, ServiceObject,
    Workload, WorkloadKey,
};

/// A kind Portcullis reads: its accepted API versions (the first is the one
/// assumed when an object's kind is inferred from a file name) and the names a
/// file of such objects may have (`pods.jsonl`, `po.json`).
pub(super) struct KindSpec {
    pub kind: &'static str,
    pub api_versions: &'static [&'static str],
    pub file_names: &'static [&'static str],
}

const APPS: &[&str] = &[
    "apps/v1",
    "apps/v1beta2",
    "apps/v1beta1",
    "extensions/v1beta1",
];

pub(super) const KINDS: &[KindSpec] = &[
    KindSpec {
        kind: "Pod",
        api_versions: &["v1"],
        file_names: &["pods", "pod", "po"],
    },
    KindSpec {
        kind: "Deployment",
        api_versions: APPS,
        file_names: &["deployments", "deployment", "deploy", "dp"],
    },
    KindSpec {
        kind: "ReplicaSet",
        api_versions: APPS,
        file_names: &["replicasets", "replicaset", "rs"],
    },
    KindSpec {
        kind: "StatefulSet",
        api_versions: &["apps/v1", "apps/v1beta2", "apps/v1beta1"],
        file_names: &["statefulsets", "statefulset", "sts"],
    },
    KindSpec {
        kind: "DaemonSet",
        api_versions: APPS,
        file_names: &["daemonsets", "daemonset", "ds"],
    },
    KindSpec {
        kind: "Job",
        api_versions: &["batch/v1"],
        file_names: &["jobs", "job"],
    },
    KindSpec {
        kind: "CronJob",
        api_versions: &["batch/v1", "batch/v1beta1", "batch/v2alpha1"],
        file_names: &["cronjobs", "cronjob", "cj"],
    },
    KindSpec {
        kind: "ReplicationController",
        api_versions: &["v1"],
        file_names: &["replicationcontrollers", "replicationcontroller", "rc"],
    },
    KindSpec {
        kind: "Namespace",
        api_versions: &["v1"],
        file_names: &["namespaces", "namespace", "ns"],
    },
    KindSpec {
        kind: "Service",
        api_versions: &["v1"],
        file_names: &["services", "service", "svc"],
    },
    KindSpec {
        kind: "ConfigMap",
        api_versions: &["v1"],
        file_names: &["configmaps", "configmap", "cm"],
    },
    KindSpec {
        kind: "NetworkPolicy",
        api_versions: &["networking.k8s.io/v1", "extensions/v1beta1"],
        file_names: &["networkpolicies", "networkpolicy", "netpol", "np"],
    },
];

fn kind_spec(kind: &str) -> Option<&'static KindSpec> {
    KINDS.iter().find(|k| k.kind == kind)
}

/// The kind of the objects of a file such as `pods.jsonl`, from its stem.
pub(super) fn kind_from_file_name(file: &str) -> Option<&'static KindSpec> {
    let name = file.rsplit(['/', '\\']).next().unwrap_or(file);
    let stem = name.split('.').next().unwrap_or(name).to_ascii_lowercase();
    KINDS.iter().find(|k| k.file_names.contains(&stem.as_str()))
}

/// Kind and API version an object gets when it does not name them itself:
/// from its `*List`, or from the file name.
#[derive(Debug, Clone, Copy)]
pub(super) struct Implied<'a> {
    pub kind: &'a str,
    pub api_version: &'a str,
}

/// An object failed to load; the caller adds file, document and line.
pub(super) type Failure = String;

/// What one object turned out to be.
pub(super) enum Parsed {
    /// A `*List`: its items, to be read one by one (with what they inherit).
    List {
        kind: String,
        api_version: String,
        items: Vec<Value>,
    },
    Read,
    Skipped,
}

fn str_field<'v>(obj: &'v Map<String, Value>, field: &str) -> Result<Option<&'v str>, Failure> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(format!(
            "{field}: invalid type: {}, expected a string",
            json_type(other)
        )),
    }
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a map",
    }
}

/// How the object was written. YAML plain scalars that YAML 1.1 (what kubectl
/// reads) takes as numbers or booleans, such as `defaultMode: 0644` or
/// `privileged: yes`, arrive here as strings under YAML 1.2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Syntax {
    Yaml,
    Json,
}

/// The fields of one object, parsed with k8s-openapi types.
#[derive(Clone, Copy)]
struct Fields<'a> {
    obj: &'a Map<String, Value>,
    syntax: Syntax,
}

impl Fields<'_> {
    /// Deserialises `obj[field]` as `T`, naming the field path on error
    /// (`spec.template.spec.containers[0].securityContext.runAsUser: invalid type: …`).
    fn typed<T: DeserializeOwned>(self, field: &str) -> Result<Option<T>, Failure> {
        let Some(value) = self.obj.get(field).filter(|v| !v.is_null()) else {
            return Ok(None);
        };
        match serde_path_to_error::deserialize(value) {
            Ok(t) => Ok(Some(t)),
            Err(e) => {
                if self.syntax == Syntax::Yaml
                    && let Some(t) = retry_as_yaml_1_1(value, e.path())
                {
                    return Ok(Some(t));
                }
                let path = e.path().to_string();
                let inner = e.into_inner();
                Err(if path == "." {
                    format!("{field}: {inner}")
                } else {
                    format!("{field}.{path}: {inner}")
                })
            }
        }
    }
}

/// At most this many YAML 1.1 scalars are rewritten in one field.
const MAX_YAML_1_1_FIXES: usize = 32;

/// Retries a failed parse after reading the string at the failing path as YAML
/// 1.1 would (octal `0644`, `yes`/`no`/`on`/`off`, `1_000`), again for each
/// further failing path. Only strings at paths where a typed field rejected them
/// are touched, so labels and other strings stay as written.
fn retry_as_yaml_1_1<T: DeserializeOwned>(value: &Value, path: &Path) -> Option<T> {
    let mut fixed = value.clone();
    let mut path = path.clone();
    for _ in 0..MAX_YAML_1_1_FIXES {
        let slot = navigate(&mut fixed, &path)?;
        let Value::String(s) = slot else { return None };
        *slot = yaml_1_1_scalar(s)?;
        match serde_path_to_error::deserialize(&fixed) {
            Ok(t) => return Some(t),
            Err(e) if e.path().to_string() == path.to_string() => return None,
            Err(e) => path = e.path().clone(),
        }
    }
    None
}

fn navigate<'v>(mut value: &'v mut Value, path: &Path) -> Option<&'v mut Value> {
    for segment in path {
        value = match segment {
            Segment::Map { key } => value.get_mut(key.as_str())?,
            Segment::Seq { index } => value.get_mut(*index)?,
            Segment::Enum { .. } | Segment::Unknown => return None,
        };
    }
    Some(value)
}

/// A plain scalar as YAML 1.1 reads it, when that differs from YAML 1.2.
fn yaml_1_1_scalar(s: &str) -> Option<Value> {
    match s {
        "y" | "Y" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" => return Some(Value::Bool(true)),
        "n" | "N" | "no" | "No" | "NO" | "off" | "Off" | "OFF" => return Some(Value::Bool(false)),
        _ => {}
    }
    let (sign, digits) = match s.strip_prefix('-') {
        Some(rest) => (-1, rest),
        None => (1, s.strip_prefix('+').unwrap_or(s)),
    };
    let digits = digits.replace('_', "");
    let n = if digits.len() > 1
        && digits.starts_with('0')
        && digits.bytes().all(|b| (b'0'..=b'7').contains(&b))
    {
        i64::from_str_radix(&digits[1..], 8).ok()?
    } else if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) && digits != s {
        digits.parse::<i64>().ok()?
    } else {
        return None;
    };
    Some(Value::from(sign * n))
}

/// Applies YAML merge keys (`<<: *defaults`), which kubectl honours: keys of the
/// merged mappings are added where the mapping does not set them itself.
pub(super) fn apply_merge_keys(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if let Some(merged) = map.remove("<<") {
                let sources = match merged {
                    Value::Array(items) => items,
                    other => vec![other],
                };
                for source in sources {
                    if let Value::Object(source) = source {
                        for (k, v) in source {
                            map.entry(k).or_insert(v);
                        }
                    }
                }
            }
            map.values_mut().for_each(apply_merge_keys);
        }
        Value::Array(items) => items.iter_mut().for_each(apply_merge_keys),
        _ => {}
    }
}

fn required<T>(value: Option<T>, what: &str) -> Result<T, Failure> {
    value.ok_or_else(|| format!("{what} is missing"))
}

/// Reads one object into `inv`, or returns the items of a list to read next.
pub(super) fn read_object(
    mut value: Value,
    implied: Option<Implied<'_>>,
    syntax: Syntax,
    origin: &Origin,
    inv: &mut Inventory,
) -> Result<Parsed, Failure> {
    let Value::Object(obj) = &mut value else {
        return Err(format!(
            "not a Kubernetes object: the document is {}",
            json_type(&value)
        ));
    };
    let kind = str_field(obj, "kind")?.map(str::to_owned);
    let api_version = str_field(obj, "apiVersion")?.map(str::to_owned);
    let (kind, api_version) = match (kind, implied) {
        (Some(kind), _) => {
            let api = api_version
                .or_else(|| {
                    implied
                        .filter(|i| i.kind == kind)
                        .map(|i| i.api_version.to_owned())
                })
                .ok_or("object has no apiVersion")?;
            (kind, api)
        }
        (None, Some(i)) => {
            let api = api_version.unwrap_or_else(|| i.api_version.to_owned());
            obj.insert("kind".into(), Value::String(i.kind.to_owned()));
            obj.insert("apiVersion".into(), Value::String(api.clone()));
            (i.kind.to_owned(), api)
        }
        (None, None) => return Err("object has no kind".into()),
    };

    if kind.ends_with("List") {
        match obj.get_mut("items") {
            Some(Value::Array(items)) => {
                let items = std::mem::take(items);
                return Ok(Parsed::List {
                    kind,
                    api_version,
                    items,
                });
            }
            Some(Value::Null) => {
                return Ok(Parsed::List {
                    kind,
                    api_version,
                    items: Vec::new(),
                });
            }
            Some(other) => {
                return Err(format!(
                    "items: invalid type: {}, expected a list",
                    json_type(other)
                ));
            }
            None => {}
        }
    }

    let Some(spec) = kind_spec(&kind) else {
        *inv.skipped.entry(kind).or_default() += 1;
        return Ok(Parsed::Skipped);
    };
    if !spec.api_versions.contains(&api_version.as_str()) {
        // Same kind name, other API group (a CRD): not ours.
        *inv.skipped
            .entry(format!("{kind} ({api_version})"))
            .or_default() += 1;
        return Ok(Parsed::Skipped);
    }

    let fields = Fields { obj: &*obj, syntax };
    let metadata: ObjectMeta = fields.typed("metadata")?.unwrap_or_default();
    let name = match metadata.name.as_deref() {
        Some(n) if !n.is_empty() => n.to_owned(),
        _ if metadata.generate_name.is_some() => {
            return Err("metadata.name is missing (only metadata.generateName is set)".into());
        }
        _ => return Err("metadata.name is missing".into()),
    };
    let namespace = metadata
        .namespace
        .clone()
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "default".to_owned());

    match spec.kind {
        "Namespace" => {
            fields.typed::<NamespaceSpec>("spec")?;
            fields.typed::<NamespaceStatus>("status")?;
            inv.namespaces.push(Namespace {
                name,
                labels: metadata.labels.unwrap_or_default(),
                annotations: metadata.annotations.unwrap_or_default(),
                origin: origin.clone(),
            });
        }
        "Service" => {
            let service = Service {
                spec: fields.typed::<ServiceSpec>("spec")?,
                status: fields.typed::<ServiceStatus>("status")?,
                metadata,
            };
            inv.services.push(ServiceObject {
                namespace,
                name,
                service,
                origin: origin.clone(),
            });
        }
        "NetworkPolicy" => {
            let policy = NetworkPolicy {
                spec: fields.typed::<NetworkPolicySpec>("spec")?,
                metadata,
            };
            inv.network_policies.push(NetworkPolicyObject {
                namespace,
                name,
                policy,
                origin: origin.clone(),
            });
        }
        // Only `data` is kept (for the advisor); `binaryData` is not text.
        "ConfigMap" => {
            let data: std::collections::BTreeMap<String, String> =
                fields.typed("data")?.unwrap_or_default();
            inv.config_maps.push(ConfigMapObject {
                namespace,
                name,
                data,
                origin: origin.clone(),
            });
        }
        kind => {
            let legacy = api_version != spec.api_versions[0];
            let parts = match workload_parts(kind, fields, &metadata, legacy) {
                Ok(parts) => parts,
                Err(strict) => {
                    // Early v1 objects spelt some enums as objects; read them as
                    // today's strings, or report the strict error.
                    let mut fixed = Value::Object(obj.clone());
                    if !fix_early_v1(&mut fixed) {
                        return Err(strict);
                    }
                    let Value::Object(fixed) = fixed else {
                        return Err(strict);
                    };
                    workload_parts(
                        kind,
                        Fields {
                            obj: &fixed,
                            syntax,
                        },
                        &metadata,
                        legacy,
                    )
                    .map_err(|_| strict)?
                }
            };
            inv.workloads.push(Workload {
                key: WorkloadKey::new(namespace, kind, name),
                api_version,
                labels: metadata.labels.unwrap_or_default(),
                annotations: metadata.annotations.unwrap_or_default(),
                replicas: parts.replicas,
                schedule: parts.schedule,
                template: parts.template,
                folded: Vec::new(),
                origin: origin.clone(),
                raw: value,
            });
        }
    }
    Ok(Parsed::Read)
}

struct WorkloadParts {
    template: PodTemplate,
    replicas: Option<i32>,
    schedule: Option<String>,
}

fn template_of(t: Option<PodTemplateSpec>, path: &str) -> Result<PodTemplate, Failure> {
    let t = required(t, path)?;
    Ok(PodTemplate {
        metadata: t.metadata.unwrap_or_default(),
        spec: required(t.spec, &format!("{path}.spec"))?,
    })
}

/// The pod template, replicas and schedule of a workload object.
fn workload_parts(
    kind: &str,
    fields: Fields<'_>,
    metadata: &ObjectMeta,
    legacy: bool,
) -> Result<WorkloadParts, Failure> {
    // Before apps/v1 the selector was optional (defaulted from the template
    // labels); parse such objects with an empty one, leaving `raw` as read.
    let patched;
    let obj = match fields.obj.get("spec") {
        Some(Value::Object(spec)) if legacy && !spec.contains_key("selector") => {
            let mut spec = spec.clone();
            spec.insert("selector".into(), Value::Object(Map::new()));
            patched = Map::from_iter([("spec".to_owned(), Value::Object(spec))]);
            &patched
        }
        _ => fields.obj,
    };
    let fields = Fields {
        obj,
        syntax: fields.syntax,
    };
    let mut parts = WorkloadParts {
        template: PodTemplate::default(),
        replicas: None,
        schedule: None,
    };
    match kind {
        "Pod" => {
            parts.template = PodTemplate {
                metadata: metadata.clone(),
                spec: required(fields.typed::<PodSpec>("spec")?, "spec")?,
            };
        }
        "Deployment" => {
            let spec = required(fields.typed::<DeploymentSpec>("spec")?, "spec")?;
            parts.replicas = Some(spec.replicas.unwrap_or(1));
            parts.template = template_of(Some(spec.template), "spec.template")?;
        }
        "ReplicaSet" => {
            let spec = required(fields.typed::<ReplicaSetSpec>("spec")?, "spec")?;
            parts.replicas = Some(spec.replicas.unwrap_or(1));
            parts.template = template_of(spec.template, "spec.template")?;
        }
        "StatefulSet" => {
            let spec = required(fields.typed::<StatefulSetSpec>("spec")?, "spec")?;
            parts.replicas = Some(spec.replicas.unwrap_or(1));
            parts.template = template_of(Some(spec.template), "spec.template")?;
        }
        "DaemonSet" => {
            let spec = required(fields.typed::<DaemonSetSpec>("spec")?, "spec")?;
            parts.template = template_of(Some(spec.template), "spec.template")?;
        }
        "Job" => {
            let spec = required(fields.typed::<JobSpec>("spec")?, "spec")?;
            parts.template = template_of(Some(spec.template), "spec.template")?;
        }
        "CronJob" => {
            let spec = required(fields.typed::<CronJobSpec>("spec")?, "spec")?;
            parts.schedule = Some(spec.schedule);
            let job = required(spec.job_template.spec, "spec.jobTemplate.spec")?;
            parts.template = template_of(Some(job.template), "spec.jobTemplate.spec.template")?;
        }
        "ReplicationController" => {
            let spec = required(fields.typed::<ReplicationControllerSpec>("spec")?, "spec")?;
            parts.replicas = Some(spec.replicas.unwrap_or(1));
            parts.template = template_of(spec.template, "spec.template")?;
        }
        other => return Err(format!("internal: {other} is not a workload kind")),
    }
    Ok(parts)
}

/// Rewrites `restartPolicy: {always: {}}` (the shape of API responses recorded
/// before v1 settled, such as kubeclient's 2015 fixtures) to `restartPolicy: Always`,
/// anywhere in the object. Returns whether anything changed.
fn fix_early_v1(value: &mut Value) -> bool {
    match value {
        Value::Object(map) => {
            let mut changed = false;
            for (key, v) in map.iter_mut() {
                if key == "restartPolicy"
                    && let Value::Object(inner) = v
                    && inner.len() == 1
                {
                    let word = match inner.keys().next().map(String::as_str) {
                        Some("always") => Some("Always"),
                        Some("onFailure") => Some("OnFailure"),
                        Some("never") => Some("Never"),
                        _ => None,
                    };
                    if let Some(word) = word {
                        *v = Value::String(word.to_owned());
                        changed = true;
                        continue;
                    }
                }
                changed |= fix_early_v1(v);
            }
            changed
        }
        Value::Array(items) => items.iter_mut().fold(false, |acc, v| fix_early_v1(v) | acc),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_1_1_scalars() {
        let cases: [(&str, Option<Value>); 11] = [
            ("0644", Some(Value::from(420))),
            ("-010", Some(Value::from(-8))),
            ("+0755", Some(Value::from(493))),
            ("1_000", Some(Value::from(1000))),
            ("yes", Some(Value::Bool(true))),
            ("Off", Some(Value::Bool(false))),
            ("0", None),
            ("12", None),
            ("08", None),
            ("0x1F", None),
            ("root", None),
        ];
        for (text, want) in cases {
            assert_eq!(yaml_1_1_scalar(text), want, "{text}");
        }
    }

    #[test]
    fn kinds_from_file_names() {
        let kind = |f: &str| kind_from_file_name(f).map(|k| k.kind);
        assert_eq!(kind("dump/pods.jsonl"), Some("Pod"));
        assert_eq!(kind("Deployments.jsonl"), Some("Deployment"));
        assert_eq!(kind(r"c:\dump\svc.jsonl"), Some("Service"));
        assert_eq!(kind("networkpolicies.jsonl"), Some("NetworkPolicy"));
        assert_eq!(kind("events.jsonl"), None);
    }
}
