//! The change stream of a live server (docs/architecture.md, "Change capture"): its
//! binlog read as a replica reads it, from a position on, turned into [`Change`]s.
//!
//! One connection of its own registers as a replica (`server_id`) and asks for the
//! binlog by file and position; on MariaDB it first says it understands GTID events
//! (`@mariadb_slave_capability = 4`), so the server sends its real events, and asks for
//! heartbeats (`@master_heartbeat_period`), which become [`Change::Idle`].
//!
//! Transactions: MariaDB opens one with its GTID event (unless flagged standalone: a DDL
//! statement with no COMMIT after it), MySQL with a `BEGIN` query; an XID event or a
//! `COMMIT` query ends it ([`Change::Commit`] at the position after it). A statement
//! outside a transaction (DDL) is followed by a commit at its end, so a follower can
//! store a position past it. Row events of the followed tables of `database` are
//! converted ([`super::convert`]) to the values the snapshot's `SELECT` gives, then
//! decoded by the snapshot's own decoder, in chunks of at most `batch_rows` rows, in
//! source order. Anything the stream does not understand stops it with the event's type
//! and position; nothing is skipped that could change a followed table.

use std::collections::{HashMap, VecDeque};

use futures::future::BoxFuture;
use futures::StreamExt;
use mysql_async::binlog::events::{Event, EventData, QueryEvent, RotateEvent, TableMapEvent};
use mysql_async::binlog::row::BinlogRow;
use mysql_async::prelude::*;
use mysql_async::{BinlogStream, BinlogStreamRequest, Conn, OptsBuilder, Value};

use super::convert::Follow;
use super::events::{self, kind, Statement};
use crate::change::{Change, Op, TableChanges};
use crate::error::{Error, Result};
use crate::feed::{ReadSpec, MAX_BATCH_BYTES};
use crate::manifest::BinlogPosition;
use crate::source::cell::BatchBuilder;
use crate::source::ChangeStream;

/// What to follow, and from where.
#[derive(Debug, Clone)]
pub struct FollowRequest {
    /// The source URL (secrets inside: never printed).
    pub url: String,
    /// The followed database.
    pub database: String,
    /// The followed tables, read as the snapshot read them.
    pub specs: Vec<ReadSpec>,
    /// Where to start: the snapshot's position, or the last applied commit's.
    pub from: BinlogPosition,
    /// The follower's replica id (no other replica of the server may use it).
    pub server_id: u32,
    /// Seconds between the server's heartbeats on an idle binlog.
    pub heartbeat_secs: f64,
    /// At most this many rows per [`Change::Rows`].
    pub batch_rows: usize,
}

impl std::fmt::Debug for BinlogChanges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BinlogChanges({} at {}:{})", self.st.database, self.st.file, self.st.pos)
    }
}

/// A server's binlog as a [`ChangeStream`].
pub struct BinlogChanges {
    stream: Option<BinlogStream>,
    st: State,
}

/// Rows of one table being gathered into a [`Change::Rows`].
struct Pending {
    follow: usize,
    ops: Vec<Op>,
    builder: BatchBuilder,
    /// Source row changes (a key change is one, in two rows).
    changes: u64,
}

/// What the stream knows between events.
struct State {
    database: String,
    follows: Vec<Follow>,
    /// Followed table name → its index in `follows`.
    by_name: HashMap<String, usize>,
    /// Table id of the current table maps → the followed table, if followed.
    tables: HashMap<u64, Option<usize>>,
    /// The binlog file being read, and the end of the last event read.
    file: String,
    pos: u64,
    /// A format description was read (the checksum setting is known).
    seen_fde: bool,
    in_txn: bool,
    pending: Option<Pending>,
    out: VecDeque<Change>,
    batch_rows: usize,
}

