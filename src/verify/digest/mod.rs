//! Comparing one table's content on both sides without shipping it: each side digests a
//! key range (row count + the sum of every row's 60-bit canonical hash, computed by the
//! server); equal digests mean equal content. When a table's digests differ, its key
//! range is split at the median key and only the left half is digested again (the right
//! half's digest is the parent's minus the left's), until ranges are small enough to
//! compare row by row. A single changed row in a million is found by reading a few
//! dozen rows. Columns the servers cannot make canonical (JSON) are hashed here: a table
//! with such columns is digested in one pass per side that ships each row's server hash
//! and those columns (never the rest of the row), canonicalised without a per-value
//! allocation ([`super::json`]).

mod keys;
mod pieces;
mod sql;

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio_postgres::Client;

use super::canon::{self, ClientKind, ColumnCanon};
use super::row_hash::{parse_row_hash, ClientHasher};
use crate::error::{Error, Result};
use crate::mysql::MySqlSource;

/// Ranges holding at most this many rows (on either side) are compared row by row.
pub const LEAF_ROWS: u64 = 64;

/// At most this many differing rows are located and listed per table.
pub const MAX_DIFFS: usize = 100;

/// The two open sides of a comparison, and the rows they shipped to `converge`.
pub struct Sides<'a> {
    /// The source, in its snapshot.
    pub my: &'a MySqlSource,
    /// The target.
    pub pg: &'a Client,
    /// Rows read back from either server (digests are one row; they are not counted).
    pub rows_read: AtomicU64,
}

/// One table as compared: its names on both sides and its columns.
pub struct TableCmp {
    /// The table's name.
    pub name: String,
    /// `schema.table`, quoted, on the target.
    pub pg_table: String,
    /// Every compared column.
    pub columns: Vec<ColumnCanon>,
    /// Indexes of the primary-key columns in `columns` (empty: no key).
    pub key: Vec<usize>,
}

/// How a row differs.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum RowDiff {
    /// In the source, not in the target.
    Missing {
        /// The key, `col='value'` (shortened, for people).
        key: String,
        /// The canonical key values, one per key column, whole (for `converge repair`).
        values: Vec<String>,
    },
    /// In the target, not in the source.
    Extra {
        /// The key.
        key: String,
        /// The canonical key values.
        values: Vec<String>,
    },
    /// In both, with different values in these columns.
    Changed {
        /// The key.
        key: String,
        /// The canonical key values.
        values: Vec<String>,
        /// The columns whose canonical values differ.
        columns: Vec<String>,
    },
}

impl RowDiff {
    /// The canonical key values of the row.
    pub fn values(&self) -> &[String] {
        match self {
            RowDiff::Missing { values, .. } | RowDiff::Extra { values, .. } | RowDiff::Changed { values, .. } => values,
        }
    }
}

/// What the content comparison of one table found.
#[derive(Debug, Clone, Default, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ContentResult {
    /// Exact source rows.
    pub source_rows: u64,
    /// Exact target rows.
    pub target_rows: u64,
    /// The rows compared (all, or the sample).
    pub compared: u64,
    /// No difference found.
    pub equal: bool,
    /// The differing rows located (at most [`MAX_DIFFS`]).
    pub diffs: Vec<RowDiff>,
    /// More rows differ than were listed.
    pub truncated: bool,
    /// Rows shipped from either server for this table.
    pub rows_read: u64,
    /// Why rows could not be located (a table without a primary key).
    pub note: Option<String>,
    /// The pieces the full digest was computed in, both sides together, on several
    /// sessions at once (2: each side whole; 0: no full digest).
    pub parts: usize,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Digest {
    count: u64,
    server: u128,
    client: u128,
}

impl Digest {
    fn plus(self, o: Digest) -> Digest {
        Digest {
            count: self.count.wrapping_add(o.count),
            server: self.server.wrapping_add(o.server),
            client: self.client.wrapping_add(o.client),
        }
    }

    fn minus(self, o: Digest) -> Digest {
        Digest {
            count: self.count.wrapping_sub(o.count),
            server: self.server.wrapping_sub(o.server),
            client: self.client.wrapping_sub(o.client),
        }
    }
}

