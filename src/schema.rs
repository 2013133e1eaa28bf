//! The source-agnostic description of a MySQL database: tables, columns with their
//! MySQL types, keys, indexes, foreign keys with their actions, CHECK constraints,
//! defaults, generated columns and comments. The live reader fills it from
//! information_schema, the dump reader from `CREATE TABLE` statements; `converge schema`
//! creates a PostgreSQL schema from it (docs/architecture.md, "Creating the target").

use crate::types::Logical;
pub use crate::types::MySqlType;

/// One column of a source table.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    /// The column name, as in the source.
    pub name: String,
    /// Its MySQL type.
    pub mysql: MySqlType,
    /// NULL allowed.
    pub nullable: bool,
    /// How `converge` carries it (decided by [`crate::types::classify`] and the pipeline).
    pub logical: Logical,
    /// What else MySQL says of it: default, AUTO_INCREMENT, generation, comment, collation.
    pub facts: ColumnFacts,
}

/// A column's default, as MySQL declares it.
#[derive(Debug, Clone, PartialEq)]
pub enum ColumnDefault {
    /// `DEFAULT NULL` (said explicitly or implied for a nullable column).
    Null,
    /// A literal, as MySQL's text of the value (a string unquoted, a number as written,
    /// a bit value `b'101'` as written).
    Literal(String),
    /// `CURRENT_TIMESTAMP[(n)]` / `now()`: the fractional digits.
    CurrentTimestamp(u32),
    /// Any other expression (MySQL 8.0.13+, MariaDB 10.2+), as MySQL prints it.
    Expression(String),
}

impl ColumnDefault {
    /// A default as MariaDB prints it, the same in information_schema.COLUMNS and in
    /// `SHOW CREATE TABLE` (so in a dump): `NULL`, `'text'` (quotes doubled, backslash
    /// escapes), a number, `b'101'`, or an expression. A MySQL 8 dump's forms (`'0'`,
    /// `(uuid())`, `CURRENT_TIMESTAMP`) read the same way.
    pub fn from_printed(d: &str) -> ColumnDefault {
        if d.eq_ignore_ascii_case("NULL") {
            return ColumnDefault::Null;
        }
        if let Some(inner) = d.strip_prefix('\'').and_then(|x| x.strip_suffix('\'')) {
            return ColumnDefault::Literal(unquote_printed(inner));
        }
        if d.parse::<f64>().is_ok() || (d.starts_with("b'") && d.ends_with('\'')) {
            return ColumnDefault::Literal(d.to_string());
        }
        ColumnDefault::expression(d)
    }

    /// `current_timestamp()` / `now(6)` / `CURRENT_TIMESTAMP` as such; anything else an
    /// expression, as printed.
    pub fn expression(d: &str) -> ColumnDefault {
        let l = d.trim().to_ascii_lowercase();
        let now = ["current_timestamp", "now", "localtimestamp", "localtime"].iter().any(|f| {
            l.strip_prefix(f).is_some_and(|rest| rest.is_empty() || (rest.starts_with('(') && rest.ends_with(')')))
        });
        if now {
            ColumnDefault::CurrentTimestamp(now_fsp(&l))
        } else {
            ColumnDefault::Expression(d.to_string())
        }
    }
}

/// The fractional digits of `current_timestamp(n)` at the start of `text` (0 without).
pub fn now_fsp(text: &str) -> u32 {
    let Some(open) = text.find('(') else { return 0 };
    let close = text[open..].find(')').map_or(text.len(), |c| open + c);
    text[open + 1..close].trim().parse().unwrap_or(0)
}

/// A quoted default's inside: `''` for a quote and backslash escapes.
fn unquote_printed(inner: &str) -> String {
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' if chars.peek() == Some(&'\'') => {
                chars.next();
                out.push('\'');
            }
            '\\' => match chars.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some('r') => out.push('\r'),
                Some('0') => out.push('\0'),
                Some('Z') => out.push('\x1a'),
                Some(other) => out.push(other),
                None => out.push('\\'),
            },
            other => out.push(other),
        }
    }
    out
}

