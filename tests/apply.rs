//! The apply on its own, against a real PostgreSQL: staged changes of several source
//! transactions land as the last change of each key, key changes included; a unique
//! value swapped between two rows is replayed in source order; a TRUNCATE empties the
//! table between changes; the stored position and count move in the same commit, and a
//! rollback leaves both as they were.

mod common;

use std::sync::Arc;

use arrow::array::{ArrayRef, Int32Array, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use common::*;
use converge::change::Op;
use converge::manifest::BinlogPosition;
use converge::sink::postgres::apply::{Applier, ApplyTable};
use converge::sink::postgres::copy::CopyColumn;
use converge::sink::postgres::pgtype::PgTarget;

fn rows(ids: &[i32], emails: &[&str]) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int32, false),
        Field::new("email", DataType::Utf8, false),
    ]));
    let cols: Vec<ArrayRef> =
        vec![Arc::new(Int32Array::from(ids.to_vec())), Arc::new(StringArray::from(emails.to_vec()))];
    RecordBatch::try_new(schema, cols).unwrap()
}

fn at(position: u64) -> BinlogPosition {
    BinlogPosition { file: "binlog.000001".into(), position, gtid: None }
}

async fn setup(pg: &PgDb) -> Applier {
    pg.client
        .batch_execute(
            "CREATE TABLE \"user\" (id serial PRIMARY KEY, email text NOT NULL UNIQUE);
             INSERT INTO \"user\" VALUES (1, 'a'), (2, 'b'), (3, 'c');
             SELECT setval(pg_get_serial_sequence('\"user\"', 'id'), 3);
             CREATE SCHEMA converge;
             CREATE TABLE converge.follow_state (pipeline text NOT NULL, target_schema text NOT NULL,
               binlog_file text NOT NULL, binlog_position bigint NOT NULL, gtid text, migration_id text NOT NULL,
               recorded_at timestamptz NOT NULL DEFAULT now(), changes_applied bigint NOT NULL DEFAULT 0,
               applied_at timestamptz, source_commit_at timestamptz, PRIMARY KEY (pipeline, target_schema));
             INSERT INTO converge.follow_state (pipeline, target_schema, binlog_file, binlog_position, migration_id)
               VALUES ('p', 'public', 'binlog.000001', 4, 'm')",
        )
        .await
        .unwrap();
    let client = connect_pg(&pg.url).await;
    let columns = vec![
        CopyColumn { name: "id".into(), target: PgTarget::Int4, ..Default::default() },
        CopyColumn { name: "email".into(), target: PgTarget::Text, ..Default::default() },
    ];
    let seq = pg.client.query_one("SELECT pg_get_serial_sequence('\"user\"', 'id')", &[]).await.unwrap().get(0);
    let table = ApplyTable {
        source: "user".into(),
        target: "user".into(),
        columns,
        key: vec!["id".into()],
        sequences: vec![("id".into(), seq)],
    };
    Applier::open(client, "public", "p", vec![table]).await.unwrap()
}

async fn users(pg: &PgDb) -> Vec<Vec<Option<String>>> {
    pg_rows(pg, "SELECT id, email FROM \"user\" ORDER BY id").await
}

fn row(id: &str, email: &str) -> Vec<Option<String>> {
    vec![Some(id.to_string()), Some(email.to_string())]
}

#[tokio::test]
async fn the_last_change_of_each_key_wins_and_the_position_moves_with_it() {
    let pg = PgDb::create("apply_last").await;
    let mut a = setup(&pg).await;
    // Source txn 1: insert 4, update 1; txn 2: key change 2 → 20, delete 3, insert 3 again.
    a.stage("user", vec![Op::Upsert, Op::Upsert], rows(&[4, 1], &["d", "a2"]), 2).await.unwrap();
    a.stage("user", vec![Op::Delete, Op::Upsert], rows(&[2, 20], &["b", "b"]), 1).await.unwrap();
    a.stage("user", vec![Op::Delete, Op::Upsert], rows(&[3, 3], &["c", "c3"]), 2).await.unwrap();
    let applied = a.commit(&at(900), Some(1_700_000_000)).await.unwrap();
    assert_eq!(applied.changes, 5, "the key change 2 → 20 is one change");
    assert!(!applied.replayed);
    assert_eq!(users(&pg).await, [row("1", "a2"), row("3", "c3"), row("4", "d"), row("20", "b")]);
    let state = a.stored().await.unwrap().unwrap();
    assert_eq!((state.at.position, state.changes_applied), (900, 5));
    // The sequence moved past the largest key the source handed out.
    let next: i64 =
        pg.client.query_one("SELECT nextval(pg_get_serial_sequence('\"user\"', 'id'))", &[]).await.unwrap().get(0);
    assert_eq!(next, 21);
    pg.drop_db().await;
}

#[tokio::test]
async fn a_unique_swap_is_replayed_in_source_order() {
    let pg = PgDb::create("apply_swap").await;
    let mut a = setup(&pg).await;
    // 1: a → tmp, 2: b → a, 1: tmp → b — valid in source order, refused set-based.
    a.stage("user", vec![Op::Upsert; 3], rows(&[1, 2, 1], &["tmp", "a", "b"]), 3).await.unwrap();
    let applied = a.commit(&at(1000), None).await.unwrap();
    assert!(applied.replayed, "{applied:?}");
    assert_eq!(users(&pg).await, [row("1", "b"), row("2", "a"), row("3", "c")]);
    pg.drop_db().await;
}

#[tokio::test]
async fn a_truncate_applies_between_the_changes_around_it_and_a_rollback_keeps_the_position() {
    let pg = PgDb::create("apply_trunc").await;
    let mut a = setup(&pg).await;
    a.stage("user", vec![Op::Upsert], rows(&[5], &["e"]), 1).await.unwrap();
    a.truncate("user").await.unwrap();
    a.stage("user", vec![Op::Upsert], rows(&[6], &["f"]), 1).await.unwrap();
    a.commit(&at(1100), None).await.unwrap();
    assert_eq!(users(&pg).await, [row("6", "f")]);
    a.stage("user", vec![Op::Upsert], rows(&[7], &["g"]), 1).await.unwrap();
    a.rollback().await.unwrap();
    assert_eq!(users(&pg).await, [row("6", "f")]);
    let state = a.stored().await.unwrap().unwrap();
    assert_eq!((state.at.position, state.changes_applied), (1100, 3));
    pg.drop_db().await;
}

#[tokio::test]
async fn a_second_follower_of_the_same_pipeline_is_refused() {
    let pg = PgDb::create("apply_lock").await;
    let _first = setup(&pg).await;
    let client = connect_pg(&pg.url).await;
    let err = Applier::open(client, "public", "p", vec![]).await.err().expect("refused");
    assert!(err.to_string().contains("another follower"), "{err}");
    pg.drop_db().await;
}
