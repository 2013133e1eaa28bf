//! `converge cutover`: the operator guide's migration-day steps 6–11 as one command, for
//! an operator who has stopped the application's writes (docs/architecture.md,
//! "Proving while live"): the follower drains to the source's position, the source is
//! seen to stay there, the rows changed since the last online verify are compared
//! (every row, when none passed), sequences are moved past their maximum, rows are
//! counted on both sides — and the window from the start to "proven" is measured, step
//! by step. A cut-over that passes stops the follower for good (the pipeline is marked
//! cut over); one that fails leaves it following.

mod steps;

use std::time::Instant;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::follow::request::Held;
use crate::manifest::BinlogPosition;
use crate::pipeline::spec::Pipeline;

/// One step of the cut-over and the seconds it took.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Step {
    /// What it did.
    pub name: String,
    /// Seconds it took.
    pub seconds: f64,
    /// What it found.
    pub detail: String,
}

/// What a cut-over did and found.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CutoverReport {
    /// The pipeline.
    pub pipeline: String,
    /// Every check passed: PostgreSQL is proven equal to the source at `position`.
    pub passed: bool,
    /// The source position the target was proven at: where MySQL and PostgreSQL
    /// diverge from once the application writes to PostgreSQL.
    pub position: Option<BinlogPosition>,
    /// Seconds from the start (writes already stopped) to proven.
    pub window_seconds: f64,
    /// Each step, in order.
    pub steps: Vec<Step>,
    /// What failed, by table, key and column where known.
    pub failures: Vec<String>,
    /// What a rollback after this cut-over loses.
    pub rollback: String,
}

impl CutoverReport {
    /// The report as text.
    pub fn text(&self) -> String {
        let verdict = if self.passed { "PROVEN" } else { "FAILED" };
        let mut o = format!("cutover `{}`: {verdict} in a window of {:.2} s\n", self.pipeline, self.window_seconds);
        for s in &self.steps {
            o.push_str(&format!("  {:>7.2} s  {:<28} {}\n", s.seconds, s.name, s.detail));
        }
        for f in &self.failures {
            o.push_str(&format!("  ✗ {f}\n"));
        }
        if let Some(at) = &self.position {
            o.push_str(&format!("  source position: {at}\n"));
        }
        o.push_str(&format!("  rollback: {}\n", self.rollback));
        o
    }
}

/// The steps taken so far, timed.
struct Timed {
    steps: Vec<Step>,
    at: Instant,
}

impl Timed {
    fn done(&mut self, name: &str, detail: impl Into<String>) {
        let seconds = self.at.elapsed().as_secs_f64();
        self.steps.push(Step { name: name.into(), seconds, detail: detail.into() });
        self.at = Instant::now();
    }
}

/// Cuts the pipeline over: drains, proves, moves sequences, counts (see the module).
pub async fn cutover(p: &Pipeline) -> Result<CutoverReport> {
    let started = Instant::now();
    let mut timed = Timed { steps: Vec::new(), at: started };
    let mut held = Held::ask(p, "cutover", true).await?;
    timed.done("hold the follower", format!("committed up to {}", held.at));
    let proved = steps::prove(p, &mut held, &mut timed).await;
    let passed = matches!(&proved, Ok((_, failures)) if failures.is_empty());
    let window = started.elapsed().as_secs_f64();
    if passed {
        // Marked before the follower is told to stop: a follower that went on anyway
        // (it lost the request) refuses at its next commit instead of applying past
        // the proof, and the one that stops reads the mark as it ends.
        steps::mark_cut_over(p).await?;
        held.done().await?;
    }
    held.finish().await;
    let (position, failures) = proved?;
    Ok(CutoverReport {
        pipeline: p.name.clone(),
        passed,
        rollback: rollback_note(passed, position.as_ref()),
        position,
        window_seconds: window,
        steps: timed.steps,
        failures,
    })
}

fn rollback_note(passed: bool, at: Option<&BinlogPosition>) -> String {
    match (passed, at) {
        (true, Some(at)) => format!(
            "MySQL and PostgreSQL are equal at {at}; once the application writes to PostgreSQL, the guide's \
             rollback (back to MySQL) loses every PostgreSQL write made after the switch"
        ),
        _ => "not cut over: MySQL is still the source of truth, and abandoning the target loses nothing".into(),
    }
}

/// The source URL of a followed pipeline.
fn source_url(p: &Pipeline) -> Result<&str> {
    match &p.source.kind {
        crate::pipeline::spec::SourceKind::Mysql { url, .. } => Ok(url),
        _ => Err(Error::other("`converge cutover` needs a live MySQL or MariaDB source (source.kind = \"mysql\")")),
    }
}
