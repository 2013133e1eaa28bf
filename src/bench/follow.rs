//! `converge bench --follow`: the follower measured (docs/architecture.md, "Change
//! capture"). On a MariaDB of the benchmark's own with the binary log on, the dataset
//! is generated and copied by a `[follow]` pipeline into a fresh PostgreSQL database
//! (`create = "missing"`, target indexes kept), then: the catch-up of a backlog of
//! ≥ 1 M row changes written while no follower ran; of 100 k single-row transactions;
//! the lag of a running follower under a steady 1,000 changes/s; and the catch-up of
//! one source transaction of 1 M rows (its peak memory). `converge verify` after each.
//! `converge bench --cutover` (`follow/cutover.rs`) starts the same world afresh and
//! measures the cut-over window under steady writes.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use mysql_async::prelude::*;
use serde::Serialize;

use super::backlog::{self, Workload};
use super::measure::{self, Measured};
use super::own_server::OwnServer;
use super::BenchOptions;
use crate::error::{Error, Result};
use crate::ident;

mod cutover;
mod follower;
mod lag;
mod steady;
pub use cutover::{CutoverResult, CutoverRun, CutoverStep, Goal, VerifyRun};
pub use lag::Lag;

/// Row changes in the backlog.
pub const BACKLOG_CHANGES: u64 = 1_000_000;
/// Single-row transactions in their backlog.
pub const SINGLE_ROW_TXNS: u64 = 100_000;
/// Rows of the one large source transaction.
pub const BIG_TXN_ROWS: u64 = 1_000_000;
/// Largest source transaction of the mixes, in rows.
const MAX_TXN_ROWS: usize = 100;
/// Statements sent per round trip while writing a backlog (each its own transaction).
const BATCH_BYTES: usize = 1 << 20;

/// One catch-up: what was written while no follower ran, and the follower's drain of it.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CatchUp {
    /// What it was.
    pub name: String,
    /// Source transactions written.
    pub transactions: u64,
    /// Rows updated, inserted, deleted.
    pub updates: u64,
    pub inserts: u64,
    pub deletes: u64,
    /// Seconds the writes took.
    pub write_seconds: f64,
    /// Row changes the follower applied (its JSON `stats.changes`).
    pub changes: u64,
    /// The follower's own seconds from its first change to its last commit.
    pub busy_seconds: f64,
    /// `converge follow --until-caught-up`, the whole command.
    #[serde(flatten)]
    pub measured: Measured,
    /// `converge verify` passed after it (None: not run).
    pub verified: Option<bool>,
    /// Why verify failed (its first lines).
    pub verify_error: Option<String>,
    /// Why the follower failed (then nothing else of it is measured).
    pub error: Option<String>,
}

impl CatchUp {
    /// Changes applied per second of the whole command.
    pub fn changes_per_sec(&self) -> f64 {
        self.changes as f64 / self.measured.seconds.max(1e-9)
    }
}

/// The follow stage's results.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FollowResult {
    /// Rows in the dataset copied.
    pub rows: u64,
    /// The source server's options.
    pub server: String,
    /// `converge run` of the `[follow]` pipeline (the copy that records the position).
    pub copy: Measured,
    /// The mixed backlog, the single-row transactions, the one large transaction.
    pub backlog: CatchUp,
    pub single_row: CatchUp,
    pub big_transaction: CatchUp,
    /// A running follower under steady writes.
    pub lag: Lag,
}

impl FollowResult {
    /// (what, value, target, met) for each of the bars.
    pub fn goals(&self) -> Vec<(String, f64, String, bool)> {
        let mut out = self.bars();
        // A follower that failed measured nothing: its bar is not met.
        let failed = [
            self.backlog.error.is_some(),
            self.lag.error.is_some(),
            self.big_transaction.error.is_some(),
            [&self.backlog, &self.single_row, &self.big_transaction].iter().any(|c| c.error.is_some())
                || self.lag.error.is_some(),
        ];
        for (g, failed) in out.iter_mut().zip(failed) {
            g.3 &= !failed;
        }
        out
    }

    fn bars(&self) -> Vec<(String, f64, String, bool)> {
        let rate = self.backlog.changes_per_sec();
        let peak = [&self.backlog, &self.single_row, &self.big_transaction]
            .iter()
            .map(|c| c.measured.peak_rss_mb)
            .chain([self.lag.follower.peak_rss_mb])
            .fold(0.0, f64::max);
        vec![
            ("follow catch-up of the mixed backlog, row changes/s".into(), rate, "≥ 20000".into(), rate >= 20_000.0),
            (
                format!("follow lag under {:.0} changes/s, max seconds", self.lag.rate),
                self.lag.max_seconds,
                "< 5".into(),
                self.lag.max_seconds < 5.0,
            ),
            (
                "follow peak RSS with a 1 M-row source transaction, MB".into(),
                self.big_transaction.measured.peak_rss_mb,
                "≤ 300".into(),
                self.big_transaction.measured.peak_rss_mb <= 300.0,
            ),
            ("peak RSS of any follower, MB".into(), peak, "≤ 300".into(), peak <= 300.0),
        ]
    }
}

