//! `converge repair` against the local servers: a copied database is tampered with in
//! the target (a changed cell, a deleted row, an added row — in a table with an integer
//! key and in one whose key is a varchar holding a quote and a `binary(16)` UUID), and
//! the source moves on (a new row); `verify --json` names every such key; `repair` from
//! that report re-reads those rows, replaces them by key in one transaction and verify
//! passes again. A key whose source row is gone by the time of the repair is deleted from
//! the target. A report whose list was cut is refused unless `--partial`. A repair whose
//! re-check still differs (a target trigger enabled ALWAYS rewrites the rows) rolls back
//! and changes nothing.

mod common;

use std::process::Output;

use common::*;
use converge::verify::digest::RowDiff;
use converge::verify::{verify, Depth};

const MY_SCHEMA: &str = "CREATE TABLE account (id int AUTO_INCREMENT PRIMARY KEY, name varchar(50) NOT NULL, \
 balance decimal(10,2) NOT NULL, seen datetime(6) NULL, data json NULL);\n\
CREATE TABLE tag (k varchar(40) NOT NULL, u binary(16) NOT NULL, v text NULL, PRIMARY KEY (k, u))";

const MY_DATA: &str = "INSERT INTO account (name, balance, seen, data) VALUES \
 ('name-1', 10.50, '2024-01-15 10:30:00.123456', '{\"b\": 1, \"a\": [true]}'), ('name-2', 20, NULL, NULL), \
 ('name-3', -3.25, '1999-12-31 23:59:59', '[]'), ('name-4', 0, NULL, '{}'), ('name-5', 5, NULL, NULL);\n\
INSERT INTO tag VALUES ('it''s', X'0A1B2C3D4E5F4A6B8C7D9E0F1A2B3C4D', 'quoted'), \
 ('plain', X'1A1B2C3D4E5F4A6B8C7D9E0F1A2B3C4D', NULL), ('it''s', X'2A1B2C3D4E5F4A6B8C7D9E0F1A2B3C4D', 'second')";

/// The `binary(16)` keys' canonical values (verify's: lower-case hex).
const U1: &str = "0a1b2c3d4e5f4a6b8c7d9e0f1a2b3c4d";
const U2: &str = "1a1b2c3d4e5f4a6b8c7d9e0f1a2b3c4d";
const U9: &str = "9a1b2c3d4e5f4a6b8c7d9e0f1a2b3c4d";

/// The target's faults: one changed cell, one deleted row, one added row in each table.
const TAMPER: &str = "UPDATE account SET name = 'tampered' WHERE id = 2;\n\
DELETE FROM account WHERE id = 3;\n\
INSERT INTO account (id, name, balance) VALUES (99, 'extra', 0);\n\
UPDATE tag SET v = 'changed' WHERE k = 'it''s' AND u = '0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d';\n\
DELETE FROM tag WHERE k = 'plain';\n\
INSERT INTO tag VALUES ('new''one', '9a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d', 'extra')";

const PIPELINE: &str = "name = \"repair\"\n[source]\nkind = \"mysql\"\nurl = \"${MYSQL_URL}\"\n\
[[sink]]\nkind = \"postgres\"\nurl = \"${PG_URL}\"\ncreate = \"missing\"\n";

/// A copied database, its pipeline (as a value and as a file) and a directory for reports.
struct Copied {
    my: MyDb,
    pg: PgDb,
    p: converge::Pipeline,
    dir: TempDir,
}

impl Copied {
    async fn new(prefix: &str) -> Copied {
        let my = MyDb::create(prefix).await;
        my.exec(MY_SCHEMA).await;
        my.exec(MY_DATA).await;
        let pg = PgDb::create(prefix).await;
        let p = pipeline(PIPELINE, &[("MYSQL_URL", &my.url), ("PG_URL", &pg.url)]);
        converge::run::run(&p, &Default::default()).await.unwrap_or_else(|e| panic!("{e}"));
        let dir = TempDir::new(prefix);
        std::fs::write(dir.path().join("p.toml"), PIPELINE).unwrap();
        let r = verify(&p, Depth::Full).await.unwrap();
        assert!(r.passed(), "the copy does not verify:\n{}", r.text());
        Copied { my, pg, p, dir }
    }

    /// `converge ARGS p.toml …` with the test's servers and run log.
    async fn converge(&self, args: &[&str]) -> Output {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_converge"));
        c.arg(args[0])
            .arg(self.dir.path().join("p.toml"))
            .args(&args[1..])
            .env("MYSQL_URL", &self.my.url)
            .env("PG_URL", &self.pg.url)
            .env("CONVERGE_RUN_LOG", self.dir.path().join("runs.jsonl"));
        tokio::task::spawn_blocking(move || c.output().unwrap()).await.unwrap()
    }

