//! The live stream (STREAM-01 … STREAM-05): WebSocket subscribers of a project receive its
//! committed events, issue changes and counts as they happen, filtered on the server.
//!
//! The [`LiveHub`] holds the node's open streams. The writer hands it each committed batch
//! ([`LiveHub::committed`], which never waits), and the supervised [`LiveService`] fans the
//! events out to the streams whose filters match, reads peers' batches announced on the
//! cluster bus (only for projects with streams here), turns issue changes into `issue`
//! messages and sends `counts` at most once a second. Each stream has a bounded
//! [`Outbox`]: a slow client loses its oldest messages and is told how many, and never holds
//! up the hub, ingestion or another client.

mod filter;
pub mod message;
mod minute;
mod outbox;
mod service;
mod settings;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use mesher_store::{NewEvent, WriteOutcome};
use prometheus_client::metrics::gauge::Gauge;
use time::OffsetDateTime;
use tokio::sync::mpsc;

pub use filter::{FilterSpec, Filters, Tags};
pub use minute::MinuteCounts;
pub use outbox::{Outbox, Taken};
pub use service::LiveService;
pub use settings::StreamSettings;

/// Committed batches waiting for the hub. Small: each holds its events' payloads until the hub
/// has read them, and the hub only falls behind when it is starved of CPU.
const INPUT_BATCHES: usize = 16;

/// A batch the writer committed.
pub(crate) struct Committed {
    events: Arc<Vec<NewEvent>>,
    outcomes: Vec<WriteOutcome>,
    at: OffsetDateTime,
}

/// One open stream.
pub struct Stream {
    id: u64,
    project_id: i64,
    user_id: i64,
    filters: Mutex<Arc<Filters>>,
    /// What the stream's connection sends next.
    pub outbox: Outbox,
}

impl Stream {
    /// The filters in force.
    pub fn filters(&self) -> Arc<Filters> {
        self.filters
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Replaces the filters (a `subscribe` message).
    pub fn set_filters(&self, filters: Filters) {
        *self.filters.lock().unwrap_or_else(|e| e.into_inner()) = Arc::new(filters);
    }

    /// The stream's project.
    pub fn project_id(&self) -> i64 {
        self.project_id
    }
}

/// Why a stream was not opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// The node has as many streams as it allows.
    #[error("this node has its maximum of {0} live streams; try again later or another node")]
    Node(usize),
    /// The user has as many streams as one user may have on a node.
    #[error("you have the maximum of {0} live streams on this node; close one first")]
    User(usize),
}

/// An open stream; dropping it closes the stream's registration.
pub struct StreamGuard {
    hub: Arc<LiveHub>,
    stream: Arc<Stream>,
}

impl StreamGuard {
    /// The stream.
    pub fn stream(&self) -> &Arc<Stream> {
        &self.stream
    }
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        self.hub.close(&self.stream);
    }
}

#[derive(Default)]
struct Registry {
    by_project: HashMap<i64, Vec<Arc<Stream>>>,
    per_user: HashMap<i64, usize>,
    total: usize,
}

/// The node's open streams and the queue of committed batches to fan out.
pub struct LiveHub {
    settings: StreamSettings,
    registry: Mutex<Registry>,
    /// Streams open (read without the lock by the writer's fast path).
    open: AtomicUsize,
    next_id: AtomicU64,
    input: mpsc::Sender<Committed>,
    /// The service's end; it outlives the service's runs (see `Bus`).
    input_rx: tokio::sync::Mutex<mpsc::Receiver<Committed>>,
    /// Events of a project the hub never got because its input was full.
    lost: Mutex<HashMap<i64, u64>>,
    minute: Mutex<MinuteCounts>,
    /// `mesher_live_streams`.
    gauge: Gauge,
}

impl LiveHub {
    /// A hub with these caps and queue length, keeping `gauge` at the number of open streams.
    pub fn new(settings: StreamSettings, gauge: Gauge) -> LiveHub {
        let (input, rx) = mpsc::channel(INPUT_BATCHES);
        LiveHub {
            settings,
            registry: Mutex::new(Registry::default()),
            open: AtomicUsize::new(0),
            next_id: AtomicU64::new(1),
            input,
            input_rx: tokio::sync::Mutex::new(rx),
            lost: Mutex::new(HashMap::new()),
            minute: Mutex::new(MinuteCounts::default()),
            gauge,
        }
    }

