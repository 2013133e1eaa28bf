//! Applying what is staged (docs/architecture.md, "Change capture"): per table, the
//! last change of each key wins (set-based `DELETE`, then `INSERT … ON CONFLICT DO
//! UPDATE`); when PostgreSQL's row-by-row unique checks refuse a valid final state (two
//! rows swapping a unique value), the staged changes are replayed one by one in source
//! order instead, as MySQL applied them.

use tokio_postgres::Client;

use super::stage::{Staged, OP, SEQ};
use crate::error::{Error, Result};
use crate::ident;
use crate::ident::pg_qualified as qualified;
use crate::pg::changed;

/// The SQL that applies one table's staged changes.
pub(super) struct MergeSql {
    /// Deletes every key whose last change is a delete.
    pub delete: String,
    /// Upserts every key whose last change is an upsert.
    pub upsert: String,
    /// Deletes the key of staged change `$1`.
    pub delete_one: String,
    /// Upserts staged change `$1`.
    pub upsert_one: String,
    /// Moves each sequence past the largest key staged.
    pub sequences: Vec<String>,
    /// Adds every key staged (old and new keys alike) to the transaction's changed keys
    /// (`$1`: the target table's name).
    pub changed: String,
}

impl MergeSql {
    pub fn new(s: &Staged, schema: &str) -> MergeSql {
        let t = &s.table;
        let target = qualified(schema, &t.target);
        let keys: Vec<String> = t.key.iter().map(|k| ident::pg(k)).collect();
        let cols: Vec<String> = t.columns.iter().map(|c| ident::pg(&c.name)).collect();
        let (seq, op, stage) = (ident::pg(SEQ), ident::pg(OP), &s.stage);
        let last =
            format!("(SELECT DISTINCT ON ({k}) * FROM {stage} ORDER BY {k}, {seq} DESC) AS last", k = keys.join(", "));
        let join: Vec<String> = keys.iter().map(|k| format!("t.{k} = last.{k}")).collect();
        let join = join.join(" AND ");
        let set: Vec<String> =
            cols.iter().filter(|c| !keys.contains(c)).map(|c| format!("{c} = EXCLUDED.{c}")).collect();
        let conflict = if set.is_empty() {
            format!("ON CONFLICT ({}) DO NOTHING", keys.join(", "))
        } else {
            format!("ON CONFLICT ({}) DO UPDATE SET {}", keys.join(", "), set.join(", "))
        };
        let list = cols.join(", ");
        let one = format!("(SELECT * FROM {stage} WHERE {seq} = $1) AS last");
        let sequences = t
            .sequences
            .iter()
            .map(|(col, sq)| {
                format!(
                    "SELECT setval({lit}, m) FROM (SELECT max({c})::bigint AS m FROM {stage}) AS x
                     WHERE m > COALESCE(pg_sequence_last_value({lit}::regclass), 0)",
                    lit = ident::pg_literal(sq),
                    c = ident::pg(col),
                )
            })
            .collect();
        MergeSql {
            delete: format!("DELETE FROM {target} AS t USING {last} WHERE last.{op} = 'D' AND {join}"),
            upsert: format!(
                "INSERT INTO {target} ({list}) OVERRIDING SYSTEM VALUE SELECT {list} FROM {last} WHERE last.{op} = 'U' {conflict}"
            ),
            delete_one: format!("DELETE FROM {target} AS t USING {one} WHERE {join}"),
            upsert_one: format!(
                "INSERT INTO {target} ({list}) OVERRIDING SYSTEM VALUE SELECT {list} FROM {one} {conflict}"
            ),
            sequences,
            changed: changed::pending_from(stage, &t.key),
        }
    }
}

/// What a merge did, per table: (rows deleted, rows upserted).
pub(super) type Merged = Vec<(u64, u64)>;

/// Applies every table's staged changes set-based: deletes first, then upserts. Fails
/// with PostgreSQL's error (the caller rolls back to its savepoint and replays).
pub(super) async fn set_based(client: &Client, staged: &[Staged], sql: &[MergeSql]) -> Result<Merged> {
    let mut merged = vec![(0, 0); staged.len()];
    for (i, s) in staged.iter().enumerate().filter(|(_, s)| s.staged > 0) {
        let ctx = || format!("applying deletes to `{}`", s.table.target);
        merged[i].0 = client.execute(sql[i].delete.as_str(), &[]).await.map_err(|e| Error::postgres(ctx(), &e))?;
    }
    for (i, s) in staged.iter().enumerate().filter(|(_, s)| s.staged > 0) {
        let ctx = || format!("applying upserts to `{}`", s.table.target);
        merged[i].1 = client.execute(sql[i].upsert.as_str(), &[]).await.map_err(|e| Error::postgres(ctx(), &e))?;
    }
    Ok(merged)
}

/// Replays every staged change one by one in source order across tables.
pub(super) async fn in_order(client: &Client, staged: &[Staged], sql: &[MergeSql]) -> Result<Merged> {
    let mut changes: Vec<(i64, usize, bool)> = Vec::new();
    for (i, s) in staged.iter().enumerate().filter(|(_, s)| s.staged > 0) {
        let q = format!("SELECT {}, {} = 'D' FROM {}", ident::pg(SEQ), ident::pg(OP), s.stage);
        let rows = client.query(q.as_str(), &[]).await.map_err(|e| Error::postgres("reading staged changes", &e))?;
        changes.extend(rows.iter().map(|r| (r.get::<_, i64>(0), i, r.get::<_, bool>(1))));
    }
    changes.sort_unstable();
    let mut merged = vec![(0, 0); staged.len()];
    for (seq, i, delete) in changes {
        let (q, ctx) = if delete { (&sql[i].delete_one, "deleting") } else { (&sql[i].upsert_one, "upserting") };
        let n = client.execute(q.as_str(), &[&seq]).await.map_err(|e| {
            Error::postgres(format!("{ctx} change {seq} of `{}` in source order", staged[i].table.target), &e)
        })?;
        if delete {
            merged[i].0 += n;
        } else {
            merged[i].1 += n;
        }
    }
    Ok(merged)
}

/// Moves sequences past the keys staged and notes every key staged as changed (in this
/// transaction, `pg::changed`), then empties the staging tables.
pub(super) async fn finish(client: &Client, staged: &mut [Staged], sql: &[MergeSql]) -> Result<()> {
    for (i, s) in staged.iter_mut().enumerate().filter(|(_, s)| s.staged > 0) {
        for q in &sql[i].sequences {
            client
                .batch_execute(q)
                .await
                .map_err(|e| Error::postgres(format!("moving a sequence of `{}`", s.table.target), &e))?;
        }
        let ctx = || format!("noting the changed keys of `{}`", s.table.target);
        client.execute(sql[i].changed.as_str(), &[&s.table.target]).await.map_err(|e| Error::postgres(ctx(), &e))?;
        let q = format!("TRUNCATE {}", s.stage);
        client.batch_execute(&q).await.map_err(|e| Error::postgres("emptying a staging table", &e))?;
        s.staged = 0;
    }
    Ok(())
}
