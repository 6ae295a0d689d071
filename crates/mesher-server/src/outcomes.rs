//! Per-project outcomes at the edge (issue 17, RETAIN-04).
//!
//! The writer counts what it stores, caps and discards in the batch's own transaction. What the
//! edge refuses or samples out once it knows the project (`sampled`, `rate_limited`,
//! `invalid`, `too_large`, `queue_full`, …) is counted here: handlers send each count to the
//! [`OutcomeFlusher`] through a bounded channel (never waiting; a full channel loses the count
//! and says so in `mesher_outcomes_lost`), the flusher sums them per project, hour and reason
//! in a bounded map and adds them to the database every [`FLUSH_EVERY`] and when the node
//! stops. The Prometheus counters are kept as they were, node-wide.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use mesher_store::{OutcomeCount, Store, outcome_hour};
use time::OffsetDateTime;
use tokio::sync::{Mutex, mpsc};

use crate::metrics::{Metrics, Outcome};
use crate::services::{Service, ServiceContext};

/// How often the counts go to the database.
pub const FLUSH_EVERY: Duration = Duration::from_secs(2);
/// Counts waiting in the channel at most.
const CHANNEL: usize = 4096;
/// Distinct (project, hour, reason) the flusher holds at most; it flushes early when full and,
/// while the database is down, drops the counts of new keys (logged) rather than grow.
const MAX_KEYS: usize = 10_000;

/// Events of one project refused or sampled out at the edge for one reason.
#[derive(Debug)]
pub struct EdgeCount {
    project_id: i64,
    reason: Outcome,
    events: u64,
    at: OffsetDateTime,
}

/// Where handlers count their per-project outcomes: the sending end of the flusher's channel.
#[derive(Clone)]
pub struct EdgeOutcomes {
    tx: mpsc::Sender<EdgeCount>,
    metrics: Arc<Metrics>,
}

impl EdgeOutcomes {
    /// The handle and the receiving end for the [`OutcomeFlusher`].
    pub fn channel(metrics: Arc<Metrics>) -> (EdgeOutcomes, mpsc::Receiver<EdgeCount>) {
        let (tx, rx) = mpsc::channel(CHANNEL);
        (EdgeOutcomes { tx, metrics }, rx)
    }

    /// Counts `events` of `project_id` for `reason`, received now. Never waits.
    pub fn record(&self, project_id: i64, reason: Outcome, events: u64) {
        if events == 0 {
            return;
        }
        let count = EdgeCount {
            project_id,
            reason,
            events,
            at: mesher_store::now(),
        };
        if self.tx.try_send(count).is_err() {
            self.metrics.outcomes_lost.inc_by(events);
        }
    }
}

/// Sums per (project, hour start, reason).
type Sums = HashMap<(i64, OffsetDateTime, Outcome), i64>;

/// The service that sums the edge's counts and adds them to the database.
pub struct OutcomeFlusher {
    store: Arc<dyn Store>,
    rx: Mutex<mpsc::Receiver<EdgeCount>>,
    /// Counts not yet written: kept across a crash of `run`, and across a failed flush.
    sums: std::sync::Mutex<Sums>,
    metrics: Arc<Metrics>,
}

impl OutcomeFlusher {
    /// A flusher writing to `store` what arrives on `rx`.
    pub fn new(
        store: Arc<dyn Store>,
        rx: mpsc::Receiver<EdgeCount>,
        metrics: Arc<Metrics>,
    ) -> Self {
        OutcomeFlusher {
            store,
            rx: Mutex::new(rx),
            sums: std::sync::Mutex::new(Sums::new()),
            metrics,
        }
    }

    fn sums(&self) -> std::sync::MutexGuard<'_, Sums> {
        self.sums.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a count; answers whether the map is full (time to flush).
    fn add(&self, c: EdgeCount) -> bool {
        let mut sums = self.sums();
        let key = (c.project_id, outcome_hour(c.at), c.reason);
        let events = i64::try_from(c.events).unwrap_or(i64::MAX);
        if let Some(n) = sums.get_mut(&key) {
            *n += events;
        } else if sums.len() < MAX_KEYS {
            sums.insert(key, events);
        } else {
            tracing::warn!(
                project = c.project_id,
                reason = c.reason.as_str(),
                "outcome counts are full; dropping one"
            );
            self.metrics.outcomes_lost.inc_by(c.events);
        }
        sums.len() >= MAX_KEYS
    }

    /// Writes the sums; they stay for the next flush when the database refuses them.
    async fn flush(&self, ctx: &ServiceContext) {
        let taken = std::mem::take(&mut *self.sums());
        if taken.is_empty() {
            return;
        }
        let counts: Vec<OutcomeCount> = taken
            .iter()
            .map(|(&(project_id, hour, reason), &count)| OutcomeCount {
                project_id,
                hour,
                reason: reason.as_str().to_string(),
                count,
            })
            .collect();
        if let Err(e) = ctx.busy(self.store.add_outcomes(&counts)).await {
            tracing::warn!(error = %e, "cannot write outcome counts; keeping them for the next flush");
            let mut sums = self.sums();
            for (key, n) in taken {
                *sums.entry(key).or_default() += n;
            }
        }
    }
}

impl Service for OutcomeFlusher {
    fn name(&self) -> &'static str {
        "outcome-flusher"
    }

    fn run(self: Arc<Self>, ctx: ServiceContext) -> BoxFuture<'static, anyhow::Result<()>> {
        Box::pin(async move {
            let mut rx = self.rx.lock().await;
            let mut tick = tokio::time::interval(FLUSH_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                let next = ctx
                    .wait(async {
                        tokio::select! {
                            c = rx.recv() => Some(c),
                            _ = tick.tick() => None,
                        }
                    })
                    .await;
                match next {
                    // Told to stop: what is queued is counted and written before returning.
                    None => {
                        while let Ok(c) = rx.try_recv() {
                            self.add(c);
                        }
                        self.flush(&ctx).await;
                        return Ok(());
                    }
                    Some(Some(Some(c))) => {
                        if self.add(c) {
                            self.flush(&ctx).await;
                        }
                    }
                    // Every handle is gone: nothing more will come.
                    Some(Some(None)) => {
                        self.flush(&ctx).await;
                        ctx.idle_until_stopped().await;
                        return Ok(());
                    }
                    Some(None) => self.flush(&ctx).await,
                }
            }
        })
    }
}
