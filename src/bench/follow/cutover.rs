//! `converge bench --cutover`: the cut-over window measured (docs/architecture.md,
//! "Benchmarks"; the command itself: "Proving while live"). In a follow stage's world
//! (the bench's own binlog MariaDB, the dataset, the `[follow]` pipeline): the copy
//! (`converge run`, measured), then a follower (`converge follow`) while a steady writer
//! commits [`RATE`] row changes/s; after [`WARM_SECONDS`], `converge verify --online`
//! while the writes go on; [`AFTER_SECONDS`] more; then the writer stops — the
//! operator's "writes stopped" — and `converge cutover` runs at once: its window, each
//! step's seconds, whether it proved the target. Beside it, today's window: the copy
//! plus a full `converge verify` with writes stopped (run after the cut-over, when the
//! target is equal to the source).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::super::backlog::Workload;
use super::super::measure::Measured;
use super::follower::{self, Follower};
use super::{stat, steady, workload, Stage};
use crate::error::{Error, Result};
use crate::manifest::BinlogPosition;

/// Row changes per second the writer commits while the follower runs.
pub const RATE: f64 = 500.0;
/// Seconds of writes before the online verify starts.
pub const WARM_SECONDS: f64 = 5.0;
/// Seconds of writes after it, before the writer stops.
pub const AFTER_SECONDS: f64 = 5.0;
/// The goal for the cut-over window, in seconds.
pub const WINDOW_GOAL: f64 = 10.0;
/// How long a follower is given to stop by itself after a cut-over that passed.
const FOLLOWER_STOPS: Duration = Duration::from_secs(60);
/// Failed checks or steps kept per report.
const FAILURES_KEPT: usize = 5;
/// Characters kept of a command's error.
const ERROR_CHARS: usize = 600;

/// One `converge verify` (online or full), as the bench saw it.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifyRun {
    /// The whole command (its seconds also when it failed: then its own report's).
    #[serde(flatten)]
    pub measured: Measured,
    /// The report's own `seconds`.
    pub report_seconds: f64,
    /// Every check passed (and the command exited 0).
    pub passed: bool,
    /// Online: the source position both sides were compared at.
    pub position: Option<BinlogPosition>,
    /// Rows shipped from either server to compare them.
    pub rows_read: u64,
    /// The failed checks (the first few): `subject: evidence`.
    pub failures: Vec<String>,
    /// Why it gave no report.
    pub error: Option<String>,
}

/// One step of the cut-over, as its JSON report gives it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CutoverStep {
    pub name: String,
    pub seconds: f64,
    #[serde(default)]
    pub detail: String,
}

/// `converge cutover --json`, as the bench saw it.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CutoverRun {
    /// The whole command, process start to exit.
    #[serde(flatten)]
    pub measured: Measured,
    /// The target was proven equal to the source.
    pub passed: bool,
    /// Its own window: from its start (writes already stopped) to proven.
    pub window_seconds: f64,
    /// Where it proved the target.
    pub position: Option<BinlogPosition>,
    /// Each step and its seconds.
    pub steps: Vec<CutoverStep>,
    /// What failed (the first few).
    pub failures: Vec<String>,
    /// Why it gave no report.
    pub error: Option<String>,
}

/// The report's shape (`converge cutover --json`), what the bench reads of it.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CutoverJson {
    passed: bool,
    position: Option<BinlogPosition>,
    window_seconds: f64,
    #[serde(default)]
    steps: Vec<CutoverStep>,
    #[serde(default)]
    failures: Vec<String>,
}

/// One of the goals: a measure against its target (`value` None: pass or fail).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Goal {
    pub what: String,
    pub value: Option<f64>,
    pub target: String,
    pub met: bool,
}

