//! Organizations, projects, keys, users, memberships and tokens on PostgreSQL.

use async_trait::async_trait;
use time::OffsetDateTime;
use tokio_postgres::{GenericClient, Row};

use super::{PostgresStore, bump_epoch, is_fk_violation, is_unique_violation, map_err};
use crate::model::{
    DEFAULT_RATE_LIMIT_PER_MINUTE, DEFAULT_RETENTION_DAYS, KeyLookup, Membership, NewProject,
    NewUser, Organization, Project, ProjectKey, ProjectUpdate, Role, User, clean_scrub_fields,
};
use crate::query::Member;
use crate::time_util::now;
use crate::traits::{BootstrapPlan, Bootstrapped, KeyStore, OrgStore, ProjectStore, UserStore};
use crate::{StoreError, StoreResult};

const ORG_COLS: &str = "id, name, slug, created_at";
const PROJECT_COLS: &str = "id, org_id, name, slug, platform, retention_days, sample_rate, \
     rate_limit_per_minute, created_at, scrub_data, scrub_ip_addresses, sensitive_fields, \
     safe_fields, max_events_per_issue_per_hour";
const KEY_COLS: &str = "id, project_id, public_key, label, created_at, revoked_at";
const USER_COLS: &str = "id, email, name, password_hash, created_at, time_zone";

fn org_row(r: &Row) -> Organization {
    Organization {
        id: r.get(0),
        name: r.get(1),
        slug: r.get(2),
        created_at: r.get(3),
    }
}

fn project_row(r: &Row) -> Project {
    Project {
        id: r.get(0),
        org_id: r.get(1),
        name: r.get(2),
        slug: r.get(3),
        platform: r.get(4),
        retention_days: r.get(5),
        sample_rate: r.get(6),
        rate_limit_per_minute: r.get(7),
        created_at: r.get(8),
        scrub_data: r.get(9),
        scrub_ip_addresses: r.get(10),
        sensitive_fields: r.get(11),
        safe_fields: r.get(12),
        max_events_per_issue_per_hour: r.get(13),
    }
}

fn key_row(r: &Row) -> ProjectKey {
    ProjectKey {
        id: r.get(0),
        project_id: r.get(1),
        public_key: r.get(2),
        label: r.get(3),
        created_at: r.get(4),
        revoked_at: r.get(5),
    }
}

fn user_row(r: &Row) -> User {
    User {
        id: r.get(0),
        email: r.get(1),
        name: r.get(2),
        password_hash: r.get(3),
        created_at: r.get(4),
        time_zone: r.get(5),
    }
}

pub(super) fn membership_row(r: &Row) -> StoreResult<Membership> {
    Ok(Membership {
        org_id: r.get(0),
        user_id: r.get(1),
        role: r.get::<_, String>(2).parse()?,
        created_at: r.get(3),
    })
}

async fn insert_org(
    c: &impl GenericClient,
    name: &str,
    slug: &str,
    at: OffsetDateTime,
) -> StoreResult<Organization> {
    c.query_one(
        &format!("INSERT INTO organizations (name, slug, created_at) VALUES ($1, $2, $3) RETURNING {ORG_COLS}"),
        &[&name, &slug, &at],
    )
    .await
    .map(|r| org_row(&r))
    .map_err(|e| {
        if is_unique_violation(&e) {
            StoreError::Conflict(format!("an organization with slug {slug:?} already exists"))
        } else {
            map_err(e)
        }
    })
}

