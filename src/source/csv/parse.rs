//! The record scanner of the CSV export format: splits a byte stream into records and
//! fields, remembering for every field whether it was quoted (the export contract needs
//! it: unquoted `\N` is NULL, quoted `"\N"` is the two-character string).
//!
//! The grammar is the one converge's CSV sink writes, and nothing looser:
//!
//! * fields are separated by `,`, records end with `\n` (a `\r\n` end is accepted too);
//! * a quoted field starts with `"`, doubles the quotes it contains, may hold `,`, `\r`
//!   and `\n`, and its closing quote must be followed by `,`, a record end or EOF-error;
//! * an unquoted field may not contain `"` or a bare `\r`;
//! * the file ends with a record end: a last record without `\n` means the file was
//!   truncated.
//!
//! Line numbers are 1-based physical lines (counted by `\n`). Every error carries the
//! line on which the record it concerns starts; [`RecordParser::record_line`] gives the
//! same for the record just read.

use std::io::BufRead;

/// One field of the record just read: a byte range in [`RecordParser::data`] and
/// whether the field was quoted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    /// Start of the unescaped bytes in [`RecordParser::data`].
    pub start: usize,
    /// End (exclusive) of the unescaped bytes.
    pub end: usize,
    /// Whether the field was written between quotes.
    pub quoted: bool,
}

/// A scanning failure: the line where the record starts, the 0-based index of the field
/// concerned (when one is) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// 1-based physical line where the record starts.
    pub line: u64,
    /// 0-based index of the field being read, if the error concerns one.
    pub field: Option<usize>,
    /// What is wrong, phrased for the operator.
    pub message: String,
}

/// Where the scanner is inside a record, kept across buffer refills.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before the first byte of a field.
    FieldStart,
    /// Inside an unquoted field.
    Unquoted,
    /// Inside a quoted field.
    Quoted,
    /// Just after a quote inside a quoted field: a doubled quote or the closing one.
    QuoteInQuoted,
    /// Just after a `\r` outside quotes: only `\n` may follow.
    AfterCr,
}

/// Bytes that end a run of plain bytes in an unquoted field.
fn is_unquoted_special(b: u8) -> bool {
    matches!(b, b',' | b'\n' | b'\r' | b'"')
}

/// Pulls records out of a buffered byte stream, reusing its buffers from record to record.
#[derive(Debug)]
pub struct RecordParser<R> {
    reader: R,
    /// 1-based physical line of the next unread byte.
    line: u64,
    /// Line where the current (or last read) record starts.
    record_line: u64,
    /// Unescaped bytes of the current record's fields, back to back.
    data: Vec<u8>,
    /// The fields of the current record.
    fields: Vec<Field>,
}

impl<R: BufRead> RecordParser<R> {
    /// A parser at the start of `reader` (line 1).
    pub fn new(reader: R) -> Self {
        RecordParser::new_at(reader, 1)
    }

    /// A parser whose input starts on physical line `line` of its file (a chunk of
    /// whole records cut out of it).
    pub fn new_at(reader: R, line: u64) -> Self {
        RecordParser { reader, line, record_line: line, data: Vec::new(), fields: Vec::new() }
    }

    /// The line where the record last read (or being read) starts.
    pub fn record_line(&self) -> u64 {
        self.record_line
    }

    /// The unescaped bytes of the last record; slice them with its [`Field`]s.
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// The fields of the last record read.
    pub fn fields(&self) -> &[Field] {
        &self.fields
    }

    /// The bytes of field `i` of the last record read.
    pub fn field_bytes(&self, i: usize) -> &[u8] {
        let f = self.fields[i];
        &self.data[f.start..f.end]
    }

