//! `plan --profile`: the rows a unique key of the target refuses over a whole table (a
//! schema-first unique index the source lacks, a `citext` or case-insensitive ICU
//! column whose values MySQL kept apart). The columns the target's unique indexes read
//! are read from the source (as text, in the snapshot) into a temporary table shaped
//! like the target (its types and collations), in a transaction that is rolled back;
//! the duplicates are then found by the load's own query. See docs/architecture.md,
//! "No silent change".

use tokio_postgres::Client;

use super::plan::{Plan, TablePlan};
use super::profile::{source_of, Finding, CHECK_CHUNK};
use crate::error::{Error, Result};
use crate::ident;
use crate::sink::postgres::integrity;
use crate::sink::postgres::introspect::{PgTable, UniqueKey};
use crate::sink::postgres::target::TableTarget;
use crate::source::mysql::MySqlSource;

/// The temporary table the source's rows are cast into (dropped with the rollback).
const SCRATCH: &str = "converge_profile_keys";

/// Per planned table, each unique index of the target the source's rows would break:
/// how many values are duplicated, with examples.
pub async fn duplicates(
    src: &MySqlSource,
    pg: &Client,
    schema: &str,
    plan: &Plan,
    targets: (&[Option<TableTarget>], &[PgTable]),
) -> Result<Vec<Finding>> {
    let mut findings = Vec::new();
    for (ti, t) in plan.tables.iter().enumerate() {
        let Some(tt) = targets.0.get(ti).and_then(|x| x.as_ref()) else { continue };
        let Some(pt) = targets.1.iter().find(|p| p.name == tt.table) else { continue };
        let uniques = integrity::unique_keys(pg, schema, &tt.table).await?;
        if uniques.is_empty() {
            continue;
        }
        pg.batch_execute("BEGIN").await.map_err(|e| Error::postgres("starting the profile's transaction", &e))?;
        let found = table_duplicates(src, pg, schema, t, pt, &uniques).await;
        let rolled = pg.batch_execute("ROLLBACK").await;
        findings.extend(found?);
        rolled.map_err(|e| Error::postgres("rolling back the profile's transaction", &e))?;
    }
    Ok(findings)
}

async fn table_duplicates(
    src: &MySqlSource,
    pg: &Client,
    schema: &str,
    t: &TablePlan,
    pt: &PgTable,
    uniques: &[(String, bool, UniqueKey)],
) -> Result<Vec<Finding>> {
    // The fed columns a unique index reads (named in its keys or predicate), and the key.
    let reads = |c: &str| {
        pt.primary_key.iter().any(|k| k == c)
            || uniques.iter().any(|(_, _, u)| u.keys.iter().chain(&u.predicate).any(|k| k.contains(c)))
    };
    let cols: Vec<(&str, String, String)> = pt
        .columns
        .iter()
        .filter(|c| !c.generated && reads(&c.name))
        .filter_map(|c| Some((c.name.as_str(), source_of(t, &c.name)?, c.sql_type.clone())))
        .collect();
    if cols.is_empty() {
        return Ok(Vec::new());
    }
    let finding = |what: String, count: u64, examples: Vec<String>| Finding {
        table: t.name().to_string(),
        column: String::new(),
        what,
        count,
        examples,
    };
    if let Err(why) = fill(src, pg, schema, t, pt, &cols).await? {
        let what =
            format!("not checked: the target's unique indexes could not be evaluated on the source's values ({why})");
        return Ok(vec![finding(what, 1, Vec::new())]);
    }
    let fed: Vec<&str> = cols.iter().map(|c| c.0).collect();
    let row_key: Vec<String> = pt.primary_key.clone();
    let row_key = if row_key.iter().all(|k| fed.contains(&k.as_str())) { row_key } else { Vec::new() };
    let mut out = Vec::new();
    for (name, primary, unique) in uniques {
        let shown = if *primary { &[][..] } else { &row_key[..] };
        let savepoint = |q: &'static str| async move {
            pg.batch_execute(q).await.map_err(|e| Error::postgres("a savepoint of the profile's transaction", &e))
        };
        savepoint("SAVEPOINT converge_profile").await?;
        let (n, examples) = match integrity::duplicates(pg, "pg_temp", SCRATCH, unique, shown).await {
            Ok(found) => found,
            // An index over a column the source does not feed: its rows are the target's.
            Err(_) => {
                savepoint("ROLLBACK TO SAVEPOINT converge_profile").await?;
                continue;
            }
        };
        let what =
            format!("rejected: duplicated under the target's unique index `{name}` ({})", unique.keys.join(", "));
        let mut f = finding(what, n as u64, examples);
        f.column = unique.keys.join(", ");
        out.push(f);
    }
    out.retain(|f| f.count > 0);
    Ok(out)
}

/// Reads the columns from the source and casts them into the scratch table; `Ok(Err)`:
/// a value PostgreSQL does not take as the column's type (said why).
async fn fill(
    src: &MySqlSource,
    pg: &Client,
    schema: &str,
    t: &TablePlan,
    pt: &PgTable,
    cols: &[(&str, String, String)],
) -> Result<std::result::Result<(), String>> {
    let names: Vec<String> = cols.iter().map(|c| ident::pg(c.0)).collect();
    let create = format!(
        "CREATE TEMP TABLE {SCRATCH} ON COMMIT DROP AS SELECT {} FROM {} WITH NO DATA",
        names.join(", "),
        ident::pg_qualified(schema, &pt.name)
    );
    pg.batch_execute(&create).await.map_err(|e| Error::postgres("creating the profile's scratch table", &e))?;
    let read: Vec<String> = cols.iter().map(|c| format!("CAST({} AS CHAR)", ident::mysql(&c.1))).collect();
    let q = format!("SELECT {} FROM {}", read.join(", "), ident::mysql(t.name()));
    let mut rows: Vec<Vec<Option<String>>> = Vec::new();
    src.query_each(&q, |r| rows.push(r)).await?;
    let params: Vec<String> = (1..=cols.len()).map(|i| format!("${i}::text[]")).collect();
    let vars: Vec<String> = (0..cols.len()).map(|i| format!("v{i}")).collect();
    let typed: Vec<String> = cols.iter().enumerate().map(|(i, c)| format!("v{i}::{}", c.2)).collect();
    let insert = format!(
        "INSERT INTO {SCRATCH} ({}) SELECT {} FROM unnest({}) AS u({})",
        names.join(", "),
        typed.join(", "),
        params.join(", "),
        vars.join(", ")
    );
    for chunk in rows.chunks(CHECK_CHUNK) {
        let arrays: Vec<Vec<Option<String>>> =
            (0..cols.len()).map(|i| chunk.iter().map(|r| r.get(i).cloned().flatten()).collect()).collect();
        let refs: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> =
            arrays.iter().map(|a| a as &(dyn tokio_postgres::types::ToSql + Sync)).collect();
        if let Err(e) = pg.execute(&insert, &refs).await {
            return Ok(Err(e.as_db_error().map_or(e.to_string(), |d| d.message().to_string())));
        }
    }
    Ok(Ok(()))
}
