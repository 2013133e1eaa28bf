//! The run log: one JSON object per line, appended and never rewritten, replacing the
//! spec's `log_migration_run.sh`. `converge log STATUS "message"` writes an operator's
//! entry; `converge run` writes its own (start, phase durations, outcome).
//!
//! A line looks like
//!
//! ```text
//! {"timestamp":"2026-11-03T09:12:44.123456Z","status":"completed","message":"All checks passed","host":"db-migrate-1","user":"ops","migrationId":"20261103T090000Z-1a2b"}
//! ```
//!
//! Appending is safe under concurrency: the file is opened `O_APPEND`, an exclusive
//! `flock` is held while the line is written, and the whole line (newline included)
//! goes out in one `write` call, so concurrent writers — threads or processes — never
//! interleave or lose entries. The file is created owner-only (`0600`); an existing
//! file is never truncated, rewritten or re-permissioned.
//!
//! The log records only the host name and the user name of whoever wrote an entry, and
//! for a run's own entries its process (pid and start) — never credentials (a URL's
//! password in a message is masked), URLs or environment contents.
//!
//! A run whose process is gone without its final entry (SIGKILL, a machine stopped) is
//! marked `abandoned` by the next `converge` that reads the log ([`mark_abandoned`]):
//! same host, and its pid not alive or alive with another start time.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// The environment variable naming the run log (default [`DEFAULT_FILE`]).
pub const ENV_LOG: &str = "CONVERGE_RUN_LOG";

/// The environment variable giving the migrationId for `converge log`.
pub const ENV_MIGRATION_ID: &str = "CONVERGE_MIGRATION_ID";

/// The run log's file name when [`ENV_LOG`] is unset, relative to the working directory.
pub const DEFAULT_FILE: &str = "converge-runs.jsonl";

/// The downtime budget the spec's runbook sets: 30 minutes.
pub const DEFAULT_BUDGET_SECS: f64 = 30.0 * 60.0;

/// The outcome or stage an entry records (the words of the spec's `log_migration_run.sh`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The migration (or a phase of it) began.
    #[value(name = "started")]
    Started,
    /// A progress note during the migration (e.g. a phase's duration).
    #[value(name = "in_progress")]
    InProgress,
    /// The migration finished and passed its checks.
    #[value(name = "completed")]
    Completed,
    /// The migration was abandoned and the source restored.
    #[value(name = "rolled_back")]
    RolledBack,
    /// The migration failed.
    #[value(name = "failed")]
    Failed,
    /// The run's process is gone without its final entry (written by the next converge).
    #[value(name = "abandoned")]
    Abandoned,
}

impl Status {
    /// Every status, in the order the CLI lists them.
    pub const ALL: [Status; 6] =
        [Status::Started, Status::InProgress, Status::Completed, Status::RolledBack, Status::Failed, Status::Abandoned];

    /// The word used on the command line and in the log (`in_progress`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Started => "started",
            Status::InProgress => "in_progress",
            Status::Completed => "completed",
            Status::RolledBack => "rolled_back",
            Status::Failed => "failed",
            Status::Abandoned => "abandoned",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Status {
    type Err = Error;

    /// Parses the CLI word (`started`, `in_progress`, `completed`, `rolled_back`, `failed`).
    fn from_str(s: &str) -> Result<Self> {
        Status::ALL.into_iter().find(|st| st.as_str() == s).ok_or_else(|| {
            let valid: Vec<&str> = Status::ALL.iter().map(|st| st.as_str()).collect();
            Error::other(format!("unknown run status `{s}` (expected one of: {})", valid.join(", ")))
        })
    }
}

/// One line of the run log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    /// When the entry was made: ISO 8601 UTC with microseconds, e.g. `2026-11-03T09:12:44.123456Z`.
    pub timestamp: String,
    /// What happened.
    pub status: Status,
    /// Free text from the operator or the run.
    pub message: String,
    /// The host that wrote the entry.
    pub host: String,
    /// The user that wrote the entry.
    pub user: String,
    /// The run this entry belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub migration_id: Option<String>,
    /// The phase of the run (e.g. `export`, `import`, `verify`), for run-written entries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// A duration in seconds (of the phase, or of the run so far).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seconds: Option<f64>,
    /// The process of the run that wrote the entry (run-written entries only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    /// That process's start (`<boot id>|<pid namespace>|<clock ticks since boot>`), so a reused pid is
    /// not taken for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process: Option<String>,
    /// The snapshot's binlog position, on the entry of a run that took one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binlog_position: Option<crate::manifest::BinlogPosition>,
}

