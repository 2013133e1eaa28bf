//! The INSERT scanner: walks `INSERT INTO `t` [(`c`,…)] VALUES (…),(…);` byte by byte
//! and appends every value straight into the table's [`BatchBuilder`], without
//! building a statement in memory. Literal forms: `'…'` strings with MySQL's escapes,
//! `_charset` introducers, `X'…'`/`0x…` hex, `b'…'`/`0b…` bits, numbers and NULL.

use memchr::memchr2;

use super::input::{is_word_byte, Input};
use crate::error::{shorten, Error, Refused, Result};
use crate::feed::render_key;
use crate::feed::ReadSpec;
use crate::source::cell::{BatchBuilder, Cell};
use crate::types::Logical;
use arrow::record_batch::RecordBatch;

use crate::feed::MAX_BATCH_BYTES;

use super::zone::{parse_wall, ZoneState};

/// The byte a backslash escape stands for (`\n` → newline; an unknown `\x` is `x`).
#[inline]
pub(crate) fn unescape(e: u8) -> u8 {
    match e {
        b'0' => 0,
        b'b' => 8,
        b'n' => b'\n',
        b'r' => b'\r',
        b't' => b'\t',
        b'Z' => 26,
        other => other,
    }
}

/// What one literal was; its bytes are in [`Scratch::value`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Lit {
    /// `NULL`.
    Null,
    /// A quoted string (unescaped) or a hex literal (decoded).
    Bytes { hex: bool },
    /// An unquoted number, as text.
    Number,
    /// A `b'…'` bit literal.
    Bits(u64),
}

/// Reusable buffers of the scanner: nothing is allocated per value.
#[derive(Default)]
pub(crate) struct Scratch {
    /// The bytes of the last literal read.
    pub(crate) value: Vec<u8>,
    hex: Vec<u8>,
    /// The current row's primary key values: literal kind and bytes.
    keys: Vec<(Lit, Vec<u8>)>,
    /// A TIMESTAMP literal moved to UTC.
    utc: Vec<u8>,
}

/// Reads a quoted literal whose opening `quote` is consumed, unescaping into `out`.
pub(crate) fn read_string(input: &mut Input, out: &mut Vec<u8>, quote: u8) -> Result<()> {
    let start = input.pos.saturating_sub(1);
    let mut start_line = None;
    loop {
        let hay = &input.buf[input.pos..];
        match memchr2(quote, b'\\', hay) {
            Some(i) => {
                out.extend_from_slice(&hay[..i]);
                let c = hay[i];
                input.pos += i + 1;
                if input.pos >= input.buf.len() && start_line.is_none() {
                    start_line = Some(input.line_at(start));
                }
                if c == b'\\' {
                    match input.next()? {
                        Some(e @ (b'%' | b'_')) => out.extend_from_slice(&[b'\\', e]),
                        Some(e) => out.push(unescape(e)),
                        None => break,
                    }
                } else if input.peek()? == Some(quote) {
                    out.push(quote);
                    input.pos += 1;
                } else {
                    return Ok(());
                }
            }
            None => {
                out.extend_from_slice(hay);
                if start_line.is_none() {
                    start_line = Some(input.line_at(start));
                }
                input.pos = input.buf.len();
                if !input.fill()? {
                    break;
                }
            }
        }
    }
    let line = start_line.unwrap_or(1);
    Err(input.error_at(line, "unterminated string literal at end of file (the dump is truncated)"))
}

