//! The analyst's side of `converge bench`: SQL over one export of the dataset, timed over
//! its Parquet files and over its CSV files (`converge query --files …`), each query's
//! two answers compared. The queries are `scripts/bench-queries.sql`, which
//! `scripts/duckdb-queries.py` runs with DuckDB over the same files.

use std::path::Path;
use std::process::Command;

use serde::Serialize;

use super::measure::{self, Measured};
use crate::error::{Error, Result};

/// The queries' text: `-- name:` lines, each statement ending with `;`.
pub const QUERIES_SQL: &str = include_str!("../../scripts/bench-queries.sql");

/// The queries in `text`, as (name, SQL without its `;`).
pub fn parse(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut current: Option<(String, String)> = None;
    for line in text.lines() {
        if let Some(name) = line.strip_prefix("-- name:") {
            current = Some((name.trim().to_string(), String::new()));
        } else if line.starts_with("--") || line.trim().is_empty() {
            continue;
        } else if let Some((_, sql)) = current.as_mut() {
            sql.push_str(line.trim());
            sql.push(' ');
            if line.trim_end().ends_with(';') {
                let (name, sql) = current.take().expect("a query is open");
                out.push((name, sql.trim_end().trim_end_matches(';').to_string()));
            }
        }
    }
    out
}

/// One query's times over both kinds of files.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QueryTiming {
    /// Its name in the queries file.
    pub name: String,
    /// The SQL.
    pub sql: String,
    /// `converge query --files parquet` (the median run).
    pub parquet: Measured,
    /// `converge query --files csv` (the median run).
    pub csv: Measured,
    /// Both printed the same CSV.
    pub same_answer: bool,
    /// The answer (over Parquet), as `converge query --format csv` prints it.
    pub answer: String,
}

/// Times every query over `export`, `repeat` times each, the two kinds of files
/// alternating; `converge` makes a `converge` command with these arguments.
pub fn run(converge: &dyn Fn(&[&str]) -> Result<Command>, export: &Path, repeat: usize) -> Result<Vec<QueryTiming>> {
    let dir = export.to_string_lossy().into_owned();
    let mut out = Vec::new();
    for (name, sql) in parse(QUERIES_SQL) {
        let mut answers = [String::new(), String::new()];
        let mut runs: [Vec<Measured>; 2] = [Vec::new(), Vec::new()];
        for _ in 0..repeat.max(1) {
            for (i, files) in ["parquet", "csv"].into_iter().enumerate() {
                let file = export.with_file_name(format!("query-{name}-{files}.csv"));
                let stdout = std::fs::File::create(&file).map_err(|e| Error::io(&file, e))?;
                let cmd = converge(&["query", "--files", files, "--format", "csv", &dir, &sql])?;
                runs[i].push(measure::child_to(cmd, &format!("query {name} over {files}"), stdout.into())?);
                answers[i] = std::fs::read_to_string(&file).map_err(|e| Error::io(&file, e))?;
                let _ = std::fs::remove_file(&file);
            }
        }
        let [parquet, csv] = runs;
        let (parquet, csv) = (super::median(parquet), super::median(csv));
        tracing::info!("query {name}: parquet {:.2}s, csv {:.2}s", parquet.seconds, csv.seconds);
        out.push(QueryTiming {
            name,
            sql,
            parquet,
            csv,
            same_answer: answers[0] == answers[1],
            answer: std::mem::take(&mut answers[0]),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_queries_file_gives_three_named_statements() {
        let q = super::parse(super::QUERIES_SQL);
        let names: Vec<&str> = q.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["group-by", "join", "top-n"]);
        assert!(q.iter().all(|(_, sql)| sql.starts_with("SELECT ") && !sql.contains(';')), "{q:?}");
        let two = super::parse("-- name: a\nSELECT 1\n  FROM t;\n-- a comment\n-- name: b\nSELECT 2;\n");
        assert_eq!(two, [("a".into(), "SELECT 1 FROM t".into()), ("b".into(), "SELECT 2".into())]);
    }
}
