//! The API's request and response bodies. They are the contract (documented in the OpenAPI
//! document), kept apart from the store's rows so that storage can change without breaking
//! clients.

use mesher_store::{
    EventSummary, Issue, IssueActivity, IssueStatus, Organization, Project, ProjectKey, Role,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use utoipa::ToSchema;

mod accounts;

pub use self::accounts::*;

/// Every error: `{"error": {"code", "message"}}`.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// An error's code and message.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code (`bad_request`, `not_found`, …).
    pub code: String,
    /// What a human should know.
    pub message: String,
}

/// An organization.
#[derive(Serialize, ToSchema)]
pub struct OrgBody {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// URL name.
    pub slug: String,
    /// The caller's role in it.
    #[schema(value_type = Option<String>)]
    pub role: Option<Role>,
    /// Creation time.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
}

impl OrgBody {
    /// The body of `org` seen by a member with `role`.
    pub fn new(org: Organization, role: Option<Role>) -> Self {
        OrgBody {
            id: org.id,
            name: org.name,
            slug: org.slug,
            role,
            created_at: org.created_at,
        }
    }
}

/// A new organization.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewOrgBody {
    /// Name.
    pub name: String,
    /// URL name; derived from the name when omitted.
    pub slug: Option<String>,
}

/// Events and issues a project stores, and what they take (RETAIN-03).
#[derive(Serialize, ToSchema)]
pub struct ProjectStats {
    /// Events stored.
    pub events: i64,
    /// Issues stored.
    pub issues: i64,
    /// Bytes the stored events take in the database: rows, index entries and full-text
    /// postings, within 10 % of the database's own accounting.
    pub storage_bytes: i64,
    /// Events with a timestamp before this were deleted by retention (`null`: none yet).
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub events_expired_before: Option<OffsetDateTime>,
}

/// What retention deleted of an issue's events (RETAIN-02); its counts still include them.
#[derive(Serialize, ToSchema)]
pub struct IssueExpiry {
    /// Events with a timestamp before this were deleted.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub before: OffsetDateTime,
    /// Every event of the issue was deleted (it was last seen before `before`).
    pub all: bool,
}

/// A project.
#[derive(Serialize, ToSchema)]
pub struct ProjectBody {
    /// Id (as in the DSN).
    pub id: i64,
    /// Its organization.
    pub org_id: i64,
    /// Name.
    pub name: String,
    /// URL name, unique in the organization.
    pub slug: String,
    /// SDK platform.
    pub platform: Option<String>,
    /// Days events are kept.
    pub retention_days: i32,
    /// Share of events kept, 0 to 1.
    pub sample_rate: f64,
    /// Events accepted per minute; 0 = unlimited.
    pub rate_limit_per_minute: i64,
    /// Server-side data scrubbing before storage: values of secret-looking keys (passwords,
    /// tokens, API keys, `Authorization`, `Cookie`, …) and card numbers become `[Filtered]`
    /// (issue 11). On by default.
    pub scrub_data: bool,
    /// Remove the user's IP address, `REMOTE_ADDR` and forwarding headers before storage.
    /// Off by default.
    pub scrub_ip_addresses: bool,
    /// Extra key fragments to scrub (case-insensitive, matched anywhere in a key).
    pub sensitive_fields: Vec<String>,
    /// Keys never scrubbed, with everything under them (case-insensitive, whole key).
    pub safe_fields: Vec<String>,
    /// Events kept per issue and hour at most; the others count in the issue but are not
    /// stored (outcome `capped`). `null`: no cap.
    pub max_events_per_issue_per_hour: Option<i64>,
    /// Creation time.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    /// What it stores (on single-project reads).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stats: Option<ProjectStats>,
}

impl From<Project> for ProjectBody {
    fn from(p: Project) -> Self {
        ProjectBody {
            id: p.id,
            org_id: p.org_id,
            name: p.name,
            slug: p.slug,
            platform: p.platform,
            retention_days: p.retention_days,
            sample_rate: p.sample_rate,
            rate_limit_per_minute: p.rate_limit_per_minute,
            scrub_data: p.scrub_data,
            scrub_ip_addresses: p.scrub_ip_addresses,
            sensitive_fields: p.sensitive_fields,
            safe_fields: p.safe_fields,
            max_events_per_issue_per_hour: p.max_events_per_issue_per_hour,
            created_at: p.created_at,
            stats: None,
        }
    }
}

