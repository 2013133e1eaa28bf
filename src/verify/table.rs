//! One table's comparison: its columns' canonical forms, its content, and the checks
//! beside it (counts, JSON and UUID columns, indexes).

use super::canon;
use super::checks as check;
use super::digest::{ContentResult, Part, TableCmp};
use super::report::{self, Check, Outcome, Section};
use super::{comparison_key, fail, strength, Ctx, Depth};
use crate::error::Result;
use crate::feed::JsonDuplicates;
use crate::ident::pg_qualified as qualified;
use crate::pg::introspect::PgTable;
use crate::pipeline::plan::TablePlan;
use crate::transform::normalize::JsonRule;
use crate::types::Logical;

/// One planned column and its target column, as the canonical forms take them.
pub(super) fn pair<'a>(
    cp: &'a crate::feed::ColumnPlan,
    out: &'a str,
    tc: &'a crate::pg::introspect::PgColumn,
    rule: &crate::transform::normalize::Rules,
    source: Option<&'a crate::types::MySqlType>,
    key: &[String],
    postgis: Option<&'a str>,
) -> canon::Pair<'a> {
    canon::Pair {
        name: &cp.name,
        pg_name: out,
        logical: cp.logical,
        pg_type: &tc.type_name,
        pg_enum: tc.is_enum,
        is_bit: cp.is_bit,
        zone: rule.zone.map(|z| z.name()),
        source,
        pg_typmod: tc.typmod,
        key: key.contains(&cp.name),
        json_first: matches!(rule.json, JsonRule::Refuse | JsonRule::Resolve(JsonDuplicates::First)),
        postgis,
    }
}

/// How a table's rows are compared: its columns' canonical forms and the key. A column
/// missing in the target is a failed check.
pub(super) fn comparison(ctx: &Ctx<'_>, tp: &TablePlan, pt: &PgTable, checks: &mut Vec<Check>) -> TableCmp {
    let name = tp.name().to_string();
    let pg_name = tp.target.clone();
    let table = &tp.spec.table;
    let out_names = tp.read_out_names();
    let none = Vec::new();
    let unique = ctx.source_indexes.get(&name).unwrap_or(&none);
    let key_columns = comparison_key(table, unique);
    let mut columns = Vec::new();
    for ((cp, r), out) in tp.spec.plans.iter().zip(&tp.rules).zip(&out_names) {
        // A column a [[transform]] leaves out is not in the target to compare.
        let Some(out) = out else { continue };
        match pt.column(out) {
            Some(tc) => {
                let source = table.columns.iter().find(|c| c.name == cp.name);
                let (collation, charset) = (
                    source.and_then(|c| c.facts.collation.as_deref()),
                    source.and_then(|c| c.mysql.charset.as_deref()),
                );
                let c = canon::column_of(&pair(cp, out, tc, r, source.map(|c| &c.mysql), &key_columns, ctx.postgis));
                columns.push(if cp.logical == Logical::Uuid { c.bound_by_index(collation, charset) } else { c });
            }
            None => checks.push(fail(
                Section::Content,
                &format!("{name}.{}", cp.name),
                format!("the column is missing in the target (as `{pg_name}`.`{out}`)"),
            )),
        }
    }
    let key: Vec<usize> = key_columns.iter().filter_map(|k| columns.iter().position(|c| &c.name == k)).collect();
    let key = if key.len() == key_columns.len() { key } else { Vec::new() };
    TableCmp { name, pg_table: qualified(ctx.schema, &pg_name), columns, key }
}

/// The content comparison of one table: a full one from its digested `parts`, a sample,
/// or — for a table a `[[transform]]` rewrites — its row counts alone.
pub(super) async fn content(ctx: &Ctx<'_>, tp: &TablePlan, cmp: &TableCmp, parts: Vec<Part>) -> Result<ContentResult> {
    Ok(if tp.transform_sql.is_some() {
        // A [[transform]] rewrites rows: count them, do not compare their values.
        let mut r = ctx.sides.compare_sample(cmp, 0).await?;
        r.equal = r.source_rows == r.target_rows;
        r.note = Some("the table has a [[transform]]: values are not compared with the source".into());
        r
    } else {
        match ctx.depth {
            Depth::Full => ctx.sides.locate(cmp, parts).await?,
            Depth::Sample(n) => ctx.sides.compare_sample(cmp, n).await?,
        }
    })
}

