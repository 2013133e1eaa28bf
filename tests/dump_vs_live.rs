//! The mysqldump source against the live source: one MariaDB database with every type
//! family, exported from the server (`kind = "mysql"`) and from `mariadb-dump` output of
//! it (`kind = "mysqldump"`) in four dump styles (with/without `--hex-blob`, with/without
//! `--skip-extended-insert`). Every CSV file must be byte-for-byte identical, and the
//! manifests may differ only in the run's own fields.
//!
//! FLOAT columns: `mariadb-dump` prints what the server's text protocol prints, and the
//! server prints a FLOAT with at most 6 significant digits (`1.2345678` is dumped as
//! `1.23457`, `16777217` — stored as 16777216 — as `16777200`). The dump itself has lost
//! those bits, so no dump reader can get them back. Every FLOAT value of the compared
//! tables therefore has at most 6 significant digits: an f32 holds 6 decimal digits
//! exactly, so those survive the dump text. The lossy values live in `lossy_floats`,
//! which is checked separately: the live export keeps the stored f32, the dump export
//! holds exactly what the dump text says. DOUBLE columns are printed shortest-round-trip
//! by the server and survive unchanged.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::*;
use converge::manifest::MANIFEST_FILE;

/// The tricky type families, on top of fixtures/alkemio.sql. Statements end with `;\n`.
const TRICKY: &str = r#"
CREATE TABLE ints (id int PRIMARY KEY, ti tinyint, tiu tinyint unsigned, si smallint, siu smallint unsigned, mi mediumint, miu mediumint unsigned, i int, iu int unsigned, bi bigint, biu bigint unsigned);
INSERT INTO ints VALUES (1, -128, 0, -32768, 0, -8388608, 0, -2147483648, 0, -9223372036854775808, 0), (2, 127, 255, 32767, 65535, 8388607, 16777215, 2147483647, 4294967295, 9223372036854775807, 18446744073709551615), (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
CREATE TABLE bools (id int PRIMARY KEY, b tinyint(1), bit1 bit(1));
INSERT INTO bools VALUES (1, 0, b'0'), (2, 1, b'1'), (3, NULL, NULL);
CREATE TABLE decimals (id int PRIMARY KEY, d decimal(65,30), m decimal(10,2), du decimal(20,0) unsigned);
INSERT INTO decimals VALUES (1, 99999999999999999999999999999999999.999999999999999999999999999999, 99999999.99, 99999999999999999999), (2, -99999999999999999999999999999999999.999999999999999999999999999999, -0.01, 0), (3, 0.000000000000000000000000000001, 0, NULL), (4, NULL, NULL, 1);
CREATE TABLE floats (id int PRIMARY KEY, f float, d double, f4 float(10,4));
INSERT INTO floats VALUES (1, 3.40282e38, 1.7976931348623157e308, 3.1416), (2, -3.40282e38, -1.7976931348623157e308, -1), (3, 1.17549e-38, 2.2250738585072014e-308, 0.0001), (4, 0.1, 0.1, 0.1), (5, -1.5, 4.9406564584124654e-324, 123456.7891), (6, 123456, 1.2345678901234567, NULL), (7, NULL, NULL, NULL), (8, 1e-10, 1e22, 0);
CREATE TABLE lossy_floats (id int PRIMARY KEY, f float);
INSERT INTO lossy_floats VALUES (1, 1.2345678), (2, 16777217), (3, 0.5);
CREATE TABLE dates (id int PRIMARY KEY, d date, dt datetime, dt6 datetime(6), ts6 timestamp(6) NULL, ts timestamp NULL, y year);
INSERT INTO dates VALUES (1, '1000-01-01', '1000-01-01 00:00:00', '1000-01-01 00:00:00.000000', '1970-01-01 00:00:01.000000', '1970-01-01 00:00:01', 1901), (2, '9999-12-31', '9999-12-31 23:59:59', '9999-12-31 23:59:59.999999', '2038-01-19 03:14:07.999999', '2038-01-19 03:14:07', 2155), (3, '2024-02-29', '2024-02-29 12:00:00', '2024-01-15 10:30:00.123456', '2024-01-15 10:30:00.000001', '2024-03-31 01:30:00', 2024), (4, NULL, NULL, NULL, NULL, NULL, NULL), (5, '2024-10-27', '2024-10-27 02:30:00', '2024-10-27 02:30:00.5', '2024-10-27 02:30:00.500000', '2024-10-27 01:30:00', 0);
CREATE TABLE times (id int PRIMARY KEY, t time, t6 time(6));
INSERT INTO times VALUES (1, '-838:59:59', '-838:59:59.000000'), (2, '838:59:59', '838:59:59.000000'), (3, '00:00:00', '-00:00:00.000001'), (4, '25:00:01', '00:00:00.5'), (5, NULL, NULL), (6, '-01:02:03', '-12:00:00.999999');
CREATE TABLE texts (id int PRIMARY KEY, c char(10), v varchar(255), t text, mt mediumtext);
INSERT INTO texts VALUES (1, 'abc', 'emoji 😀🎉 and 漢字 and العربية', 'line1\nline2\r\nline3', 'tab\there "quoted" \\ backslash'), (2, '', '\\N', 'a,b,"c"', ''), (3, NULL, 'NULL', '\\', 'ends with newline\n'), (4, 'ÿ', 'ℕ𝕆 ℤ𝔼ℝ𝕆', ' leading and trailing spaces ', 'x'), (5, 'it''s', 'semi;colon );\n(', 'ctrl \0 \Z \b end', 'percent % under _ \\% \\_'), (6, '\\N', '\'', '"', 'INSERT INTO `x` VALUES (1);\n-- not a comment\n/* nor this */');
CREATE TABLE latin (id int PRIMARY KEY, v varchar(50), t text) CHARACTER SET latin1;
INSERT INTO latin VALUES (1, 'café naïve £ ÿ', 'Ångström ©'), (2, CONVERT(X'80818D8F909D9EFF' USING latin1), CONVERT(X'78DA0B492D2E01FF' USING latin1)), (3, NULL, '');
CREATE TABLE uuids (id int PRIMARY KEY, u char(36), loose char(36), b16 binary(16));
INSERT INTO uuids VALUES (1, '0A1B2C3D-4E5F-4A6B-8C7D-9E0F1A2B3C4D', '', X'0A1B2C3D4E5F4A6B8C7D9E0F1A2B3C4D'), (2, 'ffffffff-ffff-4fff-bfff-ffffffffffff', 'not-a-uuid', X'00000000000000000000000000000000'), (3, NULL, NULL, NULL), (4, 'ABCDEF01-2345-4789-ABCD-EF0123456789', 'ABCDEF01-2345-4789-ABCD-EF0123456789', X'5C4E27220A0D001A5C5C3B2C28295F25');
CREATE TABLE blobs (id int PRIMARY KEY, b blob, vb varbinary(20), lb longblob);
INSERT INTO blobs VALUES (1, X'00FF00', X'', X'0000'), (2, X'5C4E', X'22272C0A0D', NULL), (3, X'E282AC', X'C3', X'1A00275C'), (4, 'plain text', '\\N', '');
CREATE TABLE jsons (id int PRIMARY KEY, j json);
INSERT INTO jsons VALUES (1, '{"a": [1, 2.5, null, true], "s": "quote \\" and newline \\n and 😀"}'), (2, '[]'), (3, '"just a string"'), (4, NULL), (5, '{"k": "\\\\N", "unicode": "\\u00e9"}');
CREATE TABLE enums (id int PRIMARY KEY, e enum('small','large','it''s'), s set('a','b','c'));
INSERT INTO enums VALUES (1, 'small', 'a,c'), (2, 'it''s', ''), (3, NULL, NULL), (4, 'large', 'a,b,c');
CREATE TABLE no_key (a int, b varchar(10));
INSERT INTO no_key VALUES (2, 'two'), (1, 'one'), (2, 'two');
CREATE TABLE empty_table (id char(36) PRIMARY KEY, note text);
CREATE TABLE `weird name` (`id` int PRIMARY KEY, `select` varchar(10), `col``tick` int);
INSERT INTO `weird name` VALUES (1, 'from', 7);
CREATE TRIGGER ints_touch BEFORE INSERT ON ints FOR EACH ROW SET NEW.ti = NEW.ti;
CREATE VIEW user_names AS SELECT id, `nameID` FROM `user`
"#;

const OPTIONS: &str = r#"
[options]
keep_audit_columns = true
batch_rows = 3

[[column]]
table = "user"
column = "serviceProfile"
type = "boolean"

# `uuids.loose` mixes an upper-case UUID with other codes: the live export sees that in
# the snapshot and keeps every value as it is; a dump is read once, so it stops at the
# mix unless a rule says so (this one, for both).
[[column]]
table = "uuids"
column = "loose"
type = "text"

[[sink]]
kind = "csv"
dir = "${OUT}"
"#;

async fn export(source: &str, vars: &[(&str, &str)]) -> PathBuf {
    let p = pipeline(&format!("name = \"dvl\"\n[source]\n{source}\n{OPTIONS}"), vars);
    let report =
        converge::run::run(&p, &Default::default()).await.unwrap_or_else(|e| panic!("export from {source}: {e}"));
    report.exports[0].clone()
}

/// The data files of an export directory, by name.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_name() != MANIFEST_FILE)
        .map(|e| (e.file_name().to_string_lossy().into_owned(), std::fs::read(e.path()).unwrap()))
        .collect()
}

