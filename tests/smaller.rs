//! The smaller promises of the commands, each as an operator meets it (the `converge`
//! binary against the local servers): `query` checks an export's files as `import`
//! does, takes `length()` of bytes and prints NULL apart from ''; `converge log` masks
//! a password in a URL; `verify` takes its URLs from the environment; `schema --diff`
//! compares without the naming options only creation needs.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::*;
use mysql_async::prelude::*;

fn converge(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_converge"));
    c.args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A CSV and a Parquet export of `my`.
async fn exports(my: &MyDb, tmp: &Path) -> (PathBuf, PathBuf) {
    let mut dirs = Vec::new();
    for kind in ["csv", "parquet"] {
        let out = tmp.join(kind);
        let p = pipeline(
            &format!(
                "name = \"small\"\n[source]\nkind = \"mysql\"\nurl = \"${{MYSQL_URL}}\"\n[[sink]]\nkind = \"{kind}\"\n\
                 dir = \"${{OUT}}\"\n"
            ),
            &[("MYSQL_URL", &my.url), ("OUT", out.to_str().unwrap())],
        );
        let report = converge::run::run(&p, &Default::default()).await.unwrap_or_else(|e| panic!("{e}"));
        dirs.push(report.exports[0].clone());
    }
    (dirs.remove(0), dirs.remove(0))
}

const TABLE: &str = "CREATE TABLE item (id int PRIMARY KEY, b varbinary(20), s varchar(10));
INSERT INTO item VALUES (1, X'00FF10', ''), (2, X'', NULL), (3, NULL, 'NULL'), (4, X'E282AC80', 'x');";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_takes_length_of_bytes_prints_null_apart_and_refuses_a_changed_file() {
    let my = MyDb::create("small").await;
    my.exec(TABLE).await;
    let tmp = TempDir::new("small");
    let (csv, parquet) = exports(&my, tmp.path()).await;
    // MariaDB's own answer: the bytes of each value.
    let mut conn = my.conn().await;
    let lengths: Vec<(i32, Option<i64>)> = conn.query("SELECT id, LENGTH(b) FROM item ORDER BY id").await.unwrap();
    drop(conn);
    for dir in [&csv, &parquet] {
        let out = converge(
            &["query", dir.to_str().unwrap(), "SELECT id, length(b) AS n FROM item ORDER BY id", "--format", "json"],
            &[],
        );
        assert!(out.status.success(), "{}", text(&out.stderr));
        let got: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let expected: Vec<serde_json::Value> =
            lengths.iter().map(|(id, n)| serde_json::json!({"id": id, "n": n})).collect();
        assert_eq!(got, serde_json::Value::Array(expected), "{}", dir.display());
        // NULL, '' and the text 'NULL' are three different cells.
        let out = converge(&["query", dir.to_str().unwrap(), "SELECT id, s FROM item ORDER BY id"], &[]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let table = text(&out.stdout);
        let row = |id: &str| {
            table.lines().find(|l| l.split('|').nth(1).map(str::trim) == Some(id)).unwrap_or_else(|| panic!("{table}"))
        };
        let cell = |id: &str| row(id).split('|').nth(2).unwrap().trim().to_string();
        assert_eq!((cell("1"), cell("2"), cell("3")), (String::new(), "∅".into(), "NULL".into()), "{table}");
    }
    // A file changed after the export (same rows, one byte else): refused, as import refuses it.
    let file = csv.join("item.csv");
    let changed = std::fs::read_to_string(&file).unwrap().replace(",x\n", ",y\n");
    std::fs::write(&file, changed).unwrap();
    let parquet_file = std::fs::read_dir(&parquet)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "parquet"))
        .unwrap();
    let mut bytes = std::fs::read(&parquet_file).unwrap();
    bytes.push(b'\n');
    std::fs::write(&parquet_file, bytes).unwrap();
    for dir in [&csv, &parquet] {
        let out = converge(&["query", dir.to_str().unwrap(), "SELECT count(*) FROM item"], &[]);
        assert!(!out.status.success(), "{}", text(&out.stdout));
        assert!(text(&out.stderr).contains("sha256"), "{}", text(&out.stderr));
    }
    my.drop_db().await;
}

