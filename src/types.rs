//! The one MySQL → Arrow → CSV → PostgreSQL type mapping, as data.
//!
//! [`classify`] turns a MySQL column type into a [`Logical`] type; [`MAPPING`] then says,
//! for every logical type, the Arrow type the source reads, the Arrow type after
//! normalisation, how the CSV sink writes it and which PostgreSQL types accept it.
//! Nothing else in the crate decides a type.

use arrow::datatypes::{DataType, TimeUnit};

/// A column's MySQL type, as information_schema describes it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MySqlType {
    /// The base type in lower case: `tinyint`, `varchar`, `datetime`, …
    pub data_type: String,
    /// The full column type in lower case: `tinyint(1) unsigned`, `enum('a','b')`, …
    pub column_type: String,
    /// `unsigned` integer or decimal.
    pub unsigned: bool,
    /// Numeric precision (decimal) or bit width (bit).
    pub precision: Option<u32>,
    /// Numeric scale (decimal).
    pub scale: Option<u32>,
    /// Maximum length in characters (char family) or bytes (binary family).
    pub max_length: Option<u64>,
    /// Fractional seconds precision (datetime, timestamp, time).
    pub fsp: Option<u32>,
    /// Character set of a text column (`utf8mb4`, `latin1`, …).
    pub charset: Option<String>,
    /// MariaDB's `json_valid(col)` check constraint marks a longtext as JSON.
    pub json_check: bool,
    /// A spatial column's SRID attribute (MySQL 8's `SRID n`, which the server enforces;
    /// MariaDB has none it enforces).
    pub srid: Option<u32>,
}

impl MySqlType {
    /// Builds a type from a column type string such as `decimal(65,30) unsigned`
    /// (the form information_schema and `CREATE TABLE` both use).
    pub fn parse(column_type: &str) -> MySqlType {
        // Lower case, except inside quotes: an enum's labels keep their case.
        let mut quoted = false;
        let ct: String = column_type
            .trim()
            .chars()
            .map(|c| {
                if c == '\'' {
                    quoted = !quoted;
                }
                if quoted {
                    c
                } else {
                    c.to_ascii_lowercase()
                }
            })
            .collect();
        let base_end = ct.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(ct.len());
        let data_type = ct[..base_end].to_string();
        let args: Vec<u64> = match (ct.find('('), ct.find(')')) {
            (Some(a), Some(b)) if b > a && !matches!(data_type.as_str(), "enum" | "set") => {
                ct[a + 1..b].split(',').filter_map(|s| s.trim().parse().ok()).collect()
            }
            _ => Vec::new(),
        };
        let unsigned = ct.contains(" unsigned");
        let mut t = MySqlType { data_type: data_type.clone(), column_type: ct.clone(), unsigned, ..Default::default() };
        match data_type.as_str() {
            "decimal" | "numeric" | "dec" | "fixed" => {
                t.precision = Some(args.first().copied().unwrap_or(10) as u32);
                t.scale = Some(args.get(1).copied().unwrap_or(0) as u32);
            }
            "bit" => t.precision = Some(args.first().copied().unwrap_or(1) as u32),
            "datetime" | "timestamp" | "time" => t.fsp = Some(args.first().copied().unwrap_or(0) as u32),
            "char" | "varchar" | "binary" | "varbinary" => t.max_length = args.first().copied(),
            _ => {}
        }
        t
    }

    /// The values of an `enum(…)` or `set(…)` type, unquoted.
    pub fn members(&self) -> Vec<String> {
        let ct = &self.column_type;
        let (Some(a), Some(b)) = (ct.find('('), ct.rfind(')')) else { return Vec::new() };
        let inner = &ct[a + 1..b];
        let mut out = Vec::new();
        let mut cur = String::new();
        let mut in_q = false;
        let mut chars = inner.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\'' if in_q && chars.peek() == Some(&'\'') => {
                    cur.push('\'');
                    chars.next();
                }
                '\'' => {
                    in_q = !in_q;
                    if !in_q {
                        out.push(std::mem::take(&mut cur));
                    }
                }
                _ if in_q => cur.push(c),
                _ => {}
            }
        }
        out
    }
}

