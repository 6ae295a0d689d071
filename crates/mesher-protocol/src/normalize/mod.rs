//! Turning an SDK payload into the [`Event`] Mesher stores (INGEST-02, protocol doc A6).
//!
//! The payload is parsed once into a light JSON tree that borrows from the input (`raw.rs`),
//! then each object is walked once and its known fields converted; only kept strings are
//! copied.
//!
//! Strict where a wrong value would make the event meaningless or mis-grouped: invalid JSON, a
//! non-object, a malformed `event_id`, and wrong-typed `exception`, `threads`, `breadcrumbs`,
//! `tags` or `fingerprint` fail with an [`EventError`] (HTTP 400). Lenient everywhere else, like
//! Relay: a bad value is coerced or dropped and an entry is added to [`Event::errors`] (at most
//! 100 such entries) — an unknown `level` becomes `error`, an unreadable `timestamp` becomes the
//! time received (issue 12): one bad field never loses the event.
//! Unknown top-level keys are dropped.

pub(crate) mod debug_meta;
mod exception;
mod fingerprint;
mod interfaces;
pub(crate) mod lenient;
mod message;
mod raw;
mod tags;
mod timestamps;

use std::net::IpAddr;

use serde_json::Value;

pub use self::debug_meta::canonical_debug_id;
use self::lenient::{Errors, Path, lenient_string, object_value, string, truncate};
pub use self::message::MAX_MESSAGE_CHARS;
use self::raw::{Object, Raw};
pub use self::tags::{MAX_TAG_KEY_CHARS, MAX_TAG_VALUE_CHARS, TagLimits};
use crate::event::{Event, Level};
use crate::ids::EventId;
use crate::timestamp::Timestamp;

/// Platforms Sentry knows (Relay `VALID_PLATFORMS`); anything else is stored as `other`.
pub const VALID_PLATFORMS: [&str; 19] = [
    "as3",
    "c",
    "cfml",
    "cocoa",
    "csharp",
    "elixir",
    "go",
    "groovy",
    "haskell",
    "java",
    "javascript",
    "native",
    "node",
    "objc",
    "other",
    "perl",
    "php",
    "python",
    "ruby",
];

/// Everything normalization needs besides the payload.
#[derive(Debug, Clone, PartialEq)]
pub struct NormalizeContext {
    /// When the request arrived.
    pub received_at: Timestamp,
    /// The id to use when neither the envelope nor the payload has one. The caller generates
    /// it (this crate has no randomness), so every event gets an id.
    pub generated_event_id: EventId,
    /// The envelope header `event_id`; it wins over the payload's (protocol doc A4).
    pub envelope_event_id: Option<EventId>,
    /// The envelope header `sent_at`, for clock-drift correction.
    pub sent_at: Option<Timestamp>,
    /// The client's address, substituted for `{{auto}}` user IPs.
    pub client_ip: Option<IpAddr>,
    /// How far ahead of `received_at` a timestamp may be (Relay default 60 s).
    pub max_secs_in_future: i64,
    /// How far behind `received_at` a timestamp may be (default 90 days, the retention).
    pub max_secs_in_past: i64,
    /// Platform for events that name none (e.g. the project's platform).
    pub default_platform: Option<String>,
    /// How many tags an event keeps, and their sizes.
    pub tag_limits: TagLimits,
}

impl NormalizeContext {
    /// Relay's default `max_secs_in_future`.
    pub const DEFAULT_MAX_SECS_IN_FUTURE: i64 = 60;
    /// 90 days.
    pub const DEFAULT_MAX_SECS_IN_PAST: i64 = 90 * 24 * 60 * 60;

    /// A context with default limits and no envelope information.
    pub fn new(received_at: Timestamp, generated_event_id: EventId) -> Self {
        Self {
            received_at,
            generated_event_id,
            envelope_event_id: None,
            sent_at: None,
            client_ip: None,
            max_secs_in_future: Self::DEFAULT_MAX_SECS_IN_FUTURE,
            max_secs_in_past: Self::DEFAULT_MAX_SECS_IN_PAST,
            default_platform: None,
            tag_limits: TagLimits::DEFAULT,
        }
    }
}

