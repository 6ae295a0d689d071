//! The weekly partitions of `events` (migration V16; RETAIN-01, RETAIN-02): created ahead of
//! time and dropped whole once every project's retention has passed them.
//!
//! A partition holds the events of one week, Monday 00:00 UTC to the next, and is named
//! `events_pYYYYMMDD` after its Monday: the name is how its range is known here. Events outside
//! every week go to `events_default`, so an insert never fails.
//!
//! The weeks that exist are the current one, [`AHEAD_WEEKS`] after it and, back to the longest
//! retention but at most [`BACK_WEEKS`], the ones before it: events arrive late (an SDK's
//! offline queue, a clock set wrong, an import), and in their own week they go with it, where
//! in the default partition they could only be deleted row by row, their space kept by
//! PostgreSQL for reuse rather than given back. Further back, more partitions would cost every
//! query that does not select by time (most of them: by project, issue or id) more than the
//! rare event that old saves.
//!
//! Each partition is created or dropped in a transaction of its own, short, under
//! [`LOCK_TIMEOUT`] and an advisory lock that keeps two nodes from doing it at once:
//!
//! - Creating builds a standalone table and attaches it, which takes only a SHARE UPDATE
//!   EXCLUSIVE lock on `events` (ingestion and reads go on), though the key to `issues` locks
//!   that table against updates (SHARE ROW EXCLUSIVE) and the default partition is locked while
//!   PostgreSQL checks that it holds no row of the new range, for the instant it takes. Should
//!   the default partition hold such rows (a week created after events of it arrived, as with
//!   a clock that jumped), they are moved into the new partition first: the attach would fail
//!   otherwise.
//! - Dropping takes the partition's events off their projects' figures and drops it: an ACCESS
//!   EXCLUSIVE lock on `events` for an instant, instead of deleting the rows one by one. The
//!   partition is locked against writes while its events are counted (a write of an event that
//!   old waits that long).
//!
//! [`LOCK_TIMEOUT`] is shorter than PostgreSQL's default `deadlock_timeout` (1 s): should the
//! upkeep and a writer wait on each other, the upkeep gives up first, and the writer's batch
//! goes through. A step that times out is left to the next call ([`Upkeep::more`]).

use time::{Date, Duration, OffsetDateTime, UtcOffset};
use tokio_postgres::GenericClient;
use tokio_postgres::error::SqlState;

use super::{PostgresStore, map_err};
use crate::StoreResult;
use crate::retention::Upkeep;

/// Weeks created ahead of the current one.
pub(super) const AHEAD_WEEKS: i64 = 4;

/// Weeks before the current one created at most: the default retention's (90 days).
const BACK_WEEKS: i64 = 13;

/// How long a step waits for a lock before giving up until the next call.
const LOCK_TIMEOUT: &str = "500ms";

/// The partition that takes the events of no week.
const DEFAULT_PARTITION: &str = "events_default";

/// Partition names: this prefix and the Monday as `YYYYMMDD`.
const PREFIX: &str = "events_p";

/// A partition's width.
const WEEK: Duration = Duration::weeks(1);

/// One weekly partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Partition {
    /// Its first instant: a Monday, 00:00 UTC.
    pub start: OffsetDateTime,
}

impl Partition {
    /// The partition of the week holding `t`.
    pub fn of(t: OffsetDateTime) -> Partition {
        let date = t.to_offset(UtcOffset::UTC).date();
        let monday = date - Duration::days(i64::from(date.weekday().number_days_from_monday()));
        Partition {
            start: monday.midnight().assume_utc(),
        }
    }

    /// The partition a table name stands for, if it is one.
    pub fn from_name(name: &str) -> Option<Partition> {
        let digits = name.strip_prefix(PREFIX)?;
        if digits.len() != 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let year: i32 = digits[..4].parse().ok()?;
        let month: u8 = digits[4..6].parse().ok()?;
        let day: u8 = digits[6..].parse().ok()?;
        let date = Date::from_calendar_date(year, month.try_into().ok()?, day).ok()?;
        let p = Partition::of(date.midnight().assume_utc());
        (p.start.date() == date).then_some(p)
    }

    /// Its table's name.
    pub fn name(&self) -> String {
        let d = self.start.date();
        format!(
            "{PREFIX}{:04}{:02}{:02}",
            d.year(),
            u8::from(d.month()),
            d.day()
        )
    }

    /// The first instant after it.
    pub fn end(&self) -> OffsetDateTime {
        self.start + WEEK
    }

    /// The week `n` weeks after it (before it when negative).
    fn plus(&self, n: i64) -> Partition {
        Partition {
            start: self.start + Duration::weeks(n),
        }
    }
}

