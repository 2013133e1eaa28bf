//! `converge bench`: generates a platform-shaped dataset in MySQL (or takes a database
//! the user names), then measures, in one run, `converge`'s stages and the references
//! they are judged against — the server's own raw read, PostgreSQL's own binary `COPY
//! FROM` of a file of the same data, `mariadb-dump` — and prints rows/s, MB/s, CPU time,
//! peak memory (from the kernel's accounting of each child process) and the ratios.

pub mod activity;
pub mod backlog;
pub mod chart;
pub mod dataset;
pub mod follow;
pub mod measure;
mod own_server;
pub mod queries;
mod reference;
mod report;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use mysql_async::prelude::*;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::ident;
use measure::Measured;
pub use report::{chart, linearity, text, Linearity};

/// What to measure.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// Dataset sizes (total rows) to generate and measure, in order.
    pub rows: Vec<u64>,
    /// The generator's seed.
    pub seed: u64,
    /// The MySQL server to generate on: `mysql://user:pass@host:port` (no database).
    pub mysql_server: String,
    /// The PostgreSQL server for the target: `postgres://user:pass@host:port` (no database).
    pub pg_server: String,
    /// Measure an existing source and schema-first target instead of a generated dataset.
    pub existing: Option<(String, String)>,
    /// Where files go (CSV export, binary COPY files, dump).
    pub work_dir: PathBuf,
    /// Keep the generated databases and files.
    pub keep: bool,
    /// Also run `converge verify` (full) on the loaded target.
    pub verify: bool,
    /// MySQL connections for the runs (`None`: the pipelines' default).
    pub connections: Option<usize>,
    /// Times each stage behind a ratio runs (interleaved with the others); the median
    /// run is reported. On a shared machine single runs drift by ±10 %.
    pub repeat: usize,
    /// Also measure the binlog follower (`follow` stage) on the first scale, on a MariaDB
    /// of the benchmark's own with the binary log on.
    pub follow: bool,
    /// Also measure the cut-over window under steady writes (`cutover` stage) on the
    /// first scale, on a MariaDB of the benchmark's own with the binary log on.
    pub cutover: bool,
}

/// One measured stage.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Stage {
    /// What ran.
    pub name: String,
    /// A reference (the servers' own tools), not `converge`.
    pub reference: bool,
    /// Rows it moved.
    pub rows: u64,
    /// Bytes it moved (CSV-encoded data size, or the dump's size for dump stages).
    pub bytes: u64,
    /// Time, CPU, memory: of the median run by wall time, with the largest peak RSS of
    /// all runs.
    #[serde(flatten)]
    pub measured: Measured,
    /// How many times it ran.
    pub runs: usize,
}

impl Stage {
    /// Rows per second.
    pub fn rows_per_sec(&self) -> f64 {
        self.rows as f64 / self.measured.seconds.max(1e-9)
    }

    /// MB (10^6 bytes) per second.
    pub fn mb_per_sec(&self) -> f64 {
        self.bytes as f64 / 1e6 / self.measured.seconds.max(1e-9)
    }
}

/// One interleaved pair of loads, each with what the servers and the host did meanwhile.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Pair {
    /// converge end to end, seconds.
    pub converge: f64,
    /// PostgreSQL's binary COPY of the same rows, seconds.
    pub copy: f64,
    /// During converge's load.
    pub converge_activity: activity::Activity,
    /// During the COPY.
    pub copy_activity: activity::Activity,
}

/// One scale's results.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScaleResult {
    /// Rows in the dataset.
    pub rows: u64,
    /// Its size as spec CSV, in bytes.
    pub csv_bytes: u64,
    /// Its size as a mysqldump file, in bytes.
    pub dump_bytes: u64,
    /// Seconds the generator took (0 for an existing database).
    pub generate_seconds: f64,
    /// Every stage, in the order run.
    pub stages: Vec<Stage>,
    /// `converge verify` of the loaded target passed (None when not run).
    pub verified: Option<bool>,
    /// Each interleaved pair: converge end to end, then PostgreSQL's COPY of the same
    /// rows, in the order run.
    pub pairs: Vec<Pair>,
    /// The analyst queries over the CSV + Parquet export.
    pub queries: Vec<queries::QueryTiming>,
    /// The follow stage (`--follow`, first scale only).
    pub follow: Option<follow::FollowResult>,
    /// The cut-over stage (`--cutover`, first scale only).
    pub cutover: Option<follow::CutoverResult>,
}

