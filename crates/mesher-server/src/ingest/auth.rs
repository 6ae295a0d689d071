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

use super::error::{AuthRefusal, IngestError};
use crate::state::AppState;

fn bad(e: AuthError) -> IngestError {
    match e {
        AuthError::MalformedKey(_) => IngestError::MalformedKey(e.to_string()),
        other => IngestError::Invalid(other.to_string()),
    }
}

/// The credentials in headers and query string (and an envelope `dsn` header, when given).
pub fn credentials(
    headers: &HeaderMap,
    query: Option<&str>,
    dsn: Option<&str>,
) -> Result<Vec<AuthParams>, IngestError> {
    let mut sources = Vec::new();
    if let Some(v) = headers.get("x-sentry-auth") {
        let v = v
            .to_str()
            .map_err(|_| IngestError::Invalid("X-Sentry-Auth is not text".into()))?;
        sources.push(parse_sentry_auth(v).map_err(bad)?);
    }
    if let Some(v) = headers.get(AUTHORIZATION) {
        let v = v
            .to_str()
            .map_err(|_| IngestError::Invalid("Authorization is not text".into()))?;
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
                return Err(IngestError::Invalid(
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
            .map_err(|e| IngestError::Invalid(format!("invalid envelope dsn: {e}")))?;
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
) -> Result<Arc<Project>, AuthRefusal> {
    let auth = resolve_auth(sources)
        .map_err(AuthRefusal::Conflicting)?
        .ok_or(AuthRefusal::Missing)?;
    let Some(key) = state.cache().key(&auth.public_key).await? else {
        return Err(AuthRefusal::UnknownKey);
    };
    if key.revoked {
        return Err(AuthRefusal::Revoked);
    }
    if path_project.is_some_and(|p| p != key.project_id) {
        return Err(AuthRefusal::OtherProject);
    }
    state
        .cache()
        .project(key.project_id)
        .await?
        .ok_or(AuthRefusal::ProjectGone)
}
