//! The issue lifecycle rules shared by both backends (ISSUE-01 … ISSUE-03): what a batch of new
//! events does to an issue's state, and when an archived issue escalates.
//!
//! Pure functions over plain values, so that SQLite and PostgreSQL cannot disagree and the rules
//! can be tested with any clock.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::event_model::{IssueChange, IssueStatus, NewEvent};
use crate::hll;

/// An issue's state before the batch.
#[derive(Debug, Clone)]
pub(crate) struct IssueState {
    pub id: i64,
    pub status: IssueStatus,
    pub substatus: Option<String>,
    pub resolved_at: Option<OffsetDateTime>,
    pub resolved_in_release: Option<String>,
    pub users_hll: Option<Vec<u8>>,
    pub created: bool,
}

/// What the batch's stored events of one issue add up to.
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
    pub user_hashes: Vec<u64>,
    /// Stored events per hour (hour start, ms since the epoch).
    pub hours: BTreeMap<i64, i64>,
    /// Releases of the stored events.
    pub releases: Vec<usize>,
    /// The latest receive time among the stored events: "now" for the escalation check.
    pub received: Option<OffsetDateTime>,
}

impl Aggregate {
    /// Accounts for `events[index]`, a stored event.
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
/// Hours in the escalation baseline.
const BASELINE_HOURS: i64 = 7 * 24;
/// An archived issue escalates when its last hour exceeds max(FLOOR, FACTOR × hourly average).
const FLOOR: f64 = 10.0;
const FACTOR: f64 = 10.0;

/// How far back [`escalation`] needs hourly counts, from `now`.
pub(crate) fn escalation_window_start(now: OffsetDateTime) -> i64 {
    hour_of(now) - (BASELINE_HOURS + 1) * HOUR_MS
}

/// Whether hourly counts (hour start ms → events) show a spike at `now`: the events of the last
/// hour (the current hour plus the part of the previous hour still within 60 minutes) exceed
/// max(10, 10 × the hourly average of the 7 days before). Returns (last hour, average).
pub(crate) fn escalation(hours: &BTreeMap<i64, i64>, now: OffsetDateTime) -> Option<(f64, f64)> {
    let current = hour_of(now);
    let into_hour = (crate::time_util::to_millis(now) - current) as f64 / HOUR_MS as f64;
    let count = |h: i64| *hours.get(&h).unwrap_or(&0) as f64;
    let last_hour = count(current) + count(current - HOUR_MS) * (1.0 - into_hour);
    let baseline_start = current - (BASELINE_HOURS + 1) * HOUR_MS;
    let baseline: f64 = hours
        .range(baseline_start..current - HOUR_MS)
        .map(|(_, c)| *c as f64)
        .sum();
    let average = baseline / BASELINE_HOURS as f64;
    (last_hour > FLOOR.max(FACTOR * average)).then_some((last_hour, average))
}

/// What the activity log says about an escalation.
pub(crate) fn escalation_data(last_hour: f64, average: f64) -> Value {
    // Adding 0.0 turns the -0.0 that summing no hours gives (f64's empty sum) into 0.0, which
    // the activity log showed as "-0.0" (issue 12, row 14).
    let average = (average * 100.0).round() / 100.0 + 0.0;
    json!({"last_hour": last_hour.round() + 0.0, "hourly_average": average})
}

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
    pub users_hll: Option<Vec<u8>>,
    pub user_count: Option<i64>,
    pub change: Option<IssueChange>,
    /// An activity entry: kind and data.
    pub activity: Option<(&'static str, Value)>,
}

/// Applies a batch's stored events to an issue.
///
/// `release_first_seen` says when a release was first seen in the project (it must know the
/// releases of the batch and the anchors of issues resolved in the next release); `hours` are the
/// issue's hourly counts including this batch (needed only for archived issues).
pub(crate) fn decide(
    state: &IssueState,
    agg: &Aggregate,
    events: &[NewEvent],
    release_first_seen: impl Fn(&str) -> Option<OffsetDateTime>,
    hours: Option<&BTreeMap<i64, i64>>,
) -> Decision {
    let (users_hll, user_count) = if agg.user_hashes.is_empty() {
        (None, None)
    } else {
        let (sketch, n) = hll::add(state.users_hll.as_deref(), &agg.user_hashes);
        (Some(sketch), Some(n))
    };
    let mut d = Decision {
        status: state.status,
        substatus: state.substatus.clone(),
        resolved_at: state.resolved_at,
        resolved_in_release: state.resolved_in_release.clone(),
        users_hll,
        user_count,
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
                d.activity = Some((
                    "regression",
                    json!({"release": events[i].release, "resolved_in_release": state.resolved_in_release}),
                ));
            }
        }
        IssueStatus::Archived => {
            if let (Some(hours), Some(now)) = (hours, agg.received)
                && let Some((last_hour, average)) = escalation(hours, now)
            {
                d.status = IssueStatus::Unresolved;
                d.substatus = Some("escalating".into());
                d.change = Some(IssueChange::Escalated);
                d.activity = Some(("escalation", escalation_data(last_hour, average)));
            }
        }
        IssueStatus::Unresolved | IssueStatus::Discarded => {}
    }
    d
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    fn hours(pairs: &[(OffsetDateTime, i64)]) -> BTreeMap<i64, i64> {
        let mut m = BTreeMap::new();
        for (t, c) in pairs {
            *m.entry(hour_of(*t)).or_default() += c;
        }
        m
    }

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

    /// Issue 12, row 14: no history gives an average of 0, never "-0.0".
    #[test]
    fn an_empty_history_records_a_zero_average() {
        let now = datetime!(2026-11-23 12:30 UTC);
        let (last, average) = escalation(&hours(&[(now, 20)]), now).expect("a spike");
        let data = escalation_data(last, average);
        assert_eq!(
            data.to_string(),
            r#"{"hourly_average":0.0,"last_hour":20.0}"#
        );
    }

    #[test]
    fn a_spike_over_the_floor_escalates() {
        let now = datetime!(2026-11-23 12:30 UTC);
        assert!(
            escalation(&hours(&[(now, 10)]), now).is_none(),
            "10 is not more than 10"
        );
        assert!(escalation(&hours(&[(now, 11)]), now).is_some());
        // Half of the previous hour still counts at half past.
        let prev = now - time::Duration::hours(1);
        assert!(escalation(&hours(&[(now, 6), (prev, 12)]), now).is_some());
    }

    #[test]
    fn a_busy_baseline_raises_the_bar() {
        let now = datetime!(2026-11-23 12:00 UTC);
        // 5 events an hour for a week: the bar is 50.
        let mut pairs: Vec<_> = (2..=168)
            .map(|h| (now - time::Duration::hours(h), 5))
            .collect();
        pairs.push((now, 40));
        assert!(escalation(&hours(&pairs), now).is_none());
        pairs.push((now, 20));
        let (last, avg) = escalation(&hours(&pairs), now).unwrap();
        assert_eq!(last, 60.0);
        assert!((avg - 5.0 * 167.0 / 168.0).abs() < 1e-9);
    }
}

