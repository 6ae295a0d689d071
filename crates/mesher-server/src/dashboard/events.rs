//! Event search across a project (UI-02): full-text words and `key:value` terms in one box
//! (`level:`, `environment:`, `release:`, `issue:` and any tag), a time range, keyset pages.
//! Words and tags are looked up in the full-text index, where each tag pair is one token, so a
//! search costs index lookups rather than a scan of the events.

use askama::Template;
use axum::extract::State;
use axum::response::Redirect;
use mesher_protocol::EventId;
use mesher_protocol::Level;
use mesher_store::{Cursor, EventQuery, EventSummary, Role, Scope};
use serde::Deserialize;
use time::OffsetDateTime;

use super::context::{PERIODS, ProjectScope, period_since};
use super::extract::{PagePath, PageQuery, SignedIn};
use super::format::{Pager, When, query};
use super::issues::Choice;
use super::layout::{Layout, Nav};
use super::{HtmlError, impl_page, paths};
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
}
impl_page!(EventsPage);

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
        now: OffsetDateTime,
    ) -> EventRow {
        let issue = layout.url(&paths::issue(project_id, e.issue_id));
        EventRow {
            when: When::new(e.timestamp, now),
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

/// A search as typed, split into what the store filters on.
#[derive(Debug, Default, PartialEq)]
struct Search {
    words: Vec<String>,
    level: Option<String>,
    environment: Option<String>,
    release: Option<String>,
    issue: Option<i64>,
    tags: Vec<(String, String)>,
}

/// Splits a search into words and `key:value` terms; a value may be quoted to hold spaces
/// (`browser:"Chrome 120"`). `level:`, `environment:`, `release:` and `issue:` filter on those
/// fields, any other key on a tag.
fn parse_search(q: &str) -> Result<Search, ApiError> {
    let mut search = Search::default();
    let mut rest = q.trim_start();
    while !rest.is_empty() {
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        let token = &rest[..end];
        let term = token.split_once(':').filter(|(key, _)| {
            !key.is_empty()
                && key
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
        });
        let (consumed, value) = match term {
            Some((key, value)) if value.starts_with('"') => {
                // A quoted value runs to the closing quote (or the end).
                let start = key.len() + 2;
                let close = rest[start..].find('"').map(|i| start + i);
                let value = &rest[start..close.unwrap_or(rest.len())];
                (close.map_or(rest.len(), |c| c + 1), Some((key, value)))
            }
            Some((key, value)) if !value.is_empty() => (end, Some((key, value))),
            _ => (end, None),
        };
        match value {
            Some((key, value)) => apply(&mut search, key, value)?,
            None => search.words.push(token.to_string()),
        }
        rest = rest[consumed..].trim_start();
    }
    Ok(search)
}

fn apply(search: &mut Search, key: &str, value: &str) -> Result<(), ApiError> {
    match key {
        "level" => {
            let level = Level::parse(value)
                .ok_or_else(|| ApiError::BadRequest(format!("level: {value:?} is not a level")))?;
            search.level = Some(level.as_str().to_string());
        }
        "environment" => search.environment = Some(value.to_string()),
        "release" => search.release = Some(value.to_string()),
        "issue" => {
            let id = value.parse().map_err(|_| {
                ApiError::BadRequest(format!("issue: {value:?} is not an issue number"))
            })?;
            search.issue = Some(id);
        }
        _ => search.tags.push((key.to_string(), value.to_string())),
    }
    Ok(())
}

/// `GET /projects/{id}/events`.
pub(super) async fn page(
    State(state): State<AppState>,
    layout: Layout,
    user: SignedIn,
    PagePath(id): PagePath<i64>,
    PageQuery(q): PageQuery<EventsQuery>,
) -> Result<EventsPage, HtmlError> {
    let scope = ProjectScope::load(&state, &user, layout, id, Nav::Events, "Events").await?;
    let now = mesher_store::now();
    let search = parse_search(&q.q)?;
    let cursor = match q.cursor.as_deref() {
        None | Some("") => None,
        Some(c) => Some(Cursor::decode(c).map_err(ApiError::from)?),
    };
    let words = search.words.join(" ");
    let searched = !q.q.trim().is_empty() || !q.period.is_empty();
    let event_query = EventQuery {
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
    };
    let store = state.store();
    let (page, (stored, _)) =
        tokio::try_join!(store.query_events(&event_query), store.project_counts(id),)?;
    let l = &scope.layout;
    let path = l.url(&paths::events(id));
    let keep = [("q", q.q.trim()), ("period", q.period.as_str())];
    let pager = Pager::new(
        &path,
        &keep,
        q.cursor.as_deref().filter(|c| !c.is_empty()),
        q.prev.as_deref(),
        page.next_cursor.as_deref(),
    );
    let rows = page
        .items
        .into_iter()
        .map(|e| EventRow::new(l, id, e, now))
        .collect();
    let empty = if stored == 0 {
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
    Ok(EventsPage {
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
        layout: scope.layout,
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn searches_split_into_words_fields_and_tags() {
        let s = parse_search(
            r#"payment declined level:warn browser:"Chrome 120" release:2.1 issue:7 KeyError: x"#,
        )
        .unwrap();
        assert_eq!(s.words, ["payment", "declined", "KeyError:", "x"]);
        assert_eq!(s.level.as_deref(), Some("warning"));
        assert_eq!(s.release.as_deref(), Some("2.1"));
        assert_eq!(s.issue, Some(7));
        assert_eq!(s.tags, [("browser".to_string(), "Chrome 120".to_string())]);
        assert_eq!(parse_search("  ").unwrap(), Search::default());
        assert!(parse_search("level:loud").is_err());
        assert!(parse_search("issue:x").is_err());
        let unclosed = parse_search(r#"a:"b c"#).unwrap();
        assert_eq!(unclosed.tags, [("a".to_string(), "b c".to_string())]);
        let url = parse_search("http://x/y").unwrap();
        assert_eq!(url.tags, [("http".to_string(), "//x/y".to_string())]);
    }
}
