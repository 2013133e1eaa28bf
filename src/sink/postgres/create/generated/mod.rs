//! MySQL's expressions re-created in PostgreSQL only where both servers provably compute
//! the same value (docs/architecture.md, "Creating the target"): generated columns
//! (`GENERATED ALWAYS AS (…) STORED`), CHECK constraints (a condition both servers
//! pass when it is TRUE or NULL) and expression defaults, all through one checker:
//! every operator and function is on a whitelist and checked per operand type. Text is compared only under a binary
//! collation (PostgreSQL then compares under "C"; under a PAD SPACE one only for
//! equality, without trailing spaces), never under `_ci` rules; nothing is cast to text that MySQL prints its own way (booleans, doubles,
//! decimals); integer arithmetic is computed in bigint, as MySQL does. Whatever fails
//! a check is refused with the reason, and the caller creates a plain column loaded
//! with MySQL's values instead, or leaves the CHECK or the default out, with a note.

mod lex;
mod parse;

use super::TableRequest;
use crate::ident;
use crate::schema::Column;
use crate::types::Logical;
use lex::{tokenize, Tok};

/// The type of a value in a generation expression, as both servers compute with it.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Ty {
    /// `NULL`.
    Null,
    /// An integer; `wide` when PostgreSQL already computes it in bigint.
    Int { unsigned: bool, wide: bool },
    /// An exact decimal.
    Dec { precision: u32, scale: u32, unsigned: bool },
    /// A double.
    Double,
    /// Text under a collation.
    Text(Coll),
    /// A comparison's or a logical operator's truth value (MySQL's 1/0).
    Bool,
    /// A tinyint(1) or bit(1) column created boolean: a number to MySQL.
    Flag,
    /// A DATE, DATETIME or TIMESTAMP column, by its MySQL type and as created: two of
    /// one kind compare alike on both servers (as dates, wall-clock times or instants).
    Time(String, Logical),
    /// A value this translation does not compute with, and why.
    Opaque(String),
}

/// How text compares.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Coll {
    /// A literal: it takes the other operand's collation.
    Literal,
    /// A binary NO PAD collation of UTF-8 text: code point order, every byte counts —
    /// what PostgreSQL's "C" collation does with UTF-8.
    Binary,
    /// A binary PAD SPACE collation of UTF-8 text (`utf8mb4_bin`): code point order,
    /// trailing spaces ignored.
    PadBinary(String),
    /// Any other collation, named.
    Other(String),
}

/// A value: its SQL in PostgreSQL's dialect and its type.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Typed {
    pub sql: String,
    pub ty: Ty,
}

/// The type a column of logical type `logical` (as created) has in an expression.
pub(super) fn column_type(logical: Logical, c: &Column) -> Ty {
    let m = &c.mysql;
    let plain_int = m.data_type != "bit" && m.data_type != "year";
    match logical {
        Logical::Bool => Ty::Flag,
        Logical::Int8 | Logical::Int16 | Logical::Int32 | Logical::Int64 if plain_int => {
            Ty::Int { unsigned: m.unsigned, wide: false }
        }
        Logical::UInt64 if plain_int => Ty::Int { unsigned: true, wide: false },
        Logical::Decimal(p, s) => Ty::Dec { precision: p.into(), scale: s.max(0) as u32, unsigned: m.unsigned },
        Logical::Float64 if m.scale.is_none() => Ty::Double,
        Logical::Date | Logical::DateTime | Logical::Timestamp => Ty::Time(m.data_type.clone(), logical),
        Logical::Text if matches!(m.charset.as_deref(), None | Some("utf8mb4" | "utf8mb3" | "utf8" | "ascii")) => {
            // A binary collation orders by code point only for UTF-8 (and ASCII) text.
            let unicode = |x: &str| x.starts_with("utf8") || x.starts_with("ascii_");
            Ty::Text(match c.facts.collation.as_deref() {
                Some(x) if unicode(x) && (x.ends_with("_nopad_bin") || x == "utf8mb4_0900_bin") => Coll::Binary,
                Some(x) if unicode(x) && x.ends_with("_bin") => Coll::PadBinary(x.to_string()),
                Some(x) => Coll::Other(x.to_string()),
                None => Coll::Other("the table's default collation".into()),
            })
        }
        _ => Ty::Opaque(format!(
            "`{}` is {} (created as {}), a type this translation does not compute with",
            c.name,
            m.column_type,
            logical.name()
        )),
    }
}

