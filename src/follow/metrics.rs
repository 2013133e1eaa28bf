//! The follower's Prometheus endpoint (`--metrics 127.0.0.1:PORT`): what a follower
//! that runs for days has applied, how far behind it is, and what went wrong, in the
//! Prometheus text exposition format 0.0.4 at `GET /metrics` (docs/architecture.md,
//! "Change capture"). The follower updates a shared [`Metrics`]; [`serve`] answers
//! scrapes from it on hyper's HTTP/1 server.
//!
//! Every series carries the label `pipeline`. The metrics:
//!
//! - `converge_follow_lag_seconds` (gauge): seconds between receiving the last applied
//!   source commit and committing it on the target, by receipt time; kept at 0 on an
//!   idle source by the stream's heartbeats.
//! - `converge_follow_applied_position{file}` (gauge): the byte offset in binlog `file`
//!   of the last applied source commit: the position `converge.follow_state` holds.
//!   Only the current file is shown; after a rotation the old file's series ends.
//! - `converge_follow_source_commit_timestamp_seconds` (gauge): the source's own clock
//!   (Unix seconds) at the last applied source commit; absent until one is known.
//! - `converge_follow_bytes_behind` (gauge): the server's current binlog position
//!   minus the applied one, in bytes; absent while unknown (not measured yet, or the
//!   server's position is in a later file).
//! - `converge_follow_changes_total{table,kind}` (counter): row changes applied per
//!   target table; `kind` is `upsert` (an insert or update), `delete`, or `truncate`
//!   (one per TRUNCATE applied).
//! - `converge_follow_apply_commits_total` (counter): PostgreSQL transactions that
//!   applied source transactions (each stores the position in the same commit).
//! - `converge_follow_replays_total` (counter): apply batches replayed row by row in
//!   source order after a unique check refused the set-based apply.
//! - `converge_follow_reconnects_total` (counter): connections lost and re-made.
//! - `converge_follow_errors_total{kind}` (counter): errors met, by the kind the
//!   follower names (retried ones included).

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::error::{Error, Result};
use crate::manifest::BinlogPosition;

/// The content type of the text exposition format.
pub const CONTENT_TYPE_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A follower's metrics, shared between the follower and the endpoint.
pub struct Metrics {
    pipeline: String,
    state: Mutex<State>,
}

