//! Unit tests for PSP admission: every field's rule, table-driven, with PSP's
//! exact messages (denied) or the exact patch (allowed); then ValidatePod-only
//! paths that mutation makes unreachable through `admit`, policy selection, and
//! the patch on a pod with every kind of container.
//!
//! A policy is written as extra `spec` lines over a permissive base (all rules
//! RunAsAny, volumes `*`); a line `---` starts the policy's annotations. Pods
//! are YAML; `$C` stands for `{name: app}`.

use k8s_openapi::api::core::v1::{Pod, PodSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::{Map, Value};

use super::*;
use crate::model::Control;

const BASE: &str = "seLinux: {rule: RunAsAny}
runAsUser: {rule: RunAsAny}
supplementalGroups: {rule: RunAsAny}
fsGroup: {rule: RunAsAny}
volumes: ['*']";

fn yaml_map(text: &str) -> Map<String, Value> {
    if text.trim().is_empty() {
        return Map::new();
    }
    match serde_yaml_ng::from_str(text) {
        Ok(Value::Object(m)) => m,
        other => panic!("not a mapping: {other:?}\n{text}"),
    }
}

/// A profile named `name`: BASE overridden by `extra` (see the module docs),
/// through `import` so it is defaulted and validated.
fn psp(name: &str, extra: &str) -> Profile {
    let (spec_text, ann_text) = extra.split_once("---").unwrap_or((extra, ""));
    let mut spec = yaml_map(BASE);
    spec.extend(yaml_map(spec_text));
    let doc = serde_json::json!({
        "apiVersion": "policy/v1beta1",
        "kind": "PodSecurityPolicy",
        "metadata": {"name": name, "annotations": yaml_map(ann_text)},
        "spec": spec,
    });
    match import("test.yaml", &doc.to_string()) {
        Ok(mut p) => p.remove(0),
        Err(e) => panic!("{name}: {e:?}"),
    }
}

fn pod(yaml: &str) -> (ObjectMeta, PodSpec) {
    let yaml = yaml.replace("$C", "{name: app}");
    let pod: Pod = serde_yaml_ng::from_str(&yaml).unwrap_or_else(|e| panic!("{e}\n{yaml}"));
    (pod.metadata, pod.spec.unwrap_or_default())
}

/// The message when denied; `allowed` or `allowed: <op> <path> <value>; …` when admitted.
fn outcome(a: &Admission) -> String {
    if !a.allowed {
        return a.message.clone();
    }
    let ops: Vec<String> = a
        .patch
        .iter()
        .map(|op| match &op.value {
            Some(v) => format!("{} {} {v}", op.op, op.path),
            None => format!("{} {}", op.op, op.path),
        })
        .collect();
    if ops.is_empty() {
        "allowed".into()
    } else {
        format!("allowed: {}", ops.join("; "))
    }
}

fn deny(errors: &[&str]) -> String {
    format!(
        "PodSecurityPolicy: unable to admit pod: [{}]",
        errors.join(" ")
    )
}

/// Runs (name, policy extra, pod, expected outcome) on CREATE; reports all mismatches.
fn run_table(cases: &[(&str, &str, &str, &str)]) {
    let mut failures = Vec::new();
    for (name, extra, pod_yaml, want) in cases {
        let profile = psp("p", extra);
        let (meta, spec) = pod(pod_yaml);
        let a = admit(
            std::slice::from_ref(&profile),
            &meta,
            &spec,
            Operation::Create,
        );
        let got = outcome(&a);
        if got != *want {
            failures.push(format!("{name}:\n  want: {want}\n  got:  {got}"));
        }
        // Whatever the verdict, the patch must turn the pod into `mutated`.
        let mut doc = serde_json::json!({"metadata": meta, "spec": spec});
        let want_doc = serde_json::json!({"metadata": a.mutated.metadata, "spec": a.mutated.spec});
        if let Err(e) = patch::tests::apply(&mut doc, &a.patch) {
            failures.push(format!("{name}: patch does not apply: {e}"));
        } else if doc != want_doc {
            failures.push(format!("{name}: patch does not give the mutated pod"));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

/// The errors `ValidatePod` reports for the pod as it is (no mutation first).
fn validate_only(extra: &str, pod_yaml: &str) -> Vec<String> {
    let profile = psp("p", extra);
    let (meta, spec) = pod(pod_yaml);
    let provider = Provider::new(&profile).expect("valid policy");
    provider
        .validate(&meta, &spec)
        .iter()
        .map(ToString::to_string)
        .collect()
}

#[test]
fn privileged_and_host_namespaces() {
    run_table(&[
        (
            "privileged denied",
            "",
            "spec: {containers: [{name: app, securityContext: {privileged: true}}]}",
            &deny(&[
                "spec.containers[0].securityContext.privileged: Invalid value: true: Privileged containers are not allowed",
            ]),
        ),
        (
            "privileged false is fine",
            "",
            "spec: {containers: [{name: app, securityContext: {privileged: false}}]}",
            "allowed",
        ),
        (
            "privileged allowed",
            "privileged: true",
            "spec: {containers: [{name: app, securityContext: {privileged: true}}]}",
            "allowed",
        ),
        (
            "ephemeral and init containers are checked, in order",
            "",
            "spec: {containers: [$C], initContainers: [{name: i, securityContext: {privileged: true}}],
                    ephemeralContainers: [{name: e, securityContext: {privileged: true}}]}",
            &deny(&[
                "spec.initContainers[0].securityContext.privileged: Invalid value: true: Privileged containers are not allowed",
                "spec.ephemeralContainers[0].securityContext.privileged: Invalid value: true: Privileged containers are not allowed",
            ]),
        ),
        (
            "host namespaces, reported once at pod level",
            "",
            "spec: {hostNetwork: true, hostPID: true, hostIPC: true, containers: [$C, {name: b}]}",
            &deny(&[
                "spec.securityContext.hostNetwork: Invalid value: true: Host network is not allowed to be used",
                "spec.securityContext.hostPID: Invalid value: true: Host PID is not allowed to be used",
                "spec.securityContext.hostIPC: Invalid value: true: Host IPC is not allowed to be used",
            ]),
        ),
        (
            "host namespaces allowed",
            "hostNetwork: true\nhostPID: true\nhostIPC: true",
            "spec: {hostPID: true, hostIPC: true, containers: [$C]}",
            "allowed",
        ),
    ]);
}

#[test]
fn host_ports() {
    run_table(&[
        (
            "out of range, ranges printed a-b and a",
            "hostPorts: [{min: 1, max: 10}, {min: 443, max: 443}]",
            "spec: {containers: [{name: app, ports: [{containerPort: 80, hostPort: 80}, {containerPort: 1, hostPort: 10}]}]}",
            &deny(&[
                "spec.containers[0].hostPort: Invalid value: 80: Host port 80 is not allowed to be used. Allowed ports: [1-10,443]",
            ]),
        ),
        (
            "no ranges allow none; hostPort 0 is no host port",
            "",
            "spec: {containers: [{name: app, ports: [{containerPort: 80, hostPort: 0}, {containerPort: 81, hostPort: 81}]}]}",
            &deny(&[
                "spec.containers[0].hostPort: Invalid value: 81: Host port 81 is not allowed to be used. Allowed ports: []",
            ]),
        ),
        (
            "hostNetwork copies containerPort to hostPort for init containers too",
            "hostNetwork: true\nhostPorts: [{min: 8080, max: 8080}]",
            "spec: {hostNetwork: true, initContainers: [{name: i, ports: [{containerPort: 9090}]}],
                    containers: [{name: app, ports: [{containerPort: 8080}]}]}",
            &deny(&[
                "spec.initContainers[0].hostPort: Invalid value: 9090: Host port 9090 is not allowed to be used. Allowed ports: [8080]",
            ]),
        ),
        (
            "the defaulted hostPort is not part of the patch",
            "hostNetwork: true\nhostPorts: [{min: 8080, max: 8080}]\nrunAsUser: {rule: MustRunAs, ranges: [{min: 1000, max: 1000}]}",
            "spec: {hostNetwork: true, containers: [{name: app, ports: [{containerPort: 8080}]}]}",
            r#"allowed: add /spec/containers/0/securityContext {"runAsUser":1000}"#,
        ),
    ]);
}

#[test]
fn capabilities() {
    run_table(&[
        (
            "default add written to a container without capabilities",
            "defaultAddCapabilities: [NET_BIND_SERVICE]",
            "spec: {containers: [$C]}",
            r#"allowed: add /spec/containers/0/securityContext {"capabilities":{"add":["NET_BIND_SERVICE"]}}"#,
        ),
        (
            "lists rebuilt sorted; existing add kept",
            "defaultAddCapabilities: [SETUID, CHOWN]\nallowedCapabilities: [NET_ADMIN]",
            "spec: {containers: [{name: app, securityContext: {capabilities: {add: [NET_ADMIN]}}}]}",
            r#"allowed: replace /spec/containers/0/securityContext/capabilities/add ["CHOWN","NET_ADMIN","SETUID"]"#,
        ),
        (
            "required drop appended",
            "requiredDropCapabilities: [NET_RAW]\nallowedCapabilities: [NET_ADMIN]",
            "spec: {containers: [{name: app, securityContext: {capabilities: {add: [NET_ADMIN]}}}]}",
            r#"allowed: add /spec/containers/0/securityContext/capabilities/drop ["NET_RAW"]"#,
        ),
        (
            "a dropped default add is not added and nothing changes",
            "defaultAddCapabilities: [NET_BIND_SERVICE]",
            "spec: {containers: [{name: app, securityContext: {capabilities: {drop: [NET_BIND_SERVICE]}}}]}",
            "allowed",
        ),
        (
            "one error per capability not allowed",
            "allowedCapabilities: [NET_ADMIN]",
            "spec: {containers: [{name: app, securityContext: {capabilities: {add: [SYS_ADMIN, NET_ADMIN, NET_RAW]}}}]}",
            &deny(&[
                r#"spec.containers[0].securityContext.capabilities.add: Invalid value: "SYS_ADMIN": capability may not be added"#,
                r#"spec.containers[0].securityContext.capabilities.add: Invalid value: "NET_RAW": capability may not be added"#,
            ]),
        ),
        (
            "names are opaque: CAP_ prefix and case matter",
            "allowedCapabilities: [NET_ADMIN]",
            "spec: {containers: [{name: app, securityContext: {capabilities: {add: [CAP_NET_ADMIN, net_admin]}}}]}",
            &deny(&[
                r#"spec.containers[0].securityContext.capabilities.add: Invalid value: "CAP_NET_ADMIN": capability may not be added"#,
                r#"spec.containers[0].securityContext.capabilities.add: Invalid value: "net_admin": capability may not be added"#,
            ]),
        ),
        (
            "wildcard allows any add",
            "allowedCapabilities: ['*']",
            "spec: {containers: [{name: app, securityContext: {capabilities: {add: [SYS_ADMIN]}}}]}",
            "allowed",
        ),
        (
            "adding a required drop fails on add only",
            "requiredDropCapabilities: [NET_RAW]",
            "spec: {containers: [{name: app, securityContext: {capabilities: {add: [NET_RAW]}}}]}",
            &deny(&[
                r#"spec.containers[0].securityContext.capabilities.add: Invalid value: "NET_RAW": capability may not be added"#,
            ]),
        ),
    ]);
    assert_eq!(
        validate_only(
            "requiredDropCapabilities: [NET_RAW, SYS_ADMIN]",
            "spec: {containers: [{name: app, securityContext: {capabilities: {drop: [ALL]}}}]}"
        ),
        [
            r#"spec.containers[0].securityContext.capabilities.drop: Invalid value: []core.Capability{"ALL"}: NET_RAW is required to be dropped but was not found"#,
            r#"spec.containers[0].securityContext.capabilities.drop: Invalid value: []core.Capability{"ALL"}: SYS_ADMIN is required to be dropped but was not found"#,
        ]
    );
    assert_eq!(
        validate_only(
            "defaultAddCapabilities: [CHOWN]",
            "spec: {containers: [$C]}"
        ),
        [
            "spec.containers[0].securityContext.capabilities: Invalid value: null: required capabilities are not set on the securityContext"
        ]
    );
}

#[test]
fn run_as_user() {
    let must =
        "runAsUser: {rule: MustRunAs, ranges: [{min: 1000, max: 2000}, {min: 3000, max: 4000}]}";
    let non_root = "runAsUser: {rule: MustRunAsNonRoot}";
    run_table(&[
        (
            "MustRunAs: first min on every container, never on the pod",
            must,
            "spec: {containers: [$C], ephemeralContainers: [{name: e}]}",
            r#"allowed: add /spec/containers/0/securityContext {"runAsUser":1000}; add /spec/ephemeralContainers/0/securityContext {"runAsUser":1000}"#,
        ),
        (
            "MustRunAs: out of range, ranges printed like Go",
            must,
            "spec: {containers: [{name: app, securityContext: {runAsUser: 2500}}]}",
            &deny(&[
                "spec.containers[0].securityContext.runAsUser: Invalid value: 2500: must be in the ranges: [{1000 2000} {3000 4000}]",
            ]),
        ),
        (
            "MustRunAs: a bad pod value is reported on every container",
            must,
            "spec: {securityContext: {runAsUser: 5}, containers: [$C, {name: b}]}",
            &deny(&[
                "spec.containers[0].securityContext.runAsUser: Invalid value: 5: must be in the ranges: [{1000 2000} {3000 4000}]",
                "spec.containers[1].securityContext.runAsUser: Invalid value: 5: must be in the ranges: [{1000 2000} {3000 4000}]",
            ]),
        ),
        (
            "MustRunAs: range bounds are inclusive",
            must,
            "spec: {containers: [{name: app, securityContext: {runAsUser: 4000}}]}",
            "allowed",
        ),
        (
            "NonRoot: runAsNonRoot written when both unset",
            non_root,
            "spec: {containers: [$C]}",
            r#"allowed: add /spec/containers/0/securityContext {"runAsNonRoot":true}"#,
        ),
        (
            "NonRoot: root UID forbidden",
            non_root,
            "spec: {containers: [{name: app, securityContext: {runAsUser: 0}}]}",
            &deny(&[
                "spec.containers[0].securityContext.runAsUser: Invalid value: 0: running with the root UID is forbidden",
            ]),
        ),
        (
            "NonRoot: runAsNonRoot false fails first",
            non_root,
            "spec: {securityContext: {runAsNonRoot: false}, containers: [{name: app, securityContext: {runAsUser: 0}}]}",
            &deny(&[
                "spec.containers[0].securityContext.runAsNonRoot: Invalid value: false: must be true",
            ]),
        ),
        (
            "NonRoot: inherited pod runAsNonRoot, no write",
            non_root,
            "spec: {securityContext: {runAsNonRoot: true}, containers: [$C]}",
            "allowed",
        ),
    ]);
    assert_eq!(
        validate_only(must, "spec: {containers: [$C]}"),
        ["spec.containers[0].securityContext.runAsUser: Required value"]
    );
    assert_eq!(
        validate_only(non_root, "spec: {containers: [$C]}"),
        ["spec.containers[0].securityContext.runAsNonRoot: Required value: must be true"]
    );
}

#[test]
fn groups() {
    let rag_must = "runAsGroup: {rule: MustRunAs, ranges: [{min: 100, max: 200}]}";
    let rag_may = "runAsGroup: {rule: MayRunAs, ranges: [{min: 100, max: 200}]}";
    let fs_must = "fsGroup: {rule: MustRunAs, ranges: [{min: 5, max: 6}]}";
    let sup_must = "supplementalGroups: {rule: MustRunAs, ranges: [{min: 999, max: 1000}]}";
    let sup_may = "supplementalGroups: {rule: MayRunAs, ranges: [{min: 999, max: 1000}]}";
    run_table(&[
        (
            "runAsGroup MustRunAs writes the first min per container",
            rag_must,
            "spec: {containers: [$C]}",
            r#"allowed: add /spec/containers/0/securityContext {"runAsGroup":100}"#,
        ),
        (
            "runAsGroup out of range: the securityContext path itself",
            rag_must,
            "spec: {securityContext: {runAsGroup: 5}, containers: [$C]}",
            &deny(&[
                "spec.containers[0].securityContext: Invalid value: []int64{5}: group 5 must be in the ranges: [{100 200}]",
            ]),
        ),
        (
            "runAsGroup MayRunAs: unset is fine",
            rag_may,
            "spec: {containers: [$C]}",
            "allowed",
        ),
        (
            "runAsGroup MayRunAs: set must be in range",
            rag_may,
            "spec: {containers: [{name: app, securityContext: {runAsGroup: 300}}]}",
            &deny(&[
                "spec.containers[0].securityContext: Invalid value: []int64{300}: group 300 must be in the ranges: [{100 200}]",
            ]),
        ),
        (
            "fsGroup MustRunAs fills the pod",
            fs_must,
            "spec: {containers: [$C]}",
            r#"allowed: add /spec/securityContext {"fsGroup":5}"#,
        ),
        (
            "fsGroup added to an existing pod securityContext",
            fs_must,
            "spec: {securityContext: {runAsUser: 1}, containers: [$C]}",
            "allowed: add /spec/securityContext/fsGroup 5",
        ),
        (
            "fsGroup out of range",
            fs_must,
            "spec: {securityContext: {fsGroup: 999}, containers: [$C]}",
            &deny(&[
                "spec.securityContext.fsGroup: Invalid value: []int64{999}: group 999 must be in the ranges: [{5 6}]",
            ]),
        ),
        (
            "supplementalGroups MustRunAs fills [first min]",
            sup_must,
            "spec: {containers: [$C]}",
            r#"allowed: add /spec/securityContext {"supplementalGroups":[999]}"#,
        ),
        (
            "supplementalGroups: one error per bad group, value the whole list",
            sup_must,
            "spec: {securityContext: {supplementalGroups: [1, 999, 2]}, containers: [$C]}",
            &deny(&[
                "spec.securityContext.supplementalGroups: Invalid value: []int64{1, 999, 2}: group 1 must be in the ranges: [{999 1000}]",
                "spec.securityContext.supplementalGroups: Invalid value: []int64{1, 999, 2}: group 2 must be in the ranges: [{999 1000}]",
            ]),
        ),
        (
            "supplementalGroups: an explicit [] is not filled and fails",
            sup_must,
            "spec: {securityContext: {supplementalGroups: []}, containers: [$C]}",
            &deny(&[
                "spec.securityContext.supplementalGroups: Invalid value: []int64{}: unable to validate empty groups against required ranges",
            ]),
        ),
        (
            "supplementalGroups MayRunAs: unset fine, no write",
            sup_may,
            "spec: {containers: [$C]}",
            "allowed",
        ),
        (
            "supplementalGroups MayRunAs: out of range",
            sup_may,
            "spec: {securityContext: {supplementalGroups: [7]}, containers: [$C]}",
            &deny(&[
                "spec.securityContext.supplementalGroups: Invalid value: []int64{7}: group 7 must be in the ranges: [{999 1000}]",
            ]),
        ),
    ]);
    assert_eq!(
        validate_only(fs_must, "spec: {containers: [$C]}"),
        [
            "spec.securityContext.fsGroup: Invalid value: []int64(nil): unable to validate empty groups against required ranges"
        ]
    );
    assert_eq!(
        validate_only(rag_must, "spec: {containers: [$C]}"),
        [
            "spec.containers[0].securityContext: Invalid value: []int64(nil): unable to validate empty groups against required ranges"
        ]
    );
}

#[test]
fn se_linux() {
    let must = "seLinux: {rule: MustRunAs, seLinuxOptions: {user: system_u, role: system_r, type: container_t, level: 's0:c1,c2'}}";
    run_table(&[
        (
            "options written whole at pod level; containers inherit",
            must,
            "spec: {containers: [$C]}",
            r#"allowed: add /spec/securityContext {"seLinuxOptions":{"level":"s0:c1,c2","role":"system_r","type":"container_t","user":"system_u"}}"#,
        ),
        (
            "a pod-level mismatch is reported at the pod and at each container",
            must,
            "spec: {securityContext: {seLinuxOptions: {user: system_u, role: system_r, type: container_t, level: 's0:c1'}}, containers: [$C]}",
            &deny(&[
                r#"spec.securityContext.seLinuxOptions.level: Invalid value: "s0:c1": must be s0:c1,c2"#,
                r#"spec.containers[0].securityContext.seLinuxOptions.level: Invalid value: "s0:c1": must be s0:c1,c2"#,
            ]),
        ),
        (
            "a container's options replace the pod's whole, not field by field",
            must,
            "spec: {securityContext: {seLinuxOptions: {user: system_u, role: system_r, type: container_t, level: 's0:c1,c2'}},
                    containers: [{name: app, securityContext: {seLinuxOptions: {level: 's0:c2,c1'}}}]}",
            &deny(&[
                r#"spec.containers[0].securityContext.seLinuxOptions.role: Invalid value: "": must be system_r"#,
                r#"spec.containers[0].securityContext.seLinuxOptions.type: Invalid value: "": must be container_t"#,
                r#"spec.containers[0].securityContext.seLinuxOptions.user: Invalid value: "": must be system_u"#,
            ]),
        ),
    ]);
    assert_eq!(
        validate_only(must, "spec: {containers: [$C]}"),
        [
            "spec.securityContext.seLinuxOptions: Required value",
            "spec.containers[0].securityContext.seLinuxOptions: Required value",
        ]
    );
    for (want, got, equal) in [
        ("s0:c1,c2", "s0:c2,c1", true),
        ("s0:c1,c2", "s0:c1,c2", true),
        ("s0", "s0", true),
        ("", "", true),
        ("s0:c1", "s1:c1", false),
        ("s0:c1,c1", "s0:c1", false),
        ("s0", "s0:c1", false),
        ("s0:c1,c2", "s0:c1, c2", false),
    ] {
        assert_eq!(provider::equal_levels(want, got), equal, "{want} vs {got}");
    }
}

#[test]
fn read_only_root_filesystem_and_privilege_escalation() {
    run_table(&[
        (
            "readOnlyRootFilesystem defaulted",
            "readOnlyRootFilesystem: true",
            "spec: {containers: [$C]}",
            r#"allowed: add /spec/containers/0/securityContext {"readOnlyRootFilesystem":true}"#,
        ),
        (
            "readOnlyRootFilesystem false denied",
            "readOnlyRootFilesystem: true",
            "spec: {containers: [{name: app, securityContext: {readOnlyRootFilesystem: false}}]}",
            &deny(&[
                "spec.containers[0].securityContext.readOnlyRootFilesystem: Invalid value: false: ReadOnlyRootFilesystem must be set to true",
            ]),
        ),
        (
            "APE false defaults unset containers",
            "allowPrivilegeEscalation: false",
            "spec: {containers: [{name: app, securityContext: {runAsUser: 1}}]}",
            "allowed: add /spec/containers/0/securityContext/allowPrivilegeEscalation false",
        ),
        (
            "APE false rejects explicit true",
            "allowPrivilegeEscalation: false",
            "spec: {containers: [{name: app, securityContext: {allowPrivilegeEscalation: true}}]}",
            &deny(&[
                "spec.containers[0].securityContext.allowPrivilegeEscalation: Invalid value: true: Allowing privilege escalation for containers is not allowed",
            ]),
        ),
        (
            "default APE true written when allowed",
            "defaultAllowPrivilegeEscalation: true",
            "spec: {containers: [$C]}",
            r#"allowed: add /spec/containers/0/securityContext {"allowPrivilegeEscalation":true}"#,
        ),
        (
            "omitted APE is true: explicit true allowed",
            "",
            "spec: {containers: [{name: app, securityContext: {allowPrivilegeEscalation: true}}]}",
            "allowed",
        ),
    ]);
    assert_eq!(
        validate_only(
            "readOnlyRootFilesystem: true\nallowPrivilegeEscalation: false",
            "spec: {containers: [$C]}"
        ),
        [
            "spec.containers[0].securityContext.readOnlyRootFilesystem: Invalid value: null: ReadOnlyRootFilesystem may not be nil and must be set to true",
            "spec.containers[0].securityContext.allowPrivilegeEscalation: Invalid value: null: Allowing privilege escalation for containers is not allowed",
        ]
    );
}

#[test]
fn api_validation_warnings() {
    let (meta, spec) = pod(
        "spec: {containers: [{name: app, securityContext: {privileged: true}}],
                initContainers: [{name: i, securityContext: {capabilities: {add: [CAP_SYS_ADMIN]}}}]}",
    );
    let p = psp(
        "p",
        "privileged: true\nallowPrivilegeEscalation: false\nallowedCapabilities: ['*']",
    );
    let a = admit(&[p], &meta, &spec, Operation::Create);
    assert!(a.allowed);
    assert_eq!(
        a.warnings,
        [
            "the apiserver will reject the pod: spec.initContainers[0].securityContext: cannot set `allowPrivilegeEscalation` to false and `capabilities.Add` CAP_SYS_ADMIN",
            "the apiserver will reject the pod: spec.containers[0].securityContext: cannot set `allowPrivilegeEscalation` to false and `privileged` to true",
        ]
    );
}

