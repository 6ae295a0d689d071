//! A project's settings: name, platform, retention, sample rate and rate limit; data scrubbing
//! (issue 11: on/off, IP addresses, sensitive and safe fields); client keys
//! with their DSNs and setup snippets; usage and outcomes (RETAIN-04: what became of the
//! events, per reason, with the per-issue hourly cap among the settings); deleting the project. Members read them; only
//! admins of the organization change them (the form is shown disabled to others, and the
//! actions answer 403 as the API does).

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use mesher_store::{OutcomeCount, Project, ProjectUpdate, Role, Scope, StoreError};
use serde::Deserialize;

use super::context::{Notice, ProjectScope, done};
use super::extract::{FieldErrors, FormFields, PagePath, PageQuery, Posted, SignedIn};
use super::format::{self, When, count};
use super::issues::Choice;
use super::layout::{Layout, Nav};
use super::overview::Setup;
use super::snippets::{self, PLATFORMS};
use super::{HtmlError, impl_page, paths, render};
use crate::accounts;
use crate::api::outcomes::{REASONS, totals};
use crate::error::ApiError;
use crate::ops::projects::{KeyRef, field_list};
use crate::ops::{self, Ops};
use crate::state::AppState;

/// The settings page.
#[derive(Template)]
#[template(path = "settings.html")]
pub struct SettingsPage {
    layout: Layout,
    notice: Option<Notice>,
    can_admin: bool,
    form: ProjectForm,
    platforms: Vec<Choice>,
    keys: Vec<KeyRow>,
    setup: Setup,
    events: String,
    issues: String,
    /// What the stored events take (RETAIN-03).
    storage: String,
    /// Events before this were deleted by retention.
    expired_before: Option<When>,
    /// What became of the project's events (RETAIN-04).
    outcomes: Vec<OutcomeRow>,
    org_name: String,
    slug: String,
    members_href: String,
    tokens_href: String,
    save_action: String,
    key_action: String,
    delete_action: String,
}
impl_page!(SettingsPage);

/// The project form's values: the stored ones, or what was typed when saving failed.
#[derive(Debug, Clone)]
pub struct ProjectForm {
    name: String,
    platform: String,
    retention_days: String,
    sample_rate: String,
    rate_limit: String,
    /// Empty: no cap.
    issue_cap: String,
    scrub_data: bool,
    scrub_ip_addresses: bool,
    /// One entry per line.
    sensitive_fields: String,
    /// One entry per line.
    safe_fields: String,
    /// What is wrong with the values, when saving them failed.
    errors: FieldErrors,
}

impl ProjectForm {
    fn of(project: &Project) -> ProjectForm {
        ProjectForm {
            name: project.name.clone(),
            platform: project.platform.clone().unwrap_or_default(),
            retention_days: project.retention_days.to_string(),
            sample_rate: project.sample_rate.to_string(),
            rate_limit: project.rate_limit_per_minute.to_string(),
            issue_cap: project
                .max_events_per_issue_per_hour
                .map(|k| k.to_string())
                .unwrap_or_default(),
            scrub_data: project.scrub_data,
            scrub_ip_addresses: project.scrub_ip_addresses,
            sensitive_fields: project.sensitive_fields.join("\n"),
            safe_fields: project.safe_fields.join("\n"),
            errors: FieldErrors::default(),
        }
    }

    fn posted(form: &FormFields) -> ProjectForm {
        ProjectForm {
            name: form.text("name").to_string(),
            platform: form.text("platform").to_string(),
            retention_days: form.text("retention_days").to_string(),
            sample_rate: form.text("sample_rate").to_string(),
            rate_limit: form.text("rate_limit_per_minute").to_string(),
            issue_cap: form.text("max_events_per_issue_per_hour").to_string(),
            scrub_data: form.get("scrub_data").is_some(),
            scrub_ip_addresses: form.get("scrub_ip_addresses").is_some(),
            sensitive_fields: form.text("sensitive_fields").to_string(),
            safe_fields: form.text("safe_fields").to_string(),
            errors: FieldErrors::default(),
        }
    }
}

/// One reason's events over the last day and the last 30 days.
pub struct OutcomeRow {
    label: String,
    day: String,
    month: String,
}

