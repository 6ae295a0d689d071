//! The writer service: group commit. Prepared events are gathered into a batch, written in one
//! transaction, and only then acknowledged.
//!
//! The batch adapts to the load: it takes whatever is queued (up to `batch_max_events`) and
//! closes as soon as the queue is empty, waiting for more only if `batch_max_wait` is set. Under
//! light load an event is committed alone, at once; under heavy load the events that arrive
//! while one batch commits make up the next one, so batches grow exactly as much as the
//! database is slower than the arrivals (issue 13).
//!
//! A batch in flight lives in the service value, not in `run`: when the writer crashes
//! mid-batch the supervisor restarts it and the batch is written again (writes are idempotent on
//! event id, so nothing is lost and nothing doubles). A batch that crashed the writer
//! [`MAX_ATTEMPTS`] times is answered with an error instead, so one poisonous event cannot keep
//! the writer down.

use std::ops::Range;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use mesher_store::{NewEvent, Store, StoreError, WriteOutcome};
use tokio::sync::{Mutex, mpsc};
use tokio_util::sync::CancellationToken;

use super::processor::Prepared;
use super::{Permits, PipelineError, Reply};
use crate::cluster::BatchAnnouncer;
use crate::faults::Faults;
use crate::metrics::{Metrics, Outcome};
use crate::services::{Service, ServiceContext};

/// Attempts at one batch (across crashes) before its events are answered with an error.
pub const MAX_ATTEMPTS: u32 = 3;

/// Retries of a batch while the database is unavailable, before answering 503.
const UNAVAILABLE_RETRIES: u32 = 3;

struct Waiter {
    range: Range<usize>,
    reply: Reply,
    _permits: Permits,
}

struct Batch {
    events: Arc<Vec<NewEvent>>,
    waiters: Vec<Waiter>,
    attempts: u32,
}

impl Batch {
    fn from(prepared: Vec<Prepared>) -> Batch {
        let mut events = Vec::with_capacity(prepared.iter().map(|p| p.events.len()).sum());
        let mut waiters = Vec::with_capacity(prepared.len());
        for p in prepared {
            let start = events.len();
            events.extend(p.events);
            waiters.push(Waiter {
                range: start..events.len(),
                reply: p.reply,
                _permits: p.permits,
            });
        }
        Batch {
            events: Arc::new(events),
            waiters,
            attempts: 0,
        }
    }

    fn fail(self, error: PipelineError, metrics: &Metrics) {
        let outcome = match error {
            PipelineError::Unavailable => Outcome::Unavailable,
            _ => Outcome::Internal,
        };
        metrics.outcome(outcome, self.events.len() as u64);
        for w in self.waiters {
            let _ = w.reply.send(Err(error.clone()));
        }
    }
}

/// The writer service.
pub struct Writer {
    store: Arc<dyn Store>,
    rx: Mutex<mpsc::Receiver<Prepared>>,
    pending: std::sync::Mutex<Option<Batch>>,
    max_events: usize,
    max_wait: Duration,
    metrics: Arc<Metrics>,
    faults: Faults,
    announcer: BatchAnnouncer,
}

