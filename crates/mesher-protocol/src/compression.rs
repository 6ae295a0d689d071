//! Request body decompression under a size limit: `Content-Encoding` bodies and the legacy
//! `/store/` form (base64 of zlib).
//!
//! The limit holds while streaming: a decoder's output stops one byte past its limit, so a
//! decompression bomb allocates at most its limit before it is refused, and every buffer is
//! first reserved in a [`Budget`] (the server's node-wide body budget), so that many bombs at
//! once cannot add up. Reading the compressed body itself is the server's part
//! (`mesher_server::ingest::body`).

use std::io::Read;

use base64::Engine as _;
use bytes::Bytes;
use thiserror::Error;

/// Why a body could not be decoded. The server answers 413 for [`DecodeError::TooLarge`] and
/// 400 for the others.
#[derive(Debug, Error)]
pub enum DecodeError {
    /// The output would pass the limit.
    #[error("{what} is larger than the limit of {limit} bytes")]
    TooLarge {
        /// Which size.
        what: &'static str,
        /// The limit.
        limit: usize,
    },
    /// The encoding is not supported.
    #[error("unsupported Content-Encoding {0:?} (use gzip, deflate, br, zstd or identity)")]
    UnsupportedEncoding(String),
    /// The compressed data is corrupt.
    #[error("cannot decompress the {encoding} body: {reason}")]
    Corrupt {
        /// The encoding.
        encoding: &'static str,
        /// What the decoder said.
        reason: String,
    },
    /// The [`Budget`] cannot hold the output.
    #[error("the server is busy with other large requests; retry later")]
    Busy,
}

/// Memory the decoders may hold: they reserve each buffer before they allocate it.
pub trait Budget {
    /// Holds `bytes` in total from now on; `false` (and nothing reserved) when they do not fit.
    fn grow_to(&mut self, bytes: usize) -> bool;
    /// Holds only `bytes` from now on.
    fn shrink_to(&mut self, bytes: usize);
}

/// No budget: only the size limit holds (tests, tools, fuzzing).
#[derive(Debug, Default, Clone, Copy)]
pub struct Unlimited;

impl Budget for Unlimited {
    fn grow_to(&mut self, _bytes: usize) -> bool {
        true
    }

    fn shrink_to(&mut self, _bytes: usize) {}
}

/// A supported `Content-Encoding`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// No compression.
    Identity,
    /// gzip (also `x-gzip`).
    Gzip,
    /// zlib-wrapped deflate (raw deflate is accepted too).
    Deflate,
    /// Brotli.
    Brotli,
    /// Zstandard.
    Zstd,
}

impl Encoding {
    /// Every encoding, for tests and fuzzing.
    pub const ALL: [Encoding; 5] = [
        Encoding::Identity,
        Encoding::Gzip,
        Encoding::Deflate,
        Encoding::Brotli,
        Encoding::Zstd,
    ];

    /// The encoding named by a `Content-Encoding` header value (case-insensitive; empty means
    /// identity).
    pub fn from_header_value(value: &str) -> Result<Encoding, DecodeError> {
        let raw = value.trim().to_ascii_lowercase();
        match raw.as_str() {
            "" | "identity" => Ok(Encoding::Identity),
            "gzip" | "x-gzip" => Ok(Encoding::Gzip),
            "deflate" => Ok(Encoding::Deflate),
            "br" => Ok(Encoding::Brotli),
            "zstd" => Ok(Encoding::Zstd),
            _ => Err(DecodeError::UnsupportedEncoding(raw)),
        }
    }

    /// The header value, as counted in metrics.
    pub fn name(self) -> &'static str {
        match self {
            Encoding::Identity => "identity",
            Encoding::Gzip => "gzip",
            Encoding::Deflate => "deflate",
            Encoding::Brotli => "br",
            Encoding::Zstd => "zstd",
        }
    }
}

/// Decompresses `body`, refusing output past `limit` bytes; the output is reserved in `budget`
/// as it grows (beside the input, which the caller holds), and only the output stays reserved
/// once it is decoded. `what` names the size in errors.
pub fn decode(
    encoding: Encoding,
    body: Bytes,
    limit: usize,
    what: &'static str,
    budget: &mut impl Budget,
) -> Result<Bytes, DecodeError> {
    let too_large = DecodeError::TooLarge { what, limit };
    if encoding == Encoding::Identity {
        return if body.len() > limit {
            Err(too_large)
        } else {
            Ok(body)
        };
    }
    let corrupt = |e: std::io::Error| DecodeError::Corrupt {
        encoding: encoding.name(),
        reason: e.to_string(),
    };
    let data: &[u8] = &body;
    let held = data.len();
    let out = match encoding {
        Encoding::Identity => unreachable!("handled above"),
        Encoding::Gzip => read_capped(flate2::read::MultiGzDecoder::new(data), limit, held, budget),
        Encoding::Deflate => {
            if is_zlib(data) {
                read_capped(flate2::read::ZlibDecoder::new(data), limit, held, budget)
            } else {
                read_capped(flate2::read::DeflateDecoder::new(data), limit, held, budget)
            }
        }
        Encoding::Brotli => read_capped(
            brotli_decompressor::Decompressor::new(data, 4096),
            limit,
            held,
            budget,
        ),
        Encoding::Zstd => {
            let decoder = zstd::stream::read::Decoder::with_buffer(data).map_err(corrupt)?;
            read_capped(decoder, limit, held, budget)
        }
    };
    drop(body);
    match out {
        Ok(Capped::Whole(out)) => {
            budget.shrink_to(out.len());
            Ok(Bytes::from(out))
        }
        Ok(Capped::TooLarge) => Err(too_large),
        Ok(Capped::Busy) => Err(DecodeError::Busy),
        Err(e) => Err(corrupt(e)),
    }
}