/// What the metrics hold; one lock, taken briefly once per apply commit and scrape.
#[derive(Default)]
struct State {
    lag_seconds: f64,
    position: Option<(String, u64)>,
    source_time: Option<u64>,
    bytes_behind: Option<u64>,
    /// (table, kind) → row changes.
    changes: BTreeMap<(String, &'static str), u64>,
    apply_commits: u64,
    replays: u64,
    reconnects: u64,
    errors: BTreeMap<String, u64>,
}

impl Metrics {
    /// Empty metrics for `pipeline`.
    pub fn new(pipeline: &str) -> Arc<Metrics> {
        Arc::new(Metrics { pipeline: pipeline.to_string(), state: Mutex::new(State::default()) })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere while holding the lock leaves plain numbers behind: still good to show.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Rows of `table` upserted and deleted by an apply.
    pub fn applied(&self, table: &str, upserts: u64, deletes: u64) {
        let mut s = self.state();
        for (kind, n) in [("upsert", upserts), ("delete", deletes)] {
            *s.changes.entry((table.to_string(), kind)).or_default() += n;
        }
    }

    /// A TRUNCATE of `table` applied.
    pub fn truncated(&self, table: &str) {
        *self.state().changes.entry((table.to_string(), "truncate")).or_default() += 1;
    }

    /// An apply commit that stored position `at`, with the lag of its last source commit.
    pub fn committed(&self, at: &BinlogPosition, lag_seconds: f64) {
        let mut s = self.state();
        s.apply_commits += 1;
        s.lag_seconds = lag_seconds;
        s.position = Some((at.file.clone(), at.position));
    }

    /// The lag now, without an apply commit (an idle source's heartbeat keeps it at 0).
    pub fn lag(&self, lag_seconds: f64) {
        self.state().lag_seconds = lag_seconds;
    }

    /// The source's timestamp (Unix seconds) of the last applied source commit.
    pub fn source_time(&self, unix_seconds: u64) {
        self.state().source_time = Some(unix_seconds);
    }

    /// Bytes between the applied position and the server's current one, when known.
    pub fn behind(&self, bytes: Option<u64>) {
        self.state().bytes_behind = bytes;
    }

    /// A lost connection re-made.
    pub fn reconnected(&self) {
        self.state().reconnects += 1;
    }

    /// An error of `kind` (`mysql`, `postgres`, …).
    pub fn error(&self, kind: &str) {
        *self.state().errors.entry(kind.to_string()).or_default() += 1;
    }

    /// An apply batch replayed in source order.
    pub fn replayed(&self) {
        self.state().replays += 1;
    }

    /// The metrics in the Prometheus text exposition format 0.0.4.
    pub fn render(&self) -> String {
        let s = self.state();
        let p = format!("pipeline=\"{}\"", escape(&self.pipeline));
        let mut o = String::new();
        family(
            &mut o,
            "lag_seconds",
            "gauge",
            "Seconds between receiving the last applied source commit and applying it.",
        );
        sample(&mut o, "lag_seconds", &p, &float(s.lag_seconds));
        family(
            &mut o,
            "applied_position",
            "gauge",
            "Byte offset in the binlog file of the last applied source commit.",
        );
        if let Some((file, pos)) = &s.position {
            sample(&mut o, "applied_position", &format!("{p},file=\"{}\"", escape(file)), &pos.to_string());
        }
        family(
            &mut o,
            "source_commit_timestamp_seconds",
            "gauge",
            "Source time (Unix seconds) of the last applied source commit.",
        );
        if let Some(t) = s.source_time {
            sample(&mut o, "source_commit_timestamp_seconds", &p, &t.to_string());
        }
        family(
            &mut o,
            "bytes_behind",
            "gauge",
            "Bytes of binlog between the applied position and the server's current one.",
        );
        if let Some(b) = s.bytes_behind {
            sample(&mut o, "bytes_behind", &p, &b.to_string());
        }
        family(
            &mut o,
            "changes_total",
            "counter",
            "Row changes applied, by target table and kind (upsert, delete, truncate).",
        );
        for ((table, kind), n) in &s.changes {
            sample(
                &mut o,
                "changes_total",
                &format!("{p},table=\"{}\",kind=\"{kind}\"", escape(table)),
                &n.to_string(),
            );
        }
        for (name, help, n) in [
            ("apply_commits_total", "PostgreSQL transactions that applied source transactions.", s.apply_commits),
            ("replays_total", "Apply batches replayed in source order after a unique violation.", s.replays),
            ("reconnects_total", "Connections lost and re-made.", s.reconnects),
        ] {
            family(&mut o, name, "counter", help);
            sample(&mut o, name, &p, &n.to_string());
        }
        family(&mut o, "errors_total", "counter", "Errors met, by kind.");
        for (kind, n) in &s.errors {
            sample(&mut o, "errors_total", &format!("{p},kind=\"{}\"", escape(kind)), &n.to_string());
        }
        o
    }
}

/// A family's `# HELP` and `# TYPE` lines (the help texts hold no `\` or newline).
fn family(o: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(o, "# HELP converge_follow_{name} {help}\n# TYPE converge_follow_{name} {kind}");
}

fn sample(o: &mut String, name: &str, labels: &str, value: &str) {
    let _ = writeln!(o, "converge_follow_{name}{{{labels}}} {value}");
}

/// A label value escaped as the format asks: `\` → `\\`, `"` → `\"`, newline → `\n`.
fn escape(v: &str) -> String {
    let mut o = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => o.push_str("\\\\"),
            '"' => o.push_str("\\\""),
            '\n' => o.push_str("\\n"),
            c => o.push(c),
        }
    }
    o
}

/// A float as the format spells it (`NaN`, `+Inf`, `-Inf`, else Rust's shortest form).
fn float(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        v.to_string()
    }
}

