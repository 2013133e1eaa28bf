//! Sinks: each takes a table's normalised batches and writes them somewhere.
//!
//! The seam is two traits (docs/architecture.md, "Seams"): a [`Sink`] is opened once
//! per table for its [`TableShape`] and gives a [`TableWriter`], which takes the
//! table's batches in order and finishes with what it [`Written`]. The run talks to
//! these traits only; adding a sink is one folder that implements them, plus the line
//! that builds it from its `[[sink]]` kind.

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;

use crate::error::{Error, Result};
use crate::types::Logical;

pub mod csv;
pub mod csv_encode;
pub mod export_dir;
pub mod null;
pub mod parquet;
pub mod postgres;

/// A data file a sink finished.
#[derive(Debug, Clone, PartialEq)]
pub struct FileWritten {
    /// File name, relative to the export directory.
    pub file: String,
    /// Rows written.
    pub rows: u64,
    /// Bytes written.
    pub bytes: u64,
    /// sha256 of the bytes, hex.
    pub sha256: String,
}

/// A boxed future that can cross threads (what a [`TableWriter`] returns).
pub use futures::future::BoxFuture;

/// What a sink wrote for one table.
#[derive(Debug, Clone, PartialEq)]
pub enum Written {
    /// One data file (CSV).
    File(FileWritten),
    /// A table's data in parts (Parquet).
    Parts(Vec<FileWritten>),
    /// Rows a target took and counted itself (PostgreSQL's COPY count).
    Rows(u64),
    /// Rows taken and dropped: nothing to reconcile (the null sink).
    Dropped(u64),
}

impl Written {
    /// The data files written.
    pub fn files(&self) -> &[FileWritten] {
        match self {
            Written::File(f) => std::slice::from_ref(f),
            Written::Parts(f) => f,
            Written::Rows(_) | Written::Dropped(_) => &[],
        }
    }

    /// The rows the sink says it wrote, when it keeps them: files or a target (a
    /// dropping sink keeps none, so the ledger has nothing to hold it to).
    pub fn kept_rows(&self) -> Option<u64> {
        match self {
            Written::File(_) | Written::Parts(_) => Some(self.files().iter().map(|f| f.rows).sum()),
            Written::Rows(n) => Some(*n),
            Written::Dropped(_) => None,
        }
    }
}

/// One table as the sinks receive it: a target sink takes every batch as it comes; file
/// sinks write `file_columns` of it under the output names of `file_schema` (the audit
/// columns left out), with the logical types `file_logical`.
#[derive(Debug, Clone)]
pub struct TableShape {
    /// The target name: the data file's name, the target table.
    pub name: String,
    /// The columns (indexes into `schema`) a file sink writes.
    pub file_columns: Vec<usize>,
    /// Those columns under their output names.
    pub file_schema: SchemaRef,
    /// Their logical types (how a CSV writes them).
    pub file_logical: Vec<Logical>,
    /// The source's primary key, to name a refused row.
    pub key: Vec<String>,
}

impl TableShape {
    /// The part of `batch` a file sink writes, under the output names.
    pub fn file_batch(&self, batch: &RecordBatch) -> Result<RecordBatch> {
        let projected = batch.project(&self.file_columns).map_err(|e| Error::datafusion("projection", e))?;
        RecordBatch::try_new(self.file_schema.clone(), projected.columns().to_vec())
            .map_err(|e| Error::datafusion("renaming columns", e))
    }
}

/// A kind of sink, configured for one run.
pub trait Sink: Send + Sync {
    /// Its name in the ledger and reports: `csv`, `parquet`, `postgres`, `null`.
    fn label(&self) -> &'static str;
    /// Opens the sink for one table.
    fn open_table(&self, table: &TableShape) -> Result<Box<dyn TableWriter>>;
}

/// One table's writer: batches in order, then `finish` (or `abort` when the table failed).
pub trait TableWriter: Send {
    /// Takes the next batch (in the [`TableShape::schema`]).
    fn write<'a>(&'a mut self, batch: &'a RecordBatch) -> BoxFuture<'a, Result<()>>;
    /// The table is complete: flush, close, and say what was written.
    fn finish(self: Box<Self>) -> BoxFuture<'static, Result<Written>>;
    /// The table failed elsewhere: release what the writer holds (a file writer just
    /// drops its file; the run marks the export failed).
    fn abort(self: Box<Self>) -> BoxFuture<'static, ()> {
        Box::pin(async {})
    }
}

/// A file sink's blocking writer of one table's file(s).
pub trait FileTableWriter: Send + 'static {
    /// Appends a batch of the file columns.
    fn write_batch(&mut self, batch: &RecordBatch) -> Result<()>;
    /// Flushes and closes; says what was written.
    fn close(self) -> Result<Written>;
}

/// A [`FileTableWriter`] under the seam: each batch is narrowed to the file columns and
/// written off the async threads (encoding and writing are blocking work).
pub struct FileTable<W> {
    writer: W,
    shape: TableShape,
}

impl<W: FileTableWriter> FileTable<W> {
    /// Wraps `writer` for the table `shape`.
    pub fn boxed(writer: W, shape: &TableShape) -> Box<dyn TableWriter> {
        Box::new(FileTable { writer, shape: shape.clone() })
    }
}

impl<W: FileTableWriter> TableWriter for FileTable<W> {
    fn write<'a>(&'a mut self, batch: &'a RecordBatch) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move { tokio::task::block_in_place(|| self.writer.write_batch(&self.shape.file_batch(batch)?)) })
    }

    fn finish(self: Box<Self>) -> BoxFuture<'static, Result<Written>> {
        Box::pin(async move { tokio::task::block_in_place(|| self.writer.close()) })
    }
}
