//! A created table's keys and rules: the primary key, CHECK constraints, unique
//! constraints and indexes, foreign keys with their actions, and the table's own facts
//! (comment, partitioning, the `ON UPDATE CURRENT_TIMESTAMP` trigger).

use super::names::{shorten, IndexNames, LongNames, Namespace, MAX_NAME_BYTES};
use super::{generated, CreateOptions, CreatedForeignKey, CreatedIndex, CreatedTable, SchemaDdl, TableRequest};
use crate::ident;
use crate::schema::{Index, IndexKind};
use crate::types::Logical;

/// What every step of one table's DDL works with.
pub(super) struct Context<'a, 'b> {
    pub ddl: &'a mut SchemaDdl,
    pub ns: &'a mut Namespace,
    pub options: &'a CreateOptions,
    pub request: &'a TableRequest<'b>,
    pub all: &'a [TableRequest<'b>],
}

impl Context<'_, '_> {
    /// A table or column name over 63 bytes: the plan shortens or refuses those, so
    /// one here is refused.
    pub fn fits(&mut self, what: &str, name: &str) {
        if name.len() > MAX_NAME_BYTES {
            self.ddl.refused.push(format!(
                "{what}: {} bytes, over PostgreSQL's {MAX_NAME_BYTES} (set long_names = \"shorten\" on the postgres sink)",
                name.len()
            ));
        }
    }

    /// A name MySQL gave (an index, a constraint): kept, or shortened by the pipeline's
    /// rule and reported, or refused.
    fn user_name(&mut self, what: &str, name: &str) -> String {
        if name.len() <= MAX_NAME_BYTES {
            return name.to_string();
        }
        match self.options.long_names {
            LongNames::Shorten => {
                let short = shorten(name);
                self.ddl.notes.push(format!("{what} `{name}` is over {MAX_NAME_BYTES} bytes: created as `{short}`"));
                short
            }
            LongNames::Refuse => {
                self.fits(&format!("{what} `{name}`"), name);
                name.to_string()
            }
        }
    }

    /// An index name, unique in the schema's namespace.
    fn index_name(&mut self, table: &str, name: &str) -> String {
        let what = format!("index `{name}` of `{table}`");
        let wanted = self.user_name(&what, name);
        if self.ns.take(&wanted) {
            return wanted;
        }
        match self.options.index_names {
            IndexNames::Prefix => {
                let renamed = self.ns.made_up(&format!("{table}_{name}"));
                self.ddl.notes.push(format!(
                    "{what}: another table or index of the schema is called `{wanted}` (PostgreSQL's index names are per schema): created as `{renamed}`"
                ));
                renamed
            }
            IndexNames::Refuse => {
                self.ddl.refused.push(format!(
                    "{what}: another table or index of the schema is called `{wanted}` (PostgreSQL's index names are per schema, MySQL's per table); set index_names = \"prefix\" on the postgres sink to name it `{table}_{name}`"
                ));
                wanted
            }
        }
    }

    /// Output names of source columns; the first one the table does not carry is the error.
    fn outs(&self, columns: &[String]) -> Result<Vec<String>, String> {
        columns.iter().map(|c| self.request.out(c).ok_or_else(|| c.clone())).collect()
    }
}

pub(super) fn primary_key(cx: &mut Context<'_, '_>, t: &mut CreatedTable) {
    let pk = &cx.request.source.primary_key;
    if pk.is_empty() {
        cx.ddl.notes.push(format!("`{}` has no primary key in MySQL; none is created", t.name));
        return;
    }
    match cx.outs(pk) {
        Ok(cols) => {
            let name = cx.ns.made_up(&format!("{}_pkey", t.name));
            let report = cx.options.case_insensitive == super::CaseInsensitive::Report;
            if report && pk.iter().any(|c| is_case_insensitive(cx.request, c)) {
                cx.ddl.notes.push(format!(
                    "the primary key of `{}` is unique case-insensitively in MySQL (a _ci collation); PostgreSQL compares case-sensitively. For MySQL's rule, set case_insensitive = \"icu\" or \"citext\" on the postgres sink",
                    t.name
                ));
            }
            t.primary_key = Some((name, cols));
        }
        Err(c) => cx.ddl.notes.push(format!("`{}`: primary key not created: its column `{c}` is not carried", t.name)),
    }
}

pub(super) fn checks(cx: &mut Context<'_, '_>, t: &mut CreatedTable) {
    let request = cx.request;
    for check in &request.source.checks {
        if check.json_valid_column().is_some() {
            continue; // MariaDB's JSON columns: jsonb checks every value itself.
        }
        let what = format!("check `{}` of `{}`", check.name, t.name);
        match generated::condition(&check.clause, &|c| generated::check_operand(request, c)) {
            Ok(sql) => {
                let name = cx.user_name("check", &check.name);
                t.checks.push((name, sql));
            }
            Err(why) => cx.ddl.notes.push(format!(
                "{what} is not created: CHECK ({}) — {why}. It is re-created only where PostgreSQL passes and refuses the rows MySQL does; write it in PostgreSQL's dialect with ALTER TABLE … ADD CONSTRAINT … CHECK (…) once its meaning is checked",
                check.clause
            )),
        }
    }
}

