//! The source's binary log (docs/architecture.md, "Change capture"): the preflight a
//! followed copy runs before moving data, and the change stream that follows the binlog
//! from a position on (`stream`, its values made the snapshot's by `convert`), and the
//! server's own listing of what was logged between two positions (`listing`). The
//! snapshot's own position is the `mysql` adapter's (`mysql::position`).

mod convert;
mod events;
pub mod listing;
pub mod preflight;
pub mod stream;
