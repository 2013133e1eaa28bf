//! Canonical values for comparing a source row with its target row: for every
//! (logical type, target type) pair, one MySQL expression and one PostgreSQL expression
//! that give the same text for the same value. Most are computed by the servers, so a
//! whole table is digested without shipping it; JSON (compared by meaning) is made
//! canonical here. Floats are compared by their exact value, computed by both servers.
//!
//! | logical | canonical text |
//! |---|---|
//! | boolean | `1` / `0` |
//! | integers, year, decimal | the number as the server prints it (scale kept) |
//! | float, double | `sign:k:m`, the exact value sign × m × 2^k (server; [`mysql_float_bits`]) |
//! | date | `YYYY-MM-DD` (zero dates: NULL, as the load writes them) |
//! | datetime, timestamp | `YYYY-MM-DD HH:MM:SS.ffffff`, UTC |
//! | time | signed microseconds |
//! | text, enum, set | the characters, exactly (`set` into `text[]`: comma-joined) |
//! | uuid (char(36)) | lower-case |
//! | binary, blob, binary(16) | lower-case hex of the bytes |
//! | spatial into PostGIS geometry | `SRID:` and the MD5 of the little-endian WKB |
//! | json | keys sorted (of duplicates the last, or MariaDB's first), numbers as exact decimals, no whitespace (client) |
//!
//! NULL stays NULL and is distinct from the empty string in the row digest.

use crate::ident;
use crate::types::{Logical, MySqlType};

/// Which columns the client canonicalises (the servers cannot agree on their text).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientKind {
    /// JSON, compared by meaning (of duplicate keys the last counts: jsonb, MySQL 8).
    Json,
    /// JSON, compared by meaning, the first of duplicate keys counting (MariaDB's reading).
    JsonFirst,
}

/// How one column is compared.
#[derive(Debug, Clone)]
pub struct ColumnCanon {
    /// The column's name in the source.
    pub name: String,
    /// The column's name in the target (`[[column]] target`, `options.names`).
    pub pg_name: String,
    /// MySQL expression giving the canonical text (or the raw text for client columns).
    pub mysql: String,
    /// PostgreSQL expression giving the canonical text (or the raw text for client columns).
    pub pg: String,
    /// Set when the client, not the servers, makes the value canonical.
    pub client: Option<ClientKind>,
    /// Key columns: compare ranges by number instead of by canonical text.
    pub numeric: bool,
    /// The target column is a PostgreSQL uuid (key ranges can use its index).
    pub pg_uuid: bool,
    /// MySQL can bound the key by the column itself, in its own collation, and so from
    /// its index ([`ColumnCanon::bound_by_index`]).
    pub index_order: bool,
    /// Both sides' canonical text is drawn from a fixed alphabet without `|` and is never
    /// `~` (digits, signs, date punctuation, hex): the row digest then needs no length
    /// prefix for it, and the servers evaluate its expression once instead of twice.
    pub fixed_alphabet: bool,
    /// The MySQL expression of the canonical text's length in bytes, where it is cheaper
    /// than measuring [`ColumnCanon::mysql`] (a lower-cased UUID has its column's length).
    pub mysql_len: Option<String>,
    /// The same for PostgreSQL (a uuid's text is always 36 bytes).
    pub pg_len: Option<String>,
}

impl ColumnCanon {
    /// A `char(36)` key of a case-insensitive utf8mb4 collation whose target is a
    /// PostgreSQL uuid: every key is a UUID (the load refused anything else), and over
    /// hex digits and dashes a case-insensitive collation orders as the lower-case text
    /// does byte by byte, which is uuid order. So the range bounds can be compared with
    /// the column in its own collation — an index range on MySQL's side, where
    /// `utf8mb4_bin` would scan.
    pub fn bound_by_index(mut self, source_collation: Option<&str>, source_charset: Option<&str>) -> ColumnCanon {
        let ci = source_collation.is_some_and(|c| c.ends_with("_ci"));
        self.index_order = self.pg_uuid && ci && source_charset == Some("utf8mb4");
        self
    }
}

