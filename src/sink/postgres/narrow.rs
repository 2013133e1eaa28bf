//! Values a target column's type modifier would change without an error: PostgreSQL
//! rounds a decimal to `numeric(p,s)`'s scale, a timestamp to `timestamp(n)`'s
//! fractional digits, truncates an interval to its fields, pads a short value to
//! `char(n)`. Each such value is found here, before it is sent, so the load can refuse
//! it (naming the row) or, where a `[[column]]` rule allows it, count it. Values past
//! the type's range (`numeric(8,2)` holding 10⁶) are refused: PostgreSQL would reject
//! them, and saying so here names the row and the value.
//!
//! See `docs/architecture.md` ("No silent change").

use std::fmt;

use bytes::BytesMut;

use super::column::{duration_text, micros_text, render, Src};
use super::numeric::{self, Digits, StackText, FLOAT_TEXT_CAP};
use super::pgtype::Limit;
use super::spatial;

/// What the target would make of one value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// It arrives as it is.
    Same,
    /// It would arrive changed: what it would become (as text), or why.
    Changed(String),
    /// It cannot arrive: why (phrased to follow "value …").
    Refused(String),
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Limit::None => f.write_str("no limit"),
            Limit::Numeric { precision, scale } => write!(f, "numeric({precision},{scale})"),
            Limit::Granule { micros, truncates: false } => {
                write!(f, "{} fractional digits of a second", 6 - micros.ilog10())
            }
            Limit::Granule { truncates: true, .. } => f.write_str("an interval restricted to some fields"),
            Limit::Padded(n) => write!(f, "char({n})"),
            Limit::Spatial(s) => write!(f, "{s}"),
        }
    }
}

const POW10: [i128; 39] = {
    let mut t = [1i128; 39];
    let mut i = 1;
    while i < 39 {
        t[i] = t[i - 1] * 10;
        i += 1;
    }
    t
};

fn pow10(e: i32) -> Option<i128> {
    usize::try_from(e).ok().and_then(|e| POW10.get(e).copied())
}

/// Row `i` of `src` (not NULL) against `limit`.
pub fn check(src: &Src, limit: Limit, i: usize) -> Verdict {
    match (limit, *src) {
        (Limit::None, _) => Verdict::Same,
        (Limit::Numeric { precision, scale }, Src::Int(v)) => decimal(v.get(i) as i128, 0, precision, scale),
        (Limit::Numeric { precision, scale }, Src::Dec128(v, s)) => decimal(v[i], s as i32, precision, scale),
        (Limit::Numeric { precision, scale }, Src::Dec256(v, s)) => match v[i].to_i128() {
            Some(x) => decimal(x, s as i32, precision, scale),
            None => {
                let d = Digits::from_i256_abs(v[i]);
                digits(d.as_bytes(), s as i32, precision, scale)
            }
        },
        (Limit::Numeric { precision, scale }, Src::F32(v)) => float(v[i] as f64, true, precision, scale),
        (Limit::Numeric { precision, scale }, Src::F64(v)) => float(v[i], false, precision, scale),
        (Limit::Granule { micros, truncates }, Src::Micros(v)) => {
            granule(v[i], micros, truncates).map_or(Verdict::Same, |to| Verdict::Changed(micros_text(to)))
        }
        (Limit::Granule { micros, truncates }, Src::Dur(v)) => {
            granule(v[i], micros, truncates).map_or(Verdict::Same, |to| Verdict::Changed(duration_text(to)))
        }
        (Limit::Padded(n), Src::Str(a)) => padded(a.get(i), n),
        (Limit::Padded(n), other) => {
            let text = render(&other, i);
            padded(&text, n)
        }
        (Limit::Spatial(s), Src::Bin(a)) => match spatial::check(a.get(i), s) {
            Ok(None) => Verdict::Same,
            Ok(Some(to)) => Verdict::Changed(to),
            Err(why) => Verdict::Refused(why),
        },
        _ => Verdict::Same,
    }
}

/// `v × 10^-s` into `numeric(p, ts)`: rounded half away from zero to `ts` digits, as
/// PostgreSQL does, then at most `p` digits in all.
fn decimal(v: i128, s: i32, p: u16, ts: i16) -> Verdict {
    let drop = s - ts as i32;
    let (kept, changed) = if drop > 0 {
        match pow10(drop) {
            Some(m) => {
                let (q, r) = (v / m, v % m);
                let up = r != 0 && r.unsigned_abs() >= m.unsigned_abs().div_ceil(2);
                (q + if up { v.signum() } else { 0 }, r != 0)
            }
            // More digits dropped than an i128 has: it rounds to zero.
            None => (0, v != 0),
        }
    } else {
        match pow10(-drop).and_then(|m| v.checked_mul(m)) {
            Some(k) => (k, false),
            None if p > 38 => return Verdict::Same,
            None => return Verdict::Refused(overflow(p, ts)),
        }
    };
    if pow10(p as i32).is_some_and(|bound| kept.unsigned_abs() >= bound.unsigned_abs()) {
        return Verdict::Refused(overflow(p, ts));
    }
    if !changed {
        return Verdict::Same;
    }
    let mut out = BytesMut::new();
    let d = Digits::from_u128(kept.unsigned_abs());
    numeric::put_decimal_text(&mut out, kept < 0, d.as_bytes(), ts as i32);
    Verdict::Changed(String::from_utf8_lossy(&out).into_owned())
}

fn overflow(p: u16, ts: i16) -> String {
    format!("does not fit numeric({p},{ts}): it keeps at most {} digits before the point", p as i32 - ts as i32)
}

