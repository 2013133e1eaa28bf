//! The plan-time check against the target: every source table and column has a target,
//! every value can be encoded for its target type, no NOT NULL target column is left
//! without a value or default. The target also decides what the source leaves open:
//! a char(36) bound for varchar keeps its values as they are, a plain tinyint bound for
//! boolean is read as a boolean.

use super::copy::CopyColumn;
use super::pgtype::{can_encode, Limit, PgTarget};
use crate::pg::introspect::{PgColumn, PgTable};
use crate::schema::MySqlType;
use crate::types::Logical;

/// One table's target: the target table and, per output column, its target column.
#[derive(Debug, Clone)]
pub struct TableTarget {
    /// The target table's name.
    pub table: String,
    /// Per output column (the order the sinks receive them): the COPY column.
    pub columns: Vec<CopyColumn>,
    /// Per read column (the plan's order): the target column's type as PostgreSQL
    /// prints it, when the output carries the column.
    pub types: Vec<Option<String>>,
}

impl TableTarget {
    /// The target type of read column `k`.
    pub fn type_of(&self, k: usize) -> Option<&str> {
        self.types.get(k).and_then(|t| t.as_deref())
    }
}

/// What the plan-time check found: problems stop the run; narrowing casts are checked
/// value by value as the rows arrive.
#[derive(Debug, Clone, Default)]
pub struct TargetCheck {
    /// `table.column: why` — the run would stop before moving any data.
    pub problems: Vec<String>,
    /// Those of the problems that concern only a load: a table or column the target
    /// lacks, a value it needs that the source does not feed. They say nothing about
    /// what a target already holds, so `verify` leaves them out.
    pub unfed: Vec<String>,
    /// `table.column: source type → target type (what can change)`.
    pub narrowing: Vec<String>,
    /// Other findings worth saying before the run.
    pub notes: Vec<String>,
}

impl TargetCheck {
    /// A problem that concerns only a load (see [`TargetCheck::unfed`]).
    fn unfed(&mut self, problem: String) {
        self.unfed.push(problem.clone());
        self.problems.push(problem);
    }
}

/// What the plan asks of one table's target: the sink's view of a table plan. The plan
/// builds it and applies what [`match_table`] decides; nothing here writes into a plan.
#[derive(Debug, Clone)]
pub struct TableWant<'a> {
    /// The target table's name.
    pub target: &'a str,
    /// Per read column (the plan's order).
    pub columns: Vec<ColumnWant<'a>>,
    /// The output columns in order: name, and the read column it carries (`None`: the
    /// `[[transform]]` computes it).
    pub outputs: Vec<(String, Option<usize>)>,
}

/// One read column, as the target check needs it.
#[derive(Debug, Clone)]
pub struct ColumnWant<'a> {
    /// The source column's name.
    pub name: &'a str,
    /// Its logical type as the source alone decides it.
    pub logical: Logical,
    /// Its MySQL type.
    pub mysql: &'a MySqlType,
    /// A `[[column]]` rule lets the target's type change its values (counted).
    pub allow_change: bool,
}

/// What the target decided for one table: its COPY columns (when every output has a
/// target column) and, per read column, the logical type to read it as.
#[derive(Debug, Clone)]
pub struct TableFit {
    /// The table's target, when it fits.
    pub target: Option<TableTarget>,
    /// Per read column: the logical type the target settles (a char(36) bound for
    /// varchar is text, a tinyint bound for boolean is a boolean).
    pub logical: Vec<Logical>,
}

/// The target table named `target` (for source table `source`), or `None` with the
/// problem noted in `check`.
pub fn find_table<'t>(
    targets: &'t [PgTable],
    target: &str,
    source: &str,
    check: &mut TargetCheck,
) -> Option<&'t PgTable> {
    let found = targets.iter().find(|t| t.name == target);
    if found.is_none() {
        let hint = near_match(target, targets.iter().map(|t| t.name.as_str()));
        let from = if target != source { format!(" (source table `{source}`)") } else { String::new() };
        check.unfed(format!("{target}{from}: no table of that name in the target{hint}"));
    }
    found
}

/// The columns (indexes into `out_names`) the target computes itself
/// (`GENERATED ALWAYS AS (…) STORED`): they take no value from a COPY.
pub fn generated(target: &PgTable, out_names: &[String]) -> Vec<usize> {
    (0..out_names.len()).filter(|&k| target.column(&out_names[k]).is_some_and(|c| c.generated)).collect()
}

/// Why a generated target column is not read.
pub const GENERATED: &str =
    "generated in the target (GENERATED ALWAYS AS … STORED): PostgreSQL computes it, the source's value is not loaded";

