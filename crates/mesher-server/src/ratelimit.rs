//! Per-project rate limits (INGEST-04), with `governor`'s GCRA token buckets.
//!
//! Each project gets a bucket refilled at its `rate_limit_per_minute` with a burst of a tenth of
//! a minute's worth (at least 10), so a steady sender gets its full rate and a spike is absorbed
//! briefly. Every event counts, including each event of a bulk request.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

/// The longest `Retry-After` reported to a client (Relay caps it at 300 s as well).
const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);

/// The buckets of every project seen.
#[derive(Default)]
pub struct RateLimits {
    buckets: Mutex<HashMap<i64, (i64, Arc<DefaultDirectRateLimiter>)>>,
}

impl RateLimits {
    /// Takes one event from the project's bucket; `Err(wait)` when it is empty.
    ///
    /// `per_minute == 0` means unlimited.
    pub fn check(&self, project_id: i64, per_minute: i64) -> Result<(), Duration> {
        let Some(limiter) = self.limiter(project_id, per_minute) else {
            return Ok(());
        };
        limiter.check().map_err(|not_until| {
            not_until
                .wait_time_from(DefaultClock::default().now())
                .min(MAX_RETRY_AFTER)
        })
    }

    fn limiter(&self, project_id: i64, per_minute: i64) -> Option<Arc<DefaultDirectRateLimiter>> {
        let rate = u32::try_from(per_minute).ok().and_then(NonZeroU32::new)?;
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        match buckets.get(&project_id) {
            Some((limit, l)) if *limit == per_minute => Some(l.clone()),
            // New project, or its limit changed: a fresh bucket at the new rate.
            _ => {
                let burst = NonZeroU32::new((rate.get() / 10).max(10)).unwrap_or(rate);
                let limiter = Arc::new(RateLimiter::direct(
                    Quota::per_minute(rate).allow_burst(burst),
                ));
                buckets.insert(project_id, (per_minute, limiter.clone()));
                Some(limiter)
            }
        }
    }
}

/// Seconds to put in `Retry-After`: the wait rounded up, at least 1.
pub fn retry_after_secs(wait: Duration) -> u64 {
    (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
}

/// Sentry's `X-Sentry-Rate-Limits` value for a project limit over every event category.
pub fn sentry_rate_limits(retry_after: u64) -> String {
    format!("{retry_after}:default;error;security:project:project_quota")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_empties_and_reports_the_wait() {
        let limits = RateLimits::default();
        // 60 per minute: burst 10, then one per second.
        for _ in 0..10 {
            assert!(limits.check(1, 60).is_ok());
        }
        let wait = limits.check(1, 60).unwrap_err();
        assert!(wait <= Duration::from_secs(1), "{wait:?}");
        assert_eq!(retry_after_secs(wait), 1);
        // Another project has its own bucket; 0 is unlimited.
        assert!(limits.check(2, 60).is_ok());
        for _ in 0..1000 {
            assert!(limits.check(3, 0).is_ok());
        }
    }

    #[test]
    fn a_changed_limit_takes_effect() {
        let limits = RateLimits::default();
        for _ in 0..10 {
            limits.check(1, 60).unwrap();
        }
        assert!(limits.check(1, 60).is_err());
        assert!(limits.check(1, 6000).is_ok());
    }

    #[test]
    fn header_formats() {
        assert_eq!(retry_after_secs(Duration::from_millis(1500)), 2);
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
        assert_eq!(
            sentry_rate_limits(60),
            "60:default;error;security:project:project_quota"
        );
    }
}
