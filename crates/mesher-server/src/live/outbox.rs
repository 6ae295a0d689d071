//! A connection's bounded queue (STREAM-05): the hub pushes without ever waiting; when the
//! queue is full the oldest message goes and is counted, and the connection tells its client
//! how many it lost before the next message it sends.

use std::collections::VecDeque;
use std::sync::Mutex;

use axum::extract::ws::Utf8Bytes;
use tokio::sync::Notify;

/// One connection's queue.
pub struct Outbox {
    capacity: usize,
    state: Mutex<State>,
    ready: Notify,
}

#[derive(Default)]
struct State {
    messages: VecDeque<Utf8Bytes>,
    missed: u64,
}

/// What a connection takes from its queue at once.
#[derive(Debug, Default, PartialEq)]
pub struct Taken {
    /// Messages dropped since the last take (sent first, as a `lagged` notice).
    pub missed: u64,
    /// The messages, oldest first.
    pub messages: Vec<Utf8Bytes>,
}

impl Outbox {
    /// A queue of at most `capacity` messages (at least one).
    pub fn new(capacity: usize) -> Outbox {
        Outbox {
            capacity: capacity.max(1),
            state: Mutex::new(State::default()),
            ready: Notify::new(),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues a message, dropping the oldest when full, and wakes the connection. Never waits.
    pub fn push(&self, message: Utf8Bytes) {
        self.push_quietly(message);
        self.wake();
    }

    /// Queues a message without waking the connection: the hub queues a whole batch's messages
    /// and wakes each connection once ([`Outbox::wake`]), so that it sends them in one write
    /// instead of waking for every message.
    pub fn push_quietly(&self, message: Utf8Bytes) {
        let mut state = self.state();
        if state.messages.len() >= self.capacity {
            state.messages.pop_front();
            state.missed += 1;
        }
        state.messages.push_back(message);
    }

    /// Wakes the connection to send what is queued.
    pub fn wake(&self) {
        self.ready.notify_one();
    }

    /// Records messages lost before they reached this queue (the hub fell behind).
    pub fn lost(&self, n: u64) {
        if n == 0 {
            return;
        }
        self.state().missed += n;
        self.ready.notify_one();
    }

    /// Everything queued, and how many were lost before it.
    pub fn take(&self) -> Taken {
        let mut state = self.state();
        Taken {
            missed: std::mem::take(&mut state.missed),
            messages: state.messages.drain(..).collect(),
        }
    }

    /// Resolves when something was queued since the last take.
    pub async fn ready(&self) {
        self.ready.notified().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// STREAM-05: a full queue drops its oldest messages and counts them.
    #[test]
    fn a_full_queue_drops_the_oldest_and_counts_them() {
        let q = Outbox::new(3);
        for i in 0..5 {
            q.push(format!("m{i}").into());
        }
        let taken = q.take();
        assert_eq!(taken.missed, 2);
        let texts: Vec<&str> = taken.messages.iter().map(Utf8Bytes::as_str).collect();
        assert_eq!(texts, ["m2", "m3", "m4"]);
        assert_eq!(q.take(), Taken::default());
        q.lost(4);
        q.push("m5".into());
        let taken = q.take();
        assert_eq!((taken.missed, taken.messages.len()), (4, 1));
    }

    #[tokio::test]
    async fn a_push_wakes_the_connection() {
        let q = std::sync::Arc::new(Outbox::new(2));
        let waiter = tokio::spawn({
            let q = q.clone();
            async move {
                q.ready().await;
                q.take()
            }
        });
        tokio::task::yield_now().await;
        q.push("hello".into());
        let taken = waiter.await.unwrap();
        assert_eq!(taken.messages.len(), 1);
    }
}
