//! The workload list (filters, sort, paging; full page or htmx partial) and the
//! workload page (the 16 controls × containers grid).

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum_htmx::HxRequest;
use serde::Deserialize;

use super::{Nav, chosen_snapshot};
use crate::AppState;
use crate::model::Control;
use crate::model::controls::RiskFlag;
use crate::policy::pss::{self, Evaluation, Level, LevelVersion};
use crate::store::snapshots::Snapshot;
use crate::store::workloads::{
    self, SortKey, StoredContainer, WorkloadDetail, WorkloadQuery, WorkloadRow,
};
use crate::web::AppError;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/workloads", get(list))
        .route("/namespaces/{ns}/workloads/{kind}/{name}", get(show))
}

pub const PER_PAGE: u32 = 25;

/// The workload list's state, as it appears in the URL. Empty values mean "any".
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ListParams {
    pub snapshot: Option<String>,
    pub cluster: Option<String>,
    pub namespace: Option<String>,
    pub kind: Option<String>,
    pub flag: Option<String>,
    pub level: Option<String>,
    pub q: Option<String>,
    pub sort: Option<String>,
    pub dir: Option<String>,
    pub page: Option<String>,
    pub per_page: Option<String>,
}

fn non_empty(v: &Option<String>) -> Option<String> {
    super::filled(v).map(str::to_owned)
}

impl ListParams {
    pub fn snapshot_id(&self) -> Result<Option<i64>, AppError> {
        non_empty(&self.snapshot)
            .map(|s| {
                s.parse::<i64>().map_err(|_| {
                    AppError::BadRequest(format!("snapshot must be a number, not {s:?}"))
                })
            })
            .transpose()
    }

    pub fn to_query(&self) -> Result<WorkloadQuery, AppError> {
        let sort = match non_empty(&self.sort) {
            None => SortKey::default(),
            Some(s) => SortKey::parse(&s).ok_or_else(|| {
                AppError::BadRequest(format!(
                    "sort must be one of name, namespace, kind, risk, containers, level; not {s:?}"
                ))
            })?,
        };
        let descending = match non_empty(&self.dir).as_deref() {
            None | Some("asc") => false,
            Some("desc") => true,
            Some(other) => {
                return Err(AppError::BadRequest(format!(
                    "dir must be asc or desc, not {other:?}"
                )));
            }
        };
        let page = parse_positive(&self.page, "page")?.unwrap_or(1);
        let per_page = parse_positive(&self.per_page, "per_page")?.unwrap_or(PER_PAGE);
        let flag = non_empty(&self.flag);
        if let Some(f) = &flag
            && RiskFlag::from_slug(f).is_none()
        {
            return Err(AppError::BadRequest(format!("unknown risky setting {f:?}")));
        }
        let level = non_empty(&self.level);
        if let Some(l) = &level
            && !matches!(l.as_str(), "privileged" | "baseline" | "restricted")
        {
            return Err(AppError::BadRequest(format!(
                "level must be privileged, baseline or restricted, not {l:?}"
            )));
        }
        Ok(WorkloadQuery {
            namespace: non_empty(&self.namespace),
            kind: non_empty(&self.kind),
            flag,
            level,
            search: non_empty(&self.q),
            scope: None,
            sort,
            descending,
            page,
            per_page,
        })
    }

    fn pairs(&self) -> Vec<(&'static str, String)> {
        let mut v = Vec::new();
        for (k, val) in [
            ("snapshot", &self.snapshot),
            ("cluster", &self.cluster),
            ("namespace", &self.namespace),
            ("kind", &self.kind),
            ("flag", &self.flag),
            ("level", &self.level),
            ("q", &self.q),
            ("sort", &self.sort),
            ("dir", &self.dir),
            ("page", &self.page),
            ("per_page", &self.per_page),
        ] {
            if let Some(s) = non_empty(val) {
                v.push((k, s));
            }
        }
        v
    }

    /// `/workloads?...` with this state.
    pub fn url(&self) -> String {
        let q = serde_urlencoded::to_string(self.pairs()).unwrap_or_default();
        if q.is_empty() {
            "/workloads".to_owned()
        } else {
            format!("/workloads?{q}")
        }
    }

