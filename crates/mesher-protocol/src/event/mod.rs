//! The normalized event Mesher stores.
//!
//! [`crate::normalize::normalize_event`] produces it from whatever an SDK sent; serde
//! round-trips it for storage. Serialization skips empty fields so stored JSON stays compact,
//! and keeps Sentry's shapes (`exception.values`, `logentry`, tag pairs) so Sentry tooling can
//! read it.

mod debug_meta;
mod exception;
mod interfaces;
mod level;
mod meta;
mod summary;
mod values;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub use self::debug_meta::{DebugImage, DebugMeta};
pub use self::exception::{Exception, Frame, FrameData, Mechanism, Stacktrace, Thread, ThreadId};
pub use self::interfaces::{
    Breadcrumb, ClientSdk, LogEntry, ProcessingError, Request, SdkPackage, User,
};
pub use self::level::Level;
pub use self::meta::{EventMeta, MAX_SCRUBBED_PATHS};
pub use self::summary::TITLE_MAX_CHARS;
use crate::ids::EventId;
use crate::timestamp::Timestamp;

/// A normalized error event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// The id: envelope header, else payload, else one the server generated.
    pub event_id: EventId,
    /// When the event happened, corrected for clock drift and clamped to the accepted window.
    pub timestamp: Timestamp,
    /// When the server received it.
    pub received: Timestamp,
    /// Severity.
    pub level: Level,
    /// One of the platforms Sentry knows; `other` otherwise.
    pub platform: String,
    /// Logger name (at most 64 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logger: Option<String>,
    /// Transaction (route, task) name (at most 200 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transaction: Option<String>,
    /// Host name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_name: Option<String>,
    /// Release version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release: Option<String>,
    /// Distribution of the release.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dist: Option<String>,
    /// Environment, e.g. `production`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// The message, stored under Sentry's name `logentry`.
    #[serde(rename = "logentry", default, skip_serializing_if = "Option::is_none")]
    pub message: Option<LogEntry>,
    /// Exception chain, oldest → newest.
    #[serde(default, skip_serializing_if = "Vec::is_empty", with = "values")]
    pub exception: Vec<Exception>,
    /// Threads.
    #[serde(default, skip_serializing_if = "Vec::is_empty", with = "values")]
    pub threads: Vec<Thread>,
    /// Legacy top-level stack trace (moved into a sole exception when there is one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stacktrace: Option<Stacktrace>,
    /// Breadcrumbs, oldest → newest, in the order sent.
    #[serde(default, skip_serializing_if = "Vec::is_empty", with = "values")]
    pub breadcrumbs: Vec<Breadcrumb>,
    /// Tags in the order sent; keys are unique (the first occurrence wins).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<(String, String)>,
    /// Contexts by alias; each is an object with a `type`.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub contexts: Map<String, Value>,
    /// The affected user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<User>,
    /// The HTTP request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<Request>,
    /// The SDK.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sdk: Option<ClientSdk>,
    /// Client fingerprint; may contain `{{ default }}`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fingerprint: Vec<String>,
    /// Installed packages and versions.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub modules: BTreeMap<String, String>,
    /// Arbitrary extra data.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub extra: Map<String, Value>,
    /// The debug files the event's code came from: for JavaScript, which source map belongs
    /// to which file (issue 18).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub debug_meta: Option<DebugMeta>,
    /// What normalization fixed or dropped.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<ProcessingError>,
    /// What the server did to the event besides normalizing it: values scrubbed before
    /// storage (issue 11). Stored under Sentry's name for processing metadata, `_meta`.
    #[serde(rename = "_meta", default, skip_serializing_if = "EventMeta::is_empty")]
    pub meta: EventMeta,
}
