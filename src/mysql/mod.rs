//! The MySQL adapter below the seams (docs/architecture.md, "Layers"): a MySQL 8 /
//! MariaDB session — connecting, one consistent snapshot shared by several connections
//! and its binlog position (`position`), introspecting the schema (`introspect`), and the
//! queries `verify`, `plan --profile` and `bench` ask of the live server. The `Source`
//! that reads tables through it is `source::mysql`; its binlog stream is
//! `source::mysql::binlog`.

mod catalog;
mod introspect;
pub mod position;
mod shape;

use mysql_async::prelude::*;
use mysql_async::{Conn, Opts, OptsBuilder};
use tokio::sync::{Mutex, Semaphore};

use crate::error::{Error, Result};
use crate::feed::{JsonDuplicates, FEED_DEPTH, MAX_BATCH_BYTES};
use crate::schema::Table;

pub use introspect::{counters, introspect};

/// A column of a result row by its name (case-insensitive: MariaDB says `Server_id`,
/// MySQL `Server_Id`).
pub(crate) fn column(row: &mysql_async::Row, name: &str) -> Option<String> {
    let i = row.columns_ref().iter().position(|c| c.name_str().eq_ignore_ascii_case(name))?;
    match row.as_ref(i)? {
        mysql_async::Value::NULL => None,
        mysql_async::Value::Bytes(b) => Some(String::from_utf8_lossy(b).into_owned()),
        v => Some(v.as_sql(true).trim_matches('\'').to_string()),
    }
}

/// How the source reads.
#[derive(Debug, Clone)]
pub struct MySqlOptions {
    /// Connections reading in parallel (all inside one snapshot).
    pub connections: usize,
    /// Rows per batch.
    pub batch_rows: usize,
    /// Tables with more rows than this are read in primary-key ranges.
    pub range_rows: u64,
    /// What the connections' decoded batches may hold together
    /// ([`READ_AHEAD_BYTES`], less what the run's Parquet writers may buffer).
    pub read_ahead_bytes: usize,
    /// A follower will continue from the snapshot: its binlog position must be taken
    /// with it (on MySQL under the read lock, even with one connection).
    pub follow: bool,
}

impl Default for MySqlOptions {
    fn default() -> Self {
        MySqlOptions {
            connections: 8,
            batch_rows: 8192,
            range_rows: 50_000,
            read_ahead_bytes: READ_AHEAD_BYTES,
            follow: false,
        }
    }
}

/// What all the connections together may hold of decoded batches waiting for the
/// consumer (each connection: its batch being built and [`FEED_DEPTH`] sent ones).
/// This read-ahead is what lets the key ranges after the one being loaded be read at the
/// same time: with tables the server reads from disk, the benchmark's end-to-end load
/// took about a fifth less time with eight connections than with two (BENCHMARKS.md);
/// the budget keeps memory bounded whatever the number of connections.
pub const READ_AHEAD_BYTES: usize = 96 << 20;

impl MySqlOptions {
    /// A batch is cut past this many bytes: the read-ahead budget shared by the
    /// connections, at most [`MAX_BATCH_BYTES`], at least 1 MiB.
    pub fn batch_bytes(&self) -> usize {
        (self.read_ahead_bytes / (self.connections.max(1) * (FEED_DEPTH + 1))).clamp(1 << 20, MAX_BATCH_BYTES)
    }
}

/// Connections that all see the same consistent snapshot of the database.
pub struct MySqlSource {
    database: String,
    conns: Mutex<Vec<Conn>>,
    permits: Semaphore,
    pub(crate) options: MySqlOptions,
    snapshot_shared: bool,
    mariadb: bool,
    position: Option<crate::manifest::BinlogPosition>,
    pub(crate) log_bin: bool,
}

