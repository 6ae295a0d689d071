//! Event and breadcrumb severity.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Severity, ordered from least to most severe so that `level >= Level::Warning` filters work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// `debug`.
    Debug,
    /// `info` (also `log`, which the JavaScript SDKs send).
    Info,
    /// `warning` (also `warn`).
    Warning,
    /// `error`, the default for events.
    Error,
    /// `fatal` (also `critical`, Python's name).
    Fatal,
}

impl Level {
    /// Parses a level name case-insensitively, with the aliases Relay accepts plus `warn`.
    pub fn parse(name: &str) -> Option<Self> {
        const NAMES: [(&str, Level); 8] = [
            ("debug", Level::Debug),
            ("info", Level::Info),
            ("log", Level::Info),
            ("warning", Level::Warning),
            ("warn", Level::Warning),
            ("error", Level::Error),
            ("fatal", Level::Fatal),
            ("critical", Level::Fatal),
        ];
        let name = name.trim();
        NAMES
            .iter()
            .find(|(known, _)| known.eq_ignore_ascii_case(name))
            .map(|&(_, level)| level)
    }

    /// Python `logging` numbers, which old Python SDKs sent (Relay `Level::from_python_level`).
    pub fn from_python_level(number: u64) -> Option<Self> {
        Some(match number {
            10 => Self::Debug,
            20 => Self::Info,
            30 => Self::Warning,
            40 => Self::Error,
            50 => Self::Fatal,
            _ => return None,
        })
    }

    /// The canonical lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Debug => "debug",
            Self::Info => "info",
            Self::Warning => "warning",
            Self::Error => "error",
            Self::Fatal => "fatal",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_and_case_a6() {
        assert_eq!(Level::parse("log"), Some(Level::Info));
        assert_eq!(Level::parse("WARN"), Some(Level::Warning));
        assert_eq!(Level::parse("Critical"), Some(Level::Fatal));
        assert_eq!(Level::parse("error"), Some(Level::Error));
        assert_eq!(Level::parse("verbose"), None);
        assert_eq!(Level::from_python_level(30), Some(Level::Warning));
        assert_eq!(Level::from_python_level(31), None);
        assert!(Level::Fatal > Level::Error && Level::Debug < Level::Info);
    }
}
