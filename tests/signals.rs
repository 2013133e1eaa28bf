//! Signals against a real run (the `converge` binary, the local servers): a SIGINT that
//! comes once the commit was sent is reported with what the commit did, and a run
//! SIGKILLed mid-load is marked `abandoned` in the run log by the next converge. The
//! run is held exactly where the test wants it by a PostgreSQL advisory lock the test
//! holds, which the target's own trigger waits for: no sleeps decide anything.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command, Stdio};

use common::*;

/// A target table whose trigger waits for advisory lock `key`: at the COPY (`deferred`
/// false) or at the COMMIT (a deferred constraint trigger).
async fn waiting_target(pg: &PgDb, key: i64, deferred: bool) {
    let trigger = if deferred {
        "CREATE CONSTRAINT TRIGGER t_wait AFTER INSERT ON t DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION wait_for_test()"
    } else {
        "CREATE TRIGGER t_wait BEFORE INSERT ON t FOR EACH ROW EXECUTE FUNCTION wait_for_test()"
    };
    pg.client
        .batch_execute(&format!(
            "CREATE TABLE t (id int PRIMARY KEY, note text NOT NULL);\n\
             CREATE FUNCTION wait_for_test() RETURNS trigger LANGUAGE plpgsql AS $$ \
             BEGIN PERFORM pg_advisory_xact_lock({key}); RETURN NEW; END $$;\n{trigger}"
        ))
        .await
        .unwrap();
}

async fn source() -> MyDb {
    let my = MyDb::create("sigs").await;
    my.exec(
        "CREATE TABLE t (id int PRIMARY KEY, note text NOT NULL); INSERT INTO t VALUES (1, 'a'), (2, 'b'), (3, 'c')",
    )
    .await;
    my
}

fn pipeline_file(dir: &Path, name: &str, my: &MyDb, pg: &PgDb, extra: &str) -> std::path::PathBuf {
    let file = dir.join("p.toml");
    std::fs::write(
        &file,
        format!(
            "name = \"{name}\"\n[source]\nkind = \"mysql\"\nurl = \"{}\"\n[[sink]]\nkind = \"postgres\"\nurl = \"{}\"\n{extra}",
            my.url, pg.url
        ),
    )
    .unwrap();
    file
}

