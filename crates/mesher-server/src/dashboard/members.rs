//! An organization's members and roles. Every member sees the list; admins invite members (the
//! invited user accepts from any dashboard page; see [`crate::invitations`]), see and revoke
//! pending invitations, change roles and remove members; only owners grant or take the owner
//! role, and the last owner stays (the store refuses, and the page says why).

use std::str::FromStr;

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use mesher_store::{Organization, Role, Scope};
use serde::Deserialize;

use super::context::{Notice, chrome, done};
use super::extract::{FieldErrors, PagePath, PageQuery, Posted, SignedIn};
use super::format::When;
use super::issues::Choice;
use super::layout::Layout;
use super::{HtmlError, impl_page, paths, render};
use crate::error::ApiError;
use crate::invitations;
use crate::ops::{self, Ops};
use crate::state::AppState;

/// The members page.
#[derive(Template)]
#[template(path = "members.html")]
pub struct MembersPage {
    layout: Layout,
    notice: Option<Notice>,
    org_name: String,
    can_admin: bool,
    rows: Vec<MemberRow>,
    roles: Vec<Choice>,
    add_action: String,
    invite: InviteForm,
    invitations: Vec<InvitationRow>,
}
impl_page!(MembersPage);

/// The invitation form: empty, or what was typed when the invitation was refused, with why.
#[derive(Debug, Default)]
pub struct InviteForm {
    email: String,
    errors: FieldErrors,
}

/// A pending invitation (shown to admins).
pub struct InvitationRow {
    email: String,
    role: &'static str,
    expires: When,
    /// Owners' invitations are revoked by owners only.
    revocable: bool,
    revoke_action: String,
}

/// A member.
pub struct MemberRow {
    name: String,
    email: String,
    role: &'static str,
    joined: When,
    you: bool,
    /// Whether the user may change this member's role or remove them.
    manageable: bool,
    roles: Vec<Choice>,
    role_action: String,
    remove_action: String,
}

/// The query of the members page.
#[derive(Debug, Deserialize)]
pub(super) struct MembersQuery {
    done: Option<String>,
}

/// The organization `slug` of which the user is a member (404 otherwise), with their role.
async fn member_org(
    state: &AppState,
    user: &SignedIn,
    slug: &str,
) -> Result<(Organization, Role), HtmlError> {
    let org = state
        .store()
        .org_by_slug(slug)
        .await?
        .ok_or_else(|| ApiError::NotFound("organization not found".into()))?;
    let role = user.caller.require(org.id, Scope::Read, Role::Member)?;
    Ok((org, role))
}

/// The roles `mine` may hand out: owners all of them, admins the others.
fn grantable(mine: Role) -> Vec<Role> {
    [Role::Member, Role::Admin, Role::Owner]
        .into_iter()
        .filter(|&r| r < Role::Owner || mine == Role::Owner)
        .collect()
}

fn role_choices(mine: Role, current: Role) -> Vec<Choice> {
    grantable(mine)
        .into_iter()
        .map(|r| Choice {
            value: r.as_str().into(),
            label: r.as_str().into(),
            selected: r == current,
        })
        .collect()
}

