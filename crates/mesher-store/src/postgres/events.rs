//! Events on PostgreSQL: the group-commit write as a few set-based statements, and event reads.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use async_trait::async_trait;
use deadpool_postgres::Transaction;
use mesher_protocol::EventId;
use time::OffsetDateTime;
use tokio_postgres::types::ToSql;
use tokio_postgres::{GenericClient, Statement};

use super::outcomes::{cap_counts, issue_caps, write_outcomes};
use super::storage::event_bytes;
use super::users::count_users;
use super::write_arrays::{RollupArrays, Triggers, Updates};
use super::{PostgresStore, is_fk_violation, map_err};
use crate::batch_plan::{Batch, IssueHours, ReleaseTimes};
use crate::event_model::{
    CommittedEvent, NewEvent, StoredEvent, WriteOutcome, decompress_payload, event_id_from_text,
    stored_level, tags_from_json, tags_json,
};
use crate::lifecycle::IssueState;
use crate::rollup::index_text;
use crate::time_util::from_millis;
use crate::traits::EventStore;
use crate::{StoreError, StoreResult};

/// PostgreSQL text cannot hold NUL characters, which JSON allows (`"\u0000"`).
pub(super) fn clean(s: &str) -> Cow<'_, str> {
    if s.contains('\0') {
        Cow::Owned(s.replace('\0', "\u{fffd}"))
    } else {
        Cow::Borrowed(s)
    }
}

pub(super) fn clean_opt(s: &Option<String>) -> Option<Cow<'_, str>> {
    s.as_deref().map(clean)
}

/// Hourly counts (hour start in ms → events) of issues from `from` on.
pub(super) async fn issue_hours(
    c: &impl GenericClient,
    ids: &[i64],
    from: OffsetDateTime,
) -> StoreResult<HashMap<i64, BTreeMap<i64, i64>>> {
    let rows = c
        .query(
            "SELECT issue_id, hour, count FROM issue_hourly WHERE issue_id = ANY($1) AND hour >= $2",
            &[&ids, &from],
        )
        .await
        .map_err(map_err)?;
    let mut out: HashMap<i64, BTreeMap<i64, i64>> = HashMap::new();
    for r in rows {
        let hour: OffsetDateTime = r.get(1);
        out.entry(r.get(0))
            .or_default()
            .insert(crate::time_util::to_millis(hour), r.get(2));
    }
    Ok(out)
}

/// Records activity entries: (issue, kind, actor, data, at).
pub(super) async fn insert_activity(
    c: &impl GenericClient,
    entries: &[(i64, &str, Option<i64>, serde_json::Value, OffsetDateTime)],
) -> StoreResult<()> {
    if entries.is_empty() {
        return Ok(());
    }
    let ids: Vec<i64> = entries.iter().map(|e| e.0).collect();
    let kinds: Vec<&str> = entries.iter().map(|e| e.1).collect();
    let actors: Vec<Option<i64>> = entries.iter().map(|e| e.2).collect();
    let data: Vec<&serde_json::Value> = entries.iter().map(|e| &e.3).collect();
    let at: Vec<OffsetDateTime> = entries.iter().map(|e| e.4).collect();
    c.execute(
        "INSERT INTO issue_activity (issue_id, kind, actor_id, data, created_at) \
         SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::bigint[], $4::jsonb[], $5::timestamptz[])",
        &[&ids, &kinds, &actors, &data, &at],
    )
    .await
    .map_err(map_err)?;
    Ok(())
}

// The statements of the group commit. Each is prepared once per connection (the statement
// cache of the pooled connection) and the independent ones are pipelined: sent together and
// answered together, so a typical batch costs five round trips (BEGIN, three pipelines, COMMIT)
// instead of two per statement.

const INSERT_RELEASES: &str = "INSERT INTO releases (project_id, version, first_seen) \
     SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::timestamptz[]) ON CONFLICT DO NOTHING";
const SELECT_RELEASES: &str = "SELECT r.project_id, r.version, r.first_seen FROM releases r \
     JOIN UNNEST($1::bigint[], $2::text[]) AS u(p, v) ON r.project_id = u.p AND r.version = u.v";
