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
    let ctx = converge::query::open_exports(&[first.clone(), second.clone()], converge::query::TableFiles::Auto)
        .await
        .unwrap();
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

/// `--files csv|parquet` reads one export's tables from the files asked for: the same
/// answers from both, and an error naming the table when the files asked for are missing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_choose_the_csv_or_the_parquet_of_one_export() {
    use converge::query::{open_exports, TableFiles};
    let tmp = TempDir::new("queryfiles");
    let (csv_only, _) = export(tmp.path()).await;
    let both = export_both(tmp.path()).await;
    let dirs = [both.clone()];
    let over_csv = open_exports(&dirs, TableFiles::Csv).await.unwrap();
    let over_parquet = open_exports(&dirs, TableFiles::Parquet).await.unwrap();
    for (sql, _) in QUERIES {
        let a = run_sql(&over_csv, sql, OutputFormat::Csv).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
        let b = run_sql(&over_parquet, sql, OutputFormat::Csv).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
        assert_eq!(a, b, "{sql}");
    }
    // Parquet gone: `csv` still answers (it never read them), `parquet` refuses.
    for e in std::fs::read_dir(&both).unwrap() {
        let path = e.unwrap().path();
        if path.extension().is_some_and(|x| x == "parquet") {
            std::fs::remove_file(path).unwrap();
        }
    }
    let (sql, _) = QUERIES[0];
    let after = run_sql(&open_exports(&dirs, TableFiles::Csv).await.unwrap(), sql, OutputFormat::Csv).await.unwrap();
    assert_eq!(after, run_sql(&over_csv, sql, OutputFormat::Csv).await.unwrap());
    let e = open_exports(&[csv_only], TableFiles::Parquet).await.err().expect("no Parquet in a CSV-only export");
    assert!(e.to_string().contains("no Parquet file for `"), "{e}");
}

// ---------------------------------------------------------------------------------------
// `converge query --target URL`: a live PostgreSQL database (the migration's target) read
// with DataFusion SQL, alone or beside an export.

/// The target's tables: names that need quoting, a camelCase column, every type the
/// export carries, NULLs, the empty string and the literal text `\N`.
const TARGET_DDL: &str = r#"
CREATE TABLE "user" (
  id bigint PRIMARY KEY,
  n integer,
  active boolean,
  amount numeric(30,10),
  note text,
  key uuid,
  doc jsonb,
  raw bytea,
  "seenAt" timestamptz(6),
  "wallTime" timestamp(6),
  born date,
  ratio double precision
);
INSERT INTO "user" VALUES
  (1, 2147483647, true, 12345678901234567890.0123456789, E'line one\nline "two"',
   'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11', '{"b": [1, 2], "a": "x"}', '\x00ff0a',
   '2024-02-29 23:59:59.999999+00', '2023-12-31 23:59:59.000001', '1815-12-10', 0.1),
  (2, -2147483648, false, -0.0000000001, '\N', '00000000-0000-0000-0000-000000000000', '[]', '\x',
   '1970-01-01 00:00:00+00', '0001-01-01 00:00:00', '2000-02-29', -1.5e300),
  (3, NULL, NULL, NULL, '', NULL, NULL, NULL, NULL, NULL, NULL, NULL),
  (9223372036854775807, 0, true, 0, 'plain', 'ffffffff-ffff-ffff-ffff-ffffffffffff', '"text"', '\xc0ffee',
   '2024-06-15 08:00:00.000001+02', '9999-12-31 23:59:59.999999', '9999-12-31', 5e-324);
CREATE TABLE "order" (
  id integer PRIMARY KEY,
  "userId" bigint REFERENCES "user" (id),
  "totalAmount" numeric(12,2),
  span interval,
  "atTime" time(6)
);
INSERT INTO "order" VALUES
  (1, 1, 100.50, '01:02:03.5', '23:59:59.999999'),
  (2, 1, -0.01, '-00:00:00.000001', '00:00:00'),
  (3, 3, NULL, NULL, NULL);
CREATE TABLE "query-result-cache" (id integer PRIMARY KEY, span interval, "at" timestamptz);
INSERT INTO "query-result-cache" VALUES (1, '01:00:00', '2024-01-01 00:00:00+00'), (2, '1 day', 'infinity');
CREATE TABLE account (id uuid PRIMARY KEY, name text NOT NULL, balance numeric(10,2));
INSERT INTO account VALUES
  ('0b5e1c2a-1111-4a11-8a11-000000000001', 'ada', 100.50),
  ('0b5e1c2a-1111-4a11-8a11-000000000002', 'bob', -20.00),
  ('0b5e1c2a-1111-4a11-8a11-000000000003', 'cy', 0.00);
CREATE SCHEMA app;
CREATE TABLE app.widget (id integer, label text);
INSERT INTO app.widget VALUES (7, 'seven');
"#;

