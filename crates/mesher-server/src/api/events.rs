//! Events: project-wide search, one event, its raw JSON, and why it joined its issue
//! (SEARCH-02 … SEARCH-05, DETAIL-01 … DETAIL-06, GROUP-01).

use axum::extract::State;
use mesher_protocol::grouping::fingerprint;
use mesher_protocol::{Event, EventId};
use mesher_store::{EventQuery, Role, Scope, StoredEvent};
use serde_json::Value;

use super::auth::Caller;
use super::default_range;
use super::extract::{Path, QueryPairs};
use super::issues::level;
use super::models::{EventBody, EventPage, GroupingBody, TagPair};
use crate::error::ApiError;
use crate::state::AppState;

/// Search a project's events, newest first, in the last 24 hours unless `since`/`until` say
/// otherwise: full-text words and exact `key:value` tag filters. Without words or tags the list
/// is ordered by event timestamp; a full-text search lists its matches newest-received first.
#[utoipa::path(get, path = "/api/v1/projects/{project_id}/events", tag = "events",
    params(
        ("project_id" = i64, Path, description = "Project id"),
        ("query" = Option<String>, Query, description = "Words in the message or exception (prefixes match)"),
        ("tag" = Option<Vec<String>>, Query, explode, description = "`key:value`, repeatable; all must match"),
        ("level" = Option<String>, Query, description = "fatal, error, warning, info or debug"),
        ("environment" = Option<String>, Query, description = "Environment"),
        ("release" = Option<String>, Query, description = "Release"),
        ("since" = Option<String>, Query, description = "RFC 3339; default: 24 hours ago"),
        ("until" = Option<String>, Query, description = "RFC 3339; default: now"),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page"),
        ("limit" = Option<u32>, Query, description = "1 to 100, default 25"),
    ),
    responses((status = 200, body = EventPage)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(project_id): Path<i64>,
    q: QueryPairs,
) -> Result<axum::Json<EventPage>, ApiError> {
    caller
        .project(&state, project_id, Scope::Read, Role::Member)
        .await?;
    let (since, until) = default_range(&q)?;
    let tags = q.tags()?;
    let page = state
        .store()
        .query_events(&EventQuery {
            project_id,
            issue_id: None,
            query: q.get("query").map(str::to_string),
            tags,
            level: q.parse("level", level)?,
            environment: q.get("environment").map(str::to_string),
            release: q.get("release").map(str::to_string),
            since: Some(since),
            until: Some(until),
            cursor: q.cursor()?,
            limit: q.limit()?,
        })
        .await?;
    Ok(axum::Json(EventPage {
        data: page.items.into_iter().map(Into::into).collect(),
        next_cursor: page.next_cursor,
    }))
}

async fn stored(
    state: &AppState,
    caller: &Caller,
    project_id: i64,
    event_id: &str,
) -> Result<StoredEvent, ApiError> {
    caller
        .project(state, project_id, Scope::Read, Role::Member)
        .await?;
    let not_found = || ApiError::NotFound("event not found".into());
    let id = EventId::parse(event_id).map_err(|_| not_found())?;
    state
        .store()
        .event(project_id, id)
        .await?
        .ok_or_else(not_found)
}

/// One event in full: stack frames with context lines, breadcrumbs, tags, user, contexts,
/// request, and the previous and next events of its issue.
#[utoipa::path(get, path = "/api/v1/projects/{project_id}/events/{event_id}", tag = "events",
    params(("project_id" = i64, Path, description = "Project id"), ("event_id" = String, Path, description = "32 hex characters")),
    responses((status = 200, body = EventBody)))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path((project_id, event_id)): Path<(i64, String)>,
) -> Result<axum::Json<EventBody>, ApiError> {
    let e = stored(&state, &caller, project_id, &event_id).await?;
    let (previous, next) = state
        .store()
        .adjacent_events(e.issue_id, e.event_id)
        .await?;
    let payload = e.payload_json()?;
    let field = |key: &str| payload.get(key).cloned().unwrap_or(Value::Null);
    let list = |key: &str| {
        payload
            .get(key)
            .and_then(|v| v.get("values"))
            .cloned()
            .unwrap_or(Value::Array(Vec::new()))
    };
    Ok(axum::Json(EventBody {
        event_id: e.event_id.to_string(),
        project_id,
        issue_id: e.issue_id,
        timestamp: e.timestamp,
        received_at: e.received_at,
        level: e.level.as_str().to_string(),
        title: e.title.clone(),
        environment: e.environment.clone(),
        release: e.release.clone(),
        tags: e
            .tags
            .iter()
            .map(|(key, value)| TagPair {
                key: key.clone(),
                value: value.clone(),
            })
            .collect(),
        exception: list("exception"),
        breadcrumbs: list("breadcrumbs"),
        message: field("logentry"),
        user: field("user"),
        contexts: payload
            .get("contexts")
            .cloned()
            .unwrap_or_else(|| Value::Object(Default::default())),
        request: field("request"),
        previous_event_id: previous.map(|id| id.to_string()),
        next_event_id: next.map(|id| id.to_string()),
        payload,
    }))
}

/// The stored, normalized event JSON as is.
#[utoipa::path(get, path = "/api/v1/projects/{project_id}/events/{event_id}/json", tag = "events",
    params(("project_id" = i64, Path, description = "Project id"), ("event_id" = String, Path, description = "32 hex characters")),
    responses((status = 200, body = Object, description = "The normalized event")))]
pub async fn raw(
    State(state): State<AppState>,
    caller: Caller,
    Path((project_id, event_id)): Path<(i64, String)>,
) -> Result<axum::Json<Value>, ApiError> {
    Ok(axum::Json(
        stored(&state, &caller, project_id, &event_id)
            .await?
            .payload_json()?,
    ))
}

/// Why an event joined its issue: the fingerprint is computed again from the stored event
/// (grouping is deterministic) and compared with the issue's.
#[utoipa::path(get, path = "/api/v1/projects/{project_id}/events/{event_id}/grouping", tag = "events",
    params(("project_id" = i64, Path, description = "Project id"), ("event_id" = String, Path, description = "32 hex characters")),
    responses((status = 200, body = GroupingBody)))]
pub async fn grouping(
    State(state): State<AppState>,
    caller: Caller,
    Path((project_id, event_id)): Path<(i64, String)>,
) -> Result<axum::Json<GroupingBody>, ApiError> {
    let e = stored(&state, &caller, project_id, &event_id).await?;
    let issue = state.store().issue(e.issue_id).await?;
    let event: Event = serde_json::from_slice(&e.payload)
        .map_err(|err| ApiError::Internal(format!("stored event does not parse: {err}")))?;
    let fp = fingerprint(&event);
    let issue_fingerprint = issue.as_ref().map(|i| i.fingerprint.clone());
    Ok(axum::Json(GroupingBody {
        event_id: e.event_id.to_string(),
        issue_id: e.issue_id,
        matches_issue: issue_fingerprint.as_deref() == Some(fp.hash.as_str()),
        grouping: fp.explanation(),
        issue_fingerprint,
        issue_grouping: issue.and_then(|i| i.grouping),
    }))
}
