//! Profiles: presets and custom profiles side by side over the 16 controls,
//! PodSecurityPolicy import, create / copy / edit / delete of custom profiles,
//! how many workloads of the snapshot each admits, and the per-workload views
//! (verdicts with fixes, mutation preview, recommendation) the workload page
//! shows. The decisions are all `policy::profiles`; this file only presents.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use axum_htmx::{HxRedirect, HxRequest};
use serde::Deserialize;
use serde_json::{Value, json};

use super::workloads::{encode_segment, workload_url};
use super::{Nav, SnapshotParam, chosen_snapshot};
use crate::AppState;
use crate::auth::Principal;
use crate::model::effective::{self, ContainerView};
use crate::model::{Control, PodTemplate};
use crate::policy::fixes::{self, Fix};
use crate::policy::profiles::{
    self, ControlRule, CustomProfile, PRESETS, Preset, Profile, Verdict, check_custom_name,
};
use crate::policy::psp;
use crate::store;
use crate::store::profiles::StoredProfile;
use crate::store::workloads::TemplateRow;
use crate::web::{ApiError, AppError};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/profiles", get(list).post(create))
        .route("/profiles/new", get(new_form))
        .route("/profiles/import", post(import))
        .route("/profiles/{name}", get(show).post(update))
        .route("/profiles/{name}/edit", get(edit_form))
        .route("/profiles/{name}/delete", post(delete))
}

/// `/api/v1/profiles` and `/api/v1/profiles/{name}`.
pub fn api_router() -> Router<AppState> {
    Router::new()
        .route("/profiles", get(api_list))
        .route("/profiles/{name}", get(api_one))
}

// ---------------------------------------------------------------------------------------------
// The catalogue: presets, then custom profiles

/// One profile as the pages show it.
#[derive(Debug, Clone)]
pub struct Entry {
    pub profile: Profile,
    pub preset: Option<&'static Preset>,
    pub stored: Option<StoredProfile>,
}

impl Entry {
    pub fn name(&self) -> &str {
        match self.preset {
            Some(p) => p.id,
            None => &self.profile.name,
        }
    }
    pub fn title(&self) -> &str {
        self.preset.map_or(self.name(), |p| p.title)
    }
    pub fn kind(&self) -> &'static str {
        if self.preset.is_some() {
            "preset"
        } else {
            "custom"
        }
    }
    pub fn is_preset(&self) -> bool {
        self.preset.is_some()
    }
    pub fn url(&self) -> String {
        profile_url(self.name())
    }
    /// One line on what it is.
    pub fn summary(&self) -> String {
        match (&self.preset, &self.stored) {
            (Some(p), _) => p.summary.to_owned(),
            (None, Some(s)) if !s.profile.description.is_empty() => s.profile.description.clone(),
            _ => "custom profile".to_owned(),
        }
    }
    /// The base level, in words, for custom profiles.
    pub fn base(&self) -> Option<String> {
        self.profile.level.map(|l| l.to_string())
    }
    pub fn rules(&self) -> Vec<ControlRule> {
        profiles::describe(&self.profile)
    }
    /// The PodSecurityPolicy half as YAML, if any.
    pub fn policy_yaml(&self) -> Option<String> {
        self.profile
            .policies
            .first()
            .map(|p| serde_yaml_ng::to_string(&p.to_psp()).unwrap_or_default())
    }
}

pub fn profile_url(name: &str) -> String {
    format!("/profiles/{}", encode_segment(name))
}

/// Presets (tightest first), then custom profiles by name.
pub async fn catalogue(pool: &sqlx::SqlitePool) -> Result<Vec<Entry>, AppError> {
    let mut out: Vec<Entry> = PRESETS
        .iter()
        .filter_map(|p| {
            Some(Entry {
                profile: Profile::preset(p.id)?,
                preset: Some(p),
                stored: None,
            })
        })
        .collect();
    for s in store::profiles::list(pool).await? {
        out.push(Entry {
            profile: Profile::custom(&s.profile),
            preset: None,
            stored: Some(s),
        });
    }
    Ok(out)
}

