//! One parser per type for the text a value arrives as: what MySQL prints (dump
//! literals, the protocols' decimal strings) and what converge's CSV sink writes. Each
//! parser is exact: it never rounds, pads only where the type says (a decimal's missing
//! fractional digits), and says why it refuses (docs/architecture.md, "Decoding").
//!
//! The reasons are noun phrases ("more than 2 fractional digits …"); the decoder's
//! caller puts them in its own words with the place (file and line, or table and key).

use std::borrow::Cow;

use arrow::datatypes::i256;

use crate::calendar::{days_from_civil, days_in_month};

/// Why a text was refused.
pub(crate) type Why = Cow<'static, str>;

/// A decimal's unscaled integer: i128 up to precision 38, i256 beyond.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unscaled {
    /// Precision ≤ 38.
    Small(i128),
    /// Precision > 38.
    Big(i256),
}

impl Unscaled {
    /// The value as i256.
    pub(crate) fn wide(self) -> i256 {
        match self {
            Unscaled::Small(v) => i256::from_i128(v),
            Unscaled::Big(v) => v,
        }
    }
}

/// Parses ASCII text with Rust's `FromStr` (integers, floats).
pub(crate) fn parse_number<T: std::str::FromStr>(text: &[u8]) -> Result<T, Why>
where
    T::Err: std::fmt::Display,
{
    let s = std::str::from_utf8(text).map_err(|_| Why::from("not ASCII"))?;
    s.parse::<T>().map_err(|e| e.to_string().into())
}

/// Parses `[-]digits[.digits]` into the unscaled integer of a decimal(p, s), without
/// rounding: fewer than `s` fractional digits are padded, more are refused unless the
/// extra ones are zeros.
pub(crate) fn parse_decimal(text: &[u8], precision: u8, scale: i8) -> Result<Unscaled, Why> {
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
        )
        .into());
    }
    let (kept, dropped) = frac_part.split_at(frac_part.len().min(scale));
    if dropped.iter().any(|&b| b != b'0') {
        return Err(format!("more than {scale} fractional digits (converge never rounds)").into());
    }
    let digits = int_digits.iter().chain(kept).map(|&d| (d - b'0') as i128);
    if precision <= 38 {
        let mut v = digits.fold(0i128, |v, d| v * 10 + d);
        v *= 10i128.pow((scale - kept.len()) as u32);
        return Ok(Unscaled::Small(if negative { -v } else { v }));
    }
    let ten = i256::from_i128(10);
    let mut v = digits.fold(i256::ZERO, |v, d| v.wrapping_mul(ten).wrapping_add(i256::from_i128(d)));
    for _ in kept.len()..scale {
        v = v.wrapping_mul(ten);
    }
    Ok(Unscaled::Big(if negative { v.wrapping_neg() } else { v }))
}

/// Reads exactly `n` ASCII digits at `at`.
fn digits(text: &[u8], at: usize, n: usize) -> Result<u32, Why> {
    let part = text.get(at..at + n).ok_or(Why::from("too short"))?;
    part.iter().try_fold(0u32, |acc, &b| {
        if b.is_ascii_digit() {
            Ok(acc * 10 + (b - b'0') as u32)
        } else {
            Err(format!("expected a digit at position {}", at + 1).into())
        }
    })
}

/// Expects byte `want` at `at`.
fn expect(text: &[u8], at: usize, want: u8) -> Result<(), Why> {
    if text.get(at) == Some(&want) {
        Ok(())
    } else {
        Err(format!("expected `{}` at position {}", want as char, at + 1).into())
    }
}

/// A date and time of day as written, before the calendar is checked (MySQL's zero
/// dates have zero parts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Parts {
    pub(crate) year: u32,
    pub(crate) month: u32,
    pub(crate) day: u32,
    pub(crate) hour: u32,
    pub(crate) minute: u32,
    pub(crate) second: u32,
    pub(crate) micro: u32,
}

impl Parts {
    /// A zero date (`0000-00-00`, or a zero year, month or day).
    pub(crate) fn is_zero(&self) -> bool {
        self.year == 0 || self.month == 0 || self.day == 0
    }

    /// Days since 1970-01-01, checking the calendar.
    pub(crate) fn days(&self) -> Result<i64, Why> {
        let Parts { year: y, month: m, day: d, .. } = *self;
        let month_days = match days_in_month(y as i64, m) {
            0 => return Err(format!("month {m} out of range").into()),
            n => n,
        };
        if y == 0 {
            return Err("year 0000 (a zero date) is not a date".into());
        }
        if d == 0 || d > month_days {
            return Err(format!("day {d} out of range for {y:04}-{m:02}").into());
        }
        Ok(days_from_civil(y as i64, m, d))
    }

    /// Microseconds since the epoch (UTC), checking the calendar and the time of day.
    pub(crate) fn micros(&self) -> Result<i64, Why> {
        let days = self.days()?;
        if self.hour > 23 || self.minute > 59 || self.second > 59 {
            return Err("time of day out of range".into());
        }
        let secs = days * 86_400 + (self.hour * 3600 + self.minute * 60 + self.second) as i64;
        Ok(secs * 1_000_000 + self.micro as i64)
    }
}

/// Parses an optional `.f{1,6}` fraction at `at` up to `end`, as microseconds.
fn fraction_micros(text: &[u8], at: usize, end: usize) -> Result<u32, Why> {
    if at == end {
        return Ok(0);
    }
    expect(text, at, b'.')?;
    let n = end - at - 1;
    if n == 0 || n > 6 {
        return Err("expected 1 to 6 fractional digits".into());
    }
    Ok(digits(text, at + 1, n)? * 10u32.pow(6 - n as u32))
}

