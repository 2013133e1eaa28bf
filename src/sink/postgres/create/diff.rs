//! `converge schema --diff`: a schema-first target against the schema `converge` would
//! create. The DDL is run in a scratch schema inside a transaction that is rolled back,
//! so both sides are read back from pg_catalog the same way and compared: tables,
//! column types, nullability, defaults, identity and generated columns, primary keys,
//! unique constraints (and unique indexes), foreign keys with their actions, and the
//! column lists of the other indexes.

use std::collections::{BTreeMap, BTreeSet};

use tokio_postgres::Client;

use super::SchemaDdl;
use crate::error::{Error, Result};

/// One table as pg_catalog describes it, in comparable form.
#[derive(Debug, Default, PartialEq)]
struct Described {
    /// Column → (type, NOT NULL, default expression, identity, generated).
    columns: BTreeMap<String, (String, bool, String, bool, bool)>,
    primary_key: Vec<String>,
    uniques: BTreeSet<Vec<String>>,
    /// Columns → (referenced table, referenced columns, ON UPDATE, ON DELETE).
    foreign_keys: BTreeMap<Vec<String>, (String, Vec<String>, String, String)>,
    indexes: BTreeSet<Vec<String>>,
}

const SCRATCH: &str = "converge_schema_diff";

/// Every difference between schema `target` and what `ddl` creates, one line each.
pub async fn against(client: &Client, ddl: &SchemaDdl, target: &str) -> Result<Vec<String>> {
    let scratch = SchemaDdl { schema: SCRATCH.to_string(), ..ddl.clone() };
    client.batch_execute("BEGIN").await.map_err(|e| Error::postgres("BEGIN", &e))?;
    let read = async {
        for st in scratch.statements() {
            client.batch_execute(&st).await.map_err(|e| Error::postgres("creating the schema to compare with", &e))?;
        }
        Ok::<_, Error>((describe(client, SCRATCH).await?, describe(client, target).await?))
    }
    .await;
    client.batch_execute("ROLLBACK").await.map_err(|e| Error::postgres("ROLLBACK", &e))?;
    let (wanted, have) = read?;
    Ok(compare(&wanted, &have))
}

fn compare(wanted: &BTreeMap<String, Described>, have: &BTreeMap<String, Described>) -> Vec<String> {
    let mut out = Vec::new();
    for (name, w) in wanted {
        match have.get(name) {
            None => out.push(format!("table `{name}`: missing in the target")),
            Some(h) => compare_table(name, w, h, &mut out),
        }
    }
    for name in have.keys().filter(|n| !wanted.contains_key(*n)) {
        out.push(format!("table `{name}`: only in the target"));
    }
    out
}

fn compare_table(t: &str, w: &Described, h: &Described, out: &mut Vec<String>) {
    for (c, wc) in &w.columns {
        let Some(hc) = h.columns.get(c) else {
            out.push(format!("`{t}`.`{c}`: missing in the target"));
            continue;
        };
        let what = ["type", "NOT NULL", "default", "identity", "generated"];
        let (wv, hv) = (fields(wc), fields(hc));
        let (ws, hs) = (shown(wc), shown(hc));
        for k in 0..5 {
            if wv[k] != hv[k] {
                out.push(format!("`{t}`.`{c}`: {} {} in the target, {} from MySQL", what[k], hs[k], ws[k]));
            }
        }
    }
    for c in h.columns.keys().filter(|c| !w.columns.contains_key(*c)) {
        out.push(format!("`{t}`.`{c}`: only in the target"));
    }
    if w.primary_key != h.primary_key {
        out.push(format!(
            "`{t}`: primary key ({}) in the target, ({}) from MySQL",
            list(&h.primary_key),
            list(&w.primary_key)
        ));
    }
    sets(t, "unique", &w.uniques, &h.uniques, out);
    sets(t, "index", &w.indexes, &h.indexes, out);
    for (cols, wf) in &w.foreign_keys {
        match h.foreign_keys.get(cols) {
            None => out.push(format!("`{t}`: foreign key ({}) → `{}` missing in the target", list(cols), wf.0)),
            Some(hf) if hf != wf => out.push(format!(
                "`{t}`: foreign key ({}) → `{}` ({}) ON UPDATE {} ON DELETE {} in the target, → `{}` ({}) ON UPDATE {} ON DELETE {} from MySQL",
                list(cols), hf.0, list(&hf.1), hf.2, hf.3, wf.0, list(&wf.1), wf.2, wf.3
            )),
            Some(_) => {}
        }
    }
    for (cols, hf) in h.foreign_keys.iter().filter(|(c, _)| !w.foreign_keys.contains_key(*c)) {
        out.push(format!("`{t}`: foreign key ({}) → `{}` only in the target", list(cols), hf.0));
    }
}

