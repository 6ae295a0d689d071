//! A project's Live page (issue 15, UI-05): its newest events with the stream's filters (level at
//! least, environment, release, issue, a tag `key:value`, words of the title), read from the
//! store when the page is rendered. `static/live.js` then opens the project's stream
//! ([`paths::stream`]) with the same filters as query parameters and prepends each event as it
//! is committed, with pause and resume. Without JavaScript the page is complete: a reload shows
//! what arrived since.
//!
//! The filter parameters are the stream's own names, so the page hands its query to the stream
//! unchanged (normalized) and a link to a filtered Live page is also the stream's subscription.

use askama::Template;
use axum::extract::State;
use futures_util::future::try_join_all;
use mesher_protocol::Level;
use mesher_store::{EventQuery, EventSummary, Store, StoreResult};
use serde::Deserialize;

use super::context::ProjectScope;
use super::events::EventRow;
use super::extract::{PagePath, PageQuery, SignedIn};
use super::format::query;
use super::issues::Choice;
use super::layout::{Layout, Nav};
use super::{HtmlError, impl_page, paths};
use crate::error::ApiError;
use crate::state::AppState;

/// Events the page is rendered with; the script keeps up to 200 as more arrive.
const ROWS: u32 = 50;

/// Every level, least severe first, with its label in the form.
const LEVELS: [(Level, &str); 5] = [
    (Level::Debug, "Debug"),
    (Level::Info, "Info"),
    (Level::Warning, "Warning"),
    (Level::Error, "Error"),
    (Level::Fatal, "Fatal"),
];

/// The Live page.
#[derive(Template)]
#[template(path = "live.html")]
pub struct LivePage {
    layout: Layout,
    form: LiveQuery,
    levels: Vec<Choice>,
    rows: Vec<EventRow>,
    /// The stream's path with the filters, for the script.
    stream: String,
    /// The path that an issue id completes into its page (rows the script adds link there).
    issue_base: String,
    /// What an empty list says, and what to do.
    empty: (&'static str, &'static str),
    action: String,
    /// This page again (the way to see newer events without the script).
    reload: String,
}
impl_page!(LivePage);

/// The filters as the form sends them (the stream's query parameters); an empty value means any.
#[derive(Debug, Default, Deserialize)]
pub(super) struct LiveQuery {
    #[serde(default)]
    level: String,
    #[serde(default)]
    environment: String,
    #[serde(default)]
    release: String,
    #[serde(default)]
    issue: String,
    #[serde(default)]
    tag: String,
    #[serde(default)]
    query: String,
}

/// The filters, checked.
#[derive(Debug, Default, PartialEq)]
struct Filters {
    /// At least this level.
    level: Option<Level>,
    environment: Option<String>,
    release: Option<String>,
    issue: Option<i64>,
    tag: Option<(String, String)>,
    /// Words that must all be in the event's title.
    words: Option<String>,
}

impl LiveQuery {
    /// The checked filters; a value the form cannot produce is a 400 that says which.
    fn filters(&self) -> Result<Filters, ApiError> {
        let text = |s: &str| Some(s.trim().to_string()).filter(|s| !s.is_empty());
        let bad = |what: &str, value: &str, why: &str| {
            ApiError::BadRequest(format!("{what}: {value:?} is not {why}"))
        };
        let level = text(&self.level)
            .map(|l| Level::parse(&l).ok_or_else(|| bad("level", &l, "a level")))
            .transpose()?;
        let issue = text(&self.issue)
            .map(|i| {
                i.parse::<i64>()
                    .ok()
                    .filter(|&n| n > 0)
                    .ok_or_else(|| bad("issue", &i, "an issue number"))
            })
            .transpose()?;
        let tag = text(&self.tag)
            .map(|t| {
                t.split_once(':')
                    .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                    .filter(|(k, v)| !k.is_empty() && !v.is_empty())
                    .ok_or_else(|| bad("tag", &t, "key:value"))
            })
            .transpose()?;
        Ok(Filters {
            level,
            environment: text(&self.environment),
            release: text(&self.release),
            issue,
            tag,
            words: text(&self.query),
        })
    }
}

impl Filters {
    /// The stream's query string for these filters (`""` for none).
    fn stream_query(&self) -> String {
        let issue = self.issue.map(|i| i.to_string()).unwrap_or_default();
        let tag = self
            .tag
            .as_ref()
            .map(|(k, v)| format!("{k}:{v}"))
            .unwrap_or_default();
        let opt = |s: &Option<String>| s.clone().unwrap_or_default();
        let (environment, release, words) =
            (opt(&self.environment), opt(&self.release), opt(&self.words));
        query([
            ("level", self.level.map_or("", Level::as_str)),
            ("environment", environment.as_str()),
            ("release", release.as_str()),
            ("issue", issue.as_str()),
            ("tag", tag.as_str()),
            ("query", words.as_str()),
        ])
    }

    fn any(&self) -> bool {
        *self != Filters::default()
    }

    /// The levels to read: `None` for all of them.
    fn levels(&self) -> Option<Vec<Level>> {
        let min = self.level.filter(|&l| l > Level::Debug)?;
        Some(
            LEVELS
                .into_iter()
                .map(|(l, _)| l)
                .filter(|&l| l >= min)
                .collect(),
        )
    }
}

