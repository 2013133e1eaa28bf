//! The verification report: every automated check with its outcome and evidence, the
//! operator's manual checks, and three renderings — a terminal summary, a Markdown
//! report that follows the operator guide's "Migration Verification Checklist", and JSON.

use std::fmt::Write;

use serde::Serialize;

use super::digest::{ContentResult, RowDiff};

/// The parts of the guide's checklist, in its order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Section {
    /// 1. Table row count comparison (exact counts).
    RowCounts,
    /// 2. Critical tables present and non-empty.
    CriticalTables,
    /// 3. Foreign key integrity.
    ForeignKeys,
    /// 4. Data: every row's canonical digest.
    Content,
    /// 4. Data: JSON valid.
    Json,
    /// 4. Data: UUIDs well formed.
    Uuid,
    /// Sequences not behind their column (the guide's "AUTO_INCREMENT vs SERIAL").
    Sequences,
    /// Performance: every source index has a counterpart.
    Indexes,
}

impl Section {
    /// Every section, in report order.
    pub const ALL: [Section; 8] = [
        Section::RowCounts,
        Section::CriticalTables,
        Section::ForeignKeys,
        Section::Content,
        Section::Json,
        Section::Uuid,
        Section::Sequences,
        Section::Indexes,
    ];

    /// The section's heading.
    pub fn title(self) -> &'static str {
        match self {
            Section::RowCounts => "1. Table row count comparison (exact `COUNT(*)` on both sides)",
            Section::CriticalTables => "2. Critical tables exist and have data",
            Section::ForeignKeys => "3. Foreign key integrity (every foreign key of the target, no orphans)",
            Section::Content => {
                "4. Data: every value compared through a canonical row digest (UUIDs, text, timestamps as UTC µs, booleans, JSON by meaning, bytes)"
            }
            Section::Json => "4. Data: JSON/JSONB fields are valid",
            Section::Uuid => "4. Data: UUIDs are preserved and well formed",
            Section::Sequences => "Sequences are past their column's maximum (AUTO_INCREMENT vs SERIAL)",
            Section::Indexes => "Performance: every source index has a counterpart in the target",
        }
    }

    /// The short name used in the terminal summary and JSON.
    pub fn short(self) -> &'static str {
        match self {
            Section::RowCounts => "row count",
            Section::CriticalTables => "critical table",
            Section::ForeignKeys => "foreign key",
            Section::Content => "content",
            Section::Json => "json",
            Section::Uuid => "uuid",
            Section::Sequences => "sequence",
            Section::Indexes => "index",
        }
    }
}

/// A check's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Outcome {
    /// Passed.
    Pass,
    /// Failed: the evidence says why.
    Fail,
    /// Not applicable or not checkable (the evidence says why); does not fail the run.
    Skip,
    /// Advice, not a failure (a missing index: lookups will be slower, the data is
    /// right); fails only under `--strict`.
    Warn,
}

/// One automated check.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Check {
    /// Which part of the checklist.
    pub section: Section,
    /// The table (or `table.column`, or constraint) it is about.
    pub subject: String,
    /// The outcome.
    pub outcome: Outcome,
    /// What was measured.
    pub evidence: String,
    /// Keys of the rows at fault, when any.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<String>,
}

/// The whole verification.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// The pipeline's name.
    pub pipeline: String,
    /// The source, safe to print.
    pub source: String,
    /// The target, safe to print (no password).
    pub target: String,
    /// When it ran (UTC).
    pub timestamp: String,
    /// `full`, or `sample of N rows per table`.
    pub mode: String,
    /// An online verification: the source position both sides were compared at (the
    /// source's snapshot, and the target's, which the follower applied up to exactly).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub position: Option<crate::manifest::BinlogPosition>,
    /// Seconds it took.
    pub seconds: f64,
    /// Rows shipped from either server to compare them.
    pub rows_read: u64,
    /// Every automated check.
    pub checks: Vec<Check>,
    /// Per table, the content comparison.
    pub tables: Vec<(String, ContentResult)>,
    /// The checks only the operator can do.
    pub manual: Vec<(String, Vec<String>)>,
}