const UUID_RE: &str = "^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$";

/// One column to compare: its names and types on both sides.
#[derive(Debug, Clone, Copy)]
pub struct Pair<'a> {
    /// The source column.
    pub name: &'a str,
    /// The target column (`[[column]] target`, `options.names`).
    pub pg_name: &'a str,
    /// How `converge` carries it.
    pub logical: Logical,
    /// The target's `pg_type.typname`.
    pub pg_type: &'a str,
    /// The target type is an enum.
    pub pg_enum: bool,
    /// A MySQL `bit(n)`, compared as the integer it holds.
    pub is_bit: bool,
    /// `[source] datetime_zone`: a DATETIME read in that zone, whose target instant is
    /// compared as the wall time it is in that zone.
    pub zone: Option<&'a str>,
    /// The source column's declared type, when known. Where MySQL's own text of the value
    /// is already canonical (UTF-8 text, a DATETIME(6), a DECIMAL's digits), the digest
    /// uses the bare column: MySQL evaluates no formatting function per row, and the
    /// target side is shaped to that text instead (see `docs/architecture.md`,
    /// "Verification").
    pub source: Option<&'a MySqlType>,
    /// The target column's `atttypmod` (-1: none).
    pub pg_typmod: i32,
    /// The column is part of the key rows are compared by (its canonical text bounds
    /// ranges and names rows in reports, so it stays the value's own text).
    pub key: bool,
    /// JSON: the first of an object's duplicate keys counts (MariaDB's reading, or the
    /// pipeline's `json_duplicates = "first"`), not the last.
    pub json_first: bool,
    /// The schema of the target's PostGIS extension: its functions are called through
    /// it, so a PostGIS off the search path is still reached.
    pub postgis: Option<&'a str>,
}

/// The canonical expressions of a column carried as `logical` into a target column of
/// PostgreSQL type `pg_type`, both sides named `name`, the source's type unknown.
pub fn column(
    name: &str,
    logical: Logical,
    pg_type: &str,
    pg_enum: bool,
    is_bit: bool,
    zone: Option<&str>,
) -> ColumnCanon {
    column_of(&Pair {
        name,
        pg_name: name,
        logical,
        pg_type,
        pg_enum,
        is_bit,
        zone,
        source: None,
        pg_typmod: -1,
        key: false,
        json_first: false,
        postgis: None,
    })
}

