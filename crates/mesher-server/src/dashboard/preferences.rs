//! The signed-in user's preferences: the time zone their pages show times in (issue 19). By
//! default it is the browser's, which the script reports; a user who works in one zone while
//! travelling, or wants UTC to match their logs, chooses one here.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::context::{Notice, chrome, done};
use super::extract::{FieldErrors, PageQuery, Posted, SignedIn};
use super::issues::Choice;
use super::layout::Layout;
use super::zone::{self, ZoneSource};
use super::{HtmlError, impl_page, paths, render};
use crate::state::AppState;

/// The preferences page.
#[derive(Template)]
#[template(path = "preferences.html")]
pub struct PreferencesPage {
    layout: Layout,
    notice: Option<Notice>,
    action: String,
    /// The zone the pages use now, in words.
    current: String,
    /// An example: the time now, as pages show it.
    example: String,
    /// The first choice: the browser's zone.
    browser: Choice,
    zones: Vec<Choice>,
    errors: FieldErrors,
}
impl_page!(PreferencesPage);

/// The query of the preferences page.
#[derive(Debug, Deserialize)]
pub(super) struct PreferencesQuery {
    done: Option<String>,
}

async fn load(
    state: &AppState,
    user: &SignedIn,
    layout: Layout,
    notice: Option<Notice>,
    (typed, errors): (Option<&str>, FieldErrors),
) -> Result<PreferencesPage, HtmlError> {
    let chrome = chrome(state, user, None).await?;
    let chosen = typed.or(user.user.time_zone.as_deref()).unwrap_or_default();
    let zone = &user.zone;
    // The browser's zone is named when it is the one in use (no zone chosen).
    let browser_label = match zone.source() {
        ZoneSource::Browser => format!("Your browser's ({})", zone.name()),
        _ => "Your browser's".to_string(),
    };
    Ok(PreferencesPage {
        notice,
        action: layout.url(paths::PREFERENCES),
        current: zone.description(),
        example: zone.exact(mesher_store::now()),
        browser: Choice {
            value: String::new(),
            label: browser_label,
            selected: chosen.is_empty(),
        },
        zones: zone::names()
            .into_iter()
            .map(|name| Choice {
                selected: name == chosen,
                label: name.replace('_', " "),
                value: name,
            })
            .collect(),
        errors,
        layout: layout.titled("Preferences").with_user(chrome),
    })
}

/// `GET /me/preferences`.
pub(super) async fn page(
    State(state): State<AppState>,
    layout: Layout,
    user: SignedIn,
    PageQuery(q): PageQuery<PreferencesQuery>,
) -> Result<PreferencesPage, HtmlError> {
    let notice = Notice::from_done(q.done.as_deref());
    load(
        &state,
        &user,
        layout,
        notice,
        (None, FieldErrors::default()),
    )
    .await
}

/// `POST /me/preferences` (`time_zone`: an IANA name, or empty for the browser's).
pub(super) async fn save(
    State(state): State<AppState>,
    layout: Layout,
    Posted { user, form }: Posted,
) -> Result<Response, HtmlError> {
    let typed = form.text("time_zone");
    match zone::checked_name(typed) {
        Ok(name) => {
            state
                .store()
                .set_user_time_zone(user.user.id, name.as_deref())
                .await?;
            let to = layout.url(&done(paths::PREFERENCES, "preferences-saved"));
            Ok(Redirect::to(&to).into_response())
        }
        Err(message) => {
            let mut errors = FieldErrors::default();
            errors.add("time_zone", message);
            let page = load(&state, &user, layout, None, (Some(typed), errors)).await?;
            Ok(render(StatusCode::BAD_REQUEST, &page))
        }
    }
}
