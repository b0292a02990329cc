//! Reading PodSecurityPolicy YAML or JSON into profiles: one policy, several
//! documents, a `PodSecurityPolicyList` or a `kind: List`, validated as the
//! apiserver would, with errors naming file, document, policy and field.

use std::collections::BTreeMap;
use std::fmt;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::spec::{API_VERSION, LEGACY_API_VERSION, PodSecurityPolicySpec, Profile};
use super::validate::validate;

/// Annotations that say nothing about the policy and are not kept.
const DROPPED_ANNOTATIONS: [&str; 1] = ["kubectl.kubernetes.io/last-applied-configuration"];

/// A problem with one policy (or one document) of an imported file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportError {
    pub file: String,
    /// 1-based YAML document, when the error is inside one.
    pub document: Option<usize>,
    /// 1-based item of a `PodSecurityPolicyList` or `List`.
    pub item: Option<usize>,
    /// 1-based line, for syntax errors.
    pub line: Option<usize>,
    /// The policy's `metadata.name`, when known.
    pub policy: Option<String>,
    /// The field, e.g. `spec.runAsUser.rule`.
    pub field: Option<String>,
    pub message: String,
}

impl fmt::Display for ImportError {
    /// `psp.yaml (document 2) policy "restricted": spec.runAsUser.rule: unsupported value …`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        match (self.document, self.item) {
            (Some(d), Some(i)) => write!(f, " (document {d}, item {i})")?,
            (Some(d), None) => write!(f, " (document {d})")?,
            (None, Some(i)) => write!(f, " (item {i})")?,
            (None, None) => {}
        }
        if let Some(p) = &self.policy {
            write!(f, " policy {p:?}")?;
        }
        f.write_str(": ")?;
        if let Some(field) = &self.field {
            write!(f, "{field}: ")?;
        }
        f.write_str(&self.message)
    }
}

struct Ctx<'a> {
    file: &'a str,
    document: usize,
    item: Option<usize>,
}

impl Ctx<'_> {
    fn error(&self, policy: Option<&str>, field: Option<String>, message: String) -> ImportError {
        ImportError {
            file: self.file.to_owned(),
            document: Some(self.document),
            item: self.item,
            line: None,
            policy: policy.map(str::to_owned),
            field,
            message,
        }
    }
}

/// Reads every PodSecurityPolicy in `text` (YAML, one or more documents, or JSON).
///
/// Accepts `PodSecurityPolicy` objects (`policy/v1beta1`, or the older
/// `extensions/v1beta1`), `PodSecurityPolicyList`s and `kind: List`s of them.
/// Each policy is defaulted (`allowPrivilegeEscalation` omitted → `true`) and
/// validated; all problems are returned together. Empty documents are skipped,
/// and a file with no policy at all gives `Ok(vec![])`.
pub fn import(file: &str, text: &str) -> Result<Vec<Profile>, Vec<ImportError>> {
    let mut profiles: Vec<(Profile, usize)> = Vec::new();
    let mut errors = Vec::new();

    for (i, doc) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
        let document = i + 1;
        let value = match Value::deserialize(doc) {
            Ok(v) => v,
            Err(e) => {
                errors.push(ImportError {
                    file: file.to_owned(),
                    document: Some(document),
                    item: None,
                    line: e.location().map(|l| l.line()),
                    policy: None,
                    field: None,
                    message: e.to_string(),
                });
                break;
            }
        };
        let ctx = Ctx {
            file,
            document,
            item: None,
        };
        let Value::Object(obj) = value else {
            if !value.is_null() {
                errors.push(ctx.error(None, None, "expected a Kubernetes object".into()));
            }
            continue;
        };
        let kind = obj.get("kind").and_then(Value::as_str).unwrap_or_default();
        match kind {
            "PodSecurityPolicy" => match policy(&ctx, &obj, true) {
                Ok(p) => profiles.push((p, document)),
                Err(e) => errors.extend(e),
            },
            "PodSecurityPolicyList" | "List" => {
                let items = match obj.get("items") {
                    None | Some(Value::Null) => Vec::new(),
                    Some(Value::Array(items)) => items.clone(),
                    Some(_) => {
                        errors.push(ctx.error(
                            None,
                            Some("items".into()),
                            "expected a list".into(),
                        ));
                        continue;
                    }
                };
                for (j, item) in items.iter().enumerate() {
                    let ctx = Ctx {
                        file,
                        document,
                        item: Some(j + 1),
                    };
                    let Value::Object(item) = item else {
                        errors.push(ctx.error(None, None, "expected a Kubernetes object".into()));
                        continue;
                    };
                    let item_kind = item.get("kind").and_then(Value::as_str);
                    let typed_list = kind == "PodSecurityPolicyList";
                    match item_kind {
                        Some("PodSecurityPolicy") => {}
                        None if typed_list => {}
                        other => {
                            errors.push(ctx.error(
                                None,
                                None,
                                format!(
                                    "kind {:?} is not a PodSecurityPolicy",
                                    other.unwrap_or_default()
                                ),
                            ));
                            continue;
                        }
                    }
                    match policy(&ctx, item, !typed_list) {
                        Ok(p) => profiles.push((p, document)),
                        Err(e) => errors.extend(e),
                    }
                }
            }
            "" => errors.push(ctx.error(
                None,
                Some("kind".into()),
                "missing; expected PodSecurityPolicy, PodSecurityPolicyList or List".into(),
            )),
            other => errors.push(ctx.error(
                None,
                Some("kind".into()),
                format!(
                    "{other:?} is not a PodSecurityPolicy; expected PodSecurityPolicy, \
                     PodSecurityPolicyList or List"
                ),
            )),
        }
    }

    // Admission identifies policies by name.
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for (p, document) in &profiles {
        if let Some(first) = seen.insert(&p.name, *document) {
            errors.push(ImportError {
                file: file.to_owned(),
                document: Some(*document),
                item: None,
                line: None,
                policy: Some(p.name.clone()),
                field: Some("metadata.name".into()),
                message: format!("duplicate policy name (also in document {first})"),
            });
        }
    }

    if errors.is_empty() {
        Ok(profiles.into_iter().map(|(p, _)| p).collect())
    } else {
        Err(errors)
    }
}

