//! What the change stream needs to know of binlog events beyond what the binlog crate
//! parses (docs/architecture.md, "Change capture"): the raw event type numbers (MariaDB's
//! own events are unknown to it), their names for errors, MariaDB's GTID flags, and what
//! a statement logged as a Query event does to the followed tables.

/// Raw event type numbers (MySQL's `Log_event_type`, MariaDB's additions from 160).
pub(super) mod kind {
    pub const STOP: u8 = 3;
    pub const QUERY: u8 = 2;
    pub const ROTATE: u8 = 4;
    pub const INTVAR: u8 = 5;
    pub const RAND: u8 = 13;
    pub const USER_VAR: u8 = 14;
    pub const FORMAT_DESCRIPTION: u8 = 15;
    pub const XID: u8 = 16;
    pub const TABLE_MAP: u8 = 19;
    pub const WRITE_ROWS_V1: u8 = 23;
    pub const UPDATE_ROWS_V1: u8 = 24;
    pub const DELETE_ROWS_V1: u8 = 25;
    pub const INCIDENT: u8 = 26;
    pub const HEARTBEAT: u8 = 27;
    pub const IGNORABLE: u8 = 28;
    pub const ROWS_QUERY: u8 = 29;
    pub const WRITE_ROWS: u8 = 30;
    pub const UPDATE_ROWS: u8 = 31;
    pub const DELETE_ROWS: u8 = 32;
    pub const GTID: u8 = 33;
    pub const ANONYMOUS_GTID: u8 = 34;
    pub const PREVIOUS_GTIDS: u8 = 35;
    pub const PARTIAL_UPDATE_ROWS: u8 = 39;
    pub const TRANSACTION_PAYLOAD: u8 = 40;
    pub const HEARTBEAT_V2: u8 = 41;
    pub const GTID_TAGGED: u8 = 42;
    pub const ANNOTATE_ROWS: u8 = 160;
    pub const BINLOG_CHECKPOINT: u8 = 161;
    pub const MARIADB_GTID: u8 = 162;
    pub const GTID_LIST: u8 = 163;
    pub const START_ENCRYPTION: u8 = 164;
}

/// MariaDB's GTID event flag: a statement outside any transaction (DDL), no COMMIT follows.
pub(super) const FL_STANDALONE: u8 = 1;

/// The flags byte of a MariaDB GTID event (after its 8-byte sequence number and 4-byte
/// domain id).
pub(super) fn mariadb_gtid_flags(data: &[u8]) -> Option<u8> {
    data.get(12).copied()
}

/// Why an event type cannot be followed, naming the setting that produced it when there
/// is one.
pub(super) fn refusal(t: u8) -> String {
    match t {
        165..=171 => format!(
            "a compressed MariaDB event (type {t}): the server writes compressed events with log_bin_compress = ON, \
             which converge does not read; set log_bin_compress = OFF on the server and take a new snapshot"
        ),
        kind::START_ENCRYPTION => {
            "an encrypted binlog (START_ENCRYPTION, type 164): converge does not read encrypted binlogs".to_string()
        }
        kind::TRANSACTION_PAYLOAD => "a compressed transaction (TRANSACTION_PAYLOAD, type 40): set \
             binlog_transaction_compression = OFF on the server and take a new snapshot"
            .to_string(),
        kind::PARTIAL_UPDATE_ROWS => "a partial JSON update (PARTIAL_UPDATE_ROWS, type 39): remove PARTIAL_JSON \
             from binlog_row_value_options on the server and take a new snapshot"
            .to_string(),
        kind::INCIDENT => {
            "an INCIDENT event: the server says its binlog may be missing changes here; take a new snapshot".to_string()
        }
        other => format!("an event of type {other}, which converge does not understand"),
    }
}

/// What a statement logged as a Query event does, as far as following goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Statement {
    /// `BEGIN`: a transaction's rows follow.
    Begin,
    /// `COMMIT` (or `ROLLBACK`, which MySQL logs after non-transactional changes it
    /// could not undo): the transaction ends.
    Commit,
    /// `TRUNCATE [TABLE] t`.
    Truncate(Name),
    /// `ALTER` / `RENAME` / `DROP` / `CREATE TABLE` (and `DROP DATABASE`) of these tables.
    Ddl(Vec<Name>),
    /// `CREATE` / `DROP INDEX`: the rows do not change.
    Index(Name),
    /// A data change logged as a statement (`INSERT`, `UPDATE`, `DELETE`, `REPLACE`,
    /// `LOAD DATA`): its rows are not in the binlog.
    Dml,
    /// `XA …`: a prepared transaction, which the stream does not follow.
    Xa,
    /// Anything else (grants, other objects, `SAVEPOINT` …): nothing to follow.
    Other,
}

