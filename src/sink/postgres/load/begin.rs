//! Beginning a load (docs/architecture.md, "The flow", step 4): the target tables are
//! checked empty (or truncated), and each strategy prepares its transaction.

use tokio::sync::{Mutex, Semaphore};
use tokio_postgres::Client;

use super::{FkMode, PgLoad, Strategy};
use crate::error::{Error, Result};
use crate::ident::pg_qualified as qualified;
use crate::pg::connect::connect;
use crate::pg::introspect::{introspect, PgTable};
use crate::sink::postgres::create::SchemaDdl;

impl PgLoad {
    /// Begins the transaction: refuses non-empty target tables unless `truncate`, then
    /// suspends foreign-key enforcement.
    pub async fn begin(&mut self, loaded: &[String], truncate: bool) -> Result<()> {
        self.run_tables = loaded.to_vec();
        let fresh: Vec<String> = loaded.iter().filter(|t| !self.existing.contains(t)).cloned().collect();
        let client: &Client = self.clients[0].get_mut();
        let standing: Vec<String> = fresh.iter().filter(|t| !self.created.contains(t)).cloned().collect();
        let non_empty = non_empty(client, &self.schema, &standing).await?;
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
        run_statements(client, &self.create).await?;
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

    /// `create = "missing"`: the DDL is run once now, in a transaction that is rolled
    /// back, to prove it and to introspect the tables as PostgreSQL made them (the plan
    /// is matched against those); [`PgLoad::begin`] runs it again inside the load's
    /// transaction, so a failure anywhere leaves no new object in the target.
    pub async fn create(&mut self, ddl: &SchemaDdl) -> Result<()> {
        let statements = ddl.statements();
        let client: &Client = self.clients[0].get_mut();
        client.batch_execute("BEGIN").await.map_err(|e| Error::postgres("BEGIN", &e))?;
        let tried = async {
            run_statements(client, &statements).await.map_err(|e| ddl.explain(e))?;
            introspect(client, &self.schema).await
        }
        .await;
        client.batch_execute("ROLLBACK").await.map_err(|e| Error::postgres("ROLLBACK", &e))?;
        self.tables = tried?;
        self.create = statements;
        self.created = ddl.tables.iter().map(|t| t.name.clone()).collect();
        Ok(())
    }

    /// The names of the target schema's relations and types (what created names must
    /// not take).
    pub async fn names_taken(&self) -> Result<Vec<String>> {
        let client = self.clients[0].lock().await;
        let q = "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 \
                 UNION SELECT t.typname::text FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace WHERE n.nspname = $1";
        let rows = client
            .query(q, &[&self.schema])
            .await
            .map_err(|e| Error::postgres("reading the target schema's names", &e))?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    /// The schema of the target's PostGIS extension, when the database has one.
    pub async fn postgis(&self) -> Result<Option<String>> {
        let client = self.clients[0].lock().await;
        crate::pg::introspect::postgis_schema(&client).await
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

/// Runs the creation's statements, naming the one PostgreSQL refused.
async fn run_statements(client: &Client, statements: &[String]) -> Result<()> {
    for st in statements {
        client.batch_execute(st).await.map_err(|e| {
            let head: String = st.lines().next().unwrap_or_default().chars().take(160).collect();
            Error::postgres(format!("creating the target ({head})"), &e)
        })?;
    }
    Ok(())
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
