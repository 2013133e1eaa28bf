//! PostgreSQL `numeric` in its binary send format, and exact decimal text, from Arrow
//! decimals, integers and floats — without heap allocation.
//!
//! A value is first turned into its decimal digits (in a stack buffer) and a scale:
//! value = digits × 10^-scale. [`put_numeric`] then regroups the digits into base-10000
//! digits aligned on the decimal point, the way `numeric_recv` reads them: int16 ndigits,
//! int16 weight (of the first base-10000 digit), int16 sign, int16 dscale, then the digits.

use std::fmt::Write as _;

use arrow::datatypes::i256;
use bytes::{BufMut, BytesMut};

const SIGN_POS: u16 = 0x0000;
const SIGN_NEG: u16 = 0x4000;
const SIGN_NAN: u16 = 0xC000;
const SIGN_PINF: u16 = 0xD000;
const SIGN_NINF: u16 = 0xF000;

/// Room for any `f64` printed in full by `Display` (at most ~330 characters).
pub const FLOAT_TEXT_CAP: usize = 400;

/// Decimal digits (ASCII) of a magnitude, in a stack buffer of `N` bytes.
pub struct Digits<const N: usize> {
    buf: [u8; N],
    start: usize,
    end: usize,
}

impl<const N: usize> Digits<N> {
    fn new() -> Self {
        Digits { buf: [0; N], start: N, end: N }
    }

    /// The digits, most significant first, without leading zeros (empty for zero).
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    fn push_front(&mut self, d: u8) {
        self.start -= 1;
        self.buf[self.start] = b'0' + d;
    }

    fn trim_leading_zeros(&mut self) {
        while self.start < self.end && self.buf[self.start] == b'0' {
            self.start += 1;
        }
    }
}

impl Digits<40> {
    /// The digits of an unsigned 128-bit magnitude.
    pub fn from_u128(mut v: u128) -> Self {
        // A u128 division is a library call; one per 19 digits, then u64 arithmetic
        // (which the compiler turns into multiplications) for the digits themselves.
        const CHUNK: u128 = 10_000_000_000_000_000_000; // 10^19
        let mut d = Digits::new();
        while v >= CHUNK {
            let mut r = (v % CHUNK) as u64;
            v /= CHUNK;
            for _ in 0..19 {
                d.push_front((r % 10) as u8);
                r /= 10;
            }
        }
        let mut r = v as u64;
        while r != 0 {
            d.push_front((r % 10) as u8);
            r /= 10;
        }
        d
    }
}

impl Digits<96> {
    /// The digits of the magnitude of an i256 (i256::MIN included).
    pub fn from_i256_abs(v: i256) -> Self {
        let bytes = v.wrapping_abs().to_le_bytes();
        let mut limbs = [0u64; 4];
        for (i, limb) in limbs.iter_mut().enumerate() {
            *limb = u64::from_le_bytes(bytes[i * 8..i * 8 + 8].try_into().expect("8 bytes"));
        }
        let mut d = Digits::new();
        const CHUNK: u64 = 10_000_000_000_000_000_000; // 10^19
        while limbs.iter().any(|&l| l != 0) {
            // Long division of the 256-bit magnitude by 10^19, most significant limb first.
            let mut rem: u128 = 0;
            for limb in limbs.iter_mut().rev() {
                let cur = (rem << 64) | *limb as u128;
                *limb = (cur / CHUNK as u128) as u64;
                rem = cur % CHUNK as u128;
            }
            let mut r = rem as u64;
            for _ in 0..19 {
                d.push_front((r % 10) as u8);
                r /= 10;
            }
        }
        d.trim_leading_zeros();
        d
    }
}

