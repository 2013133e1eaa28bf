//! `CREATE TABLE` statements of a dump → [`Table`]: a small tokenizer and a hand
//! parser of the lines mysqldump and mariadb-dump write — columns (in `column`), keys,
//! indexes, foreign keys with their actions, CHECKs and the table's options — to the
//! same shape the live reader takes from information_schema.
//!
//! Column types are kept as written (lower-cased), which is what
//! `information_schema.COLUMNS.COLUMN_TYPE` says for the live table: `int(11)` from
//! MariaDB and MySQL 5.7, `int` from MySQL 8, `enum('a','b')`, `decimal(65,30) unsigned`.

use super::column::{inside, parse_column, TableDefaults};
use super::tokens::{bad, matching, option_value, tokenize, Kind, Token};
use crate::error::Result;
use crate::schema::{Check, ForeignKey, Index, IndexKind, IndexPart, Table};
use crate::types::classify;

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
    let options = &tokens[close + 1..];
    let (charset, collation) = charset_of(options);
    let defaults = TableDefaults { charset, collation };
    let mut table = Table { name, ..Default::default() };
    table_options(sql, options, &mut table)?;
    for item in body_items(&tokens, k, close).into_iter().filter(|i| !i.is_empty()) {
        let first = &item[0];
        let keyword = first.kind == (Kind::Ident { quoted: false })
            && ["PRIMARY", "KEY", "INDEX", "UNIQUE", "FULLTEXT", "SPATIAL", "CONSTRAINT", "FOREIGN", "CHECK", "PERIOD"]
                .iter()
                .any(|kw| first.is(kw));
        if keyword {
            constraint(sql, item, &mut table)?;
            continue;
        }
        let line = parse_column(sql, item, &defaults)?;
        let column = line.column.name.clone();
        if line.primary_key {
            table.primary_key = vec![column.clone()];
        }
        if line.unique {
            let parts = vec![IndexPart { column: column.clone(), prefix: None, descending: false }];
            table.indexes.push(Index { name: column, parts, unique: true, kind: IndexKind::BTree });
        }
        table.checks.extend(line.check);
        table.columns.push(line.column);
    }
    if table.columns.is_empty() {
        return Err(bad(format!("CREATE TABLE `{}` has no columns", table.name)));
    }
    finish(&mut table);
    Ok(table)
}

/// What the whole table decides for its columns, and the order the live reader gives:
/// a table-level `CHECK (json_valid(col))` marks the column as JSON; an AUTO_INCREMENT
/// table without `AUTO_INCREMENT=` starts at 1; indexes and checks sorted by name.
fn finish(table: &mut Table) {
    for c in &mut table.columns {
        if !c.mysql.json_check && table.checks.iter().any(|k| k.json_valid_column().as_deref() == Some(&c.name)) {
            c.mysql.json_check = true;
            c.logical = classify(&c.mysql);
        }
    }
    if table.auto_increment.is_none() && table.columns.iter().any(|c| c.facts.auto_increment) {
        table.auto_increment = Some(1);
    }
    table.indexes.sort_by(|a, b| a.name.cmp(&b.name));
    table.checks.sort_by(|a, b| a.name.cmp(&b.name));
}

/// The options after the column list: `AUTO_INCREMENT=n`, `COMMENT='…'` and
/// `PARTITION BY …` (said the way the live reader says it).
fn table_options(sql: &str, options: &[Token], table: &mut Table) -> Result<()> {
    let mut k = 0;
    while k < options.len() {
        let t = &options[k];
        if t.is("AUTO_INCREMENT") {
            table.auto_increment = option_value(options, k + 1).and_then(|v| v.parse().ok());
        } else if t.is("COMMENT") {
            let at = if options.get(k + 1).is_some_and(|t| t.sym('=')) { k + 2 } else { k + 1 };
            if let Some(c) = options.get(at).filter(|c| c.kind == Kind::Str) {
                table.comment = c.text.clone();
            }
        } else if t.is("PARTITION") && options.get(k + 1).is_some_and(|b| b.is("BY")) {
            table.partitioning = Some(partitioning(sql, &options[k + 2..])?);
            break;
        }
        k += 1;
    }
    Ok(())
}

