//! Prometheus metrics, served at `/metrics` in the text exposition format.
//!
//! Label values come from typed enums, the router's matched path or short lists of known names,
//! never from free text, so that the number of series stays bounded.

use std::fmt::Write as _;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

/// Labels of an HTTP request counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    /// HTTP method.
    pub method: String,
    /// The route pattern (`/api/{project_id}/envelope/`), or `unmatched`.
    pub route: String,
    /// Response status code.
    pub status: u16,
}

/// Why an event was not stored (outcome accounting: every dropped event is counted).
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub enum Outcome {
    /// Malformed: bad JSON, bad fields, bad framing.
    Invalid,
    /// Over a size limit.
    TooLarge,
    /// Missing, unknown, revoked or mismatched credentials.
    Auth,
    /// Over the project's rate limit.
    RateLimited,
    /// Dropped by the project's sample rate.
    Sampled,
    /// Its issue is discarded.
    Discarded,
    /// Counted in its issue but not stored: over the project's per-issue hourly cap
    /// (RETAIN-04).
    Capped,
    /// The pipeline queue was full.
    QueueFull,
    /// The database could not commit it (answered 503).
    Unavailable,
    /// An internal failure (answered 500).
    Internal,
}

impl Outcome {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Invalid => "invalid",
            Outcome::TooLarge => "too_large",
            Outcome::Auth => "auth",
            Outcome::RateLimited => "rate_limited",
            Outcome::Sampled => "sampled",
            Outcome::Discarded => "discarded",
            Outcome::Capped => "capped",
            Outcome::QueueFull => "queue_full",
            Outcome::Unavailable => "unavailable",
            Outcome::Internal => "internal",
        }
    }
}

impl EncodeLabelValue for Outcome {
    fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> Result<(), std::fmt::Error> {
        encoder.write_str(self.as_str())
    }
}

/// Labels of the outcome counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    /// Why the event was dropped.
    pub reason: Outcome,
}

/// Labels of the counter of what SDKs report they dropped (`client_report` items).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ClientOutcomeLabels {
    /// The SDK's reason (`queue_overflow`, `sample_rate`, …; `other` for unknown ones).
    pub reason: String,
    /// The data category (`error`, `transaction`, …; `other` for unknown ones).
    pub category: String,
}

/// Labels of the counter of envelope items by type.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ItemLabels {
    /// The item type (`attachment`, `session`, …; `unknown` for types Mesher does not know).
    pub item_type: String,
}

/// Labels of the counter of request body encodings.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EncodingLabels {
    /// `identity`, `gzip`, `deflate`, `br` or `zstd`.
    pub encoding: &'static str,
}

/// Labels of per-project gauges.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ProjectLabels {
    /// The project id.
    pub project: i64,
}

/// Labels of per-service counters.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ServiceLabels {
    /// The service name.
    pub service: &'static str,
}

/// Every metric of a node.
pub struct Metrics {
    registry: Registry,
    /// Requests answered, by method, route and status.
    pub http_requests: Family<HttpLabels, Counter>,
    /// Events that entered the pipeline.
    pub events_accepted: Counter,
    /// Events committed to the database.
    pub events_stored: Counter,
    /// Events not stored, by reason.
    pub outcomes: Family<OutcomeLabels, Counter>,
    /// Per-project outcome counts lost before reaching the database (the flusher's channel or
    /// map was full).
    pub outcomes_lost: Counter,
    /// Events SDKs report they dropped, from `client_report` items.
    pub client_outcomes: Family<ClientOutcomeLabels, Counter>,
    /// Ingest request bodies by `Content-Encoding`.
    pub request_encodings: Family<EncodingLabels, Counter>,
    /// Envelope items accepted but not stored (attachments, sessions, transactions, …).
    pub items_not_stored: Family<ItemLabels, Counter>,
    /// Events waiting in the pipeline.
    pub queue_events: Gauge,
    /// Events per committed write batch.
    pub batch_events: Histogram,
    /// Seconds per write batch transaction.
    pub batch_seconds: Histogram,
    /// Service restarts after a crash or a failed health check.
    pub service_restarts: Family<ServiceLabels, Counter>,
    /// Client connections open now.
    pub connections_open: Gauge,
    /// Connections closed to make room under `max_connections`.
    pub connections_evicted: Counter,
    /// Connections closed for being idle or slow too long.
    pub connections_timed_out: Counter,
    /// Connections turned away because every open one was busy.
    pub connections_refused: Counter,
    /// Ingest body bytes held in memory now (the `max_inflight_body_bytes` budget in use).
    pub inflight_body_bytes: Gauge,
    /// Nodes of the cluster that are up, as this node's load monitor last saw them.
    pub cluster_nodes: Gauge,
    /// Live streams open on this node.
    pub live_streams: Gauge,
    /// Events this node handed to peers for processing since it started.
    pub events_handed_off: Counter,
    /// Events this node took from peers since it started.
    pub events_taken_over: Counter,
    /// Bytes each project's stored events take in the database (RETAIN-03), as of the last
    /// retention round.
    pub storage_bytes: Family<ProjectLabels, Gauge>,
}

