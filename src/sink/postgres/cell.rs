//! One cell of a binary COPY row: `[int32 length][value in the target's send format]`,
//! read straight from a downcast Arrow array ([`Src`]), with the value-level casts
//! (0/1 → boolean, UUID text → uuid, range checks, …). Errors are reasons phrased to
//! follow "value …"; `copy.rs` adds the row, column and value.

use std::fmt::Write as _;

use arrow::datatypes::i256;
use bytes::{BufMut, BytesMut};
use postgres_protocol::types::{array_to_sql, ArrayDimension};
use postgres_protocol::IsNull;

use super::column::{put_date_text, Src};
use super::numeric::{self, StackText, FLOAT_TEXT_CAP};
use super::pgtype::PgTarget;
use super::spatial;

/// Days from 1970-01-01 to 2000-01-01 (PostgreSQL's epoch).
const PG_EPOCH_DAYS: i64 = 10_957;
const USECS_PER_DAY: i64 = 86_400_000_000;
/// PostgreSQL's date range, in days since 2000-01-01: [MIN_DATE, END_DATE).
const PG_MIN_DATE: i64 = -2_451_545;
const PG_END_DATE: i64 = 2_145_031_949;
/// PostgreSQL's timestamp range, in µs since 2000-01-01: [MIN_TIMESTAMP, END_TIMESTAMP).
const PG_MIN_TIMESTAMP: i64 = -211_813_488_000_000_000;
const PG_END_TIMESTAMP: i64 = 9_223_371_331_200_000_000;
const TEXT_OID: u32 = 25;
const VARCHAR_OID: u32 = 1043;

type Res = Result<(), String>;

fn unsupported(what: &str, target: PgTarget) -> Res {
    Err(format!("({what}) cannot be encoded as {target}"))
}

/// Appends `[length][value]` for row `i` (not NULL) of `src`, encoded for `target`
/// (`max`: the target's length in characters; for a bit target, its length in bits).
pub fn encode(src: &Src, target: PgTarget, max: Option<usize>, i: usize, out: &mut BytesMut) -> Res {
    use PgTarget as P;
    if target == P::Bit {
        return encode_bit(src, max, i, out);
    }
    match *src {
        Src::Null => {
            out.put_i32(-1);
            Ok(())
        }
        Src::Bool(a) => put_int(out, a.value(i) as i128, target),
        Src::Int(v) => encode_int(v.get(i), target, max, out),
        Src::Dec128(v, s) => match target {
            P::Numeric => {
                numeric::put_numeric_i128(out, v[i], s);
                Ok(())
            }
            P::Text => with_len(out, |out| {
                numeric::decimal_text_i128(out, v[i], s);
                Ok(())
            })
            .and_then(|n| check_ascii_len(n, max)),
            _ => put_int(out, dec128_int(v[i], s)?, target),
        },
        Src::Dec256(v, s) => match target {
            P::Numeric => {
                numeric::put_numeric_i256(out, v[i], s);
                Ok(())
            }
            P::Text => with_len(out, |out| {
                numeric::decimal_text_i256(out, v[i], s);
                Ok(())
            })
            .and_then(|n| check_ascii_len(n, max)),
            _ => put_int(out, dec256_int(v[i], s)?, target),
        },
        Src::F32(v) => put_float(out, v[i] as f64, true, target),
        Src::F64(v) => put_float(out, v[i], false, target),
        Src::Date(v) => encode_date(v[i], target, max, out),
        Src::Micros(v) => put_timestamp(out, v[i] as i128 - (PG_EPOCH_DAYS * USECS_PER_DAY) as i128),
        Src::Dur(v) => encode_duration(v[i], target, out),
        Src::Str(a) => put_str(out, a.get(i), target, max),
        Src::Bin(a) => {
            let b = a.get(i);
            match target {
                P::Bytea => put_bytes(out, b),
                P::Uuid if b.len() == 16 => put_bytes(out, b),
                P::Geometry => spatial::put_ewkb(out, b),
                _ => unsupported("binary", target),
            }
        }
    }
}

