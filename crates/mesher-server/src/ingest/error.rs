//! The ingest error: why a request or one of its events was refused, the outcome that counts
//! it, and its one conversion to the HTTP-facing [`ApiError`].
//!
//! A refusal is counted where it is answered — [`refuse`] for a whole request, [`refuse_item`]
//! for one event of a bulk request or a WebSocket frame — from [`IngestError::outcome`], not
//! where it is decided (relay's `to_outcome`); the one exception is an event refused on its own
//! in a request then refused as a whole, which `accept` counts as it drops its answer. The
//! other outcomes are not refusals of the ingest routes: `sampled` is counted by `accept`, and
//! the pipeline's writer counts the events whose commit fails (`unavailable`, `internal`) or
//! whose issue is discarded.

use axum::response::{IntoResponse, Response};
use mesher_protocol::auth::AuthError;
use mesher_protocol::compression::DecodeError;
use mesher_store::StoreError;
use thiserror::Error;

use super::body::BodyError;
use crate::error::ApiError;
use crate::metrics::{Metrics, Outcome};
use crate::outcomes::EdgeOutcomes;
use crate::pipeline::PipelineError;
use crate::ratelimit::sentry_rate_limits;

/// Why an ingest request, or one event of it, was refused.
#[derive(Debug, Error)]
pub enum IngestError {
    /// Malformed: credentials, envelope framing, JSON, an event (400, `invalid`).
    #[error("{0}")]
    Invalid(String),
    /// A DSN key that is not 32 hex characters (403). Not counted: the request never reached
    /// a key lookup, so it is neither an `auth` refusal nor a malformed event.
    #[error("{0}")]
    MalformedKey(String),
    /// The credentials were refused, or could not be checked (`auth`; the status is the
    /// refusal's).
    #[error(transparent)]
    Auth(#[from] AuthRefusal),
    /// The URL's project id is not a positive integer (404, not counted).
    #[error("{0}")]
    NoSuchProject(String),
    /// The body could not be read or decoded (status and outcome by kind, see
    /// [`IngestError::outcome`]).
    #[error(transparent)]
    Body(#[from] BodyError),
    /// An event, or the number of events, over a limit (413, `too_large`).
    #[error("{0}")]
    TooLarge(String),
    /// The project is over its rate limit (429 with `Retry-After` and `X-Sentry-Rate-Limits`,
    /// `rate_limited`).
    #[error("{message}")]
    RateLimited {
        /// Seconds until the client may retry.
        retry_after_secs: u64,
        /// What was limited.
        message: String,
    },
    /// The pipeline did not take or did not commit the request's `events` (503, or 500 for
    /// [`PipelineError::Internal`]). Counted as `queue_full` when it refused them; a failed
    /// commit was counted by the writer, which knows the events it held.
    #[error("{source}")]
    Pipeline {
        /// The pipeline's answer.
        source: PipelineError,
        /// Events of the request it concerns.
        events: usize,
    },
    /// A failure of Mesher's own (500, not counted: the cause is logged).
    #[error("{0}")]
    Internal(String),
}

/// Why credentials were refused at authentication.
#[derive(Debug, Error)]
pub enum AuthRefusal {
    /// No credentials anywhere (401).
    #[error(
        "missing authentication: send the DSN key in X-Sentry-Auth, Authorization or ?sentry_key="
    )]
    Missing,
    /// Credentials that disagree with each other (400).
    #[error(transparent)]
    Conflicting(AuthError),
    /// No such key (403).
    #[error("unknown DSN key")]
    UnknownKey,
    /// A revoked key (403).
    #[error("this DSN key has been revoked")]
    Revoked,
    /// A key of another project than the URL's (403).
    #[error("this DSN key belongs to another project")]
    OtherProject,
    /// The key's project was deleted (403).
    #[error("the project of this DSN key no longer exists")]
    ProjectGone,
    /// The key or its project could not be looked up (the store's status, usually 503).
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<DecodeError> for IngestError {
    fn from(e: DecodeError) -> Self {
        IngestError::Body(BodyError::Decode(e))
    }
}

impl IngestError {
    /// The outcome this refusal counts, and for how many events; `None` when it counts none.
    pub fn outcome(&self) -> Option<(Outcome, u64)> {
        let one = |outcome| Some((outcome, 1));
        match self {
            IngestError::Invalid(_) => one(Outcome::Invalid),
            IngestError::Auth(_) => one(Outcome::Auth),
            IngestError::TooLarge(_) => one(Outcome::TooLarge),
            IngestError::RateLimited { .. } => one(Outcome::RateLimited),
            IngestError::Body(e) => match e {
                BodyError::TooLarge { .. } | BodyError::Decode(DecodeError::TooLarge { .. }) => {
                    one(Outcome::TooLarge)
                }
                // The client may retry: the event is not lost yet.
                BodyError::Busy
                | BodyError::Decode(DecodeError::Busy)
                | BodyError::TooSlow { .. } => None,
                BodyError::Read(_) | BodyError::Decode(_) => one(Outcome::Invalid),
            },
            IngestError::Pipeline {
                source: PipelineError::QueueFull | PipelineError::ShuttingDown,
                events,
            } => Some((Outcome::QueueFull, *events as u64)),
            IngestError::Pipeline { .. }
            | IngestError::MalformedKey(_)
            | IngestError::NoSuchProject(_)
            | IngestError::Internal(_) => None,
        }
    }