/// The conflict's no-op update names a column outside every unique index, so the existing row
/// is locked FOR NO KEY UPDATE: the alert engine's FOR KEY SHARE on an issue it fires for does
/// not block it. Setting `fingerprint` took the key-exclusive lock, and a firing and a batch
/// each holding an issue the other wanted deadlocked (two nodes, a threshold rule: twice a
/// minute).
const UPSERT_ISSUES: &str = "INSERT INTO issues (project_id, fingerprint, title, culprit, level, status, substatus, \
       first_seen, last_seen, event_count, grouping) \
     SELECT p, f, t, c, l, 'unresolved', 'new', ts, ts, 0, g \
     FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], \
                 $6::timestamptz[], $7::text[]) AS u(p, f, t, c, l, ts, g) \
     ON CONFLICT (project_id, fingerprint) DO UPDATE SET event_count = issues.event_count \
     RETURNING id, project_id, fingerprint, status, substatus, resolved_at, resolved_in_release, \
               users_hll, (xmax = 0) AS created, event_count, user_count, archive";
// Events are unique by project, id and timestamp (the partition key must be part of a unique
// key, V16): a retry has the same normalized timestamp, unless that timestamp came from the
// time it was received (none sent, clock drift corrected, clamped), when it is stored again.
const INSERT_EVENTS: &str = "INSERT INTO events (project_id, issue_id, event_id, timestamp, received_at, level, title, \
       environment, release, tags, search, payload, payload_size, bytes) \
     SELECT p, i, e::uuid, ts, rt, l, t, env, rel, tg, strip(to_tsvector('simple', st)), pl, ps, b \
     FROM UNNEST($1::bigint[], $2::bigint[], $3::text[], $4::timestamptz[], $5::timestamptz[], \
                 $6::text[], $7::text[], $8::text[], $9::text[], $10::jsonb[], $11::text[], \
                 $12::bytea[], $13::int4[], $14::int4[]) \
          AS u(p, i, e, ts, rt, l, t, env, rel, tg, st, pl, ps, b) \
     ON CONFLICT (project_id, event_id, timestamp) DO NOTHING \
     RETURNING project_id, replace(event_id::text, '-', ''), id";
const UPSERT_ISSUE_HOURLY: &str = "INSERT INTO issue_hourly (issue_id, hour, count, project_id) \
     SELECT * FROM UNNEST($1::bigint[], $2::timestamptz[], $3::bigint[], $4::bigint[]) \
     ON CONFLICT (issue_id, hour) DO UPDATE SET count = issue_hourly.count + EXCLUDED.count";
// Each issue from the start of its own escalation window.
const SELECT_ISSUE_HOURS: &str = "SELECT h.issue_id, h.hour, h.count FROM issue_hourly h \
     JOIN UNNEST($1::bigint[], $2::timestamptz[]) AS u(id, f) ON h.issue_id = u.id AND h.hour >= u.f";
const UPDATE_ISSUES: &str = "UPDATE issues AS i SET \
       event_count = i.event_count + u.n, \
       first_seen = LEAST(i.first_seen, u.fs), \
       title = CASE WHEN u.ls >= i.last_seen THEN u.t ELSE i.title END, \
       culprit = CASE WHEN u.ls >= i.last_seen THEN u.c ELSE i.culprit END, \
       level = CASE WHEN u.ls >= i.last_seen THEN u.l ELSE i.level END, \
       last_seen = GREATEST(i.last_seen, u.ls), \
       last_release = CASE WHEN u.rel_at >= COALESCE(i.last_release_at, u.rel_at) THEN u.rel \
                           ELSE i.last_release END, \
       last_release_at = GREATEST(i.last_release_at, u.rel_at), \
       last_environment = CASE WHEN u.env_at >= COALESCE(i.last_environment_at, u.env_at) THEN u.env \
                               ELSE i.last_environment END, \
       last_environment_at = GREATEST(i.last_environment_at, u.env_at), \
       users_hll = COALESCE(u.hll, i.users_hll), \
       user_count = COALESCE(u.uc, i.user_count), \
       status = u.st, substatus = u.sub, resolved_at = u.ra, resolved_in_release = u.rir, \
       archive = u.ar, archive_expires_at = u.ae, \
       substatus_changed_at = COALESCE(u.sc, i.substatus_changed_at) \
     FROM UNNEST($1::bigint[], $2::bigint[], $3::timestamptz[], $4::timestamptz[], \
                 $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::bytea[], \
                 $11::bigint[], $12::text[], $13::text[], $14::timestamptz[], $15::text[], \
                 $16::text[], $17::timestamptz[], $18::timestamptz[], $19::timestamptz[], \
                 $20::timestamptz[]) \
          AS u(id, n, fs, ls, t, c, l, rel, env, hll, uc, st, sub, ra, rir, ar, ae, sc, rel_at, env_at) \
     WHERE i.id = u.id";