/// The fields as compared: a time type with its precision, a current-time default as one.
fn fields(c: &(String, bool, String, bool, bool)) -> [String; 5] {
    let ty = full_precision(&c.0);
    let default = if c.2.is_empty() { "none".to_string() } else { the_current_time(&c.2, &ty) };
    [ty, c.1.to_string(), default, c.3.to_string(), c.4.to_string()]
}

/// `now()`, `CURRENT_TIMESTAMP[(n)]` and `LOCALTIMESTAMP[(n)]` give a column of
/// precision p the same value when n ≥ p (or none is given): the transaction's start,
/// in the session's zone for a `timestamp`, rounded to p. Such a default reads as one.
fn the_current_time(expr: &str, ty: &str) -> String {
    let l = expr.to_ascii_lowercase();
    let precision =
        |t: &str| t.split_once('(').and_then(|(_, r)| r.split_once(')')).and_then(|(n, _)| n.parse::<u32>().ok());
    let asked = if l == "now()" || l == "current_timestamp" || l == "localtimestamp" {
        None
    } else if l.starts_with("current_timestamp(") || l.starts_with("localtimestamp(") {
        match precision(&l) {
            Some(n) => Some(n),
            None => return expr.to_string(),
        }
    } else {
        return expr.to_string();
    };
    let column = if ty.starts_with("timestamp") { precision(ty) } else { None };
    match (asked, column) {
        (_, None) if !ty.starts_with("timestamp") => expr.to_string(),
        (Some(n), Some(p)) if n < p => expr.to_string(),
        _ => "the current time".to_string(),
    }
}

/// The fields as printed: the default as written.
fn shown(c: &(String, bool, String, bool, bool)) -> [String; 5] {
    let mut f = fields(c);
    if !c.2.is_empty() {
        f[2] = c.2.clone();
    }
    f
}

/// A time type without a precision has PostgreSQL's default one, 6.
fn full_precision(t: &str) -> String {
    match t {
        "timestamp without time zone" => "timestamp(6) without time zone".into(),
        "timestamp with time zone" => "timestamp(6) with time zone".into(),
        "time without time zone" => "time(6) without time zone".into(),
        "interval" => "interval(6)".into(),
        other => other.to_string(),
    }
}

/// A default as pg_get_expr prints it, without the schema it names its types in (the
/// scratch schema on one side, the target's on the other).
fn unqualified(expr: &str, schema: &str) -> String {
    expr.replace(&format!("{}.", crate::ident::pg(schema)), "").replace(&format!("{schema}."), "")
}

fn list(cols: &[String]) -> String {
    cols.join(", ")
}

fn sets(t: &str, what: &str, w: &BTreeSet<Vec<String>>, h: &BTreeSet<Vec<String>>, out: &mut Vec<String>) {
    for cols in w.difference(h) {
        out.push(format!("`{t}`: {what} ({}) missing in the target", list(cols)));
    }
    for cols in h.difference(w) {
        out.push(format!("`{t}`: {what} ({}) only in the target", list(cols)));
    }
}

