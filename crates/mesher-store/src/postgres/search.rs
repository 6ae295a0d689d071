//! Full-text event search, newest first, as a bounded walk over the newest events before the
//! plain plan (issue 13).
//!
//! PostgreSQL estimates a `tsquery` of several words as if the words were independent: two
//! words that occur together in 2 % of a million events were estimated at 1,491 matching rows
//! instead of 22,301, so for a page of 50 it fetched and sorted every match (215 ms) instead of
//! walking the newest events until the page was full. Here the newest events are searched
//! first, in windows of ids: each window is a range of the `(project_id, id)` index, and its
//! search is written so that no index serves it (the planner cannot pick the bitmap plan
//! again), so its cost is bounded whatever the planner estimates. A small first window measures
//! how dense the matches are, a second one is sized from that density to fill the page, and
//! only if that would take more than [`WALK_BUDGET`] ids does the rest go to the plain plan
//! below the windows, which is the right plan for rare words. Windows are disjoint and
//! descending, so the rows are exactly those of the plain query.

use tokio_postgres::{GenericClient, Row};

use super::map_err;
use super::queries::Sql;
use crate::StoreResult;

/// Ids in the first window: enough to see a density of 0.1 %, cheap when nothing matches.
const FIRST_WINDOW: i64 = 1_000;

/// Most ids walked before the rest is left to the plain plan.
const WALK_BUDGET: i64 = 20_000;

/// The first `want` matches of `select` (a statement over `events e` whose `WHERE` the caller
/// has begun; its argument says whether the search may use the full-text index) below id
/// `below`, newest (highest id) first.
///
/// Windows are ranges of ids, which other projects' events share: a window of `w` ids holds at
/// most `w` of the project's events, so its cost is bounded either way, and densities are per
/// id.
pub(super) async fn newest_matches(
    conn: &impl GenericClient,
    project_id: i64,
    below: Option<i64>,
    want: usize,
    select: impl Fn(bool) -> Sql,
) -> StoreResult<Vec<Row>> {
    let mut hi = match below {
        Some(id) => id,
        None => {
            let newest: Option<i64> = conn
                .query_one(
                    "SELECT max(id) FROM events WHERE project_id = $1",
                    &[&project_id],
                )
                .await
                .map_err(map_err)?
                .get(0);
            match newest {
                Some(id) => id + 1,
                None => return Ok(Vec::new()),
            }
        }
    };
    let mut found: Vec<Row> = Vec::with_capacity(want);
    let mut walked = 0;
    let mut window = FIRST_WINDOW;
    loop {
        // Ids start at 1: a window reaching below that holds all the rest.
        let lo = hi.saturating_sub(window);
        let rows = query(conn, select(false), Some(lo), Some(hi), want - found.len()).await?;
        found.extend(rows);
        walked += hi - lo;
        if found.len() >= want || lo <= 1 {
            return Ok(found);
        }
        hi = lo;
        match next_window(found.len() as i64, walked, (want - found.len()) as i64) {
            Some(w) => window = w,
            None => break,
        }
    }
    let rest = query(conn, select(true), None, Some(hi), want - found.len()).await?;
    found.extend(rest);
    Ok(found)
}

/// The size of the next window, from the matches found in the ids walked so far, to find
/// `missing` more; `None` when the walk should stop (no match yet, or over budget).
fn next_window(found: i64, walked: i64, missing: i64) -> Option<i64> {
    if found == 0 {
        return None;
    }
    // Half as many ids again as the density predicts, so that one window usually does.
    let needed = (missing * walked + found - 1) / found * 3 / 2;
    (walked + needed <= WALK_BUDGET).then_some(needed.max(1))
}

/// The matches with ids in `[lo, hi)` (either end open), newest first, at most `limit`.
async fn query(
    conn: &impl GenericClient,
    mut sql: Sql,
    lo: Option<i64>,
    hi: Option<i64>,
    limit: usize,
) -> StoreResult<Vec<Row>> {
    if let Some(lo) = lo {
        sql.push(" AND e.id >= ?", vec![Box::new(lo)]);
    }
    if let Some(hi) = hi {
        sql.push(" AND e.id < ?", vec![Box::new(hi)]);
    }
    sql.push(&format!(" ORDER BY e.id DESC LIMIT {limit}"), vec![]);
    conn.query(&sql.text, &sql.refs()).await.map_err(map_err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_follow_the_density_and_stop_at_the_budget() {
        // 20 of the first 1,000 ids match (2 %): 31 more need about 1,550 ids, with margin.
        assert_eq!(next_window(20, 1_000, 31), Some(2_325));
        // Nothing matched: the plain plan, which suits rare words.
        assert_eq!(next_window(0, 1_000, 51), None);
        // 2 in 1,000: 49 more would need 24,500 ids, over the budget.
        assert_eq!(next_window(2, 1_000, 49), None);
    }
}
