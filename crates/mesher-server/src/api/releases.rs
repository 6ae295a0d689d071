//! The release calls of Sentry's web API that a build script makes around
//! `sentry-cli sourcemaps upload` (issue 18): `sentry-cli releases new`, `finalize`, `info`,
//! `list` and `set-commits`, under `/api/0/organizations/{org}/releases/` (and a project's list
//! under `/api/0/projects/{org}/{project}/releases/`), authenticated as the uploads are (a
//! Mesher API token; write scope to change anything). Deploys are in `deploys.rs`.
//!
//! Mesher knows a project's releases from its events; a release created here is recorded as
//! the project's since then, so that "resolved in the next release" counts it before its first
//! event, as Sentry does. Finalizing records the `dateReleased` given for each project that
//! has the release (404 when none has it). Commits sent by `set-commits` (read from the local
//! git tree: Mesher has no repository integrations, so `/repos/` is empty and `--auto` takes
//! that path) replace the release's commits; `previous-with-commits` tells `sentry-cli` where
//! the next range starts: after the newest commit of the newest older release that has any.
//! Archiving is refused: Mesher has no archived releases.

use std::collections::HashMap;

use super::extract::Json as Body;
use axum::Json;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use mesher_protocol::normalize::valid_release;
use mesher_store::{
    Deploy, MAX_RELEASE_COMMITS, Organization, Project, ProjectRelease, ReleaseCommit,
};
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
        .route(
            "/api/0/organizations/{org}/releases/",
            post(create).get(list_org),
        )
        .route(
            "/api/0/projects/{org}/{project}/releases/",
            get(list_project),
        )
        .route(
            "/api/0/organizations/{org}/releases/{version}/",
            get(read).put(update),
        )
        .route(
            "/api/0/organizations/{org}/releases/{version}/commits/",
            get(commits),
        )
        .route(
            "/api/0/organizations/{org}/releases/{version}/previous-with-commits/",
            get(previous_with_commits),
        )
        .route("/api/0/organizations/{org}/repos/", get(repos))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
}

/// The largest release body: `set-commits` sends each commit with the paths it changed, and
/// [`MAX_RELEASE_COMMITS`] of them exceed the 2 MB that other routes take. The paths are not
/// kept.
const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;
/// The most projects one call may name.
const MAX_PROJECTS: usize = 100;

/// The most releases a list answers (newest first), as Sentry's first page does.
const LIST_LIMIT: usize = 100;

/// `releases new`.
#[derive(Debug, Deserialize)]
struct NewRelease {
    version: String,
    #[serde(default)]
    projects: Vec<String>,
    #[serde(default, rename = "dateStarted", with = "time::serde::rfc3339::option")]
    date_started: Option<OffsetDateTime>,
    /// `releases new --finalize`.
    #[serde(
        default,
        rename = "dateReleased",
        with = "time::serde::rfc3339::option"
    )]
    date_released: Option<OffsetDateTime>,
    /// `releases archive`/`restore` post the release with a status.
    #[serde(default)]
    status: Option<String>,
}

fn no_archiving(status: Option<&String>) -> Result<(), ApiError> {
    match status {
        Some(status) => Err(ApiError::BadRequest(format!(
            "status: {status:?}: Mesher does not archive releases"
        ))),
        None => Ok(()),
    }
}

/// `releases finalize`, `set-commits` (and other edits).
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
    /// `set-commits`: the release's commits, newest first.
    #[serde(default)]
    commits: Option<Vec<CommitBody>>,
    /// `releases archive`/`restore`.
    #[serde(default)]
    status: Option<String>,
}

/// A commit as `sentry-cli set-commits` sends it from git.
#[derive(Debug, Deserialize)]
struct CommitBody {
    id: String,
    #[serde(default)]
    repository: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    author_name: Option<String>,
    #[serde(default)]
    author_email: Option<String>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    timestamp: Option<OffsetDateTime>,
}

/// The longest commit id (a SHA-256 in hex is 64) and message kept.
const MAX_COMMIT_ID: usize = 64;
const MAX_COMMIT_MESSAGE: usize = 16 * 1024;

