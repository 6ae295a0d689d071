//! Sign-in throttling: slow password guessing down without locking the owner out.
//!
//! Only failures count. Three limits, each answering a different attacker:
//!
//! - **Per email and address pair** (one attacker, one account): the first
//!   [`Limits::pair_free`] failures are free, then each failure doubles a delay (1 s, 2 s, 4 s …
//!   up to [`Limits::pair_cap`]). A success from that address clears the pair.
//! - **Per address** (one attacker, many accounts): a leaky bucket of failures,
//!   [`Limits::address_burst`] at once, then one per [`Limits::address_period`].
//! - **Per email** (many addresses, one account): a leaky bucket too, but it only refuses
//!   addresses that already failed for this email. An address with no failures of its own always
//!   gets its attempt, so the owner signing in from a new place is never refused because an
//!   attacker elsewhere keeps failing; a distributed attacker gets one guess per address while
//!   the bucket is full.
//!
//! An attempt is charged as a failure when it starts ([`LoginThrottle::begin`]) and refunded when
//! the password was right ([`LoginThrottle::succeeded`]): concurrent guesses cannot all slip
//! through before the first failure is recorded, and successes end up not counting.
//!
//! The state is in memory, per node: an attacker spreading guesses over N nodes gets N times
//! the budget (still far too little to guess a real password), and a restart forgets it. Every
//! map is bounded ([`Limits::max_entries`]): entries that no longer limit anything are swept
//! when a map is full, and only then is the least recently seen entry dropped.
//!
//! Time is a parameter (`now: Instant`) so that tests can move it without sleeping.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The throttle's numbers.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Failures per email and address before the delay starts.
    pub pair_free: u32,
    /// The first delay; each further failure doubles it.
    pub pair_base: Duration,
    /// The longest delay.
    pub pair_cap: Duration,
    /// A pair idle this long starts over.
    pub pair_forget: Duration,
    /// Failures from one address at once, across emails.
    pub address_burst: u32,
    /// Then one failure per this period, per address.
    pub address_period: Duration,
    /// Failures for one email at once, across addresses.
    pub email_burst: u32,
    /// Then one failure per this period, per email.
    pub email_period: Duration,
    /// Entries per map before old ones are dropped.
    pub max_entries: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            pair_free: 5,
            pair_base: Duration::from_secs(1),
            pair_cap: Duration::from_secs(15 * 60),
            pair_forget: Duration::from_secs(60 * 60),
            address_burst: 50,
            address_period: Duration::from_secs(1),
            email_burst: 30,
            email_period: Duration::from_secs(10),
            max_entries: 100_000,
        }
    }
}

/// Why an attempt was refused: try again after `wait`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused {
    /// How long until an attempt would be let through.
    pub wait: Duration,
}

/// A sign-in attempt let through and charged as a failure until [`LoginThrottle::succeeded`].
#[derive(Debug)]
#[must_use = "a successful attempt must be reported, or it counts as a failure"]
pub struct Attempt {
    email: String,
    ip: Option<IpAddr>,
}

/// Failures of one email from one address.
#[derive(Debug, Clone, Copy)]
struct Pair {
    failures: u32,
    blocked_until: Instant,
    last: Instant,
}

/// A leaky bucket of failures: `level` drains by one per period.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    level: f64,
    at: Instant,
}

impl Bucket {
    fn level_at(&self, now: Instant, period: Duration) -> f64 {
        let drained = now.saturating_duration_since(self.at).as_secs_f64() / period.as_secs_f64();
        (self.level - drained).max(0.0)
    }

    /// How long until one more failure fits, or `None` when it fits now.
    fn wait(&self, now: Instant, period: Duration, burst: u32) -> Option<Duration> {
        let over = self.level_at(now, period) + 1.0 - f64::from(burst);
        (over > 0.0).then(|| period.mul_f64(over))
    }

    fn add(&mut self, now: Instant, period: Duration, delta: f64) {
        self.level = (self.level_at(now, period) + delta).max(0.0);
        self.at = now;
    }
}

#[derive(Default)]
struct Maps {
    pairs: HashMap<(String, Option<IpAddr>), Pair>,
    addresses: HashMap<IpAddr, Bucket>,
    emails: HashMap<String, Bucket>,
}

/// Sign-in attempt limits of one node (see the module docs).
pub struct LoginThrottle {
    limits: Limits,
    maps: Mutex<Maps>,
}

impl Default for LoginThrottle {
    fn default() -> Self {
        LoginThrottle::new(Limits::default())
    }
}

