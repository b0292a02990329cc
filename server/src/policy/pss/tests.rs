//! Unit tests for the Pod Security Standards: what the upstream fixtures do not
//! cover, with exact full messages.
//!
//! Pods are written as YAML; `$R` stands for a restricted-compliant container
//! security context and `$P` for a restricted-compliant pod security context.

use k8s_openapi::api::core::v1::{Pod, PodSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::*;

const R: &str = "{allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}";
const P: &str = "{runAsNonRoot: true, seccompProfile: {type: RuntimeDefault}}";

fn pod(yaml: &str) -> (ObjectMeta, PodSpec) {
    let yaml = yaml.replace("$R", R).replace("$P", P);
    let pod: Pod = serde_yaml_ng::from_str(&yaml).unwrap_or_else(|e| panic!("{e}\n{yaml}"));
    (pod.metadata, pod.spec.expect("spec"))
}

fn profile(s: &str) -> LevelVersion {
    s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn eval(p: &str, yaml: &str) -> Evaluation {
    let (meta, spec) = pod(yaml);
    evaluate(profile(p), &meta, &spec)
}

/// Runs a table of (name, profile, pod, expected message; "" for allowed).
fn run_table(cases: &[(&str, &str, &str, &str)]) {
    let mut failures = Vec::new();
    for (name, p, yaml, want) in cases {
        let got = eval(p, yaml).message();
        if got != *want {
            failures.push(format!("{name} at {p}:\n  want: {want}\n  got:  {got}"));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

const RESTRICTED_POD: &str = "
spec:
  securityContext: $P
  initContainers: [{name: init, securityContext: $R}]
  containers: [{name: app, securityContext: $R}]
";

#[test]
fn restricted_base_pod_is_allowed_everywhere() {
    for v in 0..=MAX_VERSION + 3 {
        for level in Level::ALL {
            let p = LevelVersion::new(level, Version::V1(v));
            let (meta, spec) = pod(RESTRICTED_POD);
            let e = evaluate(p, &meta, &spec);
            assert!(e.allowed(), "{p}: {}", e.message());
            assert_eq!(e.message(), "");
            assert_eq!(e.warning(), "");
            assert_eq!(e.reasons(), "");
        }
    }
}

#[test]
fn ephemeral_containers() {
    run_table(&[
        (
            "ephemeral container checked by restricted",
            "restricted:latest",
            "
spec:
  securityContext: $P
  initContainers: [{name: init, securityContext: $R}]
  containers: [{name: app, securityContext: $R}]
  ephemeralContainers: [{name: debug}]
",
            r#"violates PodSecurity "restricted:latest": allowPrivilegeEscalation != false (container "debug" must set securityContext.allowPrivilegeEscalation=false), unrestricted capabilities (container "debug" must set securityContext.capabilities.drop=["ALL"])"#,
        ),
        (
            "ephemeral visited after init and regular containers",
            "baseline:latest",
            "
spec:
  ephemeralContainers: [{name: debug, securityContext: {privileged: true}}]
  containers: [{name: app, securityContext: {privileged: true}}]
  initContainers: [{name: init, securityContext: {privileged: true}}]
",
            r#"violates PodSecurity "baseline:latest": privileged (containers "init", "app", "debug" must not set securityContext.privileged=true)"#,
        ),
        (
            "ephemeral seccomp with no pod profile",
            "restricted:v1.30",
            "
spec:
  securityContext: {runAsNonRoot: true}
  containers: [{name: app, securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}, seccompProfile: {type: RuntimeDefault}}}]
  ephemeralContainers: [{name: debug, securityContext: $R}]
",
            r#"violates PodSecurity "restricted:v1.30": seccompProfile (pod or container "debug" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")"#,
        ),
        (
            "probe hosts: containers sorted, not in visit order",
            "baseline:latest",
            "
spec:
  initContainers: [{name: mid, startupProbe: {httpGet: {host: b.example, port: 80}}}]
  containers: [{name: zeta, readinessProbe: {httpGet: {host: b.example, port: 80}}, lifecycle: {preStop: {tcpSocket: {host: '', port: 80}}}}]
  ephemeralContainers: [{name: alpha, livenessProbe: {tcpSocket: {host: a.example, port: 80}}}]
",
            r#"violates PodSecurity "baseline:latest": probe or lifecycle host (containers "alpha", "mid", "zeta" use probe or lifecycle hosts "a.example", "b.example")"#,
        ),
        (
            "ephemeral seccomp annotation before v1.19",
            "baseline:v1.18",
            "
metadata:
  annotations: {container.seccomp.security.alpha.kubernetes.io/debug: unconfined}
spec:
  containers: [{name: app}]
  ephemeralContainers: [{name: debug}]
",
            r#"violates PodSecurity "baseline:v1.18": seccompProfile (forbidden annotation container.seccomp.security.alpha.kubernetes.io/debug="unconfined")"#,
        ),
    ]);
}

#[test]
fn app_armor_profile_fields_and_annotations() {
    run_table(&[
        (
            "pod field",
            "baseline:latest",
            "
spec:
  securityContext: {appArmorProfile: {type: Unconfined}}
  containers: [{name: a}]
",
            r#"violates PodSecurity "baseline:latest": forbidden AppArmor profile (pod must not set AppArmor profile type to "Unconfined")"#,
        ),
        (
            "container field, allowed init container",
            "baseline:latest",
            "
spec:
  initContainers: [{name: i, securityContext: {appArmorProfile: {type: Localhost, localhostProfile: p}}}]
  containers: [{name: a, securityContext: {appArmorProfile: {type: Unconfined}}}]
",
            r#"violates PodSecurity "baseline:latest": forbidden AppArmor profile (container "a" must not set AppArmor profile type to "Unconfined")"#,
        ),
        (
            "same bad type on pod and container counts once",
            "baseline:latest",
            "
spec:
  securityContext: {appArmorProfile: {type: Unconfined}}
  containers: [{name: a, securityContext: {appArmorProfile: {type: Unconfined}}}]
",
            r#"violates PodSecurity "baseline:latest": forbidden AppArmor profile (pod and container "a" must not set AppArmor profile type to "Unconfined")"#,
        ),
        (
            "pod, container and annotation together",
            "restricted:latest",
            "
metadata:
  annotations: {container.apparmor.security.beta.kubernetes.io/a: unconfined}
spec:
  securityContext: {runAsNonRoot: true, seccompProfile: {type: RuntimeDefault}, appArmorProfile: {type: Unconfined}}
  containers: [{name: a, securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}, appArmorProfile: {type: Unconfined}}}]
",
            r#"violates PodSecurity "restricted:latest": forbidden AppArmor profiles (pod and container "a" and annotation must not set AppArmor profile type to "Unconfined", "container.apparmor.security.beta.kubernetes.io/a="unconfined"")"#,
        ),
        (
            "several types and containers, sorted values",
            "baseline:latest",
            "
spec:
  securityContext: {appArmorProfile: {type: Unconfined}}
  containers:
  - {name: a, securityContext: {appArmorProfile: {type: Unconfined}}}
  - {name: b, securityContext: {appArmorProfile: {type: Other}}}
  - {name: c, securityContext: {appArmorProfile: {type: RuntimeDefault}}}
",
            r#"violates PodSecurity "baseline:latest": forbidden AppArmor profiles (pod and containers "a", "b" must not set AppArmor profile type to "Other", "Unconfined")"#,
        ),
        (
            "upstream's annotation table",
            "baseline:latest",
            "
metadata:
  annotations:
    container.apparmor.security.beta.kubernetes.io/: bogus
    container.apparmor.security.beta.kubernetes.io/a: ''
    container.apparmor.security.beta.kubernetes.io/b: runtime/default
    container.apparmor.security.beta.kubernetes.io/c: localhost/
    container.apparmor.security.beta.kubernetes.io/d: localhost/foo
    container.apparmor.security.beta.kubernetes.io/e: unconfined
    container.apparmor.security.beta.kubernetes.io/f: unknown
    unrelated: unconfined
spec:
  containers: [{name: a}]
",
            r#"violates PodSecurity "baseline:latest": forbidden AppArmor profiles (annotations must not set AppArmor profile type to "container.apparmor.security.beta.kubernetes.io/="bogus"", "container.apparmor.security.beta.kubernetes.io/e="unconfined"", "container.apparmor.security.beta.kubernetes.io/f="unknown"")"#,
        ),
        (
            "annotation value quoted like Go's %q",
            "baseline:v1.0",
            r#"
metadata:
  annotations: {container.apparmor.security.beta.kubernetes.io/a: "un\"conf\\d\t"}
spec:
  containers: [{name: a}]
"#,
            r#"violates PodSecurity "baseline:v1.0": forbidden AppArmor profile (annotation must not set AppArmor profile type to "container.apparmor.security.beta.kubernetes.io/a="un\"conf\\d\t"")"#,
        ),
    ]);
}

#[test]
fn app_armor_violation_lists_containers() {
    let e = eval(
        "baseline:latest",
        "
metadata:
  annotations:
    container.apparmor.security.beta.kubernetes.io/b: unconfined
    container.apparmor.security.beta.kubernetes.io/a: unconfined
    container.apparmor.security.beta.kubernetes.io/: unconfined
spec:
  containers: [{name: a, securityContext: {appArmorProfile: {type: Unconfined}}}, {name: b}]
",
    );
    assert_eq!(e.violations.len(), 1);
    assert_eq!(e.violations[0].check, "appArmorProfile");
    assert_eq!(e.violations[0].control, Control::AppArmor);
    assert_eq!(e.violations[0].containers, ["a", "b"]);
}

#[test]
fn se_linux_container_engine_t_from_v1_31() {
    let yaml = "
spec:
  containers: [{name: app, securityContext: {seLinuxOptions: {type: container_engine_t, level: 's0:c1'}}}]
";
    run_table(&[
        ("container_engine_t allowed", "baseline:v1.31", yaml, ""),
        ("container_engine_t allowed", "baseline:latest", yaml, ""),
        (
            "container_engine_t denied",
            "baseline:v1.30",
            yaml,
            r#"violates PodSecurity "baseline:v1.30": seLinuxOptions (container "app" set forbidden securityContext.seLinuxOptions: type "container_engine_t")"#,
        ),
    ]);
}

#[test]
fn se_linux_upstream_table() {
    let yaml = "
spec:
  securityContext: {seLinuxOptions: {type: foo, user: bar, role: baz}}
  containers:
  - {name: a, securityContext: {seLinuxOptions: {type: container_t}}}
  - {name: b, securityContext: {seLinuxOptions: {type: container_init_t}}}
  - {name: c, securityContext: {seLinuxOptions: {type: container_kvm_t}}}
  - {name: d, securityContext: {seLinuxOptions: {type: container_engine_t}}}
  - {name: e, securityContext: {seLinuxOptions: {type: bar}}}
  - {name: f, securityContext: {seLinuxOptions: {user: bar}}}
  - {name: g, securityContext: {seLinuxOptions: {role: baz}}}
";
    run_table(&[
        (
            "1.31",
            "baseline:v1.31",
            yaml,
            r#"violates PodSecurity "baseline:v1.31": seLinuxOptions (pod and containers "e", "f", "g" set forbidden securityContext.seLinuxOptions: types "bar", "foo"; user may not be set; role may not be set)"#,
        ),
        (
            "1.30",
            "baseline:v1.30",
            yaml,
            r#"violates PodSecurity "baseline:v1.30": seLinuxOptions (pod and containers "d", "e", "f", "g" set forbidden securityContext.seLinuxOptions: types "bar", "container_engine_t", "foo"; user may not be set; role may not be set)"#,
        ),
        (
            "pod only, one type",
            "baseline:latest",
            "
spec:
  securityContext: {seLinuxOptions: {type: bad}}
  containers: [{name: a}]
",
            r#"violates PodSecurity "baseline:latest": seLinuxOptions (pod set forbidden securityContext.seLinuxOptions: type "bad")"#,
        ),
    ]);
}

#[test]
fn user_namespace_relaxations() {
    let root = "
spec:
  hostUsers: false
  securityContext: {runAsUser: 0, seccompProfile: {type: RuntimeDefault}}
  containers: [{name: app, securityContext: $R}]
";
    let root_host_users = root.replace("hostUsers: false", "hostUsers: true");
    let unmasked_baseline = "
spec:
  hostUsers: false
  containers: [{name: app, securityContext: {procMount: Unmasked}}]
";
    let unmasked_restricted = "
spec:
  hostUsers: false
  securityContext: $P
  containers: [{name: app, securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}, procMount: Unmasked}}]
