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
//! numeric format in `numeric.rs`. [`SendRing`] hands the encoded stream to the
//! connection without copying it.

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
    float_exact: Vec<u64>,
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
        let float_exact = vec![0; columns.len()];
        Ok(CopyEncoder { columns, types, changed, float_exact })
    }

    /// Per column, the FLOAT values loaded into double precision as their own value
    /// whose shortest decimal text reads as another double (see `cell::float_text_differs`).
    pub fn float_exact(&self) -> &[u64] {
        &self.float_exact
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
        self.count_float_readings(&srcs, batch.num_rows());
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

    /// FLOATs bound for `double precision` whose shortest decimal text reads as another
    /// double than the float's own value (what the report counts).
    fn count_float_readings(&mut self, srcs: &[(Src<'_>, Option<&NullBuffer>)], rows: usize) {
        for (ci, ((src, nulls), col)) in srcs.iter().zip(&self.columns).enumerate() {
            if let (Src::F32(v), PgTarget::Float8) = (src, col.target) {
                let valid = (0..rows).filter(|&r| nulls.is_none_or(|n| n.is_valid(r)));
                self.float_exact[ci] += valid.filter(|&r| cell::float_text_differs(v[r])).count() as u64;
            }
        }
    }

    /// Every value a column's type modifier would change: refused (naming it and what it
    /// would become) unless the column allows the change, then counted. Checked before
    /// any row of the batch is encoded, so a refusal leaves `out` as it was.
    fn narrowing(&mut self, srcs: &[(Src<'_>, Option<&NullBuffer>)], rows: usize) -> Result<(), Refused> {
        for (ci, (src, nulls)) in srcs.iter().enumerate() {
            if self.columns[ci].limit == Limit::None {
                continue;
            }
            for row in (0..rows).filter(|&r| nulls.is_none_or(|n| n.is_valid(r))) {
                self.narrowed(ci, src, row)?;
            }
        }
        Ok(())
    }

    /// Value `row` of column `ci` against the column's type modifier: refused, or
    /// counted when a rule allows the change.
    fn narrowed(&mut self, ci: usize, src: &Src<'_>, row: usize) -> Result<(), Refused> {
        let col = &self.columns[ci];
        let reason = match narrow::check(src, col.limit, row) {
            Verdict::Same => return Ok(()),
            Verdict::Changed(_) if col.allow_change => {
                self.changed[ci] += 1;
                return Ok(());
            }
            Verdict::Changed(to) => format!("would become {to} in the target's {}; {CHANGE_RULE}", col.limit),
            Verdict::Refused(why) => why,
        };
        Err(Refused { row, column: col.name.clone(), value: column::render(src, row), reason })
    }

    /// `plan --profile`: every value of `batch` the encoder would refuse, each handed to
    /// `refused` (a value is checked as [`CopyEncoder::encode`] checks it, and changes a
    /// rule allows are counted the same way); nothing is kept of the encoding.
    pub fn check_each(&mut self, batch: &RecordBatch, refused: &mut dyn FnMut(Refused)) -> Result<(), Refused> {
        let srcs = self.bind(batch)?;
        self.count_float_readings(&srcs, batch.num_rows());
        let mut scratch = BytesMut::new();
        for (ci, (src, nulls)) in srcs.iter().enumerate() {
            let col = &self.columns[ci];
            let max = if col.target == PgTarget::Bit { col.bits } else { col.max_chars };
            let target = col.target;
            for row in (0..batch.num_rows()).filter(|&r| nulls.is_none_or(|n| n.is_valid(r))) {
                if let Err(r) = self.narrowed(ci, src, row) {
                    refused(r);
                    continue;
                }
                scratch.clear();
                if let Err(reason) = cell::encode(src, target, max, row, &mut scratch) {
                    let (column, value) = (self.columns[ci].name.clone(), column::render(src, row));
                    refused(Refused { row, column, value, reason });
                }
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

/// How a refusal of a value the target's type would change says what allows it.
pub const CHANGE_RULE: &str = "a [[column]] rule with allow_change = true lets the target change it (the run then \
                               counts the values changed)";

/// COPY data goes to the server in messages of at most this size, so the connection's
/// own write buffer stays small.
pub(super) const SEND_CHUNK: usize = 256 << 10;

/// How many buffers [`SendRing`] uses in turn: the connection holds at most a message
/// being written and two queued, so by the time a buffer comes round again it is free.
const RING: usize = 3;

/// The encoded COPY stream's buffers, handed to the connection without a copy.
///
/// Each batch is encoded into [`SendRing::buf`]; [`SendRing::send`] passes the bytes on
/// as [`SEND_CHUNK`]-sized views of that buffer's own memory and moves to the next
/// buffer, which is written again only once the connection let go of every view of it
/// (`BytesMut::try_reclaim`); one still held is left to the connection and replaced.
/// Copying each piece out instead (`Bytes::copy_from_slice`) cost a memmove of every
/// byte plus, since the allocator maps blocks over 128 KiB (`main.rs`), a fresh mapping,
/// its page faults and its zeroing per piece. Encoding straight into memory handed away
/// (one buffer, `split().freeze()`) had the same faults: the next batch always found its
/// buffer still held.
#[derive(Debug)]
pub(super) struct SendRing {
    bufs: [BytesMut; RING],
    /// The capacity each buffer had before it was sent: what reclaiming must give back.
    caps: [usize; RING],
    at: usize,
    /// Buffers written again in place, and ones replaced because they were still held.
    reused: u64,
    replaced: u64,
}

impl Default for SendRing {
    fn default() -> Self {
        SendRing {
            bufs: std::array::from_fn(|_| BytesMut::with_capacity(2 * SEND_CHUNK)),
            caps: [2 * SEND_CHUNK; RING],
            at: 0,
            reused: 0,
            replaced: 0,
        }
    }
}

impl SendRing {
    /// The buffer to encode into.
    pub(super) fn buf(&mut self) -> &mut BytesMut {
        &mut self.bufs[self.at]
    }

    /// Sends everything encoded so far in messages of at most [`SEND_CHUNK`] and moves
    /// to the next buffer; returns the bytes sent.
    pub(super) async fn send<S>(&mut self, sink: &mut std::pin::Pin<&mut S>) -> std::result::Result<u64, S::Error>
    where
        S: futures::Sink<bytes::Bytes>,
    {
        let buf = &mut self.bufs[self.at];
        self.caps[self.at] = self.caps[self.at].max(buf.capacity());
        let sent = buf.len() as u64;
        while !buf.is_empty() {
            let piece = buf.split_to(SEND_CHUNK.min(buf.len())).freeze();
            futures::SinkExt::send(sink, piece).await?;
        }
        self.at = (self.at + 1) % RING;
        let (next, cap) = (&mut self.bufs[self.at], self.caps[self.at]);
        if next.try_reclaim(cap) {
            self.reused += 1;
        } else {
            *next = BytesMut::with_capacity(cap);
            self.replaced += 1;
        }
        Ok(sent)
    }

    /// (buffers written again in place, buffers replaced because still held).
    pub(super) fn turns(&self) -> (u64, u64) {
        (self.reused, self.replaced)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fill(buf: &mut BytesMut, n: usize, seed: u8) {
        buf.extend((0..n).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)));
    }

    /// What the connection side has received so far, its pieces dropped.
    fn drain(rx: &mut futures::channel::mpsc::UnboundedReceiver<bytes::Bytes>, got: &mut Vec<u8>) {
        while let Ok(piece) = rx.try_recv() {
            assert!(piece.len() <= SEND_CHUNK, "a piece of {} bytes", piece.len());
            got.extend_from_slice(&piece);
        }
    }

    /// Every byte arrives once, in order, in pieces of at most SEND_CHUNK; once the
    /// receiver has let go of them a buffer is written again in its own memory, and one
    /// still held is replaced, never overwritten.
    #[tokio::test]
    async fn buffers_are_reused_only_once_let_go() {
        let (mut tx, mut rx) = futures::channel::mpsc::unbounded::<bytes::Bytes>();
        let mut sink = std::pin::Pin::new(&mut tx);
        let mut ring = SendRing::default();
        let (mut expected, mut got) = (Vec::new(), Vec::new());
        let mut first = None;
        for turn in 0..RING as u8 {
            fill(ring.buf(), 600 << 10, turn);
            first.get_or_insert(ring.buf().as_ptr());
            expected.extend_from_slice(ring.buf());
            assert_eq!(ring.send(&mut sink).await.unwrap(), 600 << 10);
            drain(&mut rx, &mut got);
        }
        assert_eq!(got, expected);
        // Every piece was let go of: the first buffer comes round in its own memory.
        assert_eq!(Some(ring.buf().as_ptr()), first);
        assert!(ring.buf().is_empty() && ring.buf().capacity() >= 600 << 10);
        assert_eq!(ring.turns(), (RING as u64, 0));
        // A piece still held: its buffer is replaced when it comes round, and what the
        // receiver holds stays as sent.
        fill(ring.buf(), 100, 7);
        let sent = ring.buf().to_vec();
        ring.send(&mut sink).await.unwrap();
        let held = rx.try_recv().unwrap();
        for turn in 0..RING as u8 {
            fill(ring.buf(), 300 << 10, turn);
            ring.send(&mut sink).await.unwrap();
            drain(&mut rx, &mut Vec::new());
        }
        assert_eq!(held.to_vec(), sent);
        assert_eq!(ring.turns(), (RING as u64 + 3, 1), "the held buffer was replaced, the others reused");
    }
}
