//! An issue's page (UI-03, UI-04): title, culprit, state and the actions that change it,
//! assignee, counts, first and last seen, a volume chart, tag breakdown, activity, one event in
//! full (the latest, or the one asked for, with links to the older and newer ones) and why its
//! events group together.
//!
//! Reads: the issue, its hourly rollup, its tag rollup, its activity, the organization's
//! members, and one event (by its primary key): nothing that grows with the issue's events.

use std::collections::HashMap;

use askama::Template;
use axum::extract::State;
use axum::response::Redirect;
use mesher_protocol::EventId;
use mesher_store::{
    Archive, ArchiveUntil, EventQuery, Issue, IssueActivity, IssueStatus, Role, Scope, StoreError,
    StoredEvent,
};
use serde::Deserialize;
use time::OffsetDateTime;

use super::charts::{self, Svg};
use super::context::{Notice, ProjectScope, Range, RangeLink, done, series, store_bucket};
use super::event_view::{EventView, tag_term};
use super::extract::{PagePath, PageQuery, Posted, SignedIn};
use super::format::{When, count, query, truncate};
use super::grouping::GroupingView;
use super::issues::{ARCHIVE_OPTIONS, Choice, change};
use super::layout::{Layout, Nav};
use super::zone::Zone;
use super::{HtmlError, impl_page, paths};
use crate::error::ApiError;
use crate::ops::{self, Ops, OpsError};
use crate::state::AppState;

/// Tag keys shown in the breakdown, most common first.
const MAX_TAG_KEYS: usize = 12;
/// Values shown per tag key.
const VALUES_PER_KEY: u32 = 4;

/// The issue page.
#[derive(Template)]
#[template(path = "issue.html")]
pub struct IssuePage {
    layout: Layout,
    notice: Option<Notice>,
    issue: IssueHead,
    actions: Vec<Action>,
    /// The archive menu (issue 12, row 5); empty for a discarded issue.
    archive_options: Vec<Choice>,
    can_delete: bool,
    status_action: String,
    assign_action: String,
    delete_action: String,
    assignees: Vec<Choice>,
    ranges: Vec<RangeLink>,
    range_phrase: &'static str,
    timeline: Svg,
    tags: Vec<TagBreakdown>,
    activity: Vec<ActivityItem>,
    event: Option<EventView>,
    /// Ways to pass the shown event on: its JSON and its link.
    share: Option<Share>,
    older: Option<String>,
    newer: Option<String>,
    latest: Option<String>,
    grouping: Option<GroupingView>,
    events_href: String,
    /// What retention deleted of the issue's events (RETAIN-02), said above the event.
    expired: Option<String>,
}
impl_page!(IssuePage);

/// What the page's header says about the issue.
pub struct IssueHead {
    title: String,
    culprit: String,
    level: String,
    status: &'static str,
    /// "regressed", "escalating", "resolved in the next release after 2.1.0"…
    detail: Option<String>,
    events: String,
    users: String,
    first_seen: When,
    last_seen: When,
    release: Option<String>,
    environment: Option<String>,
}

/// A state change button.
pub struct Action {
    value: &'static str,
    label: &'static str,
    primary: bool,
    confirm: Option<&'static str>,
}

/// One tag key's values among the issue's events.
pub struct TagBreakdown {
    key: String,
    bar: Svg,
    values: Vec<TagValue>,
}

/// A tag value with its share and a link to its events.
pub struct TagValue {
    value: String,
    count: String,
    percent: String,
    href: String,
}

/// The shown event's JSON (a path) and its permalink (absolute, to paste anywhere).
pub struct Share {
    json: String,
    link: String,
}

/// An entry of the activity log.
pub struct ActivityItem {
    when: When,
    text: String,
}

/// Longest issue title in a browser tab's title (the whole one is the page's heading).
const TAB_TITLE: usize = 60;

