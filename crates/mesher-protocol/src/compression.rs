//! Request body decompression under a size limit: `Content-Encoding` bodies and the legacy
//! `/store/` form (base64 of zlib).
//!
//! The limit holds while streaming: a decoder is read through `take(limit + 1)`, so a
//! decompression bomb allocates at most its limit before it is refused. Reading the
//! compressed body itself under a limit is the server's part (`mesher_server::ingest::body`).

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

/// Decompresses `body`, refusing output past `limit` bytes. `what` names the size in errors.
pub fn decode(
    encoding: Encoding,
    body: Bytes,
    limit: usize,
    what: &'static str,
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
    let out = match encoding {
        Encoding::Identity => unreachable!("handled above"),
        Encoding::Gzip => read_capped(flate2::read::MultiGzDecoder::new(data), limit, data.len()),
        Encoding::Deflate => {
            // RFC 9110 says zlib; some clients send raw deflate. A zlib stream starts with a
            // header whose 16-bit value is a multiple of 31.
            let zlib = data.len() >= 2 && (u16::from(data[0]) << 8 | u16::from(data[1])) % 31 == 0;
            if zlib {
                read_capped(flate2::read::ZlibDecoder::new(data), limit, data.len())
            } else {
                read_capped(flate2::read::DeflateDecoder::new(data), limit, data.len())
            }
        }
        Encoding::Brotli => read_capped(
            brotli_decompressor::Decompressor::new(data, 4096),
            limit,
            data.len(),
        ),
        Encoding::Zstd => {
            let decoder = zstd::stream::read::Decoder::with_buffer(data).map_err(corrupt)?;
            read_capped(decoder, limit, data.len())
        }
    };
    match out {
        Ok(Some(out)) => Ok(Bytes::from(out)),
        Ok(None) => Err(too_large),
        Err(e) => Err(corrupt(e)),
    }
}

/// Reads at most `limit` bytes; `None` when there was more.
fn read_capped(
    reader: impl Read,
    limit: usize,
    compressed: usize,
) -> std::io::Result<Option<Vec<u8>>> {
    // Typical ratios are 3–10×; start there instead of growing from nothing.
    let mut out = Vec::with_capacity(compressed.saturating_mul(4).min(limit));
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    reader.take(cap).read_to_end(&mut out)?;
    if out.len() > limit {
        return Ok(None);
    }
    Ok(Some(out))
}

/// The legacy `/store/` form: base64 of zlib-compressed JSON, sent without a Content-Encoding.
/// Anything else (JSON, or text that is not base64) is returned as it came.
pub fn decode_legacy_store(body: Bytes, limit: usize) -> Result<Bytes, DecodeError> {
    let trimmed = body.trim_ascii();
    if trimmed.first().is_none_or(|&b| b == b'{' || b == b'[') {
        return Ok(body);
    }
    let Ok(raw) = base64::engine::general_purpose::STANDARD.decode(trimmed) else {
        return Ok(body);
    };
    decode(Encoding::Deflate, Bytes::from(raw), limit, "the event")
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
        assert_eq!(decode(Encoding::Gzip, gz, 1 << 20, "x").unwrap(), data);

        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(&data).unwrap();
        assert_eq!(
            decode(Encoding::Deflate, z.finish().unwrap().into(), 1 << 20, "x").unwrap(),
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
                "x"
            )
            .unwrap(),
            data
        );

        let zs = zstd::bulk::compress(&data, 3).unwrap();
        assert_eq!(
            decode(Encoding::Zstd, zs.into(), 1 << 20, "x").unwrap(),
            data
        );

        assert_eq!(
            decode(Encoding::Identity, Bytes::from(data.clone()), 1 << 20, "x").unwrap(),
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
        let err = decode(Encoding::Gzip, gz, 1 << 20, "the envelope").unwrap_err();
        assert!(
            matches!(err, DecodeError::TooLarge { limit, .. } if limit == 1 << 20),
            "{err}"
        );
    }

    #[test]
    fn corrupt_and_unknown_encodings_are_refused() {
        assert!(matches!(
            decode(Encoding::Gzip, Bytes::from_static(b"not gzip"), 100, "x"),
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
    fn legacy_store_bodies_decode() {
        let json = br#"{"message": "legacy"}"#;
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(json).unwrap();
        let b64 = base64::engine::general_purpose::STANDARD.encode(z.finish().unwrap());
        assert_eq!(
            decode_legacy_store(Bytes::from(b64), 1 << 20).unwrap(),
            &json[..]
        );
        assert_eq!(
            decode_legacy_store(Bytes::from_static(json), 1 << 20).unwrap(),
            &json[..]
        );
    }
}
