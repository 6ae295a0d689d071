//! Every way an SDK authenticates a submission (protocol doc A2, F).
//!
//! * `X-Sentry-Auth: Sentry sentry_key=…, sentry_version=7, sentry_client=…` (Python, Rust);
//!   the same value may come as `Authorization: Sentry …`.
//! * `Authorization: Basic base64(public_key:secret)` and `Authorization: Bearer <public key>`.
//! * The query string `?sentry_key=…&sentry_version=7&sentry_client=…` (both JavaScript SDKs,
//!   to avoid CORS preflights).
//! * The envelope header `dsn` (see [`AuthParams::from_dsn`]).
//!
//! The caller matches header names case-insensitively and hands the values here. When several
//! forms are present they must name the same key ([`resolve_auth`]); Relay is stricter and
//! rejects any second form, but the envelope documentation only asks for agreement, and
//! agreeing duplicates are harmless.

use base64::Engine as _;

use crate::dsn::Dsn;

/// The newest protocol version this server understands (Relay's `PROTOCOL_VERSION`).
pub const PROTOCOL_VERSION: u32 = 7;

/// Why authentication information was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// The header value does not start with the expected scheme word.
    #[error("authorization header does not use the {0} scheme")]
    WrongScheme(&'static str),
    /// No `sentry_key`.
    #[error("missing sentry_key")]
    MissingKey,
    /// The key is not 32 hex characters.
    #[error("malformed public key {0:?}: expected 32 hex characters")]
    MalformedKey(String),
    /// `sentry_version` is not a number.
    #[error("invalid sentry_version {0:?}")]
    InvalidVersion(String),
    /// `sentry_version` is newer than [`PROTOCOL_VERSION`].
    #[error("unsupported protocol version {0} (newest supported is 7)")]
    UnsupportedVersion(u32),
    /// The Basic credentials are not base64 of UTF-8 text.
    #[error("invalid basic authorization: {0}")]
    InvalidBasic(&'static str),
    /// Two sources name different keys.
    #[error("conflicting authentication: different keys in different places")]
    Conflicting,
}

/// What one authentication source says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthParams {
    /// The public key, 32 lowercase hex characters.
    pub public_key: String,
    /// `sentry_version`, when given.
    pub version: Option<u32>,
    /// `sentry_client` (`name/version`), when given.
    pub client: Option<String>,
}

impl AuthParams {
    /// Validates and normalises a key; version and client are filled in by the caller.
    fn with_key(key: &str) -> Result<Self, AuthError> {
        Ok(Self {
            public_key: normalize_key(key)?,
            version: None,
            client: None,
        })
    }

    /// The key of a DSN sent in an envelope header.
    pub fn from_dsn(dsn: &Dsn) -> Result<Self, AuthError> {
        Self::with_key(&dsn.public_key)
    }

    fn set_version(&mut self, raw: &str) -> Result<(), AuthError> {
        // Old SDKs sent `7.0`; the integer part is what counts.
        let digits = raw.split('.').next().unwrap_or_default();
        let version: u32 = digits
            .parse()
            .map_err(|_| AuthError::InvalidVersion(raw.to_owned()))?;
        if version > PROTOCOL_VERSION {
            return Err(AuthError::UnsupportedVersion(version));
        }
        self.version = Some(version);
        Ok(())
    }
}

/// Checks the 32-hex shape and lower-cases it, so lookups need only one form.
fn normalize_key(key: &str) -> Result<String, AuthError> {
    let key = key.trim();
    if key.is_empty() {
        return Err(AuthError::MissingKey);
    }
    if key.len() != 32 || !key.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(AuthError::MalformedKey(key.chars().take(64).collect()));
    }
    Ok(key.to_ascii_lowercase())
}

/// Strips a case-insensitive scheme word followed by whitespace.
fn strip_scheme<'a>(value: &'a str, scheme: &'static str) -> Result<&'a str, AuthError> {
    let value = value.trim_start();
    let (word, rest) = value
        .split_once(|c: char| c.is_ascii_whitespace())
        .ok_or(AuthError::WrongScheme(scheme))?;
    if word.eq_ignore_ascii_case(scheme) {
        Ok(rest.trim())
    } else {
        Err(AuthError::WrongScheme(scheme))
    }
}

