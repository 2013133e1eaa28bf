//! Faults during a run, against the local servers: the MySQL connection killed mid-read,
//! the PostgreSQL backend terminated mid-COPY, the process SIGKILLed mid-load, the export
//! filesystem full, a server unreachable or dropping the connection while the schema is
//! read. Each ends with a clear error, a non-zero exit, the target exactly as before and
//! no manifest claiming a whole export — and a rerun that succeeds.

mod common;

use std::path::Path;
use std::time::Duration;

use common::*;
use mysql_async::prelude::*;

const ROWS: u64 = 200_000;

/// A source with one big table (so reads and COPYs last long enough to be hit) and a
/// small one, and its schema-first target.
async fn setup(prefix: &str) -> (MyDb, PgDb) {
    let my = MyDb::create(prefix).await;
    my.exec(&format!(
        "CREATE TABLE owner (id int PRIMARY KEY, name varchar(40) NOT NULL);\n\
         INSERT INTO owner VALUES (1, 'one'), (2, 'two');\n\
         CREATE TABLE item (id int PRIMARY KEY, ownerId int NOT NULL, body text NOT NULL, at datetime(6) NOT NULL);\n\
         INSERT INTO item SELECT seq, 1 + seq % 2, CONCAT('item ', seq, ' ', REPEAT('x', 200), '\\n😀'), TIMESTAMP'2024-01-01 00:00:00' + INTERVAL seq SECOND FROM seq_1_to_{ROWS}"
    ))
    .await;
    let pg = PgDb::create(prefix).await;
    pg.client
        .batch_execute(
            "CREATE TABLE owner (id int PRIMARY KEY, name varchar(40) NOT NULL);\n\
             CREATE TABLE item (id int PRIMARY KEY, \"ownerId\" int NOT NULL REFERENCES owner(id), body text NOT NULL, at timestamp(6) NOT NULL)",
        )
        .await
        .unwrap();
    (my, pg)
}

fn pipeline_text(out: &Path) -> String {
    format!(
        "name = \"faults\"\n[source]\nkind = \"mysql\"\nurl = \"${{MYSQL_URL}}\"\n[options]\nbatch_rows = 2048\n\
         [[sink]]\nkind = \"csv\"\ndir = \"{}\"\n[[sink]]\nkind = \"postgres\"\nurl = \"${{PG_URL}}\"\n",
        out.display()
    )
}

async fn counts(pg: &PgDb) -> (i64, i64) {
    let r = pg.client.query_one("SELECT (SELECT count(*) FROM owner), (SELECT count(*) FROM item)", &[]).await.unwrap();
    (r.get(0), r.get(1))
}

/// Every run directory under `out`: none may hold a manifest after a failed run.
fn manifests(out: &Path) -> usize {
    std::fs::read_dir(out)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir())) // not the `latest` link
                .filter(|e| e.path().join("migration_manifest.json").exists())
                .count()
        })
        .unwrap_or(0)
}

async fn rerun_succeeds(my: &MyDb, pg: &PgDb, out: &Path) {
    let p = pipeline(&pipeline_text(out), &[("MYSQL_URL", &my.url), ("PG_URL", &pg.url)]);
    let r = converge::run::run(&p, &Default::default()).await.unwrap_or_else(|e| panic!("rerun: {e}"));
    assert!(r.ledger.problems().is_empty());
    assert_eq!(counts(pg).await, (2, ROWS as i64));
    assert_eq!(manifests(out), 1);
}

