//! The skeleton of every ingest route, each step written once: authenticate, read the body
//! under the limits, decompress, normalize, accept, answer.
//!
//! A route (`sentry.rs`, `native.rs`, `ws.rs`) calls the steps in its order and supplies only
//! what differs: where credentials may come from (the envelope's own `dsn`), how the body
//! frames its events (an envelope, one event, an array, a WebSocket frame) and how it answers.
//! Every step fails with an [`IngestError`], counted once where the route answers it.

use std::net::IpAddr;
use std::sync::{Arc, OnceLock};

use axum::Json;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use mesher_protocol::auth::AuthParams;
use mesher_protocol::{Event, EventId, NormalizeContext, Timestamp, normalize_event};
use mesher_store::Project;
use serde::Serialize;
use serde_json::{Value, json};

use super::accept::{Candidate, accept_one};
use super::auth::{authenticate, credentials};
use super::body::{self, BLOCKING_THRESHOLD, Encoding, decode, decode_legacy_store};
use super::budget::Reservation;
use super::error::{IngestError, ProjectOutcomes, refuse, refuse_item};
use crate::config::Limits;
use crate::metrics::EncodingLabels;
use crate::state::AppState;

/// One ingest request: the client and the parts of the HTTP request every step reads.
pub struct IngestRequest<'a> {
    /// The node.
    pub state: &'a AppState,
    ip: Option<IpAddr>,
    headers: &'a HeaderMap,
    query: Option<&'a str>,
    /// The authenticated project: refusals after authentication count for it (RETAIN-04).
    project: OnceLock<i64>,
}

/// What the common front of a route leaves: an authenticated project and its body as sent.
pub struct Received {
    /// The project the credentials belong to.
    pub project: Arc<Project>,
    /// The body's `Content-Encoding`.
    pub encoding: Encoding,
    /// The body as sent (compressed).
    pub raw: Bytes,
    /// The body's share of the node's body budget, held while any form of it is.
    pub reservation: Reservation,
}

/// How a one-event body frames its event.
#[derive(Debug, Clone, Copy)]
pub enum Framing {
    /// The event's JSON (after the `Content-Encoding`).
    Json,
    /// `/store/`'s legacy form: the JSON, or base64 of its zlib stream.
    LegacyStore,
}

impl<'a> IngestRequest<'a> {
    /// The request of client `ip` with these headers and URL.
    pub fn new(
        state: &'a AppState,
        ip: Option<IpAddr>,
        headers: &'a HeaderMap,
        uri: &'a Uri,
    ) -> Self {
        IngestRequest {
            state,
            ip,
            headers,
            query: uri.query(),
            project: OnceLock::new(),
        }
    }

    /// The credentials of the headers and the query string.
    pub fn credentials(&self) -> Result<Vec<AuthParams>, IngestError> {
        credentials(self.headers, self.query, None)
    }

    /// The project `sources` belong to; `path_project` is the URL's project id, when it has one.
    pub async fn authenticate(
        &self,
        sources: &[AuthParams],
        path_project: Option<i64>,
    ) -> Result<Arc<Project>, IngestError> {
        let project = authenticate(self.state, sources, path_project).await?;
        // Several sources name one project, so a second set is the same value.
        let _ = self.project.set(project.id);
        Ok(project)
    }