/// A table named by a statement: its database when qualified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Name {
    /// `db` of `db.t`.
    pub db: Option<String>,
    /// `t`.
    pub table: String,
}

/// A statement's tokens: words (upper-cased), identifiers (unquoted, case kept), and
/// the punctuation that matters (`.`, `,`); comments and literals dropped.
fn tokens(sql: &str) -> Vec<(bool, String)> {
    let b = sql.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
        } else if c == b'#' || (c == b'-' && b.get(i + 1) == Some(&b'-')) {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if c == b'/' && b.get(i + 1) == Some(&b'*') {
            // `/*!50100 … */` executable comments hold SQL: read their inside.
            let inside = match (b.get(i + 2), b.get(i + 3)) {
                (Some(b'!'), _) => Some(3),
                (Some(b'M'), Some(b'!')) => Some(4),
                _ => None,
            };
            if let Some(skip) = inside {
                i += skip;
                while i < b.len() && b[i].is_ascii_digit() {
                    i += 1;
                }
            } else {
                i += 2;
                while i + 1 < b.len() && !(b[i] == b'*' && b[i + 1] == b'/') {
                    i += 1;
                }
                i += 2;
            }
        } else if c == b'*' && b.get(i + 1) == Some(&b'/') {
            i += 2;
        } else if c == b'`' {
            let mut s = Vec::new();
            i += 1;
            while i < b.len() {
                if b[i] == b'`' && b.get(i + 1) == Some(&b'`') {
                    s.push(b'`');
                    i += 2;
                } else if b[i] == b'`' {
                    i += 1;
                    break;
                } else {
                    s.push(b[i]);
                    i += 1;
                }
            }
            out.push((true, String::from_utf8_lossy(&s).into_owned()));
        } else if c == b'\'' || c == b'"' {
            i += 1;
            while i < b.len() && b[i] != c {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            i += 1;
            out.push((false, "'".to_string()));
        } else if c.is_ascii_alphanumeric() || c == b'_' || c == b'$' || c >= 0x80 {
            let start = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b'$' || b[i] >= 0x80) {
                i += 1;
            }
            out.push((false, String::from_utf8_lossy(&b[start..i]).into_owned()));
        } else {
            out.push((false, (c as char).to_string()));
            i += 1;
        }
    }
    out
}

/// A word token, upper-cased (an identifier in backticks is never a word).
fn word(t: &(bool, String)) -> Option<String> {
    (!t.0).then(|| t.1.to_ascii_uppercase())
}

/// A possibly qualified name starting at `at`; the index after it.
fn name_at(t: &[(bool, String)], at: usize) -> Option<(Name, usize)> {
    let first = t.get(at)?;
    if !first.0 && !first.1.chars().next().is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$') {
        return None;
    }
    if t.get(at + 1).is_some_and(|d| !d.0 && d.1 == ".") {
        let second = t.get(at + 2)?;
        return Some((Name { db: Some(first.1.clone()), table: second.1.clone() }, at + 3));
    }
    Some((Name { db: None, table: first.1.clone() }, at + 1))
}

/// Skips the given optional words from `at`.
fn skip(t: &[(bool, String)], mut at: usize, words: &[&str]) -> usize {
    while t.get(at).and_then(word).is_some_and(|w| words.contains(&w.as_str())) {
        at += 1;
    }
    at
}

/// Names separated by commas from `at` (`DROP TABLE a, b`), or `a TO b, c TO d`.
fn name_list(t: &[(bool, String)], mut at: usize) -> Vec<Name> {
    let mut out = Vec::new();
    while let Some((n, next)) = name_at(t, at) {
        out.push(n);
        at = next;
        match t.get(at) {
            Some(s) if !s.0 && (s.1 == "," || s.1.eq_ignore_ascii_case("TO")) => at += 1,
            _ => break,
        }
    }
    out
}

