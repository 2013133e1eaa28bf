//! The checks beyond content: critical tables, foreign-key orphans, JSON validity,
//! UUID form, sequences, and indexes (every source index has a counterpart).

use std::collections::BTreeMap;

use tokio_postgres::Client;

use super::report::{Check, Outcome, Section};
use crate::error::{Error, Result};
use crate::ident;
use crate::ident::pg_qualified as qualified;
use crate::mysql::MySqlSource;
use crate::pg::integrity;
use crate::pg::introspect::PgTable;

fn check(section: Section, subject: impl Into<String>, outcome: Outcome, evidence: impl Into<String>) -> Check {
    Check { section, subject: subject.into(), outcome, evidence: evidence.into(), keys: Vec::new() }
}

/// Every foreign key of every target table: no orphans.
pub async fn foreign_keys(client: &Client, schema: &str, tables: &[PgTable]) -> Result<Vec<Check>> {
    let mut out = Vec::new();
    for t in tables {
        for fk in &t.foreign_keys {
            let (n, examples) = integrity::orphans(client, schema, &t.name, fk).await?;
            let subject = format!("{}.({}) → {}", t.name, fk.columns.join(", "), fk.ref_table);
            out.push(if n == 0 {
                check(Section::ForeignKeys, subject, Outcome::Pass, format!("`{}`: no orphans", fk.name))
            } else {
                Check {
                    keys: examples.iter().map(|e| format!("{} = {e}", fk.columns.join(", "))).collect(),
                    ..check(
                        Section::ForeignKeys,
                        subject,
                        Outcome::Fail,
                        format!(
                            "`{}`: {} pointing at no row of `{}`",
                            fk.name,
                            super::report::rows(n as u64),
                            fk.ref_table
                        ),
                    )
                }
            });
        }
    }
    Ok(out)
}

/// Every sequence of the verified tables is past its column's maximum and not behind
/// MySQL's `AUTO_INCREMENT` counter (`counters`: table, column, MySQL's next value).
pub async fn sequences(
    client: &Client,
    schema: &str,
    tables: &[&PgTable],
    counters: &[(String, String, u64)],
) -> Result<Vec<Check>> {
    let mut out = Vec::new();
    for t in tables {
        for c in &t.columns {
            let Some(s) = integrity::sequence_state(client, schema, &t.name, c).await? else { continue };
            let subject = format!("{}.{}", t.name, c.name);
            let shown = |v: Option<i64>| v.map(|v| v.to_string()).unwrap_or_else(|| "none".into());
            let mut evidence = format!("{}: last value {}, column maximum {}", s.sequence, shown(s.last), shown(s.max));
            let counter = counters.iter().find(|(tt, cc, _)| *tt == t.name && *cc == c.name).map(|(.., n)| *n);
            if let Some(next) = counter {
                evidence.push_str(&format!(", MySQL's next value {next}"));
            }
            out.push(if s.behind() {
                check(Section::Sequences, subject, Outcome::Fail, format!("{evidence}: the next insert would collide"))
            } else if counter.is_some_and(|next| s.behind_counter(next)) {
                check(
                    Section::Sequences,
                    subject,
                    Outcome::Fail,
                    format!("{evidence}: the target would hand out ids MySQL already gave (rows deleted since, or a declared AUTO_INCREMENT)"),
                )
            } else {
                check(Section::Sequences, subject, Outcome::Pass, evidence)
            });
        }
    }
    Ok(out)
}

