//! The dashboard: HTML pages rendered on the server from typed askama templates compiled into the
//! binary, a stylesheet and a little JavaScript of our own, charts drawn as inline SVG.
//!
//! # How a page is made
//!
//! - One struct per page deriving [`askama::Template`], with a `layout: Layout` field that the
//!   shared `templates/base.html` reads (title, path prefix, header, navigation), then
//!   `impl_page!(ThePage)` to answer it as an HTML response.
//! - A handler extracts the [`Layout`] (it knows the public URL's path prefix), fetches what the
//!   page shows and returns `Result<ThePage, HtmlError>`; `?` turns an [`ApiError`] or a store
//!   error into the HTML error page with the API's status code.
//! - Links go through [`Layout::url`] and the paths in [`paths`]; assets through
//!   [`Layout::asset`] (content-hashed, cached for a year); charts are [`charts`]' pure functions.
//!
//! Pages read fine without JavaScript: scripts only add copying, confirmations, the theme
//! toggle, and live updates over the project's stream (the Live page, the overview's health
//! cards, the issue list's counts, the alert list). Every HTML response carries a strict Content-Security-Policy (no inline scripts or
//! styles), which matters for a tool that displays text from anyone who holds a DSN.
//!
//! [`ApiError`]: crate::ApiError

mod alert_rules;
mod alerts;
pub mod assets;
pub mod charts;
mod cluster;
mod context;
mod error;
mod event_view;
mod events;
mod extract;
mod format;
mod grouping;
mod invitations;
mod issue;
mod issues;
mod layout;
mod live;
mod members;
mod orgs;
mod overview;
mod preferences;
mod releases;
mod search;
mod settings;
mod signin;
mod snippets;
mod tokens;
pub mod zone;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};

pub use self::error::HtmlError;
pub use self::extract::{FieldErrors, FormFields, Posted, SignedIn};
pub use self::layout::{Layout, Nav, NavItem, OrgProjects, ProjectRef, Switcher, UserChrome};
pub use self::signin::{SignInPage, local_path};
use crate::error::ApiError;
use crate::state::AppState;

/// The dashboard's routes, at the root and, when the public URL has a path, under that prefix
/// too (as the ingest routes are), so that a reverse proxy may strip the prefix or keep it.
pub fn routes(prefix: &str) -> Router<AppState> {
    let pages = Router::new()
        .route("/", get(home))
        .route(paths::SIGNIN, get(signin::page).post(signin::submit))
        .route(paths::SIGNOUT, post(signin::sign_out))
        .route("/static/{file}", get(assets::serve))
        .route("/projects/{id}", get(overview::page))
        .route("/projects/{id}/issues", get(issues::page))
        .route("/projects/{id}/issues/bulk", post(issues::bulk))
        .route("/projects/{id}/issues/{issue}", get(issue::page))
        .route(
            "/projects/{id}/issues/{issue}/status",
            post(issue::set_status),
        )
        .route("/projects/{id}/issues/{issue}/assign", post(issue::assign))
        .route("/projects/{id}/issues/{issue}/delete", post(issue::delete))
        .route("/projects/{id}/events", get(events::page))
        .route("/projects/{id}/events/{event}", get(events::permalink))
        .route("/projects/{id}/live", get(live::page))
        .route("/projects/{id}/alerts", get(alerts::page))
        .route("/projects/{id}/releases", get(releases::page))
        .route(
            "/projects/{id}/alerts/rules",
            get(alert_rules::page).post(alert_rules::create),
        )
        .route(
            "/projects/{id}/alerts/rules/new",
            get(alert_rules::new_rule),
        )
        .route(
            "/projects/{id}/alerts/rules/{rule}",
            get(alert_rules::edit).post(alert_rules::update),
        )
        .route(
            "/projects/{id}/alerts/rules/{rule}/delete",
            post(alert_rules::delete),
        )
        .route(
            "/projects/{id}/alerts/rules/{rule}/test",
            post(alert_rules::send_test),
        )
        .route("/projects/{id}/alerts/{alert}", get(alerts::detail))
        .route(
            "/projects/{id}/alerts/{alert}/state",
            post(alerts::set_state),
        )
        .route(
            "/projects/{id}/settings",
            get(settings::page).post(settings::save),
        )
        .route("/projects/{id}/keys", post(settings::create_key))
        .route(
            "/projects/{id}/keys/{key}/revoke",
            post(settings::revoke_key),
        )
        .route("/projects/{id}/delete", post(settings::delete_project))
        .route(paths::NEW_ORG, get(orgs::new_org).post(orgs::create_org))
        .route(
            "/orgs/{slug}/projects/new",
            get(orgs::new_project).post(orgs::create_project),
        )
        .route(
            "/orgs/{slug}/members",
            get(members::page).post(members::add),
        )
        .route("/orgs/{slug}/members/{user}/role", post(members::set_role))
        .route("/orgs/{slug}/members/{user}/remove", post(members::remove))
        .route(
            "/orgs/{slug}/invitations/{invitation}/revoke",
            post(members::revoke_invitation),
        )
        .route(
            "/me/invitations/{invitation}/accept",
            post(invitations::accept),
        )
        .route(
            "/me/invitations/{invitation}/decline",
            post(invitations::decline),
        )
        .route(paths::TOKENS, get(tokens::page).post(tokens::create))
        .route(
            paths::PREFERENCES,
            get(preferences::page).post(preferences::save),
        )
        .route(paths::CLUSTER, get(cluster::page))
        .route("/me/tokens/{token}/revoke", post(tokens::revoke))
        .layer(middleware::from_fn_with_state(
            Arc::<str>::from(prefix.trim_end_matches('/')),
            finish,
        ));
    let prefix = prefix.trim_end_matches('/');
    if prefix.is_empty() {
        pages
    } else {
        pages.clone().nest(prefix, pages)
    }
}

