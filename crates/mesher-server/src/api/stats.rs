//! Project statistics from the rollups (DASH-01 … DASH-04, DASH-06).

use axum::extract::State;
use mesher_store::{Role, Scope};

use super::auth::Caller;
use super::extract::{Path, QueryPairs};
use super::models::{HealthBody, IssueBody, LevelCount, TagValueCount, TopIssue, VolumePoint};
use super::{bucket, default_range};
use crate::error::ApiError;
use crate::state::AppState;

/// Events over time, in hour or day buckets, empty buckets included.
#[utoipa::path(get, path = "/api/v1/projects/{project_id}/stats/volume", tag = "stats",
    params(
        ("project_id" = i64, Path, description = "Project id"),
        ("since" = Option<String>, Query, description = "RFC 3339; default: 24 hours ago"),
        ("until" = Option<String>, Query, description = "RFC 3339; default: now"),
        ("bucket" = Option<String>, Query, description = "hour or day; default: hour up to 3 days, day beyond"),
    ),
    responses((status = 200, body = Vec<VolumePoint>)))]
pub async fn volume(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    q: QueryPairs,
) -> Result<axum::Json<Vec<VolumePoint>>, ApiError> {
    caller
        .project(&state, id, Scope::Read, Role::Member)
        .await?;
    let (since, until) = default_range(&q)?;
    let bucket = bucket(&q, since, until)?;
    let points = state.store().volume(id, since, until, bucket).await?;
    Ok(axum::Json(
        points
            .into_iter()
            .map(|(time, count)| VolumePoint { time, count })
            .collect(),
    ))
}

/// Events per level.
#[utoipa::path(get, path = "/api/v1/projects/{project_id}/stats/levels", tag = "stats",
    params(
        ("project_id" = i64, Path, description = "Project id"),
        ("since" = Option<String>, Query, description = "RFC 3339; default: 24 hours ago"),
        ("until" = Option<String>, Query, description = "RFC 3339; default: now"),
    ),
    responses((status = 200, body = Vec<LevelCount>)))]
pub async fn levels(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    q: QueryPairs,
) -> Result<axum::Json<Vec<LevelCount>>, ApiError> {
    caller
        .project(&state, id, Scope::Read, Role::Member)
        .await?;
    let (since, until) = default_range(&q)?;
    let counts = state.store().level_counts(id, since, until).await?;
    Ok(axum::Json(
        counts
            .into_iter()
            .map(|(level, count)| LevelCount { level, count })
            .collect(),
    ))
}

/// The issues with the most events in the range.
#[utoipa::path(get, path = "/api/v1/projects/{project_id}/stats/top-issues", tag = "stats",
    params(
        ("project_id" = i64, Path, description = "Project id"),
        ("since" = Option<String>, Query, description = "RFC 3339; default: 24 hours ago"),
        ("until" = Option<String>, Query, description = "RFC 3339; default: now"),
        ("limit" = Option<u32>, Query, description = "1 to 100, default 10"),
    ),
    responses((status = 200, body = Vec<TopIssue>)))]
pub async fn top_issues(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    q: QueryPairs,
) -> Result<axum::Json<Vec<TopIssue>>, ApiError> {
    caller
        .project(&state, id, Scope::Read, Role::Member)
        .await?;
    let (since, until) = default_range(&q)?;
    let limit = q
        .parse("limit", |v| {
            v.parse::<u32>().ok().filter(|n| (1..=100).contains(n))
        })?
        .unwrap_or(10);
    let top = state.store().top_issues(id, since, until, limit).await?;
    Ok(axum::Json(
        top.into_iter()
            .map(|t| TopIssue {
                issue: IssueBody::new(t.issue, false),
                count: t.count,
            })
            .collect(),
    ))
}

/// The most frequent values of a tag among the range's events, counted exactly.
#[utoipa::path(get, path = "/api/v1/projects/{project_id}/stats/tags", tag = "stats",
    params(
        ("project_id" = i64, Path, description = "Project id"),
        ("key" = String, Query, description = "The tag, e.g. environment, release, browser"),
        ("since" = Option<String>, Query, description = "RFC 3339; default: 24 hours ago"),
        ("until" = Option<String>, Query, description = "RFC 3339; default: now"),
        ("limit" = Option<u32>, Query, description = "1 to 100, default 10"),
    ),
    responses((status = 200, body = Vec<TagValueCount>)))]
pub async fn tags(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    q: QueryPairs,
) -> Result<axum::Json<Vec<TagValueCount>>, ApiError> {
    caller
        .project(&state, id, Scope::Read, Role::Member)
        .await?;
    let key = q
        .get("key")
        .ok_or_else(|| ApiError::BadRequest("key: the tag to break down is required".into()))?;
    let (since, until) = default_range(&q)?;
    let limit = q
        .parse("limit", |v| {
            v.parse::<u32>().ok().filter(|n| (1..=100).contains(n))
        })?
        .unwrap_or(10);
    let values = state
        .store()
        .tag_values(id, key, since, until, limit)
        .await?;
    Ok(axum::Json(
        values
            .into_iter()
            .map(|(value, count)| TagValueCount { value, count })
            .collect(),
    ))
}

/// Unresolved issues, events in the last 24 hours, issues first seen today (UTC).
#[utoipa::path(get, path = "/api/v1/projects/{project_id}/stats/health", tag = "stats",
    params(("project_id" = i64, Path, description = "Project id")), responses((status = 200, body = HealthBody)))]
pub async fn health(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<axum::Json<HealthBody>, ApiError> {
    caller
        .project(&state, id, Scope::Read, Role::Member)
        .await?;
    let h = state.store().health(id, mesher_store::now()).await?;
    Ok(axum::Json(HealthBody {
        unresolved_issues: h.unresolved_issues,
        events_24h: h.events_24h,
        new_issues_today: h.new_issues_today,
    }))
}
