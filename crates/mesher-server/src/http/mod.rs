//! The HTTP surface: one router for every route, built by [`app`].

mod health;
mod serve;

pub(crate) use serve::serve;

use std::time::Duration;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tower_http::catch_panic::CatchPanicLayer;
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
        .layer(
            TraceLayer::new_for_http().on_response(
                tower_http::trace::DefaultOnResponse::new().level(tracing::Level::DEBUG),
            ),
        )
        .with_state(state)
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
