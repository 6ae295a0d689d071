//! The cluster registry and leases on PostgreSQL, the nodes' one coordination engine.

use async_trait::async_trait;
use time::OffsetDateTime;
use tokio_postgres::{AsyncMessage, NoTls, Row};

use super::{PostgresStore, map_err};
use crate::StoreResult;
use crate::cluster::{
    BusSubscription, ClusterStore, JobRun, Lease, NodeBeat, NodeRecord, OverflowEvent,
};
use crate::cluster_sql as sql;
use crate::time_util::{from_millis, to_millis};

fn node(r: &Row) -> NodeRecord {
    NodeRecord {
        name: r.get(0),
        address: r.get(1),
        version: r.get(2),
        started_at: from_millis(r.get(3)),
        last_heartbeat: from_millis(r.get(4)),
        interval_ms: r.get(5),
        events_per_second: r.get(6),
        queue_depth: r.get(7),
        handed_off: r.get(8),
        taken_over: r.get(9),
        services: r.get(10),
    }
}

#[async_trait]
impl ClusterStore for PostgresStore {
    async fn register_node(&self, n: &NodeRecord) -> StoreResult<()> {
        let conn = self.conn().await?;
        conn.execute(
            sql::REGISTER,
            &[
                &n.name,
                &n.address,
                &n.version,
                &to_millis(n.started_at),
                &to_millis(n.last_heartbeat),
                &n.interval_ms,
                &n.events_per_second,
                &n.queue_depth,
                &n.handed_off,
                &n.taken_over,
                &n.services,
            ],
        )
        .await
        .map_err(map_err)?;
        Ok(())
    }

    async fn beat_node(&self, b: &NodeBeat<'_>) -> StoreResult<bool> {
        let conn = self.conn().await?;
        let n = conn
            .execute(
                sql::BEAT,
                &[
                    &b.name,
                    &to_millis(b.at),
                    &b.events_per_second,
                    &b.queue_depth,
                    &b.handed_off,
                    &b.taken_over,
                    &b.services,
                ],
            )
            .await
            .map_err(map_err)?;
        Ok(n == 1)
    }

