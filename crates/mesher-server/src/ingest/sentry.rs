//! The Sentry SDK endpoints: `/api/{project_id}/envelope/` and `/api/{project_id}/store/`.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Uri};
use axum::response::{IntoResponse, Response};
use mesher_protocol::auth::resolve_auth;
use mesher_protocol::envelope::{ItemType, parse_client_report, parse_envelope};
use mesher_protocol::normalize_event;
use serde_json::json;

use super::accept::{Candidate, accept};
use super::auth::{authenticate, credentials};
use super::body::{Encoding, decode, decode_legacy_store, decode_prefix};
use super::{ClientIp, context, cpu, read_ingest_body};
use crate::error::ApiError;
use crate::metrics::{ClientOutcomeLabels, ItemLabels, Outcome};
use crate::state::AppState;

/// Counts a refused request's event as an outcome and renders the error.
pub(super) fn refuse(state: &AppState, error: ApiError) -> Response {
    match &error {
        ApiError::BadRequest(_) => state.metrics().outcome(Outcome::Invalid, 1),
        ApiError::PayloadTooLarge(_) => state.metrics().outcome(Outcome::TooLarge, 1),
        _ => {}
    }
    error.into_response()
}

fn project_id(raw: &str) -> Result<i64, ApiError> {
    raw.parse::<i64>().ok().filter(|id| *id > 0).ok_or_else(|| {
        ApiError::NotFound(format!(
            "no project {raw:?}: project ids are positive integers"
        ))
    })
}

/// `POST /api/{project_id}/envelope/`.
pub async fn envelope(
    State(state): State<AppState>,
    Path(project): Path<String>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    uri: Uri,
    body: Body,
) -> Response {
    match handle_envelope(&state, &project, ip, &headers, &uri, body).await {
        Ok(body) => Json(body).into_response(),
        Err(e) => refuse(&state, e),
    }
}

async fn handle_envelope(
    state: &AppState,
    project: &str,
    ip: Option<std::net::IpAddr>,
    headers: &HeaderMap,
    uri: &Uri,
    body: Body,
) -> Result<serde_json::Value, ApiError> {
    let project_id = project_id(project)?;
    let limits = state.settings().limits.clone();
    let encoding = super::encoding(state, headers)?;
    // Credentials in the headers or the query are checked before a byte of the body is read,
    // so a bogus key costs an attacker a round trip and the node nothing (issue 11).
    let sources = credentials(headers, uri.query(), None)?;
    let early = if sources.is_empty() {
        None
    } else {
        Some(authenticate(state, &sources, Some(project_id)).await?)
    };
    let (raw, mut reservation) = read_ingest_body(state, body).await?;
    let auth = match early {
        Some(auth) => auth,
        // The envelope's own `dsn` header is the only credential left: read the header line
        // alone, under a small cap, and authenticate before inflating the rest.
        None => {
            let dsn = envelope_dsn(encoding, &raw)?;
            let sources = credentials(&HeaderMap::new(), None, dsn.as_deref())?;
            authenticate(state, &sources, Some(project_id)).await?
        }
    };
    let max = limits.max_envelope_bytes;
    let (decoded, reservation) = cpu(state, raw.len(), move || {
        let decoded = decode(
            encoding,
            raw,
            max,
            "the decompressed envelope",
            &mut reservation,
        );
        decoded.map(|d| (d, reservation))
    })
    .await??;
    let envelope = parse_envelope(&decoded)
        .map_err(|e| ApiError::BadRequest(format!("invalid envelope: {e}")))?;
    // Credentials that disagree are refused, wherever they were sent.
    if let Some(dsn) = envelope.dsn() {
        let mut all = sources;
        all.extend(credentials(&HeaderMap::new(), None, Some(dsn))?);
        resolve_auth(&all).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    }

    let mut event = None;
    for item in envelope.items() {
        match &item.ty {
            ItemType::Event => {
                if event.is_some() {
                    return Err(ApiError::BadRequest(
                        "an envelope may carry only one event item".into(),
                    ));
                }
                if item.payload.len() > limits.max_event_bytes {
                    return Err(ApiError::PayloadTooLarge(format!(
                        "the event is {} bytes, over the limit of {} bytes",
                        item.payload.len(),
                        limits.max_event_bytes
                    )));
                }
                event = Some(decoded.slice_ref(item.payload));
            }
            ItemType::ClientReport => record_client_report(state, item.payload),
            other => {
                let item_type = match other {
                    ItemType::Unknown(_) => "unknown".to_string(),
                    known => known.as_str().to_string(),
                };
                state
                    .metrics()
                    .items_not_stored
                    .get_or_create(&ItemLabels { item_type })
                    .inc();
            }
        }
    }
    let Some(payload) = event else {
        // Nothing to store (sessions, transactions, reports): accepted, like Relay.
        return Ok(match envelope.event_id() {
            Some(id) => json!({"id": id.to_string()}),
            None => json!({}),
        });
    };
    let mut ctx = context(&limits, &auth.project, ip);
    ctx.envelope_event_id = envelope.event_id();
    ctx.sent_at = envelope.sent_at();
    let bytes = payload.len();
    let event = cpu(state, bytes, move || normalize_event(&payload, &ctx))
        .await?
        .map_err(|e| ApiError::BadRequest(format!("invalid event: {e}")))?;
    // The decoded body is gone; the normalized event is counted by the pipeline's queue.
    drop(reservation);
    first_answer(accept(state, &auth.project, vec![Candidate { event, bytes }]).await?)
}

