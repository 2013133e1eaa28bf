//! Binlog row values → the values the snapshot's binary-protocol `SELECT` returns
//! (docs/architecture.md, "Change capture"), so that a followed row goes through the same
//! decoder (`read::cell` and `BatchBuilder`) as a copied one and comes out equal.
//!
//! What the binlog writes differently: TIMESTAMP as epoch seconds (the snapshot session
//! reads it at `+00:00`), ENUM as an index, SET as a bitmask, YEAR as `1900 + y` text,
//! integers without their unsigned flag, BINARY(n) with its trailing zero bytes
//! stripped, text in the column's own character set (the snapshot session reads
//! utf8mb4), and MySQL's JSON in its binary form.

use mysql_async::binlog::row::BinlogRow;
use mysql_async::binlog::value::BinlogValue;
use mysql_async::Value;

use crate::error::{Error, Result};
use crate::feed::ReadSpec;

/// How one column's binlog value becomes the snapshot's.
#[derive(Debug, Clone)]
enum Conv {
    /// The same value (DATE, DATETIME, TIME, DECIMAL text, FLOAT, DOUBLE, BIT, blobs,
    /// GEOMETRY).
    Same,
    /// An integer of `bits` bits; `unsigned`: a negative value is the unsigned one.
    Int { bits: u32, unsigned: bool },
    /// YEAR.
    Year,
    /// TIMESTAMP(n).
    Timestamp,
    /// ENUM: its labels.
    Enum(Vec<String>),
    /// SET: its labels.
    Set(Vec<String>),
    /// BINARY(n): padded back to n bytes.
    Pad(usize),
    /// Text in a character set to transcode from.
    Text(Charset),
    /// MySQL's binary JSON, printed as MySQL prints it.
    Json,
}

/// A text column's character set, as far as the transcoding goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Charset {
    /// utf8mb4, utf8mb3, ascii, binary: the bytes as they are.
    Utf8,
    /// latin1 (MySQL's latin1 is cp1252).
    Latin1,
}

/// The conversion of one followed table's rows.
#[derive(Debug, Clone)]
pub(super) struct Follow {
    /// What is read of the table (its read columns, decoded as the snapshot does).
    pub spec: ReadSpec,
    /// Per read column, its conversion.
    convs: Vec<Conv>,
    /// The table columns that identify a row (the primary key, else a NOT NULL unique
    /// key; empty: the whole row).
    key: Vec<usize>,
}

impl Follow {
    /// The conversions of `spec`'s read columns; an error names a column whose
    /// character set cannot be transcoded.
    pub fn new(spec: ReadSpec) -> Result<Follow> {
        let t = &spec.table;
        let mut convs = Vec::with_capacity(spec.columns.len());
        for &i in &spec.columns {
            let c = &t.columns[i];
            convs.push(
                conv(&c.mysql).map_err(|why| Error::other(format!("following `{}`.`{}`: {why}", t.name, c.name)))?,
            );
        }
        let index = |names: &[String]| names.iter().map(|n| t.column_index(n)).collect::<Option<Vec<usize>>>();
        let unique = t
            .indexes
            .iter()
            .filter(|ix| ix.unique)
            .map(|ix| ix.columns())
            .filter_map(|cols| index(&cols))
            .find(|cols| cols.iter().all(|&c| !t.columns[c].nullable));
        let key = if t.primary_key.is_empty() { unique } else { index(&t.primary_key) };
        Ok(Follow { key: key.unwrap_or_default(), convs, spec })
    }

    /// The table's name.
    pub fn table(&self) -> &str {
        &self.spec.table.name
    }

    /// The read columns' values of a row image; `present`: the table columns the image
    /// holds, in order (a row image holds only the columns its bitmap names).
    pub fn values(&self, row: &BinlogRow, present: &[usize]) -> Result<Vec<Value>> {
        let t = &self.spec.table;
        let mut out = Vec::with_capacity(self.convs.len());
        for (&ci, conv) in self.spec.columns.iter().zip(&self.convs) {
            let name = &t.columns[ci].name;
            let at = present.iter().position(|&p| p == ci).ok_or_else(|| {
                Error::other(format!(
                    "the binlog's row image of `{}` lacks column `{name}`: the server must log full row images \
                     (binlog_row_image = FULL)",
                    t.name
                ))
            })?;
            let v = row.as_ref(at).cloned().unwrap_or(BinlogValue::Value(Value::NULL));
            out.push(
                convert(conv, v).map_err(|why| {
                    Error::other(format!("following `{}`.`{name}`: the binlog's value {why}", t.name))
                })?,
            );
        }
        Ok(out)
    }

