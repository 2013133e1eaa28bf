//! The null sink: takes every batch and drops it, to measure a source and the
//! transform stage alone (`[[sink]] kind = "null"`). The worked example of adding a
//! sink under the seam (docs/architecture.md, "Adding a sink").

use arrow::record_batch::RecordBatch;

use super::{BoxFuture, Sink, TableShape, TableWriter, Written};
use crate::error::Result;

/// A sink that keeps nothing.
#[derive(Debug, Clone, Default)]
pub struct NullSink;

impl Sink for NullSink {
    fn label(&self) -> &'static str {
        "null"
    }

    fn open_table(&self, _table: &TableShape) -> Result<Box<dyn TableWriter>> {
        Ok(Box::new(NullTable::default()))
    }
}

/// One table's rows, counted.
#[derive(Debug, Default)]
struct NullTable {
    rows: u64,
}

impl TableWriter for NullTable {
    fn write<'a>(&'a mut self, batch: &'a RecordBatch) -> BoxFuture<'a, Result<()>> {
        self.rows += batch.num_rows() as u64;
        Box::pin(async { Ok(()) })
    }

    fn finish(self: Box<Self>) -> BoxFuture<'static, Result<Written>> {
        Box::pin(async move { Ok(Written::Dropped(self.rows)) })
    }
}
