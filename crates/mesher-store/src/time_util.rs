//! Time conversions shared by both backends.

use time::OffsetDateTime;

/// The current time, truncated to milliseconds: the precision both backends store exactly, so
/// that a value read back equals the value written.
pub fn now() -> OffsetDateTime {
    from_millis(to_millis(OffsetDateTime::now_utc()))
}

/// Milliseconds since the Unix epoch.
pub fn to_millis(t: OffsetDateTime) -> i64 {
    // i128 → i64 cannot overflow for any date `time` can represent (±9999 years ≈ 3e14 ms).
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

/// The inverse of [`to_millis`]; out-of-range values clamp to the epoch rather than panic.
pub fn from_millis(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}
