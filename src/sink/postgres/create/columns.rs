//! A created table's columns: the type from the one mapping (`types.rs`) with MySQL's
//! lengths and fractional digits, the default translated for that type, AUTO_INCREMENT
//! as an identity column, generated columns, `ON UPDATE CURRENT_TIMESTAMP`.

use super::keys::Context;
use super::{generated, CaseInsensitive, CreatedColumn, CreatedTable, EnumMode};
use crate::ident;
use crate::schema::{Column, ColumnDefault, Generated, Table};
use crate::types::Logical;

/// Every output column of the request's table.
pub(super) fn columns(cx: &mut Context<'_, '_>, t: &mut CreatedTable) {
    for (i, name, logical) in cx.request.columns.clone() {
        let c = &cx.request.source.columns[i];
        cx.fits(&format!("column `{}`.`{name}`", t.name), &name);
        let sql_type = column_type(cx, t, c, &name, logical);
        let mut col = CreatedColumn {
            name: name.clone(),
            sql_type,
            not_null: !c.nullable,
            default: None,
            identity: None,
            generated: None,
            comment: (!c.facts.comment.is_empty()).then(|| c.facts.comment.clone()),
            on_update: c.facts.on_update_now.map(|n| now(logical, n)),
            collation: None,
        };
        let place = format!("`{}`.`{name}`", t.name);
        if logical == Logical::Geometry && cx.options.postgis.is_none() {
            let g = ident::pg(&name);
            cx.ddl.notes.push(format!(
                "{place}: a MySQL {} column, created as bytea holding MySQL's own bytes (a 4-byte little-endian SRID, then WKB), because the target has no PostGIS (with the extension in the target database it is created as geometry); with PostGIS: ALTER TABLE … ALTER COLUMN {g} TYPE geometry USING ST_GeomFromWKB(substring({g} from 5), get_byte({g}, 0) | get_byte({g}, 1) << 8 | get_byte({g}, 2) << 16 | get_byte({g}, 3) << 24)",
                c.mysql.data_type
            ));
        }
        if logical == Logical::Text
            && (in_case_insensitive_key(cx.request, &c.name) || references_case_insensitive_key(cx, c))
        {
            case_insensitive(cx, t, &mut col, c, &place);
        }
        if logical == Logical::UInt64
            && !c.facts.auto_increment
            && references_bigint_key(cx.all, cx.request.source, &c.name, 0)
        {
            col.sql_type = "bigint".into();
            cx.ddl.notes.push(format!(
                "{place}: bigint unsigned referencing a bigint unsigned AUTO_INCREMENT key (created bigint): created bigint too, as PostgreSQL refuses a foreign key between numeric and bigint; every value is checked to fit as it loads"
            ));
        }
        if c.facts.auto_increment {
            col.identity = Some(cx.ns.made_up(&format!("{}_{name}_seq", t.name)));
            if logical == Logical::UInt64 {
                col.sql_type = "bigint".into();
                cx.ddl.notes.push(format!(
                    "{place}: bigint unsigned AUTO_INCREMENT created as a bigint identity column; every value is checked to fit as it loads"
                ));
            }
        } else if let Some(g) = &c.facts.generated {
            generated(cx, &mut col, (c, logical), &place, g);
        } else if let Some(d) = &c.facts.default {
            match default_sql(logical, c, d) {
                Ok(sql) => col.default = sql,
                Err(why) => cx.ddl.notes.push(format!(
                    "{place}: the MySQL default {} is not carried ({why}); set one with ALTER TABLE … SET DEFAULT if the application relies on it",
                    describe(d)
                )),
            }
        }
        t.columns.push(col);
    }
}

/// Whether a text column with a `_ci` collation is part of the primary key or a
/// unique key: where MySQL's case-insensitive comparison decides what is a duplicate.
pub(super) fn in_case_insensitive_key(request: &super::TableRequest<'_>, column: &str) -> bool {
    let t = request.source;
    let ci = t.column_index(column).is_some_and(|i| t.columns[i].facts.case_insensitive());
    let keyed = t.primary_key.iter().any(|k| k == column)
        || t.indexes.iter().any(|ix| ix.unique && ix.parts.iter().any(|p| p.column == column));
    ci && keyed
}

