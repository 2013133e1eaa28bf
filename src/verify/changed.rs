//! The cut-over's proof: only the rows changed since the last online verify passed
//! (the follower records every key it changes, in its apply transaction:
//! `pg::changed`), or every row when none passed (docs/architecture.md, "Proving while
//! live").

use std::sync::atomic::AtomicU64;

use tokio_postgres::Client;

use super::digest::{ContentResult, Sides, TableCmp};
use super::report::Report;
use super::{compare, keyed, Depth};
use crate::error::{Error, Result};
use crate::manifest::BinlogPosition;
use crate::mysql::MySqlSource;
use crate::pg::changed::ChangedKeys;
use crate::pipeline::spec::Pipeline;
use crate::schema::Table;

/// Compares what changed since the last proof, in the two snapshots the caller holds
/// (`clients`: at least two sessions in the target's snapshot); what was compared, and
/// what differs.
pub async fn since_proof(
    p: &Pipeline,
    src: &MySqlSource,
    clients: &[Client],
    schema: &str,
    tables: Vec<Table>,
) -> Result<(String, Vec<String>)> {
    let stored = crate::pg::state::read_follow(&clients[0], &p.name, schema).await?;
    let Some(proven) = stored.and_then(|s| s.proven) else {
        let r = compare(p, Depth::Full, src, clients, schema, tables, true).await?;
        let detail = format!("no online verify had passed: every row compared ({} rows read)", r.rows_read);
        return Ok((detail, failures(&r)));
    };
    let changed = crate::pg::changed::read(&clients[0], &p.name, schema).await?;
    let plan = keyed::plan_of(p, src).await?;
    let cmps = keyed::comparisons(&plan, src, &clients[0], schema).await?;
    let sides = Sides { my: src, pg: &clients[0], rows_read: AtomicU64::new(0) };
    let (mut keys, mut out) = (0usize, Vec::new());
    for c in &changed {
        let Some(tp) = plan.tables.iter().find(|tp| tp.target == c.table) else { continue };
        let Some(cmp) = cmps.get(tp.name()) else { continue };
        let res = match canonical_keys(&clients[0], cmp, c).await? {
            Some(canonical) => {
                keys += canonical.len();
                sides.compare_keys(cmp, &canonical).await?
            }
            None => whole(&sides, cmp).await?,
        };
        if !res.equal {
            let diffs: Vec<String> = res.diffs.iter().map(super::report::show_diff).collect();
            out.push(format!(
                "`{}` differs: {}",
                cmp.name,
                if diffs.is_empty() { "its digest".into() } else { diffs.join("; ") }
            ));
        }
    }
    Ok((describe(keys, &changed, &proven), out))
}

/// A table compared whole: digested on both sides, its differing rows located by key.
async fn whole(sides: &Sides<'_>, cmp: &TableCmp) -> Result<ContentResult> {
    let mut parts = Vec::new();
    for part in sides.split(cmp, 1).await? {
        parts.push(sides.digest_part(cmp, part).await?);
    }
    sides.locate(cmp, parts).await
}

fn describe(keys: usize, changed: &[ChangedKeys], proven: &BinlogPosition) -> String {
    let whole = changed.iter().filter(|c| c.whole_table).count();
    let whole = if whole > 0 { format!(" ({whole} compared whole: truncated)") } else { String::new() };
    format!("{keys} keys in {} tables{whole} changed since the online verify at {proven}", changed.len())
}

/// The canonical key values of `changed`'s keys (the target's own key values, as text),
/// made by the target's canonical key expressions over them; None when the table must
/// be compared whole (it was truncated, or its changes were recorded by other columns
/// than its comparison key).
async fn canonical_keys(pg: &Client, cmp: &TableCmp, changed: &ChangedKeys) -> Result<Option<Vec<Vec<String>>>> {
    let (select, names) = cmp.target_key_select();
    if changed.whole_table || primary_key(pg, &cmp.pg_table).await? != names {
        return Ok(None);
    }
    let types = key_types(pg, &cmp.pg_table, &names).await?;
    let casts: Vec<String> = names
        .iter()
        .zip(&types)
        .enumerate()
        .map(|(i, (n, t))| format!("u.c{i}::{t} AS {}", crate::ident::pg(n)))
        .collect();
    let arrays: Vec<String> = (0..names.len()).map(|i| format!("${}::text[]", i + 1)).collect();
    let outs: Vec<String> = (0..names.len()).map(|i| format!("c{i}")).collect();
    let q = format!(
        "SELECT {} FROM (SELECT {} FROM unnest({}) AS u({})) AS x",
        select.join(", "),
        casts.join(", "),
        arrays.join(", "),
        outs.join(", ")
    );
    let columns: Vec<Vec<Option<String>>> =
        (0..names.len()).map(|i| changed.keys.iter().map(|k| k.get(i).cloned().flatten()).collect()).collect();
    let params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> =
        columns.iter().map(|c| c as &(dyn tokio_postgres::types::ToSql + Sync)).collect();
    let rows = pg
        .query(q.as_str(), &params)
        .await
        .map_err(|e| Error::postgres(format!("making the changed keys of `{}` canonical", cmp.name), &e))?;
    Ok(Some(
        rows.iter()
            .map(|r| (0..names.len()).map(|i| r.get::<_, Option<String>>(i).unwrap_or_default()).collect())
            .collect(),
    ))
}

/// The target's primary key columns of `table`, in order (what the apply keys by).
async fn primary_key(pg: &Client, table: &str) -> Result<Vec<String>> {
    let q = "SELECT a.attname::text FROM pg_index i
               JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
              WHERE i.indrelid = $1::text::regclass AND i.indisprimary
              ORDER BY array_position(i.indkey::int2[], a.attnum)";
    let rows = pg.query(q, &[&table]).await.map_err(|e| Error::postgres(format!("reading the key of {table}"), &e))?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// The target types of `columns` of `table` (quoted, schema-qualified), as SQL.
async fn key_types(pg: &Client, table: &str, columns: &[String]) -> Result<Vec<String>> {
    let q = "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a
              WHERE a.attrelid = $1::text::regclass AND a.attnum > 0 AND NOT a.attisdropped";
    let rows =
        pg.query(q, &[&table]).await.map_err(|e| Error::postgres(format!("reading the columns of {table}"), &e))?;
    columns
        .iter()
        .map(|c| {
            rows.iter()
                .find(|r| r.get::<_, String>(0) == *c)
                .map(|r| r.get::<_, String>(1))
                .ok_or_else(|| Error::other(format!("{table} has no column `{c}`")))
        })
        .collect()
}

/// A report's failed checks, one line each.
pub fn failures(r: &Report) -> Vec<String> {
    r.failures()
        .iter()
        .map(|c| {
            let keys = if c.keys.is_empty() { String::new() } else { format!(" [{}]", c.keys.join("; ")) };
            format!("{} `{}`: {}{keys}", c.section.short(), c.subject, c.evidence)
        })
        .collect()
}
