//! What pages of a signed-in user share: the header (organizations and projects to switch
//! between), the project a page is about with the user's role in it, notices after an action,
//! time ranges, and where to go after signing in.

use mesher_store::{Organization, Project, Role, Scope};
use time::{Duration, OffsetDateTime};

use super::charts;
use super::extract::SignedIn;
use super::format::query;
use super::layout::{InvitationNotice, Layout, Nav, OrgProjects, ProjectRef, Switcher, UserChrome};
use super::{HtmlError, paths};
use crate::state::AppState;

/// The organizations of a signed-in user with their projects, by name.
async fn orgs_of(
    state: &AppState,
    user: &SignedIn,
) -> Result<Vec<(Organization, Role, Vec<Project>)>, HtmlError> {
    let store = state.store();
    let mut orgs = Vec::with_capacity(user.caller.memberships.len());
    for &(org_id, role) in &user.caller.memberships {
        // A membership of an organization deleted meanwhile is skipped, not an error.
        if let Some(org) = store.org(org_id).await? {
            let projects = store.list_projects(Some(org_id)).await?;
            orgs.push((org, role, projects));
        }
    }
    orgs.sort_by_key(|(org, _, _)| org.name.to_lowercase());
    Ok(orgs)
}

/// The header of a signed-in user, with `current` marked in the switcher.
pub(super) async fn chrome(
    state: &AppState,
    user: &SignedIn,
    current: Option<&Project>,
) -> Result<UserChrome, HtmlError> {
    let orgs = orgs_of(state, user).await?;
    let invitations = invitation_notices(state, user).await?;
    Ok(chrome_from(user, &orgs, current, invitations))
}

/// The invitations waiting for the user's answer (one indexed query per page).
async fn invitation_notices(
    state: &AppState,
    user: &SignedIn,
) -> Result<Vec<InvitationNotice>, HtmlError> {
    Ok(crate::invitations::pending_for(state, user.user.id)
        .await?
        .into_iter()
        .map(|p| InvitationNotice {
            org_name: p.org.name,
            role: p.invitation.role.as_str(),
            accept_path: paths::invitation(p.invitation.id, "accept"),
            decline_path: paths::invitation(p.invitation.id, "decline"),
        })
        .collect())
}

fn chrome_from(
    user: &SignedIn,
    orgs: &[(Organization, Role, Vec<Project>)],
    current: Option<&Project>,
    invitations: Vec<InvitationNotice>,
) -> UserChrome {
    let project_ref = |org: &Organization, p: &Project| ProjectRef {
        id: p.id,
        name: p.name.clone(),
        org_name: org.name.clone(),
    };
    let current = current.and_then(|c| {
        let (org, _, _) = orgs.iter().find(|(o, _, _)| o.id == c.org_id)?;
        Some(project_ref(org, c))
    });
    UserChrome {
        invitations,
        operator: orgs.iter().any(|(_, role, _)| *role >= Role::Admin),
        email: user.user.email.clone(),
        csrf: user.csrf.clone(),
        time_zone: user.zone.description(),
        switcher: Switcher {
            current,
            orgs: orgs
                .iter()
                .map(|(org, role, projects)| OrgProjects {
                    name: org.name.clone(),
                    slug: org.slug.clone(),
                    can_admin: *role >= Role::Admin,
                    projects: projects.iter().map(|p| project_ref(org, p)).collect(),
                })
                .collect(),
        },
    }
}

/// A page about one project: the project, its organization, the user's role there, and the
/// layout with the header and navigation filled in.
pub(super) struct ProjectScope {
    /// The page's layout.
    pub layout: Layout,
    /// The project.
    pub project: Project,
    /// Its organization.
    pub org: Organization,
    /// The user's role in the organization.
    pub role: Role,
}

impl ProjectScope {
    /// Loads project `id` for reading: 404 when it does not exist or the user is not a member
    /// of its organization (the API's rule).
    pub async fn load(
        state: &AppState,
        user: &SignedIn,
        layout: Layout,
        id: i64,
        nav: Nav,
        title: &str,
    ) -> Result<ProjectScope, HtmlError> {
        let project = user
            .caller
            .project(state, id, Scope::Read, Role::Member)
            .await?;
        let orgs = orgs_of(state, user).await?;
        let Some((org, role, _)) = orgs.iter().find(|(o, _, _)| o.id == project.org_id) else {
            return Err(HtmlError(crate::ApiError::NotFound(
                "project not found".into(),
            )));
        };
        let (org, role) = (org.clone(), *role);
        let invitations = invitation_notices(state, user).await?;
        let chrome = chrome_from(user, &orgs, Some(&project), invitations);
        Ok(ProjectScope {
            layout: layout
                .titled(format!("{title} · {}", project.name))
                .with_nav(nav)
                .with_user(chrome),
            project,
            org,
            role,
        })
    }