    async fn deregister_node(&self, name: &str) -> StoreResult<()> {
        let conn = self.conn().await?;
        conn.execute(sql::DEREGISTER, &[&name])
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn nodes(&self) -> StoreResult<Vec<NodeRecord>> {
        let conn = self.conn().await?;
        let rows = conn.query(sql::NODES, &[]).await.map_err(map_err)?;
        Ok(rows.iter().map(node).collect())
    }

    async fn try_lease(
        &self,
        name: &str,
        holder: &str,
        now: OffsetDateTime,
        ttl: time::Duration,
    ) -> StoreResult<Option<i64>> {
        let conn = self.conn().await?;
        let row = conn
            .query_opt(
                sql::TRY_LEASE,
                &[&name, &holder, &to_millis(now), &to_millis(now + ttl)],
            )
            .await
            .map_err(map_err)?;
        Ok(row.map(|r| r.get(0)))
    }

    async fn release_lease(
        &self,
        name: &str,
        holder: &str,
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        let conn = self.conn().await?;
        conn.execute(sql::RELEASE_LEASE, &[&name, &holder, &to_millis(now)])
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn lease(&self, name: &str) -> StoreResult<Option<Lease>> {
        let conn = self.conn().await?;
        let row = conn
            .query_opt(sql::LEASE, &[&name])
            .await
            .map_err(map_err)?;
        Ok(row.map(|r| Lease {
            name: r.get(0),
            holder: r.get(1),
            epoch: r.get(2),
            expires_at: from_millis(r.get(3)),
        }))
    }

    async fn claim_job_run(&self, lease: &str, run: &JobRun) -> StoreResult<bool> {
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await.map_err(map_err)?;
        let ran = to_millis(run.ran_at);
        // The row lock holds a peer's take-over of the lease until this run is recorded.
        let fence = format!("{} FOR UPDATE", sql::FENCE);
        let held = tx
            .query_opt(&fence, &[&lease, &run.node, &run.epoch, &ran])
            .await
            .map_err(map_err)?
            .is_some();
        if !held {
            return Ok(false);
        }
        let n = tx
            .execute(
                sql::CLAIM_RUN,
                &[&run.job, &run.slot, &run.epoch, &run.node, &ran],
            )
            .await
            .map_err(map_err)?;
        tx.commit().await.map_err(map_err)?;
        Ok(n == 1)
    }

    async fn job_runs(&self, job: &str) -> StoreResult<Vec<JobRun>> {
        let conn = self.conn().await?;
        let rows = conn.query(sql::JOB_RUNS, &[&job]).await.map_err(map_err)?;
        Ok(rows
            .iter()
            .map(|r| JobRun {
                job: r.get(0),
                slot: r.get(1),
                epoch: r.get(2),
                node: r.get(3),
                ran_at: from_millis(r.get(4)),
            })
            .collect())
    }

    async fn prune_job_runs(&self, before: OffsetDateTime) -> StoreResult<u64> {
        let conn = self.conn().await?;
        conn.execute(sql::PRUNE_RUNS, &[&to_millis(before)])
            .await
            .map_err(map_err)
    }

    async fn push_overflow(
        &self,
        origin: &str,
        events: &[(i64, Vec<u8>)],
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        let (projects, payloads): (Vec<i64>, Vec<&[u8]>) =
            events.iter().map(|(p, b)| (*p, b.as_slice())).unzip();
        let conn = self.conn().await?;
        conn.execute(
            "INSERT INTO overflow (project_id, origin, payload, created_ms) \
             SELECT p, $2, b, $4 FROM UNNEST($1::bigint[], $3::bytea[]) AS t(p, b)",
            &[&projects, &origin, &payloads, &to_millis(now)],
        )
        .await
        .map_err(map_err)?;
        Ok(())
    }

    async fn claim_overflow(
        &self,
        node: &str,
        now: OffsetDateTime,
        until: OffsetDateTime,
        own_after: OffsetDateTime,
        limit: usize,
    ) -> StoreResult<Vec<OverflowEvent>> {
        let conn = self.conn().await?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = conn
            .query(
                &sql::claim_overflow("FOR UPDATE SKIP LOCKED"),
                &[
                    &node,
                    &to_millis(now),
                    &to_millis(until),
                    &to_millis(own_after),
                    &limit,
                ],
            )
            .await
            .map_err(map_err)?;
        let mut claimed: Vec<OverflowEvent> = rows
            .iter()
            .map(|r| OverflowEvent {
                id: r.get(0),
                project_id: r.get(1),
                origin: r.get(2),
                payload: r.get(3),
            })
            .collect();
        claimed.sort_by_key(|e| e.id);
        Ok(claimed)
    }

    async fn delete_overflow(&self, node: &str, ids: &[i64]) -> StoreResult<u64> {
        let conn = self.conn().await?;
        conn.execute(
            "DELETE FROM overflow WHERE id = ANY($1) AND claimed_by = $2",
            &[&ids, &node],
        )
        .await
        .map_err(map_err)
    }

    async fn overflow_depth(&self) -> StoreResult<i64> {
        let conn = self.conn().await?;
        let row = conn
            .query_one(sql::OVERFLOW_DEPTH, &[])
            .await
            .map_err(map_err)?;
        Ok(row.get(0))
    }

    async fn publish(&self, message: &str) -> StoreResult<()> {
        let conn = self.conn().await?;
        conn.execute("SELECT pg_notify($1, $2)", &[&self.channel(), &message])
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn subscribe(&self) -> StoreResult<Option<BusSubscription>> {
        // A session of its own, outside the pool: LISTEN belongs to the session, and pooled
        // connections are shared.
        let (client, mut connection) = self.config().connect(NoTls).await.map_err(map_err)?;
        let (tx, rx) = tokio::sync::mpsc::channel(1024);
        tokio::spawn(async move {
            loop {
                let message = std::future::poll_fn(|cx| connection.poll_message(cx)).await;
                match message {
                    Some(Ok(AsyncMessage::Notification(n))) => {
                        if tx.send(n.payload().to_owned()).await.is_err() {
                            return;
                        }
                    }
                    Some(Ok(_)) => {}
                    Some(Err(e)) => {
                        tracing::warn!(error = %map_err(e), "the cluster bus connection failed");
                        return;
                    }
                    None => return,
                }
            }
        });
        client
            .batch_execute(&format!(
                "LISTEN \"{}\"",
                self.channel().replace('"', "\"\"")
            ))
            .await
            .map_err(map_err)?;
        Ok(Some(BusSubscription::new(rx, Box::new(client))))
    }
}
