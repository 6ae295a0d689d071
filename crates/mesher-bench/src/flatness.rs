//! A soak's rows and its verdict, "flat from minute N" (issue 17): what `mesher-bench soak`
//! prints, keeps and exits on.
//!
//! A row covers one minute (or, in the printed table, five): the events answered 2xx per second,
//! the latency of the answers that arrived in it, each node's RSS at its end and the deepest
//! pipeline queue seen in it, the database's size and what the subscribers and the webhook
//! receiver got. The verdict reads the rows from minute N on (N = `flat_from`, 10 for the real
//! run: the first minutes warm caches, fill the database's pages and let the sweeper catch up,
//! so they grow by design):
//!
//! - **RSS**: on every node, the highest RSS from minute N on is at most 10 % above minute N's
//!   (and at least 16 MiB may be gained, so that a small node's allocator noise is not a
//!   leak). A leak of a few bytes per event grows without bound and fails this in 20 minutes.
//! - **p99 latency**: the median of the per-minute p99s in the second half of the window is at
//!   most 1.5 times that of the first half plus 5 ms (the slack keeps a 2 ms p99 from failing
//!   on a scheduler hiccup of this shared machine). A trend, not a ceiling: spikes are shown in
//!   the rows, a latency that keeps climbing fails.
//! - **Queue depth**: every sample (one every 5 s per node) from minute N on is at most
//!   [`QUEUE_BOUND`] events, a quarter of the default `queue_max_events`: at half the maximum
//!   rate the queue should drain between batches, and a queue that grows toward full means the
//!   writer fell behind.
//! - **Rate**: every minute from N on answered at least 90 % of the target rate (open loop: a
//!   server that falls behind answers less than it is sent).
//! - **Answers**: no answer other than 2xx or 429 and no failed request during the whole run.
//! - **Streams**: every live subscriber is still open at the end.
//! - **Sweep**: the expired events there were before the load are all gone by the last minute
//!   (the sweeper kept up while the load ran).

use serde::{Deserialize, Serialize};

/// The deepest pipeline queue (events) a flat run may show from `flat_from` on.
pub const QUEUE_BOUND: i64 = 1024;
/// The RSS growth allowed from `flat_from` on, as a fraction of the RSS then…
pub const RSS_GROWTH_FRACTION: f64 = 0.10;
/// …but never less than this many MiB.
pub const RSS_GROWTH_FLOOR_MIB: f64 = 16.0;
/// The second half's median p99 may be this many times the first half's…
pub const P99_TREND_RATIO: f64 = 1.5;
/// …plus this many milliseconds.
pub const P99_TREND_SLACK_MS: f64 = 5.0;
/// Each minute from `flat_from` on answers at least this share of the target rate.
pub const MIN_RATE_FRACTION: f64 = 0.9;

/// One minute of a soak, or (in the printed table) several.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Row {
    /// The minute it ends with (1 is the first minute of load).
    pub minute: u32,
    /// How many minutes it covers.
    pub span: u32,
    /// Events answered 2xx per second.
    pub answered_per_sec: f64,
    /// Answers 429 (rate limited): allowed, and counted.
    pub rate_limited: u64,
    /// Other non-2xx answers and requests without an answer.
    pub failed: u64,
    /// Median latency of the 2xx answers that arrived in it (from when each was due).
    pub p50_ms: f64,
    /// Their 99th percentile.
    pub p99_ms: f64,
    /// Each node's RSS at its end, MiB.
    pub rss_mib: Vec<f64>,
    /// Each node's deepest pipeline queue (`mesher_queue_events`) among its samples.
    pub queue_max: Vec<i64>,
    /// The database's size at its end.
    pub database_bytes: u64,
    /// Events of the project older than its retention at its end (what the sweeper has left).
    pub expired_events: u64,
    /// `event` messages the live subscribers received in it.
    pub stream_events: u64,
    /// Messages the server said the subscribers lost (`lagged`).
    pub lagged: u64,
    /// Alert webhooks the receiver got in it.
    pub webhooks: u64,
}

/// One check of the verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Check {
    /// What is checked (`rss`, `p99`, `queue`, `rate`, `answers`, `streams`, `sweep`).
    pub name: String,
    /// Whether it held.
    pub ok: bool,
    /// The figures it compared.
    pub detail: String,
}

/// Whether the soak was flat, and why (not).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    /// Every check held.
    pub flat: bool,
    /// The minute the window starts at.
    pub flat_from: u32,
    /// Each check.
    pub checks: Vec<Check>,
}

/// What the verdict needs besides the minute rows.
#[derive(Debug, Clone, Copy)]
pub struct Expectations {
    /// The first minute that must be flat.
    pub flat_from: u32,
    /// Events per second sent (all nodes together).
    pub target_rate: f64,
    /// Live subscribers whose stream ended before the soak did.
    pub subscribers_closed: u64,
    /// Events older than the retention before the load started.
    pub expired_at_start: u64,
}

