//! Envelope items: their types (protocol doc A5) and header accessors.

use std::fmt;

use serde_json::{Map, Value};

/// The type of an envelope item.
///
/// Covers every type Relay's `ItemType::from_str` knows, with the legacy aliases of the protocol
/// doc; anything else is kept as [`ItemType::Unknown`] so the caller can skip it gracefully.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ItemType {
    /// `event`: an error or default event.
    Event,
    /// `transaction`: a performance transaction.
    Transaction,
    /// `attachment`: raw bytes belonging to an event.
    Attachment,
    /// `session`: one session update.
    Session,
    /// `sessions`: pre-aggregated session buckets.
    Sessions,
    /// `client_report`: outcomes the SDK discarded.
    ClientReport,
    /// `check_in`: a cron monitor check-in.
    CheckIn,
    /// `feedback`: user feedback as an event (Relay's `UserReportV2`).
    Feedback,
    /// `user_report`: the deprecated user-feedback form.
    UserReport,
    /// `profile`.
    Profile,
    /// `profile_chunk` (also the Android alias `profile_chunk_ui`).
    ProfileChunk,
    /// `replay_event`.
    ReplayEvent,
    /// `replay_recording`.
    ReplayRecording,
    /// `replay_video`.
    ReplayVideo,
    /// `log`: a container of log records.
    Log,
    /// `otel_log`.
    OtelLog,
    /// `span`.
    Span,
    /// `otel_span`.
    OtelSpan,
    /// `otel_traces_data`.
    OtelTracesData,
    /// `trace_metric`.
    TraceMetric,
    /// `statsd`: metrics in text form.
    Statsd,
    /// `metric_buckets`.
    MetricBuckets,
    /// `metric_meta`.
    MetricMeta,
    /// `nel`: a Network Error Logging report.
    Nel,
    /// `raw_security`: a browser security report.
    RawSecurity,
    /// `security` (reserved: SDKs must not write it).
    Security,
    /// `form_data` (reserved).
    FormData,
    /// `unreal_report` (reserved).
    UnrealReport,
    /// `integration` (Relay-internal).
    Integration,
    /// Any other type, retained verbatim.
    Unknown(String),
}

impl ItemType {
    /// Maps the wire name to a type; never fails.
    pub fn parse(name: &str) -> Self {
        match name {
            "event" => Self::Event,
            "transaction" => Self::Transaction,
            "attachment" => Self::Attachment,
            "session" => Self::Session,
            "sessions" => Self::Sessions,
            "client_report" => Self::ClientReport,
            "check_in" => Self::CheckIn,
            "feedback" => Self::Feedback,
            "user_report" => Self::UserReport,
            "profile" => Self::Profile,
            // Android SDK 8.10/8.11 send the `_ui` alias (Relay item.rs).
            "profile_chunk" | "profile_chunk_ui" => Self::ProfileChunk,
            "replay_event" => Self::ReplayEvent,
            "replay_recording" => Self::ReplayRecording,
            "replay_video" => Self::ReplayVideo,
            "log" => Self::Log,
            "otel_log" => Self::OtelLog,
            "span" => Self::Span,
            "otel_span" => Self::OtelSpan,
            "otel_traces_data" => Self::OtelTracesData,
            "trace_metric" => Self::TraceMetric,
            "statsd" => Self::Statsd,
            "metric_buckets" => Self::MetricBuckets,
            "metric_meta" => Self::MetricMeta,
            "nel" => Self::Nel,
            "raw_security" => Self::RawSecurity,
            "security" => Self::Security,
            "form_data" => Self::FormData,
            "unreal_report" => Self::UnrealReport,
            "integration" => Self::Integration,
            other => Self::Unknown(other.to_owned()),
        }
    }

    /// The wire name (the original name for unknown types).
    pub fn as_str(&self) -> &str {
        match self {
            Self::Event => "event",
            Self::Transaction => "transaction",
            Self::Attachment => "attachment",
            Self::Session => "session",
            Self::Sessions => "sessions",
            Self::ClientReport => "client_report",
            Self::CheckIn => "check_in",
            Self::Feedback => "feedback",
            Self::UserReport => "user_report",
            Self::Profile => "profile",
            Self::ProfileChunk => "profile_chunk",
            Self::ReplayEvent => "replay_event",
            Self::ReplayRecording => "replay_recording",
            Self::ReplayVideo => "replay_video",
            Self::Log => "log",
            Self::OtelLog => "otel_log",
            Self::Span => "span",
            Self::OtelSpan => "otel_span",
            Self::OtelTracesData => "otel_traces_data",
            Self::TraceMetric => "trace_metric",
            Self::Statsd => "statsd",
            Self::MetricBuckets => "metric_buckets",
            Self::MetricMeta => "metric_meta",
            Self::Nel => "nel",
            Self::RawSecurity => "raw_security",
            Self::Security => "security",
            Self::FormData => "form_data",
            Self::UnrealReport => "unreal_report",
            Self::Integration => "integration",
            Self::Unknown(name) => name,
        }
    }