    /// Reads the next record. Returns `Ok(false)` at a clean end of file (right after a
    /// record end), `Ok(true)` when a record was read into [`Self::fields`].
    pub fn next_record(&mut self) -> Result<bool, ParseError> {
        self.data.clear();
        self.fields.clear();
        self.record_line = self.line;
        let mut scan = Scan { state: State::FieldStart, quoted: false, field_start: 0, field_line: self.line };
        let mut started = false;
        loop {
            let record_line = self.record_line;
            let err = |(field, message): (Option<usize>, String)| ParseError { line: record_line, field, message };
            let buf = match self.reader.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(err((None, format!("read error: {e}")))),
            };
            if buf.is_empty() {
                return match scan.state {
                    State::FieldStart if !started => Ok(false),
                    _ => Err(err(scan.at_end(self.fields.len(), record_line))),
                };
            }
            started = true;
            let len = buf.len();
            let mut out = Out { data: &mut self.data, fields: &mut self.fields, line: &mut self.line };
            match scan.step(buf, &mut out).map_err(err)? {
                Some(consumed) => {
                    self.reader.consume(consumed);
                    return Ok(true);
                }
                None => self.reader.consume(len),
            }
        }
    }
}

/// Where a record's scan stands, kept across buffer refills.
struct Scan {
    state: State,
    /// Whether the field being read is quoted.
    quoted: bool,
    /// Where the field being read starts in the record's data.
    field_start: usize,
    /// The line the field being read starts on.
    field_line: u64,
}

/// The record being filled.
struct Out<'a> {
    data: &'a mut Vec<u8>,
    fields: &'a mut Vec<Field>,
    line: &'a mut u64,
}

/// A refusal: the field concerned and what is wrong.
type Refusal = (Option<usize>, String);

/// After one byte or run of bytes: go on at this offset, or the record ended after it.
enum Next {
    At(usize),
    Ended(usize),
}

impl Scan {
    /// Scans `buf`: `Some(bytes consumed)` when the record ended in it, `None` when it
    /// needs more.
    fn step(&mut self, buf: &[u8], out: &mut Out<'_>) -> Result<Option<usize>, Refusal> {
        let mut i = 0;
        while i < buf.len() {
            let next = match self.state {
                State::FieldStart => Next::At(self.field_start(buf, i, out)),
                State::Unquoted => self.unquoted(buf, i, out)?,
                State::Quoted => Next::At(self.quoted(buf, i, out)),
                State::QuoteInQuoted => self.after_quote(buf[i], i, out)?,
                State::AfterCr if buf[i] == b'\n' => self.end_field(out, i),
                State::AfterCr => {
                    return Err((
                        Some(out.fields.len()),
                        "a carriage return outside quotes not followed by a newline".into(),
                    ))
                }
            };
            match next {
                Next::At(j) => i = j,
                Next::Ended(j) => return Ok(Some(j)),
            }
        }
        Ok(None)
    }

    /// The error for a stream that ends inside the record.
    fn at_end(&self, field: usize, record_line: u64) -> Refusal {
        if self.state != State::Quoted {
            return (Some(field), "truncated file: the last record does not end with a newline".into());
        }
        let at = if self.field_line != record_line {
            format!(" (opened on line {})", self.field_line)
        } else {
            String::new()
        };
        (Some(field), format!("unterminated quoted field at end of file{at}"))
    }

    fn field_start(&mut self, buf: &[u8], i: usize, out: &mut Out<'_>) -> usize {
        self.field_start = out.data.len();
        self.field_line = *out.line;
        self.quoted = buf[i] == b'"';
        if self.quoted {
            self.state = State::Quoted;
            i + 1
        } else {
            self.state = State::Unquoted;
            i
        }
    }

    /// Ends the field; the next byte starts another.
    fn push_field(&mut self, out: &mut Out<'_>) {
        out.fields.push(Field { start: self.field_start, end: out.data.len(), quoted: self.quoted });
        self.state = State::FieldStart;
    }

    /// The `\n` at `i` ends the field and the record.
    fn end_field(&mut self, out: &mut Out<'_>, i: usize) -> Next {
        self.push_field(out);
        *out.line += 1;
        Next::Ended(i + 1)
    }