";
    run_table(&[
        (
            "runAsNonRoot/runAsUser relaxed",
            "restricted:v1.35",
            root,
            "",
        ),
        (
            "runAsNonRoot/runAsUser relaxed",
            "restricted:latest",
            root,
            "",
        ),
        (
            "not relaxed before v1.35",
            "restricted:v1.34",
            root,
            r#"violates PodSecurity "restricted:v1.34": runAsNonRoot != true (pod or container "app" must set securityContext.runAsNonRoot=true), runAsUser=0 (pod must not set runAsUser=0)"#,
        ),
        (
            "not relaxed with hostUsers: true",
            "restricted:v1.35",
            &root_host_users,
            r#"violates PodSecurity "restricted:v1.35": runAsNonRoot != true (pod or container "app" must set securityContext.runAsNonRoot=true), runAsUser=0 (pod must not set runAsUser=0)"#,
        ),
        (
            "baseline procMount relaxed",
            "baseline:v1.35",
            unmasked_baseline,
            "",
        ),
        (
            "baseline procMount not relaxed before v1.35",
            "baseline:v1.34",
            unmasked_baseline,
            r#"violates PodSecurity "baseline:v1.34": procMount (container "app" must not set securityContext.procMount to "Unmasked")"#,
        ),
        (
            "procMount_restricted still denies",
            "restricted:v1.35",
            unmasked_restricted,
            r#"violates PodSecurity "restricted:v1.35": procMount (container "app" must not set securityContext.procMount to "Unmasked")"#,
        ),
    ]);
    let check = |p: &str| eval(p, unmasked_restricted).violations[0].check;
    assert_eq!(check("restricted:v1.35"), "procMount_restricted");
    assert_eq!(check("restricted:v1.34"), "procMount");
}

