//! The load's speed-ups leave the same target: `COPY … FREEZE` into the tables the
//! transaction emptied (and not into one something outside the load references),
//! secondary indexes and foreign keys built after the load and proven identical, and
//! several COPY streams in per-table mode.

mod common;

use common::*;

const MY_SCHEMA: &str = "CREATE TABLE org (id int PRIMARY KEY, name varchar(50) NOT NULL);\n\
CREATE TABLE person (id int PRIMARY KEY, orgId int NULL, email varchar(100) NOT NULL, note text NULL);\n\
CREATE TABLE ticket (id int PRIMARY KEY, personId int NULL, title varchar(100) NOT NULL)";

const MY_DATA: &str = "INSERT INTO org VALUES (1, 'Acme'), (2, 'Umbrella');\n\
INSERT INTO person VALUES (1, 1, 'a@x.org', 'line\\nbreak'), (2, 2, 'B@x.org', NULL), (3, NULL, 'c@x.org', '😀');\n\
INSERT INTO ticket VALUES (1, 1, 'first'), (2, NULL, 'second'), (3, 3, 'third')";

/// Secondary indexes of every kind a definition carries: plain, partial, unique (not a
/// constraint), expression, INCLUDE, with a comment; primary keys, a unique constraint
/// (with comments on it and on an index behind a key) and foreign keys.
const PG_SCHEMA: &str = "CREATE TABLE org (id int PRIMARY KEY, name varchar(50) NOT NULL, CONSTRAINT org_name_key UNIQUE (name));\n\
CREATE TABLE person (id int PRIMARY KEY, \"orgId\" int REFERENCES org(id), email varchar(100) NOT NULL, note text);\n\
CREATE TABLE ticket (id int PRIMARY KEY, \"personId\" int REFERENCES person(id) DEFERRABLE INITIALLY DEFERRED, title varchar(100) NOT NULL);\n\
CREATE INDEX person_org ON person (\"orgId\");\n\
CREATE UNIQUE INDEX person_email_lower ON person (lower(email));\n\
CREATE INDEX person_noted ON person (id) INCLUDE (email) WHERE note IS NOT NULL;\n\
CREATE INDEX ticket_title ON ticket USING hash (title);\n\
COMMENT ON INDEX person_org IS 'who works where';\n\
COMMENT ON CONSTRAINT org_name_key ON org IS 'one org per name';\n\
COMMENT ON INDEX org_pkey IS 'the key';\n\
CREATE INDEX ticket_person ON ticket (\"personId\" DESC NULLS LAST) WITH (fillfactor = 70)";

fn load_pipeline(extra_sink: &str) -> String {
    format!(
        "name = \"tuning\"\n[source]\nkind = \"mysql\"\nurl = \"${{MYSQL_URL}}\"\n[[sink]]\nkind = \"postgres\"\nurl = \"${{PG_URL}}\"\n{extra_sink}\n"
    )
}

async fn setup(prefix: &str) -> (MyDb, PgDb) {
    let my = MyDb::create(prefix).await;
    my.exec(MY_SCHEMA).await;
    my.exec(MY_DATA).await;
    let pg = PgDb::create(prefix).await;
    pg.client.batch_execute(PG_SCHEMA).await.unwrap();
    pg.client.batch_execute("CREATE EXTENSION IF NOT EXISTS pg_visibility").await.unwrap();
    (my, pg)
}

async fn texts(pg: &PgDb, sql: &str) -> Vec<String> {
    pg.client.query(sql, &[]).await.unwrap().iter().map(|r| r.get::<_, String>(0)).collect()
}

/// The target's indexes and constraints as the catalog describes them, read
/// independently of the tool, with the index's identity (its oid) apart.
async fn catalog(pg: &PgDb) -> (Vec<String>, Vec<String>) {
    let defs = texts(
        pg,
        "SELECT format('%s | %s | %s', indexdef, obj_description(format('%I', indexname)::regclass, 'pg_class'),
                       (SELECT indisvalid FROM pg_index WHERE indexrelid = format('%I', indexname)::regclass))
         FROM pg_indexes WHERE schemaname = 'public'
         UNION ALL
         SELECT format('%s %s %s %s %s', conrelid::regclass, conname, pg_get_constraintdef(oid), convalidated,
                       obj_description(oid, 'pg_constraint'))
         FROM pg_constraint WHERE connamespace = 'public'::regnamespace
         ORDER BY 1",
    )
    .await;
    let oids = texts(
        pg,
        "SELECT format('%s=%s', indexname, format('%I', indexname)::regclass::oid) FROM pg_indexes
         WHERE schemaname = 'public' ORDER BY 1",
    )
    .await;
    (defs, oids)
}