/// Connects as a replica and starts reading the binlog at `req.from`.
pub async fn open(req: FollowRequest) -> Result<BinlogChanges> {
    let follows = req.specs.into_iter().map(Follow::new).collect::<Result<Vec<_>>>()?;
    let mut conn = connect(&req.url).await?;
    let period_ns = (req.heartbeat_secs.max(0.001) * 1e9) as u64;
    for sql in [
        "SET @mariadb_slave_capability = 4".to_string(),
        format!("SET @master_heartbeat_period = {period_ns}"),
        format!("SET @source_heartbeat_period = {period_ns}"),
    ] {
        conn.query_drop(sql.as_str()).await.map_err(|e| Error::mysql("preparing the binlog connection", e))?;
    }
    let request = BinlogStreamRequest::new(req.server_id)
        .with_hostname(super::preflight::FOLLOWER_HOST.as_bytes())
        .with_filename(req.from.file.as_bytes())
        .with_pos(req.from.position);
    let stream = conn.get_binlog_stream(request).await.map_err(|e| read_error(e, &req.from.file, req.from.position))?;
    let by_name = follows.iter().enumerate().map(|(i, f)| (f.table().to_string(), i)).collect();
    Ok(BinlogChanges {
        stream: Some(stream),
        st: State {
            database: req.database,
            follows,
            by_name,
            tables: HashMap::new(),
            file: req.from.file,
            pos: req.from.position,
            seen_fde: false,
            in_txn: false,
            pending: None,
            out: VecDeque::new(),
            batch_rows: req.batch_rows.max(1),
        },
    })
}

/// The server's current binlog position (`SHOW BINARY LOG STATUS`, before MySQL 8.2
/// `SHOW MASTER STATUS`, read by column name).
pub async fn server_position(url: &str) -> Result<BinlogPosition> {
    let mut conn = connect(url).await?;
    let position = crate::mysql::position::locked_position(&mut conn).await;
    let _ = conn.disconnect().await;
    position?.ok_or_else(|| Error::other("the server has no binary log position: its binary log is off (log_bin)"))
}

/// A connection of the stream's own, with the snapshot's URL handling and TLS; it takes
/// packets as large as a binlog event can be.
async fn connect(url: &str) -> Result<Conn> {
    let (opts, _) = crate::mysql::parse_url(url)?;
    let builder = OptsBuilder::from_opts(opts).prefer_socket(false).max_allowed_packet(Some(1 << 30));
    Conn::new(builder).await.map_err(|e| Error::mysql("connecting to read the binlog", e))
}

/// A failure to read the binlog, the cause kept; error 1236 (the server cannot send from
/// there: a purged file) says a new snapshot is needed.
fn read_error(e: mysql_async::Error, file: &str, pos: u64) -> Error {
    if let mysql_async::Error::Server(s) = &e {
        if s.code == 1236 {
            return Error::mysql(
                format!(
                    "reading the binlog from {file}:{pos}: the server can no longer send it (purged, or not a \
                     position it logged), so the changes since cannot be followed: a new snapshot is needed (a new \
                     `converge run`)"
                ),
                e,
            );
        }
    }
    Error::mysql(format!("reading the binlog after {file}:{pos}"), e)
}

impl ChangeStream for BinlogChanges {
    fn next(&mut self) -> BoxFuture<'_, Result<Change>> {
        Box::pin(async move {
            loop {
                if let Some(c) = self.st.out.pop_front() {
                    return Ok(c);
                }
                let Some(stream) = self.stream.as_mut() else {
                    return Err(Error::other("the binlog stream is closed"));
                };
                let event = match stream.next().await {
                    Some(Ok(e)) => e,
                    Some(Err(e)) => return Err(read_error(e, &self.st.file, self.st.pos)),
                    None => {
                        // A server shutting down ends the stream cleanly: a lost connection
                        // (transient), which a follower resumes from its stored position.
                        return Err(Error::mysql(
                            format!("the server ended the binlog stream after {}:{}", self.st.file, self.st.pos),
                            mysql_async::Error::Driver(mysql_async::DriverError::ConnectionClosed),
                        ));
                    }
                };
                self.st.event(&event, stream)?;
            }
        })
    }

    fn close(mut self: Box<Self>) -> BoxFuture<'static, ()> {
        let stream = self.stream.take();
        Box::pin(async move {
            if let Some(s) = stream {
                let _ = s.close().await;
            }
        })
    }
}

