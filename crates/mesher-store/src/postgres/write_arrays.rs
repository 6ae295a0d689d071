//! The write path's columns as arrays, for its set-based statements (`UNNEST`).

use std::borrow::Cow;

use time::OffsetDateTime;

use super::events::{clean, clean_opt};
use super::issues::archive_text;
use crate::batch_plan::IssueUpdate;
use crate::rollup::Rollups;
use crate::time_util::from_millis;

/// A batch's rollups as the arrays of their set-based upserts.
pub(super) struct RollupArrays<'a> {
    pub(super) ph_projects: Vec<i64>,
    pub(super) ph_hours: Vec<OffsetDateTime>,
    pub(super) ph_levels: Vec<&'a str>,
    pub(super) ph_counts: Vec<i64>,
    pub(super) it_issues: Vec<i64>,
    pub(super) it_keys: Vec<String>,
    pub(super) it_values: Vec<String>,
    pub(super) it_counts: Vec<i64>,
    pub(super) it_lasts: Vec<OffsetDateTime>,
    pub(super) c_ids: Vec<i64>,
    pub(super) c_events: Vec<i64>,
    pub(super) c_issues: Vec<i64>,
    pub(super) pt_projects: Vec<i64>,
    pub(super) pt_keys: Vec<String>,
    pub(super) pt_hours: Vec<OffsetDateTime>,
    pub(super) pt_values: Vec<String>,
    pub(super) pt_counts: Vec<i64>,
    pub(super) im_projects: Vec<i64>,
    pub(super) im_minutes: Vec<OffsetDateTime>,
    pub(super) im_issues: Vec<i64>,
    pub(super) im_envs: Vec<String>,
    pub(super) im_counts: Vec<i64>,
}

