//! What the servers and the host did while one timed load ran — so a slow run can be
//! told from a fast one by its cause, not guessed at (docs/architecture.md, "Benchmarks").
//!
//! Before the stage the target is settled (`CHECKPOINT`, then the kernel's dirty pages
//! written with `sync`), so no stage pays for the writes of the one before it. Then
//! counters are read before and after: PostgreSQL's checkpoints and the buffers written
//! by the checkpointer and by backends themselves, the WAL and temporary files written;
//! the host's iowait and steal time; the CPU time of the server processes (from `/proc`,
//! the postmaster's reaped children included). Meanwhile a sampler records, five times a
//! second, what each backend of the target database inside a transaction waits on, and
//! the host's peak of dirty and in-writeback memory.

use std::collections::HashMap;
use std::time::Duration;

use serde::Serialize;
use tokio_postgres::Client;

use crate::error::Result;

/// How often the sampler looks.
const SAMPLE_EVERY: Duration = Duration::from_millis(200);
/// Wait events listed per stage (the most frequent).
const TOP_WAITS: usize = 4;

/// What happened during one timed stage.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Activity {
    /// The `CHECKPOINT` before the stage ran (the role may lack the right to it).
    pub settled: bool,
    /// PostgreSQL's counters (None when the statistics views could not be read).
    pub postgres: Option<PgDelta>,
    /// The host's and the server processes' counters (None off Linux).
    pub host: Option<HostDelta>,
    /// Peak of the kernel's dirty + in-writeback memory, MB.
    pub dirty_peak_mb: f64,
    /// The most frequent wait events of the target's backends inside a transaction, as
    /// shares of all the samples taken ("CPU" when a backend was running, not waiting;
    /// "idle in transaction" between its statements).
    pub waits: Vec<(String, f64)>,
}

/// PostgreSQL's counters over a stage.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PgDelta {
    /// Checkpoints completed (timed and requested).
    pub checkpoints: i64,
    /// Written by the checkpointer, MB.
    pub checkpoint_mb: f64,
    /// Written by backends evicting dirty buffers themselves, MB.
    pub backend_mb: f64,
    /// WAL written, MB.
    pub wal_mb: f64,
    /// Temporary files written in the target database (sorts and hashes that did not
    /// fit in memory), MB.
    pub temp_mb: f64,
}

/// The host's counters over a stage.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HostDelta {
    /// CPU-seconds idle while I/O was outstanding.
    pub iowait_s: f64,
    /// CPU-seconds taken by the hypervisor.
    pub steal_s: f64,
    /// CPU-seconds of PostgreSQL's processes.
    pub postgres_cpu_s: f64,
    /// CPU-seconds of the MariaDB/MySQL server.
    pub mariadb_cpu_s: f64,
}

/// Watches one stage: [`Watch::settle_and_start`] before it, [`Watch::finish`] after.
pub struct Watch {
    client: Client,
    settled: bool,
    pg: Option<PgCounters>,
    host: Option<HostCounters>,
    stop: tokio::sync::oneshot::Sender<()>,
    sampler: tokio::task::JoinHandle<Samples>,
}

impl Watch {
    /// Settles the target (`CHECKPOINT`, `sync`), reads the counters and starts sampling.
    pub async fn settle_and_start(pg_url: &str) -> Result<Watch> {
        let client = crate::pg::connect::connect(pg_url).await?;
        let settled = client.batch_execute("CHECKPOINT").await.is_ok();
        // SAFETY: sync(2) takes no arguments and cannot fail.
        tokio::task::spawn_blocking(|| unsafe { libc::sync() }).await.ok();
        let sampler_client = crate::pg::connect::connect(pg_url).await?;
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let sampler = tokio::spawn(sample(sampler_client, stopped));
        let pg = PgCounters::read(&client).await;
        Ok(Watch { host: HostCounters::read(), pg, client, settled, stop, sampler })
    }

    /// Reads the counters again and ends the sampling.
    pub async fn finish(self) -> Activity {
        let host = HostCounters::read().zip(self.host).map(|(b, a)| b.since(&a));
        let _ = self.client.batch_execute("SELECT pg_stat_clear_snapshot()").await;
        let pg = PgCounters::read(&self.client).await.zip(self.pg).map(|(b, a)| b.since(&a));
        let _ = self.stop.send(());
        let samples = self.sampler.await.unwrap_or_default();
        Activity {
            settled: self.settled,
            postgres: pg,
            host,
            dirty_peak_mb: samples.dirty_peak_mb,
            waits: samples.top(),
        }
    }
}

