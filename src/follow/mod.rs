//! `converge follow`: after a copy committed, follows the source's binlog from the
//! position the copy recorded and applies every change exactly once
//! (docs/architecture.md, "Change capture"). Beside `run/` and `verify/`: the stream is
//! `source::ChangeStream`, the apply `sink::postgres::apply`.
//!
//! A dropped connection on either side (the source restarted, the apply session
//! killed) is retried with backoff from the position the target stores; anything else
//! stops the follower with what it met and where.

mod hold;
pub mod metrics;
pub mod online;
mod pump;
pub mod request;
mod setup;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::error::{Error, Result};
use crate::manifest::BinlogPosition;
use crate::pipeline::spec::{Pipeline, SourceKind};
use crate::run::Interrupt;

pub use self::pump::Stats;

/// How a follower runs.
#[derive(Debug, Clone, Default)]
pub struct FollowOptions {
    /// Stop once everything the source had logged when the follower started is applied
    /// (or the source is idle): a drain.
    pub until_caught_up: bool,
    /// Show progress on stderr.
    pub progress: bool,
    /// The run log the follower's start and end are appended to.
    pub run_log: Option<PathBuf>,
    /// SIGINT / SIGTERM stop the follower: what is not committed is rolled back (it is
    /// read again on the next start).
    pub interrupt: Option<Arc<Interrupt>>,
    /// Connection losses tolerated in a row before the follower gives up.
    pub retries: u32,
    /// Serve Prometheus metrics on this address (`GET /metrics`).
    pub metrics: Option<std::net::SocketAddr>,
}

/// What a follower did.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FollowReport {
    /// The pipeline.
    pub pipeline: String,
    /// The position it started from.
    pub from: BinlogPosition,
    /// The position the target holds now.
    pub to: BinlogPosition,
    /// Why it stopped: `caught up`, or the signal.
    pub ended: String,
    /// What it applied.
    pub stats: Stats,
    /// Row changes applied since the copy, over every follower run (the target's count).
    pub changes_since_copy: u64,
    /// Connections lost and re-made.
    pub reconnects: u32,
    /// Seconds it ran.
    pub seconds: f64,
    /// How the target's triggers and foreign keys are treated.
    pub policy: String,
}

impl FollowReport {
    /// The report as text.
    pub fn text(&self) -> String {
        let s = &self.stats;
        let mut o = format!(
            "follow `{}`: {} from {} to {}\n  {} row changes in {} source transactions, {} apply commits ({:.0} changes/s), lag {:.1} s (max {:.1} s)\n",
            self.pipeline,
            self.ended,
            self.from,
            self.to,
            s.changes,
            s.source_commits,
            s.apply_commits,
            s.changes_per_second(),
            s.lag_seconds,
            s.max_lag_seconds
        );
        for (t, d, u) in &s.tables {
            o.push_str(&format!("  {t}: {u} upserted, {d} deleted\n"));
        }
        if s.replayed > 0 {
            o.push_str(&format!(
                "  {} batches replayed in source order (a unique key refused the set-based apply, or a cascading \
                 key's parent changed with what its action touches)\n",
                s.replayed
            ));
        }
        if s.sequences_moved > 0 {
            o.push_str(&format!(
                "  {} sequences moved to MySQL's AUTO_INCREMENT counter (the binlog does not carry it)\n",
                s.sequences_moved
            ));
        }
        if self.reconnects > 0 {
            o.push_str(&format!("  reconnected {} times\n", self.reconnects));
        }
        o.push_str(&format!(
            "  {} row changes applied since the copy\n  note: {}\n",
            self.changes_since_copy, self.policy
        ));
        o
    }
}

/// The source URL of a pipeline that can be followed.
fn source_url(p: &Pipeline) -> Result<&str> {
    match &p.source.kind {
        SourceKind::Mysql { url, .. } => Ok(url),
        _ => Err(Error::other("`converge follow` follows a live MySQL or MariaDB source (source.kind = \"mysql\")")),
    }
}

