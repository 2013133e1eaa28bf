//! The snapshot's binlog position, taken with it: a `[follow]` run from a MariaDB of the
//! test's own (binary log on, ROW) records one position in the manifest, the run log and
//! the target (`converge.follow_state`), all equal; rows written after the snapshot are
//! not in the target, and their events are exactly the ones the server lists after that
//! position.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::own_mariadb::OwnMariaDb;
use common::*;
use mysql_async::prelude::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_followed_run_records_the_snapshots_own_binlog_position_everywhere() {
    let my = OwnMariaDb::with_binlog(&[]).await;
    my.exec(
        "CREATE DATABASE app;\nCREATE TABLE app.t (id int PRIMARY KEY, v varchar(10));\n\
         INSERT INTO app.t VALUES (1, 'a'), (2, 'b'), (3, 'c')",
    )
    .await;
    let mut c = my.conn().await;
    let gtid_before: String = c.query_first("SELECT @@gtid_binlog_pos").await.unwrap().unwrap();
    let pg = PgDb::create("follow_pos").await;
    pg.client.batch_execute("CREATE TABLE t (id int PRIMARY KEY, v varchar(10))").await.unwrap();
    let dir = TempDir::new("follow-pos");
    let file = dir.path().join("p.toml");
    let out = dir.path().join("out");
    std::fs::write(
        &file,
        "name = \"pos\"\n[source]\nkind = \"mysql\"\nurl = \"${MYSQL_URL}\"\n[follow]\n\
         [[sink]]\nkind = \"csv\"\ndir = \"${OUT}\"\n[[sink]]\nkind = \"postgres\"\nurl = \"${PG_URL}\"\n",
    )
    .unwrap();
    let log = dir.path().join("runs.jsonl");

    // The target table is locked: the run opens its snapshot, then waits on the lock.
    let (locker, conn) = tokio_postgres::connect(&pg.url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(conn);
    locker.batch_execute("BEGIN; LOCK TABLE t IN ACCESS EXCLUSIVE MODE").await.unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_converge"))
        .arg("run")
        .arg(&file)
        .env("MYSQL_URL", my.url("app"))
        .env("PG_URL", &pg.url)
        .env("OUT", &out)
        .env("CONVERGE_RUN_LOG", &log)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let waiting = "SELECT count(*) FROM pg_stat_activity a JOIN pg_locks l ON l.pid = a.pid AND NOT l.granted \
                   WHERE a.application_name LIKE 'converge/%' AND a.datname = current_database()";
    let mut waited = false;
    for _ in 0..1200 {
        if locker.query_one(waiting, &[]).await.unwrap().get::<_, i64>(0) > 0 {
            waited = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(waited, "the run never reached the target");
    // Written after the snapshot: two statements on `t`.
    c.query_drop("INSERT INTO app.t VALUES (4, 'd'), (5, 'e')").await.unwrap();
    c.query_drop("UPDATE app.t SET v = 'changed' WHERE id = 1").await.unwrap();
    locker.batch_execute("ROLLBACK").await.unwrap();
    let done = tokio::task::spawn_blocking(move || child.wait_with_output()).await.unwrap().unwrap();
    let said = format!("{}{}", String::from_utf8_lossy(&done.stdout), String::from_utf8_lossy(&done.stderr));
    assert!(done.status.success(), "{said}");

    // The target holds the snapshot, not the later writes.
    let rows: Vec<(i32, String)> = pg
        .client
        .query("SELECT id, v::text FROM t ORDER BY id", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(rows, [(1, "a".to_string()), (2, "b".into()), (3, "c".into())]);

    // The same position in the target, the manifest and the run log.
    let r = pg
        .client
        .query_one("SELECT binlog_file, binlog_position, gtid FROM converge.follow_state WHERE pipeline = 'pos'", &[])
        .await
        .unwrap();
    let (file, position, gtid): (String, i64, Option<String>) = (r.get(0), r.get(1), r.get(2));
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("latest").join("migration_manifest.json")).unwrap())
            .unwrap();
    let expected = serde_json::json!({"file": file, "position": position, "gtid": gtid});
    assert_eq!(manifest["binlogPosition"], expected);
    let entries: Vec<serde_json::Value> =
        std::fs::read_to_string(&log).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let completed = entries.iter().find(|e| e["status"] == "completed").unwrap_or_else(|| panic!("{entries:?}"));
    assert_eq!(completed["binlogPosition"], expected, "{completed}");
    assert!(said.contains(&format!("{file}:{position}")), "the run prints it: {said}");
    // The GTID is the snapshot's: the one before the later writes.
    assert_eq!(gtid.as_deref(), Some(gtid_before.as_str()));

    // After the position, the server lists exactly the two later statements on `t`.
    let events: Vec<mysql_async::Row> =
        c.query(format!("SHOW BINLOG EVENTS IN '{file}' FROM {position}")).await.unwrap();
    let of_t: Vec<String> = events
        .iter()
        .filter_map(|e| {
            let kind: String = e.get("Event_type")?;
            let info: String = e.get("Info")?;
            (kind == "Table_map" && info.ends_with("(app.t)")).then_some(info)
        })
        .collect();
    let all: Vec<(Option<String>, Option<String>)> =
        events.iter().map(|e| (e.get("Event_type"), e.get("Info"))).collect();
    assert_eq!(of_t.len(), 2, "the two later statements, not the rows the snapshot holds: {all:?}");
    let kinds: Vec<String> = events.iter().filter_map(|e| e.get::<String, _>("Event_type")).collect();
    assert!(kinds.iter().any(|k| k.starts_with("Write_rows")) && kinds.iter().any(|k| k.starts_with("Update_rows")));
    pg.drop_db().await;
}
