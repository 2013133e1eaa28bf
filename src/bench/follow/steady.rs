//! The follow stages' steady writer (docs/architecture.md, "Benchmarks"): the
//! workload's transactions (`bench/backlog.rs`) committed one statement at a time at a
//! steady rate of row changes per second, each commit noted. The lag writes a fixed
//! number of changes; the cut-over writes until it is told to stop.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use mysql_async::prelude::*;

use super::super::backlog::{Kind, Workload};
use super::MAX_TXN_ROWS;
use crate::error::{Error, Result};

/// What the writer committed.
#[derive(Debug, Default)]
pub(super) struct Written {
    /// After each commit: seconds since the writer's start, row changes so far.
    pub commits: Vec<(f64, u64)>,
    /// Source transactions committed.
    pub transactions: u64,
    /// Rows updated, inserted, deleted.
    pub updates: u64,
    pub inserts: u64,
    pub deletes: u64,
    /// Seconds from the start to the last commit (or the stop).
    pub seconds: f64,
}

impl Written {
    /// Row changes committed.
    pub fn changes(&self) -> u64 {
        self.commits.last().map_or(0, |c| c.1)
    }

    /// Row changes committed between `from` and `to` (seconds since the writer's start).
    pub fn changes_between(&self, from: f64, to: f64) -> u64 {
        let upto = |t: f64| self.commits.iter().take_while(|c| c.0 <= t).last().map_or(0, |c| c.1);
        upto(to).saturating_sub(upto(from))
    }
}

/// Commits the workload's transactions (1 to [`MAX_TXN_ROWS`] rows each) at `rate` row
/// changes per second from `t0`, until `changes` are committed or `stop` is set (seen
/// before each transaction: the last one started is committed).
pub(super) async fn write(
    conn: &mut mysql_async::Conn,
    w: &mut Workload,
    rate: f64,
    changes: u64,
    t0: Instant,
    stop: &AtomicBool,
) -> Result<Written> {
    let mut out = Written::default();
    let mut written = 0u64;
    while written < changes {
        tokio::time::sleep_until((t0 + Duration::from_secs_f64(written as f64 / rate)).into()).await;
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let t = w.next(MAX_TXN_ROWS, changes - written);
        conn.query_drop(w.sql(&t, w.made)).await.map_err(|e| Error::mysql("writing the steady workload", e))?;
        let n = t.keys.len() as u64;
        match t.kind {
            Kind::Update => out.updates += n,
            Kind::Insert => out.inserts += n,
            Kind::Delete => out.deletes += n,
        }
        written += n;
        out.transactions += 1;
        out.commits.push((t0.elapsed().as_secs_f64(), written));
    }
    out.seconds = t0.elapsed().as_secs_f64();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_between_two_moments_count_the_commits_in_between() {
        let w = Written { commits: vec![(0.5, 10), (1.5, 30), (2.5, 35)], ..Written::default() };
        assert_eq!(w.changes(), 35);
        assert_eq!(w.changes_between(1.0, 2.0), 20);
        assert_eq!(w.changes_between(0.0, 3.0), 35);
        assert_eq!(w.changes_between(2.6, 9.0), 0);
        assert_eq!(Written::default().changes(), 0);
    }
}
