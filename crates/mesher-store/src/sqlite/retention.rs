//! Retention on SQLite: batched deletes of expired events, and free pages given back to the
//! file system by incremental vacuum (the file was created, or rebuilt once by `migrate`, with
//! `auto_vacuum = INCREMENTAL`).

use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};
use time::OffsetDateTime;

use super::{SqliteStore, map_err};
use crate::retention::{ProjectStorage, Upkeep};
use crate::time_util::{from_millis, to_millis};
use crate::traits::RetentionStore;
use crate::{StoreError, StoreResult};

#[async_trait]
impl RetentionStore for SqliteStore {
    async fn expire_events(
        &self,
        project_id: i64,
        before: OffsetDateTime,
        limit: usize,
    ) -> StoreResult<u64> {
        let before = to_millis(before);
        let offset = i64::try_from(limit.max(1) - 1).unwrap_or(i64::MAX);
        self.transact(move |tx| {
            // The batch ends after the limit-th oldest expired event's timestamp (all events of
            // that timestamp go together), or at `before` when fewer are left. Both walks follow
            // (project_id, timestamp, id).
            let last: Option<i64> = tx
                .prepare_cached(
                    "SELECT timestamp FROM events WHERE project_id = ?1 AND timestamp < ?2 \
                     ORDER BY timestamp LIMIT 1 OFFSET ?3",
                )
                .map_err(map_err)?
                .query_row(params![project_id, before, offset], |r| r.get(0))
                .optional()
                .map_err(map_err)?;
            let upto = last.map_or(before, |t| (t + 1).min(before));
            let gone: Vec<(i64, i64)> = tx
                .prepare_cached(
                    "DELETE FROM events WHERE project_id = ?1 AND timestamp < ?2 RETURNING id, bytes",
                )
                .map_err(map_err)?
                .query_map(params![project_id, upto], |r| Ok((r.get(0)?, r.get(1)?)))
                .and_then(Iterator::collect)
                .map_err(map_err)?;
            if gone.is_empty() {
                return Ok(0);
            }
            // The full-text index is contentless: its rows go explicitly, by rowid.
            let mut unindex = tx
                .prepare_cached("DELETE FROM events_fts WHERE rowid = ?1")
                .map_err(map_err)?;
            for (id, _) in &gone {
                unindex.execute([id]).map_err(map_err)?;
            }
            let bytes: i64 = gone.iter().map(|g| g.1).sum();
            tx.prepare_cached(
                "UPDATE projects SET event_count = event_count - ?2, \
                   storage_bytes = storage_bytes - ?3, \
                   events_expired_before = max(coalesce(events_expired_before, ?4), ?4) \
                 WHERE id = ?1",
            )
            .map_err(map_err)?
            .execute(params![project_id, gone.len() as i64, bytes, upto])
            .map_err(map_err)?;
            Ok(gone.len() as u64)
        })
        .await
    }

    async fn storage_upkeep(
        &self,
        _now: OffsetDateTime,
        _keep_after: OffsetDateTime,
        max_pages: u64,
    ) -> StoreResult<Upkeep> {
        self.write(move |conn| {
            let free = |c: &rusqlite::Connection| -> StoreResult<u64> {
                c.query_row("PRAGMA freelist_count", [], |r| r.get::<_, i64>(0))
                    .map(|n| n.max(0) as u64)
                    .map_err(map_err)
            };
            let before = free(conn)?;
            if before == 0 {
                return Ok(Upkeep::default());
            }
            // Each call moves at most `max_pages` pages, so the writer is never held for long;
            // the caller paces the steps. The pragma frees one page per step of its statement:
            // it is stepped to the end (`execute_batch` would step it once, one page a call).
            let mut vacuum = conn
                .prepare(&format!("PRAGMA incremental_vacuum({})", max_pages.max(1)))
                .map_err(map_err)?;
            let mut rows = vacuum.query([]).map_err(map_err)?;
            while rows.next().map_err(map_err)?.is_some() {}
            drop(rows);
            drop(vacuum);
            let after = free(conn)?;
            // The file itself shrinks when the write-ahead log is copied back into it.
            conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
                .map_err(map_err)?;
            Ok(Upkeep {
                pages_released: before.saturating_sub(after),
                more: after > 0,
                ..Upkeep::default()
            })
        })
        .await
    }

    fn expiry_floor(&self, keep_after: OffsetDateTime) -> OffsetDateTime {
        keep_after
    }

    async fn prune_rollups(&self, before: OffsetDateTime) -> StoreResult<u64> {
        let before = to_millis(before);
        self.transact(move |tx| {
            let mut n = 0;
            for table in ["issue_hourly", "project_hourly", "project_tag_hourly"] {
                n += tx
                    .execute(&format!("DELETE FROM {table} WHERE hour < ?1"), [before])
                    .map_err(map_err)? as u64;
            }
            Ok(n)
        })
        .await
    }

    async fn project_storage(&self, project_id: i64) -> StoreResult<ProjectStorage> {
        self.read(move |c| {
            c.prepare_cached(
                "SELECT event_count, storage_bytes, events_expired_before FROM projects WHERE id = ?1",
            )
            .map_err(map_err)?
            .query_row([project_id], |r| {
                Ok(ProjectStorage {
                    events: r.get(0)?,
                    bytes: r.get(1)?,
                    expired_before: r.get::<_, Option<i64>>(2)?.map(from_millis),
                })
            })
            .optional()
            .map_err(map_err)?
            .ok_or(StoreError::NotFound("project"))
        })
        .await
    }

    async fn storage_by_project(&self) -> StoreResult<Vec<(i64, i64)>> {
        self.read(|c| {
            c.prepare_cached("SELECT id, storage_bytes FROM projects ORDER BY id")
                .map_err(map_err)?
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                .and_then(Iterator::collect)
                .map_err(map_err)
        })
        .await
    }
}
