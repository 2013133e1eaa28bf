//! The parts of a table's shape beyond its columns and keys, from information_schema:
//! unique and secondary indexes (prefix lengths, FULLTEXT, SPATIAL), CHECK constraints
//! and partitioning. `converge schema` carries or reports each one
//! (docs/architecture.md, "Creating the target").

use std::collections::HashMap;

use mysql_async::prelude::*;
use mysql_async::{Conn, Row};

use super::catalog::{reading, s};
use crate::error::{Error, Result};
use crate::schema::{Check, Index, IndexKind, IndexPart, Table};

/// Every unique and secondary index (the primary key is read with the keys).
pub(super) async fn indexes(
    conn: &mut Conn,
    database: &str,
    out: &mut [Table],
    index: &HashMap<String, usize>,
) -> Result<()> {
    let rows: Vec<Row> = conn
        .exec(
            "SELECT TABLE_NAME, INDEX_NAME, NON_UNIQUE, COLUMN_NAME, SUB_PART, INDEX_TYPE, COLLATION \
             FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = ? AND INDEX_NAME <> 'PRIMARY' \
             ORDER BY TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX",
            (database,),
        )
        .await
        .map_err(|e| Error::mysql(reading(database, "indexes"), e))?;
    for r in &rows {
        let Some(&ti) = index.get(&s(r, 0)) else { continue };
        let name = s(r, 1);
        let part = IndexPart {
            column: s(r, 3),
            prefix: r.get::<Option<u32>, _>(4).flatten(),
            descending: s(r, 6).eq_ignore_ascii_case("D"),
        };
        let t = &mut out[ti];
        match t.indexes.iter_mut().find(|i| i.name == name) {
            Some(ix) => ix.parts.push(part),
            None => {
                let kind = match s(r, 5).to_ascii_uppercase().as_str() {
                    "FULLTEXT" => IndexKind::FullText,
                    "SPATIAL" => IndexKind::Spatial,
                    _ => IndexKind::BTree,
                };
                let unique = r.get::<Option<i64>, _>(2).flatten() == Some(0);
                t.indexes.push(Index { name, parts: vec![part], unique, kind });
            }
        }
    }
    Ok(())
}

/// Every CHECK constraint. MariaDB's CHECK_CONSTRAINTS has TABLE_NAME (constraint names
/// are per table there); MySQL 8's does not, and its names are per schema, so its
/// tables come from TABLE_CONSTRAINTS.
pub(super) async fn checks(
    conn: &mut Conn,
    database: &str,
    out: &mut [Table],
    index: &HashMap<String, usize>,
) -> Result<()> {
    let mariadb = "SELECT TABLE_NAME, CONSTRAINT_NAME, CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS \
                   WHERE CONSTRAINT_SCHEMA = ? ORDER BY TABLE_NAME, CONSTRAINT_NAME";
    let mysql =
        "SELECT tc.TABLE_NAME, cc.CONSTRAINT_NAME, cc.CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS cc \
                 JOIN information_schema.TABLE_CONSTRAINTS tc ON tc.CONSTRAINT_SCHEMA = cc.CONSTRAINT_SCHEMA \
                 AND tc.CONSTRAINT_NAME = cc.CONSTRAINT_NAME AND tc.CONSTRAINT_TYPE = 'CHECK' \
                 WHERE cc.CONSTRAINT_SCHEMA = ? ORDER BY 1, 2";
    let rows: Vec<Row> = match conn.exec(mariadb, (database,)).await {
        Ok(rows) => rows,
        Err(mysql_async::Error::Server(_)) => {
            conn.exec(mysql, (database,)).await.map_err(|e| Error::mysql(reading(database, "checks"), e))?
        }
        Err(e) => return Err(Error::mysql(reading(database, "checks"), e)),
    };
    for r in &rows {
        if let Some(&ti) = index.get(&s(r, 0)) {
            out[ti].checks.push(Check { name: s(r, 1), clause: s(r, 2) });
        }
    }
    Ok(())
}

/// `PARTITION BY method (expression)` of each partitioned table.
pub(super) async fn partitioning(
    conn: &mut Conn,
    database: &str,
    out: &mut [Table],
    index: &HashMap<String, usize>,
) -> Result<()> {
    let rows: Vec<Row> = conn
        .exec(
            "SELECT TABLE_NAME, MIN(PARTITION_METHOD), MIN(PARTITION_EXPRESSION), COUNT(*) \
             FROM information_schema.PARTITIONS WHERE TABLE_SCHEMA = ? AND PARTITION_NAME IS NOT NULL \
             GROUP BY TABLE_NAME",
            (database,),
        )
        .await
        .map_err(|e| Error::mysql(reading(database, "partitions"), e))?;
    for r in &rows {
        if let Some(&ti) = index.get(&s(r, 0)) {
            let n: u64 = r.get::<Option<u64>, _>(3).flatten().unwrap_or(0);
            out[ti].partitioning = Some(format!("PARTITION BY {} ({}) — {n} partitions", s(r, 1), s(r, 2)));
        }
    }
    Ok(())
}