async fn load(
    state: &AppState,
    user: &SignedIn,
    layout: Layout,
    slug: &str,
    notice: Option<Notice>,
    invite: Option<(InviteForm, Role)>,
) -> Result<MembersPage, HtmlError> {
    let (org, mine) = member_org(state, user, slug).await?;
    let now = mesher_store::now();
    let zone = &user.zone;
    let can_admin = mine >= Role::Admin;
    let (members, pending, chrome) = tokio::try_join!(
        async { Ok::<_, HtmlError>(state.store().list_members(org.id).await?) },
        async {
            // Who was invited is for admins only.
            if !can_admin {
                return Ok(Vec::new());
            }
            Ok::<_, HtmlError>(state.store().org_invitations(org.id, now).await?)
        },
        chrome(state, user, None),
    )?;
    let base = paths::members(&org.slug);
    let invitations = pending
        .into_iter()
        .map(|i| InvitationRow {
            revocable: i.role < Role::Owner || mine == Role::Owner,
            revoke_action: layout.url(&format!("/orgs/{}/invitations/{}/revoke", org.slug, i.id)),
            email: i.email,
            role: i.role.as_str(),
            expires: zone.when(i.expires_at, now),
        })
        .collect();
    let rows = members
        .iter()
        .map(|m| MemberRow {
            name: m.user.name.clone(),
            email: m.user.email.clone(),
            role: m.role.as_str(),
            joined: zone.when(m.joined_at, now),
            you: m.user.id == user.user.id,
            manageable: can_admin && (m.role < Role::Owner || mine == Role::Owner),
            roles: role_choices(mine, m.role),
            role_action: layout.url(&format!("{base}/{}/role", m.user.id)),
            remove_action: layout.url(&format!("{base}/{}/remove", m.user.id)),
        })
        .collect();
    Ok(MembersPage {
        add_action: layout.url(&base),
        layout: layout
            .titled(format!("Members · {}", org.name))
            .with_user(chrome),
        notice,
        org_name: org.name,
        can_admin,
        rows,
        roles: role_choices(mine, invite.as_ref().map_or(Role::Member, |(_, r)| *r)),
        invite: invite.map(|(form, _)| form).unwrap_or_default(),
        invitations,
    })
}

/// `GET /orgs/{slug}/members`.
pub(super) async fn page(
    State(state): State<AppState>,
    layout: Layout,
    user: SignedIn,
    PagePath(slug): PagePath<String>,
    PageQuery(q): PageQuery<MembersQuery>,
) -> Result<MembersPage, HtmlError> {
    load(
        &state,
        &user,
        layout,
        &slug,
        Notice::from_done(q.done.as_deref()),
        None,
    )
    .await
}

/// The page again with the error of a refused change (a 409 for the last owner, a 400 for a
/// bad value); any other error is an error page.
async fn refused(
    state: &AppState,
    user: &SignedIn,
    layout: Layout,
    slug: &str,
    error: ApiError,
) -> Result<Response, HtmlError> {
    let status = error.status();
    if status != StatusCode::CONFLICT && status != StatusCode::BAD_REQUEST {
        return Err(error.into());
    }
    let notice = Some(Notice::error(error.public_message()));
    let page = load(state, user, layout, slug, notice, None).await?;
    Ok(render(status, &page))
}

/// Checks that the user may give `role` (owners only for the owner role): 403 otherwise.
fn may_grant(mine: Role, role: Role) -> Result<(), ApiError> {
    Ok(ops::members::may_grant(mine, role)?)
}

/// `POST /orgs/{slug}/members` (`email`, `role`): invites someone (admins). The page says the
/// same whether or not the email has an account.
pub(super) async fn add(
    State(state): State<AppState>,
    layout: Layout,
    PagePath(slug): PagePath<String>,
    Posted { user, form }: Posted,
) -> Result<Response, HtmlError> {
    let (org, _) = member_org(&state, &user, &slug).await?;
    let mine = user.caller.require(org.id, Scope::Admin, Role::Admin)?;
    let email = form.text("email");
    // Every field checked before anything is written, so that the form shows all that is wrong.
    let mut errors = FieldErrors::default();
    if !invitations::plausible_email(&email.to_lowercase()) {
        errors.add("email", "Enter an email address, such as ada@example.com.");
    }
    let role = match Role::from_str(form.text("role")) {
        Ok(role) if may_grant(mine, role).is_ok() => role,
        Ok(role) => {
            errors.add("role", "Only an owner may invite an owner.");
            role
        }
        Err(_) => {
            errors.add("role", "Choose a role from the list.");
            Role::Member
        }
    };
    let status = if errors.is_empty() {
        match invitations::invite(&state, &org, user.user.id, mine, email, role).await {
            Ok(_) => {
                let done = done(&paths::members(&slug), "member-invited");
                return Ok(Redirect::to(&layout.url(&done)).into_response());
            }
            // Already a member: a fact about the address typed, shown beside it.
            Err(e) if e.status() == StatusCode::CONFLICT => {
                errors.add("email", format!("{}.", e.public_message()));
                StatusCode::CONFLICT
            }
            Err(e) => return refused(&state, &user, layout, &slug, e).await,
        }
    } else {
        StatusCode::BAD_REQUEST
    };
    let notice = Some(Notice::error(errors.summary()));
    let typed = InviteForm {
        email: email.to_string(),
        errors,
    };
    let page = load(&state, &user, layout, &slug, notice, Some((typed, role))).await?;
    Ok(render(status, &page))
}

