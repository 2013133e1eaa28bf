//! The one error type of `converge`, with the context a migration operator needs:
//! which table, which row (by primary key), which column, which value, and why.

use std::fmt;
use std::path::PathBuf;

/// Every failure `converge` reports. Messages never contain secrets: URLs are
/// redacted before they reach an error (see [`crate::secret::redact_url`]).
#[derive(Debug)]
pub enum Error {
    /// The pipeline file is malformed or asks for something impossible.
    Pipeline {
        /// The pipeline file.
        file: PathBuf,
        /// `line:column` where known.
        at: Option<(usize, usize)>,
        /// What is wrong.
        message: String,
    },
    /// A value that cannot cross the tool unchanged.
    Value(Box<ValueError>),
    /// A MySQL server error, with what we were doing.
    MySql { context: String, source: mysql_async::Error },
    /// A PostgreSQL error, with what we were doing: the server's message (code,
    /// constraint, detail) and, when the server sent one, its SQLSTATE to match on.
    Postgres { context: String, message: String, code: Option<tokio_postgres::error::SqlState> },
    /// A file-system error, with the path.
    Io { path: PathBuf, source: std::io::Error },
    /// A DataFusion/Arrow error, with what we were doing; the error itself is its cause.
    DataFusion { context: String, source: Box<dyn std::error::Error + Send + Sync> },
    /// A broken input file (CSV export, dump): file, line and what is wrong.
    Input { file: PathBuf, line: u64, column: Option<String>, message: String },
    /// The row-count ledger does not reconcile; the message holds the printed ledger.
    Ledger(String),
    /// A `[[validate]]` assertion failed.
    Validation { name: String, expected: String, got: String },
    /// Anything else, already phrased for the operator.
    Other(String),
    /// The run was stopped by a signal (SIGINT, SIGTERM) before it committed; the
    /// message names the signal.
    Interrupted(String),
}

/// Where and why one value could not be carried over.
#[derive(Debug, Clone, PartialEq)]
pub struct ValueError {
    /// The source table.
    pub table: String,
    /// The row's primary key, rendered `col=value, …` (or the row number when there is no key).
    pub key: String,
    /// The column.
    pub column: String,
    /// The value, shortened for display.
    pub value: String,
    /// Why it was rejected.
    pub reason: String,
}

/// A value refused, and why: what the decoder's callers, the normalising kernels and
/// the COPY encoder return before the value's place is known. `row` is its index in
/// the batch; `column` its name, empty where the refusing code sees one array (its
/// caller names the column); `reason` follows "value …". [`Refused::locate`] adds the
/// table and the row's key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// Row index within the batch.
    pub row: usize,
    /// The column's name (empty when the caller knows it).
    pub column: String,
    /// The value, rendered and shortened for display.
    pub value: String,
    /// Why, phrased to follow "value …".
    pub reason: String,
}

impl Refused {
    /// The refusal at `table`, in the row whose key is `key`.
    pub fn locate(self, table: &str, key: String) -> ValueError {
        ValueError { table: table.to_string(), key, column: self.column, value: self.value, reason: self.reason }
    }
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "row {}, column `{}`: value {} {}", self.row, self.column, self.value, self.reason)
    }
}

impl std::error::Error for Refused {}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An [`Error::Other`] from anything printable.
    pub fn other(msg: impl Into<String>) -> Self {
        Error::Other(msg.into())
    }

    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }

    /// A MySQL error with context.
    pub fn mysql(context: impl Into<String>, source: mysql_async::Error) -> Self {
        Error::MySql { context: context.into(), source }
    }

    /// A DataFusion or Arrow error with context.
    pub fn datafusion(context: impl Into<String>, e: impl std::error::Error + Send + Sync + 'static) -> Self {
        Error::DataFusion { context: context.into(), source: Box::new(e) }
    }

    /// A PostgreSQL error with context, keeping the server's code, constraint and detail.
    pub fn postgres(context: impl Into<String>, e: &tokio_postgres::Error) -> Self {
        let message = match e.as_db_error() {
            Some(db) => {
                let mut m = format!("{} (SQLSTATE {})", db.message(), db.code().code());
                if let Some(c) = db.constraint() {
                    m.push_str(&format!(", constraint {c}"));
                }
                if let Some(d) = db.detail() {
                    m.push_str(&format!(", detail: {d}"));
                }
                m
            }
            None => {
                // The driver's message, then its causes (a TLS handshake says why it failed).
                let mut m = e.to_string();
                let mut cause = std::error::Error::source(e);
                while let Some(c) = cause {
                    m.push_str(&format!(": {c}"));
                    cause = c.source();
                }
                m
            }
        };
        Error::Postgres { context: context.into(), message, code: e.code().cloned() }
    }

    /// PostgreSQL's SQLSTATE, when the server refused something.
    pub fn sqlstate(&self) -> Option<&tokio_postgres::error::SqlState> {
        match self {
            Error::Postgres { code, .. } => code.as_ref(),
            _ => None,
        }
    }

    /// MySQL would not send (or the driver would not take) a packet larger than
    /// `max_allowed_packet`: a row or value too large to be read at all.
    pub fn packet_too_large(&self) -> bool {
        match self {
            Error::MySql { source: mysql_async::Error::Server(s), .. } => matches!(s.code, 1153 | 1301),
            Error::MySql { source: mysql_async::Error::Driver(mysql_async::DriverError::PacketTooLarge), .. } => true,
            Error::MySql { source, .. } => source.to_string().contains("max_allowed_packet"),
            _ => false,
        }
    }

    /// MySQL's error number, when the server refused something (1062: duplicate key, …).
    pub fn mysql_code(&self) -> Option<u16> {
        match self {
            Error::MySql { source: mysql_async::Error::Server(s), .. } => Some(s.code),
            _ => None,
        }
    }
}

