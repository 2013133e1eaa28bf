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

use arrow::record_batch::RecordBatch;
use bytes::BytesMut;
use tokio::sync::{Mutex, MutexGuard, Semaphore, SemaphorePermit};
use tokio_postgres::Client;

pub use super::connect::{connect, APPLICATION_NAME};
use super::copy::{send_chunks, CopyEncoder, SEND_CHUNK};
use super::introspect::{introspect, PgForeignKey, PgTable};
use super::locate::{rejected, KeyRing};
use super::state;
pub use super::state::Committed;
use super::target::{AuditFill, TableTarget};
use super::tuning::{deferrable_indexes, freezable, structure, without_triggers, DeferredIndex};
use crate::error::{Error, Result};
use crate::ident;
use crate::ident::pg_qualified as qualified;

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
    dropped_fks: Vec<(String, String, String)>,
    existing: Vec<String>,
    superuser: bool,
    per_table: Option<PerTable>,
    run_tables: Vec<String>,
    done: std::sync::Mutex<Vec<String>>,
    frozen: Vec<String>,
    /// Tables this transaction emptied and no trigger writes to: COPY's row count is
    /// what they hold until commit (nothing else can write them under TRUNCATE's lock).
    exact: Vec<String>,
    deferred: Vec<DeferredIndex>,
    structure: Vec<String>,
    disable_triggers: bool,
    changed: std::sync::Mutex<Vec<(String, String, u64)>>,
    /// Dropped with the load: stops the lock-wait watcher.
    _lock_watch: tokio::sync::watch::Sender<()>,
    audit: Vec<AuditFill>,
    audit_filled: std::sync::Mutex<Vec<(String, String, String, u64)>>,
    /// The target's own defaults of the filled audit columns, put back after each COPY.
    own_defaults: std::sync::Mutex<Vec<(String, String, Option<String>)>>,
    copy_bytes: std::sync::Mutex<Vec<(String, u64)>>,
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
    /// Audit columns filled (`audit_defaults`): table, column, value, rows.
    pub audit_filled: Vec<(String, String, String, u64)>,
    /// Bytes of each table's COPY stream.
    pub copy_bytes: Vec<(String, u64)>,
    /// How the foreign keys were kept out of the way of the load, and then proven.
    pub foreign_keys: String,
    /// Where per-table mode keeps its state in the target (`converge.load_state`).
    pub state_table: Option<String>,
}

