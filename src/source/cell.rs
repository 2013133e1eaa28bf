//! [`BatchBuilder`]: a live server's or a dump's rows, cell by cell, into record
//! batches of the read types ([`Logical::read_type`]), through one
//! [`ColumnDecoder`] per column (docs/architecture.md, "Decoding").

use arrow::array::ArrayRef;
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;

pub use super::decode::Cell;
use super::decode::{ColumnDecoder, Decoding, Dialect, Reason};
use crate::error::{shorten, Refused};
use crate::feed::{read_schema, ColumnPlan};

/// Decodes one table's cells into record batches of the read types.
pub struct BatchBuilder {
    schema: SchemaRef,
    columns: Vec<ColumnPlan>,
    decoders: Vec<ColumnDecoder>,
    rows: usize,
    bytes: usize,
}

impl BatchBuilder {
    /// A builder for these columns.
    pub fn new(columns: Vec<ColumnPlan>, capacity: usize) -> Self {
        let schema = read_schema(&columns);
        let decoders = columns
            .iter()
            .zip(schema.fields())
            .map(|(c, f)| {
                let how =
                    Decoding { logical: c.logical, is_bit: c.is_bit, zero_date: c.zero_date, dialect: Dialect::MySql };
                ColumnDecoder::new(how, f.data_type(), capacity).expect("every read type has a decoder")
            })
            .collect();
        BatchBuilder { schema, columns, decoders, rows: 0, bytes: 0 }
    }

    /// The schema of the batches this builder makes.
    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    /// The column plans.
    pub fn columns(&self) -> &[ColumnPlan] {
        &self.columns
    }

    /// Rows appended since the last [`BatchBuilder::finish`].
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Approximate bytes appended since the last finish (to bound batch memory).
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Zero dates written as NULL so far, per column.
    pub fn zero_dates_nulled(&self) -> Vec<u64> {
        self.decoders.iter().map(ColumnDecoder::zero_dates_nulled).collect()
    }

    /// Appends one cell to column `i`. A whole row must be appended, column by column,
    /// before [`BatchBuilder::end_row`]; on error the batch must be discarded.
    #[inline]
    pub fn push(&mut self, i: usize, cell: Cell<'_>) -> Result<(), Refused> {
        self.bytes += match cell {
            Cell::Bytes(b) => b.len(),
            _ => 8,
        };
        self.decoders[i].push(cell).map_err(|why| {
            let reason = match why {
                Reason::ZeroDate => "is a zero date (set zero_date = \"null\" to load it as NULL)".to_string(),
                Reason::NotUtf8(at) => format!("is not valid UTF-8 (at byte {at})"),
                Reason::Invalid(w) => format!("is not a valid {} ({w})", self.columns[i].logical.name()),
            };
            Refused { row: self.rows, column: self.columns[i].name.clone(), value: show(&cell), reason }
        })
    }

    /// Marks the end of a row.
    pub fn end_row(&mut self) {
        self.rows += 1;
    }

    /// Takes the rows appended so far as a record batch.
    pub fn finish(&mut self) -> RecordBatch {
        let arrays: Vec<ArrayRef> = self.decoders.iter_mut().map(ColumnDecoder::finish).collect();
        self.rows = 0;
        self.bytes = 0;
        RecordBatch::try_new(self.schema.clone(), arrays).expect("decoders match the schema")
    }
}

/// Renders a cell for an error message (shortened; bytes as text when UTF-8, else hex).
pub fn show(cell: &Cell<'_>) -> String {
    match cell {
        Cell::Null => "NULL".into(),
        Cell::Int(v) => v.to_string(),
        Cell::UInt(v) => v.to_string(),
        Cell::Float(v) => format!("{v:?}"),
        Cell::Double(v) => format!("{v:?}"),
        Cell::Bytes(b) => match std::str::from_utf8(b) {
            Ok(s) => format!("'{}'", shorten(s, 60)),
            Err(_) => format!("0x{}", shorten(&hex::encode(b), 60)),
        },
        Cell::DateTime { year, month, day, hour, minute, second, micro } => {
            format!("'{year:04}-{month:02}-{day:02} {hour:02}:{minute:02}:{second:02}.{micro:06}'")
        }
        Cell::Time { negative, days, hours, minutes, seconds, micros } => format!(
            "'{}{}:{minutes:02}:{seconds:02}.{micros:06}'",
            if *negative { "-" } else { "" },
            *days as u64 * 24 + *hours as u64
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::feed::ZeroDate;
    use crate::types::Logical;
    use arrow::array::{Array, Decimal256Array};

    fn plan(l: Logical) -> Vec<ColumnPlan> {
        vec![ColumnPlan { name: "c".into(), logical: l, is_bit: false, zero_date: ZeroDate::Error, nullable: true }]
    }

    #[test]
    fn decimals_keep_every_digit_or_fail() {
        let mut b = BatchBuilder::new(plan(Logical::Decimal(65, 30)), 4);
        b.push(0, Cell::Bytes(b"-12345678901234567890123456789012345.123456789012345678901234567890")).unwrap();
        b.end_row();
        let batch = b.finish();
        let a = batch.column(0).as_any().downcast_ref::<Decimal256Array>().unwrap();
        assert_eq!(a.value_as_string(0), "-12345678901234567890123456789012345.123456789012345678901234567890");
        let mut b = BatchBuilder::new(plan(Logical::Decimal(5, 2)), 4);
        assert!(b.push(0, Cell::Bytes(b"1.234")).is_err(), "a third decimal digit would be lost");
        assert!(b.push(0, Cell::Bytes(b"1234.5")).is_err(), "too many digits for precision 5");
    }

    #[test]
    fn dates_times_and_zero_dates() {
        assert_eq!(super::super::text::parse_time(b"-838:59:59"), Ok(-(838 * 3600 + 59 * 60 + 59) * 1_000_000));
        assert_eq!(super::super::text::parse_time(b"01:02:03.5"), Ok((3723) * 1_000_000 + 500_000));
        let mut b = BatchBuilder::new(plan(Logical::DateTime), 4);
        let e = b.push(0, Cell::Bytes(b"0000-00-00 00:00:00")).unwrap_err();
        assert!(e.reason.contains("zero date"));
        let mut p = plan(Logical::DateTime);
        p[0].zero_date = ZeroDate::Null;
        let mut b = BatchBuilder::new(p, 4);
        b.push(0, Cell::Bytes(b"0000-00-00 00:00:00")).unwrap();
        b.end_row();
        assert_eq!(b.zero_dates_nulled(), vec![1]);
        assert_eq!(b.finish().column(0).null_count(), 1);
    }

    #[test]
    fn invalid_utf8_is_rejected() {
        let mut b = BatchBuilder::new(plan(Logical::Text), 4);
        let e = b.push(0, Cell::Bytes(b"ok\xff")).unwrap_err();
        assert!(e.reason.contains("UTF-8"), "{e:?}");
        assert_eq!(e.value, "0x6f6bff");
    }
}
