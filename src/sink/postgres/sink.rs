//! PostgreSQL under the [`Sink`] seam: each table's batches go to a COPY on the load's
//! connection (a task of its own, fed through a bounded channel, so the source and the
//! other sinks keep going while PostgreSQL takes rows).

use std::collections::HashMap;
use std::sync::Arc;

use arrow::record_batch::RecordBatch;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_stream::wrappers::ReceiverStream;

use super::load::PgLoad;
use super::target::TableTarget;
use crate::error::{Error, Result};
use crate::feed::FEED_DEPTH;
use crate::sink::{BoxFuture, Sink, TableShape, TableWriter, Written};

/// The PostgreSQL sink of a run: the load (its transaction and connections) and each
/// table's target, by target name.
pub struct PgSink {
    load: Arc<PgLoad>,
    targets: HashMap<String, TableTarget>,
}

impl PgSink {
    /// A sink into `load` for these tables.
    pub fn new(load: Arc<PgLoad>, targets: impl IntoIterator<Item = TableTarget>) -> Self {
        PgSink { load, targets: targets.into_iter().map(|t| (t.table.clone(), t)).collect() }
    }
}

impl Sink for PgSink {
    fn label(&self) -> &'static str {
        "postgres"
    }

    fn open_table(&self, table: &TableShape) -> Result<Box<dyn TableWriter>> {
        let target = self
            .targets
            .get(&table.name)
            .cloned()
            .ok_or_else(|| Error::other(format!("table `{}` has no target in PostgreSQL", table.name)))?;
        let (tx, rx) = mpsc::channel::<Result<RecordBatch>>(FEED_DEPTH);
        let (load, key) = (self.load.clone(), table.key.clone());
        let copy = tokio::spawn(async move { load.copy_table(&target, &key, ReceiverStream::new(rx)).await });
        Ok(Box::new(PgTable { tx: Some(tx), copy: Some(copy) }))
    }
}

struct PgTable {
    tx: Option<mpsc::Sender<Result<RecordBatch>>>,
    copy: Option<JoinHandle<Result<u64>>>,
}

impl PgTable {
    /// Ends the COPY's input and waits for its count or its error.
    async fn wait(&mut self) -> Result<u64> {
        self.tx = None;
        match self.copy.take() {
            Some(task) => task.await.map_err(|e| Error::other(format!("the COPY task failed: {e}")))?,
            None => Err(Error::other("the COPY already ended")),
        }
    }
}

impl TableWriter for PgTable {
    fn write<'a>(&'a mut self, batch: &'a RecordBatch) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let sent = match &self.tx {
                Some(tx) => tx.send(Ok(batch.clone())).await.is_ok(),
                None => false,
            };
            if sent {
                return Ok(());
            }
            // The COPY ended early: its own error says why.
            match self.wait().await {
                Err(e) => Err(e),
                Ok(_) => Err(Error::other("the COPY ended before the table's last batch")),
            }
        })
    }

    fn finish(mut self: Box<Self>) -> BoxFuture<'static, Result<Written>> {
        Box::pin(async move { self.wait().await.map(Written::Rows) })
    }

    fn abort(mut self: Box<Self>) -> BoxFuture<'static, ()> {
        // The COPY is failed, not finished: a table whose rows stopped half-way is never
        // committed (per-table mode commits a table when its COPY ends well).
        Box::pin(async move {
            if let Some(tx) = self.tx.take() {
                let _ = tx.send(Err(Error::other("the table failed before its last batch"))).await;
            }
            let _ = self.wait().await;
        })
    }
}
