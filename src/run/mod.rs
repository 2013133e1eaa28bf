//! One run of a pipeline: open the source, plan, stream every table through the
//! transform stage into the sinks, reconcile the ledger, validate, and only then write
//! the manifest.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use tokio::task::JoinSet;

use self::sinks::{open_sinks, Dir, RunSink};
use self::table::{run_table, DropRows, TableHooks, TableOutcome};
use crate::error::{Error, Result};
use crate::ledger::Ledger;
use crate::manifest::Manifest;
use crate::pipeline::plan::Plan;
use crate::pipeline::source::Opened;
use crate::pipeline::spec::Pipeline;
use crate::progress::{Display, Progress};
use crate::sink::postgres::load::PgLoad;
use crate::sink::postgres::target::{group_problems, TableTarget};
use crate::sink::Sink;
use crate::transform::validate::Outcome;

mod finish;
mod prepare;
mod signal;
mod sinks;
pub mod table;

use self::finish::{fill_ledger, manifests, recount, validate};
use self::prepare::source_name;
pub use self::prepare::{plan, Target};
pub use self::signal::{Heard, Interrupt};

/// Options of one run that are not part of the pipeline.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// The run's id (a new one when absent).
    pub migration_id: Option<String>,
    /// Test hook: lose rows of a table after reading, to prove the ledger catches it.
    #[doc(hidden)]
    pub drop_rows: DropRows,
    /// Show progress on stderr (bars on a terminal, lines otherwise).
    pub progress: bool,
    /// The run log that phase durations and budget warnings are appended to.
    pub run_log: Option<PathBuf>,
    /// Benchmarks: pass the batches on as read, without normalisation (`bench`'s read stage).
    pub skip_transform: bool,
    /// A signal (`SIGINT`, `SIGTERM`) stops the run before it commits: it rolls back,
    /// marks the export FAILED and ends with [`Error::Interrupted`]; after the commit
    /// was sent, it is recorded with the commit's outcome ([`Interrupt`]).
    pub interrupt: Option<Arc<Interrupt>>,
}

/// Waits until `interrupt` names a signal (forever without one).
pub async fn signalled(interrupt: &Option<Arc<Interrupt>>) -> &'static str {
    let Some(mut rx) = interrupt.as_ref().map(|i| i.receiver()) else { return std::future::pending().await };
    loop {
        if let Some(s) = *rx.borrow_and_update() {
            return s;
        }
        if rx.changed().await.is_err() {
            return std::future::pending().await;
        }
    }
}

/// The signal already received, if any.
fn interrupted(options: &RunOptions) -> Result<()> {
    match options.interrupt.as_ref().and_then(|i| i.stop_signal()) {
        Some(s) => Err(Error::Interrupted(s.to_string())),
        None => Ok(()),
    }
}

/// What a successful run did.
#[derive(Debug, Clone)]
pub struct RunReport {
    /// The run's id.
    pub migration_id: String,
    /// The export directories written (one per distinct file-sink directory).
    pub exports: Vec<PathBuf>,
    /// The reconciled ledger.
    pub ledger: Ledger,
    /// Per-table outcomes, in plan order.
    pub tables: Vec<TableOutcome>,
    /// Validation outcomes (all passed).
    pub validations: Vec<Outcome>,
    /// Seconds the run took.
    pub seconds: f64,
    /// Each phase and its seconds, in order.
    pub phases: Vec<(String, f64)>,
    /// The downtime-budget warning, when the run was projected to exceed it.
    pub budget_warning: Option<String>,
    /// The verification after the load (`[verify]`), when it ran (it passed).
    pub verify: Option<crate::verify::report::Report>,
    /// What the PostgreSQL load did besides COPY (FREEZE, rebuilt indexes, streams).
    pub load: Option<crate::sink::postgres::load::LoadSummary>,
    /// Tables of the source the run did not carry, with why (excluded by the pipeline,
    /// or committed by an earlier per-table run and unchanged since).
    pub skipped: Vec<(String, String)>,
    /// What else the source holds that the run did not carry (views, routines, triggers,
    /// events; a dump's missing FLOAT digits).
    pub not_carried: Vec<String>,
    /// The snapshot's binlog position (recorded in the manifest and the target too).
    pub binlog_position: Option<crate::manifest::BinlogPosition>,
}

/// The run's clock: phases, and the downtime budget watched against the progress.
pub struct Clock {
    started: Instant,
    phase_started: Instant,
    budget_secs: f64,
    migration_id: String,
    log: Option<PathBuf>,
    /// Phases done, with seconds.
    pub phases: Vec<(String, f64)>,
    /// The budget warning given (once).
    pub warned: Option<String>,
}

