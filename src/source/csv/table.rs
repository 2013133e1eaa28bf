//! A DataFusion table over one exported CSV file, so an export can be queried with SQL
//! (`converge query DIR`). Every scan opens a fresh [`CsvReader`], so the table can be
//! scanned any number of times, and decodes only the columns the query reads (a
//! two-column aggregate over a wide table builds two columns).

use std::path::PathBuf;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use datafusion::catalog::{Session, TableProvider};
use datafusion::datasource::TableType;
use datafusion::error::DataFusionError;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::{PartitionStream, StreamingTableExec};
use datafusion::physical_plan::ExecutionPlan;

use super::reader::{csv_schema, CsvColumn, CsvReader, Typing};
use crate::error::Result;

/// A [`TableProvider`] over the CSV file at `path` with these columns, read in batches of
/// `batch_rows`. The header is checked now, so a wrong file fails at registration.
pub fn csv_table(path: PathBuf, columns: Vec<CsvColumn>, batch_rows: usize) -> Result<Arc<dyn TableProvider>> {
    drop(CsvReader::open(&path, columns.clone(), batch_rows)?);
    let schema = csv_schema(&columns);
    Ok(Arc::new(CsvTable { path, columns, batch_rows, schema }))
}

/// The table: the file, its columns and the schema they give.
#[derive(Debug)]
struct CsvTable {
    path: PathBuf,
    columns: Vec<CsvColumn>,
    batch_rows: usize,
    schema: SchemaRef,
}

#[async_trait::async_trait]
impl TableProvider for CsvTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    /// One partition reading the file, decoding only `projection`'s columns.
    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        limit: Option<usize>,
    ) -> datafusion::error::Result<Arc<dyn ExecutionPlan>> {
        let schema = match projection {
            Some(p) => Arc::new(self.schema.project(p)?),
            None => self.schema.clone(),
        };
        let partition = CsvPartition {
            path: self.path.clone(),
            columns: self.columns.clone(),
            batch_rows: self.batch_rows,
            projection: projection.cloned(),
            schema: schema.clone(),
        };
        let exec = StreamingTableExec::try_new(schema, vec![Arc::new(partition)], None, Vec::new(), false, limit)?;
        Ok(Arc::new(exec))
    }
}

/// The single partition of a CSV table scan: one file, read from the start at every
/// `execute`, its projected columns decoded.
#[derive(Debug)]
struct CsvPartition {
    path: PathBuf,
    columns: Vec<CsvColumn>,
    batch_rows: usize,
    projection: Option<Vec<usize>>,
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
        let projection = self.projection.clone();
        let open = move || CsvReader::open_projected(&path, columns, batch_rows, Typing::Final, projection.as_deref());
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

    /// Only the projected columns are decoded: a column whose text is not its type does
    /// not stop a query that does not read it, and stops one that does; count(*) reads
    /// no column at all.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn only_the_projected_columns_are_decoded() {
        let path = temp_csv(b"id,bad,note\n1,x,one\n2,y,two\n3,z,\\N\n");
        let columns = vec![
            CsvColumn::new("id", Logical::Int64),
            CsvColumn::new("bad", Logical::Int32),
            CsvColumn::new("note", Logical::Text),
        ];
        let ctx = SessionContext::new();
        ctx.register_table("t", csv_table(path, columns, 2).unwrap()).unwrap();
        let run = |sql: &'static str| {
            let ctx = ctx.clone();
            async move {
                let batches = ctx.sql(sql).await?.collect().await?;
                Ok::<_, DataFusionError>(arrow::util::pretty::pretty_format_batches(&batches)?.to_string())
            }
        };
        let text = run("SELECT sum(id) AS s, count(note) AS n FROM t").await.unwrap();
        assert!(text.contains("| 6 | 2 |"), "{text}");
        let text = run("SELECT count(*) AS n FROM t").await.unwrap();
        assert!(text.contains("| 3 |"), "{text}");
        let e = run("SELECT sum(bad) FROM t").await.unwrap_err();
        assert!(e.to_string().contains("column `bad`"), "{e}");
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
