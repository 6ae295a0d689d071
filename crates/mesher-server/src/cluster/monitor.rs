//! The load monitor (seed note "load monitor", CLUSTER-01, CLUSTER-05): every interval it reads
//! and resets the node's event counter, writes the heartbeat with the node's event rate, queue
//! depth and services, and reads its peers. Peers' comings and goings and the node's own
//! busy/idle changes are logged once each, on the change.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use futures_util::future::BoxFuture;
use mesher_store::NodeBeat;
use time::OffsetDateTime;
use tokio::time::Instant;

use super::{Cluster, NodeState, PeerLoad, counter, peers_to_use};
use crate::pipeline::EventCounter;
use crate::services::{Service, ServiceContext, Supervisor};

/// The load monitor service.
pub struct LoadMonitor {
    cluster: Arc<Cluster>,
    queue_cap: i64,
    counter: Arc<EventCounter>,
    supervisor: Weak<Supervisor>,
    seen: Mutex<Seen>,
}

/// What the last run saw, to log changes rather than states.
#[derive(Default)]
struct Seen {
    peers: HashMap<String, (NodeState, OffsetDateTime)>,
    busy: bool,
    /// Consecutive windows over the threshold.
    busy_windows: u32,
}

impl LoadMonitor {
    /// A monitor of `counter` for `cluster`'s node; `supervisor` supplies the services' states.
    /// A peer with more than `queue_cap` events queued is too busy to take any.
    pub fn new(
        cluster: Arc<Cluster>,
        counter: Arc<EventCounter>,
        supervisor: Weak<Supervisor>,
        queue_cap: i64,
    ) -> Self {
        LoadMonitor {
            cluster,
            queue_cap,
            counter,
            supervisor,
            seen: Mutex::new(Seen::default()),
        }
    }

    fn services(&self) -> String {
        let statuses = self
            .supervisor
            .upgrade()
            .map(|s| s.statuses())
            .unwrap_or_default();
        let list: Vec<_> = statuses
            .iter()
            .map(|s| serde_json::json!({"name": s.name, "state": s.state, "restarts": s.restarts}))
            .collect();
        serde_json::Value::Array(list).to_string()
    }

    async fn register(&self) -> anyhow::Result<()> {
        let record = self.cluster.record(mesher_store::now(), self.services());
        self.cluster.store().register_node(&record).await?;
        tracing::info!(node = %record.name, address = %record.address, "joined the cluster");
        Ok(())
    }

    /// One run: the window of `elapsed` that just ended.
    async fn tick(&self, elapsed: Duration) -> anyhow::Result<()> {
        let cluster = &self.cluster;
        let events = self.counter.reset();
        let rate = events as f64 / elapsed.as_secs_f64().max(0.001);
        let busy = events > cluster.settings().threshold;
        let metrics = cluster.metrics();
        let services = self.services();
        let now = mesher_store::now();
        let beat = NodeBeat {
            name: &cluster.identity().name,
            at: now,
            events_per_second: (rate * 10.0).round() / 10.0,
            queue_depth: metrics.queue_events.get().max(0),
            handed_off: counter(metrics.events_handed_off.get()),
            taken_over: counter(metrics.events_taken_over.get()),
            services: &services,
        };
        if !cluster.store().beat_node(&beat).await? {
            tracing::warn!("this node was removed from the registry; registering again");
            self.register().await?;
        }
        let nodes = cluster.store().nodes().await?;
        let states: HashMap<String, (NodeState, OffsetDateTime)> = nodes
            .iter()
            .map(|n| (n.name.clone(), (NodeState::of(n, now), n.started_at)))
            .collect();
        let up = states.values().filter(|(s, _)| *s == NodeState::Up).count();
        metrics
            .cluster_nodes
            .set(i64::try_from(up).unwrap_or(i64::MAX));
        let busy_windows = {
            let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
            seen.busy_windows = if busy { seen.busy_windows + 1 } else { 0 };
            if busy != seen.busy {
                let threshold = cluster.settings().threshold;
                if busy {
                    tracing::info!(events, threshold, "load above the threshold");
                } else {
                    tracing::info!(events, threshold, "load back under the threshold");
                }
                seen.busy = busy;
            }
            for (name, (state, started)) in &states {
                if *name == cluster.identity().name {
                    continue;
                }
                match seen.peers.get(name) {
                    Some((before, since)) if before == state => {
                        if since != started {
                            tracing::info!(peer = %name, "peer restarted");
                        }
                        continue;
                    }
                    _ => {}
                }
                if *state == NodeState::Up {
                    tracing::info!(peer = %name, "peer up");
                } else {
                    tracing::warn!(peer = %name, "peer down: no heartbeat for three intervals");
                }
            }
            for name in seen.peers.keys() {
                if !states.contains_key(name) {
                    tracing::info!(peer = %name, "peer left the cluster");
                }
            }
            seen.peers = states;
            seen.busy_windows
        };
        let me = &cluster.identity().name;
        let peers: Vec<PeerLoad> = nodes
            .iter()
            .filter(|n| n.name != *me && NodeState::of(n, now) == NodeState::Up)
            .map(|n| PeerLoad {
                rate: n.events_per_second,
                queue_depth: n.queue_depth,
            })
            .collect();
        cluster.set_peers_up(peers.len());
        let threshold_rate =
            cluster.settings().threshold as f64 / cluster.settings().monitor_interval.as_secs_f64();
        let spread = cluster.spread();
        let handing_off = spread.peers() > 0;
        // A hand-off starts after two busy windows in a row: by then the peers' heartbeats show
        // their own load, so nodes that got busy together (a deploy, a balanced cluster warming
        // up) do not all hand events to each other on stale figures.
        let using = if handing_off || busy_windows >= 2 {
            peers_to_use(handing_off, rate, threshold_rate, &peers, self.queue_cap)
        } else {
            0
        };
        let before = spread.set_peers(using);
        match (before, using) {
            (0, 0) => {}
            (0, n) => tracing::info!(
                peers = n,
                events_per_second = rate,
                "handing new events to idler peers"
            ),
            (_, 0) => tracing::info!(events_per_second = rate, "no longer handing events off"),
            (a, b) if a != b => {
                tracing::info!(peers = b, "handing events to a different number of peers")
            }
            _ => {}
        }
        Ok(())
    }
}

impl Service for LoadMonitor {
    fn name(&self) -> &'static str {
        "load-monitor"
    }

    fn run(self: Arc<Self>, ctx: ServiceContext) -> BoxFuture<'static, anyhow::Result<()>> {
        Box::pin(async move {
            self.register().await?;
            let interval = self.cluster.settings().monitor_interval;
            let mut last = Instant::now();
            loop {
                if ctx
                    .wait(tokio::time::sleep_until(last + interval))
                    .await
                    .is_none()
                {
                    return Ok(());
                }
                let now = Instant::now();
                let elapsed = now - last;
                last = now;
                // A failed run is logged and the next one tries again; the counter's reset
                // already happened, so the window's rate is lost, not counted twice.
                match ctx.wait(self.tick(elapsed)).await {
                    None => return Ok(()),
                    Some(Err(e)) => tracing::warn!(
                        error = %e,
                        "load monitor run failed; trying again next interval"
                    ),
                    Some(Ok(())) => {}
                }
            }
        })
    }
}
