//! Organizations, projects, keys, users, memberships and tokens on SQLite.

use async_trait::async_trait;
use rusqlite::{OptionalExtension, Row, Transaction, params};
use time::OffsetDateTime;

use super::{SqliteStore, bump_epoch, is_fk_violation, is_unique_violation, map_err};
use crate::model::{
    DEFAULT_RATE_LIMIT_PER_MINUTE, DEFAULT_RETENTION_DAYS, KeyLookup, Membership, NewProject,
    NewUser, Organization, Project, ProjectKey, ProjectUpdate, Role, User, clean_scrub_fields,
};
use crate::query::Member;
use crate::time_util::{from_millis, now, to_millis};
use crate::traits::{BootstrapPlan, Bootstrapped, KeyStore, OrgStore, ProjectStore, UserStore};
use crate::{StoreError, StoreResult};

const ORG_COLS: &str = "id, name, slug, created_at";
const PROJECT_COLS: &str = "id, org_id, name, slug, platform, retention_days, sample_rate, \
     rate_limit_per_minute, created_at, scrub_data, scrub_ip_addresses, sensitive_fields, \
     safe_fields, max_events_per_issue_per_hour";
const KEY_COLS: &str = "id, project_id, public_key, label, created_at, revoked_at";
const USER_COLS: &str = "id, email, name, password_hash, created_at, time_zone";

fn org_row(r: &Row<'_>) -> rusqlite::Result<Organization> {
    Ok(Organization {
        id: r.get(0)?,
        name: r.get(1)?,
        slug: r.get(2)?,
        created_at: from_millis(r.get(3)?),
    })
}

fn project_row(r: &Row<'_>) -> rusqlite::Result<Project> {
    Ok(Project {
        id: r.get(0)?,
        org_id: r.get(1)?,
        name: r.get(2)?,
        slug: r.get(3)?,
        platform: r.get(4)?,
        retention_days: r.get(5)?,
        sample_rate: r.get(6)?,
        rate_limit_per_minute: r.get(7)?,
        created_at: from_millis(r.get(8)?),
        scrub_data: r.get(9)?,
        scrub_ip_addresses: r.get(10)?,
        sensitive_fields: json_list(r, 11)?,
        safe_fields: json_list(r, 12)?,
        max_events_per_issue_per_hour: r.get(13)?,
    })
}

/// A list of strings stored as a JSON array (SQLite has no array type).
fn json_list(r: &Row<'_>, idx: usize) -> rusqlite::Result<Vec<String>> {
    let text: String = r.get(idx)?;
    serde_json::from_str(&text).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(idx, rusqlite::types::Type::Text, Box::new(e))
    })
}

/// The JSON text of a list of strings to store, cleaned.
fn to_json_list(fields: &[String]) -> String {
    // Serializing strings cannot fail.
    serde_json::to_string(&clean_scrub_fields(fields)).unwrap_or_else(|_| "[]".to_string())
}

fn key_row(r: &Row<'_>) -> rusqlite::Result<ProjectKey> {
    Ok(ProjectKey {
        id: r.get(0)?,
        project_id: r.get(1)?,
        public_key: r.get(2)?,
        label: r.get(3)?,
        created_at: from_millis(r.get(4)?),
        revoked_at: r.get::<_, Option<i64>>(5)?.map(from_millis),
    })
}

fn user_row(r: &Row<'_>) -> rusqlite::Result<User> {
    Ok(User {
        id: r.get(0)?,
        email: r.get(1)?,
        name: r.get(2)?,
        password_hash: r.get(3)?,
        created_at: from_millis(r.get(4)?),
        time_zone: r.get(5)?,
    })
}

pub(super) fn membership_row(r: &Row<'_>) -> rusqlite::Result<(i64, i64, String, i64)> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
}

pub(super) fn membership(raw: (i64, i64, String, i64)) -> StoreResult<Membership> {
    Ok(Membership {
        org_id: raw.0,
        user_id: raw.1,
        role: raw.2.parse()?,
        created_at: from_millis(raw.3),
    })
}

