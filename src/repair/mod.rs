//! `converge repair`: re-reads exactly the rows a `verify --json` report names from one
//! source snapshot and writes them to the target by key in one target transaction — every
//! named key deleted, the source's rows of those keys inserted — then compares those keys
//! again and commits only when they are now equal (docs/architecture.md, "Repair"). The
//! rows go through the copy's own decoder, normaliser and COPY encoder, and are written
//! as the follower applies changes (`session_replication_role = replica`). Beside
//! `verify/` and `follow/`.

mod keys;
mod table;

use std::path::Path;
use std::time::Instant;

use arrow::record_batch::RecordBatch;
use serde::Serialize;
use tokio_postgres::Client;

use crate::error::{Error, Result};
use crate::follow::request::Held;
use crate::mysql::MySqlSource;
use crate::pg::connect::connect;
use crate::pg::introspect::introspect;
use crate::pipeline::fit::fit_targets;
use crate::pipeline::spec::Pipeline;
use crate::verify::digest::ContentResult;
use crate::verify::keyed::{self, Keys};

pub use self::keys::{keys_from_report, read_report, ReportKeys};

/// How the repair writes, said in its report.
pub const POLICY: &str = "the repair ran in one target transaction with SET LOCAL session_replication_role = replica \
(as the follower's apply): target triggers — converge's ON UPDATE CURRENT_TIMESTAMP trigger included — and \
foreign-key checks did not fire for the rows it deleted and inserted (triggers enabled ALWAYS do); the source's rows \
are taken as they are, and generated columns were computed by PostgreSQL";

/// What the repair did to one table.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TableRepair {
    /// The source table.
    pub table: String,
    /// The target table.
    pub target: String,
    /// Keys asked for (each once).
    pub keys: u64,
    /// Rows of those keys the source holds, re-read in its snapshot.
    pub read: u64,
    /// Target rows deleted (every row of a named key).
    pub deleted: u64,
    /// Rows inserted (the source's).
    pub inserted: u64,
    /// Sequences moved past the inserted keys.
    pub sequences_moved: u64,
    /// The keys compared again in the repair's transaction, before it committed.
    pub recheck: ContentResult,
}

/// What a repair did.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RepairReport {
    /// The pipeline.
    pub pipeline: String,
    /// The source, safe to print.
    pub source: String,
    /// The target, safe to print (no password).
    pub target: String,
    /// Per table, what was done (in table name order).
    pub tables: Vec<TableRepair>,
    /// Tables the report does not name in full (`--partial`): not repaired beyond the
    /// rows it names.
    pub incomplete: Vec<String>,
    /// The transaction committed (a repair that does not commit returns an error instead).
    pub committed: bool,
    /// How the rows were written.
    pub policy: String,
    /// The source position the rows were re-read at (the follower held there while they
    /// were written), when the target is followed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub position: Option<crate::manifest::BinlogPosition>,
    /// Seconds it took.
    pub seconds: f64,
}

impl RepairReport {
    /// Keys repaired, over every table.
    pub fn keys(&self) -> u64 {
        self.tables.iter().map(|t| t.keys).sum()
    }

    /// The report as text.
    pub fn text(&self) -> String {
        let outcome = match (self.tables.is_empty(), self.committed) {
            (true, _) => "nothing to repair",
            (false, true) => "committed: every repaired key now equals the source",
            (false, false) => "not committed",
        };
        let mut o = format!(
            "repair `{}`: {} → {} ({} keys in {} tables, {:.2}s): {outcome}\n",
            self.pipeline,
            self.source,
            self.target,
            self.keys(),
            self.tables.len(),
            self.seconds
        );
        for t in &self.tables {
            let moved = match t.sequences_moved {
                0 => String::new(),
                n => format!(", {n} sequences moved"),
            };
            let recheck = if t.recheck.equal { "equal" } else { "DIFFERS" };
            o.push_str(&format!(
                "  {}: {} keys; {} rows re-read from the source; {} deleted, {} inserted{moved}; re-check: {recheck}\n",
                t.table, t.keys, t.read, t.deleted, t.inserted
            ));
        }
        for i in &self.incomplete {
            o.push_str(&format!("  NOT REPAIRED IN FULL {i}: verify again\n"));
        }
        o.push_str(&format!("  note: {}\n", self.policy));
        o
    }
}

