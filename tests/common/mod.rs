//! Shared test helpers: unique throw-away databases on the local MariaDB and
//! PostgreSQL servers, and canonical cell values for comparing the two sides.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use mysql_async::prelude::*;

pub mod follow;
pub mod own_mariadb;

/// The local servers (overridable for other machines).
pub fn mysql_base() -> String {
    std::env::var("CONVERGE_TEST_MYSQL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".into())
}

/// The local PostgreSQL server.
pub fn pg_base() -> String {
    std::env::var("CONVERGE_TEST_PG").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

/// A unique name for a test's databases.
pub fn unique(prefix: &str) -> String {
    format!("cvg_{prefix}_{}", &uuid::Uuid::new_v4().simple().to_string()[..10])
}

/// A MariaDB database that is dropped when the value is (also when a test panics).
pub struct MyDb {
    pub name: String,
    pub url: String,
    pool: mysql_async::Pool,
    dropped: bool,
}

/// Runs `f` on a runtime of its own, on a thread of its own: a guard's `Drop` may run
/// inside a test's runtime (while it unwinds), which cannot block on another future.
fn on_own_runtime<F: std::future::Future<Output = ()> + Send + 'static>(f: F) {
    let _ = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
        rt.block_on(f);
    })
    .join();
}

impl Drop for MyDb {
    fn drop(&mut self) {
        if self.dropped {
            return;
        }
        let name = self.name.clone();
        on_own_runtime(async move {
            let pool = mysql_async::Pool::new(mysql_base().as_str());
            if let Ok(mut c) = pool.get_conn().await {
                let _ = c.query_drop(format!("DROP DATABASE IF EXISTS `{name}`")).await;
            }
        });
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        if self.dropped {
            return;
        }
        let name = self.name.clone();
        on_own_runtime(async move {
            if let Ok((admin, conn)) =
                tokio_postgres::connect(&format!("{}/postgres", pg_base()), tokio_postgres::NoTls).await
            {
                tokio::spawn(conn);
                let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")).await;
            }
        });
    }
}

impl MyDb {
    /// Creates a fresh database.
    pub async fn create(prefix: &str) -> MyDb {
        let name = unique(prefix);
        let pool = mysql_async::Pool::new(mysql_base().as_str());
        let mut c = pool.get_conn().await.expect("MariaDB on 127.0.0.1:3306 (see README: scripts/test.sh starts it)");
        c.query_drop(format!("CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci"))
            .await
            .unwrap();
        drop(c);
        let url = format!("{}/{name}", mysql_base());
        MyDb { pool: mysql_async::Pool::new(url.as_str()), name, url, dropped: false }
    }

    /// Runs statements (separated by `;\n`).
    pub async fn exec(&self, sql: &str) {
        let mut c = self.pool.get_conn().await.unwrap();
        c.query_drop("SET time_zone = '+00:00'").await.unwrap();
        for stmt in sql.split(";\n").map(str::trim).filter(|s| !s.is_empty()) {
            c.query_drop(stmt).await.unwrap_or_else(|e| panic!("{stmt}: {e}"));
        }
    }

    /// A connection (session time zone UTC).
    pub async fn conn(&self) -> mysql_async::Conn {
        let mut c = self.pool.get_conn().await.unwrap();
        c.query_drop("SET time_zone = '+00:00'").await.unwrap();
        c
    }

    /// `SELECT COUNT(*)`.
    pub async fn count(&self, table: &str) -> u64 {
        let mut c = self.conn().await;
        c.query_first(format!("SELECT COUNT(*) FROM `{}`", table.replace('`', "``"))).await.unwrap().unwrap()
    }

    /// Drops the database.
    pub async fn drop_db(mut self) {
        let mut c = self.pool.get_conn().await.unwrap();
        c.query_drop(format!("DROP DATABASE IF EXISTS `{}`", self.name)).await.unwrap();
        drop(c);
        // Not `Pool::disconnect`: it waits for every connection a test may still hold.
        self.dropped = true;
    }
}

/// A PostgreSQL database, dropped by `drop_db`.
pub struct PgDb {
    pub name: String,
    pub url: String,
    pub client: tokio_postgres::Client,
    dropped: bool,
}

