//! The follower's loop: changes from the stream, normalised as the copy normalised
//! them, staged, and committed in whole source transactions (docs/architecture.md,
//! "Change capture").

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::mpsc;

use super::hold::Answer;
use super::metrics::Metrics;
use super::setup::{followed, Followed};
use super::{reached, FollowOptions};
use crate::change::Change;
use crate::error::{Error, Result};
use crate::manifest::BinlogPosition;
use crate::pg::connect::connect;
use crate::pipeline::spec::{Cascades, Pipeline};
use crate::sink::postgres::apply::{Applied, Applier};
use crate::source::mysql::binlog::stream::{self, FollowRequest};
use crate::source::ChangeStream;

/// Time an apply transaction stays open before a commit is due (at the next source commit).
const COMMIT_AFTER: Duration = Duration::from_millis(500);
/// A source commit waits at most this long for more to join its apply transaction.
const QUIET: Duration = Duration::from_millis(100);
/// Rows per change batch the stream hands on.
const STREAM_BATCH_ROWS: usize = 8_192;

/// What the follower applied.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Stats {
    /// Row changes applied.
    pub changes: u64,
    /// Source transactions applied.
    pub source_commits: u64,
    /// PostgreSQL transactions that applied them.
    pub apply_commits: u64,
    /// Apply batches replayed in source order.
    pub replayed: u64,
    /// Per target table: rows deleted, rows upserted.
    pub tables: Vec<(String, u64, u64)>,
    /// Seconds between receiving a source commit and applying it, at the end (0 when idle).
    pub lag_seconds: f64,
    /// The largest such lag seen.
    pub max_lag_seconds: f64,
    /// Seconds from the start of the first stream to the last apply commit (across
    /// reconnects).
    pub busy_seconds: f64,
    /// Target sequences moved to MySQL's `AUTO_INCREMENT` counter when the follower
    /// stopped (the binlog does not carry the counter).
    pub sequences_moved: u64,
    #[serde(skip)]
    since: Option<Instant>,
}

impl Stats {
    /// Row changes per second while busy.
    pub fn changes_per_second(&self) -> f64 {
        if self.busy_seconds > 0.0 {
            self.changes as f64 / self.busy_seconds
        } else {
            0.0
        }
    }

    fn add(&mut self, a: &Applied, commits: u64, lag: f64) {
        self.changes += a.changes;
        self.source_commits += commits;
        self.apply_commits += 1;
        self.replayed += u64::from(a.replayed);
        for (t, d, u) in &a.tables {
            match self.tables.iter_mut().find(|x| &x.0 == t) {
                Some(x) => (x.1, x.2) = (x.1 + d, x.2 + u),
                None => self.tables.push((t.clone(), *d, *u)),
            }
        }
        self.lag_seconds = lag;
        self.max_lag_seconds = self.max_lag_seconds.max(lag);
    }
}

/// A follower's connections and tables.
pub(super) struct Session<'a> {
    p: &'a Pipeline,
    url: String,
    server_id: u32,
    options: &'a FollowOptions,
    tables: Vec<Followed>,
    applier: Applier,
    /// When progress was last printed (once a second at most).
    printed: Option<Instant>,
    metrics: Arc<Metrics>,
    /// When the server's position was last read (for the bytes behind).
    measured: Option<Instant>,
    /// Row changes gathered before an apply commit is due (`[follow] batch_changes`).
    batch_changes: u64,
    /// The hold request being answered (`verify --online`, `repair`, `cutover`).
    answer: Answer,
    /// Changed keys are recorded: a hold was asked, or a proof exists (see `keys_needed`).
    record_keys: bool,
}

/// The apply transaction being filled.
#[derive(Default)]
struct Open {
    /// Rows taken since the last source commit (a commit is not due inside a transaction).
    inside: bool,
    /// The last source commit taken, and its time on the source.
    last: Option<(BinlogPosition, u32)>,
    /// Source commits taken since the last apply commit.
    commits: u64,
    /// When the first of them arrived, and when the transaction opened.
    first_commit: Option<Instant>,
    opened: Option<Instant>,
}

