//! `converge plan --profile`: reads the data once, inside the snapshot, and reports per
//! column every value the run would reject or change — booleans outside 0/1, non-UUIDs
//! bound for uuid, invalid JSON, zero dates, invalid UTF-8, values longer than the target column, NULLs
//! bound for NOT NULL, UUIDs that will be lower-cased — with counts and example keys, so
//! the data can be fixed before the downtime window instead of failing inside it.
//!
//! One `SELECT SUM(…), SUM(…) … FROM t` per table counts every check in a single scan on
//! the server; example keys are fetched only for the checks that found something.

use std::fmt::Write;

use super::plan::{Plan, TablePlan};
use crate::error::Result;
use crate::ident;
use crate::sink::postgres::copy::PgTarget;
use crate::sink::postgres::introspect::PgTable;
use crate::sink::postgres::target::TableTarget;
use crate::source::cell::ZeroDate;
use crate::source::mysql::MySqlSource;
use crate::types::Logical;

/// What one check found in one column.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    /// The table.
    pub table: String,
    /// The column.
    pub column: String,
    /// What the run would do with these values.
    pub what: String,
    /// How many values.
    pub count: u64,
    /// Up to three example keys.
    pub examples: Vec<String>,
}

struct Check {
    column: String,
    what: String,
    condition: String,
}

fn checks(t: &TablePlan, target: Option<(&TableTarget, &PgTable)>) -> Vec<Check> {
    let mut out = Vec::new();
    for (i, cp) in t.spec.plans.iter().enumerate() {
        let c = ident::mysql(&cp.name);
        let mut add = |what: &str, cond: String| {
            out.push(Check {
                column: cp.name.clone(),
                what: what.into(),
                condition: format!("{c} IS NOT NULL AND ({cond})"),
            })
        };
        let copy = target.and_then(|(tt, _)| tt.columns.get(i));
        match cp.logical {
            Logical::Bool => add("rejected: not 0 or 1 in a boolean column", format!("{c} NOT IN (0, 1)")),
            Logical::Uuid if copy.is_some_and(|k| k.target == PgTarget::Uuid) => add(
                "rejected: not a UUID, bound for a uuid column",
                format!("{c} NOT REGEXP '^[0-9a-fA-F]{{8}}-[0-9a-fA-F]{{4}}-[0-9a-fA-F]{{4}}-[0-9a-fA-F]{{4}}-[0-9a-fA-F]{{12}}$'"),
            ),
            Logical::Json => add("rejected: invalid JSON", format!("NOT JSON_VALID({c})")),
            Logical::Date | Logical::DateTime | Logical::Timestamp => add(
                if cp.zero_date == ZeroDate::Null { "changed: zero date written as NULL" } else { "rejected: zero date" },
                format!("CAST({c} AS CHAR) LIKE '0000%' OR CAST({c} AS CHAR) LIKE '%-00%'"),
            ),
            _ => {}
        }
        let binary_source = t.spec.table.column_index(&cp.name).is_some_and(|ci| {
            let m = &t.spec.table.columns[ci].mysql;
            m.charset.is_none() || m.charset.as_deref() == Some("binary")
        });
        if matches!(cp.logical, Logical::Text | Logical::Json | Logical::Uuid | Logical::Enum | Logical::Set)
            && binary_source
        {
            // Bytes carried as text (a [[column]] rule): they must be valid UTF-8.
            add(
                "rejected: invalid UTF-8",
                format!("CAST(CONVERT({c} USING utf8mb4) AS BINARY) <> CAST({c} AS BINARY)"),
            );
        }
        if cp.logical == Logical::Uuid && copy.is_none_or(|k| k.target == PgTarget::Uuid) {
            add("changed: upper-case UUID lower-cased", format!("BINARY {c} <> BINARY LOWER({c})"));
        }
        if let Some(n) = copy.and_then(|k| k.max_chars) {
            add(&format!("rejected: longer than the target's {n} characters"), format!("CHAR_LENGTH({c}) > {n}"));
        }
        let not_null = target.and_then(|(_, pt)| pt.column(&cp.name)).is_some_and(|pc| pc.not_null);
        if not_null && cp.nullable {
            out.push(Check {
                column: cp.name.clone(),
                what: "rejected: NULL bound for a NOT NULL column".into(),
                condition: format!("{c} IS NULL"),
            });
        }
    }
    out
}

/// Profiles every planned table of a live source.
pub async fn profile(
    src: &MySqlSource,
    plan: &Plan,
    targets: Option<(&[Option<TableTarget>], &[PgTable])>,
) -> Result<Vec<Finding>> {
    let mut findings = Vec::new();
    for (ti, t) in plan.tables.iter().enumerate() {
        let target = targets.and_then(|(tt, pts)| {
            let tt = tt.get(ti)?.as_ref()?;
            Some((tt, pts.iter().find(|p| p.name == tt.table)?))
        });
        let checks = checks(t, target);
        if checks.is_empty() {
            continue;
        }
        let table = ident::mysql(t.name());
        let sums: Vec<String> =
            checks.iter().map(|k| format!("CAST(COALESCE(SUM(IF({}, 1, 0)), 0) AS UNSIGNED)", k.condition)).collect();
        let counts: Vec<mysql_async::Row> = src.query(&format!("SELECT {} FROM {table}", sums.join(", "))).await?;
        let Some(row) = counts.first() else { continue };
        let key = &t.spec.table.primary_key;
        for (i, k) in checks.iter().enumerate() {
            let count: u64 = row.get::<Option<u64>, _>(i).flatten().unwrap_or(0);
            if count == 0 {
                continue;
            }
            let examples = if key.is_empty() {
                Vec::new()
            } else {
                let shown: Vec<String> = key
                    .iter()
                    .map(|c| format!("CONCAT('{}=', QUOTE({}))", c.replace('\'', "''"), ident::mysql(c)))
                    .collect();
                let q =
                    format!("SELECT CONCAT_WS(', ', {}) FROM {table} WHERE {} LIMIT 3", shown.join(", "), k.condition);
                src.query::<String>(&q).await?
            };
            findings.push(Finding {
                table: t.name().to_string(),
                column: k.column.clone(),
                what: k.what.clone(),
                count,
                examples,
            });
        }
    }
    Ok(findings)
}

/// The findings as text for `converge plan --profile`.
pub fn render(findings: &[Finding]) -> String {
    if findings.is_empty() {
        return "\nprofile: no value would be rejected or changed\n".into();
    }
    let mut o = format!("\nprofile: {} findings\n", findings.len());
    for f in findings {
        let _ =
            writeln!(o, "  - {}.{}: {} values {} (e.g. {})", f.table, f.column, f.count, f.what, f.examples.join("; "));
    }
    o
}
