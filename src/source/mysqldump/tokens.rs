//! The tokens of a dump's `CREATE TABLE` statement: names (backticked or bare), string
//! literals (unescaped), punctuation; comments skipped, versioned comments read as code.

use crate::error::{Error, Result};

/// What the parser cannot read, as [`Error::Other`]; the dump reader places it at the
/// statement's line.
pub(super) fn bad(message: impl Into<String>) -> Error {
    Error::Other(message.into())
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Kind {
    /// A backtick-quoted name (unquoted) or a bare word (as written).
    Ident { quoted: bool },
    /// A string literal (unescaped).
    Str,
    /// One punctuation byte.
    Sym,
}

#[derive(Debug, Clone)]
pub(super) struct Token {
    pub kind: Kind,
    pub text: String,
    pub start: usize,
    pub end: usize,
}

impl Token {
    /// A bare word equal to `kw` (any case).
    pub fn is(&self, kw: &str) -> bool {
        self.kind == (Kind::Ident { quoted: false }) && self.text.eq_ignore_ascii_case(kw)
    }

    pub fn sym(&self, c: char) -> bool {
        self.kind == Kind::Sym && self.text.len() == 1 && self.text.starts_with(c)
    }

    pub fn is_name(&self) -> bool {
        matches!(self.kind, Kind::Ident { .. })
    }
}

/// The tokens of a statement. A versioned comment (`/*!50100 PARTITION BY … */`,
/// `/*M!100100 … */`) is code to the server, so its inside is read as code.
pub(super) fn tokenize(src: &str) -> Result<Vec<Token>> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let mut versioned = 0usize;
    while i < b.len() {
        let c = b[i];
        let start = i;
        match c {
            b' ' | b'\t' | b'\r' | b'\n' => i += 1,
            b'/' if src[i..].starts_with("/*!") || src[i..].starts_with("/*M!") => {
                i += if b[i + 2] == b'M' { 4 } else { 3 };
                while i < b.len() && b[i].is_ascii_digit() {
                    i += 1;
                }
                versioned += 1;
            }
            b'*' if versioned > 0 && b.get(i + 1) == Some(&b'/') => {
                i += 2;
                versioned -= 1;
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i = src[i + 2..].find("*/").map(|k| i + 2 + k + 2).ok_or_else(|| bad("unterminated comment"))?;
            }
            b'-' if b.get(i + 1) == Some(&b'-')
                && matches!(b.get(i + 2), None | Some(b' ' | b'\t' | b'\n' | b'\r')) =>
            {
                i = src[i..].find('\n').map(|k| i + k).unwrap_or(b.len());
            }
            b'`' => {
                let mut text = String::new();
                i += 1;
                loop {
                    let k = src[i..].find('`').ok_or_else(|| bad("unterminated `name`"))?;
                    text.push_str(&src[i..i + k]);
                    i += k + 1;
                    if b.get(i) == Some(&b'`') {
                        text.push('`');
                        i += 1;
                    } else {
                        break;
                    }
                }
                out.push(Token { kind: Kind::Ident { quoted: true }, text, start, end: i });
            }
            b'\'' | b'"' => {
                let mut text = Vec::new();
                i += 1;
                loop {
                    let Some(&x) = b.get(i) else { return Err(bad("unterminated string")) };
                    i += 1;
                    if x == b'\\' {
                        let e = *b.get(i).ok_or_else(|| bad("unterminated string"))?;
                        i += 1;
                        text.push(super::scan::unescape(e));
                    } else if x == c {
                        if b.get(i) == Some(&c) {
                            text.push(c);
                            i += 1;
                        } else {
                            break;
                        }
                    } else {
                        text.push(x);
                    }
                }
                let text = String::from_utf8_lossy(&text).into_owned();
                out.push(Token { kind: Kind::Str, text, start, end: i });
            }
            _ if super::input::is_word_byte(c) || c >= 0x80 => {
                while i < b.len() && (super::input::is_word_byte(b[i]) || b[i] >= 0x80) {
                    i += 1;
                }
                out.push(Token { kind: Kind::Ident { quoted: false }, text: src[start..i].to_string(), start, end: i });
            }
            _ => {
                i += 1;
                out.push(Token { kind: Kind::Sym, text: (c as char).to_string(), start, end: i });
            }
        }
    }
    Ok(out)
}

/// Index of the `)` matching the `(` at `open`.
pub(super) fn matching(tokens: &[Token], open: usize) -> Result<usize> {
    let mut depth = 0usize;
    for (k, t) in tokens.iter().enumerate().skip(open) {
        if t.sym('(') {
            depth += 1;
        } else if t.sym(')') {
            depth -= 1;
            if depth == 0 {
                return Ok(k);
            }
        }
    }
    Err(bad("unbalanced parentheses"))
}

/// The value after an option keyword: skips an optional `=`.
pub(super) fn option_value(tokens: &[Token], k: usize) -> Option<String> {
    let k = if tokens.get(k).is_some_and(|t| t.sym('=')) { k + 1 } else { k };
    tokens.get(k).filter(|t| t.kind != Kind::Sym).map(|t| t.text.to_ascii_lowercase())
}
