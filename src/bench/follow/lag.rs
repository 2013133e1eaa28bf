//! The follow stage's lag: a follower runs while a writer commits a steady 1,000 row
//! changes/s; every 0.5 s the target's `converge.follow_state` is read. The lag at a
//! sample is the age of the oldest change not yet applied: the count the target holds
//! says how many of the writer's changes are applied, and the writer noted when each of
//! its transactions committed. The follower's own figure (`stats.maxLagSeconds`, read
//! after SIGINT) and `applied_at − source_commit_at` (the source's commit time is in
//! whole seconds) are reported beside it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::super::backlog::Workload;
use super::super::measure::Measured;
use super::follower::{self, Follower};
use super::{stat, steady, Stage};
use crate::error::{Error, Result};
use crate::pg::connect::connect;

/// Row changes per second the writer commits.
pub const RATE: f64 = 1_000.0;
/// Seconds it writes.
pub const SECONDS: f64 = 30.0;
/// Between two reads of `converge.follow_state`.
const SAMPLE_EVERY: Duration = Duration::from_millis(500);

/// The lag of a running follower under steady writes.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Lag {
    /// Row changes per second asked of the writer.
    pub rate: f64,
    /// Seconds the writer wrote, row changes and transactions it committed.
    pub write_seconds: f64,
    pub written: u64,
    pub transactions: u64,
    /// Reads of `converge.follow_state` while writing and catching up.
    pub samples: usize,
    /// The age of the oldest unapplied change at each sample: largest, 95th percentile.
    pub max_seconds: f64,
    pub p95_seconds: f64,
    /// `applied_at − source_commit_at` at each sample that saw a new apply commit.
    pub state_max_seconds: f64,
    pub state_p95_seconds: f64,
    /// The follower's own largest lag (`stats.maxLagSeconds`, by receipt time).
    pub follower_max_lag_seconds: f64,
    /// Row changes the follower applied (`stats.changes`).
    pub changes: u64,
    /// The follower process, from its start to its exit on SIGINT.
    pub follower: Measured,
    /// `converge verify` passed after it.
    pub verified: Option<bool>,
    pub verify_error: Option<String>,
    /// Why the follower or the writer failed (then nothing else of it is measured).
    pub error: Option<String>,
}

/// What the writer and the sampler saw, in seconds since the writer started.
struct Seen {
    written: steady::Written,
    /// Each read: when, changes applied since the writer started, applied_at − source_commit_at.
    samples: Vec<(f64, u64, Option<f64>)>,
}

/// Runs the follower beside the writer; stops it with SIGINT; verifies.
pub(super) async fn measure(s: &Stage<'_>, conn: &mut mysql_async::Conn, w: &mut Workload) -> Result<Lag> {
    let follower = Follower::start(s, "follow-lag.json", "converge follow (lag)")?;
    let seen = write_and_sample(s, conn, w, &follower).await;
    let (follower, report) = follower.stop(Duration::ZERO).await?;
    let seen = seen?;
    let lags = count_lags(&seen.written.commits, &seen.samples);
    let state: Vec<f64> = fresh_state_lags(&seen.samples);
    let (verified, verify_error) = s.verify().await;
    Ok(Lag {
        rate: RATE,
        write_seconds: seen.written.seconds,
        written: seen.written.changes(),
        transactions: seen.written.transactions,
        samples: seen.samples.len(),
        max_seconds: lags.iter().copied().fold(0.0, f64::max),
        p95_seconds: percentile(&lags, 0.95),
        state_max_seconds: state.iter().copied().fold(0.0, f64::max),
        state_p95_seconds: percentile(&state, 0.95),
        follower_max_lag_seconds: stat(&report, "maxLagSeconds"),
        changes: stat(&report, "changes") as u64,
        follower,
        verified: Some(verified),
        verify_error,
        error: None,
    })
}

