//! The plan meets `create` (docs/architecture.md, "Creating the target"): column types
//! decided by the data where MySQL's type leaves them open, and the DDL for the tables
//! to create. (Output names are fitted to PostgreSQL's 63 bytes by the plan itself.)

use std::collections::HashMap;

use super::keys;
use super::plan::{Plan, TablePlan};
use super::spec::PostgresSink;
use crate::error::Result;
use crate::ident;
use crate::mysql::MySqlSource;
use crate::sink::postgres::create::{generate, CreateOptions, SchemaDdl, TableRequest};
use crate::types::Logical;

/// A type the data decides: why a column is not created as its type says.
struct Decision {
    read: usize,
    to: Logical,
    note: String,
}

/// Decides, from the data of a live source, the columns MySQL's type leaves open:
/// `char(36)` holding only UUIDs is uuid (else text), `tinyint(1)` holding only 0/1 is
/// boolean (else an integer), `binary(16)` holding only RFC 4122 UUIDs is uuid (else
/// bytes). A key and the columns referencing it get one type (all uuid when all their
/// values are UUIDs, else all text or bytes), and a foreign key onto columns MySQL
/// indexes without UNIQUE gets a unique key when the data proves one. The plan's
/// types are changed in place (the run then reads and loads them so); what changed is
/// returned as notes. A dump is read once, so there the type alone decides, and a
/// value that does not fit stops the load naming its row.
pub async fn decide_by_data(live: Option<&MySqlSource>, plan: &mut Plan, tables: &[bool]) -> Result<Vec<String>> {
    let mut notes = Vec::new();
    let groups = keys::groups(plan, tables);
    // Per read column tested: how many of its values fail its test.
    let mut failing: HashMap<keys::Node, u64> = HashMap::new();
    for ti in (0..plan.tables.len()).filter(|i| tables[*i]) {
        let t = &plan.tables[ti];
        let own = candidates(t);
        let mut tests: Vec<(usize, String)> = own.iter().map(|(i, fails, _)| (*i, fails.clone())).collect();
        tests.extend(
            (0..t.spec.plans.len()).filter_map(|r| keys::narrowing_test(plan, &groups, (ti, r)).map(|f| (r, f))),
        );
        if tests.is_empty() {
            continue;
        }
        let Some(src) = live else {
            let names: Vec<String> = own.iter().map(|(i, _, _)| format!("`{}`", t.spec.plans[*i].name)).collect();
            if !names.is_empty() {
                notes.push(format!(
                    "`{}`: {} typed by their declaration alone (a dump is read once, not profiled first); a value that does not fit stops the load naming its row — a [[column]] type = \"text\" rule keeps them as text",
                    t.name(),
                    names.join(", ")
                ));
            }
            continue;
        };
        let counts = count_failing(src, t, &tests).await?;
        let decisions = decide_table(t, &own, &counts);
        for ((r, _), n) in tests.iter().zip(counts) {
            failing.insert((ti, *r), n);
        }
        for d in decisions {
            keys::set(plan, (ti, d.read), d.to);
            notes.push(d.note);
        }
    }
    let fine = |p: &Plan, n: keys::Node| match live {
        Some(_) => failing.get(&n) == Some(&0),
        None => keys::family(p, &[n]).is_some(),
    };
    notes.extend(keys::unify(plan, &groups, &fine));
    notes.extend(keys::referenced_keys(live, plan, tables).await?);
    Ok(notes)
}

/// The read columns whose created type the data decides: index, the MySQL condition a
/// value fails, and the type it then gets.
fn candidates(t: &TablePlan) -> Vec<(usize, String, Logical)> {
    let mut out = Vec::new();
    for (i, cp) in t.spec.plans.iter().enumerate() {
        let c = ident::mysql(&cp.name);
        let ci = t.spec.columns[i];
        let m = &t.spec.table.columns[ci].mysql;
        let fails = match cp.logical {
            Logical::Uuid => format!(
                "{c} NOT REGEXP '^[0-9a-fA-F]{{8}}-[0-9a-fA-F]{{4}}-[0-9a-fA-F]{{4}}-[0-9a-fA-F]{{4}}-[0-9a-fA-F]{{12}}$'"
            ),
            Logical::Bool if m.data_type == "tinyint" => format!("{c} NOT IN (0, 1)"),
            Logical::UuidBinary => format!(
                "(ASCII(SUBSTRING({c}, 9, 1)) & 192) <> 128 OR (ASCII(SUBSTRING({c}, 7, 1)) >> 4) NOT BETWEEN 1 AND 8"
            ),
            _ => continue,
        };
        let to = match cp.logical {
            Logical::Uuid => Logical::Text,
            Logical::Bool => Logical::Int8,
            _ => Logical::Binary,
        };
        out.push((i, fails, to));
    }
    out
}

