//! What the binary log holds between two positions, as the server lists it (`SHOW
//! BINLOG EVENTS`): which events could have changed a followed table. The cut-over asks
//! this when the server's position moved after the drain, so that writes to other
//! databases of the same server (another application, a monitoring heartbeat table) do
//! not stop it, and a write to a followed table still does.
//!
//! `SHOW BINLOG EVENTS` needs no replica registration (no second `server_id` that could
//! push a real replica off the server), only the privilege the position already needs
//! (MariaDB: BINLOG MONITOR; MySQL: REPLICATION SLAVE). Statement texts are never
//! copied into what this returns: they can hold secrets.

use mysql_async::prelude::*;
use mysql_async::Conn;

use crate::error::{Error, Result};
use crate::manifest::BinlogPosition;

/// More events than this between the two positions is not "quiet": the listing stops.
const MAX_EVENTS: u64 = 200_000;
/// Events read per `SHOW BINLOG EVENTS … LIMIT`.
const PAGE: u64 = 5_000;

/// What was logged between two positions.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Logged {
    /// Events read.
    pub events: u64,
    /// Events that change rows of a table outside the followed ones (other databases,
    /// or tables of the followed database the pipeline does not carry).
    pub elsewhere: u64,
    /// Where a followed table (or, for a statement, the followed database) was written:
    /// `file:position` and the table or the event's type.
    pub followed: Vec<String>,
}

/// Lists the events from `from` up to `to` (exclusive), and says which of them write a
/// table of `tables` in `database` (row events, by their table map) or name `database`
/// in a statement other than a transaction's BEGIN / COMMIT.
pub async fn logged_between(
    conn: &mut Conn,
    from: &BinlogPosition,
    to: &BinlogPosition,
    database: &str,
    tables: &[String],
) -> Result<Logged> {
    let mut logged = Logged::default();
    let files = files_between(conn, from, to).await?;
    for file in files {
        let start = if file == from.file { from.position } else { 4 };
        let end = (file == to.file).then_some(to.position);
        list_file(conn, &file, start, end, database, tables, &mut logged).await?;
    }
    Ok(logged)
}

/// The binlog files from `from`'s to `to`'s, in order (`SHOW BINARY LOGS`).
async fn files_between(conn: &mut Conn, from: &BinlogPosition, to: &BinlogPosition) -> Result<Vec<String>> {
    if from.file == to.file {
        return Ok(vec![from.file.clone()]);
    }
    let rows: Vec<mysql_async::Row> =
        conn.query("SHOW BINARY LOGS").await.map_err(|e| Error::mysql("listing the binary logs", e))?;
    let names: Vec<String> = rows.into_iter().filter_map(|r| r.get::<String, _>(0)).collect();
    let number = |f: &str| BinlogPosition { file: f.to_string(), position: 0, gtid: None }.file_number();
    let (lo, hi) = (from.file_number(), to.file_number());
    Ok(names.into_iter().filter(|n| (lo..=hi).contains(&number(n))).collect())
}

/// One file's events from `start` (an event's start) to `end`, page by page.
async fn list_file(
    conn: &mut Conn,
    file: &str,
    start: u64,
    end: Option<u64>,
    database: &str,
    tables: &[String],
    logged: &mut Logged,
) -> Result<()> {
    // `IN` takes a plain string literal only; the server names its files, and a name
    // that would need escaping is refused rather than quoted.
    if !file.chars().all(|c| c.is_ascii_alphanumeric() || "._-/".contains(c)) {
        return Err(Error::other(format!("cannot list the binary log file {file:?}: an unexpected name")));
    }
    let mut pos = start;
    loop {
        let q = format!("SHOW BINLOG EVENTS IN '{file}' FROM {pos} LIMIT {PAGE}");
        let rows: Vec<(String, u64, String, u64, u64, Option<String>)> =
            conn.query(q).await.map_err(|e| Error::mysql(format!("listing the binary log {file} from {pos}"), e))?;
        let page = rows.len() as u64;
        for (_, at, kind, _, next, info) in rows {
            if end.is_some_and(|e| at >= e) {
                return Ok(());
            }
            logged.events += 1;
            if logged.events > MAX_EVENTS {
                return Err(Error::other(format!(
                    "more than {MAX_EVENTS} events were logged after the drain: the source is not quiet"
                )));
            }
            match touches(&kind, info.as_deref().unwrap_or(""), database, tables) {
                Touch::Followed(what) => logged.followed.push(format!("{file}:{at} ({what})")),
                Touch::Elsewhere => logged.elsewhere += 1,
                Touch::Nothing => {}
            }
            pos = next;
        }
        if page < PAGE || pos == 0 {
            return Ok(());
        }
    }
}

