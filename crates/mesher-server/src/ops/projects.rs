//! Projects and their DSN keys: creating, changing settings, deleting, adding and revoking
//! keys. Each change drops this node's key cache, so that ingestion applies it at once.

use mesher_store::{Organization, Project, ProjectKey, ProjectUpdate, Role, Scope};

use super::{Actor, Ops, OpsError, hidden};
use crate::accounts;

/// The label of a key created without one.
const DEFAULT_KEY_LABEL: &str = "Default";

/// A list of scrubbing fields as typed: entries on their own lines or separated by commas.
pub fn field_list(text: &str) -> Vec<String> {
    text.split([',', '\n'])
        .map(str::trim)
        .filter(|f| !f.is_empty())
        .map(str::to_string)
        .collect()
}

/// The project, when the actor may act on it with `scope` and `role`. Non-members are told it
/// does not exist.
pub async fn project(
    ops: Ops<'_>,
    actor: Actor<'_>,
    id: i64,
    scope: Scope,
    role: Role,
) -> Result<Project, OpsError> {
    let project = ops
        .store()
        .project(id)
        .await?
        .ok_or(OpsError::NotFound("project"))?;
    actor
        .require(project.org_id, scope, role)
        .map_err(hidden("project"))?;
    Ok(project)
}

/// Creates a project in `org` with its first DSN key (admins).
pub async fn create_project(
    ops: Ops<'_>,
    actor: Actor<'_>,
    org: &Organization,
    name: &str,
    slug: Option<&str>,
    platform: Option<&str>,
) -> Result<(Project, ProjectKey), OpsError> {
    actor
        .require(org.id, Scope::Admin, Role::Admin)
        .map_err(hidden("organization"))?;
    let created = accounts::create_project(ops.store(), org.id, name, slug, platform).await?;
    ops.projects_changed();
    Ok(created)
}

/// Changes a project's settings (admins).
pub async fn update_project(
    ops: Ops<'_>,
    actor: Actor<'_>,
    id: i64,
    update: &ProjectUpdate,
) -> Result<Project, OpsError> {
    project(ops, actor, id, Scope::Admin, Role::Admin).await?;
    let project = ops.store().update_project(id, update).await?;
    ops.projects_changed();
    Ok(project)
}

/// Deletes a project with its keys, issues and events (admins).
pub async fn delete_project(ops: Ops<'_>, actor: Actor<'_>, id: i64) -> Result<(), OpsError> {
    project(ops, actor, id, Scope::Admin, Role::Admin).await?;
    ops.store().delete_project(id).await?;
    ops.projects_changed();
    Ok(())
}

/// Adds a DSN key to a project (admins); a blank label becomes "Default".
pub async fn create_key(
    ops: Ops<'_>,
    actor: Actor<'_>,
    project_id: i64,
    label: Option<&str>,
) -> Result<ProjectKey, OpsError> {
    project(ops, actor, project_id, Scope::Admin, Role::Admin).await?;
    let label = label
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .unwrap_or(DEFAULT_KEY_LABEL);
    let public_key = accounts::generate_public_key()?;
    let key = ops
        .store()
        .create_key(project_id, &public_key, label)
        .await?;
    ops.projects_changed();
    Ok(key)
}

/// Which key to revoke.
#[derive(Debug, Clone, Copy)]
pub enum KeyRef<'a> {
    /// A project's key, by its public key (any case).
    Public {
        /// The project it must belong to.
        project_id: i64,
        /// The public key.
        public_key: &'a str,
    },
    /// A project's key, by its row id.
    Id {
        /// The project it must belong to.
        project_id: i64,
        /// The key's id.
        id: i64,
    },
    /// A key by its public key alone, in whichever project it is (the CLI names keys so).
    Anywhere(&'a str),
}

/// Revokes a DSN key (admins of its project): events sent with it are refused from now on.
pub async fn revoke_key(
    ops: Ops<'_>,
    actor: Actor<'_>,
    key: KeyRef<'_>,
) -> Result<ProjectKey, OpsError> {
    let store = ops.store();
    let project_id = match key {
        KeyRef::Public { project_id, .. } | KeyRef::Id { project_id, .. } => project_id,
        KeyRef::Anywhere(public_key) => {
            let lookup = store.lookup_key(&public_key.to_ascii_lowercase()).await?;
            lookup.ok_or(OpsError::NotFound("key"))?.project_id
        }
    };
    project(ops, actor, project_id, Scope::Admin, Role::Admin).await?;
    let keys = store.list_keys(project_id).await?;
    let found = keys.iter().find(|k| match key {
        KeyRef::Public { public_key, .. } | KeyRef::Anywhere(public_key) => {
            k.public_key.eq_ignore_ascii_case(public_key)
        }
        KeyRef::Id { id, .. } => k.id == id,
    });
    let public_key = found.ok_or(OpsError::NotFound("key"))?.public_key.clone();
    let revoked = store.revoke_key(&public_key).await?;
    ops.projects_changed();
    Ok(revoked)
}
