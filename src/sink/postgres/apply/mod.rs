//! Applying a change stream to the target (docs/architecture.md, "Change capture"): a
//! path beside the bulk load. Many whole source transactions go into one PostgreSQL
//! transaction: their rows are staged by binary COPY (the load's own encoder), then
//! applied set-based per table (the last change of each key wins), and the source
//! position after the last of them is stored in `converge.follow_state` in the same
//! commit — so a crash or restart resumes exactly where the target is, with no change
//! lost or applied twice, and `synchronous_commit = off` is safe. Every key staged (and
//! every table truncated) is recorded in `converge.follow_changed` with that position,
//! in the same commit (`pg::changed`), for a cut-over that verifies only what changed
//! (unless the session was told not to record them: [`Applier::record_keys`]).
//!
//! The apply runs with `session_replication_role = replica`, as PostgreSQL's own logical
//! replication does: the target's triggers (converge's `ON UPDATE CURRENT_TIMESTAMP`
//! emulation included) and foreign-key checks do not fire for applied rows. The
//! source's own trigger effects arrive as row events already (firing them again would
//! double them), and the source enforced its foreign keys; generated columns are
//! computed by PostgreSQL. The one exception: with `follow.cascades = "target"`, the
//! statements of a cascading key's parent run under `origin`, so that PostgreSQL runs
//! the actions the binlog does not carry (`cascade`).

mod cascade;
mod merge;
pub mod replace;
mod stage;

use arrow::record_batch::RecordBatch;
use tokio_postgres::Client;

use self::cascade::Cascades;
use self::merge::MergeSql;
pub use self::stage::ApplyTable;
use self::stage::Staged;
use crate::change::Op;
use crate::error::{Error, Result};
use crate::ident::pg_qualified as qualified;
use crate::manifest::BinlogPosition;
use crate::pg::{changed, state};

/// What the apply says of itself, for the run's output.
pub const POLICY: &str = "applied changes run with session_replication_role = replica (as PostgreSQL's logical \
replication): target triggers, converge's ON UPDATE CURRENT_TIMESTAMP trigger included, and foreign-key checks do \
not fire for them; the source's trigger effects arrive as row events, and generated columns are computed by PostgreSQL";

/// What the apply adds to [`POLICY`] when the target's cascading keys act.
pub const CASCADE_POLICY: &str = "with follow.cascades = \"target\", a cascading key's parent's deletes and key \
changes run under session_replication_role = origin, so the target's ON DELETE / ON UPDATE actions (and its other \
triggers on those rows) fire, in source order; the tables they change are recorded as changed whole for the cut-over";

/// What one commit applied.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    /// Source row changes applied (each insert, update and delete; an update that
    /// changed its key is one).
    pub changes: u64,
    /// Per table (target name): rows deleted, rows upserted.
    pub tables: Vec<(String, u64, u64)>,
    /// The batch was replayed in source order (a unique check refused the set-based apply).
    pub replayed: bool,
}

/// An open apply session on its own connection.
pub struct Applier {
    client: Client,
    schema: String,
    pipeline: String,
    tables: Vec<Staged>,
    sql: Vec<MergeSql>,
    seq: i64,
    in_txn: bool,
    changes: u64,
    merged: Vec<(u64, u64)>,
    replayed: bool,
    /// Changed keys are pending in the session's temporary table (`pg::changed`).
    keys_pending: bool,
    /// Changed keys are recorded at all (see [`Applier::record_keys`]).
    record_keys: bool,
    /// How the target's cascading foreign keys act on each table (none unless asked).
    cascades: Cascades,
}

