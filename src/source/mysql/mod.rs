//! The live MySQL 8 / MariaDB source under the [`Source`](crate::source::Source) seam:
//! the snapshot's session is the `mysql` adapter's ([`MySqlSource`]); here its tables are
//! read as Arrow batches (`read`, `scan` for `plan --profile`) and its binlog followed
//! (`binlog`). See docs/architecture.md, "Seams".

pub mod binlog;
mod read;
mod scan;

use std::sync::Arc;

use tokio::sync::mpsc;

use crate::error::Result;
use crate::feed::{JsonDuplicates, ReadSpec, TableFeed, FEED_DEPTH};
use crate::mysql::MySqlSource;

pub use scan::Scanned;

/// Starts reading every table; the feeds come back in the order given. Big tables are
/// split in primary-key ranges read on several connections and delivered in key order.
/// Tables are read concurrently, as many at a time as there are connections — or, with
/// `one_table_at_a_time` (a single-transaction PostgreSQL load, which takes tables one
/// after the other), each table once the one before it has been read.
pub fn read_all(src: Arc<MySqlSource>, specs: Vec<ReadSpec>, one_table_at_a_time: bool) -> mpsc::Receiver<TableFeed> {
    let (feeds_tx, feeds_rx) = mpsc::channel(specs.len().max(1));
    if one_table_at_a_time {
        tokio::spawn(async move {
            for spec in specs {
                let (tx, rx) = mpsc::channel(FEED_DEPTH);
                if feeds_tx.send(TableFeed { table: spec.table.name.clone(), rx }).await.is_err() {
                    return;
                }
                read::read_table(src.clone(), spec, tx).await;
            }
        });
        return feeds_rx;
    }
    for spec in specs {
        let (tx, rx) = mpsc::channel(FEED_DEPTH);
        let _ = feeds_tx.try_send(TableFeed { table: spec.table.name.clone(), rx });
        let this = src.clone();
        tokio::spawn(async move { read::read_table(this, spec, tx).await });
    }
    feeds_rx
}

/// A live server under the [`Source`](crate::source::Source) seam.
pub struct LiveSource(pub Arc<MySqlSource>);

impl crate::source::Source for LiveSource {
    fn describe(&self) -> String {
        let how = if self.0.parallel() { "parallel connections" } else { "one connection" };
        let position = match self.0.binlog_position() {
            Some(p) => format!("binlog position {p}"),
            None if !self.0.log_bin => "binary log off: no binlog position".into(),
            None => "no binlog position (MySQL without the read lock)".into(),
        };
        format!("mysql database `{}` (consistent snapshot, {how}; {position})", self.0.database())
    }

    fn database_name(&self) -> String {
        format!("mysql:{}", self.0.database())
    }

    fn not_carried(&self) -> futures::future::BoxFuture<'_, Result<Vec<String>>> {
        Box::pin(self.0.objects_not_carried())
    }

    fn object_definitions(&self) -> futures::future::BoxFuture<'_, Result<Vec<(String, String)>>> {
        Box::pin(self.0.object_definitions())
    }

    fn start(
        self: Arc<Self>,
        specs: Vec<ReadSpec>,
        _batch_rows: usize,
        one_at_a_time: bool,
    ) -> mpsc::Receiver<TableFeed> {
        read_all(self.0.clone(), specs, one_at_a_time)
    }

    fn close(&self) -> futures::future::BoxFuture<'_, ()> {
        Box::pin(self.0.close())
    }

    fn binlog_position(&self) -> Option<crate::manifest::BinlogPosition> {
        self.0.binlog_position().cloned()
    }

    fn live(&self) -> Option<Arc<MySqlSource>> {
        Some(self.0.clone())
    }

    fn json_reading(&self) -> Option<JsonDuplicates> {
        Some(self.0.json_reading())
    }
}
