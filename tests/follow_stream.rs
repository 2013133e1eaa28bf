//! The binlog change stream (`source::mysql::binlog::stream`) against MariaDB servers of
//! the test's own (`--log-bin --binlog-format=ROW`): a followed row is exactly the
//! copied one, for every type family whose binlog form differs from what the snapshot
//! reads; updates and deletes give the right operations; and what the stream cannot
//! carry (DDL on a followed table, a statement-logged change, compressed events, a
//! purged position) stops it with the reason.

mod common;

use std::sync::Arc;

use arrow::record_batch::RecordBatch;
use common::own_mariadb::OwnMariaDb;
use converge::change::{Change, Op};
use converge::feed::{FeedMsg, ReadSpec};
use converge::manifest::BinlogPosition;
use converge::mysql::{MySqlOptions, MySqlSource};
use converge::source::mysql::binlog::stream::{self, BinlogChanges, FollowRequest};
use converge::source::ChangeStream;
use mysql_async::prelude::*;

/// The table's read spec as the snapshot plans it (every column, default rules).
async fn spec(url: &str, table: &str) -> ReadSpec {
    let src = MySqlSource::open(url, MySqlOptions { connections: 1, ..Default::default() }).await.unwrap();
    let t = src.introspect().await.unwrap().into_iter().find(|t| t.name == table).unwrap();
    ReadSpec::all_columns(t)
}

/// The table read through the snapshot reader.
async fn snapshot(url: &str, spec: &ReadSpec) -> Vec<RecordBatch> {
    let src = Arc::new(MySqlSource::open(url, MySqlOptions { connections: 1, ..Default::default() }).await.unwrap());
    let mut feeds = converge::source::mysql::read_all(src.clone(), vec![spec.clone()], true);
    let mut feed = feeds.recv().await.unwrap();
    let mut out = Vec::new();
    while let Some(msg) = feed.rx.recv().await {
        match msg {
            FeedMsg::Batch(b) => out.push(b),
            FeedMsg::Done(_) => break,
            FeedMsg::Failed(e) => panic!("snapshot read: {e}"),
        }
    }
    out
}

async fn follow(my: &OwnMariaDb, specs: Vec<ReadSpec>, from: BinlogPosition, batch_rows: usize) -> BinlogChanges {
    stream::open(FollowRequest {
        url: my.url("app"),
        database: "app".into(),
        specs,
        from,
        server_id: 4242,
        heartbeat_secs: 0.2,
        batch_rows,
    })
    .await
    .unwrap()
}

/// Changes up to and including the `commits`-th commit.
async fn until_commits(s: &mut BinlogChanges, commits: usize) -> Vec<Change> {
    let mut out = Vec::new();
    let mut seen = 0;
    while seen < commits {
        let c = s.next().await.unwrap();
        if matches!(c, Change::Commit { .. }) {
            seen += 1;
        }
        out.push(c);
    }
    out
}

/// The position of the last commit of `changes`.
fn last_commit(changes: &[Change]) -> (String, u64) {
    changes
        .iter()
        .rev()
        .find_map(|c| match c {
            Change::Commit { at, .. } => Some((at.file.clone(), at.position)),
            _ => None,
        })
        .expect("a commit")
}

/// The rows changes of `table`, as (ops, batches).
fn rows_of(changes: &[Change], table: &str) -> (Vec<Op>, Vec<RecordBatch>) {
    let mut ops = Vec::new();
    let mut batches = Vec::new();
    for c in changes {
        if let Change::Rows(t) = c {
            if t.table == table {
                ops.extend(&t.ops);
                batches.push(t.rows.clone());
            }
        }
    }
    (ops, batches)
}

