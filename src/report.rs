//! Printing a run's result: a per-table summary, the ledger, the export directories,
//! the validations — as text for people and JSON for machines.

use std::fmt::Write;

use crate::run::RunReport;

/// Tables shown one per line at most in the terminal summary (`--verbose` shows all).
const TABLE_LINES: usize = 20;

/// Names listed at most in one line of the terminal summary (`--verbose` lists all).
const NAMES: usize = 8;

/// The run's result as text for a terminal: counts, and names only where something needs
/// attention (`--verbose`: every name; `--json`: everything).
pub fn run_text(r: &RunReport) -> String {
    render(r, false)
}

/// The run's result as text with every table and every name.
pub fn run_text_verbose(r: &RunReport) -> String {
    render(r, true)
}

/// `a, b, c` — or, past [`NAMES`] unless `all`, the first ones and how many more.
fn names(list: &[String], all: bool) -> String {
    if all || list.len() <= NAMES {
        return list.join(", ");
    }
    format!("{}, … and {} more (--verbose lists them)", list[..NAMES].join(", "), list.len() - NAMES)
}

fn render(r: &RunReport, verbose: bool) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "run {} finished in {:.2}s\n", r.migration_id, r.seconds);
    tables(&mut o, r, verbose);
    if verbose || r.ledger.rows.len() <= TABLE_LINES || !r.ledger.problems().is_empty() {
        let _ = writeln!(o, "row-count ledger:\n{}", r.ledger.render());
    } else {
        let _ = writeln!(
            o,
            "row-count ledger: {} tables, every count reconciled (--verbose shows it)",
            r.ledger.rows.len()
        );
    }
    for v in &r.validations {
        let _ = writeln!(o, "validation `{}`: {} (expected {})", v.name, v.got, v.expected);
    }
    for e in &r.exports {
        let _ = writeln!(o, "export: {}", e.display());
    }
    let skipped: Vec<String> = r.skipped.iter().map(|(t, why)| format!("{t} ({why})")).collect();
    if !skipped.is_empty() {
        let _ = writeln!(o, "not carried: {} tables: {}", skipped.len(), names(&skipped, verbose));
    }
    for n in &r.not_carried {
        let _ = writeln!(o, "not carried: {n}");
    }
    if let Some(b) = &r.binlog_position {
        let _ = writeln!(o, "snapshot at binlog position: {b}");
    }
    if let Some(l) = &r.load {
        load(&mut o, l, r.tables.len(), verbose);
    }
    let phases: Vec<String> = r.phases.iter().map(|(n, s)| format!("{n} {s:.2}s")).collect();
    let _ = writeln!(o, "phases: {}", phases.join(", "));
    if let Some(w) = &r.budget_warning {
        let _ = writeln!(o, "warning: downtime budget: {w}");
    }
    if let Some(v) = &r.verify {
        let failed = v.failures().len();
        let warned = v.warnings().len();
        let _ = writeln!(
            o,
            "verify: {} checks, {failed} failed, {warned} warnings ({}, {} rows read back)",
            v.checks.len(),
            v.mode,
            v.rows_read
        );
    }
    o
}

/// Bytes a table took: its files, or (a PostgreSQL-only run) its COPY stream.
fn table_bytes(r: &RunReport, t: &crate::run::table::TableOutcome) -> u64 {
    let files: u64 = t.files().map(|f| f.bytes).sum();
    if files > 0 {
        return files;
    }
    r.load.as_ref().and_then(|l| l.copy_bytes.iter().find(|(n, _)| n == &t.table)).map_or(0, |x| x.1)
}

