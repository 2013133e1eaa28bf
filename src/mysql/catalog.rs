//! Reading information_schema: a row's text column, and what an error says was read.

use mysql_async::Row;

/// Column `i` of `row` as text (empty for NULL).
pub(super) fn s(row: &Row, i: usize) -> String {
    row.get::<Option<String>, _>(i).flatten().unwrap_or_default()
}

/// What the error says it was reading.
pub(super) fn reading(database: &str, what: &str) -> String {
    format!("reading {what} of database `{database}` from information_schema")
}
