//! Pipelines: the definition file, the plan, and the sources they open.

pub mod cascades;
pub mod create;
pub mod fit;
pub mod follow;
mod keys;
pub mod plan;
pub mod profile;
pub mod profile_target;
pub mod readings;
pub mod rehearse;
mod scratch;
pub mod source;
pub mod spec;
pub mod uuids;

pub use spec::Pipeline;
