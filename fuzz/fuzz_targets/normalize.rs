//! Event normalization over arbitrary bytes (an `event` item, a `/store/` body or a native
//! API event), and the summaries the server derives from every accepted event.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mesher_protocol::{EventId, NormalizeContext, Timestamp, normalize_event};

fuzz_target!(|data: &[u8]| {
    let mut ctx = NormalizeContext::new(
        Timestamp::from_unix_seconds(1_714_564_800).expect("a valid time"),
        EventId::from_bytes([7; 16]),
    );
    ctx.sent_at = Some(Timestamp::from_unix_seconds(1_714_564_700).expect("a valid time"));
    ctx.client_ip = Some(std::net::IpAddr::from([192, 0, 2, 1]));
    let Ok(event) = normalize_event(data, &ctx) else {
        return;
    };
    let _ = event.title();
    let _ = event.culprit();
    let _ = event.search_text();
    let _ = event.primary_exception();
});