/// The cut-over stage's results.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CutoverResult {
    /// Rows in the dataset copied.
    pub rows: u64,
    /// The source server's options.
    pub server: String,
    /// `converge run` of the `[follow]` pipeline (the copy that records the position).
    pub copy: Measured,
    /// Row changes per second asked of the writer.
    pub rate: f64,
    /// What the writer committed while the follower ran, and in how many seconds.
    pub write_seconds: f64,
    pub written: u64,
    pub transactions: u64,
    pub updates: u64,
    pub inserts: u64,
    pub deletes: u64,
    /// `converge verify --online --json` while the writes went on.
    pub online_verify: VerifyRun,
    /// Row changes the writer committed while the online verify ran.
    pub changes_during_verify: u64,
    /// `converge cutover --json` as soon as the writer stopped.
    pub cutover: CutoverRun,
    /// `converge verify --json` (full) after the cut-over, writes stopped.
    pub verify: VerifyRun,
    /// Today's window: the copy's seconds plus the full verify's.
    pub todays_window_seconds: f64,
    /// The follower process (`converge follow`), start to exit.
    pub follower: Measured,
    /// Row changes it applied (`stats.changes`).
    pub applied: u64,
    /// The goals.
    pub goals: Vec<Goal>,
    /// Why the stage stopped before the cut-over (the follower or the writer failed).
    pub error: Option<String>,
}

impl CutoverResult {
    /// The cut-over window within [`WINDOW_GOAL`], the online verify and the cut-over passed.
    pub fn judge(&self) -> Vec<Goal> {
        let c = &self.cutover;
        vec![
            Goal {
                what: "cut-over window (writes stopped → proven), seconds".into(),
                value: Some(c.window_seconds),
                target: format!("≤ {WINDOW_GOAL:.0}"),
                met: c.passed && c.window_seconds <= WINDOW_GOAL,
            },
            Goal {
                what: format!("online verify while writing {:.0} changes/s passed", self.rate),
                value: None,
                target: "passed".into(),
                met: self.online_verify.passed,
            },
            Goal { what: "cut-over proved the target".into(), value: None, target: "passed".into(), met: c.passed },
        ]
    }
}

/// The stage, in a follow stage's world.
pub(super) async fn measure(s: &Stage<'_>, rows: u64) -> Result<CutoverResult> {
    let mut conn = s.source(rows).await?;
    let copy = s.copy()?;
    let mut w = workload(&mut conn, s.o.seed).await?;
    let mut r = CutoverResult { rows, server: s.server(), copy, rate: RATE, ..CutoverResult::default() };
    let follower = Follower::start(s, "follow-cutover.json", "converge follow (cut-over)")?;
    let live = live(s, &mut conn, &mut w, &follower, &mut r).await;
    let _ = conn.disconnect().await;
    match live {
        Ok(()) => r.cutover = cut_over(s).await,
        Err(e) => {
            tracing::warn!("cut-over: {e}");
            r.error = Some(e.to_string());
        }
    }
    // A cut-over that passed stops the follower; otherwise it is stopped here.
    let grace = if r.cutover.passed { FOLLOWER_STOPS } else { Duration::ZERO };
    match follower.stop(grace).await {
        Ok((m, report)) => (r.follower, r.applied) = (m, stat(&report, "changes") as u64),
        Err(e) => {
            tracing::warn!("cut-over, the follower: {e}");
            r.error.get_or_insert_with(|| format!("the follower: {e}"));
        }
    }
    if r.error.is_none() {
        r.verify = verify(s, false).await;
        r.todays_window_seconds = r.copy.seconds + r.verify.measured.seconds;
    }
    r.goals = r.judge();
    Ok(r)
}

