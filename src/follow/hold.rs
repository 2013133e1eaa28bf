//! The follower's side of a hold request (`pg::hold`, docs/architecture.md, "Proving
//! while live"): asked to hold, it commits at the next source-commit boundary and
//! waits; given a position, it applies exactly up to it (its batch is split there),
//! exports a target snapshot at that state, and either goes on at once (the snapshot
//! stays open on a connection of its own until the asker has taken it) or stays until
//! the asker is done.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_postgres::Client;

use super::reached;
use crate::error::{Error, Result};
use crate::manifest::BinlogPosition;
use crate::pg::connect::connect;
use crate::pg::hold::{self, Step, STALE_SECONDS};
use crate::run::Interrupt;

/// How often a following follower looks for a request.
const POLL: Duration = Duration::from_millis(100);
/// How often a holding follower looks again.
const WAIT: Duration = Duration::from_millis(20);
/// How long a holding follower waits for the asker's position before it gives up.
const ASKER_GONE: Duration = Duration::from_secs(60);

/// What a follower knows of the request it answers.
pub(super) struct Answer {
    pipeline: String,
    schema: String,
    url: String,
    polled: Option<Instant>,
    current: Option<Current>,
}

struct Current {
    id: String,
    stay: bool,
    phase: Phase,
    /// The open transaction whose snapshot was exported (until the asker took it).
    exporter: Option<Client>,
    since: Instant,
}

#[derive(Debug, Clone, PartialEq)]
enum Phase {
    /// Asked to hold: commit at the next boundary.
    Asked,
    /// Apply up to here, then export.
    Until(BinlogPosition),
    /// Exported; the asker has not let go yet.
    Passed,
}

impl Answer {
    pub fn new(pipeline: &str, schema: &str, url: &str) -> Answer {
        let (pipeline, schema, url) = (pipeline.to_string(), schema.to_string(), url.to_string());
        Answer { pipeline, schema, url, polled: None, current: None }
    }

    /// Whether the pump should look at the request now.
    pub fn due(&self) -> bool {
        self.asked() || self.polled.is_none_or(|p| p.elapsed() >= POLL)
    }

    /// A hold was asked and is not answered yet: commit at the next boundary.
    pub fn asked(&self) -> bool {
        self.current.as_ref().is_some_and(|c| c.phase == Phase::Asked)
    }

    /// The position to stop at, while one is asked.
    pub fn stop_at(&self) -> Option<&BinlogPosition> {
        match &self.current.as_ref()?.phase {
            Phase::Until(p) => Some(p),
            _ => None,
        }
    }

    /// Reads the request (unless one is being answered): a new one is taken, one the
    /// asker let go of closes the snapshot kept for it.
    pub async fn poll(&mut self, client: &Client) -> Result<()> {
        if self.asked() || self.stop_at().is_some() {
            return Ok(());
        }
        self.polled = Some(Instant::now());
        let found = hold::read(client, &self.pipeline, &self.schema).await?;
        let same = |c: &Current| found.as_ref().is_some_and(|h| h.id == c.id);
        if let Some(c) = self.current.take_if(|c| !same(c)) {
            drop(c.exporter);
        }
        if let Some(c) = self.current.take_if(|c| c.since.elapsed().as_secs_f64() > STALE_SECONDS) {
            let why = "the asker did not let go of the exported snapshot";
            hold::advance(client, &self.pipeline, &self.schema, &c.id, "reached", Step::Abandoned(why)).await?;
        }
        if let Some(h) = found.filter(|h| h.state == "hold" && self.current.is_none()) {
            tracing::info!("follow: a {} asks the follower to hold", h.purpose);
            let (id, stay) = (h.id, h.stay);
            self.current = Some(Current { id, stay, phase: Phase::Asked, exporter: None, since: Instant::now() });
        }
        Ok(())
    }

