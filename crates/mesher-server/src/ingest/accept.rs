//! What every ingest endpoint does with normalized events: sample, rate-limit, queue, and wait
//! for the commit.

use std::sync::Arc;

use mesher_protocol::scrub::ScrubConfig;
use mesher_protocol::{Event, EventId};
use mesher_store::Project;

use super::error::IngestError;
use crate::metrics::Outcome;
use crate::pipeline::{Incoming, PipelineError};
use crate::ratelimit::retry_after_secs;
use crate::state::AppState;

/// A normalized event and its size as received.
pub struct Candidate {
    /// The event.
    pub event: Event,
    /// Bytes of its JSON as received (decompressed).
    pub bytes: usize,
}

/// The answer for one event: its id (stored, already stored, sampled out or discarded), or why
/// it was refused.
pub type EventAnswer = Result<EventId, IngestError>;

/// Samples, rate-limits and stores `candidates` of `project`, answering each.
///
/// The outer error is for the whole request (queue full, database down); events that were not
/// queued for a reason of their own (rate limit) get their own error. Refusals are counted by
/// whoever answers them (see [`super::error`]); sampled-out events, which are answered as
/// accepted, are counted here.
pub async fn accept(
    state: &AppState,
    project: &Project,
    candidates: Vec<Candidate>,
) -> Result<Vec<EventAnswer>, IngestError> {
    state.faults().hit("ingest-request").await;
    let metrics = state.metrics();
    let mut answers: Vec<Option<EventAnswer>> = Vec::with_capacity(candidates.len());
    let scrub = Arc::new(scrub_config(project));
    let mut queued = Vec::new();
    let mut bytes = 0;
    for c in candidates {
        let id = c.event.event_id;
        // Sampling runs before the limiter, so sampled-out events cost no quota (RETAIN-04).
        if project.sample_rate < 1.0 && fastrand::f64() >= project.sample_rate {
            metrics.outcome(Outcome::Sampled, 1);
            state.outcomes().record(project.id, Outcome::Sampled, 1);
            answers.push(Some(Ok(id)));
            continue;
        }
        // The limit holds for the whole cluster: each node enforces its share (issue 14).
        let limit = state.cluster().limit_share(project.rate_limit_per_minute);
        if let Err(wait) = state.rate_limits().check(project.id, limit) {
            answers.push(Some(Err(IngestError::RateLimited {
                retry_after_secs: retry_after_secs(wait),
                message: format!(
                    "project {} is over its rate limit of {} events per minute",
                    project.id, project.rate_limit_per_minute
                ),
            })));
            continue;
        }
        bytes += c.bytes;
        answers.push(None);
        queued.push(Incoming {
            project_id: project.id,
            event: c.event,
            scrub: scrub.clone(),
        });
    }
    if !queued.is_empty() {
        let n = queued.len();
        let ids: Vec<EventId> = queued.iter().map(|i| i.event.event_id).collect();
        state.pipeline().counter().increment(n as u64);
        let cluster = state.cluster();
        // A node whose own queue is full spills to its peers before it answers 503.
        let spill = cluster.spread().hand_off_next()
            || (!state.pipeline().has_room(n, bytes) && cluster.peers_up() > 0);
        let stored = if spill {
            hand_off(state, queued).await
        } else {
            state.pipeline().process(queued, bytes).await.map(|_| ())
        };
        match stored {
            Ok(()) => {
                let mut ids = ids.into_iter();
                for slot in answers.iter_mut().filter(|a| a.is_none()) {
                    *slot = ids.next().map(Ok);
                }
            }
            Err(source) => {
                // The request is refused as a whole, so the events refused on their own (rate
                // limit) get no answer of their own: they are counted here instead.
                for refused in answers.into_iter().flatten().filter_map(Result::err) {
                    refused.count(metrics, Some((state.outcomes(), project.id)));
                }
                return Err(IngestError::Pipeline { source, events: n });
            }
        }
    }
    Ok(answers
        .into_iter()
        .map(|a| a.unwrap_or_else(|| Err(IngestError::Internal("an event got no answer".into()))))
        .collect())
}

/// Hands events to the cluster's peers (issue 14): durable in the `overflow` table before the
/// answer, stored by whichever peer claims them.
async fn hand_off(state: &AppState, events: Vec<Incoming>) -> Result<(), PipelineError> {
    let mut rows = Vec::with_capacity(events.len());
    for i in &events {
        let payload = serde_json::to_vec(&i.event).map_err(|e| {
            tracing::error!(error = %e, "cannot serialize an event to hand off");
            PipelineError::Internal
        })?;
        rows.push((i.project_id, payload));
    }
    let cluster = state.cluster();
    match state
        .store()
        .push_overflow(&cluster.identity().name, &rows, mesher_store::now())
        .await
    {
        Ok(()) => {
            state.metrics().events_handed_off.inc_by(rows.len() as u64);
            Ok(())
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot hand events off");
            Err(PipelineError::Unavailable)
        }
    }
}

/// Samples, rate-limits and stores the one event of a request: the single answer.
pub async fn accept_one(
    state: &AppState,
    project: &Project,
    candidate: Candidate,
) -> Result<EventId, IngestError> {
    accept(state, project, vec![candidate])
        .await?
        .pop()
        .unwrap_or_else(|| Err(IngestError::Internal("no answer for the event".into())))
}

/// The project's scrubbing settings as the processor applies them (issue 11).
pub fn scrub_config(project: &Project) -> ScrubConfig {
    ScrubConfig::new(
        project.scrub_data,
        project.scrub_ip_addresses,
        &project.sensitive_fields,
        &project.safe_fields,
    )
}
