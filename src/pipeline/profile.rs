//! `converge plan --profile`: reads the data once, inside the snapshot, and reports per
//! column every value the run would refuse or change, with counts and example keys, so
//! the data can be fixed before the downtime window instead of failing inside it.
//!
//! The profile and the run share one set of checks: the data goes through the run's own
//! decoders, normalisation, `[[transform]]` SQL and COPY encoder ([`super::rehearse`]),
//! plus what the target refuses itself (NULL into NOT NULL, an enum's labels; its CHECK
//! constraints, unique indexes, foreign keys and generated columns, evaluated by
//! PostgreSQL on the rehearsed rows, [`super::profile_target`]). See docs/architecture.md,
//! "No silent change".

use std::fmt::Write;

use super::plan::Plan;
use crate::error::Result;
use crate::mysql::MySqlSource;
use crate::pg::introspect::PgTable;
use crate::sink::postgres::create::SchemaDdl;
use crate::sink::postgres::target::TableTarget;

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
/// rehearsal, and what the target's CHECK constraints, unique indexes, foreign keys and
/// generated columns refuse of the rehearsed rows ([`super::profile_target`]); `ddl`:
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
