//! Crash safety: `portcullis snapshot` killed with SIGKILL at points spread
//! over its run loses nothing already stored and leaves no half snapshot.
//!
//! The kill points are spread over the duration of a complete run measured
//! first (some land while files are read, some during the one write
//! transaction); whatever point each kill hits, the database must pass
//! `PRAGMA integrity_check`, every stored snapshot must hold exactly the
//! rows its header counts, and the first snapshot must be intact.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sqlx::SqlitePool;

const PODS: usize = 3_000;

fn manifests(dir: &Path) {
    for f in 0..10 {
        let mut text = String::new();
        for i in 0..PODS / 10 {
            let n = f * (PODS / 10) + i;
            text.push_str(&format!(
                "apiVersion: v1
kind: Pod
metadata:
  name: pod-{n}
  namespace: team-{}
  labels: {{app: pod-{n}}}
spec:
  hostNetwork: {}
  containers:
  - name: app
    image: registry.example/app:{n}
    securityContext: {{privileged: {}, runAsUser: {}}}
  - name: sidecar
    image: registry.example/proxy:1
---
",
                n % 7,
                n.is_multiple_of(3),
                n.is_multiple_of(5),
                n % 1000
            ));
        }
        std::fs::write(dir.join(format!("pods-{f}.yaml")), text).expect("write manifests");
    }
}

fn snapshot(manifests: &Path, db: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_portcullis"));
    cmd.args(["snapshot", "--manifests"])
        .arg(manifests)
        .arg("--db")
        .arg(db)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    cmd
}

/// (id, workloads counted in the header, workload rows, container rows).
async fn snapshots(pool: &SqlitePool) -> Vec<(i64, i64, i64, i64)> {
    sqlx::query_as(
        "SELECT s.id, s.workloads,
                (SELECT COUNT(*) FROM workloads w WHERE w.snapshot_id = s.id),
                (SELECT COUNT(*) FROM containers c JOIN workloads w ON c.workload_id = w.id
                  WHERE w.snapshot_id = s.id)
         FROM snapshots s ORDER BY s.id",
    )
    .fetch_all(pool)
    .await
    .expect("read snapshots")
}

async fn fingerprint(pool: &SqlitePool, id: i64) -> String {
    sqlx::query_scalar(
        "SELECT group_concat(namespace || '/' || kind || '/' || name || ':' || level || ':' || flags, '|')
         FROM (SELECT * FROM workloads WHERE snapshot_id = ? ORDER BY namespace, kind, name)",
    )
    .bind(id)
    .fetch_one(pool)
    .await
    .expect("fingerprint")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_snapshots_loses_nothing_and_leaves_no_half_snapshot() {
    let dir = tempfile::tempdir().expect("temp dir");
    let input = dir.path().join("manifests");
    std::fs::create_dir(&input).expect("mkdir");
    manifests(&input);
    let db = dir.path().join("crash.db");

    let started = Instant::now();
    let status = snapshot(&input, &db).status().expect("run snapshot");
    assert!(status.success(), "the first snapshot failed: {status}");
    let full = started.elapsed();

    let first = {
        let pool = portcullis::store::open(&db).await.expect("open");
        let list = snapshots(&pool).await;
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].1, PODS as i64);
        let fp = fingerprint(&pool, list[0].0).await;
        pool.close().await;
        (list[0], fp)
    };

    let points = 12u32;
    let mut completed = 1;
    // Kills that left a write-ahead log behind: a transaction was under way.
    let mut killed_writing = 0;
    for k in 1..=points {
        // From 20% to 120% of a full run: early kills hit the reading, late
        // ones the write transaction, the last ones may find it finished.
        let at = full.mul_f64(0.2 + f64::from(k) / f64::from(points));
        let mut child = snapshot(&input, &db).spawn().expect("spawn snapshot");
        let deadline = Instant::now() + at;
        let finished = loop {
            if let Some(status) = child.try_wait().expect("wait") {
                break Some(status);
            }
            if Instant::now() >= deadline {
                break None;
            }
            std::thread::sleep(Duration::from_millis(2));
        };
        match finished {
            Some(status) => {
                assert!(status.success(), "snapshot {k} failed on its own: {status}");
                completed += 1;
            }
            None => {
                child.kill().expect("SIGKILL");
                let _ = child.wait();
                let wal = std::fs::metadata(db.with_extension("db-wal")).map_or(0, |m| m.len());
                eprintln!("kill point {k} at {at:?}: killed, WAL {wal} bytes");
                if wal > 0 {
                    killed_writing += 1;
                }
            }
        }

        let pool = portcullis::store::open(&db)
            .await
            .expect("reopen after kill");
        let check: String = sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_one(&pool)
            .await
            .expect("integrity_check");
        assert_eq!(check, "ok", "after kill point {k}");
        let list = snapshots(&pool).await;
        for (id, counted, rows, containers) in &list {
            assert_eq!(
                counted, rows,
                "snapshot {id} is half written (kill point {k})"
            );
            assert_eq!(
                *containers,
                2 * rows,
                "snapshot {id} lost containers (kill point {k})"
            );
        }
        assert!(list.len() >= completed, "a completed snapshot went missing");
        assert_eq!(
            list[0], first.0,
            "the first snapshot changed (kill point {k})"
        );
        assert_eq!(fingerprint(&pool, first.0.0).await, first.1);
        completed = list.len();
        pool.close().await;
    }
    eprintln!("{killed_writing} of {points} kills left a write-ahead log to recover");
}
