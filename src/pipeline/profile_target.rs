//! `plan --profile`: what the target itself refuses of the loaded rows, evaluated by
//! PostgreSQL on the source's values — a unique index over a whole table (a schema-first
//! unique index the source lacks, a `citext` or case-insensitive ICU column joining values
//! MySQL keeps apart) and a generated column's expression PostgreSQL cannot compute (an
//! `int * int` MariaDB stored clipped). In one transaction that is rolled back, the tables
//! `create = "missing"` would create are created, the columns these read are read from
//! the source (as text, in the snapshot) into a temporary table shaped like the target
//! (its types and collations), and the duplicates are found by the load's own query, each
//! generated expression evaluated row by row. See docs/architecture.md, "No silent change".

use tokio_postgres::Client;

use super::plan::{Plan, TablePlan};
use super::profile::{source_of, Finding, CHECK_CHUNK};
use crate::error::{Error, Result};
use crate::ident;
use crate::pg::integrity;
use crate::pg::introspect::{PgColumn, PgTable, UniqueKey};
use crate::sink::postgres::create::SchemaDdl;
use crate::sink::postgres::target::TableTarget;
use crate::source::mysql::{MySqlSource, TextRow};

/// The temporary tables the source's rows are cast into, one per planned table
/// (`converge_profile_<n>`, dropped with the rollback).
const SCRATCH: &str = "converge_profile_";

/// Its column naming each row as the run names it (`col='value', …`).
const KEY: &str = "converge_row";

/// A target column a check reads: its name, the source column feeding it, the column.
type Fed<'a> = (&'a str, String, &'a PgColumn);

/// What a table of the target checks over its rows.
struct Checks {
    /// Unique indexes: name, whether it is the primary key, what it compares.
    uniques: Vec<(String, bool, UniqueKey)>,
    /// Generated columns: name, expression, type.
    generated: Vec<(String, String, String)>,
    /// The columns a foreign key reads, of this table or referenced in it.
    keyed: Vec<String>,
}

/// Per planned table, what its unique indexes, generated columns and foreign keys would
/// refuse.
pub async fn whole_table(
    src: &MySqlSource,
    pg: &Client,
    schema: &str,
    plan: &Plan,
    targets: (&[Option<TableTarget>], &[PgTable]),
    ddl: Option<&SchemaDdl>,
) -> Result<Vec<Finding>> {
    let step = |what: &'static str| move |e: tokio_postgres::Error| Error::postgres(what, &e);
    pg.batch_execute("BEGIN").await.map_err(step("starting the profile's transaction"))?;
    let found = async {
        for st in ddl.map(SchemaDdl::statements).unwrap_or_default() {
            pg.batch_execute(&st).await.map_err(step("creating the target in the profile's transaction"))?;
        }
        let tables: Vec<Option<&PgTable>> = (0..plan.tables.len())
            .map(|ti| {
                let tt = targets.0.get(ti)?.as_ref()?;
                targets.1.iter().find(|p| p.name == tt.table)
            })
            .collect();
        let (mut findings, mut filled) = (Vec::new(), vec![Vec::new(); tables.len()]);
        for (ti, (t, pt)) in plan.tables.iter().zip(&tables).enumerate() {
            let Some(pt) = pt else { continue };
            let referenced = tables.iter().flatten().flat_map(|o| &o.foreign_keys).filter(|fk| fk.ref_table == pt.name);
            let keyed =
                pt.foreign_keys.iter().flat_map(|fk| &fk.columns).chain(referenced.flat_map(|fk| &fk.ref_columns));
            let checks = Checks {
                uniques: integrity::unique_keys(pg, schema, &pt.name).await?,
                generated: generated(pg, schema, &pt.name).await?,
                keyed: keyed.cloned().collect(),
            };
            let scratch = format!("{SCRATCH}{ti}");
            let (found, cols) = table_checks(src, pg, schema, &scratch, t, pt, &checks).await?;
            findings.extend(found);
            filled[ti] = cols;
        }
        findings.extend(orphans(pg, schema, plan, &tables, &filled).await?);
        Ok::<_, Error>(findings)
    }
    .await;
    let rolled = pg.batch_execute("ROLLBACK").await;
    let found = found?;
    rolled.map_err(step("rolling back the profile's transaction"))?;
    Ok(found)
}

