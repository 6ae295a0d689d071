//! Every few minutes: escalate archived issues whose volume spiked (ISSUE-03; the ingest path
//! checks too, this catches the rest) and move week-old `new` issues to `ongoing`. Once per
//! cluster, on the node holding the jobs' lease.

use std::time::Duration;

use futures_util::future::BoxFuture;
use mesher_store::Store;
use time::OffsetDateTime;

use crate::cluster::ClusterJob;

/// The issue sweep.
pub struct IssueSweep {
    interval: Duration,
}

impl IssueSweep {
    /// A sweep every `interval` (`issue_sweep_interval_secs`, 5 minutes by default).
    pub fn new(interval: Duration) -> Self {
        IssueSweep { interval }
    }
}

impl ClusterJob for IssueSweep {
    fn name(&self) -> &'static str {
        "issue-sweep"
    }

    fn interval(&self) -> Duration {
        self.interval
    }

    fn run<'a>(
        &'a self,
        store: &'a dyn Store,
        now: OffsetDateTime,
    ) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            let escalated = store.sweep_issues(now).await?;
            if !escalated.is_empty() {
                tracing::info!(issues = ?escalated, "archived issues escalated");
            }
            Ok(())
        })
    }
}
