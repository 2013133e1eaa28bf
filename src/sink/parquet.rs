//! The Parquet sink: one zstd-compressed file per table (a new part every
//! `max_file_bytes`), Arrow types kept (timestamps in UTC, decimals as decimals).
//!
//! Row groups are cut by bytes, not rows: the writer holds a row group's encoded
//! columns in memory until it is flushed, so parquet's default of a million rows held
//! ~400 MB for a wide table. A row group is flushed past [`ROW_GROUP_BYTES`], or sooner
//! when the writers open at once hold [`BUFFER_BUDGET_BYTES`] together (the sink's share
//! of the run's memory, beside the sources' read-ahead budget). Each row group carries
//! its column statistics and page indexes (parquet's defaults), which `converge query`
//! prunes by.
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

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

/// A row group is flushed once its buffered bytes pass this.
pub const ROW_GROUP_BYTES: usize = 16 << 20;

/// What the Parquet writers open at once buffer together, at most (past it, the writer
/// that just wrote flushes its row group, unless it holds less than [`MIN_ROW_GROUP_BYTES`]).
pub const BUFFER_BUDGET_BYTES: usize = 32 << 20;

/// No row group is cut smaller than this for the shared budget's sake.
pub const MIN_ROW_GROUP_BYTES: usize = 1 << 20;

/// The row-group rule of a writer, and the count it shares with the other writers.
#[derive(Debug, Clone)]
pub struct RowGroupBudget {
    /// Bytes the writers sharing this budget hold now.
    pub held: Arc<AtomicUsize>,
    /// [`ROW_GROUP_BYTES`].
    pub row_group_bytes: usize,
    /// [`BUFFER_BUDGET_BYTES`].
    pub total_bytes: usize,
    /// [`MIN_ROW_GROUP_BYTES`].
    pub min_bytes: usize,
}

impl Default for RowGroupBudget {
    fn default() -> Self {
        RowGroupBudget {
            held: Arc::new(AtomicUsize::new(0)),
            row_group_bytes: ROW_GROUP_BYTES,
            total_bytes: BUFFER_BUDGET_BYTES,
            min_bytes: MIN_ROW_GROUP_BYTES,
        }
    }
}

/// Writes one table's Parquet file(s).
pub struct ParquetTableWriter {
    dir: PathBuf,
    table: String,
    schema: SchemaRef,
    max_file_bytes: u64,
    current: Option<(String, u64, PartWriter)>,
    done: Vec<FileWritten>,
    budget: RowGroupBudget,
    /// What this writer last counted into `budget.held`.
    held: usize,
}

impl ParquetTableWriter {
    /// Prepares `<dir>/<table>.parquet` (parts `<table>.N.parquet` past the first).
    pub fn create(
        dir: &Path,
        table: &str,
        schema: SchemaRef,
        max_file_bytes: u64,
        budget: RowGroupBudget,
    ) -> Result<Self> {
        data_file_name(table, "parquet")?;
        Ok(ParquetTableWriter {
            dir: dir.to_path_buf(),
            table: table.to_string(),
            schema,
            max_file_bytes,
            current: None,
            done: Vec::new(),
            budget,
            held: 0,
        })
    }

    /// Counts what the writer holds now into the shared budget; returns the total.
    fn count_held(&mut self, now: usize) -> usize {
        let held = &self.budget.held;
        let total = if now >= self.held {
            held.fetch_add(now - self.held, Ordering::Relaxed) + (now - self.held)
        } else {
            held.fetch_sub(self.held - now, Ordering::Relaxed) - (self.held - now)
        };
        self.held = now;
        total
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
        let now = w.in_progress_size();
        let total = self.count_held(now);
        let b = &self.budget;
        if now >= b.row_group_bytes || (total > b.total_bytes && now >= b.min_bytes) {
            let (name, _, w) = self.current.as_mut().expect("opened");
            w.flush().map_err(|e| Error::datafusion(format!("writing {name}"), e))?;
            self.count_held(0);
        }
        let (_, _, w) = self.current.as_ref().expect("opened");
        if w.bytes_written() as u64 >= self.max_file_bytes {
            self.close_current()?;
        }
        Ok(())
    }

