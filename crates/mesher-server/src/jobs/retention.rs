//! The retention sweeper (RETAIN-01, RETAIN-02): deletes events older than their project's
//! retention, gives the space back, and prunes rollups older than the longest retention. On a
//! PostgreSQL server with autovacuum off, the storage upkeep also vacuums in its place.
//!
//! It runs on the node that holds the cluster jobs' lease (on SQLite, the one node), within a
//! minute of that node's start and then every `retention_sweep_interval_secs`. It is a service
//! of its own rather than a [`crate::cluster::ClusterJob`]: a sweep of a large backlog lasts
//! minutes, and a job runs inside the lease's renewal round, which must stay short. It follows
//! the lease instead, checking before every batch that this node still holds it.
//!
//! Batches adapt their size to take about 25 ms and are paced: after each one the sweeper rests
//! for several times what it took, so that it never holds the writer for long and ingestion
//! keeps most of its rate while a backlog goes (`scripts/bench-sweep` measures how much).

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use mesher_store::{Store, StoreResult};
use time::OffsetDateTime;
use tokio::sync::watch;

use crate::cluster::Clock;
use crate::metrics::Metrics;
use crate::services::{Service, ServiceContext};

/// Events per delete transaction: the first batch's and the bounds the size adapts within.
const BATCH_FIRST: usize = 250;
const BATCH_MIN: usize = 50;
const BATCH_MAX: usize = 2000;
/// What a delete batch should take. On SQLite a batch holds the one writer, and every event
/// being ingested waits for it: a soak at half the maximum rate saw 1,000-event batches take
/// 100 ms. The time includes the wait for the writer, so a busy writer also shrinks batches.
const BATCH_TARGET: Duration = Duration::from_millis(25);
/// Pages released per incremental-vacuum step (SQLite): 2 MiB at 4 KiB pages. A step holds
/// the writer while it moves pages; 2,048 took half a second on the benchmark machine.
const VACUUM_PAGES: u64 = 512;
/// A long sweep (a large backlog at the background pace takes many minutes) runs the storage
/// upkeep again this often between its batches: SQLite gives back the pages freed so far, and
/// PostgreSQL without autovacuum has its tables vacuumed and re-analyzed, the partition the
/// deletes are shrinking included (stale statistics there misplan every later query).
const UPKEEP_EVERY: Duration = Duration::from_secs(60);
/// Hourly rollups are kept this long past the longest retention.
const ROLLUP_SLACK: time::Duration = time::Duration::days(1);

/// How long chunks of a source map upload that was never assembled are kept (issue 18).
const CHUNKS_KEPT: time::Duration = time::Duration::days(1);

/// How hard the sweeper works.
#[derive(Debug, Clone, Copy)]
pub struct Pace {
    /// Share of wall time spent in the database while sweeping, in `(0, 1]`.
    pub duty: f64,
}

impl Pace {
    /// The running binary's pace: a tenth of the time, so that ingestion barely notices.
    pub const BACKGROUND: Pace = Pace { duty: 0.1 };
    /// No rest between batches (tests).
    pub const FLAT_OUT: Pace = Pace { duty: 1.0 };

    /// The rest that keeps the duty cycle after a step that took `took`.
    fn rest(self, took: Duration) -> Duration {
        let duty = self.duty.clamp(0.01, 1.0);
        took.mul_f64((1.0 - duty) / duty)
    }
}

/// What one sweep did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SweepReport {
    /// Events deleted by batches.
    pub events_deleted: u64,
    /// Partitions dropped whole (PostgreSQL).
    pub partitions_dropped: usize,
    /// Partitions created ahead (PostgreSQL).
    pub partitions_created: usize,
    /// Free pages returned to the file system (SQLite).
    pub pages_released: u64,
    /// Rollup rows pruned.
    pub rollups_pruned: u64,
    /// Source map files deleted with their project's retention (issue 18).
    pub artifacts_deleted: u64,
    /// Tables vacuumed or analyzed in autovacuum's place (PostgreSQL with autovacuum off).
    pub tables_vacuumed: Vec<String>,
    /// Whether the sweep stopped early (the lease moved, or the node is stopping).
    pub interrupted: bool,
}