/// The dashboard's URL scheme in one place: paths under the public URL's prefix (give them to
/// [`Layout::url`]).
pub mod paths {
    /// The sign-in form (`GET`) and its submission (`POST`).
    pub const SIGNIN: &str = "/signin";
    /// Signing out (`POST`).
    pub const SIGNOUT: &str = "/signout";
    /// Creating an organization.
    pub const NEW_ORG: &str = "/orgs/new";
    /// The signed-in user's API tokens.
    pub const TOKENS: &str = "/me/tokens";
    /// The signed-in user's preferences (their time zone).
    pub const PREFERENCES: &str = "/me/preferences";
    /// The cluster's nodes (organization admins).
    pub const CLUSTER: &str = "/cluster";

    /// A project's overview.
    pub fn project(id: i64) -> String {
        format!("/projects/{id}")
    }

    /// A project's issues.
    pub fn issues(id: i64) -> String {
        format!("/projects/{id}/issues")
    }

    /// One issue of a project.
    pub fn issue(project_id: i64, issue_id: i64) -> String {
        format!("/projects/{project_id}/issues/{issue_id}")
    }

    /// One event of a project, wherever it is (a permalink: it leads to its issue's page).
    pub fn event(project_id: i64, event_id: &str) -> String {
        format!("/projects/{project_id}/events/{event_id}")
    }

    /// One event's stored JSON, from the API (the session cookie authenticates it).
    pub fn event_json(project_id: i64, event_id: &str) -> String {
        format!("/api/v1/projects/{project_id}/events/{event_id}/json")
    }

    /// A project's event search.
    pub fn events(id: i64) -> String {
        format!("/projects/{id}/events")
    }

    /// A project's live stream of events.
    pub fn live(id: i64) -> String {
        format!("/projects/{id}/live")
    }

    /// A project's releases.
    pub fn releases(id: i64) -> String {
        format!("/projects/{id}/releases")
    }

    /// A project's alerts.
    pub fn alerts(id: i64) -> String {
        format!("/projects/{id}/alerts")
    }

    /// One alert of a project.
    pub fn alert(project_id: i64, alert_id: i64) -> String {
        format!("/projects/{project_id}/alerts/{alert_id}")
    }

    /// A project's alert rules.
    pub fn alert_rules(id: i64) -> String {
        format!("/projects/{id}/alerts/rules")
    }

    /// One alert rule of a project (its form).
    pub fn alert_rule(project_id: i64, rule_id: i64) -> String {
        format!("/projects/{project_id}/alerts/rules/{rule_id}")
    }

    /// A project's stream, the API's WebSocket that the live parts of pages connect to.
    pub fn stream(id: i64) -> String {
        format!("/api/v1/projects/{id}/stream")
    }

    /// A project's settings.
    pub fn settings(id: i64) -> String {
        format!("/projects/{id}/settings")
    }

    /// Creating a project in an organization.
    pub fn new_project(org_slug: &str) -> String {
        format!("/orgs/{org_slug}/projects/new")
    }

    /// An organization's members.
    pub fn members(org_slug: &str) -> String {
        format!("/orgs/{org_slug}/members")
    }

    /// An answer (`accept` or `decline`) to one of the user's invitations.
    pub fn invitation(id: i64, answer: &str) -> String {
        format!("/me/invitations/{id}/{answer}")
    }
}

/// `GET /`: a signed-in user's first project (or where to create one); the sign-in page for
/// everyone else (through the 401 the extractor answers).
async fn home(
    State(state): State<AppState>,
    layout: Layout,
    user: SignedIn,
) -> Result<Redirect, HtmlError> {
    let target = context::landing(&state, &user).await?;
    Ok(Redirect::to(&layout.url(&target)))
}

