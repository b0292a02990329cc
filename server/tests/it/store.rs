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

fn decision(name: &str, message: &str) -> portcullis::admission::Decision {
    let mut d = portcullis::admission::Decision::new(1_700_000_000_000, "test");
    d.uid = format!("uid-{name}");
    d.operation = "CREATE".into();
    d.kind = "Pod".into();
    d.namespace = "shop".into();
    d.name = name.into();
    d.verdict = portcullis::metrics::ReviewVerdict::Warned;
    d.message = message.into();
    d
}

/// How many blocks store `text` (each stores a text at most once: checked).
async fn blocks_with(pool: &SqlitePool, text: &str) -> i64 {
    let repeated: Vec<i64> = sqlx::query_scalar(
        "SELECT b.id FROM admission_blocks b, json_each(b.decisions, '$.m') t
         GROUP BY b.id, t.value HAVING COUNT(*) > 1",
    )
    .fetch_all(pool)
    .await
    .expect("texts");
    assert_eq!(repeated, Vec::<i64>::new(), "blocks storing a text twice");
    sqlx::query_scalar(
        "SELECT COUNT(*) FROM admission_blocks b, json_each(b.decisions, '$.m') t
         WHERE t.value = ?",
    )
    .bind(text)
    .fetch_one(pool)
    .await
    .expect("texts")
}

/// The admission log stores a batch as one block, each text once in it
/// however many decisions share it, and keeps exactly the newest decisions:
/// a block wholly older goes, one partly older stays, its older decisions no
/// longer listed or counted.
#[sqlx::test(migrations = "../migrations")]
async fn the_admission_log_keeps_the_newest_decisions_in_blocks(pool: SqlitePool) {
    use portcullis::store::admission;
    let warning = "would violate PodSecurity \"restricted:latest\": ".repeat(10);
    let batch: Vec<_> = (0..300)
        .map(|i| decision(&format!("web-{i}"), &warning))
        .chain([decision("db", "denied: hostPath")])
        .collect();
    admission::insert(&pool, &batch, 10_000)
        .await
        .expect("insert");
    admission::insert(&pool, &batch[..5], 10_000)
        .await
        .expect("insert");
    assert_eq!(blocks_with(&pool, &warning).await, 2);
    assert_eq!(blocks_with(&pool, "denied: hostPath").await, 1);
    assert_eq!(blocks_with(&pool, "shop").await, 2);
    assert_eq!(blocks_with(&pool, "web-7").await, 1);
    // The uid, unique to a request, is not a shared text.
    assert_eq!(blocks_with(&pool, "uid-web-7").await, 0);
    let (rows, total) = admission::list(&pool, &Default::default(), 400, 0)
        .await
        .expect("list");
    assert_eq!(total, 306);
    assert_eq!(admission::count(&pool).await.expect("count"), 306);
    assert_eq!(rows[0].name, "web-4");
    assert_eq!(rows[0].id, 306);
    assert_eq!(rows[0].message, warning);
    assert_eq!(rows[5].name, "db");
    assert_eq!(rows[5].message, "denied: hostPath");
    assert_eq!(rows[305].name, "web-0");
    assert_eq!(rows[305].id, 1);
    let (page, _) = admission::list(&pool, &Default::default(), 2, 5)
        .await
        .expect("list");
    let names: Vec<&str> = page.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["db", "web-299"]);

    // Keep 3: the first block goes whole, the second stays for its newest
    // two decisions.
    admission::insert(&pool, &[decision("api", "allowed")], 3)
        .await
        .expect("insert");
    assert_eq!(blocks_with(&pool, &warning).await, 1);
    assert_eq!(blocks_with(&pool, "web-7").await, 0);
    assert_eq!(blocks_with(&pool, "allowed").await, 1);
    admission::insert(&pool, &[decision("api", "allowed")], 3)
        .await
        .expect("insert");
    let (rows, total) = admission::list(&pool, &Default::default(), 10, 0)
        .await
        .expect("list");
    assert_eq!(total, 3);
    assert_eq!(admission::count(&pool).await.expect("count"), 3);
    let names: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["api", "api", "web-4"]);
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    assert_eq!(ids, [308, 307, 306]);
    assert_eq!(
        admission::namespaces(&pool).await.expect("namespaces"),
        ["shop"]
    );

    // A filter counts only what it matches.
    let warned = admission::Filter {
        verdict: Some("warned".into()),
        namespace: None,
        scope: Some(vec!["shop".into()]),
    };
    assert_eq!(
        admission::list(&pool, &warned, 10, 0)
            .await
            .expect("list")
            .1,
        3
    );
    let elsewhere = admission::Filter {
        scope: Some(vec!["payments".into()]),
        ..Default::default()
    };
    assert_eq!(
        admission::list(&pool, &elsewhere, 10, 0)
            .await
            .expect("list")
            .1,
        0
    );
}

