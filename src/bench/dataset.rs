//! The benchmark dataset: four tables shaped like a platform database — char(36) keys,
//! JSON, text with newlines and emoji, datetime(6), timestamp(6), time up to 838 h,
//! decimals, unsigned bigints, and a table of zlib blobs of about 30 KB — generated in
//! MySQL by the server itself (`INSERT … SELECT` over a numbers table), deterministic
//! for a seed; and the schema-first PostgreSQL target for it (keys, indexes, foreign keys).

use mysql_async::prelude::*;

use crate::error::{Error, Result};

/// Rows per table for a total of about `rows`: (table, rows).
pub fn table_rows(rows: u64) -> Vec<(&'static str, u64)> {
    let blobs = (rows / 500).max(10);
    let account = (rows / 10).max(10);
    let post = (rows * 6 / 10).max(10);
    let activity = rows.saturating_sub(account + post + blobs).max(10);
    vec![("account", account), ("post", post), ("activity", activity), ("attachment", blobs)]
}

/// A deterministic UUID (lower-case, 8-4-4-4-12) for row `n` of `kind`, as MySQL SQL.
fn uuid_sql(seed: u64, kind: &str, n: &str) -> String {
    let h = format!("MD5(CONCAT('{seed}-{kind}-', {n}))");
    format!(
        "CONCAT_WS('-', SUBSTR({h}, 1, 8), SUBSTR({h}, 9, 4), SUBSTR({h}, 13, 4), SUBSTR({h}, 17, 4), SUBSTR({h}, 21, 12))"
    )
}

const MYSQL_SCHEMA: &str = "CREATE TABLE account (id char(36) NOT NULL PRIMARY KEY, email varchar(255) NOT NULL, \
  name varchar(128) NOT NULL, balance decimal(18,4) NOT NULL, counter bigint unsigned NOT NULL, active tinyint(1) NOT NULL, \
  created datetime(6) NOT NULL, settings json NOT NULL, UNIQUE KEY account_email (email)) CHARACTER SET utf8mb4;\n\
CREATE TABLE post (id char(36) NOT NULL PRIMARY KEY, accountId char(36) NOT NULL, title varchar(255) NOT NULL, \
  body text NOT NULL, created datetime(6) NOT NULL, updated datetime(6) NULL, spent time(6) NULL, score decimal(10,2) NULL, \
  views bigint unsigned NULL, meta json NULL, KEY post_account (accountId)) CHARACTER SET utf8mb4;\n\
CREATE TABLE activity (id bigint NOT NULL AUTO_INCREMENT PRIMARY KEY, postId char(36) NOT NULL, \
  kind enum('view','like','comment','share') NOT NULL, at timestamp(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6), payload json NULL, \
  amount decimal(30,10) NULL, KEY activity_post (postId)) CHARACTER SET utf8mb4;\n\
CREATE TABLE attachment (id int NOT NULL PRIMARY KEY, postId char(36) NULL, name varchar(255) NOT NULL, \
  data mediumblob NOT NULL, KEY attachment_post (postId)) CHARACTER SET utf8mb4";

/// The PostgreSQL target: the same tables, schema-first, with keys, indexes and foreign keys.
pub const PG_SCHEMA: &str = "CREATE TABLE account (id uuid PRIMARY KEY, email varchar(255) NOT NULL UNIQUE, \
  name varchar(128) NOT NULL, balance numeric(18,4) NOT NULL, counter numeric(20) NOT NULL, active boolean NOT NULL, \
  created timestamp(6) NOT NULL, settings jsonb NOT NULL);\n\
CREATE TABLE post (id uuid PRIMARY KEY, \"accountId\" uuid NOT NULL REFERENCES account(id), title varchar(255) NOT NULL, \
  body text NOT NULL, created timestamp(6) NOT NULL, updated timestamp(6), spent interval, score numeric(10,2), \
  views numeric(20), meta jsonb);\n\
CREATE INDEX post_account ON post (\"accountId\");\n\
CREATE TABLE activity (id bigserial PRIMARY KEY, \"postId\" uuid NOT NULL REFERENCES post(id), kind text NOT NULL, \
  at timestamptz(6) NOT NULL, payload jsonb, amount numeric(30,10));\n\
CREATE INDEX activity_post ON activity (\"postId\");\n\
CREATE TABLE attachment (id integer PRIMARY KEY, \"postId\" uuid REFERENCES post(id), name varchar(255) NOT NULL, \
  data bytea NOT NULL);\n\
CREATE INDEX attachment_post ON attachment (\"postId\")";

