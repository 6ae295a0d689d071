//! Creating organizations and projects (UI-07). Any signed-in user may create an organization
//! (and becomes its owner); creating a project takes the admin role in its organization, as in
//! the API. A new project comes with a key, and its overview shows how to send the first event.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use mesher_store::{Organization, Role, Scope};
use serde::Deserialize;

use super::context::{Notice, chrome, done};
use super::extract::{PagePath, PageQuery, Posted, SignedIn};
use super::issues::Choice;
use super::layout::Layout;
use super::snippets::PLATFORMS;
use super::{HtmlError, impl_page, paths, render};
use crate::error::ApiError;
use crate::ops::{self, Ops};
use crate::state::AppState;

/// The form creating an organization.
#[derive(Template)]
#[template(path = "org_new.html")]
pub struct NewOrgPage {
    layout: Layout,
    notice: Option<Notice>,
    name: String,
    action: String,
}
impl_page!(NewOrgPage);

/// The form creating a project.
#[derive(Template)]
#[template(path = "project_new.html")]
pub struct NewProjectPage {
    layout: Layout,
    notice: Option<Notice>,
    org_name: String,
    name: String,
    platforms: Vec<Choice>,
    action: String,
}
impl_page!(NewProjectPage);

/// The query of the new-project page.
#[derive(Debug, Deserialize)]
pub(super) struct NewProjectQuery {
    done: Option<String>,
}

async fn org_page(
    state: &AppState,
    user: &SignedIn,
    layout: Layout,
    notice: Option<Notice>,
    name: &str,
) -> Result<NewOrgPage, HtmlError> {
    let chrome = chrome(state, user, None).await?;
    Ok(NewOrgPage {
        action: layout.url(paths::NEW_ORG),
        layout: layout.titled("New organization").with_user(chrome),
        notice,
        name: name.to_string(),
    })
}

/// `GET /orgs/new`.
pub(super) async fn new_org(
    State(state): State<AppState>,
    layout: Layout,
    user: SignedIn,
) -> Result<NewOrgPage, HtmlError> {
    org_page(&state, &user, layout, None, "").await
}

/// `POST /orgs/new` (`name`): the organization, with the user as its owner.
pub(super) async fn create_org(
    State(state): State<AppState>,
    layout: Layout,
    Posted { user, form }: Posted,
) -> Result<Response, HtmlError> {
    let name = form.text("name");
    let org = match ops::orgs::create_org(Ops::Node(&state), (&user.caller).into(), name, None)
        .await
    {
        Ok(org) => org,
        Err(e) => {
            let error = ApiError::from(e);
            let status = error.status();
            if status != StatusCode::BAD_REQUEST && status != StatusCode::CONFLICT {
                return Err(error.into());
            }
            let message = match error {
                ApiError::Conflict(_) => {
                    format!(
                        "An organization named like {name:?} exists already; choose another name."
                    )
                }
                other => other.public_message(),
            };
            let page = org_page(&state, &user, layout, Some(Notice::error(message)), name).await?;
            return Ok(render(status, &page));
        }
    };
    let target = done(&paths::new_project(&org.slug), "org-created");
    Ok(Redirect::to(&layout.url(&target)).into_response())
}

/// The organization named by `slug` where the user is an admin: 404 for non-members (and
/// unknown slugs), 403 for members.
async fn admin_org(
    state: &AppState,
    user: &SignedIn,
    slug: &str,
) -> Result<Organization, HtmlError> {
    let actor = (&user.caller).into();
    let (org, _) = ops::orgs::org(Ops::Node(state), actor, slug, Scope::Admin, Role::Admin).await?;
    Ok(org)
}

async fn project_page(
    state: &AppState,
    user: &SignedIn,
    layout: Layout,
    org: &Organization,
    notice: Option<Notice>,
    name: &str,
    platform: &str,
) -> Result<NewProjectPage, HtmlError> {
    let chrome = chrome(state, user, None).await?;
    Ok(NewProjectPage {
        action: layout.url(&paths::new_project(&org.slug)),
        layout: layout
            .titled(format!("New project · {}", org.name))
            .with_user(chrome),
        notice,
        org_name: org.name.clone(),
        name: name.to_string(),
        platforms: PLATFORMS
            .iter()
            .map(|&(value, label)| Choice {
                value: value.into(),
                label: label.into(),
                selected: value == platform,
            })
            .collect(),
    })
}

/// `GET /orgs/{slug}/projects/new`.
pub(super) async fn new_project(
    State(state): State<AppState>,
    layout: Layout,
    user: SignedIn,
    PagePath(slug): PagePath<String>,
    PageQuery(q): PageQuery<NewProjectQuery>,
) -> Result<NewProjectPage, HtmlError> {
    let org = admin_org(&state, &user, &slug).await?;
    let notice = Notice::from_done(q.done.as_deref());
    project_page(&state, &user, layout, &org, notice, "", "python").await
}

/// `POST /orgs/{slug}/projects/new` (`name`, `platform`): the project and its first key, then
/// its overview, which shows the DSN.
pub(super) async fn create_project(
    State(state): State<AppState>,
    layout: Layout,
    PagePath(slug): PagePath<String>,
    Posted { user, form }: Posted,
) -> Result<Response, HtmlError> {
    let org = admin_org(&state, &user, &slug).await?;
    let (name, platform) = (form.text("name"), form.text("platform"));
    let known = PLATFORMS.iter().any(|(p, _)| *p == platform);
    let created = ops::projects::create_project(
        Ops::Node(&state),
        (&user.caller).into(),
        &org,
        name,
        None,
        known.then_some(platform),
    )
    .await;
    match created {
        Ok((project, _)) => {
            Ok(Redirect::to(&layout.url(&paths::project(project.id))).into_response())
        }
        Err(e) => {
            let error = ApiError::from(e);
            let status = error.status();
            if status != StatusCode::BAD_REQUEST && status != StatusCode::CONFLICT {
                return Err(error.into());
            }
            let message = match error {
                ApiError::Conflict(_) => format!(
                    "{} already has a project named like {name:?}; choose another name.",
                    org.name
                ),
                other => other.public_message(),
            };
            let notice = Some(Notice::error(message));
            let page = project_page(&state, &user, layout, &org, notice, name, platform).await?;
            Ok(render(status, &page))
        }
    }
}