/// The generated columns of `table`: name, expression, type.
async fn generated(pg: &Client, schema: &str, table: &str) -> Result<Vec<(String, String, String)>> {
    let rows = pg
        .query(
            "SELECT a.attname::text, pg_get_expr(d.adbin, d.adrelid), format_type(a.atttypid, a.atttypmod)
             FROM pg_attribute a JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
             JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = $1 AND c.relname = $2 AND a.attgenerated = 's' AND NOT a.attisdropped
             ORDER BY a.attnum",
            &[&schema, &table],
        )
        .await
        .map_err(|e| Error::postgres(format!("reading the generated columns of `{table}`"), &e))?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1), r.get(2))).collect())
}

/// The unique indexes' and generated columns' refusals of one table, and the columns
/// its scratch table holds (none when it could not be filled).
async fn table_checks(
    src: &MySqlSource,
    pg: &Client,
    schema: &str,
    scratch: &str,
    t: &TablePlan,
    pt: &PgTable,
    checks: &Checks,
) -> Result<(Vec<Finding>, Vec<String>)> {
    // The fed columns a check reads (named in a key, a predicate or an expression).
    let texts: Vec<&String> = checks
        .uniques
        .iter()
        .flat_map(|(_, _, u)| u.keys.iter().chain(&u.predicate))
        .chain(checks.generated.iter().map(|g| &g.1))
        .collect();
    let reads = |c: &str| texts.iter().any(|x| x.contains(c)) || checks.keyed.iter().any(|k| k == c);
    let cols: Vec<Fed> = pt
        .columns
        .iter()
        .filter(|c| !c.generated && reads(&c.name))
        .filter_map(|c| Some((c.name.as_str(), source_of(t, &c.name)?, c)))
        .collect();
    let finding = |column: String, what: String, count: u64, examples: Vec<String>| Finding {
        table: t.name().to_string(),
        column,
        what,
        count,
        examples,
    };
    if cols.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    let step = |e: tokio_postgres::Error| Error::postgres("a savepoint of the profile's transaction", &e);
    pg.batch_execute("SAVEPOINT converge_fill").await.map_err(step)?;
    if let Err(why) = fill(src, pg, schema, scratch, t, pt, &cols).await? {
        pg.batch_execute("ROLLBACK TO SAVEPOINT converge_fill").await.map_err(step)?;
        let what =
            format!("not checked: the target's unique indexes, generated columns and foreign keys could not be evaluated on the source's values ({why})");
        return Ok((vec![finding(String::new(), what, 1, Vec::new())], Vec::new()));
    }
    let fed: Vec<&str> = cols.iter().map(|c| c.0).collect();
    let key = [KEY.to_string()];
    let mut out = Vec::new();
    for (name, primary, unique) in &checks.uniques {
        let shown = if *primary { &[][..] } else { &key[..] };
        let keys = unique.keys.join(", ");
        match guarded(pg, integrity::duplicates(pg, "pg_temp", scratch, unique, shown)).await? {
            Ok((n, examples)) => {
                let what = format!("rejected: duplicated under the target's unique index `{name}` ({keys})");
                out.push(finding(keys, what, n as u64, examples));
            }
            Err(why) => {
                out.push(finding(keys, format!("not checked: the target's unique index `{name}` ({why})"), 1, vec![]))
            }
        }
    }
    for (column, expression, ty) in &checks.generated {
        // A column the expression may read that the source does not feed (PostgreSQL's
        // generated columns read no generated column).
        let unfed =
            pt.columns.iter().find(|c| !c.generated && !fed.contains(&c.name.as_str()) && expression.contains(&c.name));
        let not_checked = |why: String| format!("not checked: the generated column's expression ({why})");
        if let Some(c) = unfed {
            let why = format!("may read `{}`, which the source does not feed", c.name);
            out.push(finding(column.clone(), not_checked(why), 1, vec![]));
            continue;
        }
        match guarded(pg, uncomputable(pg, scratch, column, expression, ty)).await? {
            Ok(f) => out.push(finding(column.clone(), f.0, f.1, f.2)),
            Err(why) => out.push(finding(column.clone(), not_checked(why), 1, vec![])),
        }
    }
    out.retain(|f| f.count > 0);
    Ok((out, fed.iter().map(|c| c.to_string()).collect()))
}

