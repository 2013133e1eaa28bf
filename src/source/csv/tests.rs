//! Tests of the CSV export reader over real files: values of every logical type, the
//! NULL/empty/`"\N"` distinction, batching, and every error with its line and column.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use arrow::array::*;
use arrow::datatypes::{i256, DataType, TimeUnit};
use arrow::record_batch::RecordBatch;

use super::*;
use crate::error::Error;
use crate::types::Logical;

/// Writes `content` to a fresh file in the temp directory.
pub(crate) fn temp_csv(content: &[u8]) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!("converge-csv-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("t{}.csv", N.fetch_add(1, Ordering::Relaxed)));
    std::fs::write(&path, content).unwrap();
    path
}

fn cols(spec: &[(&str, Logical)]) -> Vec<CsvColumn> {
    spec.iter().map(|(n, l)| CsvColumn::new(*n, *l)).collect()
}

fn read_all(content: &[u8], spec: &[(&str, Logical)], batch_rows: usize) -> crate::Result<Vec<RecordBatch>> {
    let path = temp_csv(content);
    let reader = CsvReader::open(&path, cols(spec), batch_rows)?;
    reader.collect()
}

fn one(content: &str, spec: &[(&str, Logical)]) -> RecordBatch {
    let batches = read_all(content.as_bytes(), spec, 1000).unwrap();
    assert_eq!(batches.len(), 1);
    batches.into_iter().next().unwrap()
}

/// The (line, column, message) of the error reading `content`.
fn err(content: &[u8], spec: &[(&str, Logical)]) -> (u64, Option<String>, String) {
    match read_all(content, spec, 2).unwrap_err() {
        Error::Input { line, column, message, .. } => (line, column, message),
        other => panic!("unexpected error {other}"),
    }
}

#[test]
fn null_empty_and_literal_backslash_n() {
    let b = one("s\n\\N\n\"\"\n\"\\N\"\n", &[("s", Logical::Text)]);
    let s = b.column(0).as_string::<i32>();
    assert!(s.is_null(0));
    assert_eq!((s.is_valid(1), s.value(1)), (true, ""));
    assert_eq!((s.is_valid(2), s.value(2)), (true, "\\N"));
}

#[test]
fn text_is_preserved_exactly() {
    let values = [
        "line1\nline2",
        "cr\rhere",
        "crlf\r\nx",
        "tab\there",
        "say \"hi\"",
        "back\\slash\\N",
        "😀 ünï",
        ",",
        " lead",
        "{\"a\": [1, \"x\"]}",
    ];
    let mut content = String::from("id,body\n");
    for (i, v) in values.iter().enumerate() {
        content.push_str(&format!("{i},\"{}\"\n", v.replace('"', "\"\"")));
    }
    content.push_str("99,plain text\n");
    let b = one(&content, &[("id", Logical::Int32), ("body", Logical::Json)]);
    let s = b.column(1).as_string::<i32>();
    for (i, v) in values.iter().enumerate() {
        assert_eq!(s.value(i), *v);
    }
    assert_eq!(s.value(values.len()), "plain text");
}

