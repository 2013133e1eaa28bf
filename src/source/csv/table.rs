//! A DataFusion table over one exported CSV file, so an export can be queried with SQL
//! (`converge query DIR`). Every scan reads the file afresh, so the table can be
//! scanned any number of times, and decodes only the columns the query reads (a
//! two-column aggregate over a wide table builds two columns).
//!
//! A scan has one partition per core the session plans for (`target_partitions`): one
//! thread cuts the file into chunks of whole records ([`super::split`]) and each
//! partition decodes the chunks it takes, so decoding — the expensive part — uses every
//! core. Rows come out in no particular order, as SQL allows.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

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
use super::split::{Chunk, Splitter};
use crate::error::Result;

/// A [`TableProvider`] over the CSV file at `path` with these columns, read in batches of
/// `batch_rows`. The header is checked now, so a wrong file fails at registration.
pub fn csv_table(path: PathBuf, columns: Vec<CsvColumn>, batch_rows: usize) -> Result<Arc<dyn TableProvider>> {
    csv_table_in_chunks(path, columns, batch_rows, CHUNK_BYTES)
}

/// [`csv_table`], its scans cutting the file into chunks of about `chunk_bytes`.
fn csv_table_in_chunks(
    path: PathBuf,
    columns: Vec<CsvColumn>,
    batch_rows: usize,
    chunk_bytes: usize,
) -> Result<Arc<dyn TableProvider>> {
    drop(CsvReader::open(&path, columns.clone(), batch_rows)?);
    let schema = csv_schema(&columns);
    Ok(Arc::new(CsvTable { path, columns, batch_rows, chunk_bytes, schema }))
}

/// The table: the file, its columns and the schema they give.
#[derive(Debug)]
struct CsvTable {
    path: PathBuf,
    columns: Vec<CsvColumn>,
    batch_rows: usize,
    chunk_bytes: usize,
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

    /// One partition per planned core, sharing one reading of the file, each decoding
    /// only `projection`'s columns.
    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        limit: Option<usize>,
    ) -> datafusion::error::Result<Arc<dyn ExecutionPlan>> {
        let schema = match projection {
            Some(p) => Arc::new(self.schema.project(p)?),
            None => self.schema.clone(),
        };
        let scan = Arc::new(Scan {
            path: self.path.clone(),
            columns: self.columns.clone(),
            batch_rows: self.batch_rows,
            projection: projection.cloned(),
            schema: schema.clone(),
            chunk_bytes: self.chunk_bytes,
            chunks: Mutex::new(None),
        });
        let n = state.config().target_partitions().max(1);
        let partitions: Vec<Arc<dyn PartitionStream>> =
            (0..n).map(|_| Arc::new(CsvPartition { scan: scan.clone() }) as Arc<dyn PartitionStream>).collect();
        let exec = StreamingTableExec::try_new(schema, partitions, None, Vec::new(), false, limit)?;
        Ok(Arc::new(exec))
    }
}

/// Bytes of whole records a decoder takes at a time.
const CHUNK_BYTES: usize = 4 << 20;

/// How many decoded batches may wait between a decoding thread and the query, and how
/// many chunks between the reading thread and the decoders (per partition).
const CHANNEL_BATCHES: usize = 2;

/// The chunks of one scan, taken by whichever partition is free, and whether the
/// reading thread got to the end (a closed channel without it means the thread died).
#[derive(Debug)]
struct Shared {
    rx: Mutex<std::sync::mpsc::Receiver<Result<Chunk>>>,
    finished: std::sync::atomic::AtomicBool,
}

type Chunks = Arc<Shared>;

/// One scan of the file: what every partition decodes, and the chunks they share
/// (started by the first partition executed).
#[derive(Debug)]
struct Scan {
    path: PathBuf,
    columns: Vec<CsvColumn>,
    batch_rows: usize,
    projection: Option<Vec<usize>>,
    schema: SchemaRef,
    chunk_bytes: usize,
    chunks: Mutex<Option<Chunks>>,
}

impl Scan {
    /// The scan's chunks: the reading thread is started on the first call.
    fn chunks(&self, partitions: usize) -> Chunks {
        let mut guard = self.chunks.lock().unwrap_or_else(|p| p.into_inner());
        guard
            .get_or_insert_with(|| {
                let (tx, rx) = std::sync::mpsc::sync_channel(CHANNEL_BATCHES * partitions);
                let shared = Arc::new(Shared { rx: Mutex::new(rx), finished: false.into() });
                let (path, chunk_bytes, done) = (self.path.clone(), self.chunk_bytes, shared.clone());
                std::thread::spawn(move || {
                    let mut splitter = match Splitter::open(&path, chunk_bytes) {
                        Ok(s) => s,
                        Err(e) => return drop(tx.send(Err(e))),
                    };
                    loop {
                        let Some(next) = splitter.next_chunk().transpose() else {
                            return done.finished.store(true, std::sync::atomic::Ordering::Release);
                        };
                        let failed = next.is_err();
                        if tx.send(next).is_err() || failed {
                            return; // an error sent, or no partition wants more
                        }
                    }
                });
                shared
            })
            .clone()
    }

