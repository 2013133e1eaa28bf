//! Cuts an exported CSV file into chunks of whole records, so several threads can
//! decode one file at once (`converge query` over a CSV table; docs/architecture.md,
//! "SQL over an export").
//!
//! One thread reads the file and finds record ends by tracking quotes (a `\n` outside
//! quotes ends a record; a doubled quote toggles twice, so the state stays right); the
//! decoders parse each chunk from its first record, knowing the physical line it starts
//! on, so an error still names the file's line. Only a file that breaks the grammar
//! could be cut where the grammar would not: the chunk holding the first break then
//! fails to parse and the query stops with that error, as the sequential reader would.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Whole records of a file, and the line the first of them starts on.
#[derive(Debug)]
pub struct Chunk {
    /// The records' bytes, ending with a record end (or the file's unclean last bytes).
    pub bytes: Vec<u8>,
    /// The 1-based physical line of the chunk's first byte.
    pub line: u64,
}

/// Reads a file as [`Chunk`]s of about `chunk_bytes`, the header record skipped.
#[derive(Debug)]
pub struct Splitter {
    path: PathBuf,
    file: File,
    /// Bytes read and not yet handed out; `carry[..scanned]` has been scanned.
    carry: Vec<u8>,
    scanned: usize,
    /// The quote state at `carry[scanned]`.
    in_quotes: bool,
    /// One past the last record end found in `carry[..scanned]` (0: none yet).
    record_end: usize,
    /// The line of `carry[0]`.
    line: u64,
    eof: bool,
    chunk_bytes: usize,
}

impl Splitter {
    /// Opens `path` and reads past its header record.
    pub fn open(path: &Path, chunk_bytes: usize) -> Result<Splitter> {
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        let mut s = Splitter {
            path: path.to_path_buf(),
            file,
            carry: Vec::new(),
            scanned: 0,
            in_quotes: false,
            record_end: 0,
            line: 1,
            eof: false,
            chunk_bytes: chunk_bytes.max(1),
        };
        s.skip_header()?;
        Ok(s)
    }

    /// Reads to the end of the first record (the header) and drops it.
    fn skip_header(&mut self) -> Result<()> {
        let mut from = 0;
        let mut in_quotes = false;
        loop {
            for i in memchr::memchr2_iter(b'"', b'\n', &self.carry[from..]) {
                let at = from + i;
                if self.carry[at] == b'"' {
                    in_quotes = !in_quotes;
                } else if !in_quotes {
                    self.carry.drain(..=at);
                    self.line = 2;
                    return Ok(());
                }
            }
            from = self.carry.len();
            if self.eof {
                return Err(Error::Input {
                    file: self.path.clone(),
                    line: 1,
                    column: None,
                    message: "the header record does not end (an empty or truncated file)".into(),
                });
            }
            self.fill()?;
        }
    }

    /// The next chunk, `None` after the last.
    pub fn next_chunk(&mut self) -> Result<Option<Chunk>> {
        while !self.eof && (self.record_end == 0 || self.scanned < self.chunk_bytes) {
            self.fill()?;
            self.scan();
        }
        let cut = if self.record_end > 0 { self.record_end } else { self.carry.len() };
        if cut == 0 {
            return Ok(None);
        }
        let rest = self.carry.split_off(cut);
        let bytes = std::mem::replace(&mut self.carry, rest);
        let line = self.line;
        self.line += memchr::memchr_iter(b'\n', &bytes).count() as u64;
        // The cut is the last record end scanned: what is left holds none, and the
        // quote state at its end is unchanged.
        self.scanned = self.scanned.saturating_sub(cut);
        self.record_end = 0;
        Ok(Some(Chunk { bytes, line }))
    }

    /// Reads up to `chunk_bytes` more bytes (at most 8 MiB) onto `carry`.
    fn fill(&mut self) -> Result<()> {
        let want = self.chunk_bytes.clamp(1, 8 << 20);
        let start = self.carry.len();
        self.carry.resize(start + want, 0);
        let n = loop {
            match self.file.read(&mut self.carry[start..]) {
                Ok(n) => break n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.carry.truncate(start);
                    return Err(Error::io(&self.path, e));
                }
            }
        };
        self.carry.truncate(start + n);
        self.eof = n == 0;
        Ok(())
    }

    /// Scans the new bytes for quotes and record ends.
    fn scan(&mut self) {
        let mut in_quotes = self.in_quotes;
        for i in memchr::memchr2_iter(b'"', b'\n', &self.carry[self.scanned..]) {
            let at = self.scanned + i;
            if self.carry[at] == b'"' {
                in_quotes = !in_quotes;
            } else if !in_quotes {
                self.record_end = at + 1;
            }
        }
        self.in_quotes = in_quotes;
        self.scanned = self.carry.len();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::csv::tests::temp_csv;

    /// Every chunk holds whole records and starts at the right line, whatever the chunk
    /// size, and the chunks together are the file less its header.
    #[test]
    fn chunks_are_whole_records_with_their_lines() {
        let mut text = String::from("id,note\n");
        let mut starts = Vec::new();
        let mut line = 2u64;
        for i in 0..300 {
            starts.push(line);
            let note = match i % 4 {
                0 => format!("\"a\nb \"\"{i}\"\"\n\""),
                1 => "\"x,y\"".to_string(),
                2 => "\\N".to_string(),
                _ => format!("plain{i}"),
            };
            line += note.matches('\n').count() as u64 + 1;
            text.push_str(&format!("{i},{note}\n"));
        }
        let path = temp_csv(text.as_bytes());
        for size in [1, 7, 100, 1000, 1 << 20] {
            let mut s = Splitter::open(&path, size).unwrap();
            let mut joined = Vec::new();
            let mut records = 0usize;
            while let Some(c) = s.next_chunk().unwrap() {
                assert_eq!(c.line, starts[records], "chunk size {size}");
                let mut p = crate::source::csv::parse::RecordParser::new_at(&c.bytes[..], c.line);
                while p.next_record().unwrap() {
                    assert_eq!(p.field_bytes(0), records.to_string().as_bytes());
                    records += 1;
                }
                joined.extend_from_slice(&c.bytes);
            }
            assert_eq!(records, 300, "chunk size {size}");
            assert_eq!(joined, text.as_bytes()[8..], "chunk size {size}");
        }
    }

    /// A file ending inside quotes or without its last newline comes out whole in the
    /// last chunk, where the parser refuses it.
    #[test]
    fn an_unclean_end_reaches_the_parser() {
        let path = temp_csv(b"id\n1\n2\n\"3");
        let mut s = Splitter::open(&path, 1).unwrap();
        let mut last = None;
        while let Some(c) = s.next_chunk().unwrap() {
            last = Some(c);
        }
        let last = last.unwrap();
        assert_eq!((last.bytes.as_slice(), last.line), (&b"\"3"[..], 4));
        let mut p = crate::source::csv::parse::RecordParser::new_at(&last.bytes[..], last.line);
        let e = p.next_record().unwrap_err();
        assert_eq!(e.line, 4, "{e:?}");
        let empty = temp_csv(b"id\n");
        assert!(Splitter::open(&empty, 10).unwrap().next_chunk().unwrap().is_none());
        // A file changed after the table was registered: no header end is an error.
        for bad in [&b""[..], b"id", b"\"id\n"] {
            let e = Splitter::open(&temp_csv(bad), 1).unwrap_err();
            assert!(e.to_string().contains("header record does not end"), "{e}");
        }
    }
}
