//! TLS to both servers: the test starts its own MariaDB and PostgreSQL, each with a
//! self-signed CA and a server certificate, each refusing plain TCP; a pipeline then
//! runs over `ssl-mode=VERIFY_IDENTITY` / `sslmode=verify-full`, and the wrong CA or
//! plain TCP is refused with a clear error.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;

fn sh(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(out.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&out.stderr));
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A CA and a server certificate for 127.0.0.1 / localhost signed by it, in `dir`.
fn certificates(dir: &Path, name: &str) -> (PathBuf, PathBuf, PathBuf) {
    let p = |f: &str| dir.join(format!("{name}-{f}"));
    sh(Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj"])
        .arg(format!("/CN={name} test CA"))
        .arg("-keyout")
        .arg(p("ca.key"))
        .arg("-out")
        .arg(p("ca.pem")));
    sh(Command::new("openssl")
        .args(["req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout"])
        .arg(p("server.key"))
        .arg("-out")
        .arg(p("server.csr")));
    std::fs::write(p("ext.cnf"), "subjectAltName = IP:127.0.0.1, DNS:localhost\n").unwrap();
    sh(Command::new("openssl")
        .args(["x509", "-req", "-days", "2", "-in"])
        .arg(p("server.csr"))
        .arg("-CA")
        .arg(p("ca.pem"))
        .arg("-CAkey")
        .arg(p("ca.key"))
        .arg("-CAcreateserial")
        .arg("-extfile")
        .arg(p("ext.cnf"))
        .arg("-out")
        .arg(p("server.pem")));
    (p("ca.pem"), p("server.pem"), p("server.key"))
}

/// A server process stopped (and its data removed with the temp dir) on drop.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_for(port: u16) {
    for _ in 0..600 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("server on port {port} did not start");
}