/// The longest envelope header line read to find its `dsn` before authenticating.
const MAX_ENVELOPE_HEADER_BYTES: usize = 16 * 1024;

/// The `dsn` of an envelope's header line, decoding no more of the body than that line.
fn envelope_dsn(encoding: Encoding, raw: &[u8]) -> Result<Option<String>, ApiError> {
    let prefix = decode_prefix(encoding, raw, MAX_ENVELOPE_HEADER_BYTES)?;
    let Some(line) = prefix
        .split(|&b| b == b'\n')
        .next()
        .filter(|_| prefix.contains(&b'\n') || prefix.len() < MAX_ENVELOPE_HEADER_BYTES)
    else {
        return Err(ApiError::BadRequest(format!(
            "invalid envelope: the header line is longer than {MAX_ENVELOPE_HEADER_BYTES} bytes"
        )));
    };
    let header: serde_json::Value = serde_json::from_slice(line)
        .map_err(|e| ApiError::BadRequest(format!("invalid envelope: bad header line: {e}")))?;
    Ok(header
        .get("dsn")
        .and_then(|d| d.as_str())
        .map(str::to_owned))
}

fn first_answer(answers: Vec<super::accept::EventAnswer>) -> Result<serde_json::Value, ApiError> {
    match answers.into_iter().next() {
        Some(Ok(id)) => Ok(json!({"id": id.to_string()})),
        Some(Err(e)) => Err(e),
        None => Err(ApiError::Internal("no answer for the event".into())),
    }
}

/// Discard reasons SDKs report (protocol doc A5); others are counted as `other`.
const CLIENT_REASONS: &[&str] = &[
    "queue_overflow",
    "cache_overflow",
    "ratelimit_backoff",
    "network_error",
    "sample_rate",
    "before_send",
    "event_processor",
    "send_error",
    "internal_sdk_error",
    "insufficient_data",
    "backpressure",
    "buffer_overflow",
    "no_parent_span",
];

/// Data categories (protocol doc A7); others are counted as `other`.
const CATEGORIES: &[&str] = &[
    "default",
    "error",
    "transaction",
    "monitor",
    "span",
    "log_item",
    "log_byte",
    "security",
    "attachment",
    "session",
    "profile",
    "profile_chunk",
    "replay",
    "feedback",
    "trace_metric",
    "trace_metric_byte",
    "internal",
];

