//! Server-side processing metadata stored with an event (`_meta`).
//!
//! Sentry keeps a per-field tree of remarks under `_meta`; Mesher keeps what its dashboard and
//! API show: how many values scrubbing replaced, and where (issue 11). SDK payloads never set
//! it: normalization drops unknown top-level keys, `_meta` included, so a client cannot claim
//! that nothing was scrubbed.

use serde::{Deserialize, Serialize};

/// Scrubbed paths kept per event; the count keeps counting beyond them.
pub const MAX_SCRUBBED_PATHS: usize = 100;

/// What the server changed in an event before storing it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct EventMeta {
    /// Values replaced by the scrubbing marker (`[Filtered]`) or removed (IP addresses).
    #[serde(skip_serializing_if = "is_zero")]
    pub scrubbed: u32,
    /// Dotted paths of the first [`MAX_SCRUBBED_PATHS`] scrubbed values
    /// (`request.headers.Authorization`, `extra.password`, …).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub scrubbed_paths: Vec<String>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl EventMeta {
    /// Nothing to store.
    pub fn is_empty(&self) -> bool {
        self.scrubbed == 0 && self.scrubbed_paths.is_empty()
    }
}
