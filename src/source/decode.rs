//! The one decoder from MySQL values to Arrow, for every source (docs/architecture.md,
//! "Decoding"). A reader hands each value over as a [`Cell`]: typed when the wire
//! protocol is typed (the live server's binary protocol), or as text (a dump's
//! literals, the protocols' decimal strings, a CSV export's fields). A
//! [`ColumnDecoder`] appends it to the Arrow builder of the type asked for, through the
//! one parser for its type ([`super::text`]), and applies the zero-date rule.
//!
//! The text is read as MySQL prints it or as converge's CSV sink writes it
//! ([`Dialect`]): the two differ only for booleans (`0`/`1` against `t`/`f`), bytes
//! (raw against `\x` hex) and instants (`YYYY-MM-DD HH:MM:SS` against
//! `YYYY-MM-DDTHH:MM:SSZ`).

use std::sync::Arc;

use arrow::array::*;
use arrow::datatypes::{DataType, TimeUnit};

use super::text::{self, Form, Parts, Unscaled, Why};
use crate::feed::ZeroDate;
use crate::types::Logical;

/// One value as a reader received it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Cell<'a> {
    /// SQL NULL.
    Null,
    /// A signed integer.
    Int(i64),
    /// An unsigned integer.
    UInt(u64),
    /// A float column value.
    Float(f32),
    /// A double column value.
    Double(f64),
    /// Bytes: a string or blob value, or the text of a number or date. For `bit`
    /// columns read over the binary protocol, the big-endian bit value.
    Bytes(&'a [u8]),
    /// A date or datetime in its parts (binary protocol); all zero for `0000-00-00`.
    DateTime { year: u16, month: u8, day: u8, hour: u8, minute: u8, second: u8, micro: u32 },
    /// A time in its parts (binary protocol).
    Time { negative: bool, days: u32, hours: u8, minutes: u8, seconds: u8, micros: u32 },
}

/// How text cells are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// As MySQL prints them (a dump, a live server).
    MySql,
    /// As converge's CSV sink writes them (an export).
    Export,
}

/// Why the decoder refused a value; the reader phrases it with the value's place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// A zero date under `zero_date = "error"`.
    ZeroDate,
    /// Bytes that are not UTF-8 for a text column; the offset of the first bad byte.
    NotUtf8(usize),
    /// Anything else: a noun phrase saying what is wrong.
    Invalid(Why),
}

impl From<Why> for Reason {
    fn from(w: Why) -> Self {
        Reason::Invalid(w)
    }
}

/// The Arrow builder for one column, by the Arrow type asked for.
#[derive(Debug)]
enum Builder {
    Bool(BooleanBuilder),
    Int8(Int8Builder),
    Int16(Int16Builder),
    Int32(Int32Builder),
    Int64(Int64Builder),
    /// With its precision and scale.
    Dec128(Decimal128Builder, u8, i8),
    /// With its precision and scale.
    Dec256(Decimal256Builder, u8, i8),
    Float32(Float32Builder),
    Float64(Float64Builder),
    Date(Date32Builder),
    Timestamp(TimestampMicrosecondBuilder),
    Duration(DurationMicrosecondBuilder),
    Utf8(StringBuilder),
    FixedBinary(FixedSizeBinaryBuilder),
    Binary(BinaryBuilder),
}

/// What a column decoder needs to know of its column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decoding {
    /// The column's logical type.
    pub logical: Logical,
    /// A `bit(n)` column (its bytes are a big-endian integer).
    pub is_bit: bool,
    /// What a zero date becomes (MySQL text and cells only: an export holds none).
    pub zero_date: ZeroDate,
    /// How its text is written.
    pub dialect: Dialect,
}

impl Decoding {
    /// A column of an export's text (the CSV files, or PostgreSQL printing like them):
    /// no `bit(n)` bytes, and a zero date is an error (an export holds none).
    pub fn export(logical: Logical) -> Decoding {
        Decoding { logical, is_bit: false, zero_date: ZeroDate::Error, dialect: Dialect::Export }
    }
}

/// Decodes one column's values into an Arrow array of one type.
#[derive(Debug)]
pub struct ColumnDecoder {
    how: Decoding,
    builder: Builder,
    /// Reused buffer for hex-decoded bytes.
    scratch: Vec<u8>,
    zero_dates_nulled: u64,
}

