//! Storage capabilities, one trait each, so that a component names what it needs.
//!
//! Both backends implement every trait; `tests/conformance.rs` runs one suite against both.

use async_trait::async_trait;

use std::sync::Arc;

use mesher_protocol::EventId;

use time::OffsetDateTime;

use crate::StoreResult;
use crate::alert_model::{
    Alert, AlertHistoryEntry, AlertRule, AlertRuleUpdate, AlertState, AlertTrigger, AttemptResult,
    Delivery, DeliveryAttempt, Firing, NewAlertRule,
};
use crate::artifact_model::{NewBundle, SourceMapArtifact};
use crate::cluster::ClusterStore;
use crate::event_model::{
    CommittedEvent, Issue, IssueActivity, NewEvent, StatusChange, StoredEvent, WriteOutcome,
};
use crate::model::{
    ApiToken, Invitation, KeyLookup, Membership, NewApiToken, NewInvitation, NewProject, NewUser,
    Organization, Project, ProjectKey, ProjectUpdate, Role, User,
};
use crate::outcome::OutcomeCount;
use crate::query::{
    Bucket, EventQuery, EventSummary, Health, IssueCount, IssueQuery, Member, Page, Session,
};
use crate::release_model::{Deploy, NewDeploy, ProjectRelease, ReleaseCommit};
use crate::retention::{ProjectStorage, Upkeep};

/// Organizations (ORG-01).
#[async_trait]
pub trait OrgStore: Send + Sync {
    /// Creates an organization; `Conflict` when the slug is taken.
    async fn create_org(&self, name: &str, slug: &str) -> StoreResult<Organization>;
    /// Creates an organization with `owner_id` as its owner, in one transaction: no
    /// organization is left without an owner when adding the membership fails.
    async fn create_org_with_owner(
        &self,
        name: &str,
        slug: &str,
        owner_id: i64,
    ) -> StoreResult<Organization>;
    /// The organization with this id.
    async fn org(&self, id: i64) -> StoreResult<Option<Organization>>;
    /// The organization with this slug.
    async fn org_by_slug(&self, slug: &str) -> StoreResult<Option<Organization>>;
    /// Every organization, by id.
    async fn list_orgs(&self) -> StoreResult<Vec<Organization>>;
}

