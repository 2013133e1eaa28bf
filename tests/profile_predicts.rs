//! `converge plan --profile` predicts the run: for each class of value the run refuses or
//! changes (one row of [`CASES`]: a source column type, a target column type, the values,
//! the pipeline's rule), the profile lists exactly what the run then does — a refusal
//! predicted if and only if the run refuses, naming the row the run names; a counted
//! change predicted with the count the run's report gives — and a value that loads
//! exactly is not listed. A new class is one more row.
//!
//! Each case works in its own throw-away databases on the local servers.

mod common;

use common::*;

/// What the run does with a case's values.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Run {
    /// Refuses: `n` values are refused, the first of them named by the run.
    Refuses(u64),
    /// Loads, and counts `n` values changed.
    Counts(u64),
    /// Loads every value exactly.
    Exact,
    /// Refuses the table: `n` values are duplicated under a unique index of the target.
    Clashes(u64),
    /// Refuses the load: `n` rows reference no row under a foreign key of the target.
    Orphans(u64),
}

struct Case {
    name: &'static str,
    /// The source column `v`'s type, and the SQL of its values (rows id = 1, 2, …).
    my_type: &'static str,
    values: &'static [&'static str],
    /// The target column `v`'s type (after `pg_setup`, when it declares one); [`CREATED`]:
    /// the run creates the target (`create = "missing"`), `pg_setup` then adds sink keys.
    pg_type: &'static str,
    pg_setup: &'static str,
    /// TOML: `[source]` lines, then anything after the source (options, rules).
    source: &'static str,
    rules: &'static str,
    run: Run,
}

const RULE_ALLOW: &str = "[[column]]\ntable = \"t\"\ncolumn = \"v\"\nallow_change = true\n";
const RULE_TEXT: &str = "[[column]]\ntable = \"t\"\ncolumn = \"v\"\ntype = \"text\"\n";
const ZERO_NULL: &str = "[options]\nzero_date = \"null\"\n";
const BERLIN: &str = "datetime_zone = \"Europe/Berlin\"\n";
const JSON_FIRST: &str = "[options]\njson_duplicates = \"first\"\n";
const JSON_LAST: &str = "[options]\njson_duplicates = \"last\"\n";
const JSON_PLAIN: &str = r#"'{"role": "user"}'"#;
const JSON_DUP: &str = r#"'{"role": "user", "n": {"a": 1, "a": 2}, "role": "admin"}'"#;
const NINES_38: &str = "99999999999999999999999999999999999999";
const CREATED: &str = "";
const ICU: &str = "case_insensitive = \"icu\"\n";
/// A generated column MariaDB computes in a non-strict session (`v` = `a * c`).
const PRODUCT: &str = "int AS (a * c) STORED, a int, c int";
const PARENT: &str = "CREATE TABLE p (k int PRIMARY KEY);\nINSERT INTO p VALUES (1);\n";
const CITEXT: &str = "CREATE EXTENSION IF NOT EXISTS citext;\n";
const ICU_CI: &str = "CREATE COLLATION ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false);\n";
const POSTGIS: &str = "CREATE EXTENSION postgis;\n";
const PT_4326: &str = "ST_GeomFromText('POINT(1 2)', 4326)";
const PT_0: &str = "ST_GeomFromText('POINT(1 2)')";
/// A target `v` of timestamptz with a unique index over its UTC day (the text closes the
/// table's definition and adds the index).
const UTC_DAY: &str = "timestamptz);\nCREATE UNIQUE INDEX utc_day ON t ((date(v AT TIME ZONE 'UTC'))";
const LOWER: &str = "[[transform]]\ntable = \"t\"\nsql = \"SELECT id, lower(v) AS v FROM input\"\n";
const UUID_PARENT: &str =
    "CREATE TABLE p (k uuid PRIMARY KEY);\nINSERT INTO p VALUES ('0a000000-0000-4000-8000-000000000001');\n";
const JSON_A1: &str = r#"'{"a": 1, "a": 2}'"#;
const JSON_A2: &str = r#"'{"a": 2}'"#;
/// A target `v` no value `x` may hold, and a [[transform]] lower-casing `v`.
const NOT_X: &str = "varchar(20) CHECK (v <> 'x')";
/// A target `v` of timestamptz that must fall before 2024-06-02 UTC.
const BEFORE_JUNE_2: &str = "timestamptz CHECK (v < '2024-06-02 00:00:00+00')";
/// A target `v` whose CHECK overflows integer arithmetic past 21474.
const TIMES_100K: &str = "int CHECK (v * 100000 > 0)";
const MAX_65_30: &str = "99999999999999999999999999999999999.999999999999999999999999999999";

