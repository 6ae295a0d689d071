//! API tokens and browser sessions on PostgreSQL: the credentials.

use async_trait::async_trait;
use time::OffsetDateTime;
use tokio_postgres::Row;

use super::{PostgresStore, is_fk_violation, is_unique_violation, map_err};
use crate::model::{ApiToken, NewApiToken};
use crate::query::Session;
use crate::time_util::now;
use crate::traits::{SessionStore, TokenStore};
use crate::{StoreError, StoreResult};

const TOKEN_COLS: &str = "id, user_id, label, scope, prefix, created_at, last_used_at, revoked_at";

fn token_row(r: &Row) -> StoreResult<ApiToken> {
    Ok(ApiToken {
        id: r.get(0),
        user_id: r.get(1),
        label: r.get(2),
        scope: r.get::<_, String>(3).parse()?,
        prefix: r.get(4),
        created_at: r.get(5),
        last_used_at: r.get(6),
        revoked_at: r.get(7),
    })
}

#[async_trait]
impl TokenStore for PostgresStore {
    async fn create_token(&self, new: &NewApiToken<'_>) -> StoreResult<ApiToken> {
        let conn = self.conn().await?;
        let row = conn
            .query_one(
                &format!(
                    "INSERT INTO api_tokens (user_id, label, scope, token_hash, prefix, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6) RETURNING {TOKEN_COLS}"
                ),
                &[
                    &new.user_id,
                    &new.label,
                    &new.scope.as_str(),
                    &new.token_hash,
                    &new.prefix,
                    &now(),
                ],
            )
            .await
            .map_err(|e| {
                if is_fk_violation(&e) {
                    StoreError::NotFound("user")
                } else if is_unique_violation(&e) {
                    StoreError::Conflict("this token already exists".into())
                } else {
                    map_err(e)
                }
            })?;
        token_row(&row)
    }

    async fn token_by_hash(&self, token_hash: &str) -> StoreResult<Option<ApiToken>> {
        let conn = self.conn().await?;
        let stmt = conn
            .prepare_cached(&format!(
                "SELECT {TOKEN_COLS} FROM api_tokens WHERE token_hash = $1"
            ))
            .await
            .map_err(map_err)?;
        let row = conn
            .query_opt(&stmt, &[&token_hash])
            .await
            .map_err(map_err)?;
        row.as_ref().map(token_row).transpose()
    }

    async fn touch_token(&self, id: i64, at: OffsetDateTime) -> StoreResult<()> {
        let conn = self.conn().await?;
        conn.execute(
            "UPDATE api_tokens SET last_used_at = $2 WHERE id = $1",
            &[&id, &at],
        )
        .await
        .map_err(map_err)?;
        Ok(())
    }

    async fn list_tokens(&self, user_id: i64) -> StoreResult<Vec<ApiToken>> {
        let conn = self.conn().await?;
        let rows = conn
            .query(
                &format!("SELECT {TOKEN_COLS} FROM api_tokens WHERE user_id = $1 ORDER BY id DESC"),
                &[&user_id],
            )
            .await
            .map_err(map_err)?;
        rows.iter().map(token_row).collect()
    }

    async fn revoke_token(&self, user_id: i64, id: i64) -> StoreResult<ApiToken> {
        let conn = self.conn().await?;
        let row = conn
            .query_opt(
                &format!(
                    "UPDATE api_tokens SET revoked_at = coalesce(revoked_at, $3) \
                     WHERE id = $1 AND user_id = $2 RETURNING {TOKEN_COLS}"
                ),
                &[&id, &user_id, &now()],
            )
            .await
            .map_err(map_err)?;
        row.as_ref()
            .map(token_row)
            .transpose()?
            .ok_or(StoreError::NotFound("token"))
    }
}

#[async_trait]
impl SessionStore for PostgresStore {
    async fn create_session(
        &self,
        user_id: i64,
        token_hash: &str,
        csrf_token: &str,
        expires_at: OffsetDateTime,
    ) -> StoreResult<()> {
        let conn = self.conn().await?;
        // Expired sessions are swept here, on sign-in, rather than by a job of their own.
        conn.execute("DELETE FROM sessions WHERE expires_at < $1", &[&now()])
            .await
            .map_err(map_err)?;
        conn.execute(
            "INSERT INTO sessions (token_hash, user_id, csrf_token, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
            &[&token_hash, &user_id, &csrf_token, &now(), &expires_at],
        )
        .await
        .map_err(|e| {
            if is_fk_violation(&e) {
                StoreError::NotFound("user")
            } else {
                map_err(e)
            }
        })?;
        Ok(())
    }

    async fn session(&self, token_hash: &str, at: OffsetDateTime) -> StoreResult<Option<Session>> {
        let conn = self.conn().await?;
        let stmt = conn
            .prepare_cached(
                "SELECT user_id, csrf_token, expires_at FROM sessions WHERE token_hash = $1 AND expires_at > $2",
            )
            .await
            .map_err(map_err)?;
        let row = conn
            .query_opt(&stmt, &[&token_hash, &at])
            .await
            .map_err(map_err)?;
        Ok(row.map(|r| Session {
            user_id: r.get(0),
            csrf_token: r.get(1),
            expires_at: r.get(2),
        }))
    }

    async fn delete_session(&self, token_hash: &str) -> StoreResult<()> {
        let conn = self.conn().await?;
        conn.execute("DELETE FROM sessions WHERE token_hash = $1", &[&token_hash])
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn delete_user_sessions(&self, user_id: i64) -> StoreResult<()> {
        let conn = self.conn().await?;
        conn.execute("DELETE FROM sessions WHERE user_id = $1", &[&user_id])
            .await
            .map_err(map_err)?;
        Ok(())
    }
}