/// Appends the bytes while `keep` holds to `out`.
fn read_while(input: &mut Input, out: &mut Vec<u8>, keep: impl Fn(u8) -> bool) -> Result<()> {
    loop {
        let hay = &input.buf[input.pos..];
        let n = hay.iter().position(|&b| !keep(b)).unwrap_or(hay.len());
        out.extend_from_slice(&hay[..n]);
        input.pos += n;
        if input.pos < input.buf.len() || !input.fill()? {
            return Ok(());
        }
    }
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Decodes hex digits into `out` (an odd count gets a leading zero, as MySQL's 0x does).
fn decode_hex(digits: &[u8], out: &mut Vec<u8>) -> Option<()> {
    out.clear();
    let (head, rest) = if digits.len() % 2 == 1 { (Some(digits[0]), &digits[1..]) } else { (None, digits) };
    if let Some(h) = head {
        out.push(hex_val(h)?);
    }
    out.reserve(rest.len() / 2);
    for pair in rest.chunks_exact(2) {
        out.push(hex_val(pair[0])? << 4 | hex_val(pair[1])?);
    }
    Some(())
}

fn bits_value(digits: &[u8]) -> Option<u64> {
    let first_one = digits.iter().position(|&d| d != b'0').unwrap_or(digits.len());
    let digits = &digits[first_one..];
    if digits.len() > 64 {
        return None;
    }
    digits.iter().try_fold(0u64, |acc, &d| match d {
        b'0' | b'1' => Some(acc << 1 | (d - b'0') as u64),
        _ => None,
    })
}

/// Reads one literal at the read position into `sc.value`.
pub(crate) fn read_value(input: &mut Input, sc: &mut Scratch) -> Result<Lit> {
    sc.value.clear();
    let mut introduced = false;
    loop {
        let Some(c) = input.skip_ws()? else {
            return Err(input.error("unexpected end of file inside a VALUES tuple (the dump is truncated)"));
        };
        let next = input.peek_at(1)?;
        match c {
            b'\'' | b'"' => {
                input.pos += 1;
                read_string(input, &mut sc.value, c)?;
                return Ok(Lit::Bytes { hex: false });
            }
            b'X' | b'x' if next == Some(b'\'') => {
                input.pos += 2;
                sc.hex.clear();
                read_string(input, &mut sc.hex, b'\'')?;
                decode_hex(&sc.hex, &mut sc.value)
                    .filter(|_| sc.hex.len().is_multiple_of(2))
                    .ok_or_else(|| input.error("malformed X'…' hex literal"))?;
                return Ok(Lit::Bytes { hex: true });
            }
            b'B' | b'b' if next == Some(b'\'') => {
                input.pos += 2;
                sc.hex.clear();
                read_string(input, &mut sc.hex, b'\'')?;
                return bits_value(&sc.hex).map(Lit::Bits).ok_or_else(|| input.error("malformed b'…' bit literal"));
            }
            b'0' if matches!(next, Some(b'x' | b'X')) => {
                input.pos += 2;
                sc.hex.clear();
                read_while(input, &mut sc.hex, |b| b.is_ascii_hexdigit())?;
                if sc.hex.is_empty() {
                    return Err(input.error("malformed 0x hex literal"));
                }
                decode_hex(&sc.hex, &mut sc.value).ok_or_else(|| input.error("malformed 0x hex literal"))?;
                return Ok(Lit::Bytes { hex: true });
            }
            b'0' if next == Some(b'b') && !introduced => {
                input.pos += 2;
                sc.hex.clear();
                read_while(input, &mut sc.hex, |b| b == b'0' || b == b'1')?;
                return bits_value(&sc.hex)
                    .filter(|_| !sc.hex.is_empty())
                    .map(Lit::Bits)
                    .ok_or_else(|| input.error("malformed 0b bit literal"));
            }
            b'0'..=b'9' | b'-' | b'+' | b'.' if !introduced => {
                read_while(input, &mut sc.value, |b| {
                    b.is_ascii_digit() || matches!(b, b'-' | b'+' | b'.' | b'e' | b'E')
                })?;
                return Ok(Lit::Number);
            }
            b'N' | b'n' if !introduced && input.at_word(b"NULL")? => {
                input.pos += 4;
                return Ok(Lit::Null);
            }
            b'_' if !introduced => {
                // A character set introducer (`_binary '…'`, `_utf8mb4 0x…`): read past it.
                while input.peek()?.is_some_and(is_word_byte) {
                    input.pos += 1;
                }
                introduced = true;
            }
            _ => {
                let shown = if c.is_ascii_graphic() { format!("`{}`", c as char) } else { format!("byte 0x{c:02x}") };
                return Err(input.error(format!("unexpected {shown} where a value was expected")));
            }
        }
    }
}

/// Where the values of one INSERT's tuples go.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Slots {
    /// For each tuple position: the output column it feeds, if selected.
    pub(crate) out: Vec<Option<usize>>,
    /// For each tuple position: which primary-key column it is, if any.
    pub(crate) key: Vec<Option<usize>>,
    /// Output columns no tuple position feeds (written as NULL).
    pub(crate) missing: Vec<usize>,
}

impl Slots {
    /// The slots for tuples listing `names` (the table's own columns when None).
    pub(crate) fn new(dt: &ReadSpec, names: Option<&[String]>) -> Result<Slots> {
        let t = &dt.table;
        let positions: Vec<usize> = match names {
            None => (0..t.columns.len()).collect(),
            Some(names) => names
                .iter()
                .map(|n| {
                    t.column_index(n).ok_or_else(|| {
                        Error::Other(format!(
                            "INSERT INTO `{}` names column `{n}`, which its CREATE TABLE lacks",
                            t.name
                        ))
                    })
                })
                .collect::<Result<_>>()?,
        };
        let keys = t.key_indexes();
        let out: Vec<Option<usize>> = positions.iter().map(|p| dt.columns.iter().position(|c| c == p)).collect();
        let key = positions.iter().map(|p| keys.iter().position(|k| k == p)).collect();
        let missing = (0..dt.columns.len()).filter(|o| !out.contains(&Some(*o))).collect();
        Ok(Slots { out, key, missing })
    }
}

/// One selected table's decoding state across its INSERT statements.
pub(crate) struct TableState {
    /// The decoder holding the rows not yet emitted.
    pub(crate) builder: BatchBuilder,
    /// Rows read so far.
    pub(crate) rows: u64,
    /// Slots for INSERTs without a column list.
    pub(crate) default_slots: Slots,
    /// The last column list seen and its slots (a dump repeats the same list).
    pub(crate) listed: Option<(Vec<String>, Slots)>,
    /// Per output column: a TIMESTAMP, whose literals are in the session's zone.
    pub(crate) in_zone: Vec<bool>,
}

impl TableState {
    /// A fresh state for `dt`.
    pub(crate) fn new(dt: &ReadSpec, batch_rows: usize) -> Result<Self> {
        Ok(TableState {
            builder: BatchBuilder::new(dt.plans.clone(), batch_rows.clamp(1, 8192)),
            rows: 0,
            default_slots: Slots::new(dt, None)?,
            listed: None,
            in_zone: dt.columns.iter().map(|&c| dt.table.columns[c].mysql.data_type == "timestamp").collect(),
        })
    }
}

fn int_like(l: Logical) -> bool {
    matches!(
        l,
        Logical::Bool
            | Logical::Int8
            | Logical::Int16
            | Logical::Int32
            | Logical::Int64
            | Logical::UInt64
            | Logical::Year
    )
}

/// Parses plain integer text without allocating; None for anything else.
#[inline]
fn fast_int(t: &[u8]) -> Option<Cell<'static>> {
    let (neg, d) = match t.first()? {
        b'-' => (true, &t[1..]),
        _ => (false, t),
    };
    if d.is_empty() || d.len() > 19 {
        return None;
    }
    let mut v: u64 = 0;
    for &c in d {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add((c - b'0') as u64)?;
    }
    if neg {
        (v <= i64::MAX as u64 + 1).then(|| Cell::Int((v as i64).wrapping_neg()))
    } else {
        Some(Cell::UInt(v))
    }
}

