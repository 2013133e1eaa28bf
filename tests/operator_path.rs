//! The operator's path: relative paths in a pipeline read from the pipeline file's folder,
//! errors about missing files name the pipeline key, an import of a folder that is not an
//! export says what one is.

mod common;

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relative_paths_are_read_from_the_pipeline_files_folder() {
    let root = env!("CARGO_MANIFEST_DIR");
    let dir = TempDir::new("relpaths");
    let sub = dir.path().join("pipelines");
    std::fs::create_dir_all(&sub).unwrap();
    std::fs::copy(format!("{root}/fixtures/demo.sql"), dir.path().join("demo.sql")).unwrap();
    let file = sub.join("p.toml");
    std::fs::write(
        &file,
        "name = \"rel\"\n[source]\nkind = \"mysqldump\"\npath = \"../demo.sql\"\n\
         exclude = [\"migrations_typeorm\", \"query-result-cache\"]\n[[sink]]\nkind = \"csv\"\ndir = \"out\"\n",
    )
    .unwrap();
    // Run from somewhere else entirely.
    let elsewhere = TempDir::new("elsewhere");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_converge"))
        .current_dir(elsewhere.path())
        .args(["--quiet", "run"])
        .arg(&file)
        .env("CONVERGE_RUN_LOG", dir.path().join("runs.jsonl"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        sub.join("out").join("latest").join("migration_manifest.json").exists(),
        "the export is beside the pipeline"
    );
    assert!(std::fs::read_dir(elsewhere.path()).unwrap().next().is_none(), "nothing was written where it ran");

    // A missing dump is named by its key.
    std::fs::remove_file(dir.path().join("demo.sql")).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_converge"))
        .args(["--quiet", "run"])
        .arg(&file)
        .env("CONVERGE_RUN_LOG", dir.path().join("runs.jsonl"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("source.path: no dump file at") && err.contains("demo.sql"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn importing_a_folder_that_is_not_an_export_says_what_an_export_is() {
    let dir = TempDir::new("notexport");
    std::fs::write(dir.path().join("user.csv"), "id\n1\n").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_converge"))
        .arg("import")
        .arg(dir.path())
        .args(["--to", &format!("{}/postgres", pg_base())])
        .env("CONVERGE_RUN_LOG", dir.path().join("runs.jsonl"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("holds no migration_manifest.json") && err.contains("kind = \"csv\""), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn views_routines_triggers_and_events_are_listed_as_not_carried() {
    let my = MyDb::create("objects").await;
    my.exec(
        "CREATE TABLE t (id int PRIMARY KEY, v float NULL);\nINSERT INTO t VALUES (1, 0.1)\n;\n\
         CREATE VIEW t_view AS SELECT id FROM t;\n\
         CREATE PROCEDURE t_proc() SELECT 1;\n\
         CREATE TRIGGER t_trig BEFORE INSERT ON t FOR EACH ROW SET NEW.v = NEW.v",
    )
    .await;
    let dir = TempDir::new("objects");
    let text = format!(
        "name = \"objects\"\n[source]\nkind = \"mysql\"\nurl = \"{}\"\n[[sink]]\nkind = \"csv\"\ndir = \"{}\"\n",
        my.url,
        dir.path().display()
    );
    let p = pipeline(&text, &[]);
    let report = converge::run::run(&p, &Default::default()).await.unwrap_or_else(|e| panic!("{e}"));
    let text = converge::report::run_text(&report);
    assert!(text.contains("not carried: 1 views of the source (t_view)"), "{text}");
    assert!(text.contains("1 routines of the source (t_proc)"), "{text}");
    assert!(text.contains("1 triggers of the source (t_trig)"), "{text}");
    // The view is not exported as a table.
    assert_eq!(report.tables.iter().map(|t| t.table.as_str()).collect::<Vec<_>>(), vec!["t"]);
    my.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dump_source_names_its_float_columns() {
    let root = env!("CARGO_MANIFEST_DIR");
    let dump = std::fs::read_to_string(format!("{root}/fixtures/demo.sql")).unwrap();
    let dir = TempDir::new("dumpfloat");
    let file = dir.path().join("d.sql");
    std::fs::write(
        &file,
        format!("{dump}\nCREATE TABLE `gauge` (`id` int NOT NULL, `level` float DEFAULT NULL, PRIMARY KEY (`id`));\nINSERT INTO `gauge` VALUES (1,0.1);\n"),
    )
    .unwrap();
    let text = format!(
        "name = \"d\"\n[source]\nkind = \"mysqldump\"\npath = \"{}\"\ntables = [\"gauge\"]\n[[sink]]\nkind = \"null\"\n",
        file.display()
    );
    let p = pipeline(&text, &[]);
    let (opened, plan, _) = converge::run::plan(&p).await.unwrap();
    let rendered = converge::pipeline::plan::render(&p, &plan, &opened.describe());
    opened.close().await;
    assert!(
        rendered.contains("mysqldump writes FLOAT with 6 significant digits") && rendered.contains("gauge.level"),
        "{rendered}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_summary_of_a_thousand_table_run_fits_a_terminal() {
    let my = MyDb::create("wide").await;
    let pg = PgDb::create("wide").await;
    let mut my_sql = Vec::new();
    let mut pg_sql = Vec::new();
    for i in 0..1000 {
        my_sql.push(format!("CREATE TABLE t{i:04} (id int PRIMARY KEY, v int NULL, KEY v_{i} (v));\nINSERT INTO t{i:04} VALUES (1, {i})"));
        pg_sql.push(format!("CREATE TABLE t{i:04} (id int PRIMARY KEY, v int); CREATE INDEX v_{i} ON t{i:04} (v);"));
    }
    my.exec(&my_sql.join(";\n")).await;
    pg.client.batch_execute(&pg_sql.join("\n")).await.unwrap();
    let p = pipeline(
        "name = \"wide\"\n[source]\nkind = \"mysql\"\nurl = \"${MYSQL_URL}\"\n[[sink]]\nkind = \"postgres\"\nurl = \"${PG_URL}\"\n",
        &[("MYSQL_URL", &my.url), ("PG_URL", &pg.url)],
    );
    let report = converge::run::run(&p, &Default::default()).await.unwrap_or_else(|e| panic!("{e}"));
    let text = converge::report::run_text(&report);
    assert!(text.lines().count() < 40, "{} lines:\n{text}", text.lines().count());
    assert!(text.contains("load: COPY FREEZE on 1000 of 1000 tables; 2000 indexes built after the load"), "{text}");
    assert!(text.contains("row-count ledger: 1000 tables, every count reconciled"), "{text}");
    // A PostgreSQL-only run still says how many bytes went over.
    let total = text.lines().find(|l| l.starts_with("total")).unwrap();
    let bytes: u64 = total.split_whitespace().nth(2).unwrap().parse().unwrap();
    assert!(bytes > 1000 * 19, "{total}");
    // Every name is still there, verbose and in JSON.
    let verbose = converge::report::run_text_verbose(&report);
    assert!(verbose.lines().count() > 2000 && verbose.contains("t0999"));
    assert!(converge::report::run_json(&report).contains("\"t0999\""));
    pg.drop_db().await;
    my.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_target_name_suggests_the_near_match() {
    let long = format!("t_{}", "x".repeat(62));
    let my = MyDb::create("names").await;
    my.exec(&format!(
        "CREATE TABLE `UserProfile` (id int PRIMARY KEY, `displayName` varchar(20) NULL);\nCREATE TABLE `{long}` (id int PRIMARY KEY)"
    ))
    .await;
    let pg = PgDb::create("names").await;
    // Created without quotes, as many ORMs do: PostgreSQL folded the names.
    pg.client.batch_execute(&format!("CREATE TABLE UserProfile (id int PRIMARY KEY, displayName varchar(20)); CREATE TABLE \"{long}\" (id int PRIMARY KEY)")).await.unwrap();
    let p = pipeline(
        "name = \"names\"\n[source]\nkind = \"mysql\"\nurl = \"${MYSQL_URL}\"\n[[sink]]\nkind = \"postgres\"\nurl = \"${PG_URL}\"\n",
        &[("MYSQL_URL", &my.url), ("PG_URL", &pg.url)],
    );
    let (opened, _, target) = converge::run::plan(&p).await.unwrap();
    opened.close().await;
    let problems = target.unwrap().problems.join("\n");
    assert!(problems.contains("UserProfile: no table of that name in the target (the target has `userprofile`, which differs only in case"), "{problems}");
    assert!(problems.contains(&format!("{long}: no table of that name in the target (the name is 64 bytes, longer than PostgreSQL's 63: PostgreSQL calls it `{}`, which the target has)", &long[..63])), "{problems}");
    pg.drop_db().await;
    my.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dump_lists_its_views_triggers_routines_and_events_as_not_carried() {
    let my = MyDb::create("dumpobj").await;
    my.exec(
        "CREATE TABLE t (id int PRIMARY KEY, v int NULL);\nINSERT INTO t VALUES (1, 2);\n\
         CREATE VIEW t_view AS SELECT id FROM t;\n\
         CREATE PROCEDURE t_proc() SELECT 1;\n\
         CREATE FUNCTION t_fn() RETURNS int DETERMINISTIC RETURN 1;\n\
         CREATE TRIGGER t_trig BEFORE INSERT ON t FOR EACH ROW SET NEW.v = NEW.v;\n\
         CREATE EVENT t_ev ON SCHEDULE EVERY 1 DAY DO SELECT 1",
    )
    .await;
    let dir = TempDir::new("dumpobj");
    let file = dir.path().join("d.sql");
    let out = std::process::Command::new("mariadb-dump")
        .args(["-h127.0.0.1", "-uroot", "--routines", "--events", "--single-transaction", &my.name])
        .output()
        .expect("mariadb-dump");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    std::fs::write(&file, &out.stdout).unwrap();
    let text = format!(
        "name = \"d\"\n[source]\nkind = \"mysqldump\"\npath = \"{}\"\n[[sink]]\nkind = \"null\"\n",
        file.display()
    );
    let p = pipeline(&text, &[]);
    let (opened, plan, _) = converge::run::plan(&p).await.unwrap();
    opened.close().await;
    assert_eq!(plan.tables.iter().map(|t| t.name()).collect::<Vec<_>>(), vec!["t"], "the view is not a table");
    let notes = plan.notes.join("\n");
    for o in ["view t_view", "trigger t_trig", "procedure t_proc", "function t_fn", "event t_ev"] {
        assert!(notes.contains(o), "{o} missing from: {notes}");
    }
    my.drop_db().await;
}