/// The backend of `db` running a COPY into `item`, once there is one (None if `gone()`
/// says the run ended first).
async fn copying_backend(admin: &tokio_postgres::Client, db: &str, gone: impl Fn() -> bool) -> Option<i32> {
    loop {
        let row = admin
            .query_opt(
                "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND query LIKE 'COPY%item%' LIMIT 1",
                &[&db],
            )
            .await
            .unwrap();
        if let Some(r) = row {
            return Some(r.get(0));
        }
        if gone() {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_connection_killed_mid_read() {
    let (my, pg) = setup("killmy").await;
    let out = TempDir::new("killmy-out");
    let p = pipeline(&pipeline_text(out.path()), &[("MYSQL_URL", &my.url), ("PG_URL", &pg.url)]);
    let run = tokio::spawn(async move { converge::run::run(&p, &Default::default()).await });
    let mut admin = my.conn().await;
    let killed = loop {
        let found: Option<u64> = admin
            .exec_first(
                "SELECT ID FROM information_schema.PROCESSLIST WHERE DB = ? AND ID <> CONNECTION_ID() AND INFO LIKE 'SELECT%item%' LIMIT 1",
                (my.name.as_str(),),
            )
            .await
            .unwrap();
        if let Some(id) = found {
            break id;
        }
        assert!(!run.is_finished(), "the run ended before its read could be hit");
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    admin.query_drop(format!("KILL CONNECTION {killed}")).await.unwrap();
    let err = run.await.unwrap().expect_err("the run fails").to_string();
    assert!(err.contains("MySQL"), "{err}");
    assert_eq!(counts(&pg).await, (0, 0), "the target is as before");
    assert_eq!(manifests(out.path()), 0, "no manifest claims a whole export");
    rerun_succeeds(&my, &pg, out.path()).await;
    pg.drop_db().await;
    my.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_backend_terminated_mid_copy() {
    let (my, pg) = setup("killpg").await;
    let out = TempDir::new("killpg-out");
    let p = pipeline(&pipeline_text(out.path()), &[("MYSQL_URL", &my.url), ("PG_URL", &pg.url)]);
    let run = tokio::spawn(async move { converge::run::run(&p, &Default::default()).await });
    let admin = connect_pg(&format!("{}/postgres", pg_base())).await;
    let pid = copying_backend(&admin, &pg.name, || run.is_finished()).await.expect("the run reached the COPY");
    admin.execute("SELECT pg_terminate_backend($1)", &[&pid]).await.unwrap();
    let err = run.await.unwrap().expect_err("the run fails").to_string();
    assert!(err.contains("PostgreSQL") || err.contains("connection"), "{err}");
    assert_eq!(counts(&pg).await, (0, 0), "the target is as before");
    assert_eq!(manifests(out.path()), 0);
    rerun_succeeds(&my, &pg, out.path()).await;
    pg.drop_db().await;
    my.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn process_killed_mid_load_then_run_again() {
    let (my, pg) = setup("sigkill").await;
    let out = TempDir::new("sigkill-out");
    let file = out.path().join("pipeline.toml");
    let exports = out.path().join("exports");
    std::fs::write(&file, pipeline_text(&exports)).unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_converge"))
        .args(["--quiet", "run"])
        .arg(&file)
        .env("MYSQL_URL", &my.url)
        .env("PG_URL", &pg.url)
        .env("CONVERGE_RUN_LOG", out.path().join("runs.jsonl"))
        .spawn()
        .unwrap();
    let admin = connect_pg(&format!("{}/postgres", pg_base())).await;
    let reached = copying_backend(&admin, &pg.name, || false).await;
    assert!(reached.is_some());
    child.kill().unwrap(); // SIGKILL
    let status = child.wait().unwrap();
    assert!(!status.success());
    // PostgreSQL aborts the dead client's transaction once it notices: wait for the backend to go.
    loop {
        let n: i64 = admin
            .query_one("SELECT count(*) FROM pg_stat_activity WHERE datname = $1", &[&pg.name])
            .await
            .unwrap()
            .get(0);
        // The test's own connection to the database is the one left.
        if n <= 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(counts(&pg).await, (0, 0), "nothing of the killed run is in the target");
    assert_eq!(manifests(&exports), 0, "the killed run's export has no manifest");
    // The run log says it started and never that it completed.
    let log = converge::runlog::read(&out.path().join("runs.jsonl")).unwrap();
    assert_eq!(log.first().map(|e| e.status), Some(converge::runlog::Status::Started));
    assert!(!log.iter().any(|e| e.status == converge::runlog::Status::Completed));
    // Run again: complete.
    let again = std::process::Command::new(env!("CARGO_BIN_EXE_converge"))
        .args(["--quiet", "run"])
        .arg(&file)
        .env("MYSQL_URL", &my.url)
        .env("PG_URL", &pg.url)
        .env("CONVERGE_RUN_LOG", out.path().join("runs.jsonl"))
        .output()
        .unwrap();
    assert!(again.status.success(), "{}", String::from_utf8_lossy(&again.stderr));
    assert_eq!(counts(&pg).await, (2, ROWS as i64));
    assert_eq!(manifests(&exports), 1);
    pg.drop_db().await;
    my.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_filesystem_full() {
    let my = MyDb::create("diskfull").await;
    my.exec(
        "CREATE TABLE t (id int PRIMARY KEY, body text NOT NULL);\n\
         INSERT INTO t SELECT seq, REPEAT('y', 500) FROM seq_1_to_20000",
    )
    .await;
    let mnt = TempDir::new("diskfull-mnt");
    let status = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=2m", "tmpfs"])
        .arg(mnt.path())
        .status()
        .expect("mount(8) (the tests run as root on the CI machine)");
    assert!(status.success(), "mounting a 2 MiB tmpfs needs root");
    let text = export_pipeline("");
    let p = pipeline(&text, &[("MYSQL_URL", &my.url), ("OUT", &mnt.path().to_string_lossy())]);
    let err = converge::run::run(&p, &Default::default()).await.expect_err("a full disk fails the run");
    let shown = err.to_string();
    let _ = std::process::Command::new("umount").arg(mnt.path()).status();
    assert!(shown.contains("No space left on device"), "{shown}");
    assert_eq!(manifests(mnt.path()), 0, "no manifest claims the export is whole");
    // With room, the same pipeline completes.
    let roomy = TempDir::new("diskfull-roomy");
    let p = pipeline(&text, &[("MYSQL_URL", &my.url), ("OUT", &roomy.path().to_string_lossy())]);
    converge::run::run(&p, &Default::default()).await.unwrap();
    assert_eq!(manifests(roomy.path()), 1);
    my.drop_db().await;
}

/// A TCP proxy in front of MariaDB that cuts the first `drops` connections the moment
/// the client asks information_schema anything (the schema read), and forwards the rest.
async fn flaky_proxy(drops: usize) -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let dropped = std::sync::Arc::new(AtomicUsize::new(0));
    let counter = dropped.clone();
    tokio::spawn(async move {
        loop {
            let Ok((client, _)) = listener.accept().await else { return };
            let counter = counter.clone();
            tokio::spawn(async move {
                let server = tokio::net::TcpStream::connect("127.0.0.1:3306").await.unwrap();
                let (mut cr, mut cw) = client.into_split();
                let (mut sr, mut sw) = server.into_split();
                let down = tokio::spawn(async move {
                    let _ = tokio::io::copy(&mut sr, &mut cw).await;
                });
                let mut buf = vec![0u8; 64 * 1024];
                loop {
                    let n = match cr.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    let asks_schema = buf[..n].windows(18).any(|w| w.eq_ignore_ascii_case(b"information_schema"));
                    if asks_schema && counter.load(Ordering::SeqCst) < drops {
                        counter.fetch_add(1, Ordering::SeqCst);
                        break; // drop both directions
                    }
                    if sw.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
                down.abort();
            });
        }
    });
    (port, dropped)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_refuses_is_reported_at_once_not_retried() {
    // MariaDB answers "unknown database": the run stops on that first answer.
    let out = TempDir::new("refused");
    let missing = format!("cvg_missing_{}", std::process::id());
    let url = format!("mysql://root@127.0.0.1:3306/{missing}");
    let p = pipeline(&export_pipeline(""), &[("MYSQL_URL", &url), ("OUT", &out.path().to_string_lossy())]);
    let err = converge::run::run(&p, &Default::default()).await.expect_err("no such database").to_string();
    assert!(err.contains("Unknown database") && err.contains(&missing), "{err}");
    assert!(!err.contains("attempts"), "a refusal is not retried: {err}");
    // PostgreSQL answers "database does not exist": the same.
    let my = MyDb::create("refusedpg").await;
    my.exec("CREATE TABLE t (id int PRIMARY KEY)").await;
    let text_pg = "name = \"x\"\n[source]\nkind = \"mysql\"\nurl = \"${MYSQL_URL}\"\n[[sink]]\nkind = \"postgres\"\nurl = \"${PG_URL}\"\n";
    let pg_url = format!("postgres://postgres:s3cret-pw@127.0.0.1:5432/{missing}");
    let p = pipeline(text_pg, &[("MYSQL_URL", &my.url), ("PG_URL", &pg_url)]);
    let err = converge::run::run(&p, &Default::default()).await.expect_err("no such database").to_string();
    assert!(err.contains("does not exist") && err.contains(&missing), "{err}");
    assert!(!err.contains("attempts") && !err.contains("s3cret-pw"), "{err}");
    my.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_or_dropping_servers_are_retried_then_reported() {
    // Nothing listens on port 1: retried with backoff, then reported, with no password shown.
    let text = export_pipeline("");
    let out = TempDir::new("unreachable");
    let p = pipeline(
        &text,
        &[("MYSQL_URL", "mysql://root:s3cret-pw@127.0.0.1:1/nothing"), ("OUT", &out.path().to_string_lossy())],
    );
    let started = std::time::Instant::now();
    let err = converge::run::run(&p, &Default::default()).await.err().unwrap().to_string();
    assert!(err.contains("gave up after 3 attempts") && err.contains("connecting"), "{err}");
    assert!(!err.contains("s3cret-pw"), "{err}");
    assert!(started.elapsed() >= Duration::from_millis(600), "backoff between attempts");
    // The same for an unreachable PostgreSQL target: retried, then reported without the password.
    let my = MyDb::create("unreachpg").await;
    my.exec("CREATE TABLE t (id int PRIMARY KEY)").await;
    let text_pg = "name = \"x\"\n[source]\nkind = \"mysql\"\nurl = \"${MYSQL_URL}\"\n[[sink]]\nkind = \"postgres\"\nurl = \"${PG_URL}\"\n";
    let p =
        pipeline(text_pg, &[("MYSQL_URL", &my.url), ("PG_URL", "postgres://postgres:s3cret-pw@127.0.0.1:1/nothing")]);
    let started = std::time::Instant::now();
    let err = converge::run::run(&p, &Default::default()).await.expect_err("unreachable").to_string();
    assert!(err.contains("connecting to postgres://postgres:***@127.0.0.1:1/nothing (3 attempts)"), "{err}");
    assert!(!err.contains("s3cret-pw"), "{err}");
    assert!(started.elapsed() >= Duration::from_millis(600), "backoff between attempts");
    my.drop_db().await;

    // A server that drops the connection while the schema is read, once: retried, the run completes.
    let my = MyDb::create("flaky").await;
    my.exec("CREATE TABLE t (id int PRIMARY KEY, v varchar(10));\nINSERT INTO t VALUES (1, 'a'), (2, NULL)").await;
    let (port, dropped) = flaky_proxy(1).await;
    let url = format!("mysql://root@127.0.0.1:{port}/{}", my.name);
    let p = pipeline(&text, &[("MYSQL_URL", &url), ("OUT", &out.path().to_string_lossy())]);
    let r = converge::run::run(&p, &Default::default()).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(dropped.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert_eq!(r.ledger.rows[0].read, Some(2));
    // One that always drops it: a bounded number of attempts, then the error.
    let (port, dropped) = flaky_proxy(usize::MAX).await;
    let url = format!("mysql://root@127.0.0.1:{port}/{}", my.name);
    let p = pipeline(&text, &[("MYSQL_URL", &url), ("OUT", &out.path().to_string_lossy())]);
    let err = converge::run::run(&p, &Default::default()).await.err().unwrap().to_string();
    assert!(err.contains("gave up after 3 attempts"), "{err}");
    assert_eq!(dropped.load(std::sync::atomic::Ordering::SeqCst), 3);
    my.drop_db().await;
}
