//! One followed table's staging table: a temporary twin of the target's COPY columns,
//! with each change's place in source order (`converge.seq`) and what it does
//! (`converge.op`: `U` upsert, `D` delete, `M` a key change's old key), filled by binary
//! COPY with the load's own encoder (docs/architecture.md, "Change capture").

use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use futures::SinkExt;
use tokio_postgres::Client;

use crate::change::Op;
use crate::error::{Error, Result};
use crate::ident;
use crate::ident::pg_qualified as qualified;
use crate::pg::introspect::PgTable;
use crate::sink::postgres::copy::{CopyColumn, CopyEncoder};
use crate::sink::postgres::pgtype::PgTarget;
use crate::sink::postgres::target::TableTarget;

/// The staging table's column holding a change's place in source order.
pub(super) const SEQ: &str = "converge.seq";
/// The staging table's column holding what a change does (`U` upsert, `D` delete, `M`
/// the old key of a key change: the next change is its new row).
pub(super) const OP: &str = "converge.op";

/// Rows held in memory per table before they are COPYed into its staging table.
const HOLD_ROWS: usize = 20_000;
/// Bytes held in memory per table before they are COPYed (a row of a 20 MB blob goes at once).
const HOLD_BYTES: usize = 16 << 20;

/// One followed table: where its changes go.
#[derive(Debug, Clone)]
pub struct ApplyTable {
    /// The source table the changes name.
    pub source: String,
    /// The target table.
    pub target: String,
    /// The target's COPY columns, in the order of the batches the apply receives.
    pub columns: Vec<CopyColumn>,
    /// The key the changes are applied by (target column names).
    pub key: Vec<String>,
    /// Columns backed by a sequence (serial or identity) and the sequence, moved past
    /// every key the source handed out.
    pub sequences: Vec<(String, String)>,
}

impl ApplyTable {
    /// A planned table's way into the target: the target's COPY columns (`target`), the
    /// key changes are applied by — the target's primary key, else `source_key` (the
    /// source's, under its output names) — and the sequences behind the columns it copies.
    pub fn new(source: &str, target: &TableTarget, pg: Option<&PgTable>, source_key: Vec<String>) -> ApplyTable {
        let key = match pg {
            Some(pg) if !pg.primary_key.is_empty() => pg.primary_key.clone(),
            _ => source_key,
        };
        let copied = |n: &str| target.columns.iter().any(|c| c.name == n);
        let sequences = pg
            .map(|pg| {
                let with_sequence = pg.columns.iter().filter(|c| copied(&c.name));
                with_sequence.filter_map(|c| c.sequence.clone().map(|s| (c.name.clone(), s))).collect()
            })
            .unwrap_or_default();
        ApplyTable {
            source: source.to_string(),
            target: target.table.clone(),
            columns: target.columns.clone(),
            key,
            sequences,
        }
    }
}

/// A table's staging state within the open transaction.
pub(super) struct Staged {
    pub table: ApplyTable,
    /// The staging table (quoted; temporary, emptied at each commit).
    pub stage: String,
    /// Batches waiting for their COPY, with their first sequence number.
    held: Vec<(i64, Vec<Op>, RecordBatch)>,
    held_rows: usize,
    held_bytes: usize,
    /// Rows in the staging table since the last merge.
    pub staged: u64,
    /// What those rows (and the held ones) do.
    pub ops: Ops,
    encoder: Option<CopyEncoder>,
}

/// Which operations a table's staged changes hold.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Ops {
    pub upsert: bool,
    pub delete: bool,
    pub moved: bool,
}

impl Staged {
    pub fn new(table: ApplyTable, n: usize) -> Staged {
        let stage = ident::pg(&format!("converge_stage_{n}"));
        let ops = Ops::default();
        Staged { table, stage, held: Vec::new(), held_rows: 0, held_bytes: 0, staged: 0, ops, encoder: None }
    }

    /// Creates the staging table (once per session).
    pub async fn create(&self, client: &Client, schema: &str) -> Result<()> {
        let cols: Vec<String> = self.table.columns.iter().map(|c| ident::pg(&c.name)).collect();
        let q = format!(
            "CREATE TEMP TABLE IF NOT EXISTS {stage} ON COMMIT DELETE ROWS AS
               SELECT 0::bigint AS {seq}, ''::text AS {op}, {cols} FROM {target} WITH NO DATA",
            stage = self.stage,
            seq = ident::pg(SEQ),
            op = ident::pg(OP),
            cols = cols.join(", "),
            target = qualified(schema, &self.table.target),
        );
        client.batch_execute(&q).await.map_err(|e| Error::postgres(format!("staging `{}`", self.table.target), &e))
    }