/// Creates the dataset's tables in the (empty) database `conn` is connected to and fills
/// them with about `rows` rows, deterministically for `seed`.
pub async fn generate(conn: &mut mysql_async::Conn, rows: u64, seed: u64) -> Result<()> {
    let err = |what: &str| {
        let what = what.to_string();
        move |e| Error::mysql(format!("generating the benchmark dataset ({what})"), e)
    };
    let sizes = table_rows(rows);
    let max = sizes.iter().map(|(_, n)| *n).max().unwrap_or(1).max(2000);
    conn.query_drop("SET SESSION group_concat_max_len = 1048576, SESSION time_zone = '+00:00'")
        .await
        .map_err(err("session"))?;
    for stmt in MYSQL_SCHEMA.split(";\n") {
        conn.query_drop(stmt).await.map_err(err("schema"))?;
    }
    // A numbers table 1..max, by doubling.
    conn.query_drop("CREATE TABLE _seq (n int unsigned NOT NULL PRIMARY KEY)").await.map_err(err("numbers"))?;
    conn.query_drop("INSERT INTO _seq VALUES (1)").await.map_err(err("numbers"))?;
    let mut have = 1u64;
    while have < max {
        conn.query_drop(format!("INSERT INTO _seq SELECT n + {have} FROM _seq WHERE n + {have} <= {max}"))
            .await
            .map_err(err("numbers"))?;
        have *= 2;
    }
    let n_of = |t: &str| sizes.iter().find(|(x, _)| *x == t).map(|(_, n)| *n).unwrap_or(0);
    let (accounts, posts) = (n_of("account"), n_of("post"));
    let account = format!(
        "INSERT INTO account SELECT {id}, CONCAT('user', n, '@example.org'), CONCAT('Name ', n, ' 😀 Ünïcødé'), \
         (n * 7919 % 100000000) / 10000, 18446744073709551615 - n, n % 2, \
         TIMESTAMP'2020-01-01 00:00:00' + INTERVAL n * 37 SECOND + INTERVAL (n * 7919) % 1000000 MICROSECOND, \
         JSON_OBJECT('theme', IF(n % 3 = 0, 'dark', 'light'), 'n', n, 'tags', JSON_ARRAY('a', n % 7, 2.5)) \
         FROM _seq WHERE n <= {accounts}",
        id = uuid_sql(seed, "a", "n")
    );
    let post = format!(
        "INSERT INTO post SELECT {id}, {account}, CONCAT('Title ', n, ' — ', SUBSTR(MD5(n), 1, 12)), \
         CONCAT('# Post ', n, '\\n\\nLorem ipsum dolor sit amet, \"quoted\", comma, 🚀 emoji, tab\\there.\\n', \
                REPEAT('Some *markdown* text, with a newline\\n', 1 + n % 12)), \
         TIMESTAMP'2021-01-01 00:00:00' + INTERVAL n * 13 SECOND + INTERVAL (n * 104729) % 1000000 MICROSECOND, \
         IF(n % 5 = 0, NULL, TIMESTAMP'2022-01-01 00:00:00' + INTERVAL n SECOND), \
         IF(n % 7 = 0, NULL, SEC_TO_TIME((n * 7919) % 3020399 + (n % 1000000) / 1000000)), \
         (n % 10000000) / 100, IF(n % 11 = 0, NULL, 18446744073709551615 - n * 1000), \
         IF(n % 4 = 0, NULL, JSON_OBJECT('lang', 'en', 'words', n % 500, 'draft', n % 2 = 0)) \
         FROM _seq WHERE n <= {posts}",
        id = uuid_sql(seed, "p", "n"),
        account = uuid_sql(seed, "a", &format!("1 + (n * 7919) % {accounts}"))
    );
    let activity = format!(
        "INSERT INTO activity (postId, kind, at, payload, amount) SELECT {post}, ELT(1 + n % 4, 'view', 'like', 'comment', 'share'), \
         TIMESTAMP'2023-01-01 00:00:00' + INTERVAL n SECOND + INTERVAL (n * 31) % 1000000 MICROSECOND, \
         IF(n % 3 = 0, NULL, JSON_OBJECT('ip', CONCAT('10.0.', n % 256, '.', n % 199), 'ok', TRUE)), \
         IF(n % 2 = 0, NULL, (n * 7919) / 1000000007) \
         FROM _seq s, (SELECT 0 AS k UNION ALL SELECT 1) d WHERE s.n + d.k * {max} <= {rows}",
        post = uuid_sql(seed, "p", &format!("1 + ((n + d.k * {max}) * 104729) % {posts}")),
        rows = n_of("activity"),
    );
    // ~60 KB of hex per row, zlib-compressed by the server to about 30 KB.
    let attachment = format!(
        "INSERT INTO attachment SELECT n, {post}, CONCAT('file-', n, '.bin'), \
         COMPRESS((SELECT GROUP_CONCAT(MD5(CONCAT(o.n, '-', s.n)) SEPARATOR '') FROM _seq s WHERE s.n <= 1900)) \
         FROM _seq o WHERE o.n <= {blobs}",
        post = uuid_sql(seed, "p", &format!("1 + (o.n * 15485863) % {posts}")),
        blobs = n_of("attachment"),
    );
    for (what, sql) in [("account", account), ("post", post), ("activity", activity), ("attachment", attachment)] {
        conn.query_drop(sql).await.map_err(err(what))?;
    }
    conn.query_drop("DROP TABLE _seq").await.map_err(err("numbers"))?;
    conn.query_drop("ANALYZE TABLE account, post, activity, attachment").await.map_err(err("analyze"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes_add_up() {
        let t = super::table_rows(3_000_000);
        assert_eq!(t.iter().map(|(_, n)| n).sum::<u64>(), 3_000_000);
        assert_eq!(t.iter().find(|(n, _)| *n == "attachment").unwrap().1, 6000);
    }
}
