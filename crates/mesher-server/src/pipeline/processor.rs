//! The processor service: turns normalized events into the rows the writer stores — source
//! maps applied to JavaScript frames (issue 18), fingerprint (grouping), then scrubbing
//! (issue 11), then title, culprit, tags, search text and the compressed payload.
//!
//! One worker per core pulls from the shared queue, taking whatever is queued (up to
//! [`MAX_TAKE`] submissions) per wake. The work is CPU-bound but short for a typical event
//! (about 100 µs), shorter than a round trip through the blocking pool, so small submissions are
//! prepared on the worker itself and only large ones (over [`INLINE_BYTES`]) go to the blocking
//! pool. A panic while preparing one submission answers that submission with an error and
//! touches nothing else.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use mesher_protocol::{grouping, scrub};
use mesher_store::{NewEvent, compress_payload};
use tokio::sync::mpsc;

use super::sourcemaps::SourceMaps;
use super::{Incoming, Permits, PipelineError, Reply, Submission};
use crate::faults::Faults;
use crate::services::{Service, ServiceContext};

/// Longest search text indexed per event; the payload keeps everything.
const MAX_SEARCH_TEXT: usize = 4096;

/// Submissions smaller than this (event JSON as received) are prepared on the worker itself;
/// larger ones on the blocking pool, so that a megabyte event does not hold up a runtime thread.
const INLINE_BYTES: usize = 64 * 1024;

/// Most submissions a worker takes from the queue per wake.
const MAX_TAKE: usize = 16;

/// A submission ready for the writer.
pub struct Prepared {
    /// The rows to write.
    pub events: Vec<NewEvent>,
    /// Where the result goes.
    pub reply: Reply,
    /// Queue capacity, returned when answered.
    pub permits: Permits,
}

/// The processor service.
pub struct Processor {
    /// Every worker takes from the same queue (a multi-consumer channel: no lock is held
    /// while waiting).
    rx: async_channel::Receiver<Submission>,
    writer: mpsc::Sender<Prepared>,
    workers: usize,
    faults: Faults,
    source_maps: Arc<SourceMaps>,
}

impl Processor {
    /// A processor reading `rx` and feeding `writer` with `workers` parallel workers, mapping
    /// JavaScript frames with `source_maps`.
    pub fn new(
        rx: async_channel::Receiver<Submission>,
        writer: mpsc::Sender<Prepared>,
        workers: usize,
        faults: Faults,
        source_maps: Arc<SourceMaps>,
    ) -> Self {
        Processor {
            rx,
            writer,
            workers: workers.max(1),
            faults,
            source_maps,
        }
    }

    async fn worker(self: Arc<Self>, ctx: ServiceContext) -> anyhow::Result<()> {
        let mut taken = Vec::with_capacity(MAX_TAKE);
        loop {
            let first = match ctx.wait(self.rx.recv()).await {
                Some(Ok(m)) => m,
                // The queue closed (shutdown): nothing more will come.
                Some(Err(_)) => {
                    ctx.idle_until_stopped().await;
                    return Ok(());
                }
                // Told to stop: finish what is queued, then return.
                None => match self.rx.try_recv() {
                    Ok(m) => m,
                    Err(_) => return Ok(()),
                },
            };
            // Whatever else is queued comes along: one wake for several submissions.
            let mut bytes = first.bytes;
            taken.push(first);
            while taken.len() < MAX_TAKE && bytes < INLINE_BYTES {
                let Ok(next) = self.rx.try_recv() else { break };
                bytes += next.bytes;
                taken.push(next);
            }
            for submission in taken.drain(..) {
                self.process(submission, &ctx).await;
            }
        }
    }

    async fn process(&self, submission: Submission, ctx: &ServiceContext) {
        let Submission {
            mut events,
            reply,
            permits,
            bytes,
        } = submission;
        self.faults.hit("processor").await;
        for incoming in &mut events {
            // A map that trips the parser up must not cost the event: its frames stay as sent.
            let mapped = AssertUnwindSafe(
                self.source_maps
                    .apply(incoming.project_id, &mut incoming.event),
            )
            .catch_unwind()
            .await;
            if let Err(p) = mapped {
                tracing::error!(error = %panic_message(p.as_ref()), "applying source maps panicked");
            }
        }
        let prepared = if bytes < INLINE_BYTES {
            // A typical event takes about as long to prepare as a round trip through the
            // blocking pool (hand-off, wake-up, wake-up back), so small submissions are
            // prepared right here.
            std::panic::catch_unwind(AssertUnwindSafe(|| prepare_all(events)))
                .map_err(|p| panic_message(p.as_ref()))
        } else {
            tokio::task::spawn_blocking(move || prepare_all(events))
                .await
                .map_err(|e| e.to_string())
        };
        let events = match prepared {
            Ok(Ok(events)) => events,
            Ok(Err(e)) => {
                tracing::error!(error = %e, "cannot prepare events");
                let _ = reply.send(Err(PipelineError::Internal));
                return;
            }
            Err(e) => {
                tracing::error!(error = %e, "preparing events panicked");
                let _ = reply.send(Err(PipelineError::Internal));
                return;
            }
        };
        // Wait for room at the writer, beating meanwhile: a slow database is not a hang.
        let permit = ctx.busy(self.writer.reserve()).await;
        match permit {
            Ok(permit) => permit.send(Prepared {
                events,
                reply,
                permits,
            }),
            Err(_) => {
                let _ = reply.send(Err(PipelineError::ShuttingDown));
            }
        }
    }
}