/// How a date and time is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Form {
    /// MySQL's `YYYY-MM-DD[ HH:MM:SS[.ffffff]]` (a `T` is taken for the space).
    MySql,
    /// The export's `YYYY-MM-DD` for a date, `YYYY-MM-DDTHH:MM:SS[.ffffff]Z` otherwise.
    ExportDate,
    /// See [`Form::ExportDate`].
    ExportInstant,
}

/// Parses a date, or a date and time, written in `form`, into its parts.
pub(crate) fn parse_date_time(text: &[u8], form: Form) -> Result<Parts, Why> {
    let body = match form {
        Form::ExportDate if text.len() != 10 => return Err("expected YYYY-MM-DD".into()),
        Form::ExportInstant if text.len() < 20 || text.last() != Some(&b'Z') || text.get(10) != Some(&b'T') => {
            return Err("expected YYYY-MM-DDTHH:MM:SS[.ffffff]Z".into())
        }
        Form::ExportInstant => &text[..text.len() - 1],
        _ => text,
    };
    let year = digits(body, 0, 4)?;
    expect(body, 4, b'-')?;
    let month = digits(body, 5, 2)?;
    expect(body, 7, b'-')?;
    let day = digits(body, 8, 2)?;
    let mut p = Parts { year, month, day, hour: 0, minute: 0, second: 0, micro: 0 };
    if body.len() == 10 {
        return Ok(p);
    }
    if !matches!(body.get(10), Some(b' ' | b'T')) {
        return Err("expected a space or `T` at position 11".into());
    }
    p.hour = digits(body, 11, 2)?;
    expect(body, 13, b':')?;
    p.minute = digits(body, 14, 2)?;
    expect(body, 16, b':')?;
    p.second = digits(body, 17, 2)?;
    p.micro = fraction_micros(body, 19, body.len())?;
    Ok(p)
}

/// Parses `YYYY-MM-DD` into days since 1970-01-01.
#[cfg(test)]
fn parse_date(text: &[u8]) -> Result<i32, Why> {
    Ok(parse_date_time(text, Form::ExportDate)?.days()? as i32)
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.ffffff]Z` into microseconds since the epoch (UTC).
#[cfg(test)]
fn parse_datetime(text: &[u8]) -> Result<i64, Why> {
    parse_date_time(text, Form::ExportInstant)?.micros()
}

/// Parses `[-]H:MM:SS[.ffffff]` (1 to 12 hour digits; MySQL's TIME and the export's)
/// into signed microseconds.
pub(crate) fn parse_time(text: &[u8]) -> Result<i64, Why> {
    let (negative, body) = match text.first() {
        Some(b'-') => (true, &text[1..]),
        _ => (false, text),
    };
    let colon = body.iter().position(|&b| b == b':').ok_or(Why::from("expected [-]H:MM:SS[.ffffff]"))?;
    if colon == 0 || colon > 12 {
        return Err("expected 1 to 12 hour digits".into());
    }
    let h = body[..colon]
        .iter()
        .try_fold(0i64, |acc, &b| b.is_ascii_digit().then(|| acc * 10 + (b - b'0') as i64))
        .ok_or(Why::from("expected a digit in the hours"))?;
    let m = digits(body, colon + 1, 2)?;
    expect(body, colon + 3, b':')?;
    let s = digits(body, colon + 4, 2)?;
    if m > 59 || s > 59 {
        return Err("minutes or seconds out of range".into());
    }
    let micros = fraction_micros(body, colon + 6, body.len())? as i64;
    let v = ((h * 60 + m as i64) * 60 + s as i64) * 1_000_000 + micros;
    Ok(if negative { -v } else { v })
}

/// Decodes PostgreSQL hex (`\x` + an even number of hex digits) into `out`.
pub(crate) fn parse_hex(text: &[u8], out: &mut Vec<u8>) -> Result<(), Why> {
    let hex = text.strip_prefix(b"\\x").ok_or(Why::from("expected \\x followed by hex digits"))?;
    if hex.len() % 2 != 0 {
        return Err("odd number of hex digits".into());
    }
    out.clear();
    out.reserve(hex.len() / 2);
    for pair in hex.chunks_exact(2) {
        out.push(hex_digit(pair[0])? << 4 | hex_digit(pair[1])?);
    }
    Ok(())
}

/// The value of one hex digit.
fn hex_digit(b: u8) -> Result<u8, Why> {
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
        let d = |t: &str, p, s| parse_decimal(t.as_bytes(), p, s).map(|v| v.wide().to_string());
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
        // The widest i128 decimal keeps every digit.
        let max38 = "9".repeat(38);
        assert_eq!(d(&max38, 38, 0).unwrap(), max38);
        assert_eq!(d(&format!("-0.{}", "9".repeat(38)), 38, 38).unwrap(), format!("-{}", "9".repeat(38)));
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
        // MySQL's form: a space, no zone; zero dates parse, for the zero-date rule to judge.
        let p = parse_date_time(b"2024-01-15 10:30:00.5", Form::MySql).unwrap();
        assert_eq!(p.micros(), Ok(1_705_314_600_500_000));
        assert!(parse_date_time(b"0000-00-00 00:00:00", Form::MySql).unwrap().is_zero());
        assert!(parse_date_time(b"2024-01-15 10:30:00Z", Form::MySql).is_err());
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