/// One sweep at `now`: every project's expired events, storage upkeep and rollups. `go_on`
/// is asked before each step (still the lease holder, not stopping); `rest` waits between
/// steps and answers `false` to stop.
pub async fn sweep<R, Fut>(
    store: &dyn Store,
    now: OffsetDateTime,
    pace: Pace,
    go_on: &(dyn Fn() -> bool + Sync),
    mut rest: R,
) -> StoreResult<SweepReport>
where
    R: FnMut(Duration) -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let mut report = SweepReport::default();
    let projects = store.list_projects(None).await?;
    let longest = projects
        .iter()
        .map(|p| p.retention_days)
        .max()
        .unwrap_or(mesher_store::DEFAULT_RETENTION_DAYS);
    let keep_after = now - time::Duration::days(i64::from(longest.max(1)));
    // Upkeep first: on PostgreSQL it drops the partitions every project is done with, which
    // leaves the batches below only the projects with shorter retentions. Again every
    // [`UPKEEP_EVERY`] of a long sweep and at the end: on SQLite it gives back the pages the
    // batches and the pruned rollups freed.
    if !upkeep(store, now, keep_after, pace, go_on, &mut rest, &mut report).await? {
        return Ok(report);
    }
    let floor = store.expiry_floor(keep_after);
    let mut batch = BATCH_FIRST;
    let mut upkept = Instant::now();
    for project in &projects {
        let cutoff = now - time::Duration::days(i64::from(project.retention_days.max(1)));
        // Uploaded source maps follow the project's retention (from their upload). A failure
        // here must not keep the events from expiring: said, and tried again next sweep.
        match store.expire_artifacts(project.id, cutoff).await {
            Ok(n) => report.artifacts_deleted += n,
            Err(e) => tracing::warn!(project = project.id, error = %e, "expiring source maps"),
        }
        // The longest retention's expired events go with their partition (PostgreSQL): the
        // batches only take what no partition drop will (RETAIN-02).
        let before = if cutoff <= keep_after {
            cutoff.min(floor)
        } else {
            cutoff
        };
        loop {
            if !go_on() {
                report.interrupted = true;
                return Ok(report);
            }
            let started = Instant::now();
            let n = store.expire_events(project.id, before, batch).await?;
            let took = started.elapsed();
            tracing::debug!(project = project.id, events = n, ?took, "retention batch");
            report.events_deleted += n;
            if n < batch as u64 {
                break;
            }
            batch = next_batch(batch, took);
            if !rest(pace.rest(started.elapsed())).await {
                report.interrupted = true;
                return Ok(report);
            }
            if upkept.elapsed() >= UPKEEP_EVERY {
                if !upkeep(store, now, keep_after, pace, go_on, &mut rest, &mut report).await? {
                    return Ok(report);
                }
                upkept = Instant::now();
            }
        }
    }
    // Chunks of uploads never assembled, once per sweep.
    if let Err(e) = store.expire_chunks(now - CHUNKS_KEPT).await {
        tracing::warn!(error = %e, "expiring source map chunks");
    }
    // Before the last upkeep, which gives back (SQLite) what the pruned rows took.
    report.rollups_pruned = store.prune_rollups(keep_after - ROLLUP_SLACK).await?;
    upkeep(store, now, keep_after, pace, go_on, &mut rest, &mut report).await?;
    Ok(report)
}

/// The next delete batch's size after one of `size` events took `took`: halved when it took
/// longer than [`BATCH_TARGET`], doubled when it took less than half of it.
fn next_batch(size: usize, took: Duration) -> usize {
    if took > BATCH_TARGET {
        (size / 2).max(BATCH_MIN)
    } else if took < BATCH_TARGET / 2 {
        (size * 2).min(BATCH_MAX)
    } else {
        size
    }
}

/// Storage upkeep steps until none is left; `false` when the sweep must stop.
async fn upkeep<R, Fut>(
    store: &dyn Store,
    now: OffsetDateTime,
    keep_after: OffsetDateTime,
    pace: Pace,
    go_on: &(dyn Fn() -> bool + Sync),
    rest: &mut R,
    report: &mut SweepReport,
) -> StoreResult<bool>
where
    R: FnMut(Duration) -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    loop {
        if !go_on() {
            report.interrupted = true;
            return Ok(false);
        }
        let started = Instant::now();
        let step = store.storage_upkeep(now, keep_after, VACUUM_PAGES).await?;
        report.partitions_dropped += step.dropped.len();
        report.partitions_created += step.created.len();
        report.pages_released += step.pages_released;
        for table in step.vacuumed {
            if !report.tables_vacuumed.contains(&table) {
                report.tables_vacuumed.push(table);
            }
        }
        tracing::debug!(pages = step.pages_released, took = ?started.elapsed(), "retention upkeep step");
        if !step.dropped.is_empty() {
            tracing::info!(partitions = ?step.dropped, "expired event partitions dropped");
        }
        if !step.more {
            return Ok(true);
        }
        if !rest(pace.rest(started.elapsed())).await {
            report.interrupted = true;
            return Ok(false);
        }
    }
}