    /// The rate-limit data category the item counts against (protocol doc A7), or `None` for
    /// items that are never rate limited (client reports, metrics, unknown types).
    pub fn data_category(&self) -> Option<&'static str> {
        Some(match self {
            Self::Event | Self::UnrealReport => "error",
            Self::Transaction => "transaction",
            Self::Attachment => "attachment",
            Self::Session | Self::Sessions => "session",
            Self::CheckIn => "monitor",
            Self::Feedback | Self::UserReport => "feedback",
            Self::Profile => "profile",
            Self::ProfileChunk => "profile_chunk",
            Self::ReplayEvent | Self::ReplayRecording | Self::ReplayVideo => "replay",
            Self::Log | Self::OtelLog => "log_item",
            Self::Span | Self::OtelSpan | Self::OtelTracesData => "span",
            Self::TraceMetric => "trace_metric",
            Self::RawSecurity | Self::Security => "security",
            Self::ClientReport
            | Self::Statsd
            | Self::MetricBuckets
            | Self::MetricMeta
            | Self::Nel
            | Self::FormData
            | Self::Integration
            | Self::Unknown(_) => return None,
        })
    }
}

impl fmt::Display for ItemType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The `attachment_type` item header (protocol doc A5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttachmentType {
    /// `event.attachment`, the default.
    Attachment,
    /// `event.minidump`.
    Minidump,
    /// `event.applecrashreport`.
    AppleCrashReport,
    /// `event.payload`: a serialized event (msgpack or JSON).
    EventPayload,
    /// `event.breadcrumbs`.
    Breadcrumbs,
    /// `event.view_hierarchy`.
    ViewHierarchy,
    /// `unreal.context`.
    UnrealContext,
    /// `unreal.logs`.
    UnrealLogs,
    /// `playstation.prosperodump`.
    Prosperodump,
    /// Any other value, retained.
    Unknown(String),
}

impl AttachmentType {
    /// Maps the header value to a type; never fails.
    pub fn parse(name: &str) -> Self {
        match name {
            "event.attachment" => Self::Attachment,
            "event.minidump" => Self::Minidump,
            "event.applecrashreport" => Self::AppleCrashReport,
            "event.payload" => Self::EventPayload,
            "event.breadcrumbs" => Self::Breadcrumbs,
            "event.view_hierarchy" => Self::ViewHierarchy,
            "unreal.context" => Self::UnrealContext,
            "unreal.logs" => Self::UnrealLogs,
            "playstation.prosperodump" => Self::Prosperodump,
            other => Self::Unknown(other.to_owned()),
        }
    }
}

/// One item of a parsed envelope. The payload borrows from the request body.
#[derive(Debug, Clone, PartialEq)]
pub struct Item<'a> {
    /// The item type.
    pub ty: ItemType,
    /// All item headers as sent, including `type` and `length`; unknown ones are retained.
    pub headers: Map<String, Value>,
    /// The payload bytes.
    pub payload: &'a [u8],
}

impl Item<'_> {
    /// A header value by name.
    pub fn header(&self, name: &str) -> Option<&Value> {
        self.headers.get(name)
    }

    fn str_header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(Value::as_str)
    }

    /// The attachment's file name (`filename` header).
    pub fn filename(&self) -> Option<&str> {
        self.str_header("filename")
    }

    /// The `attachment_type` header, `None` when absent (which means `event.attachment`).
    pub fn attachment_type(&self) -> Option<AttachmentType> {
        self.str_header("attachment_type")
            .map(AttachmentType::parse)
    }

    /// The `content_type` header.
    pub fn content_type(&self) -> Option<&str> {
        self.str_header("content_type")
    }

    /// The `item_count` header of container items (`log`, `span`, `trace_metric`).
    pub fn item_count(&self) -> Option<u64> {
        self.headers.get("item_count").and_then(Value::as_u64)
    }

    /// The `platform` header (`profile_chunk`).
    pub fn platform(&self) -> Option<&str> {
        self.str_header("platform")
    }

    /// Payload size in bytes.
    pub fn len(&self) -> usize {
        self.payload.len()
    }

    /// Whether the payload is empty.
    pub fn is_empty(&self) -> bool {
        self.payload.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_a5_name_round_trips() {
        let names = [
            "event",
            "transaction",
            "attachment",
            "session",
            "sessions",
            "client_report",
            "check_in",
            "feedback",
            "user_report",
            "profile",
            "profile_chunk",
            "replay_event",
            "replay_recording",
            "replay_video",
            "log",
            "otel_log",
            "span",
            "otel_span",
            "otel_traces_data",
            "trace_metric",
            "statsd",
            "metric_buckets",
            "metric_meta",
            "nel",
            "raw_security",
            "security",
            "form_data",
            "unreal_report",
            "integration",
        ];
        for name in names {
            let ty = ItemType::parse(name);
            assert!(!matches!(ty, ItemType::Unknown(_)), "{name} is known");
            assert_eq!(ty.as_str(), name);
        }
        assert_eq!(ItemType::parse("profile_chunk_ui"), ItemType::ProfileChunk);
        assert_eq!(
            ItemType::parse("brand_new"),
            ItemType::Unknown("brand_new".into())
        );
        assert_eq!(ItemType::parse("brand_new").to_string(), "brand_new");
    }

    #[test]
    fn data_categories_a7() {
        assert_eq!(ItemType::Event.data_category(), Some("error"));
        assert_eq!(ItemType::Log.data_category(), Some("log_item"));
        assert_eq!(ItemType::ClientReport.data_category(), None);
        assert_eq!(ItemType::Unknown("x".into()).data_category(), None);
    }

    #[test]
    fn attachment_types_a5() {
        assert_eq!(
            AttachmentType::parse("event.minidump"),
            AttachmentType::Minidump
        );
        assert_eq!(
            AttachmentType::parse("event.view_hierarchy"),
            AttachmentType::ViewHierarchy
        );
        assert_eq!(
            AttachmentType::parse("x.y"),
            AttachmentType::Unknown("x.y".into())
        );
    }
}
