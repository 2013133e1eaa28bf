//! The pipeline file (TOML): its keys, `${VAR}` interpolation from the environment,
//! and errors that name the file, line and key.

use std::path::PathBuf;

use serde::Deserialize;

use crate::transform::validate::Validate;

mod follow;
mod parse;

pub use self::follow::{Cascades, FollowSpec};

/// A whole pipeline definition.
#[derive(Debug, Clone, PartialEq)]
pub struct Pipeline {
    /// The pipeline's name (used in run ids and reports).
    pub name: String,
    /// Where the data comes from.
    pub source: SourceSpec,
    /// Run-wide options.
    pub options: Options,
    /// Per-column rules (`[[column]]`), later rules win.
    pub columns: Vec<ColumnRule>,
    /// Target names for source tables (`[[table]] source = "…" target = "…"`).
    pub table_names: Vec<TableName>,
    /// Per-table SQL (`[[transform]]`).
    pub transforms: Vec<Transform>,
    /// Assertions over the run's data (`[[validate]]`).
    pub validations: Vec<Validate>,
    /// Where the data goes (`[[sink]]`).
    pub sinks: Vec<SinkSpec>,
    /// `[verify]`: what `converge verify` checks, and whether `run` verifies after loading.
    pub verify: Option<VerifySpec>,
    /// `[follow]`: the run is the snapshot a binlog follower will continue from.
    pub follow: Option<FollowSpec>,
    /// The file it was read from (not a key).
    pub file: PathBuf,
}

/// `[source]`: which tables, and from what.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceSpec {
    /// The kind of source, with the keys that kind takes.
    pub kind: SourceKind,
    /// Table globs to include.
    pub tables: Vec<String>,
    /// Table globs to leave out.
    pub exclude: Vec<String>,
}

/// The kinds of source (`source.kind`), each with its own keys: a key another kind
/// takes is refused when the pipeline is read.
#[derive(Debug, Clone, PartialEq)]
pub enum SourceKind {
    /// `mysql`: a live MySQL or MariaDB server.
    Mysql {
        /// `mysql://user:pass@host:3306/database`.
        url: String,
        /// The zone the server's DATETIME values are wall-clock times in.
        datetime_zone: Option<chrono_tz::Tz>,
    },
    /// `mysqldump`: a mysqldump / mariadb-dump file (`.sql` or `.sql.gz`).
    Mysqldump {
        /// The dump file.
        path: String,
        /// The zone the dump's DATETIME values are wall-clock times in.
        datetime_zone: Option<chrono_tz::Tz>,
        /// The session's time zone before the dump sets one: its TIMESTAMP values are
        /// written in it (a `--skip-tz-utc` dump).
        time_zone: Option<crate::source::mysqldump::zone::Zone>,
    },
    /// `csv`: an export directory with its manifest (it holds instants already).
    Csv {
        /// The export directory.
        dir: String,
    },
}

impl SourceSpec {
    /// The DATETIME zone (`source.datetime_zone`), when one other than UTC is set.
    /// DATETIME columns are then read as instants, like TIMESTAMP columns: a wall time
    /// the zone skips or repeats (a clock change) stops the run naming it.
    pub fn zone(&self) -> Option<chrono_tz::Tz> {
        let z = match &self.kind {
            SourceKind::Mysql { datetime_zone, .. } | SourceKind::Mysqldump { datetime_zone, .. } => (*datetime_zone)?,
            SourceKind::Csv { .. } => return None,
        };
        (z != chrono_tz::UTC && z != chrono_tz::Etc::UTC).then_some(z)
    }

    /// Whether the source is a live server (verify and the per-table skip need one).
    pub fn is_live(&self) -> bool {
        matches!(self.kind, SourceKind::Mysql { .. })
    }

