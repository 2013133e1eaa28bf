//! Micro-benchmarks of the hot paths that need no server: decoding MySQL cells into
//! Arrow (the decoder both readers share), encoding Arrow batches as spec CSV and as
//! PostgreSQL binary COPY, and scanning a mysqldump file's INSERTs into Arrow.
//!
//!     cargo bench --bench hot_paths

use std::hint::black_box;

use converge::feed::{ColumnPlan, ZeroDate};
use converge::sink::csv_encode::CsvEncoder;
use converge::source::cell::{BatchBuilder, Cell};
use converge::types::Logical;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

const ROWS: usize = 8192;

fn plans() -> Vec<ColumnPlan> {
    [
        ("id", Logical::Uuid),
        ("n", Logical::Int64),
        ("at", Logical::DateTime),
        ("body", Logical::Text),
        ("flag", Logical::Bool),
    ]
    .into_iter()
    .map(|(name, logical)| ColumnPlan {
        name: name.into(),
        logical,
        is_bit: false,
        zero_date: ZeroDate::Error,
        nullable: true,
    })
    .collect()
}

fn rows() -> Vec<(String, i64, String)> {
    (0..ROWS)
        .map(|i| {
            (
                format!("0b5e1c2a-4444-4a44-8a44-{i:012}"),
                i as i64 * 7919,
                format!("row {i}, with \"quotes\", a newline\nand emoji 😀 and some more text to make it realistic"),
            )
        })
        .collect()
}

fn decode(rows: &[(String, i64, String)]) -> arrow::record_batch::RecordBatch {
    let mut b = BatchBuilder::new(plans(), ROWS);
    for (id, n, body) in rows {
        b.push(0, Cell::Bytes(id.as_bytes())).unwrap();
        b.push(1, Cell::Int(*n)).unwrap();
        b.push(2, Cell::DateTime { year: 2024, month: 1, day: 15, hour: 10, minute: 30, second: 0, micro: 123_456 })
            .unwrap();
        b.push(3, Cell::Bytes(body.as_bytes())).unwrap();
        b.push(4, Cell::Int(*n & 1)).unwrap();
        b.end_row();
    }
    b.finish()
}

