//! A small HyperLogLog sketch for "distinct users per issue" (approximate, as the issue allows).
//!
//! 256 one-byte registers (precision 8): 256 bytes per issue and a standard error of about
//! 1.04/√256 ≈ 6.5 %; small counts use linear counting and are close to exact. Written here
//! rather than taken from a crate because the sketch is persisted: its hash and layout must never
//! change with a dependency upgrade (std's `DefaultHasher` is explicitly unstable across
//! releases, so FNV-1a with a SplitMix64 finalizer is used).

/// Registers per sketch (2^8).
const M: usize = 256;

/// A stable 64-bit hash of a user identity.
pub fn hash_user(key: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    // SplitMix64 finalizer: FNV's low bits are weak, and the register index uses them.
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// Adds hashed identities to a stored sketch (or a new one) and returns it with its estimate.
pub fn add(sketch: Option<&[u8]>, hashes: &[u64]) -> (Vec<u8>, i64) {
    let mut regs = match sketch {
        Some(s) if s.len() == M => s.to_vec(),
        _ => vec![0u8; M],
    };
    for h in hashes {
        let index = (h & (M as u64 - 1)) as usize;
        // Rank of the first set bit of the remaining 56 bits (1-based).
        let rest = h >> 8;
        let rank = (rest.trailing_zeros().min(56) + 1) as u8;
        if rank > regs[index] {
            regs[index] = rank;
        }
    }
    let estimate = estimate(&regs);
    (regs, estimate)
}

fn estimate(regs: &[u8]) -> i64 {
    let m = M as f64;
    let alpha = 0.7213 / (1.0 + 1.079 / m);
    let sum: f64 = regs.iter().map(|&r| 2f64.powi(-i32::from(r))).sum();
    let raw = alpha * m * m / sum;
    let zeros = regs.iter().filter(|&&r| r == 0).count();
    let e = if raw <= 2.5 * m && zeros > 0 {
        m * (m / zeros as f64).ln()
    } else {
        raw
    };
    e.round() as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_counts_are_near_exact_and_repeats_do_not_count() {
        let hashes: Vec<u64> = (0..10).map(|i| hash_user(&format!("user-{i}"))).collect();
        let (sketch, n) = add(None, &hashes);
        assert_eq!(n, 10);
        let (_, again) = add(Some(&sketch), &hashes);
        assert_eq!(again, 10);
    }

    #[test]
    fn large_counts_are_within_the_expected_error() {
        let mut sketch = None;
        let mut n = 0;
        for chunk in (0..20_000).collect::<Vec<u32>>().chunks(1000) {
            let hashes: Vec<u64> = chunk
                .iter()
                .map(|i| hash_user(&format!("id:{i}")))
                .collect();
            let (s, e) = add(sketch.as_deref(), &hashes);
            sketch = Some(s);
            n = e;
        }
        let error = (n - 20_000).abs() as f64 / 20_000.0;
        assert!(error < 0.15, "estimate {n} for 20000 distinct users");
    }

    #[test]
    fn the_hash_is_stable() {
        // Persisted sketches depend on this value never changing.
        assert_eq!(hash_user("id:42"), hash_user("id:42"));
        assert_eq!(hash_user(""), 0xf52a_15e9_a9b5_e89b);
    }
}