impl OutcomeRow {
    /// Every reason of the API's contract, then any other that occurred, with their counts.
    fn all(day: &[OutcomeCount], month: &[OutcomeCount]) -> Vec<OutcomeRow> {
        let (day, month) = (totals(day), totals(month));
        let mut reasons: Vec<&str> = REASONS.to_vec();
        reasons.extend(
            month
                .keys()
                .map(String::as_str)
                .filter(|r| !REASONS.contains(r)),
        );
        reasons
            .into_iter()
            .map(|reason| OutcomeRow {
                label: outcome_label(reason).to_string(),
                day: count(day.get(reason).copied().unwrap_or(0)),
                month: count(month.get(reason).copied().unwrap_or(0)),
            })
            .collect()
    }
}

/// How the page names an outcome.
fn outcome_label(reason: &str) -> &str {
    match reason {
        "accepted" => "Accepted (stored)",
        "rate_limited" => "Rate limited",
        "sampled" => "Sampled out",
        "invalid" => "Invalid",
        "too_large" => "Too large",
        "discarded" => "Discarded issue",
        "capped" => "Over the per-issue cap",
        "queue_full" => "Server busy",
        other => other,
    }
}

/// A client key.
pub struct KeyRow {
    label: String,
    dsn: String,
    field_id: String,
    created: When,
    revoked: Option<When>,
    revoke_action: String,
}

/// The query of the settings page.
#[derive(Debug, Deserialize)]
pub(super) struct SettingsQuery {
    done: Option<String>,
}

/// `GET /projects/{id}/settings`.
pub(super) async fn page(
    State(state): State<AppState>,
    layout: Layout,
    user: SignedIn,
    PagePath(id): PagePath<i64>,
    PageQuery(q): PageQuery<SettingsQuery>,
) -> Result<SettingsPage, HtmlError> {
    load(
        &state,
        &user,
        layout,
        id,
        Notice::from_done(q.done.as_deref()),
        None,
    )
    .await
}

async fn load(
    state: &AppState,
    user: &SignedIn,
    layout: Layout,
    id: i64,
    notice: Option<Notice>,
    typed: Option<ProjectForm>,
) -> Result<SettingsPage, HtmlError> {
    let scope = ProjectScope::load(state, user, layout, id, Nav::Settings, "Settings").await?;
    let store = state.store();
    let now = mesher_store::now();
    let zone = &user.zone;
    let (keys, (events, issues), storage, day, month) = tokio::try_join!(
        store.list_keys(id),
        store.project_counts(id),
        store.project_storage(id),
        store.project_outcomes(id, now - time::Duration::days(1), now),
        store.project_outcomes(id, now - time::Duration::days(30), now),
    )?;
    let l = &scope.layout;
    let here = paths::settings(id);
    let form = typed.unwrap_or_else(|| ProjectForm::of(&scope.project));
    let mut platforms = vec![Choice {
        value: String::new(),
        label: "Not set".into(),
        selected: form.platform.is_empty(),
    }];
    platforms.extend(PLATFORMS.iter().map(|&(value, label)| Choice {
        value: value.into(),
        label: label.into(),
        selected: value == form.platform,
    }));
    let mut setup = Setup::load(state, l, &scope.project).await?;
    // The settings page shows every key's DSN already; the snippets need ids of their own.
    if let Some(dsn) = &setup.dsn {
        setup.snippets = snippets::for_dsn(dsn, scope.project.platform.as_deref(), "settings");
    }
    Ok(SettingsPage {
        notice,
        can_admin: scope.can_admin(),
        form,
        platforms,
        keys: keys
            .iter()
            .map(|k| KeyRow {
                label: k.label.clone(),
                dsn: accounts::dsn(state.public_url(), &k.public_key, id),
                field_id: format!("dsn-{}", k.id),
                created: zone.when(k.created_at, now),
                revoked: k.revoked_at.map(|t| zone.when(t, now)),
                revoke_action: l.url(&format!("/projects/{id}/keys/{}/revoke", k.id)),
            })
            .collect(),
        setup,
        events: count(events),
        issues: count(issues),
        storage: format::bytes(storage.bytes),
        expired_before: storage.expired_before.map(|t| zone.when(t, now)),
        outcomes: OutcomeRow::all(&day, &month),
        org_name: scope.org.name.clone(),
        slug: scope.project.slug.clone(),
        members_href: l.url(&paths::members(&scope.org.slug)),
        tokens_href: l.url(paths::TOKENS),
        save_action: l.url(&here),
        key_action: l.url(&format!("/projects/{id}/keys")),
        delete_action: l.url(&format!("/projects/{id}/delete")),
        layout: scope.layout,
    })
}

