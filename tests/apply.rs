//! The apply on its own, against a real PostgreSQL: staged changes of several source
//! transactions land as the last change of each key, key changes included; a unique
//! value swapped between two rows is replayed in source order; a TRUNCATE empties the
//! table between changes; the stored position and count move in the same commit, and a
//! rollback leaves both as they were. Every key a commit changed (both keys of a key
//! change) is in `converge.follow_changed` with that commit's position, a TRUNCATE as the
//! whole-table mark, nothing of a rollback; `forget_through` forgets by file number and
//! position; a composite key with quotes, commas and a newline reads back as it was.

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
    in_file("binlog.000001", position)
}

fn in_file(file: &str, position: u64) -> BinlogPosition {
    BinlogPosition { file: file.into(), position, gtid: None }
}

async fn setup(pg: &PgDb) -> Applier {
    setup_with(pg, "", vec![]).await
}

/// The `user` table (and `more`, then `extra` tables) followed by pipeline `p` into `public`.
async fn setup_with(pg: &PgDb, more: &str, extra: Vec<ApplyTable>) -> Applier {
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
    pg.client.batch_execute(more).await.unwrap();
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
    let mut tables = vec![table];
    tables.extend(extra);
    Applier::open(client, "public", "p", tables).await.unwrap()
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

/// `converge.follow_changed` as (table, key, file number, position), in the arrays' order.
async fn changed(pg: &PgDb) -> Vec<Vec<Option<String>>> {
    pg_rows(
        pg,
        "SELECT table_name, c.key::text, file_no, position FROM converge.follow_changed AS c
          WHERE pipeline = 'p' AND target_schema = 'public' ORDER BY table_name, c.key",
    )
    .await
}

fn entry(table: &str, key: &str, file_no: u64, position: u64) -> Vec<Option<String>> {
    [table, key, &file_no.to_string(), &position.to_string()].iter().map(|s| Some(s.to_string())).collect()
}

fn keys(ids: &[&str]) -> Vec<Vec<Option<String>>> {
    ids.iter().map(|i| vec![Some(i.to_string())]).collect()
}

#[tokio::test]
async fn every_key_a_commit_changed_is_recorded_with_its_position() {
    let pg = PgDb::create("apply_changed").await;
    let mut a = setup(&pg).await;
    // Commit 1 (file 1): insert 4, update 1, key change 2 → 20, delete 3.
    a.stage("user", vec![Op::Upsert, Op::Upsert], rows(&[4, 1], &["d", "a2"]), 2).await.unwrap();
    a.stage("user", vec![Op::Delete, Op::Upsert], rows(&[2, 20], &["b", "b"]), 1).await.unwrap();
    a.stage("user", vec![Op::Delete], rows(&[3], &["c"]), 1).await.unwrap();
    a.commit(&in_file("binlog.000001", 900), None).await.unwrap();
    let first = |k: &str| entry("user", k, 1, 900);
    assert_eq!(changed(&pg).await, [first("{1}"), first("{2}"), first("{20}"), first("{3}"), first("{4}")]);
    // Commit 2 (file 2): 4 updated and 1 deleted again take the new position; the rest keep theirs.
    a.stage("user", vec![Op::Upsert, Op::Delete], rows(&[4, 1], &["d2", "a2"]), 2).await.unwrap();
    a.commit(&in_file("binlog.000002", 120), None).await.unwrap();
    // An idle position move records nothing and moves no key.
    a.commit(&in_file("binlog.000002", 300), None).await.unwrap();
    let second = |k: &str| entry("user", k, 2, 120);
    let expected = [second("{1}"), first("{2}"), first("{20}"), first("{3}"), second("{4}")];
    assert_eq!(changed(&pg).await, expected);
    assert_eq!(a.stored().await.unwrap().unwrap().at.position, 300);
    let read = converge::pg::changed::read(&pg.client, "p", "public").await.unwrap();
    assert_eq!(read.len(), 1);
    assert_eq!((read[0].table.as_str(), read[0].whole_table), ("user", false));
    assert_eq!(read[0].keys, keys(&["1", "2", "20", "3", "4"]));
    assert_eq!(converge::pg::changed::count(&pg.client, "p", "public").await.unwrap(), 5);
    assert_eq!(converge::pg::changed::count(&pg.client, "other", "public").await.unwrap(), 0);
    pg.drop_db().await;
}

#[tokio::test]
async fn a_rolled_back_apply_records_no_key() {
    let pg = PgDb::create("apply_changed_rb").await;
    let mut a = setup(&pg).await;
    a.stage("user", vec![Op::Upsert], rows(&[7], &["g"]), 1).await.unwrap();
    a.truncate("user").await.unwrap();
    a.stage("user", vec![Op::Upsert], rows(&[8], &["h"]), 1).await.unwrap();
    a.rollback().await.unwrap();
    assert_eq!(changed(&pg).await, Vec::<Vec<Option<String>>>::new());
    // The next commit records its own keys only (nothing left over from the rollback).
    a.stage("user", vec![Op::Delete], rows(&[2], &["b"]), 1).await.unwrap();
    a.commit(&at(500), None).await.unwrap();
    assert_eq!(changed(&pg).await, [entry("user", "{2}", 1, 500)]);
    pg.drop_db().await;
}

#[tokio::test]
async fn a_truncate_records_the_whole_table_mark() {
    let pg = PgDb::create("apply_changed_tr").await;
    let mut a = setup(&pg).await;
    a.stage("user", vec![Op::Upsert], rows(&[5], &["e"]), 1).await.unwrap();
    a.truncate("user").await.unwrap();
    a.stage("user", vec![Op::Upsert], rows(&[6], &["f"]), 1).await.unwrap();
    a.commit(&at(1100), None).await.unwrap();
    let here = |k: &str| entry("user", k, 1, 1100);
    assert_eq!(changed(&pg).await, [here("{}"), here("{5}"), here("{6}")]);
    let read = converge::pg::changed::read(&pg.client, "p", "public").await.unwrap();
    assert_eq!(read.len(), 1);
    assert!(read[0].whole_table);
    assert_eq!(read[0].keys, keys(&["5", "6"]));
    pg.drop_db().await;
}

#[tokio::test]
async fn forget_through_forgets_what_changed_at_or_before_a_position_across_files() {
    let pg = PgDb::create("apply_changed_fg").await;
    let mut a = setup(&pg).await;
    // binlog.1000000 follows binlog.999999: by number, not by name.
    let commits = [("binlog.999999", 900, 1), ("binlog.1000000", 4, 2), ("binlog.1000000", 500, 3)];
    for (file, position, id) in commits {
        a.stage("user", vec![Op::Upsert], rows(&[id], &[&format!("x{id}")]), 1).await.unwrap();
        a.commit(&in_file(file, position), None).await.unwrap();
    }
    let gone =
        converge::pg::changed::forget_through(&pg.client, "p", "public", &in_file("binlog.1000000", 3)).await.unwrap();
    assert_eq!(gone, 1, "only the entry of the earlier file");
    assert_eq!(changed(&pg).await, [entry("user", "{2}", 1_000_000, 4), entry("user", "{3}", 1_000_000, 500)]);
    let gone =
        converge::pg::changed::forget_through(&pg.client, "p", "public", &in_file("binlog.1000000", 4)).await.unwrap();
    assert_eq!(gone, 1, "at the position itself");
    assert_eq!(changed(&pg).await, [entry("user", "{3}", 1_000_000, 500)]);
    // A new copy's position forgets everything in the load's transaction.
    let fresh = in_file("binlog.1000001", 4);
    converge::pg::state::record_follow(&pg.client, "p", "public", "m2", &fresh).await.unwrap();
    assert_eq!(converge::pg::changed::count(&pg.client, "p", "public").await.unwrap(), 0);
    pg.drop_db().await;
}

#[tokio::test]
async fn a_composite_key_with_quotes_and_a_newline_round_trips_as_text() {
    let pg = PgDb::create("apply_changed_ck").await;
    let pair = ApplyTable {
        source: "pair".into(),
        target: "pair".into(),
        columns: vec![
            CopyColumn { name: "a".into(), target: PgTarget::Int4, ..Default::default() },
            CopyColumn { name: "b".into(), target: PgTarget::Text, ..Default::default() },
        ],
        key: vec!["b".into(), "a".into()],
        sequences: vec![],
    };
    let ddl = "CREATE TABLE pair (a int, b varchar(40), PRIMARY KEY (a, b))";
    let mut a = setup_with(&pg, ddl, vec![pair]).await;
    let odd = ["it's\nnew", "a,b \"{c}\" \\ NULL", "plain"];
    let schema =
        Arc::new(Schema::new(vec![Field::new("a", DataType::Int32, false), Field::new("b", DataType::Utf8, false)]));
    let cols: Vec<ArrayRef> =
        vec![Arc::new(Int32Array::from(vec![1, 2, 3])), Arc::new(StringArray::from(odd.to_vec()))];
    let batch = RecordBatch::try_new(schema, cols).unwrap();
    a.stage("pair", vec![Op::Upsert, Op::Upsert, Op::Delete], batch, 3).await.unwrap();
    a.commit(&at(700), None).await.unwrap();
    let read = converge::pg::changed::read(&pg.client, "p", "public").await.unwrap();
    assert_eq!(read.len(), 1);
    assert_eq!(read[0].table, "pair");
    let mut expected: Vec<Vec<Option<String>>> =
        odd.iter().zip(["1", "2", "3"]).map(|(b, a)| vec![Some(b.to_string()), Some(a.to_string())]).collect();
    expected.sort();
    let mut got = read[0].keys.clone();
    got.sort();
    assert_eq!(got, expected, "in the apply's key order (b, a), each value as PostgreSQL's text");
    // The recorded keys find the target's rows by the same text.
    let found = pg_rows(
        &pg,
        "SELECT count(*) FROM pair p JOIN converge.follow_changed c
           ON c.table_name = 'pair' AND c.key = ARRAY[p.b::text, p.a::text]",
    )
    .await;
    assert_eq!(found, [[Some("2".to_string())]], "the two upserted rows");
    pg.drop_db().await;
}
