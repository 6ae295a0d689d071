//! A project's issues (UI-03): filters (status, level, environment, release, assignee, time
//! range), full-text search, sort, keyset pages, and bulk resolve / archive / discard.
//!
//! One keyset query for the page, one rollup read per row for its sparkline (the last 24 hours
//! of the issue's hourly counts), the members for the assignee filter: the cost is the page
//! size, whatever the number of issues or events.

use std::collections::HashMap;
use std::str::FromStr;

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Redirect, Response};
use futures_util::future::try_join_all;
use mesher_protocol::Level;
use mesher_store::{
    ArchiveUntil, AssigneeFilter, Cursor, Issue, IssueQuery, IssueSort, IssueStatus, MAX_PAGE,
    Page, Role, Scope, StatusChange, StoreError,
};
use serde::Deserialize;
use time::OffsetDateTime;

use super::charts::{self, Svg};
use super::context::{Notice, PERIODS, ProjectScope, Range, done, period_since};
use super::extract::{PagePath, PageQuery, Posted, SignedIn};
use super::format::{Pager, When, count};
use super::layout::{Layout, Nav};
use super::search::{self, Search, SearchError};
use super::signin::local_path;
use super::zone::Zone;
use super::{HtmlError, paths, render};
use crate::error::ApiError;
use crate::ops::{self, Ops, OpsError};
use crate::state::AppState;

/// Issues per page.
const PAGE_SIZE: u32 = 25;

/// The issues page.
#[derive(Template)]
#[template(path = "issues.html")]
pub struct IssuesPage {
    layout: Layout,
    notice: Option<Notice>,
    filters: Filters,
    /// Who the selected issues can be assigned to: the signed-in user first, then the other
    /// members by name.
    assign_to: Vec<Choice>,
    /// How many issues match the filters over all pages, when there is more than one page: the
    /// bulk actions can then apply to them all.
    matching: Option<String>,
    rows: Vec<IssueRow>,
    pager: Pager,
    bulk_action: String,
    /// The list as it is, to come back to after a bulk action.
    back: String,
    /// Why the list is empty, and what to do.
    empty: (&'static str, &'static str),
    clear_href: String,
    /// The project's stream, which keeps the counts current.
    stream: String,
    /// Why the search cannot be read, shown beside it.
    error: Option<String>,
}

/// The filter form's values and choices.
pub struct Filters {
    q: String,
    /// Whether the query sets a filter beyond the search: a phone then shows the folded
    /// filters open, so that what narrows the list is in sight.
    filtered: bool,
    environment: String,
    release: String,
    status: Vec<Choice>,
    level: Vec<Choice>,
    assignee: Vec<Choice>,
    period: Vec<Choice>,
    sort: Vec<Choice>,
    environments: Vec<String>,
    releases: Vec<String>,
}

/// An option of a `<select>`.
pub struct Choice {
    /// Submitted value.
    pub value: String,
    /// Shown text.
    pub label: String,
    /// Whether it is the current one.
    pub selected: bool,
}

pub(super) fn choices(options: &[(&str, &str)], current: &str) -> Vec<Choice> {
    options
        .iter()
        .map(|&(value, label)| Choice {
            value: value.into(),
            label: label.into(),
            selected: value == current,
        })
        .collect()
}

/// A row of the list.
pub struct IssueRow {
    id: i64,
    title: String,
    culprit: String,
    level: String,
    status: &'static str,
    href: String,
    events: String,
    /// Whether `events` is the issue's lifetime count (no period or event filter), which the
    /// stream's `issue` messages carry and so may update.
    lifetime_count: bool,
    users: String,
    trend: Svg,
    first_seen: When,
    last_seen: When,
    assignee: Option<String>,
}

/// The query of the issues page. Every value is text as the form sends it; an empty one means
/// "any".
#[derive(Debug, Default, Deserialize)]
pub(super) struct IssuesQuery {
    #[serde(default)]
    q: String,
    status: Option<String>,
    #[serde(default)]
    level: String,
    #[serde(default)]
    environment: String,
    #[serde(default)]
    release: String,
    #[serde(default)]
    assignee: String,
    #[serde(default)]
    period: String,
    #[serde(default)]
    sort: String,
    cursor: Option<String>,
    prev: Option<String>,
    done: Option<String>,
}

