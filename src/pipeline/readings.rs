//! Values with two readings, and which one a run takes (docs/architecture.md, "No silent
//! change"): a JSON object's duplicate keys (MariaDB reads the first, `jsonb` keeps the
//! last) and a FLOAT in a `double precision` column (its own value, or the double of its
//! shortest decimal text). What `plan` says beside each such column.

use crate::feed::JsonDuplicates;
use crate::schema::Column;
use crate::transform::normalize::JsonRule;
use crate::types::Logical;

/// What `plan` says beside a JSON column about its duplicate keys.
pub fn json_duplicates(logical: Logical, rule: JsonRule) -> &'static str {
    match (logical, rule) {
        (Logical::Json, JsonRule::Refuse) => {
            " (duplicate keys: MariaDB reads the first, jsonb keeps the last: a value holding any stops the run \
             unless json_duplicates = \"first\" or \"last\")"
        }
        (Logical::Json, JsonRule::Resolve(JsonDuplicates::First)) => {
            " (duplicate keys: the first kept, MariaDB's reading; counted)"
        }
        (Logical::Json, JsonRule::Resolve(JsonDuplicates::Last)) => {
            " (duplicate keys: the last kept, jsonb's reading; counted)"
        }
        _ => "",
    }
}

/// What a FLOAT in a double precision column holds: the float's own value, not the
/// double its shortest decimal text reads as (README.md, "Type mapping").
pub fn float_in_double(c: &Column, pg_type: &str) -> &'static str {
    if c.mysql.data_type == "float" && pg_type == "double precision" {
        " (the float's own value: 0.1 arrives as 0.10000000149011612; the values whose shortest text reads \
         otherwise are counted)"
    } else {
        ""
    }
}
