//! The bad-input catalogue: every kind of broken pipeline file, export directory and
//! source value gets an error that says what is wrong and where — and nothing is
//! written that claims to be whole.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use converge::manifest::Manifest;

fn parse_err(text: &str, env: &[(&str, &str)]) -> String {
    let env: Vec<(String, String)> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    converge::Pipeline::parse(text, Path::new("bad.toml"), move |k| {
        env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
    })
    .expect_err("the pipeline is refused")
    .to_string()
}

#[test]
fn pipeline_files() {
    // A syntax error: file, line, column.
    let e = parse_err("name = \"x\"\n[source\nkind = \"mysql\"\n", &[]);
    assert!(e.starts_with("bad.toml:2:"), "{e}");
    // An unknown key: file, line and the key.
    let e = parse_err("name = \"x\"\n[source]\nkind = \"mysql\"\nurl = \"u\"\ntabels = [\"*\"]\n", &[]);
    assert!(e.starts_with("bad.toml:5:") && e.contains("unknown field `tabels`"), "{e}");
    // A missing environment variable: named, never guessed.
    let e = parse_err(
        "name = \"x\"\n[source]\nkind = \"mysql\"\nurl = \"${MYSQL_URL}\"\n[[sink]]\nkind = \"csv\"\ndir = \"out\"\n",
        &[],
    );
    assert!(e.contains("environment variable `MYSQL_URL` is not set"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_glob_matching_nothing() {
    let root = env!("CARGO_MANIFEST_DIR");
    let text = format!(
        "name = \"x\"\n[source]\nkind = \"mysqldump\"\npath = \"{root}/fixtures/demo.sql\"\ntables = [\"user\", \"usr_*\"]\n[[sink]]\nkind = \"null\"\n"
    );
    let p = pipeline(&text, &[]);
    let e = converge::run::run(&p, &Default::default()).await.expect_err("refused").to_string();
    assert!(e.contains("source.tables: `usr_*` matches no table of the source"), "{e}");
}

/// A fresh export of the demo dump (no server needed), copied to a scratch directory.
async fn export(scratch: &TempDir) -> PathBuf {
    let root = env!("CARGO_MANIFEST_DIR");
    let text = format!(
        "name = \"bad\"\n[source]\nkind = \"mysqldump\"\npath = \"{root}/fixtures/demo.sql\"\nexclude = [\"migrations_typeorm\", \"query-result-cache\"]\n\
         [[sink]]\nkind = \"csv\"\ndir = \"{}\"\n",
        scratch.path().display()
    );
    let r = converge::run::run(&pipeline(&text, &[]), &Default::default()).await.unwrap();
    r.exports[0].clone()
}

/// Reads the export back (csv source → null sink): the error, if any.
async fn read_back(dir: &Path) -> String {
    let text =
        format!("name = \"read\"\n[source]\nkind = \"csv\"\ndir = \"{}\"\n[[sink]]\nkind = \"null\"\n", dir.display());
    match converge::run::run(&pipeline(&text, &[]), &Default::default()).await {
        Ok(_) => String::new(),
        Err(e) => e.to_string(),
    }
}

/// Rewrites one data file and, so that the deeper checks are the ones that speak, its
/// size and sha256 in the manifest.
fn rewrite(dir: &Path, file: &str, f: impl Fn(Vec<u8>) -> Vec<u8>) {
    use sha2::Digest;
    let path = dir.join(file);
    let bytes = f(std::fs::read(&path).unwrap());
    std::fs::write(&path, &bytes).unwrap();
    let mpath = dir.join("migration_manifest.json");
    let mut m: serde_json::Value = serde_json::from_slice(&std::fs::read(&mpath).unwrap()).unwrap();
    for t in m["tables"].as_array_mut().unwrap() {
        if t["file"] == file {
            t["sha256"] = serde_json::Value::String(hex::encode(sha2::Sha256::digest(&bytes)));
            t["bytes"] = serde_json::Value::from(bytes.len());
        }
    }
    std::fs::write(&mpath, serde_json::to_vec(&m).unwrap()).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_directories() {
    let scratch = TempDir::new("bad-export");
    let good = export(&scratch).await;
    assert_eq!(read_back(&good).await, "", "the untouched export reads back");
    let m = Manifest::read(&good).unwrap();
    assert!(m.tables.iter().any(|t| t.name == "user" && t.row_count == 2));

    let copy = |name: &str| {
        let d = scratch.path().join(name);
        std::fs::create_dir_all(&d).unwrap();
        for e in std::fs::read_dir(&good).unwrap() {
            let e = e.unwrap();
            std::fs::copy(e.path(), d.join(e.file_name())).unwrap();
        }
        d
    };
    type Case<'a> = (&'a str, &'a dyn Fn(&Path), &'a str);
    let cases: &[Case] = &[
        (
            "missing file",
            &|d| std::fs::remove_file(d.join("user.csv")).unwrap(),
            "user.csv: listed in the manifest but missing",
        ),
        (
            "extra file",
            &|d| std::fs::write(d.join("stray.csv"), "a\n1\n").unwrap(),
            "stray.csv: this file is not in the manifest",
        ),
        (
            "truncated file",
            &|d| {
                let p = d.join("profile.csv");
                let b = std::fs::read(&p).unwrap();
                std::fs::write(&p, &b[..b.len() - 40]).unwrap();
            },
            "profile.csv",
        ),
        (
            "changed byte",
            &|d| {
                let p = d.join("space.csv");
                let mut b = std::fs::read(&p).unwrap();
                let i = b.len() - 2;
                b[i] ^= 1;
                std::fs::write(&p, &b).unwrap();
            },
            "space.csv: sha256 is",
        ),
        (
            "wrong header",
            &|d| {
                rewrite(d, "tagset.csv", |b| {
                    let s = String::from_utf8(b).unwrap();
                    s.replacen("id,", "ident,", 1).into_bytes()
                })
            },
            "tagset.csv:1",
        ),
        (
            "invalid UTF-8",
            &|d| {
                rewrite(d, "user.csv", |mut b| {
                    let i = b.iter().rposition(|&c| c == b'\n').unwrap() - 1;
                    let j = b[..i].iter().rposition(|&c| c.is_ascii_alphabetic()).unwrap();
                    b[j] = 0xFF;
                    b
                })
            },
            "user.csv:3",
        ),
        (
            "a row with too many fields",
            &|d| {
                rewrite(d, "credential.csv", |b| {
                    let mut s = String::from_utf8(b).unwrap();
                    s.pop();
                    s.push_str(",extra\n");
                    s.into_bytes()
                })
            },
            "credential.csv:4",
        ),
        (
            "manifest not JSON",
            &|d| std::fs::write(d.join("migration_manifest.json"), "{\"migrationId\": ").unwrap(),
            "migration_manifest.json",
        ),
    ];
    for (what, damage, expected) in cases {
        let d = copy(&what.replace(' ', "-"));
        damage(&d);
        let e = read_back(&d).await;
        println!("{what}: {e}");
        assert!(e.contains(expected), "{what}: `{e}` does not say `{expected}`");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn source_values() {
    // Each bad value stops the run, naming table, row key, column and value; no manifest.
    type Case<'a> = (&'a str, &'a str, &'a str, &'a str);
    let cases: &[Case] = &[
        (
            "invalid UTF-8 in a text column",
            "CREATE TABLE t (id int PRIMARY KEY, body varchar(20) CHARACTER SET binary);\nINSERT INTO t VALUES (1, 'ok'), (2, X'66FF00')",
            // Bytes read as text (MariaDB refuses invalid UTF-8 in a utf8mb4 column itself).
            "[[column]]\ntable = \"t\"\ncolumn = \"body\"\ntype = \"text\"\n",
            "row id=2, column `body`: value",
        ),
        (
            "invalid JSON",
            "CREATE TABLE t (id int PRIMARY KEY, doc json);\nSET SESSION check_constraint_checks = 0;\nINSERT INTO t VALUES (1, '{}'), (2, '{oops')",
            "",
            "table `t`, row id='2', column `doc`: value '{oops' is not valid JSON",
        ),
        (
            "a zero date",
            "SET SESSION sql_mode = '';\nCREATE TABLE t (id int PRIMARY KEY, d date);\nINSERT INTO t VALUES (1, '2024-02-29'), (2, '0000-00-00')",
            "",
            "table `t`, row id=2, column `d`: value '0000-00-00 00:00:00.000000' is a zero date",
        ),
        (
            "a tinyint(1) holding 7",
            "CREATE TABLE t (id int PRIMARY KEY, flag tinyint(1));\nINSERT INTO t VALUES (1, 1), (2, 7)",
            "",
            "table `t`, row id='2', column `flag`: value 7 is not 0 or 1",
        ),
    ];
    for (what, sql, rules, expected) in cases {
        let my = MyDb::create("badsrc").await;
        my.exec(sql).await;
        let out = TempDir::new("badsrc");
        let p = pipeline(&export_pipeline(rules), &[("MYSQL_URL", &my.url), ("OUT", &out.path().to_string_lossy())]);
        let e = converge::run::run(&p, &Default::default()).await.expect_err(what).to_string();
        println!("{what}: {e}");
        assert!(e.contains(expected), "{what}: `{e}` does not say `{expected}`");
        assert!(
            std::fs::read_dir(out.path()).unwrap().all(|d| !d.unwrap().path().join("migration_manifest.json").exists()),
            "{what}: no manifest"
        );
        my.drop_db().await;
    }

    // A char(36) holding a non-UUID where the target is uuid: refused, target untouched.
    let my = MyDb::create("badsrc").await;
    my.exec("CREATE TABLE t (id char(36) PRIMARY KEY, v int);\nINSERT INTO t VALUES ('0a000000-0000-4000-8000-000000000001', 1), ('not-a-uuid', 2)").await;
    let pg = PgDb::create("badsrc").await;
    pg.client.batch_execute("CREATE TABLE t (id uuid PRIMARY KEY, v int)").await.unwrap();
    let text = "name = \"x\"\n[source]\nkind = \"mysql\"\nurl = \"${MYSQL_URL}\"\n[[sink]]\nkind = \"postgres\"\nurl = \"${PG_URL}\"\n";
    let p = pipeline(text, &[("MYSQL_URL", &my.url), ("PG_URL", &pg.url)]);
    let e = converge::run::run(&p, &Default::default()).await.expect_err("refused").to_string();
    assert!(e.contains("column `id`") && e.contains("not-a-uuid"), "{e}");
    let n: i64 = pg.client.query_one("SELECT count(*) FROM t", &[]).await.unwrap().get(0);
    assert_eq!(n, 0);
    pg.drop_db().await;
    my.drop_db().await;
}