const INSERT_ACTIVITY: &str = "INSERT INTO issue_activity (issue_id, kind, actor_id, data, created_at) \
     SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::bigint[], $4::jsonb[], $5::timestamptz[])";
const DELETE_ISSUES: &str = "DELETE FROM issues WHERE id = ANY($1)";
const UPSERT_PROJECT_HOURLY: &str = "INSERT INTO project_hourly (project_id, hour, level, count) \
     SELECT * FROM UNNEST($1::bigint[], $2::timestamptz[], $3::text[], $4::bigint[]) \
     ON CONFLICT (project_id, hour, level) DO UPDATE SET count = project_hourly.count + EXCLUDED.count";
// Cleaning may merge two keys into one; sum them rather than upsert a row twice.
const UPSERT_ISSUE_TAGS: &str = "INSERT INTO issue_tags (issue_id, key, value, count, last_seen) \
     SELECT i, k, v, sum(n), max(l) FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::bigint[], \
            $5::timestamptz[]) AS u(i, k, v, n, l) GROUP BY i, k, v \
     ON CONFLICT (issue_id, key, value) DO UPDATE SET count = issue_tags.count + EXCLUDED.count, \
     last_seen = GREATEST(issue_tags.last_seen, EXCLUDED.last_seen)";
// Summed for the same reason as issue_tags.
const UPSERT_PROJECT_TAGS: &str = "INSERT INTO project_tag_hourly (project_id, key, hour, value, count) \
     SELECT p, k, h, v, sum(n) FROM UNNEST($1::bigint[], $2::text[], $3::timestamptz[], $4::text[], \
            $5::bigint[]) AS u(p, k, h, v, n) GROUP BY p, k, h, v \
     ON CONFLICT (project_id, key, hour, value) DO UPDATE SET count = project_tag_hourly.count + EXCLUDED.count";
const INSERT_TRIGGERS: &str = "INSERT INTO alert_triggers (project_id, issue_id, kind, event, created_at) \
     SELECT * FROM UNNEST($1::bigint[], $2::bigint[], $3::text[], $4::jsonb[], $5::timestamptz[])";
const UPSERT_ISSUE_MINUTELY: &str = "INSERT INTO issue_minutely (project_id, minute, issue_id, environment, count) \
     SELECT p, m, i, e, sum(n) FROM UNNEST($1::bigint[], $2::timestamptz[], $3::bigint[], $4::text[], \
            $5::bigint[]) AS u(p, m, i, e, n) GROUP BY p, m, i, e \
     ON CONFLICT (project_id, minute, issue_id, environment) DO UPDATE SET count = issue_minutely.count + EXCLUDED.count";
const UPDATE_PROJECT_COUNTS: &str = "UPDATE projects AS p SET event_count = p.event_count + u.e, issue_count = p.issue_count + u.i, \
       storage_bytes = p.storage_bytes + u.b \
     FROM UNNEST($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[]) AS u(id, e, i, b) WHERE p.id = u.id";

/// The write path's statements, prepared (or taken from the connection's cache) up front so
/// that the pipelines below send executions only, in the order written.
struct Statements {
    insert_releases: Statement,
    select_releases: Statement,
    upsert_issues: Statement,
    insert_events: Statement,
    upsert_issue_hourly: Statement,
    select_issue_hours: Statement,
    update_issues: Statement,
    insert_activity: Statement,
    delete_issues: Statement,
    upsert_project_hourly: Statement,
    upsert_issue_tags: Statement,
    update_project_counts: Statement,
    upsert_project_tags: Statement,
    insert_triggers: Statement,
    upsert_issue_minutely: Statement,
}

