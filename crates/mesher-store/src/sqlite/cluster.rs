//! The cluster registry and leases on SQLite: one node, the same statements as PostgreSQL.

use async_trait::async_trait;
use rusqlite::{OptionalExtension, Row, params};
use time::OffsetDateTime;

use super::{SqliteStore, map_err};
use crate::StoreResult;
use crate::cluster::{
    BusSubscription, ClusterStore, JobRun, Lease, NodeBeat, NodeRecord, OverflowEvent,
};
use crate::cluster_sql::{self as sql, sqlite};
use crate::time_util::{from_millis, to_millis};

fn node(r: &Row<'_>) -> rusqlite::Result<NodeRecord> {
    Ok(NodeRecord {
        name: r.get(0)?,
        address: r.get(1)?,
        version: r.get(2)?,
        started_at: from_millis(r.get(3)?),
        last_heartbeat: from_millis(r.get(4)?),
        interval_ms: r.get(5)?,
        events_per_second: r.get(6)?,
        queue_depth: r.get(7)?,
        handed_off: r.get(8)?,
        taken_over: r.get(9)?,
        services: r.get(10)?,
    })
}

#[async_trait]
impl ClusterStore for SqliteStore {
    async fn register_node(&self, n: &NodeRecord) -> StoreResult<()> {
        let n = n.clone();
        self.write(move |conn| {
            conn.execute(
                &sqlite(sql::REGISTER),
                params![
                    n.name,
                    n.address,
                    n.version,
                    to_millis(n.started_at),
                    to_millis(n.last_heartbeat),
                    n.interval_ms,
                    n.events_per_second,
                    n.queue_depth,
                    n.handed_off,
                    n.taken_over,
                    n.services
                ],
            )
            .map_err(map_err)
            .map(|_| ())
        })
        .await
    }

    async fn beat_node(&self, b: &NodeBeat<'_>) -> StoreResult<bool> {
        let (name, services) = (b.name.to_owned(), b.services.to_owned());
        let (at, rate, depth, off, over) = (
            to_millis(b.at),
            b.events_per_second,
            b.queue_depth,
            b.handed_off,
            b.taken_over,
        );
        self.write(move |conn| {
            conn.execute(
                &sqlite(sql::BEAT),
                params![name, at, rate, depth, off, over, services],
            )
            .map_err(map_err)
            .map(|n| n == 1)
        })
        .await
    }

    async fn deregister_node(&self, name: &str) -> StoreResult<()> {
        let name = name.to_owned();
        self.write(move |conn| {
            conn.execute(&sqlite(sql::DEREGISTER), [name])
                .map_err(map_err)
                .map(|_| ())
        })
        .await
    }