impl Entry {
    /// An entry stamped now, with this host and user, and no migrationId, phase or duration.
    /// A URL's password in the message is masked.
    pub fn new(status: Status, message: impl Into<String>) -> Entry {
        Entry {
            timestamp: now_timestamp(),
            status,
            message: crate::secret::scrub(&message.into()),
            host: host(),
            user: user(),
            migration_id: None,
            phase: None,
            seconds: None,
            pid: None,
            process: None,
            binlog_position: None,
        }
    }

    /// Marks the entry as written by this process (a run's own entries), so a later
    /// converge can tell when the run is gone without its final entry.
    pub fn with_process(mut self) -> Entry {
        let pid = std::process::id();
        self.pid = Some(pid);
        self.process = process_start(pid);
        self
    }

    /// Sets the migrationId.
    pub fn with_migration_id(mut self, id: impl Into<String>) -> Entry {
        self.migration_id = Some(id.into());
        self
    }

    /// Sets the snapshot's binlog position.
    pub fn with_binlog_position(mut self, at: Option<crate::manifest::BinlogPosition>) -> Entry {
        self.binlog_position = at;
        self
    }

    /// Sets the phase and its duration in seconds.
    pub fn with_phase(mut self, phase: impl Into<String>, seconds: f64) -> Entry {
        self.phase = Some(phase.into());
        self.seconds = Some(seconds);
        self
    }

    /// The entry as one JSON line, without the trailing newline.
    pub fn to_line(&self) -> String {
        // Serializing plain strings, an enum and an f64 cannot fail, except for a
        // non-finite f64, which serde_json writes as `null`.
        serde_json::to_string(self).expect("a run-log entry serializes")
    }
}

/// The current time as the log writes it: ISO 8601 UTC with microseconds and `Z`.
pub fn now_timestamp() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// The run log's path: `$CONVERGE_RUN_LOG`, else `./converge-runs.jsonl`.
pub fn default_path() -> PathBuf {
    match std::env::var_os(ENV_LOG) {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => PathBuf::from(DEFAULT_FILE),
    }
}

/// This machine's name: `/etc/hostname`, else `$HOSTNAME`, else `unknown`.
pub fn host() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok().map(|s| s.trim().to_string()).filter(|s| !s.is_empty()))
        .unwrap_or_else(|| "unknown".to_string())
}

/// The user's name: `$USER`, else `$LOGNAME`, else the name of this process's uid in
/// `/etc/passwd` (or `uid N`), else `unknown`.
pub fn user() -> String {
    ["USER", "LOGNAME"]
        .iter()
        .filter_map(|v| std::env::var(v).ok())
        .map(|s| s.trim().to_string())
        .find(|s| !s.is_empty())
        .or_else(user_from_uid)
        .unwrap_or_else(|| "unknown".to_string())
}

/// The real uid from `/proc/self/status`, named through `/etc/passwd` (name field only).
fn user_from_uid() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let uid = status.lines().find_map(|l| l.strip_prefix("Uid:"))?.split_whitespace().next()?.to_string();
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    let name = passwd.lines().find_map(|l| {
        let mut f = l.split(':');
        let (name, _, id) = (f.next()?, f.next()?, f.next()?);
        (id == uid && !name.is_empty()).then(|| name.to_string())
    });
    Some(name.unwrap_or_else(|| format!("uid {uid}")))
}

/// Appends `entry` as one line to the log at `path`, creating it owner-only (`0600`).
///
/// The file is opened `O_APPEND | O_CREAT` (never truncated), an exclusive `flock` is
/// held for the write, and the line goes out in a single `write` call, so concurrent
/// appenders (threads or processes) never interleave or lose entries.
pub fn append(path: &Path, entry: &Entry) -> Result<()> {
    let mut line = entry.to_line();
    line.push('\n');
    let file = OpenOptions::new().append(true).create(true).mode(0o600).open(path).map_err(|e| Error::io(path, e))?;
    file.lock().map_err(|e| Error::io(path, e))?;
    let written = (&file).write(line.as_bytes());
    let _ = file.unlock();
    match written {
        Ok(n) if n == line.len() => Ok(()),
        Ok(n) => Err(Error::io(
            path,
            std::io::Error::new(
                std::io::ErrorKind::WriteZero,
                format!("short write to the run log: {n} of {} bytes", line.len()),
            ),
        )),
        Err(e) => Err(Error::io(path, e)),
    }
}

