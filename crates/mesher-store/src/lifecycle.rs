//! The issue lifecycle rules shared by both backends (ISSUE-01 … ISSUE-03): what a batch of new
//! events does to an issue's state, and what a user's state change does (the archive
//! conditions themselves are in [`crate::archive`]).
//!
//! Pure functions over plain values, so that SQLite and PostgreSQL cannot disagree and the rules
//! can be tested with any clock.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::archive::{self, Counts};
use crate::event_model::{Archive, Issue, IssueChange, IssueStatus, NewEvent, StatusChange};
use crate::hll;

/// An issue's state before the batch.
#[derive(Debug, Clone)]
pub(crate) struct IssueState {
    pub id: i64,
    pub status: IssueStatus,
    pub substatus: Option<String>,
    pub resolved_at: Option<OffsetDateTime>,
    pub resolved_in_release: Option<String>,
    /// The stored user sketch, if the issue has one (see [`crate::users`]).
    pub users_hll: Option<Vec<u8>>,
    pub created: bool,
    /// Events and distinct users before the batch.
    pub event_count: i64,
    pub user_count: i64,
    /// How it is archived, while it is (`None` for an issue archived before V6).
    pub archive: Option<Archive>,
}

/// What the batch's stored events of one issue add up to.
#[derive(Debug, Default)]
pub(crate) struct Aggregate {
    pub stored: i64,
    pub first_seen: Option<OffsetDateTime>,
    pub last_seen: Option<OffsetDateTime>,
    /// The stored event with the latest timestamp: it sets title, culprit and level.
    pub latest: Option<usize>,
    pub release: Option<usize>,
    pub environment: Option<usize>,
    /// Hashed user identities of the stored events, repeats included.
    pub user_hashes: Vec<u64>,
    /// Stored events per hour (hour start, ms since the epoch).
    pub hours: BTreeMap<i64, i64>,
    /// Releases of the stored events.
    pub releases: Vec<usize>,
    /// The latest receive time among the stored events: "now" for the escalation check.
    pub received: Option<OffsetDateTime>,
}

impl Aggregate {
    /// Accounts for a stored event.
    pub fn add(&mut self, index: usize, e: &NewEvent) {
        self.stored += 1;
        self.first_seen = Some(self.first_seen.map_or(e.timestamp, |t| t.min(e.timestamp)));
        if self.last_seen.is_none_or(|t| e.timestamp >= t) {
            self.last_seen = Some(e.timestamp);
            self.latest = Some(index);
        }
        if e.release.is_some() {
            self.release = Some(index);
            self.releases.push(index);
        }
        if e.environment.is_some() {
            self.environment = Some(index);
        }
        if let Some(user) = &e.user_key {
            self.user_hashes.push(hll::hash_user(user));
        }
        *self.hours.entry(hour_of(e.timestamp)).or_default() += 1;
        self.received = Some(
            self.received
                .map_or(e.received_at, |t| t.max(e.received_at)),
        );
    }
}

/// The start of the hour containing `t`, in ms since the epoch.
pub(crate) fn hour_of(t: OffsetDateTime) -> i64 {
    let ms = crate::time_util::to_millis(t);
    ms - ms.rem_euclid(HOUR_MS)
}

const HOUR_MS: i64 = 3_600_000;

/// The state an issue moves to, and what to record about it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Decision {
    pub status: IssueStatus,
    pub substatus: Option<String>,
    pub resolved_at: Option<OffsetDateTime>,
    pub resolved_in_release: Option<String>,
    /// The archive to keep; `None` once the issue is not archived.
    pub archive: Option<Archive>,
    /// When the substatus changed, if it did.
    pub substatus_changed_at: Option<OffsetDateTime>,
    pub change: Option<IssueChange>,
    /// An activity entry: kind and data.
    pub activity: Option<(&'static str, Value)>,
}