/// `PARTITION BY method (expression) [PARTITIONS n | (PARTITION …, …)]` as
/// `PARTITION BY HASH (`id`) — 2 partitions`.
fn partitioning(sql: &str, t: &[Token]) -> Result<String> {
    let open = t.iter().position(|x| x.sym('(')).ok_or_else(|| bad("PARTITION BY without an expression"))?;
    let method: Vec<String> = t[..open].iter().map(|w| w.text.to_ascii_uppercase()).collect();
    let (expression, after) = inside(sql, t, open)?;
    let rest = &t[after..];
    let counted = rest.windows(2).find(|w| w[0].is("PARTITIONS")).and_then(|w| w[1].text.parse::<u64>().ok());
    let listed = match rest.iter().position(|x| x.sym('(')) {
        Some(list) => {
            let close = matching(rest, list)?;
            let mut depth = 0;
            let mut n = 0;
            for x in &rest[list..close] {
                depth += i32::from(x.sym('(')) - i32::from(x.sym(')'));
                n += u64::from(depth == 1 && x.is("PARTITION"));
            }
            n
        }
        None => 0,
    };
    let n = counted.unwrap_or(listed);
    Ok(format!("PARTITION BY {} ({expression}) — {n} partitions", method.join(" ")))
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

/// One key or constraint line: the primary key, a unique or secondary index, a
/// foreign key or a CHECK, into `table`.
fn constraint(sql: &str, item: &[Token], table: &mut Table) -> Result<()> {
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
        let open = j + 1;
        if item.get(open).is_some_and(|t| t.sym('(')) {
            let (clause, _) = inside(sql, item, open)?;
            let name = if cname.is_empty() { format!("CONSTRAINT_{}", table.checks.len() + 1) } else { cname };
            table.checks.push(Check { name, clause: clause.to_string() });
        }
    } else if ["UNIQUE", "KEY", "INDEX", "FULLTEXT", "SPATIAL"].iter().any(|kw| kind.is(kw)) {
        table.indexes.push(index(item, j, cname)?);
    }
    Ok(())
}

/// `[UNIQUE|FULLTEXT|SPATIAL] [KEY|INDEX] [name] (part, …)`, a part being
/// `col[(prefix)] [ASC|DESC]`. Without a name MySQL names it after its first column.
fn index(item: &[Token], j: usize, constraint_name: String) -> Result<Index> {
    let kind = match item[j].text.to_ascii_uppercase().as_str() {
        "FULLTEXT" => IndexKind::FullText,
        "SPATIAL" => IndexKind::Spatial,
        _ => IndexKind::BTree,
    };
    let unique = item[j].is("UNIQUE");
    let open = item.iter().position(|t| t.sym('(')).ok_or_else(|| bad("an index without columns"))?;
    let named = item[j + 1..open].iter().rev().find(|t| t.is_name() && !t.is("KEY") && !t.is("INDEX"));
    let close = matching(item, open)?;
    let mut parts = Vec::new();
    let mut k = open + 1;
    while k < close {
        let end = (k..close).find(|&x| item[x].sym(',')).unwrap_or(close);
        let part = &item[k..end];
        let column = part.first().filter(|t| t.is_name()).map(|t| t.text.clone()).unwrap_or_default();
        let prefix = part.get(1).filter(|t| t.sym('(')).and_then(|_| part.get(2)).and_then(|n| n.text.parse().ok());
        let descending = part.iter().any(|t| t.is("DESC"));
        parts.push(IndexPart { column, prefix, descending });
        k = end + 1;
    }
    let name = match named {
        Some(t) => t.text.clone(),
        None if !constraint_name.is_empty() => constraint_name,
        None => parts.first().map(|p| p.column.clone()).unwrap_or_default(),
    };
    Ok(Index { name, parts, unique, kind })
}

