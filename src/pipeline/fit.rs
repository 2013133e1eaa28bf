//! The plan meets the target: the sink's target check answers per table (which target
//! columns, which logical types the target settles, which columns it generates) and the
//! plan applies the answers to itself. The plan is the only owner of a column's type
//! decision (docs/architecture.md, "Who decides a type").

use super::plan::TablePlan;
use crate::pg::introspect::PgTable;
use crate::sink::postgres::target::{self, AuditFill, AuditWant, ColumnWant, TableTarget, TableWant, TargetCheck};

/// Decides each planned table's target and lists every problem and narrowing cast.
/// Tables and columns are matched by their output names (see [`TablePlan::outputs`]).
/// Settles the logical types the target decides, and leaves out of the read the
/// columns the target generates itself.
pub fn fit_targets(plans: &mut [TablePlan], targets: &[PgTable]) -> (Vec<Option<TableTarget>>, TargetCheck) {
    fit(plans, targets, false)
}

/// As [`fit_targets`], for a comparison: the columns the target generates are kept, so
/// that what PostgreSQL computed is compared with what MySQL holds.
pub fn fit_to_compare(plans: &mut [TablePlan], targets: &[PgTable]) -> (Vec<Option<TableTarget>>, TargetCheck) {
    fit(plans, targets, true)
}

fn fit(plans: &mut [TablePlan], targets: &[PgTable], keep_generated: bool) -> (Vec<Option<TableTarget>>, TargetCheck) {
    let mut check = TargetCheck::default();
    let mut out = Vec::new();
    for plan in plans.iter_mut() {
        let Some(table) = target::find_table(targets, &plan.target, plan.name(), &mut check) else {
            out.push(None);
            continue;
        };
        if plan.transform_outputs.is_none() && !keep_generated {
            let names: Vec<String> = plan.spec.plans.iter().map(|c| plan.out_name(&c.name)).collect();
            leave_out(plan, &target::generated(table, &names), target::GENERATED);
        }
        let fit = target::match_table(&want(plan), table, &mut check);
        for (column, logical) in plan.spec.plans.iter_mut().zip(fit.logical) {
            column.logical = logical;
        }
        out.push(fit.target);
    }
    (out, check)
}

/// What the target check needs to know of `plan`.
fn want(plan: &TablePlan) -> TableWant<'_> {
    let columns = plan
        .spec
        .plans
        .iter()
        .zip(&plan.spec.columns)
        .map(|(c, &i)| ColumnWant {
            name: &c.name,
            logical: c.logical,
            mysql: &plan.spec.table.columns[i].mysql,
            allow_change: plan.allow_change.contains(&c.name),
        })
        .collect();
    let outputs = plan.outputs().into_iter().map(|o| (o.name, o.read)).collect();
    TableWant { target: &plan.target, columns, outputs }
}

/// Takes read columns `ks` (ascending) out of the read, saying why.
fn leave_out(plan: &mut TablePlan, ks: &[usize], why: &str) {
    let names: Vec<String> = ks.iter().map(|&k| plan.spec.plans[k].name.clone()).collect();
    for &k in ks.iter().rev() {
        plan.spec.plans.remove(k);
        plan.spec.columns.remove(k);
        plan.rules.remove(k);
    }
    plan.excluded_columns.extend(names.into_iter().map(|n| (n, why.to_string())));
}

/// The audit columns `audit_defaults` fills for the tables the plan does not feed them
/// to (see [`target::audit_fills`]); returns the fills and the problems they answer.
pub fn audit_fills(
    plans: &[TablePlan],
    targets: &[PgTable],
    audit: &[String],
    timestamp: &str,
) -> (Vec<AuditFill>, Vec<String>) {
    let wants: Vec<AuditWant<'_>> = plans
        .iter()
        .map(|p| AuditWant {
            target: &p.target,
            fed: p.outputs().into_iter().map(|o| o.name).collect(),
            audit: audit.iter().map(|a| p.out_name(a)).collect(),
        })
        .collect();
    target::audit_fills(&wants, targets, timestamp)
}