/// PostgreSQL's cumulative counters at one moment.
#[derive(Debug, Clone, Copy)]
struct PgCounters {
    checkpoints: i64,
    checkpoint_buffers: i64,
    backend_buffers: i64,
    wal_bytes: f64,
    block_size: f64,
    temp_bytes: i64,
}

impl PgCounters {
    /// From `pg_stat_bgwriter` (PostgreSQL ≤ 16) or `pg_stat_checkpointer` (17, which
    /// no longer counts backends' own writes there).
    async fn read(c: &Client) -> Option<PgCounters> {
        const UP_TO_16: &str = "SELECT checkpoints_timed + checkpoints_req, buffers_checkpoint, buffers_backend \
                                FROM pg_stat_bgwriter";
        const FROM_17: &str = "SELECT num_timed + num_requested, buffers_written, 0::bigint FROM pg_stat_checkpointer";
        let row = match c.query_one(UP_TO_16, &[]).await {
            Ok(r) => r,
            Err(_) => c.query_one(FROM_17, &[]).await.ok()?,
        };
        let more =
            "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::float8, current_setting('block_size')::float8, \
                    (SELECT temp_bytes FROM pg_stat_database WHERE datname = current_database())";
        let wal = c.query_one(more, &[]).await.ok()?;
        Some(PgCounters {
            checkpoints: row.get(0),
            checkpoint_buffers: row.get(1),
            backend_buffers: row.get(2),
            wal_bytes: wal.get(0),
            block_size: wal.get(1),
            temp_bytes: wal.get(2),
        })
    }

    fn since(&self, a: &PgCounters) -> PgDelta {
        let mb = |blocks: i64| blocks as f64 * self.block_size / 1e6;
        PgDelta {
            checkpoints: self.checkpoints - a.checkpoints,
            checkpoint_mb: mb(self.checkpoint_buffers - a.checkpoint_buffers),
            backend_mb: mb(self.backend_buffers - a.backend_buffers),
            wal_mb: (self.wal_bytes - a.wal_bytes) / 1e6,
            temp_mb: (self.temp_bytes - a.temp_bytes) as f64 / 1e6,
        }
    }
}

/// The host's cumulative counters at one moment, in clock ticks.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct HostCounters {
    iowait: u64,
    steal: u64,
    postgres: u64,
    mariadb: u64,
}

impl HostCounters {
    fn read() -> Option<HostCounters> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        let (iowait, steal) = cpu_line(&stat)?;
        let (mut postgres, mut mariadb) = (0, 0);
        for entry in std::fs::read_dir("/proc").ok()?.flatten() {
            let Ok(text) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
            match process_ticks(&text) {
                Some(("postgres", t)) => postgres += t,
                Some(("mariadbd" | "mysqld", t)) => mariadb += t,
                _ => {}
            }
        }
        Some(HostCounters { iowait, steal, postgres, mariadb })
    }

    fn since(&self, a: &HostCounters) -> HostDelta {
        // SAFETY: sysconf only reads a constant of the running system.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
        let s = |b: u64, a: u64| b.saturating_sub(a) as f64 / hz;
        HostDelta {
            iowait_s: s(self.iowait, a.iowait),
            steal_s: s(self.steal, a.steal),
            postgres_cpu_s: s(self.postgres, a.postgres),
            mariadb_cpu_s: s(self.mariadb, a.mariadb),
        }
    }
}

/// iowait and steal ticks from `/proc/stat`'s first line
/// (`cpu user nice system idle iowait irq softirq steal …`).
fn cpu_line(stat: &str) -> Option<(u64, u64)> {
    let line = stat.lines().next()?;
    let f: Vec<u64> = line.split_whitespace().skip(1).map(|v| v.parse().unwrap_or(0)).collect();
    Some((*f.get(4)?, *f.get(7)?))
}