/// The settings page again with an error, as a 400 (or the error's own status).
async fn failed(
    state: &AppState,
    user: &SignedIn,
    layout: Layout,
    id: i64,
    error: ApiError,
    typed: Option<ProjectForm>,
) -> Result<Response, HtmlError> {
    let status = error.status();
    if !(status == StatusCode::BAD_REQUEST || status == StatusCode::CONFLICT) {
        return Err(error.into());
    }
    let notice = Some(Notice::error(error.public_message()));
    let page = load(state, user, layout, id, notice, typed).await?;
    Ok(render(status, &page))
}

/// `POST /projects/{id}/settings`: saves the project form (admins).
pub(super) async fn save(
    State(state): State<AppState>,
    layout: Layout,
    PagePath(id): PagePath<i64>,
    Posted { user, form }: Posted,
) -> Result<Response, HtmlError> {
    // Refused before the form is read: a member learns nothing from a validation message.
    user.caller
        .project(&state, id, Scope::Admin, Role::Admin)
        .await?;
    let mut typed = ProjectForm::posted(&form);
    let update = match parse_update(&form) {
        Ok(update) => update,
        Err(errors) => {
            let notice = Some(Notice::error(errors.summary()));
            typed.errors = errors;
            let page = load(&state, &user, layout, id, notice, Some(typed)).await?;
            return Ok(render(StatusCode::BAD_REQUEST, &page));
        }
    };
    let actor = (&user.caller).into();
    if let Err(e) = ops::projects::update_project(Ops::Node(&state), actor, id, &update).await {
        return failed(&state, &user, layout, id, e.into(), Some(typed)).await;
    }
    Ok(Redirect::to(&layout.url(&done(&paths::settings(id), "saved"))).into_response())
}

fn parse_update(form: &FormFields) -> Result<ProjectUpdate, FieldErrors> {
    let mut errors = FieldErrors::default();
    let platform = form.text("platform");
    if !platform.is_empty() && !PLATFORMS.iter().any(|(p, _)| *p == platform) {
        errors.add("platform", "Choose a platform from the list.");
    }
    let mut update = ProjectUpdate {
        name: Some(form.text("name").to_string()),
        platform: Some(Some(platform.to_string()).filter(|p| !p.is_empty())),
        retention_days: form.parse_field(
            "retention_days",
            &mut errors,
            "Retention must be a whole number of days.",
        ),
        sample_rate: form.parse_field(
            "sample_rate",
            &mut errors,
            "Sample rate must be a number from 0 to 1, such as 0.25.",
        ),
        rate_limit_per_minute: form.parse_field(
            "rate_limit_per_minute",
            &mut errors,
            "Rate limit must be a whole number of events per minute.",
        ),
        ..ProjectUpdate::default()
    };
    // Only a form that has the field may change the cap; empty removes it.
    if form.get("max_events_per_issue_per_hour").is_some() {
        let typed = form.text("max_events_per_issue_per_hour").trim();
        update.max_events_per_issue_per_hour = if typed.is_empty() {
            Some(None)
        } else {
            match typed.parse() {
                Ok(k) => Some(Some(k)),
                Err(_) => {
                    errors.add(
                        "max_events_per_issue_per_hour",
                        "Per-issue cap must be a whole number of events, or empty for no cap.",
                    );
                    None
                }
            }
        };
    }
    // Unchecked boxes send nothing: only a form that has the scrubbing section (marked by a
    // hidden field) may turn scrubbing off, never an older or hand-made form that lacks it.
    if form.get("scrubbing").is_some() {
        update.scrub_data = Some(form.get("scrub_data").is_some());
        update.scrub_ip_addresses = Some(form.get("scrub_ip_addresses").is_some());
        update.sensitive_fields = Some(field_list(form.text("sensitive_fields")));
        update.safe_fields = Some(field_list(form.text("safe_fields")));
    }
    // The store's rules, with their messages, before anything is written: one field at a time,
    // since `validate` stops at the first broken one and the form shows them all.
    let one_field = [
        ProjectUpdate {
            name: update.name.clone(),
            ..ProjectUpdate::default()
        },
        ProjectUpdate {
            retention_days: update.retention_days,
            ..ProjectUpdate::default()
        },
        ProjectUpdate {
            sample_rate: update.sample_rate,
            ..ProjectUpdate::default()
        },
        ProjectUpdate {
            rate_limit_per_minute: update.rate_limit_per_minute,
            ..ProjectUpdate::default()
        },
        ProjectUpdate {
            max_events_per_issue_per_hour: update.max_events_per_issue_per_hour,
            ..ProjectUpdate::default()
        },
        ProjectUpdate {
            sensitive_fields: update.sensitive_fields.clone(),
            ..ProjectUpdate::default()
        },
        ProjectUpdate {
            safe_fields: update.safe_fields.clone(),
            ..ProjectUpdate::default()
        },
    ];
    for single in one_field {
        if let Err(StoreError::Invalid { field, message }) = single.validate() {
            errors.add(field, sentence(field, &message));
        }
    }
    if errors.is_empty() {
        Ok(update)
    } else {
        Err(errors)
    }
}