#[test]
fn windows_pods() {
    let windows = "
spec:
  os: {name: windows}
  securityContext: {runAsNonRoot: true}
  containers: [{name: app}]
";
    let linux = windows.replace("windows", "linux");
    let denied = |p: &str| {
        format!(
            r#"violates PodSecurity "{p}": allowPrivilegeEscalation != false (container "app" must set securityContext.allowPrivilegeEscalation=false), unrestricted capabilities (container "app" must set securityContext.capabilities.drop=["ALL"]), seccompProfile (pod or container "app" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")"#
        )
    };
    run_table(&[
        ("windows exempt", "restricted:v1.25", windows, ""),
        ("windows exempt", "restricted:latest", windows, ""),
        (
            "windows not exempt before v1.25",
            "restricted:v1.24",
            windows,
            &denied("restricted:v1.24"),
        ),
        (
            "linux not exempt",
            "restricted:v1.25",
            &linux,
            &denied("restricted:v1.25"),
        ),
    ]);
    // The exemption does not reach runAsNonRoot or baseline checks.
    let windows_root = "
spec:
  os: {name: windows}
  securityContext: {windowsOptions: {hostProcess: true}}
  containers: [{name: app}]
";
    run_table(&[(
        "windows still checked for runAsNonRoot and hostProcess",
        "restricted:latest",
        windows_root,
        r#"violates PodSecurity "restricted:latest": hostProcess (pod must not set securityContext.windowsOptions.hostProcess=true), runAsNonRoot != true (pod or container "app" must set securityContext.runAsNonRoot=true)"#,
    )]);
}

const BAD_POD: &str = "
metadata:
  annotations: {container.apparmor.security.beta.kubernetes.io/app: unconfined}
spec:
  hostNetwork: true
  hostPID: true
  securityContext:
    sysctls: [{name: kernel.msgmax, value: '1'}, {name: net.ipv4.tcp_syncookies, value: '1'}, {name: kernel.msgmax, value: '2'}]
    windowsOptions: {hostProcess: true}
    seLinuxOptions: {user: u}
  volumes: [{name: host, hostPath: {path: /}}, {name: data, emptyDir: {}}]
  containers:
  - name: app
    ports: [{containerPort: 80, hostPort: 8080}, {containerPort: 81, hostPort: 12345}]
    securityContext:
      privileged: true
      capabilities: {add: [NET_ADMIN, SYS_ADMIN, CHOWN]}
      procMount: Unmasked
      seccompProfile: {type: Unconfined}
";

