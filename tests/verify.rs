//! `converge verify` against the local servers: a clean migration passes; one changed
//! cell, one deleted row, one added row, one orphaned foreign key, one sequence set back
//! and one dropped index each fail, naming the table, the check and the keys; the
//! key-range search finds one changed row among a million while reading few rows.

mod common;

use common::*;
use converge::verify::digest::RowDiff;
use converge::verify::report::{Outcome, Report, Section};
use converge::verify::{verify, Depth};

const MY_SCHEMA: &str = "CREATE TABLE org (id char(36) PRIMARY KEY, name varchar(50) NOT NULL);\n\
CREATE TABLE person (id char(36) PRIMARY KEY, orgId char(36) NULL, active tinyint(1) NOT NULL, born datetime(6) NULL, \
 seen timestamp(6) NULL, settings json NULL, avatar blob NULL, n bigint unsigned NULL, score double NULL, ratio float NULL, \
 amount decimal(30,10) NULL, spent time(6) NULL, kind enum('a','b') NULL, tags set('x','y') NULL, y year NULL, note text NULL, \
 legacy char(36) NULL, CONSTRAINT fk_person_org FOREIGN KEY (orgId) REFERENCES org(id));\n\
CREATE TABLE ticket (id int AUTO_INCREMENT PRIMARY KEY, personId char(36) NULL, title varchar(200) NOT NULL, \
 KEY idx_ticket_person (personId), KEY idx_ticket_title (title));\n\
CREATE TABLE `query-result-cache` (k varchar(20) NOT NULL, part int NOT NULL, v text, PRIMARY KEY (k, part))";

const MY_DATA: &str = "INSERT INTO org VALUES ('0A000000-0000-4000-8000-000000000001', 'Acme'), ('0a000000-0000-4000-8000-000000000002', 'Umbrella');\n\
INSERT INTO person VALUES \
 ('0B000000-0000-4000-8000-000000000001', '0a000000-0000-4000-8000-000000000001', 1, '2024-01-15 10:30:00.123456', '2024-02-01 00:00:00.000001', \
  '{\"b\": [1, 2.5, {\"z\": null}], \"a\": \"é\"}', X'00FF10', 18446744073709551615, 1e300, 0.1, -12345678901234567890.0123456789, '-838:59:59.000001', 'b', 'x,y', 1901, 'line\\nbreak \\\\ tab\\t', ''),\
 ('0b000000-0000-4000-8000-000000000002', '0a000000-0000-4000-8000-000000000002', 0, NULL, NULL, NULL, '', 0, 0.00001, -3.5, 0, '838:59:59', 'a', '', 2155, '', 'not-a-uuid-but-kept'),\
 ('0b000000-0000-4000-8000-000000000003', NULL, 1, '1000-01-01 00:00:00', '1970-01-01 00:00:01', '[]', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);\n\
INSERT INTO ticket (personId, title) VALUES ('0b000000-0000-4000-8000-000000000001', 'first \"one\"'), (NULL, 'emoji 😀'), ('0b000000-0000-4000-8000-000000000002', 'x');\n\
INSERT INTO `query-result-cache` VALUES ('a', 1, 'one'), ('a', 2, NULL), ('B', 1, 'case')";

const PG_SCHEMA: &str = "CREATE TABLE org (id uuid PRIMARY KEY, name varchar(50) NOT NULL);\n\
CREATE TABLE person (id uuid PRIMARY KEY, \"orgId\" uuid REFERENCES org(id), active boolean NOT NULL, born timestamp(6), \
 seen timestamptz(6), settings jsonb, avatar bytea, n numeric(20), score double precision, ratio real, amount numeric(30,10), \
 spent interval, kind text, tags text, y smallint, note text, legacy varchar(36));\n\
CREATE INDEX person_org_idx ON person (\"orgId\");\n\
CREATE TABLE ticket (id serial PRIMARY KEY, \"personId\" uuid REFERENCES person(id), title varchar(200) NOT NULL);\n\
CREATE INDEX ticket_person_idx ON ticket (\"personId\");\n\
CREATE INDEX ticket_title_idx ON ticket (title, id);\n\
CREATE TABLE \"query-result-cache\" (k varchar(20) NOT NULL, part int NOT NULL, v text, PRIMARY KEY (k, part))";

fn pipeline_text() -> String {
    "name = \"verify\"\n[source]\nkind = \"mysql\"\nurl = \"${MYSQL_URL}\"\n\
     [verify]\ncritical = [\"org\", \"person\", \"ticket\"]\nafter_run = false\n\
     [[sink]]\nkind = \"postgres\"\nurl = \"${PG_URL}\"\n"
        .to_string()
}

async fn migrated(prefix: &str) -> (MyDb, PgDb, converge::Pipeline) {
    let my = MyDb::create(prefix).await;
    my.exec(MY_SCHEMA).await;
    my.exec(MY_DATA).await;
    let pg = PgDb::create(prefix).await;
    pg.client.batch_execute(PG_SCHEMA).await.unwrap();
    let p = pipeline(&pipeline_text(), &[("MYSQL_URL", &my.url), ("PG_URL", &pg.url)]);
    converge::run::run(&p, &Default::default()).await.unwrap_or_else(|e| panic!("{e}"));
    (my, pg, p)
}

fn failed(r: &Report, section: Section) -> Vec<&converge::verify::report::Check> {
    r.checks.iter().filter(|c| c.section == section && c.outcome == Outcome::Fail).collect()
}

fn diffs<'a>(r: &'a Report, table: &str) -> &'a [RowDiff] {
    &r.tables.iter().find(|(t, _)| t == table).expect("table compared").1.diffs
}