impl Statements {
    async fn prepare(tx: &Transaction<'_>) -> StoreResult<Statements> {
        // Pipelined too: after the first batch on a connection these are cache hits.
        let (a, b, c, d, e, f, g, h, i, j, k, l, m, n, o) = tokio::join!(
            tx.prepare_cached(INSERT_RELEASES),
            tx.prepare_cached(SELECT_RELEASES),
            tx.prepare_cached(UPSERT_ISSUES),
            tx.prepare_cached(INSERT_EVENTS),
            tx.prepare_cached(UPSERT_ISSUE_HOURLY),
            tx.prepare_cached(SELECT_ISSUE_HOURS),
            tx.prepare_cached(UPDATE_ISSUES),
            tx.prepare_cached(INSERT_ACTIVITY),
            tx.prepare_cached(DELETE_ISSUES),
            tx.prepare_cached(UPSERT_PROJECT_HOURLY),
            tx.prepare_cached(UPSERT_ISSUE_TAGS),
            tx.prepare_cached(UPDATE_PROJECT_COUNTS),
            tx.prepare_cached(UPSERT_PROJECT_TAGS),
            tx.prepare_cached(INSERT_TRIGGERS),
            tx.prepare_cached(UPSERT_ISSUE_MINUTELY),
        );
        Ok(Statements {
            insert_releases: a.map_err(map_err)?,
            select_releases: b.map_err(map_err)?,
            upsert_issues: c.map_err(map_err)?,
            insert_events: d.map_err(map_err)?,
            upsert_issue_hourly: e.map_err(map_err)?,
            select_issue_hours: f.map_err(map_err)?,
            update_issues: g.map_err(map_err)?,
            insert_activity: h.map_err(map_err)?,
            delete_issues: i.map_err(map_err)?,
            upsert_project_hourly: j.map_err(map_err)?,
            upsert_issue_tags: k.map_err(map_err)?,
            update_project_counts: l.map_err(map_err)?,
            upsert_project_tags: m.map_err(map_err)?,
            insert_triggers: n.map_err(map_err)?,
            upsert_issue_minutely: o.map_err(map_err)?,
        })
    }
}

/// Runs `f` when `cond`, else answers `Ok(0)` without a round trip: optional members of a
/// pipeline.
async fn when<F>(cond: bool, f: F) -> Result<u64, tokio_postgres::Error>
where
    F: std::future::Future<Output = Result<u64, tokio_postgres::Error>>,
{
    if cond { f.await } else { Ok(0) }
}

