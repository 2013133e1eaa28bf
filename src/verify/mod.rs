//! `converge verify`: after a migration, compares the source (a live MySQL/MariaDB, read
//! in one consistent snapshot) with the PostgreSQL target (one exported snapshot shared
//! by its sessions), tables side by side, the way the operator guide's
//! verification checklist asks — exact counts, critical tables, foreign keys, every
//! value through canonical row digests with key-range bisection, JSON, UUIDs,
//! sequences, indexes — and reports it (terminal, Markdown, JSON).

pub mod canon;
pub mod checks;
pub mod digest;
pub mod json;
pub mod report;
pub mod strength;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use crate::error::{Error, Result};
use crate::ident::pg_qualified as qualified;
use crate::pipeline::fit::fit_targets;
use crate::pipeline::plan;
use crate::pipeline::source;
use crate::pipeline::spec::Pipeline;
use std::collections::BTreeMap;

use crate::sink::postgres::introspect::{introspect, PgTable};
use crate::sink::postgres::load::connect;
use crate::types::Logical;
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
    src: &crate::source::mysql::MySqlSource,
    pg: &tokio_postgres::Client,
    schema: &str,
    tp: &plan::TablePlan,
    pt: &crate::sink::postgres::introspect::PgTable,
) -> Result<(u64, u64, bool)> {
    let name = tp.name().to_string();
    let mut columns = Vec::new();
    for ((cp, r), out) in tp.spec.plans.iter().zip(&tp.rules).zip(tp.read_out_names()) {
        let Some(out) = out else { return Ok((0, 0, false)) };
        let Some(tc) = pt.column(&out) else { return Ok((0, 0, false)) };
        let source = tp.spec.table.columns.iter().find(|c| c.name == cp.name).map(|c| &c.mysql);
        columns.push(canon::column_of(&pair(cp, &out, tc, r, source, &tp.spec.table.primary_key)));
    }
    let pk = &tp.spec.table.primary_key;
    let key: Vec<usize> = pk.iter().filter_map(|k| columns.iter().position(|c| &c.name == k)).collect();
    let key = if key.len() == pk.len() { key } else { Vec::new() };
    let cmp = TableCmp { name: name.clone(), pg_table: qualified(schema, &tp.target), columns, key };
    let sides = Sides { my: src, pg, rows_read: AtomicU64::new(0) };
    sides.digest_whole(&cmp).await
}

/// One planned column and its target column, as the canonical forms take them.
fn pair<'a>(
    cp: &'a crate::feed::ColumnPlan,
    out: &'a str,
    tc: &'a crate::sink::postgres::introspect::PgColumn,
    rule: &crate::transform::normalize::Rules,
    source: Option<&'a crate::types::MySqlType>,
    key: &[String],
) -> canon::Pair<'a> {
    canon::Pair {
        name: &cp.name,
        pg_name: out,
        logical: cp.logical,
        pg_type: &tc.type_name,
        pg_enum: tc.is_enum,
        is_bit: cp.is_bit,
        zone: rule.zone.map(|z| z.name()),
        source,
        pg_typmod: tc.typmod,
        key: key.contains(&cp.name),
    }
}

