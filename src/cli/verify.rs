//! `converge verify`: the report as text, JSON or Markdown, and its verdict in the run log.

use converge::pipeline::Pipeline;

use super::signal::mark_abandoned;
use super::Cli;

/// `converge verify`: the report as text, JSON or Markdown; exit non-zero on a failed
/// check (or, with `--strict`, a warning).
pub(super) async fn verify_command(
    cli: &Cli,
    p: &Pipeline,
    sample: Option<u64>,
    report: Option<&std::path::Path>,
    strict: bool,
    online: bool,
) -> converge::Result<()> {
    let depth = depth_of(p, sample);
    let r = match online {
        true => converge::follow::online::verify_online(p, depth).await?,
        false => converge::verify::verify(p, depth).await?,
    };
    if let Some(path) = report {
        converge::sink::export_dir::write_private(path, r.markdown().as_bytes())?;
    }
    if cli.json {
        println!("{}", r.json());
    } else if !cli.quiet {
        print!("{}", r.text());
    }
    log_verify(cli, &r);
    if !r.passed() {
        Err(converge::Error::other(format!("verification failed: {} checks failed", r.failures().len())))
    } else if strict && !r.passed_strict() {
        Err(converge::Error::other(format!("verification failed (--strict): {} warnings", r.warnings().len())))
    } else {
        Ok(())
    }
}

/// How much a verify compares: `--sample`, else the pipeline's `[verify] sample`, else all.
pub(super) fn depth_of(p: &Pipeline, sample: Option<u64>) -> converge::verify::Depth {
    match sample.or(p.verify.as_ref().and_then(|v| v.sample)) {
        Some(n) => converge::verify::Depth::Sample(n),
        None => converge::verify::Depth::Full,
    }
}

/// Notes a verification in the run log (the migration it belongs to: the log's last).
pub(super) fn log_verify(cli: &Cli, r: &converge::verify::report::Report) {
    use converge::runlog::{self, Entry, Status};
    let path = runlog::default_path();
    mark_abandoned(cli, &path);
    let verdict = if r.passed() { "passed" } else { "FAILED" };
    let mut e = Entry::new(
        Status::InProgress,
        format!("verify `{}`: {verdict} ({} checks failed)", r.pipeline, r.failures().len()),
    )
    .with_phase("verify", r.seconds);
    if let Ok(Some(id)) = runlog::resolve_migration_id(None, &path) {
        e = e.with_migration_id(id);
    }
    if let Err(err) = runlog::append(&path, &e) {
        tracing::warn!("cannot write the run log: {err}");
    }
}
