//! `[follow]`: the source's preflight for a followed copy, run by `plan` (which prints
//! it) and `run` (which refuses to start on a refusal) (docs/architecture.md, "Change
//! capture").

use super::plan::Plan;
use super::source::Opened;
use super::spec::{Cascades, Pipeline};
use crate::error::{Error, Result};
use crate::pg::introspect::PgTable;
use crate::source::mysql::binlog::preflight::{self, Finding, Followed, Follower};

/// The preflight's findings, or None when the pipeline does not follow. `target`: the
/// target's tables as the load will find them (those `create = "missing"` makes
/// included), None without a postgres sink; with `follow.cascades = "target"` each
/// cascading key is checked against them (`pipeline::cascades`).
pub async fn preflight(
    p: &Pipeline,
    opened: &Opened,
    plan: &Plan,
    target: Option<&[PgTable]>,
) -> Result<Option<Vec<Finding>>> {
    let Some(f) = &p.follow else { return Ok(None) };
    let src = opened.live().ok_or_else(|| Error::other("[follow] follows a live MySQL source"))?;
    let tables: Vec<Followed> =
        plan.tables.iter().map(|t| Followed { table: &t.spec.table, transformed: t.transform_sql.is_some() }).collect();
    let on_target = f.cascades == Cascades::Target;
    let follower =
        Follower { server_id: f.server_id, expected_copy_hours: f.expected_copy_hours, cascades_on_target: on_target };
    let mut findings = preflight::preflight(&src, &tables, &follower).await?;
    if on_target {
        findings.extend(super::cascades::check(plan, target));
    }
    Ok(Some(findings))
}

/// The findings as `plan` prints them.
pub fn render(findings: &[Finding]) -> String {
    let mut o = String::from("\nFollow preflight ([follow]): can the binlog carry every later change?\n");
    if findings.is_empty() {
        o.push_str("  ok: the source can be followed\n");
    }
    for f in findings {
        let kind = if f.refuse { "REFUSED" } else { "WARNING" };
        o.push_str(&format!("  {kind} {}: {}\n", f.setting, f.message));
    }
    o
}

/// The findings as JSON.
pub fn json(findings: &[Finding]) -> serde_json::Value {
    serde_json::Value::Array(
        findings
            .iter()
            .map(|f| serde_json::json!({"refuse": f.refuse, "setting": f.setting, "message": f.message}))
            .collect(),
    )
}

/// Refuses a followed run before any data moves when the preflight refuses anything.
pub async fn refuse_unless_ready(p: &Pipeline, opened: &Opened, plan: &Plan, target: Option<&[PgTable]>) -> Result<()> {
    let Some(findings) = preflight(p, opened, plan, target).await? else { return Ok(()) };
    let refused: Vec<String> =
        findings.iter().filter(|f| f.refuse).map(|f| format!("{}: {}", f.setting, f.message)).collect();
    if refused.is_empty() {
        return Ok(());
    }
    Err(Error::Pipeline {
        file: p.file.clone(),
        at: None,
        message: format!(
            "[follow]: the source cannot be followed (nothing was moved):\n  - {}",
            refused.join("\n  - ")
        ),
    })
}