/// Judges minute rows (in order, one per minute).
pub fn verdict(rows: &[Row], e: &Expectations) -> Verdict {
    let window: Vec<&Row> = rows.iter().filter(|r| r.minute >= e.flat_from).collect();
    let mut checks = Vec::new();
    let mut check = |name: &str, ok: bool, detail: String| {
        checks.push(Check {
            name: name.into(),
            ok,
            detail,
        })
    };
    match (window.first(), window.len()) {
        (Some(first), n) => {
            check_rss(first, &window, &mut check);
            check_p99(&window, &mut check);
            check_queue(&window, &mut check);
            let floor = e.target_rate * MIN_RATE_FRACTION;
            let slowest = window
                .iter()
                .min_by(|a, b| a.answered_per_sec.total_cmp(&b.answered_per_sec))
                .map_or(0.0, |r| r.answered_per_sec);
            check(
                "rate",
                slowest >= floor,
                format!(
                    "slowest of {n} minutes {slowest:.0} events/s; at least {floor:.0} \
                     ({:.0} % of {:.0})",
                    MIN_RATE_FRACTION * 100.0,
                    e.target_rate
                ),
            );
        }
        (None, _) => check(
            "window",
            false,
            format!("no minute at or after minute {}", e.flat_from),
        ),
    }
    let failed: u64 = rows.iter().map(|r| r.failed).sum();
    let limited: u64 = rows.iter().map(|r| r.rate_limited).sum();
    check(
        "answers",
        failed == 0,
        format!("{failed} failed (non-2xx other than 429, or no answer); {limited} answered 429"),
    );
    check(
        "streams",
        e.subscribers_closed == 0,
        format!(
            "{} live subscribers closed before the end",
            e.subscribers_closed
        ),
    );
    let expired_end = rows.last().map_or(0, |r| r.expired_events);
    check(
        "sweep",
        expired_end == 0,
        format!(
            "{} expired events before the load, {expired_end} left at the end",
            e.expired_at_start
        ),
    );
    Verdict {
        flat: checks.iter().all(|c| c.ok),
        flat_from: e.flat_from,
        checks,
    }
}

fn check_rss(first: &Row, window: &[&Row], check: &mut impl FnMut(&str, bool, String)) {
    let mut ok = true;
    let mut parts = Vec::new();
    for (node, &base) in first.rss_mib.iter().enumerate() {
        let peak = window
            .iter()
            .filter_map(|r| r.rss_mib.get(node).copied())
            .fold(base, f64::max);
        let allowed = (base * RSS_GROWTH_FRACTION).max(RSS_GROWTH_FLOOR_MIB);
        ok &= peak - base <= allowed;
        parts.push(format!(
            "node {}: {base:.1} → peak {peak:.1} MiB (+{:.1}, at most +{allowed:.1})",
            node + 1,
            peak - base
        ));
    }
    check("rss", ok, parts.join("; "));
}

fn check_p99(window: &[&Row], check: &mut impl FnMut(&str, bool, String)) {
    // Halves of an odd window share its middle minute; a one-minute window compares itself.
    let half = window.len().div_ceil(2);
    let first = median(window[..half].iter().map(|r| r.p99_ms).collect());
    let second = median(
        window[window.len() - half..]
            .iter()
            .map(|r| r.p99_ms)
            .collect(),
    );
    let allowed = first * P99_TREND_RATIO + P99_TREND_SLACK_MS;
    check(
        "p99",
        second <= allowed,
        format!(
            "median p99 {first:.1} ms in the first half, {second:.1} ms in the second \
             (at most {allowed:.1})"
        ),
    );
}