impl State {
    /// Where an event starts, for errors.
    fn at(&self, event: &Event) -> String {
        let h = event.header();
        let start = (h.log_pos() as u64).saturating_sub(h.event_size() as u64);
        format!("{}:{start}", self.file)
    }

    /// A position in the current file.
    fn position(&self, pos: u32) -> BinlogPosition {
        BinlogPosition { file: self.file.clone(), position: pos as u64, gtid: None }
    }

    /// An event the stream could not read.
    fn unreadable(&self, event: &Event, what: &str, e: impl std::fmt::Display) -> Error {
        Error::other(format!("the binlog's {what} at {} could not be read: {e}", self.at(event)))
    }

    /// Handles one event, queueing what it changes.
    fn event(&mut self, event: &Event, stream: &BinlogStream) -> Result<()> {
        let h = event.header();
        let t = h.event_type_raw();
        match t {
            // The replication start's fake rotate comes before any format description,
            // so its checksum is not known to be one (and would end the file's name): it
            // names the file asked for, which the stream already holds.
            kind::ROTATE if !self.seen_fde => return Ok(()),
            kind::ROTATE => {
                let r: RotateEvent<'_> = event.read_event().map_err(|e| self.unreadable(event, "ROTATE", e))?;
                self.file = r.name().into_owned();
                self.pos = r.position();
                return Ok(());
            }
            kind::FORMAT_DESCRIPTION => self.seen_fde = true,
            kind::STOP
            | kind::INTVAR
            | kind::RAND
            | kind::USER_VAR
            | kind::IGNORABLE
            | kind::ROWS_QUERY
            | kind::PREVIOUS_GTIDS
            | kind::ANNOTATE_ROWS
            | kind::BINLOG_CHECKPOINT
            | kind::GTID_LIST
            | kind::GTID
            | kind::ANONYMOUS_GTID
            | kind::GTID_TAGGED => {}
            kind::MARIADB_GTID => {
                let flags = events::mariadb_gtid_flags(event.data()).unwrap_or(0);
                self.in_txn = flags & events::FL_STANDALONE == 0;
                self.begin(event);
            }
            kind::XID => self.commit(h.log_pos(), h.timestamp()),
            kind::QUERY => self.query(event)?,
            kind::TABLE_MAP => self.table_map(event)?,
            kind::WRITE_ROWS_V1
            | kind::UPDATE_ROWS_V1
            | kind::DELETE_ROWS_V1
            | kind::WRITE_ROWS
            | kind::UPDATE_ROWS
            | kind::DELETE_ROWS => self.rows(event, stream)?,
            kind::HEARTBEAT | kind::HEARTBEAT_V2 => {
                let pos = if h.log_pos() > 0 { h.log_pos() } else { self.pos as u32 };
                if !self.in_txn && self.pending.is_none() && pos > 0 {
                    self.out.push_back(Change::Idle { at: self.position(pos) });
                }
                return Ok(());
            }
            other => {
                return Err(Error::other(format!(
                    "the binlog holds {} at {}: the change stream stops here rather than skip it",
                    events::refusal(other),
                    self.at(event)
                )))
            }
        }
        // Artificial events (the replication start's) carry no position.
        if h.log_pos() > 0 && t != kind::FORMAT_DESCRIPTION {
            self.pos = h.log_pos() as u64;
        }
        Ok(())
    }

    /// A transaction (or a lone statement) starts with this event.
    fn begin(&mut self, event: &Event) {
        let h = event.header();
        let start = (h.log_pos() as u64).saturating_sub(h.event_size() as u64);
        if h.log_pos() > 0 {
            self.out.push_back(Change::Begin { at: self.position(start as u32) });
        }
    }

    /// The end of a source transaction (or of a statement outside one).
    fn commit(&mut self, log_pos: u32, timestamp: u32) {
        self.flush();
        self.in_txn = false;
        self.out.push_back(Change::Commit { at: self.position(log_pos), timestamp });
    }

