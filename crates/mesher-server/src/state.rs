//! The state every handler shares, and [`start`], the one function that wires a node.

use std::sync::Arc;

use mesher_store::Store;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use url::Url;

use crate::alerts::engine::AlertEngine;
use crate::alerts::notify::Notifier;
use crate::alerts::outbox::Outbox;
use crate::alerts::thresholds::ThresholdJob;
use crate::cache::ProjectCache;
use crate::cluster::{
    BatchAnnouncer, Bus, BusService, Cluster, ClusterJob, LeaderJobs, LoadMonitor, NodeIdentity,
    OverflowTaker,
};
use crate::config::Settings;
use crate::faults::Faults;
use crate::ingest::budget::BodyBudget;
use crate::jobs::{IssueSweep, Retention};
use crate::live::{LiveHub, LiveService};
use crate::metrics::Metrics;
use crate::outcomes::{EdgeOutcomes, OutcomeFlusher};
use crate::pipeline::Pipeline;
use crate::pipeline::processor::Processor;
use crate::pipeline::sourcemaps::SourceMaps;
use crate::pipeline::writer::Writer;
use crate::ratelimit::RateLimits;
use crate::services::{ServiceHandle, Supervisor, SupervisorConfig};
use crate::sessions::LoginThrottle;

/// Shared state of a running node, handed to every handler as axum `State`.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    settings: Settings,
    public_url: Url,
    store: Arc<dyn Store>,
    metrics: Arc<Metrics>,
    outcomes: EdgeOutcomes,
    cache: Arc<ProjectCache>,
    rate_limits: RateLimits,
    login_throttle: LoginThrottle,
    body_budget: BodyBudget,
    cpu_slots: Arc<tokio::sync::Semaphore>,
    pipeline: Arc<Pipeline>,
    source_maps: Arc<SourceMaps>,
    supervisor: Arc<Supervisor>,
    pipeline_services: [ServiceHandle; 2],
    cluster: Arc<Cluster>,
    bus: Arc<Bus>,
    live: Arc<LiveHub>,
    notifier: Option<Arc<Notifier>>,
    shutdown: CancellationToken,
    faults: Faults,
}