/// The query of the issue page.
#[derive(Debug, Deserialize)]
pub(super) struct IssueQuery {
    event: Option<String>,
    range: Option<String>,
    done: Option<String>,
}

/// The issue `issue_id` of project `project_id`; 404 when it belongs to another project, as
/// when it does not exist.
async fn issue_in(state: &AppState, project_id: i64, issue_id: i64) -> Result<Issue, HtmlError> {
    match state.store().issue(issue_id).await? {
        Some(issue) if issue.project_id == project_id => Ok(issue),
        _ => Err(ApiError::NotFound("issue not found".into()).into()),
    }
}

/// `GET /projects/{id}/issues/{issue}`.
pub(super) async fn page(
    State(state): State<AppState>,
    layout: Layout,
    user: SignedIn,
    PagePath((id, issue_id)): PagePath<(i64, i64)>,
    PageQuery(q): PageQuery<IssueQuery>,
) -> Result<IssuePage, HtmlError> {
    let scope = ProjectScope::load(&state, &user, layout, id, Nav::Issues, "Issue").await?;
    let issue = issue_in(&state, id, issue_id).await?;
    let store = state.store();
    let now = mesher_store::now();
    let zone = &user.zone;
    let range = Range::parse(q.range.as_deref());
    let (since, until, bucket) = range.window(now);
    let (timeline, tags, activity, members, event, storage) = tokio::try_join!(
        store.issue_timeline(issue.id, since, until, store_bucket(bucket)),
        store.issue_tag_values(issue.id, VALUES_PER_KEY),
        store.list_activity(issue.id),
        store.list_members(scope.org.id),
        chosen_event(&state, &issue, q.event.as_deref()),
        store.project_storage(id),
    )?;
    let expired = storage
        .expired_before
        .filter(|before| issue.first_seen < *before)
        .map(|before| {
            let days = match scope.project.retention_days {
                1 => "1 day".to_string(),
                n => format!("{n} days"),
            };
            if issue.last_seen < before {
                format!(
                    "Every event of this issue has expired: the project keeps events for {days}. \
                     Its counts and first and last seen still include them."
                )
            } else {
                format!(
                    "Events before {} have expired: the project keeps events for {days}. \
                     The counts still include them.",
                    zone.when(before, now).exact
                )
            }
        });
    let (older, newer) = match &event {
        Some(e) => store.adjacent_events(issue.id, e.event_id).await?,
        None => (None, None),
    };

    let l = &scope.layout;
    let here = l.url(&paths::issue(id, issue.id));
    let events_href = l.url(&paths::events(id));
    let keep_range = [("range", q.range.as_deref().unwrap_or_default())];
    let event_link = |event_id: EventId| {
        let event_id = event_id.to_string();
        let pairs = keep_range
            .iter()
            .copied()
            .chain([("event", event_id.as_str())]);
        format!("{here}{}", query(pairs))
    };
    let names: HashMap<i64, String> = members
        .iter()
        .map(|m| (m.user.id, m.user.name.clone()))
        .collect();
    let mut assignees = vec![Choice {
        value: String::new(),
        label: "Nobody".into(),
        selected: issue.assignee_id.is_none(),
    }];
    assignees.extend(members.iter().map(|m| Choice {
        value: m.user.id.to_string(),
        label: format!("{} ({})", m.user.name, m.user.email),
        selected: issue.assignee_id == Some(m.user.id),
    }));
    let showing_latest = q.event.is_none() || newer.is_none();
    // The browser's tab names the issue (and the event, when one was linked to), so that tabs
    // and history entries tell issues apart.
    let mut tab = truncate(issue.title.trim(), TAB_TITLE);
    if let (Some(e), Some(_)) = (&event, &q.event) {
        tab = format!("{tab} · event {}", &e.event_id.to_string()[..8]);
    }
    let share = event.as_ref().map(|e| {
        let event_id = e.event_id.to_string();
        Share {
            json: l.url(&paths::event_json(id, &event_id)),
            link: format!(
                "{}{}",
                state.public_url().as_str().trim_end_matches('/'),
                paths::event(id, &event_id)
            ),
        }
    });
    let can_delete = scope.can_admin();
    let layout = scope
        .layout
        .titled(format!("{tab} · {}", scope.project.name));
    Ok(IssuePage {
        expired,
        notice: Notice::from_done(q.done.as_deref()),
        actions: actions(&issue),
        archive_options: archive_options(&issue),
        can_delete,
        status_action: format!("{here}/status"),
        assign_action: format!("{here}/assign"),
        delete_action: format!("{here}/delete"),
        assignees,
        ranges: range.links(&here, &[("event", q.event.as_deref().unwrap_or_default())]),
        range_phrase: range.phrase(),
        timeline: charts::volume_chart(&series(&timeline), bucket, 860, 160),
        tags: breakdown(tags, issue.event_count, &events_href, issue.id),
        activity: activity_items(&issue, &activity, &names, now, zone),
        event: event.map(|e| EventView::new(&e, &events_href, now, zone)),
        share,
        older: older.map(event_link),
        newer: newer.map(event_link),
        latest: (!showing_latest).then(|| format!("{here}{}", query(keep_range))),
        grouping: issue.grouping.as_ref().and_then(GroupingView::new),
        events_href: format!(
            "{events_href}{}",
            query([("q", format!("issue:{}", issue.id).as_str())])
        ),
        issue: head(&issue, now, zone),
        layout,
    })
}