async fn insert_project(
    c: &impl GenericClient,
    new: &NewProject<'_>,
    at: OffsetDateTime,
) -> StoreResult<Project> {
    c.query_one(
        &format!(
            "INSERT INTO projects (org_id, name, slug, platform, retention_days, sample_rate, \
             rate_limit_per_minute, created_at) VALUES ($1, $2, $3, $4, $5, 1.0, $6, $7) \
             RETURNING {PROJECT_COLS}"
        ),
        &[
            &new.org_id,
            &new.name,
            &new.slug,
            &new.platform,
            &DEFAULT_RETENTION_DAYS,
            &DEFAULT_RATE_LIMIT_PER_MINUTE,
            &at,
        ],
    )
    .await
    .map(|r| project_row(&r))
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

async fn insert_key(
    c: &impl GenericClient,
    project_id: i64,
    public_key: &str,
    label: &str,
    at: OffsetDateTime,
) -> StoreResult<ProjectKey> {
    c.query_one(
        &format!(
            "INSERT INTO project_keys (project_id, public_key, label, created_at) \
             VALUES ($1, $2, $3, $4) RETURNING {KEY_COLS}"
        ),
        &[&project_id, &public_key, &label, &at],
    )
    .await
    .map(|r| key_row(&r))
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

async fn insert_user(
    c: &impl GenericClient,
    new: &NewUser<'_>,
    at: OffsetDateTime,
) -> StoreResult<User> {
    let email = new.email.trim().to_lowercase();
    c.query_one(
        &format!(
            "INSERT INTO users (email, name, password_hash, created_at) VALUES ($1, $2, $3, $4) \
             RETURNING {USER_COLS}"
        ),
        &[&email, &new.name, &new.password_hash, &at],
    )
    .await
    .map(|r| user_row(&r))
    .map_err(|e| {
        if is_unique_violation(&e) {
            StoreError::Conflict(format!("a user with email {email:?} already exists"))
        } else {
            map_err(e)
        }
    })
}

pub(super) async fn insert_member(
    c: &impl GenericClient,
    org_id: i64,
    user_id: i64,
    role: Role,
    at: OffsetDateTime,
) -> StoreResult<Membership> {
    let row = c
        .query_one(
            "INSERT INTO memberships (org_id, user_id, role, created_at) VALUES ($1, $2, $3, $4) \
             RETURNING org_id, user_id, role, created_at",
            &[&org_id, &user_id, &role.as_str(), &at],
        )
        .await
        .map_err(|e| {
            if is_unique_violation(&e) {
                StoreError::Conflict("the user is already a member of this organization".into())
            } else if is_fk_violation(&e) {
                StoreError::NotFound("organization or user")
            } else {
                map_err(e)
            }
        })?;
    membership_row(&row)
}

pub(super) async fn bootstrap_in(
    c: &impl GenericClient,
    plan: &BootstrapPlan<'_>,
    at: OffsetDateTime,
) -> StoreResult<Bootstrapped> {
    let org = insert_org(c, plan.org.0, plan.org.1, at).await?;
    let project = insert_project(
        c,
        &NewProject {
            org_id: org.id,
            name: plan.project.0,
            slug: plan.project.1,
            platform: None,
        },
        at,
    )
    .await?;
    let key = insert_key(c, project.id, plan.public_key, "Default", at).await?;
    let admin = insert_user(c, &plan.admin, at).await?;
    insert_member(c, org.id, admin.id, Role::Owner, at).await?;
    Ok(Bootstrapped {
        org,
        project,
        key,
        admin,
    })
}

#[async_trait]
impl OrgStore for PostgresStore {
    async fn create_org(&self, name: &str, slug: &str) -> StoreResult<Organization> {
        let conn = self.conn().await?;
        insert_org(&**conn, name, slug, now()).await
    }

    async fn create_org_with_owner(
        &self,
        name: &str,
        slug: &str,
        owner_id: i64,
    ) -> StoreResult<Organization> {
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await.map_err(map_err)?;
        let at = now();
        let org = insert_org(&*tx, name, slug, at).await?;
        insert_member(&*tx, org.id, owner_id, Role::Owner, at).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(org)
    }

    async fn org(&self, id: i64) -> StoreResult<Option<Organization>> {
        let conn = self.conn().await?;
        let row = conn
            .query_opt(
                &format!("SELECT {ORG_COLS} FROM organizations WHERE id = $1"),
                &[&id],
            )
            .await
            .map_err(map_err)?;
        Ok(row.as_ref().map(org_row))
    }

    async fn org_by_slug(&self, slug: &str) -> StoreResult<Option<Organization>> {
        let conn = self.conn().await?;
        let row = conn
            .query_opt(
                &format!("SELECT {ORG_COLS} FROM organizations WHERE slug = $1"),
                &[&slug],
            )
            .await
            .map_err(map_err)?;
        Ok(row.as_ref().map(org_row))
    }

    async fn list_orgs(&self) -> StoreResult<Vec<Organization>> {
        let conn = self.conn().await?;
        let rows = conn
            .query(
                &format!("SELECT {ORG_COLS} FROM organizations ORDER BY id"),
                &[],
            )
            .await
            .map_err(map_err)?;
        Ok(rows.iter().map(org_row).collect())
    }
}

#[async_trait]
impl ProjectStore for PostgresStore {
    async fn create_project(&self, new: &NewProject<'_>) -> StoreResult<Project> {
        let conn = self.conn().await?;
        insert_project(&**conn, new, now()).await
    }

    async fn project(&self, id: i64) -> StoreResult<Option<Project>> {
        let conn = self.conn().await?;
        let row = conn
            .query_opt(
                &format!("SELECT {PROJECT_COLS} FROM projects WHERE id = $1"),
                &[&id],
            )
            .await
            .map_err(map_err)?;
        Ok(row.as_ref().map(project_row))
    }

    async fn update_project(&self, id: i64, update: &ProjectUpdate) -> StoreResult<Project> {
        update.validate()?;
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await.map_err(map_err)?;
        let platform = update.platform.clone().flatten();
        let sensitive_fields = update.sensitive_fields.as_deref().map(clean_scrub_fields);
        let safe_fields = update.safe_fields.as_deref().map(clean_scrub_fields);
        let row = tx
            .query_opt(
                &format!(
                    "UPDATE projects SET name = coalesce($2, name), \
                     platform = CASE WHEN $3 THEN $4 ELSE platform END, \
                     retention_days = coalesce($5, retention_days), \
                     sample_rate = coalesce($6, sample_rate), \
                     rate_limit_per_minute = coalesce($7, rate_limit_per_minute), \
                     scrub_data = coalesce($8, scrub_data), \
                     scrub_ip_addresses = coalesce($9, scrub_ip_addresses), \
                     sensitive_fields = coalesce($10, sensitive_fields), \
                     safe_fields = coalesce($11, safe_fields), \
                     max_events_per_issue_per_hour = CASE WHEN $12 THEN $13 \
                         ELSE max_events_per_issue_per_hour END \
                     WHERE id = $1 RETURNING {PROJECT_COLS}"
                ),
                &[
                    &id,
                    &update.name.as_deref().map(str::trim),
                    &update.platform.is_some(),
                    &platform,
                    &update.retention_days,
                    &update.sample_rate,
                    &update.rate_limit_per_minute,
                    &update.scrub_data,
                    &update.scrub_ip_addresses,
                    &sensitive_fields,
                    &safe_fields,
                    &update.issue_cap().is_some(),
                    &update.issue_cap().flatten(),
                ],
            )
            .await
            .map_err(map_err)?;
        let project = row
            .as_ref()
            .map(project_row)
            .ok_or(StoreError::NotFound("project"))?;
        bump_epoch(&*tx).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(project)
    }

    async fn delete_project(&self, id: i64) -> StoreResult<()> {
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await.map_err(map_err)?;
        // Keys, issues (and with them events, rollups, activity) go by ON DELETE CASCADE.
        let deleted = tx
            .execute("DELETE FROM projects WHERE id = $1", &[&id])
            .await
            .map_err(map_err)?;
        if deleted == 0 {
            return Err(StoreError::NotFound("project"));
        }
        bump_epoch(&*tx).await?;
        tx.commit().await.map_err(map_err)
    }

    async fn list_projects(&self, org_id: Option<i64>) -> StoreResult<Vec<Project>> {
        let conn = self.conn().await?;
        let rows = conn
            .query(
                &format!(
                    "SELECT {PROJECT_COLS} FROM projects \
                     WHERE $1::BIGINT IS NULL OR org_id = $1 ORDER BY id"
                ),
                &[&org_id],
            )
            .await
            .map_err(map_err)?;
        Ok(rows.iter().map(project_row).collect())
    }
}

#[async_trait]
impl KeyStore for PostgresStore {
    async fn create_key(
        &self,
        project_id: i64,
        public_key: &str,
        label: &str,
    ) -> StoreResult<ProjectKey> {
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await.map_err(map_err)?;
        let key = insert_key(&*tx, project_id, public_key, label, now()).await?;
        bump_epoch(&*tx).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(key)
    }

    async fn list_keys(&self, project_id: i64) -> StoreResult<Vec<ProjectKey>> {
        let conn = self.conn().await?;
        let rows = conn
            .query(
                &format!("SELECT {KEY_COLS} FROM project_keys WHERE project_id = $1 ORDER BY id"),
                &[&project_id],
            )
            .await
            .map_err(map_err)?;
        Ok(rows.iter().map(key_row).collect())
    }

    async fn revoke_key(&self, public_key: &str) -> StoreResult<ProjectKey> {
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await.map_err(map_err)?;
        let row = tx
            .query_opt(
                &format!(
                    "UPDATE project_keys SET revoked_at = coalesce(revoked_at, $2) \
                     WHERE public_key = $1 RETURNING {KEY_COLS}"
                ),
                &[&public_key, &now()],
            )
            .await
            .map_err(map_err)?;
        let key = row
            .as_ref()
            .map(key_row)
            .ok_or(StoreError::NotFound("key"))?;
        bump_epoch(&*tx).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(key)
    }

    async fn lookup_key(&self, public_key: &str) -> StoreResult<Option<KeyLookup>> {
        let conn = self.conn().await?;
        let stmt = conn
            .prepare_cached(
                "SELECT project_id, revoked_at IS NOT NULL FROM project_keys WHERE public_key = $1",
            )
            .await
            .map_err(map_err)?;
        let row = conn
            .query_opt(&stmt, &[&public_key])
            .await
            .map_err(map_err)?;
        Ok(row.map(|r| KeyLookup {
            project_id: r.get(0),
            revoked: r.get(1),
        }))
    }
}

async fn owners_and_role(
    c: &impl GenericClient,
    org_id: i64,
    user_id: i64,
) -> StoreResult<(i64, Role)> {
    // Locks the organization's memberships so that two demotions cannot both pass the check.
    let rows = c
        .query(
            "SELECT user_id, role FROM memberships WHERE org_id = $1 FOR UPDATE",
            &[&org_id],
        )
        .await
        .map_err(map_err)?;
    let owners = rows
        .iter()
        .filter(|r| r.get::<_, String>(1) == "owner")
        .count() as i64;
    let role = rows
        .iter()
        .find(|r| r.get::<_, i64>(0) == user_id)
        .map(|r| r.get::<_, String>(1))
        .ok_or(StoreError::NotFound("member"))?;
    Ok((owners, role.parse()?))
}

#[async_trait]
impl UserStore for PostgresStore {
    async fn create_user(&self, new: &NewUser<'_>) -> StoreResult<User> {
        let conn = self.conn().await?;
        insert_user(&**conn, new, now()).await
    }

    async fn user(&self, id: i64) -> StoreResult<Option<User>> {
        let conn = self.conn().await?;
        let row = conn
            .query_opt(
                &format!("SELECT {USER_COLS} FROM users WHERE id = $1"),
                &[&id],
            )
            .await
            .map_err(map_err)?;
        Ok(row.as_ref().map(user_row))
    }

    async fn user_by_email(&self, email: &str) -> StoreResult<Option<User>> {
        let conn = self.conn().await?;
        let email = email.trim().to_lowercase();
        let row = conn
            .query_opt(
                &format!("SELECT {USER_COLS} FROM users WHERE email = $1"),
                &[&email],
            )
            .await
            .map_err(map_err)?;
        Ok(row.as_ref().map(user_row))
    }

    async fn list_users(&self) -> StoreResult<Vec<User>> {
        let conn = self.conn().await?;
        let rows = conn
            .query(&format!("SELECT {USER_COLS} FROM users ORDER BY id"), &[])
            .await
            .map_err(map_err)?;
        Ok(rows.iter().map(user_row).collect())
    }

    async fn add_member(&self, org_id: i64, user_id: i64, role: Role) -> StoreResult<Membership> {
        let conn = self.conn().await?;
        insert_member(&**conn, org_id, user_id, role, now()).await
    }

    async fn list_members(&self, org_id: i64) -> StoreResult<Vec<Member>> {
        let conn = self.conn().await?;
        let rows = conn
            .query(
                "SELECT u.id, u.email, u.name, '' AS password_hash, u.created_at, u.time_zone, m.role, m.created_at \
                 FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.org_id = $1 \
                 ORDER BY m.created_at, u.id",
                &[&org_id],
            )
            .await
            .map_err(map_err)?;
        rows.iter()
            .map(|r| {
                Ok(Member {
                    user: user_row(r),
                    role: r.get::<_, String>(6).parse()?,
                    joined_at: r.get(7),
                })
            })
            .collect()
    }

    async fn set_member_role(
        &self,
        org_id: i64,
        user_id: i64,
        role: Role,
    ) -> StoreResult<Membership> {
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await.map_err(map_err)?;
        let (owners, current) = owners_and_role(&*tx, org_id, user_id).await?;
        if current == Role::Owner && role != Role::Owner && owners <= 1 {
            return Err(StoreError::Conflict(
                "the organization's last owner cannot be demoted; make someone else owner first"
                    .into(),
            ));
        }
        let row = tx
            .query_one(
                "UPDATE memberships SET role = $3 WHERE org_id = $1 AND user_id = $2 \
                 RETURNING org_id, user_id, role, created_at",
                &[&org_id, &user_id, &role.as_str()],
            )
            .await
            .map_err(map_err)?;
        let m = membership_row(&row)?;
        tx.commit().await.map_err(map_err)?;
        Ok(m)
    }

    async fn remove_member(&self, org_id: i64, user_id: i64) -> StoreResult<()> {
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await.map_err(map_err)?;
        let (owners, current) = owners_and_role(&*tx, org_id, user_id).await?;
        if current == Role::Owner && owners <= 1 {
            return Err(StoreError::Conflict(
                "the organization's last owner cannot be removed".into(),
            ));
        }
        tx.execute(
            "DELETE FROM memberships WHERE org_id = $1 AND user_id = $2",
            &[&org_id, &user_id],
        )
        .await
        .map_err(map_err)?;
        // Assignments do not outlive the membership.
        tx.execute(
            "UPDATE issues SET assignee_id = NULL WHERE assignee_id = $2 \
             AND project_id IN (SELECT id FROM projects WHERE org_id = $1)",
            &[&org_id, &user_id],
        )
        .await
        .map_err(map_err)?;
        tx.commit().await.map_err(map_err)
    }

    async fn update_user(
        &self,
        id: i64,
        name: Option<&str>,
        password_hash: Option<&str>,
    ) -> StoreResult<User> {
        let conn = self.conn().await?;
        let row = conn
            .query_opt(
                &format!(
                    "UPDATE users SET name = coalesce($2, name), password_hash = coalesce($3, password_hash) \
                     WHERE id = $1 RETURNING {USER_COLS}"
                ),
                &[&id, &name, &password_hash],
            )
            .await
            .map_err(map_err)?;
        row.as_ref()
            .map(user_row)
            .ok_or(StoreError::NotFound("user"))
    }

    async fn set_user_time_zone(&self, id: i64, time_zone: Option<&str>) -> StoreResult<User> {
        let conn = self.conn().await?;
        let row = conn
            .query_opt(
                &format!("UPDATE users SET time_zone = $2 WHERE id = $1 RETURNING {USER_COLS}"),
                &[&id, &time_zone],
            )
            .await
            .map_err(map_err)?;
        row.as_ref()
            .map(user_row)
            .ok_or(StoreError::NotFound("user"))
    }

    async fn memberships(&self, user_id: i64) -> StoreResult<Vec<Membership>> {
        let conn = self.conn().await?;
        let rows = conn
            .query(
                "SELECT org_id, user_id, role, created_at FROM memberships \
                 WHERE user_id = $1 ORDER BY org_id",
                &[&user_id],
            )
            .await
            .map_err(map_err)?;
        rows.iter().map(membership_row).collect()
    }
}
