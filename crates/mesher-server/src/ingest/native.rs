//! Mesher's own JSON API: `POST /api/v1/events` (one event) and `POST /api/v1/events/bulk`
//! (an array of up to `max_bulk_events`), both in Sentry's event JSON, authenticated by the DSN
//! key (`Authorization: Bearer <public key>` or any Sentry form).

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use serde_json::Value;
use serde_json::value::RawValue;

use super::ClientIp;
use super::accept::{Candidate, accept};
use super::body::{BLOCKING_THRESHOLD, decode};
use super::error::IngestError;
use super::request::{Framing, IngestRequest, Received, cpu, generated_id, id_answer};
use crate::state::AppState;

/// `POST /api/v1/events` → `202 {"id": "<32 hex>"}`.
pub async fn event(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    uri: Uri,
    body: Body,
) -> Response {
    let request = IngestRequest::new(&state, ip, &headers, &uri);
    let answer = request.one_event(None, body, Framing::Json).await;
    request.respond(StatusCode::ACCEPTED, answer.map(id_answer))
}

/// `POST /api/v1/events/bulk` → `202 [{"id": …} | {"error": {"code", "message"}}, …]`, one
/// result per event, in order. A bad event does not reject the others.
pub async fn bulk(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    uri: Uri,
    body: Body,
) -> Response {
    let request = IngestRequest::new(&state, ip, &headers, &uri);
    let answer = handle_bulk(&request, body).await;
    request.respond(StatusCode::ACCEPTED, answer)
}

/// The bulk route's own steps: its body is an array of events, each answered on its own.
async fn handle_bulk(request: &IngestRequest<'_>, body: Body) -> Result<Vec<Value>, IngestError> {
    let state = request.state;
    let Received {
        project,
        encoding,
        raw,
        mut reservation,
    } = request.receive(None, body).await?;
    let limits = state.settings().limits.clone();
    let ctx = request.context(&project);
    // Parse every element on the blocking pool: up to a thousand events is real CPU work.
    let parsed = cpu(state, raw.len().max(BLOCKING_THRESHOLD), move || {
        let decoded = decode(
            encoding,
            raw,
            limits.max_envelope_bytes,
            "the decompressed bulk body",
            &mut reservation,
        )?;
        let items: Vec<&RawValue> = serde_json::from_slice(&decoded).map_err(|e| {
            IngestError::Invalid(format!("the body must be a JSON array of events: {e}"))
        })?;
        if items.len() > limits.max_bulk_events {
            return Err(IngestError::TooLarge(format!(
                "{} events in one request; the limit is {}",
                items.len(),
                limits.max_bulk_events
            )));
        }
        let results: Vec<Result<Candidate, IngestError>> = items
            .into_iter()
            .enumerate()
            .map(|(i, item)| {
                let bytes = item.get().len();
                if bytes > limits.max_event_bytes {
                    return Err(IngestError::TooLarge(format!(
                        "event {i} is {bytes} bytes, over the limit of {} bytes",
                        limits.max_event_bytes
                    )));
                }
                let mut ctx = ctx.clone();
                ctx.generated_event_id = generated_id();
                mesher_protocol::normalize_event(item.get().as_bytes(), &ctx)
                    .map(|event| Candidate { event, bytes })
                    .map_err(|e| IngestError::Invalid(format!("event {i}: {e}")))
            })
            .collect();
        Ok(results)
    })
    .await??;

    let mut results: Vec<Option<Value>> = Vec::with_capacity(parsed.len());
    let mut candidates = Vec::new();
    for r in parsed {
        match r {
            Ok(c) => {
                candidates.push(c);
                results.push(None);
            }
            Err(e) => results.push(Some(request.refuse_item(e))),
        }
    }
    let mut answers = accept(state, &project, candidates).await?.into_iter();
    Ok(results
        .into_iter()
        .map(|r| {
            r.unwrap_or_else(|| {
                match answers
                    .next()
                    .unwrap_or_else(|| Err(IngestError::Internal("no answer".into())))
                {
                    Ok(id) => id_answer(id),
                    Err(e) => request.refuse_item(e),
                }
            })
        })
        .collect())
}
