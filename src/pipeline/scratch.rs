//! `plan --profile`'s scratch tables: temporary tables of a target table's types and
//! collations that the rehearsal (`pipeline::rehearse`) fills by binary COPY with the
//! rows the run would load — its batches after normalisation and `[[transform]]` SQL,
//! encoded by the run's `CopyEncoder`, a value the run refuses as NULL — streamed batch
//! by batch, one table at a time (a connection runs one COPY at a time). The checks
//! PostgreSQL runs on them are `pipeline::profile_target`'s. See docs/architecture.md,
//! "No silent change".

use std::pin::Pin;
use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray, StringArray};
use arrow::datatypes::{Field, Schema};
use arrow::record_batch::RecordBatch;
use bytes::{Bytes, BytesMut};
use tokio_postgres::{Client, CopyInSink};

use crate::error::{Error, Result};
use crate::ident;
use crate::pg::introspect::PgTable;
use crate::sink::postgres::copy::{CopyColumn, CopyEncoder};
use crate::sink::postgres::pgtype::PgTarget;
use crate::sink::postgres::target::TableTarget;

/// A scratch table's column naming each row as the run names it (`col='value', …`).
pub(super) const KEY: &str = "converge_row";

/// One planned table's scratch table.
pub(super) struct Scratch {
    /// Its name (unquoted: the caller's own, a plain identifier).
    pub(super) name: String,
    /// The indexes of the COPY columns it holds (`TableTarget::columns`), and those
    /// columns followed by its [`KEY`].
    held: Vec<usize>,
    columns: Vec<CopyColumn>,
    /// Once its COPY ended: filled, or why not.
    filled: Option<std::result::Result<(), String>>,
}

impl Scratch {
    /// Creates (empty, dropped at the transaction's end) the scratch table `name` of
    /// target table `pt`: the COPY columns `held` of `tt`, of the target's types and
    /// collations, and the row's name.
    pub(super) async fn create(
        pg: &Client,
        schema: &str,
        name: String,
        held: Vec<usize>,
        tt: &TableTarget,
        pt: &PgTable,
    ) -> Result<Scratch> {
        let mut columns: Vec<CopyColumn> = held.iter().map(|&i| tt.columns[i].clone()).collect();
        let shaped: Vec<String> = columns.iter().map(|c| ident::pg(&c.name)).collect();
        let create = format!(
            "CREATE TEMP TABLE {name} ON COMMIT DROP AS SELECT {}, NULL::text AS {KEY} FROM {} WITH NO DATA",
            shaped.join(", "),
            ident::pg_qualified(schema, &pt.name)
        );
        pg.batch_execute(&create).await.map_err(|e| Error::postgres("creating the profile's scratch table", &e))?;
        columns.push(CopyColumn { name: KEY.to_string(), target: PgTarget::Text, ..Default::default() });
        Ok(Scratch { name, held, columns, filled: None })
    }

    /// The columns it holds, once filled (none when its COPY failed or never ran).
    pub(super) fn holds(&self) -> Vec<&str> {
        match self.filled {
            Some(Ok(())) => self.columns.iter().map(|c| c.name.as_str()).filter(|c| *c != KEY).collect(),
            _ => Vec::new(),
        }
    }

    /// Why the rows could not be copied into it (PostgreSQL's words), if they could not.
    pub(super) fn failed(&self) -> Option<&str> {
        match &self.filled {
            Some(Err(why)) => Some(why),
            _ => None,
        }
    }
}

/// The scratch tables of every planned table (none for a table no check reads), filled
/// one at a time as the rehearsal reaches each table.
pub(super) struct Scratches<'a> {
    pg: &'a Client,
    pub(super) tables: Vec<Option<Scratch>>,
}

/// One table's COPY into its scratch table, fed batch by batch.
pub(super) struct Fill {
    sink: Pin<Box<CopyInSink<Bytes>>>,
    encoder: Option<CopyEncoder>,
    held: Vec<usize>,
    columns: Vec<CopyColumn>,
    /// Why the rows could not be copied (the rest of the table is then not sent).
    failed: Option<String>,
}

