//! One column line of a dump's `CREATE TABLE`: its type, nullability, default,
//! AUTO_INCREMENT, ON UPDATE, generation, comment, collation, and an inline CHECK or key,
//! read to the same [`ColumnFacts`] the live reader takes from information_schema
//! (docs/architecture.md, "Creating the target").

use super::tokens::{bad, matching, option_value, Kind, Token};
use crate::error::Result;
use crate::schema::{now_fsp, Check, Column, ColumnDefault, ColumnFacts, Generated, MySqlType};
use crate::types::classify;

/// The types whose columns carry a character set and a collation.
const TEXT_TYPES: &[&str] = &["char", "varchar", "tinytext", "text", "mediumtext", "longtext", "enum", "set"];

/// What the table says for its columns: its default character set and collation.
#[derive(Debug, Default)]
pub(super) struct TableDefaults {
    pub charset: Option<String>,
    pub collation: Option<String>,
}

/// One parsed column line.
pub(super) struct ColumnLine {
    pub column: Column,
    /// `PRIMARY KEY` written on the column.
    pub primary_key: bool,
    /// `UNIQUE [KEY]` written on the column.
    pub unique: bool,
    /// `CHECK (…)` written on the column (MariaDB names it after the column).
    pub check: Option<Check>,
}

/// The index after the expression that starts at `k`: a parenthesised expression, or a
/// run of tokens written without spaces (`-1.50`, `b'101'`, `current_timestamp(3)`).
fn expression_end(tokens: &[Token], k: usize) -> Result<usize> {
    let mut last = if tokens[k].sym('(') { matching(tokens, k)? } else { k };
    while let Some(next) = tokens.get(last + 1) {
        if next.start != tokens[last].end || next.sym(',') {
            break;
        }
        last = if next.sym('(') { matching(tokens, last + 1)? } else { last + 1 };
    }
    Ok(last + 1)
}

/// The source text of `tokens[from..to]`.
fn text<'a>(sql: &'a str, tokens: &[Token], from: usize, to: usize) -> &'a str {
    &sql[tokens[from].start..tokens[to - 1].end]
}

/// The text between the `(` at `open` and its `)`; returns it and the index after `)`.
pub(super) fn inside<'a>(sql: &'a str, tokens: &[Token], open: usize) -> Result<(&'a str, usize)> {
    let close = matching(tokens, open)?;
    Ok((sql[tokens[open].end..tokens[close].start].trim(), close + 1))
}

/// The default collation of a character set, as MariaDB and MySQL name it; `None` for
/// one not listed here (the collation then stays unknown rather than guessed).
fn default_collation(charset: &str) -> Option<String> {
    let c = match charset {
        "latin1" => "latin1_swedish_ci",
        "binary" => "binary",
        "gbk" => "gbk_chinese_ci",
        "big5" => "big5_chinese_ci",
        "gb2312" => "gb2312_chinese_ci",
        "sjis" => "sjis_japanese_ci",
        "ujis" => "ujis_japanese_ci",
        "euckr" => "euckr_korean_ci",
        "utf8mb4" | "utf8mb3" | "ascii" | "ucs2" | "utf16" | "utf16le" | "utf32" | "latin2" | "latin5" | "latin7"
        | "cp1250" | "cp1251" | "cp1256" | "cp1257" | "greek" | "hebrew" | "koi8r" | "koi8u" | "cp850" | "cp852"
        | "cp866" | "armscii8" | "dec8" | "hp8" | "swe7" | "macroman" | "macce" | "keybcs2" | "geostd8" | "tis620" => {
            return Some(format!("{charset}_general_ci"))
        }
        "utf8" => "utf8mb3_general_ci",
        _ => return None,
    };
    Some(c.to_string())
}

/// A text column's character set and collation: its own `CHARACTER SET` / `COLLATE`,
/// else the table's.
fn charset_and_collation(
    explicit: (Option<String>, Option<String>),
    table: &TableDefaults,
) -> (Option<String>, Option<String>) {
    let from_collation = |c: &String| c.split('_').next().unwrap_or(c).to_string();
    match explicit {
        (cs, Some(coll)) => (cs.or_else(|| Some(from_collation(&coll))), Some(coll)),
        (Some(cs), None) => {
            let coll = default_collation(&cs);
            (Some(cs), coll)
        }
        (None, None) => {
            let cs = table.charset.clone().or_else(|| table.collation.as_ref().map(from_collation));
            let coll = table.collation.clone().or_else(|| cs.as_deref().and_then(default_collation));
            (cs, coll)
        }
    }
}