fn builder_for(data_type: &DataType, capacity: usize) -> crate::Result<Builder> {
    Ok(match data_type {
        DataType::Boolean => Builder::Bool(BooleanBuilder::with_capacity(capacity)),
        DataType::Int8 => Builder::Int8(Int8Builder::with_capacity(capacity)),
        DataType::Int16 => Builder::Int16(Int16Builder::with_capacity(capacity)),
        DataType::Int32 => Builder::Int32(Int32Builder::with_capacity(capacity)),
        DataType::Int64 => Builder::Int64(Int64Builder::with_capacity(capacity)),
        DataType::Decimal128(p, s) => Builder::Dec128(
            Decimal128Builder::with_capacity(capacity)
                .with_precision_and_scale(*p, *s)
                .map_err(|e| crate::Error::datafusion("a decimal column", e))?,
            *p,
            *s,
        ),
        DataType::Decimal256(p, s) => Builder::Dec256(
            Decimal256Builder::with_capacity(capacity)
                .with_precision_and_scale(*p, *s)
                .map_err(|e| crate::Error::datafusion("a decimal column", e))?,
            *p,
            *s,
        ),
        DataType::Float32 => Builder::Float32(Float32Builder::with_capacity(capacity)),
        DataType::Float64 => Builder::Float64(Float64Builder::with_capacity(capacity)),
        DataType::Date32 => Builder::Date(Date32Builder::with_capacity(capacity)),
        DataType::Timestamp(TimeUnit::Microsecond, tz) => {
            Builder::Timestamp(TimestampMicrosecondBuilder::with_capacity(capacity).with_timezone_opt(tz.clone()))
        }
        DataType::Duration(TimeUnit::Microsecond) => {
            Builder::Duration(DurationMicrosecondBuilder::with_capacity(capacity))
        }
        DataType::Utf8 => Builder::Utf8(StringBuilder::with_capacity(capacity, capacity * 16)),
        DataType::FixedSizeBinary(n) => Builder::FixedBinary(FixedSizeBinaryBuilder::with_capacity(capacity, *n)),
        DataType::Binary => Builder::Binary(BinaryBuilder::with_capacity(capacity, capacity * 16)),
        other => return Err(crate::Error::other(format!("no decoder for Arrow type {other}"))),
    })
}

impl ColumnDecoder {
    /// A decoder into `data_type` (the column's read type for a run, its final type
    /// for SQL over an export); fails for a type it cannot build.
    pub fn new(how: Decoding, data_type: &DataType, capacity: usize) -> crate::Result<ColumnDecoder> {
        if let Logical::Decimal(_, s) = how.logical {
            if s < 0 {
                return Err(crate::Error::other(format!("negative decimal scale {s} is not supported")));
            }
        }
        let builder = builder_for(data_type, capacity)?;
        Ok(ColumnDecoder { how, builder, scratch: Vec::new(), zero_dates_nulled: 0 })
    }

    /// The column's logical type.
    pub fn logical(&self) -> Logical {
        self.how.logical
    }

    /// Zero dates written as NULL so far.
    pub fn zero_dates_nulled(&self) -> u64 {
        self.zero_dates_nulled
    }

    /// Appends one value. On a refusal nothing is appended, and the batch being built
    /// must be discarded.
    #[inline]
    pub fn push(&mut self, cell: Cell<'_>) -> Result<(), Reason> {
        if let Cell::Null = cell {
            self.append_null();
            return Ok(());
        }
        match &mut self.builder {
            Builder::Bool(b) => b.append_value(bool_of(cell)?),
            Builder::Int8(b) => b.append_value(int_of(cell, &self.how)?),
            Builder::Int16(b) => b.append_value(int_of(cell, &self.how)?),
            Builder::Int32(b) => b.append_value(int_of(cell, &self.how)?),
            Builder::Int64(b) => b.append_value(int_of(cell, &self.how)?),
            Builder::Dec128(b, p, s) => b.append_value(decimal_of(cell, &self.how, *p, *s)?.as_small()?),
            Builder::Dec256(b, p, s) => b.append_value(decimal_of(cell, &self.how, *p, *s)?.wide()),
            Builder::Float32(b) => b.append_value(float_of(cell)?),
            Builder::Float64(b) => b.append_value(float_of(cell)?),
            Builder::Date(b) => match self.how.date_parts(cell, Form::ExportDate)? {
                Some(p) => b.append_value(p.days()? as i32),
                None => {
                    self.zero_dates_nulled += 1;
                    b.append_null()
                }
            },
            Builder::Timestamp(b) => match self.how.date_parts(cell, Form::ExportInstant)? {
                Some(p) => b.append_value(p.micros()?),
                None => {
                    self.zero_dates_nulled += 1;
                    b.append_null()
                }
            },
            Builder::Duration(b) => b.append_value(time_of(cell)?),
            Builder::Utf8(b) => b.append_value(utf8_of(cell)?),
            Builder::FixedBinary(b) => {
                let bytes = bytes_of(cell, self.how.dialect, &mut self.scratch)?;
                if bytes.len() != 16 {
                    return Err(Why::from(format!("expected 16 bytes, found {}", bytes.len())).into());
                }
                b.append_value(bytes).map_err(|e| Why::from(e.to_string()))?
            }
            Builder::Binary(b) => b.append_value(bytes_of(cell, self.how.dialect, &mut self.scratch)?),
        }
        Ok(())
    }