/// The event asked for (404 when it is not one of this issue's), else the latest stored.
async fn chosen_event(
    state: &AppState,
    issue: &Issue,
    asked: Option<&str>,
) -> Result<Option<StoredEvent>, mesher_store::StoreError> {
    let store = state.store();
    let id = match asked {
        Some(asked) => match EventId::parse(asked) {
            Ok(id) => id,
            Err(_) => return Err(mesher_store::StoreError::NotFound("event")),
        },
        None => {
            let latest = store
                .query_events(&EventQuery {
                    project_id: issue.project_id,
                    issue_id: Some(issue.id),
                    limit: 1,
                    ..EventQuery::default()
                })
                .await?;
            match latest.items.first().map(|e| e.event_id) {
                Some(id) => id,
                // Every event deleted (retention): the page says so.
                None => return Ok(None),
            }
        }
    };
    match store.event(issue.project_id, id).await? {
        Some(event) if event.issue_id == issue.id => Ok(Some(event)),
        _ => Err(mesher_store::StoreError::NotFound("event")),
    }
}

fn head(issue: &Issue, now: OffsetDateTime, zone: &Zone) -> IssueHead {
    let detail = match (issue.status, issue.substatus.as_deref()) {
        (IssueStatus::Resolved, _) => match issue.resolved_in_release.as_deref() {
            Some("") => Some("in the next release".to_string()),
            Some(release) => Some(format!("in the next release after {release}")),
            None => None,
        },
        (IssueStatus::Unresolved, Some(s @ ("regressed" | "escalating" | "new"))) => {
            Some(s.to_string())
        }
        (IssueStatus::Archived, _) => Some(match &issue.archive {
            Some(a) => archive_words(a, zone),
            None => "until it escalates".to_string(),
        }),
        (IssueStatus::Discarded, _) => {
            Some("its events are deleted and new ones are dropped".to_string())
        }
        _ => None,
    };
    IssueHead {
        title: issue.title.clone(),
        culprit: issue.culprit.clone().unwrap_or_default(),
        level: issue.level.clone(),
        status: issue.status.as_str(),
        detail,
        events: count(issue.event_count),
        users: count(issue.user_count),
        first_seen: zone.when(issue.first_seen, now),
        last_seen: zone.when(issue.last_seen, now),
        release: issue.last_release.clone(),
        environment: issue.last_environment.clone(),
    }
}