/// The canonical expressions of one column pair.
pub fn column_of(p: &Pair) -> ColumnCanon {
    let (logical, pg_type) = (p.logical, p.pg_type);
    let text_target = p.pg_enum || matches!(pg_type, "text" | "varchar" | "bpchar" | "citext");
    let json_target = matches!(pg_type, "json" | "jsonb");
    let s = Sides {
        m: ident::mysql(p.name),
        g: ident::pg(p.pg_name),
        pg_type,
        text_target,
        is_bit: p.is_bit,
        zone: p.zone,
        source: p.source,
        // numeric's typmod is ((p << 16) | s) + 4.
        pg_scale: (pg_type == "numeric" && p.pg_typmod >= 4).then(|| (p.pg_typmod - 4) & 0xffff),
    };
    let (m, g) = (&s.m, &s.g);
    let json_kind = if p.json_first { ClientKind::JsonFirst } else { ClientKind::Json };
    let mut client = None;
    let mut numeric = false;
    let (mut mysql_len, mut pg_len) = (None, None);
    let (mysql, pg) = match logical {
        Logical::Bool => s.boolean(),
        Logical::Int8
        | Logical::Int16
        | Logical::Int32
        | Logical::Int64
        | Logical::UInt64
        | Logical::Year
        | Logical::Decimal(..) => {
            numeric = true;
            s.number(logical)
        }
        // A FLOAT in a double precision target is its own value (0.100000001490116…), as
        // the load writes it; one in a numeric target is its shortest decimal (0.1),
        // compared at the float's own precision.
        Logical::Float32 if pg_type == "float8" => {
            (mysql_float_bits(&format!("CAST({m} AS DOUBLE)")), pg_float_bits(&format!("{g}::float8")))
        }
        Logical::Float32 => {
            (mysql_float_bits(&format!("CAST({m} AS DOUBLE)")), pg_float_bits(&format!("{g}::float4::float8")))
        }
        Logical::Float64 => (mysql_float_bits(&format!("CAST({m} AS DOUBLE)")), pg_float_bits(&format!("{g}::float8"))),
        Logical::Date | Logical::DateTime | Logical::Timestamp => s.date_time(logical),
        Logical::Time => (
            format!("CAST(TIME_TO_SEC({m}) * 1000000 AS SIGNED)"),
            format!("(extract(epoch from {g}) * 1000000)::bigint::text"),
        ),
        Logical::Json => {
            client = Some(json_kind);
            (s.utf8mb4(), format!("{g}::text"))
        }
        Logical::Text | Logical::Enum | Logical::Set if json_target => {
            client = Some(json_kind);
            (s.utf8mb4(), format!("{g}::text"))
        }
        Logical::Uuid | Logical::Text if pg_type == "uuid" => {
            // Every target value is a UUID's 36 lower-case ASCII characters, so the
            // source's lower-cased text is equal exactly when it is that UUID in any case.
            // Its length is the column's own: lower-casing keeps an ASCII text's length,
            // and a text with any other character can equal no UUID whatever its length
            // prefix says (no other character lower-cases to a hex digit or a dash).
            mysql_len = Some(format!("LENGTH({m})"));
            pg_len = Some("36".to_string());
            (format!("LOWER({})", s.utf8mb4()), format!("{g}::text"))
        }
        Logical::Text | Logical::Enum | Logical::Set => s.text(),
        Logical::Uuid => (
            format!("CONVERT(CASE WHEN {m} REGEXP '{UUID_RE}' THEN LOWER({m}) ELSE {m} END USING utf8mb4)"),
            format!("{g}::text"),
        ),
        // A PostGIS geometry: by its SRID and its WKB (MySQL's bytes after the SRID;
        // PostGIS's little-endian WKB, the byte order MySQL stores).
        Logical::Geometry if pg_type == "geometry" => {
            let f = |name: &str| p.postgis.map_or_else(|| name.to_string(), |s| ident::pg_qualified(s, name));
            (
                format!("CONCAT(ST_SRID({m}), ':', MD5(SUBSTRING({m}, 5)))"),
                format!("{}({g}) || ':' || md5({}({g}, 'NDR'))", f("st_srid"), f("st_asbinary")),
            )
        }
        // Bytes that are not a key are compared by their MD5 (both servers hash the bytes
        // as stored): half the bytes to hash that their hex would be, and no hex to build.
        Logical::Binary | Logical::Geometry if pg_type == "bytea" && !p.key => {
            (format!("MD5({m})"), format!("md5({g})"))
        }
        Logical::UuidBinary | Logical::Binary | Logical::Geometry => s.binary(),
    };
    // A text or JSON target can hold anything (its side's text is not drawn from the
    // type's alphabet), so such a column keeps its length prefix whatever its type.
    let fixed_type = matches!(
        logical,
        Logical::Bool
            | Logical::Int8
            | Logical::Int16
            | Logical::Int32
            | Logical::Int64
            | Logical::UInt64
            | Logical::Year
            | Logical::Decimal(..)
            | Logical::Float32
            | Logical::Float64
            | Logical::Date
            | Logical::DateTime
            | Logical::Timestamp
            | Logical::Time
            | Logical::UuidBinary
            | Logical::Binary
            | Logical::Geometry
    );
    ColumnCanon {
        name: p.name.to_string(),
        pg_name: p.pg_name.to_string(),
        mysql,
        pg,
        client,
        numeric,
        pg_uuid: pg_type == "uuid",
        index_order: false,
        fixed_alphabet: fixed_type && !text_target && !json_target && client.is_none(),
        mysql_len,
        pg_len,
    }
}

