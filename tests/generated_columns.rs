//! Generated columns under `create = "missing"`: re-created as PostgreSQL expressions
//! only where PostgreSQL computes what MariaDB computes (every row's value compared with
//! MariaDB's own), otherwise plain columns loaded with MariaDB's values and a note in
//! `schema` and the run; `verify` compares generated columns like any other.

mod common;

use common::*;
use converge::verify::report::{Outcome, Section};

fn pipeline_for(my: &MyDb, pg: &PgDb) -> converge::Pipeline {
    let text = "name = \"gen\"\n[source]\nkind = \"mysql\"\nurl = \"${MYSQL_URL}\"\n\
                [[sink]]\nkind = \"postgres\"\nurl = \"${PG_URL}\"\ncreate = \"missing\"\n";
    pipeline(text, &[("MYSQL_URL", &my.url), ("PG_URL", &pg.url)])
}

const TABLE: &str = r#"
CREATE TABLE g (
  id int NOT NULL PRIMARY KEY,
  s varchar(10) COLLATE utf8mb4_general_ci,
  sb varchar(10) COLLATE utf8mb4_nopad_bin,
  p varchar(10) COLLATE utf8mb4_bin,
  b tinyint(1),
  d double,
  a int,
  c int,
  dc decimal(10,2),
  eq_ci int AS (s = 'abc') STORED,
  like_ci int AS (s LIKE 'a%') VIRTUAL,
  ne_ci int AS (s <> '') STORED,
  gt_ci int AS (s > 'b') STORED,
  b_text varchar(20) AS (concat('b=', b)) STORED,
  d_text varchar(40) AS (concat('d=', d)) STORED,
  b_plus int AS (b + 1) STORED,
  gt_pad int AS (p > 'b') STORED,
  product bigint AS (a * c) STORED,
  eq_bin int AS (sb = 'abc') STORED,
  like_bin int AS (sb LIKE 'a%') STORED,
  gt_bin int AS (sb > 'b') STORED,
  eq_pad int AS (p = 'abc') STORED,
  in_pad int AS (p NOT IN ('b', 'x')) STORED,
  like_pad int AS (p LIKE 'abc') STORED,
  label varchar(30) AS (concat(sb, '-', a)) STORED,
  sum_dc decimal(12,2) AS (dc * 2 + a) STORED,
  len int AS (char_length(s)) STORED,
  modded int AS (a MOD 7) VIRTUAL
);
INSERT INTO g (id, s, sb, p, b, d, a, c, dc) VALUES
  (1, 'abc', 'abc', 'abc', 1, 1e20, 100000, 100000, 12.34),
  (2, 'ABC', 'ABC', 'ABC', 0, 0.1, -3, 7, -0.5),
  (3, 'abc ', 'abc ', 'abc ', 1, -2.5, 46341, 46341, 0),
  (4, 'Bz', 'b', 'b\t', 0, NULL, NULL, 2, 99999999.99),
  (5, '', 'c', 'b ', NULL, 0, 0, NULL, NULL),
  (6, NULL, NULL, NULL, 1, 3, 2147483647, 2147483647, 1.00)
"#;

