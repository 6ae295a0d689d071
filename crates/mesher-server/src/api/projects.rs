//! Projects and their DSN keys (ORG-02, ORG-03).

use axum::extract::State;
use axum::http::StatusCode;
use mesher_store::{ProjectUpdate, Role, Scope};

use super::auth::Caller;
use super::extract::{Json, Path};
use super::models::{KeyBody, NewKeyBody, NewProjectBody, ProjectBody, ProjectPatch, ProjectStats};
use super::orgs::visible_org;
use crate::accounts;
use crate::error::ApiError;
use crate::ops::projects::KeyRef;
use crate::ops::{self, Ops};
use crate::state::AppState;

/// Every project the caller can see.
#[utoipa::path(get, path = "/api/v1/projects", tag = "projects", responses((status = 200, body = Vec<ProjectBody>)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<axum::Json<Vec<ProjectBody>>, ApiError> {
    let mut out = Vec::new();
    for (org_id, _) in &caller.memberships {
        out.extend(
            state
                .store()
                .list_projects(Some(*org_id))
                .await?
                .into_iter()
                .map(ProjectBody::from),
        );
    }
    out.sort_by_key(|p| p.id);
    Ok(axum::Json(out))
}

/// An organization's projects.
#[utoipa::path(get, path = "/api/v1/orgs/{org}/projects", tag = "projects",
    params(("org" = String, Path, description = "Organization slug")), responses((status = 200, body = Vec<ProjectBody>)))]
pub async fn list_in_org(
    State(state): State<AppState>,
    caller: Caller,
    Path(slug): Path<String>,
) -> Result<axum::Json<Vec<ProjectBody>>, ApiError> {
    let (org, _) = visible_org(&state, &caller, &slug, Scope::Read, Role::Member).await?;
    let projects = state.store().list_projects(Some(org.id)).await?;
    Ok(axum::Json(projects.into_iter().map(Into::into).collect()))
}

/// Create a project (with its first DSN key).
#[utoipa::path(post, path = "/api/v1/orgs/{org}/projects", tag = "projects", request_body = NewProjectBody,
    params(("org" = String, Path, description = "Organization slug")), responses((status = 201, body = ProjectBody)))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Path(slug): Path<String>,
    Json(body): Json<NewProjectBody>,
) -> Result<(StatusCode, axum::Json<ProjectBody>), ApiError> {
    let (org, _) = visible_org(&state, &caller, &slug, Scope::Admin, Role::Admin).await?;
    let (project, _) = ops::projects::create_project(
        Ops::Node(&state),
        (&caller).into(),
        &org,
        &body.name,
        body.slug.as_deref(),
        body.platform.as_deref(),
    )
    .await?;
    Ok((StatusCode::CREATED, axum::Json(project.into())))
}

/// One project, with what it stores.
#[utoipa::path(get, path = "/api/v1/projects/{project_id}", tag = "projects",
    params(("project_id" = i64, Path, description = "Project id")), responses((status = 200, body = ProjectBody)))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<axum::Json<ProjectBody>, ApiError> {
    let project = caller
        .project(&state, id, Scope::Read, Role::Member)
        .await?;
    let store = state.store();
    let ((events, issues), storage) =
        tokio::try_join!(store.project_counts(id), store.project_storage(id))?;
    let mut body = ProjectBody::from(project);
    body.stats = Some(ProjectStats {
        events,
        issues,
        storage_bytes: storage.bytes,
        events_expired_before: storage.expired_before,
    });
    Ok(axum::Json(body))
}

/// Change a project's settings.
#[utoipa::path(patch, path = "/api/v1/projects/{project_id}", tag = "projects", request_body = ProjectPatch,
    params(("project_id" = i64, Path, description = "Project id")), responses((status = 200, body = ProjectBody)))]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    Json(body): Json<ProjectPatch>,
) -> Result<axum::Json<ProjectBody>, ApiError> {
    let update = ProjectUpdate {
        name: body.name,
        platform: body
            .platform
            .map(|p| Some(p).filter(|p| !p.trim().is_empty())),
        retention_days: body.retention_days,
        sample_rate: body.sample_rate,
        rate_limit_per_minute: body.rate_limit_per_minute,
        scrub_data: body.scrub_data,
        scrub_ip_addresses: body.scrub_ip_addresses,
        sensitive_fields: body.sensitive_fields,
        safe_fields: body.safe_fields,
        max_events_per_issue_per_hour: body.max_events_per_issue_per_hour,
    };
    let project =
        ops::projects::update_project(Ops::Node(&state), (&caller).into(), id, &update).await?;
    Ok(axum::Json(project.into()))
}

/// Delete a project with its keys, issues and events.
#[utoipa::path(delete, path = "/api/v1/projects/{project_id}", tag = "projects",
    params(("project_id" = i64, Path, description = "Project id")), responses((status = 204, description = "Deleted")))]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    ops::projects::delete_project(Ops::Node(&state), (&caller).into(), id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A project's DSN keys, revoked ones included.
#[utoipa::path(get, path = "/api/v1/projects/{project_id}/keys", tag = "projects",
    params(("project_id" = i64, Path, description = "Project id")), responses((status = 200, body = Vec<KeyBody>)))]
pub async fn keys(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<axum::Json<Vec<KeyBody>>, ApiError> {
    caller
        .project(&state, id, Scope::Read, Role::Member)
        .await?;
    let keys = state.store().list_keys(id).await?;
    let url = state.public_url().clone();
    Ok(axum::Json(
        keys.into_iter()
            .map(|k| {
                let dsn = accounts::dsn(&url, &k.public_key, id);
                KeyBody::new(k, dsn)
            })
            .collect(),
    ))
}

/// Add a DSN key.
#[utoipa::path(post, path = "/api/v1/projects/{project_id}/keys", tag = "projects", request_body = NewKeyBody,
    params(("project_id" = i64, Path, description = "Project id")), responses((status = 201, body = KeyBody)))]
pub async fn create_key(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    Json(body): Json<NewKeyBody>,
) -> Result<(StatusCode, axum::Json<KeyBody>), ApiError> {
    let key = ops::projects::create_key(
        Ops::Node(&state),
        (&caller).into(),
        id,
        body.label.as_deref(),
    )
    .await?;
    let dsn = accounts::dsn(state.public_url(), &key.public_key, id);
    Ok((StatusCode::CREATED, axum::Json(KeyBody::new(key, dsn))))
}

/// Revoke a DSN key: events sent with it are refused from now on.
#[utoipa::path(delete, path = "/api/v1/projects/{project_id}/keys/{public_key}", tag = "projects",
    params(("project_id" = i64, Path, description = "Project id"), ("public_key" = String, Path, description = "The key")),
    responses((status = 200, body = KeyBody)))]
pub async fn revoke_key(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, public_key)): Path<(i64, String)>,
) -> Result<axum::Json<KeyBody>, ApiError> {
    let key = ops::projects::revoke_key(
        Ops::Node(&state),
        (&caller).into(),
        KeyRef::Public {
            project_id: id,
            public_key: &public_key,
        },
    )
    .await?;
    let dsn = accounts::dsn(state.public_url(), &key.public_key, id);
    Ok(axum::Json(KeyBody::new(key, dsn)))
}