/// A double's exact value as `sign:k:m` (the value is sign × m × 2^k, m an integer below
/// 2^53 and, unless subnormal, at least 2^52), computed by the server. Dividing by a power
/// of two is exact, so only the first guess of k (from a logarithm, which the two servers
/// round differently) can be off, by one, and the CASE corrects it: both servers print
/// the same text for the same bits, and different text for any other double. Zero and
/// minus zero are one value.
fn float_bits(x: &str, log2: &str, pow2: &str, int: &str, concat: &dyn Fn(&[String]) -> String) -> String {
    let k0 = format!("GREATEST(FLOOR({log2}) - 52, -1074)");
    let m0 = format!("(ABS({x}) / {})", pow2.replace("{k}", &k0));
    let k = format!(
        "(CASE WHEN {m0} >= 9007199254740992 THEN {k0} + 1 WHEN {m0} < 4503599627370496 AND {k0} > -1074 THEN {k0} - 1 ELSE {k0} END)"
    );
    let m = format!("(ABS({x}) / {})", pow2.replace("{k}", &k));
    let text = concat(&[int.replace("{v}", &format!("SIGN({x})")), int.replace("{v}", &k), int.replace("{v}", &m)]);
    format!("CASE WHEN {x} = 0 THEN '0' ELSE {text} END")
}

/// [`float_bits`] in MySQL's dialect.
pub fn mysql_float_bits(x: &str) -> String {
    let concat = |p: &[String]| format!("CONCAT({}, ':', {}, ':', {})", p[0], p[1], p[2]);
    float_bits(x, &format!("LOG2(ABS({x}))"), "POW(2, {k})", "CAST({v} AS SIGNED)", &concat)
}

/// [`float_bits`] in PostgreSQL's dialect; NaN and infinities (which MySQL cannot hold)
/// as themselves.
pub fn pg_float_bits(x: &str) -> String {
    let concat = |p: &[String]| format!("{} || ':' || {} || ':' || {}", p[0], p[1], p[2]);
    let bits = float_bits(
        x,
        &format!("ln(abs({x})) / ln(2::float8)"),
        "power(2::float8, {k})",
        "({v})::bigint::text",
        &concat,
    );
    format!("CASE WHEN {x} IN ('NaN', 'Infinity', '-Infinity') THEN ({x})::text ELSE {bits} END")
}

/// One column as both sides name it, and its target type: what its two canonical
/// expressions (MySQL's, PostgreSQL's) are built from.
struct Sides<'a> {
    /// The MySQL column, quoted.
    m: String,
    /// The PostgreSQL column, quoted.
    g: String,
    /// The target's `pg_type.typname`.
    pg_type: &'a str,
    /// The target holds text (or an enum).
    text_target: bool,
    /// A MySQL `bit(n)`.
    is_bit: bool,
    /// `[source] datetime_zone`.
    zone: Option<&'a str>,
    /// The source column's declared type, when known.
    source: Option<&'a MySqlType>,
    /// A `numeric(p,s)` target's s.
    pg_scale: Option<i32>,
}

const FULL_TS: &str = "'%Y-%m-%d %H:%i:%s.%f'";