/// The same question from decimal digits (a magnitude too large for i128): which
/// digits fall past the scale, and how many come before the point.
fn digits(d: &[u8], s: i32, p: u16, ts: i16) -> Verdict {
    let int_digits = d.len() as i32 - s;
    if int_digits > p as i32 - ts as i32 {
        return Verdict::Refused(overflow(p, ts));
    }
    let dropped = (s - ts as i32).max(0) as usize;
    let tail = &d[d.len().saturating_sub(dropped)..];
    if tail.iter().any(|&c| c != b'0') {
        return Verdict::Changed(format!("the value rounded to {ts} digits after the point"));
    }
    Verdict::Same
}

/// A float into `numeric(p, ts)`, through the shortest decimal text the load sends.
fn float(v: f64, is_f32: bool, p: u16, ts: i16) -> Verdict {
    if v.is_nan() {
        return Verdict::Same;
    }
    if v.is_infinite() {
        return Verdict::Refused(format!("is infinite, which numeric({p},{ts}) cannot hold"));
    }
    let mut text = StackText::<FLOAT_TEXT_CAP>::new();
    numeric::float_text(&mut text, v, is_f32);
    let t = std::str::from_utf8(text.as_bytes()).unwrap_or("");
    let body = t.trim_start_matches('-');
    let (int, frac) = body.split_once('.').unwrap_or((body, ""));
    let digits: String = format!("{}{frac}", int.trim_start_matches('0'));
    match self::digits(digits.as_bytes(), frac.len() as i32, p, ts) {
        Verdict::Changed(_) => Verdict::Changed(format!("{t} rounded to {ts} digits after the point")),
        v => v,
    }
}

/// µs `v` kept as a multiple of `m`: `None` when it already is, else what it becomes.
fn granule(v: i64, m: i64, truncates: bool) -> Option<i64> {
    let r = v % m;
    if r == 0 {
        return None;
    }
    let q = v / m;
    let up = !truncates && r.unsigned_abs() >= (m as u64).div_ceil(2);
    Some(q.saturating_add(if up { v.signum() } else { 0 }).saturating_mul(m))
}

fn padded(s: &str, n: usize) -> Verdict {
    if s.len() >= n && s.chars().count() >= n {
        return Verdict::Same;
    }
    let pad = n - s.chars().count();
    Verdict::Changed(format!("'{s}{}' (padded with {pad} spaces)", " ".repeat(pad)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn changed(v: Verdict) -> String {
        match v {
            Verdict::Changed(t) => t,
            other => panic!("expected a change, got {other:?}"),
        }
    }

    #[test]
    fn decimals_round_half_away_from_zero_and_overflow_is_refused() {
        assert_eq!(changed(decimal(12349, 4, 8, 2)), "1.23");
        assert_eq!(changed(decimal(-50, 4, 8, 2)), "-0.01");
        assert_eq!(changed(decimal(12350, 4, 8, 2)), "1.24");
        assert_eq!(changed(decimal(-12350, 4, 8, 2)), "-1.24");
        assert_eq!(decimal(12300, 4, 8, 2), Verdict::Same);
        assert_eq!(decimal(99_999_999, 2, 8, 2), Verdict::Same);
        assert!(matches!(decimal(100_000_000, 2, 8, 2), Verdict::Refused(_)));
        // Rounding up may overflow: 999999.995 → 1000000.00.
        assert!(matches!(decimal(999_999_995, 3, 8, 2), Verdict::Refused(_)));
        // A smaller source scale is exact; a negative target scale rounds to hundreds.
        assert_eq!(decimal(5, 0, 10, 4), Verdict::Same);
        assert_eq!(changed(decimal(1250, 0, 5, -2)), "1300");
        assert_eq!(decimal(i128::MAX, 0, 38, 0), Verdict::Refused(overflow(38, 0)));
        assert_eq!(decimal(i128::MAX, 0, 39, 0), Verdict::Same);
    }

    #[test]
    fn wide_decimals_and_floats() {
        assert_eq!(digits(b"123456", 2, 6, 2), Verdict::Same);
        assert!(matches!(digits(b"123456", 3, 6, 2), Verdict::Changed(_)));
        assert!(matches!(digits(b"123456", 1, 6, 2), Verdict::Refused(_)));
        assert_eq!(float(0.25, false, 10, 2), Verdict::Same);
        assert!(matches!(float(0.125, false, 10, 2), Verdict::Changed(_)));
        assert!(matches!(float(1e9, false, 10, 2), Verdict::Refused(_)));
        assert!(matches!(float(f64::INFINITY, false, 10, 2), Verdict::Refused(_)));
        assert_eq!(float(f64::NAN, false, 10, 2), Verdict::Same);
    }

    #[test]
    fn time_granules() {
        assert_eq!(granule(1_500_000, 1_000_000, false), Some(2_000_000));
        assert_eq!(granule(-1_500_000, 1_000_000, false), Some(-2_000_000));
        assert_eq!(granule(1_499_999, 1_000_000, false), Some(1_000_000));
        assert_eq!(granule(2_000_000, 1_000_000, false), None);
        assert_eq!(granule(90_000_000, 60_000_000, true), Some(60_000_000));
        assert_eq!(granule(5, i64::MAX, true), Some(0));
        assert_eq!(Limit::from_typmod("timestamp", 3), Limit::Granule { micros: 1000, truncates: false });
        assert_eq!(Limit::from_typmod("timestamp", 6), Limit::None);
        assert_eq!(Limit::from_typmod("timestamp", -1), Limit::None);
    }

    #[test]
    fn padding_counts_characters() {
        assert_eq!(padded("abcd", 4), Verdict::Same);
        assert_eq!(padded("äöüß", 4), Verdict::Same);
        assert_eq!(changed(padded("ab", 4)), "'ab  ' (padded with 2 spaces)");
    }
}
