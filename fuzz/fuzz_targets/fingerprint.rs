//! Grouping of every event that normalizes. Grouping must be deterministic (the same event
//! always lands in the same issue) and must survive storage: the stored JSON form of an event
//! reads back as the same event with the same fingerprint, since the server re-reads stored
//! events.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mesher_protocol::grouping::fingerprint;
use mesher_protocol::{Event, EventId, NormalizeContext, Timestamp, normalize_event};

fuzz_target!(|data: &[u8]| {
    let ctx = NormalizeContext::new(
        Timestamp::from_unix_seconds(1_714_564_800).expect("a valid time"),
        EventId::from_bytes([7; 16]),
    );
    let Ok(event) = normalize_event(data, &ctx) else {
        return;
    };
    let first = fingerprint(&event);
    let again = normalize_event(data, &ctx).expect("normalized once, normalizes again");
    let second = fingerprint(&again);
    assert_eq!(first.hash, second.hash, "same input, same fingerprint");
    assert_eq!(first.components, second.components);
    let _ = first.explanation();

    let stored = serde_json::to_vec(&event).expect("events serialize");
    let read: Event = serde_json::from_slice(&stored).expect("stored events read back");
    assert_eq!(
        fingerprint(&read).hash,
        first.hash,
        "the stored event groups the same"
    );
});