async fn find(pool: &sqlx::SqlitePool, name: &str) -> Result<Entry, AppError> {
    if let Some(p) = profiles::preset(name)
        && let Some(profile) = Profile::preset(p.id)
    {
        return Ok(Entry {
            profile,
            preset: Some(p),
            stored: None,
        });
    }
    match store::profiles::get(pool, name).await? {
        Some(s) => Ok(Entry {
            profile: Profile::custom(&s.profile),
            preset: None,
            stored: Some(s),
        }),
        None => Err(AppError::NotFound(format!(
            "There is no profile {name:?}. The presets are {}; custom profiles are listed on the profiles page.",
            PRESETS.iter().map(|p| p.id).collect::<Vec<_>>().join(", ")
        ))),
    }
}

/// How many workloads a profile admits.
#[derive(Debug, Clone, Copy, Default)]
pub struct Admits {
    /// Admitted (possibly after its defaults changed them).
    pub allowed: usize,
    /// Admitted with no change to their security settings.
    pub unchanged: usize,
}

/// Evaluates every profile on every template, off the async runtime.
async fn count_admits(profiles: Vec<Profile>, templates: Vec<TemplateRow>) -> Vec<Admits> {
    tokio::task::spawn_blocking(move || {
        profiles
            .iter()
            .map(|p| {
                let mut a = Admits::default();
                for t in &templates {
                    let v = profiles::evaluate(p, &t.template);
                    a.allowed += usize::from(v.allowed);
                    a.unchanged += usize::from(v.satisfied());
                }
                a
            })
            .collect()
    })
    .await
    .unwrap_or_default()
}

async fn snapshot_templates(
    pool: &sqlx::SqlitePool,
    snapshot: Option<i64>,
) -> Result<(Option<store::snapshots::Snapshot>, Vec<TemplateRow>), AppError> {
    let snap = chosen_snapshot(pool, snapshot).await?;
    let mut templates = match &snap {
        Some(s) => store::workloads::templates(pool, s.id).await?,
        None => Vec::new(),
    };
    // What a profile would reject: among the workloads the user may see.
    let viewer = crate::auth::viewer();
    templates.retain(|t| viewer.sees(&t.namespace));
    Ok((snap, templates))
}

// ---------------------------------------------------------------------------------------------
// The profiles page

/// A column of the comparison.
pub struct Column {
    pub entry: Entry,
    pub admits: Admits,
}

pub struct ControlRow {
    pub control: Control,
    pub cells: Vec<ControlRule>,
}

/// The PSP import form, with what went wrong.
#[derive(Debug, Clone, Default)]
pub struct ImportView {
    pub yaml: String,
    pub base: String,
    pub errors: Vec<String>,
}

impl ImportView {
    pub fn bases(&self) -> Vec<(&'static str, &'static str, bool)> {
        bases(&self.base)
    }
}

/// The choices of the "checked together with" select: (value, label, selected).
fn bases(current: &str) -> Vec<(&'static str, &'static str, bool)> {
    [
        ("", "nothing else (the policy alone)"),
        ("baseline:latest", "baseline (latest)"),
        ("restricted:latest", "restricted (latest)"),
    ]
    .into_iter()
    .map(|(v, l)| (v, l, v == current))
    .collect()
}

#[derive(Template, WebTemplate)]
#[template(path = "pages/profiles.html")]
pub struct ProfilesPage {
    pub nav: Nav,
    pub columns: Vec<Column>,
    pub rows: Vec<ControlRow>,
    pub workloads: usize,
    pub import: ImportView,
    /// Names just imported or deleted, for the notice.
    pub notice: Option<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "partials/profile_import.html")]
pub struct ImportPartial {
    pub import: ImportView,
}

#[derive(Debug, Default, Deserialize)]
pub struct ListParams {
    pub snapshot: Option<i64>,
    pub imported: Option<String>,
    pub deleted: Option<String>,
}

async fn profiles_page(
    state: &AppState,
    snapshot: Option<i64>,
    import: ImportView,
    notice: Option<String>,
) -> Result<ProfilesPage, AppError> {
    let entries = catalogue(&state.pool).await?;
    let (snap, templates) = snapshot_templates(&state.pool, snapshot).await?;
    let workloads = templates.len();
    let admits = count_admits(
        entries.iter().map(|e| e.profile.clone()).collect(),
        templates,
    )
    .await;
    let rules: Vec<Vec<ControlRule>> = entries.iter().map(Entry::rules).collect();
    let rows = Control::ALL
        .iter()
        .enumerate()
        .map(|(i, &control)| ControlRow {
            control,
            cells: rules.iter().map(|r| r[i].clone()).collect(),
        })
        .collect();
    let columns = entries
        .into_iter()
        .zip(admits)
        .map(|(entry, admits)| Column { entry, admits })
        .collect();
    Ok(ProfilesPage {
        nav: Nav::new("profiles", &snap),
        columns,
        rows,
        workloads,
        import,
        notice,
    })
}

