//! The run log: entries are appended and never rewritten, concurrent writers (processes
//! and threads) lose nothing, the file is owner-only, and `converge log` attaches an entry
//! to the right migrationId.

use std::collections::HashSet;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

use converge::runlog::{self, Entry, Status};

/// A scratch directory removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "converge-runlog-{name}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    fn file(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `converge log ARGS…` with a clean environment for the run-log variables.
fn converge_log(args: &[&str], migration_env: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_converge"));
    cmd.arg("log").args(args).env_remove(runlog::ENV_LOG).env_remove(runlog::ENV_MIGRATION_ID);
    if let Some(id) = migration_env {
        cmd.env(runlog::ENV_MIGRATION_ID, id);
    }
    cmd.output().expect("converge runs")
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn entries_are_appended_never_rewritten() {
    let dir = Scratch::new("append");
    let path = dir.file("runs.jsonl");
    let entries = [
        Entry::new(Status::Started, "Production migration - Target: ≤30min downtime").with_migration_id("m-1"),
        Entry::new(Status::InProgress, "export done").with_migration_id("m-1").with_phase("export", 312.25),
        Entry::new(Status::Completed, "All checks passed").with_migration_id("m-1"),
    ];
    let mut before = Vec::new();
    for e in &entries {
        runlog::append(&path, e).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert!(bytes.starts_with(&before), "earlier bytes changed after appending {e:?}");
        assert!(bytes.ends_with(b"\n"));
        assert_eq!(bytes[before.len()..], format!("{}\n", e.to_line()).into_bytes()[..]);
        before = bytes;
    }
    assert_eq!(runlog::read(&path).unwrap(), entries);
    assert_eq!(String::from_utf8(before).unwrap().lines().count(), 3);
}

#[test]
fn log_file_is_created_owner_only_and_kept_as_is() {
    let dir = Scratch::new("mode");
    let path = dir.file("runs.jsonl");
    runlog::append(&path, &Entry::new(Status::Started, "x")).unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "created with {mode:o}");

    // The CLI creates it the same way.
    let cli_path = dir.file("cli.jsonl");
    ok(&converge_log(&["started", "go", "--log", s(&cli_path)], None));
    let mode = std::fs::metadata(&cli_path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "created by the CLI with {mode:o}");

    // An existing file's permissions are not touched.
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
    runlog::append(&path, &Entry::new(Status::Completed, "y")).unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o640);
    assert_eq!(runlog::read(&path).unwrap().len(), 2);
}

#[test]
fn concurrent_processes_lose_no_entry() {
    const WORKERS: usize = 8;
    const EACH: usize = 25;
    let dir = Scratch::new("procs");
    let path = dir.file("runs.jsonl");
    std::thread::scope(|scope| {
        for w in 0..WORKERS {
            let path = &path;
            scope.spawn(move || {
                for i in 0..EACH {
                    let msg = format!("w{w}-{i} {}", "x".repeat(200 * (i % 5)));
                    let out = converge_log(&["in_progress", &msg, "--log", s(path), "--migration-id", "m-conc"], None);
                    ok(&out);
                }
            });
        }
    });
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), WORKERS * EACH);
    let mut seen = HashSet::new();
    let mut last_per_worker = [None::<usize>; WORKERS];
    for line in lines {
        let e: Entry = serde_json::from_str(line).unwrap_or_else(|err| panic!("bad line {line:?}: {err}"));
        assert_eq!(e.status, Status::InProgress);
        assert_eq!(e.migration_id.as_deref(), Some("m-conc"));
        let tag = e.message.split(' ').next().unwrap().to_string();
        let (w, i) = tag[1..].split_once('-').unwrap();
        let (w, i): (usize, usize) = (w.parse().unwrap(), i.parse().unwrap());
        // Each worker's entries appear in the order it wrote them.
        assert!(last_per_worker[w].is_none_or(|prev| prev < i), "worker {w} out of order");
        last_per_worker[w] = Some(i);
        assert!(seen.insert(tag), "duplicate entry {line}");
    }
    assert_eq!(seen.len(), WORKERS * EACH);
    assert_eq!(runlog::read(&path).unwrap().len(), WORKERS * EACH);
}