    /// Whether an update kept the row's key (compared as the binlog holds it: a key that
    /// changed only in case is a new key for the target).
    pub fn same_key(&self, before: (&BinlogRow, &[usize]), after: (&BinlogRow, &[usize])) -> bool {
        fn at<'a>((row, present): (&'a BinlogRow, &[usize]), c: usize) -> Option<&'a BinlogValue<'a>> {
            present.iter().position(|&p| p == c).and_then(|i| row.as_ref(i))
        }
        if self.key.is_empty() {
            return before.1 == after.1 && (0..before.1.len()).all(|i| before.0.as_ref(i) == after.0.as_ref(i));
        }
        self.key.iter().all(|&c| at(before, c).is_some_and(|b| Some(b) == at(after, c)))
    }
}

/// A column's conversion from its MySQL type.
fn conv(t: &crate::types::MySqlType) -> std::result::Result<Conv, String> {
    let int = |bits| Ok(Conv::Int { bits, unsigned: t.unsigned });
    match t.data_type.as_str() {
        "tinyint" => int(8),
        "smallint" => int(16),
        "mediumint" => int(24),
        "int" | "integer" => int(32),
        "bigint" => int(64),
        "year" => Ok(Conv::Year),
        "timestamp" => Ok(Conv::Timestamp),
        "enum" => Ok(Conv::Enum(t.members())),
        "set" => Ok(Conv::Set(t.members())),
        "binary" => Ok(Conv::Pad(t.max_length.unwrap_or(1) as usize)),
        "json" => Ok(Conv::Json),
        // mysql_common 0.37 reads a negative TIME(1|2) with a fraction wrongly (an
        // unsigned underflow: a panic in debug builds, a wrong value in release ones).
        "time" if matches!(t.fsp, Some(1 | 2)) => Err(format!(
            "the binlog reader misreads negative {} values with a fraction, so the change stream refuses the \
             column rather than risk a wrong value: alter it to time(3) or more (or time(0)), or leave the table \
             out of following",
            t.column_type
        )),
        "char" | "varchar" | "tinytext" | "text" | "mediumtext" | "longtext" => {
            Ok(Conv::Text(charset(t.charset.as_deref())?))
        }
        _ => Ok(Conv::Same),
    }
}

/// The transcoding of a text column's character set.
fn charset(name: Option<&str>) -> std::result::Result<Charset, String> {
    match name.map(str::to_ascii_lowercase).as_deref() {
        None | Some("utf8mb4" | "utf8mb3" | "utf8" | "ascii" | "binary") => Ok(Charset::Utf8),
        Some("latin1") => Ok(Charset::Latin1),
        Some(other) => Err(format!(
            "its character set {other} is not one the change stream transcodes (utf8mb4, utf8mb3, ascii, latin1): \
             convert the column to utf8mb4, or leave the table out of following"
        )),
    }
}

/// One value; the error follows "the binlog's value …".
fn convert(conv: &Conv, v: BinlogValue<'_>) -> std::result::Result<Value, String> {
    let v = match v {
        BinlogValue::Value(Value::NULL) => return Ok(Value::NULL),
        BinlogValue::Value(v) => v,
        BinlogValue::Jsonb(j) => return json_text(j).map(Value::Bytes),
        BinlogValue::JsonDiff(_) => {
            return Err("is a partial JSON update: remove PARTIAL_JSON from binlog_row_value_options".into())
        }
    };
    match conv {
        Conv::Same => Ok(v),
        Conv::Int { bits, unsigned } => int(v, *bits, *unsigned),
        Conv::Year => match v {
            Value::Bytes(b) => match std::str::from_utf8(&b).ok().and_then(|s| s.parse::<i64>().ok()) {
                Some(1900) => Ok(Value::Int(0)),
                Some(y) => Ok(Value::Int(y)),
                None => Err(format!("{:?} is not a year", String::from_utf8_lossy(&b))),
            },
            Value::Int(y) => Ok(Value::Int(y)),
            other => Err(format!("{other:?} is not a year")),
        },
        Conv::Timestamp => timestamp(v),
        Conv::Enum(labels) => match v {
            Value::Int(0) => Ok(Value::Bytes(Vec::new())),
            Value::Int(i) => labels
                .get(i as usize - 1)
                .map(|l| Value::Bytes(l.clone().into_bytes()))
                .ok_or_else(|| format!("{i} is not one of the ENUM's {} labels", labels.len())),
            other => Err(format!("{other:?} is not an ENUM index")),
        },
        Conv::Set(labels) => match v {
            Value::Bytes(mask) => set(&mask, labels),
            other => Err(format!("{other:?} is not a SET bitmask")),
        },
        Conv::Pad(n) => match v {
            Value::Bytes(mut b) => {
                if b.len() < *n {
                    b.resize(*n, 0);
                }
                Ok(Value::Bytes(b))
            }
            other => Ok(other),
        },
        Conv::Text(Charset::Latin1) => match v {
            Value::Bytes(b) => Ok(Value::Bytes(cp1252(&b).into_bytes())),
            other => Ok(other),
        },
        Conv::Text(Charset::Utf8) | Conv::Json => Ok(v),
    }
}

