//! Values whose meaning a run must keep (issue 34): a JSON value's duplicate keys read as
//! the source server reads them (MariaDB: the first), a `char(36)` column's codes kept as
//! they are on the CSV path, a FLOAT into double precision by one stated rule — each
//! compared with MariaDB's own answer.

mod common;

use common::*;
use converge::manifest::Manifest;
use converge::verify::digest::RowDiff;
use converge::verify::{verify, Depth};

fn pg_text(rules: &str) -> String {
    format!(
        "name = \"values\"\n[source]\nkind = \"mysql\"\nurl = \"${{MYSQL_URL}}\"\n{rules}\n[verify]\nafter_run = false\n\
         [[sink]]\nkind = \"postgres\"\nurl = \"${{PG_URL}}\"\n"
    )
}

/// Every row's `JSON_VALUE(j, path)` in MariaDB against `j #>> path` in the target.
async fn same_reading(my: &MyDb, pg: &PgDb, paths: &[(&str, &str)]) {
    use mysql_async::prelude::Queryable;
    let mut conn = my.conn().await;
    for (my_path, pg_path) in paths {
        let mine: Vec<(i32, Option<String>)> =
            conn.query(format!("SELECT id, JSON_VALUE(j, '{my_path}') FROM prefs ORDER BY id")).await.unwrap();
        let theirs = pg_rows(pg, &format!("SELECT id, j #>> '{pg_path}' FROM prefs ORDER BY id")).await;
        let theirs: Vec<(i32, Option<String>)> =
            theirs.into_iter().map(|r| (r[0].as_ref().unwrap().parse().unwrap(), r[1].clone())).collect();
        assert_eq!(mine, theirs, "{my_path}: MariaDB's reading against the target's");
    }
}

/// `converge plan`'s text for `p`, with the target check.
async fn planned(p: &converge::Pipeline) -> String {
    let (opened, plan, target) = converge::run::plan(p).await.unwrap_or_else(|e| panic!("{e}"));
    let targets = target.as_ref().map(|t| &t.tables[..]);
    let rendered = converge::pipeline::plan::render_with_target(p, &plan, &opened.describe(), targets);
    opened.close().await;
    rendered
}

