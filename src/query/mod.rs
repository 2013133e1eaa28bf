//! SQL over export directories: every table of the manifest registered with DataFusion
//! — from its Parquet files when the export has them (a listing table with the files'
//! statistics, so DataFusion prunes columns and row groups), else from its CSV file
//! typed through the manifest's column types. Several exports are schemas `a`, `b`, …
//! (and their run ids), so two migration runs compare in one statement.

use std::path::Path;
use std::sync::Arc;

use datafusion::catalog::MemorySchemaProvider;
use datafusion::common::TableReference;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl};
use datafusion::datasource::TableProvider;
use datafusion::prelude::SessionContext;

use crate::error::{Error, Result};
use crate::manifest::{Manifest, ManifestTable};
use crate::source::csv::export::manifest_columns;
use crate::source::csv::{count_and_hash, csv_table};
use crate::types::Logical;

mod check;
mod length;
pub mod target;

pub use check::check_files;

/// Counts a table's rows back from its files, checking each file's sha256 against the
/// manifest entry. Prefers the CSV file; otherwise sums the Parquet footers.
pub fn count_table_files(dir: &Path, t: &ManifestTable) -> Result<u64> {
    if let Some(file) = &t.file {
        let path = dir.join(file);
        let (rows, sha) = count_and_hash(&path)?;
        if t.sha256.as_deref().is_some_and(|s| s != sha) {
            return Err(Error::Input {
                file: path,
                line: 0,
                column: None,
                message: "sha256 differs from the manifest".into(),
            });
        }
        return Ok(rows);
    }
    let mut rows = 0u64;
    for f in &t.parquet {
        let path = dir.join(&f.file);
        let file = std::fs::File::open(&path).map_err(|e| Error::io(&path, e))?;
        let reader = parquet::file::reader::SerializedFileReader::new(file).map_err(|e| Error::Input {
            file: path.clone(),
            line: 0,
            column: None,
            message: e.to_string(),
        })?;
        use parquet::file::reader::FileReader;
        rows += reader.metadata().file_metadata().num_rows() as u64;
    }
    Ok(rows)
}

/// A table's Parquet files as one listing table, with the files' statistics collected
/// once, so that DataFusion prunes row groups and reads only the projected columns.
async fn parquet_table(ctx: &SessionContext, dir: &Path, t: &ManifestTable) -> Result<Arc<dyn TableProvider>> {
    let err = |e| Error::datafusion(format!("reading the Parquet files of `{}`", t.name), e);
    let urls = t
        .parquet
        .iter()
        .map(|f| ListingTableUrl::parse(dir.join(&f.file).to_string_lossy()))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(err)?;
    // Statistics are collected when the table is planned (DataFusion's `collect_statistics`, on by default).
    let options = ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension(".parquet");
    let config = ListingTableConfig::new_with_multi_paths(urls)
        .with_listing_options(options)
        .infer_schema(&ctx.state())
        .await
        .map_err(err)?;
    Ok(Arc::new(ListingTable::try_new(config).map_err(err)?))
}

/// Which of an export's files a table is read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TableFiles {
    /// Parquet when the export has it for the table, else CSV.
    #[default]
    Auto,
    /// The CSV file, even when Parquet is there (a table without one is an error).
    Csv,
    /// The Parquet files (a table without them is an error).
    Parquet,
}

/// The provider of one table of an export, from the files `files` chooses.
async fn table_provider(
    ctx: &SessionContext,
    dir: &Path,
    t: &ManifestTable,
    files: TableFiles,
) -> Result<Option<Arc<dyn TableProvider>>> {
    let csv = || -> Result<Option<Arc<dyn TableProvider>>> {
        match &t.file {
            Some(file) => Ok(Some(csv_table(dir.join(file), manifest_columns(dir, t)?, 8192)?)),
            None => Ok(None),
        }
    };
    let missing =
        |what: &str| Error::other(format!("the export in {} has no {what} file for `{}`", dir.display(), t.name));
    match files {
        TableFiles::Auto if !t.parquet.is_empty() => Ok(Some(parquet_table(ctx, dir, t).await?)),
        TableFiles::Auto => csv(),
        TableFiles::Parquet if t.parquet.is_empty() => Err(missing("Parquet")),
        TableFiles::Parquet => Ok(Some(parquet_table(ctx, dir, t).await?)),
        TableFiles::Csv => csv()?.map(Some).ok_or_else(|| missing("CSV")),
    }
}

