//! `plan --profile`: what the target itself refuses of the loaded rows, evaluated by
//! PostgreSQL on the rows the run would load — a CHECK constraint (on the values a
//! normalisation, `datetime_zone` or `[[transform]]` made), a unique index over a whole table (a
//! schema-first unique index the source lacks, a `citext` or case-insensitive ICU column
//! joining values MySQL keeps apart, a `[[transform]]` or `datetime_zone` making two values
//! one), a foreign key's orphans, and a generated column's expression PostgreSQL cannot
//! compute (an `int * int` MariaDB stored clipped). In one transaction that is rolled back,
//! the tables `create = "missing"` would create are created, a temporary table shaped like
//! each target table (its types and collations, the columns these checks read) is filled
//! by binary COPY with the rehearsed batches themselves (`pipeline::rehearse`: after the
//! run's normalisation and `[[transform]]` SQL, encoded by the run's `CopyEncoder`, a value
//! the run refuses as NULL), each CHECK's `(expression) IS FALSE` counted on them, the
//! duplicates found by the load's own query, each generated expression evaluated row by row. See docs/architecture.md, "No silent change".

use tokio_postgres::Client;

use super::plan::{Plan, TablePlan};
use super::rehearse::Finding;
use super::scratch::{Scratch, Scratches, KEY};
use crate::error::{Error, Result};
use crate::ident;
use crate::mysql::MySqlSource;
use crate::pg::integrity;
use crate::pg::introspect::{PgCheck, PgTable, UniqueKey};
use crate::sink::postgres::create::SchemaDdl;
use crate::sink::postgres::target::TableTarget;

/// The temporary tables the rehearsed rows are copied into, one per planned table
/// (`converge_profile_<n>`, dropped with the rollback).
const SCRATCH: &str = "converge_profile_";

/// What a table of the target checks over its rows.
struct Checks {
    /// Unique indexes: name, whether it is the primary key, what it compares.
    uniques: Vec<(String, bool, UniqueKey)>,
    /// Generated columns: name, expression, type.
    generated: Vec<(String, String, String)>,
    /// The columns a foreign key or a CHECK constraint reads, of this table or
    /// referenced in it.
    keyed: Vec<String>,
}

/// Rehearses every planned table (`pipeline::rehearse`) with its rows copied into the
/// scratch tables, then checks what the target's unique indexes, generated columns and
/// foreign keys would refuse of them: (the rehearsal's findings, the target's). After a
/// row the source will not send, only the rehearsal's findings.
pub async fn whole_table(
    src: &MySqlSource,
    pg: &Client,
    schema: &str,
    plan: &Plan,
    targets: (&[Option<TableTarget>], &[PgTable]),
    ddl: Option<&SchemaDdl>,
) -> Result<(Vec<Finding>, Vec<Finding>)> {
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
        let (mut scratches, checks) = prepare(pg, schema, targets.0, &tables).await?;
        let rehearsed = super::rehearse::rehearse(src, plan, Some(targets), Some(&mut scratches)).await?;
        if rehearsed.iter().any(|f| f.what.starts_with(super::rehearse::TOO_LARGE)) {
            return Ok((rehearsed, Vec::new()));
        }
        let mut findings = Vec::new();
        for (ti, (t, s)) in plan.tables.iter().zip(&scratches.tables).enumerate() {
            let (Some(s), Some(c), Some(pt)) = (s, &checks[ti], tables[ti]) else { continue };
            findings.extend(table_checks(pg, s, c, t, pt).await?);
        }
        findings.extend(orphans(pg, schema, plan, &tables, &scratches.tables).await?);
        Ok::<_, Error>((rehearsed, findings))
    }
    .await;
    let rolled = pg.batch_execute("ROLLBACK").await;
    let found = found?;
    rolled.map_err(step("rolling back the profile's transaction"))?;
    Ok(found)
}

