//! Applying what is staged (docs/architecture.md, "Change capture"): per table, the
//! last change of each key wins (set-based `DELETE`, then `INSERT … ON CONFLICT DO
//! UPDATE`); when PostgreSQL's row-by-row unique checks refuse a valid final state (two
//! rows swapping a unique value), the staged changes are replayed one by one in source
//! order instead, as MySQL applied them. Where the target's cascading foreign keys act
//! (`cascade`), their statements run under `session_replication_role = origin`, and a
//! batch whose order they would see is replayed in source order from the start.

use tokio_postgres::Client;

use super::cascade::Cascades;
use super::stage::{Staged, OP, SEQ};
use crate::error::{Error, Result};
use crate::ident;
use crate::ident::pg_qualified as qualified;
use crate::pg::changed;
use crate::pg::integrity::advance_sequence_sql;

/// The SQL that applies one table's staged changes.
pub(super) struct MergeSql {
    /// Deletes every key whose last change is a delete (or a key change's old key).
    pub delete: String,
    /// Deletes every key deleted (or moved away from) anywhere in the batch: a cascade
    /// parent's delete, whose children went on the source even if the key came back.
    pub delete_any: String,
    /// Upserts every key whose last change is an upsert.
    pub upsert: String,
    /// Deletes the key of staged change `$1`.
    pub delete_one: String,
    /// Upserts staged change `$1`.
    pub upsert_one: String,
    /// Moves the key of staged change `$1` (`M`) to its new row, change `$1 + 1`, in one
    /// `UPDATE`: what the source did, for the `ON UPDATE` actions to see.
    pub move_one: String,
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
        let any = format!("(SELECT DISTINCT {k} FROM {stage} WHERE {op} <> 'U') AS last", k = keys.join(", "));
        let moved = format!("(SELECT * FROM {stage} WHERE {seq} = $1::bigint + 1 AND {op} = 'U') AS moved");
        let assign: Vec<String> = cols.iter().map(|c| format!("{c} = moved.{c}")).collect();
        let sequences = t
            .sequences
            .iter()
            .map(|(col, sq)| advance_sequence_sql(sq, &format!("max({})", ident::pg(col)), &format!("FROM {stage}")))
            .collect();
        MergeSql {
            delete: format!("DELETE FROM {target} AS t USING {last} WHERE last.{op} <> 'U' AND {join}"),
            delete_any: format!("DELETE FROM {target} AS t USING {any} WHERE {join}"),
            upsert: format!(
                "INSERT INTO {target} ({list}) OVERRIDING SYSTEM VALUE SELECT {list} FROM {last} WHERE last.{op} = 'U' {conflict}"
            ),
            delete_one: format!("DELETE FROM {target} AS t USING {one} WHERE {join}"),
            upsert_one: format!(
                "INSERT INTO {target} ({list}) OVERRIDING SYSTEM VALUE SELECT {list} FROM {one} {conflict}"
            ),
            move_one: format!("UPDATE {target} AS t SET {} FROM {one}, {moved} WHERE {join}", assign.join(", ")),
            sequences,
            changed: changed::pending_from(stage, &t.key),
        }
    }
}

/// What a merge did, per table: (rows deleted, rows upserted).
pub(super) type Merged = Vec<(u64, u64)>;

/// The apply transaction's `session_replication_role`: `replica` (the session's own:
/// the target's triggers and foreign keys do not fire), switched to `origin` with `SET
/// LOCAL` around the statements whose foreign-key actions PostgreSQL must run, and back.
/// A rollback to a savepoint restores what was set before it.
#[derive(Default)]
struct Role {
    origin: bool,
}

impl Role {
    async fn set(&mut self, client: &Client, origin: bool) -> Result<()> {
        if self.origin == origin {
            return Ok(());
        }
        let q = match origin {
            true => "SET LOCAL session_replication_role = origin",
            false => "SET LOCAL session_replication_role = replica",
        };
        client.batch_execute(q).await.map_err(|e| Error::postgres("switching the apply's replication role", &e))?;
        self.origin = origin;
        Ok(())
    }
}

