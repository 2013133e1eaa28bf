//! Duplicate keys in a JSON text (docs/architecture.md, "No silent change"): MariaDB keeps
//! a `json` column as text and its JSON functions read the first of an object's
//! duplicate keys, where PostgreSQL's `jsonb` keeps the last. [`first_duplicate`] finds
//! one at any depth (by the key's meaning: escapes resolved); [`keep_first`] drops the
//! later ones, keeping every other byte of the text.
//!
//! Both take text that is valid JSON (checked before); on anything else they find nothing.

use std::borrow::Cow;
use std::collections::HashSet;

/// Nesting deeper than this is not searched (serde_json, which checked the text, refuses
/// deeper nesting anyway).
const MAX_DEPTH: usize = 256;

/// A key that occurs twice in one object: its path (`$.a[2].b`) and the key itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Duplicate {
    /// Where the object is, in MariaDB's path syntax, with the key.
    pub path: String,
    /// The key, its escapes resolved.
    pub key: String,
}

/// The first duplicate key of `text`, if any.
pub fn first_duplicate(text: &str) -> Option<Duplicate> {
    let mut s = Scan::new(text);
    s.value(0)?;
    s.found
}

/// `text` with the later of every duplicate key dropped (member and separating comma),
/// as MariaDB reads it; borrowed when it has none.
pub fn keep_first(text: &str) -> Cow<'_, str> {
    let mut s = Scan::new(text);
    if s.value(0).is_none() || s.drop.is_empty() {
        return Cow::Borrowed(text);
    }
    s.drop.sort_unstable();
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for (start, end) in s.drop {
        if start < at {
            continue; // inside a member dropped already
        }
        out.push_str(&text[at..start]);
        at = end;
    }
    out.push_str(&text[at..]);
    Cow::Owned(out)
}

struct Scan<'a> {
    b: &'a [u8],
    i: usize,
    /// Byte ranges to drop: from the end of the previous member to the end of the duplicate.
    drop: Vec<(usize, usize)>,
    found: Option<Duplicate>,
    /// The path to the value being read.
    path: Vec<Step<'a>>,
}

/// One step of a path: an array element or an object member.
enum Step<'a> {
    Index(usize),
    Key(Cow<'a, str>),
}

