//! `create = "missing"` and `converge schema`: a PostgreSQL schema made from MySQL's,
//! created in the run's transaction, loaded and verified — the fixtures against their
//! hand-written targets, every type family, awkward names, keys and rules, a row that
//! breaks a created constraint, and the `schema --out` file applied by psql.

mod common;

use std::path::Path;

use common::*;

fn fixture_sql(file: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures").join(file)).unwrap()
}

/// A pipeline from `my` into `pg`; `sink` adds postgres-sink keys (`create = "missing"`).
fn pipeline_for(my: &MyDb, pg: &PgDb, rules: &str, sink: &str) -> converge::Pipeline {
    let text = format!(
        "name = \"create\"\n[source]\nkind = \"mysql\"\nurl = \"${{MYSQL_URL}}\"\n{rules}\n\
         [[sink]]\nkind = \"postgres\"\nurl = \"${{PG_URL}}\"\n{sink}\n"
    );
    pipeline(&text, &[("MYSQL_URL", &my.url), ("PG_URL", &pg.url)])
}

const CREATE: &str = "create = \"missing\"";

async fn run(p: &converge::Pipeline) -> converge::run::RunReport {
    converge::run::run(p, &Default::default()).await.unwrap_or_else(|e| panic!("{e}"))
}

async fn run_err(p: &converge::Pipeline) -> String {
    match converge::run::run(p, &Default::default()).await {
        Ok(_) => panic!("the run should have stopped"),
        Err(e) => e.to_string(),
    }
}

async fn verify_passes(p: &converge::Pipeline) {
    let v = converge::verify::verify(p, converge::verify::Depth::Full).await.unwrap();
    assert!(v.passed(), "{}", v.text());
}

/// The tables of the public schema, sorted.
async fn pg_tables(pg: &PgDb) -> Vec<String> {
    pg_rows(pg, "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")
        .await
        .into_iter()
        .map(|r| r[0].clone().unwrap())
        .collect()
}

/// `column type [NOT NULL]` of each column of `table`, in order.
async fn pg_columns(pg: &PgDb, table: &str) -> Vec<String> {
    let sql = format!(
        "SELECT attname || ' ' || format_type(atttypid, atttypmod) || CASE WHEN attnotnull THEN ' NOT NULL' ELSE '' END \
         FROM pg_attribute WHERE attrelid = '{}'::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
        converge::ident::pg(table).replace('\'', "''")
    );
    pg_rows(pg, &sql).await.into_iter().map(|r| r[0].clone().unwrap()).collect()
}

/// One value as text.
async fn pg_one(pg: &PgDb, sql: &str) -> Option<String> {
    pg_rows(pg, sql).await.remove(0).remove(0)
}