/// Follows the pipeline's source from the position its target stores.
pub async fn follow(p: &Pipeline, options: &FollowOptions) -> Result<FollowReport> {
    let started = Instant::now();
    let url = source_url(p)?.to_string();
    let follow = p.follow.clone().ok_or_else(|| {
        Error::other("the pipeline has no [follow] section: its copy recorded no position to follow from")
    })?;
    let metrics = metrics::Metrics::new(&p.name);
    let served = match options.metrics {
        Some(addr) => {
            let (bound, task) = metrics::serve(addr, metrics.clone()).await?;
            eprintln!("follow: metrics on http://{bound}/metrics");
            Some(task)
        }
        None => None,
    };
    let result = follow_with(p, options, &url, follow.server_id, metrics).await;
    if let Some(task) = served {
        task.abort();
    }
    result.map(|mut r| {
        r.seconds = started.elapsed().as_secs_f64();
        r
    })
}

async fn follow_with(
    p: &Pipeline,
    options: &FollowOptions,
    url: &str,
    server_id: u32,
    metrics: Arc<metrics::Metrics>,
) -> Result<FollowReport> {
    let started = Instant::now();
    let mut session = pump::Session::prepare(p, url, server_id, options, metrics.clone()).await?;
    let from = session.stored().await?.at;
    let mut stats = Stats::default();
    let mut reconnects = 0u32;
    let mut tries = 0u32;
    let ended = loop {
        let commits_before = stats.apply_commits;
        match session.run(&mut stats).await {
            Ok(ended) => break ended,
            Err(e) if e.is_transient() && (tries < options.retries || stats.apply_commits > commits_before) => {
                metrics.reconnected();
                metrics.error(if matches!(e, Error::MySql { .. }) { "source_connection" } else { "target_connection" });
                // Tries count losses in a row: a session that applied something starts afresh.
                tries = if stats.apply_commits > commits_before { 1 } else { tries + 1 };
                reconnects += 1;
                let wait = Duration::from_millis(500 * 2u64.pow(tries.min(6)));
                tracing::warn!(
                    "follow: connection lost ({e}); attempt {tries} of {}, retrying in {wait:?}",
                    options.retries
                );
                tokio::time::sleep(wait).await;
                if let Err(e) = session.reconnect().await {
                    tracing::warn!("follow: cannot reconnect yet: {e}");
                }
            }
            Err(e) if e.is_transient() => {
                metrics.error("gave_up");
                return Err(Error::other(format!(
                    "follow: gave up after {tries} reconnects (the target keeps the last applied position; start the follower again): {e}"
                )));
            }
            Err(e) => {
                metrics.error("stopped");
                return Err(e);
            }
        }
    };
    // Not `stored()`: a cut-over that stopped this follower marks the pipeline cut
    // over as the follower ends, and the report still says where it stopped.
    let stored = session.position().await;
    session.release().await;
    let stored = stored?;
    Ok(FollowReport {
        pipeline: p.name.clone(),
        from,
        to: stored.at,
        ended,
        stats,
        changes_since_copy: stored.changes_applied,
        reconnects,
        seconds: started.elapsed().as_secs_f64(),
        policy: policy(p),
    })
}

/// How the apply treats the target's triggers and foreign keys.
fn policy(p: &Pipeline) -> String {
    use crate::sink::postgres::apply::{CASCADE_POLICY, POLICY};
    match p.follow.as_ref().is_some_and(|f| f.cascades == crate::pipeline::spec::Cascades::Target) {
        true => format!("{POLICY}; {CASCADE_POLICY}"),
        false => POLICY.to_string(),
    }
}

/// Whether position `a` is at or past `b` (binlog files are numbered in order).
pub fn reached(a: &BinlogPosition, b: &BinlogPosition) -> bool {
    (a.file_number(), a.position) >= (b.file_number(), b.position)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(file: &str, position: u64) -> BinlogPosition {
        BinlogPosition { file: file.into(), position, gtid: None }
    }

    #[test]
    fn a_later_file_is_past_any_position_of_an_earlier_one() {
        assert!(reached(&at("mariadb-bin.000010", 4), &at("mariadb-bin.000009", 900_000)));
        assert!(!reached(&at("mariadb-bin.000009", 899), &at("mariadb-bin.000009", 900)));
        assert!(reached(&at("mariadb-bin.000009", 900), &at("mariadb-bin.000009", 900)));
    }
}
