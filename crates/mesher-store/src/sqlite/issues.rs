//! Issues on SQLite: reads, state changes, assignment, deletion, activity, the periodic sweep.

use async_trait::async_trait;
use rusqlite::{OptionalExtension, Row, Transaction, params};
use time::OffsetDateTime;

use super::events::{insert_activity, issue_hours};
use super::{SqliteStore, map_err};
use crate::archive::{self, Counts};
use crate::event_model::{Archive, ArchiveUntil, Issue, IssueActivity, IssueStatus, StatusChange};
use crate::lifecycle::{needs_project_release, refuse_if_discarded, transition};
use crate::time_util::{from_millis, now, to_millis};
use crate::traits::IssueStore;
use crate::{StoreError, StoreResult};

pub(super) const ISSUE_COLS: &str = "id, project_id, fingerprint, title, culprit, level, status, substatus, \
     first_seen, last_seen, event_count, last_release, last_environment, user_count, resolved_at, \
     resolved_in_release, assignee_id, grouping, archive";

/// An issue row, with its status, grouping and archive still as text.
pub(super) type RawIssue = (Issue, String, Option<String>, Option<String>);

pub(super) fn issue_row(r: &Row<'_>) -> rusqlite::Result<RawIssue> {
    Ok((
        Issue {
            id: r.get(0)?,
            project_id: r.get(1)?,
            fingerprint: r.get(2)?,
            title: r.get(3)?,
            culprit: r.get(4)?,
            level: r.get(5)?,
            status: IssueStatus::Unresolved,
            substatus: r.get(7)?,
            first_seen: from_millis(r.get(8)?),
            last_seen: from_millis(r.get(9)?),
            event_count: r.get(10)?,
            last_release: r.get(11)?,
            last_environment: r.get(12)?,
            user_count: r.get(13)?,
            resolved_at: r.get::<_, Option<i64>>(14)?.map(from_millis),
            resolved_in_release: r.get(15)?,
            assignee_id: r.get(16)?,
            grouping: None,
            period_count: None,
            archive: None,
        },
        r.get(6)?,
        r.get(17)?,
        r.get(18)?,
    ))
}

pub(super) fn issue(raw: RawIssue) -> StoreResult<Issue> {
    let (mut issue, status, grouping, archive) = raw;
    issue.status = status.parse()?;
    issue.grouping = grouping.and_then(|g| serde_json::from_str(&g).ok());
    issue.archive = archive.and_then(|a| serde_json::from_str(&a).ok());
    Ok(issue)
}

fn load(tx: &rusqlite::Connection, id: i64) -> StoreResult<Issue> {
    tx.query_row(
        &format!("SELECT {ISSUE_COLS} FROM issues WHERE id = ?1"),
        [id],
        issue_row,
    )
    .optional()
    .map_err(map_err)?
    .map(issue)
    .transpose()?
    .ok_or(StoreError::NotFound("issue"))
}

fn set_state(
    tx: &Transaction<'_>,
    id: i64,
    t: &crate::lifecycle::Transition,
    at: OffsetDateTime,
) -> StoreResult<()> {
    tx.execute(
        "UPDATE issues SET status = ?2, substatus = ?3, resolved_at = ?4, resolved_in_release = ?5, \
         archive = ?6, archive_expires_at = ?7, substatus_changed_at = ?8 WHERE id = ?1",
        params![
            id,
            t.status.as_str(),
            t.substatus,
            t.resolved_at.map(to_millis),
            t.resolved_in_release,
            archive_text(t.archive.as_ref()),
            t.archive.as_ref().and_then(|a| a.expires_at).map(to_millis),
            to_millis(at),
        ],
    )
    .map_err(map_err)?;
    Ok(())
}