impl Report {
    /// Every automated check passed (skips do not fail).
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|c| c.outcome != Outcome::Fail)
    }

    /// Passed, and no warning either (`verify --strict`).
    pub fn passed_strict(&self) -> bool {
        self.passed() && self.warnings().is_empty()
    }

    /// The warnings.
    pub fn warnings(&self) -> Vec<&Check> {
        self.checks.iter().filter(|c| c.outcome == Outcome::Warn).collect()
    }

    /// The failed checks.
    pub fn failures(&self) -> Vec<&Check> {
        self.checks.iter().filter(|c| c.outcome == Outcome::Fail).collect()
    }

    fn counts(&self) -> (usize, usize, usize) {
        let n = |o: Outcome| self.checks.iter().filter(|c| c.outcome == o).count();
        (n(Outcome::Pass), n(Outcome::Fail), n(Outcome::Skip))
    }

    /// The terminal summary: a line per section, then every failure with its evidence.
    pub fn text(&self) -> String {
        let mut o = String::new();
        let (pass, fail, skip) = self.counts();
        let _ = writeln!(
            o,
            "verify {}: {} → {} ({}, {:.2}s, {} rows read)\n",
            self.pipeline, self.source, self.target, self.mode, self.seconds, self.rows_read
        );
        if let Some(at) = &self.position {
            let _ = writeln!(o, "  both sides at source position {at} (online: the source kept writing)\n");
        }
        for s in Section::ALL {
            let of: Vec<&Check> = self.checks.iter().filter(|c| c.section == s).collect();
            if of.is_empty() {
                continue;
            }
            let failed = of.iter().filter(|c| c.outcome == Outcome::Fail).count();
            let mark = if failed > 0 { "FAIL" } else { "ok  " };
            let _ = writeln!(o, "  {mark}  {:<15} {} checked, {failed} failed", s.short(), of.len());
        }
        for c in self.failures() {
            let _ = writeln!(o, "\n  ✗ {} `{}`: {}", c.section.short(), c.subject, c.evidence);
            for k in &c.keys {
                let _ = writeln!(o, "      {k}");
            }
        }
        let warnings = self.warnings();
        for c in &warnings {
            let _ = writeln!(o, "\n  ! warning: {} `{}`: {}", c.section.short(), c.subject, c.evidence);
        }
        let verdict = if self.passed() { "PASSED" } else { "FAILED" };
        let _ = writeln!(
            o,
            "\n{verdict}: {pass} passed, {fail} failed, {} warnings (performance, not data: `--strict` fails on them), {skip} not applicable",
            warnings.len()
        );
        o
    }

    /// The Markdown report, following the guide's checklist.
    pub fn markdown(&self) -> String {
        let mut o = String::new();
        let (pass, fail, skip) = self.counts();
        let verdict = if self.passed() { "PASSED" } else { "FAILED" };
        let _ = writeln!(o, "# Migration verification: `{}`\n", self.pipeline);
        let _ = writeln!(o, "| | |\n|---|---|");
        let _ = writeln!(
            o,
            "| Result | **{verdict}**: {pass} automated checks passed, {fail} failed, {skip} not applicable |"
        );
        let _ = writeln!(o, "| Source | {} |", self.source);
        let _ = writeln!(o, "| Target | {} |", self.target);
        let _ = writeln!(o, "| When | {} |", self.timestamp);
        let _ = writeln!(o, "| Content | {} |", self.mode);
        let _ = writeln!(o, "| Took | {:.2} s, {} rows read back from the servers |", self.seconds, self.rows_read);
        let _ = writeln!(o, "\n## Critical data verification (automated by `converge verify`)\n");
        for s in Section::ALL {
            let of: Vec<&Check> = self.checks.iter().filter(|c| c.section == s).collect();
            let _ = writeln!(o, "### {}\n", s.title());
            if s == Section::RowCounts && !self.tables.is_empty() {
                let _ = writeln!(o, "| table | MySQL | PostgreSQL | |\n|---|---:|---:|---|");
                for c in &of {
                    if let Some((_, r)) = self.tables.iter().find(|(t, _)| *t == c.subject) {
                        let mark = if c.outcome == Outcome::Pass { "✓" } else { "✗" };
                        let _ = writeln!(o, "| `{}` | {} | {} | {mark} |", c.subject, r.source_rows, r.target_rows);
                    }
                }
                o.push('\n');
            }
            if of.is_empty() {
                let _ = writeln!(o, "- nothing to check\n");
                continue;
            }
            for c in &of {
                if s == Section::RowCounts && c.outcome == Outcome::Pass && !self.tables.is_empty() {
                    continue; // in the table above
                }
                let mark = match c.outcome {
                    Outcome::Pass => "[x]",
                    Outcome::Fail => "[ ] **FAILED**",
                    Outcome::Skip => "[-] n/a",
                    Outcome::Warn => "[ ] warning (performance)",
                };
                let _ = writeln!(o, "- {mark} `{}`: {}", c.subject, c.evidence);
                for k in &c.keys {
                    let _ = writeln!(o, "  - `{k}`");
                }
            }
            o.push('\n');
        }
        let _ = writeln!(o, "## Manual checks (for the operator)\n");
        let _ = writeln!(o, "Only people can do these; tick them in this file as you go.\n");
        for (group, items) in &self.manual {
            let _ = writeln!(o, "**{group}**\n");
            for i in items {
                let _ = writeln!(o, "- [ ] {i}");
            }
            o.push('\n');
        }
        let _ = writeln!(
            o,
            "## Go / no-go\n\n- [ ] All automated checks passed: `converge log completed \"All checks passed\"`\n- [ ] Or roll back: `converge log rolled_back \"Reason: …\"`"
        );
        o
    }

    /// The report as JSON.
    pub fn json(&self) -> String {
        self.json_value().to_string()
    }

    /// The report as a JSON value.
    pub fn json_value(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(self).expect("the report serialises");
        v["passed"] = serde_json::Value::Bool(self.passed());
        v["warnings"] = serde_json::Value::from(self.warnings().len());
        v["tables"] = serde_json::Value::Array(
            self.tables
                .iter()
                .map(|(t, r)| {
                    let mut x = serde_json::to_value(r).expect("serialises");
                    x["table"] = serde_json::Value::String(t.clone());
                    x
                })
                .collect(),
        );
        v
    }
}

