//! The keys a `verify --json` report names: every missing, extra and changed row of every
//! table, by its canonical key values (docs/architecture.md, "Repair").

use serde_json::Value;

use crate::error::{Error, Result};
use crate::verify::keyed::Keys;

/// What a report names, and what it cannot name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReportKeys {
    /// The pipeline the report verified.
    pub pipeline: Option<String>,
    /// Every named row's key, by source table (each key once, in the report's order).
    pub keys: Keys,
    /// Tables whose differences the report does not list in full, with why: more rows
    /// differ than it lists, or its rows could not be located (no key, a `[[transform]]`).
    pub incomplete: Vec<String>,
}

impl ReportKeys {
    /// Keys named, over every table.
    pub fn count(&self) -> usize {
        self.keys.values().map(Vec::len).sum()
    }
}

/// The keys a verify JSON report names, and the tables it cannot name in full.
pub fn read_report(json: &str) -> Result<ReportKeys> {
    let bad = |why: &str| Error::other(format!("not a `converge verify --json` report: {why}"));
    let v: Value = serde_json::from_str(json).map_err(|e| bad(&e.to_string()))?;
    let tables = v.get("tables").and_then(Value::as_array).ok_or_else(|| bad("no `tables`"))?;
    let mut out =
        ReportKeys { pipeline: v.get("pipeline").and_then(Value::as_str).map(str::to_string), ..Default::default() };
    for t in tables {
        let name = t.get("table").and_then(Value::as_str).ok_or_else(|| bad("a table without its name"))?;
        let diffs = t.get("diffs").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
        let equal = t.get("equal").and_then(Value::as_bool).unwrap_or(false);
        if t.get("truncated").and_then(Value::as_bool).unwrap_or(false) {
            out.incomplete
                .push(format!("`{name}`: more rows differ than the report lists (it names the first {})", diffs.len()));
        } else if !equal && diffs.is_empty() {
            let why = t.get("note").and_then(Value::as_str).unwrap_or("no differing row was located");
            out.incomplete.push(format!("`{name}`: its content differs, but the report names no row ({why})"));
        }
        for d in diffs {
            let key = d.get("key").and_then(Value::as_str).unwrap_or("?");
            let values = d.get("values").and_then(Value::as_array).ok_or_else(|| {
                Error::other(format!(
                    "the report names `{name}` row {key} without its key values (a report of a converge before \
                     `repair`): verify again and repair from that report"
                ))
            })?;
            let values: Option<Vec<String>> = values.iter().map(|x| x.as_str().map(str::to_string)).collect();
            let values = values.ok_or_else(|| bad(&format!("`{name}` row {key}: key values that are not text")))?;
            let keys = out.keys.entry(name.to_string()).or_default();
            if !keys.contains(&values) {
                keys.push(values);
            }
        }
    }
    Ok(out)
}

/// The keys a verify JSON report names, by source table. A report that does not name
/// every differing row — its list was cut at the limit (`truncated`), or a table's rows
/// could not be located (no key) — is refused, naming those tables: repairing what it
/// names would leave the target differing while the repair itself succeeds.
/// ([`read_report`] gives the named keys and the rest separately: `repair --partial`.)
pub fn keys_from_report(json: &str) -> Result<Keys> {
    let r = read_report(json)?;
    if !r.incomplete.is_empty() {
        return Err(Error::other(format!(
            "the report does not name every differing row, so it cannot be repaired fully:\n  {}\n\
             (`converge repair --partial` repairs the rows it names; then verify again)",
            r.incomplete.join("\n  ")
        )));
    }
    Ok(r.keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    const REPORT: &str = r#"{"pipeline": "p", "passed": false, "tables": [
        {"table": "a", "equal": false, "truncated": false, "diffs": [
            {"kind": "missing", "key": "id='1'", "values": ["1"]},
            {"kind": "changed", "key": "id='2'", "values": ["2"], "columns": ["x"]},
            {"kind": "extra", "key": "id='2'", "values": ["2"]}]},
        {"table": "b", "equal": true, "truncated": false, "diffs": []},
        {"table": "c", "equal": false, "truncated": false, "diffs": [
            {"kind": "extra", "key": "k='it''s', u='…'", "values": ["it's", "0b000000-0000-4000-8000-000000000001"]}]}
    ]}"#;

    #[test]
    fn every_named_row_once_by_table() {
        let r = read_report(REPORT).unwrap();
        assert_eq!(r.pipeline.as_deref(), Some("p"));
        assert_eq!(r.keys["a"], vec![vec!["1".to_string()], vec!["2".to_string()]]);
        assert!(!r.keys.contains_key("b"));
        assert_eq!(r.keys["c"], vec![vec!["it's".to_string(), "0b000000-0000-4000-8000-000000000001".to_string()]]);
        assert!(r.incomplete.is_empty());
        assert_eq!(keys_from_report(REPORT).unwrap(), r.keys);
    }

    #[test]
    fn a_cut_list_or_an_unlocated_difference_is_refused_by_name() {
        let cut = r#"{"tables": [{"table": "big", "equal": false, "truncated": true,
            "diffs": [{"kind": "missing", "key": "id='1'", "values": ["1"]}]},
            {"table": "nokey", "equal": false, "truncated": false, "diffs": [],
             "note": "the table has no primary key: the differing rows cannot be located"}]}"#;
        let r = read_report(cut).unwrap();
        assert_eq!(r.keys["big"], vec![vec!["1".to_string()]]);
        assert_eq!(r.incomplete.len(), 2, "{:?}", r.incomplete);
        assert!(r.incomplete[0].contains("`big`") && r.incomplete[1].contains("no primary key"), "{:?}", r.incomplete);
        let e = keys_from_report(cut).unwrap_err().to_string();
        assert!(e.contains("`big`") && e.contains("`nokey`") && e.contains("--partial"), "{e}");
    }

    #[test]
    fn a_report_without_key_values_is_refused() {
        let old = r#"{"tables": [{"table": "a", "equal": false, "diffs": [{"kind": "missing", "key": "id='1'"}]}]}"#;
        let e = read_report(old).unwrap_err().to_string();
        assert!(e.contains("without its key values"), "{e}");
        assert!(read_report("{}").is_err());
        assert!(read_report("not json").is_err());
    }
}
