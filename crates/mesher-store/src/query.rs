//! What the API and the dashboard ask of the store: filtered, keyset-paginated lists of issues
//! and events, statistics from rollups, sessions and members (SEARCH-01 … SEARCH-05,
//! DASH-01 … DASH-06, DETAIL-05, ORG-04).

use std::collections::HashMap;

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use mesher_protocol::EventId;

use crate::StoreError;
use crate::event_model::IssueStatus;

/// Largest page a list returns.
pub const MAX_PAGE: u32 = 100;

/// One page of a list and the cursor of the next, if any.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Page<T> {
    /// The items, in order.
    pub items: Vec<T>,
    /// Opaque cursor of the next page.
    pub next_cursor: Option<String>,
}

/// A position in a keyset-paginated list: the sort value and the id of the last item seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    /// The sort column's value (milliseconds for times, counts for counts, ids for ids).
    pub value: i64,
    /// The id that breaks ties.
    pub id: i64,
}

impl Cursor {
    /// The opaque text form handed to clients.
    pub fn encode(self) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(format!("{}:{}", self.value, self.id))
    }

    /// Parses a cursor from [`Cursor::encode`]; anything else is `Invalid`.
    pub fn decode(s: &str) -> Result<Cursor, StoreError> {
        let invalid = || StoreError::Invalid {
            field: "cursor",
            message: "is not a cursor from a previous page".into(),
        };
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(s)
            .map_err(|_| invalid())?;
        let text = String::from_utf8(raw).map_err(|_| invalid())?;
        let (v, id) = text.split_once(':').ok_or_else(invalid)?;
        Ok(Cursor {
            value: v.parse().map_err(|_| invalid())?,
            id: id.parse().map_err(|_| invalid())?,
        })
    }
}

/// How an issue list is ordered (always newest/largest first, ties by id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IssueSort {
    /// Most recently seen first.
    #[default]
    LastSeen,
    /// Most recently created first.
    FirstSeen,
    /// Most events first.
    Count,
}

/// Whom an issue list is restricted to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssigneeFilter {
    /// Issues nobody is assigned to.
    Nobody,
    /// Issues assigned to this user.
    User(i64),
}

/// The most `key:value` tags one issue list or event search may filter on: each is a condition
/// on every candidate event.
pub const MAX_TAG_FILTERS: usize = 10;

/// An issue list query (SEARCH-01). `since`/`until` bound `last_seen`.
#[derive(Debug, Clone, Default)]
pub struct IssueQuery {
    /// The project.
    pub project_id: i64,
    /// Only this state.
    pub status: Option<IssueStatus>,
    /// Only this level (of the latest event).
    pub level: Option<String>,
    /// Only issues with events in this environment.
    pub environment: Option<String>,
    /// Only issues with events of this release.
    pub release: Option<String>,
    /// `key:value` tags that one event of the issue has together (with the other event
    /// filters, in the period).
    pub tags: Vec<(String, String)>,
    /// Only issues with this assignee.
    pub assignee: Option<AssigneeFilter>,
    /// Seen at or after.
    pub since: Option<OffsetDateTime>,
    /// Seen before.
    pub until: Option<OffsetDateTime>,
    /// Words that must appear in the title or culprit (case-insensitive).
    pub query: Option<String>,
    /// Order.
    pub sort: IssueSort,
    /// Continue after this position.
    pub cursor: Option<Cursor>,
    /// Page size (1 ..= [`MAX_PAGE`]).
    pub limit: u32,
}

/// An event list query (SEARCH-02, SEARCH-03): newest first.
#[derive(Debug, Clone, Default)]
pub struct EventQuery {
    /// The project.
    pub project_id: i64,
    /// Only this issue's events.
    pub issue_id: Option<i64>,
    /// Full-text search over messages and exception values (all words must match).
    pub query: Option<String>,
    /// `key:value` tag filters, all of which must match.
    pub tags: Vec<(String, String)>,
    /// Only this level.
    pub level: Option<String>,
    /// Only this environment.
    pub environment: Option<String>,
    /// Only this release.
    pub release: Option<String>,
    /// Happened at or after.
    pub since: Option<OffsetDateTime>,
    /// Happened before.
    pub until: Option<OffsetDateTime>,
    /// Continue after this position.
    pub cursor: Option<Cursor>,
    /// Page size (1 ..= [`MAX_PAGE`]).
    pub limit: u32,
}

/// An event in a list.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EventSummary {
    /// The event's id.
    pub event_id: EventId,
    /// The issue.
    pub issue_id: i64,
    /// When it happened.
    #[serde(with = "time::serde::rfc3339")]
    pub timestamp: OffsetDateTime,
    /// Level.
    pub level: String,
    /// Title.
    pub title: String,
    /// Environment.
    pub environment: Option<String>,
    /// Release.
    pub release: Option<String>,
}

/// Time bucket of a chart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Bucket {
    /// One hour.
    #[default]
    Hour,
    /// One day (UTC).
    Day,
}