fn insert_org(
    tx: &Transaction<'_>,
    name: &str,
    slug: &str,
    at: OffsetDateTime,
) -> StoreResult<Organization> {
    tx.query_row(
        &format!("INSERT INTO organizations (name, slug, created_at) VALUES (?1, ?2, ?3) RETURNING {ORG_COLS}"),
        params![name, slug, to_millis(at)],
        org_row,
    )
    .map_err(|e| {
        if is_unique_violation(&e) {
            StoreError::Conflict(format!("an organization with slug {slug:?} already exists"))
        } else {
            map_err(e)
        }
    })
}

fn insert_project(
    tx: &Transaction<'_>,
    new: &OwnedProject,
    at: OffsetDateTime,
) -> StoreResult<Project> {
    tx.query_row(
        &format!(
            "INSERT INTO projects (org_id, name, slug, platform, retention_days, sample_rate, \
             rate_limit_per_minute, created_at) VALUES (?1, ?2, ?3, ?4, ?5, 1.0, ?6, ?7) \
             RETURNING {PROJECT_COLS}"
        ),
        params![
            new.org_id,
            new.name,
            new.slug,
            new.platform,
            DEFAULT_RETENTION_DAYS,
            DEFAULT_RATE_LIMIT_PER_MINUTE,
            to_millis(at)
        ],
        project_row,
    )
    .map_err(|e| {
        if is_unique_violation(&e) {
            StoreError::Conflict(format!(
                "a project with slug {:?} already exists in this organization",
                new.slug
            ))
        } else if is_fk_violation(&e) {
            StoreError::NotFound("organization")
        } else {
            map_err(e)
        }
    })
}

fn insert_key(
    tx: &Transaction<'_>,
    project_id: i64,
    public_key: &str,
    label: &str,
    at: OffsetDateTime,
) -> StoreResult<ProjectKey> {
    tx.query_row(
        &format!(
            "INSERT INTO project_keys (project_id, public_key, label, created_at) \
             VALUES (?1, ?2, ?3, ?4) RETURNING {KEY_COLS}"
        ),
        params![project_id, public_key, label, to_millis(at)],
        key_row,
    )
    .map_err(|e| {
        if is_unique_violation(&e) {
            StoreError::Conflict("this public key already exists".into())
        } else if is_fk_violation(&e) {
            StoreError::NotFound("project")
        } else {
            map_err(e)
        }
    })
}

fn insert_user(tx: &Transaction<'_>, new: &OwnedUser, at: OffsetDateTime) -> StoreResult<User> {
    tx.query_row(
        &format!(
            "INSERT INTO users (email, name, password_hash, created_at) VALUES (?1, ?2, ?3, ?4) \
             RETURNING {USER_COLS}"
        ),
        params![new.email, new.name, new.password_hash, to_millis(at)],
        user_row,
    )
    .map_err(|e| {
        if is_unique_violation(&e) {
            StoreError::Conflict(format!("a user with email {:?} already exists", new.email))
        } else {
            map_err(e)
        }
    })
}

pub(super) fn insert_member(
    tx: &Transaction<'_>,
    org_id: i64,
    user_id: i64,
    role: Role,
    at: OffsetDateTime,
) -> StoreResult<Membership> {
    tx.query_row(
        "INSERT INTO memberships (org_id, user_id, role, created_at) VALUES (?1, ?2, ?3, ?4) \
         RETURNING org_id, user_id, role, created_at",
        params![org_id, user_id, role.as_str(), to_millis(at)],
        membership_row,
    )
    .map_err(|e| {
        if is_unique_violation(&e) {
            StoreError::Conflict("the user is already a member of this organization".into())
        } else if is_fk_violation(&e) {
            StoreError::NotFound("organization or user")
        } else {
            map_err(e)
        }
    })
    .and_then(membership)
}

/// Owned copies of the borrowed inputs, which must move into the blocking closure.
pub(super) struct OwnedProject {
    org_id: i64,
    name: String,
    slug: String,
    platform: Option<String>,
}

