//! MySQL → PostgreSQL directly (binary COPY, schema-first): every cell equal, foreign keys
//! (a self-reference and a cycle) proven, sequences moved past the loaded maximum — and
//! failures that name the row and leave the target exactly as it was.

mod common;

use common::*;

const MY_SCHEMA: &str = "CREATE TABLE org (id char(36) PRIMARY KEY, name varchar(50) NOT NULL, ownerId char(36) NULL);\n\
CREATE TABLE person (id char(36) PRIMARY KEY, orgId char(36) NULL, managerId char(36) NULL, active tinyint NOT NULL, \
 born datetime(6) NULL, settings json NULL, avatar blob NULL, n int unsigned NULL, note varchar(200) NULL);\n\
CREATE TABLE ticket (id int AUTO_INCREMENT PRIMARY KEY, personId char(36) NULL, title varchar(200) NOT NULL, createdAt timestamp(6) NULL)";

const MY_DATA: &str = "INSERT INTO org VALUES ('0A000000-0000-4000-8000-000000000001', 'Acme', NULL), ('0a000000-0000-4000-8000-000000000002', 'Umbrella', '0b000000-0000-4000-8000-000000000001');\n\
INSERT INTO person VALUES \
 ('0B000000-0000-4000-8000-000000000001', '0a000000-0000-4000-8000-000000000001', NULL, 1, '2024-01-15 10:30:00.123456', '{\"a\": [1, \"x\"]}', X'00FF10', 4294967295, 'line\\nbreak'),\
 ('0b000000-0000-4000-8000-000000000002', '0a000000-0000-4000-8000-000000000002', '0b000000-0000-4000-8000-000000000001', 0, NULL, NULL, NULL, 0, NULL);\n\
INSERT INTO ticket (personId, title, createdAt) VALUES ('0b000000-0000-4000-8000-000000000001', 'first \"one\"', '2024-01-01 00:00:00.000001'), (NULL, 'emoji 😀', NULL), ('0b000000-0000-4000-8000-000000000002', 'x', '1999-12-31 23:59:59.999999')";

const PG_SCHEMA: &str = "CREATE TABLE org (id uuid PRIMARY KEY, name varchar(50) NOT NULL UNIQUE, \"ownerId\" uuid NULL);\n\
CREATE TABLE person (id uuid PRIMARY KEY, \"orgId\" uuid REFERENCES org(id), \"managerId\" uuid REFERENCES person(id), active boolean NOT NULL, \
 born timestamp(6) NULL, settings jsonb NULL, avatar bytea NULL, n bigint NULL, note varchar(200) NULL);\n\
ALTER TABLE org ADD CONSTRAINT org_owner_fk FOREIGN KEY (\"ownerId\") REFERENCES person(id);\n\
CREATE TABLE ticket (id serial PRIMARY KEY, \"personId\" uuid REFERENCES person(id), title varchar(100) NOT NULL, \"createdAt\" timestamptz(6), extra text NOT NULL DEFAULT 'x')";

fn load_pipeline(extra_sink: &str) -> String {
    format!(
        "name = \"load\"\n[source]\nkind = \"mysql\"\nurl = \"${{MYSQL_URL}}\"\n[[sink]]\nkind = \"postgres\"\nurl = \"${{PG_URL}}\"\n{extra_sink}\n"
    )
}

async fn setup(prefix: &str, extra_my: &str) -> (MyDb, PgDb) {
    let my = MyDb::create(prefix).await;
    my.exec(MY_SCHEMA).await;
    my.exec(MY_DATA).await;
    if !extra_my.is_empty() {
        my.exec(extra_my).await;
    }
    let pg = PgDb::create(prefix).await;
    pg.client.batch_execute(PG_SCHEMA).await.unwrap();
    (my, pg)
}

