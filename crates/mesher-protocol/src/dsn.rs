//! DSNs: `{scheme}://{public_key}[:{secret}]@{host}[:{port}]{path_prefix}/{project_id}`.
//!
//! Protocol doc A1: every segment is a string, the secret is optional and deprecated, and a path
//! prefix is kept (a server mounted under `/sentry` hands out `.../sentry/7`).

use std::fmt;
use std::str::FromStr;

use url::Url;

/// Why a string is not a DSN.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DsnError {
    /// Not a URL at all.
    #[error("invalid DSN URL: {0}")]
    InvalidUrl(#[from] url::ParseError),
    /// Only `http` and `https` make sense for an ingestion endpoint.
    #[error("unsupported DSN scheme {0:?} (expected http or https)")]
    UnsupportedScheme(String),
    /// No `public_key@` part.
    #[error("DSN has no public key")]
    MissingPublicKey,
    /// No host.
    #[error("DSN has no host")]
    MissingHost,
    /// The path does not end in a project id.
    #[error("DSN has no project id")]
    MissingProjectId,
}

/// A parsed DSN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dsn {
    /// `http` or `https`.
    pub scheme: String,
    /// The public key (the URL user name).
    pub public_key: String,
    /// The deprecated secret key, if a non-empty one was given.
    pub secret_key: Option<String>,
    /// Host name or IP literal (IPv6 in brackets).
    pub host: String,
    /// An explicit, non-default port.
    pub port: Option<u16>,
    /// Path before the project id, without a trailing slash; `""` when there is none.
    pub path_prefix: String,
    /// The project id, kept as a string as the protocol says.
    pub project_id: String,
}

impl Dsn {
    /// Parses a DSN string.
    pub fn parse(s: &str) -> Result<Self, DsnError> {
        let url = Url::parse(s.trim())?;
        let scheme = url.scheme();
        if scheme != "http" && scheme != "https" {
            return Err(DsnError::UnsupportedScheme(scheme.to_owned()));
        }
        let public_key = percent_decode(url.username());
        if public_key.is_empty() {
            return Err(DsnError::MissingPublicKey);
        }
        let secret_key = url
            .password()
            .map(percent_decode)
            .filter(|secret| !secret.is_empty());
        let host = url.host_str().ok_or(DsnError::MissingHost)?.to_owned();
        // Tolerate a trailing slash after the project id (`https://k@h/1/`).
        let path = url.path().trim_end_matches('/');
        let (prefix, project_id) = path.rsplit_once('/').ok_or(DsnError::MissingProjectId)?;
        if project_id.is_empty() {
            return Err(DsnError::MissingProjectId);
        }
        Ok(Self {
            scheme: scheme.to_owned(),
            public_key,
            secret_key,
            host,
            port: url.port(),
            path_prefix: prefix.to_owned(),
            project_id: project_id.to_owned(),
        })
    }
}

fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("k={s}").as_bytes())
        .next()
        .map(|(_, value)| value.into_owned())
        .unwrap_or_default()
}

impl FromStr for Dsn {
    type Err = DsnError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// Rebuilds the DSN without the secret, which SDKs no longer need.
impl fmt::Display for Dsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}@{}", self.scheme, self.public_key, self.host)?;
        if let Some(port) = self.port {
            write!(f, ":{port}")?;
        }
        write!(f, "{}/{}", self.path_prefix, self.project_id)
    }
}

/// The DSN a project key is handed out as, given the server's public URL.
///
/// The public URL's path becomes the DSN path prefix, so a server published at
/// `http://h:8000/sentry` gives `http://KEY@h:8000/sentry/7`; SDKs then post to
/// `http://h:8000/sentry/api/7/envelope/` (protocol doc A1).
pub fn build_dsn(public_url: &Url, public_key: &str, project_id: i64) -> String {
    let mut dsn = format!(
        "{}://{}@{}",
        public_url.scheme(),
        public_key,
        public_url.host_str().unwrap_or("localhost")
    );
    if let Some(port) = public_url.port() {
        dsn.push(':');
        dsn.push_str(&port.to_string());
    }
    dsn.push_str(public_url.path().trim_end_matches('/'));
    dsn.push('/');
    dsn.push_str(&project_id.to_string());
    dsn
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_plain_dsn_a1() {
        let dsn = Dsn::parse("https://public@sentry.example.com/1").expect("dsn");
        assert_eq!(dsn.public_key, "public");
        assert_eq!(dsn.secret_key, None);
        assert_eq!(dsn.host, "sentry.example.com");
        assert_eq!(dsn.port, None);
        assert_eq!(dsn.path_prefix, "");
        assert_eq!(dsn.project_id, "1");
        assert_eq!(dsn.to_string(), "https://public@sentry.example.com/1");
    }

    #[test]
    fn parses_secret_port_and_prefix_a1() {
        let dsn =
            Dsn::parse("http://e12d836b15bb49d7bbf99e64295d995b:secret@127.0.0.1:8000/sentry/x/42")
                .expect("dsn");
        assert_eq!(dsn.secret_key.as_deref(), Some("secret"));
        assert_eq!(dsn.port, Some(8000));
        assert_eq!(dsn.path_prefix, "/sentry/x");
        assert_eq!(dsn.project_id, "42");
        assert_eq!(
            dsn.to_string(),
            "http://e12d836b15bb49d7bbf99e64295d995b@127.0.0.1:8000/sentry/x/42"
        );
    }

    #[test]
    fn empty_secret_and_trailing_slash_are_tolerated() {
        let dsn =
            Dsn::parse("https://e12d836b15bb49d7bbf99e64295d995b:@sentry.io/42/").expect("dsn");
        assert_eq!(dsn.secret_key, None);
        assert_eq!(dsn.project_id, "42");
        let v6 = Dsn::parse("http://k@[::1]:9000/3").expect("ipv6");
        assert_eq!(v6.to_string(), "http://k@[::1]:9000/3");
    }

    #[test]
    fn rejects_incomplete_dsns() {
        assert!(matches!(
            Dsn::parse("not a url"),
            Err(DsnError::InvalidUrl(_))
        ));
        assert_eq!(
            Dsn::parse("ftp://k@h/1"),
            Err(DsnError::UnsupportedScheme("ftp".into()))
        );
        assert_eq!(Dsn::parse("https://h/1"), Err(DsnError::MissingPublicKey));
        assert_eq!(Dsn::parse("https://k@h/"), Err(DsnError::MissingProjectId));
        assert_eq!(Dsn::parse("https://k@h"), Err(DsnError::MissingProjectId));
    }

    #[test]
    fn build_dsn_keeps_public_url_prefix_a1() {
        let url = Url::parse("http://h:8000/sentry").expect("url");
        assert_eq!(build_dsn(&url, "KEY", 7), "http://KEY@h:8000/sentry/7");
        let url = Url::parse("https://errors.example.com/").expect("url");
        assert_eq!(
            build_dsn(&url, "KEY", 7),
            "https://KEY@errors.example.com/7"
        );
        let built = build_dsn(&Url::parse("http://h:8000/sentry/").expect("url"), "k", 9);
        let parsed = Dsn::parse(&built).expect("round trip");
        assert_eq!(parsed.path_prefix, "/sentry");
        assert_eq!(parsed.project_id, "9");
    }
}