pub(super) fn indexes(cx: &mut Context<'_, '_>, t: &mut CreatedTable) {
    let request = cx.request;
    for ix in &request.source.indexes {
        let what = format!("index `{}` of `{}`", ix.name, t.name);
        if ix.kind == IndexKind::Spatial && cx.options.postgis.is_some() {
            gist_index(cx, t, ix, &what);
            continue;
        }
        if ix.kind != IndexKind::BTree {
            cx.ddl.notes.push(not_carried_index(&what, ix));
            continue;
        }
        let cols = match cx.outs(&ix.columns()) {
            Ok(cols) => cols,
            Err(c) => {
                cx.ddl.notes.push(format!("{what} is not created: its column `{c}` is not carried"));
                continue;
            }
        };
        if ix.parts.iter().any(|p| p.prefix.is_some()) {
            cx.ddl.notes.push(format!(
                "{what} indexes a prefix of its columns in MySQL ({}); created on the whole columns{}",
                describe_parts(ix),
                if ix.unique {
                    ", so its uniqueness is over whole values (every row MySQL holds satisfies it)"
                } else {
                    ""
                }
            ));
        }
        let report = cx.options.case_insensitive == super::CaseInsensitive::Report;
        if report && ix.unique && ix.parts.iter().any(|p| is_case_insensitive(request, &p.column)) {
            cx.ddl.notes.push(format!(
                "{what} is unique case-insensitively in MySQL (a _ci collation); PostgreSQL compares case-sensitively, so 'A' and 'a' will both be accepted. For MySQL's rule, set case_insensitive = \"icu\" (a nondeterministic ICU collation) or \"citext\" on the postgres sink"
            ));
        }
        let columns = cols
            .into_iter()
            .zip(&ix.parts)
            .map(|(c, p)| if p.descending { format!("{} DESC", ident::pg(&c)) } else { ident::pg(&c) })
            .collect();
        let name = cx.index_name(&t.name, &ix.name);
        t.indexes.push(CreatedIndex { name, columns, unique: ix.unique });
    }
}

/// A SPATIAL index, in a target with PostGIS: a GiST index on the geometry column.
fn gist_index(cx: &mut Context<'_, '_>, t: &mut CreatedTable, ix: &Index, what: &str) {
    match cx.outs(&ix.columns()) {
        Ok(cols) => {
            let name = cx.index_name(&t.name, &ix.name);
            t.gist_indexes.push((name, cols.iter().map(|c| ident::pg(c)).collect()));
        }
        Err(c) => cx.ddl.notes.push(format!("{what} is not created: its column `{c}` is not carried")),
    }
}

fn is_case_insensitive(request: &TableRequest<'_>, column: &str) -> bool {
    let c = request.source.column_index(column).map(|i| &request.source.columns[i]);
    c.is_some_and(|c| c.facts.case_insensitive() && c.logical == crate::types::Logical::Text)
}

fn describe_parts(ix: &Index) -> String {
    let parts: Vec<String> = ix
        .parts
        .iter()
        .map(|p| match p.prefix {
            Some(n) => format!("`{}`({n})", p.column),
            None => format!("`{}`", p.column),
        })
        .collect();
    parts.join(", ")
}

fn not_carried_index(what: &str, ix: &Index) -> String {
    let (kind, instead) = match ix.kind {
        IndexKind::FullText => (
            "FULLTEXT",
            "PostgreSQL's full-text search differs: e.g. CREATE INDEX … USING gin (to_tsvector('simple', col)) and queries with @@",
        ),
        _ => ("SPATIAL", "with PostGIS, a GiST index on a geometry column"),
    };
    format!("{what} is not created: {kind} KEY ({}) has no PostgreSQL equivalent; {instead}", describe_parts(ix))
}

