//! A running follower of the follow stages (docs/architecture.md, "Benchmarks"):
//! `converge --json follow PIPELINE` as a child process beside the writer, its JSON
//! report in a file, measured (seconds, CPU, peak RSS) when it exits — by itself (after
//! a cut-over) or on SIGINT — and what the target counts as applied, read from
//! `converge.follow_state`.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use mysql_async::prelude::*;

use super::super::backlog::Workload;
use super::super::measure::{self, Measured};
use super::{read_report, Stage};
use crate::error::{Error, Result};

/// The longest wait for the follower to apply what was written.
const CATCH_UP_WAIT: Duration = Duration::from_secs(300);

/// A follower process and the thread waiting for it.
pub(super) struct Follower {
    pid: libc::pid_t,
    waiter: tokio::task::JoinHandle<Result<Measured>>,
    out: PathBuf,
}

impl Follower {
    /// Starts `converge --json follow PIPELINE`, its report going to `file` in the
    /// stage's directory.
    pub fn start(s: &Stage<'_>, file: &str, what: &str) -> Result<Follower> {
        let out = s.dir.join(file);
        let report = std::fs::File::create(&out).map_err(|e| Error::io(&out, e))?;
        let mut cmd = s.converge(&["--json", "follow", &s.path()])?;
        cmd.stdout(Stdio::from(report)).stderr(Stdio::piped());
        let started = Instant::now();
        let child = cmd.spawn().map_err(|e| Error::other(format!("cannot start the follower: {e}")))?;
        let pid = child.id() as libc::pid_t;
        let what = what.to_string();
        let waiter = tokio::task::spawn_blocking(move || measure::wait(child, started, &what));
        Ok(Follower { pid, waiter, out })
    }

    /// It has exited.
    pub fn is_finished(&self) -> bool {
        self.waiter.is_finished()
    }

    /// Waits up to `grace` for it to exit by itself, then stops it with SIGINT; its
    /// measurement and JSON report.
    pub async fn stop(self, grace: Duration) -> Result<(Measured, serde_json::Value)> {
        let until = Instant::now() + grace;
        while !self.waiter.is_finished() && Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        if !self.waiter.is_finished() {
            // SAFETY: signalling our own child, not yet reaped (the waiter has not returned).
            unsafe { libc::kill(self.pid, libc::SIGINT) };
        }
        let measured = self.waiter.await.map_err(|e| Error::other(format!("the follower's thread failed: {e}")))??;
        Ok((measured, read_report(&self.out)?))
    }
}

/// Row changes the target counts as applied since the copy.
pub(super) async fn applied(pg: &tokio_postgres::Client) -> Result<u64> {
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
pub(super) async fn wait_applied(pg: &tokio_postgres::Client, n: u64, follower: &Follower) -> Result<()> {
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

/// Writes one change and waits until the follower has applied it (its start is not
/// lag); the count applied then.
pub(super) async fn ready(
    pg: &tokio_postgres::Client,
    conn: &mut mysql_async::Conn,
    w: &mut Workload,
    follower: &Follower,
) -> Result<u64> {
    let before = applied(pg).await?;
    let marker = w.next(1, 1);
    conn.query_drop(w.sql(&marker, w.made))
        .await
        .map_err(|e| Error::mysql("writing the follower's first change", e))?;
    wait_applied(pg, before + 1, follower).await?;
    Ok(before + 1)
}