/// Projects (ORG-02).
#[async_trait]
pub trait ProjectStore: Send + Sync {
    /// Creates a project with default settings; `Conflict` when the slug is taken in the
    /// organization, `NotFound` when the organization does not exist.
    async fn create_project(&self, new: &NewProject<'_>) -> StoreResult<Project>;
    /// The project with this id.
    async fn project(&self, id: i64) -> StoreResult<Option<Project>>;
    /// Projects of one organization, or of all when `org_id` is `None`, by id.
    async fn list_projects(&self, org_id: Option<i64>) -> StoreResult<Vec<Project>>;
    /// Changes a project's settings (validated); `NotFound` when it does not exist.
    async fn update_project(&self, id: i64, update: &ProjectUpdate) -> StoreResult<Project>;
    /// Deletes a project with its keys, issues and events; `NotFound` when it does not exist.
    async fn delete_project(&self, id: i64) -> StoreResult<()>;
}

/// DSN keys (ORG-03).
#[async_trait]
pub trait KeyStore: Send + Sync {
    /// Adds a key to a project; `NotFound` when the project does not exist.
    async fn create_key(
        &self,
        project_id: i64,
        public_key: &str,
        label: &str,
    ) -> StoreResult<ProjectKey>;
    /// The keys of a project, revoked ones included, oldest first.
    async fn list_keys(&self, project_id: i64) -> StoreResult<Vec<ProjectKey>>;
    /// Revokes a key (idempotent: the first revocation time is kept); `NotFound` when unknown.
    async fn revoke_key(&self, public_key: &str) -> StoreResult<ProjectKey>;
    /// Resolves a DSN public key at ingest.
    async fn lookup_key(&self, public_key: &str) -> StoreResult<Option<KeyLookup>>;
}

/// Users and organization memberships (ORG-04).
#[async_trait]
pub trait UserStore: Send + Sync {
    /// Creates a user; the email is stored lower-cased; `Conflict` when it is taken.
    async fn create_user(&self, new: &NewUser<'_>) -> StoreResult<User>;
    /// The user with this id.
    async fn user(&self, id: i64) -> StoreResult<Option<User>>;
    /// The user with this email (compared case-insensitively).
    async fn user_by_email(&self, email: &str) -> StoreResult<Option<User>>;
    /// Every user, by id.
    async fn list_users(&self) -> StoreResult<Vec<User>>;
    /// Makes a user a member of an organization; `Conflict` when already a member.
    async fn add_member(&self, org_id: i64, user_id: i64, role: Role) -> StoreResult<Membership>;
    /// The organizations a user belongs to.
    async fn memberships(&self, user_id: i64) -> StoreResult<Vec<Membership>>;
    /// The members of an organization, by join time.
    async fn list_members(&self, org_id: i64) -> StoreResult<Vec<Member>>;
    /// Changes a member's role; `Conflict` when it would leave the organization without an
    /// owner, `NotFound` when not a member.
    async fn set_member_role(
        &self,
        org_id: i64,
        user_id: i64,
        role: Role,
    ) -> StoreResult<Membership>;
    /// Removes a member; `Conflict` for the last owner, `NotFound` when not a member.
    async fn remove_member(&self, org_id: i64, user_id: i64) -> StoreResult<()>;
    /// Changes a user's name and/or password hash.
    async fn update_user(
        &self,
        id: i64,
        name: Option<&str>,
        password_hash: Option<&str>,
    ) -> StoreResult<User>;
    /// Sets the time zone the dashboard shows the user's times in (an IANA name the caller has
    /// checked), or `None` for the browser's; `NotFound` when there is no such user.
    async fn set_user_time_zone(&self, id: i64, time_zone: Option<&str>) -> StoreResult<User>;
}

/// API tokens (ORG-05). Only digests are stored.
#[async_trait]
pub trait TokenStore: Send + Sync {
    /// Stores a new token; `NotFound` when the user does not exist.
    async fn create_token(&self, new: &NewApiToken<'_>) -> StoreResult<ApiToken>;
    /// The token with this digest, revoked or not.
    async fn token_by_hash(&self, token_hash: &str) -> StoreResult<Option<ApiToken>>;
    /// Records that a token authenticated a request.
    async fn touch_token(&self, id: i64, at: OffsetDateTime) -> StoreResult<()>;
    /// The tokens of a user, newest first.
    async fn list_tokens(&self, user_id: i64) -> StoreResult<Vec<ApiToken>>;
    /// Revokes a token of a user; `NotFound` when the user has no such token.
    async fn revoke_token(&self, user_id: i64, id: i64) -> StoreResult<ApiToken>;
}

/// Events (INGEST-01, GROUP-04, GROUP-05).
#[async_trait]
pub trait EventStore: Send + Sync {
    /// Writes a batch in one transaction (group commit): upserts each fingerprint's issue,
    /// inserts the events not stored before, updates counts and last-seen times. Returns one
    /// outcome per event, in order. Idempotent: an event id already stored in its project is
    /// reported as [`WriteOutcome::Duplicate`] and changes nothing.
    async fn write_events(&self, events: Arc<Vec<NewEvent>>) -> StoreResult<Vec<WriteOutcome>>;
    /// The event with this id in a project.
    async fn event(&self, project_id: i64, event_id: EventId) -> StoreResult<Option<StoredEvent>>;
    /// How many events a project stores.
    async fn count_events(&self, project_id: i64) -> StoreResult<i64>;
    /// A project's events whose rows are in `first_row..=last_row`, in row order, at most
    /// `limit`: what a node reads of a peer's committed batch for its live streams. Rows of
    /// other batches in the range may come too; uncommitted ones do not.
    async fn committed_events(
        &self,
        project_id: i64,
        first_row: i64,
        last_row: i64,
        limit: usize,
    ) -> StoreResult<Vec<CommittedEvent>>;
}

/// Issues (ISSUE-01 … ISSUE-05).
#[async_trait]
pub trait IssueStore: Send + Sync {
    /// The issue with this id.
    async fn issue(&self, id: i64) -> StoreResult<Option<Issue>>;
    /// A project's issues, most recently seen first.
    async fn list_issues(&self, project_id: i64) -> StoreResult<Vec<Issue>>;
    /// Moves an issue to another state at `at`, recording who did it (ISSUE-01, ISSUE-05
    /// discard). Changing to the current state records nothing. Archiving until escalating
    /// records the volume expected from the issue's history before `at` (issue 12, row 1);
    /// the other archive conditions record what they count from (issue 12, row 5).
    async fn set_issue_status(
        &self,
        id: i64,
        change: StatusChange,
        actor: Option<i64>,
        at: OffsetDateTime,
    ) -> StoreResult<Issue>;
    /// Assigns an issue to a member of its organization, or unassigns it (ISSUE-04);
    /// `Invalid` when the user is not a member.
    async fn assign_issue(
        &self,
        id: i64,
        assignee: Option<i64>,
        actor: Option<i64>,
    ) -> StoreResult<Issue>;
    /// Deletes an issue and its events in one transaction (ISSUE-05); its fingerprint may create
    /// a new issue later. `NotFound` when it does not exist.
    async fn delete_issue(&self, id: i64) -> StoreResult<()>;
    /// An issue's activity, oldest first.
    async fn list_activity(&self, issue_id: i64) -> StoreResult<Vec<IssueActivity>>;
    /// The periodic check at `now` (ISSUE-03, issue 12 rows 1, 2 and 5), in one pass however
    /// late it runs: ends the archives whose duration is over, escalates the issues archived
    /// until escalating whose volume since the archive exceeds the expected one, and moves
    /// `new` issues first seen, and `regressed` or `escalating` issues that became so, over a
    /// week ago to `ongoing`. Returns the issues that became escalating.
    async fn sweep_issues(&self, now: OffsetDateTime) -> StoreResult<Vec<i64>>;
}

/// Lists, search and dashboards (SEARCH-01 … SEARCH-05, DASH-01 … DASH-06, DETAIL-05).
#[async_trait]
pub trait QueryStore: Send + Sync {
    /// A page of a project's issues.
    async fn query_issues(&self, q: &IssueQuery) -> StoreResult<Page<Issue>>;
    /// How many issues `q` asks for over all its pages (its cursor, order and limit aside).
    async fn count_issues(&self, q: &IssueQuery) -> StoreResult<u64>;
    /// A page of events, newest first.
    async fn query_events(&self, q: &EventQuery) -> StoreResult<Page<EventSummary>>;
    /// The previous (older) and next (newer) event ids of an event within its issue.
    async fn adjacent_events(
        &self,
        issue_id: i64,
        event_id: EventId,
    ) -> StoreResult<(Option<EventId>, Option<EventId>)>;
    /// Events per bucket over `[since, until)`, empty buckets included.
    async fn volume(
        &self,
        project_id: i64,
        since: OffsetDateTime,
        until: OffsetDateTime,
        bucket: Bucket,
    ) -> StoreResult<Vec<(OffsetDateTime, i64)>>;
    /// Events per level over `[since, until)`, most first.
    async fn level_counts(
        &self,
        project_id: i64,
        since: OffsetDateTime,
        until: OffsetDateTime,
    ) -> StoreResult<Vec<(String, i64)>>;
    /// The issues with the most events over `[since, until)`.
    async fn top_issues(
        &self,
        project_id: i64,
        since: OffsetDateTime,
        until: OffsetDateTime,
        limit: u32,
    ) -> StoreResult<Vec<IssueCount>>;
    /// The most frequent values of a tag among events over `[since, until)`.
    async fn tag_values(
        &self,
        project_id: i64,
        key: &str,
        since: OffsetDateTime,
        until: OffsetDateTime,
        limit: u32,
    ) -> StoreResult<Vec<(String, i64)>>;
    /// An issue's events per bucket over `[since, until)`, empty buckets included (DASH-05).
    async fn issue_timeline(
        &self,
        issue_id: i64,
        since: OffsetDateTime,
        until: OffsetDateTime,
        bucket: Bucket,
    ) -> StoreResult<Vec<(OffsetDateTime, i64)>>;
    /// An issue's tags: each key with its most frequent values, keys by total count.
    async fn issue_tag_values(
        &self,
        issue_id: i64,
        per_key: u32,
    ) -> StoreResult<Vec<(String, Vec<(String, i64)>)>>;
    /// Project health at `now` (DASH-06).
    async fn health(&self, project_id: i64, now: OffsetDateTime) -> StoreResult<Health>;
    /// The project's issues first seen at or after `since` (the overview's card over 7 or 30
    /// days; [`Health`] has the day's).
    async fn new_issues(&self, project_id: i64, since: OffsetDateTime) -> StoreResult<i64>;
    /// Events and issues stored for a project (kept by the writer: free to read).
    async fn project_counts(&self, project_id: i64) -> StoreResult<(i64, i64)>;
}

/// Invitations to organizations (ORG-04): adding a member needs the user's consent.
#[async_trait]
pub trait InvitationStore: Send + Sync {
    /// Invites an email to an organization. Inviting the same email again replaces the role
    /// and expiry of the pending invitation (same id). `NotFound` when the organization or the
    /// inviter does not exist.
    async fn create_invitation(&self, new: &NewInvitation<'_>) -> StoreResult<Invitation>;
    /// The invitation with this id, expired or not.
    async fn invitation(&self, id: i64) -> StoreResult<Option<Invitation>>;
    /// An organization's invitations still valid at `now`, oldest first.
    async fn org_invitations(
        &self,
        org_id: i64,
        now: OffsetDateTime,
    ) -> StoreResult<Vec<Invitation>>;
    /// The invitations to `email` (compared case-insensitively) still valid at `now`, oldest
    /// first.
    async fn email_invitations(
        &self,
        email: &str,
        now: OffsetDateTime,
    ) -> StoreResult<Vec<Invitation>>;
    /// In one transaction: checks that invitation `id` is addressed to the user's email and
    /// valid at `now`, makes the user a member with its role, and deletes it. `NotFound` when
    /// there is no such invitation for this user; when the user is a member already, the
    /// invitation is consumed and the existing membership returned.
    async fn accept_invitation(
        &self,
        id: i64,
        user_id: i64,
        now: OffsetDateTime,
    ) -> StoreResult<Membership>;
    /// Deletes an invitation (declined or revoked); `NotFound` when it does not exist.
    async fn delete_invitation(&self, id: i64) -> StoreResult<()>;
}

/// Browser sessions (sign-in).
#[async_trait]
pub trait SessionStore: Send + Sync {
    /// Stores a session under the digest of its token.
    async fn create_session(
        &self,
        user_id: i64,
        token_hash: &str,
        csrf_token: &str,
        expires_at: OffsetDateTime,
    ) -> StoreResult<()>;
    /// The session with this digest, unless it expired by `now`.
    async fn session(&self, token_hash: &str, now: OffsetDateTime) -> StoreResult<Option<Session>>;
    /// Ends a session.
    async fn delete_session(&self, token_hash: &str) -> StoreResult<()>;
    /// Ends every session of a user (after a password change).
    async fn delete_user_sessions(&self, user_id: i64) -> StoreResult<()>;
}

/// Alert rules, firing and the deliveries' outbox (issue 16, ALERT-01 … ALERT-06).
#[async_trait]
pub trait AlertStore: Send + Sync {
    /// Creates a rule; `NotFound` when the project does not exist.
    async fn create_alert_rule(&self, new: &NewAlertRule<'_>) -> StoreResult<AlertRule>;
    /// The rule with this id.
    async fn alert_rule(&self, id: i64) -> StoreResult<Option<AlertRule>>;
    /// A project's rules, oldest first.
    async fn list_alert_rules(&self, project_id: i64) -> StoreResult<Vec<AlertRule>>;
    /// The rules of every project whose trigger has this type, enabled ones only.
    async fn enabled_alert_rules(&self, trigger_type: &str) -> StoreResult<Vec<AlertRule>>;
    /// Replaces a rule's changeable parts; `NotFound` when it does not exist.
    async fn update_alert_rule(
        &self,
        id: i64,
        update: &AlertRuleUpdate<'_>,
    ) -> StoreResult<AlertRule>;
    /// Deletes a rule with its alerts; `NotFound` when it does not exist.
    async fn delete_alert_rule(&self, id: i64) -> StoreResult<()>;

    /// Claims up to `limit` waiting issue changes until `until`, oldest first: those never
    /// claimed or whose claim ran out by `now` (a node died holding them).
    async fn claim_alert_triggers(
        &self,
        now: OffsetDateTime,
        until: OffsetDateTime,
        limit: usize,
    ) -> StoreResult<Vec<AlertTrigger>>;
    /// In one transaction: consumes the firing's trigger (when it is gone, another node
    /// fired it: nothing happens), then inserts each alert unless its rule is gone or
    /// disabled, its `dedupe_key` fired before, an alert of its rule and issue fired within
    /// the rule's cooldown, or (`skip_if_open`) one is still open; each inserted alert gets its
    /// history's first entry and its deliveries, due at once. Returns the alerts inserted.
    async fn fire_alerts(&self, firing: &Firing) -> StoreResult<Vec<Alert>>;
    /// Deletes waiting changes that fire nothing (no rule of their project matches), in one
    /// statement; answers how many were still there.
    async fn drop_alert_triggers(&self, ids: &[i64]) -> StoreResult<u64>;
    /// The alert with this id.
    async fn alert(&self, id: i64) -> StoreResult<Option<Alert>>;
    /// A project's alerts, newest first, in a state when given, at most `limit`.
    async fn list_alerts(
        &self,
        project_id: i64,
        state: Option<AlertState>,
        limit: usize,
    ) -> StoreResult<Vec<Alert>>;
    /// A rule's alerts that are not resolved.
    async fn open_alerts(&self, rule_id: i64) -> StoreResult<Vec<Alert>>;
    /// Moves an alert to `state`, recording who (`None`: Mesher) and why; `NotFound` when it
    /// does not exist, `Conflict` when the move goes backwards or nowhere.
    async fn set_alert_state(
        &self,
        id: i64,
        state: AlertState,
        actor_id: Option<i64>,
        note: Option<&str>,
        at: OffsetDateTime,
    ) -> StoreResult<Alert>;
    /// An alert's history, oldest first.
    async fn alert_history(&self, alert_id: i64) -> StoreResult<Vec<AlertHistoryEntry>>;
    /// An alert's deliveries with their attempts, oldest first.
    async fn alert_deliveries(
        &self,
        alert_id: i64,
    ) -> StoreResult<Vec<(Delivery, Vec<DeliveryAttempt>)>>;

    /// Claims up to `limit` pending deliveries due by `now` for node `node` until `until`,
    /// oldest first.
    async fn claim_deliveries(
        &self,
        node: &str,
        now: OffsetDateTime,
        until: OffsetDateTime,
        limit: usize,
    ) -> StoreResult<Vec<Delivery>>;
    /// Releases the claims of node `node` (it restarted: whatever it held, it no longer
    /// does); answers how many.
    async fn release_deliveries(&self, node: &str) -> StoreResult<u64>;
    /// Logs an attempt at a delivery and moves it on: delivered, due again, or failed.
    async fn record_attempt(
        &self,
        delivery_id: i64,
        attempt: &DeliveryAttempt,
        result: AttemptResult,
    ) -> StoreResult<()>;

    /// Events per issue received since `since` (minute rollups), in an environment when
    /// given; issues with none are left out.
    async fn recent_issue_counts(
        &self,
        project_id: i64,
        since: OffsetDateTime,
        environment: Option<&str>,
    ) -> StoreResult<Vec<(i64, i64)>>;
    /// Deletes minute rollups older than `before`; answers how many.
    async fn prune_minute_counts(&self, before: OffsetDateTime) -> StoreResult<u64>;
    /// A project's unresolved issues seen since `since` with more than `users` distinct users:
    /// (issue, users).
    async fn issues_over_users(
        &self,
        project_id: i64,
        users: i64,
        since: OffsetDateTime,
    ) -> StoreResult<Vec<(i64, i64)>>;
}

/// Outcomes per project and hour (issue 17, RETAIN-04). The writer adds its own
/// (`accepted`, `discarded`, `capped`) inside [`EventStore::write_events`].
#[async_trait]
pub trait OutcomeStore: Send + Sync {
    /// Adds counts to their (project, hour, reason) rows, in one transaction; counts of
    /// projects that no longer exist are dropped.
    async fn add_outcomes(&self, counts: &[OutcomeCount]) -> StoreResult<()>;
    /// A project's counts in the hours that overlap `[since, until)`, by hour then reason.
    async fn project_outcomes(
        &self,
        project_id: i64,
        since: OffsetDateTime,
        until: OffsetDateTime,
    ) -> StoreResult<Vec<OutcomeCount>>;
}

/// Releases declared ahead of their events, as `sentry-cli releases new` does (issue 18).
#[async_trait]
pub trait ReleaseStore: Send + Sync {
    /// Records that the project has release `version` since `at`, unless it has it already
    /// (then its first sighting stands); answers whether it was new. The release then counts
    /// for "resolved in the next release" as one seen in an event does.
    async fn declare_release(
        &self,
        project_id: i64,
        version: &str,
        at: OffsetDateTime,
    ) -> StoreResult<bool>;
    /// The project's release `version`, if it has it.
    async fn project_release(
        &self,
        project_id: i64,
        version: &str,
    ) -> StoreResult<Option<ProjectRelease>>;
    /// The project's releases, newest (first seen) first, at most `limit`.
    async fn project_releases(
        &self,
        project_id: i64,
        limit: usize,
    ) -> StoreResult<Vec<ProjectRelease>>;
    /// Records when the project's release `version` was released (`releases finalize`);
    /// answers whether the project has it.
    async fn finalize_release(
        &self,
        project_id: i64,
        version: &str,
        at: OffsetDateTime,
    ) -> StoreResult<bool>;
    /// Records a deploy of a release.
    async fn add_deploy(&self, deploy: &NewDeploy<'_>) -> StoreResult<Deploy>;
    /// The deploys of a release, newest first, at most `limit`.
    async fn deploys(&self, org_id: i64, version: &str, limit: usize) -> StoreResult<Vec<Deploy>>;
    /// The number of deploys of a release, and the newest.
    async fn deploy_summary(
        &self,
        org_id: i64,
        version: &str,
    ) -> StoreResult<(u64, Option<Deploy>)>;
    /// Replaces the commits of a release (newest first) in one transaction.
    async fn set_release_commits(
        &self,
        org_id: i64,
        version: &str,
        commits: &[ReleaseCommit],
    ) -> StoreResult<()>;
    /// The commits of a release, newest first.
    async fn release_commits(&self, org_id: i64, version: &str) -> StoreResult<Vec<ReleaseCommit>>;
    /// The number of commits of a release, and the newest.
    async fn commit_summary(
        &self,
        org_id: i64,
        version: &str,
    ) -> StoreResult<(u64, Option<ReleaseCommit>)>;
    /// The newest release of the organization older than `version` (by when its projects
    /// first had each; any release when `version` is unknown) that has commits, with its
    /// newest commit: where `sentry-cli set-commits` starts the next range.
    async fn previous_release_with_commits(
        &self,
        org_id: i64,
        version: &str,
    ) -> StoreResult<Option<(String, ReleaseCommit)>>;
}

/// Source map artifacts uploaded by `sentry-cli` (issue 18).
#[async_trait]
pub trait ArtifactStore: Send + Sync {
    /// Keeps uploaded chunks (checksum, bytes) of an organization; one kept already stays.
    async fn put_chunks(
        &self,
        org_id: i64,
        chunks: &[(String, Vec<u8>)],
        now: OffsetDateTime,
    ) -> StoreResult<()>;
    /// The bytes of the chunks the organization keeps, not yet assembled.
    async fn pending_chunk_bytes(&self, org_id: i64) -> StoreResult<u64>;
    /// Which of `checksums` the organization has no chunk for, in their order.
    async fn missing_chunks(&self, org_id: i64, checksums: &[String]) -> StoreResult<Vec<String>>;
    /// The bytes of the chunks in the order given; `None` when one is missing.
    async fn chunks(&self, org_id: i64, checksums: &[String]) -> StoreResult<Option<Vec<Vec<u8>>>>;
    /// Stores a bundle's files for each of its projects and deletes the chunks it was made of,
    /// in one transaction.
    async fn store_bundle(&self, bundle: &NewBundle<'_>) -> StoreResult<()>;
    /// The newest source map of the project with this debug ID, with its minified file.
    async fn source_map_by_debug_id(
        &self,
        project_id: i64,
        debug_id: &str,
    ) -> StoreResult<Option<SourceMapArtifact>>;
    /// The newest source map of the minified file at `url` (`~/path`) of a release and dist,
    /// through the minified file's `sourcemap` reference.
    async fn source_map_by_url(
        &self,
        project_id: i64,
        release: &str,
        dist: Option<&str>,
        url: &str,
    ) -> StoreResult<Option<SourceMapArtifact>>;
    /// Deletes the project's artifacts stored before `before`; answers how many.
    async fn expire_artifacts(&self, project_id: i64, before: OffsetDateTime) -> StoreResult<u64>;
    /// Deletes every organization's chunks kept since before `before` (uploads never
    /// assembled); answers how many.
    async fn expire_chunks(&self, before: OffsetDateTime) -> StoreResult<u64>;
}

/// Everything created by the first start on an empty database.
#[derive(Debug, Clone)]
pub struct BootstrapPlan<'a> {
    /// Organization name and slug.
    pub org: (&'a str, &'a str),
    /// Project name and slug.
    pub project: (&'a str, &'a str),
    /// The first DSN key of the project.
    pub public_key: &'a str,
    /// The admin user (made owner of the organization).
    pub admin: NewUser<'a>,
}

/// What a bootstrap created.
#[derive(Debug, Clone)]
pub struct Bootstrapped {
    /// The organization.
    pub org: Organization,
    /// Its project.
    pub project: Project,
    /// The project's key.
    pub key: ProjectKey,
    /// The admin user.
    pub admin: User,
}

/// Schema, health and instance-wide state.
#[async_trait]
pub trait AdminStore: Send + Sync {
    /// `"sqlite"` or `"postgres"`.
    fn backend(&self) -> &'static str;
    /// Applies pending embedded migrations; safe to run concurrently from several nodes.
    async fn migrate(&self) -> StoreResult<()>;
    /// Checks that the database answers.
    async fn ping(&self) -> StoreResult<()>;
    /// A number that changes whenever keys or project settings change, on any node or from the
    /// CLI: caches of those compare it to know when to drop their entries.
    async fn config_epoch(&self) -> StoreResult<i64>;
    /// A value the instance keeps about itself (for example the `public_url` the server last
    /// served at, which the CLI uses to print the same DSNs).
    async fn meta(&self, key: &str) -> StoreResult<Option<String>>;
    /// Sets such a value.
    async fn set_meta(&self, key: &str, value: &str) -> StoreResult<()>;
    /// Creates the first organization, project, key and admin in one transaction, unless that
    /// was done before on this database (then `None`). Safe against concurrent first starts.
    async fn bootstrap(&self, plan: &BootstrapPlan<'_>) -> StoreResult<Option<Bootstrapped>>;
}

/// Retention and storage used (RETAIN-01 … RETAIN-03), for the sweeper and the storage figures.
#[async_trait]
pub trait RetentionStore: Send + Sync {
    /// Deletes, in one short transaction, about `limit` of the oldest events of the project
    /// with a timestamp before `before` (on SQLite events sharing the last timestamp go
    /// together, so a batch may be a little larger), takes their count and bytes off the
    /// project's figures and raises its expiry mark (`expired_before`) to a time before which
    /// none of its events is left: `before` once the last expired one went. Issues and their
    /// counts stay. Answers how many events went: 0 when none is left.
    async fn expire_events(
        &self,
        project_id: i64,
        before: OffsetDateTime,
        limit: usize,
    ) -> StoreResult<u64>;
    /// One bounded step of giving space back, given that no project keeps events with a
    /// timestamp before `keep_after`: PostgreSQL drops the partitions wholly before it (taking
    /// their events off their projects' figures), creates the coming ones and, where autovacuum
    /// is off, vacuums the tables it would have; SQLite returns up to `max_pages` free pages to
    /// the file system.
    async fn storage_upkeep(
        &self,
        now: OffsetDateTime,
        keep_after: OffsetDateTime,
        max_pages: u64,
    ) -> StoreResult<Upkeep>;
    /// Where batched deletes stop for the projects with the longest retention, given that no
    /// project keeps events before `keep_after`: the events between this and `keep_after` go
    /// with their storage unit when it is dropped whole, not row by row. PostgreSQL: the start
    /// of the weekly partition holding `keep_after` (so those events stay at most a week past
    /// their retention, and steady-state expiry costs no deletes); SQLite: `keep_after`.
    fn expiry_floor(&self, keep_after: OffsetDateTime) -> OffsetDateTime;
    /// Deletes the hourly rollups of hours before `before`; answers the rows deleted.
    async fn prune_rollups(&self, before: OffsetDateTime) -> StoreResult<u64>;
    /// A project's storage figures.
    async fn project_storage(&self, project_id: i64) -> StoreResult<ProjectStorage>;
    /// Every project's stored bytes: (project, bytes), for `/metrics`.
    async fn storage_by_project(&self) -> StoreResult<Vec<(i64, i64)>>;
}

/// Every capability: what a server holds as `Arc<dyn Store>`.
pub trait Store:
    OrgStore
    + ProjectStore
    + KeyStore
    + UserStore
    + TokenStore
    + EventStore
    + IssueStore
    + QueryStore
    + SessionStore
    + InvitationStore
    + ClusterStore
    + AlertStore
    + RetentionStore
    + OutcomeStore
    + ArtifactStore
    + ReleaseStore
    + AdminStore
{
}

impl<T> Store for T where
    T: OrgStore
        + ProjectStore
        + KeyStore
        + UserStore
        + TokenStore
        + EventStore
        + IssueStore
        + QueryStore
        + SessionStore
        + InvitationStore
        + ClusterStore
        + AlertStore
        + RetentionStore
        + OutcomeStore
        + ArtifactStore
        + ReleaseStore
        + AdminStore
{
}
