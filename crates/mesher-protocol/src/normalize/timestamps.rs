//! Clock-drift correction and the accepted time window (protocol doc A6).
//!
//! Relay, in order: (1) when the envelope has `sent_at` and the SDK clock is off by at least
//! 55 minutes, every timestamp is shifted by the drift (`clock_drift.rs`) and a `clock_drift`
//! error is recorded; (2) if the event timestamp is then more than `max_secs_in_future` ahead
//! of, or `max_secs_in_past` behind, the receive time, all timestamps are shifted so that the
//! event lands at receive time, with a `future_timestamp` / `past_timestamp` error
//! (`normalize_timestamps` in `event.rs`); (3) a missing timestamp becomes the receive time.

use serde_json::{Map, Value};
use time::Duration;

use super::NormalizeContext;
use super::lenient::Errors;
use crate::event::{Breadcrumb, ProcessingError};
use crate::timestamp::Timestamp;

/// Drift below this is network latency or a slightly wrong clock, not worth correcting.
const MIN_CLOCK_DRIFT: Duration = Duration::minutes(55);

/// Applies drift correction and clamping; returns the final event timestamp.
pub(super) fn fix_timestamps(
    timestamp: Option<Timestamp>,
    breadcrumbs: &mut [Breadcrumb],
    ctx: &NormalizeContext,
    errors: &mut Errors,
) -> Timestamp {
    let received = ctx.received_at;
    let mut timestamp = timestamp;

    if let Some(sent_at) = ctx.sent_at {
        let drift = received.signed_since(sent_at);
        if drift.whole_seconds().unsigned_abs() >= MIN_CLOCK_DRIFT.whole_seconds().unsigned_abs() {
            shift(&mut timestamp, breadcrumbs, drift);
            errors.push(time_error("clock_drift", sent_at, received));
        }
    }

    if let Some(ts) = timestamp {
        let kind = if ts.signed_since(received) > Duration::seconds(ctx.max_secs_in_future) {
            Some("future_timestamp")
        } else if received.signed_since(ts) > Duration::seconds(ctx.max_secs_in_past) {
            Some("past_timestamp")
        } else {
            None
        };
        if let Some(kind) = kind {
            shift(&mut timestamp, breadcrumbs, received.signed_since(ts));
            errors.push(time_error(kind, ts, received));
            // Shifting can only fail at the edges of the representable range; the event
            // belongs at receive time either way.
            timestamp = Some(received);
        }
    }

    timestamp.unwrap_or(received)
}

fn shift(timestamp: &mut Option<Timestamp>, breadcrumbs: &mut [Breadcrumb], by: Duration) {
    let moved = |t: Timestamp| t.checked_add(by).unwrap_or(t);
    *timestamp = timestamp.map(moved);
    for crumb in breadcrumbs {
        crumb.timestamp = crumb.timestamp.map(moved);
    }
}

fn time_error(kind: &str, sdk_time: Timestamp, server_time: Timestamp) -> ProcessingError {
    let mut details = Map::new();
    details.insert("sdk_time".to_owned(), Value::String(sdk_time.to_rfc3339()));
    details.insert(
        "server_time".to_owned(),
        Value::String(server_time.to_rfc3339()),
    );
    ProcessingError {
        kind: kind.to_owned(),
        name: Some("timestamp".to_owned()),
        value: None,
        details,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Level;
    use crate::ids::EventId;

    const NOW: i64 = 1_700_000_000;

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_unix_seconds(secs).expect("in range")
    }

    fn ctx(sent_at: Option<i64>) -> NormalizeContext {
        let mut ctx = NormalizeContext::new(at(NOW), EventId::from_bytes([0; 16]));
        ctx.sent_at = sent_at.map(at);
        ctx
    }

    fn crumb(secs: i64) -> Breadcrumb {
        Breadcrumb {
            timestamp: Some(at(secs)),
            ty: None,
            category: None,
            level: Level::Info,
            message: None,
            data: None,
        }
    }

    #[test]
    fn missing_timestamp_is_receive_time() {
        let mut errors = Errors::default();
        assert_eq!(
            fix_timestamps(None, &mut [], &ctx(None), &mut errors),
            at(NOW)
        );
        assert!(errors.0.is_empty());
    }

    #[test]
    fn small_drift_is_left_alone() {
        let mut errors = Errors::default();
        let ts = fix_timestamps(
            Some(at(NOW - 30)),
            &mut [],
            &ctx(Some(NOW - 600)),
            &mut errors,
        );
        assert_eq!(ts, at(NOW - 30));
        assert!(errors.0.is_empty());
    }

    #[test]
    fn clock_drift_of_a_day_is_corrected_everywhere() {
        // SDK clock one day behind: event, breadcrumbs and sent_at all lag by 86400 s.
        let day = 86_400;
        let mut crumbs = [crumb(NOW - day - 5)];
        let mut errors = Errors::default();
        let ts = fix_timestamps(
            Some(at(NOW - day - 1)),
            &mut crumbs,
            &ctx(Some(NOW - day)),
            &mut errors,
        );
        assert_eq!(ts, at(NOW - 1));
        assert_eq!(crumbs[0].timestamp, Some(at(NOW - 5)));
        assert_eq!(errors.0.len(), 1);
        assert_eq!(errors.0[0].kind, "clock_drift");
        assert_eq!(
            errors.0[0].details["sdk_time"],
            Value::String(at(NOW - day).to_rfc3339())
        );
    }

    #[test]
    fn future_timestamp_is_clamped_with_breadcrumbs() {
        let mut crumbs = [crumb(NOW + 3_590)];
        let mut errors = Errors::default();
        let ts = fix_timestamps(Some(at(NOW + 3_600)), &mut crumbs, &ctx(None), &mut errors);
        assert_eq!(ts, at(NOW));
        assert_eq!(crumbs[0].timestamp, Some(at(NOW - 10)));
        assert_eq!(errors.0[0].kind, "future_timestamp");
        // Exactly at the limit is fine.
        let mut errors = Errors::default();
        assert_eq!(
            fix_timestamps(Some(at(NOW + 60)), &mut [], &ctx(None), &mut errors),
            at(NOW + 60)
        );
        assert!(errors.0.is_empty());
    }

    /// Found by the `fingerprint` fuzz target: an event dated in the year 4052 shifted its
    /// breadcrumbs two thousand years back, before the year 0, where RFC 3339 cannot write them
    /// and a stored event could not be read back. A shift out of range leaves the crumb alone.
    #[test]
    fn shifts_stay_within_rfc3339_years() {
        // The year 4188: shifting 2023 back by as much lands before the year 0.
        let far_future = 70_000_000_000;
        let mut crumbs = [crumb(NOW - 10)];
        let mut errors = Errors::default();
        let ts = fix_timestamps(Some(at(far_future)), &mut crumbs, &ctx(None), &mut errors);
        assert_eq!(ts, at(NOW));
        assert_eq!(crumbs[0].timestamp, Some(at(NOW - 10)));
        assert_eq!(errors.0[0].kind, "future_timestamp");
    }

    #[test]
    fn past_timestamp_is_clamped() {
        let mut errors = Errors::default();
        let ts = fix_timestamps(Some(at(0)), &mut [], &ctx(None), &mut errors);
        assert_eq!(ts, at(NOW));
        assert_eq!(errors.0[0].kind, "past_timestamp");
        assert_eq!(errors.0[0].name.as_deref(), Some("timestamp"));
    }
}
