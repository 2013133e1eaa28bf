//! One transaction for the whole run (docs/architecture.md, "The flow", step 4): foreign
//! keys dropped and re-created inside it, emptied tables loaded with `COPY … FREEZE`,
//! indexes built once after the load and proven identical, and one COMMIT at the end.

use tokio_postgres::Client;

use super::{FkMode, PgLoad, Tuning};
use crate::error::{Error, Result};
use crate::ident;
use crate::ident::pg_qualified as qualified;
use crate::pg::introspect::{PgForeignKey, PgTable};
use crate::sink::postgres::tuning::{deferrable_indexes, freezable, structure, without_triggers, DeferredIndex};

/// The single-transaction strategy: what the transaction changed in the target's
/// structure, to put back and prove before it commits.
pub(super) struct RunTxn {
    tuning: Tuning,
    /// Foreign keys dropped for the load: table, name, definition.
    dropped_fks: Vec<(String, String, String)>,
    /// Tables loaded with `COPY … FREEZE`.
    pub(super) frozen: Vec<String>,
    /// Tables this transaction emptied and no trigger writes to: COPY's row count is
    /// what they hold until commit (nothing else can write them under TRUNCATE's lock).
    exact: Vec<String>,
    /// Indexes dropped until after the load.
    pub(super) deferred: Vec<DeferredIndex>,
    /// The indexes and foreign keys before the load, to compare with after it.
    structure: Vec<String>,
}

impl RunTxn {
    pub(super) fn new(tuning: Tuning) -> Self {
        RunTxn {
            tuning,
            dropped_fks: Vec::new(),
            frozen: Vec::new(),
            exact: Vec::new(),
            deferred: Vec::new(),
            structure: Vec::new(),
        }
    }

    /// Before TRUNCATE: suspends the foreign keys (replica, or dropping them), notes the
    /// structure to rebuild, and returns the tables that may take FREEZE (to truncate).
    pub(super) async fn prepare(
        &mut self,
        client: &Client,
        schema: &str,
        tables: &[PgTable],
        loaded: &[String],
        fresh: &[String],
        fk_mode: FkMode,
    ) -> Result<Vec<String>> {
        if fk_mode == FkMode::Replica {
            client
                .batch_execute("SET LOCAL session_replication_role = replica")
                .await
                .map_err(|e| Error::postgres("suspending FK checks", &e))?;
        }
        if self.tuning.defer_indexes {
            self.structure = structure(client, schema, fresh).await?;
        }
        if fk_mode == FkMode::Recreate {
            self.drop_fks(client, schema, tables, loaded).await?;
        }
        if self.tuning.freeze {
            self.frozen = freezable(client, schema, fresh).await?;
        }
        Ok(self.frozen.clone())
    }

    /// Drops every foreign key from or to a loaded table, remembering its definition.
    async fn drop_fks(&mut self, client: &Client, schema: &str, tables: &[PgTable], loaded: &[String]) -> Result<()> {
        for t in tables {
            for fk in &t.foreign_keys {
                if loaded.contains(&t.name) || loaded.contains(&fk.ref_table) {
                    let q =
                        format!("ALTER TABLE {} DROP CONSTRAINT {}", qualified(schema, &t.name), ident::pg(&fk.name));
                    client
                        .batch_execute(&q)
                        .await
                        .map_err(|e| Error::postgres(format!("dropping FK `{}`", fk.name), &e))?;
                    self.dropped_fks.push((t.name.clone(), fk.name.clone(), fk.definition.clone()));
                }
            }
        }
        Ok(())
    }

    /// After TRUNCATE: notes which tables' COPY counts are exact, and drops the indexes
    /// to build after the load.
    pub(super) async fn after_truncate(
        &mut self,
        client: &Client,
        schema: &str,
        fresh: &[String],
        truncated: &[String],
    ) -> Result<()> {
        if !truncated.is_empty() {
            self.exact = without_triggers(client, schema, truncated).await?;
        }
        if self.tuning.defer_indexes {
            self.deferred = deferrable_indexes(client, schema, fresh).await?;
            for d in &self.deferred {
                client
                    .batch_execute(&d.drop_sql(schema))
                    .await
                    .map_err(|e| Error::postgres(format!("dropping index `{}` until after the load", d.name), &e))?;
            }
        }
        Ok(())
    }

