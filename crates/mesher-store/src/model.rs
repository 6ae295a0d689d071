//! The rows of the account side of the data model: organizations, projects, keys, users,
//! memberships and API tokens.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::StoreError;

/// A tenant: every project, member and issue belongs to exactly one organization (ORG-01).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Organization {
    /// Positive integer id.
    pub id: i64,
    /// Display name.
    pub name: String,
    /// Unique, URL-safe name.
    pub slug: String,
    /// When the organization was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// A project inside an organization (ORG-02). Its id appears in DSNs, as in Sentry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Project {
    /// Positive integer id.
    pub id: i64,
    /// The owning organization.
    pub org_id: i64,
    /// Display name.
    pub name: String,
    /// URL-safe name, unique within the organization.
    pub slug: String,
    /// The SDK platform (python, javascript, rust, …), if known.
    pub platform: Option<String>,
    /// Events older than this many days are deleted (RETAIN-01).
    pub retention_days: i32,
    /// Fraction of events kept, in `[0, 1]` (RETAIN-04).
    pub sample_rate: f64,
    /// Accepted events per minute; 0 means unlimited (INGEST-04).
    pub rate_limit_per_minute: i64,
    /// When the project was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Server-side data scrubbing: secret-looking keys and card numbers become `[Filtered]`
    /// before storage (issue 11). On by default, as Sentry's data scrubber.
    pub scrub_data: bool,
    /// Remove the user's IP address and `REMOTE_ADDR` before storage. Off by default, as
    /// Sentry's "Prevent storing of IP addresses".
    pub scrub_ip_addresses: bool,
    /// Extra key fragments whose values are scrubbed (case-insensitive, matched anywhere in a
    /// key), on top of the defaults.
    pub sensitive_fields: Vec<String>,
    /// Keys never scrubbed, with everything under them (case-insensitive, whole key).
    pub safe_fields: Vec<String>,
    /// Keep at most this many events per issue and hour; the others still count in the issue's
    /// totals but are not stored (outcome `capped`, RETAIN-04). `None`: no cap.
    #[serde(default)]
    pub max_events_per_issue_per_hour: Option<i64>,
}

/// What a new project needs; the settings take their defaults.
#[derive(Debug, Clone)]
pub struct NewProject<'a> {
    /// The owning organization.
    pub org_id: i64,
    /// Display name.
    pub name: &'a str,
    /// URL-safe name, unique within the organization.
    pub slug: &'a str,
    /// The SDK platform, if known.
    pub platform: Option<&'a str>,
}

/// A change to a project's settings; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct ProjectUpdate {
    /// New display name.
    pub name: Option<String>,
    /// New platform (`Some(None)` clears it).
    pub platform: Option<Option<String>>,
    /// New retention, in days (1 ..= 3650).
    pub retention_days: Option<i32>,
    /// New sample rate, in `[0, 1]`.
    pub sample_rate: Option<f64>,
    /// New rate limit, events per minute (0 = unlimited).
    pub rate_limit_per_minute: Option<i64>,
    /// Turn data scrubbing on or off.
    pub scrub_data: Option<bool>,
    /// Turn IP address removal on or off.
    pub scrub_ip_addresses: Option<bool>,
    /// Replace the extra sensitive fields (see [`MAX_SCRUB_FIELDS`]).
    pub sensitive_fields: Option<Vec<String>>,
    /// Replace the safe fields (see [`MAX_SCRUB_FIELDS`]).
    pub safe_fields: Option<Vec<String>>,
    /// New per-issue hourly cap (`Some(None)` or `Some(Some(0))` removes it; at most
    /// [`MAX_EVENTS_PER_ISSUE_PER_HOUR`]).
    pub max_events_per_issue_per_hour: Option<Option<i64>>,
}

/// Largest per-issue hourly cap a project may set.
pub const MAX_EVENTS_PER_ISSUE_PER_HOUR: i64 = 100_000_000;

/// Most entries in a project's sensitive or safe fields.
pub const MAX_SCRUB_FIELDS: usize = 100;
/// Longest entry in a project's sensitive or safe fields, in characters.
pub const MAX_SCRUB_FIELD_CHARS: usize = 100;

