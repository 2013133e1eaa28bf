//! The pipeline file (TOML): its keys, `${VAR}` interpolation from the environment,
//! and errors that name the file, line and key.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::transform::validate::Validate;

/// A whole pipeline definition.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Pipeline {
    /// The pipeline's name (used in run ids and reports).
    pub name: String,
    /// Where the data comes from.
    pub source: SourceSpec,
    /// Run-wide options.
    #[serde(default)]
    pub options: Options,
    /// Per-column rules (`[[column]]`), later rules win.
    #[serde(default, rename = "column")]
    pub columns: Vec<ColumnRule>,
    /// Target names for source tables (`[[table]] source = "…" target = "…"`).
    #[serde(default, rename = "table")]
    pub table_names: Vec<TableName>,
    /// Per-table SQL (`[[transform]]`).
    #[serde(default, rename = "transform")]
    pub transforms: Vec<Transform>,
    /// Assertions over the run's data (`[[validate]]`).
    #[serde(default, rename = "validate")]
    pub validations: Vec<Validate>,
    /// Where the data goes (`[[sink]]`).
    #[serde(default, rename = "sink")]
    pub sinks: Vec<SinkSpec>,
    /// `[verify]`: what `converge verify` checks, and whether `run` verifies after loading.
    pub verify: Option<VerifySpec>,
    /// The file it was read from (not a key).
    #[serde(skip)]
    pub file: PathBuf,
}

/// The kinds of source.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    /// A live MySQL or MariaDB server.
    Mysql,
    /// A mysqldump / mariadb-dump file (`.sql` or `.sql.gz`).
    Mysqldump,
    /// An export directory with its manifest.
    Csv,
}

/// `[source]`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SourceSpec {
    /// mysql | mysqldump | csv.
    pub kind: SourceKind,
    /// `mysql://user:pass@host:3306/database` (kind = "mysql").
    pub url: Option<String>,
    /// The dump file (kind = "mysqldump").
    pub path: Option<String>,
    /// The export directory (kind = "csv").
    pub dir: Option<String>,
    /// Table globs to include.
    #[serde(default = "all_tables")]
    pub tables: Vec<String>,
    /// Table globs to leave out.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// The IANA zone the source's DATETIME values are wall-clock times in (default
    /// `UTC`). DATETIME columns are then read as instants, like TIMESTAMP columns: a
    /// wall time the zone skips or repeats (a clock change) stops the run naming it.
    pub datetime_zone: Option<String>,
}

impl SourceSpec {
    /// The DATETIME zone, when one other than UTC is set.
    pub fn zone(&self) -> Option<chrono_tz::Tz> {
        let z: chrono_tz::Tz = self.datetime_zone.as_deref()?.parse().ok()?;
        (z != chrono_tz::UTC && z != chrono_tz::Etc::UTC).then_some(z)
    }
}

fn all_tables() -> Vec<String> {
    vec!["*".into()]
}

/// How output names (target tables and columns, export files) are derived from the
/// source's when no `[[table]]` / `[[column]]` rule names them.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum NameRule {
    /// As in MySQL (default): `UserProfile` stays `UserProfile`.
    #[default]
    Keep,
    /// Folded to lower case, as an ORM that creates unquoted names does: `UserProfile`
    /// → `userprofile`.
    Lower,
}

impl NameRule {
    /// The output name of `name`.
    pub fn apply(self, name: &str) -> String {
        match self {
            NameRule::Keep => name.to_string(),
            NameRule::Lower => name.to_lowercase(),
        }
    }
}

/// `[[table]]`: the target's name for one source table.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TableName {
    /// The source table (its exact name).
    pub source: String,
    /// The name the target and the export files give it.
    pub target: String,
}

/// Zero dates: stop (default) or write NULL and count.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum ZeroDateRule {
    /// Stop with the row's location.
    #[default]
    Error,
    /// Write NULL, count it.
    Null,
}

/// Boolean columns holding values other than 0/1: stop (default) or read non-zero as true.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum BoolValues {
    /// Only 0 and 1.
    #[default]
    Strict,
    /// Any non-zero value is true.
    Nonzero,
}

/// char(36) columns: lower-case UUIDs and keep other values (default), or refuse non-UUIDs.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum UuidRule {
    /// Lower-case UUIDs, keep anything else (`''` is common) unchanged.
    #[default]
    Lenient,
    /// Refuse values that are not UUIDs.
    Strict,
}