    /// Whether the user may change the project's settings, keys and members.
    pub fn can_admin(&self) -> bool {
        self.role >= Role::Admin
    }
}

/// Where a signed-in user starts: their first project; else, where they may create one; else a
/// new organization.
pub(super) async fn landing(state: &AppState, user: &SignedIn) -> Result<String, HtmlError> {
    let orgs = orgs_of(state, user).await?;
    if let Some(project) = orgs.iter().find_map(|(_, _, projects)| projects.first()) {
        return Ok(paths::project(project.id));
    }
    if let Some((org, _, _)) = orgs.iter().find(|(_, role, _)| *role >= Role::Admin) {
        return Ok(paths::new_project(&org.slug));
    }
    Ok(paths::NEW_ORG.to_string())
}

/// A message shown at the top of a page after an action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// An error (shown as an alert) or a confirmation.
    pub error: bool,
    /// The message.
    pub text: String,
}

/// Confirmations a redirect may ask for with `?done=<key>`: only these fixed texts, so that a
/// link cannot make a page say something Mesher did not.
const DONE: &[(&str, &str)] = &[
    ("resolved", "Issue resolved."),
    (
        "resolved_in_next_release",
        "Issue resolved in the next release.",
    ),
    ("unresolved", "Issue marked unresolved."),
    ("archived", "Issue archived until it escalates."),
    ("archived_as_chosen", "Issue archived."),
    (
        "discarded",
        "Issue discarded: its events are deleted and new ones will be dropped.",
    ),
    (
        "undiscarded",
        "Discard lifted: the next event of this kind opens a new issue.",
    ),
    ("assigned", "Assignee updated."),
    ("deleted", "Issue deleted."),
    ("bulk", "The selected issues were updated."),
    ("none-selected", "Select at least one issue first."),
    ("saved", "Settings saved."),
    ("key-created", "Key created."),
    (
        "key-revoked",
        "Key revoked: events sent with it are refused from now on.",
    ),
    ("role-changed", "Role changed."),
    ("member-removed", "Member removed."),
    (
        "member-invited",
        "Invitation sent: they become a member when they accept it (within 7 days).",
    ),
    ("invitation-revoked", "Invitation revoked."),
    ("invitation-accepted", "Invitation accepted: welcome."),
    ("invitation-declined", "Invitation declined."),
    ("token-revoked", "Token revoked."),
    ("preferences-saved", "Preferences saved."),
    ("rule-created", "Alert rule created."),
    ("rule-saved", "Alert rule saved."),
    ("rule-deleted", "Alert rule deleted, with its alerts."),
    (
        "test-sent",
        "Test alert sent: it is on top of the list and goes to the rule's actions.",
    ),
    ("alert-acknowledged", "Alert acknowledged."),
    ("alert-resolved", "Alert resolved."),
    (
        "org-created",
        "Organization created. Now create its first project.",
    ),
];

/// Errors a redirect may report with `?done=<key>`, fixed texts as [`DONE`]'s.
const FAILED: &[(&str, &str)] = &[(
    // Sentry's words (issue 12, row 13).
    "no-release",
    "No release data present in the system to form a basis for 'Next Release'.",
)];

impl Notice {
    /// A confirmation.
    pub fn done(text: impl Into<String>) -> Notice {
        Notice {
            error: false,
            text: text.into(),
        }
    }

    /// An error.
    pub fn error(text: impl Into<String>) -> Notice {
        Notice {
            error: true,
            text: text.into(),
        }
    }

    /// The confirmation or error named by a `done` query parameter, if it is one of ours.
    pub fn from_done(key: Option<&str>) -> Option<Notice> {
        let key = key?;
        let find = |list: &[(&str, &'static str)]| {
            list.iter().find(|(k, _)| *k == key).map(|(_, text)| *text)
        };
        find(DONE)
            .map(Notice::done)
            .or_else(|| find(FAILED).map(Notice::error))
    }
}

/// `path` with `?done=key`, for a redirect after an action.
pub(super) fn done(path: &str, key: &str) -> String {
    let sep = if path.contains('?') { '&' } else { '?' };
    format!("{path}{sep}done={key}")
}

/// A chart's time range: the last 24 hours by hour, or the last 7 or 30 days by day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Range {
    Day,
    Week,
    Month,
}

/// One choice of a range selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangeLink {
    /// "24 h".
    pub label: &'static str,
    /// The page with this range.
    pub href: String,
    /// Whether it is the page's range.
    pub current: bool,
}