/// The enum type of the created key an enum column references by a foreign key, when
/// MySQL gives both the same members: one type, so PostgreSQL can compare them.
fn referenced_enum(cx: &Context<'_, '_>, t: &CreatedTable, c: &Column) -> Option<String> {
    cx.request.source.foreign_keys.iter().find_map(|fk| {
        let k = fk.columns.iter().position(|x| *x == c.name)?;
        let parent = cx.all.iter().find(|r| r.create && r.source.name == fk.ref_table)?;
        let key = &parent.source.columns[parent.source.column_index(&fk.ref_columns[k])?];
        if key.logical != Logical::Enum || key.mysql.members() != c.mysql.members() {
            return None;
        }
        let out = parent.out(&key.name)?;
        let created =
            if parent.target == t.name { Some(t) } else { cx.ddl.tables.iter().find(|x| x.name == parent.target) };
        created?.columns.iter().find(|x| x.name == out).map(|x| x.sql_type.clone())
    })
}

/// Whether a `bigint unsigned` column is, or references through foreign keys among the
/// created tables, a `bigint unsigned AUTO_INCREMENT` key (created as a bigint identity).
fn references_bigint_key(all: &[super::TableRequest<'_>], table: &Table, column: &str, depth: usize) -> bool {
    let Some(c) = table.column_index(column).map(|i| &table.columns[i]) else { return false };
    if c.logical != Logical::UInt64 {
        return false;
    }
    if c.facts.auto_increment {
        return true;
    }
    depth < 8
        && table.foreign_keys.iter().any(|fk| {
            let Some(k) = fk.columns.iter().position(|x| x == column) else { return false };
            all.iter()
                .filter(|r| r.create && r.source.name == fk.ref_table)
                .any(|p| references_bigint_key(all, p.source, &fk.ref_columns[k], depth + 1))
        })
}

/// Whether a `_ci` text column references, by a foreign key, a `_ci` key column of a
/// created table: it gets the key's type and collation (PostgreSQL refuses a foreign key
/// from varchar onto citext, and compares two columns only under one collation).
fn references_case_insensitive_key(cx: &Context<'_, '_>, c: &Column) -> bool {
    c.facts.case_insensitive()
        && cx.request.source.foreign_keys.iter().any(|fk| {
            let Some(k) = fk.columns.iter().position(|x| *x == c.name) else { return false };
            cx.all.iter().filter(|r| r.create && r.source.name == fk.ref_table).any(|parent| {
                let key = &fk.ref_columns[k];
                let text =
                    parent.source.column_index(key).is_some_and(|i| parent.source.columns[i].logical == Logical::Text);
                text && in_case_insensitive_key(parent, key)
            })
        })
}

/// `case_insensitive = "icu"` / `"citext"`: the column compares as MySQL's `_ci`
/// collation does (the default, `report`, leaves it to the note keys.rs writes).
fn case_insensitive(cx: &mut Context<'_, '_>, t: &mut CreatedTable, col: &mut CreatedColumn, c: &Column, place: &str) {
    let mysql = c.facts.collation.clone().unwrap_or_default();
    match cx.options.case_insensitive {
        CaseInsensitive::Report => {}
        CaseInsensitive::Icu => {
            let accents = mysql.contains("_as_");
            let (name, locale) =
                if accents { ("converge_ci_as", "und-u-ks-level2") } else { ("converge_ci_ai", "und-u-ks-level1") };
            if !cx.ddl.collations.iter().any(|(n, _)| n == name) {
                cx.ddl.collations.push((name.to_string(), locale.to_string()));
            }
            col.collation = Some(ident::pg_qualified(&cx.options.schema, name));
            cx.ddl.notes.push(format!(
                "{place}: MySQL compares it by {mysql} (case-insensitive{}); created with the nondeterministic ICU collation {name} ({locale}). ICU's rules are not MySQL's in every detail: a pair of values the two judge differently stops the load at the unique key, naming the row. PostgreSQL 15 cannot use LIKE on such a column",
                if accents { "" } else { ", accent-insensitive" }
            ));
        }
        CaseInsensitive::Citext => {
            if !cx.ddl.extensions.iter().any(|e| e == "citext") {
                cx.ddl.extensions.push("citext".into());
            }
            if let Some(n) = col.sql_type.strip_prefix("varchar(").and_then(|r| r.strip_suffix(')')) {
                let check = cx.ns.made_up(&format!("{}_{}_length", t.name, col.name));
                t.checks.push((check, format!("char_length({}) <= {n}", ident::pg(&col.name))));
            }
            col.sql_type = "citext".into();
            cx.ddl.notes.push(format!(
                "{place}: MySQL compares it by {mysql} (case-insensitive); created as citext (the extension is created if missing), which folds case but not accents{}",
                if mysql.contains("_as_") { "" } else { ", while MySQL's collation also ignores accents" }
            ));
        }
    }
}

/// A generated column: PostgreSQL's own where its expression provably computes what
/// MySQL's does (then computed, not loaded); a plain column loaded with MySQL's values
/// otherwise, with a note saying why.
fn generated(
    cx: &mut Context<'_, '_>,
    col: &mut CreatedColumn,
    (c, logical): (&Column, Logical),
    place: &str,
    g: &Generated,
) {
    let request = cx.request;
    let expression = &g.expression;
    match generated::translate(expression, &|name| generated::operand(request, name), c, logical) {
        Ok(sql) => {
            col.generated = Some(sql);
            if !g.stored {
                cx.ddl.notes.push(format!(
                    "{place}: a VIRTUAL generated column in MySQL, created STORED (PostgreSQL 15 computes generated columns on write only)"
                ));
            }
        }
        Err(why) => cx.ddl.notes.push(format!(
            "{place}: generated as ({expression}) in MySQL; created as a plain column loaded with MySQL's values, because {why}. The application must now write it, or recreate it with ALTER TABLE … ADD COLUMN … GENERATED ALWAYS AS (…) STORED once the translation is checked"
        )),
    }
}

/// The PostgreSQL type of a column (enums get a type of their own).
fn column_type(cx: &mut Context<'_, '_>, t: &mut CreatedTable, c: &Column, name: &str, logical: Logical) -> String {
    let m = &c.mysql;
    let fsp = m.fsp.unwrap_or(0);
    match logical {
        Logical::Text => match (m.data_type.as_str(), m.max_length) {
            ("char" | "varchar", Some(n)) => format!("varchar({n})"),
            _ => "text".into(),
        },
        Logical::DateTime => format!("timestamp({fsp})"),
        Logical::Timestamp => format!("timestamptz({fsp})"),
        Logical::UuidBinary => "uuid".into(),
        Logical::Set => "text[]".into(),
        Logical::Geometry => match &cx.options.postgis {
            Some(schema) => crate::types::postgis_type(m, &ident::pg_qualified(schema, "geometry")),
            None => logical.pg_create(),
        },
        Logical::Enum if cx.options.enums == EnumMode::Check => {
            let members: Vec<String> = m.members().iter().map(|l| crate::ident::pg_literal(l)).collect();
            let check = cx.ns.made_up(&format!("{}_{name}_check", t.name));
            t.checks.push((check, format!("{} IN ({})", ident::pg(name), members.join(", "))));
            "text".into()
        }
        Logical::Enum => {
            if let Some(shared) = referenced_enum(cx, t, c) {
                return shared;
            }
            let type_name = cx.ns.made_up(&format!("{}_{name}", t.name));
            cx.ddl.enums.push((type_name.clone(), m.members()));
            ident::pg_qualified(&cx.options.schema, &type_name)
        }
        other => other.pg_create(),
    }
}

/// `CURRENT_TIMESTAMP(n)` for an instant, `LOCALTIMESTAMP(n)` for a wall-clock time
/// (MySQL's DATETIME default is the session's wall clock, as PostgreSQL's is).
fn now(logical: Logical, fsp: u32) -> String {
    match logical {
        Logical::Timestamp => format!("CURRENT_TIMESTAMP({fsp})"),
        Logical::Date => "CURRENT_DATE".into(),
        _ => format!("LOCALTIMESTAMP({fsp})"),
    }
}

fn describe(d: &ColumnDefault) -> String {
    match d {
        ColumnDefault::Null => "NULL".into(),
        ColumnDefault::Literal(v) => format!("'{v}'"),
        ColumnDefault::CurrentTimestamp(n) => format!("CURRENT_TIMESTAMP({n})"),
        ColumnDefault::Expression(e) => e.clone(),
    }
}

/// A default in PostgreSQL's dialect for the created type; `Ok(None)` for no default
/// (`DEFAULT NULL` is PostgreSQL's own).
fn default_sql(logical: Logical, c: &Column, d: &ColumnDefault) -> Result<Option<String>, String> {
    let v = match d {
        ColumnDefault::Null => return Ok(None),
        ColumnDefault::CurrentTimestamp(n) => return Ok(Some(now(logical, *n))),
        ColumnDefault::Expression(e) => return generated::default(e, c, logical).map(Some),
        ColumnDefault::Literal(v) => v.as_str(),
    };
    literal(logical, v).map(Some)
}

/// A literal default of a logical type, checked to be a value of the created type.
fn literal(logical: Logical, v: &str) -> Result<String, String> {
    let number = || v.parse::<f64>().map(|_| v.to_string()).map_err(|_| format!("'{v}' is not a number"));
    match logical {
        Logical::Bool => match v {
            "0" | "b'0'" => Ok("false".into()),
            "1" | "b'1'" => Ok("true".into()),
            _ => Err(format!("'{v}' is not 0 or 1")),
        },
        Logical::Int8 | Logical::Int16 | Logical::Int32 | Logical::Int64 | Logical::UInt64 | Logical::Year => {
            match v.strip_prefix("b'").and_then(|b| b.strip_suffix('\'')) {
                Some(bits) => u64::from_str_radix(bits, 2).map(|n| n.to_string()).map_err(|e| e.to_string()),
                None => number(),
            }
        }
        Logical::Decimal(..) | Logical::Float32 | Logical::Float64 => number(),
        Logical::Date | Logical::DateTime | Logical::Timestamp if v.starts_with("0000") || v.contains("-00") => {
            Err(format!("'{v}' is a zero date, which PostgreSQL has no value for"))
        }
        Logical::Timestamp => Ok(format!("{}::timestamptz", ident::pg_literal(&format!("{v}+00")))),
        Logical::Uuid | Logical::UuidBinary if uuid::Uuid::try_parse(v).is_err() => {
            Err(format!("'{v}' is not a UUID, and the column is created uuid"))
        }
        Logical::Binary | Logical::Geometry => Ok(format!("'\\x{}'::bytea", hex::encode(v))),
        Logical::Set if v.is_empty() => Ok("'{}'::text[]".into()),
        Logical::Set => {
            let parts: Vec<String> = v.split(',').map(ident::pg_literal).collect();
            Ok(format!("ARRAY[{}]::text[]", parts.join(", ")))
        }
        _ => Ok(ident::pg_literal(v)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_defaults_fit_their_type() {
        assert_eq!(literal(Logical::Bool, "0").unwrap(), "false");
        assert!(literal(Logical::Bool, "2").is_err());
        assert_eq!(literal(Logical::Int64, "b'101'").unwrap(), "5");
        assert_eq!(literal(Logical::Decimal(8, 2), "0.00").unwrap(), "0.00");
        assert!(literal(Logical::DateTime, "0000-00-00 00:00:00").is_err());
        assert_eq!(literal(Logical::Text, "it's").unwrap(), "'it''s'");
        assert!(literal(Logical::Uuid, "").is_err());
        assert_eq!(literal(Logical::Set, "a,b").unwrap(), "ARRAY['a', 'b']::text[]");
        assert_eq!(
            literal(Logical::Timestamp, "2020-01-01 00:00:00").unwrap(),
            "'2020-01-01 00:00:00+00'::timestamptz"
        );
    }
}