impl Sides<'_> {
    /// The source column is stored as utf8mb4: its own text is the bytes the target
    /// holds, with no conversion.
    fn stored_utf8mb4(&self) -> bool {
        self.source.and_then(|t| t.charset.as_deref()) == Some("utf8mb4")
    }

    /// The column's text in UTF-8: the column itself when it is stored in utf8mb4 (its
    /// collation made `utf8mb4_bin`, which reads no byte but keeps MySQL from refusing a
    /// mix of two columns' collations in one row string), else converted.
    fn utf8mb4(&self) -> String {
        match self.stored_utf8mb4() {
            true => format!("({} COLLATE utf8mb4_bin)", self.m),
            false => format!("CONVERT({} USING utf8mb4)", self.m),
        }
    }

    /// The source's fractional-second digits, when the digest can use the column's own
    /// text for them (0, 3 or 6: the precisions PostgreSQL can truncate an instant to).
    fn native_fsp(&self) -> Option<u32> {
        let fsp = self.source.map(|t| t.fsp.unwrap_or(0))?;
        matches!(fsp, 0 | 3 | 6).then_some(fsp)
    }

    /// `'1'`/`'0'` on both sides, from a boolean, a bit or an integer target.
    fn boolean(&self) -> (String, String) {
        let (m, g) = (&self.m, &self.g);
        let pg = if self.pg_type == "bool" {
            format!("CASE WHEN {g} THEN '1' WHEN NOT {g} THEN '0' END")
        } else if matches!(self.pg_type, "bit" | "varbit") {
            format!("CASE WHEN {g} = B'1' THEN '1' WHEN {g} = B'0' THEN '0' END")
        } else {
            format!("CASE WHEN {g} <> 0 THEN '1' WHEN {g} = 0 THEN '0' END")
        };
        // `<>` gives 1, 0 or NULL, printed as `1`, `0` or kept NULL.
        (format!("({m} <> 0)"), pg)
    }

    /// An integer or decimal as its value's text.
    fn number(&self, logical: Logical) -> (String, String) {
        let (m, g) = (&self.m, &self.g);
        let pg = match (logical, self.pg_type) {
            // A decimal by its value: trailing fractional zeros are display scale
            // (numeric(16,6) holds 1.2349 as 1.234900).
            (Logical::Decimal(..), _) => format!("trim_scale({g}::numeric)::text"),
            // A numeric(p,0) prints an integer as MySQL does.
            (_, "numeric") if self.pg_scale == Some(0) && !self.is_bit => format!("{g}::text"),
            (_, "numeric") => format!("trim_scale({g})::text"),
            (_, "float4" | "float8") => format!("{g}::numeric::text"),
            // A bit string as the unsigned integer it spells (bigint is signed: the
            // 64th bit is added back).
            (_, "bit" | "varbit") => format!(
                "(lpad({g}::text, 64, '0')::bit(64)::bigint::numeric \
                 + CASE WHEN lpad({g}::text, 64, '0') LIKE '1%' THEN 18446744073709551616 ELSE 0 END)::text"
            ),
            _ => format!("{g}::text"),
        };
        // `bit(n)` as the integer it holds (CAST alone gives its bytes); YEAR 0000 as 0.
        let my = if self.is_bit || logical == Logical::Year {
            format!("CAST({m} + 0 AS CHAR)")
        } else if let (Logical::Decimal(_, s @ 1..), Some(_), "numeric") = (logical, self.source, self.pg_type) {
            // MySQL prints a DECIMAL(p,s) with exactly s fractional digits: the target
            // is printed so too when its value has no more (exact: rounding to s digits
            // changes nothing then), and with all its digits otherwise — then it differs.
            // A numeric(p,s) of the same scale prints every value so.
            let pg = match self.pg_scale == Some(s as i32) {
                true => format!("{g}::text"),
                false => format!("CASE WHEN round({g}, {s}) = {g} THEN round({g}, {s})::text ELSE {g}::text END"),
            };
            return (m.clone(), pg);
        } else if matches!(logical, Logical::Decimal(_, s) if s > 0) {
            format!(
                "IF(LOCATE('.', CAST({m} AS CHAR)) > 0, \
                 TRIM(TRAILING '.' FROM TRIM(TRAILING '0' FROM CAST({m} AS CHAR))), CAST({m} AS CHAR))"
            )
        } else {
            format!("CAST({m} AS CHAR)")
        };
        (my, pg)
    }

    /// A date, DATETIME or TIMESTAMP as text to the microsecond (a zero date as NULL).
    fn date_time(&self, logical: Logical) -> (String, String) {
        let (m, g) = (&self.m, &self.g);
        let zero_guard = |body: String| {
            format!("CASE WHEN {m} IS NULL OR MONTH({m}) = 0 OR DAYOFMONTH({m}) = 0 THEN NULL ELSE {body} END")
        };
        // MySQL's own text of a DATE, or of a DATETIME/TIMESTAMP with fsp digits, matched
        // by the target printed with as many digits.
        let own_text = || format!("CASE WHEN MONTH({m}) = 0 OR DAYOFMONTH({m}) = 0 THEN NULL ELSE {m} END");
        if logical == Logical::Date {
            if self.source.is_some() && self.pg_type == "date" {
                return (own_text(), self.pg_ts());
            }
            let fmt = if self.pg_type == "date" || self.text_target { "'%Y-%m-%d'" } else { FULL_TS };
            return (zero_guard(format!("DATE_FORMAT({m}, {fmt})")), self.pg_ts());
        }
        if let (None, Some(fsp), "timestamp" | "timestamptz") = (self.zone, self.native_fsp(), self.pg_type) {
            return (own_text(), self.pg_instant(fsp));
        }
        let pg = match (self.zone, self.pg_type) {
            (Some(z), "timestamptz") => {
                format!("to_char({g} AT TIME ZONE {}, 'YYYY-MM-DD HH24:MI:SS.US')", ident::pg_literal(z))
            }
            (Some(z), "timestamp") => format!(
                "to_char(({g} AT TIME ZONE 'UTC') AT TIME ZONE {}, 'YYYY-MM-DD HH24:MI:SS.US')",
                ident::pg_literal(z)
            ),
            _ => self.pg_ts(),
        };
        (zero_guard(format!("DATE_FORMAT({m}, {FULL_TS})")), pg)
    }

    /// The target's instant as MySQL prints a DATETIME(fsp) (a `timestamptz` in UTC):
    /// fsp fractional digits when the instant has no finer ones, else all six — a text
    /// MySQL's column cannot print, so a finer target value differs.
    fn pg_instant(&self, fsp: u32) -> String {
        let g = &self.g;
        let x = if self.pg_type == "timestamptz" { format!("({g} AT TIME ZONE 'UTC')") } else { g.clone() };
        let all = format!("to_char({x}, 'YYYY-MM-DD HH24:MI:SS.US')");
        let (unit, fmt) = match fsp {
            6 => return all,
            3 => ("milliseconds", "YYYY-MM-DD HH24:MI:SS.MS"),
            _ => ("second", "YYYY-MM-DD HH24:MI:SS"),
        };
        format!("CASE WHEN date_trunc('{unit}', {x}) = {x} THEN to_char({x}, '{fmt}') ELSE {all} END")
    }

    /// The target's date or timestamp as text (a `timestamptz` in UTC).
    fn pg_ts(&self) -> String {
        let g = &self.g;
        match self.pg_type {
            "timestamptz" => format!("to_char({g} AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')"),
            "date" => format!("to_char({g}, 'YYYY-MM-DD')"),
            "timestamp" => format!("to_char({g}, 'YYYY-MM-DD HH24:MI:SS.US')"),
            _ => format!("{g}::text"),
        }
    }

    /// Text, an ENUM or a SET (a `text[]` target joined with commas).
    fn text(&self) -> (String, String) {
        let g = &self.g;
        let pg = match self.pg_type {
            "_text" | "_varchar" => format!("array_to_string({g}, ',')"),
            _ => format!("{g}::text"),
        };
        (self.utf8mb4(), pg)
    }

    /// Bytes as lowercase hex.
    fn binary(&self) -> (String, String) {
        let (m, g) = (&self.m, &self.g);
        let pg = match self.pg_type {
            "uuid" => format!("replace({g}::text, '-', '')"),
            "bytea" => format!("encode({g}, 'hex')"),
            _ => format!("encode(convert_to({g}::text, 'UTF8'), 'hex')"),
        };
        (format!("LOWER(HEX({m}))"), pg)
    }
}