/// A block that cannot be read is an error naming it, not a panic or a
/// silently shorter log.
#[sqlx::test(migrations = "../migrations")]
async fn an_unreadable_admission_block_is_named(pool: SqlitePool) {
    use portcullis::store::admission;
    admission::insert(&pool, &[decision("api", "allowed")], 10)
        .await
        .expect("insert");
    sqlx::query("INSERT INTO admission_blocks (id, n, decisions) VALUES (2, 1, '{\"m\": [')")
        .execute(&pool)
        .await
        .expect("a broken block");
    let e = admission::list(&pool, &Default::default(), 10, 0)
        .await
        .expect_err("a broken block");
    assert!(e.to_string().contains("admission log block 2"), "{e}");
    // A text index past the block's texts names the decision and column.
    sqlx::query(
        r#"UPDATE admission_blocks SET decisions =
           '{"m":["x"],"d":[[1,"u",0,7,0,0,0,0,0,0,0,0]]}' WHERE id = 2"#,
    )
    .execute(&pool)
    .await
    .expect("a block with a bad index");
    let e = admission::list(&pool, &Default::default(), 10, 0)
        .await
        .expect_err("a bad index");
    assert!(
        e.to_string()
            .contains("admission log decision 2: its kind is not in its block"),
        "{e}"
    );
}

/// Every column of a decision comes back from the log as written, whatever
/// its characters.
#[sqlx::test(migrations = "../migrations")]
async fn a_logged_decision_keeps_every_column(pool: SqlitePool) {
    use portcullis::store::admission;
    let mut odd = decision("we\"b\\\n✓", "audit: \"x\"\u{1}");
    odd.at = 4_102_444_800_123;
    odd.uid = "ü/\\".into();
    odd.operation = "UPDATE".into();
    odd.kind = "CronJob".into();
    odd.namespace = "ns'".into();
    odd.user = "system:serviceaccount:kube-system:job-controller".into();
    odd.verdict = portcullis::metrics::ReviewVerdict::Audited;
    odd.mode = Some(portcullis::policy::assignments::Mode::Audit);
    odd.profile = "psp: 'legacy'".into();
    odd.dry_run = true;
    admission::insert(&pool, &[decision("plain", "allowed"), odd.clone()], 10_000)
        .await
        .expect("insert");
    let (rows, _) = admission::list(&pool, &Default::default(), 2, 0)
        .await
        .expect("list");
    let e = &rows[0];
    assert_eq!(
        (
            e.at,
            e.uid.as_str(),
            e.operation.as_str(),
            e.kind.as_str(),
            e.namespace.as_str(),
            e.name.as_str(),
            e.user.as_str(),
            e.verdict.as_str(),
            e.mode.as_str(),
            e.profile.as_str(),
            e.message.as_str(),
            e.dry_run
        ),
        (
            odd.at,
            odd.uid.as_str(),
            "UPDATE",
            "CronJob",
            "ns'",
            odd.name.as_str(),
            odd.user.as_str(),
            "audited",
            "audit",
            "psp: 'legacy'",
            odd.message.as_str(),
            true
        )
    );
    assert_eq!((rows[1].mode.as_str(), rows[1].dry_run), ("", false));
    assert_eq!(rows[1].name, "plain");
}

/// A database written before messages were stored apart, and before the log
/// was stored in blocks, keeps its log.
#[tokio::test]
async fn the_admission_log_of_an_older_database_survives_the_migration() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("old.db");
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(&path)
        .create_if_missing(true);
    let pool = SqlitePool::connect_with(options).await.expect("open");
    let all = &portcullis::store::MIGRATOR;
    let before = sqlx::migrate::Migrator {
        migrations: all
            .migrations
            .iter()
            .filter(|m| m.version < 70)
            .cloned()
            .collect::<Vec<_>>()
            .into(),
        ..sqlx::migrate::Migrator::DEFAULT
    };
    before.run(&pool).await.expect("old migrations");
    for (i, message) in ["warned once", "warned twice", "warned twice"]
        .iter()
        .enumerate()
    {
        sqlx::query(
            "INSERT INTO admission_log (at, uid, operation, kind, namespace, name, user,
                                        verdict, mode, profile, message, dry_run)
             VALUES (?, ?, 'CREATE', 'Pod', 'shop', ?, 'kubectl', 'warned', 'warn',
                     'restricted', ?, 0)",
        )
        .bind(1_700_000_000_000_i64 + i as i64)
        .bind(format!("uid-{i}"))
        .bind(format!("web-{i}"))
        .bind(message)
        .execute(&pool)
        .await
        .expect("old row");
    }
    all.run(&pool).await.expect("migrate");
    let (rows, total) = portcullis::store::admission::list(&pool, &Default::default(), 10, 0)
        .await
        .expect("list");
    assert_eq!(total, 3);
    let got: Vec<(&str, &str)> = rows
        .iter()
        .map(|r| (r.name.as_str(), r.message.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("web-2", "warned twice"),
            ("web-1", "warned twice"),
            ("web-0", "warned once")
        ]
    );
    // Each old row became a block of its own, its id kept: the next
    // decision continues the sequence.
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    assert_eq!(ids, [3, 2, 1]);
    portcullis::store::admission::insert(&pool, &[decision("api", "allowed")], 10_000)
        .await
        .expect("insert");
    let (rows, total) = portcullis::store::admission::list(&pool, &Default::default(), 1, 0)
        .await
        .expect("list");
    assert_eq!((total, rows[0].id, rows[0].name.as_str()), (4, 4, "api"));
}