/// A fresh PostgreSQL database holding [`TARGET_DDL`].
async fn target_db() -> PgDb {
    let pg = PgDb::create("qtarget").await;
    pg.client.batch_execute(TARGET_DDL).await.unwrap();
    pg
}

/// Every value of `user` as the export would write it.
const TARGET_USERS: &str = "id,n,active,amount,note,key,doc,raw,seenAt,wallTime,born,ratio\n\
    1,2147483647,t,12345678901234567890.0123456789,\"line one\nline \"\"two\"\"\",a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11,\"{\"\"a\"\": \"\"x\"\", \"\"b\"\": [1, 2]}\",\\x00ff0a,2024-02-29T23:59:59.999999Z,2023-12-31T23:59:59.000001Z,1815-12-10,0.1\n\
    2,-2147483648,f,-0.0000000001,\"\\N\",00000000-0000-0000-0000-000000000000,[],\\x,1970-01-01T00:00:00Z,0001-01-01T00:00:00Z,2000-02-29,-1.5e300\n\
    3,\\N,\\N,\\N,\"\",\\N,\\N,\\N,\\N,\\N,\\N,\\N\n\
    9223372036854775807,0,t,0.0000000000,plain,ffffffff-ffff-ffff-ffff-ffffffffffff,\"\"\"text\"\"\",\\xc0ffee,2024-06-15T06:00:00.000001Z,9999-12-31T23:59:59.999999Z,9999-12-31,5e-324\n";