    fn unquoted(&mut self, buf: &[u8], i: usize, out: &mut Out<'_>) -> Result<Next, Refusal> {
        let len = buf.len();
        let j = buf[i..].iter().position(|&b| is_unquoted_special(b)).map_or(len, |p| i + p);
        out.data.extend_from_slice(&buf[i..j]);
        if j == len {
            return Ok(Next::At(len));
        }
        self.field_end(buf[j], j, out).ok_or_else(|| {
            (Some(out.fields.len()), "a quote inside an unquoted field (a field containing `\"` must be quoted)".into())
        })
    }

    /// A `,`, `\n` or `\r` at `i`, after a field's last byte: the field (or the record)
    /// ends there. Any other byte: `None`.
    fn field_end(&mut self, b: u8, i: usize, out: &mut Out<'_>) -> Option<Next> {
        match b {
            b',' => {
                self.push_field(out);
                Some(Next::At(i + 1))
            }
            b'\n' => Some(self.end_field(out, i)),
            b'\r' => {
                self.state = State::AfterCr;
                Some(Next::At(i + 1))
            }
            _ => None,
        }
    }

    fn quoted(&mut self, buf: &[u8], i: usize, out: &mut Out<'_>) -> usize {
        let len = buf.len();
        let j = buf[i..].iter().position(|&b| b == b'"').map_or(len, |p| i + p);
        let segment = &buf[i..j];
        *out.line += segment.iter().filter(|&&b| b == b'\n').count() as u64;
        out.data.extend_from_slice(segment);
        if j == len {
            return len;
        }
        self.state = State::QuoteInQuoted;
        j + 1
    }

    /// The byte after a quote inside a quoted field, at `i`.
    fn after_quote(&mut self, b: u8, i: usize, out: &mut Out<'_>) -> Result<Next, Refusal> {
        if b == b'"' {
            out.data.push(b'"');
            self.state = State::Quoted;
            return Ok(Next::At(i + 1));
        }
        self.field_end(b, i, out).ok_or_else(|| {
            let message = format!("a closing quote followed by {} instead of `,` or a line end", show_byte(b));
            (Some(out.fields.len()), message)
        })
    }
}

/// Renders a byte for an error message: `x` for printable ASCII, `0xNN` otherwise.
pub fn show_byte(b: u8) -> String {
    if b.is_ascii_graphic() || b == b' ' {
        format!("`{}`", b as char)
    } else {
        format!("byte 0x{b:02x}")
    }
}

/// Counts the records of a CSV byte stream by tracking quotes, without unescaping.
///
/// Feed it every chunk in order with [`RecordCounter::feed`], then call
/// [`RecordCounter::finish`]: it returns the number of record ends (`\n` outside quotes),
/// or an error message when the stream ends inside quotes or without a final `\n`.
#[derive(Debug, Default)]
pub struct RecordCounter {
    in_quotes: bool,
    records: u64,
    newlines: u64,
    last: Option<u8>,
}

impl RecordCounter {
    /// Scans one chunk.
    pub fn feed(&mut self, chunk: &[u8]) {
        let (mut records, mut newlines) = (0u64, 0u64);
        let mut in_quotes = self.in_quotes;
        for &b in chunk {
            // A doubled quote toggles twice, so the state stays right.
            if b == b'"' {
                in_quotes = !in_quotes;
            } else if b == b'\n' {
                newlines += 1;
                records += !in_quotes as u64;
            }
        }
        self.in_quotes = in_quotes;
        self.records += records;
        self.newlines += newlines;
        if let Some(&b) = chunk.last() {
            self.last = Some(b);
        }
    }

    /// The 1-based physical line of the end of what was fed.
    pub fn lines(&self) -> u64 {
        self.newlines + 1
    }

