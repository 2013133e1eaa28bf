//! JSON by meaning, the way `verify` compares a MySQL `json` column with a PostgreSQL
//! `jsonb` one (docs/architecture.md, "Verification"): object keys sorted (the last of
//! duplicate keys kept, as `jsonb` keeps it), no insignificant whitespace, strings with
//! their escapes resolved (`\u00e9` is `é`, a surrogate pair is its character) and
//! written back one way, and numbers as exact decimals (`1.50` = `1.5` = `15e-1`, but
//! `12345678901234567891` ≠ `12345678901234567890`: no number goes through a double).
//!
//! [`JsonCanon`] writes the form into buffers it keeps from value to value, so a pass
//! over millions of rows allocates nothing per value. Text that is not JSON comes out as
//! `raw:` and the text itself, so it can only equal the same broken text.
//!
//! Of duplicate keys the last counts, as in `jsonb` and MySQL 8; [`JsonCanon::canonical_by`]
//! keeps the first instead, as MariaDB's JSON functions read a text JSON value.

/// Nesting deeper than this is not canonicalised (the text is compared as it is).
const MAX_DEPTH: usize = 512;

/// The canonicaliser and the buffers it reuses.
#[derive(Debug, Default)]
pub struct JsonCanon {
    out: Vec<u8>,
    scratch: Vec<u8>,
    /// Members of the objects being read: (key start, key end = value start, value end) in `out`.
    members: Vec<(usize, usize, usize)>,
    digits: Vec<u8>,
    /// Of duplicate keys, the first counts (MariaDB's reading), not the last.
    first: bool,
}

/// The input and the position in it.
struct Input<'a> {
    b: &'a [u8],
    i: usize,
}