fn prepare_all(events: Vec<Incoming>) -> Result<Vec<NewEvent>, String> {
    events.into_iter().map(prepare).collect()
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic".to_string())
}

impl Service for Processor {
    fn name(&self) -> &'static str {
        "processor"
    }

    fn run(self: Arc<Self>, ctx: ServiceContext) -> BoxFuture<'static, anyhow::Result<()>> {
        Box::pin(async move {
            let workers = (0..self.workers).map(|_| self.clone().worker(ctx.clone()));
            futures_util::future::try_join_all(workers).await?;
            Ok(())
        })
    }
}

/// The event's tags plus the fields Sentry also shows and filters as tags (the event's own tags
/// win on a clash).
fn stored_tags(event: &mesher_protocol::Event) -> Vec<(String, String)> {
    let mut tags = event.tags.clone();
    let derived = [
        ("level", Some(event.level.as_str())),
        ("environment", event.environment.as_deref()),
        ("release", event.release.as_deref()),
        ("server_name", event.server_name.as_deref()),
        ("transaction", event.transaction.as_deref()),
        ("logger", event.logger.as_deref()),
    ];
    for (key, value) in derived {
        if let Some(value) = value
            && !tags.iter().any(|(k, _)| k == key)
        {
            tags.push((key.to_string(), value.to_string()));
        }
    }
    tags
}

/// Who an event's user is, for counting distinct users: the first non-empty of id, username,
/// e-mail and IP address, in Sentry's priority order (its `eventuser.py` key order; issue 12,
/// row 8), as `id:…`, `username:…`, `email:…` or `ip:…` (Sentry's tag keys). The prefixes
/// are hashed into the persisted user sets, so changing them would count every user again.
fn user_key(user: &mesher_protocol::event::User) -> Option<String> {
    [
        ("id", &user.id),
        ("username", &user.username),
        ("email", &user.email),
        ("ip", &user.ip_address),
    ]
    .into_iter()
    .find_map(|(key, value)| {
        value
            .as_deref()
            .filter(|v| !v.is_empty())
            .map(|v| format!("{key}:{v}"))
    })
}

/// The stored form of one event.
pub fn prepare(incoming: Incoming) -> Result<NewEvent, String> {
    let Incoming {
        project_id,
        mut event,
        scrub,
    } = incoming;
    // Grouping sees the event as sent, so scrubbing never moves an event to another issue.
    let fingerprint = grouping::fingerprint(&event);
    // Everything stored or derived for display comes from the scrubbed event.
    scrub::scrub_event(&mut event, &scrub);
    let (payload, payload_size) = stored_payload(&event)?;
    let mut search_text = event.search_text();
    if search_text.len() > MAX_SEARCH_TEXT {
        let mut cut = MAX_SEARCH_TEXT;
        while !search_text.is_char_boundary(cut) {
            cut -= 1;
        }
        search_text.truncate(cut);
    }
    let user_key = event.user.as_ref().and_then(user_key);
    // Kept on the issue this event creates: "why grouped here", even after the rules change.
    // The explanation quotes contributing values of the unscrubbed event (messages are
    // parameterized, so numbers rarely survive; a client fingerprint may hold anything).
    let grouping = scrub::scrub_card_numbers_in_json(fingerprint.explanation_json(), &scrub);
    Ok(NewEvent {
        project_id,
        event_id: event.event_id,
        fingerprint: fingerprint.hash,
        timestamp: event.timestamp.as_datetime(),
        received_at: event.received.as_datetime(),
        level: event.level,
        title: event.title(),
        culprit: event.culprit(),
        environment: event.environment.clone(),
        release: event.release.clone(),
        search_text,
        tags: stored_tags(&event),
        user_key,
        grouping,
        payload_size,
        payload,
    })
}

/// Largest serialization buffer a thread keeps between events; a larger one (a rare huge
/// event) is freed after use.
const KEPT_BUFFER: usize = 256 * 1024;

