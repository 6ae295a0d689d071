//! Latency percentiles.
//!
//! A run records one latency per accepted event, in microseconds; even a million of them is
//! 8 MB, so they are kept exactly and sorted once at the end instead of being binned into a
//! histogram (which would cost a dependency and a rounding error).

use serde::{Deserialize, Serialize};

/// The nearest-rank percentile `p` (0–100) of ascending `sorted` values: the smallest value
/// such that at least `p` percent of the values are less than or equal to it.
/// `None` when there are no values.
pub fn percentile(sorted: &[u64], p: f64) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let n = sorted.len();
    // rank = ceil(p/100 · n), at least 1; the float math is exact for any n a run reaches.
    let rank = ((p.clamp(0.0, 100.0) / 100.0) * n as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, n) - 1])
}

/// Latency figures in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct LatencySummary {
    /// Median.
    pub p50_ms: f64,
    /// 95th percentile.
    pub p95_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Slowest.
    pub max_ms: f64,
    /// Arithmetic mean.
    pub mean_ms: f64,
}

impl LatencySummary {
    /// Summarizes latencies in microseconds (sorted in place). All zero when empty.
    pub fn from_micros(values: &mut [u64]) -> LatencySummary {
        values.sort_unstable();
        let ms = |p: f64| percentile(values, p).map_or(0.0, |us| us as f64 / 1000.0);
        let mean = if values.is_empty() {
            0.0
        } else {
            values.iter().map(|&v| v as f64).sum::<f64>() / values.len() as f64 / 1000.0
        };
        LatencySummary {
            p50_ms: ms(50.0),
            p95_ms: ms(95.0),
            p99_ms: ms(99.0),
            max_ms: ms(100.0),
            mean_ms: mean,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_on_one_to_hundred() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), Some(50));
        assert_eq!(percentile(&v, 95.0), Some(95));
        assert_eq!(percentile(&v, 99.0), Some(99));
        assert_eq!(percentile(&v, 99.5), Some(100));
        assert_eq!(percentile(&v, 100.0), Some(100));
        assert_eq!(percentile(&v, 0.0), Some(1));
    }

    #[test]
    fn small_and_empty_inputs() {
        assert_eq!(percentile(&[], 50.0), None);
        assert_eq!(percentile(&[7], 0.0), Some(7));
        assert_eq!(percentile(&[7], 99.0), Some(7));
        // Two values: the median is the lower one (rank ceil(1.0) = 1), p51 the upper.
        assert_eq!(percentile(&[1, 9], 50.0), Some(1));
        assert_eq!(percentile(&[1, 9], 51.0), Some(9));
        // Out-of-range p is clamped rather than indexing out of bounds.
        assert_eq!(percentile(&[1, 9], 150.0), Some(9));
        assert_eq!(percentile(&[1, 9], -5.0), Some(1));
    }

    #[test]
    fn summary_sorts_and_converts_to_milliseconds() {
        let mut v = vec![3000, 1000, 2000, 10_000];
        let s = LatencySummary::from_micros(&mut v);
        assert_eq!(s.p50_ms, 2.0);
        assert_eq!(s.p99_ms, 10.0);
        assert_eq!(s.max_ms, 10.0);
        assert_eq!(s.mean_ms, 4.0);
        assert_eq!(
            LatencySummary::from_micros(&mut []),
            LatencySummary::default()
        );
    }
}
