//! Sources: each turns its input into Arrow record batches of the read types, nothing else.
//!
//! The seam is [`Source`] (docs/architecture.md, "Seams"): a source describes itself,
//! starts one feed of batches per planned table, and closes. `mysql` (a live server in
//! one consistent snapshot), `mysqldump` (a dump file) and `csv` (a converge export)
//! each implement it in their own folder, with their own feed driver.
//!
//! A change stream is not a snapshot (unbounded, tables interleaved, positions): it has
//! its own seam, [`ChangeStream`], implemented by the live server's binlog
//! (`mysql::binlog::stream`).

use std::sync::Arc;

use futures::future::BoxFuture;
use tokio::sync::mpsc;

use crate::change::Change;
use crate::error::Result;
use crate::feed::{JsonDuplicates, ReadSpec, TableFeed};

pub mod cell;
pub mod csv;
pub mod decode;
pub mod mysql;
pub mod mysqldump;
mod text;

/// An opened source, its schema already read.
pub trait Source: Send + Sync {
    /// A description safe to print (no secrets).
    fn describe(&self) -> String;
    /// The source database's name for the manifest.
    fn database_name(&self) -> String;
    /// What the source holds besides tables, which a run does not carry (views,
    /// triggers, routines, events): one line per kind that has any.
    fn not_carried(&self) -> BoxFuture<'_, Result<Vec<String>>>;
    /// Those objects with MySQL's definitions, for `converge schema` to show: what it
    /// is (`view \`v\``) and its definition. Empty where the source cannot say (a
    /// dump holds them in its own text).
    fn object_definitions(&self) -> BoxFuture<'_, Result<Vec<(String, String)>>> {
        Box::pin(async { Ok(Vec::new()) })
    }
    /// When the data was taken, when the source records it (an export's timestamp).
    fn taken_at(&self) -> Option<String> {
        None
    }
    /// Starts reading the planned tables: one feed per table, sent as each starts.
    /// `one_table_at_a_time` asks a source that could read tables side by side not to.
    fn start(
        self: Arc<Self>,
        specs: Vec<ReadSpec>,
        batch_rows: usize,
        one_table_at_a_time: bool,
    ) -> mpsc::Receiver<TableFeed>;
    /// Ends the source (a snapshot is closed).
    fn close(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
    /// The snapshot's binlog position, when the source is a live server logging one
    /// (docs/architecture.md, "Change capture").
    fn binlog_position(&self) -> Option<crate::manifest::BinlogPosition> {
        None
    }
    /// The live server behind the source, for what only a live server can answer
    /// (`verify`, `plan --profile`, comparing a committed table in place).
    fn live(&self) -> Option<Arc<crate::mysql::MySqlSource>> {
        None
    }
    /// Which of an object's duplicate keys the source server's JSON functions read in
    /// a text JSON value: MariaDB the first, MySQL 8 the last. A dump's server is not
    /// known for sure: the first, the reading that refuses duplicates unless a rule
    /// says otherwise. `None`: the values were read under a rule already (an export).
    fn json_reading(&self) -> Option<JsonDuplicates> {
        Some(JsonDuplicates::First)
    }
}

/// A source's change stream (docs/architecture.md, "Change capture"): every row change
/// after a position, in source order, tables interleaved, bounded by source commits.
/// Never skips what it does not understand: an event it cannot carry is an error naming
/// the event and its position.
pub trait ChangeStream: Send {
    /// The next change; waits for the source when there is none yet.
    fn next(&mut self) -> BoxFuture<'_, Result<Change>>;
    /// Ends the stream (closes its connection).
    fn close(self: Box<Self>) -> BoxFuture<'static, ()>;
}
