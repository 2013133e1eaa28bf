//! `[follow]`'s preflight against servers of the test's own (the shared MariaDB's
//! settings are never changed): a server whose binlog cannot carry every change is
//! refused by `converge plan` and `converge run` — before anything moves — naming each
//! setting and its fix; tables and users the follower could not serve are refused by
//! name; a server set up right passes.

mod common;

use std::process::{Command, Output};

use common::own_mariadb::OwnMariaDb;
use common::*;

/// A pipeline from `db` on `server` into a fresh PostgreSQL database, with `[follow]`.
fn text(follow: &str, extra: &str) -> String {
    format!(
        "name = \"follow\"\n[source]\nkind = \"mysql\"\nurl = \"${{MYSQL_URL}}\"\n{extra}\n[follow]\n{follow}\n\
         [[sink]]\nkind = \"postgres\"\nurl = \"${{PG_URL}}\"\ncreate = \"missing\"\n"
    )
}

/// `converge plan` of the pipeline text, with the URLs in the environment.
fn plan(dir: &TempDir, text: &str, my_url: &str, pg_url: &str) -> Output {
    let file = dir.path().join("follow.toml");
    std::fs::write(&file, text).unwrap();
    Command::new(env!("CARGO_BIN_EXE_converge"))
        .arg("plan")
        .arg(&file)
        .env("MYSQL_URL", my_url)
        .env("PG_URL", pg_url)
        .output()
        .unwrap()
}