/// A generated column: `GENERATED ALWAYS AS (expr) STORED | VIRTUAL`.
#[derive(Debug, Clone, PartialEq)]
pub struct Generated {
    /// The expression, as MySQL prints it (identifiers in backticks).
    pub expression: String,
    /// `STORED` (`PERSISTENT` in MariaDB) rather than `VIRTUAL`.
    pub stored: bool,
}

/// What a column declares besides its type and nullability.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ColumnFacts {
    /// Its default; `None` when it has none (a NOT NULL column without one).
    pub default: Option<ColumnDefault>,
    /// `AUTO_INCREMENT`.
    pub auto_increment: bool,
    /// `ON UPDATE CURRENT_TIMESTAMP[(n)]`: the fractional digits.
    pub on_update_now: Option<u32>,
    /// `GENERATED ALWAYS AS (…)`.
    pub generated: Option<Generated>,
    /// `COMMENT '…'` (empty when none).
    pub comment: String,
    /// The collation of a text column (`utf8mb4_general_ci`), when known.
    pub collation: Option<String>,
}

impl ColumnFacts {
    /// A case-insensitive collation (`…_ci`, or MySQL 8's `…_ai_ci`/`…_as_ci`).
    pub fn case_insensitive(&self) -> bool {
        self.collation.as_deref().is_some_and(|c| c.ends_with("_ci"))
    }
}

/// The kind of a secondary index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IndexKind {
    /// An ordinary B-tree (or hash) index.
    #[default]
    BTree,
    /// `FULLTEXT`.
    FullText,
    /// `SPATIAL`.
    Spatial,
}

/// One column of an index.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexPart {
    /// The column (empty for a MySQL 8 functional key part).
    pub column: String,
    /// A prefix length (`KEY (name(10))`), in characters or bytes.
    pub prefix: Option<u32>,
    /// `DESC`.
    pub descending: bool,
}

/// A unique or secondary index (the primary key is [`Table::primary_key`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Index {
    /// The index name (per table in MySQL).
    pub name: String,
    /// Its columns, in order.
    pub parts: Vec<IndexPart>,
    /// `UNIQUE`.
    pub unique: bool,
    /// B-tree, full-text or spatial.
    pub kind: IndexKind,
}

impl Index {
    /// The column names, in order.
    pub fn columns(&self) -> Vec<String> {
        self.parts.iter().map(|p| p.column.clone()).collect()
    }
}

/// A CHECK constraint.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    /// Constraint name.
    pub name: String,
    /// The condition, as MySQL prints it (identifiers in backticks).
    pub clause: String,
}

impl Check {
    /// The column a MariaDB `json_valid(`col`)` check names, if that is all it says.
    pub fn json_valid_column(&self) -> Option<String> {
        let inner = self.clause.trim().strip_prefix("json_valid(")?.strip_suffix(')')?;
        Some(inner.trim().strip_prefix('`')?.strip_suffix('`')?.replace("``", "`"))
    }
}

/// A foreign key of a source table.
#[derive(Debug, Clone, PartialEq)]
pub struct ForeignKey {
    /// Constraint name.
    pub name: String,
    /// Referencing columns, in order.
    pub columns: Vec<String>,
    /// Referenced table.
    pub ref_table: String,
    /// Referenced columns, in order.
    pub ref_columns: Vec<String>,
    /// `ON DELETE` action in upper case (`RESTRICT` when MySQL says none).
    pub on_delete: String,
    /// `ON UPDATE` action in upper case.
    pub on_update: String,
}

impl ForeignKey {
    /// A foreign key with MySQL's default actions (`RESTRICT`).
    pub fn new(name: String, columns: Vec<String>, ref_table: String, ref_columns: Vec<String>) -> ForeignKey {
        ForeignKey { name, columns, ref_table, ref_columns, on_delete: "RESTRICT".into(), on_update: "RESTRICT".into() }
    }
}

