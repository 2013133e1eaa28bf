//! `converge query --target URL`: the base tables of a live PostgreSQL database (the
//! migration's target) as DataFusion tables, alone or beside export directories, so one
//! statement compares an export with what PostgreSQL holds (docs/architecture.md, "SQL
//! over exports and the target").
//!
//! Every base table of the schema is one [`TableProvider`], registered in the DataFusion
//! schema `target` (and by its bare name when no export is open). Its columns are typed
//! from the target's column types through the one mapping ([`logical_of`]); a type with no
//! exact Arrow form is read as text. A scan opens a session of its own and reads only the
//! projected columns, streaming: `COPY (SELECT …) TO STDOUT (FORMAT csv, NULL '\N',
//! FORCE_QUOTE *)`, each column printed by PostgreSQL the way the export writes it
//! ([`SESSION`], [`select_expr`]), and the bytes go through the export's own record
//! parser and decoder. A value arrives exactly, or the query fails naming the table, the
//! row, the column and the value. Each scan is its own snapshot.

use std::cell::RefCell;
use std::fmt;
use std::io::BufRead;
use std::path::PathBuf;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::{RecordBatch, RecordBatchOptions};
use bytes::Bytes;
use datafusion::catalog::{MemorySchemaProvider, Session, TableProvider};
use datafusion::common::TableReference;
use datafusion::datasource::TableType;
use datafusion::error::DataFusionError;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::{PartitionStream, StreamingTableExec};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::SessionContext;
use futures::StreamExt;
use tokio::runtime::Handle;
use tokio::sync::mpsc::Sender;
use tokio_postgres::{Client, CopyOutStream};

use super::TableFiles;
use crate::error::{shorten, Error, Result};
use crate::ident;
use crate::pg::connect::connect;
use crate::pg::introspect::{introspect, PgColumn};
use crate::secret::redact_url;
use crate::sink::postgres::pgtype::{Limit, PgTarget};
use crate::source::csv::parse::RecordParser;
use crate::source::csv::{csv_schema, CsvColumn};
use crate::source::decode::{Cell, ColumnDecoder, Decoding, Reason};
use crate::types::Logical;

/// The DataFusion schema the target's tables are registered in.
pub const SCHEMA: &str = "target";

/// The settings of every session that reads the target: PostgreSQL then prints each value
/// as the export writes it (`t`/`f`, ISO dates, `\x` hex, floats that read back to the
/// same bits, intervals and times as `[-]H:MM:SS[.ffffff]`), and can write nothing.
pub const SESSION: &str = "SET TimeZone = 'UTC'; SET DateStyle = 'ISO'; SET IntervalStyle = 'postgres'; \
     SET extra_float_digits = 3; SET bytea_output = 'hex'; SET default_transaction_read_only = on";

/// How many decoded batches may wait between the reading thread and the query.
const CHANNEL_BATCHES: usize = 2;

/// Opens export directories for SQL as [`super::open_exports`] does (none: only the
/// target), then registers the target's tables ([`register`]): by their bare names too
/// when no export is given.
pub async fn open(dirs: &[PathBuf], files: TableFiles, url: &str, schema: &str) -> Result<SessionContext> {
    let ctx = if dirs.is_empty() { super::session() } else { super::open_exports(dirs, files).await? };
    register(&ctx, url, schema, dirs.is_empty()).await?;
    Ok(ctx)
}