async fn list(
    State(state): State<AppState>,
    Query(p): Query<ListParams>,
) -> Result<ProfilesPage, AppError> {
    let notice = match (&p.imported, &p.deleted) {
        (Some(names), _) => Some(format!("Imported: {names}.")),
        (None, Some(name)) => Some(format!("Deleted the profile {name}.")),
        _ => None,
    };
    profiles_page(&state, p.snapshot, ImportView::default(), notice).await
}

#[derive(Debug, Default, Deserialize)]
pub struct ImportFields {
    #[serde(default)]
    pub yaml: String,
    #[serde(default)]
    pub base: String,
}

/// Checks a "checked together with" value.
fn parse_base(base: &str) -> Result<Option<crate::policy::pss::LevelVersion>, String> {
    let base = base.trim();
    if base.is_empty() {
        return Ok(None);
    }
    base.parse()
        .map(Some)
        .map_err(|e| format!("Checked together with: {e}"))
}

/// The profiles an import would create, or every problem with them.
async fn parse_import(
    pool: &sqlx::SqlitePool,
    f: &ImportFields,
) -> Result<Result<Vec<CustomProfile>, Vec<String>>, AppError> {
    if f.yaml.trim().is_empty() {
        return Ok(Err(vec![
            "Paste one or more PodSecurityPolicy objects (YAML or JSON) first.".into(),
        ]));
    }
    let base = match parse_base(&f.base) {
        Ok(b) => b,
        Err(e) => return Ok(Err(vec![e])),
    };
    let policies = match psp::import("pasted YAML", &f.yaml) {
        Ok(p) => p,
        Err(errors) => return Ok(Err(errors.iter().map(ToString::to_string).collect())),
    };
    if policies.is_empty() {
        return Ok(Err(vec![
            "pasted YAML: no PodSecurityPolicy found (expected kind PodSecurityPolicy, PodSecurityPolicyList or List).".into(),
        ]));
    }
    let mut errors = Vec::new();
    for p in &policies {
        if let Err(e) = check_custom_name(&p.name) {
            errors.push(format!(
                "pasted YAML policy {:?}: metadata.name: {e}",
                p.name
            ));
        } else if store::profiles::get(pool, &p.name).await?.is_some() {
            errors.push(format!(
                "pasted YAML policy {:?}: a profile with this name already exists; rename the policy or delete the profile first",
                p.name
            ));
        }
    }
    if !errors.is_empty() {
        return Ok(Err(errors));
    }
    Ok(Ok(policies
        .into_iter()
        .map(|policy| CustomProfile {
            name: policy.name.clone(),
            description: String::new(),
            base,
            policy,
        })
        .collect()))
}

/// POST /profiles/import: every policy of the YAML becomes a custom profile,
/// all or none.
async fn import(
    State(state): State<AppState>,
    p: Principal,
    HxRequest(hx): HxRequest,
    Form(f): Form<ImportFields>,
) -> Result<Response, AppError> {
    p.may_change(None)?;
    let parsed = parse_import(&state.pool, &f).await?;
    let result = match parsed {
        Ok(list) => {
            let names: Vec<String> = list.iter().map(|p| p.name.clone()).collect();
            match store::profiles::insert_all(&state.pool, &list, "imported PodSecurityPolicy", crate::now_ms()).await {
                Ok(()) => {
                    store::assignments::record(&state.pool, &p.user, "profile-import", &names.join(", "), None).await?;
                    Ok(names)
                }
                Err(e) if store::profiles::is_name_taken(&e) => Err(vec![
                    "A profile with one of these names was created meanwhile; nothing was imported. Try again.".into(),
                ]),
                Err(e) => return Err(e.into()),
            }
        }
        Err(errors) => Err(errors),
    };
    match result {
        Ok(names) => {
            let to = format!(
                "/profiles?{}",
                serde_urlencoded::to_string([("imported", names.join(", "))]).unwrap_or_default()
            );
            Ok(redirect(hx, &to))
        }
        Err(errors) => {
            let view = ImportView {
                yaml: f.yaml,
                base: f.base,
                errors,
            };
            if hx {
                // htmx swaps only successful responses: the form comes back with its errors.
                return Ok(ImportPartial { import: view }.into_response());
            }
            let page = profiles_page(&state, None, view, None).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
    }
}

/// After a successful POST: `HX-Redirect` for htmx, 303 otherwise.
fn redirect(hx: bool, to: &str) -> Response {
    if hx {
        (HxRedirect(to.to_owned()), StatusCode::OK).into_response()
    } else {
        (StatusCode::SEE_OTHER, [(header::LOCATION, to.to_owned())]).into_response()
    }
}

// ---------------------------------------------------------------------------------------------
// One profile

/// A workload and what the profile makes of it.
pub struct WorkloadVerdict {
    pub key: String,
    pub url: String,
    pub allowed: bool,
    pub satisfied: bool,
    pub message: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "pages/profile.html")]