/// Repairs the rows the verify JSON report at `report` names: opens the source's
/// snapshot, repairs, closes it. A report that does not name every differing row is
/// refused unless `partial` (then the rows it names are repaired, and the rest listed).
pub async fn repair(p: &Pipeline, report: &Path, partial: bool) -> Result<RepairReport> {
    let text = std::fs::read_to_string(report).map_err(|e| Error::io(report, e))?;
    repair_report(p, &text, partial).await
}

/// [`repair`] from the report's text. A followed pipeline's follower (or one started
/// here) is held: the rows are re-read in a source snapshot at a known position, the
/// follower applies exactly up to it and waits while they are written, then goes on
/// (docs/architecture.md, "Proving while live").
pub async fn repair_report(p: &Pipeline, text: &str, partial: bool) -> Result<RepairReport> {
    let started = Instant::now();
    let named = read_report(text)?;
    if let Some(other) = named.pipeline.as_ref().filter(|n| **n != p.name) {
        return Err(Error::other(format!(
            "the report verified pipeline `{other}`, not `{}`: repair with the pipeline it verified",
            p.name
        )));
    }
    if !partial {
        keys_from_report(text)?;
    }
    let mut held = match followed(p).await? {
        true => Some(Held::ask(p, "repair", true).await?),
        false => None,
    };
    let result = repair_held(p, &named, held.as_mut()).await;
    if let Some(held) = held {
        held.finish().await;
    }
    let mut r = result?;
    r.incomplete = named.incomplete;
    r.seconds = started.elapsed().as_secs_f64();
    Ok(r)
}

/// Whether the pipeline's target is followed (a copy recorded a position, not cut over).
async fn followed(p: &Pipeline) -> Result<bool> {
    let Some(sink) = p.postgres().filter(|_| p.follow.is_some()) else { return Ok(false) };
    let client = connect(&sink.url).await?;
    let stored = crate::pg::state::read_follow(&client, &p.name, sink.schema()).await?;
    Ok(stored.is_some_and(|s| s.cut_over_at.is_none()))
}

async fn repair_held(p: &Pipeline, named: &ReportKeys, held: Option<&mut Held>) -> Result<RepairReport> {
    let (opened, _) = crate::pipeline::source::open(p).await?;
    let Some(src) = opened.live() else {
        opened.close().await;
        return Err(Error::other("repair re-reads rows from a live MySQL/MariaDB source (source.kind = \"mysql\")"));
    };
    let result = async {
        let at = match held {
            Some(held) => {
                let at = src.binlog_position().cloned().ok_or_else(|| {
                    Error::other("repairing a followed target needs the source's binlog position (log_bin on)")
                })?;
                held.until(&at).await?;
                Some(at)
            }
            None => None,
        };
        let mut r = repair_keys(p, &src, &named.keys).await?;
        r.position = at;
        Ok::<_, Error>(r)
    }
    .await;
    let source = opened.describe();
    opened.close().await;
    let mut r = result?;
    r.source = source;
    Ok(r)
}