    /// Everything taken is committed at `stored`: says so, and waits for the asker's
    /// position (exported at once when the target is there already). Some(signal) when
    /// a signal stopped the follower meanwhile.
    pub async fn hold(
        &mut self,
        client: &Client,
        stored: &BinlogPosition,
        interrupt: &Option<Arc<Interrupt>>,
    ) -> Result<Option<&'static str>> {
        let Some(c) = self.current.as_mut() else { return Ok(None) };
        let (p, s) = (&self.pipeline, &self.schema);
        if !hold::advance(client, p, s, &c.id, "hold", Step::Holding(stored)).await? {
            self.current = None;
            return Ok(None);
        }
        let id = c.id.clone();
        let waited = Instant::now();
        let until = loop {
            if let Some(sig) = pause(interrupt).await {
                return Ok(Some(sig));
            }
            match hold::read(client, p, s).await?.filter(|h| h.id == id) {
                None => break None,
                Some(h) if h.state == "until" => break h.until,
                Some(_) if waited.elapsed() >= ASKER_GONE => {
                    let why = "the asker sent no position to stop at";
                    hold::advance(client, p, s, &id, "holding", Step::Abandoned(why)).await?;
                    break None;
                }
                Some(_) => {}
            }
        };
        let Some(until) = until else {
            self.current = None;
            return Ok(None);
        };
        if reached(stored, &until) && !reached(&until, stored) {
            return Err(Error::other(format!(
                "the target is at {stored}, past the position {until} a snapshot was asked at (the follower was \
                 asked to hold before that snapshot was taken, so this should not happen)"
            )));
        }
        tracing::info!("follow: applying up to {until}, then exporting the target's snapshot there");
        if let Some(c) = self.current.as_mut() {
            c.phase = Phase::Until(until.clone());
        }
        if reached(stored, &until) {
            return self.arrive(client, interrupt).await;
        }
        Ok(None)
    }

    /// The target holds exactly the asked position: export its snapshot and tell the
    /// asker; a request that stays is waited for until the asker lets go.
    pub async fn arrive(
        &mut self,
        client: &Client,
        interrupt: &Option<Arc<Interrupt>>,
    ) -> Result<Option<&'static str>> {
        let Some(c) = self.current.as_mut() else { return Ok(None) };
        let exporter = connect(&self.url).await?;
        let q = |e: tokio_postgres::Error| Error::postgres("exporting the target's snapshot for an online check", &e);
        exporter.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY").await.map_err(q)?;
        let snapshot: String = exporter.query_one("SELECT pg_export_snapshot()", &[]).await.map_err(q)?.get(0);
        let (p, s) = (&self.pipeline, &self.schema);
        if !hold::advance(client, p, s, &c.id, "until", Step::Reached(&snapshot)).await? {
            self.current = None;
            return Ok(None);
        }
        (c.phase, c.exporter, c.since) = (Phase::Passed, Some(exporter), Instant::now());
        if !c.stay {
            return Ok(None);
        }
        let id = c.id.clone();
        loop {
            if let Some(sig) = pause(interrupt).await {
                return Ok(Some(sig));
            }
            let found = hold::read(client, p, s).await?.filter(|h| h.id == id);
            if found.as_ref().is_some_and(|h| h.state == "done") {
                hold::forget(client, p, s, &id).await?;
                self.current = None;
                return Ok(Some("the cut-over"));
            }
            let stale = c.since.elapsed().as_secs_f64() > STALE_SECONDS;
            if found.is_none() || stale {
                if stale {
                    let why = "the asker did not let the follower go on";
                    hold::advance(client, p, s, &id, "reached", Step::Abandoned(why)).await?;
                }
                self.current = None;
                return Ok(None);
            }
        }
    }
}

/// Waits a little, or until a signal (returned).
async fn pause(interrupt: &Option<Arc<Interrupt>>) -> Option<&'static str> {
    tokio::select! {
        s = crate::run::signalled(interrupt) => Some(s),
        _ = tokio::time::sleep(WAIT) => None,
    }
}