    /// Passes on the rows gathered so far.
    fn flush(&mut self) {
        if let Some(mut p) = self.pending.take() {
            if !p.ops.is_empty() {
                let table = self.follows[p.follow].table().to_string();
                self.out.push_back(Change::Rows(TableChanges {
                    table,
                    ops: p.ops,
                    rows: p.builder.finish(),
                    changes: p.changes,
                }));
            }
        }
    }

    /// The followed table a statement names, if any (`schema`: the statement's default
    /// database); `*` (a whole database) matches any table. Names compare without case:
    /// a refusal too many is better than a change missed.
    fn names_followed(&self, n: &events::Name, schema: &str) -> Option<String> {
        let db = n.db.as_deref().unwrap_or(schema);
        if !db.eq_ignore_ascii_case(&self.database) {
            return None;
        }
        if n.table == "*" {
            return self.follows.first().map(|f| f.table().to_string());
        }
        self.follows.iter().map(Follow::table).find(|t| t.eq_ignore_ascii_case(&n.table)).map(str::to_string)
    }

    /// A statement logged as such.
    fn query(&mut self, event: &Event) -> Result<()> {
        let q: QueryEvent<'_> = event.read_event().map_err(|e| self.unreadable(event, "QUERY", e))?;
        let (schema, sql) = (q.schema().into_owned(), q.query().into_owned());
        let h = event.header();
        let standalone = !self.in_txn;
        let statement = events::classify(&sql);
        if standalone && !matches!(statement, Statement::Begin) {
            self.begin(event);
        }
        let shown = || crate::error::shorten(sql.trim(), 200);
        match &statement {
            Statement::Begin => {
                self.in_txn = true;
                self.begin(event);
                return Ok(());
            }
            Statement::Commit => {
                self.commit(h.log_pos(), h.timestamp());
                return Ok(());
            }
            Statement::Truncate(n) => {
                if let Some(table) = self.names_followed(n, &schema) {
                    self.flush();
                    self.out.push_back(Change::Truncate { table });
                }
            }
            Statement::Ddl(names) => {
                if let Some(table) = names.iter().find_map(|n| self.names_followed(n, &schema)) {
                    return Err(Error::other(format!(
                        "the source changed the definition of followed table `{table}` at {}: `{}`; the follower \
                         does not carry DDL: apply it to the target yourself and take a new snapshot (a new \
                         `converge run`)",
                        self.at(event),
                        shown()
                    )));
                }
            }
            Statement::Index(n) => {
                if let Some(table) = self.names_followed(n, &schema) {
                    tracing::info!(
                        "an index of `{table}` changed at {} (ignored: rows do not change): {}",
                        self.at(event),
                        shown()
                    );
                }
            }
            Statement::Dml => {
                let db = &self.database;
                let mentions = sql.contains(&format!("`{db}`.")) || sql.contains(&format!("{db}."));
                if schema == *db || mentions {
                    return Err(Error::other(format!(
                        "a data change in `{db}` was logged as a statement at {} (`{}`): its rows are not in the \
                         binlog, so it cannot be followed; the server (and every session) must log with \
                         binlog_format = ROW; take a new snapshot once it does",
                        self.at(event),
                        shown()
                    )));
                }
            }
            Statement::Xa => {
                return Err(Error::other(format!(
                    "an XA transaction at {} (`{}`): the change stream does not follow XA transactions",
                    self.at(event),
                    shown()
                )))
            }
            Statement::Other => {}
        }
        if standalone {
            self.commit(h.log_pos(), h.timestamp());
        }
        Ok(())
    }

    /// A table map: which table the next row events' id means, and whether it is followed.
    fn table_map(&mut self, event: &Event) -> Result<()> {
        let tm: TableMapEvent<'_> = event.read_event().map_err(|e| self.unreadable(event, "TABLE_MAP", e))?;
        let followed = if tm.database_name() == self.database.as_str() {
            self.by_name.get(&*tm.table_name()).copied()
        } else {
            None
        };
        if let Some(i) = followed {
            let t = &self.follows[i].spec.table;
            if tm.columns_count() as usize != t.columns.len() {
                return Err(Error::other(format!(
                    "the binlog's `{}` has {} columns at {}, the snapshot's {}: the table changed since the \
                     snapshot; take a new snapshot",
                    t.name,
                    tm.columns_count(),
                    self.at(event),
                    t.columns.len()
                )));
            }
        }
        self.tables.insert(tm.table_id(), followed);
        Ok(())
    }