/// `… FOREIGN KEY (cols) REFERENCES [db.]table (cols) [ON DELETE a] [ON UPDATE a]`.
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
    let (ref_columns, after) = name_list(item, x)?;
    let mut fk = ForeignKey::new(name, columns, ref_table, ref_columns);
    let rest = &item[after..];
    for k in 0..rest.len() {
        if !rest[k].is("ON") {
            continue;
        }
        let action = match (rest.get(k + 2), rest.get(k + 3)) {
            (Some(a), Some(b)) if a.is("SET") || a.is("NO") => format!("{} {}", a.text, b.text),
            (Some(a), _) => a.text.clone(),
            _ => continue,
        }
        .to_ascii_uppercase();
        match rest.get(k + 1) {
            Some(w) if w.is("DELETE") => fk.on_delete = action,
            Some(w) if w.is("UPDATE") => fk.on_update = action,
            _ => {}
        }
    }
    Ok(fk)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{ColumnDefault, Generated};
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
        let f = |i: usize| &t.columns[i].facts;
        assert_eq!(f(1).default, Some(ColumnDefault::Null));
        assert_eq!(f(1).comment, "it's, (not) NOT NULL");
        assert_eq!(f(0).default, None);
        assert_eq!(f(4).default, Some(ColumnDefault::Literal("a".into())));
        assert_eq!(f(5).default, Some(ColumnDefault::Literal("0.000".into())));
        assert_eq!(f(7).default, Some(ColumnDefault::CurrentTimestamp(6)));
        assert_eq!(f(7).on_update_now, Some(6));
        assert_eq!(f(3).collation.as_deref(), Some("utf8mb4_bin"));
        assert_eq!(f(2).collation.as_deref(), Some("utf8mb3_general_ci"), "the table's");
        assert_eq!(f(6).collation.as_deref(), Some("latin1_bin"));
        let checks: Vec<_> = t.checks.iter().map(|c| (c.name.as_str(), c.clause.as_str())).collect();
        assert_eq!(checks, [("CONSTRAINT_1", "json_valid(`j2`)"), ("data", "json_valid(`data`)")]);
        let u = t.indexes.iter().find(|i| i.name == "u").unwrap();
        assert!(u.unique);
        assert_eq!(u.parts, [IndexPart { column: "tid".into(), prefix: Some(10), descending: false }]);
        assert_eq!(t.indexes.iter().map(|i| i.name.as_str()).collect::<Vec<_>>(), ["FK_q", "u"]);
    }

    #[test]
    fn reads_generated_columns_table_options_and_versioned_comments() {
        let t = parse_create_table(
            "CREATE TABLE `t` (`id` int NOT NULL AUTO_INCREMENT, `a` int DEFAULT (`id` + 1), `g` int GENERATED ALWAYS AS ((`a` * 2)) STORED,              `v` varchar(9) AS (concat(`a`,'x')) VIRTUAL, `n` int DEFAULT -1 CHECK (`n` is not null), PRIMARY KEY (`id`),              FULLTEXT KEY `ft` (`v`), KEY `d` (`a` DESC, `n`), CONSTRAINT `c1` CHECK ((`a` > 0)) /*!80016 NOT ENFORCED */)              ENGINE=InnoDB COMMENT='it''s' /*!50100 PARTITION BY RANGE (`id`) (PARTITION p0 VALUES LESS THAN (10) ENGINE = InnoDB, PARTITION p1 VALUES LESS THAN MAXVALUE ENGINE = InnoDB) */",
        )
        .unwrap();
        let f = |i: usize| &t.columns[i].facts;
        assert!(f(0).auto_increment);
        assert_eq!(t.auto_increment, Some(1), "an AUTO_INCREMENT table without AUTO_INCREMENT= starts at 1");
        assert_eq!(f(1).default, Some(ColumnDefault::Expression("(`id` + 1)".into())));
        assert_eq!(f(2).generated, Some(Generated { expression: "(`a` * 2)".into(), stored: true }));
        assert_eq!(f(2).default, None);
        assert_eq!(f(3).generated, Some(Generated { expression: "concat(`a`,'x')".into(), stored: false }));
        assert_eq!(f(4).default, Some(ColumnDefault::Literal("-1".into())));
        assert!(t.columns[4].nullable, "NOT NULL inside the CHECK is not the column's");
        assert_eq!(t.comment, "it's");
        assert_eq!(t.partitioning.as_deref(), Some("PARTITION BY RANGE (`id`) — 2 partitions"));
        assert_eq!(t.checks.iter().map(|c| c.clause.as_str()).collect::<Vec<_>>(), ["(`a` > 0)", "`n` is not null"]);
        let d = t.indexes.iter().find(|i| i.name == "d").unwrap();
        assert!(d.parts[0].descending && !d.parts[1].descending);
        assert_eq!(t.indexes.iter().find(|i| i.name == "ft").unwrap().kind, IndexKind::FullText);
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
        let t = parse_create_table("CREATE TABLE p (pos point NOT NULL /*!80003 SRID 4326 */, g geometry)").unwrap();
        assert_eq!((t.columns[0].mysql.srid, t.columns[1].mysql.srid), (Some(4326), None));
        assert!(!t.columns[0].nullable);
    }

    #[test]
    fn rejects_what_it_cannot_read() {
        assert!(parse_create_table("CREATE TABLE t LIKE u").is_err());
        assert!(parse_create_table("CREATE TABLE t (a int").is_err());
        assert!(parse_create_table("CREATE TABLE t (a 'x)").is_err());
    }
}
