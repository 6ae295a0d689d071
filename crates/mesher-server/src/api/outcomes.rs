//! `GET /api/v1/projects/{project_id}/stats/outcomes` (issue 17, RETAIN-04): what became of
//! the project's events over a range, per reason, in total and per hour.

use std::collections::BTreeMap;

use axum::extract::State;
use mesher_store::{OutcomeCount, Role, Scope};
use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;

use super::auth::Caller;
use super::default_range;
use super::extract::{Path, QueryPairs};
use crate::error::ApiError;
use crate::state::AppState;

/// The reasons every answer has, 0 when none: the endpoint's contract. `capped` is Mesher's
/// (the per-issue hourly cap); other reasons the edge counts (`queue_full`, …) appear when
/// they happened.
pub const REASONS: [&str; 7] = [
    "accepted",
    "rate_limited",
    "sampled",
    "invalid",
    "too_large",
    "discarded",
    "capped",
];

/// A project's outcomes over a range.
#[derive(Serialize, ToSchema)]
pub struct OutcomesBody {
    /// The range asked for (outcomes are counted per hour: the hours that overlap it count).
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub since: OffsetDateTime,
    /// Its end (exclusive).
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub until: OffsetDateTime,
    /// Events per reason over the range.
    pub totals: BTreeMap<String, i64>,
    /// Per hour with any outcome, oldest first.
    pub series: Vec<OutcomeHour>,
}

/// One hour's outcomes.
#[derive(Serialize, ToSchema)]
pub struct OutcomeHour {
    /// The hour's start (UTC).
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub hour: OffsetDateTime,
    /// Events per reason in that hour.
    pub counts: BTreeMap<String, i64>,
}

fn zeroes() -> BTreeMap<String, i64> {
    REASONS.iter().map(|r| (r.to_string(), 0)).collect()
}

/// Events per reason in `rows`: every reason of [`REASONS`], then any other that occurred.
pub fn totals(rows: &[OutcomeCount]) -> BTreeMap<String, i64> {
    let mut totals = zeroes();
    for row in rows {
        *totals.entry(row.reason.clone()).or_default() += row.count;
    }
    totals
}

impl OutcomesBody {
    /// The body of `rows` (by hour, as the store answers them).
    pub fn new(since: OffsetDateTime, until: OffsetDateTime, rows: Vec<OutcomeCount>) -> Self {
        let totals = totals(&rows);
        let mut series: Vec<OutcomeHour> = Vec::new();
        for row in rows {
            if series.last().is_none_or(|h| h.hour != row.hour) {
                series.push(OutcomeHour {
                    hour: row.hour,
                    counts: zeroes(),
                });
            }
            if let Some(h) = series.last_mut() {
                *h.counts.entry(row.reason).or_default() += row.count;
            }
        }
        OutcomesBody {
            since,
            until,
            totals,
            series,
        }
    }
}

/// Events per outcome: accepted (stored), rate_limited, sampled, invalid, too_large,
/// discarded, capped (over the per-issue hourly cap), and any other reason that occurred.
#[utoipa::path(get, path = "/api/v1/projects/{project_id}/stats/outcomes", tag = "stats",
    params(
        ("project_id" = i64, Path, description = "Project id"),
        ("since" = Option<String>, Query, description = "RFC 3339; default: 24 hours ago"),
        ("until" = Option<String>, Query, description = "RFC 3339; default: now"),
    ),
    responses((status = 200, body = OutcomesBody)))]
pub async fn outcomes(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    q: QueryPairs,
) -> Result<axum::Json<OutcomesBody>, ApiError> {
    caller
        .project(&state, id, Scope::Read, Role::Member)
        .await?;
    let (since, until) = default_range(&q)?;
    let rows = state.store().project_outcomes(id, since, until).await?;
    Ok(axum::Json(OutcomesBody::new(since, until, rows)))
}