#[test]
fn converge_log_masks_a_password_in_a_url() {
    let tmp = TempDir::new("logmask");
    let log = tmp.path().join("runs.jsonl");
    let out = converge(
        &["log", "failed", "restore from mysql://app:hunter2@db.internal:3306/platform failed"],
        &[("CONVERGE_RUN_LOG", log.to_str().unwrap())],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let written = std::fs::read_to_string(&log).unwrap();
    assert!(!written.contains("hunter2") && !text(&out.stdout).contains("hunter2"), "{written}");
    assert!(written.contains("mysql://app:***@db.internal:3306/platform"), "{written}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_takes_its_urls_from_the_environment() {
    let my = MyDb::create("venv").await;
    my.exec(TABLE).await;
    let pg = PgDb::create("venv").await;
    let p = pipeline(
        "name = \"venv\"\n[source]\nkind = \"mysql\"\nurl = \"${MYSQL_URL}\"\n[[sink]]\nkind = \"postgres\"\n\
         url = \"${PG_URL}\"\ncreate = \"missing\"\n",
        &[("MYSQL_URL", &my.url), ("PG_URL", &pg.url)],
    );
    converge::run::run(&p, &Default::default()).await.unwrap_or_else(|e| panic!("{e}"));
    let env = [("CONVERGE_SOURCE_URL", my.url.as_str()), ("CONVERGE_TARGET_URL", pg.url.as_str())];
    let out = converge(&["verify"], &env);
    assert!(out.status.success(), "{}\n{}", text(&out.stdout), text(&out.stderr));
    // Beside a pipeline the variables are not used (the pipeline names both sides);
    // beside one on the command line, URLs are refused.
    let tmp = TempDir::new("venv");
    let file = tmp.path().join("p.toml");
    std::fs::write(
        &file,
        format!(
            "name = \"venv\"\n[source]\nkind = \"mysql\"\nurl = \"{}\"\n[[sink]]\nkind = \"postgres\"\nurl = \"{}\"\n",
            my.url, pg.url
        ),
    )
    .unwrap();
    let out = converge(&["verify", file.to_str().unwrap()], &env);
    assert!(out.status.success(), "{}\n{}", text(&out.stdout), text(&out.stderr));
    let out = converge(&["verify", file.to_str().unwrap(), "--source", &my.url, "--target", &pg.url], &[]);
    assert!(!out.status.success() && text(&out.stderr).contains("not both"), "{}", text(&out.stderr));
    // It really compared: a changed value fails it.
    pg.client.batch_execute("UPDATE item SET s = 'z' WHERE id = 4").await.unwrap();
    let out = converge(&["verify"], &env);
    assert!(!out.status.success(), "{}", text(&out.stdout));
    pg.drop_db().await;
    my.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schema_diff_compares_without_creation_naming_options() {
    let my = MyDb::create("sdiff").await;
    // MySQL's index names are per table; PostgreSQL's per schema.
    my.exec("CREATE TABLE a (id int PRIMARY KEY, n int NULL, KEY ix_n (n)); CREATE TABLE b (id int PRIMARY KEY, n int NULL, KEY ix_n (n));")
        .await;
    let pg = PgDb::create("sdiff").await;
    pg.client
        .batch_execute(
            "CREATE TABLE a (id integer PRIMARY KEY, n integer); CREATE INDEX a_n ON a (n);\n\
             CREATE TABLE b (id integer PRIMARY KEY, n integer); CREATE INDEX b_n ON b (n);",
        )
        .await
        .unwrap();
    let tmp = TempDir::new("sdiff");
    let file = tmp.path().join("p.toml");
    std::fs::write(
        &file,
        format!(
            "name = \"sdiff\"\n[source]\nkind = \"mysql\"\nurl = \"{}\"\n[[sink]]\nkind = \"postgres\"\nurl = \"{}\"\n",
            my.url, pg.url
        ),
    )
    .unwrap();
    let out = converge(&["schema", "--diff", file.to_str().unwrap()], &[]);
    assert!(out.status.success(), "{}\n{}", text(&out.stdout), text(&out.stderr));
    assert_eq!(text(&out.stdout), "the target matches the schema converge would create\n");
    // A real difference is still found.
    pg.client.batch_execute("DROP INDEX b_n").await.unwrap();
    let out = converge(&["schema", "--diff", file.to_str().unwrap()], &[]);
    assert!(text(&out.stdout).contains("`b`") && text(&out.stdout).contains("index"), "{}", text(&out.stdout));
    pg.drop_db().await;
    my.drop_db().await;
}
