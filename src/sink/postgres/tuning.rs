//! The catalog queries behind the load's speed-ups: which tables may be truncated and
//! loaded with `COPY … FREEZE`, which secondary indexes can be dropped and re-created
//! exactly, and the list of indexes and constraints a rebuild must leave as it found.

use tokio_postgres::Client;

use crate::error::{Error, Result};

/// A secondary index dropped for the load, to be re-created from its definition.
#[derive(Debug, Clone)]
pub(super) struct DeferredIndex {
    pub(super) table: String,
    pub(super) name: String,
    pub(super) definition: String,
    pub(super) comment: Option<String>,
}

/// Of the `tables` (all emptied or empty, in this transaction), those that can be
/// truncated here and loaded with FREEZE: plain tables the role may truncate, and whose
/// every referencing foreign key (still in place) comes from another such table.
pub(super) async fn freezable(client: &Client, schema: &str, tables: &[String]) -> Result<Vec<String>> {
    let pe = |e: tokio_postgres::Error| Error::postgres("finding the tables COPY FREEZE may load", &e);
    let mut set: Vec<String> = client
        .query(
            "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = $1 AND c.relname = ANY($2) AND c.relkind = 'r'
               AND has_table_privilege(c.oid, 'TRUNCATE')",
            &[&schema, &tables],
        )
        .await
        .map_err(pe)?
        .iter()
        .map(|r| r.get(0))
        .collect();
    // (referenced table, referencing table when in this schema)
    let edges: Vec<(String, Option<String>)> = client
        .query(
            "SELECT pc.relname::text, CASE WHEN cn.nspname = $1 THEN cc.relname::text END
             FROM pg_constraint k
             JOIN pg_class pc ON pc.oid = k.confrelid JOIN pg_namespace pn ON pn.oid = pc.relnamespace
             JOIN pg_class cc ON cc.oid = k.conrelid JOIN pg_namespace cn ON cn.oid = cc.relnamespace
             WHERE k.contype = 'f' AND pn.nspname = $1 AND pc.relname = ANY($2)",
            &[&schema, &set],
        )
        .await
        .map_err(pe)?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    loop {
        let before = set.len();
        let keep = |t: &String, set: &[String]| {
            edges.iter().filter(|(p, _)| p == t).all(|(_, c)| c.as_ref().is_some_and(|c| set.contains(c)))
        };
        let snapshot = set.clone();
        set.retain(|t| keep(t, &snapshot));
        if set.len() == before {
            return Ok(set);
        }
    }
}

/// The secondary indexes of `tables` that can be dropped and re-created exactly from
/// their definitions: not a primary key, not behind a constraint, valid, in the default
/// tablespace, on a plain table.
pub(super) async fn secondary_indexes(client: &Client, schema: &str, tables: &[String]) -> Result<Vec<DeferredIndex>> {
    let rows = client
        .query(
            "SELECT c.relname::text, i.relname::text, pg_get_indexdef(i.oid), obj_description(i.oid, 'pg_class')
             FROM pg_index x
             JOIN pg_class i ON i.oid = x.indexrelid
             JOIN pg_class c ON c.oid = x.indrelid
             JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = $1 AND c.relname = ANY($2) AND c.relkind = 'r' AND NOT c.relispartition
               AND NOT x.indisprimary AND x.indisvalid AND i.reltablespace = 0
               AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.oid)
               AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                               AND d.objid = i.oid AND d.deptype NOT IN ('a', 'n'))
             ORDER BY 1, 2",
            &[&schema, &tables],
        )
        .await
        .map_err(|e| Error::postgres("reading the secondary indexes", &e))?;
    Ok(rows
        .iter()
        .map(|r| DeferredIndex { table: r.get(0), name: r.get(1), definition: r.get(2), comment: r.get(3) })
        .collect())
}

/// Every index and constraint of `tables` as one line each (definition, validity,
/// comment), sorted: what a load that rebuilds them must leave exactly as it found.
pub(super) async fn structure(client: &Client, schema: &str, tables: &[String]) -> Result<Vec<String>> {
    let rows = client
        .query(
            "SELECT format('index %I.%I: %s (valid %s, comment %L)', c.relname, i.relname, pg_get_indexdef(i.oid),
                           x.indisvalid, obj_description(i.oid, 'pg_class'))
             FROM pg_index x
             JOIN pg_class i ON i.oid = x.indexrelid
             JOIN pg_class c ON c.oid = x.indrelid
             JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = $1 AND c.relname = ANY($2)
             UNION ALL
             SELECT format('constraint %I.%I: %s (validated %s)', c.relname, k.conname, pg_get_constraintdef(k.oid),
                           k.convalidated)
             FROM pg_constraint k
             JOIN pg_class c ON c.oid = k.conrelid
             JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = $1 AND (c.relname = ANY($2)
                   OR k.confrelid IN (SELECT c2.oid FROM pg_class c2 WHERE c2.relnamespace = n.oid AND c2.relname = ANY($2)))
             ORDER BY 1",
            &[&schema, &tables],
        )
        .await
        .map_err(|e| Error::postgres("reading the indexes and constraints", &e))?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// Of the `tables`, those no user trigger is attached to (enabled in any mode): rows reach
/// them only through the load's own COPY, so COPY's row count is exact.
pub(super) async fn without_triggers(client: &Client, schema: &str, tables: &[String]) -> Result<Vec<String>> {
    let rows = client
        .query(
            "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = $1 AND c.relname = ANY($2)
               AND NOT EXISTS (SELECT 1 FROM pg_trigger t WHERE t.tgrelid = c.oid AND NOT t.tgisinternal
                               AND t.tgenabled <> 'D')",
            &[&schema, &tables],
        )
        .await
        .map_err(|e| Error::postgres("reading the tables' triggers", &e))?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}
