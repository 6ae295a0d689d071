//! Signing in and out. `GET /signin` renders the form; `POST /signin` checks the password
//! (through [`sessions::sign_in`], which throttles guessing), sets the session cookie and goes
//! on to the page the user wanted, or re-renders the form with the reason (401, 429);
//! `POST /signout` ends the session.

use askama::Template;
use axum::extract::rejection::FormRejection;
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::context::landing;
use super::extract::{Posted, SignedIn};
use super::layout::Layout;
use super::zone::Zone;
use super::{HtmlError, impl_page, paths, render};
use crate::api::auth::Caller;
use crate::error::ApiError;
use crate::ingest::ClientIp;
use crate::sessions;
use crate::state::AppState;

/// The sign-in form.
#[derive(Debug, Template)]
#[template(path = "signin.html")]
pub struct SignInPage {
    layout: Layout,
    /// Where to go after signing in (a local path, checked by [`local_path`]).
    next: Option<String>,
    /// The email to fill in again after a failed attempt.
    email: String,
    /// Why the last attempt failed.
    error: Option<String>,
}
impl_page!(SignInPage);

impl SignInPage {
    /// An empty form; after signing in the user goes to `next` if it is a local path.
    pub fn new(layout: Layout, next: Option<&str>) -> SignInPage {
        SignInPage {
            layout: layout.titled("Sign in"),
            next: next.and_then(local_path).map(str::to_string),
            email: String::new(),
            error: None,
        }
    }

    /// The form again after a failed attempt, with the email kept and `error` shown.
    pub fn failed(layout: Layout, next: Option<&str>, email: &str, error: &str) -> SignInPage {
        SignInPage {
            email: email.to_string(),
            error: Some(error.to_string()),
            ..SignInPage::new(layout, next)
        }
    }
}

/// The query of `GET /signin`.
#[derive(Debug, Deserialize)]
pub(super) struct SignInQuery {
    next: Option<String>,
}

/// `GET /signin`.
pub(super) async fn page(layout: Layout, Query(query): Query<SignInQuery>) -> SignInPage {
    SignInPage::new(layout, query.next.as_deref())
}

/// The form of `POST /signin`.
#[derive(Debug, Deserialize)]
pub(super) struct SignInForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    next: Option<String>,
}

/// `POST /signin`: a session and a redirect (303) to `next` or the user's first project; the
/// form again with the reason when the password is wrong (401) or guessing is throttled (429).
/// The client's address comes from [`ClientIp`], the same rule as the API's sign-in.
pub(super) async fn submit(
    State(state): State<AppState>,
    layout: Layout,
    ClientIp(ip): ClientIp,
    form: Result<Form<SignInForm>, FormRejection>,
) -> Result<Response, HtmlError> {
    let Form(form) = form.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let next = form.next.as_deref().filter(|n| !n.is_empty());
    let session = match sessions::sign_in(&state, &form.email, &form.password, ip).await {
        Ok(session) => session,
        Err(ApiError::Unauthorized(_)) => {
            let page = SignInPage::failed(layout, next, &form.email, "Wrong email or password.");
            return Ok(render(StatusCode::UNAUTHORIZED, &page));
        }
        Err(ApiError::RateLimited {
            retry_after_secs, ..
        }) => {
            let message = format!("Too many sign-in attempts. Try again in {retry_after_secs} s.");
            let page = SignInPage::failed(layout, next, &form.email, &message);
            let mut response = render(StatusCode::TOO_MANY_REQUESTS, &page);
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
            return Ok(response);
        }
        Err(e) => return Err(e.into()),
    };
    let target = match next.and_then(local_path) {
        Some(path) => path.to_string(),
        None => {
            let user = SignedIn {
                caller: Caller::load(&state, session.user.id, mesher_store::Scope::Admin).await?,
                user: session.user,
                csrf: session.csrf_token,
                // The landing page is only chosen here, not shown.
                zone: Zone::default(),
            };
            landing(&state, &user).await?
        }
    };
    let mut response = Redirect::to(&layout.url(&target)).into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        sessions::set_cookie(&state, Some(&session.token)),
    );
    Ok(response)
}

/// `POST /signout`: ends the session (the form carries its CSRF token, so another site cannot
/// sign the user out) and deletes the cookie.
pub(super) async fn sign_out(
    State(state): State<AppState>,
    layout: Layout,
    headers: HeaderMap,
    _posted: Posted,
) -> Result<Response, HtmlError> {
    if let Some(token) = sessions::cookie_token(&headers) {
        sessions::sign_out(&state, token).await?;
    }
    let mut response = Redirect::to(&layout.url(paths::SIGNIN)).into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, sessions::set_cookie(&state, None));
    Ok(response)
}

/// `next` if it is a path on this site, `None` otherwise: a sign-in form must not become an open
/// redirect (`//evil.example`, `/\evil.example` and `https://…` are all refused).
pub fn local_path(next: &str) -> Option<&str> {
    let ok = next.starts_with('/')
        && !next.starts_with("//")
        && !next.contains('\\')
        && !next.chars().any(char::is_control);
    ok.then_some(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_followed() {
        assert_eq!(
            local_path("/projects/1/issues?q=a"),
            Some("/projects/1/issues?q=a")
        );
        for bad in [
            "//evil.example",
            "/\\evil.example",
            "https://evil.example",
            "evil",
            "/a\nb",
            "",
        ] {
            assert_eq!(local_path(bad), None, "{bad:?}");
        }
    }
}
