//! Watching the load's sessions for lock waits: a load that waits on a lock held by
//! someone else (the application, a forgotten `psql`) says so after a few seconds —
//! which table, which lock, and who holds it — instead of hanging silently.

use std::time::Duration;

use tokio::sync::watch;

/// A wait longer than this is reported.
pub const REPORT_AFTER: Duration = Duration::from_secs(3);

/// Reports (as warnings) every session named `application_name` that has waited longer
/// than [`REPORT_AFTER`] for a lock, with the sessions blocking it, until `stop` closes.
pub async fn watch_locks(url: String, application_name: String, mut stop: watch::Receiver<()>) {
    let Ok(client) = crate::pg::connect::connect(&url).await else { return };
    // Its own name, so it is told apart from the load's sessions.
    let named =
        format!("SET application_name = {}", crate::ident::pg_literal(&format!("{application_name} (lock watch)")));
    if client.batch_execute(&named).await.is_err() {
        return;
    }
    let sql = "SELECT a.pid, extract(epoch FROM now() - l.waitstart)::int, \
                      COALESCE(l.relation::regclass::text, l.locktype), l.mode, \
                      b.pid, b.usename::text, b.application_name, b.state, left(b.query, 100) \
               FROM pg_stat_activity a \
               JOIN pg_locks l ON l.pid = a.pid AND NOT l.granted \
               CROSS JOIN LATERAL unnest(pg_blocking_pids(a.pid)) AS bp(pid) \
               JOIN pg_stat_activity b ON b.pid = bp.pid \
               WHERE a.application_name = $1 AND now() - l.waitstart > $2::text::interval";
    let after = format!("{} seconds", REPORT_AFTER.as_secs());
    let mut reported = std::collections::HashSet::new();
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
        let Ok(rows) = client.query(sql, &[&application_name, &after]).await else { return };
        for r in rows {
            let (waiter, blocker): (i32, i32) = (r.get(0), r.get(4));
            if !reported.insert((waiter, blocker)) {
                continue;
            }
            let secs: Option<i32> = r.get(1);
            let query: Option<String> = r.get(8);
            tracing::warn!(
                "waiting {}s for a {} lock on {}: held by PostgreSQL session {blocker} (user {}, application `{}`, {}, last query: {})",
                secs.unwrap_or(0),
                r.get::<_, String>(3),
                r.get::<_, String>(2),
                r.get::<_, Option<String>>(5).unwrap_or_default(),
                r.get::<_, Option<String>>(6).unwrap_or_default(),
                r.get::<_, Option<String>>(7).unwrap_or_default(),
                crate::secret::scrub(&query.unwrap_or_default()),
            );
        }
    }
}
