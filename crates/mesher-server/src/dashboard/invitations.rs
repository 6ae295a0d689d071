//! The signed-in user's answers to invitations: the notice above every page posts here
//! (see [`crate::invitations`] for the rules).

use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};

use super::context::done;
use super::extract::{PagePath, Posted};
use super::layout::Layout;
use super::{HtmlError, paths};
use crate::invitations;
use crate::state::AppState;

/// `POST /me/invitations/{id}/accept`: joins the organization and shows its members.
pub(super) async fn accept(
    State(state): State<AppState>,
    layout: Layout,
    PagePath(id): PagePath<i64>,
    Posted { user, .. }: Posted,
) -> Result<Response, HtmlError> {
    let membership = invitations::accept(&state, user.user.id, id).await?;
    let target = match state.store().org(membership.org_id).await? {
        Some(org) => done(&paths::members(&org.slug), "invitation-accepted"),
        None => "/".to_string(),
    };
    Ok(Redirect::to(&layout.url(&target)).into_response())
}

/// `POST /me/invitations/{id}/decline`: drops the invitation and goes to the start page.
pub(super) async fn decline(
    State(state): State<AppState>,
    layout: Layout,
    PagePath(id): PagePath<i64>,
    Posted { user, .. }: Posted,
) -> Result<Response, HtmlError> {
    invitations::decline(&state, user.user.id, id).await?;
    Ok(Redirect::to(&layout.url(&done(paths::TOKENS, "invitation-declined"))).into_response())
}
