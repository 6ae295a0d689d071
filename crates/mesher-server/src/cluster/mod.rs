//! Several nodes on one PostgreSQL as one system (issue 14, CLUSTER-01 … CLUSTER-05).
//!
//! PostgreSQL is the only shared component and the only coordination engine (as in Oban and
//! Solid Queue): each node registers in the `nodes` table and its [`LoadMonitor`] writes a
//! heartbeat every interval; a node silent for three intervals is down. Jobs that must run once
//! per cluster run on the node holding the `cluster-jobs` lease ([`LeaderJobs`]), and each run
//! is recorded under the lease's epoch, which fences a node that lost the lease without knowing.
//! On SQLite the same code runs with one node.

mod bus;
mod leader;
mod monitor;
mod settings;
mod spread;
mod taker;
mod view;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use mesher_store::{NodeRecord, Store};
use time::OffsetDateTime;

pub use bus::{BatchAnnouncer, BatchPart, Bus, BusMessage, BusService, IssueEvent};
pub use leader::{Clock, ClusterJob, LEADER_LEASE, LeaderJobs};
pub use monitor::LoadMonitor;
pub use settings::{ClusterSettings, DEFAULT_THRESHOLD};
pub use spread::{PeerLoad, Spread, peers_to_use};
pub use taker::OverflowTaker;
pub use view::{ClusterView, NodeState, NodeView, cluster_view};

use crate::metrics::Metrics;

/// Who this node is, as it registers itself.
#[derive(Debug, Clone)]
pub struct NodeIdentity {
    /// Unique name in the cluster.
    pub name: String,
    /// The URL peers reach it at.
    pub address: String,
    /// When this run of the node started.
    pub started_at: OffsetDateTime,
}

/// This node's membership: its identity, settings, and how many peers its load monitor last
/// saw up.
pub struct Cluster {
    identity: NodeIdentity,
    settings: ClusterSettings,
    store: Arc<dyn Store>,
    metrics: Arc<Metrics>,
    peers_up: AtomicUsize,
    spread: Spread,
}

impl Cluster {
    /// The membership of a node named and addressed by `identity`.
    pub fn new(
        identity: NodeIdentity,
        settings: ClusterSettings,
        store: Arc<dyn Store>,
        metrics: Arc<Metrics>,
    ) -> Self {
        Cluster {
            identity,
            settings,
            store,
            metrics,
            peers_up: AtomicUsize::new(0),
            spread: Spread::default(),
        }
    }

    /// This node.
    pub fn identity(&self) -> &NodeIdentity {
        &self.identity
    }

    /// The cluster settings.
    pub fn settings(&self) -> &ClusterSettings {
        &self.settings
    }

    /// The registry row this node writes at start.
    pub(crate) fn record(&self, at: OffsetDateTime, services: String) -> NodeRecord {
        NodeRecord {
            name: self.identity.name.clone(),
            address: self.identity.address.clone(),
            version: env!("CARGO_PKG_VERSION").into(),
            started_at: self.identity.started_at,
            last_heartbeat: at,
            interval_ms: i64::try_from(self.settings.monitor_interval.as_millis())
                .unwrap_or(i64::MAX),
            events_per_second: 0.0,
            queue_depth: self.metrics.queue_events.get().max(0),
            handed_off: counter(self.metrics.events_handed_off.get()),
            taken_over: counter(self.metrics.events_taken_over.get()),
            services,
        }
    }

    /// The hand-off decision in force.
    pub fn spread(&self) -> &Spread {
        &self.spread
    }

    /// Peers (other nodes) that were up at the load monitor's last run: read by every ingest
    /// request, so it is kept ready rather than computed from the registry each time.
    pub fn peers_up(&self) -> usize {
        self.peers_up.load(Ordering::Relaxed)
    }

    /// This node's share of a per-minute rate limit that holds for the whole cluster: the
    /// limit divided among the nodes up, rounded up (0: unlimited). A load balancer spreads
    /// clients evenly; the share is rebalanced at every membership change.
    pub fn limit_share(&self, per_minute: i64) -> i64 {
        if per_minute <= 0 {
            return per_minute;
        }
        let nodes = i64::try_from(self.peers_up() + 1).unwrap_or(1);
        (per_minute + nodes - 1) / nodes
    }

    pub(crate) fn set_peers_up(&self, n: usize) {
        self.peers_up.store(n, Ordering::Relaxed);
    }

    /// Leaves the cluster at a graceful stop: the row goes, and the lease (if held) lapses at
    /// once so that a peer takes the jobs without waiting for it to expire.
    pub async fn leave(&self) {
        let name = &self.identity.name;
        let now = mesher_store::now();
        if let Err(e) = self.store.release_lease(LEADER_LEASE, name, now).await {
            tracing::warn!(error = %e, "cannot release the cluster-jobs lease");
        }
        match self.store.deregister_node(name).await {
            Ok(()) => tracing::info!(node = %name, "left the cluster"),
            Err(e) => {
                tracing::warn!(error = %e, "cannot deregister; peers will see this node down")
            }
        }
    }

    pub(crate) fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub(crate) fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }
}

fn counter(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}
