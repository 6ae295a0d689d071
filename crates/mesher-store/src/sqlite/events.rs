//! Events on SQLite: the group-commit write and event reads.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use async_trait::async_trait;
use mesher_protocol::EventId;
use rusqlite::{OptionalExtension, ToSql, Transaction, params};
use time::OffsetDateTime;

use super::issues::archive_text;
use super::outcomes::{issue_caps, issue_hour_count, write_outcomes};
use super::storage::event_bytes;
use super::users::count_users;
use super::{SqliteStore, map_err, multi_row};
use crate::batch_plan::{Batch, CapCounts, IssueHours, ReleaseTimes};
use crate::event_model::{
    CommittedEvent, NewEvent, StoredEvent, WriteOutcome, decompress_payload, event_id_from_blob,
    stored_level, tags_from_json, tags_json_text,
};
use crate::lifecycle::IssueState;
use crate::rollup::{Rollups, index_text};
use crate::time_util::{from_millis, to_millis};
use crate::traits::EventStore;
use crate::{StoreError, StoreResult};

/// Hourly counts of an issue from `from` (ms) on.
pub(super) fn issue_hours(
    tx: &Transaction<'_>,
    issue_id: i64,
    from: i64,
) -> StoreResult<BTreeMap<i64, i64>> {
    let mut stmt = tx
        .prepare_cached("SELECT hour, count FROM issue_hourly WHERE issue_id = ?1 AND hour >= ?2")
        .map_err(map_err)?;
    let rows = stmt
        .query_map(params![issue_id, from], |r| Ok((r.get(0)?, r.get(1)?)))
        .and_then(Iterator::collect::<rusqlite::Result<BTreeMap<i64, i64>>>)
        .map_err(map_err)?;
    Ok(rows)
}

/// Records an activity entry.
pub(super) fn insert_activity(
    tx: &Transaction<'_>,
    issue_id: i64,
    kind: &str,
    actor: Option<i64>,
    data: &serde_json::Value,
    at: OffsetDateTime,
) -> StoreResult<()> {
    tx.prepare_cached(
        "INSERT INTO issue_activity (issue_id, kind, actor_id, data, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
    )
    .map_err(map_err)?
    .execute(params![issue_id, kind, actor, data.to_string(), to_millis(at)])
    .map_err(map_err)?;
    Ok(())
}

