//! Organizations and their members (ORG-01, ORG-04).

use axum::extract::State;
use axum::http::StatusCode;
use mesher_store::{Role, Scope};

use super::auth::Caller;
use super::extract::{Json, Path};
use super::models::{InvitationBody, MemberBody, NewMemberBody, NewOrgBody, OrgBody, RoleBody};
use crate::error::ApiError;
use crate::invitations;
use crate::ops::{self, Ops};
use crate::state::AppState;

/// The organization with this slug, when the caller may act on it with `scope` and `role`.
pub async fn visible_org(
    state: &AppState,
    caller: &Caller,
    slug: &str,
    scope: Scope,
    role: Role,
) -> Result<(mesher_store::Organization, Role), ApiError> {
    Ok(ops::orgs::org(Ops::Node(state), caller.into(), slug, scope, role).await?)
}

/// The caller's organizations.
#[utoipa::path(get, path = "/api/v1/orgs", tag = "organizations", responses((status = 200, body = Vec<OrgBody>)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<axum::Json<Vec<OrgBody>>, ApiError> {
    let mut out = Vec::new();
    for (org_id, role) in &caller.memberships {
        if let Some(org) = state.store().org(*org_id).await? {
            out.push(OrgBody::new(org, Some(*role)));
        }
    }
    Ok(axum::Json(out))
}

/// Create an organization; the caller becomes its owner.
#[utoipa::path(post, path = "/api/v1/orgs", tag = "organizations", request_body = NewOrgBody,
    responses((status = 201, body = OrgBody)))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<NewOrgBody>,
) -> Result<(StatusCode, axum::Json<OrgBody>), ApiError> {
    let org = ops::orgs::create_org(
        Ops::Node(&state),
        (&caller).into(),
        &body.name,
        body.slug.as_deref(),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(OrgBody::new(org, Some(Role::Owner))),
    ))
}

/// One organization.
#[utoipa::path(get, path = "/api/v1/orgs/{org}", tag = "organizations",
    params(("org" = String, Path, description = "Organization slug")), responses((status = 200, body = OrgBody)))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(slug): Path<String>,
) -> Result<axum::Json<OrgBody>, ApiError> {
    let (org, role) = visible_org(&state, &caller, &slug, Scope::Read, Role::Member).await?;
    Ok(axum::Json(OrgBody::new(org, Some(role))))
}

/// The organization's members.
#[utoipa::path(get, path = "/api/v1/orgs/{org}/members", tag = "organizations",
    params(("org" = String, Path, description = "Organization slug")), responses((status = 200, body = Vec<MemberBody>)))]
pub async fn members(
    State(state): State<AppState>,
    caller: Caller,
    Path(slug): Path<String>,
) -> Result<axum::Json<Vec<MemberBody>>, ApiError> {
    let (org, _) = visible_org(&state, &caller, &slug, Scope::Read, Role::Member).await?;
    let members = state.store().list_members(org.id).await?;
    Ok(axum::Json(members.into_iter().map(Into::into).collect()))
}

/// Add a member: invites the email; the membership starts when its user accepts
/// (`POST /api/v1/me/invitations/{id}/accept`). The answer is the same whether or not the email
/// has an account, and no account is created. 409 when the email is a member already.
#[utoipa::path(post, path = "/api/v1/orgs/{org}/members", tag = "organizations", request_body = NewMemberBody,
    params(("org" = String, Path, description = "Organization slug")),
    responses((status = 201, body = InvitationBody, description = "Invited (pending until accepted)")))]
pub async fn add_member(
    State(state): State<AppState>,
    caller: Caller,
    Path(slug): Path<String>,
    Json(body): Json<NewMemberBody>,
) -> Result<(StatusCode, axum::Json<InvitationBody>), ApiError> {
    let (org, have) = visible_org(&state, &caller, &slug, Scope::Admin, Role::Admin).await?;
    let invitation =
        invitations::invite(&state, &org, caller.user_id, have, &body.email, body.role).await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(InvitationBody::new(invitation, &org)),
    ))
}

/// The organization's pending invitations (admins).
#[utoipa::path(get, path = "/api/v1/orgs/{org}/invitations", tag = "organizations",
    params(("org" = String, Path, description = "Organization slug")),
    responses((status = 200, body = Vec<InvitationBody>)))]
pub async fn invitations(
    State(state): State<AppState>,
    caller: Caller,
    Path(slug): Path<String>,
) -> Result<axum::Json<Vec<InvitationBody>>, ApiError> {
    let (org, _) = visible_org(&state, &caller, &slug, Scope::Read, Role::Admin).await?;
    let list = state
        .store()
        .org_invitations(org.id, mesher_store::now())
        .await?;
    Ok(axum::Json(
        list.into_iter()
            .map(|i| InvitationBody::new(i, &org))
            .collect(),
    ))
}

/// Revoke a pending invitation (admins).
#[utoipa::path(delete, path = "/api/v1/orgs/{org}/invitations/{invitation_id}", tag = "organizations",
    params(("org" = String, Path, description = "Organization slug"), ("invitation_id" = i64, Path, description = "The invitation")),
    responses((status = 204, description = "Revoked")))]
pub async fn revoke_invitation(
    State(state): State<AppState>,
    caller: Caller,
    Path((slug, id)): Path<(String, i64)>,
) -> Result<StatusCode, ApiError> {
    let (org, _) = visible_org(&state, &caller, &slug, Scope::Admin, Role::Admin).await?;
    invitations::revoke(&state, &org, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Change a member's role (the last owner stays owner).
#[utoipa::path(patch, path = "/api/v1/orgs/{org}/members/{user_id}", tag = "organizations", request_body = RoleBody,
    params(("org" = String, Path, description = "Organization slug"), ("user_id" = i64, Path, description = "The member")),
    responses((status = 200, body = MemberBody)))]
pub async fn set_role(
    State(state): State<AppState>,
    caller: Caller,
    Path((slug, user_id)): Path<(String, i64)>,
    Json(body): Json<RoleBody>,
) -> Result<axum::Json<MemberBody>, ApiError> {
    let (org, _) = visible_org(&state, &caller, &slug, Scope::Admin, Role::Admin).await?;
    let actor = (&caller).into();
    let member = ops::members::set_role(Ops::Node(&state), actor, &org, user_id, body.role).await?;
    Ok(axum::Json(member.into()))
}

/// Remove a member (not the last owner). Members may remove themselves.
#[utoipa::path(delete, path = "/api/v1/orgs/{org}/members/{user_id}", tag = "organizations",
    params(("org" = String, Path, description = "Organization slug"), ("user_id" = i64, Path, description = "The member")),
    responses((status = 204, description = "Removed")))]
pub async fn remove_member(
    State(state): State<AppState>,
    caller: Caller,
    Path((slug, user_id)): Path<(String, i64)>,
) -> Result<StatusCode, ApiError> {
    let needed = if user_id == caller.user_id {
        Role::Member
    } else {
        Role::Admin
    };
    let (org, _) = visible_org(&state, &caller, &slug, Scope::Admin, needed).await?;
    ops::members::remove(Ops::Node(&state), (&caller).into(), &org, user_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
