//! Outcomes (issue 17, RETAIN-04): what became of the events each project sent, counted per
//! hour of receipt and reason.
//!
//! The writer counts [`ACCEPTED`], [`DISCARDED`] and [`CAPPED`] in the batch's own transaction
//! (exact across crashes: a batch that does not commit counts nothing); the server's edge counts
//! the rest (sampled, rate limited, invalid, …) in memory and adds them with
//! [`crate::OutcomeStore::add_outcomes`] every few seconds.

use time::OffsetDateTime;

use crate::lifecycle::hour_of;
use crate::time_util::from_millis;

/// Events stored.
pub const ACCEPTED: &str = "accepted";
/// Events dropped because their issue is discarded.
pub const DISCARDED: &str = "discarded";
/// Events counted in their issue but not stored: the issue had its project's
/// `max_events_per_issue_per_hour` events in that hour already.
pub const CAPPED: &str = "capped";

/// Events of one project, hour and reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutcomeCount {
    /// The project.
    pub project_id: i64,
    /// The start of the hour (UTC) the events were received in.
    pub hour: OffsetDateTime,
    /// Why: [`ACCEPTED`], [`DISCARDED`], [`CAPPED`] or an edge reason (`sampled`, …).
    pub reason: String,
    /// How many events.
    pub count: i64,
}

/// The start of the hour containing `t`: the hour outcomes are counted in.
pub fn outcome_hour(t: OffsetDateTime) -> OffsetDateTime {
    from_millis(hour_of(t))
}