impl From<&NewProject<'_>> for OwnedProject {
    fn from(p: &NewProject<'_>) -> Self {
        OwnedProject {
            org_id: p.org_id,
            name: p.name.to_string(),
            slug: p.slug.to_string(),
            platform: p.platform.map(str::to_string),
        }
    }
}

pub(super) struct OwnedUser {
    email: String,
    name: String,
    password_hash: String,
}

impl From<&NewUser<'_>> for OwnedUser {
    fn from(u: &NewUser<'_>) -> Self {
        OwnedUser {
            email: u.email.trim().to_lowercase(),
            name: u.name.to_string(),
            password_hash: u.password_hash.to_string(),
        }
    }
}

pub(super) struct OwnedPlan {
    org: (String, String),
    project: (String, String),
    public_key: String,
    admin: OwnedUser,
}

impl From<&BootstrapPlan<'_>> for OwnedPlan {
    fn from(p: &BootstrapPlan<'_>) -> Self {
        OwnedPlan {
            org: (p.org.0.to_string(), p.org.1.to_string()),
            project: (p.project.0.to_string(), p.project.1.to_string()),
            public_key: p.public_key.to_string(),
            admin: OwnedUser::from(&p.admin),
        }
    }
}

pub(super) fn bootstrap_in(
    tx: &Transaction<'_>,
    plan: &OwnedPlan,
    at: OffsetDateTime,
) -> StoreResult<Bootstrapped> {
    let org = insert_org(tx, &plan.org.0, &plan.org.1, at)?;
    let project = insert_project(
        tx,
        &OwnedProject {
            org_id: org.id,
            name: plan.project.0.clone(),
            slug: plan.project.1.clone(),
            platform: None,
        },
        at,
    )?;
    let key = insert_key(tx, project.id, &plan.public_key, "Default", at)?;
    let admin = insert_user(tx, &plan.admin, at)?;
    insert_member(tx, org.id, admin.id, Role::Owner, at)?;
    Ok(Bootstrapped {
        org,
        project,
        key,
        admin,
    })
}

#[async_trait]
impl OrgStore for SqliteStore {
    async fn create_org(&self, name: &str, slug: &str) -> StoreResult<Organization> {
        let (name, slug) = (name.to_string(), slug.to_string());
        self.transact(move |tx| insert_org(tx, &name, &slug, now()))
            .await
    }

    async fn create_org_with_owner(
        &self,
        name: &str,
        slug: &str,
        owner_id: i64,
    ) -> StoreResult<Organization> {
        let (name, slug) = (name.to_string(), slug.to_string());
        self.transact(move |tx| {
            let at = now();
            let org = insert_org(tx, &name, &slug, at)?;
            insert_member(tx, org.id, owner_id, Role::Owner, at)?;
            Ok(org)
        })
        .await
    }

    async fn org(&self, id: i64) -> StoreResult<Option<Organization>> {
        self.read(move |c| {
            c.query_row(
                &format!("SELECT {ORG_COLS} FROM organizations WHERE id = ?1"),
                [id],
                org_row,
            )
            .optional()
            .map_err(map_err)
        })
        .await
    }

    async fn org_by_slug(&self, slug: &str) -> StoreResult<Option<Organization>> {
        let slug = slug.to_string();
        self.read(move |c| {
            c.query_row(
                &format!("SELECT {ORG_COLS} FROM organizations WHERE slug = ?1"),
                [slug],
                org_row,
            )
            .optional()
            .map_err(map_err)
        })
        .await
    }

    async fn list_orgs(&self) -> StoreResult<Vec<Organization>> {
        self.read(|c| {
            let mut stmt = c
                .prepare_cached(&format!("SELECT {ORG_COLS} FROM organizations ORDER BY id"))
                .map_err(map_err)?;
            stmt.query_map([], org_row)
                .and_then(Iterator::collect)
                .map_err(map_err)
        })
        .await
    }
}

#[async_trait]
impl ProjectStore for SqliteStore {
    async fn create_project(&self, new: &NewProject<'_>) -> StoreResult<Project> {
        let new = OwnedProject::from(new);
        self.transact(move |tx| insert_project(tx, &new, now()))
            .await
    }

