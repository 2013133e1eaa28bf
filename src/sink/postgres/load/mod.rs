//! Loading PostgreSQL in one transaction: the target is checked empty (or truncated),
//! foreign keys are dropped and re-created inside the transaction (the target's own
//! triggers fire as they would for the application; `triggers = "disable"` switches
//! them and the foreign-key checks off with session_replication_role = replica), each
//! table arrives by binary COPY, then the key columns are analyzed,
//! every foreign key is proven free of orphans (by PostgreSQL's own validation when it
//! is re-created), sequences are moved past the loaded maximum, the rows of any table
//! whose COPY count is not exact are counted, and only then is the transaction
//! committed (and every table counted again). Any failure rolls everything back.
//!
//! What makes it fast without changing the result ([`Tuning`]): tables the transaction
//! emptied are loaded with `COPY … FREEZE`; indexes (secondary, primary-key and unique)
//! and foreign keys can be built once after the load instead of row by row (re-created
//! from their own definitions, then proven identical); per-table mode COPYs several
//! tables at once.
//!
//! The two strategies (docs/architecture.md, "Per-table mode") are one type each:
//! [`run_txn::RunTxn`] (one transaction for the run) and [`per_table::PerTableTxn`] (one
//! per table); the shared steps are here and in `begin`, `copy_table` and `keys`.

mod begin;
mod copy_table;
mod keys;
mod per_table;
mod run_txn;

use tokio::sync::{Mutex, MutexGuard, Semaphore, SemaphorePermit};
use tokio_postgres::Client;

use self::per_table::PerTableTxn;
use self::run_txn::RunTxn;
use crate::error::{Error, Result};
use crate::ident::pg_qualified as qualified;
use crate::pg::connect::{connect, APPLICATION_NAME};
use crate::pg::introspect::{introspect, PgTable};
use crate::pg::state;
pub use crate::pg::state::Committed;
use crate::sink::postgres::target::AuditFill;

/// How foreign keys are kept out of the way during the load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FkMode {
    /// `session_replication_role = replica`: triggers (and so FK checks) off for this
    /// session — only when the pipeline says `triggers = "disable"`.
    Replica,
    /// Foreign keys dropped in the transaction and re-created (and so validated) after the load.
    Recreate,
    /// Foreign keys enforced as rows arrive (per-table transactions without a superuser).
    Enforced,
    /// Per-table transactions as a superuser: only the foreign-key check triggers of the
    /// table being loaded are switched off for its COPY (its own triggers fire), and its
    /// foreign keys are proven before it commits.
    RiOff,
}

/// How a load may speed itself up; every choice leaves the same rows and schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tuning {
    /// `COPY … FREEZE` into the tables the transaction truncated (single-transaction mode).
    pub freeze: bool,
    /// Drop indexes (secondary, primary-key, unique) and foreign keys, load, re-create
    /// and prove them (single-transaction mode).
    pub defer_indexes: bool,
    /// Connections COPYing at once in per-table mode (when foreign keys need not be
    /// enforced row by row).
    pub streams: usize,
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning { freeze: true, defer_indexes: true, streams: 1 }
    }
}

/// An open load: one transaction on the first connection (per-table mode: one per
/// table, on as many connections as [`Tuning::streams`] allows).
pub struct PgLoad {
    clients: Vec<Mutex<Client>>,
    free: Semaphore,
    url: String,
    tuning: Tuning,
    schema: String,
    /// The target tables, as introspected.
    pub tables: Vec<PgTable>,
    /// How foreign keys are handled.
    pub fk_mode: FkMode,
    existing: Vec<String>,
    superuser: bool,
    /// One transaction for the run, or one per table.
    strategy: Strategy,
    run_tables: Vec<String>,
    disable_triggers: bool,
    changed: std::sync::Mutex<Vec<(String, String, u64)>>,
    float_exact: std::sync::Mutex<Vec<(String, String, u64)>>,
    /// Dropped with the load: stops the lock-wait watcher.
    _lock_watch: tokio::sync::watch::Sender<()>,
    audit: Vec<AuditFill>,
    audit_filled: std::sync::Mutex<Vec<(String, String, String, u64)>>,
    /// The target's own defaults of the filled audit columns, put back after each COPY.
    own_defaults: std::sync::Mutex<Vec<(String, String, Option<String>)>>,
    copy_bytes: std::sync::Mutex<Vec<(String, u64)>>,
    /// `create = "missing"`: the statements that create the tables, run in the load's
    /// transaction before anything else.
    create: Vec<String>,
    /// The tables those statements create.
    created: Vec<String>,
    /// MySQL's `AUTO_INCREMENT` counters: table, column, next value.
    counters: Vec<(String, String, u64)>,
}

