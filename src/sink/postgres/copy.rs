//! Arrow record batches → PostgreSQL binary COPY (`COPY t (cols) FROM STDIN (FORMAT binary)`).
//!
//! The stream is the 19-byte [`CopyEncoder::header`], then per row an int16 field count
//! and per field an int32 length (-1 for NULL) followed by the value in its type's
//! binary send format, then the int16 -1 [`CopyEncoder::trailer`]. Each column is
//! encoded for its target column's type ([`PgTarget`]), casting where the Arrow type
//! and the target differ (0/1 → boolean, UUID text → uuid, …); which pairs are possible
//! is known before any row is read ([`can_encode`]), and a value that cannot be carried
//! (out of range, too long, not a UUID, …) is [`Refused`] with its row, column and why.
//! The per-cell work lives in `cell.rs`, the downcast columns in `column.rs`, the
//! numeric format in `numeric.rs`. [`send_chunks`] hands the encoded stream to the
//! connection.

use arrow::array::Array;
use arrow::buffer::NullBuffer;
use arrow::datatypes::{DataType, Schema};
use arrow::record_batch::RecordBatch;
use bytes::{BufMut, BytesMut};

use crate::error::{Error, Refused};

use super::cell;
use super::column::{self, Src};
use super::narrow::{self, Verdict};
use super::pgtype::{can_encode, Limit, PgTarget};

/// One target column of the COPY, in the batch's column order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CopyColumn {
    /// The column name (for messages; the caller writes the COPY column list).
    pub name: String,
    /// The type it is encoded for.
    pub target: PgTarget,
    /// varchar(n)/char(n): values longer than `n` characters are rejected here (also
    /// applied to each element of a varchar[]).
    pub max_chars: Option<usize>,
    /// What the column's type modifier would do to a value that does not fit it.
    pub limit: Limit,
    /// A `[[column]]` rule lets the limit change values (`allow_change = true`): they
    /// are counted instead of refused.
    pub allow_change: bool,
    /// A bit(n)/varbit target: the bit string's length (bit(n): n; varbit: the source's
    /// bit(n) width).
    pub bits: Option<usize>,
}

/// Encodes batches of one input schema for one list of target columns.
#[derive(Debug, Clone)]
pub struct CopyEncoder {
    columns: Vec<CopyColumn>,
    types: Vec<DataType>,
    changed: Vec<u64>,
}

/// The binary COPY signature, flags and header-extension length.
const HEADER: &[u8; 19] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";

impl CopyEncoder {
    /// An encoder for batches of `input`, whose columns are, in order, `columns`. Fails,
    /// naming the column, when an Arrow type cannot be encoded for its target.
    pub fn new(input: &Schema, columns: Vec<CopyColumn>) -> crate::error::Result<CopyEncoder> {
        if input.fields().len() != columns.len() {
            return Err(Error::Other(format!(
                "the batches have {} columns but {} target columns were given",
                input.fields().len(),
                columns.len()
            )));
        }
        if columns.len() > i16::MAX as usize {
            return Err(Error::Other(format!("{} columns is more than a COPY row can hold", columns.len())));
        }
        for (field, col) in input.fields().iter().zip(&columns) {
            if !can_encode(field.data_type(), col.target) {
                return Err(Error::Other(format!(
                    "column `{}`: cannot encode Arrow {} as PostgreSQL {}",
                    col.name,
                    field.data_type(),
                    col.target
                )));
            }
        }
        let types = input.fields().iter().map(|f| f.data_type().clone()).collect();
        let changed = vec![0; columns.len()];
        Ok(CopyEncoder { columns, types, changed })
    }

    /// Per column, the values a `[[column]]` rule let the target change (rounded,
    /// padded, truncated) so far.
    pub fn changed(&self) -> &[u64] {
        &self.changed
    }

    /// The target columns, in order.
    pub fn columns(&self) -> &[CopyColumn] {
        &self.columns
    }

    /// Appends the binary COPY header (signature, flags 0, no extension).
    pub fn header(out: &mut BytesMut) {
        out.put_slice(HEADER);
    }

    /// Appends the end-of-data marker (int16 -1).
    pub fn trailer(out: &mut BytesMut) {
        out.put_i16(-1);
    }

