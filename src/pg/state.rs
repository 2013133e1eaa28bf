//! The per-table load's memory, kept in the target itself: `converge.load_state` holds,
//! per pipeline, schema and table, the rows committed and the run that committed them.
//! Each table's row is written in the same transaction as its data, so the state can
//! never claim a table the target does not hold (or miss one it does). A rerun does not
//! trust it blindly: each committed table is compared with the source in the new
//! snapshot (count and content digest) before it is skipped.

use tokio_postgres::Client;

use crate::error::{Error, Result};

/// The table `converge` keeps its per-table state in (created on first use).
pub const STATE_TABLE: &str = "\"converge\".\"load_state\"";

/// One table a per-table load committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    /// The table.
    pub table: String,
    /// Rows committed.
    pub rows: u64,
    /// The run that committed it.
    pub migration_id: String,
}

/// Creates the state table if needed (in its own schema, `converge`).
pub async fn ensure(client: &Client) -> Result<()> {
    client
        .batch_execute(&format!(
            "CREATE SCHEMA IF NOT EXISTS \"converge\";
             CREATE TABLE IF NOT EXISTS {STATE_TABLE} (
                 pipeline text NOT NULL, target_schema text NOT NULL, table_name text NOT NULL,
                 rows bigint NOT NULL, migration_id text NOT NULL,
                 committed_at timestamptz NOT NULL DEFAULT now(),
                 PRIMARY KEY (pipeline, target_schema, table_name))"
        ))
        .await
        .map_err(|e| Error::postgres("creating converge.load_state (per-table mode's state)", &e))
}

/// The tables committed for `pipeline` into `schema` (none when there is no state table).
pub async fn read(client: &Client, pipeline: &str, schema: &str) -> Result<Vec<Committed>> {
    let exists: bool = client
        .query_one("SELECT to_regclass('\"converge\".\"load_state\"') IS NOT NULL", &[])
        .await
        .map_err(|e| Error::postgres("looking for converge.load_state", &e))?
        .get(0);
    if !exists {
        return Ok(Vec::new());
    }
    let rows = client
        .query(
            &format!(
                "SELECT table_name, rows, migration_id FROM {STATE_TABLE}
                 WHERE pipeline = $1 AND target_schema = $2 ORDER BY table_name"
            ),
            &[&pipeline, &schema],
        )
        .await
        .map_err(|e| Error::postgres("reading converge.load_state", &e))?;
    Ok(rows
        .iter()
        .map(|r| Committed { table: r.get(0), rows: r.get::<_, i64>(1) as u64, migration_id: r.get(2) })
        .collect())
}

/// Records `table` as committed, inside the transaction that loads it.
pub async fn record(client: &Client, pipeline: &str, schema: &str, c: &Committed) -> Result<()> {
    client
        .execute(
            &format!(
                "INSERT INTO {STATE_TABLE} (pipeline, target_schema, table_name, rows, migration_id)
                 VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (pipeline, target_schema, table_name)
                 DO UPDATE SET rows = EXCLUDED.rows, migration_id = EXCLUDED.migration_id, committed_at = now()"
            ),
            &[&pipeline, &schema, &c.table, &(c.rows as i64), &c.migration_id],
        )
        .await
        .map_err(|e| Error::postgres(format!("recording `{}` in converge.load_state", c.table), &e))?;
    Ok(())
}

/// Forgets `tables` (they are about to be loaded again), inside the load's transaction.
pub async fn forget(client: &Client, pipeline: &str, schema: &str, tables: &[String]) -> Result<()> {
    client
        .execute(
            &format!("DELETE FROM {STATE_TABLE} WHERE pipeline = $1 AND target_schema = $2 AND table_name = ANY($3)"),
            &[&pipeline, &schema, &tables],
        )
        .await
        .map_err(|e| Error::postgres("updating converge.load_state", &e))?;
    Ok(())
}

