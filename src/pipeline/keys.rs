//! `create`'s foreign keys (docs/architecture.md, "Creating the target"): a key and
//! every column referencing it (transitively) get one created type, so PostgreSQL can
//! join them; and a foreign key onto columns MySQL indexes without UNIQUE (InnoDB
//! allows it, PostgreSQL does not) gets a unique constraint when the data proves one.

use std::collections::HashMap;

use super::plan::Plan;
use crate::error::Result;
use crate::ident;
use crate::mysql::MySqlSource;
use crate::schema::{Index, IndexKind, IndexPart};
use crate::types::Logical;

/// A read column of the plan: table index, read index.
pub(super) type Node = (usize, usize);

/// The columns foreign keys join among the created tables, in groups of two or more.
pub(super) fn groups(plan: &Plan, created: &[bool]) -> Vec<Vec<Node>> {
    let mut parent: HashMap<Node, Node> = HashMap::new();
    fn root(parent: &mut HashMap<Node, Node>, n: Node) -> Node {
        let p = *parent.entry(n).or_insert(n);
        if p == n {
            return n;
        }
        let r = root(parent, p);
        parent.insert(n, r);
        r
    }
    let read = |t: usize, column: &str| plan.tables[t].spec.plans.iter().position(|p| p.name == column);
    for (i, t) in plan.tables.iter().enumerate().filter(|(i, _)| created[*i]) {
        for fk in &t.spec.table.foreign_keys {
            let Some(j) = plan.tables.iter().position(|p| p.name() == fk.ref_table).filter(|j| created[*j]) else {
                continue;
            };
            for (c, rc) in fk.columns.iter().zip(&fk.ref_columns) {
                let (Some(a), Some(b)) = (read(i, c), read(j, rc)) else { continue };
                let (ra, rb) = (root(&mut parent, (i, a)), root(&mut parent, (j, b)));
                parent.insert(ra, rb);
            }
        }
    }
    let mut by_root: HashMap<Node, Vec<Node>> = HashMap::new();
    let nodes: Vec<Node> = parent.keys().copied().collect();
    for n in nodes {
        let r = root(&mut parent, n);
        by_root.entry(r).or_default().push(n);
    }
    let mut out: Vec<Vec<Node>> = by_root.into_values().filter(|g| g.len() > 1).collect();
    for g in &mut out {
        g.sort();
    }
    out.sort();
    out
}

/// The narrow type a group may share and the wide one it falls back to: uuid or text,
/// uuid or bytes, boolean or smallint.
pub(super) fn family(plan: &Plan, group: &[Node]) -> Option<(Logical, Logical)> {
    let has = |l: Logical| group.iter().any(|n| logical(plan, *n) == l);
    if has(Logical::Uuid) {
        Some((Logical::Uuid, Logical::Text))
    } else if has(Logical::UuidBinary) {
        Some((Logical::UuidBinary, Logical::Binary))
    } else if has(Logical::Bool) {
        Some((Logical::Bool, Logical::Int8))
    } else {
        None
    }
}

pub(super) fn logical(plan: &Plan, (t, r): Node) -> Logical {
    plan.tables[t].spec.plans[r].logical
}

/// Sets a read column's logical type (the run reads and creates it so).
pub(super) fn set(plan: &mut Plan, (t, r): Node, to: Logical) {
    let tp = &mut plan.tables[t];
    tp.spec.plans[r].logical = to;
    let ci = tp.spec.columns[r];
    tp.spec.table.columns[ci].logical = to;
}

fn describe(plan: &Plan, (t, r): Node) -> String {
    let tp = &plan.tables[t];
    format!(
        "`{}`.`{}` ({})",
        tp.name(),
        tp.spec.plans[r].name,
        tp.spec.table.columns[tp.spec.columns[r]].mysql.column_type
    )
}

/// One type per group: the narrow one when every member may take it (`fine`: a
/// member's values all fit it, or its type alone says so), else the wide one for all.
/// Returns the notes.
pub(super) fn unify(plan: &mut Plan, groups: &[Vec<Node>], fine: &dyn Fn(&Plan, Node) -> bool) -> Vec<String> {
    let mut notes = Vec::new();
    for g in groups {
        let Some((narrow, wide)) = family(plan, g) else { continue };
        let members: Vec<String> = g.iter().map(|n| describe(plan, *n)).collect();
        let all_fit = g.iter().all(|n| match logical(plan, *n) {
            l if narrow == Logical::Bool => l == narrow,
            l => (l == narrow || l == wide) && fine(plan, *n),
        });
        let (to, from) = if all_fit { (narrow, wide) } else { (wide, narrow) };
        if !g.iter().any(|n| logical(plan, *n) == from) {
            continue;
        }
        let unfit: Vec<String> = g.iter().filter(|n| !fine(plan, **n)).map(|n| describe(plan, *n)).collect();
        let changed: Vec<Node> = g.iter().copied().filter(|n| logical(plan, *n) == from).collect();
        for n in changed {
            set(plan, n, to);
        }
        let (made, why) = match to {
            Logical::Uuid | Logical::UuidBinary => ("uuid", "every value of every one of them is a UUID".to_string()),
            Logical::Text => {
                ("text (varchar(n) where MySQL declares a length), values kept as they are", because(&unfit))
            }
            Logical::Binary => ("bytea", because(&unfit)),
            _ => ("smallint", "not every one of them is a tinyint(1) holding only 0 and 1".to_string()),
        };
        notes.push(format!(
            "foreign keys join {}: all created {made}, one type for a key and the columns referencing it (PostgreSQL refuses a foreign key between two types): {why}",
            members.join(", ")
        ));
    }
    notes
}

