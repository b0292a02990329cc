//! The store against a fresh SQLite file per test (`#[sqlx::test]`).

use portcullis::store::snapshots::{self, SnapshotSource};
use portcullis::store::workloads::{self, SortKey, WorkloadQuery};
use sqlx::SqlitePool;

use crate::support::{SHOP, inventory};

fn src() -> SnapshotSource {
    SnapshotSource {
        cluster: "test".into(),
        source: "unit".into(),
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn snapshot_round_trip(pool: SqlitePool) {
    let inv = inventory(&[("shop.yaml", SHOP)]);
    let id = snapshots::insert(&pool, &src(), &inv, 1000, portcullis::cli::level_of)
        .await
        .expect("insert");
    let s = snapshots::get(&pool, id)
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(
        (s.namespaces, s.workloads, s.containers, s.services),
        (3, 3, 4, 1)
    );
    let w = workloads::get(&pool, id, "shop", "Deployment", "cart")
        .await
        .expect("get workload")
        .expect("cart exists");
    assert_eq!(w.row.replicas, Some(2));
    assert_eq!(w.containers.len(), 2);
    assert_eq!(w.containers[0].kind, "init");
    assert_eq!(w.containers[0].settings.len(), 16);
    assert_eq!(w.template.spec.containers[0].name, "cart");
    assert_eq!(w.row.origin_file, "shop.yaml");
}

#[sqlx::test(migrations = "../migrations")]
async fn history_is_kept_and_newest_is_shown(pool: SqlitePool) {
    let inv = inventory(&[("shop.yaml", SHOP)]);
    let first = snapshots::insert(&pool, &src(), &inv, 1000, portcullis::cli::level_of)
        .await
        .expect("first");
    let second = snapshots::insert(&pool, &src(), &inv, 2000, portcullis::cli::level_of)
        .await
        .expect("second");
    assert_eq!(
        snapshots::latest(&pool)
            .await
            .expect("latest")
            .map(|s| s.id),
        Some(second)
    );
    let ids: Vec<i64> = snapshots::list(&pool)
        .await
        .expect("list")
        .iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(ids, [second, first]);
    // The older snapshot is still complete.
    let (rows, total) = workloads::list(
        &pool,
        first,
        &WorkloadQuery {
            per_page: 10,
            ..Default::default()
        },
    )
    .await
    .expect("list");
    assert_eq!((rows.len(), total), (3, 3));
}

#[sqlx::test(migrations = "../migrations")]
async fn a_failed_write_leaves_nothing_behind(pool: SqlitePool) {
    let inv = inventory(&[("shop.yaml", SHOP)]);
    let good = snapshots::insert(&pool, &src(), &inv, 1000, portcullis::cli::level_of)
        .await
        .expect("good");
    // The same workload twice breaks the unique key half-way through the write.
    let mut bad = inv.clone();
    let dup = bad.workloads[0].clone();
    bad.workloads.push(dup);
    let err = snapshots::insert(&pool, &src(), &bad, 2000, portcullis::cli::level_of).await;
    assert!(err.is_err());
    assert_eq!(snapshots::count(&pool).await.expect("count"), 1);
    assert_eq!(
        snapshots::latest(&pool)
            .await
            .expect("latest")
            .map(|s| s.id),
        Some(good)
    );
    let (orphans,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM workloads WHERE snapshot_id != ?")
            .bind(good)
            .fetch_one(&pool)
            .await
            .expect("count");
    assert_eq!(orphans, 0);
}

#[sqlx::test(migrations = "../migrations")]
async fn list_sorts_by_risk(pool: SqlitePool) {
    let inv = inventory(&[("shop.yaml", SHOP)]);
    let id = snapshots::insert(&pool, &src(), &inv, 1000, portcullis::cli::level_of)
        .await
        .expect("insert");
    let q = WorkloadQuery {
        sort: SortKey::Risk,
        descending: true,
        per_page: 10,
        ..Default::default()
    };
    let (rows, _) = workloads::list(&pool, id, &q).await.expect("list");
    assert_eq!(rows[0].name, "node-agent");
    assert_eq!(rows[2].name, "hardened");
    let counts = workloads::flag_counts(&pool, id).await.expect("counts");
    assert_eq!(counts.get("privileged"), Some(&1));
}