#[test]
fn volumes() {
    let sa_volume = "{name: kube-api-access, projected: {sources: [
        {serviceAccountToken: {path: token, expirationSeconds: 3607}},
        {configMap: {name: kube-root-ca.crt, items: [{key: ca.crt, path: ca.crt}]}},
        {downwardAPI: {items: [{path: namespace, fieldRef: {fieldPath: metadata.namespace}}]}}]}}";
    run_table(&[
        (
            "type not listed",
            "volumes: [secret]",
            "spec: {containers: [$C], volumes: [{name: h, hostPath: {path: /}}, {name: s, secret: {secretName: s}}]}",
            &deny(&[
                r#"spec.volumes[0]: Invalid value: "hostPath": hostPath volumes are not allowed to be used"#,
            ]),
        ),
        (
            "omitted volumes allow none",
            "volumes: []",
            "spec: {containers: [$C], volumes: [{name: e, emptyDir: {}}]}",
            &deny(&[
                r#"spec.volumes[0]: Invalid value: "emptyDir": emptyDir volumes are not allowed to be used"#,
            ]),
        ),
        (
            "the bound SA token volume passes with secret",
            "volumes: [secret]",
            &format!("spec: {{containers: [$C], volumes: [{sa_volume}]}}"),
            "allowed",
        ),
        (
            "an SA token with an audience needs projected",
            "volumes: [secret]",
            "spec: {containers: [$C], volumes: [{name: t, projected: {sources: [{serviceAccountToken: {path: token, audience: vault}}]}}]}",
            &deny(&[
                r#"spec.volumes[0]: Invalid value: "projected": projected volumes are not allowed to be used"#,
            ]),
        ),
        (
            "another configMap needs projected",
            "volumes: [secret]",
            "spec: {containers: [$C], volumes: [{name: t, projected: {sources: [{configMap: {name: app-config}}]}}]}",
            &deny(&[
                r#"spec.volumes[0]: Invalid value: "projected": projected volumes are not allowed to be used"#,
            ]),
        ),
        (
            "downward API items other than the namespace need projected",
            "volumes: [secret]",
            "spec: {containers: [$C], volumes: [{name: t, projected: {sources: [{downwardAPI: {items: [{path: labels, fieldRef: {fieldPath: metadata.labels}}]}}]}}]}",
            &deny(&[
                r#"spec.volumes[0]: Invalid value: "projected": projected volumes are not allowed to be used"#,
            ]),
        ),
        (
            "the SA token volume needs secret (or projected)",
            "volumes: [configMap]",
            &format!("spec: {{containers: [$C], volumes: [{sa_volume}]}}"),
            &deny(&[
                r#"spec.volumes[0]: Invalid value: "projected": projected volumes are not allowed to be used"#,
            ]),
        ),
        (
            "a volume type PSP does not know is rejected even under *",
            "",
            "spec: {containers: [$C], volumes: [{name: img, image: {reference: 'registry.example/data:1'}}]}",
            &deny(&[r#"spec.volumes[0]: Invalid value: "": unknown volume type for volume "img""#]),
        ),
        (
            "ephemeral is a type",
            "volumes: [ephemeral]",
            "spec: {containers: [$C], volumes: [{name: e, ephemeral: {volumeClaimTemplate: {spec: {accessModes: [ReadWriteOnce]}}}}]}",
            "allowed",
        ),
        (
            "flex driver not allowed",
            "volumes: [flexVolume]\nallowedFlexVolumes: [{driver: example/foo}]",
            "spec: {containers: [$C], volumes: [{name: f, flexVolume: {driver: example/unknown}}]}",
            &deny(&[
                r#"spec.volumes[0].driver: Invalid value: "example/unknown": Flexvolume driver is not allowed to be used"#,
            ]),
        ),
        (
            "flex type not allowed: the driver is not checked",
            "volumes: [secret]\nallowedFlexVolumes: [{driver: example/foo}]",
            "spec: {containers: [$C], volumes: [{name: f, flexVolume: {driver: example/unknown}}]}",
            &deny(&[
                r#"spec.volumes[0]: Invalid value: "flexVolume": flexVolume volumes are not allowed to be used"#,
            ]),
        ),
        (
            "CSI driver not allowed",
            "volumes: [csi]\nallowedCSIDrivers: [{name: csi.example}]",
            "spec: {containers: [$C], volumes: [{name: c, csi: {driver: csi.other}}]}",
            &deny(&[
                r#"spec.volumes[0].csi.driver: Invalid value: "csi.other": Inline CSI driver is not allowed to be used"#,
            ]),
        ),
        (
            "allowedCSIDrivers does not allow the csi type",
            "volumes: [secret]\nallowedCSIDrivers: [{name: csi.example}]",
            "spec: {containers: [$C], volumes: [{name: c, csi: {driver: csi.example}}]}",
            &deny(&[
                r#"spec.volumes[0]: Invalid value: "csi": csi volumes are not allowed to be used"#,
            ]),
        ),
    ]);
}

#[test]
fn host_paths() {
    run_table(&[
        (
            "prefix is segment-wise",
            "allowedHostPaths: [{pathPrefix: /foo}]",
            "spec: {containers: [$C], volumes: [{name: h, hostPath: {path: /foobar}}]}",
            &deny(&[
                r#"spec.volumes[0].hostPath.pathPrefix: Invalid value: "/foobar": is not allowed to be used"#,
            ]),
        ),
        (
            "read-only prefix: every mount in every container must be read-only",
            "allowedHostPaths: [{pathPrefix: /var/log, readOnly: true}]",
            "spec: {volumes: [{name: h, hostPath: {path: /var/log/app}}],
                    initContainers: [{name: i, volumeMounts: [{name: h, mountPath: /a}]}],
                    containers: [{name: app, volumeMounts: [{name: other, mountPath: /o}, {name: h, mountPath: /b, readOnly: false}, {name: h, mountPath: /c, readOnly: true}]}]}",
            &deny(&[
                "spec.initContainers[0].volumeMounts[0].readOnly: Invalid value: false: must be read-only",
                "spec.containers[0].volumeMounts[1].readOnly: Invalid value: false: must be read-only",
            ]),
        ),
        (
            "the first writable match wins, not the most specific",
            "allowedHostPaths: [{pathPrefix: /var/log, readOnly: true}, {pathPrefix: /var}]",
            "spec: {volumes: [{name: h, hostPath: {path: /var/log/app}}], containers: [{name: app, volumeMounts: [{name: h, mountPath: /b}]}]}",
            "allowed",
        ),
        (
            "an unmounted read-only volume is fine",
            "allowedHostPaths: [{pathPrefix: /, readOnly: true}]",
            "spec: {volumes: [{name: h, hostPath: {path: /etc}}], containers: [$C]}",
            "allowed",
        ),
    ]);
    for (path, prefix, want) in [
        ("/foo", "/foo", true),
        ("/foo/", "/foo", true),
        ("/foo", "/foo/", true),
        ("/foo/bar", "/foo", true),
        ("/foo/bar", "/foo/", true),
        ("/foobar", "/foo", false),
        ("/Foo", "/foo", false),
        ("/anything/at/all", "/", true),
        ("/", "/", true),
        ("/foo", "/foo/bar", false),
        ("/foo//bar", "/foo", true),
    ] {
        assert_eq!(
            provider::has_path_prefix(path, prefix),
            want,
            "{path} under {prefix}"
        );
    }
}

