//! Comparing chosen keys of chosen tables, each table compared exactly as `verify`
//! compares it — the same plan, columns, canonical forms and key — but row by row for
//! those keys only (docs/architecture.md, "Verification", "Repair"): what `converge
//! repair` checks again before it commits.

use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;

use tokio_postgres::Client;

use super::digest::{ContentResult, Sides, TableCmp};
use super::{checks, table, Ctx, Depth};
use crate::error::{Error, Result};
use crate::mysql::MySqlSource;
use crate::pg::introspect::{introspect, postgis_schema};
use crate::pipeline::fit::fit_to_compare;
use crate::pipeline::plan::{self, Plan};
use crate::pipeline::spec::Pipeline;

/// Keys by source table: each key its canonical values, one per key column (as a verify
/// report's `values` gives them).
pub type Keys = BTreeMap<String, Vec<Vec<String>>>;

/// The plan `verify` compares by: the pipeline over the source's tables (introspected in
/// the source's snapshot), JSON read as the source reads it.
pub async fn plan_of(p: &Pipeline, src: &MySqlSource) -> Result<Plan> {
    let tables = src.introspect().await?;
    let mut plan = plan::build(p, tables).await?;
    plan::json_reading(&mut plan, Some(src.json_reading()));
    Ok(plan)
}

/// How each planned table is compared with the target `client` sees in `schema`, by
/// source table name, built as `verify` builds it (the plan fitted to the target for a
/// comparison, each table's columns and key). Tables the target lacks, and tables a
/// `[[transform]]` rewrites (whose values are not compared), are left out; a column the
/// target lacks is left out of its table's comparison.
pub async fn comparisons(
    plan: &Plan,
    src: &MySqlSource,
    client: &Client,
    schema: &str,
) -> Result<BTreeMap<String, TableCmp>> {
    let pg_tables = introspect(client, schema).await?;
    let mut plan = plan.clone();
    fit_to_compare(&mut plan.tables, &pg_tables);
    let source_indexes = checks::mysql_indexes(src).await?;
    let target_indexes = BTreeMap::new();
    let postgis = postgis_schema(client).await?;
    let ctx = Ctx {
        sides: Sides { my: src, pg: client, rows_read: AtomicU64::new(0) },
        client,
        schema,
        depth: Depth::Full,
        source_indexes: &source_indexes,
        target_indexes: &target_indexes,
        postgis: postgis.as_deref(),
    };
    let mut out = BTreeMap::new();
    for tp in plan.tables.iter().filter(|tp| tp.transform_sql.is_none()) {
        let Some(pt) = pg_tables.iter().find(|t| t.name == tp.target) else { continue };
        let mut missing_columns = Vec::new();
        out.insert(tp.name().to_string(), table::comparison(&ctx, tp, pt, &mut missing_columns));
    }
    Ok(out)
}

/// Compares `keys` table by table with the comparisons made by [`comparisons`]; a table
/// without one, or without a key, is an error. The results in table name order.
pub async fn compare_with(
    cmps: &BTreeMap<String, TableCmp>,
    src: &MySqlSource,
    client: &Client,
    keys: &Keys,
) -> Result<Vec<(String, ContentResult)>> {
    let sides = Sides { my: src, pg: client, rows_read: AtomicU64::new(0) };
    let mut out = Vec::with_capacity(keys.len());
    for (table, keys) in keys {
        let cmp = cmps.get(table).ok_or_else(|| {
            Error::other(format!(
                "`{table}` cannot be compared by key: it is not planned, the target lacks it, or a [[transform]] rewrites it"
            ))
        })?;
        out.push((table.clone(), sides.compare_keys(cmp, keys).await?));
    }
    Ok(out)
}

/// Compares `keys` (by source table) of the pipeline's source, in `src`'s snapshot, with
/// the target `pg_client` sees in `schema` — in its open transaction, if it has one.
pub async fn compare_keys(
    p: &Pipeline,
    src: &MySqlSource,
    pg_client: &Client,
    schema: &str,
    keys: &Keys,
) -> Result<Vec<(String, ContentResult)>> {
    let plan = plan_of(p, src).await?;
    let cmps = comparisons(&plan, src, pg_client, schema).await?;
    compare_with(&cmps, src, pg_client, keys).await
}
