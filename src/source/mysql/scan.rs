//! `plan --profile`'s read of a table: the run's read — the same query over the binary
//! protocol, the same decoders — that, where the run stops at a value it cannot decode,
//! hands the refusal over and goes on with the value as NULL, so every such value is
//! found in one pass (docs/architecture.md, "No silent change").

use mysql_async::prelude::*;
use mysql_async::Params;
use tokio::sync::mpsc;

use super::read::{cell, key_columns, row_key, select};
use crate::error::{Error, Result, ValueError};
use crate::feed::ReadSpec;
use crate::mysql::MySqlSource;
use crate::source::cell::{BatchBuilder, Cell};

/// What a scan hands over, in row order.
#[derive(Debug)]
pub enum Scanned {
    /// Decoded rows, and the cells (row, column) holding a refused value, NULL in the
    /// batch.
    Batch(arrow::record_batch::RecordBatch, Vec<(usize, usize)>),
    /// A value the run's decoder refuses, where and why.
    Refused(ValueError),
}

impl MySqlSource {
    /// Reads every row of `spec` in the snapshot, in key order, into `tx`; returns the
    /// zero dates written as NULL per read column (what the run counts).
    pub async fn scan(&self, spec: &ReadSpec, tx: mpsc::Sender<Scanned>) -> Result<Vec<u64>> {
        let mut conn = self.acquire().await;
        let limits = (self.options.batch_rows, self.options.batch_bytes());
        let r = scan_on(&mut conn, spec, limits, &tx).await;
        self.release(conn).await;
        r
    }
}

async fn scan_on(
    conn: &mut mysql_async::Conn,
    spec: &ReadSpec,
    (batch_rows, batch_bytes): (usize, usize),
    tx: &mpsc::Sender<Scanned>,
) -> Result<Vec<u64>> {
    let t = &spec.table;
    let keys = key_columns(spec);
    let key_names: Vec<&str> = keys.iter().map(|&i| spec.plans[i].name.as_str()).collect();
    let ctx = || format!("reading `{}`", t.name);
    let stopped = || Error::other("the profile stopped reading");
    let mut result =
        conn.exec_iter(select(spec, "").as_str(), Params::Empty).await.map_err(|e| Error::mysql(ctx(), e))?;
    let mut builder = BatchBuilder::new(spec.plans.clone(), batch_rows);
    let (mut n, mut bad) = (0u64, Vec::new());
    let after = |n: u64| format!("reading `{}` after its first {n} rows", t.name);
    while let Some(row) = result.next().await.map_err(|e| Error::mysql(after(n), e))? {
        for i in 0..row.len() {
            if let Err(e) = builder.push(i, cell(row.as_ref(i))) {
                let refused = e.locate(&t.name, row_key(&row, &key_names, &keys, n));
                tx.send(Scanned::Refused(refused)).await.map_err(|_| stopped())?;
                builder.push(i, Cell::Null).expect("NULL always decodes");
                bad.push((builder.rows(), i));
            }
        }
        builder.end_row();
        n += 1;
        if builder.rows() >= batch_rows || builder.bytes() >= batch_bytes {
            let b = Scanned::Batch(builder.finish(), std::mem::take(&mut bad));
            tx.send(b).await.map_err(|_| stopped())?;
        }
    }
    drop(result);
    if builder.rows() > 0 {
        tx.send(Scanned::Batch(builder.finish(), bad)).await.map_err(|_| stopped())?;
    }
    Ok(builder.zero_dates_nulled())
}
