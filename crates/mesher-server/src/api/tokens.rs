//! The signed-in user's API tokens (ORG-05).

use axum::extract::State;
use axum::http::StatusCode;

use super::auth::Caller;
use super::extract::{Json, Path};
use super::models::{CreatedTokenBody, NewTokenBody, TokenBody};
use crate::error::ApiError;
use crate::ops::{self, Ops};
use crate::state::AppState;

/// The caller's tokens (never their secrets).
#[utoipa::path(get, path = "/api/v1/me/tokens", tag = "session", responses((status = 200, body = Vec<TokenBody>)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<axum::Json<Vec<TokenBody>>, ApiError> {
    let tokens = state.store().list_tokens(caller.user_id).await?;
    Ok(axum::Json(tokens.into_iter().map(Into::into).collect()))
}

/// Create a token; its secret is in this answer only.
///
/// A signed-in session may create tokens of any scope. A token may create tokens of at most its
/// own scope, and a read token none at all: creating a credential is a write, and a leaked read
/// token that could mint another would outlive its own revocation.
#[utoipa::path(post, path = "/api/v1/me/tokens", tag = "session", request_body = NewTokenBody,
    responses((status = 201, body = CreatedTokenBody),
        (status = 403, description = "A read token, or a scope above the calling token's")))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<NewTokenBody>,
) -> Result<(StatusCode, axum::Json<CreatedTokenBody>), ApiError> {
    let label = body
        .label
        .as_deref()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .unwrap_or("api");
    let actor = (&caller).into();
    let (token, record) =
        ops::tokens::create(Ops::Node(&state), actor, caller.user_id, label, body.scope).await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(CreatedTokenBody {
            token,
            record: record.into(),
        }),
    ))
}

/// Revoke one of the caller's tokens.
#[utoipa::path(delete, path = "/api/v1/me/tokens/{token_id}", tag = "session",
    params(("token_id" = i64, Path, description = "Token id")), responses((status = 200, body = TokenBody)))]
pub async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<axum::Json<TokenBody>, ApiError> {
    let token =
        ops::tokens::revoke(Ops::Node(&state), (&caller).into(), caller.user_id, id).await?;
    Ok(axum::Json(token.into()))
}
