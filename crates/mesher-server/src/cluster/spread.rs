//! Load spreading (CLUSTER-03, CLUSTER-05): when this node's window passes the threshold and
//! peers carry clearly less, a share of new events goes to the `overflow` table for the peers to
//! process. The decision is taken once per load-monitor window, with hysteresis: a node starts
//! handing off only when a peer's rate is under half its own, and stops when its own rate falls
//! under 80 % of the threshold or no peer is under 80 % of its own, so that a balanced cluster
//! moves nothing and nothing flaps.

use std::sync::atomic::{AtomicU64, Ordering};

/// A peer's load as its last heartbeat reported it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PeerLoad {
    /// Events per second it received.
    pub rate: f64,
    /// Events waiting in its pipeline.
    pub queue_depth: i64,
}

/// How many peers to hand events to, given this node's rate (events per second), the
/// threshold as a rate, whether it hands off now, its peers that are up, and the queue depth
/// above which a peer is too busy to take more. `0`: keep everything.
pub fn peers_to_use(
    handing_off: bool,
    rate: f64,
    threshold_rate: f64,
    peers: &[PeerLoad],
    queue_cap: i64,
) -> usize {
    let (own_floor, peer_ceiling) = if handing_off {
        (0.8 * threshold_rate, 0.8 * rate)
    } else {
        (threshold_rate, 0.5 * rate)
    };
    if rate <= own_floor {
        return 0;
    }
    peers
        .iter()
        .filter(|p| p.rate < peer_ceiling && p.queue_depth < queue_cap)
        .count()
}

/// The hand-off decision in force, read by every ingest request.
#[derive(Debug, Default)]
pub struct Spread {
    /// Peers taking events now (0: none).
    peers: AtomicU64,
    seq: AtomicU64,
}

impl Spread {
    /// Peers taking events now.
    pub fn peers(&self) -> usize {
        usize::try_from(self.peers.load(Ordering::Relaxed)).unwrap_or(usize::MAX)
    }

    /// Sets the number of peers; returns the previous one.
    pub(crate) fn set_peers(&self, n: usize) -> usize {
        let prev = self.peers.swap(n as u64, Ordering::Relaxed);
        usize::try_from(prev).unwrap_or(usize::MAX)
    }

    /// Whether the next request's events go to the peers: with `k` peers taking, `k` of every
    /// `k + 1` requests do, so that each node ends up with an equal share.
    pub fn hand_off_next(&self) -> bool {
        let k = self.peers.load(Ordering::Relaxed);
        k > 0
            && !self
                .seq
                .fetch_add(1, Ordering::Relaxed)
                .is_multiple_of(k + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idle() -> PeerLoad {
        PeerLoad {
            rate: 0.0,
            queue_depth: 0,
        }
    }

    #[test]
    fn a_busy_node_hands_off_to_clearly_idler_peers_only() {
        let threshold = 20.0; // 100 events per 5 s
        // Under the threshold: nothing moves, however idle the peers.
        assert_eq!(
            peers_to_use(false, 19.0, threshold, &[idle(), idle()], 1000),
            0
        );
        // Over it, with two idle peers: both.
        assert_eq!(
            peers_to_use(false, 500.0, threshold, &[idle(), idle()], 1000),
            2
        );
        // A balanced cluster moves nothing: peers at 60 % of this node's rate are not clearly idler.
        let busy = PeerLoad {
            rate: 300.0,
            queue_depth: 0,
        };
        assert_eq!(
            peers_to_use(false, 500.0, threshold, &[busy, busy], 1000),
            0
        );
        // A peer whose queue is deep takes nothing.
        let stuck = PeerLoad {
            rate: 0.0,
            queue_depth: 5000,
        };
        assert_eq!(
            peers_to_use(false, 500.0, threshold, &[stuck, idle()], 1000),
            1
        );
    }

    #[test]
    fn hysteresis_keeps_a_hand_off_going_until_load_clearly_falls() {
        let threshold = 20.0;
        let peer = |rate| PeerLoad {
            rate,
            queue_depth: 0,
        };
        // Started at 500/s against idle peers; the peers now receive 300/s of their own (60 %):
        // not enough to start, enough to keep going.
        assert_eq!(
            peers_to_use(false, 500.0, threshold, &[peer(300.0)], 1000),
            0
        );
        assert_eq!(
            peers_to_use(true, 500.0, threshold, &[peer(300.0)], 1000),
            1
        );
        // Just under the threshold: still going (80 % floor) …
        assert_eq!(peers_to_use(true, 17.0, threshold, &[peer(0.0)], 1000), 1);
        // … and stopping below it.
        assert_eq!(peers_to_use(true, 15.0, threshold, &[peer(0.0)], 1000), 0);
        // Peers as busy as this node: stop.
        assert_eq!(
            peers_to_use(true, 500.0, threshold, &[peer(450.0)], 1000),
            0
        );
    }

    #[test]
    fn k_peers_get_k_of_every_k_plus_one_requests() {
        let s = Spread::default();
        assert!(!(0..10).any(|_| s.hand_off_next()));
        s.set_peers(2);
        let handed = (0..300).filter(|_| s.hand_off_next()).count();
        assert_eq!(handed, 200);
    }
}