impl CommitBody {
    fn checked(self, i: usize) -> Result<ReleaseCommit, ApiError> {
        let bad = |what: &str| ApiError::BadRequest(format!("commits[{i}]: {what}"));
        if self.id.is_empty() || self.id.len() > MAX_COMMIT_ID {
            return Err(bad("id: 1 to 64 characters"));
        }
        let message = self.message.map(|m| {
            // git ends a message with a line break; a long one is cut at a character boundary,
            // not refused: git allows any length.
            let m = m.trim_end();
            let mut end = m.len().min(MAX_COMMIT_MESSAGE);
            while !m.is_char_boundary(end) {
                end -= 1;
            }
            m[..end].to_string()
        });
        let short = |v: Option<String>, name: &str| match v {
            Some(v) if v.len() > 256 => Err(bad(&format!("{name}: at most 256 bytes"))),
            v => Ok(v),
        };
        Ok(ReleaseCommit {
            id: self.id,
            repository: short(self.repository, "repository")?,
            message,
            author_name: short(self.author_name, "author_name")?,
            author_email: short(self.author_email, "author_email")?,
            timestamp: self.timestamp,
        })
    }
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
    if slugs.len() > MAX_PROJECTS {
        return Err(ApiError::BadRequest(format!(
            "projects: at most {MAX_PROJECTS}"
        )));
    }
    let mut seen = std::collections::HashSet::new();
    slugs
        .iter()
        .filter(|slug| seen.insert(slug.as_str()))
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

/// A time as Sentry's API writes one.
pub(super) fn time(t: OffsetDateTime) -> Option<String> {
    t.format(&Rfc3339).ok()
}

/// What a release's body says of its commits and deploys.
#[derive(Debug)]
struct Extras {
    commit_count: u64,
    last_commit: Option<ReleaseCommit>,
    deploy_count: u64,
    last_deploy: Option<Deploy>,
}

impl Extras {
    async fn of(state: &AppState, org: &Organization, version: &str) -> Result<Extras, ApiError> {
        let (commit_count, last_commit) = state.store().commit_summary(org.id, version).await?;
        let (deploy_count, last_deploy) = state.store().deploy_summary(org.id, version).await?;
        Ok(Extras {
            commit_count,
            last_commit,
            deploy_count,
            last_deploy,
        })
    }
}

/// A release as Sentry's API shows one (the fields `sentry-cli` reads).
fn release_body(version: &str, having: &Having, extras: &Extras) -> Value {
    json!({
        "version": version,
        "shortVersion": version,
        "ref": null,
        "url": null,
        "dateCreated": time(having.first),
        "dateReleased": having.released.and_then(time),
        "data": {},
        "newGroups": 0,
        "authors": [],
        "commitCount": extras.commit_count,
        "lastCommit": extras.last_commit.as_ref().map(commit_body),
        "deployCount": extras.deploy_count,
        "lastDeploy": extras.last_deploy.as_ref().map(super::deploys::deploy_body),
        "lastEvent": null,
        "firstEvent": null,
        "projects": having.projects.iter().map(|p| json!({"slug": p.slug, "name": p.name})).collect::<Vec<_>>(),
    })
}

/// A commit as Sentry's API shows one.
fn commit_body(c: &ReleaseCommit) -> Value {
    json!({
        "id": c.id,
        "message": c.message,
        "dateCreated": c.timestamp.and_then(time),
        "repository": c.repository.as_ref().map(|name| json!({"name": name})),
        "author": match (&c.author_name, &c.author_email) {
            (None, None) => Value::Null,
            (name, email) => json!({"name": name, "email": email}),
        },
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
    no_archiving(body.status.as_ref())?;
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
        if let Some(released) = body.date_released {
            state
                .store()
                .finalize_release(p.id, version, released)
                .await?;
        }
    }
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::ALREADY_REPORTED
    };
    // As stored: a release the projects had already keeps its first sighting.
    let slugs: Vec<String> = projects.into_iter().map(|p| p.slug).collect();
    let having = having(&state, &org, &slugs, version).await?;
    let extras = Extras::of(&state, &org, version).await?;
    Ok((status, Json(release_body(version, &having, &extras))))
}

/// The projects of an organization that have a release, and its dates across them.
pub(super) struct Having {
    /// When the first of them had it.
    first: OffsetDateTime,
    /// When it was released in one of them (the latest), if it was.
    released: Option<OffsetDateTime>,
    projects: Vec<Project>,
}

impl Having {
    fn add(&mut self, p: Project, r: &ProjectRelease) {
        self.first = self.first.min(r.first_seen);
        self.released = self.released.max(r.date_released);
        self.projects.push(p);
    }

