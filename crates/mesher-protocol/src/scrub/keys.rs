//! Which keys hold secrets: Sentry's default data scrubber, plus a project's own fields.

/// Key fragments whose values Sentry's default data scrubber filters (lowercase, matched
/// anywhere in a key, case-insensitively). Relay's `@password` key pattern and Sentry's
/// `DEFAULT_SCRUBBED_FIELDS`, plus what the Python SDK's denylist adds for cookies and CSRF
/// tokens: `Authorization`, `Cookie`, `Set-Cookie`, `X-Api-Key`, `sessionid`, `PHPSESSID`,
/// `csrftoken`, …
pub const DEFAULT_SENSITIVE_FRAGMENTS: [&str; 18] = [
    "password",
    "passwd",
    "secret",
    "api_key",
    "api-key",
    "apikey",
    "auth",
    "credentials",
    "mysql_pwd",
    "privatekey",
    "private_key",
    "private-key",
    "token",
    "session",
    "sessid",
    "cookie",
    "csrf",
    "xsrf",
];

/// Whole keys (lowercase) filtered too: too short or too common to match inside other keys.
/// Relay's one-time codes and the session cookie names of its `SENSITIVE_COOKIES`.
pub const DEFAULT_SENSITIVE_KEYS: [&str; 8] = [
    "otp",
    "two_factor",
    "two-factor",
    "sudo",
    "su",
    "sentrysid",
    "symfony",
    "_vercel_jwt",
];

/// What scrubbing does with the value of a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyClass {
    /// A safe field: the value and everything under it stay as sent.
    Safe,
    /// The value is replaced.
    Sensitive,
    /// The value is scrubbed like any other (card numbers, nested keys).
    Plain,
}

/// Keys longer than this are lowered into a heap buffer; shorter ones on the stack.
const STACK_KEY: usize = 64;

/// Runs `f` on the ASCII-lowercase form of `key` without allocating for ordinary keys.
/// Lowering only ASCII bytes keeps the bytes valid UTF-8.
pub(crate) fn with_lowercase<R>(key: &str, f: impl FnOnce(&str) -> R) -> R {
    if key.len() > STACK_KEY {
        return f(&key.to_ascii_lowercase());
    }
    let mut buf = [0u8; STACK_KEY];
    let lower = &mut buf[..key.len()];
    lower.copy_from_slice(key.as_bytes());
    lower.make_ascii_lowercase();
    match std::str::from_utf8(lower) {
        Ok(lower) => f(lower),
        // Unreachable: ASCII lowering of valid UTF-8 is valid UTF-8. Fall back rather than
        // panic on the ingest path.
        Err(_) => f(&key.to_ascii_lowercase()),
    }
}

/// Classifies a lowercase key: safe fields first (they exempt a key the defaults would
/// catch, as Sentry's "safe fields" do), then the defaults and the project's sensitive fields.
pub(crate) fn classify(lower: &str, sensitive: &[String], safe: &[String]) -> KeyClass {
    if safe.iter().any(|s| s == lower) {
        KeyClass::Safe
    } else if DEFAULT_SENSITIVE_FRAGMENTS
        .iter()
        .any(|f| contains(lower, f))
        || DEFAULT_SENSITIVE_KEYS.contains(&lower)
        || sensitive.iter().any(|f| contains(lower, f))
    {
        KeyClass::Sensitive
    } else {
        KeyClass::Plain
    }
}

/// Whether `needle` occurs in `haystack`. Keys are short: comparing windows beats setting up
/// `str::contains`'s two-way searcher once per fragment and key.
fn contains(haystack: &str, needle: &str) -> bool {
    let (h, n) = (haystack.as_bytes(), needle.as_bytes());
    match n.first() {
        None => true,
        Some(&first) => h.windows(n.len()).any(|w| w[0] == first && w == n),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fragments_match_anywhere() {
        assert!(contains("x-api-key", "api-key"));
        assert!(contains("password", "password"));
        assert!(!contains("pass", "password"));
        assert!(!contains("", "a"));
        assert!(contains("ab", ""));
    }
}
