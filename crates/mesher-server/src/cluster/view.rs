//! The cluster as `GET /api/v1/cluster` and the dashboard's Cluster page show it.

use mesher_store::{NodeRecord, Store, StoreResult};
use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;

use super::LEADER_LEASE;

/// Up or down, from the age of the last heartbeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum NodeState {
    /// Its last heartbeat is at most three of its intervals old.
    Up,
    /// Silent for longer: peers send it no work.
    Down,
}

impl NodeState {
    /// A node whose heartbeat is older than three of its intervals is down.
    pub fn of(node: &NodeRecord, now: OffsetDateTime) -> NodeState {
        let silence = (now - node.last_heartbeat).whole_milliseconds();
        if silence > 3 * i128::from(node.interval_ms) {
            NodeState::Down
        } else {
            NodeState::Up
        }
    }
}

/// One node.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct NodeView {
    /// Unique name (`node_name`).
    pub name: String,
    /// `up` or `down`.
    pub state: NodeState,
    /// The URL peers reach it at.
    pub address: String,
    /// Mesher's version there.
    pub version: String,
    /// When it started.
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    /// Its last heartbeat.
    #[serde(with = "time::serde::rfc3339")]
    pub last_heartbeat: OffsetDateTime,
    /// Accepted events per second over its last load-monitor window.
    pub events_per_second: f64,
    /// Events waiting in its pipeline.
    pub queue_depth: i64,
    /// Events it handed to peers since it started.
    pub handed_off: i64,
    /// Events it took from peers since it started.
    pub taken_over: i64,
    /// Its services and their states.
    #[schema(value_type = Vec<Object>)]
    pub services: serde_json::Value,
    /// Whether it holds the lease of the cluster's jobs.
    pub leader: bool,
    /// Whether it is the node that answered.
    pub this_node: bool,
}

/// The whole cluster.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ClusterView {
    /// The node running the cluster's jobs, if any holds the lease now.
    pub leader: Option<String>,
    /// The lease's epoch: it grows each time leadership moves.
    pub leader_epoch: Option<i64>,
    /// `sqlite` (one node) or `postgres`.
    pub backend: String,
    /// The node that answered.
    pub node: String,
    /// Nodes that are up.
    pub nodes_up: usize,
    /// Every registered node, by name.
    pub nodes: Vec<NodeView>,
}

/// Reads the registry and the lease, as of `now`.
pub async fn cluster_view(
    store: &dyn Store,
    this_node: &str,
    now: OffsetDateTime,
) -> StoreResult<ClusterView> {
    let nodes = store.nodes().await?;
    let lease = store
        .lease(LEADER_LEASE)
        .await?
        .filter(|l| l.expires_at > now);
    let leader = lease.as_ref().map(|l| l.holder.clone());
    let nodes: Vec<NodeView> = nodes
        .into_iter()
        .map(|n| NodeView {
            state: NodeState::of(&n, now),
            leader: leader.as_deref() == Some(n.name.as_str()),
            this_node: n.name == this_node,
            services: serde_json::from_str(&n.services).unwrap_or_default(),
            name: n.name,
            address: n.address,
            version: n.version,
            started_at: n.started_at,
            last_heartbeat: n.last_heartbeat,
            events_per_second: n.events_per_second,
            queue_depth: n.queue_depth,
            handed_off: n.handed_off,
            taken_over: n.taken_over,
        })
        .collect();
    Ok(ClusterView {
        leader,
        leader_epoch: lease.map(|l| l.epoch),
        backend: store.backend().into(),
        node: this_node.into(),
        nodes_up: nodes.iter().filter(|n| n.state == NodeState::Up).count(),
        nodes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn a_node_is_down_after_three_silent_intervals() {
        let t = datetime!(2026-12-04 12:00:00 UTC);
        let node = NodeRecord {
            name: "a".into(),
            address: "http://a".into(),
            version: "0".into(),
            started_at: t,
            last_heartbeat: t,
            interval_ms: 5000,
            events_per_second: 0.0,
            queue_depth: 0,
            handed_off: 0,
            taken_over: 0,
            services: "[]".into(),
        };
        let at = |s| t + time::Duration::seconds(s);
        assert_eq!(NodeState::of(&node, at(15)), NodeState::Up);
        assert_eq!(NodeState::of(&node, at(16)), NodeState::Down);
        // Days later (a node restarted long after): down, not an overflow.
        assert_eq!(NodeState::of(&node, at(86_400 * 9)), NodeState::Down);
    }
}
