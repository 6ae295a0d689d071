//! The live hub's service: fans committed events out to matching streams, reads peers' batches
//! and issue changes from the cluster bus, and sends counts.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::Utf8Bytes;
use futures_util::future::BoxFuture;
use mesher_store::{Store, WriteOutcome};
use time::OffsetDateTime;
use tokio::sync::broadcast;

use super::message::{self, IssueView, Summary};
use super::{Committed, LiveHub, Stream};
use crate::cluster::{BatchPart, Bus, BusMessage, IssueEvent};
use crate::services::{Service, ServiceContext};

/// How often counts are refreshed (only for projects with streams and something new).
const COUNTS_EVERY: Duration = Duration::from_secs(1);
/// Rows of a peer's batch read at most at once; a larger range is cut and its streams told.
const PEER_ROWS: usize = 10_000;
/// Rows remembered per project to drop an event seen twice (a peer's row range can hold this
/// node's events, or another peer's batch not yet announced).
const SEEN_ROWS: usize = 65_536;

/// The supervised service of a [`LiveHub`].
pub struct LiveService {
    hub: Arc<LiveHub>,
    store: Arc<dyn Store>,
    bus: Arc<Bus>,
    node: String,
}

impl LiveService {
    /// The service of `hub`, reading peers' events from `store` as announced on `bus`.
    pub fn new(hub: Arc<LiveHub>, store: Arc<dyn Store>, bus: Arc<Bus>, node: String) -> Self {
        LiveService {
            hub,
            store,
            bus,
            node,
        }
    }
}

impl Service for LiveService {
    fn name(&self) -> &'static str {
        "live-hub"
    }

    fn run(self: Arc<Self>, ctx: ServiceContext) -> BoxFuture<'static, anyhow::Result<()>> {
        Box::pin(async move {
            let mut input = self.hub.input_rx.lock().await;
            let mut bus = self.bus.subscribe();
            let mut state = State::new(self.store.backend() == "postgres");
            let mut tick = tokio::time::interval(COUNTS_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                let next = ctx
                    .wait(async {
                        tokio::select! {
                            c = input.recv() => Wake::Committed(c),
                            m = bus.recv() => Wake::Bus(m),
                            _ = tick.tick() => Wake::Tick,
                        }
                    })
                    .await;
                match next {
                    None | Some(Wake::Committed(None)) => return Ok(()),
                    Some(Wake::Committed(Some(batch))) => self.local(&mut state, batch),
                    Some(Wake::Bus(Ok(m))) => self.bus_message(&mut state, m).await,
                    Some(Wake::Bus(Err(broadcast::error::RecvError::Lagged(n)))) => {
                        tracing::warn!(
                            missed = n,
                            "the live hub fell behind the bus; streams told they lagged"
                        );
                        for p in self.hub.watched_projects() {
                            for s in self.hub.streams_of(p) {
                                s.outbox.lost(n);
                            }
                        }
                    }
                    Some(Wake::Bus(Err(broadcast::error::RecvError::Closed))) => {
                        ctx.idle_until_stopped().await;
                        return Ok(());
                    }
                    Some(Wake::Tick) => self.counts(&mut state).await,
                }
                self.hub.report_lost();
            }
        })
    }
}

enum Wake {
    Committed(Option<Committed>),
    Bus(Result<BusMessage, broadcast::error::RecvError>),
    Tick,
}

/// What the service remembers between messages.
struct State {
    /// Rows already sent, per project (PostgreSQL only: on SQLite the node is alone).
    seen: Option<HashMap<i64, Seen>>,
    /// Projects with news since their last counts, and the last minute's count last sent.
    dirty: HashSet<i64>,
    last_minute_sent: HashMap<i64, u64>,
}

impl State {
    fn new(peers_possible: bool) -> State {
        State {
            seen: peers_possible.then(HashMap::new),
            dirty: HashSet::new(),
            last_minute_sent: HashMap::new(),
        }
    }

    /// Whether `row` of `project` is new (and remembers it).
    fn first_time(&mut self, project: i64, row: i64) -> bool {
        match &mut self.seen {
            None => true,
            Some(seen) => seen.entry(project).or_default().insert(row),
        }
    }
}

/// A bounded set of rows, forgetting the oldest first.
#[derive(Default)]
struct Seen {
    order: VecDeque<i64>,
    rows: HashSet<i64>,
}

impl Seen {
    fn insert(&mut self, row: i64) -> bool {
        if !self.rows.insert(row) {
            return false;
        }
        self.order.push_back(row);
        if self.order.len() > SEEN_ROWS
            && let Some(old) = self.order.pop_front()
        {
            self.rows.remove(&old);
        }
        true
    }
}

/// The streams of a project with their filters, taken once per batch. Events are queued
/// quietly; each stream that got any is woken once when the audience is dropped.
struct Audience(Vec<(Arc<Stream>, Arc<super::Filters>, bool)>);