/// One PodSecurityPolicy object → a defaulted, validated profile.
fn policy(
    ctx: &Ctx,
    obj: &Map<String, Value>,
    require_api_version: bool,
) -> Result<Profile, Vec<ImportError>> {
    let mut errors = Vec::new();

    let metadata: ObjectMeta = match obj.get("metadata") {
        None | Some(Value::Null) => ObjectMeta::default(),
        Some(m) => serde_json::from_value(m.clone()).unwrap_or_else(|e| {
            errors.push(ctx.error(None, Some("metadata".into()), e.to_string()));
            ObjectMeta::default()
        }),
    };
    let name = metadata.name.clone().unwrap_or_default();
    let named = (!name.is_empty()).then_some(name.as_str());

    match obj.get("apiVersion").and_then(Value::as_str) {
        Some(API_VERSION | LEGACY_API_VERSION) => {}
        None if !require_api_version => {}
        other => errors.push(ctx.error(
            named,
            Some("apiVersion".into()),
            match other {
                None => format!("missing; expected {API_VERSION}"),
                Some(v) => format!("{v:?} is not supported; expected {API_VERSION}"),
            },
        )),
    }

    let spec = match obj.get("spec") {
        None | Some(Value::Null) => {
            errors.push(ctx.error(named, Some("spec".into()), "required".into()));
            PodSecurityPolicySpec::default()
        }
        Some(Value::Object(spec)) => {
            let mut spec = Value::Object(spec.clone());
            strip_nulls(&mut spec);
            match &spec {
                Value::Object(spec) => spec_from(ctx, named, spec, &mut errors),
                _ => PodSecurityPolicySpec::default(),
            }
        }
        Some(_) => {
            errors.push(ctx.error(named, Some("spec".into()), "expected a mapping".into()));
            PodSecurityPolicySpec::default()
        }
    };

    let mut annotations = metadata.annotations.unwrap_or_default();
    for k in DROPPED_ANNOTATIONS {
        annotations.remove(k);
    }
    let mut profile = Profile {
        name: name.clone(),
        annotations,
        spec,
    };
    // policy/v1beta1 defaulting.
    profile.spec.allow_privilege_escalation.get_or_insert(true);

    if errors.is_empty() {
        for e in validate(&profile) {
            errors.push(ctx.error(named, Some(e.field), e.message));
        }
    }
    if errors.is_empty() {
        Ok(profile)
    } else {
        Err(errors)
    }
}

