//! A MariaDB server of a test's own, on a port of its own, started with the options a
//! test needs (a binary log, a row format …) without touching the shared server's
//! settings: `mariadb-install-db` into a temporary directory, then `mariadbd` with its own
//! socket and port; stopped and removed on drop.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::TempDir;

/// A running server, killed (and its data removed) on drop.
pub struct OwnMariaDb {
    child: Child,
    /// The TCP port it listens on (127.0.0.1).
    pub port: u16,
    args: Vec<String>,
    _dir: TempDir,
}

impl Drop for OwnMariaDb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn install(data: &Path) {
    let out = Command::new("mariadb-install-db")
        .args(["--no-defaults", "--user=root", "--auth-root-authentication-method=normal", "--skip-test-db"])
        .arg(format!("--datadir={}", data.display()))
        // Its bootstrap server's temporary tables beside the data, out of the shared /tmp.
        .arg(format!("--tmpdir={}", data.parent().expect("the server's directory").join("tmp").display()))
        .output()
        .expect("mariadb-install-db");
    assert!(out.status.success(), "mariadb-install-db: {}", String::from_utf8_lossy(&out.stderr));
}

fn spawn(dir: &Path, port: u16, args: &[String]) -> Child {
    Command::new("mariadbd")
        .args(["--no-defaults", "--user=root", "--bind-address=127.0.0.1"])
        .arg(format!("--datadir={}", dir.join("data").display()))
        .arg(format!("--socket={}", dir.join("mariadb.sock").display()))
        // Temporary tables of its own, out of the shared /tmp.
        .arg(format!("--tmpdir={}", dir.join("tmp").display()))
        .arg(format!("--port={port}"))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("mariadbd")
}

impl OwnMariaDb {
    /// A binlog-enabled server ready to be followed: `--log-bin --binlog-format=ROW
    /// --server-id=1`, then `extra` (later options win: `--binlog-format=MIXED` …).
    pub async fn with_binlog(extra: &[&str]) -> OwnMariaDb {
        let mut args = vec!["--log-bin=binlog", "--binlog-format=ROW", "--server-id=1"];
        args.extend_from_slice(extra);
        OwnMariaDb::start(&args).await
    }

    /// A server started with exactly `args` (after its directories and port).
    pub async fn start(args: &[&str]) -> OwnMariaDb {
        let dir = TempDir::new("own-mariadb");
        let data = dir.path().join("data");
        std::fs::create_dir_all(&data).unwrap();
        std::fs::create_dir_all(dir.path().join("tmp")).unwrap();
        install(&data);
        let port = free_port();
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let child = spawn(dir.path(), port, &args);
        let server = OwnMariaDb { child, port, args, _dir: dir };
        server.wait_ready().await;
        server
    }

    async fn wait_ready(&self) {
        for _ in 0..600 {
            if let Ok(c) = mysql_async::Conn::from_url(self.url("mysql")).await {
                let _ = c.disconnect().await;
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the test's own MariaDB on port {} did not start", self.port);
    }

    /// Stops the server for good (SIGKILL); its data stays until drop.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Stops the server (SIGTERM: a clean shutdown) and starts it again on the same
    /// data and port; returns once it accepts connections.
    pub async fn restart(&mut self) {
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        let _ = self.child.wait();
        self.child = spawn(self._dir.path(), self.port, &self.args);
        self.wait_ready().await;
    }

    /// The URL of `db` as root (empty password).
    pub fn url(&self, db: &str) -> String {
        format!("mysql://root@127.0.0.1:{}/{db}", self.port)
    }

    /// A root connection (session time zone UTC).
    pub async fn conn(&self) -> mysql_async::Conn {
        use mysql_async::prelude::*;
        let mut c = mysql_async::Conn::from_url(self.url("mysql")).await.unwrap();
        c.query_drop("SET time_zone = '+00:00'").await.unwrap();
        c
    }

    /// Runs statements (separated by `;\n`) as root.
    pub async fn exec(&self, sql: &str) {
        use mysql_async::prelude::*;
        let mut c = self.conn().await;
        for stmt in sql.split(";\n").map(str::trim).filter(|s| !s.is_empty()) {
            c.query_drop(stmt).await.unwrap_or_else(|e| panic!("{stmt}: {e}"));
        }
        let _ = c.disconnect().await;
    }
}