    /// The URL of the same list sorted by `key` (toggling direction when already sorted by it).
    pub fn sort_url(&self, key: &str) -> String {
        let mut p = self.clone();
        let current = non_empty(&self.sort).unwrap_or_else(|| "name".into());
        let desc = non_empty(&self.dir).as_deref() == Some("desc");
        p.dir = Some(if current == key && !desc {
            "desc".into()
        } else {
            String::new()
        });
        p.sort = Some(key.to_owned());
        p.page = None;
        p.url()
    }

    /// `aria-sort` value of a column header.
    pub fn aria_sort(&self, key: &str) -> &'static str {
        let current = non_empty(&self.sort).unwrap_or_else(|| "name".into());
        if current != key {
            "none"
        } else if non_empty(&self.dir).as_deref() == Some("desc") {
            "descending"
        } else {
            "ascending"
        }
    }

    pub fn page_url(&self, page: u32) -> String {
        let mut p = self.clone();
        p.page = Some(page.to_string());
        p.url()
    }

    pub fn arrow(&self, key: &str) -> &'static str {
        match self.aria_sort(key) {
            "ascending" => " ▲",
            "descending" => " ▼",
            _ => "",
        }
    }

    pub fn selected(&self, field: &Option<String>, v: &str) -> bool {
        field.as_deref() == Some(v)
    }

    pub fn value<'a>(&'a self, v: &'a Option<String>) -> &'a str {
        v.as_deref().unwrap_or("")
    }
}

fn parse_positive(v: &Option<String>, name: &str) -> Result<Option<u32>, AppError> {
    non_empty(v)
        .map(|s| match s.parse::<u32>() {
            Ok(n) if n >= 1 => Ok(n),
            _ => Err(AppError::BadRequest(format!(
                "{name} must be a positive number, not {s:?}"
            ))),
        })
        .transpose()
}

/// The table (partial) of the list page.
#[derive(Template, WebTemplate)]
#[template(path = "partials/workload_table.html")]
pub struct WorkloadTable {
    pub params: ListParams,
    pub rows: Vec<WorkloadRow>,
    pub total: i64,
    pub page: u32,
    pub pages: u32,
    pub snapshot_query: String,
}

impl WorkloadTable {
    pub fn first_row(&self) -> i64 {
        if self.total == 0 {
            0
        } else {
            i64::from(self.page - 1) * i64::from(PER_PAGE) + 1
        }
    }
    pub fn last_row(&self) -> i64 {
        (self.first_row() + self.rows.len() as i64 - 1).max(0)
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "pages/workloads.html")]
pub struct WorkloadsPage {
    pub nav: Nav,
    pub table: WorkloadTable,
    pub namespaces: Vec<String>,
    pub kinds: Vec<String>,
    pub flags: Vec<RiskFlag>,
}

async fn list(
    State(state): State<AppState>,
    principal: crate::auth::Principal,
    HxRequest(hx): HxRequest,
    Query(params): Query<ListParams>,
) -> Result<Response, AppError> {
    let snapshot_id = super::resolve(
        &state.pool,
        params.snapshot_id()?,
        params.cluster.as_deref(),
    )
    .await?;
    let snapshot = chosen_snapshot(&state.pool, snapshot_id).await?;
    let mut query = params.to_query()?;
    query.scope = principal.namespaces.clone();
    let (rows, total) = match &snapshot {
        Some(s) => workloads::list(&state.pool, s.id, &query).await?,
        None => (Vec::new(), 0),
    };
    let per_page = i64::from(query.per_page.clamp(1, 500));
    let pages = ((total + per_page - 1) / per_page).max(1) as u32;
    let table = WorkloadTable {
        snapshot_query: snapshot_query(snapshot_id),
        params,
        rows,
        total,
        page: query.page,
        pages,
    };
    if hx {
        return Ok(table.into_response());
    }
    let (namespaces, kinds) = match &snapshot {
        Some(s) => (
            crate::store::namespaces::list_in(&state.pool, s.id, principal.namespaces.as_deref())
                .await?
                .into_iter()
                .map(|n| n.name)
                .collect(),
            workloads::kinds(&state.pool, s.id).await?,
        ),
        None => (Vec::new(), Vec::new()),
    };
    Ok(WorkloadsPage {
        nav: Nav::new("workloads", &snapshot).pin(snapshot_id),
        table,
        namespaces,
        kinds,
        flags: RiskFlag::ALL.to_vec(),
    }
    .into_response())
}