impl Applier {
    /// Opens the session: checks the right to switch triggers off, creates the staging tables.
    pub async fn open(client: Client, schema: &str, pipeline: &str, tables: Vec<ApplyTable>) -> Result<Applier> {
        client.batch_execute("SET session_replication_role = replica").await.map_err(|e| {
            Error::postgres(
                "following needs a superuser on the target (the apply sets session_replication_role = replica so \
                 that target triggers do not fire twice for changes the source's own triggers made)",
                &e,
            )
        })?;
        // Converge's ON UPDATE CURRENT_TIMESTAMP trigger leaves the rows this session
        // changes as the source's row images have them, should it fire (`origin`).
        let q = "SELECT set_config($1, 'on', false)";
        client.execute(q, &[&APPLYING]).await.map_err(|e| Error::postgres("marking the apply session", &e))?;
        take_lock(&client, pipeline, schema).await?;
        changed::ensure(&client).await?;
        changed::pending_create(&client).await?;
        let tables: Vec<Staged> = tables.into_iter().enumerate().map(|(i, t)| Staged::new(t, i)).collect();
        for t in &tables {
            t.create(&client, schema).await?;
        }
        let sql = tables.iter().map(|t| MergeSql::new(t, schema)).collect();
        let merged = vec![(0, 0); tables.len()];
        let cascades = Cascades::none(tables.len());
        let (schema, pipeline) = (schema.to_string(), pipeline.to_string());
        Ok(Applier {
            client,
            schema,
            pipeline,
            tables,
            sql,
            seq: 0,
            in_txn: false,
            changes: 0,
            merged,
            replayed: false,
            keys_pending: false,
            record_keys: true,
            cascades,
        })
    }

    /// Whether the keys this session changes are recorded (`pg::changed`; on when
    /// opened). A follower turns it off while nothing could use them: until a first
    /// online verify asks for a hold, a cut-over compares every row anyway. Turned on
    /// between commits, it records from the next one.
    pub fn record_keys(&mut self, on: bool) {
        self.record_keys = on;
    }

    /// Lets the target's cascading foreign keys act (`follow.cascades = "target"`, the
    /// target checked by the plan): read from the target's catalog now. Returns the
    /// followed tables whose changes they act on.
    pub async fn let_cascades_act(&mut self) -> Result<Vec<String>> {
        let target = crate::pg::introspect::introspect(&self.client, &self.schema).await?;
        self.cascades = Cascades::new(&target, &self.tables);
        let parents = self.tables.iter().zip(&self.cascades.tables).filter(|(_, a)| a.parent);
        Ok(parents.map(|(t, _)| t.table.target.clone()).collect())
    }

    /// The position the target holds (None: the pipeline's copy recorded none).
    pub async fn stored(&self) -> Result<Option<crate::pg::state::FollowState>> {
        state::read_follow(&self.client, &self.pipeline, &self.schema).await
    }

    async fn begin(&mut self) -> Result<()> {
        if !self.in_txn {
            let q = "BEGIN; SET LOCAL synchronous_commit = off";
            self.client.batch_execute(q).await.map_err(|e| Error::postgres("starting an apply transaction", &e))?;
            self.in_txn = true;
        }
        Ok(())
    }

    fn table(&self, source: &str) -> Result<usize> {
        self.tables
            .iter()
            .position(|t| t.table.source == source)
            .ok_or_else(|| Error::other(format!("a change of `{source}`, which is not followed")))
    }

    /// Takes row changes of one table (in the target's COPY column order): `changes`
    /// source row changes in these rows.
    pub async fn stage(&mut self, source: &str, ops: Vec<Op>, rows: RecordBatch, changes: u64) -> Result<()> {
        self.begin().await?;
        let i = self.table(source)?;
        let n = rows.num_rows() as i64;
        self.changes += changes;
        let first = self.seq;
        self.seq += n;
        if self.tables[i].hold(first, ops, rows) {
            self.tables[i].copy_held(&self.client).await?;
        }
        Ok(())
    }

