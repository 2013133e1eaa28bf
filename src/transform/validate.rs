//! `[[validate]]`: SQL assertions over the run's exported data. Each query must return
//! one value; the run fails unless it equals `expect`.

use arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::prelude::SessionContext;

use crate::error::{Error, Result};
use serde::Deserialize;

/// `[[validate]]`: a query whose single value must equal `expect`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Validate {
    /// A name for reports.
    pub name: String,
    /// The query, over the run's tables by name.
    pub sql: String,
    /// The expected value.
    pub expect: toml::Value,
}

/// One validation's outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// The validation's name.
    pub name: String,
    /// What the pipeline expects, as text.
    pub expected: String,
    /// What the query returned, as text.
    pub got: String,
}

impl Outcome {
    /// Whether it passed.
    pub fn passed(&self) -> bool {
        self.expected == self.got
    }
}

/// Renders a TOML `expect` value the way a query result prints.
pub fn expected_text(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        toml::Value::Integer(i) => i.to_string(),
        toml::Value::Float(f) => f.to_string(),
        toml::Value::Boolean(b) => b.to_string(),
        other => format!("{other:?}"),
    }
}

/// Runs every validation against the tables registered in `ctx`.
pub async fn run(ctx: &SessionContext, validations: &[Validate]) -> Result<Vec<Outcome>> {
    let mut out = Vec::new();
    for v in validations {
        let what = || format!("validation `{}`", v.name);
        let df = ctx.sql(&v.sql).await.map_err(|e| Error::datafusion(what(), e))?;
        let batches = df.collect().await.map_err(|e| Error::datafusion(what(), e))?;
        let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
        let got = match batches.iter().find(|b| b.num_rows() > 0) {
            Some(b) if rows == 1 && b.num_columns() == 1 => {
                let f = ArrayFormatter::try_new(b.column(0).as_ref(), &FormatOptions::default().with_null("NULL"))
                    .map_err(|e| Error::datafusion(what(), e))?;
                f.value(0).to_string()
            }
            _ => format!("{rows} rows (a validation query must return exactly one value)"),
        };
        out.push(Outcome { name: v.name.clone(), expected: expected_text(&v.expect), got });
    }
    Ok(out)
}
