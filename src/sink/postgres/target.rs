//! The plan-time check against the target: every source table and column has a target,
//! every value can be encoded for its target type, no NOT NULL target column is left
//! without a value or default. The target also decides what the source leaves open:
//! a char(36) bound for varchar keeps its values as they are, a plain tinyint bound for
//! boolean is read as a boolean.

use super::copy::{can_encode, CopyColumn, PgTarget};
use super::introspect::PgTable;
use crate::pipeline::plan::TablePlan;
use crate::types::Logical;

/// One table's target: the target table and, per source column, its target column.
#[derive(Debug, Clone)]
pub struct TableTarget {
    /// The target table's name.
    pub table: String,
    /// Per read column (same order as the plan's columns): the COPY column.
    pub columns: Vec<CopyColumn>,
}

/// Decides each planned table's target and lists every problem (`table.column: why`).
/// Adjusts the plans' logical types where the target decides.
pub fn match_targets(plans: &mut [TablePlan], targets: &[PgTable]) -> (Vec<Option<TableTarget>>, Vec<String>) {
    let mut problems = Vec::new();
    let mut out = Vec::new();
    for plan in plans.iter_mut() {
        let name = plan.name().to_string();
        let Some(target) = targets.iter().find(|t| t.name == name) else {
            problems.push(format!("{name}: no table of that name in the target"));
            out.push(None);
            continue;
        };
        let mut columns = Vec::new();
        for cp in plan.spec.plans.iter_mut() {
            let Some(tc) = target.column(&cp.name) else {
                problems.push(format!("{name}.{}: no column of that name in the target table", cp.name));
                continue;
            };
            let pg = if tc.is_enum { Some(PgTarget::Text) } else { PgTarget::from_pg_type_name(&tc.type_name) };
            let Some(pg) = pg else {
                problems.push(format!("{name}.{}: target type {} is not supported", cp.name, tc.type_name));
                continue;
            };
            // The target decides what the source type leaves open.
            cp.logical = match (cp.logical, pg) {
                (Logical::Uuid, PgTarget::Text) => Logical::Text,
                (Logical::Int8 | Logical::Int16, PgTarget::Bool) => Logical::Bool,
                (Logical::Text, PgTarget::Json | PgTarget::Jsonb) => Logical::Json,
                (l, _) => l,
            };
            if !can_encode(&cp.logical.arrow_type(), pg) {
                problems.push(format!(
                    "{name}.{}: a {} value cannot be encoded for target type {}",
                    cp.name,
                    cp.logical.name(),
                    tc.type_name
                ));
                continue;
            }
            // NULLs bound for a NOT NULL column are data, not plan, problems: `plan --profile` counts them.
            columns.push(CopyColumn { name: cp.name.clone(), target: pg, max_chars: tc.max_chars });
        }
        for tc in &target.columns {
            let fed = plan.spec.plans.iter().any(|p| p.name == tc.name);
            if !fed && tc.not_null && !tc.has_default {
                problems.push(format!(
                    "{name}.{}: NOT NULL in the target, without a default, and the source has no value for it",
                    tc.name
                ));
            }
        }
        out.push((columns.len() == plan.spec.plans.len()).then(|| TableTarget { table: target.name.clone(), columns }));
    }
    (out, problems)
}
