//! An export directory as a source (`source.kind = "csv"`, `converge import`): the
//! manifest gives the tables and their column types; every file is checked against the
//! manifest (present, row count, sha256, header) before anything is loaded; each table
//! is then streamed as batches of the read types, so it takes the same path as a live
//! read.

use std::path::{Path, PathBuf};

use arrow::compute::cast;
use arrow::record_batch::RecordBatch;
use tokio::sync::mpsc;

use super::{count_and_hash, CsvColumn, CsvReader, Typing};
use crate::error::{Error, Result};
use crate::feed::read_schema;
use crate::feed::{CountKind, FeedMsg, ReadSpec, ReadStats, TableFeed, FEED_DEPTH};
use crate::manifest::{Manifest, MANIFEST_FILE};
use crate::schema::{Column, MySqlType, Table};
use crate::types::Logical;

/// Reads the manifest of `dir` and describes its tables as source tables.
pub fn open(dir: &Path) -> Result<(Manifest, Vec<Table>)> {
    let manifest = Manifest::read(dir)?;
    let mut tables = Vec::new();
    for t in &manifest.tables {
        let mut columns = Vec::new();
        for c in &t.columns {
            let logical = Logical::from_manifest_name(&c.logical_type).ok_or_else(|| Error::Input {
                file: dir.join(MANIFEST_FILE),
                line: 0,
                column: Some(c.name.clone()),
                message: format!("table `{}`: unknown logical type `{}`", t.name, c.logical_type),
            })?;
            columns.push(Column {
                name: c.name.clone(),
                mysql: MySqlType::parse(&c.mysql_type),
                nullable: c.nullable,
                logical,
                facts: Default::default(),
            });
        }
        tables.push(Table {
            name: t.name.clone(),
            columns,
            primary_key: t.primary_key.clone(),
            estimated_rows: t.row_count,
            ..Default::default()
        });
    }
    Ok((manifest, tables))
}

/// Checks every file of the export against the manifest before anything is loaded: the
/// file exists, no CSV file is there that the manifest does not list, the header matches
/// the columns, the row count and sha256 are the manifest's.
pub fn verify(dir: &Path, manifest: &Manifest) -> Result<()> {
    let listed: Vec<&str> = manifest.tables.iter().filter_map(|t| t.file.as_deref()).collect();
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    for e in entries {
        let e = e.map_err(|e| Error::io(dir, e))?;
        let name = e.file_name().to_string_lossy().into_owned();
        if name.ends_with(".csv") && !listed.contains(&name.as_str()) {
            return Err(Error::Input {
                file: e.path(),
                line: 0,
                column: None,
                message: "this file is not in the manifest".into(),
            });
        }
    }
    for t in &manifest.tables {
        let Some(file) = &t.file else {
            return Err(Error::other(format!("table `{}`: the manifest lists no CSV file", t.name)));
        };
        let path = dir.join(file);
        if !path.exists() {
            return Err(Error::Input {
                file: path,
                line: 0,
                column: None,
                message: "listed in the manifest but missing".into(),
            });
        }
        // Opening checks the header against the manifest's columns.
        CsvReader::open(&path, manifest_columns(dir, t)?, 1)?;
        let (rows, sha) = match count_and_hash(&path) {
            Ok(v) => v,
            // The counter only knows the file is broken; the full parser says where.
            Err(e) => {
                return Err(CsvReader::open(&path, manifest_columns(dir, t)?, 8192)?.find_map(|b| b.err()).unwrap_or(e))
            }
        };
        if rows != t.row_count {
            return Err(Error::Input {
                file: path,
                line: 0,
                column: None,
                message: format!("holds {rows} rows, the manifest says {}", t.row_count),
            });
        }
        if let Some(expected) = &t.sha256 {
            if *expected != sha {
                return Err(Error::Input {
                    file: path,
                    line: 0,
                    column: None,
                    message: format!(
                        "sha256 is {sha}, the manifest says {expected}: the file changed after the export"
                    ),
                });
            }
        }
    }
    Ok(())
}

/// The expected columns of a manifest table, typed by its logical types.
pub fn manifest_columns(dir: &Path, t: &crate::manifest::ManifestTable) -> Result<Vec<CsvColumn>> {
    t.columns
        .iter()
        .map(|c| {
            Logical::from_manifest_name(&c.logical_type).map(|l| CsvColumn::new(c.name.clone(), l)).ok_or_else(|| {
                Error::Input {
                    file: dir.join(MANIFEST_FILE),
                    line: 0,
                    column: Some(c.name.clone()),
                    message: format!("unknown logical type `{}` in table `{}`", c.logical_type, t.name),
                }
            })
        })
        .collect()
}

