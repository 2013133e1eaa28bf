//! The dump's byte stream: a chunked buffer over any reader that never holds more
//! than one chunk plus the token being read, with lazy line counting for errors, and
//! the lexical pieces shared by the statement loop and the INSERT scanner (comments,
//! quoted identifiers, skipping a statement while respecting its string literals).

use std::io::{ErrorKind, Read};
use std::path::{Path, PathBuf};

use memchr::{memchr, memchr2, memchr3, memchr_iter};

use crate::error::{Error, Result};

/// A buffered, refillable view of the dump.
pub(crate) struct Input<'r> {
    src: Box<dyn Read + 'r>,
    /// Valid bytes; everything before `pos` is consumed.
    pub(crate) buf: Vec<u8>,
    /// Read position in `buf`.
    pub(crate) pos: usize,
    chunk: usize,
    eof: bool,
    /// Line number (1-based) of `buf[line_pos]`.
    line_val: u64,
    line_pos: usize,
    file: PathBuf,
}

impl<'r> Input<'r> {
    /// Reads `src` in chunks of `chunk` bytes; `file` names it in errors.
    pub(crate) fn new(src: Box<dyn Read + 'r>, file: &Path, chunk: usize) -> Self {
        Input {
            src,
            buf: Vec::with_capacity(chunk.max(1) * 2),
            pos: 0,
            chunk: chunk.max(1),
            eof: false,
            line_val: 1,
            line_pos: 0,
            file: file.to_path_buf(),
        }
    }