impl Writer {
    /// A writer committing to `store` what arrives on `rx`.
    pub fn new(
        store: Arc<dyn Store>,
        rx: mpsc::Receiver<Prepared>,
        max_events: usize,
        max_wait: Duration,
        metrics: Arc<Metrics>,
        faults: Faults,
        announcer: BatchAnnouncer,
    ) -> Self {
        Writer {
            announcer,
            store,
            rx: Mutex::new(rx),
            pending: std::sync::Mutex::new(None),
            max_events: max_events.max(1),
            max_wait,
            metrics,
            faults,
        }
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, Option<Batch>> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The next batch: `None` when told to stop and nothing is left.
    async fn collect(
        &self,
        rx: &mut mpsc::Receiver<Prepared>,
        ctx: &ServiceContext,
    ) -> Option<Batch> {
        let first = match ctx.wait(rx.recv()).await {
            Some(m) => m?,
            // Told to stop: finish what is queued.
            None => rx.try_recv().ok()?,
        };
        let parts = gather(
            rx,
            first,
            |p| p.events.len(),
            self.max_events,
            self.max_wait,
            &ctx.stop,
        )
        .await;
        Some(Batch::from(parts))
    }

    /// Writes the pending batch and answers its waiters.
    async fn commit(&self, ctx: &ServiceContext) {
        let Some(events) = self.pending().as_mut().map(|b| {
            b.attempts += 1;
            b.events.clone()
        }) else {
            return;
        };
        let started = Instant::now();
        let mut result = Err(StoreError::Unavailable(String::new()));
        for retry in 0..=UNAVAILABLE_RETRIES {
            self.faults.hit("writer").await;
            result = ctx.busy(self.store.write_events(events.clone())).await;
            match &result {
                Err(e) if e.is_unavailable() && retry < UNAVAILABLE_RETRIES => {
                    tracing::warn!(error = %e, retry, "database unavailable; retrying the batch");
                    tokio::time::sleep(Duration::from_millis(50 << retry)).await;
                }
                _ => break,
            }
        }
        // Written (or given up): the batch leaves the crash-safe slot.
        let Some(batch) = self.pending().take() else {
            return;
        };
        match result {
            Ok(outcomes) => {
                self.metrics
                    .batch_seconds
                    .observe(started.elapsed().as_secs_f64());
                self.metrics.batch_events.observe(events.len() as f64);
                self.acknowledge(batch, &outcomes);
                self.announcer.announce(&events, &outcomes);
            }
            Err(e) if e.is_unavailable() => {
                tracing::error!(error = %e, events = events.len(), "database unavailable; answering 503");
                batch.fail(PipelineError::Unavailable, &self.metrics);
            }
            Err(e) => {
                // Something in the batch is unwritable: write each request on its own so that
                // only the culprit fails.
                tracing::error!(error = %e, events = events.len(), "batch failed; writing its requests one by one");
                for w in batch.waiters {
                    let part = Arc::new(events[w.range.clone()].to_vec());
                    let n = part.len();
                    match self.store.write_events(part.clone()).await {
                        Ok(outcomes) => {
                            self.record(&outcomes);
                            self.announcer.announce(&part, &outcomes);
                            let _ = w.reply.send(Ok(outcomes));
                        }
                        Err(e) => {
                            tracing::error!(error = %e, events = n, "events could not be stored");
                            let reason = if e.is_unavailable() {
                                Outcome::Unavailable
                            } else {
                                Outcome::Internal
                            };
                            self.metrics.outcome(reason, n as u64);
                            let error = if e.is_unavailable() {
                                PipelineError::Unavailable
                            } else {
                                PipelineError::Internal
                            };
                            let _ = w.reply.send(Err(error));
                        }
                    }
                }
            }
        }
    }

    fn record(&self, outcomes: &[WriteOutcome]) {
        let stored = outcomes
            .iter()
            .filter(|o| matches!(o, WriteOutcome::Stored { .. }))
            .count();
        let discarded = outcomes
            .iter()
            .filter(|o| matches!(o, WriteOutcome::Discarded { .. }))
            .count();
        let capped = outcomes
            .iter()
            .filter(|o| matches!(o, WriteOutcome::Capped { .. }))
            .count();
        self.metrics.events_stored.inc_by(stored as u64);
        if discarded > 0 {
            self.metrics.outcome(Outcome::Discarded, discarded as u64);
        }
        if capped > 0 {
            self.metrics.outcome(Outcome::Capped, capped as u64);
        }
    }

    fn acknowledge(&self, batch: Batch, outcomes: &[WriteOutcome]) {
        self.record(outcomes);
        for w in batch.waiters {
            let _ = w.reply.send(Ok(outcomes[w.range.clone()].to_vec()));
        }
    }
}

/// A batch that starts with `first`: whatever else is queued, up to `max` in total by `size`.
/// It closes when the queue is empty, or, if `max_wait` is not zero, when it has stayed empty
/// until `max_wait` after the batch began.
async fn gather<T>(
    rx: &mut mpsc::Receiver<T>,
    first: T,
    size: impl Fn(&T) -> usize,
    max: usize,
    max_wait: Duration,
    stop: &CancellationToken,
) -> Vec<T> {
    let mut count = size(&first);
    let mut parts = vec![first];
    let deadline = tokio::time::Instant::now() + max_wait;
    let mut yielded = false;
    while count < max {
        let next = match rx.try_recv() {
            Ok(p) => Some(p),
            Err(mpsc::error::TryRecvError::Disconnected) => None,
            Err(mpsc::error::TryRecvError::Empty) if stop.is_cancelled() => None,
            // One yield before closing: a processor on this thread that is about to hand over
            // its events gets to, at the cost of a few microseconds.
            Err(mpsc::error::TryRecvError::Empty) if !yielded => {
                yielded = true;
                tokio::task::yield_now().await;
                continue;
            }
            Err(mpsc::error::TryRecvError::Empty) if max_wait.is_zero() => None,
            Err(mpsc::error::TryRecvError::Empty) => tokio::select! {
                m = rx.recv() => m,
                _ = tokio::time::sleep_until(deadline) => None,
            },
        };
        let Some(p) = next else { break };
        count += size(&p);
        parts.push(p);
    }
    parts
}

impl Service for Writer {
    fn name(&self) -> &'static str {
        "writer"
    }

