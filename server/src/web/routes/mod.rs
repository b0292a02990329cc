//! One module per area, each owning its handlers, templates and query forms.

pub mod advisor;
pub mod api;
pub mod health;
pub mod namespaces;
pub mod overview;
pub mod profiles;
pub mod snapshots;
pub mod workloads;

use serde::Deserialize;
use sqlx::SqlitePool;

use crate::store;
use crate::store::snapshots::Snapshot;
use crate::web::AppError;

/// `?snapshot=ID` chooses a snapshot; otherwise the newest is shown.
#[derive(Debug, Default, Deserialize)]
pub struct SnapshotParam {
    pub snapshot: Option<i64>,
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
}

impl Nav {
    pub fn new(active: &'static str, snapshot: &Option<Snapshot>) -> Self {
        Nav {
            active,
            snapshot: snapshot.clone(),
        }
    }

    pub fn is(&self, id: &str) -> bool {
        self.active == id
    }

    /// The pages of the navigation bar: (id, link, label).
    pub fn items(&self) -> [(&'static str, &'static str, &'static str); 6] {
        [
            ("overview", "/", "Overview"),
            ("namespaces", "/namespaces", "Namespaces"),
            ("workloads", "/workloads", "Workloads"),
            ("advisor", "/advisor", "Advisor"),
            ("profiles", "/profiles", "Profiles"),
            ("snapshots", "/snapshots", "Snapshots"),
        ]
    }
}