/// `?snapshot=N` when a snapshot was chosen explicitly, so links keep it.
pub fn snapshot_query(id: Option<i64>) -> String {
    id.map(|id| format!("?snapshot={id}")).unwrap_or_default()
}

/// The URL of a workload's page.
pub fn workload_url(namespace: &str, kind: &str, name: &str) -> String {
    format!(
        "/namespaces/{}/workloads/{}/{}",
        encode_segment(namespace),
        encode_segment(kind),
        encode_segment(name)
    )
}

/// Percent-encodes one path segment.
pub fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// One row of the grid: a control and its cell in each container.
pub struct GridRow<'a> {
    pub control: Control,
    pub cells: Vec<Option<&'a crate::model::effective::Cell>>,
}

#[derive(Template, WebTemplate)]
#[template(path = "pages/workload.html")]
pub struct WorkloadPage {
    pub nav: Nav,
    pub w: WorkloadDetail,
    pub snapshot: Snapshot,
    /// The pod template under every preset and custom profile, with fixes
    /// and mutation previews.
    pub profiles: Vec<super::profiles::VerdictView>,
    /// The tightest preset it already satisfies.
    pub recommended: &'static crate::policy::profiles::Preset,
    /// Its connections in the advisor's graph, in and out.
    pub connections: Vec<crate::advisor::graph::EdgeJson>,
    /// The profile in force in each mode, judged with its exemptions.
    pub in_force: Vec<ModeVerdict>,
    /// Its exemptions, active and expired.
    pub exemptions: Vec<super::assignments::ExemptionRow>,
    pub exempt_form: ExemptionFormState,
    /// Profiles that can be assigned: (value, label).
    pub options: Vec<(String, String)>,
    /// This page's URL, where forms return.
    pub back: String,
    /// The snapshot chosen explicitly (forms keep it), or empty.
    pub snapshot_param: String,
}

/// The exemption form's values and error, kept when it is sent back.
#[derive(Debug, Clone, Default)]
pub struct ExemptionFormState {
    /// (field, message).
    pub error: Option<(String, String)>,
    pub container: String,
    pub control: String,
    pub reason: String,
    pub owner: String,
    pub expires: String,
}

impl ExemptionFormState {
    pub fn error_for(&self, field: &str) -> Option<&str> {
        self.error
            .as_ref()
            .filter(|(f, _)| f == field)
            .map(|(_, m)| m.as_str())
    }
    pub fn other_error(&self) -> Option<&str> {
        self.error
            .as_ref()
            .filter(|(f, _)| {
                !["container", "control", "reason", "owner", "expiresAt"].contains(&f.as_str())
            })
            .map(|(_, m)| m.as_str())
    }
}

/// The verdict of the profile in force in one mode, exemptions applied.
pub struct ModeVerdict {
    pub mode: crate::policy::assignments::Mode,
    /// `None`: no profile applies in this mode.
    pub profile: Option<String>,
    pub source: &'static str,
    pub allowed: bool,
    /// `✓ allowed`, `✗ rejected`, `⚠ warned`, `⚠ audited`.
    pub status: String,
    /// What the exemptions excuse, in words (empty when nothing).
    pub exempt_words: String,
    pub message: String,
}

/// The verdict of each Pod Security level (latest) that can deny, on a template.
pub fn verdicts(template: &crate::model::PodTemplate) -> Vec<Evaluation> {
    [Level::Baseline, Level::Restricted]
        .into_iter()
        .map(|l| pss::evaluate(LevelVersion::latest(l), &template.metadata, &template.spec))
        .collect()
}

