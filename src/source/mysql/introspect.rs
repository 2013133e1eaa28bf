//! Reads a MySQL/MariaDB database's shape from information_schema: tables, columns and
//! types, nullability, primary keys, foreign keys, and MariaDB's `json_valid` checks.

use std::collections::HashMap;

use mysql_async::prelude::*;
use mysql_async::{Conn, Row};

use crate::error::{Error, Result};
use crate::schema::{Column, ForeignKey, MySqlType, Table};
use crate::types::classify;

fn s(row: &Row, i: usize) -> String {
    row.get::<Option<String>, _>(i).flatten().unwrap_or_default()
}

/// Every base table of `database`, with columns, keys and foreign keys, sorted by name.
pub async fn introspect(conn: &mut Conn, database: &str) -> Result<Vec<Table>> {
    let tables: Vec<Row> = conn
        .exec(
            "SELECT TABLE_NAME, COALESCE(TABLE_ROWS, 0) FROM information_schema.TABLES \
             WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME",
            (database,),
        )
        .await
        .map_err(|e| Error::mysql(reading(database, "tables"), e))?;
    let mut out: Vec<Table> = tables
        .iter()
        .map(|r| Table {
            name: s(r, 0),
            columns: Vec::new(),
            primary_key: Vec::new(),
            foreign_keys: Vec::new(),
            estimated_rows: r.get::<Option<u64>, _>(1).flatten().unwrap_or(0),
        })
        .collect();
    let index: HashMap<String, usize> = out.iter().enumerate().map(|(i, t)| (t.name.clone(), i)).collect();

    let json_checks = json_checks(conn, database).await?;
    columns(conn, database, &mut out, &index, &json_checks).await?;
    primary_keys(conn, database, &mut out, &index).await?;
    foreign_keys(conn, database, &mut out, &index).await?;
    Ok(out)
}

/// What the error says it was reading.
fn reading(database: &str, what: &str) -> String {
    format!("reading {what} of database `{database}` from information_schema")
}

/// Every column of the tables, in order, with its type and charset.
async fn columns(
    conn: &mut Conn,
    database: &str,
    out: &mut [Table],
    index: &HashMap<String, usize>,
    json_checks: &[(String, String)],
) -> Result<()> {
    let cols: Vec<Row> = conn
        .exec(
            "SELECT TABLE_NAME, COLUMN_NAME, COLUMN_TYPE, DATA_TYPE, IS_NULLABLE, CHARACTER_SET_NAME \
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
        mysql.json_check = json_checks.contains(&(out[ti].name.clone(), name.clone()));
        let logical = classify(&mysql);
        out[ti].columns.push(Column { name, mysql, nullable: s(r, 4) == "YES", logical });
    }
    Ok(())
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
            None => t.foreign_keys.push(ForeignKey {
                name,
                columns: vec![s(r, 2)],
                ref_table: s(r, 3),
                ref_columns: vec![s(r, 4)],
            }),
        }
    }
    Ok(())
}

/// MariaDB stores JSON columns as longtext with a `json_valid(`col`)` check constraint.
/// MySQL 8 has a real json type and a CHECK_CONSTRAINTS view without TABLE_NAME; there
/// the query fails and no column is marked.
async fn json_checks(conn: &mut Conn, database: &str) -> Result<Vec<(String, String)>> {
    let rows: Vec<Row> = match conn
        .exec(
            "SELECT TABLE_NAME, CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = ?",
            (database,),
        )
        .await
    {
        Ok(rows) => rows,
        Err(mysql_async::Error::Server(_)) => return Ok(Vec::new()),
        Err(e) => return Err(Error::mysql("reading check constraints", e)),
    };
    Ok(rows
        .iter()
        .filter_map(|r| {
            let clause = s(r, 1);
            let inner = clause.trim().strip_prefix("json_valid(")?.strip_suffix(')')?;
            let col = inner.trim().strip_prefix('`')?.strip_suffix('`')?.replace("``", "`");
            Some((s(r, 0), col))
        })
        .collect())
}