/// The identity of process `pid` as this machine sees it: `<boot id>|<pid
/// namespace>|<clock ticks since boot at its start>`; None when there is no such process.
fn process_start(pid: u32) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Field 22, counted after the command name (which may hold spaces) in parentheses.
    let start = stat.rsplit_once(')')?.1.split_whitespace().nth(19)?.to_string();
    Some(format!("{}|{}|{start}", boot_id(), pid_namespace(&pid.to_string())))
}

fn boot_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap_or_default().trim().to_string()
}

/// The pid namespace of process `pid` (`self` for this one), as `pid:[inode]`.
fn pid_namespace(pid: &str) -> String {
    std::fs::read_link(format!("/proc/{pid}/ns/pid")).map(|l| l.to_string_lossy().into_owned()).unwrap_or_default()
}

/// Whether the process an entry names is gone: the machine rebooted since, or — in
/// this pid namespace — its pid is not alive or is another process. A process of
/// another pid namespace (another container of this host name) cannot be seen: not gone.
fn process_gone(pid: u32, recorded: &str) -> bool {
    let mut parts = recorded.split('|');
    let (boot, ns) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    if boot != boot_id() {
        return true;
    }
    ns == pid_namespace("self") && process_start(pid).as_deref() != Some(recorded)
}

/// Appends an `abandoned` entry for every run of this host whose last process entry is
/// `started` or `in_progress` and whose process is gone (its pid not alive, or alive
/// with another start). Checked and written under the log's lock, so two converges
/// do not both mark one run. Returns the runs marked; a missing log marks none.
pub fn mark_abandoned(path: &Path) -> Result<Vec<String>> {
    let mut file = match OpenOptions::new().read(true).append(true).open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(path, e)),
    };
    file.lock().map_err(|e| Error::io(path, e))?;
    let marked = abandoned_runs(&mut file, path).and_then(|runs| {
        let here = host();
        let mut text = String::new();
        for (id, pid) in &runs {
            let e = Entry::new(
                Status::Abandoned,
                format!("the run's process (pid {pid} on {here}) is gone without a final entry: it was killed or its machine stopped"),
            )
            .with_migration_id(id);
            text.push_str(&e.to_line());
            text.push('\n');
        }
        if !text.is_empty() {
            (&file).write_all(text.as_bytes()).map_err(|e| Error::io(path, e))?;
        }
        Ok(runs.into_iter().map(|(id, _)| id).collect())
    });
    let _ = file.unlock();
    marked
}

/// The runs of this host whose process is gone without a final entry: id and pid.
fn abandoned_runs(file: &mut File, path: &Path) -> Result<Vec<(String, u32)>> {
    let mut text = String::new();
    file.read_to_string(&mut text).map_err(|e| Error::io(path, e))?;
    let here = host();
    let mut last: Vec<(String, Entry)> = Vec::new();
    for line in text.lines() {
        // A line this version cannot read is `read`'s to report, not this check's.
        let Ok(e) = serde_json::from_str::<Entry>(line) else { continue };
        let Some(id) = e.migration_id.clone() else { continue };
        let ended = matches!(e.status, Status::Completed | Status::Failed | Status::RolledBack | Status::Abandoned);
        if e.pid.is_none() && !ended {
            continue;
        }
        last.retain(|(i, _)| *i != id);
        last.push((id, e));
    }
    Ok(last
        .into_iter()
        .filter(|(_, e)| matches!(e.status, Status::Started | Status::InProgress) && e.host == here)
        .filter_map(|(id, e)| {
            let pid = e.pid?;
            process_gone(pid, e.process.as_deref()?).then_some((id, pid))
        })
        .collect())
}

/// Reads every entry of the log at `path`, in the order written. A line that does not
/// parse is an error naming the file and line; blank lines are skipped.
pub fn read(path: &Path) -> Result<Vec<Entry>> {
    let mut file = File::open(path).map_err(|e| Error::io(path, e))?;
    file.lock_shared().map_err(|e| Error::io(path, e))?;
    let mut text = String::new();
    let res = file.read_to_string(&mut text);
    let _ = file.unlock();
    res.map_err(|e| Error::io(path, e))?;
    let mut entries = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let entry = serde_json::from_str(line).map_err(|e| Error::Input {
            file: path.to_path_buf(),
            line: i as u64 + 1,
            column: None,
            message: format!("not a run-log entry: {e}"),
        })?;
        entries.push(entry);
    }
    Ok(entries)
}

