//! The row-count ledger: every table's count at every stage of the run. Any
//! disagreement fails the run and is printed as a table.

use std::fmt::Write;

use crate::feed::CountKind;

/// One table's counts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LedgerRow {
    /// Table name.
    pub table: String,
    /// The source's own count and how it was taken.
    pub source: Option<(u64, CountKind)>,
    /// Rows the source decoded.
    pub read: Option<u64>,
    /// Rows after the transform stage.
    pub transformed: Option<u64>,
    /// A per-table SQL transform may legitimately change the row count.
    pub transform_sql: bool,
    /// Rows each sink wrote: (sink label, rows).
    pub written: Vec<(String, u64)>,
    /// Rows counted back from the exported files (what the manifest declares).
    pub manifest: Option<u64>,
    /// Rows counted in the PostgreSQL target after commit.
    pub target: Option<u64>,
}

/// The ledger of a run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Ledger {
    /// One row per table, in run order.
    pub rows: Vec<LedgerRow>,
}

impl LedgerRow {
    /// The disagreements of this row, in words (empty when it reconciles).
    pub fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        if let (Some((s, _)), Some(r)) = (self.source, self.read) {
            if s != r {
                p.push(format!("source counted {s} rows but {r} were read"));
            }
        }
        if let (Some(r), Some(t)) = (self.read, self.transformed) {
            if r != t && !self.transform_sql {
                p.push(format!("{r} rows read but {t} left the transform stage"));
            }
        }
        let expected = self.transformed.or(self.read);
        for (sink, w) in &self.written {
            if Some(*w) != expected {
                p.push(format!("{sink} wrote {w} rows, expected {}", expected.map_or("?".into(), |e| e.to_string())));
            }
        }
        if let (Some(m), Some(e)) = (self.manifest, expected) {
            if m != e {
                p.push(format!("the files hold {m} rows, expected {e}"));
            }
        }
        if let (Some(t), Some(e)) = (self.target, expected) {
            if t != e {
                p.push(format!("the target holds {t} rows, expected {e}"));
            }
        }
        p
    }
}

fn cell(v: Option<u64>) -> String {
    v.map_or_else(|| "-".to_string(), |v| v.to_string())
}

impl Ledger {
    /// The row of `table`, created on first use.
    pub fn row(&mut self, table: &str) -> &mut LedgerRow {
        if let Some(i) = self.rows.iter().position(|r| r.table == table) {
            return &mut self.rows[i];
        }
        self.rows.push(LedgerRow { table: table.to_string(), ..Default::default() });
        self.rows.last_mut().expect("just pushed")
    }

    /// Every disagreement, as `table: problem` lines.
    pub fn problems(&self) -> Vec<String> {
        self.rows.iter().flat_map(|r| r.problems().into_iter().map(move |p| format!("{}: {p}", r.table))).collect()
    }

    /// The ledger as a text table.
    pub fn render(&self) -> String {
        let mut sinks: Vec<String> = Vec::new();
        for (k, _) in self.rows.iter().flat_map(|r| &r.written) {
            if !sinks.contains(k) {
                sinks.push(k.clone());
            }
        }
        let mut header = vec!["table".to_string(), "source".into(), "read".into(), "transformed".into()];
        header.extend(sinks.iter().cloned());
        header.push("files".into());
        header.push("target".into());
        header.push("status".into());
        let mut lines: Vec<Vec<String>> = vec![header];
        for r in &self.rows {
            let source = match r.source {
                Some((n, CountKind::Snapshot)) => n.to_string(),
                Some((n, CountKind::Parsed)) => format!("{n} (parsed)"),
                Some((n, CountKind::Manifest)) => format!("{n} (manifest)"),
                None => "-".into(),
            };
            let mut line = vec![r.table.clone(), source, cell(r.read), cell(r.transformed)];
            for s in &sinks {
                line.push(cell(r.written.iter().find(|(k, _)| k == s).map(|(_, v)| *v)));
            }
            line.push(cell(r.manifest));
            line.push(cell(r.target));
            line.push(if r.problems().is_empty() { "ok".into() } else { "MISMATCH".into() });
            lines.push(line);
        }
        let widths: Vec<usize> =
            (0..lines[0].len()).map(|i| lines.iter().map(|l| l[i].chars().count()).max().unwrap_or(0)).collect();
        let mut out = String::new();
        for (n, l) in lines.iter().enumerate() {
            for (i, c) in l.iter().enumerate() {
                let pad = widths[i] - c.chars().count();
                if i == 0 {
                    let _ = write!(out, "{c}{}", " ".repeat(pad));
                } else {
                    let _ = write!(out, "  {}{c}", " ".repeat(pad));
                }
            }
            out.push('\n');
            if n == 0 {
                out.push_str(&"-".repeat(widths.iter().sum::<usize>() + 2 * (widths.len() - 1)));
                out.push('\n');
            }
        }
        for p in self.problems() {
            let _ = writeln!(out, "  ! {p}");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lost_row_is_a_mismatch() {
        let mut l = Ledger::default();
        let r = l.row("user");
        r.source = Some((10, CountKind::Snapshot));
        r.read = Some(10);
        r.transformed = Some(10);
        r.written.push(("csv".into(), 9));
        r.manifest = Some(9);
        let p = l.problems();
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(p[0].contains("csv wrote 9 rows, expected 10"));
        assert!(l.render().contains("MISMATCH"));
        l.rows[0].written[0].1 = 10;
        l.rows[0].manifest = Some(10);
        assert!(l.problems().is_empty());
    }

    #[test]
    fn transform_sql_may_filter_rows() {
        let mut l = Ledger::default();
        let r = l.row("t");
        r.source = Some((10, CountKind::Snapshot));
        r.read = Some(10);
        r.transformed = Some(4);
        r.transform_sql = true;
        r.written.push(("csv".into(), 4));
        assert!(l.problems().is_empty());
    }
}