impl Input<'_> {
    fn ws(&mut self) {
        while matches!(self.b.get(self.i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn eat(&mut self, c: u8) -> Option<()> {
        (self.peek()? == c).then(|| self.i += 1)
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        self.b[self.i..].starts_with(word).then(|| self.i += word.len())
    }
}

impl JsonCanon {
    /// The canonical form of `text` (valid UTF-8: it came from a `&str`).
    pub fn canonical(&mut self, text: &str) -> &[u8] {
        self.canonical_by(text, false)
    }

    /// The canonical form of `text`, the first of duplicate keys counting when `first`.
    pub fn canonical_by(&mut self, text: &str, first: bool) -> &[u8] {
        self.first = first;
        self.out.clear();
        self.members.clear();
        let mut input = Input { b: text.as_bytes(), i: 0 };
        input.ws();
        let ok = self.value(&mut input, 0).is_some() && {
            input.ws();
            input.i == input.b.len()
        };
        if !ok {
            self.out.clear();
            self.out.extend_from_slice(b"raw:");
            self.out.extend_from_slice(text.as_bytes());
        }
        &self.out
    }

    fn value(&mut self, p: &mut Input, depth: usize) -> Option<()> {
        match p.peek()? {
            b'{' if depth < MAX_DEPTH => self.object(p, depth + 1),
            b'[' if depth < MAX_DEPTH => self.array(p, depth + 1),
            b'"' => self.string(p),
            b't' => p.literal(b"true").map(|_| self.out.extend_from_slice(b"true")),
            b'f' => p.literal(b"false").map(|_| self.out.extend_from_slice(b"false")),
            b'n' => p.literal(b"null").map(|_| self.out.extend_from_slice(b"null")),
            b'-' | b'0'..=b'9' => self.number(p),
            _ => None,
        }
    }

    fn array(&mut self, p: &mut Input, depth: usize) -> Option<()> {
        p.eat(b'[')?;
        self.out.push(b'[');
        p.ws();
        if p.eat(b']').is_some() {
            self.out.push(b']');
            return Some(());
        }
        loop {
            p.ws();
            self.value(p, depth)?;
            p.ws();
            match p.peek()? {
                b',' => self.out.push(b','),
                b']' => break,
                _ => return None,
            }
            p.i += 1;
        }
        p.i += 1;
        self.out.push(b']');
        Some(())
    }

    /// Reads the members into `out`, then writes them again sorted by key.
    fn object(&mut self, p: &mut Input, depth: usize) -> Option<()> {
        p.eat(b'{')?;
        let (start, base) = (self.out.len(), self.members.len());
        p.ws();
        if p.eat(b'}').is_none() {
            loop {
                p.ws();
                let key = self.out.len();
                self.string(p)?;
                let value = self.out.len();
                p.ws();
                p.eat(b':')?;
                p.ws();
                self.value(p, depth)?;
                self.members.push((key, value, self.out.len()));
                p.ws();
                match p.peek()? {
                    b',' => p.i += 1,
                    b'}' => break,
                    _ => return None,
                }
            }
            p.i += 1;
        }
        let JsonCanon { out, scratch, members, first: keep_first, .. } = self;
        let mine = &mut members[base..];
        mine.sort_by(|a, b| out[a.0..a.1].cmp(&out[b.0..b.1]));
        scratch.clear();
        scratch.extend_from_slice(&out[start..]);
        out.truncate(start);
        out.push(b'{');
        let mut first = true;
        let key = |m: &(usize, usize, usize)| &scratch[m.0 - start..m.1 - start];
        for (n, m) in mine.iter().enumerate() {
            // Of equal keys (adjacent now, in their order) the last one counts, or the first.
            let other = if *keep_first { n.checked_sub(1).map(|p| &mine[p]) } else { mine.get(n + 1) };
            if other.is_some_and(|o| key(o) == key(m)) {
                continue;
            }
            if !first {
                out.push(b',');
            }
            first = false;
            out.extend_from_slice(&scratch[m.0 - start..m.1 - start]);
            out.push(b':');
            out.extend_from_slice(&scratch[m.1 - start..m.2 - start]);
        }
        out.push(b'}');
        members.truncate(base);
        Some(())
    }

    /// A string, its escapes resolved, written with `"`, `\` and control characters
    /// escaped and everything else as UTF-8.
    fn string(&mut self, p: &mut Input) -> Option<()> {
        p.eat(b'"')?;
        self.out.push(b'"');
        loop {
            let run = p.b[p.i..].iter().position(|&c| c == b'"' || c == b'\\' || c < 0x20)?;
            self.out.extend_from_slice(&p.b[p.i..p.i + run]);
            p.i += run;
            match p.b[p.i] {
                b'"' => break,
                b'\\' => {
                    p.i += 1;
                    let c = self.escape(p)?;
                    self.push_char(c);
                }
                _ => return None, // a raw control character
            }
        }
        p.i += 1;
        self.out.push(b'"');
        Some(())
    }

    /// The character an escape (after its `\`) stands for.
    fn escape(&mut self, p: &mut Input) -> Option<char> {
        let c = p.peek()?;
        p.i += 1;
        let simple = match c {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let hi = hex4(p)?;
                if (0xDC00..0xE000).contains(&hi) {
                    return None; // a low surrogate alone
                }
                if !(0xD800..0xDC00).contains(&hi) {
                    return char::from_u32(hi);
                }
                p.literal(b"\\u")?;
                let lo = hex4(p)?;
                if !(0xDC00..0xE000).contains(&lo) {
                    return None;
                }
                return char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00));
            }
            _ => return None,
        };
        Some(simple)
    }

    fn push_char(&mut self, c: char) {
        match c {
            '"' => self.out.extend_from_slice(b"\\\""),
            '\\' => self.out.extend_from_slice(b"\\\\"),
            c if (c as u32) < 0x20 => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                let n = c as usize;
                self.out.extend_from_slice(&[b'\\', b'u', b'0', b'0', HEX[n >> 4], HEX[n & 15]]);
            }
            c => {
                let mut buf = [0u8; 4];
                self.out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }

    /// A number as `[-]DIGITSeEXP` (no leading or trailing zero digit), or `0`.
    fn number(&mut self, p: &mut Input) -> Option<()> {
        let negative = p.eat(b'-').is_some();
        self.digits.clear();
        let int = take_digits(p, &mut self.digits);
        if int == 0 || (int > 1 && self.digits[0] == b'0') {
            return None; // no digit, or a leading zero
        }
        let mut exp: i64 = 0;
        if p.eat(b'.').is_some() {
            let frac = take_digits(p, &mut self.digits);
            if frac == 0 {
                return None;
            }
            exp -= frac as i64;
        }
        if matches!(p.peek(), Some(b'e' | b'E')) {
            p.i += 1;
            let sign = if p.eat(b'-').is_some() { -1 } else { p.eat(b'+').map_or(1, |_| 1) };
            let (mut e, mut any) = (0i64, false);
            while let Some(d @ b'0'..=b'9') = p.peek() {
                e = (e * 10 + i64::from(d - b'0')).min(1 << 40);
                p.i += 1;
                any = true;
            }
            if !any {
                return None;
            }
            exp += sign * e;
        }
        let lead = self.digits.iter().take_while(|&&d| d == b'0').count();
        let trail = self.digits[lead..].iter().rev().take_while(|&&d| d == b'0').count();
        let significant = &self.digits[lead..self.digits.len() - trail];
        if significant.is_empty() {
            self.out.push(b'0');
            return Some(());
        }
        if negative {
            self.out.push(b'-');
        }
        self.out.extend_from_slice(significant);
        self.out.push(b'e');
        // Written into the buffer, not through a String: one number, no allocation.
        let _ = std::io::Write::write_fmt(&mut self.out, format_args!("{}", exp + trail as i64));
        Some(())
    }
}

