//! What a live stream says (STREAM-01, STREAM-03, STREAM-04): typed JSON objects with a `type`
//! and a version `v`. Each message is serialized once and the same bytes go to every matching
//! connection.

use axum::extract::ws::Utf8Bytes;
use mesher_protocol::{EventId, Level};
use mesher_store::{Alert, CommittedEvent, Health, Issue, NewEvent};
use serde::Serialize;
use time::OffsetDateTime;

use super::filter::FilterSpec;

/// The version of every message; a client ignores types it does not know.
const VERSION: u32 = 1;

/// A committed event, as filters see it and the `event` message tells it.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// The project.
    pub project_id: i64,
    /// Its row in the database (the node's duplicate check across peers' batches).
    pub row: i64,
    /// The event's id.
    pub event_id: EventId,
    /// Its issue.
    pub issue_id: i64,
    /// Severity.
    pub level: Level,
    /// Title.
    pub title: String,
    /// Where it happened.
    pub culprit: Option<String>,
    /// Environment.
    pub environment: Option<String>,
    /// Release.
    pub release: Option<String>,
    /// When it happened.
    pub timestamp: OffsetDateTime,
    /// When a node received it.
    pub received_at: OffsetDateTime,
    /// Tags (for filters; not sent).
    pub tags: Vec<(String, String)>,
    /// The title in lower case, made once for all the streams whose filters have words.
    pub title_lower: std::cell::OnceCell<String>,
}

impl Summary {
    /// The title in lower case (computed on first use).
    pub fn title_lower(&self) -> &str {
        self.title_lower.get_or_init(|| self.title.to_lowercase())
    }

    /// An event this node just committed.
    pub fn committed_here(e: &NewEvent, issue_id: i64, row: i64) -> Summary {
        Summary {
            project_id: e.project_id,
            row,
            event_id: e.event_id,
            issue_id,
            level: e.level,
            title: e.title.clone(),
            culprit: e.culprit.clone(),
            environment: e.environment.clone(),
            release: e.release.clone(),
            timestamp: e.timestamp,
            received_at: e.received_at,
            tags: e.tags.clone(),
            title_lower: std::cell::OnceCell::new(),
        }
    }
}

impl From<CommittedEvent> for Summary {
    fn from(e: CommittedEvent) -> Summary {
        Summary {
            project_id: e.project_id,
            row: e.row,
            event_id: e.event_id,
            issue_id: e.issue_id,
            level: e.level,
            title: e.title,
            culprit: e.culprit,
            environment: e.environment,
            release: e.release,
            timestamp: e.timestamp,
            received_at: e.received_at,
            tags: e.tags,
            title_lower: std::cell::OnceCell::new(),
        }
    }
}

/// What issue filters look at.
#[derive(Debug, Clone, PartialEq)]
pub struct IssueView {
    /// The issue.
    pub issue_id: i64,
    /// Its level (of its latest event).
    pub level: Level,
    /// Its title.
    pub title: String,
    /// Its latest event's environment.
    pub environment: Option<String>,
    /// Its latest event's release.
    pub release: Option<String>,
}

impl From<&Issue> for IssueView {
    fn from(i: &Issue) -> IssueView {
        IssueView {
            issue_id: i.id,
            level: Level::parse(&i.level).unwrap_or(Level::Error),
            title: i.title.clone(),
            environment: i.last_environment.clone(),
            release: i.last_release.clone(),
        }
    }
}

#[derive(Serialize)]
struct Typed<'a, T: Serialize> {
    #[serde(rename = "type")]
    kind: &'a str,
    v: u32,
    #[serde(flatten)]
    body: T,
}

fn frame<T: Serialize>(kind: &str, body: T) -> Utf8Bytes {
    let typed = Typed {
        kind,
        v: VERSION,
        body,
    };
    // Serializing these plain structs cannot fail; an empty object keeps the stream valid.
    serde_json::to_string(&typed)
        .unwrap_or_else(|_| "{}".into())
        .into()
}

#[derive(Serialize)]
struct EventBody<'a> {
    id: String,
    issue_id: i64,
    level: Level,
    title: &'a str,
    culprit: Option<&'a str>,
    environment: Option<&'a str>,
    release: Option<&'a str>,
    #[serde(with = "time::serde::rfc3339")]
    timestamp: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    received_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    committed_at: OffsetDateTime,
}

