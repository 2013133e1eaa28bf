//! [`CsvReader`]: streams one exported CSV file back as Arrow record batches typed by
//! the manifest's columns, and [`count_and_hash`], the cheap pre-load check of a file.
//!
//! Error locations: every [`Error::Input`] carries the file, the 1-based physical line
//! on which the offending record starts (the header is line 1; a record after a value
//! with embedded newlines starts further down than its record number) and, when the
//! problem concerns one field, that field's expected column name.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::datatypes::{Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use sha2::{Digest, Sha256};

use super::parse::{ParseError, RecordCounter, RecordParser};
use crate::error::{shorten, Error, Result};
use crate::source::decode::{Cell, ColumnDecoder, Decoding, Reason};
use crate::types::Logical;

/// One expected column: its name and logical type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvColumn {
    /// The column name, as in the header.
    pub name: String,
    /// Its logical type; the Arrow type read is `logical.arrow_type()`.
    pub logical: Logical,
}

impl CsvColumn {
    /// A column named `name` of type `logical`.
    pub fn new(name: impl Into<String>, logical: Logical) -> Self {
        CsvColumn { name: name.into(), logical }
    }
}

/// The Arrow schema of a file with these columns: every field nullable, typed by
/// [`Logical::arrow_type`].
pub fn csv_schema(columns: &[CsvColumn]) -> SchemaRef {
    schema_as(columns, Typing::Final)
}

/// The Arrow schema of a file with these columns, typed as `typing` says.
fn schema_as(columns: &[CsvColumn], typing: Typing) -> SchemaRef {
    let data_type = |l: Logical| match typing {
        Typing::Final => l.arrow_type(),
        Typing::Read => l.read_type(),
    };
    Arc::new(Schema::new(columns.iter().map(|c| Field::new(&c.name, data_type(c.logical), true)).collect::<Vec<_>>()))
}

/// A streaming reader of one CSV file (buffered, never the whole file in memory),
/// yielding batches of at most `batch_rows` rows. After the first error it yields nothing more.
/// `R` is where the records come from: the file, or a chunk of whole records cut out of
/// it ([`CsvReader::records`]).
#[derive(Debug)]
pub struct CsvReader<R = BufReader<File>> {
    path: PathBuf,
    parser: RecordParser<R>,
    columns: Vec<CsvColumn>,
    decoders: Vec<ColumnDecoder>,
    /// For each column of the file, the decoder of its projected column (None: the
    /// column is not read into a builder).
    decoded: Vec<Option<usize>>,
    schema: SchemaRef,
    batch_rows: usize,
    rows_read: u64,
    done: bool,
}

/// Which Arrow types a reader yields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Typing {
    /// Each column's final type ([`Logical::arrow_type`]): what SQL over an export sees.
    Final,
    /// Each column's read type ([`Logical::read_type`]): what a run's source hands on.
    Read,
}

impl CsvReader {
    /// Opens `path`, reads its header and checks that it names `columns`, in order;
    /// batches of the columns' final types.
    pub fn open(path: &Path, columns: Vec<CsvColumn>, batch_rows: usize) -> Result<CsvReader> {
        CsvReader::open_as(path, columns, batch_rows, Typing::Final)
    }

    /// [`CsvReader::open`], yielding batches typed as `typing` says.
    pub fn open_as(path: &Path, columns: Vec<CsvColumn>, batch_rows: usize, typing: Typing) -> Result<CsvReader> {
        CsvReader::open_projected(path, columns, batch_rows, typing, None)
    }

    /// [`CsvReader::open_as`], decoding only the columns at `projection` (in that order):
    /// the others' fields are found but never decoded or checked. Every record still
    /// has its field count checked.
    pub fn open_projected(
        path: &Path,
        columns: Vec<CsvColumn>,
        batch_rows: usize,
        typing: Typing,
        projection: Option<&[usize]>,
    ) -> Result<CsvReader> {
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        let parser = RecordParser::new(BufReader::with_capacity(256 * 1024, file));
        let mut reader = CsvReader::with_parser(path, parser, columns, batch_rows, typing, projection)?;
        reader.read_header()?;
        Ok(reader)
    }
}