impl WorkloadPage {
    pub fn containers(&self) -> &[StoredContainer] {
        &self.w.containers
    }
    pub fn grid(&self) -> Vec<GridRow<'_>> {
        Control::ALL
            .iter()
            .map(|&control| GridRow {
                control,
                cells: self
                    .w
                    .containers
                    .iter()
                    .map(|c| c.settings.iter().find(|cell| cell.control == control))
                    .collect(),
            })
            .collect()
    }
    /// The page of the other end of a connection (`external` has none).
    pub fn peer_url(&self, id: &str) -> Option<String> {
        crate::model::WorkloadKey::parse(id).map(|k| {
            format!(
                "{}?snapshot={}",
                workload_url(&k.namespace, &k.kind, &k.name),
                self.snapshot.id
            )
        })
    }

    pub fn is_self(&self, id: &str) -> bool {
        *id == self.key()
    }

    pub fn key(&self) -> String {
        format!(
            "{}/{}/{}",
            self.w.row.namespace, self.w.row.kind, self.w.row.name
        )
    }
    pub fn controls(&self) -> [Control; 16] {
        Control::ALL
    }
    pub fn has_previews(&self) -> bool {
        self.profiles.iter().any(|v| v.preview.is_some())
    }
    pub fn list_url(&self) -> String {
        ListParams {
            namespace: Some(self.w.row.namespace.clone()),
            ..Default::default()
        }
        .url()
    }
}

async fn show(
    State(state): State<AppState>,
    Path((ns, kind, name)): Path<(String, String, String)>,
    Query(sp): Query<super::SnapshotParam>,
    Query(np): Query<super::assignments::NoticeParam>,
) -> Result<Response, AppError> {
    let pin = sp.id(&state.pool).await?;
    let back = format!("{}{}", workload_url(&ns, &kind, &name), snapshot_query(pin));
    let notice = super::assignments::notice(&state, &np, &back).await?;
    Ok(render_workload(
        &state,
        &ns,
        &kind,
        &name,
        pin,
        notice,
        ExemptionFormState::default(),
    )
    .await?
    .into_response())
}

/// An exemption in words: `privileged exempt until 2027-01-31 (owner team-x)`.
pub fn exemption_words(e: &crate::policy::assignments::Exemption) -> String {
    let scope = match (&e.container, e.control) {
        (None, None) => "the whole workload".to_owned(),
        (Some(c), None) => format!("container {c}"),
        (None, Some(k)) => k.slug().to_owned(),
        (Some(c), Some(k)) => format!("{} in container {c}", k.slug()),
    };
    format!(
        "{scope} exempt until {} (owner {})",
        super::assignments::until_words(e.expires_at),
        e.owner
    )
}