/// One column of every logical type.
fn every_type() -> [(&'static str, Logical); 21] {
    [
        ("b", Logical::Bool),
        ("i8", Logical::Int8),
        ("i16", Logical::Int16),
        ("i32", Logical::Int32),
        ("i64", Logical::Int64),
        ("u64", Logical::UInt64),
        ("d", Logical::Decimal(10, 4)),
        ("big", Logical::Decimal(65, 30)),
        ("f32", Logical::Float32),
        ("f64", Logical::Float64),
        ("date", Logical::Date),
        ("dt", Logical::DateTime),
        ("ts", Logical::Timestamp),
        ("tm", Logical::Time),
        ("y", Logical::Year),
        ("uuid", Logical::Uuid),
        ("ub", Logical::UuidBinary),
        ("bin", Logical::Binary),
        ("geo", Logical::Geometry),
        ("e", Logical::Enum),
        ("set", Logical::Set),
    ]
}

/// A file of three rows over [`every_type`]: extreme values, other values, NULLs; and
/// the 65-digit decimal its first row holds.
fn every_type_file(spec: &[(&str, Logical)]) -> (String, String) {
    let header = spec.iter().map(|s| s.0).collect::<Vec<_>>().join(",");
    let big = format!("-{}.{}", "9".repeat(35), "0".repeat(29) + "1");
    let rows = [
        format!("t,-128,-32768,-2147483648,{},18446744073709551615,-123.4500,{big},3.4028235e38,1e300,0001-01-01,1969-12-31T23:59:59.999999Z,1969-12-31T23:59:59.999999Z,-838:59:59,1901,0f8fad5b-d9cb-469f-a165-70867728950e,\\x0f8fad5bd9cb469fa16570867728950e,\\x00ff,\\x,a,\"a,b\"", i64::MIN),
        "f,127,32767,2147483647,9223372036854775807,0,7,0.1,NaN,-0.0,9999-12-31,2024-01-15T10:30:00Z,2024-01-15T10:30:00.123456Z,838:59:59,2155,x,\\x00000000000000000000000000000000,\\xDEADbeef,\\x01,\"\",\"\"".to_string(),
        "\\N,\\N,\\N,\\N,\\N,\\N,\\N,\\N,Infinity,-Infinity,\\N,\\N,\\N,0:00:00.000001,\\N,\\N,\\N,\\N,\\N,\\N,\\N".to_string(),
    ];
    (format!("{header}\n{}\n", rows.join("\n")), big)
}

#[test]
fn every_logical_type() {
    let spec = every_type();
    let (content, big) = every_type_file(&spec);
    let b = one(&content, &spec);
    for (field, (_, l)) in b.schema().fields().iter().zip(&spec) {
        assert_eq!(field.data_type(), &l.arrow_type());
        assert!(field.is_nullable());
    }
    let c = |i: usize| b.column(i).clone();
    let bools = c(0);
    let bools = bools.as_boolean();
    assert_eq!((bools.value(0), bools.value(1), bools.is_null(2)), (true, false, true));
    assert_eq!(c(1).as_primitive::<arrow::datatypes::Int8Type>().values()[..2], [-128, 127]);
    assert_eq!(c(2).as_primitive::<arrow::datatypes::Int16Type>().values()[..2], [-32768, 32767]);
    assert_eq!(c(3).as_primitive::<arrow::datatypes::Int32Type>().values()[..2], [i32::MIN, i32::MAX]);
    assert_eq!(c(4).as_primitive::<arrow::datatypes::Int64Type>().values()[..2], [i64::MIN, i64::MAX]);
    let u = c(5);
    let u = u.as_primitive::<arrow::datatypes::Decimal128Type>();
    assert_eq!((u.value(0), u.value(1), u.is_null(2)), (u64::MAX as i128, 0, true));
    assert_eq!(u.value_as_string(0), "18446744073709551615");
    let d = c(6);
    let d = d.as_primitive::<arrow::datatypes::Decimal128Type>();
    assert_eq!((d.value(0), d.value(1)), (-1_234_500, 70_000));
    assert_eq!(d.value_as_string(0), "-123.4500");
    let big_arr = c(7);
    let big_arr = big_arr.as_primitive::<arrow::datatypes::Decimal256Type>();
    assert_eq!(big_arr.value_as_string(0), big);
    assert_eq!(big_arr.value(1), i256::from_i128(10).pow_wrapping(29));
    let f = c(8);
    let f = f.as_primitive::<arrow::datatypes::Float32Type>();
    assert_eq!(f.value(0).to_bits(), f32::MAX.to_bits());
    assert!(f.value(1).is_nan());
    assert_eq!(f.value(2), f32::INFINITY);
    let g = c(9);
    let g = g.as_primitive::<arrow::datatypes::Float64Type>();
    assert_eq!(g.value(0), 1e300);
    assert_eq!(g.value(1).to_bits(), (-0.0f64).to_bits());
    assert_eq!(g.value(2), f64::NEG_INFINITY);
    assert_eq!(c(10).as_primitive::<arrow::datatypes::Date32Type>().values()[..2], [-719_162, 2_932_896]);
    let dt = c(11);
    assert_eq!(dt.data_type(), &DataType::Timestamp(TimeUnit::Microsecond, None));
    assert_eq!(
        dt.as_primitive::<arrow::datatypes::TimestampMicrosecondType>().values()[..2],
        [-1, 1_705_314_600_000_000]
    );
    let ts = c(12);
    assert_eq!(ts.data_type(), &DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())));
    assert_eq!(
        ts.as_primitive::<arrow::datatypes::TimestampMicrosecondType>().values()[..2],
        [-1, 1_705_314_600_123_456]
    );
    let tm = c(13);
    assert_eq!(
        tm.as_primitive::<arrow::datatypes::DurationMicrosecondType>().values()[..],
        [-3_020_399_000_000, 3_020_399_000_000, 1]
    );
    assert_eq!(c(14).as_primitive::<arrow::datatypes::Int16Type>().values()[..2], [1901, 2155]);
    assert_eq!(c(15).as_string::<i32>().value(0), "0f8fad5b-d9cb-469f-a165-70867728950e");
    let ub = c(16);
    let ub = ub.as_fixed_size_binary();
    assert_eq!(
        ub.value(0),
        [0x0f, 0x8f, 0xad, 0x5b, 0xd9, 0xcb, 0x46, 0x9f, 0xa1, 0x65, 0x70, 0x86, 0x77, 0x28, 0x95, 0x0e]
    );
    assert_eq!(ub.value(1), [0u8; 16]);
    assert!(ub.is_null(2));
    let bin = c(17);
    let bin = bin.as_binary::<i32>();
    assert_eq!((bin.value(0), bin.value(1)), (&[0u8, 255][..], &[0xde, 0xad, 0xbe, 0xef][..]));
    assert_eq!(c(18).as_binary::<i32>().value(0), b"");
    assert_eq!(c(20).as_string::<i32>().value(0), "a,b");
    assert_eq!(b.num_rows(), 3);
}