/// One row per class of value the run refuses or counts, and values that load exactly.
#[rustfmt::skip]
const CASES: &[Case] = &[
    Case { name: "38 nines in decimal(38,0)", my_type: "decimal(38,0)", values: &[NINES_38, "-1"], pg_type: "numeric(38,0)", pg_setup: "", source: "", rules: "", run: Run::Exact },
    Case { name: "the maximum of decimal(20,2)", my_type: "decimal(20,2)", values: &["999999999999999999.99", "-999999999999999999.99"], pg_type: "numeric(20,2)", pg_setup: "", source: "", rules: "", run: Run::Exact },
    Case { name: "the maximum of decimal(65,30)", my_type: "decimal(65,30)", values: &[MAX_65_30, "0.000000000000000000000000000001"], pg_type: "numeric(65,30)", pg_setup: "", source: "", rules: "", run: Run::Exact },
    Case { name: "a NUL byte in text", my_type: "varchar(20)", values: &["'ok'", "CONCAT('a', CHAR(0), 'b')", "CHAR(0)"], pg_type: "text", pg_setup: "", source: "", rules: "", run: Run::Refuses(2) },
    Case { name: "a DATETIME in a clock change, datetime_zone", my_type: "datetime", values: &["'2024-03-31 01:59:59'", "'2024-03-31 02:30:00'", "'2024-10-27 02:30:00'"], pg_type: "timestamptz", pg_setup: "", source: BERLIN, rules: "", run: Run::Refuses(2) },
    Case { name: "a bigint above 2^53 into double precision", my_type: "bigint", values: &["9007199254740992", "9007199254740993"], pg_type: "double precision", pg_setup: "", source: "", rules: "", run: Run::Refuses(1) },
    Case { name: "an int above 2^24 into real", my_type: "int", values: &["16777216", "16777217", "-16777217"], pg_type: "real", pg_setup: "", source: "", rules: "", run: Run::Refuses(2) },
    Case { name: "a negative TIME into time", my_type: "time", values: &["'23:59:59'", "'-00:00:01'"], pg_type: "time", pg_setup: "", source: "", rules: "", run: Run::Refuses(1) },
    Case { name: "a bigint outside integer", my_type: "bigint", values: &["2147483647", "2147483648"], pg_type: "integer", pg_setup: "", source: "", rules: "", run: Run::Refuses(1) },
    Case { name: "a fraction into integer", my_type: "decimal(10,2)", values: &["2.00", "2.50"], pg_type: "integer", pg_setup: "", source: "", rules: "", run: Run::Refuses(1) },
    Case { name: "a smaller numeric scale", my_type: "decimal(12,4)", values: &["1.2300", "1.2349", "-0.0050"], pg_type: "numeric(8,2)", pg_setup: "", source: "", rules: "", run: Run::Refuses(2) },
    Case { name: "a smaller numeric scale, allowed", my_type: "decimal(12,4)", values: &["1.2300", "1.2349", "-0.0050"], pg_type: "numeric(8,2)", pg_setup: "", source: "", rules: RULE_ALLOW, run: Run::Counts(2) },
    Case { name: "fewer fractional seconds", my_type: "datetime(6)", values: &["'2024-01-01 10:00:00'", "'2024-01-01 10:00:00.5'"], pg_type: "timestamp(0)", pg_setup: "", source: "", rules: "", run: Run::Refuses(1) },
    Case { name: "fewer fractional seconds, allowed", my_type: "datetime(6)", values: &["'2024-01-01 10:00:00'", "'2024-01-01 10:00:00.5'"], pg_type: "timestamp(0)", pg_setup: "", source: "", rules: RULE_ALLOW, run: Run::Counts(1) },
    Case { name: "a value longer than varchar(n)", my_type: "varchar(20)", values: &["'12345'", "'123456'", "'1234567'"], pg_type: "varchar(5)", pg_setup: "", source: "", rules: "", run: Run::Refuses(2) },
    Case { name: "not 0 or 1 into boolean", my_type: "tinyint(1)", values: &["1", "0", "5"], pg_type: "boolean", pg_setup: "", source: "", rules: "", run: Run::Refuses(1) },
    Case { name: "not a UUID into uuid", my_type: "char(36)", values: &["'0a000000-0000-4000-8000-000000000001'", "'not-a-uuid'"], pg_type: "uuid", pg_setup: "", source: "", rules: "", run: Run::Refuses(1) },
    Case { name: "upper-case UUIDs, lower-cased", my_type: "char(36)", values: &["'0A000000-0000-4000-8000-000000000001'", "'0a000000-0000-4000-8000-000000000002'"], pg_type: "uuid", pg_setup: "", source: "", rules: "", run: Run::Counts(1) },
    Case { name: "JSON duplicate keys (MariaDB reads the first)", my_type: "json", values: &[JSON_PLAIN, JSON_DUP, JSON_DUP], pg_type: "jsonb", pg_setup: "", source: "", rules: "", run: Run::Refuses(2) },
    Case { name: "JSON duplicate keys, json_duplicates = first", my_type: "json", values: &[JSON_PLAIN, JSON_DUP], pg_type: "jsonb", pg_setup: "", source: "", rules: JSON_FIRST, run: Run::Counts(1) },
    Case { name: "JSON duplicate keys, json_duplicates = last", my_type: "json", values: &[JSON_PLAIN, JSON_DUP], pg_type: "jsonb", pg_setup: "", source: "", rules: JSON_LAST, run: Run::Counts(1) },
    Case { name: "FLOATs whose shortest text reads otherwise, into double precision", my_type: "float", values: &["0.5", "0.1", "NULL"], pg_type: "double precision", pg_setup: "", source: "", rules: "", run: Run::Counts(1) },
    Case { name: "a zero date", my_type: "datetime", values: &["'2024-01-01 00:00:00'", "'0000-00-00 00:00:00'"], pg_type: "timestamp", pg_setup: "", source: "", rules: "", run: Run::Refuses(1) },
    Case { name: "a zero date, written as NULL", my_type: "datetime", values: &["'0000-00-00 00:00:00'", "'2024-01-01 00:00:00'", "'0000-00-00 00:00:00'"], pg_type: "timestamp", pg_setup: "", source: "", rules: ZERO_NULL, run: Run::Counts(2) },
    Case { name: "invalid UTF-8 carried as text", my_type: "varbinary(10)", values: &["X'6f6b'", "X'ff'"], pg_type: "text", pg_setup: "", source: "", rules: RULE_TEXT, run: Run::Refuses(1) },
    Case { name: "NULL into NOT NULL", my_type: "int NULL", values: &["1", "NULL", "NULL"], pg_type: "int NOT NULL", pg_setup: "", source: "", rules: "", run: Run::Refuses(2) },
    Case { name: "not a label of the target's enum", my_type: "enum('a','b')", values: &["'a'", "'b'"], pg_type: "mood", pg_setup: "CREATE TYPE mood AS ENUM ('a');\n", source: "", rules: "", run: Run::Refuses(1) },
    Case { name: "duplicates under a unique index the source lacks", my_type: "varchar(20)", values: &["'x'", "'y'", "'x'", "'z'", "'y'", "'x'"], pg_type: "text UNIQUE", pg_setup: "", source: "", rules: "", run: Run::Clashes(2) },
    Case { name: "values MySQL keeps apart, one under citext", my_type: "varchar(20) COLLATE utf8mb4_bin", values: &["'a'", "'A'", "'b'"], pg_type: "citext UNIQUE", pg_setup: CITEXT, source: "", rules: "", run: Run::Clashes(1) },
    Case { name: "values MySQL keeps apart, one under an ICU ci collation", my_type: "varchar(20) COLLATE utf8mb4_bin", values: &["'b'", "'B'", "'x'"], pg_type: "text COLLATE ci UNIQUE", pg_setup: ICU_CI, source: "", rules: "", run: Run::Clashes(1) },
    Case { name: "NULLs and case under a unique index", my_type: "varchar(20)", values: &["'a'", "'A'", "NULL", "NULL"], pg_type: "text UNIQUE", pg_setup: "", source: "", rules: "", run: Run::Exact },
    Case { name: "an int * int MariaDB stored clipped, computed by PostgreSQL", my_type: PRODUCT, values: &["DEFAULT, 2, 3", "DEFAULT, 100000, 100000", "DEFAULT, -100000, 100000"], pg_type: CREATED, pg_setup: "", source: "", rules: "", run: Run::Refuses(2) },
    Case { name: "an int * int in range, computed by PostgreSQL", my_type: PRODUCT, values: &["DEFAULT, 2, 3", "DEFAULT, 46340, 46340", "DEFAULT, NULL, 1"], pg_type: CREATED, pg_setup: "", source: "", rules: "", run: Run::Exact },
    Case { name: "values MySQL's _ci keeps apart, created under ICU", my_type: "varchar(20) COLLATE utf8mb4_general_ci UNIQUE", values: &["'ß'", "'ss'", "'x'"], pg_type: CREATED, pg_setup: ICU, source: "", rules: "", run: Run::Clashes(1) },
    Case { name: "an orphan under a foreign key onto a table the run does not load", my_type: "int", values: &["1", "2", "2", "NULL"], pg_type: "int REFERENCES p", pg_setup: PARENT, source: "", rules: "", run: Run::Orphans(2) },
    Case { name: "an orphan under a self-referencing foreign key", my_type: "int", values: &["NULL", "1", "7"], pg_type: "int REFERENCES t", pg_setup: "", source: "", rules: "", run: Run::Orphans(1) },
    Case { name: "values too long for a unique varchar(n), alike in its first n characters", my_type: "varchar(20)", values: &["'abcdef1'", "'abcdef2'", "'x'"], pg_type: "varchar(5) UNIQUE", pg_setup: "", source: "", rules: "", run: Run::Refuses(2) },
    Case { name: "another SRID into geometry(Point,4326)", my_type: "point", values: &[PT_4326, "ST_GeomFromText('POINT(1 2)', 3857)"], pg_type: "geometry(Point,4326)", pg_setup: POSTGIS, source: "", rules: "", run: Run::Refuses(1) },
    Case { name: "another kind into geometry(Point,4326)", my_type: "geometry", values: &[PT_4326, "ST_GeomFromText('LINESTRING(0 0, 1 1)', 4326)"], pg_type: "geometry(Point,4326)", pg_setup: POSTGIS, source: "", rules: "", run: Run::Refuses(1) },
    Case { name: "an SRID above PostGIS's 999999", my_type: "geometry", values: &[PT_4326, "ST_GeomFromText('POINT(1 2)', 1000000)"], pg_type: "geometry", pg_setup: POSTGIS, source: "", rules: "", run: Run::Refuses(1) },
    Case { name: "SRID 0 given the column's SRID", my_type: "point", values: &[PT_4326, PT_0, PT_0], pg_type: "geometry(Point,4326)", pg_setup: POSTGIS, source: "", rules: "", run: Run::Refuses(2) },
    Case { name: "SRID 0 given the column's SRID, allowed", my_type: "point", values: &[PT_4326, PT_0, PT_0], pg_type: "geometry(Point,4326)", pg_setup: POSTGIS, source: "", rules: RULE_ALLOW, run: Run::Counts(2) },
    // Only the rehearsed values (after normalisation and [[transform]] SQL, as the run loads
    // them) collide or orphan; the source's text says otherwise.
    Case { name: "DATETIMEs datetime_zone moves into one UTC day, under a unique index of it", my_type: "datetime", values: &["'2024-06-01 23:30:00'", "'2024-06-02 01:00:00'", "'2024-06-03 12:00:00'"], pg_type: UTC_DAY, pg_setup: "", source: BERLIN, rules: "", run: Run::Clashes(1) },
    Case { name: "a [[transform]] lower(v) making A and a one value of a unique column", my_type: "varchar(20) COLLATE utf8mb4_bin", values: &["'A'", "'a'", "'b'"], pg_type: "varchar(20) UNIQUE", pg_setup: "", source: "", rules: LOWER, run: Run::Clashes(1) },
    Case { name: "a UUID foreign key matching its parent, beside a value the run refuses", my_type: "char(36)", values: &["'0a000000-0000-4000-8000-000000000001'", "'not-a-uuid'"], pg_type: "uuid REFERENCES p", pg_setup: UUID_PARENT, source: "", rules: "", run: Run::Refuses(1) },
    Case { name: "a [[transform]] lower(v) turning X into the x a CHECK refuses", my_type: "varchar(20)", values: &["'a'", "'X'", "'b'", "'x'"], pg_type: NOT_X, pg_setup: "", source: "", rules: LOWER, run: Run::Refuses(2) },
    Case { name: "DATETIMEs datetime_zone moves to either side of a CHECK", my_type: "datetime", values: &["'2024-06-02 01:00:00'", "'2024-06-02 03:00:00'", "'2024-06-01 12:00:00'"], pg_type: BEFORE_JUNE_2, pg_setup: "", source: BERLIN, rules: "", run: Run::Refuses(1) },
    Case { name: "a CHECK whose arithmetic overflows on a value", my_type: "int", values: &["1", "-5", "100000"], pg_type: TIMES_100K, pg_setup: "", source: "", rules: "", run: Run::Refuses(2) },
    Case { name: "JSON duplicate keys the text reads as one value, json_duplicates = first", my_type: "json", values: &[JSON_A1, JSON_A2], pg_type: "jsonb UNIQUE", pg_setup: "", source: "", rules: JSON_FIRST, run: Run::Counts(1) },
];

