//! Request bodies: read under a size limit, then decompressed under another.
//!
//! Both limits hold while streaming: the compressed body stops being read one byte past
//! `max_request_bytes`, and the decoders of [`mesher_protocol::compression`] stop one byte
//! past their limit, so a decompression bomb allocates at most its limit before it is refused
//! with 413. This module is the HTTP side: the header, the body stream and the error mapping.

use axum::body::{Body, Bytes};
use axum::http::HeaderMap;
use axum::http::header::CONTENT_ENCODING;
use http_body_util::{BodyExt, Limited};
use mesher_protocol::compression::{DecodeError, Encoding};
use thiserror::Error;

use crate::error::ApiError;

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
}

impl From<DecodeError> for BodyError {
    fn from(e: DecodeError) -> Self {
        match e {
            DecodeError::TooLarge { what, limit } => BodyError::TooLarge { what, limit },
            DecodeError::UnsupportedEncoding(raw) => BodyError::UnsupportedEncoding(raw),
            DecodeError::Corrupt { encoding, reason } => BodyError::Corrupt { encoding, reason },
        }
    }
}

/// Lets handlers `?` a decode result: the same statuses as a [`BodyError`].
impl From<DecodeError> for ApiError {
    fn from(e: DecodeError) -> Self {
        ApiError::from(BodyError::from(e))
    }
}

/// Reads a whole body, refusing it one byte past `limit`.
pub async fn read_limited(body: Body, limit: usize) -> Result<Bytes, BodyError> {
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(BodyError::TooLarge {
            what: "the request body",
            limit,
        }),
        Err(e) => Err(BodyError::Read(e.to_string())),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_encodings_are_refused() {
        let mut h = HeaderMap::new();
        assert_eq!(encoding_from_headers(&h).unwrap(), Encoding::Identity);
        h.insert(CONTENT_ENCODING, "compress".parse().unwrap());
        assert!(matches!(
            encoding_from_headers(&h),
            Err(BodyError::UnsupportedEncoding(_))
        ));
        h.insert(CONTENT_ENCODING, "X-GZIP".parse().unwrap());
        assert_eq!(encoding_from_headers(&h).unwrap(), Encoding::Gzip);
    }

    #[test]
    fn decode_errors_keep_their_status() {
        let e = ApiError::from(DecodeError::TooLarge {
            what: "the event",
            limit: 10,
        });
        assert!(matches!(e, ApiError::PayloadTooLarge(_)), "{e:?}");
        let e = ApiError::from(DecodeError::Corrupt {
            encoding: "gzip",
            reason: "bad".into(),
        });
        assert!(matches!(e, ApiError::BadRequest(_)), "{e:?}");
    }
}