/// Registers every table of `manifest` (an export in `dir`) with `ctx`, by its name, in
/// `schema` (the default one when `None`), read from the files `files` chooses.
pub async fn register_manifest(
    ctx: &SessionContext,
    dir: &Path,
    manifest: &Manifest,
    schema: Option<&str>,
    files: TableFiles,
) -> Result<()> {
    for t in &manifest.tables {
        let Some(provider) = table_provider(ctx, dir, t, files).await? else {
            continue;
        };
        let name = match schema {
            Some(s) => TableReference::partial(s, t.name.as_str()),
            None => TableReference::bare(t.name.as_str()),
        };
        ctx.register_table(name, provider).map_err(|e| Error::datafusion(format!("registering `{}`", t.name), e))?;
    }
    Ok(())
}

/// Opens an export directory for SQL: reads its manifest and registers its tables.
pub async fn open_export(dir: &Path) -> Result<SessionContext> {
    open_exports(&[dir.to_path_buf()], TableFiles::Auto).await
}

/// A query session: converge's UDFs, and `length()` that takes bytes too.
pub fn session() -> SessionContext {
    let ctx = crate::transform::session();
    ctx.register_udf(length::length());
    ctx
}

/// The schema names of several exports: `a`, `b`, … by position.
pub fn schema_letter(i: usize) -> String {
    let mut s = String::new();
    let mut n = i;
    loop {
        s.insert(0, (b'a' + (n % 26) as u8) as char);
        if n < 26 {
            return s;
        }
        n = n / 26 - 1;
    }
}

/// Opens export directories for SQL. One export's tables are bare names; several
/// exports are schemas `a`, `b`, … in the order given, and each also under its run id
/// (`"2024…"."user"`) when no other export given has the same one.
pub async fn open_exports(dirs: &[std::path::PathBuf], files: TableFiles) -> Result<SessionContext> {
    let ctx = session();
    let manifests = dirs.iter().map(|d| Manifest::read(d)).collect::<Result<Vec<_>>>()?;
    for (dir, m) in dirs.iter().zip(&manifests) {
        check_files(dir, m, files)?;
    }
    if let [manifest] = manifests.as_slice() {
        register_manifest(&ctx, &dirs[0], manifest, None, files).await?;
        return Ok(ctx);
    }
    let catalog = ctx.catalog("datafusion").ok_or_else(|| Error::other("the query session has no catalog"))?;
    for (i, (dir, m)) in dirs.iter().zip(&manifests).enumerate() {
        let unique_id = manifests.iter().filter(|o| o.migration_id == m.migration_id).count() == 1;
        let mut names = vec![schema_letter(i)];
        if unique_id && !m.migration_id.is_empty() {
            names.push(m.migration_id.clone());
        }
        for name in names {
            catalog
                .register_schema(&name, Arc::new(MemorySchemaProvider::new()))
                .map_err(|e| Error::datafusion(format!("registering schema `{name}`"), e))?;
            register_manifest(&ctx, dir, m, Some(&name), files).await?;
        }
    }
    Ok(ctx)
}

/// How `converge query` prints a result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    /// An aligned text table.
    Table,
    /// CSV in the export contract's conventions.
    Csv,
    /// One JSON object per row, as a JSON array.
    Json,
}

/// A file format a result is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    /// Apache Parquet.
    Parquet,
    /// The Arrow IPC file format.
    Arrow,
}

