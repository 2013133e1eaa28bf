//! The follower tests' shared world: a MariaDB of the test's own with its binary log on,
//! an application schema over every type family, a pipeline that copies and follows it,
//! and a deterministic workload of concurrent transactions.

use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use mysql_async::prelude::*;

use super::own_mariadb::OwnMariaDb;
use super::*;

pub const SCHEMA: &str = "CREATE DATABASE app;
CREATE TABLE app.users (id bigint unsigned AUTO_INCREMENT PRIMARY KEY, email varchar(100) NOT NULL UNIQUE,
  name varchar(50) CHARACTER SET latin1, created timestamp(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  updated timestamp(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
  balance decimal(12,2), flags set('a','b','c'), kind enum('x','y','z'), data json, uid char(36),
  bin binary(16), note text);
CREATE TABLE app.orders (id int PRIMARY KEY, user_id bigint unsigned NOT NULL, amount double, y year,
  d date, t time(6), dt datetime(6), big bigint unsigned, payload mediumblob,
  FOREIGN KEY (user_id) REFERENCES app.users (id));
CREATE TABLE app.`query-result-cache` (k varchar(64) PRIMARY KEY, v text)";

/// A source, a target and a pipeline that copies with `create = "missing"` and follows.
pub struct Setup {
    pub my: OwnMariaDb,
    pub pg: PgDb,
    pub dir: TempDir,
    pub file: PathBuf,
}

impl Setup {
    pub async fn new(name: &str) -> Setup {
        Setup::with(name, "").await
    }

    /// With more keys in `[follow]`.
    pub async fn with(name: &str, follow: &str) -> Setup {
        let my = OwnMariaDb::with_binlog(&[]).await;
        my.exec(SCHEMA).await;
        let pg = PgDb::create(name).await;
        let dir = TempDir::new(name);
        let file = dir.path().join("p.toml");
        let text = format!(
            "name = \"{name}\"\n[source]\nkind = \"mysql\"\nurl = \"${{MYSQL_URL}}\"\n[follow]\n{follow}\n\
             [[sink]]\nkind = \"postgres\"\nurl = \"${{PG_URL}}\"\ncreate = \"missing\"\n"
        );
        std::fs::write(&file, text).unwrap();
        Setup { my, pg, dir, file }
    }

    /// A source seeded with `users` users and their orders, copied by `converge run`.
    pub async fn copied(name: &str, users: u32) -> Setup {
        let s = Setup::new(name).await;
        seed(&s.my, users).await;
        let run = s.converge(&["run"]).await;
        assert!(run.status.success(), "the copy: {}", said(&run));
        s
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_converge"));
        c.args(args)
            .arg(&self.file)
            .env("MYSQL_URL", self.my.url("app"))
            .env("PG_URL", &self.pg.url)
            .env("CONVERGE_RUN_LOG", self.dir.path().join("runs.jsonl"))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        c
    }

    pub async fn converge(&self, args: &[&str]) -> Output {
        let mut c = self.command(args);
        tokio::task::spawn_blocking(move || c.output().unwrap()).await.unwrap()
    }

    pub fn spawn(&self, args: &[&str]) -> Child {
        self.command(args).spawn().unwrap()
    }

    pub async fn applied(&self) -> i64 {
        let q = "SELECT COALESCE(max(changes_applied), 0)::bigint FROM converge.follow_state";
        match self.pg.client.query_one(q, &[]).await {
            Ok(r) => r.get(0),
            Err(_) => 0,
        }
    }
}

pub fn said(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

pub async fn wait(child: Child) -> Output {
    tokio::task::spawn_blocking(move || child.wait_with_output()).await.unwrap().unwrap()
}

/// A deterministic stream of numbers (no two test runs differ).
pub struct Lcg(pub u64);

impl Lcg {
    pub fn next(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

/// Row changes the workload made (each row inserted, updated or deleted counts once; a
/// key change counts once).
#[derive(Default)]
pub struct Made {
    pub changes: AtomicU64,
}

/// One source transaction of 1–5 statements: inserts, updates (key changes included) and
/// deletes over every type family.
pub async fn one_transaction(c: &mut mysql_async::Conn, r: &mut Lcg, next_order: &mut i64, made: &Made) {
    let mut tx = c.start_transaction(Default::default()).await.unwrap();
    let mut n = 0u64;
    for _ in 0..=r.next(5) {
        let k = r.next(10);
        let sql = match k {
            0..=2 => {
                let user = format!(
                    "INSERT INTO app.users (email, name, balance, flags, kind, data, uid, bin, note) VALUES \
                     (CONCAT('u', UUID_SHORT(), '@x'), 'Ren\u{e9}e {k}', {}.{:02}, 'a,c', 'y', '{{\"n\": {}}}', \
                     UPPER(UUID()), UNHEX('00112233445566778899AABBCCDDEE00'), 'line\\nnext\\ttab')",
                    r.next(100000),
                    r.next(100),
                    r.next(1000)
                );
                tx.query_drop(user).await.unwrap();
                *next_order += 1;
                format!(
                    "INSERT INTO app.orders VALUES ({}, LAST_INSERT_ID(), {}.5, 2024, '2024-02-29', '-12:30:00.5', \
                     '2024-03-31 02:30:00.123456', 18446744073709551615, REPEAT('z', {}))",
                    *next_order,
                    r.next(1000),
                    r.next(5000)
                )
            }
            3..=4 => format!("UPDATE app.orders SET amount = amount + 1, dt = NOW(6) WHERE id = {}", 1 + r.next(*next_order as u64)),
            5..=6 => format!(
                "UPDATE app.users SET balance = balance - 1, flags = 'b', data = '{{\"n\": 1, \"m\": [1, 2]}}' WHERE id = {}",
                1 + r.next(*next_order as u64)
            ),
            7 => format!("UPDATE app.orders SET id = id + 10000000 WHERE id = {} AND id < 10000000", 1 + r.next(*next_order as u64)),
            8 => format!("REPLACE INTO app.`query-result-cache` VALUES ('k{}', 'v{}')", r.next(50), r.next(1000)),
            _ => format!("DELETE FROM app.orders WHERE id = {}", 1 + r.next(*next_order as u64)),
        };
        let done = tx.exec_iter(sql.as_str(), ()).await.unwrap();
        // Every statement names one row: one change when it changed it.
        n += done.affected_rows().min(1);
        drop(done);
        if k <= 2 {
            n += 1;
        }
    }
    tx.commit().await.unwrap();
    made.changes.fetch_add(n, Ordering::SeqCst);
}

/// Writes until `stop`; returns the number of transactions.
pub async fn workload(url: String, seed: u64, first_order: i64, stop: Arc<AtomicBool>, made: Arc<Made>) -> u64 {
    let mut c = mysql_async::Conn::from_url(url).await.unwrap();
    let (mut r, mut next_order, mut txs) = (Lcg(seed), first_order, 0u64);
    while !stop.load(Ordering::SeqCst) {
        one_transaction(&mut c, &mut r, &mut next_order, &made).await;
        txs += 1;
    }
    txs
}

pub async fn seed(my: &OwnMariaDb, users: u32) {
    let mut c = my.conn().await;
    for i in 1..=users {
        c.query_drop(format!(
            "INSERT INTO app.users (id, email, name, balance, data, uid) VALUES ({i}, 'seed{i}@x', 'S\u{e9}{i}', {i}.25, '{{\"s\": {i}}}', UPPER(UUID()))"
        ))
        .await
        .unwrap();
        c.query_drop(format!(
            "INSERT INTO app.orders (id, user_id, amount, y, d, t, dt, big, payload) VALUES ({i}, {i}, {i}.5, 1999, '2000-01-01', '838:59:59', '2000-01-01 00:00:00.000001', {i}, 'p')"
        ))
        .await
        .unwrap();
    }
}

pub fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill").arg(format!("-{sig}")).arg(child.id().to_string()).status().unwrap();
    assert!(ok.success());
}

pub async fn verify_passes(s: &Setup) {
    let v = s.converge(&["verify"]).await;
    assert!(v.status.success(), "verify after catch-up: {}", said(&v));
}