/// The per-table lines (all with `verbose` or a small run; else the slowest few), the
/// total, and the zero dates written as NULL.
fn tables(o: &mut String, r: &RunReport, verbose: bool) {
    let mut shown: Vec<&crate::run::table::TableOutcome> = r.tables.iter().collect();
    let all = verbose || shown.len() <= TABLE_LINES;
    if !all {
        shown.sort_by(|a, b| b.seconds.total_cmp(&a.seconds));
        shown.truncate(5);
    }
    let w = shown.iter().map(|t| t.table.chars().count()).max().unwrap_or(5).max(5);
    let _ = writeln!(o, "{:<w$}  {:>12}  {:>14}  {:>8}  {:>12}", "table", "rows", "bytes", "seconds", "rows/s");
    for t in &shown {
        let rate = if t.seconds > 0.0 { t.transformed as f64 / t.seconds } else { 0.0 };
        let b = table_bytes(r, t);
        let _ = writeln!(o, "{:<w$}  {:>12}  {:>14}  {:>8.2}  {:>12.0}", t.table, t.transformed, b, t.seconds, rate);
    }
    if !all {
        let _ = writeln!(o, "{:<w$}  (the 5 slowest of {} tables; --verbose lists every one)", "…", r.tables.len());
    }
    let rows: u64 = r.tables.iter().map(|t| t.transformed).sum();
    let bytes: u64 = r.tables.iter().map(|t| table_bytes(r, t)).sum();
    let rate = if r.seconds > 0.0 { rows as f64 / r.seconds } else { 0.0 };
    let _ = writeln!(o, "{:<w$}  {:>12}  {:>14}  {:>8.2}  {:>12.0}\n", "total", rows, bytes, r.seconds, rate);
    let zero: Vec<String> = r
        .tables
        .iter()
        .flat_map(|t| {
            let zero = t
                .stats
                .zero_dates_nulled
                .iter()
                .map(move |(c, n)| format!("{n} zero dates in `{c}` written as NULL ({})", t.table));
            let normalized =
                t.stats.normalized.iter().map(move |(c, k, n)| format!("{n} {} in `{c}` ({})", k.describe(), t.table));
            zero.chain(normalized)
        })
        .collect();
    for z in zero.iter().take(if verbose { usize::MAX } else { NAMES }) {
        let _ = writeln!(o, "! {z}");
    }
    if !verbose && zero.len() > NAMES {
        let _ = writeln!(
            o,
            "! … and {} more columns with zero dates written as NULL or values changed (--verbose lists them)",
            zero.len() - NAMES
        );
    }
}

/// What the load did besides COPY: counts, and the names that need attention.
fn load(o: &mut String, l: &crate::sink::postgres::load::LoadSummary, tables: usize, verbose: bool) {
    if !l.created.is_empty() {
        let _ = writeln!(o, "created: {} tables (create = \"missing\"): {}", l.created.len(), l.created.join(", "));
    }
    let _ = write!(o, "load: COPY FREEZE on {} of {tables} tables", l.frozen.len());
    if verbose && !l.frozen.is_empty() {
        let _ = write!(o, " ({})", l.frozen.join(", "));
    }
    if !l.rebuilt_indexes.is_empty() {
        let _ = write!(o, "; {} indexes built after the load and proven as they were", l.rebuilt_indexes.len());
        if verbose {
            let _ = write!(o, " ({})", l.rebuilt_indexes.join(", "));
        }
    }
    let _ = writeln!(o, "; {} COPY stream{}", l.streams, if l.streams == 1 { "" } else { "s" });
    let _ = writeln!(o, "foreign keys: {}", l.foreign_keys);
    if let Some(t) = &l.state_table {
        let _ = writeln!(o, "per-table state: kept in the target, in {t} (written with each table's rows)");
    }
    if !l.triggers.is_empty() {
        let verdict = if l.triggers_disabled {
            "did NOT fire (triggers = \"disable\")"
        } else {
            "fired for every row, as for the application's inserts"
        };
        // Triggers that did not fire need attention: all named; those that fired, counted.
        let all = verbose || l.triggers_disabled;
        let _ = writeln!(o, "target triggers {verdict}: {} ({})", l.triggers.len(), names(&l.triggers, all));
    }
    let filled: u64 = l.audit_filled.iter().map(|f| f.3).sum();
    if !l.audit_filled.is_empty() {
        let mut cols: Vec<String> = l.audit_filled.iter().map(|f| format!("{} = {}", f.1, f.2)).collect();
        cols.sort();
        cols.dedup();
        let tables = l.audit_filled.iter().map(|f| &f.0).collect::<std::collections::BTreeSet<_>>().len();
        let _ = writeln!(
            o,
            "audit defaults: {filled} values filled in {tables} tables ({}), as the ORM fills a new row",
            cols.join(", ")
        );
    }
    for (t, c, n) in &l.float_exact {
        let _ = writeln!(
            o,
            "float: {n} FLOAT values of {t}.{c} loaded into double precision as the float's own value, which its \
             shortest decimal text reads otherwise (0.1 is 0.10000000149011612)"
        );
    }
    for (t, c, n) in &l.changed {
        let _ = writeln!(
            o,
            "changed: {n} values of {t}.{c} rounded, padded or given an SRID by the target's type (allowed by a [[column]] rule)"
        );
    }
}