/// The findings `plan --profile --json` gives for column `v`, as (blocking, count,
/// examples), and whether the command succeeded.
/// A finding as the test reads it: (blocking, count, example keys).
type Listed = (bool, u64, Vec<String>);

fn profile(dir: &TempDir, text: &str) -> (bool, Vec<Listed>, String) {
    let file = dir.path().join("p.toml");
    std::fs::write(&file, text).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_converge"))
        .args(["--json", "plan", "--profile"])
        .arg(&file)
        .output()
        .unwrap();
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {out:?}"));
    let found = j["profile"].as_array().unwrap_or_else(|| panic!("no profile: {j}"));
    let listed = found
        .iter()
        .map(|f| {
            // Column `v`, or an index's expression over it.
            let column = f["column"].as_str().unwrap_or_default();
            assert!(f["table"] == "t" && (column == "v" || column.contains("(v ")), "{f}");
            let examples = f["examples"].as_array().unwrap().iter().map(|e| e.as_str().unwrap().to_string());
            (f["blocking"].as_bool().unwrap(), f["count"].as_u64().unwrap(), examples.collect())
        })
        .collect();
    (out.status.success(), listed, j["profile"].to_string())
}

/// What the run's report counts as changed in column `v`.
fn counted(r: &converge::run::RunReport) -> u64 {
    let changed: u64 = r.load.iter().flat_map(|l| &l.changed).filter(|(_, c, _)| c == "v").map(|x| x.2).sum();
    let floats: u64 = r.load.iter().flat_map(|l| &l.float_exact).filter(|(_, c, _)| c == "v").map(|x| x.2).sum();
    let zero: u64 =
        r.tables.iter().flat_map(|t| &t.stats.zero_dates_nulled).filter(|(c, _)| c == "v").map(|x| x.1).sum();
    let normalized: u64 =
        r.tables.iter().flat_map(|t| &t.stats.normalized).filter(|(c, _, _)| c == "v").map(|x| x.2).sum();
    changed + floats + zero + normalized
}

