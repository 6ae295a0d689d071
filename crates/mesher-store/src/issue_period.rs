//! What an issue list's period and event filters mean (issue 12, rows 7 and 12), as SQL shared
//! by both backends.
//!
//! As in Sentry, the time window, level, environment, release and tags of an issue list apply
//! together to the issue's events: an issue is listed when one of its events matches all of
//! them, and its count is the number of such events. The placeholders' values differ between
//! the backends (times are milliseconds on SQLite, `timestamptz` on PostgreSQL), so the
//! fragments carry [`Bind`] values that each backend converts; only reading a tag from an
//! event's JSON is written per [`Dialect`].

use time::OffsetDateTime;

use crate::lifecycle::hour_of;
use crate::query::{IssueQuery, IssueSort};
use crate::time_util::{from_millis, to_millis};

/// A value bound to a `?` of a fragment.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Bind {
    /// A point in time.
    Time(OffsetDateTime),
    /// Text.
    Text(String),
    /// An integer (an id).
    Int(i64),
}

/// A SQL fragment with `?` placeholders and their values, in order.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Fragment {
    pub sql: String,
    pub binds: Vec<Bind>,
}

impl Fragment {
    fn push(&mut self, sql: &str, binds: impl IntoIterator<Item = Bind>) {
        self.sql.push_str(sql);
        self.binds.extend(binds);
    }
}

/// The SQL dialect of a fragment, where the backends' JSON functions differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    /// SQLite: `tags` is JSON text.
    Sqlite,
    /// PostgreSQL: `tags` is `jsonb`.
    Postgres,
}

impl Dialect {
    /// ` AND …`: event `e` has the tag of the two following placeholders (key, value).
    fn event_has_tag(self) -> &'static str {
        match self {
            // `json_each` rather than a path: a tag key may hold dots and quotes.
            Dialect::Sqlite => {
                " AND EXISTS (SELECT 1 FROM json_each(e.tags) j WHERE j.key = ? AND j.value = ?)"
            }
            Dialect::Postgres => " AND e.tags ->> ? = ?",
        }
    }
}

const HOUR_MS: i64 = 3_600_000;

/// Ends every `EXISTS` of a list. The offset keeps PostgreSQL from turning the check into a
/// semi-join driven by `issue_tags`, whose value counts it misjudges by a factor of 60 (1.1 s
/// instead of 6 ms for "errors in production, 7 days" on a million events): checked per issue,
/// in the list's order, the walk stops once the page is full, as on SQLite.
const CHECK_PER_ISSUE: &str = " LIMIT 1 OFFSET 0)";

impl IssueQuery {
    /// Whether the list filters on event fields, which the issue row cannot answer.
    fn filters_events(&self) -> bool {
        self.level.is_some()
            || self.environment.is_some()
            || self.release.is_some()
            || !self.tags.is_empty()
    }

