//! The null sink: every row is read and transformed, then dropped; nothing is written
//! and the ledger holds no count for it.

mod common;

use common::{pipeline, MyDb, TempDir};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_null_sink_reads_and_transforms_every_row_and_keeps_none() {
    let my = MyDb::create("nullsink").await;
    my.exec("CREATE TABLE `order` (id int PRIMARY KEY, note text)").await;
    my.exec("INSERT INTO `order` VALUES (1, 'a'), (2, NULL), (3, 'c')").await;
    let out = TempDir::new("nullsink");
    let text = "name = \"null\"\n[source]\nkind = \"mysql\"\nurl = \"${MYSQL_URL}\"\n[[sink]]\nkind = \"null\"\n";
    let p = pipeline(text, &[("MYSQL_URL", &my.url)]);
    let report = converge::run::run(&p, &Default::default()).await.unwrap_or_else(|e| panic!("{e}"));
    let row = report.ledger.rows.iter().find(|r| r.table == "order").expect("a ledger row");
    assert_eq!(row.read, Some(3));
    assert_eq!(row.transformed, Some(3));
    assert!(row.written.is_empty(), "{:?}", row.written);
    assert!(report.exports.is_empty(), "no export directory: {:?}", report.exports);
    assert_eq!(std::fs::read_dir(out.path()).unwrap().count(), 0);
    my.drop_db().await;
}