/// A process's name and its CPU ticks from `/proc/<pid>/stat`: its own user and system
/// time and that of its reaped children (a backend that ended is counted in the
/// postmaster's). The name is in parentheses and may hold spaces, so fields are
/// counted from the last `)`.
fn process_ticks(stat: &str) -> Option<(&str, u64)> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let name = &stat[open + 1..close];
    // After ")": state is field 3, utime 14, stime 15, cutime 16, cstime 17.
    let f: Vec<&str> = stat[close + 1..].split_whitespace().collect();
    let tick = |i: usize| f.get(i - 3).and_then(|v| v.parse::<u64>().ok());
    Some((name, tick(14)? + tick(15)? + tick(16)? + tick(17)?))
}

/// What the sampler saw.
#[derive(Debug, Default)]
struct Samples {
    waits: HashMap<String, u32>,
    taken: u32,
    dirty_peak_mb: f64,
}

impl Samples {
    /// The most frequent waits as shares of the samples taken.
    fn top(&self) -> Vec<(String, f64)> {
        let mut v: Vec<(String, f64)> =
            self.waits.iter().map(|(k, n)| (k.clone(), *n as f64 / self.taken.max(1) as f64)).collect();
        v.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        v.truncate(TOP_WAITS);
        v
    }
}

/// Samples until `stop` fires.
async fn sample(client: Client, mut stop: tokio::sync::oneshot::Receiver<()>) -> Samples {
    // A backend between statements of its transaction is waiting for its client.
    const ACTIVE: &str =
        "SELECT CASE WHEN state = 'active' THEN coalesce(wait_event_type || ':' || wait_event, 'CPU') \
                          ELSE state END FROM pg_stat_activity WHERE datname = current_database() \
                          AND pid <> pg_backend_pid() AND state IN ('active', 'idle in transaction')";
    let mut s = Samples::default();
    loop {
        tokio::select! {
            _ = &mut stop => break,
            _ = tokio::time::sleep(SAMPLE_EVERY) => {}
        }
        s.taken += 1;
        if let Ok(rows) = client.query(ACTIVE, &[]).await {
            for r in rows {
                *s.waits.entry(r.get::<_, String>(0)).or_default() += 1;
            }
        }
        if let Some(mb) = dirty_mb() {
            s.dirty_peak_mb = s.dirty_peak_mb.max(mb);
        }
    }
    s
}

/// The kernel's dirty + in-writeback memory, MB.
fn dirty_mb() -> Option<f64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kb = |key: &str| info.lines().find_map(|l| l.strip_prefix(key)?.split_whitespace().next()?.parse::<f64>().ok());
    Some((kb("Dirty:")? + kb("Writeback:")?) * 1024.0 / 1e6)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_process_name_with_spaces_and_parentheses_is_read_whole() {
        let stat = "4242 (postgres: wal (x) writer) S 1 2 3 4 5 6 7 8 9 10 111 222 33 44 20 0";
        assert_eq!(process_ticks(stat), Some(("postgres: wal (x) writer", 111 + 222 + 33 + 44)));
        assert_eq!(process_ticks("17 (mariadbd) S 1 2 3 4 5 6 7 8 9 10 5 6 0 1"), Some(("mariadbd", 12)));
        assert_eq!(process_ticks("17 (short) S 1 2"), None, "a truncated line is not counted");
    }

    #[test]
    fn iowait_and_steal_are_the_fifth_and_eighth_cpu_fields() {
        let stat = "cpu  100 2 30 4000 55 6 7 88 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\n";
        assert_eq!(cpu_line(stat), Some((55, 88)));
        assert_eq!(cpu_line("cpu 1 2 3\n"), None);
    }

    #[test]
    fn the_top_waits_are_shares_of_all_samples_most_frequent_first() {
        let mut s = Samples { taken: 10, ..Samples::default() };
        for (k, n) in [("CPU", 6), ("IO:WALSync", 3), ("LWLock:WALWrite", 1), ("IO:DataFileExtend", 2), ("x", 1)] {
            s.waits.insert(k.into(), n);
        }
        let top = s.top();
        assert_eq!(top.len(), TOP_WAITS);
        assert_eq!(top[0], ("CPU".to_string(), 0.6));
        assert_eq!(top[1].0, "IO:WALSync");
        assert_eq!(top[2].0, "IO:DataFileExtend");
        assert_eq!(top[3].0, "LWLock:WALWrite", "ties are ordered by name");
    }
}
