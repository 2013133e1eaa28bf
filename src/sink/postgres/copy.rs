//! Arrow record batches → PostgreSQL binary COPY (`COPY t (cols) FROM STDIN (FORMAT binary)`).
//!
//! The stream is the 19-byte [`CopyEncoder::header`], then per row an int16 field count
//! and per field an int32 length (-1 for NULL) followed by the value in its type's
//! binary send format, then the int16 -1 [`CopyEncoder::trailer`]. Each column is
//! encoded for its target column's type ([`PgTarget`]), casting where the Arrow type
//! and the target differ (0/1 → boolean, UUID text → uuid, …); which pairs are possible
//! is known before any row is read ([`can_encode`]), and a value that cannot be carried
//! (out of range, too long, not a UUID, …) is [`Rejected`] with its row, column and why.
//! The per-cell work lives in `cell.rs`, the downcast columns in `column.rs`, the
//! numeric format in `numeric.rs`. [`send_chunks`] hands the encoded stream to the
//! connection.

use std::fmt;

use arrow::array::Array;
use arrow::buffer::NullBuffer;
use arrow::datatypes::{DataType, Schema, TimeUnit};
use arrow::record_batch::RecordBatch;
use bytes::{BufMut, BytesMut};

use super::cell;
use super::column::{self, Src};
use super::narrow::{self, Verdict};

/// The PostgreSQL type a column is encoded for: one per binary send format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum PgTarget {
    /// boolean.
    Bool,
    /// smallint.
    Int2,
    /// integer.
    Int4,
    /// bigint.
    Int8,
    /// numeric (any precision and scale; the server applies the column's typmod).
    Numeric,
    /// real.
    Float4,
    /// double precision.
    Float8,
    /// text, varchar, bpchar, citext, name and PostgreSQL enum types: the text send format.
    #[default]
    Text,
    /// uuid.
    Uuid,
    /// json (its text).
    Json,
    /// jsonb (version byte 1, then its text).
    Jsonb,
    /// bytea.
    Bytea,
    /// date.
    Date,
    /// time (without time zone).
    Time,
    /// timestamp (without time zone).
    Timestamp,
    /// timestamptz.
    Timestamptz,
    /// interval.
    Interval,
    /// text[] (a MySQL set, split on commas).
    TextArray,
    /// varchar[] (a MySQL set, split on commas): element type varchar.
    VarcharArray,
    /// bit(n) and varbit (a MySQL bit(n)): the bit string of [`CopyColumn::bits`] bits.
    Bit,
}

impl PgTarget {
    /// The target for a `pg_type.typname` (`int4`, `varchar`, `_text`, …). PostgreSQL
    /// enum types are not known by name: the caller maps them to [`PgTarget::Text`].
    pub fn from_pg_type_name(name: &str) -> Option<PgTarget> {
        Some(match name {
            "bool" | "boolean" => PgTarget::Bool,
            "int2" | "smallint" => PgTarget::Int2,
            "int4" | "integer" | "int" => PgTarget::Int4,
            "int8" | "bigint" => PgTarget::Int8,
            "numeric" | "decimal" => PgTarget::Numeric,
            "float4" | "real" => PgTarget::Float4,
            "float8" | "double precision" => PgTarget::Float8,
            "text" | "varchar" | "bpchar" | "citext" | "name" => PgTarget::Text,
            "uuid" => PgTarget::Uuid,
            "json" => PgTarget::Json,
            "jsonb" => PgTarget::Jsonb,
            "bytea" => PgTarget::Bytea,
            "date" => PgTarget::Date,
            "time" => PgTarget::Time,
            "timestamp" => PgTarget::Timestamp,
            "timestamptz" => PgTarget::Timestamptz,
            "interval" => PgTarget::Interval,
            "_text" | "_citext" => PgTarget::TextArray,
            "_varchar" => PgTarget::VarcharArray,
            "bit" | "varbit" => PgTarget::Bit,
            _ => return None,
        })
    }