impl LoginThrottle {
    /// A throttle with these limits.
    pub fn new(limits: Limits) -> LoginThrottle {
        LoginThrottle {
            limits,
            maps: Mutex::new(Maps::default()),
        }
    }

    /// Lets an attempt for `email` from `ip` through (charging it as a failure) or refuses it.
    /// `email` should be normalized (trimmed, lower-cased) by the caller.
    pub fn begin(&self, email: &str, ip: Option<IpAddr>, now: Instant) -> Result<Attempt, Refused> {
        let l = &self.limits;
        let mut maps = self.lock();
        let key = (email.to_string(), ip);
        let pair = maps
            .pairs
            .get(&key)
            .copied()
            .filter(|p| now.saturating_duration_since(p.last) < l.pair_forget);
        let mut wait = Duration::ZERO;
        if let Some(ip) = ip
            && let Some(w) = maps
                .addresses
                .get(&ip)
                .and_then(|b| b.wait(now, l.address_period, l.address_burst))
        {
            wait = wait.max(w);
        }
        if let Some(p) = pair {
            wait = wait.max(p.blocked_until.saturating_duration_since(now));
            // The email's budget binds only addresses that failed for it (the module docs say
            // why).
            if p.failures > 0
                && let Some(w) = maps
                    .emails
                    .get(email)
                    .and_then(|b| b.wait(now, l.email_period, l.email_burst))
            {
                wait = wait.max(w);
            }
        }
        if !wait.is_zero() {
            return Err(Refused { wait });
        }

        // Charge the attempt as a failure now; `succeeded` refunds it.
        let failures = pair.map_or(0, |p| p.failures) + 1;
        let blocked_until = match failures.checked_sub(l.pair_free + 1) {
            None => now,
            Some(doublings) => {
                now + l
                    .pair_base
                    .saturating_mul(2u32.saturating_pow(doublings.min(31)))
                    .min(l.pair_cap)
            }
        };
        let max = l.max_entries;
        let forget = l.pair_forget;
        insert_bounded(
            &mut maps.pairs,
            key,
            Pair {
                failures,
                blocked_until,
                last: now,
            },
            max,
            |p| now.saturating_duration_since(p.last) >= forget && p.blocked_until <= now,
            |p| p.last,
        );
        if let Some(ip) = ip {
            charge(&mut maps.addresses, ip, now, l.address_period, max);
        }
        charge(
            &mut maps.emails,
            email.to_string(),
            now,
            l.email_period,
            max,
        );
        Ok(Attempt {
            email: email.to_string(),
            ip,
        })
    }

    /// The password was right: the attempt does not count, and the pair's failures are cleared.
    pub fn succeeded(&self, attempt: Attempt, now: Instant) {
        let l = &self.limits;
        let mut maps = self.lock();
        maps.pairs.remove(&(attempt.email.clone(), attempt.ip));
        if let Some(ip) = attempt.ip
            && let Some(b) = maps.addresses.get_mut(&ip)
        {
            b.add(now, l.address_period, -1.0);
        }
        if let Some(b) = maps.emails.get_mut(&attempt.email) {
            b.add(now, l.email_period, -1.0);
        }
    }

