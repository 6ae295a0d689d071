//! Every few minutes: escalate archived issues whose volume spiked (ISSUE-03; the ingest path
//! checks too, this catches the rest) and move week-old `new` issues to `ongoing`. Once per
//! cluster, on the node holding the jobs' lease; escalations are announced on the cluster bus.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use mesher_store::Store;
use time::OffsetDateTime;

use crate::cluster::{Bus, ClusterJob, IssueEvent};

/// The issue sweep.
pub struct IssueSweep {
    interval: Duration,
    bus: Arc<Bus>,
    node: String,
}

impl IssueSweep {
    /// A sweep every `interval` (`issue_sweep_interval_secs`, 5 minutes by default), announcing
    /// escalations on `bus` as node `node`.
    pub fn new(interval: Duration, bus: Arc<Bus>, node: String) -> Self {
        IssueSweep {
            interval,
            bus,
            node,
        }
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
            if escalated.is_empty() {
                return Ok(());
            }
            tracing::info!(issues = ?escalated, "archived issues escalated");
            let mut changes = Vec::with_capacity(escalated.len());
            for id in escalated {
                if let Some(issue) = store.issue(id).await? {
                    changes.push(IssueEvent {
                        project_id: issue.project_id,
                        issue_id: id,
                        change: "escalated".into(),
                    });
                }
            }
            self.bus.announce_issues(&self.node, changes);
            Ok(())
        })
    }
}
