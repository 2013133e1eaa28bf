//! CHECK constraints and expression defaults under `create = "missing"`: a CHECK is
//! re-created only where PostgreSQL passes and refuses the rows MariaDB does (probe rows
//! written to both servers after the load, each server's verdict compared), a default
//! only where a row written later gets MariaDB's value; otherwise each is left out with
//! a note in `schema`, `plan` and the run naming table, constraint or column, MySQL's
//! expression and why.

mod common;

use common::*;
use mysql_async::prelude::*;

/// Each CHECK on a table of its own (`t_<name>`), and whether PostgreSQL can re-create it.
const CHECKS: &[(&str, &str, bool)] = &[
    // Under a _ci (and PAD SPACE) collation MySQL ignores case and trailing spaces.
    ("ci_ne", "s <> 'abc'", false),
    ("ci_in", "s IN ('a', 'b')", false),
    ("ci_like", "s LIKE 'a%'", false),
    ("ci_gt", "s > 'b'", false),
    ("ci_empty", "s <> ''", false),
    // utf8mb4_nopad_bin: code point order, every byte counts — PostgreSQL's "C".
    ("bin_ne", "sb <> 'abc'", true),
    ("bin_gt", "sb > 'b'", true),
    ("bin_like", "sb LIKE 'a%'", true),
    ("bin_len", "char_length(sb) <= 2", true),
    // utf8mb4_bin is PAD SPACE: equality without trailing spaces, but no order.
    ("pad_in", "p IN ('a', 'b')", true),
    ("pad_gt", "p > 'b'", false),
    // MySQL reads a char(n) without its trailing spaces.
    ("char_like", "ch LIKE '%a'", true),
    // Integer arithmetic: MySQL computes in BIGINT, PostgreSQL's int would overflow.
    ("mul", "a * c < 100", true),
    ("sum", "a + c > 0", true),
    ("nulls", "ifnull(a, 0) >= 0 AND (c IS NULL OR c <> 0)", true),
    // A number as a condition: MySQL passes any non-zero one.
    ("bare", "a", false),
    ("halved", "a / 2 < 10", false),
    // Dates compare alike with dates; MySQL converts a string literal its own way.
    ("date_order", "d1 <= d2", true),
    ("date_literal", "d1 > '2020-01-01'", false),
];

/// Probe rows ((s, sb, p, ch, a, c), (d1, d2)) written to every table after the load.
type Text = Option<&'static str>;
type Probe = ((Text, Text, Text, Text, Option<i32>, Option<i32>), (Text, Text));
const PROBES: &[Probe] = &[
    ((Some("abc"), Some("abc"), Some("abc"), Some("abc"), Some(1), Some(1)), (Some("2020-01-01"), Some("2020-01-02"))),
    (
        (Some("ABC"), Some("ABC"), Some("ABC"), Some("ABC"), Some(-2147483647), Some(2147483647)),
        (Some("2020-01-02"), Some("2020-01-01")),
    ),
    ((Some("abc "), Some("abc "), Some("abc "), Some("a "), Some(2147483647), Some(1)), (None, Some("2020-01-01"))),
    ((Some("a"), Some("a"), Some("a"), Some("a"), Some(0), Some(0)), (Some("2020-01-01"), Some("2020-01-01"))),
    ((Some("A"), Some("A"), Some("A "), Some("b"), Some(5), Some(30)), (Some("2019-12-31"), Some("2020-01-01"))),
    ((Some(" "), Some(""), Some(" "), Some(""), Some(-1), None), (Some("2021-01-01"), None)),
    ((Some("b"), Some("b"), Some("b  "), Some("é"), None, Some(5)), (Some("2020-01-03"), Some("2020-01-02"))),
    ((Some("ba"), Some("ba"), Some("a\t"), Some("ba"), Some(10), Some(10)), (None, None)),
    ((Some("c"), Some("c"), Some("c"), Some("zz"), Some(200), Some(-1)), (None, None)),
    ((Some("é"), Some("é"), Some("é"), Some("c "), Some(2147483647), Some(2147483647)), (None, None)),
    ((Some("B"), Some("B"), Some("B"), Some("B"), Some(-5), Some(-5)), (None, None)),
    ((Some("Ab"), Some("ab"), Some("b"), Some("ab "), Some(3), Some(-3)), (None, None)),
    ((None, None, None, None, None, None), (None, None)),
];

fn schema_sql() -> String {
    CHECKS
        .iter()
        .map(|(name, clause, _)| {
            format!(
                "CREATE TABLE t_{name} (id int NOT NULL PRIMARY KEY, s varchar(10) COLLATE utf8mb4_general_ci, \
                 sb varchar(10) COLLATE utf8mb4_nopad_bin, p varchar(10) COLLATE utf8mb4_bin, \
                 ch char(5) COLLATE utf8mb4_nopad_bin, a int, c int, d1 date, d2 date, CONSTRAINT {name} CHECK ({clause}));\n\
                 INSERT INTO t_{name} (id) VALUES (0);\n"
            )
        })
        .collect()
}

