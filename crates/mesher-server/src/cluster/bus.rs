//! The cluster bus (CLUSTER-04 groundwork): small typed messages between nodes over PostgreSQL
//! `LISTEN/NOTIFY`, one channel for the cluster. Configuration changes (a revoked key, changed
//! project settings) are announced by the database itself when they commit, so every node drops
//! its caches at once instead of at its next poll; the writer announces each committed batch
//! (one message per batch, never per event). On SQLite the node is alone: messages are
//! delivered in-process.
//!
//! The listener reconnects with backoff; after any gap it drops the caches (messages sent
//! meanwhile are lost) and tells local subscribers with [`BusMessage::Resync`].

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use mesher_store::{IssueChange, NewEvent, WriteOutcome};
use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, mpsc};

use super::Cluster;
use crate::cache::ProjectCache;
use crate::live::LiveHub;
use crate::services::{Service, ServiceContext};

/// PostgreSQL refuses notification payloads of 8,000 bytes or more.
pub const MAX_MESSAGE_BYTES: usize = 7_900;
/// Projects per batch announcement: at most about 190 bytes each, with room for a node name of
/// 200 characters (the test below checks the worst case).
const PARTS_PER_MESSAGE: usize = 36;

/// The events of one project in a committed batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchPart {
    /// The project.
    pub project_id: i64,
    /// Events stored.
    pub stored: u64,
    /// Earliest and latest `received_at` of those events, in Unix milliseconds.
    pub from_ms: i64,
    /// See `from_ms`.
    pub to_ms: i64,
    /// The first and last row of those events: a peer with live streams on the project reads
    /// them by this range (absent from nodes before the live stream, hence the defaults).
    #[serde(default)]
    pub first_row: i64,
    /// See `first_row`.
    #[serde(default)]
    pub last_row: i64,
}

/// An issue whose state changed: created, regressed or escalated by an event, or changed by a
/// person (resolved, unresolved, archived, discarded).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssueEvent {
    /// Its project.
    pub project_id: i64,
    /// The issue.
    pub issue_id: i64,
    /// `created`, `regressed`, `escalated`, or the status it was given (`resolved`, …).
    pub change: String,
}

/// A message on the bus. Versioned by the envelope's `v`; unknown types are ignored, so that
/// nodes of different versions can share a cluster during an upgrade.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum BusMessage {
    /// Keys or project settings changed (any node or the CLI); the config epoch is now `epoch`.
    Config {
        /// The new epoch.
        epoch: i64,
    },
    /// A node committed a batch.
    Batch {
        /// The node.
        node: String,
        /// Per project (a batch that would not fit one message is announced in several).
        projects: Vec<BatchPart>,
    },
    /// Issues changed state (one message per batch or per change, not per event).
    Issues {
        /// The node that made the change.
        node: String,
        /// The changes.
        issues: Vec<IssueEvent>,
    },
    /// Alerts fired (issue 16): every node's live streams of the project show them.
    Alerts {
        /// The node that fired them.
        node: String,
        /// (project, alert) pairs.
        alerts: Vec<(i64, i64)>,
    },
    /// Local only: the bus was unreachable for a while and messages may be lost; re-read state.
    Resync,
}

#[derive(Serialize, Deserialize)]
struct Envelope {
    v: u32,
    #[serde(flatten)]
    message: BusMessage,
}

/// Parses a bus payload; `None` for versions and types this node does not know.
pub fn parse(payload: &str) -> Option<BusMessage> {
    let envelope: Envelope = serde_json::from_str(payload).ok()?;
    (envelope.v == 1).then_some(envelope.message)
}

/// Encodes a message for the bus.
pub fn encode(message: &BusMessage) -> String {
    serde_json::to_string(&Envelope {
        v: 1,
        message: message.clone(),
    })
    .unwrap_or_default()
}

/// The node's end of the bus: local subscribers, and the queue of batches to announce.
pub struct Bus {
    local: broadcast::Sender<BusMessage>,
    outbox: mpsc::Sender<BusMessage>,
    /// The service's end of the outbox; it outlives the service's runs, so that a restart
    /// after a crash picks it up again (tokio's mutex is released, not poisoned, by a panic).
    outbox_rx: tokio::sync::Mutex<mpsc::Receiver<BusMessage>>,
}

impl Default for Bus {
    fn default() -> Self {
        let (local, _) = broadcast::channel(1024);
        let (outbox, rx) = mpsc::channel(1024);
        Bus {
            local,
            outbox,
            outbox_rx: tokio::sync::Mutex::new(rx),
        }
    }
}

impl Bus {
    /// Messages as this node receives them (its own included).
    pub fn subscribe(&self) -> broadcast::Receiver<BusMessage> {
        self.local.subscribe()
    }