impl Digits<FLOAT_TEXT_CAP> {
    /// Parses Rust's `Display` of a finite float (`-123.45`, never an exponent):
    /// returns the digits, whether it is negative, and its scale.
    fn from_plain_decimal(text: &[u8]) -> (Self, bool, i32) {
        let mut d = Digits::new();
        let negative = text.first() == Some(&b'-');
        let body = if negative { &text[1..] } else { text };
        let mut scale = 0i32;
        let mut seen_point = false;
        // Fill left to right into the tail of the buffer, then it is already in place.
        let n = body.iter().filter(|c| c.is_ascii_digit()).count();
        d.start = FLOAT_TEXT_CAP - n;
        let mut at = d.start;
        for &c in body {
            if c == b'.' {
                seen_point = true;
            } else {
                d.buf[at] = c;
                at += 1;
                if seen_point {
                    scale += 1;
                }
            }
        }
        d.trim_leading_zeros();
        (d, negative, scale)
    }
}

/// A fixed-capacity `fmt::Write` target on the stack.
pub struct StackText<const N: usize> {
    buf: [u8; N],
    len: usize,
}

impl<const N: usize> StackText<N> {
    /// An empty buffer.
    pub fn new() -> Self {
        StackText { buf: [0; N], len: 0 }
    }

    /// What was written.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl<const N: usize> Default for StackText<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> std::fmt::Write for StackText<N> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let b = s.as_bytes();
        if self.len + b.len() > N {
            return Err(std::fmt::Error);
        }
        self.buf[self.len..self.len + b.len()].copy_from_slice(b);
        self.len += b.len();
        Ok(())
    }
}

/// Byte length of the binary numeric for `digits × 10^-scale`.
pub fn numeric_len(digits: &[u8], scale: i32) -> usize {
    8 + 2 * group_span(digits, scale).map_or(0, |(top, low)| (top - low + 1) as usize)
}

/// The base-10000 group indexes (power of 10000) of the first and last non-zero group.
fn group_span(digits: &[u8], scale: i32) -> Option<(i64, i64)> {
    let last_nz = digits.iter().rposition(|&c| c != b'0')?;
    let int_len = digits.len() as i64 - scale as i64;
    let top = (int_len - 1).div_euclid(4);
    let low = (int_len - 1 - last_nz as i64).div_euclid(4);
    Some((top, low))
}

/// Appends the binary numeric (no length prefix) for `±digits × 10^-scale`. `digits` are
/// ASCII, without leading zeros. dscale is `max(scale, 0)`.
pub fn put_numeric(out: &mut BytesMut, negative: bool, digits: &[u8], scale: i32) {
    let dscale = scale.max(0) as u16;
    let Some((top, low)) = group_span(digits, scale) else {
        out.put_u16(0);
        out.put_i16(0);
        out.put_u16(SIGN_POS);
        out.put_u16(dscale);
        return;
    };
    let int_len = digits.len() as i64 - scale as i64;
    out.put_u16((top - low + 1) as u16);
    out.put_i16(top as i16);
    out.put_u16(if negative { SIGN_NEG } else { SIGN_POS });
    out.put_u16(dscale);
    for g in (low..=top).rev() {
        let mut v = 0u16;
        for pos in (0..4).rev() {
            // Power of ten of this place, and the index of the digit that holds it.
            let e = g * 4 + pos;
            let k = int_len - 1 - e;
            let d = if k >= 0 && (k as usize) < digits.len() { digits[k as usize] - b'0' } else { 0 };
            v = v * 10 + d as u16;
        }
        out.put_u16(v);
    }
}

/// Appends a numeric special value (NaN, ±Infinity) — 8 bytes, no length prefix.
fn put_special(out: &mut BytesMut, sign: u16) {
    out.put_u16(0);
    out.put_i16(0);
    out.put_u16(sign);
    out.put_u16(0);
}

/// Appends `[len][numeric]` for an i128 unscaled value with the given scale.
pub fn put_numeric_i128(out: &mut BytesMut, v: i128, scale: i8) {
    let d = Digits::from_u128(v.unsigned_abs());
    put_with_len(out, v < 0, d.as_bytes(), scale as i32);
}

/// Appends `[len][numeric]` for an i256 unscaled value with the given scale.
pub fn put_numeric_i256(out: &mut BytesMut, v: i256, scale: i8) {
    let d = Digits::from_i256_abs(v);
    put_with_len(out, v.is_negative(), d.as_bytes(), scale as i32);
}