#[test]
fn several_failing_checks_in_upstream_order() {
    let e = eval("baseline:latest", BAD_POD);
    assert_eq!(
        e.message(),
        r#"violates PodSecurity "baseline:latest": forbidden AppArmor profile (annotation must not set AppArmor profile type to "container.apparmor.security.beta.kubernetes.io/app="unconfined""), non-default capabilities (container "app" must not include "NET_ADMIN", "SYS_ADMIN" in securityContext.capabilities.add), host namespaces (hostNetwork=true, hostPID=true), hostPath volumes (volume "host"), hostPort (container "app" uses hostPorts 12345, 8080), privileged (container "app" must not set securityContext.privileged=true), procMount (container "app" must not set securityContext.procMount to "Unmasked"), seLinuxOptions (pod set forbidden securityContext.seLinuxOptions: user may not be set), seccompProfile (container "app" must not set securityContext.seccompProfile.type to "Unconfined"), forbidden sysctls (kernel.msgmax, kernel.msgmax), hostProcess (pod must not set securityContext.windowsOptions.hostProcess=true)"#
    );
    assert_eq!(
        e.warning(),
        e.message().replacen("violates", "would violate", 1)
    );
    assert_eq!(
        e.reasons_only(),
        "forbidden AppArmor profile, non-default capabilities, host namespaces, hostPath volumes, hostPort, privileged, procMount, seLinuxOptions, seccompProfile, forbidden sysctls, hostProcess"
    );
    let ids: Vec<&str> = e.violations.iter().map(|v| v.check).collect();
    assert_eq!(
        ids,
        [
            "appArmorProfile",
            "capabilities_baseline",
            "hostNamespaces",
            "hostPathVolumes",
            "hostPorts",
            "privileged",
            "procMount",
            "seLinuxOptions",
            "seccompProfile_baseline",
            "sysctls",
            "windowsHostProcess"
        ]
    );

    let e = eval("restricted:latest", BAD_POD);
    let ids: Vec<&str> = e.violations.iter().map(|v| v.check).collect();
    assert_eq!(
        ids,
        [
            "appArmorProfile",
            "hostNamespaces",
            "hostPorts",
            "privileged",
            "seLinuxOptions",
            "sysctls",
            "windowsHostProcess",
            "allowPrivilegeEscalation",
            "capabilities_restricted",
            "procMount_restricted",
            "restrictedVolumes",
            "runAsNonRoot",
            "seccompProfile_restricted"
        ]
    );
    assert!(e.message().contains(
        r#", unrestricted capabilities (container "app" must set securityContext.capabilities.drop=["ALL"]; container "app" must not include "CHOWN", "NET_ADMIN", "SYS_ADMIN" in securityContext.capabilities.add), "#
    ));
}

#[test]
fn latest_and_newer_versions_clamp_to_max() {
    let (meta, spec) = pod(BAD_POD);
    for level in [Level::Baseline, Level::Restricted] {
        let at = |v: Version| evaluate(LevelVersion::new(level, v), &meta, &spec);
        let max = at(Version::V1(MAX_VERSION));
        for v in [
            Version::Latest,
            Version::V1(MAX_VERSION + 1),
            Version::V1(100),
        ] {
            let e = at(v);
            assert_eq!(e.violations, max.violations, "{level}:{v}");
            assert_eq!(e.profile.version, v);
            assert_eq!(
                e.message(),
                max.message().replacen(
                    &format!("{level}:v1.{MAX_VERSION}"),
                    &format!("{level}:{v}"),
                    1
                )
            );
        }
    }
    assert!(
        eval("baseline:latest", BAD_POD)
            .message()
            .starts_with(r#"violates PodSecurity "baseline:latest": "#)
    );
    assert!(
        eval("restricted:v1.100", BAD_POD)
            .message()
            .starts_with(r#"violates PodSecurity "restricted:v1.100": "#)
    );
}

#[test]
fn privileged_allows_everything() {
    for p in ["privileged", "privileged:v1.0", "privileged:latest"] {
        let e = eval(p, BAD_POD);
        assert!(e.allowed());
        assert_eq!(e.message(), "");
        assert_eq!(e.warning(), "");
        assert_eq!(check_ids(profile(p)).count(), 0);
    }
}

#[test]
fn singular_and_plural_wording() {
    run_table(&[
        (
            "one container, one port listed twice",
            "baseline:latest",
            "
spec:
  containers: [{name: a, ports: [{containerPort: 1, hostPort: 80}, {containerPort: 2, hostPort: 80}, {containerPort: 3, hostPort: 0}]}]
",
            r#"violates PodSecurity "baseline:latest": hostPort (container "a" uses hostPort 80)"#,
        ),
        (
            "one container, two ports sorted as text",
            "baseline:latest",
            "
spec:
  containers: [{name: a, ports: [{containerPort: 1, hostPort: 8080}, {containerPort: 2, hostPort: 12345}]}]
",
            r#"violates PodSecurity "baseline:latest": hostPort (container "a" uses hostPorts 12345, 8080)"#,
        ),
        (
            "two containers, one port",
            "baseline:latest",
            "
spec:
  containers:
  - {name: a, ports: [{containerPort: 1, hostPort: 80}]}
  - {name: b, ports: [{containerPort: 1, hostPort: 80}]}
  - {name: c, ports: [{containerPort: 1}]}
",
            r#"violates PodSecurity "baseline:latest": hostPort (containers "a", "b" use hostPort 80)"#,
        ),
        (
            "upstream: several containers and ports",
            "baseline:latest",
            "
spec:
  containers:
  - {name: a, ports: [{containerPort: 1}]}
  - {name: b, ports: [{containerPort: 1, hostPort: 20}, {containerPort: 2, hostPort: 10}]}
  - {name: c, ports: [{containerPort: 1, hostPort: 30}, {containerPort: 2, hostPort: 20}]}
",
            r#"violates PodSecurity "baseline:latest": hostPort (containers "b", "c" use hostPorts 10, 20, 30)"#,
        ),
        (
            "one hostPath volume",
            "baseline:latest",
            "
spec:
  containers: [{name: a}]
  volumes: [{name: h, hostPath: {path: /}}, {name: s, secret: {secretName: s}}]
",
            r#"violates PodSecurity "baseline:latest": hostPath volumes (volume "h")"#,
        ),
        (
            "two hostPath volumes",
            "baseline:latest",
            "
spec:
  containers: [{name: a}]
  volumes: [{name: h1, hostPath: {path: /}}, {name: h2, hostPath: {path: /etc}}]
",
            r#"violates PodSecurity "baseline:latest": hostPath volumes (volumes "h1", "h2")"#,
        ),
        (
            "two volumes, one restricted type",
            "restricted:latest",
            "
spec:
  securityContext: $P
  containers: [{name: a, securityContext: $R}]
  volumes: [{name: n1, nfs: {server: s, path: /}}, {name: n2, nfs: {server: s, path: /x}}]
",
            r#"violates PodSecurity "restricted:latest": restricted volume types (volumes "n1", "n2" use restricted volume type "nfs")"#,
        ),
        (
            "two volumes, two restricted types",
            "restricted:latest",
            "
spec:
  securityContext: $P
  containers: [{name: a, securityContext: $R}]
  volumes: [{name: r, rbd: {monitors: [m], image: i}}, {name: n, nfs: {server: s, path: /}}]
",
            r#"violates PodSecurity "restricted:latest": restricted volume types (volumes "r", "n" use restricted volume types "nfs", "rbd")"#,
        ),
        (
            "seccomp: one container, then two",
            "baseline:latest",
            "
spec:
  containers:
  - {name: c, securityContext: {seccompProfile: {type: Unconfined}}}
  - {name: d, securityContext: {seccompProfile: {type: Unconfined}}}
",
            r#"violates PodSecurity "baseline:latest": seccompProfile (containers "c", "d" must not set securityContext.seccompProfile.type to "Unconfined")"#,
        ),
        (
            "capabilities: both parts",
            "restricted:latest",
            "
spec:
  securityContext: $P
  containers:
  - {name: a, securityContext: {allowPrivilegeEscalation: false}}
  - {name: b, securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL], add: [NET_RAW, NET_BIND_SERVICE]}}}
  - {name: c, securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [all], add: [SYS_ADMIN]}}}
",
            r#"violates PodSecurity "restricted:latest": unrestricted capabilities (containers "a", "c" must set securityContext.capabilities.drop=["ALL"]; containers "b", "c" must not include "NET_RAW", "SYS_ADMIN" in securityContext.capabilities.add)"#,
        ),
        (
            "runAsNonRoot false on pod and container",
            "restricted:latest",
            "
spec:
  securityContext: {runAsNonRoot: false, seccompProfile: {type: RuntimeDefault}}
  containers:
  - {name: a, securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}, runAsNonRoot: false}}
  - {name: b, securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}}
