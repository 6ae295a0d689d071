//! Retention on PostgreSQL: batched deletes of expired events for the projects whose retention
//! is shorter than the partitions' (see `partitions.rs` for the partitions dropped whole).

use async_trait::async_trait;
use time::OffsetDateTime;

use super::{PostgresStore, map_err};
use crate::retention::{ProjectStorage, Upkeep};
use crate::traits::RetentionStore;
use crate::{StoreError, StoreResult};

#[async_trait]
impl RetentionStore for PostgresStore {
    async fn expire_events(
        &self,
        project_id: i64,
        before: OffsetDateTime,
        limit: usize,
    ) -> StoreResult<u64> {
        let limit = i64::try_from(limit.max(1)).unwrap_or(i64::MAX);
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await.map_err(map_err)?;
        // The batch is the `limit` oldest expired events, picked by walking (project_id,
        // timestamp, id) and deleted by their keys. A delete bounded by the batch's last
        // timestamp alone was planned on the partition's statistics, and statistics taken
        // while the expired events were a large share still said so once most were gone:
        // the planner chose a sequential scan of the whole partition, 283 ms a batch of 50 in
        // the soak, where this takes 5 ms for 250. One more is picked than deleted: every
        // event before it is gone (or every expired one, when there is none), whatever else
        // deleted some of the batch meanwhile (an issue's deletion).
        let gone = tx
            .query_one(
                "WITH picked AS (SELECT id, timestamp FROM events \
                   WHERE project_id = $1 AND timestamp < $2 ORDER BY timestamp, id LIMIT $3::bigint + 1), \
                 doomed AS (SELECT id, timestamp FROM picked ORDER BY timestamp, id LIMIT $3), \
                 gone AS (DELETE FROM events e USING doomed d \
                   WHERE e.project_id = $1 AND e.timestamp < $2 \
                     AND e.timestamp = d.timestamp AND e.id = d.id \
                   RETURNING e.bytes) \
                 SELECT (SELECT count(*) FROM gone), \
                        (SELECT coalesce(sum(bytes), 0)::bigint FROM gone), \
                        (SELECT timestamp FROM picked ORDER BY timestamp, id OFFSET $3 LIMIT 1)",
                &[&project_id, &before, &limit],
            )
            .await
            .map_err(map_err)?;
        let upto: OffsetDateTime = gone.get::<_, Option<OffsetDateTime>>(2).unwrap_or(before);
        let (events, bytes): (i64, i64) = (gone.get(0), gone.get(1));
        if events > 0 {
            tx.execute(
                "UPDATE projects SET event_count = event_count - $2, \
                   storage_bytes = storage_bytes - $3, \
                   events_expired_before = greatest(events_expired_before, $4) \
                 WHERE id = $1",
                &[&project_id, &events, &bytes, &upto],
            )
            .await
            .map_err(map_err)?;
        }
        tx.commit().await.map_err(map_err)?;
        Ok(events as u64)
    }

    /// Creates the coming weeks' partitions and drops those wholly before `keep_after`;
    /// `max_pages` is SQLite's. A step that could not have its locks in time, or that another
    /// node is taking, is left for the next call (`more`). Once the partitions are done, and
    /// only where autovacuum is off, vacuums the tables it would (`vacuum.rs`).
    async fn storage_upkeep(
        &self,
        now: OffsetDateTime,
        keep_after: OffsetDateTime,
        _max_pages: u64,
    ) -> StoreResult<Upkeep> {
        let mut step = super::partitions::upkeep(self, now, keep_after).await?;
        if !step.more {
            step.vacuumed = super::vacuum::vacuum_due(self).await?;
        }
        Ok(step)
    }

    fn expiry_floor(&self, keep_after: OffsetDateTime) -> OffsetDateTime {
        super::partitions::Partition::of(keep_after).start
    }

    async fn prune_rollups(&self, before: OffsetDateTime) -> StoreResult<u64> {
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await.map_err(map_err)?;
        let mut n = 0;
        for table in ["issue_hourly", "project_hourly", "project_tag_hourly"] {
            n += tx
                .execute(&format!("DELETE FROM {table} WHERE hour < $1"), &[&before])
                .await
                .map_err(map_err)?;
        }
        tx.commit().await.map_err(map_err)?;
        Ok(n)
    }

    async fn project_storage(&self, project_id: i64) -> StoreResult<ProjectStorage> {
        let conn = self.conn().await?;
        let row = conn
            .query_opt(
                "SELECT event_count, storage_bytes, events_expired_before FROM projects \
                 WHERE id = $1",
                &[&project_id],
            )
            .await
            .map_err(map_err)?
            .ok_or(StoreError::NotFound("project"))?;
        Ok(ProjectStorage {
            events: row.get(0),
            bytes: row.get(1),
            expired_before: row.get(2),
        })
    }

    async fn storage_by_project(&self) -> StoreResult<Vec<(i64, i64)>> {
        let conn = self.conn().await?;
        let rows = conn
            .query("SELECT id, storage_bytes FROM projects ORDER BY id", &[])
            .await
            .map_err(map_err)?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }
}
