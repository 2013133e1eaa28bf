//! `converge verify`: after a migration, compares the source (a live MySQL/MariaDB, read
//! in one consistent snapshot) with the PostgreSQL target (one exported snapshot shared
//! by its sessions), tables side by side, the way the operator guide's
//! verification checklist asks — exact counts, critical tables, foreign keys, every
//! value through canonical row digests with key-range bisection, JSON, UUIDs,
//! sequences, indexes — and reports it (terminal, Markdown, JSON).

pub mod canon;
pub mod changed;
pub mod checks;
pub mod digest;
pub mod json;
pub mod keyed;
pub mod report;
pub mod row_hash;
pub mod strength;
mod table;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use crate::error::{Error, Result};
use crate::ident::pg_qualified as qualified;
use crate::pipeline::fit::fit_to_compare;
use crate::pipeline::plan;
use crate::pipeline::source;
use crate::pipeline::spec::Pipeline;
use std::collections::BTreeMap;

use crate::pg::connect::connect;
use crate::pg::introspect::{introspect, PgTable};
use digest::{ContentResult, Sides, TableCmp};
use report::{Check, Outcome, Report, Section};

/// How much of the content to compare.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Depth {
    /// Every row (default).
    #[default]
    Full,
    /// This many rows per table, picked at random in the target.
    Sample(u64),
}

/// The columns rows are compared and located by: the primary key, or — for a table
/// without one — its first unique key whose columns are all NOT NULL (a unique key with
/// a nullable column does not identify rows).
fn comparison_key(table: &crate::schema::Table, indexes: &[checks::Index]) -> Vec<String> {
    if !table.primary_key.is_empty() {
        return table.primary_key.clone();
    }
    let not_null = |c: &String| table.columns.iter().any(|x| &x.name == c && !x.nullable);
    indexes
        .iter()
        .find(|ix| ix.unique && !ix.columns.is_empty() && ix.columns.iter().all(not_null))
        .map(|ix| ix.columns.clone())
        .unwrap_or_default()
}

/// Whether a table a per-table load committed earlier still equals the source in the
/// source's current snapshot: source rows, target rows, equal content.
pub async fn unchanged(
    src: &crate::mysql::MySqlSource,
    pg: &tokio_postgres::Client,
    schema: &str,
    tp: &plan::TablePlan,
    pt: &crate::pg::introspect::PgTable,
) -> Result<(u64, u64, bool)> {
    let name = tp.name().to_string();
    // Asked only where a column needs it: a rerun checks every committed table this way.
    let postgis = match pt.columns.iter().any(|c| c.type_name == "geometry") {
        true => crate::pg::introspect::postgis_schema(pg).await?,
        false => None,
    };
    let mut columns = Vec::new();
    for ((cp, r), out) in tp.spec.plans.iter().zip(&tp.rules).zip(tp.read_out_names()) {
        let Some(out) = out else { return Ok((0, 0, false)) };
        let Some(tc) = pt.column(&out) else { return Ok((0, 0, false)) };
        let source = tp.spec.table.columns.iter().find(|c| c.name == cp.name).map(|c| &c.mysql);
        let pair = table::pair(cp, &out, tc, r, source, &tp.spec.table.primary_key, postgis.as_deref());
        columns.push(canon::column_of(&pair));
    }
    let pk = &tp.spec.table.primary_key;
    let key: Vec<usize> = pk.iter().filter_map(|k| columns.iter().position(|c| &c.name == k)).collect();
    let key = if key.len() == pk.len() { key } else { Vec::new() };
    let cmp = TableCmp { name: name.clone(), pg_table: qualified(schema, &tp.target), columns, key };
    let sides = Sides { my: src, pg, rows_read: AtomicU64::new(0) };
    sides.digest_whole(&cmp).await
}

/// Compares the pipeline's source and its PostgreSQL sink.
pub async fn verify(p: &Pipeline, depth: Depth) -> Result<Report> {
    verify_at(p, depth, None).await
}

