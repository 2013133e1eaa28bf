//! The PostgreSQL sink: binary COPY encoding of Arrow batches.

mod cell;
mod column;
pub mod copy;
pub mod numeric;
