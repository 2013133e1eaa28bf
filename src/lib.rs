//! `converge`: moves a MySQL or MariaDB database into PostgreSQL as an Apache Arrow
//! dataflow — source → transform (DataFusion) → sinks — with a row-count ledger at
//! every stage. See docs/architecture.md for the contracts.

pub mod bench;
pub mod calendar;
pub mod change;
pub mod cutover;
pub mod ddl;
pub mod error;
pub mod feed;
pub mod follow;
pub mod ident;
pub mod ledger;
pub mod manifest;
pub mod mysql;
pub mod pg;
pub mod pipeline;
pub mod progress;
pub mod query;
pub mod repair;
pub mod report;
pub mod run;
pub mod runlog;
pub mod schema;
pub mod secret;
pub mod sink;
pub mod source;
pub mod tls;
pub mod transform;
pub mod types;
pub mod verify;

pub use error::{Error, Result};
pub use pipeline::Pipeline;