/// The rows of the target's `t` (none when the run left it uncreated).
async fn loaded(pg: &PgDb) -> i64 {
    let exists = pg.client.query_one("SELECT to_regclass('t') IS NOT NULL", &[]).await.unwrap().get::<_, bool>(0);
    if !exists {
        return 0;
    }
    pg.client.query_one("SELECT count(*) FROM t", &[]).await.unwrap().get(0)
}

async fn check(case: &Case) {
    let my = MyDb::create("pp").await;
    let rows: Vec<String> = case.values.iter().enumerate().map(|(i, v)| format!("({}, {v})", i + 1)).collect();
    my.exec(&format!(
        "SET SESSION sql_mode = '';\nCREATE TABLE t (id int PRIMARY KEY, v {});\nINSERT INTO t VALUES {}",
        case.my_type,
        rows.join(", ")
    ))
    .await;
    let pg = PgDb::create("pp").await;
    let create = if case.pg_type == CREATED {
        format!("create = \"missing\"\n{}", case.pg_setup)
    } else {
        let ddl = format!("{}CREATE TABLE t (id int PRIMARY KEY, v {})", case.pg_setup, case.pg_type);
        pg.client.batch_execute(&ddl).await.unwrap();
        String::new()
    };
    let text = format!(
        "name = \"pp\"\n[source]\nkind = \"mysql\"\nurl = \"{}\"\n{}{}\n[[sink]]\nkind = \"postgres\"\nurl = \"{}\"\n{create}",
        my.url, case.source, case.rules, pg.url
    );
    let dir = TempDir::new("pp");
    let (ok, listed, shown) = profile(&dir, &text);
    let p = pipeline(&text, &[]);
    let run = converge::run::run(&p, &Default::default()).await;
    let name = case.name;
    match case.run {
        Run::Refuses(n) => {
            let err = run.expect_err(name).to_string();
            assert!(!ok, "{name}: plan --profile must fail: {shown}");
            // Every finding stops the run; their counts add up to the values refused (one
            // class may hold several reasons: a wall time skipped, one repeated).
            assert!(listed.iter().all(|f| f.0), "{name}: {shown}");
            assert_eq!(listed.iter().map(|f| f.1).sum::<u64>(), n, "{name}: values refused: {shown}");
            // The run names the first refused row (the target's own refusals name no column).
            assert!(err.contains(&format!("row {}", listed[0].2[0])), "{name}: the run names {err}; {shown}");
            assert_eq!(loaded(&pg).await, 0, "{name}");
        }
        Run::Clashes(n) => {
            let err = run.expect_err(name).to_string();
            assert!(!ok, "{name}: plan --profile must fail: {shown}");
            assert_eq!(listed.len(), 1, "{name}: one unique index: {shown}");
            assert_eq!((listed[0].0, listed[0].1), (true, n), "{name}: values duplicated: {shown}");
            assert!(err.contains(&format!("{n} duplicated values")), "{name}: the run says {err}; {shown}");
            assert_eq!(loaded(&pg).await, 0, "{name}");
        }
        Run::Orphans(n) => {
            let err = run.expect_err(name).to_string();
            assert!(!ok, "{name}: plan --profile must fail: {shown}");
            assert_eq!(listed.len(), 1, "{name}: one foreign key: {shown}");
            assert_eq!((listed[0].0, listed[0].1), (true, n), "{name}: rows orphaned: {shown}");
            assert!(err.contains(&format!("{n} orphaned rows")), "{name}: the run says {err}; {shown}");
            assert_eq!(loaded(&pg).await, 0, "{name}");
        }
        Run::Counts(n) => {
            let r = run.unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(counted(&r), n, "{name}: the run counts");
            assert!(ok, "{name}: a counted change does not stop the run: {shown}");
            assert_eq!(listed.len(), 1, "{name}: one finding: {shown}");
            assert_eq!((listed[0].0, listed[0].1), (false, n), "{name}: {shown}");
        }
        Run::Exact => {
            let r = run.unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(counted(&r), 0, "{name}");
            assert!(ok && listed.is_empty(), "{name}: nothing to list: {shown}");
            // Loaded exactly: the target's text of each value is MySQL's.
            let mut c = my.conn().await;
            let mine: Vec<Option<String>> =
                mysql_async::prelude::Queryable::query(&mut c, "SELECT CAST(v AS CHAR) FROM t ORDER BY id")
                    .await
                    .unwrap();
            let theirs: Vec<Option<String>> = pg
                .client
                .query("SELECT v::text FROM t ORDER BY id", &[])
                .await
                .unwrap()
                .iter()
                .map(|r| r.get(0))
                .collect();
            assert_eq!(mine, theirs, "{name}");
        }
    }
    pg.drop_db().await;
    my.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_profile_predicts_what_the_run_refuses_counts_and_loads() {
    use futures::FutureExt;
    let mut failed = Vec::new();
    for case in CASES {
        if let Err(e) = std::panic::AssertUnwindSafe(check(case)).catch_unwind().await {
            let why = e.downcast_ref::<String>().cloned().or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()));
            failed.push(format!("{}: {}", case.name, why.unwrap_or_default()));
        }
    }
    assert!(failed.is_empty(), "{} of {} cases differ:\n{}", failed.len(), CASES.len(), failed.join("\n"));
}
