//! The normalisation functions, as plain Arrow kernels and as DataFusion UDFs
//! (`mysql_bool`, `uuid_lower`, `json_check`) so per-table SQL can call them too.
//!
//! Each kernel either returns the normalised array or says which row it rejected and
//! why; [`super::normalize`] turns that into an error naming the row's key.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, StringArray};
use arrow::datatypes::{DataType, Int8Type};
use datafusion::common::DataFusionError;
use datafusion::logical_expr::{create_udf, ColumnarValue, ScalarUDF, Volatility};

use super::json_keys;
use crate::error::Refused;
use crate::feed::JsonDuplicates;

/// What a boolean column does with values other than 0 and 1; a pipeline's
/// `bool_values = "strict" | "nonzero"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BoolRule {
    /// Refuse them (the default).
    #[default]
    Strict,
    /// Any non-zero value is true (MySQL's own reading).
    NonZero,
}

/// tinyint/bit 0/1 → boolean.
pub fn to_bool(a: &ArrayRef, rule: BoolRule) -> Result<ArrayRef, Refused> {
    let ints = a.as_primitive::<Int8Type>();
    if rule == BoolRule::Strict {
        if let Some(row) = (0..ints.len()).find(|&i| ints.is_valid(i) && !matches!(ints.value(i), 0 | 1)) {
            return Err(Refused {
                row,
                column: String::new(),
                value: ints.value(row).to_string(),
                reason: "is not 0 or 1 in a boolean column (set bool_values = \"nonzero\" to read it as true)".into(),
            });
        }
    }
    let out: BooleanArray = ints.iter().map(|v| v.map(|x| x != 0)).collect();
    Ok(Arc::new(out))
}

/// Whether `s` is a UUID in 8-4-4-4-12 hex form (any case): 36 characters, which the
/// `uuid` crate reads only in its hyphenated form.
pub fn is_uuid(s: &str) -> bool {
    s.len() == 36 && uuid::Uuid::try_parse(s).is_ok()
}

/// Lower-cases the values that are UUIDs; other values ('' is common in real data)
/// are kept as they are, or refused when `strict`.
pub fn uuid_lower(a: &ArrayRef, strict: bool) -> Result<ArrayRef, Refused> {
    let s = a.as_string::<i32>();
    if !s.iter().flatten().any(|v| v.bytes().any(|c| c.is_ascii_uppercase()) || (strict && !is_uuid(v))) {
        return Ok(a.clone());
    }
    let mut out = Vec::with_capacity(s.len());
    for (row, v) in s.iter().enumerate() {
        out.push(match v {
            Some(v) if is_uuid(v) => Some(v.to_ascii_lowercase()),
            Some(v) if strict => {
                return Err(Refused {
                    row,
                    column: String::new(),
                    value: format!("'{}'", crate::error::shorten(v, 60)),
                    reason: "is not a UUID".into(),
                })
            }
            Some(v) => Some(v.to_string()),
            None => None,
        });
    }
    Ok(Arc::new(StringArray::from(out)))
}

/// Checks that every value is valid JSON; the text is kept byte for byte.
pub fn json_check(a: &ArrayRef) -> Result<ArrayRef, Refused> {
    let s = a.as_string::<i32>();
    for (row, v) in s.iter().enumerate() {
        if let Some(v) = v {
            if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(v) {
                return Err(Refused {
                    row,
                    column: String::new(),
                    value: format!("'{}'", crate::error::shorten(v, 60)),
                    reason: format!("is not valid JSON ({e})"),
                });
            }
        }
    }
    Ok(a.clone())
}

/// How many values of a string array [`uuid_lower`] changes: UUIDs with an upper-case
/// letter.
pub fn uuids_lowered(a: &ArrayRef) -> u64 {
    let s = a.as_string::<i32>();
    s.iter().flatten().filter(|v| v.bytes().any(|c| c.is_ascii_uppercase()) && is_uuid(v)).count() as u64
}

/// The first row holding a value that is neither a UUID nor `''`.
pub fn first_not_uuid(a: &ArrayRef) -> Option<usize> {
    let s = a.as_string::<i32>();
    s.iter().position(|v| v.is_some_and(|v| !v.is_empty() && !is_uuid(v)))
}