/// The follower ready, the writer at [`RATE`] with the online verify in its midst;
/// returns once the writer has stopped (what it wrote in `r`).
async fn live(
    s: &Stage<'_>,
    conn: &mut mysql_async::Conn,
    w: &mut Workload,
    f: &Follower,
    r: &mut CutoverResult,
) -> Result<()> {
    let pg = crate::pg::connect::connect(&s.pg_url).await?;
    follower::ready(&pg, conn, w, f).await?;
    drop(pg);
    let stop = AtomicBool::new(false);
    let t0 = Instant::now();
    let writer = steady::write(conn, w, RATE, u64::MAX, t0, &stop);
    let script = async {
        tokio::time::sleep(Duration::from_secs_f64(WARM_SECONDS)).await;
        let from = t0.elapsed().as_secs_f64();
        let online = verify(s, true).await;
        let to = t0.elapsed().as_secs_f64();
        tokio::time::sleep(Duration::from_secs_f64(AFTER_SECONDS)).await;
        stop.store(true, Ordering::Relaxed);
        (online, from, to)
    };
    let (written, (online, from, to)) = tokio::join!(writer, script);
    let written = written?;
    (r.write_seconds, r.written, r.transactions) = (written.seconds, written.changes(), written.transactions);
    (r.updates, r.inserts, r.deletes) = (written.updates, written.inserts, written.deletes);
    r.changes_during_verify = written.changes_between(from, to);
    tracing::info!("cut-over: online verify {:.2}s while writing, passed: {}", online.measured.seconds, online.passed);
    r.online_verify = online;
    if f.is_finished() {
        return Err(Error::other("the follower stopped while the writer wrote (see its error below)"));
    }
    Ok(())
}

/// `converge verify --json` of the pipeline, `--online` or full.
async fn verify(s: &Stage<'_>, online: bool) -> VerifyRun {
    let path = s.path();
    let mut args = vec!["--json", "verify", path.as_str()];
    let (file, what) = match online {
        true => ("verify-online.json", "converge verify --online"),
        false => ("verify-full.json", "converge verify"),
    };
    if online {
        args.push("--online");
    }
    let (measured, report) = s.child_json(&args, file, what).await;
    verify_run(measured, report)
}

/// What a verify command measured and reported.
fn verify_run(measured: Result<Measured>, report: Result<serde_json::Value>) -> VerifyRun {
    let mut v = VerifyRun::default();
    match report {
        Ok(j) => {
            v.passed = j["passed"].as_bool().unwrap_or(false);
            v.report_seconds = j["seconds"].as_f64().unwrap_or(0.0);
            v.rows_read = j["rowsRead"].as_u64().unwrap_or(0);
            v.position = serde_json::from_value(j["position"].clone()).ok();
            let checks = j["checks"].as_array().map(Vec::as_slice).unwrap_or_default();
            v.failures = checks
                .iter()
                .filter(|c| c["outcome"] == "fail")
                .take(FAILURES_KEPT)
                .map(|c| format!("{}: {}", c["subject"].as_str().unwrap_or("?"), c["evidence"].as_str().unwrap_or("")))
                .collect();
        }
        Err(e) => v.error = Some(one_line(&e)),
    }
    match measured {
        Ok(m) => v.measured = m,
        Err(e) => {
            v.passed = false;
            v.measured.seconds = v.report_seconds;
            if v.failures.is_empty() {
                v.error = Some(one_line(&e));
            }
        }
    }
    v
}

/// `converge cutover --json` of the pipeline.
async fn cut_over(s: &Stage<'_>) -> CutoverRun {
    let path = s.path();
    let (measured, report) = s.child_json(&["--json", "cutover", &path], "cutover.json", "converge cutover").await;
    let c = cutover_run(measured, report);
    tracing::info!("cut-over: window {:.2}s, passed: {}", c.window_seconds, c.passed);
    c
}

/// What a cut-over command measured and reported.
fn cutover_run(measured: Result<Measured>, report: Result<serde_json::Value>) -> CutoverRun {
    let mut c = CutoverRun::default();
    let parsed = report.and_then(|j| {
        serde_json::from_value::<CutoverJson>(j)
            .map_err(|e| Error::other(format!("the cut-over's report is not as expected: {e}")))
    });
    match parsed {
        Ok(j) => {
            (c.passed, c.window_seconds, c.position, c.steps) = (j.passed, j.window_seconds, j.position, j.steps);
            c.failures = j.failures.into_iter().take(FAILURES_KEPT).collect();
        }
        Err(e) => c.error = Some(one_line(&e)),
    }
    match measured {
        Ok(m) => c.measured = m,
        Err(e) => {
            c.passed = false;
            if c.failures.is_empty() {
                c.error = Some(one_line(&e));
            }
        }
    }
    c
}