    fn new(p: Project, r: &ProjectRelease) -> Having {
        Having {
            first: r.first_seen,
            released: r.date_released,
            projects: vec![p],
        }
    }
}

/// The projects of `org` (those named by `slugs`, or all) that have release `version`; 404
/// when none has it.
pub(super) async fn having(
    state: &AppState,
    org: &Organization,
    slugs: &[String],
    version: &str,
) -> Result<Having, ApiError> {
    let mut having: Option<Having> = None;
    for p in projects(state, org, slugs).await? {
        if let Some(r) = state.store().project_release(p.id, version).await? {
            match &mut having {
                Some(h) => h.add(p, &r),
                None => having = Some(Having::new(p, &r)),
            }
        }
    }
    having.ok_or_else(|| ApiError::NotFound(format!("release {version:?} not found")))
}

/// `GET …/releases/{version}/`.
async fn read(
    State(state): State<AppState>,
    caller: Caller,
    Path((slug, version)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let org = org_for(&state, &caller, &slug, mesher_store::Scope::Read).await?;
    let having = having(&state, &org, &[], &version).await?;
    let extras = Extras::of(&state, &org, &version).await?;
    Ok(Json(release_body(&version, &having, &extras)))
}

/// `PUT …/releases/{version}/` (`releases finalize`): the release as it stands.
async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path((slug, version)): Path<(String, String)>,
    Body(body): Body<ReleaseEdit>,
) -> Result<Json<Value>, ApiError> {
    let org = org_for_upload(&state, &caller, &slug).await?;
    no_archiving(body.status.as_ref())?;
    let commits = match body.commits {
        Some(commits) if commits.len() > MAX_RELEASE_COMMITS => {
            return Err(ApiError::BadRequest(format!(
                "commits: at most {MAX_RELEASE_COMMITS} at once"
            )));
        }
        Some(commits) => Some(
            commits
                .into_iter()
                .enumerate()
                .map(|(i, c)| c.checked(i))
                .collect::<Result<Vec<_>, _>>()?,
        ),
        None => None,
    };
    let mut having = having(&state, &org, &body.projects, &version).await?;
    if let Some(commits) = commits {
        state
            .store()
            .set_release_commits(org.id, &version, &commits)
            .await?;
    }
    if let Some(released) = body.date_released {
        for p in &having.projects {
            state
                .store()
                .finalize_release(p.id, &version, released)
                .await?;
        }
        having.released = Some(released);
    }
    let extras = Extras::of(&state, &org, &version).await?;
    Ok(Json(release_body(&version, &having, &extras)))
}

/// Releases of `projects`, newest first, each with the projects that have it.
async fn listed(
    state: &AppState,
    org: &Organization,
    projects: Vec<Project>,
) -> Result<Json<Value>, ApiError> {
    // Each project's newest LIST_LIMIT. A release beyond that in one project but among the
    // newest in another is listed without the first, and with the other's first sighting.
    let mut merged: HashMap<String, Having> = HashMap::new();
    for p in projects {
        for r in state.store().project_releases(p.id, LIST_LIMIT).await? {
            match merged.get_mut(&r.version) {
                Some(h) => h.add(p.clone(), &r),
                None => {
                    merged.insert(r.version.clone(), Having::new(p.clone(), &r));
                }
            }
        }
    }
    let mut releases: Vec<(String, Having)> = merged.into_iter().collect();
    releases.sort_by(|a, b| b.1.first.cmp(&a.1.first).then_with(|| b.0.cmp(&a.0)));
    releases.truncate(LIST_LIMIT);
    let mut out = Vec::with_capacity(releases.len());
    for (version, having) in &releases {
        let extras = Extras::of(state, org, version).await?;
        out.push(release_body(version, having, &extras));
    }
    Ok(Json(Value::Array(out)))
}

/// `GET …/organizations/{org}/releases/` (`releases list`): every project's releases.
async fn list_org(
    State(state): State<AppState>,
    caller: Caller,
    Path(slug): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let org = org_for(&state, &caller, &slug, mesher_store::Scope::Read).await?;
    let all = projects(&state, &org, &[]).await?;
    listed(&state, &org, all).await
}

/// `GET /api/0/projects/{org}/{project}/releases/` (`releases list --project`).
async fn list_project(
    State(state): State<AppState>,
    caller: Caller,
    Path((slug, project)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let org = org_for(&state, &caller, &slug, mesher_store::Scope::Read).await?;
    let all = state.store().list_projects(Some(org.id)).await?;
    let p = all
        .into_iter()
        .find(|p| p.slug == project)
        .ok_or_else(|| ApiError::NotFound(format!("project {project:?} not found")))?;
    listed(&state, &org, vec![p]).await
}

/// `GET …/releases/{version}/commits/`: the commits `set-commits` gave, newest first.
async fn commits(
    State(state): State<AppState>,
    caller: Caller,
    Path((slug, version)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let org = org_for(&state, &caller, &slug, mesher_store::Scope::Read).await?;
    having(&state, &org, &[], &version).await?;
    let commits = state.store().release_commits(org.id, &version).await?;
    Ok(Json(Value::Array(
        commits.iter().map(commit_body).collect(),
    )))
}

/// `GET …/releases/{version}/previous-with-commits/`: the newest release older than `version`
/// (by first sighting) that has commits, with its newest commit (`sentry-cli set-commits`
/// sends the commits since); `{}` when there is none.
async fn previous_with_commits(
    State(state): State<AppState>,
    caller: Caller,
    Path((slug, version)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let org = org_for(&state, &caller, &slug, mesher_store::Scope::Read).await?;
    let Some((previous, _newest)) = state
        .store()
        .previous_release_with_commits(org.id, &version)
        .await?
    else {
        return Ok(Json(json!({})));
    };
    let having = having(&state, &org, &[], &previous).await?;
    let extras = Extras::of(&state, &org, &previous).await?;
    Ok(Json(release_body(&previous, &having, &extras)))
}

/// `GET …/organizations/{org}/repos/`: none. Mesher has no repository integrations, so
/// `sentry-cli releases set-commits --auto` reads the commits from the local git tree.
async fn repos(
    State(state): State<AppState>,
    caller: Caller,
    Path(slug): Path<String>,
) -> Result<Json<Value>, ApiError> {
    org_for(&state, &caller, &slug, mesher_store::Scope::Read).await?;
    Ok(Json(json!([])))
}