/// A column of a dump found to hold UUIDs that lower-casing changes and other values:
/// the first row of the batch that shows it (another value, or else an upper-case UUID).
pub fn mixed_uuids(a: &ArrayRef) -> Option<Refused> {
    let s = a.as_string::<i32>();
    let row = first_not_uuid(a).or_else(|| {
        s.iter().position(|v| v.is_some_and(|v| is_uuid(v) && v.bytes().any(|c| c.is_ascii_uppercase())))
    })?;
    Some(Refused {
        row,
        column: String::new(),
        value: format!("'{}'", crate::error::shorten(s.value(row), 60)),
        reason: "is in a char(36) column of a dump holding both upper-case UUIDs (lower-cased for the export) and \
                 values that are not UUIDs: it is not a column of UUIDs, and its values must not change. Set a \
                 [[column]] rule type = \"text\" to export every value as it is (or type = \"uuid\" to lower-case \
                 its UUIDs and keep the rest)"
            .into(),
    })
}

/// Duplicate keys in JSON values (valid JSON, checked before): with no `rule`, the first
/// value holding one is refused, naming the key; with one, they are resolved by it
/// (`first`: the later duplicates dropped; `last`: kept for jsonb to resolve) and the
/// values holding them counted.
pub fn json_duplicates(a: &ArrayRef, rule: Option<JsonDuplicates>) -> Result<(ArrayRef, u64), Refused> {
    let s = a.as_string::<i32>();
    let mut found = 0u64;
    let mut out: Option<Vec<Option<String>>> = None;
    for (row, v) in s.iter().enumerate() {
        let Some(v) = v else { continue };
        let Some(d) = json_keys::first_duplicate(v) else { continue };
        found += 1;
        match rule {
            None => {
                return Err(Refused {
                    row,
                    column: String::new(),
                    value: format!("'{}'", crate::error::shorten(v, 60)),
                    reason: format!(
                        "has the key {} twice in one object (at {}): MariaDB's JSON functions read the first, \
                         PostgreSQL's jsonb keeps the last. Set json_duplicates = \"first\" (MariaDB's reading: the \
                         later duplicates are dropped) or \"last\" (jsonb's), in [options] or a [[column]] rule",
                        serde_json::Value::String(d.key),
                        d.path
                    ),
                })
            }
            Some(JsonDuplicates::Last) => {}
            Some(JsonDuplicates::First) => {
                let o = out.get_or_insert_with(|| s.iter().map(|x| x.map(str::to_string)).collect());
                o[row] = Some(json_keys::keep_first(v).into_owned());
            }
        }
    }
    let array = match out {
        Some(o) => Arc::new(StringArray::from(o)) as ArrayRef,
        None => a.clone(),
    };
    Ok((array, found))
}

/// Wall-clock µs (a DATETIME read as if UTC) in `zone` → the instant's µs since the
/// epoch, labelled UTC. A wall time the zone skips (clocks forward) or repeats (clocks
/// back) has no single instant: refused.
pub fn from_zone(a: &ArrayRef, zone: chrono_tz::Tz) -> Result<ArrayRef, Refused> {
    use arrow::array::TimestampMicrosecondArray;
    use arrow::datatypes::TimestampMicrosecondType;
    use chrono::TimeZone;
    let src = a.as_primitive::<TimestampMicrosecondType>();
    let mut out = Vec::with_capacity(src.len());
    for (row, v) in src.iter().enumerate() {
        let Some(v) = v else {
            out.push(None);
            continue;
        };
        let wall = chrono::DateTime::from_timestamp_micros(v).map(|d| d.naive_utc());
        let at = wall.map(|w| zone.from_local_datetime(&w));
        let reject = |why: &str| Refused {
            row,
            column: String::new(),
            value: wall.map_or(v.to_string(), |w| w.format("%Y-%m-%d %H:%M:%S%.f").to_string()),
            reason: format!("{why} in {zone} (source.datetime_zone): it has no single instant"),
        };
        match at {
            Some(chrono::LocalResult::Single(t)) => out.push(Some(t.timestamp_micros())),
            Some(chrono::LocalResult::Ambiguous(..)) => return Err(reject("happens twice (the clocks went back)")),
            _ => return Err(reject("does not exist (the clocks went forward)")),
        }
    }
    let converted = TimestampMicrosecondArray::from(out).with_timezone("UTC");
    Ok(Arc::new(converted))
}