/// Serves `GET /metrics` from `m` on `addr` (port 0: one the system picks) until the
/// returned task is aborted; anything else is 404. Returns the address bound.
pub async fn serve(addr: SocketAddr, m: Arc<Metrics>) -> Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let what = format!("the metrics endpoint {addr}");
    let listener = TcpListener::bind(addr).await.map_err(|e| Error::io(&what, e))?;
    let bound = listener.local_addr().map_err(|e| Error::io(&what, e))?;
    let task = tokio::spawn(async move {
        loop {
            let stream = match listener.accept().await {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of descriptors and the like: wait rather than spin.
                    tracing::warn!("metrics endpoint {bound}: accept: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let m = m.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req| {
                    let m = m.clone();
                    async move { Ok::<_, Infallible>(respond(&m, &req)) }
                });
                if let Err(e) = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await {
                    tracing::debug!("metrics endpoint {bound}: {e}");
                }
            });
        }
    });
    Ok((bound, task))
}

fn respond(m: &Metrics, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    if req.method() == Method::GET && req.uri().path() == "/metrics" {
        let mut r = Response::new(Full::new(Bytes::from(m.render())));
        r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE_TEXT));
        return r;
    }
    let mut r = Response::new(Full::new(Bytes::from_static(b"not found: the metrics are at GET /metrics\n")));
    *r.status_mut() = StatusCode::NOT_FOUND;
    r
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    fn at(file: &str, position: u64) -> BinlogPosition {
        BinlogPosition { file: file.into(), position, gtid: None }
    }

    #[test]
    fn render_is_the_text_format() {
        let m = Metrics::new("shop");
        m.applied("orders", 7, 2);
        m.applied("orders", 3, 0);
        m.truncated("carts");
        m.committed(&at("mariadb-bin.000003", 4567), 0.25);
        m.committed(&at("mariadb-bin.000004", 389), 1.5);
        m.source_time(1_767_000_000);
        m.behind(Some(1024));
        m.error("postgres");
        m.error("postgres");
        m.reconnected();
        m.replayed();
        let text = m.render();
        for line in [
            "# HELP converge_follow_lag_seconds Seconds between receiving the last applied source commit and applying it.",
            "# TYPE converge_follow_lag_seconds gauge",
            "converge_follow_lag_seconds{pipeline=\"shop\"} 1.5",
            "# TYPE converge_follow_applied_position gauge",
            "converge_follow_applied_position{pipeline=\"shop\",file=\"mariadb-bin.000004\"} 389",
            "converge_follow_source_commit_timestamp_seconds{pipeline=\"shop\"} 1767000000",
            "converge_follow_bytes_behind{pipeline=\"shop\"} 1024",
            "# TYPE converge_follow_changes_total counter",
            "converge_follow_changes_total{pipeline=\"shop\",table=\"orders\",kind=\"upsert\"} 10",
            "converge_follow_changes_total{pipeline=\"shop\",table=\"orders\",kind=\"delete\"} 2",
            "converge_follow_changes_total{pipeline=\"shop\",table=\"carts\",kind=\"truncate\"} 1",
            "converge_follow_apply_commits_total{pipeline=\"shop\"} 2",
            "converge_follow_replays_total{pipeline=\"shop\"} 1",
            "converge_follow_reconnects_total{pipeline=\"shop\"} 1",
            "converge_follow_errors_total{pipeline=\"shop\",kind=\"postgres\"} 2",
        ] {
            assert!(text.lines().any(|l| l == line), "missing `{line}` in:\n{text}");
        }
        // The old file's series is gone after the rotation.
        assert!(!text.contains("000003"), "{text}");
        assert!(text.ends_with('\n'));
        every_line_is_well_formed(&text);
    }

    /// Each line is a comment (`# HELP name …` / `# TYPE name kind`) or `name{labels} value`
    /// of a family declared above it, and each family is declared once.
    fn every_line_is_well_formed(text: &str) {
        let mut declared: Vec<&str> = Vec::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').unwrap();
                assert!(["gauge", "counter"].contains(&kind), "{line}");
                assert!(!declared.contains(&name), "{name} declared twice");
                declared.push(name);
            } else if !line.starts_with("# HELP converge_follow_") {
                let (series, value) = line.rsplit_once(' ').unwrap();
                let name = series.split('{').next().unwrap();
                assert_eq!(declared.last(), Some(&name), "{line}");
                assert!(series.ends_with('}'), "{line}");
                assert!(value.parse::<f64>().is_ok(), "{line}");
            }
        }
    }

    #[test]
    fn unknown_values_are_absent_until_known() {
        let m = Metrics::new("shop");
        let text = m.render();
        assert!(text.contains("converge_follow_lag_seconds{pipeline=\"shop\"} 0\n"), "{text}");
        for absent in
            ["converge_follow_applied_position{", "converge_follow_bytes_behind{", "converge_follow_changes_total{"]
        {
            assert!(!text.contains(absent), "{absent} in:\n{text}");
        }
        m.behind(Some(5));
        m.behind(None);
        assert!(!m.render().contains("converge_follow_bytes_behind{"));
        every_line_is_well_formed(&text);
    }

    #[test]
    fn label_values_are_escaped() {
        let m = Metrics::new("p\"1");
        m.applied("query-result-cache", 4, 0);
        m.applied("say \"hi\"\\now\nthen", 0, 1);
        m.error("bad\"kind");
        let text = m.render();
        assert!(
            text.contains(
                "converge_follow_changes_total{pipeline=\"p\\\"1\",table=\"query-result-cache\",kind=\"upsert\"} 4\n"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "converge_follow_changes_total{pipeline=\"p\\\"1\",table=\"say \\\"hi\\\"\\\\now\\nthen\",kind=\"delete\"} 1\n"
            ),
            "{text}"
        );
        assert!(text.contains("converge_follow_errors_total{pipeline=\"p\\\"1\",kind=\"bad\\\"kind\"} 1\n"), "{text}");
        every_line_is_well_formed(&text);
    }

    #[test]
    fn floats_are_spelled_as_the_format_asks() {
        assert_eq!(float(0.0), "0");
        assert_eq!(float(2.5), "2.5");
        assert_eq!(float(f64::NAN), "NaN");
        assert_eq!(float(f64::INFINITY), "+Inf");
        assert_eq!(float(f64::NEG_INFINITY), "-Inf");
    }

    /// One HTTP/1.1 request on a fresh connection; the whole response as text.
    async fn get(addr: SocketAddr, path: &str) -> String {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        s.write_all(req.as_bytes()).await.unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        out
    }

    #[tokio::test]
    async fn serves_metrics_and_404_otherwise() {
        let m = Metrics::new("shop");
        let (addr, task) = serve("127.0.0.1:0".parse().unwrap(), m.clone()).await.unwrap();
        assert_ne!(addr.port(), 0);
        m.applied("orders", 41, 0);
        m.applied("orders", 1, 0);
        let r = get(addr, "/metrics").await;
        let (head, body) = r.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
        let head = head.to_ascii_lowercase();
        assert!(head.contains("\r\ncontent-type: text/plain; version=0.0.4; charset=utf-8"), "{head}");
        assert!(
            body.contains("converge_follow_changes_total{pipeline=\"shop\",table=\"orders\",kind=\"upsert\"} 42\n"),
            "{body}"
        );
        // A later scrape sees later values.
        m.reconnected();
        assert!(get(addr, "/metrics").await.contains("converge_follow_reconnects_total{pipeline=\"shop\"} 1\n"));
        let r = get(addr, "/other").await;
        assert!(r.starts_with("HTTP/1.1 404 Not Found\r\n"), "{r}");
        let r = get(addr, "/metrics/").await;
        assert!(r.starts_with("HTTP/1.1 404 Not Found\r\n"), "{r}");
        task.abort();
    }

    #[tokio::test]
    async fn a_taken_port_is_an_error_naming_the_endpoint() {
        let (addr, task) = serve("127.0.0.1:0".parse().unwrap(), Metrics::new("shop")).await.unwrap();
        let e = serve(addr, Metrics::new("shop")).await.err().expect("the port is taken");
        assert!(e.to_string().contains(&format!("the metrics endpoint {addr}")), "{e}");
        task.abort();
    }
}