/// The group commit, executing the plan of [`crate::batch_plan`] in a few set-based statements.
async fn write_batch(tx: &Transaction<'_>, events: &[NewEvent]) -> StoreResult<Vec<WriteOutcome>> {
    let not_found = |e: tokio_postgres::Error| {
        if is_fk_violation(&e) {
            StoreError::NotFound("project")
        } else {
            map_err(e)
        }
    };
    let st = Statements::prepare(tx).await?;
    let batch = Batch::new(events);

    // 1. Releases ("resolved in next release" compares their first-seen times) and one issue
    //    per (project, fingerprint), locked in the plan's fixed order so that two writers
    //    touching the same issues cannot deadlock. One pipeline.
    let seen = batch.releases();
    let rel_projects: Vec<i64> = seen.iter().map(|r| r.0).collect();
    let rel_versions: Vec<Cow<'_, str>> = seen.iter().map(|r| clean(r.1)).collect();
    let rel_firsts: Vec<OffsetDateTime> = seen.iter().map(|r| r.2).collect();
    let reps: Vec<&NewEvent> = batch.issues.iter().map(|k| &events[k.first]).collect();
    let projects: Vec<i64> = batch.issues.iter().map(|k| k.project_id).collect();
    let fingerprints: Vec<Cow<'_, str>> =
        batch.issues.iter().map(|k| clean(k.fingerprint)).collect();
    let titles: Vec<Cow<'_, str>> = reps.iter().map(|e| clean(&e.title)).collect();
    let culprits: Vec<Option<Cow<'_, str>>> = reps.iter().map(|e| clean_opt(&e.culprit)).collect();
    let levels: Vec<&str> = reps.iter().map(|e| e.level.as_str()).collect();
    let times: Vec<OffsetDateTime> = reps.iter().map(|e| e.timestamp).collect();
    let groupings: Vec<Cow<'_, str>> = reps.iter().map(|e| clean(&e.grouping)).collect();
    let has_releases = !seen.is_empty();
    let p_insert_releases: [&(dyn ToSql + Sync); 3] = [&rel_projects, &rel_versions, &rel_firsts];
    let p_select_releases: [&(dyn ToSql + Sync); 2] = [&rel_projects, &rel_versions];
    let p_upsert_issues: [&(dyn ToSql + Sync); 7] = [
        &projects,
        &fingerprints,
        &titles,
        &culprits,
        &levels,
        &times,
        &groupings,
    ];
    let mut cap_projects = projects.clone();
    cap_projects.dedup();
    let (inserted_releases, release_rows, issue_rows, caps) = tokio::join!(
        when(
            has_releases,
            tx.execute(&st.insert_releases, &p_insert_releases)
        ),
        async {
            if has_releases {
                tx.query(&st.select_releases, &p_select_releases).await
            } else {
                Ok(Vec::new())
            }
        },
        tx.query(&st.upsert_issues, &p_upsert_issues),
        issue_caps(tx, &cap_projects),
    );
    // Errors in the order the statements ran: a later statement of an aborted pipeline only
    // says that the transaction is aborted.
    inserted_releases.map_err(not_found)?;
    let mut releases = ReleaseTimes::new();
    for r in release_rows.map_err(map_err)? {
        releases.insert((r.get(0), r.get(1)), r.get(2));
    }
    let mut by_key: HashMap<(i64, String), IssueState> = HashMap::new();
    for r in &issue_rows.map_err(not_found)? {
        let state = IssueState {
            id: r.get(0),
            status: r.get::<_, String>(3).parse()?,
            substatus: r.get(4),
            resolved_at: r.get(5),
            resolved_in_release: r.get(6),
            users_hll: r.get(7),
            created: r.get(8),
            event_count: r.get(9),
            user_count: r.get(10),
            archive: r
                .get::<_, Option<String>>(11)
                .and_then(|a| serde_json::from_str(&a).ok()),
        };
        by_key.insert((r.get(1), r.get(2)), state);
    }
    let states = projects
        .iter()
        .zip(&fingerprints)
        .map(|(p, f)| by_key.get(&(*p, f.to_string())).cloned())
        .collect::<Option<Vec<IssueState>>>()
        .ok_or_else(|| StoreError::Database("an issue upsert returned no row".into()))?;

    // Anchors of issues resolved in the next release: a round trip only for batches that
    // touch such issues.
    let anchors = batch.anchors(&states, &releases);
    if !anchors.is_empty() {
        let a_projects: Vec<i64> = anchors.iter().map(|k| k.0).collect();
        let a_versions: Vec<&str> = anchors.iter().map(|k| k.1.as_str()).collect();
        let rows = tx
            .query(&st.select_releases, &[&a_projects, &a_versions])
            .await
            .map_err(map_err)?;
        releases.extend(rows.iter().map(|r| ((r.get(0), r.get(1)), r.get(2))));
    }

    // 2. The events not stored before, except those over their project's per-issue cap,
    //    decided on the issues' hourly counts read now that their rows are locked. Of two
    //    events of the batch with one id only the first is offered: with the timestamp in the
    //    unique key, both would be inserted when their timestamps differ.
    let caps = caps.map_err(map_err)?;
    let counts = cap_counts(tx, &batch.cap_hours(&states, &caps)).await?;
    let capped = batch.capped(&states, &caps, &counts);
    let mut offered = HashSet::new();
    let candidates: Vec<usize> = batch
        .candidates(&states, &capped)
        .into_iter()
        .filter(|&i| offered.insert((events[i].project_id, events[i].event_id)))
        .collect();
    let pick = |f: &dyn Fn(&NewEvent) -> Option<String>| -> Vec<Option<String>> {
        candidates.iter().map(|&i| f(&events[i])).collect()
    };
    let ev_projects: Vec<i64> = candidates.iter().map(|&i| events[i].project_id).collect();
    let ev_issues: Vec<i64> = candidates
        .iter()
        .map(|&i| states[batch.issue_of[i]].id)
        .collect();
    let ev_ids: Vec<String> = candidates
        .iter()
        .map(|&i| events[i].event_id.to_string())
        .collect();
    let ev_times: Vec<OffsetDateTime> = candidates.iter().map(|&i| events[i].timestamp).collect();
    let ev_received: Vec<OffsetDateTime> =
        candidates.iter().map(|&i| events[i].received_at).collect();
    let ev_levels: Vec<&str> = candidates
        .iter()
        .map(|&i| events[i].level.as_str())
        .collect();
    let ev_titles: Vec<Cow<'_, str>> = candidates
        .iter()
        .map(|&i| clean(&events[i].title))
        .collect();
    let ev_envs = pick(&|e| clean_opt(&e.environment).map(Cow::into_owned));
    let ev_releases = pick(&|e| clean_opt(&e.release).map(Cow::into_owned));
    let ev_tags: Vec<serde_json::Value> = candidates
        .iter()
        .map(|&i| {
            let tags: Vec<(String, String)> = events[i]
                .tags
                .iter()
                .map(|(k, v)| (clean(k).into_owned(), clean(v).into_owned()))
                .collect();
            tags_json(&tags)
        })
        .collect();
    let ev_search: Vec<String> = candidates
        .iter()
        .map(|&i| clean(&index_text(&events[i])).into_owned())
        .collect();
    let ev_payloads: Vec<&[u8]> = candidates
        .iter()
        .map(|&i| events[i].payload.as_slice())
        .collect();
    let ev_sizes: Vec<i32> = candidates
        .iter()
        .map(|&i| i32::try_from(events[i].payload_size).unwrap_or(i32::MAX))
        .collect();
    let ev_bytes: Vec<i32> = candidates
        .iter()
        .zip(ev_tags.iter().zip(&ev_search))
        .map(|(&i, (tags, text))| {
            let bytes = event_bytes(&events[i], tags.to_string().len(), text.len());
            i32::try_from(bytes).unwrap_or(i32::MAX)
        })
        .collect();
    let rows = tx
        .query(
            &st.insert_events,
            &[
                &ev_projects,
                &ev_issues,
                &ev_ids,
                &ev_times,
                &ev_received,
                &ev_levels,
                &ev_titles,
                &ev_envs,
                &ev_releases,
                &ev_tags,
                &ev_search,
                &ev_payloads,
                &ev_sizes,
                &ev_bytes,
            ],
        )
        .await
        .map_err(map_err)?;
    let mut fresh: HashMap<(i64, String), i64> = rows
        .iter()
        .map(|r| ((r.get(0), r.get(1)), r.get(2)))
        .collect();
    let mut inserted = vec![None; events.len()];
    let mut bytes_by_project: HashMap<i64, i64> = HashMap::new();
    for ((&i, id), bytes) in candidates.iter().zip(ev_ids).zip(&ev_bytes) {
        // Candidates have distinct ids: each finds its own row, if it was inserted.
        inserted[i] = fresh.remove(&(events[i].project_id, id));
        if inserted[i].is_some() {
            *bytes_by_project.entry(events[i].project_id).or_default() += i64::from(*bytes);
        }
    }
    let mut stored = batch.stored(&states, &inserted, &capped);

    // Distinct users, before the issues' update that records their count.
    let with_users: Vec<(&IssueState, &[u64])> = states
        .iter()
        .zip(&stored.aggregates)
        .filter(|(_, a)| !a.user_hashes.is_empty())
        .map(|(s, a)| (s, a.user_hashes.as_slice()))
        .collect();
    let mut users = count_users(tx, &with_users).await?;

    // 3. Hourly counts. Archived issues need their recent hours (this batch included) for the
    //    escalation check before the issues are updated: then the hourly upsert and that read
    //    are one pipeline of their own; otherwise the upsert joins the last pipeline.
    let hourly = batch.hourly(&states, &stored);
    let h_ids: Vec<i64> = hourly.iter().map(|h| h.0).collect();
    let h_projects: Vec<i64> = hourly.iter().map(|h| h.1).collect();
    let h_hours: Vec<OffsetDateTime> = hourly.iter().map(|h| from_millis(h.2)).collect();
    let h_counts: Vec<i64> = hourly.iter().map(|h| h.3).collect();
    let needed = batch.hours_needed(&states, &stored);
    let mut hours = IssueHours::new();
    let mut hourly_pending = !h_ids.is_empty();
    if !needed.is_empty() {
        let n_ids: Vec<i64> = needed.iter().map(|n| n.0).collect();
        let n_froms: Vec<OffsetDateTime> = needed.iter().map(|n| from_millis(n.1)).collect();
        let p_upsert_issue_hourly: [&(dyn ToSql + Sync); 4] =
            [&h_ids, &h_hours, &h_counts, &h_projects];
        let p_select_issue_hours: [&(dyn ToSql + Sync); 2] = [&n_ids, &n_froms];
        let (upserted, rows) = tokio::join!(
            when(
                hourly_pending,
                tx.execute(&st.upsert_issue_hourly, &p_upsert_issue_hourly)
            ),
            tx.query(&st.select_issue_hours, &p_select_issue_hours),
        );
        upserted.map_err(map_err)?;
        hourly_pending = false;
        for r in rows.map_err(map_err)? {
            let hour: OffsetDateTime = r.get(1);
            hours
                .entry(r.get(0))
                .or_default()
                .insert(crate::time_util::to_millis(hour), r.get(2));
        }
    }

    // 4. The issues' updates, their activity, the rollups: one pipeline.
    let updates = batch.updates(&states, &mut stored, &releases, &hours, &mut users);
    let u = Updates::new(&updates);
    let activity: Vec<(i64, &str, &serde_json::Value, OffsetDateTime)> = updates
        .iter()
        .filter_map(|u| u.activity().map(|(kind, data, at)| (u.id, kind, data, at)))
        .collect();
    let act_ids: Vec<i64> = activity.iter().map(|e| e.0).collect();
    let act_kinds: Vec<&str> = activity.iter().map(|e| e.1).collect();
    let act_actors: Vec<Option<i64>> = vec![None; activity.len()];
    let act_data: Vec<&serde_json::Value> = activity.iter().map(|e| e.2).collect();
    let act_at: Vec<OffsetDateTime> = activity.iter().map(|e| e.3).collect();
    let r = RollupArrays::new(&stored.rollups);
    let t = Triggers::new(&updates);
    let p_upsert_issue_hourly: [&(dyn ToSql + Sync); 4] =
        [&h_ids, &h_hours, &h_counts, &h_projects];
    let p_update_issues: [&(dyn ToSql + Sync); 20] = [
        &u.ids,
        &u.counts,
        &u.firsts,
        &u.lasts,
        &u.titles,
        &u.culprits,
        &u.levels,
        &u.releases,
        &u.envs,
        &u.hlls,
        &u.user_counts,
        &u.statuses,
        &u.substatuses,
        &u.resolved_at,
        &u.resolved_in,
        &u.archives,
        &u.archive_expires,
        &u.substatus_changed,
        &u.release_times,
        &u.environment_times,
    ];
    let p_insert_activity: [&(dyn ToSql + Sync); 5] =
        [&act_ids, &act_kinds, &act_actors, &act_data, &act_at];
    let p_delete_issues: [&(dyn ToSql + Sync); 1] = [&stored.empty];
    let p_upsert_project_hourly: [&(dyn ToSql + Sync); 4] =
        [&r.ph_projects, &r.ph_hours, &r.ph_levels, &r.ph_counts];
    let p_upsert_issue_tags: [&(dyn ToSql + Sync); 5] = [
        &r.it_issues,
        &r.it_keys,
        &r.it_values,
        &r.it_counts,
        &r.it_lasts,
    ];
    // Every project with stored events has a changed count, so its bytes ride along.
    let c_bytes: Vec<i64> = r
        .c_ids
        .iter()
        .map(|id| bytes_by_project.get(id).copied().unwrap_or(0))
        .collect();
    let p_update_project_counts: [&(dyn ToSql + Sync); 4] =
        [&r.c_ids, &r.c_events, &r.c_issues, &c_bytes];
    let p_upsert_project_tags: [&(dyn ToSql + Sync); 5] = [
        &r.pt_projects,
        &r.pt_keys,
        &r.pt_hours,
        &r.pt_values,
        &r.pt_counts,
    ];
    let p_insert_triggers: [&(dyn ToSql + Sync); 5] =
        [&t.projects, &t.issues, &t.kinds, &t.events, &t.at];
    let p_upsert_issue_minutely: [&(dyn ToSql + Sync); 5] = [
        &r.im_projects,
        &r.im_minutes,
        &r.im_issues,
        &r.im_envs,
        &r.im_counts,
    ];
    let (
        hourly,
        updated,
        acted,
        deleted,
        project_hours,
        issue_tags,
        counters,
        project_tags,
        triggers,
        minutes,
        outcomes,
    ) = tokio::join!(
        when(
            hourly_pending,
            tx.execute(&st.upsert_issue_hourly, &p_upsert_issue_hourly)
        ),
        when(
            !u.ids.is_empty(),
            tx.execute(&st.update_issues, &p_update_issues)
        ),
        when(
            !act_ids.is_empty(),
            tx.execute(&st.insert_activity, &p_insert_activity)
        ),
        when(
            !stored.empty.is_empty(),
            tx.execute(&st.delete_issues, &p_delete_issues)
        ),
        when(
            !r.ph_projects.is_empty(),
            tx.execute(&st.upsert_project_hourly, &p_upsert_project_hourly)
        ),
        when(
            !r.it_issues.is_empty(),
            tx.execute(&st.upsert_issue_tags, &p_upsert_issue_tags)
        ),
        when(
            !r.c_ids.is_empty(),
            tx.execute(&st.update_project_counts, &p_update_project_counts)
        ),
        when(
            !r.pt_projects.is_empty(),
            tx.execute(&st.upsert_project_tags, &p_upsert_project_tags)
        ),
        when(
            !t.issues.is_empty(),
            tx.execute(&st.insert_triggers, &p_insert_triggers)
        ),
        when(
            !r.im_issues.is_empty(),
            tx.execute(&st.upsert_issue_minutely, &p_upsert_issue_minutely)
        ),
        write_outcomes(tx, &stored.rollups.outcomes),
    );
    for result in [
        hourly,
        updated,
        acted,
        deleted,
        project_hours,
        issue_tags,
        counters,
        project_tags,
        triggers,
        minutes,
        outcomes,
    ] {
        result.map_err(map_err)?;
    }
    Ok(stored.outcomes)
}

