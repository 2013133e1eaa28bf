//! Opening a session on the target: TLS as the URL asks, bounded retries of a failed
//! connection, UTF-8 and UTC for the session, and a connection task that logs its end
//! without secrets.

use tokio_postgres::{Client, NoTls};

use crate::error::{Error, Result};

tokio::task_local! {
    /// The `application_name` of the sessions opened inside a run (`converge/<migrationId>`),
    /// so `pg_stat_activity` says whose they are; `converge` outside one.
    pub static APPLICATION_NAME: String;
}

/// Connects to the target: TLS as the URL's `sslmode`/`sslrootcert` ask (see [`crate::tls`]).
/// A connection that fails is tried three times with backoff; a refusal by the server
/// (no such database, authentication failed) is final at once.
pub async fn connect(url: &str) -> Result<Client> {
    let (plain, tls) = crate::tls::postgres(url)?;
    let mut config: tokio_postgres::Config = plain.parse().map_err(|e: tokio_postgres::Error| {
        Error::other(format!("the PostgreSQL URL {} is not valid: {e}", crate::secret::redact_url(url)))
    })?;
    let connector = tls.postgres_connector()?;
    if config.get_application_name().is_none() {
        let name = APPLICATION_NAME.try_with(|n| n.clone()).unwrap_or_else(|_| "converge".to_string());
        config.application_name(&name);
    }
    config.ssl_mode(match tls.mode {
        crate::tls::Mode::Disable => tokio_postgres::config::SslMode::Disable,
        crate::tls::Mode::Prefer => tokio_postgres::config::SslMode::Prefer,
        _ => tokio_postgres::config::SslMode::Require,
    });
    let mut last = None;
    for attempt in 0..3u32 {
        let connected = match &connector {
            None => config.connect(NoTls).await.map(|(client, conn)| {
                tokio::spawn(watch(conn));
                client
            }),
            Some(tls) => config.connect(tls.clone()).await.map(|(client, conn)| {
                tokio::spawn(watch(conn));
                client
            }),
        };
        match connected {
            Ok(client) => {
                client
                    .batch_execute("SET client_encoding = 'UTF8'; SET TIME ZONE 'UTC'")
                    .await
                    .map_err(|e| Error::postgres("preparing the session", &e))?;
                return Ok(client);
            }
            // The server answered and refused (no such database, authentication failed):
            // asking again would get the same answer.
            Err(e) if e.as_db_error().is_some() => {
                return Err(Error::postgres(format!("connecting to {}", crate::secret::redact_url(url)), &e));
            }
            Err(e) => {
                last = Some(e);
                if attempt < 2 {
                    tokio::time::sleep(std::time::Duration::from_millis(200 * 2u64.pow(attempt))).await;
                }
            }
        }
    }
    Err(Error::postgres(
        format!("connecting to {} (3 attempts)", crate::secret::redact_url(url)),
        &last.expect("tried"),
    ))
}

/// Drives a connection until it ends; a failure is logged without secrets.
async fn watch<F: std::future::Future<Output = std::result::Result<(), tokio_postgres::Error>>>(conn: F) {
    if let Err(e) = conn.await {
        tracing::warn!("PostgreSQL connection ended: {}", crate::secret::scrub(&e.to_string()));
    }
}
