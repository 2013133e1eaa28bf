//! The keys the follower changed, kept in the target itself (docs/architecture.md,
//! "Change capture"): `converge.follow_changed` holds, per pipeline, target schema and
//! target table, every key an apply commit changed (upserted or deleted, the old and the
//! new key of a key change) with the binlog position of the last commit that changed it;
//! an empty key (`'{}'`) says the whole table changed (a `TRUNCATE`, or a child table
//! of a cascading foreign key whose parent changed: what the action did is not in the
//! binlog). Keys are the target
//! key columns' values as PostgreSQL prints them (`col::text`, in a UTF-8, UTC session),
//! in the apply's key order.
//!
//! The apply writes them in its own transaction, with the data and the position, so a
//! follower killed and restarted loses no changed key; a cut-over can then verify only
//! the rows that changed since the last online verification, and forget what that
//! verification covered (`forget_through`). A new copy starts with an empty set
//! (`forget_all`, in the load's transaction). A follower records keys only from the
//! first online verify's request on (before it, a cut-over compares every row).
//!
//! Inside an apply transaction the keys gather first in a temporary table of the
//! session (`pending_*`), since the commit's position is known only at its end.

use tokio_postgres::Client;

use crate::error::{Error, Result};
use crate::ident;
use crate::manifest::BinlogPosition;

/// The table the changed keys are kept in (created on first use).
pub const CHANGED_TABLE: &str = "\"converge\".\"follow_changed\"";

/// The session's temporary table that gathers an apply transaction's keys.
const PENDING: &str = "pg_temp.\"converge_changed\"";

/// The keys of one target table changed since they were last forgotten.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangedKeys {
    /// The target table.
    pub table: String,
    /// The whole table changed (a `TRUNCATE`, or a cascading key's action): every row is
    /// to be verified, whatever `keys` holds.
    pub whole_table: bool,
    /// The keys changed (each the key columns' text, in the apply's key order; a NULL is None).
    pub keys: Vec<Vec<Option<String>>>,
}

/// Creates the table if needed (in converge's own schema).
pub async fn ensure(client: &Client) -> Result<()> {
    client
        .batch_execute(&format!(
            "CREATE SCHEMA IF NOT EXISTS \"converge\";
             CREATE TABLE IF NOT EXISTS {CHANGED_TABLE} (
                 pipeline text NOT NULL, target_schema text NOT NULL, table_name text NOT NULL,
                 key text[] NOT NULL, file_no bigint NOT NULL, position bigint NOT NULL,
                 PRIMARY KEY (pipeline, target_schema, table_name, key))"
        ))
        .await
        .map_err(|e| Error::postgres("creating converge.follow_changed (the keys the follower changed)", &e))
}

/// Runs `q` with the pipeline and schema (and more); none when there is no table yet.
async fn query(
    client: &Client,
    q: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> Result<Vec<tokio_postgres::Row>> {
    match client.query(q, params).await {
        Ok(rows) => Ok(rows),
        Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::UNDEFINED_TABLE) => Ok(Vec::new()),
        Err(e) => Err(Error::postgres("reading converge.follow_changed", &e)),
    }
}

/// The keys changed for `pipeline` in `schema`, per table (none when there is no table).
pub async fn read(client: &Client, pipeline: &str, schema: &str) -> Result<Vec<ChangedKeys>> {
    let q = format!(
        "SELECT table_name, key FROM {CHANGED_TABLE}
          WHERE pipeline = $1 AND target_schema = $2 ORDER BY table_name, key"
    );
    let mut out: Vec<ChangedKeys> = Vec::new();
    for row in query(client, &q, &[&pipeline, &schema]).await? {
        let (table, key): (String, Vec<Option<String>>) = (row.get(0), row.get(1));
        if out.last().is_none_or(|c| c.table != table) {
            out.push(ChangedKeys { table, whole_table: false, keys: Vec::new() });
        }
        let last = out.last_mut().expect("pushed");
        if key.is_empty() {
            last.whole_table = true;
        } else {
            last.keys.push(key);
        }
    }
    Ok(out)
}

/// How many entries (keys and whole-table marks) `pipeline` in `schema` holds.
pub async fn count(client: &Client, pipeline: &str, schema: &str) -> Result<u64> {
    let q = format!("SELECT count(*) FROM {CHANGED_TABLE} WHERE pipeline = $1 AND target_schema = $2");
    let rows = query(client, &q, &[&pipeline, &schema]).await?;
    Ok(rows.first().map_or(0, |r| r.get::<_, i64>(0) as u64))
}

