//! The plan of a run: which tables, in which order, which columns, and how every
//! column is carried (MySQL type → Arrow type → CSV encoding). Built before any data
//! moves; `converge plan` prints it.

use glob::Pattern;

use super::spec::{ColumnRule, CreateMode, LongNames, NameRule, Pipeline, UuidRule};
use crate::error::{Error, Result};
use crate::feed::ColumnPlan;
use crate::feed::{JsonDuplicates, ReadSpec};
use crate::schema::{dependency_order, Column, Table};
use crate::sink::postgres::create::names::{shorten, MAX_NAME_BYTES};
use crate::transform::normalize::{JsonRule, Rules};
use crate::types::Logical;

mod render;

pub use self::render::{json, render, render_target, render_with_target};

/// One table of the plan.
#[derive(Debug, Clone)]
pub struct TablePlan {
    /// What the source reads.
    pub spec: ReadSpec,
    /// Normalisation rules per read column.
    pub rules: Vec<Rules>,
    /// Columns left out, with why.
    pub excluded_columns: Vec<(String, String)>,
    /// The table's `[[transform]]` SQL.
    pub transform_sql: Option<String>,
    /// Columns the file sinks (CSV, Parquet) leave out: the audit columns.
    pub file_excluded: Vec<String>,
    /// Columns whose values a `[[column]]` rule lets the target's type change (counted).
    pub allow_change: Vec<String>,
    /// The name the output carries: the target table, the export's files
    /// (`[[table]] target`, `options.names`, or the source's).
    pub target: String,
    /// Read columns whose output name differs from the source's: (source, output).
    pub renames: Vec<(String, String)>,
    /// How names without a rule are derived (the `[[transform]]`'s too).
    pub names: NameRule,
    /// With a `[[transform]]`: the query's columns, each with the read column it carries
    /// (`None`: computed by the query). Set by [`build`].
    pub transform_outputs: Option<Vec<(String, Option<String>)>>,
}

/// One column of a table's output: what the sinks receive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// The name the sinks give it: the target column, the CSV header.
    pub name: String,
    /// Its name in the stream before renaming (the read column's or the transform's).
    pub field: String,
    /// The read column it carries (an index into `spec.plans`), or `None` when a
    /// `[[transform]]` computes it.
    pub read: Option<usize>,
}

impl TablePlan {
    /// The table's name (the source's).
    pub fn name(&self) -> &str {
        &self.spec.table.name
    }

    /// The output name of a stream column called `field`.
    pub fn out_name(&self, field: &str) -> String {
        match self.renames.iter().find(|(s, _)| s == field) {
            Some((_, o)) => o.clone(),
            None => self.names.apply(field),
        }
    }

    /// The output columns in order: the read columns, or the `[[transform]]`'s.
    pub fn outputs(&self) -> Vec<Output> {
        match &self.transform_outputs {
            Some(cols) => cols
                .iter()
                .map(|(field, origin)| Output {
                    name: self.out_name(field),
                    field: field.clone(),
                    read: origin.as_ref().and_then(|o| self.spec.plans.iter().position(|p| &p.name == o)),
                })
                .collect(),
            None => self
                .spec
                .plans
                .iter()
                .enumerate()
                .map(|(k, p)| Output { name: self.out_name(&p.name), field: p.name.clone(), read: Some(k) })
                .collect(),
        }
    }

    /// MySQL's `AUTO_INCREMENT` counter (the next value it would hand out) and the
    /// output column it numbers, when the table has one and the output carries it.
    pub fn counter(&self) -> Option<(String, u64)> {
        let next = self.spec.table.auto_increment?;
        let column = self.spec.table.columns.iter().find(|c| c.facts.auto_increment)?;
        let k = self.spec.plans.iter().position(|p| p.name == column.name)?;
        Some((self.read_out_names()[k].clone()?, next))
    }

    /// Per read column (the plan's order): its output name, if the output carries it.
    pub fn read_out_names(&self) -> Vec<Option<String>> {
        let outputs = self.outputs();
        (0..self.spec.plans.len()).map(|k| outputs.iter().find(|o| o.read == Some(k)).map(|o| o.name.clone())).collect()
    }
}

/// The whole plan.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Tables in load order (referenced tables first).
    pub tables: Vec<TablePlan>,
    /// Tables left out, with why.
    pub excluded: Vec<(String, String)>,
    /// What the source holds that the run cannot carry, or carries with less than the
    /// server has (a dump's FLOAT digits; views, routines, triggers, events).
    pub notes: Vec<String>,
}

impl Plan {
    /// Every planned table's `AUTO_INCREMENT` counter: target table, column, MySQL's
    /// next value (a sequence behind it would hand out ids MySQL already gave).
    pub fn counters(&self) -> Vec<(String, String, u64)> {
        self.tables.iter().filter_map(|t| t.counter().map(|(c, n)| (t.target.clone(), c, n))).collect()
    }
}