/// A column's own default expression, if it has one.
async fn own_default(client: &Client, table: &str, column: &str) -> Result<Option<String>> {
    let q = "SELECT pg_get_expr(d.adbin, d.adrelid) FROM pg_attrdef d JOIN pg_attribute a \
             ON a.attrelid = d.adrelid AND a.attnum = d.adnum WHERE d.adrelid = $1::text::regclass AND a.attname = $2";
    let row = client
        .query_opt(q, &[&table, &column])
        .await
        .map_err(|e| Error::postgres(format!("reading the default of {table}.{column}"), &e))?;
    Ok(row.map(|r| r.get(0)))
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
        tokio::spawn(super::locks::watch_locks(url.to_string(), name, stop));
        let superuser: bool = client
            .query_one("SELECT rolsuper FROM pg_roles WHERE rolname = current_user", &[])
            .await
            .map_err(|e| Error::postgres("reading the role", &e))?
            .get(0);
        Ok(PgLoad {
            clients: vec![Mutex::new(client)],
            free: Semaphore::new(1),
            url: url.to_string(),
            tuning,
            schema: schema.to_string(),
            tables,
            fk_mode: FkMode::Recreate,
            dropped_fks: Vec::new(),
            existing,
            superuser,
            per_table,
            run_tables: Vec::new(),
            done: std::sync::Mutex::new(Vec::new()),
            frozen: Vec::new(),
            exact: Vec::new(),
            deferred: Vec::new(),
            structure: Vec::new(),
            disable_triggers: false,
            changed: std::sync::Mutex::new(Vec::new()),
            _lock_watch: lock_watch,
            audit: Vec::new(),
            audit_filled: std::sync::Mutex::new(Vec::new()),
            own_defaults: std::sync::Mutex::new(Vec::new()),
            copy_bytes: std::sync::Mutex::new(Vec::new()),
        })
    }

    /// `audit_defaults`: these columns, which the source does not carry, are filled with
    /// their value for every row (a column default set for the COPY only, inside its
    /// transaction, and dropped again before commit).
    pub fn audit_defaults(mut self, fills: Vec<AuditFill>) -> Self {
        self.audit = fills;
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

    /// Which tables took FREEZE, which indexes were rebuilt, how many streams COPYed.
    pub fn summary(&self) -> LoadSummary {
        LoadSummary {
            frozen: self.frozen.iter().filter(|t| !self.existing.contains(t)).cloned().collect(),
            rebuilt_indexes: self.deferred.iter().map(|d| d.name.clone()).collect(),
            streams: self.clients.len(),
            triggers: self
                .tables
                .iter()
                .filter(|t| self.run_tables.contains(&t.name))
                .flat_map(|t| t.triggers.iter().map(move |g| format!("{}.{g}", t.name)))
                .collect(),
            triggers_disabled: self.fk_mode == FkMode::Replica,
            changed: self.changed.lock().expect("not poisoned").clone(),
            audit_filled: self.audit_filled.lock().expect("not poisoned").clone(),
            copy_bytes: self.copy_bytes.lock().expect("not poisoned").clone(),
            foreign_keys: match self.fk_mode {
                FkMode::Recreate => "dropped for the load and re-created in its transaction (PostgreSQL validated them)",
                FkMode::Replica => "not enforced during the load (session_replication_role = replica); converge proved every one free of orphans before commit",
                FkMode::RiOff => "PostgreSQL's own foreign-key check triggers of each table were off during its COPY; converge proved its foreign keys before it committed",
                FkMode::Enforced => "enforced row by row (tables loaded in dependency order)",
            }
            .to_string(),
            state_table: self.per_table.as_ref().map(|_| "converge.load_state".to_string()),
        }
    }

    /// The control connection (the run's transaction).
    async fn control(&self) -> MutexGuard<'_, Client> {
        self.clients[0].lock().await
    }

    /// A connection to COPY on: any free one.
    async fn stream(&self) -> (SemaphorePermit<'_>, MutexGuard<'_, Client>) {
        let permit = self.free.acquire().await.expect("the semaphore is never closed");
        for c in &self.clients {
            if let Ok(guard) = c.try_lock() {
                return (permit, guard);
            }
        }
        unreachable!("a permit means a free connection")
    }

    /// Begins the transaction: refuses non-empty target tables unless `truncate`, then
    /// suspends foreign-key enforcement.
    pub async fn begin(&mut self, loaded: &[String], truncate: bool) -> Result<()> {
        self.run_tables = loaded.to_vec();
        let client = self.clients[0].get_mut();
        let mut non_empty = Vec::new();
        for t in loaded.iter().filter(|t| !self.existing.contains(t)) {
            let q = format!("SELECT EXISTS (SELECT 1 FROM {})", qualified(&self.schema, t));
            let row =
                client.query_one(&q, &[]).await.map_err(|e| Error::postgres(format!("checking `{t}` is empty"), &e))?;
            if row.get::<_, bool>(0) {
                non_empty.push(t.clone());
            }
        }
        if !non_empty.is_empty() && !truncate {
            return Err(Error::other(format!(
                "the target tables {} are not empty; set truncate = true on the postgres sink to replace their rows",
                non_empty.iter().map(|t| format!("`{t}`")).collect::<Vec<_>>().join(", ")
            )));
        }
        if self.disable_triggers && !self.superuser {
            return Err(Error::other(
                "triggers = \"disable\" needs a superuser (it sets session_replication_role = replica); \
                 without it the target's triggers fire as they would for the application",
            ));
        }
        client.batch_execute("BEGIN").await.map_err(|e| Error::postgres("BEGIN", &e))?;
        let defer = self.tuning.defer_indexes && self.per_table.is_none();
        // The target's own triggers fire unless the pipeline turns them off: foreign keys
        // are kept out of the way by dropping and re-creating them (single transaction),
        // per table by switching off only PostgreSQL's own foreign-key check triggers of
        // the table being loaded (a superuser) or by loading in dependency order.
        self.fk_mode = match &self.per_table {
            _ if self.disable_triggers => FkMode::Replica,
            None => FkMode::Recreate,
            Some(_) if self.superuser => FkMode::RiOff,
            Some(_) => FkMode::Enforced,
        };
        if self.fk_mode == FkMode::Replica && self.per_table.is_none() {
            client
                .batch_execute("SET LOCAL session_replication_role = replica")
                .await
                .map_err(|e| Error::postgres("suspending FK checks", &e))?;
        }
        let fresh: Vec<String> = loaded.iter().filter(|t| !self.existing.contains(t)).cloned().collect();
        if defer {
            self.structure = structure(client, &self.schema, &fresh).await?;
        }
        if self.fk_mode == FkMode::Recreate {
            for t in &self.tables {
                for fk in &t.foreign_keys {
                    if loaded.contains(&t.name) || loaded.contains(&fk.ref_table) {
                        let q = format!(
                            "ALTER TABLE {} DROP CONSTRAINT {}",
                            qualified(&self.schema, &t.name),
                            ident::pg(&fk.name)
                        );
                        client
                            .batch_execute(&q)
                            .await
                            .map_err(|e| Error::postgres(format!("dropping FK `{}`", fk.name), &e))?;
                        self.dropped_fks.push((t.name.clone(), fk.name.clone(), fk.definition.clone()));
                    }
                }
            }
        }
        // Tables emptied by this transaction take COPY FREEZE; an empty table is truncated
        // too when nothing outside the load references it (TRUNCATE would refuse).
        let mut truncated = non_empty.clone();
        if self.tuning.freeze && self.per_table.is_none() {
            self.frozen = freezable(client, &self.schema, &fresh).await?;
            truncated.extend(self.frozen.iter().filter(|t| !non_empty.contains(t)).cloned());
        }
        // TRUNCATE takes the (empty) loaded tables that reference a truncated one with it.
        while let Some(t) = self.tables.iter().find(|t| {
            fresh.contains(&t.name)
                && !truncated.contains(&t.name)
                && t.foreign_keys.iter().any(|fk| truncated.contains(&fk.ref_table))
        }) {
            truncated.push(t.name.clone());
        }
        if !truncated.is_empty() {
            let list: Vec<String> = truncated.iter().map(|t| qualified(&self.schema, t)).collect();
            client
                .batch_execute(&format!("TRUNCATE {}", list.join(", ")))
                .await
                .map_err(|e| Error::postgres("TRUNCATE", &e))?;
            if self.per_table.is_none() {
                self.exact = without_triggers(client, &self.schema, &truncated).await?;
            }
        }
        if defer {
            self.deferred = deferrable_indexes(client, &self.schema, &fresh).await?;
            for d in &self.deferred {
                client
                    .batch_execute(&d.drop_sql(&self.schema))
                    .await
                    .map_err(|e| Error::postgres(format!("dropping index `{}` until after the load", d.name), &e))?;
            }
        }
        if let Some(pt) = &self.per_table {
            // The tables about to be loaded are no longer committed ones.
            state::ensure(client).await?;
            state::forget(client, &pt.pipeline, &self.schema, &fresh).await?;
            // Truncation done; each table now gets its own transaction.
            client.batch_execute("COMMIT").await.map_err(|e| Error::postgres("COMMIT", &e))?;
        }
        let unenforced = matches!(self.fk_mode, FkMode::Replica | FkMode::RiOff);
        if self.per_table.is_some() && unenforced && self.tuning.streams > 1 {
            // Foreign keys are proven per table, not enforced row by row: tables may load
            // side by side, each on its own connection.
            for _ in 1..self.tuning.streams {
                self.clients.push(Mutex::new(connect(&self.url).await?));
            }
            self.free = Semaphore::new(self.clients.len());
        }
        Ok(())
    }

    /// COPYs one table's batches; returns the row count COPY reported. On a rejected value
    /// or a server error the error names the row by its source key.
    pub async fn copy_table<S>(&self, target: &TableTarget, key: &[String], mut batches: S) -> Result<u64>
    where
        S: futures::Stream<Item = Result<RecordBatch>> + Unpin,
    {
        use futures::StreamExt;
        // The connection is taken only once the table's first batch is there, so tables
        // take it in the order their data arrives (the source delivers them one by one).
        let first = batches.next().await;
        let (_permit, client) = self.stream().await;
        if self.per_table.is_some() {
            client.batch_execute("BEGIN").await.map_err(|e| Error::postgres("BEGIN", &e))?;
            if self.fk_mode == FkMode::Replica {
                client
                    .batch_execute("SET LOCAL session_replication_role = replica")
                    .await
                    .map_err(|e| Error::postgres("suspending FK checks", &e))?;
            }
        }
        let ri = if self.fk_mode == FkMode::RiOff { self.ri_checks(&client, &target.table, false).await? } else { 0 };
        let fills: Vec<&AuditFill> = self.audit.iter().filter(|f| f.table == target.table).collect();
        self.fill_defaults(&client, &fills, true).await?;
        let cols: Vec<String> = target.columns.iter().map(|c| ident::pg(&c.name)).collect();
        let table = qualified(&self.schema, &target.table);
        let compare = self.existing.contains(&target.table);
        let into = if compare {
            // Rows the target already has: COPY into a twin and compare instead of loading.
            let twin = ident::pg(&format!("converge_compare_{}", target.table));
            let q = format!("CREATE TEMP TABLE {twin} (LIKE {table}) ON COMMIT DROP");
            client
                .batch_execute(&q)
                .await
                .map_err(|e| Error::postgres(format!("preparing to compare `{}`", target.table), &e))?;
            twin
        } else {
            table.clone()
        };
        let freeze = if !compare && self.frozen.contains(&target.table) { ", FREEZE" } else { "" };
        let sql = format!("COPY {into} ({}) FROM STDIN (FORMAT binary{freeze})", cols.join(", "));
        let sink = client
            .copy_in::<_, bytes::Bytes>(&sql)
            .await
            .map_err(|e| Error::postgres(format!("starting COPY into `{}`", target.table), &e))?;
        futures::pin_mut!(sink);
        let mut encoder: Option<CopyEncoder> = None;
        let mut buf = BytesMut::with_capacity(2 * SEND_CHUNK);
        CopyEncoder::header(&mut buf);
        let mut keys = KeyRing::new(key);
        let mut rows = 0u64;
        let mut sent = 0u64;
        let fail = |e: tokio_postgres::Error, keys: &KeyRing| keys.locate(&target.table, e);
        let mut next = first;
        while let Some(batch) = next {
            let batch = batch?;
            let enc = match &mut encoder {
                Some(e) => e,
                None => encoder.insert(
                    CopyEncoder::new(&batch.schema(), target.columns.clone())
                        .map_err(|m| Error::other(format!("table `{}`: {m}", target.table)))?,
                ),
            };
            keys.push(&batch, rows);
            if let Err(r) = enc.encode(&batch, &mut buf) {
                return Err(rejected(&target.table, &keys, rows, r));
            }
            rows += batch.num_rows() as u64;
            if buf.len() >= SEND_CHUNK {
                sent += buf.len() as u64;
                send_chunks(&mut sink, &mut buf).await.map_err(|e| fail(e, &keys))?;
            }
            next = batches.next().await;
        }
        CopyEncoder::trailer(&mut buf);
        sent += buf.len() as u64;
        send_chunks(&mut sink, &mut buf).await.map_err(|e| fail(e, &keys))?;
        self.copy_bytes.lock().expect("not poisoned").push((target.table.clone(), sent));
        let copied = sink.finish().await.map_err(|e| fail(e, &keys))?;
        if let Some(enc) = &encoder {
            let mut changed = self.changed.lock().expect("not poisoned");
            for (col, &n) in enc.columns().iter().zip(enc.changed()).filter(|(_, &n)| n > 0) {
                changed.push((target.table.clone(), col.name.clone(), n));
            }
        }
        if compare {
            let list = cols.join(", ");
            let q = format!(
                "SELECT (SELECT count(*) FROM (SELECT {list} FROM {into} EXCEPT ALL SELECT {list} FROM {table}) a), \
                        (SELECT count(*) FROM (SELECT {list} FROM {table} EXCEPT ALL SELECT {list} FROM {into}) b)"
            );
            let row = client
                .query_one(&q, &[])
                .await
                .map_err(|e| Error::postgres(format!("comparing `{}`", target.table), &e))?;
            let (missing, extra): (i64, i64) = (row.get(0), row.get(1));
            if missing + extra > 0 {
                return Err(Error::other(format!(
                    "table `{}` is filled by the target's own migrations and differs from the source: {missing} source rows are not in the target, {extra} target rows are not in the source",
                    target.table
                )));
            }
        }
        if ri > 0 {
            self.ri_checks(&client, &target.table, true).await?;
        }
        self.fill_defaults(&client, &fills, false).await?;
        {
            let mut filled = self.audit_filled.lock().expect("not poisoned");
            filled.extend(fills.iter().map(|f| (f.table.clone(), f.column.clone(), f.value.clone(), copied)));
        }
        if let Some(pt) = &self.per_table {
            // This table's transaction: prove its foreign keys towards tables already in
            // place, move its sequences, record it for a rerun, commit.
            let done: Vec<String> = {
                let mut d = self.done.lock().expect("not poisoned").clone();
                d.push(target.table.clone());
                d
            };
            let fks = self.fks_among(&done, Some(&target.table));
            self.prove_fks(&client, &fks).await?;
            self.reset_sequences(&client, &target.table).await?;
            let c = Committed { table: target.table.clone(), rows: copied, migration_id: pt.migration_id.clone() };
            state::record(&client, &pt.pipeline, &self.schema, &c).await?;
            client
                .batch_execute("COMMIT")
                .await
                .map_err(|e| Error::postgres(format!("committing `{}`", target.table), &e))?;
            self.done.lock().expect("not poisoned").push(target.table.clone());
        }
        Ok(copied)
    }

    /// Re-creates dropped foreign keys, proves every foreign key of the loaded tables has
    /// no orphans, moves sequences past the loaded maximum, and counts each table whose
    /// COPY count is not already exact.
    pub async fn finish(&self, loaded: &[String]) -> Result<Vec<(String, u64)>> {
        let client = self.control().await;
        for d in &self.deferred {
            let key = self.tables.iter().find(|t| t.name == d.table).map(|t| &t.primary_key[..]).unwrap_or(&[]);
            d.rebuild(&client, &self.schema, key).await?;
        }
        // Planner statistics for the key columns before anything joins on them: a table
        // loaded in this transaction has none, and without them PostgreSQL reads the
        // whole heap to prove a foreign key instead of the (all-visible) indexes.
        for t in loaded.iter().filter(|t| !self.existing.contains(t)) {
            self.analyze_keys(&client, t).await?;
        }
        for (t, name, def) in &self.dropped_fks {
            // ADD CONSTRAINT validates the rows itself (unless the definition says NOT
            // VALID); on a violation, the savepoint lets the proof name the orphans.
            let q = format!(
                "SAVEPOINT converge_fk; ALTER TABLE {} ADD CONSTRAINT {} {def}; RELEASE SAVEPOINT converge_fk",
                qualified(&self.schema, t),
                ident::pg(name)
            );
            if let Err(e) = client.batch_execute(&q).await {
                if e.code() == Some(&tokio_postgres::error::SqlState::FOREIGN_KEY_VIOLATION)
                    && client.batch_execute("ROLLBACK TO SAVEPOINT converge_fk").await.is_ok()
                {
                    let fks: Vec<_> = self
                        .fks_among(loaded, None)
                        .into_iter()
                        .filter(|(c, fk)| &c.name == t && &fk.name == name)
                        .collect();
                    self.prove_fks(&client, &fks).await?;
                }
                return Err(Error::postgres(format!("re-creating foreign key `{name}` of `{t}`"), &e));
            }
        }
        if !self.structure.is_empty() {
            let fresh: Vec<String> = loaded.iter().filter(|t| !self.existing.contains(t)).cloned().collect();
            let now = structure(&client, &self.schema, &fresh).await?;
            if now != self.structure {
                let gone: Vec<&String> = self.structure.iter().filter(|s| !now.contains(s)).collect();
                let new: Vec<&String> = now.iter().filter(|s| !self.structure.contains(s)).collect();
                return Err(Error::other(format!(
                    "the indexes and foreign keys re-created after the load differ from the ones before it (nothing was committed):\n  before: {}\n  after:  {}",
                    gone.iter().map(|s| s.as_str()).collect::<Vec<_>>().join("; "),
                    new.iter().map(|s| s.as_str()).collect::<Vec<_>>().join("; ")
                )));
            }
        }
        if self.per_table.is_none() {
            // A foreign key re-created above was validated by PostgreSQL as it was added;
            // the others (kept in place while triggers were off) are proven here.
            // (Constraint names are unique per table, not per schema: match both.)
            let validated = |t: &PgTable, fk: &PgForeignKey| {
                self.dropped_fks.iter().any(|(c, n, def)| c == &t.name && n == &fk.name && !def.contains("NOT VALID"))
            };
            let unproven: Vec<_> =
                self.fks_among(loaded, None).into_iter().filter(|(t, fk)| !validated(t, fk)).collect();
            self.prove_fks(&client, &unproven).await?;
            for t in loaded {
                self.reset_sequences(&client, t).await?;
            }
        } else if let Err(e) = self.prove_fks(&client, &self.fks_among(loaded, None)).await {
            // Each table was proven against the tables before it; this catches references
            // to tables that came later (cycles). The committed tables stay.
            return Err(Error::other(format!("{e}\n  (per-table mode: the tables before were committed)")));
        }
        // A table this transaction emptied, under TRUNCATE's lock and with no trigger,
        // holds exactly the rows its COPY reported: counting it here would scan it for a
        // number already known. It is counted after commit like every other table.
        let others: Vec<String> = loaded.iter().filter(|t| !self.exact.contains(t)).cloned().collect();
        self.count(&client, &others).await
    }

    /// The foreign keys whose child is in `tables` and whose parent is in `tables` or not
    /// loaded by this run; with `touching`, only those with that table at either end.
    fn fks_among<'a>(&'a self, tables: &[String], touching: Option<&str>) -> Vec<(&'a PgTable, &'a PgForeignKey)> {
        self.tables
            .iter()
            .filter(|t| tables.contains(&t.name))
            .flat_map(|t| t.foreign_keys.iter().map(move |fk| (t, fk)))
            .filter(|(_, fk)| {
                tables.contains(&fk.ref_table)
                    || !self.tables.iter().any(|x| x.name == fk.ref_table)
                    || touching.is_none()
            })
            .filter(|(t, fk)| touching.is_none_or(|x| t.name == x || fk.ref_table == x))
            .collect()
    }

    /// Proves the foreign keys have no orphans; the error lists counts and example keys.
    async fn prove_fks(&self, client: &Client, fks: &[(&PgTable, &PgForeignKey)]) -> Result<()> {
        let mut orphans = Vec::new();
        for (t, fk) in fks {
            let (n, examples) = super::integrity::orphans(client, &self.schema, &t.name, fk).await?;
            if n > 0 {
                orphans.push(format!(
                    "`{}`.({}) → `{}`: {n} orphaned rows, e.g. {}",
                    t.name,
                    fk.columns.join(", "),
                    fk.ref_table,
                    examples.join("; ")
                ));
            }
        }
        if !orphans.is_empty() {
            return Err(Error::other(format!(
                "foreign keys with orphans after the load (nothing was committed):\n  {}",
                orphans.join("\n  ")
            )));
        }
        Ok(())
    }

    /// `ANALYZE` of the table's key columns (primary key, its foreign keys, and the
    /// columns other tables' foreign keys reference): a sample, not a scan. The
    /// statistics commit with the load (and leave the target's planner informed).
    async fn analyze_keys(&self, client: &Client, table: &str) -> Result<()> {
        let Some(t) = self.tables.iter().find(|t| t.name == table) else { return Ok(()) };
        let mut cols: Vec<&String> = t.primary_key.iter().collect();
        cols.extend(t.foreign_keys.iter().flat_map(|fk| &fk.columns));
        let referenced = self.tables.iter().flat_map(|o| &o.foreign_keys).filter(|fk| fk.ref_table == table);
        cols.extend(referenced.flat_map(|fk| &fk.ref_columns));
        cols.sort();
        cols.dedup();
        if cols.is_empty() {
            return Ok(());
        }
        let list: Vec<String> = cols.iter().map(|c| ident::pg(c)).collect();
        let q = format!("ANALYZE {} ({})", qualified(&self.schema, table), list.join(", "));
        client.batch_execute(&q).await.map_err(|e| Error::postgres(format!("analyzing `{table}`"), &e))
    }

    /// Sets the column defaults that fill the audit columns (`set`), first reading the
    /// target's own, or puts the target's own back (`!set`).
    async fn fill_defaults(&self, client: &Client, fills: &[&AuditFill], set: bool) -> Result<()> {
        for f in fills {
            let table = qualified(&self.schema, &f.table);
            let action = if set {
                let own = own_default(client, &table, &f.column).await?;
                self.own_defaults.lock().expect("not poisoned").push((f.table.clone(), f.column.clone(), own));
                format!("SET DEFAULT {}", f.value)
            } else {
                let own = self.own_defaults.lock().expect("not poisoned");
                match own.iter().find(|(t, c, _)| t == &f.table && c == &f.column).and_then(|x| x.2.clone()) {
                    Some(expr) => format!("SET DEFAULT {expr}"),
                    None => "DROP DEFAULT".to_string(),
                }
            };
            let q = format!("ALTER TABLE {table} ALTER COLUMN {} {action}", ident::pg(&f.column));
            client
                .batch_execute(&q)
                .await
                .map_err(|e| Error::postgres(format!("filling the audit column `{}`.`{}`", f.table, f.column), &e))?;
        }
        Ok(())
    }

    /// Switches the foreign-key check triggers of `table` off (or back on) inside the
    /// table's transaction: PostgreSQL's internal `RI_FKey_check_ins` triggers only,
    /// never the user's. Returns how many there are.
    async fn ri_checks(&self, client: &Client, table: &str, on: bool) -> Result<usize> {
        let q = "SELECT tg.tgname::text FROM pg_trigger tg WHERE tg.tgrelid = $1::text::regclass \
                 AND tg.tgisinternal AND tg.tgfoid = 'pg_catalog.\"RI_FKey_check_ins\"'::regproc";
        let qt = qualified(&self.schema, table);
        let names = client
            .query(q, &[&qt])
            .await
            .map_err(|e| Error::postgres(format!("reading the foreign-key triggers of `{table}`"), &e))?;
        for r in &names {
            let name: String = r.get(0);
            let verb = if on { "ENABLE" } else { "DISABLE" };
            let q = format!("ALTER TABLE {qt} {verb} TRIGGER {}", ident::pg(&name));
            client
                .batch_execute(&q)
                .await
                .map_err(|e| Error::postgres(format!("suspending the foreign-key checks of `{table}`"), &e))?;
        }
        Ok(names.len())
    }

    /// Moves every sequence of `table` past its column's loaded maximum.
    async fn reset_sequences(&self, client: &Client, table: &str) -> Result<()> {
        for t in self.tables.iter().filter(|t| t.name == table) {
            for c in t.columns.iter().filter(|c| c.sequence.is_some()) {
                let seq = c.sequence.as_deref().expect("filtered");
                let q = format!(
                    "SELECT setval({}, GREATEST(COALESCE(max({}), 0), 1), max({}) IS NOT NULL) FROM {}",
                    ident::pg_literal(seq),
                    ident::pg(&c.name),
                    ident::pg(&c.name),
                    qualified(&self.schema, &t.name)
                );
                client.batch_execute(&q).await.map_err(|e| Error::postgres(format!("resetting sequence {seq}"), &e))?;
            }
        }
        Ok(())
    }

    /// The tables a per-table load committed earlier for this pipeline and schema.
    pub async fn committed_earlier(&self) -> Result<Vec<Committed>> {
        let Some(pt) = &self.per_table else { return Ok(Vec::new()) };
        let client = self.control().await;
        state::read(&client, &pt.pipeline, &self.schema).await
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

    /// Commits, then counts every loaded table again outside the transaction.
    pub async fn commit(&self, loaded: &[String]) -> Result<Vec<(String, u64)>> {
        let client = self.control().await;
        if self.per_table.is_none() {
            client.batch_execute("COMMIT").await.map_err(|e| Error::postgres("COMMIT", &e))?;
        }
        self.count(&client, loaded).await
    }

    /// The tables committed so far (per-table mode; none in single-transaction mode).
    pub fn committed(&self) -> Vec<String> {
        self.done.lock().expect("not poisoned").clone()
    }

    /// Rolls back everything this load did.
    pub async fn rollback(&self) {
        for c in &self.clients {
            let _ = c.lock().await.batch_execute("ROLLBACK").await;
        }
    }
}
