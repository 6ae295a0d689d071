//! API tokens and browser sessions on SQLite: the credentials.

use async_trait::async_trait;
use rusqlite::{OptionalExtension, Row, params};
use time::OffsetDateTime;

use super::{SqliteStore, is_fk_violation, is_unique_violation, map_err};
use crate::model::{ApiToken, NewApiToken};
use crate::query::Session;
use crate::time_util::{from_millis, now, to_millis};
use crate::traits::{SessionStore, TokenStore};
use crate::{StoreError, StoreResult};

const TOKEN_COLS: &str = "id, user_id, label, scope, prefix, created_at, last_used_at, revoked_at";

type RawToken = (
    i64,
    i64,
    String,
    String,
    String,
    i64,
    Option<i64>,
    Option<i64>,
);

fn token_row(r: &Row<'_>) -> rusqlite::Result<RawToken> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
    ))
}

fn token(raw: RawToken) -> StoreResult<ApiToken> {
    Ok(ApiToken {
        id: raw.0,
        user_id: raw.1,
        label: raw.2,
        scope: raw.3.parse()?,
        prefix: raw.4,
        created_at: from_millis(raw.5),
        last_used_at: raw.6.map(from_millis),
        revoked_at: raw.7.map(from_millis),
    })
}

#[async_trait]
impl TokenStore for SqliteStore {
    async fn create_token(&self, new: &NewApiToken<'_>) -> StoreResult<ApiToken> {
        let (user_id, label, scope, hash, prefix) = (
            new.user_id,
            new.label.to_string(),
            new.scope,
            new.token_hash.to_string(),
            new.prefix.to_string(),
        );
        self.transact(move |tx| {
            tx.query_row(
                &format!(
                    "INSERT INTO api_tokens (user_id, label, scope, token_hash, prefix, created_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING {TOKEN_COLS}"
                ),
                params![user_id, label, scope.as_str(), hash, prefix, to_millis(now())],
                token_row,
            )
            .map_err(|e| {
                if is_fk_violation(&e) {
                    StoreError::NotFound("user")
                } else if is_unique_violation(&e) {
                    StoreError::Conflict("this token already exists".into())
                } else {
                    map_err(e)
                }
            })
            .and_then(token)
        })
        .await
    }

    async fn token_by_hash(&self, token_hash: &str) -> StoreResult<Option<ApiToken>> {
        let hash = token_hash.to_string();
        self.read(move |c| {
            c.prepare_cached(&format!(
                "SELECT {TOKEN_COLS} FROM api_tokens WHERE token_hash = ?1"
            ))
            .map_err(map_err)?
            .query_row([hash], token_row)
            .optional()
            .map_err(map_err)?
            .map(token)
            .transpose()
        })
        .await
    }

    async fn touch_token(&self, id: i64, at: OffsetDateTime) -> StoreResult<()> {
        self.write(move |c| {
            c.execute(
                "UPDATE api_tokens SET last_used_at = ?2 WHERE id = ?1",
                params![id, to_millis(at)],
            )
            .map(|_| ())
            .map_err(map_err)
        })
        .await
    }

    async fn list_tokens(&self, user_id: i64) -> StoreResult<Vec<ApiToken>> {
        self.read(move |c| {
            let mut stmt = c
                .prepare_cached(&format!(
                    "SELECT {TOKEN_COLS} FROM api_tokens WHERE user_id = ?1 ORDER BY id DESC"
                ))
                .map_err(map_err)?;
            let raw: Vec<_> = stmt
                .query_map([user_id], token_row)
                .and_then(Iterator::collect)
                .map_err(map_err)?;
            raw.into_iter().map(token).collect()
        })
        .await
    }

    async fn revoke_token(&self, user_id: i64, id: i64) -> StoreResult<ApiToken> {
        self.transact(move |tx| {
            tx.query_row(
                &format!(
                    "UPDATE api_tokens SET revoked_at = coalesce(revoked_at, ?3) \
                     WHERE id = ?1 AND user_id = ?2 RETURNING {TOKEN_COLS}"
                ),
                params![id, user_id, to_millis(now())],
                token_row,
            )
            .optional()
            .map_err(map_err)?
            .ok_or(StoreError::NotFound("token"))
            .and_then(token)
        })
        .await
    }
}

#[async_trait]
impl SessionStore for SqliteStore {
    async fn create_session(
        &self,
        user_id: i64,
        token_hash: &str,
        csrf_token: &str,
        expires_at: OffsetDateTime,
    ) -> StoreResult<()> {
        let (hash, csrf) = (token_hash.to_string(), csrf_token.to_string());
        self.write(move |c| {
            // Expired sessions are swept here, on sign-in, rather than by a job of their own.
            c.execute(
                "DELETE FROM sessions WHERE expires_at < ?1",
                [to_millis(now())],
            )
            .map_err(map_err)?;
            c.execute(
                "INSERT INTO sessions (token_hash, user_id, csrf_token, created_at, expires_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![hash, user_id, csrf, to_millis(now()), to_millis(expires_at)],
            )
            .map_err(|e| {
                if is_fk_violation(&e) {
                    StoreError::NotFound("user")
                } else {
                    map_err(e)
                }
            })?;
            Ok(())
        })
        .await
    }

    async fn session(&self, token_hash: &str, at: OffsetDateTime) -> StoreResult<Option<Session>> {
        let hash = token_hash.to_string();
        self.read(move |c| {
            c.prepare_cached(
                "SELECT user_id, csrf_token, expires_at FROM sessions WHERE token_hash = ?1 AND expires_at > ?2",
            )
            .map_err(map_err)?
            .query_row(params![hash, to_millis(at)], |r| {
                Ok(Session {
                    user_id: r.get(0)?,
                    csrf_token: r.get(1)?,
                    expires_at: from_millis(r.get(2)?),
                })
            })
            .optional()
            .map_err(map_err)
        })
        .await
    }

    async fn delete_session(&self, token_hash: &str) -> StoreResult<()> {
        let hash = token_hash.to_string();
        self.write(move |c| {
            c.execute("DELETE FROM sessions WHERE token_hash = ?1", [hash])
                .map(|_| ())
                .map_err(map_err)
        })
        .await
    }

    async fn delete_user_sessions(&self, user_id: i64) -> StoreResult<()> {
        self.write(move |c| {
            c.execute("DELETE FROM sessions WHERE user_id = ?1", [user_id])
                .map(|_| ())
                .map_err(map_err)
        })
        .await
    }
}