/// The state changes that make sense from the issue's state, the usual one first.
fn actions(issue: &Issue) -> Vec<Action> {
    let action = |value, label, primary| Action {
        value,
        label,
        primary,
        confirm: None,
    };
    let discard = Action {
        value: "discard",
        label: "Discard",
        primary: false,
        confirm: Some(
            "Discard this issue? Its events will be deleted and new ones dropped until an admin \
             lifts the discard.",
        ),
    };
    let mut list = match issue.status {
        IssueStatus::Unresolved => vec![action("resolve", "Resolve", true)],
        IssueStatus::Resolved => vec![action("unresolve", "Unresolve", true)],
        IssueStatus::Archived => vec![
            action("resolve", "Resolve", true),
            action("unresolve", "Unresolve", false),
        ],
        // Lifting a discard deletes the tombstone (issue 12, row 10): admins only, as deletion.
        IssueStatus::Discarded => vec![action("undiscard", "Stop discarding", true)],
    };
    let resolved_next =
        issue.status == IssueStatus::Resolved && issue.resolved_in_release.is_some();
    // Without a release of its own, the issue resolves after the project's latest release, or
    // the page says why it cannot (issue 12, row 13).
    if issue.status != IssueStatus::Discarded && !resolved_next {
        list.push(action(
            "resolve_in_next_release",
            "Resolve in next release",
            false,
        ));
    }
    if issue.status != IssueStatus::Discarded {
        list.push(discard);
    }
    list
}

fn breakdown(
    tags: Vec<(String, Vec<(String, i64)>)>,
    total: i64,
    events_href: &str,
    issue_id: i64,
) -> Vec<TagBreakdown> {
    let total_u = u64::try_from(total).unwrap_or(0);
    tags.into_iter()
        .take(MAX_TAG_KEYS)
        .map(|(key, values)| {
            let counts: Vec<(String, u64)> = values
                .iter()
                .map(|(v, n)| (v.clone(), u64::try_from(*n).unwrap_or(0)))
                .collect();
            let shown_total = total_u.max(counts.iter().map(|(_, n)| n).sum());
            TagBreakdown {
                bar: charts::tag_distribution(&key, &counts, total_u),
                values: counts
                    .iter()
                    .map(|(value, n)| {
                        let term = format!("issue:{issue_id} {}", tag_term(&key, value));
                        TagValue {
                            value: value.clone(),
                            count: count(i64::try_from(*n).unwrap_or(i64::MAX)),
                            percent: charts::percent((*n).into(), shown_total.into()),
                            href: format!("{events_href}{}", query([("q", term.as_str())])),
                        }
                    })
                    .collect(),
                key,
            }
        })
        .collect()
}

/// The archive choices, the current condition selected.
fn archive_options(issue: &Issue) -> Vec<Choice> {
    if issue.status == IssueStatus::Discarded {
        return Vec::new();
    }
    let current = issue.archive.as_ref().map(|a| a.until);
    ARCHIVE_OPTIONS
        .iter()
        .map(|(value, label, until)| Choice {
            value: value.to_string(),
            label: label.to_string(),
            selected: current == Some(*until),
        })
        .collect()
}

/// An archive condition in words: "until 100 more events within 60 minutes".
fn until_words(until: ArchiveUntil) -> String {
    let within = |w: Option<i64>| {
        w.map(|m| format!(" within {}", minutes_words(m)))
            .unwrap_or_default()
    };
    match until {
        ArchiveUntil::Escalating => "until it escalates".into(),
        ArchiveUntil::Forever => "forever".into(),
        ArchiveUntil::Duration { minutes } => format!("for {}", minutes_words(minutes)),
        ArchiveUntil::EventCount {
            count,
            window_minutes,
        } => {
            format!("until {count} more events{}", within(window_minutes))
        }
        ArchiveUntil::UserCount {
            count,
            window_minutes,
        } => {
            format!("until {count} more users{}", within(window_minutes))
        }
    }
}