/// One table's checks beside its content: counts, the content's outcome, its JSON and
/// UUID columns, its indexes.
pub(super) async fn checks(
    ctx: &Ctx<'_>,
    tp: &TablePlan,
    pt: &PgTable,
    cmp: &TableCmp,
    res: &ContentResult,
    checks: &mut Vec<Check>,
) -> Result<()> {
    let name = tp.name().to_string();
    let pg_name = tp.target.clone();
    let table = &tp.spec.table;
    let out_names = tp.read_out_names();
    let none = Vec::new();
    let key_names: Vec<String> = cmp.key.iter().map(|&i| cmp.columns[i].pg_name.clone()).collect();
    let counted = format!("{} in the source, {} in the target", report::rows(res.source_rows), res.target_rows);
    checks.push(Check {
        section: Section::RowCounts,
        subject: name.clone(),
        outcome: if res.source_rows == res.target_rows { Outcome::Pass } else { Outcome::Fail },
        evidence: counted,
        keys: Vec::new(),
    });
    checks.push(content_check(&name, res, ctx.depth, tp.transform_sql.is_some()));
    for (cp, out) in tp.spec.plans.iter().zip(&out_names) {
        let Some(out) = out else { continue };
        let (Some(tc), Some(col)) = (pt.column(out), table.columns.iter().find(|c| c.name == cp.name)) else {
            continue;
        };
        let subject = format!("{name}.{}", cp.name);
        let json = cp.logical == Logical::Json;
        let uuid = matches!(col.logical, Logical::Uuid | Logical::UuidBinary) || tc.type_name == "uuid";
        checks.extend(typed_checks(ctx, &subject, &pg_name, out, &tc.type_name, (json, uuid), &key_names).await?);
    }
    let carried: Vec<String> = tp.outputs().into_iter().map(|o| o.name).collect();
    for ix in ctx.source_indexes.get(&name).unwrap_or(&none) {
        // The source's index under the target's column names.
        let mut ix = ix.clone();
        ix.columns = ix.columns.iter().map(|c| tp.out_name(c)).collect();
        // A SPATIAL index has a GiST counterpart where its columns are PostGIS geometries.
        let geometry = ix.columns.iter().all(|c| pt.column(c).is_some_and(|tc| tc.type_name == "geometry"));
        let target = ctx.target_indexes.get(&pg_name).unwrap_or(&none);
        checks.push(check::index_check(&name, &ix, target, &carried, geometry));
    }
    Ok(())
}

/// The JSON and UUID checks of one column: passed by the target's own type (`jsonb`,
/// `uuid` checked every value on the way in), else every stored text checked.
async fn typed_checks(
    ctx: &Ctx<'_>,
    subject: &str,
    pg_table: &str,
    column: &str,
    type_name: &str,
    (json, uuid): (bool, bool),
    key_names: &[String],
) -> Result<Vec<Check>> {
    let typed = |section, what: &str| Check {
        section,
        subject: subject.to_string(),
        outcome: Outcome::Pass,
        evidence: format!("stored as {what}: PostgreSQL checked every value on the way in"),
        keys: Vec::new(),
    };
    let mut out = Vec::new();
    if json {
        out.push(match type_name {
            "json" | "jsonb" => typed(Section::Json, type_name),
            _ => check::json_text(ctx.client, ctx.schema, pg_table, column, key_names).await?,
        });
    }
    if uuid {
        match type_name {
            "uuid" => out.push(typed(Section::Uuid, "uuid")),
            "bytea" => {}
            _ => out.push(check::uuid_text(ctx.client, ctx.schema, pg_table, column, key_names).await?),
        }
    }
    Ok(out)
}

fn content_check(table: &str, r: &ContentResult, depth: Depth, transformed: bool) -> Check {
    let how = match depth {
        // Two pieces: each side whole.
        Depth::Full if r.parts > 2 => {
            format!("{} digested on both sides, in {} pieces", report::rows(r.compared), r.parts)
        }
        Depth::Full => format!("{} digested on both sides", report::rows(r.compared)),
        Depth::Sample(_) => format!("{} sampled and compared", report::rows(r.compared)),
    };
    let (outcome, evidence) = if transformed {
        (Outcome::Skip, r.note.clone().unwrap_or_default())
    } else if r.equal {
        match depth {
            Depth::Sample(_) => {
                (Outcome::Pass, format!("{how}: equal; {}", strength::describe(r.target_rows, r.compared)))
            }
            Depth::Full => (Outcome::Pass, format!("{how}: equal")),
        }
    } else if let Some(note) = &r.note {
        (Outcome::Fail, format!("{how}: content differs; {note}"))
    } else {
        let more = if r.truncated { " (first ones listed; more differ)" } else { "" };
        let differ =
            if r.diffs.len() == 1 { "1 row differs".to_string() } else { format!("{} rows differ", r.diffs.len()) };
        (Outcome::Fail, format!("{how}: {differ}{more}, located by key-range search"))
    };
    Check {
        section: Section::Content,
        subject: table.to_string(),
        outcome,
        evidence,
        keys: r.diffs.iter().map(report::show_diff).collect(),
    }
}