    /// Verifies in full and writes the JSON report; the report.
    async fn report(&self, name: &str) -> (converge::verify::report::Report, std::path::PathBuf) {
        let r = verify(&self.p, Depth::Full).await.unwrap();
        let path = self.dir.path().join(name);
        std::fs::write(&path, r.json()).unwrap();
        (r, path)
    }
}

fn diffs<'a>(r: &'a converge::verify::report::Report, table: &str) -> &'a [RowDiff] {
    &r.tables.iter().find(|(t, _)| t == table).expect("table compared").1.diffs
}

fn keys(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_verified_difference_is_repaired_and_verify_passes_again() {
    let c = Copied::new("repair").await;
    c.pg.client.batch_execute(TAMPER).await.unwrap();
    // The source moves on after the copy: a row the target lacks, past its sequence.
    c.my.exec("INSERT INTO account (name, balance) VALUES ('name-6', 6)").await;

    let out = c.converge(&["verify", "--json"]).await;
    assert!(!out.status.success(), "verify passed after tampering");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("verify --json prints JSON");
    let path = c.dir.path().join("verify.json");
    std::fs::write(&path, &out.stdout).unwrap();
    let named = converge::repair::keys_from_report(&String::from_utf8(out.stdout.clone()).unwrap()).unwrap();
    assert_eq!(named["account"], vec![keys(&["2"]), keys(&["3"]), keys(&["6"]), keys(&["99"])], "{report}");
    assert_eq!(named["tag"].len(), 3, "{report}");
    for k in [keys(&["it's", U1]), keys(&["plain", U2]), keys(&["new'one", U9])] {
        assert!(named["tag"].contains(&k), "{k:?} not named: {report}");
    }

    let out = c.converge(&["repair", "--from", path.to_str().unwrap(), "--json"]).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "repair failed: {stderr}");
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).expect("repair --json prints JSON");
    assert_eq!(r["committed"], true, "{r}");
    let table = |name: &str| r["tables"].as_array().unwrap().iter().find(|t| t["table"] == name).unwrap().clone();
    let (account, tag) = (table("account"), table("tag"));
    // account: 2 changed, 3 missing, 6 new in the source, 99 extra in the target.
    assert_eq!([&account["keys"], &account["read"], &account["deleted"], &account["inserted"]], [4, 3, 2, 3], "{r}");
    assert_eq!(account["sequencesMoved"], 1, "{r}");
    assert_eq!(account["recheck"]["equal"], true, "{r}");
    assert_eq!([&tag["keys"], &tag["read"], &tag["deleted"], &tag["inserted"]], [3, 2, 2, 2], "{r}");
    assert!(r["policy"].as_str().unwrap().contains("session_replication_role = replica"), "{r}");
    let log = std::fs::read_to_string(c.dir.path().join("runs.jsonl")).unwrap();
    assert!(log.lines().any(|l| l.contains("repair `repair`") && l.contains("committed")), "{log}");

    let again = verify(&c.p, Depth::Full).await.unwrap();
    assert!(again.passed(), "verify fails after the repair:\n{}", again.text());
    let rows = pg_rows(&c.pg, "SELECT id, name FROM account ORDER BY id").await;
    assert_eq!(rows.len(), 6);
    assert_eq!(rows[5], vec![Some("6".into()), Some("name-6".into())]);
    // The sequence hands out the next id, not one the source already gave.
    let next = pg_rows(&c.pg, "INSERT INTO account (name, balance) VALUES ('pg', 0) RETURNING id").await;
    assert_eq!(next[0][0].as_deref(), Some("7"));
    c.my.drop_db().await;
    c.pg.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_whose_source_row_is_gone_is_deleted_from_the_target() {
    let c = Copied::new("repairgone").await;
    c.pg.client.batch_execute("UPDATE account SET name = 'tampered' WHERE id = 4").await.unwrap();
    let (r, path) = c.report("verify.json").await;
    assert_eq!(
        diffs(&r, "account"),
        &[RowDiff::Changed { key: "id='4'".into(), values: keys(&["4"]), columns: vec!["name".into()] }]
    );
    // Between the verify and the repair, the source deletes the row.
    c.my.exec("DELETE FROM account WHERE id = 4").await;

    // A report whose list was cut is refused without --partial, naming the table, and
    // nothing is written; with --partial the named rows are repaired and the table listed.
    let mut cut: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    for t in cut["tables"].as_array_mut().unwrap() {
        t["truncated"] = serde_json::Value::Bool(t["table"] == "account");
    }
    let cut_path = c.dir.path().join("cut.json");
    std::fs::write(&cut_path, cut.to_string()).unwrap();
    let e = converge::repair::repair(&c.p, &cut_path, false).await.expect_err("a cut report").to_string();
    assert!(e.contains("`account`: more rows differ than the report lists") && e.contains("--partial"), "{e}");
    assert_eq!(pg_rows(&c.pg, "SELECT name FROM account WHERE id = 4").await, vec![vec![Some("tampered".into())]]);
    let partial = converge::repair::repair(&c.p, &cut_path, true).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(partial.incomplete.len(), 1, "{}", partial.text());
    assert!(partial.text().contains("NOT REPAIRED IN FULL `account`"), "{}", partial.text());
    c.pg.client.batch_execute("INSERT INTO account (id, name, balance) VALUES (4, 'tampered', 0)").await.unwrap();

    let done = converge::repair::repair(&c.p, &path, false).await.unwrap_or_else(|e| panic!("{e}"));
    println!("{}", done.text());
    let t = &done.tables[0];
    assert_eq!((t.table.as_str(), t.keys, t.read, t.deleted, t.inserted), ("account", 1, 0, 1, 0), "{}", done.text());
    assert!(t.recheck.equal && t.recheck.source_rows == 0 && t.recheck.target_rows == 0, "{:?}", t.recheck);
    assert!(pg_rows(&c.pg, "SELECT 1 FROM account WHERE id = 4").await.is_empty());
    let again = verify(&c.p, Depth::Full).await.unwrap();
    assert!(again.passed(), "{}", again.text());
    c.my.drop_db().await;
    c.pg.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repair_that_does_not_make_the_keys_equal_rolls_back() {
    let c = Copied::new("repairback").await;
    c.pg.client.batch_execute(TAMPER).await.unwrap();
    // A trigger that fires even under session_replication_role = replica rewrites what
    // the repair inserts into account: its re-check cannot pass.
    c.pg.client
        .batch_execute(
            "CREATE FUNCTION shout() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.name := upper(NEW.name); RETURN NEW; END $$;\n\
             CREATE TRIGGER shout BEFORE INSERT ON account FOR EACH ROW EXECUTE FUNCTION shout();\n\
             ALTER TABLE account ENABLE ALWAYS TRIGGER shout",
        )
        .await
        .unwrap();
    let before = (
        pg_rows(&c.pg, "SELECT * FROM account ORDER BY id").await,
        pg_rows(&c.pg, "SELECT * FROM tag ORDER BY k, u").await,
    );
    let (_, path) = c.report("verify.json").await;

    let e = converge::repair::repair(&c.p, &path, false).await.expect_err("the re-check differs").to_string();
    println!("{e}");
    assert!(e.contains("rolled back") && e.contains("`account` id='2': differs in name"), "{e}");
    assert!(e.contains("`account` id='3': differs in name"), "{e}");
    // Nothing changed, in either table: one transaction.
    let after = (
        pg_rows(&c.pg, "SELECT * FROM account ORDER BY id").await,
        pg_rows(&c.pg, "SELECT * FROM tag ORDER BY k, u").await,
    );
    assert_eq!(before, after);
    c.my.drop_db().await;
    c.pg.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_compare_again_on_both_sides() {
    let c = Copied::new("repairkeys").await;
    c.pg.client.batch_execute(TAMPER).await.unwrap();
    let (opened, _) = converge::pipeline::source::open(&c.p).await.unwrap();
    let src = opened.live().unwrap();
    let mut asked = converge::verify::keyed::Keys::new();
    asked.insert("account".into(), vec![keys(&["1"]), keys(&["2"]), keys(&["3"]), keys(&["99"]), keys(&["2"])]);
    asked.insert("tag".into(), vec![keys(&["it's", U1]), keys(&["it's", U2])]);
    let r = converge::verify::keyed::compare_keys(&c.p, &src, &c.pg.client, "public", &asked).await.unwrap();
    opened.close().await;
    let (account, tag) = (&r[0].1, &r[1].1);
    assert_eq!((account.compared, account.source_rows, account.target_rows), (4, 3, 3), "{account:?}");
    assert_eq!(account.diffs.len(), 3, "{account:?}");
    assert!(!account.equal);
    assert_eq!(
        tag.diffs,
        vec![RowDiff::Changed {
            key: format!("k='it's', u='{U1}'"),
            values: keys(&["it's", U1]),
            columns: vec!["v".into()]
        }]
    );
    assert_eq!((tag.compared, tag.source_rows, tag.target_rows), (2, 1, 1), "{tag:?}");
    c.my.drop_db().await;
    c.pg.drop_db().await;
}