/// Columns whose MySQL meaning PostgreSQL's translation would change.
const PLAIN: &[&str] = &["eq_ci", "like_ci", "ne_ci", "gt_ci", "b_text", "d_text", "b_plus", "gt_pad"];
/// Columns PostgreSQL computes the same.
const COMPUTED: &[&str] =
    &["product", "eq_bin", "like_bin", "gt_bin", "eq_pad", "in_pad", "like_pad", "label", "sum_dc", "len", "modded"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_columns_compute_what_mariadb_computes_or_carry_its_values_with_a_note() {
    let my = MyDb::create("gencol").await;
    my.exec(TABLE).await;
    let pg = PgDb::create("gencol").await;
    let p = pipeline_for(&my, &pg);

    // `schema`, `plan` and the run say which columns are not re-created, and why.
    let schema = converge::ddl::schema(&p, false).await.unwrap();
    let (opened, plan, _) = converge::run::plan(&p).await.unwrap();
    opened.close().await;
    let report = converge::run::run(&p, &Default::default()).await.unwrap_or_else(|e| panic!("{e}"));
    for column in PLAIN {
        let place = format!("`g`.`{column}`: generated as (");
        for (what, notes) in [("schema", &schema.ddl.notes), ("plan", &plan.notes), ("run", &report.not_carried)] {
            let note =
                notes.iter().find(|n| n.contains(&place) && n.contains("plain column loaded with MySQL's values"));
            assert!(note.is_some(), "{what} notes nothing of {column}: {notes:#?}");
        }
    }
    let generated: Vec<String> =
        pg_rows(&pg, "SELECT attname FROM pg_attribute WHERE attrelid = 'g'::regclass AND attgenerated = 's'")
            .await
            .into_iter()
            .map(|r| r[0].clone().unwrap())
            .collect();
    let mut expected: Vec<&str> = COMPUTED.to_vec();
    expected.sort_unstable();
    let mut generated_sorted: Vec<&str> = generated.iter().map(String::as_str).collect();
    generated_sorted.sort_unstable();
    assert_eq!(generated_sorted, expected, "the columns PostgreSQL computes");

    // Every row: the target's value of each generated column is MariaDB's own.
    for column in PLAIN.iter().chain(COMPUTED) {
        let mine = my_rows(&my, &format!("SELECT id, CAST(`{column}` AS CHAR) FROM g ORDER BY id")).await;
        let theirs = pg_rows(&pg, &format!("SELECT id::text, \"{column}\"::text FROM g ORDER BY id")).await;
        assert_eq!(theirs, mine, "column {column}");
    }
    // A row written after the load computes as MariaDB computes it.
    let insert = "INSERT INTO g (id, sb, p, a, c, dc) VALUES (7, 'abc', 'abc  ', 65536, 65536, 2.5)";
    my.exec(insert).await;
    pg.client.batch_execute(insert).await.unwrap();
    let sql = "SELECT CAST(product AS CHAR), CAST(eq_bin AS CHAR), CAST(eq_pad AS CHAR), CAST(sum_dc AS CHAR), label \
               FROM g WHERE id = 7";
    let pg_sql = "SELECT product::text, eq_bin::text, eq_pad::text, sum_dc::text, label FROM g WHERE id = 7";
    assert_eq!(pg_rows(&pg, pg_sql).await, my_rows(&my, sql).await);
    my.exec("DELETE FROM g WHERE id = 7").await;
    pg.client.batch_execute("DELETE FROM g WHERE id = 7").await.unwrap();

    let v = converge::verify::verify(&p, converge::verify::Depth::Full).await.unwrap();
    assert!(v.passed(), "{}", v.text());
    pg.drop_db().await;
    my.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_fails_naming_table_key_and_column_when_the_target_computes_another_value() {
    let my = MyDb::create("genver").await;
    my.exec("CREATE TABLE v (id int NOT NULL PRIMARY KEY, a int, twice bigint AS (a * 2) STORED);\nINSERT INTO v (id, a) VALUES (1, 10), (2, 20), (3, 30)").await;
    let pg = PgDb::create("genver").await;
    let p = pipeline_for(&my, &pg);
    converge::run::run(&p, &Default::default()).await.unwrap_or_else(|e| panic!("{e}"));
    let is_generated =
        "SELECT attgenerated::text FROM pg_attribute WHERE attrelid = 'v'::regclass AND attname = 'twice'";
    assert_eq!(pg_rows(&pg, is_generated).await, [[Some("s".to_string())]]);
    let v = converge::verify::verify(&p, converge::verify::Depth::Full).await.unwrap();
    assert!(v.passed(), "{}", v.text());

    // The target's expression now computes another value for one row.
    pg.client
        .batch_execute(
            "ALTER TABLE v DROP COLUMN twice;\n\
             ALTER TABLE v ADD COLUMN twice bigint GENERATED ALWAYS AS (CAST(a AS bigint) * 2 + CASE WHEN id = 2 THEN 1 ELSE 0 END) STORED",
        )
        .await
        .unwrap();
    let v = converge::verify::verify(&p, converge::verify::Depth::Full).await.unwrap();
    assert!(!v.passed(), "{}", v.text());
    let content = v.checks.iter().find(|c| c.section == Section::Content && c.subject == "v").expect("content check");
    assert_eq!(content.outcome, Outcome::Fail, "{}", v.text());
    assert_eq!(content.keys.len(), 1, "{:?}", content.keys);
    let key = &content.keys[0];
    assert!(key.contains("id") && key.contains('2') && key.ends_with("differs in twice"), "{key}");
    pg.drop_db().await;
    my.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_value_postgresql_cannot_compute_stops_the_run_naming_table_row_column_and_the_way_forward() {
    let my = MyDb::create("genclip").await;
    // A non-strict session: MariaDB stores the out-of-range product clipped, with a warning.
    my.exec(
        "CREATE TABLE t (id int NOT NULL PRIMARY KEY, a int, c int, p int AS (a * c) STORED);\n\
         SET SESSION sql_mode = '';\n\
         INSERT INTO t (id, a, c) VALUES (1, 2, 3), (2, 100000, 100000)",
    )
    .await;
    let clipped = my_rows(&my, "SELECT CAST(p AS CHAR) FROM t WHERE id = 2").await;
    assert_eq!(clipped, [[Some("2147483647".to_string())]]);
    let pg = PgDb::create("genclip").await;
    let p = pipeline_for(&my, &pg);
    let e = match converge::run::run(&p, &Default::default()).await {
        Ok(_) => panic!("PostgreSQL cannot compute row 2's `p` into an integer"),
        Err(e) => e.to_string(),
    };
    assert!(e.contains("loading `t`, row id='2'"), "{e}");
    assert!(e.contains("`p`") && e.contains("GENERATED ALWAYS AS") && e.contains("plain column"), "{e}");
    assert!(pg_rows(&pg, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'").await.is_empty());
    pg.drop_db().await;
    my.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dump_source_re_creates_the_same_generated_columns_and_loads_mariadbs_values() {
    let my = MyDb::create("gendump").await;
    my.exec(TABLE).await;
    let tmp = TempDir::new("gendump");
    let file = tmp.path().join("dump.sql");
    mariadb_dump(&my.name, &file, &[]);
    let pg = PgDb::create("gendump").await;
    let text = format!(
        "name = \"gen\"\n[source]\nkind = \"mysqldump\"\npath = \"{}\"\n[[sink]]\nkind = \"postgres\"\nurl = \"${{PG_URL}}\"\ncreate = \"missing\"\n",
        file.display()
    );
    let dumped = pipeline(&text, &[("PG_URL", &pg.url)]);
    let live = converge::ddl::schema(&pipeline_for(&my, &pg), false).await.unwrap();
    let from_dump = converge::ddl::schema(&dumped, false).await.unwrap();
    // The dump's DDL differs from the live one only where the dump reader leaves a column
    // typed by its declaration (tinyint(1) is boolean either way here).
    assert_eq!(from_dump.ddl.statements(), live.ddl.statements());
    converge::run::run(&dumped, &Default::default()).await.unwrap_or_else(|e| panic!("{e}"));
    for column in PLAIN.iter().chain(COMPUTED) {
        let mine = my_rows(&my, &format!("SELECT id, CAST(`{column}` AS CHAR) FROM g ORDER BY id")).await;
        let theirs = pg_rows(&pg, &format!("SELECT id::text, \"{column}\"::text FROM g ORDER BY id")).await;
        assert_eq!(theirs, mine, "column {column}");
    }
    pg.drop_db().await;
    my.drop_db().await;
}
