//! Bisection over a `char(36)` UUID key (a case-insensitive collation in MySQL, `uuid` in
//! PostgreSQL) is served by MySQL's primary-key index: one changed cell among a million
//! rows is found shipping a few hundred rows, and MySQL examines about as many rows as
//! the table holds a small number of times — not once per bisection level, as a scan of
//! every range would. In a binary of its own, so that the server's row counters see only
//! this test.

mod common;

use common::*;
use converge::verify::digest::RowDiff;
use converge::verify::{verify, Depth};
use mysql_async::prelude::Queryable;

const N: u64 = 1_000_000;

/// Rows MySQL's handlers have read since it started (index and table reads alike).
async fn rows_examined(my: &MyDb) -> u64 {
    let mut c = my.conn().await;
    let rows: Vec<(String, String)> = c.query("SHOW GLOBAL STATUS LIKE 'Handler_read%'").await.unwrap();
    rows.iter().filter(|(k, _)| k != "Handler_read_key").filter_map(|(_, v)| v.parse::<u64>().ok()).sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_changed_cell_in_a_million_uuid_keyed_rows_is_found_from_the_index() {
    let my = MyDb::create("vuuid").await;
    // Upper case on odd rows: the case-insensitive collation orders them as uuid does.
    let uuid = "CONCAT(LPAD(HEX(seq), 8, '0'), '-0000-4000-8000-', LPAD(HEX(seq * 7919 % 1000003), 12, '0'))";
    my.exec(&format!(
        "CREATE TABLE big (id char(36) NOT NULL PRIMARY KEY, name varchar(40) NOT NULL) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci;\n\
         INSERT INTO big SELECT IF(seq % 2 = 1, UPPER({uuid}), LOWER({uuid})), CONCAT('row-', seq) FROM seq_1_to_1000000"
    ))
    .await;
    let pg = PgDb::create("vuuid").await;
    pg.client
        .batch_execute(
            "CREATE TABLE big (id uuid PRIMARY KEY, name varchar(40) NOT NULL);\n\
             INSERT INTO big SELECT (lpad(to_hex(g), 8, '0') || '-0000-4000-8000-' || lpad(to_hex(g::bigint * 7919 % 1000003), 12, '0'))::uuid, \
             'row-' || g FROM generate_series(1, 1000000) g;\n\
             UPDATE big SET name = 'row-654321 ' WHERE name = 'row-654321'",
        )
        .await
        .unwrap();
    let text = "name = \"big\"\n[source]\nkind = \"mysql\"\nurl = \"${MYSQL_URL}\"\n[[sink]]\nkind = \"postgres\"\nurl = \"${PG_URL}\"\n";
    let p = pipeline(text, &[("MYSQL_URL", &my.url), ("PG_URL", &pg.url)]);
    let before = rows_examined(&my).await;
    let r = verify(&p, Depth::Full).await.unwrap();
    let examined = rows_examined(&my).await - before;
    let (_, big) = &r.tables[0];
    assert_eq!((big.source_rows, big.target_rows), (N, N));
    let value = format!("{:08x}-0000-4000-8000-{:012x}", 654321, 654321u64 * 7919 % 1000003);
    let key = format!("id='{value}'");
    let want = RowDiff::Changed { key, values: vec![value], columns: vec!["name".into()] };
    assert_eq!(big.diffs, vec![want], "{}", r.text());
    println!("to find 1 changed row among {N}: {} rows shipped, {examined} rows examined by MySQL", big.rows_read);
    assert!(big.rows_read > 0 && big.rows_read < 1_000, "shipped {} rows", big.rows_read);
    // A scan per range would examine about N rows at each of ~14 levels.
    assert!(examined < 6 * N, "MySQL examined {examined} rows");
    pg.drop_db().await;
    my.drop_db().await;
}
