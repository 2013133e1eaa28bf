//! Typed normalisation of a table's batches, as DataFusion physical expressions
//! evaluated on each batch: 0/1 → boolean, timestamp → UTC, UUID → lowercase,
//! JSON → validated (duplicate keys refused or resolved by `json_duplicates`), a DATETIME's wall time in `[source] datetime_zone` → its instant. A rejected value stops the run with its table, key and column.

use std::sync::Arc;

use arrow::array::ArrayRef;
use arrow::datatypes::{Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::common::{Column, DFSchema};
use datafusion::logical_expr::{cast, Expr, ScalarUDF};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::prelude::SessionContext;

use super::udf::{self, BoolRule};
use crate::error::{Error, Refused, Result, ValueError};
use crate::feed::{read_schema, render_key, ColumnPlan, JsonDuplicates, Normalized};
use crate::types::Logical;

/// What the pipeline decided for one column's normalisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Rules {
    /// Values other than 0/1 in boolean columns.
    pub bool_values: BoolRule,
    /// Refuse char(36) values that are not UUIDs (instead of keeping them as they are).
    pub strict_uuid: bool,
    /// A DATETIME column holding wall-clock times in this zone: read as instants (UTC).
    pub zone: Option<chrono_tz::Tz>,
    /// Duplicate keys in a JSON column's values.
    pub json: JsonRule,
    /// A char(36) column whose values are not known to be all UUIDs (a dump's, in an
    /// export): lower-casing its UUIDs is refused once it also shows another value.
    pub uuid_mixed: bool,
}

/// What a JSON column does with an object's duplicate keys (docs/architecture.md,
/// "No silent change").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum JsonRule {
    /// Nothing to check: the source reads them as `jsonb` does (MySQL 8, whose `json`
    /// holds no duplicates; an export, whose run applied its rule).
    #[default]
    Keep,
    /// The source reads the first (MariaDB's text JSON): a value holding any stops the run.
    Refuse,
    /// A `json_duplicates` rule: resolved by it and counted.
    Resolve(JsonDuplicates),
}

/// The normalisation of one table: one expression per column.
pub struct Normalizer {
    table: String,
    plans: Vec<ColumnPlan>,
    rules: Vec<Rules>,
    exprs: Vec<Arc<dyn PhysicalExpr>>,
    schema: SchemaRef,
    key_columns: Vec<usize>,
    rows_seen: u64,
    /// Per column, the values changed as a rule allows (see [`Normalizer::changes`]).
    changed: Vec<u64>,
    /// Per column, whether a value that is neither a UUID nor `''` was seen.
    not_uuid_seen: Vec<bool>,
}

fn column(name: &str) -> Expr {
    Expr::Column(Column::from_name(name))
}

/// The logical expression normalising one column (its read type → its output type);
/// `udfs` are [`udf::udfs`].
pub fn expression(plan: &ColumnPlan, rules: Rules, udfs: &[ScalarUDF]) -> Expr {
    let c = column(&plan.name);
    let call = |name: &str| {
        let f = udfs.iter().find(|f| f.name() == name).expect("known udf").clone();
        f.call(vec![c.clone()])
    };
    match plan.logical {
        Logical::Bool if rules.bool_values == BoolRule::NonZero => call("mysql_bool_nonzero"),
        Logical::Bool => call("mysql_bool"),
        Logical::Uuid if rules.strict_uuid => call("uuid_strict"),
        Logical::Uuid => call("uuid_lower"),
        Logical::Json => call("json_check"),
        Logical::Timestamp => cast(c, Logical::Timestamp.arrow_type()),
        _ => c,
    }
    .alias(&plan.name)
}

