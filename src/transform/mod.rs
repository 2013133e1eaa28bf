//! The transform stage on DataFusion: typed normalisation of every batch, optional
//! per-table SQL, and the run's validation queries.

pub mod json_keys;
pub mod normalize;
pub mod sql;
pub mod udf;
pub mod validate;

use datafusion::prelude::SessionContext;

/// A DataFusion session with converge's UDFs registered.
pub fn session() -> SessionContext {
    let ctx = SessionContext::new();
    for f in udf::udfs() {
        ctx.register_udf(f);
    }
    ctx
}
