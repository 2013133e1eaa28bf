//! What `converge bench` records beside each timed load is read off the real servers and
//! the host: the checkpoint before it; the WAL, checkpoint and temporary-file writes
//! during it; the CPU of PostgreSQL and of MariaDB; what the target's backends waited on.

mod common;

use common::*;
use converge::bench::activity::Watch;
use mysql_async::prelude::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watched_stage_reports_the_servers_writes_cpu_and_waits() {
    let pg = PgDb::create("cvg_activity").await;
    let watch = Watch::settle_and_start(&pg.url).await.expect("watching the target");
    // PostgreSQL: ~20 MB of rows (WAL; an INSERT, not CREATE TABLE AS, whose ring buffer
    // would write most pages itself before the checkpoint), a sort too big for its
    // memory (temporary files; their statistics are flushed when the session next goes
    // idle), a checkpoint that writes the rows, then a backend sleeping long enough to be
    // sampled several times.
    pg.client
        .batch_execute(
            "CREATE TABLE \"query-result-cache\" (id int, v text);\n\
             INSERT INTO \"query-result-cache\" SELECT g, repeat('x', 80) FROM generate_series(1, 200000) g;\n\
             SET work_mem = '64kB';\n\
             SELECT count(*) FROM (SELECT id FROM \"query-result-cache\" ORDER BY md5(v || id) OFFSET 0) s",
        )
        .await
        .unwrap();
    pg.client.batch_execute("CHECKPOINT; SELECT pg_sleep(1.2)").await.unwrap();
    // MariaDB: a second of CPU.
    let mut my = mysql_async::Conn::from_url(mysql_base().as_str()).await.unwrap();
    my.query_drop("SELECT BENCHMARK(3000000, MD5('converge'))").await.unwrap();
    drop(my);
    let seen = watch.finish().await;

    assert!(seen.settled, "a superuser may CHECKPOINT before the stage");
    let p = seen.postgres.as_ref().expect("PostgreSQL's statistics were read");
    assert!(p.wal_mb > 15.0, "200,000 rows of ~100 bytes write WAL: {p:?}");
    assert!(p.checkpoints >= 1 && p.checkpoint_mb > 15.0, "the checkpoint inside the stage wrote the table: {p:?}");
    assert!(p.temp_mb > 1.0, "the sort spilled to temporary files: {p:?}");
    let h = seen.host.as_ref().expect("/proc was read");
    assert!(h.postgres_cpu_s > 0.05, "the inserts cost PostgreSQL CPU: {h:?}");
    assert!(h.mariadb_cpu_s > 0.2, "BENCHMARK() cost MariaDB CPU: {h:?}");
    let sleep = seen.waits.iter().find(|(w, _)| w == "Timeout:PgSleep").unwrap_or_else(|| panic!("{seen:?}"));
    assert!(sleep.1 > 0.0 && sleep.1 < 1.0, "a share of all the samples: {seen:?}");
    pg.drop_db().await;
}