/// `event`: a committed event. `committed_at` is when this node committed it, or, for a peer's
/// event, when this node read it.
pub fn event(e: &Summary, committed_at: OffsetDateTime) -> Utf8Bytes {
    frame(
        "event",
        EventBody {
            id: e.event_id.to_string(),
            issue_id: e.issue_id,
            level: e.level,
            title: &e.title,
            culprit: e.culprit.as_deref(),
            environment: e.environment.as_deref(),
            release: e.release.as_deref(),
            timestamp: e.timestamp,
            received_at: e.received_at,
            committed_at,
        },
    )
}

#[derive(Serialize)]
struct IssueBody<'a> {
    change: &'a str,
    issue_id: i64,
    title: &'a str,
    culprit: Option<&'a str>,
    level: &'a str,
    status: mesher_store::IssueStatus,
    substatus: Option<&'a str>,
    count: i64,
    user_count: i64,
    #[serde(with = "time::serde::rfc3339")]
    first_seen: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    last_seen: OffsetDateTime,
}

/// `issue`: an issue was created, regressed, escalated or changed by someone, with its counts
/// after the change.
pub fn issue(change: &str, i: &Issue) -> Utf8Bytes {
    frame(
        "issue",
        IssueBody {
            change,
            issue_id: i.id,
            title: &i.title,
            culprit: i.culprit.as_deref(),
            level: &i.level,
            status: i.status,
            substatus: i.substatus.as_deref(),
            count: i.event_count,
            user_count: i.user_count,
            first_seen: i.first_seen,
            last_seen: i.last_seen,
        },
    )
}

#[derive(Serialize)]
struct AlertBody<'a> {
    alert_id: i64,
    rule_id: i64,
    issue_id: Option<i64>,
    kind: &'a str,
    state: &'a str,
    summary: &'a str,
    #[serde(with = "time::serde::rfc3339")]
    fired_at: OffsetDateTime,
}

/// An alert fired (issue 16).
pub fn alert(a: &Alert) -> Utf8Bytes {
    frame(
        "alert",
        AlertBody {
            alert_id: a.id,
            rule_id: a.rule_id,
            issue_id: a.issue_id,
            kind: &a.kind,
            state: a.state.as_str(),
            summary: &a.summary,
            fired_at: a.fired_at,
        },
    )
}

#[derive(Serialize)]
struct CountsBody {
    unresolved_issues: i64,
    events_24h: i64,
    new_issues_today: i64,
    events_last_minute: u64,
}

/// `counts`: the overview's health figures and the events of the last minute.
pub fn counts(h: &Health, events_last_minute: u64) -> Utf8Bytes {
    frame(
        "counts",
        CountsBody {
            unresolved_issues: h.unresolved_issues,
            events_24h: h.events_24h,
            new_issues_today: h.new_issues_today,
            events_last_minute,
        },
    )
}

#[derive(Serialize)]
struct LaggedBody {
    missed: u64,
}

/// `lagged`: the client was too slow and this many messages were dropped, oldest first.
pub fn lagged(missed: u64) -> Utf8Bytes {
    frame("lagged", LaggedBody { missed })
}

#[derive(Serialize)]
struct SubscribedBody<'a> {
    filters: &'a FilterSpec,
}

/// `subscribed`: the filters now in force.
pub fn subscribed(filters: &FilterSpec) -> Utf8Bytes {
    frame("subscribed", SubscribedBody { filters })
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    message: &'a str,
}

/// `error`: a client message was refused; the stream goes on.
pub fn error(message: &str) -> Utf8Bytes {
    frame("error", ErrorBody { message })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_typed_and_versioned() {
        let v: serde_json::Value = serde_json::from_str(lagged(3).as_str()).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"type": "lagged", "v": 1, "missed": 3})
        );
        let e = Summary {
            project_id: 1,
            row: 9,
            event_id: EventId::from_bytes([0xab; 16]),
            issue_id: 7,
            level: Level::Warning,
            title: "T".into(),
            culprit: None,
            environment: Some("prod".into()),
            release: None,
            timestamp: OffsetDateTime::UNIX_EPOCH,
            received_at: OffsetDateTime::UNIX_EPOCH,
            tags: vec![("k".into(), "v".into())],
            title_lower: Default::default(),
        };
        let v: serde_json::Value =
            serde_json::from_str(event(&e, OffsetDateTime::UNIX_EPOCH).as_str()).unwrap();
        assert_eq!(v["type"], "event");
        assert_eq!(v["id"], "ab".repeat(16));
        assert_eq!(v["level"], "warning");
        assert_eq!(v["environment"], "prod");
        assert_eq!(v["release"], serde_json::Value::Null);
        assert_eq!(v["timestamp"], "1970-01-01T00:00:00Z");
        assert!(v.get("tags").is_none(), "tags are for filters only");
    }
}