    /// The settings it runs with.
    pub fn settings(&self) -> &StreamSettings {
        &self.settings
    }

    fn registry(&self) -> std::sync::MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Opens a stream of `project_id` for `user_id`, within the node's and the user's caps.
    pub fn open(
        self: &Arc<Self>,
        project_id: i64,
        user_id: i64,
        filters: Filters,
    ) -> Result<StreamGuard, Refused> {
        let mut registry = self.registry();
        if registry.total >= self.settings.max_per_node {
            return Err(Refused::Node(self.settings.max_per_node));
        }
        let mine = registry.per_user.entry(user_id).or_default();
        if *mine >= self.settings.max_per_user {
            return Err(Refused::User(self.settings.max_per_user));
        }
        *mine += 1;
        registry.total += 1;
        let stream = Arc::new(Stream {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            project_id,
            user_id,
            filters: Mutex::new(Arc::new(filters)),
            outbox: Outbox::new(self.settings.queue_messages),
        });
        registry
            .by_project
            .entry(project_id)
            .or_default()
            .push(stream.clone());
        self.open.store(registry.total, Ordering::Relaxed);
        self.gauge
            .set(i64::try_from(registry.total).unwrap_or(i64::MAX));
        Ok(StreamGuard {
            hub: self.clone(),
            stream,
        })
    }

    fn close(&self, stream: &Stream) {
        let mut registry = self.registry();
        if let Some(list) = registry.by_project.get_mut(&stream.project_id) {
            list.retain(|s| s.id != stream.id);
            if list.is_empty() {
                registry.by_project.remove(&stream.project_id);
            }
        }
        if let Some(n) = registry.per_user.get_mut(&stream.user_id) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                registry.per_user.remove(&stream.user_id);
            }
        }
        registry.total = registry.total.saturating_sub(1);
        self.open.store(registry.total, Ordering::Relaxed);
        self.gauge
            .set(i64::try_from(registry.total).unwrap_or(i64::MAX));
    }

    /// Streams open on this node.
    pub fn open_streams(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    /// The streams of a project, as they are now.
    pub fn streams_of(&self, project_id: i64) -> Vec<Arc<Stream>> {
        self.registry()
            .by_project
            .get(&project_id)
            .cloned()
            .unwrap_or_default()
    }

    /// The projects with streams.
    pub(crate) fn watched_projects(&self) -> Vec<i64> {
        self.registry().by_project.keys().copied().collect()
    }

    /// Takes a committed batch from the writer. Never waits: when the hub is behind, the
    /// batch's events are counted as lost for their projects' streams.
    pub fn committed(&self, events: &Arc<Vec<NewEvent>>, outcomes: &[WriteOutcome]) {
        let at = mesher_store::now();
        let mut per_project: Vec<(i64, u64)> = Vec::new();
        for (e, o) in events.iter().zip(outcomes) {
            if !matches!(o, WriteOutcome::Stored { .. }) {
                continue;
            }
            match per_project.iter_mut().find(|(p, _)| *p == e.project_id) {
                Some((_, n)) => *n += 1,
                None => per_project.push((e.project_id, 1)),
            }
        }
        self.count(&per_project, at);
        if self.open.load(Ordering::Relaxed) == 0 {
            return;
        }
        let watched: Vec<(i64, u64)> = {
            let registry = self.registry();
            per_project
                .into_iter()
                .filter(|(p, _)| registry.by_project.contains_key(p))
                .collect()
        };
        if watched.is_empty() {
            return;
        }
        let batch = Committed {
            events: events.clone(),
            outcomes: outcomes.to_vec(),
            at,
        };
        if self.input.try_send(batch).is_err() {
            let mut lost = self.lost.lock().unwrap_or_else(|e| e.into_inner());
            for (p, n) in watched {
                *lost.entry(p).or_default() += n;
            }
        }
    }

    /// Counts stored events of projects for `events_last_minute`.
    pub(crate) fn count(&self, per_project: &[(i64, u64)], at: OffsetDateTime) {
        if per_project.is_empty() {
            return;
        }
        let mut minute = self.minute.lock().unwrap_or_else(|e| e.into_inner());
        for &(p, n) in per_project {
            minute.add(p, at, n);
        }
    }

    /// Events of a project stored in the minute before `at`, as this node heard of them.
    pub fn events_last_minute(&self, project_id: i64, at: OffsetDateTime) -> u64 {
        self.minute
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .count(project_id, at)
    }

    /// Tells streams about events the hub never got, and forgets them.
    fn report_lost(&self) {
        let lost = std::mem::take(&mut *self.lost.lock().unwrap_or_else(|e| e.into_inner()));
        for (project, n) in lost {
            for s in self.streams_of(project) {
                s.outbox.lost(n);
            }
        }
    }

    fn prune_minutes(&self, at: OffsetDateTime) {
        self.minute
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .prune(at);
    }
}

