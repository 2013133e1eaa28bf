//! `CREATE TABLE` statements of a dump → [`Table`]: a small tokenizer and a hand
//! parser of the column and constraint lines mysqldump and mariadb-dump write.
//!
//! Column types are kept as written (lower-cased), which is what
//! `information_schema.COLUMNS.COLUMN_TYPE` says for the live table: `int(11)` from
//! MariaDB and MySQL 5.7, `int` from MySQL 8, `enum('a','b')`, `decimal(65,30) unsigned`.

use crate::error::{Error, Result};
use crate::schema::{Column, ForeignKey, MySqlType, Table};
use crate::types::classify;

/// What the parser cannot read, as [`Error::Other`]; the dump reader places it at the
/// statement's line.
fn bad(message: impl Into<String>) -> Error {
    Error::Other(message.into())
}

#[derive(Debug, Clone, PartialEq)]
enum Kind {
    /// A backtick-quoted name (unquoted) or a bare word (as written).
    Ident { quoted: bool },
    /// A string literal (unescaped).
    Str,
    /// One punctuation byte.
    Sym,
}

#[derive(Debug, Clone)]
struct Token {
    kind: Kind,
    text: String,
    start: usize,
    end: usize,
}

impl Token {
    /// A bare word equal to `kw` (any case).
    fn is(&self, kw: &str) -> bool {
        self.kind == (Kind::Ident { quoted: false }) && self.text.eq_ignore_ascii_case(kw)
    }

    fn sym(&self, c: char) -> bool {
        self.kind == Kind::Sym && self.text.len() == 1 && self.text.starts_with(c)
    }

    fn is_name(&self) -> bool {
        matches!(self.kind, Kind::Ident { .. })
    }
}