/// A follow stage's world: the bench's own MariaDB, the source database on it, a fresh
/// PostgreSQL database, the `[follow]` pipeline joining them, a working directory.
struct Stage<'a> {
    my_url: String,
    pg_url: String,
    pipeline: PathBuf,
    dir: PathBuf,
    o: &'a BenchOptions,
    /// The databases' name (the same on both servers).
    name: String,
    server: OwnServer,
    pg_admin: tokio_postgres::Client,
}

/// Runs the follow stage on a dataset of about `rows` rows.
pub async fn run(o: &BenchOptions, rows: u64) -> Result<FollowResult> {
    let stage = Stage::open(o, rows, "follow").await?;
    let r = stage.measure(rows).await;
    stage.close().await;
    r
}

/// Runs the cut-over stage on a dataset of about `rows` rows (`follow/cutover.rs`).
pub async fn run_cutover(o: &BenchOptions, rows: u64) -> Result<CutoverResult> {
    let stage = Stage::open(o, rows, "cutover").await?;
    let r = cutover::measure(&stage, rows).await;
    stage.close().await;
    r
}

fn write_pipeline(dir: &Path, connections: Option<usize>) -> Result<PathBuf> {
    let path = dir.join("follow.toml");
    let connections = connections.map(|n| format!("connections = {n}\n")).unwrap_or_default();
    let text = format!(
        "name = \"bench-follow\"\n[source]\nkind = \"mysql\"\nurl = \"${{BENCH_MYSQL_URL}}\"\n[follow]\n\
         [options]\n{connections}audit_columns = []\nrecount_files = false\n\
         [[sink]]\nkind = \"postgres\"\nurl = \"${{BENCH_PG_URL}}\"\ncreate = \"missing\"\n"
    );
    std::fs::write(&path, text).map_err(|e| Error::io(&path, e))?;
    Ok(path)
}

