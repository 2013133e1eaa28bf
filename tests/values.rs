//! Values whose meaning a run must keep (issue 34): a FLOAT into double precision by one
//! stated rule — compared with MariaDB's own answer.

mod common;

use common::*;
use converge::verify::digest::RowDiff;
use converge::verify::{verify, Depth};

fn pg_text(rules: &str) -> String {
    format!(
        "name = \"values\"\n[source]\nkind = \"mysql\"\nurl = \"${{MYSQL_URL}}\"\n{rules}\n[verify]\nafter_run = false\n\
         [[sink]]\nkind = \"postgres\"\nurl = \"${{PG_URL}}\"\n"
    )
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
    let (opened, plan, target) = converge::run::plan(&p).await.unwrap();
    let targets = target.as_ref().map(|t| &t.tables[..]);
    let rendered = converge::pipeline::plan::render_with_target(&p, &plan, &opened.describe(), targets);
    opened.close().await;
    assert!(rendered.contains("→ pg double precision (the float's own value"), "{rendered}");
    drop(target);
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
    assert_eq!(diffs, &[RowDiff::Changed { key: "id='1'".into(), columns: vec!["level".into()] }]);
    my.drop_db().await;
    pg.drop_db().await;
}