#[test]
fn batches_of_two() {
    let mut content = String::from("id,note\n");
    for i in 0..5 {
        content.push_str(&format!("{i},\"multi\nline {i}\"\n"));
    }
    let path = temp_csv(content.as_bytes());
    let mut reader = CsvReader::open(&path, cols(&[("id", Logical::Int64), ("note", Logical::Text)]), 2).unwrap();
    let sizes: Vec<usize> = reader.by_ref().map(|b| b.unwrap().num_rows()).collect();
    assert_eq!(sizes, [2, 2, 1]);
    assert_eq!(reader.rows_read(), 5);
    assert_eq!(count_and_hash(&path).unwrap().0, 5);
}

#[test]
fn header_only_gives_no_batch() {
    assert!(read_all(b"a\n", &[("a", Logical::Int32)], 2).unwrap().is_empty());
}

#[test]
fn count_and_hash_matches_sha256() {
    let path = temp_csv(b"a\n\"x\n\"\"y\"\n");
    let (n, sha) = count_and_hash(&path).unwrap();
    assert_eq!(n, 1);
    assert_eq!(sha.len(), 64);
    let empty = temp_csv(b"");
    assert!(count_and_hash(&empty).is_err());
    let header = temp_csv(b"a\n");
    let (n, sha) = count_and_hash(&header).unwrap();
    assert_eq!(n, 0);
    // sha256("a\n")
    assert_eq!(sha, "87428fc522803d31065e7bce3cf03fe475096631e5e07bbd7a0fde60c4cf25c7");
    assert!(count_and_hash(&temp_csv(b"a\n1")).is_err());
}