/// Matches one table's outputs to `target`'s columns by name, noting every problem and
/// narrowing cast in `check`.
pub fn match_table(want: &TableWant<'_>, target: &PgTable, check: &mut TargetCheck) -> TableFit {
    let name = want.target;
    let mut logical: Vec<Logical> = want.columns.iter().map(|c| c.logical).collect();
    let mut columns = Vec::new();
    let mut types = vec![None; want.columns.len()];
    for (out, read) in &want.outputs {
        let Some(k) = *read else {
            check.problems.push(format!(
                "{name}.{out}: computed by the [[transform]]; only columns the query takes from the table (as they are or renamed with AS) can be checked against and loaded into the target"
            ));
            continue;
        };
        if let Some((column, ty)) = column_target(name, &want.columns[k], &mut logical[k], out, target, check) {
            columns.push(column);
            types[k] = Some(ty);
        }
    }
    for tc in &target.columns {
        let fed = want.outputs.iter().any(|(o, _)| *o == tc.name);
        if !fed && tc.not_null && !tc.has_default {
            check.unfed(format!(
                "{name}.{}: NOT NULL in the target, without a default, and the source has no value for it",
                tc.name
            ));
        }
    }
    let whole = columns.len() == want.outputs.len();
    TableFit { target: whole.then(|| TableTarget { table: target.name.clone(), columns, types }), logical }
}

/// The COPY column for read column `c`, output as `out`, and its target type, or `None`
/// (the problem noted in `check`); narrowing casts are noted too. `logical` is the
/// column's logical type, settled here where the target decides it.
fn column_target(
    name: &str,
    c: &ColumnWant<'_>,
    logical: &mut Logical,
    out: &str,
    target: &PgTable,
    check: &mut TargetCheck,
) -> Option<(CopyColumn, String)> {
    let (allow_change, mysql) = (c.allow_change, c.mysql);
    let Some(tc) = target.column(out) else {
        let hint = near_match(out, target.columns.iter().map(|c| c.name.as_str()));
        let from = if out != c.name { format!(" (source column `{}`)", c.name) } else { String::new() };
        check.unfed(format!("{name}.{out}{from}: no column of that name in the target table{hint}"));
        return None;
    };
    let pg = if tc.is_enum { Some(PgTarget::Text) } else { PgTarget::from_pg_type_name(&tc.type_name) };
    let Some(pg) = pg else {
        check.problems.push(format!("{name}.{out}: target type {} is not supported", tc.sql_type));
        return None;
    };
    // The target decides what the source type leaves open.
    *logical = match (*logical, pg) {
        (Logical::Uuid, PgTarget::Text) => Logical::Text,
        // A `varbinary(16)` joined by a foreign key with a `binary(16)` UUID key (`create`
        // gives the group one type): read as UUIDs; a value that is not one stops the load.
        (Logical::Binary, PgTarget::Uuid) if mysql.max_length == Some(16) => Logical::UuidBinary,
        (Logical::Int8 | Logical::Int16, PgTarget::Bool) => Logical::Bool,
        (Logical::Text, PgTarget::Json | PgTarget::Jsonb) => Logical::Json,
        (l, _) => l,
    };
    if (pg == PgTarget::Geometry) != (*logical == Logical::Geometry) && pg != PgTarget::Bytea {
        check.problems.push(format!(
            "{name}.{out}: a {} value ({}) cannot be loaded into {}: only a MySQL spatial column goes into geometry, and a spatial column only into geometry or bytea",
            logical.name(),
            mysql.column_type,
            tc.sql_type
        ));
        return None;
    }
    if !can_encode(&logical.arrow_type(), pg) {
        check.problems.push(format!(
            "{name}.{out}: a {} value ({}) cannot be encoded for target type {}",
            logical.name(),
            mysql.column_type,
            tc.sql_type
        ));
        return None;
    }
    let bits = bit_width(name, out, mysql, pg, tc, check)?;
    let limit = if tc.is_enum { Limit::None } else { Limit::from_typmod(&tc.type_name, tc.typmod) };
    if let Some(what) = narrowing(mysql, *logical, pg, limit, tc) {
        let how = if allow_change {
            "allowed by a [[column]] rule: the values changed are counted"
        } else {
            "each value is checked; one that would change stops the run"
        };
        check.narrowing.push(format!("{name}.{out}: {} → {}: {what} ({how})", mysql.column_type, tc.sql_type));
    }
    // NULLs bound for a NOT NULL column are data, not plan, problems: `plan --profile` counts them.
    let column = CopyColumn { name: out.to_string(), target: pg, max_chars: tc.max_chars, limit, allow_change, bits };
    Some((column, tc.sql_type.clone()))
}