    /// Every row of a table is gone (`TRUNCATE` on the source): what was staged before
    /// is applied first.
    pub async fn truncate(&mut self, source: &str) -> Result<()> {
        self.begin().await?;
        self.merge().await?;
        let i = self.table(source)?;
        // DELETE rather than TRUNCATE: a referenced table cannot be truncated alone, and
        // with foreign-key checks off the rows referencing it stay as the source left them.
        let q = format!("DELETE FROM {}", qualified(&self.schema, &self.tables[i].table.target));
        let n = self.client.execute(q.as_str(), &[]).await.map_err(|e| Error::postgres("applying TRUNCATE", &e))?;
        self.merged[i].0 += n;
        self.changes += 1;
        if self.record_keys {
            changed::pending_whole_table(&self.client, &self.tables[i].table.target).await?;
            self.keys_pending = true;
        }
        Ok(())
    }

    /// Rows taken since the last commit.
    pub fn pending(&self) -> u64 {
        self.changes
    }

    /// Applies what is staged (set-based, or in source order when that is refused).
    async fn merge(&mut self) -> Result<()> {
        for t in self.tables.iter_mut() {
            t.copy_held(&self.client).await?;
        }
        if self.tables.iter().all(|t| t.staged == 0) {
            return Ok(());
        }
        let (c, tables, sql, acting) = (&self.client, &self.tables, &self.sql, &self.cascades);
        let merged = if acting.in_order(tables) {
            // A cascading key's parent and what its action touches changed together, or a
            // parent's key moved: only source order is what the source did (`cascade`).
            self.replayed = true;
            merge::in_order(c, tables, sql, acting).await?
        } else {
            savepoint(c, "SAVEPOINT converge_merge").await?;
            let merged = match merge::set_based(c, tables, sql, acting).await {
                Ok(m) => m,
                Err(e) if unique_violation(&e) || foreign_key_violation(&e) => {
                    tracing::info!("set-based apply refused ({e}); replaying the batch in source order");
                    savepoint(c, "ROLLBACK TO SAVEPOINT converge_merge").await?;
                    self.replayed = true;
                    merge::in_order(c, tables, sql, acting).await?
                }
                Err(e) => return Err(e),
            };
            savepoint(c, "RELEASE SAVEPOINT converge_merge").await?;
            merged
        };
        for (total, m) in self.merged.iter_mut().zip(merged) {
            total.0 += m.0;
            total.1 += m.1;
        }
        if self.record_keys {
            for table in self.cascades.changed(&self.tables) {
                changed::pending_whole_table(&self.client, &table).await?;
            }
            self.keys_pending = true;
        }
        merge::finish(&self.client, &mut self.tables, &self.sql, self.record_keys).await
    }

    /// Applies everything taken and stores `at` (with the count, and as the position of
    /// every key changed) in the same commit.
    pub async fn commit(&mut self, at: &BinlogPosition, source_commit: Option<u32>) -> Result<Applied> {
        self.begin().await?;
        self.merge().await?;
        if self.keys_pending {
            changed::record_pending(&self.client, &self.pipeline, &self.schema, at).await?;
        }
        state::advance_follow(&self.client, &self.pipeline, &self.schema, at, self.changes, source_commit).await?;
        self.client.batch_execute("COMMIT").await.map_err(|e| Error::postgres("committing applied changes", &e))?;
        self.in_txn = false;
        let tables = self
            .tables
            .iter()
            .zip(&self.merged)
            .filter(|(_, m)| m.0 + m.1 > 0)
            .map(|(t, m)| (t.table.target.clone(), m.0, m.1))
            .collect();
        let applied = Applied { changes: self.changes, tables, replayed: self.replayed };
        self.reset();
        Ok(applied)
    }

    /// Drops what was taken since the last commit.
    pub async fn rollback(&mut self) -> Result<()> {
        self.reset();
        if std::mem::take(&mut self.in_txn) {
            self.client.batch_execute("ROLLBACK").await.map_err(|e| Error::postgres("rolling back an apply", &e))?;
        }
        Ok(())
    }