#[test]
fn concurrent_threads_with_large_entries_never_interleave() {
    const THREADS: usize = 8;
    const EACH: usize = 50;
    let dir = Scratch::new("threads");
    let path = dir.file("runs.jsonl");
    std::thread::scope(|scope| {
        for t in 0..THREADS {
            let path = &path;
            scope.spawn(move || {
                for i in 0..EACH {
                    // Lines larger than a pipe buffer / page, so a torn write would show.
                    let body = char::from(b'a' + t as u8).to_string().repeat(70_000);
                    let e = Entry::new(Status::InProgress, format!("t{t}-{i} {body}")).with_migration_id("m-threads");
                    runlog::append(path, &e).unwrap();
                }
            });
        }
    });
    let entries = runlog::read(&path).unwrap();
    assert_eq!(entries.len(), THREADS * EACH);
    let tags: HashSet<String> = entries
        .iter()
        .map(|e| {
            let (tag, body) = e.message.split_once(' ').unwrap();
            let t: usize = tag[1..].split_once('-').unwrap().0.parse().unwrap();
            let c = char::from(b'a' + t as u8);
            assert!(body.len() == 70_000 && body.chars().all(|x| x == c), "torn entry {tag}");
            tag.to_string()
        })
        .collect();
    assert_eq!(tags.len(), THREADS * EACH);
}

#[test]
fn migration_id_comes_from_flag_then_env_then_last_entry() {
    let dir = Scratch::new("mid");
    let path = dir.file("runs.jsonl");
    let read_last = || runlog::read(&path).unwrap().pop().unwrap();

    // An empty log and nothing given: no migrationId.
    let out = ok(&converge_log(&["started", "dry run", "--log", s(&path)], None));
    let printed: Entry = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(out.lines().count(), 1, "{out}");
    assert_eq!(printed, read_last());
    assert_eq!(printed.migration_id, None);
    assert_eq!(printed.status, Status::Started);
    assert_eq!(printed.message, "dry run");

    // The flag.
    ok(&converge_log(&["started", "Production migration", "--log", s(&path), "--migration-id", "m-flag"], None));
    assert_eq!(read_last().migration_id.as_deref(), Some("m-flag"));

    // The last entry's, as after `converge run`.
    runlog::append(&path, &Entry::new(Status::InProgress, "run").with_migration_id("m-run").with_phase("export", 2.0))
        .unwrap();
    ok(&converge_log(&["completed", "All checks passed", "--log", s(&path)], None));
    let e = read_last();
    assert_eq!((e.status, e.migration_id.as_deref()), (Status::Completed, Some("m-run")));
    assert_eq!(e.message, "All checks passed");

    // The environment beats the log; the flag beats the environment.
    ok(&converge_log(&["rolled_back", "Reason: x", "--log", s(&path)], Some("m-env")));
    assert_eq!(read_last().migration_id.as_deref(), Some("m-env"));
    ok(&converge_log(&["failed", "--log", s(&path), "--migration-id", "m-flag2"], Some("m-env")));
    let e = read_last();
    assert_eq!((e.status, e.migration_id.as_deref(), e.message.as_str()), (Status::Failed, Some("m-flag2"), ""));

    // And the library agrees.
    assert_eq!(runlog::last_migration_id(&path).unwrap().as_deref(), Some("m-flag2"));
    assert_eq!(runlog::last_migration_id(&dir.file("missing.jsonl")).unwrap(), None);
}

#[test]
fn log_path_comes_from_the_environment() {
    let dir = Scratch::new("env");
    let path = dir.file("from-env.jsonl");
    let out = Command::new(env!("CARGO_BIN_EXE_converge"))
        .args(["log", "started", "via env"])
        .env(runlog::ENV_LOG, &path)
        .env_remove(runlog::ENV_MIGRATION_ID)
        .current_dir(&dir.0)
        .output()
        .unwrap();
    ok(&out);
    assert_eq!(runlog::read(&path).unwrap().len(), 1);
    assert!(!dir.file(runlog::DEFAULT_FILE).exists());

    // Without it: ./converge-runs.jsonl.
    let out = Command::new(env!("CARGO_BIN_EXE_converge"))
        .args(["log", "started", "via default"])
        .env_remove(runlog::ENV_LOG)
        .env_remove(runlog::ENV_MIGRATION_ID)
        .current_dir(&dir.0)
        .output()
        .unwrap();
    ok(&out);
    assert_eq!(runlog::read(&dir.file(runlog::DEFAULT_FILE)).unwrap()[0].message, "via default");
}

#[test]
fn unknown_status_is_refused_with_the_valid_ones() {
    let dir = Scratch::new("bad");
    let path = dir.file("runs.jsonl");
    let out = converge_log(&["done", "x", "--log", s(&path)], None);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    for word in ["started", "in_progress", "completed", "rolled_back", "failed"] {
        assert!(err.contains(word), "{word} missing from: {err}");
    }
    assert!(!path.exists(), "nothing is written for a refused status");
}

