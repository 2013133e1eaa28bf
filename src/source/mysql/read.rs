//! Streaming one table out of the snapshot: split into primary-key ranges when big, read
//! each range over the binary protocol, decode into Arrow batches, count the table.

use std::sync::Arc;

use mysql_async::prelude::*;
use mysql_async::{Conn, Params, Row, Value};
use tokio::sync::mpsc;

use crate::error::{Error, Result};
use crate::feed::render_key;
use crate::feed::{CountKind, FeedMsg, ReadSpec, ReadStats, FEED_DEPTH};
use crate::ident;
use crate::mysql::MySqlSource;
use crate::source::cell::{BatchBuilder, Cell};

/// A `WHERE` clause over the key and its parameters.
#[derive(Debug, Clone, Default)]
struct Range {
    clause: String,
    params: Vec<Value>,
}

/// Reads one table into `tx`, ending with `Done` or `Failed`.
pub(super) async fn read_table(src: Arc<MySqlSource>, spec: ReadSpec, tx: mpsc::Sender<FeedMsg>) {
    match read_table_inner(&src, &spec, &tx).await {
        Ok(stats) => {
            let _ = tx.send(FeedMsg::Done(stats)).await;
        }
        Err(e) => {
            let _ = tx.send(FeedMsg::Failed(e)).await;
        }
    }
}

/// What a table's read gave: rows sent, zero dates written as NULL per column, and the
/// table's count in the snapshot once taken.
type Read = (u64, Vec<u64>, Option<u64>);

async fn read_table_inner(src: &Arc<MySqlSource>, spec: &ReadSpec, tx: &mpsc::Sender<FeedMsg>) -> Result<ReadStats> {
    let mut conn = src.acquire().await;
    let planned = plan_ranges(&mut conn, src, spec).await;
    src.release(conn).await;
    let (count, ranges) = planned?;
    let (rows_read, nulled, count) = if ranges.len() == 1 {
        read_whole(src, spec, &ranges[0], count, tx).await?
    } else {
        read_in_ranges(src, spec, ranges, count, tx).await?
    };
    let count = count.ok_or_else(|| Error::other(format!("`{}` was read but not counted", spec.table.name)))?;
    Ok(ReadStats {
        source_count: Some((count, CountKind::Snapshot)),
        rows_read,
        zero_dates_nulled: spec
            .plans
            .iter()
            .zip(nulled)
            .filter(|(_, n)| *n > 0)
            .map(|(p, n)| (p.name.clone(), n))
            .collect(),
        normalized: Vec::new(),
    })
}

/// The table in one range on one connection, counted after it when not counted yet.
async fn read_whole(
    src: &Arc<MySqlSource>,
    spec: &ReadSpec,
    range: &Range,
    mut count: Option<u64>,
    tx: &mpsc::Sender<FeedMsg>,
) -> Result<Read> {
    let mut conn = src.acquire().await;
    let mut r = read_range(&mut conn, src, spec, range, tx).await;
    if r.is_ok() && count.is_none() {
        match count_rows(&mut conn, &spec.table.name).await {
            Ok(n) => count = Some(n),
            Err(e) => r = Err(e),
        }
    }
    src.release(conn).await;
    let (rows, nulled) = r?;
    Ok((rows, nulled, count))
}

/// The table in key ranges, each on its own connection, passed on in key order.
async fn read_in_ranges(
    src: &Arc<MySqlSource>,
    spec: &ReadSpec,
    ranges: Vec<Range>,
    mut count: Option<u64>,
    tx: &mpsc::Sender<FeedMsg>,
) -> Result<Read> {
    tracing::debug!(table = %ident::mysql(&spec.table.name), ranges = ranges.len(), "reading in key ranges");
    let (chunk_tx, mut chunk_rx) = mpsc::unbounded_channel();
    let launcher = launch_ranges(src.clone(), spec.clone(), ranges, count.is_some(), chunk_tx);
    let (mut rows, mut nulled) = (0u64, vec![0u64; spec.plans.len()]);
    let read = async {
        while let Some((mut crx, handle)) = chunk_rx.recv().await {
            while let Some(msg) = crx.recv().await {
                if tx.send(msg).await.is_err() {
                    return Err(Error::other("the run stopped reading"));
                }
            }
            let (n, z) = handle.await.map_err(|e| Error::other(format!("reader task failed: {e}")))??;
            rows += n;
            nulled.iter_mut().zip(z).for_each(|(a, b)| *a += b);
        }
        Ok(())
    }
    .await;
    if let Err(e) = read {
        launcher.abort();
        return Err(e);
    }
    if let Some(n) = launcher.await.map_err(|e| Error::other(format!("counting task failed: {e}")))? {
        count = Some(n?);
    }
    Ok((rows, nulled, count))
}

