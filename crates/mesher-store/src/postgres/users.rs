//! Distinct users per issue on PostgreSQL (the rules are in [`crate::users`]).

use std::collections::HashMap;

use deadpool_postgres::Transaction;

use super::map_err;
use crate::StoreResult;
use crate::lifecycle::IssueState;
use crate::users::{AfterInsert, Plan, UsersUpdate, after_insert, from_db, plan, sketched, to_db};

const INSERT_USERS: &str = "INSERT INTO issue_users (issue_id, user_hash) \
     SELECT * FROM UNNEST($1::bigint[], $2::bigint[]) ON CONFLICT DO NOTHING RETURNING issue_id";
const DRAIN_USERS: &str =
    "DELETE FROM issue_users WHERE issue_id = ANY($1) RETURNING issue_id, user_hash";

/// Counts a batch's users (per issue, hashes with repeats) in the batch's transaction: one
/// statement for every exact set, one more in the rare batch that moves issues to sketches.
/// Answers what each issue's user columns become.
pub(super) async fn count_users(
    tx: &Transaction<'_>,
    issues: &[(&IssueState, &[u64])],
) -> StoreResult<HashMap<i64, UsersUpdate>> {
    let mut updates = HashMap::new();
    let mut ids = Vec::new();
    let mut hashes = Vec::new();
    let mut exact = Vec::new();
    for (state, batch) in issues {
        match plan(state.users_hll.as_deref(), batch) {
            Plan::Nothing => {}
            Plan::Done(update) => {
                updates.insert(state.id, update);
            }
            Plan::Insert(distinct) => {
                exact.push(*state);
                for h in distinct {
                    ids.push(state.id);
                    hashes.push(to_db(h));
                }
            }
        }
    }
    if exact.is_empty() {
        return Ok(updates);
    }
    let stmt = tx.prepare_cached(INSERT_USERS).await.map_err(map_err)?;
    let mut inserted: HashMap<i64, i64> = HashMap::new();
    for row in tx.query(&stmt, &[&ids, &hashes]).await.map_err(map_err)? {
        *inserted.entry(row.get(0)).or_default() += 1;
    }
    let mut full = Vec::new();
    for state in exact {
        let n = inserted.get(&state.id).copied().unwrap_or_default();
        match after_insert(state.user_count, n) {
            AfterInsert::Count(update) => {
                updates.insert(state.id, update);
            }
            AfterInsert::Sketch => full.push(state.id),
        }
    }
    if !full.is_empty() {
        let stmt = tx.prepare_cached(DRAIN_USERS).await.map_err(map_err)?;
        let mut drained: HashMap<i64, Vec<u64>> = HashMap::new();
        for row in tx.query(&stmt, &[&full]).await.map_err(map_err)? {
            drained
                .entry(row.get(0))
                .or_default()
                .push(from_db(row.get(1)));
        }
        for id in full {
            let all = drained.remove(&id).unwrap_or_default();
            updates.insert(id, sketched(&all));
        }
    }
    Ok(updates)
}
