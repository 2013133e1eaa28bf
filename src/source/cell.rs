//! Turning MySQL cell values into Arrow arrays: the one decoder both source readers
//! share, so the live server and a dump of it give the same batches.
//!
//! A reader hands each value over as a [`Cell`]: typed when the wire protocol is typed
//! (binary protocol), or as the bytes MySQL prints (dump literals, decimals, strings).
//! [`BatchBuilder`] appends cells into the Arrow builders of the column's read type
//! ([`Logical::read_type`]) and applies the zero-date rule.

use arrow::array::*;
use arrow::datatypes::{i256, SchemaRef};
use arrow::record_batch::RecordBatch;

use crate::error::{shorten, ValueError};
use crate::feed::{read_schema, ColumnPlan, ZeroDate};
use crate::types::Logical;

use super::cell_text::{parse_datetime, parse_decimal, parse_time, I256OrI128};
use crate::calendar::{days_from_civil, days_in_month};

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
    /// Bytes: a string or blob value, or the text MySQL prints for a number or date.
    /// For `bit` columns read over the binary protocol, the big-endian bit value.
    Bytes(&'a [u8]),
    /// A date or datetime in its parts (binary protocol); all zero for `0000-00-00`.
    DateTime { year: u16, month: u8, day: u8, hour: u8, minute: u8, second: u8, micro: u32 },
    /// A time in its parts (binary protocol).
    Time { negative: bool, days: u32, hours: u8, minutes: u8, seconds: u8, micros: u32 },
}

/// Decodes one table's cells into record batches of the read types.
pub struct BatchBuilder {
    schema: SchemaRef,
    columns: Vec<ColumnPlan>,
    builders: Vec<Box<dyn ArrayBuilder>>,
    rows: usize,
    bytes: usize,
    zero_dates_nulled: Vec<u64>,
}

/// A value rejected by the decoder; the reader adds the table and key.
#[derive(Debug, Clone, PartialEq)]
pub struct CellError {
    /// Index of the column.
    pub column: usize,
    /// The value, shortened.
    pub value: String,
    /// Why.
    pub reason: String,
}

impl CellError {
    /// Adds the table and the row's key to make a [`ValueError`].
    pub fn locate(self, table: &str, columns: &[ColumnPlan], key: String) -> ValueError {
        ValueError {
            table: table.to_string(),
            key,
            column: columns[self.column].name.clone(),
            value: self.value,
            reason: self.reason,
        }
    }
}

fn new_builder(l: Logical, capacity: usize) -> Box<dyn ArrayBuilder> {
    match l {
        Logical::Bool | Logical::Int8 => Box::new(Int8Builder::with_capacity(capacity)),
        Logical::Int16 | Logical::Year => Box::new(Int16Builder::with_capacity(capacity)),
        Logical::Int32 => Box::new(Int32Builder::with_capacity(capacity)),
        Logical::Int64 => Box::new(Int64Builder::with_capacity(capacity)),
        Logical::UInt64 => {
            Box::new(Decimal128Builder::with_capacity(capacity).with_precision_and_scale(20, 0).unwrap())
        }
        Logical::Decimal(p, s) if p <= 38 => {
            Box::new(Decimal128Builder::with_capacity(capacity).with_precision_and_scale(p, s).unwrap())
        }
        Logical::Decimal(p, s) => {
            Box::new(Decimal256Builder::with_capacity(capacity).with_precision_and_scale(p, s).unwrap())
        }
        Logical::Float32 => Box::new(Float32Builder::with_capacity(capacity)),
        Logical::Float64 => Box::new(Float64Builder::with_capacity(capacity)),
        Logical::Date => Box::new(Date32Builder::with_capacity(capacity)),
        Logical::DateTime | Logical::Timestamp => Box::new(TimestampMicrosecondBuilder::with_capacity(capacity)),
        Logical::Time => Box::new(DurationMicrosecondBuilder::with_capacity(capacity)),
        Logical::Text | Logical::Uuid | Logical::Json | Logical::Enum | Logical::Set => {
            Box::new(StringBuilder::with_capacity(capacity, capacity * 16))
        }
        Logical::UuidBinary => Box::new(FixedSizeBinaryBuilder::with_capacity(capacity, 16)),
        Logical::Binary | Logical::Geometry => Box::new(BinaryBuilder::with_capacity(capacity, capacity * 16)),
    }
}

macro_rules! b {
    ($builder:expr, $t:ty) => {
        $builder.as_any_mut().downcast_mut::<$t>().expect("builder matches its logical type")
    };
}

