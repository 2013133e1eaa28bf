//! The CSV contract's cell encoder (docs/architecture.md, "The CSV export contract"): `\N` for
//! NULL, `""` for an empty string, `t`/`f`, ISO 8601 `Z` timestamps, `[-]H:MM:SS` times,
//! `\x` hex bytes, JSON always quoted, and every other character kept exactly.
//!
//! arrow-csv cannot write this contract (it decides quoting from bytes alone, so `""` and
//! `\N` cannot both be right, and writes booleans as `true`), so the encoder is ours. It
//! writes straight from the Arrow buffers into one reused output buffer.

use std::io::Write;

use arrow::array::*;
use arrow::datatypes::{i256, DataType, Decimal128Type, Decimal256Type, DurationMicrosecondType, TimeUnit};

use crate::calendar::civil_from_days;
use crate::types::Logical;

/// One column of a batch, downcast once per batch.
enum Col<'a> {
    Bool(&'a BooleanArray),
    I8(&'a Int8Array),
    I16(&'a Int16Array),
    I32(&'a Int32Array),
    I64(&'a Int64Array),
    D128(&'a Decimal128Array, i8),
    D256(&'a Decimal256Array, i8),
    F32(&'a Float32Array),
    F64(&'a Float64Array),
    Date(&'a Date32Array),
    Ts(&'a TimestampMicrosecondArray),
    Dur(&'a PrimitiveArray<DurationMicrosecondType>),
    Str(&'a StringArray, bool),
    Bin(&'a BinaryArray),
    Fixed(&'a FixedSizeBinaryArray),
}

/// Whether a text needs quotes: empty, the NULL marker itself, or a delimiter inside.
#[inline]
pub fn needs_quotes(s: &[u8]) -> bool {
    s.is_empty() || s == b"\\N" || s.iter().any(|&c| matches!(c, b',' | b'"' | b'\n' | b'\r'))
}

/// Appends a text field, quoted when needed (or always), inner quotes doubled.
#[inline]
pub fn write_text(out: &mut Vec<u8>, s: &[u8], always_quote: bool) {
    if !always_quote && !needs_quotes(s) {
        out.extend_from_slice(s);
        return;
    }
    out.push(b'"');
    let mut start = 0;
    for (i, &c) in s.iter().enumerate() {
        if c == b'"' {
            out.extend_from_slice(&s[start..=i]);
            out.push(b'"');
            start = i + 1;
        }
    }
    out.extend_from_slice(&s[start..]);
    out.push(b'"');
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn write_hex(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(b"\\x");
    out.reserve(b.len() * 2);
    for &x in b {
        out.push(HEX[(x >> 4) as usize]);
        out.push(HEX[(x & 15) as usize]);
    }
}

fn write_date(out: &mut Vec<u8>, days: i64) {
    let (y, m, d) = civil_from_days(days);
    let _ = write!(out, "{y:04}-{m:02}-{d:02}");
}

/// `YYYY-MM-DDTHH:MM:SS[.ffffff]Z` for microseconds since the epoch.
pub fn write_timestamp(out: &mut Vec<u8>, micros: i64) {
    let secs = micros.div_euclid(1_000_000);
    let frac = micros.rem_euclid(1_000_000);
    write_date(out, secs.div_euclid(86_400));
    let sod = secs.rem_euclid(86_400);
    let _ = write!(out, "T{:02}:{:02}:{:02}", sod / 3600, sod / 60 % 60, sod % 60);
    if frac != 0 {
        let _ = write!(out, ".{frac:06}");
    }
    out.push(b'Z');
}

/// `[-]H:MM:SS[.ffffff]` for a signed duration in microseconds (PostgreSQL interval input).
pub fn write_duration(out: &mut Vec<u8>, micros: i64) {
    if micros < 0 {
        out.push(b'-');
    }
    let m = micros.unsigned_abs();
    let (secs, frac) = (m / 1_000_000, m % 1_000_000);
    let _ = write!(out, "{}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60);
    if frac != 0 {
        let _ = write!(out, ".{frac:06}");
    }
}

fn write_float(out: &mut Vec<u8>, v: f64, debug: impl std::fmt::Debug) {
    if v.is_nan() {
        out.extend_from_slice(b"NaN");
    } else if v.is_infinite() {
        out.extend_from_slice(if v > 0.0 { b"Infinity" } else { b"-Infinity" });
    } else {
        // `{:?}` is the shortest text that reads back to the same bits.
        let _ = write!(out, "{debug:?}");
    }
}

fn write_decimal128(out: &mut Vec<u8>, v: i128, scale: i8) {
    if scale <= 0 {
        let _ = write!(out, "{v}");
        return;
    }
    let p = 10i128.pow(scale as u32);
    if v < 0 {
        out.push(b'-');
    }
    let a = v.unsigned_abs();
    let _ = write!(out, "{}.{:0width$}", a / p as u128, a % p as u128, width = scale as usize);
}

fn write_decimal256(out: &mut Vec<u8>, v: i256, scale: i8) {
    let text = v.to_string();
    let (neg, digits) = match text.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, text.as_str()),
    };
    if neg {
        out.push(b'-');
    }
    let s = scale.max(0) as usize;
    if s == 0 {
        out.extend_from_slice(digits.as_bytes());
        return;
    }
    let padded = format!("{digits:0>width$}", width = s + 1);
    let (i, f) = padded.split_at(padded.len() - s);
    out.extend_from_slice(i.as_bytes());
    out.push(b'.');
    out.extend_from_slice(f.as_bytes());
}

/// Encodes record batches as CSV rows for a fixed list of columns.
pub struct CsvEncoder {
    json: Vec<bool>,
}

impl CsvEncoder {
    /// An encoder; `logical[i]` decides how column i is written (JSON is always quoted).
    pub fn new(logical: &[Logical]) -> Self {
        CsvEncoder { json: logical.iter().map(|l| *l == Logical::Json).collect() }
    }

    /// Appends the header line.
    pub fn header(out: &mut Vec<u8>, names: &[&str]) {
        for (i, n) in names.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_text(out, n.as_bytes(), false);
        }
        out.push(b'\n');
    }

    /// Appends every row of `batch`.
    pub fn encode(&self, batch: &RecordBatch, out: &mut Vec<u8>) -> crate::Result<()> {
        let cols = batch
            .columns()
            .iter()
            .zip(&self.json)
            .map(|(a, json)| downcast(a.as_ref(), *json))
            .collect::<crate::Result<Vec<_>>>()?;
        let nulls: Vec<Option<&arrow::buffer::NullBuffer>> = batch.columns().iter().map(|a| a.nulls()).collect();
        for row in 0..batch.num_rows() {
            for (i, col) in cols.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                if nulls[i].is_some_and(|n| n.is_null(row)) {
                    out.extend_from_slice(b"\\N");
                    continue;
                }
                write_cell(out, col, row);
            }
            out.push(b'\n');
        }
        Ok(())
    }
}

fn downcast(a: &dyn Array, json: bool) -> crate::Result<Col<'_>> {
    Ok(match a.data_type() {
        DataType::Boolean => Col::Bool(a.as_boolean()),
        DataType::Int8 => Col::I8(a.as_primitive()),
        DataType::Int16 => Col::I16(a.as_primitive()),
        DataType::Int32 => Col::I32(a.as_primitive()),
        DataType::Int64 => Col::I64(a.as_primitive()),
        DataType::Decimal128(_, s) => Col::D128(a.as_primitive::<Decimal128Type>(), *s),
        DataType::Decimal256(_, s) => Col::D256(a.as_primitive::<Decimal256Type>(), *s),
        DataType::Float32 => Col::F32(a.as_primitive()),
        DataType::Float64 => Col::F64(a.as_primitive()),
        DataType::Date32 => Col::Date(a.as_primitive()),
        DataType::Timestamp(TimeUnit::Microsecond, _) => Col::Ts(a.as_primitive()),
        DataType::Duration(TimeUnit::Microsecond) => Col::Dur(a.as_primitive()),
        DataType::Utf8 => Col::Str(a.as_string::<i32>(), json),
        DataType::Binary => Col::Bin(a.as_binary::<i32>()),
        DataType::FixedSizeBinary(_) => Col::Fixed(a.as_fixed_size_binary()),
        other => return Err(crate::Error::other(format!("the CSV sink cannot write Arrow type {other}"))),
    })
}

#[inline]
fn write_cell(out: &mut Vec<u8>, col: &Col<'_>, row: usize) {
    match col {
        Col::Bool(a) => out.push(if a.value(row) { b't' } else { b'f' }),
        Col::I8(a) => {
            let _ = write!(out, "{}", a.value(row));
        }
        Col::I16(a) => {
            let _ = write!(out, "{}", a.value(row));
        }
        Col::I32(a) => {
            let _ = write!(out, "{}", a.value(row));
        }
        Col::I64(a) => {
            let _ = write!(out, "{}", a.value(row));
        }
        Col::D128(a, s) => write_decimal128(out, a.value(row), *s),
        Col::D256(a, s) => write_decimal256(out, a.value(row), *s),
        Col::F32(a) => write_float(out, a.value(row) as f64, a.value(row)),
        Col::F64(a) => write_float(out, a.value(row), a.value(row)),
        Col::Date(a) => write_date(out, a.value(row) as i64),
        Col::Ts(a) => write_timestamp(out, a.value(row)),
        Col::Dur(a) => write_duration(out, a.value(row)),
        Col::Str(a, json) => write_text(out, a.value(row).as_bytes(), *json),
        Col::Bin(a) => write_hex(out, a.value(row)),
        Col::Fixed(a) => write_hex(out, a.value(row)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_dates() {
        let mut o = Vec::new();
        write_timestamp(&mut o, 1_705_314_600_123_456);
        o.push(b' ');
        write_timestamp(&mut o, -1);
        o.push(b' ');
        write_duration(&mut o, -(838 * 3600 + 59 * 60 + 59) * 1_000_000);
        o.push(b' ');
        write_duration(&mut o, 1);
        o.push(b' ');
        write_decimal128(&mut o, -5, 2);
        o.push(b' ');
        write_decimal256(&mut o, i256::from_i128(-5), 30);
        assert_eq!(
            String::from_utf8(o).unwrap(),
            "2024-01-15T10:30:00.123456Z 1969-12-31T23:59:59.999999Z -838:59:59 0:00:00.000001 -0.05 -0.000000000000000000000000000005"
        );
    }

    #[test]
    fn quoting_rules() {
        let mut o = Vec::new();
        for s in ["", "\\N", "plain", "a,b", "say \"hi\"", "x\\y", "tab\there"] {
            write_text(&mut o, s.as_bytes(), false);
            o.push(b'|');
        }
        assert_eq!(String::from_utf8(o).unwrap(), "\"\"|\"\\N\"|plain|\"a,b\"|\"say \"\"hi\"\"\"|x\\y|tab\there|");
    }
}