/// The group commit: one transaction for the whole batch, executing the plan of
/// [`crate::batch_plan`].
fn write_batch(tx: &Transaction<'_>, events: &[NewEvent]) -> StoreResult<Vec<WriteOutcome>> {
    let batch = Batch::new(events);
    let mut releases = ReleaseTimes::new();
    for (project_id, version, received_at) in batch.releases() {
        tx.prepare_cached(
            "INSERT OR IGNORE INTO releases (project_id, version, first_seen) VALUES (?1, ?2, ?3)",
        )
        .map_err(map_err)?
        .execute(params![project_id, version, to_millis(received_at)])
        .map_err(not_found)?;
        if let Some(first) = release_first_seen(tx, project_id, version)? {
            releases.insert((project_id, version.to_string()), first);
        }
    }

    // Issues are created in the order of their first events, so ids follow arrival.
    let mut order: Vec<usize> = (0..batch.issues.len()).collect();
    order.sort_by_key(|&g| batch.issues[g].first);
    let mut found = vec![None; batch.issues.len()];
    for g in order {
        found[g] = Some(issue_state(tx, &events[batch.issues[g].first])?);
    }
    let states: Vec<IssueState> = found.into_iter().flatten().collect();
    for (project_id, anchor) in batch.anchors(&states, &releases) {
        if let Some(first) = release_first_seen(tx, project_id, &anchor)? {
            releases.insert((project_id, anchor), first);
        }
    }

    let caps = issue_caps(tx, events)?;
    let mut counts = CapCounts::new();
    for (issue, hour) in batch.cap_hours(&states, &caps) {
        if let Some(n) = issue_hour_count(tx, issue, hour)? {
            counts.insert((issue, hour), n);
        }
    }
    let capped = batch.capped(&states, &caps, &counts);

    let mut inserted = vec![None; events.len()];
    let mut indexed: Vec<(i64, String)> = Vec::with_capacity(events.len());
    let mut insert_event = tx
        .prepare_cached(
            "INSERT INTO events (project_id, issue_id, event_id, timestamp, received_at, level, title, \
             environment, release, tags, payload, payload_size, bytes) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13) \
             ON CONFLICT (project_id, event_id) DO NOTHING",
        )
        .map_err(map_err)?;
    let mut bytes_by_project: HashMap<i64, i64> = HashMap::new();
    for i in batch.candidates(&states, &capped) {
        let e = &events[i];
        let tags = tags_json_text(&e.tags);
        let text = index_text(e);
        let bytes = event_bytes(e, tags.len(), text.len());
        let changed = insert_event
            .execute(params![
                e.project_id,
                states[batch.issue_of[i]].id,
                &e.event_id.as_bytes()[..],
                to_millis(e.timestamp),
                to_millis(e.received_at),
                e.level.as_str(),
                e.title,
                e.environment,
                e.release,
                tags,
                e.payload,
                e.payload_size,
                bytes,
            ])
            .map_err(map_err)?;
        if changed > 0 {
            let row = tx.last_insert_rowid();
            inserted[i] = Some(row);
            indexed.push((row, text));
            *bytes_by_project.entry(e.project_id).or_default() += bytes;
        }
    }
    drop(insert_event);
    index_events(tx, &indexed)?;

    let mut stored = batch.stored(&states, &inserted, &capped);
    for id in &stored.empty {
        tx.execute("DELETE FROM issues WHERE id = ?1", [id])
            .map_err(map_err)?;
    }
    let hourly = batch.hourly(&states, &stored);
    let values: Vec<&dyn ToSql> = hourly
        .iter()
        .flat_map(|(id, project, hour, n)| [id as &dyn ToSql, project, hour, n])
        .collect();
    multi_row::execute(
        tx,
        "INSERT INTO issue_hourly (issue_id, project_id, hour, count)",
        " ON CONFLICT (issue_id, hour) DO UPDATE SET count = count + excluded.count",
        4,
        &values,
    )?;
    let mut hours = IssueHours::new();
    for (id, from) in batch.hours_needed(&states, &stored) {
        hours.insert(id, issue_hours(tx, id, from)?);
    }
    // Users before the updates: an archive "until N more users" needs the count after the batch.
    let mut users = HashMap::new();
    for (state, agg) in states.iter().zip(&stored.aggregates) {
        if !agg.user_hashes.is_empty() {
            users.insert(state.id, count_users(tx, state, &agg.user_hashes)?);
        }
    }
    let updates = batch.updates(&states, &mut stored, &releases, &hours, &mut users);
    let mut update = tx
        .prepare_cached(
            "UPDATE issues SET \
               event_count = event_count + ?2, \
               first_seen = min(first_seen, ?3), \
               title = CASE WHEN ?4 >= last_seen THEN ?5 ELSE title END, \
               culprit = CASE WHEN ?4 >= last_seen THEN ?6 ELSE culprit END, \
               level = CASE WHEN ?4 >= last_seen THEN ?7 ELSE level END, \
               last_seen = max(last_seen, ?4), \
               last_release = CASE WHEN ?19 >= coalesce(last_release_at, ?19) THEN ?8 ELSE last_release END, \
               last_release_at = max(coalesce(last_release_at, ?19), coalesce(?19, last_release_at)), \
               last_environment = CASE WHEN ?20 >= coalesce(last_environment_at, ?20) THEN ?9 ELSE last_environment END, \
               last_environment_at = max(coalesce(last_environment_at, ?20), coalesce(?20, last_environment_at)), \
               users_hll = coalesce(?10, users_hll), \
               user_count = coalesce(?11, user_count), \
               status = ?12, substatus = ?13, resolved_at = ?14, resolved_in_release = ?15, \
               archive = ?16, archive_expires_at = ?17, \
               substatus_changed_at = coalesce(?18, substatus_changed_at) \
             WHERE id = ?1",
        )
        .map_err(map_err)?;
    for u in &updates {
        let d = &u.decision;
        update
            .execute(params![
                u.id,
                u.stored,
                to_millis(u.first_seen),
                to_millis(u.last_seen),
                u.latest.title,
                u.latest.culprit,
                u.latest.level.as_str(),
                u.release.map(|r| r.0),
                u.environment.map(|e| e.0),
                u.users.sketch,
                u.users.count,
                d.status.as_str(),
                d.substatus,
                d.resolved_at.map(to_millis),
                d.resolved_in_release,
                archive_text(d.archive.as_ref()),
                d.archive.as_ref().and_then(|a| a.expires_at).map(to_millis),
                d.substatus_changed_at.map(to_millis),
                u.release.map(|r| to_millis(r.1)),
                u.environment.map(|e| to_millis(e.1)),
            ])
            .map_err(map_err)?;
        if let Some((kind, data, at)) = u.activity() {
            insert_activity(tx, u.id, kind, None, data, at)?;
        }
        if let Some((kind, event)) = u.alert_trigger() {
            tx.prepare_cached(
                "INSERT INTO alert_triggers (project_id, issue_id, kind, event, created_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .map_err(map_err)?
            .execute(params![
                u.first.project_id,
                u.id,
                kind,
                event.to_string(),
                to_millis(u.first.received_at)
            ])
            .map_err(map_err)?;
        }
    }
    write_rollups(tx, &stored.rollups)?;
    let mut storage = tx
        .prepare_cached("UPDATE projects SET storage_bytes = storage_bytes + ?2 WHERE id = ?1")
        .map_err(map_err)?;
    for (project, bytes) in &bytes_by_project {
        storage.execute(params![project, bytes]).map_err(map_err)?;
    }
    Ok(stored.outcomes)
}

/// A foreign key violation while writing a batch: the project is gone.
fn not_found(err: rusqlite::Error) -> StoreError {
    match err.sqlite_error_code() {
        Some(rusqlite::ErrorCode::ConstraintViolation) => StoreError::NotFound("project"),
        _ => map_err(err),
    }
}

/// When a project first saw a release, if it did.
fn release_first_seen(
    tx: &Transaction<'_>,
    project_id: i64,
    version: &str,
) -> StoreResult<Option<OffsetDateTime>> {
    let first: Option<i64> = tx
        .prepare_cached("SELECT first_seen FROM releases WHERE project_id = ?1 AND version = ?2")
        .map_err(map_err)?
        .query_row(params![project_id, version], |r| r.get(0))
        .optional()
        .map_err(map_err)?;
    Ok(first.map(from_millis))
}

/// The state of the issue of `e`'s fingerprint, created from `e` if there is none.
fn issue_state(tx: &Transaction<'_>, e: &NewEvent) -> StoreResult<IssueState> {
    let existing = tx
        .prepare_cached(
            "SELECT id, status, substatus, resolved_at, resolved_in_release, users_hll, \
             event_count, user_count, archive \
             FROM issues WHERE project_id = ?1 AND fingerprint = ?2",
        )
        .map_err(map_err)?
        .query_row(params![e.project_id, e.fingerprint], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Option<String>>(2)?,
                r.get::<_, Option<i64>>(3)?,
                r.get::<_, Option<String>>(4)?,
                r.get::<_, Option<Vec<u8>>>(5)?,
                r.get::<_, i64>(6)?,
                r.get::<_, i64>(7)?,
                r.get::<_, Option<String>>(8)?,
            ))
        })
        .optional()
        .map_err(map_err)?;
    if let Some((id, status, substatus, resolved_at, rir, users_hll, events, users, archive)) =
        existing
    {
        return Ok(IssueState {
            id,
            status: status.parse()?,
            substatus,
            resolved_at: resolved_at.map(from_millis),
            resolved_in_release: rir,
            users_hll,
            created: false,
            event_count: events,
            user_count: users,
            archive: archive.and_then(|a| serde_json::from_str(&a).ok()),
        });
    }
    let id: i64 = tx
        .prepare_cached(
            "INSERT INTO issues (project_id, fingerprint, title, culprit, level, status, \
             substatus, first_seen, last_seen, event_count, grouping) \
             VALUES (?1, ?2, ?3, ?4, ?5, 'unresolved', 'new', ?6, ?6, 0, ?7) RETURNING id",
        )
        .map_err(map_err)?
        .query_row(
            params![
                e.project_id,
                e.fingerprint,
                e.title,
                e.culprit,
                e.level.as_str(),
                to_millis(e.timestamp),
                e.grouping
            ],
            |r| r.get(0),
        )
        .map_err(not_found)?;
    Ok(IssueState::created(id))
}