#[test]
fn errors_name_line_and_column() {
    use Logical::*;
    let ab = [("a", Int32), ("b", Text)];
    let some = |s: &str| Some(s.to_string());
    // A value after a multi-line record: the record starts on line 4.
    let lead = "a,b\n1,\"x\ny\"\n";
    let cases: Vec<(String, u64, Option<String>, &str)> = vec![
        (format!("{lead}2,\"open\n"), 4, some("b"), "unterminated quoted field"),
        (format!("{lead}2,\"x\"y\n"), 4, some("b"), "closing quote followed by `y`"),
        (format!("{lead}2\n"), 4, some("b"), "record has 1 fields, expected 2"),
        (format!("{lead}2,x,3\n"), 4, None, "record has 3 fields, expected 2"),
        (format!("{lead}x,y\n"), 4, some("a"), "cannot read \"x\" as int32"),
        (format!("{lead}2,y"), 4, some("b"), "truncated file"),
        (format!("{lead}\\N,\n"), 4, some("b"), "empty unquoted field"),
        (format!("{lead}99999999999,y\n"), 4, some("a"), "number too large"),
        ("a,c\n".to_string(), 1, some("b"), "wrong header: column 2 is `c` where `b` was expected"),
        ("b,a\n".to_string(), 1, some("a"), "out of order"),
        ("a\n".to_string(), 1, some("b"), "missing column `b`"),
        ("a,b,c\n".to_string(), 1, some("b"), "unexpected extra column `c`"),
        ("".to_string(), 1, None, "empty file"),
    ];
    for (content, line, column, message) in cases {
        let (l, c, m) = err(content.as_bytes(), &ab);
        assert_eq!((l, &c), (line, &column), "{content:?}: {m}");
        assert!(m.contains(message), "{content:?}: {m}");
    }
    let (l, c, m) = err(b"a,b\n1,\"ok\"\n2,\"bad \xff\"\n", &ab);
    assert_eq!((l, c.as_deref()), (3, Some("b")));
    assert!(m.contains("invalid UTF-8"), "{m}");
    let (l, c, m) = err(b"a,b\n\xc3(,x\n", &ab);
    assert_eq!((l, c.as_deref()), (2, Some("a")));
    assert!(m.contains("invalid UTF-8"), "{m}");
    let (_, c, m) = err(b"d\n1.23456\n", &[("d", Decimal(10, 4))]);
    assert_eq!(c.as_deref(), Some("d"));
    assert!(m.contains("never rounds"), "{m}");
    let (_, _, m) = err(b"u\n18446744073709551616\n", &[("u", UInt64)]);
    assert!(m.contains("too large"), "{m}");
    let (_, _, m) = err(b"u\n\\x00ff\n", &[("u", UuidBinary)]);
    assert!(m.contains("expected 16 bytes"), "{m}");
    let (_, _, m) = err(b"b\ntrue\n", &[("b", Bool)]);
    assert!(m.contains("`t` or `f`"), "{m}");
    let (_, _, m) = err(b"d\n0000-00-00\n", &[("d", Date)]);
    assert!(m.contains("month 0"), "{m}");
    // The Display form names file, line and column.
    let path = temp_csv(b"a,b\n1,2\nx,3\n");
    let e = CsvReader::open(&path, cols(&ab), 10).unwrap().collect::<crate::Result<Vec<_>>>().unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("{}:3: column `a`: cannot read \"x\" as int32: invalid digit found in string", path.display())
    );
}

#[test]
fn reader_stops_after_an_error() {
    let path = temp_csv(b"a\n1\n2\nx\n4\n");
    let mut reader = CsvReader::open(&path, cols(&[("a", Logical::Int8)]), 2).unwrap();
    assert_eq!(reader.next().unwrap().unwrap().num_rows(), 2);
    assert!(reader.next().unwrap().is_err());
    assert!(reader.next().is_none());
}

