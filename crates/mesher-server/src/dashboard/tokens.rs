//! The signed-in user's API tokens: the list (prefix, scope, last use), creating one (the
//! secret is shown in that answer only: Mesher keeps just its digest) and revoking one.

use std::str::FromStr;

use askama::Template;
use axum::extract::State;
use axum::response::Redirect;
use mesher_store::Scope;
use serde::Deserialize;

use super::context::{Notice, chrome, done};
use super::extract::{PagePath, PageQuery, Posted, SignedIn};
use super::format::When;
use super::issues::Choice;
use super::layout::Layout;
use super::{HtmlError, impl_page, paths};
use crate::error::ApiError;
use crate::ops::{self, Ops};
use crate::state::AppState;

/// The tokens page.
#[derive(Template)]
#[template(path = "tokens.html")]
pub struct TokensPage {
    layout: Layout,
    notice: Option<Notice>,
    rows: Vec<TokenRow>,
    scopes: Vec<Choice>,
    action: String,
    /// A token just created: its secret, this once.
    created: Option<String>,
}
impl_page!(TokensPage);

/// A token.
pub struct TokenRow {
    label: String,
    prefix: String,
    scope: &'static str,
    created: When,
    last_used: Option<When>,
    revoked: Option<When>,
    revoke_action: String,
}

/// The query of the tokens page.
#[derive(Debug, Deserialize)]
pub(super) struct TokensQuery {
    done: Option<String>,
}

const SCOPES: &[(&str, &str)] = &[
    ("read", "Read: lists, issues, events"),
    ("write", "Write: also triage (resolve, assign)"),
    ("admin", "Admin: everything your roles allow"),
];

async fn load(
    state: &AppState,
    user: &SignedIn,
    layout: Layout,
    notice: Option<Notice>,
    created: Option<String>,
) -> Result<TokensPage, HtmlError> {
    let (tokens, chrome) = tokio::try_join!(
        async { Ok::<_, HtmlError>(state.store().list_tokens(user.user.id).await?) },
        chrome(state, user, None),
    )?;
    let now = mesher_store::now();
    let zone = &user.zone;
    Ok(TokensPage {
        rows: tokens
            .iter()
            .map(|t| TokenRow {
                label: t.label.clone(),
                prefix: t.prefix.clone(),
                scope: t.scope.as_str(),
                created: zone.when(t.created_at, now),
                last_used: t.last_used_at.map(|u| zone.when(u, now)),
                revoked: t.revoked_at.map(|r| zone.when(r, now)),
                revoke_action: layout.url(&format!("{}/{}/revoke", paths::TOKENS, t.id)),
            })
            .collect(),
        scopes: SCOPES
            .iter()
            .map(|&(value, label)| Choice {
                value: value.into(),
                label: label.into(),
                selected: value == "read",
            })
            .collect(),
        action: layout.url(paths::TOKENS),
        layout: layout.titled("API tokens").with_user(chrome),
        notice,
        created,
    })
}

/// `GET /me/tokens`.
pub(super) async fn page(
    State(state): State<AppState>,
    layout: Layout,
    user: SignedIn,
    PageQuery(q): PageQuery<TokensQuery>,
) -> Result<TokensPage, HtmlError> {
    load(
        &state,
        &user,
        layout,
        Notice::from_done(q.done.as_deref()),
        None,
    )
    .await
}

/// `POST /me/tokens` (`label`, `scope`): a new token, shown in this answer only (no
/// redirect, which would lose it).
pub(super) async fn create(
    State(state): State<AppState>,
    layout: Layout,
    Posted { user, form }: Posted,
) -> Result<TokensPage, HtmlError> {
    let scope = Scope::from_str(form.text("scope")).map_err(ApiError::from)?;
    let label = match form.text("label") {
        "" => "API token",
        label => label,
    };
    let actor = (&user.caller).into();
    let (token, _) =
        ops::tokens::create(Ops::Node(&state), actor, user.user.id, label, scope).await?;
    let notice = Notice::done("Token created. Copy it now: it is not shown again.");
    load(&state, &user, layout, Some(notice), Some(token)).await
}

/// `POST /me/tokens/{token}/revoke`: one of the user's own tokens stops working.
pub(super) async fn revoke(
    State(state): State<AppState>,
    layout: Layout,
    PagePath(id): PagePath<i64>,
    Posted { user, .. }: Posted,
) -> Result<Redirect, HtmlError> {
    ops::tokens::revoke(Ops::Node(&state), (&user.caller).into(), user.user.id, id).await?;
    Ok(Redirect::to(
        &layout.url(&done(paths::TOKENS, "token-revoked")),
    ))
}
