//! [`OpsError`]: why an operation failed, converted by each front-end into its own answer
//! ([`ApiError`] for the API and, through it, the dashboard's HTML error; `anyhow` in the CLI).

use mesher_store::StoreError;
use thiserror::Error;

use super::access::Denied;
use crate::accounts::AccountError;
use crate::error::ApiError;

/// Why an operation failed.
#[derive(Debug, Error)]
pub enum OpsError {
    /// No such resource, or one the actor may not see: the name of what was looked for.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The actor may see the resource but not do this.
    #[error(transparent)]
    Denied(Denied),
    /// An input is unusable; the message says which and why.
    #[error("{0}")]
    Invalid(String),
    /// Making a secret or a password hash failed, or an account input is unusable.
    #[error(transparent)]
    Account(#[from] AccountError),
    /// The storage layer refused or failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<Denied> for OpsError {
    fn from(denied: Denied) -> Self {
        OpsError::Denied(denied)
    }
}

impl From<Denied> for ApiError {
    fn from(denied: Denied) -> Self {
        match denied {
            Denied::NotMember => ApiError::NotFound(denied.to_string()),
            Denied::Scope(_)
            | Denied::Role(_)
            | Denied::ReadToken(_)
            | Denied::ScopeAbove { .. }
            | Denied::OwnerRole => ApiError::Forbidden(denied.to_string()),
        }
    }
}

impl From<OpsError> for ApiError {
    fn from(e: OpsError) -> Self {
        match e {
            OpsError::NotFound(_) => ApiError::NotFound(e.to_string()),
            OpsError::Denied(denied) => denied.into(),
            OpsError::Invalid(message) => ApiError::BadRequest(message),
            OpsError::Account(e) => e.into(),
            OpsError::Store(e) => e.into(),
        }
    }
}
