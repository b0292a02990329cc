//! `/api/v1/...`: every page's data as JSON. Lists answer `{"<name>": [...], "total": N}`.

use axum::extract::{Path, Query, State};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use super::workloads::ListParams;
use super::{SnapshotParam, chosen_snapshot};
use crate::AppState;
use crate::model::effective::Cell;
use crate::store;
use crate::web::{ApiError, AppError};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/namespaces", get(namespaces))
        .route("/workloads", get(workloads))
        .route("/workloads/{ns}/{kind}/{name}", get(workload))
        .route("/snapshots", get(snapshots))
        .merge(super::profiles::api_router())
        .fallback(not_found)
}

async fn not_found(axum::extract::OriginalUri(uri): axum::extract::OriginalUri) -> ApiError {
    ApiError(AppError::NotFound(format!(
        "No such page or endpoint: {}",
        uri.path()
    )))
}

async fn namespaces(
    State(state): State<AppState>,
    principal: crate::auth::Principal,
    Query(sp): Query<SnapshotParam>,
) -> Result<Json<Value>, ApiError> {
    let snapshot = chosen_snapshot(&state.pool, sp.id(&state.pool).await?).await?;
    let (list, recommended) = match &snapshot {
        Some(s) => (
            store::namespaces::list_in(&state.pool, s.id, principal.namespaces.as_deref()).await?,
            super::profiles::namespace_recommendations(&state.pool, s.id).await?,
        ),
        None => (Vec::new(), Default::default()),
    };
    let items: Vec<Value> = list
        .iter()
        .map(|n| {
            let mut j = serde_json::to_value(n).unwrap_or_default();
            j["recommendedPreset"] = json!(recommended.get(&n.name).map(|p| p.id));
            j
        })
        .collect();
    Ok(Json(json!({
        "snapshot": snapshot.map(|s| s.id),
        "total": items.len(),
        "namespaces": items,
    })))
}

async fn workloads(
    State(state): State<AppState>,
    principal: crate::auth::Principal,
    Query(params): Query<ListParams>,
) -> Result<Json<Value>, ApiError> {
    let pin = super::resolve(
        &state.pool,
        params.snapshot_id()?,
        params.cluster.as_deref(),
    )
    .await?;
    let snapshot = chosen_snapshot(&state.pool, pin).await?;
    let mut query = params.to_query()?;
    query.scope = principal.namespaces.clone();
    let (rows, total) = match &snapshot {
        Some(s) => store::workloads::list(&state.pool, s.id, &query).await?,
        None => (Vec::new(), 0),
    };
    let items: Vec<Value> = rows
        .iter()
        .map(|r| {
            json!({
                "id": r.key(),
                "namespace": r.namespace,
                "kind": r.kind,
                "name": r.name,
                "replicas": r.replicas,
                "containers": r.containers,
                "risk": r.risk(),
                "flags": r.flag_list(),
                "level": r.level,
            })
        })
        .collect();
    Ok(Json(json!({
        "snapshot": snapshot.map(|s| s.id),
        "total": total,
        "page": query.page,
        "perPage": query.per_page,
        "workloads": items,
    })))
}

fn cell_json(c: &Cell) -> Value {
    json!({
        "control": c.control,
        "title": c.control.title(),
        "value": c.value,
        "field": c.field,
        "origin": c.origin,
        "risk": c.risk,
        "why": c.why,
    })
}

async fn workload(
    State(state): State<AppState>,
    principal: crate::auth::Principal,
    Path((ns, kind, name)): Path<(String, String, String)>,
    Query(sp): Query<SnapshotParam>,
) -> Result<Json<Value>, ApiError> {
    let Some(snapshot) = chosen_snapshot(&state.pool, sp.id(&state.pool).await?).await? else {
        return Err(AppError::NotFound("No snapshot has been taken yet.".into()).into());
    };
    let found = if principal.sees(&ns) {
        store::workloads::get(&state.pool, snapshot.id, &ns, &kind, &name).await?
    } else {
        // Out of scope reads exactly as missing, so existence does not leak.
        None
    };
    let Some(w) = found else {
        return Err(AppError::NotFound(format!("There is no workload {ns}/{kind}/{name}.")).into());
    };
    let entries = super::profiles::catalogue(&state.pool).await?;
    let (template, kind) = (w.template.clone(), w.row.kind.clone());
    let (profiles, recommended) = tokio::task::spawn_blocking(move || {
        let list: Vec<Value> = entries
            .iter()
            .map(|e| super::profiles::verdict_json(e, &template, &kind))
            .collect();
        (list, crate::policy::profiles::recommend(&template))
    })
    .await
    .map_err(|e| AppError::Internal(format!("evaluating profiles: {e}")))?;
    let containers: Vec<Value> = w
        .containers
        .iter()
        .map(|c| {
            json!({
                "name": c.name,
                "kind": c.kind,
                "image": c.image,
                "risk": c.risk,
                "flags": c.flags,
                "settings": c.settings.iter().map(cell_json).collect::<Vec<_>>(),
            })
        })
        .collect();
    Ok(Json(json!({
        "snapshot": snapshot.id,
        "id": format!("{}/{}/{}", w.row.namespace, w.row.kind, w.row.name),
        "namespace": w.row.namespace,
        "kind": w.row.kind,
        "name": w.row.name,
        "apiVersion": w.row.api_version,
        "labels": w.labels,
        "annotations": w.annotations,
        "replicas": w.row.replicas,
        "schedule": w.row.schedule,
        "folded": w.folded,
        "source": {
            "file": w.row.origin_file,
            "document": w.row.origin_document,
            "line": w.row.origin_line,
        },
        "level": w.row.level,
        "verdicts": super::workloads::verdicts(&w.template).iter().map(|e| json!({
            "profile": e.profile,
            "allowed": e.allowed(),
            "message": e.message(),
            "violations": e.violations,
        })).collect::<Vec<_>>(),
        "profiles": profiles,
        "recommendation": { "preset": recommended.id, "title": recommended.title },
        "containers": containers,
    })))
}

async fn snapshots(
    State(state): State<AppState>,
    p: crate::auth::Principal,
) -> Result<Json<Value>, ApiError> {
    let list = store::snapshots::list(&state.pool).await?;
    let items: Vec<Value> = list
        .iter()
        .map(|s| {
            json!({
                "id": s.id,
                "cluster": s.cluster,
                "source": s.source,
                "takenAt": jiff::Timestamp::from_millisecond(s.taken_at).map(|t| t.to_string()).unwrap_or_default(),
                "namespaces": s.namespaces,
                "workloads": s.workloads,
                "containers": s.containers,
                "services": s.services,
                "networkPolicies": s.network_policies,
                "skipped": s.skipped_kinds(),
                // Unreadable documents may be of any namespace: only their number
                // for users limited to some.
                "errors": if p.scoped() { Vec::new() } else { s.load_errors() },
                "errorCount": s.load_errors().len(),
            })
        })
        .collect();
    Ok(Json(json!({ "total": items.len(), "snapshots": items })))
}