    /// Holds one batch of changes numbered from `first`; true when the table holds enough
    /// to COPY now.
    pub fn hold(&mut self, first: i64, ops: Vec<Op>, rows: RecordBatch) -> bool {
        self.held_rows += rows.num_rows();
        self.held_bytes += rows.get_array_memory_size();
        for op in &ops {
            match op {
                Op::Upsert => self.ops.upsert = true,
                Op::Delete => self.ops.delete = true,
                Op::Move => self.ops.moved = true,
            }
        }
        self.held.push((first, ops, rows));
        self.held_rows >= HOLD_ROWS || self.held_bytes >= HOLD_BYTES
    }

    /// COPYs the held batches into the staging table.
    pub async fn copy_held(&mut self, client: &Client) -> Result<()> {
        if self.held.is_empty() {
            return Ok(());
        }
        let held = std::mem::take(&mut self.held);
        (self.held_rows, self.held_bytes) = (0, 0);
        let ctx = || format!("staging changes of `{}`", self.table.target);
        let mut cols = vec![ident::pg(SEQ), ident::pg(OP)];
        cols.extend(self.table.columns.iter().map(|c| ident::pg(&c.name)));
        let sql = format!("COPY {} ({}) FROM STDIN (FORMAT binary)", self.stage, cols.join(", "));
        let sink = client.copy_in::<_, bytes::Bytes>(sql.as_str()).await.map_err(|e| Error::postgres(ctx(), &e))?;
        futures::pin_mut!(sink);
        let mut buf = bytes::BytesMut::new();
        CopyEncoder::header(&mut buf);
        for (first, ops, rows) in held {
            let batch = numbered(first, &ops, &rows)?;
            let encoder = match &mut self.encoder {
                Some(e) => e,
                None => self.encoder.insert(encoder_for(&batch, &self.table.columns)?),
            };
            encoder.encode(&batch, &mut buf).map_err(|r| {
                let at = format!("followed change {} of this batch", first + r.row as i64);
                Error::from(r.locate(&self.table.source, at))
            })?;
            self.staged += rows.num_rows() as u64;
            if buf.len() >= 1 << 20 {
                sink.send(buf.split().freeze()).await.map_err(|e| Error::postgres(ctx(), &e))?;
            }
        }
        CopyEncoder::trailer(&mut buf);
        sink.send(buf.freeze()).await.map_err(|e| Error::postgres(ctx(), &e))?;
        sink.finish().await.map_err(|e| Error::postgres(ctx(), &e))?;
        Ok(())
    }

    /// Forgets what was held and staged (the transaction rolled back).
    pub fn reset(&mut self) {
        self.held.clear();
        (self.held_rows, self.held_bytes, self.staged) = (0, 0, 0);
        self.ops = Ops::default();
    }

    /// Rows held in memory, not yet COPYed.
    pub fn held_rows(&self) -> usize {
        self.held_rows
    }
}

/// The batch with its sequence numbers and operations in front.
fn numbered(first: i64, ops: &[Op], rows: &RecordBatch) -> Result<RecordBatch> {
    let seq: ArrayRef = Arc::new(Int64Array::from_iter_values((0..rows.num_rows() as i64).map(|i| first + i)));
    let op: ArrayRef = Arc::new(StringArray::from_iter_values(ops.iter().map(|o| match o {
        Op::Upsert => "U",
        Op::Delete => "D",
        Op::Move => "M",
    })));
    let mut fields = vec![Field::new(SEQ, DataType::Int64, false), Field::new(OP, DataType::Utf8, false)];
    fields.extend(rows.schema().fields().iter().map(|f| f.as_ref().clone()));
    let mut columns = vec![seq, op];
    columns.extend(rows.columns().iter().cloned());
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).map_err(|e| Error::datafusion("numbering changes", e))
}

fn encoder_for(batch: &RecordBatch, columns: &[CopyColumn]) -> Result<CopyEncoder> {
    let mut all = vec![
        CopyColumn { name: SEQ.into(), target: PgTarget::Int8, ..Default::default() },
        CopyColumn { name: OP.into(), target: PgTarget::Text, ..Default::default() },
    ];
    all.extend(columns.iter().cloned());
    CopyEncoder::new(&batch.schema(), all)
}