/// Classifies a statement of a Query event.
pub(super) fn classify(sql: &str) -> Statement {
    let t = tokens(sql);
    let w = |i: usize| t.get(i).and_then(word).unwrap_or_default();
    match w(0).as_str() {
        "BEGIN" => Statement::Begin,
        "COMMIT" | "ROLLBACK" => Statement::Commit,
        "XA" => Statement::Xa,
        "INSERT" | "UPDATE" | "DELETE" | "REPLACE" | "LOAD" => Statement::Dml,
        "TRUNCATE" => {
            let at = skip(&t, 1, &["TABLE"]);
            name_at(&t, at).map_or(Statement::Other, |(n, _)| Statement::Truncate(n))
        }
        "RENAME" if w(1) == "TABLE" || w(1) == "TABLES" => Statement::Ddl(name_list(&t, 2)),
        "ALTER" | "DROP" | "CREATE" => ddl(&t, &w),
        _ => Statement::Other,
    }
}

/// `ALTER`, `DROP` or `CREATE` of a table, an index or a database.
fn ddl(t: &[(bool, String)], w: &dyn Fn(usize) -> String) -> Statement {
    let verb = w(0);
    let at = skip(t, 1, &["OR", "REPLACE", "ONLINE", "IGNORE", "TEMPORARY", "UNIQUE", "FULLTEXT", "SPATIAL"]);
    match w(at).as_str() {
        "TABLE" => {
            let at = skip(t, at + 1, &["IF", "NOT", "EXISTS"]);
            if verb == "DROP" {
                Statement::Ddl(name_list(t, at))
            } else {
                Statement::Ddl(name_at(t, at).map(|(n, _)| vec![n]).unwrap_or_default())
            }
        }
        "INDEX" => {
            // `… INDEX [IF [NOT] EXISTS] name ON t`.
            let at = skip(t, at + 1, &["IF", "NOT", "EXISTS"]);
            let on = (at..t.len()).find(|&i| w(i) == "ON");
            match on.and_then(|i| name_at(t, i + 1)) {
                Some((n, _)) => Statement::Index(n),
                None => Statement::Other,
            }
        }
        "DATABASE" | "SCHEMA" if verb == "DROP" => {
            let at = skip(t, at + 1, &["IF", "EXISTS"]);
            // A whole database: every table of it (the caller matches `*`).
            match t.get(at) {
                Some(n) => Statement::Ddl(vec![Name { db: Some(n.1.clone()), table: "*".into() }]),
                None => Statement::Other,
            }
        }
        _ => Statement::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(db: Option<&str>, t: &str) -> Name {
        Name { db: db.map(str::to_string), table: t.to_string() }
    }

    #[test]
    fn statements_that_matter_are_recognised() {
        assert_eq!(classify("BEGIN"), Statement::Begin);
        assert_eq!(classify("COMMIT"), Statement::Commit);
        assert_eq!(classify("truncate table app.g"), Statement::Truncate(n(Some("app"), "g")));
        assert_eq!(classify("TRUNCATE `we``ird`"), Statement::Truncate(n(None, "we`ird")));
        assert_eq!(
            classify("/* c */ ALTER ONLINE TABLE `app`.`t` ADD COLUMN x int"),
            Statement::Ddl(vec![n(Some("app"), "t")])
        );
        assert_eq!(
            classify("RENAME TABLE a TO b, app.c TO d"),
            Statement::Ddl(vec![n(None, "a"), n(None, "b"), n(Some("app"), "c"), n(None, "d")])
        );
        assert_eq!(
            classify("DROP TABLE IF EXISTS `t1`,`t2` /* generated by server */"),
            Statement::Ddl(vec![n(None, "t1"), n(None, "t2")])
        );
        assert_eq!(classify("CREATE OR REPLACE TABLE t (id int)"), Statement::Ddl(vec![n(None, "t")]));
        assert_eq!(classify("create index ix on app.g(a)"), Statement::Index(n(Some("app"), "g")));
        assert_eq!(classify("DROP INDEX IF EXISTS ix ON t"), Statement::Index(n(None, "t")));
        assert_eq!(classify("update t set v = 'BEGIN'"), Statement::Dml);
        assert_eq!(classify("DROP DATABASE app"), Statement::Ddl(vec![n(Some("app"), "*")]));
        assert_eq!(classify("GRANT ALL ON app.* TO x"), Statement::Other);
        assert_eq!(classify("CREATE DATABASE app"), Statement::Other);
    }
}