fn matches(pattern: &str, name: &str) -> bool {
    Pattern::new(pattern).map(|p| p.matches(name)).unwrap_or(false)
}

/// With a postgres sink, every output table and column name over 63 bytes is shortened
/// by the sink's `long_names = "shorten"` rule (and noted), or — when the run creates
/// the tables — the plan is refused naming them all: PostgreSQL would truncate them
/// without a word. Into a schema-first target the target check names them instead
/// (what PostgreSQL would call them, and whether the target has that).
fn fit_names(p: &Pipeline, plan: &mut Plan) -> Result<()> {
    let Some(sink) = p.postgres() else { return Ok(()) };
    let mut long = Vec::new();
    for t in plan.tables.iter_mut() {
        if t.target.len() > MAX_NAME_BYTES {
            long.push(format!("table `{}`", t.target));
            if sink.long_names == LongNames::Shorten {
                let short = shorten(&t.target);
                plan.notes.push(format!("table `{}` is over {MAX_NAME_BYTES} bytes: called `{short}`", t.target));
                t.target = short;
            }
        }
        for o in t.outputs() {
            if o.name.len() > MAX_NAME_BYTES {
                long.push(format!("column `{}`.`{}`", t.target, o.name));
                if sink.long_names == LongNames::Shorten {
                    let short = shorten(&o.name);
                    plan.notes.push(format!(
                        "column `{}`.`{}` is over {MAX_NAME_BYTES} bytes: called `{short}`",
                        t.target, o.name
                    ));
                    t.renames.retain(|(f, _)| f != &o.field);
                    t.renames.push((o.field.clone(), short));
                }
            }
        }
    }
    if long.is_empty() || sink.long_names == LongNames::Shorten || sink.create == CreateMode::None {
        return Ok(());
    }
    Err(Error::Pipeline {
        file: p.file.clone(),
        at: None,
        message: format!(
            "{} over PostgreSQL's {MAX_NAME_BYTES} bytes, which PostgreSQL would truncate: {}. Name them with [[table]] / [[column]] target, or set long_names = \"shorten\" on the postgres sink (the first 54 bytes, `_` and 8 hex digits of a hash of the whole name)",
            if long.len() == 1 { "a name is" } else { "names are" },
            long.join(", ")
        ),
    })
}

/// Decides tables, columns, rules and output names from the pipeline and the source's
/// schema; plans each `[[transform]]` (over no rows) to learn the columns it gives.
pub async fn build(p: &Pipeline, tables: Vec<Table>) -> Result<Plan> {
    let mut plan = build_tables(p, tables)?;
    for t in plan.tables.iter_mut() {
        let Some(sql) = &t.transform_sql else { continue };
        let fields: Vec<_> =
            t.spec.plans.iter().map(|c| arrow::datatypes::Field::new(&c.name, c.logical.arrow_type(), true)).collect();
        let schema = std::sync::Arc::new(arrow::datatypes::Schema::new(fields));
        t.transform_outputs = Some(crate::transform::sql::outputs(t.name(), schema, sql).await?);
    }
    fit_names(p, &mut plan)?;
    let err = |m: String| Error::Pipeline { file: p.file.clone(), at: None, message: m };
    for (i, t) in plan.tables.iter().enumerate() {
        if let Some(o) = plan.tables[..i].iter().find(|o| o.target == t.target) {
            return Err(err(format!(
                "tables `{}` and `{}` would both be called `{}` in the target",
                o.name(),
                t.name(),
                t.target
            )));
        }
        let outputs = t.outputs();
        for (j, c) in outputs.iter().enumerate() {
            if let Some(d) = outputs[..j].iter().find(|d| d.name == c.name) {
                return Err(err(format!(
                    "`{}`: columns `{}` and `{}` would both be called `{}` in the output",
                    t.name(),
                    d.field,
                    c.field,
                    c.name
                )));
            }
        }
    }
    Ok(plan)
}