/// `POST /orgs/{slug}/invitations/{id}/revoke`: withdraws a pending invitation (admins; owners
/// for an owner's).
pub(super) async fn revoke_invitation(
    State(state): State<AppState>,
    layout: Layout,
    PagePath((slug, id)): PagePath<(String, i64)>,
    Posted { user, .. }: Posted,
) -> Result<Response, HtmlError> {
    let (org, _) = member_org(&state, &user, &slug).await?;
    let mine = user.caller.require(org.id, Scope::Admin, Role::Admin)?;
    if let Some(i) = state.store().invitation(id).await?
        && i.org_id == org.id
    {
        may_grant(mine, i.role)?;
    }
    invitations::revoke(&state, &org, id).await?;
    Ok(
        Redirect::to(&layout.url(&done(&paths::members(&slug), "invitation-revoked")))
            .into_response(),
    )
}

/// `POST /orgs/{slug}/members/{user}/role` (`role`): changes a member's role (admins; owners
/// for the owner role).
pub(super) async fn set_role(
    State(state): State<AppState>,
    layout: Layout,
    PagePath((slug, member)): PagePath<(String, i64)>,
    Posted { user, form }: Posted,
) -> Result<Response, HtmlError> {
    let (org, _) = member_org(&state, &user, &slug).await?;
    // A member is refused before the form is read, as elsewhere on the page.
    user.caller.require(org.id, Scope::Admin, Role::Admin)?;
    let role = Role::from_str(form.text("role")).map_err(ApiError::from)?;
    let actor = (&user.caller).into();
    if let Err(e) = ops::members::set_role(Ops::Node(&state), actor, &org, member, role).await {
        return refused(&state, &user, layout, &slug, e.into()).await;
    }
    Ok(Redirect::to(&layout.url(&done(&paths::members(&slug), "role-changed"))).into_response())
}

/// `POST /orgs/{slug}/members/{user}/remove`: removes a member (admins; owners for an owner).
/// Removing oneself leads to the start page, since this one is no longer visible.
pub(super) async fn remove(
    State(state): State<AppState>,
    layout: Layout,
    PagePath((slug, member)): PagePath<(String, i64)>,
    Posted { user, .. }: Posted,
) -> Result<Response, HtmlError> {
    let (org, _) = member_org(&state, &user, &slug).await?;
    // The page lets admins manage members; it offers no way to leave (the API does).
    user.caller.require(org.id, Scope::Admin, Role::Admin)?;
    let actor = (&user.caller).into();
    if let Err(e) = ops::members::remove(Ops::Node(&state), actor, &org, member).await {
        return refused(&state, &user, layout, &slug, e.into()).await;
    }
    let target = if member == user.user.id {
        "/".to_string()
    } else {
        done(&paths::members(&slug), "member-removed")
    };
    Ok(Redirect::to(&layout.url(&target)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_owners_hand_out_the_owner_role() {
        assert_eq!(grantable(Role::Admin), [Role::Member, Role::Admin]);
        assert_eq!(
            grantable(Role::Owner),
            [Role::Member, Role::Admin, Role::Owner]
        );
        assert!(may_grant(Role::Admin, Role::Owner).is_err());
        assert!(may_grant(Role::Admin, Role::Admin).is_ok());
        assert!(may_grant(Role::Owner, Role::Owner).is_ok());
    }
}
