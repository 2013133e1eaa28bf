//! One table's binary COPY (docs/architecture.md, "The flow", step 4): into the table,
//! or into a twin to compare with rows the target already holds, with the audit columns
//! filled and, per table, the foreign-key check triggers off for its duration.

use arrow::record_batch::RecordBatch;
use futures::StreamExt;
use tokio_postgres::Client;

use super::{FkMode, PgLoad, Strategy};
use crate::error::{Error, Result};
use crate::ident;
use crate::ident::pg_qualified as qualified;
use crate::sink::postgres::copy::{CopyEncoder, SendRing, SEND_CHUNK};
use crate::sink::postgres::locate::{rejected, KeyRing};
use crate::sink::postgres::target::{AuditFill, TableTarget};

/// Where one table's COPY goes.
struct Dest {
    /// The COPY's column list, quoted.
    cols: Vec<String>,
    /// The target table, qualified.
    table: String,
    /// What the COPY writes into: the table, or its twin when comparing.
    into: String,
    /// The target already holds the rows: compared, not loaded.
    compare: bool,
}

impl PgLoad {
    /// COPYs one table's batches; returns the row count COPY reported. On a rejected value
    /// or a server error the error names the row by its source key.
    pub async fn copy_table<S>(&self, target: &TableTarget, key: &[String], mut batches: S) -> Result<u64>
    where
        S: futures::Stream<Item = Result<RecordBatch>> + Unpin,
    {
        // The connection is taken only once the table's first batch is there, so tables
        // take it in the order their data arrives (the source delivers them one by one).
        let first = batches.next().await;
        let (_permit, client) = self.stream().await;
        let Strategy::PerTable(pt) = &self.strategy else {
            return self.copy_in_txn(&client, target, key, first, &mut batches).await;
        };
        pt.open_table(&client, self.fk_mode).await?;
        let done = self.copy_in_txn(&client, target, key, first, &mut batches).await;
        if done.is_err() {
            // Only this table's transaction is lost: the connection is left ready for
            // the tables still being loaded, which commit on their own.
            if let Err(e) = client.batch_execute("ROLLBACK").await {
                tracing::warn!("rolling back `{}`: {e}", target.table);
            }
        }
        done
    }

    /// [`Self::copy_table`] inside the transaction that is open on `client`.
    async fn copy_in_txn<S>(
        &self,
        client: &Client,
        target: &TableTarget,
        key: &[String],
        first: Option<Result<RecordBatch>>,
        batches: &mut S,
    ) -> Result<u64>
    where
        S: futures::Stream<Item = Result<RecordBatch>> + Unpin,
    {
        let ri = if self.fk_mode == FkMode::RiOff { self.ri_checks(client, &target.table, false).await? } else { 0 };
        let fills: Vec<&AuditFill> = self.audit.iter().filter(|f| f.table == target.table).collect();
        self.fill_defaults(client, &fills, true).await?;
        let dest = self.destination(client, target).await?;
        let frozen = self.strategy.run().is_some_and(|r| r.frozen.contains(&target.table));
        let freeze = if !dest.compare && frozen { ", FREEZE" } else { "" };
        let sql = format!("COPY {} ({}) FROM STDIN (FORMAT binary{freeze})", dest.into, dest.cols.join(", "));
        let copied = self.send(client, target, key, &sql, first, batches).await?;
        if dest.compare {
            compare(client, &target.table, &dest).await?;
        }
        if ri > 0 {
            self.ri_checks(client, &target.table, true).await?;
        }
        self.fill_defaults(client, &fills, false).await?;
        {
            let mut filled = self.audit_filled.lock().expect("not poisoned");
            filled.extend(fills.iter().map(|f| (f.table.clone(), f.column.clone(), f.value.clone(), copied)));
        }
        if let Strategy::PerTable(pt) = &self.strategy {
            pt.commit_table(self, client, &target.table, copied).await?;
        }
        Ok(copied)
    }

