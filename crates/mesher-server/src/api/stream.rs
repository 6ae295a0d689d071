//! `GET /api/v1/projects/{project_id}/stream`: a project's live stream over WebSocket
//! (STREAM-01 … STREAM-05).
//!
//! Authenticated before the upgrade, like every API route: an API token (read scope) or the
//! session cookie, and with the cookie the `Origin` must be Mesher's own, or another site's page
//! could open the stream with the visitor's cookie (cross-site WebSocket hijacking). A project
//! the caller cannot see is 404 before the upgrade. Not in the OpenAPI document, which
//! describes request and response routes only.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::http::header::ORIGIN;
use axum::http::{HeaderMap, Method};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use mesher_store::{Role, Scope};
use serde::Deserialize;
use tokio::time::Instant;

use super::auth::{Caller, Credential};
use super::extract::QueryPairs;
use crate::error::ApiError;
use crate::live::{FilterSpec, Filters, Refused, Stream, StreamGuard, Tags, message};
use crate::state::AppState;

/// Close codes (RFC 6455 §7.4.1).
const GOING_AWAY: u16 = 1001;
const POLICY: u16 = 1008;
const TRY_AGAIN_LATER: u16 = 1013;
/// The longest client message (a `subscribe`); longer ones close the stream.
const MAX_CLIENT_MESSAGE: usize = 16 * 1024;

/// The upgrade.
pub async fn stream(
    State(state): State<AppState>,
    Path(project_id): Path<i64>,
    headers: HeaderMap,
    query: QueryPairs,
    caller: Result<Caller, ApiError>,
    ws: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Response {
    match prepare(&state, project_id, &headers, &query, caller).await {
        Err(e) => e.into_response(),
        Ok((user_id, filters)) => match ws {
            Err(_) => {
                ApiError::BadRequest("this is a WebSocket: connect with Upgrade: websocket".into())
                    .into_response()
            }
            // Clients send little (a `subscribe` now and then): a small read buffer per stream
            // instead of tungstenite's 128 KiB (measured: 5 % of the node's CPU went to
            // clearing it with 200 streams, and 25 MiB of memory).
            Ok(ws) => ws
                .read_buffer_size(4096)
                .max_message_size(MAX_CLIENT_MESSAGE)
                .on_upgrade(move |socket| {
                    let access = Access {
                        headers,
                        project_id,
                    };
                    session(state, access, user_id, filters, socket)
                }),
        },
    }
}

/// Who may open the stream, and its first filters.
async fn prepare(
    state: &AppState,
    project_id: i64,
    headers: &HeaderMap,
    query: &QueryPairs,
    caller: Result<Caller, ApiError>,
) -> Result<(i64, Filters), ApiError> {
    let caller = caller?;
    if caller.credential == Credential::Session && !same_origin(state, headers) {
        return Err(ApiError::Forbidden(
            "a live stream opened with the session cookie must come from Mesher's own pages \
             (Origin); other clients use an API token"
                .into(),
        ));
    }
    caller
        .project(state, project_id, Scope::Read, Role::Member)
        .await?;
    let spec = FilterSpec {
        level: query.get("level").map(str::to_owned),
        environment: query.get("environment").map(str::to_owned),
        release: query.get("release").map(str::to_owned),
        issue: query.parse("issue", |v| v.parse().ok())?,
        tag: Tags::Many(
            query
                .all("tag")
                .into_iter()
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
                .collect(),
        ),
        query: query.get("query").map(str::to_owned),
    };
    let filters = Filters::parse(spec).map_err(ApiError::BadRequest)?;
    Ok((caller.user_id, filters))
}

/// Whether the request's `Origin` is this server: its public URL's origin, or the host the
/// browser addressed (`Host`), as for the dashboard's forms.
fn same_origin(state: &AppState, headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(ORIGIN).and_then(|o| o.to_str().ok()) else {
        return false;
    };
    origin == state.public_url().origin().ascii_serialization()
        || crate::dashboard::origin_is_host(headers)
}

/// A client message.
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
enum ClientMessage {
    Subscribe {
        #[serde(default)]
        filters: FilterSpec,
    },
}

/// What let the stream open, checked again at every ping: a token revoked, a session ended or
/// a member removed closes the stream.
struct Access {
    headers: HeaderMap,
    project_id: i64,
}

impl Access {
    async fn check(&self, state: &AppState) -> Result<(), ApiError> {
        let caller = Caller::from_headers(state, &self.headers, &Method::GET).await?;
        caller
            .project(state, self.project_id, Scope::Read, Role::Member)
            .await
            .map(|_| ())
    }
}

async fn session(
    state: AppState,
    access: Access,
    user_id: i64,
    filters: Filters,
    mut socket: WebSocket,
) {
    let project_id = access.project_id;
    let spec = filters.spec().clone();
    let guard = match state.live().open(project_id, user_id, filters) {
        Ok(g) => g,
        Err(refused) => {
            let code = match refused {
                Refused::Node(_) => TRY_AGAIN_LATER,
                Refused::User(_) => POLICY,
            };
            let _ = socket.send(close(code, &refused.to_string())).await;
            return;
        }
    };
    let stream = guard.stream().clone();
    // The first messages go through the outbox, ahead of anything the hub queues.
    stream.outbox.push(message::subscribed(&spec));
    let now = mesher_store::now();
    match state.store().health(project_id, now).await {
        Ok(h) => stream.outbox.push(message::counts(
            &h,
            state.live().events_last_minute(project_id, now),
        )),
        Err(e) => tracing::warn!(error = %e, "cannot read counts for a new live stream"),
    }
    let why = serve(&state, &access, &guard, socket).await;
    tracing::debug!(project_id, user_id, why, "live stream closed");
}

/// Runs a stream until it ends; says why.
async fn serve(
    state: &AppState,
    access: &Access,
    guard: &StreamGuard,
    socket: WebSocket,
) -> &'static str {
    let stream = guard.stream();
    let interval = state.live().settings().ping_interval;
    let patience = interval * 2;
    let (mut sink, incoming) = socket.split();
    // The client's side is read by a task of its own: polling the socket in the loop below
    // would read it (and clear a read buffer) every time the outbox wakes the loop.
    let started = Instant::now();
    let heard = Arc::new(AtomicU64::new(0));
    let mut reader = AbortOnDrop(tokio::spawn(read(
        incoming,
        stream.clone(),
        heard.clone(),
        started,
    )));
    let shutdown = state.shutdown();
    let mut ping = tokio::time::interval_at(Instant::now() + interval, interval);
    loop {
        tokio::select! {
            () = stream.outbox.ready() => {
                let taken = stream.outbox.take();
                let lagged = (taken.missed > 0).then(|| message::lagged(taken.missed));
                let frames = lagged.into_iter().chain(taken.messages).map(Message::Text);
                // A client that does not take its messages for two ping intervals is gone.
                let sent = tokio::time::timeout(patience, async {
                    for f in frames {
                        sink.feed(f).await?;
                    }
                    sink.flush().await
                })
                .await;
                match sent {
                    Ok(Ok(())) => {}
                    Ok(Err(_)) => return "send failed",
                    Err(_) => {
                        say_goodbye(&mut sink, POLICY, "too slow: messages were not read").await;
                        return "too slow";
                    }
                }
            }
            why = &mut reader.0 => return why.unwrap_or("reader failed"),
            _ = ping.tick() => {
                let last = Duration::from_millis(heard.load(Ordering::Relaxed));
                if started.elapsed().saturating_sub(last) > patience {
                    say_goodbye(&mut sink, POLICY, "no answer to pings").await;
                    return "dead";
                }
                match access.check(state).await {
                    Ok(()) => {}
                    Err(e) if e.status().is_client_error() => {
                        say_goodbye(&mut sink, POLICY, &format!("access revoked: {e}")).await;
                        return "access revoked";
                    }
                    // The database did not answer: the stream goes on until it does.
                    Err(_) => {}
                }
                if tokio::time::timeout(patience, sink.send(Message::Ping(Default::default())))
                    .await
                    .is_err()
                {
                    return "ping not sent";
                }
            }
            () = shutdown.cancelled() => {
                say_goodbye(&mut sink, GOING_AWAY, "the server is shutting down").await;
                return "shutdown";
            }
        }
    }
}