impl ScaleResult {
    fn stage(&self, name: &str) -> Option<&Stage> {
        self.stages.iter().find(|s| s.name == name)
    }

    /// (what, value, target, met) for each of the bars.
    pub fn ratios(&self) -> Vec<(String, f64, String, bool)> {
        let mut out = Vec::new();
        let secs = |n: &str| self.stage(n).map(|s| s.measured.seconds);
        if let (Some(e2e), Some(copy)) = (secs(E2E), secs(PG_COPY)) {
            let r = e2e / copy;
            out.push(("end-to-end ÷ PostgreSQL COPY FROM file".into(), r, "≤ 1.35".into(), r <= 1.35));
        }
        if let (Some(e2e), Some(copy)) = (secs(E2E_KEPT), secs(PG_COPY)) {
            let r = e2e / copy;
            out.push((
                "end-to-end, indexes kept during the load ÷ PostgreSQL COPY FROM file".into(),
                r,
                "≤ 1.35".into(),
                r <= 1.35,
            ));
        }
        if let Some((median, low, high)) = spread(&self.pairs) {
            let n = self.pairs.len();
            out.push((
                format!("end-to-end ÷ COPY, each of {n} interleaved pairs: median (spread {low:.2}–{high:.2})"),
                median,
                "≤ 1.0".into(),
                median <= 1.0,
            ));
        }
        if let (Some(verify), Some(e2e)) = (secs(VERIFY), secs(E2E)) {
            let r = verify / e2e;
            out.push(("full verify ÷ end-to-end copy".into(), r, "≤ 1.0".into(), r <= 1.0));
        }
        if let (Some(csv), Some(raw)) = (secs(CSV), secs(RAW)) {
            let r = csv / raw;
            out.push(("CSV export ÷ server raw read".into(), r, "≤ 1.2".into(), r <= 1.2));
        }
        if let Some(d) = self.stage(DUMP) {
            let r = d.bytes as f64 / 1e6 / d.measured.cpu_seconds.max(1e-9);
            out.push(("dump source, MB of dump per CPU-second".into(), r, "≥ 150".into(), r >= 150.0));
        }
        let peak = self.stages.iter().filter(|s| !s.reference).map(|s| s.measured.peak_rss_mb).fold(0.0, f64::max);
        out.push(("peak RSS of any converge stage, MB".into(), peak, "≤ 300".into(), peak <= 300.0));
        out
    }
}

const RAW: &str = "server raw read (mariadb --quick > /dev/null)";
const READ: &str = "converge read only";
const TRANSFORM: &str = "converge read + transform";
const CSV: &str = "converge export to spec CSV";
const BOTH: &str = "converge export to spec CSV + Parquet";
const E2E: &str = "converge MySQL → PostgreSQL";
const E2E_KEPT: &str = "converge MySQL → PostgreSQL, indexes kept during the load";
const PG_COPY: &str = "PostgreSQL binary COPY FROM file";
const IMPORT: &str = "converge import (CSV → PostgreSQL)";
const MYSQLDUMP: &str = "mariadb-dump to file";
const DUMP: &str = "converge dump source (dump → Arrow)";
const VERIFY: &str = "converge verify (full)";