/// Repairs `keys` (by source table): the source's rows of those keys are re-read in
/// `src`'s snapshot and normalised as the copy does; then, in one target transaction,
/// every key is deleted from the target, those rows inserted and the tables' sequences
/// moved past them, and the keys compared again: it commits when they are all equal,
/// else it rolls back and fails naming the rows that still differ.
pub async fn repair_keys(p: &Pipeline, src: &MySqlSource, keys: &Keys) -> Result<RepairReport> {
    let started = Instant::now();
    let sink = p.postgres().ok_or_else(|| Error::other(format!("pipeline `{}` has no postgres sink", p.name)))?;
    let schema = sink.schema();
    let mut report = RepairReport {
        pipeline: p.name.clone(),
        source: format!("mysql database `{}`", src.database()),
        target: crate::secret::redact_url(&sink.url),
        tables: Vec::new(),
        incomplete: Vec::new(),
        committed: false,
        policy: POLICY.to_string(),
        position: None,
        seconds: 0.0,
    };
    let keys: Keys = keys.iter().filter(|(_, k)| !k.is_empty()).map(|(t, k)| (t.clone(), k.clone())).collect();
    if keys.is_empty() {
        return Ok(report);
    }
    let client = connect(&sink.url).await?;
    let plan = keyed::plan_of(p, src).await?;
    let pg_tables = introspect(&client, schema).await?;
    let cmps = keyed::comparisons(&plan, src, &client, schema).await?;
    // Written as the copy writes: the plan fitted to the target for a load.
    let mut written = plan.clone();
    crate::pipeline::uuids::decide_exports(p, Some(src), &mut written).await?;
    let (targets, _) = fit_targets(&mut written.tables, &pg_tables);
    let mut jobs = Vec::with_capacity(keys.len());
    for (t, k) in &keys {
        jobs.push(table::job(t, k, &written, &targets, &pg_tables, cmps.get(t))?);
    }
    let mut rows = Vec::with_capacity(jobs.len());
    for job in &jobs {
        rows.push(table::source_rows(src, job).await?);
    }
    report.tables = in_one_transaction(&client, schema, src, &cmps, &jobs, rows).await?;
    report.committed = true;
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// Writes every job's rows in one transaction, compares the keys again and commits when
/// they are equal; otherwise rolls back and fails naming what still differs.
async fn in_one_transaction(
    client: &Client,
    schema: &str,
    src: &MySqlSource,
    cmps: &std::collections::BTreeMap<String, crate::verify::digest::TableCmp>,
    jobs: &[table::Job<'_>],
    rows: Vec<(Vec<RecordBatch>, u64)>,
) -> Result<Vec<TableRepair>> {
    client.batch_execute("BEGIN; SET LOCAL session_replication_role = replica").await.map_err(|e| {
        Error::postgres(
            "repair needs a superuser on the target (it sets session_replication_role = replica, as the follower's \
             apply does, so that target triggers and foreign-key checks do not fire for the rows it writes)",
            &e,
        )
    })?;
    let done = async {
        let mut out = Vec::with_capacity(jobs.len());
        for (n, (job, (batches, read))) in jobs.iter().zip(rows).enumerate() {
            out.push((read, table::write(client, schema, n, job, batches).await?));
        }
        let keys: Keys = jobs.iter().map(|j| (j.table.clone(), j.keys.clone())).collect();
        let recheck = keyed::compare_with(cmps, src, client, &keys).await?;
        Ok::<_, Error>((out, recheck))
    }
    .await;
    let (written, mut recheck) = match done {
        Ok(d) => d,
        Err(e) => {
            let _ = client.batch_execute("ROLLBACK").await;
            return Err(e);
        }
    };
    let differ: Vec<String> = recheck
        .iter()
        .filter(|(_, r)| !r.equal)
        .flat_map(|(t, r)| r.diffs.iter().map(move |d| format!("`{t}` {}", crate::verify::report::show_diff(d))))
        .collect();
    if !differ.is_empty() {
        client.batch_execute("ROLLBACK").await.map_err(|e| Error::postgres("rolling back the repair", &e))?;
        return Err(Error::other(format!(
            "the repair was rolled back, nothing changed: after writing the source's rows these still differ from \
             the source (a target trigger enabled ALWAYS, or a rule, rewriting them?):\n  {}",
            differ.join("\n  ")
        )));
    }
    client.batch_execute("COMMIT").await.map_err(|e| Error::postgres("committing the repair", &e))?;
    let mut out = Vec::with_capacity(jobs.len());
    for (job, (read, w)) in jobs.iter().zip(written) {
        let i = recheck.iter().position(|(t, _)| *t == job.table).expect("every job was compared again");
        out.push(TableRepair {
            table: job.table.clone(),
            target: job.apply.target.clone(),
            keys: job.keys.len() as u64,
            read,
            deleted: w.deleted,
            inserted: w.inserted,
            sequences_moved: w.sequences_moved,
            recheck: recheck.swap_remove(i).1,
        });
    }
    Ok(out)
}