/// Registers every base table of `schema` in the PostgreSQL database at `url` with
/// `ctx`, in the DataFusion schema `target` and, with `bare`, also by its bare name;
/// returns how many tables. The columns are read now, so a wrong URL or schema fails
/// here; the rows are read by each scan.
pub async fn register(ctx: &SessionContext, url: &str, schema: &str, bare: bool) -> Result<usize> {
    let tables = describe(url, schema).await?;
    let catalog = ctx.catalog("datafusion").ok_or_else(|| Error::other("the query session has no catalog"))?;
    if catalog.schema(SCHEMA).is_some() {
        return Err(Error::other(format!(
            "an export is already named `{SCHEMA}`: the target's tables cannot be registered under that name"
        )));
    }
    catalog
        .register_schema(SCHEMA, Arc::new(MemorySchemaProvider::new()))
        .map_err(|e| Error::datafusion(format!("registering schema `{SCHEMA}`"), e))?;
    let url = Arc::new(TargetUrl(url.to_string()));
    for (table, columns) in &tables {
        let provider: Arc<dyn TableProvider> = Arc::new(TargetTable {
            schema: csv_schema(columns),
            scan: Scan { url: url.clone(), schema: schema.to_string(), table: table.clone(), columns: columns.clone() },
        });
        let mut names = vec![TableReference::partial(SCHEMA, table.as_str())];
        if bare {
            names.push(TableReference::bare(table.as_str()));
        }
        for name in names {
            ctx.register_table(name, provider.clone())
                .map_err(|e| Error::datafusion(format!("registering the target's table `{table}`"), e))?;
        }
    }
    Ok(tables.len())
}

/// Every base table of `schema` with its columns, typed for reading, from pg_catalog.
async fn describe(url: &str, schema: &str) -> Result<Vec<(String, Vec<CsvColumn>)>> {
    let client = connect(url).await?;
    let exists = client
        .query_one("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)", &[&schema])
        .await
        .map_err(|e| Error::postgres(format!("reading the schemas of {}", redact_url(url)), &e))?;
    if !exists.get::<_, bool>(0) {
        return Err(Error::other(format!("the target {} has no schema `{schema}`", redact_url(url))));
    }
    let tables = introspect(&client, schema).await?;
    Ok(tables
        .into_iter()
        .map(|t| {
            let columns = t.columns.iter().map(|c| CsvColumn::new(&c.name, logical_of(c))).collect();
            (t.name, columns)
        })
        .collect())
}

/// The logical type a target column is read as: the mapping's type where every value
/// of the column has an exact Arrow form (`numeric(p,s)` a decimal, `timestamptz` an
/// instant, `timestamp` a wall-clock time, `time` and `interval` a duration, …), text
/// otherwise (unconstrained `numeric`, enums, arrays, `bit`, `money`, `timetz`, …).
pub fn logical_of(c: &PgColumn) -> Logical {
    if c.is_enum {
        return Logical::Text;
    }
    let Some(pg) = PgTarget::from_pg_type_name(&c.type_name) else { return Logical::Text };
    match pg {
        PgTarget::Bool => Logical::Bool,
        PgTarget::Int2 => Logical::Int16,
        PgTarget::Int4 => Logical::Int32,
        PgTarget::Int8 => Logical::Int64,
        PgTarget::Numeric => match Limit::from_typmod("numeric", c.typmod) {
            Limit::Numeric { precision, scale } if precision <= 76 && (0..=precision as i16).contains(&scale) => {
                Logical::Decimal(precision as u8, scale as i8)
            }
            _ => Logical::Text,
        },
        PgTarget::Float4 => Logical::Float32,
        PgTarget::Float8 => Logical::Float64,
        PgTarget::Uuid => Logical::Uuid,
        PgTarget::Json | PgTarget::Jsonb => Logical::Json,
        PgTarget::Bytea => Logical::Binary,
        PgTarget::Date => Logical::Date,
        // An interval with days or months has no exact duration: such a value is refused.
        PgTarget::Time | PgTarget::Interval => Logical::Time,
        PgTarget::Timestamp => Logical::DateTime,
        PgTarget::Timestamptz => Logical::Timestamp,
        PgTarget::Text | PgTarget::TextArray | PgTarget::VarcharArray | PgTarget::Bit | PgTarget::Geometry => {
            Logical::Text
        }
    }
}

/// The SELECT expression that has PostgreSQL print a column as the export writes it.
/// [`SESSION`] renders every type but instants: those go through `to_char` in UTC
/// (`YYYY-MM-DDTHH:MM:SS.ffffffZ`) within the years 1 to 9999, where that is exact.
/// Outside them `to_char` would give NULL (`infinity`) or drop the era (BC), so the value
/// comes as PostgreSQL prints it, and the decoder refuses it by name.
pub fn select_expr(c: &CsvColumn) -> String {
    let q = ident::pg(&c.name);
    let (zone, at) = match c.logical {
        Logical::Timestamp => ("+00", " AT TIME ZONE 'UTC'"),
        Logical::DateTime => ("", ""),
        _ => return q,
    };
    format!(
        "CASE WHEN {q} BETWEEN '0001-01-01 00:00:00{zone}' AND '9999-12-31 23:59:59.999999{zone}' \
         THEN to_char({q}{at}, 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') ELSE {q}::text END"
    )
}

