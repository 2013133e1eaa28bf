//! One table's way through a run: source feed → normalisation → optional SQL → sinks.

use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use futures::{Stream, StreamExt};
use tokio::sync::mpsc;

use super::plan::TablePlan;
use crate::error::{Error, Result};
use crate::manifest::ManifestColumn;
use crate::sink::csv::CsvTableWriter;
use crate::sink::parquet::ParquetTableWriter;
use crate::sink::postgres::load::PgLoad;
use crate::sink::postgres::target::TableTarget;
use crate::sink::FileWritten;
use crate::source::feed::{FeedMsg, ReadStats, TableFeed, FEED_DEPTH};
use crate::transform::normalize::Normalizer;
use crate::types::Logical;

/// A file sink for this table: which kind and in which export directory.
#[derive(Debug, Clone)]
pub enum FileSink {
    /// CSV into this directory.
    Csv(PathBuf),
    /// Parquet into this directory, new file past this many bytes.
    Parquet(PathBuf, u64),
}

/// What a table's run produced.
#[derive(Debug, Clone)]
pub struct TableOutcome {
    /// The table.
    pub table: String,
    /// The source's statistics.
    pub stats: ReadStats,
    /// Rows that left the transform stage.
    pub transformed: u64,
    /// The columns written, as the manifest describes them.
    pub columns: Vec<ManifestColumn>,
    /// Files written per sink (index into the run's file sinks).
    pub files: Vec<(usize, Vec<FileWritten>)>,
    /// Rows COPY reported, when the table was loaded into PostgreSQL.
    pub copied: Option<u64>,
    /// Seconds from first to last batch.
    pub seconds: f64,
}

enum Writer {
    Csv(Box<CsvTableWriter>),
    Parquet(Box<ParquetTableWriter>),
}

type BatchStream = Pin<Box<dyn Stream<Item = Result<RecordBatch>> + Send>>;

/// Test hook: drop this many rows of the named table after reading (simulates a lost row).
pub type DropRows = Option<(String, usize)>;

/// What a run adds to one table's flow besides its sinks.
#[derive(Debug, Clone, Default)]
pub struct TableHooks {
    /// The table's progress counter.
    pub counter: Option<Arc<crate::progress::TableProgress>>,
    /// Test hook: lose rows (see [`DropRows`]).
    pub drop_rows: DropRows,
    /// Benchmarks: pass batches on as read, without normalisation.
    pub skip_transform: bool,
}