    /// Appends a NULL.
    pub fn append_null(&mut self) {
        match &mut self.builder {
            Builder::Bool(b) => b.append_null(),
            Builder::Int8(b) => b.append_null(),
            Builder::Int16(b) => b.append_null(),
            Builder::Int32(b) => b.append_null(),
            Builder::Int64(b) => b.append_null(),
            Builder::Dec128(b, ..) => b.append_null(),
            Builder::Dec256(b, ..) => b.append_null(),
            Builder::Float32(b) => b.append_null(),
            Builder::Float64(b) => b.append_null(),
            Builder::Date(b) => b.append_null(),
            Builder::Timestamp(b) => b.append_null(),
            Builder::Duration(b) => b.append_null(),
            Builder::Utf8(b) => b.append_null(),
            Builder::FixedBinary(b) => b.append_null(),
            Builder::Binary(b) => b.append_null(),
        }
    }

    /// Finishes the array built so far and starts a new one.
    pub fn finish(&mut self) -> ArrayRef {
        match &mut self.builder {
            Builder::Bool(b) => Arc::new(b.finish()),
            Builder::Int8(b) => Arc::new(b.finish()),
            Builder::Int16(b) => Arc::new(b.finish()),
            Builder::Int32(b) => Arc::new(b.finish()),
            Builder::Int64(b) => Arc::new(b.finish()),
            Builder::Dec128(b, ..) => Arc::new(b.finish()),
            Builder::Dec256(b, ..) => Arc::new(b.finish()),
            Builder::Float32(b) => Arc::new(b.finish()),
            Builder::Float64(b) => Arc::new(b.finish()),
            Builder::Date(b) => Arc::new(b.finish()),
            Builder::Timestamp(b) => Arc::new(b.finish()),
            Builder::Duration(b) => Arc::new(b.finish()),
            Builder::Utf8(b) => Arc::new(b.finish()),
            Builder::FixedBinary(b) => Arc::new(b.finish()),
            Builder::Binary(b) => Arc::new(b.finish()),
        }
    }
}

impl Decoding {
    /// A date's parts, or `None` for a zero date the rule turns into NULL.
    fn date_parts(&self, cell: Cell<'_>, export: Form) -> Result<Option<Parts>, Reason> {
        let parts = match cell {
            Cell::DateTime { year, month, day, hour, minute, second, micro } => Parts {
                year: year as u32,
                month: month as u32,
                day: day as u32,
                hour: hour as u32,
                minute: minute as u32,
                second: second as u32,
                micro,
            },
            Cell::Bytes(b) if self.dialect == Dialect::Export => return Ok(Some(text::parse_date_time(b, export)?)),
            Cell::Bytes(b) => text::parse_date_time(b, Form::MySql)?,
            _ => return Err(Why::from("not a date").into()),
        };
        if !parts.is_zero() {
            return Ok(Some(parts));
        }
        match self.zero_date {
            ZeroDate::Error => Err(Reason::ZeroDate),
            ZeroDate::Null => Ok(None),
        }
    }
}

