//! Distinct users per issue (issue 12, row 8), the rules both backends share.
//!
//! An issue counts its users exactly, in a set of 64-bit identity hashes (`issue_users`, one
//! row per user, written insert-if-absent in the batch's transaction: the count grows by the
//! rows actually inserted), until it passes [`EXACT_LIMIT`] users. Then the set is drained
//! into a HyperLogLog sketch of 2^14 registers (`issues.users_hll`, so no user seen is lost)
//! and the count is the sketch's estimate, within 2 %. A batch costs one small row per new
//! user while exact and at most one 16 KiB sketch write per issue once sketched (none when no
//! register changed), never a blob per event.
//!
//! Issues from before migration V7 that have users hold a 256-register sketch whose users
//! cannot be recovered: they keep counting in it (close to the old estimate, never counting
//! anyone twice) rather than start an exact set from zero.

use crate::hll::Sketch;

/// Most users an issue counts exactly.
pub(crate) const EXACT_LIMIT: i64 = 10_000;

/// What an issue's user columns become after a batch; `None` leaves a column as it is.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct UsersUpdate {
    pub sketch: Option<Vec<u8>>,
    pub count: Option<i64>,
}

/// How a batch's users of one issue are to be counted.
#[derive(Debug)]
pub(crate) enum Plan {
    /// Nothing to do: no users in the batch.
    Nothing,
    /// The issue is sketched: the update is decided.
    Done(UsersUpdate),
    /// The issue counts exactly: insert these distinct hashes, then see [`after_insert`].
    Insert(Vec<u64>),
}

/// Plans the counting of `hashes` (with repeats) for an issue whose stored sketch is
/// `users_hll`.
pub(crate) fn plan(users_hll: Option<&[u8]>, hashes: &[u64]) -> Plan {
    if hashes.is_empty() {
        return Plan::Nothing;
    }
    // Bytes of no known sketch size cannot come from any version; the issue counts exactly
    // from its stored count on rather than fail every batch.
    match users_hll.and_then(Sketch::from_bytes) {
        Some(mut sketch) => {
            if sketch.add(hashes) {
                let count = sketch.estimate();
                Plan::Done(UsersUpdate {
                    sketch: Some(sketch.into_bytes()),
                    count: Some(count),
                })
            } else {
                Plan::Done(UsersUpdate::default())
            }
        }
        None => {
            let mut distinct = hashes.to_vec();
            distinct.sort_unstable();
            distinct.dedup();
            Plan::Insert(distinct)
        }
    }
}

/// What inserting `inserted` new users into an exact set of `before` users leads to.
#[derive(Debug, PartialEq)]
pub(crate) enum AfterInsert {
    /// Still exact: the new count.
    Count(UsersUpdate),
    /// Past the limit: drain the set and call [`sketched`] with its hashes.
    Sketch,
}

/// See [`AfterInsert`].
pub(crate) fn after_insert(before: i64, inserted: i64) -> AfterInsert {
    let count = before + inserted;
    if count > EXACT_LIMIT {
        AfterInsert::Sketch
    } else {
        AfterInsert::Count(UsersUpdate {
            sketch: None,
            count: (inserted > 0).then_some(count),
        })
    }
}

/// The update of an issue whose exact set (`hashes`, this batch's included) becomes a sketch.
pub(crate) fn sketched(hashes: &[u64]) -> UsersUpdate {
    let mut sketch = Sketch::new();
    sketch.add(hashes);
    let count = sketch.estimate();
    UsersUpdate {
        sketch: Some(sketch.into_bytes()),
        count: Some(count),
    }
}

/// A hash as the databases store it (a signed 64-bit integer, same bits).
pub(crate) fn to_db(hash: u64) -> i64 {
    hash as i64
}

/// A hash as stored, back.
pub(crate) fn from_db(hash: i64) -> u64 {
    hash as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_sets_turn_into_sketches_past_the_limit() {
        assert_eq!(
            after_insert(9_990, 10),
            AfterInsert::Count(UsersUpdate {
                sketch: None,
                count: Some(10_000)
            })
        );
        assert_eq!(
            after_insert(10_000, 0),
            AfterInsert::Count(UsersUpdate::default())
        );
        assert_eq!(after_insert(9_999, 2), AfterInsert::Sketch);
    }

    #[test]
    fn sketched_issues_never_go_back() {
        let hashes: Vec<u64> = (0..20)
            .map(|i| crate::hll::hash_user(&i.to_string()))
            .collect();
        let update = sketched(&hashes);
        assert_eq!(update.count, Some(20));
        let stored = update.sketch.unwrap();
        assert!(
            matches!(plan(Some(&stored), &hashes), Plan::Done(u) if u == UsersUpdate::default())
        );
        assert!(matches!(plan(None, &[3, 1, 3]), Plan::Insert(h) if h == [1, 3]));
        assert!(matches!(plan(Some(&stored), &[]), Plan::Nothing));
        assert_eq!(from_db(to_db(u64::MAX)), u64::MAX);
    }
}