const PREFS: &str = "CREATE TABLE prefs (id int PRIMARY KEY, j json NULL);\n\
    INSERT INTO prefs VALUES (1, '{\"role\":\"user\",\"role\":\"admin\"}'), (2, '{\"role\": \"guest\"}'), \
    (3, '{\"x\": {\"k\": 1, \"k\": 2}, \"role\": \"x\"}'), (4, NULL)";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_duplicate_keys_stop_the_run_or_load_as_mariadb_reads_them_and_verify_reads_them_so() {
    let my = MyDb::create("jdup").await;
    my.exec(PREFS).await;
    let pg = PgDb::create("jdup").await;
    pg.client.batch_execute("CREATE TABLE prefs (id int PRIMARY KEY, j jsonb)").await.unwrap();
    let vars = [("MYSQL_URL", my.url.as_str()), ("PG_URL", pg.url.as_str())];

    // No rule: MariaDB reads `user`, jsonb would keep `admin`: `plan` says so, and the
    // run is refused, naming all.
    let p = pipeline(&pg_text(""), &vars);
    let rendered = planned(&p).await;
    assert!(rendered.contains("(duplicate keys: MariaDB reads the first, jsonb keeps the last"), "{rendered}");
    let e = converge::run::run(&p, &Default::default()).await.unwrap_err().to_string();
    assert!(
        e.contains("table `prefs`") && e.contains("id='1'") && e.contains("column `j`") && e.contains("\"role\""),
        "{e}"
    );
    assert!(e.contains("json_duplicates = \"first\""), "the way forward: {e}");
    assert_eq!(pg_rows(&pg, "SELECT count(*) FROM prefs").await[0][0].as_deref(), Some("0"));

    // `first`: the target answers as MariaDB does, counted; verify passes.
    let p = pipeline(&pg_text("[options]\njson_duplicates = \"first\""), &vars);
    assert!(planned(&p).await.contains("(duplicate keys: the first kept, MariaDB's reading; counted)"));
    let r = converge::run::run(&p, &Default::default()).await.unwrap_or_else(|e| panic!("{e}"));
    let text = converge::report::run_text(&r);
    assert!(text.contains("2 JSON values with duplicate keys, the later ones dropped"), "{text}");
    same_reading(&my, &pg, &[("$.role", "{role}"), ("$.x.k", "{x,k}")]).await;
    let v = verify(&p, Depth::Full).await.unwrap();
    assert!(v.passed(), "{}", v.text());

    // `last` on the column: jsonb's reading, counted; verify under that rule passes …
    let last = "[[column]]\ntable = \"prefs\"\ncolumn = \"j\"\njson_duplicates = \"last\"";
    let p = pipeline(&pg_text(last).replace("[[sink]]", "[[sink]]\ntruncate = true"), &vars);
    let r = converge::run::run(&p, &Default::default()).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.tables[0].stats.normalized.len(), 1);
    assert_eq!(r.tables[0].stats.normalized[0].2, 2);
    assert_eq!(pg_rows(&pg, "SELECT j->>'role' FROM prefs WHERE id = 1").await[0][0].as_deref(), Some("admin"));
    let v = verify(&p, Depth::Full).await.unwrap();
    assert!(v.passed(), "{}", v.text());
    // … and verify by MariaDB's own reading finds the two rows that read otherwise.
    let p = pipeline(&pg_text(""), &vars);
    let v = verify(&p, Depth::Full).await.unwrap();
    assert!(!v.passed(), "{}", v.text());
    let diffs = &v.tables.iter().find(|(t, _)| t == "prefs").expect("prefs compared").1.diffs;
    let mut named: Vec<(String, Vec<String>)> = diffs
        .iter()
        .map(|d| match d {
            RowDiff::Changed { key, columns, .. } => (key.clone(), columns.clone()),
            other => panic!("{other:?}"),
        })
        .collect();
    named.sort();
    assert_eq!(named, vec![("id='1'".to_string(), vec!["j".to_string()]), ("id='3'".into(), vec!["j".into()])]);
    my.drop_db().await;
    pg.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_csv_export_resolves_json_duplicates_by_the_same_rule() {
    let my = MyDb::create("jdupcsv").await;
    my.exec(PREFS).await;
    let out = TempDir::new("jdupcsv");
    let vars = [("MYSQL_URL", my.url.as_str()), ("OUT", out.path().to_str().unwrap())];
    let e = converge::run::run(&pipeline(&export_pipeline(""), &vars), &Default::default()).await.unwrap_err();
    assert!(e.to_string().contains("column `j`"), "{e}");
    let p = pipeline(&export_pipeline("[options]\njson_duplicates = \"first\""), &vars);
    let r = converge::run::run(&p, &Default::default()).await.unwrap_or_else(|e| panic!("{e}"));
    let csv = std::fs::read_to_string(r.exports[0].join("prefs.csv")).unwrap();
    assert!(csv.contains("1,\"{\"\"role\"\":\"\"user\"\"}\"\n"), "{csv}");
    assert!(csv.contains("3,\"{\"\"x\"\": {\"\"k\"\": 1}, \"\"role\"\": \"\"x\"\"}\"\n"), "{csv}");
    let m = Manifest::read(&r.exports[0]).unwrap();
    let j = m.tables[0].columns.iter().find(|c| c.name == "j").unwrap();
    assert_eq!(j.json_duplicates_resolved, 2);
    // Imported into jsonb, the export reads as MariaDB does.
    let pg = PgDb::create("jdupcsv").await;
    pg.client.batch_execute("CREATE TABLE prefs (id int PRIMARY KEY, j jsonb)").await.unwrap();
    let import = converge::Pipeline::import(r.exports[0].to_str().unwrap(), &pg.url, None, false);
    converge::run::run(&import, &Default::default()).await.unwrap_or_else(|e| panic!("{e}"));
    same_reading(&my, &pg, &[("$.role", "{role}"), ("$.x.k", "{x,k}")]).await;
    my.drop_db().await;
    pg.drop_db().await;
}

