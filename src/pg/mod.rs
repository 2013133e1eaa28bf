//! The PostgreSQL adapter below the seams (docs/architecture.md, "Layers"): connecting
//! (TLS, application name), reading a target's catalog, the state tables converge keeps
//! in the target (`converge.load_state`, `converge.follow_state`,
//! `converge.follow_changed`, `converge.follow_hold`) and the integrity questions
//! (orphans, duplicates, sequences) that the load, the apply, `verify`, `query`,
//! `plan --profile` and `bench` all ask. Nothing here knows a sink or a command.

pub mod changed;
pub mod connect;
pub mod hold;
pub mod integrity;
pub mod introspect;
pub mod state;
