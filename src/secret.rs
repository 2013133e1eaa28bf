//! Keeping secrets out of everything we print or write: URL redaction.

/// Replaces the password of a `scheme://user:password@host/…` URL with `***`.
/// Anything that is not such a URL comes back unchanged.
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else { return url.to_string() };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let Some(at) = authority.rfind('@') else { return url.to_string() };
    let userinfo = &authority[..at];
    let Some(colon) = userinfo.find(':') else { return url.to_string() };
    format!("{}{}:***{}", &url[..scheme_end + 3], &userinfo[..colon], &rest[at..])
}

/// Redacts every URL-looking word of a message (server errors sometimes echo them).
pub fn scrub(message: &str) -> String {
    if !message.contains("://") {
        return message.to_string();
    }
    message
        .split(' ')
        .map(|w| if w.contains("://") { redact_url(w) } else { w.to_string() })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_password_only() {
        assert_eq!(redact_url("mysql://root:s3cr%40t@db:3306/app"), "mysql://root:***@db:3306/app");
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact_url("fixtures/demo.sql"), "fixtures/demo.sql");
        assert_eq!(scrub("cannot reach mysql://a:b@h/x now"), "cannot reach mysql://a:***@h/x now");
    }
}
