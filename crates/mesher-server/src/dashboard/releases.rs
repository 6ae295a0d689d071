//! A project's releases, newest first: when each was first seen and released (`sentry-cli
//! releases finalize`), the commits `sentry-cli releases set-commits` gave it and where
//! `sentry-cli deploys new` sent it, with a link to its issues. Releases, commits and deploys come from the build pipeline (`api/releases.rs`,
//! `api/deploys.rs`) and from events.

use askama::Template;
use axum::extract::State;
use url::form_urlencoded;

use super::context::ProjectScope;
use super::extract::{PagePath, SignedIn};
use super::format::{When, truncate};
use super::layout::{Layout, Nav};
use super::{HtmlError, impl_page, paths};
use crate::state::AppState;

/// Releases the page lists (the newest).
const ROWS: usize = 50;
/// A commit's first line is cut to this many characters.
const SUBJECT_CHARS: usize = 72;

/// The Releases page.
#[derive(Template)]
#[template(path = "releases.html")]
pub struct ReleasesPage {
    layout: Layout,
    rows: Vec<ReleaseRow>,
    /// The build script's commands for this project, shown while it has no release.
    pipeline: String,
    /// The most rows shown.
    limit: usize,
}
impl_page!(ReleasesPage);

/// One release's row.
pub struct ReleaseRow {
    version: String,
    first_seen: When,
    /// When `sentry-cli releases finalize` said it was released.
    released: Option<When>,
    issues_href: String,
    commit_count: u64,
    /// The newest commit: its short hash, first line and author.
    last_commit: Option<(String, String, Option<String>)>,
    deploy_count: u64,
    /// The newest deploy: its environment, name and when it finished.
    last_deploy: Option<(String, Option<String>, When)>,
}

/// `GET /projects/{id}/releases`.
pub(super) async fn page(
    State(state): State<AppState>,
    layout: Layout,
    user: SignedIn,
    PagePath(id): PagePath<i64>,
) -> Result<ReleasesPage, HtmlError> {
    let scope = ProjectScope::load(&state, &user, layout, id, Nav::Releases, "Releases").await?;
    let store = state.store();
    let now = mesher_store::now();
    let org = scope.org.id;
    let mut rows = Vec::new();
    for release in store.project_releases(id, ROWS).await? {
        let version = release.version;
        let (commit_count, commit) = store.commit_summary(org, &version).await?;
        let (deploy_count, deploy) = store.deploy_summary(org, &version).await?;
        rows.push(ReleaseRow {
            issues_href: scope.layout.url(&issues_of(id, &version)),
            first_seen: user.zone.when(release.first_seen, now),
            released: release.date_released.map(|at| user.zone.when(at, now)),
            commit_count,
            last_commit: commit.map(|c| {
                let subject = c.message.as_deref().unwrap_or("").lines().next();
                (
                    c.id.chars().take(12).collect(),
                    truncate(subject.unwrap_or(""), SUBJECT_CHARS),
                    c.author_name.or(c.author_email),
                )
            }),
            deploy_count,
            last_deploy: deploy
                .map(|d| (d.environment, d.name, user.zone.when(d.date_finished, now))),
            version,
        });
    }
    let to = format!("--org {} --project {}", scope.org.slug, scope.project.slug);
    Ok(ReleasesPage {
        rows,
        limit: ROWS,
        pipeline: format!(
            "sentry-cli releases new \"$VERSION\" {to}\n\
             sentry-cli releases set-commits \"$VERSION\" --auto {to}\n\
             sentry-cli releases finalize \"$VERSION\" {to}\n\
             sentry-cli deploys new --release \"$VERSION\" -e production {to}"
        ),
        layout: scope.layout,
    })
}

/// The issue list of any status filtered to one release.
fn issues_of(project_id: i64, version: &str) -> String {
    let query: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("status", "all")
        .append_pair("release", version)
        .finish();
    format!("{}?{query}", paths::issues(project_id))
}
