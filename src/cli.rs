//! Commands: parse the arguments, call the library, print the result. Exit code 0 only
//! when everything asked for succeeded.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod bench;
mod cutover;
mod follow;
mod plan;
mod query;
mod repair;
mod signal;
mod verify;
use converge::pipeline::Pipeline;
use converge::run::{self, RunOptions};
use signal::{mark_abandoned, on_signal};

/// Moves a MySQL or MariaDB database into PostgreSQL as an Arrow dataflow.
#[derive(Parser)]
#[command(name = "converge", version, about)]
struct Cli {
    /// Print only errors.
    #[arg(long, short, global = true)]
    quiet: bool,
    /// Print the result as JSON.
    #[arg(long, global = true)]
    json: bool,
    /// Name every table, index and trigger in the run's summary (by default: counts, and
    /// names only where something needs attention).
    #[arg(long, short, global = true)]
    verbose: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a pipeline (default: pipelines/demo.toml).
    Run {
        /// The pipeline file.
        #[arg(default_value = "pipelines/demo.toml")]
        pipeline: PathBuf,
        /// Benchmarks only: `read` passes batches on without normalisation.
        #[arg(long, hide = true)]
        bench_stage: Option<String>,
        /// After the copy commits, follow the source's binlog from the snapshot's position
        /// (as `converge follow` does; the pipeline needs a [follow] section).
        #[arg(long)]
        follow: bool,
        /// With --follow: stop once caught up.
        #[arg(long, requires = "follow")]
        until_caught_up: bool,
    },
    /// Follow the source's binlog from the position the copy recorded and apply every
    /// change to the target, exactly once (the pipeline needs a [follow] section).
    Follow {
        /// The pipeline file.
        pipeline: PathBuf,
        /// Stop once everything the source had logged at the start is applied (a drain).
        #[arg(long)]
        until_caught_up: bool,
        /// Lost connections (source or target) retried in a row before giving up.
        #[arg(long, default_value_t = 10)]
        retries: u32,
        /// Serve Prometheus metrics on this address (`127.0.0.1:9187`): lag, applied
        /// position, bytes behind, changes by table and kind, errors.
        #[arg(long, value_name = "ADDR")]
        metrics: Option<std::net::SocketAddr>,
    },
    /// Print what a run would do, without moving data.
    Plan {
        /// The pipeline file.
        #[arg(default_value = "pipelines/demo.toml")]
        pipeline: PathBuf,
        /// Also read the data once (in the snapshot) and report every value the run would
        /// reject or change, with counts and example keys (live MySQL sources).
        #[arg(long)]
        profile: bool,
    },
    /// The PostgreSQL schema converge would create from the source (DDL), or with
    /// --diff how the pipeline's target differs from it.
    Schema {
        /// The pipeline file.
        #[arg(default_value = "pipelines/demo.toml")]
        pipeline: PathBuf,
        /// Write the DDL to this file (applies with `psql -v ON_ERROR_STOP=1 -f`).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Compare the postgres sink's target schema with it: every difference, one a line.
        #[arg(long)]
        diff: bool,
    },
    /// Load an export directory (CSV + manifest) into PostgreSQL, schema-first.
    Import {
        /// The export directory.
        dir: PathBuf,
        /// The target, `postgres://user@host:5432/db` (or set CONVERGE_TARGET_URL).
        #[arg(long, env = "CONVERGE_TARGET_URL")]
        to: String,
        /// The target schema.
        #[arg(long, default_value = "public")]
        schema: String,
        /// Replace the rows of non-empty target tables (default: refuse them).
        #[arg(long)]
        truncate: bool,
        /// A table the target's own migrations filled (repeatable): its rows are compared
        /// with the export's instead of loaded.
        #[arg(long, value_name = "TABLE")]
        existing: Vec<String>,
        /// `run`: one transaction, all or nothing; `table`: commit each table on its own.
        #[arg(long, default_value = "run", value_parser = ["run", "table"])]
        transaction: String,
        /// `fire` (default): the target's triggers fire; `disable`: off (superuser).
        #[arg(long, default_value = "fire", value_parser = ["fire", "disable"])]
        triggers: String,
        /// Fill the audit columns the export left out (`version` = 1, `createdDate` and
        /// `updatedDate` = the export's timestamp) where the target requires them.
        #[arg(long)]
        audit_defaults: bool,
    },
    /// Compare the MySQL source with the PostgreSQL target after a migration: exact counts,
    /// critical tables, foreign keys, every value (canonical row digests), JSON, UUIDs,
    /// sequences, indexes. Exit code 0 only if every automated check passes.
    Verify {
        /// The pipeline whose source and postgres sink to compare.
        #[arg(required_unless_present = "source")]
        pipeline: Option<PathBuf>,
        /// Without a pipeline: the source, `mysql://user@host:3306/db` (or set
        /// CONVERGE_SOURCE_URL: a password then stays out of the process list).
        #[arg(long, requires = "target", env = "CONVERGE_SOURCE_URL", hide_env_values = true)]
        source: Option<String>,
        /// Without a pipeline: the target, `postgres://user@host:5432/db` (or set
        /// CONVERGE_TARGET_URL).
        #[arg(long, requires = "source", env = "CONVERGE_TARGET_URL", hide_env_values = true)]
        target: Option<String>,
        /// Without a pipeline: the target schema.
        #[arg(long, default_value = "public")]
        schema: String,
        /// Compare N random rows per table (plus exact counts) instead of every row.
        #[arg(long, value_name = "N")]
        sample: Option<u64>,
        /// Also write the Markdown report (the guide's checklist, ticked) to this file.
        #[arg(long, value_name = "FILE")]
        report: Option<PathBuf>,
        /// Fail on warnings too (a missing index): by default they are advice.
        #[arg(long)]
        strict: bool,
        /// Compare while the source is live: the pipeline's follower (or one started
        /// for it) applies up to the source snapshot's position, and both sides are
        /// compared there while writes go on.
        #[arg(long)]
        online: bool,
        /// With --online: repair what it finds (as `converge repair` would from its
        /// report), then verify online again.
        #[arg(long, requires = "online")]
        repair: bool,
    },
    /// Cut over, once the application has stopped writing to the source: drain the
    /// follower (or follow here) to the source's position, check nothing arrives after
    /// it, move sequences, verify the rows changed since the last online verify (every
    /// row if none passed), count rows on both sides, and print the window, step by step.
    /// Exits 0 only when PostgreSQL is proven equal; the follower then stops for good.
    Cutover {
        /// The followed pipeline.
        pipeline: PathBuf,
    },
    /// Repair the rows a `verify --json` report names: re-read them from one source
    /// snapshot, replace them in the target by key in one transaction, compare those keys
    /// again and commit only when they are equal (else roll back and name what differs).
    Repair {
        /// The pipeline the report verified.
        pipeline: PathBuf,
        /// The report, as `converge verify PIPELINE --json` wrote it.
        #[arg(long, value_name = "REPORT.json")]
        from: PathBuf,
        /// Repair the rows the report names even when it does not name every differing
        /// row (more differ than it lists, or a table without a key); exits non-zero
        /// after, naming those tables.
        #[arg(long)]
        partial: bool,
    },
    /// Measure throughput: generate a platform-shaped dataset in MySQL (or use --source and
    /// --target), then time converge's stages against the servers' own tools in one run.
    Bench {
        /// Dataset sizes in rows (comma-separated); each is generated and measured.
        #[arg(long, value_delimiter = ',', default_value = "300000")]
        rows: Vec<u64>,
        /// The generator's seed.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// The MySQL server to generate on (no database in the URL).
        #[arg(long, default_value = "mysql://root@127.0.0.1:3306")]
        mysql: String,
        /// The PostgreSQL server for the target (no database in the URL).
        #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432")]
        pg: String,
        /// Measure this existing MySQL database instead (needs --target).
        #[arg(long, requires = "target")]
        source: Option<String>,
        /// Its schema-first PostgreSQL target (its tables are emptied).
        #[arg(long, requires = "source")]
        target: Option<String>,
        /// Working directory for the export, COPY files and the dump.
        #[arg(long, default_value = "bench-work")]
        work_dir: PathBuf,
        /// Keep the generated databases and files.
        #[arg(long)]
        keep: bool,
        /// Skip `converge verify` of the loaded target.
        #[arg(long)]
        no_verify: bool,
        /// MySQL connections per run (default: the pipelines' default).
        #[arg(long)]
        connections: Option<usize>,
        /// Run the stages behind the ratios (raw read, CSV export, both end-to-end runs,
        /// PostgreSQL's COPY) this many times, interleaved, and report each one's median.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
        repeat: u32,
        /// Write the throughput chart (SVG) here.
        #[arg(long, default_value = "bench-throughput.svg")]
        chart: PathBuf,
        /// Also measure the binlog follower on the first scale (on a MariaDB of its own,
        /// binary log on): catch-up of a 1 M-change backlog and of single-row
        /// transactions, lag under 1,000 changes/s, memory with a 1 M-row transaction.
        #[arg(long)]
        follow: bool,
        /// Also measure the cut-over on the first scale (on a MariaDB of its own, binary
        /// log on): a follower under ~500 row changes/s, `verify --online` while writing,
        /// then `cutover` as soon as the writes stop — its window beside today's (copy +
        /// full verify).
        #[arg(long)]
        cutover: bool,
    },
    /// Run SQL over export directories (Parquet when the export has it, else CSV typed
    /// by its manifest).
    Query {
        /// One or more export directories (each holding migration_manifest.json), then
        /// the SQL; without SQL, an interactive prompt. Several exports are schemas `a`,
        /// `b`, … (and their run ids): `SELECT … FROM a."user" JOIN b."user" …`. With
        /// --target, no directory is needed.
        #[arg(required_unless_present = "target", num_args = 1..)]
        args: Vec<String>,
        /// Output format.
        #[arg(long, value_enum, default_value = "table")]
        format: query::Format,
        /// Which files a table is read from: Parquet when the export has it (auto), or
        /// always the CSV, or always the Parquet.
        #[arg(long, value_enum, default_value = "auto")]
        files: query::Files,
        /// A PostgreSQL database, `postgres://user@host:5432/db`: its tables are schema
        /// `target` (`SELECT … FROM account a JOIN target.account t …`), and bare names too
        /// when no export directory is given. From the environment, a password stays out
        /// of the process list.
        #[arg(long, value_name = "URL", env = "CONVERGE_QUERY_TARGET", hide_env_values = true)]
        target: Option<String>,
        /// The target's schema whose tables are read (default `public`).
        #[arg(long, value_name = "S", requires = "target")]
        target_schema: Option<String>,
    },
    /// Append an entry to the run log (replaces the spec's log_migration_run.sh) and print it.
    Log {
        /// What happened.
        #[arg(value_enum)]
        status: converge::runlog::Status,
        /// Free text, e.g. "All checks passed".
        message: Option<String>,
        /// The run log (default: $CONVERGE_RUN_LOG, else ./converge-runs.jsonl).
        #[arg(long, value_name = "FILE")]
        log: Option<PathBuf>,
        /// The run this entry belongs to (default: $CONVERGE_MIGRATION_ID, else the log's last one).
        #[arg(long, value_name = "ID")]
        migration_id: Option<String>,
    },
}

