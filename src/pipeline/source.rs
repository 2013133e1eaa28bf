//! Opening a pipeline's source: the one place a `[source]` kind becomes a
//! [`Source`] (docs/architecture.md, "Seams").

use std::path::PathBuf;
use std::sync::Arc;

use super::spec::{Pipeline, SinkSpec, SourceKind};
use crate::error::{Error, Result};
use crate::mysql::{MySqlOptions, MySqlSource};
use crate::schema::Table;
use crate::source::csv::export::ExportSource;
use crate::source::mysql::LiveSource;
use crate::source::mysqldump::DumpSource;
use crate::source::Source;

/// An opened source.
pub type Opened = Arc<dyn Source>;

/// The read-ahead budget of a live source: one memory budget for the run, so the
/// Parquet writers' buffers ([`crate::sink::parquet::BUFFER_BUDGET_BYTES`]) come out
/// of it when the pipeline has a Parquet sink.
pub fn read_ahead_bytes(p: &Pipeline) -> usize {
    let parquet = p.sinks.iter().any(|s| matches!(s, SinkSpec::Parquet { .. }));
    let writers = if parquet { crate::sink::parquet::BUFFER_BUDGET_BYTES } else { 0 };
    crate::mysql::READ_AHEAD_BYTES - writers
}

/// Opens the source and reads its schema.
pub async fn open(p: &Pipeline) -> Result<(Opened, Vec<Table>)> {
    match &p.source.kind {
        SourceKind::Mysql { url, .. } => {
            let o = &p.options;
            let options = MySqlOptions {
                connections: o.connections,
                batch_rows: o.batch_rows,
                range_rows: o.range_rows,
                read_ahead_bytes: read_ahead_bytes(p),
                follow: p.follow.is_some(),
            };
            // Nothing has moved yet: a connection refused, dropped or killed while opening
            // the snapshot or reading the schema is retried, a bounded number of times.
            crate::error::retry("opening the MySQL source", 3, || async {
                let src = Arc::new(MySqlSource::open(url, options.clone()).await?);
                match src.introspect().await {
                    Ok(tables) => Ok((Arc::new(LiveSource(src)) as Opened, tables)),
                    Err(e) => {
                        src.close().await;
                        Err(e)
                    }
                }
            })
            .await
        }
        SourceKind::Mysqldump { path, time_zone, .. } => {
            let path = PathBuf::from(path);
            if !path.is_file() {
                return Err(Error::Pipeline {
                    file: p.file.clone(),
                    at: None,
                    message: format!(
                        "source.path: no dump file at `{}` (a relative path is read from the pipeline file's folder)",
                        path.display()
                    ),
                });
            }
            let (dump, tables) = DumpSource::open(path, *time_zone).await?;
            Ok((Arc::new(dump), tables))
        }
        SourceKind::Csv { dir } => {
            let dir = PathBuf::from(dir);
            if !dir.join(crate::manifest::MANIFEST_FILE).is_file() {
                let what = if dir.is_dir() { "holds no migration_manifest.json" } else { "is not a folder" };
                return Err(Error::Pipeline {
                    file: p.file.clone(),
                    at: None,
                    message: format!(
                        "source.dir: `{}` {what}. A converge export directory holds one CSV (or Parquet) file per \
                         table and the migration_manifest.json that lists them with their row counts and sha256, \
                         as `converge run` writes it for a pipeline with a `[[sink]] kind = \"csv\"` (into \
                         <dir>/<migrationId>/, with <dir>/latest pointing at the newest)",
                        dir.display()
                    ),
                });
            }
            let (export, tables) = ExportSource::open(dir).await?;
            Ok((Arc::new(export), tables))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mysql::READ_AHEAD_BYTES;
    use crate::sink::parquet::BUFFER_BUDGET_BYTES;

    fn pipeline(sinks: &str) -> Pipeline {
        let text = format!("name = \"t\"\n[source]\nkind = \"mysql\"\nurl = \"mysql://x@h/db\"\n{sinks}");
        Pipeline::parse(&text, std::path::Path::new("t.toml"), |_| None).unwrap()
    }

    /// The source's read-ahead and the Parquet writers' buffers share one budget.
    #[test]
    fn parquet_writers_buffer_out_of_the_read_ahead_budget() {
        let csv = pipeline("[[sink]]\nkind = \"csv\"\ndir = \"out\"\n");
        assert_eq!(read_ahead_bytes(&csv), READ_AHEAD_BYTES);
        let both = pipeline("[[sink]]\nkind = \"csv\"\ndir = \"out\"\n[[sink]]\nkind = \"parquet\"\ndir = \"out\"\n");
        assert_eq!(read_ahead_bytes(&both) + BUFFER_BUDGET_BYTES, READ_AHEAD_BYTES);
    }
}
