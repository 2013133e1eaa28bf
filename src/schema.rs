//! The source-agnostic description of a MySQL database: tables, columns with their
//! MySQL types, keys and foreign keys. The live reader fills it from
//! information_schema, the dump reader from `CREATE TABLE` statements.

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
