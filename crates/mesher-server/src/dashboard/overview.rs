//! A project's overview (UI-01): health cards, event volume and levels over 24 hours, 7 or 30
//! days, the top issues of that range; before the first event, how to send one.
//!
//! Everything here is read from rollups (hourly counts per project and level, per issue, and
//! the project's counters): the cost does not grow with the number of stored events.

use askama::Template;
use axum::extract::State;
use mesher_protocol::Level;
use serde::Deserialize;

use super::charts::{self, Svg};
use super::context::{ProjectScope, Range, RangeLink, series, store_bucket};
use super::extract::{PagePath, PageQuery, SignedIn};
use super::format::{When, count};
use super::layout::{Layout, Nav};
use super::snippets::{self, Snippet};
use super::{HtmlError, impl_page, paths};
use crate::accounts;
use crate::state::AppState;

/// The overview page.
#[derive(Template)]
#[template(path = "overview.html")]
pub struct OverviewPage {
    layout: Layout,
    project: String,
    org: String,
    stats: Vec<Stat>,
    ranges: Vec<RangeLink>,
    range_phrase: &'static str,
    volume: Svg,
    levels: Svg,
    top: Vec<TopIssue>,
    issues_href: String,
    setup: Option<Setup>,
    /// The project's stream, which keeps the health cards current.
    stream: String,
}
impl_page!(OverviewPage);

/// A health card.
pub struct Stat {
    /// Its figure's name in the stream's `counts` messages, which keep it current; `None` for a
    /// figure of a past range, which no message carries.
    key: Option<&'static str>,
    label: &'static str,
    value: String,
    href: String,
}

/// A row of the top issues.
pub struct TopIssue {
    title: String,
    culprit: String,
    level: String,
    status: &'static str,
    href: String,
    count: String,
    last_seen: When,
}

/// The first-run hint: the DSN and SDK snippets.
pub struct Setup {
    /// `None` when every key of the project is revoked.
    pub dsn: Option<String>,
    /// Snippets for the DSN.
    pub snippets: Vec<Snippet>,
    /// Where keys are managed.
    pub settings_href: String,
}

impl Setup {
    /// The hint for a project: its first active key's DSN.
    pub async fn load(
        state: &AppState,
        layout: &Layout,
        project: &mesher_store::Project,
    ) -> Result<Setup, HtmlError> {
        let keys = state.store().list_keys(project.id).await?;
        let dsn = keys
            .iter()
            .find(|k| k.revoked_at.is_none())
            .map(|k| accounts::dsn(state.public_url(), &k.public_key, project.id));
        let snippets = dsn
            .as_deref()
            .map(|dsn| snippets::for_dsn(dsn, project.platform.as_deref(), "first"))
            .unwrap_or_default();
        Ok(Setup {
            dsn,
            snippets,
            settings_href: layout.url(&paths::settings(project.id)),
        })
    }
}

/// The query of the overview.
#[derive(Debug, Deserialize)]
pub(super) struct OverviewQuery {
    range: Option<String>,
}

/// `GET /projects/{id}`.
pub(super) async fn page(
    State(state): State<AppState>,
    layout: Layout,
    user: SignedIn,
    PagePath(id): PagePath<i64>,
    PageQuery(query): PageQuery<OverviewQuery>,
) -> Result<OverviewPage, HtmlError> {
    let scope = ProjectScope::load(&state, &user, layout, id, Nav::Overview, "Overview").await?;
    let store = state.store();
    let now = mesher_store::now();
    let zone = &user.zone;
    let range = Range::parse(query.range.as_deref());
    let (since, until, bucket) = range.window(now);
    let (health, volume, levels, top, (events_stored, _), new_in_range) = tokio::try_join!(
        store.health(id, now),
        store.volume(id, since, until, store_bucket(bucket)),
        store.level_counts(id, since, until),
        store.top_issues(id, since, until, 10),
        store.project_counts(id),
        store.new_issues(id, since),
    )?;
    let layout = &scope.layout;
    let issues = layout.url(&paths::issues(id));
    let events_href = layout.url(&paths::events(id));
    let new_href = format!("{issues}?sort=first_seen&status=all&period={}", range.key());
    // Over 24 hours the cards are the stream's figures, which the script keeps current; over 7
    // or 30 days they follow the range: the volume chart's sum, the issues first seen in it.
    let (events, new) = match range {
        Range::Day => (
            (Some("events_24h"), "Events in 24 h", health.events_24h),
            (
                Some("new_issues_today"),
                "New issues today",
                health.new_issues_today,
            ),
        ),
        Range::Week => (
            (
                None,
                "Events in 7 days",
                volume.iter().map(|(_, n)| n).sum(),
            ),
            (None, "New issues in 7 days", new_in_range),
        ),
        Range::Month => (
            (
                None,
                "Events in 30 days",
                volume.iter().map(|(_, n)| n).sum(),
            ),
            (None, "New issues in 30 days", new_in_range),
        ),
    };
    let stat = |(key, label, n): (Option<&'static str>, &'static str, i64), href| Stat {
        key,
        label,
        value: count(n),
        href,
    };
    let stats = vec![
        Stat {
            key: Some("unresolved_issues"),
            label: "Unresolved issues",
            value: count(health.unresolved_issues),
            href: issues.clone(),
        },
        stat(events, events_href),
        stat(new, new_href),
    ];
    let setup = if events_stored == 0 {
        Some(Setup::load(&state, layout, &scope.project).await?)
    } else {
        None
    };
    let top = top
        .into_iter()
        .map(|t| TopIssue {
            href: layout.url(&paths::issue(id, t.issue.id)),
            count: count(t.count),
            last_seen: zone.when(t.issue.last_seen, now),
            status: t.issue.status.as_str(),
            culprit: t.issue.culprit.unwrap_or_default(),
            title: t.issue.title,
            level: t.issue.level,
        })
        .collect();
    Ok(OverviewPage {
        project: scope.project.name.clone(),
        org: scope.org.name.clone(),
        stats,
        ranges: range.links(&layout.url(&paths::project(id)), &[]),
        range_phrase: range.phrase(),
        volume: charts::volume_chart(&series(&volume), bucket, 760, 220),
        levels: charts::level_bars(&by_severity(&levels)),
        top,
        issues_href: issues,
        setup,
        stream: layout.url(&paths::stream(id)),
        layout: scope.layout,
    })
}

/// Level counts, most severe first (the order a reader scans for trouble); unknown level
/// names, which normalization never stores, are left out.
fn by_severity(counts: &[(String, i64)]) -> Vec<(Level, u64)> {
    let mut levels: Vec<(Level, u64)> = counts
        .iter()
        .filter_map(|(name, n)| Some((Level::parse(name)?, u64::try_from(*n).unwrap_or(0))))
        .collect();
    levels.sort_by_key(|&(level, _)| std::cmp::Reverse(level));
    levels
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_read_most_severe_first() {
        let counts = [
            ("info".to_string(), 9),
            ("fatal".to_string(), 1),
            ("error".to_string(), 5),
            ("bogus".to_string(), 3),
        ];
        let levels = by_severity(&counts);
        assert_eq!(
            levels,
            [(Level::Fatal, 1), (Level::Error, 5), (Level::Info, 9)]
        );
    }
}
