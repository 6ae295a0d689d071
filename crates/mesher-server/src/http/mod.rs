//! The HTTP surface: one router for every route, built by [`app`].

mod health;
mod serve;

pub(crate) use serve::serve;

use std::time::Duration;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, StatusCode, Version, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::predicate::{DefaultPredicate, Predicate};
use tower_http::compression::{CompressionLayer, CompressionLevel};
use tower_http::trace::TraceLayer;

use crate::error::ApiError;
use crate::metrics::HttpLabels;
use crate::state::AppState;

/// Every route of a node, with request tracing, metrics and panic isolation.
pub fn app(state: AppState) -> Router {
    let prefix = state.public_url().path().trim_end_matches('/').to_string();
    Router::new()
        .merge(crate::ingest::routes(&prefix))
        .merge(crate::api::routes())
        .merge(crate::dashboard::routes(&prefix))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .fallback(crate::dashboard::fallback)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            count_requests,
        ))
        // A panic in one handler answers that request with 500 and touches nothing else.
        .layer(CatchPanicLayer::custom(
            |_: Box<dyn std::any::Any + Send>| {
                ApiError::Internal("a request handler panicked".into()).into_response()
            },
        ))
        .layer(compression())
        .layer(
            TraceLayer::new_for_http().on_response(
                tower_http::trace::DefaultOnResponse::new().level(tracing::Level::DEBUG),
            ),
        )
        .with_state(state)
}

/// gzip or br, as the client prefers, for the dashboard's pages, stylesheet and scripts: they are
/// text that shrinks to a quarter. Nothing else: the API's JSON and the ingest answers are small,
/// images are compressed already, and the stream's WebSocket upgrade has no body. The default
/// predicate also skips tiny bodies and responses that carry a `Content-Encoding` already.
fn compression() -> CompressionLayer<impl Predicate> {
    let text = |_: StatusCode, _: Version, headers: &HeaderMap, _: &axum::http::Extensions| {
        headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                ["text/html", "text/css", "text/javascript"]
                    .iter()
                    .any(|t| v.starts_with(t))
            })
    };
    CompressionLayer::new()
        .gzip(true)
        .br(true)
        // Compressed on every request: brotli's default quality (11) is meant for compressing
        // once ahead of time and is many times slower; 4 is the usual level for dynamic content.
        .quality(CompressionLevel::Precise(4))
        .compress_when(DefaultPredicate::new().and(text))
}

async fn count_requests(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let method = req.method().to_string();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let response = next.run(req).await;
    state
        .metrics()
        .http_requests
        .get_or_create(&HttpLabels {
            method,
            route,
            status: response.status().as_u16(),
        })
        .inc();
    response
}

/// How long `/readyz` waits for the database before calling the node not ready.
pub(crate) const READY_TIMEOUT: Duration = Duration::from_secs(2);
