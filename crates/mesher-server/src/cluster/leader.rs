//! Jobs that run once per cluster (the issue sweep today; retention and alert thresholds
//! later): the node holding the `cluster-jobs` lease runs them. The lease lasts 10 s and its
//! holder renews it every 3 s, so a dead holder's jobs move to a peer within 13 s. Each run is
//! claimed by its time slot under the lease's epoch ([`mesher_store::ClusterStore::claim_job_run`]),
//! so no slot runs twice, even across a change of leader.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::BoxFuture;
use mesher_store::{JobRun, Store};
use time::OffsetDateTime;
use tokio::sync::watch;

use super::Cluster;
use crate::services::{Service, ServiceContext};

/// The lease that the cluster's jobs run under.
pub const LEADER_LEASE: &str = "cluster-jobs";
/// How long a lease lasts unrenewed.
pub const LEASE_TTL: Duration = Duration::from_secs(10);
/// How often the holder renews it (and others try to take it).
pub const RENEW_EVERY: Duration = Duration::from_secs(3);
/// How long recorded runs are kept.
const RUNS_KEPT: time::Duration = time::Duration::days(7);

/// A job that runs on one node of the cluster at a time, once per interval.
pub trait ClusterJob: Send + Sync + 'static {
    /// Stable name, recorded with each run.
    fn name(&self) -> &'static str;
    /// Time between runs; runs fall on multiples of it since the Unix epoch.
    fn interval(&self) -> Duration;
    /// One run. Errors are logged; the next slot runs as usual.
    fn run<'a>(
        &'a self,
        store: &'a dyn Store,
        now: OffsetDateTime,
    ) -> BoxFuture<'a, anyhow::Result<()>>;
}

/// A wall clock, injected so that tests control it.
pub type Clock = Arc<dyn Fn() -> OffsetDateTime + Send + Sync>;

/// The service that holds (or waits for) the lease and runs the jobs.
pub struct LeaderJobs {
    cluster: Arc<Cluster>,
    jobs: Vec<Arc<dyn ClusterJob>>,
    clock: Clock,
    state: Mutex<LeaderState>,
    /// The epoch held, for services that follow the lease (the retention sweeper).
    leadership: watch::Sender<Option<i64>>,
}

#[derive(Default)]
struct LeaderState {
    epoch: Option<i64>,
    done: HashMap<&'static str, i64>,
    pruned_at: Option<OffsetDateTime>,
}

impl LeaderJobs {
    /// Runs `jobs` for `cluster`'s node whenever it holds the lease, on the real clock.
    pub fn new(cluster: Arc<Cluster>, jobs: Vec<Arc<dyn ClusterJob>>) -> Self {
        Self::with_clock(cluster, jobs, Arc::new(mesher_store::now))
    }

    /// [`LeaderJobs::new`] on `clock`.
    pub fn with_clock(cluster: Arc<Cluster>, jobs: Vec<Arc<dyn ClusterJob>>, clock: Clock) -> Self {
        LeaderJobs {
            cluster,
            jobs,
            clock,
            state: Mutex::new(LeaderState::default()),
            leadership: watch::Sender::new(None),
        }
    }

    /// One round: take or renew the lease, then run every job whose slot is due and unclaimed.
    /// Returns the epoch held, if any.
    pub async fn tick(&self) -> anyhow::Result<Option<i64>> {
        let store = self.cluster.store().as_ref();
        let me = self.cluster.identity().name.as_str();
        let now = (self.clock)();
        let ttl = time::Duration::try_from(LEASE_TTL).unwrap_or(time::Duration::seconds(10));
        let held = match store.try_lease(LEADER_LEASE, me, now, ttl).await {
            Ok(held) => held,
            Err(e) => {
                // Unknown: act as not holding it; the lease lapses if it cannot be renewed.
                self.set_epoch(None);
                return Err(e.into());
            }
        };
        self.set_epoch(held);
        let Some(epoch) = held else {
            return Ok(None);
        };
        for job in &self.jobs {
            let interval_ms = i64::try_from(job.interval().as_millis())
                .unwrap_or(i64::MAX)
                .max(1);
            let slot = mesher_store::to_millis(now).div_euclid(interval_ms);
            let done = self.lock().done.get(job.name()).copied();
            if done.is_some_and(|d| d >= slot) {
                continue;
            }
            let run = JobRun {
                job: job.name().into(),
                slot,
                epoch,
                node: me.into(),
                ran_at: now,
            };
            // Claimed or not, this slot is settled for this node.
            self.lock().done.insert(job.name(), slot);
            if !store.claim_job_run(LEADER_LEASE, &run).await? {
                continue;
            }
            tracing::debug!(job = job.name(), slot, epoch, "running cluster job");
            if let Err(e) = job.run(store, now).await {
                tracing::warn!(job = job.name(), error = %e, "cluster job failed; the next slot runs as usual");
            }
        }
        let prune = self
            .lock()
            .pruned_at
            .is_none_or(|t| now - t > time::Duration::hours(1));
        if prune {
            self.lock().pruned_at = Some(now);
            store.prune_job_runs(now - RUNS_KEPT).await?;
        }
        Ok(Some(epoch))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LeaderState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Follows the lease: `Some(epoch)` while this node holds it.
    pub fn leadership(&self) -> watch::Receiver<Option<i64>> {
        self.leadership.subscribe()
    }

    fn set_epoch(&self, held: Option<i64>) {
        self.leadership.send_if_modified(|e| {
            let changed = *e != held;
            *e = held;
            changed
        });
        let mut state = self.lock();
        if state.epoch != held {
            match held {
                Some(epoch) => tracing::info!(epoch, "this node now runs the cluster's jobs"),
                None if state.epoch.is_some() => {
                    tracing::info!("this node no longer runs the cluster's jobs")
                }
                None => {}
            }
            state.epoch = held;
        }
    }
}

impl Service for LeaderJobs {
    fn name(&self) -> &'static str {
        "cluster-jobs"
    }

