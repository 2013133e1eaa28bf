//! Reads the target PostgreSQL schema from pg_catalog: tables, columns with their types
//! (domains resolved to their base type, enums, arrays), NOT NULL, defaults, identity
//! and serial sequences, primary keys, unique constraints and foreign keys.

use tokio_postgres::Client;

use crate::error::{Error, Result};

/// One target column.
#[derive(Debug, Clone, PartialEq)]
pub struct PgColumn {
    /// Column name.
    pub name: String,
    /// `pg_type.typname` of the column's type, or of a domain's base type.
    pub type_name: String,
    /// The type is a PostgreSQL enum.
    pub is_enum: bool,
    /// NOT NULL.
    pub not_null: bool,
    /// Has a default (or is an identity or generated column).
    pub has_default: bool,
    /// `GENERATED … AS IDENTITY`.
    pub identity: bool,
    /// varchar(n)/char(n): n.
    pub max_chars: Option<usize>,
    /// The sequence behind a serial or identity column.
    pub sequence: Option<String>,
    /// `atttypmod` (of the domain, for a domain): precision, scale, length; -1 for none.
    pub typmod: i32,
    /// `GENERATED ALWAYS AS (…) STORED`: PostgreSQL computes it; a COPY may not name it.
    pub generated: bool,
    /// The type as PostgreSQL prints it (`numeric(8,2)`, `character varying(20)`).
    pub sql_type: String,
    /// A PostgreSQL enum's labels, in order.
    pub enum_labels: Vec<String>,
}

/// A foreign key of a target table.
#[derive(Debug, Clone, PartialEq)]
pub struct PgForeignKey {
    /// Constraint name.
    pub name: String,
    /// Referencing columns.
    pub columns: Vec<String>,
    /// Referenced table.
    pub ref_table: String,
    /// Referenced columns.
    pub ref_columns: Vec<String>,
    /// `pg_get_constraintdef`, to recreate it exactly.
    pub definition: String,
    /// The `ON DELETE` action: `NO ACTION`, `RESTRICT`, `CASCADE`, `SET NULL` or `SET
    /// DEFAULT` (PostgreSQL 15's column list, `SET NULL (a)`, follows it).
    pub on_delete: String,
    /// The `ON UPDATE` action, named as `on_delete`.
    pub on_update: String,
}

impl PgForeignKey {
    /// Either action changes the referencing rows (`CASCADE`, `SET NULL`, `SET DEFAULT`).
    pub fn cascades(&self) -> bool {
        [&self.on_delete, &self.on_update].iter().any(|a| cascading(a))
    }
}

/// A foreign-key action that changes the referencing rows: `CASCADE`, `SET NULL` or `SET
/// DEFAULT` (with or without PostgreSQL 15's column list). `NO ACTION` and `RESTRICT` only check.
pub fn cascading(action: &str) -> bool {
    action == "CASCADE" || action.starts_with("SET NULL") || action.starts_with("SET DEFAULT")
}

/// A `pg_constraint.confdeltype` / `confupdtype` code as its action's name; `SET NULL` or
/// `SET DEFAULT` on only some columns (`… (a)` in `pg_get_constraintdef`, PostgreSQL 15)
/// keeps that list.
fn action(code: &str, clause: &str, definition: &str) -> String {
    let name = match code {
        "r" => "RESTRICT",
        "c" => "CASCADE",
        "n" => "SET NULL",
        "d" => "SET DEFAULT",
        _ => "NO ACTION",
    };
    let written = format!("{clause} {name} (");
    match definition.find(&written) {
        Some(at) if name.starts_with("SET") => {
            let rest = &definition[at + written.len() - 1..];
            let list = rest.find(')').map_or(rest, |end| &rest[..=end]);
            format!("{name} {list}")
        }
        _ => name.to_string(),
    }
}

/// A CHECK constraint of a target table.
#[derive(Debug, Clone, PartialEq)]
pub struct PgCheck {
    /// Constraint name.
    pub name: String,
    /// The boolean expression (`pg_get_constraintdef` without `CHECK` and its options).
    pub expression: String,
    /// The columns it reads.
    pub columns: Vec<String>,
}

