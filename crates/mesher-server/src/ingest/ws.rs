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
use mesher_store::Project;
use serde_json::Value;

use super::ClientIp;
use super::accept::{Candidate, accept_one};
use super::error::{IngestError, refuse, refuse_item};
use super::request::{IngestRequest, context, cpu, id_answer, normalize};
use crate::error::ApiError;
use crate::state::AppState;

/// The upgrade: authenticate first, then hand the socket to [`session`].
pub async fn upgrade(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    uri: Uri,
    ws: WebSocketUpgrade,
) -> Response {
    let request = IngestRequest::new(&state, ip, &headers, &uri);
    // Malformed credentials refuse the upgrade without an outcome: `invalid` counts malformed
    // events and none has been sent yet; a refused key counts `auth`, as on every route.
    let sources = match request.credentials() {
        Ok(s) => s,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let project = match request.authenticate(&sources, None).await {
        Ok(project) => project,
        Err(e) => return refuse(state.metrics(), None, e),
    };
    let max = state.settings().limits.max_event_bytes;
    ws.max_message_size(max)
        .max_frame_size(max)
        .on_upgrade(move |socket| session(state, project, ip, socket))
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
        let answer = match message {
            Some(Ok(Message::Text(text))) => {
                frame(&state, &project, ip, text.as_str().as_bytes().to_vec()).await
            }
            Some(Ok(Message::Binary(_))) => Err(IngestError::Invalid(
                "send each event as a text frame of JSON".into(),
            )),
            Some(Ok(Message::Close(_))) | None => return,
            Some(Ok(_)) => continue, // ping/pong are answered by the library
            Some(Err(e)) => {
                tracing::debug!(error = %e, "ingest socket failed");
                return;
            }
        };
        let reply: Value = match answer {
            Ok(id) => id_answer(id),
            Err(e) => refuse_item(state.metrics(), Some((state.outcomes(), project.id)), e),
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

/// One frame's event: normalized and accepted.
async fn frame(
    state: &AppState,
    project: &Project,
    ip: Option<IpAddr>,
    data: Vec<u8>,
) -> Result<mesher_protocol::EventId, IngestError> {
    let ctx = context(&state.settings().limits, project, ip);
    let bytes = data.len();
    let event = cpu(state, bytes, move || normalize(&data, &ctx)).await??;
    accept_one(state, project, Candidate { event, bytes }).await
}