    /// The number of records (lines ending outside quotes), checking the stream ended cleanly.
    pub fn finish(&self) -> Result<u64, ParseError> {
        let fail = |message: &str| ParseError { line: self.lines(), field: None, message: message.to_string() };
        if self.in_quotes {
            return Err(fail("unterminated quoted field at end of file"));
        }
        match self.last {
            None => Ok(0),
            Some(b'\n') => Ok(self.records),
            Some(_) => Err(fail("truncated file: the last record does not end with a newline")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses all records of `input` into (text, quoted) fields, with a tiny buffer so
    /// that every state crosses a refill.
    type Records = Vec<(u64, Vec<(String, bool)>)>;

    fn parse_all(input: &[u8], cap: usize) -> Result<Records, ParseError> {
        let mut p = RecordParser::new(std::io::BufReader::with_capacity(cap, input));
        let mut out = Vec::new();
        while p.next_record()? {
            let fields = (0..p.fields().len())
                .map(|i| (String::from_utf8_lossy(p.field_bytes(i)).into_owned(), p.fields()[i].quoted))
                .collect();
            out.push((p.record_line(), fields));
        }
        Ok(out)
    }

    fn f(s: &str, q: bool) -> (String, bool) {
        (s.to_string(), q)
    }

    #[test]
    fn quoting_is_remembered() {
        let input = "a,b,c\n\\N,\"\",\"\\N\"\n,x,\"y\"\"z\"\n";
        for cap in [1, 2, 3, 7, 64] {
            let recs = parse_all(input.as_bytes(), cap).unwrap();
            assert_eq!(recs.len(), 3);
            assert_eq!(recs[1].1, vec![f("\\N", false), f("", true), f("\\N", true)]);
            assert_eq!(recs[2].1, vec![f("", false), f("x", false), f("y\"z", true)]);
        }
    }

    #[test]
    fn quoted_newlines_count_lines() {
        let input = "a,b\n\"1\n2\r\n3\",x\n\"\r\",\"\t\\😀\"\r\nlast,\"\"\n";
        for cap in [1, 2, 5, 64] {
            let recs = parse_all(input.as_bytes(), cap).unwrap();
            let lines: Vec<u64> = recs.iter().map(|r| r.0).collect();
            assert_eq!(lines, vec![1, 2, 5, 6]);
            assert_eq!(recs[1].1, vec![f("1\n2\r\n3", true), f("x", false)]);
            assert_eq!(recs[2].1, vec![f("\r", true), f("\t\\😀", true)]);
            assert_eq!(recs[3].1, vec![f("last", false), f("", true)]);
        }
    }

    #[test]
    fn broken_input_is_an_error() {
        let cases: &[(&str, u64, Option<usize>, &str)] = &[
            ("a\n\"x\ny\n", 2, Some(0), "unterminated quoted field"),
            ("a,b\n1,\"x\"y\n", 2, Some(1), "closing quote followed by `y`"),
            ("a,b\n1,x\"y\n", 2, Some(1), "quote inside an unquoted field"),
            ("a,b\n1,2", 2, Some(1), "truncated file"),
            ("a,b\n1,\"2\"", 2, Some(1), "truncated file"),
            ("a,b\n1,", 2, Some(1), "truncated file"),
            ("a,b\n1,2\r", 2, Some(1), "truncated file"),
            ("a,b\n1,2\rx\n", 2, Some(1), "carriage return"),
        ];
        for &(input, line, field, msg) in cases {
            for cap in [1, 3, 64] {
                let e = parse_all(input.as_bytes(), cap).unwrap_err();
                assert_eq!((e.line, e.field), (line, field), "{input:?}: {e:?}");
                assert!(e.message.contains(msg), "{input:?}: {e:?}");
            }
        }
    }

    #[test]
    fn counter_handles_quotes() {
        let input = b"a,b\n\"x\ny\",\"\"\"\n\"\n1,2\n";
        for split in 0..input.len() {
            let mut c = RecordCounter::default();
            c.feed(&input[..split]);
            c.feed(&input[split..]);
            assert_eq!(c.finish(), Ok(3));
        }
        let mut c = RecordCounter::default();
        c.feed(b"a\n\"x\n");
        assert!(c.finish().unwrap_err().message.contains("unterminated"));
        let mut c = RecordCounter::default();
        c.feed(b"a\nx");
        assert!(c.finish().unwrap_err().message.contains("truncated"));
    }
}
