//! The binlog position of the snapshot, taken with it (docs/architecture.md, "Change
//! capture"): every change after the snapshot is logged after this position, every
//! change before it is in the snapshot.
//!
//! MariaDB reports, per session, the position its consistent snapshot was taken at
//! (`Binlog_snapshot_file` / `Binlog_snapshot_position`): lock-free, and read on every
//! snapshot connection, which must all agree. Its GTID is `BINLOG_GTID_POS(file, pos)`
//! (`@@gtid_binlog_pos` is not transactional: it may already count later commits).
//! MySQL has no such status: the position is read under the brief `FLUSH TABLES WITH READ
//! LOCK` the snapshots are opened in (`SHOW BINARY LOG STATUS`, before 8.2 `SHOW MASTER
//! STATUS`), with the GTID set executed at that moment.

use mysql_async::prelude::*;
use mysql_async::{Conn, Row};

use super::column;
use crate::error::{Error, Result};
use crate::manifest::BinlogPosition;

/// What the position depends on.
#[derive(Debug, Clone, Copy)]
pub struct Server {
    /// MariaDB (else MySQL).
    pub mariadb: bool,
    /// The binary log is on.
    pub log_bin: bool,
}

/// Asks the server which it is and whether it logs.
pub async fn server(conn: &mut Conn) -> Result<Server> {
    let row: Option<(String, i64)> = conn
        .query_first("SELECT VERSION(), @@log_bin")
        .await
        .map_err(|e| Error::mysql("reading the server's version and log_bin", e))?;
    let (version, log_bin) = row.unwrap_or_default();
    Ok(Server { mariadb: version.to_ascii_lowercase().contains("mariadb"), log_bin: log_bin != 0 })
}

/// The snapshot's position, read on every snapshot connection (MariaDB) or on `control`
/// while it holds the read lock (MySQL, `locked`); None when the binary log is off, or
/// on MySQL without the lock (the position could not be tied to the snapshot).
pub async fn take(
    control: &mut Conn,
    conns: &mut [Conn],
    server: Server,
    locked: bool,
) -> Result<Option<BinlogPosition>> {
    if !server.log_bin {
        return Ok(None);
    }
    if !server.mariadb {
        return if locked { locked_position(control).await } else { Ok(None) };
    }
    let mut seen: Option<(String, u64)> = None;
    for (i, c) in conns.iter_mut().enumerate() {
        let here = snapshot_status(c).await?;
        match &seen {
            Some(first) if *first != here => {
                return Err(Error::other(format!(
                    "the snapshot connections saw different binlog positions ({}:{} on the first, {}:{} on \
                     connection {}): they do not share one snapshot, so no position can be recorded for it",
                    first.0,
                    first.1,
                    here.0,
                    here.1,
                    i + 1
                )));
            }
            _ => seen = Some(here),
        }
    }
    let Some((file, position)) = seen.filter(|(f, _)| !f.is_empty()) else { return Ok(None) };
    // The GTID is for display: a server that will not say it leaves it out.
    let gtid: Option<String> = match conns.first_mut() {
        Some(c) => {
            match c.exec_first::<Option<String>, _, _>("SELECT BINLOG_GTID_POS(?, ?)", (file.as_str(), position)).await
            {
                Ok(g) => g.flatten(),
                Err(e) => {
                    tracing::warn!("the snapshot's GTID could not be read (BINLOG_GTID_POS): {e}");
                    None
                }
            }
        }
        None => None,
    };
    Ok(Some(BinlogPosition { file, position, gtid: gtid.filter(|g| !g.is_empty()) }))
}

/// MariaDB's `Binlog_snapshot_file` / `Binlog_snapshot_position` of this session.
async fn snapshot_status(conn: &mut Conn) -> Result<(String, u64)> {
    let rows: Vec<Row> = conn
        .query("SHOW STATUS LIKE 'binlog_snapshot_%'")
        .await
        .map_err(|e| Error::mysql("reading the snapshot's binlog position", e))?;
    let value = |name: &str| {
        rows.iter()
            .find(|r| column(r, "Variable_name").is_some_and(|n| n.eq_ignore_ascii_case(name)))
            .and_then(|r| column(r, "Value"))
            .unwrap_or_default()
    };
    let position = value("Binlog_snapshot_position");
    let position = position.parse().map_err(|_| {
        Error::other(format!("the server reported Binlog_snapshot_position `{position}`, which is not a position"))
    })?;
    Ok((value("Binlog_snapshot_file"), position))
}

/// MySQL's current position and executed GTID set, read under the read lock.
pub(crate) async fn locked_position(conn: &mut Conn) -> Result<Option<BinlogPosition>> {
    let rows: Vec<Row> = match conn.query("SHOW BINARY LOG STATUS").await {
        Ok(r) => r,
        Err(_) => conn.query("SHOW MASTER STATUS").await.map_err(|e| Error::mysql("reading the binlog position", e))?,
    };
    let Some(row) = rows.first() else { return Ok(None) };
    let file = column(row, "File").unwrap_or_default();
    let position = column(row, "Position").and_then(|p| p.parse().ok());
    match position {
        Some(position) if !file.is_empty() => {
            let gtid = column(row, "Executed_Gtid_Set").map(|g| g.replace('\n', "")).filter(|g| !g.is_empty());
            Ok(Some(BinlogPosition { file, position, gtid }))
        }
        _ => Ok(None),
    }
}
