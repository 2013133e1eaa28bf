//! Reads a MySQL/MariaDB database's shape from information_schema: tables, columns and
//! types, nullability, defaults, generated columns, primary keys, foreign keys with
//! their actions; indexes, CHECK constraints and table facts are read by `shape`.

use std::collections::HashMap;

use mysql_async::prelude::*;
use mysql_async::{Conn, Row};

use super::catalog::{reading, s};
use super::shape;
use crate::error::{Error, Result};
use crate::schema::{Column, ColumnDefault, ColumnFacts, ForeignKey, Generated, MySqlType, Table};
use crate::types::classify;

/// The `AUTO_INCREMENT` counter (the next value MySQL would give) of every base table of
/// `database` that has one.
pub async fn counters(conn: &mut Conn, database: &str) -> Result<Vec<(String, u64)>> {
    if ((8, 0, 0)..(10, 0, 0)).contains(&conn.server_version()) {
        conn.query_drop("SET SESSION information_schema_stats_expiry = 0")
            .await
            .map_err(|e| Error::mysql(reading(database, "AUTO_INCREMENT counters"), e))?;
    }
    conn.exec(
        "SELECT TABLE_NAME, AUTO_INCREMENT FROM information_schema.TABLES \
         WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'BASE TABLE' AND AUTO_INCREMENT IS NOT NULL",
        (database,),
    )
    .await
    .map_err(|e| Error::mysql(reading(database, "AUTO_INCREMENT counters"), e))
}

/// Every base table of `database`, with columns, keys and foreign keys, sorted by name.
pub async fn introspect(conn: &mut Conn, database: &str) -> Result<Vec<Table>> {
    let version = conn.server_version();
    if ((8, 0, 0)..(10, 0, 0)).contains(&version) {
        // MySQL 8 caches information_schema.TABLES (AUTO_INCREMENT included) for a day
        // by default; the counter must be the server's own. (MariaDB's is accurate.)
        conn.query_drop("SET SESSION information_schema_stats_expiry = 0")
            .await
            .map_err(|e| Error::mysql(reading(database, "tables"), e))?;
    }
    let tables: Vec<Row> = conn
        .exec(
            "SELECT TABLE_NAME, COALESCE(TABLE_ROWS, 0), TABLE_COMMENT, AUTO_INCREMENT FROM information_schema.TABLES \
             WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME",
            (database,),
        )
        .await
        .map_err(|e| Error::mysql(reading(database, "tables"), e))?;
    let mut out: Vec<Table> = tables
        .iter()
        .map(|r| Table {
            name: s(r, 0),
            estimated_rows: r.get::<Option<u64>, _>(1).flatten().unwrap_or(0),
            comment: s(r, 2),
            auto_increment: r.get::<Option<u64>, _>(3).flatten(),
            ..Default::default()
        })
        .collect();
    let index: HashMap<String, usize> = out.iter().enumerate().map(|(i, t)| (t.name.clone(), i)).collect();

    let mariadb = version >= (10, 0, 0);
    shape::checks(conn, database, &mut out, &index).await?;
    columns(conn, database, &mut out, &index, mariadb).await?;
    if !mariadb && conn.server_version() >= (8, 0, 3) {
        column_srids(conn, database, &mut out, &index).await?;
    }
    primary_keys(conn, database, &mut out, &index).await?;
    foreign_keys(conn, database, &mut out, &index).await?;
    shape::indexes(conn, database, &mut out, &index).await?;
    shape::partitioning(conn, database, &mut out, &index).await?;
    for t in &mut out {
        // By name in Rust's order: information_schema sorts in its own collation.
        t.indexes.sort_by(|a, b| a.name.cmp(&b.name));
        t.checks.sort_by(|a, b| a.name.cmp(&b.name));
    }
    Ok(out)
}

