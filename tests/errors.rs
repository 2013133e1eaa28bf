//! The one error type keeps its cause: PostgreSQL's SQLSTATE and MySQL's error number
//! can be matched after wrapping, and `source()` walks to the driver's error.

mod common;

use std::error::Error as _;

use common::{MyDb, PgDb};
use converge::Error;
use mysql_async::prelude::Queryable;
use tokio_postgres::error::SqlState;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_refusal_keeps_its_sqlstate() {
    let pg = PgDb::create("err_pg").await;
    pg.client
        .batch_execute("CREATE TABLE \"user\" (id int PRIMARY KEY); INSERT INTO \"user\" VALUES (1)")
        .await
        .unwrap();
    let e = pg.client.batch_execute("INSERT INTO \"user\" VALUES (1)").await.unwrap_err();
    let err = Error::postgres("loading `user`", &e);
    assert_eq!(err.sqlstate(), Some(&SqlState::UNIQUE_VIOLATION));
    assert!(err.to_string().contains("SQLSTATE 23505"), "{err}");
    assert_eq!(err.mysql_code(), None);
    pg.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mysql_refusal_keeps_its_number_and_its_cause() {
    let my = MyDb::create("err_my").await;
    let mut conn = my.conn().await;
    conn.query_drop("CREATE TABLE `order` (id int PRIMARY KEY)").await.unwrap();
    conn.query_drop("INSERT INTO `order` VALUES (1)").await.unwrap();
    let e = conn.query_drop("INSERT INTO `order` VALUES (1)").await.unwrap_err();
    drop(conn);
    let err = Error::mysql("reading `order`", e);
    assert_eq!(err.mysql_code(), Some(1062), "ER_DUP_ENTRY");
    let cause = err.source().expect("the driver's error is the cause");
    assert!(cause.downcast_ref::<mysql_async::Error>().is_some(), "{cause:?}");
    assert_eq!(err.sqlstate(), None);
    my.drop_db().await;
}

#[test]
fn arrow_and_io_errors_are_causes_not_strings() {
    let arrow = arrow::error::ArrowError::CastError("no".into());
    let err = Error::datafusion("casting", arrow);
    let cause = err.source().expect("a cause");
    assert!(cause.downcast_ref::<arrow::error::ArrowError>().is_some());
    let io = Error::io("/nowhere", std::io::Error::from(std::io::ErrorKind::NotFound));
    let cause = io.source().and_then(|c| c.downcast_ref::<std::io::Error>()).expect("an io cause");
    assert_eq!(cause.kind(), std::io::ErrorKind::NotFound);
    assert!(Error::other("plain").source().is_none());
}
