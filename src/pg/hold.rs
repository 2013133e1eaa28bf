//! A request that a running follower stop at a source position, kept in the target
//! (`converge.follow_hold`), so that `verify --online`, `repair` and `cutover` can
//! coordinate with a follower in another process (docs/architecture.md, "Proving while
//! live").
//!
//! One request per pipeline and schema, through these states:
//! `hold` (asked) → `holding` (the follower committed at a source-commit boundary and
//! waits; `held_*` is its position) → `until` (the asker took its source snapshot at
//! `until_*`) → `reached` (the follower applied exactly up to that position and exported
//! a target snapshot there, `snapshot`). The asker deletes the row when it is done with
//! the snapshot; a follower that `stays` waits for that before it goes on, one that does
//! not goes on at once and keeps the exported snapshot open until then. Either side
//! gives up on a request the other left (`abandoned`, with the reason).

use tokio_postgres::Client;

use crate::error::{Error, Result};
use crate::manifest::BinlogPosition;

/// The request table.
pub const HOLD_TABLE: &str = "\"converge\".\"follow_hold\"";

/// The advisory lock a follower holds while it applies to a pipeline's schema (one
/// follower at a time): `pg_try_advisory_lock(hashtext(this))`.
pub fn follower_lock(pipeline: &str, schema: &str) -> String {
    format!("converge follow {pipeline} {schema}")
}

/// Whether a follower of the pipeline is applying to `schema` now (it holds the lock).
pub async fn follower_running(client: &Client, pipeline: &str, schema: &str) -> Result<bool> {
    let q = "SELECT pg_try_advisory_lock(hashtext($1))";
    let key = follower_lock(pipeline, schema);
    let free: bool =
        client.query_one(q, &[&key]).await.map_err(|e| Error::postgres("asking whether a follower runs", &e))?.get(0);
    if free {
        client
            .execute("SELECT pg_advisory_unlock(hashtext($1))", &[&key])
            .await
            .map_err(|e| Error::postgres("asking whether a follower runs", &e))?;
    }
    Ok(!free)
}

/// One request, as the table holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct Hold {
    /// The asker's id for it.
    pub id: String,
    /// Who asks: `verify`, `repair`, `cutover`.
    pub purpose: String,
    /// `hold`, `holding`, `until`, `reached`, `done` or `abandoned`.
    pub state: String,
    /// The follower waits at the position until the request is gone.
    pub stay: bool,
    /// Where the follower holds.
    pub held: Option<BinlogPosition>,
    /// The position to apply up to.
    pub until: Option<BinlogPosition>,
    /// The target snapshot exported at `until`.
    pub snapshot: Option<String>,
    /// Why a side gave up.
    pub message: Option<String>,
    /// Seconds since a side last wrote it.
    pub age_seconds: f64,
}

/// Creates the request table if needed.
pub async fn ensure(client: &Client) -> Result<()> {
    client
        .batch_execute(&format!(
            "CREATE SCHEMA IF NOT EXISTS \"converge\";
             CREATE TABLE IF NOT EXISTS {HOLD_TABLE} (
                 pipeline text NOT NULL, target_schema text NOT NULL, id text NOT NULL, purpose text NOT NULL,
                 state text NOT NULL, stay boolean NOT NULL,
                 held_file text, held_position bigint, until_file text, until_position bigint,
                 snapshot text, message text, updated_at timestamptz NOT NULL DEFAULT clock_timestamp(),
                 PRIMARY KEY (pipeline, target_schema))"
        ))
        .await
        .map_err(|e| Error::postgres("creating converge.follow_hold", &e))
}

/// Requests not written for this long are taken as left by a process that died.
pub const STALE_SECONDS: f64 = 600.0;

/// Asks the follower to hold; refuses while another live request is open.
pub async fn post(client: &Client, pipeline: &str, schema: &str, id: &str, purpose: &str, stay: bool) -> Result<()> {
    ensure(client).await?;
    if let Some(h) = read(client, pipeline, schema).await? {
        if h.state != "abandoned" && h.age_seconds < STALE_SECONDS {
            return Err(Error::other(format!(
                "a {} is already holding the follower of `{pipeline}` (request {}, {}): one at a time",
                h.purpose, h.id, h.state
            )));
        }
        forget(client, pipeline, schema, &h.id).await?;
    }
    let q = format!(
        "INSERT INTO {HOLD_TABLE} (pipeline, target_schema, id, purpose, state, stay) VALUES ($1, $2, $3, $4, 'hold', $5)"
    );
    client
        .execute(q.as_str(), &[&pipeline, &schema, &id, &purpose, &stay])
        .await
        .map_err(|e| Error::postgres("asking the follower to hold", &e))?;
    Ok(())
}

