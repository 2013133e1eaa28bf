//! A dump's TIMESTAMP literals are wall times in the zone of the session that wrote
//! them. The test starts its own MariaDB whose zone is +05:30 (the shared server's zone
//! is a global setting, never changed), dumps a table of instants with the real
//! `mariadb-dump` — by default (`SET TIME_ZONE='+00:00'` first), with `--skip-tz-utc`
//! (no SET: local times), and that dump with the `SET TIME_ZONE='+05:30'` it lacks —
//! loads each into PostgreSQL and compares every instant with MariaDB's own
//! `UNIX_TIMESTAMP`.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;
use mysql_async::prelude::*;

fn sh(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(out.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// A server process stopped (its data goes with the temp dir) on drop.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A MariaDB of the test's own, in `dir`, whose session time zone is `zone`.
fn mariadb_in_zone(dir: &Path, zone: &str) -> (Server, u16) {
    let data = dir.join("mariadb");
    std::fs::create_dir_all(&data).unwrap();
    sh(Command::new("mariadb-install-db")
        .args(["--no-defaults", "--user=root", "--auth-root-authentication-method=normal", "--skip-test-db"])
        .arg(format!("--datadir={}", data.display())));
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let server = Server(
        Command::new("mariadbd")
            .args(["--no-defaults", "--user=root", "--bind-address=127.0.0.1", "--skip-log-bin"])
            .arg(format!("--default-time-zone={zone}"))
            .arg(format!("--datadir={}", data.display()))
            .arg(format!("--socket={}", dir.join("mariadb.sock").display()))
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    for _ in 0..600 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return (server, port);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("mariadbd on port {port} did not start");
}

/// Instants around midnight and a date change in both zones, set as Unix times (so
/// the session's zone cannot change them on the way in).
const TABLE: &str = "CREATE TABLE stamp (id int PRIMARY KEY, t6 timestamp(6) NULL, t0 timestamp NULL DEFAULT NULL, \
    dd double(12,3));
INSERT INTO stamp VALUES (1, FROM_UNIXTIME(1711929600.123456), FROM_UNIXTIME(1711929600), 1.5),
    (2, FROM_UNIXTIME(1711909800.5), FROM_UNIXTIME(1711909799), -0.001),
    (3, FROM_UNIXTIME(1), FROM_UNIXTIME(2147483647), NULL), (4, NULL, NULL, 2);";

fn dump(port: u16, file: &Path, flags: &[&str]) {
    sh(Command::new("mariadb-dump")
        .args(["--host=127.0.0.1", &format!("--port={port}"), "--user=root", "--default-character-set=utf8mb4"])
        .args(flags)
        .arg(format!("--result-file={}", file.display()))
        .arg("zoned"));
}

fn pipeline_text(file: &Path, extra: &str) -> String {
    format!(
        "name = \"zone\"\n[source]\nkind = \"mysqldump\"\npath = \"{}\"\n{extra}\n[[sink]]\nkind = \"postgres\"\n\
         url = \"${{PG_URL}}\"\ncreate = \"missing\"\n",
        file.display()
    )
}

/// Every instant in µs since the epoch, as PostgreSQL holds it.
async fn pg_instants(pg: &PgDb) -> Vec<Vec<Option<String>>> {
    pg_rows(
        pg,
        "SELECT id::text, (extract(epoch FROM t6) * 1000000)::bigint::text, extract(epoch FROM t0)::bigint::text \
         FROM stamp ORDER BY id",
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dumps_timestamps_load_as_the_instants_mariadb_holds() {
    let tmp = TempDir::new("dzone");
    let (_server, port) = mariadb_in_zone(tmp.path(), "+05:30");
    let url = format!("mysql://root@127.0.0.1:{port}");
    let pool = mysql_async::Pool::new(url.as_str());
    let mut conn = pool.get_conn().await.unwrap();
    conn.query_drop("CREATE DATABASE zoned").await.unwrap();
    conn.query_drop(format!("USE zoned; {TABLE}")).await.unwrap();
    // MariaDB's own answer: each instant in µs since the epoch.
    let mine: Vec<(i64, Option<i64>, Option<i64>)> = conn
        .query("SELECT id, CAST(UNIX_TIMESTAMP(t6) * 1000000 AS SIGNED), UNIX_TIMESTAMP(t0) FROM stamp ORDER BY id")
        .await
        .unwrap();
    let expected: Vec<Vec<Option<String>>> = mine
        .iter()
        .map(|(id, t6, t0)| vec![Some(id.to_string()), t6.map(|v| v.to_string()), t0.map(|v| v.to_string())])
        .collect();
    assert_eq!(expected[0][1].as_deref(), Some("1711929600123456"), "the server holds what was inserted");
    let shown: Option<String> = conn.query_first("SELECT CAST(t0 AS char) FROM stamp WHERE id = 1").await.unwrap();
    assert_eq!(shown.as_deref(), Some("2024-04-01 05:30:00"), "the session prints +05:30 wall times");
    drop(conn);
    pool.disconnect().await.unwrap();

    let files: PathBuf = tmp.path().join("dumps");
    std::fs::create_dir_all(&files).unwrap();
    let utc = files.join("utc.sql");
    dump(port, &utc, &[]);
    let local = files.join("local.sql");
    dump(port, &local, &["--skip-tz-utc"]);
    let local_text = std::fs::read_to_string(&local).unwrap();
    assert!(!local_text.to_ascii_uppercase().contains("TIME_ZONE"), "a --skip-tz-utc dump sets no zone");
    assert!(local_text.contains("'2024-04-01 05:30:00'"), "it holds +05:30 wall times");
    let said = files.join("said.sql");
    std::fs::write(&said, format!("/*!40103 SET TIME_ZONE='+05:30' */;\n{local_text}")).unwrap();

    for (name, file, extra) in [
        ("default dump", &utc, ""),
        ("dump that says SET TIME_ZONE='+05:30'", &said, ""),
        ("--skip-tz-utc dump, zone named by the pipeline", &local, "time_zone = \"+05:30\""),
    ] {
        let pg = PgDb::create("dzone").await;
        let p = pipeline(&pipeline_text(file, extra), &[("PG_URL", &pg.url)]);
        converge::run::run(&p, &Default::default()).await.unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(pg_instants(&pg).await, expected, "{name}: the instants MariaDB holds");
        pg.drop_db().await;
    }

    // Without SET TIME_ZONE and without the pipeline naming one, the instants are not
    // known: refused before anything is loaded, naming the table, columns and the fix.
    let pg = PgDb::create("dzone").await;
    let p = pipeline(&pipeline_text(&local, ""), &[("PG_URL", &pg.url)]);
    let e = converge::run::run(&p, &Default::default()).await.expect_err("an unknown zone is refused").to_string();
    for part in ["`stamp`", "t6, t0", "time_zone = \"+05:30\"", "--skip-tz-utc"] {
        assert!(e.contains(part), "{part} in: {e}");
    }
    assert_eq!(
        pg_rows(&pg, "SELECT count(*) FROM pg_tables WHERE tablename = 'stamp'").await[0][0].as_deref(),
        Some("0")
    );
    // The plan names the DOUBLE(M,D) column the dump printed rounded, as it does FLOAT.
    let p = pipeline(&pipeline_text(&utc, ""), &[("PG_URL", &pg.url)]);
    let (_, plan, _) = converge::run::plan(&p).await.unwrap();
    let note = plan.notes.iter().find(|n| n.contains("DOUBLE(M,D)")).unwrap_or_else(|| panic!("{:?}", plan.notes));
    assert!(note.contains("stamp.dd") && note.contains("D decimals"), "{note}");
    pg.drop_db().await;
}