/// An error on one line, its first [`ERROR_CHARS`] characters (a child's stderr can
/// run to many lines).
fn one_line(e: &Error) -> String {
    let text = e.to_string();
    let words: Vec<&str> = text.split_whitespace().collect();
    words.join(" ").chars().take(ERROR_CHARS).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_verify_that_failed_keeps_its_report_and_one_that_gave_none_its_error() {
        let j = serde_json::json!({
            "passed": false, "seconds": 2.5, "rowsRead": 10,
            "position": {"file": "binlog.000001", "position": 1234},
            "checks": [
                {"subject": "post", "outcome": "pass", "evidence": "equal"},
                {"subject": "activity", "outcome": "fail", "evidence": "3 rows differ"}
            ]
        });
        let v = verify_run(Err(Error::other("verification failed")), Ok(j));
        assert!(!v.passed && v.error.is_none(), "{v:?}");
        assert_eq!(v.failures, ["activity: 3 rows differ"]);
        assert_eq!((v.measured.seconds, v.rows_read), (2.5, 10));
        assert_eq!(v.position.as_ref().map(|p| p.to_string()).as_deref(), Some("binlog.000001:1234"));
        let m = Measured { seconds: 3.0, cpu_seconds: 1.0, peak_rss_mb: 50.0 };
        let ok = verify_run(Ok(m), Ok(serde_json::json!({"passed": true, "seconds": 2.0, "checks": []})));
        assert!(ok.passed && ok.failures.is_empty() && ok.measured.seconds == 3.0, "{ok:?}");
        let none = verify_run(Err(Error::other("cannot connect")), Err(Error::other("not JSON")));
        assert!(!none.passed && none.error.as_deref().is_some_and(|e| e.contains("cannot connect")), "{none:?}");
    }

    #[test]
    fn the_cut_over_report_is_read_and_judged_against_the_goals() {
        let j = serde_json::json!({
            "pipeline": "bench-follow", "passed": true, "windowSeconds": 4.25,
            "position": {"file": "binlog.000002", "position": 99, "gtid": "0-1-7"},
            "steps": [{"name": "hold the follower", "seconds": 0.5, "detail": "x"}, {"name": "count rows", "seconds": 1.0}],
            "failures": [], "rollback": "…"
        });
        let m = Measured { seconds: 5.0, cpu_seconds: 1.0, peak_rss_mb: 60.0 };
        let c = cutover_run(Ok(m), Ok(j));
        assert!(c.passed && c.error.is_none() && c.window_seconds == 4.25, "{c:?}");
        assert_eq!(c.steps.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), ["hold the follower", "count rows"]);
        let mut r = CutoverResult { cutover: c, rate: RATE, ..CutoverResult::default() };
        r.online_verify.passed = true;
        assert!(r.judge().iter().all(|g| g.met), "{:?}", r.judge());
        r.cutover.window_seconds = 10.5;
        let goals = r.judge();
        assert!(!goals[0].met && goals[1].met && goals[2].met, "{goals:?}");
        // A cut-over that failed meets none of its goals, however short its window.
        let failed = serde_json::json!({"passed": false, "windowSeconds": 1.0, "failures": ["post: 1 row differs"]});
        let c = cutover_run(Err(Error::other("exit 1")), Ok(failed));
        assert!(!c.passed && c.error.is_none() && c.failures == ["post: 1 row differs"], "{c:?}");
        let r = CutoverResult { cutover: c, ..CutoverResult::default() };
        assert!(!r.judge()[0].met && !r.judge()[2].met);
        let gone =
            cutover_run(Err(Error::other("error: unrecognized subcommand 'cutover'\n\nUsage")), Err(Error::other("")));
        assert_eq!(gone.error.as_deref(), Some("error: unrecognized subcommand 'cutover' Usage"), "{gone:?}");
    }
}