pub struct ProfilePage {
    pub nav: Nav,
    pub entry: Entry,
    pub rules: Vec<ControlRule>,
    pub workloads: Vec<WorkloadVerdict>,
    pub snapshot_query: String,
}

impl ProfilePage {
    pub fn who(&self) -> &str {
        self.entry.preset.map_or("", |p| p.who)
    }
    pub fn description(&self) -> &str {
        self.entry
            .stored
            .as_ref()
            .map_or("", |s| s.profile.description.as_str())
    }
    pub fn origin(&self) -> &str {
        self.entry.stored.as_ref().map_or("", |s| s.origin.as_str())
    }
    pub fn admitted(&self) -> usize {
        self.workloads.iter().filter(|w| w.allowed).count()
    }
    pub fn unchanged(&self) -> usize {
        self.workloads.iter().filter(|w| w.satisfied).count()
    }
    pub fn copy_url(&self) -> String {
        format!(
            "/profiles/new?{}",
            serde_urlencoded::to_string([("copy", self.entry.name())]).unwrap_or_default()
        )
    }
    pub fn edit_url(&self) -> String {
        format!("{}/edit", self.entry.url())
    }
    pub fn delete_url(&self) -> String {
        format!("{}/delete", self.entry.url())
    }
}

async fn show(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(sp): Query<SnapshotParam>,
) -> Result<ProfilePage, AppError> {
    let entry = find(&state.pool, &name).await?;
    let pin = sp.id(&state.pool).await?;
    let (snap, templates) = snapshot_templates(&state.pool, pin).await?;
    let profile = entry.profile.clone();
    let snapshot_query = super::workloads::snapshot_query(pin);
    let q = snapshot_query.clone();
    let workloads = tokio::task::spawn_blocking(move || {
        templates
            .iter()
            .map(|t| {
                let v = profiles::evaluate(&profile, &t.template);
                WorkloadVerdict {
                    key: t.key(),
                    url: format!("{}{q}", workload_url(&t.namespace, &t.kind, &t.name)),
                    allowed: v.allowed,
                    satisfied: v.satisfied(),
                    message: v.message,
                }
            })
            .collect::<Vec<_>>()
    })
    .await
    .unwrap_or_default();
    Ok(ProfilePage {
        nav: Nav::new("profiles", &snap).pin(pin),
        rules: entry.rules(),
        entry,
        workloads,
        snapshot_query,
    })
}

// ---------------------------------------------------------------------------------------------
// Create, copy, edit, delete

/// The profile form's fields as posted.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ProfileFields {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub base: String,
    #[serde(default)]
    pub yaml: String,
}

/// The profile form, filled in.
#[derive(Debug, Clone, Default)]
pub struct FormView {
    pub heading: String,
    /// Where it posts.
    pub action: String,
    pub fields: ProfileFields,
    pub errors: Vec<String>,
    /// Where "Cancel" goes.
    pub back: String,
}

impl FormView {
    pub fn bases(&self) -> Vec<(&'static str, &'static str, bool)> {
        bases(&self.fields.base)
    }
    /// A base level not among the choices (e.g. a pinned version), kept selected.
    pub fn other_base(&self) -> Option<&str> {
        let b = self.fields.base.as_str();
        (!b.is_empty() && !bases(b).iter().any(|x| x.2)).then_some(b)
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "pages/profile_form.html")]
pub struct ProfileFormPage {
    pub nav: Nav,
    pub form: FormView,
}

#[derive(Template, WebTemplate)]
#[template(path = "partials/profile_form.html")]
pub struct ProfileFormPartial {
    pub form: FormView,
}