    /// Decodes chunks until there are none left (or the query stops wanting batches):
    /// the work of one partition's thread.
    fn decode(&self, chunks: &Chunks, tx: &tokio::sync::mpsc::Sender<datafusion::error::Result<RecordBatch>>) {
        let to_df = |r: Result<RecordBatch>| r.map_err(|e| DataFusionError::External(Box::new(e)));
        loop {
            let next = chunks.rx.lock().unwrap_or_else(|p| p.into_inner()).recv();
            let chunk = match next {
                Ok(Ok(chunk)) => chunk,
                Ok(Err(e)) => return drop(tx.blocking_send(to_df(Err(e)))),
                Err(_) if chunks.finished.load(std::sync::atomic::Ordering::Acquire) => return, // every chunk taken
                Err(_) => {
                    let e = crate::error::Error::other(format!(
                        "reading {}: the thread cutting the file into chunks stopped before its end",
                        self.path.display()
                    ));
                    return drop(tx.blocking_send(to_df(Err(e))));
                }
            };
            let reader = CsvReader::records(
                &self.path,
                std::io::Cursor::new(chunk.bytes),
                chunk.line,
                self.columns.clone(),
                self.batch_rows,
                Typing::Final,
                self.projection.as_deref(),
            );
            let batches: Box<dyn Iterator<Item = Result<RecordBatch>>> = match reader {
                Ok(r) => Box::new(r),
                Err(e) => Box::new(std::iter::once(Err(e))),
            };
            for batch in batches {
                let failed = batch.is_err();
                if tx.blocking_send(to_df(batch)).is_err() || failed {
                    return; // the query no longer wants rows, or this one failed it
                }
            }
        }
    }
}

/// One partition of a CSV table scan.
#[derive(Debug)]
struct CsvPartition {
    scan: Arc<Scan>,
}

impl PartitionStream for CsvPartition {
    fn schema(&self) -> &SchemaRef {
        &self.scan.schema
    }

    /// Decoding blocks, so it runs on `spawn_blocking` and hands batches over a bounded
    /// channel, keeping the async workers free and memory bounded; it stops as soon as
    /// the query drops the stream (e.g. after a LIMIT). DataFusion executes plans on a
    /// tokio runtime; outside one, a partition is decoded on the calling thread.
    fn execute(&self, ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let scan = self.scan.clone();
        let chunks = scan.chunks(ctx.session_config().target_partitions().max(1));
        let (tx, rx) = tokio::sync::mpsc::channel(CHANNEL_BATCHES);
        let work = move || scan.decode(&chunks, &tx);
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => drop(handle.spawn_blocking(work)),
            Err(_) => drop(std::thread::spawn(work)),
        }
        let stream = futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|b| (b, rx)) });
        Box::pin(RecordBatchStreamAdapter::new(self.scan.schema.clone(), stream))
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

    /// A file cut into many chunks, decoded by two partitions at once: every row counted
    /// once, the values right, and a bad value deep in the file named by its line.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn chunks_decoded_on_two_cores_give_every_row_once() {
        let mut content = String::from("id,note\n");
        let mut line = 2;
        let mut bad_line = 0;
        for i in 0..5000i64 {
            let note = if i % 7 == 0 { format!("\"two\nlines {i}\"") } else { format!("n{i}") };
            if i == 4321 {
                bad_line = line;
            }
            content.push_str(&format!("{i},{note}\n"));
            line += 1 + (i % 7 == 0) as u64;
        }
        let columns = || vec![CsvColumn::new("id", Logical::Int64), CsvColumn::new("note", Logical::Text)];
        let path = temp_csv(content.as_bytes());
        let config = datafusion::prelude::SessionConfig::new().with_target_partitions(2);
        let ctx = SessionContext::new_with_config(config);
        ctx.register_table("t", csv_table_in_chunks(path, columns(), 100, 1000).unwrap()).unwrap();
        let sql = "SELECT count(*) AS n, count(DISTINCT id) AS ids, sum(id) AS s, \
                   sum(CASE WHEN note LIKE 'two\nlines %' THEN 1 ELSE 0 END) AS multi FROM t";
        let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
        let text = arrow::util::pretty::pretty_format_batches(&batches).unwrap().to_string();
        assert!(text.contains("| 5000 | 5000 | 12497500 | 715   |"), "{text}");
        let plan = ctx.sql("SELECT id FROM t").await.unwrap().create_physical_plan().await.unwrap();
        use datafusion::physical_plan::ExecutionPlanProperties;
        assert_eq!(plan.output_partitioning().partition_count(), 2);

        let broken = content.replacen("\n4321,", "\nx4321,", 1);
        let ctx = SessionContext::new_with_config(datafusion::prelude::SessionConfig::new().with_target_partitions(2));
        ctx.register_table("t", csv_table_in_chunks(temp_csv(broken.as_bytes()), columns(), 100, 1000).unwrap())
            .unwrap();
        let e = ctx.sql("SELECT sum(id) FROM t").await.unwrap().collect().await.unwrap_err();
        assert!(e.to_string().contains(&format!(":{bad_line}: column `id`")), "line {bad_line}: {e}");
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
