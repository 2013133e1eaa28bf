//! `converge query`: one dataset exported by one run into a CSV directory and a Parquet
//! directory; every query gives the same answer over both, and the answers are right.
//!
//! The source is a small hand-written dump (no server needed): upper-case char(36)
//! keys referenced lower-case, tinyint(1) booleans, NULLs, datetime(6)/timestamp(6),
//! dates, decimals, doubles, JSON text, enums and blobs.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use converge::query::{open_export, run_sql, OutputFormat};

const DUMP: &str = r#"-- a hand-written dump in mysqldump's shape
/*!40101 SET NAMES utf8mb4 */;
/*!40103 SET TIME_ZONE='+00:00' */;

CREATE TABLE `grp` (
  `id` char(36) NOT NULL,
  `title` varchar(64) NOT NULL,
  `private` tinyint(1) NOT NULL DEFAULT 0,
  PRIMARY KEY (`id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

INSERT INTO `grp` VALUES ('AAAAAAAA-0000-4000-8000-000000000001','Readers',0),('aaaaaaaa-0000-4000-8000-000000000002','Writers',1),('AAAAAAAA-0000-4000-8000-000000000003','Empty',0);

CREATE TABLE `account` (
  `id` char(36) NOT NULL,
  `name` varchar(64) NOT NULL,
  `active` tinyint(1) NOT NULL,
  `score` int(11) DEFAULT NULL,
  `balance` decimal(10,2) DEFAULT NULL,
  `ratio` double DEFAULT NULL,
  `createdAt` datetime(6) NOT NULL,
  `lastSeen` timestamp(6) NULL DEFAULT NULL,
  `born` date DEFAULT NULL,
  `prefs` json DEFAULT NULL,
  `bio` text DEFAULT NULL,
  PRIMARY KEY (`id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

INSERT INTO `account` VALUES ('0B5E1C2A-1111-4A11-8A11-000000000001','ada',1,90,100.50,0.25,'2023-12-31 23:59:59.999999','2024-06-15 08:00:00.000001','1815-12-10','{\"theme\": \"dark\", \"langs\": [\"en\", \"fr\"]}','Line one\nline \"two\"'),('0b5e1c2a-1111-4a11-8a11-000000000002','bob',0,NULL,-20.25,NULL,'2024-01-01 00:00:00.000000',NULL,NULL,NULL,NULL),('0B5E1C2A-1111-4A11-8A11-000000000003','cy',1,70,0.00,1.5,'2024-02-29 12:30:00.500000','2024-03-01 00:00:00.000000','2000-02-29','{\"theme\": \"light\"}',''),('0B5E1C2A-1111-4A11-8A11-000000000004','dee 😀',0,80,NULL,-3,'2024-07-04 10:00:00.000000','2024-07-04 10:00:00.000000','1999-12-31','[]','\\N');

CREATE TABLE `membership` (
  `id` int(11) NOT NULL,
  `accountId` char(36) NOT NULL,
  `groupId` char(36) DEFAULT NULL,
  `role` enum('member','admin') NOT NULL,
  `joined` datetime NOT NULL,
  `avatar` blob DEFAULT NULL,
  PRIMARY KEY (`id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

INSERT INTO `membership` VALUES (1,'0b5e1c2a-1111-4a11-8a11-000000000001','aaaaaaaa-0000-4000-8000-000000000001','admin','2024-01-02 03:04:05',X'00FF'),(2,'0b5e1c2a-1111-4a11-8a11-000000000002','aaaaaaaa-0000-4000-8000-000000000001','member','2024-01-03 00:00:00',NULL),(3,'0B5E1C2A-1111-4A11-8A11-000000000001','AAAAAAAA-0000-4000-8000-000000000002','member','2024-02-01 00:00:00',X''),(4,'0b5e1c2a-1111-4a11-8a11-000000000003','aaaaaaaa-0000-4000-8000-000000000002','admin','2024-03-15 12:00:00',X'C0FFEE'),(5,'0b5e1c2a-1111-4a11-8a11-000000000004',NULL,'member','2024-03-16 00:00:00',NULL);
"#;

/// The queries, each with the exact CSV it must print (None: only CSV = Parquet).
const QUERIES: &[(&str, Option<&str>)] = &[
    // Joins through UUIDs that were upper-case in the source on one side only.
    (
        r#"SELECT m.id, a.name, g.title, m.role FROM membership m JOIN account a ON m."accountId" = a.id JOIN grp g ON g.id = m."groupId" ORDER BY m.id"#,
        Some("id,name,title,role\n1,ada,Readers,admin\n2,bob,Readers,member\n3,ada,Writers,member\n4,cy,Writers,admin\n"),
    ),
    (
        r#"SELECT g.title, count(m.id) AS n FROM grp g LEFT JOIN membership m ON m."groupId" = g.id GROUP BY g.title ORDER BY g.title"#,
        Some("title,n\nEmpty,0\nReaders,2\nWriters,2\n"),
    ),
    (
        "SELECT name FROM account WHERE id = '0b5e1c2a-1111-4a11-8a11-000000000004'",
        Some("name\ndee 😀\n"),
    ),
    // Aggregates.
    (
        "SELECT count(*) AS n, count(score) AS scored, sum(score) AS s, avg(score) AS a, min(score) AS lo, max(score) AS hi FROM account",
        Some("n,scored,s,a,lo,hi\n4,3,240,80.0,70,90\n"),
    ),
    ("SELECT sum(balance) AS total, min(balance) AS lo, max(balance) AS hi FROM account", Some("total,lo,hi\n80.25,-20.25,100.50\n")),
    ("SELECT sum(ratio) AS s, avg(ratio) AS a FROM account", Some("s,a\n-1.25,-0.4166666666666667\n")),
    (
        r#"SELECT role, count(*) AS n, count(avatar) AS with_avatar, count(DISTINCT "accountId") AS people FROM membership GROUP BY role ORDER BY role"#,
        Some("role,n,with_avatar,people\nadmin,2,2,2\nmember,3,1,3\n"),
    ),
    // NULL handling.
    (
        r#"SELECT name, COALESCE(score, -1) AS score, "lastSeen" IS NULL AS never FROM account ORDER BY name"#,
        Some("name,score,never\nada,90,f\nbob,-1,t\ncy,70,f\ndee 😀,80,f\n"),
    ),
    ("SELECT count(*) AS n, count(prefs) AS p, count(bio) AS b, count(born) AS d FROM account", Some("n,p,b,d\n4,3,3,3\n")),
    (r#"SELECT id FROM membership WHERE "groupId" IS NULL"#, Some("id\n5\n")),
    // The empty string and the literal \N stay distinct from NULL.
    ("SELECT name, bio FROM account WHERE bio IS NOT NULL AND length(bio) < 3 ORDER BY name", Some("name,bio\ncy,\"\"\ndee 😀,\"\\N\"\n")),
    // Booleans.
    ("SELECT name FROM account WHERE active ORDER BY name", Some("name\nada\ncy\n")),
    ("SELECT name FROM account WHERE NOT active ORDER BY name", Some("name\nbob\ndee 😀\n")),
    ("SELECT active, count(*) AS n FROM account GROUP BY active ORDER BY active", Some("active,n\nf,2\nt,2\n")),
    ("SELECT title FROM grp WHERE private", Some("title\nWriters\n")),
    // Timestamps and dates.
    (
        r#"SELECT name, "createdAt" FROM account WHERE "createdAt" >= TIMESTAMP '2024-01-01 00:00:00' ORDER BY "createdAt""#,
        Some("name,createdAt\nbob,2024-01-01T00:00:00Z\ncy,2024-02-29T12:30:00.500000Z\ndee 😀,2024-07-04T10:00:00Z\n"),
    ),
    (
        r#"SELECT name FROM account WHERE "lastSeen" > TIMESTAMP '2024-06-15 08:00:00' ORDER BY name"#,
        Some("name\nada\ndee 😀\n"),
    ),
    (
        r#"SELECT date_trunc('month', "createdAt") AS month, count(*) AS n FROM account GROUP BY 1 ORDER BY 1"#,
        Some("month,n\n2023-12-01T00:00:00Z,1\n2024-01-01T00:00:00Z,1\n2024-02-01T00:00:00Z,1\n2024-07-01T00:00:00Z,1\n"),
    ),
    (
        r#"SELECT name, extract(year FROM "createdAt") AS y, extract(microsecond FROM "createdAt") AS us FROM account ORDER BY name"#,
        None,
    ),
    (r#"SELECT name, extract(year FROM born) AS y FROM account WHERE born < DATE '2000-01-01' ORDER BY born"#, Some("name,y\nada,1815\ndee 😀,1999\n")),
    (r#"SELECT max(joined) AS last, min(joined) AS first FROM membership"#, Some("last,first\n2024-03-16T00:00:00Z,2024-01-02T03:04:05Z\n")),
    (r#"SELECT name, "lastSeen" - "createdAt" AS gap FROM account WHERE "lastSeen" IS NOT NULL ORDER BY name"#, None),
    // JSON is text: our DataFusion build has no JSON functions, string functions work.
    (
        r#"SELECT name, strpos(prefs, '"theme"') > 0 AS themed, length(prefs) AS len FROM account WHERE prefs IS NOT NULL ORDER BY name"#,
        Some("name,themed,len\nada,t,40\ncy,t,18\ndee 😀,f,2\n"),
    ),
    ("SELECT name FROM account WHERE prefs LIKE '%\"dark\"%'", Some("name\nada\n")),
    // Bytes.
    // (octet_length takes strings only in DataFusion 55: Binary is not coerced.)
    ("SELECT id, avatar FROM membership ORDER BY id", Some("id,avatar\n1,\\x00ff\n2,\\N\n3,\\x\n4,\\xc0ffee\n5,\\N\n")),
    ("SELECT count(*) AS n FROM membership WHERE avatar = X'C0FFEE'", Some("n\n1\n")),
    // Every column of every table, as stored.
    ("SELECT * FROM account ORDER BY id", None),
    ("SELECT * FROM membership ORDER BY id", None),
    ("SELECT * FROM grp ORDER BY id", None),
];

/// Runs the dump through one pipeline into a CSV and a Parquet directory.
async fn export(tmp: &Path) -> (PathBuf, PathBuf) {
    let dump = tmp.join("query.sql");
    std::fs::write(&dump, DUMP).unwrap();
    let text = "name = \"q\"\n[source]\nkind = \"mysqldump\"\npath = \"${DUMP}\"\n\
        [[sink]]\nkind = \"csv\"\ndir = \"${CSV}\"\n[[sink]]\nkind = \"parquet\"\ndir = \"${PARQUET}\"\n";
    let (csv, parquet) = (tmp.join("csv"), tmp.join("parquet"));
    let p = pipeline(
        text,
        &[("DUMP", dump.to_str().unwrap()), ("CSV", csv.to_str().unwrap()), ("PARQUET", parquet.to_str().unwrap())],
    );
    let report = converge::run::run(&p, &Default::default()).await.expect("the export succeeds");
    assert_eq!(report.exports.len(), 2, "two export directories");
    let csv_dir = report.exports.iter().find(|d| d.starts_with(&csv)).unwrap().clone();
    let parquet_dir = report.exports.iter().find(|d| d.starts_with(&parquet)).unwrap().clone();
    assert!(csv_dir.join("account.csv").exists() && !csv_dir.join("account.parquet").exists());
    assert!(!parquet_dir.join("account.csv").exists());
    assert!(std::fs::read_dir(&parquet_dir).unwrap().any(|e| e
        .unwrap()
        .path()
        .extension()
        .is_some_and(|x| x == "parquet")));
    (csv_dir, parquet_dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_agree_over_csv_and_parquet_and_are_right() {
    let tmp = TempDir::new("query");
    let (csv_dir, parquet_dir) = export(tmp.path()).await;
    let csv = open_export(&csv_dir).await.unwrap();
    let parquet = open_export(&parquet_dir).await.unwrap();
    let mut failures = Vec::new();
    for (sql, expected) in QUERIES {
        let over_csv = run_sql(&csv, sql, OutputFormat::Csv).await.unwrap_or_else(|e| format!("error: {e}"));
        let over_parquet = run_sql(&parquet, sql, OutputFormat::Csv).await.unwrap_or_else(|e| format!("error: {e}"));
        if over_csv.starts_with("error: ") || over_parquet.starts_with("error: ") {
            failures.push(format!("{sql}\n  csv:     {over_csv}\n  parquet: {over_parquet}"));
            continue;
        }
        if over_csv != over_parquet {
            failures.push(format!("{sql}\n  csv:     {over_csv:?}\n  parquet: {over_parquet:?}"));
        }
        if let Some(expected) = expected {
            if over_csv != *expected {
                failures.push(format!("{sql}\n  expected: {expected:?}\n  got:      {over_csv:?}"));
            }
        }
    }
    assert!(failures.is_empty(), "{} of {} queries:\n{}", failures.len(), QUERIES.len(), failures.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_command_prints_json() {
    let tmp = TempDir::new("querycli");
    let (csv_dir, parquet_dir) = export(tmp.path()).await;
    for dir in [&csv_dir, &parquet_dir] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_converge"))
            .arg("query")
            .arg(dir)
            .arg(r#"SELECT a.name, a.active, a.score, a.balance, count(m.id) AS memberships FROM account a LEFT JOIN membership m ON m."accountId" = a.id GROUP BY a.name, a.active, a.score, a.balance ORDER BY a.name"#)
            .args(["--format", "json"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("the output is JSON");
        let expected = serde_json::json!([
            {"name": "ada", "active": true, "score": 90, "balance": "100.50", "memberships": 2},
            {"name": "bob", "active": false, "score": null, "balance": "-20.25", "memberships": 1},
            {"name": "cy", "active": true, "score": 70, "balance": "0.00", "memberships": 1},
            {"name": "dee 😀", "active": false, "score": 80, "balance": null, "memberships": 1},
        ]);
        assert_eq!(v, expected, "{}", dir.display());
    }
    // A bad query fails with a non-zero exit code and says why.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_converge"))
        .args(["query", csv_dir.to_str().unwrap(), "SELECT nope FROM account", "--format", "json"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("nope"), "{}", String::from_utf8_lossy(&out.stderr));
}

/// The dump into one directory with both a CSV and a Parquet sink.
async fn export_both(tmp: &Path) -> PathBuf {
    let dump = tmp.join("query.sql");
    std::fs::write(&dump, DUMP).unwrap();
    let text = "name = \"q\"\n[source]\nkind = \"mysqldump\"\npath = \"${DUMP}\"\n\
        [[sink]]\nkind = \"csv\"\ndir = \"${OUT}\"\n[[sink]]\nkind = \"parquet\"\ndir = \"${OUT}\"\n";
    let out = tmp.join("both");
    let p = pipeline(text, &[("DUMP", dump.to_str().unwrap()), ("OUT", out.to_str().unwrap())]);
    let report = converge::run::run(&p, &Default::default()).await.expect("the export succeeds");
    assert_eq!(report.exports.len(), 1, "one export directory");
    report.exports[0].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_prefers_parquet_and_answers_every_query_as_over_csv() {
    let tmp = TempDir::new("queryboth");
    let (csv_dir, _) = export(tmp.path()).await;
    let both = export_both(tmp.path()).await;
    assert!(both.join("account.csv").exists() && both.join("account.parquet").exists());
    // The CSV files gone: a query that read them would fail; the Parquet answers.
    for e in std::fs::read_dir(&both).unwrap() {
        let path = e.unwrap().path();
        if path.extension().is_some_and(|x| x == "csv") {
            std::fs::remove_file(path).unwrap();
        }
    }
    let over_both = open_export(&both).await.unwrap();
    let csv = open_export(&csv_dir).await.unwrap();
    for (sql, expected) in QUERIES {
        let a = run_sql(&over_both, sql, OutputFormat::Csv).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
        let b = run_sql(&csv, sql, OutputFormat::Csv).await.unwrap();
        assert_eq!(a, b, "{sql}");
        if let Some(expected) = expected {
            assert_eq!(a, *expected, "{sql}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_exports_are_schemas_a_b_and_their_run_ids() {
    let tmp = TempDir::new("querymulti");
    for sub in ["one", "two"] {
        std::fs::create_dir_all(tmp.path().join(sub)).unwrap();
    }
    let (first, _) = export(&tmp.path().join("one")).await;
    let (second, _) = export(&tmp.path().join("two")).await;
    let ctx = converge::query::open_exports(&[first.clone(), second.clone()]).await.unwrap();
    let same = "SELECT count(*) AS n FROM a.account x JOIN b.account y ON x.id = y.id AND x.name = y.name";
    assert_eq!(run_sql(&ctx, same, OutputFormat::Csv).await.unwrap(), "n\n4\n");
    let id = converge::manifest::Manifest::read(&second).unwrap().migration_id;
    let by_id = format!("SELECT count(*) AS n FROM \"{id}\".membership");
    assert_eq!(run_sql(&ctx, &by_id, OutputFormat::Csv).await.unwrap(), "n\n5\n");
    // The command line: directories, then the SQL.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_converge"))
        .args([
            "query",
            first.to_str().unwrap(),
            second.to_str().unwrap(),
            "SELECT count(*) AS n FROM b.grp",
            "--format",
            "csv",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let n =
        run_sql(&open_export(&first).await.unwrap(), "SELECT count(*) AS n FROM grp", OutputFormat::Csv).await.unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), n);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_stream_to_parquet_and_arrow_files_holding_the_same_rows() {
    let tmp = TempDir::new("queryfile");
    let (csv_dir, _) = export(tmp.path()).await;
    let sql = "SELECT * FROM account ORDER BY id";
    let expected = run_sql(&open_export(&csv_dir).await.unwrap(), sql, OutputFormat::Csv).await.unwrap();
    for format in ["parquet", "arrow"] {
        let path = tmp.path().join(format!("result.{format}"));
        let file = std::fs::File::create(&path).unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_converge"))
            .args(["query", csv_dir.to_str().unwrap(), sql, "--format", format])
            .stdout(file)
            .output()
            .unwrap();
        assert!(out.status.success(), "{format}: {}", String::from_utf8_lossy(&out.stderr));
        let file = std::fs::File::open(&path).unwrap();
        let (schema, batches) = if format == "parquet" {
            use arrow::record_batch::RecordBatchReader;
            let reader =
                parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file).unwrap().build().unwrap();
            let schema = reader.schema();
            (schema, reader.collect::<Result<Vec<_>, _>>().unwrap())
        } else {
            let reader = arrow::ipc::reader::FileReader::try_new(file, None).unwrap();
            let schema = reader.schema();
            (schema, reader.collect::<Result<Vec<_>, _>>().unwrap())
        };
        let got = converge::query::render(&schema, &batches, OutputFormat::Csv).unwrap();
        assert_eq!(got, expected, "{format}");
    }
}