/// Every table's rows as text, to compare the target before and after a failed run.
async fn snapshot(pg: &PgDb) -> Vec<Vec<Vec<Option<String>>>> {
    let mut out = Vec::new();
    for t in ["org", "person", "ticket"] {
        out.push(pg_rows(pg, &format!("SELECT * FROM \"{t}\" ORDER BY 1")).await);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_to_postgres_every_cell_equal_fks_proven_sequences_reset() {
    let (my, pg) = setup("load", "").await;
    let p = pipeline(&load_pipeline(""), &[("MYSQL_URL", &my.url), ("PG_URL", &pg.url)]);
    let report = converge::run::run(&p, &Default::default()).await.unwrap_or_else(|e| panic!("{e}"));
    for row in &report.ledger.rows {
        assert!(row.problems().is_empty());
        assert_eq!(row.target, row.read, "{}", row.table);
        assert!(row.written.iter().any(|(k, n)| k == "postgres" && Some(*n) == row.read));
    }
    type Case<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)]);
    let cases: &[Case] = &[
        ("org", "id", &[("id", "uuid"), ("name", "text"), ("ownerId", "uuid")]),
        (
            "person",
            "id",
            &[
                ("id", "uuid"),
                ("orgId", "uuid"),
                ("managerId", "uuid"),
                ("active", "bool"),
                ("born", "datetime"),
                ("settings", "json"),
                ("avatar", "bytes"),
                ("n", "int"),
                ("note", "text"),
            ],
        ),
        ("ticket", "id", &[("id", "int"), ("personId", "uuid"), ("title", "text"), ("createdAt", "datetime")]),
    ];
    let mut conn = my.conn().await;
    for (table, key, cols) in cases {
        use mysql_async::prelude::*;
        let names: Vec<String> = cols.iter().map(|c| c.0.to_string()).collect();
        let my_rows: Vec<mysql_async::Row> = conn
            .exec(
                format!(
                    "SELECT {} FROM `{table}` ORDER BY LOWER(`{key}`)",
                    names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
                ),
                (),
            )
            .await
            .unwrap();
        let pg_rows = pg_rows(
            &pg,
            &format!(
                "SELECT {} FROM \"{table}\" ORDER BY \"{key}\"",
                names.iter().map(|n| format!("\"{n}\"")).collect::<Vec<_>>().join(", ")
            ),
        )
        .await;
        assert_eq!(my_rows.len(), pg_rows.len(), "{table}");
        for (m, p) in my_rows.iter().zip(&pg_rows) {
            for (i, (name, kind)) in cols.iter().enumerate() {
                assert_eq!(my_canon(m.as_ref(i).unwrap(), kind), pg_canon(p[i].as_deref(), kind), "{table}.{name}");
            }
        }
    }
    // The serial sequence is past the loaded maximum: a new row takes the next value.
    let next = pg_rows(&pg, "INSERT INTO ticket (title) VALUES ('after') RETURNING id").await;
    assert_eq!(next[0][0].as_deref(), Some("4"));
    // The foreign keys are in place again.
    let fks = pg_rows(&pg, "SELECT count(*) FROM pg_constraint WHERE contype = 'f'").await;
    assert_eq!(fks[0][0].as_deref(), Some("4"));
    pg.drop_db().await;
    my.drop_db().await;
}

/// Runs the load pipeline against a target that already holds rows (replaced with
/// `truncate = true`), expecting failure; the target must be exactly as before.
async fn failing_run(my: &MyDb, pg: &PgDb) -> String {
    failing_run_with(my, pg, "").await
}