/// The starting point of a new profile: close to restricted, with defaults.
const NEW_PROFILE_YAML: &str = "\
apiVersion: policy/v1beta1
kind: PodSecurityPolicy
metadata:
  name: my-profile
  annotations:
    seccomp.security.alpha.kubernetes.io/allowedProfileNames: runtime/default,docker/default
    seccomp.security.alpha.kubernetes.io/defaultProfileName: runtime/default
spec:
  privileged: false
  allowPrivilegeEscalation: false
  requiredDropCapabilities: [ALL]
  volumes: [configMap, csi, downwardAPI, emptyDir, ephemeral, persistentVolumeClaim, projected, secret]
  hostNetwork: false
  hostIPC: false
  hostPID: false
  runAsUser: {rule: MustRunAsNonRoot}
  seLinux: {rule: RunAsAny}
  supplementalGroups: {rule: RunAsAny}
  fsGroup: {rule: RunAsAny}
";

fn fields_of(c: &CustomProfile) -> ProfileFields {
    ProfileFields {
        name: c.name.clone(),
        description: c.description.clone(),
        base: c.base.map(|b| b.to_string()).unwrap_or_default(),
        yaml: serde_yaml_ng::to_string(&c.policy.to_psp()).unwrap_or_default(),
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct NewParams {
    pub copy: Option<String>,
}

async fn new_form(
    State(state): State<AppState>,
    Query(p): Query<NewParams>,
) -> Result<ProfileFormPage, AppError> {
    let (heading, fields, back) = match p.copy.as_deref().filter(|c| !c.is_empty()) {
        Some(source) => {
            let entry = find(&state.pool, source).await?;
            let name = format!("{}-copy", entry.name());
            let mut custom = entry.profile.to_custom(&name);
            custom.description = match (&entry.preset, &entry.stored) {
                (Some(p), _) => format!("Copy of the {} preset: {}", p.id, p.summary),
                (None, Some(s)) => s.profile.description.clone(),
                _ => String::new(),
            };
            (
                format!("Copy of {}", entry.name()),
                fields_of(&custom),
                entry.url(),
            )
        }
        None => (
            "New profile".to_owned(),
            ProfileFields {
                yaml: NEW_PROFILE_YAML.to_owned(),
                ..Default::default()
            },
            "/profiles".to_owned(),
        ),
    };
    Ok(ProfileFormPage {
        nav: form_nav(&state.pool).await?,
        form: FormView {
            heading,
            action: "/profiles".into(),
            fields,
            errors: Vec::new(),
            back,
        },
    })
}

async fn edit_form(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<ProfileFormPage, AppError> {
    let entry = find(&state.pool, &name).await?;
    let Some(stored) = &entry.stored else {
        return Err(preset_is_read_only(&name));
    };
    Ok(ProfileFormPage {
        nav: form_nav(&state.pool).await?,
        form: FormView {
            heading: format!("Edit {name}"),
            action: entry.url(),
            fields: fields_of(&stored.profile),
            errors: Vec::new(),
            back: entry.url(),
        },
    })
}

/// The navigation bar of the form pages (they show the latest snapshot).
async fn form_nav(pool: &sqlx::SqlitePool) -> Result<Nav, AppError> {
    Ok(Nav::new("profiles", &chosen_snapshot(pool, None).await?))
}

fn preset_is_read_only(name: &str) -> AppError {
    AppError::BadRequest(format!(
        "{name} is a preset: presets cannot be edited or deleted, only copied (use \"Copy\" on its page)."
    ))
}

/// The custom profile the form describes, or every problem with it.
fn parse_fields(f: &ProfileFields) -> Result<CustomProfile, Vec<String>> {
    let mut errors = Vec::new();
    let name = f.name.trim().to_owned();
    if let Err(e) = check_custom_name(&name) {
        errors.push(format!("Name: {e}."));
    }
    let base = parse_base(&f.base).unwrap_or_else(|e| {
        errors.push(e);
        None
    });
    let policy = match psp::import("policy", &f.yaml) {
        Ok(mut list) if list.len() == 1 => list.pop(),
        Ok(list) => {
            errors.push(format!(
                "Policy: the YAML must hold exactly one PodSecurityPolicy; it holds {}.",
                list.len()
            ));
            None
        }
        Err(es) => {
            errors.extend(es.iter().map(ToString::to_string));
            None
        }
    };
    match policy {
        Some(mut policy) if errors.is_empty() => {
            policy.name.clone_from(&name);
            Ok(CustomProfile {
                name,
                description: f.description.trim().to_owned(),
                base,
                policy,
            })
        }
        _ => Err(errors),
    }
}

/// Answers a form with errors: the partial for htmx, the page with 422 otherwise.
async fn form_errors(
    pool: &sqlx::SqlitePool,
    hx: bool,
    form: FormView,
) -> Result<Response, AppError> {
    if hx {
        return Ok(ProfileFormPartial { form }.into_response());
    }
    let page = ProfileFormPage {
        nav: form_nav(pool).await?,
        form,
    };
    Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
}

/// POST /profiles: create (also what "Copy" submits).
async fn create(
    State(state): State<AppState>,
    p: Principal,
    HxRequest(hx): HxRequest,
    Form(f): Form<ProfileFields>,
) -> Result<Response, AppError> {
    p.may_change(None)?;
    let form = |errors| FormView {
        heading: "New profile".into(),
        action: "/profiles".into(),
        fields: f.clone(),
        errors,
        back: "/profiles".into(),
    };
    let custom = match parse_fields(&f) {
        Ok(c) => c,
        Err(errors) => return form_errors(&state.pool, hx, form(errors)).await,
    };
    match store::profiles::insert(
        &state.pool,
        &custom,
        "created on the profiles page",
        crate::now_ms(),
    )
    .await
    {
        Ok(()) => {
            let after = serde_json::to_value(&custom).ok();
            store::assignments::record(&state.pool, &p.user, "profile-create", &custom.name, after)
                .await?;
            Ok(redirect(hx, &profile_url(&custom.name)))
        }
        Err(e) if store::profiles::is_name_taken(&e) => {
            let taken = format!(
                "Name: a profile named {:?} already exists; choose another name.",
                custom.name
            );
            form_errors(&state.pool, hx, form(vec![taken])).await
        }
        Err(e) => Err(e.into()),
    }
}

/// POST /profiles/{name}: save an edited custom profile (renaming allowed).
async fn update(
    State(state): State<AppState>,
    p: Principal,
    HxRequest(hx): HxRequest,
    Path(name): Path<String>,
    Form(f): Form<ProfileFields>,
) -> Result<Response, AppError> {
    p.may_change(None)?;
    let entry = find(&state.pool, &name).await?;
    if entry.is_preset() {
        return Err(preset_is_read_only(&name));
    }
    let form = |errors| FormView {
        heading: format!("Edit {name}"),
        action: entry.url(),
        fields: f.clone(),
        errors,
        back: entry.url(),
    };
    let custom = match parse_fields(&f) {
        Ok(c) => c,
        Err(errors) => return form_errors(&state.pool, hx, form(errors)).await,
    };
    match store::profiles::update(&state.pool, &name, &custom, crate::now_ms()).await {
        Ok(true) => {
            let after = serde_json::to_value(&custom).ok();
            store::assignments::record(&state.pool, &p.user, "profile-change", &name, after)
                .await?;
            Ok(redirect(hx, &profile_url(&custom.name)))
        }
        Ok(false) => Err(AppError::NotFound(format!(
            "The profile {name:?} was deleted meanwhile."
        ))),
        Err(e) if store::profiles::is_name_taken(&e) => {
            let taken = format!(
                "Name: a profile named {:?} already exists; choose another name.",
                custom.name
            );
            form_errors(&state.pool, hx, form(vec![taken])).await
        }
        Err(e) => Err(e.into()),
    }
}

async fn delete(
    State(state): State<AppState>,
    p: Principal,
    HxRequest(hx): HxRequest,
    Path(name): Path<String>,
) -> Result<Response, AppError> {
    p.may_change(None)?;
    if profiles::preset(&name).is_some() {
        return Err(preset_is_read_only(&name));
    }
    if !store::profiles::delete(&state.pool, &name).await? {
        return Err(AppError::NotFound(format!("There is no profile {name:?}.")));
    }
    store::assignments::record(&state.pool, &p.user, "profile-delete", &name, None).await?;
    let to = format!(
        "/profiles?{}",
        serde_urlencoded::to_string([("deleted", name.as_str())]).unwrap_or_default()
    );
    Ok(redirect(hx, &to))
}

// ---------------------------------------------------------------------------------------------
// Per-workload views (the workload page)

pub struct FixView {
    pub summary: String,
    pub yaml: String,
}

pub struct ViolationView {
    pub check: String,
    pub text: String,
    pub field: Option<String>,
    pub policy: Option<String>,
    pub fix: Option<FixView>,
}

/// One changed setting in the mutation preview.
pub struct ChangeRow {
    pub container: String,
    pub control: Control,
    pub before: String,
    pub after: String,
    pub field: String,
}

pub struct PreviewView {
    /// The RFC 6902 patch (relative to the object), pretty JSON.
    pub patch: String,
    pub changes: Vec<ChangeRow>,
    /// Whether the mutated pod is then allowed by the whole profile.
    pub allowed_after: bool,
    pub message_after: String,
}

pub struct VerdictView {
    pub name: String,
    pub title: String,
    pub url: String,
    pub kind: &'static str,
    pub allowed: bool,
    pub satisfied: bool,
    pub message: String,
    pub policy: Option<String>,
    pub violations: Vec<ViolationView>,
    pub preview: Option<PreviewView>,
    /// What the workload's exemptions excuse, in words (empty: nothing).
    pub exempt: String,
}

impl VerdictView {
    /// The status in one word and an icon, never by colour alone.
    pub fn status(&self) -> &'static str {
        match (self.allowed, self.satisfied) {
            (true, true) => "✓ allowed",
            (true, false) => "⚠ allowed after changes",
            (false, _) => "✗ rejected",
        }
    }
    pub fn status_class(&self) -> &'static str {
        match (self.allowed, self.satisfied) {
            (true, true) => "risk-safe",
            (true, false) => "risk-risky",
            (false, _) => "risk-dangerous",
        }
    }
}

/// The settings that differ between two analyses of the same pod.
fn changes(before: &[ContainerView], after: &[ContainerView]) -> Vec<ChangeRow> {
    let mut out = Vec::new();
    for (b, a) in before.iter().zip(after) {
        for (cb, ca) in b.cells.iter().zip(&a.cells) {
            if cb.value != ca.value || cb.field != ca.field {
                out.push(ChangeRow {
                    container: b.name.clone(),
                    control: cb.control,
                    before: cb.value.clone(),
                    after: ca.value.clone(),
                    field: ca.field.clone(),
                });
            }
        }
    }
    out
}

/// One profile's verdict on a workload, with its fixes and preview.
pub fn verdict_view(entry: &Entry, template: &PodTemplate, kind: &str) -> VerdictView {
    let v: Verdict = profiles::evaluate(&entry.profile, template);
    let found = fixes::suggest(&entry.profile, template, &v);
    let violations = v
        .violations
        .iter()
        .zip(found)
        .map(|(x, fix): (_, Option<Fix>)| ViolationView {
            check: x.check.to_owned(),
            text: x.text(),
            field: x.field.clone(),
            policy: x.policy.clone(),
            fix: fix.map(|f| FixView {
                yaml: f.yaml(kind),
                summary: f.summary,
            }),
        })
        .collect();
    let preview = v.mutated.as_ref().map(|m| {
        let prefix = crate::model::template_pointer(kind);
        let ops: Vec<psp::PatchOp> = v.patch.iter().map(|op| op.under(&prefix)).collect();
        PreviewView {
            patch: serde_json::to_string_pretty(&ops).unwrap_or_default(),
            changes: changes(&effective::analyse(template), &effective::analyse(m)),
            allowed_after: v.allowed,
            message_after: v.message.clone(),
        }
    });
    VerdictView {
        name: entry.name().to_owned(),
        title: entry.title().to_owned(),
        url: entry.url(),
        kind: entry.kind(),
        allowed: v.allowed,
        satisfied: v.satisfied(),
        message: v.message,
        policy: v.policy,
        violations,
        preview,
        exempt: String::new(),
    }
}

/// Every profile's verdict on a workload, presets first.
pub fn verdict_views(entries: &[Entry], template: &PodTemplate, kind: &str) -> Vec<VerdictView> {
    entries
        .iter()
        .map(|e| verdict_view(e, template, kind))
        .collect()
}

/// The JSON of one profile's verdict on a workload (the API's workload page).
pub fn verdict_json(entry: &Entry, template: &PodTemplate, kind: &str) -> Value {
    let v = profiles::evaluate(&entry.profile, template);
    let found = fixes::suggest(&entry.profile, template, &v);
    let prefix = crate::model::template_pointer(kind);
    let violations: Vec<Value> = v
        .violations
        .iter()
        .zip(found)
        .map(|(x, fix)| {
            let mut j = serde_json::to_value(x).unwrap_or_default();
            if let Some(f) = fix {
                j["fix"] = json!({
                    "summary": f.summary,
                    "yaml": f.yaml(kind),
                    "patch": f.patch_for(kind),
                });
            }
            j
        })
        .collect();
    let patch: Vec<psp::PatchOp> = v.patch.iter().map(|op| op.under(&prefix)).collect();
    json!({
        "profile": entry.name(),
        "kind": entry.kind(),
        "allowed": v.allowed,
        "unchanged": v.satisfied(),
        "message": v.message,
        "policy": v.policy,
        "patch": patch,
        "violations": violations,
    })
}

// ---------------------------------------------------------------------------------------------
// JSON

fn entry_json(e: &Entry, admits: Option<Admits>, workloads: usize) -> Value {
    let controls: Vec<Value> = e
        .rules()
        .iter()
        .map(|r| {
            json!({
                "control": r.control,
                "title": r.control.title(),
                "words": r.words,
                "limits": r.limits,
            })
        })
        .collect();
    let mut j = json!({
        "name": e.name(),
        "kind": e.kind(),
        "title": e.title(),
        "summary": e.summary(),
        "level": e.profile.level.map(|l| l.to_string()),
        "policy": e.profile.policies.first().map(psp::Profile::to_psp),
        "controls": controls,
    });
    if let Some(p) = e.preset {
        j["who"] = json!(p.who);
    }
    if let Some(s) = &e.stored {
        j["description"] = json!(s.profile.description);
        j["origin"] = json!(s.origin);
        j["updatedAt"] = json!(
            jiff::Timestamp::from_millisecond(s.updated_at)
                .map(|t| t.to_string())
                .unwrap_or_default()
        );
    }
    if let Some(a) = admits {
        j["admits"] = json!({ "allowed": a.allowed, "unchanged": a.unchanged, "of": workloads });
    }
    j
}

async fn api_list(
    State(state): State<AppState>,
    Query(sp): Query<SnapshotParam>,
) -> Result<Json<Value>, ApiError> {
    let entries = catalogue(&state.pool).await?;
    let pin = sp.id(&state.pool).await?;
    let (snap, templates) = snapshot_templates(&state.pool, pin).await?;
    let n = templates.len();
    let admits = count_admits(
        entries.iter().map(|e| e.profile.clone()).collect(),
        templates,
    )
    .await;
    let list: Vec<Value> = entries
        .iter()
        .zip(admits)
        .map(|(e, a)| entry_json(e, Some(a), n))
        .collect();
    Ok(Json(json!({
        "snapshot": snap.map(|s| s.id),
        "total": list.len(),
        "profiles": list,
    })))
}

async fn api_one(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(sp): Query<SnapshotParam>,
) -> Result<Json<Value>, ApiError> {
    let entry = find(&state.pool, &name).await?;
    let pin = sp.id(&state.pool).await?;
    let (snap, templates) = snapshot_templates(&state.pool, pin).await?;
    let n = templates.len();
    let admits = count_admits(vec![entry.profile.clone()], templates)
        .await
        .pop();
    let mut j = entry_json(&entry, admits, n);
    j["snapshot"] = json!(snap.map(|s| s.id));
    Ok(Json(j))
}

/// The tightest preset every workload of each namespace already satisfies.
pub async fn namespace_recommendations(
    pool: &sqlx::SqlitePool,
    snapshot: i64,
) -> Result<std::collections::BTreeMap<String, &'static Preset>, AppError> {
    let templates = store::workloads::templates(pool, snapshot).await?;
    tokio::task::spawn_blocking(move || {
        let presets = Profile::presets();
        let mut by_ns: std::collections::BTreeMap<String, Vec<&PodTemplate>> = Default::default();
        for t in &templates {
            by_ns
                .entry(t.namespace.clone())
                .or_default()
                .push(&t.template);
        }
        by_ns
            .into_iter()
            .map(|(ns, list)| (ns, profiles::recommend_for_all(&presets, list)))
            .collect()
    })
    .await
    .map_err(|e| AppError::Internal(format!("evaluating presets: {e}")))
}
