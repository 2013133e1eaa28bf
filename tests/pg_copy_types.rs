//! The binary COPY encoder against a real PostgreSQL (127.0.0.1:5432, user postgres,
//! trust): every Arrow type × every target type it accepts, with edge values, loaded by
//! `COPY … FROM STDIN (FORMAT binary)` and read back as PostgreSQL's own text; and
//! every value-level rejection. Each test works in its own throw-away database.

use std::future::Future;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BinaryArray, BooleanArray, Date32Array, Decimal128Array, Decimal256Array, DurationMicrosecondArray,
    FixedSizeBinaryArray, Float32Array, Float64Array, Int16Array, Int32Array, Int64Array, Int8Array, NullArray,
    StringArray, TimestampMicrosecondArray,
};
use arrow::datatypes::{i256, Field, Schema};
use arrow::record_batch::RecordBatch;
use bytes::BytesMut;
use converge::error::Refused;
use converge::sink::postgres::copy::{CopyColumn, CopyEncoder};
use converge::sink::postgres::pgtype::{can_encode, Limit, PgTarget};
use futures::{FutureExt, SinkExt};
use tokio_postgres::{Client, NoTls, SimpleQueryMessage};

const ADMIN: &str = "host=127.0.0.1 port=5432 user=postgres dbname=postgres";

async fn connect(params: &str) -> Client {
    let (client, conn) = tokio_postgres::connect(params, NoTls).await.expect("connect to PostgreSQL");
    tokio::spawn(conn);
    client
}

/// Runs `body` against a fresh database, dropped afterwards even when `body` panics.
async fn with_db<F, Fut>(body: F)
where
    F: FnOnce(Client) -> Fut,
    Fut: Future<Output = ()>,
{
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    let name = format!("cvg_copy_{}_{nanos}", std::process::id());
    let admin = connect(ADMIN).await;
    admin.batch_execute(&format!("CREATE DATABASE {name}")).await.unwrap();
    let client = connect(&format!("host=127.0.0.1 port=5432 user=postgres dbname={name}")).await;
    client.batch_execute("SET TimeZone = 'UTC'; SET DateStyle = 'ISO'; SET IntervalStyle = 'postgres'").await.unwrap();
    let result = std::panic::AssertUnwindSafe(body(client)).catch_unwind().await;
    admin.batch_execute(&format!("DROP DATABASE {name} WITH (FORCE)")).await.unwrap();
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

/// The target of column `v` of `table`, as the loader would introspect it.
async fn target_of(client: &Client, table: &str) -> CopyColumn {
    let sql = format!(
        "SELECT t.typname::text, t.typtype::text, a.atttypmod::text FROM pg_attribute a \
         JOIN pg_type t ON t.oid = a.atttypid WHERE a.attrelid = '{table}'::regclass AND a.attname = 'v'"
    );
    let rows = rows(client, &sql).await;
    let (typname, typtype, typmod) =
        (rows[0][0].clone().unwrap(), rows[0][1].clone().unwrap(), rows[0][2].clone().unwrap());
    let target = if typtype == "e" {
        PgTarget::Text
    } else {
        PgTarget::from_pg_type_name(&typname).unwrap_or_else(|| panic!("no target for {typname}"))
    };
    let typmod: i32 = typmod.parse().unwrap();
    let max_chars =
        (matches!(typname.as_str(), "varchar" | "bpchar" | "_varchar") && typmod >= 4).then(|| (typmod - 4) as usize);
    let limit = if typtype == "e" { Limit::None } else { Limit::from_typmod(&typname, typmod) };
    CopyColumn { name: "v".into(), target, max_chars, limit, ..Default::default() }
}

async fn rows(client: &Client, sql: &str) -> Vec<Vec<Option<String>>> {
    let mut out = Vec::new();
    for m in client.simple_query(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}")) {
        if let SimpleQueryMessage::Row(r) = m {
            out.push((0..r.len()).map(|i| r.get(i).map(str::to_string)).collect());
        }
    }
    out
}

/// Sends header + body + trailer to `COPY table (cols) FROM STDIN (FORMAT binary)`.
async fn copy(client: &Client, table: &str, cols: &str, body: &[u8]) -> Result<u64, tokio_postgres::Error> {
    let mut buf = BytesMut::new();
    CopyEncoder::header(&mut buf);
    buf.extend_from_slice(body);
    CopyEncoder::trailer(&mut buf);
    let sink = client.copy_in(&format!("COPY {table} ({cols}) FROM STDIN (FORMAT binary)")).await?;
    let mut sink = Box::pin(sink);
    sink.send(buf.freeze()).await?;
    sink.as_mut().finish().await
}

