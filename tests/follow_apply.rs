//! `converge follow`: a MariaDB of the test's own with its binary log on is copied while
//! a workload writes, then followed; when the workload stops and the follower has caught
//! up, `converge verify` passes (every cell, every count). A follower killed with
//! SIGKILL in the middle of a batch resumes from the position the target stores and
//! counts every change once, and every key the backlog changed after an online verify
//! is in `converge.follow_changed` (none before one); one whose apply session is killed
//! reconnects.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::follow::*;
use common::*;
use mysql_async::prelude::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workload_during_the_copy_and_the_follow_ends_verified() {
    let s = Setup::new("follow_work").await;
    seed(&s.my, 300).await;
    let stop = Arc::new(AtomicBool::new(false));
    let made = Arc::new(Made::default());
    let writer = tokio::spawn(workload(s.my.url("app"), 7, 100_000, stop.clone(), made.clone()));
    let run = s.converge(&["run"]).await;
    assert!(run.status.success(), "the copy: {}", said(&run));
    let follower = s.spawn(&["follow"]);
    tokio::time::sleep(Duration::from_secs(4)).await;
    stop.store(true, Ordering::SeqCst);
    let txs = writer.await.unwrap();
    assert!(txs > 20, "the workload wrote during the copy and the follow: {txs} transactions");
    tokio::time::sleep(Duration::from_secs(1)).await;
    signal(&follower, "INT");
    let out = wait(follower).await;
    assert!(out.status.success(), "a follower stopped by SIGINT: {}", said(&out));
    assert!(said(&out).contains("stopped by SIGINT"), "{}", said(&out));
    let drain = s.converge(&["follow", "--until-caught-up", "--json"]).await;
    assert!(drain.status.success(), "drain: {}", said(&drain));
    verify_passes(&s).await;
    // The target's own answer equals MariaDB's for the ON UPDATE column and the key change.
    let pg = pg_rows(&s.pg, "SELECT count(*), max(id) FROM orders").await;
    let mut c = s.my.conn().await;
    let my: (i64, i64) = c.query_first("SELECT count(*), max(id) FROM app.orders").await.unwrap().unwrap();
    assert_eq!(pg[0], [Some(my.0.to_string()), Some(my.1.to_string())]);
    s.pg.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_killed_mid_batch_resumes_and_counts_every_change_once() {
    // Small apply transactions: the kill lands between two of them, or inside one.
    let s = Setup::with("follow_kill", "batch_changes = 100").await;
    seed(&s.my, 50).await;
    let run = s.converge(&["run"]).await;
    assert!(run.status.success(), "the copy: {}", said(&run));
    // A proof: from it on, every key changed is recorded for the cut-over.
    let proof = s.converge(&["verify", "--online"]).await;
    assert!(proof.status.success(), "online verify: {}", said(&proof));
    // A backlog written after the copy, across a binlog rotation.
    let made = Arc::new(Made::default());
    let mut c = s.my.conn().await;
    let (mut r, mut next_order) = (Lcg(11), 1000i64);
    for i in 0..1500 {
        one_transaction(&mut c, &mut r, &mut next_order, &made).await;
        if i == 700 {
            c.query_drop("FLUSH BINARY LOGS").await.unwrap();
        }
    }
    let total = made.changes.load(Ordering::SeqCst) as i64;
    let follower = s.spawn(&["follow"]);
    let mut seen = 0;
    for _ in 0..2000 {
        seen = s.applied().await;
        if seen > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    signal(&follower, "KILL");
    let _ = wait(follower).await;
    assert!(seen > 0, "the follower applied something before it was killed");
    let after_kill = s.applied().await;
    assert!(after_kill < total, "killed before the end of the backlog ({after_kill} of {total})");
    let drain = s.converge(&["follow", "--until-caught-up"]).await;
    assert!(drain.status.success(), "restart: {}", said(&drain));
    assert_eq!(s.applied().await, total, "every change counted once (killed at {after_kill} of {total})");
    every_backlog_key_is_recorded(&s, next_order).await;
    verify_passes(&s).await;
    s.pg.drop_db().await;
}

/// Every key the backlog after the copy made is in `converge.follow_changed`, across the
/// kill and the binlog rotation: each order it inserted (1001 on; deleted, moved or not),
/// each seeded order it deleted or moved (the old key), each moved order's new key, each
/// user past the seed; no entry is past the stored position.
async fn every_backlog_key_is_recorded(s: &Setup, last_order: i64) {
    let rows = pg_rows(&s.pg, "SELECT table_name, key[1] FROM converge.follow_changed").await;
    let recorded: std::collections::BTreeSet<(String, String)> =
        rows.into_iter().map(|r| (r[0].clone().unwrap(), r[1].clone().unwrap())).collect();
    let mut c = s.my.conn().await;
    let users: Vec<u64> = c.query("SELECT id FROM app.users WHERE id > 50").await.unwrap();
    let moved: Vec<i64> = c.query("SELECT id FROM app.orders WHERE id >= 10000000").await.unwrap();
    let kept: Vec<i64> = c.query("SELECT id FROM app.orders WHERE id <= 50").await.unwrap();
    let gone: Vec<i64> = (1..=50).filter(|id| !kept.contains(id)).collect();
    assert!(!users.is_empty() && !moved.is_empty(), "the backlog inserted users and moved orders");
    assert!(!gone.is_empty(), "the backlog deleted or moved seeded orders");
    let mut expected: Vec<(&str, String)> = (1001..=last_order).map(|id| ("orders", id.to_string())).collect();
    expected.extend(gone.iter().map(|id| ("orders", id.to_string())));
    expected.extend(moved.iter().map(|id| ("orders", id.to_string())));
    expected.extend(users.iter().map(|id| ("users", id.to_string())));
    let missing: Vec<_> = expected.iter().filter(|(t, k)| !recorded.contains(&(t.to_string(), k.clone()))).collect();
    assert!(
        missing.is_empty(),
        "{} of {} keys not recorded, e.g. {:?}",
        missing.len(),
        expected.len(),
        &missing[..missing.len().min(5)]
    );
    let past = "SELECT count(*) FILTER (WHERE (c.file_no, c.position) > (substring(f.binlog_file from '[0-9]+$')::bigint, f.binlog_position)),
                       count(DISTINCT c.file_no)
                  FROM converge.follow_changed c JOIN converge.follow_state f USING (pipeline, target_schema)";
    let r = pg_rows(&s.pg, past).await;
    assert_eq!(r[0][0].as_deref(), Some("0"), "no key recorded past the stored position");
    let files: u32 = r[0][1].as_deref().unwrap().parse().unwrap();
    assert!(files >= 2, "keys on both sides of the rotation ({files} file numbers)");
}

/// How many changed keys the target holds.
async fn recorded(s: &Setup) -> i64 {
    let q = "SELECT count(*) FROM converge.follow_changed";
    pg_rows(&s.pg, q).await[0][0].as_deref().unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changed_keys_are_recorded_from_the_first_online_verify_on() {
    let s = Setup::copied("follow_gate", 20).await;
    // Before any proof a cut-over compares every row: the catch-up records no key.
    s.my.exec("UPDATE app.users SET balance = 3.00 WHERE id <= 5").await;
    let drain = s.converge(&["follow", "--until-caught-up"]).await;
    assert!(drain.status.success(), "drain: {}", said(&drain));
    assert_eq!(s.applied().await, 5);
    assert_eq!(recorded(&s).await, 0, "no key recorded before an online verify asked");
    let proof = s.converge(&["verify", "--online"]).await;
    assert!(proof.status.success(), "online verify: {}", said(&proof));
    // After it, every key changed is recorded (by a follower started afresh).
    s.my.exec("UPDATE app.users SET balance = 4.00 WHERE id IN (7, 8); DELETE FROM app.orders WHERE id = 9").await;
    let drain = s.converge(&["follow", "--until-caught-up"]).await;
    assert!(drain.status.success(), "drain: {}", said(&drain));
    let keys = pg_rows(&s.pg, "SELECT table_name, key[1] FROM converge.follow_changed ORDER BY 1, 2").await;
    let keys: Vec<(String, String)> =
        keys.into_iter().map(|r| (r[0].clone().unwrap(), r[1].clone().unwrap())).collect();
    let want = [("orders", "9"), ("users", "7"), ("users", "8")].map(|(t, k)| (t.to_string(), k.to_string()));
    assert_eq!(keys, want);
    s.pg.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_apply_session_is_reconnected_and_nothing_is_lost() {
    let s = Setup::copied("follow_term", 20).await;
    let stop = Arc::new(AtomicBool::new(false));
    let made = Arc::new(Made::default());
    let writer = tokio::spawn(workload(s.my.url("app"), 3, 5000, stop.clone(), made.clone()));
    let follower = s.spawn(&["follow", "--json"]);
    let kill = "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
                WHERE datname = current_database() AND application_name LIKE 'converge%' AND pid <> pg_backend_pid()";
    let mut killed = 0;
    for _ in 0..200 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        if s.applied().await > 0 {
            killed = s.pg.client.query_one(kill, &[]).await.unwrap().get::<_, i64>(0);
            if killed > 0 {
                break;
            }
        }
    }
    assert!(killed > 0, "the apply session was found and killed");
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop.store(true, Ordering::SeqCst);
    writer.await.unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    signal(&follower, "INT");
    let out = wait(follower).await;
    assert!(out.status.success(), "the follower went on after its session was killed: {}", said(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(report["reconnects"].as_u64().unwrap() >= 1, "{report}");
    let drain = s.converge(&["follow", "--until-caught-up"]).await;
    assert!(drain.status.success(), "drain: {}", said(&drain));
    verify_passes(&s).await;
    s.pg.drop_db().await;
}

/// Two rows swap a unique value in one source transaction: the set-based apply is
/// refused by PostgreSQL's row-by-row unique check, the batch is replayed in source order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_unique_swap_is_replayed_in_source_order_and_a_truncate_is_applied() {
    let s = Setup::copied("follow_swap", 5).await;
    s.my.exec(
        "INSERT INTO app.`query-result-cache` VALUES ('a', '1'), ('b', '2');\n\
         TRUNCATE app.`query-result-cache`;\n\
         INSERT INTO app.`query-result-cache` VALUES ('c', '3')",
    )
    .await;
    let mut c = s.my.conn().await;
    let mut tx = c.start_transaction(Default::default()).await.unwrap();
    tx.query_drop("UPDATE app.users SET email = 'tmp' WHERE id = 1").await.unwrap();
    tx.query_drop("UPDATE app.users SET email = 'seed1@x' WHERE id = 2").await.unwrap();
    tx.query_drop("UPDATE app.users SET email = 'seed2@x' WHERE id = 1").await.unwrap();
    tx.commit().await.unwrap();
    let drain = s.converge(&["follow", "--until-caught-up", "--json"]).await;
    assert!(drain.status.success(), "drain: {}", said(&drain));
    let report: serde_json::Value = serde_json::from_slice(&drain.stdout).unwrap();
    assert!(report["stats"]["replayed"].as_u64().unwrap() >= 1, "{report}");
    let emails = pg_rows(&s.pg, "SELECT id, email FROM users WHERE id <= 2 ORDER BY id").await;
    assert_eq!(emails, [[Some("1".into()), Some("seed2@x".into())], [Some("2".into()), Some("seed1@x".into())]]);
    let cache = pg_rows(&s.pg, "SELECT k FROM \"query-result-cache\" ORDER BY k").await;
    assert_eq!(cache, [[Some("c".to_string())]]);
    verify_passes(&s).await;
    s.pg.drop_db().await;
}

/// DDL on a followed table stops the follower with the statement and its position; what
/// came before it is applied and stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alter_table_stops_the_follower_naming_the_statement() {
    let s = Setup::copied("follow_ddl", 3).await;
    let follower = s.spawn(&["follow"]);
    s.my.exec("UPDATE app.users SET name = 'before' WHERE id = 1").await;
    for _ in 0..2000 {
        if s.applied().await > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    s.my.exec("ALTER TABLE app.users ADD COLUMN extra int").await;
    let out = wait(follower).await;
    assert!(!out.status.success(), "the follower must stop: {}", said(&out));
    assert!(said(&out).contains("ALTER TABLE app.users ADD COLUMN extra int"), "{}", said(&out));
    let name = pg_rows(&s.pg, "SELECT name FROM users WHERE id = 1").await;
    assert_eq!(name, [[Some("before".to_string())]], "the change before the DDL is applied");
    assert_eq!(s.applied().await, 1);
    s.pg.drop_db().await;
}

/// The source restarts while the follower streams: the follower reconnects and resumes
/// from the position the target stores; after catch-up, verify passes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_restart_mid_stream_is_survived() {
    let mut s = Setup::new("follow_restart").await;
    seed(&s.my, 20).await;
    let run = s.converge(&["run"]).await;
    assert!(run.status.success(), "the copy: {}", said(&run));
    let made = Arc::new(Made::default());
    let mut c = s.my.conn().await;
    let (mut r, mut next_order) = (Lcg(5), 1000i64);
    for _ in 0..300 {
        one_transaction(&mut c, &mut r, &mut next_order, &made).await;
    }
    drop(c);
    let follower = s.spawn(&["follow", "--json"]);
    for _ in 0..2000 {
        if s.applied().await > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    s.my.restart().await;
    let mut c = s.my.conn().await;
    for _ in 0..300 {
        one_transaction(&mut c, &mut r, &mut next_order, &made).await;
    }
    let total = made.changes.load(Ordering::SeqCst) as i64;
    for _ in 0..600 {
        if s.applied().await == total {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    signal(&follower, "INT");
    let out = wait(follower).await;
    assert!(out.status.success(), "the follower survived the restart: {}", said(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(report["reconnects"].as_u64().unwrap() >= 1, "{report}");
    assert_eq!(s.applied().await, total, "every change once, across the restart");
    verify_passes(&s).await;
    s.pg.drop_db().await;
}

/// `converge run --follow`: the copy, then the follower from the copy's own position, in
/// one command; with `--until-caught-up` it ends once drained.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_follow_copies_then_follows_in_one_command() {
    let s = Setup::new("follow_runf").await;
    seed(&s.my, 100).await;
    let stop = Arc::new(AtomicBool::new(false));
    let made = Arc::new(Made::default());
    let writer = tokio::spawn(workload(s.my.url("app"), 9, 50_000, stop.clone(), made.clone()));
    let out = s.converge(&["run", "--follow", "--until-caught-up"]).await;
    stop.store(true, Ordering::SeqCst);
    writer.await.unwrap();
    assert!(out.status.success(), "run --follow: {}", said(&out));
    assert!(said(&out).contains("follow `follow_runf`: caught up"), "{}", said(&out));
    let drain = s.converge(&["follow", "--until-caught-up"]).await;
    assert!(drain.status.success(), "drain: {}", said(&drain));
    verify_passes(&s).await;
    s.pg.drop_db().await;
}

/// An `INSERT … SELECT` leaves MySQL's AUTO_INCREMENT counter past the largest id (InnoDB
/// reserves values in blocks); the binlog carries only the rows, so the follower moves the
/// target's sequence to the counter when it stops, and verify's sequence check passes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sequence_follows_mysqls_counter_past_a_bulk_insert() {
    let s = Setup::copied("follow_seq", 3).await;
    s.my.exec("INSERT INTO app.users (email) SELECT CONCAT('bulk', seq, '@x') FROM seq_1_to_1000").await;
    let mut c = s.my.conn().await;
    let (max, next): (u64, u64) = c
        .query_first(
            "SELECT (SELECT max(id) FROM app.users), AUTO_INCREMENT FROM information_schema.TABLES \
             WHERE TABLE_SCHEMA = 'app' AND TABLE_NAME = 'users'",
        )
        .await
        .unwrap()
        .unwrap();
    assert!(next > max + 1, "the counter is past the largest id ({max}, next {next})");
    let drain = s.converge(&["follow", "--until-caught-up", "--json"]).await;
    assert!(drain.status.success(), "drain: {}", said(&drain));
    let report: serde_json::Value = serde_json::from_slice(&drain.stdout).unwrap();
    assert_eq!(report["stats"]["sequencesMoved"], 1, "{report}");
    let pg_next: i64 =
        s.pg.client.query_one("SELECT nextval(pg_get_serial_sequence('users', 'id'))", &[]).await.unwrap().get(0);
    assert_eq!(pg_next as u64, next, "PostgreSQL hands out MySQL's next id");
    verify_passes(&s).await;
    s.pg.drop_db().await;
}

/// A source that stays gone: the follower retries the stated number of times, then stops
/// with an error that says so (the target keeps the last applied position).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_that_stays_gone_stops_the_follower_after_its_retries() {
    let mut s = Setup::new("follow_gone").await;
    seed(&s.my, 3).await;
    let run = s.converge(&["run"]).await;
    assert!(run.status.success(), "the copy: {}", said(&run));
    s.my.exec("UPDATE app.users SET name = 'applied' WHERE id = 1").await;
    let follower = s.spawn(&["follow", "--retries", "2"]);
    for _ in 0..2000 {
        if s.applied().await > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    s.my.stop();
    let out = wait(follower).await;
    assert!(!out.status.success(), "{}", said(&out));
    assert!(said(&out).contains("gave up after 2 reconnects"), "{}", said(&out));
    assert_eq!(s.applied().await, 1, "the position and count applied before stay");
    s.pg.drop_db().await;
}
