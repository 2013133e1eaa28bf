//! Pipelines: the definition file, the plan, and one run's orchestration.

pub mod plan;
pub mod profile;
pub mod run;
pub mod source;
pub mod spec;
pub mod table;

pub use run::{run, RunOptions, RunReport};
pub use spec::Pipeline;