/// A two-column batch: `i` (row number) and `v`.
fn batch(v: ArrayRef) -> RecordBatch {
    let n = v.len() as i32;
    let schema = Schema::new(vec![
        Field::new("i", arrow::datatypes::DataType::Int32, false),
        Field::new("v", v.data_type().clone(), true),
    ]);
    RecordBatch::try_new(Arc::new(schema), vec![Arc::new(Int32Array::from_iter_values(0..n)), v]).unwrap()
}

fn encoder(b: &RecordBatch, v: CopyColumn) -> Result<CopyEncoder, String> {
    let i = CopyColumn { name: "i".into(), target: PgTarget::Int4, max_chars: None, ..Default::default() };
    CopyEncoder::new(b.schema().as_ref(), vec![i, v]).map_err(|e| e.to_string())
}

/// One case: values of one Arrow array into a column of one PostgreSQL type.
struct Case {
    pg: &'static str,
    values: ArrayRef,
    expect: Vec<Option<&'static str>>,
}

fn case(pg: &'static str, values: ArrayRef, expect: &[Option<&'static str>]) -> Case {
    assert_eq!(values.len(), expect.len(), "case {pg}: values and expectations differ in length");
    Case { pg, values, expect: expect.to_vec() }
}

/// Loads every case into its own table and compares `v::text`; reports all mismatches.
async fn run_cases(client: &Client, cases: Vec<Case>) {
    let mut failures = Vec::new();
    for (k, c) in cases.iter().enumerate() {
        let table = format!("t{k}");
        client.batch_execute(&format!("CREATE TABLE {table} (i int4, v {})", c.pg)).await.unwrap();
        let label = format!("{} → {}", c.values.data_type(), c.pg);
        let b = batch(c.values.clone());
        let col = target_of(client, &table).await;
        assert!(can_encode(c.values.data_type(), col.target), "{label}: can_encode says no");
        let mut enc = encoder(&b, col).unwrap_or_else(|e| panic!("{label}: {e}"));
        let mut body = BytesMut::new();
        enc.encode(&b, &mut body).unwrap_or_else(|r| panic!("{label}: rejected {r}"));
        match copy(client, &table, "i, v", &body).await {
            Ok(n) if n == b.num_rows() as u64 => {}
            Ok(n) => failures.push(format!("{label}: COPY reported {n} rows, expected {}", b.num_rows())),
            Err(e) => {
                failures.push(format!(
                    "{label}: COPY failed: {}",
                    e.as_db_error().map_or(e.to_string(), |d| d.message().to_string())
                ));
                continue;
            }
        }
        let got: Vec<Option<String>> = rows(client, &format!("SELECT v::text FROM {table} ORDER BY i"))
            .await
            .into_iter()
            .map(|mut r| r.remove(0))
            .collect();
        let want: Vec<Option<String>> = c.expect.iter().map(|e| e.map(str::to_string)).collect();
        if got != want {
            failures.push(format!("{label}:\n   got {got:?}\n  want {want:?}"));
        }
    }
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), cases.len(), failures.join("\n"));
}

fn arr<A: arrow::array::Array + 'static>(a: A) -> ArrayRef {
    Arc::new(a)
}

fn d128(values: &[Option<i128>], p: u8, s: i8) -> ArrayRef {
    arr(Decimal128Array::from(values.to_vec()).with_precision_and_scale(p, s).unwrap())
}

fn d256(values: &[Option<&str>], p: u8, s: i8) -> ArrayRef {
    let v: Vec<Option<i256>> = values.iter().map(|o| o.map(|t| i256::from_string(t).unwrap())).collect();
    arr(Decimal256Array::from(v).with_precision_and_scale(p, s).unwrap())
}

const UUID_BYTES: [u8; 16] =
    [0xa0, 0xee, 0xbc, 0x99, 0x9c, 0x0b, 0x4e, 0xf8, 0xbb, 0x6d, 0x6b, 0xb9, 0xbd, 0x38, 0x0a, 0x11];
const H: i64 = 3_600_000_000;
const MAX_TIME: i64 = (838 * 3600 + 59 * 60 + 59) * 1_000_000;