/// Why an event payload was rejected: it is not a JSON object. Every variant means HTTP 400;
/// a bad value inside the object is dropped and noted instead.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    /// The payload is not JSON.
    #[error("invalid JSON: {0}")]
    InvalidJson(serde_json::Error),
    /// The payload is JSON but not an object.
    #[error("event must be a JSON object, got {0}")]
    NotAnObject(&'static str),
}

/// Parses and normalizes an event payload (an `event` item or a `/store/` body).
pub fn normalize_event(raw: &[u8], ctx: &NormalizeContext) -> Result<Event, EventError> {
    let raw: Raw<'_> = serde_json::from_slice(raw).map_err(EventError::InvalidJson)?;
    normalize_raw(raw, ctx)
}

/// Normalizes an already parsed payload (the native API's bulk endpoint parses first).
pub fn normalize_event_value(value: Value, ctx: &NormalizeContext) -> Result<Event, EventError> {
    normalize_raw(Raw::from_value(&value), ctx)
}

/// The top-level fields Mesher reads; everything else is dropped.
#[derive(Default)]
struct TopLevel<'a> {
    event_id: Raw<'a>,
    timestamp: Raw<'a>,
    level: Raw<'a>,
    platform: Raw<'a>,
    logger: Raw<'a>,
    transaction: Raw<'a>,
    server_name: Raw<'a>,
    release: Raw<'a>,
    dist: Raw<'a>,
    environment: Raw<'a>,
    logentry: Raw<'a>,
    message: Raw<'a>,
    exception: Raw<'a>,
    threads: Raw<'a>,
    stacktrace: Raw<'a>,
    breadcrumbs: Raw<'a>,
    tags: Raw<'a>,
    contexts: Raw<'a>,
    user: Raw<'a>,
    request: Raw<'a>,
    sdk: Raw<'a>,
    fingerprint: Raw<'a>,
    modules: Raw<'a>,
    extra: Raw<'a>,
    debug_meta: Raw<'a>,
}

impl<'a> TopLevel<'a> {
    /// Sorts the members into fields in one pass. Legacy `sentry.interfaces.*` names only
    /// fill a field the modern name left empty.
    fn from_members(members: Object<'a>) -> Self {
        let mut fields = Self::default();
        for (key, value) in members {
            let (slot, legacy) = match &*key {
                "event_id" => (&mut fields.event_id, false),
                "timestamp" => (&mut fields.timestamp, false),
                "level" => (&mut fields.level, false),
                "platform" => (&mut fields.platform, false),
                "logger" => (&mut fields.logger, false),
                "transaction" => (&mut fields.transaction, false),
                "server_name" => (&mut fields.server_name, false),
                "release" => (&mut fields.release, false),
                "dist" => (&mut fields.dist, false),
                "environment" => (&mut fields.environment, false),
                "logentry" => (&mut fields.logentry, false),
                "sentry.interfaces.Message" => (&mut fields.logentry, true),
                "message" => (&mut fields.message, false),
                "exception" => (&mut fields.exception, false),
                "sentry.interfaces.Exception" => (&mut fields.exception, true),
                "threads" => (&mut fields.threads, false),
                "stacktrace" => (&mut fields.stacktrace, false),
                "sentry.interfaces.Stacktrace" => (&mut fields.stacktrace, true),
                "breadcrumbs" => (&mut fields.breadcrumbs, false),
                "sentry.interfaces.Breadcrumbs" => (&mut fields.breadcrumbs, true),
                "tags" => (&mut fields.tags, false),
                "contexts" => (&mut fields.contexts, false),
                "sentry.interfaces.Contexts" => (&mut fields.contexts, true),
                "user" => (&mut fields.user, false),
                "sentry.interfaces.User" => (&mut fields.user, true),
                "request" => (&mut fields.request, false),
                "sentry.interfaces.Http" => (&mut fields.request, true),
                "sdk" => (&mut fields.sdk, false),
                "fingerprint" => (&mut fields.fingerprint, false),
                "modules" => (&mut fields.modules, false),
                "extra" => (&mut fields.extra, false),
                "debug_meta" => (&mut fields.debug_meta, false),
                _ => continue,
            };
            // A legacy name or a `null` never replaces a value already found.
            let keep_existing = !slot.is_null() && (legacy || value.is_null());
            if !keep_existing {
                *slot = value;
            }
        }
        fields
    }
}