const STATUSES: &[(&str, &str)] = &[
    ("unresolved", "Unresolved"),
    ("resolved", "Resolved"),
    ("archived", "Archived"),
    ("discarded", "Discarded"),
    ("all", "Any status"),
];
const LEVELS: &[(&str, &str)] = &[
    ("", "Any level"),
    ("fatal", "Fatal"),
    ("error", "Error"),
    ("warning", "Warning"),
    ("info", "Info"),
    ("debug", "Debug"),
];
const SORTS: &[(&str, &str)] = &[
    ("last_seen", "Last seen"),
    ("first_seen", "First seen"),
    ("count", "Most events"),
];

impl IssuesQuery {
    fn status(&self) -> &str {
        match self.status.as_deref() {
            None | Some("") => "unresolved",
            Some(s) => s,
        }
    }

    /// The filter parameters (no page position), for links that keep them.
    fn keep(&self) -> Vec<(&str, &str)> {
        vec![
            ("q", self.q.trim()),
            ("status", self.status()),
            ("level", &self.level),
            ("environment", self.environment.trim()),
            ("release", self.release.trim()),
            ("assignee", &self.assignee),
            ("period", &self.period),
            ("sort", &self.sort),
        ]
    }

    /// The store query, with the terms of the search box (`search`, read from `q`) over the
    /// form's filters; a value the form cannot produce is a 400.
    fn to_store(
        &self,
        project_id: i64,
        me: i64,
        now: OffsetDateTime,
        search: Search,
    ) -> Result<IssueQuery, ApiError> {
        let bad = |what: &str, value: &str| {
            ApiError::BadRequest(format!("{what}: {value:?} is not valid"))
        };
        let status = match self.status() {
            "all" => None,
            s => Some(IssueStatus::from_str(s).map_err(|_| bad("status", s))?),
        };
        let level = match self.level.as_str() {
            "" => None,
            l => Some(
                Level::parse(l)
                    .ok_or_else(|| bad("level", l))?
                    .as_str()
                    .to_string(),
            ),
        };
        let assignee = match self.assignee.as_str() {
            "" => None,
            "me" => Some(AssigneeFilter::User(me)),
            "nobody" => Some(AssigneeFilter::Nobody),
            id => Some(AssigneeFilter::User(
                id.parse().map_err(|_| bad("assignee", id))?,
            )),
        };
        let sort = match self.sort.as_str() {
            "" | "last_seen" => IssueSort::LastSeen,
            "first_seen" => IssueSort::FirstSeen,
            "count" => IssueSort::Count,
            s => return Err(bad("sort", s)),
        };
        let cursor = match self.cursor.as_deref() {
            None | Some("") => None,
            Some(c) => Some(Cursor::decode(c)?),
        };
        let text = |s: &str| Some(s.trim().to_string()).filter(|s| !s.is_empty());
        Ok(IssueQuery {
            project_id,
            status: search.status.or(status),
            level: search.level.or(level),
            environment: search.environment.or(text(&self.environment)),
            release: search.release.or(text(&self.release)),
            tags: search.tags,
            assignee,
            since: period_since(&self.period, now),
            until: None,
            query: text(&search.words.join(" ")),
            sort,
            cursor,
            limit: PAGE_SIZE,
        })
    }

    /// The names of what is asked for beyond the default (unresolved, any time).
    fn asked(&self) -> impl Iterator<Item = &str> {
        self.keep()
            .into_iter()
            .filter(|&(k, v)| !(v.is_empty() || k == "status" && v == "unresolved"))
            .map(|(k, _)| k)
    }

    /// Whether anything but the default is asked for.
    fn narrowed(&self) -> bool {
        self.asked().next().is_some()
    }
}

