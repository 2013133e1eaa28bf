//! The catalog queries behind the load's speed-ups: which tables may be truncated and
//! loaded with `COPY … FREEZE`, which indexes (secondary, primary-key and unique) can be
//! dropped and re-created exactly, and the list of indexes, constraints and NOT NULL
//! columns a rebuild must leave as it found.

use tokio_postgres::error::SqlState;
use tokio_postgres::Client;

use crate::error::{Error, Result};
use crate::ident;
use crate::ident::pg_qualified as qualified;
use crate::pg::integrity::duplicates;
use crate::pg::introspect::UniqueKey;

/// An index dropped for the load, to be re-created from its definition: a secondary
/// index, or the index behind a primary-key or unique constraint (the constraint is
/// dropped and added back, which builds its index by one sort instead of row by row).
#[derive(Debug, Clone)]
pub(super) struct DeferredIndex {
    pub(super) table: String,
    /// The index's name (a constraint's index is named after the constraint).
    pub(super) name: String,
    /// `CREATE INDEX …` for a secondary index; the constraint's definition
    /// (`PRIMARY KEY (id)`, `UNIQUE (email)`) for a constraint.
    pub(super) definition: String,
    /// The index's comment.
    pub(super) comment: Option<String>,
    /// What it is: a plain index, or a constraint's.
    pub(super) kind: IndexKind,
    /// For a unique index: what makes two rows clash, to name the duplicated values if
    /// the loaded rows break it.
    pub(super) unique: Option<UniqueKey>,
}

/// Whether a deferred index stands alone or behind a constraint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum IndexKind {
    /// `CREATE INDEX`: dropped with `DROP INDEX`.
    Index,
    /// A primary-key or unique constraint's index: the constraint is dropped and added.
    Constraint {
        /// The constraint's comment.
        comment: Option<String>,
        /// A primary key (its duplicated values are the rows' keys themselves).
        primary: bool,
    },
}

impl DeferredIndex {
    /// The statement that drops it (with its constraint).
    pub(super) fn drop_sql(&self, schema: &str) -> String {
        match self.kind {
            IndexKind::Constraint { .. } => {
                format!("ALTER TABLE {} DROP CONSTRAINT {}", qualified(schema, &self.table), ident::pg(&self.name))
            }
            IndexKind::Index => format!("DROP INDEX {}", qualified(schema, &self.name)),
        }
    }

    /// The statements that re-create it as it was: definition, then comments.
    fn create_sql(&self, schema: &str) -> Vec<String> {
        let table = qualified(schema, &self.table);
        let mut out = vec![match self.kind {
            IndexKind::Constraint { .. } => {
                format!("ALTER TABLE {table} ADD CONSTRAINT {} {}", ident::pg(&self.name), self.definition)
            }
            IndexKind::Index => self.definition.clone(),
        }];
        if let Some(c) = &self.comment {
            out.push(format!("COMMENT ON INDEX {} IS {}", qualified(schema, &self.name), ident::pg_literal(c)));
        }
        if let IndexKind::Constraint { comment: Some(c), .. } = &self.kind {
            out.push(format!("COMMENT ON CONSTRAINT {} ON {table} IS {}", ident::pg(&self.name), ident::pg_literal(c)));
        }
        out
    }