/// Every table of `schema`, described.
async fn describe(client: &Client, schema: &str) -> Result<BTreeMap<String, Described>> {
    let mut out: BTreeMap<String, Described> = BTreeMap::new();
    let q = |e: tokio_postgres::Error| Error::postgres(format!("reading schema `{schema}`"), &e);
    let cols = client
        .query(
            "SELECT c.relname::text, a.attname::text,
                    CASE WHEN t.typtype = 'e' THEN 'enum(' || (SELECT string_agg(enumlabel::text, ',' ORDER BY enumsortorder)
                         FROM pg_enum WHERE enumtypid = t.oid) || ')' ELSE format_type(a.atttypid, a.atttypmod) END,
                    a.attnotnull, CASE WHEN a.attgenerated = '' THEN pg_get_expr(d.adbin, d.adrelid) END,
                    a.attidentity <> '', a.attgenerated <> ''
             FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
             JOIN pg_type t ON t.oid = a.atttypid
             LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
             WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped",
            &[&schema],
        )
        .await
        .map_err(q)?;
    for r in &cols {
        let t = out.entry(r.get(0)).or_default();
        let default: Option<String> = r.get(4);
        let default = default.map(|d| unqualified(&d, schema)).unwrap_or_default();
        t.columns.insert(r.get(1), (r.get(2), r.get(3), default, r.get(5), r.get(6)));
    }
    constraints(client, schema, &mut out).await?;
    indexes(client, schema, &mut out).await?;
    Ok(out)
}

/// Primary keys, unique constraints and foreign keys.
async fn constraints(client: &Client, schema: &str, out: &mut BTreeMap<String, Described>) -> Result<()> {
    let rows = client
        .query(
            "SELECT c.relname::text, k.contype::text,
                    ARRAY(SELECT a.attname::text FROM unnest(k.conkey) WITH ORDINALITY u(n, o)
                          JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.n ORDER BY u.o),
                    COALESCE(f.relname::text, ''),
                    ARRAY(SELECT a.attname::text FROM unnest(k.confkey) WITH ORDINALITY u(n, o)
                          JOIN pg_attribute a ON a.attrelid = k.confrelid AND a.attnum = u.n ORDER BY u.o),
                    k.confupdtype::text, k.confdeltype::text
             FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
             LEFT JOIN pg_class f ON f.oid = k.confrelid
             WHERE n.nspname = $1 AND k.contype IN ('p', 'u', 'f')",
            &[&schema],
        )
        .await
        .map_err(|e| Error::postgres(format!("reading the constraints of `{schema}`"), &e))?;
    for r in &rows {
        let t = out.entry(r.get(0)).or_default();
        let cols: Vec<String> = r.get(2);
        match r.get::<_, String>(1).as_str() {
            "p" => t.primary_key = cols,
            "u" => {
                t.uniques.insert(cols);
            }
            _ => {
                let action = |c: String| action(&c).to_string();
                t.foreign_keys.insert(cols, (r.get(3), r.get(4), action(r.get(5)), action(r.get(6))));
            }
        }
    }
    Ok(())
}

/// A foreign key action. RESTRICT and NO ACTION compare equal: they differ only for a
/// deferred constraint (NO ACTION checks at the end of the statement or transaction,
/// RESTRICT at once), and InnoDB, which checks at once, treats them as one.
fn action(code: &str) -> &'static str {
    match code {
        "c" => "CASCADE",
        "n" => "SET NULL",
        "d" => "SET DEFAULT",
        _ => "NO ACTION",
    }
}

/// Indexes that back no constraint: unique ones count as unique keys.
async fn indexes(client: &Client, schema: &str, out: &mut BTreeMap<String, Described>) -> Result<()> {
    let rows = client
        .query(
            "SELECT c.relname::text, i.indisunique,
                    ARRAY(SELECT a.attname::text FROM unnest(i.indkey) WITH ORDINALITY u(n, o)
                          JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = u.n ORDER BY u.o)
             FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = $1 AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid AND k.conrelid = i.indrelid)",
            &[&schema],
        )
        .await
        .map_err(|e| Error::postgres(format!("reading the indexes of `{schema}`"), &e))?;
    for r in &rows {
        let t = out.entry(r.get(0)).or_default();
        let cols: Vec<String> = r.get(2);
        if r.get(1) {
            t.uniques.insert(cols);
        } else {
            t.indexes.insert(cols);
        }
    }
    Ok(())
}