    /// The SQL name, for messages.
    pub fn sql_name(self) -> &'static str {
        match self {
            PgTarget::Bool => "boolean",
            PgTarget::Int2 => "smallint",
            PgTarget::Int4 => "integer",
            PgTarget::Int8 => "bigint",
            PgTarget::Numeric => "numeric",
            PgTarget::Float4 => "real",
            PgTarget::Float8 => "double precision",
            PgTarget::Text => "text",
            PgTarget::Uuid => "uuid",
            PgTarget::Json => "json",
            PgTarget::Jsonb => "jsonb",
            PgTarget::Bytea => "bytea",
            PgTarget::Date => "date",
            PgTarget::Time => "time",
            PgTarget::Timestamp => "timestamp",
            PgTarget::Timestamptz => "timestamptz",
            PgTarget::Interval => "interval",
            PgTarget::TextArray => "text[]",
            PgTarget::VarcharArray => "varchar[]",
            PgTarget::Bit => "bit",
        }
    }
}

impl fmt::Display for PgTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.sql_name())
    }
}

fn is_text(t: &DataType) -> bool {
    matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
}

fn is_binary(t: &DataType) -> bool {
    matches!(t, DataType::Binary | DataType::LargeBinary | DataType::BinaryView | DataType::FixedSizeBinary(_))
}

fn is_utc(tz: &Option<std::sync::Arc<str>>) -> bool {
    match tz {
        None => true,
        Some(z) => matches!(&**z, "UTC" | "utc" | "Z" | "+00:00" | "+00" | "Etc/UTC" | "GMT"),
    }
}

/// Whether a column of Arrow type `t` can be encoded for `target` (a plan-time check;
/// individual values may still be rejected, e.g. 70000 for smallint).
pub fn can_encode(t: &DataType, target: PgTarget) -> bool {
    use PgTarget as P;
    match t {
        DataType::Null => true,
        DataType::Boolean => matches!(target, P::Bool | P::Int2 | P::Int4 | P::Int8 | P::Bit),
        DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64 => matches!(
            target,
            P::Bool | P::Int2 | P::Int4 | P::Int8 | P::Numeric | P::Float4 | P::Float8 | P::Text | P::Bit
        ),
        DataType::Decimal128(..) => matches!(target, P::Numeric | P::Int2 | P::Int4 | P::Int8 | P::Text | P::Bit),
        DataType::Decimal256(..) => matches!(target, P::Numeric | P::Int2 | P::Int4 | P::Int8 | P::Text),
        DataType::Float32 => matches!(target, P::Float4 | P::Float8 | P::Numeric),
        DataType::Float64 => matches!(target, P::Float8 | P::Numeric),
        DataType::Date32 => matches!(target, P::Date | P::Timestamp | P::Timestamptz | P::Text),
        DataType::Timestamp(TimeUnit::Microsecond, tz) => {
            target == P::Timestamptz || (target == P::Timestamp && is_utc(tz))
        }
        DataType::Duration(TimeUnit::Microsecond) => matches!(target, P::Interval | P::Time),
        t if is_text(t) => {
            matches!(target, P::Text | P::Uuid | P::Json | P::Jsonb | P::TextArray | P::VarcharArray)
        }
        DataType::FixedSizeBinary(16) => matches!(target, P::Uuid | P::Bytea),
        t if is_binary(t) => target == P::Bytea,
        _ => false,
    }
}

/// What a target column's type modifier does to a value that does not fit it exactly:
/// PostgreSQL would round, truncate or pad it without an error. Each such value is
/// found here, before it is sent ([`super::narrow`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Limit {
    /// Nothing: every value arrives as it is.
    #[default]
    None,
    /// `numeric(precision, scale)`: rounded to `scale` digits, refused past `precision`.
    Numeric {
        /// Total digits.
        precision: u16,
        /// Digits after the point (negative: rounded to tens, hundreds, …).
        scale: i16,
    },
    /// `timestamp(n)`, `time(n)`, `interval(n)`, `interval minute`, …: the value is
    /// rounded (or, for an interval's fields, truncated) to a multiple of this many µs.
    Granule {
        /// The µs the stored value is a multiple of.
        micros: i64,
        /// Truncated (interval fields) rather than rounded (fractional seconds).
        truncates: bool,
    },
    /// `char(n)`: a shorter value is padded with spaces to `n` characters.
    Padded(usize),
}

