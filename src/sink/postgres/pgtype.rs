//! The PostgreSQL column types the COPY encoder writes ([`PgTarget`], one per binary
//! send format), which Arrow types each accepts ([`can_encode`]) and what a type
//! modifier would do to a value that does not fit it ([`Limit`]).

use std::fmt;

use arrow::datatypes::{DataType, TimeUnit};

use super::spatial::Spatial;

/// The PostgreSQL type a column is encoded for: one per binary send format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum PgTarget {
    /// boolean.
    Bool,
    /// smallint.
    Int2,
    /// integer.
    Int4,
    /// bigint.
    Int8,
    /// numeric (any precision and scale; the server applies the column's typmod).
    Numeric,
    /// real.
    Float4,
    /// double precision.
    Float8,
    /// text, varchar, bpchar, citext, name and PostgreSQL enum types: the text send format.
    #[default]
    Text,
    /// uuid.
    Uuid,
    /// json (its text).
    Json,
    /// jsonb (version byte 1, then its text).
    Jsonb,
    /// bytea.
    Bytea,
    /// date.
    Date,
    /// time (without time zone).
    Time,
    /// timestamp (without time zone).
    Timestamp,
    /// timestamptz.
    Timestamptz,
    /// interval.
    Interval,
    /// text[] (a MySQL set, split on commas).
    TextArray,
    /// varchar[] (a MySQL set, split on commas): element type varchar.
    VarcharArray,
    /// bit(n) and varbit (a MySQL bit(n)): the bit string of [`CopyColumn::bits`] bits.
    Bit,
    /// PostGIS's geometry (a MySQL spatial value): its EWKB.
    Geometry,
}

impl PgTarget {
    /// The target for a `pg_type.typname` (`int4`, `varchar`, `_text`, …). PostgreSQL
    /// enum types are not known by name: the caller maps them to [`PgTarget::Text`].
    pub fn from_pg_type_name(name: &str) -> Option<PgTarget> {
        Some(match name {
            "bool" | "boolean" => PgTarget::Bool,
            "int2" | "smallint" => PgTarget::Int2,
            "int4" | "integer" | "int" => PgTarget::Int4,
            "int8" | "bigint" => PgTarget::Int8,
            "numeric" | "decimal" => PgTarget::Numeric,
            "float4" | "real" => PgTarget::Float4,
            "float8" | "double precision" => PgTarget::Float8,
            "text" | "varchar" | "bpchar" | "citext" | "name" => PgTarget::Text,
            "uuid" => PgTarget::Uuid,
            "json" => PgTarget::Json,
            "jsonb" => PgTarget::Jsonb,
            "bytea" => PgTarget::Bytea,
            "date" => PgTarget::Date,
            "time" => PgTarget::Time,
            "timestamp" => PgTarget::Timestamp,
            "timestamptz" => PgTarget::Timestamptz,
            "interval" => PgTarget::Interval,
            "_text" | "_citext" => PgTarget::TextArray,
            "_varchar" => PgTarget::VarcharArray,
            "bit" | "varbit" => PgTarget::Bit,
            "geometry" => PgTarget::Geometry,
            _ => return None,
        })
    }

    /// The SQL name, for messages.
    pub fn sql_name(self) -> &'static str {
        match self {
            PgTarget::Bool => "boolean",
            PgTarget::Int2 => "smallint",
            PgTarget::Int4 => "integer",
            PgTarget::Int8 => "bigint",
            PgTarget::Numeric => "numeric",
            PgTarget::Float4 => "real",
            PgTarget::Float8 => "double precision",
            PgTarget::Text => "text",
            PgTarget::Uuid => "uuid",
            PgTarget::Json => "json",
            PgTarget::Jsonb => "jsonb",
            PgTarget::Bytea => "bytea",
            PgTarget::Date => "date",
            PgTarget::Time => "time",
            PgTarget::Timestamp => "timestamp",
            PgTarget::Timestamptz => "timestamptz",
            PgTarget::Interval => "interval",
            PgTarget::TextArray => "text[]",
            PgTarget::VarcharArray => "varchar[]",
            PgTarget::Bit => "bit",
            PgTarget::Geometry => "geometry",
        }
    }
}

impl fmt::Display for PgTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.sql_name())
    }
}

fn is_text(t: &DataType) -> bool {
    matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
}

fn is_binary(t: &DataType) -> bool {
    matches!(t, DataType::Binary | DataType::LargeBinary | DataType::BinaryView | DataType::FixedSizeBinary(_))
}

fn is_utc(tz: &Option<std::sync::Arc<str>>) -> bool {
    match tz {
        None => true,
        Some(z) => matches!(&**z, "UTC" | "utc" | "Z" | "+00:00" | "+00" | "Etc/UTC" | "GMT"),
    }
}