/// Runs one SQL statement and streams its result into `out`, batch by batch (memory
/// bounded by a batch, whatever the result's size); returns the rows written.
pub async fn write_sql<W: std::io::Write + Send>(
    ctx: &SessionContext,
    sql: &str,
    format: FileFormat,
    out: W,
) -> Result<u64> {
    use futures::StreamExt;
    let df = ctx.sql(sql).await.map_err(|e| Error::datafusion("query", e))?;
    let schema = Arc::new(df.schema().as_arrow().clone());
    let mut stream = df.execute_stream().await.map_err(|e| Error::datafusion("query", e))?;
    let werr = |e: String| Error::other(format!("writing the result: {e}"));
    let mut writer = match format {
        FileFormat::Parquet => ResultWriter::Parquet(
            parquet::arrow::ArrowWriter::try_new(out, schema, None).map_err(|e| werr(e.to_string()))?,
        ),
        FileFormat::Arrow => {
            ResultWriter::Arrow(arrow::ipc::writer::FileWriter::try_new(out, &schema).map_err(|e| werr(e.to_string()))?)
        }
    };
    let mut rows = 0u64;
    while let Some(batch) = stream.next().await {
        let batch = batch.map_err(|e| Error::datafusion("query", e))?;
        rows += batch.num_rows() as u64;
        writer.write(&batch).map_err(werr)?;
    }
    // The footer, then every byte out: a full disk or a closed pipe is an error here.
    writer.finish().map_err(werr)?.flush().map_err(|e| werr(e.to_string()))?;
    Ok(rows)
}

/// The writer of one result file.
enum ResultWriter<W: std::io::Write + Send> {
    Parquet(parquet::arrow::ArrowWriter<W>),
    Arrow(arrow::ipc::writer::FileWriter<W>),
}

impl<W: std::io::Write + Send> ResultWriter<W> {
    fn write(&mut self, batch: &arrow::record_batch::RecordBatch) -> std::result::Result<(), String> {
        match self {
            ResultWriter::Parquet(w) => w.write(batch).map_err(|e| e.to_string()),
            ResultWriter::Arrow(w) => w.write(batch).map_err(|e| e.to_string()),
        }
    }

    /// Writes the footer and gives the output back.
    fn finish(self) -> std::result::Result<W, String> {
        match self {
            ResultWriter::Parquet(w) => w.into_inner().map_err(|e| e.to_string()),
            ResultWriter::Arrow(w) => w.into_inner().map_err(|e| e.to_string()),
        }
    }
}

/// Runs one SQL statement and renders its result.
pub async fn run_sql(ctx: &SessionContext, sql: &str, format: OutputFormat) -> Result<String> {
    let df = ctx.sql(sql).await.map_err(|e| Error::datafusion("query", e))?;
    let schema = df.schema().as_arrow().clone();
    let batches = df.collect().await.map_err(|e| Error::datafusion("query", e))?;
    render(&schema, &batches, format)
}

/// How `--format table` prints NULL.
pub const NULL_SHOWN: &str = "∅";

/// Renders batches in a format.
pub fn render(
    schema: &arrow::datatypes::Schema,
    batches: &[arrow::record_batch::RecordBatch],
    format: OutputFormat,
) -> Result<String> {
    match format {
        OutputFormat::Table => {
            // NULL is printed as ∅: distinct from '' (an empty cell) and from the text 'NULL'.
            let options = arrow::util::display::FormatOptions::default().with_null(NULL_SHOWN);
            let t = arrow::util::pretty::pretty_format_batches_with_options(batches, &options)
                .map_err(|e| Error::datafusion("printing", e))?;
            Ok(format!("{t}\n"))
        }
        OutputFormat::Csv => render_csv(schema, batches),
        OutputFormat::Json => render_json(schema, batches),
    }
}