    /// Counts this refusal's outcome, if it has one: node-wide, and for its project when the
    /// refusal came after authentication (RETAIN-04).
    pub fn count(&self, metrics: &Metrics, project: ProjectOutcomes<'_>) {
        if let Some((outcome, events)) = self.outcome() {
            metrics.outcome(outcome, events);
            if let Some((outcomes, project_id)) = project {
                outcomes.record(project_id, outcome, events);
            }
        }
    }
}

impl From<IngestError> for ApiError {
    fn from(e: IngestError) -> Self {
        let busy = |message: String| ApiError::Unavailable {
            retry_after_secs: 1,
            message,
        };
        match e {
            IngestError::Invalid(m) => ApiError::BadRequest(m),
            IngestError::MalformedKey(m) => ApiError::Forbidden(m),
            IngestError::Auth(refusal) => refusal.into(),
            IngestError::NoSuchProject(m) => ApiError::NotFound(m),
            IngestError::Body(e) => match e {
                BodyError::TooLarge { .. } | BodyError::Decode(DecodeError::TooLarge { .. }) => {
                    ApiError::PayloadTooLarge(e.to_string())
                }
                BodyError::Busy | BodyError::Decode(DecodeError::Busy) => busy(e.to_string()),
                BodyError::TooSlow { .. } => ApiError::RequestTimeout(e.to_string()),
                BodyError::Read(_) | BodyError::Decode(_) => ApiError::BadRequest(e.to_string()),
            },
            IngestError::TooLarge(m) => ApiError::PayloadTooLarge(m),
            IngestError::RateLimited {
                retry_after_secs,
                message,
            } => ApiError::RateLimited {
                retry_after_secs,
                sentry_limits: sentry_rate_limits(retry_after_secs),
                message,
            },
            IngestError::Pipeline {
                source: PipelineError::Internal,
                ..
            } => ApiError::Internal(PipelineError::Internal.to_string()),
            IngestError::Pipeline { source, .. } => busy(source.to_string()),
            IngestError::Internal(m) => ApiError::Internal(m),
        }
    }
}

impl From<AuthRefusal> for ApiError {
    fn from(e: AuthRefusal) -> Self {
        match e {
            AuthRefusal::Missing => ApiError::Unauthorized(e.to_string()),
            AuthRefusal::Conflicting(AuthError::MalformedKey(_)) => {
                ApiError::Forbidden(e.to_string())
            }
            AuthRefusal::Conflicting(_) => ApiError::BadRequest(e.to_string()),
            AuthRefusal::UnknownKey
            | AuthRefusal::Revoked
            | AuthRefusal::OtherProject
            | AuthRefusal::ProjectGone => ApiError::Forbidden(e.to_string()),
            AuthRefusal::Store(e) => e.into(),
        }
    }
}

/// Where a refusal of a known project is counted for it, with the project; `None` before
/// authentication.
pub type ProjectOutcomes<'a> = Option<(&'a EdgeOutcomes, i64)>;

/// Counts a refused request's outcome and renders its error response.
pub fn refuse(metrics: &Metrics, project: ProjectOutcomes<'_>, error: IngestError) -> Response {
    error.count(metrics, project);
    ApiError::from(error).into_response()
}