/// `GET /projects/{id}/issues`.
pub(super) async fn page(
    State(state): State<AppState>,
    layout: Layout,
    user: SignedIn,
    PagePath(id): PagePath<i64>,
    PageQuery(query): PageQuery<IssuesQuery>,
) -> Result<Response, HtmlError> {
    let scope = ProjectScope::load(&state, &user, layout, id, Nav::Issues, "Issues").await?;
    let store = state.store();
    let now = mesher_store::now();
    // A search that cannot be read lists nothing and says why beside the box.
    let (issue_query, error) = match search::parse(&query.q).and_then(for_issues) {
        Ok(search) => (Some(query.to_store(id, user.user.id, now, search)?), None),
        Err(SearchError(message)) => (None, Some(message)),
    };
    let issues = async {
        match &issue_query {
            Some(q) => store.query_issues(q).await,
            None => Ok(Page {
                items: Vec::new(),
                next_cursor: None,
            }),
        }
    };
    let (page, members) = tokio::try_join!(issues, store.list_members(scope.org.id))?;
    let names: HashMap<i64, String> = members
        .iter()
        .map(|m| (m.user.id, m.user.name.clone()))
        .collect();
    let rows = rows(
        &state,
        &scope.layout,
        id,
        page.items.iter(),
        &names,
        (now, &user.zone),
    )
    .await?;
    // The count costs a query, worth it only when the list has more than this page.
    let matching = match &issue_query {
        Some(q) if page.next_cursor.is_some() || q.cursor.is_some() => Some(count(
            i64::try_from(store.count_issues(q).await?).unwrap_or(i64::MAX),
        )),
        _ => None,
    };

    let layout = &scope.layout;
    let path = layout.url(&paths::issues(id));
    let keep = query.keep();
    let pager = Pager::new(
        &path,
        &keep,
        query.cursor.as_deref().filter(|c| !c.is_empty()),
        query.prev.as_deref(),
        page.next_cursor.as_deref(),
    );
    let position = [
        ("cursor", query.cursor.as_deref().unwrap_or_default()),
        ("prev", query.prev.as_deref().unwrap_or_default()),
    ];
    let back = format!(
        "{}{}",
        paths::issues(id),
        super::format::query(keep.iter().copied().chain(position))
    );
    let empty = if error.is_some() {
        (
            "The search cannot be read",
            "Correct it as the message above says; the syntax help lists what it understands.",
        )
    } else if query.narrowed() {
        (
            "No issues match these filters",
            "Change or clear the filters to see more.",
        )
    } else {
        (
            "No unresolved issues",
            "Nothing needs attention. New errors show up here as they arrive.",
        )
    };
    let mut assignees = vec![
        ("", "Anyone".to_string()),
        ("me", "Me".to_string()),
        ("nobody", "Nobody".to_string()),
    ];
    let member_ids: Vec<String> = members.iter().map(|m| m.user.id.to_string()).collect();
    for (m, id) in members.iter().zip(&member_ids) {
        if m.user.id != user.user.id {
            assignees.push((id.as_str(), m.user.name.clone()));
        }
    }
    let assignee_options = assignees
        .iter()
        .map(|(value, label)| Choice {
            value: value.to_string(),
            label: label.clone(),
            selected: *value == query.assignee,
        })
        .collect();
    let mut assign_to: Vec<Choice> = members
        .iter()
        .map(|m| Choice {
            value: m.user.id.to_string(),
            label: if m.user.id == user.user.id {
                format!("Me ({})", m.user.name)
            } else {
                m.user.name.clone()
            },
            selected: m.user.id == user.user.id,
        })
        .collect();
    assign_to.sort_by_key(|c| !c.selected);
    let mut periods = vec![("", "Any time")];
    periods.extend(PERIODS.iter().map(|&(k, label, _)| (k, label)));
    let distinct = |values: Vec<Option<&String>>, current: &str| {
        let mut v: Vec<String> = values.into_iter().flatten().cloned().collect();
        v.push(current.trim().to_string());
        v.retain(|s| !s.is_empty());
        v.sort();
        v.dedup();
        v
    };
    let filters = Filters {
        q: query.q.clone(),
        filtered: query.asked().any(|k| k != "q"),
        environment: query.environment.clone(),
        release: query.release.clone(),
        status: choices(STATUSES, query.status()),
        level: choices(LEVELS, &query.level),
        assignee: assignee_options,
        period: choices(&periods, &query.period),
        sort: choices(
            SORTS,
            if query.sort.is_empty() {
                "last_seen"
            } else {
                &query.sort
            },
        ),
        environments: distinct(
            page.items
                .iter()
                .map(|i| i.last_environment.as_ref())
                .collect(),
            &query.environment,
        ),
        releases: distinct(
            page.items.iter().map(|i| i.last_release.as_ref()).collect(),
            &query.release,
        ),
    };
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let rendered = IssuesPage {
        notice: Notice::from_done(query.done.as_deref()),
        filters,
        assign_to,
        matching,
        error,
        rows,
        pager,
        bulk_action: layout.url(&format!("{}/bulk", paths::issues(id))),
        back,
        empty,
        stream: layout.url(&paths::stream(id)),
        clear_href: path,
        layout: scope.layout,
    };
    Ok(render(status, &rendered))
}