impl Bucket {
    /// Length in milliseconds.
    pub fn millis(self) -> i64 {
        match self {
            Bucket::Hour => 3_600_000,
            Bucket::Day => 86_400_000,
        }
    }
}

/// Counts per bucket over `[since, until)`, every bucket present (empty ones are 0), in order.
pub fn fill_buckets(
    counts: &[(i64, i64)],
    since: OffsetDateTime,
    until: OffsetDateTime,
    bucket: Bucket,
) -> Vec<(OffsetDateTime, i64)> {
    let size = bucket.millis();
    let start = crate::time_util::to_millis(since).div_euclid(size) * size;
    let end = crate::time_util::to_millis(until);
    let mut out = Vec::new();
    let mut t = start;
    while t < end && out.len() < 10_000 {
        let n: i64 = counts
            .iter()
            .filter(|(h, _)| h.div_euclid(size) * size == t)
            .map(|(_, c)| c)
            .sum();
        out.push((crate::time_util::from_millis(t), n));
        t += size;
    }
    out
}

/// Project health (DASH-06).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Health {
    /// Issues in state unresolved.
    pub unresolved_issues: i64,
    /// Events in the last 24 hours.
    pub events_24h: i64,
    /// Issues first seen since midnight UTC.
    pub new_issues_today: i64,
}

/// An issue and its events within a time range (top issues, DASH-03).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IssueCount {
    /// The issue.
    pub issue: crate::event_model::Issue,
    /// Its events in the range.
    pub count: i64,
}

/// A signed-in browser session.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    /// The user.
    pub user_id: i64,
    /// The token forms and cookie-authenticated requests must echo (CSRF protection).
    pub csrf_token: String,
    /// When it stops working.
    pub expires_at: OffsetDateTime,
}

/// A member of an organization with the user's details.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Member {
    /// The user.
    pub user: crate::model::User,
    /// The role.
    pub role: crate::model::Role,
    /// Since when.
    #[serde(with = "time::serde::rfc3339")]
    pub joined_at: OffsetDateTime,
}

/// The token under which a tag pair is indexed for search: one word, exact match.
pub fn tag_token(key: &str, value: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key
        .as_bytes()
        .iter()
        .chain([0u8].iter())
        .chain(value.as_bytes())
    {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("tg{h:016x}")
}

/// Words of a full-text query, stripped of everything but letters and digits so that user
/// input can never be search syntax.
pub fn query_words(q: &str) -> Vec<String> {
    q.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .take(16)
        .map(str::to_lowercase)
        .collect()
}

/// The `n` largest counts, ties by value.
pub(crate) fn top_counts(counts: HashMap<String, i64>, n: u32) -> Vec<(String, i64)> {
    let mut v: Vec<(String, i64)> = counts.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v.truncate(n as usize);
    v
}

/// A tag's values with their counts, most first.
pub type TagValues = Vec<(String, i64)>;

/// Tag rows grouped by key: keys by total count, each with its top `per_key` values.
pub(crate) fn group_tags(
    rows: Vec<(String, String, i64)>,
    per_key: u32,
) -> Vec<(String, Vec<(String, i64)>)> {
    let mut by_key: HashMap<String, HashMap<String, i64>> = HashMap::new();
    for (k, v, n) in rows {
        *by_key.entry(k).or_default().entry(v).or_default() += n;
    }
    let mut keys: Vec<(String, i64, TagValues)> = by_key
        .into_iter()
        .map(|(k, values)| {
            let total = values.values().sum();
            (k, total, top_counts(values, per_key.max(1)))
        })
        .collect();
    keys.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    keys.into_iter().map(|(k, _, v)| (k, v)).collect()
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let c = Cursor { value: -5, id: 42 };
        assert_eq!(Cursor::decode(&c.encode()).unwrap(), c);
        assert!(Cursor::decode("nope!").is_err());
        assert!(
            Cursor::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("1")).is_err()
        );
    }

    #[test]
    fn buckets_are_filled() {
        let since = datetime!(2026-11-23 10:30 UTC);
        let until = datetime!(2026-11-23 13:00 UTC);
        let h = |t: OffsetDateTime| crate::time_util::to_millis(t);
        let filled = fill_buckets(
            &[(h(datetime!(2026-11-23 12:00 UTC)), 7)],
            since,
            until,
            Bucket::Hour,
        );
        assert_eq!(
            filled.iter().map(|(_, n)| *n).collect::<Vec<_>>(),
            vec![0, 0, 7],
            "10:00, 11:00, 12:00"
        );
        assert_eq!(filled[0].0, datetime!(2026-11-23 10:00 UTC));
    }

    #[test]
    fn query_words_are_plain() {
        assert_eq!(
            query_words("KeyError: 'user' OR *"),
            ["keyerror", "user", "or"]
        );
        assert_ne!(tag_token("a", "bc"), tag_token("ab", "c"));
    }
}
