//! Request bodies: read under a size limit and a rate floor, then decompressed under another
//! limit, every byte held counted against the node's [`BodyBudget`].
//!
//! Both size limits hold while streaming: the compressed body stops being read one byte past
//! `max_request_bytes`, and a decoder's output stops one byte past its limit, so a
//! decompression bomb allocates at most its limit before it is refused with 413 — and only when
//! the shared budget has room for it, so that many bombs at once cannot add up (issue 11).

use std::io::Read;
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use axum::http::HeaderMap;
use axum::http::header::CONTENT_ENCODING;
use base64::Engine as _;
use http_body_util::BodyExt;
use thiserror::Error;
use tokio::time::Instant;

use super::budget::{Exhausted, Reservation};

/// Bodies larger than this are decompressed on the blocking pool, off the async workers.
pub const BLOCKING_THRESHOLD: usize = 64 * 1024;

/// Why a body was refused.
#[derive(Debug, Error)]
pub enum BodyError {
    /// Over a limit.
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
    /// The connection failed while reading.
    #[error("cannot read the request body: {0}")]
    Read(String),
    /// The node holds as many body bytes as its budget allows.
    #[error("the server is busy with other large requests; retry later")]
    Busy,
    /// The body arrived slower than the rate floor.
    #[error(
        "the request body arrived too slowly (under {min_bytes_per_sec} bytes per second after {grace_secs} s)"
    )]
    TooSlow {
        /// The floor.
        min_bytes_per_sec: u64,
        /// The grace period, in seconds.
        grace_secs: u64,
    },
}

impl From<Exhausted> for BodyError {
    fn from(_: Exhausted) -> Self {
        BodyError::Busy
    }
}

/// How fast a body must arrive: any pace during `grace`, then at least `min_bytes_per_sec` on
/// average since the start (0: no floor). Slow clients would otherwise hold a connection, a
/// task and their partial body for as long as they like.
#[derive(Debug, Clone, Copy)]
pub struct Pace {
    /// Time before the floor applies.
    pub grace: Duration,
    /// The floor.
    pub min_bytes_per_sec: u64,
}

impl Pace {
    /// When the next byte must have arrived, `received` bytes into a body started at `start`.
    fn deadline(&self, start: Instant, received: usize) -> Option<Instant> {
        if self.min_bytes_per_sec == 0 {
            return None;
        }
        let earned = Duration::from_secs_f64(received as f64 / self.min_bytes_per_sec as f64);
        Some(start + self.grace + earned)
    }
}

