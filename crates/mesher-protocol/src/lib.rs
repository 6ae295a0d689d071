//! The Sentry wire protocol as Mesher speaks it. Pure: no I/O, no async, no clocks, no
//! randomness — the server passes in receive times and generated ids.
//!
//! The ingestion data path through this crate:
//!
//! 1. **Auth** ([`auth`]): the server hands over the `X-Sentry-Auth` / `Authorization` header
//!    values and the query string; [`auth::resolve_auth`] checks that all sources name the same
//!    32-hex public key (protocol doc A2).
//! 2. **Framing** ([`envelope`]): [`envelope::parse_envelope`] splits an `/envelope/` body into
//!    headers and items without copying payloads (A4, A5). The envelope's `dsn` header is one
//!    more auth source ([`auth::AuthParams::from_dsn`]); `event_id` and `sent_at` feed step 3.
//! 3. **Normalization** ([`normalize`]): [`normalize::normalize_event`] turns an `event` item
//!    (or a `/store/` body) into the typed [`event::Event`] Mesher stores, applying Relay's
//!    rules for ids, timestamps, levels, tags, fingerprints and messages (A6). Malformed
//!    essentials are rejected with a message naming the field; everything else is coerced or
//!    dropped with an entry in `Event::errors`.
//! 4. **Scrubbing** ([`scrub`]): after the server computed the fingerprint,
//!    [`scrub::scrub_event`] replaces secrets and card numbers by `[Filtered]` per the
//!    project's settings and counts them in `Event::meta` (issue 11).
//! 5. **Summaries** ([`event`]): `Event::title`, `Event::culprit` and `Event::search_text` give
//!    the server its list columns and search text.
//!
//! Requirement ids (INGEST-02, …) and protocol doc sections (A4, E) are cited in tests.

#![warn(missing_docs)]

pub mod auth;
pub mod compression;
pub mod dsn;
pub mod envelope;
pub mod event;
pub mod grouping;
pub mod ids;
pub mod normalize;
pub mod scrub;
pub mod sourcemaps;
pub mod timestamp;

pub use auth::{
    AuthError, AuthParams, parse_basic_auth, parse_bearer, parse_query_auth, parse_sentry_auth,
    resolve_auth,
};
pub use dsn::{Dsn, DsnError, build_dsn};
pub use envelope::{
    ClientReport, Envelope, EnvelopeError, Item, ItemType, parse_client_report, parse_envelope,
};
pub use event::{Event, Level};
pub use ids::EventId;
pub use normalize::{EventError, NormalizeContext, normalize_event, normalize_event_value};
pub use timestamp::Timestamp;

/// "a string", "an object", … for error messages.
pub(crate) fn json_type_name(value: &serde_json::Value) -> &'static str {
    use serde_json::Value;
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}
