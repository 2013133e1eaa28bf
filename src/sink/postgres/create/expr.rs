//! MySQL expressions (CHECK clauses, generated columns, expression defaults) in
//! PostgreSQL's dialect — only where the translation means the same thing. What it
//! does not know it refuses, saying which part, and the caller reports it instead of
//! guessing: MySQL's `/` is decimal division where PostgreSQL's divides integers, `||`
//! is OR, `CONCAT` is NULL when any part is, `LENGTH` counts bytes.

use crate::ident;

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

/// Words kept as they are.
const KEYWORDS: &[&str] = &[
    "AND", "OR", "NOT", "IS", "NULL", "IN", "BETWEEN", "LIKE", "TRUE", "FALSE", "CASE", "WHEN", "THEN", "ELSE", "END",
];

/// Functions that mean the same in both dialects, with PostgreSQL's name.
const FUNCTIONS: &[(&str, &str)] = &[
    ("char_length", "char_length"),
    ("character_length", "char_length"),
    ("octet_length", "octet_length"),
    ("lower", "lower"),
    ("upper", "upper"),
    // MariaDB prints upper() / lower() as ucase() / lcase().
    ("ucase", "upper"),
    ("lcase", "lower"),
    ("trim", "trim"),
    ("ltrim", "ltrim"),
    ("rtrim", "rtrim"),
    ("abs", "abs"),
    ("coalesce", "coalesce"),
    ("ifnull", "coalesce"),
    ("nullif", "nullif"),
    ("greatest", "greatest"),
    ("least", "least"),
    ("floor", "floor"),
    ("ceil", "ceil"),
    ("ceiling", "ceil"),
    ("mod", "mod"),
    ("uuid", "gen_random_uuid"),
    ("curdate", "CURRENT_DATE"),
];

/// Translates `expr`; `column` gives a source column's name in the target (None: the
/// column is not carried). The error says what has no sure translation.
pub fn translate(expr: &str, column: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let toks = tokenize(expr).map_err(|what| format!("cannot read {what}"))?;
    let mut out = Vec::new();
    emit(&toks, column, &mut out)?;
    Ok(out.join(" "))
}

fn emit(toks: &[Tok], column: &dyn Fn(&str) -> Option<String>, out: &mut Vec<String>) -> Result<(), String> {
    let mut i = 0;
    while i < toks.len() {
        match &toks[i] {
            Tok::Name(n) => out.push(ident::pg(&column(n).ok_or_else(|| format!("column `{n}` is not carried"))?)),
            Tok::Str(s) => out.push(ident::pg_literal(s)),
            Tok::Num(n) if n.parse::<f64>().is_ok() => out.push(n.clone()),
            Tok::Num(n) => return Err(format!("`{n}` is not a number PostgreSQL reads the same")),
            Tok::Word(w) if w.starts_with('_') && matches!(toks.get(i + 1), Some(Tok::Str(_))) => {} // _utf8mb4'x'
            Tok::Word(w) if KEYWORDS.iter().any(|k| k.eq_ignore_ascii_case(w)) => out.push(w.to_ascii_uppercase()),
            Tok::Word(w) if matches!(toks.get(i + 1), Some(Tok::Op(p)) if p == "(") => {
                i = call(toks, i, w, column, out)?;
                continue;
            }
            Tok::Word(w) if w.eq_ignore_ascii_case("current_timestamp") => out.push("CURRENT_TIMESTAMP".into()),
            Tok::Word(w) => return Err(format!("`{w}` has no sure PostgreSQL translation")),
            Tok::Op(op) => out.push(operator(op)?.to_string()),
        }
        i += 1;
    }
    Ok(())
}

fn operator(op: &str) -> Result<&str, String> {
    Ok(match op {
        "<=>" => "IS NOT DISTINCT FROM",
        "!=" => "<>",
        "&&" => "AND",
        "!" => "NOT",
        "/" => return Err("`/` (MySQL divides exactly, PostgreSQL's integer division truncates)".into()),
        "||" => return Err("`||` (OR in MySQL, concatenation in PostgreSQL)".into()),
        other => other,
    })
}