    /// The table, or (rows the target already has) a twin to COPY into and compare.
    async fn destination(&self, client: &Client, target: &TableTarget) -> Result<Dest> {
        let cols: Vec<String> = target.columns.iter().map(|c| ident::pg(&c.name)).collect();
        let table = qualified(&self.schema, &target.table);
        let compare = self.existing.contains(&target.table);
        let into = if compare {
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
        Ok(Dest { cols, table, into, compare })
    }

    /// Runs the COPY `sql`: encodes every batch, sends it in chunks, and notes the bytes
    /// sent and the values a rule let change. Returns the row count COPY reported.
    async fn send<S>(
        &self,
        client: &Client,
        target: &TableTarget,
        key: &[String],
        sql: &str,
        first: Option<Result<RecordBatch>>,
        batches: &mut S,
    ) -> Result<u64>
    where
        S: futures::Stream<Item = Result<RecordBatch>> + Unpin,
    {
        let sink = client
            .copy_in::<_, bytes::Bytes>(sql)
            .await
            .map_err(|e| Error::postgres(format!("starting COPY into `{}`", target.table), &e))?;
        futures::pin_mut!(sink);
        let mut encoder: Option<CopyEncoder> = None;
        let mut ring = SendRing::default();
        CopyEncoder::header(ring.buf());
        let generated = self
            .tables
            .iter()
            .find(|t| t.name == target.table)
            .map_or_else(Vec::new, |t| t.columns.iter().filter(|c| c.generated).map(|c| c.name.clone()).collect());
        let mut keys = KeyRing::new(key, generated);
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
            if let Err(r) = enc.encode(&batch, ring.buf()) {
                return Err(rejected(&target.table, &keys, rows, r));
            }
            rows += batch.num_rows() as u64;
            if ring.buf().len() >= SEND_CHUNK {
                sent += ring.send(&mut sink).await.map_err(|e| fail(e, &keys))?;
            }
            next = batches.next().await;
        }
        CopyEncoder::trailer(ring.buf());
        sent += ring.send(&mut sink).await.map_err(|e| fail(e, &keys))?;
        let (reused, replaced) = ring.turns();
        tracing::debug!(table = %target.table, sent, reused, replaced, "COPY data handed to the connection");
        self.copy_bytes.lock().expect("not poisoned").push((target.table.clone(), sent));
        let copied = sink.finish().await.map_err(|e| fail(e, &keys))?;
        if let Some(enc) = &encoder {
            let mut changed = self.changed.lock().expect("not poisoned");
            for (col, &n) in enc.columns().iter().zip(enc.changed()).filter(|(_, &n)| n > 0) {
                changed.push((target.table.clone(), col.name.clone(), n));
            }
            let mut floats = self.float_exact.lock().expect("not poisoned");
            for (col, &n) in enc.columns().iter().zip(enc.float_exact()).filter(|(_, &n)| n > 0) {
                floats.push((target.table.clone(), col.name.clone(), n));
            }
        }
        Ok(copied)
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
}

/// The twin COPYed into must hold exactly the rows the target already has.
async fn compare(client: &Client, name: &str, dest: &Dest) -> Result<()> {
    let (list, into, table) = (dest.cols.join(", "), &dest.into, &dest.table);
    let q = format!(
        "SELECT (SELECT count(*) FROM (SELECT {list} FROM {into} EXCEPT ALL SELECT {list} FROM {table}) a), \
                (SELECT count(*) FROM (SELECT {list} FROM {table} EXCEPT ALL SELECT {list} FROM {into}) b)"
    );
    let row = client.query_one(&q, &[]).await.map_err(|e| Error::postgres(format!("comparing `{name}`"), &e))?;
    let (missing, extra): (i64, i64) = (row.get(0), row.get(1));
    if missing + extra > 0 {
        return Err(Error::other(format!(
            "table `{name}` is filled by the target's own migrations and differs from the source: {missing} source rows are not in the target, {extra} target rows are not in the source"
        )));
    }
    Ok(())
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