/// The run's result as JSON.
pub fn run_json(r: &RunReport) -> String {
    let tables: Vec<serde_json::Value> = r
        .tables
        .iter()
        .map(|t| {
            let l = r.ledger.rows.iter().find(|l| l.table == t.table);
            serde_json::json!({
                "table": t.table,
                "sourceCount": t.stats.source_count.map(|(n, _)| n),
                "rowsRead": t.stats.rows_read,
                "rowsTransformed": t.transformed,
                "written": l.map(|l| l.written.iter().map(|(k, v)| serde_json::json!({"sink": k, "rows": v})).collect::<Vec<_>>()),
                "rowsInFiles": l.and_then(|l| l.manifest),
                "bytes": t.files().map(|f| f.bytes).sum::<u64>(),
                "seconds": t.seconds,
                "zeroDatesNulled": t.stats.zero_dates_nulled.iter().map(|(c, n)| serde_json::json!({"column": c, "count": n})).collect::<Vec<_>>(),
                "normalized": t.stats.normalized.iter().map(|(c, k, n)| serde_json::json!({"column": c, "what": k.describe(), "count": n})).collect::<Vec<_>>(),
            })
        })
        .collect();
    serde_json::json!({
        "migrationId": r.migration_id,
        "ok": true,
        "seconds": r.seconds,
        "exports": r.exports,
        "tables": tables,
        "phases": r.phases.iter().map(|(n, s)| serde_json::json!({"phase": n, "seconds": s})).collect::<Vec<_>>(),
        "budgetWarning": r.budget_warning,
        "skipped": r.skipped.iter().map(|(t, why)| serde_json::json!({"table": t, "why": why})).collect::<Vec<_>>(),
        "notCarried": r.not_carried,
        "binlogPosition": r.binlog_position,
        "verify": r.verify.as_ref().map(|v| v.json_value()),
        "load": r.load.as_ref().map(|l| serde_json::json!({
            "frozen": l.frozen,
            "created": l.created,
            "rebuiltIndexes": l.rebuilt_indexes,
            "streams": l.streams,
            "foreignKeys": l.foreign_keys,
            "stateTable": l.state_table,
            "copyBytes": l.copy_bytes.iter().map(|(t, n)| serde_json::json!({"table": t, "bytes": n})).collect::<Vec<_>>(),
            "triggers": l.triggers,
            "triggersFired": !l.triggers_disabled,
            "changed": l.changed.iter().map(|(t, c, n)| serde_json::json!({"table": t, "column": c, "count": n})).collect::<Vec<_>>(),
            "floatExact": l.float_exact.iter().map(|(t, c, n)| serde_json::json!({"table": t, "column": c, "count": n})).collect::<Vec<_>>(),
            "auditDefaults": l.audit_filled.iter().map(|(t, c, v, n)| serde_json::json!({"table": t, "column": c, "value": v, "rows": n})).collect::<Vec<_>>(),
        })),
        "validations": r.validations.iter().map(|v| serde_json::json!({"name": v.name, "expected": v.expected, "got": v.got})).collect::<Vec<_>>(),
    })
    .to_string()
}