/// Whether a column of Arrow type `t` can be encoded for `target` (a plan-time check;
/// individual values may still be rejected, e.g. 70000 for smallint).
pub fn can_encode(t: &DataType, target: PgTarget) -> bool {
    use PgTarget as P;
    match t {
        DataType::Null => true,
        DataType::Boolean => matches!(target, P::Bool | P::Int2 | P::Int4 | P::Int8 | P::Bit),
        DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64 => matches!(
            target,
            P::Bool | P::Int2 | P::Int4 | P::Int8 | P::Numeric | P::Float4 | P::Float8 | P::Text | P::Bit
        ),
        DataType::Decimal128(..) => matches!(target, P::Numeric | P::Int2 | P::Int4 | P::Int8 | P::Text | P::Bit),
        DataType::Decimal256(..) => matches!(target, P::Numeric | P::Int2 | P::Int4 | P::Int8 | P::Text),
        DataType::Float32 => matches!(target, P::Float4 | P::Float8 | P::Numeric),
        DataType::Float64 => matches!(target, P::Float8 | P::Numeric),
        DataType::Date32 => matches!(target, P::Date | P::Timestamp | P::Timestamptz | P::Text),
        DataType::Timestamp(TimeUnit::Microsecond, tz) => {
            target == P::Timestamptz || (target == P::Timestamp && is_utc(tz))
        }
        DataType::Duration(TimeUnit::Microsecond) => matches!(target, P::Interval | P::Time),
        t if is_text(t) => {
            matches!(target, P::Text | P::Uuid | P::Json | P::Jsonb | P::TextArray | P::VarcharArray)
        }
        DataType::FixedSizeBinary(16) => matches!(target, P::Uuid | P::Bytea),
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => matches!(target, P::Bytea | P::Geometry),
        t if is_binary(t) => target == P::Bytea,
        _ => false,
    }
}

/// What a target column's type modifier does to a value that does not fit it exactly:
/// PostgreSQL would round, truncate or pad it without an error. Each such value is
/// found here, before it is sent ([`super::narrow`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Limit {
    /// Nothing: every value arrives as it is.
    #[default]
    None,
    /// `numeric(precision, scale)`: rounded to `scale` digits, refused past `precision`.
    Numeric {
        /// Total digits.
        precision: u16,
        /// Digits after the point (negative: rounded to tens, hundreds, …).
        scale: i16,
    },
    /// `timestamp(n)`, `time(n)`, `interval(n)`, `interval minute`, …: the value is
    /// rounded (or, for an interval's fields, truncated) to a multiple of this many µs.
    Granule {
        /// The µs the stored value is a multiple of.
        micros: i64,
        /// Truncated (interval fields) rather than rounded (fractional seconds).
        truncates: bool,
    },
    /// `char(n)`: a shorter value is padded with spaces to `n` characters.
    Padded(usize),
    /// `geometry(<kind>, <SRID>)`: an SRID-0 value takes the column's SRID; one of
    /// another SRID or kind is refused.
    Spatial(Spatial),
}

impl Limit {
    /// The limit of a target column from its `pg_type.typname` and `atttypmod`.
    pub fn from_typmod(type_name: &str, typmod: i32) -> Limit {
        match type_name {
            "numeric" if typmod >= 4 => {
                let t = typmod - 4;
                Limit::Numeric { precision: ((t >> 16) & 0xffff) as u16, scale: (((t & 0x7ff) ^ 1024) - 1024) as i16 }
            }
            "timestamp" | "timestamptz" | "time" if (0..6).contains(&typmod) => {
                Limit::Granule { micros: 10i64.pow(6 - typmod as u32), truncates: false }
            }
            "interval" if typmod >= 0 => interval_limit(typmod),
            "bpchar" if typmod > 5 => Limit::Padded((typmod - 4) as usize),
            "geometry" => Spatial::from_typmod(typmod).map_or(Limit::None, Limit::Spatial),
            _ => Limit::None,
        }
    }
}

/// `interval(p)` and `interval <fields>`: the range's smallest field truncates, the
/// precision (on seconds) rounds.
fn interval_limit(typmod: i32) -> Limit {
    const SECOND: i32 = 1 << 12;
    const MINUTE: i32 = 1 << 11;
    const HOUR: i32 = 1 << 10;
    let range = (typmod >> 16) & 0x7fff;
    let precision = typmod & 0xffff;
    if range != 0x7fff && range & SECOND == 0 {
        let micros = if range & MINUTE != 0 {
            60_000_000
        } else if range & HOUR != 0 {
            3_600_000_000
        } else {
            // Day, month or year: the time of day is dropped altogether.
            i64::MAX
        };
        return Limit::Granule { micros, truncates: true };
    }
    if (0..6).contains(&precision) {
        return Limit::Granule { micros: 10i64.pow(6 - precision as u32), truncates: false };
    }
    Limit::None
}
