//! `converge plan --profile`: reads the data once, inside the snapshot, and reports per
//! column every value the run would refuse or change, with counts and example keys, so
//! the data can be fixed before the downtime window instead of failing inside it.
//!
//! The profile and the run share one set of checks: the data goes through the run's own
//! decoders, normalisation, `[[transform]]` SQL and COPY encoder ([`super::rehearse`]),
//! plus what the target refuses itself (NULL into NOT NULL, an enum's labels, its CHECK
//! constraints, evaluated by PostgreSQL here; its unique indexes, foreign keys and
//! generated columns, evaluated on the rehearsed rows, [`super::profile_target`]). See docs/architecture.md, "No silent change".

use std::fmt::Write;

use super::plan::{Plan, TablePlan};
use crate::error::Result;
use crate::ident;
use crate::pg::introspect::{PgCheck, PgTable};
use crate::sink::postgres::create::SchemaDdl;
use crate::sink::postgres::target::TableTarget;
use crate::source::mysql::MySqlSource;

pub use super::rehearse::Finding;

/// Profiles every planned table of a live source: every value the run would refuse, and
/// every change it would count, by rehearsing the run on the data.
pub async fn profile(
    src: &MySqlSource,
    plan: &Plan,
    targets: Option<(&[Option<TableTarget>], &[PgTable])>,
) -> Result<Vec<Finding>> {
    super::rehearse::rehearse(src, plan, targets, None).await
}

/// Profiles every planned table of a live source into a PostgreSQL target: the
/// rehearsal, the target's CHECK constraints, and what its unique indexes, foreign keys
/// and generated columns refuse of the rehearsed rows ([`super::profile_target`]); `ddl`:
/// what `create = "missing"` would create first. After a row the source will not send,
/// only the rehearsal's findings.
pub async fn profile_into(
    src: &MySqlSource,
    pg: &tokio_postgres::Client,
    schema: &str,
    plan: &Plan,
    targets: (&[Option<TableTarget>], &[PgTable]),
    ddl: Option<&SchemaDdl>,
) -> Result<Vec<Finding>> {
    let (mut found, whole) = super::profile_target::whole_table(src, pg, schema, plan, targets, ddl).await?;
    if found.iter().any(|f| f.what.starts_with(super::rehearse::TOO_LARGE)) {
        return Ok(found);
    }
    found.extend(check_constraints(src, pg, plan, targets).await?);
    found.extend(whole);
    Ok(found)
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
pub(super) const CHECK_CHUNK: usize = 5_000;

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
pub(super) fn source_of(t: &TablePlan, out: &str) -> Option<String> {
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
        let examples = match f.examples.is_empty() {
            true => String::new(),
            false => format!(" (e.g. {})", f.examples.join("; ")),
        };
        let _ = writeln!(o, "  - {}.{}: {} values {}{examples}", f.table, f.column, f.count, f.what);
    }
    o
}
