//! The PostgreSQL sink: the plan-time check, binary COPY encoding of Arrow batches, the
//! transactional load and the apply of a change stream (connecting and the target's
//! catalog are the `pg` adapter's).

pub mod apply;
mod cell;
mod column;
pub mod copy;
pub mod create;
pub mod load;
mod locate;
mod locks;
pub mod narrow;
pub mod numeric;
pub mod pgtype;
pub mod sink;
pub mod spatial;
pub mod target;
mod tuning;