    /// Whether the source is a mysqldump file.
    pub fn is_dump(&self) -> bool {
        matches!(self.kind, SourceKind::Mysqldump { .. })
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

/// Duplicate keys in a JSON object (`json_duplicates`): `first` or `last`.
pub use crate::feed::JsonDuplicates;
/// Zero dates (`zero_date`): the reader's own rule, `error` (default) or `null`.
pub use crate::feed::ZeroDate;
/// Boolean values other than 0/1 (`bool_values`): the normaliser's own rule, `strict`
/// (default) or `nonzero`.
pub use crate::transform::udf::BoolRule;

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
    pub zero_date: ZeroDate,
    /// Boolean values other than 0/1.
    pub bool_values: BoolRule,
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
    /// Duplicate keys in a MariaDB text JSON value: refused (default), or `first`
    /// (MariaDB's reading: the later ones dropped) or `last` (jsonb's), then counted.
    pub json_duplicates: Option<JsonDuplicates>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            batch_rows: 8192,
            connections: 8,
            range_rows: 50_000,
            zero_date: ZeroDate::Error,
            bool_values: BoolRule::Strict,
            uuid: UuidRule::Lenient,
            keep_audit_columns: false,
            audit_columns: vec!["createdDate".into(), "updatedDate".into(), "version".into()],
            recount_files: true,
            downtime_budget_minutes: 30.0,
            names: NameRule::Keep,
            json_duplicates: None,
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
    pub zero_date: Option<ZeroDate>,
    /// Boolean values other than 0/1 in this column.
    pub bool_values: Option<BoolRule>,
    /// Non-UUID values in this char(36) column.
    pub uuid: Option<UuidRule>,
    /// Duplicate keys in this JSON column's values: `first` or `last`.
    pub json_duplicates: Option<JsonDuplicates>,
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

/// `[[sink]]`: where the data goes (`kind`), each kind with its own keys.
#[derive(Debug, Clone, PartialEq)]
pub enum SinkSpec {
    /// `csv`: spec CSV files + manifest, into `<dir>/<migrationId>/`.
    Csv {
        /// The base directory.
        dir: String,
    },
    /// `parquet`: Parquet files + manifest, into `<dir>/<migrationId>/`.
    Parquet {
        /// The base directory.
        dir: String,
        /// Start a new file past this many MiB (default 512).
        max_file_mb: u64,
    },
    /// `postgres`: PostgreSQL by binary COPY.
    Postgres(PostgresSink),
    /// `null`: nothing; the batches are counted and dropped (to measure the source and
    /// transforms).
    Null,
}

impl SinkSpec {
    /// The kind's name, as `kind` spells it.
    pub fn kind(&self) -> &'static str {
        match self {
            SinkSpec::Csv { .. } => "csv",
            SinkSpec::Parquet { .. } => "parquet",
            SinkSpec::Postgres(_) => "postgres",
            SinkSpec::Null => "null",
        }
    }

    /// A file sink's base directory.
    pub fn dir(&self) -> Option<&str> {
        match self {
            SinkSpec::Csv { dir } | SinkSpec::Parquet { dir, .. } => Some(dir),
            _ => None,
        }
    }

    /// The postgres sink's keys.
    pub fn postgres(&self) -> Option<&PostgresSink> {
        match self {
            SinkSpec::Postgres(pg) => Some(pg),
            _ => None,
        }
    }
}

/// `[[sink]] kind = "postgres"`.
#[derive(Debug, Clone, PartialEq)]
pub struct PostgresSink {
    /// `postgres://…`.
    pub url: String,
    /// The target schema (default `public`).
    pub schema: Option<String>,
    /// Replace the rows of non-empty target tables (default: refuse them).
    pub truncate: Option<bool>,
    /// Tables the target's own migrations already filled; their rows are compared with
    /// the source's instead of loaded, and any difference fails the run.
    pub existing: Vec<String>,
    /// `run` (default) loads everything in one transaction, all or nothing; `table`
    /// commits each table on its own and records it, so a rerun skips the tables already
    /// loaded and reconciled.
    pub transaction: TransactionMode,
    /// `COPY … FREEZE` into the tables the load's transaction empties (default true;
    /// single-transaction mode only). The rows arrive already frozen and visible, so
    /// nothing rewrites them later (hint bits, anti-wraparound vacuum).
    pub freeze: Option<bool>,
    /// Drop the loaded tables' indexes (secondary, primary-key, unique) and foreign keys
    /// before the load and re-create them after it, inside the transaction, then prove
    /// they are exactly as they were (default true in single-transaction mode, where it
    /// is allowed; as pg_restore does, each index is built once by a sort instead of row
    /// by row). A duplicate or orphan still fails the run before commit, named by value
    /// and row keys; `false` keeps them in place and fails at the first offending row.
    pub defer_indexes: Option<bool>,
    /// `transaction = "table"`: tables COPYing at once, each on its own connection
    /// (default 1). Used when foreign keys need not be enforced row by row (a superuser,
    /// who may switch the checks off table by table); otherwise one. When a table fails,
    /// the tables still in flight beside it are rolled back with it (a rerun loads them).
    pub streams: Option<usize>,
    /// `fire` (default) lets the target's triggers fire as they would for the
    /// application's own inserts; `disable` turns them (and the foreign-key checks) off
    /// with `session_replication_role = replica` (a superuser's right), and the run's
    /// summary names every trigger that did not fire.
    pub triggers: TriggerMode,
    /// Audit columns the source does not carry (a spec export leaves `version`,
    /// `createdDate`, `updatedDate` out) but the target requires are filled as the ORM
    /// would fill them for a new row: `version` = 1, the dates = the export's timestamp
    /// (default false: such a target is refused, saying why).
    pub audit_defaults: bool,
    /// `missing` creates the tables the target lacks, in the run's transaction, before
    /// the load (default `none`: the target's schema is made by something else).
    pub create: CreateMode,
    /// Names over PostgreSQL's 63 bytes: `refuse` (default) or `shorten`.
    pub long_names: LongNames,
    /// Created index names that clash in the schema: `refuse` (default) or `prefix`.
    pub index_names: IndexNames,
    /// Created columns of a unique key with a `_ci` collation: `report` (default),
    /// `icu` (a nondeterministic ICU collation) or `citext`.
    pub case_insensitive: CaseInsensitive,
    /// Created MySQL enums: `type` (default, a PostgreSQL enum) or `check` (text + CHECK).
    pub enums: EnumMode,
}

/// `create`: the sink's own rule.
pub use crate::sink::postgres::create::{CaseInsensitive, CreateMode, EnumMode, IndexNames, LongNames};

impl PostgresSink {
    /// A sink into `url` with every option at its default.
    pub fn new(url: &str) -> PostgresSink {
        PostgresSink {
            url: url.to_string(),
            schema: None,
            truncate: None,
            existing: Vec::new(),
            transaction: TransactionMode::Run,
            freeze: None,
            defer_indexes: None,
            streams: None,
            triggers: TriggerMode::Fire,
            audit_defaults: false,
            create: CreateMode::None,
            long_names: LongNames::Refuse,
            index_names: IndexNames::Refuse,
            case_insensitive: CaseInsensitive::Report,
            enums: EnumMode::Type,
        }
    }

