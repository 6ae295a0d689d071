//! The issues with the most events in a time range, without summing every issue's hours: the
//! walk of `sqlite/top_issues.rs`, in chunks so that each step is one round trip.
//!
//! An issue's count in any range is at most its `event_count`, so issues are read by
//! `event_count` (an index), their own hours summed a chunk at a time, and the walk stops once
//! the next issue's total is below the n-th best count: the answer is exact. When it would need
//! more than [`WALK_LIMIT`] issues (short ranges, where many heavy issues are quiet) the caller
//! sums the hours instead.

use std::collections::HashMap;

use time::OffsetDateTime;
use tokio_postgres::GenericClient;

use super::issues::{ISSUE_COLS, issue_row};
use super::map_err;
use crate::StoreResult;
use crate::query::IssueCount;
use crate::top_walk::{TopWalk, WALK_LIMIT};

/// Issues per round trip.
const CHUNK: i64 = 200;

/// The `n` issues of `project_id` with the most events in `[since_hour, until)`, ordered by
/// that count then id, both descending; `None` when the walk would take too long.
pub(super) async fn walk(
    conn: &impl GenericClient,
    project_id: i64,
    since_hour: OffsetDateTime,
    until: OffsetDateTime,
    n: usize,
) -> StoreResult<Option<Vec<IssueCount>>> {
    let mut top = TopWalk::new(n);
    let mut read = 0;
    // (event_count, id) of the last issue read: the walk goes on below it.
    let mut after = (i64::MAX, i64::MAX);
    'walk: loop {
        if read >= WALK_LIMIT {
            return Ok(None);
        }
        let chunk = conn
            .query(
                "SELECT id, event_count FROM issues WHERE project_id = $1 \
                 AND (event_count, id) < ($2, $3) ORDER BY event_count DESC, id DESC LIMIT $4",
                &[&project_id, &after.0, &after.1, &CHUNK],
            )
            .await
            .map_err(map_err)?;
        let Some(last) = chunk.last() else {
            break;
        };
        read += chunk.len();
        after = (last.get(1), last.get(0));
        let ids: Vec<i64> = chunk.iter().map(|r| r.get(0)).collect();
        let counts: HashMap<i64, i64> = conn
            .query(
                "SELECT issue_id, sum(count)::bigint FROM issue_hourly \
                 WHERE issue_id = ANY($1) AND hour >= $2 AND hour < $3 GROUP BY issue_id",
                &[&ids, &since_hour, &until],
            )
            .await
            .map_err(map_err)?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        for r in &chunk {
            let (id, total): (i64, i64) = (r.get(0), r.get(1));
            if top.done(total) {
                break 'walk;
            }
            top.offer(counts.get(&id).copied().unwrap_or(0), id);
        }
    }
    let best = top.into_best();
    let ids: Vec<i64> = best.iter().map(|&(_, id)| id).collect();
    let rows = conn
        .query(
            &format!("SELECT {ISSUE_COLS} FROM issues WHERE id = ANY($1)"),
            &[&ids],
        )
        .await
        .map_err(map_err)?;
    let mut issues: HashMap<i64, _> = rows
        .iter()
        .map(|r| issue_row(r).map(|i| (i.id, i)))
        .collect::<StoreResult<_>>()?;
    Ok(Some(
        best.into_iter()
            .filter_map(|(count, id)| issues.remove(&id).map(|issue| IssueCount { issue, count }))
            .collect(),
    ))
}
