//! A signal and the commit (docs/architecture.md, "Interruption"). One lock orders
//! them: a signal before the run sends its commit stops the run (it rolls back); a
//! signal after it cannot call the commit back, so it is recorded and the run reports
//! what the commit really did.

use std::sync::Mutex;

use tokio::sync::watch;

use crate::error::{Error, Result};

/// Shared by a run and its signal handler.
#[derive(Debug)]
pub struct Interrupt {
    state: Mutex<State>,
    tx: watch::Sender<Option<&'static str>>,
}

#[derive(Debug, Default)]
struct State {
    /// The commit has been sent.
    committing: bool,
    /// A signal that came after that.
    in_commit: Option<&'static str>,
    /// The commit's outcome, once known: true when it completed.
    committed: Option<bool>,
}

/// What a signal met.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Heard {
    /// The run stops and rolls back what it has not committed.
    Stopping,
    /// The commit was already sent: the run goes on to its outcome.
    Committing,
}

impl Default for Interrupt {
    fn default() -> Self {
        Interrupt { state: Mutex::new(State::default()), tx: watch::channel(None).0 }
    }
}

impl Interrupt {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A signal came: the run is asked to stop, unless its commit was already sent.
    pub fn signal(&self, name: &'static str) -> Heard {
        let mut s = self.state();
        if s.committing {
            s.in_commit.get_or_insert(name);
            return Heard::Committing;
        }
        self.tx.send_replace(Some(name));
        Heard::Stopping
    }

    /// The signal that asked the run to stop, if any.
    pub fn stop_signal(&self) -> Option<&'static str> {
        *self.tx.borrow()
    }

    /// Follows the stop signal.
    pub fn receiver(&self) -> watch::Receiver<Option<&'static str>> {
        self.tx.subscribe()
    }

    /// The run is about to send its commit: refused when a signal came first.
    pub fn enter_commit(&self) -> Result<()> {
        let mut s = self.state();
        if let Some(name) = self.stop_signal() {
            return Err(Error::Interrupted(name.to_string()));
        }
        s.committing = true;
        Ok(())
    }

    /// The commit's outcome.
    pub fn committed(&self, completed: bool) {
        self.state().committed = Some(completed);
    }

    /// A signal that came after the commit was sent, and the commit's outcome (None
    /// when the run ended before it was known).
    fn during_commit(&self) -> Option<(&'static str, Option<bool>)> {
        let s = self.state();
        s.in_commit.map(|name| (name, s.committed))
    }

    /// What to say of a signal that came during the commit, or None.
    pub fn commit_outcome(&self) -> Option<String> {
        let (name, committed) = self.during_commit()?;
        Some(match committed {
            Some(true) => format!("{name} received after the commit was sent: the commit completed"),
            Some(false) => format!("{name} received after the commit was sent: the commit failed"),
            None => format!("{name} received after the commit was sent: its outcome is not known"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signal_stops_the_run_only_before_the_commit_is_sent() {
        let before = Interrupt::default();
        assert_eq!(before.signal("SIGINT"), Heard::Stopping);
        assert!(matches!(before.enter_commit(), Err(Error::Interrupted(s)) if s == "SIGINT"));
        assert_eq!(before.commit_outcome(), None);

        let after = Interrupt::default();
        after.enter_commit().unwrap();
        assert_eq!(after.signal("SIGTERM"), Heard::Committing);
        assert_eq!(after.stop_signal(), None, "the run is not asked to stop");
        after.committed(true);
        assert_eq!(after.commit_outcome().unwrap(), "SIGTERM received after the commit was sent: the commit completed");

        let failed = Interrupt::default();
        failed.enter_commit().unwrap();
        assert_eq!(failed.signal("SIGINT"), Heard::Committing);
        failed.committed(false);
        assert_eq!(failed.commit_outcome().unwrap(), "SIGINT received after the commit was sent: the commit failed");
    }
}