/// Runs the benchmark at every scale.
pub async fn run(o: &BenchOptions) -> Result<Vec<ScaleResult>> {
    let mut out = Vec::new();
    match &o.existing {
        Some((src, dst)) => out.push(measure_scale(o, src, dst, 0, 0.0).await?),
        None => {
            for &rows in &o.rows {
                let name = format!("cvg_bench_{rows}_{}", &uuid::Uuid::new_v4().simple().to_string()[..6]);
                let my_url = format!("{}/{name}", o.mysql_server.trim_end_matches('/'));
                let pg_url = format!("{}/{name}", o.pg_server.trim_end_matches('/'));
                let started = Instant::now();
                create_databases(o, &name).await?;
                let made = async {
                    let mut conn = mysql_async::Conn::from_url(my_url.as_str())
                        .await
                        .map_err(|e| Error::mysql("connecting to the benchmark database", e))?;
                    dataset::generate(&mut conn, rows, o.seed).await?;
                    let _ = conn.disconnect().await;
                    let pg = crate::pg::connect::connect(&pg_url).await?;
                    pg.batch_execute(dataset::PG_SCHEMA)
                        .await
                        .map_err(|e| Error::postgres("creating the benchmark target", &e))
                }
                .await;
                let generated = started.elapsed().as_secs_f64();
                let r = match made {
                    Ok(()) => measure_scale(o, &my_url, &pg_url, rows, generated).await,
                    Err(e) => Err(e),
                };
                if !o.keep {
                    drop_databases(o, &name).await;
                }
                out.push(r?);
            }
        }
    }
    if let (true, Some(first), Some(&rows)) = (o.follow, out.first_mut(), o.rows.first()) {
        first.follow = Some(follow::run(o, rows).await?);
    }
    if let (true, Some(first), Some(&rows)) = (o.cutover, out.first_mut(), o.rows.first()) {
        first.cutover = Some(follow::run_cutover(o, rows).await?);
    }
    Ok(out)
}

async fn create_databases(o: &BenchOptions, name: &str) -> Result<()> {
    let mut my = mysql_async::Conn::from_url(o.mysql_server.as_str())
        .await
        .map_err(|e| Error::mysql("connecting to the MySQL server", e))?;
    my.query_drop(format!("CREATE DATABASE {} CHARACTER SET utf8mb4", ident::mysql(name)))
        .await
        .map_err(|e| Error::mysql("creating the benchmark database", e))?;
    let _ = my.disconnect().await;
    let pg = crate::pg::connect::connect(&format!("{}/postgres", o.pg_server.trim_end_matches('/'))).await?;
    pg.batch_execute(&format!("CREATE DATABASE {}", ident::pg(name)))
        .await
        .map_err(|e| Error::postgres("creating the benchmark target database", &e))
}

