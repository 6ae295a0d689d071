//! Issues: list with filters, one issue, state changes, assignment, deletion, activity, events,
//! tags and timeline (ISSUE-01, ISSUE-04, ISSUE-05, SEARCH-01, SEARCH-04, SEARCH-05, DASH-05).

use axum::extract::State;
use axum::http::StatusCode;
use mesher_store::{
    AssigneeFilter, Bucket, EventQuery, Issue, IssueQuery, IssueSort, IssueStatus, Project, Role,
    Scope,
};

use super::auth::Caller;
use super::extract::{Json, Path, QueryPairs};
use super::models::{
    ActivityBody, AssignBody, EventPage, IssueBody, IssuePage, StatusBody, TagBreakdown,
    TagValueCount, VolumePoint,
};
use super::{bucket, default_range};
use crate::error::ApiError;
use crate::ops::{self, Ops};
use crate::state::AppState;

/// An issue and its project, when the caller may act on it with `scope` and `role`.
pub async fn visible_issue(
    state: &AppState,
    caller: &Caller,
    id: i64,
    scope: Scope,
    role: Role,
) -> Result<(Issue, Project), ApiError> {
    let not_found = || ApiError::NotFound("issue not found".into());
    let issue = state.store().issue(id).await?.ok_or_else(not_found)?;
    let project = caller
        .project(state, issue.project_id, scope, role)
        .await
        .map_err(|e| match e {
            ApiError::NotFound(_) => not_found(),
            other => other,
        })?;
    Ok((issue, project))
}

/// A project's issues, most recently seen first by default, seen in the last 24 hours unless
/// `since`/`until` say otherwise.
#[utoipa::path(get, path = "/api/v1/projects/{project_id}/issues", tag = "issues",
    params(
        ("project_id" = i64, Path, description = "Project id"),
        ("status" = Option<String>, Query, description = "unresolved (default, as Sentry's `is:unresolved`), resolved, archived, discarded (the tombstones of discarded issues), or `all` (every state but discarded)"),
        ("level" = Option<String>, Query, description = "Issues with events of this level in the period: fatal, error, warning, info or debug"),
        ("environment" = Option<String>, Query, description = "Issues with events in this environment in the period"),
        ("release" = Option<String>, Query, description = "Issues with events of this release in the period"),
        ("tag" = Option<Vec<String>>, Query, explode, description = "`key:value`, repeatable: issues with an event in the period that has every tag (and the level, environment and release asked for)"),
        ("assignee" = Option<String>, Query, description = "`me`, `none` or a user id"),
        ("since" = Option<String>, Query, description = "RFC 3339; default: 24 hours ago"),
        ("until" = Option<String>, Query, description = "RFC 3339; default: now"),
        ("query" = Option<String>, Query, description = "Words in the title or culprit"),
        ("sort" = Option<String>, Query, description = "last_seen (default), first_seen or count (events in the period that match the filters: `period_count`)"),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page"),
        ("limit" = Option<u32>, Query, description = "1 to 100, default 25"),
    ),
    responses((status = 200, body = IssuePage)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(project_id): Path<i64>,
    q: QueryPairs,
) -> Result<axum::Json<IssuePage>, ApiError> {
    caller
        .project(&state, project_id, Scope::Read, Role::Member)
        .await?;
    let (since, until) = default_range(&q)?;
    let query = IssueQuery {
        project_id,
        // Unresolved unless asked otherwise, as Sentry's issue list (issue 12, row 9).
        status: match q.get("status") {
            None => Some(IssueStatus::Unresolved),
            Some("all") => None,
            Some(_) => q.parse("status", |v| v.parse::<IssueStatus>().ok())?,
        },
        level: q.parse("level", level)?,
        environment: q.get("environment").map(str::to_string),
        release: q.get("release").map(str::to_string),
        tags: q.tags()?,
        assignee: q.parse("assignee", |v| match v {
            "me" => Some(AssigneeFilter::User(caller.user_id)),
            "none" => Some(AssigneeFilter::Nobody),
            id => id.parse().ok().map(AssigneeFilter::User),
        })?,
        since: Some(since),
        // A period that ends now is open-ended: nothing is later than now, and the store then
        // decides through its indexes without reading events.
        until: q.get("until").is_some().then_some(until),
        query: q.get("query").map(str::to_string),
        sort: q
            .parse("sort", |v| match v {
                "last_seen" => Some(IssueSort::LastSeen),
                "first_seen" => Some(IssueSort::FirstSeen),
                "count" => Some(IssueSort::Count),
                _ => None,
            })?
            .unwrap_or_default(),
        cursor: q.cursor()?,
        limit: q.limit()?,
    };
    let page = state.store().query_issues(&query).await?;
    Ok(axum::Json(IssuePage {
        data: page
            .items
            .into_iter()
            .map(|i| IssueBody::new(i, false))
            .collect(),
        next_cursor: page.next_cursor,
    }))
}