impl BatchBuilder {
    /// A builder for these columns.
    pub fn new(columns: Vec<ColumnPlan>, capacity: usize) -> Self {
        let schema = read_schema(&columns);
        let builders = columns.iter().map(|c| new_builder(c.logical, capacity)).collect();
        let n = columns.len();
        BatchBuilder { schema, columns, builders, rows: 0, bytes: 0, zero_dates_nulled: vec![0; n] }
    }

    /// The schema of the batches this builder makes.
    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    /// The column plans.
    pub fn columns(&self) -> &[ColumnPlan] {
        &self.columns
    }

    /// Rows appended since the last [`BatchBuilder::finish`].
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Approximate bytes appended since the last finish (to bound batch memory).
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Zero dates written as NULL so far, per column.
    pub fn zero_dates_nulled(&self) -> &[u64] {
        &self.zero_dates_nulled
    }

    /// Appends one cell to column `i`. A whole row must be appended, column by column,
    /// before [`BatchBuilder::end_row`]; on error the batch must be discarded.
    pub fn push(&mut self, i: usize, cell: Cell<'_>) -> Result<(), CellError> {
        let col = &self.columns[i];
        let builder = &mut self.builders[i];
        let err = |reason: &str| CellError { column: i, value: show(&cell), reason: reason.to_string() };
        if let Cell::Null = cell {
            append_null(col.logical, builder.as_mut());
            return Ok(());
        }
        match col.logical {
            Logical::Bool | Logical::Int8 => {
                let v = int_of(&cell, col.is_bit).ok_or_else(|| err("is not an integer"))?;
                let v = i8::try_from(v).map_err(|_| err("is out of range for tinyint"))?;
                b!(builder, Int8Builder).append_value(v);
            }
            Logical::Int16 | Logical::Year => {
                let v = int_of(&cell, col.is_bit).ok_or_else(|| err("is not an integer"))?;
                b!(builder, Int16Builder).append_value(i16::try_from(v).map_err(|_| err("is out of range"))?);
            }
            Logical::Int32 => {
                let v = int_of(&cell, col.is_bit).ok_or_else(|| err("is not an integer"))?;
                b!(builder, Int32Builder).append_value(i32::try_from(v).map_err(|_| err("is out of range"))?);
            }
            Logical::Int64 => {
                let v = int_of(&cell, col.is_bit).ok_or_else(|| err("is not an integer"))?;
                b!(builder, Int64Builder).append_value(i64::try_from(v).map_err(|_| err("is out of range"))?);
            }
            Logical::UInt64 => {
                let v = int_of(&cell, col.is_bit).ok_or_else(|| err("is not an integer"))?;
                b!(builder, Decimal128Builder).append_value(v);
            }
            Logical::Decimal(p, s) => {
                let text = match cell {
                    Cell::Bytes(b) => b,
                    Cell::Int(_) | Cell::UInt(_) => {
                        let v = int_of(&cell, false).unwrap();
                        let scaled = v.checked_mul(10i128.pow(s as u32)).ok_or_else(|| err("overflows"))?;
                        push_decimal(builder.as_mut(), p, I256OrI128::Small(scaled));
                        self.end_cell(8);
                        return Ok(());
                    }
                    _ => return Err(err("is not a decimal")),
                };
                let v = parse_decimal(text, p, s).ok_or_else(|| err(&format!("is not a decimal({p},{s})")))?;
                push_decimal(builder.as_mut(), p, v);
            }
            Logical::Float32 => {
                let v = match cell {
                    Cell::Float(f) => f,
                    Cell::Double(d) => d as f32,
                    Cell::Int(i) => i as f32,
                    Cell::Bytes(b) => {
                        std::str::from_utf8(b).ok().and_then(|s| s.parse().ok()).ok_or_else(|| err("is not a float"))?
                    }
                    _ => return Err(err("is not a float")),
                };
                b!(builder, Float32Builder).append_value(v);
            }
            Logical::Float64 => {
                let v = match cell {
                    Cell::Double(d) => d,
                    Cell::Float(f) => f as f64,
                    Cell::Int(i) => i as f64,
                    Cell::Bytes(b) => std::str::from_utf8(b)
                        .ok()
                        .and_then(|s| s.parse().ok())
                        .ok_or_else(|| err("is not a double"))?,
                    _ => return Err(err("is not a double")),
                };
                b!(builder, Float64Builder).append_value(v);
            }
            Logical::Date | Logical::DateTime | Logical::Timestamp => {
                let parts = match cell {
                    Cell::DateTime { year, month, day, hour, minute, second, micro } => Some((
                        year as i64,
                        month as u32,
                        day as u32,
                        hour as i64,
                        minute as i64,
                        second as i64,
                        micro as i64,
                    )),
                    Cell::Bytes(b) => parse_datetime(b),
                    _ => None,
                };
                let Some((y, mo, d, h, mi, s, us)) = parts else { return Err(err("is not a date")) };
                if y == 0 || mo == 0 || d == 0 {
                    return match col.zero_date {
                        ZeroDate::Error => Err(err("is a zero date (set zero_date = \"null\" to load it as NULL)")),
                        ZeroDate::Null => {
                            append_null(col.logical, builder.as_mut());
                            self.zero_dates_nulled[i] += 1;
                            Ok(())
                        }
                    };
                }
                if mo > 12 || d > days_in_month(y, mo) || h > 23 || mi > 59 || s > 59 {
                    return Err(err("is not a valid date"));
                }
                let days = days_from_civil(y, mo, d);
                if col.logical == Logical::Date {
                    b!(builder, Date32Builder).append_value(days as i32);
                } else {
                    let micros = ((days * 86_400 + h * 3600 + mi * 60 + s) * 1_000_000) + us;
                    b!(builder, TimestampMicrosecondBuilder).append_value(micros);
                }
            }
            Logical::Time => {
                let micros = match cell {
                    Cell::Time { negative, days, hours, minutes, seconds, micros } => {
                        let v = ((days as i64 * 24 + hours as i64) * 3600 + minutes as i64 * 60 + seconds as i64)
                            * 1_000_000
                            + micros as i64;
                        if negative {
                            -v
                        } else {
                            v
                        }
                    }
                    Cell::Bytes(b) => parse_time(b).ok_or_else(|| err("is not a time"))?,
                    _ => return Err(err("is not a time")),
                };
                b!(builder, DurationMicrosecondBuilder).append_value(micros);
            }
            Logical::Text | Logical::Uuid | Logical::Json | Logical::Enum | Logical::Set => {
                let bytes = match cell {
                    Cell::Bytes(b) => b,
                    _ => return Err(err("is not text")),
                };
                let s = std::str::from_utf8(bytes)
                    .map_err(|e| err(&format!("is not valid UTF-8 (at byte {})", e.valid_up_to())))?;
                b!(builder, StringBuilder).append_value(s);
                self.end_cell(bytes.len());
                return Ok(());
            }
            Logical::UuidBinary => {
                let Cell::Bytes(bytes) = cell else { return Err(err("is not binary")) };
                b!(builder, FixedSizeBinaryBuilder)
                    .append_value(bytes)
                    .map_err(|_| err(&format!("has {} bytes, binary(16) needs 16", bytes.len())))?;
            }
            Logical::Binary | Logical::Geometry => {
                let Cell::Bytes(bytes) = cell else { return Err(err("is not binary")) };
                b!(builder, BinaryBuilder).append_value(bytes);
                self.end_cell(bytes.len());
                return Ok(());
            }
        }
        self.end_cell(8);
        Ok(())
    }

