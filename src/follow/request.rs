//! The asker's side of a hold request (`pg::hold`, docs/architecture.md, "Proving while
//! live"): `verify --online`, `repair` and `cutover` ask the pipeline's follower to hold,
//! take their source snapshot, have the follower apply exactly up to its position and
//! use the target snapshot it exports there. Without a running follower the asker
//! runs one in its own process for as long as it needs it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;
use tokio_postgres::Client;

use super::{follow, FollowOptions, FollowReport};
use crate::error::{Error, Result};
use crate::manifest::BinlogPosition;
use crate::pg::connect::connect;
use crate::pg::hold;
use crate::pipeline::spec::Pipeline;
use crate::run::Interrupt;

/// How often the asker looks at the request.
const WAIT: Duration = Duration::from_millis(20);
/// How long a follower has to answer a hold (it commits at the next boundary first).
const ANSWER_WITHIN: Duration = Duration::from_secs(60);
/// How long the follower may go without moving while it catches up to the position.
const STALLED_AFTER: Duration = Duration::from_secs(120);

/// A follower held at the asker's request.
pub struct Held {
    client: Client,
    pipeline: String,
    schema: String,
    id: String,
    /// Where the follower holds.
    pub at: BinlogPosition,
    own: Option<(JoinHandle<Result<FollowReport>>, Arc<Interrupt>)>,
}

/// The target's state at the asked position.
#[derive(Debug, Clone)]
pub struct Reached {
    /// The position the target holds.
    pub at: BinlogPosition,
    /// Its snapshot, exported by the follower (`SET TRANSACTION SNAPSHOT`).
    pub snapshot: String,
}

impl Held {
    /// Asks the pipeline's follower to hold (`purpose` names the asker); with none
    /// running, starts one here. `stay`: the follower waits at the position until
    /// [`Held::release`], rather than going on once its snapshot is exported.
    pub async fn ask(p: &Pipeline, purpose: &str, stay: bool) -> Result<Held> {
        let sink = p.postgres().ok_or_else(|| Error::other(format!("pipeline `{}` has no postgres sink", p.name)))?;
        let schema = sink.schema().to_string();
        let client = connect(&sink.url).await?;
        let own = match hold::follower_running(&client, &p.name, &schema).await? {
            true => None,
            false => Some(start_follower(p)),
        };
        let id = format!("{purpose}-{}-{}", std::process::id(), chrono::Utc::now().timestamp_micros());
        let mut held = Held { client, pipeline: p.name.clone(), schema, id, at: placeholder(), own };
        if let Err(e) = held.post(purpose, stay).await {
            held.finish().await;
            return Err(e);
        }
        Ok(held)
    }

    async fn post(&mut self, purpose: &str, stay: bool) -> Result<()> {
        let asked = Instant::now();
        loop {
            // A follower started here needs its lock before the request is seen.
            match hold::post(&self.client, &self.pipeline, &self.schema, &self.id, purpose, stay).await {
                Ok(()) => break,
                Err(e) if asked.elapsed() >= ANSWER_WITHIN => return Err(e),
                Err(_) => tokio::time::sleep(WAIT * 10).await,
            }
        }
        loop {
            self.follower_alive().await?;
            let h = self.read().await?;
            if h.state == "holding" {
                self.at = h.held.ok_or_else(|| Error::other("the follower held without saying where"))?;
                return Ok(());
            }
            if asked.elapsed() >= ANSWER_WITHIN {
                return Err(Error::other(format!(
                    "the follower of `{}` did not answer within {} s (is it stuck behind a large source transaction?)",
                    self.pipeline,
                    ANSWER_WITHIN.as_secs()
                )));
            }
            tokio::time::sleep(WAIT).await;
        }
    }

    /// The request as it stands; an error when the follower gave it up.
    async fn read(&self) -> Result<hold::Hold> {
        match hold::read(&self.client, &self.pipeline, &self.schema).await?.filter(|h| h.id == self.id) {
            Some(h) if h.state == "abandoned" => {
                Err(Error::other(format!("the follower gave up the request: {}", h.message.unwrap_or_default())))
            }
            Some(h) => Ok(h),
            None => Err(Error::other("the request to the follower is gone (another asker replaced it?)")),
        }
    }

