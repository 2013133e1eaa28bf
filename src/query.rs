//! SQL over an export directory: every table of the manifest registered with
//! DataFusion — CSV files typed through the manifest's column types, Parquet as is.

use std::path::Path;
use std::sync::Arc;

use datafusion::common::TableReference;
use datafusion::datasource::TableProvider;
use datafusion::prelude::{ParquetReadOptions, SessionContext};

use crate::error::{Error, Result};
use crate::manifest::{Manifest, ManifestTable};
use crate::source::csv::export::manifest_columns;
use crate::source::csv::{count_and_hash, csv_table};
use crate::types::Logical;

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

/// Registers every table of `manifest` (an export in `dir`) with `ctx`, by its name.
pub async fn register_manifest(ctx: &SessionContext, dir: &Path, manifest: &Manifest) -> Result<()> {
    for t in &manifest.tables {
        let provider: Arc<dyn TableProvider> = if let Some(file) = &t.file {
            csv_table(dir.join(file), manifest_columns(dir, t)?, 8192)?
        } else if !t.parquet.is_empty() {
            let paths: Vec<String> =
                t.parquet.iter().map(|f| dir.join(&f.file).to_string_lossy().into_owned()).collect();
            let df = ctx
                .read_parquet(paths, ParquetReadOptions::default())
                .await
                .map_err(|e| Error::datafusion(format!("reading the Parquet files of `{}`", t.name), e))?;
            df.into_view()
        } else {
            continue;
        };
        ctx.register_table(TableReference::bare(t.name.as_str()), provider)
            .map_err(|e| Error::datafusion(format!("registering `{}`", t.name), e))?;
    }
    Ok(())
}

/// Opens an export directory for SQL: reads its manifest and registers its tables.
pub async fn open_export(dir: &Path) -> Result<SessionContext> {
    let manifest = Manifest::read(dir)?;
    let ctx = crate::transform::session();
    register_manifest(&ctx, dir, &manifest).await?;
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

/// Runs one SQL statement and renders its result.
pub async fn run_sql(ctx: &SessionContext, sql: &str, format: OutputFormat) -> Result<String> {
    let df = ctx.sql(sql).await.map_err(|e| Error::datafusion("query", e))?;
    let schema = df.schema().as_arrow().clone();
    let batches = df.collect().await.map_err(|e| Error::datafusion("query", e))?;
    render(&schema, &batches, format)
}

/// Renders batches in a format.
pub fn render(
    schema: &arrow::datatypes::Schema,
    batches: &[arrow::record_batch::RecordBatch],
    format: OutputFormat,
) -> Result<String> {
    match format {
        OutputFormat::Table => {
            let t =
                arrow::util::pretty::pretty_format_batches(batches).map_err(|e| Error::datafusion("printing", e))?;
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