/// The terms of `search` that issues have: `issue:` belongs to events.
fn for_issues(search: Search) -> Result<Search, SearchError> {
    match search.issue {
        Some(n) => Err(SearchError(format!(
            "issue:{n} narrows the event search; here, open issue #{n} from the list."
        ))),
        None => Ok(search),
    }
}

/// The rows of `issues`, with a sparkline of each one's last 24 hours.
async fn rows(
    state: &AppState,
    layout: &Layout,
    project_id: i64,
    issues: impl Iterator<Item = &Issue>,
    names: &HashMap<i64, String>,
    (now, zone): (OffsetDateTime, &Zone),
) -> Result<Vec<IssueRow>, HtmlError> {
    let (since, until, _) = Range::Day.window(now);
    let issues: Vec<&Issue> = issues.collect();
    let timelines = try_join_all(issues.iter().map(|issue| {
        state
            .store()
            .issue_timeline(issue.id, since, until, mesher_store::Bucket::Hour)
    }))
    .await?;
    Ok(issues
        .into_iter()
        .zip(timelines)
        .map(|(issue, timeline)| {
            let values: Vec<u64> = timeline
                .iter()
                .map(|&(_, n)| u64::try_from(n).unwrap_or(0))
                .collect();
            IssueRow {
                id: issue.id,
                title: issue.title.clone(),
                culprit: issue.culprit.clone().unwrap_or_default(),
                level: issue.level.clone(),
                status: issue.status.as_str(),
                href: layout.url(&paths::issue(project_id, issue.id)),
                // Events in the period and filters shown, as Sentry's list counts (row 7).
                events: count(issue.period_count.unwrap_or(issue.event_count)),
                lifetime_count: issue.period_count.is_none(),
                users: count(issue.user_count),
                trend: charts::sparkline(&values),
                first_seen: zone.when(issue.first_seen, now),
                last_seen: zone.when(issue.last_seen, now),
                assignee: issue.assignee_id.map(|a| {
                    names
                        .get(&a)
                        .cloned()
                        .unwrap_or_else(|| format!("user {a}"))
                }),
            }
        })
        .collect())
}

/// The archive choices of the dashboard (issue 12, row 5): form value, label, condition.
pub(super) const ARCHIVE_OPTIONS: &[(&str, &str, ArchiveUntil)] = &[
    ("archive", "Until it escalates", ArchiveUntil::Escalating),
    ("archive_forever", "Forever", ArchiveUntil::Forever),
    (
        "archive_1h",
        "For 1 hour",
        ArchiveUntil::Duration { minutes: 60 },
    ),
    (
        "archive_24h",
        "For 24 hours",
        ArchiveUntil::Duration { minutes: 1440 },
    ),
    (
        "archive_7d",
        "For 7 days",
        ArchiveUntil::Duration { minutes: 10_080 },
    ),
    (
        "archive_10_events",
        "Until 10 more events",
        ArchiveUntil::EventCount {
            count: 10,
            window_minutes: None,
        },
    ),
    (
        "archive_100_events",
        "Until 100 more events",
        ArchiveUntil::EventCount {
            count: 100,
            window_minutes: None,
        },
    ),
    (
        "archive_1000_events",
        "Until 1000 more events",
        ArchiveUntil::EventCount {
            count: 1000,
            window_minutes: None,
        },
    ),
    (
        "archive_10_users",
        "Until 10 more users",
        ArchiveUntil::UserCount {
            count: 10,
            window_minutes: None,
        },
    ),
    (
        "archive_100_users",
        "Until 100 more users",
        ArchiveUntil::UserCount {
            count: 100,
            window_minutes: None,
        },
    ),
];

