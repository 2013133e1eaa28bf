//! Quoting identifiers for each dialect. Every identifier sent to a database goes
//! through here: real tables are called `user`, `order` and `query-result-cache`.

/// A MySQL identifier in backticks, inner backticks doubled.
pub fn mysql(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// A PostgreSQL identifier in double quotes, inner quotes doubled.
pub fn pg(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A PostgreSQL string literal, quotes doubled (standard_conforming_strings is on).
pub fn pg_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// A MySQL string value as a hex literal in utf8mb4: the same text whatever the session's
/// sql_mode does with quotes and backslashes.
pub fn mysql_literal(text: &str) -> String {
    format!("CONVERT(X'{}' USING utf8mb4)", hex::encode(text))
}

/// `"schema"."table"`, each part quoted.
pub fn pg_qualified(schema: &str, table: &str) -> String {
    format!("{}.{}", pg(schema), pg(table))
}

#[cfg(test)]
mod tests {
    use crate::ident::{mysql, pg, pg_literal};

    #[test]
    fn quotes_inner_quotes() {
        assert_eq!(mysql("a`b c"), "`a``b c`");
        assert_eq!(pg("query-result-cache"), "\"query-result-cache\"");
        assert_eq!(pg("a\"b"), "\"a\"\"b\"");
        assert_eq!(pg_literal("it's"), "'it''s'");
    }
}
