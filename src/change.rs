//! What a change stream hands on (docs/architecture.md, "Change capture"): the row
//! changes of the source's tables in source order, decoded into the same read batches
//! the snapshot gives (same decoder, same normalisation after it), and the source
//! commits that bound them. The stream (`source::ChangeStream`) makes these; the apply
//! (`sink::postgres::apply`) takes them.

use arrow::record_batch::RecordBatch;

use crate::manifest::BinlogPosition;

/// What one row of a [`TableChanges`] does to the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// The row with this key now holds these values (an insert, or an update that kept
    /// its key; an update that changed its key is a `Move` of the old row, then an
    /// `Upsert` of the new).
    Upsert,
    /// The row with this key is gone (the row carries the deleted row's image: its key is
    /// what counts).
    Delete,
    /// An update changed this row's key: the row with this key is gone, and the very next
    /// row of the same table (an `Upsert`, the update's new image) takes its place. Applied
    /// as a `Delete`, except where the target's foreign keys must see one `UPDATE`
    /// (`sink::postgres::apply`).
    Move,
}

/// Row changes of one table, in source order, inside one source transaction.
#[derive(Debug, Clone)]
pub struct TableChanges {
    /// The source table.
    pub table: String,
    /// Per row of `rows`, what it does.
    pub ops: Vec<Op>,
    /// The rows, in the table's read schema (its `ReadSpec`'s columns, decoded exactly as
    /// the snapshot decodes them).
    pub rows: RecordBatch,
    /// The source's row changes these rows carry: one per row, except that an update
    /// which changed its key is one change in two rows.
    pub changes: u64,
}

/// One item of a change stream.
#[derive(Debug, Clone)]
pub enum Change {
    /// Row changes of one table (a source transaction may send several, of one table or
    /// of many, before its commit).
    Rows(TableChanges),
    /// A source transaction (or a statement outside one) starts at `at`: nothing it
    /// changes is in the source's state at any position before `at`. A follower asked
    /// to stop at a position splits its batch here.
    Begin {
        /// Where the transaction's first event starts.
        at: BinlogPosition,
    },
    /// `TRUNCATE` of a followed table: every row is gone.
    Truncate {
        /// The source table.
        table: String,
    },
    /// A source transaction committed: everything since the last commit is one unit, and
    /// `at` is the position to resume from after it.
    Commit {
        /// The position right after the commit.
        at: BinlogPosition,
        /// The commit's time on the source (seconds since the epoch), for the lag.
        timestamp: u32,
    },
    /// The source is idle at `at` (a heartbeat, or events that changed nothing followed):
    /// nothing is pending; the follower is caught up to `at`.
    Idle {
        /// The position the server has sent everything before.
        at: BinlogPosition,
    },
}
