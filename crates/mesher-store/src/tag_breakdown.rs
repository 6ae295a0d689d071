//! The project-wide breakdown of a tag's values over a time range (`GET …/stats/tags`), exact,
//! as both backends compute it (issue 13).
//!
//! `project_tag_hourly` holds each hour's tag values, so whole hours cost one row per value and
//! hour however many events they had. A range rarely starts or ends on the hour: each partial
//! hour at an end is split by the range's bound into the part inside the range and the part
//! outside it, and the backend reads the tags of whichever part has fewer events: the inside
//! part is added to the whole hours; or the hour is taken whole from the rollup and the outside
//! part subtracted. So at most half an hour of events is read at each end, and nothing at an
//! end where no event lies outside (the usual range ending now).

use std::collections::HashMap;

use crate::lifecycle::hour_of;
use crate::time_util::{from_millis, to_millis};
use time::OffsetDateTime;

const HOUR_MS: i64 = 3_600_000;

/// A time span `[from, to)` in milliseconds.
pub(crate) type Span = (i64, i64);

/// The partial hour at one end of a range, split by the range's bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Edge {
    /// The part of the hour inside the range.
    pub inside: Span,
    /// The part of the hour outside the range.
    pub outside: Span,
}

/// How a range is read: whole hours from the rollup, then its partial hours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Plan {
    /// The range lies within one hour and touches neither of its ends: its events alone.
    Events(Span),
    /// The rollup's hours in `whole`, and the partial hour before and after them, if any.
    Hours {
        /// Hour starts `[from, to)`.
        whole: Span,
        /// The partial hour just before `whole`.
        head: Option<Edge>,
        /// The partial hour just after `whole`.
        tail: Option<Edge>,
    },
}

/// The plan for `[since, until)`.
pub(crate) fn plan(since: OffsetDateTime, until: OffsetDateTime) -> Plan {
    let (since, until) = (to_millis(since), to_millis(until).max(to_millis(since)));
    let first = ceil_hour(since);
    let last = hour_of(from_millis(until));
    if first > last {
        return Plan::Events((since, until));
    }
    Plan::Hours {
        whole: (first, last),
        head: (since < first).then_some(Edge {
            inside: (since, first),
            outside: (first - HOUR_MS, since),
        }),
        tail: (until > last).then_some(Edge {
            inside: (last, until),
            outside: (until, last + HOUR_MS),
        }),
    }
}

/// How an edge is read, given the events in its two parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EdgeRead {
    /// Add the tags of the events in this span.
    Add(Span),
    /// Take the hour from the rollup and subtract the tags of the events in this span (none
    /// to read when the span is empty of events).
    Subtract(Span),
}

impl Edge {
    /// Reads the part with fewer events (`inside`, `outside`: their numbers of events).
    pub(crate) fn read(self, inside: i64, outside: i64) -> EdgeRead {
        if outside < inside {
            EdgeRead::Subtract(self.outside)
        } else {
            EdgeRead::Add(self.inside)
        }
    }
}

/// The rollup's hours once the edges' choices are known: an edge read by subtraction is a
/// whole hour of the rollup.
pub(crate) fn rollup_hours(whole: Span, head: Option<EdgeRead>, tail: Option<EdgeRead>) -> Span {
    let from = match head {
        Some(EdgeRead::Subtract(_)) => whole.0 - HOUR_MS,
        _ => whole.0,
    };
    let to = match tail {
        Some(EdgeRead::Subtract(_)) => whole.1 + HOUR_MS,
        _ => whole.1,
    };
    (from, to)
}

/// Adds `counts` into `total`, negated when `subtract`.
pub(crate) fn merge(
    total: &mut HashMap<String, i64>,
    counts: impl IntoIterator<Item = (String, i64)>,
    subtract: bool,
) {
    for (value, n) in counts {
        *total.entry(value).or_default() += if subtract { -n } else { n };
    }
}

/// The first hour boundary at or after `ms`.
fn ceil_hour(ms: i64) -> i64 {
    let floor = ms - ms.rem_euclid(HOUR_MS);
    if floor == ms { ms } else { floor + HOUR_MS }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    fn ms(t: OffsetDateTime) -> i64 {
        to_millis(t)
    }

    #[test]
    fn whole_hours_and_both_edges() {
        let p = plan(
            datetime!(2026-11-01 10:20 UTC),
            datetime!(2026-11-01 13:05 UTC),
        );
        assert_eq!(
            p,
            Plan::Hours {
                whole: (
                    ms(datetime!(2026-11-01 11:00 UTC)),
                    ms(datetime!(2026-11-01 13:00 UTC))
                ),
                head: Some(Edge {
                    inside: (
                        ms(datetime!(2026-11-01 10:20 UTC)),
                        ms(datetime!(2026-11-01 11:00 UTC))
                    ),
                    outside: (
                        ms(datetime!(2026-11-01 10:00 UTC)),
                        ms(datetime!(2026-11-01 10:20 UTC))
                    ),
                }),
                tail: Some(Edge {
                    inside: (
                        ms(datetime!(2026-11-01 13:00 UTC)),
                        ms(datetime!(2026-11-01 13:05 UTC))
                    ),
                    outside: (
                        ms(datetime!(2026-11-01 13:05 UTC)),
                        ms(datetime!(2026-11-01 14:00 UTC))
                    ),
                }),
            }
        );
    }

    #[test]
    fn bounds_on_the_hour_have_no_edges() {
        let p = plan(
            datetime!(2026-11-01 10:00 UTC),
            datetime!(2026-11-01 12:00 UTC),
        );
        assert!(matches!(
            p,
            Plan::Hours {
                head: None,
                tail: None,
                ..
            }
        ));
    }

    #[test]
    fn inside_one_hour_reads_events() {
        let p = plan(
            datetime!(2026-11-01 10:20 UTC),
            datetime!(2026-11-01 10:50 UTC),
        );
        assert_eq!(
            p,
            Plan::Events((
                ms(datetime!(2026-11-01 10:20 UTC)),
                ms(datetime!(2026-11-01 10:50 UTC))
            ))
        );
        // Touching the hour's end: the head edge alone, no whole hour.
        let p = plan(
            datetime!(2026-11-01 10:20 UTC),
            datetime!(2026-11-01 11:00 UTC),
        );
        assert!(matches!(p, Plan::Hours { whole: (a, b), head: Some(_), tail: None } if a == b));
    }

    #[test]
    fn the_smaller_part_is_read_and_subtraction_widens_the_hours() {
        let e = Edge {
            inside: (10, 20),
            outside: (0, 10),
        };
        assert_eq!(e.read(5, 7), EdgeRead::Add((10, 20)));
        assert_eq!(e.read(5, 5), EdgeRead::Add((10, 20)));
        assert_eq!(e.read(5, 0), EdgeRead::Subtract((0, 10)));
        let whole = (HOUR_MS, 3 * HOUR_MS);
        assert_eq!(
            rollup_hours(
                whole,
                Some(EdgeRead::Subtract((0, 1))),
                Some(EdgeRead::Subtract((0, 1)))
            ),
            (0, 4 * HOUR_MS)
        );
        assert_eq!(
            rollup_hours(whole, Some(EdgeRead::Add((0, 1))), None),
            whole
        );
    }

    #[test]
    fn merging_subtracts() {
        let mut total = HashMap::new();
        merge(
            &mut total,
            [("a".to_string(), 5), ("b".to_string(), 1)],
            false,
        );
        merge(
            &mut total,
            [("a".to_string(), 2), ("b".to_string(), 1)],
            true,
        );
        assert_eq!(total["a"], 3);
        assert_eq!(total["b"], 0);
    }
}
