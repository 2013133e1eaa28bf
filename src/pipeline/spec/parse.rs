//! Reading a pipeline file: the keys as written, `${VAR}` interpolation, relative
//! paths, and the checks that turn `[source]` and each `[[sink]]` into their typed kind
//! ([`SourceKind`], [`SinkSpec`]); every refusal names the file, line and key
//! (docs/architecture.md, "Pipelines").
//!
//! Why the keys are read flat and then typed, not by `#[serde(tag = "kind")]`: serde
//! buffers an internally tagged enum's content before it picks the variant, and the
//! buffered content has no spans. Tried with toml 0.9: an unknown key in the second
//! `[[sink]]` was reported at the first `[[sink]]` header, a value of the wrong type at
//! `[source]`. Read flat, TOML's own errors keep the exact line; the typing below then
//! refuses a key the kind does not take, or a key it needs, at that key's line.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_spanned::Spanned;

use super::{
    all_tables, CaseInsensitive, ColumnRule, CreateMode, EnumMode, FollowSpec, IndexNames, LongNames, Options,
    Pipeline, PostgresSink, SinkSpec, SourceKind, SourceSpec, TableName, TransactionMode, Transform, TriggerMode,
    VerifySpec,
};
use crate::error::{Error, Result};
use crate::transform::validate::Validate;

/// The file as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPipeline {
    name: String,
    source: Spanned<RawSource>,
    #[serde(default)]
    options: Options,
    #[serde(default, rename = "column")]
    columns: Vec<ColumnRule>,
    #[serde(default, rename = "table")]
    table_names: Vec<TableName>,
    #[serde(default, rename = "transform")]
    transforms: Vec<Transform>,
    #[serde(default, rename = "validate")]
    validations: Vec<Validate>,
    #[serde(default, rename = "sink")]
    sinks: Vec<Spanned<RawSink>>,
    verify: Option<VerifySpec>,
    follow: Option<FollowSpec>,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum SourceKey {
    Mysql,
    Mysqldump,
    Csv,
}

/// `[source]` as written: every kind's keys.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSource {
    kind: SourceKey,
    url: Option<String>,
    path: Option<String>,
    dir: Option<String>,
    #[serde(default = "all_tables")]
    tables: Vec<String>,
    #[serde(default)]
    exclude: Vec<String>,
    datetime_zone: Option<String>,
    time_zone: Option<String>,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum SinkKey {
    Csv,
    Parquet,
    Postgres,
    Null,
}

/// `[[sink]]` as written: every kind's keys.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSink {
    kind: SinkKey,
    dir: Option<String>,
    url: Option<String>,
    max_file_mb: Option<u64>,
    schema: Option<String>,
    truncate: Option<bool>,
    existing: Option<Vec<String>>,
    transaction: Option<TransactionMode>,
    freeze: Option<bool>,
    defer_indexes: Option<bool>,
    streams: Option<usize>,
    triggers: Option<TriggerMode>,
    audit_defaults: Option<bool>,
    create: Option<CreateMode>,
    long_names: Option<LongNames>,
    index_names: Option<IndexNames>,
    case_insensitive: Option<CaseInsensitive>,
    enums: Option<EnumMode>,
}

/// The keys each sink kind takes.
const POSTGRES_KEYS: &[&str] = &[
    "url",
    "schema",
    "truncate",
    "existing",
    "transaction",
    "freeze",
    "defer_indexes",
    "streams",
    "triggers",
    "audit_defaults",
    "create",
    "long_names",
    "index_names",
    "case_insensitive",
    "enums",
];

impl RawSink {
    /// The keys written, other than `kind`.
    fn keys(&self) -> Vec<&'static str> {
        let set = [
            ("dir", self.dir.is_some()),
            ("url", self.url.is_some()),
            ("max_file_mb", self.max_file_mb.is_some()),
            ("schema", self.schema.is_some()),
            ("truncate", self.truncate.is_some()),
            ("existing", self.existing.is_some()),
            ("transaction", self.transaction.is_some()),
            ("freeze", self.freeze.is_some()),
            ("defer_indexes", self.defer_indexes.is_some()),
            ("streams", self.streams.is_some()),
            ("triggers", self.triggers.is_some()),
            ("audit_defaults", self.audit_defaults.is_some()),
            ("create", self.create.is_some()),
            ("long_names", self.long_names.is_some()),
            ("index_names", self.index_names.is_some()),
            ("case_insensitive", self.case_insensitive.is_some()),
            ("enums", self.enums.is_some()),
        ];
        set.into_iter().filter(|(_, on)| *on).map(|(k, _)| k).collect()
    }

    fn allowed(&self) -> (&'static str, &'static [&'static str]) {
        match self.kind {
            SinkKey::Csv => ("csv", &["dir"]),
            SinkKey::Parquet => ("parquet", &["dir", "max_file_mb"]),
            SinkKey::Postgres => ("postgres", POSTGRES_KEYS),
            SinkKey::Null => ("null", &[]),
        }
    }
}

