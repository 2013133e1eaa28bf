//! What a follower needs of the plan: per followed table, the stream's read spec, the
//! run's normaliser and the apply's target (the same decoder, normalisation and COPY
//! encoder as the copy: docs/architecture.md, "Change capture").

use crate::error::{Error, Result};
use crate::feed::ReadSpec;
use crate::pipeline::plan::Plan;
use crate::run::Target;
use crate::sink::postgres::apply::ApplyTable;
use crate::transform::normalize::Normalizer;

/// One followed table's way through the follower.
pub struct Followed {
    /// The stream reads it with this spec.
    pub spec: ReadSpec,
    /// The run's normalisation of its batches.
    pub normalizer: Normalizer,
    /// Where its changes are applied.
    pub apply: ApplyTable,
}

/// Every planned table, followed; refuses a plan the target does not fit.
pub fn followed(plan: &Plan, target: &Target) -> Result<Vec<Followed>> {
    if !target.problems.is_empty() {
        return Err(Error::other(format!(
            "the target does not fit the pipeline, nothing is followed:\n  {}",
            target.problems.join("\n  ")
        )));
    }
    let ctx = crate::transform::session();
    let mut out = Vec::with_capacity(plan.tables.len());
    for (t, tt) in plan.tables.iter().zip(&target.tables) {
        let tt = tt.as_ref().ok_or_else(|| Error::other(format!("`{}` has no target table", t.name())))?;
        let pg = target.load.tables.iter().find(|x| x.name == tt.table);
        let source_key: Vec<String> = t.spec.table.primary_key.iter().map(|k| t.out_name(k)).collect();
        let apply = ApplyTable::new(t.name(), tt, pg, source_key);
        if apply.key.is_empty() {
            return Err(Error::other(format!("`{}` has no key to apply changes by", t.name())));
        }
        let pk = &t.spec.table.primary_key;
        let normalizer = Normalizer::new(&ctx, t.name(), t.spec.plans.clone(), t.rules.clone(), pk)?;
        out.push(Followed { spec: t.spec.clone(), normalizer, apply });
    }
    Ok(out)
}
