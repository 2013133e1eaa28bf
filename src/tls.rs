//! TLS for both servers, asked for in the URL the way each server's own clients ask:
//!
//! * PostgreSQL: `?sslmode=disable|prefer|require|verify-ca|verify-full` and
//!   `sslrootcert=/path/ca.pem` (libpq's words: `require` encrypts without checking the
//!   certificate, unless a root certificate is given; `verify-ca` checks the chain;
//!   `verify-full` also the host name).
//! * MySQL: `?ssl-mode=DISABLED|PREFERRED|REQUIRED|VERIFY_CA|VERIFY_IDENTITY` and
//!   `ssl-ca=/path/ca.pem` (the mysql client's words, same meanings).
//!
//! Both go through the system's TLS library (OpenSSL, by `native-tls`). These parameters
//! are taken out of the URL before the drivers see it (tokio-postgres knows only
//! `disable`/`prefer`/`require`, mysql_async none of these).

use std::path::PathBuf;

use crate::error::{Error, Result};

/// How a connection uses TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Plain TCP.
    #[default]
    Disable,
    /// TLS when the server offers it, unverified (PostgreSQL's `prefer`).
    Prefer,
    /// TLS, certificate not checked (checked against the root certificate when one is given).
    Require,
    /// TLS, the certificate chain checked against the root certificate.
    VerifyCa,
    /// TLS, the chain and the host name checked.
    VerifyFull,
}

/// The TLS part of a URL.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tls {
    /// The mode.
    pub mode: Mode,
    /// The CA certificate (PEM) to trust.
    pub root_cert: Option<PathBuf>,
}

/// Splits a URL into the URL without its TLS parameters and those parameters, for the
/// parameter names `mode_key` and `ca_key`; `mode` maps a value to a [`Mode`].
fn split(url: &str, mode_key: &str, ca_key: &str, mode: impl Fn(&str) -> Option<Mode>) -> Result<(String, Tls)> {
    let Some((base, query)) = url.split_once('?') else { return Ok((url.to_string(), Tls::default())) };
    let mut tls = Tls::default();
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if k == mode_key {
            tls.mode = mode(v).ok_or_else(|| {
                Error::other(format!("{} in {}: `{v}` is not a TLS mode", mode_key, crate::secret::redact_url(url)))
            })?;
        } else if k == ca_key {
            tls.root_cert = Some(PathBuf::from(percent_decode(v)));
        } else {
            kept.push(pair);
        }
    }
    let url = if kept.is_empty() { base.to_string() } else { format!("{base}?{}", kept.join("&")) };
    Ok((url, tls))
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Some(v) = std::str::from_utf8(&b[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A PostgreSQL URL's TLS parameters (`sslmode`, `sslrootcert`), and the URL without them.
pub fn postgres(url: &str) -> Result<(String, Tls)> {
    split(url, "sslmode", "sslrootcert", |v| {
        Some(match v {
            "disable" => Mode::Disable,
            "allow" | "prefer" => Mode::Prefer,
            "require" => Mode::Require,
            "verify-ca" => Mode::VerifyCa,
            "verify-full" => Mode::VerifyFull,
            _ => return None,
        })
    })
}

/// A MySQL URL's TLS parameters (`ssl-mode`, `ssl-ca`), and the URL without them.
pub fn mysql(url: &str) -> Result<(String, Tls)> {
    split(url, "ssl-mode", "ssl-ca", |v| {
        Some(match v.to_ascii_uppercase().as_str() {
            "DISABLED" => Mode::Disable,
            "PREFERRED" => Mode::Prefer,
            "REQUIRED" => Mode::Require,
            "VERIFY_CA" => Mode::VerifyCa,
            "VERIFY_IDENTITY" => Mode::VerifyFull,
            _ => return None,
        })
    })
}

impl Tls {
    /// The root certificate, read.
    fn root(&self) -> Result<Option<native_tls::Certificate>> {
        let Some(path) = &self.root_cert else { return Ok(None) };
        let pem = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        native_tls::Certificate::from_pem(&pem)
            .map(Some)
            .map_err(|e| Error::other(format!("{}: not a PEM certificate: {e}", path.display())))
    }

    /// The connector for PostgreSQL (None: plain TCP).
    pub fn postgres_connector(&self) -> Result<Option<postgres_native_tls::MakeTlsConnector>> {
        if self.mode == Mode::Disable {
            return Ok(None);
        }
        let mut b = native_tls::TlsConnector::builder();
        let root = self.root()?;
        if let Some(c) = &root {
            b.add_root_certificate(c.clone());
        }
        match self.mode {
            Mode::Prefer | Mode::Require if root.is_none() => {
                b.danger_accept_invalid_certs(true).danger_accept_invalid_hostnames(true);
            }
            Mode::Prefer | Mode::Require | Mode::VerifyCa => {
                b.danger_accept_invalid_hostnames(true);
            }
            _ => {}
        }
        let c = b.build().map_err(|e| Error::other(format!("setting up TLS: {e}")))?;
        Ok(Some(postgres_native_tls::MakeTlsConnector::new(c)))
    }

    /// The TLS options for MySQL (None: plain TCP).
    pub fn mysql_opts(&self) -> Option<mysql_async::SslOpts> {
        let mut o = mysql_async::SslOpts::default();
        if let Some(p) = &self.root_cert {
            o = o.with_root_certs(vec![p.clone().into()]);
        }
        match self.mode {
            Mode::Disable | Mode::Prefer => return None,
            Mode::Require if self.root_cert.is_none() => {
                o = o.with_danger_accept_invalid_certs(true).with_danger_skip_domain_validation(true)
            }
            Mode::Require | Mode::VerifyCa => o = o.with_danger_skip_domain_validation(true),
            Mode::VerifyFull => {}
        }
        Some(o)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_taken_out_of_the_url() {
        let (u, t) =
            postgres("postgres://u:p@h:5432/db?sslmode=verify-full&sslrootcert=/tmp/ca%20x.pem&application_name=c")
                .unwrap();
        assert_eq!(u, "postgres://u:p@h:5432/db?application_name=c");
        assert_eq!(t, Tls { mode: Mode::VerifyFull, root_cert: Some("/tmp/ca x.pem".into()) });
        let (u, t) = mysql("mysql://u@h/db?ssl-mode=REQUIRED").unwrap();
        assert_eq!((u.as_str(), t.mode), ("mysql://u@h/db", Mode::Require));
        assert_eq!(mysql("mysql://u@h/db").unwrap().1, Tls::default());
        let e = postgres("postgres://u:secret@h/db?sslmode=sometimes").unwrap_err().to_string();
        assert!(e.contains("`sometimes` is not a TLS mode") && !e.contains("secret"), "{e}");
    }
}