impl<'a> Session<'a> {
    /// Plans the pipeline, refuses what the preflight refuses, opens the apply.
    pub async fn prepare(
        p: &'a Pipeline,
        url: &str,
        server_id: u32,
        options: &'a FollowOptions,
        metrics: Arc<Metrics>,
    ) -> Result<Session<'a>> {
        let (opened, plan, target) = crate::run::plan(p).await?;
        let target_tables = target.as_ref().map(|t| &t.load.tables[..]);
        let ready = crate::pipeline::follow::refuse_unless_ready(p, &opened, &plan, target_tables).await;
        opened.close().await;
        ready?;
        let target = target
            .ok_or_else(|| Error::other("`converge follow` applies to a postgres sink; the pipeline has none"))?;
        let tables = followed(&plan, &target)?;
        drop(target);
        let applier = open_applier(p, &tables).await?;
        let sink = p.postgres().ok_or_else(|| Error::other("`converge follow` needs a postgres sink"))?;
        // Read inside apply transactions: it must exist (a missing table aborts them).
        crate::pg::hold::ensure(applier.client()).await?;
        let answer = Answer::new(&p.name, sink.schema(), &sink.url);
        Ok(Session {
            p,
            url: url.to_string(),
            server_id,
            options,
            tables,
            applier,
            printed: None,
            metrics,
            measured: None,
            batch_changes: p.follow.as_ref().map_or(50_000, |f| f.batch_changes.max(1)),
            answer,
            record_keys: false,
        })
    }

    /// The position the target stores, as it is (also after a cut-over: the follower
    /// the cut-over stopped reports where it ended).
    pub async fn position(&self) -> Result<crate::pg::state::FollowState> {
        self.applier.stored().await?.ok_or_else(|| {
            Error::other(format!(
                "the target holds no followed position for pipeline `{}`: run its copy (with [follow]) first",
                self.p.name
            ))
        })
    }

    /// The position the target stores, to apply from: refused once the pipeline was cut over.
    pub async fn stored(&self) -> Result<crate::pg::state::FollowState> {
        let stored = self.position().await?;
        if let Some(when) = &stored.cut_over_at {
            return Err(Error::other(format!(
                "pipeline `{}` was cut over to PostgreSQL at {when} (source position {}): following again would \
                 apply MySQL's writes over PostgreSQL's; a new copy (`converge run`) starts afresh",
                self.p.name, stored.at
            )));
        }
        Ok(stored)
    }

    /// The follower is done: its lock is given up at once.
    pub async fn release(&mut self) {
        if let Err(e) = self.applier.unlock().await {
            tracing::warn!("follow: {e}");
        }
    }

    /// A new apply connection (the old one may be gone).
    pub async fn reconnect(&mut self) -> Result<()> {
        self.applier = open_applier(self.p, &self.tables).await?;
        self.applier.record_keys(self.record_keys);
        Ok(())
    }

    /// Whether a changed key could be needed by a cut-over: a hold was asked (an online
    /// verify may prove the target at its position) or a proof exists. Until then the
    /// cut-over compares every row, and recording keys would only slow the catch-up.
    /// The request is read before the proof: an online verify records its proof before
    /// it withdraws its request, so a follower starting in between sees one of the two.
    async fn keys_needed(&self) -> Result<bool> {
        let schema = self.p.postgres().map_or("public", |s| s.schema());
        let asked = crate::pg::hold::read(self.applier.client(), &self.p.name, schema).await?.is_some();
        Ok(asked || self.stored().await?.proven.is_some())
    }

    /// Streams from the stored position until caught up (when asked) or a signal;
    /// returns why it stopped.
    pub async fn run(&mut self, stats: &mut Stats) -> Result<String> {
        self.record_keys = self.record_keys || self.keys_needed().await?;
        self.applier.record_keys(self.record_keys);
        let from = self.stored().await?.at;
        let until = match self.options.until_caught_up {
            true => Some(stream::server_position(&self.url).await?),
            false => None,
        };
        if until.as_ref().is_some_and(|u| reached(&from, u)) {
            return Ok("caught up".into());
        }
        let specs = self.tables.iter().map(|t| t.spec.clone()).collect();
        let req = FollowRequest {
            url: self.url.clone(),
            database: database_of(&self.url)?,
            specs,
            from,
            server_id: self.server_id,
            heartbeat_secs: 1.0,
            batch_rows: STREAM_BATCH_ROWS,
        };
        let (mut rx, reader) = spawn_stream(stream::open(req).await?);
        let ended = self.pump(&mut rx, until.as_ref(), stats).await;
        reader.abort();
        if ended.is_err() {
            let _ = self.applier.rollback().await;
        }
        let ended = ended?;
        stats.sequences_moved += self.sync_counters().await?;
        Ok(ended)
    }

    /// The target's sequences to MySQL's `AUTO_INCREMENT` counters, read now.
    async fn sync_counters(&mut self) -> Result<u64> {
        let (opts, database) = crate::mysql::parse_url(&self.url)?;
        let mut conn = mysql_async::Conn::new(opts).await.map_err(|e| Error::mysql("connecting to the source", e))?;
        let counters = crate::mysql::counters(&mut conn, &database).await;
        let _ = conn.disconnect().await;
        self.applier.advance_to_counters(&counters?).await
    }

    async fn pump(
        &mut self,
        rx: &mut mpsc::Receiver<Result<Change>>,
        until: Option<&BinlogPosition>,
        stats: &mut Stats,
    ) -> Result<String> {
        let mut open = Open::default();
        let started = Instant::now();
        loop {
            if self.answer.due() {
                if let Some(stop) = self.answer_hold(&mut open, stats, started).await? {
                    return Ok(stop);
                }
            }
            let next = tokio::select! {
                s = crate::run::signalled(&self.options.interrupt) => {
                    self.applier.rollback().await?;
                    return Ok(format!("stopped by {s}"));
                }
                n = tokio::time::timeout(QUIET, rx.recv()) => n,
            };
            let change = match next {
                Err(_) => {
                    self.commit_due(&mut open, stats, started).await?;
                    continue;
                }
                Ok(None) => return Err(Error::other("the binlog stream ended")),
                Ok(Some(change)) => change?,
            };
            if let Some(done) = self.take(change, &mut open, until, stats, started).await? {
                return Ok(done);
            }
        }
    }

    /// Takes one change; returns why to stop, when it is time to.
    async fn take(
        &mut self,
        change: Change,
        open: &mut Open,
        until: Option<&BinlogPosition>,
        stats: &mut Stats,
        started: Instant,
    ) -> Result<Option<String>> {
        open.opened.get_or_insert_with(Instant::now);
        let stop = |at: &BinlogPosition, answer: &Answer| answer.stop_at().is_some_and(|p| reached(at, p));
        match change {
            // Nothing after this point is in the source's state at a position before it.
            Change::Begin { at } if stop(&at, &self.answer) => return self.arrive(open, stats, started).await,
            Change::Begin { .. } => {}
            Change::Rows(tc) => {
                let t = self.tables.iter_mut().find(|t| t.spec.table.name == tc.table).ok_or_else(|| {
                    Error::other(format!("the stream sent a change of `{}`, which is not followed", tc.table))
                })?;
                let rows = t.normalizer.apply(&tc.rows)?;
                self.applier.stage(&tc.table, tc.ops, rows, tc.changes).await?;
                open.inside = true;
            }
            Change::Truncate { table } => {
                self.applier.truncate(&table).await?;
                self.metrics.truncated(&table);
                open.inside = true;
            }
            Change::Commit { at, timestamp } => {
                let done = until.is_some_and(|u| reached(&at, u));
                let stop = stop(&at, &self.answer);
                open.inside = false;
                open.commits += 1;
                open.first_commit.get_or_insert_with(Instant::now);
                open.last = Some((at, timestamp));
                let due = self.applier.pending() >= self.batch_changes
                    || open.opened.is_some_and(|o| o.elapsed() >= COMMIT_AFTER);
                if due || done || stop {
                    self.commit_due(open, stats, started).await?;
                }
                if stop {
                    if let Some(stopped) = self.arrive(open, stats, started).await? {
                        return Ok(Some(stopped));
                    }
                }
                if done {
                    return Ok(Some("caught up".into()));
                }
            }
            Change::Idle { at } => {
                let stop = stop(&at, &self.answer);
                self.commit_due(open, stats, started).await?;
                self.metrics.lag(0.0);
                self.metrics.behind(Some(0));
                if open.last.is_none() && !open.inside {
                    self.store_idle(&at).await?;
                }
                if stop {
                    if let Some(stopped) = self.arrive(open, stats, started).await? {
                        return Ok(Some(stopped));
                    }
                }
                if until.is_some() {
                    return Ok(Some("caught up".into()));
                }
            }
        }
        Ok(None)
    }

    /// Looks at the hold request; asked to hold and between source transactions, commits
    /// what was taken and holds until the asker's position comes (Some: a signal came
    /// meanwhile).
    async fn answer_hold(&mut self, open: &mut Open, stats: &mut Stats, started: Instant) -> Result<Option<String>> {
        self.answer.poll(self.applier.client()).await?;
        if self.answer.asked() && !self.record_keys {
            // From here on a proof may come, at a position not yet applied.
            self.record_keys = true;
            self.applier.record_keys(true);
        }
        if !self.answer.asked() || open.inside {
            return Ok(None);
        }
        self.commit_due(open, stats, started).await?;
        let stored = self.stored().await?.at;
        let signal = self.answer.hold(self.applier.client(), &stored, &self.options.interrupt).await?;
        Ok(signal.map(|s| format!("stopped by {s}")))
    }

    /// The asked position is reached: commits what was taken (all of it before the
    /// position) and exports the target's snapshot there.
    async fn arrive(&mut self, open: &mut Open, stats: &mut Stats, started: Instant) -> Result<Option<String>> {
        self.commit_due(open, stats, started).await?;
        let signal = self.answer.arrive(self.applier.client(), &self.options.interrupt).await?;
        Ok(signal.map(|s| format!("stopped by {s}")))
    }

    /// Commits the source transactions taken, when not inside one.
    async fn commit_due(&mut self, open: &mut Open, stats: &mut Stats, started: Instant) -> Result<()> {
        if open.inside {
            return Ok(());
        }
        let Some((at, ts)) = open.last.take() else { return Ok(()) };
        let applied = self.applier.commit(&at, Some(ts)).await?;
        let lag = open.first_commit.map_or(0.0, |f| f.elapsed().as_secs_f64());
        stats.add(&applied, open.commits, lag);
        self.observe(&applied, &at, ts, lag).await;
        stats.busy_seconds = stats.since.get_or_insert(started).elapsed().as_secs_f64();
        *open = Open::default();
        if self.options.progress && self.printed.is_none_or(|p| p.elapsed() >= Duration::from_secs(1)) {
            self.printed = Some(Instant::now());
            eprintln!(
                "follow: {} changes applied ({:.0}/s), lag {:.1} s, at {at}",
                stats.changes,
                stats.changes_per_second(),
                lag
            );
        }
        Ok(())
    }

    /// The metrics of one apply commit; every 5 s also the bytes the server is ahead.
    async fn observe(&mut self, applied: &Applied, at: &BinlogPosition, ts: u32, lag: f64) {
        for (t, d, u) in &applied.tables {
            self.metrics.applied(t, *u, *d);
        }
        if applied.replayed {
            self.metrics.replayed();
        }
        self.metrics.committed(at, lag);
        self.metrics.source_time(ts.into());
        if self.measured.is_none_or(|m| m.elapsed() >= Duration::from_secs(5)) {
            self.measured = Some(Instant::now());
            if let Ok(server) = stream::server_position(&self.url).await {
                let same = server.file == at.file;
                self.metrics.behind(same.then(|| server.position.saturating_sub(at.position)));
            }
        }
    }

    /// An idle source past the stored position: the position moves on (skipped events
    /// of other tables are not read again after a restart).
    async fn store_idle(&mut self, at: &BinlogPosition) -> Result<()> {
        let stored = self.stored().await?.at;
        if at.file.is_empty() || reached(&stored, at) {
            return Ok(());
        }
        self.applier.commit(at, None).await.map(|_| ())
    }
}