/// A bound of a range as SQL text (DDL takes no parameters).
fn literal(t: OffsetDateTime) -> String {
    let t = t.to_offset(UtcOffset::UTC);
    let (d, h) = (t.date(), t.time());
    format!(
        "'{:04}-{:02}-{:02} {:02}:{:02}:{:02}+00'",
        d.year(),
        u8::from(d.month()),
        d.day(),
        h.hour(),
        h.minute(),
        h.second()
    )
}

/// The weekly partitions of `events` (not the default one), oldest first.
pub(super) async fn partitions(c: &impl GenericClient) -> StoreResult<Vec<Partition>> {
    let rows = c
        .query(
            "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
             WHERE i.inhparent = 'events'::regclass",
            &[],
        )
        .await
        .map_err(map_err)?;
    let mut out: Vec<Partition> = rows
        .iter()
        .filter_map(|r| Partition::from_name(r.get(0)))
        .collect();
    out.sort_by_key(|p| p.start);
    Ok(out)
}

/// What one step did.
enum Step {
    /// Created or dropped.
    Done,
    /// Nothing to do: another node did it already.
    Gone,
    /// A lock was not to be had in time, or another node is at work: try again later.
    Busy,
}

/// The weeks that should exist at `now`, the most needed first: the current one, those ahead,
/// then those before it back to `keep_after`'s (at most [`BACK_WEEKS`]).
fn wanted(now: OffsetDateTime, keep_after: OffsetDateTime) -> Vec<Partition> {
    let current = Partition::of(now);
    (0..=AHEAD_WEEKS)
        .chain((1..=BACK_WEEKS).map(|n| -n))
        .map(|n| current.plus(n))
        .filter(|w| w.end() > keep_after)
        .collect()
}

/// One step of the storage upkeep: the [`wanted`] weeks exist, and the weeks that end at or
/// before `keep_after` are gone.
pub(super) async fn upkeep(
    store: &PostgresStore,
    now: OffsetDateTime,
    keep_after: OffsetDateTime,
) -> StoreResult<Upkeep> {
    let mut conn = store.conn().await?;
    let existing = partitions(&**conn).await?;
    let mut out = Upkeep::default();
    for week in wanted(now, keep_after) {
        if !existing.contains(&week) {
            match create(&mut conn, &week).await? {
                Step::Done => out.created.push(week.name()),
                Step::Gone => {}
                Step::Busy => {
                    out.more = true;
                    return Ok(out);
                }
            }
        }
    }
    for p in existing.iter().filter(|p| p.end() <= keep_after) {
        match drop_expired(&mut conn, p).await? {
            Step::Done => out.dropped.push(p.name()),
            Step::Gone => {}
            Step::Busy => {
                out.more = true;
                break;
            }
        }
    }
    Ok(out)
}