    async fn project(&self, id: i64) -> StoreResult<Option<Project>> {
        self.read(move |c| {
            c.query_row(
                &format!("SELECT {PROJECT_COLS} FROM projects WHERE id = ?1"),
                [id],
                project_row,
            )
            .optional()
            .map_err(map_err)
        })
        .await
    }

    async fn update_project(&self, id: i64, update: &ProjectUpdate) -> StoreResult<Project> {
        update.validate()?;
        let u = update.clone();
        self.transact(move |tx| {
            let platform_set = u.platform.is_some();
            let platform = u.platform.clone().flatten();
            let project = tx
                .query_row(
                    &format!(
                        "UPDATE projects SET name = coalesce(?2, name), \
                         platform = CASE WHEN ?3 THEN ?4 ELSE platform END, \
                         retention_days = coalesce(?5, retention_days), \
                         sample_rate = coalesce(?6, sample_rate), \
                         rate_limit_per_minute = coalesce(?7, rate_limit_per_minute), \
                         scrub_data = coalesce(?8, scrub_data), \
                         scrub_ip_addresses = coalesce(?9, scrub_ip_addresses), \
                         sensitive_fields = coalesce(?10, sensitive_fields), \
                         safe_fields = coalesce(?11, safe_fields), \
                         max_events_per_issue_per_hour = CASE WHEN ?12 THEN ?13 \
                             ELSE max_events_per_issue_per_hour END \
                         WHERE id = ?1 RETURNING {PROJECT_COLS}"
                    ),
                    params![
                        id,
                        u.name.as_deref().map(str::trim),
                        platform_set,
                        platform,
                        u.retention_days,
                        u.sample_rate,
                        u.rate_limit_per_minute,
                        u.scrub_data,
                        u.scrub_ip_addresses,
                        u.sensitive_fields.as_deref().map(to_json_list),
                        u.safe_fields.as_deref().map(to_json_list),
                        u.issue_cap().is_some(),
                        u.issue_cap().flatten()
                    ],
                    project_row,
                )
                .optional()
                .map_err(map_err)?
                .ok_or(StoreError::NotFound("project"))?;
            bump_epoch(tx)?;
            Ok(project)
        })
        .await
    }

    async fn delete_project(&self, id: i64) -> StoreResult<()> {
        self.transact(move |tx| {
            // The full-text index is contentless: its rows go explicitly.
            tx.execute(
                "DELETE FROM events_fts WHERE rowid IN (SELECT id FROM events WHERE project_id = ?1)",
                [id],
            )
            .map_err(map_err)?;
            // Events reference issues, not projects: they go with their issues.
            let deleted = tx.execute("DELETE FROM projects WHERE id = ?1", [id]).map_err(map_err)?;
            if deleted == 0 {
                return Err(StoreError::NotFound("project"));
            }
            bump_epoch(tx)
        })
        .await
    }

    async fn list_projects(&self, org_id: Option<i64>) -> StoreResult<Vec<Project>> {
        self.read(move |c| {
            let mut stmt = c
                .prepare_cached(&format!(
                    "SELECT {PROJECT_COLS} FROM projects WHERE ?1 IS NULL OR org_id = ?1 ORDER BY id"
                ))
                .map_err(map_err)?;
            stmt.query_map([org_id], project_row)
                .and_then(Iterator::collect)
                .map_err(map_err)
        })
        .await
    }
}

#[async_trait]
impl KeyStore for SqliteStore {
    async fn create_key(
        &self,
        project_id: i64,
        public_key: &str,
        label: &str,
    ) -> StoreResult<ProjectKey> {
        let (public_key, label) = (public_key.to_string(), label.to_string());
        self.transact(move |tx| {
            let key = insert_key(tx, project_id, &public_key, &label, now())?;
            bump_epoch(tx)?;
            Ok(key)
        })
        .await
    }