/// Every value of the target arrives exactly (no digit, microsecond or NULL lost, the
/// empty string and `\N` kept apart), typed: the target's tables are schema `target` and,
/// with no export, bare names too; a projection reads only its columns; a value with no
/// exact form is refused by name, never changed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn target_tables_read_exactly_and_typed() {
    use converge::query::{target, TableFiles};
    let pg = target_db().await;
    let ctx = target::open(&[], TableFiles::Auto, &pg.url, "public").await.unwrap();
    let sql = |q: &'static str| {
        let ctx = ctx.clone();
        async move { run_sql(&ctx, q, OutputFormat::Csv).await }
    };
    assert_eq!(sql(r#"SELECT * FROM target."user" ORDER BY id"#).await.unwrap(), TARGET_USERS);
    assert_eq!(sql(r#"SELECT * FROM "user" ORDER BY id"#).await.unwrap(), TARGET_USERS, "bare names too");
    // Typed as the export types them: arithmetic and comparisons work on the values.
    let typed = r#"SELECT sum(n) AS n, max(amount) AS amount, min("seenAt") AS first, count(note) AS notes,
        count(*) FILTER (WHERE active) AS active, max(born) AS born FROM target."user""#;
    assert_eq!(
        sql(typed).await.unwrap(),
        "n,amount,first,notes,active,born\n-1,12345678901234567890.0123456789,1970-01-01T00:00:00Z,4,2,9999-12-31\n"
    );
    // A subset of the columns, the quoted camelCase one among them.
    assert_eq!(
        sql(r#"SELECT "seenAt", note FROM target."user" WHERE id < 3 ORDER BY "seenAt""#).await.unwrap(),
        "seenAt,note\n1970-01-01T00:00:00Z,\"\\N\"\n2024-02-29T23:59:59.999999Z,\"line one\nline \"\"two\"\"\"\n"
    );
    assert_eq!(sql(r#"SELECT count(*) AS n FROM target."user""#).await.unwrap(), "n\n4\n");
    assert_eq!(sql(r#"SELECT id FROM target."user" ORDER BY id LIMIT 2"#).await.unwrap(), "id\n1\n2\n");
    // Joins inside the target; intervals and times as durations.
    let joined = r#"SELECT o.id, u.note, o."totalAmount", o.span, o."atTime" FROM target."order" o
        JOIN target."user" u ON u.id = o."userId" ORDER BY o.id"#;
    assert_eq!(
        sql(joined).await.unwrap(),
        "id,note,totalAmount,span,atTime\n1,\"line one\nline \"\"two\"\"\",100.50,1:02:03.500000,23:59:59.999999\n\
         2,\"line one\nline \"\"two\"\"\",-0.01,-0:00:00.000001,0:00:00\n3,\"\",\\N,\\N,\\N\n"
    );
    // Only the projected columns are read: the `1 day` interval and the `infinity`
    // instant stop only a query that reads them, naming the table, column and value.
    assert_eq!(sql(r#"SELECT id FROM target."query-result-cache" ORDER BY id"#).await.unwrap(), "id\n1\n2\n");
    let e = sql(r#"SELECT span FROM target."query-result-cache""#).await.unwrap_err().to_string();
    assert!(e.contains("\"query-result-cache\"") && e.contains("column `span`") && e.contains("1 day"), "{e}");
    let e = sql(r#"SELECT "at" FROM target."query-result-cache""#).await.unwrap_err().to_string();
    assert!(e.contains("column `at`") && e.contains("infinity"), "{e}");
    // Another schema, by --target-schema; a schema that is not there is an error.
    let app = target::open(&[], TableFiles::Auto, &pg.url, "app").await.unwrap();
    assert_eq!(run_sql(&app, "SELECT * FROM target.widget", OutputFormat::Csv).await.unwrap(), "id,label\n7,seven\n");
    let e = target::open(&[], TableFiles::Auto, &pg.url, "nope").await.err().expect("no schema `nope`");
    assert!(e.to_string().contains("no schema `nope`"), "{e}");
    pg.drop_db().await;
}

/// An export beside the target: the export's tables keep their bare names, the target's
/// are `target.…`, and one statement compares them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn target_beside_an_export_compares_in_one_statement() {
    use converge::query::{target, TableFiles};
    let pg = target_db().await;
    let tmp = TempDir::new("querytarget");
    let (csv_dir, _) = export(tmp.path()).await;
    let ctx = target::open(std::slice::from_ref(&csv_dir), TableFiles::Auto, &pg.url, "public").await.unwrap();
    let missing = "SELECT a.name FROM account a LEFT JOIN target.account t ON t.id = a.id WHERE t.id IS NULL";
    assert_eq!(run_sql(&ctx, missing, OutputFormat::Csv).await.unwrap(), "name\ndee 😀\n");
    let differ = "SELECT a.name, a.balance, t.balance AS target FROM account a JOIN target.account t ON t.id = a.id \
        WHERE a.balance IS DISTINCT FROM t.balance ORDER BY a.name";
    assert_eq!(run_sql(&ctx, differ, OutputFormat::Csv).await.unwrap(), "name,balance,target\nbob,-20.25,-20.00\n");
    // With an export the target's tables are not bare names: `account` is the export's.
    assert_eq!(run_sql(&ctx, "SELECT count(*) AS n FROM account", OutputFormat::Csv).await.unwrap(), "n\n4\n");
    assert!(run_sql(&ctx, r#"SELECT count(*) FROM "order""#, OutputFormat::Csv).await.is_err());
    pg.drop_db().await;
}

/// A URL that cannot be reached, names no database there or does not parse: an error,
/// never the password (from the library and from the command line).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_target_url_is_an_error_without_its_password() {
    use converge::query::{target, TableFiles};
    let base = pg_base();
    let host = base.strip_prefix("postgres://").unwrap().split_once('@').map_or("127.0.0.1:5432", |(_, h)| h);
    let urls = [
        format!("postgres://postgres:s3cret-pw@{host}/cvg_no_such_database"),
        "postgres://postgres:s3cret-pw@127.0.0.1:1/db".to_string(),
        "postgres://postgres:s3cret-pw@127.0.0.1:notaport/db".to_string(),
    ];
    for url in &urls {
        let e = target::open(&[], TableFiles::Auto, url, "public").await.err().expect("a wrong URL fails");
        let text = format!("{e} {e:?}");
        assert!(!text.contains("s3cret-pw"), "{text}");
        assert!(text.contains("***"), "the URL is named, redacted: {text}");
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_converge"))
        .args(["query", "--target", &urls[0], "SELECT 1"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("s3cret-pw") && stderr.contains("cvg_no_such_database"), "{stderr}");
}

/// The command line: `--target URL` alone (bare names), beside a directory, and with
/// `--target-schema`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_command_takes_a_target() {
    let pg = target_db().await;
    let tmp = TempDir::new("querytargetcli");
    let (csv_dir, _) = export(tmp.path()).await;
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_converge")).arg("query").args(args).output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let alone = run(&["--target", &pg.url, r#"SELECT * FROM "user" ORDER BY id"#, "--format", "csv"]);
    assert_eq!(alone, TARGET_USERS);
    let beside = run(&[
        "--target",
        &pg.url,
        csv_dir.to_str().unwrap(),
        "SELECT count(*) AS n FROM account a LEFT JOIN target.account t ON t.id = a.id WHERE t.id IS NULL",
        "--format",
        "csv",
    ]);
    assert_eq!(beside, "n\n1\n");
    let schema = run(&["--target", &pg.url, "--target-schema", "app", "SELECT label FROM widget", "--format", "json"]);
    assert_eq!(serde_json::from_str::<serde_json::Value>(&schema).unwrap(), serde_json::json!([{"label": "seven"}]));
    // The URL from the environment (out of the process list) works as --target does.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_converge"))
        .args(["query", r#"SELECT * FROM "user" ORDER BY id"#, "--format", "csv"])
        .env("CONVERGE_QUERY_TARGET", &pg.url)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8(out.stdout).unwrap(), TARGET_USERS);
    pg.drop_db().await;
}