/// A new project.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewProjectBody {
    /// Name.
    pub name: String,
    /// URL name; derived from the name when omitted.
    pub slug: Option<String>,
    /// SDK platform.
    pub platform: Option<String>,
}

/// A change of project settings; omitted fields stay.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProjectPatch {
    /// Name.
    pub name: Option<String>,
    /// Platform (`null` is not a change; send `""` to clear).
    pub platform: Option<String>,
    /// Days events are kept (1 to 3650).
    pub retention_days: Option<i32>,
    /// Share of events kept, 0 to 1.
    pub sample_rate: Option<f64>,
    /// Events accepted per minute; 0 = unlimited.
    pub rate_limit_per_minute: Option<i64>,
    /// Server-side data scrubbing on or off.
    pub scrub_data: Option<bool>,
    /// IP address removal on or off.
    pub scrub_ip_addresses: Option<bool>,
    /// Replaces the extra key fragments to scrub (at most 100 entries of at most 100
    /// characters, no commas; `[]` clears).
    pub sensitive_fields: Option<Vec<String>>,
    /// Replaces the keys never scrubbed (same limits; `[]` clears).
    pub safe_fields: Option<Vec<String>>,
    /// Keep at most this many events per issue and hour (1 to 100000000); `null` or 0 removes
    /// the cap.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i64>)]
    pub max_events_per_issue_per_hour: Option<Option<i64>>,
}

/// A field that may be `null`: `Some(None)` when sent as `null`, `None` (the default) when
/// absent.
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// A DSN key.
#[derive(Serialize, ToSchema)]
pub struct KeyBody {
    /// 32 hex characters.
    pub public_key: String,
    /// Label.
    pub label: String,
    /// The DSN to give an SDK.
    pub dsn: String,
    /// Creation time.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    /// When it was revoked.
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub revoked_at: Option<OffsetDateTime>,
}

impl KeyBody {
    /// The body of `key`, with its DSN.
    pub fn new(key: ProjectKey, dsn: String) -> Self {
        KeyBody {
            public_key: key.public_key,
            label: key.label,
            dsn,
            created_at: key.created_at,
            revoked_at: key.revoked_at,
        }
    }
}

/// A new DSN key.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewKeyBody {
    /// Label.
    pub label: Option<String>,
}

/// An issue.
#[derive(Serialize, ToSchema)]
pub struct IssueBody {
    /// Id.
    pub id: i64,
    /// Project.
    pub project_id: i64,
    /// Title of the latest event.
    pub title: String,
    /// Where it happened.
    pub culprit: Option<String>,
    /// Level of the latest event.
    pub level: String,
    /// unresolved, resolved, archived or discarded.
    #[schema(value_type = String)]
    pub status: IssueStatus,
    /// new, ongoing, regressed, escalating, archived_until_escalating.
    pub substatus: Option<String>,
    /// Earliest event.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub first_seen: OffsetDateTime,
    /// Latest event.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub last_seen: OffsetDateTime,
    /// Events ever.
    pub count: i64,
    /// Distinct users: exact up to 10,000, then estimated (within 2 %).
    pub user_count: i64,
    /// The release of the most recent event (by timestamp) that has one.
    pub last_release: Option<String>,
    /// The environment of the most recent event (by timestamp) that has one.
    pub last_environment: Option<String>,
    /// Assigned member.
    pub assignee_id: Option<i64>,
    /// When resolved.
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub resolved_at: Option<OffsetDateTime>,
    /// Set when resolved in the next release: the release it was resolved after.
    pub resolved_in_release: Option<String>,
    /// Why events join it (issue reads only).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub grouping: Option<Value>,
    /// In an issue list: its events in the list's period that match its level, environment and
    /// release filters (as Sentry's list counts); `count` stays the lifetime total.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub period_count: Option<i64>,
    /// While archived: how (`null` otherwise).
    pub archive: Option<super::archive::ArchiveBody>,
    /// Issue reads only: set when retention deleted some of its events (RETAIN-02).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub events_expired: Option<IssueExpiry>,
}