/// Drops `null` members of objects, at any depth: the API reads them as unset.
fn strip_nulls(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|_, v| !v.is_null());
            m.values_mut().for_each(strip_nulls);
        }
        Value::Array(a) => a.iter_mut().for_each(strip_nulls),
        _ => {}
    }
}

/// Deserialises the spec field by field, so a type error names its field.
fn spec_from(
    ctx: &Ctx,
    policy: Option<&str>,
    spec: &Map<String, Value>,
    errors: &mut Vec<ImportError>,
) -> PodSecurityPolicySpec {
    let before = errors.len();
    for (key, value) in spec {
        let one = Value::Object(Map::from_iter([(key.clone(), value.clone())]));
        if let Err(e) = serde_json::from_value::<PodSecurityPolicySpec>(one) {
            let msg = e.to_string();
            let message = if msg.starts_with(&format!("unknown field `{key}`")) {
                "unknown field".to_owned()
            } else {
                msg
            };
            errors.push(ctx.error(policy, Some(format!("spec.{key}")), message));
        }
    }
    if errors.len() > before {
        return PodSecurityPolicySpec::default();
    }
    serde_json::from_value(Value::Object(spec.clone())).unwrap_or_else(|e| {
        errors.push(ctx.error(policy, Some("spec".into()), e.to_string()));
        PodSecurityPolicySpec::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "apiVersion: policy/v1beta1
kind: PodSecurityPolicy
metadata:
  name: restricted
spec:
  seLinux: {rule: RunAsAny}
  runAsUser: {rule: RunAsAny}
  supplementalGroups: {rule: RunAsAny}
  fsGroup: {rule: RunAsAny}
";

    fn errors(text: &str) -> Vec<String> {
        match import("psp.yaml", text) {
            Ok(p) => panic!("expected errors, got {p:?}"),
            Err(e) => e.iter().map(ToString::to_string).collect(),
        }
    }

    /// BASE with `extra` under `spec:` (indented by two spaces), replacing the
    /// BASE fields `extra` sets.
    fn with(extra: &str) -> String {
        let keys: Vec<&str> = extra.lines().filter_map(|l| l.split(':').next()).collect();
        let mut s = String::new();
        for line in BASE.lines() {
            let key = line.trim_start().split(':').next().unwrap_or_default();
            if line.starts_with("  ") && !line.starts_with("   ") && keys.contains(&key) {
                continue;
            }
            s.push_str(line);
            s.push('\n');
        }
        for line in extra.lines() {
            s.push_str("  ");
            s.push_str(line);
            s.push('\n');
        }
        s
    }

    #[test]
    fn imports_one_policy_with_defaults() {
        let p = import("psp.yaml", BASE).expect("valid");
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].name, "restricted");
        assert_eq!(p[0].spec.allow_privilege_escalation, Some(true));
        assert_eq!(p[0].spec.run_as_user.rule, "RunAsAny");
    }

    #[test]
    fn imports_documents_lists_and_json() {
        let two = format!(
            "---\n{BASE}---\n# comment only\n---\n{}",
            BASE.replace("restricted", "other")
        );
        let p = import("psp.yaml", &two).expect("valid");
        assert_eq!(
            p.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
            ["restricted", "other"]
        );

        let item: serde_json::Value = serde_yaml_ng::from_str(BASE).expect("yaml");
        let mut bare = item.clone();
        bare.as_object_mut().expect("object").remove("apiVersion");
        bare.as_object_mut().expect("object").remove("kind");
        let list = serde_json::json!({
            "apiVersion": "policy/v1beta1", "kind": "PodSecurityPolicyList", "items": [bare]
        });
        let p = import("list.json", &list.to_string()).expect("valid");
        assert_eq!(p[0].name, "restricted");

        let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": [item]});
        assert_eq!(import("l.json", &list.to_string()).expect("valid").len(), 1);

        assert_eq!(import("empty.yaml", "").expect("valid"), vec![]);
        let empty = "kind: PodSecurityPolicyList\napiVersion: policy/v1beta1\nitems: []\n";
        assert_eq!(import("e.yaml", empty).expect("valid"), vec![]);
    }

    #[test]
    fn nulls_read_as_unset() {
        let p = import(
            "psp.yaml",
            &with("volumes: null\nrunAsGroup: null\nhostPorts: [{min: 1, max: null}]"),
        )
        .map_err(|e| e.iter().map(ToString::to_string).collect::<Vec<_>>());
        assert_eq!(
            p.expect_err("max 0 < min 1")
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
            [
                r#"psp.yaml (document 1) policy "restricted": spec.hostPorts[0]: min 1 is greater than max 0"#
            ]
        );
        let p = import("psp.yaml", &with("volumes: null\nrunAsGroup: null")).expect("valid");
        assert!(p[0].spec.volumes.is_empty());
        assert_eq!(p[0].spec.run_as_group, None);
    }

    #[test]
    fn round_trips_through_json_and_psp() {
        let text = with(
            "hostPorts: [{min: 80, max: 443}]\nvolumes: [secret, '*']\nallowedHostPaths: [{pathPrefix: /var/log, readOnly: true}]\nrunAsGroup: {rule: MayRunAs, ranges: [{min: 1, max: 2}]}\nruntimeClass: {allowedRuntimeClassNames: [gvisor], defaultRuntimeClassName: gvisor}\nallowedCSIDrivers: [{name: x}]",
        );
        let p = import("psp.yaml", &text).expect("valid").remove(0);
        let json = serde_json::to_string(&p).expect("json");
        let back: Profile = serde_json::from_str(&json).expect("back");
        assert_eq!(back, p);
        let psp = serde_yaml_ng::to_string(&p.to_psp()).expect("yaml");
        assert!(psp.contains("allowedCSIDrivers"), "{psp}");
        assert!(psp.contains("hostPorts"), "{psp}");
        assert_eq!(import("again.yaml", &psp).expect("valid"), vec![p]);
    }

    #[test]
    fn keeps_policy_annotations_drops_last_applied() {
        let text = BASE.replace(
            "  name: restricted\n",
            "  name: restricted\n  annotations:\n    kubectl.kubernetes.io/last-applied-configuration: '{}'\n    seccomp.security.alpha.kubernetes.io/allowedProfileNames: runtime/default\n",
        );
        let p = import("psp.yaml", &text).expect("valid").remove(0);
        assert_eq!(
            p.annotations.keys().collect::<Vec<_>>(),
            ["seccomp.security.alpha.kubernetes.io/allowedProfileNames"]
        );
    }

    #[test]
    fn validation_errors_name_file_document_policy_and_field() {
        let cases: &[(&str, &str)] = &[
            (
                "runAsUser: {rule: MustRunAsRoot}",
                r#"spec.runAsUser.rule: unsupported value "MustRunAsRoot"; expected MustRunAs, MustRunAsNonRoot or RunAsAny"#,
            ),
            (
                "runAsUser: {rule: MustRunAs}",
                "spec.runAsUser.ranges: at least one range is required when the rule is MustRunAs",
            ),
            (
                "runAsUser: {rule: MustRunAs, ranges: [{min: 10, max: 5}]}",
                "spec.runAsUser.ranges[0]: min 10 is greater than max 5",
            ),
            (
                "fsGroup: {rule: MustRunAs, ranges: [{min: -1, max: 5}]}",
                "spec.fsGroup.ranges[0].min: -1 is negative",
            ),
            (
                "fsGroup: {rule: MayRunAs}",
                "spec.fsGroup.ranges: at least one range is required when the rule is MayRunAs",
            ),
            (
                "supplementalGroups: {}",
                "spec.supplementalGroups.rule: required; expected MustRunAs, MayRunAs or RunAsAny",
            ),
            (
                "runAsGroup: {rule: Whatever}",
                r#"spec.runAsGroup.rule: unsupported value "Whatever"; expected MustRunAs, MayRunAs or RunAsAny"#,
            ),
            (
                "seLinux: {rule: MustRunAs}",
                "spec.seLinux.seLinuxOptions: required when the rule is MustRunAs",
            ),
            (
                "volumes: [secret, hostpath]",
                r#"spec.volumes[1]: unsupported value "hostpath"; expected one of azureFile"#,
            ),
            (
                "volumes: [none]",
                r#"spec.volumes[0]: unsupported value "none": PodSecurityPolicy has no "none" volume type"#,
            ),
            (
                "hostPorts: [{min: 9000, max: 8000}]",
                "spec.hostPorts[0]: min 9000 is greater than max 8000",
            ),
            (
                "hostPorts: [{min: 0, max: 70000}]",
                "spec.hostPorts[0].max: 70000 is outside 0-65535",
            ),
            (
                "requiredDropCapabilities: [NET_RAW]\nallowedCapabilities: [NET_ADMIN, NET_RAW]",
                r#"spec.allowedCapabilities[1]: "NET_RAW" is also in requiredDropCapabilities"#,
            ),
            (
                "requiredDropCapabilities: [NET_RAW]\ndefaultAddCapabilities: [NET_RAW]",
                r#"spec.defaultAddCapabilities[0]: "NET_RAW" is also in requiredDropCapabilities"#,
            ),
            (
                "requiredDropCapabilities: [NET_RAW]\nallowedCapabilities: ['*']",
                r#"spec.requiredDropCapabilities: must be empty when allowedCapabilities contains "*""#,
            ),
            (
                "allowPrivilegeEscalation: false\ndefaultAllowPrivilegeEscalation: true",
                "spec.defaultAllowPrivilegeEscalation: cannot be true when allowPrivilegeEscalation is false",
            ),
            (
                "allowedHostPaths: [{pathPrefix: /var/../etc}]",
                r#"spec.allowedHostPaths[0].pathPrefix: "/var/../etc" must not contain "..""#,
            ),
            (
                "allowedHostPaths: [{readOnly: true}]",
                "spec.allowedHostPaths[0].pathPrefix: required",
            ),
            (
                "allowedFlexVolumes: [{driver: ''}]",
                "spec.allowedFlexVolumes[0].driver: required",
            ),
            (
                "allowedCSIDrivers: [{}]",
                "spec.allowedCSIDrivers[0].name: required",
            ),
            (
                "allowedUnsafeSysctls: ['Kernel.msg*']",
                r#"spec.allowedUnsafeSysctls[0]: "Kernel.msg*" is not a valid sysctl pattern"#,
            ),
            (
                "forbiddenSysctls: ['kernel.*.x']",
                r#"spec.forbiddenSysctls[0]: "kernel.*.x" is not a valid sysctl pattern"#,
            ),
            (
                "forbiddenSysctls: ['*', kernel.sem]",
                r#"spec.forbiddenSysctls: if "*" is present, no other sysctl may be listed"#,
            ),
            (
                "allowedUnsafeSysctls: ['kernel.msg*']\nforbiddenSysctls: [kernel.msgmax]",
                r#"spec.forbiddenSysctls[0]: "kernel.msgmax" overlaps with allowedUnsafeSysctls "kernel.msg*""#,
            ),
            (
                "allowedUnsafeSysctls: ['kernel.msg*']\nforbiddenSysctls: ['kernel.*']",
                r#"spec.allowedUnsafeSysctls[0]: "kernel.msg*" overlaps with forbiddenSysctls "kernel.*""#,
            ),
            (
                "allowedUnsafeSysctls: [kernel.sem]\nforbiddenSysctls: [kernel.sem]",
                r#"spec.allowedUnsafeSysctls[0]: "kernel.sem" overlaps with forbiddenSysctls "kernel.sem""#,
            ),
            (
                "allowedProcMountTypes: [Default, Masked]",
                r#"spec.allowedProcMountTypes[1]: unsupported value "Masked"; expected Default or Unmasked"#,
            ),
            (
                "runtimeClass: {allowedRuntimeClassNames: ['*', gvisor]}",
                r#"spec.runtimeClass.allowedRuntimeClassNames: "*" must be the only entry"#,
            ),
            (
                "runtimeClass: {allowedRuntimeClassNames: [gvisor], defaultRuntimeClassName: kata}",
                r#"spec.runtimeClass.defaultRuntimeClassName: "kata" is not in allowedRuntimeClassNames"#,
            ),
            (
                "runtimeClass: {allowedRuntimeClassNames: [Kata]}",
                r#"spec.runtimeClass.allowedRuntimeClassNames[0]: "Kata" is not a valid RuntimeClass name"#,
            ),
            ("runAsUsr: {rule: RunAsAny}", "spec.runAsUsr: unknown field"),
            (
                "runAsUser: {rul: RunAsAny}",
                "spec.runAsUser: unknown field `rul`, expected `rule` or `ranges`",
            ),
            (
                "privileged: maybe",
                "spec.privileged: invalid type: string \"maybe\", expected a boolean",
            ),
        ];
        let mut failures = Vec::new();
        for (extra, want) in cases {
            let got = errors(&with(extra));
            let want = format!("psp.yaml (document 1) policy \"restricted\": {want}");
            if !got.iter().any(|g| g.starts_with(&want)) {
                failures.push(format!("{extra}\n  want: {want}\n  got:  {got:#?}"));
            }
        }
        assert!(failures.is_empty(), "\n{}", failures.join("\n"));
    }

    #[test]
    fn annotation_errors() {
        let cases = [
            (
                "seccomp.security.alpha.kubernetes.io/allowedProfileNames: 'runtime/default,foo'",
                r#"metadata.annotations[seccomp.security.alpha.kubernetes.io/allowedProfileNames]: "foo" is not a valid seccomp profile"#,
            ),
            (
                "seccomp.security.alpha.kubernetes.io/defaultProfileName: localhost/../x",
                r#"metadata.annotations[seccomp.security.alpha.kubernetes.io/defaultProfileName]: "localhost/../x" is not a valid seccomp profile"#,
            ),
            (
                "apparmor.security.beta.kubernetes.io/allowedProfileNames: '*'",
                r#"metadata.annotations[apparmor.security.beta.kubernetes.io/allowedProfileNames]: AppArmor has no "*" wildcard"#,
            ),
            (
                "apparmor.security.beta.kubernetes.io/defaultProfileName: docker-default",
                r#"metadata.annotations[apparmor.security.beta.kubernetes.io/defaultProfileName]: "docker-default" is not a valid AppArmor profile"#,
            ),
        ];
        for (ann, want) in cases {
            let text = BASE.replace(
                "  name: restricted\n",
                &format!("  name: restricted\n  annotations:\n    {ann}\n"),
            );
            let got = errors(&text);
            let want = format!("psp.yaml (document 1) policy \"restricted\": {want}");
            assert!(got.iter().any(|g| g.starts_with(&want)), "{want}\n{got:#?}");
        }
        let ok = BASE.replace(
            "  name: restricted\n",
            "  name: restricted\n  annotations:\n    seccomp.security.alpha.kubernetes.io/allowedProfileNames: 'runtime/default,docker/default,unconfined,localhost/p.json,*'\n    apparmor.security.beta.kubernetes.io/allowedProfileNames: 'runtime/default,localhost/foo,unconfined'\n",
        );
        import("ok.yaml", &ok).expect("valid annotations");
    }

    #[test]
    fn document_level_errors() {
        let got = errors(&format!("{BASE}---\nkind: Pod\napiVersion: v1\n"));
        assert_eq!(
            got,
            [
                r#"psp.yaml (document 2): kind: "Pod" is not a PodSecurityPolicy; expected PodSecurityPolicy, PodSecurityPolicyList or List"#
            ]
        );

        let got = errors(&BASE.replace("policy/v1beta1", "policy/v1"));
        assert_eq!(
            got,
            [
                r#"psp.yaml (document 1) policy "restricted": apiVersion: "policy/v1" is not supported; expected policy/v1beta1"#
            ]
        );

        let got = errors(&format!("{BASE}---\n{BASE}"));
        assert_eq!(
            got,
            [
                r#"psp.yaml (document 2) policy "restricted": metadata.name: duplicate policy name (also in document 1)"#
            ]
        );

        let got = errors("kind: List\napiVersion: v1\nitems:\n- kind: Pod\n");
        assert_eq!(
            got,
            [r#"psp.yaml (document 1, item 1): kind "Pod" is not a PodSecurityPolicy"#]
        );

        let got = errors(&BASE.replace("  name: restricted\n", "  labels: {}\n"));
        assert_eq!(got, ["psp.yaml (document 1): metadata.name: required"]);

        let got =
            errors("kind: PodSecurityPolicy\napiVersion: policy/v1beta1\nmetadata: {name: x}\n");
        assert_eq!(got, [r#"psp.yaml (document 1) policy "x": spec: required"#]);

        let got = errors(&format!("{BASE}---\nkind: [unclosed\n"));
        assert_eq!(got.len(), 1);
        assert!(got[0].starts_with("psp.yaml:"), "{got:?}");
        assert!(got[0].contains("(document 2)"), "{got:?}");
    }

    #[test]
    fn several_errors_in_one_policy_are_all_reported() {
        let got = errors(&with(
            "runAsUser: {rule: MustRunAsRoot}\nvolumes: [none]\nhostPorts: [{min: 2, max: 1}]",
        ));
        assert_eq!(got.len(), 3, "{got:#?}");
    }
}
