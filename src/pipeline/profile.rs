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
use crate::feed::ZeroDate;
use crate::ident;
use crate::sink::postgres::copy::CopyColumn;
use crate::sink::postgres::introspect::{PgCheck, PgColumn, PgTable};
use crate::sink::postgres::pgtype::{Limit, PgTarget};
use crate::sink::postgres::target::TableTarget;
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
    let outputs = t.outputs();
    for (i, cp) in t.spec.plans.iter().enumerate() {
        let c = ident::mysql(&cp.name);
        // The output column carrying read column `i`: its COPY column and target name.
        let at = outputs.iter().position(|o| o.read == Some(i));
        let out_name = at.map(|p| outputs[p].name.clone()).unwrap_or_else(|| cp.name.clone());
        let mut add = |what: &str, cond: String| {
            out.push(Check {
                column: cp.name.clone(),
                what: what.into(),
                condition: format!("{c} IS NOT NULL AND ({cond})"),
            })
        };
        let copy = target.and_then(|(tt, _)| tt.columns.get(at?));
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
        if let (Some(k), Some((_, pt))) = (copy, target) {
            for (what, cond) in target_checks(&c, cp.logical, k, pt.column(&out_name)) {
                add(&what, cond);
            }
        }
        if let Some(n) = copy.and_then(|k| k.max_chars) {
            add(&format!("rejected: longer than the target's {n} characters"), format!("CHAR_LENGTH({c}) > {n}"));
        }
        let not_null = target.and_then(|(_, pt)| pt.column(&out_name)).is_some_and(|pc| pc.not_null);
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

/// What the target column's type refuses or changes, as MySQL conditions on column `c`
/// (quoted): enum labels it lacks, integer ranges, fractional parts bound for integers,
/// a numeric's precision and scale, fractional seconds, char(n) padding.
fn target_checks(c: &str, logical: Logical, k: &CopyColumn, pc: Option<&PgColumn>) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let changed = |what: String| {
        if k.allow_change {
            format!("changed (allowed by a [[column]] rule): {what}")
        } else {
            format!("rejected: {what} (a [[column]] rule with allow_change = true would allow it)")
        }
    };
    if let Some(pc) = pc.filter(|pc| pc.is_enum) {
        let labels: Vec<String> =
            pc.enum_labels.iter().map(|l| format!("'{}'", l.replace('\\', "\\\\").replace('\'', "''"))).collect();
        let list = if labels.is_empty() { "NULL".to_string() } else { labels.join(", ") };
        out.push((
            format!("rejected: not a label of the target enum {}", pc.sql_type),
            format!("BINARY {c} NOT IN ({list})"),
        ));
    }
    let numeric_source = logical.is_exact_number();
    let range = match k.target {
        PgTarget::Int2 => Some(("smallint", i16::MIN as i128, i16::MAX as i128)),
        PgTarget::Int4 => Some(("integer", i32::MIN as i128, i32::MAX as i128)),
        PgTarget::Int8 => Some(("bigint", i64::MIN as i128, i64::MAX as i128)),
        _ => None,
    };
    if let (Some((name, lo, hi)), true) = (range, numeric_source) {
        out.push((format!("rejected: outside {name}'s range"), format!("{c} < {lo} OR {c} > {hi}")));
        if matches!(logical, Logical::Decimal(_, s) if s > 0) {
            out.push(("rejected: a fractional part, bound for an integer".into(), format!("{c} <> TRUNCATE({c}, 0)")));
        }
    }
    match k.limit {
        Limit::Numeric { precision, scale }
            if numeric_source || matches!(logical, Logical::Float32 | Logical::Float64) =>
        {
            let whole = precision as i32 - scale as i32;
            out.push((
                format!(
                    "rejected: does not fit numeric({precision},{scale}) (at most {whole} digits before the point)"
                ),
                format!("ABS(ROUND({c}, {scale})) >= 1e{whole}"),
            ));
            out.push((
                changed(format!("rounded to {scale} digits after the point by numeric({precision},{scale})")),
                format!("{c} <> ROUND({c}, {scale})"),
            ));
        }
        Limit::Granule { micros, truncates: false }
            if matches!(logical, Logical::DateTime | Logical::Timestamp | Logical::Time) =>
        {
            out.push((
                changed(format!("fractional seconds rounded ({})", k.limit)),
                format!("MICROSECOND({c}) % {micros} <> 0"),
            ));
        }
        Limit::Padded(n) => {
            out.push((
                changed(format!("shorter than {n} characters, padded with spaces by char({n})")),
                format!("CHAR_LENGTH({c}) < {n}"),
            ));
        }
        _ => {}
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

impl Finding {
    /// The run would stop at these values (rather than carry them as a rule says).
    pub fn blocking(&self) -> bool {
        self.what.starts_with("rejected")
    }
}

/// The findings as JSON.
pub fn json(findings: &[Finding]) -> serde_json::Value {
    findings
        .iter()
        .map(|f| {
            serde_json::json!({
                "table": f.table, "column": f.column, "what": f.what, "count": f.count,
                "examples": f.examples, "blocking": f.blocking(),
            })
        })
        .collect()
}

/// Rows per round trip when CHECK constraints are evaluated in PostgreSQL.
const CHECK_CHUNK: usize = 5_000;

/// The target's CHECK constraints, evaluated by PostgreSQL itself on the source's values:
/// for each constraint, the columns it reads are read from the source (as text, in the
/// snapshot) and cast to the target's column types in PostgreSQL, which counts the rows
/// whose expression is false. A constraint that cannot be evaluated so (a value that
/// does not even cast) is reported as such, without blocking.
pub async fn check_constraints(
    src: &MySqlSource,
    pg: &tokio_postgres::Client,
    plan: &Plan,
    targets: (&[Option<TableTarget>], &[PgTable]),
) -> Result<Vec<Finding>> {
    let mut findings = Vec::new();
    for (ti, t) in plan.tables.iter().enumerate() {
        let Some(tt) = targets.0.get(ti).and_then(|x| x.as_ref()) else { continue };
        let Some(pt) = targets.1.iter().find(|p| p.name == tt.table) else { continue };
        for check in &pt.checks {
            let fed = check.columns.iter().all(|c| source_of(t, c).is_some());
            if !fed || check.columns.is_empty() {
                continue;
            }
            findings.push(evaluate_check(src, pg, t, pt, check).await?);
        }
    }
    findings.retain(|f| f.count > 0);
    Ok(findings)
}

/// The source column output column `out` carries (as it is or renamed).
fn source_of(t: &TablePlan, out: &str) -> Option<String> {
    let o = t.outputs().into_iter().find(|o| o.name == out)?;
    Some(t.spec.plans[o.read?].name.clone())
}

async fn evaluate_check(
    src: &MySqlSource,
    pg: &tokio_postgres::Client,
    t: &TablePlan,
    pt: &PgTable,
    check: &PgCheck,
) -> Result<Finding> {
    let key = &t.spec.table.primary_key;
    let shown: Vec<String> =
        key.iter().map(|c| format!("CONCAT('{}=', QUOTE({}))", c.replace('\'', "''"), ident::mysql(c))).collect();
    let key_sql = if shown.is_empty() { "''".to_string() } else { format!("CONCAT_WS(', ', {})", shown.join(", ")) };
    let cols: Vec<String> = check
        .columns
        .iter()
        .map(|c| format!("CAST({} AS CHAR)", ident::mysql(&source_of(t, c).unwrap_or_else(|| c.clone()))))
        .collect();
    let q = format!("SELECT {key_sql}, {} FROM {}", cols.join(", "), ident::mysql(t.name()));
    let mut rows: Vec<Vec<Option<String>>> = Vec::new();
    src.query_each(&q, |r| rows.push(r)).await?;
    // PostgreSQL casts the text to each column's type, then evaluates the expression.
    let width = check.columns.len();
    let params: Vec<String> = (0..=width).map(|i| format!("${}::text[]", i + 1)).collect();
    let names: Vec<String> = (0..width).map(|i| format!("v{i}")).collect();
    let typed: Vec<String> = check
        .columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let ty = pt.column(c).map_or("text".to_string(), |pc| pc.sql_type.clone());
            format!("v{i}::{ty} AS {}", ident::pg(c))
        })
        .collect();
    let sql = format!(
        "SELECT k FROM (SELECT k, {} FROM unnest({}) AS u(k, {})) s WHERE ({}) IS FALSE",
        typed.join(", "),
        params.join(", "),
        names.join(", "),
        check.expression
    );
    let mut finding = Finding {
        table: t.name().to_string(),
        column: check.columns.join(", "),
        what: format!("rejected: violates the target's CHECK constraint `{}` {}", check.name, check.expression),
        count: 0,
        examples: Vec::new(),
    };
    for chunk in rows.chunks(CHECK_CHUNK) {
        let arrays: Vec<Vec<Option<String>>> =
            (0..=width).map(|i| chunk.iter().map(|r| r.get(i).cloned().flatten()).collect()).collect();
        let refs: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> =
            arrays.iter().map(|a| a as &(dyn tokio_postgres::types::ToSql + Sync)).collect();
        match pg.query(&sql, &refs).await {
            Ok(bad) => {
                finding.count += bad.len() as u64;
                for r in bad.iter().take(3usize.saturating_sub(finding.examples.len())) {
                    finding.examples.push(r.get::<_, Option<String>>(0).unwrap_or_default());
                }
            }
            Err(e) => {
                let why = e.as_db_error().map_or(e.to_string(), |d| d.message().to_string());
                finding.what = format!(
                    "not checked: the target's CHECK constraint `{}` could not be evaluated on the source's values ({why})",
                    check.name
                );
                finding.count = chunk.len() as u64;
                return Ok(finding);
            }
        }
    }
    Ok(finding)
}

/// The findings as text for `converge plan --profile`.
pub fn render(findings: &[Finding]) -> String {
    if findings.is_empty() {
        return "\nprofile: no value would be rejected or changed\n".into();
    }
    let blocking = findings.iter().filter(|f| f.blocking()).count();
    let mut o = format!("\nprofile: {} findings, {blocking} of them would stop the run\n", findings.len());
    for f in findings {
        let _ =
            writeln!(o, "  - {}.{}: {} values {} (e.g. {})", f.table, f.column, f.count, f.what, f.examples.join("; "));
    }
    o
}
