//! Turning CSV field text back into Arrow values: one [`ColumnDecoder`] per column,
//! appending into the builder of the column's Arrow type ([`Logical::arrow_type`]).
//!
//! Each parser is the exact inverse of what the CSV sink writes for its logical type
//! (see the module docs of `source::csv`), accepting a few harmless variants (fewer
//! decimal digits, a `\r\n` line end) but never rounding or guessing.

use std::sync::Arc;

use arrow::array::*;
use arrow::datatypes::{i256, DataType, TimeUnit};

use crate::calendar::{days_from_civil, days_in_month};
use crate::types::Logical;

/// The Arrow builder for one column, by Arrow type.
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

/// Decodes the fields of one column into an Arrow array.
#[derive(Debug)]
pub struct ColumnDecoder {
    logical: Logical,
    builder: Builder,
    /// Reused buffer for hex-decoded bytes.
    scratch: Vec<u8>,
}

impl ColumnDecoder {
    /// A decoder producing `logical.arrow_type()`; fails for a decimal type Arrow cannot hold.
    pub fn new(logical: Logical) -> Result<ColumnDecoder, String> {
        let builder = match logical.arrow_type() {
            DataType::Boolean => Builder::Bool(BooleanBuilder::new()),
            DataType::Int8 => Builder::Int8(Int8Builder::new()),
            DataType::Int16 => Builder::Int16(Int16Builder::new()),
            DataType::Int32 => Builder::Int32(Int32Builder::new()),
            DataType::Int64 => Builder::Int64(Int64Builder::new()),
            DataType::Decimal128(p, s) => Builder::Dec128(
                Decimal128Builder::new().with_precision_and_scale(p, s).map_err(|e| e.to_string())?,
                p,
                s,
            ),
            DataType::Decimal256(p, s) => Builder::Dec256(
                Decimal256Builder::new().with_precision_and_scale(p, s).map_err(|e| e.to_string())?,
                p,
                s,
            ),
            DataType::Float32 => Builder::Float32(Float32Builder::new()),
            DataType::Float64 => Builder::Float64(Float64Builder::new()),
            DataType::Date32 => Builder::Date(Date32Builder::new()),
            DataType::Timestamp(TimeUnit::Microsecond, tz) => {
                Builder::Timestamp(TimestampMicrosecondBuilder::new().with_timezone_opt(tz))
            }
            DataType::Duration(TimeUnit::Microsecond) => Builder::Duration(DurationMicrosecondBuilder::new()),
            DataType::Utf8 => Builder::Utf8(StringBuilder::new()),
            DataType::FixedSizeBinary(n) => Builder::FixedBinary(FixedSizeBinaryBuilder::new(n)),
            DataType::Binary => Builder::Binary(BinaryBuilder::new()),
            other => return Err(format!("no CSV decoder for Arrow type {other}")),
        };
        if let Logical::Decimal(_, s) = logical {
            if s < 0 {
                return Err(format!("negative decimal scale {s} is not supported"));
            }
        }
        Ok(ColumnDecoder { logical, builder, scratch: Vec::new() })
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

    /// Parses the (unescaped) text of one non-NULL field and appends it.
    /// The error says what is wrong with the value, without the location.
    pub fn append(&mut self, text: &[u8]) -> Result<(), String> {
        let r = self.append_inner(text);
        r.map_err(|why| {
            if std::str::from_utf8(text).is_err() {
                return invalid_utf8(text);
            }
            let shown = shorten(&String::from_utf8_lossy(text), 80);
            format!("cannot read {:?} as {}: {why}", shown, self.logical.name())
        })
    }

    fn append_inner(&mut self, text: &[u8]) -> Result<(), String> {
        match &mut self.builder {
            Builder::Bool(b) => b.append_value(match text {
                b"t" => true,
                b"f" => false,
                _ => return Err("expected `t` or `f`".into()),
            }),
            Builder::Int8(b) => b.append_value(parse_int(text)?),
            Builder::Int16(b) => b.append_value(parse_int(text)?),
            Builder::Int32(b) => b.append_value(parse_int(text)?),
            Builder::Int64(b) => b.append_value(parse_int(text)?),
            Builder::Dec128(b, p, s) => {
                let v = if self.logical == Logical::UInt64 {
                    parse_int::<u64>(text)? as i128
                } else {
                    let v = parse_decimal(text, *p, *s)?;
                    v.to_i128().ok_or("out of range")?
                };
                b.append_value(v)
            }
            Builder::Dec256(b, p, s) => b.append_value(parse_decimal(text, *p, *s)?),
            Builder::Float32(b) => b.append_value(parse_int::<f32>(text)?),
            Builder::Float64(b) => b.append_value(parse_int::<f64>(text)?),
            Builder::Date(b) => b.append_value(parse_date(text)?),
            Builder::Timestamp(b) => b.append_value(parse_datetime(text)?),
            Builder::Duration(b) => b.append_value(parse_time(text)?),
            Builder::Utf8(b) => b.append_value(std::str::from_utf8(text).map_err(|_| invalid_utf8(text))?),
            Builder::FixedBinary(b) => {
                parse_hex(text, &mut self.scratch)?;
                if self.scratch.len() != 16 {
                    return Err(format!("expected 16 bytes, found {}", self.scratch.len()));
                }
                b.append_value(&self.scratch).map_err(|e| e.to_string())?
            }
            Builder::Binary(b) => {
                parse_hex(text, &mut self.scratch)?;
                b.append_value(&self.scratch)
            }
        }
        Ok(())
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

/// The message for bytes that are not UTF-8, with the offset of the first bad byte.
fn invalid_utf8(text: &[u8]) -> String {
    match std::str::from_utf8(text) {
        Err(e) => format!("invalid UTF-8 at byte {} of the value", e.valid_up_to()),
        Ok(_) => "invalid UTF-8".into(),
    }
}

/// Shortens a value for an error message: at most `max` characters, with an ellipsis.
fn shorten(value: &str, max: usize) -> String {
    match value.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &value[..i]),
        None => value.to_string(),
    }
}

/// Parses ASCII text with Rust's `FromStr` (integers, floats).
fn parse_int<T: std::str::FromStr>(text: &[u8]) -> Result<T, String>
where
    T::Err: std::fmt::Display,
{
    let s = std::str::from_utf8(text).map_err(|_| "not ASCII".to_string())?;
    s.parse::<T>().map_err(|e| e.to_string())
}

/// Parses `[-]digits[.digits]` into the unscaled integer of a decimal(p, s), without
/// rounding: fewer than `s` fractional digits are padded, more are an error unless the
/// extra ones are zeros.
pub fn parse_decimal(text: &[u8], precision: u8, scale: i8) -> Result<i256, String> {
    let scale = scale.max(0) as usize;
    let (negative, body) = match text.first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let (int_part, frac_part) = match body.iter().position(|&b| b == b'.') {
        Some(dot) => (&body[..dot], &body[dot + 1..]),
        None => (body, &body[body.len()..]),
    };
    if int_part.is_empty() && frac_part.is_empty() {
        return Err("no digits".into());
    }
    if !int_part.iter().chain(frac_part).all(u8::is_ascii_digit) {
        return Err("expected [-]digits[.digits]".into());
    }
    let int_digits = &int_part[int_part.iter().position(|&b| b != b'0').unwrap_or(int_part.len())..];
    if int_digits.len() + scale > precision as usize {
        return Err(format!(
            "more than {} integer digits for decimal({precision},{scale})",
            precision as usize - scale.min(precision as usize)
        ));
    }
    let (kept, dropped) = frac_part.split_at(frac_part.len().min(scale));
    if dropped.iter().any(|&b| b != b'0') {
        return Err(format!("more than {scale} fractional digits (converge never rounds)"));
    }
    let ten = i256::from_i128(10);
    let mut v = i256::ZERO;
    for &d in int_digits.iter().chain(kept) {
        v = v.wrapping_mul(ten).wrapping_add(i256::from_i128((d - b'0') as i128));
    }
    for _ in kept.len()..scale {
        v = v.wrapping_mul(ten);
    }
    Ok(if negative { v.wrapping_neg() } else { v })
}

/// Reads exactly `n` ASCII digits at `at`.
fn digits(text: &[u8], at: usize, n: usize) -> Result<u32, String> {
    let part = text.get(at..at + n).ok_or("too short")?;
    part.iter().try_fold(0u32, |acc, &b| {
        if b.is_ascii_digit() {
            Ok(acc * 10 + (b - b'0') as u32)
        } else {
            Err(format!("expected a digit at position {}", at + 1))
        }
    })
}

/// Expects byte `want` at `at`.
fn expect(text: &[u8], at: usize, want: u8) -> Result<(), String> {
    if text.get(at) == Some(&want) {
        Ok(())
    } else {
        Err(format!("expected `{}` at position {}", want as char, at + 1))
    }
}

/// Days since the epoch of a `YYYY-MM-DD` prefix of `text`, checking the calendar.
fn date_days(text: &[u8]) -> Result<i64, String> {
    let y = digits(text, 0, 4)?;
    expect(text, 4, b'-')?;
    let m = digits(text, 5, 2)?;
    expect(text, 7, b'-')?;
    let d = digits(text, 8, 2)?;
    let month_days = match days_in_month(y as i64, m) {
        0 => return Err(format!("month {m} out of range")),
        n => n,
    };
    if y == 0 {
        return Err("year 0000 (a zero date) is not a date".into());
    }
    if d == 0 || d > month_days {
        return Err(format!("day {d} out of range for {y:04}-{m:02}"));
    }
    Ok(days_from_civil(y as i64, m, d))
}

/// Parses `YYYY-MM-DD` into days since 1970-01-01.
pub fn parse_date(text: &[u8]) -> Result<i32, String> {
    if text.len() != 10 {
        return Err("expected YYYY-MM-DD".into());
    }
    Ok(date_days(text)? as i32)
}

/// Parses an optional `.f{1,6}` fraction at `at` up to `end`, as microseconds.
fn fraction_micros(text: &[u8], at: usize, end: usize) -> Result<i64, String> {
    if at == end {
        return Ok(0);
    }
    expect(text, at, b'.')?;
    let n = end - at - 1;
    if n == 0 || n > 6 {
        return Err("expected 1 to 6 fractional digits".into());
    }
    let f = digits(text, at + 1, n)? as i64;
    Ok(f * 10i64.pow(6 - n as u32))
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.ffffff]Z` into microseconds since the epoch (UTC).
pub fn parse_datetime(text: &[u8]) -> Result<i64, String> {
    if text.len() < 20 || text.last() != Some(&b'Z') {
        return Err("expected YYYY-MM-DDTHH:MM:SS[.ffffff]Z".into());
    }
    let days = date_days(text)?;
    expect(text, 10, b'T')?;
    let h = digits(text, 11, 2)?;
    expect(text, 13, b':')?;
    let mi = digits(text, 14, 2)?;
    expect(text, 16, b':')?;
    let s = digits(text, 17, 2)?;
    if h > 23 || mi > 59 || s > 59 {
        return Err("time of day out of range".into());
    }
    let micros = fraction_micros(text, 19, text.len() - 1)?;
    let secs = days * 86_400 + (h * 3600 + mi * 60 + s) as i64;
    Ok(secs * 1_000_000 + micros)
}

/// Parses `[-]H:MM:SS[.ffffff]` (any number of hour digits) into signed microseconds.
pub fn parse_time(text: &[u8]) -> Result<i64, String> {
    let (negative, body) = match text.first() {
        Some(b'-') => (true, &text[1..]),
        _ => (false, text),
    };
    let colon = body.iter().position(|&b| b == b':').ok_or("expected [-]H:MM:SS[.ffffff]")?;
    if colon == 0 || colon > 12 {
        return Err("expected 1 to 12 hour digits".into());
    }
    let h = digits(body, 0, colon)? as i64;
    let m = digits(body, colon + 1, 2)?;
    expect(body, colon + 3, b':')?;
    let s = digits(body, colon + 4, 2)?;
    if m > 59 || s > 59 {
        return Err("minutes or seconds out of range".into());
    }
    let micros = fraction_micros(body, colon + 6, body.len())?;
    let v = ((h * 60 + m as i64) * 60 + s as i64) * 1_000_000 + micros;
    Ok(if negative { -v } else { v })
}

/// Decodes PostgreSQL hex (`\x` + an even number of hex digits) into `out`.
pub fn parse_hex(text: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
    let hex = text.strip_prefix(b"\\x").ok_or("expected \\x followed by hex digits")?;
    if hex.len() % 2 != 0 {
        return Err("odd number of hex digits".into());
    }
    out.clear();
    out.reserve(hex.len() / 2);
    for pair in hex.chunks_exact(2) {
        let hi = hex_digit(pair[0])?;
        let lo = hex_digit(pair[1])?;
        out.push(hi << 4 | lo);
    }
    Ok(())
}

/// The value of one hex digit.
fn hex_digit(b: u8) -> Result<u8, String> {
    match b {
        b'0'..=b'9' => Ok(b - b'0'),
        b'a'..=b'f' => Ok(b - b'a' + 10),
        b'A'..=b'F' => Ok(b - b'A' + 10),
        _ => Err("invalid hex digit".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_never_round() {
        let d = |t: &str, p, s| parse_decimal(t.as_bytes(), p, s).map(|v| v.to_string());
        assert_eq!(d("-123.4500", 10, 4).unwrap(), "-1234500");
        assert_eq!(d("-123.45", 10, 4).unwrap(), "-1234500");
        assert_eq!(d("7", 10, 4).unwrap(), "70000");
        assert_eq!(d("0.0000", 10, 4).unwrap(), "0");
        assert_eq!(d("1.23450", 10, 4).unwrap(), "12345");
        assert!(d("1.23456", 10, 4).unwrap_err().contains("never rounds"));
        assert!(d("1234567", 10, 4).unwrap_err().contains("integer digits"));
        assert!(d("1e5", 10, 4).is_err());
        assert!(d("", 10, 4).is_err());
        assert!(d("-", 10, 4).is_err());
        let big = format!("-{}.{}", "9".repeat(35), "1".repeat(30));
        assert_eq!(d(&big, 65, 30).unwrap(), format!("-{}{}", "9".repeat(35), "1".repeat(30)));
        assert!(d(&format!("1{}", "0".repeat(35)), 65, 30).is_err());
    }

    #[test]
    fn dates_and_times() {
        assert_eq!(parse_date(b"1970-01-01"), Ok(0));
        assert_eq!(parse_date(b"1969-12-31"), Ok(-1));
        assert_eq!(parse_date(b"0001-01-01"), Ok(-719_162));
        assert_eq!(parse_date(b"9999-12-31"), Ok(2_932_896));
        assert_eq!(parse_date(b"2024-02-29"), Ok(19_782));
        assert!(parse_date(b"2023-02-29").is_err());
        assert!(parse_date(b"0000-00-00").is_err());
        assert!(parse_date(b"2024-13-01").is_err());
        assert_eq!(parse_datetime(b"1970-01-01T00:00:00Z"), Ok(0));
        assert_eq!(parse_datetime(b"1969-12-31T23:59:59.999999Z"), Ok(-1));
        assert_eq!(parse_datetime(b"2024-01-15T10:30:00.123Z"), Ok(1_705_314_600_123_000));
        assert!(parse_datetime(b"2024-01-15T10:30:00").is_err());
        assert!(parse_datetime(b"2024-01-15T24:00:00Z").is_err());
        assert!(parse_datetime(b"2024-01-15T10:30:00.1234567Z").is_err());
        assert_eq!(parse_time(b"838:59:59"), Ok(3_020_399_000_000));
        assert_eq!(parse_time(b"-838:59:59"), Ok(-3_020_399_000_000));
        assert_eq!(parse_time(b"0:00:00.000001"), Ok(1));
        assert_eq!(parse_time(b"-0:00:00.5"), Ok(-500_000));
        assert!(parse_time(b"1:60:00").is_err());
        assert!(parse_time(b":00:00").is_err());
        assert!(parse_time(b"1:00").is_err());
    }

    #[test]
    fn hex() {
        let mut out = Vec::new();
        parse_hex(b"\\x00ff", &mut out).unwrap();
        assert_eq!(out, [0, 255]);
        parse_hex(b"\\x", &mut out).unwrap();
        assert!(out.is_empty());
        assert!(parse_hex(b"00ff", &mut out).is_err());
        assert!(parse_hex(b"\\x0", &mut out).is_err());
        assert!(parse_hex(b"\\xzz", &mut out).is_err());
    }
}
