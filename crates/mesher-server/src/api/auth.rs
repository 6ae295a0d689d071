//! Who is calling the management API, and what they may touch (ORG-04, ORG-05).
//!
//! A [`Caller`] is resolved from `Authorization: Bearer <API token>` or from the session cookie
//! (with its CSRF token on mutations). Every resource belongs to an
//! organization; a caller who is not a member gets 404 (the resource's existence is not
//! revealed), a member whose role or token scope is too low gets 403.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method};
use mesher_store::{Project, Role, Scope};
use time::Duration;

use crate::accounts::{TOKEN_PREFIX, token_digest};
use crate::error::ApiError;
use crate::ops::{self, Actor, Ops};
use crate::sessions;
use crate::state::AppState;

/// Last-used times are written at most this often per token (a write per request would be
/// wasted work).
const TOUCH_INTERVAL: Duration = Duration::seconds(60);

/// An authenticated user of the API.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The user.
    pub user_id: i64,
    /// What the credential allows, whatever the role.
    pub scope: Scope,
    /// The user's organizations and roles.
    pub memberships: Vec<(i64, Role)>,
    /// How the caller authenticated.
    pub credential: Credential,
}

/// How a [`Caller`] authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential {
    /// The session cookie (the signed-in browser; CSRF-checked on mutations).
    Session,
    /// An API token, limited to its scope.
    Token,
}

impl Caller {
    /// The caller for a user authenticated some other way (the dashboard's session), with the
    /// user's current memberships.
    pub async fn load(state: &AppState, user_id: i64, scope: Scope) -> Result<Caller, ApiError> {
        let memberships = state
            .store()
            .memberships(user_id)
            .await?
            .into_iter()
            .map(|m| (m.org_id, m.role))
            .collect();
        Ok(Caller {
            user_id,
            scope,
            memberships,
            credential: Credential::Session,
        })
    }

    /// The caller's role in an organization, if a member.
    pub fn role_in(&self, org_id: i64) -> Option<Role> {
        self.memberships
            .iter()
            .find(|(o, _)| *o == org_id)
            .map(|(_, r)| *r)
    }

    /// Checks that the caller may act on `org_id` with `scope` and at least `role` (the
    /// operations layer's rule, [`Actor::require`]).
    pub fn require(&self, org_id: i64, scope: Scope, role: Role) -> Result<Role, ApiError> {
        Ok(Actor::User(self).require(org_id, scope, role)?)
    }

    /// The project, when the caller may act on it with `scope` and `role`; 404 otherwise.
    pub async fn project(
        &self,
        state: &AppState,
        id: i64,
        scope: Scope,
        role: Role,
    ) -> Result<Project, ApiError> {
        Ok(ops::projects::project(Ops::Node(state), self.into(), id, scope, role).await?)
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Caller::from_headers(state, &parts.headers, &parts.method).await
    }
}

impl Caller {
    /// The caller a request's headers name, as for a request with `method`; also what a
    /// long-lived connection re-checks now and then (a revoked token or session, a removed
    /// member, must not keep it).
    pub async fn from_headers(
        state: &AppState,
        headers: &HeaderMap,
        method: &Method,
    ) -> Result<Caller, ApiError> {
        let header = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok());
        let (user_id, scope, credential) = match header {
            Some(h) => {
                let (user, scope) = token_user(state, h).await?;
                (user, scope, Credential::Token)
            }
            None => {
                let (user, scope) = session_user(state, headers, method).await?;
                (user, scope, Credential::Session)
            }
        };
        let mut caller = Caller::load(state, user_id, scope).await?;
        caller.credential = credential;
        Ok(caller)
    }
}

/// `Authorization: Bearer <API token>`: the token's user and scope.
async fn token_user(state: &AppState, header: &str) -> Result<(i64, Scope), ApiError> {
    let token = header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("bearer "))
        .map(str::trim)
        .filter(|t| t.starts_with(TOKEN_PREFIX))
        .ok_or_else(|| {
            ApiError::Unauthorized("the Authorization header must be Bearer <API token>".into())
        })?;
    let record = state
        .store()
        .token_by_hash(&token_digest(token))
        .await?
        .filter(|t| t.revoked_at.is_none())
        .ok_or_else(|| ApiError::Unauthorized("invalid or revoked API token".into()))?;
    let now = mesher_store::now();
    if record.last_used_at.is_none_or(|t| now - t > TOUCH_INTERVAL) {
        state.store().touch_token(record.id, now).await?;
    }
    Ok((record.user_id, record.scope))
}

/// The session cookie: its user, with every scope the user's roles allow. A request that
/// changes something must carry the session's CSRF token in `X-CSRF-Token`.
async fn session_user(
    state: &AppState,
    headers: &HeaderMap,
    method: &Method,
) -> Result<(i64, Scope), ApiError> {
    let unauthenticated =
        || ApiError::Unauthorized("sign in, or send Authorization: Bearer <API token>".into());
    let token = sessions::cookie_token(headers).ok_or_else(unauthenticated)?;
    let session = sessions::session(state, token)
        .await?
        .ok_or_else(unauthenticated)?;
    let safe = matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
    if !safe {
        check_csrf(headers, &session)?;
    }
    Ok((session.user_id, Scope::Admin))
}

/// A cookie-authenticated mutation must echo its session's CSRF token in `X-CSRF-Token`:
/// another site can make the browser send the cookie, but cannot read the token.
pub fn check_csrf(
    headers: &axum::http::HeaderMap,
    session: &mesher_store::Session,
) -> Result<(), ApiError> {
    let sent = headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok());
    if sent != Some(session.csrf_token.as_str()) {
        return Err(ApiError::Forbidden(
            "missing or wrong X-CSRF-Token (read it from GET /api/v1/me)".into(),
        ));
    }
    Ok(())
}

/// The header cookie-authenticated API calls echo the CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";