    /// The follower started here, if it stopped, with its error.
    async fn follower_alive(&mut self) -> Result<()> {
        if let Some((task, _)) = self.own.take_if(|(t, _)| t.is_finished()) {
            let ended = task.await.map_err(|e| Error::other(format!("the follower stopped: {e}")))?;
            return match ended {
                Err(e) => Err(Error::other(format!("the follower started for this stopped: {e}"))),
                Ok(r) => Err(Error::other(format!("the follower started for this stopped: {}", r.ended))),
            };
        }
        Ok(())
    }

    /// Has the follower apply exactly up to `at` (the asker's source snapshot, taken
    /// after the follower held, so at or past where it holds) and returns the target
    /// snapshot exported there.
    pub async fn until(&mut self, at: &BinlogPosition) -> Result<Reached> {
        let (p, s, id) = (self.pipeline.clone(), self.schema.clone(), self.id.clone());
        if !hold::advance(&self.client, &p, &s, &id, "holding", hold::Step::Until(at)).await? {
            return Err(Error::other("the follower no longer holds for this request"));
        }
        let mut moved = (Instant::now(), None::<BinlogPosition>);
        loop {
            self.follower_alive().await?;
            let h = self.read().await?;
            if h.state == "reached" {
                let snapshot = h.snapshot.ok_or_else(|| Error::other("the follower exported no snapshot"))?;
                return Ok(Reached { at: at.clone(), snapshot });
            }
            let stored = crate::pg::state::read_follow(&self.client, &p, &s).await?.map(|f| f.at);
            if stored != moved.1 {
                moved = (Instant::now(), stored);
            } else if moved.0.elapsed() >= STALLED_AFTER {
                return Err(Error::other(format!(
                    "the follower has not moved for {} s while applying up to {at}",
                    STALLED_AFTER.as_secs()
                )));
            }
            tokio::time::sleep(WAIT).await;
        }
    }

    /// The cut-over passed: the follower stops (it answers by removing the request;
    /// waited for, so that [`Held::finish`] does not let it go on instead).
    pub async fn done(&self) -> Result<()> {
        let (p, s, id) = (&self.pipeline, &self.schema, &self.id);
        if !hold::advance(&self.client, p, s, id, "reached", hold::Step::Done).await? {
            return Err(Error::other("the follower no longer held for the cut-over"));
        }
        let asked = Instant::now();
        while hold::read(&self.client, p, s).await?.is_some_and(|h| h.id == *id) {
            if asked.elapsed() >= ANSWER_WITHIN {
                return Err(Error::other("the follower did not stop after the cut-over"));
            }
            tokio::time::sleep(WAIT).await;
        }
        Ok(())
    }

    /// Lets the follower go on (and close the snapshot it exported).
    pub async fn release(&self) -> Result<()> {
        hold::forget(&self.client, &self.pipeline, &self.schema, &self.id).await
    }

    /// Releases the request and stops a follower started here (its report, if it ran).
    pub async fn finish(mut self) -> Option<FollowReport> {
        let _ = self.release().await;
        let (task, interrupt) = self.own.take()?;
        interrupt.signal("the end of the check");
        match task.await {
            Ok(Ok(r)) => Some(r),
            Ok(Err(e)) => {
                tracing::warn!("the follower started for the check stopped with an error: {e}");
                None
            }
            Err(_) => None,
        }
    }
}

fn placeholder() -> BinlogPosition {
    BinlogPosition { file: String::new(), position: 0, gtid: None }
}

/// A follower on a task of this process, stopped by its interrupt.
fn start_follower(p: &Pipeline) -> (JoinHandle<Result<FollowReport>>, Arc<Interrupt>) {
    let interrupt = Arc::new(Interrupt::default());
    let options = FollowOptions { interrupt: Some(interrupt.clone()), retries: 3, ..Default::default() };
    let p = p.clone();
    tracing::info!("no follower of `{}` runs: following here for as long as the check needs", p.name);
    (tokio::spawn(async move { follow(&p, &options).await }), interrupt)
}
