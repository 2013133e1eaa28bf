//! The Parquet sink: one zstd-compressed file per table (a new part every
//! `max_file_bytes`), Arrow types kept (timestamps in UTC, decimals as decimals).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use sha2::{Digest, Sha256};

use super::export_dir::{create_private, data_file_name};
use super::{FileTable, FileTableWriter, FileWritten, Sink, TableShape, TableWriter, Written};
use crate::error::{Error, Result};

/// A writer that hashes and counts what passes through it.
struct Hashing<W: Write> {
    inner: W,
    hasher: Sha256,
    bytes: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// The writer of the file being written.
type PartWriter = ArrowWriter<Hashing<BufWriter<File>>>;

/// Writes one table's Parquet file(s).
pub struct ParquetTableWriter {
    dir: PathBuf,
    table: String,
    schema: SchemaRef,
    max_file_bytes: u64,
    current: Option<(String, u64, PartWriter)>,
    done: Vec<FileWritten>,
}

impl ParquetTableWriter {
    /// Prepares `<dir>/<table>.parquet` (parts `<table>.N.parquet` past the first).
    pub fn create(dir: &Path, table: &str, schema: SchemaRef, max_file_bytes: u64) -> Result<Self> {
        data_file_name(table, "parquet")?;
        Ok(ParquetTableWriter {
            dir: dir.to_path_buf(),
            table: table.to_string(),
            schema,
            max_file_bytes,
            current: None,
            done: Vec::new(),
        })
    }

    fn open(&mut self) -> Result<()> {
        let name = match self.done.len() {
            0 => data_file_name(&self.table, "parquet")?,
            n => data_file_name(&self.table, &format!("{n}.parquet"))?,
        };
        let path = self.dir.join(&name);
        let file = create_private(&path)?;
        let sink = Hashing { inner: BufWriter::with_capacity(1 << 20, file), hasher: Sha256::new(), bytes: 0 };
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::try_new(3).expect("valid level")))
            .build();
        let w = ArrowWriter::try_new(sink, self.schema.clone(), Some(props))
            .map_err(|e| Error::datafusion(format!("opening {}", path.display()), e))?;
        self.current = Some((name, 0, w));
        Ok(())
    }

    /// Appends a batch.
    pub fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        if self.current.is_none() {
            self.open()?;
        }
        let (name, rows, w) = self.current.as_mut().expect("opened");
        w.write(batch).map_err(|e| Error::datafusion(format!("writing {name}"), e))?;
        *rows += batch.num_rows() as u64;
        if w.bytes_written() as u64 >= self.max_file_bytes {
            self.close_current()?;
        }
        Ok(())
    }

    fn close_current(&mut self) -> Result<()> {
        if let Some((name, rows, w)) = self.current.take() {
            let mut sink = w.into_inner().map_err(|e| Error::datafusion(format!("closing {name}"), e))?;
            sink.flush().map_err(|e| Error::io(self.dir.join(&name), e))?;
            sink.inner.get_ref().sync_all().map_err(|e| Error::io(self.dir.join(&name), e))?;
            self.done.push(FileWritten {
                file: name,
                rows,
                bytes: sink.bytes,
                sha256: hex::encode(sink.hasher.finalize()),
            });
        }
        Ok(())
    }

    /// Closes the last file; returns every file written (at least one, maybe empty).
    pub fn finish(mut self) -> Result<Vec<FileWritten>> {
        if self.current.is_none() && self.done.is_empty() {
            self.open()?;
        }
        self.close_current()?;
        Ok(self.done)
    }
}

/// The Parquet sink of a run: one file per table (in parts past `max_file_bytes`) in
/// the export directory `dir`.
#[derive(Debug, Clone)]
pub struct ParquetSink {
    /// The run's export directory.
    pub dir: PathBuf,
    /// A new part past this many bytes.
    pub max_file_bytes: u64,
}

impl Sink for ParquetSink {
    fn label(&self) -> &'static str {
        "parquet"
    }

    fn open_table(&self, table: &TableShape) -> Result<Box<dyn TableWriter>> {
        let writer =
            ParquetTableWriter::create(&self.dir, &table.name, table.file_schema.clone(), self.max_file_bytes)?;
        Ok(FileTable::boxed(writer, table))
    }
}

impl FileTableWriter for ParquetTableWriter {
    fn write_batch(&mut self, batch: &RecordBatch) -> Result<()> {
        self.write(batch)
    }

    fn close(self) -> Result<Written> {
        self.finish().map(Written::Parts)
    }
}
