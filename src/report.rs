//! Printing a run's result: a per-table summary, the ledger, the export directories,
//! the validations — as text for people and JSON for machines.

use std::fmt::Write;

use crate::pipeline::RunReport;

/// The run's result as text.
pub fn run_text(r: &RunReport) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "run {} finished in {:.2}s\n", r.migration_id, r.seconds);
    let w = r.tables.iter().map(|t| t.table.chars().count()).max().unwrap_or(5).max(5);
    let _ = writeln!(o, "{:<w$}  {:>12}  {:>14}  {:>8}  {:>12}", "table", "rows", "bytes", "seconds", "rows/s");
    let (mut rows, mut bytes) = (0u64, 0u64);
    for t in &r.tables {
        let b: u64 = t.files.iter().flat_map(|(_, f)| f.iter().map(|f| f.bytes)).sum();
        rows += t.transformed;
        bytes += b;
        let rate = if t.seconds > 0.0 { t.transformed as f64 / t.seconds } else { 0.0 };
        let _ = writeln!(o, "{:<w$}  {:>12}  {:>14}  {:>8.2}  {:>12.0}", t.table, t.transformed, b, t.seconds, rate);
        for (col, n) in &t.stats.zero_dates_nulled {
            let _ = writeln!(o, "{:<w$}    ! {n} zero dates in `{col}` written as NULL", "");
        }
    }
    let rate = if r.seconds > 0.0 { rows as f64 / r.seconds } else { 0.0 };
    let _ = writeln!(o, "{:<w$}  {:>12}  {:>14}  {:>8.2}  {:>12.0}\n", "total", rows, bytes, r.seconds, rate);
    let _ = writeln!(o, "row-count ledger:\n{}", r.ledger.render());
    for v in &r.validations {
        let _ = writeln!(o, "validation `{}`: {} (expected {})", v.name, v.got, v.expected);
    }
    for e in &r.exports {
        let _ = writeln!(o, "export: {}", e.display());
    }
    for (t, why) in &r.skipped {
        let _ = writeln!(o, "not carried: {t} ({why})");
    }
    for n in &r.not_carried {
        let _ = writeln!(o, "not carried: {n}");
    }
    if let Some(l) = &r.load {
        let frozen = if l.frozen.is_empty() { "none".to_string() } else { l.frozen.join(", ") };
        let _ = write!(o, "load: COPY FREEZE on {} of {} tables ({frozen})", l.frozen.len(), r.tables.len());
        if !l.rebuilt_indexes.is_empty() {
            let _ = write!(
                o,
                "; {} indexes built after the load and proven as they were ({})",
                l.rebuilt_indexes.len(),
                l.rebuilt_indexes.join(", ")
            );
        }
        let _ = writeln!(o, "; {} COPY stream{}", l.streams, if l.streams == 1 { "" } else { "s" });
        if !l.triggers.is_empty() {
            let verdict = if l.triggers_disabled {
                "did NOT fire (triggers = \"disable\")"
            } else {
                "fired for every row, as for the application's inserts"
            };
            let _ = writeln!(o, "target triggers {verdict}: {}", l.triggers.join(", "));
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
        for (t, c, n) in &l.changed {
            let _ = writeln!(
                o,
                "changed: {n} values of {t}.{c} rounded or padded by the target's type (allowed by a [[column]] rule)"
            );
        }
    }
    let phases: Vec<String> = r.phases.iter().map(|(n, s)| format!("{n} {s:.2}s")).collect();
    let _ = writeln!(o, "phases: {}", phases.join(", "));
    if let Some(w) = &r.budget_warning {
        let _ = writeln!(o, "warning: downtime budget: {w}");
    }
    if let Some(v) = &r.verify {
        let failed = v.failures().len();
        let _ = writeln!(
            o,
            "verify: {} checks, {failed} failed ({}, {} rows read back)",
            v.checks.len(),
            v.mode,
            v.rows_read
        );
    }
    o
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
                "bytes": t.files.iter().flat_map(|(_, f)| f.iter().map(|f| f.bytes)).sum::<u64>(),
                "seconds": t.seconds,
                "zeroDatesNulled": t.stats.zero_dates_nulled.iter().map(|(c, n)| serde_json::json!({"column": c, "count": n})).collect::<Vec<_>>(),
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
        "verify": r.verify.as_ref().map(|v| v.json_value()),
        "load": r.load.as_ref().map(|l| serde_json::json!({
            "frozen": l.frozen,
            "rebuiltIndexes": l.rebuilt_indexes,
            "streams": l.streams,
            "triggers": l.triggers,
            "triggersFired": !l.triggers_disabled,
            "changed": l.changed.iter().map(|(t, c, n)| serde_json::json!({"table": t, "column": c, "count": n})).collect::<Vec<_>>(),
            "auditDefaults": l.audit_filled.iter().map(|(t, c, v, n)| serde_json::json!({"table": t, "column": c, "value": v, "rows": n})).collect::<Vec<_>>(),
        })),
        "validations": r.validations.iter().map(|v| serde_json::json!({"name": v.name, "expected": v.expected, "got": v.got})).collect::<Vec<_>>(),
    })
    .to_string()
}
