//! What every source hands to the run: one [`TableFeed`] per table, a channel of
//! record batches that ends with the table's read statistics, and the per-column
//! decoding decisions ([`ColumnPlan`]) the plan gives a source. This is model: sources,
//! the transform stage and the sinks all speak it (docs/architecture.md, "Seams").

use std::sync::Arc;

use arrow::datatypes::{Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use tokio::sync::mpsc;

use crate::error::Error;
use crate::schema::Table;
use crate::types::Logical;

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

impl ReadSpec {
    /// Every column of `table`, in order, with the default plans (zero dates are errors).
    pub fn all_columns(table: Table) -> ReadSpec {
        let columns: Vec<usize> = (0..table.columns.len()).collect();
        let plans = column_plans(&table, &columns, |_| ZeroDate::Error);
        ReadSpec { table, columns, plans }
    }
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
    /// Values the normalisation changed as a rule allows, per column name and kind
    /// (only non-zero entries).
    pub normalized: Vec<(String, Normalized, u64)>,
}

/// A kind of value the normalisation changes, and counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Normalized {
    /// A UUID in a column of UUIDs, lower-cased.
    UuidLowercased,
    /// A JSON value with duplicate keys, resolved by `json_duplicates`.
    JsonDuplicates(JsonDuplicates),
}

impl Normalized {
    /// What happened to the values, for the report.
    pub fn describe(self) -> &'static str {
        match self {
            Normalized::UuidLowercased => "UUIDs lower-cased",
            Normalized::JsonDuplicates(JsonDuplicates::First) => {
                "JSON values with duplicate keys, the later ones dropped (json_duplicates = \"first\", MariaDB's reading)"
            }
            Normalized::JsonDuplicates(JsonDuplicates::Last) => {
                "JSON values with duplicate keys, loaded as they are: jsonb keeps the last (json_duplicates = \"last\")"
            }
        }
    }
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

/// What to do with a zero or partial date (`0000-00-00`, `2024-00-10`); a pipeline's
/// `zero_date = "error" | "null"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ZeroDate {
    /// Stop the run, naming the row (the default).
    #[default]
    Error,
    /// Write NULL and count it in the report.
    Null,
}

/// Which of a JSON object's duplicate keys counts (`json_duplicates`): MariaDB's JSON
/// functions read the first, PostgreSQL's `jsonb` (and MySQL 8) keep the last.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JsonDuplicates {
    /// The first (MariaDB's reading): the later duplicates are dropped before loading.
    First,
    /// The last (`jsonb`'s and MySQL 8's reading): the value is loaded as it is.
    Last,
}

/// The per-column decoding decisions a reader needs.
#[derive(Debug, Clone)]
pub struct ColumnPlan {
    /// The column name.
    pub name: String,
    /// Its logical type.
    pub logical: Logical,
    /// A `bit(n)` column (binary-protocol bytes are a big-endian number).
    pub is_bit: bool,
    /// The zero-date rule for this column.
    pub zero_date: ZeroDate,
    /// The column is nullable in the source.
    pub nullable: bool,
}

/// The decoding plan of a table's columns (in the order the reader selects them).
pub fn column_plans(table: &Table, columns: &[usize], zero_date: impl Fn(&str) -> ZeroDate) -> Vec<ColumnPlan> {
    columns
        .iter()
        .map(|&i| {
            let c = &table.columns[i];
            ColumnPlan {
                name: c.name.clone(),
                logical: c.logical,
                is_bit: c.mysql.data_type == "bit",
                zero_date: zero_date(&c.name),
                nullable: c.nullable,
            }
        })
        .collect()
}

/// The Arrow schema of what a reader yields for these columns.
pub fn read_schema(columns: &[ColumnPlan]) -> SchemaRef {
    Arc::new(Schema::new(columns.iter().map(|c| Field::new(&c.name, c.logical.read_type(), true)).collect::<Vec<_>>()))
}

/// Renders a row's key for error messages: `id='abc', n=5` (or `row N` without a key).
pub fn render_key(names: &[&str], values: &[String], row_number: u64) -> String {
    if names.is_empty() {
        return format!("#{row_number} (no primary key)");
    }
    names.iter().zip(values).map(|(n, v)| format!("{n}={v}")).collect::<Vec<_>>().join(", ")
}
