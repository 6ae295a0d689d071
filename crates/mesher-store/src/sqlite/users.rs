//! Distinct users per issue on SQLite (the rules are in [`crate::users`]).

use rusqlite::{Transaction, params};

use super::map_err;
use crate::StoreResult;
use crate::lifecycle::IssueState;
use crate::users::{AfterInsert, Plan, UsersUpdate, after_insert, from_db, plan, sketched, to_db};

/// Counts a batch's users of one issue (`hashes`, repeats included) in the batch's
/// transaction, and says what the issue's user columns become.
pub(super) fn count_users(
    tx: &Transaction<'_>,
    state: &IssueState,
    hashes: &[u64],
) -> StoreResult<UsersUpdate> {
    let distinct = match plan(state.users_hll.as_deref(), hashes) {
        Plan::Nothing => return Ok(UsersUpdate::default()),
        Plan::Done(update) => return Ok(update),
        Plan::Insert(distinct) => distinct,
    };
    let mut insert = tx
        .prepare_cached(
            "INSERT INTO issue_users (issue_id, user_hash) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
        )
        .map_err(map_err)?;
    let mut inserted = 0;
    for h in distinct {
        inserted += insert
            .execute(params![state.id, to_db(h)])
            .map_err(map_err)?;
    }
    match after_insert(state.user_count, inserted as i64) {
        AfterInsert::Count(update) => Ok(update),
        AfterInsert::Sketch => {
            let all = tx
                .prepare_cached("DELETE FROM issue_users WHERE issue_id = ?1 RETURNING user_hash")
                .map_err(map_err)?
                .query_map([state.id], |r| r.get::<_, i64>(0).map(from_db))
                .and_then(Iterator::collect::<rusqlite::Result<Vec<u64>>>)
                .map_err(map_err)?;
            Ok(sketched(&all))
        }
    }
}
