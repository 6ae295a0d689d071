//! The release calls of Sentry's web API that a build script makes around
//! `sentry-cli sourcemaps upload` (issue 18): `sentry-cli releases new` and
//! `sentry-cli releases finalize`, under `/api/0/organizations/{org}/releases/`, authenticated
//! as the uploads are (a Mesher API token with write scope).
//!
//! Mesher knows a project's releases from its events; a release created here is recorded as
//! the project's since then, so that "resolved in the next release" counts it before its first
//! event, as Sentry does. Finalizing checks the release exists and answers it with the
//! `dateReleased` given, which Mesher does not keep: it knows a release by when it was first
//! seen only.

use super::extract::Json as Body;
use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use mesher_protocol::normalize::valid_release;
use mesher_store::{Organization, Project};
use serde::Deserialize;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::artifacts::{org_for, org_for_upload};
use super::auth::Caller;
use crate::error::ApiError;
use crate::state::AppState;

/// The routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/0/organizations/{org}/releases/", post(create))
        .route(
            "/api/0/organizations/{org}/releases/{version}/",
            get(read).put(update),
        )
}

/// `releases new`.
#[derive(Debug, Deserialize)]
struct NewRelease {
    version: String,
    #[serde(default)]
    projects: Vec<String>,
    #[serde(default, rename = "dateStarted", with = "time::serde::rfc3339::option")]
    date_started: Option<OffsetDateTime>,
}

/// `releases finalize` (and other edits): only the projects matter to Mesher.
#[derive(Debug, Deserialize)]
struct ReleaseEdit {
    #[serde(default)]
    projects: Vec<String>,
    #[serde(
        default,
        rename = "dateReleased",
        with = "time::serde::rfc3339::option"
    )]
    date_released: Option<OffsetDateTime>,
}

/// The projects of `org` named by `slugs` (every project of it when none is named).
async fn projects(
    state: &AppState,
    org: &Organization,
    slugs: &[String],
) -> Result<Vec<Project>, ApiError> {
    let all = state.store().list_projects(Some(org.id)).await?;
    if slugs.is_empty() {
        return Ok(all);
    }
    slugs
        .iter()
        .map(|slug| {
            all.iter()
                .find(|p| &p.slug == slug)
                .cloned()
                .ok_or_else(|| {
                    ApiError::BadRequest(format!(
                        "projects: {slug:?} is not a project of {:?}",
                        org.slug
                    ))
                })
        })
        .collect()
}

/// A release as Sentry's API shows one (the fields `sentry-cli` reads).
fn release_body(
    version: &str,
    created: OffsetDateTime,
    released: Option<OffsetDateTime>,
    projects: &[Project],
) -> Value {
    let time = |t: OffsetDateTime| t.format(&Rfc3339).ok();
    json!({
        "version": version,
        "shortVersion": version,
        "ref": null,
        "url": null,
        "dateCreated": time(created),
        "dateReleased": released.and_then(time),
        "data": {},
        "newGroups": 0,
        "authors": [],
        "commitCount": 0,
        "deployCount": 0,
        "lastEvent": null,
        "firstEvent": null,
        "lastDeploy": null,
        "projects": projects.iter().map(|p| json!({"slug": p.slug, "name": p.name})).collect::<Vec<_>>(),
    })
}

fn checked_version(version: &str) -> Result<&str, ApiError> {
    if valid_release(version) {
        Ok(version)
    } else {
        Err(ApiError::BadRequest(format!(
            "version: {version:?} cannot name a release (1 to 200 characters, no slash or line \
             break, not \".\", \"..\" or \"latest\")"
        )))
    }
}

/// `POST …/releases/`: the release, recorded for each project named; 201 when it is new to one
/// of them, 208 when they all had it (Sentry's answers).
async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Path(slug): Path<String>,
    Body(body): Body<NewRelease>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let org = org_for_upload(&state, &caller, &slug).await?;
    let version = checked_version(&body.version)?;
    if body.projects.is_empty() {
        return Err(ApiError::BadRequest(
            "projects: name at least one project (--project)".into(),
        ));
    }
    let projects = projects(&state, &org, &body.projects).await?;
    let at = body.date_started.unwrap_or_else(mesher_store::now);
    let mut created = false;
    for p in &projects {
        created |= state.store().declare_release(p.id, version, at).await?;
    }
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::ALREADY_REPORTED
    };
    Ok((status, Json(release_body(version, at, None, &projects))))
}

/// The projects of `org` that have release `version`, with when the first of them had it.
async fn having(
    state: &AppState,
    org: &Organization,
    slugs: &[String],
    version: &str,
) -> Result<(OffsetDateTime, Vec<Project>), ApiError> {
    let mut first: Option<OffsetDateTime> = None;
    let mut with = Vec::new();
    for p in projects(state, org, slugs).await? {
        if let Some(t) = state.store().release_first_seen(p.id, version).await? {
            first = Some(first.map_or(t, |f| f.min(t)));
            with.push(p);
        }
    }
    let first =
        first.ok_or_else(|| ApiError::NotFound(format!("release {version:?} not found")))?;
    Ok((first, with))
}

/// `GET …/releases/{version}/`.
async fn read(
    State(state): State<AppState>,
    caller: Caller,
    Path((slug, version)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let org = org_for(&state, &caller, &slug, mesher_store::Scope::Read).await?;
    let (first, with) = having(&state, &org, &[], &version).await?;
    Ok(Json(release_body(&version, first, None, &with)))
}

/// `PUT …/releases/{version}/` (`releases finalize`): the release as it stands.
async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path((slug, version)): Path<(String, String)>,
    Body(body): Body<ReleaseEdit>,
) -> Result<Json<Value>, ApiError> {
    let org = org_for_upload(&state, &caller, &slug).await?;
    let (first, with) = having(&state, &org, &body.projects, &version).await?;
    Ok(Json(release_body(
        &version,
        first,
        body.date_released,
        &with,
    )))
}
