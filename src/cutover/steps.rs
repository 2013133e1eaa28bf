//! The cut-over's steps after the follower holds: the source's snapshot and position,
//! the drain to it, the check that nothing was written after it, sequences, the proof
//! of what changed, and the counts (docs/architecture.md, "Proving while live").

use std::time::Duration;

use super::{source_url, Timed};
use crate::error::{Error, Result};
use crate::follow::request::Held;
use crate::ident::{mysql as my_ident, pg_qualified};
use crate::manifest::BinlogPosition;
use crate::mysql::MySqlSource;
use crate::pg::connect::connect;
use crate::pg::integrity::advance_sequence_sql;
use crate::pg::introspect::introspect;
use crate::pipeline::plan::{self, Plan};
use crate::pipeline::spec::Pipeline;
use crate::source::mysql::binlog::listing::logged_between;
use crate::source::mysql::binlog::stream::server_position;

/// Longer than the follower's heartbeat period (1 s): a write after the drain would
/// have moved the server's position by then.
const QUIET_FOR: Duration = Duration::from_millis(1_500);

/// Drains the held follower to the source snapshot's position and proves the target
/// there; the position and what failed.
pub(super) async fn prove(
    p: &Pipeline,
    held: &mut Held,
    timed: &mut Timed,
) -> Result<(Option<BinlogPosition>, Vec<String>)> {
    let (opened, tables) = crate::pipeline::source::open(p).await?;
    let Some(src) = opened.live() else {
        opened.close().await;
        return Err(Error::other("`converge cutover` needs a live MySQL or MariaDB source"));
    };
    let proved = async {
        let at = src.binlog_position().cloned().ok_or_else(|| {
            Error::other("the source's snapshot has no binlog position (is log_bin on?): nothing can be drained to it")
        })?;
        timed.done("source snapshot", format!("at {at}"));
        let reached = held.until(&at).await?;
        timed.done("drain the follower", format!("the target is at {at}"));
        let mut plan = plan::build(p, tables.clone()).await?;
        plan::json_reading(&mut plan, Some(src.json_reading()));
        let (detail, mut failures) = quiet(p, &at, &plan).await?;
        timed.done("no writes after it", detail);
        if !failures.is_empty() {
            return Ok((Some(at), failures));
        }
        let sink = p.postgres().ok_or_else(|| Error::other("`converge cutover` needs a postgres sink"))?;
        let moved = sequences(&sink.url, sink.schema(), &plan).await?;
        timed.done("sequences", format!("{moved} moved past their maximum and MySQL's counter"));
        let clients = crate::verify::snapshot_clients(&sink.url, 2, Some(&reached.snapshot)).await?;
        let (detail, found) = crate::verify::changed::since_proof(p, &src, &clients, sink.schema(), tables).await?;
        timed.done("verify what changed", detail);
        failures.extend(found);
        let (detail, found) = counts(&src, &clients[0], sink.schema(), &plan).await?;
        timed.done("count rows", detail);
        failures.extend(found);
        Ok((Some(at), failures))
    }
    .await;
    opened.close().await;
    proved
}

/// Nothing reaches a followed table after `at` for longer than a heartbeat: the
/// server's position is still `at`, or what was logged since (listed by the server)
/// changed only other tables — another database of the server, a heartbeat table. The
/// step's detail, and the failure when a followed table was written.
async fn quiet(p: &Pipeline, at: &BinlogPosition, plan: &Plan) -> Result<(String, Vec<String>)> {
    let url = source_url(p)?;
    tokio::time::sleep(QUIET_FOR).await;
    let now = server_position(url).await?;
    if now.file == at.file && now.position == at.position {
        return Ok(("the source stayed there".into(), Vec::new()));
    }
    let (opts, database) = crate::mysql::parse_url(url)?;
    let mut conn = mysql_async::Conn::new(opts).await.map_err(|e| Error::mysql("connecting to the source", e))?;
    let tables: Vec<String> = plan.tables.iter().map(|t| t.name().to_string()).collect();
    let logged = logged_between(&mut conn, at, &now, &database, &tables).await;
    let _ = conn.disconnect().await;
    let logged = logged?;
    let moved = format!("the binary log moved on to {now}: {} events", logged.events);
    if logged.followed.is_empty() {
        let detail = format!(
            "{moved}, {} of them rows of tables converge does not carry; none of a followed table",
            logged.elsewhere
        );
        return Ok((detail, Vec::new()));
    }
    let shown: Vec<&str> = logged.followed.iter().take(5).map(String::as_str).collect();
    let more = logged.followed.len().saturating_sub(shown.len());
    let more = if more > 0 { format!(" and {more} more") } else { String::new() };
    Ok((
        format!("{moved}, {} of a followed table", logged.followed.len()),
        vec![format!(
            "the source was written after the drain to {at}: {}{more}. The application (or a job) still writes; stop \
             it and cut over again — nothing was cut over",
            shown.join(", ")
        )],
    ))
}