/// Asked with the source snapshot's binlog position, returns the id of a target snapshot
/// exported at exactly that position (by the follower: `follow::online`).
pub type Until<'a> =
    Box<dyn FnOnce(crate::manifest::BinlogPosition) -> futures::future::BoxFuture<'a, Result<String>> + Send + 'a>;

/// [`verify`], with the target's snapshot taken at the source snapshot's position
/// (`until`) rather than now: an online verify (docs/architecture.md, "Proving while
/// live").
pub async fn verify_at_position(p: &Pipeline, depth: Depth, until: Until<'_>) -> Result<Report> {
    verify_at(p, depth, Some(until)).await
}

async fn verify_at(p: &Pipeline, depth: Depth, until: Option<Until<'_>>) -> Result<Report> {
    let started = Instant::now();
    let sink =
        p.postgres().ok_or_else(|| Error::other(format!("pipeline `{}` has no postgres sink to verify", p.name)))?;
    let (url, schema) = (&sink.url, sink.schema());
    let (opened, tables) = source::open(p).await?;
    let Some(src) = &opened.live() else {
        opened.close().await;
        return Err(Error::other("verify compares a live MySQL/MariaDB source (source.kind = \"mysql\")"));
    };
    let result = async {
        // As many target sessions as the source reads with, in one snapshot, and one
        // for the checks of the target alone.
        let workers = if src.parallel() { src.connections().clamp(1, MAX_WORKERS) } else { 1 };
        let (clients, position) = match until {
            None => (snapshot_clients(url, workers + 1, None).await?, None),
            Some(until) => {
                let at = src.binlog_position().cloned().ok_or_else(|| {
                    Error::other("an online verify needs the source's binlog position with its snapshot (log_bin on)")
                })?;
                let snapshot = until(at.clone()).await?;
                (snapshot_clients(url, workers + 1, Some(&snapshot)).await?, Some(at))
            }
        };
        // Live, MySQL's AUTO_INCREMENT counters count transactions still open at the
        // snapshot: only a sequence behind the column's maximum is a fault then.
        let counters = position.is_none();
        let mut report = compare(p, depth, src, &clients, schema, tables, counters).await?;
        report.source = opened.describe();
        report.target = crate::secret::redact_url(url);
        report.position = position;
        Ok::<_, Error>(report)
    }
    .await;
    opened.close().await;
    let mut report = result?;
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// Tables compared at once, at most (each over its own pair of sessions).
const MAX_WORKERS: usize = 4;

/// Keeps a verify session's queries to one process each ([`snapshot_clients`]).
const SERIAL_PLANS: &str = "SET LOCAL max_parallel_workers_per_gather = 0";

/// `n` target sessions in one REPEATABLE READ snapshot: the first exports it
/// (`pg_export_snapshot()`), the others take it (`SET TRANSACTION SNAPSHOT`), so every
/// table is compared with the same state of the target, whichever session reads it.
/// Given a snapshot exported elsewhere (the follower's, at a source position), every
/// session takes that one.
///
/// The sessions run no parallel plans (`max_parallel_workers_per_gather = 0`, for their
/// transaction only): verify is already parallel, one session per core, and parallel
/// workers on top only share the same cores at a higher cost — a foreign-key check's
/// parallel hash anti-join took 3–4 × the CPU of the merge anti-join over both indexes
/// the planner picks without them (docs/architecture.md, "Verification").
pub async fn snapshot_clients(url: &str, n: usize, exported: Option<&str>) -> Result<Vec<tokio_postgres::Client>> {
    let q = |e: tokio_postgres::Error| Error::postgres("opening the target's snapshot", &e);
    let mut out = Vec::with_capacity(n);
    let id = match exported {
        Some(id) => id.to_string(),
        None => {
            let first = connect(url).await?;
            first
                .batch_execute(&format!("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; {SERIAL_PLANS}"))
                .await
                .map_err(q)?;
            let id: String = first.query_one("SELECT pg_export_snapshot()", &[]).await.map_err(q)?.get(0);
            out.push(first);
            id
        }
    };
    while out.len() < n {
        let c = connect(url).await?;
        let take = format!(
            "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET TRANSACTION SNAPSHOT {}; {SERIAL_PLANS}",
            crate::ident::pg_literal(&id)
        );
        c.batch_execute(&take).await.map_err(q)?;
        out.push(c);
    }
    Ok(out)
}

/// What one verification compares with: both sides, the target schema, the depth, and
/// the indexes of each side by table.
struct Ctx<'a> {
    sides: Sides<'a>,
    client: &'a tokio_postgres::Client,
    schema: &'a str,
    depth: Depth,
    source_indexes: &'a BTreeMap<String, Vec<checks::Index>>,
    target_indexes: &'a BTreeMap<String, Vec<checks::Index>>,
    /// The schema of the target's PostGIS extension, when it has one.
    postgis: Option<&'a str>,
}