fn normalize_raw(raw: Raw<'_>, ctx: &NormalizeContext) -> Result<Event, EventError> {
    let fields = match raw {
        Raw::Object(members) => TopLevel::from_members(members),
        other => return Err(EventError::NotAnObject(other.type_name())),
    };
    let mut errors = Errors::default();

    // Every bad value is dropped and noted, and the event kept (Relay's rule): an unreadable
    // `event_id` gives way to the envelope's or a generated one.
    let id_path = Path::Root("event_id");
    let payload_id = match fields.event_id {
        Raw::Null => None,
        Raw::Str(s) => match EventId::parse(&s) {
            Ok(id) => Some(id),
            Err(reason) => {
                let kept = (s.chars().count() <= 64).then(|| Value::String(s.into_owned()));
                errors.invalid(&id_path, reason.to_string(), kept);
                None
            }
        },
        other => {
            errors.expected(&id_path, "a string", other);
            None
        }
    };
    // An unreadable timestamp is dropped and noted; the time received stands in (Relay).
    let timestamp = match lenient::timestamp(&fields.timestamp) {
        Ok(t) => t,
        Err(e) => {
            let value = match fields.timestamp {
                Raw::Array(_) | Raw::Object(_) => None,
                scalar => Some(scalar.into_value()),
            };
            errors.invalid(&Path::Root("timestamp"), e.to_string(), value);
            None
        }
    };
    let level = normalize_level(fields.level, &mut errors);
    let mut exceptions = exception::normalize_exceptions(fields.exception, &mut errors);
    let threads = exception::normalize_threads(fields.threads, &mut errors);
    let mut breadcrumbs = interfaces::normalize_breadcrumbs(fields.breadcrumbs, &mut errors);
    let tags = tags::normalize_tags(fields.tags, ctx.tag_limits, &mut errors);
    let fingerprint = fingerprint::normalize_fingerprint(fields.fingerprint, &mut errors);

    // In a fixed order, so that error entries are deterministic.
    let mut stacktrace =
        exception::normalize_stacktrace(fields.stacktrace, &Path::Root("stacktrace"), &mut errors);
    // Relay moves a legacy top-level stack into a sole exception, where grouping looks for it.
    if let [only] = exceptions.as_mut_slice()
        && only.stacktrace.is_none()
    {
        only.stacktrace = stacktrace.take();
    }
    let environment = checked_name(
        string(fields.environment, &Path::Root("environment"), &mut errors),
        &Path::Root("environment"),
        64,
        |c| matches!(c, '/' | '\r' | '\n' | '\t' | '\x0c'),
        &mut errors,
    )
    .or(tags.environment);
    let message = message::normalize_logentry(fields.logentry, fields.message, &mut errors);
    let logger_path = Path::Root("logger");
    let logger = string(fields.logger, &logger_path, &mut errors).and_then(|l| {
        if l.contains(['\r', '\n']) {
            errors.invalid(&logger_path, "newline in logger name", None);
            None
        } else {
            Some(truncate(l, 64))
        }
    });
    let transaction = string(fields.transaction, &Path::Root("transaction"), &mut errors)
        .map(|t| truncate(t.trim().to_owned(), 200))
        .filter(|t| !t.is_empty());
    let server_name = string(fields.server_name, &Path::Root("server_name"), &mut errors)
        .map(|s| truncate(s, 256));
    let release = checked_name(
        lenient_string(fields.release, &Path::Root("release"), &mut errors),
        &Path::Root("release"),
        MAX_RELEASE_CHARS,
        forbidden_in_release,
        &mut errors,
    )
    .filter(|r| !RESERVED_RELEASES.contains(&r.as_str()));
    let dist = checked_name(
        lenient_string(fields.dist, &Path::Root("dist"), &mut errors),
        &Path::Root("dist"),
        64,
        |c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')),
        &mut errors,
    );
    let contexts = interfaces::normalize_contexts(fields.contexts, &mut errors);
    let user = interfaces::normalize_user(fields.user, ctx.client_ip, &mut errors);
    let request = interfaces::normalize_request(fields.request, &mut errors);
    let sdk = interfaces::normalize_sdk(fields.sdk, &mut errors);
    let modules = interfaces::normalize_modules(fields.modules, &mut errors);
    let extra = object_value(fields.extra, &Path::Root("extra"), &mut errors).unwrap_or_default();
    let debug_meta = debug_meta::normalize_debug_meta(fields.debug_meta, &mut errors);
    let timestamp = timestamps::fix_timestamps(timestamp, &mut breadcrumbs, ctx, &mut errors);

    Ok(Event {
        event_id: ctx
            .envelope_event_id
            .or(payload_id)
            .unwrap_or(ctx.generated_event_id),
        timestamp,
        received: ctx.received_at,
        level,
        platform: normalize_platform(fields.platform, ctx),
        logger,
        transaction,
        server_name,
        release,
        dist,
        environment,
        message,
        exception: exceptions,
        threads,
        stacktrace,
        breadcrumbs,
        tags: tags.tags,
        contexts,
        user,
        request,
        sdk,
        fingerprint,
        modules,
        extra,
        debug_meta,
        errors: errors.0,
        meta: Default::default(),
    })
}