/// Adds the stored events' text to the full-text index: `(rowid, text)`, many rows a
/// statement.
fn index_events(tx: &Transaction<'_>, rows: &[(i64, String)]) -> StoreResult<()> {
    let values: Vec<&dyn ToSql> = rows
        .iter()
        .flat_map(|(id, text)| [id as &dyn ToSql, text])
        .collect();
    multi_row::execute(tx, "INSERT INTO events_fts (rowid, text)", "", 2, &values)?;
    Ok(())
}

/// Writes a batch's rollups: one upsert per distinct key.
fn write_rollups(tx: &Transaction<'_>, r: &Rollups) -> StoreResult<()> {
    let mut hours = tx
        .prepare_cached(
            "INSERT INTO project_hourly (project_id, hour, level, count) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (project_id, hour, level) DO UPDATE SET count = count + excluded.count",
        )
        .map_err(map_err)?;
    for ((project, hour, level), n) in &r.project_hours {
        hours
            .execute(params![project, hour, level, n])
            .map_err(map_err)?;
    }
    let lasts: Vec<i64> = r.issue_tags.values().map(|v| to_millis(v.1)).collect();
    let tags: Vec<&dyn ToSql> = r
        .issue_tags
        .iter()
        .zip(&lasts)
        .flat_map(|((k, v), last)| [&k.0 as &dyn ToSql, &k.1, &k.2, &v.0, last])
        .collect();
    multi_row::execute(
        tx,
        "INSERT INTO issue_tags (issue_id, key, value, count, last_seen)",
        " ON CONFLICT (issue_id, key, value) DO UPDATE SET count = count + excluded.count, \
         last_seen = max(last_seen, excluded.last_seen)",
        5,
        &tags,
    )?;
    let project_tags: Vec<&dyn ToSql> = r
        .project_tags
        .iter()
        .flat_map(|((project, key, hour, value), n)| [project as &dyn ToSql, key, hour, value, n])
        .collect();
    multi_row::execute(
        tx,
        "INSERT INTO project_tag_hourly (project_id, key, hour, value, count)",
        " ON CONFLICT (project_id, key, hour, value) DO UPDATE SET count = count + excluded.count",
        5,
        &project_tags,
    )?;
    let minutes: Vec<&dyn ToSql> = r
        .issue_minutes
        .iter()
        .flat_map(|((project, minute, issue, env), n)| {
            [project as &dyn ToSql, minute, issue, env, n]
        })
        .collect();
    multi_row::execute(
        tx,
        "INSERT INTO issue_minutely (project_id, minute, issue_id, environment, count)",
        " ON CONFLICT (project_id, minute, issue_id, environment) DO UPDATE SET count = count + excluded.count",
        5,
        &minutes,
    )?;
    write_outcomes(tx, &r.outcomes)?;
    let mut counters = tx
        .prepare_cached(
            "UPDATE projects SET event_count = event_count + ?2, issue_count = issue_count + ?3 WHERE id = ?1",
        )
        .map_err(map_err)?;
    for (project, (events, issues)) in &r.counters {
        if *events != 0 || *issues != 0 {
            counters
                .execute(params![project, events, issues])
                .map_err(map_err)?;
        }
    }
    Ok(())
}

