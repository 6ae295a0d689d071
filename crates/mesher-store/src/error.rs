//! The one error type of the storage layer.

use thiserror::Error;

/// Why a storage operation failed.
///
/// Callers branch on the variant: `Conflict` and `NotFound` are the user's problem (409/404),
/// so are `Invalid` and `NoReleaseData` (400); `Unavailable` is transient (503, retry);
/// everything else is a bug or a broken database (500).
#[derive(Debug, Error)]
pub enum StoreError {
    /// A uniqueness rule was violated; the message names what already exists.
    #[error("{0}")]
    Conflict(String),
    /// The row an operation refers to does not exist.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// An argument violates a rule of the data model (for example an unknown role).
    #[error("invalid {field}: {message}")]
    Invalid {
        /// The offending field.
        field: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// "Resolve in next release" needs a release to anchor on, and neither the issue nor its
    /// project has one (Sentry's message, as Sentry refuses it).
    #[error("No release data present in the system to form a basis for 'Next Release'")]
    NoReleaseData,
    /// The database cannot be reached or is temporarily unable to serve (locked, disk full,
    /// connection lost). Retrying later may succeed.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// Applying the embedded migrations failed.
    #[error("migration failed: {0}")]
    Migration(String),
    /// Any other database error.
    #[error("database error: {0}")]
    Database(String),
}

impl StoreError {
    /// True when the failure is transient and the operation may be retried.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }
}

/// Shorthand for results of storage operations.
pub type StoreResult<T> = Result<T, StoreError>;