/// A level name, validated.
pub fn level(v: &str) -> Option<String> {
    ["fatal", "error", "warning", "info", "debug"]
        .contains(&v)
        .then(|| v.to_string())
}

/// One issue, with why its events are grouped together.
#[utoipa::path(get, path = "/api/v1/issues/{issue_id}", tag = "issues",
    params(("issue_id" = i64, Path, description = "Issue id")), responses((status = 200, body = IssueBody)))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<axum::Json<IssueBody>, ApiError> {
    let (issue, _) = visible_issue(&state, &caller, id, Scope::Read, Role::Member).await?;
    let storage = state.store().project_storage(issue.project_id).await?;
    Ok(axum::Json(
        IssueBody::new(issue, true).with_expiry(storage.expired_before),
    ))
}

/// Move an issue to another state (ISSUE-01; discard: ISSUE-05); archive until escalating (the
/// default), forever, for a duration, or until more events or users (issue 12, row 5).
///
/// `resolve_in_next_release` resolves the issue until an event of a newer release than its last
/// release arrives: versions of one package (`app@1.2.3`, or bare `1.2.3`) compare as versions,
/// other releases by when the project first saw them. An issue without a release resolves after
/// the project's latest release (issue 12, rows 3 and 13).
#[utoipa::path(post, path = "/api/v1/issues/{issue_id}/status", tag = "issues", request_body = StatusBody,
    params(("issue_id" = i64, Path, description = "Issue id")),
    responses(
        (status = 200, body = IssueBody),
        (status = 400, body = super::models::ErrorBody, description = "Unknown status, or `resolve_in_next_release` on an issue without a release in a project without any: \"No release data present in the system to form a basis for 'Next Release'\""),
    ))]
pub async fn set_status(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    Json(body): Json<StatusBody>,
) -> Result<axum::Json<IssueBody>, ApiError> {
    let archive = super::archive::condition(&body)?;
    let change = ops::issues::parse_change(&body.status, archive)?;
    let issue =
        ops::issues::set_status(Ops::Node(&state), (&caller).into(), None, id, change).await?;
    Ok(axum::Json(IssueBody::new(issue, true)))
}

/// Assign an issue to a member of its organization, or unassign it (`user_id: null`).
#[utoipa::path(post, path = "/api/v1/issues/{issue_id}/assign", tag = "issues", request_body = AssignBody,
    params(("issue_id" = i64, Path, description = "Issue id")), responses((status = 200, body = IssueBody)))]
pub async fn assign(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    Json(body): Json<AssignBody>,
) -> Result<axum::Json<IssueBody>, ApiError> {
    let issue =
        ops::issues::assign(Ops::Node(&state), (&caller).into(), None, id, body.user_id).await?;
    Ok(axum::Json(IssueBody::new(issue, true)))
}

