//! The run's signals and the run log's abandoned runs, for the commands that run or
//! read it (docs/architecture.md, "Interruption").

use converge::run;

use super::Cli;

/// SIGINT or SIGTERM asks the run to stop: it rolls back what it has not committed,
/// marks the export FAILED and logs `failed: interrupted`. Once the commit was sent it
/// cannot be called back: the signal is then reported with the commit's outcome. A
/// second signal exits at once (PostgreSQL rolls back an open transaction when the
/// connection closes; a commit already sent is PostgreSQL's to finish).
pub(super) fn on_signal() -> std::sync::Arc<run::Interrupt> {
    use tokio::signal::unix::{signal, SignalKind};
    let interrupt = std::sync::Arc::new(run::Interrupt::default());
    // The handlers are installed here, before the run starts, not inside the task: a
    // task not yet polled when a signal came would leave the default action in place
    // (death for SIGTERM; nothing at all for a SIGINT the parent ignores).
    let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) else {
        return interrupt;
    };
    let shared = interrupt.clone();
    tokio::spawn(async move {
        let name = tokio::select! {
            _ = int.recv() => "SIGINT",
            _ = term.recv() => "SIGTERM",
        };
        match shared.signal(name) {
            run::Heard::Stopping => eprintln!(
                "\nconverge: {name} received: stopping and rolling back what is not committed (a second signal quits at once)"
            ),
            run::Heard::Committing => eprintln!(
                "\nconverge: {name} received after the commit was sent: it cannot be called back, waiting for its outcome (a second signal quits at once)"
            ),
        }
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
        eprintln!("converge: second signal: quitting now");
        std::process::exit(130);
    });
    interrupt
}

/// Marks the runs in the log whose process is gone without a final entry as
/// `abandoned`, and says so.
pub(super) fn mark_abandoned(cli: &Cli, log: &std::path::Path) {
    match converge::runlog::mark_abandoned(log) {
        Ok(runs) if !cli.quiet => {
            for id in runs {
                eprintln!(
                    "converge: run {id} marked abandoned in the run log: its process is gone without a final entry"
                );
            }
        }
        Ok(_) => {}
        Err(err) => tracing::warn!("cannot check the run log: {err}"),
    }
}
