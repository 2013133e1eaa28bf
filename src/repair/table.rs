//! One table's repair: what it writes with (the copy's plan fitted to the target, the
//! apply's target, verify's comparison for the key), the source's rows of its keys read
//! and normalised as the copy reads them, and their replacement in the target
//! (docs/architecture.md, "Repair").

use arrow::record_batch::RecordBatch;
use tokio_postgres::Client;

use crate::error::{Error, Result};
use crate::mysql::MySqlSource;
use crate::pg::introspect::PgTable;
use crate::pipeline::plan::{Plan, TablePlan};
use crate::sink::postgres::apply::replace::{replace, Replaced};
use crate::sink::postgres::apply::ApplyTable;
use crate::sink::postgres::target::TableTarget;
use crate::transform::normalize::Normalizer;
use crate::verify::digest::TableCmp;

/// Keys per source query and per target `DELETE`.
const KEYS_PER_QUERY: usize = 500;

/// One table to repair.
pub(super) struct Job<'a> {
    /// The source table.
    pub table: String,
    /// Its plan, fitted to the target as the copy fits it.
    pub plan: &'a TablePlan,
    /// How verify compares it: its key and the key's predicates on either side.
    pub cmp: &'a TableCmp,
    /// Where its rows go.
    pub apply: ApplyTable,
    /// The keys to repair, each once.
    pub keys: Vec<Vec<String>>,
}

/// The job of one table, or why it cannot be repaired.
pub(super) fn job<'a>(
    table: &str,
    keys: &[Vec<String>],
    plan: &'a Plan,
    targets: &[Option<TableTarget>],
    pg_tables: &[PgTable],
    cmp: Option<&'a TableCmp>,
) -> Result<Job<'a>> {
    let cannot = |why: String| Error::other(format!("`{table}` cannot be repaired: {why}"));
    let i = plan
        .tables
        .iter()
        .position(|t| t.name() == table)
        .ok_or_else(|| cannot("the pipeline does not carry it".into()))?;
    let tp = &plan.tables[i];
    if tp.transform_sql.is_some() {
        return Err(cannot("a [[transform]] rewrites its rows (verify does not compare their values)".into()));
    }
    let tt = targets[i].as_ref().ok_or_else(|| cannot(format!("it does not fit its target table `{}`", tp.target)))?;
    let cmp = cmp.ok_or_else(|| cannot(format!("the target has no table `{}`", tp.target)))?;
    if cmp.key.is_empty() {
        return Err(cannot("it has no key (primary key, or unique key of NOT NULL columns)".into()));
    }
    if let Some(k) = keys.iter().find(|k| k.len() != cmp.key.len()) {
        return Err(cannot(format!("the key {k:?} has {} values, its key {} columns", k.len(), cmp.key.len())));
    }
    let pg = pg_tables.iter().find(|t| t.name == tt.table);
    let source_key: Vec<String> = tp.spec.table.primary_key.iter().map(|k| tp.out_name(k)).collect();
    let mut unique = Vec::with_capacity(keys.len());
    for k in keys {
        if !unique.contains(k) {
            unique.push(k.clone());
        }
    }
    let apply = ApplyTable::new(table, tt, pg, source_key);
    Ok(Job { table: table.to_string(), plan: tp, cmp, apply, keys: unique })
}

/// The source's rows of the job's keys in `src`'s snapshot, decoded and normalised as
/// the copy does: batches in the target's COPY column order, and their row count.
pub(super) async fn source_rows(src: &MySqlSource, job: &Job<'_>) -> Result<(Vec<RecordBatch>, u64)> {
    let tp = job.plan;
    let ctx = crate::transform::session();
    let mut norm =
        Normalizer::new(&ctx, tp.name(), tp.spec.plans.clone(), tp.rules.clone(), &tp.spec.table.primary_key)?;
    let (mut out, mut n) = (Vec::new(), 0u64);
    for chunk in job.keys.chunks(KEYS_PER_QUERY) {
        for batch in src.read_where(&tp.spec, &job.cmp.source_in_keys(chunk)).await? {
            n += batch.num_rows() as u64;
            out.push(norm.apply(&batch)?);
        }
    }
    Ok((out, n))
}

/// Deletes every key of the job from the target and inserts `rows`, in `client`'s open
/// transaction (`n` numbers its staging table).
pub(super) async fn write(
    client: &Client,
    schema: &str,
    n: usize,
    job: &Job<'_>,
    rows: Vec<RecordBatch>,
) -> Result<Replaced> {
    let delete: Vec<String> = job.keys.chunks(KEYS_PER_QUERY).map(|c| job.cmp.target_in_keys(c)).collect();
    replace(client, schema, n, job.apply.clone(), &delete, rows).await
}