/// Per-table mode: whose state the committed tables are recorded under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PerTable {
    /// The pipeline's name (the state's key, with the target schema).
    pub pipeline: String,
    /// The run, recorded beside each table it commits.
    pub migration_id: String,
}

/// What the load did beyond COPYing rows, for the run's report.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadSummary {
    /// Tables loaded with `COPY … FREEZE`.
    pub frozen: Vec<String>,
    /// Indexes (with their primary-key or unique constraint) dropped before the COPYs,
    /// rebuilt after them and proven identical.
    pub rebuilt_indexes: Vec<String>,
    /// Connections that COPYed (tables side by side when more than one).
    pub streams: usize,
    /// The target's INSERT triggers on the loaded tables (`table.trigger`) and whether
    /// they fired (`triggers = "disable"` turns them off).
    pub triggers: Vec<String>,
    /// The triggers did not fire (`session_replication_role = replica`).
    pub triggers_disabled: bool,
    /// Values a `[[column]]` rule let the target's type change: table, column, count.
    pub changed: Vec<(String, String, u64)>,
    /// FLOAT values loaded into double precision as their own value, where their shortest
    /// decimal text (what a client printing MySQL's text may have seen) reads as another
    /// double: table, column, count.
    pub float_exact: Vec<(String, String, u64)>,
    /// Audit columns filled (`audit_defaults`): table, column, value, rows.
    pub audit_filled: Vec<(String, String, String, u64)>,
    /// Bytes of each table's COPY stream.
    pub copy_bytes: Vec<(String, u64)>,
    /// How the foreign keys were kept out of the way of the load, and then proven.
    pub foreign_keys: String,
    /// Where per-table mode keeps its state in the target (`converge.load_state`).
    pub state_table: Option<String>,
    /// Tables this load created (`create = "missing"`).
    pub created: Vec<String>,
}

/// How the load commits: each strategy is its own type, with its own state.
enum Strategy {
    /// One transaction for the whole run, committed by [`PgLoad::commit`].
    Run(RunTxn),
    /// One transaction per table, each recorded in `converge.load_state`.
    PerTable(PerTableTxn),
}

impl Strategy {
    /// How foreign keys are kept out of the way. The target's own triggers fire unless
    /// the pipeline turns them off: foreign keys are kept out of the way by dropping and
    /// re-creating them (single transaction), per table by switching off only
    /// PostgreSQL's own foreign-key check triggers of the table being loaded (a
    /// superuser) or by loading in dependency order.
    fn fk_mode(&self, disable_triggers: bool, superuser: bool) -> FkMode {
        match self {
            _ if disable_triggers => FkMode::Replica,
            Strategy::Run(_) => FkMode::Recreate,
            Strategy::PerTable(_) if superuser => FkMode::RiOff,
            Strategy::PerTable(_) => FkMode::Enforced,
        }
    }

    /// The single-transaction state, in that mode.
    fn run(&self) -> Option<&RunTxn> {
        match self {
            Strategy::Run(run) => Some(run),
            Strategy::PerTable(_) => None,
        }
    }
}

impl PgLoad {
    /// Connects and introspects the target schema (nothing is changed yet).
    /// `existing` names tables the target already holds rows for: compared, not loaded.
    /// With `per_table`, each table is its own transaction and the tables committed are
    /// recorded in the target (`converge.load_state`), each in its own transaction.
    pub async fn open(
        url: &str,
        schema: &str,
        existing: Vec<String>,
        per_table: Option<PerTable>,
        tuning: Tuning,
    ) -> Result<PgLoad> {
        let client = connect(url).await?;
        let tables = introspect(&client, schema).await?;
        let (lock_watch, stop) = tokio::sync::watch::channel(());
        let name = APPLICATION_NAME.try_with(|n| n.clone()).unwrap_or_else(|_| "converge".to_string());
        tokio::spawn(crate::sink::postgres::locks::watch_locks(url.to_string(), name, stop));
        let superuser: bool = client
            .query_one("SELECT rolsuper FROM pg_roles WHERE rolname = current_user", &[])
            .await
            .map_err(|e| Error::postgres("reading the role", &e))?
            .get(0);
        let strategy = match per_table {
            None => Strategy::Run(RunTxn::new(tuning)),
            Some(state) => Strategy::PerTable(PerTableTxn::new(state)),
        };
        Ok(PgLoad {
            clients: vec![Mutex::new(client)],
            free: Semaphore::new(1),
            url: url.to_string(),
            tuning,
            schema: schema.to_string(),
            tables,
            fk_mode: FkMode::Recreate,
            existing,
            superuser,
            strategy,
            run_tables: Vec::new(),
            disable_triggers: false,
            changed: std::sync::Mutex::new(Vec::new()),
            float_exact: std::sync::Mutex::new(Vec::new()),
            _lock_watch: lock_watch,
            audit: Vec::new(),
            audit_filled: std::sync::Mutex::new(Vec::new()),
            own_defaults: std::sync::Mutex::new(Vec::new()),
            copy_bytes: std::sync::Mutex::new(Vec::new()),
            create: Vec::new(),
            created: Vec::new(),
            counters: Vec::new(),
        })
    }