    async fn list_keys(&self, project_id: i64) -> StoreResult<Vec<ProjectKey>> {
        self.read(move |c| {
            let mut stmt = c
                .prepare_cached(&format!(
                    "SELECT {KEY_COLS} FROM project_keys WHERE project_id = ?1 ORDER BY id"
                ))
                .map_err(map_err)?;
            stmt.query_map([project_id], key_row)
                .and_then(Iterator::collect)
                .map_err(map_err)
        })
        .await
    }

    async fn revoke_key(&self, public_key: &str) -> StoreResult<ProjectKey> {
        let public_key = public_key.to_string();
        self.transact(move |tx| {
            tx.query_row(
                &format!(
                    "UPDATE project_keys SET revoked_at = coalesce(revoked_at, ?2) \
                     WHERE public_key = ?1 RETURNING {KEY_COLS}"
                ),
                params![public_key, to_millis(now())],
                key_row,
            )
            .optional()
            .map_err(map_err)?
            .ok_or(StoreError::NotFound("key"))
            .and_then(|key| bump_epoch(tx).map(|()| key))
        })
        .await
    }

    async fn lookup_key(&self, public_key: &str) -> StoreResult<Option<KeyLookup>> {
        let public_key = public_key.to_string();
        self.read(move |c| {
            c.prepare_cached(
                "SELECT project_id, revoked_at IS NOT NULL FROM project_keys WHERE public_key = ?1",
            )
            .map_err(map_err)?
            .query_row([public_key], |r| {
                Ok(KeyLookup {
                    project_id: r.get(0)?,
                    revoked: r.get(1)?,
                })
            })
            .optional()
            .map_err(map_err)
        })
        .await
    }
}

fn owner_count(tx: &Transaction<'_>, org_id: i64) -> StoreResult<i64> {
    tx.query_row(
        "SELECT count(*) FROM memberships WHERE org_id = ?1 AND role = 'owner'",
        [org_id],
        |r| r.get(0),
    )
    .map_err(map_err)
}

fn current_role(tx: &Transaction<'_>, org_id: i64, user_id: i64) -> StoreResult<Role> {
    let role: String = tx
        .query_row(
            "SELECT role FROM memberships WHERE org_id = ?1 AND user_id = ?2",
            params![org_id, user_id],
            |r| r.get(0),
        )
        .optional()
        .map_err(map_err)?
        .ok_or(StoreError::NotFound("member"))?;
    role.parse()
}

#[async_trait]
impl UserStore for SqliteStore {
    async fn create_user(&self, new: &NewUser<'_>) -> StoreResult<User> {
        let new = OwnedUser::from(new);
        self.transact(move |tx| insert_user(tx, &new, now())).await
    }

    async fn user(&self, id: i64) -> StoreResult<Option<User>> {
        self.read(move |c| {
            c.query_row(
                &format!("SELECT {USER_COLS} FROM users WHERE id = ?1"),
                [id],
                user_row,
            )
            .optional()
            .map_err(map_err)
        })
        .await
    }

    async fn user_by_email(&self, email: &str) -> StoreResult<Option<User>> {
        let email = email.trim().to_lowercase();
        self.read(move |c| {
            c.query_row(
                &format!("SELECT {USER_COLS} FROM users WHERE email = ?1"),
                [email],
                user_row,
            )
            .optional()
            .map_err(map_err)
        })
        .await
    }

    async fn list_users(&self) -> StoreResult<Vec<User>> {
        self.read(|c| {
            let mut stmt = c
                .prepare_cached(&format!("SELECT {USER_COLS} FROM users ORDER BY id"))
                .map_err(map_err)?;
            stmt.query_map([], user_row)
                .and_then(Iterator::collect)
                .map_err(map_err)
        })
        .await
    }

    async fn add_member(&self, org_id: i64, user_id: i64, role: Role) -> StoreResult<Membership> {
        self.transact(move |tx| insert_member(tx, org_id, user_id, role, now()))
            .await
    }