/// Compares the pipeline's source and its PostgreSQL sink.
pub async fn verify(p: &Pipeline, depth: Depth) -> Result<Report> {
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
        // As many target sessions as the source reads with, in one snapshot.
        let workers = if src.parallel() { src.connections().clamp(1, MAX_WORKERS) } else { 1 };
        let clients = snapshot_clients(url, workers).await?;
        let mut report = compare(p, depth, src, &clients, schema, tables).await?;
        report.source = opened.describe();
        report.target = crate::secret::redact_url(url);
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

/// `n` target sessions in one REPEATABLE READ snapshot: the first exports it
/// (`pg_export_snapshot()`), the others take it (`SET TRANSACTION SNAPSHOT`), so every
/// table is compared with the same state of the target, whichever session reads it.
pub async fn snapshot_clients(url: &str, n: usize) -> Result<Vec<tokio_postgres::Client>> {
    let q = |e: tokio_postgres::Error| Error::postgres("opening the target's snapshot", &e);
    let first = connect(url).await?;
    first.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY").await.map_err(q)?;
    let id: String = first.query_one("SELECT pg_export_snapshot()", &[]).await.map_err(q)?.get(0);
    let mut out = vec![first];
    for _ in 1..n {
        let c = connect(url).await?;
        let take = format!(
            "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET TRANSACTION SNAPSHOT {}",
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
}

/// One table's checks and content result, as a worker found them.
type TableOutcome = (Vec<Check>, ContentResult, u64);

/// Compares the planned tables that the target has (`work`: indexes into the plan),
/// largest first, over one session pair per worker; the outcomes by plan index.
async fn compare_tables(
    base: &Ctx<'_>,
    clients: &[tokio_postgres::Client],
    plan: &plan::Plan,
    work: Vec<(usize, &PgTable)>,
) -> Result<BTreeMap<usize, TableOutcome>> {
    let mut work = work;
    work.sort_by_key(|(i, _)| std::cmp::Reverse(plan.tables[*i].spec.table.estimated_rows));
    let queue = std::sync::Mutex::new(std::collections::VecDeque::from(work));
    let done = std::sync::Mutex::new(BTreeMap::new());
    let (queue_ref, done_ref) = (&queue, &done);
    let workers = clients.iter().map(|client| {
        let (queue, done) = (queue_ref, done_ref);
        async move {
            loop {
                let Some((i, pt)) = queue.lock().expect("queue").pop_front() else { return Ok::<_, Error>(()) };
                let ctx = Ctx {
                    sides: Sides { my: base.sides.my, pg: client, rows_read: AtomicU64::new(0) },
                    client,
                    ..*base
                };
                let mut checks = Vec::new();
                let res = verify_table(&ctx, &plan.tables[i], pt, &mut checks).await?;
                let read = ctx.sides.rows_read.load(Ordering::Relaxed);
                done.lock().expect("results").insert(i, (checks, res, read));
            }
        }
    });
    futures::future::try_join_all(workers).await?;
    Ok(done.into_inner().expect("results"))
}

/// Every check of the operator guide's verification, table by table, then the
/// critical tables, foreign keys and sequences.
async fn compare(
    p: &Pipeline,
    depth: Depth,
    src: &crate::source::mysql::MySqlSource,
    clients: &[tokio_postgres::Client],
    schema: &str,
    tables: Vec<crate::schema::Table>,
) -> Result<Report> {
    let client = &clients[0];
    let pg_tables = introspect(client, schema).await?;
    let mut plan = plan::build(p, tables).await?;
    let check = fit_targets(&mut plan.tables, &pg_tables).1;
    let (source_indexes, target_indexes) =
        (checks::mysql_indexes(src).await?, checks::pg_indexes(client, schema).await?);
    let ctx = Ctx {
        sides: Sides { my: src, pg: client, rows_read: AtomicU64::new(0) },
        client,
        schema,
        depth,
        source_indexes: &source_indexes,
        target_indexes: &target_indexes,
    };
    let found: Vec<Option<&PgTable>> =
        plan.tables.iter().map(|tp| pg_tables.iter().find(|t| t.name == tp.target)).collect();
    let work = found.iter().enumerate().filter_map(|(i, pt)| pt.map(|pt| (i, pt))).collect();
    let mut outcomes = compare_tables(&ctx, clients, &plan, work).await?;
    let mut checks: Vec<Check> = Vec::new();
    let mut results: Vec<(String, ContentResult)> = Vec::new();
    let mut verified = Vec::new();
    for (i, tp) in plan.tables.iter().enumerate() {
        let Some(pt) = found[i] else {
            checks.push(fail(Section::RowCounts, tp.name(), format!("no table `{}` in the target", tp.target)));
            continue;
        };
        verified.push(pt);
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
    checks.extend(checks::foreign_keys(client, schema, &pg_tables).await?);
    checks.extend(checks::sequences(client, schema, &verified).await?);
    checks.sort_by_key(|c| Section::ALL.iter().position(|s| *s == c.section));
    Ok(Report {
        pipeline: p.name.clone(),
        source: String::new(),
        target: String::new(),
        timestamp: chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        mode: match depth {
            Depth::Full => "full: every row compared".into(),
            Depth::Sample(n) => format!("sample: {n} random rows per table, plus exact counts"),
        },
        seconds: 0.0,
        rows_read: ctx.sides.rows_read.load(Ordering::Relaxed),
        checks,
        tables: results,
        manual: report::manual_checks(),
    })
}

fn fail(section: Section, subject: &str, evidence: String) -> Check {
    Check { section, subject: subject.to_string(), outcome: Outcome::Fail, evidence, keys: Vec::new() }
}

/// One table: its counts and content, its JSON and UUID columns, its indexes.
async fn verify_table(
    ctx: &Ctx<'_>,
    tp: &plan::TablePlan,
    pt: &PgTable,
    checks: &mut Vec<Check>,
) -> Result<ContentResult> {
    let name = tp.name().to_string();
    let pg_name = tp.target.clone();
    let table = &tp.spec.table;
    let out_names = tp.read_out_names();
    let none = Vec::new();
    let unique = ctx.source_indexes.get(&name).unwrap_or(&none);
    let key_columns = comparison_key(table, unique);
    let mut columns = Vec::new();
    for ((cp, r), out) in tp.spec.plans.iter().zip(&tp.rules).zip(&out_names) {
        // A column a [[transform]] leaves out is not in the target to compare.
        let Some(out) = out else { continue };
        match pt.column(out) {
            Some(tc) => {
                let source = table.columns.iter().find(|c| c.name == cp.name);
                let (collation, charset) = (
                    source.and_then(|c| c.facts.collation.as_deref()),
                    source.and_then(|c| c.mysql.charset.as_deref()),
                );
                let c = canon::column_of(&pair(cp, out, tc, r, source.map(|c| &c.mysql), &key_columns));
                columns.push(if cp.logical == Logical::Uuid { c.bound_by_index(collation, charset) } else { c });
            }
            None => checks.push(fail(
                Section::Content,
                &format!("{name}.{}", cp.name),
                format!("the column is missing in the target (as `{pg_name}`.`{out}`)"),
            )),
        }
    }
    let key: Vec<usize> = key_columns.iter().filter_map(|k| columns.iter().position(|c| &c.name == k)).collect();
    let key = if key.len() == key_columns.len() { key } else { Vec::new() };
    let cmp = TableCmp { name: name.clone(), pg_table: qualified(ctx.schema, &pg_name), columns, key };
    let key_names: Vec<String> = cmp.key.iter().map(|&i| cmp.columns[i].pg_name.clone()).collect();
    let res = if tp.transform_sql.is_some() {
        // A [[transform]] rewrites rows: count them, do not compare their values.
        let mut r = ctx.sides.compare_sample(&cmp, 0).await?;
        r.equal = r.source_rows == r.target_rows;
        r.note = Some("the table has a [[transform]]: values are not compared with the source".into());
        r
    } else {
        match ctx.depth {
            Depth::Full => ctx.sides.compare_full(&cmp).await?,
            Depth::Sample(n) => ctx.sides.compare_sample(&cmp, n).await?,
        }
    };
    let counted = format!("{} in the source, {} in the target", report::rows(res.source_rows), res.target_rows);
    checks.push(Check {
        section: Section::RowCounts,
        subject: name.clone(),
        outcome: if res.source_rows == res.target_rows { Outcome::Pass } else { Outcome::Fail },
        evidence: counted,
        keys: Vec::new(),
    });
    checks.push(content_check(&name, &res, ctx.depth, tp.transform_sql.is_some()));
    for (cp, out) in tp.spec.plans.iter().zip(&out_names) {
        let Some(out) = out else { continue };
        let (Some(tc), Some(col)) = (pt.column(out), table.columns.iter().find(|c| c.name == cp.name)) else {
            continue;
        };
        let subject = format!("{name}.{}", cp.name);
        let json = cp.logical == Logical::Json;
        let uuid = matches!(col.logical, Logical::Uuid | Logical::UuidBinary) || tc.type_name == "uuid";
        checks.extend(typed_checks(ctx, &subject, &pg_name, out, &tc.type_name, (json, uuid), &key_names).await?);
    }
    let carried: Vec<String> = tp.outputs().into_iter().map(|o| o.name).collect();
    for ix in ctx.source_indexes.get(&name).unwrap_or(&none) {
        // The source's index under the target's column names.
        let mut ix = ix.clone();
        ix.columns = ix.columns.iter().map(|c| tp.out_name(c)).collect();
        checks.push(checks::index_check(&name, &ix, ctx.target_indexes.get(&pg_name).unwrap_or(&none), &carried));
    }
    Ok(res)
}

/// The JSON and UUID checks of one column: passed by the target's own type (`jsonb`,
/// `uuid` checked every value on the way in), else every stored text checked.
async fn typed_checks(
    ctx: &Ctx<'_>,
    subject: &str,
    pg_table: &str,
    column: &str,
    type_name: &str,
    (json, uuid): (bool, bool),
    key_names: &[String],
) -> Result<Vec<Check>> {
    let typed = |section, what: &str| Check {
        section,
        subject: subject.to_string(),
        outcome: Outcome::Pass,
        evidence: format!("stored as {what}: PostgreSQL checked every value on the way in"),
        keys: Vec::new(),
    };
    let mut out = Vec::new();
    if json {
        out.push(match type_name {
            "json" | "jsonb" => typed(Section::Json, type_name),
            _ => checks::json_text(ctx.client, ctx.schema, pg_table, column, key_names).await?,
        });
    }
    if uuid {
        match type_name {
            "uuid" => out.push(typed(Section::Uuid, "uuid")),
            "bytea" => {}
            _ => out.push(checks::uuid_text(ctx.client, ctx.schema, pg_table, column, key_names).await?),
        }
    }
    Ok(out)
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

fn content_check(table: &str, r: &ContentResult, depth: Depth, transformed: bool) -> Check {
    let how = match depth {
        Depth::Full => format!("{} digested on both sides", report::rows(r.compared)),
        Depth::Sample(_) => format!("{} sampled and compared", report::rows(r.compared)),
    };
    let (outcome, evidence) = if transformed {
        (Outcome::Skip, r.note.clone().unwrap_or_default())
    } else if r.equal {
        match depth {
            Depth::Sample(_) => {
                (Outcome::Pass, format!("{how}: equal; {}", strength::describe(r.target_rows, r.compared)))
            }
            Depth::Full => (Outcome::Pass, format!("{how}: equal")),
        }
    } else if let Some(note) = &r.note {
        (Outcome::Fail, format!("{how}: content differs; {note}"))
    } else {
        let more = if r.truncated { " (first ones listed; more differ)" } else { "" };
        let differ =
            if r.diffs.len() == 1 { "1 row differs".to_string() } else { format!("{} rows differ", r.diffs.len()) };
        (Outcome::Fail, format!("{how}: {differ}{more}, located by key-range search"))
    };
    Check {
        section: Section::Content,
        subject: table.to_string(),
        outcome,
        evidence,
        keys: r.diffs.iter().map(report::show_diff).collect(),
    }
}
