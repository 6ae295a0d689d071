//! The ingestion pipeline: HTTP handler → bounded queue → [`processor`] (fingerprint,
//! scrubbing, stored form) → [`writer`] (group commit) → acknowledgement.
//!
//! A handler submits the events of one request as a [`Submission`] and waits for its
//! acknowledgement, which the writer sends only after the transaction holding those events
//! committed: an event answered 2xx is in the database. The queue is bounded twice, by events
//! and by bytes (semaphore permits travel with the submission and return when it is answered),
//! so a slow database turns into 503s, never into unbounded memory.

mod counter;
pub mod processor;
pub mod sourcemaps;
pub mod writer;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use mesher_protocol::Event;
use mesher_protocol::scrub::ScrubConfig;
use mesher_store::WriteOutcome;
use thiserror::Error;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};

pub use counter::EventCounter;

use crate::metrics::Metrics;

/// How long a handler waits for its events to be committed before answering 503.
pub const ACK_TIMEOUT: Duration = Duration::from_secs(30);

/// One normalized event on its way to storage.
#[derive(Debug)]
pub struct Incoming {
    /// The project it was sent to.
    pub project_id: i64,
    /// The normalized event.
    pub event: Event,
    /// The project's scrubbing settings, applied by the processor after grouping (issue 11).
    /// Shared by the events of one request.
    pub scrub: Arc<ScrubConfig>,
}

/// What became of one event.
pub type EventResult = WriteOutcome;

/// Why a submission was not committed.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum PipelineError {
    /// The queue is full; retry shortly.
    #[error("the ingestion queue is full; retry later")]
    QueueFull,
    /// The node is shutting down.
    #[error("the server is shutting down; retry later")]
    ShuttingDown,
    /// The database could not commit; retry later.
    #[error("the database is unavailable; retry later")]
    Unavailable,
    /// The events were not committed for an internal reason (logged).
    #[error("the events could not be stored")]
    Internal,
}

/// A reply channel for one submission.
pub type Reply = oneshot::Sender<Result<Vec<EventResult>, PipelineError>>;

/// The events of one request, as queued for the processor.
pub struct Submission {
    /// The events.
    pub events: Vec<Incoming>,
    /// Where the result goes.
    pub reply: Reply,
    /// Queue capacity held until the submission is answered.
    pub permits: Permits,
    /// Size of the events as received (decides where the processor prepares them).
    pub bytes: usize,
}

/// Queue capacity (events and bytes) held by a submission; returned when dropped.
pub struct Permits {
    _events: OwnedSemaphorePermit,
    _bytes: OwnedSemaphorePermit,
    metrics: Arc<Metrics>,
    count: i64,
}

impl Drop for Permits {
    fn drop(&mut self) {
        self.metrics.queue_events.dec_by(self.count);
    }
}

/// The handle handlers submit through.
pub struct Pipeline {
    tx: async_channel::Sender<Submission>,
    events: Arc<Semaphore>,
    bytes: Arc<Semaphore>,
    max_bytes: usize,
    closed: AtomicBool,
    counter: Arc<EventCounter>,
    metrics: Arc<Metrics>,
}

impl Pipeline {
    /// A pipeline feeding `tx`, holding at most `max_events` events and `max_bytes` bytes.
    pub fn new(
        tx: async_channel::Sender<Submission>,
        max_events: usize,
        max_bytes: usize,
        metrics: Arc<Metrics>,
    ) -> Self {
        Pipeline {
            tx,
            events: Arc::new(Semaphore::new(max_events)),
            bytes: Arc::new(Semaphore::new(max_bytes)),
            max_bytes,
            closed: AtomicBool::new(false),
            counter: Arc::default(),
            metrics,
        }
    }

    /// The node's event counter (read and reset by the load monitor): events received at this
    /// node's edge, whether stored here or handed to a peer; ingest counts them, not `submit`.
    pub fn counter(&self) -> &Arc<EventCounter> {
        &self.counter
    }

    /// Whether `events` events of `bytes` bytes would fit in the queue now.
    pub fn has_room(&self, events: usize, bytes: usize) -> bool {
        self.events.available_permits() >= events
            && self.bytes.available_permits() >= bytes.min(self.max_bytes)
    }

    /// Refuses new submissions from now on (shutdown).
    pub fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
    }

    /// Queues events without waiting; the receiver yields their results after commit.
    /// `bytes` is their size (the queue's memory bound).
    pub fn submit(
        &self,
        events: Vec<Incoming>,
        bytes: usize,
    ) -> Result<oneshot::Receiver<Result<Vec<EventResult>, PipelineError>>, PipelineError> {
        if self.closed.load(Ordering::SeqCst) {
            return Err(PipelineError::ShuttingDown);
        }
        let n = u32::try_from(events.len()).map_err(|_| PipelineError::QueueFull)?;
        let b = u32::try_from(bytes.min(self.max_bytes)).map_err(|_| PipelineError::QueueFull)?;
        let events_permit = self
            .events
            .clone()
            .try_acquire_many_owned(n)
            .map_err(|_| PipelineError::QueueFull)?;
        let bytes_permit = self
            .bytes
            .clone()
            .try_acquire_many_owned(b)
            .map_err(|_| PipelineError::QueueFull)?;
        self.metrics.queue_events.inc_by(i64::from(n));
        let permits = Permits {
            _events: events_permit,
            _bytes: bytes_permit,
            metrics: self.metrics.clone(),
            count: i64::from(n),
        };
        let (reply, rx) = oneshot::channel();
        self.tx
            .try_send(Submission {
                events,
                reply,
                permits,
                bytes,
            })
            .map_err(|e| match e {
                async_channel::TrySendError::Full(_) => PipelineError::QueueFull,
                async_channel::TrySendError::Closed(_) => PipelineError::ShuttingDown,
            })?;
        self.metrics.events_accepted.inc_by(u64::from(n));
        Ok(rx)
    }

    /// Submits and waits for the commit.
    pub async fn process(
        &self,
        events: Vec<Incoming>,
        bytes: usize,
    ) -> Result<Vec<EventResult>, PipelineError> {
        let rx = self.submit(events, bytes)?;
        match tokio::time::timeout(ACK_TIMEOUT, rx).await {
            Ok(Ok(result)) => result,
            // The service holding the submission died without answering: nothing was
            // acknowledged, so the client may retry.
            Ok(Err(_)) => Err(PipelineError::Unavailable),
            Err(_) => {
                tracing::warn!("no commit within {ACK_TIMEOUT:?}; answering 503");
                Err(PipelineError::Unavailable)
            }
        }
    }
}