/// The migrationId of the last entry in the log that has one; `None` when the log does
/// not exist or no entry has one.
pub fn last_migration_id(path: &Path) -> Result<Option<String>> {
    let entries = match read(path) {
        Ok(entries) => entries,
        Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    Ok(entries.into_iter().rev().find_map(|e| e.migration_id))
}

/// The migrationId for an operator's entry: `explicit`, else `$CONVERGE_MIGRATION_ID`,
/// else the last one in the log at `path` (so `log completed` after a run attaches to it).
pub fn resolve_migration_id(explicit: Option<&str>, path: &Path) -> Result<Option<String>> {
    if let Some(id) = explicit.filter(|s| !s.is_empty()) {
        return Ok(Some(id.to_string()));
    }
    if let Ok(id) = std::env::var(ENV_MIGRATION_ID) {
        if !id.is_empty() {
            return Ok(Some(id));
        }
    }
    last_migration_id(path)
}

/// What `converge log` does: builds an entry for `status` and `message` with the
/// migrationId from [`resolve_migration_id`], appends it to `path` and returns it.
pub fn log(path: &Path, status: Status, message: &str, migration_id: Option<&str>) -> Result<Entry> {
    let mut entry = Entry::new(status, message);
    entry.migration_id = resolve_migration_id(migration_id, path)?;
    append(path, &entry)?;
    Ok(entry)
}

/// Projects the total time of a run from its progress (`elapsed_secs / fraction_done`)
/// and returns a warning when the projection exceeds `budget_secs` (or the elapsed time
/// alone already does). `None` when the run is on budget, or when nothing is done yet
/// and the budget is not yet spent (no projection is possible).
pub fn budget_warning(elapsed_secs: f64, fraction_done: f64, budget_secs: f64) -> Option<String> {
    if !elapsed_secs.is_finite() || !budget_secs.is_finite() || elapsed_secs < 0.0 {
        return None;
    }
    if elapsed_secs > budget_secs {
        return Some(format!(
            "the run has taken {}, over the {} budget ({:.0}% done)",
            duration(elapsed_secs),
            duration(budget_secs),
            (fraction_done.clamp(0.0, 1.0) * 100.0).max(0.0)
        ));
    }
    if !fraction_done.is_finite() || fraction_done <= 0.0 {
        return None;
    }
    let fraction = fraction_done.min(1.0);
    let projected = elapsed_secs / fraction;
    if projected > budget_secs {
        Some(format!(
            "projected total {} exceeds the {} budget ({:.0}% done after {})",
            duration(projected),
            duration(budget_secs),
            fraction * 100.0,
            duration(elapsed_secs)
        ))
    } else {
        None
    }
}

/// `1h 02m 03s`, `12m 05s`, `42s`.
fn duration(secs: f64) -> String {
    let total = secs.round().max(0.0) as u64;
    let (h, m, s) = (total / 3600, total / 60 % 60, total % 60);
    if h > 0 {
        format!("{h}h {m:02}m {s:02}s")
    } else if m > 0 {
        format!("{m}m {s:02}s")
    } else {
        format!("{s}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_warning_fires_only_when_projection_exceeds_budget() {
        // 10 minutes for 50% → 20 minutes projected: on budget.
        assert_eq!(budget_warning(600.0, 0.5, DEFAULT_BUDGET_SECS), None);
        // 10 minutes for 25% → 40 minutes projected: over.
        let w = budget_warning(600.0, 0.25, DEFAULT_BUDGET_SECS).expect("a warning");
        assert!(w.contains("40m 00s") && w.contains("30m 00s"), "{w}");
        // Exactly on budget is not over it.
        assert_eq!(budget_warning(900.0, 0.5, DEFAULT_BUDGET_SECS), None);
        assert!(budget_warning(901.0, 0.5, DEFAULT_BUDGET_SECS).is_some());
        // Done, on budget.
        assert_eq!(budget_warning(1700.0, 1.0, DEFAULT_BUDGET_SECS), None);
        // Nothing done yet: no projection, no warning…
        assert_eq!(budget_warning(60.0, 0.0, DEFAULT_BUDGET_SECS), None);
        assert_eq!(budget_warning(60.0, f64::NAN, DEFAULT_BUDGET_SECS), None);
        // …unless the budget is already spent.
        assert!(budget_warning(1900.0, 0.0, DEFAULT_BUDGET_SECS).is_some());
        // A custom budget.
        assert!(budget_warning(60.0, 0.5, 100.0).is_some());
        assert_eq!(budget_warning(40.0, 0.5, 100.0), None);
    }

    #[test]
    fn status_words_round_trip() {
        for st in Status::ALL {
            assert_eq!(st.as_str().parse::<Status>().unwrap(), st);
            assert_eq!(serde_json::to_string(&st).unwrap(), format!("\"{}\"", st.as_str()));
            assert_eq!(<Status as clap::ValueEnum>::from_str(st.as_str(), false).unwrap(), st);
        }
        let err = "done".parse::<Status>().unwrap_err().to_string();
        assert!(err.contains("in_progress") && err.contains("rolled_back"), "{err}");
    }

    #[test]
    fn entry_is_camel_case_with_micro_utc_timestamp() {
        let e = Entry::new(Status::RolledBack, "why\nnot").with_migration_id("m1").with_phase("export", 1.5);
        let line = e.to_line();
        assert!(!line.contains('\n'), "{line}");
        assert!(line.contains("\"migrationId\":\"m1\""), "{line}");
        assert!(line.contains("\"status\":\"rolled_back\""), "{line}");
        assert!(line.contains("\"phase\":\"export\",\"seconds\":1.5"), "{line}");
        let ts = &e.timestamp;
        assert_eq!(ts.len(), "2026-11-03T09:12:44.123456Z".len(), "{ts}");
        assert!(ts.ends_with('Z') && ts.as_bytes()[10] == b'T' && ts.as_bytes()[19] == b'.', "{ts}");
        assert!(chrono::DateTime::parse_from_rfc3339(ts).is_ok(), "{ts}");
        let back: Entry = serde_json::from_str(&line).unwrap();
        assert_eq!(back, e);
        // Optional fields are left out when empty.
        let bare = Entry::new(Status::Started, "").to_line();
        assert!(!bare.contains("migrationId") && !bare.contains("phase") && !bare.contains("seconds"), "{bare}");
    }

    #[test]
    fn a_run_whose_process_is_gone_is_marked_abandoned_once() {
        let dir = std::env::temp_dir().join(format!("runlog-abandoned-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("runs.jsonl");
        let mut gone = std::process::Command::new("true").spawn().unwrap();
        let gone_pid = gone.id();
        gone.wait().unwrap();
        let entry = |id: &str, status: Status, pid: u32, process: Option<String>| {
            let mut e = Entry::new(status, "x").with_migration_id(id);
            e.pid = Some(pid);
            e.process = process;
            append(&path, &e).unwrap();
        };
        // Killed mid-run: its process is gone.
        let here = format!("{}|{}|", boot_id(), pid_namespace("self"));
        entry("killed", Status::Started, gone_pid, Some(format!("{here}1")));
        entry("killed", Status::InProgress, gone_pid, Some(format!("{here}1")));
        // A live process (this one), and a reused pid (this one, another start).
        entry("running", Status::Started, std::process::id(), process_start(std::process::id()));
        entry("reused", Status::Started, std::process::id(), Some(format!("{here}1")));
        // Before a reboot: gone; in another pid namespace: cannot be told, left.
        entry("rebooted", Status::Started, std::process::id(), Some("another-boot|pid:[1]|1".into()));
        let elsewhere = format!("{}|pid:[1]|1", boot_id());
        entry("container", Status::Started, gone_pid, Some(elsewhere));
        // Finished runs, and an operator's entry after one (no pid): not abandoned.
        entry("done", Status::Started, gone_pid, None);
        entry("done", Status::Completed, gone_pid, None);
        append(&path, &Entry::new(Status::InProgress, "verify").with_migration_id("done")).unwrap();
        assert_eq!(mark_abandoned(&path).unwrap(), ["killed", "reused", "rebooted"]);
        assert!(mark_abandoned(&path).unwrap().is_empty(), "marked once");
        let entries = read(&path).unwrap();
        let marked: Vec<&Entry> = entries.iter().filter(|e| e.status == Status::Abandoned).collect();
        assert_eq!(marked.len(), 3);
        assert!(marked[0].message.contains(&format!("pid {gone_pid}")), "{}", marked[0].message);
        assert!(mark_abandoned(&dir.join("none.jsonl")).unwrap().is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_password_in_a_message_is_masked() {
        let e = Entry::new(Status::Failed, "cannot reach mysql://app:hunter2@db:3306/x (refused)");
        assert_eq!(e.message, "cannot reach mysql://app:***@db:3306/x (refused)");
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(duration(42.0), "42s");
        assert_eq!(duration(725.0), "12m 05s");
        assert_eq!(duration(3723.0), "1h 02m 03s");
    }
}