/// Parses an `X-Sentry-Auth` or `Authorization: Sentry …` value.
///
/// Pairs are comma-separated `key=value` with optional spaces and optional double quotes around
/// values. The `sentry_` prefix of keys is optional, as in Sentry's own parser.
/// `sentry_timestamp` and `sentry_secret` are accepted and ignored.
pub fn parse_sentry_auth(value: &str) -> Result<AuthParams, AuthError> {
    let pairs = strip_scheme(value, "Sentry")?;
    let mut key = None;
    let mut version = None;
    let mut client = None;
    for pair in pairs.split(',') {
        let Some((name, raw)) = pair.split_once('=') else {
            continue;
        };
        let name = name.trim();
        let name = name.strip_prefix("sentry_").unwrap_or(name);
        let raw = raw.trim();
        let raw = raw
            .strip_prefix('"')
            .and_then(|r| r.strip_suffix('"'))
            .unwrap_or(raw);
        match name {
            "key" => key = Some(raw),
            "version" => version = Some(raw),
            "client" => client = Some(raw),
            _ => {}
        }
    }
    let mut params = AuthParams::with_key(key.ok_or(AuthError::MissingKey)?)?;
    if let Some(version) = version {
        params.set_version(version)?;
    }
    params.client = client.filter(|c| !c.is_empty()).map(str::to_owned);
    Ok(params)
}

/// Parses `Authorization: Basic base64(public_key:secret)`; the secret may be empty or absent.
pub fn parse_basic_auth(value: &str) -> Result<AuthParams, AuthError> {
    let encoded = strip_scheme(value, "Basic")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(encoded))
        .map_err(|_| AuthError::InvalidBasic("not base64"))?;
    let text = std::str::from_utf8(&decoded).map_err(|_| AuthError::InvalidBasic("not UTF-8"))?;
    let key = text.split_once(':').map_or(text, |(key, _secret)| key);
    AuthParams::with_key(key)
}

/// Parses `Authorization: Bearer <public key>`.
pub fn parse_bearer(value: &str) -> Result<AuthParams, AuthError> {
    AuthParams::with_key(strip_scheme(value, "Bearer")?)
}

/// Reads `sentry_key`, `sentry_version` and `sentry_client` from a URL query string
/// (without the leading `?`; percent-decoding applied).
///
/// Returns `None` when no parameter starts with `sentry_`, i.e. the query carries no auth.
pub fn parse_query_auth(query: &str) -> Option<Result<AuthParams, AuthError>> {
    let query = query.strip_prefix('?').unwrap_or(query);
    let mut any = false;
    let mut key = None;
    let mut version = None;
    let mut client = None;
    for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
        let Some(name) = name.strip_prefix("sentry_") else {
            continue;
        };
        any = true;
        match name {
            "key" => key = Some(value),
            "version" => version = Some(value),
            "client" => client = Some(value),
            _ => {}
        }
    }
    if !any {
        return None;
    }
    Some((|| {
        let mut params = AuthParams::with_key(key.as_deref().ok_or(AuthError::MissingKey)?)?;
        if let Some(version) = version {
            params.set_version(&version)?;
        }
        params.client = client.filter(|c| !c.is_empty()).map(|c| c.into_owned());
        Ok(params)
    })())
}