/// The newest `limit` events of a project that match `filters`, newest first by event time as
/// the events page lists them. The store filters on one level at a time, so "at least" reads
/// each level at or above it (at most five indexed queries of `limit` rows) and merges them.
async fn newest(
    store: &dyn Store,
    project_id: i64,
    filters: &Filters,
    limit: u32,
) -> StoreResult<Vec<EventSummary>> {
    let query = |level: Option<Level>| EventQuery {
        project_id,
        issue_id: filters.issue,
        query: filters.words.clone(),
        tags: filters.tag.clone().into_iter().collect(),
        level: level.map(|l| l.as_str().to_string()),
        environment: filters.environment.clone(),
        release: filters.release.clone(),
        since: None,
        until: None,
        cursor: None,
        limit,
    };
    let queries: Vec<EventQuery> = match filters.levels() {
        None => vec![query(None)],
        Some(levels) => levels.into_iter().map(|l| query(Some(l))).collect(),
    };
    let pages = try_join_all(queries.iter().map(|q| store.query_events(q))).await?;
    let mut events: Vec<EventSummary> = pages.into_iter().flat_map(|p| p.items).collect();
    // The full-text index finds the words anywhere in an event's text; the stream looks in the
    // title only (case-insensitive), so keep what the stream would have sent.
    if let Some(words) = &filters.words {
        let words: Vec<String> = words.split_whitespace().map(str::to_lowercase).collect();
        events.retain(|e| {
            let title = e.title.to_lowercase();
            words.iter().all(|w| title.contains(w.as_str()))
        });
    }
    // Stable: ties keep each level's own order.
    events.sort_by_key(|e| std::cmp::Reverse(e.timestamp));
    events.truncate(limit as usize);
    Ok(events)
}

/// `GET /projects/{id}/live`.
pub(super) async fn page(
    State(state): State<AppState>,
    layout: Layout,
    user: SignedIn,
    PagePath(id): PagePath<i64>,
    PageQuery(form): PageQuery<LiveQuery>,
) -> Result<LivePage, HtmlError> {
    let scope = ProjectScope::load(&state, &user, layout, id, Nav::Live, "Live").await?;
    let filters = form.filters()?;
    let now = mesher_store::now();
    let events = newest(state.store(), id, &filters, ROWS).await?;
    let l = &scope.layout;
    let rows = events
        .into_iter()
        .map(|e| EventRow::new(l, id, e, (now, &user.zone)))
        .collect();
    let empty = if filters.any() {
        (
            "No events match",
            "Events that match these filters appear here as they arrive.",
        )
    } else {
        (
            "No events yet",
            "Events appear here as soon as they are stored; the overview shows how to send one.",
        )
    };
    let current = filters.level.map_or("", Level::as_str);
    let mut levels = vec![Choice {
        value: String::new(),
        label: "Any level".into(),
        selected: current.is_empty(),
    }];
    levels.extend(LEVELS.iter().rev().map(|(l, label)| Choice {
        value: l.as_str().into(),
        label: (*label).into(),
        selected: l.as_str() == current,
    }));
    Ok(LivePage {
        stream: l.url(&format!("{}{}", paths::stream(id), filters.stream_query())),
        issue_base: l.url(&format!("{}/", paths::issues(id))),
        reload: format!("{}{}", l.url(&paths::live(id)), filters.stream_query()),
        action: l.url(&paths::live(id)),
        levels,
        rows,
        empty,
        form,
        layout: scope.layout,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live(pairs: &[(&str, &str)]) -> LiveQuery {
        let mut q = LiveQuery::default();
        for &(k, v) in pairs {
            let v = v.to_string();
            match k {
                "level" => q.level = v,
                "environment" => q.environment = v,
                "release" => q.release = v,
                "issue" => q.issue = v,
                "tag" => q.tag = v,
                "query" => q.query = v,
                _ => unreachable!("{k}"),
            }
        }
        q
    }

    #[test]
    fn filters_are_checked_and_handed_to_the_stream_normalized() {
        let f = live(&[
            ("level", "WARN"),
            ("environment", " production "),
            ("issue", "42"),
            ("tag", "browser: Chrome 120"),
            ("query", "timeout db"),
        ])
        .filters()
        .unwrap();
        assert_eq!(f.level, Some(Level::Warning));
        assert_eq!(f.tag, Some(("browser".into(), "Chrome 120".into())));
        assert_eq!(
            f.stream_query(),
            "?level=warning&environment=production&issue=42&tag=browser%3AChrome+120&query=timeout+db"
        );
        assert_eq!(
            f.levels(),
            Some(vec![Level::Warning, Level::Error, Level::Fatal])
        );

        let none = live(&[("level", ""), ("tag", "  ")]).filters().unwrap();
        assert!(!none.any());
        assert_eq!(none.stream_query(), "");
        assert_eq!(none.levels(), None);
        // At least debug is every level: one query, not five.
        let debug = live(&[("level", "debug")]).filters().unwrap();
        assert_eq!(debug.levels(), None);

        for (k, v) in [
            ("level", "loud"),
            ("issue", "x"),
            ("issue", "-3"),
            ("tag", "browser"),
            ("tag", ":x"),
            ("tag", "k:"),
        ] {
            assert!(live(&[(k, v)]).filters().is_err(), "{k}={v}");
        }
    }
}