impl PgDb {
    /// Creates a fresh database and connects to it (time zone UTC).
    pub async fn create(prefix: &str) -> PgDb {
        let name = unique(prefix);
        let admin = connect_pg(&format!("{}/postgres", pg_base())).await;
        admin.batch_execute(&format!("CREATE DATABASE \"{name}\"")).await.unwrap();
        let url = format!("{}/{name}", pg_base());
        let client = connect_pg(&url).await;
        client.batch_execute("SET TIME ZONE 'UTC'; SET extra_float_digits = 3").await.unwrap();
        PgDb { name, url, client, dropped: false }
    }

    /// Drops the database.
    pub async fn drop_db(mut self) {
        let admin = connect_pg(&format!("{}/postgres", pg_base())).await;
        admin.batch_execute(&format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name)).await.unwrap();
        self.dropped = true;
    }
}

/// Every row of `sql` as PostgreSQL prints it (NULL as `None`).
pub async fn pg_rows(pg: &PgDb, sql: &str) -> Vec<Vec<Option<String>>> {
    pg.client
        .simple_query(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .into_iter()
        .filter_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => {
                Some((0..r.len()).map(|i| r.get(i).map(str::to_string)).collect())
            }
            _ => None,
        })
        .collect()
}

/// Every row of `sql` on MariaDB, as text (NULL as `None`).
pub async fn my_rows(my: &MyDb, sql: &str) -> Vec<Vec<Option<String>>> {
    let mut c = my.conn().await;
    let rows: Vec<mysql_async::Row> = c.query(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    rows.into_iter()
        .map(|r| {
            (0..r.len())
                .map(|i| match r.as_ref(i).expect("a value") {
                    mysql_async::Value::NULL => None,
                    mysql_async::Value::Bytes(b) => Some(String::from_utf8(b.clone()).unwrap()),
                    other => Some(other.as_sql(true)),
                })
                .collect()
        })
        .collect()
}

/// Connects to PostgreSQL without TLS.
pub async fn connect_pg(url: &str) -> tokio_postgres::Client {
    let (client, conn) =
        tokio_postgres::connect(url, tokio_postgres::NoTls).await.expect("PostgreSQL on 127.0.0.1:5432");
    tokio::spawn(async move {
        let _ = conn.await;
    });
    client
}

/// A temporary directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(prefix: &str) -> TempDir {
        let p = std::env::temp_dir().join(unique(prefix));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Loads a pipeline from TOML text with `${VAR}`s taken from `vars`.
pub fn pipeline(text: &str, vars: &[(&str, &str)]) -> converge::Pipeline {
    let vars: Vec<(String, String)> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    converge::Pipeline::parse(text, Path::new("test.toml"), move |k| {
        vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
    })
    .expect("valid test pipeline")
}

/// A minimal export pipeline from a MySQL URL into a CSV directory.
pub fn export_pipeline(extra: &str) -> String {
    format!(
        "name = \"test\"\n[source]\nkind = \"mysql\"\nurl = \"${{MYSQL_URL}}\"\n{extra}\n[[sink]]\nkind = \"csv\"\ndir = \"${{OUT}}\"\n"
    )
}

/// Canonical text of a MySQL value (binary protocol), for comparison with PostgreSQL.
pub fn my_canon(v: &mysql_async::Value, kind: &str) -> Option<String> {
    use mysql_async::Value as V;
    Some(match v {
        V::NULL => return None,
        V::Int(i) if kind == "bool" => {
            if *i != 0 {
                "t".into()
            } else {
                "f".into()
            }
        }
        V::Int(i) => i.to_string(),
        V::UInt(u) => u.to_string(),
        V::Float(f) => format!("f32:{:08x}", f.to_bits()),
        V::Double(d) => format!("f64:{:016x}", d.to_bits()),
        V::Bytes(b) if kind == "bool" => {
            if b.iter().any(|x| *x != 0) {
                "t".into()
            } else {
                "f".into()
            }
        }
        V::Bytes(b) if kind == "bytes" => format!("\\x{}", hex::encode(b)),
        V::Bytes(b) if kind == "uuid" => String::from_utf8(b.clone()).unwrap().to_lowercase(),
        V::Bytes(b) if kind == "json" => canon_json(std::str::from_utf8(b).unwrap()),
        V::Bytes(b) => String::from_utf8(b.clone()).unwrap(),
        V::Date(y, mo, d, ..) if kind == "date" => format!("{y:04}-{mo:02}-{d:02}"),
        V::Date(y, mo, d, h, mi, s, us) => format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}.{us:06}"),
        V::Time(neg, days, h, m, s, us) => {
            let total = ((*days as i64 * 24 + *h as i64) * 3600 + *m as i64 * 60 + *s as i64) * 1_000_000 + *us as i64;
            format!("{}", if *neg { -total } else { total })
        }
    })
}