impl Error {
    /// A failure worth retrying (before any data has moved, or by a follower from the
    /// position its target stores): the connection was refused, reset, closed or killed,
    /// or the server is shutting down.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::MySql { source, .. } => match source {
                mysql_async::Error::Io(_) => true,
                mysql_async::Error::Driver(mysql_async::DriverError::ConnectionClosed) => true,
                // ER_CONNECTION_KILLED, ER_SERVER_SHUTDOWN, CR_SERVER_GONE_ERROR, CR_SERVER_LOST.
                mysql_async::Error::Server(s) => matches!(s.code, 1927 | 1053 | 2006 | 2013),
                _ => false,
            },
            // Connection failures (class 08), a terminated backend or a server shutting down
            // (57P01–57P03), and the driver's own "connection closed" / I/O errors.
            Error::Postgres { code: Some(c), .. } => c.code().starts_with("08") || c.code().starts_with("57P0"),
            Error::Postgres { code: None, message, .. } => {
                message.starts_with("connection closed") || message.starts_with("error communicating with the server")
            }
            _ => false,
        }
    }
}

/// Retries `attempt` while it fails with a transient error, up to `tries` times with
/// exponential backoff (200 ms, 400 ms, …); the last error says how many attempts failed.
pub async fn retry<T, F, Fut>(what: &str, tries: u32, mut attempt: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    let mut n = 0;
    loop {
        n += 1;
        match attempt().await {
            Ok(v) => return Ok(v),
            Err(e) if e.is_transient() && n < tries => {
                tracing::warn!("{what}: attempt {n} of {tries} failed, retrying: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(200 * 2u64.pow(n - 1))).await;
            }
            Err(e) if n > 1 => return Err(Error::other(format!("{what}: gave up after {n} attempts: {e}"))),
            Err(e) => return Err(e),
        }
    }
}

/// Shortens a value for an error message: at most `max` characters, with an ellipsis.
pub fn shorten(value: &str, max: usize) -> String {
    if value.chars().count() <= max {
        return value.to_string();
    }
    let cut: String = value.chars().take(max).collect();
    format!("{cut}…")
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Pipeline { file, at: Some((l, c)), message } => {
                write!(f, "{}:{l}:{c}: {message}", file.display())
            }
            Error::Pipeline { file, at: None, message } => write!(f, "{}: {message}", file.display()),
            Error::Value(v) => {
                write!(f, "table `{}`, row {}, column `{}`: value {} {}", v.table, v.key, v.column, v.value, v.reason)
            }
            Error::MySql { context, source } => {
                write!(f, "MySQL: {context}: {}", crate::secret::scrub(&source.to_string()))?;
                if self.packet_too_large() {
                    write!(f, " (a row is larger than the server's max_allowed_packet: raise it on the server for the migration — SET GLOBAL max_allowed_packet, or its configuration — and run again)")?;
                }
                Ok(())
            }
            Error::Postgres { context, message, .. } => {
                write!(f, "PostgreSQL: {context}: {}", crate::secret::scrub(message))
            }
            Error::Io { path, source } => write!(f, "{}: {source}", path.display()),
            Error::DataFusion { context, source } => write!(f, "{context}: {source}"),
            Error::Input { file, line, column: Some(c), message } => {
                write!(f, "{}:{line}: column `{c}`: {message}", file.display())
            }
            // Line 0: about the whole file.
            Error::Input { file, line: 0, column: None, message } => write!(f, "{}: {message}", file.display()),
            Error::Input { file, line, column: None, message } => {
                write!(f, "{}:{line}: {message}", file.display())
            }
            Error::Ledger(table) => write!(f, "row counts do not reconcile:\n{table}"),
            Error::Validation { name, expected, got } => {
                write!(f, "validation `{name}` failed: expected {expected}, got {got}")
            }
            Error::Other(m) => f.write_str(m),
            Error::Interrupted(m) => write!(f, "interrupted: {m}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::MySql { source, .. } => Some(source),
            Error::Io { source, .. } => Some(source),
            Error::DataFusion { source, .. } => Some(source.as_ref()),
            _ => None,
        }
    }
}

impl From<ValueError> for Error {
    fn from(v: ValueError) -> Self {
        Error::Value(Box::new(v))
    }
}
