//! The Sentry SDK endpoints: `/api/{project_id}/envelope/` and `/api/{project_id}/store/`.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use mesher_protocol::auth::resolve_auth;
use mesher_protocol::envelope::{ItemType, parse_client_report, parse_envelope};
use serde_json::{Value, json};

use super::ClientIp;
use super::accept::{Candidate, accept_one};
use super::auth::credentials;
use super::body::{Encoding, decode, decode_prefix};
use super::error::IngestError;
use super::request::{Framing, IngestRequest, cpu, id_answer, normalize};
use crate::metrics::{ClientOutcomeLabels, ItemLabels};
use crate::state::AppState;

fn project_id(raw: &str) -> Result<i64, IngestError> {
    raw.parse::<i64>().ok().filter(|id| *id > 0).ok_or_else(|| {
        IngestError::NoSuchProject(format!(
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
    let request = IngestRequest::new(&state, ip, &headers, &uri);
    request.respond(
        StatusCode::OK,
        handle_envelope(&request, &project, body).await,
    )
}

/// The envelope route's own steps: its credentials may be the envelope's `dsn` header, its
/// body frames items of which only an event is stored, and it answers `{}` when there is none.
async fn handle_envelope(
    request: &IngestRequest<'_>,
    project: &str,
    body: Body,
) -> Result<Value, IngestError> {
    let state = request.state;
    let project_id = project_id(project)?;
    let limits = state.settings().limits.clone();
    let encoding = request.encoding()?;
    // Credentials in the headers or the query are checked before a byte of the body is read,
    // so a bogus key costs an attacker a round trip and the node nothing (issue 11).
    let sources = request.credentials()?;
    let early = if sources.is_empty() {
        None
    } else {
        Some(request.authenticate(&sources, Some(project_id)).await?)
    };
    let (raw, mut reservation) = request.read_body(body).await?;
    let project = match early {
        Some(project) => project,
        // The envelope's own `dsn` header is the only credential left: read the header line
        // alone, under a small cap, and authenticate before inflating the rest.
        None => {
            let dsn = envelope_dsn(encoding, &raw)?;
            let sources = credentials(&HeaderMap::new(), None, dsn.as_deref())?;
            request.authenticate(&sources, Some(project_id)).await?
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
        .map_err(|e| IngestError::Invalid(format!("invalid envelope: {e}")))?;
    // Credentials that disagree are refused, wherever they were sent.
    if let Some(dsn) = envelope.dsn() {
        let mut all = sources;
        all.extend(credentials(&HeaderMap::new(), None, Some(dsn))?);
        resolve_auth(&all).map_err(|e| IngestError::Invalid(e.to_string()))?;
    }

    let mut event = None;
    for item in envelope.items() {
        match &item.ty {
            ItemType::Event => {
                if event.is_some() {
                    return Err(IngestError::Invalid(
                        "an envelope may carry only one event item".into(),
                    ));
                }
                if item.payload.len() > limits.max_event_bytes {
                    return Err(IngestError::TooLarge(format!(
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
        return Ok(envelope.event_id().map_or_else(|| json!({}), id_answer));
    };
    let mut ctx = request.context(&project);
    ctx.envelope_event_id = envelope.event_id();
    ctx.sent_at = envelope.sent_at();
    // Only the event item is needed from here on: the rest of the body goes now, and the item
    // goes once normalized, rather than both waiting for the commit (issue 13).
    drop(envelope);
    drop(decoded);
    let bytes = payload.len();
    let event = cpu(state, bytes, move || normalize(&payload, &ctx)).await??;
    // The decoded body is gone; the normalized event is counted by the pipeline's queue.
    drop(reservation);
    accept_one(state, &project, Candidate { event, bytes })
        .await
        .map(id_answer)
}

/// The longest envelope header line read to find its `dsn` before authenticating.
const MAX_ENVELOPE_HEADER_BYTES: usize = 16 * 1024;

/// The `dsn` of an envelope's header line, decoding no more of the body than that line.
fn envelope_dsn(encoding: Encoding, raw: &[u8]) -> Result<Option<String>, IngestError> {
    let prefix = decode_prefix(encoding, raw, MAX_ENVELOPE_HEADER_BYTES)?;
    let Some(line) = prefix
        .split(|&b| b == b'\n')
        .next()
        .filter(|_| prefix.contains(&b'\n') || prefix.len() < MAX_ENVELOPE_HEADER_BYTES)
    else {
        return Err(IngestError::Invalid(format!(
            "invalid envelope: the header line is longer than {MAX_ENVELOPE_HEADER_BYTES} bytes"
        )));
    };
    let header: Value = serde_json::from_slice(line)
        .map_err(|e| IngestError::Invalid(format!("invalid envelope: bad header line: {e}")))?;
    Ok(header
        .get("dsn")
        .and_then(|d| d.as_str())
        .map(str::to_owned))
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
    let request = IngestRequest::new(&state, ip, &headers, &uri);
    let answer = async {
        let project_id = project_id(&project)?;
        request
            .one_event(Some(project_id), body, Framing::LegacyStore)
            .await
    };
    request.respond(StatusCode::OK, answer.await.map(id_answer))
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
    let request = IngestRequest::new(&state, None, &headers, &uri);
    let answer = async {
        let project_id = project_id(&project)?;
        request
            .authenticate(&request.credentials()?, Some(project_id))
            .await?;
        let (raw, _reservation) = request.read_body(body).await?;
        let header = raw.split(|&b| b == b'\n').next().unwrap_or_default();
        let id = serde_json::from_slice::<Value>(header).ok().and_then(|h| {
            h.get("event_id")
                .and_then(|v| v.as_str())
                .map(str::to_string)
        });
        Ok::<_, IngestError>(json!({ "id": id }))
    };
    request.respond(StatusCode::OK, answer.await)
}
