//! The group commit's decisions, made once for both backends (issue 13).
//!
//! A batch write reads a little from the database (releases' first-seen times, the issues of
//! the batch's fingerprints, which event ids are new, hourly counts of archived issues, the
//! users already counted) and writes the rest. Everything in between is decided here, in pure
//! functions over plain values, so that SQLite and PostgreSQL execute one plan and cannot
//! disagree: which issue each event joins, which events are stored, duplicates or discarded,
//! what each issue's stored events add up to, the lifecycle decisions (regressions and
//! escalations, [`crate::lifecycle::decide`]), the rollups and the issues' updates.
//!
//! The phases, in the order a backend runs them, each after the reads it needs:
//! 1. [`Batch::new`]: the batch's issues (distinct project and fingerprint, in the fixed order
//!    that keeps two writers from deadlocking) and [`Batch::releases`];
//! 2. with the issues' states (read, or created with the first event's summary):
//!    [`Batch::anchors`] (first-seen times still needed), [`Batch::cap_hours`] (the hourly
//!    counts the projects' per-issue caps compare with), [`Batch::capped`] (the events over a
//!    cap) and [`Batch::candidates`] (the events to insert, idempotent on their ids);
//! 3. with which candidates were new: [`Batch::stored`] (outcomes, aggregates, rollups, new
//!    issues left empty), then [`Batch::hourly`] and [`Batch::hours_needed`];
//! 4. with those hours and the users counted ([`crate::users`]): [`Batch::updates`], one per
//!    issue that stored events, which also reports each issue's change on its first stored
//!    event.

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;
use time::OffsetDateTime;

use crate::archive;
use crate::event_model::{IssueChange, IssueStatus, NewEvent, WriteOutcome};
use crate::lifecycle::{Aggregate, Decision, IssueState, decide, hour_of};
use crate::outcome::DISCARDED;
use crate::rollup::Rollups;
use crate::users::UsersUpdate;

/// When releases were first seen in their projects: (project, version) → time.
pub(crate) type ReleaseTimes = HashMap<(i64, String), OffsetDateTime>;

/// Hourly counts (hour start in ms → events) per issue.
pub(crate) type IssueHours = HashMap<i64, BTreeMap<i64, i64>>;

/// The per-issue hourly caps of the batch's projects that have one: project → events.
pub(crate) type Caps = HashMap<i64, i64>;

/// Events counted per (issue, hour start in ms) before the batch: what the caps compare with.
pub(crate) type CapCounts = HashMap<(i64, i64), i64>;

/// One issue a batch touches.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct IssueKey<'a> {
    pub project_id: i64,
    pub fingerprint: &'a str,
    /// The batch's first event of the fingerprint: an issue created now starts with its
    /// title, culprit, level, timestamp and grouping.
    pub first: usize,
}

/// A batch of events and the issues they belong to.
#[derive(Debug)]
pub(crate) struct Batch<'a> {
    pub events: &'a [NewEvent],
    /// Distinct (project, fingerprint), in that order: issues are locked in it.
    pub issues: Vec<IssueKey<'a>>,
    /// Per event, the index of its issue in `issues`.
    pub issue_of: Vec<usize>,
}

/// What a batch's events came to once the database said which were new.
#[derive(Debug)]
pub(crate) struct Stored {
    /// Per event, in the batch's order.
    pub outcomes: Vec<WriteOutcome>,
    /// Per issue (as [`Batch::issues`]): its events counted, stored or capped.
    pub aggregates: Vec<Aggregate>,
    /// Per issue, its first event counted: the outcome that reports the issue's change.
    pub first_stored: Vec<Option<usize>>,
    /// Sums for `project_hourly`, `issue_tags` and the projects' counters; issues count as
    /// created only when they kept an event.
    pub rollups: Rollups,
    /// Issues created by this batch whose every event was a duplicate (stored earlier under
    /// another fingerprint): they must not exist empty, so the backend deletes them.
    pub empty: Vec<i64>,
}