/// Asserts two lists of batches hold the same rows, naming the first row and column
/// that differ.
fn assert_same_rows(followed: &[RecordBatch], copied: &[RecordBatch]) {
    let schema = copied[0].schema();
    let a = arrow::compute::concat_batches(&schema, followed).unwrap();
    let b = arrow::compute::concat_batches(&schema, copied).unwrap();
    assert_eq!(a.num_rows(), b.num_rows(), "rows followed vs copied");
    for row in 0..a.num_rows() {
        for (c, field) in schema.fields().iter().enumerate() {
            let (x, y) = (a.column(c).slice(row, 1), b.column(c).slice(row, 1));
            assert!(x.to_data() == y.to_data(), "row {row}, column `{}`: followed {x:?} ≠ copied {y:?}", field.name());
        }
    }
}

const TYPES: &str = "CREATE DATABASE app;\n\
CREATE TABLE app.t (k binary(16) PRIMARY KEY, e enum('small','Medium','LARGE'), s set('a','b','c','d'), \
 y year, bu bigint unsigned, tu tinyint unsigned, mu mediumint unsigned, si smallint, ti tinyint, \
 ts timestamp(6) NULL DEFAULT NULL, dt datetime(6), d date, tm time(6), d65 decimal(65,30), d10 decimal(10,2), \
 f float, db double, b5 bit(5), l1 varchar(20) CHARACTER SET latin1, j json, u char(36), tx text, blb longblob);\n\
CREATE TABLE app.g (id int PRIMARY KEY, a int, v int AS (a * 2) VIRTUAL, s varchar(20) AS (concat('s', a)) PERSISTENT)";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_followed_row_is_exactly_the_copied_row_and_updates_and_deletes_give_their_operations() {
    let my = OwnMariaDb::with_binlog(&["--max-allowed-packet=64M"]).await;
    my.exec(TYPES).await;
    let from = stream::server_position(&my.url("app")).await.unwrap();
    let spec = spec(&my.url("app"), "t").await;
    let generated = spec_now(&my, "g").await;
    my.exec(
        "INSERT INTO app.g (id, a) VALUES (1, 5), (2, NULL);\n\
         INSERT INTO app.t VALUES (UNHEX('0100000000000000000000000000AB00'), 'Medium', 'a,c', 2024, \
          18446744073709551615, 255, 16777215, -32768, -128, '2024-02-29 23:59:59.123456', \
          '1000-01-01 00:00:00.000001', '9999-12-31', '-838:59:59.000000', \
          '-12345678901234567890123456789012345.123456789012345678901234567890', '-12345678.90', 3.14159, \
          2.718281828459045, b'10101', 'é€ x', '{\"a\": [1, 2], \"b\": null}', \
          'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11', 'line1\\nline2\\ttab', x'00FF00');\n\
         INSERT INTO app.t VALUES (UNHEX('02000000000000000000000000000000'), 'LARGE', '', 0, 0, 0, 0, 32767, 127, \
          '1970-01-01 00:00:01', '2024-01-01 12:00:00', '2000-02-29', '-00:00:01.500000', '0.000000000000000000000000000001', \
          '0.50', -0.0, -1e300, b'0', 'plain', '[]', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a12', '', '');\n\
         INSERT INTO app.t (k) VALUES (UNHEX('03000000000000000000000000000000'));\n\
         INSERT INTO app.t (k, tm, blb) VALUES (UNHEX('04000000000000000000000000000000'), '838:59:59', \
          REPEAT('x', 20971520))",
    )
    .await;
    let mut s = follow(&my, vec![spec.clone(), generated.clone()], from, 3).await;
    let inserted = until_commits(&mut s, 5).await;
    // MariaDB logs generated columns (virtual ones too) in a full row image.
    let (ops, rows) = rows_of(&inserted, "g");
    assert_eq!(ops, vec![Op::Upsert; 2]);
    assert_same_rows(&rows, &snapshot(&my.url("app"), &generated).await);
    let (ops, followed) = rows_of(&inserted, "t");
    assert_eq!(ops, vec![Op::Upsert; 4]);
    let copied = snapshot(&my.url("app"), &spec).await;
    assert_same_rows(&followed, &copied);
    let now = stream::server_position(&my.url("app")).await.unwrap();
    assert_eq!(last_commit(&inserted), (now.file.clone(), now.position), "the last commit is at the server's position");

    // A key kept, a key changed, a delete; more rows than a batch holds.
    my.exec(
        "UPDATE app.t SET e = 'small' WHERE k = UNHEX('0100000000000000000000000000AB00');\n\
         UPDATE app.t SET k = UNHEX('05000000000000000000000000000000') WHERE k = UNHEX('02000000000000000000000000000000');\n\
         DELETE FROM app.t WHERE k = UNHEX('03000000000000000000000000000000');\n\
         UPDATE app.t SET si = 1",
    )
    .await;
    let changed = until_commits(&mut s, 4).await;
    let (ops, batches) = rows_of(&changed, "t");
    use Op::*;
    assert_eq!(ops[..4], [Upsert, Move, Upsert, Delete], "a key change is the old key's move, then the new row");
    assert_eq!(ops[4..], [Upsert; 3], "the last statement updates every row left, keys kept");
    assert!(batches.iter().all(|b| b.num_rows() <= 3), "at most batch_rows rows per change");
    // The last change of each row is what the table now holds.
    let now = snapshot(&my.url("app"), &spec).await;
    let tail: Vec<RecordBatch> = {
        let all = arrow::compute::concat_batches(&now[0].schema(), &batches).unwrap();
        vec![all.slice(4, 3)]
    };
    assert_same_rows(&tail, &now);

    // Into the next binlog file.
    my.exec("FLUSH BINARY LOGS;\nDELETE FROM app.t WHERE k = UNHEX('05000000000000000000000000000000')").await;
    let rotated = until_commits(&mut s, 1).await;
    // The commit is right after the DELETE's XID event (MariaDB may log a checkpoint after it).
    let mut c = my.conn().await;
    let events: Vec<mysql_async::Row> = c.query("SHOW BINLOG EVENTS IN 'binlog.000002'").await.unwrap();
    let xid_end = events
        .iter()
        .filter(|r| r.get::<String, _>("Event_type").as_deref() == Some("Xid"))
        .filter_map(|r| r.get::<u64, _>("End_log_pos"))
        .next_back()
        .expect("the DELETE's XID");
    assert_eq!(last_commit(&rotated), ("binlog.000002".to_string(), xid_end));
    assert_eq!(rows_of(&rotated, "t").0, vec![Op::Delete]);
    Box::new(s).close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncate_is_followed_and_ddl_or_statement_logging_stops_the_stream_naming_why() {
    let my = OwnMariaDb::with_binlog(&[]).await;
    my.exec("CREATE DATABASE app;\nCREATE TABLE app.t (id int PRIMARY KEY, v varchar(10));\nCREATE TABLE app.other (id int PRIMARY KEY)")
        .await;
    let spec = spec(&my.url("app"), "t").await;
    let from = stream::server_position(&my.url("app")).await.unwrap();
    my.exec(
        "INSERT INTO app.other VALUES (1);\nINSERT INTO app.t VALUES (1, 'a');\nCREATE INDEX ix ON app.t (v);\n\
         ALTER TABLE app.other ADD COLUMN x int;\nTRUNCATE TABLE app.t",
    )
    .await;
    let mut s = follow(&my, vec![spec.clone()], from.clone(), 100).await;
    let changes = until_commits(&mut s, 5).await;
    assert_eq!(rows_of(&changes, "other").0, vec![], "a table not followed is skipped");
    assert_eq!(rows_of(&changes, "t").0, vec![Op::Upsert]);
    assert!(changes.iter().any(|c| matches!(c, Change::Truncate { table } if table == "t")), "{changes:?}");
    // Idle: a heartbeat at the server's position once everything is read.
    let now = stream::server_position(&my.url("app")).await.unwrap();
    let idle = loop {
        if let Change::Idle { at } = s.next().await.unwrap() {
            break at;
        }
    };
    assert_eq!((idle.file.as_str(), idle.position), (now.file.as_str(), now.position));
    Box::new(s).close().await;

    let at_alter = stream::server_position(&my.url("app")).await.unwrap();
    my.exec("ALTER TABLE app.t ADD COLUMN w int").await;
    let mut s = follow(&my, vec![spec.clone()], at_alter, 100).await;
    let e = loop {
        match s.next().await {
            Ok(_) => continue,
            Err(e) => break e.to_string(),
        }
    };
    assert!(e.contains("ALTER TABLE app.t ADD COLUMN w int") && e.contains("binlog.000001:"), "{e}");
    Box::new(s).close().await;

    let spec = spec_now(&my, "t").await;
    let at_update = stream::server_position(&my.url("app")).await.unwrap();
    let mut c = my.conn().await;
    c.query_drop("SET SESSION binlog_format = 'STATEMENT'").await.unwrap();
    c.query_drop("UPDATE app.t SET v = 'b'").await.unwrap();
    let mut s = follow(&my, vec![spec], at_update, 100).await;
    let e = loop {
        match s.next().await {
            Ok(_) => continue,
            Err(e) => break e.to_string(),
        }
    };
    assert!(e.contains("binlog_format = ROW") && e.contains("UPDATE app.t"), "{e}");
}

async fn spec_now(my: &OwnMariaDb, table: &str) -> ReadSpec {
    spec(&my.url("app"), table).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_purged_position_and_compressed_events_are_refused_with_the_way_forward() {
    let my = OwnMariaDb::with_binlog(&["--log-bin-compress", "--log-bin-compress-min-len=10"]).await;
    my.exec("CREATE DATABASE app;\nCREATE TABLE app.t (id int PRIMARY KEY, v text)").await;
    let spec = spec(&my.url("app"), "t").await;

    let purged = stream::server_position(&my.url("app")).await.unwrap();
    my.exec("FLUSH BINARY LOGS").await;
    purge_to(&my, "binlog.000002").await;
    let e = match stream::open(request(&my, spec.clone(), purged)).await {
        Err(e) => e,
        Ok(mut s) => s.next().await.unwrap_err(),
    };
    let said = e.to_string();
    assert!(said.contains("a new snapshot is needed") && said.contains("binlog.000001"), "{said}");
    assert!(std::error::Error::source(&e).is_some(), "the server's error is kept as the cause");

    let from = stream::server_position(&my.url("app")).await.unwrap();
    my.exec("INSERT INTO app.t VALUES (1, REPEAT('compress me ', 100))").await;
    let mut s = stream::open(request(&my, spec, from)).await.unwrap();
    let e = loop {
        match s.next().await {
            Ok(_) => continue,
            Err(e) => break e.to_string(),
        }
    };
    assert!(e.contains("log_bin_compress"), "{e}");
    Box::new(s).close().await;
}

/// Purges the binary logs before `file`, again until they are gone: MariaDB keeps a file
/// (a warning, no error) until the new file's binlog checkpoint is written, which comes
/// a moment after the rotation.
async fn purge_to(my: &OwnMariaDb, file: &str) {
    let mut c = my.conn().await;
    for _ in 0..200 {
        c.query_drop(format!("PURGE BINARY LOGS TO '{file}'")).await.unwrap();
        let logs: Vec<(String, u64)> = c.query("SHOW BINARY LOGS").await.unwrap();
        if logs.first().is_some_and(|(name, _)| name == file) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the binary logs before {file} were never purged");
}

fn request(my: &OwnMariaDb, spec: ReadSpec, from: BinlogPosition) -> FollowRequest {
    FollowRequest {
        url: my.url("app"),
        database: "app".into(),
        specs: vec![spec],
        from,
        server_id: 4243,
        heartbeat_secs: 1.0,
        batch_rows: 100,
    }
}
