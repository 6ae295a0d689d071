//! Request bodies: read under a size limit and a rate floor, then decompressed under another
//! limit, every byte held counted against the node's [`BodyBudget`].
//!
//! Both size limits hold while streaming: the compressed body stops being read one byte past
//! `max_request_bytes`, and a decoder's output stops one byte past its limit, so a
//! decompression bomb allocates at most its limit before it is refused with 413 — and only when
//! the shared budget has room for it, so that many bombs at once cannot add up (issue 11).

use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use axum::http::HeaderMap;
use axum::http::header::CONTENT_ENCODING;
use http_body_util::BodyExt;
// The decoders are mesher-protocol's (pure, fuzzed); handlers reach them through here.
use mesher_protocol::compression::{Budget, DecodeError};
pub use mesher_protocol::compression::{Encoding, decode, decode_legacy_store, decode_prefix};
use thiserror::Error;
use tokio::time::Instant;

use super::budget::{Exhausted, Reservation};

/// Bodies larger than this are decompressed on the blocking pool, off the async workers.
pub const BLOCKING_THRESHOLD: usize = 64 * 1024;

/// Why a body was refused.
#[derive(Debug, Error)]
pub enum BodyError {
    /// The body as sent is over `max_request_bytes`.
    #[error("the request body is larger than the limit of {limit} bytes")]
    TooLarge {
        /// The limit.
        limit: usize,
    },
    /// Decoding failed (over its limit, corrupt, unknown encoding, or no room in the budget).
    #[error(transparent)]
    Decode(#[from] DecodeError),
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
    let too_large = || BodyError::TooLarge { limit };
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

/// The encoding named by the request's `Content-Encoding` header; identity without one.
pub fn encoding_from_headers(headers: &HeaderMap) -> Result<Encoding, BodyError> {
    let Some(value) = headers.get(CONTENT_ENCODING) else {
        return Ok(Encoding::Identity);
    };
    Ok(Encoding::from_header_value(
        value.to_str().unwrap_or_default(),
    )?)
}

/// The decoders hold what they inflate in the request's share of the node's budget.
impl Budget for Reservation {
    fn grow_to(&mut self, bytes: usize) -> bool {
        Reservation::grow_to(self, bytes).is_ok()
    }

    fn shrink_to(&mut self, bytes: usize) {
        Reservation::shrink_to(self, bytes);
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;
    use crate::ingest::budget::BodyBudget;

    fn gzip(data: &[u8]) -> Bytes {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        Bytes::from(e.finish().unwrap())
    }

    #[test]
    fn unknown_encodings_are_refused() {
        let mut h = HeaderMap::new();
        assert_eq!(encoding_from_headers(&h).unwrap(), Encoding::Identity);
        h.insert(CONTENT_ENCODING, "compress".parse().unwrap());
        assert!(matches!(
            encoding_from_headers(&h),
            Err(BodyError::Decode(DecodeError::UnsupportedEncoding(_)))
        ));
        h.insert(CONTENT_ENCODING, "X-GZIP".parse().unwrap());
        assert_eq!(encoding_from_headers(&h).unwrap(), Encoding::Gzip);
    }

    #[test]
    fn decode_errors_keep_their_status() {
        use crate::error::ApiError;
        use crate::ingest::error::IngestError;
        let to_api = |e: DecodeError| ApiError::from(IngestError::from(e));
        let e = to_api(DecodeError::TooLarge {
            what: "the event",
            limit: 10,
        });
        assert!(matches!(e, ApiError::PayloadTooLarge(_)), "{e:?}");
        let e = to_api(DecodeError::Corrupt {
            encoding: "gzip",
            reason: "bad".into(),
        });
        assert!(matches!(e, ApiError::BadRequest(_)), "{e:?}");
        let e = to_api(DecodeError::Busy);
        assert!(matches!(e, ApiError::Unavailable { .. }), "{e:?}");
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
        assert!(matches!(err, DecodeError::Busy), "{err}");
        drop(first);
        let err = decode(Encoding::Gzip, gz, 6 << 20, "x", &mut second).unwrap_err();
        assert!(matches!(err, DecodeError::TooLarge { .. }), "{err}");
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
