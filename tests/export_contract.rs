//! The CSV contract byte for byte, the manifest, the ledger, and the errors that name
//! a row: tricky values, zero dates, out-of-range booleans, invalid JSON.

mod common;

use common::*;
use converge::manifest::Manifest;
use std::os::unix::fs::PermissionsExt;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn golden_csv_bytes_for_tricky_values() {
    let my = MyDb::create("golden").await;
    my.exec(
        "CREATE TABLE `t` (id int PRIMARY KEY, s varchar(100) NULL, j json NULL, b tinyint(1) NULL, ts datetime(6) NULL, bin varbinary(8) NULL, u char(36) NULL);\n\
         INSERT INTO `t` VALUES \
         (1, NULL, NULL, NULL, NULL, NULL, NULL),\
         (2, '', '{}', 0, '2024-01-15 10:30:00', X'', ''),\
         (3, '\\\\N', '{\"k\": \"v \\\\\"q\\\\\" \\\\\\\\ \\\\n\"}', 1, '2024-01-15 10:30:00.123456', X'00FF', '0A1B2C3D-4E5F-4A6B-8C7D-9E0F1A2B3C4D'),\
         (4, 'say \"hi\", then\\nnew line\\r\\nand\\ttab \\\\ back', '[1,\"a,b\"]', NULL, '1970-01-01 00:00:00.000001', X'5C78', NULL),\
         (5, 'emoji 😀 ok', 'null', NULL, NULL, NULL, NULL)",
    )
    .await;
    let out = TempDir::new("golden");
    let p = pipeline(&export_pipeline(""), &[("MYSQL_URL", &my.url), ("OUT", out.path().to_str().unwrap())]);
    let report = converge::run::run(&p, &Default::default()).await.unwrap();
    let csv = std::fs::read_to_string(report.exports[0].join("t.csv")).unwrap();
    let expected = concat!(
        "id,s,j,b,ts,bin,u\n",
        "1,\\N,\\N,\\N,\\N,\\N,\\N\n",
        "2,\"\",\"{}\",f,2024-01-15T10:30:00Z,\\x,\"\"\n",
        "3,\"\\N\",\"{\"\"k\"\": \"\"v \\\"\"q\\\"\" \\\\ \\n\"\"}\",t,2024-01-15T10:30:00.123456Z,\\x00ff,0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d\n",
        "4,\"say \"\"hi\"\", then\nnew line\r\nand\ttab \\ back\",\"[1,\"\"a,b\"\"]\",\\N,1970-01-01T00:00:00.000001Z,\\x5c78,\\N\n",
        "5,emoji 😀 ok,\"null\",\\N,\\N,\\N,\\N\n",
    );
    assert_eq!(csv, expected);
    my.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manifest_counts_equal_source_counts_and_files_are_private() {
    let my = MyDb::create("manifest").await;
    my.exec(
        "CREATE TABLE `a` (id int PRIMARY KEY, v int);\n\
         CREATE TABLE `b` (id char(36) PRIMARY KEY, a_id int, FOREIGN KEY (a_id) REFERENCES a(id));\n\
         CREATE TABLE `empty` (id int PRIMARY KEY);\n\
         CREATE TABLE `nokey` (v varchar(10));\n\
         INSERT INTO a SELECT seq, seq * 2 FROM seq_1_to_20000;\n\
         INSERT INTO b SELECT UUID(), seq FROM seq_1_to_333;\n\
         INSERT INTO nokey VALUES ('x'), ('x'), (NULL);\n\
         ANALYZE TABLE a",
    )
    .await;
    let out = TempDir::new("manifest");
    // Small batches and ranges so the run splits `a` into key ranges over the connections;
    // its statistics (ANALYZE) say it is big, so it is split from that estimate and
    // counted beside its reads, and the manifest's count must still be the exact one.
    let p = pipeline(
        &export_pipeline("[options]\nbatch_rows = 1000\nrange_rows = 3000\nconnections = 3\n"),
        &[("MYSQL_URL", &my.url), ("OUT", out.path().to_str().unwrap())],
    );
    let report = converge::run::run(&p, &Default::default()).await.unwrap();
    let dir = &report.exports[0];
    let m = Manifest::read(dir).unwrap();
    assert_eq!(m.migration_id, report.migration_id);
    assert_eq!(m.tables.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(), vec!["a", "b", "empty", "nokey"]);
    for t in &m.tables {
        assert_eq!(t.row_count, my.count(&t.name).await, "{}", t.name);
        let file = dir.join(t.file.as_ref().unwrap());
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{} is readable by others", file.display());
        let sha = sha2_hex(&std::fs::read(&file).unwrap());
        assert_eq!(t.sha256.as_deref(), Some(sha.as_str()));
    }
    assert_eq!(std::fs::metadata(dir).unwrap().permissions().mode() & 0o777, 0o700);
    // Key ranges are delivered in key order.
    let a = std::fs::read_to_string(dir.join("a.csv")).unwrap();
    let ids: Vec<u32> = a.lines().skip(1).map(|l| l.split(',').next().unwrap().parse().unwrap()).collect();
    assert_eq!(ids, (1..=20000).collect::<Vec<_>>());
    my.drop_db().await;
}

fn sha2_hex(b: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(b))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_row_fails_the_run_with_the_ledger_and_no_manifest() {
    let my = MyDb::create("ledger").await;
    my.exec("CREATE TABLE `t` (id int PRIMARY KEY);\nINSERT INTO t SELECT seq FROM seq_1_to_100").await;
    let out = TempDir::new("ledger");
    let p = pipeline(&export_pipeline(""), &[("MYSQL_URL", &my.url), ("OUT", out.path().to_str().unwrap())]);
    let options = converge::run::RunOptions { drop_rows: Some(("t".into(), 1)), ..Default::default() };
    let err = converge::run::run(&p, &options).await.unwrap_err().to_string();
    assert!(err.contains("row counts do not reconcile"), "{err}");
    assert!(err.contains("MISMATCH") && err.contains("rows read but 99 left"), "{err}");
    let run_dir = std::fs::read_dir(out.path()).unwrap().next().unwrap().unwrap().path();
    assert!(!run_dir.join("migration_manifest.json").exists());
    assert!(run_dir.join("FAILED").exists());
    my.drop_db().await;
}

async fn run_err(my: &MyDb, extra: &str) -> String {
    let out = TempDir::new("err");
    let p = pipeline(&export_pipeline(extra), &[("MYSQL_URL", &my.url), ("OUT", out.path().to_str().unwrap())]);
    match converge::run::run(&p, &Default::default()).await {
        Ok(_) => String::new(),
        Err(e) => e.to_string(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zero_dates_stop_the_run_or_become_counted_nulls() {
    let my = MyDb::create("zero").await;
    my.exec(
        "SET SESSION sql_mode = '';\n\
         CREATE TABLE `z` (id char(36) PRIMARY KEY, d datetime NULL, dd date NULL);\n\
         INSERT INTO z VALUES ('a', '2024-01-01 00:00:00', '2024-01-01'), ('b', '0000-00-00 00:00:00', '0000-00-00')",
    )
    .await;
    let err = run_err(&my, "").await;
    assert!(err.contains("table `z`, row id='b', column `d`"), "{err}");
    assert!(err.contains("zero date"), "{err}");

    let out = TempDir::new("zero");
    let p = pipeline(
        &export_pipeline("[options]\nzero_date = \"null\"\n"),
        &[("MYSQL_URL", &my.url), ("OUT", out.path().to_str().unwrap())],
    );
    let report = converge::run::run(&p, &Default::default()).await.unwrap();
    let csv = std::fs::read_to_string(report.exports[0].join("z.csv")).unwrap();
    assert_eq!(csv, "id,d,dd\na,2024-01-01T00:00:00Z,2024-01-01\nb,\\N,\\N\n");
    let z = &report.tables[0].stats.zero_dates_nulled;
    assert_eq!(z, &vec![("d".to_string(), 1), ("dd".to_string(), 1)]);
    assert!(converge::report::run_text(&report).contains("1 zero dates in `d` written as NULL"));
    my.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_boolean_holding_two_stops_the_run_unless_configured() {
    let my = MyDb::create("bool").await;
    my.exec("CREATE TABLE `flags` (id int PRIMARY KEY, on_off tinyint(1));\nINSERT INTO flags VALUES (1, 0), (2, 1), (7, 2)").await;
    let err = run_err(&my, "").await;
    assert!(err.contains("table `flags`, row id='7', column `on_off`: value 2 is not 0 or 1"), "{err}");
    let out = TempDir::new("bool");
    let p = pipeline(
        &export_pipeline("[[column]]\ntable = \"flags\"\ncolumn = \"on_off\"\nbool_values = \"nonzero\"\n"),
        &[("MYSQL_URL", &my.url), ("OUT", out.path().to_str().unwrap())],
    );
    let report = converge::run::run(&p, &Default::default()).await.unwrap();
    let csv = std::fs::read_to_string(report.exports[0].join("flags.csv")).unwrap();
    assert_eq!(csv, "id,on_off\n1,f\n2,t\n7,t\n");
    my.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_json_names_row_and_column() {
    let my = MyDb::create("json").await;
    my.exec(
        "CREATE TABLE `docs` (id int PRIMARY KEY, body json);\n\
         SET SESSION check_constraint_checks = 0;\n\
         INSERT INTO docs VALUES (1, '{\"ok\": true}'), (2, '{not json')",
    )
    .await;
    let err = run_err(&my, "").await;
    assert!(err.contains("table `docs`, row id='2', column `body`: value '{not json' is not valid JSON"), "{err}");
    my.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_utf8_in_a_text_column_names_the_row() {
    let my = MyDb::create("utf8").await;
    // A binary-collated table read as text: bytes that are not UTF-8 cannot cross unchanged.
    my.exec(
        "CREATE TABLE `notes` (id int PRIMARY KEY, body varchar(20) CHARACTER SET binary);\n\
         INSERT INTO notes VALUES (1, 'fine'), (2, X'66FF00')",
    )
    .await;
    let rule = "[[column]]\ntable = \"notes\"\ncolumn = \"body\"\ntype = \"text\"\n";
    let err = run_err(&my, rule).await;
    assert!(err.contains("row id=2, column `body`") && err.contains("not valid UTF-8"), "{err}");
    // `plan --profile` finds it before the run.
    let p = pipeline(&export_pipeline(rule), &[("MYSQL_URL", &my.url), ("OUT", "/nonexistent")]);
    let (opened, plan, _) = converge::run::plan(&p).await.unwrap();
    let Some(src) = &opened.live() else { panic!("a live source") };
    let found = converge::pipeline::profile::profile(src, &plan, None).await.unwrap();
    opened.close().await;
    let text = converge::pipeline::profile::render(&found);
    assert!(text.contains("notes.body: 1 values rejected: is not valid UTF-8 (e.g. id=2)"), "{text}");
    my.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_table_sql_transforms_and_a_failed_validation_names_itself_and_its_value() {
    let my = MyDb::create("validate").await;
    my.exec("CREATE TABLE `user` (id int PRIMARY KEY, name varchar(20), active tinyint(1));\nINSERT INTO `user` VALUES (1, 'ada', 1), (2, 'bob', 0), (3, NULL, 1)").await;
    let out = TempDir::new("validate");
    let extra =
        "[[transform]]\ntable = \"user\"\nsql = \"SELECT id, upper(name) AS name, active FROM input WHERE active\"\n\
                 [[validate]]\nname = \"two active users\"\nsql = 'SELECT count(*) FROM \"user\"'\nexpect = 2\n";
    let p = pipeline(&export_pipeline(extra), &[("MYSQL_URL", &my.url), ("OUT", out.path().to_str().unwrap())]);
    let report = converge::run::run(&p, &Default::default()).await.unwrap();
    let csv = std::fs::read_to_string(report.exports[0].join("user.csv")).unwrap();
    assert_eq!(csv, "id,name,active\n1,ADA,t\n3,\\N,t\n");
    let row = &report.ledger.rows[0];
    assert_eq!((row.read, row.transformed), (Some(3), Some(2)), "a transform may filter rows; the ledger says so");

    let failing = extra.replace("expect = 2", "expect = 3");
    let p = pipeline(&export_pipeline(&failing), &[("MYSQL_URL", &my.url), ("OUT", out.path().to_str().unwrap())]);
    let err = converge::run::run(&p, &Default::default()).await.err().unwrap().to_string();
    assert_eq!(err, "validation `two active users` failed: expected 3, got 2");
    my.drop_db().await;
}