    fn end_cell(&mut self, bytes: usize) {
        self.bytes += bytes;
    }

    /// Marks the end of a row.
    pub fn end_row(&mut self) {
        self.rows += 1;
    }

    /// Takes the rows appended so far as a record batch.
    pub fn finish(&mut self) -> RecordBatch {
        let arrays: Vec<ArrayRef> = self.builders.iter_mut().map(|b| b.finish()).collect();
        self.rows = 0;
        self.bytes = 0;
        RecordBatch::try_new(self.schema.clone(), arrays).expect("builders match the schema")
    }
}

fn push_decimal(builder: &mut dyn ArrayBuilder, p: u8, v: I256OrI128) {
    if p <= 38 {
        let v = match v {
            I256OrI128::Small(v) => v,
            I256OrI128::Big(v) => v.as_i128(),
        };
        b!(builder, Decimal128Builder).append_value(v);
    } else {
        let v = match v {
            I256OrI128::Small(v) => i256::from_i128(v),
            I256OrI128::Big(v) => v,
        };
        b!(builder, Decimal256Builder).append_value(v);
    }
}

fn append_null(l: Logical, builder: &mut dyn ArrayBuilder) {
    match l {
        Logical::Bool | Logical::Int8 => b!(builder, Int8Builder).append_null(),
        Logical::Int16 | Logical::Year => b!(builder, Int16Builder).append_null(),
        Logical::Int32 => b!(builder, Int32Builder).append_null(),
        Logical::Int64 => b!(builder, Int64Builder).append_null(),
        Logical::UInt64 => b!(builder, Decimal128Builder).append_null(),
        Logical::Decimal(p, _) if p <= 38 => b!(builder, Decimal128Builder).append_null(),
        Logical::Decimal(..) => b!(builder, Decimal256Builder).append_null(),
        Logical::Float32 => b!(builder, Float32Builder).append_null(),
        Logical::Float64 => b!(builder, Float64Builder).append_null(),
        Logical::Date => b!(builder, Date32Builder).append_null(),
        Logical::DateTime | Logical::Timestamp => b!(builder, TimestampMicrosecondBuilder).append_null(),
        Logical::Time => b!(builder, DurationMicrosecondBuilder).append_null(),
        Logical::Text | Logical::Uuid | Logical::Json | Logical::Enum | Logical::Set => {
            b!(builder, StringBuilder).append_null()
        }
        Logical::UuidBinary => b!(builder, FixedSizeBinaryBuilder).append_null(),
        Logical::Binary | Logical::Geometry => b!(builder, BinaryBuilder).append_null(),
    }
}