fn manifest(dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir.join(MANIFEST_FILE)).unwrap()).unwrap()
}

/// The first differing line of two files, for a readable failure.
fn first_difference(a: &[u8], b: &[u8]) -> String {
    let (a, b) = (String::from_utf8_lossy(a), String::from_utf8_lossy(b));
    for (i, (x, y)) in a.split('\n').zip(b.split('\n')).enumerate() {
        if x != y {
            return format!("line {}:\n  live: {x:?}\n  dump: {y:?}", i + 1);
        }
    }
    format!("lengths differ: {} vs {}", a.len(), b.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dump_exports_equal_live_exports_byte_for_byte() {
    let my = MyDb::create("dvl").await;
    let alkemio = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/alkemio.sql")).unwrap();
    my.exec(&alkemio).await;
    my.exec(TRICKY).await;
    let tmp = TempDir::new("dvl");

    let live_out = tmp.path().join("live");
    let live = export(
        "kind = \"mysql\"\nurl = \"${MYSQL_URL}\"",
        &[("MYSQL_URL", &my.url), ("OUT", live_out.to_str().unwrap())],
    )
    .await;
    let live_files = files(&live);
    let live_manifest = manifest(&live);
    // The fixture is really there: every family's file, with rows.
    for t in ["user", "authorization_policy", "ints", "floats", "times", "texts", "latin", "uuids", "blobs", "jsons"] {
        let f = &live_files[&format!("{t}.csv")];
        assert!(f.iter().filter(|b| **b == b'\n').count() > 1, "{t}.csv has no rows");
    }
    // Both sides could be wrong the same way: pin a few decoded values.
    let text = |f: &str| String::from_utf8_lossy(&live_files[f]).into_owned();
    assert!(text("texts.csv").contains("\n2,\"\",\"\\N\",\"a,b,\"\"c\"\"\",\"\"\n"), "{}", text("texts.csv"));
    assert!(text("texts.csv").contains("\"semi;colon );\n(\""), "{}", text("texts.csv"));
    assert!(
        text("uuids.csv")
            .contains("\n1,0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d,\"\",\\x0a1b2c3d4e5f4a6b8c7d9e0f1a2b3c4d\n"),
        "{}",
        text("uuids.csv")
    );
    assert!(text("blobs.csv").contains("\n1,\\x00ff00,\\x,\\x0000\n"), "{}", text("blobs.csv"));
    assert!(text("times.csv").contains("\n1,-838:59:59,-838:59:59\n"), "{}", text("times.csv"));
    assert!(text("bools.csv").contains("\n2,t,t\n"), "{}", text("bools.csv"));
    assert!(text("latin.csv").contains("café naïve £ ÿ"), "{}", text("latin.csv"));
    assert!(!live_files.contains_key("user_names.csv"), "a view is not a table: {:?}", live_files.keys());

    let styles: [(&str, &[&str]); 4] = [
        ("extended", &[]),
        ("extended-hex-blob", &["--hex-blob"]),
        ("single-row", &["--skip-extended-insert"]),
        ("single-row-hex-blob", &["--skip-extended-insert", "--hex-blob"]),
    ];
    for (style, flags) in styles {
        let file = tmp.path().join(format!("{style}.sql"));
        mariadb_dump(&my.name, &file, flags);
        let text = std::fs::read(&file).unwrap();
        // The dump styles really differ the way their flags say.
        let hex_bytes = text.windows(10).any(|w| w == b",0x00FF00,");
        assert_eq!(hex_bytes, flags.contains(&"--hex-blob"), "{style}: hex blob literal");
        let one_row = memchr_count(&text, b"INSERT INTO `ints` VALUES");
        assert_eq!(one_row, if flags.contains(&"--skip-extended-insert") { 3 } else { 1 }, "{style}");

        let out = tmp.path().join(format!("out-{style}"));
        let dumped = export(
            "kind = \"mysqldump\"\npath = \"${DUMP}\"",
            &[("DUMP", file.to_str().unwrap()), ("OUT", out.to_str().unwrap())],
        )
        .await;
        let dump_files = files(&dumped);
        assert_eq!(
            live_files.keys().collect::<Vec<_>>(),
            dump_files.keys().collect::<Vec<_>>(),
            "{style}: the same files"
        );
        for (name, bytes) in &live_files {
            if name == "lossy_floats.csv" {
                continue;
            }
            assert!(
                bytes == &dump_files[name],
                "{style}: {name} differs from the live export at {}",
                first_difference(bytes, &dump_files[name])
            );
        }
        // FLOATs with more than 6 significant digits: the live export keeps the stored
        // f32; the dump holds the server's 6-digit text, and the dump export holds
        // exactly that (see the module comment).
        assert_eq!(
            String::from_utf8_lossy(&live_files["lossy_floats.csv"]),
            "id,f\n1,1.2345678\n2,16777216.0\n3,0.5\n"
        );
        assert_eq!(String::from_utf8_lossy(&dump_files["lossy_floats.csv"]), "id,f\n1,1.23457\n2,16777200.0\n3,0.5\n");
        assert!(text.windows(7).any(|w| w == b"1.23457"), "{style}: the dump text itself says 1.23457");

        // The manifests: equal but for the run's own fields.
        let dump_manifest = manifest(&dumped);
        for key in ["targetDatabase", "toolVersion", "pipeline"] {
            assert_eq!(live_manifest[key], dump_manifest[key], "{style}: manifest {key}");
        }
        assert_ne!(live_manifest["migrationId"], dump_manifest["migrationId"]);
        assert!(dump_manifest["sourceDatabase"].as_str().unwrap().starts_with("mysqldump:"));
        let live_tables = live_manifest["tables"].as_array().unwrap();
        let dump_tables = dump_manifest["tables"].as_array().unwrap();
        let names =
            |ts: &[serde_json::Value]| ts.iter().map(|t| t["name"].as_str().unwrap().to_string()).collect::<Vec<_>>();
        assert_eq!(names(live_tables), names(dump_tables), "{style}: tables in the same order");
        for (l, d) in live_tables.iter().zip(dump_tables) {
            let name = l["name"].as_str().unwrap();
            for key in ["rowCount", "file", "columns", "primaryKey"] {
                assert_eq!(l[key], d[key], "{style}: manifest of `{name}`: {key}");
            }
            if name != "lossy_floats" {
                for key in ["sha256", "bytes"] {
                    assert_eq!(l[key], d[key], "{style}: manifest of `{name}`: {key}");
                }
            }
            assert_eq!(l["rowCount"].as_u64().unwrap(), my.count(name).await, "{style}: rows of `{name}`");
        }
    }
    my.drop_db().await;
}

fn memchr_count(hay: &[u8], needle: &[u8]) -> usize {
    hay.windows(needle.len()).filter(|w| *w == needle).count()
}

/// Every run directory under a sink's base directory.
fn run_dirs(base: &Path) -> Vec<PathBuf> {
    match std::fs::read_dir(base) {
        Ok(rd) => rd.map(|e| e.unwrap().path()).filter(|p| p.is_dir() && !p.is_symlink()).collect(),
        Err(_) => Vec::new(),
    }
}

async fn run_dump(tmp: &Path, name: &str, text: &str) -> (String, PathBuf) {
    let path = tmp.join(name);
    std::fs::write(&path, text).unwrap();
    let out = tmp.join(format!("out-{name}"));
    let spec = "name = \"bad\"\n[source]\nkind = \"mysqldump\"\npath = \"${DUMP}\"\n[[sink]]\nkind = \"csv\"\ndir = \"${OUT}\"\n[[sink]]\nkind = \"parquet\"\ndir = \"${OUT}\"\n";
    let p = pipeline(spec, &[("DUMP", path.to_str().unwrap()), ("OUT", out.to_str().unwrap())]);
    let err = converge::run::run(&p, &Default::default()).await.expect_err("a malformed dump must fail");
    (err.to_string(), out)
}

/// A dump cut off in the middle of an INSERT fails the run with an error naming the
/// file and the line, and leaves no manifest. (The truncation is found by the schema
/// pass, which reads the whole file before any export directory is made.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_dump_fails_naming_the_line_and_writes_no_manifest() {
    let tmp = TempDir::new("trunc");
    let full = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/demo.sql")).unwrap();
    // Cut inside a quoted string of the last INSERT statement.
    let last_insert = full.rfind("INSERT INTO").expect("the demo dump has INSERTs");
    let quote = last_insert + full[last_insert..].find('\'').expect("a string literal");
    let cut = &full[..quote + 2];
    let (err, out) = run_dump(tmp.path(), "truncated.sql", cut).await;
    assert!(
        err.contains(&format!("truncated.sql:{}:", cut.matches('\n').count() + 1)),
        "the error names the file and the line of the unterminated literal: {err}"
    );
    assert!(err.contains("truncated"), "the error says the dump is truncated: {err}");
    for d in run_dirs(&out) {
        assert!(!d.join(MANIFEST_FILE).exists(), "no manifest after a failed run: {}", d.display());
    }
    assert!(!out.join("latest").exists(), "`latest` does not point at a failed run");
}

/// A dump whose INSERT data is malformed (found by the data pass, after the export
/// directory exists) fails naming file, line and table; the directory gets a FAILED
/// note and no manifest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_rows_fail_naming_the_line_and_leave_failed_not_manifest() {
    let tmp = TempDir::new("malformed");
    let mut text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/demo.sql")).unwrap();
    let line = text.matches('\n').count() + 1;
    text.push_str("INSERT INTO `user` VALUES ('0b5e1c2a-4444-4a44-8a44-0000000000ff', 'too few');\n");
    let (err, out) = run_dump(tmp.path(), "malformed.sql", &text).await;
    assert!(err.contains(&format!("malformed.sql:{line}:")), "the error names the file and line {line}: {err}");
    assert!(err.contains("`user`") && err.contains("values"), "the error names the table and the problem: {err}");
    let runs = run_dirs(&out);
    assert_eq!(runs.len(), 1, "one run directory: {runs:?}");
    assert!(!runs[0].join(MANIFEST_FILE).exists(), "no manifest after a failed run");
    let failed = std::fs::read_to_string(runs[0].join("FAILED")).expect("a FAILED note");
    assert!(failed.contains(&format!("malformed.sql:{line}:")), "{failed}");
    assert!(!out.join("latest").exists(), "`latest` does not point at a failed run");
}