#[async_trait]
impl EventStore for PostgresStore {
    async fn write_events(&self, events: Arc<Vec<NewEvent>>) -> StoreResult<Vec<WriteOutcome>> {
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await.map_err(map_err)?;
        let outcomes = write_batch(&tx, &events).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(outcomes)
    }

    async fn event(&self, project_id: i64, event_id: EventId) -> StoreResult<Option<StoredEvent>> {
        let conn = self.conn().await?;
        let stmt = conn
            .prepare_cached(
                "SELECT issue_id, timestamp, received_at, level, title, environment, release, tags, \
                 payload FROM events WHERE project_id = $1 AND event_id = $2::text::uuid",
            )
            .await
            .map_err(map_err)?;
        let hex = event_id.to_string();
        let Some(r) = conn
            .query_opt(&stmt, &[&project_id, &hex])
            .await
            .map_err(map_err)?
        else {
            return Ok(None);
        };
        let payload: Vec<u8> = r.get(8);
        Ok(Some(StoredEvent {
            project_id,
            issue_id: r.get(0),
            event_id,
            timestamp: r.get(1),
            received_at: r.get(2),
            level: stored_level(r.get(3))?,
            title: r.get(4),
            environment: r.get(5),
            release: r.get(6),
            tags: tags_from_json(&r.get::<_, serde_json::Value>(7)),
            payload: decompress_payload(&payload)?,
        }))
    }

