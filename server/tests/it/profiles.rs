//! Profiles end to end: fixes against the upstream conformance fixtures, the
//! profiles pages and JSON through `app(state).oneshot`, and custom profiles
//! in the store.

use std::collections::BTreeMap;
use std::fs;

use k8s_openapi::api::core::v1::Pod;
use portcullis::model::PodTemplate;
use portcullis::policy::fixes;
use portcullis::policy::profiles::{self, Profile};
use portcullis::policy::pss::LevelVersion;

use crate::common::shared_dir;

/// Every `fail` fixture of every level and version: each violation gets a fix
/// that, applied and evaluated again, clears it without adding another.
#[test]
fn fixes_clear_the_conformance_failures() {
    let Some(root) = shared_dir("conformance/pod-security-admission/testdata") else {
        return;
    };
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut unfixed: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut failures = Vec::new();
    for level in ["baseline", "restricted"] {
        for minor in 0..=37 {
            let dir = root.join(format!("{level}/v1.{minor}/fail"));
            let Ok(entries) = fs::read_dir(&dir) else {
                continue;
            };
            let lv: LevelVersion = format!("{level}:v1.{minor}").parse().expect("level");
            let profile = Profile::level(lv);
            let mut files: Vec<_> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
            files.sort();
            for path in files {
                let text = fs::read_to_string(&path).expect("read fixture");
                let pod: Pod = serde_yaml_ng::from_str(&text).expect("fixture parses");
                let t = PodTemplate {
                    metadata: pod.metadata,
                    spec: pod.spec.unwrap_or_default(),
                };
                let verdict = profiles::evaluate(&profile, &t);
                let name = format!(
                    "{lv} {}",
                    path.file_name().and_then(|n| n.to_str()).unwrap_or("")
                );
                for (v, fix) in fixes::with_fixes(&profile, &t, &verdict) {
                    *seen.entry(v.check.to_owned()).or_default() += 1;
                    match fix {
                        None => unfixed
                            .entry(v.check.to_owned())
                            .or_default()
                            .push(name.clone()),
                        Some(f) => {
                            if !fixes::verify(&profile, &t, v, &f) {
                                failures.push(format!(
                                    "{name}: {} not cleared by {}",
                                    v.check, f.summary
                                ));
                            }
                        }
                    }
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(seen.len() >= 19, "every check is exercised: {seen:?}");
    assert!(unfixed.is_empty(), "violations without a fix: {unfixed:#?}");
}

/// The denied CREATE cases of `shared/psp/cases`: every fix offered for a
/// policy's error clears it when applied and admitted again.
#[test]
fn fixes_clear_the_psp_case_denials() {
    use serde::Deserialize;
    use serde_json::Value;

    let Some(dir) = shared_dir("psp/cases") else {
        return;
    };
    let mut files: Vec<_> = fs::read_dir(&dir)
        .expect("cases")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    let (mut denied, mut fixed, mut offered) = (0, 0, 0);
    let mut failures = Vec::new();
    for path in files {
        let text = fs::read_to_string(&path).expect("read case");
        let docs: Vec<Value> = serde_yaml_ng::Deserializer::from_str(&text)
            .map(Value::deserialize)
            .collect::<Result<_, _>>()
            .expect("yaml");
        let docs: Vec<&Value> = docs.iter().filter(|d| !d.is_null()).collect();
        let [policies, pod, expect] = docs.as_slice() else {
            continue;
        };
        if expect["operation"] != "CREATE" || expect["allowed"] != false {
            continue;
        }
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("case");
        let mut list =
            portcullis::policy::psp::import(name, &policies.to_string()).expect("import");
        if let Some(auth) = expect["authorizedPolicies"].as_array() {
            list.retain(|p| auth.iter().any(|a| a == p.name.as_str()));
        }
        let pod: Pod = serde_json::from_value((*pod).clone()).expect("pod");
        let t = PodTemplate {
            metadata: pod.metadata,
            spec: pod.spec.unwrap_or_default(),
        };
        let profile = Profile::psp_file(name, list);
        let verdict = profiles::evaluate(&profile, &t);
        if verdict.violations.is_empty() {
            continue;
        }
        denied += 1;
        let mut all_fixed = true;
        for (v, fix) in fixes::with_fixes(&profile, &t, &verdict) {
            match fix {
                None => {
                    eprintln!("no fix: {name}: {}", v.text());
                    all_fixed = false
                }
                Some(f) => {
                    offered += 1;
                    if !fixes::verify(&profile, &t, v, &f) {
                        failures.push(format!("{name}: {} not cleared by {}", v.text(), f.summary));
                    }
                }
            }
        }
        if all_fixed {
            fixed += 1;
        }
    }
    eprintln!("{fixed} of {denied} denied cases fully fixed ({offered} fixes offered)");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(denied >= 20, "denied cases: {denied}");
    // Every denial has a fix for each of its errors.
    assert_eq!(
        fixed, denied,
        "{fixed} of {denied} cases fully fixed ({offered} fixes)"
    );
}

// ---------------------------------------------------------------------------------------------
// Store

mod store {
    use portcullis::policy::profiles::{CustomProfile, Profile};
    use portcullis::store::profiles;
    use sqlx::SqlitePool;

    fn custom(name: &str) -> CustomProfile {
        Profile::preset("strict").expect("preset").to_custom(name)
    }

    #[sqlx::test(migrations = "../migrations")]
    async fn custom_profiles_round_trip(pool: SqlitePool) {
        let mut p = custom("team-web");
        p.description = "for the web team".into();
        profiles::insert(&pool, &p, "test", 10)
            .await
            .expect("insert");
        let got = profiles::get(&pool, "team-web")
            .await
            .expect("get")
            .expect("found");
        assert_eq!(got.profile, p);
        assert_eq!((got.origin.as_str(), got.created_at), ("test", 10));

        // The name is unique.
        let e = profiles::insert(&pool, &p, "again", 11)
            .await
            .expect_err("taken");
        assert!(profiles::is_name_taken(&e), "{e}");

        // Update (and rename), list, delete.
        let mut q = p.clone();
        q.name = "team-web-2".into();
        q.base = None;
        assert!(
            profiles::update(&pool, "team-web", &q, 12)
                .await
                .expect("update")
        );
        assert!(
            !profiles::update(&pool, "nobody", &q, 12)
                .await
                .expect("update")
        );
        let list = profiles::list(&pool).await.expect("list");
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].profile.name, "team-web-2");
        assert_eq!(list[0].profile.policy.name, "team-web-2");
        assert_eq!(list[0].profile.base, None);
        assert_eq!(list[0].updated_at, 12);
        assert!(profiles::delete(&pool, "team-web-2").await.expect("delete"));
        assert!(!profiles::delete(&pool, "team-web-2").await.expect("delete"));
    }

    #[sqlx::test(migrations = "../migrations")]
    async fn insert_all_is_all_or_nothing(pool: SqlitePool) {
        profiles::insert(&pool, &custom("b"), "test", 1)
            .await
            .expect("insert");
        let e = profiles::insert_all(&pool, &[custom("a"), custom("b")], "import", 2)
            .await
            .expect_err("b is taken");
        assert!(profiles::is_name_taken(&e));
        assert!(profiles::get(&pool, "a").await.expect("get").is_none());
        profiles::insert_all(&pool, &[custom("a"), custom("c")], "import", 2)
            .await
            .expect("insert");
        assert_eq!(profiles::list(&pool).await.expect("list").len(), 3);
    }
}

// ---------------------------------------------------------------------------------------------
// Router

mod web {
    use axum::body::Body;
    use axum::http::{Request, StatusCode, header};
    use http_body_util::BodyExt;
    use serde_json::Value;
    use tower::ServiceExt;

    use crate::support::{SHOP, TestDb, db_with};

    /// A PodSecurityPolicy with defaults: non-root UIDs from 5000, a
    /// read-only root filesystem, no privilege escalation.
    pub const DEFAULTS_PSP: &str = r#"apiVersion: policy/v1beta1
kind: PodSecurityPolicy
metadata:
  name: web-defaults
  annotations:
    seccomp.security.alpha.kubernetes.io/allowedProfileNames: runtime/default
    seccomp.security.alpha.kubernetes.io/defaultProfileName: runtime/default
spec:
  privileged: false
  allowPrivilegeEscalation: false
  readOnlyRootFilesystem: true
  requiredDropCapabilities: [ALL]
  volumes: [configMap, secret, emptyDir, projected, downwardAPI]
  runAsUser:
    rule: MustRunAs
    ranges: [{min: 5000, max: 5999}]
  seLinux: {rule: RunAsAny}
  supplementalGroups: {rule: RunAsAny}
  fsGroup: {rule: RunAsAny}
"#;

    pub struct Resp {
        pub status: StatusCode,
        pub body: String,
        pub location: Option<String>,
        pub hx_redirect: Option<String>,
    }

    pub async fn send(db: &TestDb, req: Request<Body>) -> Resp {
        let resp = portcullis::app(db.state.clone())
            .oneshot(req)
            .await
            .expect("response");
        let header_of = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let (location, hx_redirect) = (header_of("location"), header_of("hx-redirect"));
        let status = resp.status();
        let body = resp.into_body().collect().await.expect("body").to_bytes();
        Resp {
            status,
            body: String::from_utf8_lossy(&body).into_owned(),
            location,
            hx_redirect,
        }
    }

    pub async fn get(db: &TestDb, uri: &str) -> Resp {
        send(db, Request::get(uri).body(Body::empty()).expect("request")).await
    }

    pub async fn json(db: &TestDb, uri: &str) -> Value {
        let r = get(db, uri).await;
        assert_eq!(r.status, StatusCode::OK, "{uri}: {}", r.body);
        serde_json::from_str(&r.body).expect("json")
    }

    pub async fn post(db: &TestDb, uri: &str, form: &[(&str, &str)], hx: bool) -> Resp {
        let mut req =
            Request::post(uri).header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        if hx {
            req = req.header("HX-Request", "true");
        }
        let body = serde_urlencoded::to_string(form).expect("form");
        send(db, req.body(Body::from(body)).expect("request")).await
    }

    #[tokio::test]
    async fn profiles_page_compares_presets_over_the_controls() {
        let db = db_with(&[("shop.yaml", SHOP)]).await;
        let r = get(&db, "/profiles").await;
        assert_eq!(r.status, StatusCode::OK);
        assert!(
            r.body
                .contains(r#"<a href="/profiles" aria-current="page">Profiles</a>"#)
        );
        for name in [
            "strict",
            "restricted",
            "baseline",
            "node-agent",
            "privileged",
        ] {
            assert!(
                r.body
                    .contains(&format!(r#"<th scope="col" data-profile="{name}">"#)),
                "{name}"
            );
        }
        assert_eq!(r.body.matches("<tr data-control=").count(), 16);
        // SHOP: cart (root, baseline), node-agent (privileged), hardened (restricted).
        assert!(
            r.body
                .contains(r#"<td data-profile="privileged" data-testid="admits">"#)
        );
        let admits = |name: &str| {
            let at = r
                .body
                .find(&format!(
                    r#"<td data-profile="{name}" data-testid="admits">"#
                ))
                .expect("cell");
            let cell = &r.body[at..];
            cell[..cell.find("</td>").expect("end")].to_owned()
        };
        assert!(
            admits("privileged").contains("<strong>3</strong> of 3"),
            "{}",
            admits("privileged")
        );
        assert!(
            admits("baseline").contains("<strong>2</strong> of 3"),
            "{}",
            admits("baseline")
        );
        assert!(
            admits("restricted").contains("<strong>1</strong> of 3"),
            "{}",
            admits("restricted")
        );
        assert!(r.body.contains(r#"id="import-form""#));

        let v = json(&db, "/api/v1/profiles").await;
        assert_eq!(v["total"], 5);
        let list = v["profiles"].as_array().expect("profiles");
        assert_eq!(list[0]["name"], "strict");
        assert_eq!(list[0]["kind"], "preset");
        assert_eq!(list[0]["level"], "restricted:latest");
        assert_eq!(list[0]["policy"]["kind"], "PodSecurityPolicy");
        assert_eq!(list[0]["controls"].as_array().map(Vec::len), Some(16));
        assert!(list[0]["who"].as_str().is_some_and(|w| w.len() > 100));
        assert_eq!(list[4]["admits"]["of"], 3);
        assert_eq!(list[4]["admits"]["allowed"], 3);
        assert_eq!(list[2]["policy"], Value::Null);

        let v = json(&db, "/api/v1/profiles/node-agent").await;
        assert_eq!(v["name"], "node-agent");
        let r = get(&db, "/api/v1/profiles/nope").await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        assert!(r.body.contains("There is no profile"), "{}", r.body);
    }

    #[tokio::test]
    async fn psp_import_through_the_form() {
        let db = db_with(&[("shop.yaml", SHOP)]).await;
        // Errors name the document, the policy and the field, where the form is.
        let bad = DEFAULTS_PSP.replace("rule: MustRunAs\n", "rule: MustRunAsAdmin\n");
        let r = post(
            &db,
            "/profiles/import",
            &[("yaml", &bad), ("base", "")],
            false,
        )
        .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(r.body.contains("<html"), "a full page without htmx");
        assert!(
            r.body.contains(
                r#"pasted YAML (document 1) policy &#34;web-defaults&#34;: spec.runAsUser.rule: "#
            ),
            "{}",
            r.body
        );
        assert!(r.body.contains("MustRunAsAdmin"), "the text is kept");
        let r = post(
            &db,
            "/profiles/import",
            &[("yaml", &bad), ("base", "")],
            true,
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "htmx swaps only 2xx");
        assert!(
            r.body.trim_start().starts_with(r#"<form id="import-form""#),
            "{}",
            r.body
        );
        assert!(!r.body.contains("<html"));
        assert!(r.body.contains("spec.runAsUser.rule"));
        // A preset's name cannot be imported over the preset.
        let shadow = DEFAULTS_PSP.replace("name: web-defaults", "name: strict");
        let r = post(&db, "/profiles/import", &[("yaml", &shadow)], false).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(r.body.contains("presets cannot be replaced"), "{}", r.body);
        let r = post(&db, "/profiles/import", &[("yaml", "   ")], false).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);

        // A good import: 303 back to the list, which shows it.
        let r = post(
            &db,
            "/profiles/import",
            &[("yaml", DEFAULTS_PSP), ("base", "")],
            false,
        )
        .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        assert_eq!(
            r.location.as_deref(),
            Some("/profiles?imported=web-defaults")
        );
        let r = get(&db, "/profiles?imported=web-defaults").await;
        assert!(r.body.contains("Imported: web-defaults."));
        assert!(r.body.contains(r#"data-profile="web-defaults""#));
        let v = json(&db, "/api/v1/profiles").await;
        assert_eq!(v["total"], 6);
        assert_eq!(v["profiles"][5]["name"], "web-defaults");
        assert_eq!(v["profiles"][5]["kind"], "custom");
        assert_eq!(v["profiles"][5]["origin"], "imported PodSecurityPolicy");

        // Importing it again is refused, naming it; with htmx a success redirects.
        let r = post(&db, "/profiles/import", &[("yaml", DEFAULTS_PSP)], true).await;
        assert!(r.body.contains("already exists"), "{}", r.body);
        let other = DEFAULTS_PSP.replace("name: web-defaults", "name: web-2");
        let r = post(
            &db,
            "/profiles/import",
            &[("yaml", &other), ("base", "restricted:latest")],
            true,
        )
        .await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.hx_redirect.as_deref(), Some("/profiles?imported=web-2"));
        let v = json(&db, "/api/v1/profiles/web-2").await;
        assert_eq!(v["level"], "restricted:latest");
    }

    #[tokio::test]
    async fn create_copy_edit_and_delete() {
        let db = db_with(&[("shop.yaml", SHOP)]).await;
        // Copy a preset: the form comes prefilled with its meaning.
        let r = get(&db, "/profiles/new?copy=strict").await;
        assert_eq!(r.status, StatusCode::OK);
        assert!(r.body.contains(r#"value="strict-copy""#), "{}", r.body);
        assert!(
            r.body
                .contains(r#"<option value="restricted:latest" selected>"#)
        );
        assert!(r.body.contains("readOnlyRootFilesystem: true"));
        let yaml = {
            let at = r.body.find(r#"name="yaml""#).expect("textarea");
            let rest = &r.body[at..];
            let start = rest.find('>').expect("open") + 1;
            let end = rest.find("</textarea>").expect("close");
            rest[start..end]
                .replace("&#34;", "\"")
                .replace("&#39;", "'")
                .replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&amp;", "&")
        };
        let form = |name: &'static str, desc: &'static str| {
            vec![
                ("name", name),
                ("description", desc),
                ("base", "restricted:latest"),
            ]
        };
        let mut f = form("strict-copy", "my strict");
        f.push(("yaml", &yaml));
        let r = post(&db, "/profiles", &f, false).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        assert_eq!(r.location.as_deref(), Some("/profiles/strict-copy"));
        let page = get(&db, "/profiles/strict-copy").await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(page.body.contains("my strict"));
        assert!(page.body.contains(r#"href="/profiles/strict-copy/edit""#));

        // Same meaning as the preset on every workload.
        let a = json(&db, "/api/v1/profiles/strict").await;
        let b = json(&db, "/api/v1/profiles/strict-copy").await;
        assert_eq!(a["admits"], b["admits"]);

        // The name is taken now: the error is shown on the form.
        let r = post(&db, "/profiles", &f, false).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(r.body.contains("already exists"), "{}", r.body);
        let mut bad = form("Bad Name", "");
        bad.push(("yaml", "kind: Pod"));
        let r = post(&db, "/profiles", &bad, true).await;
        assert_eq!(r.status, StatusCode::OK);
        assert!(
            r.body
                .trim_start()
                .starts_with(r#"<form id="profile-form""#)
        );
        assert!(r.body.contains("Name: use lowercase letters"), "{}", r.body);
        assert!(r.body.contains("is not a PodSecurityPolicy"), "{}", r.body);

        // Edit: rename and change the description.
        let r = get(&db, "/profiles/strict-copy/edit").await;
        assert_eq!(r.status, StatusCode::OK);
        let mut e = form("team-strict", "renamed");
        e.push(("yaml", &yaml));
        let r = post(&db, "/profiles/strict-copy", &e, true).await;
        assert_eq!(
            r.hx_redirect.as_deref(),
            Some("/profiles/team-strict"),
            "{}",
            r.body
        );
        assert_eq!(
            get(&db, "/profiles/strict-copy").await.status,
            StatusCode::NOT_FOUND
        );

        // Presets cannot be edited or deleted.
        for (uri, hx) in [("/profiles/strict/edit", false)] {
            let r = get(&db, uri).await;
            assert_eq!(r.status, StatusCode::BAD_REQUEST, "{uri} {hx}");
            assert!(r.body.contains("presets cannot be edited"), "{}", r.body);
        }
        let r = post(&db, "/profiles/strict", &e, false).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        let r = post(&db, "/profiles/restricted/delete", &[], false).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);

        // Delete.
        let r = post(&db, "/profiles/team-strict/delete", &[], false).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER);
        assert_eq!(r.location.as_deref(), Some("/profiles?deleted=team-strict"));
        let r = post(&db, "/profiles/team-strict/delete", &[], false).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        assert_eq!(json(&db, "/api/v1/profiles").await["total"], 5);
    }

    #[tokio::test]
    async fn workload_page_shows_verdicts_fixes_and_the_mutation_preview() {
        let db = db_with(&[("shop.yaml", SHOP)]).await;
        let r = post(&db, "/profiles/import", &[("yaml", DEFAULTS_PSP)], false).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER);

        // hardened: runs as 1000, outside 5000-5999: web-defaults rejects it.
        let r = get(&db, "/namespaces/secure/workloads/Pod/hardened").await;
        assert_eq!(r.status, StatusCode::OK);
        assert!(
            r.body
                .contains(r#"data-testid="recommendation"><a href="/profiles/strict">Strict</a>"#),
            "{}",
            r.body
        );
        let custom = &r.body[r
            .body
            .find(r#"<li data-profile="web-defaults">"#)
            .expect("custom verdict")..];
        let custom = &custom[..custom.find("</ul>").expect("violations")];
        assert!(custom.contains("rejected"), "{custom}");
        assert!(
            custom.contains("spec.containers[0].securityContext.runAsUser: Invalid value: 1000"),
            "{custom}"
        );
        assert!(custom.contains("Fix: Set runAsUser: 5000"), "{custom}");

        // cart runs as root on the pod: the policy's default cannot help, and a
        // denied pod is not changed, so there is no preview for it.
        let r = get(&db, "/namespaces/shop/workloads/Deployment/cart").await;
        assert!(!r.body.contains(r#"id="preview-web-defaults""#));
        let custom = &r.body[r
            .body
            .find(r#"<li data-profile="web-defaults">"#)
            .expect("custom verdict")..];
        let custom = &custom[..custom.find("</ul>").expect("violations")];
        assert!(
            custom.contains("Invalid value: 0: must be in the ranges: [{5000 5999}]"),
            "{custom}"
        );
        // Every verdict has a fix under each violation for baseline/restricted.
        let restricted = &r.body[r
            .body
            .find(r#"<li data-profile="restricted">"#)
            .expect("restricted")..];
        let restricted = &restricted[..restricted.find("</ul>").expect("end")];
        assert_eq!(
            restricted.matches("<li data-check=").count(),
            restricted.matches(r#"data-testid="fix""#).count(),
            "{restricted}"
        );

        // JSON: every profile, fixes and patches relative to the object.
        let v = json(&db, "/api/v1/workloads/shop/Deployment/cart").await;
        assert_eq!(v["recommendation"]["preset"], "baseline");
        let list = v["profiles"].as_array().expect("profiles");
        assert_eq!(list.len(), 6);
        let restricted = list
            .iter()
            .find(|p| p["profile"] == "restricted")
            .expect("restricted");
        assert_eq!(restricted["allowed"], false);
        for x in restricted["violations"].as_array().expect("violations") {
            assert!(
                x["fix"]["yaml"]
                    .as_str()
                    .is_some_and(|y| y.starts_with("spec:\n  template:\n")),
                "{x}"
            );
        }
        // The old verdicts list is still there.
        assert_eq!(v["verdicts"].as_array().map(Vec::len), Some(2));
    }

    #[tokio::test]
    async fn mutation_preview_shows_before_and_after() {
        let db = db_with(&[(
            "web.yaml",
            r#"apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: team}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: web:1
"#,
        )])
        .await;
        let r = post(&db, "/profiles/import", &[("yaml", DEFAULTS_PSP)], false).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER);
        let r = get(&db, "/namespaces/team/workloads/Deployment/web").await;
        let verdict = &r.body[r
            .body
            .find(r#"<li data-profile="web-defaults">"#)
            .expect("verdict")..];
        assert!(verdict.contains("allowed after changes"), "{verdict}");
        let preview = &r.body[r
            .body
            .find(r#"id="preview-web-defaults""#)
            .expect("preview")..];
        let preview = &preview[..preview.find("</section>").expect("end")];
        assert!(preview.contains("allowed after these changes"), "{preview}");
        // Before/after of the container's settings, from the effective view.
        assert!(
            preview.contains(r#"<tr data-control="read-only-root-fs">"#),
            "{preview}"
        );
        assert!(
            preview.contains("root filesystem is read-only"),
            "{preview}"
        );
        assert!(preview.contains("runs as UID 5000"), "{preview}");
        assert!(
            preview.contains(r#"<tr data-control="privilege-escalation">"#),
            "{preview}"
        );
        // The JSON patch, relative to the Deployment.
        assert!(
            preview.contains("/spec/template/spec/containers/0/securityContext"),
            "{preview}"
        );

        let v = json(&db, "/api/v1/workloads/team/Deployment/web").await;
        let p = v["profiles"]
            .as_array()
            .and_then(|l| l.iter().find(|p| p["profile"] == "web-defaults"))
            .expect("custom");
        assert_eq!(p["allowed"], true);
        assert_eq!(p["unchanged"], false);
        assert_eq!(p["policy"], "web-defaults");
        assert!(p["patch"].as_array().is_some_and(|ops| !ops.is_empty()));
    }

    #[tokio::test]
    async fn namespaces_show_the_recommended_preset() {
        let db = db_with(&[("shop.yaml", SHOP)]).await;
        let r = get(&db, "/namespaces").await;
        assert!(
            r.body
                .contains(r#"<td data-testid="recommended"><a href="/profiles/strict""#),
            "{}",
            r.body
        );
        let v = json(&db, "/api/v1/namespaces").await;
        let rec: Vec<(&str, &str)> = v["namespaces"]
            .as_array()
            .expect("namespaces")
            .iter()
            .map(|n| {
                (
                    n["name"].as_str().unwrap_or(""),
                    n["recommendedPreset"].as_str().unwrap_or(""),
                )
            })
            .collect();
        assert_eq!(
            rec,
            [
                ("monitoring", "privileged"),
                ("secure", "strict"),
                ("shop", "baseline")
            ]
        );
    }
}
