//! The CSV sink: one `<table>.csv` per table in the run's export directory, hashed
//! (sha256) as it is written.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use arrow::record_batch::RecordBatch;
use sha2::{Digest, Sha256};

use super::csv_encode::CsvEncoder;
use super::export_dir::{create_private, data_file_name};
use super::{FileTable, FileTableWriter, FileWritten, Sink, TableShape, TableWriter, Written};
use crate::error::{Error, Result};
use crate::types::Logical;

/// Writes one table's CSV file.
pub struct CsvTableWriter {
    path: PathBuf,
    file_name: String,
    out: BufWriter<File>,
    hasher: Sha256,
    buf: Vec<u8>,
    encoder: CsvEncoder,
    rows: u64,
    bytes: u64,
}

impl CsvTableWriter {
    /// Creates `<dir>/<table>.csv` (owner-only) and writes the header.
    pub fn create(dir: &Path, table: &str, names: &[&str], logical: &[Logical]) -> Result<Self> {
        let file_name = data_file_name(table, "csv")?;
        let path = dir.join(&file_name);
        let out = BufWriter::with_capacity(1 << 20, create_private(&path)?);
        let mut w = CsvTableWriter {
            path,
            file_name,
            out,
            hasher: Sha256::new(),
            buf: Vec::with_capacity(1 << 20),
            encoder: CsvEncoder::new(logical),
            rows: 0,
            bytes: 0,
        };
        CsvEncoder::header(&mut w.buf, names);
        w.flush_buf()?;
        Ok(w)
    }

    fn flush_buf(&mut self) -> Result<()> {
        self.hasher.update(&self.buf);
        self.out.write_all(&self.buf).map_err(|e| Error::io(&self.path, e))?;
        self.bytes += self.buf.len() as u64;
        self.buf.clear();
        Ok(())
    }

    /// Appends a batch.
    pub fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        self.encoder.encode(batch, &mut self.buf)?;
        self.rows += batch.num_rows() as u64;
        self.flush_buf()
    }

    /// Flushes and syncs the file; returns what was written.
    pub fn finish(mut self) -> Result<FileWritten> {
        self.out.flush().map_err(|e| Error::io(&self.path, e))?;
        self.out.get_ref().sync_all().map_err(|e| Error::io(&self.path, e))?;
        Ok(FileWritten {
            file: self.file_name,
            rows: self.rows,
            bytes: self.bytes,
            sha256: hex::encode(self.hasher.finalize()),
        })
    }
}

/// The CSV sink of a run: one file per table in the export directory `dir`.
#[derive(Debug, Clone)]
pub struct CsvSink {
    /// The run's export directory.
    pub dir: PathBuf,
}

impl Sink for CsvSink {
    fn label(&self) -> &'static str {
        "csv"
    }

    fn open_table(&self, table: &TableShape) -> Result<Box<dyn TableWriter>> {
        let names: Vec<&str> = table.file_schema.fields().iter().map(|f| f.name().as_str()).collect();
        let writer = CsvTableWriter::create(&self.dir, &table.name, &names, &table.file_logical)?;
        Ok(FileTable::boxed(writer, table))
    }
}

impl FileTableWriter for CsvTableWriter {
    fn write_batch(&mut self, batch: &RecordBatch) -> Result<()> {
        self.write(batch)
    }

    fn close(self) -> Result<Written> {
        self.finish().map(Written::File)
    }
}