fn numeric_and_int_cases() -> Vec<Case> {
    vec![
        case(
            "bool",
            arr(BooleanArray::from(vec![Some(true), Some(false), None])),
            &[Some("true"), Some("false"), None],
        ),
        case("int2", arr(BooleanArray::from(vec![Some(true), Some(false)])), &[Some("1"), Some("0")]),
        case("int4", arr(BooleanArray::from(vec![Some(true), None])), &[Some("1"), None]),
        case("int8", arr(BooleanArray::from(vec![Some(false)])), &[Some("0")]),
        case("bool", arr(Int8Array::from(vec![Some(0), Some(1), None])), &[Some("false"), Some("true"), None]),
        case("bool", arr(Int16Array::from(vec![1, 0])), &[Some("true"), Some("false")]),
        case("bool", arr(Int32Array::from(vec![1])), &[Some("true")]),
        case("bool", arr(Int64Array::from(vec![0])), &[Some("false")]),
        case(
            "int2",
            arr(Int8Array::from(vec![Some(i8::MIN), Some(i8::MAX), None])),
            &[Some("-128"), Some("127"), None],
        ),
        case("int2", arr(Int16Array::from(vec![i16::MIN, i16::MAX])), &[Some("-32768"), Some("32767")]),
        case("int2", arr(Int64Array::from(vec![-32768, 32767])), &[Some("-32768"), Some("32767")]),
        case(
            "int4",
            arr(Int32Array::from(vec![i32::MIN, i32::MAX, 0])),
            &[Some("-2147483648"), Some("2147483647"), Some("0")],
        ),
        case("int4", arr(Int16Array::from(vec![-5])), &[Some("-5")]),
        case(
            "int8",
            arr(Int64Array::from(vec![Some(i64::MIN), Some(i64::MAX), None])),
            &[Some("-9223372036854775808"), Some("9223372036854775807"), None],
        ),
        case("int8", arr(Int8Array::from(vec![-1])), &[Some("-1")]),
        case(
            "numeric",
            arr(Int64Array::from(vec![i64::MIN, i64::MAX, 0, -1, 10000, 100000000])),
            &[
                Some("-9223372036854775808"),
                Some("9223372036854775807"),
                Some("0"),
                Some("-1"),
                Some("10000"),
                Some("100000000"),
            ],
        ),
        case("numeric(5)", arr(Int8Array::from(vec![-128, 127])), &[Some("-128"), Some("127")]),
        case("numeric", arr(Int16Array::from(vec![i16::MIN])), &[Some("-32768")]),
        case("numeric", arr(Int32Array::from(vec![i32::MAX])), &[Some("2147483647")]),
        case("float8", arr(Int64Array::from(vec![9007199254740992, -5])), &[Some("9.007199254740992e+15"), Some("-5")]),
        case("float8", arr(Int32Array::from(vec![i32::MIN])), &[Some("-2147483648")]),
        case("float4", arr(Int32Array::from(vec![16777216, -3])), &[Some("1.6777216e+07"), Some("-3")]),
        case("text", arr(Int64Array::from(vec![Some(i64::MIN), None])), &[Some("-9223372036854775808"), None]),
        case("varchar(4)", arr(Int8Array::from(vec![-128])), &[Some("-128")]),
        case(
            "numeric(20,0)",
            d128(&[Some(18446744073709551615), Some(0), None], 20, 0),
            &[Some("18446744073709551615"), Some("0"), None],
        ),
        case("int8", d128(&[Some(9223372036854775807), Some(0)], 20, 0), &[Some("9223372036854775807"), Some("0")]),
        case("text", d128(&[Some(18446744073709551615)], 20, 0), &[Some("18446744073709551615")]),
        case(
            "numeric(10,2)",
            d128(&[Some(-1234567890), Some(0), Some(-5), Some(150)], 10, 2),
            &[Some("-12345678.90"), Some("0.00"), Some("-0.05"), Some("1.50")],
        ),
        case("text", d128(&[Some(-5), Some(0)], 10, 2), &[Some("-0.05"), Some("0.00")]),
        case("int2", d128(&[Some(-3276800)], 10, 2), &[Some("-32768")]),
        case("int4", d128(&[Some(7)], 5, 0), &[Some("7")]),
        case(
            "numeric(38,30)",
            d128(
                &[
                    Some(1),
                    Some(-12345678_123456789012345678901234567890),
                    Some(99999999999999999999999999999999999999),
                ],
                38,
                30,
            ),
            &[
                Some("0.000000000000000000000000000001"),
                Some("-12345678.123456789012345678901234567890"),
                Some("99999999.999999999999999999999999999999"),
            ],
        ),
        case(
            "numeric",
            d128(&[Some(i128::MAX), Some(-i128::MAX)], 38, 0),
            &[Some("170141183460469231731687303715884105727"), Some("-170141183460469231731687303715884105727")],
        ),
        case(
            "numeric(65,30)",
            d256(
                &[
                    Some("12345678901234567890123456789012345123456789012345678901234567890"),
                    Some("-99999999999999999999999999999999999999999999999999999999999999999"),
                    Some("1"),
                    Some("-1"),
                    Some("0"),
                    Some("1000000000000000000000000000000"),
                    Some("10000000000000000000000000000000000"),
                    None,
                ],
                65,
                30,
            ),
            &[
                Some("12345678901234567890123456789012345.123456789012345678901234567890"),
                Some("-99999999999999999999999999999999999.999999999999999999999999999999"),
                Some("0.000000000000000000000000000001"),
                Some("-0.000000000000000000000000000001"),
                Some("0.000000000000000000000000000000"),
                Some("1.000000000000000000000000000000"),
                Some("10000.000000000000000000000000000000"),
                None,
            ],
        ),
        case(
            "numeric",
            d256(&[Some("9999999999999999999999999999999999999999999999999999999999999999999999999999")], 76, 0),
            &[Some("9999999999999999999999999999999999999999999999999999999999999999999999999999")],
        ),
        case(
            "text",
            d256(&[Some("-12345678901234567890123456789012345123456789012345678901234567890")], 65, 30),
            &[Some("-12345678901234567890123456789012345.123456789012345678901234567890")],
        ),
        case(
            "int8",
            d256(
                &[Some("42000000000000000000000000000000"), Some("-9223372036854775808000000000000000000000000000000")],
                65,
                30,
            ),
            &[Some("42"), Some("-9223372036854775808")],
        ),
        case("int2", d256(&[Some("-7")], 40, 0), &[Some("-7")]),
        case("int4", d256(&[Some("2147483647")], 40, 0), &[Some("2147483647")]),
        case(
            "float4",
            arr(Float32Array::from(vec![
                Some(f32::MAX),
                Some(f32::NAN),
                Some(f32::INFINITY),
                Some(f32::NEG_INFINITY),
                Some(-0.0),
                Some(1.5),
                Some(0.1),
                Some(f32::MIN_POSITIVE),
                None,
            ])),
            &[
                Some("3.4028235e+38"),
                Some("NaN"),
                Some("Infinity"),
                Some("-Infinity"),
                Some("-0"),
                Some("1.5"),
                Some("0.1"),
                Some("1.1754944e-38"),
                None,
            ],
        ),
        case(
            "float8",
            // A FLOAT into double precision is its own value, not its shortest text's double.
            arr(Float32Array::from(vec![0.1, f32::MAX, f32::NAN, f32::NEG_INFINITY, -0.0])),
            &[Some("0.10000000149011612"), Some("3.4028234663852886e+38"), Some("NaN"), Some("-Infinity"), Some("-0")],
        ),
        case(
            "numeric",
            arr(Float32Array::from(vec![0.1, -1.5, f32::MAX, f32::NAN, f32::INFINITY, -0.0])),
            &[
                Some("0.1"),
                Some("-1.5"),
                Some("340282350000000000000000000000000000000"),
                Some("NaN"),
                Some("Infinity"),
                Some("0"),
            ],
        ),
        case(
            "float8",
            arr(Float64Array::from(vec![
                Some(f64::MAX),
                Some(f64::MIN_POSITIVE),
                Some(5e-324),
                Some(f64::NAN),
                Some(f64::INFINITY),
                Some(f64::NEG_INFINITY),
                Some(-0.0),
                Some(0.1),
                None,
            ])),
            &[
                Some("1.7976931348623157e+308"),
                Some("2.2250738585072014e-308"),
                Some("5e-324"),
                Some("NaN"),
                Some("Infinity"),
                Some("-Infinity"),
                Some("-0"),
                Some("0.1"),
                None,
            ],
        ),
        case(
            "numeric",
            arr(Float64Array::from(vec![0.1, -2.5e-10, 1e20, -0.0, f64::NEG_INFINITY, 123456.789])),
            &[
                Some("0.1"),
                Some("-0.00000000025"),
                Some("100000000000000000000"),
                Some("0"),
                Some("-Infinity"),
                Some("123456.789"),
            ],
        ),
        case("int4", arr(NullArray::new(2)), &[None, None]),
    ]
}