/// How `converge` carries one column from MySQL to its sinks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Logical {
    /// tinyint(1), bit(1): 0/1 → Boolean.
    Bool,
    /// tinyint.
    Int8,
    /// smallint, tinyint unsigned, year.
    Int16,
    /// mediumint (both signs), int, smallint unsigned.
    Int32,
    /// bigint, int unsigned, bit(2..63).
    Int64,
    /// bigint unsigned, bit(64): Decimal128(20, 0).
    UInt64,
    /// decimal(p, s).
    Decimal(u8, i8),
    /// float.
    Float32,
    /// double.
    Float64,
    /// date.
    Date,
    /// datetime(n): wall-clock time, read as UTC.
    DateTime,
    /// timestamp(n): an instant (session time zone +00:00).
    Timestamp,
    /// time(n): a signed duration, may exceed 24 h.
    Time,
    /// year.
    Year,
    /// char/varchar/text family (any character set, transcoded to UTF-8).
    Text,
    /// char(36) holding UUIDs: lower-cased canonical form.
    Uuid,
    /// binary(16) holding UUIDs.
    UuidBinary,
    /// binary/varbinary/blob family.
    Binary,
    /// MySQL json, MariaDB longtext with a json_valid check: validated text.
    Json,
    /// enum: its member as text.
    Enum,
    /// set: its members as comma-separated text.
    Set,
    /// geometry types: MySQL's own bytes (a 4-byte little-endian SRID, then WKB).
    Geometry,
}

/// The static facts of one logical type: one row of the mapping table.
#[derive(Debug, Clone, Copy)]
pub struct Mapping {
    /// The logical type this row describes.
    pub logical: Logical,
    /// MySQL types that map here (for `plan` and the docs).
    pub mysql: &'static str,
    /// How the CSV sink writes a value.
    pub csv: &'static str,
    /// PostgreSQL type used when `converge` creates the table.
    pub pg_create: &'static str,
    /// PostgreSQL types a value of this kind can be encoded for.
    pub pg_accepts: &'static [&'static str],
}

const INTS: &[&str] = &["int2", "int4", "int8", "numeric", "float8", "text", "varchar"];

/// The mapping table (docs/architecture.md, "Type mapping"). Decimal, whose Arrow type carries
/// parameters, is described by [`Logical::read_type`] and [`Logical::arrow_type`].
pub const MAPPING: &[Mapping] = &[
    Mapping {
        logical: Logical::Bool,
        mysql: "tinyint(1), bit(1)",
        csv: "t / f",
        pg_create: "boolean",
        pg_accepts: &["bool", "int2", "int4", "int8"],
    },
    Mapping { logical: Logical::Int8, mysql: "tinyint", csv: "integer", pg_create: "smallint", pg_accepts: INTS },
    Mapping {
        logical: Logical::Int16,
        mysql: "smallint, tinyint unsigned",
        csv: "integer",
        pg_create: "smallint",
        pg_accepts: INTS,
    },
    Mapping {
        logical: Logical::Int32,
        mysql: "mediumint, int, smallint unsigned, mediumint unsigned",
        csv: "integer",
        pg_create: "integer",
        pg_accepts: INTS,
    },
    Mapping {
        logical: Logical::Int64,
        mysql: "bigint, int unsigned, bit(n)",
        csv: "integer",
        pg_create: "bigint",
        pg_accepts: INTS,
    },
    Mapping {
        logical: Logical::UInt64,
        mysql: "bigint unsigned, bit(64)",
        csv: "integer",
        pg_create: "numeric(20)",
        pg_accepts: &["numeric", "int8", "text", "varchar"],
    },
    Mapping {
        logical: Logical::Decimal(0, 0),
        mysql: "decimal(p,s)",
        csv: "decimal text, scale kept",
        pg_create: "numeric(p,s)",
        pg_accepts: &["numeric", "text", "varchar"],
    },
    Mapping {
        logical: Logical::Float32,
        mysql: "float",
        csv: "shortest round-trip float",
        pg_create: "real",
        pg_accepts: &["float4", "float8", "numeric"],
    },
    Mapping {
        logical: Logical::Float64,
        mysql: "double",
        csv: "shortest round-trip float",
        pg_create: "double precision",
        pg_accepts: &["float8", "numeric"],
    },
    Mapping {
        logical: Logical::Date,
        mysql: "date",
        csv: "YYYY-MM-DD",
        pg_create: "date",
        pg_accepts: &["date", "timestamp", "timestamptz", "text"],
    },
    Mapping {
        logical: Logical::DateTime,
        mysql: "datetime(n)",
        csv: "ISO 8601 UTC, `Z`, µs when present",
        pg_create: "timestamp(n)",
        pg_accepts: &["timestamp", "timestamptz"],
    },
    Mapping {
        logical: Logical::Timestamp,
        mysql: "timestamp(n)",
        csv: "ISO 8601 UTC, `Z`, µs when present",
        pg_create: "timestamptz(n)",
        pg_accepts: &["timestamptz", "timestamp"],
    },
    Mapping {
        logical: Logical::Time,
        mysql: "time(n)",
        csv: "[-]H:MM:SS[.ffffff]",
        pg_create: "interval",
        pg_accepts: &["interval", "time"],
    },
    Mapping { logical: Logical::Year, mysql: "year", csv: "integer", pg_create: "smallint", pg_accepts: INTS },
    Mapping {
        logical: Logical::Text,
        mysql: "char, varchar, *text (any charset)",
        csv: "text, quoted when needed",
        pg_create: "text",
        pg_accepts: &["text", "varchar", "bpchar", "citext", "json", "jsonb", "uuid"],
    },
    Mapping {
        logical: Logical::Uuid,
        mysql: "char(36)",
        csv: "lowercase uuid",
        pg_create: "uuid",
        pg_accepts: &["uuid", "varchar", "bpchar", "text"],
    },
    Mapping {
        logical: Logical::UuidBinary,
        mysql: "binary(16)",
        csv: "\\x hex",
        pg_create: "bytea",
        pg_accepts: &["uuid", "bytea"],
    },
    Mapping {
        logical: Logical::Binary,
        mysql: "binary, varbinary, *blob",
        csv: "\\x hex",
        pg_create: "bytea",
        pg_accepts: &["bytea"],
    },
    Mapping {
        logical: Logical::Json,
        mysql: "json, longtext + json_valid",
        csv: "JSON text, always quoted",
        pg_create: "jsonb",
        pg_accepts: &["jsonb", "json", "text"],
    },
    Mapping {
        logical: Logical::Enum,
        mysql: "enum",
        csv: "text",
        pg_create: "text",
        pg_accepts: &["text", "varchar", "enum"],
    },
    Mapping {
        logical: Logical::Set,
        mysql: "set",
        csv: "text (comma-separated members)",
        pg_create: "text",
        pg_accepts: &["text", "varchar", "_text"],
    },
    Mapping {
        logical: Logical::Geometry,
        mysql: "geometry, point, …",
        csv: "\\x hex (4-byte SRID, then WKB: MySQL's own form)",
        pg_create: "bytea",
        pg_accepts: &["bytea", "geometry"],
    },
];

