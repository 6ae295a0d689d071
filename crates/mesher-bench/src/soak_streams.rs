//! The soak's live subscribers: WebSocket streams of the project, open before the load and read
//! until its end, spread over the nodes, with the filters of [`fanout::mix`] (a few take every
//! event, the rest a filtered share), as the dashboard's Live page would hold them.
//!
//! Unlike a benchmark run's subscribers ([`crate::subscribers`]), they keep nothing per event:
//! over half an hour that would be millions of entries. They count what they receive, so the
//! soak can report it per minute, and note a stream that ends, which fails the soak. They run
//! on a thread of their own, so that reading never delays the load's connections.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Context;
use futures_util::StreamExt;
use serde::Deserialize;
use tokio::sync::{oneshot, watch};
use tokio_tungstenite::tungstenite::Message;

use crate::corpus::Template;
use crate::fanout::{self, Received};
use crate::load::Target;
use crate::subscribers::{Endpoint, Ws};

/// What the subscribers received so far, shared with the soak's sampler.
#[derive(Debug, Default)]
pub struct StreamCounts {
    events: AtomicU64,
    lagged: AtomicU64,
    closed: AtomicU64,
    first_close: Mutex<Option<String>>,
}

impl StreamCounts {
    /// `event` messages and `lagged` counts since the last call (the sampler's minute).
    pub fn take(&self) -> (u64, u64) {
        (
            self.events.swap(0, Ordering::Relaxed),
            self.lagged.swap(0, Ordering::Relaxed),
        )
    }

    fn note(&self, text: &str) {
        #[derive(Deserialize)]
        struct Kind<'a> {
            #[serde(rename = "type")]
            kind: &'a str,
            #[serde(default)]
            missed: Option<u64>,
        }
        match serde_json::from_str::<Kind<'_>>(text) {
            Ok(m) if m.kind == "event" => {
                self.events.fetch_add(1, Ordering::Relaxed);
            }
            Ok(m) if m.kind == "lagged" => {
                self.lagged
                    .fetch_add(m.missed.unwrap_or(0), Ordering::Relaxed);
            }
            Ok(_) => {}
            Err(e) => self.ended(format!("an unreadable message ({e}): {text}")),
        }
    }

    fn ended(&self, why: String) {
        self.closed.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut first) = self.first_close.lock() {
            first.get_or_insert(why);
        }
    }
}

/// How the subscribers ended.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StreamsOutcome {
    /// Subscribers opened.
    pub opened: usize,
    /// Those whose stream ended (or failed) before the soak did.
    pub closed: u64,
    /// Why the first of them ended.
    pub first_close: Option<String>,
}

/// The open subscribers.
pub struct Streams {
    counts: Arc<StreamCounts>,
    opened: usize,
    done: watch::Sender<bool>,
    thread: std::thread::JoinHandle<()>,
}

impl Streams {
    /// Opens `n` subscribers of the targets' project, subscriber `i` on node `i mod nodes`
    /// with token `i mod tokens`, and returns once every one has its filters in force.
    pub async fn open(
        targets: &[Target],
        tokens: &[String],
        templates: &[Template],
        n: usize,
    ) -> anyhow::Result<Streams> {
        let profiles = fanout::profiles(templates)?;
        let filters = fanout::mix(n, &profiles, None);
        let endpoints = targets
            .iter()
            .map(|t| Endpoint::new(t, tokens.to_vec()))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let counts = Arc::new(StreamCounts::default());
        let (done, done_rx) = watch::channel(false);
        let (ready_tx, ready) = oneshot::channel::<anyhow::Result<()>>();
        let opened = filters.len();
        let shared = counts.clone();
        let thread = std::thread::Builder::new()
            .name("soak-streams".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e.into()));
                        return;
                    }
                };
                rt.block_on(async move {
                    let mut open = Vec::with_capacity(filters.len());
                    for (i, filter) in filters.iter().enumerate() {
                        let endpoint = &endpoints[i % endpoints.len()];
                        match endpoint
                            .open(i, filter, None, &mut Received::default())
                            .await
                        {
                            Ok(ws) => open.push(ws),
                            Err(e) => {
                                let _ = ready_tx.send(Err(e));
                                return;
                            }
                        }
                    }
                    let readers: Vec<_> = open
                        .into_iter()
                        .map(|ws| tokio::spawn(read(ws, shared.clone(), done_rx.clone())))
                        .collect();
                    let _ = ready_tx.send(Ok(()));
                    for r in readers {
                        let _ = r.await;
                    }
                });
            })?;
        ready
            .await
            .context("the subscribers' thread ended while opening")??;
        Ok(Streams {
            counts,
            opened,
            done,
            thread,
        })
    }

    /// The counters the sampler reads.
    pub fn counts(&self) -> Arc<StreamCounts> {
        self.counts.clone()
    }

    /// Closes every subscriber and says how many had ended early.
    pub async fn finish(self) -> anyhow::Result<StreamsOutcome> {
        let _ = self.done.send(true);
        let thread = self.thread;
        tokio::task::spawn_blocking(move || thread.join())
            .await?
            .map_err(|_| anyhow::anyhow!("the subscribers' thread panicked"))?;
        let first_close = self.counts.first_close.lock().ok().and_then(|f| f.clone());
        Ok(StreamsOutcome {
            opened: self.opened,
            closed: self.counts.closed.load(Ordering::Relaxed),
            first_close,
        })
    }
}

/// Reads one stream until the soak is over, counting what arrives.
async fn read(mut ws: Ws, counts: Arc<StreamCounts>, mut done: watch::Receiver<bool>) {
    loop {
        let next = tokio::select! {
            m = ws.next() => m,
            _ = done.wait_for(|d| *d) => break,
        };
        match next {
            Some(Ok(Message::Text(text))) => counts.note(text.as_str()),
            Some(Ok(Message::Close(frame))) => {
                return counts.ended(format!("the server closed a stream: {frame:?}"));
            }
            // Pings are answered by the library as it reads.
            Some(Ok(_)) => {}
            Some(Err(e)) => return counts.ended(format!("a stream failed: {e}")),
            None => return counts.ended("a stream ended".into()),
        }
    }
    let _ = ws.close(None).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_events_and_losses_and_keeps_the_first_end() {
        let c = StreamCounts::default();
        c.note(r#"{"type": "event", "id": "ab"}"#);
        c.note(r#"{"type": "event"}"#);
        c.note(r#"{"type": "lagged", "missed": 12}"#);
        c.note(r#"{"type": "counts"}"#);
        assert_eq!(c.take(), (2, 12));
        assert_eq!(c.take(), (0, 0));
        c.ended("first".into());
        c.note("not json");
        assert_eq!(c.closed.load(Ordering::Relaxed), 2);
        assert_eq!(c.first_close.lock().unwrap().as_deref(), Some("first"));
    }
}