fn time_cases() -> Vec<Case> {
    // Days since 1970 of 0001-01-01, 9999-12-31, 1969-12-31, 1900-02-28, 2000-01-01, 2024-02-29.
    let days = || {
        arr(Date32Array::from(vec![
            Some(-719_162),
            Some(2_932_896),
            Some(-1),
            Some(-25_509),
            Some(10_957),
            Some(19_782),
            None,
        ]))
    };
    let micros = vec![
        Some(-1),
        Some(946_684_800_000_000 - 1),
        Some(946_684_800_000_001),
        Some(-62_135_596_800_000_000),
        Some(253_402_300_799_999_999),
        Some(0),
        None,
    ];
    vec![
        case(
            "date",
            days(),
            &[
                Some("0001-01-01"),
                Some("9999-12-31"),
                Some("1969-12-31"),
                Some("1900-02-28"),
                Some("2000-01-01"),
                Some("2024-02-29"),
                None,
            ],
        ),
        case(
            "timestamp",
            days(),
            &[
                Some("0001-01-01 00:00:00"),
                Some("9999-12-31 00:00:00"),
                Some("1969-12-31 00:00:00"),
                Some("1900-02-28 00:00:00"),
                Some("2000-01-01 00:00:00"),
                Some("2024-02-29 00:00:00"),
                None,
            ],
        ),
        case(
            "timestamptz",
            days(),
            &[
                Some("0001-01-01 00:00:00+00"),
                Some("9999-12-31 00:00:00+00"),
                Some("1969-12-31 00:00:00+00"),
                Some("1900-02-28 00:00:00+00"),
                Some("2000-01-01 00:00:00+00"),
                Some("2024-02-29 00:00:00+00"),
                None,
            ],
        ),
        case(
            "text",
            days(),
            &[
                Some("0001-01-01"),
                Some("9999-12-31"),
                Some("1969-12-31"),
                Some("1900-02-28"),
                Some("2000-01-01"),
                Some("2024-02-29"),
                None,
            ],
        ),
        case(
            "timestamp",
            arr(TimestampMicrosecondArray::from(micros.clone())),
            &[
                Some("1969-12-31 23:59:59.999999"),
                Some("1999-12-31 23:59:59.999999"),
                Some("2000-01-01 00:00:00.000001"),
                Some("0001-01-01 00:00:00"),
                Some("9999-12-31 23:59:59.999999"),
                Some("1970-01-01 00:00:00"),
                None,
            ],
        ),
        case(
            "timestamptz",
            arr(TimestampMicrosecondArray::from(micros.clone())),
            &[
                Some("1969-12-31 23:59:59.999999+00"),
                Some("1999-12-31 23:59:59.999999+00"),
                Some("2000-01-01 00:00:00.000001+00"),
                Some("0001-01-01 00:00:00+00"),
                Some("9999-12-31 23:59:59.999999+00"),
                Some("1970-01-01 00:00:00+00"),
                None,
            ],
        ),
        case(
            "timestamptz",
            arr(TimestampMicrosecondArray::from(micros.clone()).with_timezone("UTC")),
            &[
                Some("1969-12-31 23:59:59.999999+00"),
                Some("1999-12-31 23:59:59.999999+00"),
                Some("2000-01-01 00:00:00.000001+00"),
                Some("0001-01-01 00:00:00+00"),
                Some("9999-12-31 23:59:59.999999+00"),
                Some("1970-01-01 00:00:00+00"),
                None,
            ],
        ),
        case(
            "timestamp(6)",
            arr(TimestampMicrosecondArray::from(micros).with_timezone("UTC")),
            &[
                Some("1969-12-31 23:59:59.999999"),
                Some("1999-12-31 23:59:59.999999"),
                Some("2000-01-01 00:00:00.000001"),
                Some("0001-01-01 00:00:00"),
                Some("9999-12-31 23:59:59.999999"),
                Some("1970-01-01 00:00:00"),
                None,
            ],
        ),
        case(
            "interval",
            arr(DurationMicrosecondArray::from(vec![
                Some(-MAX_TIME),
                Some(MAX_TIME),
                Some(0),
                Some(1_500_000),
                Some(-1),
                Some(25 * H),
                None,
            ])),
            &[
                Some("-838:59:59"),
                Some("838:59:59"),
                Some("00:00:00"),
                Some("00:00:01.5"),
                Some("-00:00:00.000001"),
                Some("25:00:00"),
                None,
            ],
        ),
        case(
            "time",
            arr(DurationMicrosecondArray::from(vec![
                Some(0),
                Some(24 * H - 1),
                Some(24 * H),
                Some(12 * H + 34 * 60_000_000 + 56_789_000),
                None,
            ])),
            &[Some("00:00:00"), Some("23:59:59.999999"), Some("24:00:00"), Some("12:34:56.789"), None],
        ),
    ]
}