/// [`failing_run`] with more postgres sink options.
async fn failing_run_with(my: &MyDb, pg: &PgDb, options: &str) -> String {
    pg.client
        .batch_execute(
            "INSERT INTO org VALUES ('00000000-0000-4000-8000-0000000000aa', 'Before', NULL);\n\
             INSERT INTO person (id, active, born) VALUES ('00000000-0000-4000-8000-0000000000bb', true, '2020-01-01');\n\
             INSERT INTO ticket (title) VALUES ('kept')",
        )
        .await
        .unwrap();
    let before = snapshot(pg).await;
    let p = pipeline(
        &load_pipeline(&format!("truncate = true\n{options}")),
        &[("MYSQL_URL", &my.url), ("PG_URL", &pg.url)],
    );
    let err = converge::run::run(&p, &Default::default()).await.expect_err("the run must fail").to_string();
    assert_eq!(snapshot(pg).await, before, "the target changed after a failed run: {err}");
    let fks = pg_rows(pg, "SELECT count(*) FROM pg_constraint WHERE contype = 'f'").await;
    assert_eq!(fks[0][0].as_deref(), Some("4"));
    err
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_value_longer_than_the_target_varchar_names_the_row() {
    let (my, pg) = setup("long", &format!("UPDATE ticket SET title = '{}' WHERE id = 2", "y".repeat(150))).await;
    let err = failing_run(&my, &pg).await;
    assert!(err.contains("table `ticket`, row id='2', column `title`"), "{err}");
    pg.drop_db().await;
    my.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn null_into_not_null_names_the_row_and_the_server_message() {
    let (my, pg) = setup("notnull", "").await;
    pg.client.batch_execute("ALTER TABLE person ALTER COLUMN born SET NOT NULL").await.unwrap();
    let err = failing_run(&my, &pg).await;
    assert!(err.contains("loading `person`, row id='0b000000-0000-4000-8000-000000000002'"), "{err}");
    assert!(err.contains("23502"), "{err}");
    pg.drop_db().await;
    my.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_orphaned_foreign_key_in_the_source_fails_the_load() {
    let (my, pg) = setup(
        "orphan",
        "INSERT INTO ticket (personId, title) VALUES ('0b000000-0000-4000-8000-00000000dead', 'orphan')",
    )
    .await;
    let err = failing_run(&my, &pg).await;
    assert!(err.contains("`ticket`.(personId) → `person`: 1 orphaned rows"), "{err}");
    assert!(err.contains("0b000000-0000-4000-8000-00000000dead"), "{err}");
    pg.drop_db().await;
    my.drop_db().await;
}

/// With the foreign keys re-created after the load, PostgreSQL's own validation finds
/// the orphan; the run still names how many rows and which keys, and commits nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_orphan_found_when_the_foreign_key_is_re_created_is_named_the_same_way() {
    let (my, pg) = setup(
        "orphan_defer",
        "INSERT INTO ticket (personId, title) VALUES ('0b000000-0000-4000-8000-00000000dead', 'orphan'), \
         ('0b000000-0000-4000-8000-00000000beef', 'orphan too')",
    )
    .await;
    let err = failing_run_with(&my, &pg, "defer_indexes = true").await;
    assert!(err.contains("`ticket`.(personId) → `person`: 2 orphaned rows"), "{err}");
    assert!(err.contains("0b000000-0000-4000-8000-00000000dead"), "{err}");
    pg.drop_db().await;
    my.drop_db().await;
}

/// By default the unique constraint is built after the load: the run names the value and
/// the keys of both rows that hold it. With `defer_indexes = false` the constraint stays
/// in place and the first offending row stops the COPY, named by its source key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_against_a_target_unique_constraint_names_the_row() {
    let (my, pg) = setup("dup", "INSERT INTO org VALUES ('0a000000-0000-4000-8000-000000000003', 'Acme', NULL)").await;
    let err = failing_run(&my, &pg).await;
    assert!(err.contains("table `org`: 1 duplicated values of (name) break the unique index `org_name_key`"), "{err}");
    assert!(err.contains("23505") && err.contains("e.g. (Acme) in 2 rows ("), "{err}");
    assert!(
        err.contains("0a000000-0000-4000-8000-000000000003") && err.contains("0a000000-0000-4000-8000-000000000001"),
        "{err}"
    );
    pg.client.batch_execute("TRUNCATE org, person, ticket").await.unwrap();
    let err = failing_run_with(&my, &pg, "defer_indexes = false").await;
    assert!(err.contains("loading `org`") && err.contains("23505") && err.contains("org_name_key"), "{err}");
    assert!(err.contains("0a000000-0000-4000-8000-000000000003"), "{err}");
    pg.drop_db().await;
    my.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_that_does_not_fit_stops_before_any_data_moves() {
    let (my, pg) = setup("misfit", "").await;
    pg.client
        .batch_execute("ALTER TABLE person DROP COLUMN note; ALTER TABLE ticket ADD COLUMN owner text NOT NULL")
        .await
        .unwrap();
    let p = pipeline(&load_pipeline(""), &[("MYSQL_URL", &my.url), ("PG_URL", &pg.url)]);
    let err = converge::run::run(&p, &Default::default()).await.err().unwrap().to_string();
    assert!(err.contains("person.note: no column of that name in the target table"), "{err}");
    assert!(err.contains("ticket.owner: NOT NULL in the target, without a default"), "{err}");
    assert_eq!(pg_rows(&pg, "SELECT count(*) FROM person").await[0][0].as_deref(), Some("0"));
    pg.drop_db().await;
    my.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_empty_targets_are_refused_without_truncate() {
    let (my, pg) = setup("nonempty", "").await;
    pg.client.batch_execute("INSERT INTO ticket (title) VALUES ('kept')").await.unwrap();
    let p = pipeline(&load_pipeline(""), &[("MYSQL_URL", &my.url), ("PG_URL", &pg.url)]);
    let err = converge::run::run(&p, &Default::default()).await.err().unwrap().to_string();
    assert!(err.contains("`ticket` are not empty"), "{err}");
    assert_eq!(pg_rows(&pg, "SELECT title FROM ticket").await, vec![vec![Some("kept".to_string())]]);
    pg.drop_db().await;
    my.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fan_out_and_import_give_the_same_target_as_the_direct_load() {
    let (my, direct) = setup("fanout", "").await;
    let out = TempDir::new("fanout");
    // One read, two sinks: CSV export and PostgreSQL.
    let text = format!("{}[[sink]]\nkind = \"csv\"\ndir = \"${{OUT}}\"\n", load_pipeline(""));
    let p = pipeline(&text, &[("MYSQL_URL", &my.url), ("PG_URL", &direct.url), ("OUT", out.path().to_str().unwrap())]);
    let report = converge::run::run(&p, &Default::default()).await.unwrap_or_else(|e| panic!("{e}"));
    for row in &report.ledger.rows {
        let sinks: Vec<&str> = row.written.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(sinks, vec!["csv", "postgres"], "{}", row.table);
        assert_eq!(row.manifest, row.target);
    }
    // The export, imported into another empty target, gives the same rows.
    let imported = PgDb::create("import").await;
    imported.client.batch_execute(PG_SCHEMA).await.unwrap();
    let dir = report.exports[0].to_str().unwrap().to_string();
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_converge"))
        .args(["--quiet", "import", &dir, "--to", &imported.url])
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(snapshot(&imported).await, snapshot(&direct).await);
    imported.drop_db().await;
    direct.drop_db().await;
    my.drop_db().await;
}

/// Exports the fixture, lets `damage` change the export, and imports it: the import
/// must fail before loading anything.
async fn broken_import(prefix: &str, damage: impl FnOnce(&std::path::Path)) -> String {
    let (my, pg) = setup(prefix, "").await;
    let out = TempDir::new(prefix);
    let p = pipeline(&export_pipeline(""), &[("MYSQL_URL", &my.url), ("OUT", out.path().to_str().unwrap())]);
    let report = converge::run::run(&p, &Default::default()).await.unwrap();
    damage(&report.exports[0]);
    let import = converge::Pipeline::import(report.exports[0].to_str().unwrap(), &pg.url, None, false);
    let err = converge::run::run(&import, &Default::default()).await.expect_err("the import must fail").to_string();
    for t in ["org", "person", "ticket"] {
        assert_eq!(pg_rows(&pg, &format!("SELECT count(*) FROM \"{t}\"")).await[0][0].as_deref(), Some("0"), "{err}");
    }
    pg.drop_db().await;
    my.drop_db().await;
    err
}

fn edit(path: std::path::PathBuf, f: impl FnOnce(String) -> String) {
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, f(text)).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_refuses_a_csv_whose_row_count_differs_from_the_manifest() {
    let err = broken_import("rows", |d| {
        edit(d.join("ticket.csv"), |t| {
            let mut lines: Vec<&str> = t.lines().collect();
            lines.pop();
            lines.join("\n") + "\n"
        })
    })
    .await;
    assert!(err.contains("ticket.csv") && err.contains("holds 2 rows, the manifest says 3"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_refuses_a_csv_with_a_changed_byte() {
    let err = broken_import("sha", |d| edit(d.join("org.csv"), |t| t.replace("Acme", "Acmf"))).await;
    assert!(err.contains("org.csv") && err.contains("sha256"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_refuses_a_csv_with_a_broken_quote() {
    let err = broken_import("quote", |d| {
        edit(d.join("ticket.csv"), |t| t.replacen("\"first \"\"one\"\"\"", "\"first \"one\"", 1))
    })
    .await;
    assert!(err.contains("ticket.csv:2"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_profile_reports_every_value_the_run_would_reject_or_change() {
    let extra = format!(
        "SET SESSION sql_mode = '';\n\
         SET SESSION check_constraint_checks = 0;\n\
         INSERT INTO person (id, active, born, settings) VALUES ('0b000000-0000-4000-8000-0000000000f1', 2, '0000-00-00 00:00:00', '{{bad json');\n\
         INSERT INTO org VALUES ('0a000000-0000-4000-8000-0000000000f2', 'Junk Inc', 'not-a-uuid');\n\
         UPDATE ticket SET title = '{}' WHERE id = 3",
        "z".repeat(120)
    );
    let (my, pg) = setup("profile", &extra).await;
    pg.client.batch_execute("ALTER TABLE person ALTER COLUMN born SET NOT NULL").await.unwrap();
    let p = pipeline(&load_pipeline(""), &[("MYSQL_URL", &my.url), ("PG_URL", &pg.url)]);
    let (opened, plan, target) = converge::run::plan(&p).await.unwrap();
    let Some(src) = &opened.live() else { panic!("a live source") };
    let t = target.as_ref().unwrap();
    let found =
        converge::pipeline::profile::profile(src, &plan, Some((&t.tables[..], &t.load.tables[..]))).await.unwrap();
    opened.close().await;
    let text = converge::pipeline::profile::render(&found);
    let expect = [
        "person.active: 1 values rejected: is not 0 or 1 in a boolean column (set bool_values = \"nonzero\" to read it as true) (e.g. id='0b000000-0000-4000-8000-0000000000f1')",
        "person.born: 1 values rejected: is a zero date (set zero_date = \"null\" to load it as NULL) (e.g. id='0b000000-0000-4000-8000-0000000000f1')",
        "person.born: 1 values rejected: is NULL, bound for a NOT NULL column (e.g. id='0b000000-0000-4000-8000-000000000002')",
        "person.settings: 1 values rejected: is not valid JSON",
        "org.ownerId: 1 values rejected: is not a UUID (e.g. id='0a000000-0000-4000-8000-0000000000f2')",
        "ticket.title: 1 values rejected: is longer than the target column's 100 characters (e.g. id='3')",
    ];
    for e in expect {
        assert!(text.contains(e), "missing `{e}` in:\n{text}");
    }
    // An upper-case UUID loaded into uuid is the same value, but the run's report counts
    // the UUIDs it lower-cased (an export's text changes), so the profile does too.
    assert!(text.contains("org.id: 1 values changed: UUIDs lower-cased\n"), "{text}");
    // Profiling moved no data.
    assert_eq!(pg_rows(&pg, "SELECT count(*) FROM person").await[0][0].as_deref(), Some("0"));
    pg.drop_db().await;
    my.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_table_transactions_keep_committed_tables_and_a_rerun_skips_them() {
    let (my, pg) = setup("pertable", &format!("UPDATE ticket SET title = '{}' WHERE id = 2", "y".repeat(150))).await;
    let name = my.name.clone();
    let text = load_pipeline("transaction = \"table\"").replace("name = \"load\"", &format!("name = \"{name}\""));
    let p = pipeline(&text, &[("MYSQL_URL", &my.url), ("PG_URL", &pg.url)]);
    let err = converge::run::run(&p, &Default::default()).await.expect_err("ticket has a value too long").to_string();
    assert!(err.contains("table `ticket`, row id='2', column `title`"), "{err}");
    // The tables before the failing one are committed and recorded; the failing one is empty.
    let count = |t: &'static str| {
        let pg = &pg;
        async move { pg_rows(pg, &format!("SELECT count(*) FROM \"{t}\"")).await[0][0].clone().unwrap() }
    };
    assert_eq!(
        (count("org").await, count("person").await, count("ticket").await),
        ("2".into(), "2".into(), "0".into())
    );
    // The state is in the target, written with each table's data.
    let state = pg_rows(&pg, "SELECT table_name, rows FROM converge.load_state ORDER BY 1").await;
    assert_eq!(state, vec![vec![Some("org".into()), Some("2".into())], vec![Some("person".into()), Some("2".into())]]);

    // Fixed at the source, the rerun reads and loads only what is missing.
    my.exec("UPDATE ticket SET title = 'short' WHERE id = 2").await;
    let report = converge::run::run(&p, &Default::default()).await.unwrap_or_else(|e| panic!("{e}"));
    let loaded: Vec<&str> = report.tables.iter().map(|t| t.table.as_str()).collect();
    assert_eq!(loaded, vec!["ticket"]);
    // The summary says which tables were skipped, and why.
    let text = converge::report::run_text(&report);
    assert!(
        text.contains("not carried: 2 tables: org (committed by run") && text.contains("unchanged in the source since"),
        "{text}"
    );
    assert_eq!(count("ticket").await, "3");
    let next = pg_rows(&pg, "INSERT INTO ticket (title) VALUES ('after') RETURNING id").await;
    assert_eq!(next[0][0].as_deref(), Some("4"));
    pg.drop_db().await;
    my.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_per_table_rerun_refuses_when_a_committed_table_changed_in_the_source() {
    let (my, pg) = setup("rerun", &format!("UPDATE ticket SET title = '{}' WHERE id = 2", "y".repeat(150))).await;
    let name = my.name.clone();
    let text = load_pipeline("transaction = \"table\"").replace("name = \"load\"", &format!("name = \"{name}\""));
    let p = pipeline(&text, &[("MYSQL_URL", &my.url), ("PG_URL", &pg.url)]);
    converge::run::run(&p, &Default::default()).await.expect_err("ticket has a value too long");
    // ticket's failure rolled back its own transaction only: the tables being loaded
    // beside it (on the same connection, whichever took it first) still committed.
    let committed = pg_rows(&pg, "SELECT table_name FROM converge.load_state ORDER BY 1").await;
    assert_eq!(committed, vec![vec![Some("org".to_string())], vec![Some("person".to_string())]]);
    // The source moves on: a committed table gains a row, the failing one is fixed.
    my.exec("UPDATE ticket SET title = 'short' WHERE id = 2").await;
    my.exec("INSERT INTO org (id, name) VALUES ('0a000000-0000-4000-8000-0000000000ff', 'Late')").await;
    let err = converge::run::run(&p, &Default::default()).await.expect_err("org changed").to_string();
    assert!(err.contains("`org` (committed by run") && err.contains("3 rows in the source, 2 in the target"), "{err}");
    assert!(!err.contains("`person`"), "person is unchanged: {err}");
    let count = |t: &'static str| {
        let pg = &pg;
        async move { pg_rows(pg, &format!("SELECT count(*) FROM \"{t}\"")).await[0][0].clone().unwrap() }
    };
    assert_eq!((count("org").await, count("ticket").await), ("2".into(), "0".into()), "nothing was loaded");
    // A changed value (same count) is caught by the content digest.
    my.exec("DELETE FROM org WHERE name = 'Late'").await;
    my.exec("UPDATE person SET note = 'edited' WHERE id = '0b000000-0000-4000-8000-000000000001'").await;
    let err = converge::run::run(&p, &Default::default()).await.expect_err("person changed").to_string();
    assert!(err.contains("`person` (committed by run") && !err.contains("`org`"), "{err}");
    // With truncate, the changed table is loaded again, the unchanged one skipped.
    let text = load_pipeline("transaction = \"table\"\ntruncate = true")
        .replace("name = \"load\"", &format!("name = \"{name}\""));
    let p = pipeline(&text, &[("MYSQL_URL", &my.url), ("PG_URL", &pg.url)]);
    let report = converge::run::run(&p, &Default::default()).await.unwrap_or_else(|e| panic!("{e}"));
    let mut loaded: Vec<&str> = report.tables.iter().map(|t| t.table.as_str()).collect();
    loaded.sort();
    // org is unchanged, but it references person (TRUNCATE takes them together).
    assert_eq!(loaded, vec!["org", "person", "ticket"]);
    let note = pg_rows(&pg, "SELECT note FROM person WHERE id = '0b000000-0000-4000-8000-000000000001'").await;
    assert_eq!(note[0][0].as_deref(), Some("edited"));
    pg.drop_db().await;
    my.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_owner_without_superuser_loads_by_dropping_and_recreating_foreign_keys() {
    let my = MyDb::create("owner").await;
    my.exec(MY_SCHEMA).await;
    my.exec(MY_DATA).await;
    let pg = PgDb::create("owner").await;
    let role = format!("r_{}", &pg.name[pg.name.len() - 10..]);
    pg.client
        .batch_execute(&format!(
            "CREATE ROLE \"{role}\" LOGIN; GRANT ALL ON SCHEMA public TO \"{role}\"; SET ROLE \"{role}\"; {PG_SCHEMA}; RESET ROLE"
        ))
        .await
        .unwrap();
    let url = pg.url.replacen("postgres@", &format!("{role}@"), 1);
    let p = pipeline(&load_pipeline(""), &[("MYSQL_URL", &my.url), ("PG_URL", &url)]);
    let report = converge::run::run(&p, &Default::default()).await.unwrap_or_else(|e| panic!("{e}"));
    assert!(report.ledger.rows.iter().all(|r| r.problems().is_empty() && r.target == r.read));
    let fks = pg_rows(&pg, "SELECT conname FROM pg_constraint WHERE contype = 'f' ORDER BY 1").await;
    assert_eq!(fks.len(), 4, "the foreign keys were re-created: {fks:?}");
    // An orphan is caught by re-creating the constraint; nothing stays loaded.
    pg.client.batch_execute("TRUNCATE ticket, person, org").await.unwrap();
    my.exec("INSERT INTO ticket (personId, title) VALUES ('0b000000-0000-4000-8000-00000000dead', 'orphan')").await;
    let err = converge::run::run(&p, &Default::default()).await.expect_err("orphan").to_string();
    assert!(err.contains("ticket_personId_fkey") || err.contains("orphaned"), "{err}");
    assert_eq!(pg_rows(&pg, "SELECT count(*) FROM person").await[0][0].as_deref(), Some("0"));
    assert_eq!(
        pg_rows(&pg, "SELECT count(*) FROM pg_constraint WHERE contype = 'f'").await[0][0].as_deref(),
        Some("4")
    );
    pg.drop_db().await;
    let admin = connect_pg(&format!("{}/postgres", pg_base())).await;
    admin.batch_execute(&format!("DROP ROLE \"{role}\"")).await.unwrap();
    my.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_whose_source_fails_half_way_is_not_committed_in_per_table_mode() {
    let my = MyDb::create("halfway").await;
    my.exec("SET SESSION sql_mode = ''; CREATE TABLE ev (id int PRIMARY KEY, at datetime NOT NULL); INSERT INTO ev VALUES (1, '2024-01-01 10:00:00'), (2, '2024-01-02 10:00:00'), (3, '0000-00-00 00:00:00'), (4, '2024-01-04 10:00:00')").await;
    let pg = PgDb::create("halfway").await;
    pg.client.batch_execute("CREATE TABLE ev (id int PRIMARY KEY, at timestamp NOT NULL)").await.unwrap();
    // One row a batch: rows 1 and 2 reach the COPY before the source refuses row 3.
    let text = format!(
        "name = \"{}\"\n[source]\nkind = \"mysql\"\nurl = \"${{MYSQL_URL}}\"\n[options]\nbatch_rows = 1\n[[sink]]\nkind = \"postgres\"\nurl = \"${{PG_URL}}\"\ntransaction = \"table\"\n",
        my.name
    );
    let p = pipeline(&text, &[("MYSQL_URL", &my.url), ("PG_URL", &pg.url)]);
    let err = converge::run::run(&p, &Default::default()).await.expect_err("a zero date").to_string();
    assert!(err.contains("id=3") && err.contains("`at`"), "{err}");
    assert_eq!(pg_rows(&pg, "SELECT count(*) FROM ev").await[0][0].as_deref(), Some("0"), "no half table committed");
    let recorded = pg_rows(&pg, "SELECT count(*) FROM pg_tables WHERE schemaname = 'converge'").await;
    if recorded[0][0].as_deref() != Some("0") {
        assert!(pg_rows(&pg, "SELECT 1 FROM converge.load_state WHERE table_name = 'ev'").await.is_empty());
    }
    pg.drop_db().await;
    my.drop_db().await;
}
