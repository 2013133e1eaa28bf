//! The loaded tables' keys (docs/architecture.md, "The flow", step 4): foreign keys
//! proven free of orphans, key columns analyzed, sequences moved past the loaded maximum.

use tokio_postgres::Client;

use super::PgLoad;
use crate::error::{Error, Result};
use crate::ident;
use crate::ident::pg_qualified as qualified;
use crate::pg::introspect::{PgForeignKey, PgTable};

impl PgLoad {
    /// The foreign keys whose child is in `tables` and whose parent is in `tables` or not
    /// loaded by this run; with `touching`, only those with that table at either end.
    pub(super) fn fks_among<'a>(
        &'a self,
        tables: &[String],
        touching: Option<&str>,
    ) -> Vec<(&'a PgTable, &'a PgForeignKey)> {
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
    pub(super) async fn prove_fks(&self, client: &Client, fks: &[(&PgTable, &PgForeignKey)]) -> Result<()> {
        let mut orphans = Vec::new();
        for (t, fk) in fks {
            let (n, examples) = crate::pg::integrity::orphans(client, &self.schema, &t.name, fk).await?;
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

    /// Moves every sequence of `table` past its column's loaded maximum and to MySQL's
    /// `AUTO_INCREMENT` counter when that is further: the next value is the larger.
    pub(super) async fn reset_sequences(&self, client: &Client, table: &str) -> Result<()> {
        for t in self.tables.iter().filter(|t| t.name == table) {
            for c in t.columns.iter().filter(|c| c.sequence.is_some()) {
                let seq = c.sequence.as_deref().expect("filtered");
                let counter = self.counters.iter().find(|(t, col, _)| t == table && *col == c.name);
                // The last value handed out: MySQL's counter is the next one.
                let given = counter.map_or(0, |(.., next)| next.saturating_sub(1));
                let col = ident::pg(&c.name);
                let last = format!("GREATEST(COALESCE(max({col}), 0), {given})::bigint");
                let q = format!(
                    "SELECT setval({}, GREATEST({last}, 1), {last} >= 1) FROM {}",
                    ident::pg_literal(seq),
                    qualified(&self.schema, &t.name)
                );
                client.batch_execute(&q).await.map_err(|e| Error::postgres(format!("resetting sequence {seq}"), &e))?;
            }
        }
        Ok(())
    }

    /// Planner statistics for the key columns before anything joins on them: a table
    /// loaded in this transaction has none, and without them PostgreSQL reads the
    /// whole heap to prove a foreign key instead of the (all-visible) indexes.
    pub(super) async fn analyze_fresh(&self, client: &Client, loaded: &[String]) -> Result<()> {
        for t in loaded.iter().filter(|t| !self.existing.contains(t)) {
            self.analyze_keys(client, t).await?;
        }
        Ok(())
    }
}