/// Parses one column line (`item` holds its tokens; `sql` is the statement they index).
pub(super) fn parse_column(sql: &str, item: &[Token], table: &TableDefaults) -> Result<ColumnLine> {
    let name = item[0].text.clone();
    let base = item
        .get(1)
        .filter(|t| t.kind == (Kind::Ident { quoted: false }))
        .ok_or_else(|| bad(format!("column `{name}`: no type")))?;
    let mut k = 2;
    let mut type_end = base.end;
    if item.get(k).is_some_and(|t| t.sym('(')) {
        let close = matching(item, k)?;
        type_end = item[close].end;
        k = close + 1;
    }
    while item.get(k).is_some_and(|t| t.is("UNSIGNED") || t.is("SIGNED") || t.is("ZEROFILL")) {
        type_end = item[k].end;
        k += 1;
    }
    let mut mysql = MySqlType::parse(&sql[base.start..type_end]);
    let mut line = attributes(sql, &item[k..], &name)?;
    if TEXT_TYPES.contains(&mysql.data_type.as_str()) {
        let (cs, coll) = charset_and_collation(std::mem::take(&mut line.explicit_charset), table);
        mysql.charset = cs;
        line.facts.collation = coll;
    }
    if line.nullable && line.facts.default.is_none() && line.facts.generated.is_none() {
        line.facts.default = Some(ColumnDefault::Null);
    }
    mysql.srid = line.srid;
    mysql.json_check = line.check.as_ref().is_some_and(|c| c.json_valid_column().as_deref() == Some(&name));
    let logical = classify(&mysql);
    let column = Column { name, mysql, nullable: line.nullable, logical, facts: line.facts };
    Ok(ColumnLine { column, primary_key: line.primary_key, unique: line.unique, check: line.check })
}

/// What the attributes after a column's type say.
struct Attributes {
    nullable: bool,
    facts: ColumnFacts,
    explicit_charset: (Option<String>, Option<String>),
    primary_key: bool,
    unique: bool,
    check: Option<Check>,
    /// MySQL 8's `SRID n` of a spatial column (`/*!80003 SRID n */` in a dump).
    srid: Option<u32>,
}

/// Reads the attributes after a column's type, one at a time (so that a `NOT NULL`
/// inside a CHECK or a comment is not taken for the column's).
fn attributes(sql: &str, a: &[Token], column: &str) -> Result<Attributes> {
    let mut out = Attributes {
        nullable: true,
        facts: ColumnFacts::default(),
        explicit_charset: (None, None),
        primary_key: false,
        unique: false,
        check: None,
        srid: None,
    };
    let next_is = |k: usize, kw: &str| a.get(k).is_some_and(|t| t.is(kw));
    let mut k = 0;
    while k < a.len() {
        let t = &a[k];
        k += 1;
        if t.is("NOT") && next_is(k, "NULL") {
            out.nullable = false;
            k += 1;
        } else if t.is("DEFAULT") && k < a.len() {
            let end = expression_end(a, k)?;
            out.facts.default = Some(ColumnDefault::from_printed(text(sql, a, k, end)));
            k = end;
        } else if t.is("ON") && next_is(k, "UPDATE") && k + 1 < a.len() {
            let end = expression_end(a, k + 1)?;
            out.facts.on_update_now = Some(now_fsp(&text(sql, a, k + 1, end).to_ascii_lowercase()));
            k = end;
        } else if t.is("AUTO_INCREMENT") {
            out.facts.auto_increment = true;
        } else if t.is("COMMENT") && a.get(k).is_some_and(|c| c.kind == Kind::Str) {
            out.facts.comment = a[k].text.clone();
            k += 1;
        } else if t.is("COLLATE") {
            out.explicit_charset.1 = option_value(a, k);
            k += 1;
        } else if t.is("CHARSET") || (t.is("CHARACTER") && next_is(k, "SET")) {
            k += usize::from(t.is("CHARACTER"));
            out.explicit_charset.0 = option_value(a, k);
            k += 1;
        } else if t.is("AS") && a.get(k).is_some_and(|p| p.sym('(')) {
            let (expression, after) = inside(sql, a, k)?;
            let stored = a[after..].iter().any(|w| w.is("STORED") || w.is("PERSISTENT"));
            out.facts.generated = Some(Generated { expression: expression.to_string(), stored });
            k = after;
        } else if t.is("CHECK") && a.get(k).is_some_and(|p| p.sym('(')) {
            let (clause, after) = inside(sql, a, k)?;
            out.check = Some(Check { name: column.to_string(), clause: clause.to_string() });
            k = after;
        } else if t.is("PRIMARY") && next_is(k, "KEY") {
            out.primary_key = true;
            k += 1;
        } else if t.is("UNIQUE") {
            out.unique = true;
        } else if t.is("SRID") && a.get(k).is_some_and(|n| n.text.parse::<u32>().is_ok()) {
            out.srid = a[k].text.parse().ok();
            k += 1;
        } else if t.sym('(') {
            k = matching(a, k - 1)? + 1;
        }
    }
    Ok(out)
}