/// Text columns that should hold JSON: every value parses. (json/jsonb columns are
/// valid by construction: PostgreSQL parsed every value on the way in.)
pub async fn json_text(client: &Client, schema: &str, table: &str, column: &str, key: &[String]) -> Result<Check> {
    let shown: Vec<String> = key.iter().map(|k| format!("{}::text", ident::pg(k))).collect();
    let sql = format!(
        "SELECT concat_ws(', ', {}), {}::text FROM {} WHERE {} IS NOT NULL",
        if shown.is_empty() { "''".to_string() } else { shown.join(", ") },
        ident::pg(column),
        qualified(schema, table),
        ident::pg(column)
    );
    let rows =
        client.query(&sql, &[]).await.map_err(|e| Error::postgres(format!("reading `{table}`.`{column}`"), &e))?;
    let mut bad = 0u64;
    let mut keys = Vec::new();
    for r in &rows {
        let v: String = r.get(1);
        if serde_json::from_str::<serde_json::Value>(&v).is_err() {
            bad += 1;
            if keys.len() < 3 {
                keys.push(r.get::<_, String>(0));
            }
        }
    }
    let subject = format!("{table}.{column}");
    Ok(if bad == 0 {
        check(Section::Json, subject, Outcome::Pass, format!("{} values, all valid JSON (text column)", rows.len()))
    } else {
        Check { keys, ..check(Section::Json, subject, Outcome::Fail, format!("{bad} values are not valid JSON")) }
    })
}

/// A varchar/text column holding UUIDs: every non-empty value is a well-formed UUID.
pub async fn uuid_text(client: &Client, schema: &str, table: &str, column: &str, key: &[String]) -> Result<Check> {
    let shown: Vec<String> = key.iter().map(|k| format!("{}::text", ident::pg(k))).collect();
    let c = ident::pg(column);
    let sql = format!(
        "SELECT count(*), (array_agg(concat_ws(', ', {})))[1:3], count(*) FILTER (WHERE {c} = '') FROM {} \
         WHERE {c} <> '' AND {c} !~* '^[0-9a-f]{{8}}-[0-9a-f]{{4}}-[0-9a-f]{{4}}-[0-9a-f]{{4}}-[0-9a-f]{{12}}$'",
        if shown.is_empty() { "''".to_string() } else { shown.join(", ") },
        qualified(schema, table)
    );
    let row =
        client.query_one(&sql, &[]).await.map_err(|e| Error::postgres(format!("reading `{table}`.`{column}`"), &e))?;
    let bad: i64 = row.get(0);
    let subject = format!("{table}.{column}");
    // A char(36) that the target keeps as varchar may hold other values ('' is common):
    // they are carried as the source has them (the content check proves it), so they are
    // reported, not failed.
    Ok(if bad == 0 {
        check(Section::Uuid, subject, Outcome::Pass, "every non-empty value is a well-formed UUID (varchar column)")
    } else {
        Check {
            keys: row.get::<_, Option<Vec<String>>>(1).unwrap_or_default(),
            ..check(
                Section::Uuid,
                subject,
                Outcome::Skip,
                format!("{bad} non-empty values are not UUIDs: a text column, kept exactly as in the source"),
            )
        }
    })
}

/// An index: its columns in order, and whether it is unique.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Index {
    /// The index's name.
    pub name: String,
    /// Its columns, in order.
    pub columns: Vec<String>,
    /// UNIQUE (or primary key).
    pub unique: bool,
    /// The index type (MySQL: BTREE, HASH, FULLTEXT, SPATIAL; PostgreSQL: the access
    /// method, `btree`, `gist`, …).
    pub kind: String,
}

/// The source's indexes, per table.
pub async fn mysql_indexes(src: &MySqlSource) -> Result<BTreeMap<String, Vec<Index>>> {
    let sql = format!(
        "SELECT TABLE_NAME, INDEX_NAME, CAST(NON_UNIQUE AS CHAR), INDEX_TYPE, COLUMN_NAME FROM information_schema.STATISTICS \
         WHERE TABLE_SCHEMA = _utf8mb4 X'{}' ORDER BY TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX",
        hex::encode(src.database())
    );
    let mut out: BTreeMap<String, Vec<Index>> = BTreeMap::new();
    src.query_each(&sql, |r| {
        let s = |i: usize| r[i].clone().unwrap_or_default();
        let list = out.entry(s(0)).or_default();
        match list.last_mut() {
            Some(ix) if ix.name == s(1) => ix.columns.push(s(4)),
            _ => list.push(Index { name: s(1), columns: vec![s(4)], unique: s(2) == "0", kind: s(3) }),
        }
    })
    .await?;
    Ok(out)
}

