//! Naming the row behind a COPY failure: the key columns of the last batches sent, so a
//! server error's COPY line or a rejected value becomes the row's source key.

use std::collections::VecDeque;

use arrow::array::ArrayRef;
use arrow::record_batch::RecordBatch;
use arrow::util::display::{ArrayFormatter, FormatOptions};

use crate::error::Error;
use crate::error::Refused;
use crate::feed::render_key;

/// The key columns of the last few batches sent, to name the row of a server error.
pub(super) struct KeyRing {
    names: Vec<String>,
    batches: VecDeque<(u64, Vec<ArrayRef>)>,
    /// The target table's columns PostgreSQL computes itself (GENERATED … STORED).
    generated: Vec<String>,
}

impl KeyRing {
    pub(super) fn new(key: &[String], generated: Vec<String>) -> Self {
        KeyRing { names: key.to_vec(), batches: VecDeque::new(), generated }
    }

    pub(super) fn push(&mut self, batch: &RecordBatch, first_row: u64) {
        let cols: Vec<ArrayRef> = self.names.iter().filter_map(|k| batch.column_by_name(k).cloned()).collect();
        self.batches.push_back((first_row, cols));
        if self.batches.len() > 16 {
            self.batches.pop_front();
        }
    }

    /// The key of row `n` (0-based within the table), if still held.
    pub(super) fn key(&self, n: u64) -> Option<String> {
        let (first, cols) = self.batches.iter().rev().find(|(first, _)| *first <= n)?;
        let i = (n - first) as usize;
        if cols.first().is_some_and(|c| i >= c.len()) {
            return None;
        }
        let opts = FormatOptions::default();
        let values: Vec<String> = cols
            .iter()
            .map(|c| {
                ArrayFormatter::try_new(c.as_ref(), &opts).map(|f| format!("'{}'", f.value(i))).unwrap_or_default()
            })
            .collect();
        let names: Vec<&str> = self.names.iter().map(String::as_str).collect();
        Some(render_key(&names, &values, n + 1))
    }

    /// A server error during COPY, with the row named when the server says which line.
    pub(super) fn locate(&self, table: &str, e: tokio_postgres::Error) -> Error {
        let line = e.as_db_error().and_then(|d| d.where_()).and_then(|w| {
            let rest = &w[w.find("line ")? + 5..];
            rest.split(|c: char| !c.is_ascii_digit()).next()?.parse::<u64>().ok()
        });
        let at = match line.and_then(|l| self.key(l - 1).map(|k| (l, k))) {
            Some((_, k)) => format!("row {k}"),
            None => match line {
                Some(l) => format!("row {l} of the COPY"),
                None => "a row".to_string(),
            },
        };
        let mut context = format!("loading `{table}`, {at}");
        let data_exception = e.code().is_some_and(|c| c.code().starts_with("22"));
        if data_exception && !self.generated.is_empty() {
            let names: Vec<String> = self.generated.iter().map(|c| format!("`{c}`")).collect();
            context.push_str(&format!(
                " (the target computes {} itself, GENERATED ALWAYS AS … STORED: if PostgreSQL's expression refused what MySQL stored — a non-strict sql_mode stores an out-of-range result clipped — compare with MySQL's value; to carry MySQL's values, create the table with the column as a plain column, `converge schema --out` writes the DDL to edit, and run again)",
                names.join(", ")
            ));
        }
        Error::postgres(context, &e)
    }
}

pub(super) fn rejected(table: &str, keys: &KeyRing, first_row: u64, r: Refused) -> Error {
    let key = keys.key(first_row + r.row as u64).unwrap_or_else(|| format!("#{}", first_row + r.row as u64 + 1));
    Error::from(r.locate(table, key))
}