/// The COPY that reads `columns` of `schema`.`table` (no column: one empty field a row),
/// every value quoted so that only NULL is the unquoted `\N`.
pub fn copy_sql(schema: &str, table: &str, columns: &[CsvColumn], limit: Option<usize>) -> String {
    let list: Vec<String> = columns.iter().map(select_expr).collect();
    let limit = limit.map(|n| format!(" LIMIT {n}")).unwrap_or_default();
    format!(
        "COPY (SELECT {} FROM {}{limit}) TO STDOUT (FORMAT csv, NULL E'\\\\N', FORCE_QUOTE *)",
        list.join(", "),
        ident::pg_qualified(schema, table)
    )
}

/// The target's URL; `Debug` (DataFusion prints plans with it) shows it redacted.
struct TargetUrl(String);

impl fmt::Debug for TargetUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redact_url(&self.0))
    }
}

/// What a scan reads: a table and its columns (all of them, or the projected ones).
#[derive(Debug, Clone)]
struct Scan {
    url: Arc<TargetUrl>,
    schema: String,
    table: String,
    columns: Vec<CsvColumn>,
}

impl Scan {
    /// `"schema"."table"`, for messages.
    fn name(&self) -> String {
        ident::pg_qualified(&self.schema, &self.table)
    }
}

/// One target table.
#[derive(Debug)]
struct TargetTable {
    scan: Scan,
    schema: SchemaRef,
}

#[async_trait::async_trait]
impl TableProvider for TargetTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    /// One partition, reading only `projection`'s columns (and at most `limit` rows).
    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        limit: Option<usize>,
    ) -> datafusion::error::Result<Arc<dyn ExecutionPlan>> {
        let (schema, columns) = match projection {
            Some(p) => (Arc::new(self.schema.project(p)?), p.iter().map(|&i| self.scan.columns[i].clone()).collect()),
            None => (self.schema.clone(), self.scan.columns.clone()),
        };
        let partition = TargetPartition { scan: Scan { columns, ..self.scan.clone() }, limit, schema: schema.clone() };
        let exec = StreamingTableExec::try_new(schema, vec![Arc::new(partition)], None, Vec::new(), false, limit)?;
        Ok(Arc::new(exec))
    }
}

/// The single partition of a target table scan.
#[derive(Debug)]
struct TargetPartition {
    scan: Scan,
    limit: Option<usize>,
    schema: SchemaRef,
}

impl PartitionStream for TargetPartition {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// The COPY runs on a blocking thread (the record parser reads a blocking stream),
    /// which hands batches over a bounded channel and stops as soon as the query drops
    /// the stream (after a LIMIT, say): its session then ends and the COPY with it.
    fn execute(&self, ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let (tx, rx) = tokio::sync::mpsc::channel(CHANNEL_BATCHES);
        match Handle::try_current() {
            Ok(handle) => {
                let (scan, limit, schema) = (self.scan.clone(), self.limit, self.schema.clone());
                let batch_rows = ctx.session_config().batch_size().max(1);
                handle.clone().spawn_blocking(move || {
                    if let Err(e) = read(&handle, &scan, limit, schema, batch_rows, &tx) {
                        let _ = tx.blocking_send(Err(e));
                    }
                });
            }
            Err(_) => {
                let _ = tx.try_send(Err(Error::other("reading the target needs a tokio runtime")));
            }
        }
        let stream = futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|b| (to_df(b), rx)) });
        Box::pin(RecordBatchStreamAdapter::new(self.schema.clone(), stream))
    }
}

/// A batch, with our error as DataFusion's.
fn to_df(r: Result<RecordBatch>) -> datafusion::error::Result<RecordBatch> {
    r.map_err(|e| DataFusionError::External(Box::new(e)))
}