/// Moves each target sequence past its column's maximum and MySQL's `AUTO_INCREMENT`
/// counter in the snapshot; how many moved.
async fn sequences(url: &str, schema: &str, plan: &Plan) -> Result<u64> {
    let client = connect(url).await?;
    let counters = plan.counters();
    let mut moved = 0;
    for t in introspect(&client, schema).await? {
        if !plan.tables.iter().any(|tp| tp.target == t.name) {
            continue;
        }
        for c in &t.columns {
            let Some(seq) = &c.sequence else { continue };
            // The last value MySQL handed out: its counter is the next one.
            let given =
                counters.iter().find(|(tt, cc, _)| *tt == t.name && *cc == c.name).map(|(.., n)| n.saturating_sub(1));
            let value = format!(
                "GREATEST((SELECT max({col}) FROM {table}), {given})",
                col = crate::ident::pg(&c.name),
                table = pg_qualified(schema, &t.name),
                given = given.map_or("NULL".to_string(), |g| g.to_string()),
            );
            let n = client
                .execute(advance_sequence_sql(seq, &value, "").as_str(), &[])
                .await
                .map_err(|e| Error::postgres(format!("moving sequence {seq}"), &e))?;
            moved += n;
        }
    }
    Ok(moved)
}

/// Every planned table's rows counted on both sides, in the two snapshots. Each side
/// counts on its one snapshot connection, table after table; the two sides at once.
async fn counts(
    src: &MySqlSource,
    pg: &tokio_postgres::Client,
    schema: &str,
    plan: &Plan,
) -> Result<(String, Vec<String>)> {
    let source = async {
        let mut n = Vec::with_capacity(plan.tables.len());
        for tp in &plan.tables {
            let q = format!("SELECT COUNT(*) FROM {}", my_ident(tp.name()));
            let rows: Vec<(u64,)> = src.query(&q).await?;
            n.push(rows.first().map_or(0, |r| r.0));
        }
        Ok::<_, Error>(n)
    };
    let target = async {
        let mut n = Vec::with_capacity(plan.tables.len());
        for tp in &plan.tables {
            let q = format!("SELECT count(*) FROM {}", pg_qualified(schema, &tp.target));
            let row = pg.query_one(q.as_str(), &[]).await;
            let row = row.map_err(|e| Error::postgres(format!("counting `{}`", tp.target), &e))?;
            n.push(row.get::<_, i64>(0) as u64);
        }
        Ok::<_, Error>(n)
    };
    let (source, target) = tokio::try_join!(source, target)?;
    let mut failures = Vec::new();
    for ((tp, s), t) in plan.tables.iter().zip(&source).zip(&target) {
        if s != t {
            failures.push(format!("`{}`: {s} rows in the source, {t} in the target", tp.name()));
        }
    }
    let rows: u64 = source.iter().sum();
    let verdict =
        if failures.is_empty() { "equal on both sides".to_string() } else { format!("{} differ", failures.len()) };
    Ok((format!("{} tables, {rows} source rows: {verdict}", plan.tables.len()), failures))
}

/// Marks the pipeline cut over in the target: its follower will not apply again.
pub(super) async fn mark_cut_over(p: &Pipeline) -> Result<()> {
    let sink = p.postgres().ok_or_else(|| Error::other("`converge cutover` needs a postgres sink"))?;
    let client = connect(&sink.url).await?;
    crate::pg::state::record_cut_over(&client, &p.name, sink.schema()).await
}