    /// Appends every row of `batch`. On a rejected value returns which row, column and
    /// value and why; the rows before it are in `out`, nothing of that row is.
    pub fn encode(&mut self, batch: &RecordBatch, out: &mut BytesMut) -> Result<(), Refused> {
        let srcs = self.bind(batch)?;
        if self.columns.iter().any(|c| c.limit != Limit::None) {
            self.narrowing(&srcs, batch.num_rows())?;
        }
        let ncols = self.columns.len() as i16;
        // A rough size (a sliced batch's buffers may be far larger than its rows):
        // the field count and, per field, a length and 8 bytes.
        out.reserve(batch.num_rows() * (2 + 12 * self.columns.len()));
        for row in 0..batch.num_rows() {
            let start = out.len();
            out.put_i16(ncols);
            for ((src, nulls), col) in srcs.iter().zip(&self.columns) {
                if nulls.is_some_and(|n| n.is_null(row)) {
                    out.put_i32(-1);
                    continue;
                }
                let max = if col.target == PgTarget::Bit { col.bits } else { col.max_chars };
                if let Err(reason) = cell::encode(src, col.target, max, row, out) {
                    out.truncate(start);
                    return Err(Refused { row, column: col.name.clone(), value: column::render(src, row), reason });
                }
            }
        }
        Ok(())
    }

    /// Every value a column's type modifier would change: refused (naming it and what it
    /// would become) unless the column allows the change, then counted. Checked before
    /// any row of the batch is encoded, so a refusal leaves `out` as it was.
    fn narrowing(&mut self, srcs: &[(Src<'_>, Option<&NullBuffer>)], rows: usize) -> Result<(), Refused> {
        for (ci, ((src, nulls), col)) in srcs.iter().zip(&self.columns).enumerate() {
            if col.limit == Limit::None {
                continue;
            }
            for row in (0..rows).filter(|&r| nulls.is_none_or(|n| n.is_valid(r))) {
                let reason = match narrow::check(src, col.limit, row) {
                    Verdict::Same => continue,
                    Verdict::Changed(_) if col.allow_change => {
                        self.changed[ci] += 1;
                        continue;
                    }
                    Verdict::Changed(to) => format!(
                        "would become {to} in the target's {}; a [[column]] rule with allow_change = true lets the \
                         target change it (the run then counts the values changed)",
                        col.limit
                    ),
                    Verdict::Refused(why) => why,
                };
                return Err(Refused { row, column: col.name.clone(), value: column::render(src, row), reason });
            }
        }
        Ok(())
    }

    /// Downcasts each column once, checking it still has the type given to [`CopyEncoder::new`].
    fn bind<'a>(&self, batch: &'a RecordBatch) -> Result<Vec<(Src<'a>, Option<&'a NullBuffer>)>, Refused> {
        let mismatch =
            |column: &str, reason: String| Refused { row: 0, column: column.to_string(), value: String::new(), reason };
        if batch.num_columns() != self.columns.len() {
            return Err(mismatch(
                "",
                format!("batch has {} columns, the encoder {}", batch.num_columns(), self.columns.len()),
            ));
        }
        let mut srcs = Vec::with_capacity(self.columns.len());
        for ((array, col), t) in batch.columns().iter().zip(&self.columns).zip(&self.types) {
            if array.data_type() != t {
                return Err(mismatch(
                    &col.name,
                    format!("batch column has Arrow type {}, the encoder was built for {t}", array.data_type()),
                ));
            }
            let src = Src::bind(array.as_ref())
                .ok_or_else(|| mismatch(&col.name, format!("Arrow type {} is not supported", array.data_type())))?;
            let nulls = array.nulls();
            srcs.push((src, nulls));
        }
        Ok(srcs)
    }
}

/// COPY data goes to the server in pieces of this size: under the allocator's mmap
/// threshold (1 MiB, set in `main.rs`), so the pieces are recycled heap memory.
pub(super) const SEND_CHUNK: usize = 256 << 10;

/// Sends the encoded bytes as copies of at most [`SEND_CHUNK`] and empties `buf`, which
/// keeps its capacity for the next batch. Handing `buf`'s own memory to the connection
/// instead (`split().freeze()`) made every batch encode into freshly mapped pages: the
/// page faults and zeroing cost more than this copy (3 M-row load: 0.5 M minor faults
/// → 0.2 M, ~1 CPU-second of system time less).
pub(super) async fn send_chunks<S>(
    sink: &mut std::pin::Pin<&mut S>,
    buf: &mut BytesMut,
) -> std::result::Result<(), S::Error>
where
    S: futures::Sink<bytes::Bytes>,
{
    for chunk in buf.chunks(SEND_CHUNK) {
        futures::SinkExt::send(sink, bytes::Bytes::copy_from_slice(chunk)).await?;
    }
    buf.clear();
    Ok(())
}