impl IssueBody {
    /// The body of an issue; with `detail`, its grouping explanation too.
    pub fn new(i: Issue, detail: bool) -> Self {
        IssueBody {
            id: i.id,
            project_id: i.project_id,
            title: i.title,
            culprit: i.culprit,
            level: i.level,
            status: i.status,
            substatus: i.substatus,
            first_seen: i.first_seen,
            last_seen: i.last_seen,
            count: i.event_count,
            user_count: i.user_count,
            last_release: i.last_release,
            last_environment: i.last_environment,
            assignee_id: i.assignee_id,
            resolved_at: i.resolved_at,
            resolved_in_release: i.resolved_in_release,
            grouping: if detail { i.grouping } else { None },
            period_count: i.period_count,
            archive: i.archive.map(Into::into),
            events_expired: None,
        }
    }

    /// Notes what retention deleted of its events, given its project's expiry mark.
    pub fn with_expiry(mut self, expired_before: Option<OffsetDateTime>) -> Self {
        self.events_expired = expired_before
            .filter(|before| self.first_seen < *before)
            .map(|before| IssueExpiry {
                before,
                all: self.last_seen < before,
            });
        self
    }
}

/// A page of issues.
#[derive(Serialize, ToSchema)]
pub struct IssuePage {
    /// The issues.
    pub data: Vec<IssueBody>,
    /// Pass as `cursor` for the next page; `null` on the last.
    pub next_cursor: Option<String>,
}

/// A state change; the archive fields choose how long an archive lasts (one condition at most;
/// none: until escalating). Sentry's `ignore*` names are accepted for them too.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusBody {
    /// resolve, resolve_in_next_release, unresolve, archive, discard — or the state names
    /// resolved, unresolved, archived (also Sentry's ignored), discarded.
    pub status: String,
    /// Archive only: `escalating` (the default) or `forever`.
    pub until: Option<String>,
    /// Archive for this many minutes (alias `ignoreDuration`).
    #[serde(alias = "ignoreDuration")]
    pub duration_minutes: Option<i64>,
    /// Archive until this many more events (alias `ignoreCount`).
    #[serde(alias = "ignoreCount")]
    pub count: Option<i64>,
    /// ... arriving within this many minutes (alias `ignoreWindow`).
    #[serde(alias = "ignoreWindow")]
    pub window_minutes: Option<i64>,
    /// Archive until this many more distinct users (alias `ignoreUserCount`).
    #[serde(alias = "ignoreUserCount")]
    pub user_count: Option<i64>,
    /// ... counted within this many minutes (alias `ignoreUserWindow`).
    #[serde(alias = "ignoreUserWindow")]
    pub user_window_minutes: Option<i64>,
}

/// An assignment (`null` unassigns).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignBody {
    /// The member's user id.
    pub user_id: Option<i64>,
}

/// An activity entry.
#[derive(Serialize, ToSchema)]
pub struct ActivityBody {
    /// Id.
    pub id: i64,
    /// What happened.
    pub kind: String,
    /// Who did it (`null`: Mesher).
    pub actor_id: Option<i64>,
    /// Details.
    #[schema(value_type = Object)]
    pub data: Value,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
}

impl From<IssueActivity> for ActivityBody {
    fn from(a: IssueActivity) -> Self {
        ActivityBody {
            id: a.id,
            kind: a.kind,
            actor_id: a.actor_id,
            data: a.data,
            created_at: a.created_at,
        }
    }
}

