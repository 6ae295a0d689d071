//! Event search across a project (UI-02): full-text words and `key:value` terms in one box
//! (`level:`, `environment:`, `release:`, `issue:` and any tag), a time range, keyset pages.
//! Words and tags are looked up in the full-text index, where each tag pair is one token, so a
//! search costs index lookups rather than a scan of the events.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Redirect, Response};
use mesher_protocol::EventId;
use mesher_store::{Cursor, EventQuery, EventSummary, Role, Scope, StoreError};
use serde::Deserialize;
use time::OffsetDateTime;

use super::context::{PERIODS, ProjectScope, period_since};
use super::extract::{PagePath, PageQuery, SignedIn};
use super::format::{Pager, When, query};
use super::issues::Choice;
use super::layout::{Layout, Nav};
use super::search::{self, Search, SearchError};
use super::zone::Zone;
use super::{HtmlError, paths, render};
use crate::error::ApiError;
use crate::state::AppState;

/// Events per page.
const PAGE_SIZE: u32 = 50;

/// The event search page.
#[derive(Template)]
#[template(path = "events.html")]
pub struct EventsPage {
    layout: Layout,
    q: String,
    periods: Vec<Choice>,
    rows: Vec<EventRow>,
    pager: Pager,
    empty: (&'static str, &'static str),
    action: String,
    /// Why the search cannot be read, shown beside it.
    error: Option<String>,
}

/// A row of a list of events (this page's, the Live page's): the `event_row` macro shows it.
pub struct EventRow {
    pub(super) when: When,
    pub(super) level: String,
    pub(super) title: String,
    pub(super) href: String,
    pub(super) issue: String,
    pub(super) environment: String,
    pub(super) release: String,
}

impl EventRow {
    /// The row of `e`, an event of project `project_id`, linking to the event on its issue's page.
    pub(super) fn new(
        layout: &Layout,
        project_id: i64,
        e: EventSummary,
        (now, zone): (OffsetDateTime, &Zone),
    ) -> EventRow {
        let issue = layout.url(&paths::issue(project_id, e.issue_id));
        EventRow {
            when: zone.when(e.timestamp, now),
            href: format!(
                "{issue}{}",
                query([("event", e.event_id.to_string().as_str())])
            ),
            issue: format!("#{}", e.issue_id),
            level: e.level,
            title: e.title,
            environment: e.environment.unwrap_or_default(),
            release: e.release.unwrap_or_default(),
        }
    }
}

/// The query of the search page.
#[derive(Debug, Default, Deserialize)]
pub(super) struct EventsQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    period: String,
    cursor: Option<String>,
    prev: Option<String>,
}

/// `GET /projects/{id}/events`: a search that cannot be read answers 400 with the page, the
/// query kept and the reason beside it.
pub(super) async fn page(
    State(state): State<AppState>,
    layout: Layout,
    user: SignedIn,
    PagePath(id): PagePath<i64>,
    PageQuery(q): PageQuery<EventsQuery>,
) -> Result<Response, HtmlError> {
    let scope = ProjectScope::load(&state, &user, layout, id, Nav::Events, "Events").await?;
    let now = mesher_store::now();
    let cursor = match q.cursor.as_deref() {
        None | Some("") => None,
        Some(c) => Some(Cursor::decode(c).map_err(ApiError::from)?),
    };
    let searched = !q.q.trim().is_empty() || !q.period.is_empty();
    let store = state.store();
    // Searched alongside the counts (for the empty state), unless it cannot be read.
    let search = async {
        match search::parse(&q.q).and_then(for_events) {
            Ok(search) => {
                let words = search.words.join(" ");
                let page = store
                    .query_events(&EventQuery {
                        project_id: id,
                        issue_id: search.issue,
                        query: Some(words).filter(|w| !w.is_empty()),
                        tags: search.tags,
                        level: search.level,
                        environment: search.environment,
                        release: search.release,
                        since: period_since(&q.period, now),
                        until: None,
                        cursor,
                        limit: PAGE_SIZE,
                    })
                    .await?;
                Ok::<_, StoreError>((page.items, page.next_cursor, None))
            }
            Err(SearchError(message)) => Ok((Vec::new(), None, Some(message))),
        }
    };
    let ((stored, _), (items, next_cursor, error)) =
        tokio::try_join!(store.project_counts(id), search)?;
    let l = &scope.layout;
    let path = l.url(&paths::events(id));
    let keep = [("q", q.q.trim()), ("period", q.period.as_str())];
    let pager = Pager::new(
        &path,
        &keep,
        q.cursor.as_deref().filter(|c| !c.is_empty()),
        q.prev.as_deref(),
        next_cursor.as_deref(),
    );
    let rows = items
        .into_iter()
        .map(|e| EventRow::new(l, id, e, (now, &user.zone)))
        .collect();
    let empty = if error.is_some() {
        (
            "The search cannot be read",
            "Correct it as the message above says; the syntax help lists what it understands.",
        )
    } else if stored == 0 {
        (
            "No events yet",
            "Events appear here once an SDK sends them; the overview shows how to set one up.",
        )
    } else if searched {
        (
            "No events match",
            "Try fewer words or terms, or a longer time range.",
        )
    } else {
        (
            "No events",
            "Every event of this project was deleted by its retention.",
        )
    };
    let mut periods = vec![("", "Any time")];
    periods.extend(PERIODS.iter().map(|&(k, label, _)| (k, label)));
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let page = EventsPage {
        q: q.q.clone(),
        periods: periods
            .into_iter()
            .map(|(value, label)| Choice {
                value: value.into(),
                label: label.into(),
                selected: value == q.period,
            })
            .collect(),
        rows,
        pager,
        empty,
        action: path,
        error,
        layout: scope.layout,
    };
    Ok(render(status, &page))
}

/// The terms of `search` that events have: `is:` is an issue's state.
fn for_events(search: Search) -> Result<Search, SearchError> {
    match search.status {
        Some(_) => Err(SearchError(
            "is: filters issues by state; events have none (search the issue list).".into(),
        )),
        None => Ok(search),
    }
}

/// `GET /projects/{id}/events/{event}`: an event's permanent address, which shows it on its
/// issue's page.
pub(super) async fn permalink(
    State(state): State<AppState>,
    layout: Layout,
    user: SignedIn,
    PagePath((id, event_id)): PagePath<(i64, String)>,
) -> Result<Redirect, HtmlError> {
    user.caller
        .project(&state, id, Scope::Read, Role::Member)
        .await?;
    let not_found = || HtmlError(ApiError::NotFound("event not found".into()));
    let event_id = EventId::parse(&event_id).map_err(|_| not_found())?;
    let event = state
        .store()
        .event(id, event_id)
        .await?
        .ok_or_else(not_found)?;
    let target = format!(
        "{}{}",
        paths::issue(id, event.issue_id),
        query([("event", event.event_id.to_string().as_str())])
    );
    Ok(Redirect::to(&layout.url(&target)))
}
