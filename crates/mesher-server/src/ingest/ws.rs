//! `GET /api/v1/ingest`: a WebSocket that takes one event per text frame (INGEST-05).
//!
//! Authenticated at the upgrade like the HTTP endpoints (headers or `?sentry_key=`). Every frame
//! is answered, in order, with `{"id": …}` once the event is committed, or with
//! `{"error": {"code", "message"}}`. Each connection runs in its own task: a failure in one never
//! reaches another (RESIL-02).

use std::net::IpAddr;

use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::http::{HeaderMap, Uri};
use axum::response::{IntoResponse, Response};
use mesher_protocol::normalize_event;
use mesher_store::Project;
use serde_json::json;

use super::accept::{Candidate, accept};
use super::auth::{authenticate, credentials};
use super::{ClientIp, context, cpu};
use crate::error::ApiError;
use crate::metrics::Outcome;
use crate::state::AppState;

/// The upgrade: authenticate first, then hand the socket to [`session`].
pub async fn upgrade(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    uri: Uri,
    ws: WebSocketUpgrade,
) -> Response {
    let sources = match credentials(&headers, uri.query(), None) {
        Ok(s) => s,
        Err(e) => return e.into_response(),
    };
    let auth = match authenticate(&state, &sources, None).await {
        Ok(a) => a,
        Err(e) => return e.into_response(),
    };
    let max = state.settings().limits.max_event_bytes;
    ws.max_message_size(max)
        .max_frame_size(max)
        .on_upgrade(move |socket| session(state, auth.project, ip, socket))
}

async fn session(
    state: AppState,
    project: std::sync::Arc<Project>,
    ip: Option<IpAddr>,
    mut socket: WebSocket,
) {
    let shutdown = state.shutdown();
    loop {
        let message = tokio::select! {
            m = socket.recv() => m,
            _ = shutdown.cancelled() => {
                let _ = socket.send(Message::Close(None)).await;
                return;
            }
        };
        state.faults().hit("ingest-socket").await;
        let reply = match message {
            Some(Ok(Message::Text(text))) => {
                match frame(&state, &project, ip, text.as_str().as_bytes().to_vec()).await {
                    Ok(id) => json!({"id": id}),
                    Err(e) => json!({"error": {"code": e.code(), "message": e.public_message()}}),
                }
            }
            Some(Ok(Message::Binary(_))) => {
                state.metrics().outcome(Outcome::Invalid, 1);
                json!({"error": {"code": "bad_request", "message": "send each event as a text frame of JSON"}})
            }
            Some(Ok(Message::Close(_))) | None => return,
            Some(Ok(_)) => continue, // ping/pong are answered by the library
            Some(Err(e)) => {
                tracing::debug!(error = %e, "ingest socket failed");
                return;
            }
        };
        if socket
            .send(Message::Text(reply.to_string().into()))
            .await
            .is_err()
        {
            return;
        }
    }
}

async fn frame(
    state: &AppState,
    project: &Project,
    ip: Option<IpAddr>,
    data: Vec<u8>,
) -> Result<String, ApiError> {
    let ctx = context(&state.settings().limits, project, ip);
    let bytes = data.len();
    let event = cpu(state, bytes, move || normalize_event(&data, &ctx))
        .await?
        .map_err(|e| {
            state.metrics().outcome(Outcome::Invalid, 1);
            ApiError::BadRequest(format!("invalid event: {e}"))
        })?;
    match accept(state, project, vec![Candidate { event, bytes }])
        .await?
        .pop()
    {
        Some(Ok(id)) => Ok(id.to_string()),
        Some(Err(e)) => Err(e),
        None => Err(ApiError::Internal("no answer for the event".into())),
    }
}