/// An event in a list.
#[derive(Serialize, ToSchema)]
pub struct EventSummaryBody {
    /// The SDK's id (32 hex).
    pub event_id: String,
    /// Its issue.
    pub issue_id: i64,
    /// When it happened.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
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

impl From<EventSummary> for EventSummaryBody {
    fn from(e: EventSummary) -> Self {
        EventSummaryBody {
            event_id: e.event_id.to_string(),
            issue_id: e.issue_id,
            timestamp: e.timestamp,
            level: e.level,
            title: e.title,
            environment: e.environment,
            release: e.release,
        }
    }
}

/// A page of events.
#[derive(Serialize, ToSchema)]
pub struct EventPage {
    /// The events, newest first.
    pub data: Vec<EventSummaryBody>,
    /// Pass as `cursor` for the next page; `null` on the last.
    pub next_cursor: Option<String>,
}

/// A tag pair.
#[derive(Serialize, ToSchema)]
pub struct TagPair {
    /// Key.
    pub key: String,
    /// Value.
    pub value: String,
}

/// One event in full.
#[derive(Serialize, ToSchema)]
pub struct EventBody {
    /// The SDK's id.
    pub event_id: String,
    /// Project.
    pub project_id: i64,
    /// Issue.
    pub issue_id: i64,
    /// When it happened.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub timestamp: OffsetDateTime,
    /// When it arrived.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub received_at: OffsetDateTime,
    /// Level.
    pub level: String,
    /// Title.
    pub title: String,
    /// Environment.
    pub environment: Option<String>,
    /// Release.
    pub release: Option<String>,
    /// Tags.
    pub tags: Vec<TagPair>,
    /// The exception chain with stack frames and context lines (oldest first).
    #[schema(value_type = Vec<Object>)]
    pub exception: Value,
    /// Breadcrumbs, oldest first.
    #[schema(value_type = Vec<Object>)]
    pub breadcrumbs: Value,
    /// The message.
    #[schema(value_type = Option<Object>)]
    pub message: Value,
    /// The affected user.
    #[schema(value_type = Option<Object>)]
    pub user: Value,
    /// Contexts (os, runtime, browser, …).
    #[schema(value_type = Object)]
    pub contexts: Value,
    /// The HTTP request.
    #[schema(value_type = Option<Object>)]
    pub request: Value,
    /// The previous event of its issue.
    pub previous_event_id: Option<String>,
    /// The next event of its issue.
    pub next_event_id: Option<String>,
    /// The whole normalized event.
    #[schema(value_type = Object)]
    pub payload: Value,
}

/// Events in a time bucket.
#[derive(Serialize, ToSchema)]
pub struct VolumePoint {
    /// Bucket start.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub time: OffsetDateTime,
    /// Events.
    pub count: i64,
}

/// Events of a level.
#[derive(Serialize, ToSchema)]
pub struct LevelCount {
    /// Level.
    pub level: String,
    /// Events.
    pub count: i64,
}

/// An issue's events in a range.
#[derive(Serialize, ToSchema)]
pub struct TopIssue {
    /// The issue.
    pub issue: IssueBody,
    /// Its events in the range.
    pub count: i64,
}

/// A tag value's events.
#[derive(Serialize, ToSchema)]
pub struct TagValueCount {
    /// Value.
    pub value: String,
    /// Events.
    pub count: i64,
}

/// A tag and its top values.
#[derive(Serialize, ToSchema)]
pub struct TagBreakdown {
    /// Key.
    pub key: String,
    /// Most frequent values.
    pub values: Vec<TagValueCount>,
}

/// Project health.
#[derive(Serialize, ToSchema)]
pub struct HealthBody {
    /// Unresolved issues.
    pub unresolved_issues: i64,
    /// Events in the last 24 hours.
    pub events_24h: i64,
    /// Issues first seen since midnight UTC.
    pub new_issues_today: i64,
}

/// Why an event joined its issue.
#[derive(Serialize, ToSchema)]
pub struct GroupingBody {
    /// The event.
    pub event_id: String,
    /// Its issue.
    pub issue_id: i64,
    /// The fingerprint computed now: `{config, hash, kind, components, tree}`.
    #[schema(value_type = Object)]
    pub grouping: Value,
    /// The issue's fingerprint.
    pub issue_fingerprint: Option<String>,
    /// False when the grouping rules changed since the event was stored, or when scrubbing
    /// replaced a value grouping used (issue 11: events are grouped as sent, then scrubbed,
    /// so the issue keeps the fingerprint of the unscrubbed event; the stored event's `_meta`
    /// lists what was replaced).
    pub matches_issue: bool,
    /// The explanation kept on the issue when it was created.
    #[schema(value_type = Option<Object>)]
    pub issue_grouping: Option<Value>,
}