    /// Where refusals count: the node, and the project once authenticated.
    pub fn project_outcomes(&self) -> ProjectOutcomes<'_> {
        self.project.get().map(|&id| (self.state.outcomes(), id))
    }

    /// Counts a refused event and renders its entry in a bulk answer.
    pub fn refuse_item(&self, error: IngestError) -> Value {
        refuse_item(self.state.metrics(), self.project_outcomes(), error)
    }

    /// The response of a route: `status` with `answer` as JSON, or the refusal, counted.
    pub fn respond<T: Serialize>(
        &self,
        status: StatusCode,
        answer: Result<T, IngestError>,
    ) -> Response {
        match answer {
            Ok(body) => (status, Json(body)).into_response(),
            Err(e) => refuse(self.state.metrics(), self.project_outcomes(), e),
        }
    }

    /// The body's `Content-Encoding`, counted.
    pub fn encoding(&self) -> Result<Encoding, IngestError> {
        let encoding = body::encoding_from_headers(self.headers)?;
        self.state
            .metrics()
            .request_encodings
            .get_or_create(&EncodingLabels {
                encoding: encoding.name(),
            })
            .inc();
        Ok(encoding)
    }

    /// Reads the body under the node's limits: `max_request_bytes`, the pace, and a reservation
    /// from the node's body budget that the caller holds while it works on the body.
    pub async fn read_body(&self, body: Body) -> Result<(Bytes, Reservation), IngestError> {
        let limits = &self.state.settings().limits;
        let mut reservation = self.state.body_budget().reservation();
        let raw = body::read_body(
            body,
            limits.max_request_bytes,
            pace(limits),
            &mut reservation,
        )
        .await?;
        Ok((raw, reservation))
    }

    /// Normalization settings for an event of `project` received now from this client.
    pub fn context(&self, project: &Project) -> NormalizeContext {
        context(&self.state.settings().limits, project, self.ip)
    }

    /// The front of the routes whose credentials are all in the headers or the query:
    /// authenticated before a byte of the body is read, so a bogus key costs an attacker a
    /// round trip and the node nothing (issue 11); then the encoding and the body.
    pub async fn receive(
        &self,
        path_project: Option<i64>,
        body: Body,
    ) -> Result<Received, IngestError> {
        let project = self
            .authenticate(&self.credentials()?, path_project)
            .await?;
        let encoding = self.encoding()?;
        let (raw, reservation) = self.read_body(body).await?;
        Ok(Received {
            project,
            encoding,
            raw,
            reservation,
        })
    }

    /// A route whose body is one event: received, decoded and normalized (one CPU step), then
    /// accepted; the event's id.
    pub async fn one_event(
        &self,
        path_project: Option<i64>,
        body: Body,
        framing: Framing,
    ) -> Result<EventId, IngestError> {
        let Received {
            project,
            encoding,
            raw,
            mut reservation,
        } = self.receive(path_project, body).await?;
        let max = self.state.settings().limits.max_event_bytes;
        let ctx = self.context(&project);
        let (event, bytes) = cpu(self.state, raw.len(), move || {
            let decoded = decode(encoding, raw, max, "the event", &mut reservation)?;
            let decoded = match framing {
                Framing::Json => decoded,
                Framing::LegacyStore => decode_legacy_store(decoded, max, &mut reservation)?,
            };
            Ok::<_, IngestError>((normalize(&decoded, &ctx)?, decoded.len()))
        })
        .await??;
        accept_one(self.state, &project, Candidate { event, bytes }).await
    }
}

/// An event's JSON, normalized (only a payload that is not a JSON object is refused).
pub fn normalize(payload: &[u8], ctx: &NormalizeContext) -> Result<Event, IngestError> {
    normalize_event(payload, ctx).map_err(|e| IngestError::Invalid(format!("invalid event: {e}")))
}

/// The answer for an event taken: `{"id": "<32 hex>"}`.
pub fn id_answer(id: EventId) -> Value {
    json!({"id": id.to_string()})
}

/// A fresh event id for events that bring none.
pub fn generated_id() -> EventId {
    EventId::from_bytes(fastrand::u128(..).to_le_bytes())
}

/// Normalization settings for an event of `project` received now.
pub fn context(limits: &Limits, project: &Project, client_ip: Option<IpAddr>) -> NormalizeContext {
    let mut ctx = NormalizeContext::new(
        Timestamp::from_datetime(time::OffsetDateTime::now_utc()),
        generated_id(),
    );
    ctx.client_ip = client_ip;
    ctx.max_secs_in_past = i64::from(project.retention_days) * 24 * 60 * 60;
    ctx.default_platform = project.platform.clone();
    ctx.tag_limits = limits.tags;
    ctx
}

/// Runs CPU-heavy work on the blocking pool when the input is large, inline otherwise.
///
/// Large work waits for one of the node's CPU slots (one fewer than the cores): inflating a
/// bomb on every core at once would leave none for the async workers, and `/healthz` and small
/// events would wait behind it (issue 11).
pub async fn cpu<T: Send + 'static>(
    state: &AppState,
    size: usize,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, IngestError> {
    if size < BLOCKING_THRESHOLD {
        return Ok(f());
    }
    let slot = state
        .cpu_slots()
        .clone()
        .acquire_owned()
        .await
        .map_err(|_| IngestError::Internal("the CPU slots are closed".into()))?;
    tokio::task::spawn_blocking(move || {
        let out = f();
        drop(slot);
        out
    })
    .await
    .map_err(|e| IngestError::Internal(format!("request processing failed: {e}")))
}

/// The pace request bodies must keep on this node.
fn pace(limits: &Limits) -> body::Pace {
    body::Pace {
        grace: limits.body_read_grace,
        min_bytes_per_sec: limits.body_min_bytes_per_sec,
    }
}