/// Reads one scan, on a blocking thread: a session of its own, the COPY, every record
/// decoded and sent batch by batch until the end or until the query stops listening.
fn read(
    handle: &Handle,
    scan: &Scan,
    limit: Option<usize>,
    schema: SchemaRef,
    batch_rows: usize,
    tx: &Sender<Result<RecordBatch>>,
) -> Result<()> {
    let context = format!("reading the target's table {}", scan.name());
    let client = handle.block_on(connect(&scan.url.0))?;
    handle.block_on(client.batch_execute(SESSION)).map_err(|e| Error::postgres("preparing the session", &e))?;
    let sql = copy_sql(&scan.schema, &scan.table, &scan.columns, limit);
    let stream = handle.block_on(client.copy_out(sql.as_str())).map_err(|e| Error::postgres(context.clone(), &e))?;
    let failure = Rc::new(RefCell::new(None));
    let reader = CopyReader {
        handle: handle.clone(),
        stream: Box::pin(stream),
        chunk: Bytes::new(),
        pos: 0,
        done: false,
        failure: failure.clone(),
        context,
        _client: client,
    };
    let mut rows = Rows::new(scan, schema, batch_rows, RecordParser::new(reader), failure)?;
    while let Some(batch) = rows.next_batch()? {
        if tx.blocking_send(Ok(batch)).is_err() {
            break; // the query no longer wants rows
        }
    }
    Ok(())
}

/// The COPY's bytes as a blocking reader, for the record parser: each chunk is awaited
/// on the runtime. A failure of the COPY is kept whole (with its SQLSTATE) in `failure`.
struct CopyReader {
    handle: Handle,
    stream: Pin<Box<CopyOutStream>>,
    chunk: Bytes,
    pos: usize,
    done: bool,
    failure: Rc<RefCell<Option<Error>>>,
    context: String,
    /// The session the COPY runs in, kept open while it is read.
    _client: Client,
}

impl std::io::Read for CopyReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl BufRead for CopyReader {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        while self.pos == self.chunk.len() && !self.done {
            match self.handle.block_on(self.stream.next()) {
                None => self.done = true,
                Some(Ok(chunk)) => (self.chunk, self.pos) = (chunk, 0),
                Some(Err(e)) => {
                    let e = Error::postgres(self.context.clone(), &e);
                    let message = e.to_string();
                    *self.failure.borrow_mut() = Some(e);
                    return Err(std::io::Error::other(message));
                }
            }
        }
        Ok(&self.chunk[self.pos..])
    }

    fn consume(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.chunk.len());
    }
}

/// The records of one scan, decoded into batches.
struct Rows<R> {
    parser: RecordParser<R>,
    table: String,
    columns: Vec<CsvColumn>,
    decoders: Vec<ColumnDecoder>,
    schema: SchemaRef,
    batch_rows: usize,
    /// Records read so far.
    row: u64,
    failure: Rc<RefCell<Option<Error>>>,
}

impl<R: BufRead> Rows<R> {
    /// A decoder per column, each into its column's final Arrow type, in the export's dialect.
    fn new(
        scan: &Scan,
        schema: SchemaRef,
        batch_rows: usize,
        parser: RecordParser<R>,
        failure: Rc<RefCell<Option<Error>>>,
    ) -> Result<Self> {
        let decoders = scan
            .columns
            .iter()
            .zip(schema.fields())
            .map(|(c, f)| {
                let how = Decoding::export(c.logical);
                ColumnDecoder::new(how, f.data_type(), batch_rows.min(8192))
            })
            .collect::<Result<Vec<_>>>()?;
        let (table, columns) = (scan.name(), scan.columns.clone());
        Ok(Rows { parser, table, columns, decoders, schema, batch_rows, row: 0, failure })
    }