/// One source table.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Table {
    /// The table name, as in the source.
    pub name: String,
    /// Columns in ordinal order.
    pub columns: Vec<Column>,
    /// Primary key columns, in key order (empty when the table has none).
    pub primary_key: Vec<String>,
    /// Foreign keys.
    pub foreign_keys: Vec<ForeignKey>,
    /// The server's row estimate (information_schema.tables.table_rows); 0 when unknown.
    pub estimated_rows: u64,
    /// Unique and secondary indexes, by name (not the primary key).
    pub indexes: Vec<Index>,
    /// CHECK constraints (MariaDB's `json_valid` checks included).
    pub checks: Vec<Check>,
    /// `COMMENT '…'` (empty when none).
    pub comment: String,
    /// `PARTITION BY …`, as MySQL prints it, when the table is partitioned.
    pub partitioning: Option<String>,
    /// The table's `AUTO_INCREMENT` counter (the next value MySQL would give).
    pub auto_increment: Option<u64>,
}

impl Table {
    /// Index of a column by name.
    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }

    /// Whether `columns` (in any order) are the primary key or a unique B-tree index:
    /// what PostgreSQL requires of the columns a foreign key references (InnoDB only
    /// asks for an index).
    pub fn is_unique(&self, columns: &[String]) -> bool {
        let same = |cols: Vec<&String>| cols.len() == columns.len() && columns.iter().all(|c| cols.contains(&c));
        same(self.primary_key.iter().collect())
            || self
                .indexes
                .iter()
                .filter(|ix| ix.unique && ix.kind == IndexKind::BTree)
                .any(|ix| same(ix.parts.iter().map(|p| &p.column).collect()))
    }

    /// Indexes of the primary key columns.
    pub fn key_indexes(&self) -> Vec<usize> {
        self.primary_key.iter().filter_map(|k| self.column_index(k)).collect()
    }
}

/// Orders tables so that every referenced table comes before the tables that reference
/// it; cycles and self-references are broken deterministically (by name).
pub fn dependency_order(tables: &[Table]) -> Vec<usize> {
    let names: Vec<&str> = tables.iter().map(|t| t.name.as_str()).collect();
    let mut placed = vec![false; tables.len()];
    let mut order = Vec::with_capacity(tables.len());
    let mut by_name: Vec<usize> = (0..tables.len()).collect();
    by_name.sort_by(|a, b| names[*a].cmp(names[*b]));
    while order.len() < tables.len() {
        let ready = by_name.iter().copied().find(|&i| {
            !placed[i]
                && tables[i].foreign_keys.iter().all(|fk| {
                    fk.ref_table == tables[i].name
                        || names.iter().position(|n| *n == fk.ref_table).is_none_or(|j| placed[j])
                })
        });
        // A cycle: take the first unplaced table by name.
        let next = ready.unwrap_or_else(|| by_name.iter().copied().find(|&i| !placed[i]).unwrap());
        placed[next] = true;
        order.push(next);
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_json_valid_checks() {
        let c = |clause: &str| Check { name: "c".into(), clause: clause.into() }.json_valid_column();
        assert_eq!(c("json_valid(`we``ird`)").as_deref(), Some("we`ird"));
        assert_eq!(c("`a` > 0"), None);
    }

    #[test]
    fn parses_column_types() {
        let t = MySqlType::parse("decimal(65,30) unsigned");
        assert_eq!((t.data_type.as_str(), t.precision, t.scale, t.unsigned), ("decimal", Some(65), Some(30), true));
        let t = MySqlType::parse("datetime(6)");
        assert_eq!(t.fsp, Some(6));
        let t = MySqlType::parse("enum('a','it''s','c,d')");
        assert_eq!(t.members(), vec!["a", "it's", "c,d"]);
        let t = MySqlType::parse("ENUM('Good','Meh') ");
        assert_eq!((t.data_type.as_str(), t.column_type.as_str()), ("enum", "enum('Good','Meh')"));
        assert_eq!(t.members(), vec!["Good", "Meh"]);
        assert_eq!(MySqlType::parse("char(36)").max_length, Some(36));
    }
}