fn out(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// The tables of `pg` in its public schema.
async fn pg_tables(pg: &PgDb) -> Vec<String> {
    let rows = pg.client.query("SELECT tablename::text FROM pg_tables WHERE schemaname = 'public'", &[]).await.unwrap();
    rows.iter().map(|r| r.get(0)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_binlog_that_cannot_carry_every_change_is_refused_naming_the_setting_and_its_fix() {
    let my =
        OwnMariaDb::with_binlog(&["--binlog-format=MIXED", "--binlog-row-image=MINIMAL", "--log-bin-compress"]).await;
    my.exec("CREATE DATABASE app;\nCREATE TABLE app.t (id int PRIMARY KEY, v varchar(10));\nINSERT INTO app.t VALUES (1, 'a')")
        .await;
    let pg = PgDb::create("follow_pre").await;
    let dir = TempDir::new("follow-pre");
    let t = text("", "");

    let o = plan(&dir, &t, &my.url("app"), &pg.url);
    let said = out(&o);
    assert!(!o.status.success(), "{said}");
    for (setting, fix) in [
        ("binlog_format", "binlog_format = ROW"),
        ("binlog_row_image", "binlog_row_image = FULL"),
        ("log_bin_compress", "log_bin_compress = OFF"),
    ] {
        assert!(said.contains(&format!("REFUSED {setting}: ")) && said.contains(fix), "{setting} / {fix}: {said}");
    }
    assert!(!said.contains("REFUSED log_bin:"), "the binlog is on: {said}");

    // `run` refuses before anything moves: the target stays without the table.
    let vars = [("MYSQL_URL", my.url("app")), ("PG_URL", pg.url.clone())];
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let e = converge::run::run(&pipeline(&t, &vars), &Default::default()).await.expect_err("refused").to_string();
    assert!(e.contains("binlog_format") && e.contains("nothing was moved"), "{e}");
    assert!(pg_tables(&pg).await.is_empty(), "nothing was created or loaded");

    // Set right, the same server passes and the run loads.
    my.exec(
        "SET GLOBAL binlog_format = 'ROW';\nSET GLOBAL binlog_row_image = 'FULL';\nSET GLOBAL log_bin_compress = OFF;\n\
         SET GLOBAL binlog_expire_logs_seconds = 3600",
    )
    .await;
    let o = plan(&dir, &t, &my.url("app"), &pg.url);
    let said = out(&o);
    assert!(o.status.success() && !said.contains("REFUSED"), "{said}");
    assert!(said.contains("binlog position binlog.0"), "plan shows the snapshot's position: {said}");
    // A binlog kept one hour, for a copy expected to take 24: warned, not refused.
    assert!(said.contains("WARNING binlog_expire_logs_seconds: is 3600") && said.contains("1.0 hours"), "{said}");
    converge::run::run(&pipeline(&t, &vars), &Default::default()).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(pg_tables(&pg).await, ["t"]);
    pg.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_without_a_binlog_is_refused() {
    let my = OwnMariaDb::start(&["--skip-log-bin", "--binlog-format=ROW"]).await;
    my.exec("CREATE DATABASE app;\nCREATE TABLE app.t (id int PRIMARY KEY)").await;
    let pg = PgDb::create("follow_nobin").await;
    let dir = TempDir::new("follow-nobin");
    let o = plan(&dir, &text("", ""), &my.url("app"), &pg.url);
    let said = out(&o);
    assert!(!o.status.success(), "{said}");
    assert!(said.contains("REFUSED log_bin: ") && said.contains("--log-bin"), "{said}");
    assert!(said.contains("binary log off: no binlog position"), "plan says no position is taken: {said}");
    pg.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tables_users_and_server_ids_the_follower_cannot_serve_are_refused_by_name() {
    let my = OwnMariaDb::with_binlog(&[]).await;
    my.exec(
        "CREATE DATABASE app;\n\
         CREATE TABLE app.keyed (id int PRIMARY KEY);\n\
         CREATE TABLE app.unique_not_null (code varchar(10) NOT NULL, UNIQUE KEY (code));\n\
         CREATE TABLE app.no_key (a int, b int);\n\
         CREATE TABLE app.unique_nullable (code varchar(10) NULL, UNIQUE KEY nullable_code (code));\n\
         CREATE TABLE app.child (id int PRIMARY KEY, keyed_id int, \
           CONSTRAINT child_keyed FOREIGN KEY (keyed_id) REFERENCES app.keyed (id) ON DELETE CASCADE);\n\
         CREATE TABLE app.summed (id int PRIMARY KEY, n int);\n\
         CREATE USER 'plain'@'%';\n\
         GRANT SELECT ON app.* TO 'plain'@'%';\n\
         GRANT BINLOG MONITOR ON *.* TO 'plain'@'%'",
    )
    .await;
    let pg = PgDb::create("follow_names").await;
    let dir = TempDir::new("follow-names");
    let transform = "[[transform]]\ntable = \"summed\"\nsql = \"SELECT id, n FROM input WHERE n > 0\"\n";
    let o = plan(&dir, &text("", transform), &my.url("app"), &pg.url);
    let said = out(&o);
    assert!(!o.status.success(), "{said}");
    let refused: Vec<&str> = said.lines().filter(|l| l.trim_start().starts_with("REFUSED")).collect();
    for (who, what) in [
        ("table `no_key`", "primary key"),
        ("table `unique_nullable`", "primary key"),
        ("table `child`", "`child_keyed` (ON DELETE CASCADE)"),
        ("table `summed`", "[[transform]]"),
    ] {
        assert!(refused.iter().any(|l| l.contains(who) && l.contains(what)), "{who} / {what}: {said}");
    }
    for fine in ["`keyed`", "`unique_not_null`"] {
        assert!(!refused.iter().any(|l| l.contains(fine)), "{fine} can be followed: {said}");
    }
    assert_eq!(refused.len(), 4, "root has every grant, server_id is free: {said}");

    // A user without REPLICATION SLAVE, and the source's own server_id.
    let plain = format!("mysql://plain@127.0.0.1:{}/app", my.port);
    let o = plan(&dir, &text("server_id = 1", "tables = [\"keyed\"]"), &plain, &pg.url);
    let said = out(&o);
    assert!(!o.status.success(), "{said}");
    assert!(said.contains("REFUSED REPLICATION SLAVE: ") && said.contains("GRANT REPLICATION SLAVE ON *.*"), "{said}");
    assert!(!said.contains("REFUSED BINLOG MONITOR"), "granted: {said}");
    assert!(said.contains("REFUSED follow.server_id: 1 is the source server's own server_id"), "{said}");
    pg.drop_db().await;
}