/// A state change named by a form's `action` (or `status`) value, with the confirmation key
/// of its result: one of the archive menu's options, or a status as the operations layer reads
/// it.
pub(super) fn change(value: &str) -> Result<(StatusChange, &'static str), OpsError> {
    let change = match ARCHIVE_OPTIONS.iter().find(|(v, _, _)| *v == value) {
        Some((_, _, until)) => StatusChange::Archive(*until),
        None => ops::issues::parse_change(value, None)?,
    };
    let key = match change {
        StatusChange::Resolve => "resolved",
        StatusChange::ResolveInNextRelease => "resolved_in_next_release",
        StatusChange::Unresolve => "unresolved",
        StatusChange::Discard => "discarded",
        StatusChange::Archive(ArchiveUntil::Escalating) => "archived",
        StatusChange::Archive(_) => "archived_as_chosen",
    };
    Ok((change, key))
}

/// What a bulk action does to each selected issue.
#[derive(Clone, Copy)]
enum BulkAction {
    Status(StatusChange),
    /// To a member (`assignee`), or to nobody.
    Assign(Option<i64>),
}

/// `POST /projects/{id}/issues/bulk`: the same change (`action`: a state, or `assign` with an
/// `assignee`) for every selected issue (`issue` fields), then back to the list as it was.
/// Triage needs the member role and write scope, as in the API.
pub(super) async fn bulk(
    State(state): State<AppState>,
    layout: Layout,
    PagePath(id): PagePath<i64>,
    Posted { user, form }: Posted,
) -> Result<Redirect, HtmlError> {
    user.caller
        .project(&state, id, Scope::Write, Role::Member)
        .await?;
    let action = match form.text("action") {
        "assign" => BulkAction::Assign(match form.text("assignee") {
            "" => None,
            _ => Some(form.parse::<i64>("assignee", "Assignee")?),
        }),
        other => BulkAction::Status(change(other)?.0),
    };
    let list = paths::issues(id);
    let back = form
        .get("back")
        .and_then(local_path)
        .filter(|b| b.starts_with(&list))
        .unwrap_or(&list);
    let ids = if form.text("matching") == "1" {
        matching_ids(&state, id, user.user.id, back).await?
    } else {
        form.all("issue")
            .map(|v| {
                v.parse::<i64>()
                    .map_err(|_| ApiError::BadRequest(format!("issue: {v:?} is not an issue id")))
            })
            .collect::<Result<Vec<i64>, ApiError>>()?
    };
    if ids.is_empty() {
        return Ok(Redirect::to(&layout.url(&done(back, "none-selected"))));
    }
    let actor = (&user.caller).into();
    let mut key = "bulk";
    for issue_id in ids {
        // An issue of another project is as unknown as a missing one (`Some(id)`).
        let ops = Ops::Node(&state);
        let done = match action {
            BulkAction::Status(change) => {
                ops::issues::set_status(ops, actor, Some(id), issue_id, change).await
            }
            BulkAction::Assign(to) => ops::issues::assign(ops, actor, Some(id), issue_id, to).await,
        };
        match done {
            Ok(_) => {}
            // Issues without a release in a project without any stay as they were; the others
            // change, and the list says why some did not (issue 12, row 13).
            Err(OpsError::Store(StoreError::NoReleaseData)) => key = "no-release",
            Err(e) => return Err(e.into()),
        }
    }
    Ok(Redirect::to(&layout.url(&done(back, key))))
}