pub(super) fn foreign_keys(cx: &mut Context<'_, '_>, t: &mut CreatedTable) {
    let request = cx.request;
    for fk in &request.source.foreign_keys {
        let what = format!("foreign key `{}` of `{}`", fk.name, t.name);
        let Some(parent) = cx.all.iter().find(|r| r.source.name == fk.ref_table) else {
            cx.ddl
                .notes
                .push(format!("{what} is not created: it references `{}`, which the run does not carry", fk.ref_table));
            continue;
        };
        if parent.create && !parent.source.is_unique(&fk.ref_columns) {
            let cols: Vec<String> = fk.ref_columns.iter().map(|c| format!("`{c}`")).collect();
            cx.ddl.notes.push(format!(
                "{what} is not created: it references {} of `{}`, which MySQL indexes without UNIQUE (InnoDB allows that; PostgreSQL requires a unique key) and the data repeats values there, or was not read (a dump). Make the referenced columns unique, then add the foreign key with ALTER TABLE … ADD FOREIGN KEY",
                cols.join(", "),
                fk.ref_table
            ));
            continue;
        }
        let refs: Option<Vec<String>> = fk.ref_columns.iter().map(|c| parent.out(c)).collect();
        match (cx.outs(&fk.columns), refs) {
            (Ok(columns), Some(ref_columns)) => {
                if let Some(why) = incompatible(cx, t, &parent.target, &columns, &ref_columns) {
                    cx.ddl.notes.push(format!(
                        "{what} is not created: {why}, which PostgreSQL cannot compare; add it with ALTER TABLE … ADD FOREIGN KEY once the types agree"
                    ));
                    continue;
                }
                let name = cx.user_name("foreign key", &fk.name);
                t.foreign_keys.push(CreatedForeignKey {
                    name,
                    columns,
                    ref_table: parent.target.clone(),
                    ref_columns,
                    on_delete: fk.on_delete.clone(),
                    on_update: fk.on_update.clone(),
                });
            }
            _ => cx.ddl.notes.push(format!("{what} is not created: one of its columns is not carried")),
        }
    }
}

/// Two created columns a foreign key would join whose types PostgreSQL cannot compare
/// (a uuid and a varchar, two enum types, numeric and bigint): the last safeguard
/// against DDL the run would refuse. `None` when every pair agrees or a side is not
/// created yet (a cycle of foreign keys).
fn incompatible(
    cx: &Context<'_, '_>,
    t: &CreatedTable,
    parent: &str,
    columns: &[String],
    ref_columns: &[String],
) -> Option<String> {
    let created = if parent == t.name { Some(t) } else { cx.ddl.tables.iter().find(|x| x.name == parent) }?;
    let type_of =
        |table: &CreatedTable, c: &str| table.columns.iter().find(|x| x.name == c).map(|x| x.sql_type.clone());
    let family = |ty: &str| {
        let base = ty.split('(').next().unwrap_or(ty).trim().to_string();
        match base.as_str() {
            "smallint" | "integer" | "bigint" => "integer".to_string(),
            "varchar" | "text" => "text".to_string(),
            _ => base,
        }
    };
    columns.iter().zip(ref_columns).find_map(|(c, r)| {
        let (a, b) = (type_of(t, c)?, type_of(created, r)?);
        (family(&a) != family(&b)).then(|| format!("`{}`.`{c}` is created {a} and `{parent}`.`{r}` {b}", t.name))
    })
}

pub(super) fn table_facts(cx: &mut Context<'_, '_>, t: &mut CreatedTable) {
    let source = cx.request.source;
    if !source.comment.is_empty() {
        t.comment = Some(source.comment.clone());
    }
    if let Some(p) = &source.partitioning {
        cx.ddl.notes.push(format!(
            "`{}` is partitioned in MySQL ({p}); created as one table. PostgreSQL's declarative partitioning (CREATE TABLE … PARTITION BY) is yours to add",
            t.name
        ));
    }
    if t.columns.iter().any(|c| c.on_update.is_some()) {
        t.on_update_trigger = Some(cx.ns.made_up(&format!("{}_on_update", t.name)));
        on_update_differences(cx, t);
    }
}

/// What the `ON UPDATE CURRENT_TIMESTAMP` triggers cannot match: MySQL sees a change
/// wherever the stored text changes; a jsonb or uuid column compares by value, so
/// rewriting one with the same value spelled otherwise is no change in PostgreSQL.
fn on_update_differences(cx: &mut Context<'_, '_>, t: &CreatedTable) {
    let by_value: Vec<String> = cx
        .request
        .columns
        .iter()
        .filter(|(_, _, l)| matches!(l, Logical::Json | Logical::Uuid))
        .map(|(_, name, _)| format!("`{name}`"))
        .collect();
    if by_value.is_empty() {
        return;
    }
    let stamped: Vec<String> =
        t.columns.iter().filter(|c| c.on_update.is_some()).map(|c| format!("`{}`", c.name)).collect();
    cx.ddl.notes.push(format!(
        "`{}`: ON UPDATE CURRENT_TIMESTAMP of {} is kept by triggers as MySQL documents it, with one difference: an UPDATE that writes {} with the same value spelled otherwise (JSON key order or spaces, UUID letter case) changes the row for MySQL (text) but not for PostgreSQL (jsonb/uuid compare values), so there the timestamp keeps its value",
        t.name,
        stamped.join(", "),
        by_value.join(", ")
    ));
}