    async fn list_members(&self, org_id: i64) -> StoreResult<Vec<Member>> {
        self.read(move |c| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT u.id, u.email, u.name, u.password_hash, u.created_at, u.time_zone, m.role, m.created_at \
                     FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.org_id = ?1 \
                     ORDER BY m.created_at, u.id",
                )
                .map_err(map_err)?;
            let raw: Vec<(User, String, i64)> = stmt
                .query_map([org_id], |r| Ok((user_row(r)?, r.get(6)?, r.get(7)?)))
                .and_then(Iterator::collect)
                .map_err(map_err)?;
            raw.into_iter()
                .map(|(mut user, role, joined)| {
                    user.password_hash.clear();
                    Ok(Member {
                        user,
                        role: role.parse()?,
                        joined_at: from_millis(joined),
                    })
                })
                .collect()
        })
        .await
    }

    async fn set_member_role(
        &self,
        org_id: i64,
        user_id: i64,
        role: Role,
    ) -> StoreResult<Membership> {
        self.transact(move |tx| {
            let current = current_role(tx, org_id, user_id)?;
            if current == Role::Owner && role != Role::Owner && owner_count(tx, org_id)? <= 1 {
                return Err(StoreError::Conflict(
                    "the organization's last owner cannot be demoted; make someone else owner first".into(),
                ));
            }
            tx.query_row(
                "UPDATE memberships SET role = ?3 WHERE org_id = ?1 AND user_id = ?2 \
                 RETURNING org_id, user_id, role, created_at",
                params![org_id, user_id, role.as_str()],
                membership_row,
            )
            .map_err(map_err)
            .and_then(membership)
        })
        .await
    }

    async fn remove_member(&self, org_id: i64, user_id: i64) -> StoreResult<()> {
        self.transact(move |tx| {
            let current = current_role(tx, org_id, user_id)?;
            if current == Role::Owner && owner_count(tx, org_id)? <= 1 {
                return Err(StoreError::Conflict(
                    "the organization's last owner cannot be removed".into(),
                ));
            }
            tx.execute(
                "DELETE FROM memberships WHERE org_id = ?1 AND user_id = ?2",
                params![org_id, user_id],
            )
            .map_err(map_err)?;
            // Assignments do not outlive the membership.
            tx.execute(
                "UPDATE issues SET assignee_id = NULL WHERE assignee_id = ?2 \
                 AND project_id IN (SELECT id FROM projects WHERE org_id = ?1)",
                params![org_id, user_id],
            )
            .map_err(map_err)?;
            Ok(())
        })
        .await
    }

    async fn update_user(
        &self,
        id: i64,
        name: Option<&str>,
        password_hash: Option<&str>,
    ) -> StoreResult<User> {
        let (name, hash) = (name.map(str::to_string), password_hash.map(str::to_string));
        self.transact(move |tx| {
            tx.query_row(
                &format!(
                    "UPDATE users SET name = coalesce(?2, name), password_hash = coalesce(?3, password_hash) \
                     WHERE id = ?1 RETURNING {USER_COLS}"
                ),
                params![id, name, hash],
                user_row,
            )
            .optional()
            .map_err(map_err)?
            .ok_or(StoreError::NotFound("user"))
        })
        .await
    }

    async fn set_user_time_zone(&self, id: i64, time_zone: Option<&str>) -> StoreResult<User> {
        let time_zone = time_zone.map(str::to_string);
        self.transact(move |tx| {
            tx.query_row(
                &format!("UPDATE users SET time_zone = ?2 WHERE id = ?1 RETURNING {USER_COLS}"),
                params![id, time_zone],
                user_row,
            )
            .optional()
            .map_err(map_err)?
            .ok_or(StoreError::NotFound("user"))
        })
        .await
    }

    async fn memberships(&self, user_id: i64) -> StoreResult<Vec<Membership>> {
        self.read(move |c| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT org_id, user_id, role, created_at FROM memberships \
                     WHERE user_id = ?1 ORDER BY org_id",
                )
                .map_err(map_err)?;
            let raw: Vec<_> = stmt
                .query_map([user_id], membership_row)
                .and_then(Iterator::collect)
                .map_err(map_err)?;
            raw.into_iter().map(membership).collect()
        })
        .await
    }
}
