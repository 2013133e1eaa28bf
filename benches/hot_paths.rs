//! Micro-benchmarks of the hot paths that need no server: decoding MySQL cells into
//! Arrow (the decoder both readers share) and encoding Arrow batches as spec CSV.
//!
//!     cargo bench --bench hot_paths

use std::hint::black_box;

use converge::sink::csv_encode::CsvEncoder;
use converge::source::cell::{BatchBuilder, Cell, ColumnPlan, ZeroDate};
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
    g.finish();
}

criterion_group!(hot, benches);
criterion_main!(hot);