",
            r#"violates PodSecurity "restricted:latest": runAsNonRoot != true (pod and container "a" must not set securityContext.runAsNonRoot=false)"#,
        ),
        (
            "runAsUser 0 on pod and containers",
            "restricted:latest",
            "
spec:
  securityContext: {runAsNonRoot: true, runAsUser: 0, seccompProfile: {type: RuntimeDefault}}
  containers:
  - {name: a, securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}, runAsUser: 0}}
  - {name: b, securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}, runAsUser: 0}}
  - {name: c, securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}, runAsUser: 1000}}
",
            r#"violates PodSecurity "restricted:latest": runAsUser=0 (pod and containers "a", "b" must not set runAsUser=0)"#,
        ),
        (
            "explicit bad seccomp reported instead of missing",
            "restricted:latest",
            "
spec:
  securityContext: {runAsNonRoot: true}
  containers:
  - {name: a, securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}, seccompProfile: {type: Unconfined}}}
  - {name: b, securityContext: $R}
",
            r#"violates PodSecurity "restricted:latest": seccompProfile (container "a" must not set securityContext.seccompProfile.type to "Unconfined")"#,
        ),
        (
            "pod hostProcess and two containers",
            "baseline:latest",
            "
spec:
  securityContext: {windowsOptions: {hostProcess: true}}
  containers:
  - {name: a, securityContext: {windowsOptions: {hostProcess: true}}}
  - {name: b, securityContext: {windowsOptions: {hostProcess: true}}}
  - {name: c, securityContext: {windowsOptions: {hostProcess: false}}}
",
            r#"violates PodSecurity "baseline:latest": hostProcess (pod and containers "a", "b" must not set securityContext.windowsOptions.hostProcess=true)"#,
        ),
        (
            "all three host namespaces",
            "baseline:latest",
            "
spec:
  hostIPC: true
  hostPID: true
  hostNetwork: true
  containers: [{name: a}]
",
            r#"violates PodSecurity "baseline:latest": host namespaces (hostNetwork=true, hostPID=true, hostIPC=true)"#,
        ),
        (
            "two procMount types",
            "baseline:latest",
            "
spec:
  containers:
  - {name: a, securityContext: {procMount: Unmasked}}
  - {name: b, securityContext: {procMount: Other}}
  - {name: c, securityContext: {procMount: Default}}
",
            r#"violates PodSecurity "baseline:latest": procMount (containers "a", "b" must not set securityContext.procMount to "Other", "Unmasked")"#,
        ),
    ]);
}

#[test]
fn seccomp_annotations_before_v1_19() {
    run_table(&[
        (
            "empty value is not allowed",
            "baseline:v1.18",
            "
metadata:
  annotations: {seccomp.security.alpha.kubernetes.io/pod: ''}
spec:
  containers: [{name: a}]
",
            r#"violates PodSecurity "baseline:v1.18": seccompProfile (forbidden annotation seccomp.security.alpha.kubernetes.io/pod="")"#,
        ),
        (
            "upstream: pod and containers",
            "restricted:v1.18",
            "
metadata:
  annotations:
    seccomp.security.alpha.kubernetes.io/pod: unconfined
    container.seccomp.security.alpha.kubernetes.io/a: unconfined
    container.seccomp.security.alpha.kubernetes.io/b: unknown
    container.seccomp.security.alpha.kubernetes.io/c: localhost/p
    container.seccomp.security.alpha.kubernetes.io/ghost: unconfined
spec:
  securityContext: {runAsNonRoot: true}
  containers:
  - {name: a, securityContext: $R}
  - {name: b, securityContext: $R}
  - {name: c, securityContext: $R}
",
            r#"violates PodSecurity "restricted:v1.18": seccompProfile (forbidden annotations container.seccomp.security.alpha.kubernetes.io/a="unconfined", container.seccomp.security.alpha.kubernetes.io/b="unknown", seccomp.security.alpha.kubernetes.io/pod="unconfined")"#,
        ),
        (
            "allowed values; annotation of a missing container ignored",
            "baseline:v1.0",
            "
metadata:
  annotations:
    seccomp.security.alpha.kubernetes.io/pod: docker/default
    container.seccomp.security.alpha.kubernetes.io/a: runtime/default
    container.seccomp.security.alpha.kubernetes.io/b: localhost/p
    container.seccomp.security.alpha.kubernetes.io/ghost: unconfined
spec:
  containers: [{name: a}, {name: b}]
",
            "",
        ),
        (
            "annotations ignored from v1.19",
            "baseline:v1.19",
            "
metadata:
  annotations: {seccomp.security.alpha.kubernetes.io/pod: unconfined}
spec:
  containers: [{name: a}]
",
            "",
        ),
        (
            "fields ignored before v1.19",
            "baseline:v1.18",
            "
spec:
  securityContext: {seccompProfile: {type: Unconfined}}
  containers: [{name: a}]
",
            "",
        ),
    ]);
}