/// Every column of the tables, in order, with its type, charset, default and generation.
async fn columns(
    conn: &mut Conn,
    database: &str,
    out: &mut [Table],
    index: &HashMap<String, usize>,
    mariadb: bool,
) -> Result<()> {
    let cols: Vec<Row> = conn
        .exec(
            "SELECT TABLE_NAME, COLUMN_NAME, COLUMN_TYPE, DATA_TYPE, IS_NULLABLE, CHARACTER_SET_NAME, \
             COLUMN_DEFAULT, EXTRA, GENERATION_EXPRESSION, COLUMN_COMMENT, COLLATION_NAME \
             FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? ORDER BY TABLE_NAME, ORDINAL_POSITION",
            (database,),
        )
        .await
        .map_err(|e| Error::mysql(reading(database, "columns"), e))?;
    for r in &cols {
        let Some(&ti) = index.get(&s(r, 0)) else { continue };
        let name = s(r, 1);
        let mut mysql = MySqlType::parse(&s(r, 2));
        mysql.data_type = s(r, 3).to_ascii_lowercase();
        let charset = s(r, 5);
        mysql.charset = (!charset.is_empty()).then_some(charset);
        mysql.json_check = out[ti].checks.iter().any(|c| c.json_valid_column().as_deref() == Some(&name));
        let logical = classify(&mysql);
        let nullable = s(r, 4) == "YES";
        let default = r.get::<Option<String>, _>(6).flatten();
        let facts = column_facts(default, &s(r, 7), &s(r, 8), s(r, 9), &s(r, 10), nullable, mariadb);
        out[ti].columns.push(Column { name, mysql, nullable, logical, facts });
    }
    Ok(())
}

/// MySQL 8's `SRID n` attribute of spatial columns (the server refuses values of any
/// other SRID in them); MariaDB has none it enforces.
async fn column_srids(
    conn: &mut Conn,
    database: &str,
    out: &mut [Table],
    index: &HashMap<String, usize>,
) -> Result<()> {
    let rows: Vec<(String, String, u32)> = conn
        .exec(
            "SELECT TABLE_NAME, COLUMN_NAME, SRS_ID FROM information_schema.COLUMNS \
             WHERE TABLE_SCHEMA = ? AND SRS_ID IS NOT NULL",
            (database,),
        )
        .await
        .map_err(|e| Error::mysql(reading(database, "spatial columns' SRIDs"), e))?;
    for (table, column, srid) in rows {
        let Some(&ti) = index.get(&table) else { continue };
        if let Some(c) = out[ti].columns.iter_mut().find(|c| c.name == column) {
            c.mysql.srid = Some(srid);
        }
    }
    Ok(())
}

/// A column's default, AUTO_INCREMENT, ON UPDATE, generation, comment and collation,
/// from information_schema. MariaDB (10.2.7+) prints a string default quoted and a NULL
/// default as `NULL`; MySQL 8 prints the bare value and marks expressions with
/// `DEFAULT_GENERATED` in EXTRA.
fn column_facts(
    default: Option<String>,
    extra: &str,
    generation: &str,
    comment: String,
    collation: &str,
    nullable: bool,
    mariadb: bool,
) -> ColumnFacts {
    let extra_l = extra.to_ascii_lowercase();
    let generated = (extra_l.contains("generated") && !extra_l.contains("default_generated")
        || extra_l.contains("persistent"))
    .then(|| Generated {
        expression: generation.to_string(),
        stored: extra_l.contains("stored") || extra_l.contains("persistent"),
    });
    let on_update_now = extra_l.find("on update current_timestamp").map(|at| crate::schema::now_fsp(&extra_l[at..]));
    let default = if generated.is_some() {
        None
    } else {
        match default {
            None if nullable && !mariadb => Some(ColumnDefault::Null),
            None => None,
            Some(d) if mariadb => Some(ColumnDefault::from_printed(&d)),
            Some(d) if extra_l.contains("default_generated") => Some(ColumnDefault::expression(&d)),
            Some(d) => Some(ColumnDefault::Literal(d)),
        }
    };
    ColumnFacts {
        default,
        auto_increment: extra_l.contains("auto_increment"),
        on_update_now,
        generated,
        comment,
        collation: (!collation.is_empty()).then(|| collation.to_string()),
    }
}

/// The primary-key columns of the tables, in key order.
async fn primary_keys(
    conn: &mut Conn,
    database: &str,
    out: &mut [Table],
    index: &HashMap<String, usize>,
) -> Result<()> {
    let keys: Vec<Row> = conn
        .exec(
            "SELECT TABLE_NAME, COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE \
             WHERE TABLE_SCHEMA = ? AND CONSTRAINT_NAME = 'PRIMARY' ORDER BY TABLE_NAME, ORDINAL_POSITION",
            (database,),
        )
        .await
        .map_err(|e| Error::mysql(reading(database, "primary keys"), e))?;
    for r in &keys {
        if let Some(&ti) = index.get(&s(r, 0)) {
            out[ti].primary_key.push(s(r, 1));
        }
    }
    Ok(())
}