    /// Rebuilds the indexes, re-creates the foreign keys (PostgreSQL validates them),
    /// proves the others, moves the sequences, and counts the tables whose COPY count is
    /// not exact.
    pub(super) async fn finish(&self, load: &PgLoad, client: &Client, loaded: &[String]) -> Result<Vec<(String, u64)>> {
        for d in &self.deferred {
            let key = load.tables.iter().find(|t| t.name == d.table).map(|t| &t.primary_key[..]).unwrap_or(&[]);
            d.rebuild(client, &load.schema, key).await?;
        }
        load.analyze_fresh(client, loaded).await?;
        self.recreate_fks(load, client, loaded).await?;
        self.check_structure(load, client, loaded).await?;
        // A foreign key re-created above was validated by PostgreSQL as it was added;
        // the others (kept in place while triggers were off) are proven here.
        // (Constraint names are unique per table, not per schema: match both.)
        let validated = |t: &PgTable, fk: &PgForeignKey| {
            self.dropped_fks.iter().any(|(c, n, def)| c == &t.name && n == &fk.name && !def.contains("NOT VALID"))
        };
        let unproven: Vec<_> = load.fks_among(loaded, None).into_iter().filter(|(t, fk)| !validated(t, fk)).collect();
        load.prove_fks(client, &unproven).await?;
        for t in loaded {
            load.reset_sequences(client, t).await?;
        }
        // A table this transaction emptied, under TRUNCATE's lock and with no trigger,
        // holds exactly the rows its COPY reported: counting it here would scan it for a
        // number already known. It is counted after commit like every other table.
        let others: Vec<String> = loaded.iter().filter(|t| !self.exact.contains(t)).cloned().collect();
        load.count(client, &others).await
    }

    /// Re-creates the dropped foreign keys; on a violation, the error names the orphans.
    async fn recreate_fks(&self, load: &PgLoad, client: &Client, loaded: &[String]) -> Result<()> {
        for (t, name, def) in &self.dropped_fks {
            // ADD CONSTRAINT validates the rows itself (unless the definition says NOT
            // VALID); on a violation, the savepoint lets the proof name the orphans.
            let q = format!(
                "SAVEPOINT converge_fk; ALTER TABLE {} ADD CONSTRAINT {} {def}; RELEASE SAVEPOINT converge_fk",
                qualified(&load.schema, t),
                ident::pg(name)
            );
            if let Err(e) = client.batch_execute(&q).await {
                if e.code() == Some(&tokio_postgres::error::SqlState::FOREIGN_KEY_VIOLATION)
                    && client.batch_execute("ROLLBACK TO SAVEPOINT converge_fk").await.is_ok()
                {
                    let fks: Vec<_> = load
                        .fks_among(loaded, None)
                        .into_iter()
                        .filter(|(c, fk)| &c.name == t && &fk.name == name)
                        .collect();
                    load.prove_fks(client, &fks).await?;
                }
                return Err(Error::postgres(format!("re-creating foreign key `{name}` of `{t}`"), &e));
            }
        }
        Ok(())
    }

    /// The indexes and foreign keys after the load must be the ones before it.
    async fn check_structure(&self, load: &PgLoad, client: &Client, loaded: &[String]) -> Result<()> {
        if self.structure.is_empty() {
            return Ok(());
        }
        let fresh: Vec<String> = loaded.iter().filter(|t| !load.existing.contains(t)).cloned().collect();
        let now = structure(client, &load.schema, &fresh).await?;
        if now != self.structure {
            let gone: Vec<&String> = self.structure.iter().filter(|s| !now.contains(s)).collect();
            let new: Vec<&String> = now.iter().filter(|s| !self.structure.contains(s)).collect();
            return Err(Error::other(format!(
                "the indexes and foreign keys re-created after the load differ from the ones before it (nothing was committed):\n  before: {}\n  after:  {}",
                gone.iter().map(|s| s.as_str()).collect::<Vec<_>>().join("; "),
                new.iter().map(|s| s.as_str()).collect::<Vec<_>>().join("; ")
            )));
        }
        Ok(())
    }
}