/// Delete an issue and its events; its fingerprint may create a new issue later.
#[utoipa::path(delete, path = "/api/v1/issues/{issue_id}", tag = "issues",
    params(("issue_id" = i64, Path, description = "Issue id")), responses((status = 204, description = "Deleted")))]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    ops::issues::delete(Ops::Node(&state), (&caller).into(), None, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// What happened to an issue, oldest first.
#[utoipa::path(get, path = "/api/v1/issues/{issue_id}/activity", tag = "issues",
    params(("issue_id" = i64, Path, description = "Issue id")), responses((status = 200, body = Vec<ActivityBody>)))]
pub async fn activity(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<axum::Json<Vec<ActivityBody>>, ApiError> {
    visible_issue(&state, &caller, id, Scope::Read, Role::Member).await?;
    let entries = state.store().list_activity(id).await?;
    Ok(axum::Json(entries.into_iter().map(Into::into).collect()))
}

/// An issue's events, newest first by event timestamp (ties by arrival).
#[utoipa::path(get, path = "/api/v1/issues/{issue_id}/events", tag = "issues",
    params(
        ("issue_id" = i64, Path, description = "Issue id"),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page"),
        ("limit" = Option<u32>, Query, description = "1 to 100, default 25"),
    ),
    responses((status = 200, body = EventPage)))]
pub async fn events(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    q: QueryPairs,
) -> Result<axum::Json<EventPage>, ApiError> {
    let (issue, _) = visible_issue(&state, &caller, id, Scope::Read, Role::Member).await?;
    let page = state
        .store()
        .query_events(&EventQuery {
            project_id: issue.project_id,
            issue_id: Some(id),
            cursor: q.cursor()?,
            limit: q.limit()?,
            ..EventQuery::default()
        })
        .await?;
    Ok(axum::Json(EventPage {
        data: page.items.into_iter().map(Into::into).collect(),
        next_cursor: page.next_cursor,
    }))
}

/// An issue's tags with their most frequent values.
#[utoipa::path(get, path = "/api/v1/issues/{issue_id}/tags", tag = "issues",
    params(("issue_id" = i64, Path, description = "Issue id")), responses((status = 200, body = Vec<TagBreakdown>)))]
pub async fn tags(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<axum::Json<Vec<TagBreakdown>>, ApiError> {
    visible_issue(&state, &caller, id, Scope::Read, Role::Member).await?;
    let tags = state.store().issue_tag_values(id, 10).await?;
    Ok(axum::Json(
        tags.into_iter()
            .map(|(key, values)| TagBreakdown {
                key,
                values: values
                    .into_iter()
                    .map(|(value, count)| TagValueCount { value, count })
                    .collect(),
            })
            .collect(),
    ))
}

/// An issue's events over time (DASH-05), empty buckets included.
#[utoipa::path(get, path = "/api/v1/issues/{issue_id}/timeline", tag = "issues",
    params(
        ("issue_id" = i64, Path, description = "Issue id"),
        ("since" = Option<String>, Query, description = "RFC 3339; default: 24 hours ago"),
        ("until" = Option<String>, Query, description = "RFC 3339; default: now"),
        ("bucket" = Option<String>, Query, description = "hour (default) or day"),
    ),
    responses((status = 200, body = Vec<VolumePoint>)))]
pub async fn timeline(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    q: QueryPairs,
) -> Result<axum::Json<Vec<VolumePoint>>, ApiError> {
    visible_issue(&state, &caller, id, Scope::Read, Role::Member).await?;
    let (since, until) = default_range(&q)?;
    let bucket = bucket(&q, since, until)?;
    let points = state
        .store()
        .issue_timeline(id, since, until, bucket)
        .await?;
    Ok(axum::Json(
        points
            .into_iter()
            .map(|(time, count)| VolumePoint { time, count })
            .collect(),
    ))
}

/// The default bucket of a range.
pub fn default_bucket(since: time::OffsetDateTime, until: time::OffsetDateTime) -> Bucket {
    if until - since > time::Duration::days(3) {
        Bucket::Day
    } else {
        Bucket::Hour
    }
}