fn minutes_words(m: i64) -> String {
    let unit = |n: i64, one: &str| format!("{n} {one}{}", if n == 1 { "" } else { "s" });
    if m % 1440 == 0 {
        unit(m / 1440, "day")
    } else if m % 60 == 0 {
        unit(m / 60, "hour")
    } else {
        unit(m, "minute")
    }
}

/// How an archived issue is archived, for its header.
fn archive_words(a: &Archive, zone: &Zone) -> String {
    let words = until_words(a.until);
    match (a.until, a.expected_volume, a.expires_at) {
        (ArchiveUntil::Escalating, Some(e), _) => {
            format!("{words} (more than {e} new events in an hour)")
        }
        (_, _, Some(end)) => format!("{words}, until {}", zone.exact(end)),
        _ => words,
    }
}

/// An `archived` entry's condition in words; entries from before conditions were recorded
/// have none and were until escalating.
fn archived_words(data: &serde_json::Value) -> String {
    let until = serde_json::from_value(data.clone()).unwrap_or(ArchiveUntil::Escalating);
    let words = until_words(until);
    match data.get("expected_volume").and_then(|v| v.as_f64()) {
        Some(e) => format!("{words} (more than {e} new events in an hour)"),
        None => words,
    }
}

/// Why an archived issue came back (issue 12, row 1: expected and observed volume).
fn escalation_words(data: &serde_json::Value) -> String {
    let num = |k: &str| data.get(k).and_then(|v| v.as_f64()).unwrap_or_default();
    match data.get("reason").and_then(|v| v.as_str()) {
        Some("volume") => format!(
            "The issue escalated: {} events in the last hour since it was archived, more than the {} expected",
            num("observed_volume"),
            num("expected_volume")
        ),
        Some("duration") => format!(
            "The issue is back: it was archived for {}, which is over",
            minutes_words(num("minutes") as i64)
        ),
        Some(reason @ ("event_count" | "user_count")) => format!(
            "The issue is back: {} more {} since it was archived{}",
            num("observed"),
            if reason == "event_count" {
                "events"
            } else {
                "users"
            },
            data.get("window_minutes")
                .and_then(|v| v.as_i64())
                .map(|m| format!(" (within {})", minutes_words(m)))
                .unwrap_or_default()
        ),
        _ => "The issue escalated: its volume spiked while archived".into(),
    }
}

/// The activity log, newest first, ending with the issue's creation.
fn activity_items(
    issue: &Issue,
    activity: &[IssueActivity],
    names: &HashMap<i64, String>,
    now: OffsetDateTime,
    zone: &Zone,
) -> Vec<ActivityItem> {
    let name = |id: Option<i64>| match id {
        Some(id) => names
            .get(&id)
            .cloned()
            .unwrap_or_else(|| "A former member".into()),
        None => "Mesher".into(),
    };
    let data = |a: &IssueActivity, key: &str| {
        a.data.get(key).and_then(|v| {
            v.as_str()
                .map(str::to_string)
                .or_else(|| v.as_i64().map(|n| n.to_string()))
        })
    };
    let mut items: Vec<ActivityItem> = activity
        .iter()
        .rev()
        .map(|a| {
            let who = name(a.actor_id);
            let text = match a.kind.as_str() {
                "resolved" => format!("{who} resolved the issue"),
                "resolved_in_next_release" => match data(a, "current_release")
                    .filter(|r| !r.is_empty())
                {
                    Some(r) => format!("{who} resolved the issue in the next release after {r}"),
                    None => format!("{who} resolved the issue in the next release"),
                },
                "unresolved" => format!("{who} marked the issue unresolved"),
                "archived" => format!("{who} archived the issue {}", archived_words(&a.data)),
                "discarded" => format!("{who} discarded the issue"),
                "regression" => match data(a, "release") {
                    Some(r) => format!("The issue came back in release {r} (regression)"),
                    None => "The issue came back after it was resolved (regression)".into(),
                },
                "escalation" => escalation_words(&a.data),
                "assigned" => {
                    let to = data(a, "assignee_id").and_then(|id| id.parse().ok());
                    format!("{who} assigned the issue to {}", name(to))
                }
                "unassigned" => format!("{who} unassigned the issue"),
                other => format!("{who}: {}", other.replace('_', " ")),
            };
            ActivityItem {
                when: zone.when(a.created_at, now),
                text,
            }
        })
        .collect();
    items.push(ActivityItem {
        when: zone.when(issue.first_seen, now),
        text: "First seen".into(),
    });
    items
}