/// MySQL's spatial types and PostGIS's name for each (`geometry(<name>)`); a MySQL
/// `geometry` column holds any kind, as a plain PostGIS `geometry` does.
pub const SPATIAL: &[(&str, Option<&str>)] = &[
    ("geometry", None),
    ("point", Some("Point")),
    ("linestring", Some("LineString")),
    ("polygon", Some("Polygon")),
    ("multipoint", Some("MultiPoint")),
    ("multilinestring", Some("MultiLineString")),
    ("multipolygon", Some("MultiPolygon")),
    ("geometrycollection", Some("GeometryCollection")),
    ("geomcollection", Some("GeometryCollection")),
];

/// The PostGIS type a MySQL spatial column is created as, in a target with PostGIS
/// (`geometry` named by `geometry`, qualified by the extension's schema): the column's
/// kind, and its SRID where MySQL enforces one (MySQL 8's `SRID n`). A MariaDB column
/// has no SRID it enforces, so its type carries none and each value keeps its own.
pub fn postgis_type(t: &MySqlType, geometry: &str) -> String {
    let kind = SPATIAL.iter().find(|(m, _)| *m == t.data_type).and_then(|(_, g)| *g);
    match (kind, t.srid) {
        (Some(k), Some(srid)) => format!("{geometry}({k}, {srid})"),
        (None, Some(srid)) => format!("{geometry}(Geometry, {srid})"),
        (Some(k), None) => format!("{geometry}({k})"),
        (None, None) => geometry.to_string(),
    }
}