/// `[options]`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Options {
    /// Rows per Arrow batch.
    pub batch_rows: usize,
    /// MySQL connections reading in parallel inside the snapshot (default 8): key ranges
    /// and tables are read side by side, within a fixed read-ahead memory budget.
    pub connections: usize,
    /// Tables with more rows than this are read in primary-key ranges.
    pub range_rows: u64,
    /// Zero dates.
    pub zero_date: ZeroDateRule,
    /// Boolean values other than 0/1.
    pub bool_values: BoolValues,
    /// char(36) values that are not UUIDs.
    pub uuid: UuidRule,
    /// Keep the audit columns in the export (the spec leaves them out).
    pub keep_audit_columns: bool,
    /// The audit columns' names.
    pub audit_columns: Vec<String>,
    /// Count every exported file back from disk before writing the manifest.
    pub recount_files: bool,
    /// The downtime window the run must fit in, in minutes (the runbook's 30).
    pub downtime_budget_minutes: f64,
    /// Output names where no `[[table]]` / `[[column]]` rule gives one: `keep` (default)
    /// or `lower`.
    pub names: NameRule,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            batch_rows: 8192,
            connections: 8,
            range_rows: 50_000,
            zero_date: ZeroDateRule::Error,
            bool_values: BoolValues::Strict,
            uuid: UuidRule::Lenient,
            keep_audit_columns: false,
            audit_columns: vec!["createdDate".into(), "updatedDate".into(), "version".into()],
            recount_files: true,
            downtime_budget_minutes: 30.0,
            names: NameRule::Keep,
        }
    }
}

/// `[verify]`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct VerifySpec {
    /// Tables that must exist in the target and hold rows (the guide's critical tables).
    pub critical: Vec<String>,
    /// `run` verifies the target after committing the load (default true).
    pub after_run: bool,
    /// Compare this many random rows per table instead of every row.
    pub sample: Option<u64>,
}

impl Default for VerifySpec {
    fn default() -> Self {
        VerifySpec { critical: Vec::new(), after_run: true, sample: None }
    }
}

/// `[[column]]`: rules for the columns matching `table` and `column` (globs).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ColumnRule {
    /// Table glob.
    pub table: String,
    /// Column glob.
    pub column: String,
    /// Carry the column as this type: boolean, uuid, text, json, binary.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// Zero dates in this column.
    pub zero_date: Option<ZeroDateRule>,
    /// Boolean values other than 0/1 in this column.
    pub bool_values: Option<BoolValues>,
    /// Non-UUID values in this char(36) column.
    pub uuid: Option<UuidRule>,
    /// Leave the column out.
    pub exclude: Option<bool>,
    /// Let the target's type change this column's values (round to a smaller scale or
    /// fewer fractional seconds, pad to char(n)): the run counts the values changed
    /// instead of stopping at the first one.
    pub allow_change: Option<bool>,
    /// The target's (and the export's) name for the column; `column` must then name one
    /// column exactly, not a glob.
    pub target: Option<String>,
}

/// `[[transform]]`: SQL over the table's stream, called `input`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Transform {
    /// The table.
    pub table: String,
    /// The query.
    pub sql: String,
}

/// The kinds of sink.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SinkKind {
    /// Spec CSV files + manifest.
    Csv,
    /// Parquet files + manifest.
    Parquet,
    /// PostgreSQL by binary COPY.
    Postgres,
    /// Nothing: the batches are counted and dropped (to measure the source and transforms).
    Null,
}