/// An integer read signed by the binlog crate, made unsigned when the column is.
fn int(v: Value, bits: u32, unsigned: bool) -> std::result::Result<Value, String> {
    let n: i128 = match v {
        Value::Int(i) => i as i128,
        Value::UInt(u) => u as i128,
        other => return Err(format!("{other:?} is not an integer")),
    };
    if !unsigned {
        return i64::try_from(n).map(Value::Int).map_err(|_| format!("{n} is out of range"));
    }
    let n = if n < 0 { n + (1i128 << bits) } else { n };
    u64::try_from(n).map(Value::UInt).map_err(|_| format!("{n} is out of range"))
}

/// TIMESTAMP's epoch `seconds[.micros]` as the UTC date and time the snapshot reads; 0
/// is MySQL's zero timestamp.
fn timestamp(v: Value) -> std::result::Result<Value, String> {
    let (secs, micros) = match &v {
        Value::Int(s) => (*s, 0u32),
        Value::Bytes(b) => {
            let s = std::str::from_utf8(b).map_err(|_| "is not text".to_string())?;
            let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
            let secs = whole.parse::<i64>().map_err(|_| format!("{s:?} is not epoch seconds"))?;
            let micros = if frac.is_empty() {
                0
            } else {
                format!("{frac:0<6}")[..6].parse::<u32>().map_err(|_| format!("{s:?} is not epoch seconds"))?
            };
            (secs, micros)
        }
        other => return Err(format!("{other:?} is not a timestamp")),
    };
    if secs == 0 && micros == 0 {
        return Ok(Value::Date(0, 0, 0, 0, 0, 0, 0));
    }
    let t = chrono::DateTime::from_timestamp(secs, micros * 1000)
        .ok_or_else(|| format!("{secs} is out of range"))?
        .naive_utc();
    use chrono::{Datelike, Timelike};
    Ok(Value::Date(
        t.year() as u16,
        t.month() as u8,
        t.day() as u8,
        t.hour() as u8,
        t.minute() as u8,
        t.second() as u8,
        micros,
    ))
}

/// A SET's little-endian bitmask as its labels, comma-separated, in the type's order.
fn set(mask: &[u8], labels: &[String]) -> std::result::Result<Value, String> {
    let mut out: Vec<&str> = Vec::new();
    for (i, byte) in mask.iter().enumerate() {
        for bit in 0..8 {
            if byte & (1 << bit) == 0 {
                continue;
            }
            let n = i * 8 + bit;
            out.push(labels.get(n).ok_or_else(|| format!("sets bit {n}, past the SET's {} labels", labels.len()))?);
        }
    }
    Ok(Value::Bytes(out.join(",").into_bytes()))
}

/// MySQL's latin1 (Windows-1252, its five undefined bytes kept as the C1 controls) as UTF-8.
pub(super) fn cp1252(b: &[u8]) -> String {
    const HIGH: [char; 32] = [
        '\u{20AC}', '\u{0081}', '\u{201A}', '\u{0192}', '\u{201E}', '\u{2026}', '\u{2020}', '\u{2021}', '\u{02C6}',
        '\u{2030}', '\u{0160}', '\u{2039}', '\u{0152}', '\u{008D}', '\u{017D}', '\u{008F}', '\u{0090}', '\u{2018}',
        '\u{2019}', '\u{201C}', '\u{201D}', '\u{2022}', '\u{2013}', '\u{2014}', '\u{02DC}', '\u{2122}', '\u{0161}',
        '\u{203A}', '\u{0153}', '\u{009D}', '\u{017E}', '\u{0178}',
    ];
    b.iter()
        .map(|&c| match c {
            0x80..=0x9F => HIGH[(c - 0x80) as usize],
            _ => c as char,
        })
        .collect()
}

