//! Every few minutes: escalate archived issues whose volume spiked (ISSUE-03; the ingest path
//! checks too, this catches the rest) and move week-old `new` issues to `ongoing`.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use mesher_store::Store;

use crate::services::{Service, ServiceContext};

/// The issue sweeper service.
pub struct IssueSweeper {
    store: Arc<dyn Store>,
    interval: Duration,
}

impl IssueSweeper {
    /// A sweeper running every `interval` (5 minutes in production).
    pub fn new(store: Arc<dyn Store>, interval: Duration) -> Self {
        IssueSweeper { store, interval }
    }
}

impl Service for IssueSweeper {
    fn name(&self) -> &'static str {
        "issue-sweeper"
    }

    fn run(self: Arc<Self>, ctx: ServiceContext) -> BoxFuture<'static, anyhow::Result<()>> {
        Box::pin(async move {
            let mut next = tokio::time::Instant::now() + self.interval;
            loop {
                // Sleep in short steps so that the heartbeat keeps beating and stop is prompt.
                while tokio::time::Instant::now() < next {
                    ctx.heartbeat.beat();
                    tokio::select! {
                        _ = ctx.stop.cancelled() => return Ok(()),
                        _ = tokio::time::sleep_until(next.min(tokio::time::Instant::now() + Duration::from_secs(1))) => {}
                    }
                }
                next += self.interval;
                match self.store.sweep_issues(mesher_store::now()).await {
                    Ok(escalated) if !escalated.is_empty() => {
                        tracing::info!(issues = ?escalated, "archived issues escalated");
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "issue sweep failed; trying again next tick")
                    }
                }
            }
        })
    }
}
