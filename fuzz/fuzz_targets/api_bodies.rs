//! The native JSON API's request bodies as the handlers read them: `POST /api/v1/events` (one
//! event) and `POST /api/v1/events/bulk` (a JSON array of events, each normalized on its own).
//!
//! The handlers live in mesher-server (`ingest/native.rs`); this target repeats their two
//! parsing steps over mesher-protocol instead of depending on the server, whose dependency tree
//! (axum, tokio, rusqlite, postgres) takes longer to build under the sanitizers than all the
//! fuzzing scripts/test does. The management API's bodies are plain serde structs, exercised
//! over HTTP by scripts/api-fuzz (schemathesis).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mesher_protocol::{EventId, NormalizeContext, Timestamp, normalize_event};
use serde_json::value::RawValue;

fuzz_target!(|data: &[u8]| {
    let ctx = NormalizeContext::new(
        Timestamp::from_unix_seconds(1_714_564_800).expect("a valid time"),
        EventId::from_bytes([7; 16]),
    );
    // Single event.
    let _ = normalize_event(data, &ctx);
    // Bulk: the array is split without parsing its elements, then each is normalized.
    if let Ok(items) = serde_json::from_slice::<Vec<&RawValue>>(data) {
        for item in items {
            if let Ok(event) = normalize_event(item.get().as_bytes(), &ctx) {
                let _ = event.title();
            }
        }
    }
});