/// Starts a step's transaction: a short lock timeout and the upkeep's advisory lock, which is
/// per schema (so that separate schemas of one database do not wait on each other). `None`
/// when another session holds the lock.
async fn begin(
    conn: &mut deadpool_postgres::Object,
) -> StoreResult<Option<deadpool_postgres::Transaction<'_>>> {
    let tx = conn.transaction().await.map_err(map_err)?;
    tx.batch_execute(&format!("SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
        .await
        .map_err(map_err)?;
    let locked: bool = tx
        .query_one(
            "SELECT pg_try_advisory_xact_lock(x'6d657368'::int, hashtext(current_schema()))",
            &[],
        )
        .await
        .map_err(map_err)?
        .get(0);
    Ok(locked.then_some(tx))
}

/// Whether a table of this name exists in the schema.
async fn exists(c: &impl GenericClient, name: &str) -> StoreResult<bool> {
    c.query_one("SELECT to_regclass($1) IS NOT NULL", &[&name])
        .await
        .map_err(map_err)
        .map(|r| r.get(0))
}

/// A lock timeout ends the step without an error: the next call tries again.
fn busy(e: tokio_postgres::Error) -> StoreResult<Step> {
    if e.code() == Some(&SqlState::LOCK_NOT_AVAILABLE) {
        Ok(Step::Busy)
    } else {
        Err(map_err(e))
    }
}

/// Creates the partition of `week`, moving into it any row the default partition holds of it.
async fn create(conn: &mut deadpool_postgres::Object, week: &Partition) -> StoreResult<Step> {
    let Some(tx) = begin(conn).await? else {
        return Ok(Step::Busy);
    };
    let name = week.name();
    if exists(&*tx, &name).await? {
        return Ok(Step::Gone);
    }
    let (from, to) = (literal(week.start), literal(week.end()));
    // LIKE copies the columns, their NOT NULL and the payload's EXTERNAL storage; the attach
    // adds the indexes and the key to issues, as the partitions of the migration have them.
    let sql = format!(
        "CREATE TABLE {name} (LIKE events INCLUDING STORAGE); \
         WITH moved AS (DELETE FROM {DEFAULT_PARTITION} \
             WHERE timestamp >= {from} AND timestamp < {to} RETURNING *) \
         INSERT INTO {name} SELECT * FROM moved; \
         ALTER TABLE events ATTACH PARTITION {name} FOR VALUES FROM ({from}) TO ({to})"
    );
    if let Err(e) = tx.batch_execute(&sql).await {
        return busy(e);
    }
    match tx.commit().await {
        Ok(()) => Ok(Step::Done),
        Err(e) => busy(e),
    }
}

/// Drops a partition that retention has wholly passed, taking its events off their projects'
/// counts and bytes and marking them expired up to its end, in one transaction.
async fn drop_expired(conn: &mut deadpool_postgres::Object, p: &Partition) -> StoreResult<Step> {
    let Some(tx) = begin(conn).await? else {
        return Ok(Step::Busy);
    };
    let name = p.name();
    if !exists(&*tx, &name).await? {
        return Ok(Step::Gone);
    }
    // No event enters or leaves the partition between its count and its drop. The drop comes
    // before the projects' update: a writer updates projects after inserting events, so once
    // `events` is locked no writer holds a project's row (the locks are taken in its order).
    if let Err(e) = tx
        .batch_execute(&format!("LOCK TABLE {name} IN SHARE MODE"))
        .await
    {
        return busy(e);
    }
    let rows = tx
        .query(
            &format!(
                "SELECT project_id, count(*), coalesce(sum(bytes), 0)::bigint FROM {name} \
                 GROUP BY project_id"
            ),
            &[],
        )
        .await
        .map_err(map_err)?;
    if let Err(e) = tx.batch_execute(&format!("DROP TABLE {name}")).await {
        return busy(e);
    }
    let ids: Vec<i64> = rows.iter().map(|r| r.get(0)).collect();
    let counts: Vec<i64> = rows.iter().map(|r| r.get(1)).collect();
    let bytes: Vec<i64> = rows.iter().map(|r| r.get(2)).collect();
    let updated = tx
        .execute(
            "UPDATE projects p SET event_count = p.event_count - u.n, \
               storage_bytes = p.storage_bytes - u.b, \
               events_expired_before = greatest(p.events_expired_before, $4) \
             FROM UNNEST($1::bigint[], $2::bigint[], $3::bigint[]) AS u(id, n, b) \
             WHERE p.id = u.id",
            &[&ids, &counts, &bytes, &p.end()],
        )
        .await;
    if let Err(e) = updated {
        return busy(e);
    }
    match tx.commit().await {
        Ok(()) => Ok(Step::Done),
        Err(e) => busy(e),
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn weeks_start_on_monday_at_midnight_utc() {
        // Saturday 5 December 2026, evening in UTC+2: still the week of Monday 30 November.
        let p = Partition::of(datetime!(2026-12-05 23:30 +02:00));
        assert_eq!(p.start, datetime!(2026-11-30 00:00 UTC));
        assert_eq!(p.end(), datetime!(2026-12-07 00:00 UTC));
        assert_eq!(p.name(), "events_p20261130");
        // A Monday at midnight opens its own week.
        assert_eq!(Partition::of(datetime!(2026-12-07 00:00 UTC)), p.plus(1));
        assert_eq!(p.plus(-1).name(), "events_p20261123");
    }

    #[test]
    fn the_weeks_wanted_are_ahead_then_back_to_the_retention() {
        let now = datetime!(2026-12-05 12:00 UTC);
        let names = |keep_after| {
            wanted(now, keep_after)
                .iter()
                .map(Partition::name)
                .collect::<Vec<_>>()
        };
        // Ten days back: the week of the cutoff is wanted, the one before it is not.
        assert_eq!(
            names(now - Duration::days(10)),
            [
                "events_p20261130",
                "events_p20261207",
                "events_p20261214",
                "events_p20261221",
                "events_p20261228",
                "events_p20261123",
            ]
        );
        // A year back: thirteen weeks, not fifty-two.
        let year = names(now - Duration::days(365));
        assert_eq!(year.len(), 5 + BACK_WEEKS as usize);
        assert_eq!(year.last().unwrap(), "events_p20260831");
        // A cutoff after now (nothing is kept): only the weeks to come that end after it.
        assert_eq!(names(now + Duration::weeks(2)).len(), 3);
    }

    #[test]
    fn names_round_trip_and_nothing_else_parses() {
        let p = Partition::of(datetime!(2027-01-01 12:00 UTC));
        assert_eq!(Partition::from_name(&p.name()), Some(p));
        for other in [
            "events_default",
            "events_p2026113",
            "events_p20261201", // a Tuesday
            "events_p20261331",
            "events_v15",
        ] {
            assert_eq!(Partition::from_name(other), None, "{other}");
        }
    }

    #[test]
    fn bounds_are_written_in_utc() {
        assert_eq!(
            literal(datetime!(2026-11-30 02:00 +02:00)),
            "'2026-11-30 00:00:00+00'"
        );
    }
}