/// Per planned table the target has, what its checks read and the scratch table they
/// need (none when no check reads its rows), created empty.
async fn prepare<'a>(
    pg: &'a Client,
    schema: &str,
    targets: &[Option<TableTarget>],
    tables: &[Option<&PgTable>],
) -> Result<(Scratches<'a>, Vec<Option<Checks>>)> {
    let (mut scratches, mut all) = (Vec::new(), Vec::new());
    for (ti, pt) in tables.iter().enumerate() {
        let (Some(pt), Some(Some(tt))) = (pt, targets.get(ti)) else {
            scratches.push(None);
            all.push(None);
            continue;
        };
        let referenced = tables.iter().flatten().flat_map(|o| &o.foreign_keys).filter(|fk| fk.ref_table == pt.name);
        let keyed = pt.foreign_keys.iter().flat_map(|fk| &fk.columns).chain(referenced.flat_map(|fk| &fk.ref_columns));
        let keyed = keyed.chain(pt.checks.iter().flat_map(|c| &c.columns));
        let checks = Checks {
            uniques: integrity::unique_keys(pg, schema, &pt.name).await?,
            generated: generated(pg, schema, &pt.name).await?,
            keyed: keyed.cloned().collect(),
        };
        let held = checks.held(tt, pt);
        scratches.push(match held.is_empty() {
            true => None,
            false => Some(Scratch::create(pg, schema, format!("{SCRATCH}{ti}"), held, tt, pt).await?),
        });
        all.push(Some(checks));
    }
    Ok((Scratches::new(pg, scratches), all))
}

impl Checks {
    /// The COPY columns of `tt` (their indexes) the checks read: named in a key, a
    /// predicate or an expression, or by a foreign key or a CHECK constraint.
    fn held(&self, tt: &TableTarget, pt: &PgTable) -> Vec<usize> {
        let texts: Vec<&String> = self
            .uniques
            .iter()
            .flat_map(|(_, _, u)| u.keys.iter().chain(&u.predicate))
            .chain(self.generated.iter().map(|g| &g.1))
            .collect();
        let reads = |c: &str| texts.iter().any(|x| x.contains(c)) || self.keyed.iter().any(|k| k == c);
        (0..tt.columns.len())
            .filter(|&i| pt.column(&tt.columns[i].name).is_some_and(|c| !c.generated && reads(&c.name)))
            .collect()
    }
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

/// The CHECK constraints', unique indexes' and generated columns' refusals of one table,
/// read from its scratch table.
async fn table_checks(pg: &Client, s: &Scratch, checks: &Checks, t: &TablePlan, pt: &PgTable) -> Result<Vec<Finding>> {
    let finding = |column: String, what: String, count: u64, examples: Vec<String>| Finding {
        table: t.name().to_string(),
        column,
        what,
        count,
        examples,
    };
    if let Some(why) = s.failed() {
        let what = format!(
            "not checked: the target's CHECK constraints, unique indexes, generated columns and foreign keys could not be evaluated on the run's values ({why})"
        );
        return Ok(vec![finding(String::new(), what, 1, Vec::new())]);
    }
    let (fed, scratch) = (s.holds(), s.name.as_str());
    let key = [KEY.to_string()];
    let mut out = Vec::new();
    // A CHECK that reads a column the run does not load (or a generated one) is not evaluated.
    for check in
        pt.checks.iter().filter(|c| !c.columns.is_empty() && c.columns.iter().all(|x| fed.contains(&x.as_str())))
    {
        out.extend(
            violations(pg, scratch, check)
                .await?
                .into_iter()
                .map(|(w, n, e)| finding(check.columns.join(", "), w, n, e)),
        );
    }
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
        // A column the expression may read that the run does not load (PostgreSQL's
        // generated columns read no generated column).
        let unfed =
            pt.columns.iter().find(|c| !c.generated && !fed.contains(&c.name.as_str()) && expression.contains(&c.name));
        let not_checked = |why: String| format!("not checked: the generated column's expression ({why})");
        if let Some(c) = unfed {
            let why = format!("may read `{}`, which the run does not load", c.name);
            out.push(finding(column.clone(), not_checked(why), 1, vec![]));
            continue;
        }
        match guarded(pg, uncomputable(pg, scratch, column, expression, ty)).await? {
            Ok(f) => out.push(finding(column.clone(), f.0, f.1, f.2)),
            Err(why) => out.push(finding(column.clone(), not_checked(why), 1, vec![])),
        }
    }
    out.retain(|f| f.count > 0);
    Ok(out)
}

