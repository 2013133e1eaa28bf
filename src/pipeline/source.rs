//! Opening a pipeline's source and starting its table feeds, whatever its kind.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::mpsc;

use super::spec::{Pipeline, SourceKind};
use crate::error::{Error, Result};
use crate::feed::{CountKind, FeedMsg, ReadSpec, ReadStats, TableFeed, FEED_DEPTH};
use crate::schema::Table;
use crate::source::mysql::{MySqlOptions, MySqlSource};
use crate::source::mysqldump::{self, DumpTable};

/// An opened source.
pub enum Opened {
    /// A live server, snapshot open.
    MySql(Arc<MySqlSource>),
    /// A dump file, and the objects it holds besides tables (views, triggers, routines,
    /// events: `kind name`).
    Dump(PathBuf, Vec<String>),
    /// An export directory, checked against its manifest.
    Export(PathBuf, Box<crate::manifest::Manifest>),
}

impl Opened {
    /// A description safe to print (no secrets).
    pub fn describe(&self) -> String {
        match self {
            Opened::MySql(s) => format!(
                "mysql database `{}` (consistent snapshot, {})",
                s.database(),
                if s.parallel() { "parallel connections" } else { "one connection" }
            ),
            Opened::Dump(p, _) => format!("mysqldump file {}", p.display()),
            Opened::Export(p, m) => {
                format!("export {} (run {}, every file checked against the manifest)", p.display(), m.migration_id)
            }
        }
    }

    /// The source database's name for the manifest.
    pub fn database_name(&self) -> String {
        match self {
            Opened::MySql(s) => format!("mysql:{}", s.database()),
            Opened::Dump(p, _) => {
                format!("mysqldump:{}", p.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default())
            }
            Opened::Export(_, m) => m.source_database.clone(),
        }
    }

    /// Ends the source (closes the snapshot).
    pub async fn close(&self) {
        if let Opened::MySql(s) = self {
            s.close().await;
        }
    }
}

/// Opens the source and reads its schema.
pub async fn open(p: &Pipeline) -> Result<(Opened, Vec<Table>)> {
    let s = &p.source;
    match s.kind {
        SourceKind::Mysql => {
            let url = s.url.as_deref().expect("checked by the pipeline");
            let o = &p.options;
            let options =
                MySqlOptions { connections: o.connections, batch_rows: o.batch_rows, range_rows: o.range_rows };
            // Nothing has moved yet: a connection refused, dropped or killed while opening
            // the snapshot or reading the schema is retried, a bounded number of times.
            crate::error::retry("opening the MySQL source", 3, || async {
                let src = Arc::new(MySqlSource::open(url, options.clone()).await?);
                match src.introspect().await {
                    Ok(tables) => Ok((Opened::MySql(src), tables)),
                    Err(e) => {
                        src.close().await;
                        Err(e)
                    }
                }
            })
            .await
        }
        SourceKind::Mysqldump => {
            let path = PathBuf::from(s.path.as_deref().expect("checked by the pipeline"));
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
            let p2 = path.clone();
            let (tables, objects) = tokio::task::spawn_blocking(move || mysqldump::read_schema_objects(&p2))
                .await
                .map_err(|e| Error::other(format!("dump reader failed: {e}")))??;
            Ok((Opened::Dump(path, objects), tables))
        }
        SourceKind::Csv => {
            let dir = PathBuf::from(s.dir.as_deref().expect("checked by the pipeline"));
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
            let d2 = dir.clone();
            let (manifest, tables) = tokio::task::spawn_blocking(move || {
                let (m, t) = crate::source::csv::export::open(&d2)?;
                crate::source::csv::export::verify(&d2, &m)?;
                Ok::<_, Error>((m, t))
            })
            .await
            .map_err(|e| Error::other(format!("export check failed: {e}")))??;
            Ok((Opened::Export(dir, Box::new(manifest)), tables))
        }
    }
}

/// Starts reading the planned tables; one feed per table (dumps and exports are read
/// one table at a time anyway).
pub fn start(
    opened: &Opened,
    specs: Vec<ReadSpec>,
    batch_rows: usize,
    one_table_at_a_time: bool,
) -> mpsc::Receiver<TableFeed> {
    match opened {
        Opened::MySql(src) => src.clone().read_all(specs, one_table_at_a_time),
        Opened::Dump(path, _) => start_dump(path.clone(), specs, batch_rows),
        Opened::Export(dir, m) => crate::source::csv::export::start(dir.clone(), (**m).clone(), specs, batch_rows),
    }
}

/// A dump is one sequential pass: tables are fed in file order as their INSERTs come.
fn start_dump(path: PathBuf, specs: Vec<ReadSpec>, batch_rows: usize) -> mpsc::Receiver<TableFeed> {
    let (feeds_tx, feeds_rx) = mpsc::channel(specs.len() + 1);
    tokio::task::spawn_blocking(move || {
        let names: Vec<String> = specs.iter().map(|s| s.table.name.clone()).collect();
        let tables: HashMap<String, DumpTable> = specs
            .into_iter()
            .map(|s| (s.table.name.clone(), DumpTable { table: s.table, columns: s.columns, plans: s.plans }))
            .collect();
        let mut current: Option<(String, mpsc::Sender<FeedMsg>, u64)> = None;
        let mut started: Vec<String> = Vec::new();
        let new_feed = |name: &str| {
            let (tx, rx) = mpsc::channel(FEED_DEPTH);
            let _ = feeds_tx.blocking_send(TableFeed { table: name.to_string(), rx });
            tx
        };
        let done = |rows: u64| ReadStats {
            source_count: Some((rows, CountKind::Parsed)),
            rows_read: rows,
            zero_dates_nulled: Vec::new(),
        };
        let result = mysqldump::read_data(&path, &tables, batch_rows, &mut |table, batch| {
            if current.as_ref().is_none_or(|(t, _, _)| t != table) {
                if let Some((_, tx, rows)) = current.take() {
                    let _ = tx.blocking_send(FeedMsg::Done(done(rows)));
                }
                if started.iter().any(|t| t == table) {
                    return Err(Error::other(format!("the dump holds data for table `{table}` in two places")));
                }
                started.push(table.to_string());
                current = Some((table.to_string(), new_feed(table), 0));
            }
            let (_, tx, rows) = current.as_mut().expect("set above");
            *rows += batch.num_rows() as u64;
            tx.blocking_send(FeedMsg::Batch(batch)).map_err(|_| Error::other("the run stopped reading"))
        });
        match result {
            Ok(_) => {
                if let Some((_, tx, rows)) = current.take() {
                    let _ = tx.blocking_send(FeedMsg::Done(done(rows)));
                }
                for n in names.iter().filter(|n| !started.contains(n)) {
                    let _ = new_feed(n).blocking_send(FeedMsg::Done(done(0)));
                }
            }
            Err(e) => {
                let tx = match current.take() {
                    Some((_, tx, _)) => tx,
                    None => new_feed(names.iter().find(|n| !started.contains(n)).map_or("(dump)", |n| n.as_str())),
                };
                let _ = tx.blocking_send(FeedMsg::Failed(e));
            }
        }
    });
    feeds_rx
}
