//! Request body decompression: every `Content-Encoding` and the legacy `/store/` form, under a
//! small limit. The output never passes the limit (a bomb is refused, not allocated) and
//! nothing panics.
//!
//! Input: the first byte picks the encoding (and the legacy form), the second the limit
//! (0 to 8 KiB), the rest is the body.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use mesher_protocol::compression::{DecodeError, Encoding, decode, decode_legacy_store};

fuzz_target!(|data: &[u8]| {
    let [selector, limit, body @ ..] = data else {
        return;
    };
    let limit = usize::from(*limit) * 32;
    let body = Bytes::copy_from_slice(body);
    let encodings = Encoding::ALL.len();
    let index = usize::from(*selector);
    let result = if index % (encodings + 1) == encodings {
        decode_legacy_store(body.clone(), limit)
    } else {
        decode(
            Encoding::ALL[index % (encodings + 1)],
            body.clone(),
            limit,
            "the body",
        )
    };
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