/// Applies a batch's stored events to an issue.
///
/// `release_first_seen` says when a release was first seen in the project; `hours` are the
/// issue's hourly counts including this batch (needed only for archived issues); `users_after`
/// is its distinct users with this batch's (see [`crate::users`]).
pub(crate) fn decide(
    state: &IssueState,
    agg: &Aggregate,
    events: &[NewEvent],
    release_first_seen: impl Fn(&str) -> Option<OffsetDateTime>,
    hours: Option<&BTreeMap<i64, i64>>,
    users_after: i64,
) -> Decision {
    let mut d = Decision {
        status: state.status,
        substatus: state.substatus.clone(),
        resolved_at: state.resolved_at,
        resolved_in_release: state.resolved_in_release.clone(),
        archive: state.archive.clone(),
        substatus_changed_at: None,
        change: state.created.then_some(IssueChange::Created),
        activity: None,
    };
    match state.status {
        IssueStatus::Resolved => {
            // Resolved in next release: only an event of a release first seen after the
            // resolution regresses; events without a release cannot tell, so they do not.
            let trigger = match (&state.resolved_in_release, state.resolved_at) {
                (None, _) => agg.latest,
                (Some(_), Some(resolved_at)) => agg.releases.iter().copied().find(|&i| {
                    events[i]
                        .release
                        .as_deref()
                        .and_then(&release_first_seen)
                        .is_some_and(|first| first > resolved_at)
                }),
                (Some(_), None) => None,
            };
            if let Some(i) = trigger {
                d.status = IssueStatus::Unresolved;
                d.substatus = Some("regressed".into());
                d.resolved_at = None;
                d.resolved_in_release = None;
                d.change = Some(IssueChange::Regressed);
                d.substatus_changed_at = agg.received;
                d.activity = Some((
                    "regression",
                    json!({"release": events[i].release, "resolved_in_release": state.resolved_in_release}),
                ));
            }
        }
        IssueStatus::Archived => {
            if let Some(now) = agg.received {
                let archive = state.archive.clone().unwrap_or_else(archive::legacy);
                let counts = Counts {
                    events_before: state.event_count,
                    events_after: state.event_count + agg.stored,
                    users_before: state.user_count,
                    users_after,
                };
                match archive::check(&archive, hours, counts, now) {
                    Ok(kept) => d.archive = Some(kept),
                    Err(data) => {
                        d.status = IssueStatus::Unresolved;
                        d.substatus = Some("escalating".into());
                        d.archive = None;
                        d.change = Some(IssueChange::Escalated);
                        d.substatus_changed_at = Some(now);
                        d.activity = Some(("escalation", data));
                    }
                }
            }
        }
        IssueStatus::Unresolved | IssueStatus::Discarded => {}
    }
    d
}

/// Refuses every change but another discard on a discarded issue (issue 12, row 10).
///
/// Discarding deletes the issue's events and keeps the issue only as a tombstone that drops the
/// fingerprint's new events, as Sentry's "delete and discard" does; un-discarding it in place
/// would attach new events to an issue whose history is gone. Deleting the tombstone lifts it,
/// and the next event opens a new issue.
pub(crate) fn refuse_if_discarded(current: &Issue, change: StatusChange) -> crate::StoreResult<()> {
    if current.status == IssueStatus::Discarded && change != StatusChange::Discard {
        return Err(crate::StoreError::Conflict(
            "the issue is discarded: its events are deleted and new ones are dropped; delete the \
             issue to lift the discard, and the next event opens a new issue"
                .into(),
        ));
    }
    Ok(())
}

/// A user's state change applied to an issue: the new state and the activity to record, or
/// `None` when the issue is already there.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Transition {
    pub status: IssueStatus,
    pub substatus: Option<&'static str>,
    pub resolved_at: Option<OffsetDateTime>,
    pub resolved_in_release: Option<String>,
    pub archive: Option<Archive>,
    pub kind: &'static str,
    pub data: Value,
}

/// The transition `change` makes from `current` at `now`; `archive` is the archive an
/// [`StatusChange::Archive`] starts (see [`archive::start`]).
pub(crate) fn transition(
    current: &Issue,
    change: StatusChange,
    archive: Option<Archive>,
    now: OffsetDateTime,
) -> Option<Transition> {
    let t = |status, substatus, resolved_at, resolved_in_release, kind, data| Transition {
        status,
        substatus,
        resolved_at,
        resolved_in_release,
        archive: None,
        kind,
        data,
    };
    let next = match change {
        StatusChange::Resolve => t(
            IssueStatus::Resolved,
            None,
            Some(now),
            None,
            "resolved",
            json!({}),
        ),
        StatusChange::ResolveInNextRelease => {
            let release = current.last_release.clone().unwrap_or_default();
            t(
                IssueStatus::Resolved,
                None,
                Some(now),
                Some(release.clone()),
                "resolved_in_next_release",
                json!({"current_release": release}),
            )
        }
        StatusChange::Unresolve => t(
            IssueStatus::Unresolved,
            Some("ongoing"),
            None,
            None,
            "unresolved",
            json!({}),
        ),
        StatusChange::Archive(until) => {
            // Archiving again with another condition replaces the condition.
            if current.status == IssueStatus::Archived
                && current.archive.as_ref().is_some_and(|a| a.until == until)
            {
                return None;
            }
            let archive = archive?;
            Transition {
                data: archive::archived_data(&archive),
                archive: Some(archive),
                ..t(
                    IssueStatus::Archived,
                    Some(until.substatus()),
                    None,
                    None,
                    "archived",
                    Value::Null,
                )
            }
        }
        StatusChange::Discard => t(
            IssueStatus::Discarded,
            None,
            None,
            None,
            "discarded",
            json!({}),
        ),
    };
    let unchanged = next.status == current.status
        && next.status != IssueStatus::Archived
        && (next.resolved_in_release.is_some() == current.resolved_in_release.is_some());
    (!unchanged).then_some(next)
}
