//! The cluster's shared state (issue 14, CLUSTER-01, CLUSTER-02): the registry of nodes and
//! their heartbeats, leases for the jobs that run on one node at a time, and the record of those
//! jobs' runs. PostgreSQL is the only coordination engine; on SQLite the same tables hold the
//! one node.
//!
//! Times come from the caller (the node's clock), not from the database, so that tests control
//! them and both backends run the same statements.

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::StoreResult;

/// A node as the registry holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeRecord {
    /// Unique name (`node_name`, by default `host:port`).
    pub name: String,
    /// The URL peers reach the node at.
    pub address: String,
    /// Mesher's version on that node.
    pub version: String,
    /// When the node (this run of it) started.
    pub started_at: OffsetDateTime,
    /// Its last heartbeat.
    pub last_heartbeat: OffsetDateTime,
    /// Its load monitor's interval: a heartbeat older than three of them means the node is down.
    pub interval_ms: i64,
    /// Events accepted per second over its last window.
    pub events_per_second: f64,
    /// Events waiting in its pipeline at the heartbeat.
    pub queue_depth: i64,
    /// Events it handed to peers since it started.
    pub handed_off: i64,
    /// Events it took from peers since it started.
    pub taken_over: i64,
    /// Its services and their states, as the node reported them (a JSON array).
    pub services: String,
}

/// What a heartbeat writes.
#[derive(Debug, Clone)]
pub struct NodeBeat<'a> {
    /// The node.
    pub name: &'a str,
    /// When.
    pub at: OffsetDateTime,
    /// Events accepted per second over the window that just ended.
    pub events_per_second: f64,
    /// Events waiting in the pipeline.
    pub queue_depth: i64,
    /// Events handed to peers since start.
    pub handed_off: i64,
    /// Events taken from peers since start.
    pub taken_over: i64,
    /// The services and their states (a JSON array).
    pub services: &'a str,
}

/// A lease: the right to run the jobs named by it until `expires_at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The lease's name.
    pub name: String,
    /// The node holding it (or that held it last).
    pub holder: String,
    /// Incremented each time the lease changes hands or lapses and is taken again: the fence
    /// that a job's writes are checked against.
    pub epoch: i64,
    /// Until when the holder may act without renewing.
    pub expires_at: OffsetDateTime,
}

/// One recorded run of a cluster job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRun {
    /// The job.
    pub job: String,
    /// Which run: the job's time slot (its start time divided by its interval).
    pub slot: i64,
    /// The lease epoch under which it ran.
    pub epoch: i64,
    /// The node that ran it.
    pub node: String,
    /// When.
    pub ran_at: OffsetDateTime,
}

/// An event handed off by a busy node, as a peer claims it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverflowEvent {
    /// The row.
    pub id: i64,
    /// The project it was sent to.
    pub project_id: i64,
    /// The node that received and handed it off.
    pub origin: String,
    /// The normalized event (JSON).
    pub payload: Vec<u8>,
}

/// A live subscription to the cluster bus: messages in the order PostgreSQL delivered them,
/// until the connection ends (`recv` answers `None`; subscribe again, and re-synchronise, since
/// messages sent meanwhile are lost).
pub struct BusSubscription {
    rx: tokio::sync::mpsc::Receiver<String>,
    /// Keeps the listening session open.
    _session: Box<dyn std::any::Any + Send>,
}

impl BusSubscription {
    /// A subscription fed by `rx`, alive while `session` is.
    pub(crate) fn new(
        rx: tokio::sync::mpsc::Receiver<String>,
        session: Box<dyn std::any::Any + Send>,
    ) -> Self {
        BusSubscription {
            rx,
            _session: session,
        }
    }

    /// The next message, or `None` once the connection ended.
    pub async fn recv(&mut self) -> Option<String> {
        self.rx.recv().await
    }
}

/// The cluster registry and leases.
#[async_trait]
pub trait ClusterStore: Send + Sync {
    /// Registers a node at start, replacing what an earlier run of the same name left.
    async fn register_node(&self, node: &NodeRecord) -> StoreResult<()>;
    /// Writes a heartbeat; `false` when the node is not registered (removed by a peer or an
    /// operator): the caller registers again.
    async fn beat_node(&self, beat: &NodeBeat<'_>) -> StoreResult<bool>;
    /// Removes a node (graceful stop).
    async fn deregister_node(&self, name: &str) -> StoreResult<()>;
    /// Every registered node, by name.
    async fn nodes(&self) -> StoreResult<Vec<NodeRecord>>;
    /// Takes or renews the lease `name` for `holder` until `now + ttl`, if it is free, lapsed
    /// or already `holder`'s. Returns the epoch it is held under, or `None` when another node
    /// holds it.
    async fn try_lease(
        &self,
        name: &str,
        holder: &str,
        now: OffsetDateTime,
        ttl: time::Duration,
    ) -> StoreResult<Option<i64>>;
    /// Lets the lease lapse now if `holder` holds it (graceful stop), so a peer takes it at once.
    async fn release_lease(&self, name: &str, holder: &str, now: OffsetDateTime)
    -> StoreResult<()>;
    /// The lease `name` as it stands.
    async fn lease(&self, name: &str) -> StoreResult<Option<Lease>>;
    /// Records that `run.node` runs `run.job`'s slot `run.slot` under lease `lease` at epoch
    /// `run.epoch`, atomically with checking that the lease is still held, unexpired at
    /// `run.ran_at`, under that epoch (the fence). `false`: the slot was run already, or the
    /// lease moved on; the caller must not run it.
    async fn claim_job_run(&self, lease: &str, run: &JobRun) -> StoreResult<bool>;
    /// The recorded runs of `job`, oldest slot first.
    async fn job_runs(&self, job: &str) -> StoreResult<Vec<JobRun>>;
    /// Forgets runs recorded before `before`.
    async fn prune_job_runs(&self, before: OffsetDateTime) -> StoreResult<u64>;

    /// Hands events off (project, payload), durably, in one transaction.
    async fn push_overflow(
        &self,
        origin: &str,
        events: &[(i64, Vec<u8>)],
        now: OffsetDateTime,
    ) -> StoreResult<()>;
    /// Claims up to `limit` unclaimed (or lapsed) events for `node` until `until`, oldest first,
    /// skipping rows another node is claiming at the same moment. Events from `node` itself are
    /// taken only once older than `own_after` (a busy node leaves its own to its peers).
    async fn claim_overflow(
        &self,
        node: &str,
        now: OffsetDateTime,
        until: OffsetDateTime,
        own_after: OffsetDateTime,
        limit: usize,
    ) -> StoreResult<Vec<OverflowEvent>>;
    /// Deletes events `node` claimed and stored.
    async fn delete_overflow(&self, node: &str, ids: &[i64]) -> StoreResult<u64>;
    /// Events waiting to be taken (claimed or not).
    async fn overflow_depth(&self) -> StoreResult<i64>;

    /// Sends a small message (at most 7,900 bytes) to every node's bus, this one included, when
    /// the caller's transaction commits (PostgreSQL `NOTIFY` on the channel `mesher_bus_`
    /// followed by the schema's name, 63 bytes at most: two Mesher installs in two schemas of
    /// one database do not hear each other). SQLite has no other node: the
    /// message goes nowhere, and the caller delivers it locally.
    async fn publish(&self, message: &str) -> StoreResult<()>;
    /// Listens to the bus: `None` on SQLite, which has no bus.
    async fn subscribe(&self) -> StoreResult<Option<BusSubscription>>;
}
