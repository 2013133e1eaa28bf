//! The CSV export source: reads back the files converge's CSV sink writes (docs/architecture.md,
//! "The CSV export contract"), exactly inverting the writer, as Arrow record batches
//! typed by the manifest's columns.
//!
//! * [`parse`] splits the bytes into records and fields, remembering which fields were
//!   quoted (unquoted `\N` is NULL, `""` an empty string, `"\N"` the text `\N`); this is
//!   why neither the `csv` nor the `arrow-csv` crate is used: both drop that information.
//! * the one decoder ([`crate::source::decode`]) turns each field's text into a value
//!   of the column's Arrow type, as it does a dump's and a live server's values.
//! * [`CsvReader`] streams one file as batches; [`count_and_hash`] checks a file against
//!   its manifest entry; [`csv_table`] exposes a file to DataFusion SQL.
//!
//! Errors are [`crate::Error::Input`] with the file, the 1-based physical line where the
//! offending record starts (the header is line 1) and the column name when one field is
//! concerned.

pub mod export;
pub mod parse;
mod reader;
pub mod split;
mod table;
#[cfg(test)]
mod tests;

pub use reader::{count_and_hash, csv_schema, CsvColumn, CsvReader, Typing};
pub use table::csv_table;