/// A half-open key range `[lo, hi)` in canonical key values; `None` is unbounded.
#[derive(Debug, Clone, Default)]
struct Range {
    lo: Option<Vec<String>>,
    hi: Option<Vec<String>>,
}

/// One piece of a table on one side, and its digest once computed. A side's pieces
/// cover the table without overlap, so their digests add up to the table's digest on
/// that side; the two sides may cut the table differently.
#[derive(Debug, Clone)]
pub struct Part {
    side: Side,
    /// The rows of the piece, as a WHERE condition of that side.
    filter: String,
    digest: Digest,
}

impl Part {
    fn new(side: Side, filter: String) -> Part {
        Part { side, filter, digest: Digest::default() }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    My,
    Pg,
}

type Row = Vec<Option<String>>;

impl Sides<'_> {
    /// Runs `sql` on one side and hands each row to `each`, its values lent (text,
    /// NULL as `None`): digests read millions of rows and keep none of them.
    async fn rows(&self, side: Side, sql: &str, mut each: impl FnMut(&[Option<Cow<'_, str>>]) + Send) -> Result<u64> {
        let started = std::time::Instant::now();
        let n = match side {
            Side::My => self.my.query_each_ref(sql, &mut each).await?,
            Side::Pg => {
                use futures::StreamExt;
                let stream = self
                    .pg
                    .query_raw(sql, std::iter::empty::<i32>())
                    .await
                    .map_err(|e| Error::postgres("verifying", &e))?;
                futures::pin_mut!(stream);
                let mut n = 0u64;
                while let Some(row) = stream.next().await {
                    let row = row.map_err(|e| Error::postgres("verifying", &e))?;
                    n += 1;
                    let values: Vec<_> =
                        (0..row.len()).map(|i| row.get::<_, Option<&str>>(i).map(Cow::Borrowed)).collect();
                    each(&values);
                }
                n
            }
        };
        let side = match side {
            Side::My => "source",
            Side::Pg => "target",
        };
        tracing::debug!(side, rows = n, seconds = started.elapsed().as_secs_f64(), sql, "verify query");
        Ok(n)
    }

    async fn collect(&self, side: Side, sql: &str, counted: bool) -> Result<Vec<Row>> {
        let mut out = Vec::new();
        let n =
            self.rows(side, sql, |r| out.push(r.iter().map(|v| v.as_ref().map(|v| v.to_string())).collect())).await?;
        if counted {
            self.rows_read.fetch_add(n, Ordering::Relaxed);
        }
        Ok(out)
    }

    async fn digest(&self, t: &TableCmp, side: Side, r: &Range) -> Result<Digest> {
        self.digest_where(t, side, &t.predicate(side, r)).await
    }

    async fn digest_where(&self, t: &TableCmp, side: Side, pred: &str) -> Result<Digest> {
        if !t.client_cols().is_empty() {
            return self.digest_shipped(t, side, pred).await;
        }
        let sql = match side {
            Side::My => format!(
                "SELECT CAST(COUNT(*) AS CHAR), CAST(COALESCE(SUM({}), 0) AS CHAR) FROM {} WHERE {pred}",
                t.row_hash(side),
                t.from(side)
            ),
            Side::Pg => format!(
                "SELECT count(*)::text, coalesce(sum({}), 0)::text FROM {} WHERE {pred}",
                t.row_hash(side),
                t.from(side)
            ),
        };
        let row = self.collect(side, &sql, false).await?.pop().unwrap_or_default();
        let num = |i: usize| -> Result<u128> {
            row.get(i)
                .cloned()
                .flatten()
                .unwrap_or_default()
                .parse::<u128>()
                .map_err(|e| Error::other(format!("verify: unexpected digest from `{}`: {e}", t.name)))
        };
        Ok(Digest { count: num(0)? as u64, server: num(1)?, client: 0 })
    }

    /// The digest of a table with client-side columns (JSON), in one pass: each row's
    /// server-side hash and its client columns are shipped, and summed here — the
    /// client hash bound to its row by the server hash, which covers the key.
    async fn digest_shipped(&self, t: &TableCmp, side: Side, pred: &str) -> Result<Digest> {
        let clients = t.client_cols();
        let mut cols = vec![t.row_hash_hex(side)];
        cols.extend(clients.iter().map(|c| TableCmp::expr(side, c).to_string()));
        let sql = format!("SELECT {} FROM {} WHERE {pred}", cols.join(", "), t.from(side));
        let kinds: Vec<ClientKind> = clients.iter().map(|c| c.client.expect("client column")).collect();
        let (mut d, mut bad) = (Digest::default(), None);
        let mut hasher = ClientHasher::default();
        let n = self
            .rows(side, &sql, |row| match row[0].as_deref().and_then(parse_row_hash) {
                Some(server) => {
                    d.server = d.server.wrapping_add(server as u128);
                    d.client = d.client.wrapping_add(hasher.row(&row[..1], &row[1..], &kinds) as u128);
                }
                _ => bad = Some(row[0].as_ref().map(|v| v.to_string())),
            })
            .await?;
        if let Some(v) = bad {
            return Err(Error::other(format!("verify: unexpected row hash from `{}`: {v:?}", t.name)));
        }
        self.rows_read.fetch_add(n, Ordering::Relaxed);
        d.count = n;
        Ok(d)
    }

    async fn both(&self, t: &TableCmp, r: &Range) -> Result<(Digest, Digest)> {
        tokio::try_join!(self.digest(t, Side::My, r), self.digest(t, Side::Pg, r))
    }

    /// The key at the middle of the range on `side` (None if it holds fewer than 2 rows).
    async fn median(&self, t: &TableCmp, side: Side, r: &Range, count: u64) -> Result<Option<Vec<String>>> {
        if count < 2 {
            return Ok(None);
        }
        let sql = format!(
            "SELECT {} FROM {} WHERE {} ORDER BY {} LIMIT 1 OFFSET {}",
            t.key_select(side).join(", "),
            t.from(side),
            t.predicate(side, r),
            t.order_parts(side).join(", "),
            count / 2
        );
        Ok(self.collect(side, &sql, true).await?.pop().map(|r| r.into_iter().map(Option::unwrap_or_default).collect()))
    }

    /// Every row of a range (or of a key list) on one side: key → (server hash, client hash).
    async fn row_hashes(&self, t: &TableCmp, side: Side, filter: &str) -> Result<BTreeMap<Vec<String>, (u64, u64)>> {
        let mut cols = t.key_select(side);
        cols.push(t.row_hash_hex(side));
        let clients = t.client_cols();
        cols.extend(clients.iter().map(|c| TableCmp::expr(side, c).to_string()));
        let sql = format!("SELECT {} FROM {} WHERE {filter}", cols.join(", "), t.from(side));
        let nk = t.key.len();
        let kinds: Vec<ClientKind> = clients.iter().map(|c| c.client.expect("client column")).collect();
        let mut out = BTreeMap::new();
        let mut hasher = ClientHasher::default();
        let n = self
            .rows(side, &sql, |row| {
                let key: Vec<String> = row[..nk].iter().map(|v| v.as_deref().unwrap_or_default().to_string()).collect();
                let server = row[nk].as_deref().and_then(parse_row_hash).unwrap_or(u64::MAX);
                let client = if kinds.is_empty() { 0 } else { hasher.row(&row[..nk], &row[nk + 1..], &kinds) };
                out.insert(key, (server, client));
            })
            .await?;
        self.rows_read.fetch_add(n, Ordering::Relaxed);
        Ok(out)
    }

    /// Compares the rows matching a filter on both sides; returns the differing keys.
    async fn compare_rows(&self, t: &TableCmp, my_filter: &str, pg_filter: &str) -> Result<Vec<(Vec<String>, Kind)>> {
        Ok(self.compare_rows_counted(t, my_filter, pg_filter).await?.0)
    }

    /// As [`Sides::compare_rows`], with the rows each side matched (source, target).
    async fn compare_rows_counted(
        &self,
        t: &TableCmp,
        my_filter: &str,
        pg_filter: &str,
    ) -> Result<(Vec<(Vec<String>, Kind)>, u64, u64)> {
        let (m, g) =
            tokio::try_join!(self.row_hashes(t, Side::My, my_filter), self.row_hashes(t, Side::Pg, pg_filter))?;
        let mut out = Vec::new();
        for (k, hm) in &m {
            match g.get(k) {
                None => out.push((k.clone(), Kind::Missing)),
                Some(hg) if hg != hm => out.push((k.clone(), Kind::Changed)),
                _ => {}
            }
        }
        for k in g.keys().filter(|k| !m.contains_key(*k)) {
            out.push((k.clone(), Kind::Extra));
        }
        Ok((out, m.len() as u64, g.len() as u64))
    }

    /// Names the columns that differ for changed rows (ships those few rows).
    async fn changed_columns(&self, t: &TableCmp, keys: &[Vec<String>]) -> Result<BTreeMap<Vec<String>, Vec<String>>> {
        let mut out = BTreeMap::new();
        if keys.is_empty() {
            return Ok(out);
        }
        let fetch = |side: Side| {
            let mut cols = t.key_select(side);
            cols.extend(t.columns.iter().map(|c| TableCmp::expr(side, c).to_string()));
            format!("SELECT {} FROM {} WHERE {}", cols.join(", "), t.from(side), t.in_keys(side, keys))
        };
        let (my_sql, pg_sql) = (fetch(Side::My), fetch(Side::Pg));
        let (m, g) = tokio::try_join!(self.collect(Side::My, &my_sql, true), self.collect(Side::Pg, &pg_sql, true))?;
        let nk = t.key.len();
        let canonical = |row: &Row| -> (Vec<String>, Vec<Option<String>>) {
            let key = row[..nk].iter().map(|v| v.clone().unwrap_or_default()).collect();
            let vals = row[nk..]
                .iter()
                .zip(&t.columns)
                .map(|(v, c)| match c.client {
                    Some(k) => v.as_deref().map(|v| canon::client_value(k, v)),
                    None => v.clone(),
                })
                .collect();
            (key, vals)
        };
        let g: BTreeMap<_, _> = g.iter().map(canonical).collect();
        for row in &m {
            let (k, vm) = canonical(row);
            if let Some(vg) = g.get(&k) {
                let cols =
                    t.columns.iter().zip(vm.iter().zip(vg)).filter(|(_, (a, b))| a != b).map(|(c, _)| c.name.clone());
                out.insert(k, cols.collect());
            }
        }
        Ok(out)
    }

    /// The whole table's digest on both sides: source rows, target rows, and whether
    /// the contents are equal (nothing is bisected).
    pub async fn digest_whole(&self, t: &TableCmp) -> Result<(u64, u64, bool)> {
        let (dm, dg) = self.both(t, &Range::default()).await?;
        Ok((dm.count, dg.count, dm == dg))
    }

    /// Digests one piece on its side.
    pub async fn digest_part(&self, t: &TableCmp, part: Part) -> Result<Part> {
        let digest = self.digest_where(t, part.side, &part.filter).await?;
        Ok(Part { digest, ..part })
    }

    /// The comparison of a table from its digested pieces: equal, or the differing rows
    /// located by bisecting its key range.
    pub async fn locate(&self, t: &TableCmp, parts: Vec<Part>) -> Result<ContentResult> {
        let before = self.rows_read.load(Ordering::Relaxed);
        let sum = |side| parts.iter().filter(|p| p.side == side).fold(Digest::default(), |a, p| a.plus(p.digest));
        let (dm, dg) = (sum(Side::My), sum(Side::Pg));
        let mut res = ContentResult {
            source_rows: dm.count,
            target_rows: dg.count,
            compared: dm.count.max(dg.count),
            equal: dm == dg,
            parts: parts.len(),
            ..Default::default()
        };
        if res.equal {
            return Ok(res);
        }
        if t.key.is_empty() {
            res.note = Some("the table has no primary key: the differing rows cannot be located".into());
            return Ok(res);
        }
        let mut found: Vec<(Vec<String>, Kind)> = Vec::new();
        let mut stack = vec![(Range::default(), dm, dg)];
        while let Some((r, dm, dg)) = stack.pop() {
            if found.len() >= MAX_DIFFS {
                res.truncated = true;
                break;
            }
            let n = dm.count.max(dg.count);
            let mid = if n <= LEAF_ROWS {
                None
            } else if dg.count >= dm.count {
                self.median(t, Side::Pg, &r, dg.count).await?
            } else {
                self.median(t, Side::My, &r, dm.count).await?
            };
            let Some(mid) = mid else {
                found.extend(self.compare_rows(t, &t.predicate(Side::My, &r), &t.predicate(Side::Pg, &r)).await?);
                continue;
            };
            let left = Range { lo: r.lo.clone(), hi: Some(mid.clone()) };
            let right = Range { lo: Some(mid), hi: r.hi.clone() };
            let (lm, lg) = self.both(t, &left).await?;
            let (rm, rg) = (dm.minus(lm), dg.minus(lg));
            // Depth first, right pushed first: differences come out in key order.
            if rm != rg {
                stack.push((right, rm, rg));
            }
            if lm != lg {
                stack.push((left, lm, lg));
            }
        }
        res.truncated |= found.len() > MAX_DIFFS;
        found.truncate(MAX_DIFFS);
        res.diffs = self.describe(t, found).await?;
        res.rows_read = self.rows_read.load(Ordering::Relaxed) - before;
        Ok(res)
    }

    /// Compares `n` rows picked at random from the target, plus exact counts.
    pub async fn compare_sample(&self, t: &TableCmp, n: u64) -> Result<ContentResult> {
        let before = self.rows_read.load(Ordering::Relaxed);
        let count = |side: Side| {
            let sql = match side {
                Side::My => format!("SELECT CAST(COUNT(*) AS CHAR) FROM {}", t.from(side)),
                Side::Pg => format!("SELECT count(*)::text FROM {}", t.from(side)),
            };
            async move {
                let r = self.collect(side, &sql, false).await?;
                Ok::<u64, Error>(r.first().and_then(|r| r[0].as_deref()).and_then(|v| v.parse().ok()).unwrap_or(0))
            }
        };
        let (sm, sg) = tokio::try_join!(count(Side::My), count(Side::Pg))?;
        let mut res = ContentResult { source_rows: sm, target_rows: sg, ..Default::default() };
        if t.key.is_empty() {
            res.note = Some("the table has no primary key: rows cannot be sampled by key".into());
            res.equal = sm == sg;
            return Ok(res);
        }
        let sql =
            format!("SELECT {} FROM {} ORDER BY random() LIMIT {n}", t.key_select(Side::Pg).join(", "), t.pg_table);
        let keys: Vec<Vec<String>> = self
            .collect(Side::Pg, &sql, true)
            .await?
            .into_iter()
            .map(|r| r.into_iter().map(Option::unwrap_or_default).collect())
            .collect();
        res.compared = keys.len() as u64;
        let mut found = Vec::new();
        for chunk in keys.chunks(500) {
            found.extend(self.compare_rows(t, &t.in_keys(Side::My, chunk), &t.in_keys(Side::Pg, chunk)).await?);
        }
        // A sampled target row the source lacks is an extra row.
        res.truncated = found.len() > MAX_DIFFS;
        found.truncate(MAX_DIFFS);
        res.diffs = self.describe(t, found).await?;
        res.equal = res.diffs.is_empty() && sm == sg;
        res.rows_read = self.rows_read.load(Ordering::Relaxed) - before;
        Ok(res)
    }

    async fn describe(&self, t: &TableCmp, found: Vec<(Vec<String>, Kind)>) -> Result<Vec<RowDiff>> {
        let changed: Vec<Vec<String>> =
            found.iter().filter(|(_, k)| *k == Kind::Changed).map(|(k, _)| k.clone()).collect();
        let columns = self.changed_columns(t, &changed).await?;
        Ok(found
            .into_iter()
            .map(|(k, kind)| {
                let key = t.show_key(&k);
                match kind {
                    Kind::Missing => RowDiff::Missing { key, values: k },
                    Kind::Extra => RowDiff::Extra { key, values: k },
                    Kind::Changed => {
                        let columns = columns.get(&k).cloned().unwrap_or_default();
                        RowDiff::Changed { key, values: k, columns }
                    }
                }
            })
            .collect())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Missing,
    Extra,
    Changed,
}