/// The rows of each planned table a foreign key of the target finds no row for: the
/// referenced rows are the source's (its scratch table) when the run loads that table,
/// else the target's own. A key with a NULL column references nothing (MATCH SIMPLE).
async fn orphans(
    pg: &Client,
    schema: &str,
    plan: &Plan,
    tables: &[Option<&PgTable>],
    filled: &[Vec<String>],
) -> Result<Vec<Finding>> {
    let holds = |ti: usize, cols: &[String]| !filled[ti].is_empty() && cols.iter().all(|c| filled[ti].contains(c));
    let mut out = Vec::new();
    for (ti, pt) in tables.iter().enumerate() {
        let Some(pt) = pt else { continue };
        for fk in pt.foreign_keys.iter().filter(|fk| holds(ti, &fk.columns)) {
            let parent = match tables.iter().position(|x| x.is_some_and(|x| x.name == fk.ref_table)) {
                Some(pi) if holds(pi, &fk.ref_columns) => format!("{SCRATCH}{pi}"),
                Some(_) => continue,
                None => ident::pg_qualified(schema, &fk.ref_table),
            };
            let on: Vec<String> = fk
                .columns
                .iter()
                .zip(&fk.ref_columns)
                .map(|(c, r)| format!("p.{} = c.{}", ident::pg(r), ident::pg(c)))
                .collect();
            let set: Vec<String> = fk.columns.iter().map(|c| format!("c.{} IS NOT NULL", ident::pg(c))).collect();
            let q = format!(
                "SELECT count(*), (array_agg(c.{KEY}))[1:3] FROM {SCRATCH}{ti} c WHERE {} AND NOT EXISTS (SELECT 1 FROM {parent} p WHERE {})",
                set.join(" AND "),
                on.join(" AND ")
            );
            let fail = |e: tokio_postgres::Error| Error::postgres(format!("checking foreign key `{}`", fk.name), &e);
            let row = match guarded(pg, async { pg.query_one(&q, &[]).await.map_err(fail) }).await? {
                Ok(row) => row,
                Err(why) => {
                    let what = format!("not checked: the target's foreign key `{}` ({why})", fk.name);
                    let table = plan.tables[ti].name().to_string();
                    out.push(Finding { table, column: fk.columns.join(", "), what, count: 1, examples: Vec::new() });
                    continue;
                }
            };
            let n: i64 = row.get(0);
            if n > 0 {
                out.push(Finding {
                    table: plan.tables[ti].name().to_string(),
                    column: fk.columns.join(", "),
                    what: format!(
                        "rejected: references no row of `{}` ({}) under the target's foreign key `{}`",
                        fk.ref_table,
                        fk.ref_columns.join(", "),
                        fk.name
                    ),
                    count: n as u64,
                    examples: row.get::<_, Option<Vec<String>>>(1).unwrap_or_default(),
                });
            }
        }
    }
    Ok(out)
}

/// Runs a check under a savepoint: `Ok(Err(why))` when PostgreSQL could not run it
/// (the transaction goes on).
async fn guarded<T>(
    pg: &Client,
    check: impl std::future::Future<Output = Result<T>>,
) -> Result<std::result::Result<T, String>> {
    let step = |e: tokio_postgres::Error| Error::postgres("a savepoint of the profile's transaction", &e);
    pg.batch_execute("SAVEPOINT converge_check").await.map_err(step)?;
    match check.await {
        Ok(found) => Ok(Ok(found)),
        Err(e) => {
            pg.batch_execute("ROLLBACK TO SAVEPOINT converge_check").await.map_err(step)?;
            Ok(Err(format!("could not be evaluated on the source's values: {e}")))
        }
    }
}

/// The rows whose generated `expression` PostgreSQL cannot compute into `ty`: what it
/// says (its first message), how many, up to three keys (`col='value', …`).
async fn uncomputable(
    pg: &Client,
    scratch: &str,
    column: &str,
    expression: &str,
    ty: &str,
) -> Result<(String, u64, Vec<String>)> {
    let function = format!(
        "CREATE FUNCTION pg_temp.converge_generated(r {scratch}) RETURNS text LANGUAGE plpgsql AS $converge$ \
         BEGIN PERFORM (SELECT ({expression})::{ty} FROM (SELECT (r).*) s); RETURN NULL; \
         EXCEPTION WHEN others THEN RETURN SQLERRM; END $converge$"
    );
    let q = format!(
        "SELECT count(*), (array_agg(k))[1:3], min(e) FROM \
         (SELECT {KEY} AS k, pg_temp.converge_generated(x) AS e FROM {scratch} x) s WHERE e IS NOT NULL"
    );
    let fail = |e: tokio_postgres::Error| Error::postgres(format!("evaluating generated column `{column}`"), &e);
    pg.batch_execute(&function).await.map_err(fail)?;
    let row = pg.query_one(&q, &[]).await.map_err(fail)?;
    pg.batch_execute("DROP FUNCTION pg_temp.converge_generated").await.map_err(fail)?;
    let what = format!(
        "rejected: PostgreSQL cannot compute the generated column (GENERATED ALWAYS AS ({expression}) STORED): {}",
        row.get::<_, Option<String>>(2).unwrap_or_default()
    );
    Ok((what, row.get::<_, i64>(0) as u64, row.get::<_, Option<Vec<String>>>(1).unwrap_or_default()))
}