/// What one issue becomes after the batch.
#[derive(Debug)]
pub(crate) struct IssueUpdate<'a> {
    pub id: i64,
    /// Events counted in it now: stored, or kept out by the per-issue cap.
    pub stored: i64,
    pub first_seen: OffsetDateTime,
    pub last_seen: OffsetDateTime,
    /// The stored event with the latest timestamp: its title, culprit and level become the
    /// issue's unless the issue has seen a later event; its receive time dates the activity.
    pub latest: &'a NewEvent,
    /// The first stored event: the one whose outcome reports the issue's change.
    pub first: &'a NewEvent,
    /// The release of the latest stored event that has one, with that event's timestamp: it
    /// becomes the issue's last release unless a later event set it (issue 12, row 11).
    pub release: Option<(&'a str, OffsetDateTime)>,
    /// The same for environments.
    pub environment: Option<(&'a str, OffsetDateTime)>,
    /// The user columns' new values.
    pub users: UsersUpdate,
    /// The lifecycle's decision: status, substatus, resolution, archive.
    pub decision: Decision,
}

impl IssueUpdate<'_> {
    /// The change to record for alert rules, when the issue changed: (kind, the first stored
    /// event's level, environment, release and tags).
    pub fn alert_trigger(&self) -> Option<(&'static str, Value)> {
        let kind = match self.decision.change? {
            IssueChange::Created => "new_issue",
            IssueChange::Regressed => "regression",
            IssueChange::Escalated => "escalation",
        };
        let e = self.first;
        let tags: serde_json::Map<String, Value> = e
            .tags
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        Some((
            kind,
            serde_json::json!({
                "event_id": e.event_id.to_string(),
                "level": e.level.as_str(),
                "environment": e.environment,
                "release": e.release,
                "tags": tags,
            }),
        ))
    }

    /// The activity entry to record (kind, data, time), if the decision made one.
    pub fn activity(&self) -> Option<(&'static str, &Value, OffsetDateTime)> {
        let (kind, data) = self.decision.activity.as_ref()?;
        Some((kind, data, self.latest.received_at))
    }
}

