//! An organization's members and roles. Every member sees the list; admins add members (a new
//! email gets an account with a generated password, shown once), change roles and remove
//! members; only owners grant or take the owner role, and the last owner stays (the store
//! refuses, and the page says why).

use std::str::FromStr;

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use mesher_store::{Organization, Role, Scope};
use serde::Deserialize;

use super::context::{Notice, chrome, done};
use super::extract::{PagePath, PageQuery, Posted, SignedIn};
use super::format::When;
use super::issues::Choice;
use super::layout::Layout;
use super::{HtmlError, impl_page, paths, render};
use crate::accounts;
use crate::error::ApiError;
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
    created: Option<NewAccount>,
}
impl_page!(MembersPage);

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

/// An account created by adding a member: its password, shown this once.
pub struct NewAccount {
    email: String,
    password: String,
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
    created: Option<NewAccount>,
) -> Result<MembersPage, HtmlError> {
    let (org, mine) = member_org(state, user, slug).await?;
    let (members, chrome) = tokio::try_join!(
        async { Ok::<_, HtmlError>(state.store().list_members(org.id).await?) },
        chrome(state, user, None),
    )?;
    let now = mesher_store::now();
    let base = paths::members(&org.slug);
    let can_admin = mine >= Role::Admin;
    let rows = members
        .iter()
        .map(|m| MemberRow {
            name: m.user.name.clone(),
            email: m.user.email.clone(),
            role: m.role.as_str(),
            joined: When::new(m.joined_at, now),
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
        roles: role_choices(mine, Role::Member),
        created,
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
    if role == Role::Owner && mine < Role::Owner {
        return Err(ApiError::Forbidden(
            "only owners grant or take the owner role".into(),
        ));
    }
    Ok(())
}

/// `POST /orgs/{slug}/members` (`email`, `role`): adds a member (admins).
pub(super) async fn add(
    State(state): State<AppState>,
    layout: Layout,
    PagePath(slug): PagePath<String>,
    Posted { user, form }: Posted,
) -> Result<Response, HtmlError> {
    let (org, _) = member_org(&state, &user, &slug).await?;
    let mine = user.caller.require(org.id, Scope::Admin, Role::Admin)?;
    let role = Role::from_str(form.text("role")).map_err(ApiError::from)?;
    may_grant(mine, role)?;
    let email = form.text("email").to_lowercase();
    let store = state.store();
    let (member, created) = match store.user_by_email(&email).await? {
        Some(existing) => (existing, None),
        None => {
            let password = accounts::generate_password().map_err(ApiError::from)?;
            match accounts::create_user(store, &email, None, &password, None).await {
                Ok(new) => (
                    new,
                    Some(NewAccount {
                        email: email.clone(),
                        password,
                    }),
                ),
                Err(e) => return refused(&state, &user, layout, &slug, e.into()).await,
            }
        }
    };
    if let Err(e) = store.add_member(org.id, member.id, role).await {
        let error = match ApiError::from(e) {
            ApiError::Conflict(_) => ApiError::Conflict(format!("{email} is a member already.")),
            other => other,
        };
        return refused(&state, &user, layout, &slug, error).await;
    }
    match created {
        // The password is in this answer only: no redirect, which would lose it.
        Some(account) => {
            let notice = Some(Notice::done(format!("{} added as {role}.", account.email)));
            Ok(load(&state, &user, layout, &slug, notice, Some(account))
                .await?
                .into_response())
        }
        None => Ok(
            Redirect::to(&layout.url(&done(&paths::members(&slug), "member-added")))
                .into_response(),
        ),
    }
}

/// The role of `user_id` in `org`: 404 when not a member.
async fn role_of(state: &AppState, org: &Organization, user_id: i64) -> Result<Role, HtmlError> {
    let members = state.store().list_members(org.id).await?;
    members
        .iter()
        .find(|m| m.user.id == user_id)
        .map(|m| m.role)
        .ok_or_else(|| ApiError::NotFound("member not found".into()).into())
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
    let mine = user.caller.require(org.id, Scope::Admin, Role::Admin)?;
    let role = Role::from_str(form.text("role")).map_err(ApiError::from)?;
    may_grant(mine, role)?;
    may_grant(mine, role_of(&state, &org, member).await?)?;
    if let Err(e) = state.store().set_member_role(org.id, member, role).await {
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
    let mine = user.caller.require(org.id, Scope::Admin, Role::Admin)?;
    may_grant(mine, role_of(&state, &org, member).await?)?;
    if let Err(e) = state.store().remove_member(org.id, member).await {
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