/// One range being read: its batches, and the task reading it (rows, zero dates nulled).
type RangeRead = (mpsc::Receiver<FeedMsg>, tokio::task::JoinHandle<Result<(u64, Vec<u64>)>>);

/// Starts a reader per range, handing each to `chunks` in key order; then, when the table
/// is not `counted` yet, counts it (the task's result).
///
/// Connections are taken in key order by this one launcher, so the range the consumer
/// waits for always holds a connection (later ranges may wait, never the reverse). A
/// table not counted yet is counted once every range has a connection: beside the last
/// ranges' reads, not before the first.
fn launch_ranges(
    src: Arc<MySqlSource>,
    spec: ReadSpec,
    ranges: Vec<Range>,
    counted: bool,
    chunks: mpsc::UnboundedSender<RangeRead>,
) -> tokio::task::JoinHandle<Option<Result<u64>>> {
    tokio::spawn(async move {
        for range in ranges {
            let mut conn = src.acquire().await;
            let (ctx, crx) = mpsc::channel(FEED_DEPTH);
            let (src2, spec2) = (src.clone(), spec.clone());
            let handle = tokio::spawn(async move {
                let r = read_range(&mut conn, &src2, &spec2, &range, &ctx).await;
                src2.release(conn).await;
                r
            });
            if chunks.send((crx, handle)).is_err() {
                return None;
            }
        }
        drop(chunks);
        if counted {
            return None;
        }
        let mut conn = src.acquire().await;
        let n = count_rows(&mut conn, &spec.table.name).await;
        src.release(conn).await;
        Some(n)
    })
}

/// `COUNT(*)` of the table in the snapshot (any of the source's connections: they share it).
async fn count_rows(conn: &mut Conn, table: &str) -> Result<u64> {
    let n: Option<u64> = conn
        .query_first(format!("SELECT COUNT(*) FROM {}", ident::mysql(table)))
        .await
        .map_err(|e| Error::mysql(format!("counting `{table}`"), e))?;
    Ok(n.unwrap_or(0))
}

/// Decides the table's key ranges, and counts it when that is needed to decide them.
///
/// A table the statistics call big (more than `range_rows`) is split from that estimate
/// and counted later, beside its reads: `COUNT(*)` of a big InnoDB table scans a whole
/// index, and taken first it held up the load of every big table for its duration (1.4 s
/// of the 1.8 M-row table in the benchmark) while PostgreSQL had nothing to do. Any other
/// table is counted first and split by its count. The estimate only shapes the ranges;
/// the count in the ledger is always the snapshot's `COUNT(*)`.
async fn plan_ranges(conn: &mut Conn, src: &MySqlSource, spec: &ReadSpec) -> Result<(Option<u64>, Vec<Range>)> {
    let t = &spec.table;
    let opts = &src.options;
    let splittable = src.parallel() && t.primary_key.len() == 1;
    let (count, size) = if splittable && t.estimated_rows > opts.range_rows {
        (None, t.estimated_rows)
    } else {
        let n = count_rows(conn, &t.name).await?;
        (Some(n), n)
    };
    if !splittable || size <= opts.range_rows {
        return Ok((count, vec![Range::default()]));
    }
    let pieces = (size.div_ceil(opts.range_rows) as usize).clamp(2, opts.connections * 4);
    let key = ident::mysql(&t.primary_key[0]);
    let bounds = find_bounds(conn, &t.name, &key, size, pieces).await?;
    let mut ranges = Vec::with_capacity(bounds.len() + 1);
    for i in 0..=bounds.len() {
        let mut r = Range::default();
        if i > 0 {
            r.clause.push_str(&format!("{key} >= ?"));
            r.params.push(bounds[i - 1].clone());
        }
        if i < bounds.len() {
            if !r.clause.is_empty() {
                r.clause.push_str(" AND ");
            }
            r.clause.push_str(&format!("{key} < ?"));
            r.params.push(bounds[i].clone());
        }
        ranges.push(r);
    }
    Ok((count, ranges))
}