/// RFC 9110 says zlib for `deflate`; some clients send raw deflate. A zlib stream starts with a
/// header whose 16-bit value is a multiple of 31.
fn is_zlib(data: &[u8]) -> bool {
    data.len() >= 2 && (u16::from(data[0]) << 8 | u16::from(data[1])) % 31 == 0
}

/// What [`read_capped`] got.
enum Capped {
    Whole(Vec<u8>),
    TooLarge,
    Busy,
}

/// Reads at most `limit` bytes, reserving the buffer (beside the `held` input) as it grows.
fn read_capped(
    mut reader: impl Read,
    limit: usize,
    held: usize,
    budget: &mut impl Budget,
) -> std::io::Result<Capped> {
    // Typical ratios are 3–10×; start there instead of growing from nothing. The buffer is
    // grown (and zeroed) by doubling, so each byte is zeroed once on average.
    let first = held
        .saturating_mul(4)
        .max(4096)
        .min(limit.saturating_add(1));
    let mut buf: Vec<u8> = Vec::new();
    let mut filled = 0;
    loop {
        if filled == buf.len() {
            if buf.len() > limit {
                return Ok(Capped::TooLarge);
            }
            let next = if buf.is_empty() {
                first
            } else {
                buf.len().saturating_mul(2).min(limit.saturating_add(1))
            };
            // The new size is what stays; the old buffer's copy during the move is transient
            // (one per request at a time) and left out, so that one envelope of the largest
            // allowed size fits a budget only a little larger than it.
            if !budget.grow_to(held + next) {
                return Ok(Capped::Busy);
            }
            buf.resize(next, 0);
        }
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    if filled > limit {
        return Ok(Capped::TooLarge);
    }
    buf.truncate(filled);
    Ok(Capped::Whole(buf))
}

/// The first `max` bytes of a compressed body at most (for the envelope header line, which
/// authenticates the rest): never more, whatever the body inflates to.
pub fn decode_prefix(encoding: Encoding, body: &[u8], max: usize) -> Result<Vec<u8>, DecodeError> {
    let corrupt = |e: std::io::Error| DecodeError::Corrupt {
        encoding: encoding.name(),
        reason: e.to_string(),
    };
    let cap = u64::try_from(max).unwrap_or(u64::MAX);
    let mut out = Vec::with_capacity(max.min(body.len().saturating_mul(4)).max(256));
    let result = match encoding {
        Encoding::Identity => {
            out.extend_from_slice(&body[..body.len().min(max)]);
            Ok(0)
        }
        Encoding::Gzip => flate2::read::MultiGzDecoder::new(body)
            .take(cap)
            .read_to_end(&mut out),
        Encoding::Deflate => {
            if is_zlib(body) {
                flate2::read::ZlibDecoder::new(body)
                    .take(cap)
                    .read_to_end(&mut out)
            } else {
                flate2::read::DeflateDecoder::new(body)
                    .take(cap)
                    .read_to_end(&mut out)
            }
        }
        Encoding::Brotli => brotli_decompressor::Decompressor::new(body, 4096)
            .take(cap)
            .read_to_end(&mut out),
        Encoding::Zstd => zstd::stream::read::Decoder::with_buffer(body)
            .and_then(|d| d.take(cap).read_to_end(&mut out)),
    };
    // A stream cut off by `take` is fine; a corrupt one is not, unless the header line is
    // already complete (the rest is judged when the whole body is decoded).
    match result {
        Ok(_) => Ok(out),
        Err(_) if out.contains(&b'\n') => Ok(out),
        Err(e) => Err(corrupt(e)),
    }
}

/// The legacy `/store/` form: base64 of zlib-compressed JSON, sent without a Content-Encoding.
/// Anything else (JSON, or text that is not base64) is returned as it came.
pub fn decode_legacy_store(
    body: Bytes,
    limit: usize,
    budget: &mut impl Budget,
) -> Result<Bytes, DecodeError> {
    let trimmed = body.trim_ascii();
    if trimmed.first().is_none_or(|&b| b == b'{' || b == b'[') {
        return Ok(body);
    }
    let Ok(raw) = base64::engine::general_purpose::STANDARD.decode(trimmed) else {
        return Ok(body);
    };
    drop(body);
    decode(
        Encoding::Deflate,
        Bytes::from(raw),
        limit,
        "the event",
        budget,
    )
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn gzip(data: &[u8]) -> Bytes {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        Bytes::from(e.finish().unwrap())
    }

    #[test]
    fn every_encoding_decodes() {
        let data = b"{\"message\": \"hello hello hello hello\"}".repeat(10);
        let gz = gzip(&data);
        assert_eq!(
            decode(Encoding::Gzip, gz, 1 << 20, "x", &mut Unlimited).unwrap(),
            data
        );

        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(&data).unwrap();
        assert_eq!(
            decode(
                Encoding::Deflate,
                z.finish().unwrap().into(),
                1 << 20,
                "x",
                &mut Unlimited
            )
            .unwrap(),
            data
        );

        let mut raw =
            flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        raw.write_all(&data).unwrap();
        assert_eq!(
            decode(
                Encoding::Deflate,
                raw.finish().unwrap().into(),
                1 << 20,
                "x",
                &mut Unlimited
            )
            .unwrap(),
            data
        );

        let zs = zstd::bulk::compress(&data, 3).unwrap();
        assert_eq!(
            decode(Encoding::Zstd, zs.into(), 1 << 20, "x", &mut Unlimited).unwrap(),
            data
        );

        assert_eq!(
            decode(
                Encoding::Identity,
                Bytes::from(data.clone()),
                1 << 20,
                "x",
                &mut Unlimited
            )
            .unwrap(),
            data
        );
    }

    #[test]
    fn bombs_stop_at_the_limit() {
        let zeros = vec![0u8; 50 << 20];
        let gz = gzip(&zeros);
        assert!(
            gz.len() < 200 << 10,
            "a 50 MiB bomb compresses to {} bytes",
            gz.len()
        );
        let err = decode(Encoding::Gzip, gz, 1 << 20, "the envelope", &mut Unlimited).unwrap_err();
        assert!(
            matches!(err, DecodeError::TooLarge { limit, .. } if limit == 1 << 20),
            "{err}"
        );
    }

    #[test]
    fn corrupt_and_unknown_encodings_are_refused() {
        assert!(matches!(
            decode(
                Encoding::Gzip,
                Bytes::from_static(b"not gzip"),
                100,
                "x",
                &mut Unlimited
            ),
            Err(DecodeError::Corrupt { .. })
        ));
        assert!(matches!(
            Encoding::from_header_value("compress"),
            Err(DecodeError::UnsupportedEncoding(_))
        ));
        assert_eq!(
            Encoding::from_header_value(" X-GZIP ").unwrap(),
            Encoding::Gzip
        );
        assert_eq!(Encoding::from_header_value("").unwrap(), Encoding::Identity);
        for encoding in Encoding::ALL {
            assert_eq!(
                Encoding::from_header_value(encoding.name()).unwrap(),
                encoding
            );
        }
    }

    #[test]
    fn a_prefix_never_inflates_past_its_cap() {
        let mut body = b"{\"dsn\": \"http://k@h/1\"}\n".to_vec();
        body.extend(vec![b'x'; 50 << 20]);
        let gz = gzip(&body);
        let prefix = decode_prefix(Encoding::Gzip, &gz, 1024).unwrap();
        assert_eq!(prefix.len(), 1024);
        assert!(prefix.starts_with(b"{\"dsn\""));
        assert!(decode_prefix(Encoding::Gzip, b"not gzip", 1024).is_err());
    }

    /// A budget of `room` bytes.
    struct Room(usize, usize);

    impl Budget for Room {
        fn grow_to(&mut self, bytes: usize) -> bool {
            let fits = bytes <= self.0;
            if fits {
                self.1 = bytes;
            }
            fits
        }

        fn shrink_to(&mut self, bytes: usize) {
            self.1 = bytes;
        }
    }

    #[test]
    fn output_is_reserved_before_it_is_allocated() {
        let gz = gzip(&vec![0u8; 8 << 20]);
        let err = decode(
            Encoding::Gzip,
            gz.clone(),
            6 << 20,
            "x",
            &mut Room(1 << 20, 0),
        )
        .unwrap_err();
        assert!(matches!(err, DecodeError::Busy), "{err}");
        let data = b"{\"message\": \"x\"}".repeat(20_000);
        let mut room = Room(64 << 20, 0);
        let out = decode(Encoding::Gzip, gzip(&data), 1 << 20, "x", &mut room).unwrap();
        assert_eq!(out.len(), data.len());
        assert_eq!(room.1, out.len(), "only the output stays reserved");
    }

    #[test]
    fn legacy_store_bodies_decode() {
        let json = br#"{"message": "legacy"}"#;
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(json).unwrap();
        let b64 = base64::engine::general_purpose::STANDARD.encode(z.finish().unwrap());
        assert_eq!(
            decode_legacy_store(Bytes::from(b64), 1 << 20, &mut Unlimited).unwrap(),
            &json[..]
        );
        assert_eq!(
            decode_legacy_store(Bytes::from_static(json), 1 << 20, &mut Unlimited).unwrap(),
            &json[..]
        );
    }
}
