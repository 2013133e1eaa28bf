//! The follow stage's lag: a follower runs while a writer commits a steady 1,000 row
//! changes/s; every 0.5 s the target's `converge.follow_state` is read. The lag at a
//! sample is the age of the oldest change not yet applied: the count the target holds
//! says how many of the writer's changes are applied, and the writer noted when each of
//! its transactions committed. The follower's own figure (`stats.maxLagSeconds`, read
//! after SIGINT) and `applied_at − source_commit_at` (the source's commit time is in
//! whole seconds) are reported beside it.

use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mysql_async::prelude::*;
use serde::Serialize;

use super::super::backlog::Workload;
use super::super::measure::{self, Measured};
use super::{read_report, stat, Stage, MAX_TXN_ROWS};
use crate::error::{Error, Result};
use crate::pg::connect::connect;

/// Row changes per second the writer commits.
pub const RATE: f64 = 1_000.0;
/// Seconds it writes.
pub const SECONDS: f64 = 30.0;
/// Between two reads of `converge.follow_state`.
const SAMPLE_EVERY: Duration = Duration::from_millis(500);
/// The longest wait for the follower to apply what was written.
const CATCH_UP_WAIT: Duration = Duration::from_secs(300);

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
#[derive(Default)]
struct Seen {
    /// After each commit: when, and row changes committed so far.
    commits: Vec<(f64, u64)>,
    /// Each read: when, changes applied since the writer started, applied_at − source_commit_at.
    samples: Vec<(f64, u64, Option<f64>)>,
    write_seconds: f64,
    transactions: u64,
}

/// Runs the follower beside the writer; stops it with SIGINT; verifies.
pub(super) async fn measure(s: &Stage<'_>, conn: &mut mysql_async::Conn, w: &mut Workload) -> Result<Lag> {
    let out = s.dir.join("follow-lag.json");
    let file = std::fs::File::create(&out).map_err(|e| Error::io(&out, e))?;
    let mut cmd = s.converge(&["--json", "follow", &s.path()])?;
    cmd.stdout(Stdio::from(file)).stderr(Stdio::piped());
    let started = Instant::now();
    let child = cmd.spawn().map_err(|e| Error::other(format!("cannot start the follower: {e}")))?;
    let pid = child.id() as libc::pid_t;
    let waiter = tokio::task::spawn_blocking(move || measure::wait(child, started, "converge follow (lag)"));
    let seen = steady(s, conn, w, &waiter).await;
    if !waiter.is_finished() {
        // SAFETY: signalling our own child, not yet reaped (the waiter has not returned).
        unsafe { libc::kill(pid, libc::SIGINT) };
    }
    let follower = waiter.await.map_err(|e| Error::other(format!("the follower's thread failed: {e}")))??;
    let seen = seen?;
    let report = read_report(&out)?;
    let lags = count_lags(&seen.commits, &seen.samples);
    let state: Vec<f64> = fresh_state_lags(&seen.samples);
    let (verified, verify_error) = s.verify().await;
    Ok(Lag {
        rate: RATE,
        write_seconds: seen.write_seconds,
        written: seen.commits.last().map_or(0, |c| c.1),
        transactions: seen.transactions,
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
async fn steady(
    s: &Stage<'_>,
    conn: &mut mysql_async::Conn,
    w: &mut Workload,
    follower: &tokio::task::JoinHandle<Result<Measured>>,
) -> Result<Seen> {
    let pg = connect(&s.pg_url).await?;
    let write_err = |e| Error::mysql("writing the steady workload", e);
    // The follower is ready once it has applied one change (its start is not lag).
    let before = applied(&pg).await?;
    let marker = w.plan(1, 1);
    conn.query_drop(w.sql(&marker[0], w.made)).await.map_err(write_err)?;
    wait_applied(&pg, before + 1, follower).await?;
    let base = before + 1;
    let stop = Arc::new(AtomicBool::new(false));
    let t0 = Instant::now();
    let sampler = tokio::spawn(sample(s.pg_url.clone(), base, t0, stop.clone()));
    let txns = w.plan((RATE * SECONDS) as u64, MAX_TXN_ROWS);
    let first = w.made - txns.len() as u64;
    let mut seen = Seen { transactions: txns.len() as u64, ..Seen::default() };
    let mut written = 0u64;
    for (i, t) in txns.iter().enumerate() {
        tokio::time::sleep_until((t0 + Duration::from_secs_f64(written as f64 / RATE)).into()).await;
        conn.query_drop(w.sql(t, first + i as u64 + 1)).await.map_err(write_err)?;
        written += t.keys.len() as u64;
        seen.commits.push((t0.elapsed().as_secs_f64(), written));
    }
    seen.write_seconds = t0.elapsed().as_secs_f64();
    let caught_up = wait_applied(&pg, base + written, follower).await;
    tokio::time::sleep(SAMPLE_EVERY * 2).await;
    stop.store(true, Ordering::Relaxed);
    seen.samples = sampler.await.map_err(|e| Error::other(format!("the lag sampler failed: {e}")))??;
    caught_up.map(|_| seen)
}

/// Row changes the target counts as applied since the copy.
async fn applied(pg: &tokio_postgres::Client) -> Result<u64> {
    let row = pg
        .query_one(
            "SELECT COALESCE(max(changes_applied), 0)::bigint FROM converge.follow_state WHERE pipeline = 'bench-follow'",
            &[],
        )
        .await
        .map_err(|e| Error::postgres("reading converge.follow_state", &e))?;
    Ok(row.get::<_, i64>(0) as u64)
}

/// Waits until the target counts `n` changes applied (the follower still running).
async fn wait_applied(
    pg: &tokio_postgres::Client,
    n: u64,
    follower: &tokio::task::JoinHandle<Result<Measured>>,
) -> Result<()> {
    let started = Instant::now();
    loop {
        if applied(pg).await? >= n {
            return Ok(());
        }
        if follower.is_finished() {
            return Err(Error::other("the follower stopped before it caught up (see its error below)"));
        }
        if started.elapsed() > CATCH_UP_WAIT {
            return Err(Error::other(format!(
                "the follower did not apply {n} changes within {} s",
                CATCH_UP_WAIT.as_secs()
            )));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
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