/// The target's indexes, per table.
pub async fn pg_indexes(client: &Client, schema: &str) -> Result<BTreeMap<String, Vec<Index>>> {
    let rows = client
        .query(
            "SELECT t.relname::text, i.relname::text, ix.indisunique, coalesce(a.attname::text, ''), am.amname::text
             FROM pg_index ix
             JOIN pg_class t ON t.oid = ix.indrelid
             JOIN pg_class i ON i.oid = ix.indexrelid
             JOIN pg_am am ON am.oid = i.relam
             JOIN pg_namespace n ON n.oid = t.relnamespace
             CROSS JOIN LATERAL unnest(ix.indkey::int2[]) WITH ORDINALITY k(attnum, ord)
             LEFT JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum
             WHERE n.nspname = $1 AND k.ord <= ix.indnkeyatts
             ORDER BY 1, 2, k.ord",
            &[&schema],
        )
        .await
        .map_err(|e| Error::postgres("reading the target's indexes", &e))?;
    let mut out: BTreeMap<String, Vec<Index>> = BTreeMap::new();
    for r in rows {
        let list = out.entry(r.get(0)).or_default();
        let name: String = r.get(1);
        match list.last_mut() {
            Some(ix) if ix.name == name => ix.columns.push(r.get(3)),
            _ => list.push(Index { name, columns: vec![r.get(3)], unique: r.get(2), kind: r.get(4) }),
        }
    }
    Ok(out)
}

/// One source index against the target table's indexes: a target index on the same
/// leading columns serves the same lookups; a unique source index needs a unique
/// target index on exactly its columns. A SPATIAL index on columns the target holds as
/// PostGIS `geometry` (`geometry`) needs a GiST index on them, as the load creates.
pub fn index_check(table: &str, ix: &Index, target: &[Index], carried: &[String], geometry: bool) -> Check {
    let subject = format!("{table}.{}", ix.name);
    let cols = ix.columns.join(", ");
    let gist = ix.kind == "SPATIAL" && geometry;
    if matches!(ix.kind.as_str(), "FULLTEXT" | "SPATIAL") && !gist {
        return check(
            Section::Indexes,
            subject,
            Outcome::Skip,
            format!(
                "{} index on ({cols}): PostgreSQL needs a different kind of index (GIN/GiST); not compared",
                ix.kind
            ),
        );
    }
    if let Some(c) = ix.columns.iter().find(|c| !carried.contains(c)) {
        return check(
            Section::Indexes,
            subject,
            Outcome::Skip,
            format!("on ({cols}): column `{c}` is not carried over"),
        );
    }
    let found = target.iter().find(|t| {
        let leading = t.columns.len() >= ix.columns.len() && t.columns[..ix.columns.len()] == ix.columns[..];
        if gist {
            t.kind == "gist" && leading
        } else if ix.unique {
            t.unique && t.columns == ix.columns
        } else {
            leading
        }
    });
    let what = match (gist, ix.unique) {
        (true, _) => "SPATIAL index (GiST in PostgreSQL)",
        (false, true) => "unique index",
        (false, false) => "index",
    };
    match found {
        Some(t) => check(Section::Indexes, subject, Outcome::Pass, format!("{what} on ({cols}) → `{}`", t.name)),
        // A missing unique index leaves uniqueness unenforced: a failure. A missing plain
        // index (MySQL makes one for every foreign key) slows lookups: a warning.
        None if ix.unique => check(
            Section::Indexes,
            subject,
            Outcome::Fail,
            format!("{what} on ({cols}) has no counterpart in the target: uniqueness is not enforced"),
        ),
        None => check(
            Section::Indexes,
            subject,
            Outcome::Warn,
            format!("{what} on ({cols}) has no counterpart in the target (lookups by these columns will scan)"),
        ),
    }
}
