//! The management API under `/api/v1` (everything but ingestion): JSON, ISO-8601 UTC times, one
//! error shape `{"error": {"code", "message"}}`, keyset pagination with opaque cursors, and an
//! OpenAPI 3 document generated from the handlers at `GET /api/v1/openapi.json`.
//!
//! Authentication is an API token (`Authorization: Bearer mshr_…`) or the dashboard's session
//! cookie (with `X-CSRF-Token` on changes); see [`auth`]. Every resource belongs to an
//! organization: a caller outside it gets 404, a member whose role or token scope is too low
//! gets 403.

mod alerts;
mod archive;
pub mod artifacts;
pub mod auth;
mod cluster;
mod deploys;
mod events;
pub mod extract;
mod invitations;
mod issues;
pub mod models;
mod orgs;
pub mod outcomes;
mod projects;
mod releases;
mod session;
mod stats;
mod stream;
mod tokens;

use std::sync::LazyLock;

use axum::Router;
use axum::routing::get;
use mesher_store::Bucket;
use time::OffsetDateTime;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use self::extract::QueryPairs;
use crate::error::ApiError;
use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(title = "Mesher API", description = "Issues, events, statistics, projects and accounts of a Mesher server."),
    components(schemas(models::ErrorBody, models::ErrorDetail)),
    security(("bearer" = []), ("session" = [])),
)]
struct ApiDoc;

/// Adds what every operation shares: the authentication schemes and the error responses. It runs
/// on the finished document (the router adds the paths after `ApiDoc::openapi()`).
struct Conventions;

impl Modify for Conventions {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        let components = api.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("mshr_…")
                    .build(),
            ),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(crate::sessions::COOKIE))),
        );
        let errors = [
            ("400", "The request is malformed"),
            ("401", "Not signed in, or the token is invalid"),
            ("403", "The role or the token's scope does not allow this"),
            ("404", "No such resource, or not visible to the caller"),
            ("409", "It already exists, or the change would break a rule"),
            ("429", "Too many attempts; see Retry-After"),
            ("503", "Temporarily unavailable; see Retry-After"),
        ];
        for item in api.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.post,
                &mut item.patch,
                &mut item.put,
                &mut item.delete,
            ];
            for op in operations.into_iter().flatten() {
                for (status, description) in errors {
                    op.responses
                        .responses
                        .entry(status.to_string())
                        .or_insert_with(|| {
                            ResponseBuilder::new()
                                .description(description)
                                .content(
                                    "application/json",
                                    ContentBuilder::new()
                                        .schema(Some(Ref::from_schema_name("ErrorBody")))
                                        .build(),
                                )
                                .build()
                                .into()
                        });
                }
            }
        }
    }
}

fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(session::login))
        .routes(routes!(session::logout))
        .routes(routes!(session::me, session::update_me))
        .routes(routes!(session::change_password))
        .routes(routes!(tokens::list, tokens::create))
        .routes(routes!(tokens::revoke))
        .routes(routes!(invitations::list))
        .routes(routes!(invitations::accept))
        .routes(routes!(invitations::decline))
        .routes(routes!(orgs::list, orgs::create))
        .routes(routes!(orgs::get))
        .routes(routes!(orgs::members, orgs::add_member))
        .routes(routes!(orgs::set_role, orgs::remove_member))
        .routes(routes!(orgs::invitations))
        .routes(routes!(orgs::revoke_invitation))
        .routes(routes!(projects::list_in_org, projects::create))
        .routes(routes!(projects::list))
        .routes(routes!(projects::get, projects::update, projects::delete))
        .routes(routes!(projects::keys, projects::create_key))
        .routes(routes!(projects::revoke_key))
        .routes(routes!(issues::list))
        .routes(routes!(issues::get, issues::delete))
        .routes(routes!(issues::set_status))
        .routes(routes!(issues::assign))
        .routes(routes!(issues::activity))
        .routes(routes!(issues::events))
        .routes(routes!(issues::tags))
        .routes(routes!(issues::timeline))
        .routes(routes!(events::list))
        .routes(routes!(events::get))
        .routes(routes!(events::raw))
        .routes(routes!(events::grouping))
        .routes(routes!(stats::volume))
        .routes(routes!(stats::levels))
        .routes(routes!(stats::top_issues))
        .routes(routes!(stats::tags))
        .routes(routes!(stats::health))
        .routes(routes!(outcomes::outcomes))
        .routes(routes!(cluster::get))
        .routes(routes!(alerts::list_rules, alerts::create_rule))
        .routes(routes!(
            alerts::get_rule,
            alerts::update_rule,
            alerts::delete_rule
        ))
        .routes(routes!(alerts::send_test))
        .routes(routes!(alerts::list_alerts))
        .routes(routes!(alerts::get_alert, alerts::set_alert_state))
}

/// The OpenAPI document of every route, built once.
static OPENAPI: LazyLock<String> = LazyLock::new(|| {
    let (_, mut api) = api_router().split_for_parts();
    Conventions.modify(&mut api);
    api.to_json()
        .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
});

/// The OpenAPI document, as JSON.
pub fn openapi_json() -> &'static str {
    &OPENAPI
}

async fn openapi() -> impl axum::response::IntoResponse {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        openapi_json(),
    )
}

/// The management routes.
pub fn routes() -> Router<AppState> {
    let (router, _) = api_router().split_for_parts();
    router
        .route("/api/v1/openapi.json", get(openapi))
        .route("/api/v1/projects/{project_id}/stream", get(stream::stream))
        .merge(artifacts::routes())
        .merge(releases::routes())
        .merge(deploys::routes())
}

/// `since`/`until` of a list or chart: the last 24 hours unless given (SEARCH-04).
pub fn default_range(q: &QueryPairs) -> Result<(OffsetDateTime, OffsetDateTime), ApiError> {
    let until = q.time("until")?.unwrap_or_else(mesher_store::now);
    let since = q
        .time("since")?
        .unwrap_or(until - time::Duration::hours(24));
    if since >= until {
        return Err(ApiError::BadRequest("since: must be before until".into()));
    }
    Ok((since, until))
}

/// The bucket of a chart: as asked, else hours up to three days and days beyond.
pub fn bucket(
    q: &QueryPairs,
    since: OffsetDateTime,
    until: OffsetDateTime,
) -> Result<Bucket, ApiError> {
    Ok(q.parse("bucket", |v| match v {
        "hour" => Some(Bucket::Hour),
        "day" => Some(Bucket::Day),
        _ => None,
    })?
    .unwrap_or_else(|| issues::default_bucket(since, until)))
}