/// Finds a table's keys in the text, for errors: the table's header is at `start`, its
/// keys run to the next header.
#[derive(Clone, Copy)]
struct Place<'a> {
    text: &'a str,
    file: &'a Path,
    start: usize,
    end: usize,
}

impl<'a> Place<'a> {
    fn new(text: &'a str, file: &'a Path, span: std::ops::Range<usize>) -> Place<'a> {
        let after = span.end.min(text.len());
        let end = text[after..]
            .match_indices('\n')
            .map(|(i, _)| after + i + 1)
            .find(|&i| text[i..].trim_start_matches([' ', '\t']).starts_with('['))
            .unwrap_or(text.len());
        Place { text, file, start: span.start, end }
    }

    /// An error at `key`'s line in this table (at the header when it is not written).
    fn at_key(&self, key: &str, message: String) -> Error {
        let mut offset = self.start;
        let found = self.text[self.start..self.end].split_inclusive('\n').find_map(|line| {
            let at = offset;
            offset += line.len();
            let t = line.trim_start();
            let rest = t.strip_prefix(key)?;
            rest.trim_start().starts_with('=').then_some(at)
        });
        self.error(found.unwrap_or(self.start), message)
    }

    /// An error at the table's header.
    fn at_header(&self, message: String) -> Error {
        self.error(self.start, message)
    }

    fn error(&self, offset: usize, message: String) -> Error {
        Error::Pipeline { file: self.file.to_path_buf(), at: Some(line_col(self.text, offset)), message }
    }
}

/// Replaces every `${VAR}` with the variable's value (`${VAR:-default}` gives a
/// default); a missing variable without a default is an error naming it.
pub(super) fn interpolate(text: &str, lookup: impl Fn(&str) -> Option<String>) -> std::result::Result<String, String> {
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

/// Reads one file or folder key: `${VAR}`s filled in, a relative path read from the
/// pipeline file's folder when `base` is given.
struct Values<'a, E: Fn(&str) -> Option<String>> {
    env: E,
    base: Option<&'a Path>,
}

impl<E: Fn(&str) -> Option<String>> Values<'_, E> {
    fn text(&self, place: &Place, key: &str, v: Option<String>) -> Result<Option<String>> {
        v.map(|t| interpolate(&t, &self.env).map_err(|m| place.at_key(key, format!("{key}: {m}")))).transpose()
    }

    fn file(&self, place: &Place, key: &str, v: Option<String>) -> Result<Option<String>> {
        let v = self.text(place, key, v)?;
        Ok(match self.base {
            Some(base) => v.map(|v| beside(base, &v)),
            None => v,
        })
    }
}

