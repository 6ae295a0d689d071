//! Takes events that busy peers handed off (the `overflow` table) and stores them through this
//! node's own pipeline. A claim lasts [`CLAIM_FOR`]; the rows are deleted only after their
//! events are committed, and a write is idempotent by event id, so a taker that dies at any
//! moment loses nothing and stores nothing twice: its claim lapses and another node takes the
//! rows again.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use mesher_protocol::Event;

use super::Cluster;
use crate::cache::ProjectCache;
use crate::ingest::accept::scrub_config;
use crate::pipeline::{Incoming, Pipeline};
use crate::services::{Service, ServiceContext};

/// How long a claim on handed-off events lasts before another node may take them.
pub const CLAIM_FOR: time::Duration = time::Duration::seconds(10);
/// A node leaves its own handed-off events to its peers for this long; after it, they are
/// anybody's (the peers may all be gone).
const OWN_AFTER: time::Duration = time::Duration::seconds(5);
/// How often an idle taker looks.
const POLL: Duration = Duration::from_millis(200);
/// Most events claimed at once.
const BATCH: usize = 256;

/// The overflow taker service.
pub struct OverflowTaker {
    cluster: Arc<Cluster>,
    pipeline: Arc<Pipeline>,
    cache: Arc<ProjectCache>,
    /// Takes only while fewer events than this wait in the pipeline.
    room: i64,
}

impl OverflowTaker {
    /// A taker feeding `pipeline`, while fewer than `room` events are queued there.
    pub fn new(
        cluster: Arc<Cluster>,
        pipeline: Arc<Pipeline>,
        cache: Arc<ProjectCache>,
        room: usize,
    ) -> Self {
        OverflowTaker {
            cluster,
            pipeline,
            cache,
            room: i64::try_from(room).unwrap_or(i64::MAX),
        }
    }

    /// One round: claims what fits and stores it; returns how many events were taken.
    async fn take(&self) -> anyhow::Result<usize> {
        let cluster = &self.cluster;
        let queued = cluster.metrics().queue_events.get();
        // A node handing off its own events takes none from others.
        if queued >= self.room || cluster.spread().peers() > 0 {
            return Ok(0);
        }
        let me = &cluster.identity().name;
        let now = mesher_store::now();
        let limit = usize::try_from(self.room - queued).unwrap_or(0).min(BATCH);
        let claimed = cluster
            .store()
            .claim_overflow(me, now, now + CLAIM_FOR, now - OWN_AFTER, limit)
            .await?;
        if claimed.is_empty() {
            return Ok(0);
        }
        let ids: Vec<i64> = claimed.iter().map(|e| e.id).collect();
        let mut incoming = Vec::with_capacity(claimed.len());
        let mut bytes = 0;
        let mut from_peers = 0u64;
        for row in &claimed {
            let Some(project) = self.cache.project(row.project_id).await? else {
                // Deleted since: its events go with it.
                continue;
            };
            match serde_json::from_slice::<Event>(&row.payload) {
                Ok(event) => {
                    bytes += row.payload.len();
                    from_peers += u64::from(row.origin != *me);
                    incoming.push(Incoming {
                        project_id: project.id,
                        event,
                        scrub: Arc::new(scrub_config(&project)),
                    });
                }
                Err(e) => {
                    tracing::error!(id = row.id, error = %e, "a handed-off event does not parse; dropped")
                }
            }
        }
        let n = incoming.len();
        if n > 0 {
            // On an error the rows stay claimed; the claim lapses and they are taken again.
            self.pipeline
                .process(incoming, bytes)
                .await
                .map_err(|e| anyhow::anyhow!("storing handed-off events: {e}"))?;
        }
        cluster.store().delete_overflow(me, &ids).await?;
        cluster.metrics().events_taken_over.inc_by(from_peers);
        Ok(n)
    }
}

impl Service for OverflowTaker {
    fn name(&self) -> &'static str {
        "overflow-taker"
    }

    fn run(self: Arc<Self>, ctx: ServiceContext) -> BoxFuture<'static, anyhow::Result<()>> {
        Box::pin(async move {
            loop {
                // Stopped mid-round, the claimed rows stay claimed until the claim lapses.
                let took = match ctx.wait(self.take()).await {
                    None => return Ok(()),
                    Some(Ok(n)) => n,
                    Some(Err(e)) => {
                        tracing::warn!(error = %e, "taking handed-off events failed; trying again");
                        0
                    }
                };
                if took == 0 && !ctx.sleep(POLL).await {
                    return Ok(());
                }
            }
        })
    }
}