fn build_tables(p: &Pipeline, tables: Vec<Table>) -> Result<Plan> {
    let err = |m: String| Error::Pipeline { file: p.file.clone(), at: None, message: m };
    for t in &p.table_names {
        if !tables.iter().any(|x| x.name == t.source) {
            return Err(err(format!("[[table]] source `{}` is not a table of the source", t.source)));
        }
    }
    for pat in &p.source.tables {
        if !tables.iter().any(|t| matches(pat, &t.name)) {
            return Err(err(format!("source.tables: `{pat}` matches no table of the source")));
        }
    }
    for t in &p.transforms {
        if !tables.iter().any(|x| x.name == t.table) {
            return Err(err(format!("[[transform]] names table `{}`, which the source does not have", t.table)));
        }
    }
    let mut excluded = Vec::new();
    let mut chosen = Vec::new();
    for t in tables {
        if let Some(pat) = p.source.exclude.iter().find(|pat| matches(pat, &t.name)) {
            excluded.push((t.name.clone(), format!("excluded by `{pat}`")));
        } else if !p.source.tables.iter().any(|pat| matches(pat, &t.name)) {
            excluded.push((t.name.clone(), "not matched by source.tables".into()));
        } else {
            chosen.push(t);
        }
    }
    let order = dependency_order(&chosen);
    let mut out = Vec::with_capacity(chosen.len());
    for i in order {
        out.push(table_plan(p, chosen[i].clone())?);
    }
    let mut notes = Vec::new();
    if p.source.is_dump() {
        notes.extend(dump_digit_notes(&out));
    }
    Ok(Plan { tables: out, excluded, notes })
}

/// The planned columns of `tables` that `keep` picks, as `table.column`.
fn dump_columns(tables: &[TablePlan], keep: impl Fn(&Column) -> bool) -> Vec<String> {
    tables
        .iter()
        .flat_map(|t| {
            let tb = &t.spec.table;
            t.spec
                .columns
                .iter()
                .map(move |&ci| &tb.columns[ci])
                .filter(|c| keep(c))
                .map(move |c| format!("{}.{}", tb.name, c.name))
        })
        .collect()
}

/// What a dump's text holds of the server's floating-point values: mysqldump writes
/// FLOAT with 6 significant digits, and DOUBLE(M,D) with D decimals.
fn dump_digit_notes(tables: &[TablePlan]) -> Vec<String> {
    let mut notes = Vec::new();
    let floats = dump_columns(tables, |c| c.mysql.data_type == "float");
    if !floats.is_empty() {
        notes.push(format!(
            "FLOAT columns in a dump: mysqldump writes FLOAT with 6 significant digits, so the dump holds less \
             than the server for {} columns ({}); read the live server (source.kind = \"mysql\") for every digit",
            floats.len(),
            floats.join(", ")
        ));
    }
    let scaled = dump_columns(tables, |c| {
        matches!(c.mysql.data_type.as_str(), "double" | "real") && c.mysql.column_type.contains(',')
    });
    if !scaled.is_empty() {
        notes.push(format!(
            "DOUBLE(M,D) columns in a dump: mysqldump writes them rounded to D decimals, so the dump holds less \
             than the server for {} columns ({}); read the live server (source.kind = \"mysql\") for every digit",
            scaled.len(),
            scaled.join(", ")
        ));
    }
    notes
}

/// One table's plan: its columns under the pipeline's rules, its target name and
/// transform.
fn table_plan(p: &Pipeline, mut table: Table) -> Result<TablePlan> {
    let mut cols = ColumnsPlan::default();
    for (i, c) in table.columns.iter_mut().enumerate() {
        cols.add(p, &table.name, &table.primary_key, i, c)?;
    }
    let o = &p.options;
    let transform_sql = p.transforms.iter().find(|t| t.table == table.name).map(|t| t.sql.clone());
    let target = match p.table_names.iter().find(|t| t.source == table.name) {
        Some(t) => t.target.clone(),
        None => o.names.apply(&table.name),
    };
    Ok(TablePlan {
        target,
        renames: cols.renames,
        names: o.names,
        transform_outputs: None,
        spec: ReadSpec { table, columns: cols.columns, plans: cols.plans },
        rules: cols.rules,
        excluded_columns: cols.excluded_columns,
        transform_sql,
        file_excluded: cols.file_excluded,
        allow_change: cols.allow_change,
    })
}

/// A table's columns as the rules decide them, gathered column by column.
#[derive(Default)]
struct ColumnsPlan {
    columns: Vec<usize>,
    plans: Vec<ColumnPlan>,
    rules: Vec<Rules>,
    excluded_columns: Vec<(String, String)>,
    file_excluded: Vec<String>,
    allow_change: Vec<String>,
    renames: Vec<(String, String)>,
}