/// Reads the client's messages until it closes; `heard` is the time of the last one, in
/// milliseconds since `started` (pongs prove life too).
async fn read(
    mut incoming: SplitStream<WebSocket>,
    stream: Arc<Stream>,
    heard: Arc<AtomicU64>,
    started: Instant,
) -> &'static str {
    while let Some(m) = incoming.next().await {
        let ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        heard.store(ms, Ordering::Relaxed);
        match m {
            Ok(Message::Text(text)) => subscribe(&stream, &text),
            Ok(Message::Binary(_)) => {
                stream
                    .outbox
                    .push(message::error("send JSON messages as text frames"));
            }
            Ok(Message::Close(_)) => return "closed by the client",
            Ok(_) => {} // pings are answered by the library
            Err(_) => return "receive failed",
        }
    }
    "closed by the client"
}

/// Sends a close frame, giving up after a second: a client that reads nothing has a full
/// socket, and must not keep its stream (and its place under the caps) by it.
async fn say_goodbye(sink: &mut SplitSink<WebSocket, Message>, code: u16, reason: &str) {
    let _ = tokio::time::timeout(Duration::from_secs(1), sink.send(close(code, reason))).await;
}

/// Stops the reader task with its stream.
struct AbortOnDrop(tokio::task::JoinHandle<&'static str>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn subscribe(stream: &Stream, text: &Utf8Bytes) {
    let parsed = serde_json::from_str::<ClientMessage>(text.as_str())
        .map_err(|e| format!("not a subscribe message: {e}"))
        .and_then(|ClientMessage::Subscribe { filters }| Filters::parse(filters));
    match parsed {
        Ok(filters) => {
            let spec = filters.spec().clone();
            stream.set_filters(filters);
            stream.outbox.push(message::subscribed(&spec));
        }
        Err(e) => stream.outbox.push(message::error(&e)),
    }
}

fn close(code: u16, reason: &str) -> Message {
    Message::Close(Some(CloseFrame {
        code,
        reason: reason.into(),
    }))
}