#[test]
fn sysctls() {
    run_table(&[
        (
            "safe sysctls need nothing",
            "",
            "spec: {securityContext: {sysctls: [{name: net.ipv4.ip_local_port_range, value: '1024 65000'}, {name: kernel.shm_rmid_forced, value: '1'}]}, containers: [$C]}",
            "allowed",
        ),
        (
            "unsafe denied by default, reported by index with pod. prefix",
            "",
            "spec: {securityContext: {sysctls: [{name: net.ipv4.tcp_syncookies, value: '1'}, {name: kernel.sem, value: '1'}]}, containers: [$C]}",
            &deny(&[
                r#"pod.spec.securityContext.sysctls[1]: Forbidden: unsafe sysctl "kernel.sem" is not allowed"#,
            ]),
        ),
        (
            "allowed unsafe by exact name and by prefix",
            "allowedUnsafeSysctls: [kernel.sem, 'net.core.*']",
            "spec: {securityContext: {sysctls: [{name: kernel.sem, value: '1'}, {name: net.core.somaxconn, value: '1'}]}, containers: [$C]}",
            "allowed",
        ),
        (
            "forbidding * blocks even the safe ones",
            "forbiddenSysctls: ['*']",
            "spec: {securityContext: {sysctls: [{name: kernel.shm_rmid_forced, value: '1'}]}, containers: [$C]}",
            &deny(&[
                r#"pod.spec.securityContext.sysctls[0]: Forbidden: sysctl "kernel.shm_rmid_forced" is not allowed"#,
            ]),
        ),
        (
            "a prefix is a plain string prefix",
            "allowedUnsafeSysctls: ['kernel.msg*']",
            "spec: {securityContext: {sysctls: [{name: kernel.msgmax, value: '1'}, {name: kernel.msg, value: '1'}, {name: kernel.ms, value: '1'}]}, containers: [$C]}",
            &deny(&[
                r#"pod.spec.securityContext.sysctls[2]: Forbidden: unsafe sysctl "kernel.ms" is not allowed"#,
            ]),
        ),
    ]);
    for (pattern, valid) in [
        ("kernel.msg*", true),
        ("kernel.*", true),
        ("*", true),
        ("k", true),
        ("net.ipv4.ip_local_port_range", true),
        ("net/ipv4/ip_forward", true),
        ("kernel.shm_rmid-forced", true),
        ("", false),
        ("Kernel.sem", false),
        ("kernel.*.x", false),
        ("a*b", false),
        ("kernel.", false),
        (".kernel", false),
        ("kernel..sem", false),
        ("-kernel", false),
    ] {
        assert_eq!(validate::is_sysctl_pattern(pattern), valid, "{pattern:?}");
    }
}