/// `[source]`, typed by its kind.
fn source<E: Fn(&str) -> Option<String>>(raw: RawSource, place: &Place, values: &Values<E>) -> Result<SourceSpec> {
    let needs = |key: &str, kind: &str| place.at_header(format!("source.kind = \"{kind}\" needs source.{key}"));
    let refuse =
        |key: &str, kind: &str| place.at_key(key, format!("source.{key}: a source of kind \"{kind}\" takes no {key}"));
    let zone = match &raw.datetime_zone {
        Some(z) => Some(z.parse::<chrono_tz::Tz>().map_err(|_| {
            place.at_key(
                "datetime_zone",
                format!("source.datetime_zone `{z}` is not an IANA time zone (like \"Europe/Amsterdam\" or \"UTC\")"),
            )
        })?),
        None => None,
    };
    let (kind, own) = match raw.kind {
        SourceKey::Mysql => ("mysql", "url"),
        SourceKey::Mysqldump => ("mysqldump", "path"),
        SourceKey::Csv => ("csv", "dir"),
    };
    for (key, set) in [("url", raw.url.is_some()), ("path", raw.path.is_some()), ("dir", raw.dir.is_some())] {
        if set && key != own {
            return Err(refuse(key, kind));
        }
    }
    if raw.time_zone.is_some() && raw.kind != SourceKey::Mysqldump {
        return Err(place.at_key(
            "time_zone",
            format!(
                "source.time_zone names the zone of a dump's TIMESTAMP values (kind = \"mysqldump\"); a source of \
                 kind \"{kind}\" takes none"
            ),
        ));
    }
    let time_zone = match &raw.time_zone {
        Some(z) => Some(crate::source::mysqldump::zone::Zone::parse(z).ok_or_else(|| {
            place.at_key(
                "time_zone",
                format!("source.time_zone `{z}` is neither an offset (like \"+05:30\") nor an IANA time zone (like \"Europe/Amsterdam\")"),
            )
        })?),
        None => None,
    };
    let kind = match raw.kind {
        SourceKey::Mysql => SourceKind::Mysql {
            url: values.text(place, "url", raw.url)?.ok_or_else(|| needs("url", kind))?,
            datetime_zone: zone,
        },
        SourceKey::Mysqldump => SourceKind::Mysqldump {
            path: values.file(place, "path", raw.path)?.ok_or_else(|| needs("path", kind))?,
            datetime_zone: zone,
            time_zone,
        },
        SourceKey::Csv if raw.datetime_zone.is_some() => {
            return Err(place.at_key(
                "datetime_zone",
                "source.datetime_zone is for a MySQL source: a CSV export holds instants already".into(),
            ))
        }
        SourceKey::Csv => {
            SourceKind::Csv { dir: values.file(place, "dir", raw.dir)?.ok_or_else(|| needs("dir", kind))? }
        }
    };
    Ok(SourceSpec { kind, tables: raw.tables, exclude: raw.exclude })
}

/// One `[[sink]]` (the `n`th), typed by its kind.
fn sink<E: Fn(&str) -> Option<String>>(raw: RawSink, n: usize, place: &Place, values: &Values<E>) -> Result<SinkSpec> {
    let (kind, allowed) = raw.allowed();
    if let Some(key) = raw.keys().into_iter().find(|k| !allowed.contains(k)) {
        let takes = if allowed.is_empty() { "no keys but kind".to_string() } else { allowed.join(", ") };
        return Err(place.at_key(key, format!("sink {n} (kind = \"{kind}\") takes no `{key}` (it takes: {takes})")));
    }
    let needs = |key: &str| place.at_header(format!("sink {n} ({kind}) needs {key}"));
    Ok(match raw.kind {
        SinkKey::Csv => SinkSpec::Csv { dir: values.file(place, "dir", raw.dir)?.ok_or_else(|| needs("dir"))? },
        SinkKey::Parquet => SinkSpec::Parquet {
            dir: values.file(place, "dir", raw.dir)?.ok_or_else(|| needs("dir"))?,
            max_file_mb: raw.max_file_mb.unwrap_or(512),
        },
        SinkKey::Null => SinkSpec::Null,
        SinkKey::Postgres => {
            let transaction = raw.transaction.unwrap_or_default();
            if raw.defer_indexes == Some(true) && transaction == TransactionMode::Table {
                return Err(place.at_key(
                    "defer_indexes",
                    "defer_indexes needs transaction = \"run\" (indexes are re-created in the load's one transaction)"
                        .into(),
                ));
            }
            if raw.create == Some(CreateMode::Missing) && transaction == TransactionMode::Table {
                return Err(place.at_key(
                    "create",
                    "create = \"missing\" needs transaction = \"run\" (the tables are created in the load's one transaction, so a failure leaves none)"
                        .into(),
                ));
            }
            if raw.streams == Some(0) {
                return Err(place.at_key("streams", "streams must be at least 1".into()));
            }
            SinkSpec::Postgres(PostgresSink {
                url: values.text(place, "url", raw.url)?.ok_or_else(|| needs("url"))?,
                schema: raw.schema,
                truncate: raw.truncate,
                existing: raw.existing.unwrap_or_default(),
                transaction,
                freeze: raw.freeze,
                defer_indexes: raw.defer_indexes,
                streams: raw.streams,
                triggers: raw.triggers.unwrap_or_default(),
                audit_defaults: raw.audit_defaults.unwrap_or(false),
                create: raw.create.unwrap_or_default(),
                long_names: raw.long_names.unwrap_or_default(),
                index_names: raw.index_names.unwrap_or_default(),
                case_insensitive: raw.case_insensitive.unwrap_or_default(),
                enums: raw.enums.unwrap_or_default(),
            })
        }
    })
}