/// Canonical text of a PostgreSQL value as `simple_query` prints it.
pub fn pg_canon(v: Option<&str>, kind: &str) -> Option<String> {
    let v = v?;
    Some(match kind {
        "float4" => format!("f32:{:08x}", parse_pg_float32(v).to_bits()),
        "float8" => format!("f64:{:016x}", parse_pg_float(v).to_bits()),
        "datetime" => {
            let v = v.trim_end_matches("+00");
            let (d, t) = v.split_once(' ').unwrap();
            let (hms, frac) = t.split_once('.').unwrap_or((t, ""));
            format!("{d} {hms}.{frac:0<6}")
        }
        "time" => {
            let (neg, rest) = v.strip_prefix('-').map_or((false, v), |r| (true, r));
            let mut parts = rest.split(':');
            let h: i64 = parts.next().unwrap().parse().unwrap();
            let m: i64 = parts.next().unwrap().parse().unwrap();
            let s = parts.next().unwrap();
            let (s, frac) = s.split_once('.').unwrap_or((s, ""));
            let us: i64 = if frac.is_empty() { 0 } else { format!("{frac:0<6}").parse().unwrap() };
            let total = (h * 3600 + m * 60 + s.parse::<i64>().unwrap()) * 1_000_000 + us;
            format!("{}", if neg { -total } else { total })
        }
        "json" => canon_json(v),
        _ => v.to_string(),
    })
}

fn parse_pg_float32(v: &str) -> f32 {
    match v {
        "NaN" => f32::NAN,
        "Infinity" => f32::INFINITY,
        "-Infinity" => f32::NEG_INFINITY,
        _ => v.parse().unwrap(),
    }
}

fn parse_pg_float(v: &str) -> f64 {
    match v {
        "NaN" => f64::NAN,
        "Infinity" => f64::INFINITY,
        "-Infinity" => f64::NEG_INFINITY,
        _ => v.parse().unwrap(),
    }
}

/// JSON by meaning: keys sorted at every level.
pub fn canon_json(text: &str) -> String {
    fn sort(v: serde_json::Value) -> serde_json::Value {
        match v {
            serde_json::Value::Object(m) => {
                let mut entries: Vec<_> = m.into_iter().map(|(k, v)| (k, sort(v))).collect();
                entries.sort_by(|a, b| a.0.cmp(&b.0));
                serde_json::Value::Object(entries.into_iter().collect())
            }
            serde_json::Value::Array(a) => serde_json::Value::Array(a.into_iter().map(sort).collect()),
            other => other,
        }
    }
    sort(serde_json::from_str(text).unwrap()).to_string()
}

/// The server's host, port and user, from the test URL (no password on the test server).
pub fn dump_args() -> Vec<String> {
    let base = mysql_base();
    let rest = base.strip_prefix("mysql://").expect("a mysql:// URL");
    let (cred, host) = rest.split_once('@').unwrap_or(("root", rest));
    let (user, pass) = cred.split_once(':').unwrap_or((cred, ""));
    let host = host.trim_end_matches('/');
    let (host, port) = host.split_once(':').unwrap_or((host, "3306"));
    let mut args = vec![format!("--host={host}"), format!("--port={port}"), format!("--user={user}")];
    if !pass.is_empty() {
        args.push(format!("--password={pass}"));
    }
    args
}

/// `mariadb-dump` of `db` into `file` with extra flags.
pub fn mariadb_dump(db: &str, file: &Path, flags: &[&str]) {
    let out = std::process::Command::new("mariadb-dump")
        .args(dump_args())
        .arg("--default-character-set=utf8mb4")
        .args(flags)
        .arg(format!("--result-file={}", file.display()))
        .arg(db)
        .output()
        .expect("mariadb-dump is installed");
    assert!(out.status.success(), "mariadb-dump {flags:?}: {}", String::from_utf8_lossy(&out.stderr));
}
