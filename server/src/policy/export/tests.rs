use std::collections::BTreeMap;

use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhookConfiguration, ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding,
    ValidatingWebhookConfiguration,
};
use k8s_openapi::api::core::v1::Namespace;

use super::vap::{self, PolicyKind};
use super::webhook::{self, FailurePolicy, WebhookOptions};
use super::*;
use crate::model::WorkloadKey;
use crate::policy::profiles::ProfileRef;
use crate::policy::psp;
use crate::policy::pss;

fn profile(name: &str) -> Profile {
    ProfileRef::parse(name)
        .and_then(|r| r.resolve(|_| None))
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn custom(name: &str) -> Profile {
    let policy = crate::policy::profiles::allow_all_policy();
    Profile::custom(&crate::policy::profiles::CustomProfile {
        name: name.to_owned(),
        description: String::new(),
        base: None,
        policy: psp::Profile { ..policy },
    })
}

fn ns(name: &str) -> AssignTarget {
    AssignTarget::Namespace(name.to_owned())
}

fn workload() -> AssignTarget {
    AssignTarget::Workload(WorkloadKey::new("shop", "Deployment", "cart"))
}

/// Splits `---`-separated YAML documents.
fn docs(yaml: &str) -> Vec<&str> {
    yaml.split("---\n")
        .filter(|d| !d.trim().is_empty())
        .collect()
}

#[test]
fn labels_name_the_mode_level_and_version() {
    let l = labels(Mode::Enforce, "restricted".parse().expect("level"));
    assert_eq!(
        l,
        BTreeMap::from([
            (
                "pod-security.kubernetes.io/enforce".to_owned(),
                "restricted".to_owned()
            ),
            (
                "pod-security.kubernetes.io/enforce-version".to_owned(),
                "latest".to_owned()
            ),
        ])
    );
    let l = labels(Mode::Warn, "baseline:v1.30".parse().expect("level"));
    assert_eq!(l["pod-security.kubernetes.io/warn"], "baseline");
    assert_eq!(l["pod-security.kubernetes.io/warn-version"], "v1.30");
}

#[test]
fn a_namespace_level_assignment_exports_labels_kubectl_and_yaml() {
    let e = export(
        &ns("shop"),
        &profile("restricted"),
        Mode::Audit,
        &WebhookOptions::default(),
    );
    assert_eq!(
        e.kubectl.as_deref(),
        Some(
            "kubectl label namespace shop --overwrite pod-security.kubernetes.io/audit=restricted pod-security.kubernetes.io/audit-version=latest"
        )
    );
    let yaml = e.namespace_yaml.as_deref().expect("namespace yaml");
    let back: Namespace = serde_yaml_ng::from_str(yaml).expect("parses as a Namespace");
    assert_eq!(back.metadata.name.as_deref(), Some("shop"));
    assert_eq!(back.metadata.labels, e.labels);
    assert!(e.validating_admission_policy.is_some());
    assert!(
        e.webhook_configuration.is_none(),
        "a level needs no webhook"
    );
}

#[test]
fn hostile_namespace_names_are_quoted_for_the_shell() {
    for (name, quoted) in [
        ("a'b", r"'a'\''b'"),
        ("x; rm -rf /", "'x; rm -rf /'"),
        ("$(id)", "'$(id)'"),
        ("`id`", "'`id`'"),
        ("a b\nc", "'a b\nc'"),
        ("", "''"),
        ("plain-ns.1", "plain-ns.1"),
    ] {
        let cmd = kubectl_command(
            name,
            &labels(Mode::Enforce, "baseline".parse().expect("lv")),
        );
        assert!(
            cmd.starts_with(&format!("kubectl label namespace {quoted} --overwrite ")),
            "{name:?} gave {cmd}"
        );
    }
    assert_eq!(shell_quote("k=v"), "k=v");
}

#[test]
fn labels_do_not_apply_to_workloads_custom_or_psp_profiles() {
    let e = export(
        &workload(),
        &profile("restricted"),
        Mode::Enforce,
        &WebhookOptions::default(),
    );
    assert!(e.labels.is_none() && e.kubectl.is_none() && e.namespace_yaml.is_none());
    assert!(
        e.notes.iter().any(|n| n.contains("per namespace")),
        "{:?}",
        e.notes
    );

    for p in [custom("team-a"), profile("node-agent"), profile("strict")] {
        let e = export(&ns("shop"), &p, Mode::Enforce, &WebhookOptions::default());
        assert!(e.labels.is_none(), "{}", p.name);
        assert!(
            e.notes
                .iter()
                .any(|n| n.contains("not one of the standard levels")),
            "{}: {:?}",
            p.name,
            e.notes
        );
        assert!(e.webhook_configuration.is_some(), "{}", p.name);
    }
}

#[test]
fn custom_profiles_get_a_webhook_configuration_scoped_to_the_namespace() {
    let e = export(
        &ns("shop"),
        &custom("team-a"),
        Mode::Enforce,
        &WebhookOptions::default(),
    );
    assert!(e.validating_admission_policy.is_none());
    let yaml = e.webhook_configuration.expect("webhook");
    let d = docs(&yaml);
    assert_eq!(d.len(), 2);
    let v: ValidatingWebhookConfiguration = serde_yaml_ng::from_str(d[0]).expect("validating");
    let m: MutatingWebhookConfiguration = serde_yaml_ng::from_str(d[1]).expect("mutating");
    for sel in [
        v.webhooks.as_ref().expect("hooks")[0]
            .namespace_selector
            .clone(),
        m.webhooks.as_ref().expect("hooks")[0]
            .namespace_selector
            .clone(),
    ] {
        let req = &sel
            .expect("selector")
            .match_expressions
            .expect("expressions")[0];
        assert_eq!(req.key, "kubernetes.io/metadata.name");
        assert_eq!(req.operator, "In");
        assert_eq!(req.values.as_deref(), Some(&["shop".to_owned()][..]));
    }
    assert!(e.notes.iter().any(|n| n.contains("caBundle")));
}

#[test]
fn webhook_config_parses_back_with_every_field_asked_for() {
    let opts = WebhookOptions {
        service_namespace: "security".into(),
        service_name: "pc".into(),
        port: 9443,
        ca_bundle: Some(b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n".to_vec()),
        failure_policy: FailurePolicy::Ignore,
        timeout_seconds: 7,
    };
    let yaml = webhook::cluster_yaml(&opts);
    assert!(
        yaml.contains("caBundle: LS0tLS1CRUdJTi"),
        "caBundle is base64:\n{yaml}"
    );
    let d = docs(&yaml);
    let v: ValidatingWebhookConfiguration = serde_yaml_ng::from_str(d[0]).expect("validating");
    let m: MutatingWebhookConfiguration = serde_yaml_ng::from_str(d[1]).expect("mutating");
    let vh = &v.webhooks.expect("hooks")[0];
    let mh = &m.webhooks.expect("hooks")[0];
    for (cc, path) in [
        (&vh.client_config, "/admission/validate"),
        (&mh.client_config, "/admission/mutate"),
    ] {
        let svc = cc.service.as_ref().expect("service");
        assert_eq!(
            (svc.namespace.as_str(), svc.name.as_str()),
            ("security", "pc")
        );
        assert_eq!(svc.port, Some(9443));
        assert_eq!(svc.path.as_deref(), Some(path));
        assert_eq!(
            cc.ca_bundle.as_ref().map(|b| b.0.clone()),
            opts.ca_bundle.clone()
        );
    }
    assert_eq!(vh.failure_policy.as_deref(), Some("Ignore"));
    assert_eq!(vh.timeout_seconds, Some(7));
    assert_eq!(vh.side_effects, "None");
    assert_eq!(mh.side_effects, "None");
    assert_eq!(vh.admission_review_versions, ["v1"]);
    let sel = vh.namespace_selector.clone().expect("selector");
    let req = &sel.match_expressions.expect("expressions")[0];
    assert_eq!(req.operator, "NotIn");
    assert_eq!(
        req.values.as_deref(),
        Some(&["kube-system".to_owned(), "security".to_owned()][..])
    );
    let mut resources: Vec<String> = vh
        .rules
        .as_ref()
        .expect("rules")
        .iter()
        .flat_map(|r| {
            assert_eq!(
                r.operations.as_deref(),
                Some(&["CREATE".to_owned(), "UPDATE".to_owned()][..])
            );
            r.resources.clone().unwrap_or_default()
        })
        .collect();
    resources.sort();
    assert_eq!(
        resources,
        [
            "cronjobs",
            "daemonsets",
            "deployments",
            "jobs",
            "pods",
            "pods/ephemeralcontainers",
            "replicasets",
            "replicationcontrollers",
            "statefulsets"
        ]
    );
}

#[test]
fn pem_detection() {
    assert!(webhook::is_pem(
        b"-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n"
    ));
    assert!(!webhook::is_pem(b"hello"));
    assert!(!webhook::is_pem(&[0xff, 0xfe, 0x00]));
    assert!(!webhook::is_pem(b"-----BEGIN CERTIFICATE-----\nno end"));
}

#[test]
fn vap_parses_back_and_binds_by_mode_and_target() {
    for (mode, action) in [
        (Mode::Enforce, "Deny"),
        (Mode::Warn, "Warn"),
        (Mode::Audit, "Audit"),
    ] {
        for target in [AssignTarget::Cluster, ns("shop"), workload()] {
            let yaml = vap::policy_yaml(PolicyKind::Restricted, &target, mode);
            let d = docs(&yaml);
            assert_eq!(d.len(), 2, "{yaml}");
            let p: ValidatingAdmissionPolicy = serde_yaml_ng::from_str(d[0]).expect("policy");
            let b: ValidatingAdmissionPolicyBinding =
                serde_yaml_ng::from_str(d[1]).expect("binding");
            let spec = p.spec.expect("spec");
            let bspec = b.spec;
            assert_eq!(Some(bspec.policy_name.as_str()), p.metadata.name.as_deref());
            assert_eq!(bspec.validation_actions, [action]);
            let validations = spec.validations.expect("validations");
            let ids: Vec<&str> = pss::check_ids(LevelVersion::latest(Level::Restricted)).collect();
            assert_eq!(validations.len(), ids.len());
            for v in &validations {
                let m = v.message.as_deref().unwrap_or_default();
                assert!(
                    m.starts_with("violates PodSecurity \"restricted:latest\": "),
                    "{m}"
                );
                assert_eq!(v.reason.as_deref(), Some("Forbidden"));
            }
            let sel = bspec
                .match_resources
                .and_then(|m| m.namespace_selector)
                .and_then(|s| s.match_labels);
            match &target {
                AssignTarget::Cluster => {
                    assert!(sel.is_none());
                    assert!(spec.match_conditions.is_none());
                }
                AssignTarget::Namespace(_) => {
                    assert_eq!(
                        sel.expect("selector")["kubernetes.io/metadata.name"],
                        "shop"
                    );
                    assert!(spec.match_conditions.is_none());
                }
                AssignTarget::Workload(_) => {
                    assert_eq!(
                        sel.expect("selector")["kubernetes.io/metadata.name"],
                        "shop"
                    );
                    let mc = spec.match_conditions.expect("match condition");
                    assert!(mc[0].expression.contains("'cart'"), "{}", mc[0].expression);
                }
            }
            let rules = spec
                .match_constraints
                .and_then(|m| m.resource_rules)
                .expect("resource rules");
            let kinds: usize = rules
                .iter()
                .map(|r| r.resources.as_ref().map_or(0, Vec::len))
                .sum();
            assert_eq!(
                kinds, 9,
                "pods, pods/ephemeralcontainers and seven workload kinds"
            );
        }
    }
}

#[test]
fn vap_has_one_validation_per_check_in_upstream_order() {
    for level in [Level::Baseline, Level::Restricted] {
        let ids: Vec<&str> = vap::pss_checks(level).iter().map(|c| c.id).collect();
        let want: Vec<&str> = pss::check_ids(LevelVersion::latest(level)).collect();
        assert_eq!(ids, want, "{level}");
    }
    let strict: Vec<&str> = vap::checks(PolicyKind::Strict)
        .iter()
        .map(|c| c.id)
        .collect();
    assert!(strict.ends_with(&["readOnlyRootFilesystem", "runAsUserRange"]));
    assert!(vap::pss_checks(Level::Privileged).is_empty());
}

#[test]
fn vap_applies_to_baseline_restricted_and_strict_only() {
    assert_eq!(
        PolicyKind::of(&profile("baseline")),
        Ok(PolicyKind::Baseline)
    );
    assert_eq!(
        PolicyKind::of(&profile("restricted:latest")),
        Ok(PolicyKind::Restricted)
    );
    assert_eq!(PolicyKind::of(&profile("strict")), Ok(PolicyKind::Strict));
    for p in ["privileged", "restricted:v1.30", "node-agent"] {
        let why = PolicyKind::of(&profile(p)).expect_err(p);
        assert!(why.starts_with("No ValidatingAdmissionPolicy"), "{why}");
    }
    assert!(PolicyKind::of(&custom("team-a")).is_err());
}

#[test]
fn every_safe_sysctl_is_allowed_by_the_core_at_latest() {
    use k8s_openapi::api::core::v1::{PodSecurityContext, PodSpec, Sysctl};
    let vap_text = vap::policy_yaml(PolicyKind::Baseline, &AssignTarget::Cluster, Mode::Enforce);
    for name in [
        "kernel.shm_rmid_forced",
        "net.ipv4.ip_local_port_range",
        "net.ipv4.tcp_syncookies",
        "net.ipv4.ping_group_range",
        "net.ipv4.ip_unprivileged_port_start",
        "net.ipv4.ip_local_reserved_ports",
        "net.ipv4.tcp_keepalive_time",
        "net.ipv4.tcp_fin_timeout",
        "net.ipv4.tcp_keepalive_intvl",
        "net.ipv4.tcp_keepalive_probes",
        "net.ipv4.tcp_rmem",
        "net.ipv4.tcp_wmem",
        "net.ipv4.tcp_slow_start_after_idle",
        "net.ipv4.tcp_notsent_lowat",
    ] {
        let spec = PodSpec {
            security_context: Some(PodSecurityContext {
                sysctls: Some(vec![Sysctl {
                    name: name.into(),
                    value: "1".into(),
                }]),
                ..Default::default()
            }),
            ..Default::default()
        };
        let ok = pss::is_allowed(
            LevelVersion::latest(Level::Baseline),
            &Default::default(),
            &spec,
        );
        assert!(ok, "{name} is not safe at latest in the core");
        assert!(
            vap_text.contains(&format!("'{name}'")),
            "{name} missing from the VAP"
        );
    }
}

#[test]
fn cel_strings_escape_quotes_and_backslashes() {
    assert_eq!(vap::cel_string("a'b\\c"), r"'a\'b\\c'");
    assert_eq!(vap::cel_string("x\ny"), r"'x\ny'");
}

#[test]
fn object_names_are_valid_kubernetes_names() {
    assert_eq!(
        vap::object_name(&["portcullis", "restricted", "shop", "Deployment", "cart_1"]),
        "portcullis-restricted-shop-deployment-cart-1"
    );
    assert_eq!(vap::object_name(&["a", "B'!"]), "a-b");
    assert!(vap::object_name(&["x"; 200]).len() <= 253);
}

#[test]
fn format_texts_and_why_not() {
    let e = export(
        &workload(),
        &profile("baseline"),
        Mode::Warn,
        &WebhookOptions::default(),
    );
    assert!(e.format(Format::Vap).is_ok());
    let why = e
        .format(Format::Kubectl)
        .expect_err("no kubectl for a workload");
    assert!(why.contains("per namespace"), "{why}");
    let e = export(
        &ns("a"),
        &profile("baseline"),
        Mode::Warn,
        &WebhookOptions::default(),
    );
    assert_eq!(
        e.format(Format::Labels).expect("labels"),
        "pod-security.kubernetes.io/warn=baseline\npod-security.kubernetes.io/warn-version=latest\n"
    );
    assert_eq!(Format::parse("vap"), Some(Format::Vap));
    assert_eq!(Format::parse("json"), None);
}

#[test]
fn namespace_names_are_checked_and_a_bad_one_is_noted() {
    for good in ["shop", "a", "kube-system", "a1-b2"] {
        assert!(is_namespace_name(good), "{good}");
    }
    for bad in ["", "Shop", "-a", "a-", "a.b", "a?b", &"a".repeat(64)] {
        assert!(!is_namespace_name(bad), "{bad}");
    }
    let e = export(
        &ns("x'; rm"),
        &profile("baseline"),
        Mode::Enforce,
        &WebhookOptions::default(),
    );
    assert!(
        e.notes[0].contains("cannot be the name of a namespace"),
        "{:?}",
        e.notes
    );
}
