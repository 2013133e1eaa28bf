//! `converge plan --profile` predicts two refusals end to end that the table-driven
//! `profile_predicts` cannot hold: a row larger than the MySQL server's
//! `max_allowed_packet` (on a MariaDB of the test's own, whose global setting it may
//! lower), and foreign-key orphans when the run creates the target (`create = "missing"`).
//! In both, the profile lists the finding as blocking and exits non-zero, the run refuses
//! naming what the profile named, and the target is left as it was. See
//! docs/architecture.md, "No silent change".

mod common;

use common::own_mariadb::OwnMariaDb;
use common::*;

/// `converge --json plan --profile` on `text`: whether it succeeded, its findings, and
/// the whole output (for messages).
fn profile(text: &str) -> (bool, Vec<serde_json::Value>, String) {
    let dir = TempDir::new("ppk");
    let file = dir.path().join("p.toml");
    std::fs::write(&file, text).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_converge"))
        .args(["--json", "plan", "--profile"])
        .arg(&file)
        .output()
        .unwrap();
    let shown = format!("{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {shown}"));
    let found = j["profile"].as_array().unwrap_or_else(|| panic!("no profile: {shown}")).clone();
    (out.status.success(), found, shown)
}

fn run_pipeline(my_url: &str, pg_url: &str, extra: &str) -> String {
    format!(
        "name = \"ppk\"\n[source]\nkind = \"mysql\"\nurl = \"{my_url}\"\n\n[[sink]]\nkind = \"postgres\"\nurl = \"{pg_url}\"\n{extra}"
    )
}

/// The tables of the target's `public` schema.
async fn tables(pg: &PgDb) -> Vec<String> {
    let rows = pg
        .client
        .query("SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' ORDER BY 1", &[])
        .await
        .unwrap();
    rows.iter().map(|r| r.get(0)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_row_past_max_allowed_packet_is_predicted_blocking_and_the_run_refuses_it() {
    let my = OwnMariaDb::start(&["--max-allowed-packet=16M"]).await;
    // A 200 KB row between small ones, written while the packet is generous.
    my.exec(
        "CREATE DATABASE big;\n\
         CREATE TABLE big.t (id int PRIMARY KEY, b longblob);\n\
         INSERT INTO big.t VALUES (1, 'small'), (2, REPEAT('x', 200000)), (3, 'small')",
    )
    .await;
    let pg = PgDb::create("ppk").await;
    pg.client.batch_execute("CREATE TABLE t (id int PRIMARY KEY, b bytea)").await.unwrap();
    let text = run_pipeline(&my.url("big"), &pg.url, "");
    // Under the generous packet the same rows are nothing to list.
    let (ok, found, shown) = profile(&text);
    assert!(ok && found.is_empty(), "nothing to list under a 16 MB packet: {shown}");
    // Lowered afterwards: the connections converge opens take it.
    my.exec("SET GLOBAL max_allowed_packet = 65536").await;

    let (ok, found, shown) = profile(&text);
    assert!(!ok, "plan --profile must fail: {shown}");
    let too_large: Vec<_> =
        found.iter().filter(|f| f["what"].as_str().is_some_and(|w| w.contains("max_allowed_packet"))).collect();
    assert_eq!(too_large.len(), 1, "one finding for the row past the packet: {shown}");
    assert_eq!(too_large[0]["table"], "t", "{shown}");
    assert_eq!(too_large[0]["blocking"], true, "{shown}");

    let err = converge::run::run(&pipeline(&text, &[]), &Default::default()).await.expect_err("the run refuses");
    let err = err.to_string();
    assert!(err.contains("`t`"), "the run names the table: {err}");
    assert!(err.contains("raise it on the server"), "the run says the way forward: {err}");
    let n: i64 = pg.client.query_one("SELECT count(*) FROM t", &[]).await.unwrap().get(0);
    assert_eq!(n, 0, "the target stays empty");
    pg.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orphans_under_a_created_foreign_key_are_predicted_and_the_run_creates_nothing() {
    let my = MyDb::create("ppk").await;
    my.exec(
        "CREATE TABLE parent (id int PRIMARY KEY);\n\
         CREATE TABLE child (id int PRIMARY KEY, parent_id int, CONSTRAINT child_parent FOREIGN KEY (parent_id) REFERENCES parent (id));\n\
         SET SESSION foreign_key_checks = 0;\n\
         INSERT INTO parent VALUES (1), (2);\n\
         INSERT INTO child VALUES (10, 1), (11, 7), (12, NULL), (13, 8), (14, 2), (15, 7)",
    )
    .await;
    // What MariaDB itself says is orphaned.
    let mut c = my.conn().await;
    let mine: Vec<i32> = mysql_async::prelude::Queryable::query(
        &mut c,
        "SELECT c.id FROM child c LEFT JOIN parent p ON p.id = c.parent_id \
         WHERE c.parent_id IS NOT NULL AND p.id IS NULL ORDER BY c.id",
    )
    .await
    .unwrap();
    let dangling: Vec<i32> = mysql_async::prelude::Queryable::query(
        &mut c,
        "SELECT DISTINCT c.parent_id FROM child c LEFT JOIN parent p ON p.id = c.parent_id \
         WHERE c.parent_id IS NOT NULL AND p.id IS NULL",
    )
    .await
    .unwrap();
    drop(c);
    assert_eq!(mine.len(), 3);
    let pg = PgDb::create("ppk").await;
    let text = run_pipeline(&my.url, &pg.url, "create = \"missing\"\n");

    let (ok, found, shown) = profile(&text);
    assert!(!ok, "plan --profile must fail: {shown}");
    assert_eq!(found.len(), 1, "one finding, the orphans: {shown}");
    let f = &found[0];
    assert_eq!((f["table"].as_str(), f["column"].as_str()), (Some("child"), Some("parent_id")), "{shown}");
    assert_eq!(f["blocking"], true, "{shown}");
    assert_eq!(f["count"].as_u64(), Some(mine.len() as u64), "{shown}");
    let examples: Vec<&str> = f["examples"].as_array().unwrap().iter().filter_map(|e| e.as_str()).collect();
    assert!(!examples.is_empty(), "{shown}");
    for e in &examples {
        let named = |id: &i32| *e == format!("id='{id}'") || *e == format!("id={id}");
        assert!(mine.iter().any(named), "{e} is not an orphan row: {shown}");
    }

    let err = converge::run::run(&pipeline(&text, &[]), &Default::default()).await.expect_err("the run refuses");
    let err = err.to_string();
    assert!(err.contains(&format!("{} orphaned rows", mine.len())), "the run counts the orphans: {err}");
    assert!(err.contains("`child`.(parent_id) → `parent`"), "the run names the foreign key: {err}");
    // Its examples are referencing values MariaDB finds no parent for.
    let listed = err.split("e.g. ").nth(1).unwrap_or_else(|| panic!("no examples: {err}"));
    for v in listed.lines().next().unwrap_or_default().split("; ") {
        assert!(dangling.iter().any(|d| d.to_string() == v.trim()), "{v} is not a dangling reference: {err}");
    }
    assert!(tables(&pg).await.is_empty(), "nothing created: {:?}", tables(&pg).await);
    pg.drop_db().await;
    my.drop_db().await;
}