/// A field list as stored: entries trimmed, duplicates (ignoring case) dropped, order kept.
pub fn clean_scrub_fields(fields: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(fields.len());
    for field in fields.iter().map(|f| f.trim()) {
        if !field.is_empty() && !out.iter().any(|o| o.eq_ignore_ascii_case(field)) {
            out.push(field.to_string());
        }
    }
    out
}

/// Why a sensitive or safe field list is refused, if it is.
fn scrub_fields_problem(fields: &[String]) -> Option<String> {
    if fields.len() > MAX_SCRUB_FIELDS {
        return Some(format!("must have at most {MAX_SCRUB_FIELDS} entries"));
    }
    for field in fields {
        let trimmed = field.trim();
        if trimmed.is_empty() {
            return Some("entries must not be empty".to_string());
        }
        if trimmed.chars().count() > MAX_SCRUB_FIELD_CHARS {
            return Some(format!(
                "entry {trimmed:?} is longer than {MAX_SCRUB_FIELD_CHARS} characters"
            ));
        }
        if trimmed.chars().any(|c| c.is_control() || c == ',') {
            return Some(format!(
                "entry {trimmed:?} contains a comma or a control character"
            ));
        }
    }
    None
}

impl ProjectUpdate {
    /// Checks every given value.
    pub fn validate(&self) -> Result<(), StoreError> {
        let invalid = |field, message: &str| {
            Err(StoreError::Invalid {
                field,
                message: message.to_string(),
            })
        };
        if self.name.as_deref().is_some_and(|n| n.trim().is_empty()) {
            return invalid("name", "must not be empty");
        }
        if self
            .retention_days
            .is_some_and(|d| !(1..=3650).contains(&d))
        {
            return invalid("retention_days", "must be between 1 and 3650");
        }
        if self
            .sample_rate
            .is_some_and(|r| !(0.0..=1.0).contains(&r) || r.is_nan())
        {
            return invalid("sample_rate", "must be between 0 and 1");
        }
        if self
            .rate_limit_per_minute
            .is_some_and(|r| !(0..=100_000_000).contains(&r))
        {
            return invalid(
                "rate_limit_per_minute",
                "must be between 0 (unlimited) and 100000000",
            );
        }
        if self
            .max_events_per_issue_per_hour
            .flatten()
            .is_some_and(|k| !(0..=MAX_EVENTS_PER_ISSUE_PER_HOUR).contains(&k))
        {
            return invalid(
                "max_events_per_issue_per_hour",
                "must be between 0 (no cap) and 100000000",
            );
        }
        for (field, list) in [
            ("sensitive_fields", &self.sensitive_fields),
            ("safe_fields", &self.safe_fields),
        ] {
            if let Some(problem) = list.as_deref().and_then(scrub_fields_problem) {
                return invalid(field, &problem);
            }
        }
        Ok(())
    }

    /// The cap to store when this update sets one: `Some(None)` removes it (0 means none).
    pub fn issue_cap(&self) -> Option<Option<i64>> {
        self.max_events_per_issue_per_hour
            .map(|k| k.filter(|&k| k > 0))
    }
}

/// Default retention of a new project, in days (RETAIN-01).
pub const DEFAULT_RETENTION_DAYS: i32 = 90;
/// Default per-project rate limit, events per minute (INGEST-04).
pub const DEFAULT_RATE_LIMIT_PER_MINUTE: i64 = 6000;

/// A DSN key of a project (ORG-03). Several per project; revoked keys stay listed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProjectKey {
    /// Row id.
    pub id: i64,
    /// The project the key sends to.
    pub project_id: i64,
    /// 32 lowercase hex characters: the `sentry_key` of the DSN.
    pub public_key: String,
    /// A human label ("Default", "frontend", …).
    pub label: String,
    /// When the key was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When the key was revoked; a revoked key is refused at ingest.
    #[serde(with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
}

/// A person who signs in to the dashboard or owns API tokens.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    /// Positive integer id.
    pub id: i64,
    /// Lower-cased, unique email address used to sign in.
    pub email: String,
    /// Display name.
    pub name: String,
    /// The argon2 PHC string of the password; never serialized.
    #[serde(skip_serializing, default)]
    pub password_hash: String,
    /// When the user was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// The IANA time zone the dashboard shows times in; `None` for the browser's own.
    #[serde(default)]
    pub time_zone: Option<String>,
}