impl Audience {
    fn of(hub: &LiveHub, project: i64) -> Audience {
        Audience(
            hub.streams_of(project)
                .into_iter()
                .map(|s| {
                    let f = s.filters();
                    (s, f, false)
                })
                .collect(),
        )
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Queues `e` for every stream whose filters match, serializing it at most once.
    fn event(&mut self, e: &Summary, committed_at: OffsetDateTime) {
        let mut frame: Option<Utf8Bytes> = None;
        for (stream, filters, queued) in &mut self.0 {
            if filters.is_everything() || filters.matches_event(e) {
                let f = frame.get_or_insert_with(|| message::event(e, committed_at));
                stream.outbox.push_quietly(f.clone());
                *queued = true;
            }
        }
    }

    /// Tells every stream it lost `n` messages.
    fn lost(&self, n: u64) {
        for (s, _, _) in &self.0 {
            s.outbox.lost(n);
        }
    }
}

impl Drop for Audience {
    fn drop(&mut self) {
        for (stream, _, queued) in &self.0 {
            if *queued {
                stream.outbox.wake();
            }
        }
    }
}

impl LiveService {
    /// A batch this node committed: its events in commit order, to the matching streams.
    fn local(&self, state: &mut State, batch: Committed) {
        let mut audiences: HashMap<i64, Audience> = HashMap::new();
        for (e, o) in batch.events.iter().zip(&batch.outcomes) {
            let WriteOutcome::Stored { issue_id, row, .. } = *o else {
                continue;
            };
            let audience = audiences
                .entry(e.project_id)
                .or_insert_with(|| Audience::of(&self.hub, e.project_id));
            state.dirty.insert(e.project_id);
            if audience.is_empty() || !state.first_time(e.project_id, row) {
                continue;
            }
            audience.event(&Summary::committed_here(e, issue_id, row), batch.at);
        }
    }

    async fn bus_message(&self, state: &mut State, message: BusMessage) {
        match message {
            BusMessage::Batch { node, projects } if node != self.node => {
                let at = mesher_store::now();
                let counts: Vec<(i64, u64)> =
                    projects.iter().map(|p| (p.project_id, p.stored)).collect();
                self.hub.count(&counts, at);
                for part in projects {
                    self.peer_batch(state, part).await;
                }
            }
            BusMessage::Issues { issues, .. } => {
                for change in issues {
                    self.issue_change(state, change).await;
                }
            }
            BusMessage::Alerts { alerts, .. } => {
                for (project_id, alert_id) in alerts {
                    self.alert(project_id, alert_id).await;
                }
            }
            _ => {}
        }
    }

    /// A peer's committed batch: read once, only when this node has streams of the project.
    async fn peer_batch(&self, state: &mut State, part: BatchPart) {
        let mut audience = Audience::of(&self.hub, part.project_id);
        state.dirty.insert(part.project_id);
        if audience.is_empty() || part.last_row < part.first_row || part.last_row == 0 {
            return;
        }
        let events = match self
            .store
            .committed_events(part.project_id, part.first_row, part.last_row, PEER_ROWS)
            .await
        {
            Ok(events) => events,
            Err(e) => {
                tracing::warn!(error = %e, project = part.project_id, "cannot read a peer's batch for live streams");
                audience.lost(part.stored);
                return;
            }
        };
        let at = mesher_store::now();
        if events.len() == PEER_ROWS {
            audience.lost(part.stored.saturating_sub(events.len() as u64));
        }
        for e in events {
            if state.first_time(part.project_id, e.row) {
                audience.event(&Summary::from(e), at);
            }
        }
    }

    async fn issue_change(&self, state: &mut State, change: IssueEvent) {
        state.dirty.insert(change.project_id);
        let audience = Audience::of(&self.hub, change.project_id);
        if audience.is_empty() {
            return;
        }
        let issue = match self.store.issue(change.issue_id).await {
            Ok(Some(issue)) => issue,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(error = %e, issue = change.issue_id, "cannot read an issue for live streams");
                return;
            }
        };
        let view = IssueView::from(&issue);
        let mut frame: Option<Utf8Bytes> = None;
        for (stream, filters, _) in &audience.0 {
            if filters.matches_issue(&view) {
                let f = frame.get_or_insert_with(|| message::issue(&change.change, &issue));
                stream.outbox.push(f.clone());
            }
        }
    }

    /// A fired alert: to every stream of its project, whatever their filters (alerts are few,
    /// and a rule's own filters chose them).
    async fn alert(&self, project_id: i64, alert_id: i64) {
        let streams = self.hub.streams_of(project_id);
        if streams.is_empty() {
            return;
        }
        let alert = match self.store.alert(alert_id).await {
            Ok(Some(alert)) => alert,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(error = %e, alert = alert_id, "cannot read an alert for live streams");
                return;
            }
        };
        let frame = message::alert(&alert);
        for s in streams {
            s.outbox.push(frame.clone());
        }
    }

    /// Counts for projects with streams whose figures may have moved.
    async fn counts(&self, state: &mut State) {
        let now = mesher_store::now();
        self.hub.prune_minutes(now);
        let watched = self.hub.watched_projects();
        let watched_set: HashSet<i64> = watched.iter().copied().collect();
        state
            .last_minute_sent
            .retain(|p, _| watched_set.contains(p));
        state.dirty.retain(|p| watched_set.contains(p));
        for project in watched {
            let minute = self.hub.events_last_minute(project, now);
            let moved = state.last_minute_sent.get(&project) != Some(&minute);
            if !state.dirty.remove(&project) && !moved {
                continue;
            }
            let health = match self.store.health(project, now).await {
                Ok(h) => h,
                Err(e) => {
                    tracing::warn!(error = %e, project, "cannot read counts for live streams");
                    continue;
                }
            };
            state.last_minute_sent.insert(project, minute);
            let frame = message::counts(&health, minute);
            for s in self.hub.streams_of(project) {
                s.outbox.push(frame.clone());
            }
        }
    }
}