impl Pipeline {
    /// Reads a pipeline file, rejecting unknown keys, and interpolates `${VAR}`s.
    pub fn load(path: &Path) -> Result<Pipeline> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::parse(&text, path, |v| std::env::var(v).ok())
    }

    /// Parses pipeline text (`path` is for messages); `env` looks variables up.
    pub fn parse(text: &str, path: &Path, env: impl Fn(&str) -> Option<String>) -> Result<Pipeline> {
        let raw: RawPipeline = toml::from_str(text).map_err(|e| Error::Pipeline {
            file: path.to_path_buf(),
            at: e.span().map(|s| line_col(text, s.start)),
            message: e.message().trim().to_string(),
        })?;
        // Relative files and folders are the pipeline file's neighbours, wherever it runs from.
        let values = Values { env, base: path.parent().filter(|b| !b.as_os_str().is_empty()) };
        let place = Place::new(text, path, raw.source.span());
        let source = source(raw.source.into_inner(), &place, &values)?;
        let mut sinks = Vec::new();
        for (i, s) in raw.sinks.into_iter().enumerate() {
            let place = Place::new(text, path, s.span());
            sinks.push(sink(s.into_inner(), i + 1, &place, &values)?);
        }
        let p = Pipeline {
            name: raw.name,
            source,
            options: raw.options,
            columns: raw.columns,
            table_names: raw.table_names,
            transforms: raw.transforms,
            validations: raw.validations,
            sinks,
            verify: raw.verify,
            follow: raw.follow,
            file: path.to_path_buf(),
        };
        p.check()?;
        Ok(p)
    }
}

impl Pipeline {
    /// The checks across keys and tables, once every table has its kind.
    fn check(&self) -> Result<()> {
        let fail = |message: String| Error::Pipeline { file: self.file.clone(), at: None, message };
        let s = &self.source;
        if self.sinks.is_empty() {
            return Err(fail("a pipeline needs at least one [[sink]]".into()));
        }
        if self.options.batch_rows == 0 || self.options.connections == 0 {
            return Err(fail("options.batch_rows and options.connections must be at least 1".into()));
        }
        for pat in s.tables.iter().chain(&s.exclude).chain(self.columns.iter().flat_map(|c| [&c.table, &c.column])) {
            glob::Pattern::new(pat).map_err(|e| fail(format!("`{pat}` is not a valid glob: {e}")))?;
        }
        for c in self.columns.iter().filter(|c| c.target.is_some()) {
            if c.column.contains(['*', '?', '[']) {
                return Err(fail(format!(
                    "[[column]] `{}`: target renames one column, so column must be its exact name, not a glob",
                    c.column
                )));
            }
        }
        for (i, t) in self.table_names.iter().enumerate() {
            if self.table_names[..i].iter().any(|x| x.source == t.source) {
                return Err(fail(format!("[[table]] `{}` is named twice", t.source)));
            }
            if t.target.is_empty() {
                return Err(fail(format!("[[table]] `{}`: target is empty", t.source)));
            }
        }
        if self.sinks.iter().filter(|k| k.postgres().is_some()).count() > 1 {
            return Err(fail("one postgres sink per pipeline".into()));
        }
        if self.verify.is_some() && self.postgres().is_none() {
            return Err(fail("[verify] compares the source with a postgres sink: add one".into()));
        }
        if let Some(f) = &self.follow {
            if !s.is_live() {
                return Err(fail("[follow] follows a live server's binlog: source.kind must be \"mysql\"".into()));
            }
            if self.postgres().is_some_and(|k| k.transaction == TransactionMode::Table) {
                return Err(fail(
                    "[follow] continues one snapshot, which a per-table load (transaction = \"table\") does not \
                     keep across reruns: use transaction = \"run\""
                        .into(),
                ));
            }
            if f.server_id == 0 {
                return Err(fail("follow.server_id must be more than 0 (0 is refused by a replication source)".into()));
            }
            if f.expected_copy_hours.is_nan() || f.expected_copy_hours <= 0.0 {
                return Err(fail("follow.expected_copy_hours must be more than 0".into()));
            }
        }
        if self.options.downtime_budget_minutes.is_nan() || self.options.downtime_budget_minutes <= 0.0 {
            return Err(fail("options.downtime_budget_minutes must be more than 0".into()));
        }
        if !self.validations.is_empty() && !self.sinks.iter().any(|k| k.dir().is_some()) {
            return Err(fail("[[validate]] runs over the exported files: add a csv or parquet sink".into()));
        }
        Ok(())
    }
}