/// CSV in the export contract's conventions; columns the contract has no encoding for
/// are printed as text.
fn render_csv(schema: &arrow::datatypes::Schema, batches: &[arrow::record_batch::RecordBatch]) -> Result<String> {
    use arrow::datatypes::DataType as D;
    let mut out = Vec::new();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    crate::sink::csv_encode::CsvEncoder::header(&mut out, &names);
    for b in batches {
        let mut cols = Vec::new();
        let mut logical = Vec::new();
        for c in b.columns() {
            // Parquet reads back as view types (DataFusion's default): encode
            // them as their plain types, so bytes stay `\x…` and not lossy text.
            let plain = match c.data_type() {
                D::BinaryView | D::LargeBinary => Some(D::Binary),
                D::Utf8View | D::LargeUtf8 => Some(D::Utf8),
                _ => None,
            };
            let c = match plain {
                Some(t) => &arrow::compute::cast(c, &t).map_err(|e| Error::datafusion("printing", e))?,
                None => c,
            };
            match Logical::from_arrow(c.data_type()) {
                Some(l) => {
                    logical.push(l);
                    cols.push(c.clone());
                }
                None => {
                    logical.push(Logical::Text);
                    cols.push(arrow::compute::cast(c, &D::Utf8).map_err(|e| Error::datafusion("printing", e))?);
                }
            }
        }
        let fields: Vec<_> = cols
            .iter()
            .zip(&names)
            .map(|(c, n)| arrow::datatypes::Field::new(*n, c.data_type().clone(), true))
            .collect();
        let b = arrow::record_batch::RecordBatch::try_new(Arc::new(arrow::datatypes::Schema::new(fields)), cols)
            .map_err(|e| Error::datafusion("printing", e))?;
        crate::sink::csv_encode::CsvEncoder::new(&logical).encode(&b, &mut out)?;
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// One JSON array of one object per row, every column named (NULL as `null`).
///
/// Written by hand, not by `arrow::json::ArrayWriter`: arrow writes a decimal as a bare
/// JSON number (`100.50`, read back as `100.5`), where this prints it as the exact text
/// `"100.50"` (tests/query.rs, `query_command_prints_json`), and it leaves NULL columns
/// out unless asked.
fn render_json(schema: &arrow::datatypes::Schema, batches: &[arrow::record_batch::RecordBatch]) -> Result<String> {
    use arrow::util::display::{ArrayFormatter, FormatOptions};
    let opts = FormatOptions::default();
    let mut rows = Vec::new();
    for b in batches {
        let fmts = b
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &opts))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| Error::datafusion("printing", e))?;
        for r in 0..b.num_rows() {
            let mut obj = serde_json::Map::new();
            for (i, f) in schema.fields().iter().enumerate() {
                let c = b.column(i);
                let v = if c.is_null(r) { serde_json::Value::Null } else { json_value(c.data_type(), &fmts[i], r) };
                obj.insert(f.name().clone(), v);
            }
            rows.push(serde_json::Value::Object(obj));
        }
    }
    Ok(format!("{}\n", serde_json::Value::Array(rows)))
}

/// A non-NULL value as JSON: booleans and numbers as themselves, the rest as the text
/// Arrow displays.
fn json_value(
    ty: &arrow::datatypes::DataType,
    fmt: &arrow::util::display::ArrayFormatter,
    r: usize,
) -> serde_json::Value {
    use arrow::datatypes::DataType as D;
    let text = fmt.value(r).to_string();
    match ty {
        D::Boolean => serde_json::Value::Bool(text == "true"),
        D::Int8
        | D::Int16
        | D::Int32
        | D::Int64
        | D::UInt8
        | D::UInt16
        | D::UInt32
        | D::UInt64
        | D::Float32
        | D::Float64 => serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
        _ => serde_json::Value::String(text),
    }
}

/// An interactive SQL prompt with history (kept in `~/.converge_history`).
pub async fn interactive(ctx: &SessionContext, format: OutputFormat) -> Result<()> {
    let mut rl = rustyline::DefaultEditor::new().map_err(|e| Error::other(format!("cannot open a prompt: {e}")))?;
    let history = std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".converge_history"));
    if let Some(h) = &history {
        let _ = rl.load_history(h);
    }
    let mut pending = String::new();
    loop {
        let prompt = if pending.is_empty() { "converge> " } else { "      -> " };
        match rl.readline(prompt) {
            Ok(line) => {
                pending.push_str(&line);
                pending.push('\n');
                if !line.trim_end().ends_with(';') {
                    continue;
                }
                let sql = std::mem::take(&mut pending);
                let _ = rl.add_history_entry(sql.trim());
                match run_sql(ctx, sql.trim().trim_end_matches(';'), format).await {
                    Ok(out) => print!("{out}"),
                    Err(e) => eprintln!("error: {e}"),
                }
            }
            Err(rustyline::error::ReadlineError::Interrupted) => pending.clear(),
            Err(_) => break,
        }
    }
    if let Some(h) = &history {
        let _ = rl.save_history(h);
    }
    Ok(())
}