impl<R: BufRead> CsvReader<R> {
    /// A reader of the records in `input`, which holds whole records of the file at
    /// `path` (no header) starting on physical line `line`: errors name that file and
    /// its lines. Otherwise as [`CsvReader::open_projected`].
    pub fn records(
        path: &Path,
        input: R,
        line: u64,
        columns: Vec<CsvColumn>,
        batch_rows: usize,
        typing: Typing,
        projection: Option<&[usize]>,
    ) -> Result<Self> {
        Self::with_parser(path, RecordParser::new_at(input, line), columns, batch_rows, typing, projection)
    }

    fn with_parser(
        path: &Path,
        parser: RecordParser<R>,
        columns: Vec<CsvColumn>,
        batch_rows: usize,
        typing: Typing,
        projection: Option<&[usize]>,
    ) -> Result<Self> {
        let input = |column: Option<&str>, message: String| Error::Input {
            file: path.to_path_buf(),
            line: 1,
            column: column.map(str::to_string),
            message,
        };
        let full = schema_as(&columns, typing);
        let all: Vec<usize> = (0..columns.len()).collect();
        let projection = projection.unwrap_or(&all);
        let schema = Arc::new(full.project(projection).map_err(|e| input(None, e.to_string()))?);
        let mut decoded = vec![None; columns.len()];
        for (d, &i) in projection.iter().enumerate() {
            decoded[i] = Some(d);
        }
        let decoders = projection
            .iter()
            .map(|&i| (&columns[i], full.field(i)))
            .map(|(c, f)| {
                let how = Decoding::export(c.logical);
                let capacity = batch_rows.clamp(1, 8192);
                ColumnDecoder::new(how, f.data_type(), capacity).map_err(|e| input(Some(&c.name), e.to_string()))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(CsvReader {
            path: path.to_path_buf(),
            parser,
            schema,
            columns,
            decoders,
            decoded,
            batch_rows: batch_rows.max(1),
            rows_read: 0,
            done: false,
        })
    }

    /// Reads the header record and checks that it names the columns, in order.
    fn read_header(&mut self) -> Result<()> {
        match self.parser.next_record() {
            Ok(true) => {}
            Ok(false) => return Err(self.error(1, None, "empty file: no header".into())),
            Err(e) => return Err(self.error(e.line, None, format!("header: {}", e.message))),
        }
        let mut found = Vec::with_capacity(self.parser.fields().len());
        for i in 0..self.parser.fields().len() {
            let name = std::str::from_utf8(self.parser.field_bytes(i))
                .map_err(|_| self.error(1, (i < self.columns.len()).then_some(i), "header: invalid UTF-8".into()))?;
            found.push(name.to_string());
        }
        check_header(&self.columns, &found).map_err(|(i, m)| self.error(1, Some(i), m))
    }

    /// The schema of the batches: every field nullable, typed by `logical.arrow_type()`.
    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    /// Records decoded so far (the header excluded).
    pub fn rows_read(&self) -> u64 {
        self.rows_read
    }

    /// An [`Error::Input`] at `line` for the column at `index` (if any).
    fn error(&self, line: u64, index: Option<usize>, message: String) -> Error {
        Error::Input {
            file: self.path.clone(),
            line,
            column: index.and_then(|i| self.columns.get(i).or(self.columns.last())).map(|c| c.name.clone()),
            message,
        }
    }

    /// Reads one record into the decoders.
    fn read_record(&mut self) -> Result<bool> {
        match self.parser.next_record() {
            Ok(true) => {}
            Ok(false) => return Ok(false),
            Err(ParseError { line, field, message }) => return Err(self.error(line, field, message)),
        }
        let line = self.parser.record_line();
        let (n, want) = (self.parser.fields().len(), self.columns.len());
        if n < want {
            let missing = &self.columns[n].name;
            return Err(self.error(
                line,
                Some(n),
                format!("record has {n} fields, expected {want}: column `{missing}` is missing"),
            ));
        }
        if n > want {
            return Err(self.error(line, None, format!("record has {n} fields, expected {want}")));
        }
        for i in 0..n {
            let Some(d) = self.decoded[i] else { continue };
            let field = self.parser.fields()[i];
            let text = &self.parser.data()[field.start..field.end];
            let cell = if !field.quoted && text == b"\\N" {
                Cell::Null
            } else if !field.quoted && text.is_empty() {
                let m = "empty unquoted field: write \\N for NULL or \"\" for an empty string";
                return Err(self.error(line, Some(i), m.to_string()));
            } else {
                Cell::Bytes(text)
            };
            if let Err(why) = self.decoders[d].push(cell) {
                let m = refused(text, self.decoders[d].logical(), why);
                return Err(self.error(line, Some(i), m));
            }
        }
        self.rows_read += 1;
        Ok(true)
    }
}

/// What is wrong with a field's text, said as the CSV reader says it: invalid UTF-8 by
/// its offset, anything else as "cannot read … as TYPE: why".
fn refused(text: &[u8], logical: Logical, why: Reason) -> String {
    let not_utf8 = match (&why, std::str::from_utf8(text)) {
        (Reason::NotUtf8(at), _) => Some(*at),
        (_, Err(e)) => Some(e.valid_up_to()),
        _ => None,
    };
    if let Some(at) = not_utf8 {
        return format!("invalid UTF-8 at byte {at} of the value");
    }
    let why = match why {
        Reason::Invalid(w) => w,
        Reason::ZeroDate => "a zero date".into(),
        Reason::NotUtf8(_) => unreachable!("handled above"),
    };
    let shown = shorten(&String::from_utf8_lossy(text), 80);
    format!("cannot read {:?} as {}: {why}", shown, logical.name())
}

/// Compares the header found with the expected columns; on a mismatch, the index of the
/// first expected column concerned and a message saying what differs.
fn check_header(columns: &[CsvColumn], found: &[String]) -> std::result::Result<(), (usize, String)> {
    let expected: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
    let found: Vec<&str> = found.iter().map(String::as_str).collect();
    if expected == found {
        return Ok(());
    }
    let show = |v: &[&str]| v.iter().map(|s| format!("`{s}`")).collect::<Vec<_>>().join(", ");
    let at = expected.iter().zip(&found).position(|(a, b)| a != b).unwrap_or(expected.len().min(found.len()));
    let what = match (expected.get(at), found.get(at)) {
        (Some(e), Some(f)) if found.contains(e) && expected.contains(f) => {
            format!("column {} is `{f}` where `{e}` was expected (columns out of order)", at + 1)
        }
        (Some(e), Some(f)) => format!("column {} is `{f}` where `{e}` was expected", at + 1),
        (Some(e), None) => format!("missing column `{e}` (and any after it)"),
        (None, Some(f)) => format!("unexpected extra column `{f}`"),
        (None, None) => unreachable!("the headers differ somewhere"),
    };
    let message = format!("wrong header: {what}; expected {}; found {}", show(&expected), show(&found));
    Err((at.min(expected.len().saturating_sub(1)), message))
}

impl<R: BufRead> Iterator for CsvReader<R> {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let (mut rows, mut bytes) = (0, 0);
        while rows < self.batch_rows && bytes < crate::feed::MAX_BATCH_BYTES {
            match self.read_record() {
                Ok(true) => {
                    rows += 1;
                    bytes += self.parser.data().len();
                }
                Ok(false) => {
                    self.done = true;
                    break;
                }
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            }
        }
        if rows == 0 {
            return None;
        }
        let arrays = self.decoders.iter_mut().map(ColumnDecoder::finish).collect();
        // No column projected (count(*)): the batch still says how many rows it holds.
        let options = arrow::record_batch::RecordBatchOptions::new().with_row_count(Some(rows));
        Some(
            RecordBatch::try_new_with_options(self.schema.clone(), arrays, &options)
                .map_err(|e| self.error(self.parser.record_line(), None, e.to_string())),
        )
    }
}

/// Streams a whole file to count its records and hash it: returns (records excluding the
/// header, sha256 as lowercase hex). Quoted newlines do not end records. A file ending
/// inside quotes or without a final newline is an [`Error::Input`] (line = the last line).
pub fn count_and_hash(path: &Path) -> Result<(u64, String)> {
    let mut file = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut hasher = Sha256::new();
    let mut counter = RecordCounter::default();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::io(path, e)),
        };
        hasher.update(&buf[..n]);
        counter.feed(&buf[..n]);
    }
    let records = counter.finish().map_err(|e| Error::Input {
        file: path.to_path_buf(),
        line: e.line,
        column: None,
        message: e.message,
    })?;
    let records = records.checked_sub(1).ok_or_else(|| Error::Input {
        file: path.to_path_buf(),
        line: 1,
        column: None,
        message: "empty file: no header".into(),
    })?;
    Ok((records, hex::encode(hasher.finalize())))
}