#[async_trait]
impl EventStore for SqliteStore {
    async fn write_events(&self, events: Arc<Vec<NewEvent>>) -> StoreResult<Vec<WriteOutcome>> {
        self.transact(move |tx| write_batch(tx, &events)).await
    }

    async fn event(&self, project_id: i64, event_id: EventId) -> StoreResult<Option<StoredEvent>> {
        self.read(move |c| {
            let row = c
                .prepare_cached(
                    "SELECT issue_id, timestamp, received_at, level, title, environment, release, \
                     tags, payload FROM events WHERE project_id = ?1 AND event_id = ?2",
                )
                .map_err(map_err)?
                .query_row(params![project_id, &event_id.as_bytes()[..]], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, i64>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, String>(4)?,
                        r.get::<_, Option<String>>(5)?,
                        r.get::<_, Option<String>>(6)?,
                        r.get::<_, String>(7)?,
                        r.get::<_, Vec<u8>>(8)?,
                    ))
                })
                .optional()
                .map_err(map_err)?;
            let Some((issue_id, ts, received, level, title, environment, release, tags, payload)) =
                row
            else {
                return Ok(None);
            };
            Ok(Some(StoredEvent {
                project_id,
                issue_id,
                event_id,
                timestamp: from_millis(ts),
                received_at: from_millis(received),
                level: stored_level(&level)?,
                title,
                environment,
                release,
                tags: tags_from_json(&serde_json::from_str(&tags).unwrap_or_default()),
                payload: decompress_payload(&payload)?,
            }))
        })
        .await
    }

    async fn count_events(&self, project_id: i64) -> StoreResult<i64> {
        self.read(move |c| {
            c.prepare_cached("SELECT count(*) FROM events WHERE project_id = ?1")
                .map_err(map_err)?
                .query_row([project_id], |r| r.get(0))
                .map_err(map_err)
        })
        .await
    }

    async fn committed_events(
        &self,
        project_id: i64,
        first_row: i64,
        last_row: i64,
        limit: usize,
    ) -> StoreResult<Vec<CommittedEvent>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read(move |c| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT e.id, e.event_id, e.issue_id, e.timestamp, e.received_at, e.level, \
                     e.title, i.culprit, e.environment, e.release, e.tags \
                     FROM events e JOIN issues i ON i.id = e.issue_id \
                     WHERE e.project_id = ?1 AND e.id BETWEEN ?2 AND ?3 ORDER BY e.id LIMIT ?4",
                )
                .map_err(map_err)?;
            let rows = stmt
                .query_map(params![project_id, first_row, last_row, limit], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, Vec<u8>>(1)?,
                        r.get::<_, i64>(2)?,
                        r.get::<_, i64>(3)?,
                        r.get::<_, i64>(4)?,
                        r.get::<_, String>(5)?,
                        r.get::<_, String>(6)?,
                        r.get::<_, Option<String>>(7)?,
                        r.get::<_, Option<String>>(8)?,
                        r.get::<_, Option<String>>(9)?,
                        r.get::<_, String>(10)?,
                    ))
                })
                .map_err(map_err)?;
            let mut out = Vec::new();
            for row in rows {
                let (row, id, issue_id, ts, received, level, title, culprit, env, release, tags) =
                    row.map_err(map_err)?;
                out.push(CommittedEvent {
                    row,
                    project_id,
                    issue_id,
                    event_id: event_id_from_blob(&id),
                    timestamp: from_millis(ts),
                    received_at: from_millis(received),
                    level: stored_level(&level)?,
                    title,
                    culprit,
                    environment: env,
                    release,
                    tags: tags_from_json(&serde_json::from_str(&tags).unwrap_or_default()),
                });
            }
            Ok(out)
        })
        .await
    }
}