/// The store's message about `field` (`must be between 1 and 3650`) as a sentence that names
/// the field as the form labels it.
fn sentence(field: &str, message: &str) -> String {
    let label = match field {
        "name" => "Name",
        "retention_days" => "Retention",
        "sample_rate" => "Sample rate",
        "rate_limit_per_minute" => "Rate limit",
        "max_events_per_issue_per_hour" => "Per-issue cap",
        "sensitive_fields" => "Additional sensitive fields",
        "safe_fields" => "Safe fields",
        other => other,
    };
    let joint = if message.starts_with("must") {
        " "
    } else {
        ": "
    };
    format!("{label}{joint}{message}.")
}

/// `POST /projects/{id}/keys`: a new client key (admins).
pub(super) async fn create_key(
    State(state): State<AppState>,
    layout: Layout,
    PagePath(id): PagePath<i64>,
    Posted { user, form }: Posted,
) -> Result<Redirect, HtmlError> {
    let label = Some(form.text("label"));
    ops::projects::create_key(Ops::Node(&state), (&user.caller).into(), id, label).await?;
    Ok(Redirect::to(&layout.url(&format!(
        "{}#keys",
        done(&paths::settings(id), "key-created")
    ))))
}

/// `POST /projects/{id}/keys/{key}/revoke`: events sent with the key are refused from now on
/// (admins).
pub(super) async fn revoke_key(
    State(state): State<AppState>,
    layout: Layout,
    PagePath((id, key_id)): PagePath<(i64, i64)>,
    Posted { user, .. }: Posted,
) -> Result<Redirect, HtmlError> {
    let key = KeyRef::Id {
        project_id: id,
        id: key_id,
    };
    ops::projects::revoke_key(Ops::Node(&state), (&user.caller).into(), key).await?;
    Ok(Redirect::to(&layout.url(&format!(
        "{}#keys",
        done(&paths::settings(id), "key-revoked")
    ))))
}

/// `POST /projects/{id}/delete`: the project with its keys, issues and events (admins), once
/// its slug is typed to confirm.
pub(super) async fn delete_project(
    State(state): State<AppState>,
    layout: Layout,
    PagePath(id): PagePath<i64>,
    Posted { user, form }: Posted,
) -> Result<Response, HtmlError> {
    let project = user
        .caller
        .project(&state, id, Scope::Admin, Role::Admin)
        .await?;
    if form.text("confirm") != project.slug {
        let error = ApiError::BadRequest(format!(
            "Type the project's slug, {}, to confirm the deletion.",
            project.slug
        ));
        return failed(&state, &user, layout, id, error, None).await;
    }
    ops::projects::delete_project(Ops::Node(&state), (&user.caller).into(), id).await?;
    Ok(Redirect::to(&layout.url("/")).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> FormFields {
        let encoded = super::super::format::query(pairs.iter().copied());
        let pairs = url::form_urlencoded::parse(encoded.trim_start_matches('?').as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect::<Vec<_>>();
        FormFields::from_pairs(pairs)
    }

    #[test]
    fn the_project_form_is_checked_before_saving() {
        let good = [
            ("name", "Web"),
            ("platform", "python"),
            ("retention_days", "30"),
            ("sample_rate", "0.5"),
            ("rate_limit_per_minute", "0"),
        ];
        let update = parse_update(&form(&good)).unwrap();
        assert_eq!(update.retention_days, Some(30));
        assert_eq!(update.platform, Some(Some("python".into())));
        let mut bad = good;
        bad[2] = ("retention_days", "9999");
        assert!(parse_update(&form(&bad)).is_err());
        let mut bad = good;
        bad[3] = ("sample_rate", "abc");
        assert!(parse_update(&form(&bad)).is_err());
        let mut bad = good;
        bad[1] = ("platform", "cobol");
        assert!(parse_update(&form(&bad)).is_err());
    }
}