impl<'a> Scan<'a> {
    fn new(text: &'a str) -> Scan<'a> {
        Scan { b: text.as_bytes(), i: 0, drop: Vec::new(), found: None, path: Vec::new() }
    }

    /// The current path in MariaDB's syntax: `$.a[2]."b c"`.
    fn path_text(&self) -> String {
        let mut out = String::from("$");
        for step in &self.path {
            match step {
                Step::Index(n) => out.push_str(&format!("[{n}]")),
                Step::Key(k) => {
                    out.push('.');
                    out.push_str(&member_path(k));
                }
            }
        }
        out
    }

    fn ws(&mut self) {
        while matches!(self.b.get(self.i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    fn value(&mut self, depth: usize) -> Option<()> {
        self.ws();
        match *self.b.get(self.i)? {
            b'{' if depth < MAX_DEPTH => self.object(depth + 1),
            b'[' if depth < MAX_DEPTH => self.array(depth + 1),
            b'"' => self.string().map(|_| ()),
            b'{' | b'[' => None,
            _ => {
                // A number or a literal: up to the next delimiter.
                let n = self.b[self.i..]
                    .iter()
                    .position(|&c| matches!(c, b',' | b']' | b'}' | b' ' | b'\t' | b'\n' | b'\r'));
                self.i += n.unwrap_or(self.b.len() - self.i);
                Some(())
            }
        }
    }

    fn array(&mut self, depth: usize) -> Option<()> {
        self.i += 1;
        self.ws();
        if self.b.get(self.i) == Some(&b']') {
            self.i += 1;
            return Some(());
        }
        let mut n = 0usize;
        loop {
            self.path.push(Step::Index(n));
            self.value(depth)?;
            self.path.pop();
            self.ws();
            match *self.b.get(self.i)? {
                b',' => self.i += 1,
                b']' => break,
                _ => return None,
            }
            n += 1;
        }
        self.i += 1;
        Some(())
    }

    fn object(&mut self, depth: usize) -> Option<()> {
        self.i += 1;
        self.ws();
        if self.b.get(self.i) == Some(&b'}') {
            self.i += 1;
            return Some(());
        }
        let mut keys: HashSet<Cow<'a, str>> = HashSet::new();
        let mut prev_end = self.i;
        loop {
            self.ws();
            let key = self.string()?;
            self.ws();
            (self.b.get(self.i) == Some(&b':')).then_some(())?;
            self.i += 1;
            self.path.push(Step::Key(key.clone()));
            self.value(depth)?;
            if !keys.insert(key) {
                self.drop.push((prev_end, self.i));
                if self.found.is_none() {
                    let key = match self.path.last() {
                        Some(Step::Key(k)) => k.to_string(),
                        _ => String::new(),
                    };
                    self.found = Some(Duplicate { path: self.path_text(), key });
                }
            }
            self.path.pop();
            prev_end = self.i;
            self.ws();
            match *self.b.get(self.i)? {
                b',' => self.i += 1,
                b'}' => break,
                _ => return None,
            }
        }
        self.i += 1;
        Some(())
    }

    /// A string at the position, its escapes resolved.
    fn string(&mut self) -> Option<Cow<'a, str>> {
        (self.b.get(self.i) == Some(&b'"')).then_some(())?;
        let start = self.i;
        self.i += 1;
        let mut escaped = false;
        loop {
            match *self.b.get(self.i)? {
                b'"' => break,
                b'\\' => {
                    escaped = true;
                    self.i += 2;
                }
                _ => self.i += 1,
            }
        }
        self.i += 1;
        let b: &'a [u8] = self.b;
        let raw = std::str::from_utf8(&b[start..self.i]).ok()?;
        if escaped {
            serde_json::from_str::<String>(raw).ok().map(Cow::Owned)
        } else {
            Some(Cow::Borrowed(&raw[1..raw.len() - 1]))
        }
    }
}

/// A key as a path step: bare when it is a plain name, else quoted.
fn member_path(key: &str) -> String {
    let plain = !key.is_empty()
        && key.chars().all(|c| c.is_alphanumeric() || c == '_')
        && !key.starts_with(|c: char| c.is_ascii_digit());
    if plain {
        key.to_string()
    } else {
        serde_json::to_string(key).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_duplicates_at_any_depth_by_meaning() {
        assert_eq!(first_duplicate(r#"{"a": 1, "b": 2}"#), None);
        assert_eq!(first_duplicate(r#"[{"a": 1}, {"a": 2}]"#), None);
        let d = first_duplicate(r#"{"role":"user","role":"admin"}"#).unwrap();
        assert_eq!((d.path.as_str(), d.key.as_str()), ("$.role", "role"));
        let d = first_duplicate(r#"{"x": [1, {"k": 1, "k": 2}]}"#).unwrap();
        assert_eq!(d.path, "$.x[1].k");
        let d = first_duplicate(r#"{"\u0061": 1, "a": 2}"#).unwrap();
        assert_eq!(d.key, "a");
        assert_eq!(first_duplicate(r#"{"a b": {"c": 1}, "a b": 2}"#).unwrap().path, "$.\"a b\"");
    }

    #[test]
    fn keeps_the_first_and_every_other_byte() {
        assert_eq!(keep_first(r#"{"role":"user","role":"admin"}"#), r#"{"role":"user"}"#);
        assert_eq!(
            keep_first(r#"{"a": 1, "b": {"c": 1, "c": [2]}, "a": 3, "d": 4}"#),
            r#"{"a": 1, "b": {"c": 1}, "d": 4}"#
        );
        // A dropped member's own duplicates go with it.
        assert_eq!(keep_first(r#"{"a": 1, "a": {"b": 1, "b": 2}}"#), r#"{"a": 1}"#);
        assert_eq!(keep_first(r#"{"a":1,"a":2,"a":3}"#), r#"{"a":1}"#);
        let same = r#"{"a": [1, "x\"y"], "b": null}"#;
        assert!(matches!(keep_first(same), Cow::Borrowed(s) if s == same));
        for v in [r#"{"a":{"a":1},"b":[{"c":1,"c":2}]}"#, r#"{"a":1, "b":2 , "a" : 3 }"#] {
            let kept = keep_first(v);
            assert!(first_duplicate(&kept).is_none(), "{kept}");
            serde_json::from_str::<serde_json::Value>(&kept).unwrap();
        }
    }
}