/// MariaDB's verdict on each probe row in `table`: accepted, or refused by a CHECK.
async fn mariadb_verdicts(my: &MyDb, table: &str) -> Vec<bool> {
    let mut conn = my.conn().await;
    let sql = format!("INSERT INTO `{table}` (id, s, sb, p, ch, a, c, d1, d2) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)");
    let mut out = Vec::new();
    for (i, ((s, sb, p, ch, a, c), (d1, d2))) in PROBES.iter().enumerate() {
        let id = i as i32 + 1;
        match conn.exec_drop(&sql, (id, s, sb, p, ch, a, c, d1, d2)).await {
            Ok(()) => out.push(true),
            // 4025: CONSTRAINT_FAILED.
            Err(mysql_async::Error::Server(e)) if e.code == 4025 => out.push(false),
            Err(e) => panic!("{table} probe {id}: {e}"),
        }
    }
    out
}

/// PostgreSQL's verdict on each probe row in `table`.
async fn postgres_verdicts(pg: &PgDb, table: &str) -> Vec<bool> {
    use tokio_postgres::error::SqlState;
    let sql = format!(
        "INSERT INTO \"{table}\" (id, s, sb, p, ch, a, c, d1, d2) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8::text::date, $9::text::date)"
    );
    let mut out = Vec::new();
    for (i, ((s, sb, p, ch, a, c), (d1, d2))) in PROBES.iter().enumerate() {
        let id = i as i32 + 1;
        match pg.client.execute(&sql, &[&id, s, sb, p, ch, a, c, d1, d2]).await {
            Ok(_) => out.push(true),
            Err(e) if e.code() == Some(&SqlState::CHECK_VIOLATION) => out.push(false),
            // An integer overflow inside the condition refuses the row too.
            Err(e) if e.code() == Some(&SqlState::NUMERIC_VALUE_OUT_OF_RANGE) => out.push(false),
            Err(e) => panic!("{table} probe {id}: {e}"),
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checks_pass_and_refuse_the_rows_mariadb_does_or_are_left_out_with_a_note() {
    let my = MyDb::create("checks").await;
    my.exec(&schema_sql()).await;
    let pg = PgDb::create("checks").await;
    let text = "name = \"checks\"\n[source]\nkind = \"mysql\"\nurl = \"${MYSQL_URL}\"\n\
                [[sink]]\nkind = \"postgres\"\nurl = \"${PG_URL}\"\ncreate = \"missing\"\n";
    let p = pipeline(text, &[("MYSQL_URL", &my.url), ("PG_URL", &pg.url)]);

    let schema = converge::ddl::schema(&p, false).await.unwrap();
    let (opened, plan, _) = converge::run::plan(&p).await.unwrap();
    opened.close().await;
    let report = converge::run::run(&p, &Default::default()).await.unwrap_or_else(|e| panic!("{e}"));

    let created = pg_rows(
        &pg,
        "SELECT conrelid::regclass::text FROM pg_constraint WHERE contype = 'c' AND connamespace = 'public'::regnamespace",
    )
    .await;
    // Every re-created CHECK passes and refuses what MariaDB does; the others are noted.
    let mut problems = Vec::new();
    for (name, clause, recreated) in CHECKS {
        let table = format!("t_{name}");
        let is_created = created.iter().any(|r| r[0].as_deref() == Some(table.as_str()));
        if is_created != *recreated {
            problems.push(format!("{name} ({clause}): created in PostgreSQL {is_created}, expected {recreated}"));
        }
        if is_created {
            let mine = mariadb_verdicts(&my, &table).await;
            let theirs = postgres_verdicts(&pg, &table).await;
            if mine != theirs {
                problems.push(format!("{name} ({clause}): MariaDB passes {mine:?}, PostgreSQL {theirs:?}"));
            }
            // The probes test something: each CHECK refuses some row and passes another.
            if !(mine.contains(&true) && mine.contains(&false)) {
                problems.push(format!("{name} ({clause}): the probes do not test it: {mine:?}"));
            }
        } else {
            let head = format!("check `{name}` of `{table}` is not created: CHECK (");
            for (what, notes) in [("schema", &schema.ddl.notes), ("plan", &plan.notes), ("run", &report.not_carried)] {
                if !notes.iter().any(|n| n.contains(&head)) {
                    problems.push(format!("{what} notes nothing of {name}"));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
    pg.drop_db().await;
    my.drop_db().await;
}

/// Expression defaults: (column, MySQL type and default, carried).
const DEFAULTS: &[(&str, &str, bool)] = &[
    // MySQL computes integer arithmetic in BIGINT; PostgreSQL's int would overflow.
    ("big", "bigint DEFAULT (2147483647 + 1)", true),
    ("joined", "varchar(10) DEFAULT (concat('a', 'b', 7))", true),
    ("mixed", "int DEFAULT (-(3 MOD 2) + 10)", true),
    // Literals compared under the connection's collation (MySQL: 'abc' = 'ABC' is 1).
    ("same", "int DEFAULT ('abc' = 'ABC')", false),
    // MySQL's `/` is exact (0.5000), PostgreSQL's integer division is 0.
    ("half", "decimal(6,4) DEFAULT (1 / 2)", false),
    ("shout", "varchar(10) DEFAULT (upper('abc'))", false),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expression_defaults_give_mariadbs_value_or_are_left_out_with_a_note() {
    let my = MyDb::create("defaults").await;
    let columns: Vec<String> = DEFAULTS.iter().map(|(name, decl, _)| format!("{name} {decl}")).collect();
    my.exec(&format!(
        "CREATE TABLE d (id int NOT NULL PRIMARY KEY, {});\nINSERT INTO d (id) VALUES (1)",
        columns.join(", ")
    ))
    .await;
    let pg = PgDb::create("defaults").await;
    let text = "name = \"defaults\"\n[source]\nkind = \"mysql\"\nurl = \"${MYSQL_URL}\"\n\
                [[sink]]\nkind = \"postgres\"\nurl = \"${PG_URL}\"\ncreate = \"missing\"\n";
    let p = pipeline(text, &[("MYSQL_URL", &my.url), ("PG_URL", &pg.url)]);
    let schema = converge::ddl::schema(&p, false).await.unwrap();
    let (opened, plan, _) = converge::run::plan(&p).await.unwrap();
    opened.close().await;
    let report = converge::run::run(&p, &Default::default()).await.unwrap_or_else(|e| panic!("{e}"));

    // A row written after the load, each column left to its default.
    my.exec("INSERT INTO d (id) VALUES (2)").await;
    pg.client.batch_execute("INSERT INTO d (id) VALUES (2)").await.unwrap_or_else(|e| panic!("{e:?}"));
    let mut problems = Vec::new();
    for (name, decl, carried) in DEFAULTS {
        let mine = my_rows(&my, &format!("SELECT CAST(`{name}` AS CHAR) FROM d WHERE id = 2")).await;
        let theirs = pg_rows(&pg, &format!("SELECT \"{name}\"::text FROM d WHERE id = 2")).await;
        if *carried && theirs != mine {
            problems.push(format!("{name} {decl}: MariaDB {mine:?}, PostgreSQL {theirs:?}"));
        }
        if !carried {
            let head = format!("`d`.`{name}`: the MySQL default ");
            for (what, notes) in [("schema", &schema.ddl.notes), ("plan", &plan.notes), ("run", &report.not_carried)] {
                if !notes.iter().any(|n| n.contains(&head) && n.contains("is not carried")) {
                    problems.push(format!("{what} notes nothing of {name}"));
                }
            }
            if theirs != [[None]] {
                problems.push(format!("{name} {decl}: PostgreSQL has a default: {theirs:?}"));
            }
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
    pg.drop_db().await;
    my.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dump_source_re_creates_the_same_checks_as_the_live_server() {
    let my = MyDb::create("checkdump").await;
    my.exec(&schema_sql()).await;
    let tmp = TempDir::new("checkdump");
    let file = tmp.path().join("dump.sql");
    mariadb_dump(&my.name, &file, &[]);
    let pg = PgDb::create("checkdump").await;
    let live = "name = \"checks\"\n[source]\nkind = \"mysql\"\nurl = \"${MYSQL_URL}\"\n\
                [[sink]]\nkind = \"postgres\"\nurl = \"${PG_URL}\"\ncreate = \"missing\"\n";
    let live = pipeline(live, &[("MYSQL_URL", &my.url), ("PG_URL", &pg.url)]);
    let dumped = format!(
        "name = \"checks\"\n[source]\nkind = \"mysqldump\"\npath = \"{}\"\n[[sink]]\nkind = \"postgres\"\nurl = \"${{PG_URL}}\"\ncreate = \"missing\"\n",
        file.display()
    );
    let dumped = pipeline(&dumped, &[("PG_URL", &pg.url)]);
    let from_live = converge::ddl::schema(&live, false).await.unwrap();
    let from_dump = converge::ddl::schema(&dumped, false).await.unwrap();
    assert_eq!(from_dump.ddl.statements(), from_live.ddl.statements());
    assert_eq!(from_dump.ddl.notes, from_live.ddl.notes);
    pg.drop_db().await;
    my.drop_db().await;
}