#[test]
fn sysctls_allow_list_by_version() {
    let names = [
        ("kernel.shm_rmid_forced", 0),
        ("net.ipv4.ip_local_port_range", 0),
        ("net.ipv4.tcp_syncookies", 0),
        ("net.ipv4.ping_group_range", 0),
        ("net.ipv4.ip_unprivileged_port_start", 0),
        ("net.ipv4.ip_local_reserved_ports", 27),
        ("net.ipv4.tcp_keepalive_time", 29),
        ("net.ipv4.tcp_fin_timeout", 29),
        ("net.ipv4.tcp_keepalive_intvl", 29),
        ("net.ipv4.tcp_keepalive_probes", 29),
        ("net.ipv4.tcp_rmem", 32),
        ("net.ipv4.tcp_wmem", 32),
        ("net.ipv4.tcp_slow_start_after_idle", 37),
        ("net.ipv4.tcp_notsent_lowat", 37),
    ];
    for (name, since) in names {
        let yaml = format!(
            "spec: {{securityContext: {{sysctls: [{{name: {name}, value: '1'}}]}}, containers: [{{name: a}}]}}"
        );
        for minor in 0..=MAX_VERSION + 1 {
            let p = format!("baseline:v1.{minor}");
            let want = if minor >= since {
                String::new()
            } else {
                format!(r#"violates PodSecurity "{p}": forbidden sysctls ({name})"#)
            };
            assert_eq!(eval(&p, &yaml).message(), want, "{name} at {p}");
        }
    }
    run_table(&[(
        "spec order, not deduplicated, values ignored, exact names",
        "baseline:latest",
        "
spec:
  securityContext:
    sysctls: [{name: b.x, value: '1'}, {name: net.ipv4.tcp_rmem, value: 'anything'}, {name: a.x, value: '1'}, {name: b.x, value: '2'}, {name: NET.IPV4.TCP_WMEM, value: '1'}]
  containers: [{name: a}]
",
        r#"violates PodSecurity "baseline:latest": forbidden sysctls (b.x, a.x, b.x, NET.IPV4.TCP_WMEM)"#,
    )]);
}

#[test]
fn volumes_without_source_default_to_empty_dir() {
    run_table(&[(
        "source-less volume",
        "restricted:latest",
        "
spec:
  securityContext: $P
  containers: [{name: a, securityContext: $R}]
  volumes: [{name: scratch}, {name: img, image: {reference: r}}, {name: e, ephemeral: {}}]
",
        "",
    )]);
}

#[test]
fn restricted_volumes_upstream_table() {
    let yaml = "
spec:
  securityContext: $P
  containers: [{name: x, securityContext: $R}]
  volumes:
  - {name: a1, emptyDir: {}}
  - {name: a2, secret: {}}
  - {name: a3, persistentVolumeClaim: {claimName: c}}
  - {name: a4, downwardAPI: {}}
  - {name: a5, configMap: {}}
  - {name: a6, projected: {}}
  - {name: a7, csi: {driver: d}}
  - {name: a8, ephemeral: {}}
  - {name: a9, image: {}}
  - {name: b1, hostPath: {path: /}}
  - {name: b2, gcePersistentDisk: {pdName: p}}
  - {name: b3, awsElasticBlockStore: {volumeID: v}}
  - {name: b4, gitRepo: {repository: r}}
  - {name: b5, nfs: {server: s, path: /}}
  - {name: b6, iscsi: {targetPortal: t, iqn: i, lun: 0}}
  - {name: b7, glusterfs: {endpoints: e, path: p}}
  - {name: b8, rbd: {monitors: [m], image: i}}
  - {name: b9, flexVolume: {driver: d}}
  - {name: b10, cinder: {volumeID: v}}
  - {name: b11, cephfs: {monitors: [m]}}
  - {name: b12, flocker: {}}
  - {name: b13, fc: {}}
  - {name: b14, azureFile: {secretName: s, shareName: s}}
  - {name: b15, vsphereVolume: {volumePath: p}}
  - {name: b16, quobyte: {registry: r, volume: v}}
  - {name: b17, azureDisk: {diskName: d, diskURI: u}}
  - {name: b18, photonPersistentDisk: {pdID: p}}
  - {name: b19, portworxVolume: {volumeID: v}}
  - {name: b20, scaleIO: {gateway: g, system: s, secretRef: {}}}
  - {name: b21, storageos: {}}
  - {name: c1}
";
    // Upstream's table reports the source-less `c1` as "unknown"; the API server
    // defaults it to emptyDir first, and so do we.
    run_table(&[(
        "every restricted type",
        "restricted:latest",
        yaml,
        concat!(
            r#"violates PodSecurity "restricted:latest": restricted volume types (volumes "#,
            r#""b1", "b2", "b3", "b4", "b5", "b6", "b7", "b8", "b9", "b10", "b11", "b12", "b13", "b14", "b15", "b16", "b17", "b18", "b19", "b20", "b21""#,
            r#" use restricted volume types "#,
            r#""awsElasticBlockStore", "azureDisk", "azureFile", "cephfs", "cinder", "fc", "flexVolume", "flocker", "gcePersistentDisk", "gitRepo", "glusterfs", "#,
            r#""hostPath", "iscsi", "nfs", "photonPersistentDisk", "portworxVolume", "quobyte", "rbd", "scaleIO", "storageos", "vsphereVolume")"#,
        ),
    )]);
}

#[test]
fn violations_carry_controls_and_containers() {
    let first = |p: &str, yaml: &str| {
        let e = eval(p, yaml);
        assert_eq!(e.violations.len(), 1, "{}", e.message());
        e.violations.into_iter().next().expect("one violation")
    };
    let v = first(
        "baseline:latest",
        "spec: {hostNetwork: true, containers: [{name: a}]}",
    );
    assert_eq!(
        (v.check, v.control),
        ("hostNamespaces", Control::HostNetwork)
    );
    assert!(v.containers.is_empty());
    let v = first(
        "baseline:latest",
        "spec: {hostNetwork: true, hostIPC: true, containers: [{name: a}]}",
    );
    assert_eq!(v.control, Control::HostNamespaces);
    let v = first(
        "baseline:latest",
        "spec: {hostPID: true, containers: [{name: a}]}",
    );
    assert_eq!(v.control, Control::HostNamespaces);

    let restricted_with = |volumes: &str| {
        format!(
            "spec: {{securityContext: $P, containers: [{{name: a, securityContext: $R}}], volumes: {volumes}}}"
        )
    };
    let v = first(
        "restricted:latest",
        &restricted_with("[{name: h, hostPath: {path: /}}]"),
    );
    assert_eq!(
        (v.check, v.control),
        ("restrictedVolumes", Control::HostPath)
    );
    let v = first(
        "restricted:latest",
        &restricted_with("[{name: f, flexVolume: {driver: d}}]"),
    );
    assert_eq!(v.control, Control::FlexVolume);
    let v = first(
        "restricted:latest",
        &restricted_with("[{name: h, hostPath: {path: /}}, {name: n, nfs: {server: s, path: /}}]"),
    );
    assert_eq!(v.control, Control::Volumes);
    let v = first(
        "baseline:latest",
        "spec: {volumes: [{name: h, hostPath: {path: /}}], containers: [{name: a}]}",
    );
    assert_eq!((v.check, v.control), ("hostPathVolumes", Control::HostPath));

    let v = first(
        "restricted:latest",
        "
spec:
  securityContext: {seccompProfile: {type: RuntimeDefault}}
  initContainers: [{name: i, securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}, runAsNonRoot: true}}]
  containers: [{name: a, securityContext: $R}, {name: b, securityContext: $R}]
",
    );
    assert_eq!((v.check, v.control), ("runAsNonRoot", Control::Users));
    assert_eq!(v.containers, ["a", "b"]);

    let v = first(
        "baseline:latest",
        "spec: {securityContext: {windowsOptions: {hostProcess: true}}, containers: [{name: a}]}",
    );
    assert_eq!(
        (v.check, v.control),
        ("windowsHostProcess", Control::Privileged)
    );
    assert!(v.containers.is_empty());
    let v = first(
        "baseline:latest",
        "spec: {containers: [{name: a, ports: [{containerPort: 1, hostPort: 1}]}]}",
    );
    assert_eq!((v.check, v.control), ("hostPorts", Control::HostNetwork));
    assert_eq!(v.containers, ["a"]);
    assert_eq!(v.text(), r#"hostPort (container "a" uses hostPort 1)"#);

    let e = eval("restricted:latest", BAD_POD);
    for v in &e.violations {
        if v.check != "hostNamespaces" && v.check != "restrictedVolumes" {
            assert_eq!(check_control(v.check), Some(v.control), "{}", v.check);
        }
    }
    for level in [Level::Baseline, Level::Restricted] {
        for id in check_ids(LevelVersion::latest(level)) {
            assert!(check_control(id).is_some(), "{id}");
        }
    }
}