/// What one listed event could change.
#[derive(Debug, PartialEq, Eq)]
enum Touch {
    /// A followed table, or (a statement) the followed database.
    Followed(String),
    /// Rows of another table.
    Elsewhere,
    /// Nothing a table holds (transaction bounds, GTIDs, rotations, annotations, …).
    Nothing,
}

/// Reads one `SHOW BINLOG EVENTS` row: a table map names the table whose rows the next
/// row events change (`table_id: 33 (db.table)`); a statement is taken as touching the
/// followed database when its text names it (`use \`db\``, `` `db`.``), conservatively.
fn touches(kind: &str, info: &str, database: &str, tables: &[String]) -> Touch {
    match kind {
        "Table_map" => {
            let mapped = info.find('(').map(|i| info[i + 1..].trim_end_matches(')')).unwrap_or("");
            match tables.iter().find(|t| mapped == format!("{database}.{t}")) {
                Some(t) => Touch::Followed(format!("rows of `{t}`")),
                None => Touch::Elsewhere,
            }
        }
        "Query" => {
            let text = info.trim();
            let bounds = ["BEGIN", "COMMIT", "ROLLBACK", "XA ", "SAVEPOINT", "# Dummy"];
            if bounds.iter().any(|b| text.starts_with(b)) {
                return Touch::Nothing;
            }
            match names_database(text, database) {
                true => Touch::Followed(format!("a statement in `{database}`")),
                false => Touch::Elsewhere,
            }
        }
        _ => Touch::Nothing,
    }
}

/// The statement names `database`: quoted (`` `app` ``, as in the `use` the server
/// logs for a session's default database) or as a qualifier (`app.t`).
fn names_database(text: &str, database: &str) -> bool {
    if text.contains(&format!("`{}`", database.replace('`', "``"))) {
        return true;
    }
    let qualifier = format!("{database}.");
    let word = |c: char| c.is_alphanumeric() || c == '_' || c == '$';
    text.match_indices(&qualifier).any(|(i, _)| !text[..i].chars().next_back().is_some_and(word))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_map_of_a_followed_table_is_followed_and_others_are_elsewhere() {
        let tables = vec!["user".to_string(), "order".to_string()];
        let t = |kind, info| touches(kind, info, "app", &tables);
        assert_eq!(t("Table_map", "table_id: 33 (app.user)"), Touch::Followed("rows of `user`".into()));
        assert_eq!(t("Table_map", "table_id: 34 (app.user_log)"), Touch::Elsewhere);
        assert_eq!(t("Table_map", "table_id: 35 (kratos.user)"), Touch::Elsewhere);
        assert_eq!(t("Write_rows_v1", "table_id: 33 flags: STMT_END_F"), Touch::Nothing);
        assert_eq!(t("Gtid", "BEGIN GTID 0-1-42"), Touch::Nothing);
        assert_eq!(t("Query", "COMMIT"), Touch::Nothing);
        assert_eq!(t("Xid", "COMMIT /* xid=12 */"), Touch::Nothing);
    }

    #[test]
    fn a_statement_naming_the_followed_database_is_followed() {
        let tables = vec!["user".to_string()];
        let t = |info| touches("Query", info, "app", &tables);
        assert!(matches!(t("use `app`; ALTER TABLE `user` ADD c int"), Touch::Followed(_)));
        assert!(matches!(t("use `other`; TRUNCATE `app`.`user`"), Touch::Followed(_)));
        assert!(matches!(t("ALTER TABLE app.audit ADD n int"), Touch::Followed(_)));
        assert_eq!(t("ALTER TABLE myapp.audit ADD n int"), Touch::Elsewhere);
        assert_eq!(t("use `kratos`; CREATE TABLE t (id int)"), Touch::Elsewhere);
        assert_eq!(t("BEGIN"), Touch::Nothing);
    }
}
