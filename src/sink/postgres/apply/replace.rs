//! Replacing the rows of a set of keys, for `converge repair` (docs/architecture.md,
//! "Repair"): inside the caller's open transaction, the source's rows are staged by
//! binary COPY with the apply's own staging table and encoder, every named key is
//! deleted from the target, the staged rows are inserted, and the table's sequences are
//! moved past them. The caller decides the transaction (and its
//! `session_replication_role`), checks the result and commits or rolls back.

use arrow::record_batch::RecordBatch;
use tokio_postgres::Client;

use super::merge::MergeSql;
use super::stage::Staged;
use super::ApplyTable;
use crate::change::Op;
use crate::error::{Error, Result};
use crate::ident;
use crate::ident::pg_qualified as qualified;

/// What replacing one table's keys did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Replaced {
    /// Target rows deleted (every row of a named key).
    pub deleted: u64,
    /// Rows inserted (the source's rows of those keys).
    pub inserted: u64,
    /// Sequences moved past the inserted keys.
    pub sequences_moved: u64,
}

/// Deletes the rows `delete` selects (`WHERE` conditions over the target table's own
/// columns, each run on its own) and inserts `rows` (in the order of `table.columns`),
/// in the caller's transaction. `n` numbers the staging table: distinct per table in one
/// session.
pub async fn replace(
    client: &Client,
    schema: &str,
    n: usize,
    table: ApplyTable,
    delete: &[String],
    rows: Vec<RecordBatch>,
) -> Result<Replaced> {
    let mut staged = Staged::new(table, n);
    staged.create(client, schema).await?;
    let mut first = 0i64;
    for batch in rows.into_iter().filter(|b| b.num_rows() > 0) {
        let k = batch.num_rows();
        if staged.hold(first, vec![Op::Upsert; k], batch) {
            staged.copy_held(client).await?;
        }
        first += k as i64;
    }
    staged.copy_held(client).await?;
    let target = qualified(schema, &staged.table.target);
    let name = staged.table.target.clone();
    let mut done = Replaced::default();
    for filter in delete {
        let q = format!("DELETE FROM {target} WHERE {filter}");
        let ctx = || format!("deleting the named keys of `{name}`");
        done.deleted += client.execute(q.as_str(), &[]).await.map_err(|e| Error::postgres(ctx(), &e))?;
    }
    let cols: Vec<String> = staged.table.columns.iter().map(|c| ident::pg(&c.name)).collect();
    let list = cols.join(", ");
    let q = format!("INSERT INTO {target} ({list}) OVERRIDING SYSTEM VALUE SELECT {list} FROM {}", staged.stage);
    let ctx = || format!("inserting the source's rows into `{name}`");
    done.inserted = client.execute(q.as_str(), &[]).await.map_err(|e| Error::postgres(ctx(), &e))?;
    for q in MergeSql::new(&staged, schema).sequences {
        let ctx = || format!("moving a sequence of `{name}`");
        done.sequences_moved += client.execute(q.as_str(), &[]).await.map_err(|e| Error::postgres(ctx(), &e))?;
    }
    let q = format!("TRUNCATE {}", staged.stage);
    client.batch_execute(&q).await.map_err(|e| Error::postgres("emptying a staging table", &e))?;
    Ok(done)
}
