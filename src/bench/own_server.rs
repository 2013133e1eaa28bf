//! A MariaDB of the benchmark's own for the follow stage (docs/architecture.md, "Change
//! capture"): the shared server may have no binary log, and its settings are not the
//! benchmark's to change. `mariadb-install-db` into a directory under the work
//! directory, then `mariadbd` with its own socket and a free port, the binary log on
//! (`--log-bin --binlog-format=ROW --server-id=1`); killed and its directory removed
//! on drop.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::error::{Error, Result};

/// The server's options besides its directories and port: the binary log a follower
/// needs, and commits that do not wait for the disk (the benchmark measures the
/// follower, not the source's fsyncs; a crash loses only the benchmark's data).
pub const ARGS: [&str; 6] = [
    "--log-bin=binlog",
    "--binlog-format=ROW",
    "--server-id=1",
    "--innodb-flush-log-at-trx-commit=0",
    "--sync-binlog=0",
    "--innodb-buffer-pool-size=512M",
];

/// A running server, stopped and removed on drop.
pub struct OwnServer {
    child: Child,
    /// The TCP port it listens on (127.0.0.1).
    pub port: u16,
    dir: PathBuf,
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl OwnServer {
    /// Installs and starts a server under `work_dir`; ready when it accepts a connection.
    pub async fn start(work_dir: &Path) -> Result<OwnServer> {
        std::fs::create_dir_all(work_dir).map_err(|e| Error::io(work_dir, e))?;
        let base = work_dir.canonicalize().map_err(|e| Error::io(work_dir, e))?;
        let dir = base.join(format!("own-mariadb-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]));
        let (data, tmp) = (dir.join("data"), dir.join("tmp"));
        for d in [&data, &tmp] {
            std::fs::create_dir_all(d).map_err(|e| Error::io(d, e))?;
        }
        let installed = Command::new("mariadb-install-db")
            .args(["--no-defaults", "--user=root", "--auth-root-authentication-method=normal", "--skip-test-db"])
            .arg(format!("--datadir={}", data.display()))
            // Its bootstrap server's temporary tables beside the data, out of the shared /tmp.
            .arg(format!("--tmpdir={}", tmp.display()))
            .output();
        match installed {
            Ok(o) if o.status.success() => {}
            Ok(o) => {
                let _ = std::fs::remove_dir_all(&dir);
                let err = String::from_utf8_lossy(&o.stderr);
                return Err(Error::other(format!("mariadb-install-db failed: {}", err.trim())));
            }
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(Error::other(format!(
                    "cannot run mariadb-install-db (the follow stage starts its own MariaDB): {e}"
                )));
            }
        }
        let port = free_port()?;
        let child = Command::new("mariadbd")
            .args(["--no-defaults", "--user=root", "--bind-address=127.0.0.1"])
            .arg(format!("--datadir={}", data.display()))
            .arg(format!("--socket={}", dir.join("mariadb.sock").display()))
            .arg(format!("--tmpdir={}", tmp.display()))
            .arg(format!("--port={port}"))
            .args(ARGS)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| Error::other(format!("cannot start mariadbd: {e}")))?;
        let server = OwnServer { child, port, dir };
        for _ in 0..600 {
            if let Ok(c) = mysql_async::Conn::from_url(format!("{}/mysql", server.url())).await {
                let _ = c.disconnect().await;
                return Ok(server);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(Error::other(format!("the benchmark's own MariaDB on port {port} did not start within 60 s")))
    }

    /// `mysql://root@127.0.0.1:PORT` (no database; root has no password here).
    pub fn url(&self) -> String {
        format!("mysql://root@127.0.0.1:{}", self.port)
    }
}

fn free_port() -> Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| Error::other(format!("no free port: {e}")))?;
    l.local_addr().map(|a| a.port()).map_err(|e| Error::other(format!("no free port: {e}")))
}
