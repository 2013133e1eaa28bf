//! `converge cutover`: the cut-over's report as text or JSON, and its outcome in the run
//! log (`completed`, or `failed` with the reason).

use converge::pipeline::Pipeline;

use super::Cli;

/// Cuts the pipeline over; exit 0 only when proven.
pub(super) async fn command(cli: &Cli, p: &Pipeline) -> converge::Result<()> {
    use converge::runlog::{self, Entry, Status};
    let log = runlog::default_path();
    super::signal::mark_abandoned(cli, &log);
    let note = |status: Status, message: String, seconds: Option<f64>| {
        let mut e = Entry::new(status, message);
        if let Some(s) = seconds {
            e = e.with_phase("cutover", s);
        }
        if let Ok(Some(id)) = runlog::resolve_migration_id(None, &log) {
            e = e.with_migration_id(id);
        }
        if let Err(err) = runlog::append(&log, &e) {
            tracing::warn!("cannot write the run log: {err}");
        }
    };
    let r = match converge::cutover::cutover(p).await {
        Ok(r) => r,
        Err(e) => {
            note(Status::Failed, format!("cutover `{}`: {e}", p.name), None);
            return Err(e);
        }
    };
    if cli.json {
        println!("{}", serde_json::to_string(&r).expect("the report serialises"));
    } else if !cli.quiet {
        print!("{}", r.text());
    }
    let at = r.position.as_ref().map(|a| a.to_string()).unwrap_or_else(|| "no position".into());
    if r.passed {
        let steps: Vec<String> = r.steps.iter().map(|s| format!("{} {:.2} s", s.name, s.seconds)).collect();
        let message = format!(
            "cutover `{}`: proven equal at {at} in a window of {:.2} s ({})",
            p.name,
            r.window_seconds,
            steps.join(", ")
        );
        note(Status::Completed, message, Some(r.window_seconds));
        Ok(())
    } else {
        let why = r.failures.join("; ");
        note(Status::Failed, format!("cutover `{}` at {at}: {why}", p.name), Some(r.window_seconds));
        Err(converge::Error::other(format!("cutover failed: {} problems; the follower goes on", r.failures.len())))
    }
}