thread_local! {
    /// The event's JSON exists only until it is compressed: one buffer per thread, reused,
    /// spares every event an allocation and the copies of a growing vector.
    static JSON_BUFFER: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The compressed JSON of an event and the size of the JSON.
fn stored_payload(event: &mesher_protocol::Event) -> Result<(Vec<u8>, u32), String> {
    JSON_BUFFER.with(|cell| {
        let mut json = cell.borrow_mut();
        json.clear();
        let written = serde_json::to_writer(&mut *json, event)
            .map_err(|e| format!("cannot serialize an event: {e}"));
        let out = written.map(|()| {
            (
                compress_payload(&json),
                u32::try_from(json.len()).unwrap_or(u32::MAX),
            )
        });
        if json.capacity() > KEPT_BUFFER {
            *json = Vec::new();
        }
        out
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use mesher_protocol::scrub::ScrubConfig;
    use mesher_protocol::{EventId, NormalizeContext, Timestamp, normalize_event};
    use mesher_store::decompress_payload;
    use serde_json::json;

    use super::*;

    const CARD: &str = "4111 1111 1111 1111";

    fn prepared(payload: &serde_json::Value, scrub: ScrubConfig) -> NewEvent {
        let ctx = NormalizeContext::new(
            Timestamp::from_datetime(time::OffsetDateTime::now_utc()),
            EventId::from_bytes([3; 16]),
        );
        let event = normalize_event(payload.to_string().as_bytes(), &ctx).unwrap();
        prepare(Incoming {
            project_id: 1,
            event,
            scrub: Arc::new(scrub),
        })
        .unwrap()
    }

    /// Issue 11: the message groups the event and holds the card number; scrubbing must not
    /// move it to another issue, and nothing derived for storage may keep the number.
    #[test]
    fn issue_11_scrubbing_follows_grouping_and_reaches_every_stored_column() {
        let payload = json!({
            "message": format!("payment with {CARD} failed"),
            "fingerprint": ["{{ default }}", format!("card {CARD}")],
            "user": {"ip_address": "203.0.113.9"},
            "extra": {"password": "hunter2"}
        });
        let kept = prepared(&payload, ScrubConfig::disabled());
        let scrubbed = prepared(&payload, ScrubConfig::new(true, true, &[], &[]));
        assert_eq!(scrubbed.fingerprint, kept.fingerprint);
        assert!(kept.title.contains(CARD));
        assert_eq!(scrubbed.title, "payment with [Filtered] failed");
        assert!(!scrubbed.search_text.contains(CARD));
        assert!(
            kept.grouping.contains(CARD),
            "the client fingerprint is quoted"
        );
        assert!(!scrubbed.grouping.contains(CARD), "{}", scrubbed.grouping);
        assert_eq!(kept.user_key.as_deref(), Some("ip:203.0.113.9"));
        assert_eq!(scrubbed.user_key, None, "the IP was the only user key");
        let stored = String::from_utf8(decompress_payload(&scrubbed.payload).unwrap()).unwrap();
        assert!(
            !stored.contains(CARD) && !stored.contains("hunter2"),
            "{stored}"
        );
        // The IP, the message, the client fingerprint entry and the password.
        assert!(stored.contains(r#""_meta":{"scrubbed":4"#), "{stored}");
    }

    /// Issue 12, row 8: the user is keyed in Sentry's order (id, username, e-mail, IP), so an
    /// event with both a username and an e-mail is the username's; empty values are skipped as
    /// Sentry skips them; the key prefixes are the ones the persisted user sets were hashed with.
    #[test]
    fn the_user_is_keyed_in_sentrys_order() {
        let key = |user: serde_json::Value| {
            prepared(
                &json!({"message": "m", "user": user}),
                ScrubConfig::disabled(),
            )
            .user_key
        };
        let all = json!({"id": "7", "username": "ann", "email": "a@example.com", "ip_address": "203.0.113.9"});
        assert_eq!(key(all).as_deref(), Some("id:7"));
        let named =
            json!({"username": "ann", "email": "a@example.com", "ip_address": "203.0.113.9"});
        assert_eq!(key(named).as_deref(), Some("username:ann"));
        let mailed = json!({"email": "a@example.com", "ip_address": "203.0.113.9"});
        assert_eq!(key(mailed).as_deref(), Some("email:a@example.com"));
        let empty = json!({"id": "", "username": "", "email": "a@example.com"});
        assert_eq!(key(empty).as_deref(), Some("email:a@example.com"));
        assert_eq!(
            key(json!({"ip_address": "203.0.113.9"})).as_deref(),
            Some("ip:203.0.113.9")
        );
        assert_eq!(key(json!({"name": "Ann"})), None);
    }
}
