//! What every ingest endpoint does with normalized events: sample, rate-limit, queue, and wait
//! for the commit.

use std::sync::Arc;

use mesher_protocol::scrub::ScrubConfig;
use mesher_protocol::{Event, EventId};
use mesher_store::Project;

use super::error::IngestError;
use crate::metrics::Outcome;
use crate::pipeline::Incoming;
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
            answers.push(Some(Ok(id)));
            continue;
        }
        if let Err(wait) = state
            .rate_limits()
            .check(project.id, project.rate_limit_per_minute)
        {
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
        match state.pipeline().process(queued, bytes).await {
            Ok(results) => {
                debug_assert_eq!(results.len(), n);
                let mut ids = ids.into_iter();
                for slot in answers.iter_mut().filter(|a| a.is_none()) {
                    *slot = ids.next().map(Ok);
                }
            }
            Err(source) => {
                // The request is refused as a whole, so the events refused on their own (rate
                // limit) get no answer of their own: they are counted here instead.
                for refused in answers.into_iter().flatten().filter_map(Result::err) {
                    refused.count(metrics);
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