/// A char(36) column of codes, one of which looks like an upper-case UUID, and a
/// char(36) column of UUIDs (one upper-case, one empty).
const CODES: &str = "CREATE TABLE codes (id int PRIMARY KEY, code char(36) NULL, ref char(36) NULL);\n\
    INSERT INTO codes VALUES (1, 'ABCDEF00-1111-4222-8333-44445555AAAA', 'ABCDEF00-1111-4222-8333-44445555AAAA'), \
    (2, 'PROMO-2024', 'abcdef00-1111-4222-8333-44445555bbbb'), (3, NULL, ''), (4, 'abcdef00-1111-4222-8333-44445555cccc', NULL)";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_csv_path_keeps_codes_that_look_like_uuids_and_counts_the_uuids_it_lower_cases() {
    let my = MyDb::create("codes").await;
    my.exec(CODES).await;
    let out = TempDir::new("codes");
    let vars = [("MYSQL_URL", my.url.as_str()), ("OUT", out.path().to_str().unwrap())];
    let r = converge::run::run(&pipeline(&export_pipeline(""), &vars), &Default::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(r.not_carried.iter().any(|n| n.contains("`codes`.`code`") && n.contains("exported as text")), "{r:?}");
    let text = converge::report::run_text(&r);
    assert!(text.contains("1 UUIDs lower-cased in `ref` (codes)"), "{text}");
    let m = Manifest::read(&r.exports[0]).unwrap();
    let col = |n: &str| m.tables[0].columns.iter().find(|c| c.name == n).unwrap().clone();
    assert_eq!((col("code").logical_type.as_str(), col("code").uuids_lowercased), ("text", 0));
    assert_eq!((col("ref").logical_type.as_str(), col("ref").uuids_lowercased), ("uuid", 1));

    // The operator's varchar(36) target: the import loads MariaDB's own codes, and the
    // UUIDs lower-cased (as counted); the direct run loads the same codes.
    let mine: Vec<(i32, Option<String>, Option<String>)> = {
        use mysql_async::prelude::Queryable;
        my.conn().await.query("SELECT id, code, LOWER(ref) FROM codes ORDER BY id").await.unwrap()
    };
    let schema = "CREATE TABLE codes (id int PRIMARY KEY, code varchar(36), ref varchar(36))";
    let imported = PgDb::create("codesimp").await;
    imported.client.batch_execute(schema).await.unwrap();
    let import = converge::Pipeline::import(r.exports[0].to_str().unwrap(), &imported.url, None, false);
    converge::run::run(&import, &Default::default()).await.unwrap_or_else(|e| panic!("{e}"));
    let rows = |rows: Vec<Vec<Option<String>>>| -> Vec<(i32, Option<String>, Option<String>)> {
        rows.into_iter().map(|r| (r[0].as_ref().unwrap().parse().unwrap(), r[1].clone(), r[2].clone())).collect()
    };
    let sql = "SELECT id, code, ref FROM codes ORDER BY id";
    assert_eq!(rows(pg_rows(&imported, sql).await), mine);
    let direct = PgDb::create("codesdir").await;
    direct.client.batch_execute(schema).await.unwrap();
    let p = pipeline(&pg_text(""), &[("MYSQL_URL", my.url.as_str()), ("PG_URL", direct.url.as_str())]);
    converge::run::run(&p, &Default::default()).await.unwrap_or_else(|e| panic!("{e}"));
    let direct_codes: Vec<Option<String>> = pg_rows(&direct, sql).await.into_iter().map(|r| r[1].clone()).collect();
    let codes: Vec<Option<String>> = mine.iter().map(|r| r.1.clone()).collect();
    assert_eq!(direct_codes, codes);

    // `query` over the export answers as the target does.
    let ctx = converge::query::open_export(&r.exports[0]).await.unwrap();
    let q = "SELECT code FROM codes WHERE id = 1";
    let answer = converge::query::run_sql(&ctx, q, converge::query::OutputFormat::Csv).await.unwrap();
    assert_eq!(answer, format!("code\n{}\n", codes[0].as_deref().unwrap()));
    my.drop_db().await;
    imported.drop_db().await;
    direct.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dump_column_found_to_mix_uuids_and_codes_stops_the_export_naming_the_value() {
    let my = MyDb::create("codesdump").await;
    my.exec(CODES).await;
    let dir = TempDir::new("codesdump");
    let dump = dir.path().join("codes.sql");
    mariadb_dump(&my.name, &dump, &[]);
    let text = |rules: &str| {
        format!(
            "name = \"d\"\n[source]\nkind = \"mysqldump\"\npath = \"{}\"\n{rules}\n[[sink]]\nkind = \"csv\"\ndir = \"{}\"\n",
            dump.display(),
            dir.path().join("out").display()
        )
    };
    let e = converge::run::run(&pipeline(&text(""), &[]), &Default::default()).await.unwrap_err().to_string();
    assert!(e.contains("table `codes`") && e.contains("column `code`") && e.contains("type = \"text\""), "{e}");
    let rule = "[[column]]\ntable = \"codes\"\ncolumn = \"code\"\ntype = \"text\"";
    let r =
        converge::run::run(&pipeline(&text(rule), &[]), &Default::default()).await.unwrap_or_else(|e| panic!("{e}"));
    let csv = std::fs::read_to_string(r.exports[0].join("codes.csv")).unwrap();
    assert!(csv.contains("1,ABCDEF00-1111-4222-8333-44445555AAAA,abcdef00-1111-4222-8333-44445555aaaa\n"), "{csv}");
    my.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_float_in_double_precision_is_its_own_value_said_in_plan_counted_and_verified_so() {
    let my = MyDb::create("fdouble").await;
    my.exec(
        "CREATE TABLE gauge (id int PRIMARY KEY, level float NULL);\n\
         INSERT INTO gauge VALUES (1, 0.1), (2, 0.5), (3, 16777216), (4, -3.4e38), (5, NULL), (6, 1.1)",
    )
    .await;
    let pg = PgDb::create("fdouble").await;
    // TypeORM's `float` column.
    pg.client.batch_execute("CREATE TABLE gauge (id int PRIMARY KEY, level double precision)").await.unwrap();
    let p = pipeline(&pg_text(""), &[("MYSQL_URL", my.url.as_str()), ("PG_URL", pg.url.as_str())]);
    let rendered = planned(&p).await;
    assert!(rendered.contains("→ pg double precision (the float's own value"), "{rendered}");
    let r = converge::run::run(&p, &Default::default()).await.unwrap_or_else(|e| panic!("{e}"));
    let load = r.load.as_ref().unwrap();
    // MariaDB's own answer: the float as a double, and whether its text reads otherwise.
    let mine: Vec<(i32, Option<f64>)> = {
        use mysql_async::prelude::Queryable;
        my.conn().await.query("SELECT id, CAST(level AS DOUBLE) FROM gauge ORDER BY id").await.unwrap()
    };
    let differ = mine.iter().filter(|(_, v)| v.is_some_and(|v| format!("{}", v as f32).parse::<f64>().unwrap() != v));
    assert_eq!(load.float_exact, vec![("gauge".to_string(), "level".to_string(), differ.count() as u64)]);
    assert!(converge::report::run_text(&r).contains("FLOAT values of gauge.level loaded into double precision"));
    let theirs: Vec<(i32, Option<f64>)> = pg
        .client
        .query("SELECT id, level FROM gauge ORDER BY id", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(theirs, mine);
    let v = verify(&p, Depth::Full).await.unwrap();
    assert!(v.passed(), "{}", v.text());
    // The other reading (the double of the float's shortest text) is a change.
    pg.client.batch_execute("UPDATE gauge SET level = 0.1 WHERE id = 1").await.unwrap();
    let v = verify(&p, Depth::Full).await.unwrap();
    let diffs = &v.tables.iter().find(|(t, _)| t == "gauge").expect("gauge compared").1.diffs;
    assert_eq!(
        diffs,
        &[RowDiff::Changed { key: "id='1'".into(), values: vec!["1".into()], columns: vec!["level".into()] }]
    );
    my.drop_db().await;
    pg.drop_db().await;
}