fn render_lit(lit: Lit, bytes: &[u8]) -> String {
    match lit {
        Lit::Null => "NULL".into(),
        Lit::Number => String::from_utf8_lossy(bytes).into_owned(),
        Lit::Bits(v) => v.to_string(),
        Lit::Bytes { hex: true } => format!("0x{}", shorten(&hex::encode(bytes), 64)),
        Lit::Bytes { hex: false } => match std::str::from_utf8(bytes) {
            Ok(s) => format!("'{}'", shorten(s, 64)),
            Err(_) => format!("0x{}", shorten(&hex::encode(bytes), 64)),
        },
    }
}

/// Reads the `(…),(…);` tuples of one INSERT into `st`, emitting full batches; its
/// TIMESTAMP literals are in `zone`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn read_tuples(
    input: &mut Input,
    dt: &ReadSpec,
    st: &mut TableState,
    slots: &Slots,
    sc: &mut Scratch,
    zone: &ZoneState,
    batch_rows: usize,
    emit: &mut dyn FnMut(&str, RecordBatch) -> Result<()>,
) -> Result<()> {
    let name = dt.table.name.as_str();
    let n_keys = dt.table.primary_key.len();
    sc.keys.resize_with(n_keys, || (Lit::Null, Vec::new()));
    loop {
        match input.skip_ws()? {
            Some(b'(') => input.pos += 1,
            Some(_) => return Err(input.error(format!("INSERT INTO `{name}`: expected ( to start a row"))),
            None => {
                return Err(input.error(format!("INSERT INTO `{name}`: unexpected end of file (the dump is truncated)")))
            }
        }
        read_row(input, dt, st, slots, sc, zone)?;
        if st.builder.rows() >= batch_rows || st.builder.bytes() > MAX_BATCH_BYTES {
            emit(name, st.builder.finish())?;
        }
        match input.skip_ws()? {
            Some(b',') => input.pos += 1,
            Some(b';') => {
                input.pos += 1;
                return Ok(());
            }
            Some(_) => return Err(input.error(format!("INSERT INTO `{name}`: expected , or ; after a row"))),
            None => {
                return Err(input
                    .error(format!("INSERT INTO `{name}`: unexpected end of file, ; missing (the dump is truncated)")))
            }
        }
    }
}