/// Splits the key space into about `pieces` ranges (`size`: the table's rows, counted or
/// estimated). Integer keys and hex-prefixed keys (UUIDs) are split by interpolating
/// between the smallest and largest key, each candidate snapped to the next existing key
/// by an index seek — no scan. Other keys fall back to `OFFSET` probes, which scan the
/// index up to each bound. The bounds come back sorted by the server (its collation
/// decides the order), without duplicates.
async fn find_bounds(conn: &mut Conn, table: &str, key: &str, size: u64, pieces: usize) -> Result<Vec<Value>> {
    let err = |e| Error::mysql(format!("finding key ranges of `{table}`"), e);
    let qt = ident::mysql(table);
    // The binary protocol: integer keys come back as integers.
    let ends: Option<(Value, Value)> =
        conn.exec_first(format!("SELECT MIN({key}), MAX({key}) FROM {qt}"), ()).await.map_err(err)?;
    let Some((min, max)) = ends else { return Ok(Vec::new()) };
    let candidates: Option<Vec<Value>> = match (&min, &max) {
        (Value::Int(a), Value::Int(b)) => Some(
            (1..pieces as i128)
                .map(|k| Value::Int((*a as i128 + (*b as i128 - *a as i128) * k / pieces as i128) as i64))
                .collect(),
        ),
        (Value::UInt(a), Value::UInt(b)) => Some(
            (1..pieces as u128)
                .map(|k| Value::UInt((*a as u128 + (*b as u128 - *a as u128) * k / pieces as u128) as u64))
                .collect(),
        ),
        (Value::Bytes(a), Value::Bytes(b)) => match (hex_prefix(a), hex_prefix(b)) {
            (Some(a), Some(b)) if b > a => Some(
                (1..pieces as u64)
                    .map(|k| Value::Bytes(format!("{:08x}", a + (b - a) * k / pieces as u64).into_bytes()))
                    .collect(),
            ),
            _ => None,
        },
        _ => None,
    };
    let mut snapped: Vec<Value> = Vec::new();
    match candidates {
        Some(c) => {
            for v in c {
                let b: Option<Value> = conn
                    .exec_first(format!("SELECT {key} FROM {qt} WHERE {key} >= ? ORDER BY {key} LIMIT 1"), (v,))
                    .await
                    .map_err(err)?;
                snapped.extend(b);
            }
        }
        None => {
            let step = size / pieces as u64;
            for k in 1..pieces as u64 {
                let b: Option<Value> = conn
                    .exec_first(format!("SELECT {key} FROM {qt} ORDER BY {key} LIMIT 1 OFFSET ?"), (k * step,))
                    .await
                    .map_err(err)?;
                snapped.extend(b);
            }
        }
    }
    if snapped.is_empty() {
        return Ok(snapped);
    }
    let marks = vec!["?"; snapped.len()].join(", ");
    let sorted: Vec<Value> = conn
        .exec(format!("SELECT DISTINCT {key} FROM {qt} WHERE {key} IN ({marks}) ORDER BY {key}"), snapped)
        .await
        .map_err(err)?;
    // The smallest key starts the first range anyway.
    Ok(sorted.into_iter().filter(|v| *v != min).collect())
}

/// The first 8 characters of a key as a number, when they are hex digits (UUIDs).
fn hex_prefix(b: &[u8]) -> Option<u64> {
    let p = b.get(..8)?;
    std::str::from_utf8(p).ok().and_then(|s| u64::from_str_radix(s, 16).ok())
}

/// The read columns that hold the primary key (indexes into `spec.plans`).
pub(super) fn key_columns(spec: &ReadSpec) -> Vec<usize> {
    spec.table.primary_key.iter().filter_map(|k| spec.plans.iter().position(|p| &p.name == k)).collect()
}

/// The query reading a table's columns (in a `WHERE` range, when not empty), in key order.
pub(super) fn select(spec: &ReadSpec, clause: &str) -> String {
    let t = &spec.table;
    let cols: Vec<String> = spec.columns.iter().map(|&i| ident::mysql(&t.columns[i].name)).collect();
    let mut sql = format!("SELECT {} FROM {}", cols.join(", "), ident::mysql(&t.name));
    if !clause.is_empty() {
        sql.push_str(" WHERE ");
        sql.push_str(clause);
    }
    if !t.primary_key.is_empty() {
        let order: Vec<String> = t.primary_key.iter().map(|k| ident::mysql(k)).collect();
        sql.push_str(&format!(" ORDER BY {}", order.join(", ")));
    }
    sql
}

pub(super) fn cell(v: Option<&Value>) -> Cell<'_> {
    match v {
        None | Some(Value::NULL) => Cell::Null,
        Some(Value::Bytes(b)) => Cell::Bytes(b),
        Some(Value::Int(i)) => Cell::Int(*i),
        Some(Value::UInt(u)) => Cell::UInt(*u),
        Some(Value::Float(f)) => Cell::Float(*f),
        Some(Value::Double(d)) => Cell::Double(*d),
        Some(&Value::Date(year, month, day, hour, minute, second, micro)) => {
            Cell::DateTime { year, month, day, hour, minute, second, micro }
        }
        Some(&Value::Time(negative, days, hours, minutes, seconds, micros)) => {
            Cell::Time { negative, days, hours, minutes, seconds, micros }
        }
    }
}

