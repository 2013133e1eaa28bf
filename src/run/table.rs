//! One table's way through a run: source feed → normalisation → optional SQL → sinks.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use futures::{Stream, StreamExt};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use crate::error::{Error, Result};
use crate::feed::{FeedMsg, ReadStats, TableFeed, FEED_DEPTH};
use crate::manifest::ManifestColumn;
use crate::pipeline::plan::TablePlan;
use crate::sink::{FileWritten, Sink, TableShape, TableWriter, Written};
use crate::transform::normalize::Normalizer;
use crate::types::Logical;

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
    /// What each of the run's sinks wrote (the run's sink order).
    pub written: Vec<Written>,
    /// Seconds from first to last batch.
    pub seconds: f64,
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

impl TableOutcome {
    /// The data files its sinks wrote.
    pub fn files(&self) -> impl Iterator<Item = &FileWritten> {
        self.written.iter().flat_map(|w| w.files())
    }
}

/// Runs one table to completion through every sink of the run.
pub async fn run_table(
    plan: TablePlan,
    feed: TableFeed,
    sinks: Vec<Arc<dyn Sink>>,
    hooks: TableHooks,
) -> Result<TableOutcome> {
    let started = Instant::now();
    let name = plan.name().to_string();
    let (schema, mut out, reader) = transformed(&plan, feed, &hooks).await?;
    let (shape, mut columns) = shape(&plan, &schema)?;
    let mut writers = Vec::with_capacity(sinks.len());
    for s in &sinks {
        match s.open_table(&shape) {
            Ok(w) => writers.push(w),
            Err(e) => {
                abort(writers).await;
                return Err(e);
            }
        }
    }
    let mut transformed = 0u64;
    let written = async {
        while let Some(batch) = out.next().await {
            let batch = batch?;
            transformed += batch.num_rows() as u64;
            if let Some(c) = &hooks.counter {
                c.add(batch.num_rows() as u64);
            }
            for w in writers.iter_mut() {
                w.write(&batch).await?;
            }
        }
        Ok::<_, Error>(())
    }
    .await;
    if let Err(e) = written {
        abort(writers).await;
        return Err(e);
    }
    let mut written = Vec::with_capacity(writers.len());
    let mut writers = writers.into_iter();
    while let Some(w) = writers.next() {
        match w.finish().await {
            Ok(w) => written.push(w),
            Err(e) => {
                abort(writers.collect()).await;
                return Err(e);
            }
        }
    }
    let stats = reader.await.map_err(|e| Error::other(format!("table `{name}`: reader task failed: {e}")))??;
    for (c, kind, n) in &stats.normalized {
        let out = plan.out_name(c);
        if let Some(mc) = columns.iter_mut().find(|mc| mc.name == out) {
            mc.count(*kind, *n);
        }
    }
    if let Some(c) = &hooks.counter {
        c.finish();
    }
    Ok(TableOutcome { table: name, stats, transformed, columns, written, seconds: started.elapsed().as_secs_f64() })
}

async fn abort(writers: Vec<Box<dyn TableWriter>>) {
    for w in writers {
        w.abort().await;
    }
}

/// The table's batches after the transform stage (normalised, then the table's
/// `[[transform]]` SQL if it has one), their schema, and the reader task that returns
/// the source's statistics.
async fn transformed(
    plan: &TablePlan,
    feed: TableFeed,
    hooks: &TableHooks,
) -> Result<(SchemaRef, BatchStream, tokio::task::JoinHandle<Result<ReadStats>>)> {
    let name = plan.name().to_string();
    let ctx = crate::transform::session();
    let norm = Normalizer::new(&ctx, &name, plan.spec.plans.clone(), plan.rules.clone(), &plan.spec.table.primary_key)?;
    let norm_schema = norm.schema();
    let (tx, rx) = mpsc::channel::<Result<RecordBatch>>(FEED_DEPTH);
    let norm = (!hooks.skip_transform).then_some(norm);
    let reader = tokio::spawn(normalize_feed(feed, norm, tx, hooks.drop_rows.clone()));
    let normalized: BatchStream = Box::pin(ReceiverStream::new(rx));
    let Some(sql) = &plan.transform_sql else { return Ok((norm_schema, normalized, reader)) };
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
    let out = q.output.map(move |r| r.map_err(|e| Error::datafusion(format!("transform SQL of table `{name}`"), e)));
    Ok((schema, Box::pin(out), reader))
}

/// What the sinks receive of the table (file sinks leave the audit columns out and
/// write the output names; PostgreSQL gets every column), and the manifest's columns.
fn shape(plan: &TablePlan, schema: &SchemaRef) -> Result<(TableShape, Vec<ManifestColumn>)> {
    let file_columns: Vec<usize> =
        (0..schema.fields().len()).filter(|&i| !plan.file_excluded.contains(schema.field(i).name())).collect();
    let file_schema = Arc::new(schema.project(&file_columns).map_err(|e| Error::datafusion("projection", e))?);
    let (mut columns, file_logical): (Vec<ManifestColumn>, Vec<Logical>) =
        manifest_columns(plan, &file_schema)?.into_iter().unzip();
    // The files carry the output names (`[[table]]` / `[[column]]` target, `options.names`).
    for c in columns.iter_mut() {
        c.name = plan.out_name(&c.name);
    }
    let shape = TableShape {
        name: plan.target.clone(),
        file_columns,
        file_schema: output_schema(plan, &file_schema),
        file_logical,
        key: plan.spec.table.primary_key.clone(),
    };
    Ok((shape, columns))
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
            FeedMsg::Done(mut stats) => {
                stats.normalized = norm.as_ref().map(Normalizer::changes).unwrap_or_default();
                return Ok(stats);
            }
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
                ..Default::default()
            };
            Ok((column, logical))
        })
        .collect()
}