    /// The target schema.
    pub fn schema(&self) -> &str {
        self.schema.as_deref().unwrap_or("public")
    }
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

impl Pipeline {
    /// The postgres sink, when the pipeline has one (at most one: checked when read).
    pub fn postgres(&self) -> Option<&PostgresSink> {
        self.sinks.iter().find_map(SinkSpec::postgres)
    }

    /// The pipeline behind `converge import DIR --to URL`: an export directory into
    /// PostgreSQL, typed by the target.
    pub fn import(dir: &str, url: &str, schema: Option<String>, truncate: bool) -> Pipeline {
        let o = ImportOptions { schema, truncate, ..Default::default() };
        Pipeline::import_with(dir, url, &o)
    }

    /// [`Pipeline::import`] with the postgres sink's options.
    pub fn import_with(dir: &str, url: &str, o: &ImportOptions) -> Pipeline {
        let sink = PostgresSink {
            schema: o.schema.clone(),
            truncate: Some(o.truncate),
            existing: o.existing.clone(),
            transaction: o.transaction,
            triggers: o.triggers,
            audit_defaults: o.audit_defaults,
            ..PostgresSink::new(url)
        };
        let source =
            SourceSpec { kind: SourceKind::Csv { dir: dir.to_string() }, tables: all_tables(), exclude: Vec::new() };
        Pipeline::around(source, sink, "import")
    }

