//! Beginning a load (docs/architecture.md, "The flow", step 4): the target tables are
//! checked empty (or truncated), and each strategy prepares its transaction.

use tokio::sync::{Mutex, Semaphore};
use tokio_postgres::Client;

use super::{FkMode, PgLoad, Strategy};
use crate::error::{Error, Result};
use crate::ident::pg_qualified as qualified;
use crate::sink::postgres::connect::connect;
use crate::sink::postgres::introspect::PgTable;

impl PgLoad {
    /// Begins the transaction: refuses non-empty target tables unless `truncate`, then
    /// suspends foreign-key enforcement.
    pub async fn begin(&mut self, loaded: &[String], truncate: bool) -> Result<()> {
        self.run_tables = loaded.to_vec();
        let fresh: Vec<String> = loaded.iter().filter(|t| !self.existing.contains(t)).cloned().collect();
        let client: &Client = self.clients[0].get_mut();
        let non_empty = non_empty(client, &self.schema, &fresh).await?;
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
        self.fk_mode = self.strategy.fk_mode(self.disable_triggers, self.superuser);
        // Tables emptied by this transaction take COPY FREEZE; an empty table is truncated
        // too when nothing outside the load references it (TRUNCATE would refuse).
        let mut truncated = non_empty.clone();
        if let Strategy::Run(run) = &mut self.strategy {
            let frozen = run.prepare(client, &self.schema, &self.tables, loaded, &fresh, self.fk_mode).await?;
            truncated.extend(frozen.into_iter().filter(|t| !non_empty.contains(t)));
        }
        truncate_tables(client, &self.schema, &self.tables, &fresh, &mut truncated).await?;
        match &mut self.strategy {
            Strategy::Run(run) => run.after_truncate(client, &self.schema, &fresh, &truncated).await?,
            Strategy::PerTable(pt) => pt.after_truncate(client, &self.schema, &fresh).await?,
        }
        self.open_streams().await
    }

    /// Per-table mode with foreign keys proven per table, not enforced row by row: tables
    /// may load side by side, each on its own connection.
    async fn open_streams(&mut self) -> Result<()> {
        let unenforced = matches!(self.fk_mode, FkMode::Replica | FkMode::RiOff);
        if matches!(self.strategy, Strategy::PerTable(_)) && unenforced && self.tuning.streams > 1 {
            for _ in 1..self.tuning.streams {
                self.clients.push(Mutex::new(connect(&self.url).await?));
            }
            self.free = Semaphore::new(self.clients.len());
        }
        Ok(())
    }
}

/// The tables of `fresh` that already hold rows.
async fn non_empty(client: &Client, schema: &str, fresh: &[String]) -> Result<Vec<String>> {
    let mut non_empty = Vec::new();
    for t in fresh {
        let q = format!("SELECT EXISTS (SELECT 1 FROM {})", qualified(schema, t));
        let row =
            client.query_one(&q, &[]).await.map_err(|e| Error::postgres(format!("checking `{t}` is empty"), &e))?;
        if row.get::<_, bool>(0) {
            non_empty.push(t.clone());
        }
    }
    Ok(non_empty)
}

/// TRUNCATEs `truncated`, taking with them the (empty) loaded tables that reference one
/// of them (TRUNCATE would refuse otherwise); `truncated` then names them all.
async fn truncate_tables(
    client: &Client,
    schema: &str,
    tables: &[PgTable],
    fresh: &[String],
    truncated: &mut Vec<String>,
) -> Result<()> {
    while let Some(t) = tables.iter().find(|t| {
        fresh.contains(&t.name)
            && !truncated.contains(&t.name)
            && t.foreign_keys.iter().any(|fk| truncated.contains(&fk.ref_table))
    }) {
        truncated.push(t.name.clone());
    }
    if truncated.is_empty() {
        return Ok(());
    }
    let list: Vec<String> = truncated.iter().map(|t| qualified(schema, t)).collect();
    client.batch_execute(&format!("TRUNCATE {}", list.join(", "))).await.map_err(|e| Error::postgres("TRUNCATE", &e))
}
