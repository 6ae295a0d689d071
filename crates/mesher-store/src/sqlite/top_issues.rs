//! The issues with the most events in a time range, without summing every issue's hours.
//!
//! Summing `issue_hourly` over a month of a busy project reads every (issue, hour) pair in it:
//! half a second for a million events in 50k issues. An issue's count in any range is at most
//! its `event_count`, so walking issues by `event_count` (an index) and summing only their own
//! hours can stop as soon as the next issue's total is below the n-th best count found: the
//! answer is exact. On long ranges that happens within a few dozen issues; on short ones many
//! heavy issues may be quiet, so the walk gives up after [`WALK_LIMIT`] issues and the caller
//! sums the hours instead.

use rusqlite::{Connection, params};

use super::issues::{ISSUE_COLS, issue, issue_row};
use super::map_err;
use crate::StoreResult;
use crate::query::IssueCount;
use crate::top_walk::{TopWalk, WALK_LIMIT};

/// The `n` issues of `project_id` with the most events in `[since_hour, until)` (ms), ordered
/// by that count then id, both descending; `None` when the walk would take too long.
pub(super) fn walk(
    c: &Connection,
    project_id: i64,
    since_hour: i64,
    until: i64,
    n: usize,
) -> StoreResult<Option<Vec<IssueCount>>> {
    let mut by_total = c
        .prepare_cached(
            "SELECT id, event_count, first_seen, last_seen FROM issues WHERE project_id = ?1 \
             ORDER BY event_count DESC, id DESC",
        )
        .map_err(map_err)?;
    let mut in_range = c
        .prepare_cached(
            "SELECT coalesce(sum(count), 0) FROM issue_hourly \
             WHERE issue_id = ?1 AND hour >= ?2 AND hour < ?3",
        )
        .map_err(map_err)?;
    let mut top = TopWalk::new(n);
    let mut summed = 0;
    let mut rows = by_total.query(params![project_id]).map_err(map_err)?;
    while let Some(r) = rows.next().map_err(map_err)? {
        let (id, total, first_seen, last_seen): (i64, i64, i64, i64) = (
            r.get(0).map_err(map_err)?,
            r.get(1).map_err(map_err)?,
            r.get(2).map_err(map_err)?,
            r.get(3).map_err(map_err)?,
        );
        if top.done(total) {
            break;
        }
        // Seen only outside the range: nothing to sum.
        if last_seen < since_hour || first_seen >= until {
            continue;
        }
        summed += 1;
        if summed > WALK_LIMIT {
            return Ok(None);
        }
        let count: i64 = in_range
            .query_row(params![id, since_hour, until], |r| r.get(0))
            .map_err(map_err)?;
        top.offer(count, id);
    }
    drop(rows);
    let mut row = c
        .prepare_cached(&format!("SELECT {ISSUE_COLS} FROM issues WHERE id = ?1"))
        .map_err(map_err)?;
    top.into_best()
        .into_iter()
        .map(|(count, id)| {
            let raw = row.query_row(params![id], issue_row).map_err(map_err)?;
            Ok(IssueCount {
                issue: issue(raw)?,
                count,
            })
        })
        .collect::<StoreResult<Vec<_>>>()
        .map(Some)
}