/// Runs `fault` on the target, verifies (full), checks the failure, then runs `undo`
/// and verifies again: the target is back to passing.
async fn with_fault(pg: &PgDb, p: &converge::Pipeline, fault: &str, undo: &str) -> Report {
    pg.client.batch_execute(fault).await.unwrap();
    let r = verify(p, Depth::Full).await.unwrap();
    assert!(!r.passed(), "verify passed after: {fault}\n{}", r.text());
    pg.client.batch_execute(undo).await.unwrap();
    let again = verify(p, Depth::Full).await.unwrap();
    assert!(again.passed(), "undo of `{fault}` did not restore:\n{}", again.text());
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clean_migration_passes_and_each_fault_is_named() {
    let (my, pg, p) = migrated("verify").await;

    // Clean: every automated check passes, in full and sampled.
    let r = verify(&p, Depth::Full).await.unwrap();
    assert!(r.passed(), "{}", r.text());
    for s in [
        Section::RowCounts,
        Section::CriticalTables,
        Section::ForeignKeys,
        Section::Content,
        Section::Sequences,
        Section::Indexes,
        Section::Json,
        Section::Uuid,
    ] {
        assert!(r.checks.iter().any(|c| c.section == s && c.outcome == Outcome::Pass), "no passing {s:?} check");
    }
    // A char(36) kept as varchar with a non-UUID value: reported, not failed.
    let legacy = r.checks.iter().find(|c| c.section == Section::Uuid && c.subject == "person.legacy").unwrap();
    assert_eq!(legacy.outcome, Outcome::Skip, "{legacy:?}");
    assert!(legacy.evidence.contains("1 non-empty values are not UUIDs"), "{legacy:?}");
    let uuid_checks: Vec<_> =
        r.checks.iter().filter(|c| c.section == Section::Uuid).map(|c| c.subject.clone()).collect();
    assert!(uuid_checks.contains(&"person.id".to_string()), "{uuid_checks:?}");
    let sampled = verify(&p, Depth::Sample(2)).await.unwrap();
    assert!(sampled.passed(), "{}", sampled.text());
    let person = &sampled.tables.iter().find(|(t, _)| t == "person").unwrap().1;
    assert_eq!(person.compared, 2);
    // What the sampled pass proves, and what it does not.
    let content = sampled.checks.iter().find(|c| c.section == Section::Content && c.subject == "person").unwrap();
    let strength = converge::verify::strength::describe(person.target_rows, 2);
    assert!(person.target_rows > 2 && content.evidence.ends_with(&strength), "{content:?}");
    assert!(strength.contains("with 95% confidence fewer than") && strength.contains("can pass unseen"), "{strength}");

    // One changed cell: the table, the content check, the key and the column.
    let r = with_fault(
        &pg,
        &p,
        "UPDATE person SET note = 'line\nbreak \\ tab\t ' WHERE id = '0b000000-0000-4000-8000-000000000001'",
        "UPDATE person SET note = E'line\\nbreak \\\\ tab\\t' WHERE id = '0b000000-0000-4000-8000-000000000001'",
    )
    .await;
    let f = failed(&r, Section::Content);
    assert_eq!(f.len(), 1, "{}", r.text());
    assert_eq!(f[0].subject, "person");
    assert_eq!(
        diffs(&r, "person"),
        &[RowDiff::Changed {
            key: "id='0b000000-0000-4000-8000-000000000001'".into(),
            values: vec!["0b000000-0000-4000-8000-000000000001".into()],
            columns: vec!["note".into()]
        }]
    );
    assert!(failed(&r, Section::RowCounts).is_empty());

    // A microsecond, a JSON value by meaning, a float bit: each is a change.
    for (fault, undo, column) in [
        (
            "UPDATE person SET born = born + interval '1 microsecond' WHERE n > 0",
            "UPDATE person SET born = born - interval '1 microsecond' WHERE n > 0",
            "born",
        ),
        (
            "UPDATE person SET settings = '{\"a\": \"é\", \"b\": [1, 2.5, {\"z\": 0}]}' WHERE active AND n > 0",
            "UPDATE person SET settings = '{\"a\": \"é\", \"b\": [1, 2.5, {\"z\": null}]}' WHERE active AND n > 0",
            "settings",
        ),
        ("UPDATE person SET ratio = 0.10000001 WHERE n > 0", "UPDATE person SET ratio = 0.1 WHERE n > 0", "ratio"),
        ("UPDATE person SET avatar = NULL WHERE n = 0", "UPDATE person SET avatar = '' WHERE n = 0", "avatar"),
    ] {
        let r = with_fault(&pg, &p, fault, undo).await;
        match diffs(&r, "person") {
            [RowDiff::Changed { columns, .. }] => assert_eq!(columns, &vec![column.to_string()], "{fault}"),
            other => panic!("{fault}: {other:?}"),
        }
    }

    // One deleted row: the count and the missing key.
    let r = with_fault(
        &pg,
        &p,
        "DELETE FROM ticket WHERE id = 2",
        "INSERT INTO ticket (id, \"personId\", title) VALUES (2, NULL, 'emoji 😀')",
    )
    .await;
    assert_eq!(failed(&r, Section::RowCounts)[0].subject, "ticket");
    assert!(failed(&r, Section::RowCounts)[0].evidence.contains("3 rows in the source, 2 in the target"));
    assert_eq!(diffs(&r, "ticket"), &[RowDiff::Missing { key: "id='2'".into(), values: vec!["2".into()] }]);

    // One added row, in a table with a composite text key and a quoted name.
    let r = with_fault(
        &pg,
        &p,
        "INSERT INTO \"query-result-cache\" VALUES ('a', 3, 'extra')",
        "DELETE FROM \"query-result-cache\" WHERE part = 3",
    )
    .await;
    assert_eq!(failed(&r, Section::RowCounts)[0].subject, "query-result-cache");
    assert_eq!(
        diffs(&r, "query-result-cache"),
        &[RowDiff::Extra { key: "k='a', part='3'".into(), values: vec!["a".into(), "3".into()] }]
    );

    // One orphaned foreign key (checks suspended by a superuser to make it).
    let r = with_fault(
        &pg,
        &p,
        "SET session_replication_role = replica; UPDATE person SET \"orgId\" = '0a000000-0000-4000-8000-0000000000ff' WHERE id = '0b000000-0000-4000-8000-000000000002'; SET session_replication_role = origin",
        "UPDATE person SET \"orgId\" = '0a000000-0000-4000-8000-000000000002' WHERE id = '0b000000-0000-4000-8000-000000000002'",
    )
    .await;
    let f = failed(&r, Section::ForeignKeys);
    assert_eq!(f.len(), 1, "{}", r.text());
    assert!(f[0].subject.starts_with("person.(orgId) → org"), "{}", f[0].subject);
    assert!(f[0].evidence.contains("1 row pointing at no row of `org`"), "{}", f[0].evidence);
    assert_eq!(f[0].keys, vec!["orgId = 0a000000-0000-4000-8000-0000000000ff".to_string()]);

    // One sequence set back.
    let r = with_fault(&pg, &p, "SELECT setval('ticket_id_seq', 1)", "SELECT setval('ticket_id_seq', 3)").await;
    let f = failed(&r, Section::Sequences);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].subject, "ticket.id");
    assert!(f[0].evidence.contains("last value 1, column maximum 3"), "{}", f[0].evidence);
    assert_eq!(r.failures().len(), 1, "{}", r.text());

    // One plain index missing (MySQL's implicit foreign-key index, say): advice, not a
    // failure — exit 0 with a warning, 1 under --strict.
    pg.client.batch_execute("DROP INDEX ticket_person_idx").await.unwrap();
    let r = verify(&p, Depth::Full).await.unwrap();
    assert!(r.passed() && !r.passed_strict(), "{}", r.text());
    let w = r.warnings();
    assert_eq!(w.len(), 1);
    assert_eq!(w[0].subject, "ticket.idx_ticket_person");
    assert!(w[0].evidence.contains("(personId) has no counterpart"), "{}", w[0].evidence);
    assert!(r.text().contains("1 warnings (performance, not data"), "{}", r.text());
    let cli = |strict: bool| {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_converge"));
        c.args(["verify", "--source", &my.url, "--target", &pg.url]);
        if strict {
            c.arg("--strict");
        }
        c.env("CONVERGE_RUN_LOG", std::env::temp_dir().join(format!("{}.jsonl", pg.name))).output().unwrap()
    };
    assert_eq!(cli(false).status.code(), Some(0));
    assert_eq!(cli(true).status.code(), Some(1));
    let _ = std::fs::remove_file(std::env::temp_dir().join(format!("{}.jsonl", pg.name)));
    pg.client.batch_execute("CREATE INDEX ticket_person_idx ON ticket (\"personId\")").await.unwrap();

    // A critical table emptied (and so also a count and content failure).
    let r = with_fault(
        &pg,
        &p,
        "CREATE TABLE keep AS SELECT * FROM ticket; DELETE FROM ticket",
        "INSERT INTO ticket SELECT * FROM keep; DROP TABLE keep",
    )
    .await;
    let f = failed(&r, Section::CriticalTables);
    assert_eq!((f[0].subject.as_str(), f[0].evidence.as_str()), ("ticket", "present but empty"));
    assert_eq!(diffs(&r, "ticket").len(), 3);

    // The binary: exit codes, JSON, the Markdown report (owner-only), no password.
    let dir = TempDir::new("verify-cli");
    let md = dir.path().join("report.md");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_converge"))
        .args(["--json", "verify", "--source", &my.url, "--target", &pg.url, "--report"])
        .arg(&md)
        .env("CONVERGE_RUN_LOG", dir.path().join("runs.jsonl"))
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(json["passed"], true);
    let text = std::fs::read_to_string(&md).unwrap();
    assert!(text.contains("**PASSED**") && text.contains("## Manual checks"), "{text}");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&md).unwrap().permissions().mode() & 0o777, 0o600);
    pg.client.batch_execute("UPDATE org SET name = 'Acme Inc' WHERE name = 'Acme'").await.unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_converge"))
        .args(["verify", "--source", &my.url, "--target", &pg.url])
        .env("CONVERGE_RUN_LOG", dir.path().join("runs.jsonl"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("content `org`")
            && stdout.contains("id='0a000000-0000-4000-8000-000000000001': differs in name"),
        "{stdout}"
    );
    let log = converge::runlog::read(&dir.path().join("runs.jsonl")).unwrap();
    assert_eq!(log.len(), 2);
    assert!(log[1].message.contains("FAILED"), "{:?}", log[1]);

    pg.drop_db().await;
    my.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_range_search_finds_one_changed_row_in_a_million_reading_few_rows() {
    const N: u64 = 1_000_000;
    let my = MyDb::create("verifybig").await;
    my.exec(
        "CREATE TABLE big (id int PRIMARY KEY, name varchar(40) NOT NULL, amount decimal(12,2) NOT NULL, at datetime(6) NOT NULL);\n\
         INSERT INTO big SELECT seq, CONCAT('row-', seq), seq / 100, TIMESTAMP'2024-01-01 00:00:00' + INTERVAL seq SECOND FROM seq_1_to_1000000",
    )
    .await;
    let pg = PgDb::create("verifybig").await;
    pg.client
        .batch_execute(
            "CREATE TABLE big (id int PRIMARY KEY, name varchar(40) NOT NULL, amount numeric(12,2) NOT NULL, at timestamp(6) NOT NULL);\n\
             INSERT INTO big SELECT g, 'row-' || g, g / 100.0, timestamp '2024-01-01' + g * interval '1 second' FROM generate_series(1, 1000000) g;\n\
             UPDATE big SET name = 'row-654321 ' WHERE id = 654321",
        )
        .await
        .unwrap();
    let text = "name = \"big\"\n[source]\nkind = \"mysql\"\nurl = \"${MYSQL_URL}\"\n[[sink]]\nkind = \"postgres\"\nurl = \"${PG_URL}\"\n";
    let p = pipeline(text, &[("MYSQL_URL", &my.url), ("PG_URL", &pg.url)]);
    let r = verify(&p, Depth::Full).await.unwrap();
    let (_, big) = &r.tables[0];
    assert_eq!((big.source_rows, big.target_rows), (N, N));
    assert_eq!(
        big.diffs,
        vec![RowDiff::Changed {
            key: "id='654321'".into(),
            values: vec!["654321".into()],
            columns: vec!["name".into()]
        }],
        "{}",
        r.text()
    );
    // The rows shipped to find it: split points and one small range per side.
    println!("rows read to find 1 changed row among {N}: {}", big.rows_read);
    assert!(big.rows_read < 1_000, "read {} rows", big.rows_read);
    assert!(big.rows_read > 0);
    assert_eq!(r.rows_read, big.rows_read);
    pg.drop_db().await;
    my.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_verifies_after_the_commit_and_a_failure_keeps_the_export_whole() {
    let my = MyDb::create("verifyrun").await;
    my.exec(MY_SCHEMA).await;
    my.exec(MY_DATA).await;
    let pg = PgDb::create("verifyrun").await;
    pg.client.batch_execute(PG_SCHEMA).await.unwrap();
    // A target trigger rewrites a value as it arrives: the data loads, verification fails.
    pg.client
        .batch_execute(
            "CREATE FUNCTION shout() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.title := upper(NEW.title); RETURN NEW; END $$;\n\
             CREATE TRIGGER ticket_shout BEFORE INSERT ON ticket FOR EACH ROW EXECUTE FUNCTION shout()",
        )
        .await
        .unwrap();
    let out = TempDir::new("verifyrun");
    let text = pipeline_text().replace("after_run = false\n", "")
        + &format!("[[sink]]\nkind = \"csv\"\ndir = \"{}\"\n", out.path().display());
    let p = pipeline(&text, &[("MYSQL_URL", &my.url), ("PG_URL", &pg.url)]);
    let e = converge::run::run(&p, &Default::default()).await.expect_err("verification fails").to_string();
    assert!(e.contains("the load was committed, but verification failed"), "{e}");
    assert!(e.contains("content `ticket`"), "{e}");
    let n: i64 = pg.client.query_one("SELECT count(*) FROM ticket", &[]).await.unwrap().get(0);
    assert_eq!(n, 3, "the load stays committed");
    let run_dir = std::fs::read_dir(out.path())
        .unwrap()
        .map(|e| e.unwrap())
        .find(|e| e.file_type().unwrap().is_dir())
        .unwrap()
        .path();
    assert!(run_dir.join("migration_manifest.json").exists(), "the export is whole");
    assert!(!run_dir.join("FAILED").exists(), "and not marked failed");
    pg.drop_db().await;
    my.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_without_a_primary_key_is_located_by_its_not_null_unique_key() {
    let my = MyDb::create("uniqkey").await;
    my.exec(
        "CREATE TABLE tag (code varchar(10) NOT NULL, label varchar(20) NULL, UNIQUE KEY tag_code (code));\n\
             INSERT INTO tag VALUES ('a', 'Alpha'), ('b', 'Beta'), ('c', NULL)",
    )
    .await;
    let pg = PgDb::create("uniqkey").await;
    pg.client.batch_execute("CREATE TABLE tag (code varchar(10) NOT NULL UNIQUE, label varchar(20))").await.unwrap();
    let p = pipeline(
        "name = \"uniq\"\n[source]\nkind = \"mysql\"\nurl = \"${MYSQL_URL}\"\n[[sink]]\nkind = \"postgres\"\nurl = \"${PG_URL}\"\n",
        &[("MYSQL_URL", &my.url), ("PG_URL", &pg.url)],
    );
    converge::run::run(&p, &Default::default()).await.unwrap_or_else(|e| panic!("{e}"));
    assert!(verify(&p, Depth::Full).await.unwrap().passed());
    pg.client.batch_execute("UPDATE tag SET label = 'Bet' WHERE code = 'b'").await.unwrap();
    let r = verify(&p, Depth::Full).await.unwrap();
    assert!(!r.passed());
    let d = diffs(&r, "tag");
    assert_eq!(d.len(), 1, "{}", r.text());
    assert!(r.text().contains("code='b'"), "{}", r.text());
    pg.drop_db().await;
    my.drop_db().await;
}

/// Doubles and floats at their edges: subnormals, the largest, powers of two and their
/// neighbours, values with no short decimal, negative ones.
const HARD_FLOATS: &[(i32, &str, &str)] = &[
    (1, "5e-324", "1.4e-45"),
    (2, "2.2250738585072014e-308", "1.1754944e-38"),
    (3, "2.225073858507201e-308", "3.40282e38"),
    (4, "1.7976931348623157e308", "-3.40282e38"),
    (5, "0.1", "0.1"),
    (6, "0.30000000000000004", "16777216"),
    (7, "-2.5", "-0.5"),
    (8, "4503599627370496", "1"),
    (9, "9007199254740993", "0.3333333"),
    (10, "1e22", "7e-45"),
    (11, "-1e-300", "123456.79"),
    (12, "0", "0"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn floats_are_compared_exactly_by_the_servers_and_one_bit_is_found() {
    let my = MyDb::create("vfloat").await;
    let rows: Vec<String> = HARD_FLOATS.iter().map(|(id, d, f)| format!("({id}, {d}, {f})")).collect();
    my.exec(&format!(
        "CREATE TABLE m (id int PRIMARY KEY, d double, f float);\nINSERT INTO m VALUES {}, (13, NULL, NULL)",
        rows.join(", ")
    ))
    .await;
    let pg = PgDb::create("vfloat").await;
    pg.client.batch_execute("CREATE TABLE m (id int PRIMARY KEY, d double precision, f real)").await.unwrap();
    let p = pipeline(
        &pipeline_text().replace("critical = [\"org\", \"person\", \"ticket\"]", "critical = []"),
        &[("MYSQL_URL", &my.url), ("PG_URL", &pg.url)],
    );
    converge::run::run(&p, &Default::default()).await.unwrap_or_else(|e| panic!("{e}"));
    let r = verify(&p, Depth::Full).await.unwrap();
    assert!(r.passed(), "{}", r.text());
    let m = &r.tables.iter().find(|(t, _)| t == "m").unwrap().1;
    assert_eq!(m.rows_read, 0, "equal digests, computed by the servers: no row shipped");

    // Each value with the lowest bit of its mantissa flipped (0 becomes the smallest
    // subnormal): verify names the key and the column.
    for (id, _, _) in HARD_FLOATS {
        let row = pg.client.query_one("SELECT d, f FROM m WHERE id = $1", &[id]).await.unwrap();
        let (d, f): (f64, f32) = (row.get(0), row.get(1));
        let flipped_d = f64::from_bits(d.to_bits() ^ 1);
        let flipped_f = f32::from_bits(f.to_bits() ^ 1);
        let cases: [(&str, &(dyn tokio_postgres::types::ToSql + Sync), &(dyn tokio_postgres::types::ToSql + Sync)); 2] =
            [("d", &flipped_d, &d), ("f", &flipped_f, &f)];
        for (col, changed, original) in cases {
            let set = format!("UPDATE m SET {col} = $1 WHERE id = $2");
            pg.client.execute(&set, &[changed, id]).await.unwrap();
            let r = verify(&p, Depth::Full).await.unwrap();
            assert!(!r.passed(), "id {id}, {col}: one bit changed and verify passed");
            let want = [RowDiff::Changed {
                key: format!("id='{id}'"),
                values: vec![id.to_string()],
                columns: vec![col.to_string()],
            }];
            assert_eq!(diffs(&r, "m"), want, "id {id}, {col}");
            pg.client.execute(&set, &[original, id]).await.unwrap();
        }
    }
    let r = verify(&p, Depth::Full).await.unwrap();
    assert!(r.passed(), "{}", r.text());
    pg.drop_db().await;
    my.drop_db().await;
}

/// The sessions tables are compared over share one snapshot of the target: a row
/// committed after it was taken is seen by none of them, though each session's first
/// read comes after that commit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_sessions_share_one_snapshot_of_the_target() {
    let pg = PgDb::create("vsnap").await;
    pg.client.batch_execute("CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1)").await.unwrap();
    let clients = converge::verify::snapshot_clients(&pg.url, 3, None).await.unwrap();
    pg.client.batch_execute("INSERT INTO t VALUES (2)").await.unwrap();
    for (i, c) in clients.iter().enumerate() {
        let n: i64 = c.query_one("SELECT count(*) FROM t", &[]).await.unwrap().get(0);
        assert_eq!(n, 1, "session {i} reads the snapshot, not the later commit");
    }
    drop(clients);
    let n: i64 = pg.client.query_one("SELECT count(*) FROM t", &[]).await.unwrap().get(0);
    assert_eq!(n, 2);
    pg.drop_db().await;
}

/// The exact value of a double as `sign:k:m` (sign × m × 2^k), from its bits.
fn exact_bits(x: f64) -> String {
    if x == 0.0 {
        return "0".into();
    }
    let bits = x.to_bits();
    let sign = if x < 0.0 { -1 } else { 1 };
    let exp = ((bits >> 52) & 0x7ff) as i64;
    let frac = bits & ((1u64 << 52) - 1);
    let (k, m) = if exp == 0 { (-1074, frac) } else { (exp - 1075, frac | (1u64 << 52)) };
    format!("{sign}:{k}:{m}")
}

/// Both servers' float expressions give the exact value for random bit patterns and for
/// every power of two with its neighbours (where the logarithm's guess is off by one).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn float_canonical_form_is_the_exact_value_on_both_servers() {
    let mut values: Vec<f64> = Vec::new();
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    while values.len() < 3000 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let x = f64::from_bits(state);
        if x.is_finite() {
            values.push(x);
        }
    }
    for e in (-1074..1024).step_by(3) {
        let p = 2f64.powi(e.max(-1022)) * if e < -1022 { 2f64.powi(e + 1022) } else { 1.0 };
        for d in [-1i64, 0, 1] {
            let x = f64::from_bits((p.to_bits() as i64 + d) as u64);
            if x.is_finite() && x > 0.0 {
                values.push(x);
                values.push(-x);
            }
        }
    }
    let rows: Vec<String> = values.iter().enumerate().map(|(i, x)| format!("({i}, {x:?})")).collect();
    let my = MyDb::create("vbits").await;
    my.exec(&format!("CREATE TABLE f (id int PRIMARY KEY, d double);\nINSERT INTO f VALUES {}", rows.join(", "))).await;
    let pg = PgDb::create("vbits").await;
    pg.client
        .batch_execute(&format!(
            "CREATE TABLE f (id int PRIMARY KEY, d float8); INSERT INTO f VALUES {}",
            rows.join(", ")
        ))
        .await
        .unwrap();
    use mysql_async::prelude::Queryable;
    let mut c = my.conn().await;
    let sql = format!("SELECT {} FROM f ORDER BY id", converge::verify::canon::mysql_float_bits("d"));
    let from_mysql: Vec<String> = c.query(sql).await.unwrap();
    drop(c);
    let sql = format!("SELECT {} FROM f ORDER BY id", converge::verify::canon::pg_float_bits("d"));
    let from_pg: Vec<String> = pg.client.query(&sql, &[]).await.unwrap().iter().map(|r| r.get(0)).collect();
    assert_eq!(from_mysql.len(), values.len());
    for (i, x) in values.iter().enumerate() {
        let want = exact_bits(*x);
        assert_eq!(from_mysql[i], want, "MySQL, {x:?}");
        assert_eq!(from_pg[i], want, "PostgreSQL, {x:?}");
    }
    pg.drop_db().await;
    my.drop_db().await;
}

/// Text rows whose row strings are hard to agree on: empty, NULL beside `''`, the
/// separators `|` and `~` and a length prefix's `:` inside values, non-ASCII (two-,
/// three- and four-byte UTF-8), a newline, a backslash and a long value.
const HASHED_TEXT: &[(i32, Option<&str>, Option<&str>)] = &[
    (1, Some(""), None),
    (2, None, Some("")),
    (3, Some("a|b"), Some("~")),
    (4, Some("3:abc"), Some("é ✓ 😀")),
    (5, Some("line\nbreak \\ back"), Some("|")),
    (6, Some("x"), Some("y")),
];

/// A row's digest is the first 60 bits of the SHA-256 of its row string on both
/// servers: the hex each ships and the number each sums are that value, computed here
/// from the row string the digest's definition gives (`LEN:text` fields joined by `|`,
/// NULL as `~`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn row_hashes_are_sha256_of_the_row_string_on_both_servers() {
    use converge::types::Logical;
    use converge::verify::{canon, row_hash};
    use mysql_async::prelude::Queryable;
    use sha2::{Digest, Sha256};
    let long = "ü".repeat(3000);
    let mut rows: Vec<(i32, Option<String>, Option<String>)> =
        HASHED_TEXT.iter().map(|(i, a, b)| (*i, a.map(String::from), b.map(String::from))).collect();
    rows.push((7, Some(long.clone()), Some(long)));
    let lit = |v: &Option<String>| v.as_ref().map_or("NULL".to_string(), |s| format!("'{}'", s.replace('\\', "\\\\")));
    let values: Vec<String> = rows.iter().map(|(i, a, b)| format!("({i}, {}, {})", lit(a), lit(b))).collect();
    let my = MyDb::create("vhash").await;
    my.exec(&format!(
        "CREATE TABLE t (id int PRIMARY KEY, a text, b text);\nINSERT INTO t VALUES {}",
        values.join(", ")
    ))
    .await;
    let pg = PgDb::create("vhash").await;
    let pg_values = values.join(", ").replace("\\\\", "\\");
    pg.client
        .batch_execute(&format!(
            "CREATE TABLE t (id int PRIMARY KEY, a text, b text); INSERT INTO t VALUES {pg_values}"
        ))
        .await
        .unwrap();
    let (a, b) = (
        canon::column("a", Logical::Text, "text", false, false, None),
        canon::column("b", Logical::Text, "text", false, false, None),
    );
    let cols = [&a, &b];
    let mut c = my.conn().await;
    let sql = format!(
        "SELECT {}, {} FROM t ORDER BY id",
        row_hash::mysql_row_hash_hex(&cols),
        row_hash::mysql_row_hash(&cols)
    );
    let from_mysql: Vec<(String, u64)> = c.query(sql).await.unwrap();
    drop(c);
    let sql =
        format!("SELECT {}, {} FROM t ORDER BY id", row_hash::pg_row_hash_hex(&cols), row_hash::pg_row_hash(&cols));
    let from_pg: Vec<(String, i64)> =
        pg.client.query(&sql, &[]).await.unwrap().iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(from_mysql.len(), rows.len());
    for (i, (id, a, b)) in rows.iter().enumerate() {
        let field = |v: &Option<String>| v.as_ref().map_or("~".to_string(), |s| format!("{}:{s}", s.len()));
        let row = format!("{}|{}", field(a), field(b));
        let want = hex::encode(Sha256::digest(row.as_bytes()))[..15].to_string();
        assert_eq!(from_mysql[i].0, want, "MySQL, row {id}: {row:?}");
        assert_eq!(from_pg[i].0, want, "PostgreSQL, row {id}: {row:?}");
        let n = u64::from_str_radix(&want, 16).unwrap();
        assert_eq!((from_mysql[i].1, from_pg[i].1 as u64), (n, n), "summed form, row {id}");
    }
    pg.drop_db().await;
    my.drop_db().await;
}

/// JSON values that only compare right by meaning: (id, as MySQL holds it, the same
/// value changed by one character in the target). Each pair's first text differs from
/// what `jsonb` prints (key order, spacing, `1.50`, escapes, a surrogate pair), yet is
/// equal; each change must be found, the big integer's and the long decimal's too (no
/// number goes through a double).
const HARD_JSON: &[(i32, &str, &str)] = &[
    (1, r#"{"b": 1, "a": 2}"#, r#"{"b": 1, "A": 2}"#),
    (2, r#"{"x":1.50}"#, r#"{"x": 1.51}"#),
    (3, r#"{"s": "\u00e9 \"q\" \\ \n \/"}"#, r#"{"s": "\u00e8 \"q\" \\ \n \/"}"#),
    (4, r#"["\ud83d\ude00"]"#, r#"["\ud83d\ude01"]"#),
    (5, r#"{"n":12345678901234567891}"#, r#"{"n": 12345678901234567890}"#),
    (6, r#"[1e2, -0.0, 0.1000000000000000000001]"#, r#"[1e2, -0.0, 0.1000000000000000000002]"#),
    (7, r#"{"deep":[[{"k":[true,null,"a"]}]]}"#, r#"{"deep": [[{"k": [true, null, "b"]}]]}"#),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hard_json_values_are_equal_by_meaning_and_one_character_is_found() {
    let my = MyDb::create("vjson").await;
    let quote = |s: &str| s.replace('\\', "\\\\").replace('\'', "\\'");
    let rows: Vec<String> = HARD_JSON.iter().map(|(id, j, _)| format!("({id}, '{}')", quote(j))).collect();
    my.exec(&format!(
        "CREATE TABLE doc (id int PRIMARY KEY, j json NULL);\nINSERT INTO doc VALUES {}, (8, NULL)",
        rows.join(", ")
    ))
    .await;
    let pg = PgDb::create("vjson").await;
    pg.client.batch_execute("CREATE TABLE doc (id int PRIMARY KEY, j jsonb)").await.unwrap();
    let p = pipeline(
        &pipeline_text().replace("critical = [\"org\", \"person\", \"ticket\"]", "critical = []"),
        &[("MYSQL_URL", &my.url), ("PG_URL", &pg.url)],
    );
    converge::run::run(&p, &Default::default()).await.unwrap_or_else(|e| panic!("{e}"));
    for (id, original, _) in HARD_JSON {
        let text: String = pg.client.query_one("SELECT j::text FROM doc WHERE id = $1", &[id]).await.unwrap().get(0);
        assert_ne!(text, *original, "id {id}: jsonb prints the MySQL text unchanged, so the case proves nothing");
    }
    let r = verify(&p, Depth::Full).await.unwrap();
    assert!(r.passed(), "{}", r.text());
    for (id, original, changed) in HARD_JSON {
        let set = "UPDATE doc SET j = $1::text::jsonb WHERE id = $2";
        pg.client.execute(set, &[changed, id]).await.unwrap();
        let r = verify(&p, Depth::Full).await.unwrap();
        let want = [RowDiff::Changed {
            key: format!("id='{id}'"),
            values: vec![id.to_string()],
            columns: vec!["j".to_string()],
        }];
        assert_eq!(diffs(&r, "doc"), want, "id {id}: {original} → {changed}");
        pg.client.execute(set, &[original, id]).await.unwrap();
    }
    let r = verify(&p, Depth::Full).await.unwrap();
    assert!(r.passed(), "{}", r.text());
    pg.drop_db().await;
    my.drop_db().await;
}

/// Columns whose MySQL text is already canonical are digested bare (a DATETIME of 0, 3 or
/// 6 digits, a DATE, a DECIMAL, UTF-8 text of two collations and latin1 text, a char(36)
/// UUID, a boolean, bytes by their MD5): a
/// clean copy passes, zero dates included, into target columns of other precisions and
/// scales; a change finer than the source can hold, or of one character, is named.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bare_source_columns_compare_exactly_and_each_change_is_named() {
    let my = MyDb::create("vbare").await;
    my.exec(
        "SET SESSION sql_mode = '';\n\
         CREATE TABLE n (id int PRIMARY KEY, d0 datetime NULL, d3 datetime(3) NULL, d6 datetime(6) NULL, ts timestamp(3) NULL, \
          day date NULL, amount decimal(12,3) NULL, price decimal(10,2) NULL, whole decimal(12,0) NULL, note varchar(20) CHARACTER SET latin1 NULL, \
          body text CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci NULL, u char(36) CHARACTER SET utf8mb4 NULL, flag tinyint(1) NULL, data blob NULL);\n\
         INSERT INTO n VALUES \
          (1, '2024-01-15 10:30:00', '2024-01-15 10:30:00.120', '2024-01-15 10:30:00.000001', '2024-02-01 00:00:00.500', \
           '2024-01-15', -1.500, 19.90, -12, 'café', 'a|b\\n😀', 'ABCDEF00-0000-4000-8000-00000000000A', 1, X'00FF10'),\
          (2, '0000-00-00 00:00:00', '0000-00-00 00:00:00.000', NULL, NULL, '0000-00-00', 0, 0, 0, '', '', NULL, 0, ''),\
          (3, NULL, NULL, '1000-01-01 00:00:00', '1970-01-01 00:00:01', NULL, NULL, NULL, NULL, NULL, NULL, 'abcdef00-0000-4000-8000-00000000000b', NULL, NULL)",
    )
    .await;
    let pg = PgDb::create("vbare").await;
    pg.client
        .batch_execute(
            "CREATE TABLE n (id int PRIMARY KEY, d0 timestamp(6), d3 timestamp(6), d6 timestamp(6), ts timestamptz(6), day date, \
             amount numeric(14,5), price numeric(10,2), whole numeric(14,2), note text, body text, u uuid, flag boolean, data bytea)",
        )
        .await
        .unwrap();
    // Zero dates are loaded as NULL, as the pipeline allows: verify holds them equal.
    let text = pipeline_text().replace("critical = [\"org\", \"person\", \"ticket\"]", "critical = []");
    let text = text.replacen("[verify]", "[options]\nzero_date = \"null\"\n[verify]", 1);
    let p = pipeline(&text, &[("MYSQL_URL", &my.url), ("PG_URL", &pg.url)]);
    converge::run::run(&p, &Default::default()).await.unwrap_or_else(|e| panic!("{e}"));
    let r = verify(&p, Depth::Full).await.unwrap();
    assert!(r.passed(), "{}", r.text());
    let faults = [
        ("d0", "d0 = d0 + interval '1 microsecond'", "d0 = d0 - interval '1 microsecond'"),
        ("d3", "d3 = d3 + interval '1 microsecond'", "d3 = d3 - interval '1 microsecond'"),
        ("d6", "d6 = d6 + interval '1 microsecond'", "d6 = d6 - interval '1 microsecond'"),
        ("ts", "ts = ts + interval '1 millisecond'", "ts = ts - interval '1 millisecond'"),
        ("day", "day = day + 1", "day = day - 1"),
        ("amount", "amount = amount + 0.00001", "amount = amount - 0.00001"),
        ("price", "price = price + 0.01", "price = price - 0.01"),
        ("whole", "whole = whole + 0.01", "whole = whole - 0.01"),
        ("note", "note = 'cafe'", "note = 'café'"),
        ("body", "body = 'a|b' || chr(10) || '😁'", "body = 'a|b' || chr(10) || '😀'"),
        ("u", "u = 'abcdef00-0000-4000-8000-00000000000b'", "u = 'abcdef00-0000-4000-8000-00000000000a'"),
        ("flag", "flag = false", "flag = true"),
        ("data", "data = '\\x00ff11'", "data = '\\x00ff10'"),
    ];
    for (column, set, undo) in faults {
        let r = with_fault(
            &pg,
            &p,
            &format!("UPDATE n SET {set} WHERE id = 1"),
            &format!("UPDATE n SET {undo} WHERE id = 1"),
        )
        .await;
        assert_eq!(
            diffs(&r, "n"),
            &[RowDiff::Changed { key: "id='1'".into(), values: vec!["1".into()], columns: vec![column.into()] }],
            "{column}: {}",
            r.text()
        );
    }
    pg.drop_db().await;
    my.drop_db().await;
}

/// A large table is digested in pieces on several sessions (key ranges on MySQL, page
/// ranges on PostgreSQL); differences anywhere, and rows beyond the source's ends, are
/// all located, in key order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_table_is_digested_in_key_ranges_and_every_difference_is_located() {
    const N: u64 = 600_000;
    let my = MyDb::create("vparts").await;
    my.exec(&format!(
        "CREATE TABLE big (id int PRIMARY KEY, name varchar(40) NOT NULL);\n\
         INSERT INTO big SELECT seq, CONCAT('row-', seq) FROM seq_1_to_{N};\n\
         ANALYZE TABLE big"
    ))
    .await;
    let pg = PgDb::create("vparts").await;
    pg.client
        .batch_execute(&format!(
            "CREATE TABLE big (id int PRIMARY KEY, name varchar(40) NOT NULL);\n\
             INSERT INTO big SELECT g, 'row-' || g FROM generate_series(2, {N}) g;\n\
             UPDATE big SET name = 'changed' WHERE id IN (10, 300001, 599990);\n\
             INSERT INTO big VALUES ({}, 'extra')",
            N + 5
        ))
        .await
        .unwrap();
    let text = "name = \"parts\"\n[source]\nkind = \"mysql\"\nurl = \"${MYSQL_URL}\"\n[[sink]]\nkind = \"postgres\"\nurl = \"${PG_URL}\"\n";
    let p = pipeline(text, &[("MYSQL_URL", &my.url), ("PG_URL", &pg.url)]);
    let r = verify(&p, Depth::Full).await.unwrap();
    let (_, big) = &r.tables[0];
    assert!(big.parts > 2, "digested whole: {}", r.text());
    let changed = |id: &str| RowDiff::Changed {
        key: format!("id='{id}'"),
        values: vec![id.into()],
        columns: vec!["name".into()],
    };
    let expected = vec![
        RowDiff::Missing { key: "id='1'".into(), values: vec!["1".into()] },
        changed("10"),
        changed("300001"),
        changed("599990"),
        RowDiff::Extra { key: format!("id='{}'", N + 5), values: vec![(N + 5).to_string()] },
    ];
    assert_eq!(big.diffs, expected, "{}", r.text());
    assert!(big.rows_read < 5_000, "read {} rows", big.rows_read);
    let content = r.checks.iter().find(|c| c.section == Section::Content && c.subject == "big").unwrap();
    assert!(content.evidence.contains(&format!("in {} pieces", big.parts)), "{content:?}");
    pg.drop_db().await;
    my.drop_db().await;
}

/// Verify's target sessions share one snapshot and plan without parallel workers (they
/// are already one per core), and the setting ends with their transaction.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn target_sessions_share_a_snapshot_and_plan_serially() {
    let url = format!("{}/postgres", pg_base());
    let clients = converge::verify::snapshot_clients(&url, 3, None).await.expect("sessions");
    let mut snapshots = Vec::new();
    for c in &clients {
        let workers: String = c.query_one("SHOW max_parallel_workers_per_gather", &[]).await.unwrap().get(0);
        assert_eq!(workers, "0");
        let snap: String = c.query_one("SELECT pg_current_snapshot()::text", &[]).await.unwrap().get(0);
        snapshots.push(snap);
    }
    assert!(snapshots.windows(2).all(|w| w[0] == w[1]), "one snapshot: {snapshots:?}");
    clients[0].batch_execute("COMMIT").await.unwrap();
    let q = "SELECT setting = reset_val FROM pg_settings WHERE name = 'max_parallel_workers_per_gather'";
    let restored: bool = clients[0].query_one(q, &[]).await.unwrap().get(0);
    assert!(restored, "SET LOCAL must not outlive the transaction");
}

/// A PAD SPACE binary key (MariaDB's `utf8mb4_bin`) holding both `k` and `k` + TAB, and a
/// NO PAD one holding `k` and `k` + space: MySQL's collation orders them otherwise than
/// PostgreSQL's "C" (or holds them equal), so key ranges bounded in it meant another row
/// set on each side. One changed cell elsewhere is named alone: the intact `k` rows are
/// neither missing nor extra.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pad_space_keys_bound_the_same_rows_on_both_sides() {
    let my = MyDb::create("vpad").await;
    let rows = |mid: &str| {
        let mut v: Vec<String> = (0..100).map(|i| format!("('a{i:03}', 'x')")).collect();
        v.push(format!("('k', 'x'), ({mid}, 'x')"));
        v.extend((0..100).map(|i| format!("('z{i:03}', 'x')")));
        v.join(", ")
    };
    my.exec(&format!(
        "CREATE TABLE pad (k varchar(20) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin PRIMARY KEY, v text NOT NULL);\n\
         CREATE TABLE nopad (k varchar(20) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin PRIMARY KEY, v text NOT NULL);\n\
         INSERT INTO pad VALUES {};\nINSERT INTO nopad VALUES {}",
        rows("CONCAT('k', CHAR(9))"),
        rows("'k '")
    ))
    .await;
    let pg = PgDb::create("vpad").await;
    pg.client
        .batch_execute(
            "CREATE TABLE pad (k varchar(20) PRIMARY KEY, v text NOT NULL);\n\
             CREATE TABLE nopad (k varchar(20) PRIMARY KEY, v text NOT NULL)",
        )
        .await
        .unwrap();
    let text = pipeline_text().replace("critical = [\"org\", \"person\", \"ticket\"]", "critical = []");
    let p = pipeline(&text, &[("MYSQL_URL", &my.url), ("PG_URL", &pg.url)]);
    converge::run::run(&p, &Default::default()).await.unwrap_or_else(|e| panic!("{e}"));
    let r = verify(&p, Depth::Full).await.unwrap();
    assert!(r.passed(), "{}", r.text());
    for table in ["pad", "nopad"] {
        let r = with_fault(
            &pg,
            &p,
            &format!("UPDATE {table} SET v = 'y' WHERE k = 'z050'"),
            &format!("UPDATE {table} SET v = 'x' WHERE k = 'z050'"),
        )
        .await;
        assert_eq!(
            diffs(&r, table),
            &[RowDiff::Changed { key: "k='z050'".into(), values: vec!["z050".into()], columns: vec!["v".into()] }],
            "{table}: {}",
            r.text()
        );
    }
    pg.drop_db().await;
    my.drop_db().await;
}