/// A function call at `at` (the name, then `(`): returns the index after its `)`.
fn call(
    toks: &[Tok],
    at: usize,
    name: &str,
    column: &dyn Fn(&str) -> Option<String>,
    out: &mut Vec<String>,
) -> Result<usize, String> {
    let close = matching(toks, at + 1).ok_or("unbalanced parentheses")?;
    let args = split_args(&toks[at + 2..close]);
    let lname = name.to_ascii_lowercase();
    if lname == "concat" {
        // MySQL's CONCAT is NULL when any argument is: PostgreSQL's `||` is, its concat() is not.
        let mut parts = Vec::new();
        for a in args {
            let mut one = Vec::new();
            emit(a, column, &mut one)?;
            parts.push(format!("({})", one.join(" ")));
        }
        out.push(format!("({})", parts.join(" || ")));
        return Ok(close + 1);
    }
    if matches!(lname.as_str(), "current_timestamp" | "now") {
        out.push("CURRENT_TIMESTAMP".into());
        return Ok(close + 1);
    }
    let pg = FUNCTIONS
        .iter()
        .find(|(m, _)| *m == lname)
        .map(|(_, p)| *p)
        .ok_or_else(|| format!("the function `{name}` has no sure PostgreSQL translation"))?;
    if pg == "CURRENT_DATE" {
        out.push(pg.into());
        return Ok(close + 1);
    }
    let mut inner = Vec::new();
    for (k, a) in args.iter().enumerate() {
        if k > 0 {
            inner.push(",".to_string());
        }
        emit(a, column, &mut inner)?;
    }
    out.push(format!("{pg}({})", inner.join(" ")));
    Ok(close + 1)
}

fn matching(toks: &[Tok], open: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (k, t) in toks.iter().enumerate().skip(open) {
        match t {
            Tok::Op(p) if p == "(" => depth += 1,
            Tok::Op(p) if p == ")" => {
                depth -= 1;
                if depth == 0 {
                    return Some(k);
                }
            }
            _ => {}
        }
    }
    None
}

fn split_args(toks: &[Tok]) -> Vec<&[Tok]> {
    if toks.is_empty() {
        return Vec::new();
    }
    let (mut depth, mut from, mut out) = (0i32, 0, Vec::new());
    for (k, t) in toks.iter().enumerate() {
        match t {
            Tok::Op(p) if p == "(" => depth += 1,
            Tok::Op(p) if p == ")" => depth -= 1,
            Tok::Op(p) if p == "," && depth == 0 => {
                out.push(&toks[from..k]);
                from = k + 1;
            }
            _ => {}
        }
    }
    out.push(&toks[from..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(e: &str) -> Result<String, String> {
        translate(e, &|c| (c != "gone").then(|| c.to_string()))
    }

    #[test]
    fn translates_what_means_the_same() {
        assert_eq!(t("`price` >= 0 and `qty` <> 0").unwrap(), "\"price\" >= 0 AND \"qty\" <> 0");
        assert_eq!(t("`a` * 2").unwrap(), "\"a\" * 2");
        assert_eq!(t("concat(`first`,' ',`last`)").unwrap(), "((\"first\") || (' ') || (\"last\"))");
        assert_eq!(t("char_length(`name`) > 2").unwrap(), "char_length(\"name\") > 2");
        assert_eq!(t("`s` in (_utf8mb4'a',_utf8mb4'it\\'s')").unwrap(), "\"s\" IN ( 'a' , 'it''s' )");
        assert_eq!(t("(uuid())").unwrap(), "( gen_random_uuid() )");
        assert_eq!(t("ifnull(`a`,0) != 1").unwrap(), "coalesce(\"a\" , 0) <> 1");
    }

    #[test]
    fn refuses_what_differs() {
        assert!(t("`a` / 2").unwrap_err().contains("`/`"));
        assert!(t("`a` || `b`").unwrap_err().contains("OR"));
        assert!(t("length(`a`) > 1").unwrap_err().contains("length"));
        assert!(t("`gone` > 1").unwrap_err().contains("not carried"));
        assert!(t("`a` regexp 'x'").unwrap_err().contains("regexp"));
    }
}