/// How many values of each tested read column fail its test, in one scan.
async fn count_failing(src: &MySqlSource, t: &TablePlan, tests: &[(usize, String)]) -> Result<Vec<u64>> {
    let sums: Vec<String> = tests
        .iter()
        .map(|(i, fails)| {
            let c = ident::mysql(&t.spec.plans[*i].name);
            format!("CAST(COALESCE(SUM(IF({c} IS NOT NULL AND ({fails}), 1, 0)), 0) AS UNSIGNED)")
        })
        .collect();
    let q = format!("SELECT {} FROM {}", sums.join(", "), ident::mysql(t.name()));
    let rows: Vec<mysql_async::Row> = src.query(&q).await?;
    let Some(row) = rows.first() else { return Ok(vec![0; tests.len()]) };
    Ok((0..tests.len()).map(|k| row.get::<Option<u64>, _>(k).flatten().unwrap_or(0)).collect())
}

/// The own candidates (first in `counts`) whose values do not all fit.
fn decide_table(t: &TablePlan, candidates: &[(usize, String, Logical)], counts: &[u64]) -> Vec<Decision> {
    let mut out = Vec::new();
    for ((i, _, to), &n) in candidates.iter().zip(counts) {
        if n == 0 {
            continue;
        }
        let cp = &t.spec.plans[*i];
        let m = &t.spec.table.columns[t.spec.columns[*i]].mysql;
        let (held, created) = match cp.logical {
            Logical::Uuid => ("values that are not UUIDs", "varchar(36), values kept as they are"),
            Logical::Bool => ("values other than 0 and 1", "smallint"),
            _ => ("values that are not RFC 4122 UUIDs", "bytea"),
        };
        out.push(Decision {
            read: *i,
            to: *to,
            note: format!("`{}`.`{}` ({}) holds {n} {held}: created {created}", t.name(), cp.name, m.column_type),
        });
    }
    out
}

/// The DDL for the planned tables whose `create` flag is set (the others may be
/// referenced); `existing` are the target schema's relation and type names, `postgis`
/// the schema of the target's PostGIS extension, when it has one.
pub fn ddl(
    plan: &Plan,
    create: &[bool],
    sink: Option<&PostgresSink>,
    existing: Vec<String>,
    postgis: Option<String>,
) -> SchemaDdl {
    let options = CreateOptions {
        schema: sink.map_or("public", |s| s.schema()).to_string(),
        long_names: sink.map(|s| s.long_names).unwrap_or_default(),
        index_names: sink.map(|s| s.index_names).unwrap_or_default(),
        case_insensitive: sink.map(|s| s.case_insensitive).unwrap_or_default(),
        enums: sink.map(|s| s.enums).unwrap_or_default(),
        existing,
        postgis,
    };
    let mut refused = Vec::new();
    let requests: Vec<TableRequest<'_>> = plan
        .tables
        .iter()
        .zip(create)
        .map(|(t, &create)| {
            let columns = t
                .outputs()
                .into_iter()
                .filter_map(|o| {
                    let Some(i) = o.read else {
                        refused.push(format!(
                            "`{}`.`{}` is computed by a [[transform]]: create the table yourself, its type is not MySQL's",
                            t.target, o.name
                        ));
                        return None;
                    };
                    Some((t.spec.columns[i], o.name, t.spec.plans[i].logical))
                })
                .collect();
            TableRequest { source: &t.spec.table, target: t.target.clone(), columns, create }
        })
        .collect();
    let mut ddl = generate(&requests, &options);
    let created: Vec<&TablePlan> = plan.tables.iter().zip(create).filter(|(_, c)| **c).map(|(t, _)| t).collect();
    refused.retain(|r| created.iter().any(|t| r.starts_with(&format!("`{}`.", t.target))));
    ddl.refused.extend(refused);
    ddl
}

/// Whether a planned table carries a spatial column (whose created type depends on the
/// target's PostGIS).
pub fn has_spatial(plan: &Plan) -> bool {
    plan.tables.iter().any(|t| t.spec.plans.iter().any(|c| c.logical == Logical::Geometry))
}