/// Waits (up to 60 s) until a session of this database waits for the advisory lock
/// while running `query`.
async fn wait_for_lock_wait(pg: &PgDb, query: &str) {
    let sql = format!(
        "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
         WHERE l.locktype = 'advisory' AND NOT l.granted AND a.datname = current_database() AND a.query LIKE '{query}%'"
    );
    for _ in 0..600 {
        if pg_rows(pg, &sql).await[0][0].as_deref() != Some("0") {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the run never waited at `{query}`");
}

fn log_entries(log: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(log).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_after_the_commit_was_sent_reports_that_the_commit_completed() {
    let my = source().await;
    let pg = PgDb::create("sigcommit").await;
    let key: i64 = rand_key();
    waiting_target(&pg, key, true).await;
    let holder = connect_pg(&pg.url).await;
    holder.batch_execute(&format!("SELECT pg_advisory_lock({key})")).await.unwrap();
    let dir = TempDir::new("sigcommit");
    // Indexes rebuilt after the COPY would meet the deferred trigger's pending events
    // (PostgreSQL refuses ALTER TABLE then): built as the rows arrive instead.
    let file = pipeline_file(dir.path(), "sigcommit", &my, &pg, "defer_indexes = false\n");
    let log = dir.path().join("runs.jsonl");
    let mut child = Command::new(env!("CARGO_BIN_EXE_converge"))
        .args(["--quiet", "run"])
        .arg(&file)
        .env("CONVERGE_RUN_LOG", &log)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The COMMIT is sent and waits for the deferred trigger, which waits for the test.
    wait_for_lock_wait(&pg, "COMMIT").await;
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    // Read what converge says of the signal before letting the commit go on.
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut said = String::new();
    let heard = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        while stderr.read_line(&mut line).unwrap() > 0 {
            said.push_str(&line);
            if line.contains("SIGINT received") {
                break;
            }
            line.clear();
        }
        (stderr, said)
    });
    let (mut stderr, mut said) = heard.await.unwrap();
    holder.batch_execute(&format!("SELECT pg_advisory_unlock({key})")).await.unwrap();
    stderr.read_to_string(&mut said).unwrap();
    let status = child.wait().unwrap();
    assert!(!said.contains("rolling back"), "the commit was already sent: {said}");
    assert!(said.contains("SIGINT received after the commit was sent: the commit completed"), "{said}");
    assert!(status.success(), "the run completed: {said}");
    assert_eq!(pg_rows(&pg, "SELECT count(*) FROM t").await[0][0].as_deref(), Some("3"), "committed");
    let last = log_entries(&log).pop().unwrap();
    assert_eq!(last["status"], "completed", "{last}");
    assert!(last["message"].as_str().unwrap().contains("the commit completed"), "{last}");
    pg.drop_db().await;
    my.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_killed_mid_load_is_marked_abandoned_by_the_next_converge() {
    let my = source().await;
    let pg = PgDb::create("sigkill9").await;
    let key: i64 = rand_key();
    waiting_target(&pg, key, false).await;
    let holder = connect_pg(&pg.url).await;
    holder.batch_execute(&format!("SELECT pg_advisory_lock({key})")).await.unwrap();
    let dir = TempDir::new("sigkill9");
    let file = pipeline_file(dir.path(), "sigkill9", &my, &pg, "");
    let log = dir.path().join("runs.jsonl");
    let mut child = Command::new(env!("CARGO_BIN_EXE_converge"))
        .args(["--quiet", "run"])
        .arg(&file)
        .env("CONVERGE_RUN_LOG", &log)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_lock_wait(&pg, "COPY").await;
    child.kill().unwrap(); // SIGKILL: no last word.
    child.wait().unwrap();
    holder.batch_execute(&format!("SELECT pg_advisory_unlock({key})")).await.unwrap();
    let entries = log_entries(&log);
    let id = entries[0]["migrationId"].as_str().unwrap().to_string();
    assert!(entries.iter().all(|e| e["status"] == "started" || e["status"] == "in_progress"), "{entries:?}");

    // The next converge that reads the log marks the run, once.
    let operator = |message: &str| {
        Command::new(env!("CARGO_BIN_EXE_converge"))
            .args(["log", "in_progress", message])
            .env("CONVERGE_RUN_LOG", &log)
            .output()
            .unwrap()
    };
    let out = operator("looked after the kill");
    assert!(out.status.success(), "{out:?}");
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains(&format!("run {id} marked abandoned")), "{said}");
    assert!(operator("and again").status.success());
    let entries = log_entries(&log);
    let abandoned: Vec<&serde_json::Value> = entries.iter().filter(|e| e["status"] == "abandoned").collect();
    assert_eq!(abandoned.len(), 1, "{entries:?}");
    assert_eq!(abandoned[0]["migrationId"], id.as_str());
    let pid = entries[0]["pid"].as_u64().unwrap();
    assert!(abandoned[0]["message"].as_str().unwrap().contains(&format!("pid {pid}")), "{:?}", abandoned[0]);
    assert_eq!(entries[entries.len() - 2]["message"], "looked after the kill");
    assert_eq!(pg_rows(&pg, "SELECT count(*) FROM t").await[0][0].as_deref(), Some("0"), "nothing committed");
    pg.drop_db().await;
    my.drop_db().await;
}

/// An advisory lock key no other test uses.
fn rand_key() -> i64 {
    (uuid::Uuid::new_v4().as_u128() as i64).abs()
}

/// Per-table mode: a SIGINT while a table's own COMMIT waits does not undo that COMMIT,
/// and the run's message says so (it listed the table as rolled back before: the run's
/// bookkeeping learns of a commit only when it returns).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_during_a_tables_own_commit_reports_the_table_committed() {
    let my = source().await;
    let pg = PgDb::create("sigpertable").await;
    let key: i64 = rand_key();
    waiting_target(&pg, key, true).await;
    let holder = connect_pg(&pg.url).await;
    holder.batch_execute(&format!("SELECT pg_advisory_lock({key})")).await.unwrap();
    let dir = TempDir::new("sigpertable");
    let file = pipeline_file(dir.path(), "sigpertable", &my, &pg, "transaction = \"table\"\ndefer_indexes = false\n");
    let log = dir.path().join("runs.jsonl");
    let mut child = Command::new(env!("CARGO_BIN_EXE_converge"))
        .args(["--quiet", "run"])
        .arg(&file)
        .env("CONVERGE_RUN_LOG", &log)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The table's COMMIT is sent and waits for the deferred trigger, which waits for the test.
    wait_for_lock_wait(&pg, "COMMIT").await;
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    // Let the COMMIT go once converge has heard the signal.
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let heard = tokio::task::spawn_blocking(move || {
        let (mut said, mut line) = (String::new(), String::new());
        while stderr.read_line(&mut line).unwrap() > 0 {
            said.push_str(&line);
            if line.contains("SIGINT received") {
                break;
            }
            line.clear();
        }
        (stderr, said)
    });
    let (mut stderr, mut said) = heard.await.unwrap();
    holder.batch_execute(&format!("SELECT pg_advisory_unlock({key})")).await.unwrap();
    stderr.read_to_string(&mut said).unwrap();
    let status = child.wait().unwrap();
    assert!(!status.success(), "the run was interrupted: {said}");
    assert_eq!(pg_rows(&pg, "SELECT count(*) FROM t").await[0][0].as_deref(), Some("3"), "the COMMIT completed");
    assert!(said.contains("rolled back the load of 0 tables"), "{said}");
    assert!(said.contains("committed, each in its own transaction (per-table mode): t"), "{said}");
    let last = log_entries(&log).pop().unwrap();
    assert_eq!(last["status"], "failed", "{last}");
    assert!(last["message"].as_str().unwrap().contains("(per-table mode): t"), "{last}");
    pg.drop_db().await;
    my.drop_db().await;
}
