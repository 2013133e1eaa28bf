//! Parsing the text MySQL prints for decimals, dates and times (dump literals, the
//! binary protocol's decimal strings) without rounding anything.

use arrow::datatypes::i256;

/// A parsed decimal, small or wide.
pub(crate) enum I256OrI128 {
    /// Fits i128 (precision ≤ 38).
    Small(i128),
    /// Needs i256.
    Big(i256),
}

/// Parses MySQL's decimal text (`-123.4500`) into an integer scaled by `s`.
/// Fails rather than round when the text has more fractional digits than `s`.
pub(crate) fn parse_decimal(text: &[u8], p: u8, s: i8) -> Option<I256OrI128> {
    let (neg, digits) = match text.first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let (int_part, frac_part) = match digits.iter().position(|&c| c == b'.') {
        Some(dot) => (&digits[..dot], &digits[dot + 1..]),
        None => (digits, &digits[..0]),
    };
    let s = s as usize;
    if int_part.is_empty() && frac_part.is_empty() {
        return None;
    }
    if frac_part.len() > s && frac_part[s..].iter().any(|&c| c != b'0') {
        return None;
    }
    let mut all: Vec<u8> = Vec::with_capacity(int_part.len() + s);
    all.extend_from_slice(int_part);
    for i in 0..s {
        all.push(*frac_part.get(i).unwrap_or(&b'0'));
    }
    if !all.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let significant = all.iter().skip_while(|&&c| c == b'0').count();
    if significant > p as usize {
        return None;
    }
    if p <= 38 {
        let mut v: i128 = 0;
        for c in &all {
            v = v * 10 + (c - b'0') as i128;
        }
        Some(I256OrI128::Small(if neg { -v } else { v }))
    } else {
        let ten = i256::from_i128(10);
        let mut v = i256::ZERO;
        for c in &all {
            v = v.wrapping_mul(ten).wrapping_add(i256::from_i128((c - b'0') as i128));
        }
        Some(I256OrI128::Big(if neg { v.wrapping_neg() } else { v }))
    }
}

fn digits(b: &[u8]) -> Option<i64> {
    if b.is_empty() || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(b.iter().fold(0i64, |acc, &c| acc * 10 + (c - b'0') as i64))
}

fn micros_of(frac: &[u8]) -> Option<i64> {
    if frac.len() > 6 || !frac.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut v = digits(frac).unwrap_or(0);
    for _ in frac.len()..6 {
        v *= 10;
    }
    Some(v)
}

/// Parses `YYYY-MM-DD[ HH:MM:SS[.ffffff]]`.
pub(crate) fn parse_datetime(b: &[u8]) -> Option<(i64, u32, u32, i64, i64, i64, i64)> {
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let y = digits(&b[0..4])?;
    let mo = digits(&b[5..7])? as u32;
    let d = digits(&b[8..10])? as u32;
    if b.len() == 10 {
        return Some((y, mo, d, 0, 0, 0, 0));
    }
    if b.len() < 19 || !(b[10] == b' ' || b[10] == b'T') || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let h = digits(&b[11..13])?;
    let mi = digits(&b[14..16])?;
    let s = digits(&b[17..19])?;
    let us = match b.get(19) {
        None => 0,
        Some(b'.') => micros_of(&b[20..])?,
        Some(_) => return None,
    };
    Some((y, mo, d, h, mi, s, us))
}

/// Parses MySQL TIME text `[-]H+:MM:SS[.ffffff]` into signed microseconds.
pub(crate) fn parse_time(b: &[u8]) -> Option<i64> {
    let (neg, rest) = match b.first()? {
        b'-' => (true, &b[1..]),
        _ => (false, b),
    };
    let c1 = rest.iter().position(|&c| c == b':')?;
    let h = digits(&rest[..c1])?;
    let rest = &rest[c1 + 1..];
    if rest.len() < 5 || rest[2] != b':' {
        return None;
    }
    let m = digits(&rest[0..2])?;
    let s = digits(&rest[3..5])?;
    let us = match rest.get(5) {
        None => 0,
        Some(b'.') => micros_of(&rest[6..])?,
        Some(_) => return None,
    };
    let v = (h * 3600 + m * 60 + s) * 1_000_000 + us;
    Some(if neg { -v } else { v })
}