fn check_queue(window: &[&Row], check: &mut impl FnMut(&str, bool, String)) {
    let deepest = window
        .iter()
        .flat_map(|r| r.queue_max.iter().copied())
        .max()
        .unwrap_or(0);
    check(
        "queue",
        deepest <= QUEUE_BOUND,
        format!("deepest queue {deepest} events (at most {QUEUE_BOUND})"),
    );
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// The printed table's header.
pub fn header(nodes: usize) -> String {
    let per_node = if nodes > 1 { " (per node)" } else { "" };
    format!(
        "{:>7} {:>9} {:>7} {:>7} {:>18} {:>11} {:>8} {:>8} {:>9} {:>6} {:>5}\n",
        "minutes",
        "events/s",
        "p50 ms",
        "p99 ms",
        format!("RSS MiB{per_node}"),
        "queue max",
        "db MiB",
        "expired",
        "stream/s",
        "hooks",
        "fail"
    )
}

/// One printed line.
pub fn line(r: &Row) -> String {
    let join = |v: Vec<String>| v.join("/");
    format!(
        "{:>7} {:>9.0} {:>7.1} {:>7.1} {:>18} {:>11} {:>8.1} {:>8} {:>9.0} {:>6} {:>5}\n",
        format!("{}–{}", r.minute - r.span, r.minute),
        r.answered_per_sec,
        r.p50_ms,
        r.p99_ms,
        join(r.rss_mib.iter().map(|m| format!("{m:.0}")).collect()),
        join(r.queue_max.iter().map(i64::to_string).collect()),
        r.database_bytes as f64 / (1024.0 * 1024.0),
        r.expired_events,
        r.stream_events as f64 / (f64::from(r.span.max(1)) * 60.0),
        r.webhooks,
        r.failed
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(minute: u32, rss: f64, p99: f64, queue: i64) -> Row {
        Row {
            minute,
            span: 1,
            answered_per_sec: 500.0,
            p50_ms: 2.0,
            p99_ms: p99,
            rss_mib: vec![rss, 100.0],
            queue_max: vec![queue, 0],
            ..Row::default()
        }
    }

    fn expect() -> Expectations {
        Expectations {
            flat_from: 10,
            target_rate: 500.0,
            subscribers_closed: 0,
            expired_at_start: 1000,
        }
    }

    fn failing(v: &Verdict) -> Vec<&str> {
        v.checks
            .iter()
            .filter(|c| !c.ok)
            .map(|c| c.name.as_str())
            .collect()
    }

    #[test]
    fn warm_up_growth_is_ignored_and_a_steady_run_is_flat() {
        // RSS doubles during the warm-up, then wobbles within a few MiB.
        let rows: Vec<Row> = (1..=30)
            .map(|m| {
                let rss = if m < 10 {
                    50.0 + 10.0 * f64::from(m)
                } else {
                    150.0
                };
                row(m, rss + f64::from(m % 3), 8.0 + f64::from(m % 4), 40)
            })
            .collect();
        let v = verdict(&rows, &expect());
        assert!(v.flat, "{v:#?}");
        assert_eq!(v.checks.len(), 7);
    }

    #[test]
    fn a_leak_a_climbing_p99_and_a_deep_queue_each_fail() {
        let leak: Vec<Row> = (1..=30)
            .map(|m| row(m, 100.0 + 2.0 * f64::from(m), 8.0, 10))
            .collect();
        assert_eq!(failing(&verdict(&leak, &expect())), ["rss"]);

        let climbing: Vec<Row> = (1..=30)
            .map(|m| row(m, 100.0, 5.0 * f64::from(m), 10))
            .collect();
        assert_eq!(failing(&verdict(&climbing, &expect())), ["p99"]);

        let mut deep: Vec<Row> = (1..=30).map(|m| row(m, 100.0, 8.0, 10)).collect();
        deep[25].queue_max[1] = QUEUE_BOUND + 1;
        assert_eq!(failing(&verdict(&deep, &expect())), ["queue"]);
        // The same queue during the warm-up is not judged.
        deep[25].queue_max[1] = 0;
        deep[3].queue_max[0] = 4000;
        assert!(verdict(&deep, &expect()).flat);
    }

    #[test]
    fn small_figures_get_the_absolute_slack() {
        // 20 → 34 MiB is +70 %, but under the 16 MiB floor; 2 → 7 ms is under 1.5 × 2 + 5.
        let rows: Vec<Row> = (10..=20)
            .map(|m| {
                let late = m > 15;
                row(
                    m,
                    if late { 34.0 } else { 20.0 },
                    if late { 7.0 } else { 2.0 },
                    0,
                )
            })
            .collect();
        assert!(verdict(&rows, &expect()).flat);
    }

    #[test]
    fn failures_falling_behind_and_closed_streams_fail() {
        let mut rows: Vec<Row> = (1..=12).map(|m| row(m, 100.0, 8.0, 0)).collect();
        rows[0].rate_limited = 7;
        assert!(verdict(&rows, &expect()).flat, "429s are allowed");
        rows[1].failed = 1;
        rows[11].answered_per_sec = 440.0;
        // The sweeper had not caught up by the end.
        rows[11].expired_events = 12;
        let e = Expectations {
            subscribers_closed: 2,
            ..expect()
        };
        assert_eq!(
            failing(&verdict(&rows, &e)),
            ["rate", "answers", "streams", "sweep"]
        );
    }

    #[test]
    fn a_short_run_needs_a_window() {
        let rows = vec![row(1, 100.0, 8.0, 0), row(2, 101.0, 9.0, 0)];
        assert_eq!(failing(&verdict(&rows, &expect())), ["window"]);
        let quick = Expectations {
            flat_from: 2,
            ..expect()
        };
        assert!(verdict(&rows, &quick).flat);
    }

    #[test]
    fn lines_show_the_span_and_each_node() {
        let mut r = row(10, 151.4, 12.34, 3);
        r.span = 5;
        r.database_bytes = 3 * 1024 * 1024;
        r.stream_events = 60_000;
        let text = line(&r);
        assert!(text.contains("5–10"), "{text}");
        assert!(text.contains("151/100"), "{text}");
        assert!(text.contains("3/0"), "{text}");
        assert!(text.contains(" 200 "), "{text}");
        assert_eq!(header(2).lines().count(), 1);
    }
}
