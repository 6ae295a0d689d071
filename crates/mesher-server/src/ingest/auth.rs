//! Ingest authentication: every form the SDKs use, resolved to one project.
//!
//! Sources (header names are case-insensitive): `X-Sentry-Auth: Sentry sentry_key=…`,
//! `Authorization: Sentry …`, `Authorization: Basic base64(key:)`, `Authorization: Bearer <key>`,
//! `?sentry_key=…` and the envelope's `dsn` header. They must agree (400 otherwise); none → 401;
//! an unknown or revoked key, or a key of another project → 403.

use std::sync::Arc;

use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use mesher_protocol::auth::{
    AuthError, AuthParams, parse_basic_auth, parse_bearer, parse_query_auth, parse_sentry_auth,
    resolve_auth,
};
use mesher_protocol::dsn::Dsn;
use mesher_store::Project;

use crate::error::ApiError;
use crate::metrics::Outcome;
use crate::state::AppState;

/// The authenticated project of an ingest request.
pub struct Authenticated {
    /// The project's settings.
    pub project: Arc<Project>,
}

fn bad(e: AuthError) -> ApiError {
    match e {
        AuthError::MalformedKey(_) => ApiError::Forbidden(e.to_string()),
        other => ApiError::BadRequest(other.to_string()),
    }
}

/// The credentials in headers and query string (and an envelope `dsn` header, when given).
pub fn credentials(
    headers: &HeaderMap,
    query: Option<&str>,
    dsn: Option<&str>,
) -> Result<Vec<AuthParams>, ApiError> {
    let mut sources = Vec::new();
    if let Some(v) = headers.get("x-sentry-auth") {
        let v = v
            .to_str()
            .map_err(|_| ApiError::BadRequest("X-Sentry-Auth is not text".into()))?;
        sources.push(parse_sentry_auth(v).map_err(bad)?);
    }
    if let Some(v) = headers.get(AUTHORIZATION) {
        let v = v
            .to_str()
            .map_err(|_| ApiError::BadRequest("Authorization is not text".into()))?;
        let scheme = v
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        let parsed = match scheme.as_str() {
            "sentry" => parse_sentry_auth(v),
            "basic" => parse_basic_auth(v),
            "bearer" => parse_bearer(v),
            _ => {
                return Err(ApiError::BadRequest(
                    "Authorization must use the Sentry, Basic or Bearer scheme".into(),
                ));
            }
        };
        sources.push(parsed.map_err(bad)?);
    }
    if let Some(q) = query
        && let Some(parsed) = parse_query_auth(q)
    {
        sources.push(parsed.map_err(bad)?);
    }
    if let Some(dsn) = dsn {
        let dsn = Dsn::parse(dsn)
            .map_err(|e| ApiError::BadRequest(format!("invalid envelope dsn: {e}")))?;
        sources.push(AuthParams::from_dsn(&dsn).map_err(bad)?);
    }
    Ok(sources)
}

/// Resolves credentials to the project they belong to; `path_project` is the project id of the
/// URL, when it has one.
pub async fn authenticate(
    state: &AppState,
    sources: &[AuthParams],
    path_project: Option<i64>,
) -> Result<Authenticated, ApiError> {
    let result = resolve(state, sources, path_project).await;
    if result.is_err() {
        state.metrics().outcome(Outcome::Auth, 1);
    }
    result
}

async fn resolve(
    state: &AppState,
    sources: &[AuthParams],
    path_project: Option<i64>,
) -> Result<Authenticated, ApiError> {
    let auth = resolve_auth(sources).map_err(bad)?.ok_or_else(|| {
        ApiError::Unauthorized(
            "missing authentication: send the DSN key in X-Sentry-Auth, Authorization or ?sentry_key=".into(),
        )
    })?;
    let Some(key) = state.cache().key(&auth.public_key).await? else {
        return Err(ApiError::Forbidden("unknown DSN key".into()));
    };
    if key.revoked {
        return Err(ApiError::Forbidden("this DSN key has been revoked".into()));
    }
    if path_project.is_some_and(|p| p != key.project_id) {
        return Err(ApiError::Forbidden(
            "this DSN key belongs to another project".into(),
        ));
    }
    let project = state
        .cache()
        .project(key.project_id)
        .await?
        .ok_or_else(|| {
            ApiError::Forbidden("the project of this DSN key no longer exists".into())
        })?;
    Ok(Authenticated { project })
}