/// Applies every table's staged changes set-based: deletes first, then upserts; a
/// cascade parent's deletes (and upserts, where an `ON UPDATE` action may see them) with
/// the target's keys acting. Fails with PostgreSQL's error (the caller rolls back to its
/// savepoint and replays).
pub(super) async fn set_based(
    client: &Client,
    staged: &[Staged],
    sql: &[MergeSql],
    acting: &Cascades,
) -> Result<Merged> {
    let mut merged = vec![(0, 0); staged.len()];
    let mut role = Role::default();
    for (i, s) in staged.iter().enumerate().filter(|(_, s)| s.staged > 0) {
        let origin = acting.tables[i].on_delete && (s.ops.delete || s.ops.moved);
        role.set(client, origin).await?;
        let q = if origin { &sql[i].delete_any } else { &sql[i].delete };
        let ctx = || format!("applying deletes to `{}`", s.table.target);
        merged[i].0 = client.execute(q.as_str(), &[]).await.map_err(|e| Error::postgres(ctx(), &e))?;
    }
    for (i, s) in staged.iter().enumerate().filter(|(_, s)| s.staged > 0) {
        role.set(client, acting.tables[i].on_upsert && s.ops.upsert).await?;
        let ctx = || format!("applying upserts to `{}`", s.table.target);
        merged[i].1 = client.execute(sql[i].upsert.as_str(), &[]).await.map_err(|e| Error::postgres(ctx(), &e))?;
    }
    role.set(client, false).await?;
    Ok(merged)
}

/// Replays every staged change one by one in source order across tables; where the
/// target's keys act, under `origin`, a parent's key change as one `UPDATE`.
pub(super) async fn in_order(
    client: &Client,
    staged: &[Staged],
    sql: &[MergeSql],
    acting: &Cascades,
) -> Result<Merged> {
    let mut changes: Vec<(i64, usize, String)> = Vec::new();
    for (i, s) in staged.iter().enumerate().filter(|(_, s)| s.staged > 0) {
        let q = format!("SELECT {}, {} FROM {}", ident::pg(SEQ), ident::pg(OP), s.stage);
        let rows = client.query(q.as_str(), &[]).await.map_err(|e| Error::postgres("reading staged changes", &e))?;
        changes.extend(rows.iter().map(|r| (r.get::<_, i64>(0), i, r.get::<_, String>(1))));
    }
    changes.sort_unstable();
    let mut merged = vec![(0, 0); staged.len()];
    let mut role = Role::default();
    for (seq, i, op) in changes {
        let (a, m) = (&acting.tables[i], &sql[i]);
        let (q, origin, ctx) = match op.as_str() {
            "U" => (&m.upsert_one, a.on_upsert, "upserting"),
            "M" if a.parent => (&m.move_one, true, "moving the key of"),
            _ => (&m.delete_one, a.on_delete, "deleting"),
        };
        role.set(client, origin).await?;
        let fail = |e: tokio_postgres::Error| {
            Error::postgres(format!("{ctx} change {seq} of `{}` in source order", staged[i].table.target), &e)
        };
        let mut n = client.execute(q.as_str(), &[&seq]).await.map_err(fail)?;
        if n == 0 && op == "M" && a.parent {
            // Nothing to move (no row with the old key, or no new row after it): the old key goes.
            n = client.execute(m.delete_one.as_str(), &[&seq]).await.map_err(fail)?;
        }
        match op.as_str() {
            "U" => merged[i].1 += n,
            _ => merged[i].0 += n,
        }
    }
    role.set(client, false).await?;
    Ok(merged)
}

/// Moves sequences past the keys staged and, with `record`, notes every key staged as
/// changed (in this transaction, `pg::changed`), then empties the staging tables.
pub(super) async fn finish(client: &Client, staged: &mut [Staged], sql: &[MergeSql], record: bool) -> Result<()> {
    for (i, s) in staged.iter_mut().enumerate().filter(|(_, s)| s.staged > 0) {
        for q in &sql[i].sequences {
            client
                .batch_execute(q)
                .await
                .map_err(|e| Error::postgres(format!("moving a sequence of `{}`", s.table.target), &e))?;
        }
        if record {
            let ctx = || format!("noting the changed keys of `{}`", s.table.target);
            client
                .execute(sql[i].changed.as_str(), &[&s.table.target])
                .await
                .map_err(|e| Error::postgres(ctx(), &e))?;
        }
        let q = format!("TRUNCATE {}", s.stage);
        client.batch_execute(&q).await.map_err(|e| Error::postgres("emptying a staging table", &e))?;
        s.staged = 0;
        s.ops = Default::default();
    }
    Ok(())
}
