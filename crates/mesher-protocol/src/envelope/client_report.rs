//! `client_report` items: what the SDK dropped before sending (protocol doc A5).
//!
//! Shape as in Relay's `relay-event-schema/src/protocol/client_report.rs`: the SDK fills
//! `discarded_events`; the other lists appear when a Relay forwards its own outcomes.

use serde::{Deserialize, Serialize};

use crate::timestamp::Timestamp;

/// Why a client report payload was rejected.
#[derive(Debug, thiserror::Error)]
pub enum ClientReportError {
    /// Not JSON, or fields of the wrong type.
    #[error("invalid client report: {0}")]
    Json(#[from] serde_json::Error),
    /// JSON, but not an object (serde would read a list as a struct).
    #[error("invalid client report: expected an object")]
    NotAnObject,
}

/// One counter: `quantity` items of `category` dropped for `reason`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiscardedEvent {
    /// E.g. `queue_overflow`, `ratelimit_backoff`, `before_send`, `event_processor`.
    pub reason: String,
    /// A data category (`error`, `transaction`, `attachment`, …).
    pub category: String,
    /// How many (bytes for attachments).
    pub quantity: u64,
}

/// A parsed client report.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientReport {
    /// When the SDK created the report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<Timestamp>,
    /// Counters for events the client discarded.
    #[serde(default)]
    pub discarded_events: Vec<DiscardedEvent>,
    /// Counters for events a forwarding Relay rate limited.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rate_limited_events: Vec<DiscardedEvent>,
    /// Counters for events a forwarding Relay filtered.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub filtered_events: Vec<DiscardedEvent>,
    /// Counters for events a forwarding Relay dropped by sampling.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub filtered_sampling_events: Vec<DiscardedEvent>,
}

/// Parses a `client_report` item payload.
pub fn parse_client_report(payload: &[u8]) -> Result<ClientReport, ClientReportError> {
    match serde_json::from_slice(payload)? {
        value @ serde_json::Value::Object(_) => Ok(serde_json::from_value(value)?),
        _ => Err(ClientReportError::NotAnObject),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn javascript_client_report_f() {
        let payload = br#"{"timestamp":1700000000.5,"discarded_events":[
            {"reason":"before_send","category":"error","quantity":2},
            {"reason":"event_processor","category":"transaction","quantity":1}]}"#;
        let report = parse_client_report(payload).expect("report");
        assert_eq!(report.discarded_events.len(), 2);
        assert_eq!(report.discarded_events[0].reason, "before_send");
        assert_eq!(report.discarded_events[0].quantity, 2);
        assert_eq!(
            report.timestamp.map(|t| t.unix_seconds()),
            Some(1_700_000_000)
        );
    }

    #[test]
    fn relay_outcome_lists_round_trip() {
        let payload = br#"{"timestamp":"2020-02-07T15:17:00Z","discarded_events":[],
            "rate_limited_events":[{"reason":"bar","category":"session","quantity":456}]}"#;
        let report = parse_client_report(payload).expect("report");
        assert_eq!(report.rate_limited_events[0].quantity, 456);
        let json = serde_json::to_vec(&report).expect("serialize");
        assert_eq!(parse_client_report(&json).expect("round trip"), report);
    }

    #[test]
    fn malformed_reports_are_errors() {
        assert!(parse_client_report(b"[]").is_err());
        assert!(parse_client_report(br#"{"discarded_events":[{"reason":"x"}]}"#).is_err());
        let err = parse_client_report(b"{").expect_err("truncated");
        assert!(err.to_string().starts_with("invalid client report"));
    }
}