/// The canonical form of a value the client reads: JSON by meaning
/// ([`super::json`]: keys sorted, numbers as exact decimals). Anything that does not
/// parse is kept verbatim behind a marker, so it can only equal the same broken text.
/// Allocates the result: for the few rows a report shows; digests use `row_hash::ClientHasher`.
pub fn client_value(kind: ClientKind, text: &str) -> String {
    match kind {
        ClientKind::Json => String::from_utf8_lossy(super::json::JsonCanon::default().canonical(text)).into_owned(),
        ClientKind::JsonFirst => {
            String::from_utf8_lossy(super::json::JsonCanon::default().canonical_by(text, true)).into_owned()
        }
    }
}

/// The MySQL expression a key column is ordered and bounded by: a number, the column in
/// its own collation ([`ColumnCanon::bound_by_index`]), or the canonical text's UTF-8
/// bytes. Bytes, not `utf8mb4_bin`: that collation is PAD SPACE
/// (`'k' = 'k '`, and `'k\t' < 'k'` since TAB sorts below the padding space), while
/// PostgreSQL's "C" compares bytes, shorter first — a range bounded so would hold other
/// rows on each side, and rows that are on both would be named missing and extra.
pub fn mysql_key_order(c: &ColumnCanon) -> String {
    if c.numeric || c.index_order {
        ident::mysql(&c.name)
    } else {
        format!("CAST(CONVERT({} USING utf8mb4) AS BINARY)", c.mysql)
    }
}

