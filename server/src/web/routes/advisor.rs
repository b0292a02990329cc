//! The policy advisor: `GET /api/v1/graph`, `POST /api/v1/what-if`, and the
//! Advisor page (graph, change form, impact).
//!
//! A snapshot never changes once written, so its [`Advisor`] (graph and
//! verdicts) is built once and kept in a small cache keyed by database file
//! and snapshot.

use std::path::PathBuf;
use std::sync::{Arc, LazyLock, Mutex};

use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use super::{SnapshotParam, chosen_snapshot};
use crate::AppState;
use crate::advisor::Advisor;
use crate::store;
use crate::store::snapshots::Snapshot;
use crate::web::{ApiError, AppError};

/// Routes under `/api/v1`.
pub fn api() -> Router<AppState> {
    Router::new().route("/graph", get(graph))
}

// ---------------------------------------------------------------------------------------------
// The advisor of a snapshot, cached

type CacheKey = (PathBuf, i64, i64);
type Cache = Vec<(CacheKey, Arc<Advisor>)>;

/// Advisors of the snapshots asked about most recently (newest last).
static CACHE: LazyLock<Mutex<Cache>> = LazyLock::new(|| Mutex::new(Vec::new()));

const CACHED: usize = 4;

/// The advisor of `snapshot`, built on a blocking thread the first time.
pub async fn advisor_for(state: &AppState, snapshot: &Snapshot) -> Result<Arc<Advisor>, AppError> {
    let key: CacheKey = (
        state.pool.connect_options().get_filename().to_path_buf(),
        snapshot.id,
        snapshot.taken_at,
    );
    if let Some(a) = cache_get(&key) {
        return Ok(a);
    }
    let inventory = store::inventory::load(&state.pool, snapshot.id).await?;
    let advisor = tokio::task::spawn_blocking(move || Advisor::new(inventory))
        .await
        .map_err(|e| AppError::Internal(format!("building the graph failed: {e}")))?;
    let advisor = Arc::new(advisor);
    let mut cache = CACHE.lock().unwrap_or_else(|p| p.into_inner());
    cache.retain(|(k, _)| *k != key);
    cache.push((key, advisor.clone()));
    if cache.len() > CACHED {
        cache.remove(0);
    }
    Ok(advisor)
}

fn cache_get(key: &CacheKey) -> Option<Arc<Advisor>> {
    let mut cache = CACHE.lock().unwrap_or_else(|p| p.into_inner());
    let i = cache.iter().position(|(k, _)| k == key)?;
    let entry = cache.remove(i);
    let advisor = entry.1.clone();
    cache.push(entry);
    Some(advisor)
}

// ---------------------------------------------------------------------------------------------
// GET /api/v1/graph

async fn graph(
    State(state): State<AppState>,
    Query(sp): Query<SnapshotParam>,
) -> Result<Json<Value>, ApiError> {
    let Some(snapshot) = chosen_snapshot(&state.pool, sp.snapshot).await? else {
        return Ok(Json(json!({ "snapshot": null, "nodes": [], "edges": [] })));
    };
    let advisor = advisor_for(&state, &snapshot).await?;
    let g = advisor.graph_json();
    Ok(Json(json!({
        "snapshot": snapshot.id,
        "nodes": g.nodes,
        "edges": g.edges,
    })))
}