/// A bit target: from a boolean, an integer, or a non-negative whole decimal.
#[inline]
fn encode_bit(src: &Src, max: Option<usize>, i: usize, out: &mut BytesMut) -> Res {
    match *src {
        Src::Bool(a) => put_bits(out, a.value(i) as u128, max),
        Src::Int(v) => put_bits(out, v.get(i) as u64 as u128, max),
        Src::Dec128(v, 0) if v[i] >= 0 => put_bits(out, v[i] as u128, max),
        _ => Err("is not a bit string (target bit)".into()),
    }
}

/// An integer, for any target but bit.
#[inline]
fn encode_int(v: i64, target: PgTarget, max: Option<usize>, out: &mut BytesMut) -> Res {
    use PgTarget as P;
    match target {
        P::Bool if v == 0 || v == 1 => put_int(out, v as i128, target),
        P::Bool => Err("is not 0 or 1 (target boolean)".into()),
        P::Numeric => {
            numeric::put_numeric_i128(out, v as i128, 0);
            Ok(())
        }
        P::Float4 if (v as f32) as i128 == v as i128 => put_f32(out, v as f32),
        P::Float8 if (v as f64) as i128 == v as i128 => put_f64(out, v as f64),
        P::Float4 | P::Float8 => Err(format!("cannot be represented exactly as {target}")),
        P::Text => with_len(out, |out| {
            let _ = write!(out, "{v}");
            Ok(())
        })
        .and_then(|n| check_ascii_len(n, max)),
        _ => put_int(out, v as i128, target),
    }
}

/// A date (days since 1970-01-01): as a date, a timestamp at midnight, or text.
#[inline]
fn encode_date(v: i32, target: PgTarget, max: Option<usize>, out: &mut BytesMut) -> Res {
    use PgTarget as P;
    let days = v as i64 - PG_EPOCH_DAYS;
    match target {
        P::Date if (PG_MIN_DATE..PG_END_DATE).contains(&days) => {
            out.put_i32(4);
            out.put_i32(days as i32);
            Ok(())
        }
        P::Date => Err("is outside PostgreSQL's date range".into()),
        P::Timestamp | P::Timestamptz => put_timestamp(out, days as i128 * USECS_PER_DAY as i128),
        P::Text => with_len(out, |out| {
            put_date_text(out, v as i64);
            Ok(())
        })
        .and_then(|n| check_ascii_len(n, max)),
        _ => unsupported("date", target),
    }
}

/// A duration (µs): as an interval, or a time of day.
#[inline]
fn encode_duration(v: i64, target: PgTarget, out: &mut BytesMut) -> Res {
    use PgTarget as P;
    match target {
        P::Interval => {
            out.put_i32(16);
            out.put_i64(v);
            out.put_i32(0);
            out.put_i32(0);
            Ok(())
        }
        P::Time if (0..=USECS_PER_DAY).contains(&v) => {
            out.put_i32(8);
            out.put_i64(v);
            Ok(())
        }
        P::Time => Err("is outside 00:00:00..24:00:00 (target time)".into()),
        _ => unsupported("duration", target),
    }
}

/// Writes a 4-byte placeholder, runs `f`, then patches in the length `f` wrote (returned).
fn with_len(out: &mut BytesMut, f: impl FnOnce(&mut BytesMut) -> Res) -> Result<usize, String> {
    let at = out.len();
    out.put_i32(0);
    f(out)?;
    let n = out.len() - at - 4;
    let len = i32::try_from(n).map_err(|_| "is larger than 1 GB, more than PostgreSQL can hold".to_string())?;
    out[at..at + 4].copy_from_slice(&len.to_be_bytes());
    Ok(n)
}

fn check_ascii_len(n: usize, max: Option<usize>) -> Res {
    match max {
        Some(m) if n > m => Err(format!("is {n} characters long, longer than the target column's {m}")),
        _ => Ok(()),
    }
}

fn check_text(s: &str, max: Option<usize>) -> Res {
    if s.as_bytes().contains(&0) {
        return Err("contains a NUL character, which PostgreSQL text cannot hold".into());
    }
    if let Some(m) = max {
        if s.len() > m {
            let n = s.chars().count();
            if n > m {
                return Err(format!("is {n} characters long, longer than the target column's {m}"));
            }
        }
    }
    Ok(())
}

