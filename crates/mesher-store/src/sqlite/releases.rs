//! Releases declared ahead of their events on SQLite (issue 18: `sentry-cli releases new`).

use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};
use time::OffsetDateTime;

use super::{SqliteStore, map_err};
use crate::StoreResult;
use crate::time_util::{from_millis, to_millis};
use crate::traits::ReleaseStore;

#[async_trait]
impl ReleaseStore for SqliteStore {
    async fn declare_release(
        &self,
        project_id: i64,
        version: &str,
        at: OffsetDateTime,
    ) -> StoreResult<bool> {
        let version = version.to_string();
        self.transact(move |tx| {
            let added = tx
                .execute(
                    "INSERT OR IGNORE INTO releases (project_id, version, first_seen) \
                     VALUES (?1, ?2, ?3)",
                    params![project_id, version, to_millis(at)],
                )
                .map_err(map_err)?;
            Ok(added == 1)
        })
        .await
    }

    async fn release_first_seen(
        &self,
        project_id: i64,
        version: &str,
    ) -> StoreResult<Option<OffsetDateTime>> {
        let version = version.to_string();
        self.read(move |c| {
            c.prepare_cached(
                "SELECT first_seen FROM releases WHERE project_id = ?1 AND version = ?2",
            )
            .map_err(map_err)?
            .query_row(params![project_id, version], |r| r.get::<_, i64>(0))
            .optional()
            .map_err(map_err)
            .map(|t| t.map(from_millis))
        })
        .await
    }
}
