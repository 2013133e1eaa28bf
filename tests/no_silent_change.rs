//! A run that exits 0 changed no value: narrowing casts are checked value by value
//! (refused naming the row, or counted where a `[[column]]` rule allows them), the
//! target's triggers fire as they would for the application, generated target columns
//! are left to PostgreSQL, and `plan --profile` reports every value the run would refuse.
//! Each test works in its own throw-away databases on the local servers.

mod common;

use common::*;

fn pg_pipeline(extra_sink: &str, rules: &str) -> String {
    format!(
        "name = \"narrow\"\n[source]\nkind = \"mysql\"\nurl = \"${{MYSQL_URL}}\"\n{rules}\n[[sink]]\nkind = \"postgres\"\nurl = \"${{PG_URL}}\"\n{extra_sink}\n"
    )
}

/// One source column type and its values, one target column type: the run either
/// refuses naming the first value that would change, or (with the rule) loads and
/// counts the changed values.
struct Narrow {
    my_type: &'static str,
    values: &'static [&'static str],
    pg_type: &'static str,
    /// The value named in the refusal, and what it would become.
    refused: (&'static str, &'static str),
    /// With `allow_change`: values changed, and the target's text of the values in order.
    allowed: Option<(u64, &'static [&'static str])>,
}

const NARROW: &[Narrow] = &[
    Narrow {
        my_type: "decimal(12,4)",
        values: &["1.2300", "1.2349", "-0.0050"],
        pg_type: "numeric(8,2)",
        refused: ("1.2349", "would become 1.23"),
        allowed: Some((2, &["1.23", "1.23", "-0.01"])),
    },
    Narrow {
        my_type: "datetime(6)",
        values: &["2024-01-01 10:00:00", "2024-01-01 10:00:00.500001"],
        pg_type: "timestamp(0)",
        refused: ("2024-01-01 10:00:00.500001", "would become 2024-01-01 10:00:01"),
        allowed: Some((1, &["2024-01-01 10:00:00", "2024-01-01 10:00:01"])),
    },
    Narrow {
        my_type: "datetime(6)",
        values: &["2024-01-01 10:00:00.123000", "2024-01-01 10:00:00.123456"],
        pg_type: "timestamp(3)",
        refused: ("2024-01-01 10:00:00.123456", "would become 2024-01-01 10:00:00.123000"),
        allowed: Some((1, &["2024-01-01 10:00:00.123", "2024-01-01 10:00:00.123"])),
    },
    Narrow {
        my_type: "time(6)",
        values: &["12:00:00", "12:00:00.25"],
        pg_type: "time(0)",
        refused: ("12:00:00.250000", "would become 12:00:00"),
        allowed: Some((1, &["12:00:00", "12:00:00"])),
    },
    Narrow {
        my_type: "time(6)",
        values: &["01:00:00", "-01:00:00.75"],
        pg_type: "interval second(0)",
        refused: ("-1:00:00.750000", "would become -1:00:01"),
        allowed: Some((1, &["01:00:00", "-01:00:01"])),
    },
    Narrow {
        my_type: "varchar(10)",
        values: &["abcd", "ab"],
        pg_type: "char(4)",
        refused: ("'ab'", "would become 'ab  '"),
        allowed: Some((1, &["abcd", "ab  "])),
    },
    Narrow {
        my_type: "bigint",
        values: &["5", "3000000000"],
        pg_type: "integer",
        refused: ("3000000000", "does not fit integer"),
        allowed: None,
    },
    Narrow {
        my_type: "decimal(12,2)",
        values: &["1.00", "1234567.00"],
        pg_type: "numeric(8,2)",
        refused: ("1234567.00", "does not fit numeric(8,2)"),
        allowed: None,
    },
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_narrowing_cast_is_refused_naming_the_value_or_counted_when_allowed() {
    for (n, case) in NARROW.iter().enumerate() {
        let my = MyDb::create("narrow").await;
        let pg = PgDb::create("narrow").await;
        my.exec(&format!("CREATE TABLE t (id int PRIMARY KEY, v {} NULL)", case.my_type)).await;
        let values: Vec<String> = case.values.iter().enumerate().map(|(i, v)| format!("({i}, '{v}')")).collect();
        my.exec(&format!("INSERT INTO t VALUES {}, ({}, NULL)", values.join(", "), values.len())).await;
        pg.client
            .batch_execute(&format!("CREATE TABLE t (id int PRIMARY KEY, v {} NULL)", case.pg_type))
            .await
            .unwrap();
        let vars = [("MYSQL_URL", my.url.as_str()), ("PG_URL", pg.url.as_str())];
        let p = pipeline(&pg_pipeline("", ""), &vars);
        let err = converge::run::run(&p, &Default::default()).await.expect_err(case.pg_type).to_string();
        assert!(err.contains("table `t`") && err.contains("column `v`"), "case {n}: {err}");
        assert!(err.contains(&format!("value {}", case.refused.0)), "case {n}: {err}");
        assert!(err.contains(case.refused.1), "case {n}: {err}");
        assert_eq!(
            pg_rows(&pg, "SELECT count(*) FROM t").await[0][0].as_deref(),
            Some("0"),
            "case {n}: target untouched"
        );
        if let Some((changed, expect)) = case.allowed {
            let rule = "[[column]]\ntable = \"t\"\ncolumn = \"v\"\nallow_change = true\n";
            let p = pipeline(&pg_pipeline("", rule), &vars);
            let report = converge::run::run(&p, &Default::default()).await.unwrap_or_else(|e| panic!("case {n}: {e}"));
            let text = converge::report::run_text(&report);
            assert!(text.contains(&format!("changed: {changed} values of t.v")), "case {n}: {text}");
            let load = report.load.expect("a postgres load");
            assert_eq!(load.changed, vec![("t".to_string(), "v".to_string(), changed)], "case {n}");
            let got = pg_rows(&pg, "SELECT v FROM t ORDER BY id").await;
            let want: Vec<Vec<Option<String>>> =
                expect.iter().map(|v| vec![Some(v.to_string())]).chain([vec![None]]).collect();
            assert_eq!(got, want, "case {n}");
        }
        pg.drop_db().await;
        my.drop_db().await;
    }
}

const TRIGGERED: &str = "CREATE TABLE audit (who text, what text);\n\
CREATE TABLE person (id int PRIMARY KEY, email text NOT NULL);\n\
CREATE FUNCTION normalise() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
  NEW.email := lower(NEW.email); \
  INSERT INTO audit VALUES (current_setting('application_name'), NEW.email); \
  RETURN NEW; END $$;\n\
CREATE TRIGGER person_normalise BEFORE INSERT ON person FOR EACH ROW EXECUTE FUNCTION normalise()";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn target_triggers_fire_by_default_and_the_summary_says_when_they_did_not() {
    let my = MyDb::create("trig").await;
    my.exec(
        "CREATE TABLE person (id int PRIMARY KEY, email varchar(100) NOT NULL);\n\
             INSERT INTO person VALUES (1, 'Ann@Example.COM'), (2, 'bob@example.com')",
    )
    .await;
    let vars_for = |pg: &PgDb| [("MYSQL_URL", my.url.clone()), ("PG_URL", pg.url.clone())];
    for (extra, fired) in [("", true), ("triggers = \"disable\"", false), ("transaction = \"table\"", true)] {
        let pg = PgDb::create("trig").await;
        pg.client.batch_execute(TRIGGERED).await.unwrap();
        let vars = vars_for(&pg);
        let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let p =
            pipeline(&pg_pipeline(extra, "").replace("name = \"narrow\"", &format!("name = \"{}\"", pg.name)), &vars);
        let report = converge::run::run(&p, &Default::default()).await.unwrap_or_else(|e| panic!("{extra}: {e}"));
        let emails = pg_rows(&pg, "SELECT email FROM person ORDER BY id").await;
        let audit = pg_rows(&pg, "SELECT who FROM audit").await;
        let text = converge::report::run_text(&report);
        let load = report.load.expect("a postgres load");
        assert_eq!(load.triggers, vec!["person.person_normalise".to_string()], "{extra}");
        // How the foreign keys were handled, and where per-table state lives, is said.
        let fk_line = match extra {
            "" => "foreign keys: dropped for the load and re-created",
            "triggers = \"disable\"" => {
                "foreign keys: not enforced during the load (session_replication_role = replica)"
            }
            _ => "foreign keys: PostgreSQL's own foreign-key check triggers of each table were off during its COPY",
        };
        assert!(text.contains(fk_line), "{extra}: {text}");
        assert_eq!(
            text.contains("per-table state: kept in the target, in converge.load_state"),
            extra.contains("table"),
            "{text}"
        );
        assert_eq!(load.triggers_disabled, !fired, "{extra}");
        if fired {
            assert_eq!(emails[0][0].as_deref(), Some("ann@example.com"), "{extra}: the trigger normalised the row");
            assert_eq!(audit.len(), 2, "{extra}");
            let who = audit[0][0].clone().unwrap();
            assert_eq!(who, format!("converge/{}", report.migration_id), "{extra}: the session names the run");
            assert!(
                text.contains("target triggers fired for every row") && text.contains("person.person_normalise"),
                "{text}"
            );
        } else {
            assert_eq!(emails[0][0].as_deref(), Some("Ann@Example.COM"), "{extra}: the trigger did not fire");
            assert!(audit.is_empty());
            assert!(
                text.contains("target triggers did NOT fire (triggers = \"disable\"): 1 (person.person_normalise)"),
                "{text}"
            );
        }
        pg.drop_db().await;
    }
    my.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_generated_target_column_is_left_to_postgresql() {
    let my = MyDb::create("gen").await;
    my.exec("CREATE TABLE line (id int PRIMARY KEY, qty int NOT NULL, price decimal(10,2) NOT NULL, total decimal(12,2) NULL);\n\
             INSERT INTO line VALUES (1, 3, 2.50, 7.50), (2, 1, 10.00, 10.00)")
        .await;
    let pg = PgDb::create("gen").await;
    pg.client
        .batch_execute(
            "CREATE TABLE line (id int PRIMARY KEY, qty int NOT NULL, price numeric(10,2) NOT NULL, \
             total numeric(12,2) GENERATED ALWAYS AS (qty * price) STORED)",
        )
        .await
        .unwrap();
    let vars = [("MYSQL_URL", my.url.as_str()), ("PG_URL", pg.url.as_str())];
    let p = pipeline(&pg_pipeline("", ""), &vars);
    let (opened, plan, target) = converge::run::plan(&p).await.unwrap();
    opened.close().await;
    let target = target.expect("a postgres sink");
    assert!(target.problems.is_empty(), "{:?}", target.problems);
    let excluded = &plan.tables[0].excluded_columns;
    assert!(excluded.iter().any(|(c, why)| c == "total" && why.contains("generated in the target")), "{excluded:?}");
    converge::run::run(&p, &Default::default()).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        pg_rows(&pg, "SELECT total FROM line ORDER BY id").await,
        vec![vec![Some("7.50".into())], vec![Some("10.00".into())]]
    );
    pg.drop_db().await;
    my.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_profile_lists_every_rejectable_value_and_fails() {
    let my = MyDb::create("prof").await;
    my.exec(
        "CREATE TABLE item (id int PRIMARY KEY, mood enum('Good','Meh') NULL, big bigint unsigned NULL, \
         amount decimal(12,4) NULL, whole decimal(10,2) NULL, flag tinyint NULL, note varchar(64) NULL);\n\
         INSERT INTO item VALUES (1, 'Good', 1, 1.0000, 1.00, 1, 'ok'), (2, 'Meh', 18446744073709551615, 123456.0000, 2.50, 5, 'this is longer than twenty chars'), \
         (3, 'Good', 2, 1.2349, 3.00, 0, NULL)",
    )
    .await;
    let pg = PgDb::create("prof").await;
    pg.client
        .batch_execute(
            "CREATE TYPE mood AS ENUM ('Good');\n\
             CREATE TABLE item (id int PRIMARY KEY, mood mood, big bigint, amount numeric(6,2), whole integer, flag boolean, note varchar(20), \
             CONSTRAINT note_not_ok CHECK (note <> 'ok'), CONSTRAINT id_small CHECK (id < 4 OR mood = 'Good'))",
        )
        .await
        .unwrap();
    let vars = [("MYSQL_URL", my.url.as_str()), ("PG_URL", pg.url.as_str())];
    let p = pipeline(&pg_pipeline("", ""), &vars);
    let (opened, plan, target) = converge::run::plan(&p).await.unwrap();
    let target = target.expect("a postgres sink");
    let text = converge::pipeline::plan::render_with_target(&p, &plan, "", Some(&target.tables));
    assert!(text.contains("varchar(64)") && text.contains("→ pg character varying(20)"), "{text}");
    let narrowing = target.narrowing.join("\n");
    for col in ["item.amount", "item.whole", "item.note", "item.big"] {
        assert!(narrowing.contains(col), "{col} is a narrowing cast: {narrowing}");
    }
    let Some(src) = &opened.live() else { panic!("a live source") };
    let pg_client = target.load.client().await;
    let tables = (&target.tables[..], &target.load.tables[..]);
    let found =
        converge::pipeline::profile::profile_into(src, &pg_client, "public", &plan, tables, target.ddl.as_ref());
    let found = found.await.unwrap();
    drop(pg_client);
    opened.close().await;
    let blocking: Vec<(String, String)> =
        found.iter().filter(|f| f.blocking()).map(|f| (f.column.clone(), f.what.clone())).collect();
    let has = |col: &str, what: &str| blocking.iter().any(|(c, w)| c == col && w.contains(what));
    assert!(has("mood", "not a label of the target enum"), "{blocking:?}");
    assert!(has("big", "does not fit bigint"), "{blocking:?}");
    assert!(has("amount", "does not fit numeric(6,2)"), "{blocking:?}");
    assert!(has("amount", "would be changed by the target's numeric(6,2)"), "{blocking:?}");
    assert!(has("whole", "a fractional part"), "{blocking:?}");
    assert!(has("flag", "not 0 or 1"), "{blocking:?}");
    assert!(has("note", "longer than the target column's 20 characters"), "{blocking:?}");
    // CHECK constraints, evaluated by PostgreSQL on the values the run loads: row 1's note is 'ok'.
    let check = found.iter().find(|f| f.what.contains("CHECK constraint `note_not_ok`")).expect("note_not_ok found");
    assert_eq!((check.count, check.examples.clone()), (1, vec!["id='1'".to_string()]), "{check:?}");
    assert!(check.blocking());
    // A constraint every row satisfies is not reported.
    assert!(!found.iter().any(|f| f.what.contains("id_small")), "{found:?}");
    // Each finding counts its values: one of each here.
    assert!(found.iter().filter(|f| f.blocking()).all(|f| f.count == 1), "{found:?}");
    // The command: `plan --profile --json` says the same, as JSON, and exits non-zero.
    let dir = TempDir::new("prof");
    let file = dir.path().join("p.toml");
    std::fs::write(&file, pg_pipeline("", "").replace("${MYSQL_URL}", &my.url).replace("${PG_URL}", &pg.url)).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_converge"))
        .args(["--json", "plan", "--profile"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(!out.status.success(), "plan --profile must fail when values would stop the run");
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {:?}", out));
    assert_eq!(j["ok"], serde_json::json!(false));
    let profiled = j["profile"].as_array().expect("findings");
    assert!(profiled.iter().any(|f| f["column"] == "mood" && f["blocking"] == true), "{j}");
    assert!(profiled.iter().any(|f| f["what"].as_str().unwrap().contains("note_not_ok")), "{j}");
    let cols = j["tables"][0]["columns"].as_array().unwrap();
    assert!(cols.iter().any(|c| c["name"] == "note" && c["targetType"] == "character varying(20)"), "{j}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("would stop the run"));
    // The run refuses the first of them, and loads nothing.
    let err = converge::run::run(&p, &Default::default()).await.expect_err("rejectable values");
    assert!(err.to_string().contains("table `item`"), "{err}");
    assert_eq!(pg_rows(&pg, "SELECT count(*) FROM item").await[0][0].as_deref(), Some("0"));
    pg.drop_db().await;
    my.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_during_a_load_rolls_back_logs_interrupted_and_marks_the_export_failed() {
    interrupted_load(libc::SIGINT, "SIGINT").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_a_load_rolls_back_the_same_way() {
    interrupted_load(libc::SIGTERM, "SIGTERM").await;
}

async fn interrupted_load(signal: i32, name: &str) {
    // Its own pipeline name: the test finds the load's session by it.
    let job = name.to_lowercase();
    let my = MyDb::create("sig").await;
    my.exec("CREATE TABLE slow (id int PRIMARY KEY)").await;
    let ids: Vec<String> = (1..=400).map(|i| format!("({i})")).collect();
    my.exec(&format!("INSERT INTO slow VALUES {}", ids.join(", "))).await;
    let pg = PgDb::create("sig").await;
    // Each row takes a while to insert, so the signal arrives in the middle of the COPY.
    pg.client
        .batch_execute(
            "CREATE TABLE slow (id int PRIMARY KEY);\n\
             CREATE FUNCTION dawdle() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(0.05); RETURN NEW; END $$;\n\
             CREATE TRIGGER slow_dawdle BEFORE INSERT ON slow FOR EACH ROW EXECUTE FUNCTION dawdle()",
        )
        .await
        .unwrap();
    let dir = TempDir::new("sig");
    let file = dir.path().join("p.toml");
    let exports = dir.path().join("exports");
    std::fs::write(
        &file,
        format!(
            "name = \"{job}\"\n[source]\nkind = \"mysql\"\nurl = \"{}\"\n[[sink]]\nkind = \"csv\"\ndir = \"{}\"\n[[sink]]\nkind = \"postgres\"\nurl = \"{}\"\n",
            my.url,
            exports.display(),
            pg.url
        ),
    )
    .unwrap();
    let log = dir.path().join("runs.jsonl");
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_converge"))
        .args(["--quiet", "run"])
        .arg(&file)
        .env("CONVERGE_RUN_LOG", &log)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the COPY is under way (the session names the run), then interrupt.
    let mut copying = false;
    for _ in 0..600 {
        let rows = pg_rows(
            &pg,
            &format!("SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'converge/{job}-%' AND query LIKE 'COPY%'"),
        )
        .await;
        if rows[0][0].as_deref() != Some("0") {
            copying = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(copying, "the load never started");
    unsafe { libc::kill(child.id() as i32, signal) };
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains(&format!("{name} received")), "{stderr}");
    let rolled = format!("interrupted: {name} received; PostgreSQL: rolled back the load of 1 tables (slow)");
    assert!(stderr.contains(&rolled), "{stderr}");
    assert_eq!(pg_rows(&pg, "SELECT count(*) FROM slow").await[0][0].as_deref(), Some("0"));
    let last = std::fs::read_to_string(&log).unwrap().lines().last().unwrap().to_string();
    assert!(last.contains("\"failed\"") && last.contains("interrupted"), "{last}");
    let export = std::fs::read_dir(&exports).unwrap().next().unwrap().unwrap().path();
    let failed = std::fs::read_to_string(export.join("FAILED")).unwrap();
    assert!(failed.contains("interrupted"), "{failed}");
    // The backend does not go on after converge has gone.
    let left =
        pg_rows(&pg, &format!("SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'converge/{job}-%'"))
            .await;
    let mut gone = left[0][0].as_deref() == Some("0");
    // Waits up to 60 s: the backend notices the closed connection only once its current
    // row's trigger returns, and a loaded 2-core machine has been seen taking over 10 s.
    for _ in 0..600 {
        if gone {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let left = pg_rows(
            &pg,
            &format!("SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'converge/{job}-%'"),
        )
        .await;
        gone = left[0][0].as_deref() == Some("0");
    }
    assert!(gone, "a converge session outlived the process");
    pg.drop_db().await;
    my.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_compares_bit_as_its_integer_and_year_zero_as_zero() {
    let my = MyDb::create("bits").await;
    my.exec(
        "CREATE TABLE b (id int PRIMARY KEY, f bit(5) NULL, w bit(64) NULL, y year NULL);\n\
         INSERT INTO b VALUES (1, b'10101', b'1111111111111111111111111111111111111111111111111111111111111111', 0), (2, b'0', b'1', 2024), (3, NULL, NULL, NULL)",
    )
    .await;
    let pg = PgDb::create("bits").await;
    pg.client
        .batch_execute("CREATE TABLE b (id int PRIMARY KEY, f smallint, w numeric(20), y smallint)")
        .await
        .unwrap();
    let vars = [("MYSQL_URL", my.url.as_str()), ("PG_URL", pg.url.as_str())];
    let p = pipeline(&pg_pipeline("", ""), &vars);
    converge::run::run(&p, &Default::default()).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        pg_rows(&pg, "SELECT f, w, y FROM b ORDER BY id").await,
        vec![
            vec![Some("21".into()), Some("18446744073709551615".into()), Some("0".into())],
            vec![Some("0".into()), Some("1".into()), Some("2024".into())],
            vec![None, None, None],
        ]
    );
    let report = converge::verify::verify(&p, converge::verify::Depth::Full).await.unwrap();
    assert!(report.passed(), "{}", report.text());
    // PostgreSQL bit strings as targets: bit(n) and varbit, read back as bits.
    let bits = PgDb::create("bits").await;
    bits.client.batch_execute("CREATE TABLE b (id int PRIMARY KEY, f bit(5), w varbit(64), y smallint)").await.unwrap();
    let bvars = [("MYSQL_URL", my.url.as_str()), ("PG_URL", bits.url.as_str())];
    let bp = pipeline(&pg_pipeline("", ""), &bvars);
    converge::run::run(&bp, &Default::default()).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        pg_rows(&bits, "SELECT f, w FROM b ORDER BY id").await,
        vec![
            vec![Some("10101".into()), Some("1".repeat(64))],
            vec![Some("00000".into()), Some(format!("{}1", "0".repeat(63)))],
            vec![None, None],
        ]
    );
    let report = converge::verify::verify(&bp, converge::verify::Depth::Full).await.unwrap();
    assert!(report.passed(), "{}", report.text());
    // A bit(4) target is narrower than bit(5): the wide value is refused by row.
    bits.client.batch_execute("TRUNCATE b; ALTER TABLE b ALTER COLUMN f TYPE bit(4) USING B'0000'").await.unwrap();
    let err = converge::run::run(&bp, &Default::default()).await.expect_err("21 needs 5 bits").to_string();
    assert!(err.contains("id='1'") && err.contains("does not fit bit(4)"), "{err}");
    bits.drop_db().await;
    // A real difference is still found.
    pg.client.batch_execute("UPDATE b SET f = 20 WHERE id = 1").await.unwrap();
    let report = converge::verify::verify(&p, converge::verify::Depth::Full).await.unwrap();
    assert!(!report.passed(), "{}", report.text());
    pg.drop_db().await;
    my.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_load_waiting_on_a_lock_says_which_table_and_who_holds_it() {
    use std::io::BufRead;
    let my = MyDb::create("lock").await;
    my.exec("CREATE TABLE held (id int PRIMARY KEY);\nINSERT INTO held VALUES (1), (2)").await;
    let pg = PgDb::create("lock").await;
    pg.client.batch_execute("CREATE TABLE held (id int PRIMARY KEY)").await.unwrap();
    // Another session (the application, say) holds the table.
    let holder = connect_pg(&pg.url).await;
    holder
        .batch_execute("SET application_name = 'the-app'; BEGIN; LOCK TABLE held IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    let holder_pid: i32 = holder.query_one("SELECT pg_backend_pid()", &[]).await.unwrap().get(0);
    let dir = TempDir::new("lock");
    let file = dir.path().join("p.toml");
    std::fs::write(
        &file,
        format!(
            "name = \"lock\"\n[source]\nkind = \"mysql\"\nurl = \"{}\"\n[[sink]]\nkind = \"postgres\"\nurl = \"{}\"\n",
            my.url, pg.url
        ),
    )
    .unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_converge"))
        .args(["--quiet", "run"])
        .arg(&file)
        .env("CONVERGE_RUN_LOG", dir.path().join("runs.jsonl"))
        .env("CONVERGE_LOG", "warn")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    // The report arrives while the load waits; then the lock is released and it finishes.
    let mut report = None;
    while let Ok(line) = rx.recv_timeout(std::time::Duration::from_secs(120)) {
        if line.contains("lock on") {
            report = Some(line);
            break;
        }
    }
    holder.batch_execute("COMMIT").await.unwrap();
    let status = child.wait().unwrap();
    let report = report.expect("a lock-wait report");
    assert!(report.contains("held"), "{report}");
    assert!(report.contains(&format!("held by PostgreSQL session {holder_pid}")), "{report}");
    assert!(report.contains("application `the-app`"), "{report}");
    assert!(status.success(), "the load finishes once the lock is released");
    assert_eq!(pg_rows(&pg, "SELECT count(*) FROM held").await[0][0].as_deref(), Some("2"));
    drop(holder);
    pg.drop_db().await;
    my.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn datetime_zone_reads_local_wall_times_as_instants() {
    let my = MyDb::create("zone").await;
    my.exec(
        "CREATE TABLE ev (id int PRIMARY KEY, at datetime(6) NULL, stamp timestamp(6) NULL);\n\
         INSERT INTO ev VALUES (1, '2024-07-01 12:00:00', '2024-07-01 10:00:00'), (2, '2024-01-15 12:00:00.5', NULL), (3, NULL, NULL)",
    )
    .await;
    let pg = PgDb::create("zone").await;
    pg.client
        .batch_execute("CREATE TABLE ev (id int PRIMARY KEY, at timestamptz(6), stamp timestamptz(6))")
        .await
        .unwrap();
    let dir = TempDir::new("zone");
    let vars = [("MYSQL_URL", my.url.as_str()), ("PG_URL", pg.url.as_str())];
    // Without the zone, plan says the DATETIME is taken as UTC.
    let (opened, _, target) = converge::run::plan(&pipeline(&pg_pipeline("", ""), &vars)).await.unwrap();
    opened.close().await;
    let warned = target.unwrap().narrowing.join("\n");
    assert!(warned.contains("ev.at") && warned.contains("datetime_zone"), "{warned}");
    assert!(!warned.contains("ev.stamp"), "TIMESTAMP carries its zone: {warned}");
    let text = format!(
        "name = \"zone\"\n[source]\nkind = \"mysql\"\nurl = \"${{MYSQL_URL}}\"\ndatetime_zone = \"Europe/Amsterdam\"\n\
         [[sink]]\nkind = \"csv\"\ndir = \"{}\"\n[[sink]]\nkind = \"postgres\"\nurl = \"${{PG_URL}}\"\n",
        dir.path().display()
    );
    let p = pipeline(&text, &vars);
    let report = converge::run::run(&p, &Default::default()).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        pg_rows(&pg, "SELECT at, stamp FROM ev ORDER BY id").await,
        vec![
            vec![Some("2024-07-01 10:00:00+00".into()), Some("2024-07-01 10:00:00+00".into())],
            vec![Some("2024-01-15 11:00:00.5+00".into()), None],
            vec![None, None],
        ]
    );
    let csv = std::fs::read_to_string(report.exports[0].join("ev.csv")).unwrap();
    assert!(csv.contains("2024-07-01T10:00:00Z") && csv.contains("2024-01-15T11:00:00.5"), "{csv}");
    let v = converge::verify::verify(&p, converge::verify::Depth::Full).await.unwrap();
    assert!(v.passed(), "{}", v.text());
    // A wall time the zone skips has no instant: refused, naming the row.
    my.exec("INSERT INTO ev VALUES (4, '2024-03-31 02:30:00', NULL)").await;
    pg.client.batch_execute("TRUNCATE ev").await.unwrap();
    let err = converge::run::run(&p, &Default::default()).await.expect_err("a skipped wall time").to_string();
    assert!(err.contains("table `ev`") && err.contains("id='4'") && err.contains("2024-03-31 02:30:00"), "{err}");
    assert!(err.contains("does not exist (the clocks went forward) in Europe/Amsterdam"), "{err}");
    assert_eq!(pg_rows(&pg, "SELECT count(*) FROM ev").await[0][0].as_deref(), Some("0"));
    // An unknown zone is a pipeline error.
    let bad = converge::Pipeline::parse(
        &text.replace("Europe/Amsterdam", "Mars/Olympus"),
        std::path::Path::new("t.toml"),
        |k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string()),
    );
    assert!(bad.expect_err("unknown zone").to_string().contains("not an IANA time zone"));
    pg.drop_db().await;
    my.drop_db().await;
}

/// A MySQL type family with edge values, and the PostgreSQL targets a schema-first user
/// may give it.
struct Family {
    my: &'static str,
    values: &'static [&'static str],
    targets: &'static [&'static str],
}

const FAMILIES: &[Family] = &[
    Family {
        my: "tinyint",
        values: &["-128", "0", "127"],
        targets: &["smallint", "integer", "numeric(3,0)", "numeric(2,0)", "real", "text", "varchar(3)"],
    },
    Family { my: "tinyint unsigned", values: &["0", "255"], targets: &["smallint", "numeric(3,0)"] },
    Family { my: "smallint", values: &["-32768", "32767"], targets: &["smallint", "integer", "numeric(5,0)", "real"] },
    Family {
        my: "int",
        values: &["-2147483648", "0", "2147483647"],
        targets: &[
            "integer",
            "smallint",
            "bigint",
            "numeric(10,0)",
            "numeric(9,0)",
            "real",
            "double precision",
            "varchar(10)",
        ],
    },
    Family {
        my: "bigint",
        values: &["-9223372036854775808", "9223372036854775807", "16777217"],
        targets: &["bigint", "integer", "numeric(19,0)", "numeric(20,2)", "double precision", "real", "text"],
    },
    Family {
        my: "bigint unsigned",
        values: &["0", "18446744073709551615"],
        targets: &["numeric(20,0)", "numeric", "bigint", "text"],
    },
    Family {
        my: "decimal(12,4)",
        values: &["-99999999.9999", "0.0001", "1.2349", "0.0000"],
        targets: &["numeric", "numeric(12,4)", "numeric(16,6)", "numeric(8,2)", "numeric(12,3)", "integer", "text"],
    },
    Family {
        my: "decimal(12,0)",
        values: &["-999999999999", "0", "7"],
        targets: &["bigint", "integer", "numeric(12,0)", "numeric(13,1)"],
    },
    Family {
        my: "decimal(65,30)",
        values: &[
            "12345678901234567890123456789012345.123456789012345678901234567890",
            "-0.000000000000000000000000000001",
        ],
        targets: &["numeric", "numeric(65,30)", "numeric(40,5)"],
    },
    Family {
        my: "float",
        values: &["0.1", "-3.40282e38", "1.5e-10", "16777216"],
        targets: &["real", "double precision", "numeric", "numeric(10,2)"],
    },
    Family {
        my: "double",
        values: &["0.1", "1.7976931348623157e308", "2.2250738585072014e-308", "-2.5"],
        targets: &["double precision", "numeric", "numeric(10,2)"],
    },
    Family {
        my: "date",
        values: &["1000-01-01", "9999-12-31", "2024-02-29"],
        targets: &["date", "timestamp", "timestamptz", "text"],
    },
    Family {
        my: "datetime(6)",
        values: &["1000-01-01 00:00:00", "9999-12-31 23:59:59.999999", "2024-02-29 12:00:00.5"],
        targets: &["timestamp", "timestamp(6)", "timestamp(3)", "timestamp(0)", "timestamptz"],
    },
    Family {
        my: "datetime",
        values: &["2024-02-29 12:00:00", "1970-01-01 00:00:00"],
        targets: &["timestamp(0)", "timestamptz(0)"],
    },
    Family {
        my: "timestamp(6)",
        values: &["1970-01-01 00:00:01", "2038-01-19 03:14:07.999999"],
        targets: &["timestamptz", "timestamp", "timestamptz(0)"],
    },
    Family {
        my: "time(6)",
        values: &["-838:59:59", "838:59:59", "00:00:00.000001", "23:59:59.999999"],
        targets: &["interval", "interval second(0)", "interval minute", "time", "time(0)"],
    },
    Family { my: "time", values: &["00:00:00", "12:34:56"], targets: &["time", "time(0)", "interval"] },
    Family {
        my: "varchar(10)",
        values: &["", "a", "ab  ", "äöü😀", "x\\ny"],
        targets: &["text", "varchar(10)", "varchar(3)", "char(4)", "char(10)"],
    },
    Family { my: "char(4)", values: &["abcd", "ab"], targets: &["char(4)", "varchar(4)", "text"] },
];

/// An independent comparison of the source's text (`src`) with the target's value (`v`),
/// by PostgreSQL's own parsing of the source text: true when the value arrived unchanged.
fn same_value(my: &str, pg: &str) -> &'static str {
    let text_target = pg.starts_with("text") || pg.starts_with("varchar") || pg.starts_with("char");
    let base = my.split(['(', ' ']).next().unwrap();
    match base {
        "varchar" | "char" => "s.src IS NOT DISTINCT FROM (CASE WHEN t.v IS NULL THEN NULL ELSE concat(t.v) END)",
        // A FLOAT is read exactly (as a double, below): a double precision target holds its
        // own value; a numeric one its shortest decimal.
        "float" if pg == "real" => "s.src::float8::real IS NOT DISTINCT FROM t.v",
        "float" if pg == "double precision" => "s.src::float8::real::float8 IS NOT DISTINCT FROM t.v",
        "float" => "s.src::float8::real::text::numeric IS NOT DISTINCT FROM t.v",
        "double" if pg == "double precision" => "s.src::float8 IS NOT DISTINCT FROM t.v",
        _ if text_target => "s.src IS NOT DISTINCT FROM t.v::text",
        "date" | "datetime" | "timestamp" if pg.starts_with("timestamptz") => {
            "s.src::timestamp IS NOT DISTINCT FROM (t.v AT TIME ZONE 'UTC')"
        }
        "date" if pg == "date" => "s.src::date IS NOT DISTINCT FROM t.v",
        "date" | "datetime" | "timestamp" => "s.src::timestamp IS NOT DISTINCT FROM t.v",
        "time" if pg.starts_with("time") => "s.src::time IS NOT DISTINCT FROM t.v",
        "time" => "s.src::interval IS NOT DISTINCT FROM t.v",
        _ => "s.src::numeric IS NOT DISTINCT FROM t.v::numeric",
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_type_pair_either_arrives_equal_or_is_refused_naming_the_value() {
    let my = MyDb::create("pairs").await;
    let pg = PgDb::create("pairs").await;
    let vars = [("MYSQL_URL", my.url.as_str()), ("PG_URL", pg.url.as_str())];
    let (mut loaded, mut refused) = (Vec::new(), Vec::new());
    let mut n = 0;
    for f in FAMILIES {
        for target in f.targets {
            n += 1;
            let t = format!("t{n}");
            my.exec(&format!("CREATE TABLE {t} (id int PRIMARY KEY, v {} NULL)", f.my)).await;
            let values: Vec<String> = f.values.iter().enumerate().map(|(i, v)| format!("({i}, '{v}')")).collect();
            my.exec(&format!("INSERT INTO {t} VALUES {}, ({}, NULL)", values.join(", "), f.values.len())).await;
            pg.client.batch_execute(&format!("CREATE TABLE {t} (id int PRIMARY KEY, v {target})")).await.unwrap();
            let text = pg_pipeline("", "")
                .replace("url = \"${MYSQL_URL}\"", &format!("url = \"${{MYSQL_URL}}\"\ntables = [\"{t}\"]"));
            let p = pipeline(&text, &vars);
            let label = format!("{} → {target}", f.my);
            match converge::run::run(&p, &Default::default()).await {
                Ok(_) => {
                    let v = converge::verify::verify(&p, converge::verify::Depth::Full).await.unwrap();
                    assert!(v.passed(), "{label}: loaded, but verify differs:\n{}", v.text());
                    // The source's own text, parsed by PostgreSQL, against what was stored.
                    let mut conn = my.conn().await;
                    use mysql_async::prelude::Queryable;
                    let read = if f.my == "float" { "CAST(CAST(v AS DOUBLE) AS CHAR)" } else { "CAST(v AS CHAR)" };
                    let rows: Vec<(i32, Option<String>)> =
                        conn.query(format!("SELECT id, {read} FROM {t} ORDER BY id")).await.unwrap();
                    let ids: Vec<i32> = rows.iter().map(|r| r.0).collect();
                    let src: Vec<Option<String>> = rows.into_iter().map(|r| r.1).collect();
                    let sql = format!(
                        "SELECT count(*) FROM unnest($1::int[], $2::text[]) AS s(id, src) FULL JOIN {t} t USING (id) \
                         WHERE s.id IS NULL OR t.id IS NULL OR NOT ({})",
                        same_value(f.my, target)
                    );
                    let differ: i64 = pg
                        .client
                        .query_one(&sql, &[&ids, &src])
                        .await
                        .unwrap_or_else(|e| panic!("{label}: {e}"))
                        .get(0);
                    assert_eq!(differ, 0, "{label}: the run succeeded but {differ} values changed");
                    loaded.push(label);
                }
                Err(e) => {
                    let e = e.to_string();
                    assert!(
                        e.contains(&format!("table `{t}`")) && e.contains("column `v`") && e.contains("value "),
                        "{label}: refused without naming the value: {e}"
                    );
                    let count = pg_rows(&pg, &format!("SELECT count(*) FROM {t}")).await;
                    assert_eq!(count[0][0].as_deref(), Some("0"), "{label}: refused, but rows stayed");
                    refused.push(label);
                }
            }
        }
    }
    // Both outcomes occur: the matrix holds casts that keep every value and casts that cannot.
    assert!(loaded.len() >= 20 && refused.len() >= 15, "loaded: {loaded:#?}\nrefused: {refused:#?}");
    for must in [
        "decimal(12,4) → numeric(8,2)",
        "datetime(6) → timestamp(0)",
        "time(6) → interval second(0)",
        "varchar(10) → char(4)",
        "bigint → integer",
        "int → real",
    ] {
        assert!(refused.iter().any(|r| r == must), "{must} must be refused: {refused:#?}");
    }
    for must in [
        "decimal(12,4) → numeric(16,6)",
        "bigint unsigned → numeric(20,0)",
        "time(6) → interval",
        "char(4) → varchar(4)",
        "timestamp(6) → timestamptz",
    ] {
        assert!(loaded.iter().any(|r| r == must), "{must} must load: {loaded:#?}");
    }
    pg.drop_db().await;
    my.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_manifest_keeps_enum_labels_as_the_source_spells_them() {
    let my = MyDb::create("labels").await;
    my.exec("CREATE TABLE m (id int PRIMARY KEY, mood ENUM('Good','Meh','it''s OK') NULL);\nINSERT INTO m VALUES (1, 'Meh')").await;
    let dir = TempDir::new("labels");
    let text = format!(
        "name = \"labels\"\n[source]\nkind = \"mysql\"\nurl = \"{}\"\n[[sink]]\nkind = \"csv\"\ndir = \"{}\"\n",
        my.url,
        dir.path().display()
    );
    let report = converge::run::run(&pipeline(&text, &[]), &Default::default()).await.unwrap_or_else(|e| panic!("{e}"));
    let manifest = converge::manifest::Manifest::read(&report.exports[0]).unwrap();
    let col = manifest.tables[0].columns.iter().find(|c| c.name == "mood").unwrap();
    assert_eq!(col.mysql_type, "enum('Good','Meh','it''s OK')");
    assert!(std::fs::read_to_string(report.exports[0].join("m.csv")).unwrap().contains("Meh"));
    my.drop_db().await;
}