/// Appends the digits at the position to `to`; returns how many.
fn take_digits(p: &mut Input, to: &mut Vec<u8>) -> usize {
    let n = p.b[p.i..].iter().take_while(|c| c.is_ascii_digit()).count();
    to.extend_from_slice(&p.b[p.i..p.i + n]);
    p.i += n;
    n
}

fn hex4(p: &mut Input) -> Option<u32> {
    let s = p.b.get(p.i..p.i + 4)?;
    let mut v = 0u32;
    for &c in s {
        v = v * 16 + (c as char).to_digit(16)?;
    }
    p.i += 4;
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::JsonCanon;

    fn canon(text: &str) -> String {
        String::from_utf8(JsonCanon::default().canonical(text).to_vec()).unwrap()
    }

    #[test]
    fn equal_by_meaning() {
        for (a, b) in [
            (r#"{"b": 1, "a": [1, 2]}"#, r#"{"a":[1,2],"b":1}"#),
            (r#"{"x": 1.50}"#, r#"{"x": 1.5}"#),
            ("1e2", "100"),
            ("100E-2", "1.0"),
            ("-0", "0"),
            ("-0.0e5", "0"),
            (r#""\u00e9""#, r#""é""#),
            (r#""\ud83d\ude00""#, r#""😀""#),
            (r#""\/\t""#, "\"/\\u0009\""),
            (r#"{"a": 1, "a": 2}"#, r#"{"a": 2}"#),
            ("[ ]", "[]"),
            (" { } ", "{}"),
        ] {
            assert_eq!(canon(a), canon(b), "{a} vs {b}");
        }
        assert_eq!(canon(r#"{"b": 1.50, "a": "x\"y"}"#), r#"{"a":"x\"y","b":15e-1}"#);
    }

    #[test]
    fn different_by_one_character() {
        for (a, b) in [
            ("12345678901234567891", "12345678901234567890"),
            ("0.1000000000000000000001", "0.1"),
            ("1.5", "-1.5"),
            (r#"{"a": 1}"#, r#"{"A": 1}"#),
            (r#"["a", "b"]"#, r#"["b", "a"]"#),
            (r#""\ud83d\ude00""#, r#""\ud83d\ude01""#),
            (r#"{"a": null}"#, r#"{"a": false}"#),
            (r#""a b""#, r#""a  b""#),
            ("1e400", "1e401"),
        ] {
            assert_ne!(canon(a), canon(b), "{a} vs {b}");
        }
    }

    #[test]
    fn not_json_is_kept_verbatim() {
        for bad in ["", "{", "01", "1.", "[1,]", "\"\\ud800\"", "\"\\udc00\"", "tru", "\"a\nb\"", "{} x", "+1"] {
            assert_eq!(canon(bad), format!("raw:{bad}"), "{bad:?}");
        }
        let deep = "[".repeat(600) + &"]".repeat(600);
        assert!(canon(&deep).starts_with("raw:"));
    }

    /// MariaDB reads the first of duplicate keys, jsonb and MySQL 8 the last.
    #[test]
    fn duplicate_keys_by_either_reading() {
        let mut c = JsonCanon::default();
        let text = r#"{"role": "user", "x": {"a": 1, "a": 2}, "role": "admin"}"#;
        assert_eq!(c.canonical_by(text, true), br#"{"role":"user","x":{"a":1e0}}"#);
        assert_eq!(c.canonical_by(text, false), br#"{"role":"admin","x":{"a":2e0}}"#);
        assert_eq!(c.canonical(text), br#"{"role":"admin","x":{"a":2e0}}"#);
    }

    /// The buffers are reused: a second value leaves nothing of the first.
    #[test]
    fn one_canonicaliser_for_many_values() {
        let mut c = JsonCanon::default();
        assert_eq!(
            c.canonical(r#"{"z": {"y": [1, {"b": 2, "a": 1}]}, "a": 0}"#),
            br#"{"a":0,"z":{"y":[1e0,{"a":1e0,"b":2e0}]}}"#
        );
        assert_eq!(c.canonical("true"), b"true");
    }
}