/// Source column `name` of `request` as an operand of a generation expression: its name
/// in the target and its type.
pub(super) fn operand(request: &TableRequest<'_>, name: &str) -> Result<Typed, String> {
    let i = request.source.column_index(name).ok_or_else(|| format!("column `{name}` is not in the table"))?;
    if request.source.columns[i].facts.generated.is_some() {
        return Err(format!(
            "it uses the generated column `{name}`, and PostgreSQL computes no generated column from another"
        ));
    }
    check_operand(request, name)
}

/// Source column `name` of `request` as an operand of a CHECK (a generated column
/// included: PostgreSQL computes it before it checks the row, and a plain one holds
/// MySQL's values). MySQL reads a `char(n)` without its trailing spaces; the column is
/// created `varchar(n)`, which keeps the spaces a later write gives it, so it is read
/// through `rtrim`.
pub(super) fn check_operand(request: &TableRequest<'_>, name: &str) -> Result<Typed, String> {
    let i = request.source.column_index(name).ok_or_else(|| format!("column `{name}` is not in the table"))?;
    let (_, out, logical) =
        request.columns.iter().find(|(c, ..)| *c == i).ok_or_else(|| format!("column `{name}` is not carried"))?;
    let c = &request.source.columns[i];
    let ty = column_type(*logical, c);
    let sql = match ty {
        Ty::Text(_) if c.mysql.data_type == "char" => format!("rtrim({}, ' ')", ident::pg(out)),
        _ => ident::pg(out),
    };
    Ok(Typed { sql, ty })
}

/// MySQL's generation `expression` of column `c` (created as `logical`) in PostgreSQL's
/// dialect, or why there is no translation that computes the same.
pub(super) fn translate(
    expression: &str,
    operand: &dyn Fn(&str) -> Result<Typed, String>,
    c: &Column,
    logical: Logical,
) -> Result<String, String> {
    store(parsed(expression, operand)?, c, logical)
}

/// `expression` read whole and typed.
fn parsed(expression: &str, operand: &dyn Fn(&str) -> Result<Typed, String>) -> Result<Typed, String> {
    let toks = tokenize(expression).map_err(|what| format!("cannot read {what}"))?;
    parse::Parser::new(&toks, operand).whole()
}

/// MySQL's CHECK `clause` as a PostgreSQL condition, or why there is no translation
/// that passes and refuses the same rows. Both servers pass a row when the condition
/// is TRUE or NULL; MySQL tests a number (non-zero is true), so only a truth value (a
/// comparison, a logical operator, a column created boolean, NULL) is a condition.
pub(super) fn condition(clause: &str, operand: &dyn Fn(&str) -> Result<Typed, String>) -> Result<String, String> {
    let v = parsed(clause, operand)?;
    match v.ty {
        Ty::Bool | Ty::Flag | Ty::Null => Ok(v.sql),
        Ty::Opaque(why) => Err(why),
        other => Err(format!(
            "the condition is {}, which MySQL tests as a number (non-zero passes) and PostgreSQL does not take as a condition",
            describe(&other)
        )),
    }
}