    async fn nodes(&self) -> StoreResult<Vec<NodeRecord>> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(&sqlite(sql::NODES)).map_err(map_err)?;
            let rows = stmt.query_map([], node).map_err(map_err)?;
            rows.collect::<rusqlite::Result<_>>().map_err(map_err)
        })
        .await
    }

    async fn try_lease(
        &self,
        name: &str,
        holder: &str,
        now: OffsetDateTime,
        ttl: time::Duration,
    ) -> StoreResult<Option<i64>> {
        let (name, holder) = (name.to_owned(), holder.to_owned());
        let (now, until) = (to_millis(now), to_millis(now + ttl));
        self.write(move |conn| {
            conn.query_row(
                &sqlite(sql::TRY_LEASE),
                params![name, holder, now, until],
                |r| r.get(0),
            )
            .optional()
            .map_err(map_err)
        })
        .await
    }

    async fn release_lease(
        &self,
        name: &str,
        holder: &str,
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        let (name, holder, now) = (name.to_owned(), holder.to_owned(), to_millis(now));
        self.write(move |conn| {
            conn.execute(&sqlite(sql::RELEASE_LEASE), params![name, holder, now])
                .map_err(map_err)
                .map(|_| ())
        })
        .await
    }

    async fn lease(&self, name: &str) -> StoreResult<Option<Lease>> {
        let name = name.to_owned();
        self.read(move |conn| {
            conn.query_row(&sqlite(sql::LEASE), [name], |r| {
                Ok(Lease {
                    name: r.get(0)?,
                    holder: r.get(1)?,
                    epoch: r.get(2)?,
                    expires_at: from_millis(r.get(3)?),
                })
            })
            .optional()
            .map_err(map_err)
        })
        .await
    }

    async fn claim_job_run(&self, lease: &str, run: &JobRun) -> StoreResult<bool> {
        let (lease, run) = (lease.to_owned(), run.clone());
        self.transact(move |tx| {
            let ran = to_millis(run.ran_at);
            let fenced = tx
                .query_row(
                    &sqlite(sql::FENCE),
                    params![lease, run.node, run.epoch, ran],
                    |_| Ok(()),
                )
                .optional()
                .map_err(map_err)?
                .is_none();
            if fenced {
                return Ok(false);
            }
            tx.execute(
                &sqlite(sql::CLAIM_RUN),
                params![run.job, run.slot, run.epoch, run.node, ran],
            )
            .map_err(map_err)
            .map(|n| n == 1)
        })
        .await
    }

    async fn job_runs(&self, job: &str) -> StoreResult<Vec<JobRun>> {
        let job = job.to_owned();
        self.read(move |conn| {
            let mut stmt = conn
                .prepare_cached(&sqlite(sql::JOB_RUNS))
                .map_err(map_err)?;
            let rows = stmt
                .query_map([job], |r| {
                    Ok(JobRun {
                        job: r.get(0)?,
                        slot: r.get(1)?,
                        epoch: r.get(2)?,
                        node: r.get(3)?,
                        ran_at: from_millis(r.get(4)?),
                    })
                })
                .map_err(map_err)?;
            rows.collect::<rusqlite::Result<_>>().map_err(map_err)
        })
        .await
    }

    async fn prune_job_runs(&self, before: OffsetDateTime) -> StoreResult<u64> {
        let before = to_millis(before);
        self.write(move |conn| {
            conn.execute(&sqlite(sql::PRUNE_RUNS), [before])
                .map_err(map_err)
                .map(|n| n as u64)
        })
        .await
    }

    async fn push_overflow(
        &self,
        origin: &str,
        events: &[(i64, Vec<u8>)],
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        let (origin, events, now) = (origin.to_owned(), events.to_vec(), to_millis(now));
        self.transact(move |tx| {
            let mut stmt = tx
                .prepare_cached(&sqlite(sql::PUSH_OVERFLOW))
                .map_err(map_err)?;
            for (project, payload) in &events {
                stmt.execute(params![project, origin, payload, now])
                    .map_err(map_err)?;
            }
            Ok(())
        })
        .await
    }

    async fn claim_overflow(
        &self,
        node: &str,
        now: OffsetDateTime,
        until: OffsetDateTime,
        own_after: OffsetDateTime,
        limit: usize,
    ) -> StoreResult<Vec<OverflowEvent>> {
        let node = node.to_owned();
        let (now, until, own) = (to_millis(now), to_millis(until), to_millis(own_after));
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.write(move |conn| {
            let mut stmt = conn
                .prepare_cached(&sqlite(&sql::claim_overflow("")))
                .map_err(map_err)?;
            let rows = stmt
                .query_map(params![node, now, until, own, limit], |r| {
                    Ok(OverflowEvent {
                        id: r.get(0)?,
                        project_id: r.get(1)?,
                        origin: r.get(2)?,
                        payload: r.get(3)?,
                    })
                })
                .map_err(map_err)?;
            let mut claimed: Vec<OverflowEvent> =
                rows.collect::<rusqlite::Result<_>>().map_err(map_err)?;
            claimed.sort_by_key(|e| e.id);
            Ok(claimed)
        })
        .await
    }

    async fn delete_overflow(&self, node: &str, ids: &[i64]) -> StoreResult<u64> {
        let (node, ids) = (node.to_owned(), ids.to_vec());
        self.transact(move |tx| {
            let mut stmt = tx
                .prepare_cached(&sqlite(sql::DELETE_OVERFLOW))
                .map_err(map_err)?;
            let mut n = 0;
            for id in ids {
                n += stmt.execute(params![id, node]).map_err(map_err)? as u64;
            }
            Ok(n)
        })
        .await
    }

    async fn overflow_depth(&self) -> StoreResult<i64> {
        self.read(|conn| {
            conn.query_row(&sqlite(sql::OVERFLOW_DEPTH), [], |r| r.get(0))
                .map_err(map_err)
        })
        .await
    }

    async fn publish(&self, _message: &str) -> StoreResult<()> {
        Ok(())
    }

    async fn subscribe(&self) -> StoreResult<Option<BusSubscription>> {
        Ok(None)
    }
}