impl<'a> Batch<'a> {
    /// Groups `events` by issue.
    pub fn new(events: &'a [NewEvent]) -> Batch<'a> {
        let mut index: BTreeMap<(i64, &str), usize> = BTreeMap::new();
        for (i, e) in events.iter().enumerate() {
            index
                .entry((e.project_id, e.fingerprint.as_str()))
                .or_insert(i);
        }
        let mut issues = Vec::with_capacity(index.len());
        for (ordinal, ((project_id, fingerprint), slot)) in index.iter_mut().enumerate() {
            issues.push(IssueKey {
                project_id: *project_id,
                fingerprint,
                first: *slot,
            });
            *slot = ordinal;
        }
        let issue_of = events
            .iter()
            .map(|e| index[&(e.project_id, e.fingerprint.as_str())])
            .collect();
        Batch {
            events,
            issues,
            issue_of,
        }
    }

    /// The batch's releases, each once with the receive time of its first event (its
    /// first-seen time if the project never saw it), in (project, version) order.
    pub fn releases(&self) -> Vec<(i64, &'a str, OffsetDateTime)> {
        let mut seen: BTreeMap<(i64, &str), OffsetDateTime> = BTreeMap::new();
        for e in self.events {
            if let Some(release) = e.release.as_deref() {
                seen.entry((e.project_id, release)).or_insert(e.received_at);
            }
        }
        seen.into_iter().map(|((p, r), t)| (p, r, t)).collect()
    }

    /// The releases that issues resolved "in the next release" were resolved after, when
    /// `known` lacks their first-seen time: events of other releases regress such an issue
    /// only if first seen later (issue 12, row 3). Distinct, in order.
    pub fn anchors(&self, states: &[IssueState], known: &ReleaseTimes) -> Vec<(i64, String)> {
        let mut out: Vec<(i64, String)> = self
            .issues
            .iter()
            .zip(states)
            .filter_map(|(key, state)| {
                let anchor = (key.project_id, state.resolved_in_release.clone()?);
                (!known.contains_key(&anchor)).then_some(anchor)
            })
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    /// The events to insert: those of issues that are not discarded and not `capped`, in the
    /// batch's order. `states` are the issues' states, as [`Batch::issues`].
    pub fn candidates(&self, states: &[IssueState], capped: &[bool]) -> Vec<usize> {
        (0..self.events.len())
            .filter(|&i| states[self.issue_of[i]].status != IssueStatus::Discarded && !capped[i])
            .collect()
    }

    /// The (issue, hour in ms) whose counts so far the caps need: the hours of the events of
    /// issues that are not discarded, in projects with a cap. Distinct, in order.
    pub fn cap_hours(&self, states: &[IssueState], caps: &Caps) -> Vec<(i64, i64)> {
        let mut out: Vec<(i64, i64)> = self
            .events
            .iter()
            .enumerate()
            .filter(|(_, e)| caps.contains_key(&e.project_id))
            .map(|(i, e)| (&states[self.issue_of[i]], e))
            .filter(|(state, _)| state.status != IssueStatus::Discarded)
            .map(|(state, e)| (state.id, hour_of(e.timestamp)))
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Per event, whether its project's cap keeps it out: its issue counted that many events
    /// in the event's hour already (`counts`, then the batch's earlier events). Hours are the
    /// issue's hourly rollup's (by event timestamp), so the decision is made on the same
    /// counts, read under the issue's lock: exact however many writers run (RETAIN-04). An
    /// event whose id turns out to be stored already counts towards the cap of those after it.
    pub fn capped(&self, states: &[IssueState], caps: &Caps, counts: &CapCounts) -> Vec<bool> {
        let mut running = counts.clone();
        self.events
            .iter()
            .enumerate()
            .map(|(i, e)| {
                let state = &states[self.issue_of[i]];
                let Some(&cap) = caps.get(&e.project_id) else {
                    return false;
                };
                if state.status == IssueStatus::Discarded {
                    return false;
                }
                let n = running.entry((state.id, hour_of(e.timestamp))).or_default();
                *n += 1;
                *n > cap
            })
            .collect()
    }

    /// The outcome of every event, given `inserted[i]`: the row of candidate event `i` when the
    /// database stored it (its id was new; of two events with one id in a batch, the first),
    /// and `capped` (see [`Batch::capped`]). Other entries of `inserted` are not read.
    pub fn stored(
        &self,
        states: &[IssueState],
        inserted: &[Option<i64>],
        capped: &[bool],
    ) -> Stored {
        let mut aggregates: Vec<Aggregate> = Vec::new();
        aggregates.resize_with(self.issues.len(), Aggregate::default);
        let mut first_stored = vec![None; self.issues.len()];
        let mut rollups = Rollups::default();
        let mut outcomes = Vec::with_capacity(self.events.len());
        for (i, e) in self.events.iter().enumerate() {
            let g = self.issue_of[i];
            let state = &states[g];
            if state.status == IssueStatus::Discarded {
                rollups.outcome(e, DISCARDED);
                outcomes.push(WriteOutcome::Discarded { issue_id: state.id });
                continue;
            }
            if capped[i] {
                first_stored[g].get_or_insert(i);
                aggregates[g].add(i, self.events);
                rollups.add_capped(state.id, e);
                outcomes.push(WriteOutcome::Capped {
                    issue_id: state.id,
                    change: None,
                });
                continue;
            }
            let Some(row) = inserted[i] else {
                outcomes.push(WriteOutcome::Duplicate);
                continue;
            };
            first_stored[g].get_or_insert(i);
            aggregates[g].add(i, self.events);
            rollups.add(state.id, e);
            outcomes.push(WriteOutcome::Stored {
                issue_id: state.id,
                change: None,
                row,
            });
        }
        let mut empty = Vec::new();
        for ((key, state), agg) in self.issues.iter().zip(states).zip(&aggregates) {
            match (state.created, agg.stored) {
                (true, 0) => empty.push(state.id),
                (true, _) => rollups.issues(key.project_id, 1),
                (false, _) => {}
            }
        }
        Stored {
            outcomes,
            aggregates,
            first_stored,
            rollups,
            empty,
        }
    }

    /// The issues' hourly counts to add: (issue, project, hour start in ms, events).
    pub fn hourly(&self, states: &[IssueState], stored: &Stored) -> Vec<(i64, i64, i64, i64)> {
        states
            .iter()
            .zip(&self.issues)
            .zip(&stored.aggregates)
            .flat_map(|((state, key), agg)| {
                agg.hours
                    .iter()
                    .map(move |(h, n)| (state.id, key.project_id, *h, *n))
            })
            .collect()
    }

    /// Archived issues that stored events, with the hour (ms) from which their escalation check
    /// needs their hourly counts, this batch's included (see [`archive::window_start`]).
    pub fn hours_needed(&self, states: &[IssueState], stored: &Stored) -> Vec<(i64, i64)> {
        states
            .iter()
            .zip(&stored.aggregates)
            .filter(|(state, _)| state.status == IssueStatus::Archived)
            .filter_map(|(state, agg)| Some((state.id, archive::window_start(agg.received?))))
            .collect()
    }

    /// The update of every issue that stored events, deciding its lifecycle with the releases'
    /// first-seen times (the batch's and the anchors'), the hourly counts of
    /// [`Batch::hours_needed`] and the users as counted (issues absent from `users` keep
    /// theirs). Records each issue's change on the outcome of its first stored event.
    pub fn updates(
        &self,
        states: &[IssueState],
        stored: &mut Stored,
        releases: &ReleaseTimes,
        hours: &IssueHours,
        users: &mut HashMap<i64, UsersUpdate>,
    ) -> Vec<IssueUpdate<'a>> {
        let events = self.events;
        let mut out = Vec::new();
        for ((state, agg), first) in states
            .iter()
            .zip(&stored.aggregates)
            .zip(&stored.first_stored)
        {
            let (Some(latest), Some(first), Some(first_seen), Some(last_seen)) =
                (agg.latest, first, agg.first_seen, agg.last_seen)
            else {
                continue;
            };
            let users = users.remove(&state.id).unwrap_or_default();
            let project_id = events[latest].project_id;
            let decision = decide(
                state,
                agg,
                events,
                |release| releases.get(&(project_id, release.to_string())).copied(),
                hours.get(&state.id),
                users.count.unwrap_or(state.user_count),
            );
            if let WriteOutcome::Stored { change, .. } | WriteOutcome::Capped { change, .. } =
                &mut stored.outcomes[*first]
            {
                *change = decision.change;
            }
            let pick = |i: Option<usize>, f: fn(&NewEvent) -> Option<&str>| {
                i.and_then(|i| Some((f(&events[i])?, events[i].timestamp)))
            };
            out.push(IssueUpdate {
                id: state.id,
                stored: agg.stored,
                first_seen,
                last_seen,
                latest: &events[latest],
                first: &events[*first],
                release: pick(agg.release, |e| e.release.as_deref()),
                environment: pick(agg.environment, |e| e.environment.as_deref()),
                users,
                decision,
            });
        }
        out
    }
}

/// Plans `events` as a write into issues that are all new, every event stored: the planner's
/// whole pure path without a database, for its benchmark (issue 13). Answers the number of
/// issue updates planned.
#[cfg(feature = "testing")]
pub fn plan_new_batch(events: &[NewEvent]) -> usize {
    let batch = Batch::new(events);
    let states: Vec<IssueState> = (0..batch.issues.len())
        .map(|g| IssueState::created(g as i64 + 1))
        .collect();
    let releases: ReleaseTimes = batch
        .releases()
        .into_iter()
        .map(|(p, r, t)| ((p, r.to_string()), t))
        .collect();
    let mut inserted = vec![None; events.len()];
    let capped = vec![false; events.len()];
    for i in batch.candidates(&states, &capped) {
        inserted[i] = Some(i as i64);
    }
    let mut stored = batch.stored(&states, &inserted, &capped);
    let hourly = batch.hourly(&states, &stored);
    let updates = batch.updates(
        &states,
        &mut stored,
        &releases,
        &IssueHours::new(),
        &mut HashMap::new(),
    );
    std::hint::black_box((hourly, &stored.outcomes));
    updates.len()
}

#[cfg(test)]
mod tests {
    use time::Duration;
    use time::macros::datetime;

    use super::*;
    use crate::event_model::{Archive, ArchiveUntil, IssueChange};

    const T: OffsetDateTime = datetime!(2026-12-01 12:00 UTC);

    fn event(n: u8, fingerprint: &str, minutes: i64) -> NewEvent {
        NewEvent {
            project_id: 1,
            event_id: mesher_protocol::EventId::from_bytes([n; 16]),
            fingerprint: fingerprint.into(),
            timestamp: T + Duration::minutes(minutes),
            received_at: T + Duration::minutes(minutes) + Duration::seconds(1),
            level: mesher_protocol::Level::Error,
            title: format!("title {n}"),
            culprit: None,
            environment: None,
            release: None,
            search_text: String::new(),
            tags: vec![("browser".into(), "Firefox".into())],
            user_key: Some(format!("id:{n}")),
            grouping: "{}".into(),
            payload: Vec::new(),
            payload_size: 0,
        }
    }

    fn state(id: i64, status: IssueStatus, created: bool) -> IssueState {
        IssueState {
            id,
            status,
            substatus: None,
            resolved_at: None,
            resolved_in_release: None,
            users_hll: None,
            created,
            event_count: 0,
            user_count: 0,
            archive: None,
        }
    }

    /// Issue 13: issues are locked in (project, fingerprint) order whatever the batch's order,
    /// each created with its first event.
    #[test]
    fn issues_are_distinct_and_ordered() {
        let mut b2 = event(3, "b", 0);
        b2.project_id = 2;
        let events = vec![event(1, "b", 0), event(2, "a", 1), b2, event(4, "b", 2)];
        let batch = Batch::new(&events);
        let keys: Vec<(i64, &str, usize)> = batch
            .issues
            .iter()
            .map(|k| (k.project_id, k.fingerprint, k.first))
            .collect();
        assert_eq!(keys, [(1, "a", 1), (1, "b", 0), (2, "b", 2)]);
        assert_eq!(batch.issue_of, [1, 0, 2, 1]);
    }

    #[test]
    fn releases_are_distinct_with_their_first_receive_time() {
        let mut events = vec![event(1, "a", 5), event(2, "a", 0), event(3, "a", 1)];
        events[0].release = Some("2.0".into());
        events[1].release = Some("2.0".into());
        events[2].release = Some("1.0".into());
        let batch = Batch::new(&events);
        assert_eq!(
            batch.releases(),
            [
                (1, "1.0", events[2].received_at),
                (1, "2.0", events[0].received_at)
            ]
        );
        let mut states = vec![state(7, IssueStatus::Resolved, false)];
        states[0].resolved_in_release = Some("0.9".into());
        let known: ReleaseTimes = [((1, "1.0".to_string()), T)].into();
        assert_eq!(batch.anchors(&states, &known), [(1, "0.9".to_string())]);
        states[0].resolved_in_release = Some("1.0".into());
        assert!(batch.anchors(&states, &known).is_empty());
    }

    /// Outcomes stay exact (issue 13): discarded events are never inserted, duplicates are not
    /// counted, and a new issue that kept no event is removed rather than counted.
    #[test]
    fn outcomes_aggregates_and_rollups() {
        let events = vec![
            event(1, "a", 0),
            event(2, "gone", 0),
            event(3, "a", 10),
            event(4, "dup", 0),
            event(1, "a", 20),
        ];
        let batch = Batch::new(&events);
        // Issues in order: a, dup, gone.
        let states = vec![
            state(10, IssueStatus::Unresolved, true),
            state(11, IssueStatus::Unresolved, true),
            state(12, IssueStatus::Discarded, false),
        ];
        let capped = [false; 5];
        assert_eq!(batch.candidates(&states, &capped), [0, 2, 3, 4]);
        let inserted = [Some(100), None, Some(101), None, None];
        let mut stored = batch.stored(&states, &inserted, &capped);
        assert_eq!(stored.empty, [11]);
        assert_eq!(stored.first_stored, [Some(0), None, None]);
        assert_eq!(stored.aggregates[0].stored, 2);
        assert_eq!(stored.aggregates[0].latest, Some(2));
        assert_eq!(stored.rollups.counters[&1], (2, 1));
        assert_eq!(
            stored.rollups.issue_tags[&(10, "browser".into(), "Firefox".into())].0,
            2
        );
        let hour = crate::lifecycle::hour_of(T);
        assert_eq!(batch.hourly(&states, &stored), [(10, 1, hour, 2)]);
        assert!(batch.hours_needed(&states, &stored).is_empty());

        let updates = batch.updates(
            &states,
            &mut stored,
            &ReleaseTimes::new(),
            &IssueHours::new(),
            &mut HashMap::new(),
        );
        assert_eq!(updates.len(), 1);
        let u = &updates[0];
        assert_eq!(
            (u.id, u.stored, u.latest.title.as_str()),
            (10, 2, "title 3")
        );
        assert_eq!((u.first_seen, u.last_seen), (T, T + Duration::minutes(10)));
        assert_eq!(
            stored.outcomes,
            [
                WriteOutcome::Stored {
                    issue_id: 10,
                    change: Some(IssueChange::Created),
                    row: 100
                },
                WriteOutcome::Discarded { issue_id: 12 },
                WriteOutcome::Stored {
                    issue_id: 10,
                    change: None,
                    row: 101
                },
                WriteOutcome::Duplicate,
                WriteOutcome::Duplicate,
            ]
        );
    }

    /// RETAIN-04: with a cap of 3 per issue and hour and 2 counted already, one more event of
    /// the hour is stored and the rest are capped, yet all count in the issue; another hour
    /// and another project's issue are not held back.
    #[test]
    fn events_over_the_cap_count_in_the_issue_but_are_not_stored() {
        let mut other = event(9, "b", 0);
        other.project_id = 2;
        let events = vec![
            event(1, "a", 0),
            event(2, "a", 1),
            other,
            event(3, "a", 2),
            event(4, "a", 61),
        ];
        let batch = Batch::new(&events);
        // Issues in order: (1, a), (2, b).
        let states = vec![
            state(10, IssueStatus::Unresolved, false),
            state(11, IssueStatus::Unresolved, false),
        ];
        let caps: Caps = [(1, 3)].into();
        let hour = crate::lifecycle::hour_of(T);
        let next = crate::lifecycle::hour_of(T + Duration::minutes(61));
        assert_eq!(batch.cap_hours(&states, &caps), [(10, hour), (10, next)]);
        let counts: CapCounts = [((10, hour), 2)].into();
        let capped = batch.capped(&states, &caps, &counts);
        assert_eq!(capped, [false, true, false, true, false]);
        assert_eq!(batch.candidates(&states, &capped), [0, 2, 4]);
        let inserted = [Some(1), None, Some(2), None, Some(3)];
        let mut stored = batch.stored(&states, &inserted, &capped);
        assert_eq!(stored.aggregates[0].stored, 4);
        assert_eq!(
            stored.aggregates[0].hours,
            BTreeMap::from([(hour, 3), (next, 1)])
        );
        assert_eq!(stored.rollups.counters[&1], (2, 0));
        let received = crate::lifecycle::hour_of(events[0].received_at);
        assert_eq!(stored.rollups.outcomes[&(1, received, "capped")], 2);
        assert_eq!(stored.rollups.outcomes[&(1, received, "accepted")], 1);
        assert_eq!(
            stored.outcomes[1],
            WriteOutcome::Capped {
                issue_id: 10,
                change: None
            }
        );
        let updates = batch.updates(
            &states,
            &mut stored,
            &ReleaseTimes::new(),
            &IssueHours::new(),
            &mut HashMap::new(),
        );
        assert_eq!(
            (updates[0].stored, updates[0].latest.title.as_str()),
            (4, "title 4")
        );
    }

    /// A resolved issue regresses on its first stored event, with an activity entry; the
    /// issue's last release is the latest event's that has one (issue 12, rows 3 and 11).
    #[test]
    fn regressions_are_reported_on_the_first_stored_event() {
        let mut events = vec![event(1, "a", 5), event(2, "a", 0), event(3, "a", 9)];
        events[0].release = Some("1.1".into());
        events[0].environment = Some("prod".into());
        events[1].release = Some("1.0".into());
        let batch = Batch::new(&events);
        let mut states = vec![state(5, IssueStatus::Resolved, false)];
        states[0].resolved_at = Some(T - Duration::days(1));
        let mut stored = batch.stored(&states, &[Some(1), Some(2), Some(3)], &[false; 3]);
        let mut users = HashMap::from([(
            5,
            UsersUpdate {
                sketch: None,
                count: Some(3),
            },
        )]);
        let updates = batch.updates(
            &states,
            &mut stored,
            &ReleaseTimes::new(),
            &IssueHours::new(),
            &mut users,
        );
        let u = &updates[0];
        assert_eq!(u.decision.status, IssueStatus::Unresolved);
        assert_eq!(u.decision.substatus.as_deref(), Some("regressed"));
        assert_eq!(u.release, Some(("1.1", events[0].timestamp)));
        assert_eq!(u.environment, Some(("prod", events[0].timestamp)));
        assert_eq!(u.users.count, Some(3));
        let (kind, _, at) = u.activity().expect("a regression is recorded");
        assert_eq!((kind, at), ("regression", events[2].received_at));
        assert!(matches!(
            stored.outcomes[0],
            WriteOutcome::Stored {
                change: Some(IssueChange::Regressed),
                ..
            }
        ));
        assert!(users.is_empty());
    }

    /// Archived issues need their recent hours, from the window of their own latest event
    /// (issue 12, row 1); with a spike in those hours they escalate.
    #[test]
    fn archived_issues_read_their_hours_and_escalate() {
        let events: Vec<NewEvent> = (0..20).map(|n| event(n, "a", 0)).collect();
        let batch = Batch::new(&events);
        let mut states = vec![state(9, IssueStatus::Archived, false)];
        states[0].archive = Some(Archive {
            until: ArchiveUntil::Escalating,
            archived_at: T - Duration::days(1),
            expires_at: None,
            expected_volume: Some(10.0),
            hours_at_archive: Vec::new(),
            window_start: None,
            counted_from: 0,
        });
        let mut stored = batch.stored(&states, &[Some(1); 20], &[false; 20]);
        let now = events[0].received_at;
        assert_eq!(
            batch.hours_needed(&states, &stored),
            [(9, archive::window_start(now))]
        );
        let hours: IssueHours = [(9, BTreeMap::from([(crate::lifecycle::hour_of(T), 20)]))].into();
        let updates = batch.updates(
            &states,
            &mut stored,
            &ReleaseTimes::new(),
            &hours,
            &mut HashMap::new(),
        );
        assert_eq!(updates[0].decision.status, IssueStatus::Unresolved);
        assert_eq!(updates[0].decision.change, Some(IssueChange::Escalated));
        assert_eq!(updates[0].activity().map(|a| a.0), Some("escalation"));
    }
}