/// Forgets the entries last changed at or before `at` (by file number, then position):
/// a key changed again after `at` stays. Returns how many went. Rows are locked in key
/// order, as the apply's commit locks them, so a follower committing meanwhile waits
/// rather than deadlocks.
pub async fn forget_through(client: &Client, pipeline: &str, schema: &str, at: &BinlogPosition) -> Result<u64> {
    let q = format!(
        "DELETE FROM {CHANGED_TABLE} WHERE (pipeline, target_schema, table_name, key) IN (
           SELECT pipeline, target_schema, table_name, key FROM {CHANGED_TABLE}
            WHERE pipeline = $1 AND target_schema = $2 AND (file_no, position) <= ($3, $4)
            ORDER BY table_name, key FOR UPDATE)
           AND (file_no, position) <= ($3, $4)"
    );
    let (file_no, position) = (at.file_number() as i64, at.position as i64);
    forget(client, &q, &[&pipeline, &schema, &file_no, &position]).await
}

/// Forgets every entry of `pipeline` in `schema` (a new copy starts afresh).
pub async fn forget_all(client: &Client, pipeline: &str, schema: &str) -> Result<u64> {
    let q = format!("DELETE FROM {CHANGED_TABLE} WHERE pipeline = $1 AND target_schema = $2");
    forget(client, &q, &[&pipeline, &schema]).await
}

async fn forget(client: &Client, q: &str, params: &[&(dyn tokio_postgres::types::ToSql + Sync)]) -> Result<u64> {
    match client.execute(q, params).await {
        Ok(n) => Ok(n),
        Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::UNDEFINED_TABLE) => Ok(0),
        Err(e) => Err(Error::postgres("forgetting changed keys in converge.follow_changed", &e)),
    }
}

/// Creates the session's temporary table of pending keys (emptied at each commit).
pub async fn pending_create(client: &Client) -> Result<()> {
    let q = "CREATE TEMP TABLE IF NOT EXISTS \"converge_changed\" (table_name text NOT NULL, key text[] NOT NULL)
               ON COMMIT DELETE ROWS";
    client.batch_execute(q).await.map_err(|e| Error::postgres("creating the apply's table of changed keys", &e))
}

/// The statement that adds the distinct keys held in `stage` (a table with the target's
/// `key` columns) to the pending keys, under table name `$1`.
pub fn pending_from(stage: &str, key: &[String]) -> String {
    let cols: Vec<String> = key.iter().map(|k| format!("{}::text", ident::pg(k))).collect();
    format!(
        "INSERT INTO {PENDING} (table_name, key) SELECT DISTINCT $1::text, ARRAY[{}]::text[] FROM {stage}",
        cols.join(", ")
    )
}

/// Marks `table` as changed whole among the pending keys: a `TRUNCATE`, or a table the
/// target's cascading foreign keys may have changed (what the binlog does not carry).
pub async fn pending_whole_table(client: &Client, table: &str) -> Result<()> {
    let q = format!("INSERT INTO {PENDING} (table_name, key) VALUES ($1, '{{}}')");
    client
        .execute(q.as_str(), &[&table])
        .await
        .map_err(|e| Error::postgres(format!("recording `{table}` as changed whole"), &e))?;
    Ok(())
}

/// Moves the pending keys into `converge.follow_changed` at position `at`, inside the
/// apply transaction (a key already there takes the new position); the temporary table
/// empties itself at the commit. Rows go in key order, the order `forget_through` locks
/// them in. Returns how many.
pub async fn record_pending(client: &Client, pipeline: &str, schema: &str, at: &BinlogPosition) -> Result<u64> {
    let q = format!(
        "INSERT INTO {CHANGED_TABLE} (pipeline, target_schema, table_name, key, file_no, position)
         SELECT $1::text, $2::text, table_name, key, $3::bigint, $4::bigint
           FROM (SELECT DISTINCT table_name, key FROM {PENDING}) AS k ORDER BY table_name, key
         ON CONFLICT (pipeline, target_schema, table_name, key)
         DO UPDATE SET file_no = EXCLUDED.file_no, position = EXCLUDED.position"
    );
    let (file_no, position) = (at.file_number() as i64, at.position as i64);
    client
        .execute(q.as_str(), &[&pipeline, &schema, &file_no, &position])
        .await
        .map_err(|e| Error::postgres("recording the changed keys in converge.follow_changed", &e))
}
