//! The archive conditions shared by both backends (issue 12, rows 1 and 5): the volume an issue
//! archived until escalating is expected to stay under, and when any archive ends.
//!
//! Pure functions over plain values, like [`crate::lifecycle`], so that SQLite and PostgreSQL
//! cannot disagree and the rules can be tested with any clock.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::event_model::{Archive, ArchiveUntil};
use crate::lifecycle::hour_of;
use crate::time_util::to_millis;

const HOUR_MS: i64 = 3_600_000;
/// Hours of history a forecast looks at (Sentry: the last 7 days, hourly).
const FORECAST_HOURS: i64 = 7 * 24;
/// Hours in the average reported with an escalation.
const BASELINE_HOURS: i64 = 7 * 24;
/// The least expected volume. Sentry's floor (200 an hour for issues that never reached 30 in
/// an hour) is sized for its hosted volumes; on a self-hosted server an issue that was near
/// silent when archived comes back when more than 10 new events arrive within an hour, and
/// never on a single one.
const FLOOR: f64 = 10.0;

/// How far back hourly counts are needed, from `now`, to archive or to check an archive.
pub(crate) fn window_start(now: OffsetDateTime) -> i64 {
    hour_of(now) - (BASELINE_HOURS + 1) * HOUR_MS
}

/// The events an hour above which an issue escalates: a forecast from the hourly counts of the
/// week before `at`, after Sentry's `generate_issue_forecast` (version A). An issue younger than
/// a week gets 10 times its busiest hour; an older one the larger of its busiest hour times a
/// burstiness multiplier (2 to 5, lower for spikier series) and its average weighted towards
/// the same weekday plus 5 to 8 times its average. Sentry forecasts each of the next 14 days;
/// the only difference between those days is the weekday weighting, so Mesher keeps the
/// forecast of the day of archiving.
pub(crate) fn expected_volume(
    hours: &BTreeMap<i64, i64>,
    first_seen: OffsetDateTime,
    at: OffsetDateTime,
) -> f64 {
    let current = hour_of(at);
    let series: Vec<(i64, f64)> = (0..FORECAST_HOURS)
        .map(|i| {
            let h = current - i * HOUR_MS;
            (h, *hours.get(&h).unwrap_or(&0) as f64)
        })
        .collect();
    let max = series.iter().map(|(_, c)| *c).fold(0.0, f64::max);
    if max == 0.0 {
        return FLOOR;
    }
    if first_seen > at - time::Duration::days(7) {
        return FLOOR.max(10.0 * max);
    }
    let n = series.len() as f64;
    let avg = series.iter().map(|(_, c)| c).sum::<f64>() / n;
    let sd = (series.iter().map(|(_, c)| (c - avg).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
    let cv = sd / avg;
    let bursty = (5.0 * (-0.65 * cv).exp()).clamp(2.0, 5.0);
    let spike = ((avg + 5.0 * sd) / avg).clamp(5.0, 8.0);
    let weekday = at.weekday();
    let weight = |h: i64| {
        if crate::time_util::from_millis(h).weekday() == weekday {
            2.0
        } else {
            1.0
        }
    };
    let weights: f64 = series.iter().map(|(h, _)| weight(*h)).sum();
    let weighted = series.iter().map(|(h, c)| c * weight(*h)).sum::<f64>() / weights;
    FLOOR.max((max * bursty).max(weighted + spike * avg))
}

/// The archive of an issue archived at `at`: `hours` are its hourly counts from
/// [`window_start`], `events` and `users` its counts at that moment.
pub(crate) fn start(
    until: ArchiveUntil,
    at: OffsetDateTime,
    hours: &BTreeMap<i64, i64>,
    first_seen: OffsetDateTime,
    events: i64,
    users: i64,
) -> Archive {
    let mut archive = Archive {
        until,
        archived_at: at,
        expires_at: None,
        expected_volume: None,
        hours_at_archive: Vec::new(),
        window_start: None,
        counted_from: 0,
    };
    match until {
        ArchiveUntil::Escalating => {
            archive.expected_volume = Some(round2(expected_volume(hours, first_seen, at)));
            // The observed volume never looks further back than the previous hour.
            let current = hour_of(at);
            archive.hours_at_archive = [current - HOUR_MS, current]
                .into_iter()
                .filter_map(|h| hours.get(&h).map(|c| (h, *c)))
                .collect();
        }
        ArchiveUntil::Forever => {}
        ArchiveUntil::Duration { minutes } => {
            archive.expires_at = Some(at + time::Duration::minutes(minutes));
        }
        ArchiveUntil::EventCount { .. } => {
            archive.window_start = Some(at);
            archive.counted_from = events;
        }
        ArchiveUntil::UserCount { .. } => {
            archive.window_start = Some(at);
            archive.counted_from = users;
        }
    }
    archive
}

/// The archive of an issue archived before archives were recorded: until escalating, with the
/// floor as its expected volume.
pub(crate) fn legacy() -> Archive {
    Archive {
        until: ArchiveUntil::Escalating,
        archived_at: OffsetDateTime::UNIX_EPOCH,
        expires_at: None,
        expected_volume: Some(FLOOR),
        hours_at_archive: Vec::new(),
        window_start: None,
        counted_from: 0,
    }
}

/// What the activity log says about an archive.
pub(crate) fn archived_data(archive: &Archive) -> Value {
    let mut data = serde_json::to_value(archive.until).unwrap_or_else(|_| json!({}));
    if let Some(e) = archive.expected_volume {
        data["expected_volume"] = json!(e);
    }
    data
}

/// Whether an archive holds: with the issue's hourly counts (needed until escalating), its
/// event and user counts before and after the events just stored, at `now`. `Err` carries the
/// activity data of its end; `Ok` the archive to keep (its count window may have moved on).
pub(crate) fn check(
    archive: &Archive,
    hours: Option<&BTreeMap<i64, i64>>,
    counts: Counts,
    now: OffsetDateTime,
) -> Result<Archive, Value> {
    let mut next = archive.clone();
    match archive.until {
        ArchiveUntil::Forever => Ok(next),
        ArchiveUntil::Escalating => match hours.and_then(|h| escalation(h, archive, now)) {
            Some(data) => Err(data),
            None => Ok(next),
        },
        ArchiveUntil::Duration { minutes } => match archive.expires_at {
            Some(end) if now >= end => Err(json!({
                "reason": "duration",
                "minutes": minutes,
                "expires_at": rfc3339(end),
            })),
            _ => Ok(next),
        },
        ArchiveUntil::EventCount {
            count,
            window_minutes,
        }
        | ArchiveUntil::UserCount {
            count,
            window_minutes,
        } => {
            let (before, after, reason) = match archive.until {
                ArchiveUntil::EventCount { .. } => {
                    (counts.events_before, counts.events_after, "event_count")
                }
                _ => (counts.users_before, counts.users_after, "user_count"),
            };
            // Windows are fixed and consecutive, each starting with the first event after the
            // previous one ended: the counts are only kept per issue, as Sentry's tsdb keeps
            // them per time bucket, so a sliding window is approximated by a tumbling one.
            if let (Some(w), Some(start)) = (window_minutes, archive.window_start)
                && now >= start + time::Duration::minutes(w)
            {
                next.window_start = Some(now);
                next.counted_from = before;
            }
            let observed = after - next.counted_from;
            if observed >= count {
                Err(json!({
                    "reason": reason,
                    "count": count,
                    "window_minutes": window_minutes,
                    "observed": observed,
                }))
            } else {
                Ok(next)
            }
        }
    }
}

/// An issue's event and user counts around a batch of events.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Counts {
    pub events_before: i64,
    pub events_after: i64,
    pub users_before: i64,
    pub users_after: i64,
}

/// The escalation of an issue archived until escalating, as activity data: whether the events
/// of the last hour that arrived after the archive (the current hour plus the part of the
/// previous hour still within 60 minutes) exceed the expected volume.
fn escalation(hours: &BTreeMap<i64, i64>, archive: &Archive, now: OffsetDateTime) -> Option<Value> {
    let current = hour_of(now);
    let into_hour = (to_millis(now) - current) as f64 / HOUR_MS as f64;
    let before: BTreeMap<i64, i64> = archive.hours_at_archive.iter().copied().collect();
    let count =
        |h: i64| (*hours.get(&h).unwrap_or(&0) - *before.get(&h).unwrap_or(&0)).max(0) as f64;
    let observed = count(current) + count(current - HOUR_MS) * (1.0 - into_hour);
    let expected = archive.expected_volume.unwrap_or(FLOOR);
    if observed <= expected {
        return None;
    }
    let baseline: f64 = hours
        .range(current - (BASELINE_HOURS + 1) * HOUR_MS..current - HOUR_MS)
        .map(|(_, c)| *c as f64)
        .sum();
    // Adding 0.0 turns the -0.0 that summing nothing gives into 0.0, which the activity log
    // showed as "-0.0" (issue 12, row 14).
    let last_hour = observed.round() + 0.0;
    Some(json!({
        "reason": "volume",
        "last_hour": last_hour,
        "hourly_average": round2(baseline / BASELINE_HOURS as f64) + 0.0,
        "observed_volume": last_hour,
        "expected_volume": expected,
    }))
}

fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    fn hours(pairs: &[(OffsetDateTime, i64)]) -> BTreeMap<i64, i64> {
        let mut m = BTreeMap::new();
        for (t, c) in pairs {
            *m.entry(hour_of(*t)).or_default() += c;
        }
        m
    }

    fn archived(h: &BTreeMap<i64, i64>, first_seen: OffsetDateTime, at: OffsetDateTime) -> Archive {
        start(ArchiveUntil::Escalating, at, h, first_seen, 0, 0)
    }

    /// Issue 12, row 14: no history gives an average of 0, never "-0.0".
    #[test]
    fn an_empty_history_records_a_zero_average() {
        let now = datetime!(2026-11-23 12:30 UTC);
        let a = archived(&BTreeMap::new(), now, now);
        let data = escalation(&hours(&[(now, 20)]), &a, now).expect("a spike");
        assert_eq!(data["hourly_average"].to_string(), "0.0");
        assert_eq!(data["last_hour"], 20.0);
        assert_eq!(data["expected_volume"], 10.0);
    }

    /// Issue 12, row 1: the noise that made you archive raises the bar, and does not count.
    #[test]
    fn the_volume_before_the_archive_sets_the_bar_and_is_not_observed() {
        let at = datetime!(2026-11-23 12:30 UTC);
        let h = hours(&[(at, 30)]);
        let a = archived(&h, at, at);
        assert_eq!(
            a.expected_volume,
            Some(300.0),
            "10 × the busiest hour of a young issue"
        );
        assert_eq!(a.hours_at_archive, vec![(hour_of(at), 30)]);
        let later = at + time::Duration::minutes(5);
        assert!(escalation(&hours(&[(at, 31)]), &a, later).is_none());
        assert!(escalation(&hours(&[(at, 330)]), &a, later).is_none());
        let data = escalation(&hours(&[(at, 331)]), &a, later).expect("301 new events");
        assert_eq!(data["observed_volume"], 301.0);
        assert_eq!(data["expected_volume"], 300.0);
    }

    #[test]
    fn a_quiet_issue_escalates_over_the_floor_only() {
        let at = datetime!(2026-11-23 12:30 UTC);
        let a = archived(&BTreeMap::new(), at - time::Duration::days(30), at);
        assert_eq!(a.expected_volume, Some(FLOOR));
        assert!(
            escalation(&hours(&[(at, 10)]), &a, at).is_none(),
            "10 is not more than 10"
        );
        assert!(escalation(&hours(&[(at, 11)]), &a, at).is_some());
        // Half of the previous hour still counts at half past.
        let prev = at - time::Duration::hours(1);
        assert!(escalation(&hours(&[(at, 6), (prev, 12)]), &a, at).is_some());
    }

    #[test]
    fn an_old_steady_issue_gets_a_forecast() {
        // Sunday 2026-11-01 10:30: 10 events an hour in the week before, none in the last two
        // hours.
        let at = datetime!(2026-11-01 10:30 UTC);
        let pairs: Vec<_> = (2..=169)
            .map(|h| (at - time::Duration::hours(h), 10))
            .collect();
        let e = expected_volume(&hours(&pairs), at - time::Duration::hours(169), at);
        // avg 1660/168, a low variation: 5 × avg plus the weekday-weighted average (1880/192).
        let avg = 1660.0 / 168.0;
        assert!((e - (5.0 * avg + 1880.0 / 192.0)).abs() < 1e-9, "{e}");
    }

    #[test]
    fn count_windows_restart_after_they_end() {
        let at = datetime!(2026-11-23 12:00 UTC);
        let until = ArchiveUntil::EventCount {
            count: 3,
            window_minutes: Some(60),
        };
        let a = start(until, at, &BTreeMap::new(), at, 5, 0);
        let counts = |before, after| Counts {
            events_before: before,
            events_after: after,
            ..Counts::default()
        };
        let a = check(&a, None, counts(5, 7), at + time::Duration::minutes(10)).unwrap();
        // The window ended: the two events before do not count in the next one.
        let later = at + time::Duration::minutes(70);
        let a = check(&a, None, counts(7, 9), later).unwrap();
        assert_eq!((a.window_start, a.counted_from), (Some(later), 7));
        let ended = check(&a, None, counts(9, 10), later).unwrap_err();
        assert_eq!(ended["reason"], "event_count");
        assert_eq!(ended["observed"], 3);
    }
}
