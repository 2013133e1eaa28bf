//! Names that map: a target whose table and column names differ from MySQL's —
//! explicit `[[table]]` / `[[column]] target`, the `names = "lower"` folding rule, a
//! column renamed by a `[[transform]]`, a 64-character MySQL name — loaded, exported and
//! verified under the target's names.

mod common;

use common::*;

fn pipeline_for(my: &MyDb, pg: &PgDb, out: &TempDir, extra: &str) -> converge::Pipeline {
    let text = format!(
        "name = \"names\"\n[source]\nkind = \"mysql\"\nurl = \"${{MYSQL_URL}}\"\n{extra}\n\
         [[sink]]\nkind = \"postgres\"\nurl = \"${{PG_URL}}\"\n[[sink]]\nkind = \"csv\"\ndir = \"${{OUT}}\"\n"
    );
    let dir = out.path().display().to_string();
    pipeline(&text, &[("MYSQL_URL", &my.url), ("PG_URL", &pg.url), ("OUT", &dir)])
}

fn csv_header(report: &converge::run::RunReport, file: &str) -> String {
    let path = report.exports[0].join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines().next().unwrap_or_default().to_string()
}

/// The plan-time target check's problems, one per line.
async fn plan_problems(p: &converge::Pipeline) -> String {
    let (opened, _, target) = converge::run::plan(p).await.unwrap();
    opened.close().await;
    target.unwrap().problems.join("\n")
}

