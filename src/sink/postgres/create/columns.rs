//! A created table's columns: the type from the one mapping (`types.rs`) with MySQL's
//! lengths and fractional digits, the default translated for that type, AUTO_INCREMENT
//! as an identity column, generated columns, `ON UPDATE CURRENT_TIMESTAMP`.

use super::keys::Context;
use super::{expr, CreatedColumn, CreatedTable};
use crate::ident;
use crate::schema::{Column, ColumnDefault};
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
        };
        let place = format!("`{}`.`{name}`", t.name);
        if c.facts.auto_increment {
            col.identity = Some(cx.ns.made_up(&format!("{}_{name}_seq", t.name)));
            if logical == Logical::UInt64 {
                col.sql_type = "bigint".into();
                cx.ddl.notes.push(format!(
                    "{place}: bigint unsigned AUTO_INCREMENT created as a bigint identity column; every value is checked to fit as it loads"
                ));
            }
        } else if let Some(g) = &c.facts.generated {
            generated(cx, &mut col, &place, &g.expression, g.stored);
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

/// A generated column: PostgreSQL's own when its expression translates (then computed,
/// not loaded); a plain column loaded with MySQL's values otherwise.
fn generated(cx: &mut Context<'_, '_>, col: &mut CreatedColumn, place: &str, expression: &str, stored: bool) {
    let request = cx.request;
    match expr::translate(expression, &|c| request.out(c)) {
        Ok(sql) => {
            col.generated = Some(sql);
            if !stored {
                cx.ddl.notes.push(format!(
                    "{place}: a VIRTUAL generated column in MySQL, created STORED (PostgreSQL 15 computes generated columns on write only)"
                ));
            }
        }
        Err(why) => cx.ddl.notes.push(format!(
            "{place}: generated as ({expression}) in MySQL; created as a plain column loaded with MySQL's values, because {why}. Recreate it with ALTER TABLE … ADD COLUMN … GENERATED ALWAYS AS (…) STORED after checking the translation"
        )),
    }
}

/// The PostgreSQL type of a column (enums get a type of their own).
fn column_type(cx: &mut Context<'_, '_>, t: &CreatedTable, c: &Column, name: &str, logical: Logical) -> String {
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
        Logical::Enum => {
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
        ColumnDefault::Expression(e) => {
            return expr::translate(e, &|col| (col == c.name).then(|| col.to_string())).map(Some);
        }
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