/// Decides the logical type of a MySQL column from its type alone. Plain `tinyint`
/// (MySQL 8 drops the display width) stays an integer unless a `[[column]]` rule or the
/// target says boolean; `tinyint(1)` is always boolean.
pub fn classify(t: &MySqlType) -> Logical {
    let ct = t.column_type.as_str();
    match t.data_type.as_str() {
        "tinyint" if ct.starts_with("tinyint(1)") => Logical::Bool,
        "tinyint" if t.unsigned => Logical::Int16,
        "tinyint" => Logical::Int8,
        "smallint" if t.unsigned => Logical::Int32,
        "smallint" => Logical::Int16,
        "mediumint" => Logical::Int32,
        "int" | "integer" if t.unsigned => Logical::Int64,
        "int" | "integer" => Logical::Int32,
        "bigint" if t.unsigned => Logical::UInt64,
        "bigint" => Logical::Int64,
        "bit" => match t.precision.unwrap_or(1) {
            1 => Logical::Bool,
            64 => Logical::UInt64,
            _ => Logical::Int64,
        },
        "decimal" | "numeric" | "dec" | "fixed" => {
            Logical::Decimal(t.precision.unwrap_or(10).min(76) as u8, t.scale.unwrap_or(0) as i8)
        }
        "float" => Logical::Float32,
        "double" | "real" => Logical::Float64,
        "date" => Logical::Date,
        "datetime" => Logical::DateTime,
        "timestamp" => Logical::Timestamp,
        "time" => Logical::Time,
        "year" => Logical::Year,
        "char" if t.max_length == Some(36) => Logical::Uuid,
        "json" => Logical::Json,
        "longtext" | "text" | "mediumtext" if t.json_check => Logical::Json,
        "char" | "varchar" | "tinytext" | "text" | "mediumtext" | "longtext" => Logical::Text,
        "binary" if t.max_length == Some(16) => Logical::UuidBinary,
        "binary" | "varbinary" | "tinyblob" | "blob" | "mediumblob" | "longblob" => Logical::Binary,
        "enum" => Logical::Enum,
        "set" => Logical::Set,
        _ => Logical::Geometry,
    }
}

impl Logical {
    /// Parses a pipeline's type override (`boolean`, `uuid`, `text`, `json`, …).
    pub fn from_name(name: &str) -> Option<Logical> {
        Some(match name {
            "boolean" | "bool" => Logical::Bool,
            "uuid" => Logical::Uuid,
            "text" => Logical::Text,
            "json" => Logical::Json,
            "binary" | "bytea" => Logical::Binary,
            _ => return None,
        })
    }

    /// Whether an override to `to` is possible for a column classified as `self`.
    pub fn can_become(self, to: Logical) -> bool {
        use Logical::*;
        matches!(
            (self, to),
            (Bool | Int8 | Int16, Bool)
                | (Int8 | Int16, Int16)
                | (Bool, Int8)
                | (Text | Uuid | Json | Enum | Set, Text)
                | (Text | Uuid, Uuid)
                | (Binary, Text)
                | (Text | Json, Json)
                | (UuidBinary | Binary, Binary)
        ) || self == to
    }