/// A fallback for the whole app: unknown paths get the HTML 404 page when a browser asks
/// (`Accept: text/html`) and the API's JSON 404 otherwise. Paths under `/api/` answer JSON
/// whatever the client accepts: they belong to the API and the SDKs, whose clients parse it.
pub async fn fallback(State(state): State<AppState>, request: Request) -> Response {
    let prefix = state.public_url().path().trim_end_matches('/');
    let path = request.uri().path();
    let local = path.strip_prefix(prefix).unwrap_or(path);
    if local.starts_with("/api/") || path.starts_with("/api/") {
        return ApiError::NotFound("no such route".into()).into_response();
    }
    let error = ApiError::NotFound("there is no page at this address".into());
    let wants_html = request
        .headers()
        .get_all(header::ACCEPT)
        .iter()
        .any(|v| v.to_str().is_ok_and(|v| v.contains("text/html")));
    if wants_html {
        HtmlError(error).respond(Layout::new(state.public_url().path()), Some(request.uri()))
    } else {
        error.into_response()
    }
}

/// Implements `IntoResponse` for a page struct: rendered as `200 OK` HTML with the dashboard's
/// headers; a template that fails to render (a bug) answers the 500 page.
macro_rules! impl_page {
    ($page:ty) => {
        impl ::axum::response::IntoResponse for $page {
            fn into_response(self) -> ::axum::response::Response {
                $crate::dashboard::render(::axum::http::StatusCode::OK, &self)
            }
        }
    };
}
pub(crate) use impl_page;

/// Renders `page` as an HTML response with `status`.
pub(crate) fn render<T: askama::Template>(status: StatusCode, page: &T) -> Response {
    match page.render() {
        Ok(html) => html_response(status, html),
        Err(e) => {
            HtmlError(ApiError::Internal(format!("rendering a page failed: {e}"))).into_response()
        }
    }
}

/// The Content-Security-Policy of every page: our own scripts, styles and images only (inline
/// SVG is markup, not an image, so charts are unaffected), forms posting only to us, no framing.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

fn html_response(status: StatusCode, html: String) -> Response {
    let mut response = (status, html).into_response();
    let headers = response.headers_mut();
    let set = [
        (header::CONTENT_TYPE, "text/html; charset=utf-8"),
        // Pages show private data: a shared cache must not keep them, a browser must revalidate.
        (header::CACHE_CONTROL, "private, no-cache"),
        (header::CONTENT_SECURITY_POLICY, CSP),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "same-origin"),
        (header::X_FRAME_OPTIONS, "DENY"),
    ];
    for (name, value) in set {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// The dashboard's layer: refuses cross-site form submissions, and completes error pages with the
/// request's context (the path prefix; for a 401, the page to return to after signing in).
async fn finish(State(base): State<Arc<str>>, request: Request, next: Next) -> Response {
    if !is_safe(request.method()) && is_cross_site(request.headers()) {
        let refused = HtmlError(ApiError::Forbidden(
            "this form was submitted from another site".into(),
        ));
        return refused.respond(Layout::new(&base), None);
    }
    // Only a page can be returned to after signing in: a form's target answers POST alone.
    let back = is_safe(request.method()).then(|| request.uri().clone());
    let response = next.run(request).await;
    complete(response, &base, back.as_ref())
}

fn complete(response: Response, base: &str, back: Option<&axum::http::Uri>) -> Response {
    match response.extensions().get::<error::ErrorInfo>() {
        // Rendered without a prefix and without a way back; a 200 page is already complete.
        Some(info) if !base.is_empty() || info.status() == StatusCode::UNAUTHORIZED => {
            info.respond(Layout::new(base), back)
        }
        _ => response,
    }
}

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Whether a request comes from a page of another site. Browsers since 2023 send
/// `Sec-Fetch-Site`; older ones send `Origin` on POST, compared with `Host`. A request with
/// neither is not from a browser form (the session cookie's `SameSite` covers the rest).
fn is_cross_site(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site") {
        return !matches!(site.as_bytes(), b"same-origin" | b"none");
    }
    if headers.get(header::ORIGIN).is_none() {
        return false;
    }
    !origin_is_host(headers)
}

/// Whether the request's `Origin` names the host the browser addressed (`Host`): a page of
/// this server. False without an `Origin`.
pub(crate) fn origin_is_host(headers: &HeaderMap) -> bool {
    let host = headers.get(header::HOST).map(HeaderValue::as_bytes);
    let origin_host = headers
        .get(header::ORIGIN)
        .and_then(|o| o.to_str().ok())
        .and_then(|o| o.split_once("://"))
        .map(|(_, authority)| authority.as_bytes());
    origin_host.is_some() && origin_host == host
}

#[cfg(test)]
mod tests;