/// Appends `[len][numeric]` for a float, through its shortest round-trip decimal
/// (so an f32 `0.1` is numeric `0.1`); NaN and ±Infinity map to numeric's own.
pub fn put_numeric_float(out: &mut BytesMut, shortest: &[u8], value: f64) {
    if value.is_nan() {
        out.put_i32(8);
        return put_special(out, SIGN_NAN);
    }
    if value.is_infinite() {
        out.put_i32(8);
        return put_special(out, if value > 0.0 { SIGN_PINF } else { SIGN_NINF });
    }
    let (d, negative, scale) = Digits::from_plain_decimal(shortest);
    put_with_len(out, negative && !d.as_bytes().is_empty(), d.as_bytes(), scale);
}

fn put_with_len(out: &mut BytesMut, negative: bool, digits: &[u8], scale: i32) {
    out.put_i32(numeric_len(digits, scale) as i32);
    put_numeric(out, negative, digits, scale);
}

/// Writes the shortest round-trip text of a finite float without exponent into `buf`.
pub fn float_text<const N: usize>(buf: &mut StackText<N>, v: f64, is_f32: bool) {
    let _ = if is_f32 { write!(buf, "{}", v as f32) } else { write!(buf, "{v}") };
}

/// Appends the decimal text of `±digits × 10^-scale` (`-0.05`, `12.30`, `1200`).
pub fn put_decimal_text(out: &mut BytesMut, negative: bool, digits: &[u8], scale: i32) {
    if negative && !digits.is_empty() {
        out.put_u8(b'-');
    }
    if scale <= 0 {
        if digits.is_empty() {
            out.put_u8(b'0');
        } else {
            out.put_slice(digits);
            out.put_bytes(b'0', (-scale) as usize);
        }
        return;
    }
    let s = scale as usize;
    if digits.len() > s {
        out.put_slice(&digits[..digits.len() - s]);
        out.put_u8(b'.');
        out.put_slice(&digits[digits.len() - s..]);
    } else {
        out.put_slice(b"0.");
        out.put_bytes(b'0', s - digits.len());
        out.put_slice(digits);
    }
}

/// The decimal text of an i128 unscaled value (for messages and text targets).
pub fn decimal_text_i128(out: &mut BytesMut, v: i128, scale: i8) {
    let d = Digits::from_u128(v.unsigned_abs());
    put_decimal_text(out, v < 0, d.as_bytes(), scale as i32);
}