impl Clock {
    fn new(budget_secs: f64, migration_id: &str, log: Option<PathBuf>) -> Clock {
        let now = Instant::now();
        Clock {
            started: now,
            phase_started: now,
            budget_secs,
            migration_id: migration_id.to_string(),
            log,
            phases: Vec::new(),
            warned: None,
        }
    }

    fn note(&self, entry: crate::runlog::Entry) {
        if let Some(log) = &self.log {
            if let Err(e) = crate::runlog::append(log, &entry.with_migration_id(&self.migration_id).with_process()) {
                tracing::warn!("cannot write the run log: {e}");
            }
        }
    }

    /// Ends the current phase: records its duration and notes it in the run log.
    pub fn phase(&mut self, name: &str) {
        let secs = self.phase_started.elapsed().as_secs_f64();
        self.phase_started = Instant::now();
        self.phases.push((name.to_string(), secs));
        self.note(
            crate::runlog::Entry::new(crate::runlog::Status::InProgress, format!("phase `{name}` done"))
                .with_phase(name, secs),
        );
        // No projection between phases: only a budget already spent is reported here.
        self.check(0.0);
    }

    /// Compares the projected total (elapsed / fraction done) with the budget; warns
    /// once — on stderr and in the run log — when the run will not fit.
    pub fn check(&mut self, fraction_done: f64) {
        if self.warned.is_some() {
            return;
        }
        let elapsed = self.started.elapsed().as_secs_f64();
        if let Some(w) = crate::runlog::budget_warning(elapsed, fraction_done, self.budget_secs) {
            tracing::warn!("downtime budget: {w}");
            self.note(crate::runlog::Entry::new(crate::runlog::Status::InProgress, format!("downtime budget: {w}")));
            self.warned = Some(w);
        }
    }
}

/// A new run id: `<pipeline>-<UTC time>-<random>`.
pub fn new_migration_id(name: &str) -> String {
    let rand = uuid::Uuid::new_v4().simple().to_string();
    format!("{name}-{}-{}", chrono::Utc::now().format("%Y%m%dT%H%M%SZ"), &rand[..6])
}

/// Runs the pipeline.
pub async fn run(p: &Pipeline, options: &RunOptions) -> Result<RunReport> {
    let started = Instant::now();
    let migration_id = options.migration_id.clone().unwrap_or_else(|| new_migration_id(&p.name));
    crate::pg::connect::APPLICATION_NAME
        .scope(format!("converge/{migration_id}"), run_as(p, options, migration_id, started))
        .await
}

async fn run_as(p: &Pipeline, options: &RunOptions, migration_id: String, started: Instant) -> Result<RunReport> {
    let export_timestamp = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let mut clock = Clock::new(p.options.downtime_budget_minutes * 60.0, &migration_id, options.run_log.clone());
    let (opened, plan, target) = plan(p).await?;
    let target_tables = target.as_ref().map(|t| &t.load.tables[..]);
    if let Err(e) = crate::pipeline::follow::refuse_unless_ready(p, &opened, &plan, target_tables).await {
        opened.close().await;
        return Err(e);
    }
    // The target's names for the planned tables.
    let names: Vec<String> = plan.tables.iter().map(|t| t.target.clone()).collect();
    let target = match target.map(|t| begin_target(p, t, &names)) {
        None => None,
        Some(begun) => match begun.await {
            Ok(t) => Some(t),
            Err(e) => {
                opened.close().await;
                return Err(e);
            }
        },
    };
    let (sinks, dirs) = match open_sinks(p, target.as_ref(), &migration_id) {
        Ok(x) => x,
        Err(e) => {
            opened.close().await;
            return Err(e);
        }
    };
    clock.phase("schema check");
    let progress = Progress::new(plan.tables.iter().map(|t| (t.name().to_string(), t.spec.table.estimated_rows)));
    let display = options.progress.then(|| Display::start(progress.clone()));
    let run = Run { p, opened: &opened, plan: &plan, target: target.as_ref(), sinks: &sinks, dirs: &dirs };
    let result = execute(&run, &migration_id, &export_timestamp, options, &progress, &mut clock).await;
    if let Some(d) = display {
        d.stop();
    }
    opened.close().await;
    if let (Err(_), Some((load, _))) = (&result, &target) {
        load.rollback().await;
    }
    let result = match result {
        Err(Error::Interrupted(signal)) => {
            Err(Error::Interrupted(rolled_back(&signal, &names, target.as_ref(), &dirs).await))
        }
        r => r,
    };
    let (ledger, tables, validations) = match result {
        Ok(done) => done,
        Err(e) => {
            let text = e.to_string();
            for (_, d) in &dirs {
                d.mark_failed(&text);
            }
            return Err(e);
        }
    };
    let load = target.as_ref().map(|(l, _)| l.summary());
    // The export is whole and the load committed by now: a failed verification fails
    // the run without marking the export failed.
    let verify = after_run(p, &mut clock).await?;
    Ok(RunReport {
        migration_id,
        exports: dirs.into_iter().map(|(_, d)| d.path).collect(),
        ledger,
        tables,
        validations,
        seconds: started.elapsed().as_secs_f64(),
        phases: clock.phases,
        budget_warning: clock.warned,
        verify,
        load,
        skipped: plan.excluded.clone(),
        not_carried: plan.notes.clone(),
        binlog_position: opened.binlog_position(),
    })
}