/// MySQL's default `expression` of column `c` (created as `logical`) in PostgreSQL's
/// dialect, or why there is none that gives the same value. A default reads no column
/// (PostgreSQL's cannot); `uuid()` becomes `gen_random_uuid()` (a fresh UUID in the same
/// lower-case text, version 4 where MySQL's is version 1) for a column that holds it.
pub(super) fn default(expression: &str, c: &Column, logical: Logical) -> Result<String, String> {
    let toks = tokenize(expression).map_err(|what| format!("cannot read {what}"))?;
    let bare: Vec<&Tok> = toks.iter().filter(|t| !matches!(t, Tok::Op(p) if p == "(" || p == ")")).collect();
    let call = |f: &str| matches!(bare.as_slice(), [Tok::Word(w)] if w.eq_ignore_ascii_case(f));
    let holds_uuid = match logical {
        Logical::Uuid => true,
        Logical::Text => c.mysql.max_length.is_none_or(|n| n >= 36),
        _ => false,
    };
    if call("uuid") && holds_uuid {
        return Ok("gen_random_uuid()".into());
    }
    if (call("curdate") || call("current_date")) && logical == Logical::Date {
        return Ok("CURRENT_DATE".into());
    }
    let operand = |name: &str| -> Result<Typed, String> {
        Err(format!("it reads the column `{name}`, and a PostgreSQL default reads no column"))
    };
    translate(expression, &operand, c, logical)
}

/// The value as MySQL stores it into column `c`: only conversions both servers make
/// alike (a truth value becomes 1/0; integers and decimals go into exact columns).
fn store(v: Typed, c: &Column, logical: Logical) -> Result<String, String> {
    let into = column_type(logical, c);
    let column = &c.mysql.column_type;
    if let Ty::Opaque(_) = into {
        return Err(format!("MySQL stores the result as {column}, which this translation does not compute"));
    }
    if matches!(into, Ty::Int { unsigned: true, .. } | Ty::Dec { unsigned: true, .. }) {
        return Err(format!(
            "MySQL stores the result as {column} (a negative one is refused or made 0), PostgreSQL as a signed value"
        ));
    }
    Ok(match (&v.ty, &into) {
        (Ty::Null, _) | (Ty::Bool, Ty::Flag) => v.sql,
        (Ty::Bool, Ty::Int { .. } | Ty::Dec { .. } | Ty::Double) => format!("CAST({} AS integer)", v.sql),
        (Ty::Int { .. }, Ty::Int { .. } | Ty::Dec { .. } | Ty::Double)
        | (Ty::Dec { .. }, Ty::Int { .. } | Ty::Dec { .. }) => v.sql,
        (Ty::Double, Ty::Double) => v.sql,
        (Ty::Text(_), Ty::Text(_)) if c.mysql.data_type == "char" => {
            return Err("MySQL's char(n) drops the trailing spaces a computed value may end with".into())
        }
        (Ty::Text(_), Ty::Text(_)) => v.sql,
        (Ty::Opaque(why), _) => return Err(why.clone()),
        (from, _) => {
            return Err(format!(
                "MySQL converts {} to {column} on storing it, and PostgreSQL would not convert it the same",
                describe(from)
            ))
        }
    })
}

/// What a value is, for a reason.
fn describe(ty: &Ty) -> String {
    match ty {
        Ty::Null => "NULL".into(),
        Ty::Int { .. } => "an integer".into(),
        Ty::Dec { .. } => "a decimal".into(),
        Ty::Double => "a double".into(),
        Ty::Text(_) => "text".into(),
        Ty::Bool => "a comparison's result (MySQL's 1/0, PostgreSQL's true/false)".into(),
        Ty::Flag => "a tinyint(1) created boolean (MySQL's 1/0, PostgreSQL's true/false)".into(),
        Ty::Time(mysql, created) => format!("a {mysql} (created {})", created.name()),
        Ty::Opaque(why) => why.clone(),
    }
}

/// Why MySQL's comparison under collation `c` is not PostgreSQL's byte-wise one.
fn collation_differs(c: &str) -> String {
    let pads = !c.contains("nopad") && !c.contains("_0900_");
    let mut how = Vec::new();
    if c.ends_with("_ci") {
        how.push("ignoring case");
    }
    if pads {
        how.push("ignoring trailing spaces (PAD SPACE)");
    }
    if how.is_empty() {
        how.push("by its own rules");
    }
    format!("MySQL compares this text under {c}, {}, where PostgreSQL would compare it byte by byte", how.join(" and "))
}

#[cfg(test)]
mod tests;
