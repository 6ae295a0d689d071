//! Invitations to organizations on PostgreSQL.

use async_trait::async_trait;
use time::OffsetDateTime;
use tokio_postgres::Row;

use super::accounts::{insert_member, membership_row};
use super::{PostgresStore, is_fk_violation, map_err};
use crate::model::{Invitation, Membership, NewInvitation};
use crate::time_util::now;
use crate::traits::InvitationStore;
use crate::{StoreError, StoreResult};

const COLS: &str = "id, org_id, email, role, invited_by, created_at, expires_at";

fn invitation(r: &Row) -> StoreResult<Invitation> {
    Ok(Invitation {
        id: r.get(0),
        org_id: r.get(1),
        email: r.get(2),
        role: r.get::<_, String>(3).parse()?,
        invited_by: r.get(4),
        created_at: r.get(5),
        expires_at: r.get(6),
    })
}

#[async_trait]
impl InvitationStore for PostgresStore {
    async fn create_invitation(&self, new: &NewInvitation<'_>) -> StoreResult<Invitation> {
        let conn = self.conn().await?;
        let email = new.email.trim().to_lowercase();
        let row = conn
            .query_one(
                &format!(
                    "INSERT INTO invitations (org_id, email, role, invited_by, created_at, expires_at) \
                     VALUES ($1, $2, $3, $4, $5, $6) \
                     ON CONFLICT (org_id, email) DO UPDATE SET role = excluded.role, \
                     invited_by = excluded.invited_by, created_at = excluded.created_at, \
                     expires_at = excluded.expires_at RETURNING {COLS}"
                ),
                &[
                    &new.org_id,
                    &email,
                    &new.role.as_str(),
                    &new.invited_by,
                    &now(),
                    &new.expires_at,
                ],
            )
            .await
            .map_err(|e| {
                if is_fk_violation(&e) {
                    StoreError::NotFound("organization or user")
                } else {
                    map_err(e)
                }
            })?;
        invitation(&row)
    }

    async fn invitation(&self, id: i64) -> StoreResult<Option<Invitation>> {
        let conn = self.conn().await?;
        conn.query_opt(
            &format!("SELECT {COLS} FROM invitations WHERE id = $1"),
            &[&id],
        )
        .await
        .map_err(map_err)?
        .as_ref()
        .map(invitation)
        .transpose()
    }

    async fn org_invitations(
        &self,
        org_id: i64,
        now: OffsetDateTime,
    ) -> StoreResult<Vec<Invitation>> {
        let conn = self.conn().await?;
        conn.query(
            &format!(
                "SELECT {COLS} FROM invitations WHERE org_id = $1 AND expires_at > $2 ORDER BY id"
            ),
            &[&org_id, &now],
        )
        .await
        .map_err(map_err)?
        .iter()
        .map(invitation)
        .collect()
    }

    async fn email_invitations(
        &self,
        email: &str,
        now: OffsetDateTime,
    ) -> StoreResult<Vec<Invitation>> {
        let conn = self.conn().await?;
        let email = email.trim().to_lowercase();
        conn.query(
            &format!(
                "SELECT {COLS} FROM invitations WHERE email = $1 AND expires_at > $2 ORDER BY id"
            ),
            &[&email, &now],
        )
        .await
        .map_err(map_err)?
        .iter()
        .map(invitation)
        .collect()
    }

    async fn accept_invitation(
        &self,
        id: i64,
        user_id: i64,
        at: OffsetDateTime,
    ) -> StoreResult<Membership> {
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await.map_err(map_err)?;
        // Deleting first claims the invitation: two concurrent accepts cannot both use it.
        let found = tx
            .query_opt(
                &format!(
                    "DELETE FROM invitations WHERE id = $1 AND expires_at > $3 \
                     AND email = (SELECT lower(email) FROM users WHERE id = $2) RETURNING {COLS}"
                ),
                &[&id, &user_id, &at],
            )
            .await
            .map_err(map_err)?
            .ok_or(StoreError::NotFound("invitation"))?;
        let found = invitation(&found)?;
        let existing = tx
            .query_opt(
                "SELECT org_id, user_id, role, created_at FROM memberships \
                 WHERE org_id = $1 AND user_id = $2",
                &[&found.org_id, &user_id],
            )
            .await
            .map_err(map_err)?;
        let member = match existing {
            Some(row) => membership_row(&row)?,
            None => insert_member(&*tx, found.org_id, user_id, found.role, now()).await?,
        };
        tx.commit().await.map_err(map_err)?;
        Ok(member)
    }

    async fn delete_invitation(&self, id: i64) -> StoreResult<()> {
        let conn = self.conn().await?;
        match conn
            .execute("DELETE FROM invitations WHERE id = $1", &[&id])
            .await
            .map_err(map_err)?
        {
            0 => Err(StoreError::NotFound("invitation")),
            _ => Ok(()),
        }
    }
}