#[cfg(test)]
mod tests {
    use mesher_protocol::{EventId, Level};

    use super::*;

    fn event(project_id: i64, n: u8) -> NewEvent {
        NewEvent {
            project_id,
            event_id: EventId::from_bytes([n; 16]),
            fingerprint: "f".into(),
            timestamp: OffsetDateTime::UNIX_EPOCH,
            received_at: mesher_store::now(),
            level: Level::Error,
            title: "t".into(),
            culprit: None,
            environment: None,
            release: None,
            search_text: String::new(),
            tags: Vec::new(),
            user_key: None,
            grouping: String::new(),
            payload: Vec::new(),
            payload_size: 0,
        }
    }

    fn stored(row: i64) -> WriteOutcome {
        WriteOutcome::Stored {
            issue_id: 1,
            change: None,
            row,
        }
    }

    /// STREAM-05: the writer's hand-over never waits; when the hub is behind, the events it
    /// could not take reach their project's streams as `lagged`, and the last minute still
    /// counts them.
    #[test]
    fn a_hub_behind_turns_batches_into_lagged_counts() {
        let hub = Arc::new(LiveHub::new(StreamSettings::default(), Gauge::default()));
        let batch = Arc::new(vec![event(1, 1), event(1, 2), event(2, 3)]);
        let outcomes = [stored(1), stored(2), WriteOutcome::Duplicate];
        // No stream: nothing is queued for the hub.
        hub.committed(&batch, &outcomes);
        assert!(hub.input_rx.try_lock().unwrap().try_recv().is_err());

        let watching = hub.open(1, 7, Filters::default()).unwrap();
        let elsewhere = hub.open(2, 7, Filters::default()).unwrap();
        for _ in 0..INPUT_BATCHES + 3 {
            hub.committed(&batch, &outcomes);
        }
        hub.report_lost();
        assert_eq!(watching.stream().outbox.take().missed, 3 * 2);
        assert_eq!(
            elsewhere.stream().outbox.take().missed,
            0,
            "project 2 stored nothing"
        );
        let now = mesher_store::now();
        assert_eq!(
            hub.events_last_minute(1, now),
            2 * (INPUT_BATCHES as u64 + 4)
        );
        assert_eq!(hub.events_last_minute(2, now), 0);
    }

    /// Caps per user and per node; a closed stream frees its place.
    #[test]
    fn caps_hold_and_closing_frees_a_place() {
        let settings = StreamSettings {
            max_per_node: 3,
            max_per_user: 2,
            ..StreamSettings::default()
        };
        let hub = Arc::new(LiveHub::new(settings, Gauge::default()));
        let a = hub.open(1, 10, Filters::default()).unwrap();
        let _b = hub.open(1, 10, Filters::default()).unwrap();
        assert_eq!(
            hub.open(2, 10, Filters::default()).err(),
            Some(Refused::User(2))
        );
        let _c = hub.open(1, 11, Filters::default()).unwrap();
        assert_eq!(
            hub.open(1, 12, Filters::default()).err(),
            Some(Refused::Node(3))
        );
        assert_eq!(hub.open_streams(), 3);
        drop(a);
        assert_eq!(hub.open_streams(), 2);
        assert_eq!(hub.streams_of(1).len(), 2);
        hub.open(1, 10, Filters::default()).unwrap();
    }
}
