//! Integrity questions asked of a loaded target, shared by the load (which proves them
//! before it commits) and by `verify`: foreign-key orphans, values a unique index
//! refuses, sequences behind their column's maximum.

use tokio_postgres::Client;

use super::introspect::UniqueKey;
use super::introspect::{PgColumn, PgForeignKey};
use crate::error::{Error, Result};
use crate::ident;
use crate::ident::pg_qualified as qualified;

/// A foreign key's join of child `c` to parent `p` (`p.ref = c.col AND …`) and its
/// condition that the child references something (`c.col IS NOT NULL AND …`).
pub fn orphan_clauses(fk: &PgForeignKey) -> (String, String) {
    let on: Vec<String> = fk
        .columns
        .iter()
        .zip(&fk.ref_columns)
        .map(|(c, r)| format!("p.{} = c.{}", ident::pg(r), ident::pg(c)))
        .collect();
    let not_null: Vec<String> = fk.columns.iter().map(|c| format!("c.{} IS NOT NULL", ident::pg(c))).collect();
    (on.join(" AND "), not_null.join(" AND "))
}

/// Rows of `table` whose foreign key `fk` references no row: their count and up to
/// three example keys (the referencing values).
pub async fn orphans(client: &Client, schema: &str, table: &str, fk: &PgForeignKey) -> Result<(i64, Vec<String>)> {
    let (on, not_null) = orphan_clauses(fk);
    let shown: Vec<String> = fk.columns.iter().map(|c| format!("c.{}::text", ident::pg(c))).collect();
    let q = format!(
        "SELECT count(*), (array_agg(concat_ws(', ', {})))[1:3] FROM {} c WHERE {} AND NOT EXISTS (SELECT 1 FROM {} p WHERE {})",
        shown.join(", "),
        qualified(schema, table),
        not_null,
        qualified(schema, &fk.ref_table),
        on
    );
    let row = client
        .query_one(&q, &[])
        .await
        .map_err(|e| Error::postgres(format!("checking foreign key `{}`", fk.name), &e))?;
    Ok((row.get(0), row.get::<_, Option<Vec<String>>>(1).unwrap_or_default()))
}

/// Rows of `table` that share a value of a unique index's keys (column names or
/// expressions, as `pg_get_indexdef` prints them; rows where a key is NULL clash only
/// under `NULLS NOT DISTINCT`) within its predicate: how many values are duplicated, and
/// up to three of them, each with how many rows hold it and up to three of those rows'
/// `row_key` (their primary key).
pub async fn duplicates(
    client: &Client,
    schema: &str,
    table: &str,
    unique: &UniqueKey,
    row_key: &[String],
) -> Result<(i64, Vec<String>)> {
    let keys = &unique.keys;
    let mut filter: Vec<String> = if unique.nulls_not_distinct {
        vec!["true".into()]
    } else {
        keys.iter().map(|k| format!("({k}) IS NOT NULL")).collect()
    };
    filter.extend(unique.predicate.as_ref().map(|p| format!("({p})")));
    let value: Vec<String> = keys.iter().map(|k| format!("coalesce(({k})::text, 'NULL')")).collect();
    let rows = if row_key.is_empty() {
        String::new()
    } else {
        let k: Vec<String> = row_key.iter().map(|c| format!("{}::text", ident::pg(c))).collect();
        format!(" || ' (' || array_to_string((array_agg(concat_ws(', ', {})))[1:3], '; ') || ')'", k.join(", "))
    };
    let groups: Vec<String> = keys.iter().map(|k| format!("({k})")).collect();
    let q = format!(
        "SELECT count(*) OVER (), '(' || concat_ws(', ', {}) || ') in ' || count(*) || ' rows'{rows} FROM {} WHERE {} \
         GROUP BY {} HAVING count(*) > 1 LIMIT 3",
        value.join(", "),
        qualified(schema, table),
        filter.join(" AND "),
        groups.join(", ")
    );
    let found = client
        .query(&q, &[])
        .await
        .map_err(|e| Error::postgres(format!("finding the duplicated values of `{table}`"), &e))?;
    let n = found.first().map(|r| r.get::<_, i64>(0)).unwrap_or(0);
    Ok((n, found.iter().map(|r| r.get::<_, String>(1)).collect()))
}