/// The sweeper service (every node; it works only while its node holds the jobs' lease).
pub struct Retention {
    store: Arc<dyn Store>,
    leadership: watch::Receiver<Option<i64>>,
    interval: Duration,
    clock: Clock,
    metrics: Arc<Metrics>,
}

impl Retention {
    /// A sweeper for `store` that sweeps every `interval` while `leadership` says this node
    /// holds the lease, and publishes storage figures to `metrics`.
    pub fn new(
        store: Arc<dyn Store>,
        leadership: watch::Receiver<Option<i64>>,
        interval: Duration,
        clock: Clock,
        metrics: Arc<Metrics>,
    ) -> Self {
        Retention {
            store,
            leadership,
            interval,
            clock,
            metrics,
        }
    }

    async fn publish_storage(&self) {
        match self.store.storage_by_project().await {
            Ok(figures) => self.metrics.set_storage(&figures),
            Err(e) => tracing::warn!(error = %e, "cannot read storage figures"),
        }
    }
}

impl Service for Retention {
    fn name(&self) -> &'static str {
        "retention"
    }

    fn run(self: Arc<Self>, ctx: ServiceContext) -> BoxFuture<'static, anyhow::Result<()>> {
        Box::pin(async move {
            let mut leadership = self.leadership.clone();
            let mut warned_autovacuum = false;
            loop {
                // Every node publishes the figures (they come from the shared database).
                self.publish_storage().await;
                if leadership.borrow_and_update().is_some() {
                    let now = (self.clock)();
                    let leader = leadership.clone();
                    let stop = ctx.stop.clone();
                    let go_on = move || leader.borrow().is_some() && !stop.is_cancelled();
                    let ctx2 = ctx.clone();
                    let swept = ctx
                        .busy(sweep(
                            self.store.as_ref(),
                            now,
                            Pace::BACKGROUND,
                            &go_on,
                            |d| {
                                let ctx = ctx2.clone();
                                async move { ctx.sleep(d).await }
                            },
                        ))
                        .await;
                    if let Ok(r) = &swept
                        && !r.tables_vacuumed.is_empty()
                        && !std::mem::replace(&mut warned_autovacuum, true)
                    {
                        tracing::warn!(
                            tables = ?r.tables_vacuumed,
                            "autovacuum is off on the PostgreSQL server: the retention sweeper \
                             vacuums Mesher's tables in its place, at least once per sweep; turn it on"
                        );
                    }
                    match swept {
                        // Deletions, partitions and pruned rollups are worth a line (a few per
                        // backlog, week or hour); pages given back alone are not: SQLite frees
                        // some all the time.
                        Ok(r)
                            if r.events_deleted > 0
                                || r.partitions_dropped > 0
                                || r.partitions_created > 0
                                || r.rollups_pruned > 0 =>
                        {
                            tracing::info!(report = ?r, "retention sweep");
                            self.publish_storage().await;
                        }
                        Ok(r) => tracing::debug!(report = ?r, "retention sweep"),
                        Err(e) => {
                            tracing::warn!(error = %e, "retention sweep failed; next one as usual")
                        }
                    }
                    if !ctx.sleep(self.interval).await {
                        return Ok(());
                    }
                } else {
                    // Not the lease holder: wait for the lease (a takeover sweeps at once) or
                    // for the next round's figures.
                    let changed = tokio::time::timeout(self.interval, leadership.changed());
                    match ctx.wait(changed).await {
                        None => return Ok(()),
                        Some(Ok(Err(_))) => {
                            // The lease's service is gone for good (shutdown): idle until told.
                            ctx.idle_until_stopped().await;
                            return Ok(());
                        }
                        Some(_) => {}
                    }
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_shrink_when_slow_and_grow_when_quick_within_bounds() {
        let ms = Duration::from_millis;
        assert_eq!(next_batch(BATCH_FIRST, ms(100)), BATCH_FIRST / 2);
        assert_eq!(next_batch(BATCH_FIRST, ms(5)), BATCH_FIRST * 2);
        assert_eq!(next_batch(BATCH_FIRST, ms(20)), BATCH_FIRST);
        assert_eq!(next_batch(BATCH_MIN, ms(1_000)), BATCH_MIN);
        assert_eq!(next_batch(BATCH_MAX, ms(1)), BATCH_MAX);
        // A backlog that keeps the writer slow settles at the floor and stays there.
        let mut size = BATCH_MAX;
        for _ in 0..10 {
            size = next_batch(size, ms(80));
        }
        assert_eq!(size, BATCH_MIN);
    }
}