    fn run(self: Arc<Self>, ctx: ServiceContext) -> BoxFuture<'static, anyhow::Result<()>> {
        Box::pin(async move {
            loop {
                // A long job (a sweep over a big database) is waiting on the database, not hung.
                match ctx.wait(self.tick()).await {
                    None => return Ok(()),
                    Some(Err(e)) => {
                        tracing::warn!(error = %e, "cluster jobs round failed; trying again")
                    }
                    Some(Ok(_)) => {}
                }
                if !ctx.sleep(RENEW_EVERY).await {
                    return Ok(());
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use mesher_store::testing::{Backend, TestDb};
    use time::macros::datetime;

    use super::*;
    use crate::cluster::{ClusterSettings, NodeIdentity};
    use crate::config::Config;
    use crate::metrics::Metrics;

    type Runs = Arc<Mutex<Vec<(&'static str, OffsetDateTime)>>>;

    struct Counting {
        node: &'static str,
        runs: Runs,
    }

    impl ClusterJob for Counting {
        fn name(&self) -> &'static str {
            "count"
        }
        fn interval(&self) -> Duration {
            Duration::from_secs(60)
        }
        fn run<'a>(
            &'a self,
            _: &'a dyn Store,
            now: OffsetDateTime,
        ) -> BoxFuture<'a, anyhow::Result<()>> {
            self.runs.lock().unwrap().push((self.node, now));
            Box::pin(async { Ok(()) })
        }
    }

    fn node(
        name: &'static str,
        store: Arc<dyn Store>,
        runs: &Runs,
        clock: &Arc<Mutex<OffsetDateTime>>,
    ) -> LeaderJobs {
        let settings = ClusterSettings::validate(&Config::default(), None, &mut Vec::new());
        let identity = NodeIdentity {
            name: name.into(),
            address: format!("http://{name}"),
            started_at: *clock.lock().unwrap(),
        };
        let cluster = Arc::new(super::Cluster::new(
            identity,
            settings,
            store,
            Arc::new(Metrics::new("sqlite")),
        ));
        let job = Arc::new(Counting {
            node: name,
            runs: runs.clone(),
        });
        let clock = clock.clone();
        LeaderJobs::with_clock(cluster, vec![job], Arc::new(move || *clock.lock().unwrap()))
    }

    /// Issue 14: one node runs the jobs; a silent leader's lease lapses and a peer takes over
    /// under a new epoch without running a slot twice; a node back days later takes over again.
    #[tokio::test]
    async fn one_node_runs_each_slot_and_leadership_moves_when_the_leader_falls_silent() {
        let db = TestDb::new(Backend::Sqlite).await;
        let t0 = datetime!(2026-12-04 12:00:00 UTC);
        let clock = Arc::new(Mutex::new(t0));
        let runs: Runs = Arc::default();
        let a = node("a", db.store(), &runs, &clock);
        let b = node("b", db.store(), &runs, &clock);
        let at = |secs: i64| *clock.lock().unwrap() = t0 + time::Duration::seconds(secs);

        assert_eq!(a.tick().await.unwrap(), Some(1));
        assert_eq!(b.tick().await.unwrap(), None);
        at(3);
        assert_eq!(a.tick().await.unwrap(), Some(1));
        assert_eq!(b.tick().await.unwrap(), None);
        // a falls silent; its lease (renewed at 3 s) lapses at 13 s.
        at(12);
        assert_eq!(b.tick().await.unwrap(), None);
        at(14);
        // b takes over; the minute's slot was run by a, so b does not run it again.
        assert_eq!(b.tick().await.unwrap(), Some(2));
        // a comes back: b holds the lease.
        at(15);
        assert_eq!(a.tick().await.unwrap(), None);
        // b renews every 3 s under the same epoch and runs the next minute's slot once.
        for secs in (17..=65).step_by(3) {
            at(secs);
            assert_eq!(b.tick().await.unwrap(), Some(2), "at {secs} s");
        }
        // Days later (the cluster was down), a starts again: the lease lapsed long ago.
        at(8 * 86_400);
        assert_eq!(a.tick().await.unwrap(), Some(3));

        let ran: Vec<_> = runs.lock().unwrap().iter().map(|(n, _)| *n).collect();
        assert_eq!(ran, ["a", "b", "a"]);
        let recorded: Vec<_> = db
            .store()
            .job_runs("count")
            .await
            .unwrap()
            .into_iter()
            .map(|r| (r.epoch, r.node))
            .collect();
        // Runs older than a week were pruned when a came back.
        assert_eq!(recorded, [(3, "a".to_owned())]);
    }
}
