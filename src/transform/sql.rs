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
    let (tx, rx) = mpsc::channel(crate::feed::FEED_DEPTH);
    let part = Arc::new(ChannelPartition { schema: schema.clone(), rx: Mutex::new(Some(rx)) });
    let provider = StreamingTable::try_new(schema, vec![part]).map_err(|e| Error::datafusion("transform input", e))?;
    ctx.register_table("input", Arc::new(provider)).map_err(|e| Error::datafusion("transform input", e))?;
    let ctx_msg = || format!("transform SQL of table `{table}`");
    let df = ctx.sql(sql).await.map_err(|e| Error::datafusion(ctx_msg(), e))?;
    let output = df.execute_stream().await.map_err(|e| Error::datafusion(ctx_msg(), e))?;
    Ok(TableQuery { input: tx, output })
}

/// The columns a `[[transform]]` query gives for an input of `schema`, in order: each
/// with the input column it carries as it is or renamed (`note AS remark`), or `None`
/// when the query computes it. Plans the query over an empty input; nothing is read.
pub async fn outputs(table: &str, schema: SchemaRef, sql: &str) -> Result<Vec<(String, Option<String>)>> {
    use datafusion::datasource::MemTable;
    use datafusion::logical_expr::{Expr, LogicalPlan};
    fn projection(plan: &LogicalPlan) -> Option<&[Expr]> {
        match plan {
            LogicalPlan::Projection(p) => Some(&p.expr),
            LogicalPlan::Sort(s) => projection(&s.input),
            LogicalPlan::Limit(l) => projection(&l.input),
            LogicalPlan::Filter(f) => projection(&f.input),
            _ => None,
        }
    }
    let carried = |e: &Expr| match e {
        Expr::Column(c) => Some(c.name.clone()),
        Expr::Alias(a) => match a.expr.as_ref() {
            Expr::Column(c) => Some(c.name.clone()),
            _ => None,
        },
        _ => None,
    };
    let ctx = super::session();
    let ctx_msg = || format!("transform SQL of table `{table}`");
    let input = MemTable::try_new(schema.clone(), vec![vec![]]).map_err(|e| Error::datafusion(ctx_msg(), e))?;
    ctx.register_table("input", Arc::new(input)).map_err(|e| Error::datafusion(ctx_msg(), e))?;
    let df = ctx.sql(sql).await.map_err(|e| Error::datafusion(ctx_msg(), e))?;
    let plan = df.logical_plan();
    let exprs = projection(plan);
    let is_input = |n: &str| schema.fields().iter().any(|f| f.name() == n);
    Ok(plan
        .schema()
        .fields()
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let origin = exprs
                .and_then(|e| e.get(i))
                .and_then(carried)
                .filter(|n| is_input(n))
                .or_else(|| is_input(f.name()).then(|| f.name().clone()));
            (f.name().clone(), origin)
        })
        .collect())
}