#[test]
fn tightest_level_picks_the_strictest_allowing_level() {
    let (meta, spec) = pod(RESTRICTED_POD);
    assert_eq!(
        tightest_level(&meta, &spec, Version::Latest),
        Level::Restricted
    );
    let (meta, spec) = pod("spec: {containers: [{name: a, image: nginx}]}");
    assert_eq!(
        tightest_level(&meta, &spec, Version::Latest),
        Level::Baseline
    );
    let (meta, spec) = pod(BAD_POD);
    assert_eq!(
        tightest_level(&meta, &spec, Version::Latest),
        Level::Privileged
    );
    // Version matters: allowed at restricted:v1.7, before allowPrivilegeEscalation.
    let (meta, spec) =
        pod("spec: {securityContext: {runAsNonRoot: true}, containers: [{name: a}]}");
    assert_eq!(
        tightest_level(&meta, &spec, Version::V1(7)),
        Level::Restricted
    );
    assert_eq!(
        tightest_level(&meta, &spec, Version::V1(8)),
        Level::Baseline
    );
}

#[test]
fn parsing_levels_and_versions() {
    let versions: &[(&str, Option<Version>)] = &[
        ("latest", Some(Version::Latest)),
        ("v1.0", Some(Version::V1(0))),
        ("v1.9", Some(Version::V1(9))),
        ("v1.30", Some(Version::V1(30))),
        ("v1.100", Some(Version::V1(100))),
        ("v1.05", None),
        ("v1.00", None),
        ("v2.0", None),
        ("v1.", None),
        ("v1", None),
        ("1.30", None),
        ("V1.30", None),
        ("v1.+3", None),
        ("v1.-3", None),
        ("v1.3 ", None),
        ("Latest", None),
        ("", None),
        ("v1.99999999999", None),
    ];
    for (s, want) in versions {
        assert_eq!(s.parse::<Version>().ok(), *want, "{s:?}");
        if let Some(v) = want {
            assert_eq!(v.to_string(), *s);
        }
    }
    assert_eq!(
        "v1.05".parse::<Version>().map_err(|e| e.to_string()),
        Err(r#"invalid Pod Security version "v1.05": must be "latest" or "v1.x""#.to_owned())
    );

    let levels: &[(&str, Option<LevelVersion>)] = &[
        (
            "restricted",
            Some(LevelVersion::new(Level::Restricted, Version::Latest)),
        ),
        (
            "baseline:v1.30",
            Some(LevelVersion::new(Level::Baseline, Version::V1(30))),
        ),
        (
            "restricted:latest",
            Some(LevelVersion::new(Level::Restricted, Version::Latest)),
        ),
        (
            "privileged:v1.0",
            Some(LevelVersion::new(Level::Privileged, Version::V1(0))),
        ),
        ("Restricted", None),
        ("restricted:", None),
        ("restricted:v1.05", None),
        ("baseline:v2.0", None),
        (":latest", None),
        ("restricted:latest:x", None),
        ("", None),
    ];
    for (s, want) in levels {
        assert_eq!(s.parse::<LevelVersion>().ok(), *want, "{s:?}");
    }
    assert_eq!(
        LevelVersion::new(Level::Restricted, Version::Latest).to_string(),
        "restricted:latest"
    );
    assert_eq!(
        LevelVersion::new(Level::Baseline, Version::V1(30)).to_string(),
        "baseline:v1.30"
    );
    for level in Level::ALL {
        assert_eq!(level.to_string().parse::<Level>(), Ok(level));
    }

    assert!(Version::Latest > Version::V1(u32::MAX));
    assert!(Version::V1(9) < Version::V1(10));
    assert_eq!(Version::Latest.effective_minor(), MAX_VERSION);
    assert_eq!(Version::V1(1000).effective_minor(), MAX_VERSION);
    assert_eq!(Version::V1(5).effective_minor(), 5);
    assert!(Level::Privileged < Level::Baseline && Level::Baseline < Level::Restricted);

    let json = serde_json::to_string(&LevelVersion::new(Level::Baseline, Version::V1(30)))
        .expect("serialize");
    assert_eq!(json, r#""baseline:v1.30""#);
    let back: LevelVersion = serde_json::from_str(&json).expect("deserialize");
    assert_eq!(back.to_string(), "baseline:v1.30");
    assert!(serde_json::from_str::<Version>(r#""v1.05""#).is_err());
}

#[test]
fn registry_selects_versions_and_overrides() {
    assert_eq!(max_defined_version(), MAX_VERSION);
    let ids = |p: &str| check_ids(profile(p)).collect::<Vec<_>>();
    let baseline_1_0 = [
        "appArmorProfile",
        "capabilities_baseline",
        "hostNamespaces",
        "hostPathVolumes",
        "hostPorts",
        "privileged",
        "procMount",
        "seLinuxOptions",
        "seccompProfile_baseline",
        "sysctls",
        "windowsHostProcess",
    ];
    assert_eq!(ids("baseline:v1.0"), baseline_1_0);
    assert_eq!(ids("baseline:v1.33"), baseline_1_0);
    let mut baseline_1_34 = baseline_1_0.to_vec();
    baseline_1_34.insert(5, "hostProbesAndHostLifecycle");
    assert_eq!(ids("baseline:v1.34"), baseline_1_34);
    assert_eq!(ids("baseline:latest"), baseline_1_34);

    assert_eq!(
        ids("restricted:v1.0"),
        [
            "appArmorProfile",
            "capabilities_baseline",
            "hostNamespaces",
            "hostPorts",
            "privileged",
            "procMount",
            "seLinuxOptions",
            "seccompProfile_baseline",
            "sysctls",
            "windowsHostProcess",
            "restrictedVolumes",
            "runAsNonRoot",
        ]
    );
    assert_eq!(
        ids("restricted:v1.19"),
        [
            "appArmorProfile",
            "capabilities_baseline",
            "hostNamespaces",
            "hostPorts",
            "privileged",
            "procMount",
            "seLinuxOptions",
            "sysctls",
            "windowsHostProcess",
            "allowPrivilegeEscalation",
            "restrictedVolumes",
            "runAsNonRoot",
            "seccompProfile_restricted",
        ]
    );
    assert_eq!(
        ids("restricted:latest"),
        [
            "appArmorProfile",
            "hostNamespaces",
            "hostPorts",
            "hostProbesAndHostLifecycle",
            "privileged",
            "seLinuxOptions",
            "sysctls",
            "windowsHostProcess",
            "allowPrivilegeEscalation",
            "capabilities_restricted",
            "procMount_restricted",
            "restrictedVolumes",
            "runAsNonRoot",
            "runAsUser",
            "seccompProfile_restricted",
        ]
    );
    assert!(ids("restricted:v1.34").contains(&"procMount"));
    assert!(!ids("restricted:v1.34").contains(&"procMount_restricted"));
    assert!(ids("restricted:v1.21").contains(&"capabilities_baseline"));
    assert!(!ids("restricted:v1.22").contains(&"capabilities_baseline"));
    assert!(!ids("restricted:v1.7").contains(&"allowPrivilegeEscalation"));
    assert!(!ids("restricted:v1.22").contains(&"runAsUser"));
    assert!(ids("restricted:v1.23").contains(&"runAsUser"));
}

#[test]
fn go_quote_matches_strconv_quote() {
    use super::checks::go_quote;
    let cases = [
        ("", r#""""#),
        ("unconfined", r#""unconfined""#),
        ("a\"b\\c", r#""a\"b\\c""#),
        ("\u{7}\u{8}\u{c}\n\r\t\u{b}", r#""\a\b\f\n\r\t\v""#),
        ("\u{0}\u{1f}\u{7f}", r#""\x00\x1f\x7f""#),
        ("é 😀", "\"é 😀\""),
        (
            "\u{a0}\u{85}\u{200b}\u{feff}",
            r#""\u00a0\u0085\u200b\ufeff""#,
        ),
        ("\u{f0000}", r#""\U000f0000""#),
    ];
    for (input, want) in cases {
        assert_eq!(go_quote(input), want, "{input:?}");
    }
}
