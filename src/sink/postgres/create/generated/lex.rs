//! The tokens of a MySQL expression (CHECK clauses, generated columns, expression
//! defaults) as MySQL prints them: names in backticks, string literals unescaped.

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Tok {
    /// A backtick-quoted name.
    Name(String),
    /// A string literal, unescaped.
    Str(String),
    /// A number as written.
    Num(String),
    /// A bare word.
    Word(String),
    /// An operator or punctuation.
    Op(String),
}

const OPS: &[&str] =
    &["<=>", "<>", "!=", "<=", ">=", "&&", "||", "=", "<", ">", "+", "-", "*", "/", "%", "(", ")", ",", "!"];

pub(super) fn tokenize(src: &str) -> Result<Vec<Tok>, String> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
        } else if c == b'`' {
            let (text, next) = quoted(src, i, b'`')?;
            out.push(Tok::Name(text));
            i = next;
        } else if c == b'\'' || c == b'"' {
            let (text, next) = quoted(src, i, c)?;
            out.push(Tok::Str(text));
            i = next;
        } else if c.is_ascii_digit() || (c == b'.' && b.get(i + 1).is_some_and(u8::is_ascii_digit)) {
            let start = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'.') {
                i += 1;
            }
            out.push(Tok::Num(src[start..i].to_string()));
        } else if c.is_ascii_alphabetic() || c == b'_' {
            let start = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
            out.push(Tok::Word(src[start..i].to_string()));
        } else {
            let op = OPS.iter().find(|op| src[i..].starts_with(**op)).ok_or_else(|| format!("`{}`", c as char))?;
            out.push(Tok::Op(op.to_string()));
            i += op.len();
        }
    }
    Ok(out)
}

/// The text of a quoted token starting at `at` and the index after it; MySQL's escapes
/// (doubled quote, backslash) undone.
fn quoted(src: &str, at: usize, q: u8) -> Result<(String, usize), String> {
    let b = src.as_bytes();
    let mut text = Vec::new();
    let mut i = at + 1;
    loop {
        let Some(&x) = b.get(i) else { return Err("an unterminated quote".into()) };
        i += 1;
        if x == q && b.get(i) == Some(&q) {
            text.push(q);
            i += 1;
        } else if x == q {
            break;
        } else if x == b'\\' && q != b'`' {
            let e = *b.get(i).ok_or("an unterminated quote")?;
            i += 1;
            text.push(match e {
                b'n' => b'\n',
                b't' => b'\t',
                b'r' => b'\r',
                b'0' => 0,
                other => other,
            });
        } else {
            text.push(x);
        }
    }
    String::from_utf8(text).map(|t| (t, i)).map_err(|_| "a string that is not UTF-8".into())
}
