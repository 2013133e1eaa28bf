//! How a table is cut for its full digest: each side into pieces read in the order its
//! server stores rows (see `docs/architecture.md`, "Verification").

use super::{Part, Range, Side, Sides, TableCmp};
use crate::error::{Error, Result};

impl Sides<'_> {
    /// The pieces a table's full digest is computed in, about `pieces` per side, each
    /// read in the order its server stores the rows. MySQL's are key ranges of equal
    /// width between the smallest and largest key (InnoDB stores rows in key order), when
    /// the key is one integer, or a UUID MySQL seeks by index; PostgreSQL's are ranges of
    /// heap pages (TID range scans, PostgreSQL 14+), since its rows are not in key order
    /// and a key range would visit every page. Else a side is one piece. Two index seeks
    /// per side; no row is shipped.
    pub async fn split(&self, t: &TableCmp, pieces: usize) -> Result<Vec<Part>> {
        let mut parts = self.key_pieces(t, pieces).await?;
        parts.extend(self.page_pieces(t, pieces).await?);
        Ok(parts)
    }

    /// MySQL's pieces: key ranges, bounded by values that need not be keys.
    async fn key_pieces(&self, t: &TableCmp, pieces: usize) -> Result<Vec<Part>> {
        let whole = vec![Part::new(Side::My, "TRUE".into())];
        let [k] = t.key[..] else { return Ok(whole) };
        let c = &t.columns[k];
        if pieces < 2 || !(c.numeric || (c.index_order && c.pg_uuid)) {
            return Ok(whole);
        }
        let col = crate::ident::mysql(&c.name);
        let end = |dir: &str| format!("(SELECT {} FROM {} ORDER BY {col} {dir} LIMIT 1)", c.mysql, t.from(Side::My));
        let sql = format!("SELECT {}, {}", end("ASC"), end("DESC"));
        let ends = self.collect(Side::My, &sql, false).await?.pop().unwrap_or_default();
        let (Some(Some(lo)), Some(Some(hi))) = (ends.first(), ends.get(1)) else { return Ok(whole) };
        let bounds: Vec<String> = if c.pg_uuid {
            let prefix = |u: &str| u.get(..8).and_then(|p| u64::from_str_radix(p, 16).ok());
            let (Some(a), Some(b)) = (prefix(lo), prefix(hi)) else { return Ok(whole) };
            let cuts = (1..pieces as u64).map(|i| a + (b.saturating_sub(a)) * i / pieces as u64);
            cuts.map(|p| format!("{p:08x}-0000-0000-0000-000000000000")).collect()
        } else {
            let (Ok(a), Ok(b)) = (lo.parse::<i128>(), hi.parse::<i128>()) else { return Ok(whole) };
            (1..pieces as i128).map(|i| (a + (b - a) * i / pieces as i128).to_string()).collect()
        };
        let mut bounds: Vec<Option<Vec<String>>> = bounds.into_iter().map(|b| Some(vec![b])).collect();
        bounds.dedup();
        let mut parts = Vec::with_capacity(bounds.len() + 1);
        let mut lo = None;
        for hi in bounds.into_iter().chain([None]) {
            let range = Range { lo: lo.take(), hi: hi.clone() };
            parts.push(Part::new(Side::My, t.predicate(Side::My, &range)));
            lo = hi;
        }
        Ok(parts)
    }

    /// PostgreSQL's pieces: ranges of heap pages; the last one open-ended.
    async fn page_pieces(&self, t: &TableCmp, pieces: usize) -> Result<Vec<Part>> {
        let whole = vec![Part::new(Side::Pg, "TRUE".into())];
        let sql = format!(
            "SELECT current_setting('server_version_num')::int >= 140000, \
             (pg_relation_size('{}') / current_setting('block_size')::bigint)::text",
            t.pg_table.replace('\'', "''")
        );
        let q = |e: tokio_postgres::Error| Error::postgres("verifying", &e);
        let row = self.pg.query_one(&sql, &[]).await.map_err(q)?;
        let (tid_ranges, pages): (bool, String) = (row.get(0), row.get(1));
        let pages: u64 = pages.parse().unwrap_or(0);
        if pieces < 2 || !tid_ranges || pages < pieces as u64 {
            return Ok(whole);
        }
        let cut = |i: u64| format!("'({},0)'::tid", pages * i / pieces as u64);
        Ok((0..pieces as u64)
            .map(|i| {
                let mut f = Vec::new();
                if i > 0 {
                    f.push(format!("ctid >= {}", cut(i)));
                }
                if i + 1 < pieces as u64 {
                    f.push(format!("ctid < {}", cut(i + 1)));
                }
                Part::new(Side::Pg, f.join(" AND "))
            })
            .collect())
    }
}