#[test]
fn a_corrupt_line_is_reported_with_file_and_line() {
    let dir = Scratch::new("corrupt");
    let path = dir.file("runs.jsonl");
    runlog::append(&path, &Entry::new(Status::Started, "ok")).unwrap();
    std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .and_then(|mut f| std::io::Write::write_all(&mut f, b"{not json\n"))
        .unwrap();
    let err = runlog::read(&path).unwrap_err().to_string();
    assert!(err.contains("runs.jsonl:2:"), "{err}");
}

/// `converge run` of the demo pipeline with the given downtime budget, logging to `log`.
fn run_demo(scratch: &Scratch, budget_minutes: &str) -> (Output, Vec<Entry>) {
    run_demo_with(scratch, budget_minutes, &[])
}

fn run_demo_with(scratch: &Scratch, budget_minutes: &str, flags: &[&str]) -> (Output, Vec<Entry>) {
    let root = env!("CARGO_MANIFEST_DIR");
    let pipeline = scratch.file(&format!("demo-{budget_minutes}.toml"));
    let text = std::fs::read_to_string(format!("{root}/pipelines/demo.toml"))
        .unwrap()
        .replace("path = \"../fixtures/demo.sql\"", &format!("path = \"{root}/fixtures/demo.sql\""))
        .replace("dir = \"../exports/demo\"", &format!("dir = \"{}\"", s(&scratch.file("out"))));
    let text =
        text.replacen("[source]", &format!("[options]\ndowntime_budget_minutes = {budget_minutes}\n\n[source]"), 1);
    std::fs::write(&pipeline, text).unwrap();
    let log = scratch.file(&format!("runs-{budget_minutes}.jsonl"));
    let out = Command::new(env!("CARGO_BIN_EXE_converge"))
        .args(flags)
        .arg("run")
        .arg(&pipeline)
        .env(runlog::ENV_LOG, &log)
        .output()
        .expect("converge runs");
    ok(&out);
    (out, runlog::read(&log).unwrap())
}

#[test]
fn run_logs_each_phase_and_warns_during_the_run_when_over_budget() {
    let scratch = Scratch::new("budget");
    // A generous budget: phases logged, no warning.
    let (out, entries) = run_demo(&scratch, "30");
    let statuses: Vec<Status> = entries.iter().map(|e| e.status).collect();
    assert_eq!(statuses.first(), Some(&Status::Started));
    assert_eq!(statuses.last(), Some(&Status::Completed));
    let phases: Vec<&str> = entries.iter().filter_map(|e| e.phase.as_deref()).collect();
    assert_eq!(phases, ["schema check", "export", "reconcile", "commit", "run"], "{entries:?}");
    assert!(entries.iter().all(|e| e.migration_id == entries[0].migration_id && e.migration_id.is_some()));
    assert!(entries.iter().filter(|e| e.phase.is_some()).all(|e| e.seconds.is_some_and(|s| s >= 0.0)));
    assert!(!entries.iter().any(|e| e.message.contains("downtime budget")));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("phases: schema check"), "{stdout}");
    // Not a terminal: progress as plain lines, one per table done.
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("progress: table `user` done, 2 rows"), "{stderr}");
    // A budget of 6 ms: the warning is written while the data moves, before the export
    // phase ends — not only at the end — on stderr and in the run log.
    let (out, entries) = run_demo(&scratch, "0.0001");
    let warned = entries.iter().position(|e| e.message.starts_with("downtime budget:")).expect("a budget warning");
    let exported = entries.iter().position(|e| e.phase.as_deref() == Some("export")).unwrap();
    assert!(warned < exported, "{entries:?}");
    assert_eq!(entries[warned].status, Status::InProgress);
    assert!(String::from_utf8_lossy(&out.stderr).contains("downtime budget"));
    assert!(String::from_utf8_lossy(&out.stdout).contains("warning: downtime budget"));
    // --quiet: nothing on stdout or stderr, the run log still written.
    let (out, entries) = run_demo_with(&scratch, "0.0002", &["--quiet"]);
    assert!(out.stdout.is_empty() && out.stderr.is_empty(), "{out:?}");
    assert!(entries.iter().any(|e| e.message.starts_with("downtime budget:")));
    // --json: one JSON document with the phases and the warning.
    let (out, _) = run_demo_with(&scratch, "0.0003", &["--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["phases"][0]["phase"], "schema check");
    assert!(v["budgetWarning"].as_str().is_some_and(|w| !w.is_empty()), "{v}");
    assert!(v["tables"].as_array().is_some_and(|t| t.len() > 5), "{v}");
}