/// The decimal text of an i256 unscaled value.
pub fn decimal_text_i256(out: &mut BytesMut, v: i256, scale: i8) {
    let d = Digits::from_i256_abs(v);
    put_decimal_text(out, v.is_negative(), d.as_bytes(), scale as i32);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn num(v: i128, scale: i8) -> Vec<u8> {
        let mut out = BytesMut::new();
        put_numeric_i128(&mut out, v, scale);
        out.to_vec()
    }

    /// `[len][ndigits, weight, sign, dscale, digits…]` as bytes.
    fn expect(weight: i16, sign: u16, dscale: u16, digits: &[u16]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&((8 + 2 * digits.len()) as i32).to_be_bytes());
        v.extend_from_slice(&(digits.len() as u16).to_be_bytes());
        v.extend_from_slice(&weight.to_be_bytes());
        v.extend_from_slice(&sign.to_be_bytes());
        v.extend_from_slice(&dscale.to_be_bytes());
        for d in digits {
            v.extend_from_slice(&d.to_be_bytes());
        }
        v
    }

    #[test]
    fn known_values() {
        assert_eq!(num(0, 0), expect(0, 0, 0, &[]));
        assert_eq!(num(0, 5), expect(0, 0, 5, &[]));
        assert_eq!(num(1, 0), expect(0, 0, 0, &[1]));
        assert_eq!(num(10000, 0), expect(1, 0, 0, &[1]));
        assert_eq!(num(123456789, 0), expect(2, 0, 0, &[1, 2345, 6789]));
        // 12345.6789
        assert_eq!(num(123456789, 4), expect(1, 0, 4, &[1, 2345, 6789]));
        // -1.50
        assert_eq!(num(-150, 2), expect(0, SIGN_NEG, 2, &[1, 5000]));
        // 0.001
        assert_eq!(num(1, 3), expect(-1, 0, 3, &[10]));
        // 0.00001 → weight -2, digit 1000
        assert_eq!(num(1, 5), expect(-2, 0, 5, &[1000]));
        // 1e-30 at scale 30: 0.0000 0000 0000 0000 0000 0000 0000 01 → weight -8, digit 100
        assert_eq!(num(1, 30), expect(-8, 0, 30, &[100]));
        // 18446744073709551615
        assert_eq!(num(18446744073709551615, 0), expect(4, 0, 0, &[1844, 6744, 737, 955, 1615]));
        // negative scale: 12 × 10^3 = 12000
        assert_eq!(num(12, -3), expect(1, 0, 0, &[1, 2000]));
        // 100000000 (trailing zero groups dropped)
        assert_eq!(num(100000000, 0), expect(2, 0, 0, &[1]));
    }

    #[test]
    fn digits_of_u128_match_its_decimal_text_across_the_19_digit_chunks() {
        let chunk = 10_000_000_000_000_000_000u128;
        for v in [1, 9, 10, chunk - 1, chunk, chunk + 1, chunk * 10 + 7, chunk * chunk - 1, chunk * chunk, u128::MAX] {
            assert_eq!(Digits::from_u128(v).as_bytes(), v.to_string().as_bytes(), "{v}");
        }
        assert!(Digits::from_u128(0).as_bytes().is_empty());
    }

    #[test]
    fn i256_matches_i128() {
        for (v, s) in [(0i128, 0i8), (-1, 3), (i128::MAX, 10), (i128::MIN + 1, 30), (98765432109876543210, 30)] {
            let mut a = BytesMut::new();
            put_numeric_i256(&mut a, i256::from_i128(v), s);
            assert_eq!(a.to_vec(), num(v, s), "{v} scale {s}");
        }
        // 35 integer digits and 30 fractional digits.
        let big = i256::from_string("12345678901234567890123456789012345123456789012345678901234567890").unwrap();
        let mut t = BytesMut::new();
        decimal_text_i256(&mut t, big.wrapping_neg(), 30);
        assert_eq!(&t[..], b"-12345678901234567890123456789012345.123456789012345678901234567890");
    }

    #[test]
    fn decimal_text() {
        let t = |v: i128, s: i8| {
            let mut o = BytesMut::new();
            decimal_text_i128(&mut o, v, s);
            String::from_utf8(o.to_vec()).unwrap()
        };
        assert_eq!(t(0, 0), "0");
        assert_eq!(t(0, 2), "0.00");
        assert_eq!(t(-5, 2), "-0.05");
        assert_eq!(t(1230, 2), "12.30");
        assert_eq!(t(12, -2), "1200");
    }

    #[test]
    fn floats() {
        let f = |v: f64, is32: bool| {
            let mut text = StackText::<FLOAT_TEXT_CAP>::new();
            float_text(&mut text, v, is32);
            let mut o = BytesMut::new();
            put_numeric_float(&mut o, text.as_bytes(), v);
            o.to_vec()
        };
        assert_eq!(f(0.1, true), num(1, 1));
        assert_eq!(f(-2.5, false), num(-25, 1));
        assert_eq!(f(-0.0, false), num(0, 0));
        assert_eq!(f(1e20, false), num(100000000000000000000, 0));
        assert_eq!(f(f64::NAN, false)[4..], [0, 0, 0, 0, 0xC0, 0, 0, 0]);
        assert_eq!(f(f64::NEG_INFINITY, false)[4..], [0, 0, 0, 0, 0xF0, 0, 0, 0]);
        // The longest f64 text fits.
        let mut text = StackText::<FLOAT_TEXT_CAP>::new();
        float_text(&mut text, -f64::MIN_POSITIVE / 3.0, false);
        assert!(text.as_bytes().len() > 300);
    }
}