    /// `audit_defaults`: these columns, which the source does not carry, are filled with
    /// their value for every row (a column default set for the COPY only, inside its
    /// transaction, and dropped again before commit).
    pub fn audit_defaults(mut self, fills: Vec<AuditFill>) -> Self {
        self.audit = fills;
        self
    }

    /// MySQL's `AUTO_INCREMENT` counters (table, column, next value): each sequence is
    /// moved to the later of the loaded maximum + 1 and MySQL's counter, so no id MySQL
    /// handed out (rows deleted since included) is handed out again.
    pub fn counters(mut self, counters: Vec<(String, String, u64)>) -> Self {
        self.counters = counters;
        self
    }

    /// `triggers = "disable"`: the load runs with `session_replication_role = replica`
    /// (a superuser's right), so neither the target's triggers nor its foreign-key
    /// checks fire; the summary names the triggers that did not fire.
    pub fn disable_triggers(mut self, disable: bool) -> Self {
        self.disable_triggers = disable;
        self
    }

    /// Tables may be COPYed at once (per-table mode with several streams); otherwise the
    /// source should deliver them one after the other.
    pub fn parallel(&self) -> bool {
        self.clients.len() > 1
    }

    /// Each table commits on its own (`transaction = "table"`).
    pub fn per_table(&self) -> bool {
        matches!(self.strategy, Strategy::PerTable(_))
    }

    /// Which tables took FREEZE, which indexes were rebuilt, how many streams COPYed.
    pub fn summary(&self) -> LoadSummary {
        let run = self.strategy.run();
        LoadSummary {
            frozen: run.map_or(&[][..], |r| &r.frozen).iter().filter(|t| !self.existing.contains(t)).cloned().collect(),
            rebuilt_indexes: run.map_or(&[][..], |r| &r.deferred).iter().map(|d| d.name.clone()).collect(),
            streams: self.clients.len(),
            triggers: self
                .tables
                .iter()
                .filter(|t| self.run_tables.contains(&t.name))
                .flat_map(|t| t.triggers.iter().map(move |g| format!("{}.{g}", t.name)))
                .collect(),
            triggers_disabled: self.fk_mode == FkMode::Replica,
            changed: self.changed.lock().expect("not poisoned").clone(),
            float_exact: self.float_exact.lock().expect("not poisoned").clone(),
            audit_filled: self.audit_filled.lock().expect("not poisoned").clone(),
            copy_bytes: self.copy_bytes.lock().expect("not poisoned").clone(),
            foreign_keys: match self.fk_mode {
                FkMode::Recreate => "dropped for the load and re-created in its transaction (PostgreSQL validated them)",
                FkMode::Replica => "not enforced during the load (session_replication_role = replica); converge proved every one free of orphans before commit",
                FkMode::RiOff => "PostgreSQL's own foreign-key check triggers of each table were off during its COPY; converge proved its foreign keys before it committed",
                FkMode::Enforced => "enforced row by row (tables loaded in dependency order)",
            }
            .to_string(),
            state_table: match self.strategy {
                Strategy::Run(_) => None,
                Strategy::PerTable(_) => Some("converge.load_state".to_string()),
            },
            created: self.created.clone(),
        }
    }