async fn drop_databases(o: &BenchOptions, name: &str) {
    if let Ok(mut my) = mysql_async::Conn::from_url(o.mysql_server.as_str()).await {
        let _ = my.query_drop(format!("DROP DATABASE IF EXISTS {}", ident::mysql(name))).await;
        let _ = my.disconnect().await;
    }
    if let Ok(pg) = crate::pg::connect::connect(&format!("{}/postgres", o.pg_server.trim_end_matches('/'))).await {
        let _ = pg.batch_execute(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", ident::pg(name))).await;
    }
}

/// A `converge` child process with the benchmark's URLs in its environment (pipelines
/// name them as `${BENCH_MYSQL_URL}`, `${BENCH_PG_URL}`: no secret is written to a file).
fn converge(my_url: &str, pg_url: &str, args: &[&str]) -> Result<Command> {
    let mut c = converge_loud(my_url, pg_url)?;
    c.arg("--quiet").args(args);
    Ok(c)
}

/// [`converge`] without `--quiet`: the caller adds the arguments and reads the output.
fn converge_loud(my_url: &str, pg_url: &str) -> Result<Command> {
    let exe = std::env::current_exe().map_err(|e| Error::other(format!("cannot find the converge binary: {e}")))?;
    let mut c = Command::new(exe);
    c.env("BENCH_MYSQL_URL", my_url).env("BENCH_PG_URL", pg_url);
    c.env("CONVERGE_RUN_LOG", "/dev/null");
    Ok(c)
}

fn write_pipeline(dir: &Path, name: &str, source: &str, sinks: &str, connections: Option<usize>) -> Result<PathBuf> {
    let path = dir.join(format!("{name}.toml"));
    let connections = connections.map(|n| format!("connections = {n}\n")).unwrap_or_default();
    let text = format!(
        "name = \"bench-{name}\"\n[source]\n{source}\n[options]\n{connections}audit_columns = []\nrecount_files = false\n{sinks}\n"
    );
    std::fs::write(&path, text).map_err(|e| Error::io(&path, e))?;
    Ok(path)
}

/// The pipelines one scale runs, written into its directory.
struct Pipelines {
    /// MySQL → null sink (the read, and the read plus the transform stage).
    null: PathBuf,
    /// MySQL → CSV export, into `csv_dir`.
    csv: PathBuf,
    csv_dir: PathBuf,
    /// MySQL → CSV and Parquet sinks together, into `both_dir`.
    both: PathBuf,
    both_dir: PathBuf,
    /// MySQL → PostgreSQL, indexes built after the load (the default).
    e2e: PathBuf,
    /// MySQL → PostgreSQL with `defer_indexes = false`.
    e2e_kept: PathBuf,
    /// The dump file → null sink.
    dump: PathBuf,
    dump_file: PathBuf,
}

impl Pipelines {
    fn write(dir: &Path, connections: Option<usize>) -> Result<Pipelines> {
        let my_src = "kind = \"mysql\"\nurl = \"${BENCH_MYSQL_URL}\"";
        let pg_sink = "[[sink]]\nkind = \"postgres\"\nurl = \"${BENCH_PG_URL}\"\ntruncate = true";
        let csv_dir = dir.join("csv");
        let both_dir = dir.join("both");
        let both_sinks = format!(
            "[[sink]]\nkind = \"csv\"\ndir = \"{d}\"\n[[sink]]\nkind = \"parquet\"\ndir = \"{d}\"",
            d = both_dir.to_string_lossy()
        );
        let dump_file = dir.join("dump.sql");
        Ok(Pipelines {
            null: write_pipeline(dir, "null", my_src, "[[sink]]\nkind = \"null\"", connections)?,
            csv: write_pipeline(
                dir,
                "csv",
                my_src,
                &format!("[[sink]]\nkind = \"csv\"\ndir = \"{}\"", csv_dir.to_string_lossy()),
                connections,
            )?,
            csv_dir,
            both: write_pipeline(dir, "both", my_src, &both_sinks, connections)?,
            both_dir,
            e2e: write_pipeline(dir, "e2e", my_src, pg_sink, connections)?,
            e2e_kept: write_pipeline(
                dir,
                "e2e-kept",
                my_src,
                &format!("{pg_sink}\ndefer_indexes = false"),
                connections,
            )?,
            dump: write_pipeline(
                dir,
                "dump",
                &format!("kind = \"mysqldump\"\npath = \"{}\"", dump_file.to_string_lossy()),
                "[[sink]]\nkind = \"null\"",
                connections,
            )?,
            dump_file,
        })
    }
}

/// The stages measured so far, each of the scale's rows.
struct Stages {
    list: Vec<Stage>,
    rows: u64,
}

impl Stages {
    fn push(&mut self, name: &str, reference: bool, bytes: u64, runs: Vec<Measured>) {
        let runs_n = runs.len();
        let m = median(runs);
        tracing::info!("{name}: {:.2}s (median of {runs_n})", m.seconds);
        self.list.push(Stage { name: name.to_string(), reference, rows: self.rows, bytes, measured: m, runs: runs_n });
    }
}

/// One scale being measured: the servers, the source's tables, the pipelines.
struct Scale<'a> {
    my_url: &'a str,
    pg_url: &'a str,
    opts: mysql_async::Opts,
    db: String,
    dir: PathBuf,
    tables: Vec<String>,
    files: Pipelines,
    repeat: usize,
}

