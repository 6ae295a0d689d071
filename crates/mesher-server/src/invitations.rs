//! Invitations: how someone becomes a member of an organization (ORG-04).
//!
//! An admin invites an email; the membership starts only when the user with that email, signed
//! in, accepts. The API, the dashboard and (for the signed-in user) both of their lists call
//! these functions, so the rules live here once:
//!
//! - the inviter learns nothing about the email: inviting one with an account and one without
//!   gives the same answer (an invitation, pending), and no account is created or changed;
//! - only owners invite owners (as only owners grant the owner role);
//! - an invitation lasts [`INVITATION_TTL`]; inviting the same email again renews it;
//! - only the invited user sees, accepts or declines it; admins of the organization list and
//!   revoke the pending ones.
//!
//! The CLI (`mesher user create --org`) still adds members directly: whoever runs it on the
//! server already controls the database.

use mesher_store::{Invitation, Membership, NewInvitation, Organization, Role};

use crate::error::ApiError;
use crate::state::AppState;

/// How long an invitation can be accepted.
pub const INVITATION_TTL: time::Duration = time::Duration::days(7);

/// Invites `email` to `org` with `role`, on behalf of `inviter` whose role there is `have`.
/// A 409 when that email is a member already (the member list shows it anyway).
pub async fn invite(
    state: &AppState,
    org: &Organization,
    inviter: i64,
    have: Role,
    email: &str,
    role: Role,
) -> Result<Invitation, ApiError> {
    crate::ops::members::may_grant(have, role)?;
    let email = email.trim().to_lowercase();
    if !plausible_email(&email) {
        return Err(ApiError::BadRequest(format!(
            "email: {email:?} is not an email address"
        )));
    }
    let members = state.store().list_members(org.id).await?;
    if members.iter().any(|m| m.user.email == email) {
        return Err(ApiError::Conflict(format!("{email} is a member already")));
    }
    Ok(state
        .store()
        .create_invitation(&NewInvitation {
            org_id: org.id,
            email: &email,
            role,
            invited_by: inviter,
            expires_at: mesher_store::now() + INVITATION_TTL,
        })
        .await?)
}

/// Whether `s` (trimmed, lower-case) looks like an email address: someone at somewhere.
pub(crate) fn plausible_email(s: &str) -> bool {
    matches!(s.split_once('@'), Some((local, domain))
        if !local.is_empty() && !domain.is_empty() && !s.contains(char::is_whitespace))
}

/// An invitation with its organization, for the invited user.
pub struct Pending {
    /// The invitation.
    pub invitation: Invitation,
    /// Where to.
    pub org: Organization,
}

/// The valid invitations addressed to user `user_id`'s email, oldest first.
pub async fn pending_for(state: &AppState, user_id: i64) -> Result<Vec<Pending>, ApiError> {
    let store = state.store();
    let Some(user) = store.user(user_id).await? else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for invitation in store
        .email_invitations(&user.email, mesher_store::now())
        .await?
    {
        if let Some(org) = store.org(invitation.org_id).await? {
            out.push(Pending { invitation, org });
        }
    }
    Ok(out)
}

/// The user accepts invitation `id`: 404 unless it is theirs and still valid.
pub async fn accept(state: &AppState, user_id: i64, id: i64) -> Result<Membership, ApiError> {
    Ok(state
        .store()
        .accept_invitation(id, user_id, mesher_store::now())
        .await?)
}

/// The user declines invitation `id`: 404 unless it is addressed to them.
pub async fn decline(state: &AppState, user_id: i64, id: i64) -> Result<(), ApiError> {
    let store = state.store();
    let not_found = || ApiError::NotFound("invitation not found".into());
    let user = store.user(user_id).await?.ok_or_else(not_found)?;
    let invitation = store.invitation(id).await?.ok_or_else(not_found)?;
    if invitation.email != user.email.to_lowercase() {
        return Err(not_found());
    }
    Ok(store.delete_invitation(id).await?)
}

/// An admin of `org` revokes its invitation `id`: 404 unless it belongs to `org`.
pub async fn revoke(state: &AppState, org: &Organization, id: i64) -> Result<(), ApiError> {
    let store = state.store();
    match store.invitation(id).await? {
        Some(i) if i.org_id == org.id => Ok(store.delete_invitation(id).await?),
        _ => Err(ApiError::NotFound("invitation not found".into())),
    }
}