/// Starts a node's services (in dependency order) and returns the state its handlers share.
///
/// `shutdown` is the node's stop signal: long-lived connections watch it.
pub fn start(
    settings: Settings,
    public_url: Url,
    store: Arc<dyn Store>,
    shutdown: CancellationToken,
    faults: Faults,
) -> AppState {
    let metrics = Arc::new(Metrics::new(store.backend()));
    let limits = settings.limits.clone();
    let supervisor = Supervisor::new(
        SupervisorConfig {
            check_interval: limits.health_check_interval,
            silence_limit: limits.health_check_interval * 3,
            budget: limits.restart_budget,
            ..SupervisorConfig::default()
        },
        metrics.clone(),
    );

    let identity = NodeIdentity {
        name: settings.cluster.node_name_for(settings.listen.port()),
        address: settings
            .cluster
            .advertise_url
            .as_ref()
            .unwrap_or(&public_url)
            .to_string(),
        started_at: mesher_store::now(),
    };
    let bus = Arc::new(Bus::default());
    let live = Arc::new(LiveHub::new(
        settings.stream.clone(),
        metrics.live_streams.clone(),
    ));

    // The channels are made first so that each service can be handed its ends.
    let (outcomes, outcomes_rx) = EdgeOutcomes::channel(metrics.clone());
    supervisor.spawn(Arc::new(OutcomeFlusher::new(
        store.clone(),
        outcomes_rx,
        metrics.clone(),
    )));
    let (submit_tx, submit_rx) = async_channel::bounded(limits.queue_max_events);
    let (prepared_tx, prepared_rx) = mpsc::channel(64);
    let writer = supervisor.spawn(Arc::new(Writer::new(
        store.clone(),
        prepared_rx,
        limits.batch_max_events,
        limits.batch_max_wait,
        metrics.clone(),
        faults.clone(),
        BatchAnnouncer::new(bus.clone(), live.clone(), identity.name.clone()),
    )));
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    let source_maps = Arc::new(SourceMaps::new(store.clone()));
    let processor = supervisor.spawn(Arc::new(Processor::new(
        submit_rx,
        prepared_tx,
        workers,
        faults.clone(),
        source_maps.clone(),
    )));
    let pipeline = Arc::new(Pipeline::new(
        submit_tx,
        limits.queue_max_events,
        limits.queue_max_bytes,
        metrics.clone(),
    ));
    let cache = Arc::new(ProjectCache::new(store.clone()));
    let cluster = Arc::new(Cluster::new(
        identity,
        settings.cluster.clone(),
        store.clone(),
        metrics.clone(),
    ));
    supervisor.spawn(Arc::new(LoadMonitor::new(
        cluster.clone(),
        pipeline.counter().clone(),
        Arc::downgrade(&supervisor),
        i64::try_from(limits.queue_max_events / 4).unwrap_or(i64::MAX),
    )));
    // Only PostgreSQL has peers to take events from (on SQLite the node is alone).
    if store.backend() == "postgres" {
        supervisor.spawn(Arc::new(OverflowTaker::new(
            cluster.clone(),
            pipeline.clone(),
            cache.clone(),
            limits.queue_max_events / 2,
        )));
    }
    let jobs: Vec<Arc<dyn ClusterJob>> = vec![
        Arc::new(IssueSweep::new(
            settings.cluster.issue_sweep_interval,
            bus.clone(),
            cluster.identity().name.clone(),
        )),
        Arc::new(ThresholdJob::new(
            settings.cluster.alert_check_interval,
            bus.clone(),
            cluster.identity().name.clone(),
        )),
    ];
    let leader_jobs = Arc::new(LeaderJobs::new(cluster.clone(), jobs));
    supervisor.spawn(Arc::new(Retention::new(
        store.clone(),
        leader_jobs.leadership(),
        settings.cluster.retention_sweep_interval,
        Arc::new(mesher_store::now),
        metrics.clone(),
    )));
    supervisor.spawn(leader_jobs);
    supervisor.spawn(Arc::new(BusService::new(
        cluster.clone(),
        bus.clone(),
        cache.clone(),
    )));
    supervisor.spawn(Arc::new(AlertEngine::new(
        store.clone(),
        bus.clone(),
        cluster.identity().name.clone(),
    )));
    // Without a notifier (its TLS could not be set up), alerts still fire and reach the
    // dashboard; rules with actions are refused, saying why.
    let notifier = match Notifier::new(&settings.notify) {
        Ok(n) => Some(Arc::new(n)),
        Err(e) => {
            tracing::error!(error = %e, "alert notifications are unavailable");
            None
        }
    };
    if let Some(notifier) = &notifier {
        supervisor.spawn(Arc::new(Outbox::new(
            store.clone(),
            notifier.clone(),
            bus.clone(),
            cluster.identity().name.clone(),
            public_url.clone(),
            settings.notify.retry_first,
        )));
    }
    supervisor.spawn(Arc::new(LiveService::new(
        live.clone(),
        store.clone(),
        bus.clone(),
        cluster.identity().name.clone(),
    )));

    AppState {
        inner: Arc::new(Inner {
            cache,
            rate_limits: RateLimits::default(),
            login_throttle: LoginThrottle::default(),
            body_budget: BodyBudget::new(limits.max_inflight_body_bytes),
            cpu_slots: Arc::new(tokio::sync::Semaphore::new(
                workers.saturating_sub(1).max(1),
            )),
            settings,
            public_url,
            store,
            metrics,
            outcomes,
            pipeline,
            source_maps,
            supervisor,
            pipeline_services: [processor, writer],
            cluster,
            bus,
            live,
            notifier,
            shutdown,
            faults,
        }),
    }
}

impl AppState {
    /// The validated configuration.
    pub fn settings(&self) -> &Settings {
        &self.inner.settings
    }

    /// What delivers alert notifications; `None` when it could not be set up.
    pub fn notifier(&self) -> Option<&Notifier> {
        self.inner.notifier.as_deref()
    }

