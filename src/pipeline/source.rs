//! Opening a pipeline's source: the one place a `[source]` kind becomes a
//! [`Source`] (docs/architecture.md, "Seams").

use std::path::PathBuf;
use std::sync::Arc;

use super::spec::{Pipeline, SourceKind};
use crate::error::{Error, Result};
use crate::schema::Table;
use crate::source::csv::export::ExportSource;
use crate::source::mysql::{LiveSource, MySqlOptions, MySqlSource};
use crate::source::mysqldump::DumpSource;
use crate::source::Source;

/// An opened source.
pub type Opened = Arc<dyn Source>;

/// Opens the source and reads its schema.
pub async fn open(p: &Pipeline) -> Result<(Opened, Vec<Table>)> {
    match &p.source.kind {
        SourceKind::Mysql { url, .. } => {
            let o = &p.options;
            let options =
                MySqlOptions { connections: o.connections, batch_rows: o.batch_rows, range_rows: o.range_rows };
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
        SourceKind::Mysqldump { path, .. } => {
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
            let (dump, tables) = DumpSource::open(path).await?;
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