/// One target table.
#[derive(Debug, Clone, PartialEq)]
pub struct PgTable {
    /// Table name.
    pub name: String,
    /// Columns in order.
    pub columns: Vec<PgColumn>,
    /// Primary key columns.
    pub primary_key: Vec<String>,
    /// Unique constraints (column lists).
    pub uniques: Vec<Vec<String>>,
    /// Foreign keys.
    pub foreign_keys: Vec<PgForeignKey>,
    /// CHECK constraints.
    pub checks: Vec<PgCheck>,
    /// The user (not internal) triggers that fire on INSERT, enabled in any mode.
    pub triggers: Vec<String>,
}

impl PgTable {
    /// A column by name.
    pub fn column(&self, name: &str) -> Option<&PgColumn> {
        self.columns.iter().find(|c| c.name == name)
    }
}

/// Every ordinary or partitioned table of `schema`, sorted by name.
pub async fn introspect(client: &Client, schema: &str) -> Result<Vec<PgTable>> {
    let mut tables = tables(client, schema).await?;
    constraints(client, schema, &mut tables).await?;
    triggers(client, schema, &mut tables).await?;
    Ok(tables)
}

/// What the error says it was reading.
fn reading(what: &str, schema: &str) -> String {
    format!("reading the target's {what} (schema `{schema}`)")
}

/// The tables with their columns (no keys yet).
async fn tables(client: &Client, schema: &str) -> Result<Vec<PgTable>> {
    let rows = client
        .query(
            "SELECT c.relname::text, a.attname::text, COALESCE(bt.typname, t.typname)::text,
                    COALESCE(bt.typtype, t.typtype) = 'e', a.attnotnull OR (t.typtype = 'd' AND t.typnotnull),
                    a.atthasdef OR a.attidentity <> '' OR a.attgenerated <> '', a.attidentity <> '',
                    CASE WHEN t.typtype = 'd' THEN t.typtypmod ELSE a.atttypmod END,
                    pg_get_serial_sequence(format('%I.%I', n.nspname, c.relname), a.attname),
                    a.attgenerated <> '', format_type(a.atttypid, a.atttypmod),
                    ARRAY(SELECT e.enumlabel::text FROM pg_enum e WHERE e.enumtypid = COALESCE(bt.oid, t.oid)
                          ORDER BY e.enumsortorder)
             FROM pg_attribute a
             JOIN pg_class c ON c.oid = a.attrelid
             JOIN pg_namespace n ON n.oid = c.relnamespace
             JOIN pg_type t ON t.oid = a.atttypid
             LEFT JOIN pg_type bt ON t.typtype = 'd' AND bt.oid = t.typbasetype
             WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped
             ORDER BY c.relname, a.attnum",
            &[&schema],
        )
        .await
        .map_err(|e| Error::postgres(reading("columns", schema), &e))?;
    let mut tables: Vec<PgTable> = Vec::new();
    for r in rows {
        let table: String = r.get(0);
        if tables.last().is_none_or(|t| t.name != table) {
            tables.push(PgTable {
                name: table,
                columns: Vec::new(),
                primary_key: Vec::new(),
                uniques: Vec::new(),
                foreign_keys: Vec::new(),
                checks: Vec::new(),
                triggers: Vec::new(),
            });
        }
        let type_name: String = r.get(2);
        let typmod: i32 = r.get(7);
        let max_chars = (matches!(type_name.as_str(), "varchar" | "bpchar" | "_varchar" | "_bpchar") && typmod > 4)
            .then(|| (typmod - 4) as usize);
        tables.last_mut().expect("pushed").columns.push(PgColumn {
            name: r.get(1),
            type_name,
            is_enum: r.get(3),
            not_null: r.get(4),
            has_default: r.get(5),
            identity: r.get(6),
            max_chars,
            sequence: r.get(8),
            typmod,
            generated: r.get(9),
            sql_type: r.get(10),
            enum_labels: r.get(11),
        });
    }
    Ok(tables)
}