    /// Announces committed events without waiting (the writer calls this after each commit);
    /// when the outbox is full the announcement is dropped and logged: the bus is best effort,
    /// readers re-synchronise from the database.
    pub fn announce_batch(&self, node: &str, parts: Vec<BatchPart>) {
        if parts.is_empty() {
            return;
        }
        // Split so that each message stays under PostgreSQL's payload limit.
        for chunk in parts.chunks(PARTS_PER_MESSAGE) {
            let message = BusMessage::Batch {
                node: node.to_owned(),
                projects: chunk.to_vec(),
            };
            if self.outbox.try_send(message).is_err() {
                tracing::warn!("the bus outbox is full; a batch announcement was dropped");
            }
        }
    }

    /// Announces issue state changes without waiting (as [`Bus::announce_batch`]).
    pub fn announce_issues(&self, node: &str, issues: Vec<IssueEvent>) {
        for chunk in issues.chunks(PARTS_PER_MESSAGE) {
            let message = BusMessage::Issues {
                node: node.to_owned(),
                issues: chunk.to_vec(),
            };
            if self.outbox.try_send(message).is_err() {
                tracing::warn!("the bus outbox is full; an issue announcement was dropped");
            }
        }
    }

    /// Announces fired alerts without waiting (as [`Bus::announce_batch`]).
    pub fn announce_alerts(&self, node: &str, alerts: Vec<(i64, i64)>) {
        for chunk in alerts.chunks(PARTS_PER_MESSAGE * 4) {
            let message = BusMessage::Alerts {
                node: node.to_owned(),
                alerts: chunk.to_vec(),
            };
            if self.outbox.try_send(message).is_err() {
                tracing::warn!("the bus outbox is full; an alert announcement was dropped");
            }
        }
    }

    fn deliver(&self, message: BusMessage) {
        // No local subscriber is not an error.
        let _ = self.local.send(message);
    }
}

/// What the writer uses to announce its commits: to this node's live streams and on the bus.
#[derive(Clone)]
pub struct BatchAnnouncer {
    bus: Arc<Bus>,
    live: Arc<LiveHub>,
    node: String,
}

impl BatchAnnouncer {
    /// Announces to `live` and on `bus` as node `node`.
    pub fn new(bus: Arc<Bus>, live: Arc<LiveHub>, node: String) -> Self {
        BatchAnnouncer { bus, live, node }
    }

    /// Announces the stored events of a committed batch, per project, and the issues it
    /// created, regressed or escalated.
    pub fn announce(&self, events: &Arc<Vec<NewEvent>>, outcomes: &[WriteOutcome]) {
        self.live.committed(events, outcomes);
        let mut parts: Vec<BatchPart> = Vec::new();
        let mut issues: Vec<IssueEvent> = Vec::new();
        for (event, outcome) in events.iter().zip(outcomes) {
            // An event over its issue's cap can change the issue too (RETAIN-04).
            let (issue_id, change, row) = match *outcome {
                WriteOutcome::Stored {
                    issue_id,
                    change,
                    row,
                } => (issue_id, change, Some(row)),
                WriteOutcome::Capped { issue_id, change } => (issue_id, change, None),
                WriteOutcome::Duplicate | WriteOutcome::Discarded { .. } => continue,
            };
            if let Some(change) = change {
                issues.push(IssueEvent {
                    project_id: event.project_id,
                    issue_id,
                    change: match change {
                        IssueChange::Created => "created",
                        IssueChange::Regressed => "regressed",
                        IssueChange::Escalated => "escalated",
                    }
                    .into(),
                });
            }
            let Some(row) = row else { continue };
            let at = mesher_store::to_millis(event.received_at);
            match parts.iter_mut().find(|p| p.project_id == event.project_id) {
                Some(p) => {
                    p.stored += 1;
                    p.from_ms = p.from_ms.min(at);
                    p.to_ms = p.to_ms.max(at);
                    p.first_row = p.first_row.min(row);
                    p.last_row = p.last_row.max(row);
                }
                None => parts.push(BatchPart {
                    project_id: event.project_id,
                    stored: 1,
                    from_ms: at,
                    to_ms: at,
                    first_row: row,
                    last_row: row,
                }),
            }
        }
        self.bus.announce_batch(&self.node, parts);
        if !issues.is_empty() {
            self.bus.announce_issues(&self.node, issues);
        }
    }
}

/// The bus service: listens (reconnecting with backoff) and sends the outbox in order.
pub struct BusService {
    cluster: Arc<Cluster>,
    bus: Arc<Bus>,
    cache: Arc<ProjectCache>,
}

impl BusService {
    /// The bus of `cluster`'s node; configuration messages drop `cache`'s entries.
    pub fn new(cluster: Arc<Cluster>, bus: Arc<Bus>, cache: Arc<ProjectCache>) -> Self {
        BusService {
            cluster,
            bus,
            cache,
        }
    }