/// Longest release name (Relay's).
const MAX_RELEASE_CHARS: usize = 200;
/// Names that are not releases (Relay's).
const RESERVED_RELEASES: [&str; 3] = [".", "..", "latest"];

fn forbidden_in_release(c: char) -> bool {
    matches!(c, '/' | '\\' | '\r' | '\n' | '\t' | '\x0c')
}

/// Whether `version` may name a release, by the rules events' `release` is held to (Relay's):
/// 1 to 200 characters, no slash, backslash or line break, not `.`, `..` or `latest`.
pub fn valid_release(version: &str) -> bool {
    !version.trim().is_empty()
        && version.chars().count() <= MAX_RELEASE_CHARS
        && !version.chars().any(forbidden_in_release)
        && !RESERVED_RELEASES.contains(&version)
}

/// `level`: a name (aliases, any case) or a Python logging number; `error` when absent.
fn normalize_level(value: Raw<'_>, errors: &mut Errors) -> Level {
    const EXPECTED: &str = "expected fatal, error, warning, info or debug";
    let path = Path::Root("level");
    let parsed = match &value {
        Raw::Null => return Level::Error,
        Raw::Str(s) => Level::parse(s),
        Raw::U64(n) => Level::from_python_level(*n),
        Raw::I64(_) | Raw::F64(_) => None,
        other => {
            errors.expected(&path, "a string", other.clone());
            return Level::Error;
        }
    };
    parsed.unwrap_or_else(|| {
        // Relay: an unknown level is dropped and the event is an error.
        errors.invalid(
            &path,
            format!("unknown level; {EXPECTED}"),
            Some(value.into_value()),
        );
        Level::Error
    })
}

/// The event's platform if known, else the context default for absent ones, else `other`.
fn normalize_platform(value: Raw<'_>, ctx: &NormalizeContext) -> String {
    let known = |p: &str| {
        VALID_PLATFORMS
            .iter()
            .find(|v| v.eq_ignore_ascii_case(p))
            .copied()
    };
    let platform = match &value {
        Raw::Str(s) => known(s),
        _ => ctx.default_platform.as_deref().and_then(known),
    };
    platform.unwrap_or("other").to_owned()
}

/// Release, dist and environment: trimmed, non-empty, at most `max` characters, none of the
/// characters `forbidden` accepts. Invalid values are dropped with an error entry.
fn checked_name(
    value: Option<String>,
    path: &Path<'_>,
    max: usize,
    forbidden: impl Fn(char) -> bool,
    errors: &mut Errors,
) -> Option<String> {
    let value = value?;
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return None;
    }
    if trimmed.chars().count() > max {
        errors.too_long(path, max);
        return None;
    }
    if trimmed.chars().any(forbidden) {
        errors.invalid(path, "invalid characters", Some(Value::String(value)));
        return None;
    }
    Some(if trimmed.len() == value.len() {
        value
    } else {
        trimmed.to_owned()
    })
}

#[cfg(test)]
mod tests;
