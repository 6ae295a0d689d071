//! Distinct users per issue on SQLite (the rules are in [`crate::users`]).

use rusqlite::{ToSql, Transaction};

use super::{map_err, multi_row};
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
    let rows: Vec<(i64, i64)> = distinct.into_iter().map(|h| (state.id, to_db(h))).collect();
    let values: Vec<&dyn ToSql> = rows
        .iter()
        .flat_map(|(id, h)| [id as &dyn ToSql, h])
        .collect();
    let inserted = multi_row::execute(
        tx,
        "INSERT INTO issue_users (issue_id, user_hash)",
        " ON CONFLICT DO NOTHING",
        2,
        &values,
    )?;
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