/// Entry point.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = if cli.quiet { "error" } else { "warn" };
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("CONVERGE_LOG").unwrap_or_else(|_| filter.into()))
        .with_writer(std::io::stderr)
        .init();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a tokio runtime");
    match rt.block_on(dispatch(&cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn dispatch(cli: &Cli) -> converge::Result<()> {
    match &cli.command {
        Command::Run { pipeline, bench_stage, follow, until_caught_up } => {
            run_command(cli, pipeline, bench_stage.as_deref()).await?;
            if *follow {
                follow::command(cli, &Pipeline::load(pipeline)?, *until_caught_up, 10, None).await?;
            }
            Ok(())
        }
        Command::Follow { pipeline, until_caught_up, retries, metrics } => {
            follow::command(cli, &Pipeline::load(pipeline)?, *until_caught_up, *retries, *metrics).await
        }
        Command::Import { dir, to, schema, truncate, existing, transaction, triggers, audit_defaults } => {
            use converge::pipeline::spec::{ImportOptions, TransactionMode, TriggerMode};
            let o = ImportOptions {
                schema: Some(schema.clone()),
                truncate: *truncate,
                existing: existing.clone(),
                transaction: if transaction == "table" { TransactionMode::Table } else { TransactionMode::Run },
                triggers: if triggers == "disable" { TriggerMode::Disable } else { TriggerMode::Fire },
                audit_defaults: *audit_defaults,
            };
            let p = Pipeline::import_with(&dir.to_string_lossy(), to, &o);
            let id = run::new_migration_id(&p.name);
            run_logged(cli, &p, &id, false).await
        }
        Command::Plan { pipeline, profile } => plan::plan_command(cli, pipeline, *profile).await,
        Command::Schema { pipeline, out, diff } => plan::schema_command(cli, pipeline, out.as_deref(), *diff).await,
        Command::Verify { pipeline, source, target, schema, sample, report, strict, online, repair } => {
            // A pipeline names both sides: URLs on the command line beside it are refused;
            // from the environment (CONVERGE_SOURCE_URL / CONVERGE_TARGET_URL) they are not used.
            let given = |flag: &str| std::env::args().any(|a| a == flag || a.starts_with(&format!("{flag}=")));
            if pipeline.is_some() && (given("--source") || given("--target")) {
                return Err(converge::Error::other("verify takes a pipeline, or --source and --target, not both"));
            }
            let p = match (pipeline, source, target) {
                (Some(file), _, _) => Pipeline::load(file)?,
                (None, Some(s), Some(t)) => Pipeline::compare(s, t, Some(schema.clone())),
                _ => return Err(converge::Error::other("verify needs a pipeline, or --source and --target")),
            };
            if *online && pipeline.is_none() {
                return Err(converge::Error::other("verify --online needs the pipeline whose follower applies"));
            }
            if *repair {
                return repair::verify_and_repair(cli, &p, verify::depth_of(&p, *sample)).await;
            }
            verify::verify_command(cli, &p, *sample, report.as_deref(), *strict, *online).await
        }
        Command::Cutover { pipeline } => cutover::command(cli, &Pipeline::load(pipeline)?).await,
        Command::Repair { pipeline, from, partial } => {
            repair::command(cli, &Pipeline::load(pipeline)?, from, *partial).await
        }
        c @ Command::Bench { .. } => bench::bench_args(cli, c).await,
        Command::Log { status, message, log, migration_id } => {
            let path = log.clone().unwrap_or_else(converge::runlog::default_path);
            mark_abandoned(cli, &path);
            let entry =
                converge::runlog::log(&path, *status, message.as_deref().unwrap_or(""), migration_id.as_deref())?;
            if !cli.quiet {
                println!("{}", entry.to_line());
            }
            Ok(())
        }
        Command::Query { args, format, files, target, target_schema } => {
            let target = target.as_deref().map(|url| (url, target_schema.as_deref().unwrap_or("public")));
            query::command(args, *format, *files, target).await
        }
    }
}

/// `converge run`: the pipeline, logged.
async fn run_command(cli: &Cli, pipeline: &std::path::Path, bench_stage: Option<&str>) -> converge::Result<()> {
    let p = Pipeline::load(pipeline)?;
    let id = run::new_migration_id(&p.name);
    let skip_transform = match bench_stage {
        None => false,
        Some("read") => true,
        Some(other) => return Err(converge::Error::other(format!("unknown bench stage `{other}`"))),
    };
    run_logged(cli, &p, &id, skip_transform).await
}

/// Runs a pipeline with its run-log entries (started, each phase, then completed or
/// failed with the duration; a downtime-budget warning as soon as one is projected),
/// with progress on stderr, and prints the result.
async fn run_logged(cli: &Cli, p: &Pipeline, id: &str, skip_transform: bool) -> converge::Result<()> {
    use converge::runlog::{self, Entry, Status};
    let log = runlog::default_path();
    let interrupt = on_signal();
    let options = RunOptions {
        migration_id: Some(id.to_string()),
        progress: !cli.quiet && !cli.json,
        run_log: Some(log.clone()),
        skip_transform,
        interrupt: Some(interrupt.clone()),
        ..Default::default()
    };
    let note =
        |status: Status, message: String, seconds: Option<f64>, at: Option<converge::manifest::BinlogPosition>| {
            let mut e = Entry::new(status, message).with_migration_id(id).with_process().with_binlog_position(at);
            if let Some(s) = seconds {
                e = e.with_phase("run", s);
            }
            if let Err(err) = runlog::append(&log, &e) {
                tracing::warn!("cannot write the run log: {err}");
            }
        };
    mark_abandoned(cli, &log);
    note(Status::Started, format!("pipeline `{}`", p.name), None, None);
    let started = std::time::Instant::now();
    let result = run::run(p, &options).await;
    // A signal that came after the commit was sent: what the commit really did.
    let in_commit = interrupt.commit_outcome();
    if let Some(o) = &in_commit {
        eprintln!("converge: {o}");
    }
    let in_commit = in_commit.map(|o| format!(" ({o})")).unwrap_or_default();
    match result {
        Ok(report) => {
            let verified = if report.verify.is_some() { ", target verified" } else { "" };
            let at = report.binlog_position.as_ref().map(|b| format!(", snapshot at binlog {b}")).unwrap_or_default();
            note(
                Status::Completed,
                format!("pipeline `{}`: ledger reconciled{verified}{at}{in_commit}", p.name),
                Some(report.seconds),
                report.binlog_position.clone(),
            );
            if cli.json {
                println!("{}", converge::report::run_json(&report));
            } else if cli.verbose {
                print!("{}", converge::report::run_text_verbose(&report));
            } else if !cli.quiet {
                print!("{}", converge::report::run_text(&report));
            }
            Ok(())
        }
        Err(e) => {
            note(Status::Failed, format!("{e}{in_commit}"), Some(started.elapsed().as_secs_f64()), None);
            Err(e)
        }
    }
}