    /// This logical type's row of [`MAPPING`].
    pub fn mapping(self) -> &'static Mapping {
        let key = match self {
            Logical::Decimal(..) => Logical::Decimal(0, 0),
            other => other,
        };
        MAPPING.iter().find(|m| m.logical == key).expect("every logical type has a mapping row")
    }

    /// The Arrow type the source readers produce.
    pub fn read_type(self) -> DataType {
        match self {
            Logical::Bool => DataType::Int8,
            Logical::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, None),
            Logical::Uuid | Logical::Json => DataType::Utf8,
            other => other.arrow_type(),
        }
    }

    /// An integer or decimal: an exact number, compared and range-checked as one.
    pub fn is_exact_number(self) -> bool {
        self.integer_digits().is_some() && self != Logical::Bool
    }

    /// The most digits a value can have before the point (integers, decimals, booleans).
    pub fn integer_digits(self) -> Option<i32> {
        match self {
            Logical::Bool | Logical::Int8 => Some(3),
            Logical::Int16 | Logical::Year => Some(5),
            Logical::Int32 => Some(10),
            Logical::Int64 => Some(19),
            Logical::UInt64 => Some(20),
            Logical::Decimal(p, s) => Some(p as i32 - s as i32),
            _ => None,
        }
    }

    /// The Arrow type after normalisation: what sinks and SQL see.
    pub fn arrow_type(self) -> DataType {
        match self {
            Logical::Bool => DataType::Boolean,
            Logical::Int8 => DataType::Int8,
            Logical::Int16 | Logical::Year => DataType::Int16,
            Logical::Int32 => DataType::Int32,
            Logical::Int64 => DataType::Int64,
            Logical::UInt64 => DataType::Decimal128(20, 0),
            Logical::Decimal(p, s) if p <= 38 => DataType::Decimal128(p, s),
            Logical::Decimal(p, s) => DataType::Decimal256(p, s),
            Logical::Float32 => DataType::Float32,
            Logical::Float64 => DataType::Float64,
            Logical::Date => DataType::Date32,
            Logical::DateTime => DataType::Timestamp(TimeUnit::Microsecond, None),
            Logical::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            Logical::Time => DataType::Duration(TimeUnit::Microsecond),
            Logical::Text | Logical::Uuid | Logical::Json | Logical::Enum | Logical::Set => DataType::Utf8,
            Logical::UuidBinary => DataType::FixedSizeBinary(16),
            Logical::Binary | Logical::Geometry => DataType::Binary,
        }
    }

    /// The PostgreSQL type `converge` would create for this column.
    pub fn pg_create(self) -> String {
        match self {
            Logical::Decimal(p, s) => format!("numeric({p},{s})"),
            other => other.mapping().pg_create.to_string(),
        }
    }

    /// A short stable name, used in manifests and by `query` to type CSV columns back.
    pub fn name(self) -> String {
        match self {
            Logical::Decimal(p, s) => format!("decimal({p},{s})"),
            other => format!("{other:?}").to_ascii_lowercase(),
        }
    }

    /// The logical type of an Arrow column that no source column describes (a column a
    /// `[[transform]]` query computed).
    pub fn from_arrow(t: &DataType) -> Option<Logical> {
        Some(match t {
            DataType::Boolean => Logical::Bool,
            DataType::Int8 => Logical::Int8,
            DataType::Int16 => Logical::Int16,
            DataType::Int32 => Logical::Int32,
            DataType::Int64 => Logical::Int64,
            DataType::Decimal128(p, s) | DataType::Decimal256(p, s) => Logical::Decimal(*p, *s),
            DataType::Float32 => Logical::Float32,
            DataType::Float64 => Logical::Float64,
            DataType::Date32 => Logical::Date,
            DataType::Timestamp(TimeUnit::Microsecond, None) => Logical::DateTime,
            DataType::Timestamp(TimeUnit::Microsecond, Some(_)) => Logical::Timestamp,
            DataType::Duration(TimeUnit::Microsecond) => Logical::Time,
            DataType::Utf8 => Logical::Text,
            DataType::FixedSizeBinary(16) => Logical::UuidBinary,
            DataType::Binary => Logical::Binary,
            _ => return None,
        })
    }

    /// Inverse of [`Logical::name`].
    pub fn from_manifest_name(name: &str) -> Option<Logical> {
        if let Some(args) = name.strip_prefix("decimal(").and_then(|r| r.strip_suffix(')')) {
            let (p, s) = args.split_once(',')?;
            return Some(Logical::Decimal(p.trim().parse().ok()?, s.trim().parse().ok()?));
        }
        MAPPING.iter().map(|m| m.logical).find(|l| l.name() == name && !matches!(l, Logical::Decimal(..)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(t: &str) -> Logical {
        classify(&MySqlType::parse(t))
    }

    #[test]
    fn classifies_every_family() {
        assert_eq!(c("tinyint(1)"), Logical::Bool);
        assert_eq!(c("bit(1)"), Logical::Bool);
        assert_eq!(c("tinyint"), Logical::Int8);
        assert_eq!(c("tinyint(3) unsigned"), Logical::Int16);
        assert_eq!(c("int(10) unsigned"), Logical::Int64);
        assert_eq!(c("bigint(20) unsigned"), Logical::UInt64);
        assert_eq!(c("decimal(65,30)").arrow_type(), DataType::Decimal256(65, 30));
        assert_eq!(c("char(36)"), Logical::Uuid);
        assert_eq!(c("binary(16)"), Logical::UuidBinary);
        assert_eq!(c("varchar(36)"), Logical::Text);
        assert_eq!(c("enum('a','b')"), Logical::Enum);
        assert_eq!(c("time(6)").arrow_type(), DataType::Duration(TimeUnit::Microsecond));
    }

    #[test]
    fn spatial_types_name_their_postgis_kind_and_srid() {
        let g = |t: &str, srid| postgis_type(&MySqlType { srid, ..MySqlType::parse(t) }, "geometry");
        assert_eq!(g("point", None), "geometry(Point)");
        assert_eq!(g("multipolygon", Some(4326)), "geometry(MultiPolygon, 4326)");
        assert_eq!(g("geomcollection", Some(0)), "geometry(GeometryCollection, 0)");
        assert_eq!(g("geometry", None), "geometry");
        assert_eq!(g("geometry", Some(3857)), "geometry(Geometry, 3857)");
        for (mysql, _) in SPATIAL {
            assert_eq!(c(mysql), Logical::Geometry);
        }
    }

    #[test]
    fn manifest_names_round_trip() {
        for m in MAPPING {
            let l = if let Logical::Decimal(..) = m.logical { Logical::Decimal(65, 30) } else { m.logical };
            assert_eq!(Logical::from_manifest_name(&l.name()), Some(l));
        }
    }
}