/// Waits for the follower to apply a first change, then writes at [`RATE`] for
/// [`SECONDS`] while sampling, then waits for it to catch up.
async fn write_and_sample(s: &Stage<'_>, conn: &mut mysql_async::Conn, w: &mut Workload, f: &Follower) -> Result<Seen> {
    let pg = connect(&s.pg_url).await?;
    let base = follower::ready(&pg, conn, w, f).await?;
    let stop = Arc::new(AtomicBool::new(false));
    let t0 = Instant::now();
    let sampler = tokio::spawn(sample(s.pg_url.clone(), base, t0, stop.clone()));
    let written = steady::write(conn, w, RATE, (RATE * SECONDS) as u64, t0, &AtomicBool::new(false)).await;
    let caught_up = match &written {
        Ok(wr) => follower::wait_applied(&pg, base + wr.changes(), f).await,
        Err(_) => Ok(()),
    };
    tokio::time::sleep(SAMPLE_EVERY * 2).await;
    stop.store(true, Ordering::Relaxed);
    let samples = sampler.await.map_err(|e| Error::other(format!("the lag sampler failed: {e}")))??;
    caught_up?;
    Ok(Seen { written: written?, samples })
}

/// Reads the target's follow state every [`SAMPLE_EVERY`] until stopped.
async fn sample(pg_url: String, base: u64, t0: Instant, stop: Arc<AtomicBool>) -> Result<Vec<(f64, u64, Option<f64>)>> {
    let pg = connect(&pg_url).await?;
    let q = "SELECT changes_applied::bigint, EXTRACT(EPOCH FROM (applied_at - source_commit_at))::float8
               FROM converge.follow_state WHERE pipeline = 'bench-follow'";
    let mut out = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let row = pg.query_one(q, &[]).await.map_err(|e| Error::postgres("sampling converge.follow_state", &e))?;
        let at = t0.elapsed().as_secs_f64();
        out.push((at, (row.get::<_, i64>(0) as u64).saturating_sub(base), row.get::<_, Option<f64>>(1)));
        tokio::time::sleep(SAMPLE_EVERY).await;
    }
    Ok(out)
}

/// At each sample, the age of the oldest change committed and not yet applied (0 when
/// everything committed is applied). `commits`: (when, changes so far), in order.
fn count_lags(commits: &[(f64, u64)], samples: &[(f64, u64, Option<f64>)]) -> Vec<f64> {
    samples
        .iter()
        .map(|&(at, applied, _)| {
            let oldest = commits.partition_point(|c| c.1 <= applied);
            match commits.get(oldest) {
                Some(&(committed, _)) if committed < at => at - committed,
                _ => 0.0,
            }
        })
        .collect()
}

/// `applied_at − source_commit_at` at the samples that saw the count move.
fn fresh_state_lags(samples: &[(f64, u64, Option<f64>)]) -> Vec<f64> {
    samples.windows(2).filter(|w| w[1].1 != w[0].1).filter_map(|w| w[1].2).collect()
}

/// The `p` quantile (nearest rank) of `values`; 0 for none.
fn percentile(values: &[f64], p: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let rank = ((p * v.len() as f64).ceil() as usize).clamp(1, v.len());
    v[rank - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lag_at_a_sample_is_the_age_of_the_oldest_change_not_yet_applied() {
        // Commits at 1 s (10 changes), 2 s (20), 3 s (30).
        let commits = [(1.0, 10), (2.0, 20), (3.0, 30)];
        let samples = [(0.5, 0, None), (2.5, 10, None), (3.5, 30, Some(0.7)), (3.5, 5, None), (1.5, 0, None)];
        let lags = count_lags(&commits, &samples);
        // Nothing committed yet; the second commit waits since 2 s; all applied; the
        // first commit half applied (its changes are not all in); the first waits.
        assert_eq!(lags, [0.0, 0.5, 0.0, 2.5, 0.5]);
        assert_eq!(fresh_state_lags(&samples), [0.7]);
    }

    #[test]
    fn the_95th_percentile_is_the_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 0.95), 95.0);
        assert_eq!(percentile(&[3.0, 1.0], 0.95), 3.0);
        assert_eq!(percentile(&[], 0.95), 0.0);
    }
}