impl<'a> Scratches<'a> {
    pub(super) fn new(pg: &'a Client, tables: Vec<Option<Scratch>>) -> Scratches<'a> {
        Scratches { pg, tables }
    }

    /// Starts the COPY of planned table `ti`'s rehearsed rows into its scratch table
    /// (none when it has none), under a savepoint.
    pub(super) async fn open(&self, ti: usize) -> Result<Option<Fill>> {
        let Some(Some(s)) = self.tables.get(ti) else { return Ok(None) };
        let fail = |e: tokio_postgres::Error| Error::postgres("filling the profile's scratch table", &e);
        self.pg.batch_execute("SAVEPOINT converge_fill").await.map_err(fail)?;
        let names: Vec<String> = s.columns.iter().map(|c| ident::pg(&c.name)).collect();
        let sql = format!("COPY {} ({}) FROM STDIN (FORMAT binary)", s.name, names.join(", "));
        let sink = self.pg.copy_in::<_, Bytes>(&sql).await.map_err(fail)?;
        let (held, columns) = (s.held.clone(), s.columns.clone());
        Ok(Some(Fill { sink: Box::pin(sink), encoder: None, held, columns, failed: None }))
    }

    /// Ends table `ti`'s COPY: its scratch table is filled, or (a value PostgreSQL
    /// refused) left empty, with why.
    pub(super) async fn close(&mut self, ti: usize, mut fill: Fill) -> Result<()> {
        fill.end().await;
        let Fill { mut sink, failed, .. } = fill;
        let failed = match failed {
            Some(why) => Some(why),
            None => sink.as_mut().finish().await.err().map(|e| message(&e)),
        };
        // Dropped unfinished, the COPY is abandoned (CopyFail).
        drop(sink);
        let step = |e: tokio_postgres::Error| Error::postgres("a savepoint of the profile's transaction", &e);
        let end =
            if failed.is_some() { "ROLLBACK TO SAVEPOINT converge_fill" } else { "RELEASE SAVEPOINT converge_fill" };
        self.pg.batch_execute(end).await.map_err(step)?;
        if let Some(Some(s)) = self.tables.get_mut(ti) {
            s.filled = Some(failed.map_or(Ok(()), Err));
        }
        Ok(())
    }
}

/// PostgreSQL's own words for an error (or the client's).
fn message(e: &tokio_postgres::Error) -> String {
    e.as_db_error().map_or(e.to_string(), |d| d.message().to_string())
}

impl Fill {
    /// Copies a rehearsed batch: its cells `refused` (row, COPY column) as NULL, each
    /// row named by `keys`. A failure is kept (the rest of the table is not sent).
    pub(super) async fn send(&mut self, batch: &RecordBatch, refused: &[(usize, usize)], keys: Vec<String>) {
        if self.failed.is_some() {
            return;
        }
        if let Err(why) = self.try_send(batch, refused, keys).await {
            self.failed = Some(why);
        }
    }

    async fn try_send(
        &mut self,
        batch: &RecordBatch,
        refused: &[(usize, usize)],
        keys: Vec<String>,
    ) -> std::result::Result<(), String> {
        let b = self.held_batch(batch, refused, keys)?;
        let mut out = BytesMut::new();
        let enc = match &mut self.encoder {
            Some(e) => e,
            None => {
                CopyEncoder::header(&mut out);
                self.encoder.insert(CopyEncoder::new(&b.schema(), self.columns.clone()).map_err(|e| e.to_string())?)
            }
        };
        enc.encode(&b, &mut out).map_err(|r| format!("{} {}", r.value, r.reason))?;
        futures::SinkExt::send(&mut self.sink, out.freeze()).await.map_err(|e| message(&e))
    }

    /// The held columns of `batch`, cells `refused` NULL, and the rows' names.
    fn held_batch(
        &self,
        batch: &RecordBatch,
        refused: &[(usize, usize)],
        keys: Vec<String>,
    ) -> std::result::Result<RecordBatch, String> {
        let rows = batch.num_rows();
        let mut arrays: Vec<ArrayRef> = Vec::with_capacity(self.columns.len());
        for &ci in &self.held {
            let a = batch.column(ci);
            let mut cells = refused.iter().filter(|r| r.1 == ci && r.0 < rows).peekable();
            if cells.peek().is_none() {
                arrays.push(a.clone());
                continue;
            }
            let mut nulled = vec![false; rows];
            cells.for_each(|r| nulled[r.0] = true);
            arrays.push(arrow::compute::nullif(a, &BooleanArray::from(nulled)).map_err(|e| e.to_string())?);
        }
        arrays.push(Arc::new(StringArray::from(keys)));
        let fields: Vec<Field> =
            arrays.iter().zip(&self.columns).map(|(a, c)| Field::new(&c.name, a.data_type().clone(), true)).collect();
        RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).map_err(|e| e.to_string())
    }

    /// Ends the stream (the trailer), unless it failed.
    async fn end(&mut self) {
        if self.failed.is_some() {
            return;
        }
        let mut out = BytesMut::new();
        if self.encoder.is_none() {
            CopyEncoder::header(&mut out);
        }
        CopyEncoder::trailer(&mut out);
        if let Err(e) = futures::SinkExt::send(&mut self.sink, out.freeze()).await {
            self.failed = Some(message(&e));
        }
    }
}