    /// A rows event: its rows, when its table is followed.
    fn rows(&mut self, event: &Event, stream: &BinlogStream) -> Result<()> {
        let t = event.header().event_type_raw();
        let data = event.read_data().map_err(|e| self.unreadable(event, "row event", e))?;
        let Some(EventData::RowsEvent(r)) = data else {
            return Err(self.unreadable(event, "row event", "not a row event"));
        };
        let follow = match self.tables.get(&r.table_id()) {
            Some(Some(i)) => *i,
            Some(None) => return Ok(()),
            None => return Err(self.unreadable(event, "row event", "no table map before it")),
        };
        let tme = stream.get_tme(r.table_id()).ok_or_else(|| self.unreadable(event, "row event", "no table map"))?;
        let before: Vec<usize> = r.columns_before_image().map(|b| b.iter_ones().collect()).unwrap_or_default();
        let after: Vec<usize> = r.columns_after_image().map(|b| b.iter_ones().collect()).unwrap_or_default();
        for row in r.rows(tme) {
            let (b, a) = row.map_err(|e| self.unreadable(event, "row event", e))?;
            let missing = || self.unreadable(event, "row event", "a row image is missing");
            match t {
                kind::WRITE_ROWS | kind::WRITE_ROWS_V1 => {
                    self.push(follow, Op::Upsert, a.as_ref().ok_or_else(missing)?, &after)?
                }
                kind::DELETE_ROWS | kind::DELETE_ROWS_V1 => {
                    self.push(follow, Op::Delete, b.as_ref().ok_or_else(missing)?, &before)?
                }
                _ => {
                    let (b, a) = (b.as_ref().ok_or_else(missing)?, a.as_ref().ok_or_else(missing)?);
                    let moved = !self.follows[follow].same_key((b, &before), (a, &after));
                    if moved {
                        self.push(follow, Op::Move, b, &before)?;
                    }
                    self.push(follow, Op::Upsert, a, &after)?;
                    if let Some(p) = self.pending.as_mut().filter(|_| moved) {
                        // One change in two rows (the batch holding the upsert counted it).
                        p.changes -= 1;
                    }
                }
            }
        }
        Ok(())
    }

    /// One row change of a followed table, decoded as the snapshot decodes it.
    fn push(&mut self, follow: usize, op: Op, row: &BinlogRow, present: &[usize]) -> Result<()> {
        if self.pending.as_ref().is_some_and(|p| p.follow != follow) {
            self.flush();
        }
        let f = &self.follows[follow];
        let values = f.values(row, present)?;
        let batch_rows = self.batch_rows;
        let p = self.pending.get_or_insert_with(|| Pending {
            follow,
            ops: Vec::new(),
            builder: BatchBuilder::new(f.spec.plans.clone(), batch_rows.min(1024)),
            changes: 0,
        });
        for (i, v) in values.iter().enumerate() {
            if let Err(e) = p.builder.push(i, super::super::read::cell(Some(v))) {
                let key = row_key(f, &values);
                p.builder.finish();
                self.pending = None;
                return Err(e.locate(f.table(), key).into());
            }
        }
        p.builder.end_row();
        p.ops.push(op);
        p.changes += 1;
        if p.builder.rows() >= self.batch_rows || p.builder.bytes() >= MAX_BATCH_BYTES {
            self.flush();
        }
        Ok(())
    }
}

/// A row named by its primary key's values, for an error.
fn row_key(f: &Follow, values: &[Value]) -> String {
    let key = super::super::read::key_columns(&f.spec);
    let names: Vec<&str> = key.iter().map(|&i| f.spec.plans[i].name.as_str()).collect();
    let shown: Vec<String> = key.iter().map(|&i| values[i].as_sql(true)).collect();
    crate::feed::render_key(&names, &shown, 0)
}