    /// Entries held, over all maps (for tests of the memory bound).
    pub fn len(&self) -> usize {
        let maps = self.lock();
        maps.pairs.len() + maps.addresses.len() + maps.emails.len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Maps> {
        // The maps are plain counters: one left half-updated by a panic is still usable.
        self.maps
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Adds a failure to the bucket of `key`.
fn charge<K: Hash + Eq + Clone>(
    map: &mut HashMap<K, Bucket>,
    key: K,
    now: Instant,
    period: Duration,
    max: usize,
) {
    let mut bucket = map.get(&key).copied().unwrap_or(Bucket {
        level: 0.0,
        at: now,
    });
    bucket.add(now, period, 1.0);
    insert_bounded(
        map,
        key,
        bucket,
        max,
        |b| b.level_at(now, period) <= 0.0,
        |b| b.at,
    );
}

/// Inserts, keeping the map at most `max` entries: when full, entries that no longer limit
/// anything (`stale`) go first, then the least recently seen one.
fn insert_bounded<K: Hash + Eq + Clone, V>(
    map: &mut HashMap<K, V>,
    key: K,
    value: V,
    max: usize,
    stale: impl Fn(&V) -> bool,
    seen: impl Fn(&V) -> Instant,
) {
    if !map.contains_key(&key) && map.len() >= max {
        map.retain(|_, v| !stale(v));
        if map.len() >= max
            && let Some(oldest) = map
                .iter()
                .min_by_key(|(_, v)| seen(v))
                .map(|(k, _)| k.clone())
        {
            map.remove(&oldest);
        }
    }
    map.insert(key, value);
}

#[cfg(test)]
mod tests {
    use super::*;

    const OWNER: &str = "owner@example.com";

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    /// Fails `n` times at `now`, returning how many were let through.
    fn fail(t: &LoginThrottle, email: &str, from: Option<IpAddr>, n: u32, now: Instant) -> u32 {
        (0..n).filter(|_| t.begin(email, from, now).is_ok()).count() as u32
    }

    #[test]
    fn successes_never_count() {
        let t = LoginThrottle::default();
        let now = Instant::now();
        for i in 0..200 {
            let a = t.begin(OWNER, ip("192.0.2.1"), now).expect("never refused");
            t.succeeded(a, now);
            assert_eq!(t.len(), 2, "attempt {i}: only drained buckets are left");
        }
    }

    #[test]
    fn a_pair_backs_off_exponentially_up_to_the_cap_and_a_success_clears_it() {
        let t = LoginThrottle::default();
        let start = Instant::now();
        let from = ip("192.0.2.1");
        assert_eq!(fail(&t, OWNER, from, 5, start), 5, "five are free");
        // The sixth is let through and starts a 1 s delay.
        assert!(t.begin(OWNER, from, start).is_ok());
        let refused = t.begin(OWNER, from, start).unwrap_err();
        assert_eq!(refused.wait, Duration::from_secs(1));
        let mut now = start + Duration::from_secs(1);
        let mut waits = Vec::new();
        for _ in 0..14 {
            assert!(t.begin(OWNER, from, now).is_ok());
            let w = t.begin(OWNER, from, now).unwrap_err().wait;
            waits.push(w.as_secs());
            now += w;
        }
        assert_eq!(
            waits,
            [2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900, 900, 900, 900]
        );
        // The right password (after the wait) clears the pair: the next failure is free again.
        let a = t.begin(OWNER, from, now).unwrap();
        t.succeeded(a, now);
        assert!(t.begin(OWNER, from, now).is_ok());
        assert!(t.begin(OWNER, from, now).is_ok());
    }

    #[test]
    fn the_owner_from_a_new_address_is_not_refused_during_an_attack() {
        let t = LoginThrottle::default();
        let mut now = Instant::now();
        // A distributed attacker exhausts the email's budget from many addresses.
        for i in 0..200u32 {
            let attacker = Some(IpAddr::from([198, 51, (i / 250) as u8, (i % 250) as u8]));
            let _ = t.begin(OWNER, attacker, now);
            now += Duration::from_millis(100);
        }
        // An address that already failed for this email is refused by the email's budget…
        let attacker = ip("198.51.0.1");
        assert!(t.begin(OWNER, attacker, now).is_err());
        // …the owner's fresh address is not, and the right password goes through.
        let owner = t
            .begin(OWNER, ip("203.0.113.5"), now)
            .expect("owner let in");
        t.succeeded(owner, now);
    }

    #[test]
    fn one_address_is_limited_across_emails() {
        let t = LoginThrottle::default();
        let now = Instant::now();
        let from = ip("192.0.2.9");
        let through: u32 = (0..60)
            .map(|i| fail(&t, &format!("user{i}@example.com"), from, 1, now))
            .sum();
        assert_eq!(through, 50, "the burst");
        let refused = t.begin("other@example.com", from, now).unwrap_err();
        assert_eq!(refused.wait, Duration::from_secs(1));
        // One more per second afterwards.
        let later = now + Duration::from_secs(1);
        assert!(t.begin("other@example.com", from, later).is_ok());
        assert!(t.begin("third@example.com", from, later).is_err());
        // Other addresses are unaffected.
        assert!(t.begin("other@example.com", ip("192.0.2.10"), now).is_ok());
    }

    #[test]
    fn memory_is_bounded() {
        let t = LoginThrottle::new(Limits {
            max_entries: 100,
            ..Limits::default()
        });
        let now = Instant::now();
        for i in 0..1000u32 {
            let from = Some(IpAddr::from(i.to_be_bytes()));
            let _ = t.begin(&format!("u{i}@example.com"), from, now);
        }
        assert!(t.len() <= 300, "{} entries", t.len());
    }
}