fn because(unfit: &[String]) -> String {
    if unfit.is_empty() {
        "the type of one of them leaves no choice".into()
    } else {
        format!("{} not only UUIDs, or not typed so", unfit.join(", "))
    }
}

/// The condition a value of a read column fails to be the group's narrow type, for a
/// column the group may narrow (a text or bytes column joined with a UUID key).
pub(super) fn narrowing_test(plan: &Plan, groups: &[Vec<Node>], node: Node) -> Option<String> {
    let g = groups.iter().find(|g| g.contains(&node))?;
    let (narrow, wide) = family(plan, g)?;
    if logical(plan, node) != wide || narrow == Logical::Bool {
        return None;
    }
    let c = ident::mysql(&plan.tables[node.0].spec.plans[node.1].name);
    Some(match narrow {
        Logical::Uuid => format!(
            "{c} NOT REGEXP '^[0-9a-fA-F]{{8}}-[0-9a-fA-F]{{4}}-[0-9a-fA-F]{{4}}-[0-9a-fA-F]{{4}}-[0-9a-fA-F]{{12}}$'"
        ),
        _ => format!(
            "LENGTH({c}) <> 16 OR (ASCII(SUBSTRING({c}, 9, 1)) & 192) <> 128 OR (ASCII(SUBSTRING({c}, 7, 1)) >> 4) NOT BETWEEN 1 AND 8"
        ),
    })
}

/// Foreign keys among the created tables onto columns MySQL indexes without UNIQUE:
/// with a live source whose data holds no duplicate there, a unique key is added to
/// the referenced table (the creation then makes the foreign key); otherwise the
/// creation leaves the foreign key out, with a note. Returns the notes.
pub(super) async fn referenced_keys(
    live: Option<&MySqlSource>,
    plan: &mut Plan,
    created: &[bool],
) -> Result<Vec<String>> {
    let mut notes = Vec::new();
    let mut wanted: Vec<(usize, Vec<String>, String)> = Vec::new();
    for t in plan.tables.iter().zip(created).filter(|(_, c)| **c).map(|(t, _)| t) {
        for fk in &t.spec.table.foreign_keys {
            let Some(j) = plan.tables.iter().position(|p| p.name() == fk.ref_table).filter(|j| created[*j]) else {
                continue;
            };
            let parent = &plan.tables[j].spec.table;
            let mut cols = fk.ref_columns.clone();
            cols.sort();
            if parent.is_unique(&fk.ref_columns) || wanted.iter().any(|(k, c, _)| *k == j && *c == cols) {
                continue;
            }
            wanted.push((j, cols, format!("`{}` of `{}`", fk.name, t.name())));
        }
    }
    let Some(src) = live else { return Ok(notes) };
    for (j, cols, by) in wanted {
        let t = &plan.tables[j];
        let is_uuid = |c: &String| t.spec.plans.iter().any(|p| &p.name == c && p.logical == Logical::Uuid);
        // Grouped as PostgreSQL will compare: a uuid column folds case.
        let keys: Vec<String> = cols
            .iter()
            .map(|c| if is_uuid(c) { format!("LOWER({})", ident::mysql(c)) } else { ident::mysql(c) })
            .collect();
        let present: Vec<String> = cols.iter().map(|c| format!("{} IS NOT NULL", ident::mysql(c))).collect();
        let q = format!(
            "SELECT COUNT(*) FROM (SELECT 1 FROM {} WHERE {} GROUP BY {} HAVING COUNT(*) > 1) d",
            ident::mysql(t.name()),
            present.join(" AND "),
            keys.join(", ")
        );
        let rows: Vec<mysql_async::Row> = src.query(&q).await?;
        let dups: u64 = rows.first().and_then(|r| r.get::<Option<u64>, _>(0).flatten()).unwrap_or(0);
        let shown: Vec<String> = cols.iter().map(|c| format!("`{c}`")).collect();
        if dups > 0 {
            continue; // The creation leaves the foreign key out, and says why.
        }
        let name = format!("{}_{}_key", t.name(), cols.join("_"));
        notes.push(format!(
            "`{}` ({}) is referenced by foreign key {by}, and MySQL indexes it without UNIQUE (InnoDB allows that, PostgreSQL requires a unique key): no value repeats in the data, so a unique key `{name}` is created — PostgreSQL will refuse a duplicate there that MySQL would accept",
            t.name(),
            shown.join(", ")
        ));
        let parts = cols.iter().map(|c| IndexPart { column: c.clone(), prefix: None, descending: false }).collect();
        plan.tables[j].spec.table.indexes.push(Index { name, parts, unique: true, kind: IndexKind::BTree });
    }
    Ok(notes)
}