impl Normalizer {
    /// Builds the expressions for a table's columns; `key` names the primary key columns.
    pub fn new(
        ctx: &SessionContext,
        table: &str,
        plans: Vec<ColumnPlan>,
        rules: Vec<Rules>,
        key: &[String],
    ) -> Result<Self> {
        let input = read_schema(&plans);
        let df_schema =
            DFSchema::try_from(input.as_ref().clone()).map_err(|e| Error::datafusion("normalisation schema", e))?;
        let udfs = udf::udfs();
        let exprs = plans
            .iter()
            .zip(&rules)
            .map(|(p, r)| ctx.create_physical_expr(expression(p, *r, &udfs), &df_schema))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| Error::datafusion(format!("planning the normalisation of `{table}`"), e))?;
        let schema = Arc::new(Schema::new(
            plans.iter().map(|p| Field::new(&p.name, p.logical.arrow_type(), true)).collect::<Vec<_>>(),
        ));
        let key_columns = key.iter().filter_map(|k| plans.iter().position(|p| &p.name == k)).collect();
        let (changed, not_uuid_seen) = (vec![0; plans.len()], vec![false; plans.len()]);
        Ok(Normalizer {
            table: table.to_string(),
            plans,
            rules,
            exprs,
            schema,
            key_columns,
            rows_seen: 0,
            changed,
            not_uuid_seen,
        })
    }

    /// The schema of normalised batches.
    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    /// Normalises one batch.
    pub fn apply(&mut self, batch: &RecordBatch) -> Result<RecordBatch> {
        let out = self.evaluate(batch).map_err(|(_, e)| e)?;
        self.rows_seen += batch.num_rows() as u64;
        Ok(out)
    }

    /// `plan --profile`: normalises one batch as [`Normalizer::apply`] does, but hands
    /// every refused value (with its row's index) to `refused` and goes on with it as
    /// NULL, instead of stopping at the first. A batch with a refusal is normalised row
    /// by row.
    pub fn apply_each(
        &mut self,
        batch: &RecordBatch,
        refused: &mut dyn FnMut(usize, ValueError),
    ) -> Result<RecordBatch> {
        let seen = self.rows_seen;
        if let Ok(out) = self.evaluate_or_restore(batch) {
            self.rows_seen += batch.num_rows() as u64;
            return Ok(out);
        }
        let mut rows = Vec::with_capacity(batch.num_rows());
        for r in 0..batch.num_rows() {
            self.rows_seen = seen + r as u64;
            let mut one = batch.slice(r, 1);
            loop {
                match self.evaluate_or_restore(&one) {
                    Ok(out) => {
                        rows.push(out);
                        break;
                    }
                    Err((Some(i), Error::Value(v))) => {
                        refused(r, *v);
                        let mut columns = one.columns().to_vec();
                        columns[i] = arrow::array::new_null_array(columns[i].data_type(), 1);
                        one = RecordBatch::try_new(one.schema(), columns)
                            .map_err(|e| Error::datafusion(format!("normalising `{}`", self.table), e))?;
                    }
                    Err((_, e)) => return Err(e),
                }
            }
        }
        self.rows_seen = seen + batch.num_rows() as u64;
        arrow::compute::concat_batches(&self.schema, &rows)
            .map_err(|e| Error::datafusion(format!("normalising `{}`", self.table), e))
    }

    /// `apply_each`'s try of a batch: a failed one leaves the counts as they were (it is
    /// evaluated again). The run's `apply` needs no such copy: its first error ends the table.
    fn evaluate_or_restore(&mut self, batch: &RecordBatch) -> std::result::Result<RecordBatch, (Option<usize>, Error)> {
        let saved = (self.changed.clone(), self.not_uuid_seen.clone());
        let out = self.evaluate(batch);
        if out.is_err() {
            (self.changed, self.not_uuid_seen) = saved;
        }
        out
    }

    /// The normalised batch, or the error and the index of the column that failed.
    fn evaluate(&mut self, batch: &RecordBatch) -> std::result::Result<RecordBatch, (Option<usize>, Error)> {
        let mut columns = Vec::with_capacity(self.exprs.len());
        let evaluated: Vec<_> =
            self.exprs.iter().map(|e| e.evaluate(batch).and_then(|v| v.into_array(batch.num_rows()))).collect();
        for (i, out) in evaluated.into_iter().enumerate() {
            let out = match (out, self.rules[i].zone) {
                (Ok(a), Some(zone)) => udf::from_zone(&a, zone).map_err(|r| (Some(i), self.located(batch, i, r)))?,
                (Ok(a), None) => a,
                (Err(err), _) => return Err((Some(i), self.locate(batch, i, err.to_string()))),
            };
            let out = self.counted(batch, i, out).map_err(|e| (Some(i), e))?;
            columns.push(out);
        }
        RecordBatch::try_new(self.schema.clone(), columns)
            .map_err(|e| (None, Error::datafusion(format!("normalising `{}`", self.table), e)))
    }

    /// The changes a rule allows, counted per column: UUIDs lower-cased, JSON
    /// duplicate keys resolved (or refused, naming the row, without a rule).
    fn counted(&mut self, batch: &RecordBatch, i: usize, out: ArrayRef) -> Result<ArrayRef> {
        match (self.plans[i].logical, self.rules[i].json) {
            (Logical::Uuid, _) => {
                let input = batch.column(i);
                self.changed[i] += udf::uuids_lowered(input);
                if self.rules[i].uuid_mixed {
                    if !self.not_uuid_seen[i] {
                        self.not_uuid_seen[i] = udf::first_not_uuid(input).is_some();
                    }
                    if self.changed[i] > 0 && self.not_uuid_seen[i] {
                        let r = udf::mixed_uuids(input).expect("a UUID lower-cased or another value in this batch");
                        return Err(self.located(batch, i, r));
                    }
                }
                Ok(out)
            }
            (Logical::Json, JsonRule::Keep) => Ok(out),
            (Logical::Json, rule) => {
                let rule = match rule {
                    JsonRule::Resolve(r) => Some(r),
                    _ => None,
                };
                let (out, n) = udf::json_duplicates(&out, rule).map_err(|r| self.located(batch, i, r))?;
                self.changed[i] += n;
                Ok(out)
            }
            _ => Ok(out),
        }
    }

    /// The values changed as a rule allows so far: column, kind, count (non-zero only).
    pub fn changes(&self) -> Vec<(String, Normalized, u64)> {
        let kind = |i: usize| match (self.plans[i].logical, self.rules[i].json) {
            (Logical::Uuid, _) => Some(Normalized::UuidLowercased),
            (Logical::Json, JsonRule::Resolve(r)) => Some(Normalized::JsonDuplicates(r)),
            _ => None,
        };
        (0..self.plans.len())
            .filter(|&i| self.changed[i] > 0)
            .filter_map(|i| kind(i).map(|k| (self.plans[i].name.clone(), k, self.changed[i])))
            .collect()
    }

    /// Finds the row a kernel refused and names it by key.
    fn locate(&self, batch: &RecordBatch, i: usize, message: String) -> Error {
        let plan = &self.plans[i];
        let a = batch.column(i);
        let rejected: Option<Refused> = match plan.logical {
            Logical::Bool => udf::to_bool(a, self.rules[i].bool_values).err(),
            Logical::Uuid => udf::uuid_lower(a, self.rules[i].strict_uuid).err(),
            Logical::Json => udf::json_check(a).err(),
            _ => None,
        };
        let Some(r) = rejected else {
            return Error::other(format!("normalising `{}`.`{}`: {message}", self.table, plan.name));
        };
        self.located(batch, i, r)
    }

    /// The error for a value of column `i` a kernel refused, naming its row by key.
    fn located(&self, batch: &RecordBatch, i: usize, r: Refused) -> Error {
        let plan = &self.plans[i];
        let opts = FormatOptions::default();
        let values: Vec<String> = self
            .key_columns
            .iter()
            .map(|&k| {
                ArrayFormatter::try_new(batch.column(k).as_ref(), &opts)
                    .map(|f| format!("'{}'", f.value(r.row)))
                    .unwrap_or_default()
            })
            .collect();
        let names: Vec<&str> = self.key_columns.iter().map(|&k| self.plans[k].name.as_str()).collect();
        let key = render_key(&names, &values, self.rows_seen + r.row as u64 + 1);
        Error::from(Refused { column: plan.name.clone(), ..r }.locate(&self.table, key))
    }
}