fn mariadb(dir: &Path, certs: &(PathBuf, PathBuf, PathBuf)) -> (Server, u16) {
    let data = dir.join("mariadb");
    std::fs::create_dir_all(&data).unwrap();
    sh(Command::new("mariadb-install-db")
        .args(["--no-defaults", "--user=root", "--auth-root-authentication-method=normal", "--skip-test-db"])
        .arg(format!("--datadir={}", data.display())));
    let port = free_port();
    let child = Command::new("mariadbd")
        .args([
            "--no-defaults",
            "--user=root",
            "--bind-address=127.0.0.1",
            "--require-secure-transport=ON",
            "--skip-log-bin",
        ])
        .arg(format!("--datadir={}", data.display()))
        .arg(format!("--socket={}", dir.join("mariadb.sock").display()))
        .arg(format!("--port={port}"))
        .arg(format!("--ssl-ca={}", certs.0.display()))
        .arg(format!("--ssl-cert={}", certs.1.display()))
        .arg(format!("--ssl-key={}", certs.2.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for(port);
    (Server(child), port)
}

fn postgres(dir: &Path, certs: &(PathBuf, PathBuf, PathBuf)) -> (Server, u16) {
    // PostgreSQL will not run as root: its files belong to `postgres`.
    let data = dir.join("pg");
    std::fs::create_dir_all(&data).unwrap();
    for f in [&certs.1, &certs.2] {
        std::fs::copy(f, data.parent().unwrap().join(f.file_name().unwrap())).unwrap();
    }
    let key = dir.join(certs.2.file_name().unwrap());
    let cert = dir.join(certs.1.file_name().unwrap());
    sh(Command::new("chown").arg("-R").arg("postgres:postgres").arg(dir));
    sh(Command::new("chmod").arg("0600").arg(&key));
    sh(Command::new("chmod").arg("0755").arg(dir));
    sh(Command::new("runuser")
        .args(["-u", "postgres", "--", "initdb", "-A", "trust", "-U", "postgres", "-D"])
        .arg(&data));
    std::fs::write(data.join("pg_hba.conf"), "local all all trust\nhostssl all all 127.0.0.1/32 trust\n").unwrap();
    let port = free_port();
    let child = Command::new("runuser")
        .args(["-u", "postgres", "--", "postgres", "-D"])
        .arg(&data)
        .args(["-c", "listen_addresses=127.0.0.1", "-c", "ssl=on", "-p"])
        .arg(port.to_string())
        .arg("-c")
        .arg(format!("unix_socket_directories={}", dir.display()))
        .arg("-c")
        .arg(format!("ssl_cert_file={}", cert.display()))
        .arg("-c")
        .arg(format!("ssl_key_file={}", key.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for(port);
    (Server(child), port)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_servers_over_verified_tls_and_plain_tcp_refused() {
    let dir = TempDir::new("tls");
    let certs = certificates(dir.path(), "good");
    let wrong = certificates(dir.path(), "wrong");
    let (_my_server, my_port) = mariadb(dir.path(), &certs);
    let pg_dir = dir.path().join("pgroot");
    std::fs::create_dir_all(&pg_dir).unwrap();
    let (_pg_server, pg_port) = postgres(&pg_dir, &certs);
    let ca = certs.0.display().to_string();

    // Data on the TLS-only MariaDB (created over TLS: plain TCP is refused by the server).
    let my_admin = format!("mysql://root@127.0.0.1:{my_port}/mysql?ssl-mode=VERIFY_IDENTITY&ssl-ca={ca}");
    let (opts, _) = converge::mysql::parse_url(&my_admin).unwrap();
    let mut c = mysql_async::Conn::new(opts).await.unwrap();
    use mysql_async::prelude::*;
    c.query_drop("CREATE DATABASE app CHARACTER SET utf8mb4").await.unwrap();
    c.query_drop("CREATE TABLE app.`user` (id int PRIMARY KEY, name varchar(20))").await.unwrap();
    c.query_drop("INSERT INTO app.`user` VALUES (1, 'ada'), (2, 'grace')").await.unwrap();
    let _ = c.disconnect().await;
    let pg_admin = format!("postgres://postgres@127.0.0.1:{pg_port}/postgres?sslmode=verify-full&sslrootcert={ca}");
    let admin = converge::pg::connect::connect(&pg_admin).await.unwrap();
    admin.batch_execute("CREATE DATABASE app").await.unwrap();
    let pg_url = format!("postgres://postgres@127.0.0.1:{pg_port}/app?sslmode=verify-full&sslrootcert={ca}");
    let target = converge::pg::connect::connect(&pg_url).await.unwrap();
    target.batch_execute("CREATE TABLE \"user\" (id int PRIMARY KEY, name varchar(20))").await.unwrap();
    let ssl: bool =
        target.query_one("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", &[]).await.unwrap().get(0);
    assert!(ssl, "the session is encrypted");

    // A pipeline over verified TLS on both sides.
    let my_url = format!("mysql://root@127.0.0.1:{my_port}/app?ssl-mode=VERIFY_IDENTITY&ssl-ca={ca}");
    let out = TempDir::new("tls-out");
    let text = "name = \"tls\"\n[source]\nkind = \"mysql\"\nurl = \"${MYSQL_URL}\"\n[[sink]]\nkind = \"csv\"\ndir = \"${OUT}\"\n[[sink]]\nkind = \"postgres\"\nurl = \"${PG_URL}\"\n";
    let vars = [("MYSQL_URL", my_url.as_str()), ("PG_URL", pg_url.as_str()), ("OUT", &out.path().to_string_lossy())];
    let p = pipeline(text, &vars);
    let r = converge::run::run(&p, &Default::default()).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.ledger.rows[0].target, Some(2));
    // `require` encrypts without checking the certificate.
    let required = format!("mysql://root@127.0.0.1:{my_port}/app?ssl-mode=REQUIRED");
    let (opts, _) = converge::mysql::parse_url(&required).unwrap();
    mysql_async::Conn::new(opts).await.expect("REQUIRED connects").disconnect().await.unwrap();
    converge::pg::connect::connect(&format!("postgres://postgres@127.0.0.1:{pg_port}/app?sslmode=require"))
        .await
        .expect("require connects");

    // Refused: plain TCP (the servers require TLS), and a certificate from the wrong CA.
    let plain = converge::pg::connect::connect(&format!("postgres://postgres@127.0.0.1:{pg_port}/app"))
        .await
        .expect_err("plain TCP refused")
        .to_string();
    assert!(plain.contains("no pg_hba.conf entry") || plain.contains("SSL off"), "{plain}");
    let (opts, _) = converge::mysql::parse_url(&format!("mysql://root@127.0.0.1:{my_port}/app")).unwrap();
    let e = mysql_async::Conn::new(opts).await.expect_err("plain TCP refused").to_string();
    // MariaDB with require_secure_transport refuses the plain session at authentication.
    assert!(e.contains("secure transport") || e.contains("Access denied"), "{e}");
    let bad_ca = wrong.0.display();
    let e = converge::pg::connect::connect(&format!(
        "postgres://postgres@127.0.0.1:{pg_port}/app?sslmode=verify-full&sslrootcert={bad_ca}"
    ))
    .await
    .expect_err("wrong CA refused")
    .to_string();
    assert!(e.to_lowercase().contains("certificate"), "{e}");
    let (opts, _) = converge::mysql::parse_url(&format!(
        "mysql://root@127.0.0.1:{my_port}/app?ssl-mode=VERIFY_IDENTITY&ssl-ca={bad_ca}"
    ))
    .unwrap();
    let e = mysql_async::Conn::new(opts).await.expect_err("wrong CA refused").to_string();
    assert!(e.to_lowercase().contains("certificate"), "{e}");
}