/// Creates a fixture into an empty database, loads and verifies it; then compares
/// what `schema` would create with the hand-written target.
async fn fixture_round(name: &str, rules: &str) -> Vec<String> {
    let my = MyDb::create(name).await;
    my.exec(&fixture_sql(&format!("{name}.sql"))).await;
    let pg = PgDb::create(name).await;
    let p = pipeline_for(&my, &pg, rules, CREATE);
    let report = run(&p).await;
    let created = &report.load.as_ref().unwrap().created;
    assert!(!created.is_empty());
    assert_eq!(created.len(), pg_tables(&pg).await.len(), "every table was created by the run");
    for row in &report.ledger.rows {
        assert!(row.problems().is_empty(), "{row:?}");
        assert_eq!(row.target, row.read, "{}", row.table);
    }
    verify_passes(&p).await;

    let hand = PgDb::create(&format!("{name}h")).await;
    hand.client.batch_execute(&fixture_sql(&format!("{name}_pg.sql"))).await.unwrap();
    let schema = converge::ddl::schema(&pipeline_for(&my, &hand, rules, ""), true).await.unwrap();
    hand.drop_db().await;
    pg.drop_db().await;
    my.drop_db().await;
    let mut differences = schema.differences.expect("--diff compares");
    differences.sort();
    differences
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kratos_is_created_loaded_verified_and_matches_its_hand_written_target() {
    let differences = fixture_round("kratos", "exclude = [\"schema_migration\"]\n[options]\naudit_columns = []").await;
    // MySQL `timestamp` is an instant (stored in UTC, shown in the session's zone), so it
    // is created as timestamptz with MySQL's precision (0 unless declared); Kratos'
    // PostgreSQL migrations chose `timestamp` (no zone, 6 digits) for the same columns.
    let instant = |c: &str, digits: u32| {
        format!(
            "`{c}`: type timestamp(6) without time zone in the target, timestamp({digits}) with time zone from MySQL"
        )
    };
    let mut expected = vec![
        instant("continuity_containers`.`expires_at", 0),
        // MySQL declares `DEFAULT current_timestamp()`; the hand-written target has none.
        "`continuity_containers`.`expires_at`: default none in the target, CURRENT_TIMESTAMP(0) from MySQL".to_string(),
        instant("identities`.`state_changed_at", 6),
        // The hand-written target has a foreign key the MySQL fixture does not.
        "`identity_recovery_addresses`: foreign key (nid) → `networks` only in the target".to_string(),
        instant("identity_verifiable_addresses`.`verified_at", 0),
        instant("selfservice_errors`.`seen_at", 0),
        instant("selfservice_login_flows`.`expires_at", 0),
        "`selfservice_login_flows`.`expires_at`: default none in the target, CURRENT_TIMESTAMP(0) from MySQL".into(),
        instant("selfservice_login_flows`.`issued_at", 0),
        instant("sessions`.`authenticated_at", 0),
        instant("sessions`.`expires_at", 0),
        instant("sessions`.`issued_at", 0),
        // Kratos' own bookkeeping, excluded by the pipeline.
        "table `schema_migration`: only in the target".into(),
    ];
    expected.sort();
    assert_eq!(differences, expected, "{differences:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn application_is_created_loaded_verified_and_matches_its_hand_written_target() {
    let rules = "exclude = [\"migrations_typeorm\", \"query-result-cache\"]\n[options]\nkeep_audit_columns = false\n\
                 [[column]]\ntable = \"user\"\ncolumn = \"serviceProfile\"\ntype = \"boolean\"";
    let differences = fixture_round("alkemio", rules).await;
    let expected = [
        // char(n) is created varchar(n): PostgreSQL pads char(n) on output, MySQL strips
        // trailing spaces, so varchar(n) gives back what MySQL gives.
        "`activity_log`.`messageID`: type character(44) in the target, character varying(44) from MySQL",
        // MySQL declares `text` (holding JSON); converge does not guess JSON from text
        // (a [[column]] type = "json" rule would make it jsonb).
        "`callout`.`framing`: type jsonb in the target, text from MySQL",
        // MySQL's `datetime` holds whole seconds; the hand-written target allows 6 digits.
        "`credential`.`expires`: type timestamp(6) without time zone in the target, timestamp(0) without time zone from MySQL",
        // MySQL's plain index under `invitation`'s foreign key onto `space`.`nameID`: converge
        // creates it beside the unique key PostgreSQL needs there; the hand-written target's
        // unique key serves the same lookups.
        "`space`: index (nameID) missing in the target",
        // TypeORM's own bookkeeping, excluded by the pipeline.
        "table `migrations_typeorm`: only in the target",
    ];
    assert_eq!(differences, expected, "{differences:#?}");
}

/// Every MySQL type family, with the values at their edges.
const ZOO: &str = r#"
CREATE TABLE zoo (id int PRIMARY KEY, ti tinyint, tiu tinyint unsigned, si smallint, siu smallint unsigned, mi mediumint, miu mediumint unsigned, i int NOT NULL, iu int unsigned, bi bigint, biu bigint unsigned, b1 tinyint(1), bit1 bit(1), bit8 bit(8), d decimal(65,30), m decimal(10,2), f float, db double, dt date, dtt datetime, dt6 datetime(6), ts timestamp(3) NULL, tm time, tm6 time(6), y year, c char(10), v varchar(255), t text, mt mediumtext, lt longtext, bn binary(4), vb varbinary(20), bl blob, j json, e enum('small','large','it''s'), s set('a','b','c'), u char(36), u16 binary(16), notu char(36), n16 binary(16), g geometry);
INSERT INTO zoo VALUES (1, -128, 255, -32768, 65535, -8388608, 16777215, -2147483648, 4294967295, -9223372036854775808, 18446744073709551615, 1, b'1', b'10101010', 99999999999999999999999999999999999.999999999999999999999999999999, -0.01, 3.40282e38, 1.7976931348623157e308, '1000-01-01', '9999-12-31 23:59:59', '2024-01-15 10:30:00.123456', '2038-01-19 03:14:07.999', '-838:59:59', '838:59:59.000001', 2155, 'abc', 'emoji 😀 and\nnewline', 'a,b,"c"', '', 'x', X'00FF0000', X'', X'5C4E27', '{"a": [1, 2.5, null], "b": "😀"}', 'it''s', 'a,c', '0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d', X'0A1B2C3D4E5F4A6B8C7D9E0F1A2B3C4D', 'not-a-uuid', X'00000000000000000000000000000000', ST_GeomFromText('POINT(1 2)'));
INSERT INTO zoo VALUES (2, 127, 0, 32767, 0, 8388607, 0, 2147483647, 0, 9223372036854775807, 0, 0, b'0', b'0', -0.000000000000000000000000000001, 99999999.99, -1.5, 4.9406564584124654e-324, '9999-12-31', '1000-01-01 00:00:00', '1000-01-01 00:00:00.000000', '1970-01-01 00:00:01.000', '00:00:00', '-00:00:00.000001', 1901, '', '', '\\N', 'NULL', '\\', X'00000000', X'00', X'', '[]', 'small', '', 'ffffffff-ffff-4fff-bfff-ffffffffffff', X'FFFFFFFFFFFF4FFFBFFFFFFFFFFFFFFF', '', X'0102', NULL);
INSERT INTO zoo (id, i) VALUES (3, 0)
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_type_family_is_created_as_the_mapping_says_and_every_value_survives() {
    let my = MyDb::create("czoo").await;
    my.exec(ZOO).await;
    let pg = PgDb::create("czoo").await;
    let p = pipeline_for(&my, &pg, "", CREATE);
    let notes = converge::ddl::schema(&p, false).await.unwrap().ddl.notes.join("\n");
    assert!(
        notes.contains("`zoo`.`g`: a MySQL geometry column, created as bytea holding MySQL's own bytes"),
        "{notes}"
    );
    run(&p).await;
    let expected = [
        "id integer NOT NULL",
        "ti smallint",
        "tiu smallint",
        "si smallint",
        "siu integer",
        "mi integer",
        "miu integer",
        "i integer NOT NULL",
        "iu bigint",
        "bi bigint",
        "biu numeric(20,0)",
        "b1 boolean",
        "bit1 boolean",
        "bit8 bigint",
        "d numeric(65,30)",
        "m numeric(10,2)",
        "f real",
        "db double precision",
        "dt date",
        "dtt timestamp(0) without time zone",
        "dt6 timestamp(6) without time zone",
        "ts timestamp(3) with time zone",
        "tm interval",
        "tm6 interval",
        "y smallint",
        "c character varying(10)",
        "v character varying(255)",
        "t text",
        "mt text",
        "lt text",
        "bn bytea",
        "vb bytea",
        "bl bytea",
        "j jsonb",
        "e zoo_e",
        "s text[]",
        "u uuid",
        "u16 uuid",
        "notu character varying(36)",
        "n16 bytea",
        "g bytea",
    ];
    assert_eq!(pg_columns(&pg, "zoo").await, expected);
    let members =
        pg_rows(&pg, "SELECT enumlabel FROM pg_enum WHERE enumtypid = 'zoo_e'::regtype ORDER BY enumsortorder").await;
    assert_eq!(members, [[Some("small".to_string())], [Some("large".into())], [Some("it's".into())]]);
    // verify compares every value of every row in canonical form.
    verify_passes(&p).await;
    assert_eq!(pg_one(&pg, "SELECT v FROM zoo WHERE id = 1").await.as_deref(), Some("emoji 😀 and\nnewline"));
    assert_eq!(pg_one(&pg, "SELECT biu::text FROM zoo WHERE id = 1").await.as_deref(), Some("18446744073709551615"));
    assert_eq!(
        pg_one(&pg, "SELECT dt6::text FROM zoo WHERE id = 1").await.as_deref(),
        Some("2024-01-15 10:30:00.123456")
    );
    assert_eq!(pg_one(&pg, "SELECT s::text FROM zoo WHERE id = 1").await.as_deref(), Some("{a,c}"));
    assert_eq!(pg_one(&pg, "SELECT c FROM zoo WHERE id = 1").await.as_deref(), Some("abc"), "no padding");
    // POINT(1 2) with SRID 0: the SRID's 4 bytes, then the WKB.
    let g = pg_one(&pg, "SELECT encode(g, 'hex') FROM zoo WHERE id = 1").await;
    assert_eq!(g.as_deref(), Some("000000000101000000000000000000f03f0000000000000040"));
    pg.drop_db().await;
    my.drop_db().await;
}

/// A name of exactly 64 characters (MySQL's limit; PostgreSQL keeps 63 bytes).
const LONG: &str = "a_table_name_that_is_exactly_sixty_four_characters_long_for_test";

fn names_sql() -> String {
    format!(
        "CREATE TABLE `order` (`id` int PRIMARY KEY, `select` varchar(10), `userId` int, `has space` int, KEY `idx_user` (`userId`));\n\
         CREATE TABLE `query-result-cache` (`id` int PRIMARY KEY, `value-with-hyphen` text, `userId` int, KEY `idx_user` (`userId`));\n\
         CREATE TABLE `{LONG}` (`id` int PRIMARY KEY, `{LONG}` int);\n\
         INSERT INTO `order` VALUES (1, 'from', 7, 8);\n\
         INSERT INTO `query-result-cache` VALUES (1, 'x', 7);\n\
         INSERT INTO `{LONG}` VALUES (1, 2)"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn awkward_names_are_kept_and_long_or_clashing_ones_refused_or_renamed_by_rule() {
    assert_eq!(LONG.len(), 64);
    let my = MyDb::create("cnames").await;
    my.exec(&names_sql()).await;
    let pg = PgDb::create("cnames").await;

    // By default: the 64-character names and the clashing index names stop the run.
    let err = run_err(&pipeline_for(&my, &pg, "", CREATE)).await;
    assert!(err.contains(LONG) && err.contains("63"), "{err}");
    assert!(pg_tables(&pg).await.is_empty(), "nothing created: {:?}", pg_tables(&pg).await);
    let p = pipeline_for(&my, &pg, "", &format!("{CREATE}\nlong_names = \"shorten\""));
    let err = run_err(&p).await;
    assert!(err.contains("idx_user"), "{err}");
    assert!(pg_tables(&pg).await.is_empty());

    let p = pipeline_for(&my, &pg, "", &format!("{CREATE}\nlong_names = \"shorten\"\nindex_names = \"prefix\""));
    let (opened, plan, _) = converge::run::plan(&p).await.unwrap();
    opened.close().await;
    let notes = plan.notes.join("\n");
    let short = format!("{}_", &LONG[..54]);
    assert!(notes.contains(&format!("`{LONG}` is over 63 bytes: called `{short}")), "{notes}");
    run(&p).await;
    let mut tables = pg_tables(&pg).await;
    let long_table = tables.iter().find(|t| t.starts_with(&short)).cloned().expect("the shortened table");
    assert_eq!(long_table.len(), 63);
    tables.retain(|t| t != &long_table);
    assert_eq!(tables, ["order", "query-result-cache"]);
    assert_eq!(
        pg_columns(&pg, "order").await,
        ["id integer NOT NULL", "select character varying(10)", "userId integer", "has space integer"]
    );
    assert_eq!(pg_columns(&pg, "query-result-cache").await[1], "value-with-hyphen text");
    assert!(pg_columns(&pg, &long_table).await[1].starts_with(&short));
    let indexes = pg_rows(&pg, "SELECT indexname FROM pg_indexes WHERE indexname LIKE '%idx_user' ORDER BY 1").await;
    assert_eq!(indexes, [[Some("idx_user".to_string())], [Some("query-result-cache_idx_user".into())]]);
    verify_passes(&p).await;
    pg.drop_db().await;
    my.drop_db().await;
}

const RULES: &str = r#"
CREATE TABLE team (id int NOT NULL AUTO_INCREMENT, region varchar(5) NOT NULL, name varchar(20) NOT NULL, parent_id int NULL, size enum('s','m','l') NOT NULL DEFAULT 'm', code char(36) NOT NULL DEFAULT (uuid()), note varchar(20) NOT NULL DEFAULT 'it''s', score int NOT NULL DEFAULT (1 + 2), touched datetime(3) NOT NULL DEFAULT current_timestamp(3) ON UPDATE current_timestamp(3), shout varchar(40) AS (upper(name)) VIRTUAL, twice int AS (score * 2) STORED, PRIMARY KEY (id), UNIQUE KEY uq_region_name (region, name), CONSTRAINT team_parent FOREIGN KEY (parent_id) REFERENCES team (id) ON DELETE SET NULL, CONSTRAINT positive CHECK (score > 0));
CREATE TABLE member (team_id int NOT NULL, person varchar(20) NOT NULL, since date, PRIMARY KEY (team_id, person), KEY by_since (since), CONSTRAINT member_team FOREIGN KEY (team_id) REFERENCES team (id) ON DELETE CASCADE ON UPDATE CASCADE);
INSERT INTO team (id, region, name, parent_id, size, score) VALUES (1, 'eu', 'core', NULL, 'l', 5), (2, 'eu', 'web', 1, 's', 7), (3, 'us', 'core', 1, 'm', 9);
INSERT INTO member VALUES (1, 'ada', '2020-01-01'), (2, 'grace', NULL), (3, 'alan', '2021-06-30')
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_rules_defaults_identity_generated_and_on_update_work_in_the_created_schema() {
    let my = MyDb::create("crules").await;
    my.exec(RULES).await;
    let pg = PgDb::create("crules").await;
    let p = pipeline_for(&my, &pg, "", CREATE);
    run(&p).await;
    verify_passes(&p).await;
    let c = &pg.client;

    // Generated columns: `score * 2` is computed by PostgreSQL, not copied; `upper(name)`
    // (case mapped by MySQL's tables, not PostgreSQL's locale) holds MySQL's values.
    assert_eq!(pg_one(&pg, "SELECT shout || ' ' || twice FROM team WHERE id = 2").await.as_deref(), Some("WEB 14"));
    let generated = pg_rows(
        &pg,
        "SELECT attname FROM pg_attribute WHERE attrelid = 'team'::regclass AND attgenerated = 's' ORDER BY 1",
    )
    .await;
    assert_eq!(generated, [[Some("twice".to_string())]]);
    // The enum keeps MySQL's order: s < m < l.
    assert_eq!(
        pg_one(&pg, "SELECT string_agg(name, ',' ORDER BY size) FROM team").await.as_deref(),
        Some("web,core,core")
    );
    // AUTO_INCREMENT: an identity past the loaded maximum, so the next insert succeeds.
    c.execute("INSERT INTO team (region, name) VALUES ('ap', 'new')", &[]).await.unwrap();
    assert_eq!(pg_one(&pg, "SELECT id::text FROM team WHERE region = 'ap'").await.as_deref(), Some("4"));
    // Defaults: a literal, an enum member, an expression, uuid() → a fresh uuid each row.
    let row =
        pg_rows(&pg, "SELECT size::text, note, score::text, length(code::text)::text FROM team WHERE id = 4").await;
    assert_eq!(row, [[Some("m".to_string()), Some("it's".into()), Some("3".into()), Some("36".into())]]);
    // ON UPDATE CURRENT_TIMESTAMP: an update moves the column.
    c.execute("UPDATE team SET touched = '2000-01-01' WHERE id = 1", &[]).await.unwrap();
    c.execute("UPDATE team SET name = 'kernel' WHERE id = 1", &[]).await.unwrap();
    let moved = pg_one(&pg, "SELECT (touched > '2001-01-01')::text FROM team WHERE id = 1").await;
    assert_eq!(moved.as_deref(), Some("true"));
    // CHECK and unique constraints hold.
    let e = c.execute("UPDATE team SET score = 0 WHERE id = 1", &[]).await.unwrap_err();
    assert!(format!("{e:?}").contains("positive"), "{e:?}");
    let e = c.execute("INSERT INTO team (region, name) VALUES ('eu', 'web')", &[]).await.unwrap_err();
    assert!(format!("{e:?}").contains("uq_region_name"), "{e:?}");
    // ON DELETE SET NULL on the self-reference; ON DELETE CASCADE on the composite-key child.
    c.execute("DELETE FROM team WHERE id = 1", &[]).await.unwrap();
    let parents =
        pg_rows(&pg, "SELECT coalesce(parent_id::text, 'null') FROM team WHERE id IN (2, 3) ORDER BY id").await;
    assert_eq!(parents, [[Some("null".to_string())], [Some("null".into())]]);
    let members = pg_rows(&pg, "SELECT team_id::text, person FROM member ORDER BY 1").await;
    assert_eq!(members, [[Some("2".to_string()), Some("grace".into())], [Some("3".into()), Some("alan".into())]]);
    let pk = pg_one(
        &pg,
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = 'member'::regclass AND contype = 'p'",
    )
    .await;
    assert_eq!(pk.as_deref(), Some("PRIMARY KEY (team_id, person)"));
    let idx = pg_one(&pg, "SELECT indexdef FROM pg_indexes WHERE indexname = 'by_since'").await.unwrap();
    assert!(idx.ends_with("USING btree (since)"), "{idx}");
    pg.drop_db().await;
    my.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_row_that_breaks_a_created_constraint_stops_the_run_naming_it_and_creates_nothing() {
    let my = MyDb::create("cviol").await;
    // MariaDB skips its CHECKs for the session: the row is there, breaking the rule.
    let mut conn = my.conn().await;
    use mysql_async::prelude::Queryable;
    conn.query_drop(
        "CREATE TABLE acct (id int PRIMARY KEY, balance int NOT NULL, CONSTRAINT non_negative CHECK (balance >= 0))",
    )
    .await
    .unwrap();
    conn.query_drop("CREATE TABLE fine (id int PRIMARY KEY)").await.unwrap();
    conn.query_drop("INSERT INTO fine VALUES (1)").await.unwrap();
    conn.query_drop("SET SESSION check_constraint_checks = 0").await.unwrap();
    conn.query_drop("INSERT INTO acct VALUES (1, 10), (2, -5)").await.unwrap();
    drop(conn);
    let pg = PgDb::create("cviol").await;
    let err = run_err(&pipeline_for(&my, &pg, "", CREATE)).await;
    assert!(err.contains("non_negative") && err.contains("acct"), "{err}");
    assert!(err.contains("-5") || err.contains("(2"), "the row is named: {err}");
    assert!(pg_tables(&pg).await.is_empty(), "no new table: {:?}", pg_tables(&pg).await);

    // A unique key MySQL holds case-sensitively (utf8mb4_bin) over UUID text that differs
    // only in case: as uuid, the two values are one.
    my.exec("DROP TABLE acct;\nCREATE TABLE token (id int PRIMARY KEY, t char(36) COLLATE utf8mb4_bin NOT NULL, UNIQUE KEY uq_token (t));\n\
             INSERT INTO token VALUES (1, 'ABCDEF01-2345-4789-ABCD-EF0123456789'), (2, 'abcdef01-2345-4789-abcd-ef0123456789')")
        .await;
    let err = run_err(&pipeline_for(&my, &pg, "", CREATE)).await;
    assert!(err.contains("uq_token") && err.contains("abcdef01-2345-4789-abcd-ef0123456789"), "{err}");
    assert!(pg_tables(&pg).await.is_empty(), "no new table: {:?}", pg_tables(&pg).await);
    pg.drop_db().await;
    my.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_schema_file_applies_with_psql_and_a_schema_first_run_into_it_verifies() {
    let my = MyDb::create("cout").await;
    my.exec(RULES).await;
    my.exec(&names_sql().replace(LONG, "long_one")).await;
    my.exec(
        "CREATE VIEW big_teams AS SELECT id, name FROM team WHERE score > 5;\n\
         CREATE TRIGGER team_touch BEFORE INSERT ON team FOR EACH ROW SET NEW.note = 'x';\n\
         CREATE PROCEDURE bump() UPDATE team SET score = score + 1",
    )
    .await;
    let pg = PgDb::create("cout").await;
    let tmp = TempDir::new("cout");
    let file = tmp.path().join("schema.sql");
    let text = format!(
        "name = \"create\"\n[source]\nkind = \"mysql\"\nurl = \"{}\"\n[[sink]]\nkind = \"postgres\"\nurl = \"{}\"\nindex_names = \"prefix\"\n",
        my.url, pg.url
    );
    let toml = tmp.path().join("p.toml");
    std::fs::write(&toml, text).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_converge"))
        .args(["schema", toml.to_str().unwrap(), "--out", file.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let sql = std::fs::read_to_string(&file).unwrap();
    assert!(sql.contains(".\"order\" (\n") && sql.contains("GENERATED BY DEFAULT AS IDENTITY"), "{sql}");
    // What is not carried is listed with MySQL's definition, as comments psql skips.
    for shown in [
        "-- view `big_teams`:\n--   select ",
        "-- trigger `team_touch`:\n--   BEFORE INSERT ON `team` FOR EACH ROW SET NEW.note = 'x'",
        "-- procedure `bump`:\n--   UPDATE team SET score = score + 1",
    ] {
        assert!(sql.contains(shown), "{shown} in {sql}");
    }
    assert!(pg_tables(&pg).await.is_empty(), "schema only writes the file");
    let psql = std::process::Command::new("psql")
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", &pg.url, "-f", file.to_str().unwrap()])
        .output()
        .expect("psql is installed");
    assert!(psql.status.success(), "psql: {}", String::from_utf8_lossy(&psql.stderr));
    assert_eq!(pg_tables(&pg).await, ["long_one", "member", "order", "query-result-cache", "team"]);
    // Schema-first: the run loads into what psql created (no `create`).
    let p = pipeline_for(&my, &pg, "", "");
    let report = run(&p).await;
    assert!(report.load.as_ref().unwrap().created.is_empty());
    verify_passes(&p).await;
    c_insert_after_load(&pg).await;
    pg.drop_db().await;
    my.drop_db().await;
}

/// The identity the file created was moved past the loaded maximum by the load.
async fn c_insert_after_load(pg: &PgDb) {
    pg.client.execute("INSERT INTO team (region, name) VALUES ('ap', 'next')", &[]).await.unwrap();
    assert_eq!(pg_one(pg, "SELECT id::text FROM team WHERE name = 'next'").await.as_deref(), Some("4"));
}

const ACCOUNTS: &str = "CREATE TABLE account (id int PRIMARY KEY, email varchar(30) NOT NULL, kind enum('b','a') NOT NULL DEFAULT 'b', UNIQUE KEY uq_email (email));\n\
     INSERT INTO account VALUES (1, 'Ada@example.com', 'a'), (2, 'grace@example.com', 'b');\n\
     CREATE TABLE tag (name varchar(20) PRIMARY KEY);\n\
     INSERT INTO tag VALUES ('Rust'), ('sql')";

/// The collation PostgreSQL gives a column.
async fn collation_of(pg: &PgDb, table: &str, column: &str) -> Option<String> {
    pg_one(
        pg,
        &format!(
            "SELECT c.collname::text FROM pg_attribute a LEFT JOIN pg_collation c ON c.oid = a.attcollation \
             WHERE a.attrelid = '{table}'::regclass AND a.attname = '{column}'"
        ),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn case_insensitive_unique_keys_keep_mysqls_rule_by_option_and_enums_can_be_checks() {
    let my = MyDb::create("cci").await;
    my.exec(ACCOUNTS).await;

    // Default: created case-sensitive, and said so.
    let pg = PgDb::create("cci").await;
    let report = converge::ddl::schema(&pipeline_for(&my, &pg, "", CREATE), false).await.unwrap();
    let notes = report.ddl.notes.join("\n");
    assert!(notes.contains("index `uq_email` of `account` is unique case-insensitively in MySQL"), "{notes}");
    assert!(notes.contains("case_insensitive = \"icu\""), "{notes}");
    assert!(notes.contains("the primary key of `tag` is unique case-insensitively in MySQL"), "{notes}");

    // icu: the type is kept, the comparison is MySQL's (case and accents ignored).
    let p = pipeline_for(&my, &pg, "", &format!("{CREATE}\ncase_insensitive = \"icu\"\nenums = \"check\""));
    run(&p).await;
    verify_passes(&p).await;
    assert_eq!(
        pg_columns(&pg, "account").await,
        ["id integer NOT NULL", "email character varying(30) NOT NULL", "kind text NOT NULL"]
    );
    assert_eq!(collation_of(&pg, "account", "email").await.as_deref(), Some("converge_ci_ai"));
    assert_eq!(collation_of(&pg, "tag", "name").await.as_deref(), Some("converge_ci_ai"));
    let e = pg.client.execute("INSERT INTO tag VALUES ('RUST')", &[]).await.unwrap_err();
    assert!(format!("{e:?}").contains("tag_pkey"), "{e:?}");
    for dup in ["ADA@EXAMPLE.COM", "adá@example.com"] {
        let e = pg.client.execute(&format!("INSERT INTO account VALUES (9, '{dup}', 'a')"), &[]).await.unwrap_err();
        assert!(format!("{e:?}").contains("uq_email"), "{dup}: {e:?}");
    }
    // enums = "check": text limited to the members, the default kept.
    let e = pg.client.execute("INSERT INTO account VALUES (9, 'x@example.com', 'c')", &[]).await.unwrap_err();
    assert!(format!("{e:?}").contains("account_kind_check"), "{e:?}");
    pg.client.execute("INSERT INTO account (id, email) VALUES (9, 'x@example.com')", &[]).await.unwrap();
    assert_eq!(pg_one(&pg, "SELECT kind FROM account WHERE id = 9").await.as_deref(), Some("b"));

    // citext: case folded, MySQL's length kept by a CHECK.
    let pg2 = PgDb::create("cci2").await;
    let p = pipeline_for(&my, &pg2, "", &format!("{CREATE}\ncase_insensitive = \"citext\""));
    run(&p).await;
    verify_passes(&p).await;
    assert_eq!(pg_columns(&pg2, "account").await[1], "email citext NOT NULL");
    let e = pg2.client.execute("INSERT INTO account VALUES (9, 'ADA@example.COM', 'a')", &[]).await.unwrap_err();
    assert!(format!("{e:?}").contains("uq_email"), "{e:?}");
    let long = format!("{}@example.com", "x".repeat(30));
    let e = pg2.client.execute(&format!("INSERT INTO account VALUES (9, '{long}', 'a')"), &[]).await.unwrap_err();
    assert!(format!("{e:?}").contains("account_email_length"), "{e:?}");

    // Where ICU and MySQL judge a pair differently ('ß' is 's' to utf8mb4_general_ci,
    // 'ss' to ICU), the created key stops the load naming the row; nothing is created.
    my.exec("INSERT INTO account VALUES (3, 'strasse', 'a'), (4, 'straße', 'a')").await;
    let pg3 = PgDb::create("cci3").await;
    let err = run_err(&pipeline_for(&my, &pg3, "", &format!("{CREATE}\ncase_insensitive = \"icu\""))).await;
    assert!(err.contains("uq_email") && err.contains("stra"), "{err}");
    assert!(pg_tables(&pg3).await.is_empty());
    pg3.drop_db().await;
    pg2.drop_db().await;
    pg.drop_db().await;
    my.drop_db().await;
}

/// A dump of the database gives the same DDL as the live server: the dump reader reads
/// every fact the create path uses.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dump_source_creates_the_same_schema_as_the_live_one() {
    let my = MyDb::create("cdump").await;
    my.exec(RULES).await;
    my.exec(ACCOUNTS).await;
    let tmp = TempDir::new("cdump");
    let file = tmp.path().join("dump.sql");
    mariadb_dump(&my.name, &file, &[]);
    let pg = PgDb::create("cdump").await;
    let live = converge::ddl::schema(&pipeline_for(&my, &pg, "", CREATE), false).await.unwrap();
    let text = format!(
        "name = \"create\"\n[source]\nkind = \"mysqldump\"\npath = \"{}\"\n[[sink]]\nkind = \"postgres\"\nurl = \"${{PG_URL}}\"\n{CREATE}\n",
        file.display()
    );
    let dumped = converge::ddl::schema(&pipeline(&text, &[("PG_URL", &pg.url)]), false).await.unwrap();
    assert!(!live.ddl.statements().is_empty());
    assert_eq!(dumped.ddl.statements(), live.ddl.statements());
    // And it loads: the run from the dump creates and fills the tables.
    let report = run(&pipeline(&text, &[("PG_URL", &pg.url)])).await;
    assert_eq!(report.load.as_ref().unwrap().created.len(), 4, "team, member, account, tag");
    assert_eq!(pg_one(&pg, "SELECT count(*)::text FROM member").await.as_deref(), Some("3"));
    assert_eq!(pg_one(&pg, "SELECT twice::text FROM team WHERE id = 2").await.as_deref(), Some("14"));
    pg.drop_db().await;
    my.drop_db().await;
}
