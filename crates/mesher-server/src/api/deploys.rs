//! Deploys of a release, as `sentry-cli deploys new` (and the older
//! `sentry-cli releases deploys VERSION new`) records them and `deploys list` reads them:
//! `/api/0/organizations/{org}/releases/{version}/deploys/`. A build pipeline that ends with
//! one must not fail against Mesher; the release then shows its deploy count and last deploy.

use super::extract::Json as Body;
use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use mesher_store::{Deploy, NewDeploy};
use serde::Deserialize;
use serde_json::{Value, json};
use time::OffsetDateTime;

use super::artifacts::{org_for, org_for_upload};
use super::auth::Caller;
use super::releases::{having, time};
use crate::error::ApiError;
use crate::state::AppState;

/// The routes.
pub fn routes() -> Router<AppState> {
    Router::new().route(
        "/api/0/organizations/{org}/releases/{version}/deploys/",
        get(list).post(create),
    )
}

/// The most deploys a list answers, newest first.
const LIST_LIMIT: usize = 100;
/// Sentry's bound on an environment's name.
const MAX_ENVIRONMENT: usize = 64;
/// The bounds on a deploy's name and link.
const MAX_NAME: usize = 64;
const MAX_URL: usize = 2048;

/// A deploy as `sentry-cli` sends it.
#[derive(Debug, Deserialize)]
struct NewDeployBody {
    environment: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default, rename = "dateStarted", with = "time::serde::rfc3339::option")]
    date_started: Option<OffsetDateTime>,
    #[serde(
        default,
        rename = "dateFinished",
        with = "time::serde::rfc3339::option"
    )]
    date_finished: Option<OffsetDateTime>,
    #[serde(default)]
    projects: Vec<String>,
}

/// A deploy as Sentry's API shows one.
pub(super) fn deploy_body(d: &Deploy) -> Value {
    json!({
        "id": d.id.to_string(),
        "environment": d.environment,
        "name": d.name,
        "url": d.url,
        "dateStarted": d.date_started.and_then(time),
        "dateFinished": time(d.date_finished),
    })
}

/// An optional text field within `max` bytes; empty counts as not given.
fn bounded<'a>(
    value: &'a Option<String>,
    field: &str,
    max: usize,
) -> Result<Option<&'a str>, ApiError> {
    match value.as_deref() {
        None | Some("") => Ok(None),
        Some(v) if v.len() > max => Err(ApiError::BadRequest(format!(
            "{field}: at most {max} bytes"
        ))),
        Some(v) => Ok(Some(v)),
    }
}

/// `POST …/deploys/`: 201 with the deploy; 404 for a release no project has.
async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Path((slug, version)): Path<(String, String)>,
    Body(body): Body<NewDeployBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let org = org_for_upload(&state, &caller, &slug).await?;
    let environment = body.environment.trim();
    if environment.is_empty()
        || environment.len() > MAX_ENVIRONMENT
        || environment.contains(['/', '\n', '\r'])
    {
        return Err(ApiError::BadRequest(format!(
            "environment: 1 to {MAX_ENVIRONMENT} bytes, no slash or line break (--env)"
        )));
    }
    let name = bounded(&body.name, "name", MAX_NAME)?;
    let url = bounded(&body.url, "url", MAX_URL)?;
    let finished = body.date_finished.unwrap_or_else(mesher_store::now);
    if body.date_started.is_some_and(|started| started > finished) {
        return Err(ApiError::BadRequest(
            "dateStarted: after dateFinished".into(),
        ));
    }
    having(&state, &org, &body.projects, &version).await?;
    let deploy = state
        .store()
        .add_deploy(&NewDeploy {
            org_id: org.id,
            version: &version,
            environment,
            name,
            url,
            date_started: body.date_started,
            date_finished: finished,
        })
        .await?;
    Ok((StatusCode::CREATED, Json(deploy_body(&deploy))))
}

/// `GET …/deploys/` (`deploys list`): newest first.
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path((slug, version)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let org = org_for(&state, &caller, &slug, mesher_store::Scope::Read).await?;
    having(&state, &org, &[], &version).await?;
    let deploys = state.store().deploys(org.id, &version, LIST_LIMIT).await?;
    Ok(Json(Value::Array(
        deploys.iter().map(deploy_body).collect(),
    )))
}