/// Runs one table to completion.
pub async fn run_table(
    plan: TablePlan,
    feed: TableFeed,
    sinks: Vec<FileSink>,
    pg: Option<(Arc<PgLoad>, TableTarget)>,
    hooks: TableHooks,
) -> Result<TableOutcome> {
    let TableHooks { counter, drop_rows, skip_transform } = hooks;
    let started = Instant::now();
    let name = plan.name().to_string();
    let ctx = crate::transform::session();
    let norm = Normalizer::new(&ctx, &name, plan.spec.plans.clone(), plan.rules.clone(), &plan.spec.table.primary_key)?;
    let norm_schema = norm.schema();
    let (tx, rx) = mpsc::channel::<Result<RecordBatch>>(FEED_DEPTH);
    let reader = tokio::spawn(normalize_feed(feed, (!skip_transform).then_some(norm), tx, drop_rows));
    let normalized: BatchStream =
        Box::pin(futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) }));
    let (schema, mut out): (SchemaRef, BatchStream) = match &plan.transform_sql {
        None => (norm_schema, normalized),
        Some(sql) => {
            let q = crate::transform::sql::start(&name, norm_schema, sql).await?;
            let input = q.input;
            tokio::spawn(async move {
                let mut normalized = normalized;
                while let Some(item) = normalized.next().await {
                    let item = item.map_err(|e| datafusion::common::DataFusionError::External(Box::new(e)));
                    let failed = item.is_err();
                    if input.send(item).await.is_err() || failed {
                        break;
                    }
                }
            });
            let schema = q.output.schema();
            let table = name.clone();
            (
                schema,
                Box::pin(
                    q.output
                        .map(move |r| r.map_err(|e| Error::datafusion(format!("transform SQL of table `{table}`"), e))),
                ),
            )
        }
    };
    // File sinks leave the audit columns out; PostgreSQL gets every column.
    let file_indices: Vec<usize> =
        (0..schema.fields().len()).filter(|&i| !plan.file_excluded.contains(schema.field(i).name())).collect();
    let file_schema =
        std::sync::Arc::new(schema.project(&file_indices).map_err(|e| Error::datafusion("projection", e))?);
    let (mut columns, logical): (Vec<ManifestColumn>, Vec<Logical>) =
        manifest_columns(&plan, &file_schema)?.into_iter().unzip();
    // The files carry the output names (`[[table]]` / `[[column]]` target, `options.names`).
    for c in columns.iter_mut() {
        c.name = plan.out_name(&c.name);
    }
    let out_schema = output_schema(&plan, &file_schema);
    let rename = out_schema.fields().iter().zip(file_schema.fields()).any(|(a, b)| a.name() != b.name());
    let names: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
    let file = plan.target.as_str();
    let mut writers = sinks
        .iter()
        .map(|s| match s {
            FileSink::Csv(dir) => CsvTableWriter::create(dir, file, &names, &logical).map(|w| Writer::Csv(Box::new(w))),
            FileSink::Parquet(dir, max) => {
                ParquetTableWriter::create(dir, file, out_schema.clone(), *max).map(|w| Writer::Parquet(Box::new(w)))
            }
        })
        .collect::<Result<Vec<_>>>()?;
    let (pg_tx, pg_rx) = mpsc::channel::<Result<RecordBatch>>(FEED_DEPTH);
    let copy = async {
        match &pg {
            Some((load, target)) => {
                let stream =
                    futures::stream::unfold(pg_rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) });
                load.copy_table(target, &plan.spec.table.primary_key, Box::pin(stream)).await.map(Some)
            }
            None => Ok(None),
        }
    };
    let write = async {
        let mut pg_tx = pg.as_ref().map(|_| pg_tx);
        let mut transformed = 0u64;
        while let Some(batch) = out.next().await {
            let batch = batch?;
            transformed += batch.num_rows() as u64;
            if let Some(c) = &counter {
                c.add(batch.num_rows() as u64);
            }
            if !writers.is_empty() {
                let mut file_batch = batch.project(&file_indices).map_err(|e| Error::datafusion("projection", e))?;
                if rename {
                    file_batch = RecordBatch::try_new(out_schema.clone(), file_batch.columns().to_vec())
                        .map_err(|e| Error::datafusion("renaming columns", e))?;
                }
                tokio::task::block_in_place(|| {
                    writers.iter_mut().try_for_each(|w| match w {
                        Writer::Csv(w) => w.write(&file_batch),
                        Writer::Parquet(w) => w.write(&file_batch),
                    })
                })?;
            }
            if let Some(tx) = &pg_tx {
                if tx.send(Ok(batch)).await.is_err() {
                    // The COPY ended early: its own error says why.
                    pg_tx = None;
                    break;
                }
            }
        }
        drop(pg_tx);
        Ok::<_, Error>(transformed)
    };
    let (written, copied) = futures::join!(write, copy);
    let copied = copied?;
    let transformed = written?;
    let stats = reader.await.map_err(|e| Error::other(format!("table `{name}`: reader task failed: {e}")))??;
    let files = tokio::task::block_in_place(|| {
        writers
            .into_iter()
            .enumerate()
            .map(|(i, w)| {
                Ok((
                    i,
                    match w {
                        Writer::Csv(w) => vec![w.finish()?],
                        Writer::Parquet(w) => w.finish()?,
                    },
                ))
            })
            .collect::<Result<Vec<_>>>()
    })?;
    if let Some(c) = &counter {
        c.finish();
    }
    Ok(TableOutcome {
        table: name,
        stats,
        transformed,
        columns,
        files,
        copied,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Reads the feed, normalises each batch and passes it on; returns the read statistics.
async fn normalize_feed(
    mut feed: TableFeed,
    mut norm: Option<Normalizer>,
    tx: mpsc::Sender<Result<RecordBatch>>,
    mut drop_rows: DropRows,
) -> Result<ReadStats> {
    while let Some(msg) = feed.rx.recv().await {
        match msg {
            FeedMsg::Batch(b) => {
                let normalized = match norm.as_mut() {
                    Some(norm) => norm.apply(&b),
                    None => Ok(b),
                };
                let mut b = match normalized {
                    Ok(b) => b,
                    Err(e) => {
                        let text = e.to_string();
                        let _ = tx.send(Err(e)).await;
                        return Err(Error::other(text));
                    }
                };
                if let Some((t, n)) = drop_rows.take_if(|(t, _)| *t == feed.table) {
                    b = b.slice(0, b.num_rows().saturating_sub(n));
                    tracing::warn!(table = %t, "test hook: dropped up to {n} rows");
                }
                if tx.send(Ok(b)).await.is_err() {
                    return Err(Error::other(format!("table `{}`: the writer stopped", feed.table)));
                }
            }
            FeedMsg::Done(stats) => return Ok(stats),
            FeedMsg::Failed(e) => {
                let text = e.to_string();
                let _ = tx.send(Err(e)).await;
                return Err(Error::other(text));
            }
        }
    }
    Err(Error::other(format!("table `{}`: the source ended without finishing", feed.table)))
}

/// `schema` with each column under its output name.
fn output_schema(plan: &TablePlan, schema: &SchemaRef) -> SchemaRef {
    let fields: Vec<arrow::datatypes::Field> =
        schema.fields().iter().map(|f| f.as_ref().clone().with_name(plan.out_name(f.name()))).collect();
    std::sync::Arc::new(arrow::datatypes::Schema::new_with_metadata(fields, schema.metadata().clone()))
}

/// The manifest's column list for the batches the sinks receive, with each column's
/// logical type (which decides how the CSV sink writes it).
fn manifest_columns(plan: &TablePlan, schema: &SchemaRef) -> Result<Vec<(ManifestColumn, Logical)>> {
    let t = &plan.spec.table;
    schema
        .fields()
        .iter()
        .map(|f| {
            let source = plan
                .spec
                .plans
                .iter()
                .zip(&plan.spec.columns)
                .find(|(p, _)| p.name == *f.name() && p.logical.arrow_type() == *f.data_type());
            let (mysql_type, logical, nullable) = match source {
                Some((p, &ci)) => (t.columns[ci].mysql.column_type.clone(), p.logical, t.columns[ci].nullable),
                None => {
                    let l = Logical::from_arrow(f.data_type()).ok_or_else(|| {
                        Error::other(format!(
                            "table `{}`: column `{}` has type {}, which no sink can write",
                            t.name,
                            f.name(),
                            f.data_type()
                        ))
                    })?;
                    (String::new(), l, true)
                }
            };
            let column = ManifestColumn {
                name: f.name().clone(),
                mysql_type,
                logical_type: logical.name(),
                arrow_type: logical.arrow_type().to_string(),
                nullable,
            };
            Ok((column, logical))
        })
        .collect()
}