/// Whether every page of the table is all-frozen in the visibility map.
async fn all_frozen(pg: &PgDb, table: &str) -> bool {
    let row = pg
        .client
        .query_one(&format!("SELECT COALESCE(bool_and(all_frozen), false) FROM pg_visibility_map('{table}')"), &[])
        .await
        .unwrap();
    row.get(0)
}

async fn rows(pg: &PgDb) -> Vec<String> {
    texts(
        pg,
        "SELECT format('%s', o) FROM org o UNION ALL SELECT format('%s', p) FROM person p
         UNION ALL SELECT format('%s', t) FROM ticket t ORDER BY 1",
    )
    .await
}

const EXPECTED_ROWS: [&str; 8] = [
    "(1,1,a@x.org,\"line\nbreak\")",
    "(1,1,first)",
    "(1,Acme)",
    "(2,,second)",
    "(2,2,B@x.org,)",
    "(2,Umbrella)",
    "(3,,c@x.org,😀)",
    "(3,3,third)",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_freeze_loads_the_emptied_tables_frozen_and_freeze_false_does_not() {
    let (my, pg) = setup("freeze").await;
    let vars = [("MYSQL_URL", my.url.as_str()), ("PG_URL", pg.url.as_str())];
    let report = converge::run::run(&pipeline(&load_pipeline(""), &vars), &Default::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(rows(&pg).await, EXPECTED_ROWS);
    for t in ["org", "person", "ticket"] {
        assert!(all_frozen(&pg, t).await, "{t} was loaded with COPY FREEZE");
    }
    // The report says so, as text and JSON.
    let summary = report.load.clone().expect("a postgres load");
    let mut frozen = summary.frozen.clone();
    frozen.sort();
    assert_eq!(frozen, ["org", "person", "ticket"]);
    // By default every index (nine: three primary keys, a unique constraint, five
    // secondary) is built after the load.
    assert!(summary.rebuilt_indexes.len() == 9 && summary.streams == 1, "{summary:?}");
    let text = converge::report::run_text_verbose(&report);
    assert!(text.contains("load: COPY FREEZE on 3 of 3 tables"), "{text}");
    let short = converge::report::run_text(&report);
    assert!(short.contains("; 9 indexes built after the load and proven as they were; "), "{short}");
    assert!(text.contains("; 9 indexes built after the load and proven as they were (org_pkey, "), "{text}");
    let json: serde_json::Value = serde_json::from_str(&converge::report::run_json(&report)).unwrap();
    assert_eq!(json["load"]["frozen"].as_array().map(|a| a.len()), Some(3), "{json}");

    // Off: the same rows, not frozen.
    let again = load_pipeline("truncate = true\nfreeze = false");
    let report =
        converge::run::run(&pipeline(&again, &vars), &Default::default()).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(report.load.map(|l| l.frozen), Some(vec![]));
    assert_eq!(rows(&pg).await, EXPECTED_ROWS);
    for t in ["org", "person", "ticket"] {
        assert!(!all_frozen(&pg, t).await, "{t} was loaded without FREEZE");
    }
    pg.drop_db().await;
    my.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_referenced_from_outside_the_load_is_not_truncated_and_loads_unfrozen() {
    let (my, pg) = setup("freeze_out").await;
    // A target-only table referencing person: TRUNCATE person would be refused, and so
    // would org's (person references it and is not truncated). ticket is free. (With
    // indexes built after the load, or without them but with the target's triggers
    // firing, the defaults, that foreign key is dropped and re-created like the others,
    // so nothing stands in TRUNCATE's way: this is the path of `defer_indexes = false`
    // with `triggers = "disable"`, where the foreign keys stay in place.)
    pg.client
        .batch_execute("CREATE TABLE badge (id int PRIMARY KEY, \"personId\" int REFERENCES person(id))")
        .await
        .unwrap();
    let vars = [("MYSQL_URL", my.url.as_str()), ("PG_URL", pg.url.as_str())];
    let report = converge::run::run(
        &pipeline(&load_pipeline("defer_indexes = false\ntriggers = \"disable\""), &vars),
        &Default::default(),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(rows(&pg).await, EXPECTED_ROWS);
    assert_eq!(report.load.map(|l| l.frozen), Some(vec!["ticket".to_string()]));
    assert!(all_frozen(&pg, "ticket").await);
    assert!(!all_frozen(&pg, "person").await);
    assert!(!all_frozen(&pg, "org").await);
    // With the triggers firing, the outside foreign key is dropped and re-created too:
    // every table is emptied by the transaction and takes FREEZE.
    pg.client.batch_execute("TRUNCATE ticket, badge, person, org").await.unwrap();
    let report = converge::run::run(&pipeline(&load_pipeline("defer_indexes = false"), &vars), &Default::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(report.load.map(|l| l.frozen.len()), Some(3));
    let fks = pg.client.query_one("SELECT count(*) FROM pg_constraint WHERE contype = 'f'", &[]).await.unwrap();
    assert_eq!(fks.get::<_, i64>(0), 3, "every foreign key is back");
    for t in ["org", "person", "ticket"] {
        assert!(all_frozen(&pg, t).await, "{t}");
    }
    pg.drop_db().await;
    my.drop_db().await;
}

/// A table the load emptied holds exactly what its COPY reported, so it is not counted
/// again before commit, unless a trigger can write to it: then the count in the
/// transaction catches the difference and nothing is committed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trigger_that_adds_rows_is_caught_by_the_count_before_commit() {
    let (my, pg) = setup("trigger_count").await;
    // ENABLE ALWAYS: fires even with session_replication_role = replica.
    pg.client
        .batch_execute(
            "CREATE FUNCTION ticket_echo() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN IF NEW.id = 1 THEN INSERT INTO ticket VALUES (100, NULL, 'echo'); END IF; RETURN NULL; END $$;
             CREATE TRIGGER ticket_echo AFTER INSERT ON ticket FOR EACH ROW EXECUTE FUNCTION ticket_echo();
             ALTER TABLE ticket ENABLE ALWAYS TRIGGER ticket_echo",
        )
        .await
        .unwrap();
    let vars = [("MYSQL_URL", my.url.as_str()), ("PG_URL", pg.url.as_str())];
    let err = converge::run::run(&pipeline(&load_pipeline(""), &vars), &Default::default())
        .await
        .expect_err("the target holds a row the source does not")
        .to_string();
    assert!(err.contains("ticket") && err.contains("the target holds 4 rows, expected 3"), "{err}");
    assert!(rows(&pg).await.is_empty(), "nothing was committed");
    // Without the trigger the same load passes.
    pg.client.batch_execute("DROP TRIGGER ticket_echo ON ticket").await.unwrap();
    converge::run::run(&pipeline(&load_pipeline(""), &vars), &Default::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(rows(&pg).await, EXPECTED_ROWS);
    pg.drop_db().await;
    my.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deferred_indexes_and_foreign_keys_are_rebuilt_exactly_as_they_were() {
    let (my, pg) = setup("defer").await;
    let (before, before_oids) = catalog(&pg).await;
    assert_eq!(before_oids.len(), 9, "{before_oids:?}");
    let vars = [("MYSQL_URL", my.url.as_str()), ("PG_URL", pg.url.as_str())];
    let p = pipeline(&load_pipeline("defer_indexes = true"), &vars);
    let report = converge::run::run(&p, &Default::default()).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(rows(&pg).await, EXPECTED_ROWS);
    let mut reported = report.load.expect("a postgres load").rebuilt_indexes;
    reported.sort();
    let (after, after_oids) = catalog(&pg).await;
    assert_eq!(after, before, "every index and constraint definition, validity and comment is as it was");
    // Every index was rebuilt (new oids): the five secondary ones, and the primary keys
    // and unique constraint with their constraints.
    let rebuilt: Vec<&String> = after_oids.iter().filter(|o| !before_oids.contains(o)).collect();
    let names: Vec<&str> = rebuilt.iter().map(|o| o.split('=').next().unwrap()).collect();
    assert_eq!(
        names,
        [
            "org_name_key",
            "org_pkey",
            "person_email_lower",
            "person_noted",
            "person_org",
            "person_pkey",
            "ticket_person",
            "ticket_pkey",
            "ticket_title"
        ]
    );
    assert_eq!(reported, names, "the run reports the indexes it rebuilt");
    // The rebuilt primary key serves (and its column is still NOT NULL).
    let dup = pg.client.batch_execute("INSERT INTO org VALUES (1, 'Other')").await;
    assert!(dup.unwrap_err().as_db_error().unwrap().constraint() == Some("org_pkey"));
    // The rebuilt indexes serve: the unique expression index refuses a duplicate.
    let dup = pg.client.batch_execute("INSERT INTO person VALUES (9, NULL, 'A@X.ORG', NULL)").await;
    assert!(dup.unwrap_err().as_db_error().unwrap().constraint() == Some("person_email_lower"));
    // Foreign keys were re-created, so validated: an orphan is refused.
    let orphan = pg.client.batch_execute("INSERT INTO person VALUES (9, 77, 'n@x.org', NULL)").await;
    assert!(orphan.unwrap_err().as_db_error().unwrap().constraint() == Some("person_orgId_fkey"));
    pg.drop_db().await;
    my.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deferred_unique_index_that_the_data_breaks_fails_the_run_and_leaves_the_target_as_it_was() {
    let (my, pg) = setup("defer_dup").await;
    my.exec("UPDATE person SET email = 'A@X.org' WHERE id = 2").await;
    let (before, before_oids) = catalog(&pg).await;
    let vars = [("MYSQL_URL", my.url.as_str()), ("PG_URL", pg.url.as_str())];
    let p = pipeline(&load_pipeline("defer_indexes = true"), &vars);
    let err = converge::run::run(&p, &Default::default()).await.expect_err("duplicate").to_string();
    assert!(err.contains("re-creating index `person_email_lower` of `person`"), "{err}");
    assert!(err.contains("23505"), "{err}");
    // The value and the keys of the rows that share it.
    assert!(err.contains("table `person`: 1 duplicated values of (lower(email::text))"), "{err}");
    assert!(err.contains("(a@x.org) in 2 rows (1; 2)") || err.contains("(a@x.org) in 2 rows (2; 1)"), "{err}");
    assert_eq!(catalog(&pg).await, (before, before_oids), "the indexes are the very same ones");
    assert!(rows(&pg).await.is_empty());
    pg.drop_db().await;
    my.drop_db().await;
}

/// Two source keys that differ only in case are one uuid in PostgreSQL: with the primary
/// key built after the load, re-creating it fails the run, which names the table, the
/// key and the value, and leaves the target's rows and indexes as they were.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_primary_key_built_after_the_load_that_the_data_breaks_names_the_key_and_commits_nothing() {
    let (my, pg) = setup("defer_pk").await;
    my.exec(
        "CREATE TABLE token (id char(36) COLLATE utf8mb4_bin PRIMARY KEY, label varchar(20) NOT NULL);\n\
         INSERT INTO token VALUES ('6f1c2a8e-0b9d-4c1e-9a57-3f2d8b7c6e51', 'lower'), \
                                  ('6F1C2A8E-0B9D-4C1E-9A57-3F2D8B7C6E51', 'upper')",
    )
    .await;
    pg.client.batch_execute("CREATE TABLE token (id uuid PRIMARY KEY, label varchar(20) NOT NULL)").await.unwrap();
    let (before, before_oids) = catalog(&pg).await;
    let vars = [("MYSQL_URL", my.url.as_str()), ("PG_URL", pg.url.as_str())];
    let p = pipeline(&load_pipeline("defer_indexes = true"), &vars);
    let err = converge::run::run(&p, &Default::default()).await.expect_err("duplicate key").to_string();
    assert!(err.contains("re-creating index `token_pkey` of `token`"), "{err}");
    assert!(err.contains("23505") && err.contains("(id)=(6f1c2a8e-0b9d-4c1e-9a57-3f2d8b7c6e51)"), "{err}");
    assert!(
        err.contains("table `token`: 1 duplicated values of (id) break the unique index `token_pkey`")
            && err.contains("e.g. (6f1c2a8e-0b9d-4c1e-9a57-3f2d8b7c6e51) in 2 rows (nothing was committed)"),
        "{err}"
    );
    assert_eq!(catalog(&pg).await, (before, before_oids), "the indexes are the very same ones");
    assert!(rows(&pg).await.is_empty());
    let n: i64 = pg.client.query_one("SELECT count(*) FROM token", &[]).await.unwrap().get(0);
    assert_eq!(n, 0, "nothing was committed");
    pg.drop_db().await;
    my.drop_db().await;
}

/// A `NULLS NOT DISTINCT` unique index (PostgreSQL 15) counts rows whose key is NULL
/// as duplicates of each other: built after the load, the error names them too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nulls_not_distinct_index_names_the_rows_sharing_a_null() {
    let (my, pg) = setup("defer_nnd").await;
    my.exec(
        "CREATE TABLE badge (id int PRIMARY KEY, code varchar(20) NULL);\n\
         INSERT INTO badge VALUES (1, 'a'), (2, NULL), (3, 'b'), (4, NULL)",
    )
    .await;
    pg.client
        .batch_execute(
            "CREATE TABLE badge (id int PRIMARY KEY, code varchar(20));\n\
             CREATE UNIQUE INDEX badge_code ON badge (code) NULLS NOT DISTINCT",
        )
        .await
        .unwrap();
    let (before, before_oids) = catalog(&pg).await;
    let vars = [("MYSQL_URL", my.url.as_str()), ("PG_URL", pg.url.as_str())];
    let p = pipeline(&load_pipeline("defer_indexes = true"), &vars);
    let err = converge::run::run(&p, &Default::default()).await.expect_err("two NULL codes").to_string();
    assert!(
        err.contains("table `badge`: 1 duplicated values of (code) break the unique index `badge_code`")
            && err.contains("e.g. (NULL) in 2 rows (2; 4)"),
        "{err}"
    );
    assert_eq!(catalog(&pg).await, (before, before_oids), "the indexes are the very same ones");
    let n: i64 = pg.client.query_one("SELECT count(*) FROM badge", &[]).await.unwrap().get(0);
    assert_eq!(n, 0, "nothing was committed");
    pg.drop_db().await;
    my.drop_db().await;
}

/// A primary key that a foreign key outside the load depends on (here from another
/// schema) cannot be dropped for the load: it is kept and maintained row by row, the
/// rest is still built after the load.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_referenced_from_outside_the_load_is_kept_while_the_others_are_rebuilt() {
    let (my, pg) = setup("defer_kept").await;
    pg.client
        .batch_execute("CREATE SCHEMA audit; CREATE TABLE audit.seen (\"orgId\" int REFERENCES public.org(id))")
        .await
        .unwrap();
    let (before, before_oids) = catalog(&pg).await;
    let vars = [("MYSQL_URL", my.url.as_str()), ("PG_URL", pg.url.as_str())];
    let p = pipeline(&load_pipeline("defer_indexes = true"), &vars);
    let report = converge::run::run(&p, &Default::default()).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(rows(&pg).await, EXPECTED_ROWS);
    let (after, after_oids) = catalog(&pg).await;
    assert_eq!(after, before);
    let kept: Vec<&str> =
        after_oids.iter().filter(|o| before_oids.contains(o)).map(|o| o.split('=').next().unwrap()).collect();
    assert_eq!(kept, ["org_pkey"], "only the referenced key was left in place");
    let reported = report.load.expect("a postgres load").rebuilt_indexes;
    assert!(
        !reported.contains(&"org_pkey".to_string()) && reported.contains(&"person_pkey".to_string()),
        "{reported:?}"
    );
    pg.drop_db().await;
    my.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn defer_indexes_needs_a_single_transaction() {
    let text = load_pipeline("defer_indexes = true\ntransaction = \"table\"");
    let err = converge::Pipeline::parse(&text, std::path::Path::new("t.toml"), |k| {
        Some(
            if k == "MYSQL_URL" { "mysql://root@127.0.0.1:3306/x" } else { "postgres://postgres@127.0.0.1/x" }
                .to_string(),
        )
    })
    .expect_err("refused")
    .to_string();
    assert!(err.contains("defer_indexes needs transaction = \"run\""), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_table_mode_copies_on_several_connections_and_loads_the_same_rows() {
    use converge::sink::postgres::load::{PerTable, PgLoad, Tuning};
    let (my, pg) = setup("streams").await;
    let state = PerTable { pipeline: "streams-test".into(), migration_id: "m1".into() };
    let tuning = Tuning { streams: 3, ..Default::default() };
    let tables: Vec<String> = ["org", "person", "ticket"].map(String::from).to_vec();
    let mut load = PgLoad::open(&pg.url, "public", Vec::new(), Some(state.clone()), tuning).await.unwrap();
    load.begin(&tables, false).await.unwrap();
    assert!(load.parallel());
    let backends = pg
        .client
        .query_one(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() \
             AND application_name NOT LIKE '%(lock watch)'",
            &[],
        )
        .await
        .unwrap()
        .get::<_, i64>(0);
    assert_eq!(backends, 3, "three COPY connections are open");
    drop(load);

    let name = pg.name.clone();
    let text = load_pipeline("transaction = \"table\"\nstreams = 3")
        .replace("name = \"tuning\"", &format!("name = \"{name}\""));
    let vars = [("MYSQL_URL", my.url.as_str()), ("PG_URL", pg.url.as_str())];
    let report =
        converge::run::run(&pipeline(&text, &vars), &Default::default()).await.unwrap_or_else(|e| panic!("{e}"));
    assert!(report.ledger.rows.iter().all(|r| r.problems().is_empty() && r.target == r.read));
    assert_eq!(report.load.map(|l| (l.streams, l.frozen.len())), Some((3, 0)), "per-table mode does not freeze");
    assert_eq!(rows(&pg).await, EXPECTED_ROWS);
    pg.drop_db().await;
    my.drop_db().await;
}
