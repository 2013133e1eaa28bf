//! One transaction per table (docs/architecture.md, "Per-table mode"): each table is
//! COPYed, its foreign keys proven and its sequences moved in its own transaction, which
//! records it in `converge.load_state` and commits.

use tokio_postgres::Client;

use super::{FkMode, PerTable, PgLoad};
use crate::error::{Error, Result};
use crate::pg::state::{self, Committed};

/// The per-table strategy: whose state the tables are recorded under, and the tables
/// committed so far.
pub(super) struct PerTableTxn {
    pub(super) state: PerTable,
    done: std::sync::Mutex<Vec<String>>,
}

impl PerTableTxn {
    pub(super) fn new(state: PerTable) -> Self {
        PerTableTxn { state, done: std::sync::Mutex::new(Vec::new()) }
    }

    /// The tables committed so far.
    pub(super) fn done(&self) -> Vec<String> {
        self.done.lock().expect("not poisoned").clone()
    }

    /// After TRUNCATE: the tables about to be loaded are no longer committed ones, and
    /// the truncation commits; each table now gets its own transaction.
    pub(super) async fn after_truncate(&self, client: &Client, schema: &str, fresh: &[String]) -> Result<()> {
        state::ensure(client).await?;
        state::forget(client, &self.state.pipeline, schema, fresh).await?;
        client.batch_execute("COMMIT").await.map_err(|e| Error::postgres("COMMIT", &e))
    }

    /// Opens the table's own transaction.
    pub(super) async fn open_table(&self, client: &Client, fk_mode: FkMode) -> Result<()> {
        client.batch_execute("BEGIN").await.map_err(|e| Error::postgres("BEGIN", &e))?;
        if fk_mode == FkMode::Replica {
            client
                .batch_execute("SET LOCAL session_replication_role = replica")
                .await
                .map_err(|e| Error::postgres("suspending FK checks", &e))?;
        }
        Ok(())
    }

    /// This table's transaction: prove its foreign keys towards tables already in
    /// place, move its sequences, record it for a rerun, commit.
    pub(super) async fn commit_table(&self, load: &PgLoad, client: &Client, table: &str, copied: u64) -> Result<()> {
        let mut done = self.done();
        done.push(table.to_string());
        let fks = load.fks_among(&done, Some(table));
        load.prove_fks(client, &fks).await?;
        load.reset_sequences(client, table).await?;
        let c = Committed { table: table.to_string(), rows: copied, migration_id: self.state.migration_id.clone() };
        state::record(client, &self.state.pipeline, &load.schema, &c).await?;
        client.batch_execute("COMMIT").await.map_err(|e| Error::postgres(format!("committing `{table}`"), &e))?;
        self.done.lock().expect("not poisoned").push(table.to_string());
        Ok(())
    }

    /// Every table was committed on its own: proves the foreign keys among them all and
    /// counts them.
    pub(super) async fn finish(&self, load: &PgLoad, client: &Client, loaded: &[String]) -> Result<Vec<(String, u64)>> {
        load.analyze_fresh(client, loaded).await?;
        if let Err(e) = load.prove_fks(client, &load.fks_among(loaded, None)).await {
            // Each table was proven against the tables before it; this catches references
            // to tables that came later (cycles). The committed tables stay.
            return Err(Error::other(format!("{e}\n  (per-table mode: the tables before were committed)")));
        }
        load.count(client, loaded).await
    }
}