#[test]
fn proc_mount_and_runtime_class() {
    run_table(&[
        (
            "Unmasked needs listing",
            "",
            "spec: {containers: [{name: app, securityContext: {procMount: Unmasked}}]}",
            &deny(&[
                r#"spec.containers[0].securityContext.procMount: Invalid value: "Unmasked": ProcMountType is not allowed"#,
            ]),
        ),
        (
            "Unmasked listed",
            "allowedProcMountTypes: [Default, Unmasked]",
            "spec: {containers: [{name: app, securityContext: {procMount: Unmasked}}, $C]}",
            "allowed",
        ),
        (
            "a list without Default rejects the default (unset reads as Default)",
            "allowedProcMountTypes: [Unmasked]",
            "spec: {containers: [$C]}",
            &deny(&[
                r#"spec.containers[0].securityContext.procMount: Invalid value: "Default": ProcMountType is not allowed"#,
            ]),
        ),
        (
            "runtimeClass default written",
            "runtimeClass: {allowedRuntimeClassNames: [gvisor], defaultRuntimeClassName: gvisor}",
            "spec: {containers: [$C]}",
            r#"allowed: add /spec/runtimeClassName "gvisor""#,
        ),
        (
            "runtimeClass without a default: unset stays unset",
            "runtimeClass: {allowedRuntimeClassNames: [gvisor]}",
            "spec: {containers: [$C]}",
            "allowed",
        ),
        (
            "an empty list forbids every explicit name, with no detail",
            "runtimeClass: {allowedRuntimeClassNames: []}",
            "spec: {runtimeClassName: runc, containers: [$C]}",
            &deny(&[r#"spec.runtimeClassName: Invalid value: "runc""#]),
        ),
        (
            "no runtimeClass: no restriction",
            "",
            "spec: {runtimeClassName: runc, containers: [$C]}",
            "allowed",
        ),
    ]);
}

#[test]
fn seccomp() {
    let allow_rd = "---\nseccomp.security.alpha.kubernetes.io/allowedProfileNames: runtime/default";
    let allow_default_rd = "---\nseccomp.security.alpha.kubernetes.io/allowedProfileNames: runtime/default\nseccomp.security.alpha.kubernetes.io/defaultProfileName: runtime/default";
    run_table(&[
        (
            "allowed names without a default reject a pod without a profile",
            allow_rd,
            "spec: {containers: [$C]}",
            &deny(&[
                "pod.metadata.annotations[seccomp.security.alpha.kubernetes.io/pod]: Forbidden:  is not an allowed seccomp profile. Valid values are runtime/default",
                "pod.metadata.annotations[container.seccomp.security.alpha.kubernetes.io/app]: Forbidden:  is not an allowed seccomp profile. Valid values are runtime/default",
            ]),
        ),
        (
            "the default goes into existing annotations",
            allow_default_rd,
            "metadata: {annotations: {team: a}}\nspec: {containers: [$C]}",
            r#"allowed: add /metadata/annotations/seccomp.security.alpha.kubernetes.io~1pod "runtime/default""#,
        ),
        (
            "a container field is checked, not generated",
            allow_default_rd,
            "spec: {containers: [{name: app, securityContext: {seccompProfile: {type: Localhost, localhostProfile: p.json}}}]}",
            &deny(&[
                "pod.metadata.annotations[container.seccomp.security.alpha.kubernetes.io/app]: Forbidden: localhost/p.json is not an allowed seccomp profile. Valid values are runtime/default",
            ]),
        ),
        (
            "a container annotation overrides the pod profile",
            allow_default_rd,
            "metadata: {annotations: {container.seccomp.security.alpha.kubernetes.io/app: unconfined}}\nspec: {containers: [$C]}",
            &deny(&[
                "pod.metadata.annotations[container.seccomp.security.alpha.kubernetes.io/app]: Forbidden: unconfined is not an allowed seccomp profile. Valid values are runtime/default",
            ]),
        ),
        (
            "docker/default is not runtime/default",
            allow_rd,
            "metadata: {annotations: {seccomp.security.alpha.kubernetes.io/pod: docker/default}}\nspec: {containers: [$C]}",
            &deny(&[
                "pod.metadata.annotations[seccomp.security.alpha.kubernetes.io/pod]: Forbidden: docker/default is not an allowed seccomp profile. Valid values are runtime/default",
                "pod.metadata.annotations[container.seccomp.security.alpha.kubernetes.io/app]: Forbidden: docker/default is not an allowed seccomp profile. Valid values are runtime/default",
            ]),
        ),
        (
            "the pod field is copied to the annotation",
            "---\nseccomp.security.alpha.kubernetes.io/allowedProfileNames: unconfined",
            "spec: {securityContext: {seccompProfile: {type: Unconfined}}, containers: [$C]}",
            r#"allowed: add /metadata {"annotations":{"seccomp.security.alpha.kubernetes.io/pod":"unconfined"}}"#,
        ),
        (
            "no annotations: a container field is forbidden",
            "",
            "spec: {containers: [{name: app, securityContext: {seccompProfile: {type: RuntimeDefault}}}]}",
            &deny(&[
                "pod.metadata.annotations[container.seccomp.security.alpha.kubernetes.io/app]: Forbidden: seccomp may not be set",
            ]),
        ),
    ]);
}

#[test]
fn app_armor() {
    let allow = "---\napparmor.security.beta.kubernetes.io/allowedProfileNames: runtime/default,localhost/foo";
    run_table(&[
        (
            "a profile must be set when a list exists",
            allow,
            "spec: {containers: [$C]}",
            &deny(&[
                "pod.metadata.annotations[container.apparmor.security.beta.kubernetes.io/app]: Forbidden: AppArmor profile must be set",
            ]),
        ),
        (
            "the default is written per container",
            &format!(
                "{allow}\napparmor.security.beta.kubernetes.io/defaultProfileName: runtime/default"
            ),
            "metadata: {annotations: {container.apparmor.security.beta.kubernetes.io/b: localhost/foo}}\nspec: {containers: [$C, {name: b}]}",
            r#"allowed: add /metadata/annotations/container.apparmor.security.beta.kubernetes.io~1app "runtime/default""#,
        ),
        (
            "outside the list",
            allow,
            "metadata: {annotations: {container.apparmor.security.beta.kubernetes.io/app: unconfined}}\nspec: {containers: [$C]}",
            &deny(&[
                r#"pod.metadata.annotations[container.apparmor.security.beta.kubernetes.io/app]: Forbidden: unconfined is not an allowed profile. Allowed values: "runtime/default,localhost/foo""#,
            ]),
        ),
        (
            "no list: anything goes",
            "",
            "metadata: {annotations: {container.apparmor.security.beta.kubernetes.io/app: unconfined}}\nspec: {containers: [$C]}",
            "allowed",
        ),
    ]);
}

// ---------------------------------------------------------------------------------------------
// Policy selection

fn names(a: &Admission) -> Vec<String> {
    a.attempts
        .iter()
        .map(|t| format!("{}:{:?}", t.policy, t.outcome))
        .collect()
}

#[test]
fn selection_prefers_unchanged_then_first_mutating_by_name() {
    let must = |n: &str, uid: u32| {
        psp(
            n,
            &format!("runAsUser: {{rule: MustRunAs, ranges: [{{min: {uid}, max: {uid}}}]}}"),
        )
    };
    let strict = psp("a-strict", "volumes: []");
    let (meta, spec) = pod("spec: {containers: [$C], volumes: [{name: e, emptyDir: {}}]}");
    let policies = [
        must("m2", 2),
        must("m1", 1),
        strict.clone(),
        psp("z-open", ""),
    ];
    let a = admit(&policies, &meta, &spec, Operation::Create);
    assert_eq!(a.policy.as_deref(), Some("z-open"));
    assert!(!a.mutates());
    assert!(a.errors.is_empty());
    assert_eq!(
        names(&a),
        [
            "a-strict:Rejected",
            "m1:Mutated",
            "m2:Mutated",
            "z-open:Unchanged"
        ]
    );

    let a = admit(&policies[..3], &meta, &spec, Operation::Create);
    assert_eq!(a.policy.as_deref(), Some("m1"));
    assert_eq!(
        a.mutated.spec.containers[0]
            .security_context
            .as_ref()
            .and_then(|s| s.run_as_user),
        Some(1)
    );

    // Byte-wise: uppercase first.
    let a = admit(
        &[must("a", 1), must("B", 2)],
        &meta,
        &spec,
        Operation::Create,
    );
    assert_eq!(a.policy.as_deref(), Some("B"));
}

#[test]
fn denial_lists_every_policy_error_and_update_cannot_mutate() {
    let (meta, spec) = pod(
        "spec: {hostPID: true, containers: [{name: app, securityContext: {privileged: true}}]}",
    );
    let a = admit(
        &[psp("b", "hostPID: true"), psp("a", "privileged: true")],
        &meta,
        &spec,
        Operation::Create,
    );
    assert!(!a.allowed);
    assert_eq!(
        a.message,
        deny(&[
            "spec.securityContext.hostPID: Invalid value: true: Host PID is not allowed to be used",
            "spec.containers[0].securityContext.privileged: Invalid value: true: Privileged containers are not allowed",
        ])
    );
    assert_eq!(
        a.errors
            .iter()
            .map(|e| (e.policy.as_str(), e.control))
            .collect::<Vec<_>>(),
        [("a", Control::HostNamespaces), ("b", Control::Privileged)]
    );

    let a = admit(
        &[psp("b", "hostPID: true"), psp("a", "privileged: true")],
        &meta,
        &spec,
        Operation::Update,
    );
    assert!(
        a.message.starts_with(
            "PodSecurityPolicy: unable to validate pod: [spec.securityContext.hostPID"
        ),
        "{}",
        a.message
    );

    let must = psp(
        "must",
        "runAsUser: {rule: MustRunAs, ranges: [{min: 1, max: 1}]}",
    );
    let (meta, spec) = pod("spec: {containers: [$C]}");
    let a = admit(std::slice::from_ref(&must), &meta, &spec, Operation::Update);
    assert!(!a.allowed);
    assert_eq!(a.message, "PodSecurityPolicy: unable to validate pod: []");
    assert_eq!(names(&a), ["must:MutationNotAllowed"]);

    let a = admit(&[], &meta, &spec, Operation::Create);
    assert_eq!(
        a.message,
        "PodSecurityPolicy: no providers available to validate pod request"
    );
}

#[test]
fn update_tries_the_annotated_policy_first() {
    let (mut meta, spec) = pod("spec: {containers: [$C]}");
    let policies = [psp("a", ""), psp("b", "")];
    assert_eq!(
        admit(&policies, &meta, &spec, Operation::Update)
            .policy
            .as_deref(),
        Some("a")
    );
    meta.annotations = Some([(PSP_ANNOTATION.to_owned(), "b".to_owned())].into());
    assert_eq!(
        admit(&policies, &meta, &spec, Operation::Update)
            .policy
            .as_deref(),
        Some("b")
    );
    // Only a hint for the validating phase: CREATE keeps name order.
    assert_eq!(
        admit(&policies, &meta, &spec, Operation::Create)
            .policy
            .as_deref(),
        Some("a")
    );
}

#[test]
fn invalid_policies_are_skipped() {
    let mut broken = psp("a-broken", "");
    broken.spec.run_as_user.rule = "MustRunAs".into();
    let mut unknown = psp("b-unknown", "");
    unknown.spec.fs_group.rule = "Sometimes".into();
    let (meta, spec) = pod("spec: {containers: [$C]}");
    let a = admit(
        &[broken.clone(), unknown.clone(), psp("c", "")],
        &meta,
        &spec,
        Operation::Create,
    );
    assert_eq!(a.policy.as_deref(), Some("c"));
    assert_eq!(
        names(&a),
        [
            r#"a-broken:Invalid("runAsUser: MustRunAs requires at least one range")"#,
            r#"b-unknown:Invalid("unrecognized FSGroup strategy type \"Sometimes\"")"#,
            "c:Unchanged",
        ]
    );
    let a = admit(&[broken], &meta, &spec, Operation::Create);
    assert_eq!(a.message, "PodSecurityPolicy: unable to admit pod: []");
}

#[test]
fn patch_covers_every_container_kind_and_the_annotations() {
    let p = psp(
        "p",
        "runAsUser: {rule: MustRunAs, ranges: [{min: 1000, max: 2000}]}
fsGroup: {rule: MustRunAs, ranges: [{min: 5, max: 5}]}
requiredDropCapabilities: [NET_RAW]
readOnlyRootFilesystem: true
allowPrivilegeEscalation: false
---
seccomp.security.alpha.kubernetes.io/allowedProfileNames: runtime/default
seccomp.security.alpha.kubernetes.io/defaultProfileName: runtime/default
apparmor.security.beta.kubernetes.io/allowedProfileNames: runtime/default
apparmor.security.beta.kubernetes.io/defaultProfileName: runtime/default",
    );
    let (meta, spec) = pod(
        "metadata: {name: x, annotations: {a/b: c}}
spec:
  securityContext: {runAsUser: 1500}
  initContainers: [{name: init, securityContext: {capabilities: {drop: [ALL]}}}]
  containers:
  - {name: app, securityContext: {runAsUser: 1001, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: {drop: [NET_RAW]}}}
  - {name: side}
  ephemeralContainers: [{name: debug}]",
    );
    let a = admit(std::slice::from_ref(&p), &meta, &spec, Operation::Create);
    assert!(a.allowed, "{}", a.message);
    let mut doc = serde_json::json!({"metadata": meta, "spec": spec});
    patch::tests::apply(&mut doc, &a.patch).expect("patch applies");
    assert_eq!(
        doc,
        serde_json::json!({"metadata": a.mutated.metadata, "spec": a.mutated.spec})
    );
    // Admitting the mutated pod again changes nothing (UPDATE accepts it).
    let again = admit(
        std::slice::from_ref(&p),
        &a.mutated.metadata,
        &a.mutated.spec,
        Operation::Update,
    );
    assert!(again.allowed, "{}", again.message);
    assert!(again.patch.is_empty());
    // The container that already complied is untouched; runAsUser is inherited.
    let paths: Vec<&str> = a.patch.iter().map(|o| o.path.as_str()).collect();
    assert!(
        !paths.iter().any(|p| p.starts_with("/spec/containers/0")),
        "{paths:?}"
    );
    assert!(paths.contains(&"/metadata/annotations/seccomp.security.alpha.kubernetes.io~1pod"));
    assert_eq!(
        serde_json::to_value(&a.patch[0]).expect("json"),
        serde_json::json!({"op": "add", "path": "/metadata/annotations/container.apparmor.security.beta.kubernetes.io~1app", "value": "runtime/default"})
    );
}

#[test]
fn patch_applies_to_a_template_without_metadata() {
    let p = psp(
        "p",
        "---\napparmor.security.beta.kubernetes.io/defaultProfileName: runtime/default",
    );
    let template: Value = serde_json::json!({"spec": {"containers": [{"name": "app"}]}});
    let spec: PodSpec = serde_json::from_value(template["spec"].clone()).expect("spec");
    let a = admit(&[p], &ObjectMeta::default(), &spec, Operation::Create);
    let mut doc = template.clone();
    patch::tests::apply(&mut doc, &a.patch).expect("patch applies");
    assert_eq!(
        doc["metadata"]["annotations"]["container.apparmor.security.beta.kubernetes.io/app"],
        "runtime/default"
    );
    let under: Vec<String> = a
        .patch
        .iter()
        .map(|o| o.under("/spec/template").path)
        .collect();
    assert_eq!(under, ["/spec/template/metadata"]);
}

#[test]
fn attempts_serialise_with_their_outcome() {
    let attempts = [
        Attempt {
            policy: "a".into(),
            outcome: Outcome::Invalid("why".into()),
        },
        Attempt {
            policy: "b".into(),
            outcome: Outcome::MutationNotAllowed,
        },
    ];
    assert_eq!(
        serde_json::to_value(attempts).expect("json"),
        serde_json::json!([
            {"policy": "a", "outcome": "invalid", "reason": "why"},
            {"policy": "b", "outcome": "mutationNotAllowed"},
        ])
    );
}
