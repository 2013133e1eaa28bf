//! A plan as the operator reads it: text for `converge plan` (each column's MySQL type,
//! Arrow type, CSV encoding and target type), the target check, and JSON for `--json`.

use std::fmt::Write;

use super::Plan;
use crate::pipeline::readings;
use crate::pipeline::spec::Pipeline;
use crate::sink::postgres::target::TableTarget;

/// The plan as text for `converge plan`.
pub fn render(p: &Pipeline, plan: &Plan, source: &str) -> String {
    render_with_target(p, plan, source, None)
}

/// The plan as text, each column's PostgreSQL target type beside its source type when
/// the target is known.
pub fn render_with_target(p: &Pipeline, plan: &Plan, source: &str, targets: Option<&[Option<TableTarget>]>) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "pipeline `{}` ({})", p.name, p.file.display());
    let _ = writeln!(o, "source: {source}");
    for s in &p.sinks {
        let target = match (s.dir(), s.postgres()) {
            (Some(d), _) => format!("{d}/<migrationId>/"),
            (_, Some(pg)) => crate::secret::redact_url(&pg.url),
            _ => String::new(),
        };
        let _ = writeln!(o, "sink: {} → {target}", s.kind());
    }
    let total: u64 = plan.tables.iter().map(|t| t.spec.table.estimated_rows).sum();
    let _ = writeln!(o, "\n{} tables in load order (~{total} rows estimated):", plan.tables.len());
    for (n, t) in plan.tables.iter().enumerate() {
        let tb = &t.spec.table;
        let target = targets.and_then(|ts| ts.get(n)).and_then(|t| t.as_ref());
        let key = if tb.primary_key.is_empty() {
            "no primary key".to_string()
        } else {
            format!("key ({})", tb.primary_key.join(", "))
        };
        let called = if t.target != tb.name { format!(" → `{}`", t.target) } else { String::new() };
        let _ = writeln!(o, "\n{:>3}. {}{called}  ~{} rows, {key}", n + 1, tb.name, tb.estimated_rows);
        for fk in &tb.foreign_keys {
            let _ = writeln!(
                o,
                "       references {} ({}) via ({})",
                fk.ref_table,
                fk.ref_columns.join(", "),
                fk.columns.join(", ")
            );
        }
        let width = t.spec.plans.iter().map(|c| c.name.chars().count()).max().unwrap_or(0);
        let out_names = t.read_out_names();
        for (k, (&ci, cp)) in t.spec.columns.iter().zip(&t.spec.plans).enumerate() {
            let c = &tb.columns[ci];
            let pg =
                target.and_then(|t| t.type_of(k)).map(|ty| format!(" → pg {ty}{}", readings::float_in_double(c, ty)));
            let pg = pg.unwrap_or_default() + readings::json_duplicates(cp.logical, t.rules[k].json);
            let renamed = match &out_names[k] {
                Some(out) if *out != cp.name => format!(" (as `{out}`)"),
                Some(_) => String::new(),
                None => " (not in the transform's output)".into(),
            };
            let _ = writeln!(
                o,
                "       {:<width$}  {:<22} → {:<32} → {}{}{pg}{renamed}",
                cp.name,
                c.mysql.column_type,
                format!("{} ({})", cp.logical.arrow_type(), cp.logical.name()),
                cp.logical.mapping().csv,
                if c.nullable { "" } else { ", NOT NULL" },
            );
        }
        for (c, why) in &t.excluded_columns {
            let _ = writeln!(o, "       - {c}: {why}");
        }
        if let Some(sql) = &t.transform_sql {
            let _ = writeln!(o, "       transform: {}", sql.trim());
        }
    }
    for n in &plan.notes {
        let _ = writeln!(o, "\nnot carried: {n}");
    }
    if !plan.excluded.is_empty() {
        let _ = writeln!(o, "\nexcluded tables:");
        for (t, why) in &plan.excluded {
            let _ = writeln!(o, "  - {t}: {why}");
        }
    }
    for v in &p.validations {
        let _ = writeln!(o, "\nvalidate `{}`: expect {}", v.name, crate::transform::validate::expected_text(&v.expect));
    }
    o
}

/// The plan-time check against the PostgreSQL target, as text: every problem, then
/// every narrowing cast (checked value by value as the rows arrive).
pub fn render_target(problems: &[String], narrowing: &[String]) -> String {
    let mut o = if problems.is_empty() {
        "\ntarget check: every table and column has a target, every type can be encoded, no NOT NULL column is left without a value\n".to_string()
    } else {
        let mut o =
            format!("\ntarget check: {} problems (the run would stop before moving any data):\n", problems.len());
        for p in problems {
            let _ = writeln!(o, "  - {p}");
        }
        o
    };
    if !narrowing.is_empty() {
        let _ = writeln!(
            o,
            "\nnarrowing casts ({}; `plan --profile` counts the values they would refuse or change):",
            narrowing.len()
        );
        for n in narrowing {
            let _ = writeln!(o, "  - {n}");
        }
    }
    o
}

/// The plan as JSON for `converge plan --json`.
pub fn json(plan: &Plan, targets: Option<&[Option<TableTarget>]>) -> serde_json::Value {
    let tables: Vec<serde_json::Value> = plan
        .tables
        .iter()
        .enumerate()
        .map(|(n, t)| {
            let target = targets.and_then(|ts| ts.get(n)).and_then(|t| t.as_ref());
            let out_names = t.read_out_names();
            let columns: Vec<serde_json::Value> = t
                .spec
                .columns
                .iter()
                .zip(&t.spec.plans)
                .enumerate()
                .map(|(k, (&ci, cp))| {
                    let c = &t.spec.table.columns[ci];
                    serde_json::json!({
                        "name": cp.name,
                        "mysqlType": c.mysql.column_type,
                        "arrowType": cp.logical.arrow_type().to_string(),
                        "logical": cp.logical.name(),
                        "nullable": c.nullable,
                        "targetType": target.and_then(|t| t.type_of(k)),
                        "outputName": out_names[k],
                        "allowChange": t.allow_change.contains(&cp.name),
                    })
                })
                .collect();
            serde_json::json!({
                "name": t.name(),
                "target": t.target,
                "estimatedRows": t.spec.table.estimated_rows,
                "primaryKey": t.spec.table.primary_key,
                "columns": columns,
                "excludedColumns": t.excluded_columns.iter().map(|(c, why)| serde_json::json!({"column": c, "why": why})).collect::<Vec<_>>(),
            })
        })
        .collect();
    serde_json::json!({
        "tables": tables,
        "excludedTables": plan.excluded.iter().map(|(t, why)| serde_json::json!({"table": t, "why": why})).collect::<Vec<_>>(),
        "notCarried": plan.notes,
    })
}