    /// The URL clients reach this node at (DSNs and links are built from it).
    pub fn public_url(&self) -> &Url {
        &self.inner.public_url
    }

    /// The database.
    pub fn store(&self) -> &dyn Store {
        self.inner.store.as_ref()
    }

    /// The metrics registry.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// The metrics registry, shared (for tasks that outlive a request).
    pub fn metrics_handle(&self) -> Arc<Metrics> {
        self.inner.metrics.clone()
    }

    /// Where the edge counts per-project outcomes (RETAIN-04).
    pub fn outcomes(&self) -> &EdgeOutcomes {
        &self.inner.outcomes
    }

    /// Key and project caches.
    pub fn cache(&self) -> &ProjectCache {
        &self.inner.cache
    }

    /// Per-project rate limits.
    pub fn rate_limits(&self) -> &RateLimits {
        &self.inner.rate_limits
    }

    /// Sign-in attempt limits.
    pub fn login_throttle(&self) -> &LoginThrottle {
        &self.inner.login_throttle
    }

    /// The node-wide budget of ingest body bytes in memory.
    pub fn body_budget(&self) -> &BodyBudget {
        &self.inner.body_budget
    }

    /// Slots for CPU-heavy request work on the blocking pool (one fewer than the cores).
    pub fn cpu_slots(&self) -> &Arc<tokio::sync::Semaphore> {
        &self.inner.cpu_slots
    }

    /// The ingestion pipeline.
    pub fn pipeline(&self) -> &Pipeline {
        &self.inner.pipeline
    }

    /// The source maps the processor applies (issue 18).
    pub fn source_maps(&self) -> &SourceMaps {
        &self.inner.source_maps
    }

    /// The supervisor of this node's services.
    pub fn supervisor(&self) -> &Arc<Supervisor> {
        &self.inner.supervisor
    }

    /// The pipeline's services, in the order they must stop (producers first).
    pub fn pipeline_services(&self) -> &[ServiceHandle] {
        &self.inner.pipeline_services
    }

    /// This node's membership of the cluster.
    pub fn cluster(&self) -> &Arc<Cluster> {
        &self.inner.cluster
    }

    /// The cluster bus (in-process on SQLite).
    pub fn bus(&self) -> &Arc<Bus> {
        &self.inner.bus
    }

    /// The node's live streams.
    pub fn live(&self) -> &Arc<LiveHub> {
        &self.inner.live
    }

    /// The node's stop signal.
    pub fn shutdown(&self) -> CancellationToken {
        self.inner.shutdown.clone()
    }

    /// Fault injection (tests only; inert without the `fault-injection` feature).
    pub fn faults(&self) -> &Faults {
        &self.inner.faults
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use mesher_store::DatabaseUrl;
    use mesher_store::testing::{Backend, TestDb};

    use super::*;
    use crate::services::ServiceState;

    /// Issue 12, row 15: at shutdown the pipeline's queue closes just before its services are
    /// told to stop; that gap must not read as a crash and a restart.
    #[tokio::test]
    async fn a_graceful_stop_restarts_no_pipeline_service() {
        let db = TestDb::new(Backend::Sqlite).await;
        let settings = Settings::for_tests(DatabaseUrl::parse(db.url()).unwrap());
        let url = Url::parse("http://127.0.0.1:1").unwrap();
        let state = start(
            settings,
            url,
            db.store(),
            CancellationToken::new(),
            Faults::default(),
        );
        state.pipeline().close();
        // Longer than the supervisor's first restart backoff (50 ms).
        tokio::time::sleep(Duration::from_millis(300)).await;
        state
            .supervisor()
            .stop(state.pipeline_services(), Duration::from_secs(5))
            .await;
        for status in state.supervisor().statuses() {
            if state
                .pipeline_services()
                .iter()
                .any(|s| s.name() == status.name)
            {
                assert_eq!(status.restarts, 0, "{status:?}");
                assert_eq!(status.state, ServiceState::Stopped, "{status:?}");
            }
        }
        state.supervisor().shutdown(Duration::from_secs(5)).await;
    }
}
