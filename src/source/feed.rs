//! What every source hands to the run: one [`TableFeed`] per table, a channel of
//! record batches that ends with the table's read statistics.

use arrow::record_batch::RecordBatch;
use tokio::sync::mpsc;

use crate::error::Error;
use crate::schema::Table;
use crate::source::cell::ColumnPlan;

/// What to read of one table: which columns (indexes into `table.columns`, in output
/// order) and how to decode them.
#[derive(Debug, Clone)]
pub struct ReadSpec {
    /// The table as the source describes it.
    pub table: Table,
    /// Columns to read, in output order.
    pub columns: Vec<usize>,
    /// Their decoding plans, same order.
    pub plans: Vec<ColumnPlan>,
}

/// How a source counted a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CountKind {
    /// `SELECT COUNT(*)` inside the run's consistent snapshot.
    Snapshot,
    /// Rows parsed from a dump (a dump has no independent count).
    Parsed,
    /// The row count an export manifest declares.
    Manifest,
}

/// A table's read statistics, sent when its last batch has been sent.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReadStats {
    /// The source's own count, and how it was taken.
    pub source_count: Option<(u64, CountKind)>,
    /// Rows decoded and sent.
    pub rows_read: u64,
    /// Zero dates written as NULL, per column name (only non-zero entries).
    pub zero_dates_nulled: Vec<(String, u64)>,
}

/// One message of a table's feed.
#[derive(Debug)]
pub enum FeedMsg {
    /// A batch of rows, in the read types.
    Batch(RecordBatch),
    /// The table is complete.
    Done(ReadStats),
    /// Reading failed; nothing more follows.
    Failed(Error),
}

/// One table's stream of batches.
#[derive(Debug)]
pub struct TableFeed {
    /// The table's name.
    pub table: String,
    /// Its messages.
    pub rx: mpsc::Receiver<FeedMsg>,
}

/// A batch is cut once its values pass this many bytes, whatever its row count: with
/// 30 KB blobs, 8,192 rows would be 250 MB a batch. Every source applies it, so memory is
/// bounded by bytes, not rows.
pub const MAX_BATCH_BYTES: usize = 8 << 20;

/// Batches in flight per table: bounds memory to (this + 1) batches per active table.
pub const FEED_DEPTH: usize = 2;
