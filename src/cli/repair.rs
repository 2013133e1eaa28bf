//! `converge repair`: the repair's report as text or JSON, and its outcome in the run log.

use std::path::Path;

use converge::pipeline::Pipeline;

use super::Cli;

/// `converge verify PIPELINE --online --repair`: an online verify; when it fails, the
/// rows it names are repaired as `converge repair` would from its report, and a second
/// online verify says whether that was all. Text, or one JSON object of the three.
pub(super) async fn verify_and_repair(cli: &Cli, p: &Pipeline, depth: converge::verify::Depth) -> converge::Result<()> {
    let first = converge::follow::online::verify_online(p, depth).await?;
    super::verify::log_verify(cli, &first);
    if !cli.json && !cli.quiet {
        print!("{}", first.text());
    }
    let (repaired, second) = match first.passed() {
        true => (None, None),
        false => {
            let r = converge::repair::repair_report(p, &first.json(), false).await?;
            if !cli.json && !cli.quiet {
                print!("\n{}\n", r.text());
            }
            let second = converge::follow::online::verify_online(p, depth).await?;
            super::verify::log_verify(cli, &second);
            if !cli.json && !cli.quiet {
                print!("{}", second.text());
            }
            (Some(r), Some(second))
        }
    };
    if cli.json {
        let reverify = second.as_ref().map(|r| r.json_value());
        let out = serde_json::json!({ "verify": first.json_value(), "repair": repaired, "reverify": reverify });
        println!("{out}");
    }
    match second.as_ref().unwrap_or(&first) {
        r if r.passed() => Ok(()),
        r => Err(converge::Error::other(format!(
            "verification failed after the repair: {} checks failed",
            r.failures().len()
        ))),
    }
}

/// `converge repair PIPELINE --from REPORT.json [--partial]`: the report as text or
/// JSON; an entry in the run log either way.
pub(super) async fn command(cli: &Cli, p: &Pipeline, from: &Path, partial: bool) -> converge::Result<()> {
    use converge::runlog::{self, Entry, Status};
    let log = runlog::default_path();
    let note = |status: Status, message: String, seconds: Option<f64>| {
        let mut e = Entry::new(status, message);
        if let Some(s) = seconds {
            e = e.with_phase("repair", s);
        }
        if let Ok(Some(id)) = runlog::resolve_migration_id(None, &log) {
            e = e.with_migration_id(id);
        }
        if let Err(err) = runlog::append(&log, &e) {
            tracing::warn!("cannot write the run log: {err}");
        }
    };
    super::signal::mark_abandoned(cli, &log);
    match converge::repair::repair(p, from, partial).await {
        Ok(r) => {
            let rows: (u64, u64) = r.tables.iter().fold((0, 0), |a, t| (a.0 + t.deleted, a.1 + t.inserted));
            let message = format!(
                "repair `{}` from {}: {} keys in {} tables, {} rows deleted, {} inserted, re-checked and committed",
                p.name,
                from.display(),
                r.keys(),
                r.tables.len(),
                rows.0,
                rows.1
            );
            note(Status::InProgress, message, Some(r.seconds));
            if cli.json {
                println!("{}", serde_json::to_string(&r).expect("the report serialises"));
            } else if !cli.quiet {
                print!("{}", r.text());
            }
            if r.incomplete.is_empty() {
                Ok(())
            } else {
                Err(converge::Error::other(format!(
                    "repaired what the report names, but {} tables differ beyond it: verify again",
                    r.incomplete.len()
                )))
            }
        }
        Err(e) => {
            note(Status::Failed, format!("repair `{}` from {}: {e}", p.name, from.display()), None);
            Err(e)
        }
    }
}
