//! Releases declared ahead of their events on PostgreSQL (issue 18: `sentry-cli releases new`).

use async_trait::async_trait;
use time::OffsetDateTime;

use super::{PostgresStore, map_err};
use crate::StoreResult;
use crate::traits::ReleaseStore;

#[async_trait]
impl ReleaseStore for PostgresStore {
    async fn declare_release(
        &self,
        project_id: i64,
        version: &str,
        at: OffsetDateTime,
    ) -> StoreResult<bool> {
        let conn = self.conn().await?;
        let added = conn
            .execute(
                "INSERT INTO releases (project_id, version, first_seen) VALUES ($1, $2, $3) \
                 ON CONFLICT DO NOTHING",
                &[&project_id, &version, &at],
            )
            .await
            .map_err(map_err)?;
        Ok(added == 1)
    }

    async fn release_first_seen(
        &self,
        project_id: i64,
        version: &str,
    ) -> StoreResult<Option<OffsetDateTime>> {
        let conn = self.conn().await?;
        let row = conn
            .query_opt(
                "SELECT first_seen FROM releases WHERE project_id = $1 AND version = $2",
                &[&project_id, &version],
            )
            .await
            .map_err(map_err)?;
        Ok(row.map(|r| r.get(0)))
    }
}