/// Opens the load's transaction(s) on a target that fits the source; refuses, before
/// anything is loaded, one that does not.
async fn begin_target(
    p: &Pipeline,
    mut t: Target,
    names: &[String],
) -> Result<(Arc<PgLoad>, Vec<Option<TableTarget>>)> {
    if !t.problems.is_empty() {
        return Err(Error::other(format!(
            "the target does not fit the source (nothing was loaded):\n  - {}",
            group_problems(&t.problems, &p.options.audit_columns).join("\n  - ")
        )));
    }
    t.load.begin(names, t.truncate).await?;
    Ok((Arc::new(t.load), t.tables))
}

/// What an interrupted run undid, for its message and the run log: in per-table mode
/// the committed tables are read from the target after the rollback (a table whose
/// COMMIT was already sent when the signal came is committed, not rolled back).
async fn rolled_back(
    signal: &str,
    names: &[String],
    target: Option<&(Arc<PgLoad>, Vec<Option<TableTarget>>)>,
    dirs: &[Dir],
) -> String {
    let mut o = format!("{signal} received");
    if let Some((load, _)) = target {
        let committed = load.committed_in_target().await;
        let undone: Vec<&str> = names.iter().filter(|t| !committed.contains(t)).map(|t| t.as_str()).collect();
        o.push_str(&format!("; PostgreSQL: rolled back the load of {} tables ({})", undone.len(), undone.join(", ")));
        if !committed.is_empty() {
            o.push_str(&format!("; committed, each in its own transaction (per-table mode): {}", committed.join(", ")));
        }
    }
    for (_, d) in dirs {
        o.push_str(&format!("; export {} marked FAILED", d.path.display()));
    }
    o
}

/// After a committed load, the `[verify]` phase: the target compared with the source.
async fn after_run(p: &Pipeline, clock: &mut Clock) -> Result<Option<crate::verify::report::Report>> {
    let Some(v) = p.verify.as_ref().filter(|v| v.after_run) else { return Ok(None) };
    if !p.source.is_live() {
        return Ok(None);
    }
    let depth = v.sample.map(crate::verify::Depth::Sample).unwrap_or_default();
    let report = crate::verify::verify(p, depth).await?;
    clock.phase("verify");
    if !report.passed() {
        return Err(Error::other(format!(
            "the load was committed, but verification failed (`converge verify` reruns it):\n{}",
            report.text()
        )));
    }
    Ok(Some(report))
}

/// What one run works with, once planned.
struct Run<'a> {
    p: &'a Pipeline,
    opened: &'a Opened,
    plan: &'a Plan,
    target: Option<&'a (Arc<PgLoad>, Vec<Option<TableTarget>>)>,
    sinks: &'a [RunSink],
    dirs: &'a [Dir],
}

/// The run's steps once planned: stream every table through its sinks, fill the
/// ledger, write the manifests, prove the load, validate, commit.
async fn execute(
    run: &Run<'_>,
    migration_id: &str,
    export_timestamp: &str,
    options: &RunOptions,
    progress: &Arc<Progress>,
    clock: &mut Clock,
) -> Result<(Ledger, Vec<TableOutcome>, Vec<Outcome>)> {
    let Run { plan, target, .. } = *run;
    let outcomes = stream_tables(run, options, progress, clock).await?;
    clock.phase(if target.is_some() { "export + load" } else { "export" });
    let mut ledger = fill_ledger(run, &outcomes);
    let manifests = manifests(run, migration_id, export_timestamp, &outcomes);
    recount(run, &manifests, &mut ledger)?;
    let names: Vec<String> = plan.tables.iter().map(|t| t.target.clone()).collect();
    interrupted(options)?;
    if let Some((load, _)) = target {
        // Foreign keys proven, sequences moved, rows counted — still inside the transaction.
        for (t, n) in load.finish(&names).await? {
            ledger.row(source_name(plan, &t)).target = Some(n);
        }
    }
    if !ledger.problems().is_empty() {
        return Err(Error::Ledger(ledger.render()));
    }
    let validations = validate(run, &manifests).await?;
    clock.phase("reconcile");
    // The last moment a signal stops the run: past here it commits, and a signal is
    // reported with the commit's outcome.
    if let Some(i) = &options.interrupt {
        i.enter_commit()?;
    }
    // A followed copy's target learns where the follower continues, in the load's commit.
    if let (Some((load, _)), Some(at), Some(_)) = (target, run.opened.binlog_position(), &run.p.follow) {
        load.record_follow(&run.p.name, migration_id, &at).await?;
    }
    let committed = commit(run, &names, &manifests, &mut ledger).await;
    if let Some(i) = &options.interrupt {
        i.committed(committed.is_ok());
    }
    committed?;
    clock.phase("commit");
    Ok((ledger, outcomes, validations))
}