/// Every unique index of `table` (its primary key, unique constraints and unique
/// indexes, valid or not yet built): name, whether it is the primary key, and what it
/// compares — what a load into it must not duplicate.
pub async fn unique_keys(client: &Client, schema: &str, table: &str) -> Result<Vec<(String, bool, UniqueKey)>> {
    let rows = client
        .query(
            "SELECT i.relname::text,
                    ARRAY(SELECT pg_get_indexdef(x.indexrelid, a, true) FROM generate_series(1, x.indnkeyatts) a),
                    pg_get_expr(x.indpred, x.indrelid, true),
                    COALESCE((to_jsonb(x) ->> 'indnullsnotdistinct')::bool, false), x.indisprimary
             FROM pg_index x
             JOIN pg_class i ON i.oid = x.indexrelid
             JOIN pg_class c ON c.oid = x.indrelid
             JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = $1 AND c.relname = $2 AND x.indisunique
             ORDER BY x.indisprimary DESC, 1",
            &[&schema, &table],
        )
        .await
        .map_err(|e| Error::postgres(format!("reading the unique indexes of `{table}`"), &e))?;
    let key = |r: &tokio_postgres::Row| UniqueKey { keys: r.get(1), predicate: r.get(2), nulls_not_distinct: r.get(3) };
    Ok(rows.iter().map(|r| (r.get(0), r.get(4), key(r))).collect())
}

/// A sequence behind a column: the last value it handed out (None: none yet) and the
/// column's maximum (None: no rows).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SequenceState {
    /// The sequence, as PostgreSQL names it.
    pub sequence: String,
    /// The last value handed out (`nextval` gives more than this).
    pub last: Option<i64>,
    /// The column's maximum.
    pub max: Option<i64>,
}

impl SequenceState {
    /// The next value would collide with (or fall below) a loaded row.
    pub fn behind(&self) -> bool {
        match (self.last, self.max) {
            (_, None) => false,
            (None, Some(_)) => true,
            (Some(l), Some(m)) => l < m,
        }
    }

    /// The next value would be one MySQL handed out already: behind MySQL's
    /// `AUTO_INCREMENT` counter `next` (the value MySQL would give next).
    pub fn behind_counter(&self, next: u64) -> bool {
        let last = self.last.unwrap_or(0);
        last < 0 || (last as u64) < next.saturating_sub(1)
    }
}

/// The statement that moves sequence `seq` (as `pg_get_serial_sequence` names it)
/// forward to `value`, an SQL expression that may read the relation(s) of `from` (a
/// `FROM …` clause, or empty); never back, so a sequence already past it is left alone.
/// Executing it returns 1 when the sequence moved. The follower, `repair` and the
/// cut-over move sequences this one way (a load sets them outright: its tables start
/// empty).
pub fn advance_sequence_sql(seq: &str, value: &str, from: &str) -> String {
    let lit = ident::pg_literal(seq);
    format!(
        "SELECT setval({lit}, v) FROM (SELECT ({value})::bigint AS v {from}) AS m \
         WHERE v > COALESCE(pg_sequence_last_value({lit}::regclass), 0)"
    )
}

/// Reads the state of the sequence behind `column` of `table`.
pub async fn sequence_state(
    client: &Client,
    schema: &str,
    table: &str,
    column: &PgColumn,
) -> Result<Option<SequenceState>> {
    let Some(seq) = column.sequence.as_deref() else { return Ok(None) };
    // `seq` comes from pg_get_serial_sequence: already a quoted, qualified name.
    let q = format!(
        "SELECT CASE WHEN is_called THEN last_value ELSE last_value - 1 END, (SELECT max({})::bigint FROM {}) FROM {seq}",
        ident::pg(&column.name),
        qualified(schema, table)
    );
    let row = client.query_one(&q, &[]).await.map_err(|e| Error::postgres(format!("reading sequence {seq}"), &e))?;
    let last: i64 = row.get(0);
    Ok(Some(SequenceState { sequence: seq.to_string(), last: Some(last), max: row.get(1) }))
}
