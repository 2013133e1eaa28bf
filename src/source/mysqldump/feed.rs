//! The dump's feed driver and its [`Source`]: a dump is read in one sequential pass,
//! and each table's feed opens when its first INSERT comes.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use futures::future::BoxFuture;
use tokio::sync::mpsc;

use crate::error::{Error, Result};
use crate::feed::{CountKind, FeedMsg, ReadSpec, ReadStats, TableFeed, FEED_DEPTH};
use crate::schema::Table;
use crate::source::Source;

use super::zone::Zone;

/// A mysqldump file, the objects it holds besides tables (views, triggers, routines,
/// events: `kind name`), and the session's own time zone (`[source] time_zone`).
pub struct DumpSource {
    path: PathBuf,
    objects: Vec<String>,
    zone: Option<Zone>,
}

impl DumpSource {
    /// Reads the dump's schema (a first pass over its DDL). A table with TIMESTAMP
    /// columns whose rows come while the dump's time zone is unknown (no `SET
    /// TIME_ZONE` before them, and no `zone` named) is refused: its instants are not
    /// known.
    pub async fn open(path: PathBuf, zone: Option<Zone>) -> Result<(DumpSource, Vec<Table>)> {
        let p2 = path.clone();
        let schema = tokio::task::spawn_blocking(move || super::read_dump_schema(&p2, zone))
            .await
            .map_err(|e| Error::other(format!("dump reader failed: {e}")))??;
        for (name, line, why) in &schema.unknown_zone {
            let Some(t) = schema.tables.iter().find(|t| &t.name == name) else { continue };
            let ts: Vec<&str> =
                t.columns.iter().filter(|c| c.mysql.data_type == "timestamp").map(|c| c.name.as_str()).collect();
            if ts.is_empty() {
                continue;
            }
            return Err(Error::Input {
                file: path,
                line: *line,
                column: None,
                message: format!(
                    "the rows of `{name}` hold TIMESTAMP columns ({}) written in an unknown time zone: {why}. \
                     Name that zone on the source: [source] time_zone = \"+05:30\" (an offset or an IANA name \
                     like \"Europe/Amsterdam\"), or dump again without --skip-tz-utc",
                    ts.join(", ")
                ),
            });
        }
        Ok((DumpSource { path, objects: schema.objects, zone }, schema.tables))
    }
}

impl Source for DumpSource {
    fn describe(&self) -> String {
        format!("mysqldump file {}", self.path.display())
    }

    fn database_name(&self) -> String {
        let file = self.path.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
        format!("mysqldump:{file}")
    }

    fn not_carried(&self) -> BoxFuture<'_, Result<Vec<String>>> {
        let o = &self.objects;
        let line = (!o.is_empty()).then(|| format!(
            "{} views, triggers, routines or events in the dump ({}): converge carries tables and their rows; create these in PostgreSQL yourself",
            o.len(),
            o.join(", ")
        ));
        Box::pin(async move { Ok(line.into_iter().collect()) })
    }

    fn start(
        self: Arc<Self>,
        specs: Vec<ReadSpec>,
        batch_rows: usize,
        _one_at_a_time: bool,
    ) -> mpsc::Receiver<TableFeed> {
        start_dump(self.path.clone(), self.zone, specs, batch_rows)
    }
}

/// A dump is one sequential pass: tables are fed in file order as their INSERTs come.
fn start_dump(path: PathBuf, zone: Option<Zone>, specs: Vec<ReadSpec>, batch_rows: usize) -> mpsc::Receiver<TableFeed> {
    let (feeds_tx, feeds_rx) = mpsc::channel(specs.len() + 1);
    tokio::task::spawn_blocking(move || {
        let names: Vec<String> = specs.iter().map(|s| s.table.name.clone()).collect();
        let tables: HashMap<String, ReadSpec> = specs.into_iter().map(|s| (s.table.name.clone(), s)).collect();
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
            normalized: Vec::new(),
        };
        let result = super::read_data_in_zone(&path, zone, &tables, batch_rows, &mut |table, batch| {
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
