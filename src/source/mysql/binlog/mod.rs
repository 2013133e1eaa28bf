//! The source's binary log (docs/architecture.md, "Change capture"): the snapshot's
//! position, the preflight a followed copy runs before moving data, and the change
//! stream that follows the binlog from a position on (`stream`, its values made the
//! snapshot's by `convert`).

mod convert;
mod events;
pub mod position;
pub mod preflight;
pub mod stream;

use mysql_async::Row;

/// A column of a result row by its name (case-insensitive: MariaDB says `Server_id`,
/// MySQL `Server_Id`).
fn column(row: &Row, name: &str) -> Option<String> {
    let i = row.columns_ref().iter().position(|c| c.name_str().eq_ignore_ascii_case(name))?;
    match row.as_ref(i)? {
        mysql_async::Value::NULL => None,
        mysql_async::Value::Bytes(b) => Some(String::from_utf8_lossy(b).into_owned()),
        v => Some(v.as_sql(true).trim_matches('\'').to_string()),
    }
}