/// Counts a refused event's outcome and renders its entry in a bulk answer or a WebSocket
/// reply: the error body alone, the request itself succeeding.
pub fn refuse_item(
    metrics: &Metrics,
    project: ProjectOutcomes<'_>,
    error: IngestError,
) -> serde_json::Value {
    error.count(metrics, project);
    ApiError::from(error).body()
}

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;
    use axum::http::header::RETRY_AFTER;

    use super::*;

    fn body_error(e: BodyError) -> IngestError {
        IngestError::Body(e)
    }

    fn decode_error(e: DecodeError) -> IngestError {
        IngestError::from(e)
    }

    /// Issue 13: every ingest refusal has one status and one outcome, decided here.
    #[test]
    fn each_refusal_has_its_status_and_outcome() {
        use Outcome::*;
        type Case = (IngestError, StatusCode, Option<(Outcome, u64)>);
        let cases: Vec<Case> = vec![
            (
                IngestError::Invalid("x".into()),
                StatusCode::BAD_REQUEST,
                Some((Invalid, 1)),
            ),
            (
                IngestError::MalformedKey("x".into()),
                StatusCode::FORBIDDEN,
                None,
            ),
            (
                AuthRefusal::Missing.into(),
                StatusCode::UNAUTHORIZED,
                Some((Auth, 1)),
            ),
            (
                AuthRefusal::Conflicting(AuthError::Conflicting).into(),
                StatusCode::BAD_REQUEST,
                Some((Auth, 1)),
            ),
            (
                AuthRefusal::UnknownKey.into(),
                StatusCode::FORBIDDEN,
                Some((Auth, 1)),
            ),
            (
                AuthRefusal::Revoked.into(),
                StatusCode::FORBIDDEN,
                Some((Auth, 1)),
            ),
            (
                AuthRefusal::OtherProject.into(),
                StatusCode::FORBIDDEN,
                Some((Auth, 1)),
            ),
            (
                AuthRefusal::ProjectGone.into(),
                StatusCode::FORBIDDEN,
                Some((Auth, 1)),
            ),
            (
                AuthRefusal::Store(StoreError::Unavailable("down".into())).into(),
                StatusCode::SERVICE_UNAVAILABLE,
                Some((Auth, 1)),
            ),
            (
                IngestError::NoSuchProject("x".into()),
                StatusCode::NOT_FOUND,
                None,
            ),
            (
                body_error(BodyError::TooLarge { limit: 1 }),
                StatusCode::PAYLOAD_TOO_LARGE,
                Some((TooLarge, 1)),
            ),
            (
                decode_error(DecodeError::TooLarge {
                    what: "x",
                    limit: 1,
                }),
                StatusCode::PAYLOAD_TOO_LARGE,
                Some((TooLarge, 1)),
            ),
            (
                body_error(BodyError::Busy),
                StatusCode::SERVICE_UNAVAILABLE,
                None,
            ),
            (
                decode_error(DecodeError::Busy),
                StatusCode::SERVICE_UNAVAILABLE,
                None,
            ),
            (
                body_error(BodyError::TooSlow {
                    min_bytes_per_sec: 1,
                    grace_secs: 1,
                }),
                StatusCode::REQUEST_TIMEOUT,
                None,
            ),
            (
                body_error(BodyError::Read("reset".into())),
                StatusCode::BAD_REQUEST,
                Some((Invalid, 1)),
            ),
            (
                decode_error(DecodeError::UnsupportedEncoding("compress".into())),
                StatusCode::BAD_REQUEST,
                Some((Invalid, 1)),
            ),
            (
                decode_error(DecodeError::Corrupt {
                    encoding: "gzip",
                    reason: "bad".into(),
                }),
                StatusCode::BAD_REQUEST,
                Some((Invalid, 1)),
            ),
            (
                IngestError::TooLarge("x".into()),
                StatusCode::PAYLOAD_TOO_LARGE,
                Some((TooLarge, 1)),
            ),
            (
                IngestError::RateLimited {
                    retry_after_secs: 7,
                    message: "x".into(),
                },
                StatusCode::TOO_MANY_REQUESTS,
                Some((RateLimited, 1)),
            ),
            (
                IngestError::Pipeline {
                    source: PipelineError::QueueFull,
                    events: 3,
                },
                StatusCode::SERVICE_UNAVAILABLE,
                Some((QueueFull, 3)),
            ),
            (
                IngestError::Pipeline {
                    source: PipelineError::ShuttingDown,
                    events: 2,
                },
                StatusCode::SERVICE_UNAVAILABLE,
                Some((QueueFull, 2)),
            ),
            (
                IngestError::Pipeline {
                    source: PipelineError::Unavailable,
                    events: 2,
                },
                StatusCode::SERVICE_UNAVAILABLE,
                None,
            ),
            (
                IngestError::Pipeline {
                    source: PipelineError::Internal,
                    events: 2,
                },
                StatusCode::INTERNAL_SERVER_ERROR,
                None,
            ),
            (
                IngestError::Internal("x".into()),
                StatusCode::INTERNAL_SERVER_ERROR,
                None,
            ),
        ];
        for (error, status, outcome) in cases {
            let label = format!("{error:?}");
            assert_eq!(error.outcome(), outcome, "{label}");
            assert_eq!(ApiError::from(error).status(), status, "{label}");
        }
    }

    #[test]
    fn refusals_are_counted_once_where_they_are_answered() {
        let metrics = Metrics::new("sqlite");
        let response = refuse(
            &metrics,
            None,
            IngestError::Pipeline {
                source: PipelineError::QueueFull,
                events: 4,
            },
        );
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[RETRY_AFTER], "1");
        let item = refuse_item(&metrics, None, IngestError::Invalid("not an event".into()));
        assert_eq!(
            item,
            serde_json::json!({"error": {"code": "bad_request", "message": "not an event"}})
        );
        refuse(&metrics, None, IngestError::NoSuchProject("x".into()));
        let text = metrics.render();
        assert!(
            text.contains("mesher_outcomes_total{reason=\"queue_full\"} 4"),
            "{text}"
        );
        assert!(
            text.contains("mesher_outcomes_total{reason=\"invalid\"} 1"),
            "{text}"
        );
    }

    #[test]
    fn a_rate_limit_carries_sentrys_headers() {
        let response = refuse(
            &Metrics::new("sqlite"),
            None,
            IngestError::RateLimited {
                retry_after_secs: 7,
                message: "over".into(),
            },
        );
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[RETRY_AFTER], "7");
        assert_eq!(
            response.headers()["x-sentry-rate-limits"],
            sentry_rate_limits(7).as_str()
        );
        assert_eq!(response.headers()["x-sentry-error"], "over");
    }
}
