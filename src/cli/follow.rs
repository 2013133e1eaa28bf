//! `converge follow`: the follower's report as text or JSON, its start and end in the
//! run log.

use converge::pipeline::Pipeline;

use super::Cli;

/// `converge follow`: the report as text or JSON; its start and end in the run log.
pub(super) async fn command(
    cli: &Cli,
    p: &Pipeline,
    until_caught_up: bool,
    retries: u32,
    metrics: Option<std::net::SocketAddr>,
) -> converge::Result<()> {
    use converge::runlog::{self, Entry, Status};
    let log = runlog::default_path();
    let note = |status: Status, message: String, at: Option<converge::manifest::BinlogPosition>| {
        // No pid: a follower is not a run, and one stopped by a signal or killed must not
        // mark the copy's run abandoned.
        let mut e = Entry::new(status, message).with_binlog_position(at);
        if let Ok(Some(id)) = runlog::resolve_migration_id(None, &log) {
            e = e.with_migration_id(id);
        }
        if let Err(err) = runlog::append(&log, &e) {
            tracing::warn!("cannot write the run log: {err}");
        }
    };
    super::signal::mark_abandoned(cli, &log);
    let options = converge::follow::FollowOptions {
        until_caught_up,
        progress: !cli.quiet && !cli.json,
        run_log: Some(log.clone()),
        interrupt: Some(super::signal::on_signal()),
        retries,
        metrics,
    };
    note(Status::InProgress, format!("follow `{}` started", p.name), None);
    match converge::follow::follow(p, &options).await {
        Ok(r) => {
            let message = format!(
                "follow `{}`: {} at {} ({} row changes applied, {} since the copy, lag {:.1} s)",
                p.name, r.ended, r.to, r.stats.changes, r.changes_since_copy, r.stats.lag_seconds
            );
            note(Status::InProgress, message, Some(r.to.clone()));
            if cli.json {
                println!("{}", serde_json::to_string(&r).expect("the report serialises"));
            } else if !cli.quiet {
                print!("{}", r.text());
            }
            Ok(())
        }
        Err(e) => {
            note(Status::Failed, format!("follow `{}`: {e}", p.name), None);
            Err(e)
        }
    }
}