/// Deletes an issue's events and what derives from them (full-text rows, hourly counts, tag
/// values), keeping the project's event counter right.
fn purge_events(tx: &Transaction<'_>, id: i64, project: i64) -> StoreResult<()> {
    // The full-text index is contentless: its rows go explicitly.
    tx.execute(
        "DELETE FROM events_fts WHERE rowid IN (SELECT id FROM events WHERE issue_id = ?1)",
        [id],
    )
    .map_err(map_err)?;
    // The project's tag values lose the events' own (the rollup has no issue to delete by);
    // the values left at zero go.
    const ISSUE_TAG_HOURS: &str = "SELECT t.key, \
           e.timestamp - ((e.timestamp % 3600000) + 3600000) % 3600000 AS hour, t.value, count(*) AS n \
         FROM events e, json_each(e.tags) t WHERE e.issue_id = ?1 AND t.type = 'text' GROUP BY 1, 2, 3";
    tx.execute(
        &format!(
            "UPDATE project_tag_hourly AS p SET count = p.count - d.n FROM ({ISSUE_TAG_HOURS}) AS d \
             WHERE p.project_id = ?2 AND p.key = d.key AND p.hour = d.hour AND p.value = d.value"
        ),
        params![id, project],
    )
    .map_err(map_err)?;
    tx.execute(
        &format!(
            "DELETE FROM project_tag_hourly WHERE count <= 0 AND (project_id, key, hour, value) IN \
             (SELECT ?2, key, hour, value FROM ({ISSUE_TAG_HOURS}))"
        ),
        params![id, project],
    )
    .map_err(map_err)?;
    let (events, bytes): (i64, i64) = tx
        .query_row(
            "SELECT count(*), coalesce(sum(bytes), 0) FROM events WHERE issue_id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .map_err(map_err)?;
    tx.execute("DELETE FROM events WHERE issue_id = ?1", [id])
        .map_err(map_err)?;
    for table in ["issue_hourly", "issue_tags"] {
        tx.execute(&format!("DELETE FROM {table} WHERE issue_id = ?1"), [id])
            .map_err(map_err)?;
    }
    tx.execute(
        "UPDATE projects SET event_count = event_count - ?2, storage_bytes = storage_bytes - ?3 \
         WHERE id = ?1",
        params![project, events, bytes],
    )
    .map_err(map_err)?;
    Ok(())
}

/// An archive as stored.
pub(super) fn archive_text(archive: Option<&Archive>) -> Option<String> {
    archive.and_then(|a| serde_json::to_string(a).ok())
}

/// Makes archived issues unresolved and escalating: (issue, when its archive ended, why).
fn escalate(
    tx: &Transaction<'_>,
    ended: &[(i64, OffsetDateTime, serde_json::Value)],
    at: OffsetDateTime,
) -> StoreResult<()> {
    for (id, since, data) in ended {
        tx.execute(
            "UPDATE issues SET status = 'unresolved', substatus = 'escalating', archive = NULL, \
             archive_expires_at = NULL, substatus_changed_at = ?2 WHERE id = ?1",
            params![id, to_millis(*since)],
        )
        .map_err(map_err)?;
        insert_activity(tx, *id, "escalation", None, data, at)?;
        // The sweep's escalations wait for alert rules as the writer's do; with no event
        // behind them, the issue's own level, environment and release stand in.
        tx.execute(
            "INSERT INTO alert_triggers (project_id, issue_id, kind, event, created_at) \
             SELECT project_id, id, 'escalation', json_object('level', level, \
               'environment', last_environment, 'release', last_release, 'tags', json('{}')), ?2 \
             FROM issues WHERE id = ?1",
            params![id, to_millis(at)],
        )
        .map_err(map_err)?;
    }
    Ok(())
}

/// The project's latest release: the one first seen last, as Sentry picks the project's most
/// recent release for "resolve in next release" (issue 12, row 13).
fn latest_release(tx: &Transaction<'_>, project_id: i64) -> StoreResult<Option<String>> {
    tx.query_row(
        "SELECT version FROM releases WHERE project_id = ?1 \
         ORDER BY first_seen DESC, version DESC LIMIT 1",
        [project_id],
        |r| r.get(0),
    )
    .optional()
    .map_err(map_err)
}

#[async_trait]
impl IssueStore for SqliteStore {
    async fn issue(&self, id: i64) -> StoreResult<Option<Issue>> {
        self.read(move |c| match load(c, id) {
            Ok(i) => Ok(Some(i)),
            Err(StoreError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        })
        .await
    }

    async fn list_issues(&self, project_id: i64) -> StoreResult<Vec<Issue>> {
        self.read(move |c| {
            let mut stmt = c
                .prepare_cached(&format!(
                    "SELECT {ISSUE_COLS} FROM issues WHERE project_id = ?1 ORDER BY last_seen DESC, id DESC"
                ))
                .map_err(map_err)?;
            let raw: Vec<_> = stmt
                .query_map([project_id], issue_row)
                .and_then(Iterator::collect)
                .map_err(map_err)?;
            raw.into_iter().map(issue).collect()
        })
        .await
    }

    async fn set_issue_status(
        &self,
        id: i64,
        change: StatusChange,
        actor: Option<i64>,
        at: OffsetDateTime,
    ) -> StoreResult<Issue> {
        self.transact(move |tx| {
            let current = load(tx, id)?;
            refuse_if_discarded(&current, change)?;
            let archive = match change {
                StatusChange::Archive(until) => {
                    let hours = issue_hours(tx, id, archive::window_start(at))?;
                    Some(archive::start(
                        until,
                        at,
                        &hours,
                        current.first_seen,
                        current.event_count,
                        current.user_count,
                    ))
                }
                _ => None,
            };
            let anchor = if needs_project_release(change, current.last_release.as_deref()) {
                latest_release(tx, current.project_id)?
            } else {
                current.last_release.clone()
            };
            if let Some(t) = transition(&current, anchor.as_deref(), change, archive, at)? {
                set_state(tx, id, &t, at)?;
                insert_activity(tx, id, t.kind, actor, &t.data, at)?;
                if t.status == IssueStatus::Discarded {
                    purge_events(tx, id, current.project_id)?;
                    // A tombstone is no longer an issue of the project.
                    tx.execute(
                        "UPDATE projects SET issue_count = issue_count - 1 WHERE id = ?1",
                        [current.project_id],
                    )
                    .map_err(map_err)?;
                }
            }
            load(tx, id)
        })
        .await
    }

    async fn assign_issue(
        &self,
        id: i64,
        assignee: Option<i64>,
        actor: Option<i64>,
    ) -> StoreResult<Issue> {
        self.transact(move |tx| {
            let current = load(tx, id)?;
            if let Some(user) = assignee {
                let member: bool = tx
                    .query_row(
                        "SELECT EXISTS (SELECT 1 FROM memberships m JOIN projects p ON p.org_id = m.org_id \
                         WHERE p.id = ?1 AND m.user_id = ?2)",
                        params![current.project_id, user],
                        |r| r.get(0),
                    )
                    .map_err(map_err)?;
                if !member {
                    return Err(StoreError::Invalid {
                        field: "assignee",
                        message: "is not a member of the issue's organization".into(),
                    });
                }
            }
            if current.assignee_id != assignee {
                tx.execute("UPDATE issues SET assignee_id = ?2 WHERE id = ?1", params![id, assignee])
                    .map_err(map_err)?;
                let (kind, data) = match assignee {
                    Some(user) => ("assigned", serde_json::json!({"assignee_id": user})),
                    None => ("unassigned", serde_json::json!({"previous_assignee_id": current.assignee_id})),
                };
                insert_activity(tx, id, kind, actor, &data, now())?;
            }
            load(tx, id)
        })
        .await
    }

    async fn delete_issue(&self, id: i64) -> StoreResult<()> {
        self.transact(move |tx| {
            let (project, status): (i64, String) = tx
                .query_row(
                    "SELECT project_id, status FROM issues WHERE id = ?1",
                    [id],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
                .map_err(map_err)?
                .ok_or(StoreError::NotFound("issue"))?;
            purge_events(tx, id, project)?;
            tx.execute("DELETE FROM issues WHERE id = ?1", [id])
                .map_err(map_err)?;
            // A discarded issue left the project's count when it was discarded.
            if status != IssueStatus::Discarded.as_str() {
                tx.execute(
                    "UPDATE projects SET issue_count = issue_count - 1 WHERE id = ?1",
                    [project],
                )
                .map_err(map_err)?;
            }
            Ok(())
        })
        .await
    }

    async fn list_activity(&self, issue_id: i64) -> StoreResult<Vec<IssueActivity>> {
        self.read(move |c| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT id, issue_id, kind, actor_id, data, created_at FROM issue_activity \
                     WHERE issue_id = ?1 ORDER BY id",
                )
                .map_err(map_err)?;
            stmt.query_map([issue_id], |r| {
                Ok(IssueActivity {
                    id: r.get(0)?,
                    issue_id: r.get(1)?,
                    kind: r.get(2)?,
                    actor_id: r.get(3)?,
                    data: serde_json::from_str(&r.get::<_, String>(4)?).unwrap_or_default(),
                    created_at: from_millis(r.get(5)?),
                })
            })
            .and_then(Iterator::collect)
            .map_err(map_err)
        })
        .await
    }

    async fn sweep_issues(&self, at: OffsetDateTime) -> StoreResult<Vec<i64>> {
        self.transact(move |tx| {
            // Durations first: an archive that ended long ago made the issue escalating then,
            // and the aging below may already move it on to ongoing.
            let expired: Vec<(i64, i64, Option<String>)> = tx
                .prepare_cached(
                    "SELECT id, archive_expires_at, archive FROM issues \
                     WHERE status = 'archived' AND archive_expires_at <= ?1",
                )
                .map_err(map_err)?
                .query_map([to_millis(at)], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .and_then(Iterator::collect)
                .map_err(map_err)?;
            let mut ended = Vec::new();
            for (id, expires, text) in expired {
                let Some(archive) = text.and_then(|t| serde_json::from_str::<Archive>(&t).ok())
                else {
                    continue;
                };
                if let Err(data) = archive::check(&archive, None, Counts::default(), at) {
                    ended.push((id, from_millis(expires), data));
                }
            }
            let recent = to_millis(at - time::Duration::hours(2));
            let candidates: Vec<(i64, Option<String>)> = tx
                .prepare_cached(
                    "SELECT id, archive FROM issues WHERE status = 'archived' AND last_seen >= ?1 \
                     AND archive_expires_at IS NULL",
                )
                .map_err(map_err)?
                .query_map([recent], |r| Ok((r.get(0)?, r.get(1)?)))
                .and_then(Iterator::collect)
                .map_err(map_err)?;
            for (id, text) in candidates {
                let archive = match text {
                    Some(t) => match serde_json::from_str::<Archive>(&t) {
                        Ok(a) => a,
                        Err(_) => continue,
                    },
                    None => archive::legacy(),
                };
                if archive.until != ArchiveUntil::Escalating {
                    continue;
                }
                let hours = issue_hours(tx, id, archive::window_start(at))?;
                if let Err(data) = archive::check(&archive, Some(&hours), Counts::default(), at) {
                    ended.push((id, at, data));
                }
            }
            escalate(tx, &ended, at)?;
            let week_ago = to_millis(at - time::Duration::days(7));
            // Sentry's auto-ongoing: new a week after first seen, regressed and escalating a
            // week after they became so (issue 12, row 2), dated when that week ended.
            tx.execute(
                "UPDATE issues SET substatus = 'ongoing', substatus_changed_at = \
                   CASE WHEN substatus = 'new' THEN first_seen ELSE substatus_changed_at END + ?2 \
                 WHERE status = 'unresolved' AND ( \
                   (substatus = 'new' AND first_seen < ?1) OR \
                   (substatus IN ('regressed', 'escalating') AND substatus_changed_at < ?1))",
                params![week_ago, WEEK_MS],
            )
            .map_err(map_err)?;
            Ok(ended.into_iter().map(|(id, _, _)| id).collect())
        })
        .await
    }
}

const WEEK_MS: i64 = 7 * 24 * 3_600_000;