fn benches(c: &mut Criterion) {
    let rows = rows();
    let mut g = c.benchmark_group("hot_paths");
    g.throughput(Throughput::Elements(ROWS as u64));
    g.bench_function("decode MySQL cells into Arrow (8192 rows × 5 columns)", |b| b.iter(|| black_box(decode(&rows))));

    let batch = decode(&rows);
    // The CSV encoder sees normalised types: booleans as Boolean.
    let flags: arrow::array::BooleanArray = (0..ROWS).map(|i| Some(i % 2 == 1)).collect();
    let mut cols = batch.columns().to_vec();
    cols[4] = std::sync::Arc::new(flags);
    let logical = [Logical::Uuid, Logical::Int64, Logical::DateTime, Logical::Text, Logical::Bool];
    let fields: Vec<_> = logical
        .iter()
        .zip(["id", "n", "at", "body", "flag"])
        .map(|(l, n)| arrow::datatypes::Field::new(n, l.arrow_type(), true))
        .collect();
    let batch =
        arrow::record_batch::RecordBatch::try_new(std::sync::Arc::new(arrow::datatypes::Schema::new(fields)), cols)
            .unwrap();
    let encoder = CsvEncoder::new(&logical);
    let mut out = Vec::with_capacity(2 << 20);
    g.bench_function("encode Arrow as spec CSV (8192 rows × 5 columns)", |b| {
        b.iter(|| {
            out.clear();
            encoder.encode(&batch, &mut out).unwrap();
            black_box(out.len())
        })
    });

    // The COPY encoder sees the normalised batch, bound for uuid, bigint, timestamp, text, boolean.
    use converge::sink::postgres::copy::{CopyColumn, CopyEncoder};
    use converge::sink::postgres::pgtype::PgTarget;
    let targets = [PgTarget::Uuid, PgTarget::Int8, PgTarget::Timestamp, PgTarget::Text, PgTarget::Bool];
    let columns = targets
        .iter()
        .zip(["id", "n", "at", "body", "flag"])
        .map(|(t, n)| CopyColumn { name: n.into(), target: *t, max_chars: None, ..Default::default() })
        .collect();
    let mut copy = CopyEncoder::new(&batch.schema(), columns).unwrap();
    let mut buf = bytes::BytesMut::with_capacity(2 << 20);
    g.bench_function("encode Arrow as PostgreSQL binary COPY (8192 rows × 5 columns)", |b| {
        b.iter(|| {
            buf.clear();
            copy.encode(&batch, &mut buf).unwrap();
            black_box(buf.len())
        })
    });

    // The same with the value checks of two type modifiers switched on — a granule on the
    // timestamps and char(36) padding on the ids — before each value is encoded (no silent
    // change); the difference to the bench above is the checks' cost. The granule is 1 µs
    // and the ids are all 36 characters, so every value passes.
    use converge::sink::postgres::pgtype::Limit;
    let limits =
        [Limit::Padded(36), Limit::None, Limit::Granule { micros: 1, truncates: false }, Limit::None, Limit::None];
    let checked = targets
        .iter()
        .zip(["id", "n", "at", "body", "flag"])
        .zip(limits)
        .map(|((t, n), limit)| CopyColumn { name: n.into(), target: *t, limit, ..Default::default() })
        .collect();
    let mut copy_checked = CopyEncoder::new(&batch.schema(), checked).unwrap();
    g.bench_function(
        "encode Arrow as binary COPY, timestamp granule and char(36) checked (8192 rows × 5 columns)",
        |b| {
            b.iter(|| {
                buf.clear();
                copy_checked.encode(&batch, &mut buf).unwrap();
                black_box(buf.len())
            })
        },
    );
    g.finish();

    // The dump scanner: one extended INSERT per 1,000 rows, as mariadb-dump writes them.
    let mut dump = String::from("CREATE TABLE `t` (\n  `id` char(36) NOT NULL,\n  `n` bigint NOT NULL,\n  `at` datetime(6) NOT NULL,\n  `body` text,\n  `flag` tinyint(1) NOT NULL,\n  PRIMARY KEY (`id`)\n);\n");
    for chunk in rows.chunks(1000) {
        dump.push_str("INSERT INTO `t` VALUES ");
        for (i, (id, n, body)) in chunk.iter().enumerate() {
            if i > 0 {
                dump.push(',');
            }
            let body = body.replace('\\', "\\\\").replace('\n', "\\n").replace('"', "\\\"");
            dump.push_str(&format!("('{id}',{n},'2024-01-15 10:30:00.123456','{body}',{})", n & 1));
        }
        dump.push_str(";\n");
    }
    let path = std::path::Path::new("bench.sql");
    let schema = converge::source::mysqldump::read_schema_from(dump.as_bytes(), path, 1 << 20).unwrap();
    let tables: std::collections::HashMap<String, converge::feed::ReadSpec> =
        schema.into_iter().map(|t| (t.name.clone(), converge::feed::ReadSpec::all_columns(t))).collect();
    let scan = || {
        let mut rows = 0;
        converge::source::mysqldump::read_data_from(dump.as_bytes(), path, 1 << 20, &tables, 8192, &mut |_, batch| {
            rows += batch.num_rows();
            Ok(())
        })
        .unwrap();
        rows
    };
    assert_eq!(scan(), ROWS, "the scanner reads every row of the generated dump");
    let mut g = c.benchmark_group("dump");
    g.throughput(Throughput::Bytes(dump.len() as u64));
    g.bench_function("scan mysqldump INSERTs into Arrow (8192 rows, bytes of dump)", |b| b.iter(|| black_box(scan())));
    g.finish();
}

criterion_group!(hot, benches);
criterion_main!(hot);