/// Commits the load (then counts every table again) and completes the exports.
async fn commit(run: &Run<'_>, names: &[String], manifests: &[Manifest], ledger: &mut Ledger) -> Result<()> {
    let Run { plan, target, dirs, .. } = *run;
    if let Some((load, _)) = target {
        for (t, n) in load.commit(names).await? {
            ledger.row(source_name(plan, &t)).target = Some(n);
        }
        if !ledger.problems().is_empty() {
            return Err(Error::Ledger(ledger.render()));
        }
    }
    for ((_, d), m) in dirs.iter().zip(manifests) {
        d.complete(m)?;
    }
    Ok(())
}

/// Streams every planned table from the source through the sinks, as the feeds arrive
/// (each feed is bounded, so memory is too); returns the tables' outcomes in plan order.
async fn stream_tables(
    run: &Run<'_>,
    options: &RunOptions,
    progress: &Arc<Progress>,
    clock: &mut Clock,
) -> Result<Vec<TableOutcome>> {
    let Run { p, opened, plan, target, sinks, .. } = *run;
    let specs = plan.tables.iter().map(|t| t.spec.clone()).collect();
    // A load on one connection takes tables one after the other: read them so.
    let one_at_a_time = target.is_some_and(|(l, _)| !l.parallel());
    let mut feeds = opened.clone().start(specs, p.options.batch_rows, one_at_a_time);
    let by_name: HashMap<&str, usize> = plan.tables.iter().enumerate().map(|(i, t)| (t.name(), i)).collect();
    let table_sinks: Vec<Arc<dyn Sink>> = sinks.iter().map(|s| s.sink.clone()).collect();
    let mut set = JoinSet::new();
    let mut outcomes: Vec<Option<TableOutcome>> = vec![None; plan.tables.len()];
    let mut expected = plan.tables.len();
    let mut received = 0;
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
    // Tables are processed as their feeds arrive; each feed is bounded, so memory is too.
    let mut source_ended = false;
    while expected > 0 {
        // A source that stops early has told a table task why; that task's error is the
        // one to report, so the generic one comes only when every task is done.
        if source_ended && set.is_empty() {
            return Err(Error::other("the source stopped before every table was read"));
        }
        tokio::select! {
            _ = tick.tick() => clock.check(progress.fraction_done()),
            signal = signalled(&options.interrupt) => return Err(Error::Interrupted(signal.to_string())),
            feed = feeds.recv(), if received < plan.tables.len() && !source_ended => {
                let Some(mut feed) = feed else {
                    source_ended = true;
                    continue;
                };
                received += 1;
                let Some(&i) = by_name.get(feed.table.as_str()) else {
                    return Err(match feed.rx.recv().await {
                        Some(crate::feed::FeedMsg::Failed(e)) => e,
                        _ => Error::other(format!("the source sent table `{}`, which is not in the plan", feed.table)),
                    });
                };
                let counter = progress.table(&feed.table);
                let hooks = TableHooks { counter, drop_rows: options.drop_rows.clone(), skip_transform: options.skip_transform };
                set.spawn(run_table(plan.tables[i].clone(), feed, table_sinks.clone(), hooks));
            }
            done = set.join_next(), if !set.is_empty() => {
                let done = done.expect("set is not empty").map_err(|e| Error::other(format!("table task failed: {e}")))?;
                let outcome = match done {
                    Ok(outcome) => outcome,
                    // Per table, the tables already being loaded are finished and
                    // committed rather than thrown away: what a rerun skips does not
                    // depend on which table failed first.
                    Err(e) if target.is_some_and(|(l, _)| l.per_table()) => return Err(drain(set, e, options).await),
                    Err(e) => return Err(e),
                };
                let i = by_name[outcome.table.as_str()];
                outcomes[i] = Some(outcome);
                expected -= 1;
                clock.check(progress.fraction_done());
            }
        }
    }
    Ok(outcomes.into_iter().map(|o| o.expect("every table finished")).collect())
}

/// Waits for the table tasks still running after `first` failed (no new table starts),
/// unless the run is interrupted; returns `first`.
async fn drain(mut set: JoinSet<Result<TableOutcome>>, first: Error, options: &RunOptions) -> Error {
    loop {
        tokio::select! {
            signal = signalled(&options.interrupt) => return Error::Interrupted(signal.to_string()),
            done = set.join_next() => {
                if done.is_none() {
                    return first;
                }
            }
        }
    }
}