async fn open_applier(p: &Pipeline, tables: &[Followed]) -> Result<Applier> {
    let sink = p.postgres().ok_or_else(|| Error::other("`converge follow` needs a postgres sink"))?;
    let client = connect(&sink.url).await?;
    let apply = tables.iter().map(|t| t.apply.clone()).collect();
    let mut applier = Applier::open(client, sink.schema(), &p.name, apply).await?;
    if p.follow.as_ref().is_some_and(|f| f.cascades == Cascades::Target) {
        let parents = applier.let_cascades_act().await?;
        if !parents.is_empty() {
            tracing::info!("follow: the target's cascading keys act on changes of {}", parents.join(", "));
        }
    }
    Ok(applier)
}

/// The database the source URL names.
fn database_of(url: &str) -> Result<String> {
    crate::mysql::parse_url(url).map(|(_, db)| db)
}

/// Reads the stream on its own task, so that waiting for it can time out without
/// losing an event half-read.
fn spawn_stream(mut s: stream::BinlogChanges) -> (mpsc::Receiver<Result<Change>>, tokio::task::JoinHandle<()>) {
    let (tx, rx) = mpsc::channel(64);
    let task = tokio::spawn(async move {
        loop {
            let item = s.next().await;
            let failed = item.is_err();
            if tx.send(item).await.is_err() || failed {
                break;
            }
        }
        Box::new(s).close().await;
    });
    (rx, task)
}