    fn close_current(&mut self) -> Result<()> {
        if let Some((name, rows, w)) = self.current.take() {
            self.count_held(0);
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
        Ok(std::mem::take(&mut self.done))
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
    /// The row-group rule, shared by the sink's table writers.
    pub budget: RowGroupBudget,
}

impl Sink for ParquetSink {
    fn label(&self) -> &'static str {
        "parquet"
    }

    fn open_table(&self, table: &TableShape) -> Result<Box<dyn TableWriter>> {
        let writer = ParquetTableWriter::create(
            &self.dir,
            &table.name,
            table.file_schema.clone(),
            self.max_file_bytes,
            self.budget.clone(),
        )?;
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

impl Drop for ParquetTableWriter {
    /// A writer dropped on an error gives its share of the budget back.
    fn drop(&mut self) {
        self.count_held(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::StringArray;
    use arrow::datatypes::{DataType, Field, Schema};
    use parquet::file::reader::{FileReader, SerializedFileReader};

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("cvg_parquet_{name}_{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// 1,000 rows of 100 distinct-ish bytes each: about 100 KB a batch.
    fn batch(schema: &SchemaRef, seed: usize) -> RecordBatch {
        let values: Vec<String> = (0..1000).map(|i| format!("{:0>100}", (seed * 1000 + i) * 2_654_435_761)).collect();
        RecordBatch::try_new(schema.clone(), vec![Arc::new(StringArray::from(values))]).unwrap()
    }

    fn row_groups(path: &Path) -> Vec<(i64, i64)> {
        let r = SerializedFileReader::new(File::open(path).unwrap()).unwrap();
        r.metadata().row_groups().iter().map(|g| (g.num_rows(), g.total_byte_size())).collect()
    }

    #[test]
    fn row_groups_are_cut_by_bytes() {
        let dir = scratch("bytes");
        let schema: SchemaRef = Arc::new(Schema::new(vec![Field::new("v", DataType::Utf8, false)]));
        let budget = RowGroupBudget { row_group_bytes: 256 << 10, ..Default::default() };
        let mut w = ParquetTableWriter::create(&dir, "t", schema.clone(), u64::MAX, budget.clone()).unwrap();
        for i in 0..40 {
            w.write(&batch(&schema, i)).unwrap();
            assert!(budget.held.load(Ordering::Relaxed) < 256 << 10, "flushed once past the row-group size");
        }
        let files = w.finish().unwrap();
        assert_eq!(budget.held.load(Ordering::Relaxed), 0);
        let groups = row_groups(&dir.join(&files[0].file));
        assert_eq!(groups.iter().map(|g| g.0).sum::<i64>(), 40_000);
        assert!(groups.len() >= 10, "{groups:?}");
        assert!(groups.iter().all(|g| g.1 < 2 * (256 << 10)), "{groups:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn writers_open_at_once_share_one_budget() {
        let dir = scratch("shared");
        let schema: SchemaRef = Arc::new(Schema::new(vec![Field::new("v", DataType::Utf8, false)]));
        let budget = RowGroupBudget {
            row_group_bytes: 64 << 20,
            total_bytes: 300 << 10,
            min_bytes: 64 << 10,
            ..Default::default()
        };
        let mut a = ParquetTableWriter::create(&dir, "a", schema.clone(), u64::MAX, budget.clone()).unwrap();
        let mut b = ParquetTableWriter::create(&dir, "b", schema.clone(), u64::MAX, budget.clone()).unwrap();
        let mut most = 0;
        for i in 0..30 {
            a.write(&batch(&schema, i)).unwrap();
            most = most.max(budget.held.load(Ordering::Relaxed));
            b.write(&batch(&schema, 100 + i)).unwrap();
            most = most.max(budget.held.load(Ordering::Relaxed));
        }
        // At most the budget, plus the batch that crossed it.
        assert!(most <= (300 << 10) + (150 << 10), "held {most} bytes");
        let (fa, fb) = (a.finish().unwrap(), b.finish().unwrap());
        assert_eq!(budget.held.load(Ordering::Relaxed), 0);
        for f in [&fa[0], &fb[0]] {
            let groups = row_groups(&dir.join(&f.file));
            assert_eq!(groups.iter().map(|g| g.0).sum::<i64>(), 30_000);
            assert!(groups.len() > 1, "the shared budget cut row groups below 64 MiB: {groups:?}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