/// The writer's own output reads back to the same batch and re-encodes byte for byte.
#[test]
fn round_trips_the_csv_sink() {
    use crate::sink::csv_encode::CsvEncoder;
    use Logical::*;
    let spec = [
        ("b", Bool),
        ("i", Int64),
        ("u", UInt64),
        ("d", Decimal(12, 3)),
        ("big", Decimal(65, 30)),
        ("f", Float32),
        ("g", Float64),
        ("day", Date),
        ("dt", DateTime),
        ("ts", Timestamp),
        ("tm", Time),
        ("s", Text),
        ("j", Json),
        ("ub", UuidBinary),
        ("bin", Binary),
    ];
    let canonical = concat!(
        "b,i,u,d,big,f,g,day,dt,ts,tm,s,j,ub,bin\n",
        "t,-9223372036854775808,18446744073709551615,-123456789.012,-0.000000000000000000000000000005,3.4028235e38,0.1,0001-01-01,1969-12-31T23:59:59.999999Z,2024-01-15T10:30:00Z,-838:59:59,\"\",\"{\"\"a\"\": 1}\",\\x00112233445566778899aabbccddeeff,\\x00ff\n",
        "f,0,0,0.000,12345678901234567890123456789012345.000000000000000000000000000001,-0.0,NaN,9999-12-31,2024-02-29T00:00:00.000001Z,1970-01-01T00:00:00Z,0:00:00.000001,\"\\N\",\"\",\\x00000000000000000000000000000000,\\x\n",
        "\\N,\\N,\\N,\\N,\\N,1e-45,-Infinity,\\N,\\N,\\N,838:59:59,\"a\r\nb,\"\"c\"\"\",\\N,\\N,\\N\n",
        "\\N,\\N,\\N,\\N,\\N,\\N,Infinity,\\N,\\N,\\N,\\N,back\\slash\ttab 😀,\"\\N\",\\N,\\N\n",
    );
    let batches = read_all(canonical.as_bytes(), &spec, 3).unwrap();
    let names: Vec<&str> = spec.iter().map(|s| s.0).collect();
    let logical: Vec<Logical> = spec.iter().map(|s| s.1).collect();
    let mut out = Vec::new();
    CsvEncoder::header(&mut out, &names);
    let encoder = CsvEncoder::new(&logical);
    for b in &batches {
        encoder.encode(b, &mut out).unwrap();
    }
    assert_eq!(String::from_utf8(out.clone()).unwrap(), canonical);
    let again = read_all(&out, &spec, 3).unwrap();
    assert_eq!(again, batches);
}

/// Random texts built from the characters that matter survive the sink's quoting.
#[test]
fn random_texts_round_trip() {
    use crate::sink::csv_encode::write_text;
    let alphabet = ["", "a", ",", "\"", "\n", "\r", "\r\n", "\\", "N", "\\N", "\t", "é", "😀", " "];
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut values: Vec<Option<String>> = Vec::new();
    let mut content = b"id,s\n".to_vec();
    for id in 0..2000 {
        let value = if next() % 10 == 0 {
            None
        } else {
            let len = next() % 6;
            Some((0..len).map(|_| alphabet[(next() % alphabet.len() as u64) as usize]).collect::<String>())
        };
        content.extend_from_slice(format!("{id},").as_bytes());
        match &value {
            None => content.extend_from_slice(b"\\N"),
            Some(v) => write_text(&mut content, v.as_bytes(), false),
        }
        content.push(b'\n');
        values.push(value);
    }
    let batches = read_all(&content, &[("id", Logical::Int32), ("s", Logical::Text)], 300).unwrap();
    let read: Vec<Option<String>> = batches
        .iter()
        .flat_map(|b| b.column(1).as_string::<i32>().iter().map(|v| v.map(str::to_string)).collect::<Vec<_>>())
        .collect();
    assert_eq!(read, values);
    let path = temp_csv(&content);
    assert_eq!(count_and_hash(&path).unwrap().0, 2000);
}