    /// The control connection (the run's transaction).
    async fn control(&self) -> MutexGuard<'_, Client> {
        self.clients[0].lock().await
    }

    /// A connection to COPY on: any free one. The permit bounds the streams; a
    /// connection may still be held without one (the control connection: a rollback
    /// after a signal, a count), so this waits for whichever is let go first.
    async fn stream(&self) -> (SemaphorePermit<'_>, MutexGuard<'_, Client>) {
        let permit = self.free.acquire().await.expect("the semaphore is never closed");
        for c in &self.clients {
            if let Ok(guard) = c.try_lock() {
                return (permit, guard);
            }
        }
        let waits = self.clients.iter().map(|c| Box::pin(c.lock()));
        let (guard, _, _) = futures::future::select_all(waits).await;
        (permit, guard)
    }

    /// Re-creates dropped foreign keys, proves every foreign key of the loaded tables has
    /// no orphans, moves sequences past the loaded maximum, and counts each table whose
    /// COPY count is not already exact.
    pub async fn finish(&self, loaded: &[String]) -> Result<Vec<(String, u64)>> {
        let client = self.control().await;
        match &self.strategy {
            Strategy::Run(run) => run.finish(self, &client, loaded).await,
            Strategy::PerTable(pt) => pt.finish(self, &client, loaded).await,
        }
    }

    /// The tables a per-table load committed earlier for this pipeline and schema.
    pub async fn committed_earlier(&self) -> Result<Vec<Committed>> {
        let Strategy::PerTable(pt) = &self.strategy else { return Ok(Vec::new()) };
        let client = self.control().await;
        state::read(&client, &pt.state.pipeline, &self.schema).await
    }

    /// The target connection (no transaction open before [`PgLoad::begin`]).
    pub async fn client(&self) -> MutexGuard<'_, Client> {
        self.control().await
    }

    /// Counts rows of the named tables now (outside any load transaction).
    pub async fn count_now(&self, tables: &[String]) -> Result<Vec<(String, u64)>> {
        let client = self.control().await;
        self.count(&client, tables).await
    }

    async fn count(&self, client: &Client, loaded: &[String]) -> Result<Vec<(String, u64)>> {
        let mut out = Vec::new();
        for t in loaded {
            let row = client
                .query_one(&format!("SELECT count(*) FROM {}", qualified(&self.schema, t)), &[])
                .await
                .map_err(|e| Error::postgres(format!("counting `{t}`"), &e))?;
            out.push((t.clone(), row.get::<_, i64>(0) as u64));
        }
        Ok(out)
    }

    /// Records the snapshot's binlog position in `converge.follow_state`, inside the
    /// single load transaction (committed with the data by [`PgLoad::commit`]).
    pub async fn record_follow(
        &self,
        pipeline: &str,
        migration_id: &str,
        at: &crate::manifest::BinlogPosition,
    ) -> Result<()> {
        if let Strategy::PerTable(_) = self.strategy {
            return Err(Error::other("a binlog position is recorded by a single-transaction load only"));
        }
        let client = self.control().await;
        state::record_follow(&client, pipeline, &self.schema, migration_id, at).await
    }

    /// Commits, then counts every loaded table again outside the transaction.
    pub async fn commit(&self, loaded: &[String]) -> Result<Vec<(String, u64)>> {
        let client = self.control().await;
        if let Strategy::Run(_) = self.strategy {
            client.batch_execute("COMMIT").await.map_err(|e| Error::postgres("COMMIT", &e))?;
        }
        self.count(&client, loaded).await
    }

    /// The tables this run committed, as the target records them (per-table mode; none in
    /// single-transaction mode). Asked after [`PgLoad::rollback`]: a table whose COMMIT
    /// was on its way when a signal came is listed if that COMMIT completed, which the
    /// run's own bookkeeping cannot know. Falls back to that bookkeeping when the target
    /// cannot be asked.
    pub async fn committed_in_target(&self) -> Vec<String> {
        let Strategy::PerTable(pt) = &self.strategy else { return Vec::new() };
        match self.committed_earlier().await {
            Ok(rows) => rows.into_iter().filter(|c| c.migration_id == pt.state.migration_id).map(|c| c.table).collect(),
            Err(e) => {
                tracing::warn!("cannot read which tables were committed: {e}");
                pt.done()
            }
        }
    }

    /// Rolls back everything this load did.
    pub async fn rollback(&self) {
        for c in &self.clients {
            let _ = c.lock().await.batch_execute("ROLLBACK").await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stream's permit does not promise a free connection: the control connection is
    /// held without one (the rollback after a signal locks every connection). The
    /// stream waits for it instead of failing ("a permit means a free connection").
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_stream_waits_for_the_connection_the_control_side_holds() {
        let base = std::env::var("CONVERGE_TEST_PG").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
        let load = PgLoad::open(&format!("{base}/postgres"), "public", Vec::new(), None, Tuning::default())
            .await
            .expect("PostgreSQL on 127.0.0.1:5432");
        let held = load.control().await;
        let stream = load.stream();
        tokio::pin!(stream);
        assert!(futures::poll!(&mut stream).is_pending(), "the only connection is held: the stream waits");
        drop(held);
        let (_permit, client) = stream.await;
        client.batch_execute("SELECT 1").await.unwrap();
    }
}