    /// The next batch (at most `batch_rows` rows, about [`crate::feed::MAX_BATCH_BYTES`]),
    /// or `None` at the end.
    fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
        let (mut rows, mut bytes) = (0, 0);
        while rows < self.batch_rows && bytes < crate::feed::MAX_BATCH_BYTES {
            if !self.read_record()? {
                break;
            }
            rows += 1;
            bytes += self.parser.data().len();
        }
        if rows == 0 {
            return Ok(None);
        }
        let arrays = self.decoders.iter_mut().map(ColumnDecoder::finish).collect();
        // No column projected (count(*)): the batch still says how many rows it holds.
        let options = RecordBatchOptions::new().with_row_count(Some(rows));
        RecordBatch::try_new_with_options(self.schema.clone(), arrays, &options)
            .map(Some)
            .map_err(|e| Error::datafusion(format!("reading the target's table {}", self.table), e))
    }

    /// Reads one record into the decoders: an unquoted `\N` is NULL, any other field
    /// the value's text (every value is quoted).
    fn read_record(&mut self) -> Result<bool> {
        match self.parser.next_record() {
            Ok(true) => {}
            Ok(false) => return Ok(false),
            Err(e) => {
                let context = format!("reading the target's table {}, row {}", self.table, self.row + 1);
                let kept = self.failure.borrow_mut().take();
                return Err(kept.unwrap_or_else(|| Error::other(format!("{context}: {}", e.message))));
            }
        }
        self.row += 1;
        let fields = self.parser.fields();
        let want = self.decoders.len().max(1);
        if fields.len() != want {
            return Err(Error::other(format!(
                "reading the target's table {}, row {}: {} fields where {want} were asked for",
                self.table,
                self.row,
                fields.len()
            )));
        }
        for (i, decoder) in self.decoders.iter_mut().enumerate() {
            let f = fields[i];
            let text = &self.parser.data()[f.start..f.end];
            let cell = if !f.quoted && text == b"\\N" { Cell::Null } else { Cell::Bytes(text) };
            if let Err(why) = decoder.push(cell) {
                return Err(refused(&self.table, self.row, &self.columns[i], text, why));
            }
        }
        Ok(true)
    }
}

/// A value the decoder refused, with its place: the table, the row read, the column.
fn refused(table: &str, row: u64, column: &CsvColumn, text: &[u8], why: Reason) -> Error {
    let why = match why {
        Reason::Invalid(w) => w.to_string(),
        Reason::ZeroDate => "a zero date".to_string(),
        Reason::NotUtf8(at) => format!("invalid UTF-8 at byte {at}"),
    };
    let shown = shorten(&String::from_utf8_lossy(text), 80);
    let hint = if column.logical == Logical::Time && shown.contains(|c: char| c.is_ascii_alphabetic()) {
        " (an interval with days, months or years is no exact duration)"
    } else {
        ""
    };
    Error::other(format!(
        "the target's table {table}, row {row}, column `{}`: cannot read {shown:?} as {}: {why}{hint}",
        column.name,
        column.logical.name()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_quotes_every_name_and_renders_instants_in_utc() {
        let cols = vec![
            CsvColumn::new("id", Logical::Int64),
            CsvColumn::new("seenAt", Logical::Timestamp),
            CsvColumn::new("wall\"Time", Logical::DateTime),
        ];
        let sql = copy_sql("public", "order", &cols, Some(5));
        assert!(sql.starts_with("COPY (SELECT \"id\", CASE WHEN \"seenAt\" BETWEEN '0001-01-01 00:00:00+00'"), "{sql}");
        assert!(sql.contains("to_char(\"seenAt\" AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"), "{sql}");
        assert!(sql.contains("to_char(\"wall\"\"Time\", "), "{sql}");
        assert!(
            sql.ends_with("FROM \"public\".\"order\" LIMIT 5) TO STDOUT (FORMAT csv, NULL E'\\\\N', FORCE_QUOTE *)"),
            "{sql}"
        );
        assert_eq!(
            copy_sql("s", "t", &[], None),
            "COPY (SELECT  FROM \"s\".\"t\") TO STDOUT (FORMAT csv, NULL E'\\\\N', FORCE_QUOTE *)"
        );
    }

    #[test]
    fn the_url_never_prints_its_password() {
        let url = TargetUrl("postgres://u:s3cret@h/db".into());
        assert_eq!(format!("{url:?}"), "postgres://u:***@h/db");
    }
}
