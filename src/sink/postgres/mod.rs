//! The PostgreSQL sink: target introspection, the plan-time check, binary COPY encoding
//! of Arrow batches, and the transactional load.

pub mod apply;
mod cell;
mod column;
mod connect;
pub mod copy;
pub mod create;
pub mod integrity;
pub mod introspect;
pub mod load;
mod locate;
mod locks;
pub mod narrow;
pub mod numeric;
pub mod pgtype;
pub mod sink;
pub mod spatial;
mod state;
pub mod target;
mod tuning;