    /// Re-creates it as it was, in the load's transaction. A unique index the loaded rows
    /// break fails with the duplicated values and the keys (`row_key`) of the rows that
    /// hold them, beside PostgreSQL's own message.
    pub(super) async fn rebuild(&self, client: &Client, schema: &str, row_key: &[String]) -> Result<()> {
        let fail = |e: &tokio_postgres::Error| {
            Error::postgres(format!("re-creating index `{}` of `{}`", self.name, self.table), e)
        };
        let mut statements = self.create_sql(schema).into_iter();
        let create = statements.next().expect("a definition");
        let q = format!("SAVEPOINT converge_ix; {create}; RELEASE SAVEPOINT converge_ix");
        if let Err(e) = client.batch_execute(&q).await {
            if let (Some(unique), Some(&SqlState::UNIQUE_VIOLATION)) = (&self.unique, e.code()) {
                if client.batch_execute("ROLLBACK TO SAVEPOINT converge_ix").await.is_ok() {
                    let primary = matches!(self.kind, IndexKind::Constraint { primary: true, .. });
                    let shown = if primary { &[][..] } else { row_key };
                    let (n, examples) = duplicates(client, schema, &self.table, unique, shown).await?;
                    if n > 0 {
                        return Err(Error::other(format!(
                            "table `{}`: {n} duplicated values of ({}) break the unique index `{}` built after the load, e.g. {} (nothing was committed)\n  {}",
                            self.table,
                            unique.keys.join(", "),
                            self.name,
                            examples.join(", "),
                            fail(&e)
                        )));
                    }
                }
            }
            return Err(fail(&e));
        }
        for q in statements {
            client.batch_execute(&q).await.map_err(|e| fail(&e))?;
        }
        Ok(())
    }
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

/// The indexes of `tables` that can be dropped and re-created exactly: first the
/// primary-key and unique constraints no remaining foreign key or other object depends
/// on (primary keys first), then the secondary indexes not behind a constraint. Each is
/// valid, in the default tablespace, not the clustering or replica-identity index, on a
/// plain table the role owns (the others stay and are maintained row by row). Call it
/// after the foreign keys that will be re-created are dropped.
pub(super) async fn deferrable_indexes(client: &Client, schema: &str, tables: &[String]) -> Result<Vec<DeferredIndex>> {
    let pe = |e: tokio_postgres::Error| Error::postgres("reading the indexes to build after the load", &e);
    let constraints = client
        .query(
            "SELECT c.relname::text, k.conname::text, pg_get_constraintdef(k.oid), obj_description(i.oid, 'pg_class'),
                    ARRAY(SELECT pg_get_indexdef(x.indexrelid, a, true) FROM generate_series(1, x.indnkeyatts) a),
                    pg_get_expr(x.indpred, x.indrelid, true), obj_description(k.oid, 'pg_constraint'), k.contype = 'p',
                    COALESCE((to_jsonb(x) ->> 'indnullsnotdistinct')::bool, false)
             FROM pg_constraint k
             JOIN pg_index x ON x.indexrelid = k.conindid
             JOIN pg_class i ON i.oid = k.conindid
             JOIN pg_class c ON c.oid = k.conrelid
             JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = $1 AND c.relname = ANY($2) AND c.relkind = 'r' AND NOT c.relispartition
               AND pg_has_role(c.relowner, 'USAGE') AND k.contype IN ('p', 'u') AND i.relname = k.conname
               AND x.indisvalid AND NOT x.indisclustered AND NOT x.indisreplident AND i.reltablespace = 0
               AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.refclassid = 'pg_class'::regclass
                               AND d.refobjid = i.oid)
               AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.refclassid = 'pg_constraint'::regclass
                               AND d.refobjid = k.oid
                               AND NOT (d.classid = 'pg_class'::regclass AND d.objid = i.oid))
             ORDER BY k.contype, 1, 2",
            &[&schema, &tables],
        )
        .await
        .map_err(pe)?;
    let secondary = client
        .query(
            "SELECT c.relname::text, i.relname::text, pg_get_indexdef(i.oid), obj_description(i.oid, 'pg_class'),
                    ARRAY(SELECT pg_get_indexdef(x.indexrelid, a, true) FROM generate_series(1, x.indnkeyatts) a),
                    pg_get_expr(x.indpred, x.indrelid, true), x.indisunique,
                    COALESCE((to_jsonb(x) ->> 'indnullsnotdistinct')::bool, false)
             FROM pg_index x
             JOIN pg_class i ON i.oid = x.indexrelid
             JOIN pg_class c ON c.oid = x.indrelid
             JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = $1 AND c.relname = ANY($2) AND c.relkind = 'r' AND NOT c.relispartition
               AND pg_has_role(c.relowner, 'USAGE') AND NOT x.indisprimary AND x.indisvalid AND NOT x.indisclustered AND NOT x.indisreplident
               AND i.reltablespace = 0
               AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.oid)
               AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                               AND d.objid = i.oid AND d.deptype NOT IN ('a', 'n'))
             ORDER BY 1, 2",
            &[&schema, &tables],
        )
        .await
        .map_err(pe)?;
    let constraint = |r: &tokio_postgres::Row| DeferredIndex {
        table: r.get(0),
        name: r.get(1),
        definition: r.get(2),
        comment: r.get(3),
        unique: Some(UniqueKey { keys: r.get(4), predicate: r.get(5), nulls_not_distinct: r.get(8) }),
        kind: IndexKind::Constraint { comment: r.get(6), primary: r.get(7) },
    };
    let index = |r: &tokio_postgres::Row| DeferredIndex {
        table: r.get(0),
        name: r.get(1),
        definition: r.get(2),
        comment: r.get(3),
        unique: r.get::<_, bool>(6).then(|| UniqueKey {
            keys: r.get(4),
            predicate: r.get(5),
            nulls_not_distinct: r.get(7),
        }),
        kind: IndexKind::Index,
    };
    Ok(constraints.iter().map(constraint).chain(secondary.iter().map(index)).collect())
}

/// Every index and constraint of `tables` as one line each (definition, validity,
/// comment), and whether each column is NOT NULL (dropping a primary key must not change
/// it), sorted: what a load that rebuilds them must leave exactly as it found.
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
             SELECT format('constraint %I.%I: %s (validated %s, comment %L)', c.relname, k.conname,
                           pg_get_constraintdef(k.oid), k.convalidated, obj_description(k.oid, 'pg_constraint'))
             FROM pg_constraint k
             JOIN pg_class c ON c.oid = k.conrelid
             JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = $1 AND (c.relname = ANY($2)
                   OR k.confrelid IN (SELECT c2.oid FROM pg_class c2 WHERE c2.relnamespace = n.oid AND c2.relname = ANY($2)))
             UNION ALL
             SELECT format('column %I.%I: not null %s', c.relname, a.attname, a.attnotnull)
             FROM pg_attribute a
             JOIN pg_class c ON c.oid = a.attrelid
             JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = $1 AND c.relname = ANY($2) AND a.attnum > 0 AND NOT a.attisdropped
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