/// `POST /projects/{id}/issues/{issue}/status` (`status`: resolve, resolve_in_next_release,
/// unresolve, archive, discard, or undiscard: an admin lifts a discard). Triage: member role,
/// write scope.
pub(super) async fn set_status(
    State(state): State<AppState>,
    layout: Layout,
    PagePath((id, issue_id)): PagePath<(i64, i64)>,
    Posted { user, form }: Posted,
) -> Result<Redirect, HtmlError> {
    user.caller
        .project(&state, id, Scope::Write, Role::Member)
        .await?;
    let issue = issue_in(&state, id, issue_id).await?;
    let actor = (&user.caller).into();
    if form.text("status") == "undiscard" && issue.status == IssueStatus::Discarded {
        // The tombstone goes, and the next event of its kind opens a new issue (admins).
        ops::issues::delete(Ops::Node(&state), actor, Some(id), issue_id).await?;
        return Ok(Redirect::to(
            &layout.url(&done(&paths::issues(id), "undiscarded")),
        ));
    }
    let (change, key) = change(form.text("status"))?;
    let key =
        match ops::issues::set_status(Ops::Node(&state), actor, Some(id), issue_id, change).await {
            Ok(_) => key,
            // Said on the issue's page, as the API says it with a 400 (issue 12, row 13).
            Err(OpsError::Store(StoreError::NoReleaseData)) => "no-release",
            Err(e) => return Err(e.into()),
        };
    Ok(Redirect::to(
        &layout.url(&done(&paths::issue(id, issue_id), key)),
    ))
}

/// `POST /projects/{id}/issues/{issue}/assign` (`assignee`: a member's id, or empty for
/// nobody). Triage: member role, write scope.
pub(super) async fn assign(
    State(state): State<AppState>,
    layout: Layout,
    PagePath((id, issue_id)): PagePath<(i64, i64)>,
    Posted { user, form }: Posted,
) -> Result<Redirect, HtmlError> {
    user.caller
        .project(&state, id, Scope::Write, Role::Member)
        .await?;
    let assignee = match form.text("assignee") {
        "" => None,
        _ => Some(form.parse::<i64>("assignee", "Assignee")?),
    };
    let actor = (&user.caller).into();
    ops::issues::assign(Ops::Node(&state), actor, Some(id), issue_id, assignee).await?;
    Ok(Redirect::to(
        &layout.url(&done(&paths::issue(id, issue_id), "assigned")),
    ))
}

/// `POST /projects/{id}/issues/{issue}/delete`: the issue and its events, for good. Admins
/// only, as in the API.
pub(super) async fn delete(
    State(state): State<AppState>,
    layout: Layout,
    PagePath((id, issue_id)): PagePath<(i64, i64)>,
    Posted { user, .. }: Posted,
) -> Result<Redirect, HtmlError> {
    user.caller
        .project(&state, id, Scope::Admin, Role::Admin)
        .await?;
    ops::issues::delete(Ops::Node(&state), (&user.caller).into(), Some(id), issue_id).await?;
    Ok(Redirect::to(
        &layout.url(&done(&paths::issues(id), "deleted")),
    ))
}
