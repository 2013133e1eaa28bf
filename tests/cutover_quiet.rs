//! "No writes after it" (docs/architecture.md, "Proving while live"): after the drain,
//! the cut-over reads the server's position again; when it moved, the server's own
//! listing of what was logged says whether a followed table was written. Writes to
//! another database of the same server do not stop a cut-over; a write to a followed
//! table does, by name.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::follow::*;
use common::own_mariadb::OwnMariaDb;
use converge::manifest::BinlogPosition;
use converge::source::mysql::binlog::listing::logged_between;
use converge::source::mysql::binlog::stream::server_position;
use mysql_async::prelude::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_servers_listing_names_the_followed_tables_written_between_two_positions() {
    let my = OwnMariaDb::with_binlog(&[]).await;
    my.exec(
        "CREATE DATABASE app; CREATE DATABASE other;\n\
         CREATE TABLE app.`user` (id int PRIMARY KEY); CREATE TABLE app.audit (id int PRIMARY KEY);\n\
         CREATE TABLE other.`user` (id int PRIMARY KEY)",
    )
    .await;
    let url = my.url("app");
    let from = server_position(&url).await.unwrap();
    my.exec("INSERT INTO other.`user` VALUES (1); INSERT INTO app.audit VALUES (1)").await;
    // Across a rotation: the next file is listed from its start.
    my.exec("FLUSH BINARY LOGS").await;
    my.exec("INSERT INTO app.`user` VALUES (1)").await;
    let to = server_position(&url).await.unwrap();
    assert_ne!(from.file, to.file, "the log rotated");

    let mut c = my.conn().await;
    let tables = vec!["user".to_string()];
    let logged = logged_between(&mut c, &from, &to, "app", &tables).await.unwrap();
    assert_eq!(logged.followed.len(), 1, "{logged:?}");
    assert!(logged.followed[0].starts_with(&to.file) && logged.followed[0].ends_with("(rows of `user`)"), "{logged:?}");
    assert_eq!(logged.elsewhere, 2, "other.user and app.audit are not followed: {logged:?}");
    // Nothing between a position and itself; before the followed write, only elsewhere.
    let none = logged_between(&mut c, &to, &to, "app", &tables).await.unwrap();
    assert_eq!((none.events, none.followed.len()), (0, 0));
    let rotated = BinlogPosition { file: to.file.clone(), position: 4, gtid: None };
    let before = logged_between(&mut c, &from, &rotated, "app", &tables).await.unwrap();
    assert!(before.followed.is_empty() && before.elsewhere == 2, "{before:?}");
    // A statement naming the followed database counts, whatever table it names.
    my.exec("ALTER TABLE app.audit ADD COLUMN n int").await;
    let after_ddl = server_position(&url).await.unwrap();
    let ddl = logged_between(&mut c, &to, &after_ddl, "app", &tables).await.unwrap();
    assert!(ddl.followed.iter().any(|f| f.contains("a statement in `app`")), "{ddl:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cutover_passes_while_another_database_on_the_server_is_written() {
    let s = Setup::new("cut_quiet").await;
    seed(&s.my, 10).await;
    s.my.exec("CREATE DATABASE monitor; CREATE TABLE monitor.beat (id int PRIMARY KEY, at datetime(6))").await;
    let run = s.converge(&["run"]).await;
    assert!(run.status.success(), "the copy: {}", said(&run));
    // A heartbeat job in another database writes throughout the cut-over.
    let stop = Arc::new(AtomicBool::new(false));
    let beats = Arc::new(AtomicU64::new(0));
    let beat = {
        let (url, stop, beats) = (s.my.url("monitor"), stop.clone(), beats.clone());
        tokio::spawn(async move {
            let mut c = mysql_async::Conn::from_url(url).await.unwrap();
            while !stop.load(Ordering::SeqCst) {
                c.query_drop("REPLACE INTO beat VALUES (1, NOW(6))").await.unwrap();
                beats.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    let cut = s.converge(&["--json", "cutover"]).await;
    stop.store(true, Ordering::SeqCst);
    beat.await.unwrap();
    let c: serde_json::Value = serde_json::from_slice(&cut.stdout).unwrap_or_else(|e| panic!("{e}: {}", said(&cut)));
    assert!(cut.status.success(), "cutover: {}", said(&cut));
    assert!(beats.load(Ordering::SeqCst) >= 15, "the heartbeat wrote during the 1.5 s wait");
    let quiet = c["steps"].as_array().unwrap().iter().find(|s| s["name"] == "no writes after it").unwrap();
    let detail = quiet["detail"].as_str().unwrap();
    assert!(detail.contains("moved on") && detail.contains("none of a followed table"), "{detail}");
    s.pg.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cutover_refuses_while_a_followed_table_is_written_and_names_it() {
    let s = Setup::copied("cut_busy", 10).await;
    // The application was not stopped: it keeps writing one followed table.
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (url, stop) = (s.my.url("app"), stop.clone());
        tokio::spawn(async move {
            let mut c = mysql_async::Conn::from_url(url).await.unwrap();
            while !stop.load(Ordering::SeqCst) {
                c.query_drop("UPDATE `query-result-cache` SET v = NOW(6) WHERE k = 'k'").await.unwrap();
                c.query_drop("INSERT INTO `query-result-cache` VALUES ('k', 'v') ON DUPLICATE KEY UPDATE v = NOW(6)")
                    .await
                    .unwrap();
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };
    let cut = s.converge(&["--json", "cutover"]).await;
    stop.store(true, Ordering::SeqCst);
    writer.await.unwrap();
    let c: serde_json::Value = serde_json::from_slice(&cut.stdout).unwrap_or_else(|e| panic!("{e}: {}", said(&cut)));
    assert!(!cut.status.success(), "a written followed table stops the cut-over: {c}");
    let failures = c["failures"].to_string();
    assert!(
        failures.contains("rows of `query-result-cache`") && failures.contains("nothing was cut over"),
        "{failures}"
    );
    s.pg.drop_db().await;
}