/// Renders a cell for an error message (shortened; bytes as text when UTF-8, else hex).
pub fn show(cell: &Cell<'_>) -> String {
    match cell {
        Cell::Null => "NULL".into(),
        Cell::Int(v) => v.to_string(),
        Cell::UInt(v) => v.to_string(),
        Cell::Float(v) => format!("{v:?}"),
        Cell::Double(v) => format!("{v:?}"),
        Cell::Bytes(b) => match std::str::from_utf8(b) {
            Ok(s) => format!("'{}'", shorten(s, 60)),
            Err(_) => format!("0x{}", shorten(&hex::encode(b), 60)),
        },
        Cell::DateTime { year, month, day, hour, minute, second, micro } => {
            format!("'{year:04}-{month:02}-{day:02} {hour:02}:{minute:02}:{second:02}.{micro:06}'")
        }
        Cell::Time { negative, days, hours, minutes, seconds, micros } => format!(
            "'{}{}:{minutes:02}:{seconds:02}.{micros:06}'",
            if *negative { "-" } else { "" },
            *days as u64 * 24 + *hours as u64
        ),
    }
}

fn int_of(cell: &Cell<'_>, is_bit: bool) -> Option<i128> {
    match *cell {
        Cell::Int(v) => Some(v as i128),
        Cell::UInt(v) => Some(v as i128),
        Cell::Bytes(b) if is_bit => {
            if b.len() > 8 {
                return None;
            }
            Some(b.iter().fold(0u64, |acc, &x| (acc << 8) | x as u64) as i128)
        }
        Cell::Bytes(b) => std::str::from_utf8(b).ok()?.trim().parse::<i128>().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(l: Logical) -> Vec<ColumnPlan> {
        vec![ColumnPlan { name: "c".into(), logical: l, is_bit: false, zero_date: ZeroDate::Error, nullable: true }]
    }

    #[test]
    fn decimals_keep_every_digit_or_fail() {
        let mut b = BatchBuilder::new(plan(Logical::Decimal(65, 30)), 4);
        b.push(0, Cell::Bytes(b"-12345678901234567890123456789012345.123456789012345678901234567890")).unwrap();
        b.end_row();
        let batch = b.finish();
        let a = batch.column(0).as_any().downcast_ref::<Decimal256Array>().unwrap();
        assert_eq!(a.value_as_string(0), "-12345678901234567890123456789012345.123456789012345678901234567890");
        let mut b = BatchBuilder::new(plan(Logical::Decimal(5, 2)), 4);
        assert!(b.push(0, Cell::Bytes(b"1.234")).is_err(), "a third decimal digit would be lost");
        assert!(b.push(0, Cell::Bytes(b"1234.5")).is_err(), "too many digits for precision 5");
    }

    #[test]
    fn dates_times_and_zero_dates() {
        assert_eq!(super::super::cell_text::parse_time(b"-838:59:59"), Some(-(838 * 3600 + 59 * 60 + 59) * 1_000_000));
        assert_eq!(super::super::cell_text::parse_time(b"01:02:03.5"), Some((3723) * 1_000_000 + 500_000));
        let mut b = BatchBuilder::new(plan(Logical::DateTime), 4);
        let e = b.push(0, Cell::Bytes(b"0000-00-00 00:00:00")).unwrap_err();
        assert!(e.reason.contains("zero date"));
        let mut p = plan(Logical::DateTime);
        p[0].zero_date = ZeroDate::Null;
        let mut b = BatchBuilder::new(p, 4);
        b.push(0, Cell::Bytes(b"0000-00-00 00:00:00")).unwrap();
        b.end_row();
        assert_eq!(b.zero_dates_nulled(), &[1]);
        assert_eq!(b.finish().column(0).null_count(), 1);
    }

    #[test]
    fn invalid_utf8_is_rejected() {
        let mut b = BatchBuilder::new(plan(Logical::Text), 4);
        let e = b.push(0, Cell::Bytes(b"ok\xff")).unwrap_err();
        assert!(e.reason.contains("UTF-8"), "{e:?}");
        assert_eq!(e.value, "0x6f6bff");
    }
}
