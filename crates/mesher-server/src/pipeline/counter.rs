//! The per-node event counter of the original design (seed note "load monitor"): incremented
//! for every accepted event, bulk events included one by one; read and reset by the load
//! monitor every 5 s to compute the node's event rate.

use std::sync::atomic::{AtomicU64, Ordering};

/// Accepted events since the last reset.
#[derive(Debug, Default)]
pub struct EventCounter(AtomicU64);

impl EventCounter {
    /// The current count.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

    /// Adds `n` accepted events.
    pub fn increment(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    /// Returns the count and starts over from zero, atomically: no increment is lost between
    /// the read and the reset (the original read and reset in two messages).
    pub fn reset(&self) -> u64 {
        self.0.swap(0, Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_resets_without_losing_increments() {
        let c = std::sync::Arc::new(EventCounter::default());
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let c = c.clone();
                std::thread::spawn(move || {
                    for _ in 0..10_000 {
                        c.increment(1);
                    }
                })
            })
            .collect();
        let mut seen = 0;
        for _ in 0..100 {
            seen += c.reset();
        }
        for t in threads {
            t.join().unwrap();
        }
        seen += c.reset();
        assert_eq!(seen, 40_000);
        assert_eq!(c.get(), 0);
    }
}