    /// The event filters as the (key, value) pairs that `issue_tags` counts: level,
    /// environment and release are tags of every event that has them.
    fn tag_filters(&self) -> Vec<(&str, &str)> {
        [
            ("level", &self.level),
            ("environment", &self.environment),
            ("release", &self.release),
        ]
        .into_iter()
        .filter_map(|(key, value)| value.as_deref().map(|v| (key, v)))
        .chain(self.tags.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .collect()
    }

    /// ` AND e.…` conditions on an event `e`: the period and the event filters.
    fn event_conditions(&self, dialect: Dialect) -> Fragment {
        let mut f = Fragment::default();
        period_conditions(&mut f, self.since, self.until);
        for (column, value) in [
            ("level", &self.level),
            ("environment", &self.environment),
            ("release", &self.release),
        ] {
            if let Some(v) = value {
                f.push(&format!(" AND e.{column} = ?"), [Bind::Text(v.clone())]);
            }
        }
        for (key, value) in &self.tags {
            f.push(
                dialect.event_has_tag(),
                [Bind::Text(key.clone()), Bind::Text(value.clone())],
            );
        }
        f
    }

    /// ` AND …` conditions on `issues` that keep the issues with a matching event.
    ///
    /// The issue's first and last seen bound its events, and `issue_tags` knows when each of
    /// its tag values (level, environment and release among them) was last seen, so they decide
    /// through indexes alone for the common lists (one filter, a period ending now); the events
    /// themselves are read only where those cannot decide: several filters that one event must
    /// meet together, or a period that ended before the issue was last seen.
    pub(crate) fn match_conditions(&self, dialect: Dialect) -> Fragment {
        let mut f = Fragment::default();
        if let Some(t) = self.since {
            f.push(" AND issues.last_seen >= ?", [Bind::Time(t)]);
        }
        if let Some(t) = self.until {
            f.push(" AND issues.first_seen < ?", [Bind::Time(t)]);
        }
        let filters = self.tag_filters();
        for &(key, value) in &filters {
            f.push(
                " AND EXISTS (SELECT 1 FROM issue_tags t WHERE t.issue_id = issues.id \
                 AND t.key = ? AND t.value = ?",
                [Bind::Text(key.into()), Bind::Text(value.into())],
            );
            if let Some(t) = self.since {
                f.push(" AND t.last_seen >= ?", [Bind::Time(t)]);
            }
            f.push(CHECK_PER_ISSUE, []);
        }
        let filters = filters.len();
        let events = self.event_conditions(dialect);
        if filters > 1 || (filters == 1 && self.until.is_some()) {
            f.push(
                " AND EXISTS (SELECT 1 FROM events e WHERE e.issue_id = issues.id",
                [],
            );
            f.push(&events.sql, events.binds);
            f.push(CHECK_PER_ISSUE, []);
        } else if let (0, Some(until)) = (filters, self.until) {
            // An issue last seen inside the period has an event in it; one last seen after the
            // period may or may not.
            f.push(" AND (issues.last_seen < ?", [Bind::Time(until)]);
            f.push(
                " OR EXISTS (SELECT 1 FROM events e WHERE e.issue_id = issues.id",
                [],
            );
            f.push(&events.sql, events.binds);
            f.push(CHECK_PER_ISSUE, []);
            f.push(")", []);
        }
        f
    }

    /// An expression for the number of the issue's events that match the period and the event
    /// filters; `None` when the list has neither (its count is the lifetime count).
    ///
    /// Without event filters, whole hours come from the hourly counts and only the partial hours
    /// at the period's ends from the events, so a month costs as little as an hour.
    pub(crate) fn period_count(&self, dialect: Dialect) -> Option<Fragment> {
        if self.since.is_none() && self.until.is_none() && !self.filters_events() {
            return None;
        }
        let mut f = Fragment::default();
        let count_events = |f: &mut Fragment, conditions: Fragment| {
            f.push(
                "(SELECT count(*) FROM events e WHERE e.issue_id = issues.id",
                [],
            );
            f.push(&conditions.sql, conditions.binds);
            f.push(")", []);
        };
        let filters = self.tag_filters();
        if let ([(key, value)], None, None) = (filters.as_slice(), self.since, self.until) {
            // Ever, with one value: the issue's tag count says it without reading events.
            f.push(
                "(SELECT coalesce(max(t.count), 0) FROM issue_tags t WHERE t.issue_id = issues.id \
                 AND t.key = ? AND t.value = ?)",
                [Bind::Text((*key).into()), Bind::Text((*value).into())],
            );
            return Some(f);
        }
        if !filters.is_empty() {
            count_events(&mut f, self.event_conditions(dialect));
            return Some(f);
        }
        let Some(split) = self.split() else {
            // Within one hour: the events alone.
            count_events(&mut f, self.event_conditions(dialect));
            return Some(f);
        };
        f.push(
            // The cast: PostgreSQL sums BIGINTs as NUMERIC.
            "((SELECT CAST(coalesce(sum(h.count), 0) AS BIGINT) FROM issue_hourly h WHERE h.issue_id = issues.id",
            [],
        );
        hour_conditions(&mut f, split.hours);
        f.push(")", []);
        for (since, until) in [split.head, split.tail].into_iter().flatten() {
            f.push(" + ", []);
            let mut part = Fragment::default();
            period_conditions(&mut part, Some(since), Some(until));
            count_events(&mut f, part);
        }
        f.push(")", []);
        Some(f)
    }

    /// A derived table `(issue_id, n)`: the period's count of every issue of the project with
    /// events in it, summed set-wise from the project's hours (issue 13); `None` where the list
    /// counts per issue with [`IssueQuery::period_count`] instead.
    ///
    /// Sorting by count must count every issue seen in the period (8,000 a day on a million
    /// events): one range scan of `issue_hourly` by project and hour, plus the events of the
    /// partial hours at the ends, costs less than two lookups per issue. Lists that words or an
    /// assignee narrow to a few issues, or that filter on event fields, count per issue.
    pub(crate) fn period_counts(&self) -> Option<Fragment> {
        if self.sort != IssueSort::Count
            || self.filters_events()
            || (self.since.is_none() && self.until.is_none())
            || self.query.is_some()
            || self.assignee.is_some()
        {
            return None;
        }
        let project = Bind::Int(self.project_id);
        let mut f = Fragment::default();
        f.push("(SELECT issue_id, CAST(sum(n) AS BIGINT) AS n FROM (", []);
        let count_events = |f: &mut Fragment, since, until| {
            f.push(
                "SELECT e.issue_id, count(*) AS n FROM events e WHERE e.project_id = ?",
                [project.clone()],
            );
            period_conditions(f, since, until);
            f.push(" GROUP BY e.issue_id", []);
        };
        match self.split() {
            None => count_events(&mut f, self.since, self.until),
            Some(split) => {
                f.push(
                    "SELECT h.issue_id, h.count AS n FROM issue_hourly h WHERE h.project_id = ?",
                    [project.clone()],
                );
                hour_conditions(&mut f, split.hours);
                for (since, until) in [split.head, split.tail].into_iter().flatten() {
                    f.push(" UNION ALL ", []);
                    count_events(&mut f, Some(since), Some(until));
                }
            }
        }
        f.push(") u GROUP BY issue_id)", []);
        Some(f)
    }

    /// The period as whole hours and the partial hours at its ends; `None` when it lies within
    /// one hour (counted from the events alone).
    fn split(&self) -> Option<Split> {
        let first_hour = self.since.map(|t| ceil_hour(to_millis(t)));
        let last_hour = self.until.map(hour_of);
        if let (Some(a), Some(b)) = (first_hour, last_hour)
            && a >= b
        {
            return None;
        }
        Some(Split {
            hours: (first_hour, last_hour),
            head: self
                .since
                .zip(first_hour)
                .map(|(since, a)| (since, from_millis(a))),
            tail: last_hour
                .zip(self.until)
                .map(|(b, until)| (from_millis(b), until)),
        })
    }
}

/// A period cut at the hours: whole hours `[from, to)` (ms, either end open), and the spans
/// before and after them (empty when the period's end is on the hour).
struct Split {
    hours: (Option<i64>, Option<i64>),
    head: Option<(OffsetDateTime, OffsetDateTime)>,
    tail: Option<(OffsetDateTime, OffsetDateTime)>,
}

/// ` AND h.hour …` conditions for whole hours `[from, to)` (ms).
fn hour_conditions(f: &mut Fragment, (from, to): (Option<i64>, Option<i64>)) {
    if let Some(a) = from {
        f.push(" AND h.hour >= ?", [Bind::Time(from_millis(a))]);
    }
    if let Some(b) = to {
        f.push(" AND h.hour < ?", [Bind::Time(from_millis(b))]);
    }
}

/// ` AND e.timestamp …` conditions for events in `[since, until)`.
fn period_conditions(
    f: &mut Fragment,
    since: Option<OffsetDateTime>,
    until: Option<OffsetDateTime>,
) {
    if let Some(t) = since {
        f.push(" AND e.timestamp >= ?", [Bind::Time(t)]);
    }
    if let Some(t) = until {
        f.push(" AND e.timestamp < ?", [Bind::Time(t)]);
    }
}

/// The first hour boundary at or after `ms`.
fn ceil_hour(ms: i64) -> i64 {
    let floor = ms - ms.rem_euclid(HOUR_MS);
    if floor == ms { ms } else { floor + HOUR_MS }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    fn query(since: OffsetDateTime, until: OffsetDateTime) -> IssueQuery {
        IssueQuery {
            since: Some(since),
            until: Some(until),
            ..IssueQuery::default()
        }
    }

    #[test]
    fn whole_hours_come_from_the_rollup_and_the_ends_from_events() {
        let q = query(
            datetime!(2026-11-01 10:20 UTC),
            datetime!(2026-11-01 13:05 UTC),
        );
        let f = q.period_count(Dialect::Sqlite).unwrap();
        assert_eq!(f.sql.matches("issue_hourly").count(), 1);
        assert_eq!(f.sql.matches("FROM events").count(), 2);
        assert_eq!(
            f.binds,
            vec![
                Bind::Time(datetime!(2026-11-01 11:00 UTC)),
                Bind::Time(datetime!(2026-11-01 13:00 UTC)),
                Bind::Time(datetime!(2026-11-01 10:20 UTC)),
                Bind::Time(datetime!(2026-11-01 11:00 UTC)),
                Bind::Time(datetime!(2026-11-01 13:00 UTC)),
                Bind::Time(datetime!(2026-11-01 13:05 UTC)),
            ]
        );
    }

    #[test]
    fn a_period_inside_one_hour_counts_events_only() {
        let q = query(
            datetime!(2026-11-01 10:20 UTC),
            datetime!(2026-11-01 10:50 UTC),
        );
        let f = q.period_count(Dialect::Sqlite).unwrap();
        assert!(!f.sql.contains("issue_hourly"));
        assert_eq!(f.binds.len(), 2);
    }

    #[test]
    fn event_filters_count_matching_events() {
        let mut q = query(
            datetime!(2026-11-01 10:00 UTC),
            datetime!(2026-11-01 12:00 UTC),
        );
        q.environment = Some("production".into());
        let f = q.period_count(Dialect::Sqlite).unwrap();
        assert!(f.sql.contains("e.environment = ?"));
        assert!(!f.sql.contains("issue_hourly"));
        let matching = q.match_conditions(Dialect::Sqlite).sql;
        assert!(matching.contains("issue_tags"), "{matching}");
        assert!(
            matching.contains("FROM events"),
            "one filter and an end: {matching}"
        );
        q.until = None;
        let matching = q.match_conditions(Dialect::Sqlite).sql;
        assert!(
            !matching.contains("FROM events"),
            "the tag's last seen decides: {matching}"
        );
    }

    #[test]
    fn one_filter_ever_is_the_tag_count() {
        let q = IssueQuery {
            release: Some("app@1".into()),
            ..IssueQuery::default()
        };
        let f = q.period_count(Dialect::Sqlite).unwrap();
        assert!(
            f.sql.contains("issue_tags") && !f.sql.contains("events"),
            "{}",
            f.sql
        );
        assert_eq!(
            f.binds,
            [Bind::Text("release".into()), Bind::Text("app@1".into())]
        );
    }

    #[test]
    fn no_period_and_no_filter_is_the_lifetime_count() {
        assert_eq!(IssueQuery::default().period_count(Dialect::Sqlite), None);
        assert_eq!(
            IssueQuery::default().match_conditions(Dialect::Sqlite),
            Fragment::default()
        );
    }

    #[test]
    fn tags_filter_like_the_other_event_fields() {
        let mut q = query(
            datetime!(2026-11-01 10:00 UTC),
            datetime!(2026-11-01 12:00 UTC),
        );
        q.tags = vec![("browser.name".into(), "Fire \"fox\"".into())];
        for (dialect, reads) in [
            (Dialect::Sqlite, "json_each(e.tags)"),
            (Dialect::Postgres, "e.tags ->> ?"),
        ] {
            let f = q.period_count(dialect).unwrap();
            assert!(f.sql.contains(reads) && !f.sql.contains("issue_hourly"));
            assert_eq!(
                f.binds[2..],
                [
                    Bind::Text("browser.name".into()),
                    Bind::Text("Fire \"fox\"".into())
                ]
            );
            let matching = q.match_conditions(dialect).sql;
            assert!(matching.contains("issue_tags") && matching.contains(reads));
        }
        let ever = IssueQuery {
            tags: q.tags.clone(),
            ..IssueQuery::default()
        };
        let f = ever.period_count(Dialect::Postgres).unwrap();
        assert!(f.sql.contains("issue_tags") && !f.sql.contains("events"));
    }

    #[test]
    fn hours_round_up_only_between_boundaries() {
        assert_eq!(ceil_hour(0), 0);
        assert_eq!(ceil_hour(1), HOUR_MS);
        assert_eq!(ceil_hour(HOUR_MS), HOUR_MS);
        assert_eq!(ceil_hour(-1), 0);
    }
}
