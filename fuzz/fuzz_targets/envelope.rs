//! Envelope framing and everything the `/envelope/` handler reads from a parsed envelope:
//! the headers (event id, DSN, `sent_at`), each item's headers, client reports and event items.
//! Nothing may panic, and every item's payload must be a slice of the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mesher_protocol::envelope::{ItemType, parse_client_report, parse_envelope};
use mesher_protocol::{AuthParams, EventId, NormalizeContext, Timestamp, normalize_event};

fuzz_target!(|data: &[u8]| {
    let Ok(envelope) = parse_envelope(data) else {
        return;
    };
    let _ = envelope.event_id();
    let _ = envelope.sent_at();
    if let Some(dsn) = envelope.headers().parsed_dsn() {
        let _ = AuthParams::from_dsn(dsn);
    }
    let _ = envelope.item_counts();
    let input = data.as_ptr_range();
    for item in envelope.items() {
        let payload = item.payload.as_ptr_range();
        assert!(
            item.payload.is_empty() || (input.start <= payload.start && payload.end <= input.end),
            "payloads borrow from the body"
        );
        let _ = item.ty.data_category();
        let _ = (item.filename(), item.attachment_type(), item.content_type());
        let _ = (item.item_count(), item.platform(), item.len());
        match &item.ty {
            ItemType::ClientReport => {
                let _ = parse_client_report(item.payload);
            }
            ItemType::Event => {
                let mut ctx = NormalizeContext::new(
                    Timestamp::from_unix_seconds(1_714_564_800).expect("a valid time"),
                    EventId::from_bytes([7; 16]),
                );
                ctx.envelope_event_id = envelope.event_id();
                ctx.sent_at = envelope.sent_at();
                let _ = normalize_event(item.payload, &ctx);
            }
            _ => {}
        }
    }
});
