//! Which backend a database URL selects.

use std::fmt;
use std::path::{Path, PathBuf};

use thiserror::Error;

/// A parsed `database_url`: a SQLite file or a PostgreSQL connection string.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// An embedded SQLite database at this path (created on first use).
    Sqlite(PathBuf),
    /// A PostgreSQL server; the string is a libpq-style URL (`postgres://user:pass@host:port/db`).
    Postgres(String),
}

/// A `database_url` that selects no supported backend.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("invalid database_url {url:?}: {reason}")]
pub struct DatabaseUrlError {
    url: String,
    reason: String,
}

impl DatabaseUrl {
    /// Parses `sqlite://PATH`, `sqlite:PATH`, `postgres://…` or `postgresql://…`.
    ///
    /// A bare path (no scheme) is taken as a SQLite file, which is what people type.
    pub fn parse(url: &str) -> Result<Self, DatabaseUrlError> {
        let err = |reason: &str| DatabaseUrlError {
            url: redact(url),
            reason: reason.to_string(),
        };
        let trimmed = url.trim();
        if trimmed.is_empty() {
            return Err(err("it is empty"));
        }
        if trimmed.starts_with("postgres://") || trimmed.starts_with("postgresql://") {
            let parsed = url::Url::parse(trimmed).map_err(|e| err(&e.to_string()))?;
            if parsed.host_str().is_none_or(str::is_empty) {
                return Err(err("it names no host"));
            }
            return Ok(DatabaseUrl::Postgres(trimmed.to_string()));
        }
        if let Some(rest) = trimmed.strip_prefix("sqlite:") {
            let path = rest.strip_prefix("//").unwrap_or(rest);
            let path = path.split('?').next().unwrap_or_default();
            if path.is_empty() {
                return Err(err("it names no file"));
            }
            return Ok(DatabaseUrl::Sqlite(PathBuf::from(path)));
        }
        if let Some((scheme, _)) = trimmed.split_once("://") {
            return Err(err(&format!(
                "unsupported scheme {scheme:?} (use sqlite:// or postgres://)"
            )));
        }
        Ok(DatabaseUrl::Sqlite(PathBuf::from(trimmed)))
    }

    /// The default database inside a data directory.
    pub fn default_in(data_dir: &Path) -> Self {
        DatabaseUrl::Sqlite(data_dir.join("mesher.db"))
    }

    /// A short name of the backend, for logs and metrics.
    pub fn backend(&self) -> &'static str {
        match self {
            DatabaseUrl::Sqlite(_) => "sqlite",
            DatabaseUrl::Postgres(_) => "postgres",
        }
    }
}

/// Hides the password of a URL so that it can be logged, even when the URL does not parse.
pub fn redact(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_string();
    };
    let rest = &url[scheme_end..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return url.to_string();
    };
    match rest[..at].find(':') {
        Some(colon) => format!(
            "{}{}:***{}",
            &url[..scheme_end],
            &rest[..colon],
            &rest[at..]
        ),
        None => url.to_string(),
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DatabaseUrl::Sqlite(path) => write!(f, "sqlite://{}", path.display()),
            DatabaseUrl::Postgres(url) => f.write_str(&redact(url)),
        }
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_form() {
        assert_eq!(
            DatabaseUrl::parse("sqlite://data/m.db").unwrap(),
            DatabaseUrl::Sqlite("data/m.db".into())
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite:/abs/m.db").unwrap(),
            DatabaseUrl::Sqlite("/abs/m.db".into())
        );
        assert_eq!(
            DatabaseUrl::parse("./m.db").unwrap(),
            DatabaseUrl::Sqlite("./m.db".into())
        );
        assert!(matches!(
            DatabaseUrl::parse("postgres://u:p@localhost:5432/db").unwrap(),
            DatabaseUrl::Postgres(_)
        ));
    }

    #[test]
    fn rejects_bad_urls_with_a_reason() {
        let e = DatabaseUrl::parse("mysql://localhost/x").unwrap_err();
        assert!(
            e.to_string().contains("unsupported scheme \"mysql\""),
            "{e}"
        );
        assert!(DatabaseUrl::parse("postgres://").is_err());
        assert!(DatabaseUrl::parse("").is_err());
    }

    #[test]
    fn never_prints_passwords() {
        let url = DatabaseUrl::parse("postgres://u:hunter2@h/db").unwrap();
        assert!(!format!("{url} {url:?}").contains("hunter2"));
        assert_eq!(
            redact("postgres://u:p@h:5/db?x=1"),
            "postgres://u:***@h:5/db?x=1"
        );
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
        let e = DatabaseUrl::parse("postgres://u:hunter2@/db").unwrap_err();
        assert!(!e.to_string().contains("hunter2"), "{e}");
    }
}
