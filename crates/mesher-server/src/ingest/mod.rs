//! Ingestion endpoints (INGEST-01 … INGEST-06).
//!
//! - Sentry: `POST /api/{project_id}/envelope/` and `POST /api/{project_id}/store/`
//!   ([`sentry`]), also under the path prefix of `public_url`.
//! - Native: `POST /api/v1/events`, `POST /api/v1/events/bulk` and the WebSocket
//!   `GET /api/v1/ingest` ([`native`], [`ws`]).
//!
//! Each request follows one skeleton ([`request`]): authenticate ([`auth`]) → read and
//! decompress under limits ([`body`]) → parse and normalize (mesher-protocol) → sample,
//! rate-limit, queue and wait for the commit ([`accept`]) → answer with the event id. Every
//! step fails with an [`error::IngestError`] that knows its outcome, counted where it is
//! answered.

pub(crate) mod accept;
mod auth;
pub mod body;
pub mod budget;
mod error;
mod native;
mod request;
mod sentry;
mod ws;

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, DefaultBodyLimit, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, Method, header};
use axum::routing::{get, post};
use tower_http::cors::{Any, CorsLayer};

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

/// The client's address: the TCP peer, unless the peer is one of `trusted_proxies`; then the
/// rightmost `X-Forwarded-For` hop that is not itself a trusted proxy.
///
/// Every hop left of the last untrusted one was written by someone we do not trust and could be
/// anything, so the walk starts at the right (the hop our own proxy appended) and stops at the
/// first address no trusted proxy vouches for. Without `trusted_proxies` the header is ignored:
/// anyone can send it. Sign-in throttling, the dashboard form and ingest all use this one rule.
pub struct ClientIp(pub Option<IpAddr>);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        Ok(ClientIp(client_ip(
            peer,
            &parts.headers,
            &state.settings().trusted_proxies,
        )))
    }
}

/// The rightmost-untrusted rule of [`ClientIp`], for a peer address and request headers.
pub fn client_ip(
    peer: Option<IpAddr>,
    headers: &HeaderMap,
    trusted: &[ipnet::IpNet],
) -> Option<IpAddr> {
    // An IPv4 client of a dual-stack socket shows up as ::ffff:a.b.c.d.
    let is_trusted = |ip: IpAddr| trusted.iter().any(|net| net.contains(&ip.to_canonical()));
    let peer = peer.map(|ip| ip.to_canonical())?;
    if !is_trusted(peer) {
        return Some(peer);
    }
    // Several headers count as one list, in order (RFC 9110 § 5.3).
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    let mut client = peer;
    for hop in hops.iter().rev() {
        match parse_hop(hop) {
            Some(ip) => {
                client = ip;
                if !is_trusted(ip) {
                    break;
                }
            }
            // A hop that is not an address: nothing left of it can be believed either.
            None => break,
        }
    }
    Some(client)
}

/// An `X-Forwarded-For` hop: an address, possibly with a port (`1.2.3.4:80`, `[::1]:80`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    hop.parse::<IpAddr>()
        .or_else(|_| hop.parse::<SocketAddr>().map(|s| s.ip()))
        .ok()
        .map(|ip| ip.to_canonical())
}

#[cfg(test)]
mod client_ip_tests {
    use super::*;

    fn headers(xff: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in xff {
            h.append("x-forwarded-for", v.parse().unwrap());
        }
        h
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    fn nets(list: &[&str]) -> Vec<ipnet::IpNet> {
        list.iter().map(|n| n.parse().unwrap()).collect()
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        let h = headers(&["203.0.113.9"]);
        assert_eq!(client_ip(ip("198.51.100.1"), &h, &[]), ip("198.51.100.1"));
        let trusted = nets(&["10.0.0.0/8"]);
        assert_eq!(
            client_ip(ip("198.51.100.1"), &h, &trusted),
            ip("198.51.100.1")
        );
        assert_eq!(client_ip(None, &h, &trusted), None);
    }

    #[test]
    fn the_rightmost_untrusted_hop_behind_trusted_proxies() {
        let trusted = nets(&["10.0.0.0/8", "127.0.0.1/32"]);
        // The client forged the first hop; our proxies appended the real one and themselves.
        let h = headers(&["1.1.1.1, 203.0.113.9", "10.0.0.2"]);
        assert_eq!(client_ip(ip("127.0.0.1"), &h, &trusted), ip("203.0.113.9"));
        // Through a dual-stack socket.
        assert_eq!(
            client_ip(ip("::ffff:127.0.0.1"), &h, &trusted),
            ip("203.0.113.9")
        );
        // No header: the proxy itself.
        assert_eq!(
            client_ip(ip("127.0.0.1"), &HeaderMap::new(), &trusted),
            ip("127.0.0.1")
        );
        // Every hop trusted: the leftmost one.
        let h = headers(&["10.1.1.1, 10.0.0.2"]);
        assert_eq!(client_ip(ip("127.0.0.1"), &h, &trusted), ip("10.1.1.1"));
        // Garbage stops the walk at the last address a trusted proxy vouched for.
        let h = headers(&["203.0.113.9, garbage, 10.0.0.2"]);
        assert_eq!(client_ip(ip("127.0.0.1"), &h, &trusted), ip("10.0.0.2"));
        // Ports are tolerated.
        let h = headers(&["[2001:db8::1]:443"]);
        assert_eq!(client_ip(ip("127.0.0.1"), &h, &trusted), ip("2001:db8::1"));
    }
}
