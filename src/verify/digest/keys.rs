//! Comparing a given set of keys on both sides, row by row: what `converge repair`
//! re-checks before it commits (docs/architecture.md, "Verification", "Repair").

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;

use super::{ContentResult, Side, Sides, TableCmp, MAX_DIFFS};
use crate::error::{Error, Result};

/// Keys compared per query pair.
const KEYS_PER_QUERY: usize = 500;

impl Sides<'_> {
    /// Compares exactly the rows of `keys` (canonical key values, one per key column) on
    /// both sides: `source_rows` and `target_rows` count the rows of those keys each side
    /// holds, `compared` the distinct keys, and every key whose rows differ is listed
    /// (at most [`MAX_DIFFS`]; `truncated` past them).
    pub async fn compare_keys(&self, t: &TableCmp, keys: &[Vec<String>]) -> Result<ContentResult> {
        if t.key.is_empty() {
            return Err(Error::other(format!("`{}` has no key to compare rows by", t.name)));
        }
        if let Some(k) = keys.iter().find(|k| k.len() != t.key.len()) {
            return Err(Error::other(format!(
                "`{}`: a key of {} values for a key of {} columns ({k:?})",
                t.name,
                k.len(),
                t.key.len()
            )));
        }
        let before = self.rows_read.load(Ordering::Relaxed);
        let keys: Vec<Vec<String>> = keys.iter().cloned().collect::<BTreeSet<_>>().into_iter().collect();
        let mut res = ContentResult { compared: keys.len() as u64, ..Default::default() };
        let mut found = Vec::new();
        for chunk in keys.chunks(KEYS_PER_QUERY) {
            let (my, pg) = (t.in_keys(Side::My, chunk), t.in_keys(Side::Pg, chunk));
            let (f, m, g) = self.compare_rows_counted(t, &my, &pg).await?;
            found.extend(f);
            res.source_rows += m;
            res.target_rows += g;
        }
        res.truncated = found.len() > MAX_DIFFS;
        found.truncate(MAX_DIFFS);
        res.diffs = self.describe(t, found).await?;
        res.equal = res.diffs.is_empty();
        res.rows_read = self.rows_read.load(Ordering::Relaxed) - before;
        Ok(res)
    }
}