/// The workload page, with the exemption form's state (for errors).
pub async fn render_workload(
    state: &AppState,
    ns: &str,
    kind: &str,
    name: &str,
    pin: Option<i64>,
    notice: Option<super::assignments::Notice>,
    exempt_form: ExemptionFormState,
) -> Result<WorkloadPage, AppError> {
    use crate::policy::assignments::{self as asg, Mode};
    let Some(snapshot) = chosen_snapshot(&state.pool, pin).await? else {
        return Err(AppError::NotFound("No snapshot has been taken yet.".into()));
    };
    // A workload out of the user's namespaces reads exactly as one that does
    // not exist, so its existence does not leak.
    let sees = crate::auth::current().principal.is_none_or(|p| p.sees(ns));
    let found = if sees {
        workloads::get(&state.pool, snapshot.id, ns, kind, name).await?
    } else {
        None
    };
    let Some(w) = found else {
        return Err(AppError::NotFound(format!(
            "There is no workload {ns}/{kind}/{name} in snapshot {}.",
            snapshot.id
        )));
    };
    let entries = super::profiles::catalogue(&state.pool).await?;
    let (template, wkind) = (w.template.clone(), w.row.kind.clone());
    let wid = format!("{}/{}/{}", w.row.namespace, w.row.kind, w.row.name);
    let (rules_now, cluster_now) = (state.rules.get(), snapshot.cluster.clone());
    let (profiles, recommended) = tokio::task::spawn_blocking(move || {
        let mut views = super::profiles::verdict_views(&entries, &template, &wkind);
        // The verdicts reflect the workload's exemptions, and say so.
        let exempt = rules_now.exemptions_for(&cluster_now, &wid, crate::now_ms());
        if !exempt.is_empty() {
            let words = exempt
                .list
                .iter()
                .map(|e| exemption_words(e))
                .collect::<Vec<_>>()
                .join("; ");
            for (view, entry) in views.iter_mut().zip(&entries) {
                if view.allowed {
                    continue;
                }
                let judged = asg::judge(&entry.profile, &template, &exempt);
                if judged.allowed {
                    view.allowed = true;
                    view.satisfied = judged.satisfied();
                    view.exempt = words.clone();
                } else if judged.violations.len() < view.violations.len() {
                    // Only what is still failing is listed.
                    view.violations
                        .retain(|v| judged.violations.iter().any(|j| j.check == v.check));
                    view.message = judged.message;
                    view.exempt = format!("some violations excused: {words}");
                }
            }
        }
        (views, crate::policy::profiles::recommend(&template))
    })
    .await
    .map_err(|e| AppError::Internal(format!("evaluating profiles: {e}")))?;
    let advisor = super::advisor::advisor_for(state, &snapshot).await?;
    let id = format!("{}/{}/{}", w.row.namespace, w.row.kind, w.row.name);
    let mut connections = advisor.graph.connections_of(&advisor.cluster, &id);
    if let Some(p) = crate::auth::current().principal.filter(|p| p.scoped()) {
        connections = crate::advisor::graph::scope_edges(connections, &|ns| p.sees(ns));
    }

    let rules = state.rules.get();
    let now = crate::now_ms();
    let key = crate::model::WorkloadKey::parse(&id);
    let labels = advisor
        .cluster
        .namespace_labels
        .get(w.row.namespace.as_str());
    let exempt = rules.exemptions_for(&snapshot.cluster, &id, now);
    let applied = match &key {
        Some(k) => rules.effective(&snapshot.cluster, k, labels),
        None => [None, None, None],
    };
    let in_force = Mode::ALL
        .iter()
        .zip(applied)
        .map(|(&mode, a)| {
            let Some(a) = a else {
                return ModeVerdict {
                    mode,
                    profile: None,
                    source: "",
                    allowed: true,
                    status: "no profile".to_owned(),
                    exempt_words: String::new(),
                    message: String::new(),
                };
            };
            let full = crate::policy::profiles::evaluate(&a.profile, &w.template);
            let judged = asg::judge(&a.profile, &w.template, &exempt);
            let status = match (judged.allowed, mode) {
                (true, _) => "✓ allowed",
                (false, Mode::Enforce) => "✗ rejected",
                (false, Mode::Warn) => "⚠ warned",
                (false, Mode::Audit) => "⚠ audited",
            };
            let excused = !full.allowed
                && (judged.allowed || judged.violations.len() < full.violations.len());
            let exempt_words = if excused {
                exempt
                    .list
                    .iter()
                    .map(|e| exemption_words(e))
                    .collect::<Vec<_>>()
                    .join("; ")
            } else {
                String::new()
            };
            ModeVerdict {
                mode,
                profile: Some(a.profile.name.clone()),
                source: a.source.words(),
                allowed: judged.allowed,
                status: status.to_owned(),
                exempt_words,
                message: judged.message,
            }
        })
        .collect();
    let q = snapshot_query(pin);
    let exemptions = rules
        .exemptions
        .iter()
        .filter(|e| e.cluster == snapshot.cluster && e.workload == id)
        .map(|e| super::assignments::ExemptionRow {
            active: e.active(now),
            until: super::assignments::until_words(e.expires_at),
            workload_url: String::new(),
            e: e.clone(),
        })
        .collect();
    let back = format!("{}{q}", workload_url(ns, kind, name));
    Ok(WorkloadPage {
        nav: Nav::new("workloads", &Some(snapshot.clone()))
            .pin(pin)
            .notice(notice),
        profiles,
        recommended,
        connections,
        in_force,
        exemptions,
        exempt_form,
        options: super::assignments::profile_options(&state.pool).await?,
        back,
        snapshot_param: pin.map(|id| id.to_string()).unwrap_or_default(),
        w,
        snapshot,
    })
}