/// Reads one row's values, after its `(` up to and including its `)`, into `st`; a
/// value the column refuses fails the row, named by its primary key.
#[inline]
fn read_row(
    input: &mut Input,
    dt: &ReadSpec,
    st: &mut TableState,
    slots: &Slots,
    sc: &mut Scratch,
    zone: &ZoneState,
) -> Result<()> {
    let name = dt.table.name.as_str();
    for (lit, bytes) in sc.keys.iter_mut() {
        *lit = Lit::Null;
        bytes.clear();
    }
    let mut failed: Option<Refused> = None;
    let mut p = 0;
    loop {
        let lit = read_value(input, sc)?;
        if p >= slots.out.len() {
            return Err(input
                .error(format!("INSERT INTO `{name}`: a row has more values than the {} columns", slots.out.len())));
        }
        if let Some(o) = slots.out[p].filter(|_| failed.is_none()) {
            failed = push_value(dt, st, sc, o, lit, zone).err();
        }
        if let Some(k) = slots.key[p] {
            let slot = &mut sc.keys[k];
            slot.0 = lit;
            slot.1.clear();
            slot.1.extend_from_slice(&sc.value);
        }
        p += 1;
        match input.skip_ws()? {
            Some(b',') => input.pos += 1,
            Some(b')') => {
                input.pos += 1;
                break;
            }
            Some(_) => return Err(input.error(format!("INSERT INTO `{name}`: expected , or ) after a value"))),
            None => {
                return Err(input.error(format!(
                    "INSERT INTO `{name}`: unexpected end of file inside a row (the dump is truncated)"
                )))
            }
        }
    }
    if p != slots.out.len() {
        return Err(input.error(format!("INSERT INTO `{name}`: a row has {p} values for {} columns", slots.out.len())));
    }
    st.rows += 1;
    if let Some(e) = failed {
        let names: Vec<&str> = dt.table.primary_key.iter().map(String::as_str).collect();
        let values: Vec<String> = sc.keys.iter().map(|(l, b)| render_lit(*l, b)).collect();
        let key = render_key(&names, &values, st.rows);
        return Err(Error::from(e.locate(name, key)));
    }
    for &o in &slots.missing {
        st.builder.push(o, Cell::Null).map_err(|e| Error::from(e.locate(name, format!("#{}", st.rows))))?;
    }
    st.builder.end_row();
    Ok(())
}

/// Pushes the value just read (`lit`, its bytes in `sc.value`) into output column `o`.
#[inline]
fn push_value(
    dt: &ReadSpec,
    st: &mut TableState,
    sc: &mut Scratch,
    o: usize,
    lit: Lit,
    zone: &ZoneState,
) -> std::result::Result<(), Refused> {
    if st.in_zone[o] && lit == (Lit::Bytes { hex: false }) {
        return push_timestamp(dt, st, sc, o, zone);
    }
    let cell = match lit {
        Lit::Null => Cell::Null,
        Lit::Bits(v) => Cell::UInt(v),
        Lit::Number if int_like(dt.plans[o].logical) => fast_int(&sc.value).unwrap_or(Cell::Bytes(&sc.value)),
        Lit::Number | Lit::Bytes { .. } => Cell::Bytes(&sc.value),
    };
    st.builder.push(o, cell)
}

/// A TIMESTAMP literal, written in the session's `zone`, pushed as its UTC time (a zero
/// date, or text that is no date, goes as written: the decoder's rules apply).
fn push_timestamp(
    dt: &ReadSpec,
    st: &mut TableState,
    sc: &mut Scratch,
    o: usize,
    zone: &ZoneState,
) -> std::result::Result<(), Refused> {
    let wall = match zone {
        ZoneState::Known(z) if z.is_utc() => None,
        _ => parse_wall(&sc.value),
    };
    let Some(wall) = wall else { return st.builder.push(o, Cell::Bytes(&sc.value)) };
    let row = st.builder.rows();
    let refuse = |reason: String| Refused {
        row,
        column: dt.plans[o].name.clone(),
        value: format!("'{}'", String::from_utf8_lossy(&sc.value)),
        reason,
    };
    let utc = match zone {
        ZoneState::Known(z) => z.to_utc(&wall).map_err(|why| {
            refuse(format!(
                "is a TIMESTAMP written in the dump's time zone {z}, where it {why}: it has no single instant; \
                 dump in UTC (mariadb-dump/mysqldump without --skip-tz-utc) to keep it"
            ))
        })?,
        ZoneState::Unknown(why) => {
            return Err(refuse(format!(
                "is a TIMESTAMP in an unknown time zone: {why}; name it with [source] time_zone = \"+05:30\" \
                 (an offset or an IANA name)"
            )))
        }
    };
    sc.utc.clear();
    use std::io::Write;
    let _ = write!(sc.utc, "{}", utc.format("%Y-%m-%d %H:%M:%S%.6f"));
    st.builder.push(o, Cell::Bytes(&sc.utc))
}
