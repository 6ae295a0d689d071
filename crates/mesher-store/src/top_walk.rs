//! The bookkeeping of the top-issues walk both backends run (`{sqlite,postgres}/top_issues.rs`):
//! when it is worth walking, the best `n` (count in range, issue id) pairs seen so far, and when
//! the walk may stop.

use time::OffsetDateTime;

/// Issues whose hours a walk may sum before it hands over to the plain aggregate (short
/// ranges, where many heavy issues are quiet, would take longer to walk than to sum).
pub(crate) const WALK_LIMIT: usize = 2000;

/// Whether a range is long enough for the walk: within a couple of days few hours are summed
/// anyway, beyond them the walk finishes early.
pub(crate) fn worth_walking(since: OffsetDateTime, until: OffsetDateTime) -> bool {
    until - since > time::Duration::days(2)
}

/// The best `n` issues found so far, best first (count, then id, both descending).
pub(crate) struct TopWalk {
    n: usize,
    best: Vec<(i64, i64)>,
}

impl TopWalk {
    pub(crate) fn new(n: usize) -> TopWalk {
        TopWalk {
            n,
            best: Vec::with_capacity(n + 1),
        }
    }

    /// Whether no issue with at most `total` events overall can enter the top any more: the
    /// walk visits issues by total, so it stops here.
    pub(crate) fn done(&self, total: i64) -> bool {
        self.best.len() == self.n && self.best.last().is_some_and(|&(worst, _)| total < worst)
    }

    /// Considers issue `id` with `count` events in the range.
    pub(crate) fn offer(&mut self, count: i64, id: i64) {
        if count == 0 {
            return;
        }
        let at = self.best.partition_point(|&(c, i)| (c, i) > (count, id));
        if at < self.n {
            self.best.insert(at, (count, id));
            self.best.truncate(self.n);
        }
    }

    /// The (count, id) pairs, best first.
    pub(crate) fn into_best(self) -> Vec<(i64, i64)> {
        self.best
    }
}
