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

impl IssueState {
    /// An issue the batch has just created: unresolved and new, with no events yet.
    pub fn created(id: i64) -> IssueState {
        IssueState {
            id,
            status: IssueStatus::Unresolved,
            substatus: Some("new".into()),
            resolved_at: None,
            resolved_in_release: None,
            users_hll: None,
            created: true,
            event_count: 0,
            user_count: 0,
            archive: None,
        }
    }
}

/// What the batch's events counted in one issue add up to: the stored ones and those the
/// per-issue cap kept out (RETAIN-04), which count in the issue all the same.
#[derive(Debug, Default)]
pub(crate) struct Aggregate {
    pub stored: i64,
    pub first_seen: Option<OffsetDateTime>,
    pub last_seen: Option<OffsetDateTime>,
    /// The stored event with the latest timestamp: it sets title, culprit and level.
    pub latest: Option<usize>,
    /// The stored event with the latest timestamp among those with a release: it sets the
    /// issue's last release unless the issue already has one from a later event (issue 12,
    /// row 11). An event without a release leaves the last release as it is, as Sentry's
    /// "last release" is the release of the most recent event that has one.
    pub release: Option<usize>,
    /// The same for environments.
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
    /// Accounts for `events[index]`, an event counted in the issue.
    pub fn add(&mut self, index: usize, events: &[NewEvent]) {
        let e = &events[index];
        self.stored += 1;
        self.first_seen = Some(self.first_seen.map_or(e.timestamp, |t| t.min(e.timestamp)));
        if self.last_seen.is_none_or(|t| e.timestamp >= t) {
            self.last_seen = Some(e.timestamp);
            self.latest = Some(index);
        }
        if e.release.is_some() {
            self.release = Some(newest(self.release, index, events));
            self.releases.push(index);
        }
        if e.environment.is_some() {
            self.environment = Some(newest(self.environment, index, events));
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

/// Of the event `current` points at and `events[index]`, the later by timestamp; the one that
/// arrived later on a tie, as the issue's title does.
fn newest(current: Option<usize>, index: usize, events: &[NewEvent]) -> usize {
    match current {
        Some(c) if events[c].timestamp > events[index].timestamp => c,
        _ => index,
    }
}

/// The start of the hour containing `t`, in ms since the epoch.
pub(crate) fn hour_of(t: OffsetDateTime) -> i64 {
    let ms = crate::time_util::to_millis(t);
    ms - ms.rem_euclid(HOUR_MS)
}

const HOUR_MS: i64 = 3_600_000;

/// Whether `release` is newer than `anchor`, the release an issue was resolved in the next
/// release of (issue 12, row 3). Versions of one package compare as versions, so an old build
/// first seen after the resolution is still old; any other pair compares by when each release
/// was first seen in the project, as Sentry compares release dates: only a release first seen
/// after the anchor is newer. An anchor the project never saw (the empty anchor of issues
/// resolved without any release) dates from the resolution.
fn newer_release(
    release: &str,
    anchor: &str,
    resolved_at: OffsetDateTime,
    first_seen: impl Fn(&str) -> Option<OffsetDateTime>,
) -> bool {
    if release == anchor {
        return false;
    }
    if let Some(order) = crate::release_order::version_order(release, anchor) {
        return order.is_gt();
    }
    let anchor_seen = first_seen(anchor).unwrap_or(resolved_at);
    first_seen(release).is_some_and(|seen| seen > anchor_seen)
}

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
/// `release_first_seen` says when a release was first seen in the project (it must know the
/// releases of the batch and the anchors of issues resolved in the next release); `hours` are the
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
            // Resolved in next release: only an event of a newer release regresses; events
            // without a release cannot tell, so they do not.
            let trigger = match (&state.resolved_in_release, state.resolved_at) {
                (None, _) => agg.latest,
                (Some(anchor), Some(resolved_at)) => agg.releases.iter().copied().find(|&i| {
                    events[i].release.as_deref().is_some_and(|release| {
                        newer_release(release, anchor, resolved_at, &release_first_seen)
                    })
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
///
/// `anchor` is the release "resolve in next release" resolves after: the issue's last release,
/// else the project's latest release (see [`needs_project_release`]); without one that change
/// is refused, as Sentry refuses it (issue 12, row 13).
pub(crate) fn transition(
    current: &Issue,
    anchor: Option<&str>,
    change: StatusChange,
    archive: Option<Archive>,
    now: OffsetDateTime,
) -> crate::StoreResult<Option<Transition>> {
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
            if current.status == IssueStatus::Resolved && current.resolved_in_release.is_some() {
                return Ok(None);
            }
            let release = anchor.ok_or(crate::StoreError::NoReleaseData)?.to_string();
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
                return Ok(None);
            }
            let Some(archive) = archive else {
                return Ok(None);
            };
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
    Ok((!unchanged).then_some(next))
}

/// Whether applying `change` to an issue whose last release is `last_release` needs the
/// project's latest release as its anchor.
pub(crate) fn needs_project_release(change: StatusChange, last_release: Option<&str>) -> bool {
    change == StatusChange::ResolveInNextRelease && last_release.is_none()
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    /// Issue 12, row 3: versions of one package by version, anything else by first-seen
    /// dates; an anchor the project never saw (the empty anchor of issues resolved without a
    /// release) dates from the resolution.
    #[test]
    fn a_newer_release_is_newer_by_version_else_by_date() {
        let t = datetime!(2026-11-23 12:00 UTC);
        let seen = |r: &str| match r {
            "app@1.0.0" | "build-b" => Some(t),
            "app@0.9.0" | "build-c" | "app@nightly" => Some(t + time::Duration::hours(1)),
            "build-a" => Some(t - time::Duration::hours(1)),
            _ => None,
        };
        let resolved = t + time::Duration::minutes(30);
        let newer = |release, anchor| newer_release(release, anchor, resolved, seen);
        assert!(!newer("app@0.9.0", "app@1.0.0"));
        assert!(newer("app@1.0.1", "app@1.0.0"));
        assert!(!newer("app@1.0.0", "app@1.0.0"));
        assert!(newer("app@nightly", "app@1.0.0"));
        assert!(newer("build-c", "build-b"));
        assert!(!newer("build-a", "build-b"));
        assert!(!newer("build-b", ""));
        assert!(newer("build-c", ""));
        assert!(!newer("never-seen", "build-b"));
    }
}