    /// The pipeline behind `converge verify --source URL --target URL`: every table of
    /// the MySQL database against the PostgreSQL schema, default rules.
    pub fn compare(source_url: &str, target_url: &str, schema: Option<String>) -> Pipeline {
        let kind = SourceKind::Mysql { url: source_url.to_string(), datetime_zone: None };
        let source = SourceSpec { kind, tables: all_tables(), exclude: Vec::new() };
        let sink = PostgresSink { schema, truncate: Some(false), ..PostgresSink::new(target_url) };
        Pipeline::around(source, sink, "verify")
    }

    /// A pipeline of one source and one postgres sink, every rule at its default.
    fn around(source: SourceSpec, sink: PostgresSink, name: &str) -> Pipeline {
        Pipeline {
            name: name.into(),
            source,
            options: Options::default(),
            columns: Vec::new(),
            table_names: Vec::new(),
            transforms: Vec::new(),
            validations: Vec::new(),
            sinks: vec![SinkSpec::Postgres(sink)],
            verify: None,
            follow: None,
            file: PathBuf::from(format!("({name})")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse::interpolate;
    use super::*;
    use std::path::Path;

    const P: &str =
        "name = \"t\"\n[source]\nkind = \"mysql\"\nurl = \"${MYSQL_URL}\"\n[[sink]]\nkind = \"csv\"\ndir = \"out\"\n";

    #[test]
    fn interpolates_and_names_missing_variables() {
        let env = |v: &str| (v == "MYSQL_URL").then(|| "mysql://u:p@h/db".to_string());
        let p = Pipeline::parse(P, Path::new("p.toml"), env).unwrap();
        assert!(matches!(&p.source.kind, SourceKind::Mysql { url, .. } if url == "mysql://u:p@h/db"), "{p:?}");
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

    #[test]
    fn follow_needs_a_live_source_and_one_load_transaction() {
        let ok = Pipeline::parse(&format!("{P}[follow]\nserver_id = 7\n"), Path::new("p.toml"), |_| Some("x".into()));
        assert_eq!(ok.unwrap().follow.map(|f| f.server_id), Some(7));
        let e = refused(&format!("{P}[follow]\nserverid = 7\n"));
        assert!(e.contains("unknown field `serverid`"), "{e}");
        let pg = "[[sink]]\nkind = \"postgres\"\nurl = \"x\"\ntransaction = \"table\"\n";
        let e = refused(&format!("{P}{pg}[follow]\n"));
        assert!(e.contains("[follow]") && e.contains("transaction = \"run\""), "{e}");
        let dump = P.replace("kind = \"mysql\"\nurl = \"${MYSQL_URL}\"", "kind = \"mysqldump\"\npath = \"d.sql\"");
        let e = refused(&format!("{dump}[follow]\n"));
        assert!(e.contains("[follow] follows a live server's binlog"), "{e}");
    }

    #[test]
    fn follow_cascades_is_refuse_unless_the_target_is_chosen() {
        let parse = |follow: &str| {
            Pipeline::parse(&format!("{P}[follow]\n{follow}"), Path::new("p.toml"), |_| Some("x".into()))
        };
        assert_eq!(parse("").unwrap().follow.map(|f| f.cascades), Some(Cascades::Refuse));
        let chosen = parse("cascades = \"target\"\n").unwrap().follow.map(|f| f.cascades);
        assert_eq!(chosen, Some(Cascades::Target));
        let e = parse("cascades = \"source\"\n").unwrap_err().to_string();
        assert!(e.starts_with("p.toml:9:") && e.contains("refuse") && e.contains("target"), "{e}");
    }

    fn refused(text: &str) -> String {
        Pipeline::parse(text, Path::new("p.toml"), |_| Some("x".into())).unwrap_err().to_string()
    }

    #[test]
    fn a_key_the_kind_does_not_take_is_refused_at_its_line() {
        // Line 10 holds the second sink's max_file_mb; a csv sink takes only dir.
        let text = format!("{P}[[sink]]\nkind = \"csv\"\nmax_file_mb = 5\ndir = \"b\"\n");
        let e = refused(&text);
        assert!(e.starts_with("p.toml:10:") && e.contains("sink 2 (kind = \"csv\") takes no `max_file_mb`"), "{e}");
        // An unknown key in the second sink is reported at its own line, not the first sink's.
        let e = refused(&format!("{P}[[sink]]\nkind = \"null\"\n\ncompression = 1\n"));
        assert!(e.starts_with("p.toml:11:") && e.contains("unknown field `compression`"), "{e}");
        let e = refused(&P.replace("url = \"${MYSQL_URL}\"", "url = \"u\"\npath = \"d.sql\""));
        assert!(
            e.starts_with("p.toml:5:") && e.contains("source.path: a source of kind \"mysql\" takes no path"),
            "{e}"
        );
        let e = refused(&P.replace(
            "kind = \"mysql\"\nurl = \"${MYSQL_URL}\"",
            "kind = \"csv\"\ndir = \"d\"\ndatetime_zone = \"UTC\"",
        ));
        assert!(e.starts_with("p.toml:5:") && e.contains("a CSV export holds instants already"), "{e}");
    }

    #[test]
    fn a_key_the_kind_needs_is_named_at_the_table() {
        let e = refused(&format!("{P}\n[[sink]]\nkind = \"postgres\"\nschema = \"s\"\n"));
        assert!(e.starts_with("p.toml:9:") && e.contains("sink 2 (postgres) needs url"), "{e}");
        let e = refused(&P.replace("url = \"${MYSQL_URL}\"\n", ""));
        assert!(e.starts_with("p.toml:2:") && e.contains("source.kind = \"mysql\" needs source.url"), "{e}");
        let e = refused(&format!(
            "{P}[[sink]]\nkind = \"postgres\"\nurl = \"u\"\ntransaction = \"table\"\ndefer_indexes = true\n"
        ));
        assert!(e.starts_with("p.toml:12:") && e.contains("defer_indexes needs transaction"), "{e}");
    }

    #[test]
    fn each_kind_keeps_its_keys() {
        let text = format!("{P}[[sink]]\nkind = \"parquet\"\ndir = \"pq\"\n[[sink]]\nkind = \"postgres\"\nurl = \"${{PG}}\"\nstreams = 2\ntransaction = \"table\"\n");
        let p = Pipeline::parse(&text, Path::new("conf/p.toml"), |v| Some(format!("<{v}>"))).unwrap();
        assert_eq!(p.sinks[0], SinkSpec::Csv { dir: "conf/out".into() });
        assert_eq!(p.sinks[1], SinkSpec::Parquet { dir: "conf/pq".into(), max_file_mb: 512 });
        let pg = p.postgres().expect("a postgres sink");
        assert_eq!(
            (pg.url.as_str(), pg.streams, pg.transaction, pg.schema()),
            ("<PG>", Some(2), TransactionMode::Table, "public")
        );
    }
}
