//! `char(36)` columns in an export (docs/architecture.md, "The CSV export contract"): the export
//! lower-cases UUIDs only in a column whose values are all UUIDs (or `''`), decided by
//! the data in the run's snapshot, or that a `[[column]] type = "uuid"` rule types so.
//! Any other column is exported as it is: a code that merely looks like a UUID keeps
//! its case, as the direct load into a `varchar(36)` keeps it.

use super::plan::{typed_as, Plan};
use super::spec::{Pipeline, SinkSpec};
use crate::error::Result;
use crate::ident;
use crate::mysql::MySqlSource;
use crate::types::Logical;

/// The MySQL condition a value of column `c` (quoted) fails when it is neither a UUID
/// nor `''`.
fn not_uuid(c: &str) -> String {
    format!(
        "{c} <> '' AND {c} NOT REGEXP '^[0-9a-fA-F]{{8}}-[0-9a-fA-F]{{4}}-[0-9a-fA-F]{{4}}-[0-9a-fA-F]{{4}}-[0-9a-fA-F]{{12}}$'"
    )
}

/// With a file sink (CSV, Parquet), each `char(36)` column carried as a UUID that no
/// rule types so is checked: on a live source, one holding any value that is neither a
/// UUID nor `''` is carried as text. A dump is read once, so there such a column keeps
/// its UUIDs lower-cased (counted) until a value shows it holds other values too — then
/// the run stops naming it. Returns the notes saying so.
pub async fn decide_exports(p: &Pipeline, live: Option<&MySqlSource>, plan: &mut Plan) -> Result<Vec<String>> {
    if !p.sinks.iter().any(|s| matches!(s, SinkSpec::Csv { .. } | SinkSpec::Parquet { .. })) {
        return Ok(Vec::new());
    }
    let mut notes = Vec::new();
    let mut unread = Vec::new();
    for t in plan.tables.iter_mut() {
        let open: Vec<usize> = (0..t.spec.plans.len())
            .filter(|&i| {
                let cp = &t.spec.plans[i];
                cp.logical == Logical::Uuid
                    && !t.rules[i].strict_uuid
                    && typed_as(p, &t.spec.table.name, &cp.name) != Some("uuid")
            })
            .collect();
        if open.is_empty() {
            continue;
        }
        let Some(src) = live else {
            for &i in &open {
                t.rules[i].uuid_mixed = true;
                unread.push(format!("{}.{}", t.spec.table.name, t.spec.plans[i].name));
            }
            continue;
        };
        let sums: Vec<String> = open
            .iter()
            .map(|&i| {
                let c = ident::mysql(&t.spec.plans[i].name);
                format!("CAST(COALESCE(SUM(IF({c} IS NOT NULL AND {}, 1, 0)), 0) AS UNSIGNED)", not_uuid(&c))
            })
            .collect();
        let q = format!("SELECT {} FROM {}", sums.join(", "), ident::mysql(&t.spec.table.name));
        let rows: Vec<mysql_async::Row> = src.query(&q).await?;
        for (k, &i) in open.iter().enumerate() {
            let n = rows.first().and_then(|r| r.get::<Option<u64>, _>(k).flatten()).unwrap_or(0);
            if n == 0 {
                continue;
            }
            let name = t.spec.plans[i].name.clone();
            t.spec.plans[i].logical = Logical::Text;
            let ci = t.spec.columns[i];
            t.spec.table.columns[ci].logical = Logical::Text;
            notes.push(format!(
                "`{}`.`{name}` (char(36)) holds {n} values that are neither a UUID nor '': exported as text, every \
                 value as it is (no UUID in it lower-cased)",
                t.spec.table.name
            ));
        }
    }
    if !unread.is_empty() {
        // The first few name the kind; `plan` lists every column with its type.
        let shown = match unread.len() {
            n if n > 4 => format!("{}, … {} in all", unread[..3].join(", "), n),
            _ => unread.join(", "),
        };
        notes.push(format!(
            "char(36) columns of a dump ({shown}) are exported with their UUIDs lower-cased (counted), as columns of \
             UUIDs: a dump is read once, so a column found to hold other values too (besides '') stops the run naming \
             the value; a [[column]] type = \"text\" rule exports every value as it is"
        ));
    }
    Ok(notes)
}