async fn measure_scale(o: &BenchOptions, my_url: &str, pg_url: &str, rows: u64, generated: f64) -> Result<ScaleResult> {
    let dir = o.work_dir.join(format!("bench-{}", if rows > 0 { rows.to_string() } else { "existing".into() }));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    let (opts, db) = crate::mysql::parse_url(my_url)?;
    let files = Pipelines::write(&dir, o.connections)?;
    let (tables, total_rows) = source_tables(&opts, &db).await?;
    let scale = Scale { my_url, pg_url, opts, db, dir, tables, files, repeat: o.repeat.max(1) };
    let mut stages = Stages { list: Vec::new(), rows: total_rows };
    let (export, csv_bytes) = scale.reads(&mut stages)?;
    let queries = scale.analyst(&mut stages, csv_bytes)?;
    let (verified, pairs) = scale.loads(&mut stages, &export, csv_bytes, o.verify).await?;
    let dump_bytes = scale.dump(&mut stages)?;
    if !o.keep {
        let _ = std::fs::remove_dir_all(&scale.dir);
    }
    Ok(ScaleResult {
        rows: total_rows,
        csv_bytes,
        dump_bytes,
        generate_seconds: generated,
        stages: stages.list,
        verified,
        pairs,
        queries,
        follow: None,
        cutover: None,
    })
}

/// The source's tables and their rows in all.
async fn source_tables(opts: &mysql_async::Opts, db: &str) -> Result<(Vec<String>, u64)> {
    let mut conn = mysql_async::Conn::new(opts.clone())
        .await
        .map_err(|e| Error::mysql("connecting to the benchmark source", e))?;
    let tables: Vec<String> = conn
        .exec(
            "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME",
            (db,),
        )
        .await
        .map_err(|e| Error::mysql("listing the benchmark tables", e))?;
    let mut total_rows = 0u64;
    for t in &tables {
        let n: Option<u64> = conn
            .query_first(format!("SELECT COUNT(*) FROM {}", ident::mysql(t)))
            .await
            .map_err(|e| Error::mysql("counting", e))?;
        total_rows += n.unwrap_or(0);
    }
    let _ = conn.disconnect().await;
    Ok((tables, total_rows))
}