impl ColumnsPlan {
    /// Column `i` (`c`) of `table` under the `[[column]]` rules that match it (the last
    /// one that says something wins) and the options.
    fn add(&mut self, p: &Pipeline, table: &str, key: &[String], i: usize, c: &mut Column) -> Result<()> {
        let o = &p.options;
        let applicable: Vec<&ColumnRule> =
            p.columns.iter().filter(|r| matches(&r.table, table) && matches(&r.column, &c.name)).collect();
        if self.left_out(p, table, key.contains(&c.name), c, &applicable)? {
            return Ok(());
        }
        retype(p, table, c, &applicable)?;
        let last = |f: &dyn Fn(&ColumnRule) -> Option<bool>| applicable.iter().rev().find_map(|r| f(r));
        let zero = applicable.iter().rev().find_map(|r| r.zero_date).unwrap_or(o.zero_date);
        let bools = applicable.iter().rev().find_map(|r| r.bool_values).unwrap_or(o.bool_values);
        let uuid = applicable.iter().rev().find_map(|r| r.uuid).unwrap_or(o.uuid);
        if last(&|r| r.allow_change) == Some(true) {
            self.allow_change.push(c.name.clone());
        }
        if let Some(to) = applicable.iter().rev().find_map(|r| r.target.as_ref()) {
            if to != &c.name {
                self.renames.push((c.name.clone(), to.clone()));
            }
        }
        self.columns.push(i);
        // DATETIME holding wall-clock times in a zone: read as instants, like TIMESTAMP.
        let zone = p.source.zone().filter(|_| c.logical == Logical::DateTime && c.mysql.data_type == "datetime");
        if zone.is_some() {
            c.logical = Logical::Timestamp;
        }
        self.plans.push(ColumnPlan {
            name: c.name.clone(),
            logical: c.logical,
            is_bit: c.mysql.data_type == "bit",
            zero_date: zero,
            nullable: c.nullable,
        });
        let json = match applicable.iter().rev().find_map(|r| r.json_duplicates).or(o.json_duplicates) {
            Some(rule) => JsonRule::Resolve(rule),
            // MySQL 8's json holds no duplicates: it keeps the last, as jsonb does.
            None if c.mysql.data_type == "json" => JsonRule::Keep,
            None => JsonRule::Refuse,
        };
        let strict_uuid = uuid == UuidRule::Strict;
        self.rules.push(Rules { bool_values: bools, strict_uuid, zone, json, uuid_mixed: false });
        Ok(())
    }

    /// Notes a column a rule excludes, or an audit column left out of the files; true
    /// when it is not read at all.
    fn left_out(&mut self, p: &Pipeline, table: &str, in_key: bool, c: &Column, rules: &[&ColumnRule]) -> Result<bool> {
        let o = &p.options;
        if rules.iter().rev().find_map(|r| r.exclude) == Some(true) {
            if in_key {
                return Err(plan_error(
                    p,
                    format!("`{table}`.`{}` is in the primary key and cannot be excluded", c.name),
                ));
            }
            self.excluded_columns.push((c.name.clone(), "excluded by a [[column]] rule".into()));
            return Ok(true);
        }
        if !o.keep_audit_columns && !in_key && o.audit_columns.contains(&c.name) {
            self.excluded_columns.push((
                c.name.clone(),
                "audit column, left out of CSV/Parquet files (options.keep_audit_columns = true keeps it)".into(),
            ));
            self.file_excluded.push(c.name.clone());
            return Ok(p.postgres().is_none());
        }
        Ok(false)
    }
}

/// The type a `[[column]] type` rule gives column `column` of `table`, if any (the last
/// matching rule that gives one).
pub fn typed_as<'a>(p: &'a Pipeline, table: &str, column: &str) -> Option<&'a str> {
    p.columns
        .iter()
        .rev()
        .filter(|r| matches(&r.table, table) && matches(&r.column, column))
        .find_map(|r| r.kind.as_deref())
}

/// A `[[column]] type` rule: the column carried as that logical type, if it can be.
fn retype(p: &Pipeline, table: &str, c: &mut Column, rules: &[&ColumnRule]) -> Result<()> {
    let Some(kind) = rules.iter().rev().find_map(|r| r.kind.as_deref()) else { return Ok(()) };
    let to = Logical::from_name(kind).ok_or_else(|| {
        plan_error(p, format!("[[column]] type `{kind}` is not one of boolean, uuid, text, json, binary"))
    })?;
    if !c.logical.can_become(to) {
        return Err(plan_error(
            p,
            format!("`{table}`.`{}` is {} and cannot be carried as {kind}", c.name, c.mysql.column_type),
        ));
    }
    c.logical = to;
    Ok(())
}

/// Text JSON columns under the source server's reading of duplicate keys (`reading`,
/// [`crate::source::Source::json_reading`]): where it is jsonb's (MySQL 8; an export,
/// read under its own run's rule) nothing is checked; where it is MariaDB's (the first),
/// a value holding duplicates stops the run unless a `json_duplicates` rule resolves them.
pub fn json_reading(plan: &mut Plan, reading: Option<JsonDuplicates>) {
    if reading == Some(JsonDuplicates::First) {
        return;
    }
    for r in plan.tables.iter_mut().flat_map(|t| t.rules.iter_mut()) {
        if r.json == JsonRule::Refuse {
            r.json = JsonRule::Keep;
        }
    }
}

/// A plan-time error, about the pipeline file.
fn plan_error(p: &Pipeline, message: String) -> Error {
    Error::Pipeline { file: p.file.clone(), at: None, message }
}