/// Reads one key range; returns rows read and zero dates nulled per column.
async fn read_range(
    conn: &mut Conn,
    src: &MySqlSource,
    spec: &ReadSpec,
    range: &Range,
    tx: &mpsc::Sender<FeedMsg>,
) -> Result<(u64, Vec<u64>)> {
    let t = &spec.table;
    let keys = key_columns(spec);
    let key_names: Vec<&str> = keys.iter().map(|&i| spec.plans[i].name.as_str()).collect();
    let sql = select(spec, &range.clause);
    let ctx = || format!("reading `{}`", t.name);
    let params = if range.params.is_empty() { Params::Empty } else { Params::Positional(range.params.clone()) };
    let mut result = conn.exec_iter(sql.as_str(), params).await.map_err(|e| Error::mysql(ctx(), e))?;
    let (batch_rows, batch_bytes) = (src.options.batch_rows, src.options.batch_bytes());
    let mut builder = BatchBuilder::new(spec.plans.clone(), batch_rows);
    let mut rows = 0u64;
    while let Some(row) = result.next().await.map_err(|e| Error::mysql(ctx(), e))? {
        push_row(&mut builder, &row, &key_names, &keys, &t.name, rows)?;
        rows += 1;
        let full = builder.rows() >= batch_rows || builder.bytes() >= batch_bytes;
        if full && tx.send(FeedMsg::Batch(builder.finish())).await.is_err() {
            return Err(Error::other("the run stopped reading"));
        }
    }
    drop(result);
    if builder.rows() > 0 && tx.send(FeedMsg::Batch(builder.finish())).await.is_err() {
        return Err(Error::other("the run stopped reading"));
    }
    Ok((rows, builder.zero_dates_nulled().to_vec()))
}

impl MySqlSource {
    /// The rows of `spec`'s table that `clause` (a `WHERE` condition over its columns)
    /// selects in the snapshot, in key order, read and decoded as the run reads them: a
    /// value the run refuses is refused here, naming its table, key and column. The
    /// batches are held in memory: for a few rows (`converge repair`, docs/architecture.md
    /// "Repair"), not a table.
    pub async fn read_where(&self, spec: &ReadSpec, clause: &str) -> Result<Vec<arrow::record_batch::RecordBatch>> {
        let mut conn = self.acquire().await;
        let r = read_where_on(&mut conn, spec, clause, self.options.batch_rows).await;
        self.release(conn).await;
        r
    }
}

async fn read_where_on(
    conn: &mut Conn,
    spec: &ReadSpec,
    clause: &str,
    batch_rows: usize,
) -> Result<Vec<arrow::record_batch::RecordBatch>> {
    let t = &spec.table;
    let keys = key_columns(spec);
    let key_names: Vec<&str> = keys.iter().map(|&i| spec.plans[i].name.as_str()).collect();
    let ctx = || format!("reading rows of `{}`", t.name);
    let sql = select(spec, clause);
    let mut result = conn.exec_iter(sql.as_str(), Params::Empty).await.map_err(|e| Error::mysql(ctx(), e))?;
    let mut builder = BatchBuilder::new(spec.plans.clone(), batch_rows);
    let (mut out, mut rows) = (Vec::new(), 0u64);
    while let Some(row) = result.next().await.map_err(|e| Error::mysql(ctx(), e))? {
        push_row(&mut builder, &row, &key_names, &keys, &t.name, rows)?;
        rows += 1;
        if builder.rows() >= batch_rows {
            out.push(builder.finish());
        }
    }
    if builder.rows() > 0 {
        out.push(builder.finish());
    }
    Ok(out)
}

fn push_row(b: &mut BatchBuilder, row: &Row, key_names: &[&str], keys: &[usize], table: &str, n: u64) -> Result<()> {
    for i in 0..row.len() {
        if let Err(e) = b.push(i, cell(row.as_ref(i))) {
            return Err(e.locate(table, row_key(row, key_names, keys, n)).into());
        }
    }
    b.end_row();
    Ok(())
}

/// Row `n` (from 0) named by its key, `col=value, …` (or its number, without a key).
pub(super) fn row_key(row: &Row, key_names: &[&str], keys: &[usize], n: u64) -> String {
    let values: Vec<String> = keys.iter().map(|&k| row.as_ref(k).map(|v| v.as_sql(true)).unwrap_or_default()).collect();
    render_key(key_names, &values, n + 1)
}