/// MySQL's binary JSON as the text MySQL prints for it (`{"a": 1, "b": [1, 2]}`).
fn json_text(j: mysql_async::binlog::jsonb::Value<'_>) -> std::result::Result<Vec<u8>, String> {
    let v = serde_json::Value::try_from(j).map_err(|e| format!("is binary JSON converge cannot read ({e})"))?;
    let mut out = String::new();
    print_json(&v, &mut out);
    Ok(out.into_bytes())
}

/// MySQL's printing of a JSON value: `", "` between items, `": "` after keys.
fn print_json(v: &serde_json::Value, out: &mut String) {
    match v {
        serde_json::Value::Array(items) => {
            out.push('[');
            for (i, x) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                print_json(x, out);
            }
            out.push(']');
        }
        serde_json::Value::Object(map) => {
            out.push('{');
            for (i, (k, x)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(&serde_json::Value::String(k.clone()).to_string());
                out.push_str(": ");
                print_json(x, out);
            }
            out.push('}');
        }
        other => out.push_str(&other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binlog_forms_become_the_snapshots() {
        let v = |x: Value| BinlogValue::Value(x);
        let tiny = Conv::Int { bits: 8, unsigned: true };
        assert_eq!(convert(&tiny, v(Value::Int(-1))), Ok(Value::UInt(255)));
        let medium = Conv::Int { bits: 24, unsigned: true };
        assert_eq!(convert(&medium, v(Value::Int(-1))), Ok(Value::UInt(16_777_215)));
        let big = Conv::Int { bits: 64, unsigned: true };
        assert_eq!(convert(&big, v(Value::Int(-1))), Ok(Value::UInt(u64::MAX)));
        assert_eq!(convert(&Conv::Int { bits: 8, unsigned: false }, v(Value::Int(-1))), Ok(Value::Int(-1)));
        assert_eq!(convert(&Conv::Year, v(Value::Bytes(b"1900".to_vec()))), Ok(Value::Int(0)));
        assert_eq!(convert(&Conv::Year, v(Value::Bytes(b"2024".to_vec()))), Ok(Value::Int(2024)));
        assert_eq!(
            convert(&Conv::Timestamp, v(Value::Bytes(b"1700000000.000042".to_vec()))),
            Ok(Value::Date(2023, 11, 14, 22, 13, 20, 42))
        );
        assert_eq!(convert(&Conv::Timestamp, v(Value::Bytes(b"0".to_vec()))), Ok(Value::Date(0, 0, 0, 0, 0, 0, 0)));
        let labels = vec!["a".to_string(), "b".to_string(), "c".to_string()];
        assert_eq!(convert(&Conv::Enum(labels.clone()), v(Value::Int(2))), Ok(Value::Bytes(b"b".to_vec())));
        assert_eq!(convert(&Conv::Enum(labels.clone()), v(Value::Int(0))), Ok(Value::Bytes(Vec::new())));
        assert!(convert(&Conv::Enum(labels.clone()), v(Value::Int(4))).is_err());
        assert_eq!(convert(&Conv::Set(labels), v(Value::Bytes(vec![0b101]))), Ok(Value::Bytes(b"a,c".to_vec())));
        assert_eq!(convert(&Conv::Pad(4), v(Value::Bytes(vec![1, 0]))), Ok(Value::Bytes(vec![1, 0, 0, 0])));
        assert_eq!(
            convert(&Conv::Text(Charset::Latin1), v(Value::Bytes(vec![b'x', 0xE9, 0x80]))),
            Ok(Value::Bytes("xé€".as_bytes().to_vec()))
        );
        assert!(charset(Some("sjis")).unwrap_err().contains("sjis"));
        let time2 = crate::types::MySqlType::parse("time(2)");
        assert!(conv(&time2).unwrap_err().contains("time(2)"));
        assert!(conv(&crate::types::MySqlType::parse("time(3)")).is_ok());
    }

    #[test]
    fn json_is_printed_as_mysql_prints_it() {
        let v: serde_json::Value = serde_json::from_str(r#"{"a":1,"b":[1,"x",null],"c":{"d":true}}"#).unwrap();
        let mut out = String::new();
        print_json(&v, &mut out);
        assert_eq!(out, r#"{"a": 1, "b": [1, "x", null], "c": {"d": true}}"#);
    }
}
