//! Per-batch rollups shared by both backends: events per project-hour-level, tag values per
//! issue and per project-hour, and per-project counters. The writer adds each stored event; the
//! backend writes the sums with one upsert per distinct key, so their cost grows with distinct
//! keys, not events.

use std::collections::BTreeMap;

use time::OffsetDateTime;

use crate::event_model::NewEvent;
use crate::lifecycle::hour_of;
use crate::outcome::{ACCEPTED, CAPPED};
use crate::query::tag_token;

/// Sums of one batch.
#[derive(Debug, Default)]
pub(crate) struct Rollups {
    /// (project, hour start ms, level) → events.
    pub project_hours: BTreeMap<(i64, i64, String), i64>,
    /// (issue, key, value) → (events, latest timestamp).
    pub issue_tags: BTreeMap<(i64, String, String), (i64, OffsetDateTime)>,
    /// (project, key, hour start ms, value) → events (issue 13: project-wide tag breakdowns).
    pub project_tags: BTreeMap<(i64, String, i64, String), i64>,
    /// project → (events stored, issues created).
    pub counters: BTreeMap<i64, (i64, i64)>,
    /// (project, minute of receipt in ms, issue, environment or "") → events: what threshold
    /// alerts count (issue 16).
    pub issue_minutes: BTreeMap<(i64, i64, i64, String), i64>,
    /// (project, hour of receipt in ms, reason) → events: the writer's outcomes (RETAIN-04).
    pub outcomes: BTreeMap<(i64, i64, &'static str), i64>,
}

impl Rollups {
    /// Accounts for an event stored in `issue_id`.
    pub fn add(&mut self, issue_id: i64, e: &NewEvent) {
        self.add_to_issue(issue_id, e);
        self.outcome(e, ACCEPTED);
        *self
            .project_hours
            .entry((
                e.project_id,
                hour_of(e.timestamp),
                e.level.as_str().to_string(),
            ))
            .or_default() += 1;
        // As the event's stored tags hold them: one value per key, the last one given.
        let tags: BTreeMap<&str, &str> = e.tags.iter().map(|(k, v)| (&**k, &**v)).collect();
        for (k, v) in tags {
            *self
                .project_tags
                .entry((e.project_id, k.into(), hour_of(e.timestamp), v.into()))
                .or_default() += 1;
        }
        self.counters.entry(e.project_id).or_default().0 += 1;
    }

    /// Accounts for an event of `issue_id` kept out by the per-issue cap: it counts in its
    /// issue's rollups (tags, minutes) but in none of the project's, which describe stored
    /// events (a tag breakdown adds whole hours to counts read from the events).
    pub fn add_capped(&mut self, issue_id: i64, e: &NewEvent) {
        self.add_to_issue(issue_id, e);
        self.outcome(e, CAPPED);
    }

    /// Counts an event's outcome in the hour it was received.
    pub fn outcome(&mut self, e: &NewEvent, reason: &'static str) {
        *self
            .outcomes
            .entry((e.project_id, hour_of(e.received_at), reason))
            .or_default() += 1;
    }

    /// The issue's own rollups of an event counted in it.
    fn add_to_issue(&mut self, issue_id: i64, e: &NewEvent) {
        for (k, v) in &e.tags {
            let entry = self
                .issue_tags
                .entry((issue_id, k.clone(), v.clone()))
                .or_insert((0, e.timestamp));
            entry.0 += 1;
            entry.1 = entry.1.max(e.timestamp);
        }
        *self
            .issue_minutes
            .entry((
                e.project_id,
                minute_of(e.received_at),
                issue_id,
                e.environment.clone().unwrap_or_default(),
            ))
            .or_default() += 1;
    }

    /// Accounts for an issue created (or, with `-1`, removed again) in a project.
    pub fn issues(&mut self, project_id: i64, delta: i64) {
        self.counters.entry(project_id).or_default().1 += delta;
    }
}

/// The start of `t`'s minute, in milliseconds since the epoch.
pub(crate) fn minute_of(t: OffsetDateTime) -> i64 {
    let ms = crate::time_util::to_millis(t);
    ms - ms.rem_euclid(60_000)
}

/// The search token of a project: every indexed event carries its project's, so that a search
/// is confined to one project inside the index itself.
pub(crate) fn project_token(project_id: i64) -> String {
    format!("pj{project_id}")
}

/// What the full-text index holds for an event: its text, its project's token, then one token
/// per tag pair so that `key:value` filters are exact index lookups.
pub(crate) fn index_text(e: &NewEvent) -> String {
    let mut text = String::with_capacity(e.search_text.len() + e.tags.len() * 19 + 24);
    text.push_str(&e.search_text);
    text.push(' ');
    text.push_str(&project_token(e.project_id));
    for (k, v) in &e.tags {
        text.push(' ');
        text.push_str(&tag_token(k, v));
    }
    text
}