/// One table's checks and content result, as a worker found them.
type TableOutcome = (Vec<Check>, ContentResult, u64);

/// Tables of at least this many rows (as the source estimates them) are digested in
/// pieces on several sessions at once, so that one large table does not leave the
/// other sessions idle at the end.
const SPLIT_ROWS: u64 = 250_000;

/// Runs `jobs` over the target's sessions (each with its own source session), each
/// session taking the next job as soon as it is free; the results in job order.
async fn over_sessions<'c, J, R, F, Fut>(clients: &'c [tokio_postgres::Client], jobs: Vec<J>, run: F) -> Result<Vec<R>>
where
    F: Fn(&'c tokio_postgres::Client, J) -> Fut,
    Fut: std::future::Future<Output = Result<R>>,
{
    let n = jobs.len();
    let queue = std::sync::Mutex::new(jobs.into_iter().enumerate().collect::<std::collections::VecDeque<_>>());
    let done = std::sync::Mutex::new((0..n).map(|_| None).collect::<Vec<Option<R>>>());
    let (queue_ref, done_ref, run) = (&queue, &done, &run);
    let workers = clients.iter().map(|client| async move {
        let (queue, done) = (queue_ref, done_ref);
        loop {
            let Some((i, job)) = queue.lock().expect("queue").pop_front() else { return Ok::<_, Error>(()) };
            let r = run(client, job).await?;
            done.lock().expect("results")[i] = Some(r);
        }
    });
    futures::future::try_join_all(workers).await?;
    Ok(done.into_inner().expect("results").into_iter().map(|r| r.expect("every job ran")).collect())
}

/// Compares the planned tables that the target has (`work`: indexes into the plan) over
/// every session pair; the outcomes by plan index. A full comparison first digests every
/// table — large ones in pieces — largest pieces first, then locates differences and
/// runs each table's other checks.
async fn compare_tables(
    base: &Ctx<'_>,
    clients: &[tokio_postgres::Client],
    plan: &plan::Plan,
    work: Vec<(usize, &PgTable)>,
) -> Result<BTreeMap<usize, TableOutcome>> {
    let mut work = work;
    work.sort_by_key(|(i, _)| std::cmp::Reverse(plan.tables[*i].spec.table.estimated_rows));
    let mut tables = Vec::new();
    for (i, pt) in work {
        let mut checks = Vec::new();
        let cmp = table::comparison(base, &plan.tables[i], pt, &mut checks);
        tables.push((i, pt, cmp, checks));
    }
    let parts = match base.depth {
        Depth::Full => digest_all(base, clients, plan, &tables).await?,
        Depth::Sample(_) => tables.iter().map(|_| (Vec::new(), 0)).collect(),
    };
    let jobs: Vec<_> = tables.into_iter().zip(parts).collect();
    let outcomes = over_sessions(clients, jobs, |client, ((i, pt, cmp, mut checks), (parts, shipped))| async move {
        let ctx = Ctx { sides: Sides { my: base.sides.my, pg: client, rows_read: AtomicU64::new(0) }, client, ..*base };
        let tp = &plan.tables[i];
        let mut res = table::content(&ctx, tp, &cmp, parts).await?;
        res.rows_read += shipped;
        table::checks(&ctx, tp, pt, &cmp, &res, &mut checks).await?;
        let read = ctx.sides.rows_read.load(Ordering::Relaxed) + shipped;
        Ok((i, (checks, res, read)))
    })
    .await?;
    Ok(outcomes.into_iter().collect())
}

/// The full digests of every table whose values are compared, in parts: each table's
/// parts and the rows they shipped (JSON tables ship each row's hash and JSON).
async fn digest_all(
    base: &Ctx<'_>,
    clients: &[tokio_postgres::Client],
    plan: &plan::Plan,
    tables: &[(usize, &PgTable, TableCmp, Vec<Check>)],
) -> Result<Vec<(Vec<digest::Part>, u64)>> {
    let mut jobs = Vec::new();
    for (t, (i, _, cmp, _)) in tables.iter().enumerate() {
        let tp = &plan.tables[*i];
        if tp.transform_sql.is_some() {
            continue;
        }
        let rows = tp.spec.table.estimated_rows;
        let pieces = if rows < SPLIT_ROWS { 1 } else { (rows / SPLIT_ROWS) as usize }.clamp(1, 2 * clients.len());
        let parts = base.sides.split(cmp, pieces).await?;
        let weight = rows / parts.len() as u64;
        jobs.extend(parts.into_iter().enumerate().map(|(k, part)| (weight, t, k, part)));
    }
    jobs.sort_by_key(|(weight, ..)| std::cmp::Reverse(*weight));
    let digested = over_sessions(clients, jobs, |client, (_, t, k, part)| async move {
        let sides = Sides { my: base.sides.my, pg: client, rows_read: AtomicU64::new(0) };
        let part = sides.digest_part(&tables[t].2, part).await?;
        Ok((t, k, part, sides.rows_read.load(Ordering::Relaxed)))
    })
    .await?;
    let mut out: Vec<(Vec<(usize, digest::Part)>, u64)> = tables.iter().map(|_| (Vec::new(), 0)).collect();
    for (t, k, part, shipped) in digested {
        out[t].0.push((k, part));
        out[t].1 += shipped;
    }
    Ok(out
        .into_iter()
        .map(|(mut parts, shipped)| {
            parts.sort_by_key(|(k, _)| *k);
            (parts.into_iter().map(|(_, p)| p).collect(), shipped)
        })
        .collect())
}

/// Every check of the operator guide's verification, table by table, then the
/// critical tables, foreign keys and sequences.
async fn compare(
    p: &Pipeline,
    depth: Depth,
    src: &crate::mysql::MySqlSource,
    clients: &[tokio_postgres::Client],
    schema: &str,
    tables: Vec<crate::schema::Table>,
    counters: bool,
) -> Result<Report> {
    let client = &clients[0];
    let pg_tables = introspect(client, schema).await?;
    let mut plan = plan::build(p, tables).await?;
    plan::json_reading(&mut plan, Some(src.json_reading()));
    let check = fit_to_compare(&mut plan.tables, &pg_tables).1;
    let (source_indexes, target_indexes) =
        (checks::mysql_indexes(src).await?, checks::pg_indexes(client, schema).await?);
    let postgis = crate::pg::introspect::postgis_schema(client).await?;
    let ctx = Ctx {
        sides: Sides { my: src, pg: client, rows_read: AtomicU64::new(0) },
        client,
        schema,
        depth,
        source_indexes: &source_indexes,
        target_indexes: &target_indexes,
        postgis: postgis.as_deref(),
    };
    let found: Vec<Option<&PgTable>> =
        plan.tables.iter().map(|tp| pg_tables.iter().find(|t| t.name == tp.target)).collect();
    let work = found.iter().enumerate().filter_map(|(i, pt)| pt.map(|pt| (i, pt))).collect();
    let verified: Vec<&PgTable> = found.iter().flatten().copied().collect();
    // The target-only checks (foreign keys, sequences) run on a session of their own
    // beside the tables' comparison, while the servers are hashing.
    let (table_clients, side) = match clients.split_last() {
        Some((last, rest)) if !rest.is_empty() => (rest, last),
        _ => (clients, client),
    };
    let target_checks = async {
        let mut out = checks::foreign_keys(side, schema, &pg_tables).await?;
        let counters = if counters { plan.counters() } else { Vec::new() };
        out.extend(checks::sequences(side, schema, &verified, &counters).await?);
        Ok::<_, Error>(out)
    };
    let (outcomes, target_checks) = tokio::join!(compare_tables(&ctx, table_clients, &plan, work), target_checks);
    let mut outcomes = outcomes?;
    let mut checks: Vec<Check> = Vec::new();
    let mut results: Vec<(String, ContentResult)> = Vec::new();
    for (i, tp) in plan.tables.iter().enumerate() {
        if found[i].is_none() {
            checks.push(fail(Section::RowCounts, tp.name(), format!("no table `{}` in the target", tp.target)));
            continue;
        }
        let (table_checks, res, read) = outcomes.remove(&i).expect("every table with a target was compared");
        checks.extend(table_checks);
        ctx.sides.rows_read.fetch_add(read, Ordering::Relaxed);
        results.push((tp.name().to_string(), res));
    }
    // A load-time problem (a required column the source does not feed) is not a
    // difference in what the target holds.
    for prob in check.problems.iter().filter(|p| !check.unfed.contains(p)) {
        checks.push(fail(Section::Content, prob.split(':').next().unwrap_or(""), prob.clone()));
    }
    let critical = p.verify.as_ref().map(|v| v.critical.clone()).unwrap_or_default();
    for c in &critical {
        checks.push(critical_check(&ctx, &plan, &pg_tables, &results, c).await?);
    }
    checks.extend(target_checks?);
    Ok(new_report(p, depth, ctx.sides.rows_read.load(Ordering::Relaxed), checks, results))
}

/// The report of a comparison, its checks in the guide's section order (the caller
/// fills in the sides, the time taken and the position).
fn new_report(
    p: &Pipeline,
    depth: Depth,
    rows_read: u64,
    mut checks: Vec<Check>,
    tables: Vec<(String, ContentResult)>,
) -> Report {
    checks.sort_by_key(|c| Section::ALL.iter().position(|s| *s == c.section));
    Report {
        pipeline: p.name.clone(),
        source: String::new(),
        target: String::new(),
        timestamp: chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        mode: match depth {
            Depth::Full => "full: every row compared".into(),
            Depth::Sample(n) => format!("sample: {n} random rows per table, plus exact counts"),
        },
        seconds: 0.0,
        position: None,
        rows_read,
        checks,
        tables,
        manual: report::manual_checks(),
    }
}

fn fail(section: Section, subject: &str, evidence: String) -> Check {
    Check { section, subject: subject.to_string(), outcome: Outcome::Fail, evidence, keys: Vec::new() }
}

/// A critical table (named by its source or its target name) must be present and not empty.
async fn critical_check(
    ctx: &Ctx<'_>,
    plan: &plan::Plan,
    pg_tables: &[PgTable],
    results: &[(String, ContentResult)],
    c: &String,
) -> Result<Check> {
    let planned = plan.tables.iter().find(|t| &t.target == c).map_or(c.as_str(), |t| t.name());
    let rows = match results.iter().find(|(t, _)| t == planned) {
        Some((_, r)) => Some(r.target_rows),
        None if pg_tables.iter().any(|t| &t.name == c) => {
            let q = format!("SELECT count(*) FROM {}", qualified(ctx.schema, c));
            let n: i64 =
                ctx.client.query_one(&q, &[]).await.map_err(|e| Error::postgres(format!("counting `{c}`"), &e))?.get(0);
            Some(n as u64)
        }
        None => None,
    };
    Ok(match rows {
        None => fail(Section::CriticalTables, c, "missing in the target".into()),
        Some(0) => fail(Section::CriticalTables, c, "present but empty".into()),
        Some(n) => Check {
            section: Section::CriticalTables,
            subject: c.clone(),
            outcome: Outcome::Pass,
            evidence: format!("present, {}", report::rows(n)),
            keys: Vec::new(),
        },
    })
}
