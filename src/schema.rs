//! The source-agnostic description of a MySQL database: tables, columns with their
//! MySQL types, keys and foreign keys. The live reader fills it from
//! information_schema, the dump reader from `CREATE TABLE` statements.

use crate::types::Logical;

/// A column's MySQL type, as information_schema describes it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MySqlType {
    /// The base type in lower case: `tinyint`, `varchar`, `datetime`, …
    pub data_type: String,
    /// The full column type in lower case: `tinyint(1) unsigned`, `enum('a','b')`, …
    pub column_type: String,
    /// `unsigned` integer or decimal.
    pub unsigned: bool,
    /// Numeric precision (decimal) or bit width (bit).
    pub precision: Option<u32>,
    /// Numeric scale (decimal).
    pub scale: Option<u32>,
    /// Maximum length in characters (char family) or bytes (binary family).
    pub max_length: Option<u64>,
    /// Fractional seconds precision (datetime, timestamp, time).
    pub fsp: Option<u32>,
    /// Character set of a text column (`utf8mb4`, `latin1`, …).
    pub charset: Option<String>,
    /// MariaDB's `json_valid(col)` check constraint marks a longtext as JSON.
    pub json_check: bool,
}

impl MySqlType {
    /// Builds a type from a column type string such as `decimal(65,30) unsigned`
    /// (the form information_schema and `CREATE TABLE` both use).
    pub fn parse(column_type: &str) -> MySqlType {
        // Lower case, except inside quotes: an enum's labels keep their case.
        let mut quoted = false;
        let ct: String = column_type
            .trim()
            .chars()
            .map(|c| {
                if c == '\'' {
                    quoted = !quoted;
                }
                if quoted {
                    c
                } else {
                    c.to_ascii_lowercase()
                }
            })
            .collect();
        let base_end = ct.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(ct.len());
        let data_type = ct[..base_end].to_string();
        let args: Vec<u64> = match (ct.find('('), ct.find(')')) {
            (Some(a), Some(b)) if b > a && !matches!(data_type.as_str(), "enum" | "set") => {
                ct[a + 1..b].split(',').filter_map(|s| s.trim().parse().ok()).collect()
            }
            _ => Vec::new(),
        };
        let unsigned = ct.contains(" unsigned");
        let mut t = MySqlType { data_type: data_type.clone(), column_type: ct.clone(), unsigned, ..Default::default() };
        match data_type.as_str() {
            "decimal" | "numeric" | "dec" | "fixed" => {
                t.precision = Some(args.first().copied().unwrap_or(10) as u32);
                t.scale = Some(args.get(1).copied().unwrap_or(0) as u32);
            }
            "bit" => t.precision = Some(args.first().copied().unwrap_or(1) as u32),
            "datetime" | "timestamp" | "time" => t.fsp = Some(args.first().copied().unwrap_or(0) as u32),
            "char" | "varchar" | "binary" | "varbinary" => t.max_length = args.first().copied(),
            _ => {}
        }
        t
    }

    /// The values of an `enum(…)` or `set(…)` type, unquoted.
    pub fn members(&self) -> Vec<String> {
        let ct = &self.column_type;
        let (Some(a), Some(b)) = (ct.find('('), ct.rfind(')')) else { return Vec::new() };
        let inner = &ct[a + 1..b];
        let mut out = Vec::new();
        let mut cur = String::new();
        let mut in_q = false;
        let mut chars = inner.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\'' if in_q && chars.peek() == Some(&'\'') => {
                    cur.push('\'');
                    chars.next();
                }
                '\'' => {
                    in_q = !in_q;
                    if !in_q {
                        out.push(std::mem::take(&mut cur));
                    }
                }
                _ if in_q => cur.push(c),
                _ => {}
            }
        }
        out
    }
}

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
}

/// One source table.
#[derive(Debug, Clone, PartialEq)]
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
}

impl Table {
    /// Index of a column by name.
    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
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