fn tokenize(src: &str) -> Result<Vec<Token>> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let start = i;
        match c {
            b' ' | b'\t' | b'\r' | b'\n' => i += 1,
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
fn matching(tokens: &[Token], open: usize) -> Result<usize> {
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

/// The names inside the parenthesised list starting at `open` (prefix lengths and
/// ASC/DESC dropped); returns them and the index after the closing `)`.
fn name_list(tokens: &[Token], open: usize) -> Result<(Vec<String>, usize)> {
    if !tokens.get(open).is_some_and(|t| t.sym('(')) {
        return Err(bad("expected a ( column list )"));
    }
    let close = matching(tokens, open)?;
    let mut names = Vec::new();
    let mut depth = 0;
    for t in &tokens[open..close] {
        if t.sym('(') {
            depth += 1;
        } else if t.sym(')') {
            depth -= 1;
        } else if depth == 1 && t.is_name() && !t.is("ASC") && !t.is("DESC") {
            names.push(t.text.clone());
        }
    }
    Ok((names, close + 1))
}

/// The column named in `json_valid(`col`)` inside `tokens`, if any.
fn json_valid_column(tokens: &[Token]) -> Option<String> {
    tokens.windows(4).find_map(|w| {
        (w[0].is("json_valid") && w[1].sym('(') && w[2].is_name() && w[3].sym(')')).then(|| w[2].text.clone())
    })
}

/// The value after an option keyword: skips an optional `=`.
fn option_value(tokens: &[Token], k: usize) -> Option<String> {
    let k = if tokens.get(k).is_some_and(|t| t.sym('=')) { k + 1 } else { k };
    tokens.get(k).filter(|t| t.kind != Kind::Sym).map(|t| t.text.to_ascii_lowercase())
}

/// The charset named by `CHARACTER SET x` / `CHARSET x` / `COLLATE x` in `tokens`.
fn charset_of(tokens: &[Token]) -> (Option<String>, Option<String>) {
    let (mut charset, mut collate) = (None, None);
    for k in 0..tokens.len() {
        if tokens[k].is("CHARSET") {
            charset = option_value(tokens, k + 1);
        } else if tokens[k].is("CHARACTER") && tokens.get(k + 1).is_some_and(|t| t.is("SET")) {
            charset = option_value(tokens, k + 2);
        } else if tokens[k].is("COLLATE") {
            collate = option_value(tokens, k + 1);
        }
    }
    (charset, collate)
}

fn resolve_charset(charset: Option<String>, collate: Option<String>) -> Option<String> {
    charset.or_else(|| collate.map(|c| c.split('_').next().unwrap_or(&c).to_string()))
}

const TEXT_TYPES: &[&str] = &["char", "varchar", "tinytext", "text", "mediumtext", "longtext", "enum", "set"];

/// Parses one `CREATE TABLE` statement (without its delimiter).
pub(crate) fn parse_create_table(sql: &str) -> Result<Table> {
    let tokens = tokenize(sql)?;
    let (name, k) = table_name(&tokens)?;
    if !tokens.get(k).is_some_and(|t| t.sym('(')) {
        return Err(bad(format!(
            "CREATE TABLE `{name}`: expected ( after the name (CREATE TABLE … LIKE/SELECT is not supported)"
        )));
    }
    let close = matching(&tokens, k)?;
    let (table_cs, table_coll) = charset_of(&tokens[close + 1..]);
    let table_charset = resolve_charset(table_cs, table_coll);
    let mut table =
        Table { name, ..Default::default() };
    let mut json_checked: Vec<String> = Vec::new();
    for item in body_items(&tokens, k, close).into_iter().filter(|i| !i.is_empty()) {
        let first = &item[0];
        let keyword = first.kind == (Kind::Ident { quoted: false })
            && ["PRIMARY", "KEY", "INDEX", "UNIQUE", "FULLTEXT", "SPATIAL", "CONSTRAINT", "FOREIGN", "CHECK", "PERIOD"]
                .iter()
                .any(|kw| first.is(kw));
        if keyword {
            constraint(item, &mut table, &mut json_checked)?;
            continue;
        }
        let (column, inline_pk) = parse_column(sql, item, table_charset.as_deref())?;
        if column.mysql.json_check {
            json_checked.push(column.name.clone());
        }
        if inline_pk {
            table.primary_key = vec![column.name.clone()];
        }
        table.columns.push(column);
    }
    for c in &mut table.columns {
        if json_checked.contains(&c.name) && !c.mysql.json_check {
            c.mysql.json_check = true;
            c.logical = classify(&c.mysql);
        }
    }
    if table.columns.is_empty() {
        return Err(bad(format!("CREATE TABLE `{}` has no columns", table.name)));
    }
    Ok(table)
}

/// `CREATE [TEMPORARY] [OR REPLACE] TABLE [IF NOT EXISTS] [db.]name`: the name and the
/// index of the token after it.
fn table_name(tokens: &[Token]) -> Result<(String, usize)> {
    let mut k = 0;
    let expect = |k: usize, kw: &str| tokens.get(k).is_some_and(|t| t.is(kw));
    if !expect(k, "CREATE") {
        return Err(bad("expected CREATE"));
    }
    k += 1;
    while expect(k, "TEMPORARY") || expect(k, "OR") || expect(k, "REPLACE") {
        k += 1;
    }
    if !expect(k, "TABLE") {
        return Err(bad("expected CREATE TABLE"));
    }
    k += 1;
    if expect(k, "IF") && expect(k + 1, "NOT") && expect(k + 2, "EXISTS") {
        k += 3;
    }
    let name_at = |k: usize| {
        tokens.get(k).filter(|t| t.is_name()).map(|t| t.text.clone()).ok_or_else(|| bad("expected the table name"))
    };
    let mut name = name_at(k)?;
    k += 1;
    while tokens.get(k).is_some_and(|t| t.sym('.')) {
        name = name_at(k + 1)?;
        k += 2;
    }
    Ok((name, k))
}

/// The body between the `(` at `open` and its `)` at `close`, split into items at
/// depth-0 commas.
fn body_items(tokens: &[Token], open: usize, close: usize) -> Vec<&[Token]> {
    let mut items: Vec<&[Token]> = Vec::new();
    let (mut depth, mut from) = (0, open + 1);
    for j in open + 1..close {
        let t = &tokens[j];
        if t.sym('(') {
            depth += 1;
        } else if t.sym(')') {
            depth -= 1;
        } else if t.sym(',') && depth == 0 {
            items.push(&tokens[from..j]);
            from = j + 1;
        }
    }
    items.push(&tokens[from..close]);
    items
}

/// One key or constraint line: the primary key and foreign keys go into `table`, a
/// `CHECK (json_valid(col))` into `json_checked`; other keys are skipped.
fn constraint(item: &[Token], table: &mut Table, json_checked: &mut Vec<String>) -> Result<()> {
    // Constraint names come after CONSTRAINT; the kind follows.
    let mut j = 0;
    let mut cname = String::new();
    if item[0].is("CONSTRAINT") {
        j = 1;
        if item
            .get(1)
            .is_some_and(|t| t.is_name() && !t.is("PRIMARY") && !t.is("FOREIGN") && !t.is("CHECK") && !t.is("UNIQUE"))
        {
            cname = item[1].text.clone();
            j = 2;
        }
    }
    let Some(kind) = item.get(j) else { return Ok(()) };
    if kind.is("PRIMARY") {
        let open = item.iter().position(|t| t.sym('(')).ok_or_else(|| bad("PRIMARY KEY without columns"))?;
        table.primary_key = name_list(item, open)?.0;
    } else if kind.is("FOREIGN") {
        table.foreign_keys.push(foreign_key(item, cname)?);
    } else if kind.is("CHECK") {
        if let Some(c) = json_valid_column(&item[j..]) {
            json_checked.push(c);
        }
    }
    Ok(())
}

/// `… FOREIGN KEY (cols) REFERENCES [db.]table (cols) …`.
fn foreign_key(item: &[Token], name: String) -> Result<ForeignKey> {
    let open = item.iter().position(|t| t.sym('(')).ok_or_else(|| bad("FOREIGN KEY without columns"))?;
    let (columns, after) = name_list(item, open)?;
    let r =
        (after..item.len()).find(|&x| item[x].is("REFERENCES")).ok_or_else(|| bad("FOREIGN KEY without REFERENCES"))?;
    let no_table = || bad("REFERENCES without a table");
    let mut x = r + 1;
    let mut ref_table = item.get(x).filter(|t| t.is_name()).ok_or_else(no_table)?.text.clone();
    x += 1;
    while item.get(x).is_some_and(|t| t.sym('.')) {
        ref_table = item.get(x + 1).ok_or_else(no_table)?.text.clone();
        x += 2;
    }
    let (ref_columns, _) = name_list(item, x)?;
    Ok(ForeignKey::new(name, columns, ref_table, ref_columns))
}

/// Parses one column line; also says whether it carries an inline `PRIMARY KEY`.
fn parse_column(sql: &str, item: &[Token], table_charset: Option<&str>) -> Result<(Column, bool)> {
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
    let attrs = &item[k..];
    let nullable = !attrs.windows(2).any(|w| w[0].is("NOT") && w[1].is("NULL"));
    let inline_pk = attrs.windows(2).any(|w| w[0].is("PRIMARY") && w[1].is("KEY"));
    if TEXT_TYPES.contains(&mysql.data_type.as_str()) {
        let (cs, coll) = charset_of(attrs);
        mysql.charset = resolve_charset(cs, coll).or_else(|| table_charset.map(str::to_string));
    }
    mysql.json_check = json_valid_column(attrs).is_some_and(|c| c == name);
    let logical = classify(&mysql);
    Ok((Column { name, mysql, nullable, logical, facts: Default::default() }, inline_pk))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Logical;

    const ORDER: &str = "CREATE TABLE `order` (
  `id` int(11) NOT NULL,
  `qid` int(11) DEFAULT NULL COMMENT 'it''s, (not) NOT NULL',
  `tid` char(36) NOT NULL,
  `data` longtext CHARACTER SET utf8mb4 COLLATE utf8mb4_bin DEFAULT NULL CHECK (json_valid(`data`)),
  `e` enum('a','b c','it''s') DEFAULT 'a',
  `amount` decimal(65,30) unsigned zerofill NOT NULL DEFAULT 0.000,
  `we``ird name` varchar(10) COLLATE latin1_bin,
  `at` datetime(6) NOT NULL DEFAULT current_timestamp(6) ON UPDATE current_timestamp(6),
  `j2` json /*!80023 INVISIBLE */,
  PRIMARY KEY (`id`,`tid`),
  UNIQUE KEY `u` (`tid`(10)),
  KEY `FK_q` (`qid`),
  CONSTRAINT `FK_q` FOREIGN KEY (`qid`) REFERENCES `query-result-cache` (`id`) ON DELETE CASCADE,
  CONSTRAINT `FK_t` FOREIGN KEY (`tid`, `id`) REFERENCES `db`.`texts` (`id`, `n`),
  CONSTRAINT `CONSTRAINT_1` CHECK (json_valid(`j2`))
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb3 COLLATE=utf8mb3_general_ci";

    #[test]
    fn parses_columns_keys_and_checks() {
        let t = parse_create_table(ORDER).unwrap();
        assert_eq!(t.name, "order");
        let names: Vec<_> = t.columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["id", "qid", "tid", "data", "e", "amount", "we`ird name", "at", "j2"]);
        let ty: Vec<_> = t.columns.iter().map(|c| c.mysql.column_type.as_str()).collect();
        assert_eq!(
            ty,
            [
                "int(11)",
                "int(11)",
                "char(36)",
                "longtext",
                "enum('a','b c','it''s')",
                "decimal(65,30) unsigned zerofill",
                "varchar(10)",
                "datetime(6)",
                "json"
            ]
        );
        let nullable: Vec<_> = t.columns.iter().map(|c| c.nullable).collect();
        assert_eq!(nullable, [false, true, false, true, true, false, true, false, true]);
        assert_eq!(t.primary_key, ["id", "tid"]);
        assert_eq!(t.foreign_keys.len(), 2);
        assert_eq!(
            t.foreign_keys[0],
            ForeignKey {
                on_delete: "CASCADE".into(),
                ..ForeignKey::new("FK_q".into(), vec!["qid".into()], "query-result-cache".into(), vec!["id".into()])
            }
        );
        assert_eq!(t.foreign_keys[1].columns, ["tid", "id"]);
        assert_eq!(t.foreign_keys[1].ref_table, "texts");
        assert_eq!(t.foreign_keys[1].ref_columns, ["id", "n"]);
        let data = &t.columns[3];
        assert!(data.mysql.json_check);
        assert_eq!(data.logical, Logical::Json);
        assert_eq!(data.mysql.charset.as_deref(), Some("utf8mb4"));
        assert_eq!(t.columns[2].logical, Logical::Uuid);
        assert_eq!(t.columns[2].mysql.charset.as_deref(), Some("utf8mb3"));
        assert_eq!(t.columns[6].mysql.charset.as_deref(), Some("latin1"));
        assert_eq!(t.columns[0].mysql.charset, None);
        assert_eq!(t.columns[4].mysql.members(), ["a", "b c", "it's"]);
        assert_eq!(t.columns[5].logical, Logical::Decimal(65, 30));
        assert_eq!(t.columns[5].mysql.precision, Some(65));
        assert!(t.columns[5].mysql.unsigned);
        assert_eq!(t.columns[7].mysql.fsp, Some(6));
        assert!(t.columns[8].mysql.json_check, "table-level CHECK (json_valid) marks the column");
        assert_eq!(t.estimated_rows, 0);
    }

    #[test]
    fn inline_primary_key_and_mysql8_forms() {
        let t = parse_create_table(
            "CREATE TABLE IF NOT EXISTS t (id bigint unsigned NOT NULL AUTO_INCREMENT PRIMARY KEY, b tinyint(1), f float(7,3), bits bit(8) DEFAULT b'0') ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_0900_ai_ci",
        )
        .unwrap();
        assert_eq!(t.name, "t");
        assert_eq!(t.primary_key, ["id"]);
        assert_eq!(t.columns[0].logical, Logical::UInt64);
        assert_eq!(t.columns[1].logical, Logical::Bool);
        assert_eq!(t.columns[2].mysql.column_type, "float(7,3)");
        assert_eq!(t.columns[3].mysql.precision, Some(8));
    }

    #[test]
    fn rejects_what_it_cannot_read() {
        assert!(parse_create_table("CREATE TABLE t LIKE u").is_err());
        assert!(parse_create_table("CREATE TABLE t (a int").is_err());
        assert!(parse_create_table("CREATE TABLE t (a 'x)").is_err());
    }
}
