//! Sinks: each takes a table's normalised batches and writes them somewhere.

pub mod csv;
pub mod csv_encode;
pub mod export_dir;
pub mod parquet;
pub mod postgres;

/// A data file a sink finished.
#[derive(Debug, Clone, PartialEq)]
pub struct FileWritten {
    /// File name, relative to the export directory.
    pub file: String,
    /// Rows written.
    pub rows: u64,
    /// Bytes written.
    pub bytes: u64,
    /// sha256 of the bytes, hex.
    pub sha256: String,
}
