//! Invitations to organizations on SQLite.

use async_trait::async_trait;
use rusqlite::{OptionalExtension, Row, params};
use time::OffsetDateTime;

use super::accounts::{insert_member, membership, membership_row};
use super::{SqliteStore, is_fk_violation, map_err};
use crate::model::{Invitation, Membership, NewInvitation};
use crate::time_util::{from_millis, now, to_millis};
use crate::traits::InvitationStore;
use crate::{StoreError, StoreResult};

const COLS: &str = "id, org_id, email, role, invited_by, created_at, expires_at";

type Raw = (i64, i64, String, String, Option<i64>, i64, i64);

fn row(r: &Row<'_>) -> rusqlite::Result<Raw> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
    ))
}

fn invitation(raw: Raw) -> StoreResult<Invitation> {
    Ok(Invitation {
        id: raw.0,
        org_id: raw.1,
        email: raw.2,
        role: raw.3.parse()?,
        invited_by: raw.4,
        created_at: from_millis(raw.5),
        expires_at: from_millis(raw.6),
    })
}

fn list(
    c: &rusqlite::Connection,
    filter: &str,
    key: &dyn rusqlite::ToSql,
    at: OffsetDateTime,
) -> StoreResult<Vec<Invitation>> {
    let mut stmt = c
        .prepare_cached(&format!(
            "SELECT {COLS} FROM invitations WHERE {filter} = ?1 AND expires_at > ?2 ORDER BY id"
        ))
        .map_err(map_err)?;
    let raw: Vec<Raw> = stmt
        .query_map(params![key, to_millis(at)], row)
        .and_then(Iterator::collect)
        .map_err(map_err)?;
    raw.into_iter().map(invitation).collect()
}

#[async_trait]
impl InvitationStore for SqliteStore {
    async fn create_invitation(&self, new: &NewInvitation<'_>) -> StoreResult<Invitation> {
        let (org_id, email, role, by, expires) = (
            new.org_id,
            new.email.trim().to_lowercase(),
            new.role,
            new.invited_by,
            to_millis(new.expires_at),
        );
        self.transact(move |tx| {
            tx.query_row(
                &format!(
                    "INSERT INTO invitations (org_id, email, role, invited_by, created_at, expires_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
                     ON CONFLICT (org_id, email) DO UPDATE SET role = excluded.role, \
                     invited_by = excluded.invited_by, created_at = excluded.created_at, \
                     expires_at = excluded.expires_at RETURNING {COLS}"
                ),
                params![org_id, email, role.as_str(), by, to_millis(now()), expires],
                row,
            )
            .map_err(|e| {
                if is_fk_violation(&e) {
                    StoreError::NotFound("organization or user")
                } else {
                    map_err(e)
                }
            })
            .and_then(invitation)
        })
        .await
    }

    async fn invitation(&self, id: i64) -> StoreResult<Option<Invitation>> {
        self.read(move |c| {
            c.prepare_cached(&format!("SELECT {COLS} FROM invitations WHERE id = ?1"))
                .map_err(map_err)?
                .query_row([id], row)
                .optional()
                .map_err(map_err)?
                .map(invitation)
                .transpose()
        })
        .await
    }

    async fn org_invitations(
        &self,
        org_id: i64,
        now: OffsetDateTime,
    ) -> StoreResult<Vec<Invitation>> {
        self.read(move |c| list(c, "org_id", &org_id, now)).await
    }

    async fn email_invitations(
        &self,
        email: &str,
        now: OffsetDateTime,
    ) -> StoreResult<Vec<Invitation>> {
        let email = email.trim().to_lowercase();
        self.read(move |c| list(c, "email", &email, now)).await
    }

    async fn accept_invitation(
        &self,
        id: i64,
        user_id: i64,
        at: OffsetDateTime,
    ) -> StoreResult<Membership> {
        self.transact(move |tx| {
            let found = tx
                .query_row(
                    &format!(
                        "SELECT {COLS} FROM invitations i WHERE id = ?1 AND expires_at > ?3 \
                         AND email = (SELECT lower(email) FROM users WHERE id = ?2)"
                    ),
                    params![id, user_id, to_millis(at)],
                    row,
                )
                .optional()
                .map_err(map_err)?
                .map(invitation)
                .transpose()?
                .ok_or(StoreError::NotFound("invitation"))?;
            tx.execute("DELETE FROM invitations WHERE id = ?1", [id])
                .map_err(map_err)?;
            let existing = tx
                .query_row(
                    "SELECT org_id, user_id, role, created_at FROM memberships \
                     WHERE org_id = ?1 AND user_id = ?2",
                    params![found.org_id, user_id],
                    membership_row,
                )
                .optional()
                .map_err(map_err)?;
            match existing {
                Some(raw) => membership(raw),
                None => insert_member(tx, found.org_id, user_id, found.role, now()),
            }
        })
        .await
    }

    async fn delete_invitation(&self, id: i64) -> StoreResult<()> {
        self.write(move |c| {
            match c
                .execute("DELETE FROM invitations WHERE id = ?1", [id])
                .map_err(map_err)?
            {
                0 => Err(StoreError::NotFound("invitation")),
                _ => Ok(()),
            }
        })
        .await
    }
}