/// The open request, if any (None as well when the table does not exist yet).
pub async fn read(client: &Client, pipeline: &str, schema: &str) -> Result<Option<Hold>> {
    let q = format!(
        "SELECT id, purpose, state, stay, held_file, held_position, until_file, until_position, snapshot, message,
                extract(epoch FROM clock_timestamp() - updated_at)::float8
           FROM {HOLD_TABLE} WHERE pipeline = $1 AND target_schema = $2"
    );
    let rows = match client.query(q.as_str(), &[&pipeline, &schema]).await {
        Ok(rows) => rows,
        Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::UNDEFINED_TABLE) => return Ok(None),
        Err(e) => return Err(Error::postgres("reading converge.follow_hold", &e)),
    };
    let at = |file: Option<String>, pos: Option<i64>| {
        file.zip(pos).map(|(file, p)| BinlogPosition { file, position: p as u64, gtid: None })
    };
    Ok(rows.first().map(|r| Hold {
        id: r.get(0),
        purpose: r.get(1),
        state: r.get(2),
        stay: r.get(3),
        held: at(r.get(4), r.get(5)),
        until: at(r.get(6), r.get(7)),
        snapshot: r.get(8),
        message: r.get(9),
        age_seconds: r.get(10),
    }))
}

/// Moves request `id` from state `from` to the next step; false when the request is
/// gone or in another state (the other side gave up, or a new request replaced it).
pub async fn advance(
    client: &Client,
    pipeline: &str,
    schema: &str,
    id: &str,
    from: &str,
    to: Step<'_>,
) -> Result<bool> {
    let set = |state: &str, what: &str| {
        format!(
            "UPDATE {HOLD_TABLE} SET state = '{state}', {what}, updated_at = clock_timestamp()
              WHERE pipeline = $1 AND target_schema = $2 AND id = $3 AND state = $4"
        )
    };
    let head: [&(dyn tokio_postgres::types::ToSql + Sync); 4] = [&pipeline, &schema, &id, &from];
    let n = match to {
        Step::Holding(at) | Step::Until(at) => {
            let (state, cols) = match to {
                Step::Holding(_) => ("holding", "held_file = $5, held_position = $6"),
                _ => ("until", "until_file = $5, until_position = $6"),
            };
            let pos = at.position as i64;
            let params = [head[0], head[1], head[2], head[3], &at.file, &pos];
            client.execute(set(state, cols).as_str(), &params).await
        }
        Step::Done => client.execute(set("done", "message = 'cut over'").as_str(), &head).await,
        Step::Reached(text) | Step::Abandoned(text) => {
            let (state, col) = match to {
                Step::Reached(_) => ("reached", "snapshot = $5"),
                _ => ("abandoned", "message = $5"),
            };
            let params = [head[0], head[1], head[2], head[3], &text];
            client.execute(set(state, col).as_str(), &params).await
        }
    }
    .map_err(|e| Error::postgres("answering converge.follow_hold", &e))?;
    Ok(n == 1)
}

/// A request's next state.
#[derive(Debug, Clone, Copy)]
pub enum Step<'a> {
    /// The follower holds at this position.
    Holding(&'a BinlogPosition),
    /// Apply up to this position.
    Until(&'a BinlogPosition),
    /// Applied up to it; the target snapshot there.
    Reached(&'a str),
    /// Given up, and why.
    Abandoned(&'a str),
    /// The pipeline was cut over at the position: the follower stops.
    Done,
}

/// Removes request `id` (the asker is done with it).
pub async fn forget(client: &Client, pipeline: &str, schema: &str, id: &str) -> Result<()> {
    let q = format!("DELETE FROM {HOLD_TABLE} WHERE pipeline = $1 AND target_schema = $2 AND id = $3");
    match client.execute(q.as_str(), &[&pipeline, &schema, &id]).await {
        Ok(_) => Ok(()),
        Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::UNDEFINED_TABLE) => Ok(()),
        Err(e) => Err(Error::postgres("ending a converge.follow_hold request", &e)),
    }
}
