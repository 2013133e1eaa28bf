//! A DataFusion table over one exported CSV file, so an export can be queried with SQL
//! (`converge query DIR`). Every scan opens a fresh [`CsvReader`], so the table can be
//! scanned any number of times.

use std::path::PathBuf;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use datafusion::catalog::streaming::StreamingTable;
use datafusion::catalog::TableProvider;
use datafusion::error::DataFusionError;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::PartitionStream;

use super::reader::{csv_schema, CsvColumn, CsvReader};
use crate::error::{Error, Result};

/// A [`TableProvider`] over the CSV file at `path` with these columns, read in batches of
/// `batch_rows`. The header is checked now, so a wrong file fails at registration.
pub fn csv_table(path: PathBuf, columns: Vec<CsvColumn>, batch_rows: usize) -> Result<Arc<dyn TableProvider>> {
    drop(CsvReader::open(&path, columns.clone(), batch_rows)?);
    let schema = csv_schema(&columns);
    let partition = CsvPartition { path, columns, batch_rows, schema: schema.clone() };
    let table = StreamingTable::try_new(schema, vec![Arc::new(partition)])
        .map_err(|e| Error::datafusion("building the CSV table", e))?;
    Ok(Arc::new(table))
}

/// The single partition of a CSV table: one file, read from the start at every `execute`.
#[derive(Debug)]
struct CsvPartition {
    path: PathBuf,
    columns: Vec<CsvColumn>,
    batch_rows: usize,
    schema: SchemaRef,
}

/// How many decoded batches may wait between the reading thread and the query.
const CHANNEL_BATCHES: usize = 2;

impl PartitionStream for CsvPartition {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// Reading a file blocks, so inside a tokio runtime (the normal case: DataFusion runs
    /// on one) the reader runs on `spawn_blocking` and hands batches over a bounded
    /// channel, keeping the async workers free and memory bounded; the reader stops as
    /// soon as the query drops the stream (e.g. after a LIMIT). Outside a runtime it falls
    /// back to iterating the reader inline through `futures::stream::iter`.
    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let (path, columns, batch_rows) = (self.path.clone(), self.columns.clone(), self.batch_rows);
        let open = move || CsvReader::open(&path, columns, batch_rows);
        let to_df = |r: Result<RecordBatch>| r.map_err(|e| DataFusionError::External(Box::new(e)));
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                let (tx, rx) = tokio::sync::mpsc::channel(CHANNEL_BATCHES);
                handle.spawn_blocking(move || {
                    let reader = match open() {
                        Ok(r) => r,
                        Err(e) => {
                            let _ = tx.blocking_send(to_df(Err(e)));
                            return;
                        }
                    };
                    for batch in reader {
                        if tx.blocking_send(to_df(batch)).is_err() {
                            break; // the query no longer wants rows
                        }
                    }
                });
                let stream = futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|b| (b, rx)) });
                Box::pin(RecordBatchStreamAdapter::new(self.schema.clone(), stream))
            }
            Err(_) => {
                let batches: Box<dyn Iterator<Item = Result<RecordBatch>> + Send> = match open() {
                    Ok(reader) => Box::new(reader),
                    Err(e) => Box::new(std::iter::once(Err(e))),
                };
                Box::pin(RecordBatchStreamAdapter::new(self.schema.clone(), futures::stream::iter(batches.map(to_df))))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::csv::tests::temp_csv;
    use crate::types::Logical;
    use datafusion::prelude::SessionContext;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sql_over_an_export() {
        let mut content = String::from("id,flag,x,note\n");
        for i in 0..10 {
            let flag = if i % 3 == 0 { "t" } else { "f" };
            content.push_str(&format!("{i},{flag},{}.50,\"n\n{i}\"\n", i * 10));
        }
        content.push_str("10,t,\\N,\\N\n");
        let path = temp_csv(content.as_bytes());
        let columns = vec![
            CsvColumn::new("id", Logical::Int64),
            CsvColumn::new("flag", Logical::Bool),
            CsvColumn::new("x", Logical::Decimal(10, 2)),
            CsvColumn::new("note", Logical::Text),
        ];
        let ctx = SessionContext::new();
        ctx.register_table("t", csv_table(path, columns, 2).unwrap()).unwrap();
        for _ in 0..2 {
            let batches = ctx
                .sql("SELECT count(*) AS n, max(x) AS mx, count(note) AS notes FROM t WHERE flag")
                .await
                .unwrap()
                .collect()
                .await
                .unwrap();
            let text = arrow::util::pretty::pretty_format_batches(&batches).unwrap().to_string();
            assert!(text.contains("| 5 | 90.50 | 4     |"), "{text}");
        }
        let limited = ctx.sql("SELECT id FROM t LIMIT 3").await.unwrap().collect().await.unwrap();
        assert_eq!(limited.iter().map(|b| b.num_rows()).sum::<usize>(), 3);
    }

    #[tokio::test]
    async fn errors_surface_in_queries() {
        let path = temp_csv(b"id\n1\nx\n");
        let ctx = SessionContext::new();
        ctx.register_table("t", csv_table(path, vec![CsvColumn::new("id", Logical::Int32)], 2).unwrap()).unwrap();
        let e = ctx.sql("SELECT sum(id) FROM t").await.unwrap().collect().await.unwrap_err();
        assert!(e.to_string().contains(":3: column `id`"), "{e}");
        let wrong = temp_csv(b"other\n1\n");
        assert!(csv_table(wrong, vec![CsvColumn::new("id", Logical::Int32)], 2).is_err());
    }
}
