//! What a build pipeline records about a release besides its events and source maps: deploys
//! (`sentry-cli deploys new`) and commits (`sentry-cli releases set-commits`).

use time::OffsetDateTime;

/// The most commits one call may set on a release; more is refused, not cut. `sentry-cli`
/// sends 20 for a first release, then every commit since the previous release.
pub const MAX_RELEASE_COMMITS: usize = 10_000;

/// A project's release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectRelease {
    /// Its version.
    pub version: String,
    /// When the project first had it (its first event, or `sentry-cli releases new`).
    pub first_seen: OffsetDateTime,
    /// When it was released (`sentry-cli releases finalize`), if it was.
    pub date_released: Option<OffsetDateTime>,
}

/// A deploy to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDeploy<'a> {
    /// The organization the release belongs to.
    pub org_id: i64,
    /// The release deployed.
    pub version: &'a str,
    /// Where it went (`production`, `staging`).
    pub environment: &'a str,
    /// A name for the deploy, if given.
    pub name: Option<&'a str>,
    /// A link to the deploy, if given.
    pub url: Option<&'a str>,
    /// When it started, if known.
    pub date_started: Option<OffsetDateTime>,
    /// When it finished.
    pub date_finished: OffsetDateTime,
}

/// A recorded deploy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deploy {
    /// Its id, in the order deploys were recorded.
    pub id: i64,
    /// The release deployed.
    pub version: String,
    /// Where it went.
    pub environment: String,
    /// Its name, if given.
    pub name: Option<String>,
    /// Its link, if given.
    pub url: Option<String>,
    /// When it started, if known.
    pub date_started: Option<OffsetDateTime>,
    /// When it finished.
    pub date_finished: OffsetDateTime,
}

/// One commit of a release, as `sentry-cli` reads it from git.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseCommit {
    /// The commit's hash.
    pub id: String,
    /// The repository it is in, as the remote names it.
    pub repository: Option<String>,
    /// Its message.
    pub message: Option<String>,
    /// Its author's name.
    pub author_name: Option<String>,
    /// Its author's e-mail address.
    pub author_email: Option<String>,
    /// When it was committed.
    pub timestamp: Option<OffsetDateTime>,
}