/// Combines the sources found on one request.
///
/// No source → `Ok(None)` (the caller answers 403, protocol doc E). Sources that all name the
/// same key → the first one. Different keys → [`AuthError::Conflicting`].
pub fn resolve_auth(sources: &[AuthParams]) -> Result<Option<AuthParams>, AuthError> {
    let Some(first) = sources.first() else {
        return Ok(None);
    };
    if sources.iter().any(|s| s.public_key != first.public_key) {
        return Err(AuthError::Conflicting);
    }
    Ok(Some(first.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "e12d836b15bb49d7bbf99e64295d995b";

    #[test]
    fn python_header_a2() {
        let params = parse_sentry_auth(&format!(
            "Sentry sentry_key={KEY}, sentry_version=7, sentry_client=sentry.python/2.75.0"
        ))
        .expect("python auth");
        assert_eq!(params.public_key, KEY);
        assert_eq!(params.version, Some(7));
        assert_eq!(params.client.as_deref(), Some("sentry.python/2.75.0"));
    }

    #[test]
    fn rust_header_with_timestamp_and_odd_spacing_f() {
        let value = format!(
            "sentry  sentry_key = \"{}\",sentry_version=7,  sentry_timestamp=1700000000, \
             sentry_client=sentry.rust/0.49.5, sentry_secret=",
            KEY.to_uppercase()
        );
        let params = parse_sentry_auth(&value).expect("rust auth");
        assert_eq!(params.public_key, KEY, "uppercase keys are lower-cased");
        assert_eq!(params.client.as_deref(), Some("sentry.rust/0.49.5"));
    }

    #[test]
    fn sentry_header_errors_a2() {
        assert_eq!(
            parse_sentry_auth(&format!("Bearer {KEY}")),
            Err(AuthError::WrongScheme("Sentry"))
        );
        assert_eq!(
            parse_sentry_auth("Sentry sentry_version=7"),
            Err(AuthError::MissingKey)
        );
        assert!(matches!(
            parse_sentry_auth("Sentry sentry_key=public"),
            Err(AuthError::MalformedKey(_))
        ));
        assert_eq!(
            parse_sentry_auth(&format!("Sentry sentry_key={KEY}, sentry_version=8")),
            Err(AuthError::UnsupportedVersion(8))
        );
        assert!(matches!(
            parse_sentry_auth(&format!("Sentry sentry_key={KEY}, sentry_version=x")),
            Err(AuthError::InvalidVersion(_))
        ));
        let old = parse_sentry_auth(&format!("Sentry sentry_key={KEY}, sentry_version=7.0"))
            .expect("7.0 is version 7");
        assert_eq!(old.version, Some(7));
        assert_eq!(
            parse_sentry_auth("Sentry"),
            Err(AuthError::WrongScheme("Sentry"))
        );
    }

    #[test]
    fn basic_auth_with_and_without_secret_a2() {
        let with_secret = base64::engine::general_purpose::STANDARD.encode(format!("{KEY}:s3cret"));
        assert_eq!(
            parse_basic_auth(&format!("Basic {with_secret}"))
                .expect("basic")
                .public_key,
            KEY
        );
        let empty_secret = base64::engine::general_purpose::STANDARD.encode(format!("{KEY}:"));
        assert!(parse_basic_auth(&format!("basic {empty_secret}")).is_ok());
        let no_colon = base64::engine::general_purpose::STANDARD_NO_PAD.encode(KEY);
        assert!(parse_basic_auth(&format!("BASIC {no_colon}")).is_ok());
        assert_eq!(
            parse_basic_auth("Basic !!!"),
            Err(AuthError::InvalidBasic("not base64"))
        );
        assert_eq!(
            parse_basic_auth("Bearer x"),
            Err(AuthError::WrongScheme("Basic"))
        );
    }

    #[test]
    fn bearer_a2() {
        assert_eq!(
            parse_bearer(&format!("Bearer {KEY}"))
                .expect("bearer")
                .public_key,
            KEY
        );
        assert!(matches!(
            parse_bearer("Bearer nope"),
            Err(AuthError::MalformedKey(_))
        ));
    }

    #[test]
    fn javascript_query_string_a1_f() {
        let query = format!(
            "sentry_version=7&sentry_key={KEY}&sentry_client=sentry.javascript.node%2F11.12.0"
        );
        let params = parse_query_auth(&query).expect("has auth").expect("valid");
        assert_eq!(params.public_key, KEY);
        assert_eq!(params.version, Some(7));
        assert_eq!(
            params.client.as_deref(),
            Some("sentry.javascript.node/11.12.0")
        );
        assert!(parse_query_auth("foo=bar").is_none());
        assert!(parse_query_auth("").is_none());
        assert_eq!(
            parse_query_auth("?sentry_version=7"),
            Some(Err(AuthError::MissingKey))
        );
    }

    #[test]
    fn dsn_header_auth_a2() {
        let dsn = Dsn::parse(&format!("https://{KEY}@o1.ingest.example.com/42")).expect("dsn");
        assert_eq!(AuthParams::from_dsn(&dsn).expect("key").public_key, KEY);
    }

    #[test]
    fn resolve_agreeing_and_conflicting_sources_e() {
        assert_eq!(resolve_auth(&[]), Ok(None));
        let a = AuthParams::with_key(KEY).expect("key");
        let mut b = a.clone();
        b.version = Some(7);
        assert_eq!(resolve_auth(&[a.clone(), b]), Ok(Some(a.clone())));
        let other = AuthParams::with_key(&"a".repeat(32)).expect("key");
        assert_eq!(resolve_auth(&[a, other]), Err(AuthError::Conflicting));
    }
}