/// Reads the columns from the source and casts them into the scratch table; `Ok(Err)`:
/// a value PostgreSQL does not take as the column's type (said why).
async fn fill(
    src: &MySqlSource,
    pg: &Client,
    schema: &str,
    scratch: &str,
    t: &TablePlan,
    pt: &PgTable,
    cols: &[Fed<'_>],
) -> Result<std::result::Result<(), String>> {
    let mut names: Vec<String> = cols.iter().map(|c| ident::pg(c.0)).collect();
    // A length-limited type unlimited: a value too long is the encoder's refusal, not
    // cut here into a duplicate the run never meets.
    let shaped: Vec<String> = cols.iter().map(|c| format!("{}::{} AS {0}", ident::pg(c.0), unlimited(c.2))).collect();
    let create = format!(
        "CREATE TEMP TABLE {scratch} ON COMMIT DROP AS SELECT {}, NULL::text AS {KEY} FROM {} WITH NO DATA",
        shaped.join(", "),
        ident::pg_qualified(schema, &pt.name)
    );
    names.push(KEY.to_string());
    pg.batch_execute(&create).await.map_err(|e| Error::postgres("creating the profile's scratch table", &e))?;
    let mut read: Vec<String> = cols.iter().map(|c| as_text(&c.1, c.2)).collect();
    read.push(row_key(&t.spec.table.primary_key));
    let q = format!("SELECT {} FROM {}", read.join(", "), ident::mysql(t.name()));
    let width = read.len();
    let params: Vec<String> = (1..=width).map(|i| format!("${i}::text[]")).collect();
    let vars: Vec<String> = (0..width).map(|i| format!("v{i}")).collect();
    let mut typed: Vec<String> = cols.iter().enumerate().map(|(i, c)| format!("v{i}::{}", unlimited(c.2))).collect();
    typed.push(format!("v{}", width - 1));
    let insert = format!(
        "INSERT INTO {scratch} ({}) SELECT {} FROM unnest({}) AS u({})",
        names.join(", "),
        typed.join(", "),
        params.join(", "),
        vars.join(", ")
    );
    // Read and cast side by side, a chunk at a time: a table is never held whole.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<TextRow>>(2);
    let reading = src.query_chunks(&q, CHECK_CHUNK, tx);
    let casting = async move {
        while let Some(chunk) = rx.recv().await {
            let arrays: Vec<Vec<Option<String>>> =
                (0..width).map(|i| chunk.iter().map(|r| r.get(i).cloned().flatten()).collect()).collect();
            let refs: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> =
                arrays.iter().map(|a| a as &(dyn tokio_postgres::types::ToSql + Sync)).collect();
            if let Err(e) = pg.execute(&insert, &refs).await {
                return Err(e.as_db_error().map_or(e.to_string(), |d| d.message().to_string()));
            }
        }
        Ok(())
    };
    let (read, cast) = tokio::join!(reading, casting);
    if cast.is_ok() {
        read?;
    }
    Ok(cast)
}

/// MySQL's text of a source column in the form PostgreSQL reads as the target column's
/// type: bytes as hex for `bytea`, and for `uuid` when they are 16 bytes (a binary UUID).
fn as_text(column: &str, target: &PgColumn) -> String {
    let c = ident::mysql(column);
    match target.type_name.as_str() {
        "bytea" => format!("CONCAT(X'5C78', HEX({c}))"),
        "uuid" => format!("IF(LENGTH({c}) = 16, HEX({c}), CAST({c} AS CHAR))"),
        _ => format!("CAST({c} AS CHAR)"),
    }
}

/// The source's expression naming a row as the run names it (`col='value', …`).
fn row_key(key: &[String]) -> String {
    let shown: Vec<String> =
        key.iter().map(|c| format!("CONCAT('{}=', QUOTE({}))", c.replace('\'', "''"), ident::mysql(c))).collect();
    if shown.is_empty() {
        "''".to_string()
    } else {
        format!("CONCAT_WS(', ', {})", shown.join(", "))
    }
}

/// The column's type, without the length limit of a character or bit string type.
fn unlimited(c: &PgColumn) -> &str {
    match c.type_name.as_str() {
        "varchar" => "character varying",
        "bpchar" => "bpchar",
        "bit" | "varbit" => "bit varying",
        _ => &c.sql_type,
    }
}