/// `1 row`, `2 rows`.
pub fn rows(n: u64) -> String {
    if n == 1 {
        "1 row".into()
    } else {
        format!("{n} rows")
    }
}

/// A row difference as one line of evidence.
pub fn show_diff(d: &RowDiff) -> String {
    match d {
        RowDiff::Missing { key, .. } => format!("{key}: in the source, missing in the target"),
        RowDiff::Extra { key, .. } => format!("{key}: in the target, not in the source"),
        RowDiff::Changed { key, columns, .. } if columns.is_empty() => format!("{key}: values differ"),
        RowDiff::Changed { key, columns, .. } => format!("{key}: differs in {}", columns.join(", ")),
    }
}

/// The guide's manual verification items (functional, Kratos), for the operator.
pub fn manual_checks() -> Vec<(String, Vec<String>)> {
    let group = |name: &str, items: &[&str]| (name.to_string(), items.iter().map(|s| s.to_string()).collect());
    vec![
        group(
            "Authentication & authorization",
            &[
                "Users can log in via Kratos (test 3 different accounts)",
                "Session management works correctly",
                "Authorization policies are enforced",
                "Role-based access control functions",
            ],
        ),
        group(
            "Core features",
            &[
                "GraphQL API responds correctly",
                "Spaces are accessible",
                "User profiles load and display correctly",
                "Content creation/editing works (create a post)",
                "File uploads/downloads function",
                "Search functionality operates",
                "Notifications are delivered",
            ],
        ),
        group(
            "Data relationships (as seen in the application)",
            &[
                "User-Space memberships are intact",
                "Organization hierarchies are correct",
                "Content ownership is preserved",
                "Comments are linked to correct posts",
                "Tags and references are maintained",
            ],
        ),
        group(
            "Performance and operations",
            &[
                "Query latency is acceptable (`EXPLAIN ANALYZE` the hot queries)",
                "Database connections are stable, no pool exhaustion",
                "API response times and error rates are within the normal range",
                "Application logs show no new errors; monitor for 10 minutes",
            ],
        ),
        group(
            "Kratos identity",
            &["Sessions can be created and validated", "Recovery flows work", "Verification flows work"],
        ),
    ]
}