impl Metrics {
    /// Registers every metric.
    pub fn new(backend: &'static str) -> Self {
        let mut registry = Registry::with_prefix("mesher");
        registry.register(
            "build",
            "Mesher version and storage backend",
            Info::new(vec![
                ("version", env!("CARGO_PKG_VERSION")),
                ("backend", backend),
            ]),
        );
        let metrics = Metrics {
            http_requests: Family::default(),
            events_accepted: Counter::default(),
            events_stored: Counter::default(),
            outcomes: Family::default(),
            outcomes_lost: Counter::default(),
            client_outcomes: Family::default(),
            items_not_stored: Family::default(),
            request_encodings: Family::default(),
            queue_events: Gauge::default(),
            batch_events: Histogram::new(exponential_buckets(1.0, 2.0, 12)),
            batch_seconds: Histogram::new(exponential_buckets(0.0005, 2.0, 14)),
            service_restarts: Family::default(),
            connections_open: Gauge::default(),
            connections_evicted: Counter::default(),
            connections_timed_out: Counter::default(),
            connections_refused: Counter::default(),
            inflight_body_bytes: Gauge::default(),
            cluster_nodes: Gauge::default(),
            live_streams: Gauge::default(),
            events_handed_off: Counter::default(),
            events_taken_over: Counter::default(),
            storage_bytes: Family::default(),
            registry: Registry::default(),
        };
        registry.register(
            "http_requests",
            "HTTP requests answered",
            metrics.http_requests.clone(),
        );
        registry.register(
            "events_accepted",
            "Events that entered the pipeline",
            metrics.events_accepted.clone(),
        );
        registry.register(
            "events_stored",
            "Events committed to the database",
            metrics.events_stored.clone(),
        );
        registry.register(
            "outcomes",
            "Events not stored, by reason",
            metrics.outcomes.clone(),
        );
        registry.register(
            "outcomes_lost",
            "Per-project outcome counts lost before reaching the database",
            metrics.outcomes_lost.clone(),
        );
        registry.register(
            "client_outcomes",
            "Events SDKs report they dropped (client reports)",
            metrics.client_outcomes.clone(),
        );
        registry.register(
            "items_not_stored",
            "Envelope items accepted and counted but not stored",
            metrics.items_not_stored.clone(),
        );
        registry.register(
            "request_encodings",
            "Ingest request bodies by Content-Encoding",
            metrics.request_encodings.clone(),
        );
        registry.register(
            "connections_open",
            "Client connections open now",
            metrics.connections_open.clone(),
        );
        registry.register(
            "connections_evicted",
            "Idle connections closed to make room under max_connections",
            metrics.connections_evicted.clone(),
        );
        registry.register(
            "connections_timed_out",
            "Connections closed for being idle or slow too long",
            metrics.connections_timed_out.clone(),
        );
        registry.register(
            "connections_refused",
            "Connections turned away because every open one was busy",
            metrics.connections_refused.clone(),
        );
        registry.register(
            "inflight_body_bytes",
            "Ingest body bytes held in memory now",
            metrics.inflight_body_bytes.clone(),
        );
        registry.register(
            "cluster_nodes",
            "Nodes of the cluster that are up, as this node last saw them",
            metrics.cluster_nodes.clone(),
        );
        registry.register(
            "live_streams",
            "Live streams (WebSockets) open on this node",
            metrics.live_streams.clone(),
        );
        registry.register(
            "events_handed_off",
            "Events this node handed to peers for processing",
            metrics.events_handed_off.clone(),
        );
        registry.register(
            "events_taken_over",
            "Events this node took from peers",
            metrics.events_taken_over.clone(),
        );
        registry.register(
            "queue_events",
            "Events waiting in the pipeline",
            metrics.queue_events.clone(),
        );
        registry.register(
            "batch_events",
            "Events per write batch",
            metrics.batch_events.clone(),
        );
        registry.register(
            "batch_seconds",
            "Seconds per write batch",
            metrics.batch_seconds.clone(),
        );
        registry.register(
            "service_restarts",
            "Service restarts after a crash or a failed health check",
            metrics.service_restarts.clone(),
        );
        registry.register(
            "storage_bytes",
            "Bytes each project's stored events take in the database",
            metrics.storage_bytes.clone(),
        );
        Metrics {
            registry,
            ..metrics
        }
    }

    /// Sets the storage gauge of every project; projects gone since the last call disappear.
    pub fn set_storage(&self, figures: &[(i64, i64)]) {
        self.storage_bytes.clear();
        for (project, bytes) in figures {
            self.storage_bytes
                .get_or_create(&ProjectLabels { project: *project })
                .set(*bytes);
        }
    }

    /// Counts `n` events not stored for `reason`.
    pub fn outcome(&self, reason: Outcome, n: u64) {
        self.outcomes
            .get_or_create(&OutcomeLabels { reason })
            .inc_by(n);
    }

    /// The text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