/// Parses a `mysql://` URL, with errors that never repeat the URL (it holds the password);
/// `ssl-mode` and `ssl-ca` ask for TLS (see [`crate::tls`]).
pub fn parse_url(url: &str) -> Result<(Opts, String)> {
    let (plain, tls) = crate::tls::mysql(url)?;
    let opts = Opts::from_url(&plain).map_err(|e| {
        Error::other(format!(
            "the MySQL URL {} is not valid: {}",
            crate::secret::redact_url(url),
            crate::secret::scrub(&e.to_string())
        ))
    })?;
    let db =
        opts.db_name().map(str::to_string).filter(|d| !d.is_empty()).ok_or_else(|| {
            Error::other(format!("the MySQL URL {} names no database", crate::secret::redact_url(url)))
        })?;
    let opts = Opts::from(OptsBuilder::from_opts(opts).ssl_opts(tls.mysql_opts()));
    Ok((opts, db))
}

/// One connection attempt. Retrying belongs to the caller: opening the source is retried
/// as a whole on transient errors ([`crate::error::retry`]), and a server that refuses
/// (unknown database, access denied) is not asked again.
async fn connect(opts: &Opts) -> Result<Conn> {
    let builder = OptsBuilder::from_opts(opts.clone())
        .init(vec!["SET NAMES utf8mb4", "SET SESSION time_zone = '+00:00'"])
        .prefer_socket(false);
    Conn::new(builder).await.map_err(|e| Error::mysql("connecting", e))
}

