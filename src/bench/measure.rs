//! Measuring one stage: a child process (so the operating system's own accounting gives
//! its peak resident memory and CPU time, as `/usr/bin/time -v` would), or a timed future.

use std::process::Command;
use std::time::Instant;

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
    let mut status = 0;
    // SAFETY: `rusage` is plain data the kernel fills; `pid` is our own child, not yet reaped.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let seconds = started.elapsed().as_secs_f64();
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
        // Linux reports ru_maxrss in KiB.
        peak_rss_mb: usage.ru_maxrss as f64 / 1024.0,
    })
}