/// A bit(n)/varbit target's width (`Some(None)` for other targets), or `None` when
/// only a MySQL bit column could fill it; a narrower bit target is noted as narrowing.
fn bit_width(
    name: &str,
    out: &str,
    mysql: &MySqlType,
    pg: PgTarget,
    tc: &PgColumn,
    check: &mut TargetCheck,
) -> Option<Option<usize>> {
    let bits = match (pg, tc.type_name.as_str()) {
        (PgTarget::Bit, _) if !mysql_is_bit(mysql) => {
            check.problems.push(format!(
                "{name}.{out}: only a MySQL bit(n) column can be loaded into {} (the source is {})",
                tc.sql_type, mysql.column_type
            ));
            return None;
        }
        (PgTarget::Bit, "bit") => Some(tc.typmod.max(1) as usize),
        (PgTarget::Bit, _) => Some(mysql.precision.unwrap_or(1) as usize),
        _ => None,
    };
    if let (Some(n), PgTarget::Bit) = (bits, pg) {
        let width = mysql.precision.unwrap_or(1) as usize;
        let varbit_max = (tc.type_name == "varbit" && tc.typmod > 0).then_some(tc.typmod as usize);
        if n < width || varbit_max.is_some_and(|m| m < width) {
            check.narrowing.push(format!(
                "{name}.{out}: {} → {}: values wider than the target's bits are refused",
                mysql.column_type, tc.sql_type
            ));
        }
    }
    Some(bits)
}

/// PostgreSQL keeps the first 63 bytes of an identifier (NAMEDATALEN - 1).
const PG_NAME_BYTES: usize = 63;

/// Why a source name may have no target of that name, when a target name comes close:
/// the same letters in another case (PostgreSQL folds unquoted names to lower case), or
/// a name longer than PostgreSQL's 63 bytes (it keeps the first 63).
fn near_match<'a>(name: &str, candidates: impl Iterator<Item = &'a str> + Clone) -> String {
    if name.len() > PG_NAME_BYTES {
        let mut cut = PG_NAME_BYTES;
        while !name.is_char_boundary(cut) {
            cut -= 1;
        }
        let short = &name[..cut];
        let there = candidates.clone().any(|c| c == short);
        return format!(
            " (the name is {} bytes, longer than PostgreSQL's {PG_NAME_BYTES}: PostgreSQL calls it `{short}`{})",
            name.len(),
            if there { ", which the target has" } else { "" }
        );
    }
    match candidates.into_iter().find(|c| c.eq_ignore_ascii_case(name)) {
        Some(c) => format!(
            " (the target has `{c}`, which differs only in case: PostgreSQL folds unquoted names to lower case, so the target's schema was probably created without quotes)"
        ),
        None => String::new(),
    }
}

fn mysql_is_bit(m: &MySqlType) -> bool {
    m.data_type == "bit"
}

/// What a cast from the source column to the target column can change or refuse, when
/// it can: a smaller scale or precision, fewer fractional seconds, a narrower integer,
/// a shorter text, padding.
fn narrowing(m: &MySqlType, logical: Logical, pg: PgTarget, limit: Limit, tc: &PgColumn) -> Option<String> {
    let int_digits = Logical::integer_digits;
    match limit {
        Limit::Numeric { precision, scale } => {
            let (src_scale, whole) = match logical {
                Logical::Decimal(_, s) => (s as i32, int_digits(logical)?),
                Logical::Float32 | Logical::Float64 => return Some("a float rounded to the scale".into()),
                l => (0, int_digits(l)?),
            };
            let mut what = Vec::new();
            if src_scale > scale as i32 {
                what.push(format!("rounded from {src_scale} to {scale} digits after the point"));
            }
            if whole > precision as i32 - scale as i32 {
                what.push(format!("at most {} digits before the point", precision as i32 - scale as i32));
            }
            (!what.is_empty()).then(|| what.join(", "))
        }
        Limit::Granule { micros, truncates } => {
            let kept = 6 - micros.min(1_000_000).ilog10();
            if truncates {
                Some("an interval restricted to some fields: the rest is truncated".into())
            } else {
                (m.fsp.unwrap_or(6) > kept).then(|| format!("fractional seconds rounded to {kept} digits"))
            }
        }
        Limit::Padded(n) => Some(format!("values shorter than {n} characters are padded with spaces")),
        Limit::Spatial(s) if s.srid != 0 => Some(format!(
            "a value of another kind or SRID is refused; one with SRID 0 would take SRID {}, so it is refused too unless allowed",
            s.srid
        )),
        Limit::Spatial(_) => Some("a value of another kind is refused".into()),
        Limit::None => {
            let range = |bits: i32| int_digits(logical).is_some_and(|d| d > bits);
            match pg {
                PgTarget::Timestamptz if logical == Logical::DateTime => Some(
                    "DATETIME has no zone and is read as UTC; set [source] datetime_zone if it holds local time".into(),
                ),
                PgTarget::Int2 if range(4) => Some("values outside smallint's range are refused".into()),
                PgTarget::Int4 if range(9) => Some("values outside integer's range are refused".into()),
                PgTarget::Int8 if range(18) => Some("values outside bigint's range are refused".into()),
                PgTarget::Int2 | PgTarget::Int4 | PgTarget::Int8 if matches!(logical, Logical::Decimal(_, s) if s > 0) => {
                    Some("values with a fractional part are refused".into())
                }
                PgTarget::Float4 | PgTarget::Float8 if int_digits(logical).is_some() => {
                    Some("integers a float cannot hold exactly are refused".into())
                }
                PgTarget::Text => match (tc.max_chars, m.max_length) {
                    (Some(t), Some(s)) if (s as usize) > t => {
                        Some(format!("values longer than {t} characters are refused"))
                    }
                    (Some(t), None) if !matches!(logical, Logical::Uuid) => {
                        Some(format!("values longer than {t} characters are refused"))
                    }
                    _ => None,
                },
                _ => None,
            }
        }
    }
}

