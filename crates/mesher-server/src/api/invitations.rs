//! The signed-in user's invitations to organizations (ORG-04): list, accept, decline.
//! The rules are in [`crate::invitations`].

use axum::extract::State;
use axum::http::StatusCode;
use mesher_store::Scope;

use super::auth::Caller;
use super::extract::Path;
use super::models::{InvitationBody, OrgBody};
use super::session::require_scope;
use crate::error::ApiError;
use crate::invitations;
use crate::state::AppState;

/// The invitations addressed to the caller's email that can still be accepted.
#[utoipa::path(get, path = "/api/v1/me/invitations", tag = "session",
    responses((status = 200, body = Vec<InvitationBody>)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<axum::Json<Vec<InvitationBody>>, ApiError> {
    let pending = invitations::pending_for(&state, caller.user_id).await?;
    Ok(axum::Json(
        pending
            .into_iter()
            .map(|p| InvitationBody::new(p.invitation, &p.org))
            .collect(),
    ))
}

/// Accept an invitation: the caller becomes a member with its role. Joining an organization
/// changes what the account can reach, so a token needs the admin scope (as for creating one).
#[utoipa::path(post, path = "/api/v1/me/invitations/{invitation_id}/accept", tag = "session",
    params(("invitation_id" = i64, Path, description = "The invitation")),
    responses((status = 200, body = OrgBody, description = "The organization joined, with the role")))]
pub async fn accept(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<axum::Json<OrgBody>, ApiError> {
    require_scope(&caller, Scope::Admin)?;
    let membership = invitations::accept(&state, caller.user_id, id).await?;
    let org = state
        .store()
        .org(membership.org_id)
        .await?
        .ok_or_else(|| ApiError::NotFound("organization not found".into()))?;
    Ok(axum::Json(OrgBody::new(org, Some(membership.role))))
}

/// Decline an invitation.
#[utoipa::path(delete, path = "/api/v1/me/invitations/{invitation_id}", tag = "session",
    params(("invitation_id" = i64, Path, description = "The invitation")),
    responses((status = 204, description = "Declined")))]
pub async fn decline(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    require_scope(&caller, Scope::Write)?;
    invitations::decline(&state, caller.user_id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