impl Range {
    const ALL: [Range; 3] = [Range::Day, Range::Week, Range::Month];

    /// The range a `range` parameter names; the last 24 hours when absent or unknown.
    pub fn parse(value: Option<&str>) -> Range {
        Range::ALL
            .into_iter()
            .find(|r| Some(r.key()) == value)
            .unwrap_or(Range::Day)
    }

    /// The parameter value.
    pub fn key(self) -> &'static str {
        match self {
            Range::Day => "24h",
            Range::Week => "7d",
            Range::Month => "30d",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Range::Day => "24 h",
            Range::Week => "7 d",
            Range::Month => "30 d",
        }
    }

    /// "the last 24 hours".
    pub fn phrase(self) -> &'static str {
        match self {
            Range::Day => "the last 24 hours",
            Range::Week => "the last 7 days",
            Range::Month => "the last 30 days",
        }
    }

    /// Whole buckets ending with the current one: `(since, until, bucket)`.
    pub fn window(self, now: OffsetDateTime) -> (OffsetDateTime, OffsetDateTime, charts::Bucket) {
        let (bucket, n) = match self {
            Range::Day => (charts::Bucket::Hour, 24),
            Range::Week => (charts::Bucket::Day, 7),
            Range::Month => (charts::Bucket::Day, 30),
        };
        let current = bucket.floor(now);
        let since = current - bucket.duration() * (n - 1);
        (since, current + bucket.duration(), bucket)
    }

    /// The selector's links: `path` with each range and the other parameters `keep`.
    pub fn links(self, path: &str, keep: &[(&str, &str)]) -> Vec<RangeLink> {
        Range::ALL
            .into_iter()
            .map(|r| {
                let pairs = keep.iter().copied().chain([("range", r.key())]);
                RangeLink {
                    label: r.label(),
                    href: format!("{path}{}", query(pairs)),
                    current: r == self,
                }
            })
            .collect()
    }
}

/// The store's bucket for a chart's bucket.
pub(super) fn store_bucket(bucket: charts::Bucket) -> mesher_store::Bucket {
    match bucket {
        charts::Bucket::Hour => mesher_store::Bucket::Hour,
        charts::Bucket::Day => mesher_store::Bucket::Day,
    }
}

/// A store series as a chart's (negative counts, which a store never returns, count as 0).
pub(super) fn series(points: &[(OffsetDateTime, i64)]) -> Vec<(OffsetDateTime, u64)> {
    points
        .iter()
        .map(|&(t, n)| (t, u64::try_from(n).unwrap_or(0)))
        .collect()
}

/// How far back an issue list or event search looks.
pub(super) const PERIODS: &[(&str, &str, Duration)] = &[
    ("1h", "Last hour", Duration::HOUR),
    ("24h", "Last 24 hours", Duration::DAY),
    ("7d", "Last 7 days", Duration::days(7)),
    ("14d", "Last 14 days", Duration::days(14)),
    ("30d", "Last 30 days", Duration::days(30)),
];

/// The start of a period named by its key; `None` for "any time" (or an unknown key).
pub(super) fn period_since(key: &str, now: OffsetDateTime) -> Option<OffsetDateTime> {
    PERIODS
        .iter()
        .find(|(k, _, _)| *k == key)
        .map(|&(_, _, d)| now - d)
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn ranges_end_with_the_current_bucket() {
        let now = datetime!(2026-11-23 14:35 UTC);
        let (since, until, bucket) = Range::Day.window(now);
        assert_eq!(bucket, charts::Bucket::Hour);
        assert_eq!(since, datetime!(2026-11-22 15:00 UTC));
        assert_eq!(until, datetime!(2026-11-23 15:00 UTC));
        let (since, until, _) = Range::Week.window(now);
        assert_eq!(since, datetime!(2026-11-17 0:00 UTC));
        assert_eq!(until, datetime!(2026-11-24 0:00 UTC));
        assert_eq!(Range::parse(Some("30d")), Range::Month);
        assert_eq!(Range::parse(Some("nonsense")), Range::Day);
        let links = Range::Week.links("/projects/1", &[("event", "ab")]);
        assert_eq!(links[1].href, "/projects/1?event=ab&range=7d");
        assert!(links[1].current && !links[0].current);
    }

    #[test]
    fn only_known_confirmations_are_shown() {
        assert_eq!(
            Notice::from_done(Some("saved")).unwrap().text,
            "Settings saved."
        );
        assert_eq!(Notice::from_done(Some("<script>")), None);
        assert_eq!(done("/a?b=1", "saved"), "/a?b=1&done=saved");
        assert_eq!(done("/a", "saved"), "/a?done=saved");
    }
}