fn put_bytes(out: &mut BytesMut, b: &[u8]) -> Res {
    let len = i32::try_from(b.len()).map_err(|_| "is larger than 1 GB, more than PostgreSQL can hold".to_string())?;
    out.put_i32(len);
    out.put_slice(b);
    Ok(())
}

fn put_str(out: &mut BytesMut, s: &str, target: PgTarget, max: Option<usize>) -> Res {
    use PgTarget as P;
    match target {
        P::Text | P::Json => {
            check_text(s, max)?;
            put_bytes(out, s.as_bytes())
        }
        P::Jsonb => {
            check_text(s, max)?;
            with_len(out, |out| {
                out.put_u8(1);
                out.put_slice(s.as_bytes());
                Ok(())
            })
            .map(drop)
        }
        P::Uuid => match parse_uuid(s.as_bytes()) {
            Some(u) => put_bytes(out, &u),
            None => Err("is not a UUID (8-4-4-4-12 hexadecimal digits)".into()),
        },
        P::TextArray | P::VarcharArray => {
            check_text(s, None)?;
            let oid = if target == P::TextArray { TEXT_OID } else { VARCHAR_OID };
            with_len(out, |out| put_text_array(out, s, oid, max)).map(drop)
        }
        _ => unsupported("text", target),
    }
}

/// A comma-separated MySQL SET value as a one-dimensional `text[]` or `varchar[]` in
/// PostgreSQL's array send format (the empty set: an array of no dimensions), each
/// element checked against the target's length.
fn put_text_array(out: &mut BytesMut, s: &str, oid: u32, max: Option<usize>) -> Res {
    let dims = (!s.is_empty()).then(|| ArrayDimension { len: s.split(',').count() as i32, lower_bound: 1 });
    let elements = (!s.is_empty()).then(|| s.split(',')).into_iter().flatten();
    let element = |e: &str, out: &mut BytesMut| {
        check_text(e, max).map_err(|r| format!("has an element that {}", r.trim_start_matches("is ")))?;
        out.put_slice(e.as_bytes());
        Ok(IsNull::No)
    };
    array_to_sql(dims, oid, elements, element, out).map_err(|e| e.to_string())
}

fn parse_uuid(s: &[u8]) -> Option<[u8; 16]> {
    if s.len() != 36 {
        return None;
    }
    let mut out = [0u8; 16];
    let mut n = 0;
    let mut k = 0;
    while k < 36 {
        if matches!(k, 8 | 13 | 18 | 23) {
            if s[k] != b'-' {
                return None;
            }
            k += 1;
            continue;
        }
        let hi = (s[k] as char).to_digit(16)?;
        let lo = (s[k + 1] as char).to_digit(16)?;
        out[n] = (hi * 16 + lo) as u8;
        n += 1;
        k += 2;
    }
    Some(out)
}

/// A MySQL bit(n) value (its integer) as PostgreSQL's bit string of `bits` bits: int32
/// bit length, then the bits most significant first, left-aligned in whole bytes.
fn put_bits(out: &mut BytesMut, v: u128, bits: Option<usize>) -> Res {
    let n = bits.unwrap_or(64).min(128);
    if n < 128 && v >> n != 0 {
        return Err(format!("does not fit bit({n})"));
    }
    let bytes = n.div_ceil(8);
    let aligned = if n == 0 { 0 } else { v << (bytes * 8 - n) };
    out.put_i32(4 + bytes as i32);
    out.put_i32(n as i32);
    for k in (0..bytes).rev() {
        out.put_u8((aligned >> (8 * k)) as u8);
    }
    Ok(())
}

/// Integer (already exact) for bool/int2/int4/int8, with range checks.
fn put_int(out: &mut BytesMut, v: i128, target: PgTarget) -> Res {
    let range = || format!("does not fit {target}");
    match target {
        PgTarget::Bool => {
            out.put_i32(1);
            out.put_u8((v != 0) as u8);
        }
        PgTarget::Int2 => {
            out.put_i32(2);
            out.put_i16(i16::try_from(v).map_err(|_| range())?);
        }
        PgTarget::Int4 => {
            out.put_i32(4);
            out.put_i32(i32::try_from(v).map_err(|_| range())?);
        }
        PgTarget::Int8 => {
            out.put_i32(8);
            out.put_i64(i64::try_from(v).map_err(|_| range())?);
        }
        _ => return unsupported("integer", target),
    }
    Ok(())
}

