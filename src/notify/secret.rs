//! Receiver URLs and header values, which are credentials: an incoming-webhook URL is all
//! it takes to post to a Slack channel. They print redacted everywhere (Debug, Display,
//! errors), and only the request that sends them sees them whole.

use std::fmt;

use url::Url;

/// A receiver's URL. Shown as `scheme://host[:port]/…`: enough to tell receivers apart in
/// a log line, without the path, query or user info that carry the token.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretUrl(Url);

impl SecretUrl {
    /// Parses an `http` or `https` URL with a host; the error never contains the URL.
    pub fn parse(value: &str) -> Result<SecretUrl, String> {
        let url = Url::parse(value.trim()).map_err(|e| {
            format!(
                "is not a URL ({e}); expected https://host/path, e.g. a Slack incoming-webhook URL"
            )
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!(
                "has scheme {:?}; expected http or https",
                url.scheme()
            ));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err("has no host; expected https://host/path".to_string());
        }
        Ok(SecretUrl(url))
    }

    /// The URL itself, for the one request that sends to it.
    pub fn expose(&self) -> &Url {
        &self.0
    }

    /// `scheme://host[:port]/…`.
    pub fn redacted(&self) -> String {
        let host = self.0.host_str().unwrap_or("");
        match self.0.port() {
            Some(port) => format!("{}://{host}:{port}/…", self.0.scheme()),
            None => format!("{}://{host}/…", self.0.scheme()),
        }
    }
}

impl fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl fmt::Display for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// A header value (e.g. `Authorization: Bearer …`), shown as `<redacted>`.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretValue(String);

impl SecretValue {
    pub fn new(value: impl Into<String>) -> SecretValue {
        SecretValue(value.into())
    }

    /// The value itself, for the one request that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Display for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// `text` with every `http://…` or `https://…` cut to its scheme and host, for messages
/// of other libraries (a YAML parser quoting a line) that may contain a receiver URL.
pub fn redact_urls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = find_scheme(rest) {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '`' | ')' | ','))
            .unwrap_or(tail.len());
        let candidate = &tail[..end];
        match SecretUrl::parse(candidate) {
            Ok(url) => out.push_str(&url.redacted()),
            Err(_) => out.push_str("<redacted URL>"),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

fn find_scheme(s: &str) -> Option<usize> {
    let lower = s.to_ascii_lowercase();
    match (lower.find("http://"), lower.find("https://")) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOOK: &str = "https://hooks.slack.com/services/T000/B000/XXXXSECRET";

    #[test]
    fn a_url_prints_only_its_scheme_and_host() {
        let u = SecretUrl::parse(HOOK).unwrap();
        assert_eq!(u.to_string(), "https://hooks.slack.com/…");
        assert_eq!(format!("{u:?}"), "https://hooks.slack.com/…");
        let with_port = SecretUrl::parse("http://user:pw@10.0.0.1:8080/x?token=1").unwrap();
        assert_eq!(with_port.to_string(), "http://10.0.0.1:8080/…");
        assert_eq!(u.expose().as_str(), HOOK);
    }

    #[test]
    fn a_bad_url_is_refused_without_repeating_it() {
        for bad in [
            "hooks.slack.com/services/SECRET",
            "ftp://h/SECRET",
            "https://?SECRET",
        ] {
            let e = SecretUrl::parse(bad).unwrap_err();
            assert!(!e.contains("SECRET"), "{e}");
        }
    }

    #[test]
    fn a_header_value_never_prints() {
        let v = SecretValue::new("Bearer abc");
        assert_eq!(format!("{v} {v:?}"), "<redacted> <redacted>");
    }

    #[test]
    fn urls_inside_other_messages_are_redacted() {
        let m = format!("line 3: invalid value \"{HOOK}\", expected x; see http://a.b:1/c");
        assert_eq!(
            redact_urls(&m),
            "line 3: invalid value \"https://hooks.slack.com/…\", expected x; see http://a.b:1/…"
        );
        assert_eq!(redact_urls("HTTPS://"), "<redacted URL>");
    }
}