impl Scale<'_> {
    /// `converge run <pipeline>` (or other arguments).
    fn converge(&self, args: &[&str]) -> Result<Command> {
        converge(self.my_url, self.pg_url, args)
    }

    /// A mariadb-family client command for the source, its password in the environment.
    fn mariadb(&self, mut c: Command) -> Command {
        c.arg(format!("--host={}", self.opts.ip_or_hostname()))
            .arg(format!("--port={}", self.opts.tcp_port()))
            .arg(format!("--user={}", self.opts.user().unwrap_or("root")))
            .arg(&self.db);
        if let Some(p) = self.opts.pass() {
            c.env("MYSQL_PWD", p);
        }
        c
    }

    /// The server's raw read, as its own client does it.
    fn raw_read(&self) -> Command {
        let sql: Vec<String> = self.tables.iter().map(|t| format!("SELECT * FROM {}", ident::mysql(t))).collect();
        let mut raw = Command::new("mariadb");
        raw.args(["--quick", "--batch", "--raw", "--skip-column-names", "--protocol=tcp"]);
        let mut raw = self.mariadb(raw);
        raw.arg("-e").arg(sql.join("; "));
        raw
    }

    /// The raw read (warms the caches for all that follows), converge's read, transform
    /// and CSV export; returns the export and its bytes.
    fn reads(&self, stages: &mut Stages) -> Result<(PathBuf, u64)> {
        let s = |p: &Path| p.to_string_lossy().into_owned();
        let f = &self.files;
        // Once to warm the caches (untimed), then measured.
        measure::child(self.raw_read(), "mariadb raw read (warm-up)")?;
        let read_m = measure::child(self.converge(&["run", &s(&f.null), "--bench-stage", "read"])?, READ)?;
        let transform_m = measure::child(self.converge(&["run", &s(&f.null)])?, TRANSFORM)?;
        // The export's ratio is against the raw read: the two alternate.
        let (mut raw_m, mut csv_m) = (Vec::new(), Vec::new());
        for _ in 0..self.repeat {
            raw_m.push(measure::child(self.raw_read(), "mariadb raw read")?);
            // Each run writes its own export directory: keep only the last one.
            let _ = std::fs::remove_dir_all(&f.csv_dir);
            csv_m.push(measure::child(self.converge(&["run", &s(&f.csv)])?, CSV)?);
        }
        let export = export_in(&f.csv_dir)?;
        let manifest = crate::manifest::Manifest::read(&export)?;
        let csv_bytes: u64 = manifest.tables.iter().filter_map(|t| t.bytes).sum();
        stages.push(RAW, true, csv_bytes, raw_m);
        stages.push(READ, false, csv_bytes, vec![read_m]);
        stages.push(TRANSFORM, false, csv_bytes, vec![transform_m]);
        stages.push(CSV, false, csv_bytes, csv_m);
        Ok((export, csv_bytes))
    }

    /// The export with both file sinks (its peak memory is the Parquet writers' bound),
    /// then the analyst queries over its Parquet and its CSV files.
    fn analyst(&self, stages: &mut Stages, csv_bytes: u64) -> Result<Vec<queries::QueryTiming>> {
        let f = &self.files;
        let _ = std::fs::remove_dir_all(&f.both_dir);
        let m = measure::child(self.converge(&["run", &f.both.to_string_lossy()])?, BOTH)?;
        stages.push(BOTH, false, csv_bytes, vec![m]);
        let export = export_in(&f.both_dir)?;
        // Kept with --keep, for scripts/duckdb-queries.py.
        queries::run(&|args| self.converge(args), &export, self.repeat)
    }

    /// Both end-to-end configurations (the default, which builds the indexes after the
    /// load, and `defer_indexes = false`) alternate with PostgreSQL's own ingest of the
    /// same data from binary COPY files it wrote itself (from the target just loaded); the
    /// default runs last, so verify reads what it loaded. Then the import of the export.
    async fn loads(
        &self,
        stages: &mut Stages,
        export: &Path,
        csv_bytes: u64,
        verify: bool,
    ) -> Result<(Option<bool>, Vec<Pair>)> {
        let s = |p: &Path| p.to_string_lossy().into_owned();
        let f = &self.files;
        let (mut e2e_m, mut copy_m, mut kept_m, mut pairs) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for _ in 0..self.repeat {
            kept_m.push(self.watched(&f.e2e_kept, E2E_KEPT).await?.0);
            let (copy, copy_activity) = reference::pg_copy_reference(self.pg_url, &self.tables, &self.dir).await?;
            let (e2e, converge_activity) = self.watched(&f.e2e, E2E).await?;
            pairs.push(Pair { converge: e2e.seconds, copy: copy.seconds, converge_activity, copy_activity });
            e2e_m.push(e2e);
            copy_m.push(copy);
        }
        stages.push(E2E, false, csv_bytes, e2e_m);
        stages.push(E2E_KEPT, false, csv_bytes, kept_m);
        // Verified after the fastest configuration (the default's target).
        let verified = if verify {
            let r = measure::child(self.converge(&["verify", &s(&f.e2e)])?, VERIFY);
            let ok = r.is_ok();
            stages.push(VERIFY, false, csv_bytes, vec![r.unwrap_or_default()]);
            Some(ok)
        } else {
            None
        };
        stages.push(PG_COPY, true, csv_bytes, copy_m);
        let import = self.converge(&["import", &s(export), "--to", self.pg_url, "--truncate"])?;
        stages.push(IMPORT, false, csv_bytes, vec![measure::child(import, IMPORT)?]);
        Ok((verified, pairs))
    }

    /// `converge run` of a load pipeline, the target settled before it and watched while
    /// it runs (as the COPY reference is).
    async fn watched(&self, pipeline: &Path, name: &str) -> Result<(Measured, activity::Activity)> {
        let watch = activity::Watch::settle_and_start(self.pg_url).await?;
        let cmd = self.converge(&["run", &pipeline.to_string_lossy()])?;
        let name = name.to_string();
        // Off the runtime's threads: the sampler must keep sampling while this waits.
        let run = tokio::task::spawn_blocking(move || measure::child(cmd, &name))
            .await
            .map_err(|e| Error::other(format!("the measured run's thread failed: {e}")))?;
        let seen = watch.finish().await;
        Ok((run?, seen))
    }

    /// mariadb-dump, then the dump source reading it; returns the dump's bytes.
    fn dump(&self, stages: &mut Stages) -> Result<u64> {
        let mut md = Command::new("sh");
        md.arg("-c")
            .arg("exec mariadb-dump --single-transaction --quick --skip-lock-tables --protocol=tcp \"$@\" > \"$DUMP_FILE\"")
            .arg("mariadb-dump");
        let mut md = self.mariadb(md);
        md.env("DUMP_FILE", &self.files.dump_file);
        let md_m = measure::child(md, MYSQLDUMP)?;
        let dump_bytes = std::fs::metadata(&self.files.dump_file).map(|m| m.len()).unwrap_or(0);
        stages.push(MYSQLDUMP, true, dump_bytes, vec![md_m]);
        let dump_m = measure::child(self.converge(&["run", &self.files.dump.to_string_lossy()])?, DUMP)?;
        stages.push(DUMP, false, dump_bytes, vec![dump_m]);
        Ok(dump_bytes)
    }
}

