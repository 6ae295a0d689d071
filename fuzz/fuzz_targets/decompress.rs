//! Request body decompression: every `Content-Encoding`, the legacy `/store/` form and the
//! capped prefix read for the envelope header, under small limits. The output never passes
//! its limit, nothing is held past the budget (a bomb is refused, not allocated), and nothing
//! panics.
//!
//! Input: the first byte picks the encoding (and the legacy form), the second the limit
//! (0 to 8 KiB), the rest is the body.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use mesher_protocol::compression::{
    Budget, DecodeError, Encoding, Unlimited, decode, decode_legacy_store, decode_prefix,
};

/// A budget that checks the decoders' bookkeeping: never over `room`.
struct Checked {
    room: usize,
    held: usize,
}

impl Budget for Checked {
    fn grow_to(&mut self, bytes: usize) -> bool {
        if bytes > self.room {
            return false;
        }
        self.held = bytes;
        true
    }

    fn shrink_to(&mut self, bytes: usize) {
        self.held = bytes;
    }
}

fuzz_target!(|data: &[u8]| {
    let [selector, limit, body @ ..] = data else {
        return;
    };
    let limit = usize::from(*limit) * 32;
    let body = Bytes::copy_from_slice(body);
    let encodings = Encoding::ALL.len();
    let index = usize::from(*selector) % (encodings + 1);
    let legacy = index == encodings;
    let encoding = Encoding::ALL[index % encodings];

    let prefix = decode_prefix(encoding, &body, limit);
    if let Ok(prefix) = prefix {
        assert!(
            prefix.len() <= limit,
            "prefix of {} bytes, cap {limit}",
            prefix.len()
        );
    }

    // A budget for about half the limit on odd selectors, none on even ones.
    let mut checked = Checked {
        room: body.len() + limit / 2,
        held: 0,
    };
    let result = match (legacy, selector % 2 == 1) {
        (true, true) => decode_legacy_store(body.clone(), limit, &mut checked),
        (true, false) => decode_legacy_store(body.clone(), limit, &mut Unlimited),
        (false, true) => decode(encoding, body.clone(), limit, "the body", &mut checked),
        (false, false) => decode(encoding, body.clone(), limit, "the body", &mut Unlimited),
    };
    assert!(checked.held <= checked.room);
    match result {
        // The legacy form returns bodies that are not base64 as they came, whatever their size
        // (the request limit applied before).
        Ok(out) if out == body => {}
        Ok(out) => assert!(out.len() <= limit, "{} bytes out, limit {limit}", out.len()),
        Err(DecodeError::TooLarge { limit: l, .. }) => assert_eq!(l, limit),
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