fn text_cases() -> Vec<Case> {
    let texts = vec![
        Some("héllo 😀 ☃"),
        Some("a\nb\r\tc"),
        Some("quote ' \" back\\slash"),
        Some("\u{1}\u{1f}\u{7f}"),
        Some(""),
        None,
    ];
    let set = || arr(StringArray::from(vec![Some("a,b,c"), Some(""), Some("x"), Some("with space,b"), None]));
    let json = r#"{"a": "say \"hi\" \\ there", "b": [1, {"c": null}], "é": "\u00e9"}"#;
    vec![
        case("text", arr(StringArray::from(texts.clone())), &texts),
        case("varchar(20)", arr(StringArray::from(texts.clone())), &texts),
        case("citext", arr(StringArray::from(texts.clone())), &texts),
        case("varchar(3)", arr(StringArray::from(vec!["😀😀😀", "abc"])), &[Some("😀😀😀"), Some("abc")]),
        case("char(3)", arr(StringArray::from(vec!["abc", "é ü"])), &[Some("abc"), Some("é ü")]),
        case("mood", arr(StringArray::from(vec![Some("sad"), Some("ok"), None])), &[Some("sad"), Some("ok"), None]),
        case(
            "uuid",
            arr(StringArray::from(vec![
                Some("A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11"),
                Some("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a12"),
                None,
            ])),
            &[Some("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"), Some("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a12"), None],
        ),
        case(
            "json",
            arr(StringArray::from(vec![Some(json), Some("null"), Some("[]"), None])),
            &[Some(json), Some("null"), Some("[]"), None],
        ),
        case(
            "jsonb",
            arr(StringArray::from(vec![Some(json), Some("null"), Some("[]"), None])),
            &[Some(r#"{"a": "say \"hi\" \\ there", "b": [1, {"c": null}], "é": "é"}"#), Some("null"), Some("[]"), None],
        ),
        case("text[]", set(), &[Some("{a,b,c}"), Some("{}"), Some("{x}"), Some(r#"{"with space",b}"#), None]),
        case("varchar(10)[]", set(), &[Some("{a,b,c}"), Some("{}"), Some("{x}"), Some(r#"{"with space",b}"#), None]),
        case(
            "uuid",
            arr(FixedSizeBinaryArray::try_from_sparse_iter_with_size(vec![Some(UUID_BYTES), None].into_iter(), 16)
                .unwrap()),
            &[Some("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"), None],
        ),
        case(
            "bytea",
            arr(FixedSizeBinaryArray::try_from_iter(vec![UUID_BYTES].into_iter()).unwrap()),
            &[Some("\\xa0eebc999c0b4ef8bb6d6bb9bd380a11")],
        ),
        case(
            "bytea",
            arr(BinaryArray::from(vec![Some(&b"\x00\x01\xff"[..]), Some(&b""[..]), Some(&b"\\"[..]), None])),
            &[Some("\\x0001ff"), Some("\\x"), Some("\\x5c"), None],
        ),
    ]
}

#[tokio::test]
async fn every_type_and_target_round_trips() {
    with_db(|client| async move {
        client.batch_execute("CREATE EXTENSION citext; CREATE TYPE mood AS ENUM ('sad', 'ok')").await.unwrap();
        let mut cases = numeric_and_int_cases();
        cases.extend(time_cases());
        cases.extend(text_cases());
        run_cases(&client, cases).await;
    })
    .await;
}

/// A wide batch of many rows, sliced (so arrays have offsets), in one COPY.
#[tokio::test]
async fn wide_sliced_batch_counts_rows() {
    with_db(|client| async move {
        let n = 5000;
        let schema = Schema::new(vec![
            Field::new("i", arrow::datatypes::DataType::Int64, false),
            Field::new("d", arrow::datatypes::DataType::Decimal128(20, 0), true),
            Field::new("s", arrow::datatypes::DataType::Utf8, true),
            Field::new("b", arrow::datatypes::DataType::Boolean, true),
        ]);
        let b = RecordBatch::try_new(
            Arc::new(schema),
            vec![
                arr(Int64Array::from_iter_values(0..n)),
                arr(Decimal128Array::from_iter((0..n).map(|i| (i % 7 != 0).then_some(i as i128 * 1_000_000_007)))
                    .with_precision_and_scale(20, 0)
                    .unwrap()),
                arr(StringArray::from_iter((0..n).map(|i| (i % 5 != 0).then(|| format!("row {i}"))))),
                arr(BooleanArray::from_iter((0..n).map(|i| (i % 3 != 0).then_some(i % 2 == 0)))),
            ],
        )
        .unwrap();
        client
            .batch_execute("CREATE TABLE w (i int8 primary key, d numeric(20), s varchar(12), b bool)")
            .await
            .unwrap();
        let col =
            |name: &str, target, max_chars| CopyColumn { name: name.into(), target, max_chars, ..Default::default() };
        let mut enc = CopyEncoder::new(
            b.schema().as_ref(),
            vec![
                col("i", PgTarget::Int8, None),
                col("d", PgTarget::Numeric, None),
                col("s", PgTarget::Text, Some(12)),
                col("b", PgTarget::Bool, None),
            ],
        )
        .unwrap();
        let sliced = b.slice(1000, 3000);
        let mut body = BytesMut::new();
        enc.encode(&sliced, &mut body).unwrap();
        assert_eq!(copy(&client, "w", "i, d, s, b", &body).await.unwrap(), 3000);
        let r = rows(
            &client,
            "SELECT count(*)::text, min(i)::text, max(i)::text, sum(d)::text, count(s)::text, count(b)::text, \
            bool_and(b = (i % 2 = 0))::text, bool_and(s = 'row ' || i)::text FROM w",
        )
        .await;
        let expect_sum: i128 = (1000..4000).filter(|i| i % 7 != 0).map(|i| i as i128 * 1_000_000_007).sum();
        let expect_s = (1000..4000).filter(|i| i % 5 != 0).count();
        let expect_b = (1000..4000).filter(|i| i % 3 != 0).count();
        let want: Vec<Option<String>> = [
            "3000",
            "1000",
            "3999",
            &expect_sum.to_string(),
            &expect_s.to_string(),
            &expect_b.to_string(),
            "true",
            "true",
        ]
        .iter()
        .map(|s| Some(s.to_string()))
        .collect();
        assert_eq!(r[0], want);
    })
    .await;
}

/// Encodes a one-column batch `v` for `target` and returns the rejection.
fn reject(values: ArrayRef, target: PgTarget, max_chars: Option<usize>) -> (Refused, BytesMut) {
    let b = batch(values);
    let mut enc = encoder(&b, CopyColumn { name: "v".into(), target, max_chars, ..Default::default() }).unwrap();
    let mut out = BytesMut::new();
    let r = enc.encode(&b, &mut out).expect_err("a value must be rejected");
    (r, out)
}

#[test]
fn rejections_name_row_column_value_and_reason() {
    let (r, _) = reject(arr(StringArray::from(vec!["abc", "abcd"])), PgTarget::Text, Some(3));
    assert_eq!((r.row, r.column.as_str(), r.value.as_str()), (1, "v", "'abcd'"));
    assert!(r.reason.contains("4 characters") && r.reason.contains("3"), "{}", r.reason);

    let (r, _) = reject(arr(Int8Array::from(vec![0, 1, 2])), PgTarget::Bool, None);
    assert_eq!((r.row, r.value.as_str(), r.reason.as_str()), (2, "2", "is not 0 or 1 (target boolean)"));

    let (r, _) = reject(arr(Int32Array::from(vec![70000])), PgTarget::Int2, None);
    assert_eq!((r.row, r.value.as_str(), r.reason.as_str()), (0, "70000", "does not fit smallint"));

    let (r, _) = reject(arr(Int64Array::from(vec![i64::MAX])), PgTarget::Int4, None);
    assert_eq!(r.reason, "does not fit integer");

    for junk in [
        "junk",
        "",
        "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1",
        "a0eebc999c0b4ef8bb6d6bb9bd380a11",
        "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1g",
    ] {
        let (r, _) = reject(arr(StringArray::from(vec![junk])), PgTarget::Uuid, None);
        assert_eq!((r.row, r.value.as_str()), (0, format!("'{junk}'").as_str()));
        assert!(r.reason.contains("not a UUID"), "{}", r.reason);
    }

    let (r, _) = reject(arr(DurationMicrosecondArray::from(vec![H, 25 * H])), PgTarget::Time, None);
    assert_eq!((r.row, r.value.as_str()), (1, "25:00:00"));
    assert!(r.reason.contains("time"), "{}", r.reason);
    let (r, _) = reject(arr(DurationMicrosecondArray::from(vec![-1])), PgTarget::Time, None);
    assert_eq!(r.value, "-0:00:00.000001");

    let (r, _) = reject(d128(&[Some(18446744073709551615)], 20, 0), PgTarget::Int8, None);
    assert_eq!((r.value.as_str(), r.reason.as_str()), ("18446744073709551615", "does not fit bigint"));
    let (r, _) = reject(d128(&[Some(150)], 10, 2), PgTarget::Int4, None);
    assert!(r.reason.contains("fractional"), "{}", r.reason);

    let (r, _) = reject(arr(Int64Array::from(vec![9007199254740993])), PgTarget::Float8, None);
    assert!(r.reason.contains("exactly"), "{}", r.reason);

    let (r, _) = reject(arr(StringArray::from(vec!["a\0b"])), PgTarget::Text, None);
    assert!(r.reason.contains("NUL"), "{}", r.reason);
    let (r, _) = reject(arr(StringArray::from(vec!["ok,toolong"])), PgTarget::VarcharArray, Some(5));
    assert!(r.reason.contains("element"), "{}", r.reason);

    let long = "x".repeat(200);
    let (r, _) = reject(arr(StringArray::from(vec![long.as_str()])), PgTarget::Text, Some(10));
    assert!(r.value.chars().count() <= 62, "value not shortened: {}", r.value);
    assert!(r.to_string().starts_with("row 0, column `v`: value 'xxx"), "{r}");
}

#[test]
fn unsupported_pairs_fail_when_built() {
    for (t, target) in [
        (arrow::datatypes::DataType::Float64, PgTarget::Int4),
        (arrow::datatypes::DataType::Utf8, PgTarget::Int4),
        (arrow::datatypes::DataType::Binary, PgTarget::Uuid),
        (arrow::datatypes::DataType::FixedSizeBinary(8), PgTarget::Uuid),
        (arrow::datatypes::DataType::Date32, PgTarget::Interval),
        (
            arrow::datatypes::DataType::Timestamp(arrow::datatypes::TimeUnit::Microsecond, Some("Europe/Paris".into())),
            PgTarget::Timestamp,
        ),
        (arrow::datatypes::DataType::Timestamp(arrow::datatypes::TimeUnit::Nanosecond, None), PgTarget::Timestamp),
        (arrow::datatypes::DataType::Float64, PgTarget::Float4),
    ] {
        assert!(!can_encode(&t, target), "{t} → {target}");
        let schema = Schema::new(vec![Field::new("x", t.clone(), true)]);
        let err = CopyEncoder::new(
            &schema,
            vec![CopyColumn { name: "x".into(), target, max_chars: None, ..Default::default() }],
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("`x`") && err.contains(target.sql_name()), "{err}");
    }
    assert_eq!(PgTarget::from_pg_type_name("_varchar"), Some(PgTarget::VarcharArray));
    assert_eq!(PgTarget::from_pg_type_name("bpchar"), Some(PgTarget::Text));
    assert_eq!(PgTarget::from_pg_type_name("point"), None);
}

/// A rejection leaves the rows before it in the buffer, complete and loadable.
#[tokio::test]
async fn rejected_row_leaves_earlier_rows_loadable() {
    with_db(|client| async move {
        client.batch_execute("CREATE TABLE r (i int4, v int2)").await.unwrap();
        let (r, out) = reject(arr(Int32Array::from(vec![1, 2, 70000, 4])), PgTarget::Int2, None);
        assert_eq!(r.row, 2);
        assert_eq!(copy(&client, "r", "i, v", &out).await.unwrap(), 2);
        assert_eq!(
            rows(&client, "SELECT string_agg(v::text, ',' ORDER BY i) FROM r").await[0][0].as_deref(),
            Some("1,2")
        );
    })
    .await;
}