/// Every issue the list at `back` shows, over all its pages ("select all N matching"): the ids
/// are read first, as the change may move issues out of the list while it is paged through.
async fn matching_ids(
    state: &AppState,
    project_id: i64,
    me: i64,
    back: &str,
) -> Result<Vec<i64>, HtmlError> {
    let uri: axum::http::Uri = back
        .parse()
        .map_err(|_| ApiError::BadRequest("back: not a list address".into()))?;
    let Query(query) = Query::<IssuesQuery>::try_from_uri(&uri)
        .map_err(|e| ApiError::BadRequest(format!("back: {e}")))?;
    // A list whose search cannot be read shows nothing, so it selects nothing.
    let Ok(search) = search::parse(&query.q).and_then(for_issues) else {
        return Ok(Vec::new());
    };
    let mut q = query.to_store(project_id, me, mesher_store::now(), search)?;
    q.cursor = None;
    q.limit = MAX_PAGE;
    let mut ids = Vec::new();
    loop {
        let page = state.store().query_issues(&q).await?;
        ids.extend(page.items.iter().map(|i| i.id));
        match page.next_cursor {
            Some(next) => q.cursor = Some(Cursor::decode(&next)?),
            None => return Ok(ids),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_list_is_unresolved_issues_by_last_seen() {
        let q = IssuesQuery::default();
        let now = mesher_store::now();
        let store = q.to_store(3, 9, now, search::parse(&q.q).unwrap()).unwrap();
        assert_eq!(store.status, Some(IssueStatus::Unresolved));
        assert_eq!(store.sort, IssueSort::LastSeen);
        assert_eq!(store.since, None);
        assert!(!q.narrowed());
        assert_eq!(super::super::format::query(q.keep()), "?status=unresolved");
    }

    #[test]
    fn filters_map_to_the_store_query() {
        let q = IssuesQuery {
            q: " KeyError ".into(),
            status: Some("all".into()),
            level: "warn".into(),
            assignee: "me".into(),
            period: "24h".into(),
            sort: "count".into(),
            environment: "prod".into(),
            ..IssuesQuery::default()
        };
        let now = mesher_store::now();
        let store = q.to_store(3, 9, now, search::parse(&q.q).unwrap()).unwrap();
        assert_eq!(store.status, None);
        assert_eq!(store.level.as_deref(), Some("warning"));
        assert_eq!(store.assignee, Some(AssigneeFilter::User(9)));
        assert_eq!(store.since, Some(now - time::Duration::DAY));
        assert_eq!(store.query.as_deref(), Some("KeyError"));
        assert_eq!(store.environment.as_deref(), Some("prod"));
        assert_eq!(store.sort, IssueSort::Count);
        assert!(q.narrowed());
        let search = IssuesQuery {
            q: "KeyError".into(),
            status: Some("unresolved".into()),
            ..IssuesQuery::default()
        };
        assert!(search.narrowed());
        assert!(
            !search.asked().any(|k| k != "q"),
            "the folded filters stay folded"
        );

        for bad in [
            IssuesQuery {
                status: Some("gone".into()),
                ..IssuesQuery::default()
            },
            IssuesQuery {
                level: "loud".into(),
                ..IssuesQuery::default()
            },
            IssuesQuery {
                cursor: Some("!".into()),
                ..IssuesQuery::default()
            },
            IssuesQuery {
                assignee: "x".into(),
                ..IssuesQuery::default()
            },
        ] {
            assert!(bad.to_store(3, 9, now, Search::default()).is_err());
        }
    }

    #[test]
    fn search_terms_narrow_over_the_form() {
        let q = IssuesQuery {
            q: "timeout level:fatal is:resolved environment:staging".into(),
            level: "error".into(),
            environment: "prod".into(),
            release: "2.0".into(),
            ..IssuesQuery::default()
        };
        let now = mesher_store::now();
        let store = q.to_store(3, 9, now, search::parse(&q.q).unwrap()).unwrap();
        assert_eq!(store.query.as_deref(), Some("timeout"));
        assert_eq!(store.level.as_deref(), Some("fatal"));
        assert_eq!(store.status, Some(IssueStatus::Resolved));
        assert_eq!(store.environment.as_deref(), Some("staging"));
        assert_eq!(store.release.as_deref(), Some("2.0"));

        let tagged = search::parse(r#"browser:"Firefox 120" os:Linux"#).unwrap();
        let store = q.to_store(3, 9, now, for_issues(tagged).unwrap()).unwrap();
        assert_eq!(
            store.tags,
            [
                ("browser".to_string(), "Firefox 120".to_string()),
                ("os".to_string(), "Linux".to_string())
            ]
        );
        assert!(for_issues(search::parse("issue:7").unwrap()).is_err());
    }

    #[test]
    fn actions_name_state_changes() {
        assert_eq!(
            change("archive").unwrap().0,
            StatusChange::Archive(ArchiveUntil::Escalating)
        );
        assert!(change("explode").is_err());
    }
}