impl MySqlSource {
    /// Connects `options.connections` sessions and opens one consistent snapshot across
    /// them: under `FLUSH TABLES WITH READ LOCK` each session starts a REPEATABLE READ
    /// consistent-snapshot transaction, then the lock is released (as mysqldump and
    /// mydumper do). Without the RELOAD privilege the source falls back to one session.
    /// With the binary log on, the snapshot's binlog position is taken with it
    /// ([`position`]); a MySQL source that will be followed takes the lock even
    /// with one connection, and is refused without RELOAD.
    pub async fn open(url: &str, options: MySqlOptions) -> Result<MySqlSource> {
        let (opts, database) = parse_url(url)?;
        let mut control = connect(&opts).await?;
        let server = position::server(&mut control).await?;
        let wanted = options.connections.max(1);
        let lock_for_position = options.follow && !server.mariadb && server.log_bin;
        let locked =
            (wanted > 1 || lock_for_position) && control.query_drop("FLUSH TABLES WITH READ LOCK").await.is_ok();
        if lock_for_position && !locked {
            return Err(Error::other(
                "following a MySQL source needs its binlog position taken under FLUSH TABLES WITH READ LOCK, \
                 which needs the RELOAD privilege: `GRANT RELOAD ON *.* TO <user>`",
            ));
        }
        let mariadb = server.mariadb;
        let n = if locked { wanted } else { 1 };
        if wanted > 1 && !locked {
            tracing::warn!("no RELOAD privilege for a shared snapshot: reading over one connection");
        }
        let mut conns = Vec::with_capacity(n);
        let start = async {
            for _ in 0..n {
                let mut c = connect(&opts).await?;
                c.query_drop("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                    .await
                    .map_err(|e| Error::mysql("setting isolation level", e))?;
                c.query_drop("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
                    .await
                    .map_err(|e| Error::mysql("starting the snapshot transaction", e))?;
                conns.push(c);
            }
            Ok::<_, Error>(())
        }
        .await;
        // Still under the lock (MySQL reads the position there), before any later commit.
        let position = match &start {
            Ok(()) => position::take(&mut control, &mut conns, server, locked).await,
            Err(_) => Ok(None),
        };
        if locked {
            control.query_drop("UNLOCK TABLES").await.map_err(|e| Error::mysql("releasing the snapshot lock", e))?;
        }
        start?;
        let position = position?;
        let _ = control.disconnect().await;
        Ok(MySqlSource {
            database,
            permits: Semaphore::new(conns.len()),
            conns: Mutex::new(conns),
            options: MySqlOptions { connections: n, ..options },
            snapshot_shared: n > 1,
            position,
            log_bin: server.log_bin,
            mariadb,
        })
    }

    /// The database name (safe to print).
    pub fn database(&self) -> &str {
        &self.database
    }

    /// The sessions the snapshot is read over.
    pub fn connections(&self) -> usize {
        self.options.connections
    }

    /// Which of a JSON object's duplicate keys the server reads: MariaDB's JSON functions
    /// read the first; MySQL 8 stores JSON with the last one only.
    pub fn json_reading(&self) -> JsonDuplicates {
        if self.mariadb {
            JsonDuplicates::First
        } else {
            JsonDuplicates::Last
        }
    }

    /// The snapshot's binlog position (None with the binary log off, or on MySQL when
    /// the snapshot was not opened under the read lock).
    pub fn binlog_position(&self) -> Option<&crate::manifest::BinlogPosition> {
        self.position.as_ref()
    }

    /// Whether several connections share the snapshot.
    pub fn parallel(&self) -> bool {
        self.snapshot_shared
    }

    /// The schema, read inside the snapshot's first connection.
    pub async fn introspect(&self) -> Result<Vec<Table>> {
        let mut conn = self.acquire().await;
        let r = introspect(&mut conn, &self.database).await;
        self.release(conn).await;
        r
    }

    /// The source's views, routines, triggers and events, which a run does not carry: one
    /// line per kind that has any, naming them.
    pub async fn objects_not_carried(&self) -> Result<Vec<String>> {
        let db = crate::ident::mysql_literal(self.database());
        let kinds = [
            ("views", format!("SELECT TABLE_NAME FROM information_schema.VIEWS WHERE TABLE_SCHEMA = {db} ORDER BY 1")),
            (
                "routines",
                format!("SELECT ROUTINE_NAME FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = {db} ORDER BY 1"),
            ),
            (
                "triggers",
                format!("SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = {db} ORDER BY 1"),
            ),
            (
                "events",
                format!("SELECT EVENT_NAME FROM information_schema.EVENTS WHERE EVENT_SCHEMA = {db} ORDER BY 1"),
            ),
        ];
        let mut out = Vec::new();
        for (kind, q) in kinds {
            let names: Vec<String> = self.query(&q).await?;
            if !names.is_empty() {
                out.push(format!(
                    "{} {kind} of the source ({}): converge carries tables and their rows; create these in PostgreSQL yourself",
                    names.len(),
                    names.join(", ")
                ));
            }
        }
        Ok(out)
    }

    /// The views, triggers, routines and events with MySQL's definitions.
    pub async fn object_definitions(&self) -> Result<Vec<(String, String)>> {
        let db = crate::ident::mysql_literal(self.database());
        let queries = [
            format!("SELECT 'view', TABLE_NAME, VIEW_DEFINITION FROM information_schema.VIEWS WHERE TABLE_SCHEMA = {db} ORDER BY 2"),
            format!(
                "SELECT 'trigger', TRIGGER_NAME, CONCAT(ACTION_TIMING, ' ', EVENT_MANIPULATION, ' ON `', \
                 REPLACE(EVENT_OBJECT_TABLE, '`', '``'), '` FOR EACH ROW ', ACTION_STATEMENT) \
                 FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = {db} ORDER BY 2"
            ),
            format!(
                "SELECT LOWER(ROUTINE_TYPE), ROUTINE_NAME, ROUTINE_DEFINITION FROM information_schema.ROUTINES \
                 WHERE ROUTINE_SCHEMA = {db} ORDER BY 2"
            ),
            format!("SELECT 'event', EVENT_NAME, EVENT_DEFINITION FROM information_schema.EVENTS WHERE EVENT_SCHEMA = {db} ORDER BY 2"),
        ];
        let mut out = Vec::new();
        for q in queries {
            let rows: Vec<(String, String, Option<String>)> = self.query(&q).await?;
            out.extend(rows.into_iter().map(|(kind, name, def)| (format!("{kind} `{name}`"), def.unwrap_or_default())));
        }
        Ok(out)
    }

    /// Runs a query on a snapshot connection (the same consistent view as the reads).
    pub async fn query<T: FromRow + Send + 'static>(&self, sql: &str) -> Result<Vec<T>> {
        let mut conn = self.acquire().await;
        let r = conn.query(sql).await.map_err(|e| Error::mysql("profiling", e));
        self.release(conn).await;
        r
    }

    /// Runs a query (text protocol) on a snapshot connection and hands each row to
    /// `each` as it arrives — values as text, NULL as `None` — without collecting them.
    pub async fn query_each(&self, sql: &str, mut each: impl FnMut(Vec<Option<String>>) + Send) -> Result<u64> {
        self.query_each_ref(sql, |row| each(row.iter().map(|v| v.as_ref().map(|v| v.to_string())).collect())).await
    }

    /// [`Self::query_each`] with each row's values lent, not copied: text that is valid
    /// UTF-8 (all of it, for a utf8mb4 result) is borrowed from the row as it arrived;
    /// other bytes are replaced, as `String::from_utf8_lossy` does.
    pub async fn query_each_ref(
        &self,
        sql: &str,
        mut each: impl FnMut(&[Option<std::borrow::Cow<'_, str>>]) + Send,
    ) -> Result<u64> {
        let mut conn = self.acquire().await;
        let mut n = 0u64;
        let r = async {
            let mut result = conn.query_iter(sql).await?;
            result
                .for_each(|row| {
                    n += 1;
                    let values: Vec<_> = (0..row.len())
                        .map(|i| match row.as_ref(i) {
                            None | Some(mysql_async::Value::NULL) => None,
                            Some(mysql_async::Value::Bytes(b)) => Some(String::from_utf8_lossy(b)),
                            Some(other) => Some(other.as_sql(true).trim_matches('\'').to_string().into()),
                        })
                        .collect();
                    each(&values)
                })
                .await
        }
        .await
        .map_err(|e| Error::mysql("verifying", e));
        self.release(conn).await;
        r.map(|_| n)
    }

    pub(crate) async fn acquire(&self) -> Conn {
        let permit = self.permits.acquire().await.expect("semaphore is never closed");
        permit.forget();
        self.conns.lock().await.pop().expect("a permit means a free connection")
    }

    pub(crate) async fn release(&self, conn: Conn) {
        self.conns.lock().await.push(conn);
        self.permits.add_permits(1);
    }

    /// Ends the snapshot transactions and closes every connection.
    pub async fn close(&self) {
        let conns: Vec<Conn> = std::mem::take(&mut *self.conns.lock().await);
        for mut c in conns {
            let _ = c.query_drop("COMMIT").await;
            let _ = c.disconnect().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_ahead_stays_within_its_budget_whatever_the_connections() {
        for connections in 1..=64 {
            let o = MySqlOptions { connections, ..MySqlOptions::default() };
            let held = o.batch_bytes() * connections * (FEED_DEPTH + 1);
            assert!(o.batch_bytes() <= MAX_BATCH_BYTES, "{connections} connections");
            assert!(o.batch_bytes() >= 1 << 20, "{connections} connections");
            // Past the 1 MiB floor (32 connections), the budget holds exactly.
            if connections <= 32 {
                assert!(held <= READ_AHEAD_BYTES, "{connections} connections hold {held} bytes");
            }
        }
        // Few connections keep the full batch size.
        assert_eq!(MySqlOptions { connections: 2, ..MySqlOptions::default() }.batch_bytes(), MAX_BATCH_BYTES);
        assert_eq!(MySqlOptions::default().batch_bytes(), 4 << 20);
        // A smaller budget (a run with Parquet writers) gives smaller batches.
        let o = MySqlOptions { read_ahead_bytes: 64 << 20, ..MySqlOptions::default() };
        assert!(o.batch_bytes() * 8 * (FEED_DEPTH + 1) <= 64 << 20 && o.batch_bytes() < 4 << 20);
    }
}
