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

/// Writers (assignments, snapshots) and readers at once on the server's own
/// pool never see "database is locked": write transactions take the lock
/// up front and wait for each other within the busy timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_and_readers_never_see_a_locked_database() {
    use portcullis::policy::assignments::Mode;
    use portcullis::store::assignments;

    let db = crate::support::db_with(&[("shop.yaml", SHOP)]).await;
    let pool = db.state.pool.clone();
    let mut tasks = tokio::task::JoinSet::new();
    for t in 0..4 {
        let pool = pool.clone();
        tasks.spawn(async move {
            let target = format!("namespace/ns-{t}");
            for i in 0..25 {
                let profile = if i % 2 == 0 { "restricted" } else { "baseline" };
                assignments::assign(&pool, "test", &target, Mode::Enforce, profile, "t", i)
                    .await
                    .map_err(|e| format!("assign: {e}"))?;
                if i % 5 == 4 {
                    assignments::unassign(&pool, "test", &target, Mode::Enforce, "t", i)
                        .await
                        .map_err(|e| format!("unassign: {e}"))?;
                }
            }
            Ok::<usize, String>(25 + 5)
        });
    }
    for _ in 0..2 {
        let pool = pool.clone();
        tasks.spawn(async move {
            let inv = inventory(&[("shop.yaml", SHOP)]);
            for i in 0..3 {
                snapshots::insert(&pool, &src(), &inv, 2000 + i, portcullis::cli::level_of)
                    .await
                    .map_err(|e| format!("snapshot: {e}"))?;
            }
            Ok(0)
        });
    }
    for _ in 0..4 {
        let pool = pool.clone();
        tasks.spawn(async move {
            for _ in 0..50 {
                assignments::list(&pool)
                    .await
                    .map_err(|e| format!("list: {e}"))?;
                snapshots::list(&pool)
                    .await
                    .map_err(|e| format!("snapshots: {e}"))?;
            }
            Ok(0)
        });
    }
    let mut changes = 0;
    while let Some(done) = tasks.join_next().await {
        changes += done.expect("task").expect("no database error");
    }
    assert_eq!(
        assignments::audit_count(&pool).await.expect("count"),
        changes as i64
    );
    assert_eq!(snapshots::list(&pool).await.expect("list").len(), 7);
}