    /// Drops the consumed bytes and appends the next chunk. False at end of input.
    /// Positions before `pos` are invalid afterwards.
    pub(crate) fn fill(&mut self) -> Result<bool> {
        if self.eof {
            return Ok(false);
        }
        if self.pos > 0 {
            self.line_val += memchr_iter(b'\n', &self.buf[self.line_pos..self.pos]).count() as u64;
            self.buf.drain(..self.pos);
            self.pos = 0;
            self.line_pos = 0;
        }
        let old = self.buf.len();
        self.buf.resize(old + self.chunk, 0);
        let n = loop {
            match self.src.read(&mut self.buf[old..]) {
                Ok(n) => break n,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.buf.truncate(old);
                    return Err(Error::io(&self.file, e));
                }
            }
        };
        self.buf.truncate(old + n);
        if n == 0 {
            self.eof = true;
        }
        Ok(n > 0)
    }

    /// The 1-based line number of buffer position `p` (which must not be consumed-and-dropped).
    pub(crate) fn line_at(&mut self, p: usize) -> u64 {
        if p < self.line_pos {
            // Earlier than the cache: count from the cache backwards.
            return self.line_val - memchr_iter(b'\n', &self.buf[p..self.line_pos]).count() as u64;
        }
        self.line_val += memchr_iter(b'\n', &self.buf[self.line_pos..p]).count() as u64;
        self.line_pos = p;
        self.line_val
    }

    /// The line of the read position.
    pub(crate) fn line(&mut self) -> u64 {
        self.line_at(self.pos)
    }

    /// A malformed-dump error at `line`.
    pub(crate) fn error_at(&self, line: u64, message: impl Into<String>) -> Error {
        Error::Input { file: self.file.clone(), line, column: None, message: message.into() }
    }

    /// A malformed-dump error at the read position.
    pub(crate) fn error(&mut self, message: impl Into<String>) -> Error {
        let line = self.line();
        self.error_at(line, message)
    }

    /// The next byte without consuming it; None at end of input.
    #[inline]
    pub(crate) fn peek(&mut self) -> Result<Option<u8>> {
        if self.pos < self.buf.len() {
            return Ok(Some(self.buf[self.pos]));
        }
        self.peek_slow(0)
    }

    /// The byte `k` places after the read position.
    #[inline]
    pub(crate) fn peek_at(&mut self, k: usize) -> Result<Option<u8>> {
        if self.pos + k < self.buf.len() {
            return Ok(Some(self.buf[self.pos + k]));
        }
        self.peek_slow(k)
    }

    #[cold]
    fn peek_slow(&mut self, k: usize) -> Result<Option<u8>> {
        while self.pos + k >= self.buf.len() {
            if !self.fill()? {
                return Ok(None);
            }
        }
        Ok(Some(self.buf[self.pos + k]))
    }

    /// Consumes and returns the next byte.
    #[inline]
    pub(crate) fn next(&mut self) -> Result<Option<u8>> {
        let b = self.peek()?;
        if b.is_some() {
            self.pos += 1;
        }
        Ok(b)
    }

    /// Skips spaces, tabs and line ends; returns the next byte (not consumed).
    #[inline]
    pub(crate) fn skip_ws(&mut self) -> Result<Option<u8>> {
        loop {
            match self.peek()? {
                Some(b' ' | b'\n' | b'\r' | b'\t' | 0x0c) => self.pos += 1,
                other => return Ok(other),
            }
        }
    }

    /// Whether the input at the read position starts with `word` (ASCII, any case),
    /// followed by a byte that cannot continue a word.
    pub(crate) fn at_word(&mut self, word: &[u8]) -> Result<bool> {
        for (k, w) in word.iter().enumerate() {
            match self.peek_at(k)? {
                Some(b) if b.eq_ignore_ascii_case(w) => {}
                _ => return Ok(false),
            }
        }
        Ok(!matches!(self.peek_at(word.len())?, Some(b) if is_word_byte(b)))
    }

    /// Whether the input at the read position starts with exactly `bytes`.
    pub(crate) fn at_bytes(&mut self, bytes: &[u8]) -> Result<bool> {
        for (k, w) in bytes.iter().enumerate() {
            if self.peek_at(k)? != Some(*w) {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Appends the statement up to its delimiter (outside quotes) to `out` and consumes
    /// the delimiter. False when the input ends first.
    pub(crate) fn collect_statement(&mut self, out: &mut Vec<u8>, delim: &[u8]) -> Result<bool> {
        let mut quote: Option<u8> = None;
        while let Some(b) = self.peek()? {
            match quote {
                None if b == delim[0] && self.at_bytes(delim)? => {
                    self.pos += delim.len();
                    return Ok(true);
                }
                None if matches!(b, b'\'' | b'"' | b'`') => quote = Some(b),
                Some(q) if b == b'\\' && q != b'`' => {
                    out.push(b);
                    self.pos += 1;
                    match self.next()? {
                        Some(e) => out.push(e),
                        None => return Ok(false),
                    }
                    continue;
                }
                // A doubled quote closes and reopens: same result.
                Some(q) if b == q => quote = None,
                _ => {}
            }
            out.push(b);
            self.pos += 1;
        }
        Ok(false)
    }

    /// Reads a bare word (letters, digits, `_`, `$`) into `out`, upper-cased.
    pub(crate) fn read_word(&mut self, out: &mut String) -> Result<()> {
        out.clear();
        while let Some(b) = self.peek()? {
            if !is_word_byte(b) {
                break;
            }
            out.push(b.to_ascii_uppercase() as char);
            self.pos += 1;
        }
        Ok(())
    }

    /// Reads a backtick-quoted identifier (the opening backtick not yet consumed), or a
    /// bare one, into `out`.
    pub(crate) fn read_ident(&mut self, out: &mut Vec<u8>) -> Result<()> {
        out.clear();
        if self.peek()? != Some(b'`') {
            while let Some(b) = self.peek()? {
                if !is_word_byte(b) {
                    break;
                }
                out.push(b);
                self.pos += 1;
            }
            if out.is_empty() {
                return Err(self.error("expected a name"));
            }
            return Ok(());
        }
        let start_line = self.line();
        self.pos += 1;
        loop {
            let hay = &self.buf[self.pos..];
            if let Some(i) = memchr(b'`', hay) {
                out.extend_from_slice(&hay[..i]);
                self.pos += i + 1;
                if self.peek()? == Some(b'`') {
                    out.push(b'`');
                    self.pos += 1;
                    continue;
                }
                return Ok(());
            }
            out.extend_from_slice(hay);
            self.pos = self.buf.len();
            if !self.fill()? {
                return Err(self.error_at(start_line, "unterminated `quoted` name at end of file"));
            }
        }
    }

    /// Skips a comment at the read position (`-- …`, `# …`, `/* … */`); false if there is none.
    pub(crate) fn skip_comment(&mut self) -> Result<bool> {
        match (self.peek()?, self.peek_at(1)?) {
            (Some(b'-'), Some(b'-')) if matches!(self.peek_at(2)?, None | Some(b' ' | b'\t' | b'\r' | b'\n')) => {
                self.skip_past(b"\n", false)?;
                Ok(true)
            }
            (Some(b'#'), _) => {
                self.skip_past(b"\n", false)?;
                Ok(true)
            }
            (Some(b'/'), Some(b'*')) => {
                let line = self.line();
                // `/*! … */` and `/*M! … */` hold code: their string literals may contain `*/`.
                let code = matches!(self.peek_at(2)?, Some(b'!' | b'M'));
                self.pos += 2;
                if !self.skip_past(b"*/", code)? {
                    return Err(self.error_at(line, "unterminated /* comment */ at end of file"));
                }
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// Skips to just past `end` (outside quotes when `quoted`). False when the input
    /// ends first (everything is then consumed).
    pub(crate) fn skip_past(&mut self, end: &[u8], quoted: bool) -> Result<bool> {
        let first = end[0];
        loop {
            let hay = &self.buf[self.pos..];
            let hit = if quoted {
                memchr3(first, b'\'', b'"', hay).or_else(|| memchr(b'`', hay))
            } else {
                memchr(first, hay)
            };
            let hit = match (hit, quoted) {
                // memchr3 found nothing before a backtick only if the backtick is earlier.
                (Some(i), true) => Some(memchr(b'`', &hay[..i]).unwrap_or(i)),
                (h, _) => h,
            };
            let Some(i) = hit else {
                self.pos = self.buf.len();
                if !self.fill()? {
                    return Ok(false);
                }
                continue;
            };
            self.pos += i;
            let b = self.buf[self.pos];
            if quoted && matches!(b, b'\'' | b'"' | b'`') {
                self.pos += 1;
                self.skip_quoted(b)?;
                continue;
            }
            let mut k = 1;
            while k < end.len() && self.peek_at(k)? == Some(end[k]) {
                k += 1;
            }
            if k == end.len() {
                self.pos += k;
                return Ok(true);
            }
            self.pos += 1;
        }
    }

    /// Skips the rest of a quoted literal or name whose opening `quote` is consumed
    /// (backslash escapes apply inside `'` and `"` strings).
    pub(crate) fn skip_quoted(&mut self, quote: u8) -> Result<()> {
        let start = self.pos.saturating_sub(1);
        let mut start_line = None;
        loop {
            let hay = &self.buf[self.pos..];
            let hit = if quote == b'`' { memchr(quote, hay) } else { memchr2(quote, b'\\', hay) };
            match hit {
                Some(i) => {
                    self.pos += i + 1;
                    if hay[i] != b'\\' {
                        // A doubled quote is an empty gap: the next quote reopens.
                        return Ok(());
                    }
                    if self.pos >= self.buf.len() && start_line.is_none() {
                        start_line = Some(self.line_at(start));
                    }
                    if self.next()?.is_none() {
                        break;
                    }
                }
                None => {
                    if start_line.is_none() {
                        start_line = Some(self.line_at(start));
                    }
                    self.pos = self.buf.len();
                    if !self.fill()? {
                        break;
                    }
                }
            }
        }
        let line = start_line.unwrap_or(1);
        Err(self
            .error_at(line, format!("unterminated {} literal at end of file (the dump is truncated)", quote as char)))
    }
}

/// A byte that can be part of a bare word.
#[inline]
pub(crate) fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$'
}