/// A user's state change applied to an issue: the new state and the activity to record, or
/// `None` when the issue is already there.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Transition {
    pub status: IssueStatus,
    pub substatus: Option<&'static str>,
    pub resolved_at: Option<OffsetDateTime>,
    pub resolved_in_release: Option<String>,
    pub kind: &'static str,
    pub data: Value,
}

/// The transition `change` makes from `status` (with `resolved_in_release` set or not) at `now`.
///
/// `anchor` is the release "resolve in next release" resolves after: the issue's last release,
/// else the project's latest release (see [`needs_project_release`]); without one that change
/// is refused, as Sentry refuses it (issue 12, row 13).
pub(crate) fn transition(
    status: IssueStatus,
    resolved_in_next: bool,
    anchor: Option<&str>,
    change: crate::event_model::StatusChange,
    now: OffsetDateTime,
) -> crate::StoreResult<Option<Transition>> {
    use crate::event_model::StatusChange as C;
    let t = |status, substatus, resolved_at, resolved_in_release, kind, data| Transition {
        status,
        substatus,
        resolved_at,
        resolved_in_release,
        kind,
        data,
    };
    let next = match change {
        C::Resolve => t(
            IssueStatus::Resolved,
            None,
            Some(now),
            None,
            "resolved",
            json!({}),
        ),
        C::ResolveInNextRelease => {
            if status == IssueStatus::Resolved && resolved_in_next {
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
        C::Unresolve => t(
            IssueStatus::Unresolved,
            Some("ongoing"),
            None,
            None,
            "unresolved",
            json!({}),
        ),
        C::Archive => t(
            IssueStatus::Archived,
            Some("archived_until_escalating"),
            None,
            None,
            "archived",
            json!({}),
        ),
        C::Discard => t(
            IssueStatus::Discarded,
            None,
            None,
            None,
            "discarded",
            json!({}),
        ),
    };
    let unchanged =
        next.status == status && (next.resolved_in_release.is_some() == resolved_in_next);
    Ok((!unchanged).then_some(next))
}

/// Whether applying `change` to an issue whose last release is `last_release` needs the
/// project's latest release as its anchor.
pub(crate) fn needs_project_release(
    change: crate::event_model::StatusChange,
    last_release: Option<&str>,
) -> bool {
    change == crate::event_model::StatusChange::ResolveInNextRelease && last_release.is_none()
}
