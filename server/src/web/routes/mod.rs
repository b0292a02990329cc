//! One module per area, each owning its handlers, templates and query forms.

pub mod admission;
pub mod advisor;
pub mod alerts;
pub mod api;
pub mod assignments;
pub mod auth;
pub mod export;
pub mod health;
pub mod namespaces;
pub mod notifications;
pub mod overview;
pub mod profiles;
pub mod snapshots;
pub mod workloads;

use serde::Deserialize;
use sqlx::SqlitePool;

use crate::store;
use crate::store::snapshots::Snapshot;
use crate::web::AppError;

/// `?snapshot=ID` chooses a snapshot, `?cluster=NAME` the newest snapshot of
/// one cluster; otherwise the newest snapshot of any cluster is shown.
#[derive(Debug, Default, Deserialize)]
pub struct SnapshotParam {
    pub snapshot: Option<i64>,
    pub cluster: Option<String>,
}

impl SnapshotParam {
    /// The snapshot the request names, directly or through its cluster.
    pub async fn id(&self, pool: &SqlitePool) -> Result<Option<i64>, AppError> {
        resolve(pool, self.snapshot, self.cluster.as_deref()).await
    }
}

/// A snapshot id, or the newest snapshot of `cluster`, or nothing (the newest of all).
pub async fn resolve(
    pool: &SqlitePool,
    snapshot: Option<i64>,
    cluster: Option<&str>,
) -> Result<Option<i64>, AppError> {
    if snapshot.is_some() {
        return Ok(snapshot);
    }
    match cluster.map(str::trim).filter(|c| !c.is_empty()) {
        None => Ok(None),
        Some(c) => match store::snapshots::latest_of(pool, c).await? {
            Some(s) => Ok(Some(s.id)),
            None => Err(AppError::NotFound(format!(
                "There is no snapshot of cluster {c:?}."
            ))),
        },
    }
}

/// A query parameter's value, trimmed; empty means "not given".
pub fn filled(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// `path?k=v&…` with the filled parameters of a page's URL state, in order;
/// just `path` when none is filled.
pub fn url_with(path: &str, params: &[(&str, &Option<String>)]) -> String {
    let pairs: Vec<(&str, &str)> = params
        .iter()
        .filter_map(|(k, v)| filled(v).map(|v| (*k, v)))
        .collect();
    let q = serde_urlencoded::to_string(pairs).unwrap_or_default();
    if q.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{q}")
    }
}

/// The snapshot a request is about, or `None` when the database holds none.
pub async fn chosen_snapshot(
    pool: &SqlitePool,
    id: Option<i64>,
) -> Result<Option<Snapshot>, AppError> {
    match id {
        Some(id) => match store::snapshots::get(pool, id).await? {
            Some(s) => Ok(Some(s)),
            None => Err(AppError::NotFound(format!("There is no snapshot {id}."))),
        },
        None => Ok(store::snapshots::latest(pool).await?),
    }
}

/// What the navigation bar shows on every page.
pub struct Nav {
    pub active: &'static str,
    pub snapshot: Option<Snapshot>,
    /// Set when the request chose a snapshot (or cluster): links keep it.
    pub pinned: Option<i64>,
    /// A change just made (`?applied=<audit id>`), with its Undo.
    pub notice: Option<assignments::Notice>,
}

impl Nav {
    pub fn new(active: &'static str, snapshot: &Option<Snapshot>) -> Self {
        Nav {
            active,
            snapshot: snapshot.clone(),
            pinned: None,
            notice: None,
        }
    }

    /// Shows what was just changed, with its Undo.
    pub fn notice(mut self, notice: Option<assignments::Notice>) -> Self {
        self.notice = notice;
        self
    }

    /// Keeps the chosen snapshot in the navigation links.
    pub fn pin(mut self, id: Option<i64>) -> Self {
        self.pinned = id;
        self
    }

    /// `?snapshot=N` for links, when a snapshot was chosen.
    pub fn query(&self) -> String {
        self.pinned
            .map(|id| format!("?snapshot={id}"))
            .unwrap_or_default()
    }

    pub fn is(&self, id: &str) -> bool {
        self.active == id
    }

    /// The pages of the navigation bar: (id, link, label).
    pub fn items(&self) -> [(&'static str, &'static str, &'static str); 9] {
        [
            ("overview", "/", "Overview"),
            ("namespaces", "/namespaces", "Namespaces"),
            ("workloads", "/workloads", "Workloads"),
            ("advisor", "/advisor", "Advisor"),
            ("alerts", "/alerts", "Alerts"),
            ("profiles", "/profiles", "Profiles"),
            ("snapshots", "/snapshots", "Snapshots"),
            ("admission", "/admission", "Admission log"),
            ("settings", "/settings", "Settings"),
        ]
    }
}