/// An integer of width `T`: typed cells, bit bytes, MySQL's text, or the export's
/// (`t`/`f` for a boolean read as tinyint).
#[inline]
fn int_of<T>(cell: Cell<'_>, how: &Decoding) -> Result<T, Reason>
where
    T: TryFrom<i64> + TryFrom<u64> + std::str::FromStr,
    <T as std::str::FromStr>::Err: std::fmt::Display,
{
    let range = || Reason::Invalid(format!("out of range for {}", how.logical.name()).into());
    match cell {
        Cell::Int(v) => T::try_from(v).map_err(|_| range()),
        Cell::UInt(v) => T::try_from(v).map_err(|_| range()),
        Cell::Bytes(b) if how.is_bit => {
            if b.len() > 8 {
                return Err(range());
            }
            T::try_from(b.iter().fold(0u64, |acc, &x| (acc << 8) | x as u64)).map_err(|_| range())
        }
        Cell::Bytes(_) if how.dialect == Dialect::Export && how.logical == Logical::Bool => {
            let v: i64 = bool_of(cell)?.into();
            T::try_from(v).map_err(|_| range())
        }
        Cell::Bytes(b) => Ok(text::parse_number::<T>(b)?),
        _ => Err(Why::from("not an integer").into()),
    }
}

/// A boolean written `t` or `f`.
fn bool_of(cell: Cell<'_>) -> Result<bool, Reason> {
    match cell {
        Cell::Bytes(b"t") => Ok(true),
        Cell::Bytes(b"f") => Ok(false),
        _ => Err(Why::from("expected `t` or `f`").into()),
    }
}

impl Unscaled {
    fn as_small(self) -> Result<i128, Reason> {
        match self {
            Unscaled::Small(v) => Ok(v),
            Unscaled::Big(v) => v.to_i128().ok_or_else(|| Why::from("out of range").into()),
        }
    }
}

/// A decimal(p, s) (or unsigned bigint, as decimal(20, 0)): integers scaled, text parsed
/// without rounding.
fn decimal_of(cell: Cell<'_>, how: &Decoding, p: u8, s: i8) -> Result<Unscaled, Reason> {
    let int = match cell {
        Cell::Int(v) => v as i128,
        Cell::UInt(v) => v as i128,
        Cell::Bytes(_) if how.logical == Logical::UInt64 && how.is_bit => int_of::<u64>(cell, how)? as i128,
        Cell::Bytes(b) if how.logical == Logical::UInt64 => text::parse_number::<u64>(b)? as i128,
        Cell::Bytes(b) => return Ok(text::parse_decimal(b, p, s)?),
        _ => return Err(Why::from("not a decimal").into()),
    };
    let scaled = int.checked_mul(10i128.pow(s.max(0) as u32)).ok_or(Why::from("overflows"))?;
    if p <= 38 && scaled.unsigned_abs() >= 10u128.pow(p as u32) {
        return Err(Why::from(format!("more digits than decimal({p},{s}) holds")).into());
    }
    Ok(Unscaled::Small(scaled))
}

/// A float or double, from typed cells or text.
fn float_of<T: FloatCell>(cell: Cell<'_>) -> Result<T, Reason> {
    match cell {
        Cell::Float(f) => Ok(T::from_f32(f)),
        Cell::Double(d) => Ok(T::from_f64(d)),
        Cell::Int(i) => Ok(T::from_i64(i)),
        Cell::Bytes(b) => Ok(text::parse_number::<T>(b)?),
        _ => Err(Why::from("not a number").into()),
    }
}

/// f32 and f64 from the cells that hold them.
trait FloatCell: std::str::FromStr<Err = std::num::ParseFloatError> {
    fn from_f32(v: f32) -> Self;
    fn from_f64(v: f64) -> Self;
    fn from_i64(v: i64) -> Self;
}

impl FloatCell for f32 {
    fn from_f32(v: f32) -> Self {
        v
    }
    fn from_f64(v: f64) -> Self {
        v as f32
    }
    fn from_i64(v: i64) -> Self {
        v as f32
    }
}

impl FloatCell for f64 {
    fn from_f32(v: f32) -> Self {
        v as f64
    }
    fn from_f64(v: f64) -> Self {
        v
    }
    fn from_i64(v: i64) -> Self {
        v as f64
    }
}

/// A TIME as signed microseconds.
fn time_of(cell: Cell<'_>) -> Result<i64, Reason> {
    match cell {
        Cell::Time { negative, days, hours, minutes, seconds, micros } => {
            let v = ((days as i64 * 24 + hours as i64) * 3600 + minutes as i64 * 60 + seconds as i64) * 1_000_000
                + micros as i64;
            Ok(if negative { -v } else { v })
        }
        Cell::Bytes(b) => Ok(text::parse_time(b)?),
        _ => Err(Why::from("not a time").into()),
    }
}

/// Text: UTF-8 or refused.
#[inline]
fn utf8_of(cell: Cell<'_>) -> Result<&str, Reason> {
    match cell {
        Cell::Bytes(b) => std::str::from_utf8(b).map_err(|e| Reason::NotUtf8(e.valid_up_to())),
        _ => Err(Why::from("not text").into()),
    }
}

/// Bytes: raw from MySQL, `\x` hex from an export.
fn bytes_of<'a>(cell: Cell<'a>, dialect: Dialect, scratch: &'a mut Vec<u8>) -> Result<&'a [u8], Reason> {
    match (cell, dialect) {
        (Cell::Bytes(b), Dialect::MySql) => Ok(b),
        (Cell::Bytes(b), Dialect::Export) => {
            text::parse_hex(b, scratch)?;
            Ok(scratch)
        }
        _ => Err(Why::from("not binary").into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(logical: Logical, dialect: Dialect, cells: &[Cell<'_>]) -> Result<ArrayRef, Reason> {
        let how = Decoding { logical, is_bit: false, zero_date: ZeroDate::Error, dialect };
        let mut d = ColumnDecoder::new(how, &logical.read_type(), 4).unwrap();
        for c in cells {
            d.push(*c)?;
        }
        Ok(d.finish())
    }

    /// What MySQL prints and what the export writes for the same values decode to the
    /// same read-typed arrays: the CSV source needs no cast back.
    #[test]
    fn mysql_text_and_export_text_decode_alike() {
        use Cell::Bytes as B;
        let same = |l: Logical, my: &[Cell<'_>], ex: &[Cell<'_>]| {
            let (a, b) = (decode(l, Dialect::MySql, my).unwrap(), decode(l, Dialect::Export, ex).unwrap());
            assert_eq!(a.as_ref(), b.as_ref(), "{l:?}");
            assert_eq!(a.data_type(), &l.read_type(), "{l:?}");
        };
        same(Logical::Bool, &[Cell::Int(1), B(b"0"), Cell::Null], &[B(b"t"), B(b"f"), Cell::Null]);
        same(Logical::DateTime, &[B(b"2024-02-29 23:59:59.000001")], &[B(b"2024-02-29T23:59:59.000001Z")]);
        same(Logical::Timestamp, &[B(b"1970-01-01 00:00:00")], &[B(b"1970-01-01T00:00:00Z")]);
        same(Logical::Binary, &[B(&[0, 255, 10])], &[B(b"\\x00ff0a")]);
        same(Logical::Decimal(40, 2), &[B(b"-1.5")], &[B(b"-1.50")]);
        same(Logical::UInt64, &[Cell::UInt(u64::MAX)], &[B(b"18446744073709551615")]);
        same(
            Logical::Time,
            &[Cell::Time { negative: true, days: 1, hours: 2, minutes: 3, seconds: 4, micros: 5 }],
            &[B(b"-26:03:04.000005")],
        );
    }

    #[test]
    fn refusals_say_why() {
        let e = decode(Logical::Int8, Dialect::MySql, &[Cell::Int(300)]).unwrap_err();
        assert_eq!(e, Reason::Invalid("out of range for int8".into()));
        let e = decode(Logical::Text, Dialect::MySql, &[Cell::Bytes(b"ok\xff")]).unwrap_err();
        assert_eq!(e, Reason::NotUtf8(2));
        let e = decode(Logical::Date, Dialect::MySql, &[Cell::Bytes(b"2024-00-10")]).unwrap_err();
        assert_eq!(e, Reason::ZeroDate, "a zero month is MySQL's zero-in-date");
        let e = decode(Logical::Date, Dialect::Export, &[Cell::Bytes(b"2024-00-10")]).unwrap_err();
        assert_eq!(e, Reason::Invalid("month 0 out of range".into()), "an export holds no zero dates");
        let e = decode(Logical::Decimal(5, 2), Dialect::MySql, &[Cell::Int(1000)]).unwrap_err();
        assert!(matches!(e, Reason::Invalid(w) if w.contains("decimal(5,2)")));
        let e = decode(Logical::Bool, Dialect::Export, &[Cell::Bytes(b"1")]).unwrap_err();
        assert_eq!(e, Reason::Invalid("expected `t` or `f`".into()));
    }
}