    async fn count_events(&self, project_id: i64) -> StoreResult<i64> {
        let conn = self.conn().await?;
        let row = conn
            .query_one(
                "SELECT count(*) FROM events WHERE project_id = $1",
                &[&project_id],
            )
            .await
            .map_err(map_err)?;
        Ok(row.get(0))
    }

    async fn committed_events(
        &self,
        project_id: i64,
        first_row: i64,
        last_row: i64,
        limit: usize,
    ) -> StoreResult<Vec<CommittedEvent>> {
        let conn = self.conn().await?;
        let stmt = conn
            .prepare_cached(
                "SELECT e.id, replace(e.event_id::text, '-', ''), e.issue_id, e.timestamp, \
                 e.received_at, e.level, e.title, i.culprit, e.environment, e.release, e.tags \
                 FROM events e JOIN issues i ON i.id = e.issue_id \
                 WHERE e.project_id = $1 AND e.id BETWEEN $2 AND $3 ORDER BY e.id LIMIT $4",
            )
            .await
            .map_err(map_err)?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = conn
            .query(&stmt, &[&project_id, &first_row, &last_row, &limit])
            .await
            .map_err(map_err)?;
        rows.iter()
            .map(|r| {
                Ok(CommittedEvent {
                    row: r.get(0),
                    project_id,
                    event_id: event_id_from_text(r.get(1))?,
                    issue_id: r.get(2),
                    timestamp: r.get(3),
                    received_at: r.get(4),
                    level: stored_level(r.get(5))?,
                    title: r.get(6),
                    culprit: r.get(7),
                    environment: r.get(8),
                    release: r.get(9),
                    tags: tags_from_json(&r.get::<_, serde_json::Value>(10)),
                })
            })
            .collect()
    }
}
