//! `converge query`: export directories (and, with `--target URL`, a live PostgreSQL
//! database) and SQL from the command line, printed as a table, CSV or JSON, or streamed
//! as a Parquet or Arrow file.

use std::path::PathBuf;

use clap::ValueEnum;

/// How `converge query` prints its result.
#[derive(Clone, Copy, ValueEnum)]
pub(super) enum Format {
    Table,
    Csv,
    Json,
    /// A Parquet file on stdout (redirect it), streamed batch by batch.
    Parquet,
    /// An Arrow IPC file on stdout (redirect it), streamed batch by batch.
    Arrow,
}

/// Which files `converge query` reads a table from.
#[derive(Clone, Copy, ValueEnum)]
pub(super) enum Files {
    Auto,
    Csv,
    Parquet,
}

impl From<Files> for converge::query::TableFiles {
    fn from(f: Files) -> Self {
        match f {
            Files::Auto => converge::query::TableFiles::Auto,
            Files::Csv => converge::query::TableFiles::Csv,
            Files::Parquet => converge::query::TableFiles::Parquet,
        }
    }
}

impl From<Format> for converge::query::OutputFormat {
    fn from(f: Format) -> Self {
        match f {
            Format::Table => converge::query::OutputFormat::Table,
            Format::Csv => converge::query::OutputFormat::Csv,
            Format::Json | Format::Parquet | Format::Arrow => converge::query::OutputFormat::Json,
        }
    }
}

impl Format {
    /// The file format a result is streamed in, for the binary formats.
    fn binary(self) -> Option<converge::query::FileFormat> {
        match self {
            Format::Parquet => Some(converge::query::FileFormat::Parquet),
            Format::Arrow => Some(converge::query::FileFormat::Arrow),
            _ => None,
        }
    }
}

/// `converge query`: one statement, or the interactive prompt. The arguments are export
/// directories and, last, the SQL when it is not a directory; `target` is `--target URL`
/// and its schema.
pub(super) async fn command(
    args: &[String],
    format: Format,
    files: Files,
    target: Option<(&str, &str)>,
) -> converge::Result<()> {
    let (dirs, sql) = match args.split_last() {
        Some((last, rest)) if !std::path::Path::new(last).is_dir() => (rest, Some(last.as_str())),
        _ => (args, None),
    };
    if dirs.is_empty() && target.is_none() {
        return Err(converge::Error::other(
            "converge query: name an export directory (or --target URL) before the SQL",
        ));
    }
    let dirs: Vec<PathBuf> = dirs.iter().map(PathBuf::from).collect();
    let ctx = match target {
        Some((url, schema)) => converge::query::target::open(&dirs, files.into(), url, schema).await?,
        None => converge::query::open_exports(&dirs, files.into()).await?,
    };
    if let Some(file_format) = format.binary() {
        use std::io::IsTerminal;
        let sql = sql.ok_or_else(|| converge::Error::other("--format parquet|arrow needs the SQL (no prompt)"))?;
        if std::io::stdout().is_terminal() {
            return Err(converge::Error::other(
                "--format parquet|arrow writes a file to stdout: redirect it (> result.parquet)",
            ));
        }
        let out = std::io::BufWriter::new(std::io::stdout());
        let rows = converge::query::write_sql(&ctx, sql, file_format, out).await?;
        tracing::info!("{rows} rows written");
        return Ok(());
    }
    match sql {
        Some(sql) => {
            let out = converge::query::run_sql(&ctx, sql, format.into()).await?;
            print!("{out}");
            Ok(())
        }
        None => converge::query::interactive(&ctx, format.into()).await,
    }
}