/// Reads a whole body, refusing it one byte past `limit`, below the `pace`, or when the budget
/// cannot hold it; what it holds stays reserved in `reservation`.
pub async fn read_body(
    mut body: Body,
    limit: usize,
    pace: Pace,
    reservation: &mut Reservation,
) -> Result<Bytes, BodyError> {
    let too_large = || BodyError::TooLarge {
        what: "the request body",
        limit,
    };
    // A declared length over the limit is refused before a byte is read.
    if usize::try_from(body.size_hint().lower()).unwrap_or(usize::MAX) > limit {
        return Err(too_large());
    }
    let start = Instant::now();
    let mut frames: Vec<Bytes> = Vec::new();
    let mut received = 0usize;
    loop {
        let next = match pace.deadline(start, received) {
            None => body.frame().await,
            Some(deadline) => tokio::time::timeout_at(deadline, body.frame())
                .await
                .map_err(|_| BodyError::TooSlow {
                    min_bytes_per_sec: pace.min_bytes_per_sec,
                    grace_secs: pace.grace.as_secs(),
                })?,
        };
        let data = match next {
            None => break,
            Some(Err(e)) => return Err(BodyError::Read(e.to_string())),
            Some(Ok(frame)) => match frame.into_data() {
                Ok(data) => data,
                Err(_) => continue, // trailers
            },
        };
        received += data.len();
        if received > limit {
            return Err(too_large());
        }
        reservation.grow_to(received)?;
        frames.push(data);
    }
    if frames.len() <= 1 {
        return Ok(frames.pop().unwrap_or_default());
    }
    // Joining holds the parts and the whole for a moment.
    reservation.grow_to(2 * received)?;
    let mut joined = Vec::with_capacity(received);
    for f in frames {
        joined.extend_from_slice(&f);
    }
    reservation.shrink_to(received);
    Ok(Bytes::from(joined))
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
    /// The encoding named by the request's `Content-Encoding` header.
    pub fn from_headers(headers: &HeaderMap) -> Result<Encoding, BodyError> {
        let Some(value) = headers.get(CONTENT_ENCODING) else {
            return Ok(Encoding::Identity);
        };
        let raw = value
            .to_str()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        match raw.as_str() {
            "" | "identity" => Ok(Encoding::Identity),
            "gzip" | "x-gzip" => Ok(Encoding::Gzip),
            "deflate" => Ok(Encoding::Deflate),
            "br" => Ok(Encoding::Brotli),
            "zstd" => Ok(Encoding::Zstd),
            _ => Err(BodyError::UnsupportedEncoding(raw)),
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

/// Decompresses `body`, refusing output past `limit` bytes; the output is reserved in
/// `reservation` as it grows, and the input's share is given back once it is decoded. `what`
/// names the size in errors.
pub fn decode(
    encoding: Encoding,
    body: Bytes,
    limit: usize,
    what: &'static str,
    reservation: &mut Reservation,
) -> Result<Bytes, BodyError> {
    let too_large = BodyError::TooLarge { what, limit };
    if encoding == Encoding::Identity {
        return if body.len() > limit {
            Err(too_large)
        } else {
            Ok(body)
        };
    }
    let corrupt = |e: std::io::Error| BodyError::Corrupt {
        encoding: encoding.name(),
        reason: e.to_string(),
    };
    let data: &[u8] = &body;
    let held = data.len();
    let out = match encoding {
        Encoding::Identity => unreachable!("handled above"),
        Encoding::Gzip => read_capped(
            flate2::read::MultiGzDecoder::new(data),
            limit,
            held,
            reservation,
        ),
        Encoding::Deflate => {
            // RFC 9110 says zlib; some clients send raw deflate. A zlib stream starts with a
            // header whose 16-bit value is a multiple of 31.
            let zlib = data.len() >= 2 && (u16::from(data[0]) << 8 | u16::from(data[1])) % 31 == 0;
            if zlib {
                read_capped(
                    flate2::read::ZlibDecoder::new(data),
                    limit,
                    held,
                    reservation,
                )
            } else {
                read_capped(
                    flate2::read::DeflateDecoder::new(data),
                    limit,
                    held,
                    reservation,
                )
            }
        }
        Encoding::Brotli => read_capped(
            brotli_decompressor::Decompressor::new(data, 4096),
            limit,
            held,
            reservation,
        ),
        Encoding::Zstd => {
            let decoder = zstd::stream::read::Decoder::with_buffer(data).map_err(corrupt)?;
            read_capped(decoder, limit, held, reservation)
        }
    };
    drop(body);
    match out {
        Ok(Capped::Whole(out)) => {
            reservation.shrink_to(out.len());
            Ok(Bytes::from(out))
        }
        Ok(Capped::TooLarge) => Err(too_large),
        Ok(Capped::Busy) => Err(BodyError::Busy),
        Err(e) => Err(corrupt(e)),
    }
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
    reservation: &mut Reservation,
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
            if reservation.grow_to(held + next).is_err() {
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
pub fn decode_prefix(encoding: Encoding, body: &[u8], max: usize) -> Result<Vec<u8>, BodyError> {
    let corrupt = |e: std::io::Error| BodyError::Corrupt {
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
            let zlib = body.len() >= 2 && (u16::from(body[0]) << 8 | u16::from(body[1])) % 31 == 0;
            if zlib {
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
pub fn decode_legacy_store(
    body: Bytes,
    limit: usize,
    reservation: &mut Reservation,
) -> Result<Bytes, BodyError> {
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
        reservation,
    )
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;
    use crate::ingest::budget::BodyBudget;

    fn res() -> Reservation {
        BodyBudget::new(1 << 30).reservation()
    }

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
            decode(Encoding::Gzip, gz, 1 << 20, "x", &mut res()).unwrap(),
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
                &mut res()
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
                &mut res()
            )
            .unwrap(),
            data
        );

        let zs = zstd::bulk::compress(&data, 3).unwrap();
        assert_eq!(
            decode(Encoding::Zstd, zs.into(), 1 << 20, "x", &mut res()).unwrap(),
            data
        );

        assert_eq!(
            decode(
                Encoding::Identity,
                Bytes::from(data.clone()),
                1 << 20,
                "x",
                &mut res()
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
        let err = decode(Encoding::Gzip, gz, 1 << 20, "the envelope", &mut res()).unwrap_err();
        assert!(
            matches!(err, BodyError::TooLarge { limit, .. } if limit == 1 << 20),
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
                &mut res()
            ),
            Err(BodyError::Corrupt { .. })
        ));
        let mut h = HeaderMap::new();
        h.insert(CONTENT_ENCODING, "compress".parse().unwrap());
        assert!(matches!(
            Encoding::from_headers(&h),
            Err(BodyError::UnsupportedEncoding(_))
        ));
        h.insert(CONTENT_ENCODING, "X-GZIP".parse().unwrap());
        assert_eq!(Encoding::from_headers(&h).unwrap(), Encoding::Gzip);
    }

    #[test]
    fn legacy_store_bodies_decode() {
        let json = br#"{"message": "legacy"}"#;
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(json).unwrap();
        let b64 = base64::engine::general_purpose::STANDARD.encode(z.finish().unwrap());
        assert_eq!(
            decode_legacy_store(Bytes::from(b64), 1 << 20, &mut res()).unwrap(),
            &json[..]
        );
        assert_eq!(
            decode_legacy_store(Bytes::from_static(json), 1 << 20, &mut res()).unwrap(),
            &json[..]
        );
    }

    /// Issue 11, finding 1: bombs decoding at once share one budget; the one that cannot get
    /// its share is refused as busy instead of allocating, and everything is given back.
    #[test]
    fn concurrent_bombs_share_the_budget() {
        let gz = gzip(&vec![0u8; 8 << 20]);
        let budget = BodyBudget::new(12 << 20);
        let mut first = budget.reservation();
        let mut second = budget.reservation();
        // Another request holds most of the budget: the bomb cannot get the 6 MiB it needs.
        first.grow_to(10 << 20).unwrap();
        let err = decode(Encoding::Gzip, gz.clone(), 6 << 20, "x", &mut second).unwrap_err();
        assert!(matches!(err, BodyError::Busy), "{err}");
        drop(first);
        let err = decode(Encoding::Gzip, gz, 6 << 20, "x", &mut second).unwrap_err();
        assert!(matches!(err, BodyError::TooLarge { .. }), "{err}");
        drop(second);
        assert_eq!(budget.in_use(), 0);
    }

    #[test]
    fn decoded_output_stays_reserved_and_the_input_share_is_returned() {
        let data = b"{\"message\": \"x\"}".repeat(20_000);
        let gz = gzip(&data);
        let budget = BodyBudget::new(64 << 20);
        let mut r = budget.reservation();
        r.grow_to(gz.len()).unwrap();
        let out = decode(Encoding::Gzip, gz, 1 << 20, "x", &mut r).unwrap();
        assert_eq!(out.len(), data.len());
        assert!(r.bytes() >= out.len() && r.bytes() < out.len() + (64 << 10));
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

    #[tokio::test]
    async fn bodies_are_reserved_and_limited_while_read() {
        let budget = BodyBudget::new(1 << 20);
        let pace = Pace {
            grace: Duration::from_secs(5),
            min_bytes_per_sec: 0,
        };
        let mut r = budget.reservation();
        let body = read_body(Body::from(vec![1u8; 300_000]), 1 << 20, pace, &mut r)
            .await
            .unwrap();
        assert_eq!(body.len(), 300_000);
        assert!(budget.in_use() >= 300_000);
        let mut other = budget.reservation();
        let err = read_body(Body::from(vec![1u8; 900_000]), 1 << 20, pace, &mut other)
            .await
            .unwrap_err();
        assert!(matches!(err, BodyError::Busy), "{err}");
        let err = read_body(Body::from(vec![1u8; 100]), 99, pace, &mut other)
            .await
            .unwrap_err();
        assert!(matches!(err, BodyError::TooLarge { .. }), "{err}");
    }

    /// Issue 11, finding 2: a body that trickles in under the floor is cut off once its grace
    /// has passed (controlled time).
    #[tokio::test(start_paused = true)]
    async fn a_trickling_body_is_cut_off_after_the_grace() {
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(1);
        tokio::spawn(async move {
            // 10 bytes a second against a floor of 100.
            for _ in 0..1000 {
                if tx
                    .send(Ok(Bytes::from_static(b"0123456789")))
                    .await
                    .is_err()
                {
                    return;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
        let stream = futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|item| (item, rx))
        });
        let body = Body::from_stream(stream);
        let pace = Pace {
            grace: Duration::from_secs(10),
            min_bytes_per_sec: 100,
        };
        let budget = BodyBudget::new(1 << 20);
        let started = Instant::now();
        let err = read_body(body, 1 << 20, pace, &mut budget.reservation())
            .await
            .unwrap_err();
        assert!(matches!(err, BodyError::TooSlow { .. }), "{err}");
        let took = started.elapsed();
        assert!(
            took >= Duration::from_secs(10) && took < Duration::from_secs(13),
            "{took:?}"
        );
    }
}