fn known(value: &str, list: &[&str]) -> String {
    if list.contains(&value) {
        value.to_string()
    } else {
        "other".to_string()
    }
}

/// Records what an SDK says it dropped (`client_report` items).
fn record_client_report(state: &AppState, payload: &[u8]) {
    let report = match parse_client_report(payload) {
        Ok(r) => r,
        Err(e) => {
            tracing::debug!(error = %e, "ignoring a malformed client report");
            return;
        }
    };
    let all = report
        .discarded_events
        .iter()
        .chain(&report.rate_limited_events)
        .chain(&report.filtered_events)
        .chain(&report.filtered_sampling_events);
    for d in all {
        state
            .metrics()
            .client_outcomes
            .get_or_create(&ClientOutcomeLabels {
                reason: known(&d.reason, CLIENT_REASONS),
                category: known(&d.category, CATEGORIES),
            })
            .inc_by(d.quantity);
    }
}

/// `POST /api/{project_id}/store/` (legacy: one event as JSON, possibly base64+zlib).
pub async fn store(
    State(state): State<AppState>,
    Path(project): Path<String>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    uri: Uri,
    body: Body,
) -> Response {
    match handle_store(&state, &project, ip, &headers, &uri, body).await {
        Ok(body) => Json(body).into_response(),
        Err(e) => refuse(&state, e),
    }
}

async fn handle_store(
    state: &AppState,
    project: &str,
    ip: Option<std::net::IpAddr>,
    headers: &HeaderMap,
    uri: &Uri,
    body: Body,
) -> Result<serde_json::Value, ApiError> {
    let project_id = project_id(project)?;
    let sources = credentials(headers, uri.query(), None)?;
    let auth = authenticate(state, &sources, Some(project_id)).await?;
    let limits = state.settings().limits.clone();
    let encoding = super::encoding(state, headers)?;
    let (raw, mut reservation) = read_ingest_body(state, body).await?;
    let max = limits.max_event_bytes;
    let ctx = context(&limits, &auth.project, ip);
    let (event, bytes) = cpu(state, raw.len(), move || {
        let decoded = decode(encoding, raw, max, "the event", &mut reservation)?;
        let decoded = decode_legacy_store(decoded, max, &mut reservation)?;
        let event = normalize_event(&decoded, &ctx)
            .map_err(|e| ApiError::BadRequest(format!("invalid event: {e}")))?;
        Ok::<_, ApiError>((event, decoded.len()))
    })
    .await??;
    first_answer(accept(state, &auth.project, vec![Candidate { event, bytes }]).await?)
}

/// `POST /api/{project_id}/envelope-sink/` (feature `bench-sink`): authenticates and reads the
/// body, then discards it. The benchmark's ceiling: what HTTP alone allows on this machine.
#[cfg(feature = "bench-sink")]
pub async fn sink(
    State(state): State<AppState>,
    Path(project): Path<String>,
    headers: HeaderMap,
    uri: Uri,
    body: Body,
) -> Response {
    let result = async {
        let project_id = project_id(&project)?;
        let sources = credentials(&headers, uri.query(), None)?;
        authenticate(&state, &sources, Some(project_id)).await?;
        let (raw, _reservation) = read_ingest_body(&state, body).await?;
        let header = raw.split(|&b| b == b'\n').next().unwrap_or_default();
        let id = serde_json::from_slice::<serde_json::Value>(header)
            .ok()
            .and_then(|h| {
                h.get("event_id")
                    .and_then(|v| v.as_str())
                    .map(str::to_string)
            });
        Ok::<_, ApiError>(json!({ "id": id }))
    }
    .await;
    match result {
        Ok(body) => Json(body).into_response(),
        Err(e) => e.into_response(),
    }
}