    fn receive(&self, payload: &str) {
        let Some(message) = parse(payload) else {
            tracing::debug!(payload, "an unknown bus message; ignored");
            return;
        };
        if let BusMessage::Config { .. } = message {
            self.cache.invalidate();
        }
        self.bus.deliver(message);
    }

    async fn send(&self, message: BusMessage) {
        let store = self.cluster.store();
        if store.backend() != "postgres" {
            self.receive(&encode(&message));
            return;
        }
        let payload = encode(&message);
        if payload.len() > MAX_MESSAGE_BYTES {
            tracing::warn!(bytes = payload.len(), "a bus message is too large; dropped");
            return;
        }
        if let Err(e) = store.publish(&payload).await {
            tracing::warn!(error = %e, "cannot publish on the bus; message dropped");
        }
    }
}

impl Service for BusService {
    fn name(&self) -> &'static str {
        "cluster-bus"
    }

    fn run(self: Arc<Self>, ctx: ServiceContext) -> BoxFuture<'static, anyhow::Result<()>> {
        Box::pin(async move {
            let mut outbox = self.bus.outbox_rx.lock().await;
            self.serve(&ctx, &mut outbox).await
        })
    }
}

impl BusService {
    async fn serve(
        &self,
        ctx: &ServiceContext,
        outbox: &mut mpsc::Receiver<BusMessage>,
    ) -> anyhow::Result<()> {
        let mut backoff = Duration::from_millis(100);
        let mut first = true;
        loop {
            let Some(subscribed) = ctx.wait(self.cluster.store().subscribe()).await else {
                return Ok(());
            };
            let mut subscription = match subscribed {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(error = %e, ?backoff, "cannot listen to the cluster bus; retrying");
                    if !ctx.sleep(backoff).await {
                        return Ok(());
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                    continue;
                }
            };
            if !first {
                tracing::info!("cluster bus connected again; re-synchronising");
                self.cache.invalidate();
                self.bus.deliver(BusMessage::Resync);
            }
            first = false;
            backoff = Duration::from_millis(100);
            loop {
                let next = ctx
                    .wait(async {
                        tokio::select! {
                            m = outbox.recv() => Event::Outbox(m),
                            p = async {
                                match subscription.as_mut() {
                                    Some(s) => s.recv().await,
                                    None => std::future::pending().await,
                                }
                            } => Event::Bus(p),
                        }
                    })
                    .await;
                match next {
                    None | Some(Event::Outbox(None)) => return Ok(()),
                    Some(Event::Outbox(Some(m))) => self.send(m).await,
                    Some(Event::Bus(Some(p))) => self.receive(&p),
                    Some(Event::Bus(None)) => {
                        tracing::warn!("cluster bus connection lost; reconnecting");
                        break;
                    }
                }
            }
        }
    }
}

/// What woke the bus service.
enum Event {
    Outbox(Option<BusMessage>),
    Bus(Option<String>),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_and_unknown_ones_are_ignored() {
        let m = BusMessage::Batch {
            node: "a".into(),
            projects: vec![BatchPart {
                project_id: 3,
                stored: 10,
                from_ms: 1,
                to_ms: 2,
                first_row: 5,
                last_row: 14,
            }],
        };
        assert_eq!(parse(&encode(&m)), Some(m));
        assert_eq!(
            parse(r#"{"v":1,"type":"config","epoch":7}"#),
            Some(BusMessage::Config { epoch: 7 })
        );
        assert_eq!(parse(r#"{"v":2,"type":"config","epoch":7}"#), None);
        assert_eq!(parse(r#"{"v":1,"type":"teleport"}"#), None);
        assert_eq!(parse("not json"), None);
        // The largest announcement fits PostgreSQL's payload limit.
        let parts = vec![
            BatchPart {
                project_id: i64::MAX,
                stored: u64::MAX,
                from_ms: i64::MIN,
                to_ms: i64::MIN,
                first_row: i64::MIN,
                last_row: i64::MIN,
            };
            PARTS_PER_MESSAGE
        ];
        let big = BusMessage::Batch {
            node: "n".repeat(200),
            projects: parts,
        };
        assert!(
            encode(&big).len() < MAX_MESSAGE_BYTES,
            "{}",
            encode(&big).len()
        );
        let issues = BusMessage::Issues {
            node: "n".repeat(200),
            issues: vec![
                IssueEvent {
                    project_id: i64::MIN,
                    issue_id: i64::MIN,
                    change: "resolved_in_next_release".into(),
                };
                PARTS_PER_MESSAGE
            ],
        };
        assert!(
            encode(&issues).len() < MAX_MESSAGE_BYTES,
            "{}",
            encode(&issues).len()
        );
        assert_eq!(parse(&encode(&issues)), Some(issues));
    }
}