/// Every fact `converge schema` uses — defaults (literals with quotes, backslashes and
/// newlines, numbers, bits, expressions, CURRENT_TIMESTAMP(n)), AUTO_INCREMENT, ON
/// UPDATE, generated columns, comments, collations, unique / prefix / descending /
/// FULLTEXT indexes, FK actions, column and table CHECKs, table comments and
/// partitioning — is read the same from the dump as from the live server.
const SHAPES: &str = r#"
CREATE TABLE p (id int PRIMARY KEY, name varchar(20) COLLATE utf8mb4_bin NOT NULL DEFAULT 'it''s \\ x');
CREATE TABLE f (id bigint unsigned NOT NULL AUTO_INCREMENT COMMENT 'the id', pid int DEFAULT NULL, a int NOT NULL DEFAULT (1+2), u char(36) DEFAULT uuid(), d decimal(5,2) DEFAULT -1.50, b bit(3) DEFAULT b'101', t text, ts timestamp(3) NOT NULL DEFAULT current_timestamp(3) ON UPDATE current_timestamp(3), dt datetime DEFAULT NULL ON UPDATE now(), g int GENERATED ALWAYS AS (a * 2) VIRTUAL, gs varchar(30) AS (concat(name2, 'x')) STORED, name2 varchar(10) CHARACTER SET latin1 COLLATE latin1_general_ci DEFAULT '', l1 varchar(10) CHARACTER SET latin1, e enum('x','y') NOT NULL DEFAULT 'y', c int CHECK (c IS NOT NULL OR c > 0), j json, s varchar(5) DEFAULT 'a\nb', `order` int NOT NULL, PRIMARY KEY (id), UNIQUE KEY uq (a, u), KEY ix (name2(5), d DESC), FULLTEXT KEY ft (t), CONSTRAINT fk FOREIGN KEY (pid) REFERENCES p (id) ON DELETE SET NULL ON UPDATE CASCADE, CONSTRAINT `chk` CHECK (a < 100)) ENGINE=InnoDB AUTO_INCREMENT=42 DEFAULT CHARSET=utf8mb4 COMMENT='a ''table''';
CREATE TABLE `query-result-cache` (id int NOT NULL, fid bigint unsigned, k varchar(10) NOT NULL, PRIMARY KEY (id, k), CONSTRAINT `FK_f` FOREIGN KEY (fid) REFERENCES f (id) ON DELETE CASCADE, CONSTRAINT self FOREIGN KEY (id, k) REFERENCES `query-result-cache` (id, k) ON UPDATE NO ACTION) CHARACTER SET latin1;
CREATE TABLE parts (id int NOT NULL, PRIMARY KEY (id)) PARTITION BY HASH (id) PARTITIONS 2;
CREATE TABLE ranges (id int NOT NULL, PRIMARY KEY (id)) PARTITION BY RANGE (id) (PARTITION p0 VALUES LESS THAN (10), PARTITION p1 VALUES LESS THAN MAXVALUE);
CREATE TABLE ai (id int AUTO_INCREMENT PRIMARY KEY, x blob, UNIQUE KEY ux (x));
CREATE TABLE checks (id int, CHECK (id > 1), CHECK (id < 5))
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dump_schema_equals_live_schema() {
    let my = MyDb::create("dvls").await;
    my.exec(SHAPES).await;
    let tmp = TempDir::new("dvls");
    let file = tmp.path().join("shapes.sql");
    mariadb_dump(&my.name, &file, &["--no-data"]);
    let mut conn = my.conn().await;
    let live = converge::mysql::introspect(&mut conn, &my.name).await.unwrap();
    drop(conn);
    let dumped = converge::source::mysqldump::read_schema(&file).unwrap();
    assert_eq!(live.len(), 7);
    assert_eq!(dumped.len(), live.len());
    for (l, d) in live.iter().zip(&dumped) {
        let l = converge::schema::Table { estimated_rows: 0, ..l.clone() };
        for (lc, dc) in l.columns.iter().zip(&d.columns) {
            assert_eq!(lc, dc, "table `{}`", l.name);
        }
        assert_eq!(&l, d, "table `{}`", l.name);
    }
    let f = live.iter().find(|t| t.name == "f").unwrap();
    assert_eq!(f.auto_increment, Some(42));
    assert_eq!(f.checks.len(), 3, "c, j (json_valid) and chk");
    assert_eq!(f.foreign_keys[0].on_delete, "SET NULL");
    assert_eq!(f.indexes.iter().map(|i| i.name.as_str()).collect::<Vec<_>>(), ["fk", "ft", "ix", "uq"]);
    my.drop_db().await;
}
