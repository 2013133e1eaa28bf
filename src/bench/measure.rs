//! Measuring one stage: a child process (so the operating system's own accounting gives
//! its peak resident memory and CPU time, as `/usr/bin/time -v` would), or a timed future.
//!
//! The peak is the child's own. Linux's `ru_maxrss` for a child is at least the parent's
//! peak when it was spawned (at `exec` the kernel keeps the high-water mark of the memory
//! the child leaves, which is the parent's), so a bench that has grown to 300 MB sees
//! every child at 300 MB or more. When `ru_maxrss` is above the bench's own peak it is
//! the child's; otherwise the child's `VmHWM` (its own memory's high-water mark),
//! sampled every 10 ms while it runs, is.

use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// What one measured stage took.
#[derive(Debug, Clone, Default, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Measured {
    /// Wall-clock seconds.
    pub seconds: f64,
    /// User + system CPU seconds (0 when measured in-process).
    pub cpu_seconds: f64,
    /// Peak resident set size in MiB (0 when measured in-process).
    pub peak_rss_mb: f64,
}

/// Runs `cmd` to completion and reads its rusage with `wait4`: wall time, CPU time,
/// peak RSS. Fails (with its stderr) when it exits non-zero.
pub fn child(cmd: Command, what: &str) -> Result<Measured> {
    child_to(cmd, what, std::process::Stdio::null())
}

/// [`child`], its standard output going to `stdout` (a file the caller reads after).
pub fn child_to(mut cmd: Command, what: &str, stdout: std::process::Stdio) -> Result<Measured> {
    cmd.stdout(stdout).stderr(std::process::Stdio::piped());
    let started = Instant::now();
    let child = cmd.spawn().map_err(|e| Error::other(format!("{what}: cannot start: {e}")))?;
    wait(child, started, what)
}

/// Waits for a child spawned at `started` (its stderr piped) and reads its rusage, as
/// [`child`] does: for a child that runs beside other work and is stopped by a signal.
pub fn wait(mut child: std::process::Child, started: Instant, what: &str) -> Result<Measured> {
    let pid = child.id() as libc::pid_t;
    let stderr = child.stderr.take();
    // Drain stderr on a thread so a chatty child cannot block on a full pipe.
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        if let Some(mut e) = stderr {
            use std::io::Read;
            let _ = e.read_to_string(&mut s);
        }
        s
    });
    let own_peak = high_water_kib("self").unwrap_or(0);
    let sampler = HighWater::start(pid);
    let mut status = 0;
    // SAFETY: `rusage` is plain data the kernel fills; `pid` is our own child, not yet reaped.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let seconds = started.elapsed().as_secs_f64();
    let sampled = sampler.stop();
    let err = reader.join().unwrap_or_default();
    if r < 0 {
        return Err(Error::other(format!("{what}: wait4 failed: {}", std::io::Error::last_os_error())));
    }
    let exited_ok = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
    if !exited_ok {
        return Err(Error::other(format!("{what} failed (status {status}): {}", crate::secret::scrub(err.trim()))));
    }
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    Ok(Measured {
        seconds,
        cpu_seconds: tv(usage.ru_utime) + tv(usage.ru_stime),
        peak_rss_mb: child_peak_kib(usage.ru_maxrss as u64, own_peak, sampled) as f64 / 1024.0,
    })
}

/// The child's peak in KiB: `ru_maxrss` (KiB on Linux) when it is above what the parent
/// had reached (then it is the child's own), else the sampled high-water mark.
fn child_peak_kib(ru_maxrss: u64, parent_peak: u64, sampled: u64) -> u64 {
    if ru_maxrss > parent_peak {
        ru_maxrss
    } else {
        sampled
    }
}

/// `VmHWM` of a process (`self` or a pid) in KiB: the peak of its own memory since exec.
fn high_water_kib(pid: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// A thread reading a running child's `VmHWM` until stopped; keeps the largest.
struct HighWater {
    done: Arc<AtomicBool>,
    peak: Arc<AtomicU64>,
    thread: std::thread::JoinHandle<()>,
}

impl HighWater {
    fn start(pid: libc::pid_t) -> HighWater {
        let (done, peak) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicU64::new(0)));
        let (d, p) = (done.clone(), peak.clone());
        let thread = std::thread::spawn(move || {
            let pid = pid.to_string();
            while !d.load(Ordering::Relaxed) {
                if let Some(kib) = high_water_kib(&pid) {
                    p.fetch_max(kib, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        });
        HighWater { done, peak, thread }
    }

    fn stop(self) -> u64 {
        self.done.store(true, Ordering::Relaxed);
        let _ = self.thread.join();
        self.peak.load(Ordering::Relaxed)
    }
}