impl<'a> Stage<'a> {
    /// Starts the server, creates the target database, writes the pipeline (`kind`
    /// names the databases and the directory: `follow`, `cutover`).
    async fn open(o: &'a BenchOptions, rows: u64, kind: &str) -> Result<Stage<'a>> {
        let server = OwnServer::start(&o.work_dir).await?;
        let name = format!("cvg_{kind}_{rows}_{}", &uuid::Uuid::new_v4().simple().to_string()[..6]);
        let pg_admin = crate::pg::connect::connect(&format!("{}/postgres", o.pg_server.trim_end_matches('/'))).await?;
        pg_admin
            .batch_execute(&format!("CREATE DATABASE {}", ident::pg(&name)))
            .await
            .map_err(|e| Error::postgres("creating the follow stage's target database", &e))?;
        let dir = o.work_dir.join(format!("bench-{kind}-{rows}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        Ok(Stage {
            my_url: format!("{}/{name}", server.url()),
            pg_url: format!("{}/{name}", o.pg_server.trim_end_matches('/')),
            pipeline: write_pipeline(&dir, o.connections)?,
            dir,
            o,
            name,
            server,
            pg_admin,
        })
    }

    /// Drops the target database and the directory (unless `--keep`), stops the server.
    async fn close(self) {
        if !self.o.keep {
            let drop = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", ident::pg(&self.name));
            let _ = self.pg_admin.batch_execute(&drop).await;
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    /// The source database with the dataset of about `rows` rows, and the writer's
    /// connection to it.
    async fn source(&self, rows: u64) -> Result<mysql_async::Conn> {
        let mut conn = self.writer().await?;
        dataset_into(&mut conn, rows, self.o.seed).await?;
        Ok(conn)
    }

    /// `converge run` of the `[follow]` pipeline: the copy, which records the position.
    fn copy(&self) -> Result<Measured> {
        measure::child(self.converge(&["run", &self.path()])?, "converge run of the [follow] pipeline")
    }

    /// "own MariaDB" and its options.
    fn server(&self) -> String {
        format!("own MariaDB, {}", super::own_server::ARGS.join(" "))
    }

    async fn measure(&self, rows: u64) -> Result<FollowResult> {
        let mut conn = self.source(rows).await?;
        let copy = self.copy()?;
        let mut w = workload(&mut conn, self.o.seed).await?;
        let txns = w.plan(BACKLOG_CHANGES, MAX_TXN_ROWS);
        let backlog = self.catch_up("mixed backlog", &mut conn, &w, &txns).await?;
        let txns = w.plan(SINGLE_ROW_TXNS, 1);
        let single_row = self.catch_up("single-row transactions", &mut conn, &w, &txns).await?;
        let lag = lag::measure(self, &mut conn, &mut w).await.unwrap_or_else(|e| {
            tracing::warn!("follow, lag: {e}");
            Lag { error: Some(e.to_string()), ..Lag::default() }
        });
        let big_transaction = self.big(&mut conn).await?;
        let _ = conn.disconnect().await;
        Ok(FollowResult { rows, server: self.server(), copy, backlog, single_row, big_transaction, lag })
    }

    fn path(&self) -> String {
        self.pipeline.to_string_lossy().into_owned()
    }

    fn converge(&self, args: &[&str]) -> Result<Command> {
        super::converge(&self.my_url, &self.pg_url, args)
    }

    /// The writer's connection, into the dataset's database (created here).
    async fn writer(&self) -> Result<mysql_async::Conn> {
        let err = |e| Error::mysql("connecting to the benchmark's own MariaDB", e);
        let mut admin = mysql_async::Conn::from_url(self.server.url()).await.map_err(err)?;
        admin
            .query_drop(format!("CREATE DATABASE {} CHARACTER SET utf8mb4", ident::mysql(&self.name)))
            .await
            .map_err(|e| Error::mysql("creating the follow stage's database", e))?;
        let _ = admin.disconnect().await;
        let mut conn = mysql_async::Conn::from_url(self.my_url.as_str()).await.map_err(err)?;
        conn.query_drop("SET SESSION time_zone = '+00:00'").await.map_err(err)?;
        Ok(conn)
    }

    /// Writes `txns` while no follower runs, then drains them with
    /// `converge follow --until-caught-up`, measured; then verifies.
    async fn catch_up(
        &self,
        name: &str,
        conn: &mut mysql_async::Conn,
        w: &Workload,
        txns: &[backlog::Txn],
    ) -> Result<CatchUp> {
        let started = Instant::now();
        write_batched(conn, w, txns).await?;
        let write_seconds = started.elapsed().as_secs_f64();
        let (updates, inserts, deletes) = backlog::counts(txns);
        let mut c = self.drain(name).await?;
        (c.transactions, c.updates, c.inserts, c.deletes, c.write_seconds) =
            (txns.len() as u64, updates, inserts, deletes, write_seconds);
        Ok(c)
    }

    /// `converge follow --until-caught-up --json`, measured, then `converge verify`.
    async fn drain(&self, name: &str) -> Result<CatchUp> {
        let file = format!("follow-{}.json", name.replace(' ', "-"));
        let what = format!("converge follow --until-caught-up ({name})");
        let (measured, report) =
            self.child_json(&["--json", "follow", &self.path(), "--until-caught-up"], &file, &what).await;
        let (measured, report) = match measured.and_then(|m| report.map(|r| (m, r))) {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!("follow, {name}: {e}");
                return Ok(CatchUp { name: name.to_string(), error: Some(e.to_string()), ..CatchUp::default() });
            }
        };
        tracing::info!("follow, {name}: {} changes in {:.2}s", stat(&report, "changes"), measured.seconds);
        let (verified, verify_error) = self.verify().await;
        Ok(CatchUp {
            name: name.to_string(),
            changes: stat(&report, "changes") as u64,
            busy_seconds: stat(&report, "busySeconds"),
            measured,
            verified: Some(verified),
            verify_error,
            ..CatchUp::default()
        })
    }

    /// `converge --quiet ARGS`, measured, its standard output (into `file` in the
    /// stage's directory) read as JSON whether it exited 0 or not: a verify that fails
    /// still reports.
    async fn child_json(&self, args: &[&str], file: &str, what: &str) -> (Result<Measured>, Result<serde_json::Value>) {
        let out = self.dir.join(file);
        let measured = async {
            let stdout = std::fs::File::create(&out).map_err(|e| Error::io(&out, e))?;
            let cmd = self.converge(args)?;
            let name = what.to_string();
            tokio::task::spawn_blocking(move || measure::child_to(cmd, &name, Stdio::from(stdout)))
                .await
                .map_err(|e| Error::other(format!("the thread running {what} failed: {e}")))?
        }
        .await;
        (measured, read_report(&out))
    }

    /// `converge verify` of the pipeline: passed, or why not (the checks that failed).
    async fn verify(&self) -> (bool, Option<String>) {
        let out = self.dir.join("verify.txt");
        let ran = async {
            let file = std::fs::File::create(&out).map_err(|e| Error::io(&out, e))?;
            let mut cmd = super::converge_loud(&self.my_url, &self.pg_url)?;
            cmd.args(["verify", &self.path()]);
            tokio::task::spawn_blocking(move || measure::child_to(cmd, "converge verify", Stdio::from(file)))
                .await
                .map_err(|e| Error::other(format!("verify's thread failed: {e}")))?
        }
        .await;
        let Err(e) = ran else { return (true, None) };
        let text = std::fs::read_to_string(&out).unwrap_or_default();
        let failed: Vec<&str> = text.lines().map(str::trim).filter(|l| l.starts_with('✗')).collect();
        let why = if failed.is_empty() { e.to_string() } else { failed.join("; ") };
        (false, Some(why.chars().take(600).collect()))
    }

    /// One source transaction of [`BIG_TXN_ROWS`] rows (`INSERT … SELECT` from the
    /// server's sequence engine), then its catch-up.
    async fn big(&self, conn: &mut mysql_async::Conn) -> Result<CatchUp> {
        let started = Instant::now();
        let sql = format!(
            "INSERT INTO {} (postId, kind, at, payload, amount) \
             SELECT CONCAT('00000000-0000-4000-8001-', LPAD(LOWER(HEX(seq)), 12, '0')), \
             ELT(1 + seq % 4, 'view', 'like', 'comment', 'share'), \
             TIMESTAMP'2025-01-01 00:00:00' + INTERVAL seq SECOND, \
             IF(seq % 2 = 0, NULL, JSON_OBJECT('n', seq)), seq / 7 FROM {}",
            ident::mysql("activity"),
            ident::mysql(&format!("seq_1_to_{BIG_TXN_ROWS}"))
        );
        conn.query_drop(sql).await.map_err(|e| Error::mysql("writing one transaction of 1 M rows", e))?;
        let write_seconds = started.elapsed().as_secs_f64();
        let mut c = self.drain("one 1 M-row transaction").await?;
        (c.transactions, c.inserts, c.write_seconds) = (1, BIG_TXN_ROWS, write_seconds);
        Ok(c)
    }
}

/// The dataset, generated in the writer's database.
async fn dataset_into(conn: &mut mysql_async::Conn, rows: u64, seed: u64) -> Result<()> {
    super::dataset::generate(conn, rows, seed).await?;
    conn.query_drop("SET SESSION time_zone = '+00:00'")
        .await
        .map_err(|e| Error::mysql("setting the writer's time zone", e))
}

/// The workload over the source's rows as they are now.
async fn workload(conn: &mut mysql_async::Conn, seed: u64) -> Result<Workload> {
    let err = |e| Error::mysql("reading the keys the follow stage writes to", e);
    let mut existing = Vec::new();
    for table in backlog::TABLES {
        let ids: Vec<String> = conn
            .query(format!("SELECT CAST(id AS char) FROM {} ORDER BY id", ident::mysql(table)))
            .await
            .map_err(err)?;
        let max = ids.iter().filter_map(|i| i.parse::<u64>().ok()).max().unwrap_or(0);
        let literals = ids
            .into_iter()
            // Integer keys bare (an IN list mixing '1' and 2 is not a range: a full scan).
            .map(|id| match (id.parse::<u64>().is_ok(), id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')) {
                (true, _) => id,
                (false, true) => format!("'{id}'"),
                (false, false) => ident::mysql_literal(&id),
            })
            .collect();
        existing.push((literals, max));
    }
    Ok(Workload::new(existing, seed))
}

/// Writes the transactions, many statements per round trip (each statement commits on
/// its own: one source transaction).
async fn write_batched(conn: &mut mysql_async::Conn, w: &Workload, txns: &[backlog::Txn]) -> Result<()> {
    let mut batch = String::new();
    let first = w.made - txns.len() as u64;
    for (i, t) in txns.iter().enumerate() {
        if !batch.is_empty() {
            batch.push(';');
        }
        batch.push_str(&w.sql(t, first + i as u64 + 1));
        if batch.len() >= BATCH_BYTES || i + 1 == txns.len() {
            conn.query_drop(std::mem::take(&mut batch)).await.map_err(|e| Error::mysql("writing the backlog", e))?;
        }
    }
    Ok(())
}

/// A child's `--json` report.
fn read_report(path: &Path) -> Result<serde_json::Value> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    serde_json::from_str(text.trim())
        .map_err(|e| Error::other(format!("the report in {} is not JSON: {e}", path.display())))
}

/// A number under the report's `stats`.
fn stat(report: &serde_json::Value, key: &str) -> f64 {
    report["stats"][key].as_f64().unwrap_or(0.0)
}