/// The run directory (holding its manifest) an export wrote under `dir`.
fn export_in(dir: &Path) -> Result<PathBuf> {
    std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .find(|p| p.is_dir() && p.join("migration_manifest.json").exists())
        .ok_or_else(|| Error::other(format!("the export into {} left no manifest", dir.display())))
}

/// The median, lowest and highest of the pairs' ratios (converge ÷ COPY); the median of
/// an even count is the mean of the middle two.
fn spread(pairs: &[Pair]) -> Option<(f64, f64, f64)> {
    let mut r: Vec<f64> = pairs.iter().filter(|p| p.copy > 0.0).map(|p| p.converge / p.copy).collect();
    if r.is_empty() {
        return None;
    }
    r.sort_by(f64::total_cmp);
    let n = r.len();
    let median = if n % 2 == 1 { r[n / 2] } else { (r[n / 2 - 1] + r[n / 2]) / 2.0 };
    Some((median, r[0], r[n - 1]))
}

/// The median run by wall time (for an even count, the faster of the middle two), with
/// the largest peak RSS of all the runs: memory is a bound, not a typical value.
fn median(mut runs: Vec<Measured>) -> Measured {
    if runs.is_empty() {
        return Measured::default();
    }
    let peak = runs.iter().map(|m| m.peak_rss_mb).fold(0.0, f64::max);
    runs.sort_by(|a, b| a.seconds.total_cmp(&b.seconds));
    let mut m = runs[(runs.len() - 1) / 2].clone();
    m.peak_rss_mb = peak;
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_run_is_reported_with_the_largest_peak_of_all_runs() {
        let m = |seconds: f64, cpu_seconds: f64, peak_rss_mb: f64| Measured { seconds, cpu_seconds, peak_rss_mb };
        let got = median(vec![m(12.0, 1.0, 100.0), m(10.0, 2.0, 300.0), m(11.0, 3.0, 200.0)]);
        assert_eq!((got.seconds, got.cpu_seconds, got.peak_rss_mb), (11.0, 3.0, 300.0));
        // Two runs: the faster one.
        let got = median(vec![m(12.0, 1.0, 100.0), m(10.0, 2.0, 50.0)]);
        assert_eq!((got.seconds, got.peak_rss_mb), (10.0, 100.0));
        assert_eq!(median(Vec::new()).seconds, 0.0);
    }
}
