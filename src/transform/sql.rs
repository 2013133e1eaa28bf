//! Per-table SQL (`[[transform]]`): the table's normalised batches are the streaming
//! table `input`, the query's result is what the sinks receive.

use std::sync::{Arc, Mutex};

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use datafusion::catalog::streaming::StreamingTable;
use datafusion::common::DataFusionError;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::PartitionStream;
use tokio::sync::mpsc;

use crate::error::{Error, Result};

type Item = std::result::Result<RecordBatch, DataFusionError>;

/// A partition fed by a channel; it can be executed once.
#[derive(Debug)]
struct ChannelPartition {
    schema: SchemaRef,
    rx: Mutex<Option<mpsc::Receiver<Item>>>,
}

impl PartitionStream for ChannelPartition {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let rx = self.rx.lock().expect("not poisoned").take();
        let stream = futures::stream::unfold(rx, |rx| async move {
            let mut rx = rx?;
            let item = rx.recv().await?;
            Some((item, Some(rx)))
        });
        Box::pin(RecordBatchStreamAdapter::new(self.schema.clone(), stream))
    }
}

/// A running per-table query: push input batches in, read result batches out.
pub struct TableQuery {
    /// Sends the table's normalised batches (drop it to end the input).
    pub input: mpsc::Sender<Item>,
    /// The query's result.
    pub output: SendableRecordBatchStream,
}

/// Plans `sql` over a streaming table `input` with `schema` and starts it.
pub async fn start(table: &str, schema: SchemaRef, sql: &str) -> Result<TableQuery> {
    let ctx = super::session();
    let (tx, rx) = mpsc::channel(crate::source::feed::FEED_DEPTH);
    let part = Arc::new(ChannelPartition { schema: schema.clone(), rx: Mutex::new(Some(rx)) });
    let provider = StreamingTable::try_new(schema, vec![part]).map_err(|e| Error::datafusion("transform input", e))?;
    ctx.register_table("input", Arc::new(provider)).map_err(|e| Error::datafusion("transform input", e))?;
    let ctx_msg = || format!("transform SQL of table `{table}`");
    let df = ctx.sql(sql).await.map_err(|e| Error::datafusion(ctx_msg(), e))?;
    let output = df.execute_stream().await.map_err(|e| Error::datafusion(ctx_msg(), e))?;
    Ok(TableQuery { input: tx, output })
}