/// The table the snapshot's binlog position is kept in, for the follower.
pub const FOLLOW_TABLE: &str = "\"converge\".\"follow_state\"";

/// Records, inside the load's own transaction, the binlog position the loaded snapshot
/// was taken at: committed with the data, so the target never claims a position its
/// rows are not at. One row per pipeline and target schema. The keys a follower of an
/// earlier copy changed are forgotten in the same transaction (`pg::changed`): the new
/// snapshot starts with none.
pub async fn record_follow(
    client: &Client,
    pipeline: &str,
    schema: &str,
    migration_id: &str,
    at: &crate::manifest::BinlogPosition,
) -> Result<()> {
    client
        .batch_execute(&format!(
            "CREATE SCHEMA IF NOT EXISTS \"converge\";
             CREATE TABLE IF NOT EXISTS {FOLLOW_TABLE} (
                 pipeline text NOT NULL, target_schema text NOT NULL,
                 binlog_file text NOT NULL, binlog_position bigint NOT NULL, gtid text,
                 migration_id text NOT NULL, recorded_at timestamptz NOT NULL DEFAULT now(),
                 PRIMARY KEY (pipeline, target_schema));
             {COLUMNS}"
        ))
        .await
        .map_err(|e| Error::postgres("creating converge.follow_state", &e))?;
    client
        .execute(
            &format!(
                "INSERT INTO {FOLLOW_TABLE} (pipeline, target_schema, binlog_file, binlog_position, gtid, migration_id)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (pipeline, target_schema) DO UPDATE SET binlog_file = EXCLUDED.binlog_file,
                 binlog_position = EXCLUDED.binlog_position, gtid = EXCLUDED.gtid,
                 migration_id = EXCLUDED.migration_id, recorded_at = now(), changes_applied = 0,
                 applied_at = NULL, source_commit_at = NULL, proven_file = NULL, proven_position = NULL,
                 proven_at = NULL, cut_over_at = NULL"
            ),
            &[&pipeline, &schema, &at.file, &(at.position as i64), &at.gtid, &migration_id],
        )
        .await
        .map_err(|e| Error::postgres("recording the binlog position in converge.follow_state", &e))?;
    super::changed::ensure(client).await?;
    super::changed::forget_all(client, pipeline, schema).await?;
    Ok(())
}

/// The columns added to `converge.follow_state` after its first version.
const COLUMNS: &str = "ALTER TABLE \"converge\".\"follow_state\"
    ADD COLUMN IF NOT EXISTS changes_applied bigint NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS applied_at timestamptz, ADD COLUMN IF NOT EXISTS source_commit_at timestamptz,
    ADD COLUMN IF NOT EXISTS proven_file text, ADD COLUMN IF NOT EXISTS proven_position bigint,
    ADD COLUMN IF NOT EXISTS proven_at timestamptz, ADD COLUMN IF NOT EXISTS cut_over_at timestamptz";

/// Records that the target equalled the source at `at` (an online verify passed there).
pub async fn record_proof(
    client: &Client,
    pipeline: &str,
    schema: &str,
    at: &crate::manifest::BinlogPosition,
) -> Result<()> {
    client.batch_execute(COLUMNS).await.map_err(|e| Error::postgres("updating converge.follow_state", &e))?;
    let q = format!(
        "UPDATE {FOLLOW_TABLE} SET proven_file = $3, proven_position = $4, proven_at = now()
          WHERE pipeline = $1 AND target_schema = $2"
    );
    client
        .execute(q.as_str(), &[&pipeline, &schema, &at.file, &(at.position as i64)])
        .await
        .map_err(|e| Error::postgres("recording a proof in converge.follow_state", &e))?;
    Ok(())
}

