//! Mesher's server: HTTP endpoints, the ingestion pipeline and its supervisor, and the
//! dashboard.
//!
//! The data path of an event:
//!
//! 1. An ingest endpoint ([`ingest`]) authenticates the DSN key (cached, [`cache`]), reads and
//!    decompresses the body under limits, parses and normalizes the event (mesher-protocol),
//!    samples it and checks the project's rate limit ([`ratelimit`]).
//! 2. It submits the event to the [`pipeline`]'s bounded queue (full → 503) and waits.
//! 3. The processor service fingerprints the event and builds its stored form; the writer
//!    service commits batches in one transaction each (group commit).
//! 4. After the commit the writer acknowledges; the endpoint answers with the event id.
//!
//! A node is built by [`state::start`] and served by [`run`]: validated
//! [`config::Settings`], an open [`mesher_store::Store`], a bound listener and a shutdown token.
//! Nothing is global: two nodes can run in one process, which is how the tests run them.
#![warn(missing_docs)]

pub mod accounts;
pub mod alerts;
pub mod api;
pub mod cache;
pub mod cluster;
pub mod config;
pub mod dashboard;
mod error;
pub mod faults;
mod http;
pub mod ingest;
pub mod invitations;
pub mod jobs;
pub mod live;
pub mod login_throttle;
pub mod metrics;
pub mod ops;
pub mod outcomes;
pub mod pipeline;
pub mod ratelimit;
pub mod services;
pub mod sessions;
pub mod state;

use std::sync::Arc;
use std::time::Duration;

use mesher_store::Store;
use thiserror::Error;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use error::ApiError;
pub use http::app;
pub use state::AppState;

use crate::config::Settings;
use crate::faults::Faults;

/// The `instance_meta` key under which `serve` records its public URL, for the CLI.
pub const PUBLIC_URL_META: &str = "public_url";

/// Why a node stopped other than by being told to.
#[derive(Debug, Error)]
pub enum ServerError {
    /// Serving HTTP failed.
    #[error("HTTP server failed: {0}")]
    Io(#[from] std::io::Error),
    /// A service crashed more often than its restart budget allows.
    #[error("a service failed beyond its restart budget: {0}")]
    ServiceFailed(String),
}

/// Serves a node on `listener` until `shutdown` is cancelled, then stops accepting, lets
/// in-flight requests finish, drains the pipeline and returns.
///
/// # Cancel safety
/// Cancel `shutdown`, not this future: dropping the future drops in-flight requests.
pub async fn run(
    settings: Settings,
    store: Arc<dyn Store>,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), ServerError> {
    run_with(settings, store, listener, shutdown, Faults::default()).await
}

/// [`run`] with fault injection (tests).
pub async fn run_with(
    settings: Settings,
    store: Arc<dyn Store>,
    listener: TcpListener,
    shutdown: CancellationToken,
    faults: Faults,
) -> Result<(), ServerError> {
    let bound = listener.local_addr()?;
    let public_url = settings.public_url_for(bound);
    // The node's default name uses the port actually bound (`listen` may say 0).
    let mut settings = settings;
    settings.listen = bound;
    let state = state::start(settings, public_url, store, shutdown.clone(), faults);
    let failed = state.supervisor().failed();
    let drain = state.settings().limits.shutdown_timeout;
    let app = http::app(state.clone());
    let metrics = state.metrics_handle();
    // Stop serving on shutdown, or when a service failed for good.
    let stop = {
        let shutdown = shutdown.clone();
        let failed = failed.clone();
        let state = state.clone();
        async move {
            tokio::select! {
                _ = shutdown.cancelled() => {}
                _ = failed.cancelled() => {}
            }
            tracing::info!("shutting down: new events get 503, queued ones are committed");
            state.pipeline().close();
            // Long-lived connections (WebSockets) watch the node's token.
            shutdown.cancel();
        }
    };
    let serve = http::serve(
        listener,
        app,
        state.settings().connections.clone(),
        metrics,
        stop,
    );
    // In-flight requests get `drain` to finish once the shutdown began, not more.
    let deadline = {
        let shutdown = shutdown.clone();
        async move {
            shutdown.cancelled().await;
            tokio::time::sleep(drain).await;
        }
    };
    let served = tokio::select! {
        result = serve => Ok(result),
        () = deadline => Err(()),
    };
    state.pipeline().close();
    state
        .supervisor()
        .stop(state.pipeline_services(), drain)
        .await;
    state.supervisor().shutdown(Duration::from_secs(5)).await;
    state.cluster().leave().await;
    match served {
        Ok(result) => result?,
        Err(_) => tracing::warn!("requests still open after {drain:?}; closing them"),
    }
    if failed.is_cancelled() {
        let why = state
            .supervisor()
            .statuses()
            .into_iter()
            .filter(|s| s.state == services::ServiceState::Failed)
            .map(|s| format!("{}: {}", s.name, s.last_error.unwrap_or_default()))
            .collect::<Vec<_>>()
            .join("; ");
        return Err(ServerError::ServiceFailed(why));
    }
    Ok(())
}
