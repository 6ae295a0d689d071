//! Mesher's own JSON API: `POST /api/v1/events` (one event) and `POST /api/v1/events/bulk`
//! (an array of up to `max_bulk_events`), both in Sentry's event JSON, authenticated by the DSN
//! key (`Authorization: Bearer <public key>` or any Sentry form).

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use mesher_protocol::normalize_event;
use serde_json::value::RawValue;
use serde_json::{Value, json};

use super::accept::{Candidate, accept};
use super::auth::{authenticate, credentials};
use super::body::decode;
use super::sentry::refuse;
use super::{ClientIp, context, cpu, read_ingest_body};
use crate::error::ApiError;
use crate::metrics::Outcome;
use crate::state::AppState;

/// `POST /api/v1/events` → `202 {"id": "<32 hex>"}`.
pub async fn event(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    uri: Uri,
    body: Body,
) -> Response {
    match handle_event(&state, ip, &headers, &uri, body).await {
        Ok(id) => (StatusCode::ACCEPTED, Json(json!({"id": id}))).into_response(),
        Err(e) => refuse(&state, e),
    }
}

async fn handle_event(
    state: &AppState,
    ip: Option<std::net::IpAddr>,
    headers: &HeaderMap,
    uri: &Uri,
    body: Body,
) -> Result<String, ApiError> {
    let auth = authenticate(state, &credentials(headers, uri.query(), None)?, None).await?;
    let limits = state.settings().limits.clone();
    let encoding = super::encoding(state, headers)?;
    let (raw, mut reservation) = read_ingest_body(state, body).await?;
    let max = limits.max_event_bytes;
    let ctx = context(&limits, &auth.project, ip);
    let (event, bytes) = cpu(state, raw.len(), move || {
        let decoded = decode(encoding, raw, max, "the event", &mut reservation)?;
        let event = normalize_event(&decoded, &ctx)
            .map_err(|e| ApiError::BadRequest(format!("invalid event: {e}")))?;
        Ok::<_, ApiError>((event, decoded.len()))
    })
    .await??;
    match accept(state, &auth.project, vec![Candidate { event, bytes }])
        .await?
        .pop()
    {
        Some(Ok(id)) => Ok(id.to_string()),
        Some(Err(e)) => Err(e),
        None => Err(ApiError::Internal("no answer for the event".into())),
    }
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
    match handle_bulk(&state, ip, &headers, &uri, body).await {
        Ok(results) => (StatusCode::ACCEPTED, Json(results)).into_response(),
        Err(e) => refuse(&state, e),
    }
}

fn error_json(e: &ApiError) -> Value {
    json!({"error": {"code": e.code(), "message": e.public_message()}})
}

async fn handle_bulk(
    state: &AppState,
    ip: Option<std::net::IpAddr>,
    headers: &HeaderMap,
    uri: &Uri,
    body: Body,
) -> Result<Vec<Value>, ApiError> {
    let auth = authenticate(state, &credentials(headers, uri.query(), None)?, None).await?;
    let limits = state.settings().limits.clone();
    let encoding = super::encoding(state, headers)?;
    let (raw, mut reservation) = read_ingest_body(state, body).await?;
    let max_body = limits.max_envelope_bytes;
    let ctx = context(&limits, &auth.project, ip);
    let metrics_limits = limits.clone();
    // Parse every element on the blocking pool: up to a thousand events is real CPU work.
    let parsed = cpu(
        state,
        raw.len().max(super::body::BLOCKING_THRESHOLD),
        move || {
            let decoded = decode(
                encoding,
                raw,
                max_body,
                "the decompressed bulk body",
                &mut reservation,
            )?;
            let items: Vec<&RawValue> = serde_json::from_slice(&decoded).map_err(|e| {
                ApiError::BadRequest(format!("the body must be a JSON array of events: {e}"))
            })?;
            if items.len() > metrics_limits.max_bulk_events {
                return Err(ApiError::PayloadTooLarge(format!(
                    "{} events in one request; the limit is {}",
                    items.len(),
                    metrics_limits.max_bulk_events
                )));
            }
            let results: Vec<Result<Candidate, ApiError>> = items
                .into_iter()
                .enumerate()
                .map(|(i, item)| {
                    let bytes = item.get().len();
                    if bytes > metrics_limits.max_event_bytes {
                        return Err(ApiError::PayloadTooLarge(format!(
                            "event {i} is {bytes} bytes, over the limit of {} bytes",
                            metrics_limits.max_event_bytes
                        )));
                    }
                    let mut ctx = ctx.clone();
                    ctx.generated_event_id = super::generated_id();
                    normalize_event(item.get().as_bytes(), &ctx)
                        .map(|event| Candidate { event, bytes })
                        .map_err(|e| ApiError::BadRequest(format!("event {i}: {e}")))
                })
                .collect();
            Ok::<_, ApiError>(results)
        },
    )
    .await??;

    let mut results: Vec<Option<Value>> = Vec::with_capacity(parsed.len());
    let mut candidates = Vec::new();
    for r in parsed {
        match r {
            Ok(c) => {
                candidates.push(c);
                results.push(None);
            }
            Err(e) => {
                let reason = if matches!(e, ApiError::PayloadTooLarge(_)) {
                    Outcome::TooLarge
                } else {
                    Outcome::Invalid
                };
                state.metrics().outcome(reason, 1);
                results.push(Some(error_json(&e)));
            }
        }
    }
    let answers = accept(state, &auth.project, candidates).await?;
    let mut answers = answers.into_iter();
    Ok(results
        .into_iter()
        .map(|r| {
            r.unwrap_or_else(|| match answers.next() {
                Some(Ok(id)) => json!({"id": id.to_string()}),
                Some(Err(e)) => error_json(&e),
                None => error_json(&ApiError::Internal("no answer".into())),
            })
        })
        .collect())
}
