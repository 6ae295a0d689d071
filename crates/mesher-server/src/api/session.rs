//! Signing in and out, and the signed-in user (ORG-04).

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use mesher_store::Scope;

use super::auth::{Caller, check_csrf};
use super::extract::Json;
use super::models::{LoginBody, LoginResult, MeBody, MePatch, OrgBody, PasswordBody, UserBody};
use crate::accounts::{hash_password, verify_password};
use crate::dashboard::zone;
use crate::error::ApiError;
use crate::ingest::ClientIp;
use crate::sessions;
use crate::state::AppState;

/// Sign in with email and password: sets the session cookie and returns the CSRF token.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "session", request_body = LoginBody,
    responses((status = 200, body = LoginResult, description = "Signed in; the session cookie is set")))]
pub async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Json(body): Json<LoginBody>,
) -> Result<Response, ApiError> {
    let session = sessions::sign_in(&state, &body.email, &body.password, ip).await?;
    let cookie = sessions::set_cookie(&state, Some(&session.token));
    let result = LoginResult {
        user: session.user.into(),
        csrf_token: session.csrf_token,
    };
    Ok(([(header::SET_COOKIE, cookie)], axum::Json(result)).into_response())
}

/// Sign out: ends the session and clears the cookie. Like every cookie-authenticated
/// mutation it needs the session's CSRF token in `X-CSRF-Token` (403 without it), so that
/// another site cannot sign the user out. Without a live session it only clears the cookie.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "session",
    params(("X-CSRF-Token" = Option<String>, Header, description = "The session's CSRF token (from sign-in or GET /api/v1/me)")),
    responses((status = 204, description = "Signed out"), (status = 403, description = "Missing or wrong CSRF token")))]
pub async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if let Some(token) = sessions::cookie_token(&headers)
        && let Some(session) = sessions::session(&state, token).await?
    {
        check_csrf(&headers, &session)?;
        sessions::sign_out(&state, token).await?;
    }
    Ok((
        StatusCode::NO_CONTENT,
        [(header::SET_COOKIE, sessions::set_cookie(&state, None))],
    )
        .into_response())
}

async fn me_body(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
) -> Result<MeBody, ApiError> {
    let user = state
        .store()
        .user(caller.user_id)
        .await?
        .ok_or_else(|| ApiError::Unauthorized("the user no longer exists".into()))?;
    let mut organizations = Vec::new();
    for (org_id, role) in &caller.memberships {
        if let Some(org) = state.store().org(*org_id).await? {
            organizations.push(OrgBody::new(org, Some(*role)));
        }
    }
    let csrf_token = match sessions::cookie_token(headers) {
        Some(t) if headers.get(header::AUTHORIZATION).is_none() => {
            sessions::session(state, t).await?.map(|s| s.csrf_token)
        }
        _ => None,
    };
    Ok(MeBody {
        user: user.into(),
        organizations,
        csrf_token,
    })
}

/// The signed-in user, their organizations and (for a session) the CSRF token.
#[utoipa::path(get, path = "/api/v1/me", tag = "session", responses((status = 200, body = MeBody)))]
pub async fn me(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
) -> Result<axum::Json<MeBody>, ApiError> {
    Ok(axum::Json(me_body(&state, &caller, &headers).await?))
}

/// Change the signed-in user's profile.
#[utoipa::path(patch, path = "/api/v1/me", tag = "session", request_body = MePatch, responses((status = 200, body = MeBody)))]
pub async fn update_me(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Json(body): Json<MePatch>,
) -> Result<axum::Json<MeBody>, ApiError> {
    require_scope(&caller, Scope::Write)?;
    if let Some(name) = &body.name {
        if name.trim().is_empty() {
            return Err(ApiError::BadRequest("name: must not be empty".into()));
        }
        state
            .store()
            .update_user(caller.user_id, Some(name.trim()), None)
            .await?;
    }
    if let Some(name) = &body.time_zone {
        let zone = zone::checked_name(name)
            .map_err(|e| ApiError::BadRequest(format!("time_zone: {e}")))?;
        state
            .store()
            .set_user_time_zone(caller.user_id, zone.as_deref())
            .await?;
    }
    Ok(axum::Json(me_body(&state, &caller, &headers).await?))
}

/// Change the password (the current one is required); other sessions end.
#[utoipa::path(post, path = "/api/v1/me/password", tag = "session", request_body = PasswordBody,
    responses((status = 200, body = UserBody)))]
pub async fn change_password(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<PasswordBody>,
) -> Result<axum::Json<UserBody>, ApiError> {
    require_scope(&caller, Scope::Admin)?;
    let user = state
        .store()
        .user(caller.user_id)
        .await?
        .ok_or_else(|| ApiError::Unauthorized("the user no longer exists".into()))?;
    let (hash, current, new) = (
        user.password_hash.clone(),
        body.current_password,
        body.new_password,
    );
    let new_hash = tokio::task::spawn_blocking(move || {
        if !verify_password(&hash, &current) {
            return Err(ApiError::Forbidden("the current password is wrong".into()));
        }
        hash_password(&new).map_err(ApiError::from)
    })
    .await
    .map_err(|e| ApiError::Internal(format!("password hashing failed: {e}")))??;
    let user = state
        .store()
        .update_user(caller.user_id, None, Some(&new_hash))
        .await?;
    state.store().delete_user_sessions(caller.user_id).await?;
    Ok(axum::Json(user.into()))
}

/// A caller whose credential lacks `scope` gets 403.
pub fn require_scope(caller: &Caller, scope: Scope) -> Result<(), ApiError> {
    if caller.scope < scope {
        return Err(ApiError::Forbidden(format!(
            "this token's scope does not allow {scope} access"
        )));
    }
    Ok(())
}
