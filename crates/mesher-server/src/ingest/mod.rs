//! Ingestion endpoints (INGEST-01 … INGEST-06).
//!
//! - Sentry: `POST /api/{project_id}/envelope/` and `POST /api/{project_id}/store/`
//!   ([`sentry`]), also under the path prefix of `public_url`.
//! - Native: `POST /api/v1/events`, `POST /api/v1/events/bulk` and the WebSocket
//!   `GET /api/v1/ingest` ([`native`], [`ws`]).
//!
//! Each request: authenticate ([`auth`]) → read and decompress under limits ([`body`]) →
//! parse and normalize (mesher-protocol) → sample, rate-limit, queue and wait for the commit
//! ([`accept`]) → answer with the event id.

mod accept;
mod auth;
pub mod body;
mod native;
mod sentry;
mod ws;

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, DefaultBodyLimit, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderName, Method, header};
use axum::routing::{get, post};
use mesher_protocol::{EventId, NormalizeContext, Timestamp};
use mesher_store::Project;
use tower_http::cors::{Any, CorsLayer};

use crate::error::ApiError;
use crate::state::AppState;

/// The ingest routes, mounted at the root and under `prefix` (the path of `public_url`).
pub fn routes(prefix: &str) -> Router<AppState> {
    let sentry = Router::new()
        .route("/api/{project_id}/envelope/", post(sentry::envelope))
        .route("/api/{project_id}/envelope", post(sentry::envelope))
        .route("/api/{project_id}/store/", post(sentry::store))
        .route("/api/{project_id}/store", post(sentry::store));
    let sentry = if prefix.is_empty() {
        sentry
    } else {
        sentry.clone().nest(prefix, sentry)
    };
    #[cfg(feature = "bench-sink")]
    let sentry = sentry.route("/api/{project_id}/envelope-sink/", post(sentry::sink));
    Router::new()
        .merge(sentry)
        .route("/api/v1/events", post(native::event))
        .route("/api/v1/events/bulk", post(native::bulk))
        .route("/api/v1/ingest", get(ws::upgrade))
        // Bodies are limited while streaming, per endpoint (see `body`).
        .layer(DefaultBodyLimit::disable())
        .layer(cors())
}

/// CORS for browser SDKs, as Relay answers it (protocol doc A3).
fn cors() -> CorsLayer {
    let h = |s: &'static str| HeaderName::from_static(s);
    CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::POST])
        .allow_headers([
            header::CONTENT_TYPE,
            header::CONTENT_ENCODING,
            header::CONTENT_LENGTH,
            header::AUTHORIZATION,
            header::ACCEPT,
            header::ORIGIN,
            header::REFERER,
            header::TRANSFER_ENCODING,
            h("x-sentry-auth"),
            h("x-requested-with"),
            h("x-forwarded-for"),
            h("authentication"),
            h("sentry-trace"),
            h("baggage"),
        ])
        .expose_headers([
            h("x-sentry-error"),
            h("x-sentry-rate-limits"),
            header::RETRY_AFTER,
        ])
        .max_age(Duration::from_secs(3600))
}

/// The client's address: the first `X-Forwarded-For` hop, else the peer address.
pub struct ClientIp(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let forwarded = parts
            .headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .and_then(|v| v.trim().parse().ok());
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        Ok(ClientIp(forwarded.or(peer)))
    }
}

/// The body encoding of a request, counted.
fn encoding(
    state: &AppState,
    headers: &axum::http::HeaderMap,
) -> Result<mesher_protocol::compression::Encoding, ApiError> {
    let encoding = body::encoding_from_headers(headers)?;
    state
        .metrics()
        .request_encodings
        .get_or_create(&crate::metrics::EncodingLabels {
            encoding: encoding.name(),
        })
        .inc();
    Ok(encoding)
}

/// A fresh event id for events that bring none.
fn generated_id() -> EventId {
    EventId::from_bytes(fastrand::u128(..).to_le_bytes())
}

/// Normalization settings for an event of `project` received now.
fn context(project: &Project, client_ip: Option<IpAddr>) -> NormalizeContext {
    let mut ctx = NormalizeContext::new(
        Timestamp::from_datetime(time::OffsetDateTime::now_utc()),
        generated_id(),
    );
    ctx.client_ip = client_ip;
    ctx.max_secs_in_past = i64::from(project.retention_days) * 24 * 60 * 60;
    ctx.default_platform = project.platform.clone();
    ctx
}

/// Runs CPU-heavy work on the blocking pool when the input is large, inline otherwise.
async fn cpu<T: Send + 'static>(
    size: usize,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    if size < body::BLOCKING_THRESHOLD {
        return Ok(f());
    }
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::Internal(format!("request processing failed: {e}")))
}

impl From<body::BodyError> for ApiError {
    fn from(e: body::BodyError) -> Self {
        match e {
            body::BodyError::TooLarge { .. } => ApiError::PayloadTooLarge(e.to_string()),
            body::BodyError::Read(_) => ApiError::BadRequest(e.to_string()),
            other => ApiError::BadRequest(other.to_string()),
        }
    }
}