/// The rows of each planned table a foreign key of the target finds no row for: the
/// referenced rows are the run's (its scratch table) when the run loads that table,
/// else the target's own. A key with a NULL column references nothing (MATCH SIMPLE).
async fn orphans(
    pg: &Client,
    schema: &str,
    plan: &Plan,
    tables: &[Option<&PgTable>],
    scratches: &[Option<Scratch>],
) -> Result<Vec<Finding>> {
    let filled: Vec<Vec<&str>> = scratches.iter().map(|s| s.as_ref().map_or_else(Vec::new, Scratch::holds)).collect();
    let holds =
        |ti: usize, cols: &[String]| !filled[ti].is_empty() && cols.iter().all(|c| filled[ti].contains(&c.as_str()));
    let mut out = Vec::new();
    for (ti, pt) in tables.iter().enumerate() {
        let Some(pt) = pt else { continue };
        for fk in pt.foreign_keys.iter().filter(|fk| holds(ti, &fk.columns)) {
            let parent = match tables.iter().position(|x| x.is_some_and(|x| x.name == fk.ref_table)) {
                Some(pi) if holds(pi, &fk.ref_columns) => format!("{SCRATCH}{pi}"),
                Some(_) => continue,
                None => ident::pg_qualified(schema, &fk.ref_table),
            };
            let (on, set) = integrity::orphan_clauses(fk);
            let q = format!(
                "SELECT count(*), (array_agg(c.{KEY}))[1:3] FROM {SCRATCH}{ti} c WHERE {set} AND NOT EXISTS (SELECT 1 FROM {parent} p WHERE {on})"
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
            Ok(Err(format!("could not be evaluated on the run's values: {e}")))
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

/// What CHECK constraint `check` refuses of the rows in `scratch`: the rows whose
/// expression is false, as (what, how many, up to three keys). Where evaluating it
/// fails on some row (an integer overflow refuses the run's row too), it is evaluated
/// row by row, and the rows PostgreSQL cannot evaluate it on are listed with its first
/// message.
async fn violations(pg: &Client, scratch: &str, check: &PgCheck) -> Result<Vec<(String, u64, Vec<String>)>> {
    let (name, expression) = (&check.name, &check.expression);
    let violates = format!("rejected: violates the target's CHECK constraint `{name}` {expression}");
    let q = format!("SELECT count(*), (array_agg({KEY}))[1:3] FROM {scratch} WHERE ({expression}) IS FALSE");
    let fail = |e: tokio_postgres::Error| Error::postgres(format!("evaluating CHECK constraint `{name}`"), &e);
    if let Ok(row) = guarded(pg, async { pg.query_one(&q, &[]).await.map_err(fail) }).await? {
        let examples = row.get::<_, Option<Vec<String>>>(1).unwrap_or_default();
        return Ok(vec![(violates, row.get::<_, i64>(0) as u64, examples)]);
    }
    let function = format!(
        "CREATE FUNCTION pg_temp.converge_check(r {scratch}) RETURNS text LANGUAGE plpgsql AS $converge$ \
         BEGIN IF (SELECT ({expression}) FROM (SELECT (r).*) s) IS FALSE THEN RETURN ''; END IF; RETURN NULL; \
         EXCEPTION WHEN others THEN RETURN SQLERRM; END $converge$"
    );
    let q = format!(
        "SELECT e = '', count(*), (array_agg(k ORDER BY at))[1:3], min(e) FROM \
         (SELECT {KEY} AS k, x.ctid AS at, pg_temp.converge_check(x) AS e FROM {scratch} x) s \
         WHERE e IS NOT NULL GROUP BY e = '' ORDER BY min(at)"
    );
    let each = async {
        pg.batch_execute(&function).await.map_err(fail)?;
        let rows = pg.query(&q, &[]).await.map_err(fail)?;
        pg.batch_execute("DROP FUNCTION pg_temp.converge_check").await.map_err(fail)?;
        Ok(rows)
    };
    let rows = match guarded(pg, each).await? {
        Ok(rows) => rows,
        Err(why) => {
            return Ok(vec![(format!("not checked: the target's CHECK constraint `{name}` ({why})"), 1, vec![])])
        }
    };
    let cannot = |why: String| {
        format!("rejected: PostgreSQL cannot evaluate the target's CHECK constraint `{name}` {expression}: {why}")
    };
    Ok(rows
        .iter()
        .map(|r| {
            let what =
                if r.get(0) { violates.clone() } else { cannot(r.get::<_, Option<String>>(3).unwrap_or_default()) };
            (what, r.get::<_, i64>(1) as u64, r.get::<_, Option<Vec<String>>>(2).unwrap_or_default())
        })
        .collect())
}