/// `[[sink]]`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SinkSpec {
    /// csv | parquet | postgres.
    pub kind: SinkKind,
    /// The base directory; each run writes `<dir>/<migrationId>/` (csv, parquet).
    pub dir: Option<String>,
    /// `postgres://…` (postgres).
    pub url: Option<String>,
    /// Parquet: start a new file past this many MiB.
    pub max_file_mb: Option<u64>,
    /// PostgreSQL: the target schema (default `public`).
    pub schema: Option<String>,
    /// PostgreSQL: replace the rows of non-empty target tables (default: refuse them).
    pub truncate: Option<bool>,
    /// PostgreSQL: tables the target's own migrations already filled; their rows are
    /// compared with the source's instead of loaded, and any difference fails the run.
    #[serde(default)]
    pub existing: Vec<String>,
    /// PostgreSQL: `run` (default) loads everything in one transaction, all or nothing;
    /// `table` commits each table on its own and records it, so a rerun skips the tables
    /// already loaded and reconciled.
    #[serde(default)]
    pub transaction: TransactionMode,
    /// PostgreSQL: `COPY … FREEZE` into the tables the load's transaction empties
    /// (default true; single-transaction mode only). The rows arrive already frozen and
    /// visible, so nothing rewrites them later (hint bits, anti-wraparound vacuum).
    pub freeze: Option<bool>,
    /// PostgreSQL: drop the loaded tables' indexes (secondary, primary-key, unique) and
    /// foreign keys before the load and re-create them after it, inside the transaction,
    /// then prove they are exactly as they were (default true in single-transaction mode,
    /// where it is allowed; as pg_restore does, each index is built once by a sort
    /// instead of row by row). A duplicate or orphan still fails the run before commit,
    /// named by value and row keys; `false` keeps them in place and fails at the first
    /// offending row.
    pub defer_indexes: Option<bool>,
    /// PostgreSQL, `transaction = "table"`: tables COPYing at once, each on its own
    /// connection (default 1). Used when foreign keys need not be enforced row by row (a
    /// superuser, who may switch the checks off table by table); otherwise one. When a table fails, the tables still in
    /// flight beside it are rolled back with it (a rerun loads them).
    pub streams: Option<usize>,
    /// PostgreSQL: `fire` (default) lets the target's triggers fire as they would for the
    /// application's own inserts; `disable` turns them (and the foreign-key checks) off
    /// with `session_replication_role = replica` (a superuser's right), and the run's
    /// summary names every trigger that did not fire.
    #[serde(default)]
    pub triggers: TriggerMode,
    /// PostgreSQL: audit columns the source does not carry (a spec export leaves
    /// `version`, `createdDate`, `updatedDate` out) but the target requires are filled as
    /// the ORM would fill them for a new row: `version` = 1, the dates = the export's
    /// timestamp (default false: such a target is refused, saying why).
    #[serde(default)]
    pub audit_defaults: bool,
}

/// The postgres sink options `converge import` takes.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// The target schema (default `public`).
    pub schema: Option<String>,
    /// Replace the rows of non-empty target tables.
    pub truncate: bool,
    /// Tables the target's migrations filled: compared, not loaded.
    pub existing: Vec<String>,
    /// One transaction, or one per table.
    pub transaction: TransactionMode,
    /// Whether the target's triggers fire.
    pub triggers: TriggerMode,
    /// Fill the audit columns the export left out.
    pub audit_defaults: bool,
}

/// Whether the target's triggers fire during a load.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum TriggerMode {
    /// As for the application's inserts.
    #[default]
    Fire,
    /// Off for the load's sessions (superuser).
    Disable,
}

/// How a postgres sink uses transactions.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum TransactionMode {
    /// One transaction for the whole run.
    #[default]
    Run,
    /// One transaction per table; resumable.
    Table,
}

/// `rel` read from the folder `base` (absolute paths stay as they are), without `..`
/// and `.` steps where they can be taken away.
fn beside(base: &Path, rel: &str) -> String {
    use std::path::Component;
    let p = Path::new(rel);
    if p.is_absolute() {
        return rel.to_string();
    }
    let mut out = PathBuf::new();
    for c in base.join(p).components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir if matches!(out.components().next_back(), Some(Component::Normal(_))) => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    if out.as_os_str().is_empty() {
        ".".into()
    } else {
        out.to_string_lossy().into_owned()
    }
}

/// Replaces every `${VAR}` with the variable's value (`${VAR:-default}` gives a
/// default); a missing variable without a default is an error naming it.
pub fn interpolate(text: &str, lookup: impl Fn(&str) -> Option<String>) -> std::result::Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find('}').ok_or_else(|| format!("unterminated `${{` in `{text}`"))?;
        let (var, default) = match after[..end].split_once(":-") {
            Some((v, d)) => (v, Some(d)),
            None => (&after[..end], None),
        };
        let value = lookup(var)
            .filter(|v| !v.is_empty() || default.is_none())
            .or_else(|| default.map(str::to_string))
            .ok_or_else(|| format!("environment variable `{var}` is not set"))?;
        out.push_str(&value);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    (line, col)
}