/// The PostgreSQL expression a key column is ordered and bounded by.
pub fn pg_key_order(c: &ColumnCanon) -> String {
    if c.numeric || c.pg_uuid {
        ident::pg(&c.pg_name)
    } else {
        format!("(({}) COLLATE \"C\")", c.pg)
    }
}

/// A key bound (a canonical key value) as a MySQL literal.
pub fn mysql_bound(c: &ColumnCanon, v: &str) -> String {
    if c.numeric && is_number(v) {
        v.to_string()
    } else if c.index_order {
        // No COLLATE: the literal gives way to the column's collation.
        format!("_utf8mb4 X'{}'", hex::encode(v.as_bytes()))
    } else {
        // Compared byte by byte with the key's bytes ([`mysql_key_order`]).
        format!("_binary X'{}'", hex::encode(v.as_bytes()))
    }
}

/// A key bound (a canonical key value) as a PostgreSQL literal.
pub fn pg_bound(c: &ColumnCanon, v: &str) -> String {
    if c.numeric && is_number(v) {
        v.to_string()
    } else if c.pg_uuid {
        format!("{}::uuid", ident::pg_literal(v))
    } else {
        format!("({} COLLATE \"C\")", ident::pg_literal(v))
    }
}

fn is_number(v: &str) -> bool {
    let v = v.strip_prefix('-').unwrap_or(v);
    !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit() || b == b'.') && v.bytes().filter(|b| *b == b'.').count() <= 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_by_meaning() {
        let a = client_value(ClientKind::Json, r#"{"b": [1, 2.0, {"y": null, "x": "é"}], "a": true}"#);
        let b = client_value(ClientKind::Json, r#"{"a":true,"b":[1.0,2,{"x":"é","y":null}]}"#);
        assert_eq!(a, b);
        assert_ne!(a, client_value(ClientKind::Json, r#"{"a":true,"b":[1.0,2,{"x":"e","y":null}]}"#));
        assert_eq!(client_value(ClientKind::Json, "{broken"), "raw:{broken");
    }

    #[test]
    fn bounds_are_literals_not_sql() {
        let c = column("id", Logical::Text, "varchar", false, false, None);
        assert_eq!(mysql_bound(&c, "a'b"), "_binary X'612762'");
        assert_eq!(pg_bound(&c, "a'b"), "('a''b' COLLATE \"C\")");
        let n = column("id", Logical::Int64, "int8", false, false, None);
        assert_eq!(mysql_bound(&n, "-42"), "-42");
        assert_eq!(mysql_bound(&n, "1; DROP"), "_binary X'313b2044524f50'");
    }
}