/// Records that the pipeline was cut over: a follower will not apply to it again.
pub async fn record_cut_over(client: &Client, pipeline: &str, schema: &str) -> Result<()> {
    client.batch_execute(COLUMNS).await.map_err(|e| Error::postgres("updating converge.follow_state", &e))?;
    let q = format!("UPDATE {FOLLOW_TABLE} SET cut_over_at = now() WHERE pipeline = $1 AND target_schema = $2");
    client
        .execute(q.as_str(), &[&pipeline, &schema])
        .await
        .map_err(|e| Error::postgres("recording the cut-over in converge.follow_state", &e))?;
    Ok(())
}

/// What `converge.follow_state` holds for a pipeline and target schema.
#[derive(Debug, Clone, PartialEq)]
pub struct FollowState {
    /// The position the target's rows are at: resume from here.
    pub at: crate::manifest::BinlogPosition,
    /// Row changes applied since the copy.
    pub changes_applied: u64,
    /// The migration (run) whose copy started the follow.
    pub migration_id: String,
    /// The last position an online verify proved the target at, since the copy.
    pub proven: Option<crate::manifest::BinlogPosition>,
    /// When the pipeline was cut over (the follower does not apply to it again).
    pub cut_over_at: Option<String>,
}

/// The stored position, or None when the pipeline's copy recorded none.
pub async fn read_follow(client: &Client, pipeline: &str, schema: &str) -> Result<Option<FollowState>> {
    let q = format!(
        "SELECT binlog_file, binlog_position, gtid, migration_id,
                COALESCE((to_jsonb(f) ->> 'changes_applied')::bigint, 0),
                to_jsonb(f) ->> 'proven_file', (to_jsonb(f) ->> 'proven_position')::bigint,
                to_jsonb(f) ->> 'cut_over_at'
           FROM {FOLLOW_TABLE} AS f WHERE pipeline = $1 AND target_schema = $2"
    );
    let rows = match client.query(q.as_str(), &[&pipeline, &schema]).await {
        Ok(rows) => rows,
        Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::UNDEFINED_TABLE) => return Ok(None),
        Err(e) => return Err(Error::postgres("reading converge.follow_state", &e)),
    };
    Ok(rows.first().map(|r| FollowState {
        at: crate::manifest::BinlogPosition { file: r.get(0), position: r.get::<_, i64>(1) as u64, gtid: r.get(2) },
        migration_id: r.get(3),
        changes_applied: r.get::<_, i64>(4) as u64,
        proven: r
            .get::<_, Option<String>>(5)
            .zip(r.get::<_, Option<i64>>(6))
            .map(|(file, p)| crate::manifest::BinlogPosition { file, position: p as u64, gtid: None }),
        cut_over_at: r.get(7),
    }))
}

/// Moves the stored position to `at` and counts `changes`, inside the caller's open
/// transaction (the one that applied them).
pub async fn advance_follow(
    client: &Client,
    pipeline: &str,
    schema: &str,
    at: &crate::manifest::BinlogPosition,
    changes: u64,
    source_commit: Option<u32>,
) -> Result<()> {
    let q = format!(
        "UPDATE {FOLLOW_TABLE} f SET binlog_file = $3, binlog_position = $4, gtid = NULL,
                changes_applied = changes_applied + $5, applied_at = now(),
                source_commit_at = COALESCE(to_timestamp($6::bigint::double precision), source_commit_at)
          WHERE pipeline = $1 AND target_schema = $2 AND to_jsonb(f) ->> 'cut_over_at' IS NULL"
    );
    let commit = source_commit.map(i64::from);
    let n = client
        .execute(q.as_str(), &[&pipeline, &schema, &at.file, &(at.position as i64), &(changes as i64), &commit])
        .await
        .map_err(|e| Error::postgres("storing the applied position in converge.follow_state", &e))?;
    if n != 1 {
        return Err(Error::other(format!(
            "converge.follow_state holds no row for pipeline `{pipeline}` and schema `{schema}` any more, or \
             the pipeline was cut over to PostgreSQL: nothing more is applied to it"
        )));
    }
    Ok(())
}