const FRACTION: &str = "has a fractional part (target integer)";

fn dec128_int(v: i128, s: i8) -> Result<i128, String> {
    if s > 0 {
        match 10i128.checked_pow(s as u32) {
            Some(p) if v % p == 0 => Ok(v / p),
            None if v == 0 => Ok(0),
            _ => Err(FRACTION.into()),
        }
    } else {
        10i128.checked_pow((-s) as u32).and_then(|p| v.checked_mul(p)).ok_or_else(|| "is out of range".into())
    }
}

fn dec256_int(v: i256, s: i8) -> Result<i128, String> {
    let ten = i256::from_i128(10);
    let scaled = if s > 0 {
        match ten.checked_pow(s as u32) {
            Some(p) if v.wrapping_rem(p) == i256::ZERO => v.wrapping_div(p),
            None if v == i256::ZERO => i256::ZERO,
            _ => return Err(FRACTION.into()),
        }
    } else {
        ten.checked_pow((-s) as u32).and_then(|p| v.checked_mul(p)).ok_or("is out of range")?
    };
    scaled.to_i128().ok_or_else(|| "is out of range".into())
}

fn put_f32(out: &mut BytesMut, v: f32) -> Res {
    out.put_i32(4);
    out.put_f32(v);
    Ok(())
}

/// Whether a FLOAT's own value differs from the double its shortest decimal text reads
/// as (0.1f is 0.100000001490116…, its text `0.1`): the two readings of a FLOAT in a
/// double precision column.
pub fn float_text_differs(v: f32) -> bool {
    if !v.is_finite() {
        return false;
    }
    let mut text = StackText::<64>::new();
    numeric::float_text(&mut text, v as f64, true);
    let parsed = std::str::from_utf8(text.as_bytes()).ok().and_then(|t| t.parse::<f64>().ok());
    parsed.is_some_and(|d| d != v as f64)
}

fn put_f64(out: &mut BytesMut, v: f64) -> Res {
    out.put_i32(8);
    out.put_f64(v);
    Ok(())
}

/// Floats: an f32 bound for double precision arrives as its own value (MySQL's `float`
/// 0.1 is 0.100000001490116…, the number MySQL computes and compares with; the values
/// whose shortest decimal text reads otherwise are counted, [`float_text_differs`]); one
/// bound for numeric goes through its shortest decimal text (0.1).
fn put_float(out: &mut BytesMut, v: f64, is_f32: bool, target: PgTarget) -> Res {
    match target {
        PgTarget::Float4 => put_f32(out, v as f32),
        PgTarget::Float8 => put_f64(out, v),
        PgTarget::Numeric => {
            let mut text = StackText::<FLOAT_TEXT_CAP>::new();
            if v.is_finite() {
                numeric::float_text(&mut text, v, is_f32);
            }
            numeric::put_numeric_float(out, text.as_bytes(), v);
            Ok(())
        }
        _ => unsupported("float", target),
    }
}

/// µs since 2000-01-01 (as i128 so no input overflows) → timestamp/timestamptz.
fn put_timestamp(out: &mut BytesMut, pg_micros: i128) -> Res {
    if !(PG_MIN_TIMESTAMP as i128..PG_END_TIMESTAMP as i128).contains(&pg_micros) {
        return Err("is outside PostgreSQL's timestamp range".into());
    }
    out.put_i32(8);
    out.put_i64(pg_micros as i64);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_text_and_decimal_to_int() {
        let u = parse_uuid(b"A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11").unwrap();
        assert_eq!(u[0], 0xa0);
        assert_eq!(u[15], 0x11);
        assert!(parse_uuid(b"").is_none());
        assert!(parse_uuid(b"a0eebc99x9c0b-4ef8-bb6d-6bb9bd380a11").is_none());
        assert!(parse_uuid(b"g0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11").is_none());
        assert_eq!(dec128_int(1500, 2), Ok(15));
        assert!(dec128_int(1501, 2).is_err());
        assert_eq!(dec128_int(0, 60), Ok(0));
        assert_eq!(dec256_int(i256::from_i128(-7), 0), Ok(-7));
        assert_eq!(dec256_int(i256::from_i128(-700), 2), Ok(-7));
    }
}