const SOURCE: &str = "CREATE TABLE `UserProfile` (id int PRIMARY KEY, `displayName` varchar(20) NOT NULL, note text NULL);\n\
     CREATE TABLE `Post` (id int PRIMARY KEY, `authorId` int NOT NULL, CONSTRAINT fk_author FOREIGN KEY (`authorId`) REFERENCES `UserProfile` (id));\n\
     INSERT INTO `UserProfile` VALUES (1, 'Ada', 'first\\nline'), (2, 'Grace', NULL);\n\
     INSERT INTO `Post` VALUES (10, 1), (11, 2), (12, 1)";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explicit_table_and_column_names_load_export_and_verify() {
    let my = MyDb::create("mapx").await;
    my.exec(SOURCE).await;
    let pg = PgDb::create("mapx").await;
    pg.client
        .batch_execute(
            "CREATE TABLE user_profile (id int PRIMARY KEY, display_name varchar(20) NOT NULL, note text);\n\
             CREATE TABLE \"Post\" (id int PRIMARY KEY, author_id int NOT NULL REFERENCES user_profile (id))",
        )
        .await
        .unwrap();
    let out = TempDir::new("mapx");
    let rules = "[[table]]\nsource = \"UserProfile\"\ntarget = \"user_profile\"\n\
                 [[column]]\ntable = \"UserProfile\"\ncolumn = \"displayName\"\ntarget = \"display_name\"\n\
                 [[column]]\ntable = \"Post\"\ncolumn = \"authorId\"\ntarget = \"author_id\"\n";
    let p = pipeline_for(&my, &pg, &out, rules);
    let report = converge::run::run(&p, &Default::default()).await.unwrap_or_else(|e| panic!("{e}"));
    for row in &report.ledger.rows {
        assert!(row.problems().is_empty(), "{row:?}");
        assert_eq!(row.target, row.read, "{}", row.table);
    }
    let rows = pg_rows(&pg, "SELECT id::text, display_name, note FROM user_profile ORDER BY id").await;
    assert_eq!(
        rows,
        vec![
            vec![Some("1".into()), Some("Ada".into()), Some("first\nline".into())],
            vec![Some("2".into()), Some("Grace".into()), None],
        ]
    );
    let posts = pg_rows(&pg, "SELECT id::text, author_id::text FROM \"Post\" ORDER BY id").await;
    assert_eq!(posts.iter().map(|r| r[1].clone().unwrap()).collect::<Vec<_>>(), ["1", "2", "1"]);
    // The export carries the target's names, so it imports into the same target.
    assert_eq!(csv_header(&report, "user_profile.csv"), "id,display_name,note");
    assert_eq!(csv_header(&report, "Post.csv"), "id,author_id");
    let manifest = std::fs::read_to_string(report.exports[0].join("migration_manifest.json")).unwrap();
    assert!(manifest.contains("\"user_profile\"") && !manifest.contains("\"UserProfile\""), "{manifest}");

    // verify pairs the source's columns with the target's names, and finds a change.
    let v = converge::verify::verify(&p, converge::verify::Depth::Full).await.unwrap();
    assert!(v.passed(), "{}", v.text());
    pg.client.batch_execute("UPDATE user_profile SET display_name = 'Adb' WHERE id = 1").await.unwrap();
    let v = converge::verify::verify(&p, converge::verify::Depth::Full).await.unwrap();
    assert!(!v.passed());
    let failed: Vec<String> = v.failures().iter().flat_map(|c| c.keys.clone()).collect();
    assert!(failed.iter().any(|k| k.contains("id='1'") && k.contains("displayName")), "{}", v.text());

    // Two source tables may not take one target name.
    let clash = "[[table]]\nsource = \"UserProfile\"\ntarget = \"Post\"\n";
    let p = pipeline_for(&my, &pg, &out, clash);
    let err = match converge::run::plan(&p).await {
        Ok((opened, ..)) => {
            opened.close().await;
            panic!("a clash of target names must be refused")
        }
        Err(e) => e.to_string(),
    };
    assert!(err.contains("would both be called `Post` in the target"), "{err}");
    pg.drop_db().await;
    my.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_lower_folds_for_an_orm_that_created_unquoted_names_and_reruns_skip() {
    let my = MyDb::create("mapl").await;
    my.exec(SOURCE).await;
    let pg = PgDb::create("mapl").await;
    // Unquoted: PostgreSQL folded every name to lower case.
    pg.client
        .batch_execute(
            "CREATE TABLE UserProfile (id int PRIMARY KEY, displayName varchar(20) NOT NULL, note text);\n\
             CREATE TABLE Post (id int PRIMARY KEY, authorId int NOT NULL REFERENCES UserProfile (id))",
        )
        .await
        .unwrap();
    let out = TempDir::new("mapl");
    // Without the rule the plan names the near match; with it, the run loads.
    let p = pipeline_for(&my, &pg, &out, "");
    let problems = plan_problems(&p).await;
    assert!(problems.contains("the target has `userprofile`, which differs only in case"), "{problems}");

    let per_table = "[options]\nnames = \"lower\"\n";
    let mut p = pipeline_for(&my, &pg, &out, per_table);
    let converge::pipeline::spec::SinkSpec::Postgres(sink) = &mut p.sinks[0] else { panic!("sink 1 is postgres") };
    sink.transaction = converge::pipeline::spec::TransactionMode::Table;
    let report = converge::run::run(&p, &Default::default()).await.unwrap_or_else(|e| panic!("{e}"));
    assert!(report.ledger.rows.iter().all(|r| r.problems().is_empty() && r.target == r.read));
    let rows = pg_rows(&pg, "SELECT displayname FROM userprofile ORDER BY id").await;
    assert_eq!(rows, vec![vec![Some("Ada".into())], vec![Some("Grace".into())]]);
    assert_eq!(csv_header(&report, "userprofile.csv"), "id,displayname,note");
    let v = converge::verify::verify(&p, converge::verify::Depth::Full).await.unwrap();
    assert!(v.passed(), "{}", v.text());
    // Per-table state is kept under the target's names: an unchanged rerun skips both.
    let again = converge::run::run(&p, &Default::default()).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(again.skipped.len(), 2, "{:?}", again.skipped);
    assert!(again.skipped.iter().all(|(_, why)| why.contains("unchanged")), "{:?}", again.skipped);
    pg.drop_db().await;
    my.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_column_renamed_by_a_transform_is_checked_under_its_new_name() {
    let my = MyDb::create("mapt").await;
    my.exec(
        "CREATE TABLE memo (id int PRIMARY KEY, note varchar(40) NULL, secret varchar(10) NULL);\n\
         INSERT INTO memo VALUES (1, 'keep me', 's1'), (2, NULL, 's2')",
    )
    .await;
    let pg = PgDb::create("mapt").await;
    pg.client.batch_execute("CREATE TABLE memo (id int PRIMARY KEY, remark varchar(10))").await.unwrap();
    let out = TempDir::new("mapt");
    let transform = "[[transform]]\ntable = \"memo\"\nsql = \"SELECT id, note AS remark FROM input\"\n";
    let p = pipeline_for(&my, &pg, &out, transform);
    // The renamed column meets the target's `remark`, and its narrower length is checked there.
    let (opened, plan, target) = converge::run::plan(&p).await.unwrap();
    opened.close().await;
    let target = target.unwrap();
    assert!(target.problems.is_empty(), "{:?}", target.problems);
    assert!(
        target.narrowing.iter().any(|n| n.starts_with("memo.remark: varchar(40) → character varying(10)")),
        "{:?}",
        target.narrowing
    );
    let text = converge::pipeline::plan::render_with_target(&p, &plan, "src", Some(&target.tables));
    assert!(text.contains("(as `remark`)") && text.contains("(not in the transform's output)"), "{text}");
    // 'keep me' fits in 10 characters: the load goes through under the new name.
    let report = converge::run::run(&p, &Default::default()).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(report.ledger.rows[0].target, Some(2));
    let rows = pg_rows(&pg, "SELECT id::text, remark FROM memo ORDER BY id").await;
    assert_eq!(rows, vec![vec![Some("1".into()), Some("keep me".into())], vec![Some("2".into()), None]]);
    assert_eq!(csv_header(&report, "memo.csv"), "id,remark");

    // A value the new name's target cannot hold stops the run, named by key and column.
    my.exec("INSERT INTO memo VALUES (3, 'longer than ten', 's3')").await;
    pg.client.batch_execute("TRUNCATE memo").await.unwrap();
    let err = converge::run::run(&p, &Default::default()).await.expect_err("refused").to_string();
    assert!(err.contains("remark") && err.contains("longer than ten"), "{err}");
    assert!(pg_rows(&pg, "SELECT 1 FROM memo").await.is_empty(), "nothing loaded");

    // A column the query computes has no source type to check: said at plan time.
    let computed = "[[transform]]\ntable = \"memo\"\nsql = \"SELECT id, concat(note, secret) AS remark FROM input\"\n";
    let p = pipeline_for(&my, &pg, &out, computed);
    let problems = plan_problems(&p).await;
    assert!(problems.contains("memo.remark: computed by the [[transform]]"), "{problems}");
    pg.drop_db().await;
    my.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_64_character_mysql_name_maps_to_a_name_postgresql_can_hold() {
    let long = format!("t_{}", "x".repeat(62));
    let short = &long[..63];
    let my = MyDb::create("map64").await;
    my.exec(&format!("CREATE TABLE `{long}` (id int PRIMARY KEY, v int NULL);\nINSERT INTO `{long}` VALUES (1, 7)"))
        .await;
    let pg = PgDb::create("map64").await;
    pg.client.batch_execute(&format!("CREATE TABLE \"{short}\" (id int PRIMARY KEY, v int)")).await.unwrap();
    let out = TempDir::new("map64");
    // Unmapped, the plan says what PostgreSQL calls it.
    let p = pipeline_for(&my, &pg, &out, "");
    let problems = plan_problems(&p).await;
    assert!(problems.contains(&format!("PostgreSQL calls it `{short}`, which the target has")), "{problems}");
    let p = pipeline_for(&my, &pg, &out, &format!("[[table]]\nsource = \"{long}\"\ntarget = \"{short}\"\n"));
    let report = converge::run::run(&p, &Default::default()).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(report.ledger.rows[0].target, Some(1));
    assert_eq!(pg_rows(&pg, &format!("SELECT v::text FROM \"{short}\"")).await, vec![vec![Some("7".into())]]);
    let v = converge::verify::verify(&p, converge::verify::Depth::Full).await.unwrap();
    assert!(v.passed(), "{}", v.text());
    pg.drop_db().await;
    my.drop_db().await;
}