fn udf(
    name: &str,
    input: DataType,
    output: DataType,
    kernel: impl Fn(&ArrayRef) -> Result<ArrayRef, Refused> + Send + Sync + 'static,
) -> ScalarUDF {
    let name_owned = name.to_string();
    create_udf(
        name,
        vec![input],
        output,
        Volatility::Immutable,
        Arc::new(move |args: &[ColumnarValue]| {
            let arrays = ColumnarValue::values_to_arrays(args)?;
            kernel(&arrays[0]).map(ColumnarValue::Array).map_err(|r| {
                DataFusionError::Execution(format!("{name_owned}: row {}: value {} {}", r.row, r.value, r.reason))
            })
        }),
    )
}

/// The UDFs, for registration with a DataFusion session.
pub fn udfs() -> Vec<ScalarUDF> {
    vec![
        udf("mysql_bool", DataType::Int8, DataType::Boolean, |a| to_bool(a, BoolRule::Strict)),
        udf("mysql_bool_nonzero", DataType::Int8, DataType::Boolean, |a| to_bool(a, BoolRule::NonZero)),
        udf("uuid_lower", DataType::Utf8, DataType::Utf8, |a| uuid_lower(a, false)),
        udf("uuid_strict", DataType::Utf8, DataType::Utf8, |a| uuid_lower(a, true)),
        udf("json_check", DataType::Utf8, DataType::Utf8, json_check),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Int8Array;

    #[test]
    fn booleans_refuse_two() {
        let a: ArrayRef = Arc::new(Int8Array::from(vec![Some(0), None, Some(1), Some(2)]));
        let e = to_bool(&a, BoolRule::Strict).unwrap_err();
        assert_eq!((e.row, e.value.as_str()), (3, "2"));
        let b = to_bool(&a, BoolRule::NonZero).unwrap();
        assert_eq!(b.as_boolean().iter().collect::<Vec<_>>(), vec![Some(false), None, Some(true), Some(true)]);
    }

    #[test]
    fn uuids_lowercase_and_keep_others() {
        let a: ArrayRef =
            Arc::new(StringArray::from(vec![Some("0A1B2C3D-0000-4000-8000-00000000ABCD"), Some(""), None]));
        let b = uuid_lower(&a, false).unwrap();
        let b = b.as_string::<i32>();
        assert_eq!(b.value(0), "0a1b2c3d-0000-4000-8000-00000000abcd");
        assert_eq!(b.value(1), "");
        assert!(b.is_null(2));
        assert_eq!(uuid_lower(&a, true).unwrap_err().row, 1);
    }

    #[test]
    fn json_duplicates_are_refused_or_resolved_and_counted() {
        let a: ArrayRef = Arc::new(StringArray::from(vec![
            Some(r#"{"a": 1}"#),
            None,
            Some(r#"{"role":"user","role":"admin"}"#),
            Some(r#"[{"k":1,"k":2}]"#),
        ]));
        let e = json_duplicates(&a, None).unwrap_err();
        assert_eq!(e.row, 2);
        assert!(e.reason.contains("\"role\"") && e.reason.contains("$.role"), "{}", e.reason);
        let (b, n) = json_duplicates(&a, Some(JsonDuplicates::First)).unwrap();
        assert_eq!(n, 2);
        let b = b.as_string::<i32>();
        assert_eq!(
            (b.value(0), b.is_null(1), b.value(2), b.value(3)),
            (r#"{"a": 1}"#, true, r#"{"role":"user"}"#, r#"[{"k":1}]"#)
        );
        let (c, n) = json_duplicates(&a, Some(JsonDuplicates::Last)).unwrap();
        assert_eq!((n, c.as_string::<i32>().value(2)), (2, r#"{"role":"user","role":"admin"}"#));
        let a: ArrayRef = Arc::new(StringArray::from(vec![Some("0A1B2C3D-0000-4000-8000-00000000ABCD"), Some("ABC")]));
        assert_eq!(uuids_lowered(&a), 1);
    }

    #[test]
    fn json_is_checked_not_rewritten() {
        let a: ArrayRef = Arc::new(StringArray::from(vec![Some("{\"a\":  1}"), Some("{bad")]));
        assert_eq!(json_check(&a).unwrap_err().row, 1);
    }
}