    fn reset(&mut self) {
        self.tables.iter_mut().for_each(Staged::reset);
        self.merged.iter_mut().for_each(|m| *m = (0, 0));
        (self.changes, self.seq, self.replayed, self.keys_pending) = (0, 0, false, false);
    }

    /// Moves each followed table's sequences to MySQL's `AUTO_INCREMENT` counter
    /// (`(source table, next value)`) where they are behind it: the binlog carries rows,
    /// not the counter, and InnoDB reserves values in blocks (an `INSERT … SELECT` leaves
    /// the counter past the largest id). Outside an apply transaction; returns how many
    /// sequences moved.
    pub async fn advance_to_counters(&mut self, counters: &[(String, u64)]) -> Result<u64> {
        let mut moved = 0;
        for t in &self.tables {
            let Some((_, next)) = counters.iter().find(|(name, _)| *name == t.table.source) else { continue };
            let last = next.saturating_sub(1) as i64;
            for (_, seq) in &t.table.sequences {
                let q = crate::pg::integrity::advance_sequence_sql(seq, &last.to_string(), "");
                let n = self
                    .client
                    .execute(q.as_str(), &[])
                    .await
                    .map_err(|e| Error::postgres(format!("moving sequence {seq} to MySQL's counter"), &e))?;
                moved += n;
            }
        }
        Ok(moved)
    }

    /// Gives up the one-follower lock now (rather than when the server notices the
    /// connection gone): a follower started next, in this process or another, finds
    /// it free.
    pub async fn unlock(&mut self) -> Result<()> {
        self.rollback().await?;
        let lock = crate::pg::hold::follower_lock(&self.pipeline, &self.schema);
        self.client
            .execute("SELECT pg_advisory_unlock(hashtext($1))", &[&lock])
            .await
            .map_err(|e| Error::postgres("giving up the follower's lock", &e))?;
        Ok(())
    }

    /// The apply's connection, for what is asked of it between transactions.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Rows held in memory, not yet COPYed (bounded per table).
    pub fn held_rows(&self) -> usize {
        self.tables.iter().map(Staged::held_rows).sum()
    }
}

/// How long a follower waits for the lock: the session of one killed a moment ago
/// holds it until its server process notices.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// The one-follower-per-pipeline-and-schema lock, waited for a little.
async fn take_lock(client: &Client, pipeline: &str, schema: &str) -> Result<()> {
    let lock = crate::pg::hold::follower_lock(pipeline, schema);
    let asked = std::time::Instant::now();
    loop {
        let row = client
            .query_one("SELECT pg_try_advisory_lock(hashtext($1))", &[&lock])
            .await
            .map_err(|e| Error::postgres("taking the follower's lock", &e))?;
        if row.get::<_, bool>(0) {
            return Ok(());
        }
        if asked.elapsed() >= LOCK_WAIT {
            return Err(Error::other(format!(
                "another follower of pipeline `{pipeline}` is applying to schema `{schema}` (one at a time: two would \
                 apply the same changes)"
            )));
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

async fn savepoint(client: &Client, q: &str) -> Result<()> {
    client.batch_execute(q).await.map_err(|e| Error::postgres("an apply savepoint", &e))
}

fn unique_violation(e: &Error) -> bool {
    e.sqlstate().is_some_and(|c| *c == tokio_postgres::error::SqlState::UNIQUE_VIOLATION)
}

/// A foreign key the target's keys check under `origin` refused the set-based order.
fn foreign_key_violation(e: &Error) -> bool {
    e.sqlstate().is_some_and(|c| *c == tokio_postgres::error::SqlState::FOREIGN_KEY_VIOLATION)
}

/// The setting the apply session holds `on`: converge's `ON UPDATE CURRENT_TIMESTAMP`
/// trigger (`sink::postgres::create`) leaves a row alone in such a session.
pub const APPLYING: &str = "converge.applying_changes";