/// Streams the planned tables, one at a time, as feeds of read-typed batches.
pub fn start(dir: PathBuf, manifest: Manifest, specs: Vec<ReadSpec>, batch_rows: usize) -> mpsc::Receiver<TableFeed> {
    let (feeds_tx, feeds_rx) = mpsc::channel(specs.len() + 1);
    tokio::task::spawn_blocking(move || {
        for spec in specs {
            let (tx, rx) = mpsc::channel(FEED_DEPTH);
            if feeds_tx.blocking_send(TableFeed { table: spec.table.name.clone(), rx }).is_err() {
                return;
            }
            let msg = match read_table(&dir, &manifest, &spec, batch_rows, &tx) {
                Ok(stats) => FeedMsg::Done(stats),
                Err(e) => FeedMsg::Failed(e),
            };
            let failed = matches!(msg, FeedMsg::Failed(_));
            let _ = tx.blocking_send(msg);
            if failed {
                return;
            }
        }
    });
    feeds_rx
}

fn read_table(
    dir: &Path,
    manifest: &Manifest,
    spec: &ReadSpec,
    batch_rows: usize,
    tx: &mpsc::Sender<FeedMsg>,
) -> Result<ReadStats> {
    let t = manifest.tables.iter().find(|t| t.name == spec.table.name).expect("planned from the manifest");
    let path = dir.join(t.file.as_deref().expect("verified"));
    let all = manifest_columns(dir, t)?;
    // The file holds final values; they are decoded straight into the read types the
    // run normalises from, keeping the planned columns.
    let reader = CsvReader::open_as(&path, all, batch_rows, Typing::Read)?;
    let target = read_schema(&spec.plans);
    let mut rows = 0u64;
    for batch in reader {
        let batch = batch?;
        // A pipeline rule may still carry a column as another type than the manifest's.
        let arrays = spec
            .columns
            .iter()
            .zip(target.fields())
            .map(|(&i, f)| match batch.column(i) {
                a if a.data_type() == f.data_type() => Ok(a.clone()),
                a => cast(a, f.data_type()).map_err(|e| Error::datafusion(format!("{}", path.display()), e)),
            })
            .collect::<Result<Vec<_>>>()?;
        let batch = RecordBatch::try_new(target.clone(), arrays)
            .map_err(|e| Error::datafusion(format!("{}", path.display()), e))?;
        rows += batch.num_rows() as u64;
        if tx.blocking_send(FeedMsg::Batch(batch)).is_err() {
            return Err(Error::other("the run stopped reading"));
        }
    }
    Ok(ReadStats {
        source_count: Some((t.row_count, CountKind::Manifest)),
        rows_read: rows,
        zero_dates_nulled: Vec::new(),
        normalized: Vec::new(),
    })
}

/// A converge export directory under the [`Source`](crate::source::Source) seam, its
/// every file checked against the manifest when opened.
pub struct ExportSource {
    dir: PathBuf,
    manifest: Manifest,
}

impl ExportSource {
    /// Reads the manifest and checks every file's row count and sha256 against it.
    pub async fn open(dir: PathBuf) -> Result<(ExportSource, Vec<crate::schema::Table>)> {
        let d2 = dir.clone();
        let (manifest, tables) = tokio::task::spawn_blocking(move || {
            let (m, t) = open(&d2)?;
            verify(&d2, &m)?;
            Ok::<_, Error>((m, t))
        })
        .await
        .map_err(|e| Error::other(format!("export check failed: {e}")))??;
        Ok((ExportSource { dir, manifest }, tables))
    }
}

impl crate::source::Source for ExportSource {
    fn describe(&self) -> String {
        let (dir, run) = (self.dir.display(), &self.manifest.migration_id);
        format!("export {dir} (run {run}, every file checked against the manifest)")
    }

    fn database_name(&self) -> String {
        self.manifest.source_database.clone()
    }

    fn not_carried(&self) -> futures::future::BoxFuture<'_, Result<Vec<String>>> {
        Box::pin(async { Ok(Vec::new()) })
    }

    fn taken_at(&self) -> Option<String> {
        Some(self.manifest.export_timestamp.clone())
    }

    fn json_reading(&self) -> Option<crate::feed::JsonDuplicates> {
        None // the export run applied its rule: its text is what it decided
    }

    fn start(
        self: std::sync::Arc<Self>,
        specs: Vec<ReadSpec>,
        batch_rows: usize,
        _one_at_a_time: bool,
    ) -> mpsc::Receiver<TableFeed> {
        start(self.dir.clone(), self.manifest.clone(), specs, batch_rows)
    }
}