impl Pipeline {
    /// Reads a pipeline file, rejecting unknown keys, and interpolates `${VAR}`s.
    pub fn load(path: &Path) -> Result<Pipeline> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::parse(&text, path, |v| std::env::var(v).ok())
    }

    /// Parses pipeline text (`path` is for messages); `env` looks variables up.
    pub fn parse(text: &str, path: &Path, env: impl Fn(&str) -> Option<String>) -> Result<Pipeline> {
        let mut p: Pipeline = toml::from_str(text).map_err(|e| Error::Pipeline {
            file: path.to_path_buf(),
            at: e.span().map(|s| line_col(text, s.start)),
            message: e.message().trim().to_string(),
        })?;
        p.file = path.to_path_buf();
        let fail = |key: &str, message: String| {
            let at =
                text.find(&format!("{key} =")).or_else(|| text.find(&format!("{key}="))).map(|o| line_col(text, o));
            Error::Pipeline { file: path.to_path_buf(), at, message: format!("{key}: {message}") }
        };
        let mut fields: Vec<(&str, &mut Option<String>)> =
            vec![("url", &mut p.source.url), ("path", &mut p.source.path), ("dir", &mut p.source.dir)];
        for s in p.sinks.iter_mut() {
            fields.push(("url", &mut s.url));
            fields.push(("dir", &mut s.dir));
        }
        for (key, v) in fields {
            if let Some(t) = v.as_mut() {
                *t = interpolate(t, &env).map_err(|m| fail(key, m))?;
            }
        }
        // Relative files and folders are the pipeline file's neighbours, wherever it runs from.
        let base = path.parent().filter(|b| !b.as_os_str().is_empty());
        if let Some(base) = base {
            let mut files: Vec<&mut Option<String>> = vec![&mut p.source.path, &mut p.source.dir];
            files.extend(p.sinks.iter_mut().map(|s| &mut s.dir));
            for v in files.into_iter().flatten() {
                *v = beside(base, v);
            }
        }
        p.check().map_err(|m| Error::Pipeline { file: path.to_path_buf(), at: None, message: m })?;
        Ok(p)
    }

    /// The pipeline behind `converge import DIR --to URL`: an export directory into
    /// PostgreSQL, typed by the target.
    pub fn import(dir: &str, url: &str, schema: Option<String>, truncate: bool) -> Pipeline {
        let o = ImportOptions { schema, truncate, ..Default::default() };
        Pipeline::import_with(dir, url, &o)
    }

    /// [`Pipeline::import`] with the postgres sink's options.
    pub fn import_with(dir: &str, url: &str, o: &ImportOptions) -> Pipeline {
        let mut p = Pipeline::import_base(dir, url, o.schema.clone(), o.truncate);
        let sink = &mut p.sinks[0];
        sink.existing = o.existing.clone();
        sink.transaction = o.transaction;
        sink.triggers = o.triggers;
        sink.audit_defaults = o.audit_defaults;
        p
    }

    fn import_base(dir: &str, url: &str, schema: Option<String>, truncate: bool) -> Pipeline {
        Pipeline {
            name: "import".into(),
            source: SourceSpec {
                kind: SourceKind::Csv,
                url: None,
                path: None,
                dir: Some(dir.to_string()),
                tables: all_tables(),
                exclude: Vec::new(),
                datetime_zone: None,
            },
            options: Options::default(),
            columns: Vec::new(),
            table_names: Vec::new(),
            transforms: Vec::new(),
            validations: Vec::new(),
            sinks: vec![SinkSpec {
                kind: SinkKind::Postgres,
                dir: None,
                url: Some(url.to_string()),
                max_file_mb: None,
                schema,
                truncate: Some(truncate),
                existing: Vec::new(),
                transaction: TransactionMode::Run,
                freeze: None,
                defer_indexes: None,
                streams: None,
                triggers: TriggerMode::Fire,
                audit_defaults: false,
            }],
            verify: None,
            file: PathBuf::from("(import)"),
        }
    }

    /// The pipeline behind `converge verify --source URL --target URL`: every table of
    /// the MySQL database against the PostgreSQL schema, default rules.
    pub fn compare(source_url: &str, target_url: &str, schema: Option<String>) -> Pipeline {
        let mut p = Pipeline::import_base("", target_url, schema, false);
        p.name = "verify".into();
        p.source = SourceSpec {
            kind: SourceKind::Mysql,
            url: Some(source_url.to_string()),
            path: None,
            dir: None,
            tables: all_tables(),
            exclude: Vec::new(),
            datetime_zone: None,
        };
        p.file = PathBuf::from("(verify)");
        p
    }

    fn check(&self) -> std::result::Result<(), String> {
        let s = &self.source;
        match s.kind {
            SourceKind::Mysql if s.url.is_none() => return Err("source.kind = \"mysql\" needs source.url".into()),
            SourceKind::Mysqldump if s.path.is_none() => {
                return Err("source.kind = \"mysqldump\" needs source.path".into())
            }
            SourceKind::Csv if s.dir.is_none() => return Err("source.kind = \"csv\" needs source.dir".into()),
            SourceKind::Csv if s.datetime_zone.is_some() => {
                return Err("source.datetime_zone is for a MySQL source: a CSV export holds instants already".into())
            }
            _ => {}
        }
        if let Some(z) = &s.datetime_zone {
            z.parse::<chrono_tz::Tz>().map_err(|_| {
                format!("source.datetime_zone `{z}` is not an IANA time zone (like \"Europe/Amsterdam\" or \"UTC\")")
            })?;
        }
        if self.sinks.is_empty() {
            return Err("a pipeline needs at least one [[sink]]".into());
        }
        for (i, k) in self.sinks.iter().enumerate() {
            match k.kind {
                SinkKind::Csv | SinkKind::Parquet if k.dir.is_none() => {
                    return Err(format!("sink {} ({:?}) needs dir", i + 1, k.kind));
                }
                SinkKind::Postgres if k.url.is_none() => return Err(format!("sink {} (postgres) needs url", i + 1)),
                _ => {}
            }
        }
        if self.options.batch_rows == 0 || self.options.connections == 0 {
            return Err("options.batch_rows and options.connections must be at least 1".into());
        }
        for pat in s.tables.iter().chain(&s.exclude).chain(self.columns.iter().flat_map(|c| [&c.table, &c.column])) {
            glob::Pattern::new(pat).map_err(|e| format!("`{pat}` is not a valid glob: {e}"))?;
        }
        for c in self.columns.iter().filter(|c| c.target.is_some()) {
            if c.column.contains(['*', '?', '[']) {
                return Err(format!(
                    "[[column]] `{}`: target renames one column, so column must be its exact name, not a glob",
                    c.column
                ));
            }
        }
        for (i, t) in self.table_names.iter().enumerate() {
            if self.table_names[..i].iter().any(|x| x.source == t.source) {
                return Err(format!("[[table]] `{}` is named twice", t.source));
            }
            if t.target.is_empty() {
                return Err(format!("[[table]] `{}`: target is empty", t.source));
            }
        }
        for k in self.sinks.iter().filter(|k| k.kind == SinkKind::Postgres) {
            if k.defer_indexes == Some(true) && k.transaction == TransactionMode::Table {
                return Err(
                    "defer_indexes needs transaction = \"run\" (indexes are re-created in the load's one transaction)"
                        .into(),
                );
            }
            if k.streams == Some(0) {
                return Err("streams must be at least 1".into());
            }
        }
        if self.sinks.iter().filter(|k| k.kind == SinkKind::Postgres).count() > 1 {
            return Err("one postgres sink per pipeline".into());
        }
        if self.verify.is_some() && !self.sinks.iter().any(|k| k.kind == SinkKind::Postgres) {
            return Err("[verify] compares the source with a postgres sink: add one".into());
        }
        if self.options.downtime_budget_minutes.is_nan() || self.options.downtime_budget_minutes <= 0.0 {
            return Err("options.downtime_budget_minutes must be more than 0".into());
        }
        if !self.validations.is_empty()
            && !self.sinks.iter().any(|k| matches!(k.kind, SinkKind::Csv | SinkKind::Parquet))
        {
            return Err("[[validate]] runs over the exported files: add a csv or parquet sink".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: &str =
        "name = \"t\"\n[source]\nkind = \"mysql\"\nurl = \"${MYSQL_URL}\"\n[[sink]]\nkind = \"csv\"\ndir = \"out\"\n";

    #[test]
    fn interpolates_and_names_missing_variables() {
        let env = |v: &str| (v == "MYSQL_URL").then(|| "mysql://u:p@h/db".to_string());
        let p = Pipeline::parse(P, Path::new("p.toml"), env).unwrap();
        assert_eq!(p.source.url.as_deref(), Some("mysql://u:p@h/db"));
        let e = Pipeline::parse(P, Path::new("p.toml"), |_| None).unwrap_err().to_string();
        assert!(e.contains("MYSQL_URL") && e.starts_with("p.toml:4:"), "{e}");
        assert_eq!(interpolate("${A:-x}/${B:-y}", |v| (v == "A").then(|| "a".into())).unwrap(), "a/y");
    }

    #[test]
    fn unknown_keys_name_file_line_and_key() {
        let text = P.replace("[[sink]]\n", "[[sink]]\ncompression = 1\n");
        let e = Pipeline::parse(&text, Path::new("p.toml"), |_| Some("x".into())).unwrap_err().to_string();
        assert!(e.starts_with("p.toml:6:"), "{e}");
        assert!(e.contains("unknown field `compression`"), "{e}");
    }
}