/// What a new user needs; the password arrives already hashed.
#[derive(Debug, Clone)]
pub struct NewUser<'a> {
    /// Email address (stored lower-cased).
    pub email: &'a str,
    /// Display name.
    pub name: &'a str,
    /// argon2 PHC string.
    pub password_hash: &'a str,
}

/// A user's role in an organization (ORG-04). Ordered by power: `Member < Admin < Owner`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads everything in the organization and triages issues.
    Member,
    /// Also manages projects, keys and members.
    Admin,
    /// Also manages owners and the organization itself.
    Owner,
}

impl Role {
    /// The stored and serialized name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Member => "member",
            Role::Admin => "admin",
            Role::Owner => "owner",
        }
    }
}

impl FromStr for Role {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "member" => Ok(Role::Member),
            "admin" => Ok(Role::Admin),
            "owner" => Ok(Role::Owner),
            other => Err(StoreError::Invalid {
                field: "role",
                message: format!("{other:?} is not one of owner, admin, member"),
            }),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A user's membership of an organization.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Membership {
    /// The organization.
    pub org_id: i64,
    /// The member.
    pub user_id: i64,
    /// What the member may do.
    pub role: Role,
    /// When the membership was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// An invitation to join an organization, addressed to an email; it becomes a membership when
/// the user with that email accepts it, before `expires_at`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Invitation {
    /// The invitation.
    pub id: i64,
    /// The organization.
    pub org_id: i64,
    /// Who is invited (lower-cased).
    pub email: String,
    /// The role the membership will have.
    pub role: Role,
    /// Who invited (`None` once that user is deleted).
    pub invited_by: Option<i64>,
    /// When it was sent (or last sent again).
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When it stops being valid.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

/// A new invitation.
#[derive(Debug, Clone)]
pub struct NewInvitation<'a> {
    /// The organization.
    pub org_id: i64,
    /// Who is invited (stored lower-cased).
    pub email: &'a str,
    /// The role the membership will have.
    pub role: Role,
    /// Who invites.
    pub invited_by: i64,
    /// When it stops being valid.
    pub expires_at: OffsetDateTime,
}

/// What an API token allows (ORG-05). Ordered: `Read < Write < Admin`; a scope implies the lower ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Read-only access.
    Read,
    /// Read and triage (issue state changes, assignment).
    Write,
    /// Everything the user's role allows, including settings and keys.
    Admin,
}

impl Scope {
    /// The stored and serialized name.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Write => "write",
            Scope::Admin => "admin",
        }
    }
}

impl FromStr for Scope {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "read" => Ok(Scope::Read),
            "write" => Ok(Scope::Write),
            "admin" => Ok(Scope::Admin),
            other => Err(StoreError::Invalid {
                field: "scope",
                message: format!("{other:?} is not one of read, write, admin"),
            }),
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An API token. The secret itself is never stored: only its SHA-256 digest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiToken {
    /// Row id.
    pub id: i64,
    /// The user the token acts as.
    pub user_id: i64,
    /// A human label.
    pub label: String,
    /// What the token may do, on top of the user's role.
    pub scope: Scope,
    /// The first characters of the token, to recognise it in lists.
    pub prefix: String,
    /// When the token was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When the token last authenticated a request.
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_used_at: Option<OffsetDateTime>,
    /// When the token was revoked.
    #[serde(with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
}

/// What a new token needs; the digest is computed by the caller.
#[derive(Debug, Clone)]
pub struct NewApiToken<'a> {
    /// The user the token acts as.
    pub user_id: i64,
    /// A human label.
    pub label: &'a str,
    /// What the token may do.
    pub scope: Scope,
    /// Hex SHA-256 of the token.
    pub token_hash: &'a str,
    /// The first characters of the token.
    pub prefix: &'a str,
}

/// The result of resolving a DSN public key at ingest.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyLookup {
    /// The project the key belongs to.
    pub project_id: i64,
    /// Whether the key was revoked.
    pub revoked: bool,
}