/// Primary keys, unique constraints, CHECK constraints and foreign keys.
async fn constraints(client: &Client, schema: &str, tables: &mut [PgTable]) -> Result<()> {
    let cons = client
        .query(
            "SELECT con.conname::text, c.relname::text, con.contype::text,
                    ARRAY(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY k(n, i)
                          JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.n ORDER BY k.i),
                    fc.relname::text,
                    ARRAY(SELECT a.attname::text FROM unnest(con.confkey) WITH ORDINALITY k(n, i)
                          JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.n ORDER BY k.i),
                    pg_get_constraintdef(con.oid), con.confdeltype::text, con.confupdtype::text
             FROM pg_constraint con
             JOIN pg_class c ON c.oid = con.conrelid
             JOIN pg_namespace n ON n.oid = c.relnamespace
             LEFT JOIN pg_class fc ON fc.oid = con.confrelid
             WHERE n.nspname = $1 AND con.contype IN ('p', 'u', 'f', 'c')
             ORDER BY c.relname, con.conname",
            &[&schema],
        )
        .await
        .map_err(|e| Error::postgres(reading("constraints", schema), &e))?;
    for r in cons {
        let table: String = r.get(1);
        let Some(t) = tables.iter_mut().find(|t| t.name == table) else { continue };
        let kind: String = r.get(2);
        let columns: Vec<String> = r.get(3);
        match kind.as_str() {
            "p" => t.primary_key = columns,
            "u" => t.uniques.push(columns),
            "c" => {
                let def: String = r.get(6);
                let expression = def.strip_prefix("CHECK ").unwrap_or(&def);
                let expression = expression.trim_end_matches(" NOT VALID").trim_end_matches(" NO INHERIT");
                t.checks.push(PgCheck { name: r.get(0), expression: expression.to_string(), columns });
            }
            _ => {
                let definition: String = r.get(6);
                t.foreign_keys.push(PgForeignKey {
                    name: r.get(0),
                    columns,
                    ref_table: r.get::<_, Option<String>>(4).unwrap_or_default(),
                    ref_columns: r.get(5),
                    on_delete: action(r.get(7), "ON DELETE", &definition),
                    on_update: action(r.get(8), "ON UPDATE", &definition),
                    definition,
                })
            }
        }
    }
    Ok(())
}

/// The user triggers that fire on INSERT.
async fn triggers(client: &Client, schema: &str, tables: &mut [PgTable]) -> Result<()> {
    let triggers = client
        .query(
            "SELECT c.relname::text, tg.tgname::text FROM pg_trigger tg
             JOIN pg_class c ON c.oid = tg.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = $1 AND NOT tg.tgisinternal AND tg.tgenabled <> 'D' AND (tg.tgtype & 4) <> 0
             ORDER BY 1, 2",
            &[&schema],
        )
        .await
        .map_err(|e| Error::postgres(reading("triggers", schema), &e))?;
    for r in triggers {
        let table: String = r.get(0);
        if let Some(t) = tables.iter_mut().find(|t| t.name == table) {
            t.triggers.push(r.get(1));
        }
    }
    Ok(())
}

/// The schema of the database's PostGIS extension (`pg_extension`), when it has one.
pub async fn postgis_schema(client: &Client) -> Result<Option<String>> {
    let q = "SELECT n.nspname::text FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace \
             WHERE e.extname = 'postgis'";
    let row = client.query_opt(q, &[]).await.map_err(|e| Error::postgres("reading the target's extensions", &e))?;
    Ok(row.map(|r| r.get(0)))
}

/// What a unique index compares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UniqueKey {
    /// Its key columns or expressions, as `pg_get_indexdef` prints them.
    pub keys: Vec<String>,
    /// Its predicate (a partial index).
    pub predicate: Option<String>,
    /// `NULLS NOT DISTINCT` (PostgreSQL 15): rows whose keys are NULL clash too.
    pub nulls_not_distinct: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn foreign_key_actions_are_named_with_a_column_list_kept() {
        let def = "FOREIGN KEY (a, b) REFERENCES p(a, b) ON DELETE SET NULL (b)";
        assert_eq!(action("n", "ON DELETE", def), "SET NULL (b)");
        assert_eq!(action("a", "ON UPDATE", def), "NO ACTION");
        assert_eq!(action("c", "ON DELETE", "FOREIGN KEY (a) REFERENCES p(a) ON DELETE CASCADE"), "CASCADE");
        assert_eq!(action("n", "ON DELETE", "FOREIGN KEY (a) REFERENCES p(a) ON DELETE SET NULL"), "SET NULL");
        assert_eq!(action("r", "ON DELETE", ""), "RESTRICT");
        assert!(cascading("SET NULL (b)") && cascading("SET DEFAULT") && cascading("CASCADE"));
        assert!(!cascading("RESTRICT") && !cascading("NO ACTION"));
    }
}