impl<'a> RollupArrays<'a> {
    pub(super) fn new(r: &'a Rollups) -> RollupArrays<'a> {
        let changed: Vec<(&i64, &(i64, i64))> = r
            .counters
            .iter()
            .filter(|(_, c)| c.0 != 0 || c.1 != 0)
            .collect();
        RollupArrays {
            ph_projects: r.project_hours.keys().map(|k| k.0).collect(),
            ph_hours: r.project_hours.keys().map(|k| from_millis(k.1)).collect(),
            ph_levels: r.project_hours.keys().map(|k| k.2.as_str()).collect(),
            ph_counts: r.project_hours.values().copied().collect(),
            it_issues: r.issue_tags.keys().map(|k| k.0).collect(),
            it_keys: r
                .issue_tags
                .keys()
                .map(|k| clean(&k.1).into_owned())
                .collect(),
            it_values: r
                .issue_tags
                .keys()
                .map(|k| clean(&k.2).into_owned())
                .collect(),
            it_counts: r.issue_tags.values().map(|v| v.0).collect(),
            it_lasts: r.issue_tags.values().map(|v| v.1).collect(),
            c_ids: changed.iter().map(|c| *c.0).collect(),
            c_events: changed.iter().map(|c| c.1.0).collect(),
            c_issues: changed.iter().map(|c| c.1.1).collect(),
            pt_projects: r.project_tags.keys().map(|k| k.0).collect(),
            pt_keys: r
                .project_tags
                .keys()
                .map(|k| clean(&k.1).into_owned())
                .collect(),
            pt_hours: r.project_tags.keys().map(|k| from_millis(k.2)).collect(),
            pt_values: r
                .project_tags
                .keys()
                .map(|k| clean(&k.3).into_owned())
                .collect(),
            pt_counts: r.project_tags.values().copied().collect(),
            im_projects: r.issue_minutes.keys().map(|k| k.0).collect(),
            im_minutes: r.issue_minutes.keys().map(|k| from_millis(k.1)).collect(),
            im_issues: r.issue_minutes.keys().map(|k| k.2).collect(),
            im_envs: r
                .issue_minutes
                .keys()
                .map(|k| clean(&k.3).into_owned())
                .collect(),
            im_counts: r.issue_minutes.values().copied().collect(),
        }
    }
}

/// Columns of the per-issue update, one array each.
#[derive(Default)]
pub(super) struct Updates {
    pub(super) ids: Vec<i64>,
    pub(super) counts: Vec<i64>,
    pub(super) firsts: Vec<OffsetDateTime>,
    pub(super) lasts: Vec<OffsetDateTime>,
    pub(super) titles: Vec<String>,
    pub(super) culprits: Vec<Option<String>>,
    pub(super) levels: Vec<String>,
    pub(super) releases: Vec<Option<String>>,
    pub(super) envs: Vec<Option<String>>,
    pub(super) hlls: Vec<Option<Vec<u8>>>,
    pub(super) user_counts: Vec<Option<i64>>,
    pub(super) statuses: Vec<&'static str>,
    pub(super) substatuses: Vec<Option<String>>,
    pub(super) resolved_at: Vec<Option<OffsetDateTime>>,
    pub(super) resolved_in: Vec<Option<String>>,
    pub(super) archives: Vec<Option<String>>,
    pub(super) archive_expires: Vec<Option<OffsetDateTime>>,
    pub(super) substatus_changed: Vec<Option<OffsetDateTime>>,
    /// Timestamps of the events `releases` and `envs` come from.
    pub(super) release_times: Vec<Option<OffsetDateTime>>,
    pub(super) environment_times: Vec<Option<OffsetDateTime>>,
}

impl Updates {
    /// The plan's updates, cleaned of NUL characters, as arrays.
    pub(super) fn new(updates: &[IssueUpdate<'_>]) -> Updates {
        let mut u = Updates::default();
        for up in updates {
            let (e, d) = (up.latest, &up.decision);
            u.ids.push(up.id);
            u.counts.push(up.stored);
            u.firsts.push(up.first_seen);
            u.lasts.push(up.last_seen);
            u.titles.push(clean(&e.title).into_owned());
            u.culprits.push(clean_opt(&e.culprit).map(Cow::into_owned));
            u.levels.push(e.level.as_str().to_string());
            u.releases.push(up.release.map(|r| clean(r.0).into_owned()));
            u.envs.push(up.environment.map(|r| clean(r.0).into_owned()));
            u.release_times.push(up.release.map(|r| r.1));
            u.environment_times.push(up.environment.map(|r| r.1));
            u.hlls.push(up.users.sketch.clone());
            u.user_counts.push(up.users.count);
            u.statuses.push(d.status.as_str());
            u.substatuses.push(d.substatus.clone());
            u.resolved_at.push(d.resolved_at);
            u.resolved_in.push(d.resolved_in_release.clone());
            u.archives.push(archive_text(d.archive.as_ref()));
            u.archive_expires
                .push(d.archive.as_ref().and_then(|a| a.expires_at));
            u.substatus_changed.push(d.substatus_changed_at);
        }
        u
    }
}

/// The issues' changes for alert rules, one array per column of `alert_triggers`.
#[derive(Default)]
pub(super) struct Triggers {
    pub(super) projects: Vec<i64>,
    pub(super) issues: Vec<i64>,
    pub(super) kinds: Vec<&'static str>,
    pub(super) events: Vec<serde_json::Value>,
    pub(super) at: Vec<OffsetDateTime>,
}

impl Triggers {
    /// The changes among the plan's updates.
    pub(super) fn new(updates: &[IssueUpdate<'_>]) -> Triggers {
        let mut t = Triggers::default();
        for u in updates {
            if let Some((kind, event)) = u.alert_trigger() {
                t.projects.push(u.first.project_id);
                t.issues.push(u.id);
                t.kinds.push(kind);
                t.events.push(clean_json(event));
                t.at.push(u.first.received_at);
            }
        }
        t
    }
}

/// A JSON value without NUL characters in its strings (PostgreSQL's jsonb refuses them).
fn clean_json(v: serde_json::Value) -> serde_json::Value {
    match serde_json::to_string(&v) {
        Ok(text) if text.contains("\\u0000") => {
            serde_json::from_str(&text.replace("\\u0000", "")).unwrap_or(v)
        }
        _ => v,
    }
}