/// The problems of a plan-time check, grouped by cause: the same column and reason in
/// several tables is one line naming the tables (a handful, then how many more), with the
/// fix where one is known (`audit`: the columns a spec export leaves out).
pub fn group_problems(problems: &[String], audit: &[String]) -> Vec<String> {
    let mut groups: Vec<(String, String, Vec<String>)> = Vec::new();
    let mut single = Vec::new();
    for p in problems {
        let parsed = p.split_once(": ").and_then(|(at, why)| at.rsplit_once('.').map(|(t, c)| (t, c, why)));
        let Some((table, column, why)) = parsed else {
            single.push(p.clone());
            continue;
        };
        match groups.iter_mut().find(|(c, w, _)| c == column && w == why) {
            Some(g) => g.2.push(table.to_string()),
            None => groups.push((column.to_string(), why.to_string(), vec![table.to_string()])),
        }
    }
    let mut out = single;
    for (column, why, tables) in groups {
        let shown: Vec<&str> = tables.iter().take(5).map(|t| t.as_str()).collect();
        let more = if tables.len() > 5 { format!(" and {} more", tables.len() - 5) } else { String::new() };
        let mut line = if tables.len() == 1 {
            format!("{}.{column}: {why}", tables[0])
        } else {
            format!("`{column}` in {} tables ({}{more}): {why}", tables.len(), shown.join(", "))
        };
        if audit.contains(&column) && why.contains("source has no value") {
            line.push_str(
                ". The export left it out as an audit column: export again with options.keep_audit_columns = true \
                 (lossless), or import with --audit-defaults (version = 1, createdDate/updatedDate = the export's \
                 timestamp, as the ORM fills a new row)",
            );
        }
        out.push(line);
    }
    out
}

/// An audit column the source does not carry, filled for the target (`audit_defaults`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditFill {
    /// The target table.
    pub table: String,
    /// The column.
    pub column: String,
    /// The SQL literal it is filled with.
    pub value: String,
}

/// One table as `audit_fills` needs it: its target name, the output columns it feeds,
/// and the output names of the pipeline's audit columns.
#[derive(Debug, Clone)]
pub struct AuditWant<'a> {
    /// The target table.
    pub target: &'a str,
    /// The output columns the table feeds.
    pub fed: Vec<String>,
    /// The audit columns, under their output names.
    pub audit: Vec<String>,
}

/// The audit columns `audit_defaults` fills: those of `audit` the plan does not feed —
/// `version` (an integer the target requires, without a default) with 1, a date or
/// timestamp with `timestamp`. Returns the fills and the problems they answer.
pub fn audit_fills(tables: &[AuditWant<'_>], targets: &[PgTable], timestamp: &str) -> (Vec<AuditFill>, Vec<String>) {
    let mut fills = Vec::new();
    let mut answered = Vec::new();
    for want in tables {
        let Some(t) = targets.iter().find(|t| t.name == want.target) else { continue };
        for tc in t.columns.iter().filter(|c| want.audit.contains(&c.name)) {
            if want.fed.contains(&tc.name) {
                continue;
            }
            // A date takes the export's timestamp even over a target default (`now()`
            // would be the import's time); a version only where the target has no default.
            let value = match tc.type_name.as_str() {
                "int2" | "int4" | "int8" | "numeric" if tc.not_null && !tc.has_default => "1".to_string(),
                "timestamp" | "timestamptz" | "date" => crate::ident::pg_literal(timestamp),
                _ => continue,
            };
            answered.push(format!(
                "{}.{}: NOT NULL in the target, without a default, and the source has no value for it",
                t.name, tc.name
            ));
            fills.push(AuditFill { table: t.name.clone(), column: tc.name.clone(), value });
        }
    }
    (fills, answered)
}