    fn run(self: Arc<Self>, ctx: ServiceContext) -> BoxFuture<'static, anyhow::Result<()>> {
        Box::pin(async move {
            let mut rx = self.rx.lock().await;
            loop {
                // A batch left by a crashed run goes first.
                let retry = {
                    let mut pending = self.pending();
                    match pending.as_ref() {
                        Some(b) if b.attempts >= MAX_ATTEMPTS => {
                            let batch = pending.take();
                            drop(pending);
                            if let Some(batch) = batch {
                                tracing::error!(
                                    events = batch.events.len(),
                                    "a batch crashed the writer {MAX_ATTEMPTS} times; answering its requests with errors"
                                );
                                batch.fail(PipelineError::Internal, &self.metrics);
                            }
                            false
                        }
                        Some(_) => true,
                        None => false,
                    }
                };
                if !retry {
                    let Some(batch) = self.collect(&mut rx, &ctx).await else {
                        ctx.idle_until_stopped().await;
                        return Ok(());
                    };
                    *self.pending() = Some(batch);
                }
                self.commit(&ctx).await;
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn batch(
        rx: &mut mpsc::Receiver<usize>,
        max: usize,
        max_wait: Duration,
    ) -> (Vec<usize>, Duration) {
        let started = tokio::time::Instant::now();
        let first = rx.recv().await.unwrap();
        let parts = gather(rx, first, |n| *n, max, max_wait, &CancellationToken::new()).await;
        (parts, started.elapsed())
    }

    /// Issue 13: under light load a batch does not wait for company; under load it holds what
    /// queued up meanwhile, up to its maximum.
    #[tokio::test(start_paused = true)]
    async fn a_batch_closes_as_soon_as_the_queue_is_empty() {
        let (tx, mut rx) = mpsc::channel(16);
        tx.send(1).await.unwrap();
        assert_eq!(
            batch(&mut rx, 10, Duration::ZERO).await,
            (vec![1], Duration::ZERO)
        );
        for n in [1, 2, 3, 4] {
            tx.send(n).await.unwrap();
        }
        // 1 + 2 + 3 + 4 > 5: the batch closes once it holds five, the rest goes next.
        assert_eq!(
            batch(&mut rx, 5, Duration::ZERO).await,
            (vec![1, 2, 3], Duration::ZERO)
        );
        assert_eq!(
            batch(&mut rx, 5, Duration::ZERO).await,
            (vec![4], Duration::ZERO)
        );
    }

    /// With `batch_max_wait_ms` set, an operator trades latency for bigger batches: the batch
    /// waits for more until that long after it began, and no longer.
    #[tokio::test(start_paused = true)]
    async fn a_set_wait_holds_the_batch_open_that_long() {
        let (tx, mut rx) = mpsc::channel(16);
        tx.send(1).await.unwrap();
        let late = tx.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(3)).await;
            late.send(2).await.unwrap();
            tokio::time::sleep(Duration::from_millis(10)).await;
            late.send(3).await.unwrap();
        });
        assert_eq!(
            batch(&mut rx, 10, Duration::from_millis(5)).await,
            (vec![1, 2], Duration::from_millis(5))
        );
        assert_eq!(batch(&mut rx, 10, Duration::ZERO).await.0, vec![3]);
    }
}