impl Limit {
    /// The limit of a target column from its `pg_type.typname` and `atttypmod`.
    pub fn from_typmod(type_name: &str, typmod: i32) -> Limit {
        match type_name {
            "numeric" if typmod >= 4 => {
                let t = typmod - 4;
                Limit::Numeric { precision: ((t >> 16) & 0xffff) as u16, scale: (((t & 0x7ff) ^ 1024) - 1024) as i16 }
            }
            "timestamp" | "timestamptz" | "time" if (0..6).contains(&typmod) => {
                Limit::Granule { micros: 10i64.pow(6 - typmod as u32), truncates: false }
            }
            "interval" if typmod >= 0 => interval_limit(typmod),
            "bpchar" if typmod > 5 => Limit::Padded((typmod - 4) as usize),
            _ => Limit::None,
        }
    }
}

/// `interval(p)` and `interval <fields>`: the range's smallest field truncates, the
/// precision (on seconds) rounds.
fn interval_limit(typmod: i32) -> Limit {
    const SECOND: i32 = 1 << 12;
    const MINUTE: i32 = 1 << 11;
    const HOUR: i32 = 1 << 10;
    let range = (typmod >> 16) & 0x7fff;
    let precision = typmod & 0xffff;
    if range != 0x7fff && range & SECOND == 0 {
        let micros = if range & MINUTE != 0 {
            60_000_000
        } else if range & HOUR != 0 {
            3_600_000_000
        } else {
            // Day, month or year: the time of day is dropped altogether.
            i64::MAX
        };
        return Limit::Granule { micros, truncates: true };
    }
    if (0..6).contains(&precision) {
        return Limit::Granule { micros: 10i64.pow(6 - precision as u32), truncates: false };
    }
    Limit::None
}

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

/// A value the encoder refused: which row of the batch (0-based), which column, the
/// value (shortened for display) and why (phrased to follow "value …").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    /// Row index within the batch passed to [`CopyEncoder::encode`].
    pub row: usize,
    /// The column name.
    pub column: String,
    /// The value, rendered and shortened to about 60 characters.
    pub value: String,
    /// Why, e.g. `does not fit smallint`.
    pub reason: String,
}

impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "row {}, column `{}`: value {} {}", self.row, self.column, self.value, self.reason)
    }
}

impl std::error::Error for Rejected {}

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
    pub fn new(input: &Schema, columns: Vec<CopyColumn>) -> Result<CopyEncoder, String> {
        if input.fields().len() != columns.len() {
            return Err(format!(
                "the batches have {} columns but {} target columns were given",
                input.fields().len(),
                columns.len()
            ));
        }
        if columns.len() > i16::MAX as usize {
            return Err(format!("{} columns is more than a COPY row can hold", columns.len()));
        }
        for (field, col) in input.fields().iter().zip(&columns) {
            if !can_encode(field.data_type(), col.target) {
                return Err(format!(
                    "column `{}`: cannot encode Arrow {} as PostgreSQL {}",
                    col.name,
                    field.data_type(),
                    col.target
                ));
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
    pub fn encode(&mut self, batch: &RecordBatch, out: &mut BytesMut) -> Result<(), Rejected> {
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
                    return Err(Rejected { row, column: col.name.clone(), value: column::render(src, row), reason });
                }
            }
        }
        Ok(())
    }

    /// Every value a column's type modifier would change: refused (naming it and what it
    /// would become) unless the column allows the change, then counted. Checked before
    /// any row of the batch is encoded, so a refusal leaves `out` as it was.
    fn narrowing(&mut self, srcs: &[(Src<'_>, Option<&NullBuffer>)], rows: usize) -> Result<(), Rejected> {
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
                return Err(Rejected { row, column: col.name.clone(), value: column::render(src, row), reason });
            }
        }
        Ok(())
    }

    /// Downcasts each column once, checking it still has the type given to [`CopyEncoder::new`].
    fn bind<'a>(&self, batch: &'a RecordBatch) -> Result<Vec<(Src<'a>, Option<&'a NullBuffer>)>, Rejected> {
        let mismatch = |column: &str, reason: String| Rejected {
            row: 0,
            column: column.to_string(),
            value: String::new(),
            reason,
        };
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