/// The foreign keys among the tables of `database`.
async fn foreign_keys(
    conn: &mut Conn,
    database: &str,
    out: &mut [Table],
    index: &HashMap<String, usize>,
) -> Result<()> {
    let fks: Vec<Row> = conn
        .exec(
            "SELECT TABLE_NAME, CONSTRAINT_NAME, COLUMN_NAME, REFERENCED_TABLE_NAME, REFERENCED_COLUMN_NAME \
             FROM information_schema.KEY_COLUMN_USAGE WHERE TABLE_SCHEMA = ? AND REFERENCED_TABLE_SCHEMA = ? \
             AND REFERENCED_TABLE_NAME IS NOT NULL ORDER BY TABLE_NAME, CONSTRAINT_NAME, ORDINAL_POSITION",
            (database, database),
        )
        .await
        .map_err(|e| Error::mysql(reading(database, "foreign keys"), e))?;
    for r in &fks {
        let Some(&ti) = index.get(&s(r, 0)) else { continue };
        let name = s(r, 1);
        let t = &mut out[ti];
        match t.foreign_keys.iter_mut().find(|f| f.name == name) {
            Some(fk) => {
                fk.columns.push(s(r, 2));
                fk.ref_columns.push(s(r, 4));
            }
            None => t.foreign_keys.push(ForeignKey::new(name, vec![s(r, 2)], s(r, 3), vec![s(r, 4)])),
        }
    }
    foreign_key_actions(conn, database, out, index).await
}

/// Each foreign key's ON DELETE / ON UPDATE actions.
async fn foreign_key_actions(
    conn: &mut Conn,
    database: &str,
    out: &mut [Table],
    index: &HashMap<String, usize>,
) -> Result<()> {
    let rows: Vec<Row> = conn
        .exec(
            "SELECT TABLE_NAME, CONSTRAINT_NAME, DELETE_RULE, UPDATE_RULE \
             FROM information_schema.REFERENTIAL_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = ?",
            (database,),
        )
        .await
        .map_err(|e| Error::mysql(reading(database, "foreign key actions"), e))?;
    for r in &rows {
        let Some(&ti) = index.get(&s(r, 0)) else { continue };
        if let Some(fk) = out[ti].foreign_keys.iter_mut().find(|f| f.name == s(r, 1)) {
            fk.on_delete = s(r, 2).to_ascii_uppercase();
            fk.on_update = s(r, 3).to_ascii_uppercase();
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_mariadb_and_mysql_defaults() {
        let f = |d: Option<&str>, extra: &str, nullable, mariadb| {
            column_facts(d.map(str::to_string), extra, "", String::new(), "", nullable, mariadb).default
        };
        assert_eq!(f(Some("'it''s \\n'"), "", false, true), Some(ColumnDefault::Literal("it's \n".into())));
        assert_eq!(f(Some("NULL"), "", true, true), Some(ColumnDefault::Null));
        assert_eq!(f(None, "", false, true), None);
        assert_eq!(f(Some("0"), "", false, true), Some(ColumnDefault::Literal("0".into())));
        assert_eq!(f(Some("current_timestamp(6)"), "", false, true), Some(ColumnDefault::CurrentTimestamp(6)));
        assert_eq!(f(Some("uuid()"), "", false, true), Some(ColumnDefault::Expression("uuid()".into())));
        assert_eq!(f(Some("active"), "", false, false), Some(ColumnDefault::Literal("active".into())));
        assert_eq!(f(None, "", true, false), Some(ColumnDefault::Null));
        assert_eq!(
            f(Some("CURRENT_TIMESTAMP"), "DEFAULT_GENERATED", false, false),
            Some(ColumnDefault::CurrentTimestamp(0))
        );
        assert_eq!(
            f(Some("(`a` + 1)"), "DEFAULT_GENERATED", false, false),
            Some(ColumnDefault::Expression("(`a` + 1)".into()))
        );
    }

    #[test]
    fn reads_extra() {
        let x =
            column_facts(None, "on update current_timestamp(3)", "", String::new(), "utf8mb4_general_ci", false, true);
        assert_eq!(x.on_update_now, Some(3));
        assert!(x.case_insensitive());
        let g = column_facts(None, "STORED GENERATED", "`a` * 2", String::new(), "", true, true);
        assert_eq!(g.generated, Some(Generated { expression: "`a` * 2".into(), stored: true }));
        assert_eq!(g.default, None);
        let v = column_facts(None, "VIRTUAL GENERATED", "`a` * 2", String::new(), "", true, false);
        assert!(!v.generated.unwrap().stored);
        assert!(column_facts(None, "auto_increment", "", String::new(), "", false, true).auto_increment);
    }
}
